/*
 * uwait.c -- the bottom of the user layer (uproc.h): its lock, the current
 * thread, waits on several queues that signals and the thread's end
 * interrupt, signals raised for a thread or a process, the mm mutex and
 * lookups by pid.  Nothing here calls up into the layer's other files.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "include/arch.h"
#include "kernel/kernel.h"
#include "kernel/uproc.h"

bool ulock(void)
{
	bool on = arch_irq_enabled();

	arch_irq_disable();
	return on;
}

void uunlock(bool was_on)
{
	if (was_on)
		arch_irq_enable();
}

struct user_thread *uthread_current(void)
{
	return sched_current()->user;
}

struct user_proc *uproc_current(void)
{
	struct user_thread *t = sched_current()->user;

	return t ? t->proc : NULL;
}

void uproc_note(struct user_proc *p, const char *fmt, ...)
{
	struct user_session *s = p->session;
	va_list ap;

	if (p != s->root || !s->note || s->note[0])
		return; /* the first reason the root gives is the one kept */
	va_start(ap, fmt);
	vsnprintf(s->note, s->note_len, fmt, ap);
	va_end(ap);
}

/* ---- signals raised ---- */

bool sig_default_ignores(int sig)
{
	return sig == SIGNAL_CHLD || sig == SIGNAL_URG || sig == SIGNAL_WINCH || sig == SIGNAL_CONT;
}

bool sig_ignored(struct user_proc *p, int sig)
{
	uint64_t h = p->actions[sig].handler;

	if (sig == SIGNAL_KILL || sig == SIGNAL_STOP)
		return false;
	return h == SIG_IGN || (h == SIG_DFL && sig_default_ignores(sig));
}

bool uthread_ending(struct user_thread *t)
{
	return t->task->kill_requested || t->proc->exiting;
}

bool uthread_interrupted(struct user_thread *t)
{
	return uthread_ending(t) || ((t->pending | t->proc->pending) & ~t->blocked);
}

void sig_send_thread(struct user_thread *t, int sig)
{
	bool on;

	if (sig <= 0 || sig > SIGNAL_MAX)
		return;
	on = ulock();
	if (!sig_ignored(t->proc, sig)) {
		t->pending |= SIG_BIT(sig);
		sched_wake(t->task);
	}
	uunlock(on);
}

void sig_send_proc(struct user_proc *p, int sig)
{
	bool on;

	if (sig <= 0 || sig > SIGNAL_MAX)
		return;
	on = ulock();
	if (!p->zombie && !sig_ignored(p, sig)) {
		p->pending |= SIG_BIT(sig);
		/* any thread that does not block it may take it: wake them all */
		for (struct user_thread *t = p->threads; t; t = t->next)
			if (!(t->blocked & SIG_BIT(sig)) || sig == SIGNAL_KILL)
				sched_wake(t->task);
	}
	uunlock(on);
}

void uproc_end_threads(struct user_proc *p, struct user_thread *except)
{
	p->exiting = true;
	for (struct user_thread *t = p->threads; t; t = t->next)
		if (t != except)
			sched_kill(t->task);
}

/* ---- waits ---- */

void uwait_init(struct uwait *w)
{
	w->more = NULL;
	w->n = 0;
	w->cap_more = 0;
	w->nomem = false;
}

void uwait_begin(struct uwait *w)
{
	bool on = ulock();

	w->n = 0;
	w->nomem = false;
	sched_event_clear();
	uunlock(on);
}

int uwait_reserve(struct uwait *w, unsigned n)
{
	struct waiter *more;

	if (n <= UWAIT_INLINE + w->cap_more)
		return 0;
	if (!(more = realloc(w->more, (n - UWAIT_INLINE) * sizeof(*more))))
		return -ENOMEM;
	w->more = more;
	w->cap_more = n - UWAIT_INLINE;
	return 0;
}

void uwait_add(struct uwait *w, struct wait_queue *wq)
{
	struct waiter *node;
	bool on;

	if (!wq)
		return;
	for (unsigned i = 0; i < w->n; i++)
		if ((i < UWAIT_INLINE ? &w->nodes[i] : &w->more[i - UWAIT_INLINE])->queue == wq)
			return; /* linked already (two fds of one file) */
	if (w->n >= UWAIT_INLINE + w->cap_more) {
		w->nomem = true; /* looked at again every few ms instead */
		return;
	}
	node = w->n < UWAIT_INLINE ? &w->nodes[w->n] : &w->more[w->n - UWAIT_INLINE];
	on = ulock();
	sched_link(node, wq);
	w->n++;
	uunlock(on);
}

int uwait_sleep(struct uwait *w, uint64_t deadline_ns)
{
	struct user_thread *t = uthread_current();
	uint64_t until = deadline_ns;
	bool on = ulock();
	int err;

	if (uthread_interrupted(t)) {
		uunlock(on);
		return -EINTR;
	}
	/* queues that found no room are looked at again every 2 ms */
	if (w->nomem && until > arch_clock_ns() + 2000000)
		until = arch_clock_ns() + 2000000;
	err = sched_event_wait(until);
	if (err == 0 && uthread_interrupted(t))
		err = -EINTR;
	if (err == -ETIMEDOUT && until != deadline_ns)
		err = uthread_interrupted(t) ? -EINTR : 0; /* a poll step, not the deadline */
	uunlock(on);
	return err;
}

void uwait_end(struct uwait *w)
{
	bool on = ulock();

	for (unsigned i = 0; i < w->n; i++)
		sched_unlink(i < UWAIT_INLINE ? &w->nodes[i] : &w->more[i - UWAIT_INLINE]);
	w->n = 0;
	uunlock(on);
}

