/*
 * test_agent_hostile.c -- the agent against hostile or broken peers
 * (issue 12): each test does what the attacker of one hole did and checks
 * that the agent holds.
 */
#include "tests/unit/agent_fixture.h"

#include <stdio.h>

#include "agent.pb.h"
#include "google/protobuf/empty.pb.h"
#include "agent/logstream.h"
#include "health.pb.h"

#define AGENT "grpc.AgentService"
enum { OK = 0, NOT_FOUND = 5, RESOURCE = 8, PRECONDITION = 9 };

static struct agent_fixture fx;

static uint32_t send_wait(struct tclient *c, const char *id)
{
	grpc_WaitProcessRequest req = grpc_WaitProcessRequest_init_zero;

	snprintf(req.container_id, sizeof(req.container_id), "%s", id);
	snprintf(req.exec_id, sizeof(req.exec_id), "%s", id);
	return tclient_send(c, AGENT, "WaitProcess", grpc_WaitProcessRequest_fields, &req, 0);
}

static uint32_t send_remove(struct tclient *c, const char *id)
{
	grpc_RemoveContainerRequest req = grpc_RemoveContainerRequest_init_zero;

	snprintf(req.container_id, sizeof(req.container_id), "%s", id);
	return tclient_send(c, AGENT, "RemoveContainer", grpc_RemoveContainerRequest_fields, &req,
			    0);
}

static uint32_t send_signal(struct tclient *c, const char *id, const char *exec_id, uint32_t sig)
{
	grpc_SignalProcessRequest req = grpc_SignalProcessRequest_init_zero;

	snprintf(req.container_id, sizeof(req.container_id), "%s", id);
	snprintf(req.exec_id, sizeof(req.exec_id), "%s", exec_id);
	req.signal = sig;
	return tclient_send(c, AGENT, "SignalProcess", grpc_SignalProcessRequest_fields, &req, 0);
}

/* The answer to `sid` (others on the way are skipped); its code. */
static int answer_of(struct tclient *c, uint32_t sid)
{
	int code;

	while (tclient_recv(c, &code, NULL, NULL) != sid)
		;
	return code;
}

static void wait_parked(unsigned n)
{
	uint64_t deadline = platform_now_ns() + 10 * SECOND_NS;
	struct agent_stats st;

	do {
		agent_get_stats(fx.agent, &st);
		if (st.parked == n)
			return;
		platform_sleep_ns(1000000);
	} while (platform_now_ns() < deadline);
	CHECK_EQ(st.parked, n);
}

/* ---- hole 12: RemoveContainer when every park slot is in use ---- */

TEST(remove_with_every_park_slot_in_use_does_not_wedge_the_container)
{
	struct agent_options opts;
	struct tclient *a, *b;
	uint32_t waits[2], sid;
	int status = -1;

	fixture_options(&opts);
	opts.max_inflight = 2;
	fixture_start(&fx, &opts);
	a = tclient_open(&fx);
	b = tclient_open(&fx);
	CHECK_EQ(agent_run(a, "full", (const char *[]){ "sleep", "100", NULL }), OK);
	/* every park slot of connection a taken */
	waits[0] = send_wait(a, "full");
	waits[1] = send_wait(a, "full");
	wait_parked(2);
	/* the remove cannot park: refused, and nothing changed */
	sid = send_remove(a, "full");
	CHECK_EQ(answer_of(a, sid), RESOURCE);
	CHECK(strstr(a->message, "max_inflight") != NULL);
	/* the container is not wedged: a remove from elsewhere kills and removes it */
	CHECK_EQ(agent_remove(b, "full"), OK);
	for (int i = 0; i < 2; i++) {
		int code;
		uint32_t got = tclient_recv(a, &code, NULL, NULL);

		CHECK(got == waits[0] || got == waits[1]);
		CHECK(code == OK || code == NOT_FOUND); /* exited (137) or removed */
	}
	CHECK_EQ(agent_wait(b, "full", NULL, &status), NOT_FOUND);
	wait_parked(0);
	tclient_close(a);
	tclient_close(b);
	fixture_stop(&fx);
}

/* ---- hole 8: SignalProcess on one connection, RemoveContainer on another ---- */

/*
 * The old agent served each connection in its own task: A's SignalProcess
 * (empty exec_id: every process) of a created, not started container held
 * the container across a yield while B's RemoveContainer freed it.  Now one
 * task owns all agent state and no handler keeps a pointer across a yield;
 * this interleaves the two (and a parked WaitProcess on A) in every order,
 * pipelined on both connections, under ASan.
 */
