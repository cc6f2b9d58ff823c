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
 * overwrite unacknowledged records the host gets, in their place, one
 *   {"level":"WARN","msg":"dropped","from":A,"to":B,...}
 * record (it has no seq of its own).  Making a record never blocks; only
 * program output waits for a listener that is behind (or reconnecting
 * within agent.log_grace).  `ts` counts from boot on the 1970-01-01 epoch:
 * the image has no wall clock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/internal.h"
#include "include/log.h"

#define LOG_STACK (16 << 10)
#define LOG_BATCH 8192           /* bytes per send */
#define LOG_BACKOFF_MIN_NS 50000000ull
#define LOG_WAIT_MARGIN 8        /* output waits when this close to full */

static void format_ts(char *buf, size_t len, uint64_t ns)
{
	uint64_t s = ns / 1000000000ull;

	snprintf(buf, len, "1970-01-%02uT%02u:%02u:%02u.%09uZ", (unsigned)(1 + s / 86400 % 28),
		 (unsigned)(s / 3600 % 24), (unsigned)(s / 60 % 60), (unsigned)(s % 60),
		 (unsigned)(ns % 1000000000ull));
}

/* JSON-escape `len` bytes into out (room `cap`); returns bytes written. */
static size_t json_escape(char *out, size_t cap, const char *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
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
	return o;
}

void log_record_locked(struct agent *agent, const char *level, const char *subsystem,
		       const char *container_id, const char *stream, const char *msg,
		       size_t msg_len)
{
	struct log_stream *log = &agent->log;
	unsigned n = agent->opts.log_ring;
	char trailer[320], ts[48], escaped[LOG_SLOT_BYTES];
	struct log_slot *slot;
	size_t room, elen;
	int tlen;

	if (!log->ring)
		return;
	if (log->next_seq - log->first_seq == n) { /* full: the oldest goes */
		if (log->first_seq > log->acked)
			log->dropped++;
		log->first_seq++;
	}
	format_ts(ts, sizeof(ts), platform_now_ns());
	tlen = snprintf(trailer, sizeof(trailer),
			"\",\"level\":\"%s\",\"ts\":\"%s\",\"name\":\"vsock-agent\","
			"\"source\":\"agent\",\"subsystem\":\"%s\",\"seq\":%llu,\"boot_id\":\"%s\","
			"\"container_id\":\"%s\",\"stream\":\"%s\"}\n",
			level, ts, subsystem, (unsigned long long)log->next_seq,
			agent->opts.boot_id, container_id, stream);
	if (tlen < 0 || (size_t)tlen >= sizeof(trailer))
		tlen = 0;
	room = LOG_SLOT_BYTES - 8 - (size_t)tlen;
	elen = json_escape(escaped, room, msg, msg_len);
	slot = &log->ring[log->next_seq % n];
	slot->seq = log->next_seq;
	memcpy(slot->text, "{\"msg\":\"", 8);
	memcpy(slot->text + 8, escaped, elen);
	memcpy(slot->text + 8 + elen, trailer, (size_t)tlen);
	slot->len = (uint16_t)(8 + elen + (size_t)tlen);
	log->next_seq++;
	platform_wake(&log->wq);
}

