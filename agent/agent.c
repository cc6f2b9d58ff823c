/*
 * agent.c -- the agent task: start, stop, and the one loop that owns the
 * agent's state (see agent.h).
 *
 * Each step of the loop sleeps in vsock_poll_wakeup() until one of:
 *   - a socket it serves is ready: the ttRPC listener, a connection
 *     (readable; writable while answers wait), the log connection;
 *   - a program posted the wake-up: a pipe moved or a task ended
 *     (process.c), or agent_stop asked the task to end;
 *   - the next deadline: a parked call's timeout_nano, the log stream's
 *     reconnect or connect timeout, the end of the log grace.
 * Then it serves what is ready, lets programs' output into the log,
 * answers parked calls, and sends what is queued.  Nothing in a step
 * blocks except the poll itself.
 */
#include "agent/agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/logstream.h"
#include "agent/process.h"
#include "agent/service.h"
#include "agent/ttrpc.h"
#include "include/log.h"
#include "include/platform.h"

#define AGENT_STACK        (64 << 10)   /* the agent task's stack */
#define POWER_OFF_DELAY_NS 200000000ull /* let the last answer and logs leave */
#define FLUSH_ROUNDS       4            /* parked reads answered again after room freed */

struct agent {
	struct agent_options opts;  /* as started */
	struct vsock_core *core;    /* sockets come from here */
	struct vsock_wakeup wakeup; /* programs and agent_stop wake the agent task */
	struct log_stream log;      /* the log ring and its connection */
	struct process_table procs; /* containers and processes */
	struct service service;     /* methods and parked calls */
	struct ttrpc_server ttrpc;  /* listener and connections */
	struct vsock_pollfd *fds;   /* poll set: listener, connections, log */
	struct platform_task *task; /* the agent task */
	bool again;                 /* work left from the last step: do not sleep */
	int stop;                   /* agent_stop was called (atomic) */
	bool task_over;             /* the agent task has ended (platform lock) */
	struct wait_queue over_wq;  /* agent_stop waits here for it */
	unsigned stats_seq;         /* odd while `stats` is being written (atomic) */
	struct agent_stats stats;   /* as of the last step, for agent_get_stats */
};

/* ---- counters: written by the agent task, read by anyone (a seqlock) ---- */

