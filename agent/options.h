/*
 * options.h -- the agent's options (DESIGN §3, §5): their struct, their
 * defaults and the agent's own option table, which the image's one option
 * parser (kernel/config.c) walks beside the kernel's, so every `agent.*`
 * key is read straight into struct agent_options.
 *
 * Typical usage:
 *	struct agent_options opts;
 *	agent_options_defaults(&opts);
 *	err = agent_option_set(&opts, "agent.allowed_cids", "2,3");
 */
#ifndef AGENT_OPTIONS_H
#define AGENT_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "include/option.h"

struct prog; /* agent/program.h */

#define AGENT_MAX_CIDS    8  /* entries of allowed_cids */
#define AGENT_BOOT_ID_MAX 40 /* boot_id string, with its NUL */

struct agent_options {
	uint32_t server_port;                  /* ttRPC listens here (1024) */
	uint32_t log_port;                     /* logs go to host CID 2, this port (1025); 0: off */
	uint64_t log_cid;                      /* where the log stream connects (2) */
	uint64_t allowed_cids[AGENT_MAX_CIDS]; /* peers allowed to call (default {2}) */
	unsigned n_allowed_cids;               /* how many of them; 0 allows every peer */
	char allowed_methods[512];             /* "Check,CreateContainer,..." or "" (all) */
	unsigned max_containers;               /* containers at once (64) */
	unsigned max_procs;                    /* processes per container, init included (8) */
	unsigned max_conns;                    /* ttRPC connections at once (32) */
	unsigned max_inflight; /* parked requests per connection (1024; the Go runtime keeps one) */
	size_t stack_bytes;    /* each program task's stack (32 KiB) */
	size_t pipe_bytes;     /* each stdin/stdout/stderr pipe (32 KiB) */
	size_t max_frame;      /* largest ttRPC frame accepted (4 MiB) */
	size_t rx_budget;      /* frames being received hold at most this beyond
				       4 KiB each, all connections (max_frame + 1 MiB) */
	unsigned log_ring;     /* log records kept until acknowledged (1024) */
	uint64_t log_grace_ns; /* output waits at most this long for the log listener (10 s) */
	uint64_t log_backoff_max_ns;     /* reconnect backoff ceiling (1 s) */
	char boot_id[AGENT_BOOT_ID_MAX]; /* names this boot in every log record */
	const char *arch;                /* for sysinfo / GetGuestDetails ("unknown") */
	void (*power_off)(void);         /* DestroySandbox ends with this (NULL: no-op) */
	/* Run a program file of the store (include/store.h) in the calling
	 * task with at most mem_limit bytes (0: the image's default): its
	 * exit status, and in `note` why it did not simply exit.  NULL:
	 * files cannot run here (host tests). */
	int (*run_file)(struct prog *prog, const char *path, uint64_t mem_limit, char *note,
	                size_t note_len);
};

/*
 * The `agent.*` keys: agent.server_port, agent.log_port, agent.allowed_cids
 * (comma-separated, "any" for every peer), agent.allowed_methods
 * (comma-separated method names, "all"), agent.max_containers,
 * agent.max_procs, agent.stack_kib, agent.pipe_kib, agent.log_ring,
 * agent.log_grace (milliseconds), agent.boot_id.
 */
extern const struct option_table agent_option_table;

void agent_options_defaults(struct agent_options *opts);

/* One option from its text form: 0, -ENOENT (not an agent key), -EINVAL. */
int agent_option_set(struct agent_options *opts, const char *key, const char *value);

#endif