void agent_log_locked(struct agent *agent, const char *level, const char *container_id,
		      const char *fmt, ...)
{
	char msg[LOG_MSG_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	log_record_locked(agent, level, "agent", container_id, "agent", msg, (size_t)n);
	if (strcmp(level, "info") != 0)
		log_printf("agent: %s\n", msg);
}

bool log_output_should_wait_locked(struct agent *agent, uint64_t now)
{
	struct log_stream *log = &agent->log;
	uint64_t oldest_unacked = log->acked + 1 > log->first_seq ? log->acked + 1 : log->first_seq;

	if (!log->ring || log->next_seq - oldest_unacked + LOG_WAIT_MARGIN < agent->opts.log_ring)
		return false;
	if (agent->stopping)
		return false;
	if (log->connected)
		return true;
	return log->lost_at_ns && now - log->lost_at_ns < agent->opts.log_grace_ns;
}

/* ---- the sender: connect, send, reconnect ---- */

static bool stopping(struct agent *agent)
{
	bool stop;

	platform_lock();
	stop = agent->stopping;
	platform_unlock();
	return stop;
}

/* Next batch of lines into buf (lock held); 0 when nothing is due. */
static size_t fill_batch_locked(struct agent *agent, char *buf, size_t cap)
{
	struct log_stream *log = &agent->log;
	size_t used = 0;
	char ts[48];

	if (log->send_next < log->first_seq) { /* overwritten before the host had them */
		format_ts(ts, sizeof(ts), platform_now_ns());
		used = (size_t)snprintf(buf, cap,
					"{\"level\":\"WARN\",\"msg\":\"dropped\",\"from\":%llu,"
					"\"to\":%llu,\"ts\":\"%s\",\"name\":\"vsock-agent\","
					"\"source\":\"agent\",\"subsystem\":\"log\",\"boot_id\":\"%s\","
					"\"container_id\":\"\",\"stream\":\"agent\"}\n",
					(unsigned long long)log->send_next,
					(unsigned long long)(log->first_seq - 1), ts,
					agent->opts.boot_id);
		log->send_next = log->first_seq;
	}
	while (log->send_next < log->next_seq) {
		struct log_slot *slot = &log->ring[log->send_next % agent->opts.log_ring];

		if (used + slot->len > cap)
			break;
		memcpy(buf + used, slot->text, slot->len);
		used += slot->len;
		log->send_next++;
	}
	return used;
}

static void log_pump(struct agent *agent, struct vsock_sock *sock, char *batch)
{
	struct log_stream *log = &agent->log;

	for (;;) {
		size_t len = 0;

		platform_lock();
		while (log->connected && !agent->stopping &&
		       !(len = fill_batch_locked(agent, batch, LOG_BATCH)))
			platform_wait(&log->wq, platform_now_ns() + agent->opts.poll_slice_ns);
		platform_unlock();
		if (!len)
			return;
		if (vsock_send(sock, batch, len, 0) < 0)
			return;
	}
}

static void log_sender(void *arg)
{
	struct agent *agent = arg;
	struct log_stream *log = &agent->log;
	struct vsock_addr host = { agent->opts.log_cid, agent->opts.log_port };
	uint64_t backoff = LOG_BACKOFF_MIN_NS;
	char *batch = malloc(LOG_BATCH);

	if (!batch) {
		log_printf("agent: no memory for the log stream; logs stay in the ring\n");
		return;
	}
	while (!stopping(agent)) {
		struct vsock_sock *sock;
		int err = vsock_socket(agent->core, VSOCK_TYPE_STREAM, &sock);

		if (err == 0) {
			vsock_setopt(sock, VSOCK_OPT_CONNECT_TIMEOUT_NS, 1000000000ull);
			err = vsock_connect(sock, &host, 0);
			if (err < 0)
				vsock_close(sock);
		}
		if (err < 0) {
			platform_lock();
			if (!agent->stopping)
				platform_wait(&agent->stop_wq, platform_now_ns() + backoff);
			platform_unlock();
			backoff = backoff * 2 < agent->opts.log_backoff_max_ns
					  ? backoff * 2 : agent->opts.log_backoff_max_ns;
			continue;
		}
		backoff = LOG_BACKOFF_MIN_NS;
		vsock_setopt(sock, VSOCK_OPT_RCVTIMEO_NS, agent->opts.poll_slice_ns);
		platform_lock();
		log->sock = sock;
		log->connected = true;
		log->acker_busy = true;
		log->connects++;
		log->send_next = log->acked + 1; /* replay what was not acknowledged */
		platform_wake(&log->wq);
		platform_unlock();

		log_pump(agent, sock, batch);

		vsock_shutdown(sock, VSOCK_SHUT_RDWR);
		platform_lock();
		log->connected = false;
		log->lost_at_ns = platform_now_ns();
		platform_wake(&log->wq);
		while (log->acker_busy)
			platform_wait(&log->wq, platform_now_ns() + agent->opts.poll_slice_ns);
		log->sock = NULL;
		platform_unlock();
		vsock_close(sock);
	}
	free(batch);
}

/* ---- the acknowledgement reader ---- */

static void handle_ack_line(struct agent *agent, const char *line)
{
	struct log_stream *log = &agent->log;
	unsigned long long seq;
	char *end;

	if (strncmp(line, "ACK ", 4) != 0)
		return;
	seq = strtoull(line + 4, &end, 10);
	if (*end && *end != '\r')
		return;
	platform_lock();
	if (seq >= log->send_next)
		seq = log->send_next - 1; /* cannot acknowledge what was not sent */
	if (seq > log->acked) {
		log->acked = seq;
		platform_wake(&log->space_wq);
	}
	platform_unlock();
}

static void log_acker(void *arg)
{
	struct agent *agent = arg;
	struct log_stream *log = &agent->log;
	char line[64];
	size_t used = 0;

	for (;;) {
		struct vsock_sock *sock;

		platform_lock();
		while (!agent->stopping && !(log->sock && log->acker_busy))
			platform_wait(&log->wq, platform_now_ns() + agent->opts.poll_slice_ns);
		sock = agent->stopping ? NULL : log->sock;
		platform_unlock();
		if (!sock)
			break;
		used = 0;
		for (;;) {
			char buf[256];
			ssize_t n = vsock_recv(sock, buf, sizeof(buf), 0);
			bool over;

			if (n == -EAGAIN) {
				platform_lock();
				over = agent->stopping || !log->connected;
				platform_unlock();
				if (over)
					break;
				continue;
			}
			if (n <= 0)
				break;
			for (ssize_t i = 0; i < n; i++) {
				if (buf[i] == '\n') {
					line[used] = '\0';
					handle_ack_line(agent, line);
					used = 0;
				} else if (used < sizeof(line) - 1) {
					line[used++] = buf[i];
				}
			}
		}
		platform_lock();
		log->connected = false;
		log->acker_busy = false;
		platform_wake(&log->wq);
		platform_unlock();
	}
	platform_lock();
	log->acker_busy = false;
	platform_wake(&log->wq);
	platform_unlock();
}

int log_stream_init(struct agent *agent)
{
	struct log_stream *log = &agent->log;

	log->first_seq = log->next_seq = log->send_next = 1;
	if (!agent->opts.log_ring)
		return 0;
	log->ring = calloc(agent->opts.log_ring, sizeof(*log->ring));
	return log->ring ? 0 : -ENOMEM;
}

int log_stream_start(struct agent *agent)
{
	int err;

	if (!agent->opts.log_port || !agent->log.ring)
		return 0;
	err = agent_spawn(agent, "log-acker", log_acker, agent, LOG_STACK, NULL, NULL);
	if (err == 0)
		err = agent_spawn(agent, "log-sender", log_sender, agent, LOG_STACK, NULL, NULL);
	return err;
}

void log_stream_stop(struct agent *agent)
{
	platform_lock();
	platform_wake(&agent->log.wq);
	platform_wake(&agent->log.space_wq);
	platform_unlock();
}

void log_stream_free(struct agent *agent)
{
	free(agent->log.ring);
	agent->log.ring = NULL;
}
