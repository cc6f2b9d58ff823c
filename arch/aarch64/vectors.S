/*
 * vectors.S -- the VBAR_EL1 exception vector table (Arm ARM D1.10.2):
 * 16 entries of 0x80 bytes (current EL with SP0, current EL with SPx,
 * lower EL AArch64, lower EL AArch32; each sync, IRQ, FIQ, SError).
 *
 * Each entry makes room for a struct trap_frame (trap.h), saves x0/x1,
 * puts its entry number in x1 and joins the common path, which saves all
 * general, FP/SIMD and exception registers, calls aarch64_trap(frame, type),
 * restores everything (ELR/SPSR from the frame, so a handler can step over
 * an instruction) and returns with eret.
 */
#define FRAME 832

	.text
	.balign 2048
	.globl aarch64_vectors
aarch64_vectors:
	.irp type, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	.balign 0x80
	.if \type == 4
	/* A sync exception in the kernel: is there room for the frame above
	 * the task's stack limit?  If not, the stack overflowed into its
	 * guard page; x18 is the one scratch register, kept in TPIDR_EL1. */
	msr tpidr_el1, x18
	adrp x18, aarch64_stack_limit
	ldr x18, [x18, #:lo12:aarch64_stack_limit]
	add x18, x18, #FRAME
	cmp sp, x18
	b.lo stack_overflow
	mrs x18, tpidr_el1
	.endif
	sub sp, sp, #FRAME
	stp x0, x1, [sp, #0]
	mov x1, #\type
	b trap_common
	.endr

	/* Set by cpu.c: the running task's lowest stack byte (0: unchecked)
	 * and the stack an overflow is reported on. */
	.data
	.balign 8
	.globl aarch64_stack_limit
	.hidden aarch64_stack_limit
aarch64_stack_limit:
	.quad 0
	.globl aarch64_emergency_sp
	.hidden aarch64_emergency_sp
aarch64_emergency_sp:
	.quad 0
	.text

	/* Report the overflow on the emergency stack, as entry type 16. */
stack_overflow:
	adrp x18, aarch64_emergency_sp
	ldr x18, [x18, #:lo12:aarch64_emergency_sp]
	mov sp, x18
	mrs x18, tpidr_el1
	sub sp, sp, #FRAME
	stp x0, x1, [sp, #0]
	mov x1, #16
	b trap_common

	.balign 16
trap_common:
	stp x2, x3, [sp, #16]
	stp x4, x5, [sp, #32]
	stp x6, x7, [sp, #48]
	stp x8, x9, [sp, #64]
	stp x10, x11, [sp, #80]
	stp x12, x13, [sp, #96]
	stp x14, x15, [sp, #112]
	stp x16, x17, [sp, #128]
	stp x18, x19, [sp, #144]
	stp x20, x21, [sp, #160]
	stp x22, x23, [sp, #176]
	stp x24, x25, [sp, #192]
	stp x26, x27, [sp, #208]
	stp x28, x29, [sp, #224]
	mrs x2, elr_el1
	stp x30, x2, [sp, #240]
	mrs x2, spsr_el1
	mrs x3, esr_el1
	stp x2, x3, [sp, #256]
	mrs x2, far_el1
	add x3, sp, #FRAME
	stp x2, x3, [sp, #272]
	mrs x2, fpsr
	mrs x3, fpcr
	stp x2, x3, [sp, #288]
	mrs x2, sp_el0
	str x2, [sp, #304]
	add x2, sp, #320
	stp q0, q1, [x2, #0]
	stp q2, q3, [x2, #32]
	stp q4, q5, [x2, #64]
	stp q6, q7, [x2, #96]
	stp q8, q9, [x2, #128]
	stp q10, q11, [x2, #160]
	stp q12, q13, [x2, #192]
	stp q14, q15, [x2, #224]
	stp q16, q17, [x2, #256]
	stp q18, q19, [x2, #288]
	stp q20, q21, [x2, #320]
	stp q22, q23, [x2, #352]
	stp q24, q25, [x2, #384]
	stp q26, q27, [x2, #416]
	stp q28, q29, [x2, #448]
	stp q30, q31, [x2, #480]

	mov x0, sp
	bl aarch64_trap
	b trap_restore

/* void aarch64_enter_user(struct trap_frame *frame) */
	.globl aarch64_enter_user
aarch64_enter_user:
	mov sp, x0
trap_restore:
	ldr x2, [sp, #304]
	msr sp_el0, x2
	add x2, sp, #320
	ldp q0, q1, [x2, #0]
	ldp q2, q3, [x2, #32]
	ldp q4, q5, [x2, #64]
	ldp q6, q7, [x2, #96]
	ldp q8, q9, [x2, #128]
	ldp q10, q11, [x2, #160]
	ldp q12, q13, [x2, #192]
	ldp q14, q15, [x2, #224]
	ldp q16, q17, [x2, #256]
	ldp q18, q19, [x2, #288]
	ldp q20, q21, [x2, #320]
	ldp q22, q23, [x2, #352]
	ldp q24, q25, [x2, #384]
	ldp q26, q27, [x2, #416]
	ldp q28, q29, [x2, #448]
	ldp q30, q31, [x2, #480]
	ldp x2, x3, [sp, #288]
	msr fpsr, x2
	msr fpcr, x3
	ldp x2, x3, [sp, #248]
	msr elr_el1, x2
	msr spsr_el1, x3
	ldp x0, x1, [sp, #0]
	ldp x2, x3, [sp, #16]
	ldp x4, x5, [sp, #32]
	ldp x6, x7, [sp, #48]
	ldp x8, x9, [sp, #64]
	ldp x10, x11, [sp, #80]
	ldp x12, x13, [sp, #96]
	ldp x14, x15, [sp, #112]
	ldp x16, x17, [sp, #128]
	ldp x18, x19, [sp, #144]
	ldp x20, x21, [sp, #160]
	ldp x22, x23, [sp, #176]
	ldp x24, x25, [sp, #192]
	ldp x26, x27, [sp, #208]
	ldp x28, x29, [sp, #224]
	ldr x30, [sp, #240]
	add sp, sp, #FRAME
	eret

	.section .note.GNU-stack,"",@progbits
