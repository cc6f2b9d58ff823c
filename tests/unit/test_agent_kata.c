/*
 * test_agent_kata.c -- what Kata's runtimes need of the agent (issue 13),
 * over the loopback transport: the calls that have nothing to do here,
 * SetPolicy, GetOOMEvent, the end of a stream, whole-buffer WriteStdin,
 * exec processes freed after WaitProcess, signals, paths in Args[0], and
 * the limits of a request.
 */
#include "tests/unit/agent_fixture.h"

#include <stdio.h>
#include <stdlib.h>

#include "agent.pb.h"
#include "agent/service.h"
#include "agentext.pb.h"
#include "agent/sha256.h"
#include "google/protobuf/empty.pb.h"
#include "types.pb.h"

#define AGENT "grpc.AgentService"

static struct agent_fixture fx;
static struct tclient *c;

static void setup(const struct agent_options *opts)
{
	fixture_start(&fx, opts);
	c = tclient_open(&fx);
}

/* The log stream, for the records a test looks for. */
static struct vsock_sock *log_lsn, *log_conn;
static char log_buf[1 << 16];
static size_t log_used;

static void setup_with_logs(void)
{
	struct agent_options opts;

	fixture_options(&opts);
	opts.log_port = LOG_PORT;
	setup(&opts);
	log_used = 0;
	log_lsn = listen_on(fx.pair.host, LOG_PORT, 4);
	vsock_setopt(log_lsn, VSOCK_OPT_RCVTIMEO_NS, 10 * SECOND_NS);
	CHECK_EQ(vsock_accept(log_lsn, &log_conn, NULL, 0), 0);
	vsock_setopt(log_conn, VSOCK_OPT_RCVTIMEO_NS, 10 * SECOND_NS);
}

/* Read records until one has `text` (the agent's records come in order). */
static void expect_record(const char *text)
{
	for (;;) {
		char *nl = memchr(log_buf, '\n', log_used);

		if (nl) {
			bool found;

			*nl = '\0';
			found = strstr(log_buf, text) != NULL;
			log_used -= (size_t)(nl + 1 - log_buf);
			memmove(log_buf, nl + 1, log_used);
			if (found)
				return;
			continue;
		}
		ssize_t got =
		        vsock_recv(log_conn, log_buf + log_used, sizeof(log_buf) - log_used, 0);

		CHECK(got > 0);
		log_used += (size_t)got;
	}
}

static void close_logs(void)
{
	if (!log_lsn)
		return;
	vsock_close(log_conn);
	vsock_close(log_lsn);
	log_conn = log_lsn = NULL;
}

/* Nothing is left behind: no park, container, process or task. */
static void teardown(void)
{
	struct agent_stats st;

	agent_get_stats(fx.agent, &st);
	CHECK_EQ(st.parked, 0);
	CHECK_EQ(st.containers, 0);
	CHECK_EQ(st.processes, 0);
	CHECK_EQ(st.tasks, 1);
	tclient_close(c);
	close_logs();
	fixture_stop(&fx);
}

static int signal_of(const char *id, const char *exec_id, uint32_t sig)
{
	grpc_SignalProcessRequest req = grpc_SignalProcessRequest_init_zero;
	google_protobuf_Empty out;

	snprintf(req.container_id, sizeof(req.container_id), "%s", id);
	snprintf(req.exec_id, sizeof(req.exec_id), "%s", exec_id);
	req.signal = sig;
	return tclient_call(c, AGENT, "SignalProcess", grpc_SignalProcessRequest_fields, &req,
	                    google_protobuf_Empty_fields, &out);
}

static int exec_in(const char *id, const char *exec_id, const char *const *args,
                   const char *const *env)
{
	static grpc_ExecProcessRequest req;
	static struct tstrings argl, envl;
	google_protobuf_Empty out;

	memset(&req, 0, sizeof(req));
	snprintf(req.container_id, sizeof(req.container_id), "%s", id);
	snprintf(req.exec_id, sizeof(req.exec_id), "%s", exec_id);
	req.has_process = true;
	tprocess_set(&req.process, &argl, args, &envl, env);
	return tclient_call(c, AGENT, "ExecProcess", grpc_ExecProcessRequest_fields, &req,
	                    google_protobuf_Empty_fields, &out);
}

