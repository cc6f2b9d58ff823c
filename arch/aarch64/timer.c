/*
 * timer.c -- aarch64 time: the generic timer's virtual counter
 * (CNTVCT_EL0 at CNTFRQ_EL0 Hz, Arm ARM D11) as the clock, and its
 * virtual timer compare value for the next event, whose interrupt (a PPI,
 * 27 on QEMU virt per GTDT) gic.c routes to timer_interrupt().
 */
#include <errno.h>

#include "arch/aarch64/gic.h"
#include "include/arch.h"
#include "kernel/kernel.h"
#include "kernel/sched.h"

static uint64_t counter_hz;    /* CNTFRQ_EL0 */
static uint64_t counter_entry; /* counter when efi_main began */
static uint64_t counter_base;  /* counter at arch_clock_init: time 0 */
/* The deadline the virtual timer holds (UINT64_MAX: off): the scheduler
 * arms at every switch, the timer registers are written only on a change. */
static uint64_t armed_ns = UINT64_MAX;

static uint64_t read_counter(void)
{
	uint64_t v;

	__asm__ volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(v));
	return v;
}

/* Level-triggered: turn the timer off before EOI; the scheduler re-arms. */
static void timer_interrupt(void *arg)
{
	__asm__ volatile("msr cntv_ctl_el0, %0\n\tisb" : : "r"(0ull));
	armed_ns = UINT64_MAX;
	sched_timer_interrupt();
}

int arch_clock_init(const struct acpi_fadt_info *fadt)
{
	__asm__ volatile("mrs %0, cntfrq_el0" : "=r"(counter_hz));
	if (counter_hz == 0) {
		kprintf("clock: CNTFRQ_EL0 is 0; the firmware did not set it\n");
		return -ENODEV;
	}
	counter_base = read_counter();
	return gic_attach_timer(timer_interrupt);
}

void arch_clock_mark_entry(void)
{
	counter_entry = read_counter();
}

uint64_t arch_clock_since_entry_ns(void)
{
	return (uint64_t)((unsigned __int128)(read_counter() - counter_entry) * 1000000000u /
	                  counter_hz);
}

int arch_timer_irq(void)
{
	return (int)gic_timer_intid();
}

uint64_t arch_clock_ns(void)
{
	return (uint64_t)((unsigned __int128)(read_counter() - counter_base) * 1000000000u /
	                  counter_hz);
}

void arch_timer_set(uint64_t deadline_ns)
{
	uint64_t ticks;

	if (deadline_ns == armed_ns)
		return;
	armed_ns = deadline_ns;
	if (deadline_ns == UINT64_MAX) {
		__asm__ volatile("msr cntv_ctl_el0, %0" : : "r"(0ull)); /* off */
		return;
	}
	ticks = counter_base +
	        (uint64_t)((unsigned __int128)deadline_ns * counter_hz / 1000000000u);
	/* enable, interrupt unmasked; a past deadline fires at once */
	__asm__ volatile("msr cntv_cval_el0, %0\n\tmsr cntv_ctl_el0, %1\n\tisb"
	                 :
	                 : "r"(ticks), "r"(1ull)
	                 : "memory");
}

void arch_clock_report(void)
{
	kprintf("clock: generic timer at %llu Hz, virtual timer on interrupt %u\n",
	        (unsigned long long)counter_hz, gic_timer_intid());
}

uintptr_t arch_task_stack_init(void *stack_top, void (*start)(void))
{
	uint64_t *sp = (uint64_t *)((uintptr_t)stack_top & ~15ull);

	/* arch_switch pops x19..x30 and d8..d15: 20 slots, x30 = start */
	sp -= 20;
	for (int i = 0; i < 20; i++)
		sp[i] = 0;
	sp[11] = (uint64_t)(uintptr_t)start; /* x30 */
	return (uintptr_t)sp;
}
