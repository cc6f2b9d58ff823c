/*
 * config.h -- the image's options (DESIGN §3).
 *
 * Options come from the EFI load options (kernel-command-line style) and
 * then from \agent.cfg on the ESP, which overrides them.  Syntax: key=value
 * separated by spaces, tabs or newlines; '#' starts a comment that runs to
 * the end of the line.  An unknown key, a token that is not key=value and a
 * malformed or out-of-range value are each reported with the offending text;
 * the option keeps its previous value and parsing goes on.
 *
 * One parser, several tables (include/option.h): the kernel's own keys
 * below, and the agent's (agent/options.h), read straight into
 * struct agent_options -- every key has one owner.
 *
 * Typical usage:
 *	struct agent_config cfg;
 *	config_defaults(&cfg);
 *	config_parse(&cfg, load_options, len, "load options");
 *	config_parse(&cfg, file_text, file_len, "\\agent.cfg");
 *	agent_start(core, &cfg.agent, &agent);
 */
#ifndef KERNEL_CONFIG_H
#define KERNEL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/options.h"

#define CONFIG_TOKEN_MAX  256 /* longest key=value accepted */
#define CONFIG_STRING_MAX 64  /* longest string value */

struct agent_config {
	struct agent_options agent;       /* agent.*: the agent's own table (agent/options.h) */
	bool diag_services;               /* agent.diag_services: echo/discard/source */
	uint32_t pool_mib;                /* agent.pool_mib: DMA page pool size */
	uint32_t heap_mib;                /* agent.heap_mib: general heap size */
	uint32_t stats_ms;                /* agent.stats_ms: print counters this often (0: never) */
	uint32_t store_mib;               /* agent.store_mib: the file store's bound */
	uint32_t bin_max_mib;             /* agent.bin_max_mib: largest \bin\ file read at boot */
	uint32_t container_mem_mib;       /* agent.container_mem_mib: a program's memory limit */
	char test_run[CONFIG_STRING_MAX]; /* test.run: a program of the store to run at boot */
	char test_fault[CONFIG_STRING_MAX]; /* test.fault: deliberate fault to raise */
	bool test_poweroff;                 /* test.poweroff: power off after boot */
	uint32_t test_echo_out; /* test.echo_out: connect to host CID 2 on this port and echo */
	uint32_t test_spin;     /* test.spin: start this many tasks that never yield */
	bool test_semihosting;  /* test.semihosting: exit codes via semihosting (aarch64) */
};

/* The kernel's keys (the agent's are agent_option_table). */
extern const struct option_table kernel_option_table;

void config_defaults(struct agent_config *cfg);

/* Parse `len` bytes of `text`; returns the number of problems reported. */
int config_parse(struct agent_config *cfg, const char *text, size_t len, const char *origin);

/* Print every option of every table and its value through log_printf. */
void config_dump(const struct agent_config *cfg);

#endif