static int remove_ctr(const char *id)
{
	grpc_RemoveContainerRequest req = grpc_RemoveContainerRequest_init_zero;
	google_protobuf_Empty out;

	snprintf(req.container_id, sizeof(req.container_id), "%s", id);
	return tclient_call(c, AGENT, "RemoveContainer", grpc_RemoveContainerRequest_fields, &req,
	                    google_protobuf_Empty_fields, &out);
}

/* ---- calls with nothing to do here ---- */

struct encoded {
	const uint8_t *bytes; /* a request's payload, encoded by hand */
	size_t len;
};

/* RawMessage.encoded: the bytes as they are (agentext.proto). */
static bool encode_raw(pb_ostream_t *s, const pb_field_t *f, void *const *arg)
{
	const struct encoded *e = *arg;

	(void)f;
	return pb_write(s, e->bytes, e->len);
}

/* A call whose request payload is `bytes`; the answer's is in c->payload. */
static int call_raw(const char *method, const uint8_t *bytes, size_t len)
{
	struct encoded e = { bytes, len };
	vsockagent_RawMessage raw = { { { .encode = encode_raw }, &e } };

	return tclient_call(c, AGENT, method, vsockagent_RawMessage_fields, &raw, NULL, NULL);
}

TEST(calls_with_nothing_to_do_answer_ok_and_are_logged)
{
	grpc_OnlineCPUMemRequest online = { true, 2, false };
	grpc_UpdateEphemeralMountsRequest eph = grpc_UpdateEphemeralMountsRequest_init_zero;
	grpc_RemoveStaleVirtiofsShareMountsRequest stale =
	        grpc_RemoveStaleVirtiofsShareMountsRequest_init_zero;
	grpc_AddARPNeighborsRequest arp = grpc_AddARPNeighborsRequest_init_zero;
	grpc_ListInterfacesRequest li = grpc_ListInterfacesRequest_init_zero;
	grpc_ListRoutesRequest lr = grpc_ListRoutesRequest_init_zero;
	grpc_Interfaces ifs;
	grpc_Routes routes;
	google_protobuf_Empty out;

	setup_with_logs();
	CHECK_EQ(tclient_call(c, AGENT, "OnlineCPUMem", grpc_OnlineCPUMemRequest_fields, &online,
	                      google_protobuf_Empty_fields, &out),
	         GRPC_OK);
	expect_record("OnlineCPUMem accepted and ignored");
	CHECK_EQ(tclient_call(c, AGENT, "UpdateEphemeralMounts",
	                      grpc_UpdateEphemeralMountsRequest_fields, &eph,
	                      google_protobuf_Empty_fields, &out),
	         GRPC_OK);
	expect_record("UpdateEphemeralMounts accepted and ignored");
	CHECK_EQ(tclient_call(c, AGENT, "RemoveStaleVirtiofsShareMounts",
	                      grpc_RemoveStaleVirtiofsShareMountsRequest_fields, &stale,
	                      google_protobuf_Empty_fields, &out),
	         GRPC_OK);
	CHECK_EQ(tclient_call(c, AGENT, "AddARPNeighbors", grpc_AddARPNeighborsRequest_fields, &arp,
	                      google_protobuf_Empty_fields, &out),
	         GRPC_OK);
	CHECK_EQ(tclient_call(c, AGENT, "ListInterfaces", grpc_ListInterfacesRequest_fields, &li,
	                      grpc_Interfaces_fields, &ifs),
	         GRPC_OK);
	CHECK_EQ(tclient_call(c, AGENT, "ListRoutes", grpc_ListRoutesRequest_fields, &lr,
	                      grpc_Routes_fields, &routes),
	         GRPC_OK);
	expect_record("ListRoutes accepted and ignored");
	teardown();
}

/* UpdateInterface answers the interface it was given, byte for byte
 * (its types.Interface arrives as an encoded message here). */