TEST(signal_and_remove_from_two_connections_interleaved)
{
	struct tclient *a, *b;
	struct agent_stats st;

	fixture_start(&fx, NULL);
	a = tclient_open(&fx);
	b = tclient_open(&fx);
	for (int round = 0; round < 40; round++) {
		const char *args[] = { round % 4 == 3 ? "sleep" : "echo", "100", NULL };
		char id[16];
		uint32_t sig_a, wait_a, rm_b, sig_b = 0;
		int code;

		snprintf(id, sizeof(id), "h8-%d", round);
		CHECK_EQ(agent_create(a, id, args), OK);
		if (round % 4 == 3)
			CHECK_EQ(agent_start_ctr(a, id), OK); /* some running, most only created */
		if (round & 1) {
			rm_b = send_remove(b, id);
			sig_a = send_signal(a, id, "", round % 3 == 0 ? 9 : 15);
			wait_a = send_wait(a, id);
		} else {
			sig_a = send_signal(a, id, "", round % 3 == 0 ? 9 : 15);
			wait_a = send_wait(a, id);
			rm_b = send_remove(b, id);
			sig_b = send_signal(b, id, id, 9);
		}
		code = answer_of(a, sig_a);
		CHECK(code == OK || code == NOT_FOUND);
		code = answer_of(a, wait_a);
		CHECK(code == OK || code == NOT_FOUND);
		CHECK_EQ(answer_of(b, rm_b), OK);
		if (sig_b) {
			code = answer_of(b, sig_b);
			CHECK(code == NOT_FOUND || code == PRECONDITION);
		}
		CHECK_EQ(agent_remove(a, id), NOT_FOUND);
	}
	wait_parked(0);
	agent_get_stats(fx.agent, &st);
	CHECK_EQ(st.containers, 0);
	CHECK_EQ(st.processes, 0);
	tclient_close(a);
	tclient_close(b);
	fixture_stop(&fx);
}

/* ---- hole 13: what a peer chooses reaches the console escaped, and rate-limited ---- */

TEST(peer_chosen_names_reach_the_console_escaped)
{
	struct agent_options opts;
	struct tclient *c;
	grpc_CheckRequest req = grpc_CheckRequest_init_zero;
	uint32_t sid;

	fixture_options(&opts);
	CHECK_EQ(agent_option_set(&opts, "agent.allowed_methods", "Check"), 0);
	fixture_start(&fx, &opts);
	c = tclient_open(&fx);
	sid = tclient_send(c, "grpc.\x1b]0;pwned\x07", "Get\x1b[2J\r\xff", grpc_CheckRequest_fields,
			   &req, 0);
	CHECK_EQ(answer_of(c, sid), 7); /* PERMISSION_DENIED */
	CHECK(strstr(harness_last_log, "policy denied") != NULL);
	CHECK(strstr(harness_last_log, "grpc.\\x1b]0;pwned\\x07/Get\\x1b[2J\\x0d\\xff") != NULL);
	for (const char *p = harness_last_log; *p; p++)
		CHECK((*p >= 0x20 && *p < 0x7f) || (*p == '\n' && p[1] == '\0'));
	tclient_close(c);
	fixture_stop(&fx);
}

TEST(what_a_peer_makes_the_agent_log_is_rate_limited)
{
	struct agent_stats before, after;
	struct tclient *c;
	unsigned logs;
	int code;

	fixture_start(&fx, NULL);
	c = tclient_open(&fx);
	agent_get_stats(fx.agent, &before);
	logs = harness_log_count;
	for (uint32_t i = 0; i < 300; i++)
		tclient_send_frame(c, 2 * i + 1, 3, "x", 1); /* data frames: each a warning */
	for (uint32_t i = 0; i < 300; i++)
		CHECK_EQ(tclient_recv(c, &code, NULL, NULL), 2 * i + 1);
	agent_get_stats(fx.agent, &after);
	CHECK_EQ(after.bad_frames - before.bad_frames, 300);
	/* one window, or two if the burst straddled a boundary */
	CHECK(after.log_next_seq - before.log_next_seq <= 2 * (LOG_LIMIT_BURST + 1));
	CHECK(harness_log_count - logs <= 2 * (LOG_LIMIT_BURST + 1));
	/* once the window is over, the agent says how many were not logged */
	logs = harness_log_count;
	platform_sleep_ns(LOG_LIMIT_WINDOW_NS + 100000000ull);
	tclient_send_frame(c, 1001, 3, "x", 1);
	CHECK_EQ(tclient_recv(c, &code, NULL, NULL), 1001);
	CHECK_EQ(harness_log_count - logs, 2); /* that, and the new warning */
	CHECK(strstr(harness_last_log, "stream 1001") != NULL);
	tclient_close(c);
	fixture_stop(&fx);
}
