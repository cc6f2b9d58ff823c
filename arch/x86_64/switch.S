/*
 * switch.S -- x86_64 task switch (SysV ABI: rbx, rbp, r12-r15 are
 * callee-saved; everything else the caller of arch_switch already saved).
 *
 * void arch_switch(uintptr_t *save_sp, uintptr_t new_sp)
 */
	.text
	.globl arch_switch
arch_switch:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, (%rdi)
	movq %rsi, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret

	.section .note.GNU-stack,"",@progbits
