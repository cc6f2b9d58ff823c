/*
 * internal.h -- state shared by the agent's files (agent.h is the public
 * side).  Everything below is guarded by the platform lock unless a
 * comment says otherwise.
 *
 * Who runs where:
 *   accept task      one; accepts ttRPC connections
 *   conn reader      one per connection; reads frames, runs handlers
 *   conn writer      one per connection; sends queued response frames and
 *                    expires parked requests at their deadline
 *   program task     one per process; runs a catalogue program
 *   log sender/acker two; the log stream to host CID 2
 * A request that cannot be answered at once (WaitProcess, a read with no
 * data yet, a write into a full pipe, RemoveContainer of a running
 * container) becomes a `struct park`; events re-try every park.
 */
#ifndef AGENT_INTERNAL_H
#define AGENT_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/agent.h"
#include "include/platform.h"
#include "vsock/socket.h"

#include <pb.h>

#define AGENT_ID_MAX 128     /* container / exec id, with NUL (agent.options) */
#define AGENT_MAX_ARGS 32    /* oci.options */
#define AGENT_READ_MAX 32768 /* ReadStreamResponse.data (agent.options) */
#define LOG_MSG_MAX 256      /* one record's message; longer lines are split */
#define LOG_SLOT_BYTES 640   /* one formatted record (JSON-escaped message) */
#define SIGNAL_KILL 9        /* SIGKILL: ends the task, exit status 128 + 9 */

/* gRPC status codes (google.rpc.Code) */
enum grpc_code {
	GRPC_OK = 0,
	GRPC_CANCELLED = 1,
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_NOT_FOUND = 5,
	GRPC_ALREADY_EXISTS = 6,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_FAILED_PRECONDITION = 9,
	GRPC_UNIMPLEMENTED = 12,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14,
};

/* A bounded byte FIFO between a program and the host. */
struct pipe {
	uint8_t *buf;   /* cap bytes */
	size_t cap;     /* its size */
	size_t head;    /* index of the oldest byte */
	size_t len;     /* bytes held */
	bool eof;       /* the writing side is done: readers get EOF once drained */
	bool broken;    /* the reading side is gone: writers get -EPIPE */
};

enum proc_state { PROC_CREATED, PROC_RUNNING, PROC_EXITED };

struct program;
struct container;

/* A partly written line of output on its way to the log stream. */
struct line_buf {
	char text[LOG_MSG_MAX]; /* bytes since the last newline */
	size_t len;             /* how many */
};

struct process {
	struct container *ctr;       /* owner */
	struct process *next;        /* next process of the container */
	char exec_id[AGENT_ID_MAX];  /* == container id for the init process */
	enum proc_state state;       /* created, running, exited */
	int exit_status;             /* valid once EXITED */
	const struct program *prog;  /* what it runs */
	int argc;                    /* arguments, argv[0] the program name */
	char *argv[AGENT_MAX_ARGS + 1];
	int envc;                    /* environment, "K=V" */
	char *envp[AGENT_MAX_ARGS + 1];
	char cwd[256];               /* working directory (for pwd) */
	struct pipe in, out, err;    /* stdin, stdout, stderr */
	struct line_buf out_line, err_line; /* output not yet a full line */
	struct platform_task *task;  /* running program, NULL otherwise */
	bool kill_sent;              /* platform_task_kill was requested */
	bool kill_inflight;          /* a killer is using `task` right now */
	int stop_signal;             /* TERM-like signal asked for (0: none) */
	struct wait_queue wq;        /* the program sleeps here */
};

struct container {
	struct agent *agent;         /* owner */
	struct container *next;      /* next container */
	char id[AGENT_ID_MAX];       /* container id */
	struct process *procs;       /* init first, then execs */
	struct process *init;        /* exec_id == id */
	unsigned nprocs;             /* processes in the list */
	bool started;                /* StartContainer ran */
	bool removing;               /* RemoveContainer is waiting for exits */
	unsigned holds;              /* handlers using it unlocked: not freed meanwhile */
};

enum park_kind { PARK_WAIT, PARK_READ_OUT, PARK_READ_ERR, PARK_WRITE_IN, PARK_REMOVE };

