/*
 * internal.h -- state shared by the vsock core's files (core.c: packets,
 * table, timers; socket.c: the application's side).  Not for users of the
 * core: they see vsock/core.h and vsock/socket.h.
 *
 * Locking: every field below is guarded by the platform lock.
 *
 * Lifetime of a socket: it is referenced by the application's handle
 * (user_open, until vsock_close), by the demultiplexing table (in_table,
 * while the connection may still receive packets) and by a listener's
 * accept queue (parent != NULL).  sock_release_if_unused() frees it when
 * none is left.
 */
#ifndef VSOCK_INTERNAL_H
#define VSOCK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "include/platform.h"
#include "vsock/core.h"
#include "vsock/socket.h"
#include "vsock/wire.h"

/* Receive data lives in chunks; small packets are appended (coalesced). */
#define VSOCK_RX_CHUNK         4032
/* Ask for more credit when the peer's view of our space drops below this. */
#define VSOCK_CREDIT_LOW       (64 * 1024)
/* The largest payload we accept from any transport. */
#define VSOCK_MAX_RX_PAYLOAD   (64 * 1024)
/* Remembered ephemeral ports in quarantine. */
#define VSOCK_QUARANTINE_SLOTS 64
/* Log lines about refused REQUESTs: this many at once, then this many a
 * second; the rest are counted and the count is printed with the next. */
#define VSOCK_LOG_BURST        10
#define VSOCK_LOG_PER_SEC      5

enum vsock_state {
	SS_UNCONNECTED,  /* new, maybe bound */
	SS_LISTEN,       /* accepting connections */
	SS_CONNECTING,   /* REQUEST sent, waiting for RESPONSE */
	SS_CONNECTED,    /* established; may be half-closed */
	SS_CLOSING,      /* closed by the application, lingering for the peer's RST */
	SS_DISCONNECTED, /* over (RST, reset, timeout); handle still open */
};

struct rx_chunk {
	struct rx_chunk *next; /* next older-to-newer chunk */
	uint32_t start;        /* first unread byte */
	uint32_t end;          /* one past the last written byte */
	uint8_t data[VSOCK_RX_CHUNK];
};

/*
 * vsock_poll's sleepers.  A sleeper waits on its own queue and hooks it
 * onto each socket it polls (the hook lives in the caller's struct
 * vsock_pollfd: no allocation), so that an event on one socket wakes the
 * tasks polling that socket, not every poller of the core (the agent, each
 * diag service, ...).  Core-wide events (transport reset, tx room again)
 * wake every sleeper through core->pollers.
 */
struct vsock_poller {
	struct vsock_poller *next; /* in core->pollers */
	struct wait_queue wq;      /* the sleeper waits here */
};

struct vsock_sock {
	struct vsock_core *core; /* owner */
	struct vsock_sock *next; /* in core->socks (every socket) */
	struct vsock_sock *prev;
	enum vsock_state state;             /* see above */
	uint16_t type;                      /* VSOCK_TYPE_STREAM */
	bool user_open;                     /* the application holds a handle */
	bool in_table;                      /* demultiplexed by its 4-tuple (counted in conns) */
	bool owns_port;                     /* bound: local.port is reserved by this socket */
	bool ephemeral;                     /* local.port was picked by us */
	bool nonblock;                      /* VSOCK_OPT_NONBLOCK */
	bool rst_owed;                      /* peer closed both ways: RST once rx drains */
	bool credit_requested;              /* CREDIT_REQUEST sent since the last credit change */
	struct vsock_addr local;            /* our address (cid is the core's) */
	struct vsock_addr peer;             /* the other end */
	int error;                          /* pending error (positive errno), 0 if none */
	uint8_t shut_local;                 /* VSOCK_SHUTDOWN_* we sent */
	uint8_t shut_peer;                  /* VSOCK_SHUTDOWN_* the peer sent */
	uint64_t deadline_ns;               /* CONNECTING: timeout; CLOSING: linger end */
	uint64_t connect_timeout_ns;        /* VSOCK_OPT_CONNECT_TIMEOUT_NS */
	uint64_t rcvtimeo_ns;               /* 0: none */
	uint64_t sndtimeo_ns;               /* 0: none */
	struct wait_queue wq;               /* tasks blocked on this socket */
	struct vsock_poll_hook *poll_hooks; /* vsock_poll sleepers interested in it */
	uint32_t buf_alloc_asked;           /* buf_alloc before a grant cut it (restored after) */
	uint32_t granted;                   /* its share of cfg.rx_budget, while in the table */

