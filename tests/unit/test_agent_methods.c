/*
 * test_agent_methods.c -- every grpc.Health / grpc.AgentService method of
 * the agent, success and failure paths, over the loopback transport.
 */
#include "tests/unit/agent_fixture.h"

#include <stdio.h>

#include "agent.pb.h"
#include "agent/service.h"
#include "agentext.pb.h"
#include "google/protobuf/empty.pb.h"
#include "health.pb.h"

#define AGENT "grpc.AgentService"

static struct agent_fixture fx;
static struct tclient *c;

static void setup(const struct agent_options *opts)
{
	fixture_start(&fx, opts);
	c = tclient_open(&fx);
}

/* Every test ends here: each call it made was answered exactly once and
 * nothing is left behind in the agent. */
static void teardown(void)
{
	struct agent_stats st;

	agent_get_stats(fx.agent, &st);
	CHECK_EQ(st.requests, (c->next_stream - 1) / 2); /* one answer per call */
	CHECK_EQ(st.parked, 0);
	CHECK_EQ(st.containers, 0);
	CHECK_EQ(st.processes, 0);
	CHECK_EQ(st.tasks, 1); /* the agent task: every program has ended */
	CHECK_EQ(st.conns, 1); /* this test's client */
	CHECK_EQ(st.denied, 0);
	CHECK_EQ(st.bad_frames, 0);
	tclient_close(c);
	fixture_stop(&fx);
}

TEST(health_check_and_version)
{
	grpc_CheckRequest req = grpc_CheckRequest_init_zero;
	grpc_HealthCheckResponse health;
	grpc_VersionCheckResponse version;

	setup(NULL);
	CHECK_EQ(tclient_call(c, "grpc.Health", "Check", grpc_CheckRequest_fields, &req,
	                      grpc_HealthCheckResponse_fields, &health),
	         GRPC_OK);
	CHECK_EQ(health.status, grpc_HealthCheckResponse_ServingStatus_SERVING);
	CHECK_EQ(tclient_call(c, "grpc.Health", "Version", grpc_CheckRequest_fields, &req,
	                      grpc_VersionCheckResponse_fields, &version),
	         GRPC_OK);
	CHECK(strcmp(version.agent_version, AGENT_VERSION) == 0);
	teardown();
}

TEST(guest_details_and_sandbox)
{
	grpc_GuestDetailsRequest req = { true, true };
	grpc_GuestDetailsResponse resp;
	grpc_CreateSandboxRequest sb = grpc_CreateSandboxRequest_init_zero;
	grpc_DestroySandboxRequest destroy = grpc_DestroySandboxRequest_init_zero;
	google_protobuf_Empty out;

	setup(NULL);
	CHECK_EQ(tclient_call(c, AGENT, "GetGuestDetails", grpc_GuestDetailsRequest_fields, &req,
	                      grpc_GuestDetailsResponse_fields, &resp),
	         GRPC_OK);
	CHECK(resp.has_agent_details);
	CHECK(strcmp(resp.agent_details.version, AGENT_VERSION) == 0);
	snprintf(sb.sandbox_id, sizeof(sb.sandbox_id), "sb1");
	CHECK_EQ(tclient_call(c, AGENT, "CreateSandbox", grpc_CreateSandboxRequest_fields, &sb,
	                      google_protobuf_Empty_fields, &out),
	         GRPC_OK);
	CHECK_EQ(tclient_call(c, AGENT, "CreateSandbox", grpc_CreateSandboxRequest_fields, &sb,
	                      google_protobuf_Empty_fields, &out),
	         GRPC_ALREADY_EXISTS);
	CHECK(strstr(c->message, "sb1") != NULL);
	/* DestroySandbox kills every program (no power_off in tests) */
	const char *spin[] = { "spin", NULL };
	CHECK_EQ(agent_run(c, "s", spin), GRPC_OK);
	CHECK_EQ(tclient_call(c, AGENT, "DestroySandbox", grpc_DestroySandboxRequest_fields,
	                      &destroy, google_protobuf_Empty_fields, &out),
	         GRPC_OK);
	int status = -1;
	CHECK_EQ(agent_wait(c, "s", NULL, &status), GRPC_OK);
	CHECK_EQ(status, 137);
	CHECK_EQ(agent_remove(c, "s"), GRPC_OK);
	teardown();
}

