/*
 * call.c -- answering one ttRPC call (see call.h).  Error messages are
 * formatted here, bounded by CALL_MESSAGE_MAX; peer-chosen text in them
 * goes back to the peer only (the log escapes what it records).
 */
#include "agent/call.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <pb_decode.h>
#include <pb_encode.h>

#include "agentext.pb.h"
#include "google/protobuf/empty.pb.h"

void call_respond(struct service *svc, struct service_peer *peer, uint32_t stream_id, int code,
		  const char *message, const pb_msgdesc_t *fields, const void *msg)
{
	svc->respond(svc->respond_ctx, peer, stream_id, code, message, fields, msg, false);
}

void call_reply(struct call *call, const pb_msgdesc_t *fields, const void *msg)
{
	call_respond(call->service, call->peer, call->stream_id, GRPC_OK, NULL, fields, msg);
	call->answered = true;
}

void call_reply_empty(struct call *call)
{
	static const google_protobuf_Empty empty = google_protobuf_Empty_init_zero;

	call_reply(call, google_protobuf_Empty_fields, &empty);
}

struct encoded {
	const uint8_t *bytes;        /* an encoded message */
	size_t len;                  /* its length */
};

/* RawMessage.encoded: the bytes as they are, no tag (agentext.proto). */
static bool encode_raw(pb_ostream_t *stream, const pb_field_t *field, void *const *arg)
{
	const struct encoded *e = *arg;

	(void)field;
	return pb_write(stream, e->bytes, e->len);
}

void call_reply_encoded(struct call *call, const uint8_t *bytes, size_t len)
{
	struct encoded e = { bytes, len };
	vsockagent_RawMessage raw = { { { .encode = encode_raw }, &e } };

	call_reply(call, vsockagent_RawMessage_fields, &raw);
}

void call_error(struct call *call, int code, const char *fmt, ...)
{
	char message[CALL_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	call_respond(call->service, call->peer, call->stream_id, code, message, NULL, NULL);
	call->answered = true;
}

void call_limit_hit(struct call *call, const char *field, const char *limit)
{
	call_error(call, GRPC_RESOURCE_EXHAUSTED, "%s: over the limit (%s)", field, limit);
}

bool call_decode(struct call *call, const pb_msgdesc_t *fields, void *msg)
{
	pb_istream_t is = pb_istream_from_buffer(call->payload, call->payload_len);

	if (pb_decode(&is, fields, msg))
		return true;
	if (!call->answered) /* a callback that hit a limit has answered */
		call_error(call, GRPC_INVALID_ARGUMENT, "cannot decode the request message: %s",
			   PB_GET_ERROR(&is));
	return false;
}

struct container *call_find_ctr(struct call *call, const char *id)
{
	struct container *ctr = container_find(call->service->procs, id);

	if (!ctr) {
		if (!id[0])
			call_error(call, GRPC_INVALID_ARGUMENT, "container_id is empty");
		else
			call_error(call, GRPC_NOT_FOUND, "no container '%s' (create it first, "
				   "or see `agentctl ps`)", id);
	}
	return ctr;
}

struct process *call_find_proc(struct call *call, const char *id, const char *exec_id)
{
	struct container *ctr = call_find_ctr(call, id);
	struct process *proc;

	if (!ctr)
		return NULL;
	proc = process_find(ctr, exec_id[0] ? exec_id : id);
	if (!proc)
		call_error(call, GRPC_NOT_FOUND, "container '%s' has no process '%s'", id, exec_id);
	return proc;
}
