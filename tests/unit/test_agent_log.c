/*
 * test_agent_log.c -- the log stream to host CID 2: JSON lines with
 * contiguous seq, ACK frees the ring, replay after the listener comes
 * back, and one explicit "dropped" record when the ring overflowed.
 */
#define _GNU_SOURCE /* memmem */
#include "tests/unit/agent_fixture.h"

#include <stdio.h>
#include <string.h>

#include "agent/logstream.h"

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

/* ---- hole 13: every record is one well-formed JSON line ---- */

/* A JSON string at *p (after its opening quote): moves past the closing quote. */
static bool json_string_ok(const char **p)
{
	for (const char *s = *p; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c >= 0x7f)
			return false; /* the agent escapes everything else */
		if (c == '"') {
			*p = s + 1;
			return true;
		}
		if (c != '\\')
			continue;
		s++;
		if (*s == 'u') {
			for (int i = 1; i <= 4; i++)
				if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
					return false;
			s += 4;
		} else if (!*s || !strchr("\"\\/bfnrt", *s)) {
			return false;
		}
	}
	return false;
}

/* One flat JSON object of strings and numbers, then exactly one "\n". */
static bool json_line_ok(const char *text, size_t len)
{
	char buf[2048];
	const char *p = buf;

	if (len == 0 || len >= sizeof(buf) || text[len - 1] != '\n' || memchr(text, '\n', len - 1))
		return false;
	memcpy(buf, text, len);
	buf[len - 1] = '\0';
	if (*p++ != '{')
		return false;
	for (;;) {
		if (*p++ != '"' || !json_string_ok(&p) || *p++ != ':')
			return false;
		if (*p == '"') {
			p++;
			if (!json_string_ok(&p))
				return false;
		} else if (*p >= '0' && *p <= '9') {
			while (*p >= '0' && *p <= '9')
				p++;
		} else {
			return false;
		}
		if (*p == '}')
			return p[1] == '\0';
		if (*p++ != ',')
			return false;
	}
}

static void check_ring_lines(struct log_stream *log)
{
	for (uint64_t seq = log->first_seq; seq < log->next_seq; seq++) {
		const struct log_slot *slot = &log->ring[seq % log->opts->log_ring];

		CHECK_EQ(slot->seq, seq);
		CHECK(slot->len <= LOG_SLOT_BYTES);
		if (!json_line_ok(slot->text, slot->len)) {
			printf("  not a JSON line: %.*s\n", (int)slot->len, slot->text);
			CHECK(!"every record is one well-formed JSON line");
		}
	}
}

