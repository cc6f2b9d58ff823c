/*
 * cpu.c -- aarch64 CPU takeover: the image's own exception vector table in
 * VBAR_EL1, running at EL1 on SP_EL1 (Arm ARM D1.10, D19.2.151).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "arch/aarch64/trap.h"
#include "include/arch.h"
#include "kernel/kernel.h"

extern char aarch64_vectors[];

#define SYSREG_READ(name)                                      \
	({                                                     \
		uint64_t v_;                                   \
		__asm__ volatile("mrs %0, " #name : "=r"(v_)); \
		v_;                                            \
	})

static unsigned current_el(void)
{
	return (SYSREG_READ(CurrentEL) >> 2) & 3;
}

/* vectors.S's data: the current task's lowest stack byte (0: no check),
 * and a stack to report an overflow on. */
extern uint64_t aarch64_stack_limit;
extern uint64_t aarch64_emergency_sp;

void arch_set_kernel_stack(uintptr_t top, uintptr_t limit)
{
	aarch64_stack_limit = limit;
}

void arch_cpu_init(void *ist_stacks, size_t ist_stack_size)
{
	unsigned el = current_el();

	aarch64_emergency_sp = ((uintptr_t)ist_stacks + ist_stack_size) & ~15ull;
	arch_irq_disable();
	if (el != 1)
		panic("running at EL%u; this image supports EL1 only", el);
	/* Exceptions from EL1 always use SP_EL1: run on it too, on the
	 * stack we already have, so every exception lands on a live stack. */
	__asm__ volatile("mov x9, sp\n\t"
	                 "msr spsel, #1\n\t"
	                 "mov sp, x9" ::
	                         : "x9", "memory");
	__asm__ volatile("msr vbar_el1, %0\n\tisb" : : "r"(aarch64_vectors) : "memory");
}

void arch_user_tls_set(uint64_t value)
{
	__asm__ volatile("msr tpidr_el0, %0" : : "r"(value));
}

uint64_t arch_user_tls_get(void)
{
	uint64_t v;

	__asm__ volatile("mrs %0, tpidr_el0" : "=r"(v));
	return v;
}

void arch_user_enter(uint64_t pc, uint64_t sp)
{
	/* the frame sits below the caller's frames; eret leaves SP_EL1 just
	 * above it, where every trap from EL0 then builds its frame */
	uintptr_t top = (arch_stack_pointer() - 256) & ~15ull;
	struct trap_frame *f = (struct trap_frame *)top - 1;

	memset(f, 0, sizeof(*f));
	f->elr = pc;
	f->spsr = 0; /* EL0t, interrupts unmasked */
	f->sp_el0 = sp;
	arch_irq_disable();
	aarch64_enter_user(f);
}

void arch_user_resume(const struct trap_frame *src, const void *fpu)
{
	uintptr_t top = (arch_stack_pointer() - 256) & ~15ull;
	struct trap_frame *f = (struct trap_frame *)top - 1;

	*f = *src;
	f->spsr &= 0xf0000000ull; /* NZCV only: EL0t, nothing masked */
	arch_irq_disable();
	aarch64_enter_user(f);
}

void arch_irq_enable(void)
{
	__asm__ volatile("msr daifclr, #2" ::: "memory");
}

void arch_irq_disable(void)
{
	__asm__ volatile("msr daifset, #2" ::: "memory");
}

void arch_wait_for_interrupt(void)
{
	/* wfi wakes on a pending interrupt even while masked: unmask after. */
	__asm__ volatile("wfi\n\tmsr daifclr, #2\n\tisb\n\tmsr daifset, #2" ::: "memory");
}

bool arch_irq_enabled(void)
{
	return !(SYSREG_READ(daif) & (1u << 7));
}

bool arch_raise_fault(const char *name)
{
	if (strcmp(name, "ud") == 0) {
		__asm__ volatile("udf #0");
	} else if (strcmp(name, "pf") == 0) {
		/* canonical for TTBR0, far above anything mapped */
		(void)*(volatile uint64_t *)0x0000fffffffff000ull;
	} else if (strcmp(name, "bp") == 0) {
		__asm__ volatile("brk #0");
		return true;
	} else {
		return false;
	}
	return true;
}
