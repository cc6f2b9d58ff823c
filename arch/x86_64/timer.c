/*
 * timer.c -- x86_64 time: the TSC as the clock, the LAPIC timer in
 * one-shot mode for timeouts and the scheduler tick, both calibrated
 * against the ACPI PM timer (3.579545 MHz, ACPI 6.4 §4.8.3.3).
 *
 * The timer is programmed for the next event only (the scheduler asks for
 * the end of a time slice when several tasks run, or the earliest timeout),
 * so an idle guest takes no timer interrupts at all.
 */
#include <errno.h>

#include "arch/x86_64/io.h"
#include "arch/x86_64/trap.h"
#include "include/arch.h"
#include "kernel/acpi.h"
#include "kernel/kernel.h"
#include "kernel/sched.h"

#define PM_TIMER_HZ          3579545ull
#define CALIBRATION_PM_TICKS (PM_TIMER_HZ / 20) /* 50 ms */

#define LAPIC_TIMER_INITIAL 0x380
#define LAPIC_TIMER_CURRENT 0x390
#define LAPIC_TIMER_DIVIDE  0x3e0
#define LAPIC_LVT_TIMER     0x320
#define LVT_MASKED          (1u << 16)
#define DIVIDE_BY_16        0x3

static uint64_t tsc_entry;    /* TSC when efi_main began */
static uint64_t tsc_base;     /* TSC at calibration: time 0 */
static uint64_t tsc_hz;       /* TSC ticks per second */
static uint64_t ns_per_tsc32; /* ns per TSC tick, 32.32 fixed point */
static uint64_t lapic_hz;     /* LAPIC timer ticks per second (divided) */
/* What the one-shot LAPIC timer holds now (UINT64_MAX: stopped), so that
 * the scheduler's arm at every switch writes the LAPIC only on a change:
 * under QEMU each LAPIC write is an emulated MMIO access. */
static uint64_t armed_ns = UINT64_MAX;
static bool lvt_armed; /* LVT: one-shot, unmasked, our vector */

static void timer_interrupt(void *arg)
{
	armed_ns = UINT64_MAX; /* one-shot: it has stopped */
	sched_timer_interrupt();
}

int arch_clock_init(const struct acpi_fadt_info *fadt)
{
	uint16_t port = (uint16_t)fadt->pm_timer.address;
	uint32_t mask = fadt->pm_timer_32bit ? 0xffffffffu : 0xffffffu;
	uint32_t start, elapsed = 0, lapic_left;
	uint64_t tsc0, tsc1;

	if (fadt->pm_timer.space_id != ACPI_SPACE_IO || !port) {
		kprintf("clock: no ACPI PM timer to calibrate against\n");
		return -ENODEV;
	}
	x86_lapic_write(LAPIC_TIMER_DIVIDE, DIVIDE_BY_16);
	x86_lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);

	start = inl(port) & mask;
	tsc0 = rdtsc();
	x86_lapic_write(LAPIC_TIMER_INITIAL, 0xffffffffu);
	while (elapsed < CALIBRATION_PM_TICKS)
		elapsed = ((inl(port) & mask) - start) & mask;
	tsc1 = rdtsc();
	lapic_left = x86_lapic_read(LAPIC_TIMER_CURRENT);
	x86_lapic_write(LAPIC_TIMER_INITIAL, 0);

	tsc_hz = (tsc1 - tsc0) * PM_TIMER_HZ / elapsed;
	lapic_hz = (uint64_t)(0xffffffffu - lapic_left) * PM_TIMER_HZ / elapsed;
	if (tsc_hz < 1000000 || lapic_hz < 1000) {
		kprintf("clock: calibration failed (TSC %llu Hz, LAPIC %llu Hz)\n",
		        (unsigned long long)tsc_hz, (unsigned long long)lapic_hz);
		return -EIO;
	}
	ns_per_tsc32 = (1000000000ull << 32) / tsc_hz;
	tsc_base = tsc0;
	x86_irq_set_fixed(TIMER_VECTOR, timer_interrupt, NULL, "timer");
	return 0;
}

void arch_clock_mark_entry(void)
{
	tsc_entry = rdtsc();
}

uint64_t arch_clock_since_entry_ns(void)
{
	return (uint64_t)(((unsigned __int128)(rdtsc() - tsc_entry) * ns_per_tsc32) >> 32);
}

int arch_timer_irq(void)
{
	return TIMER_VECTOR;
}

uint64_t arch_clock_ns(void)
{
	return (uint64_t)(((unsigned __int128)(rdtsc() - tsc_base) * ns_per_tsc32) >> 32);
}

void arch_timer_set(uint64_t deadline_ns)
{
	uint64_t now, ticks;

	if (deadline_ns == armed_ns)
		return;
	armed_ns = deadline_ns;
	if (deadline_ns == UINT64_MAX) {
		x86_lapic_write(LAPIC_TIMER_INITIAL, 0); /* stopped */
		return;
	}
	now = arch_clock_ns();
	ticks = deadline_ns > now ? (uint64_t)((unsigned __int128)(deadline_ns - now) * lapic_hz /
	                                       1000000000u) :
	                            0;
	if (ticks == 0)
		ticks = 1;
	if (ticks > 0xffffffffu)
		ticks = 0xffffffffu; /* fires early; the scheduler re-arms */
	if (!lvt_armed) {
		x86_lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR); /* one-shot, unmasked */
		lvt_armed = true;
	}
	x86_lapic_write(LAPIC_TIMER_INITIAL, (uint32_t)ticks);
}

void arch_clock_report(void)
{
	kprintf("clock: TSC %llu.%03llu MHz, LAPIC timer %llu kHz (calibrated "
	        "against the ACPI PM timer), one-shot on vector %#x\n",
	        (unsigned long long)(tsc_hz / 1000000), (unsigned long long)(tsc_hz / 1000 % 1000),
	        (unsigned long long)(lapic_hz / 1000), TIMER_VECTOR);
}

uintptr_t arch_task_stack_init(void *stack_top, void (*start)(void))
{
	uint64_t *sp = (uint64_t *)((uintptr_t)stack_top & ~15ull);

	*--sp = 0;                          /* alignment: start() sees rsp % 16 == 8 */
	*--sp = (uint64_t)(uintptr_t)start; /* arch_switch's ret goes here */
	for (int i = 0; i < 6; i++)
		*--sp = 0; /* rbp rbx r12 r13 r14 r15 */
	return (uintptr_t)sp;
}
