/*
 * logstream.c -- the log stream to host CID 2 (DESIGN §5): the agent
 * connects to (log_cid, log_port) and writes one JSON line per record,
 *
 *   {"msg":"...","level":"info","ts":"...","name":"vsock-agent",
 *    "source":"agent","subsystem":"container","seq":7,"boot_id":"...",
 *    "container_id":"c1","stream":"stdout"}
 *
 * Records wait in a ring until the host sends "ACK <seq>\n"; after a
 * reconnect (with backoff) everything unacknowledged is sent again, so
 * the host may see a seq twice but never misses one.  When the ring must
 * overwrite unacknowledged records the host gets one
 *   {"level":"WARN","msg":"dropped","from":A,"to":B,...}
 * record (it has no seq of its own).  When acknowledgements lag the agent
 * asks for one with {"ack_request":N}.  Making a record never blocks; only
 * program output waits for a listener that is behind, and never longer
 * than agent.log_grace (the contract: logstream.h).  `ts` counts from boot
 * on the 1970-01-01 epoch: the image has no wall clock.
 *
 * All of it runs in the agent task: the connection is non-blocking and
 * served from the agent's poll loop (log_stream_pollfd/serve/flush).
 */
#include "agent/logstream.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/log.h"
#include "include/platform.h"

#define LOG_BACKOFF_MIN_NS     50000000ull
#define LOG_CONNECT_TIMEOUT_NS 1000000000ull
#define LOG_WAIT_MARGIN        8  /* output waits when this close to full */
#define LOG_ACK_ROUNDS         16 /* receives of ACK lines per step */

static void format_ts(char *buf, size_t len, uint64_t ns)
{
	uint64_t s = ns / 1000000000ull;

	snprintf(buf, len, "1970-01-%02uT%02u:%02u:%02u.%09uZ", (unsigned)(1 + s / 86400 % 28),
	         (unsigned)(s / 3600 % 24), (unsigned)(s / 60 % 60), (unsigned)(s % 60),
	         (unsigned)(ns % 1000000000ull));
}

/* JSON-escape `len` bytes into out (room `cap`), never splitting an
 * escape; returns bytes written, and in *taken how many input bytes they hold. */
static size_t json_escape(char *out, size_t cap, const char *in, size_t len, size_t *taken)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		char esc[7];
		size_t n = 0;

		if (c == '"' || c == '\\') {
			esc[n++] = '\\';
			esc[n++] = (char)c;
		} else if (c == '\n' || c == '\t' || c == '\r') {
			esc[n++] = '\\';
			esc[n++] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
		} else if (c < 0x20 || c >= 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		} else {
			esc[n++] = (char)c;
		}
		if (o + n > cap)
			break;
		memcpy(out + o, esc, n);
		o += n;
	}
	if (taken)
		*taken = i;
	return o;
}

/* A NUL-terminated field, escaped into at most `cap` bytes (+ NUL). */
static void json_field(char *out, size_t cap, const char *in)
{
	out[json_escape(out, cap, in, strlen(in), NULL)] = '\0';
}

