/*
 * call.h -- answering one ttRPC call (service.h's struct call): an OK
 * answer with a message, an error with a gRPC code and a message saying
 * what to do about it, decoding the request, and finding the container or
 * process a request names (answering NOT_FOUND when there is none).
 *
 * Below every file that handles methods (service.c, sandbox.c), so that
 * none of them calls another's helpers.
 *
 * Typical usage, a handler:
 *	grpc_StartContainerRequest req;
 *	if (!call_decode(call, grpc_StartContainerRequest_fields, &req))
 *		return;                         // answered INVALID_ARGUMENT
 *	if (!(ctr = call_find_ctr(call, req.container_id)))
 *		return;                         // answered NOT_FOUND
 *	call_reply_empty(call);
 */
#ifndef AGENT_CALL_H
#define AGENT_CALL_H

#include "agent/service.h"

/* The longest message an error answer carries (google.rpc.Status.message
 * is decoded by callback on the host side, so longer is not malformed). */
#define CALL_MESSAGE_MAX 512

void call_respond(struct service *svc, struct service_peer *peer, uint32_t stream_id, int code,
                  const char *message, const pb_msgdesc_t *fields, const void *msg);
void call_reply(struct call *call, const pb_msgdesc_t *fields, const void *msg);
void call_reply_empty(struct call *call);
/* Answer already-encoded message bytes as the reply (an echo). */
void call_reply_encoded(struct call *call, const uint8_t *bytes, size_t len);
void call_error(struct call *call, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* false: answered INVALID_ARGUMENT (or RESOURCE_EXHAUSTED naming the
 * field a limit refused: see call_limit_hit). */
bool call_decode(struct call *call, const pb_msgdesc_t *fields, void *msg);
/* A decode callback hit a limit: the answer names `field` and the limit. */
void call_limit_hit(struct call *call, const char *field, const char *limit);

/*
 * A repeated string decoded by callback (OCI Process.Args, Process.Env):
 * as many entries of any length as the frame carries, up to
 * CALL_STRVEC_MAX entries; over that, the call is answered
 * RESOURCE_EXHAUSTED naming `field`.
 *	struct call_strvec env = { call, "Process.Env" };
 *	req->process.Env = (pb_callback_t){ { .decode = call_strvec_decode }, &env };
 *	...decode, use env.v[0..env.n)...
 *	call_strvec_free(&env);
 */
#define CALL_STRVEC_MAX 65536

struct call_strvec {
	struct call *call; /* to answer a limit */
	const char *field; /* its name in that answer */
	char **v;          /* the entries (owned), NULL-terminated once n > 0 */
	int n;             /* how many */
	int cap;           /* room in v */
	size_t bytes;      /* their bytes, NULs included */
};

bool call_strvec_decode(pb_istream_t *stream, const pb_field_t *field, void **arg);
void call_strvec_free(struct call_strvec *sv);

struct container *call_find_ctr(struct call *call, const char *id);
/* exec_id "" names the init process. */
struct process *call_find_proc(struct call *call, const char *id, const char *exec_id);

#endif