struct conn;

/* A request answered later. */
struct park {
	struct park *next;           /* agent-wide list */
	struct conn *conn;           /* where the answer goes */
	uint32_t stream_id;          /* ttRPC stream of the request */
	enum park_kind kind;         /* what it waits for */
	struct container *ctr;       /* its container */
	struct process *proc;        /* its process (NULL for REMOVE) */
	uint32_t len;                /* READ: most bytes wanted */
	uint8_t *data;               /* WRITE: bytes to write (owned) */
	size_t data_len;             /* WRITE: how many */
	uint64_t deadline_ns;        /* answer DEADLINE_EXCEEDED then */
};

/* One encoded ttRPC frame waiting for the writer. */
struct out_frame {
	struct out_frame *next;      /* queue order */
	bool power_off_after;        /* DestroySandbox: power off once sent */
	size_t len;                  /* bytes in data */
	uint8_t data[];              /* header + payload */
};

struct conn {
	struct agent *agent;         /* owner */
	struct conn *next;           /* agent's list */
	struct vsock_sock *sock;     /* the connection */
	struct vsock_addr peer;      /* who called */
	struct out_frame *out_head, *out_tail; /* responses to send */
	struct wait_queue wq;        /* the writer sleeps here */
	bool closing;                /* reader is done: flush, then end */
	unsigned tasks;              /* reader + writer still running */
	unsigned parked;             /* parks that answer here */
};

struct log_slot {
	uint64_t seq;                /* record number */
	uint16_t len;                /* bytes of text, newline included */
	char text[LOG_SLOT_BYTES];   /* one JSON line */
};

struct log_stream {
	struct log_slot *ring;       /* opts.log_ring slots, seq % n */
	uint64_t first_seq;          /* oldest record kept */
	uint64_t next_seq;           /* the next record's seq (first is 1) */
	uint64_t acked;              /* highest seq the host acknowledged */
	uint64_t send_next;          /* next seq to send on this connection */
	uint64_t dropped;            /* records lost before acknowledged */
	uint64_t connects;           /* successful connections */
	struct vsock_sock *sock;     /* current connection, NULL when none */
	bool connected;              /* sock is usable */
	bool acker_busy;             /* the ack reader is using sock */
	uint64_t lost_at_ns;         /* when the last connection ended (0: never had one) */
	struct wait_queue wq;        /* sender and acker sleep here */
	struct wait_queue space_wq;  /* programs waiting for ring space */
};

struct agent {
	struct agent_options opts;   /* as started */
	struct vsock_core *core;     /* sockets come from here */
	struct vsock_sock *listener; /* ttRPC listener */
	struct container *containers; /* every container */
	unsigned ncontainers;        /* how many */
	unsigned nprocesses;         /* processes, all containers */
	struct park *parks;          /* requests waiting for events */
	unsigned nparked;            /* how many */
	struct conn *conns;          /* open connections */
	unsigned nconns;             /* how many */
	unsigned tasks;              /* agent-owned tasks alive */
	struct wait_queue tasks_wq;  /* agent_stop waits here for tasks to end */
	struct wait_queue stop_wq;   /* background tasks sleep here; stop wakes */
	bool stopping;               /* agent_stop was called */
	bool sandbox_created;        /* CreateSandbox ran */
	char sandbox_id[AGENT_ID_MAX]; /* its id */
	uint64_t started_ns;         /* platform_now_ns at start */
	uint64_t requests, denied, bad_frames; /* counters */
	struct log_stream log;       /* the log stream */
};

/* ---- a request being handled (ttrpc.c) ---- */
struct call {
	struct conn *conn;           /* where it came from */
	uint32_t stream_id;          /* its stream */
	const uint8_t *payload;      /* the method's request bytes */
	size_t payload_len;          /* how many */
	uint64_t deadline_ns;        /* from timeout_nano (PLATFORM_FOREVER: none) */
	bool answered;               /* a response (or park) was queued */
};

