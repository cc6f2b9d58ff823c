/*
 * program.c -- the calls a catalogue program makes (program.h).  They
 * run in the program's own task.  Data moves through the lock-free pipes;
 * the platform lock is taken only to sleep on, and be woken from, the
 * program's wait queue (include/platform.h), never around agent state.
 */
#include "agent/program.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

enum wait_for {
	WAIT_INPUT,    /* stdin has data or EOF, or a stop request came */
	WAIT_ROOM_OUT, /* stdout has room or nobody reads it */
	WAIT_ROOM_ERR, /* the same for stderr */
	WAIT_STOP,     /* only a stop request (prog_sleep) */
};

static int stop_signal(const struct prog *prog)
{
	return __atomic_load_n(&prog->stop_signal, __ATOMIC_SEQ_CST);
}

static bool ready(const struct prog *prog, enum wait_for what)
{
	switch (what) {
	case WAIT_INPUT:
		return pipe_readable(&prog->in) || pipe_write_closed(&prog->in) ||
		       stop_signal(prog);
	case WAIT_ROOM_OUT:
		return pipe_room(&prog->out) || pipe_read_closed(&prog->out);
	case WAIT_ROOM_ERR:
		return pipe_room(&prog->err) || pipe_read_closed(&prog->err);
	case WAIT_STOP:
		return stop_signal(prog) != 0;
	}
	return true;
}

/* Sleep until ready() or the deadline: 0, -ETIMEDOUT, or -EINTR once the
 * task is being killed.  ready() is checked with the lock held and the
 * agent wakes with it held, so no wake-up falls between check and sleep. */
static int prog_wait(struct prog *prog, enum wait_for what, uint64_t deadline)
{
	int err = 0;

	platform_lock();
	while (err == 0 && !ready(prog, what))
		err = platform_wait(&prog->wq, deadline);
	platform_unlock();
	return err;
}

static void notify(struct prog *prog)
{
	if (prog->notify)
		prog->notify(prog->notify_arg);
}

ssize_t prog_read(struct prog *prog, void *buf, size_t len)
{
	for (;;) {
		size_t n = pipe_read(&prog->in, buf, len);

		if (n == 0 && pipe_write_closed(&prog->in))
			n = pipe_read(&prog->in, buf, len); /* written just before the close */
		if (n) {
			notify(prog); /* room for a parked WriteStdin */
			return (ssize_t)n;
		}
		if (pipe_write_closed(&prog->in))
			return 0;
		if (stop_signal(prog) || prog_wait(prog, WAIT_INPUT, PLATFORM_FOREVER) == -EINTR)
			return -EINTR;
	}
}

int prog_write(struct prog *prog, int fd, const void *buf, size_t len)
{
	struct pipe *pipe = fd == 2 ? &prog->err : &prog->out;
	const uint8_t *p = buf;

	while (len) {
		size_t n;

		if (pipe_read_closed(pipe))
			return -EPIPE;
		n = pipe_write(pipe, p, len);
		if (n) {
			notify(prog);
			p += n;
			len -= n;
			continue;
		}
		/* Full: a stop request does not cut output short, a kill does. */
		if (prog_wait(prog, fd == 2 ? WAIT_ROOM_ERR : WAIT_ROOM_OUT, PLATFORM_FOREVER) ==
		    -EINTR)
			return -EINTR;
	}
	return 0;
}

int prog_printf(struct prog *prog, int fd, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	return prog_write(prog, fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

int prog_sleep(struct prog *prog, uint64_t ns)
{
	uint64_t now = platform_now_ns();
	uint64_t deadline = ns >= PLATFORM_FOREVER - now ? PLATFORM_FOREVER : now + ns;

	if (stop_signal(prog))
		return -EINTR;
	switch (prog_wait(prog, WAIT_STOP, deadline)) {
	case -ETIMEDOUT:
		return 0;
	default: /* asked to stop, or killed */
		return -EINTR;
	}
}

bool prog_should_stop(struct prog *prog)
{
	return stop_signal(prog) != 0 || platform_task_kill_requested();
}

int prog_stopped_status(struct prog *prog)
{
	int sig = stop_signal(prog);

	return 128 + (sig ? sig : SIGNAL_KILL);
}

void prog_wake(struct prog *prog)
{
	platform_lock();
	platform_wake(&prog->wq);
	platform_unlock();
}

void prog_request_stop(struct prog *prog, int signal)
{
	/* Only the agent task stores it: no read-modify-write needed. */
	if (!stop_signal(prog))
		__atomic_store_n(&prog->stop_signal, signal, __ATOMIC_SEQ_CST);
	prog_wake(prog);
}