size_t log_escape_text(char *out, size_t cap, const char *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (cap == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		char esc[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
		size_t n = 4;

		if (c == '\\') {
			esc[1] = '\\';
			n = 2;
		} else if (c >= 0x20 && c < 0x7f) {
			esc[0] = (char)c;
			n = 1;
		}
		if (o + n > cap - 1)
			break;
		memcpy(out + o, esc, n);
		o += n;
	}
	out[o] = '\0';
	return o;
}

/*
 * One record into the next slot.  The trailer (every field but msg) always
 * fits: each field is escaped into a bounded part of it, LOG_TRAILER_MAX
 * is their sum, and the slot has room for it plus LOG_MSG_ROOM_MIN of
 * message.  The message gets the rest of the slot: as much of it as fits
 * goes in (returned), or with `cut` it is cut and ends in LOG_CUT_MARK.
 */
static size_t make_record(struct log_stream *log, const char *level, const char *subsystem,
                          const char *container_id, const char *stream, const char *msg,
                          size_t msg_len, bool cut)
{
	static const char mark[] = LOG_CUT_MARK;
	unsigned n = log->opts->log_ring;
	char f_level[LOG_FIELD_SHORT + 1], f_sub[LOG_FIELD_SHORT + 1],
	        f_stream[LOG_FIELD_SHORT + 1];
	char f_boot[LOG_FIELD_BOOT_ID + 1], f_ctr[LOG_FIELD_CONTAINER_ID + 1];
	char trailer[LOG_TRAILER_MAX + 1], ts[LOG_FIELD_TS + 1];
	struct log_slot *slot;
	size_t room, elen, taken;
	int tlen;

	if (!log->ring)
		return msg_len;
	if (log->next_seq - log->first_seq == n) { /* full: the oldest goes */
		if (log->first_seq > log->acked)
			log->dropped++;
		log->first_seq++;
	}
	format_ts(ts, sizeof(ts), platform_now_ns());
	json_field(f_level, LOG_FIELD_SHORT, level);
	json_field(f_sub, LOG_FIELD_SHORT, subsystem);
	json_field(f_stream, LOG_FIELD_SHORT, stream);
	json_field(f_boot, LOG_FIELD_BOOT_ID, log->opts->boot_id);
	json_field(f_ctr, LOG_FIELD_CONTAINER_ID, container_id);
	tlen = snprintf(trailer, sizeof(trailer), LOG_TRAILER_FORMAT, f_level, ts, f_sub,
	                (unsigned long long)log->next_seq, f_boot, f_ctr, f_stream);
	/* cannot happen (LOG_TRAILER_MAX is the sum of the parts); never a line without its end */
	if (tlen < 0 || (size_t)tlen >= sizeof(trailer))
		tlen = snprintf(trailer, sizeof(trailer), "\"}\n");
	room = LOG_SLOT_BYTES - LOG_HEAD_LEN - (size_t)tlen;
	slot = &log->ring[log->next_seq % n];
	slot->seq = log->next_seq;
	memcpy(slot->text, LOG_HEAD, LOG_HEAD_LEN);
	elen = json_escape(slot->text + LOG_HEAD_LEN, room, msg, msg_len, &taken);
	if (cut && taken < msg_len) {
		elen = json_escape(slot->text + LOG_HEAD_LEN, room - (sizeof(mark) - 1), msg,
		                   msg_len, &taken);
		memcpy(slot->text + LOG_HEAD_LEN + elen, mark, sizeof(mark) - 1);
		elen += sizeof(mark) - 1;
		taken = msg_len;
	}
	memcpy(slot->text + LOG_HEAD_LEN + elen, trailer, (size_t)tlen);
	slot->len = (uint16_t)(LOG_HEAD_LEN + elen + (size_t)tlen);
	log->next_seq++;
	return taken;
}

size_t log_record(struct log_stream *log, const char *level, const char *subsystem,
                  const char *container_id, const char *stream, const char *msg, size_t msg_len)
{
	return make_record(log, level, subsystem, container_id, stream, msg, msg_len, false);
}

void agent_log(struct log_stream *log, const char *level, const char *container_id, const char *fmt,
               ...)
{
	char msg[LOG_MSG_MAX], shown[4 * LOG_MSG_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	make_record(log, level, "agent", container_id, "agent", msg, (size_t)n, true);
	if (strcmp(level, "info") != 0) {
		/* peers choose parts of these messages: nothing raw reaches the console */
		log_escape_text(shown, sizeof(shown), msg, (size_t)n);
		log_printf("agent: %s\n", shown);
	}
}

void agent_log_kv(struct log_stream *log, const char *level, const char *container_id,
                  const char *key, const char *value, const char *fmt, ...)
{
	char msg[LOG_MSG_MAX], kv[160];
	struct log_slot *slot;
	va_list ap;
	int n, kvlen;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || !log->ring)
		return;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	make_record(log, level, "agent", container_id, "agent", msg, (size_t)n, true);
	/* the record ends in "}\n": the key goes in before it (both are
	 * ours: plain hex or names, nothing to escape) */
	slot = &log->ring[(log->next_seq - 1) % log->opts->log_ring];
	kvlen = snprintf(kv, sizeof(kv), ",\"%s\":\"%s\"}\n", key, value);
	if (kvlen > 0 && (size_t)kvlen < sizeof(kv) && slot->len >= 2 &&
	    slot->len - 2 + (size_t)kvlen <= sizeof(slot->text)) {
		memcpy(slot->text + slot->len - 2, kv, (size_t)kvlen);
		slot->len = (uint16_t)(slot->len - 2 + kvlen);
	}
}

bool log_limit_allow(struct log_limit *limit, uint64_t now, uint64_t *suppressed)
{
	*suppressed = 0;
	if (now - limit->window_start_ns >= LOG_LIMIT_WINDOW_NS) {
		limit->window_start_ns = now;
		limit->count = 0;
	}
	if (limit->count >= LOG_LIMIT_BURST) {
		limit->suppressed++;
		return false;
	}
	limit->count++;
	*suppressed = limit->suppressed;
	limit->suppressed = 0;
	return true;
}

/* Is the ring (nearly) full of records the host has not acknowledged? */
static bool window_full(const struct log_stream *log)
{
	uint64_t oldest_unacked = log->acked + 1 > log->first_seq ? log->acked + 1 : log->first_seq;

	return log->ring && log->next_seq - oldest_unacked + LOG_WAIT_MARGIN >= log->opts->log_ring;
}

/*
 * Output waits only while the window is full, and never longer than
 * agent.log_grace: counted from when the listener was lost (it may come
 * back and take the replay), or, while connected, from when the wait began
 * or the host last acknowledged something.  After that, records are
 * overwritten (and reported as dropped) until the host acknowledges again.
 */
bool log_output_should_wait(struct log_stream *log, uint64_t now)
{
	if (!window_full(log) || log->stopping)
		return false;
	if (log->state == LOG_CONNECTED) {
		if (!log->waiting_since_ns)
			log->waiting_since_ns = now;
		return now - log->waiting_since_ns < log->opts->log_grace_ns;
	}
	return log->lost_at_ns && now - log->lost_at_ns < log->opts->log_grace_ns;
}

/* ---- the connection ---- */

/* Next batch of lines into buf; 0 when nothing is due. */
static size_t fill_batch(struct log_stream *log, char *buf, size_t cap)
{
	uint64_t from = (log->acked > log->reported_to ? log->acked : log->reported_to) + 1;
	size_t used = 0;
	char ts[48];

	/* Records that left the ring unacknowledged, not yet reported on this
	 * connection: one explicit record for them (sent or not, they will not
	 * be replayed). */
	if (log->first_seq > from) {
		format_ts(ts, sizeof(ts), platform_now_ns());
		used = (size_t)snprintf(
		        buf, cap,
		        "{\"level\":\"WARN\",\"msg\":\"dropped\",\"from\":%llu,"
		        "\"to\":%llu,\"ts\":\"%s\",\"name\":\"vsock-agent\","
		        "\"source\":\"agent\",\"subsystem\":\"log\",\"boot_id\":\"%s\","
		        "\"container_id\":\"\",\"stream\":\"agent\"}\n",
		        (unsigned long long)from, (unsigned long long)(log->first_seq - 1), ts,
		        log->opts->boot_id);
		log->reported_to = log->first_seq - 1;
	}
	if (log->send_next < log->first_seq)
		log->send_next = log->first_seq;
	while (log->send_next < log->next_seq) {
		struct log_slot *slot = &log->ring[log->send_next % log->opts->log_ring];

		if (used + slot->len > cap)
			break;
		memcpy(buf + used, slot->text, slot->len);
		used += slot->len;
		log->send_next++;
	}
	return used;
}

/* A connect attempt failed: try again after the backoff, which grows. */
static void connect_failed(struct log_stream *log, uint64_t now)
{
	vsock_close(log->sock);
	log->sock = NULL;
	log->state = LOG_IDLE;
	log->retry_at_ns = now + log->backoff_ns;
	log->backoff_ns = log->backoff_ns * 2 < log->opts->log_backoff_max_ns ?
	                          log->backoff_ns * 2 :
	                          log->opts->log_backoff_max_ns;
}

/* The connection ended: reconnect at once (then back off). */
static void connection_lost(struct log_stream *log, uint64_t now)
{
	vsock_close(log->sock);
	log->sock = NULL;
	log->state = LOG_IDLE;
	log->lost_at_ns = now;
	log->retry_at_ns = now;
}

static void start_connect(struct log_stream *log, uint64_t now)
{
	struct vsock_addr host = { log->opts->log_cid, log->opts->log_port };
	int err = vsock_socket(log->core, VSOCK_TYPE_STREAM, &log->sock);

	if (err < 0) {
		log->sock = NULL;
		connect_failed(log, now);
		return;
	}
	vsock_setopt(log->sock, VSOCK_OPT_CONNECT_TIMEOUT_NS, LOG_CONNECT_TIMEOUT_NS);
	err = vsock_connect(log->sock, &host, VSOCK_DONTWAIT);
	if (err != -EINPROGRESS && err != 0) {
		connect_failed(log, now);
		return;
	}
	log->state = LOG_CONNECTING;
	log->connect_deadline_ns = now + LOG_CONNECT_TIMEOUT_NS;
}

static void check_connect(struct log_stream *log, uint64_t now)
{
	struct vsock_addr peer;

	if (vsock_sock_error(log->sock) < 0) {
		connect_failed(log, now);
	} else if (vsock_getpeername(log->sock, &peer) == 0) {
		log->state = LOG_CONNECTED;
		log->backoff_ns = LOG_BACKOFF_MIN_NS;
		log->connects++;
		log->send_next = log->acked + 1; /* replay what was not acknowledged */
		log->reported_to = log->acked;   /* and report again what is lost */
		log->batch_len = log->batch_sent = 0;
		log->ack_used = 0;
		log->ack_pending = false;
		log->waiting_since_ns = 0;
	} else if (now >= log->connect_deadline_ns) {
		connect_failed(log, now);
	}
}

static void handle_ack_line(struct log_stream *log, const char *line)
{
	unsigned long long seq;
	char *end;

	if (strncmp(line, "ACK ", 4) != 0)
		return;
	seq = strtoull(line + 4, &end, 10);
	if (*end && *end != '\r')
		return;
	if (seq >= log->send_next)
		seq = log->send_next - 1; /* cannot acknowledge what was not sent */
	if (seq > log->acked) {
		log->acked = seq;
		log->ack_pending = false;  /* progress: a new request may go */
		log->waiting_since_ns = 0; /* and output gets a fresh grace */
	}
}

static void read_acks(struct log_stream *log, uint64_t now)
{
	for (int round = 0; round < LOG_ACK_ROUNDS; round++) {
		char buf[256];
		ssize_t n = vsock_recv(log->sock, buf, sizeof(buf), VSOCK_DONTWAIT);

		if (n == -EAGAIN)
			return;
		if (n <= 0) {
			connection_lost(log, now);
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				log->ack_line[log->ack_used] = '\0';
				handle_ack_line(log, log->ack_line);
				log->ack_used = 0;
			} else if (log->ack_used < sizeof(log->ack_line) - 1) {
				log->ack_line[log->ack_used++] = buf[i];
			}
		}
	}
}

