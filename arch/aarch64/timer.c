/*
 * timer.c -- aarch64 time: the generic timer's virtual counter
 * (CNTVCT_EL0 at CNTFRQ_EL0 Hz, Arm ARM D11) as the clock, and its
 * virtual timer compare value for the next event.  Until the GIC driver
 * exists the timer interrupt is not routed anywhere, so device interrupts
 * and preemption are x86_64-only for now (arch_irq_alloc says so).
 */
#include <errno.h>

#include "include/arch.h"
#include "kernel/kernel.h"

static uint64_t counter_hz;   /* CNTFRQ_EL0 */
static uint64_t counter_base; /* counter at arch_clock_init: time 0 */

static uint64_t read_counter(void)
{
	uint64_t v;

	__asm__ volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(v));
	return v;
}

int arch_clock_init(const struct acpi_fadt_info *fadt)
{
	__asm__ volatile("mrs %0, cntfrq_el0" : "=r"(counter_hz));
	if (counter_hz == 0) {
		kprintf("clock: CNTFRQ_EL0 is 0; the firmware did not set it\n");
		return -ENODEV;
	}
	counter_base = read_counter();
	return 0;
}

uint64_t arch_clock_ns(void)
{
	return (uint64_t)((unsigned __int128)(read_counter() - counter_base) *
			  1000000000u / counter_hz);
}

void arch_timer_set(uint64_t deadline_ns)
{
	uint64_t ticks;

	if (deadline_ns == UINT64_MAX) {
		__asm__ volatile("msr cntv_ctl_el0, %0" : : "r"(0ull)); /* off */
		return;
	}
	ticks = counter_base + (uint64_t)((unsigned __int128)deadline_ns * counter_hz /
					  1000000000u);
	__asm__ volatile("msr cntv_cval_el0, %0\n\tmsr cntv_ctl_el0, %1"
			 : : "r"(ticks), "r"(1ull) : "memory");
}

void arch_clock_report(void)
{
	kprintf("clock: generic timer at %llu Hz\n", (unsigned long long)counter_hz);
}

int arch_irq_alloc(irq_handler_fn handler, void *arg, const char *name)
{
	kprintf("irq: %s: no GIC driver on aarch64 yet\n", name);
	return -ENOSYS;
}

void arch_irq_free(int vector)
{
}

void arch_msi_message(int vector, uint64_t *address, uint32_t *data)
{
	*address = 0;
	*data = 0;
}

uint64_t arch_irq_count(int vector)
{
	return 0;
}

uint64_t arch_irq_total(void)
{
	return 0;
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
