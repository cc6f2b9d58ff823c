/*
 * logstream.h -- the log stream to host CID 2 (DESIGN §5): records in a
 * bounded ring until the host acknowledges them, one JSON line each, sent
 * over a connection the agent makes (and makes again, with backoff).
 *
 * Owned by the agent task; nothing here blocks.  Typical usage, in the
 * agent task's loop (agent.c):
 *	log_stream_init(&log, &opts, core);
 *	agent_log(&log, "info", "", "agent starting");   // any time
 *	for (;;) {
 *		fd.sock = log_stream_pollfd(&log, &fd.events);
 *		deadline = log_stream_deadline(&log, now);
 *		...vsock_poll...
 *		log_stream_serve(&log, fd.revents, now);     // connect, ACKs
 *		...make records...
 *		log_stream_flush(&log, now);                 // send them
 *	}
 *	log_stream_stop(&log);
 *	log_stream_free(&log);
 *
 * The acknowledgement contract (DESIGN §5; issue 12, hole 14), per line
 * on the log connection:
 *
 *   agent -> host  a record: one JSON object with "seq" (strictly
 *                  increasing per boot_id; replayed after a reconnect, so
 *                  a seq may come twice but never goes missing silently);
 *                  {"level":"WARN","msg":"dropped","from":A,"to":B,...}
 *                  (no seq): records A..B left the ring before the host
 *                  acknowledged them -- those the host did not receive are
 *                  lost, none of them will be replayed;
 *                  {"ack_request":N} (LOG_ACK_REQUEST_FORMAT, no seq): the
 *                  agent asks for an acknowledgement; N is the highest seq
 *                  it has sent on this connection.
 *   host -> agent  "ACK <seq>\n": every record up to <seq> arrived
 *                  (cumulative; any time; a '\r' before the '\n' is fine).
 *
 * A listener may acknowledge whenever it likes, but must answer an
 * ack_request promptly with "ACK <seq>" for the last record it has read
 * (>= N, since the request follows record N).  The agent asks when half
 * the ring (agent.log_ring) waits for an acknowledgement, or when program
 * output has to wait -- one request at a time, a new one only after some
 * progress.  Output waits only while the ring is (nearly) full of
 * unacknowledged records, and never longer than agent.log_grace without
 * progress (from when the wait began, the last acknowledgement, or the
 * loss of the connection); then the ring overwrites its oldest records and
 * says so with "dropped".  A listener that never acknowledges (plain
 * socat) or acknowledges lazily costs records, never a stalled program.
 */
#ifndef AGENT_LOGSTREAM_H
#define AGENT_LOGSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/options.h"
#include "vsock/socket.h"

#define LOG_MSG_MAX 256  /* bytes of output per record at most; longer lines are split */
#define LOG_BATCH   8192 /* bytes per send */

/*
 * A record is LOG_HEAD, the JSON-escaped message, then the trailer made
 * from LOG_TRAILER_FORMAT.  Each trailer field is escaped into at most the
 * room below, so LOG_TRAILER_MAX bounds the trailer and the slot always
 * holds it whole, newline included: a record is always one well-formed
 * JSON line.  The message takes the rest of the slot (at least
 * LOG_MSG_ROOM_MIN: a LOG_MSG_MAX line of plain text fits whole); output
 * whose escaped form does not fit continues in the next record, and an
 * agent message that does not fit is cut and ends in LOG_CUT_MARK.
 */
#define LOG_HEAD     "{\"msg\":\""
#define LOG_HEAD_LEN (sizeof(LOG_HEAD) - 1)
#define LOG_TRAILER_FORMAT                                                                 \
	"\",\"level\":\"%s\",\"ts\":\"%s\",\"name\":\"vsock-agent\",\"source\":\"agent\"," \
	"\"subsystem\":\"%s\",\"seq\":%llu,\"boot_id\":\"%s\",\"container_id\":\"%s\","    \
	"\"stream\":\"%s\"}\n"
#define LOG_FIELD_SHORT        16  /* level, subsystem, stream (escaped) */
#define LOG_FIELD_TS           30  /* "1970-01-01T00:00:00.000000000Z" */
#define LOG_FIELD_SEQ          20  /* a u64 in decimal */
#define LOG_FIELD_BOOT_ID      64  /* agent.boot_id: under AGENT_BOOT_ID_MAX, nothing to escape */
#define LOG_FIELD_CONTAINER_ID 160 /* an id: under AGENT_ID_MAX (128), nothing to escape */
#define LOG_TRAILER_MAX                                                                        \
	(sizeof(LOG_TRAILER_FORMAT) - 1 + 3 * LOG_FIELD_SHORT + LOG_FIELD_TS + LOG_FIELD_SEQ + \
	 LOG_FIELD_BOOT_ID + LOG_FIELD_CONTAINER_ID)
#define LOG_MSG_ROOM_MIN       LOG_MSG_MAX
#define LOG_SLOT_BYTES         768                      /* one formatted record */
#define LOG_CUT_MARK           "[...]"                  /* ends a cut agent message */
#define LOG_ACK_REQUEST_FORMAT "{\"ack_request\":%llu}" /* the agent asks for an ACK */

