/*
 * signal.c -- signals reach user mode (uproc.h): on every way back to
 * user mode a thread takes the lowest signal pending for it or its
 * process that it does not block, and either runs its handler or does the
 * default action (most end the process with 128 + sig); a fault in user
 * mode is a signal for the faulting thread (its handler runs if it has
 * one, else the process ends and the console says where).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/arch.h"
#include "kernel/kernel.h"
#include "kernel/uproc.h"

#define SIGINFO_BYTES 128
#define SI_USER       0
#define SI_KERNEL     0x80
#define SI_TKILL      (-6)

bool user_stack_fault(uint64_t addr)
{
	struct user_proc *p = uproc_current();

	return p && p->mm && vm_grow(p->mm->as, addr);
}

int user_peek(uint64_t va, void *buf, size_t len)
{
	struct user_proc *p = uproc_current();

	return p ? vm_copy_in(p->mm->as, buf, va, len) : -EFAULT;
}

/* Ended by a signal: 128 + sig for a shell, WSTATUS_SIGNAL for wait. */
static __attribute__((noreturn)) void die(struct user_proc *p, int sig)
{
	uproc_note(p, "killed by signal %d", sig);
	uproc_exit(WSTATUS_SIGNAL(sig));
}

void user_fault(int sig, const char *what, uint64_t addr, uint64_t pc)
{
	struct user_thread *t = uthread_current();
	struct user_proc *p = t->proc;
	struct user_sigaction *a = &p->actions[sig];

	/* a handler that may run takes it (Go turns faults into panics) */
	if (a->handler > SIG_IGN && !(t->blocked & SIG_BIT(sig)) && !(t->pending & SIG_BIT(sig))) {
		t->pending |= SIG_BIT(sig);
		t->fault_addr = addr;
		t->fault_code = sig == SIGNAL_SEGV ? 1 /* SEGV_MAPERR */ :
		                sig == SIGNAL_BUS  ? 1 /* BUS_ADRALN */ :
		                sig == SIGNAL_ILL  ? 2 /* ILL_ILLOPN */ :
		                                     1;
		return;
	}
	uproc_note(p, "%s: %s (signal %d) at address %#llx, pc %#llx", p->exe, what, sig,
	           (unsigned long long)addr, (unsigned long long)pc);
	kprintf("user: %s: %s (signal %d) at address %#llx, pc %#llx (pid %d)\n", p->exe, what, sig,
	        (unsigned long long)addr, (unsigned long long)pc, p->pid);
	uproc_exit(WSTATUS_SIGNAL(sig));
}

/* Run the handler of `sig` on return to user mode: the interrupted frame
 * and mask go on the user stack (siginfo, then our ucontext), the
 * handler returns into rt_sigreturn. */
static void deliver(struct user_thread *t, struct trap_frame *f, int sig, int code, uint64_t addr,
                    uint64_t old_mask)
{
	struct user_proc *p = t->proc;
	struct user_sigaction *a = &p->actions[sig];
	size_t fsize = arch_frame_size();
	uint8_t info[SIGINFO_BYTES] = { 0 };
	uint64_t sp = arch_frame_sp(f), ret, info_at, uc_at, uc_header[5];
	bool pushes = arch_call_pushes_return(), on_alt;
	void *fpu;
	size_t fpsize = arch_frame_fpu(f, &fpu);
	int32_t pid = 0;

	on_alt = t->altstack_size && sp - t->altstack_sp < t->altstack_size;
	if ((a->flags & SA_ONSTACK) && t->altstack_size && !(t->altstack_flags & SS_DISABLE) &&
	    !on_alt)
		sp = t->altstack_sp + t->altstack_size;
	sp -= 128; /* the x86 red zone; harmless elsewhere */
	sp -= SIGINFO_BYTES + sizeof(uc_header) + fsize + 8 + fpsize;
	sp &= ~15ull;
	info_at = sp;
	uc_at = sp + SIGINFO_BYTES;
	ret = (a->flags & SA_RESTORER) ? a->restorer : p->mm->sigreturn_page;
	memcpy(info, &sig, sizeof(int)); /* si_signo; si_errno 0 */
	memcpy(info + 8, &code, sizeof(int));
	if (code > 0) {
		memcpy(info + 16, &addr, 8); /* si_addr */
	} else {
		pid = code == SI_KERNEL ? 0 : 1;
		memcpy(info + 16, &pid, 4); /* si_pid; si_uid 0 */
	}
	uc_header[0] = 0;              /* uc_flags */
	uc_header[1] = 0;              /* uc_link */
	uc_header[2] = t->altstack_sp; /* uc_stack */
	uc_header[3] = t->altstack_flags | (on_alt ? SS_ONSTACK : 0);
	uc_header[4] = t->altstack_size;
	if (pushes)
		sp -= 8; /* the return address, so the handler sees rsp % 16 == 8 */
	if (vm_copy_out(p->mm->as, info_at, info, sizeof(info)) ||
	    vm_copy_out(p->mm->as, uc_at, uc_header, sizeof(uc_header)) ||
	    vm_copy_out(p->mm->as, uc_at + sizeof(uc_header), f, fsize) ||
	    vm_copy_out(p->mm->as, uc_at + sizeof(uc_header) + fsize, &old_mask, 8) ||
	    (fpsize &&
	     vm_copy_out(p->mm->as, uc_at + sizeof(uc_header) + fsize + 8, fpu, fpsize)) ||
	    (pushes && vm_copy_out(p->mm->as, sp, &ret, 8))) {
		uproc_note(p, "%s: no room on the stack for the handler of signal %d", p->exe, sig);
		die(p, SIGNAL_SEGV);
	}
	arch_frame_call(f, a->handler, sp, (uint64_t)sig, info_at, uc_at, ret);
	if (!(a->flags & SA_NODEFER))
		t->blocked |= SIG_BIT(sig);
	t->blocked |= a->mask & ~SIG_UNBLOCKABLE;
	if (a->flags & SA_RESETHAND)
		a->handler = SIG_DFL;
}

