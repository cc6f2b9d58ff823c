/*
 * ttrpc.c -- the ttRPC server (containerd/ttrpc PROTOCOL.md, DESIGN §5).
 *
 * A frame is a 10-byte big-endian header -- length u32, stream id u32,
 * type u8 (1 request, 2 response, 3 data), flags u8 -- and `length` bytes
 * of protobuf: a ttrpc.Request from the client, a ttrpc.Response back on
 * the same (odd) stream id.  Each connection has a reader task, which
 * decodes requests and runs handlers, and a writer task, which sends the
 * queued responses in whatever order they are ready (a parked WaitProcess
 * does not hold up the Health.Check behind it) and answers parked
 * requests whose timeout_nano has passed with DEADLINE_EXCEEDED.
 *
 * Bad input never ends a connection: an oversized frame is skipped and
 * answered RESOURCE_EXHAUSTED, an undecodable one INVALID_ARGUMENT, a
 * method we do not have UNIMPLEMENTED.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pb_decode.h>
#include <pb_encode.h>

#include "agent/internal.h"
#include "include/log.h"
#include "ttrpc.pb.h"

#define FRAME_HEADER 10
#define TYPE_REQUEST 1
#define TYPE_RESPONSE 2
#define CONN_READER_STACK (48 << 10)
#define CONN_WRITER_STACK (16 << 10)
#define ACCEPT_STACK (16 << 10)
#define SKIP_CHUNK 4096

/* ---- responses ---- */

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

