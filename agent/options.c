/*
 * options.c -- the agent's options: defaults and the table of `agent.*`
 * keys (options.h).  Parsing and range checks are the option system's
 * (include/option.h); the agent only says what its keys are.
 */
#include "agent/options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsock/wire.h"

void agent_options_defaults(struct agent_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->server_port = 1024;
	opts->log_port = 1025;
	opts->log_cid = VSOCK_CID_HOST;
	opts->allowed_cids[0] = VSOCK_CID_HOST;
	opts->n_allowed_cids = 1;
	opts->max_containers = 64;
	opts->max_procs = 8;
	opts->max_conns = 32;
	opts->max_inflight = 1024;
	opts->stack_bytes = 32 << 10;
	opts->pipe_bytes = 32 << 10;
	opts->max_frame = 4 << 20;
	opts->rx_budget = opts->max_frame + (1 << 20);
	opts->log_ring = 1024;
	opts->log_grace_ns = 10000000000ull;
	opts->log_backoff_max_ns = 1000000000ull;
	opts->arch = "unknown";
}

/* agent.allowed_cids: "2,3" (each a number, 0x-hex allowed) or "any". */
static int parse_cids(void *base, const char *value)
{
	struct agent_options *opts = base;
	uint64_t cids[AGENT_MAX_CIDS];
	unsigned n = 0;

	if (strcmp(value, "any") == 0) {
		opts->n_allowed_cids = 0;
		return 0;
	}
	for (const char *p = value; *p;) {
		size_t len = strcspn(p, ",");
		char *end;

		if (len == 0 || n == AGENT_MAX_CIDS || *p < '0' || *p > '9')
			return -EINVAL;
		cids[n] = strtoull(p, &end, 0);
		if (end != p + len || cids[n] > UINT32_MAX)
			return -EINVAL;
		n++;
		p += len + (p[len] == ',');
	}
	if (!n)
		return -EINVAL;
	memcpy(opts->allowed_cids, cids, n * sizeof(cids[0]));
	opts->n_allowed_cids = n;
	return 0;
}

static void format_cids(const void *base, char *buf, size_t len)
{
	const struct agent_options *opts = base;
	size_t used = 0;

	snprintf(buf, len, "%s", opts->n_allowed_cids ? "" : "any");
	for (unsigned i = 0; i < opts->n_allowed_cids && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%llu", i ? "," : "",
		                         (unsigned long long)opts->allowed_cids[i]);
}

/* agent.allowed_methods: a comma-separated list, "all" (kept as "") for every one. */
static int parse_methods(void *base, const char *value)
{
	struct agent_options *opts = base;

	if (strlen(value) >= sizeof(opts->allowed_methods))
		return -EINVAL;
	strcpy(opts->allowed_methods, strcmp(value, "all") == 0 ? "" : value);
	return 0;
}

static void format_methods(const void *base, char *buf, size_t len)
{
	const struct agent_options *opts = base;

	snprintf(buf, len, "%s", opts->allowed_methods[0] ? opts->allowed_methods : "all");
}

/* agent.boot_id: goes into every log record, so printable ASCII without
 * a quote or backslash (nothing for JSON to escape). */
static int parse_boot_id(void *base, const char *value)
{
	struct agent_options *opts = base;

	if (strlen(value) >= sizeof(opts->boot_id) || strpbrk(value, "\"\\"))
		return -EINVAL;
	for (const char *p = value; *p; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return -EINVAL;
	strcpy(opts->boot_id, value);
	return 0;
}

static void format_boot_id(const void *base, char *buf, size_t len)
{
	const struct agent_options *opts = base;

	snprintf(buf, len, "%s", opts->boot_id);
}

#define OPTS struct agent_options
static const struct option_desc agent_option_descs[] = {
	OPTION_UINT("agent.server_port", OPTS, server_port, 1, UINT32_MAX - 1, 1),
	OPTION_UINT("agent.log_port", OPTS, log_port, 0, UINT32_MAX - 1, 1), /* 0: off */
	OPTION_CUSTOM("agent.allowed_cids", parse_cids, format_cids),
	OPTION_CUSTOM("agent.allowed_methods", parse_methods, format_methods),
	OPTION_UINT("agent.max_containers", OPTS, max_containers, 1, 4096, 1),
	OPTION_UINT("agent.max_procs", OPTS, max_procs, 1, 64, 1),
	OPTION_UINT("agent.stack_kib", OPTS, stack_bytes, 8, 1024, 1024),
	OPTION_UINT("agent.pipe_kib", OPTS, pipe_bytes, 1, 1024, 1024),
	OPTION_UINT("agent.log_ring", OPTS, log_ring, 16, 65536, 1),
	OPTION_UINT("agent.log_grace", OPTS, log_grace_ns, 0, 3600000, 1000000), /* ms */
	OPTION_CUSTOM("agent.boot_id", parse_boot_id, format_boot_id),
};
#undef OPTS

const struct option_table agent_option_table = OPTION_TABLE(agent_option_descs);

int agent_option_set(struct agent_options *opts, const char *key, const char *value)
{
	char why[160];

	return option_set(&agent_option_table, opts, key, value, why, sizeof(why));
}
