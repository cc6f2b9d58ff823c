/*
 * agent.h -- the Kata-style guest agent (DESIGN §5, issue 7): a ttRPC
 * server on vsock, containers running programs from a built-in catalogue,
 * and a log stream to host CID 2.  Portable: it sees the machine only
 * through include/platform.h and the socket API of vsock/socket.h.
 *
 * One agent task owns all of the agent's state -- containers, processes,
 * connections, parked calls, the log ring -- and serves the listener, the
 * ttRPC connections and the log connection from one vsock_poll loop.
 * Programs run as their own tasks and touch only their pipes (program.h);
 * they wake the agent task through one vsock_wakeup.  Layers, each
 * calling only the ones below it:
 *
 *	agent.c     the agent task's loop, start and stop
 *	ttrpc.c     connections, frames, policy                (ttrpc.h)
 *	service.c   the methods, parked calls                  (service.h)
 *	process.c   containers, processes, output to the log   (process.h)
 *	catalogue.c the programs                               (catalogue.h)
 *	program.c   what programs call: pipe reads and writes  (program.h)
 *	pipe.c      a lock-free single-writer byte pipe        (pipe.h)
 *	logstream.c the log ring and its connection            (logstream.h)
 *	options.c   struct agent_options and its option table  (options.h)
 *
 * Typical usage (the kernel, once the vsock core is attached to the device):
 *	struct agent_options opts;                     // agent/options.h
 *	struct agent *agent;
 *
 *	agent_options_defaults(&opts);                 // or the config parser's
 *	agent_option_set(&opts, "agent.allowed_cids", "2");  // agent.* keys
 *	opts.power_off = my_power_off;                 // DestroySandbox
 *	err = agent_start(core, &opts, &agent);        // the agent task runs
 *
 * Host tests stop it again with agent_stop(agent), which kills every
 * program, ends the agent task and frees everything.
 */
#ifndef AGENT_AGENT_H
#define AGENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/options.h"
#include "agent/version.h"
#include "vsock/core.h"

struct agent;

/* Listen, start the agent task; returns once it runs. */
int agent_start(struct vsock_core *core, const struct agent_options *opts, struct agent **out);

/* Kill every program, end the agent task, free everything (host tests). */
void agent_stop(struct agent *agent);

/* Counters for tests and diagnostics. */
struct agent_stats {
	unsigned containers;       /* containers now */
	unsigned processes;        /* processes now, any state */
	unsigned tasks;            /* agent-owned tasks alive (the agent task, programs) */
	unsigned conns;            /* ttRPC connections now */
	unsigned parked;           /* requests waiting for an event */
	size_t parked_bytes;       /* stdin bytes parked WriteStdin calls hold */
	size_t queued_bytes;       /* answers waiting for their peers (with bookkeeping) */
	size_t queued_peak;        /* the most queued_bytes has been */
	size_t rx_bytes;           /* buffers of requests being received */
	size_t rx_peak;            /* the most rx_bytes has been */
	uint64_t requests;         /* requests answered */
	uint64_t denied;           /* refused by policy */
	uint64_t bad_frames;       /* oversized, malformed or unexpected frames */
	uint64_t log_next_seq;     /* seq the next log record gets */
	uint64_t log_acked;        /* highest seq the host acknowledged */
	uint64_t log_dropped;      /* records overwritten before acknowledged */
	uint64_t log_connects;     /* successful log connections */
	uint64_t log_ack_requests; /* {"ack_request":N} lines sent */
};

/* As of the agent task's last step (any task may call it). */
void agent_get_stats(struct agent *agent, struct agent_stats *out);

#endif
