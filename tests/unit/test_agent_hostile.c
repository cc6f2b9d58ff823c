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
#include "agent/service.h"
#include "health.pb.h"

#define AGENT "grpc.AgentService"

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
	CHECK_EQ(agent_run(a, "full", (const char *[]){ "sleep", "100", NULL }), GRPC_OK);
	/* every park slot of connection a taken */
	waits[0] = send_wait(a, "full");
	waits[1] = send_wait(a, "full");
	wait_parked(2);
	/* the remove cannot park: refused, and nothing changed */
	sid = send_remove(a, "full");
	CHECK_EQ(answer_of(a, sid), GRPC_RESOURCE_EXHAUSTED);
	CHECK(strstr(a->message, "max_inflight") != NULL);
	/* the container is not wedged: a remove from elsewhere kills and removes it */
	CHECK_EQ(agent_remove(b, "full"), GRPC_OK);
	for (int i = 0; i < 2; i++) {
		int code;
		uint32_t got = tclient_recv(a, &code, NULL, NULL);

		CHECK(got == waits[0] || got == waits[1]);
		CHECK(code == GRPC_OK || code == GRPC_NOT_FOUND); /* exited (137) or removed */
	}
	CHECK_EQ(agent_wait(b, "full", NULL, &status), GRPC_NOT_FOUND);
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
		CHECK_EQ(agent_create(a, id, args), GRPC_OK);
		if (round % 4 == 3)
			CHECK_EQ(agent_start_ctr(a, id),
			         GRPC_OK); /* some running, most only created */
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
		CHECK(code == GRPC_OK || code == GRPC_NOT_FOUND);
		code = answer_of(a, wait_a);
		CHECK(code == GRPC_OK || code == GRPC_NOT_FOUND);
		CHECK_EQ(answer_of(b, rm_b), GRPC_OK);
		if (sig_b) {
			code = answer_of(b, sig_b);
			CHECK(code == GRPC_NOT_FOUND || code == GRPC_FAILED_PRECONDITION);
		}
		CHECK_EQ(agent_remove(a, id), GRPC_NOT_FOUND);
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
	CHECK_EQ(answer_of(c, sid), 12); /* UNIMPLEMENTED comes before the policy */
	CHECK(strstr(harness_last_log, "not implemented") != NULL);
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

/* ---- hole 10: answers a client does not take, and parked stdin, are bounded ---- */

#define CONN_OUT_MAX (256u << 10) /* agent/ttrpc.c */
#define ANSWER_SLACK (33u << 10)  /* one more answer: a 32 KiB read, its framing, bookkeeping */

/* Send what goes without blocking; false when nothing went for `patience_ns`. */
static bool send_some(struct tclient *c, const uint8_t *buf, size_t len, size_t *done,
                      uint64_t patience_ns)
{
	uint64_t give_up = platform_now_ns() + patience_ns;

	while (*done < len) {
		ssize_t n = vsock_send(c->sock, buf + *done, len - *done, VSOCK_DONTWAIT);

		if (n > 0) {
			*done += (size_t)n;
			give_up = platform_now_ns() + patience_ns;
			continue;
		}
		CHECK_EQ(n, -EAGAIN);
		if (platform_now_ns() > give_up)
			return false;
		platform_sleep_ns(1000000);
	}
	return true;
}