TEST(create_start_wait_remove)
{
	const char *args[] = { "echo", "hello", "world", NULL };
	char out[64];
	int status = -1;

	setup(NULL);
	CHECK_EQ(agent_create(c, "c1", args), GRPC_OK);
	CHECK_EQ(agent_create(c, "c1", args), GRPC_ALREADY_EXISTS);
	CHECK_EQ(agent_start_ctr(c, "c1"), GRPC_OK);
	CHECK_EQ(agent_start_ctr(c, "c1"), GRPC_FAILED_PRECONDITION);
	CHECK_EQ(agent_wait(c, "c1", NULL, &status), GRPC_OK);
	CHECK_EQ(status, 0);
	CHECK_EQ(agent_read_all(c, "c1", NULL, false, out, sizeof(out)), 12);
	CHECK(memcmp(out, "hello world\n", 12) == 0);
	CHECK_EQ(agent_read_all(c, "c1", NULL, true, out, sizeof(out)), 0);
	CHECK_EQ(agent_remove(c, "c1"), GRPC_OK);
	CHECK_EQ(agent_remove(c, "c1"), GRPC_NOT_FOUND);
	teardown();
}

TEST(create_refusals)
{
	const char *unknown[] = { "bash", NULL };
	const char *none[] = { NULL };
	const char *echo[] = { "echo", NULL };
	struct agent_options opts;

	fixture_options(&opts);
	opts.max_containers = 2;
	setup(&opts);
	CHECK_EQ(agent_create(c, "x", unknown), GRPC_NOT_FOUND);
	CHECK(strstr(c->message, "catalogue") != NULL);
	CHECK_EQ(agent_create(c, "x", none), GRPC_INVALID_ARGUMENT);
	CHECK_EQ(agent_create(c, "bad id!", echo), GRPC_INVALID_ARGUMENT);
	CHECK_EQ(agent_create(c, "", echo), GRPC_INVALID_ARGUMENT);
	CHECK_EQ(agent_create(c, "a", echo), GRPC_OK);
	CHECK_EQ(agent_create(c, "b", echo), GRPC_OK);
	CHECK_EQ(agent_create(c, "c", echo), GRPC_RESOURCE_EXHAUSTED);
	CHECK(strstr(c->message, "max_containers") != NULL);
	CHECK_EQ(agent_start_ctr(c, "nope"), GRPC_NOT_FOUND);
	CHECK_EQ(agent_remove(c, "a"), GRPC_OK); /* never started */
	CHECK_EQ(agent_remove(c, "b"), GRPC_OK);
	teardown();
}

static int exec_in(const char *id, const char *exec_id, const char *const *args)
{
	static grpc_ExecProcessRequest req;
	static struct tstrings argl, envl;
	google_protobuf_Empty out;

	memset(&req, 0, sizeof(req));
	snprintf(req.container_id, sizeof(req.container_id), "%s", id);
	snprintf(req.exec_id, sizeof(req.exec_id), "%s", exec_id);
	req.has_process = true;
	tprocess_set(&req.process, &argl, args, &envl, NULL);
	return tclient_call(c, AGENT, "ExecProcess", grpc_ExecProcessRequest_fields, &req,
	                    google_protobuf_Empty_fields, &out);
}

TEST(exec_process_and_signals)
{
	const char *sleep_args[] = { "sleep", "100", NULL };
	const char *echo[] = { "echo", "from", "exec", NULL };
	char out[64];
	int status = -1;

	setup(NULL);
	CHECK_EQ(exec_in("none", "e1", echo), GRPC_NOT_FOUND);
	CHECK_EQ(agent_create(c, "c2", sleep_args), GRPC_OK);
	CHECK_EQ(exec_in("c2", "e1", echo), GRPC_FAILED_PRECONDITION); /* not started */
	CHECK_EQ(agent_signal(c, "c2", "c2", 0), GRPC_OK); /* it exists; TERM would end it */
	CHECK_EQ(agent_start_ctr(c, "c2"), GRPC_OK);
	CHECK_EQ(exec_in("c2", "e1", echo), GRPC_OK);
	CHECK_EQ(exec_in("c2", "e1", echo), GRPC_ALREADY_EXISTS);
	CHECK_EQ(exec_in("c2", "", echo), GRPC_INVALID_ARGUMENT);
	CHECK_EQ(agent_wait(c, "c2", "e1", &status), GRPC_OK);
	CHECK_EQ(status, 0);
	CHECK_EQ(agent_read_all(c, "c2", "e1", false, out, sizeof(out)), 10);
	CHECK(memcmp(out, "from exec\n", 10) == 0);
	CHECK_EQ(agent_signal(c, "c2", "nope", 15), GRPC_NOT_FOUND);
	CHECK_EQ(agent_signal(c, "c2", "c2", 77), GRPC_INVALID_ARGUMENT);
	CHECK_EQ(agent_signal(c, "c2", "c2", 0), GRPC_OK);
	CHECK_EQ(agent_signal(c, "c2", "c2", 15), GRPC_OK); /* sleep sees TERM */
	CHECK_EQ(agent_wait(c, "c2", NULL, &status), GRPC_OK);
	CHECK_EQ(status, 143);
	CHECK_EQ(agent_remove(c, "c2"), GRPC_OK);
	teardown();
}

