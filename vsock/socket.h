/*
 * socket.h -- a socket-like API over the vsock core (AF_VSOCK semantics,
 * Linux net/vmw_vsock/af_vsock.c as the reference): STREAM, and SEQPACKET
 * when the transport negotiated VIRTIO_VSOCK_F_SEQPACKET.
 *
 * SEQPACKET (virtio 1.2 §5.10.6.4, Linux's behaviour): vsock_send sends one
 * message, all or nothing, of at most min(peer's buf_alloc, ours) bytes
 * (else -EMSGSIZE); VSOCK_MSG_EOR marks it the end of a record.
 * vsock_recvmsg returns one whole message, never parts of two: bytes beyond
 * len are dropped and VSOCK_MSG_TRUNC says so; with VSOCK_MSG_TRUNC in the
 * flags it returns the message's length.  A zero-length message is a
 * message (recv returns 0, as at end of stream; recvmsg's VSOCK_MSG_EOM
 * tells them apart).  POLLOUT on a SEQPACKET socket means the credit holds
 * the message whose send last said -EAGAIN (any message, before that).
 *
 * Typical usage, a server:
 *	struct vsock_sock *lsn, *conn;
 *	struct vsock_addr any = { VSOCK_CID_ANY, 1024 }, peer;
 *
 *	err = vsock_socket(core, VSOCK_TYPE_STREAM, &lsn);
 *	err = vsock_bind(lsn, &any);
 *	err = vsock_listen(lsn, 16);                  // backlog
 *	err = vsock_accept(lsn, &conn, &peer, 0);     // sleeps the task
 *	n = vsock_recv(conn, buf, sizeof(buf), 0);    // > 0 data, 0 EOF, < 0 -errno
 *	n = vsock_send(conn, buf, n, 0);              // all of it, or -errno
 *	vsock_close(conn);                            // SHUTDOWN, linger in background
 *
 * a client:
 *	struct vsock_addr host = { VSOCK_CID_HOST, 1025 };
 *	err = vsock_socket(core, VSOCK_TYPE_STREAM, &s);
 *	err = vsock_connect(s, &host, 0);             // -ECONNRESET: nobody listens
 *
 * and an event loop (one task, many sockets, nothing blocks):
 *	vsock_setopt(s, VSOCK_OPT_NONBLOCK, 1);       // or pass VSOCK_DONTWAIT
 *	struct vsock_pollfd fds[2] = { { .sock = lsn, .events = VSOCK_POLLIN },
 *					{ .sock = s, .events = VSOCK_POLLIN } };
 *	n = vsock_poll(fds, 2, platform_now_ns() + 1000000000ull);
 *	if (fds[1].revents & VSOCK_POLLIN) n = vsock_recv(s, buf, len, 0);  // -EAGAIN: none
 *
 * Every call returns a negative errno on failure.  Blocking calls sleep on
 * the socket's wait queue (include/platform.h); never call them with the
 * platform lock held.  They return -EINTR when the calling task is being
 * killed (platform_task_kill).  A socket handle stays valid until
 * vsock_close(); closing it while another task uses it is a bug.
 */
#ifndef VSOCK_SOCKET_H
#define VSOCK_SOCKET_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vsock/core.h"
#include "vsock/wire.h"

#ifndef ESOCKTNOSUPPORT    /* newlib has no such errno */
#define ESOCKTNOSUPPORT 94 /* Linux's value */
#endif

struct vsock_sock;
struct vsock_poller;

/* sockaddr_vm-like address. */
struct vsock_addr {
	uint64_t cid;  /* VSOCK_CID_ANY when binding: our own */
	uint32_t port; /* VSOCK_PORT_ANY: an ephemeral port */
};

/* flags of send/recv/accept/connect */
#define VSOCK_DONTWAIT 1 /* this call does not block: -EAGAIN / -EINPROGRESS */
#define VSOCK_MSG_EOR  2 /* SEQPACKET send: ends a record; recvmsg: it did */
#define VSOCK_MSG_TRUNC \
	4 /* recv: return a message's whole length; recvmsg:
			   * the message was longer than the buffer */
#define VSOCK_MSG_EOM \
	8 /* recvmsg: a SEQPACKET message was returned (an
			   * empty one, not the end of the stream) */

/* how of vsock_shutdown (same values as the wire's SHUTDOWN flags) */
#define VSOCK_SHUT_RD   1
#define VSOCK_SHUT_WR   2
#define VSOCK_SHUT_RDWR 3

/* options */
enum vsock_opt {
	VSOCK_OPT_NONBLOCK,           /* 0/1: every call behaves as VSOCK_DONTWAIT */
	VSOCK_OPT_CONNECT_TIMEOUT_NS, /* connect() gives up with -ETIMEDOUT */
	VSOCK_OPT_RCVTIMEO_NS,        /* blocking recv/accept: -EAGAIN after (0: never) */
	VSOCK_OPT_SNDTIMEO_NS,        /* blocking send: partial count / -EAGAIN after */
	VSOCK_OPT_BUF_ALLOC,          /* receive buffer; before connect/listen only */
};

/* poll events */
#define VSOCK_POLLIN  0x1  /* data, EOF, a pending error, or (listener) a connection */
#define VSOCK_POLLOUT 0x4  /* send would not block (or would fail at once) */
#define VSOCK_POLLERR 0x8  /* a pending error: vsock_sock_error() */
#define VSOCK_POLLHUP 0x10 /* peer closed both ways or connection gone */

