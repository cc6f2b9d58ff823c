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
 */
#ifndef AGENT_LOGSTREAM_H
#define AGENT_LOGSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/options.h"
#include "vsock/socket.h"

#define LOG_MSG_MAX 256      /* one record's message; longer lines are split */
#define LOG_SLOT_BYTES 640   /* one formatted record (JSON-escaped message) */
#define LOG_BATCH 8192       /* bytes per send */

struct log_slot {
	uint64_t seq;                /* record number */
	uint16_t len;                /* bytes of text, newline included */
	char text[LOG_SLOT_BYTES];   /* one JSON line */
};

enum log_state {
	LOG_OFF,         /* no log port, or stopped */
	LOG_IDLE,        /* not connected: try again at retry_at_ns */
	LOG_CONNECTING,  /* a connect is under way until connect_deadline_ns */
	LOG_CONNECTED,   /* records go out on sock */
};

struct log_stream {
	const struct agent_options *opts; /* log_cid/port, ring size, grace, backoff, boot id */
	struct vsock_core *core;     /* sockets come from here */
	struct log_slot *ring;       /* opts->log_ring slots, seq % n; NULL: no records */
	uint64_t first_seq;          /* oldest record kept */
	uint64_t next_seq;           /* the next record's seq (first is 1) */
	uint64_t acked;              /* highest seq the host acknowledged */
	uint64_t send_next;          /* next seq to send on this connection */
	uint64_t dropped;            /* records lost before acknowledged */
	uint64_t connects;           /* successful connections */
	enum log_state state;        /* see above */
	struct vsock_sock *sock;     /* CONNECTING, CONNECTED: the connection */
	uint64_t retry_at_ns;        /* IDLE: connect again then */
	uint64_t backoff_ns;         /* the next failed attempt waits this long */
	uint64_t connect_deadline_ns; /* CONNECTING: give up then */
	uint64_t lost_at_ns;         /* when the last connection ended (0: never had one) */
	bool stopping;               /* the agent is stopping: output never waits */
	char *batch;                 /* LOG_BATCH bytes on their way out */
	size_t batch_len;            /* bytes in batch */
	size_t batch_sent;           /* of which sent */
	char ack_line[64];           /* a partly received "ACK <seq>" line */
	size_t ack_used;             /* bytes in it */
};

int log_stream_init(struct log_stream *log, const struct agent_options *opts,
		    struct vsock_core *core);
void log_stream_stop(struct log_stream *log);
void log_stream_free(struct log_stream *log);

/* One record; never blocks (the oldest may be overwritten). */
void log_record(struct log_stream *log, const char *level, const char *subsystem,
		const char *container_id, const char *stream, const char *msg, size_t msg_len);
/* An agent record; warnings also go to the console. */
void agent_log(struct log_stream *log, const char *level, const char *container_id,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* An agent record with one more key ("sha256": the program's digest). */
void agent_log_kv(struct log_stream *log, const char *level, const char *container_id,
		  const char *key, const char *value, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/* Program output: should it wait for the host to catch up? */
bool log_output_should_wait(const struct log_stream *log, uint64_t now);

/* The event loop's side. */
struct vsock_sock *log_stream_pollfd(const struct log_stream *log, short *events);
uint64_t log_stream_deadline(const struct log_stream *log, uint64_t now);
void log_stream_serve(struct log_stream *log, short revents, uint64_t now);
void log_stream_flush(struct log_stream *log, uint64_t now);

#endif
