/*
 * fuzz_agent.h -- the agent in a fuzz target: its vsock core ("guest",
 * CID 3) and a client core ("host", CID 2) on a loopback transport, the
 * agent task and its programs on the deterministic fuzz platform
 * (fuzz_platform.h), and ttRPC clients driven from the harness without
 * ever blocking.
 *
 * Every answer a client receives is checked as it arrives: a well-formed
 * ttRPC response frame (decodable, type 2) for a stream the client sent and
 * that has not been answered before (unless `raw`: then stream ids are the
 * fuzzer's own).  fz_stop() stops the agent and checks that nothing is
 * left: no task, no socket or connection in either core, no buffered byte.
 *
 * Typical usage:
 *	struct fz_world w;
 *	fz_start(&w, &opts);
 *	fz_open(&w, 0);
 *	fz_call(&w, 0, "grpc.Health", "Check", grpc_CheckRequest_fields, &req, 0);
 *	fz_settle(&w);                      // run until quiet; answers are read
 *	fz_stop(&w);
 */
#ifndef TESTS_FUZZ_FUZZ_AGENT_H
#define TESTS_FUZZ_FUZZ_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pb.h>

#include "agent/agent.h"
#include "tests/fuzz/fuzz_platform.h"
#include "vsock/loopback.h"
#include "vsock/socket.h"

#define FZ_CONNS   4            /* clients at once */
#define FZ_STREAMS 4096         /* stream ids tracked per client (odd ids up to 2x) */
#define FZ_OUT_MAX (256u << 10) /* bytes a client holds back while the agent does not read */

struct fz_conn {
	struct vsock_sock *sock;       /* NULL: not open */
	bool raw;                      /* the fuzzer picks stream ids: do not track them */
	bool reading;                  /* read answers (false: a client that never reads) */
	uint32_t next_stream;          /* next odd stream id */
	uint32_t sent;                 /* requests queued (tracked ones) */
	uint32_t answered;             /* answers received */
	uint8_t asked[FZ_STREAMS / 8]; /* stream ids sent, by (id - 1) / 2 */
	uint8_t done[FZ_STREAMS / 8];  /* ... and answered */
	uint8_t *out;                  /* bytes not yet taken by vsock (FZ_OUT_MAX) */
	size_t out_len;                /* how many */
	uint8_t in[64 << 10];          /* an answer being received */
	size_t in_len;                 /* its bytes so far */
	int last_code;                 /* gRPC code of the last answer */
};

struct fz_world {
	struct vsock_loopback *lb; /* the wire */
	struct vsock_core *guest;  /* the agent's core (CID 3) */
	struct vsock_core *host;   /* the clients' core (CID 2) */
	struct agent *agent;       /* under test */
	struct agent_options opts; /* as started */
	struct fz_conn conns[FZ_CONNS];
	struct vsock_sock *log_lsn;  /* the host's log listener (log_port set) */
	struct vsock_sock *log_conn; /* the agent's log connection, accepted */
	uint64_t log_last_seq;       /* highest seq read from it */
	bool log_acks;               /* acknowledge what is read, and answer requests */
};

/* Fuzz-friendly defaults: a small log ring, boot id fixed, no power off. */
void fz_options(struct agent_options *opts);
void fz_start(struct fz_world *w, const struct agent_options *opts);
void fz_stop(struct fz_world *w);

bool fz_open(struct fz_world *w, int i);
void fz_close(struct fz_world *w, int i);
/* Queue bytes on client i as they are (raw: it does not track streams). */
void fz_send(struct fz_world *w, int i, const void *buf, size_t len);
/* A request frame for the next stream id, queued; returns the id (0: not open). */
uint32_t fz_call(struct fz_world *w, int i, const char *service, const char *method,
                 const pb_msgdesc_t *fields, const void *msg, int64_t timeout_ns);
/* The same with a payload the fuzzer wrote. */
uint32_t fz_call_raw(struct fz_world *w, int i, const char *service, const char *method,
                     const uint8_t *payload, size_t len, int64_t timeout_ns);

/* The world until quiet: tasks, packets, clients' sends and reads. */
void fz_settle(struct fz_world *w);
/* Let virtual time pass (timeouts, parks' deadlines, the log grace). */
void fz_advance(struct fz_world *w, uint64_t ns);

#endif