TEST(pipelined_requests_from_a_client_that_never_reads_are_bounded)
{
	grpc_CheckRequest req = grpc_CheckRequest_init_zero;
	struct agent_stats st;
	struct tclient *c;
	uint8_t frame[128];
	size_t len = 0, done = 0;
	uint32_t sent = 0;
	int code;

	fixture_start(&fx, NULL);
	c = tclient_open(&fx);
	/* 60k requests the issue sent; the client is held back long before */
	while (sent < 60000) {
		len = tclient_frame(c, "grpc.Health", "Check", grpc_CheckRequest_fields, &req,
		                    frame, sizeof(frame));
		done = 0;
		if (!send_some(c, frame, len, &done, 300000000ull))
			break; /* the agent stopped reading us: backpressure */
		sent++;
	}
	CHECK(sent < 60000);
	agent_get_stats(fx.agent, &st);
	CHECK(st.queued_peak <= CONN_OUT_MAX + ANSWER_SLACK);
	CHECK(st.requests < sent); /* the rest wait unread in vsock's window */
	/* the client can still drain everything later, in order */
	for (uint32_t i = 0; i < sent; i++) {
		CHECK_EQ(tclient_recv(c, &code, NULL, NULL), 2 * i + 1);
		CHECK_EQ(code, GRPC_OK);
	}
	CHECK(send_some(c, frame, len, &done, 10 * SECOND_NS));
	CHECK_EQ(tclient_recv(c, &code, NULL, NULL), 2 * sent + 1);
	for (int i = 0; i < 1000; i++) { /* published once the agent's step ends */
		agent_get_stats(fx.agent, &st);
		if (!st.queued_bytes)
			break;
		platform_sleep_ns(1000000);
	}
	CHECK_EQ(st.queued_bytes, 0);
	CHECK(st.queued_peak <= CONN_OUT_MAX + ANSWER_SLACK);
	tclient_close(c);
	fixture_stop(&fx);
}

/* A thread writing stdin on its own connection: no CHECKs (they belong to
 * the test's thread); the test's teardown ends it if the test fails. */
struct writer {
	struct tclient *c; /* its own connection */
	const char *id;    /* the container */
	size_t len;        /* bytes to write, then CloseStdin */
	int code;          /* 0, a gRPC code, or -1 (connection failed) */
	pthread_t thread;  /* runs writer_main */
	bool joined;       /* the test's thread has joined it */
};

static int writer_call(struct writer *w, const char *method, const pb_msgdesc_t *fields,
                       const void *req, const pb_msgdesc_t *resp_fields, void *resp)
{
	static uint8_t frame[40 << 10];
	size_t len = tclient_frame(w->c, AGENT, method, fields, req, frame, sizeof(frame));
	uint32_t sid;
	int code;

	if (vsock_send(w->c->sock, frame, len, 0) != (ssize_t)len ||
	    tclient_try_recv(w->c, &sid, &code, resp_fields, resp) < 0)
		return -1;
	return code;
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	static grpc_WriteStreamRequest req;
	grpc_CloseStdinRequest close_req = grpc_CloseStdinRequest_init_zero;
	grpc_WriteStreamResponse resp;
	google_protobuf_Empty empty;
	size_t done = 0;

	snprintf(req.container_id, sizeof(req.container_id), "%s", w->id);
	snprintf(req.exec_id, sizeof(req.exec_id), "%s", w->id);
	while (done < w->len) {
		size_t n = w->len - done < sizeof(req.data.bytes) ? w->len - done :
		                                                    sizeof(req.data.bytes);

		for (size_t i = 0; i < n; i++)
			req.data.bytes[i] = (uint8_t)((done + i) * 7 + (done + i) / 4096);
		req.data.size = (pb_size_t)n;
		w->code = writer_call(w, "WriteStdin", grpc_WriteStreamRequest_fields, &req,
		                      grpc_WriteStreamResponse_fields, &resp);
		if (w->code)
			return NULL;
		done += resp.len;
	}
	snprintf(close_req.container_id, sizeof(close_req.container_id), "%s", w->id);
	snprintf(close_req.exec_id, sizeof(close_req.exec_id), "%s", w->id);
	w->code = writer_call(w, "CloseStdin", grpc_CloseStdinRequest_fields, &close_req,
	                      google_protobuf_Empty_fields, &empty);
	return NULL;
}

static void writer_join(void *arg)
{
	struct writer *w = arg;

	if (w->joined)
		return;
	if (harness_failing()) /* a failed test: end its calls */
		vsock_shutdown(w->c->sock, VSOCK_SHUT_RDWR);
	pthread_join(w->thread, NULL); /* else its last answer (CloseStdin) may be on its way */
	w->joined = true;
}