/* One response frame; NULL when out of memory. */
static struct out_frame *encode_response(uint32_t stream_id, int code, const char *message,
					 const pb_msgdesc_t *fields, const void *msg)
{
	ttrpc_Response resp = ttrpc_Response_init_zero;
	struct bytes_ref inner = { NULL, 0 };
	struct out_frame *frame = NULL;
	uint8_t *inner_buf = NULL;
	size_t total;

	if (fields && code == GRPC_OK) {
		pb_ostream_t os;

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
	snprintf(resp.status.message, sizeof(resp.status.message), "%s", message ? message : "");
	resp.payload.funcs.encode = encode_bytes;
	resp.payload.arg = &inner;
	if (!pb_get_encoded_size(&total, ttrpc_Response_fields, &resp))
		goto out;
	frame = malloc(sizeof(*frame) + FRAME_HEADER + total);
	if (!frame)
		goto out;
	frame->next = NULL;
	frame->power_off_after = false;
	frame->len = FRAME_HEADER + total;
	frame->data[0] = (uint8_t)(total >> 24);
	frame->data[1] = (uint8_t)(total >> 16);
	frame->data[2] = (uint8_t)(total >> 8);
	frame->data[3] = (uint8_t)total;
	frame->data[4] = (uint8_t)(stream_id >> 24);
	frame->data[5] = (uint8_t)(stream_id >> 16);
	frame->data[6] = (uint8_t)(stream_id >> 8);
	frame->data[7] = (uint8_t)stream_id;
	frame->data[8] = TYPE_RESPONSE;
	frame->data[9] = 0;
	pb_ostream_t os = pb_ostream_from_buffer(frame->data + FRAME_HEADER, total);
	if (!pb_encode(&os, ttrpc_Response_fields, &resp)) {
		free(frame);
		frame = NULL;
	}
out:
	free(inner_buf);
	return frame;
}

void call_reply_locked(struct conn *conn, uint32_t stream_id, int code, const char *message,
		       const pb_msgdesc_t *fields, const void *msg, bool power_off_after)
{
	struct out_frame *frame;

	conn->agent->requests++;
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
	if (conn->out_tail)
		conn->out_tail->next = frame;
	else
		conn->out_head = frame;
	conn->out_tail = frame;
	platform_wake(&conn->wq);
}

void call_reply(struct call *call, const pb_msgdesc_t *fields, const void *msg)
{
	platform_lock();
	call_reply_locked(call->conn, call->stream_id, GRPC_OK, NULL, fields, msg, false);
	platform_unlock();
	call->answered = true;
}

void call_error(struct call *call, int code, const char *fmt, ...)
{
	char message[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	platform_lock();
	call_reply_locked(call->conn, call->stream_id, code, message, NULL, NULL, false);
	platform_unlock();
	call->answered = true;
}

bool call_park_locked(struct call *call, struct park *park)
{
	struct agent *agent = call->conn->agent;

	if (call->conn->parked >= agent->opts.max_inflight)
		return false;
	park->conn = call->conn;
	park->stream_id = call->stream_id;
	park->deadline_ns = call->deadline_ns;
	park->next = agent->parks;
	agent->parks = park;
	agent->nparked++;
	call->conn->parked++;
	call->answered = true;
	/* the writer may have to expire it */
	platform_wake(&call->conn->wq);
	return true;
}

bool call_decode(struct call *call, const pb_msgdesc_t *fields, void *msg)
{
	pb_istream_t is = pb_istream_from_buffer(call->payload, call->payload_len);

	if (pb_decode(&is, fields, msg))
		return true;
	call_error(call, GRPC_INVALID_ARGUMENT, "cannot decode the request message: %s",
		   PB_GET_ERROR(&is));
	return false;
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

/* NULL when allowed, else why not. */
static const char *policy_check(struct agent *agent, const struct vsock_addr *peer,
				const char *service, const char *method)
{
	const struct agent_options *o = &agent->opts;
	bool cid_ok = o->n_allowed_cids == 0;

	for (unsigned i = 0; i < o->n_allowed_cids; i++)
		if (o->allowed_cids[i] == peer->cid)
			cid_ok = true;
	if (!cid_ok)
		return "peer CID is not in agent.allowed_cids";
	if (!method_listed(o->allowed_methods, service, method))
		return "method is not in agent.allowed_methods";
	return NULL;
}

/* ---- the reader ---- */

/* Read exactly len bytes: 1 done, 0 the connection is over. */
static int read_full(struct conn *conn, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = vsock_recv(conn->sock, p, len, 0);

		if (n == -EAGAIN) { /* receive timeout: time to check for stop */
			bool stop;

			platform_lock();
			stop = conn->agent->stopping || conn->closing;
			platform_unlock();
			if (stop)
				return 0;
			continue;
		}
		if (n <= 0)
			return 0;
		p += n;
		len -= (size_t)n;
	}
	return 1;
}

static int skip_bytes(struct conn *conn, size_t len)
{
	uint8_t scratch[256];

	while (len) {
		size_t n = len < sizeof(scratch) ? len : sizeof(scratch);

		if (!read_full(conn, scratch, n))
			return 0;
		len -= n;
	}
	return 1;
}

static void frame_error(struct conn *conn, uint32_t stream_id, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void frame_error(struct conn *conn, uint32_t stream_id, int code, const char *fmt, ...)
{
	char message[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	platform_lock();
	conn->agent->bad_frames++;
	agent_log_locked(conn->agent, "warn", "", "ttrpc: peer %llu:%u stream %u: %s",
			 (unsigned long long)conn->peer.cid, conn->peer.port, stream_id, message);
	call_reply_locked(conn, stream_id, code, message, NULL, NULL, false);
	platform_unlock();
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
	struct agent *agent = conn->agent;
	ttrpc_Request req = ttrpc_Request_init_zero;
	struct call call = { conn, stream_id, NULL, 0, PLATFORM_FOREVER, false };
	pb_istream_t is = pb_istream_from_buffer(buf, len);
	const char *why;

	req.payload.funcs.decode = decode_payload;
	req.payload.arg = &call;
	if (!pb_decode(&is, ttrpc_Request_fields, &req)) {
		frame_error(conn, stream_id, GRPC_INVALID_ARGUMENT,
			    "malformed ttRPC request (%s)", PB_GET_ERROR(&is));
		return;
	}
	if (!call.payload)
		call.payload = (const uint8_t *)"";
	if (req.timeout_nano > 0)
		call.deadline_ns = platform_now_ns() + (uint64_t)req.timeout_nano;
	why = policy_check(agent, &conn->peer, req.service, req.method);
	if (why) {
		platform_lock();
		agent->denied++;
		agent_log_locked(agent, "warn", "", "policy: denied %s/%s from CID %llu: %s",
				 req.service, req.method, (unsigned long long)conn->peer.cid, why);
		platform_unlock();
		log_printf("agent: policy denied %s/%s from CID %llu: %s\n", req.service,
			   req.method, (unsigned long long)conn->peer.cid, why);
		call_error(&call, GRPC_PERMISSION_DENIED, "%s/%s from CID %llu: %s", req.service,
			   req.method, (unsigned long long)conn->peer.cid, why);
		return;
	}
	if (!service_method_known(req.service, req.method)) {
		call_error(&call, GRPC_UNIMPLEMENTED, "%s/%s is not implemented by this agent",
			   req.service, req.method);
		return;
	}
	service_dispatch(&call, req.service, req.method);
	if (!call.answered)
		call_error(&call, GRPC_INTERNAL, "%s/%s gave no answer", req.service, req.method);
}

static void conn_finish_locked(struct conn *conn);

static void conn_reader(void *arg)
{
	struct conn *conn = arg;
	struct agent *agent = conn->agent;

	for (;;) {
		uint8_t hdr[FRAME_HEADER];
		uint32_t len, stream_id;
		uint8_t *buf;

		if (!read_full(conn, hdr, sizeof(hdr)))
			break;
		len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
		stream_id = (uint32_t)hdr[4] << 24 | (uint32_t)hdr[5] << 16 |
			    (uint32_t)hdr[6] << 8 | hdr[7];
		if (len > agent->opts.max_frame) {
			if (!skip_bytes(conn, len))
				break;
			frame_error(conn, stream_id, GRPC_RESOURCE_EXHAUSTED,
				    "message length %u exceeds the maximum message size of %zu",
				    len, agent->opts.max_frame);
			continue;
		}
		buf = malloc(len ? len : 1);
		if (!buf) {
			if (!skip_bytes(conn, len))
				break;
			frame_error(conn, stream_id, GRPC_RESOURCE_EXHAUSTED,
				    "agent is out of memory for a %u-byte message", len);
			continue;
		}
		if (!read_full(conn, buf, len)) {
			free(buf);
			break;
		}
		if (hdr[8] != TYPE_REQUEST)
			frame_error(conn, stream_id, GRPC_INVALID_ARGUMENT,
				    "frame type %u is not a request (streams are not supported)",
				    hdr[8]);
		else if ((stream_id & 1) == 0)
			frame_error(conn, stream_id, GRPC_INVALID_ARGUMENT,
				    "stream id %u is even: client streams must be odd", stream_id);
		else
			handle_request(conn, stream_id, buf, len);
		free(buf);
	}
	platform_lock();
	conn->closing = true;
	parks_cancel_locked(agent, conn, NULL, GRPC_CANCELLED, NULL);
	platform_wake(&conn->wq);
	conn_finish_locked(conn);
	platform_unlock();
}

/* ---- the writer ---- */

static void conn_writer(void *arg)
{
	struct conn *conn = arg;
	struct agent *agent = conn->agent;

	for (;;) {
		struct out_frame *frame;
		ssize_t n;

		platform_lock();
		for (;;) {
			uint64_t next;

			if (conn->out_head || conn->closing)
				break;
			next = parks_expire_locked(agent, conn, platform_now_ns());
			if (conn->out_head)
				break;
			platform_wait(&conn->wq, next);
		}
		frame = conn->out_head;
		if (!frame) { /* closing, all sent */
			conn_finish_locked(conn);
			platform_unlock();
			return;
		}
		conn->out_head = frame->next;
		if (!conn->out_head)
			conn->out_tail = NULL;
		platform_unlock();
		n = vsock_send(conn->sock, frame->data, frame->len, 0);
		if (frame->power_off_after && agent->opts.power_off) {
			platform_sleep_ns(200000000ull); /* let the reply and the logs leave */
			agent->opts.power_off();
		}
		free(frame);
		if (n < 0) {
			platform_lock();
			conn->closing = true; /* the reader sees the error too */
			platform_unlock();
		}
	}
}

/* A task is done with conn (lock held); the last one frees it. */
static void conn_finish_locked(struct conn *conn)
{
	struct agent *agent = conn->agent;
	struct vsock_sock *sock;

	if (--conn->tasks)
		return;
	while (conn->out_head) {
		struct out_frame *frame = conn->out_head;

		conn->out_head = frame->next;
		free(frame);
	}
	for (struct conn **link = &agent->conns; *link; link = &(*link)->next) {
		if (*link == conn) {
			*link = conn->next;
			break;
		}
	}
	agent->nconns--;
	sock = conn->sock;
	free(conn);
	/* vsock_close takes the lock itself */
	platform_unlock();
	vsock_close(sock);
	platform_lock();
}

/* ---- accepting ---- */

static void accept_task(void *arg)
{
	struct agent *agent = arg;

	for (;;) {
		struct vsock_sock *sock;
		struct vsock_addr peer;
		struct conn *conn;
		bool stop, full;
		int err;

		platform_lock();
		stop = agent->stopping;
		full = agent->nconns >= agent->opts.max_conns;
		platform_unlock();
		if (stop)
			return;
		err = vsock_accept(agent->listener, &sock, &peer, 0);
		if (err == -EAGAIN)
			continue;
		if (err < 0) {
			log_printf("agent: accept failed: %d\n", err);
			platform_sleep_ns(agent->opts.poll_slice_ns);
			continue;
		}
		conn = full ? NULL : calloc(1, sizeof(*conn));
		if (!conn) {
			platform_lock();
			agent_log_locked(agent, "warn", "", "ttrpc: refusing a connection from CID "
					 "%llu: %s", (unsigned long long)peer.cid,
					 full ? "too many connections" : "out of memory");
			platform_unlock();
			vsock_close(sock);
			continue;
		}
		conn->agent = agent;
		conn->sock = sock;
		conn->peer = peer;
		conn->tasks = 2;
		vsock_setopt(sock, VSOCK_OPT_RCVTIMEO_NS, agent->opts.poll_slice_ns);
		platform_lock();
		conn->next = agent->conns;
		agent->conns = conn;
		agent->nconns++;
		platform_unlock();
		if (agent_spawn(agent, "ttrpc-writer", conn_writer, conn, CONN_WRITER_STACK,
				NULL, NULL) < 0) {
			platform_lock();
			conn->tasks--; /* the reader will free it */
			conn->closing = true;
			platform_unlock();
		}
		if (agent_spawn(agent, "ttrpc-reader", conn_reader, conn, CONN_READER_STACK,
				NULL, NULL) < 0) {
			platform_lock();
			conn->closing = true;
			platform_wake(&conn->wq);
			conn_finish_locked(conn);
			platform_unlock();
		}
	}
}

int ttrpc_server_start(struct agent *agent)
{
	struct vsock_addr addr = { VSOCK_CID_ANY, agent->opts.server_port };
	int err;

	err = vsock_socket(agent->core, VSOCK_TYPE_STREAM, &agent->listener);
	if (err < 0)
		return err;
	err = vsock_bind(agent->listener, &addr);
	if (err == 0)
		err = vsock_listen(agent->listener, 64);
	if (err == 0)
		err = vsock_setopt(agent->listener, VSOCK_OPT_RCVTIMEO_NS, agent->opts.poll_slice_ns);
	if (err == 0)
		err = agent_spawn(agent, "ttrpc-accept", accept_task, agent, ACCEPT_STACK,
				  NULL, NULL);
	if (err < 0) {
		vsock_close(agent->listener);
		agent->listener = NULL;
		log_printf("agent: cannot serve ttRPC on port %u: %d\n", addr.port, err);
	}
	return err;
}
