/*
 * agent.c -- options, start and stop of the agent (see agent.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/internal.h"
#include "include/log.h"

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
	opts->max_inflight = 64;
	opts->stack_bytes = 32 << 10;
	opts->pipe_bytes = 32 << 10;
	opts->max_frame = 4 << 20;
	opts->log_ring = 1024;
	opts->log_grace_ns = 10000000000ull;
	opts->log_backoff_max_ns = 1000000000ull;
	opts->poll_slice_ns = 1000000000ull;
	opts->arch = "unknown";
}

static int parse_number(const char *value, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;

	if (!value[0] || value[0] == '-')
		return -EINVAL;
	*out = strtoull(value, &end, 0);
	return (*end || *out < min || *out > max) ? -EINVAL : 0;
}

static int parse_cids(struct agent_options *opts, const char *value)
{
	unsigned n = 0;
	char item[24];

	if (strcmp(value, "any") == 0) {
		opts->n_allowed_cids = 0;
		return 0;
	}
	for (const char *p = value; *p;) {
		size_t len = strcspn(p, ",");
		uint64_t cid;

		if (len == 0 || len >= sizeof(item) || n == AGENT_MAX_CIDS)
			return -EINVAL;
		memcpy(item, p, len);
		item[len] = '\0';
		if (parse_number(item, 0, UINT32_MAX, &cid))
			return -EINVAL;
		opts->allowed_cids[n++] = cid;
		p += len + (p[len] == ',');
	}
	if (!n)
		return -EINVAL;
	opts->n_allowed_cids = n;
	return 0;
}

int agent_option_set(struct agent_options *opts, const char *key, const char *value)
{
	uint64_t v;

	if (strcmp(key, "agent.allowed_cids") == 0)
		return parse_cids(opts, value);
	if (strcmp(key, "agent.allowed_methods") == 0) {
		if (strlen(value) >= sizeof(opts->allowed_methods))
			return -EINVAL;
		snprintf(opts->allowed_methods, sizeof(opts->allowed_methods), "%s",
			 strcmp(value, "all") == 0 ? "" : value);
		return 0;
	}
	if (strcmp(key, "agent.boot_id") == 0) {
		if (strlen(value) >= sizeof(opts->boot_id) || strpbrk(value, "\"\\"))
			return -EINVAL;
		snprintf(opts->boot_id, sizeof(opts->boot_id), "%s", value);
		return 0;
	}
	static const struct {
		const char *key;
		uint64_t min, max, scale;
	} numbers[] = {
		{ "agent.server_port", 1, UINT32_MAX - 1, 1 },
		{ "agent.log_port", 0, UINT32_MAX - 1, 1 },
		{ "agent.max_containers", 1, 4096, 1 },
		{ "agent.max_procs", 1, 64, 1 },
		{ "agent.stack_kib", 8, 1024, 1024 },
		{ "agent.pipe_kib", 1, 1024, 1024 },
		{ "agent.log_ring", 16, 65536, 1 },
	};
	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		if (strcmp(key, numbers[i].key) != 0)
			continue;
		if (parse_number(value, numbers[i].min, numbers[i].max, &v))
			return -EINVAL;
		v *= numbers[i].scale;
		switch (i) {
		case 0: opts->server_port = (uint32_t)v; break;
		case 1: opts->log_port = (uint32_t)v; break;
		case 2: opts->max_containers = (unsigned)v; break;
		case 3: opts->max_procs = (unsigned)v; break;
		case 4: opts->stack_bytes = (size_t)v; break;
		case 5: opts->pipe_bytes = (size_t)v; break;
		default: opts->log_ring = (unsigned)v; break;
		}
		return 0;
	}
	return -ENOENT;
}

int agent_start(struct vsock_core *core, const struct agent_options *opts, struct agent **out)
{
	struct agent *agent = calloc(1, sizeof(*agent));
	int err;

	if (!agent)
		return -ENOMEM;
	agent->opts = *opts;
	agent->core = core;
	agent->started_ns = platform_now_ns();
	if (!agent->opts.arch)
		agent->opts.arch = "unknown";
	if (!agent->opts.boot_id[0])
		snprintf(agent->opts.boot_id, sizeof(agent->opts.boot_id), "boot-%llx",
			 (unsigned long long)agent->started_ns);
	err = log_stream_init(agent);
	if (err < 0)
		goto err_free;
	platform_lock();
	agent_log_locked(agent, "info", "", "agent %s starting: ttRPC on port %u, logs to "
			 "%llu:%u, boot_id %s", AGENT_VERSION, agent->opts.server_port,
			 (unsigned long long)agent->opts.log_cid, agent->opts.log_port,
			 agent->opts.boot_id);
	platform_unlock();
	err = ttrpc_server_start(agent);
	if (err < 0)
		goto err_log;
	err = log_stream_start(agent);
	if (err < 0) {
		*out = agent;
		agent_stop(agent);
		return err;
	}
	log_printf("agent: %s serving ttRPC on vsock port %u (boot_id %s)\n", AGENT_VERSION,
		   agent->opts.server_port, agent->opts.boot_id);
	*out = agent;
	return 0;

err_log:
	log_stream_free(agent);
err_free:
	free(agent);
	return err;
}

void agent_stop(struct agent *agent)
{
	if (!agent)
		return;
	platform_lock();
	agent->stopping = true;
	platform_wake(&agent->stop_wq);
	for (struct conn *conn = agent->conns; conn; conn = conn->next)
		platform_wake(&conn->wq);
	platform_unlock();
	log_stream_stop(agent);
	agent_kill_all(agent);
	platform_lock();
	while (agent->tasks) {
		platform_wake(&agent->log.wq);
		platform_wait(&agent->tasks_wq, platform_now_ns() + 10000000ull);
	}
	while (agent->containers)
		container_free_locked(agent->containers);
	platform_unlock();
	vsock_close(agent->listener);
	log_stream_free(agent);
	free(agent);
}

void agent_get_stats(struct agent *agent, struct agent_stats *out)
{
	platform_lock();
	out->containers = agent->ncontainers;
	out->processes = agent->nprocesses;
	out->tasks = agent->tasks;
	out->conns = agent->nconns;
	out->parked = agent->nparked;
	out->requests = agent->requests;
	out->denied = agent->denied;
	out->bad_frames = agent->bad_frames;
	out->log_next_seq = agent->log.next_seq;
	out->log_acked = agent->log.acked;
	out->log_dropped = agent->log.dropped;
	out->log_connects = agent->log.connects;
	platform_unlock();
}