	/* listener */
	struct vsock_sock *parent;      /* child: the listener whose queue holds us */
	struct vsock_sock *accept_head; /* listener: connections not yet accepted */
	struct vsock_sock *accept_tail;
	struct vsock_sock *accept_next; /* child: next in the parent's queue */
	uint32_t accept_len;            /* listener: queue length */
	uint32_t backlog;               /* listener: queue limit */

	/* credit (DESIGN §4), u32 counters that wrap */
	uint32_t buf_alloc;      /* our receive buffer */
	uint32_t rx_cnt;         /* bytes received into the buffer */
	uint32_t fwd_cnt;        /* bytes the application consumed */
	uint32_t last_fwd_sent;  /* fwd_cnt in the last header we sent */
	uint32_t tx_cnt;         /* bytes we sent */
	uint32_t peer_buf_alloc; /* the peer's receive buffer */
	uint32_t peer_fwd_cnt;   /* bytes the peer's application consumed */

	/* receive buffer: rx_cnt - fwd_cnt bytes in chunks */
	struct rx_chunk *rx_head; /* oldest */
	struct rx_chunk *rx_tail; /* newest, appended to */

	/* SEQPACKET receive (seqpacket.c): the buffer holds whole messages,
	 * then the one still arriving */
	struct seq_msg *msgs; /* ring of VSOCK_SEQ_MAX_MSGS, made on first use */
	uint32_t msg_head;    /* oldest complete message */
	uint32_t msg_count;   /* complete messages waiting */
	uint32_t msg_partial; /* bytes of the message still arriving */
	/* SEQPACKET send: the part of a message the transport has not taken */
	uint8_t *tx_msg;      /* its bytes (NULL: none) */
	uint32_t tx_msg_len;  /* how many */
	uint32_t tx_msg_off;  /* of those, sent */
	bool tx_msg_eor;      /* its last packet carries EOR */
	uint32_t tx_msg_want; /* a message that waited for credit: POLLOUT
				   * once the credit holds it (0: any) */
};

/* A control packet waiting for room in the transport. */
struct ctrl_packet {
	struct vsock_hdr hdr;
};

/* SEQPACKET: complete messages waiting in one receive buffer, at most. */
#define VSOCK_SEQ_MAX_MSGS 1024

/* A complete SEQPACKET message in the receive buffer. */
struct seq_msg {
	uint32_t len; /* its bytes */
	bool eor;     /* its last packet carried EOR */
};

/* A token bucket for log lines a peer can cause. */
struct vsock_log_limit {
	uint64_t stamp_ns;   /* tokens last topped up (0: never) */
	uint32_t tokens;     /* lines that may be printed now */
	uint32_t suppressed; /* lines held back since the last printed one */
};

struct quarantined_port {
	uint32_t port;     /* ephemeral port at rest */
	uint64_t until_ns; /* free again after this */
};

struct vsock_core {
	const struct vsock_transport_ops *ops; /* the transport */
	void *ctx;                             /* its context */
	uint64_t local_cid;                    /* as the transport reported it */
	struct vsock_config cfg;               /* limits and timeouts */
	struct vsock_sock *socks;              /* every socket, newest first */
	struct vsock_poller *pollers;          /* vsock_poll() sleepers now */
	bool tx_full;                          /* transport said -EAGAIN; wait for tx_ready */
	uint32_t next_ephemeral;               /* next ephemeral port to try */