static void writer_start(struct writer *w)
{
	CHECK_EQ(pthread_create(&w->thread, NULL, writer_main, w), 0);
	harness_defer(writer_join, w);
}

TEST(parked_reads_of_a_client_that_never_reads_are_bounded)
{
	grpc_ReadStreamRequest rreq = grpc_ReadStreamRequest_init_zero;
	static grpc_ReadStreamResponse resp;
	static struct writer w;
	struct agent_stats st;
	struct tclient *a;
	uint32_t sids[60];
	size_t got = 0;
	int code;

	fixture_start(&fx, NULL);
	a = tclient_open(&fx);
	w = (struct writer){ .c = tclient_open(&fx), .id = "pr", .len = 60u << 15, .code = -1 };
	CHECK_EQ(agent_run(a, "pr", (const char *[]){ "cat", NULL }), GRPC_OK);
	snprintf(rreq.container_id, sizeof(rreq.container_id), "pr");
	snprintf(rreq.exec_id, sizeof(rreq.exec_id), "pr");
	rreq.len = 32768;
	for (int i = 0; i < 60; i++) /* all park: cat has written nothing yet */
		sids[i] = tclient_send(a, AGENT, "ReadStdout", grpc_ReadStreamRequest_fields, &rreq,
		                       0);
	wait_parked(60);
	/* 60 x 32 KiB through cat: the parked reads could answer 1.9 MiB at once */
	writer_start(&w);
	for (int i = 0; i < 50; i++) {
		agent_get_stats(fx.agent, &st);
		CHECK(st.queued_peak <= CONN_OUT_MAX + ANSWER_SLACK);
		platform_sleep_ns(10000000);
	}
	for (int i = 0; i < 60; i++) {
		CHECK_EQ(tclient_recv(a, &code, grpc_ReadStreamResponse_fields, &resp), sids[i]);
		CHECK_EQ(code, GRPC_OK);
		got += resp.data.size;
	}
	while (got < w.len) {
		long n = agent_read_all(a, "pr", NULL, false, NULL, 0);

		CHECK(n >= 0);
		got += (size_t)n;
	}
	CHECK_EQ(got, w.len);
	writer_join(&w);
	CHECK_EQ(w.code, GRPC_OK);
	agent_get_stats(fx.agent, &st);
	CHECK(st.queued_peak <= CONN_OUT_MAX + ANSWER_SLACK);
	CHECK_EQ(agent_wait(a, "pr", NULL, NULL), GRPC_OK);
	CHECK_EQ(agent_remove(a, "pr"), GRPC_OK);
	tclient_close(a);
	tclient_close(w.c);
	fixture_stop(&fx);
}

