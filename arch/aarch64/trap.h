/*
 * trap.h -- the register frame vectors.S builds for every exception.
 */
#ifndef ARCH_AARCH64_TRAP_H
#define ARCH_AARCH64_TRAP_H

#include <stdint.h>

struct trap_frame {
	uint64_t x[31];      /* x0..x30 */
	uint64_t elr;        /* ELR_EL1: where the exception happened */
	uint64_t spsr;       /* SPSR_EL1: PSTATE then */
	uint64_t esr;        /* ESR_EL1: syndrome */
	uint64_t far;        /* FAR_EL1: faulting address */
	uint64_t sp;         /* SP_EL1 before the exception */
	uint64_t fpsr, fpcr; /* FP/SIMD status and control */
	uint64_t sp_el0;     /* the user stack pointer (restored on return) */
	uint64_t pad;
	__uint128_t q[32]; /* FP/SIMD registers */
};
#define TRAP_FRAME_SIZE 832
_Static_assert(sizeof(struct trap_frame) == TRAP_FRAME_SIZE, "frame size");
_Static_assert(__builtin_offsetof(struct trap_frame, elr) == 248, "frame");
_Static_assert(__builtin_offsetof(struct trap_frame, sp_el0) == 304, "frame");
_Static_assert(__builtin_offsetof(struct trap_frame, q) == 320, "frame");

void aarch64_trap(struct trap_frame *frame, uint64_t type);
/* Restore `frame` and eret (to user mode). */
__attribute__((noreturn)) void aarch64_enter_user(struct trap_frame *frame);

#endif
