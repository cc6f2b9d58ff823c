/*
 * test_agent_log.c -- the log stream to host CID 2: JSON lines with
 * contiguous seq, ACK frees the ring, replay after the listener comes
 * back, and one explicit "dropped" record when the ring overflowed.
 */
#include "tests/unit/agent_fixture.h"

#include <stdio.h>

static struct agent_fixture fx;

struct listener {
	struct vsock_sock *lsn, *conn; /* host side */
	char buf[1 << 16];             /* bytes not yet returned as lines */
	size_t used;
};

static void listen_logs(struct listener *l)
{
	memset(l, 0, sizeof(*l));
	l->lsn = listen_on(fx.pair.host, LOG_PORT, 4);
	vsock_setopt(l->lsn, VSOCK_OPT_RCVTIMEO_NS, 10 * SECOND_NS);
	CHECK_EQ(vsock_accept(l->lsn, &l->conn, NULL, 0), 0);
	vsock_setopt(l->conn, VSOCK_OPT_RCVTIMEO_NS, 10 * SECOND_NS);
}

static void listener_close(struct listener *l)
{
	vsock_close(l->conn);
	vsock_close(l->lsn);
}

/* Next line (without newline) into line. */
static void next_line(struct listener *l, char *line, size_t cap)
{
	for (;;) {
		char *nl = memchr(l->buf, '\n', l->used);

		if (nl) {
			size_t n = (size_t)(nl - l->buf);

			CHECK(n < cap);
			memcpy(line, l->buf, n);
			line[n] = '\0';
			memmove(l->buf, nl + 1, l->used - n - 1);
			l->used -= n + 1;
			return;
		}
		ssize_t got = vsock_recv(l->conn, l->buf + l->used, sizeof(l->buf) - l->used, 0);
		CHECK(got > 0);
		l->used += (size_t)got;
	}
}

static long long field(const char *line, const char *key)
{
	char pat[32];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(line, pat);
	return p ? atoll(p + strlen(pat)) : -1;
}

static void ack(struct listener *l, long long seq)
{
	char msg[32];
	int n = snprintf(msg, sizeof(msg), "ACK %lld\n", seq);

	CHECK_EQ(vsock_send(l->conn, msg, (size_t)n, 0), n);
}

static void start(unsigned ring)
{
	struct agent_options opts;

	fixture_options(&opts);
	opts.log_port = LOG_PORT;
	opts.log_ring = ring;
	opts.log_backoff_max_ns = 50000000ull;
	opts.log_grace_ns = 0;
	fixture_start(&fx, &opts);
}

TEST(records_are_json_lines_with_contiguous_seq)
{
	struct listener l;
	struct tclient *c;
	char line[1024];
	long long seq = 0;
	int seen = 0;

	start(1024);
	listen_logs(&l);
	c = tclient_open(&fx);
	CHECK_EQ(agent_run(c, "lg", (const char *[]){ "logspam", "5", NULL }), 0);
	CHECK_EQ(agent_wait(c, "lg", NULL, NULL), 0);
	while (seen < 5) {
		next_line(&l, line, sizeof(line));
		CHECK(line[0] == '{' && line[strlen(line) - 1] == '}');
		CHECK(strstr(line, "\"boot_id\":\"test-boot\"") != NULL);
		CHECK_EQ(field(line, "seq"), seq + 1);
		seq = field(line, "seq");
		if (strstr(line, "\"stream\":\"stdout\"")) {
			char want[64];

			snprintf(want, sizeof(want), "{\"msg\":\"logspam %d\"", ++seen);
			CHECK(strncmp(line, want, strlen(want)) == 0);
			CHECK(strstr(line, "\"container_id\":\"lg\"") != NULL);
		}
	}
	ack(&l, seq);
	platform_sleep_ns(100000000);
	struct agent_stats st;
	agent_get_stats(fx.agent, &st);
	CHECK_EQ(st.log_acked, (uint64_t)seq);
	CHECK_EQ(agent_remove(c, "lg"), 0);
	tclient_close(c);
	listener_close(&l);
	fixture_stop(&fx);
}

TEST(unacked_records_are_replayed_after_reconnect)
{
	struct listener l;
	struct tclient *c;
	char line[1024];
	long long first_unacked;

	start(1024);
	listen_logs(&l);
	c = tclient_open(&fx);
	next_line(&l, line, sizeof(line)); /* "agent starting" */
	CHECK_EQ(field(line, "seq"), 1);
	ack(&l, 1);
	platform_sleep_ns(50000000);
	CHECK_EQ(agent_run(c, "rp", (const char *[]){ "echo", "replay-me", NULL }), 0);
	CHECK_EQ(agent_wait(c, "rp", NULL, NULL), 0);
	next_line(&l, line, sizeof(line));
	first_unacked = field(line, "seq");
	CHECK_EQ(first_unacked, 2);
	listener_close(&l); /* goes away without acknowledging */
	listen_logs(&l);    /* and comes back: the agent reconnects */
	next_line(&l, line, sizeof(line));
	CHECK_EQ(field(line, "seq"), first_unacked);
	CHECK_EQ(agent_remove(c, "rp"), 0);
	tclient_close(c);
	listener_close(&l);
	fixture_stop(&fx);
}

TEST(overflow_sends_one_dropped_record)
{
	struct listener l;
	struct tclient *c;
	char line[1024];
	struct agent_stats st;

	start(16);
	c = tclient_open(&fx);
	/* nobody listens: 40 lines into a 16-record ring */
	CHECK_EQ(agent_run(c, "ov", (const char *[]){ "logspam", "40", NULL }), 0);
	CHECK_EQ(agent_wait(c, "ov", NULL, NULL), 0);
	agent_get_stats(fx.agent, &st);
	CHECK(st.log_dropped > 0);
	listen_logs(&l);
	next_line(&l, line, sizeof(line));
	CHECK(strstr(line, "\"level\":\"WARN\",\"msg\":\"dropped\"") != NULL);
	CHECK_EQ(field(line, "from"), 1);
	long long to = field(line, "to");
	next_line(&l, line, sizeof(line));
	CHECK_EQ(field(line, "seq"), to + 1); /* then contiguous again */
	CHECK_EQ(agent_remove(c, "ov"), 0);
	tclient_close(c);
	listener_close(&l);
	fixture_stop(&fx);
}
