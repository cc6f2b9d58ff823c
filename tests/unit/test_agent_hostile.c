/*
 * test_agent_hostile.c -- the agent against hostile or broken peers
 * (issue 12): each test does what the attacker of one hole did and checks
 * that the agent holds.
 */
#include "tests/unit/agent_fixture.h"

#include <stdio.h>

#include "agent.pb.h"
#include "google/protobuf/empty.pb.h"
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

static __attribute__((unused)) uint32_t send_signal(struct tclient *c, const char *id, const char *exec_id, uint32_t sig)
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
