/*
 * vectors.S -- the 256 interrupt/exception entry stubs (Intel SDM vol. 3
 * §6.12) and the common path that saves the full register state, including
 * x87/SSE state with fxsave, around the C handler x86_trap().
 *
 * Every stub is TRAP_STUB_SIZE (16) bytes so cpu.c can compute addresses
 * without relocations: [push $0 if the CPU pushes no error code]; push the
 * vector; jump to the common path.
 */
	.text
	.code64

	.balign 16
	.globl x86_trap_stubs
x86_trap_stubs:
	vector = 0
	.rept 256
	.balign 16
	/* vectors with a CPU error code: #DF #TS #NP #SS #GP #PF #AC #CP #VC #SX */
	.if (vector == 8) || (vector == 10) || (vector == 11) || (vector == 12) || (vector == 13) || (vector == 14) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
	.else
	pushq $0
	.endif
	pushq $vector
	jmp trap_common
	vector = vector + 1
	.endr

/*
 * SYSCALL from ring 3 (Intel SDM vol. 3 §5.8.8): RIP in rcx, RFLAGS in
 * r11, interrupts off (SFMASK), still on the user stack.  One CPU, so a
 * plain variable holds the user rsp while we switch to the task's kernel
 * stack; then the same frame an interrupt from ring 3 would build, with
 * vector SYSCALL_VECTOR, and the common path (which returns with iretq).
 */
	.balign 16
	.globl x86_syscall_entry
x86_syscall_entry:
	movq %rsp, x86_user_rsp(%rip)
	movq x86_kernel_entry_sp(%rip), %rsp
	pushq $0x1b		/* ss: user data | 3 */
	pushq x86_user_rsp(%rip)
	pushq %r11		/* rflags */
	pushq $0x23		/* cs: user code | 3 */
	pushq %rcx		/* rip */
	pushq $0		/* error */
	pushq $0x100		/* SYSCALL_VECTOR */
	jmp trap_common

/* The kernel stack SYSCALL switches to (cpu.c sets it with TSS.RSP0 on
 * every task switch) and where the user rsp waits meanwhile. */
	.data
	.balign 8
	.globl x86_kernel_entry_sp
	.hidden x86_kernel_entry_sp
x86_kernel_entry_sp:
	.quad 0
x86_user_rsp:
	.quad 0
	.text

/* void x86_enter_user(struct trap_frame *frame): a clean FPU, the
 * frame's registers, iretq. */
	.globl x86_enter_user
x86_enter_user:
	fninit
	movl $0x1f80, -4(%rsp)
	ldmxcsr -4(%rsp)
	movq %rdi, %rsp
	jmp trap_pop

/* void x86_enter_user_fpu(struct trap_frame *frame, const void *fxsave) */
	.globl x86_enter_user_fpu
x86_enter_user_fpu:
	fxrstor64 (%rsi)
	movq %rdi, %rsp
	jmp trap_pop

	.balign 16
trap_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi		/* struct trap_frame * */
	movq %rsp, %rbx		/* callee-saved: the frame, to come back to */
	subq $512, %rsp
	andq $-16, %rsp
	fxsave64 (%rsp)
	cld
	call x86_trap
	fxrstor64 (%rsp)
	movq %rbx, %rsp
trap_pop:
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	/*
	 * Back from a SYSCALL (the frame's vector says so, also after
	 * rt_sigreturn restored one saved at a system call): SYSRET, which
	 * takes RIP from rcx and RFLAGS from r11 -- registers the system-call
	 * ABI clobbers anyway.  Only to a canonical user RIP: SYSRET to a
	 * non-canonical one faults in ring 0 with the user's stack.
	 */
	cmpq $0x100, (%rsp)
	jne 1f
	movq 16(%rsp), %rcx	/* rip */
	movq %rcx, %r11
	shrq $47, %r11
	jnz 2f
	movq 32(%rsp), %r11	/* rflags */
	movq 40(%rsp), %rsp	/* the user stack; interrupts stay off until sysretq */
	sysretq
2:	movq 32(%rsp), %r11	/* not canonical: iretq faults in ring 3 instead */
1:	addq $16, %rsp		/* vector and error code */
	iretq

	.section .note.GNU-stack,"",@progbits
