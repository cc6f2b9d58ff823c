/*
 * agent.c -- start and stop of the agent (see agent.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/internal.h"
#include "include/log.h"

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
