/*
 * ttrpc.h -- the ttRPC server (containerd/ttrpc PROTOCOL.md, DESIGN §5):
 * the listener and every connection, served without blocking from the
 * agent task's poll loop.  Requests go to the service (service.h); its
 * answers come back through ttrpc_respond() and leave in whatever order
 * they are ready.
 *
 * Typical usage (agent.c):
 *	err = ttrpc_server_init(&srv, &opts, core, &svc, &log);  // listens
 *	for (;;) {
 *		n = ttrpc_poll_set(&srv, fds);          // listener + connections
 *		...vsock_poll(fds, n, ...)...
 *		ttrpc_serve(&srv, fds);                 // accept, read, dispatch
 *		...
 *		while (ttrpc_flush(&srv))               // answers out; true: room freed,
 *			service_poll(&svc, now);        //   parked reads may answer now
 *	}
 *	ttrpc_server_close(&srv);
 */
#ifndef AGENT_TTRPC_H
#define AGENT_TTRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/logstream.h"
#include "agent/options.h"
#include "agent/service.h"
#include "vsock/socket.h"

#define TTRPC_FRAME_HEADER 10

struct out_frame;

/* One client connection. */
struct conn {
	struct service_peer calls;   /* its calls as the service sees them */
	struct ttrpc_server *server; /* owner */
	struct conn *next;           /* server's list */
	struct vsock_sock *sock;     /* the connection */
	struct vsock_addr peer;      /* who called */
	/* the frame being received */
	uint8_t hdr[TTRPC_FRAME_HEADER]; /* its header */
	size_t hdr_got;                  /* bytes of it so far */
	uint8_t *frame;                  /* its payload so far (NULL: none yet, or skipping) */
	size_t frame_cap;                /* frame's size: grows as the payload arrives */
	uint32_t frame_len;              /* payload length from the header */
	size_t frame_got;                /* payload bytes so far */
	size_t skip;                     /* bytes of a refused frame still to discard */
	const char *skip_why;            /* "too big" or "no memory": answered when skipped */
	/* answers on their way out */
	struct out_frame *out_head, *out_tail; /* queue, oldest first */
	size_t out_sent;                       /* bytes of out_head already sent */
	size_t out_bytes; /* bytes queued (each answer counted with OUT_FRAME_COST) */
	bool closing;     /* no more requests: send what is queued, then close */
};

struct ttrpc_server {
	const struct agent_options *opts; /* port, limits, policy */
	struct vsock_core *core;          /* sockets come from here */
	struct service *service;          /* what requests are for */
	struct log_stream *log;           /* warnings and refusals */
	struct vsock_sock *listener;      /* the ttRPC port */
	struct conn *conns;               /* open connections */
	unsigned nconns;                  /* how many */
	size_t out_bytes;          /* answer bytes queued, all connections (as conn->out_bytes) */
	size_t out_peak;           /* the most out_bytes has been */
	size_t rx_bytes;           /* payload buffers of frames being received, all connections */
	size_t rx_peak;            /* the most rx_bytes has been */
	size_t rx_over;            /* of rx_bytes, beyond each buffer's first 4 KiB */
	uint64_t requests;         /* answers queued */
	uint64_t denied;           /* refused by policy */
	uint64_t bad_frames;       /* oversized, malformed or unexpected frames */
	struct log_limit peer_log; /* what peers make us log, rate-limited */
	bool power_off_due;        /* a DestroySandbox answer has left: power off */
};

int ttrpc_server_init(struct ttrpc_server *srv, const struct agent_options *opts,
                      struct vsock_core *core, struct service *service, struct log_stream *log);
/* Every connection and the listener closed (parked calls are dropped). */
void ttrpc_server_close(struct ttrpc_server *srv);

/* fds needs room for 1 + opts->max_conns entries; returns how many were filled. */
size_t ttrpc_poll_set(struct ttrpc_server *srv, struct vsock_pollfd *fds);
/* After the poll, with the same fds: accept, read, answer or park requests. */
void ttrpc_serve(struct ttrpc_server *srv, const struct vsock_pollfd *fds);
/*
 * Send queued answers as far as the peers take them; close finished
 * connections.  True when a congested connection can take answers again:
 * run service_poll (its parked reads) and flush once more.
 */
bool ttrpc_flush(struct ttrpc_server *srv);

/* service_respond_fn: queue an answer (the service calls it). */
service_respond_fn ttrpc_respond;

#endif