TEST(kill_ends_spin_and_remove_kills)
{
	const char *spin[] = { "spin", NULL };
	int status = -1;

	setup(NULL);
	CHECK_EQ(agent_run(c, "k1", spin), GRPC_OK);
	CHECK_EQ(agent_signal(c, "k1", "k1", 9), GRPC_OK);
	CHECK_EQ(agent_wait(c, "k1", NULL, &status), GRPC_OK);
	CHECK_EQ(status, 137);
	CHECK_EQ(agent_run(c, "k2", spin), GRPC_OK);
	CHECK_EQ(agent_remove(c, "k2"), GRPC_OK); /* kills, waits, removes */
	CHECK_EQ(agent_wait(c, "k2", NULL, &status), GRPC_NOT_FOUND);
	CHECK_EQ(agent_remove(c, "k1"), GRPC_OK);
	teardown();
}

TEST(stdin_write_close_and_refusals)
{
	const char *cat[] = { "cat", NULL };
	char out[64];
	int status;

	setup(NULL);
	CHECK_EQ(agent_write(c, "nope", NULL, "x", 1), GRPC_NOT_FOUND);
	CHECK_EQ(agent_close_stdin(c, "nope", NULL), GRPC_NOT_FOUND);
	CHECK_EQ(agent_run(c, "cat1", cat), GRPC_OK);
	CHECK_EQ(agent_write(c, "cat1", NULL, "abc\n", 4), GRPC_OK);
	CHECK_EQ(agent_close_stdin(c, "cat1", NULL), GRPC_OK);
	CHECK_EQ(agent_write(c, "cat1", NULL, "more", 4), GRPC_FAILED_PRECONDITION);
	CHECK_EQ(agent_wait(c, "cat1", NULL, &status), GRPC_OK);
	CHECK_EQ(status, 0);
	CHECK_EQ(agent_read_all(c, "cat1", NULL, false, out, sizeof(out)), 4);
	CHECK(memcmp(out, "abc\n", 4) == 0);
	CHECK_EQ(agent_read_all(c, "cat1", "other", false, out, sizeof(out)), -1);
	CHECK_EQ(agent_remove(c, "cat1"), GRPC_OK);
	teardown();
}

TEST(wait_parks_and_answers_out_of_order)
{
	const char *sleep_args[] = { "sleep", "0.3", NULL };
	grpc_WaitProcessRequest wreq = grpc_WaitProcessRequest_init_zero;
	grpc_CheckRequest hreq = grpc_CheckRequest_init_zero;
	grpc_WaitProcessResponse wresp;
	grpc_HealthCheckResponse hresp;
	uint32_t wait_sid, check_sid;
	int code;

	setup(NULL);
	CHECK_EQ(agent_run(c, "w1", sleep_args), GRPC_OK);
	snprintf(wreq.container_id, sizeof(wreq.container_id), "w1");
	snprintf(wreq.exec_id, sizeof(wreq.exec_id), "w1");
	wait_sid = tclient_send(c, AGENT, "WaitProcess", grpc_WaitProcessRequest_fields, &wreq, 0);
	check_sid = tclient_send(c, "grpc.Health", "Check", grpc_CheckRequest_fields, &hreq, 0);
	/* the Check behind the parked Wait comes back first */
	CHECK_EQ(tclient_recv(c, &code, grpc_HealthCheckResponse_fields, &hresp), check_sid);
	CHECK_EQ(code, GRPC_OK);
	CHECK_EQ(tclient_recv(c, &code, grpc_WaitProcessResponse_fields, &wresp), wait_sid);
	CHECK_EQ(code, GRPC_OK);
	CHECK_EQ(wresp.status, 0);
	CHECK_EQ(agent_remove(c, "w1"), GRPC_OK);
	teardown();
}

