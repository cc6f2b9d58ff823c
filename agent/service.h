/*
 * service.h -- the methods of grpc.Health and grpc.AgentService (Kata's
 * names, DESIGN §5) plus vsockagent.Extras, and the calls that wait for a
 * process event ("parks": WaitProcess, a read with no data yet, a write
 * into a full stdin, RemoveContainer of a running container).
 *
 * Below the transport: a call comes from a `struct service_peer` (the
 * transport embeds one per connection) and its answer goes back through
 * the `respond` function the transport gave service_init().  Owned by the
 * agent task, like everything it calls.
 *
 * Nothing here yields, and no handler keeps a pointer to a container or
 * process past its return: what it must come back to is a park, and the
 * parks of a container are answered and freed when it is removed.  So one
 * connection's call cannot find its container freed under it by another's
 * RemoveContainer (issue 12, hole 8).
 *
 * Typical usage (ttrpc.c, agent.c):
 *	service_init(&svc, &opts, &table, &log, conn_respond, server);
 *	struct call call = { .service = &svc, .peer = &conn->peer, .stream_id = 1,
 *			     .payload = p, .payload_len = n, .deadline_ns = PLATFORM_FOREVER };
 *	if (service_method_known("grpc.Health", "Check"))
 *		service_dispatch(&call, "grpc.Health", "Check");  // answers or parks
 *	...the agent loop: service_poll(&svc, now); next = service_next_deadline(&svc)...
 *	service_peer_gone(&svc, &conn->peer);   // its parked calls are dropped
 */
#ifndef AGENT_SERVICE_H
#define AGENT_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pb.h>

#include "agent/logstream.h"
#include "agent/options.h"
#include "agent/process.h"

/* gRPC status codes (google.rpc.Code) */
enum grpc_code {
	GRPC_OK = 0,
	GRPC_CANCELLED = 1,
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_NOT_FOUND = 5,
	GRPC_ALREADY_EXISTS = 6,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_FAILED_PRECONDITION = 9,
	GRPC_UNIMPLEMENTED = 12,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14,
};

/*
 * Stdin that parked WriteStdin calls hold (copies of their data): at most
 * this much per connection and in all; a write that would go over is
 * answered RESOURCE_EXHAUSTED (issue 12, hole 10).
 */
#define SERVICE_PEER_PARKED_MAX (128u << 10)
#define SERVICE_PARKED_MAX      (1u << 20)
/* Calls parked at once, all connections (each also within agent.max_inflight). */
#define SERVICE_PARKS_MAX       4096u
/* The largest SetPolicy document kept (Kata's generated policies are ~100 KiB). */
#define SERVICE_POLICY_MAX      (1u << 20)

/* Who called, as the service sees it: one per transport connection. */
struct service_peer {
	unsigned parked;     /* its calls waiting for an event */
	size_t parked_bytes; /* stdin its parked WriteStdin calls hold */
	bool congested;      /* set by the transport: its answers are not being
					taken, so parked reads wait (their answers are big) */
};

/*
 * The transport's half: queue the answer to `stream_id` for `peer`.
 * fields/msg NULL: no payload.  power_off_after: DestroySandbox's answer,
 * the machine goes off once it is sent.
 */
typedef void service_respond_fn(void *ctx, struct service_peer *peer, uint32_t stream_id, int code,
                                const char *message, const pb_msgdesc_t *fields, const void *msg,
                                bool power_off_after);

struct park;

struct service {
	const struct agent_options *opts; /* limits, policy-free */
	struct process_table *procs;      /* containers and processes */
	struct log_stream *log;           /* agent records */
	service_respond_fn *respond;      /* answers go out here */
	void *respond_ctx;                /* its context */
	struct park *parks;               /* calls waiting for events, oldest first */
	struct park **parks_tail;         /* where the next one is linked */
	unsigned nparked;                 /* how many */
	size_t parked_bytes;              /* stdin all parked WriteStdin calls hold */
	bool sandbox_created;             /* CreateSandbox ran */
	char sandbox_id[AGENT_ID_MAX];    /* its id */
	struct log_limit ignored_log;     /* records of calls accepted and ignored (sandbox.c) */
	char *policy;                     /* the last SetPolicy document (owned), NULL: none */
	size_t policy_len;                /* its length */
	uint64_t policy_denied;           /* bit i: sandbox.c's method i is refused by the policy */
	unsigned oom_parked;              /* GetOOMEvent calls waiting, all peers */
};

/* A request being handled. */
struct call {
	struct service *service;   /* who handles it */
	struct service_peer *peer; /* where the answer goes */
	uint32_t stream_id;        /* its ttRPC stream */
	const uint8_t *payload;    /* the method's request bytes */
	size_t payload_len;        /* how many */
	uint64_t deadline_ns;      /* from timeout_nano (PLATFORM_FOREVER: none) */
	bool answered;             /* a response (or park) was queued */
};

void service_init(struct service *svc, const struct agent_options *opts,
                  struct process_table *procs, struct log_stream *log, service_respond_fn *respond,
                  void *respond_ctx);
/* Drops every parked call without an answer. */
void service_free(struct service *svc);

bool service_method_known(const char *service, const char *method);
/* Answer the call, now or (parked) later.  The method must be known. */
void service_dispatch(struct call *call, const char *service, const char *method);

/* Answer parked calls whose event came or whose deadline passed. */
void service_poll(struct service *svc, uint64_t now);
uint64_t service_next_deadline(const struct service *svc);
/* The peer is gone: its parked calls are dropped unanswered. */
void service_peer_gone(struct service *svc, struct service_peer *peer);

#endif