TEST(update_interface_and_routes_echo_the_request)
{
	/* types.Interface{device="eth0", name="eth0", mtu=1500, hwAddr=...}, by hand */
	static const uint8_t iface[] = { 0x0a, 4,   'e', 't',  'h',  '0',  0x12, 4,   'e',
		                         't',  'h', '0', 0x20, 0xdc, 0x0b, 0x2a, 17,  '0',
		                         '2',  ':', '4', '2',  ':',  'a',  'c',  ':', '1',
		                         '1',  ':', '0', '0',  ':',  '0',  '2' };
	/* Routes{Routes=[{dest="10.0.0.0/24", device="eth0"}]} */
	static const uint8_t routes[] = { 0x0a, 19,  0x0a, 11,  '1',  '0', '.', '0', '.', '0', '.',
		                          '0',  '/', '2',  '4', 0x1a, 4,   'e', 't', 'h', '0' };
	uint8_t req[256];

	setup(NULL);
	/* UpdateInterfaceRequest{interface = 1: the bytes above} */
	req[0] = 0x0a;
	req[1] = sizeof(iface);
	memcpy(req + 2, iface, sizeof(iface));
	CHECK_EQ(call_raw("UpdateInterface", req, 2 + sizeof(iface)), GRPC_OK);
	CHECK_EQ(c->payload_len, sizeof(iface));
	CHECK(memcmp(c->payload, iface, sizeof(iface)) == 0);
	req[1] = sizeof(routes);
	memcpy(req + 2, routes, sizeof(routes));
	CHECK_EQ(call_raw("UpdateRoutes", req, 2 + sizeof(routes)), GRPC_OK);
	CHECK_EQ(c->payload_len, sizeof(routes));
	CHECK(memcmp(c->payload, routes, sizeof(routes)) == 0);
	/* no interface at all: an empty one */
	CHECK_EQ(call_raw("UpdateInterface", req, 0), GRPC_OK);
	CHECK_EQ(c->payload_len, 0);
	teardown();
}

TEST(tty_pause_resume_update_and_stats_need_a_container)
{
	const char *sleep_args[] = { "sleep", "100", NULL };
	grpc_TtyWinResizeRequest tty = { "t1", "", 24, 80 };
	grpc_PauseContainerRequest pause = { "t1" };
	grpc_ResumeContainerRequest resume = { "t1" };
	grpc_UpdateContainerRequest update = grpc_UpdateContainerRequest_init_zero;
	grpc_StatsContainerRequest stats = { "t1" };
	grpc_StatsContainerResponse st;
	google_protobuf_Empty out;
	int status = -1;

	setup(NULL);
	CHECK_EQ(tclient_call(c, AGENT, "TtyWinResize", grpc_TtyWinResizeRequest_fields, &tty,
	                      google_protobuf_Empty_fields, &out),
	         GRPC_NOT_FOUND);
	CHECK_EQ(agent_run(c, "t1", sleep_args), GRPC_OK);
	CHECK_EQ(tclient_call(c, AGENT, "TtyWinResize", grpc_TtyWinResizeRequest_fields, &tty,
	                      google_protobuf_Empty_fields, &out),
	         GRPC_OK);
	CHECK_EQ(tclient_call(c, AGENT, "PauseContainer", grpc_PauseContainerRequest_fields, &pause,
	                      google_protobuf_Empty_fields, &out),
	         GRPC_OK);
	CHECK_EQ(tclient_call(c, AGENT, "ResumeContainer", grpc_ResumeContainerRequest_fields,
	                      &resume, google_protobuf_Empty_fields, &out),
	         GRPC_OK);
	snprintf(update.container_id, sizeof(update.container_id), "t1");
	update.has_resources = true;
	update.resources.has_Memory = true;
	update.resources.Memory.Limit = 64 << 20;
	CHECK_EQ(tclient_call(c, AGENT, "UpdateContainer", grpc_UpdateContainerRequest_fields,
	                      &update, google_protobuf_Empty_fields, &out),
	         GRPC_OK);
	CHECK_EQ(tclient_call(c, AGENT, "StatsContainer", grpc_StatsContainerRequest_fields, &stats,
	                      grpc_StatsContainerResponse_fields, &st),
	         GRPC_OK);
	CHECK(st.has_cgroup_stats && st.cgroup_stats.has_pids_stats);
	CHECK_EQ(st.cgroup_stats.pids_stats.current, 1);
	CHECK_EQ(st.cgroup_stats.memory_stats.usage.limit, 64 << 20);
	CHECK(st.cgroup_stats.memory_stats.usage.usage > 0); /* its stack at least */
	CHECK_EQ(signal_of("t1", "", 9), GRPC_OK);
	CHECK_EQ(agent_wait(c, "t1", NULL, &status), GRPC_OK);
	CHECK_EQ(status, 137);
	CHECK_EQ(tclient_call(c, AGENT, "StatsContainer", grpc_StatsContainerRequest_fields, &stats,
	                      grpc_StatsContainerResponse_fields, &st),
	         GRPC_OK);
	CHECK_EQ(st.cgroup_stats.pids_stats.current, 0);
	CHECK_EQ(remove_ctr("t1"), GRPC_OK);
	teardown();
}