/* ttrpc.c */
int ttrpc_server_start(struct agent *agent);
/* Queue a response frame (lock held).  fields/msg NULL: empty payload. */
void call_reply_locked(struct conn *conn, uint32_t stream_id, int code, const char *message,
		       const pb_msgdesc_t *fields, const void *msg, bool power_off_after);
void call_reply(struct call *call, const pb_msgdesc_t *fields, const void *msg);
void call_error(struct call *call, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Park `park` (filled in by the caller, lock held); false: too many. */
bool call_park_locked(struct call *call, struct park *park);
bool call_decode(struct call *call, const pb_msgdesc_t *fields, void *msg);

/* service.c */
void service_dispatch(struct call *call, const char *service, const char *method);
bool service_method_known(const char *service, const char *method);
/* Retry every park (lock held); called after any process event. */
void parks_poll_locked(struct agent *agent);
/* Answer every park of `conn` or `ctr` with an error and free it (lock held). */
void parks_cancel_locked(struct agent *agent, struct conn *conn, struct container *ctr,
			 int code, const char *message);
/* Expire parks of `conn` past their deadline; returns the next deadline. */
uint64_t parks_expire_locked(struct agent *agent, struct conn *conn, uint64_t now);

/* process.c */
struct container *container_find(struct agent *agent, const char *id);
struct process *process_find(struct container *ctr, const char *exec_id);
/* Make a process (lock held); -errno with a message for the caller in err. */
int process_create_locked(struct container *ctr, const char *exec_id,
			  const void *oci_process, struct process **out, char *err, size_t errlen);
/* Start it (lock NOT held; the caller set state = PROC_RUNNING locked). */
int process_start(struct process *proc);
/* Deliver a signal number (lock NOT held); 0 or -EINVAL. */
int process_signal(struct process *proc, uint32_t sig);
void process_free_locked(struct process *proc);
void container_free_locked(struct container *ctr);
size_t pipe_read_locked(struct pipe *pipe, void *buf, size_t len);
size_t pipe_write_locked(struct pipe *pipe, const void *buf, size_t len);
void agent_kill_all(struct agent *agent);
/* Agent-owned task bookkeeping. */
int agent_spawn(struct agent *agent, const char *name, void (*fn)(void *), void *arg,
		size_t stack, void (*exit_fn)(void *, bool), void *exit_arg);
void agent_task_done_locked(struct agent *agent);

/* catalogue.c */
struct program {
	const char *name;            /* Args[0] */
	const char *usage;           /* one line for people */
	int (*main)(struct process *proc, int argc, char **argv);
};
const struct program *catalogue_find(const char *name);
void catalogue_list(char *buf, size_t len);
/* What programs call: */
ssize_t prog_read(struct process *proc, void *buf, size_t len); /* 0 EOF, -EINTR */
int prog_write(struct process *proc, int fd, const void *buf, size_t len); /* 0, -EPIPE, -EINTR */
int prog_printf(struct process *proc, int fd, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int prog_sleep(struct process *proc, uint64_t ns); /* 0, -EINTR when asked to stop */
bool prog_should_stop(struct process *proc);
int prog_stopped_status(struct process *proc); /* 128 + the signal */

/* logstream.c */
int log_stream_init(struct agent *agent);
int log_stream_start(struct agent *agent);
void log_stream_stop(struct agent *agent);
void log_stream_free(struct agent *agent);
/* One record (lock held); never blocks. */
void log_record_locked(struct agent *agent, const char *level, const char *subsystem,
		       const char *container_id, const char *stream, const char *msg,
		       size_t msg_len);
void agent_log_locked(struct agent *agent, const char *level, const char *container_id,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Program output: should the writer wait for the host to catch up? */
bool log_output_should_wait_locked(struct agent *agent, uint64_t now);

/* sha256.c */
struct sha256 {
	uint32_t state[8];           /* chaining value */
	uint64_t bytes;              /* message length so far */
	uint8_t block[64];           /* partial block */
	size_t used;                 /* bytes in block */
};
void sha256_init(struct sha256 *ctx);
void sha256_update(struct sha256 *ctx, const void *data, size_t len);
void sha256_final(struct sha256 *ctx, uint8_t digest[32]);

#endif