struct vsock_sock *log_stream_pollfd(const struct log_stream *log, short *events)
{
	switch (log->state) {
	case LOG_CONNECTING:
		*events = VSOCK_POLLOUT;
		return log->sock;
	case LOG_CONNECTED:
		*events = VSOCK_POLLIN;
		if (log->batch_sent < log->batch_len || log->send_next < log->next_seq)
			*events |= VSOCK_POLLOUT;
		return log->sock;
	default:
		*events = 0;
		return NULL;
	}
}

uint64_t log_stream_deadline(const struct log_stream *log, uint64_t now)
{
	uint64_t deadline = PLATFORM_FOREVER;

	if (log->state == LOG_IDLE)
		deadline = log->retry_at_ns;
	else if (log->state == LOG_CONNECTING)
		deadline = log->connect_deadline_ns;
	/* held-back output may go once the grace ends: for a lost listener, or
	 * for a connected one that does not acknowledge */
	if (log->state != LOG_CONNECTED && log->lost_at_ns &&
	    now - log->lost_at_ns < log->opts->log_grace_ns &&
	    log->lost_at_ns + log->opts->log_grace_ns < deadline)
		deadline = log->lost_at_ns + log->opts->log_grace_ns;
	if (log->state == LOG_CONNECTED && log->waiting_since_ns &&
	    now - log->waiting_since_ns < log->opts->log_grace_ns &&
	    log->waiting_since_ns + log->opts->log_grace_ns < deadline)
		deadline = log->waiting_since_ns + log->opts->log_grace_ns;
	return deadline;
}