long user_sigreturn(struct trap_frame *f)
{
	struct user_thread *t = uthread_current();
	struct user_proc *p = t->proc;
	size_t fsize = arch_frame_size();
	uint64_t at = arch_frame_sp(f) + SIGINFO_BYTES + 5 * 8, mask;
	uint8_t *saved = malloc(fsize);
	void *fpu;
	size_t fpsize = arch_frame_fpu(f, &fpu);

	/* the FP state goes straight back where this entry's exit restores it */
	if (!saved || vm_copy_in(p->mm->as, saved, at, fsize) ||
	    vm_copy_in(p->mm->as, &mask, at + fsize, 8) ||
	    (fpsize && vm_copy_in(p->mm->as, fpu, at + fsize + 8, fpsize))) {
		free(saved);
		uproc_note(p, "%s: rt_sigreturn with a bad frame", p->exe);
		die(p, SIGNAL_SEGV);
	}
	if (fpsize)
		arch_fpu_sanitize(fpu);
	arch_frame_restore(f, saved);
	free(saved);
	t->blocked = mask & ~SIG_UNBLOCKABLE;
	return 0;
}

void user_return(struct trap_frame *f)
{
	struct user_thread *t = uthread_current();
	struct user_proc *p;

	if (!t)
		return;
	p = t->proc;
	if (p->exiting)
		uproc_exit(WSTATUS_SIGNAL(SIGNAL_KILL)); /* (the status set first stays) */
	if (t->task->kill_requested)
		uthread_exit(0); /* another thread's execve ends this one only */
	/* the lowest deliverable signal first, one at a time */
	for (;;) {
		uint64_t ready = (t->pending | p->pending) & ~t->blocked, old_mask;
		struct user_sigaction *a;
		int sig, code = SI_USER;
		uint64_t addr = 0;

		if (!ready)
			break;
		sig = __builtin_ctzll(ready) + 1;
		a = &p->actions[sig];
		if (t->pending & SIG_BIT(sig)) {
			t->pending &= ~SIG_BIT(sig);
			code = SI_TKILL;
			if (t->fault_code) {
				code = t->fault_code;
				addr = t->fault_addr;
				t->fault_code = 0;
			}
		} else {
			p->pending &= ~SIG_BIT(sig);
		}
		if (sig == SIGNAL_KILL || (a->handler == SIG_DFL && !sig_default_ignores(sig)))
			die(p, sig);
		if (a->handler == SIG_IGN || a->handler == SIG_DFL)
			continue;
		old_mask = t->restore_mask ? t->saved_mask : t->blocked;
		t->restore_mask = false;
		deliver(t, f, sig, code, addr, old_mask);
		return; /* one handler at a time */
	}
	if (t->restore_mask) {
		t->blocked = t->saved_mask;
		t->restore_mask = false;
	}
}

int sigmask_swap_in(struct user_thread *t, uint64_t umask, uint64_t size)
{
	uint64_t set;

	if (!umask)
		return 0;
	if (size != 8)
		return -EINVAL;
	if (vm_copy_in(t->proc->mm->as, &set, umask, 8))
		return -EFAULT;
	t->saved_mask = t->blocked;
	t->restore_mask = true;
	t->blocked = set & ~SIG_UNBLOCKABLE;
	return 0;
}
