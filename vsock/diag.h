/*
 * diag.h -- built-in diagnostic services over the vsock socket API: echo
 * (port 7), discard (port 9) and source (port 19, RFC 864 "chargen" in
 * spirit: a deterministic byte pattern until the peer closes), and a
 * SEQPACKET echo (port 1007) that sends every message back as one message,
 * with its EOR, when the transport negotiated SEQPACKET.  Off unless the
 * caller starts them (agent.diag_services=1).
 *
 * One task runs one service for all of its connections, over the
 * non-blocking API and vsock_poll(), so a hundred clients need no hundred
 * tasks.  Typical usage, in the task's body:
 *
 *	struct vsock_diag *echo;
 *	err = vsock_diag_start(&echo, core, VSOCK_DIAG_ECHO, 0);   // 0: port 7
 *	vsock_diag_run(echo);            // returns after vsock_diag_request_stop()
 *	vsock_diag_destroy(echo);
 *
 * or, without a task of its own (tests), call vsock_diag_step() in a loop.
 */
#ifndef VSOCK_DIAG_H
#define VSOCK_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vsock/socket.h"

#define VSOCK_DIAG_ECHO_PORT     7
#define VSOCK_DIAG_DISCARD_PORT  9
#define VSOCK_DIAG_SOURCE_PORT   19
#define VSOCK_DIAG_SEQ_ECHO_PORT 1007  /* echo's 7, SEQPACKET */
#define VSOCK_DIAG_SEQ_MAX       65536 /* longer messages come back cut */

/* Byte i of every source stream (i counts from 0 per connection). */
static inline uint8_t vsock_diag_source_byte(uint64_t i)
{
	return (uint8_t)((i * 31 + 7) & 0xff);
}

enum vsock_diag_kind {
	VSOCK_DIAG_ECHO,     /* sends back what it receives; closes at EOF */
	VSOCK_DIAG_DISCARD,  /* reads and drops; closes at EOF */
	VSOCK_DIAG_SOURCE,   /* writes vsock_diag_source_byte() until closed */
	VSOCK_DIAG_SEQ_ECHO, /* SEQPACKET: each message back, EOR kept */
};

struct vsock_diag;

struct vsock_diag_stats {
	uint32_t active;    /* connections being served */
	uint64_t accepted;  /* connections accepted so far */
	uint64_t bytes_in;  /* bytes received */
	uint64_t bytes_out; /* bytes sent */
};

/* Listen on `port` (0: the kind's well-known port). */
int vsock_diag_start(struct vsock_diag **out, struct vsock_core *core, enum vsock_diag_kind kind,
                     uint32_t port);
/* One round: wait for events until deadline_ns, then serve them. */
int vsock_diag_step(struct vsock_diag *diag, uint64_t deadline_ns);
/* Serve until vsock_diag_request_stop() or the task is killed. */
void vsock_diag_run(struct vsock_diag *diag);
/* From any task: make vsock_diag_run() return soon. */
void vsock_diag_request_stop(struct vsock_diag *diag);
/* Close the listener and every connection; free. */
void vsock_diag_destroy(struct vsock_diag *diag);
void vsock_diag_stats(struct vsock_diag *diag, struct vsock_diag_stats *out);

#endif