	struct ctrl_packet *ctrl; /* ring of queued control packets */
	uint32_t ctrl_head;       /* oldest queued */
	uint32_t ctrl_count;      /* how many queued */

	struct quarantined_port quarantine[VSOCK_QUARANTINE_SLOTS];
	uint32_t quarantine_next; /* slot to overwrite next */

	struct vsock_stats stats;           /* counters */
	struct vsock_log_limit refusal_log; /* lines about refused REQUESTs */
	uint32_t tx_msgs_pending;           /* sockets with a tx_msg */
};

/* core.c, for socket.c; all with the lock held. */
struct vsock_sock *sock_alloc(struct vsock_core *core, uint16_t type);
void sock_release_if_unused(struct vsock_sock *sock);
void sock_notify(struct vsock_sock *sock);
/* Wake every vsock_poll sleeper of the core (core-wide events). */
void core_wake_pollers(struct vsock_core *core);
void sock_table_add(struct vsock_sock *sock);
void sock_table_remove(struct vsock_sock *sock);
bool sock_tuple_in_use(struct vsock_core *core, uint32_t local_port, const struct vsock_addr *peer);
bool sock_port_owned(struct vsock_core *core, uint32_t port);
int sock_pick_ephemeral(struct vsock_core *core, uint32_t *port);
int sock_send_ctrl(struct vsock_sock *sock, uint16_t op, uint32_t flags);
int sock_send_data(struct vsock_sock *sock, const void *buf, size_t len);
int sock_send_rw(struct vsock_sock *sock, const void *buf, size_t len, uint32_t flags);
uint32_t sock_tx_credit(const struct vsock_sock *sock);
bool core_tx_flush(struct vsock_core *core);
void core_reply_rst(struct vsock_core *core, const struct vsock_hdr_fields *in);
int sock_rx_append(struct vsock_sock *sock, const uint8_t *data, uint32_t len);
size_t sock_rx_take(struct vsock_sock *sock, uint8_t *buf, size_t len);
void sock_consumed(struct vsock_sock *sock, uint32_t bytes);
void sock_rx_discard(struct vsock_sock *sock);
size_t sock_rx_bytes(const struct vsock_sock *sock);
void sock_reset(struct vsock_sock *sock, int error, bool send_rst);
void sock_close_listener(struct vsock_sock *sock);
void sock_timeout(struct vsock_sock *sock, uint64_t now_ns);
/* core.c, lock held: SEQPACKET messages going out. */
/* Sends one message (credit for all of it checked by the caller):
 * len, -EAGAIN when nothing went, or -errno.  What the transport does
 * not take now is kept in tx_msg and sent first by core_tx_flush. */
int sock_send_message(struct vsock_sock *sock, const uint8_t *buf, size_t len, bool eor);
/* Forgets the received message boundaries (the buffer is discarded). */
void sock_msgs_forget(struct vsock_sock *sock);
/* seqpacket.c, lock held. */
/* Whether the transport negotiated sockets of `type`. */
bool core_type_supported(const struct vsock_core *core, uint16_t type);
/* RW of a SEQPACKET connection (window already checked): payload joins
 * the message being received; EOM completes it.  false: the connection
 * was reset (too many messages queued). */
bool seq_rx(struct vsock_sock *sock, const struct vsock_hdr_fields *h, const void *payload);
/* Takes the oldest complete message (-EAGAIN: none): up to len bytes into
 * buf, the rest dropped; *msg_len gets its length, *eor its EOR. */
int seq_take(struct vsock_sock *sock, uint8_t *buf, size_t len, uint32_t *msg_len, bool *eor);
/* Whether a read would find a message (SEQPACKET) or bytes (STREAM). */
bool sock_readable(const struct vsock_sock *sock);

/* Whether a line may be logged now under `limit` (counts it if not; the
 * first line after suppressed ones says how many were held back). */
bool core_log_allowed(struct vsock_log_limit *limit);
/* "7, 9, 1024 (seqpacket)": the ports listened on, at most 16 shown. */
void core_listening_ports(struct vsock_core *core, char *buf, size_t size);

#endif
