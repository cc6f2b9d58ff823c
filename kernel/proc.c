/*
 * proc.c -- threads and processes of the user layer (uproc.h): making
 * them (a session's first process, clone, fork), their ends and what is
 * left of them (zombies for wait4, SIGCHLD, orphans going to the
 * session's first process), and ending a whole session.
 *
 * A thread is a task of its own.  It enters user mode from thread_main,
 * and every end of it -- SYS_exit, exit_group, a fatal signal, a kill --
 * longjmps back there (uthread_exit, uproc_exit): the thread leaves, and
 * the last thread of a process to leave ends the process: its files are
 * closed (a socket's peer sees SHUTDOWN or RST), its memory goes back, it
 * becomes a zombie for its parent, or is freed at once when the parent
 * ignores SIGCHLD.  Other threads are made to end with sched_kill: their
 * waits return -EINTR and their way back to user mode ends them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/arch.h"
#include "kernel/kernel.h"
#include "kernel/uproc.h"

#define FRAME_MAX 2048 /* arch_frame_size() + FP state, both architectures */

/* ---- processes ---- */

struct user_proc *uproc_new(struct user_session *s, struct user_proc *parent)
{
	struct user_proc *p = calloc(1, sizeof(*p));
	bool on;

	if (!p)
		return NULL;
	on = ulock();
	if (s->nprocs >= UPROC_MAX_PROCS || s->killing) {
		uunlock(on);
		free(p);
		return NULL;
	}
	p->session = s;
	p->pid = s->next_pid++;
	p->session_next = s->procs;
	s->procs = p;
	s->nprocs++;
	s->live++;
	p->start_ns = arch_clock_ns();
	p->exit_signal = SIGNAL_CHLD;
	if (parent) {
		p->parent = parent;
		p->sibling = parent->children;
		parent->children = p;
		p->pgid = parent->pgid;
		p->sid = parent->sid;
		p->umask = parent->umask;
		memcpy(p->cwd, parent->cwd, sizeof(p->cwd));
		memcpy(p->exe, parent->exe, sizeof(p->exe));
		memcpy(p->actions, parent->actions, sizeof(p->actions));
	} else {
		p->pgid = p->sid = p->pid;
		p->umask = 022;
	}
	uunlock(on);
	return p;
}

/* Out of the session's list and its parent's (lock held). */
static void unlink_proc(struct user_proc *p)
{
	struct user_session *s = p->session;

	for (struct user_proc **q = &s->procs; *q; q = &(*q)->session_next) {
		if (*q == p) {
			*q = p->session_next;
			break;
		}
	}
	s->nprocs--;
	if (p->parent) {
		for (struct user_proc **q = &p->parent->children; *q; q = &(*q)->sibling) {
			if (*q == p) {
				*q = p->sibling;
				break;
			}
		}
	}
}

void uproc_abort(struct user_proc *p)
{
	bool on;

	fd_table_put(p->fds);
	mm_put(p->mm);
	on = ulock();
	unlink_proc(p);
	p->session->live--;
	for (struct user_proc *c = p->children; c; c = c->sibling)
		c->parent = NULL; /* (none: it never ran) */
	uunlock(on);
	free(p);
}

void uproc_reap(struct user_proc *p)
{
	struct user_proc *parent = p->parent;

	unlink_proc(p);
	if (parent)
		parent->children_run_ns += p->dead_run_ns + p->children_run_ns;
	free(p);
}

void uproc_vfork_release(struct user_proc *child)
{
	bool on = ulock();
	struct user_thread *parent = child->vfork_parent;

	if (parent) {
		parent->vfork_child = NULL;
		sched_wake_all(&parent->vfork_wq);
		child->vfork_parent = NULL;
	}
	uunlock(on);
}

/* Does the parent want no zombie of its children (SIG_IGN / SA_NOCLDWAIT)? */
static bool parent_discards(struct user_proc *parent)
{
	const struct user_sigaction *a = &parent->actions[SIGNAL_CHLD];

	return a->handler == SIG_IGN || (a->flags & SA_NOCLDWAIT);
}

/* A process has ended (lock held): its parent learns it. */
static void notify_parent(struct user_proc *p)
{
	struct user_proc *parent = p->parent;

	if (!parent)
		return; /* the session's first process: user_run collects it */
	if (parent_discards(parent)) {
		uproc_reap(p);
		return;
	}
	if (p->exit_signal)
		sig_send_proc(parent, p->exit_signal);
	sched_wake_all(&parent->child_wq);
}

/* Children of an ended process go to the session's first process (its
 * init), or nowhere when that one is gone too (lock held). */
static void reparent_children(struct user_proc *p)
{
	struct user_proc *init = p->session->root;

	if (init == p || !init || init->zombie)
		init = NULL;
	while (p->children) {
		struct user_proc *c = p->children;

		p->children = c->sibling;
		c->parent = init;
		if (init) {
			c->sibling = init->children;
			init->children = c;
		}
		if (c->zombie)
			notify_parent(c); /* the new parent may reap it */
	}
}

/* The last thread has left: everything goes, a zombie (or nothing) is left. */
static void proc_end(struct user_proc *p)
{
	struct user_session *s = p->session;
	bool on;

	uproc_vfork_release(p);
	fd_table_put(p->fds);
	p->fds = NULL;
	mm_put(p->mm);
	p->mm = NULL;
	on = ulock();
	p->zombie = true;
	s->live--;
	reparent_children(p);
	notify_parent(p); /* may free p */
	sched_wake_all(&s->wq);
	uunlock(on);
}

void session_kill(struct user_session *s)
{
	bool on = ulock();

	s->killing = true;
	for (struct user_proc *p = s->procs; p; p = p->session_next) {
		if (p->zombie)
			continue;
		if (!p->exiting)
			p->status = WSTATUS_SIGNAL(SIGNAL_KILL);
		uproc_end_threads(p, NULL);
	}
	uunlock(on);
}

