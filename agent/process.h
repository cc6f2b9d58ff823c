/*
 * process.h -- containers and their processes (DESIGN §5).  Each process
 * runs one catalogue program as its own preemptive task, joined to the
 * agent by its stdin/stdout/stderr pipes (program.h); its output goes to
 * ReadStdout/ReadStderr and, line by line, to the log stream.
 *
 * Owned by the agent task: every function here runs there.  The program
 * tasks touch only their struct prog; they tell the agent task that a
 * pipe moved or that they ended through the table's wake-up, and
 * process_table_poll() then looks at every process.
 *
 * Typical usage (service.c, agent.c):
 *	process_table_init(&table, &opts, &log, core, &wakeup);
 *	err = container_create(&table, "c1", &spec, &ctr, why, sizeof(why));
 *	err = process_start(ctr->init);
 *	...the agent task's loop: process_table_poll(&table, now)...
 *	n = process_read_output(proc, false, buf, len);   // logged stdout
 *	if (proc->state == PROC_EXITED) ...proc->exit_status...
 *	container_free(ctr);                               // nothing running
 */
#ifndef AGENT_PROCESS_H
#define AGENT_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/catalogue.h"
#include "agent/logstream.h"
#include "agent/options.h"
#include "agent/program.h"
#include "vsock/socket.h"

#define AGENT_ID_MAX 128 /* container / exec id, with NUL (agent.options) */
_Static_assert(AGENT_ID_MAX - 1 <= LOG_FIELD_CONTAINER_ID, "ids fit a log record's trailer");

enum proc_state {
	PROC_CREATED,
	PROC_RUNNING,
	PROC_EXITED
};

/* Arguments and environment all processes hold at once, in bytes: over
 * it, a new process is refused RESOURCE_EXHAUSTED naming Process.Args or
 * Process.Env (a request alone is bounded by agent.max_frame). */
#define PROCESS_ARGV_BYTES_MAX (16u << 20)

/* A program's command line, as CreateContainer / ExecProcess give it. */
struct process_spec {
	int argc; /* arguments, argv[0] names the program */
	const char *const *argv;
	int envc; /* environment, "K=V" */
	const char *const *envp;
	const char *cwd;    /* "" or NULL: "/" */
	uint64_t mem_limit; /* OCI Linux.Resources.Memory.Limit, 0: the agent's default */
};

/* One output pipe on its way to the log: a record per line. */
struct output {
	struct pipe *pipe;      /* the program's stdout or stderr */
	const char *stream;     /* "stdout" / "stderr" */
	size_t logged;          /* bytes at the pipe's head already logged */
	size_t line_len;        /* bytes in line */
	char line[LOG_MSG_MAX]; /* output since the last newline */
};

struct container;

struct process {
	struct container *ctr;         /* owner */
	struct process *next;          /* next process of the container */
	char exec_id[AGENT_ID_MAX];    /* == container id for the init process */
	enum proc_state state;         /* created, running, exited */
	int exit_status;               /* valid once EXITED */
	const struct program *program; /* what it runs (file_program: a store file) */
	char note[256];                /* a store file's run: why it ended, if not by exit */
	struct prog io;                /* what the program sees: pipes, args (program.h) */
	struct output out, err;        /* stdout, stderr towards the log */
	struct platform_task *task;    /* RUNNING: its task; use only through kill_task() */
	size_t argv_bytes;             /* what its arguments and environment hold */
	bool kill_sent;                /* SIGKILL was delivered */
	/* Shared with the program task (atomics): */
	int status;            /* what main returned */
	int returning;         /* the task is past main: it may end any moment */
	int kill_inflight;     /* the agent is inside platform_task_kill */
	int task_gone;         /* the task's exit callback ran: it is over */
	bool killed;           /* ... because it was killed (set with task_gone) */
	bool reaped;           /* WaitProcess answered: freed once its output is read */
	bool eof_out, eof_err; /* a read was answered end-of-stream on stdout, stderr */
	uint64_t cpu_ns;       /* CPU time used, as last sampled (final once gone) */
	uint64_t mem_bytes;    /* memory held, as last sampled (0 once gone) */
};

