/*
 * trap.h -- the register frame vectors.S builds for every vector.
 */
#ifndef ARCH_X86_64_TRAP_H
#define ARCH_X86_64_TRAP_H

#include <stdint.h>

/* Lowest address first: pushed by vectors.S, then by the CPU. */
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector;                   /* pushed by the stub */
	uint64_t error;                    /* CPU error code, or 0 pushed by the stub */
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};
_Static_assert(__builtin_offsetof(struct trap_frame, vector) == 15 * 8, "frame");
_Static_assert(__builtin_offsetof(struct trap_frame, rip) == 17 * 8, "frame");

#define TRAP_STUB_SIZE    16   /* bytes per stub in vectors.S */
#define IRQ_VECTOR_FIRST  32   /* first vector not reserved by the CPU */
#define SPURIOUS_VECTOR   0xff /* LAPIC spurious interrupts */
#define APIC_ERROR_VECTOR 0xfe /* LAPIC internal errors */

#define TIMER_VECTOR 0xf0 /* LAPIC timer */

#define SYSCALL_VECTOR 0x100 /* the frame's "vector" for a SYSCALL entry */

extern char x86_trap_stubs[]; /* 256 stubs of TRAP_STUB_SIZE bytes */
void x86_syscall_entry(void);
/* vectors.S's data: the SYSCALL entry's kernel stack (the task's) */
extern uint64_t x86_kernel_entry_sp;
/* Restore the frame (fresh FPU state) and iretq to user mode. */
__attribute__((noreturn)) void x86_enter_user(struct trap_frame *frame);
/* The same with FP state from a 16-aligned fxsave area. */
__attribute__((noreturn)) void x86_enter_user_fpu(struct trap_frame *frame, const void *fxsave);
void x86_trap(struct trap_frame *frame);
void x86_irq_dispatch(unsigned vector);
/* Route a fixed (non-device) vector such as the timer to `handler`. */
void x86_irq_set_fixed(int vector, void (*handler)(void *), void *arg, const char *name);
void lapic_eoi(void);
uint32_t x86_lapic_id(void);
uint32_t x86_lapic_read(uint32_t reg);
void x86_lapic_write(uint32_t reg, uint32_t value);

#endif
