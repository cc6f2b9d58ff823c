/*
 * ttrpc.c -- the ttRPC server (containerd/ttrpc PROTOCOL.md, DESIGN §5).
 *
 * A frame is a 10-byte big-endian header -- length u32, stream id u32,
 * type u8 (1 request, 2 response, 3 data), flags u8 -- and `length` bytes
 * of protobuf: a ttrpc.Request from the client, a ttrpc.Response back on
 * the same (odd) stream id.  The agent task serves every connection from
 * one poll loop: it reads what has arrived, hands each complete request
 * to the service, and sends the queued answers in whatever order they are
 * ready (a parked WaitProcess does not hold up the Health.Check behind it).
 *
 * Bad input never ends a connection: an oversized frame is skipped and
 * answered RESOURCE_EXHAUSTED, an undecodable one INVALID_ARGUMENT, a
 * method we do not have UNIMPLEMENTED.
 *
 * Answers a peer does not take are bounded (issue 12, hole 10): once
 * CONN_OUT_MAX bytes of them wait for one connection -- or SERVER_OUT_MAX
 * for all, and this connection has some -- the connection is "congested":
 * it is not read (its requests wait in vsock's window, so the peer's sends
 * block), and its parked reads wait too.  It is read again as soon as its
 * answers drain.  Each queued answer is counted with OUT_FRAME_COST bytes
 * of bookkeeping, so a flood of tiny answers is bounded as well.
 */
#include "agent/ttrpc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pb_decode.h>
#include <pb_encode.h>

#include "agent/sandbox.h"
#include "include/log.h"
#include "ttrpc.pb.h"

#define TYPE_REQUEST      1
#define TYPE_RESPONSE     2
#define READ_ROUNDS       16           /* receives per connection per step (fairness) */
#define SKIP_CHUNK        1024         /* bytes of a refused frame discarded per receive */
#define FRAME_FIRST_BYTES 4096         /* a payload buffer starts this big (or frame_len) */
#define SEND_BATCH        4096         /* small answers are sent together, this much at once */
#define ACCEPT_BATCH      32           /* connections accepted per step */
#define CONN_OUT_MAX      (256u << 10) /* answer bytes queued for one connection: congested */
#define SERVER_OUT_MAX    (1u << 20)   /* ... for all: connections with answers queued are */
#define OUT_FRAME_COST    64           /* bytes counted per queued answer besides its own */

/* One encoded ttRPC frame waiting to be sent. */
struct out_frame {
	struct out_frame *next; /* queue order */
	bool power_off_after;   /* DestroySandbox: power off once sent */
	size_t len;             /* bytes in data */
	uint8_t data[];         /* header + payload */
};

static struct conn *conn_of(struct service_peer *peer)
{
	return (struct conn *)((char *)peer - offsetof(struct conn, calls));
}

/* ---- answers waiting for their peer ---- */

static size_t frame_cost(const struct out_frame *frame)
{
	return frame->len + OUT_FRAME_COST;
}

static bool conn_congested(const struct conn *conn)
{
	return conn->out_bytes >= CONN_OUT_MAX ||
	       (conn->server->out_bytes >= SERVER_OUT_MAX && conn->out_bytes > 0);
}

/* Every connection's flag for the service; true when one was congested and is not now. */
static bool refresh_congestion(struct ttrpc_server *srv)
{
	bool freed = false;

	for (struct conn *conn = srv->conns; conn; conn = conn->next) {
		bool congested = conn_congested(conn);

		freed |= conn->calls.congested && !congested;
		conn->calls.congested = congested;
	}
	return freed;
}

static void queue_frame(struct conn *conn, struct out_frame *frame)
{
	if (conn->out_tail)
		conn->out_tail->next = frame;
	else
		conn->out_head = frame;
	conn->out_tail = frame;
	conn->out_bytes += frame_cost(frame);
	conn->server->out_bytes += frame_cost(frame);
	if (conn->server->out_bytes > conn->server->out_peak)
		conn->server->out_peak = conn->server->out_bytes;
	refresh_congestion(conn->server);
}

/* The oldest answer is sent (or dropped): free it. */
static void unqueue_frame(struct conn *conn)
{
	struct out_frame *frame = conn->out_head;

	conn->out_head = frame->next;
	if (!conn->out_head)
		conn->out_tail = NULL;
	conn->out_sent = 0;
	conn->out_bytes -= frame_cost(frame);
	conn->server->out_bytes -= frame_cost(frame);
	free(frame);
}

/* ---- answers ---- */

