/*
 * agent.h -- the Kata-style guest agent (DESIGN §5, issue 7): a ttRPC
 * server on vsock, containers running programs from a built-in catalogue,
 * and a log stream to host CID 2.  Portable: it sees the machine only
 * through include/platform.h and the socket API of vsock/socket.h.
 *
 * Typical usage (the kernel, once the vsock core is attached to the device):
 *	struct agent_options opts;
 *	struct agent *agent;
 *
 *	agent_options_defaults(&opts);
 *	opts.server_port = config.server_port;         // agent.server_port
 *	opts.log_port = config.log_port;               // agent.log_port
 *	opts.power_off = my_power_off;                 // DestroySandbox
 *	agent_option_set(&opts, "agent.allowed_cids", "2");  // optional extras
 *	err = agent_start(core, &opts, &agent);        // tasks run from here on
 *
 * Host tests stop it again with agent_stop(agent), which ends every task
 * and frees everything.
 */
#ifndef AGENT_AGENT_H
#define AGENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vsock/core.h"

#define AGENT_VERSION "0.1.0"
#define AGENT_MAX_CIDS 8       /* entries of allowed_cids */
#define AGENT_BOOT_ID_MAX 40   /* boot_id string, with its NUL */

struct agent_options {
	uint32_t server_port;       /* ttRPC listens here (1024) */
	uint32_t log_port;          /* logs go to host CID 2, this port (1025); 0: off */
	uint64_t log_cid;           /* where the log stream connects (2) */
	uint64_t allowed_cids[AGENT_MAX_CIDS]; /* peers allowed to call (default {2}) */
	unsigned n_allowed_cids;    /* how many of them; 0 allows every peer */
	char allowed_methods[512];  /* "Check,CreateContainer,..." or "" (all) */
	unsigned max_containers;    /* containers at once (64) */
	unsigned max_procs;         /* processes per container, init included (8) */
	unsigned max_conns;         /* ttRPC connections at once (32) */
	unsigned max_inflight;      /* parked requests per connection (64) */
	size_t stack_bytes;         /* each program task's stack (32 KiB) */
	size_t pipe_bytes;          /* each stdin/stdout/stderr pipe (32 KiB) */
	size_t max_frame;           /* largest ttRPC frame accepted (4 MiB) */
	unsigned log_ring;          /* log records kept until acknowledged (2048) */
	uint64_t log_grace_ns;      /* output waits this long for a lost listener (10 s) */
	uint64_t log_backoff_max_ns; /* reconnect backoff ceiling (1 s) */
	uint64_t poll_slice_ns;     /* accept/connect re-check period for stop (1 s) */
	char boot_id[AGENT_BOOT_ID_MAX]; /* names this boot in every log record */
	const char *arch;           /* for sysinfo / GetGuestDetails ("unknown") */
	void (*power_off)(void);    /* DestroySandbox ends with this (NULL: no-op) */
};

struct agent;

void agent_options_defaults(struct agent_options *opts);

/*
 * Set one `agent.*` option from its text form (agent.cfg syntax):
 * agent.server_port, agent.log_port, agent.allowed_cids (comma-separated,
 * "any" for every peer), agent.allowed_methods (comma-separated method
 * names, "all"), agent.max_containers, agent.max_procs, agent.stack_kib,
 * agent.pipe_kib, agent.log_ring, agent.boot_id.  0, -ENOENT for a key it
 * does not know, -EINVAL for a bad value.
 */
int agent_option_set(struct agent_options *opts, const char *key, const char *value);

/* Listen, start the log streamer; returns once the tasks are running. */
int agent_start(struct vsock_core *core, const struct agent_options *opts,
		struct agent **out);

/* Stop every task, kill every program, free everything (host tests). */
void agent_stop(struct agent *agent);

/* Counters for tests and diagnostics. */
struct agent_stats {
	unsigned containers;      /* containers now */
	unsigned processes;       /* processes now, any state */
	unsigned tasks;           /* agent-owned tasks alive (programs, conns, log) */
	unsigned conns;           /* ttRPC connections now */
	unsigned parked;          /* requests waiting for an event */
	uint64_t requests;        /* requests answered */
	uint64_t denied;          /* refused by policy */
	uint64_t bad_frames;      /* oversized, malformed or unexpected frames */
	uint64_t log_next_seq;    /* seq the next log record gets */
	uint64_t log_acked;       /* highest seq the host acknowledged */
	uint64_t log_dropped;     /* records overwritten before acknowledged */
	uint64_t log_connects;    /* successful log connections */
};

void agent_get_stats(struct agent *agent, struct agent_stats *out);

#endif