TEST(parked_stdin_copies_are_bounded)
{
	static grpc_WriteStreamRequest wreq;
	struct agent_stats st;
	struct tclient *a, *b;
	uint32_t sids[10];
	int ok = 0, refused = 0, closed = 0, code;

	fixture_start(&fx, NULL);
	a = tclient_open(&fx);
	b = tclient_open(&fx);
	CHECK_EQ(agent_run(a, "ps", (const char *[]){ "sleep", "100", NULL }), GRPC_OK);
	memset(&wreq, 0, sizeof(wreq));
	snprintf(wreq.container_id, sizeof(wreq.container_id), "ps");
	snprintf(wreq.exec_id, sizeof(wreq.exec_id), "ps");
	wreq.data.size = sizeof(wreq.data.bytes); /* 32 KiB each; sleep never reads */
	for (int i = 0; i < 10; i++)
		sids[i] = tclient_send(a, AGENT, "WriteStdin", grpc_WriteStreamRequest_fields,
		                       &wreq, 0);
	/* at once: the first fills the pipe, the rest over SERVICE_PEER_PARKED_MAX are refused */
	for (int i = 0; i < 10 - (int)(SERVICE_PEER_PARKED_MAX / sizeof(wreq.data.bytes)); i++) {
		uint32_t sid = tclient_recv(a, &code, NULL, NULL);

		CHECK(sid >= sids[0] && sid <= sids[9]);
		ok += code == GRPC_OK;
		refused += code == GRPC_RESOURCE_EXHAUSTED;
	}
	CHECK_EQ(ok, 1);
	CHECK(strstr(a->message, "wait for the answers to earlier WriteStdin") != NULL);
	wait_parked(SERVICE_PEER_PARKED_MAX / sizeof(wreq.data.bytes));
	agent_get_stats(fx.agent, &st);
	CHECK_EQ(st.parked_bytes, SERVICE_PEER_PARKED_MAX);
	CHECK_EQ(agent_close_stdin(b, "ps", NULL), GRPC_OK); /* the parked writes fail now */
	for (unsigned i = 0; i < SERVICE_PEER_PARKED_MAX / sizeof(wreq.data.bytes); i++) {
		uint32_t sid = tclient_recv(a, &code, NULL, NULL);

		CHECK(sid >= sids[0] && sid <= sids[9]);
		closed += code == GRPC_FAILED_PRECONDITION;
	}
	CHECK_EQ(closed, SERVICE_PEER_PARKED_MAX / sizeof(wreq.data.bytes));
	CHECK_EQ(refused, 10 - 1 - closed);
	agent_get_stats(fx.agent, &st);
	CHECK_EQ(st.parked_bytes, 0);
	CHECK_EQ(agent_signal(a, "ps", NULL, 9), GRPC_OK);
	CHECK_EQ(agent_remove(a, "ps"), GRPC_OK);
	tclient_close(a);
	tclient_close(b);
	fixture_stop(&fx);
}

/* ---- hole 9: a refused sibling takes no slot and no heap; headers claim nothing ---- */

static void send_header(struct tclient *c, uint32_t len, uint32_t sid)
{
	uint8_t hdr[10] = { (uint8_t)(len >> 24),
		            (uint8_t)(len >> 16),
		            (uint8_t)(len >> 8),
		            (uint8_t)len,
		            0,
		            0,
		            0,
		            (uint8_t)sid,
		            1,
		            0 };

	vsock_send(c->sock, hdr, sizeof(hdr), 0); /* may fail: the agent may have reset it */
}

/* Be another VM: what the host core's "device" reports as our CID. */
static void become_cid(uint64_t cid)
{
	vsock_loopback_set_cid(fx.pair.lb, 1, cid);
	platform_lock();
	vsock_core_transport_reset(fx.pair.host);
	platform_unlock();
}

static void wait_stats(bool (*done)(const struct agent_stats *st), struct agent_stats *st)
{
	uint64_t deadline = platform_now_ns() + 10 * SECOND_NS;

	do {
		agent_get_stats(fx.agent, st);
		if (done(st))
			return;
		platform_sleep_ns(1000000);
	} while (platform_now_ns() < deadline);
	CHECK(!"the agent's counters did not get there");
}

static bool all_36_refused(const struct agent_stats *st)
{
	return st->denied == 36;
}

/* A connection the agent may reset at any moment (no CHECK on the connect). */
static struct vsock_sock *sibling_open(void)
{
	struct vsock_addr addr = { GUEST_CID, AGENT_PORT };
	struct vsock_sock *sock;

	CHECK_EQ(vsock_socket(fx.pair.host, VSOCK_TYPE_STREAM, &sock), 0);
	vsock_connect(sock, &addr, 0);
	return sock;
}