struct bytes_ref {
	const uint8_t *data; /* bytes to encode */
	size_t len;          /* how many */
};

static bool encode_bytes(pb_ostream_t *stream, const pb_field_t *field, void *const *arg)
{
	const struct bytes_ref *ref = *arg;

	if (!ref->len)
		return true; /* proto3: an empty field is left out */
	return pb_encode_tag_for_field(stream, field) &&
	       pb_encode_string(stream, ref->data, ref->len);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One response frame; NULL when out of memory. */
static struct out_frame *encode_response(uint32_t stream_id, int code, const char *message,
                                         const pb_msgdesc_t *fields, const void *msg)
{
	ttrpc_Response resp = ttrpc_Response_init_zero;
	struct bytes_ref inner = { NULL, 0 }, message_ref;
	struct out_frame *frame = NULL;
	uint8_t *inner_buf = NULL;
	pb_ostream_t os;
	size_t total;

	if (fields && code == GRPC_OK) {
		if (!pb_get_encoded_size(&inner.len, fields, msg))
			return NULL;
		inner_buf = malloc(inner.len ? inner.len : 1);
		if (!inner_buf)
			return NULL;
		os = pb_ostream_from_buffer(inner_buf, inner.len);
		if (!pb_encode(&os, fields, msg))
			goto out;
		inner.data = inner_buf;
	}
	resp.has_status = true;
	resp.status.code = code;
	message_ref = (struct bytes_ref){ (const uint8_t *)message, message ? strlen(message) : 0 };
	resp.status.message.funcs.encode = encode_bytes;
	resp.status.message.arg = &message_ref;
	resp.payload.funcs.encode = encode_bytes;
	resp.payload.arg = &inner;
	if (!pb_get_encoded_size(&total, ttrpc_Response_fields, &resp))
		goto out;
	frame = malloc(sizeof(*frame) + TTRPC_FRAME_HEADER + total);
	if (!frame)
		goto out;
	frame->next = NULL;
	frame->power_off_after = false;
	frame->len = TTRPC_FRAME_HEADER + total;
	put_be32(frame->data, (uint32_t)total);
	put_be32(frame->data + 4, stream_id);
	frame->data[8] = TYPE_RESPONSE;
	frame->data[9] = 0;
	os = pb_ostream_from_buffer(frame->data + TTRPC_FRAME_HEADER, total);
	if (!pb_encode(&os, ttrpc_Response_fields, &resp)) {
		free(frame);
		frame = NULL;
	}
out:
	free(inner_buf);
	return frame;
}

void ttrpc_respond(void *ctx, struct service_peer *peer, uint32_t stream_id, int code,
                   const char *message, const pb_msgdesc_t *fields, const void *msg,
                   bool power_off_after)
{
	struct ttrpc_server *srv = ctx;
	struct conn *conn = conn_of(peer);
	struct out_frame *frame;

	srv->requests++;
	if (conn->closing)
		return;
	frame = encode_response(stream_id, code, message, fields, msg);
	if (!frame && code == GRPC_OK) /* e.g. no memory for a big read */
		frame = encode_response(stream_id, GRPC_RESOURCE_EXHAUSTED,
		                        "agent is out of memory for the response", NULL, NULL);
	if (!frame) {
		log_printf("agent: dropping the response to stream %u: out of memory\n", stream_id);
		return;
	}
	frame->power_off_after = power_off_after;
	queue_frame(conn, frame);
}

static void conn_error(struct conn *conn, uint32_t stream_id, int code, const char *message)
{
	ttrpc_respond(conn->server, &conn->calls, stream_id, code, message, NULL, NULL, false);
}

/* ---- policy ---- */

static bool method_listed(const char *list, const char *service, const char *method)
{
	size_t mlen = strlen(method), slen = strlen(service);

	if (!list[0])
		return true;
	for (const char *p = list; *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if ((n == mlen && memcmp(p, method, n) == 0) ||
		    (n == slen + 1 + mlen && memcmp(p, service, slen) == 0 && p[slen] == '/' &&
		     memcmp(p + slen + 1, method, mlen) == 0) ||
		    (n == 3 && memcmp(p, "all", 3) == 0))
			return true;
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

static bool cid_allowed(const struct agent_options *o, uint64_t cid)
{
	for (unsigned i = 0; i < o->n_allowed_cids; i++)
		if (o->allowed_cids[i] == cid)
			return true;
	return o->n_allowed_cids == 0;
}

/* NULL when allowed, else why not.  (A refused CID never gets this far: it
 * is turned away at accept; checked again all the same.) */
static const char *policy_check(const struct agent_options *o, const struct vsock_addr *peer,
                                const char *service, const char *method)
{
	if (!cid_allowed(o, peer->cid))
		return "peer CID is not in agent.allowed_cids";
	if (!method_listed(o->allowed_methods, service, method))
		return "method is not in agent.allowed_methods";
	return NULL;
}

/* ---- what peers make us log: rate-limited (agent_log escapes it for the console) ---- */

static void peer_log_summary(struct ttrpc_server *srv, uint64_t suppressed)
{
	if (suppressed)
		agent_log(srv->log, "warn", "",
		          "ttrpc: %llu more warnings about peers were not "
		          "logged (more than %u a second)",
		          (unsigned long long)suppressed, LOG_LIMIT_BURST);
}

static void peer_warn(struct ttrpc_server *srv, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void peer_warn(struct ttrpc_server *srv, const char *fmt, ...)
{
	char msg[LOG_MSG_MAX];
	uint64_t suppressed;
	va_list ap;

	if (!log_limit_allow(&srv->peer_log, platform_now_ns(), &suppressed))
		return;
	peer_log_summary(srv, suppressed);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	agent_log(srv->log, "warn", "", "%s", msg);
}

/* Warnings not logged in a window that has ended: say how many. */
static void peer_log_catch_up(struct ttrpc_server *srv, uint64_t now)
{
	uint64_t suppressed;

	if (srv->peer_log.suppressed &&
	    now - srv->peer_log.window_start_ns >= LOG_LIMIT_WINDOW_NS &&
	    log_limit_allow(&srv->peer_log, now, &suppressed))
		peer_log_summary(srv, suppressed);
}

/* ---- requests ---- */

static void frame_error(struct conn *conn, uint32_t stream_id, int code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void frame_error(struct conn *conn, uint32_t stream_id, int code, const char *fmt, ...)
{
	char message[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	conn->server->bad_frames++;
	peer_warn(conn->server, "ttrpc: peer %llu:%u stream %u: %s",
	          (unsigned long long)conn->peer.cid, conn->peer.port, stream_id, message);
	conn_error(conn, stream_id, code, message);
}

static bool decode_payload(pb_istream_t *stream, const pb_field_t *field, void **arg)
{
	struct call *call = *arg;

	call->payload = stream->state;
	call->payload_len = stream->bytes_left;
	return pb_read(stream, NULL, stream->bytes_left);
}

static void handle_request(struct conn *conn, uint32_t stream_id, const uint8_t *buf, size_t len)
{
	struct ttrpc_server *srv = conn->server;
	ttrpc_Request req = ttrpc_Request_init_zero;
	struct call call = { .service = srv->service,
		             .peer = &conn->calls,
		             .stream_id = stream_id,
		             .deadline_ns = PLATFORM_FOREVER };
	pb_istream_t is = pb_istream_from_buffer(buf, len);
	char message[256];
	const char *why;

	req.payload.funcs.decode = decode_payload;
	req.payload.arg = &call;
	if (!pb_decode(&is, ttrpc_Request_fields, &req)) {
		frame_error(conn, stream_id, GRPC_INVALID_ARGUMENT, "malformed ttRPC request (%s)",
		            PB_GET_ERROR(&is));
		return;
	}
	if (!call.payload)
		call.payload = (const uint8_t *)"";
	if (req.timeout_nano > 0)
		call.deadline_ns = platform_now_ns() + (uint64_t)req.timeout_nano;
	/* a method we do not have is UNIMPLEMENTED whatever the policy says:
	 * Kata's runtimes tolerate that answer, not PERMISSION_DENIED */
	if (!service_method_known(req.service, req.method)) {
		peer_warn(srv, "%s/%s from CID %llu: not implemented by this agent", req.service,
		          req.method, (unsigned long long)conn->peer.cid);
		snprintf(message, sizeof(message), "%s/%s is not implemented by this agent",
		         req.service, req.method);
		conn_error(conn, stream_id, GRPC_UNIMPLEMENTED, message);
		return;
	}
	why = policy_check(srv->opts, &conn->peer, req.service, req.method);
	if (!why)
		why = sandbox_policy_refusal(srv->service, req.service, req.method);
	if (why) {
		srv->denied++;
		peer_warn(srv, "policy denied %s/%s from CID %llu: %s", req.service, req.method,
		          (unsigned long long)conn->peer.cid, why);
		snprintf(message, sizeof(message), "%s/%s from CID %llu: %s", req.service,
		         req.method, (unsigned long long)conn->peer.cid, why);
		conn_error(conn, stream_id, GRPC_PERMISSION_DENIED, message);
		return;
	}
	service_dispatch(&call, req.service, req.method);
}

/* ---- frames coming in ---- */

/* What a buffer of `cap` bytes counts against opts->rx_budget. */
static size_t over_first(size_t cap)
{
	return cap > FRAME_FIRST_BYTES ? cap - FRAME_FIRST_BYTES : 0;
}

/* The payload buffer goes (its bytes leave the receive budget). */
static void frame_release(struct conn *conn)
{
	free(conn->frame);
	conn->server->rx_bytes -= conn->frame_cap;
	conn->server->rx_over -= over_first(conn->frame_cap);
	conn->frame = NULL;
	conn->frame_cap = 0;
}

/*
 * Room for more of the payload: the buffer grows as bytes arrive (a header
 * alone claims nothing), doubling up to frame_len.  Each connection may
 * hold FRAME_FIRST_BYTES, so small requests always get through; what all
 * connections hold beyond that stays within opts->rx_budget.  false: no
 * room (the frame is skipped and answered RESOURCE_EXHAUSTED).
 */
static bool frame_grow(struct conn *conn)
{
	struct ttrpc_server *srv = conn->server;
	size_t cap = conn->frame_cap * 2 > FRAME_FIRST_BYTES ? conn->frame_cap * 2 :
	                                                       FRAME_FIRST_BYTES;
	uint8_t *bigger;

	if (cap > conn->frame_len)
		cap = conn->frame_len;
	if (srv->rx_over - over_first(conn->frame_cap) + over_first(cap) > srv->opts->rx_budget)
		return false;
	bigger = realloc(conn->frame, cap);
	if (!bigger)
		return false;
	srv->rx_over += over_first(cap) - over_first(conn->frame_cap);
	srv->rx_bytes += cap - conn->frame_cap;
	if (srv->rx_bytes > srv->rx_peak)
		srv->rx_peak = srv->rx_bytes;
	conn->frame = bigger;
	conn->frame_cap = cap;
	return true;
}

/* A whole frame is in: answer it. */
static void frame_done(struct conn *conn)
{
	uint32_t stream_id = get_be32(conn->hdr + 4);
	uint8_t type = conn->hdr[8];

	if (type != TYPE_REQUEST)
		frame_error(conn, stream_id, GRPC_INVALID_ARGUMENT,
		            "frame type %u is not a request (streams are not supported)", type);
	else if ((stream_id & 1) == 0)
		frame_error(conn, stream_id, GRPC_INVALID_ARGUMENT,
		            "stream id %u is even: client streams must be odd", stream_id);
	else
		handle_request(conn, stream_id, conn->frame ? conn->frame : (uint8_t *)"",
		               conn->frame_len);
	frame_release(conn);
	conn->hdr_got = conn->frame_got = 0;
}

/* A refused frame has been skipped: say why. */
static void skip_done(struct conn *conn)
{
	uint32_t stream_id = get_be32(conn->hdr + 4);

	if (strcmp(conn->skip_why, "too big") == 0)
		frame_error(conn, stream_id, GRPC_RESOURCE_EXHAUSTED,
		            "message length %u exceeds the maximum message size of %zu",
		            conn->frame_len, conn->server->opts->max_frame);
	else
		frame_error(conn, stream_id, GRPC_RESOURCE_EXHAUSTED,
		            "agent is out of memory for a %u-byte message (partly received "
		            "messages may hold %zu bytes in all)",
		            conn->frame_len, conn->server->opts->rx_budget);
	conn->hdr_got = conn->frame_got = 0;
}

/* The header is in: take the payload as it comes, or skip it. */
static void header_done(struct conn *conn)
{
	conn->frame_len = get_be32(conn->hdr);
	conn->frame_got = 0;
	if (conn->frame_len > conn->server->opts->max_frame) {
		conn->skip_why = "too big";
		conn->skip = conn->frame_len;
	} else if (conn->frame_len == 0) {
		frame_done(conn);
	}
}

/* No room for the rest of this frame: drop it, skip what is still to come. */
static void frame_refuse(struct conn *conn)
{
	frame_release(conn);
	conn->skip_why = "no memory";
	conn->skip = conn->frame_len - conn->frame_got;
}

/* The peer sent its last request (or the connection failed). */
static void conn_stop_reading(struct conn *conn)
{
	conn->closing = true;
	frame_release(conn);
	service_peer_gone(conn->server->service, &conn->calls);
}

/* Payload bytes arrived (in the buffer, or in `scratch` when it was full). */
static void payload_in(struct conn *conn, const uint8_t *scratch, size_t n)
{
	if (scratch) {
		/* the buffer grows only now that bytes have come */
		if (!frame_grow(conn)) {
			frame_refuse(conn);
			conn->skip -= n;
			if (!conn->skip)
				skip_done(conn);
			return;
		}
		memcpy(conn->frame + conn->frame_got, scratch, n);
	}
	conn->frame_got += n;
	if (conn->frame_got == conn->frame_len)
		frame_done(conn);
}

/* Read what has arrived, a bounded amount per step. */
static void conn_read(struct conn *conn)
{
	for (unsigned round = 0; round < READ_ROUNDS && !conn->closing && !conn->calls.congested;
	     round++) {
		uint8_t scratch[SKIP_CHUNK];
		uint8_t *dst = scratch;
		size_t want;
		ssize_t n;

		if (conn->skip) {
			want = conn->skip;
		} else if (conn->hdr_got < TTRPC_FRAME_HEADER) {
			dst = conn->hdr + conn->hdr_got;
			want = TTRPC_FRAME_HEADER - conn->hdr_got;
		} else if (conn->frame_got < conn->frame_cap) {
			dst = conn->frame + conn->frame_got;
			want = conn->frame_cap - conn->frame_got;
		} else {
			want = conn->frame_len - conn->frame_got; /* into scratch, then grow */
		}
		if (dst == scratch && want > sizeof(scratch))
			want = sizeof(scratch);
		n = vsock_recv(conn->sock, dst, want, VSOCK_DONTWAIT);
		if (n == -EAGAIN)
			return;
		if (n <= 0) {
			conn_stop_reading(conn);
			return;
		}
		if (conn->skip) {
			conn->skip -= (size_t)n;
			if (!conn->skip)
				skip_done(conn);
		} else if (conn->hdr_got < TTRPC_FRAME_HEADER) {
			conn->hdr_got += (size_t)n;
			if (conn->hdr_got == TTRPC_FRAME_HEADER)
				header_done(conn);
		} else {
			payload_in(conn, dst == scratch ? scratch : NULL, (size_t)n);
		}
	}
}

/* ---- connections ---- */

static void conn_drop_output(struct conn *conn)
{
	while (conn->out_head)
		unqueue_frame(conn);
}

static void conn_free(struct ttrpc_server *srv, struct conn *conn)
{
	for (struct conn **link = &srv->conns; *link; link = &(*link)->next) {
		if (*link == conn) {
			*link = conn->next;
			break;
		}
	}
	if (!conn->closing)
		conn_stop_reading(conn);
	conn_drop_output(conn);
	vsock_close(conn->sock);
	srv->nconns--;
	free(conn);
}

static void accept_new(struct ttrpc_server *srv)
{
	for (unsigned i = 0; i < ACCEPT_BATCH; i++) {
		struct vsock_sock *sock;
		struct vsock_addr peer;
		struct conn *conn;
		bool full;
		int err = vsock_accept(srv->listener, &sock, &peer, VSOCK_DONTWAIT);

		if (err == -EAGAIN)
			return;
		if (err < 0) {
			log_printf("agent: accept failed: %d\n", err);
			return;
		}
		/* A peer the policy refuses gets nothing: no slot, no buffer, no
		 * lingering close (it could hold vsock's table that way). */
		if (!cid_allowed(srv->opts, peer.cid)) {
			srv->denied++;
			peer_warn(srv,
			          "policy: refused a connection from CID %llu (port %u): the "
			          "CID is not in agent.allowed_cids",
			          (unsigned long long)peer.cid, peer.port);
			vsock_abort(sock);
			continue;
		}
		full = srv->nconns >= srv->opts->max_conns;
		conn = full ? NULL : calloc(1, sizeof(*conn));
		if (!conn) {
			peer_warn(srv, "ttrpc: refusing a connection from CID %llu: %s",
			          (unsigned long long)peer.cid,
			          full ? "too many connections (agent.max_conns)" :
			                 "out of memory");
			vsock_abort(sock);
			continue;
		}
		conn->server = srv;
		conn->sock = sock;
		conn->peer = peer;
		conn->next = srv->conns;
		srv->conns = conn;
		srv->nconns++;
	}
}

size_t ttrpc_poll_set(struct ttrpc_server *srv, struct vsock_pollfd *fds)
{
	size_t n = 0;

	fds[n++] = (struct vsock_pollfd){ .sock = srv->listener, .events = VSOCK_POLLIN };
	for (struct conn *conn = srv->conns; conn; conn = conn->next) {
		short events = 0;

		if (!conn->closing && !conn->calls.congested)
			events |= VSOCK_POLLIN;
		if (conn->out_head)
			events |= VSOCK_POLLOUT;
		fds[n++] = (struct vsock_pollfd){ .sock = conn->sock, .events = events };
	}
	return n;
}

void ttrpc_serve(struct ttrpc_server *srv, const struct vsock_pollfd *fds)
{
	size_t i = 1;

	peer_log_catch_up(srv, platform_now_ns());

	for (struct conn *conn = srv->conns; conn; conn = conn->next, i++)
		if ((fds[i].events & VSOCK_POLLIN) &&
		    (fds[i].revents & (VSOCK_POLLIN | VSOCK_POLLERR | VSOCK_POLLHUP)))
			conn_read(conn);
	if (fds[0].revents & VSOCK_POLLIN)
		accept_new(srv);
}

/* `n` more bytes of the queued answers have left: free the answers done. */
static void conn_sent(struct conn *conn, size_t n)
{
	while (n) {
		struct out_frame *frame = conn->out_head;
		size_t part = frame->len - conn->out_sent < n ? frame->len - conn->out_sent : n;

		conn->out_sent += part;
		n -= part;
		if (conn->out_sent < frame->len)
			return;
		if (frame->power_off_after)
			conn->server->power_off_due = true;
		unqueue_frame(conn);
	}
}

/*
 * Send what the peer takes now; false when the connection failed.  Small
 * answers leave together, SEND_BATCH bytes at a time: one packet for many
 * Health.Check answers rather than one each.
 */
static bool conn_send(struct conn *conn)
{
	while (conn->out_head) {
		struct out_frame *frame = conn->out_head;
		const uint8_t *data = frame->data + conn->out_sent;
		size_t len = frame->len - conn->out_sent;
		uint8_t batch[SEND_BATCH];
		ssize_t n;

		if (len < SEND_BATCH) {
			size_t used = 0;

			for (const struct out_frame *f = frame; f && used < SEND_BATCH;
			     f = f->next) {
				const uint8_t *from = f == frame ? data : f->data;
				size_t take = f == frame ? len : f->len;

				if (take > SEND_BATCH - used)
					take = SEND_BATCH - used;
				memcpy(batch + used, from, take);
				used += take;
			}
			data = batch;
			len = used;
		}
		n = vsock_send(conn->sock, data, len, VSOCK_DONTWAIT);
		if (n == -EAGAIN)
			return true;
		if (n < 0)
			return false;
		conn_sent(conn, (size_t)n);
		if ((size_t)n < len)
			return true; /* the peer's window is full */
	}
	return true;
}

bool ttrpc_flush(struct ttrpc_server *srv)
{
	for (struct conn *conn = srv->conns, *next; conn; conn = next) {
		next = conn->next;
		if (!conn_send(conn)) {
			for (struct out_frame *f = conn->out_head; f; f = f->next)
				srv->power_off_due |= f->power_off_after;
			conn_drop_output(conn);
			if (!conn->closing)
				conn_stop_reading(conn);
		}
		if (conn->closing && !conn->out_head)
			conn_free(srv, conn);
	}
	return refresh_congestion(srv);
}

int ttrpc_server_init(struct ttrpc_server *srv, const struct agent_options *opts,
                      struct vsock_core *core, struct service *service, struct log_stream *log)
{
	struct vsock_addr addr = { VSOCK_CID_ANY, opts->server_port };
	int err;

	memset(srv, 0, sizeof(*srv));
	srv->opts = opts;
	srv->core = core;
	srv->service = service;
	srv->log = log;
	err = vsock_socket(core, VSOCK_TYPE_STREAM, &srv->listener);
	if (err < 0)
		return err;
	err = vsock_bind(srv->listener, &addr);
	if (err == 0)
		err = vsock_listen(srv->listener, 64);
	if (err < 0) {
		vsock_close(srv->listener);
		srv->listener = NULL;
		log_printf("agent: cannot serve ttRPC on port %u: %d\n", addr.port, err);
	}
	return err;
}

void ttrpc_server_close(struct ttrpc_server *srv)
{
	while (srv->conns)
		conn_free(srv, srv->conns);
	vsock_close(srv->listener);
	srv->listener = NULL;
}
