/*
 * agent_fixture.h -- the agent on a "guest" vsock core (CID 3) and a ttRPC
 * test client on a "host" core (CID 2), wired by the loopback transport
 * with a pump thread playing the device.
 *
 * Typical usage:
 *	struct agent_fixture fx;
 *	fixture_start(&fx, NULL);                 // default options, port 1024
 *	struct tclient *c = tclient_open(&fx);
 *	grpc_CheckRequest req = grpc_CheckRequest_init_zero;
 *	grpc_HealthCheckResponse resp;
 *	CHECK_EQ(tclient_call(c, "grpc.Health", "Check", grpc_CheckRequest_fields, &req,
 *			      grpc_HealthCheckResponse_fields, &resp), 0);
 *	tclient_close(c);
 *	fixture_stop(&fx);                        // checks nothing leaked
 *
 * A test that fails before fixture_stop still has it run (harness_defer):
 * the agent is stopped, the pump joined and any client left open closed,
 * so nothing of it lives on into the next test.
 */
#ifndef TESTS_UNIT_AGENT_FIXTURE_H
#define TESTS_UNIT_AGENT_FIXTURE_H

#include <pthread.h>

#include <pb.h>
#include <pb_encode.h>

#include "oci.pb.h"

#include "agent/agent.h"
#include "tests/unit/vsock_fixture.h"

#define AGENT_PORT          1024
#define LOG_PORT            1025
#define TCLIENT_MESSAGE_MAX 1024 /* status message kept of a response */

struct tclient;

struct agent_fixture {
	struct pair pair;          /* guest and host cores */
	pthread_t pump;            /* plays the device */
	bool pump_stop;            /* lock */
	bool running;              /* started, not yet stopped */
	struct agent *agent;       /* on the guest core */
	struct agent_options opts; /* as started */
	struct tclient *clients;   /* clients not yet closed */
};

struct tclient {
	struct agent_fixture *fx;          /* whose agent it calls */
	struct tclient *next;              /* fixture's list of open clients */
	struct vsock_sock *sock;           /* connection to the agent */
	uint32_t next_stream;              /* next odd stream id */
	char message[TCLIENT_MESSAGE_MAX]; /* status message of the last response */
	uint8_t payload[1024];             /* the last response's payload, as it came (cut) */
	size_t payload_len;                /* its whole length */
};

/* opts NULL: defaults with log_port 0 (no logs).  Registers fixture_stop
 * with harness_defer, so a failed test stops the agent too. */
void fixture_start(struct agent_fixture *fx, const struct agent_options *opts);
/* Close clients left open, stop the agent and the pump; unless the test
 * failed, check that no socket leaked.  Again: nothing. */
void fixture_stop(struct agent_fixture *fx);
void fixture_options(struct agent_options *opts);

struct tclient *tclient_open(struct agent_fixture *fx);
void tclient_close(struct tclient *c);
/* Raw frame out. */
void tclient_send_frame(struct tclient *c, uint32_t stream_id, uint8_t type, const void *payload,
                        size_t len);
/* Encode a ttrpc.Request (timeout_ns 0: none) and send it; returns its stream id. */
uint32_t tclient_send(struct tclient *c, const char *service, const char *method,
                      const pb_msgdesc_t *fields, const void *req, int64_t timeout_ns);
/* The whole frame of a request for the next stream id into out (not sent); its length. */
size_t tclient_frame(struct tclient *c, const char *service, const char *method,
                     const pb_msgdesc_t *fields, const void *req, uint8_t *out, size_t cap);
/* Next response: its stream id; gRPC code in *code, payload decoded into resp. */
uint32_t tclient_recv(struct tclient *c, int *code, const pb_msgdesc_t *fields, void *resp);
/* The same without CHECKs (for helper threads): 0, or -1 if the connection failed. */
int tclient_try_recv(struct tclient *c, uint32_t *sid, int *code, const pb_msgdesc_t *fields,
                     void *resp);
/* A repeated string to encode (Process.Args, Process.Env: callbacks). */
struct tstrings {
	int n;                /* entries */
	const char *const *v; /* the strings (kept by the caller until sent) */
};
bool tstrings_encode(pb_ostream_t *stream, const pb_field_t *field, void *const *arg);
/* Args (NULL-terminated) and Env (NULL-terminated, NULL: PATH=/bin) into p;
 * the lists must outlive the send. */
void tprocess_set(grpc_Process *p, struct tstrings *args, const char *const *argv,
                  struct tstrings *env, const char *const *envp);

/* Kata's end of a stream: INTERNAL "read meet eof" (agent/service.c). */
bool tclient_eof(const struct tclient *c, int code);
/* Send + receive; returns the gRPC status code (c->message has the text). */
int tclient_call(struct tclient *c, const char *service, const char *method,
                 const pb_msgdesc_t *req_fields, const void *req, const pb_msgdesc_t *resp_fields,
                 void *resp);
int tclient_call_timeout(struct tclient *c, const char *service, const char *method,
                         const pb_msgdesc_t *req_fields, const void *req,
                         const pb_msgdesc_t *resp_fields, void *resp, int64_t timeout_ns);

/*
 * A thread that reads a process's stdout (or stderr) to EOF on its own
 * connection, keeping a count of the bytes (and up to `cap` of them in
 * `buf` if given).  It makes no CHECKs; if the test fails, its teardown
 * ends the thread before the fixture's.
 *	struct tdrain d;
 *	tdrain_start(&d, &fx, "c1", false, NULL, 0);
 *	...
 *	CHECK_EQ(tdrain_join(&d), 0);   // 0, a gRPC code, or -1 (connection failed)
 *	d.bytes ...
 */
struct tdrain {
	struct tclient *c; /* its connection */
	char id[128];      /* container (and exec) id */
	bool err_stream;   /* ReadStderr instead of ReadStdout */
	uint8_t *buf;      /* where the bytes go (NULL: counted only) */
	size_t cap;        /* room in buf */
	size_t bytes;      /* read so far */
	int code;          /* result */
	pthread_t thread;  /* the reader */
	bool joined;       /* tdrain_join ran */
};

void tdrain_start(struct tdrain *d, struct agent_fixture *fx, const char *id, bool err_stream,
                  uint8_t *buf, size_t cap);
int tdrain_join(struct tdrain *d);

/* Conveniences over grpc.AgentService. */
int agent_create(struct tclient *c, const char *id, const char *const *args);
int agent_start_ctr(struct tclient *c, const char *id);
int agent_run(struct tclient *c, const char *id, const char *const *args); /* create+start */
int agent_wait(struct tclient *c, const char *id, const char *exec_id, int *status);
/* Read a stream to EOF into buf (max cap); returns bytes or -1. */
long agent_read_all(struct tclient *c, const char *id, const char *exec_id, bool err_stream,
                    char *buf, size_t cap);
int agent_write(struct tclient *c, const char *id, const char *exec_id, const void *data,
                size_t len);
int agent_close_stdin(struct tclient *c, const char *id, const char *exec_id);
int agent_signal(struct tclient *c, const char *id, const char *exec_id, uint32_t sig);
int agent_remove(struct tclient *c, const char *id);

#endif