struct container {
	struct process_table *table; /* owner */
	struct container *next;      /* next container */
	char id[AGENT_ID_MAX];       /* container id */
	struct process *procs;       /* init first, then execs */
	struct process *init;        /* exec_id == id */
	unsigned nprocs;             /* processes in the list */
	unsigned nreaped;            /* of them, reaped and kept only for unread output */
	uint64_t mem_limit;          /* its programs' memory limit in bytes, 0: the default */
	bool started;                /* StartContainer ran */
	bool removing;               /* RemoveContainer is waiting for exits */
	uint64_t cpu_ns_freed;       /* CPU time of its processes already freed */
	uint64_t mem_bytes_max;      /* most memory its processes held at once (sampled) */
};

/* What a container's processes use (StatsContainer). */
struct process_usage {
	uint64_t cpu_ns;        /* CPU time, processes gone included */
	uint64_t mem_bytes;     /* memory held now: stacks, a user program's pages */
	uint64_t mem_bytes_max; /* the most seen */
	unsigned running;       /* processes running */
};

struct process_table {
	const struct agent_options *opts; /* limits, sizes, arch, boot id */
	struct log_stream *log;           /* output and life-cycle records go here */
	struct vsock_core *core;          /* sysinfo's guest CID */
	struct vsock_wakeup *wakeup;      /* programs wake the agent task with it */
	int notified;                 /* the wake-up is posted, the agent has not looked (atomic) */
	struct container *containers; /* every container */
	unsigned ncontainers;         /* how many */
	unsigned nprocesses;          /* processes, all containers */
	unsigned ntasks;              /* program tasks not yet over */
	size_t argv_bytes;            /* arguments and environment all processes hold */
	uint64_t started_ns;          /* when the agent started (sysinfo) */
};

void process_table_init(struct process_table *table, const struct agent_options *opts,
                        struct log_stream *log, struct vsock_core *core,
                        struct vsock_wakeup *wakeup);
/* Frees every container; no task may be running (process_table_tasks == 0). */
void process_table_free(struct process_table *table);
/* The agent loop: output into the log, exits finished.  Never blocks. */
void process_table_poll(struct process_table *table, uint64_t now);
/* SIGKILL to every running process (DestroySandbox, agent_stop). */
void process_kill_all(struct process_table *table);

struct container *container_find(struct process_table *table, const char *id);
/* A container with its init process; -errno and a message in `why`. */
int container_create(struct process_table *table, const char *id, const struct process_spec *spec,
                     struct container **out, char *why, size_t why_len);
bool container_running(const struct container *ctr);
void container_free(struct container *ctr);
void container_usage(struct container *ctr, struct process_usage *use);

struct process *process_find(struct container *ctr, const char *exec_id);
int process_create(struct container *ctr, const char *exec_id, const struct process_spec *spec,
                   struct process **out, char *why, size_t why_len);
/* Start its task: 0 or -ENOMEM (the process stays CREATED). */
int process_start(struct process *proc);
/* A process that could not start: EXITED with `status`, its pipes closed. */
void process_fail(struct process *proc, int status);
/* Linux's signals 1-64 (and 0, which only checks). */
bool signal_supported(uint32_t sig);
/* Does the signal's Linux default action end the process (Term or Core)? */
bool signal_terminates(uint32_t sig);
/*
 * Deliver a signal: 0, or -EINVAL when not supported.  A created process
 * that is never started ends with 128 + sig for a terminating signal; a
 * catalogue program ends so for one, and ignores the others (it asks for
 * none); a user program gets any, with Linux's default actions.
 */
int process_signal(struct process *proc, uint32_t sig);
/* Free an exited exec process (not the init process). */
void process_remove(struct process *proc);
/* Has everything it wrote been read, to the end of both streams? */
bool process_output_done(const struct process *proc);

/* ReadStdout/ReadStderr: output that is in the log already. */
size_t process_read_output(struct process *proc, bool err_stream, void *buf, size_t len);
/* Would a read answer now (data, or EOF because the process exited)? */
bool process_output_ready(const struct process *proc, bool err_stream);
/* Bytes stdin would take now. */
size_t process_input_room(const struct process *proc);
/* WriteStdin: bytes taken (0: stdin is full). */
size_t process_write_input(struct process *proc, const void *buf, size_t len);
/* NULL while stdin takes data, else why not. */
const char *process_input_refusal(const struct process *proc);
void process_close_input(struct process *proc);

#endif