void uwait_done(struct uwait *w)
{
	uwait_end(w);
	free(w->more);
	w->more = NULL;
	w->cap_more = 0;
}

int uwait_nap(uint64_t deadline_ns)
{
	struct uwait w;
	int err;

	uwait_init(&w);
	uwait_begin(&w);
	do
		err = uwait_sleep(&w, deadline_ns);
	while (err == 0);
	uwait_done(&w);
	return err == -ETIMEDOUT ? 0 : err;
}

/* ---- the mm mutex ---- */

void umutex_lock(struct umutex *m)
{
	bool on = ulock();

	while (m->owner) {
		if (sched_current()->kill_requested) {
			/* a dying thread still needs it to let go of its memory */
			uunlock(on);
			sched_yield();
			on = ulock();
			continue;
		}
		sched_wait(&m->wq, UINT64_MAX);
	}
	m->owner = sched_current();
	uunlock(on);
}

void umutex_unlock(struct umutex *m)
{
	bool on = ulock();

	m->owner = NULL;
	sched_wake_all(&m->wq);
	uunlock(on);
}

/* ---- lookups ---- */

struct user_proc *uproc_find(struct user_session *s, int pid)
{
	for (struct user_proc *p = s->procs; p; p = p->session_next)
		if (p->pid == pid)
			return p;
	return NULL;
}

struct user_thread *uthread_find(struct user_session *s, int tid)
{
	for (struct user_proc *p = s->procs; p; p = p->session_next)
		for (struct user_thread *t = p->threads; t; t = t->next)
			if (t->tid == tid)
				return t;
	return NULL;
}

/* ---- errno ---- */

/*
 * Linux's errno numbers (include/uapi/asm-generic/errno-base.h, errno.h).
 * The kernel is built against newlib's <errno.h>, which agrees with Linux
 * up to ERANGE (34) and numbers the rest its own way.
 */
_Static_assert(EPERM == 1 && ENOENT == 2 && ESRCH == 3 && EINTR == 4 && E2BIG == 7 &&
                       ENOEXEC == 8 && EBADF == 9 && ECHILD == 10 && EAGAIN == 11 && ENOMEM == 12 &&
                       EACCES == 13 && EFAULT == 14 && EEXIST == 17 && ENODEV == 19 &&
                       ENOTDIR == 20 && EISDIR == 21 && EINVAL == 22 && ENFILE == 23 &&
                       EMFILE == 24 && ENOTTY == 25 && EFBIG == 27 && ENOSPC == 28 &&
                       ESPIPE == 29 && EROFS == 30 && EPIPE == 32 && ERANGE == 34,
               "these errno values are Linux's as they are");

static const struct {
	int ours, theirs;
} errno_map[] = {
	{ EDEADLK, 35 },
	{ ENAMETOOLONG, 36 },
	{ ENOLCK, 37 },
	{ ENOSYS, 38 },
	{ ENOTEMPTY, 39 },
	{ ELOOP, 40 },
	{ ENOMSG, 42 },
	{ ENODATA, 61 },
	{ ETIME, 62 },
	{ EPROTO, 71 },
	{ EOVERFLOW, 75 },
	{ EILSEQ, 84 },
	{ ENOTSOCK, 88 },
	{ EDESTADDRREQ, 89 },
	{ EMSGSIZE, 90 },
	{ EPROTOTYPE, 91 },
	{ ENOPROTOOPT, 92 },
	{ EPROTONOSUPPORT, 93 },
	{ 94 /* vsock/socket.h: ESOCKTNOSUPPORT */, 94 },
	{ EOPNOTSUPP, 95 },
	{ ENOTSUP, 95 },
	{ EAFNOSUPPORT, 97 },
	{ EADDRINUSE, 98 },
	{ EADDRNOTAVAIL, 99 },
	{ ENETDOWN, 100 },
	{ ENETUNREACH, 101 },
	{ ECONNABORTED, 103 },
	{ ECONNRESET, 104 },
	{ ENOBUFS, 105 },
	{ EISCONN, 106 },
	{ ENOTCONN, 107 },
	{ ETIMEDOUT, 110 },
	{ ECONNREFUSED, 111 },
	{ EHOSTUNREACH, 113 },
	{ EALREADY, 114 },
	{ EINPROGRESS, 115 },
	{ ECANCELED, 125 },
};

long linux_errno(long ret)
{
	if (ret >= 0 || ret < -4095)
		return ret;
	if (-ret <= ERANGE)
		return ret;
	for (size_t i = 0; i < sizeof(errno_map) / sizeof(errno_map[0]); i++)
		if (errno_map[i].ours == -ret)
			return -errno_map[i].theirs;
	return -EINVAL; /* never a wrong code */
}

/* ---- the vsock core ---- */

static struct vsock_core *vsock_for_programs; /* set once by user_init */

void user_init(struct vsock_core *core)
{
	vsock_for_programs = core;
	store_mkdir("/tmp", 01777);
}

struct vsock_core *user_vsock(void)
{
	return vsock_for_programs;
}

/* ---- the wall clock ---- */

static uint64_t wall_clock_ns; /* Unix time at the image's entry (RTC), 0: unknown */

void syscall_set_wall_clock(uint64_t epoch_seconds_at_entry)
{
	wall_clock_ns = epoch_seconds_at_entry * 1000000000ull;
}

uint64_t user_wall_clock_ns(void)
{
	return wall_clock_ns + arch_clock_since_entry_ns();
}