/* ---- SetPolicy, and the order of refusals ---- */

static const char *policy_text;

static bool encode_policy(pb_ostream_t *s, const pb_field_t *f, void *const *arg)
{
	(void)arg;
	return pb_encode_tag_for_field(s, f) &&
	       pb_encode_string(s, (const pb_byte_t *)policy_text, strlen(policy_text));
}

TEST(set_policy_refuses_what_it_can_read)
{
	const char *echo[] = { "echo", "hi", NULL };
	grpc_SetPolicyRequest req = { { { .encode = encode_policy }, NULL } };
	grpc_GuestDetailsRequest gd = grpc_GuestDetailsRequest_init_zero;
	grpc_GuestDetailsResponse details;
	google_protobuf_Empty out;
	int status;

	setup_with_logs();
	policy_text = "package agent_policy\n"
	              "default CreateContainerRequest := false\n"
	              "default ExecProcessRequest := false\n"
	              "default GuestDetailsRequest := true\n"
	              "default SetPolicyRequest := false\n"
	              "CreateContainerRequest if {\n"
	              "\tinput.OCI.Version == \"1.1.0\"\n"
	              "}\n";
	CHECK_EQ(tclient_call(c, AGENT, "SetPolicy", grpc_SetPolicyRequest_fields, &req,
	                      google_protobuf_Empty_fields, &out),
	         GRPC_OK);
	expect_record("refused outright: ExecProcess,SetPolicy; 1 rules with conditions");
	/* CreateContainer has a rule with conditions: not evaluated, allowed */
	CHECK_EQ(agent_run(c, "p1", echo), GRPC_OK);
	CHECK_EQ(exec_in("p1", "e1", echo, NULL), GRPC_PERMISSION_DENIED);
	CHECK(strstr(c->message, "refused by the policy") != NULL);
	CHECK_EQ(tclient_call(c, AGENT, "GuestDetails", grpc_GuestDetailsRequest_fields, &gd,
	                      grpc_GuestDetailsResponse_fields, &details),
	         GRPC_UNIMPLEMENTED);
	CHECK_EQ(tclient_call(c, AGENT, "GetGuestDetails", grpc_GuestDetailsRequest_fields, &gd,
	                      grpc_GuestDetailsResponse_fields, &details),
	         GRPC_OK);
	/* the policy keeps itself: a second SetPolicy is refused */
	CHECK_EQ(tclient_call(c, AGENT, "SetPolicy", grpc_SetPolicyRequest_fields, &req,
	                      google_protobuf_Empty_fields, &out),
	         GRPC_PERMISSION_DENIED);
	CHECK_EQ(agent_wait(c, "p1", NULL, &status), GRPC_OK);
	CHECK_EQ(remove_ctr("p1"), GRPC_OK);
	teardown();
}

TEST(unknown_method_is_unimplemented_before_the_allowed_methods)
{
	struct agent_options opts;
	grpc_GetOOMEventRequest req = grpc_GetOOMEventRequest_init_zero;
	grpc_OOMEvent ev;

	fixture_options(&opts);
	CHECK_EQ(agent_option_set(&opts, "agent.allowed_methods", "Check,CreateContainer"), 0);
	setup(&opts);
	CHECK_EQ(tclient_call(c, AGENT, "GetMetrics", grpc_GetOOMEventRequest_fields, &req, NULL,
	                      NULL),
	         GRPC_UNIMPLEMENTED);
	CHECK_EQ(tclient_call(c, AGENT, "GetOOMEvent", grpc_GetOOMEventRequest_fields, &req,
	                      grpc_OOMEvent_fields, &ev),
	         GRPC_PERMISSION_DENIED);
	teardown();
}

/* ---- GetOOMEvent ---- */

