/*
 * program.h -- what a program of the catalogue sees (DESIGN §5): its
 * arguments, environment and working directory, its stdin/stdout/stderr
 * pipes, a few facts for sysinfo, and the calls it makes.  A program runs
 * as its own preemptive task and touches nothing else of the agent: it
 * sleeps on its own wait queue while a pipe is empty or full, and every
 * pipe it moves is announced to the agent task through `notify`.
 *
 * Typical usage, a program:
 *	static int prog_upper(struct prog *prog, int argc, char **argv)
 *	{
 *		char buf[4096];
 *		ssize_t n;
 *
 *		while ((n = prog_read(prog, buf, sizeof(buf))) > 0)
 *			if (prog_write(prog, 1, buf, (size_t)n))
 *				return 1;
 *		return n < 0 ? prog_stopped_status(prog) : 0;
 *	}
 *
 * and the agent task's side (process.c): after putting bytes into stdin
 * or taking bytes out of stdout/stderr it calls prog_wake(prog); a
 * TERM-like signal is prog_request_stop(prog, SIGNAL_TERM).
 */
#ifndef AGENT_PROGRAM_H
#define AGENT_PROGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/pipe.h"
#include "include/platform.h"

/* Signals SignalProcess accepts (Linux numbers). */
#define SIGNAL_HUP  1
#define SIGNAL_INT  2
#define SIGNAL_QUIT 3
#define SIGNAL_KILL 9 /* ends the task; exit status 128 + 9 */
#define SIGNAL_TERM 15

/* What sysinfo reports, as the agent saw it when the program started. */
struct prog_facts {
	const char *agent_version; /* AGENT_VERSION */
	const char *arch;          /* the image's architecture */
	const char *boot_id;       /* names this boot */
	uint64_t guest_cid;        /* our vsock CID */
	uint64_t agent_uptime_ms;  /* since agent_start */
	unsigned containers;       /* containers then */
	unsigned processes;        /* processes then, any state */
};

struct prog {
	struct pipe in;            /* stdin: the agent writes, the program reads */
	struct pipe out;           /* stdout: the program writes */
	struct pipe err;           /* stderr: the program writes */
	int argc;                  /* arguments, argv[0] the program's name */
	char **argv;               /* argc of them, then NULL (owned by the process) */
	int envc;                  /* environment, "K=V" */
	char **envp;               /* envc of them, then NULL */
	char cwd[256];             /* working directory (for pwd) */
	struct prog_facts facts;   /* for sysinfo */
	int stop_signal;           /* TERM-like request from the agent, 0: none (atomic) */
	struct wait_queue wq;      /* the program sleeps here; prog_wake wakes it */
	void (*notify)(void *arg); /* a pipe moved: tell the agent task */
	void *notify_arg;          /* its argument */
};

/* What programs call.  fd 1 is stdout, 2 stderr. */
ssize_t prog_read(struct prog *prog, void *buf, size_t len); /* 0 EOF, -EINTR stop/kill */
int prog_write(struct prog *prog, int fd, const void *buf, size_t len); /* 0, -EPIPE, -EINTR */
int prog_printf(struct prog *prog, int fd, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
int prog_sleep(struct prog *prog, uint64_t ns); /* 0, -EINTR when asked to stop */
bool prog_should_stop(struct prog *prog);
int prog_stopped_status(struct prog *prog); /* 128 + the signal */

/* The agent task's side. */
void prog_wake(struct prog *prog);
/* The first request sticks; the program's waits end (SIGKILL is process.c's). */
void prog_request_stop(struct prog *prog, int signal);

#endif