/* vsock_poll's own: how a sleeping poll hangs on one socket (socket.c). */
struct vsock_poll_hook {
	struct vsock_poll_hook *next; /* on the socket's list */
	struct vsock_poller *poller;  /* who sleeps */
};

struct vsock_pollfd {
	struct vsock_sock *sock;     /* NULL: entry ignored */
	short events;                /* VSOCK_POLLIN | VSOCK_POLLOUT */
	short revents;               /* filled in; POLLERR/POLLHUP always reported */
	struct vsock_poll_hook hook; /* vsock_poll's, while it sleeps */
};

/* type VSOCK_TYPE_STREAM or VSOCK_TYPE_SEQPACKET; -ESOCKTNOSUPPORT when
 * the transport did not negotiate it. */
int vsock_socket(struct vsock_core *core, int type, struct vsock_sock **out);
int vsock_bind(struct vsock_sock *sock, const struct vsock_addr *addr);
int vsock_listen(struct vsock_sock *sock, int backlog);
/* The new connection's handle in *out, the peer in *peer (may be NULL). */
int vsock_accept(struct vsock_sock *sock, struct vsock_sock **out, struct vsock_addr *peer,
                 int flags);
/* 0 when connected; with VSOCK_DONTWAIT -EINPROGRESS, then poll POLLOUT. */
int vsock_connect(struct vsock_sock *sock, const struct vsock_addr *addr, int flags);
/* Bytes sent (blocking: all of len unless an error cut it short) or -errno. */
ssize_t vsock_send(struct vsock_sock *sock, const void *buf, size_t len, int flags);
/* Bytes received, 0 at end of stream, or -errno (-EAGAIN: nothing yet). */
ssize_t vsock_recv(struct vsock_sock *sock, void *buf, size_t len, int flags);
/* vsock_recv that also reports VSOCK_MSG_TRUNC / VSOCK_MSG_EOR in
 * *msg_flags (may be NULL; always 0 for STREAM). */
ssize_t vsock_recvmsg(struct vsock_sock *sock, void *buf, size_t len, int flags, int *msg_flags);
int vsock_shutdown(struct vsock_sock *sock, int how);
/* Releases the handle; an open connection lingers in the background. */
int vsock_close(struct vsock_sock *sock);
/* Releases the handle and ends the connection at once with RST (Linux:
 * close with SO_LINGER 0): nothing lingers, the peer sees ECONNRESET. */
int vsock_abort(struct vsock_sock *sock);

/* Ready entries (0: deadline passed); deadline on platform_now_ns() scale. */
int vsock_poll(struct vsock_pollfd *fds, size_t n, uint64_t deadline_ns);

/*
 * A wake-up for a task that serves its sockets with vsock_poll and also
 * has work that other tasks hand it (an eventfd in a Linux poll set):
 *
 *	struct vsock_wakeup wakeup;
 *	vsock_wakeup_init(&wakeup, core);
 *	for (;;) {
 *		n = vsock_poll_wakeup(fds, nfds, deadline, &wakeup);
 *		...serve fds, then look at what the other tasks changed...
 *	}
 *
 * and in another task, after changing what the poller looks at:
 *	vsock_wakeup_post(&wakeup);
 *
 * A post is never lost: made before or during vsock_poll_wakeup, it ends
 * that call at once (counted as one ready entry) and is consumed by it.
 */
struct vsock_wakeup {
	struct vsock_core *core;      /* the sockets' core */
	bool posted;                  /* posted, not yet consumed (platform lock) */
	struct vsock_poller *sleeper; /* the poll asleep with it, if any */
};

void vsock_wakeup_init(struct vsock_wakeup *wakeup, struct vsock_core *core);
void vsock_wakeup_post(struct vsock_wakeup *wakeup);
/* The same where the platform lock is held already: a task exit callback. */
void vsock_wakeup_post_locked(struct vsock_wakeup *wakeup);
/* vsock_poll that also returns once `wakeup` is posted. */
int vsock_poll_wakeup(struct vsock_pollfd *fds, size_t n, uint64_t deadline_ns,
                      struct vsock_wakeup *wakeup);

int vsock_setopt(struct vsock_sock *sock, enum vsock_opt opt, uint64_t value);
int vsock_getopt(struct vsock_sock *sock, enum vsock_opt opt, uint64_t *value);
/* Where a connect stands: 0 connected (the peer may have closed since),
 * -EINPROGRESS still waiting for the answer, the error that ended it
 * (-ECONNRESET: an RST answered, -ETIMEDOUT), -ENOTCONN: never tried,
 * -EINVAL: a listener. */
int vsock_connect_status(struct vsock_sock *sock);
/* SO_ERROR: the connection's error (negative errno) or 0; it stays set. */
int vsock_sock_error(struct vsock_sock *sock);
int vsock_getsockname(struct vsock_sock *sock, struct vsock_addr *out);
int vsock_getpeername(struct vsock_sock *sock, struct vsock_addr *out);
/* Bytes buffered for recv right now. */
size_t vsock_rx_available(struct vsock_sock *sock);
/*
 * The wait queue every change of the socket wakes (data, credit, the
 * connection's state, an error; a listener: a connection to accept), for
 * a caller that sleeps on many things at once (a kernel's poll over
 * sockets and pipes) and looks with vsock_poll(..., 0) after each wake.
 * Valid until vsock_close; sleepers are woken before the socket goes.
 */
struct wait_queue *vsock_wait_queue(struct vsock_sock *sock);

#endif