TEST(get_oom_event_waits_for_teardown_or_its_deadline)
{
	grpc_GetOOMEventRequest req = grpc_GetOOMEventRequest_init_zero;
	grpc_DestroySandboxRequest destroy = grpc_DestroySandboxRequest_init_zero;
	google_protobuf_Empty out;
	grpc_OOMEvent ev;
	struct agent_stats st;
	uint32_t sid1, sid2, sid;
	int code;

	setup(NULL);
	CHECK_EQ(tclient_call_timeout(c, AGENT, "GetOOMEvent", grpc_GetOOMEventRequest_fields, &req,
	                              grpc_OOMEvent_fields, &ev, 20000000),
	         GRPC_DEADLINE_EXCEEDED);
	sid1 = tclient_send(c, AGENT, "GetOOMEvent", grpc_GetOOMEventRequest_fields, &req, 0);
	sid2 = tclient_send(c, AGENT, "GetOOMEvent", grpc_GetOOMEventRequest_fields, &req, 0);
	do
		agent_get_stats(fx.agent, &st);
	while (st.parked < 2 && platform_sleep_ns(1000000) == 0);
	CHECK_EQ(st.parked, 2); /* polled concurrently: both wait */
	sid = tclient_send(c, AGENT, "DestroySandbox", grpc_DestroySandboxRequest_fields, &destroy,
	                   0);
	CHECK_EQ(tclient_recv(c, &code, NULL, NULL), sid1);
	CHECK_EQ(code, GRPC_CANCELLED);
	CHECK_EQ(tclient_recv(c, &code, NULL, NULL), sid2);
	CHECK_EQ(code, GRPC_CANCELLED);
	CHECK_EQ(tclient_recv(c, &code, google_protobuf_Empty_fields, &out), sid);
	CHECK_EQ(code, GRPC_OK);
	teardown();
}

/* ---- streams ---- */

TEST(end_of_output_is_kata_s_read_meet_eof)
{
	const char *echo[] = { "/bin/echo", "done", NULL };
	grpc_ReadStreamRequest req = { "r1", "r1", 32768 };
	static grpc_ReadStreamResponse resp;
	int status;

	setup(NULL);
	CHECK_EQ(agent_run(c, "r1", echo), GRPC_OK); /* a path: the catalogue's echo */
	CHECK_EQ(agent_wait(c, "r1", NULL, &status), GRPC_OK);
	CHECK_EQ(tclient_call(c, AGENT, "ReadStdout", grpc_ReadStreamRequest_fields, &req,
	                      grpc_ReadStreamResponse_fields, &resp),
	         GRPC_OK);
	CHECK_EQ(resp.data.size, 5);
	for (int i = 0; i < 2; i++) { /* and again: the end stays the end */
		CHECK_EQ(tclient_call(c, AGENT, "ReadStdout", grpc_ReadStreamRequest_fields, &req,
		                      grpc_ReadStreamResponse_fields, &resp),
		         GRPC_INTERNAL);
		CHECK(strcmp(c->message, "read meet eof") == 0);
	}
	CHECK_EQ(tclient_call(c, AGENT, "ReadStderr", grpc_ReadStreamRequest_fields, &req,
	                      grpc_ReadStreamResponse_fields, &resp),
	         GRPC_INTERNAL);
	CHECK_EQ(remove_ctr("r1"), GRPC_OK);
	teardown();
}

/* 256 KiB in 32 KiB writes into sha256sum: every write takes all of its
 * bytes (cat's pipe holds 32 KiB), then an empty write ends stdin. */
TEST(write_stdin_takes_the_whole_buffer_and_empty_data_closes)
{
	const char *sum[] = { "sha256sum", NULL };
	static uint8_t data[256 << 10];
	static grpc_WriteStreamRequest req;
	grpc_WriteStreamResponse resp;
	struct sha256 h;
	uint8_t digest[32];
	char want[65], out[128];
	int status = -1;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + i / 1000);
	sha256_init(&h);
	sha256_update(&h, data, sizeof(data));
	sha256_final(&h, digest);
	for (int i = 0; i < 32; i++)
		snprintf(want + 2 * i, 3, "%02x", digest[i]);
	setup(NULL);
	CHECK_EQ(agent_run(c, "w1", sum), GRPC_OK);
	snprintf(req.container_id, sizeof(req.container_id), "w1");
	for (size_t off = 0; off < sizeof(data); off += 32768) {
		memcpy(req.data.bytes, data + off, 32768);
		req.data.size = 32768;
		CHECK_EQ(tclient_call(c, AGENT, "WriteStdin", grpc_WriteStreamRequest_fields, &req,
		                      grpc_WriteStreamResponse_fields, &resp),
		         GRPC_OK);
		CHECK_EQ(resp.len, 32768);
	}
	req.data.size = 0;
	CHECK_EQ(tclient_call(c, AGENT, "WriteStdin", grpc_WriteStreamRequest_fields, &req,
	                      grpc_WriteStreamResponse_fields, &resp),
	         GRPC_OK);
	CHECK_EQ(resp.len, 0);
	CHECK_EQ(agent_wait(c, "w1", NULL, &status), GRPC_OK);
	CHECK_EQ(status, 0);
	CHECK(agent_read_all(c, "w1", NULL, false, out, sizeof(out)) >= 64);
	CHECK(memcmp(out, want, 64) == 0);
	CHECK_EQ(remove_ctr("w1"), GRPC_OK);
	teardown();
}

