/*
 * user.c -- a session from its start to its end (user.h, uproc.h): the
 * program is loaded into a fresh address space, its first thread starts
 * as a task of its own, and the calling task (the agent's program task)
 * supervises: it turns the agent's stop requests (SignalProcess TERM,
 * INT, HUP, QUIT) into signals for the first process, ends every process
 * when it is killed or when the first process ends, and returns the first
 * process's status once nothing of the session is left.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/arch.h"
#include "kernel/kernel.h"
#include "kernel/uproc.h"

/* 0..255 as a shell reports a wait status: the code, or 128 + signal. */
static int shell_status(int wstatus)
{
	return (wstatus & 0x7f) ? 128 + (wstatus & 0x7f) : (wstatus >> 8) & 0xff;
}

/* The first process: its program loaded, its fds on the session's pipes. */
static int start_root(struct user_session *s, struct store_file *file, const char *path)
{
	struct prog *prog = s->prog;
	struct exec_args args = { prog->argc, prog->envc, prog->argv, prog->envp };
	struct user_proc *p = uproc_new(s, NULL);
	struct user_thread *t;
	uint64_t entry, sp;
	int err;

	if (!p) {
		snprintf(s->note, s->note_len, "%s: no memory for a process", path);
		return -ENOMEM;
	}
	s->root = p;
	snprintf(p->exe, sizeof(p->exe), "%s", path);
	snprintf(p->cwd, sizeof(p->cwd), "%s", prog->cwd[0] ? prog->cwd : "/");
	if ((err = exec_load(&s->budget, file, path, &args, &p->mm, &entry, &sp, s->note,
	                     s->note_len))) {
		kprintf("user: %s\n", s->note);
		uproc_abort(p);
		s->root = NULL;
		return err;
	}
	if (!(p->fds = fd_table_new(prog)) || !(t = uthread_new(p, NULL, entry, sp, 0)) ||
	    uthread_run(t) != 0) {
		snprintf(s->note, s->note_len, "%s: no memory for a process", path);
		uproc_abort(p);
		s->root = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Sleep until a process ends or the agent asks something (interrupts off
 * on entry and return).  A killed task cannot sleep: it yields. */
static void supervise_wait(struct user_session *s)
{
	struct waiter w[2];

	if (sched_current()->kill_requested) {
		arch_irq_enable();
		sched_yield();
		arch_irq_disable();
		return;
	}
	sched_event_clear();
	sched_link(&w[0], &s->wq);
	sched_link(&w[1], &s->prog->wq);
	sched_event_wait(UINT64_MAX);
	sched_unlink(&w[0]);
	sched_unlink(&w[1]);
}

/* Until nothing of the session is left. */
static void supervise(struct user_session *s)
{
	struct user_proc *root = s->root;
	bool on = ulock();

	while (s->live) {
		int stop = __atomic_load_n(&s->prog->stop_signal, __ATOMIC_SEQ_CST);

		if (sched_current()->kill_requested && !s->killing) {
			uproc_note(root, "killed (SIGKILL)");
			session_kill(s);
		}
		if (root->zombie && !s->killing)
			session_kill(s); /* init is gone: so is every process it left */
		if (stop) {
			/* taking it lets the next one through (prog_request_stop) */
			__atomic_store_n(&s->prog->stop_signal, 0, __ATOMIC_SEQ_CST);
			if (stop == SIGNAL_KILL) {
				uproc_note(root, "killed (SIGKILL)");
				session_kill(s);
			} else if (!root->zombie) {
				sig_send_proc(root, stop);
			}
		}
		supervise_wait(s);
	}
	uunlock(on);
}

int user_run(struct prog *prog, struct store_file *file, const char *path, uint64_t mem_limit,
             char *note, size_t note_len)
{
	struct user_session *s = calloc(1, sizeof(*s));
	struct user_proc *root;
	int status;

	note[0] = '\0';
	if (!s) {
		snprintf(note, note_len, "%s: no memory for a process", path);
		return 126;
	}
	s->prog = prog;
	s->note = note;
	s->note_len = note_len;
	s->next_pid = 1;
	s->budget.limit_pages = mem_limit / VM_PAGE;
	if (start_root(s, file, path)) {
		free(s);
		return 126;
	}
	supervise(s);
	root = s->root;
	status = shell_status(root->status);
	if (!note[0] && root->n_enosys) {
		int n = snprintf(note, note_len,
		                 "system calls it made that are not "
		                 "implemented (ENOSYS):");

		for (unsigned i = 0; i < root->n_enosys && n > 0 && (size_t)n < note_len; i++)
			n += snprintf(note + n, note_len - (size_t)n, " %u", root->enosys[i]);
	}
	/* nothing runs now: the zombies go (root last, its status read) */
	{
		bool on = ulock();

		while (s->procs)
			uproc_reap(s->procs);
		uunlock(on);
	}
	if (s->budget.pages)
		kprintf("user: %s: %llu pages still counted at the end\n", path,
		        (unsigned long long)s->budget.pages);
	free(s);
	return status;
}