TEST(records_stay_json_lines_with_the_longest_trailer)
{
	struct agent_options opts;
	struct log_stream log;
	char id[128], msg[LOG_MSG_MAX], buf[64];
	size_t taken;

	fixture_options(&opts);
	opts.log_ring = 64;
	memset(opts.boot_id, 'b', AGENT_BOOT_ID_MAX - 1); /* the longest boot id */
	opts.boot_id[AGENT_BOOT_ID_MAX - 1] = '\0';
	memset(id, 'c', 127); /* the longest container id */
	id[127] = '\0';
	CHECK_EQ(log_stream_init(&log, &opts, NULL), 0);
	/* seq 100000 broke the 320-byte trailer; go to the widest u64 too */
	log.first_seq = log.next_seq = log.send_next = 99990;
	for (int i = 0; i < 20; i++) {
		memset(msg, 'x', sizeof(msg));
		CHECK_EQ(log_record(&log, "info", "container", id, "stdout", msg, sizeof(msg)),
		         sizeof(msg)); /* a plain LOG_MSG_MAX line fits whole */
	}
	log.first_seq = log.next_seq = log.send_next = UINT64_MAX - 30;
	agent_log(&log, "warn", id, "%s", "a warning");
	/* output that escapes to 6 bytes a byte is split, never lost */
	memset(msg, 0x01, sizeof(msg));
	taken = log_record(&log, "info", "container", id, "stderr", msg, sizeof(msg));
	CHECK(taken > 0 && taken < sizeof(msg));
	CHECK(log_record(&log, "info", "container", id, "stderr", msg + taken,
	                 sizeof(msg) - taken) > 0);
	/* an agent message that does not fit is cut, with the mark */
	memset(msg, '"', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	agent_log(&log, "warn", id, "%s", msg);
	const struct log_slot *last = &log.ring[(log.next_seq - 1) % opts.log_ring];
	snprintf(buf, sizeof(buf), "%s\",\"level\"", LOG_CUT_MARK);
	CHECK(memmem(last->text, last->len, buf, strlen(buf)) != NULL);
	check_ring_lines(&log);
	log_stream_free(&log);
}

TEST(long_ids_reach_the_listener_as_separate_lines)
{
	struct agent_options opts;
	struct listener l;
	struct tclient *c;
	char id[128], line[2048], want[200];
	int lines = 0;

	fixture_options(&opts);
	opts.log_port = LOG_PORT;
	opts.log_grace_ns = 0;
	memset(opts.boot_id, 'B', AGENT_BOOT_ID_MAX - 1);
	opts.boot_id[AGENT_BOOT_ID_MAX - 1] = '\0';
	fixture_start(&fx, &opts);
	listen_logs(&l);
	memset(id, 'k', 127);
	id[127] = '\0';
	c = tclient_open(&fx);
	CHECK_EQ(agent_run(c, id, (const char *[]){ "logspam", "3", NULL }), 0);
	CHECK_EQ(agent_wait(c, id, NULL, NULL), 0);
	snprintf(want, sizeof(want), "\"container_id\":\"%s\",\"stream\":\"stdout\"}", id);
	while (lines < 3) {
		next_line(&l, line, sizeof(line));
		strcat(line, "\n");
		CHECK(json_line_ok(line, strlen(line)));
		lines += strstr(line, want) != NULL;
	}
	CHECK_EQ(agent_remove(c, id), 0);
	tclient_close(c);
	listener_close(&l);
	fixture_stop(&fx);
}

/* ---- hole 14: the ACK contract; a listener never stalls a program ---- */

enum ack_policy {
	ACK_NEVER,        /* plain socat */
	ACK_ON_REQUEST,   /* only when the agent asks ({"ack_request":N}) */
	ACK_EVERY_RECORD, /* after each record */
};

struct log_run {
	long long stdout_lines; /* "logspam N" records seen */
	long long dropped;      /* "dropped" records seen */
	long long requests;     /* ack requests seen */
	bool contiguous;        /* seq went up by one each time */
	bool in_order;          /* the stdout lines came as 1, 2, 3, ... (counting drops) */
};

/* logspam `lines` with the listener acknowledging by `policy`, until the
 * program's exit record arrives; then its status must be 0. */
static void run_logspam(enum ack_policy policy, unsigned ring, uint64_t grace_ns, int lines,
                        struct log_run *r)
{
	struct agent_options opts;
	struct listener l;
	struct tclient *c;
	char line[2048], count[32];
	long long last_seq = 0, next_line_no = 1;
	static struct tdrain out;
	size_t want_bytes = 0;
	int status = -1;

	memset(r, 0, sizeof(*r));
	r->contiguous = r->in_order = true;
	fixture_options(&opts);
	opts.log_port = LOG_PORT;
	opts.log_ring = ring;
	opts.log_grace_ns = grace_ns;
	fixture_start(&fx, &opts);
	listen_logs(&l);
	c = tclient_open(&fx);
	snprintf(count, sizeof(count), "%d", lines);
	CHECK_EQ(agent_run(c, "ls", (const char *[]){ "logspam", count, NULL }), 0);
	tdrain_start(&out, &fx, "ls", false, NULL, 0); /* ReadStdout, as a client would */
	for (;;) {
		long long seq, n;
		const char *msg;

		next_line(&l, line, sizeof(line));
		if (strncmp(line, "{\"ack_request\":", 15) == 0) {
			r->requests++;
			CHECK_EQ(atoll(line + 15), last_seq); /* the last record it sent */
			if (policy == ACK_ON_REQUEST)
				ack(&l, last_seq);
			continue;
		}
		if (strstr(line, "\"msg\":\"dropped\"")) {
			r->dropped++;
			continue;
		}
		seq = field(line, "seq");
		CHECK(seq > 0);
		if (last_seq && seq != last_seq + 1)
			r->contiguous = false;
		last_seq = seq;
		if (policy == ACK_EVERY_RECORD)
			ack(&l, seq);
		msg = strstr(line, "{\"msg\":\"logspam ");
		if (msg && strstr(line, "\"container_id\":\"ls\"")) {
			n = atoll(msg + 16);
			if (n < next_line_no || (n > next_line_no && !r->dropped))
				r->in_order = false;
			next_line_no = n + 1;
			r->stdout_lines++;
		}
		if (strstr(line, "process 'ls' (logspam) exited"))
			break;
	}
	CHECK_EQ(agent_wait(c, "ls", NULL, &status), 0);
	CHECK_EQ(status, 0);
	CHECK_EQ(tdrain_join(&out), 0);
	for (int i = 1; i <= lines; i++) /* every byte reached ReadStdout, drops or not */
		want_bytes += (size_t)snprintf(count, sizeof(count), "logspam %d\n", i);
	CHECK_EQ(out.bytes, want_bytes);
	CHECK_EQ(agent_remove(c, "ls"), 0);
	tclient_close(c);
	listener_close(&l);
	fixture_stop(&fx);
}

TEST(a_listener_that_never_acknowledges_costs_records_not_progress)
{
	struct log_run r;

	/* 3000 lines through a 64-record ring: waits at most the grace, then drops */
	run_logspam(ACK_NEVER, 64, 200000000ull, 3000, &r);
	CHECK(r.dropped > 0);
	CHECK(r.requests >= 1);
	CHECK(r.in_order);
	CHECK(r.stdout_lines <= 3000);
}

TEST(a_listener_that_answers_only_requests_loses_nothing)
{
	struct log_run r;

	/* a grace far longer than the test: a stall would time the reads out */
	run_logspam(ACK_ON_REQUEST, 64, 3600 * SECOND_NS, 3000, &r);
	CHECK_EQ(r.dropped, 0);
	CHECK(r.requests > 10);
	CHECK(r.contiguous);
	CHECK(r.in_order);
	CHECK_EQ(r.stdout_lines, 3000);
}

TEST(a_listener_that_acknowledges_every_record_loses_nothing)
{
	struct log_run r;

	run_logspam(ACK_EVERY_RECORD, 64, 3600 * SECOND_NS, 3000, &r);
	CHECK_EQ(r.dropped, 0);
	CHECK(r.contiguous);
	CHECK(r.in_order);
	CHECK_EQ(r.stdout_lines, 3000);
}