_Static_assert(LOG_SLOT_BYTES >= LOG_HEAD_LEN + LOG_TRAILER_MAX + LOG_MSG_ROOM_MIN,
               "a log slot holds the longest trailer and a plain LOG_MSG_MAX line");
_Static_assert(LOG_FIELD_BOOT_ID >= AGENT_BOOT_ID_MAX - 1, "boot ids fit their field");
_Static_assert(LOG_SLOT_BYTES <= UINT16_MAX, "slot lengths are u16");

struct log_slot {
	uint64_t seq;              /* record number */
	uint16_t len;              /* bytes of text, newline included */
	char text[LOG_SLOT_BYTES]; /* one JSON line */
};

enum log_state {
	LOG_OFF,        /* no log port, or stopped */
	LOG_IDLE,       /* not connected: try again at retry_at_ns */
	LOG_CONNECTING, /* a connect is under way until connect_deadline_ns */
	LOG_CONNECTED,  /* records go out on sock */
};

struct log_stream {
	const struct agent_options *opts; /* log_cid/port, ring size, grace, backoff, boot id */
	struct vsock_core *core;          /* sockets come from here */
	struct log_slot *ring;            /* opts->log_ring slots, seq % n; NULL: no records */
	uint64_t first_seq;               /* oldest record kept */
	uint64_t next_seq;                /* the next record's seq (first is 1) */
	uint64_t acked;                   /* highest seq the host acknowledged */
	uint64_t send_next;               /* next seq to send on this connection */
	uint64_t dropped;                 /* records lost before acknowledged */
	uint64_t reported_to;             /* this connection was told of drops up to this seq */
	bool ack_pending;                 /* an ACK request went out; no progress since */
	uint64_t ack_requests;            /* ACK requests sent */
	uint64_t waiting_since_ns;        /* connected: output waits since (0: not waiting) */
	uint64_t connects;                /* successful connections */
	enum log_state state;             /* see above */
	struct vsock_sock *sock;          /* CONNECTING, CONNECTED: the connection */
	uint64_t retry_at_ns;             /* IDLE: connect again then */
	uint64_t backoff_ns;              /* the next failed attempt waits this long */
	uint64_t connect_deadline_ns;     /* CONNECTING: give up then */
	uint64_t lost_at_ns;              /* when the last connection ended (0: never had one) */
	bool stopping;                    /* the agent is stopping: output never waits */
	char *batch;                      /* LOG_BATCH bytes on their way out */
	size_t batch_len;                 /* bytes in batch */
	size_t batch_sent;                /* of which sent */
	char ack_line[64];                /* a partly received "ACK <seq>" line */
	size_t ack_used;                  /* bytes in it */
};

int log_stream_init(struct log_stream *log, const struct agent_options *opts,
                    struct vsock_core *core);
void log_stream_stop(struct log_stream *log);
void log_stream_free(struct log_stream *log);

/*
 * One record; never blocks (the oldest may be overwritten).  Returns the
 * bytes of msg it holds: all of them, or fewer when their JSON escape does
 * not fit one slot -- the caller puts the rest into the next record.
 */
size_t log_record(struct log_stream *log, const char *level, const char *subsystem,
                  const char *container_id, const char *stream, const char *msg, size_t msg_len);
/* An agent record (cut to one slot); warnings also go to the console, escaped. */
void agent_log(struct log_stream *log, const char *level, const char *container_id, const char *fmt,
               ...) __attribute__((format(printf, 4, 5)));
/* Text for the console: printable ASCII as is, '\\' doubled, any other byte
 * as \xNN; NUL-terminated within cap; returns its length. */
size_t log_escape_text(char *out, size_t cap, const char *in, size_t len);
/*
 * What a peer can make the agent log is rate-limited: at most
 * LOG_LIMIT_BURST records per LOG_LIMIT_WINDOW_NS through one limiter; the
 * rest are counted, and the next record allowed says how many were not
 * made.
 *	static struct log_limit limit;
 *	if (log_limit_allow(&limit, now, &suppressed)) ...agent_log(...)...
 */
#define LOG_LIMIT_BURST     20
#define LOG_LIMIT_WINDOW_NS 1000000000ull

struct log_limit {
	uint64_t window_start_ns; /* the current window began then */
	unsigned count;           /* records allowed in it */
	uint64_t suppressed;      /* refused since the last allowed one */
};

/* true: make the record, first reporting *suppressed (if not 0) others. */
bool log_limit_allow(struct log_limit *limit, uint64_t now, uint64_t *suppressed);

/* An agent record with one more key ("sha256": the program's digest). */
void agent_log_kv(struct log_stream *log, const char *level, const char *container_id,
                  const char *key, const char *value, const char *fmt, ...)
        __attribute__((format(printf, 6, 7)));
/* Program output: should it wait for the host to catch up?  (At most
 * agent.log_grace at a time: see logstream.c.) */
bool log_output_should_wait(struct log_stream *log, uint64_t now);

/* The event loop's side. */
struct vsock_sock *log_stream_pollfd(const struct log_stream *log, short *events);
uint64_t log_stream_deadline(const struct log_stream *log, uint64_t now);
void log_stream_serve(struct log_stream *log, short revents, uint64_t now);
void log_stream_flush(struct log_stream *log, uint64_t now);

#endif