TEST(a_refused_cid_takes_no_slot_and_no_heap)
{
	struct vsock_sock *sibling[36];
	struct tclient *host;
	struct agent_stats st;
	struct vsock_stats vs;
	grpc_CheckRequest req = grpc_CheckRequest_init_zero;
	grpc_HealthCheckResponse resp;

	fixture_start(&fx, NULL);      /* agent.allowed_cids=2 */
	become_cid(5);                 /* a sibling VM in the backend's group */
	for (int i = 0; i < 36; i++) { /* more than agent.max_conns (32), all idle */
		sibling[i] = sibling_open();
		if (i < 4) /* each claims 4 MiB (if it is still connected) */
			vsock_send(sibling[i], "\x00\x40\x00\x00\x00\x00\x00\x01\x01\x00", 10, 0);
	}
	wait_stats(all_36_refused, &st);
	CHECK_EQ(st.conns, 0);
	CHECK_EQ(st.rx_peak, 0);
	CHECK(strstr(harness_last_log, "refused a connection from CID 5") != NULL);
	vsock_core_stats(fx.pair.guest, &vs);
	CHECK_EQ(vs.conns, 0); /* reset, not lingering in vsock's table either */
	become_cid(2);         /* the real host still gets in */
	host = tclient_open(&fx);
	CHECK_EQ(tclient_call(host, "grpc.Health", "Check", grpc_CheckRequest_fields, &req,
	                      grpc_HealthCheckResponse_fields, &resp),
	         GRPC_OK);
	for (int i = 0; i < 36; i++)
		vsock_close(sibling[i]);
	tclient_close(host);
	fixture_stop(&fx);
}

static bool nothing_buffered(const struct agent_stats *st)
{
	return st->rx_bytes == 0;
}

static bool budget_used(const struct agent_stats *st)
{
	return st->rx_bytes == 1u << 20;
}

TEST(frame_headers_claim_no_memory_and_buffers_stay_within_the_budget)
{
	struct agent_options opts;
	struct tclient *claim[4], *a, *b;
	static uint8_t payload[600 << 10];
	struct agent_stats st;
	int code;

	fixture_options(&opts);
	opts.rx_budget = 1u << 20;
	fixture_start(&fx, &opts);
	/* four headers claiming 4 MiB each, from an allowed peer: nothing allocated */
	for (int i = 0; i < 4; i++) {
		claim[i] = tclient_open(&fx);
		send_header(claim[i], 4u << 20, 1);
	}
	a = tclient_open(&fx);
	b = tclient_open(&fx);
	grpc_CheckRequest req = grpc_CheckRequest_init_zero;
	grpc_HealthCheckResponse resp;
	CHECK_EQ(tclient_call(a, "grpc.Health", "Check", grpc_CheckRequest_fields, &req,
	                      grpc_HealthCheckResponse_fields, &resp),
	         GRPC_OK);
	agent_get_stats(fx.agent, &st);
	CHECK(st.rx_peak < 64); /* the Check's own bytes, nothing for the claims */
	/* the buffer grows as bytes come: 600 KiB of a 4 MiB frame hold 1 MiB, the budget */
	send_header(a, 4u << 20, 3);
	CHECK_EQ(vsock_send(a->sock, payload, sizeof(payload), 0), (long)sizeof(payload));
	wait_stats(budget_used, &st);
	/* another frame finds no room: skipped as it comes, answered, the connection kept */
	send_header(b, 64u << 10, 1);
	CHECK_EQ(vsock_send(b->sock, payload, 64u << 10, 0), 64 << 10);
	CHECK_EQ(tclient_recv(b, &code, NULL, NULL), 1);
	CHECK_EQ(code, GRPC_RESOURCE_EXHAUSTED);
	CHECK(strstr(b->message, "partly received") != NULL);
	b->next_stream = 3;
	CHECK_EQ(tclient_call(b, "grpc.Health", "Check", grpc_CheckRequest_fields, &req,
	                      grpc_HealthCheckResponse_fields, &resp),
	         GRPC_OK);
	agent_get_stats(fx.agent, &st);
	CHECK(st.rx_peak <= opts.rx_budget + 6 * 4096); /* + 4 KiB a connection */
	/* a goes away: its buffer is freed, and b's next frame is taken */
	tclient_close(a);
	for (int i = 0; i < 4; i++)
		tclient_close(claim[i]);
	wait_stats(nothing_buffered, &st);
	send_header(b, 64u << 10, 5);
	CHECK_EQ(vsock_send(b->sock, payload, 64u << 10, 0), 64 << 10);
	CHECK_EQ(tclient_recv(b, &code, NULL, NULL), 5);
	CHECK_EQ(code, 3); /* taken whole, then found malformed: INVALID_ARGUMENT */
	tclient_close(b);
	fixture_stop(&fx);
}