/* ---- processes ---- */

TEST(twenty_execs_in_one_container_are_freed_after_wait)
{
	const char *pause_args[] = { "/pause", NULL };
	const char *echo[] = { "/usr/bin/echo", "exec", NULL };
	char exec_id[48], out[32];
	struct agent_stats st;
	int status;

	setup(NULL); /* agent.max_procs is 8, init included */
	CHECK_EQ(agent_run(c, "x1", pause_args), GRPC_OK);
	for (int i = 0; i < 20; i++) {
		snprintf(exec_id, sizeof(exec_id), "%08x-0000-4000-8000-%012d", i, i);
		CHECK_EQ(exec_in("x1", exec_id, echo, NULL), GRPC_OK);
		CHECK_EQ(agent_read_all(c, "x1", exec_id, false, out, sizeof(out)), 5);
		CHECK_EQ(agent_read_all(c, "x1", exec_id, true, out, sizeof(out)), 0);
		CHECK_EQ(agent_wait(c, "x1", exec_id, &status), GRPC_OK);
		CHECK_EQ(status, 0);
	}
	agent_get_stats(fx.agent, &st);
	CHECK_EQ(st.processes, 1); /* the execs are gone: only pause */
	CHECK_EQ(agent_wait(c, "x1", exec_id, &status), GRPC_NOT_FOUND);
	/* wait first, read after: the output stays until read */
	CHECK_EQ(exec_in("x1", "late", echo, NULL), GRPC_OK);
	CHECK_EQ(agent_wait(c, "x1", "late", &status), GRPC_OK);
	CHECK_EQ(agent_read_all(c, "x1", "late", false, out, sizeof(out)), 5);
	CHECK_EQ(signal_of("x1", "", 15), GRPC_OK); /* pause ends on TERM */
	CHECK_EQ(agent_wait(c, "x1", NULL, &status), GRPC_OK);
	CHECK_EQ(status, 143);
	CHECK_EQ(remove_ctr("x1"), GRPC_OK);
	teardown();
}

TEST(sigkill_to_a_created_container_ends_it_with_137)
{
	const char *pause_args[] = { "pause", NULL };
	grpc_StartContainerRequest start = { "k1" };
	google_protobuf_Empty out;
	int status = -1;

	setup(NULL);
	CHECK_EQ(agent_create(c, "k1", pause_args), GRPC_OK);
	CHECK_EQ(signal_of("k1", "", 9), GRPC_OK);
	CHECK_EQ(agent_wait(c, "k1", NULL, &status), GRPC_OK);
	CHECK_EQ(status, 137);
	CHECK_EQ(tclient_call(c, AGENT, "StartContainer", grpc_StartContainerRequest_fields, &start,
	                      google_protobuf_Empty_fields, &out),
	         GRPC_FAILED_PRECONDITION);
	CHECK_EQ(remove_ctr("k1"), GRPC_OK);
	teardown();
}

