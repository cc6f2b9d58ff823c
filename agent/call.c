/*
 * call.c -- answering one ttRPC call (see call.h).  Error messages are
 * formatted here, bounded by CALL_MESSAGE_MAX; peer-chosen text in them
 * goes back to the peer only (the log escapes what it records).
 */
#include "agent/call.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pb_common.h>
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
	const uint8_t *bytes; /* an encoded message */
	size_t len;           /* its length */
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

bool call_strvec_decode(pb_istream_t *stream, const pb_field_t *field, void **arg)
{
	struct call_strvec *sv = *arg;
	size_t len = stream->bytes_left;
	char *entry;

	(void)field;
	if (sv->n + 1 >= CALL_STRVEC_MAX) {
		call_error(sv->call, GRPC_RESOURCE_EXHAUSTED,
		           "%s: more than %d entries (this "
		           "agent's limit)",
		           sv->field, CALL_STRVEC_MAX - 2);
		return false;
	}
	if (sv->n + 1 >= sv->cap) {
		int cap = sv->cap ? 2 * sv->cap : 16;
		char **v = realloc(sv->v, (size_t)cap * sizeof(*v));

		if (!v)
			goto nomem;
		sv->v = v;
		sv->cap = cap;
	}
	entry = malloc(len + 1);
	if (!entry)
		goto nomem;
	if (!pb_read(stream, (uint8_t *)entry, len)) {
		free(entry);
		return false;
	}
	entry[len] = '\0';
	sv->v[sv->n++] = entry;
	sv->v[sv->n] = NULL;
	sv->bytes += len + 1;
	return true;
nomem:
	call_error(sv->call, GRPC_RESOURCE_EXHAUSTED,
	           "%s: agent is out of memory after %d "
	           "entries (%zu bytes)",
	           sv->field, sv->n, sv->bytes);
	return false;
}

void call_strvec_free(struct call_strvec *sv)
{
	for (int i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->cap = 0;
	sv->bytes = 0;
}

/*
 * Which field of a request that nanopb refused is over one of this
 * agent's bounds (a string or bytes field longer than its buffer, a
 * repeated field with more entries than its array)?  Its path of field
 * numbers (Kata's agent.proto / oci.proto: "6.2.6" is OCI.Process.Cwd)
 * and what was over into `why`; false when no field is over a bound.
 */
static bool find_oversize(const pb_msgdesc_t *desc, const uint8_t *buf, size_t len,
                          const char *prefix, char *why, size_t why_len, int depth)
{
	pb_istream_t is = pb_istream_from_buffer(buf, len);
	pb_size_t counts[64] = { 0 };
	pb_field_iter_t it;
	pb_wire_type_t wire;
	uint32_t tag;
	bool eof;

	static const char no_message[1]; /* offsets only: nothing is read through it */

	if (depth > 8 || !pb_field_iter_begin_const(&it, desc, no_message))
		return false;
	while (pb_decode_tag(&is, &wire, &tag, &eof)) {
		uint64_t n = 0;
		const uint8_t *at;

		if (wire != PB_WT_STRING || !pb_field_iter_find(&it, tag)) {
			if (!pb_skip_field(&is, wire))
				return false;
			continue;
		}
		if (!pb_decode_varint(&is, &n) || n > is.bytes_left)
			return false;
		at = is.state;
		if (PB_ATYPE(it.type) == PB_ATYPE_STATIC) {
			pb_type_t ltype = PB_LTYPE(it.type);

			if (PB_HTYPE(it.type) == PB_HTYPE_REPEATED && it.index < 64 &&
			    ltype != PB_LTYPE_FIXED_LENGTH_BYTES &&
			    ++counts[it.index] > it.array_size) {
				snprintf(why, why_len, "field %s%u has more than %u entries",
				         prefix, (unsigned)tag, (unsigned)it.array_size);
				return true;
			}
			if (ltype == PB_LTYPE_STRING && n + 1 > it.data_size) {
				snprintf(why, why_len,
				         "field %s%u is a string of %llu bytes, over the "
				         "limit of %u",
				         prefix, (unsigned)tag, (unsigned long long)n,
				         (unsigned)it.data_size - 1);
				return true;
			}
			if (ltype == PB_LTYPE_BYTES &&
			    n > it.data_size - offsetof(pb_bytes_array_t, bytes)) {
				snprintf(why, why_len,
				         "field %s%u holds %llu bytes, over the limit of "
				         "%u",
				         prefix, (unsigned)tag, (unsigned long long)n,
				         (unsigned)(it.data_size -
				                    offsetof(pb_bytes_array_t, bytes)));
				return true;
			}
			if (PB_LTYPE_IS_SUBMSG(ltype) && it.submsg_desc) {
				char sub[64];

				snprintf(sub, sizeof(sub), "%s%u.", prefix, (unsigned)tag);
				if (find_oversize(it.submsg_desc, at, (size_t)n, sub, why, why_len,
				                  depth + 1))
					return true;
			}
		}
		if (!pb_read(&is, NULL, (size_t)n))
			return false;
	}
	return false;
}

bool call_decode(struct call *call, const pb_msgdesc_t *fields, void *msg)
{
	pb_istream_t is = pb_istream_from_buffer(call->payload, call->payload_len);
	char why[160];

	if (pb_decode(&is, fields, msg))
		return true;
	if (call->answered) /* a callback that hit a limit has answered */
		return false;
	if (find_oversize(fields, call->payload, call->payload_len, "", why, sizeof(why), 0))
		call_error(call, GRPC_RESOURCE_EXHAUSTED,
		           "request %s (this agent's bounds: "
		           "agent/proto/*.options)",
		           why);
	else
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
			call_error(call, GRPC_NOT_FOUND,
			           "no container '%s' (create it first, "
			           "or see `agentctl ps`)",
			           id);
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
