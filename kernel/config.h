/*
 * config.h -- agent options (DESIGN §3).
 *
 * Options come from the EFI load options (kernel-command-line style) and
 * then from \agent.cfg on the ESP, which overrides them.  Syntax: key=value
 * separated by spaces, tabs or newlines; '#' starts a comment that runs to
 * the end of the line.  An unknown key, a token that is not key=value and a
 * malformed or out-of-range value are each reported with the offending text;
 * the option keeps its previous value and parsing goes on.
 *
 * Typical usage:
 *	struct agent_config cfg;
 *	config_defaults(&cfg);
 *	config_parse(&cfg, load_options, len, "load options");
 *	config_parse(&cfg, file_text, file_len, "\\agent.cfg");
 */
#ifndef KERNEL_CONFIG_H
#define KERNEL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_TOKEN_MAX 256  /* longest key=value accepted */
#define CONFIG_STRING_MAX 64  /* longest string value */

struct agent_config {
	uint32_t server_port;            /* agent.server_port: ttRPC vsock port */
	uint32_t log_port;               /* agent.log_port: host log port on CID 2 (0: no log stream) */
	bool diag_services;              /* agent.diag_services: echo/discard/source */
	uint32_t pool_mib;               /* agent.pool_mib: DMA page pool size */
	uint32_t heap_mib;               /* agent.heap_mib: general heap size */
	uint32_t stats_ms;               /* agent.stats_ms: print counters this often (0: never) */
	char test_fault[CONFIG_STRING_MAX]; /* test.fault: deliberate fault to raise */
	bool test_poweroff;              /* test.poweroff: power off after boot */
	uint32_t test_echo_out;          /* test.echo_out: connect to host CID 2 on this port and echo */
	uint32_t test_spin;              /* test.spin: start this many tasks that never yield */
	bool test_semihosting;           /* test.semihosting: exit codes via semihosting (aarch64) */
};

void config_defaults(struct agent_config *cfg);

/*
 * Options this parser does not know are offered to `fn` (the agent's own
 * options, e.g. agent.allowed_cids) before being reported as unknown:
 * it returns 0 (taken), -ENOENT (not its key) or -EINVAL (bad value).
 */
typedef int (*config_extra_fn)(const char *key, const char *value);
void config_set_extra(config_extra_fn fn);

/* Parse `len` bytes of `text`; returns the number of problems reported. */
int config_parse(struct agent_config *cfg, const char *text, size_t len,
		 const char *origin);

/* Print every option and its value through log_printf. */
void config_dump(const struct agent_config *cfg);

#endif