void log_stream_serve(struct log_stream *log, short revents, uint64_t now)
{
	switch (log->state) {
	case LOG_IDLE:
		if (now >= log->retry_at_ns)
			start_connect(log, now);
		break;
	case LOG_CONNECTING:
		check_connect(log, now);
		break;
	case LOG_CONNECTED:
		if (revents & (VSOCK_POLLIN | VSOCK_POLLERR | VSOCK_POLLHUP))
			read_acks(log, now);
		break;
	case LOG_OFF:
		break;
	}
}

/*
 * Everything is sent: ask for an ACK (LOG_ACK_REQUEST) when half the ring
 * or more waits for one, or output waits -- one request at a time, again
 * only after the host acknowledged something.  0 or the line's length.
 */
static size_t ack_request(struct log_stream *log, char *buf, size_t cap)
{
	uint64_t sent = log->send_next - 1;

	if (log->ack_pending || sent <= log->acked ||
	    (sent - log->acked < log->opts->log_ring / 2 && !window_full(log)))
		return 0;
	log->ack_pending = true;
	log->ack_requests++;
	return (size_t)snprintf(buf, cap, LOG_ACK_REQUEST_FORMAT "\n", (unsigned long long)sent);
}

void log_stream_flush(struct log_stream *log, uint64_t now)
{
	while (log->state == LOG_CONNECTED) {
		ssize_t n;

		if (log->batch_sent == log->batch_len) {
			log->batch_len = fill_batch(log, log->batch, LOG_BATCH);
			if (!log->batch_len)
				log->batch_len = ack_request(log, log->batch, LOG_BATCH);
			log->batch_sent = 0;
			if (!log->batch_len)
				return;
		}
		n = vsock_send(log->sock, log->batch + log->batch_sent,
		               log->batch_len - log->batch_sent, VSOCK_DONTWAIT);
		if (n == -EAGAIN)
			return;
		if (n < 0) {
			connection_lost(log, now);
			return;
		}
		log->batch_sent += (size_t)n;
	}
}

int log_stream_init(struct log_stream *log, const struct agent_options *opts,
                    struct vsock_core *core)
{
	memset(log, 0, sizeof(*log));
	log->opts = opts;
	log->core = core;
	log->first_seq = log->next_seq = log->send_next = 1;
	log->backoff_ns = LOG_BACKOFF_MIN_NS;
	log->state = LOG_OFF;
	if (!opts->log_ring)
		return 0;
	log->ring = calloc(opts->log_ring, sizeof(*log->ring));
	if (!log->ring)
		return -ENOMEM;
	if (!opts->log_port)
		return 0;
	log->batch = malloc(LOG_BATCH);
	if (!log->batch) {
		log_printf("agent: no memory for the log stream; logs stay in the ring\n");
		return 0;
	}
	log->state = LOG_IDLE; /* retry_at_ns 0: connect at once */
	return 0;
}

void log_stream_stop(struct log_stream *log)
{
	log->stopping = true;
	if (log->sock)
		vsock_close(log->sock);
	log->sock = NULL;
	log->state = LOG_OFF;
}

void log_stream_free(struct log_stream *log)
{
	log_stream_stop(log);
	free(log->batch);
	free(log->ring);
	log->batch = NULL;
	log->ring = NULL;
}
