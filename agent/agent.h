/*
 * agent.h -- the Kata-style guest agent (DESIGN §5, issue 7): a ttRPC
 * server on vsock, containers running programs from a built-in catalogue,
 * and a log stream to host CID 2.  Portable: it sees the machine only
 * through include/platform.h and the socket API of vsock/socket.h.
 *
 * Typical usage (the kernel, once the vsock core is attached to the device):
 *	struct agent_options opts;                     // agent/options.h
 *	struct agent *agent;
 *
 *	agent_options_defaults(&opts);                 // or the config parser's
 *	agent_option_set(&opts, "agent.allowed_cids", "2");  // agent.* keys
 *	opts.power_off = my_power_off;                 // DestroySandbox
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

#include "agent/options.h"
#include "vsock/core.h"

#define AGENT_VERSION "0.1.0"

struct agent;

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