TEST(empty_exec_id_signals_init_only_except_sigkill)
{
	const char *pause_args[] = { "pause", NULL };
	struct agent_stats st;
	int status = -1;

	setup(NULL);
	CHECK_EQ(agent_run(c, "s1", pause_args), GRPC_OK);
	CHECK_EQ(exec_in("s1", "e1", pause_args, NULL), GRPC_OK);
	CHECK_EQ(exec_in("s1", "e2", pause_args, NULL), GRPC_OK);
	CHECK_EQ(signal_of("s1", "e1", 10), GRPC_OK); /* USR1: terminates by default */
	CHECK_EQ(agent_wait(c, "s1", "e1", &status), GRPC_OK);
	CHECK_EQ(status, 138);
	CHECK_EQ(signal_of("s1", "e2", 17), GRPC_OK); /* CHLD: ignored by default */
	CHECK_EQ(signal_of("s1", "e2", 28), GRPC_OK); /* WINCH: the same */
	CHECK_EQ(signal_of("s1", "e2", 64), GRPC_OK); /* the last real-time signal: terminates */
	CHECK_EQ(agent_wait(c, "s1", "e2", &status), GRPC_OK);
	CHECK_EQ(status, 128 + 64);
	CHECK_EQ(signal_of("s1", "", 65), GRPC_INVALID_ARGUMENT);
	CHECK_EQ(exec_in("s1", "e3", pause_args, NULL), GRPC_OK);
	CHECK_EQ(signal_of("s1", "", 2), GRPC_OK); /* INT: the init process only */
	CHECK_EQ(agent_wait(c, "s1", NULL, &status), GRPC_OK);
	CHECK_EQ(status, 130);
	CHECK_EQ(signal_of("s1", "e3", 0), GRPC_OK); /* e3 still runs */
	agent_get_stats(fx.agent, &st);
	CHECK_EQ(st.tasks, 2);
	CHECK_EQ(signal_of("s1", "", 9), GRPC_OK); /* KILL: every process */
	CHECK_EQ(agent_wait(c, "s1", "e3", &status), GRPC_OK);
	CHECK_EQ(status, 137);
	CHECK_EQ(remove_ctr("s1"), GRPC_OK);
	teardown();
}

/* ---- limits ---- */

TEST(a_real_pod_s_command_line_fits_and_bounds_name_the_field)
{
	static char env_store[45][300], long_arg[2000];
	static const char *env[46];
	static grpc_CreateContainerRequest req;
	static struct tstrings argl, envl;
	const char *args[] = { "/bin/echo", long_arg, NULL };
	static char out[4096];
	google_protobuf_Empty empty;
	int status;

	for (int i = 0; i < 45; i++) {
		snprintf(env_store[i], sizeof(env_store[i]), "SERVICE_%02d_PORT_8080_TCP_ADDR=%0*d",
		         i % 100, 200 + i % 45, i % 100);
		env[i] = env_store[i];
	}
	memset(long_arg, 'a', sizeof(long_arg) - 1);
	setup(NULL);
	memset(&req, 0, sizeof(req));
	snprintf(req.container_id, sizeof(req.container_id), "%064d", 7);
	req.has_OCI = req.OCI.has_Process = true;
	tprocess_set(&req.OCI.Process, &argl, args, &envl, env);
	CHECK_EQ(tclient_call(c, AGENT, "CreateContainer", grpc_CreateContainerRequest_fields, &req,
	                      google_protobuf_Empty_fields, &empty),
	         GRPC_OK);
	CHECK_EQ(agent_start_ctr(c, req.container_id), GRPC_OK);
	CHECK_EQ(agent_wait(c, req.container_id, NULL, &status), GRPC_OK);
	CHECK_EQ(agent_read_all(c, req.container_id, NULL, false, out, sizeof(out)),
	         sizeof(long_arg));
	CHECK_EQ(remove_ctr(req.container_id), GRPC_OK);
	teardown();
}

/* An id of 200 bytes is over the 127 of container_id: the answer names
 * the field, and is longer than 255 bytes would allow for nothing. */
TEST(an_oversized_field_is_resource_exhausted_with_its_number)
{
	static char name[301];
	const char *bad[] = { name, NULL };
	uint8_t req[300];

	setup(NULL);
	/* StartContainerRequest{container_id = 200 x 'c'} */
	req[0] = 0x0a;
	req[1] = 0xc8;
	req[2] = 0x01;
	memset(req + 3, 'c', 200);
	CHECK_EQ(call_raw("StartContainer", req, 203), GRPC_RESOURCE_EXHAUSTED);
	CHECK(strstr(c->message, "field 1 is a string of 200 bytes") != NULL);
	/* a long error message reaches the client whole */
	memset(name, 'n', sizeof(name) - 1);
	CHECK_EQ(agent_create(c, "n1", bad), GRPC_NOT_FOUND);
	CHECK(strlen(c->message) > 255);
	CHECK(strstr(c->message, "is not in the catalogue") != NULL);
	teardown();
}