TEST(timeout_nano_gives_deadline_exceeded)
{
	const char *sleep_args[] = { "sleep", "100", NULL };
	grpc_WaitProcessRequest wreq = grpc_WaitProcessRequest_init_zero;
	grpc_WaitProcessResponse wresp;
	uint64_t t0;

	setup(NULL);
	CHECK_EQ(agent_run(c, "t1", sleep_args), GRPC_OK);
	snprintf(wreq.container_id, sizeof(wreq.container_id), "t1");
	t0 = platform_now_ns();
	CHECK_EQ(tclient_call_timeout(c, AGENT, "WaitProcess", grpc_WaitProcessRequest_fields,
	                              &wreq, grpc_WaitProcessResponse_fields, &wresp, 100000000),
	         GRPC_DEADLINE_EXCEEDED);
	CHECK(platform_now_ns() - t0 >= 100000000ull);
	CHECK(platform_now_ns() - t0 < 5 * SECOND_NS);
	CHECK_EQ(agent_remove(c, "t1"), GRPC_OK);
	teardown();
}

TEST(read_long_polls_until_output)
{
	const char *cat[] = { "cat", NULL };
	grpc_ReadStreamRequest req = grpc_ReadStreamRequest_init_zero;
	static grpc_ReadStreamResponse resp;
	uint32_t sid;
	int code;

	setup(NULL);
	CHECK_EQ(agent_run(c, "r1", cat), GRPC_OK);
	snprintf(req.container_id, sizeof(req.container_id), "r1");
	snprintf(req.exec_id, sizeof(req.exec_id), "r1");
	req.len = 100;
	sid = tclient_send(c, AGENT, "ReadStdout", grpc_ReadStreamRequest_fields, &req, 0);
	CHECK_EQ(agent_write(c, "r1", NULL, "ping\n", 5), GRPC_OK); /* answered before the read */
	CHECK_EQ(tclient_recv(c, &code, grpc_ReadStreamResponse_fields, &resp), sid);
	CHECK_EQ(code, GRPC_OK);
	CHECK_EQ(resp.data.size, 5);
	CHECK(memcmp(resp.data.bytes, "ping\n", 5) == 0);
	CHECK_EQ(agent_remove(c, "r1"), GRPC_OK);
	teardown();
}

TEST(list_containers_extension)
{
	const char *echo[] = { "echo", NULL };
	vsockagent_ListContainersRequest req = vsockagent_ListContainersRequest_init_zero;
	static vsockagent_ListContainersResponse resp;
	int status;

	setup(NULL);
	CHECK_EQ(agent_create(c, "l1", echo), GRPC_OK);
	CHECK_EQ(agent_run(c, "l2", echo), GRPC_OK);
	CHECK_EQ(agent_wait(c, "l2", NULL, &status), GRPC_OK);
	CHECK_EQ(tclient_call(c, "vsockagent.Extras", "ListContainers",
	                      vsockagent_ListContainersRequest_fields, &req,
	                      vsockagent_ListContainersResponse_fields, &resp),
	         GRPC_OK);
	CHECK_EQ(resp.processes_count, 2);
	CHECK_EQ(agent_remove(c, "l1"), GRPC_OK);
	CHECK_EQ(agent_remove(c, "l2"), GRPC_OK);
	teardown();
}

TEST(unknown_method_is_unimplemented)
{
	grpc_CheckRequest req = grpc_CheckRequest_init_zero;

	setup(NULL);
	CHECK_EQ(tclient_call(c, AGENT, "GetMetrics", grpc_CheckRequest_fields, &req, NULL, NULL),
	         GRPC_UNIMPLEMENTED);
	CHECK_EQ(tclient_call(c, AGENT, "NoSuchMethod", grpc_CheckRequest_fields, &req, NULL, NULL),
	         GRPC_UNIMPLEMENTED);
	CHECK_EQ(tclient_call(c, "grpc.Nope", "Check", grpc_CheckRequest_fields, &req, NULL, NULL),
	         GRPC_UNIMPLEMENTED);
	teardown();
}