/* ---- threads ---- */

struct user_thread *uthread_new(struct user_proc *p, const void *frame, uint64_t pc, uint64_t sp,
                                uint64_t tls)
{
	struct user_thread *t = calloc(1, sizeof(*t));
	size_t frame_len = 0;
	void *fpu;
	bool on;

	if (!t)
		return NULL;
	if (frame) {
		frame_len = arch_frame_size() + arch_frame_fpu(NULL, &fpu);
		if (frame_len > FRAME_MAX || !(t->start_frame = malloc(frame_len)))
			goto err_free;
		memcpy(t->start_frame, frame, frame_len);
	}
	if (!(t->iobuf = vm_page_alloc(UPROC_IOBUF / VM_PAGE)))
		goto err_free;
	t->proc = p;
	t->start_pc = pc;
	t->start_sp = sp;
	t->start_tls = tls;
	t->altstack_flags = SS_DISABLE;
	on = ulock();
	if (p->nthreads >= UPROC_MAX_THREADS || p->exiting) {
		uunlock(on);
		goto err_free_iobuf;
	}
	t->tid = p->threads ? p->session->next_pid++ : p->pid;
	t->next = p->threads;
	p->threads = t;
	p->nthreads++;
	uunlock(on);
	return t;

err_free_iobuf:
	vm_page_free(t->iobuf, UPROC_IOBUF / VM_PAGE);
err_free:
	free(t->start_frame);
	free(t);
	return NULL;
}

/* Out of its process's list (lock held): true if it was the last one. */
static bool unlink_thread(struct user_thread *t)
{
	struct user_proc *p = t->proc;

	for (struct user_thread **q = &p->threads; *q; q = &(*q)->next) {
		if (*q == t) {
			*q = t->next;
			break;
		}
	}
	return --p->nthreads == 0;
}

static void free_thread(struct user_thread *t)
{
	vm_page_free(t->iobuf, UPROC_IOBUF / VM_PAGE);
	free(t->start_frame);
	free(t);
}

/* The thread is over (in its own task, interrupts on, off its user
 * memory): the process ends with its last thread. */
static void thread_leave(struct user_thread *t)
{
	struct user_proc *p = t->proc;
	struct task *task = sched_current();
	bool on, last;

	if (t->clear_tid && p->mm) {
		uint32_t zero = 0;

		/* CLONE_CHILD_CLEARTID: pthread_join's futex */
		if (vm_copy_out(p->mm->as, t->clear_tid, &zero, 4) == 0)
			futex_wake(p->mm, t->clear_tid, 1, ~0u);
	}
	on = ulock();
	if (t->vfork_child) {
		t->vfork_child->vfork_parent = NULL; /* nobody waits for it now */
		t->vfork_child = NULL;
	}
	last = unlink_thread(t);
	p->dead_run_ns += task->run_ns;
	if (last && !p->exiting) {
		p->exiting = true;
		p->status = WSTATUS_EXIT(t->exit_code);
	}
	uunlock(on);
	free_thread(t);
	if (last)
		proc_end(p);
}

static void thread_main(void *arg)
{
	struct user_thread *t = arg;
	struct task *task = sched_current();

	if (setjmp(t->exit_jmp) == 0) {
		uint8_t frame[FRAME_MAX] __attribute__((aligned(16)));
		bool has_frame = t->start_frame != NULL;
		void *fpu;
		size_t fpu_len = arch_frame_fpu(NULL, &fpu);

		if (has_frame) {
			memcpy(frame, t->start_frame, arch_frame_size() + fpu_len);
			free(t->start_frame);
			t->start_frame = NULL;
		}
		arch_irq_disable();
		task->as = t->proc->mm->as;
		task->user_tls = t->start_tls;
		task->user = t;
		vm_space_activate(task->as);
		arch_user_tls_set(t->start_tls);
		if (has_frame)
			arch_user_resume((const struct trap_frame *)frame,
			                 fpu_len ? frame + arch_frame_size() : NULL);
		arch_user_enter(t->start_pc, t->start_sp);
	}
	/* every end of the thread lands here */
	arch_irq_disable();
	task->user = NULL;
	task->as = NULL;
	task->kernel_entry_sp = 0;
	vm_space_activate(NULL);
	arch_irq_enable();
	thread_leave(t);
}

int uthread_run(struct user_thread *t)
{
	struct user_proc *p = t->proc;
	char name[TASK_NAME_MAX];
	bool on;

	snprintf(name, sizeof(name), "user-%d.%d", p->pid, t->tid);
	on = ulock();
	t->task = task_create(name, thread_main, t, UPROC_KSTACK);
	if (t->task)
		t->task->ends_itself = true; /* (before it first runs: the lock is held) */
	if (t->task && (p->exiting || p->session->killing))
		sched_kill(t->task);
	if (!t->task) {
		bool last = unlink_thread(t);

		uunlock(on);
		free_thread(t);
		(void)last; /* the caller undoes the process if this was its first */
		return -EAGAIN;
	}
	uunlock(on);
	return 0;
}

__attribute__((noreturn)) void uthread_exit(int code)
{
	struct user_thread *t = uthread_current();

	t->exit_code = code;
	longjmp(t->exit_jmp, 1);
}

__attribute__((noreturn)) void uproc_exit(int status)
{
	struct user_thread *t = uthread_current();
	struct user_proc *p = t->proc;
	bool on = ulock();

	if (!p->exiting) {
		p->status = status;
		uproc_end_threads(p, t);
	}
	uunlock(on);
	longjmp(t->exit_jmp, 1);
}