static void copy_atomic(void *dst, const void *src, size_t len)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	for (size_t i = 0; i < len; i++)
		__atomic_store_n(&d[i], __atomic_load_n(&s[i], __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}

static void stats_publish(struct agent *agent)
{
	struct agent_stats st;
	unsigned seq;

	memset(&st, 0, sizeof(st)); /* padding too: it is compared */
	st.containers = agent->procs.ncontainers;
	st.processes = agent->procs.nprocesses;
	st.tasks = 1 + agent->procs.ntasks;
	st.conns = agent->ttrpc.nconns;
	st.parked = agent->service.nparked;
	st.parked_bytes = agent->service.parked_bytes;
	st.queued_bytes = agent->ttrpc.out_bytes;
	st.queued_peak = agent->ttrpc.out_peak;
	st.rx_bytes = agent->ttrpc.rx_bytes;
	st.rx_peak = agent->ttrpc.rx_peak;
	st.requests = agent->ttrpc.requests;
	st.denied = agent->ttrpc.denied;
	st.bad_frames = agent->ttrpc.bad_frames;
	st.log_next_seq = agent->log.next_seq;
	st.log_acked = agent->log.acked;
	st.log_dropped = agent->log.dropped;
	st.log_connects = agent->log.connects;
	st.log_ack_requests = agent->log.ack_requests;
	if (memcmp(&st, &agent->stats, sizeof(st)) == 0)
		return;
	/* One writer: plain loads and stores do (no read-modify-write, which
	 * aarch64 would take from libgcc's outline atomics). */
	seq = __atomic_load_n(&agent->stats_seq, __ATOMIC_SEQ_CST);
	__atomic_store_n(&agent->stats_seq, seq + 1, __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	copy_atomic(&agent->stats, &st, sizeof(st));
	__atomic_store_n(&agent->stats_seq, seq + 2, __ATOMIC_SEQ_CST);
}

void agent_get_stats(struct agent *agent, struct agent_stats *out)
{
	unsigned before, after;

	do {
		before = __atomic_load_n(&agent->stats_seq, __ATOMIC_SEQ_CST);
		copy_atomic(out, &agent->stats, sizeof(*out));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		after = __atomic_load_n(&agent->stats_seq, __ATOMIC_SEQ_CST);
	} while (before != after || (before & 1));
}

/* ---- the loop ---- */

static uint64_t earlier(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static void agent_step(struct agent *agent)
{
	size_t n = ttrpc_poll_set(&agent->ttrpc, agent->fds);
	struct vsock_pollfd *log_fd = &agent->fds[n++];
	uint64_t now = platform_now_ns();
	uint64_t deadline = earlier(service_next_deadline(&agent->service),
	                            log_stream_deadline(&agent->log, now));

	if (agent->again)
		deadline = 0;
	agent->again = false;

	log_fd->sock = log_stream_pollfd(&agent->log, &log_fd->events);
	log_fd->revents = 0;
	vsock_poll_wakeup(agent->fds, n, deadline, &agent->wakeup);
	now = platform_now_ns();

	ttrpc_serve(&agent->ttrpc, agent->fds);              /* accept, read, answer or park */
	log_stream_serve(&agent->log, log_fd->revents, now); /* connect, ACKs */
	process_table_poll(&agent->procs, now);              /* output into the log, exits */
	service_poll(&agent->service, now);                  /* parked calls: events, deadlines */
	stats_publish(agent);                                /* before the answers leave */
	log_stream_flush(&agent->log, now);                  /* records out */
	for (unsigned round = 0; ttrpc_flush(&agent->ttrpc); round++) { /* answers out */
		if (round == FLUSH_ROUNDS) {
			agent->again = true;
			break;
		}
		service_poll(&agent->service, now); /* reads that waited for room */
	}
	stats_publish(agent);
	if (agent->ttrpc.power_off_due && agent->opts.power_off) {
		platform_sleep_ns(POWER_OFF_DELAY_NS);
		agent->opts.power_off();
	}
	agent->ttrpc.power_off_due = false;
}

/* agent_stop: every program is killed and waited for, then all is closed. */
static void agent_shutdown(struct agent *agent)
{
	agent->log.stopping = true; /* output never waits for the log now */
	process_kill_all(&agent->procs);
	while (agent->procs.ntasks) {
		vsock_poll_wakeup(NULL, 0, PLATFORM_FOREVER, &agent->wakeup);
		process_table_poll(&agent->procs, platform_now_ns());
	}
	ttrpc_server_close(&agent->ttrpc);
	service_free(&agent->service);
	process_table_free(&agent->procs);
	log_stream_stop(&agent->log);
	stats_publish(agent);
}

static void agent_task(void *arg)
{
	struct agent *agent = arg;

	while (!__atomic_load_n(&agent->stop, __ATOMIC_SEQ_CST))
		agent_step(agent);
	agent_shutdown(agent);
}

/* The agent task is over (platform lock held). */
static void agent_task_over(void *arg, bool killed)
{
	struct agent *agent = arg;

	agent->task_over = true;
	platform_wake(&agent->over_wq);
}

/* ---- start and stop ---- */

int agent_start(struct vsock_core *core, const struct agent_options *opts, struct agent **out)
{
	struct agent *agent = calloc(1, sizeof(*agent));
	int err;

	if (!agent)
		return -ENOMEM;
	agent->opts = *opts;
	agent->core = core;
	if (!agent->opts.arch)
		agent->opts.arch = "unknown";
	if (!agent->opts.boot_id[0])
		snprintf(agent->opts.boot_id, sizeof(agent->opts.boot_id), "boot-%llx",
		         (unsigned long long)platform_now_ns());
	vsock_wakeup_init(&agent->wakeup, core);
	err = log_stream_init(&agent->log, &agent->opts, core);
	if (err < 0)
		goto err_free;
	agent_log(&agent->log, "info", "",
	          "agent %s starting: ttRPC on port %u, logs to "
	          "%llu:%u, boot_id %s",
	          AGENT_VERSION, agent->opts.server_port, (unsigned long long)agent->opts.log_cid,
	          agent->opts.log_port, agent->opts.boot_id);
	process_table_init(&agent->procs, &agent->opts, &agent->log, core, &agent->wakeup);
	service_init(&agent->service, &agent->opts, &agent->procs, &agent->log, ttrpc_respond,
	             &agent->ttrpc);
	err = -ENOMEM;
	agent->fds = calloc(agent->opts.max_conns + 2, sizeof(*agent->fds));
	if (!agent->fds)
		goto err_log;
	err = ttrpc_server_init(&agent->ttrpc, &agent->opts, core, &agent->service, &agent->log);
	if (err < 0)
		goto err_fds;
	stats_publish(agent);
	err = platform_task_spawn(&agent->task, "agent", agent_task, agent, AGENT_STACK,
	                          agent_task_over, agent);
	if (err < 0)
		goto err_ttrpc;
	log_printf("agent: %s serving ttRPC on vsock port %u (boot_id %s)\n", AGENT_VERSION,
	           agent->opts.server_port, agent->opts.boot_id);
	*out = agent;
	return 0;

err_ttrpc:
	ttrpc_server_close(&agent->ttrpc);
err_fds:
	free(agent->fds);
err_log:
	log_stream_free(&agent->log);
err_free:
	free(agent);
	return err;
}

void agent_stop(struct agent *agent)
{
	if (!agent)
		return;
	__atomic_store_n(&agent->stop, 1, __ATOMIC_SEQ_CST);
	vsock_wakeup_post(&agent->wakeup);
	platform_lock();
	while (!agent->task_over)
		platform_wait(&agent->over_wq, PLATFORM_FOREVER);
	platform_unlock();
	free(agent->fds);
	log_stream_free(&agent->log);
	free(agent);
}
