/*
 * vsock_conn.h -- host-side (CID 2) vsock connections of one VM, each tied
 * to a Unix socket: hybrid vsock as Firecracker and rust-vmm
 * vhost-device-vsock do it (DESIGN §4, §6; Firecracker docs/vsock.md).
 *
 *   host program --connect--> uds-path, "CONNECT <port>\n"  --REQUEST--> guest
 *                <-- "OK <local port>\n"                     <--RESPONSE--
 *                <-- "ERROR <reason>\n", close               <--RST-- (or none)
 *   guest --REQUEST to host port P--> connect(<uds-path>_P), RESPONSE or RST
 *
 * A port mismatch is never silent: the guest's RST to our REQUEST, and a
 * guest REQUEST nobody listens for, are logged with the 4-tuple and the
 * reason (rate-limited: log.h), the latter with the ports that do have a
 * <uds-path>_P listener.
 *
 * Data flows unchanged both ways with per-connection credit: we advertise
 * buf_alloc bytes of buffer for guest→host data and honour the guest's
 * buf_alloc/fwd_cnt for host→guest data.  A slow Unix reader fills our
 * buffer, which stops our credit; a guest without rx buffers (or credit)
 * makes us stop reading the Unix socket.  Nothing spins.
 *
 * This layer knows nothing of rings or VMs.  A connection with packets to
 * send sits on its table's ready list; the owner of the table (the VM's
 * queue, vsock_queue.c) builds the packets and is told through
 * conn_table_ops when the ready list grew or a tuple must get an RST.
 *
 * Typical usage:
 *	conn_table_init(&t, cid, uds_path, buf_alloc, max_conns, &ops);
 *	conn_from_host(&t, accepted_fd);          // waits for its CONNECT line
 *	conn = conn_lookup(&t, dst_port, src_port);
 *	... guest packet for conn: conn_from_guest_data(), conn_established() ...
 *	... ops->rx_ready(&t): build packets for the connections on t.ready ...
 *	conn_table_drop(&t);                      // device stopped
 *	conn_free_dead();                         // after each loop batch
 */
#ifndef HOST_VHOST_VSOCK_CONN_H
#define HOST_VHOST_VSOCK_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "host/vhost/list.h"
#include "host/vhost/log.h"
#include "host/vhost/loop.h"
#include "host/vhost/vsock_wire.h"

#define CONN_BUCKETS        256         /* connection hash buckets per VM */
#define CONN_LINE_MAX       64          /* "CONNECT <port>\n" plus early data */
#define HOST_PORT_BASE      0x40000000u /* first local port for CONNECT */
#define CONNECT_TIMEOUT_MS  10000       /* CONNECT line or guest answer */
/* After the host program closed its socket completely, the guest has this
 * long to close its end (Firecracker's CONN_SHUTDOWN_TIMEOUT_MS); then RST.
 * Checked by the 1 Hz timer: the RST goes 2 to 3 s after the close. */
#define SHUTDOWN_TIMEOUT_MS 2000
/*
 * Packets a Linux guest holds.  Since CVE-2026-23086's fixes (6.12.92 and
 * later stable kernels; net/vmw_vsock/virtio_transport_common.c,
 * virtio_transport_inc_rx_pkt) Linux also charges every queued packet
 * SKB_TRUESIZE(0) (576 bytes on x86_64 and arm64) against buf_alloc and
 * resets the connection (ENOBUFS) when (queued + 1) * SKB_TRUESIZE(0) +
 * bytes + len exceeds it, whatever the credit says; packets of at most 128
 * bytes may be merged into the previous one, larger ones never.  So each
 * connection counts the RW packets the guest may still hold (until its
 * fwd_cnt passes them) and sends a packet only if that rule holds with
 * GUEST_PKT_COST per packet, never more than CONN_TRACK_PKTS of them.
 */
#define GUEST_PKT_COST      640 /* SKB_TRUESIZE(0) with a margin */
#define CONN_TRACK_PKTS     256 /* packets counted (and allowed) in the guest */
/* Coalescing: with this many packets unconsumed, a read that would not
 * fill the guest's buffer waits up to COALESCE_MS for more data (or for
 * the guest's fwd_cnt to move: it is asked with CREDIT_REQUEST). */
#define COALESCE_AFTER_PKTS 4
#define COALESCE_MS         2
/* A connection held by the packet bound asks the guest for its credit at
 * most this often (Linux stays silent while its free space is large). */
#define CREDIT_ASK_MS       100
/* SEQPACKET (vsock_seq.h): guest messages waiting for the Unix socket, and
 * the largest host record sent on to the guest (bigger ones reset). */
#define CONN_SEQ_MSGS       1024
#define SEQ_MAX_RECORD      (256u * 1024u)
#define CONN_MAX_DEFAULT    4096 /* connections per VM (--max-connections) */

enum conn_state {
	CONN_LINE,        /* host-initiated: reading "CONNECT <port>\n" */
	CONN_DIALING,     /* guest-initiated: our AF_VSOCK connect is under way */
	CONN_CONNECTING,  /* REQUEST to the guest pending or sent */
	CONN_ESTABLISHED, /* data may flow */
	CONN_DEAD,        /* destroyed, freed after this loop batch */
};

#define PEND_REQUEST    1u  /* send REQUEST (host-initiated) */
#define PEND_RESPONSE   2u  /* send RESPONSE (guest-initiated) */
#define PEND_SHUTDOWN   4u  /* send SHUTDOWN with shutdown_flags */
#define PEND_CREDIT     8u  /* send CREDIT_UPDATE */
#define PEND_CREDIT_REQ 16u /* send CREDIT_REQUEST */

struct conn_table;

struct vsock_conn {
	struct conn_table *table;     /* owner */
	struct ev_source ev;          /* the Unix socket */
	enum conn_state state;        /* see enum */
	bool hybrid;                  /* a CONNECT/OK host program (lines owed) */
	bool seqpacket;               /* SEQPACKET: messages <-> records (vsock_seq.h) */
	uint32_t local_port;          /* host-side port (CID 2) */
	uint32_t peer_port;           /* guest-side port */
	struct vsock_conn *hash_next; /* bucket chain */
	struct list_node all;         /* table->all; once dead, the dead list */
	struct list_node ready;       /* table->ready when it has work for rx */
	/* guest → host */
	uint8_t *buf;           /* ring of buf_alloc bytes, lazily made */
	uint32_t buf_head;      /* first unwritten byte in buf */
	uint32_t buf_used;      /* bytes waiting for the Unix socket */
	uint32_t buf_alloc;     /* buffer we advertise */
	uint32_t rx_cnt;        /* payload bytes received from the guest */
	uint32_t fwd_cnt;       /* of those, handed to the Unix socket */
	uint32_t fwd_cnt_sent;  /* fwd_cnt the guest last heard */
	uint32_t peer_shutdown; /* VSOCK_SHUTDOWN_* from the guest */
	bool wr_shut;           /* shutdown(SHUT_WR) done */
	uint32_t *seq_len;      /* SEQPACKET: ring of CONN_SEQ_MSGS lengths
					 * of the whole messages in buf */
	uint16_t seq_head;      /* oldest of them */
	uint16_t seq_count;     /* how many */
	uint32_t seq_partial;   /* bytes in buf of a message still arriving */
	/* host → guest */
	uint32_t peer_buf_alloc;           /* guest's buffer size */
	uint32_t peer_fwd_cnt;             /* guest's consumed count */
	uint32_t tx_cnt;                   /* payload bytes sent to the guest */
	uint32_t pkt_end[CONN_TRACK_PKTS]; /* tx_cnt after each RW packet the
					 * guest may still hold (a ring) */
	uint16_t pkt_head;                 /* oldest entry of pkt_end */
	uint16_t pkt_count;                /* entries in pkt_end */
	bool held;                         /* data waits (coalescing or packet bound) */
	bool coalesce_off;                 /* a coalescing wait ran out: send as is */
	uint64_t held_until_ms;            /* a held connection is looked at again */
	struct list_node held_node;        /* table->held while held */
	uint64_t credit_asked_ms;          /* when we last sent CREDIT_REQUEST */
	uint32_t credit_asked_fwd;         /* the guest's fwd_cnt then */
	bool rd_eof;                       /* Unix socket gave EOF */
	uint8_t *out_msg;                  /* SEQPACKET: the host record being sent */
	uint32_t out_len;                  /* its bytes */
	uint32_t out_off;                  /* of those, sent */
	bool out_pending;                  /* a record (maybe empty) is being sent */
	bool hup;                          /* Unix peer closed completely */
	bool data_ready;                   /* Unix socket (or line) may have data */
	unsigned pending;                  /* PEND_* control packets owed */
	uint32_t shutdown_flags;           /* flags of the pending SHUTDOWN */
	char line[CONN_LINE_MAX];          /* CONNECT line, then early data */
	uint32_t line_len;                 /* bytes in line[] */
	uint32_t lead_off;                 /* early data: line[lead_off..line_len) */
	uint64_t deadline_ms;              /* LINE/CONNECTING/DIALING give up then;
					 * ESTABLISHED after a hangup: RST then */
};

/* What a connection table needs from its owner. */
struct conn_table_ops {
	/* Queue an RST to the guest for hdr's tuple; hdr is written as the
	 * guest would have sent it (src = guest). */
	void (*send_rst)(struct conn_table *table, const struct vsock_hdr *hdr);
	/* A connection joined table->ready: the rx ring has work. */
	void (*rx_ready)(struct conn_table *table);
};

/* One VM's connections. */
struct conn_table {
	uint64_t cid;                            /* guest CID, for headers and log lines */
	const char *uds_path;                    /* host port P is <uds_path>_P (NULL: forward) */
	bool forward;                            /* host port P is AF_VSOCK forward_cid:P */
	uint32_t forward_cid;                    /* see forward.h */
	uint32_t buf_alloc;                      /* per-connection buffer we advertise */
	uint32_t next_port;                      /* next local port to try for CONNECT */
	unsigned count;                          /* live connections (on all) */
	unsigned max_conns;                      /* more are refused */
	struct vsock_conn *bucket[CONN_BUCKETS]; /* (local, peer) port hash */
	struct list_node all;                    /* every live connection */
	struct list_node ready;                  /* connections with packets to send */
	struct list_node held;                   /* connections whose data waits a little */
	const struct conn_table_ops *ops;        /* the owner's callbacks */
	struct log_limit *log;                   /* the VM's log limit (owner sets it) */
	const uint64_t *features;                /* virtio features the guest acked (owner) */
};

/* Sets up an empty table for at most max_conns connections; uds_path must
 * outlive it. */
void conn_table_init(struct conn_table *table, uint64_t cid, const char *uds_path,
                     uint32_t buf_alloc, unsigned max_conns, const struct conn_table_ops *ops);
/* Destroys every connection of the table (device stopped). */
void conn_table_drop(struct conn_table *table);
/* Resets connections whose handshake deadline has passed, and those whose
 * guest did not close within SHUTDOWN_TIMEOUT_MS of the host's close. */
void conn_expire(struct conn_table *table, uint64_t now);
/* Moves every deadline by delta_ms (the VM was paused that long). */
void conn_shift_deadlines(struct conn_table *table, uint64_t delta_ms);
/* Frees destroyed connections of every table.  Only after the whole loop
 * batch that destroyed them: later events of the batch may still name them
 * (they see fd -1 and are skipped).  Any number may die in one batch. */
void conn_free_dead(void);

struct vsock_conn *conn_lookup(struct conn_table *table, uint32_t local_port, uint32_t peer_port);
/* A host program connected to uds-path (seqpacket: to <uds-path>.seqpacket
 * with SOCK_SEQPACKET): read its CONNECT line next; NULL when out of
 * memory or at the table's connection limit (the program has been told
 * why; the caller closes fd). */
struct vsock_conn *conn_from_host(struct conn_table *table, int fd, bool seqpacket);
/* A host program connected to a --forward-listen port: REQUEST to the
 * same guest port next; NULL as conn_from_host (the caller closes fd). */
struct vsock_conn *conn_from_forward(struct conn_table *table, int fd, uint32_t port);
/* Guest REQUEST to host port: connect <uds>_P (or forward_cid:P); NULL
 * when nobody listens or at the connection limit. */
struct vsock_conn *conn_from_guest(struct conn_table *table, const struct vsock_hdr *hdr);
/* Closes the Unix side and frees the connection after the batch. */
void conn_destroy(struct vsock_conn *conn);
/* Sends RST to the guest and destroys the connection. */
void conn_reset(struct vsock_conn *conn, const char *why);
/* Recomputes epoll interest and the ready-list membership. */
void conn_refresh(struct vsock_conn *conn);
/* Bytes the guest can take now. */
uint32_t conn_peer_credit(const struct vsock_conn *conn);
/* Payload bytes the next RW packet may carry: the credit, bounded by the
 * guest's packet rule (GUEST_PKT_COST); 0 when the bound is reached. */
uint32_t conn_send_limit(const struct vsock_conn *conn);
/* An RW packet went to the guest (tx_cnt already counts it). */
void conn_sent_packet(struct vsock_conn *conn);
/* The credit fields of a guest header: packets the guest consumed are no
 * longer counted; a held connection goes on when fwd_cnt moved. */
void conn_peer_update(struct vsock_conn *conn, uint32_t buf_alloc, uint32_t fwd_cnt);
/* Holds conn's data for up to ms; true when a CREDIT_REQUEST should go to
 * the guest now (not asked since its fwd_cnt last moved, or long ago). */
bool conn_hold(struct vsock_conn *conn, uint32_t ms);
/* Ends a hold: the data goes on at the next refresh. */
void conn_unhold(struct vsock_conn *conn);
/* Lets held connections whose time is up go on; asks the loop to wake for
 * the next one (after every batch). */
void conn_held_expire(struct conn_table *table, uint64_t now);
/* Guest payload (with its RW flags: EOM/EOR) for the Unix socket; 0 or
 * negative errno (conn reset). */
int conn_from_guest_data(struct vsock_conn *conn, const struct iovec *iov, unsigned n, size_t skip,
                         uint32_t len, uint32_t flags);
/* Credit update owed when the guest's view of our free space is low
 * (always after a SEQPACKET message: Linux does so). */
void conn_maybe_credit_update(struct vsock_conn *conn);
/* Keeps guest bytes in the connection's buffer until the Unix socket
 * takes them (they fit: credit); 0 or -ENOMEM (the caller resets). */
int conn_buffer_guest_bytes(struct vsock_conn *conn, const struct iovec *iov, unsigned n,
                            size_t skip, uint32_t len);
/* Applies shutdown state after data moved (may destroy the conn). */
void conn_check_shutdown(struct vsock_conn *conn);
/* The guest answered our REQUEST. */
void conn_established(struct vsock_conn *conn);
/* The guest answered our REQUEST with RST: nobody listens on that guest
 * port.  Logged with the 4-tuple; a hybrid program gets an ERROR line. */
void conn_refused_by_guest(struct vsock_conn *conn);
/* Writes into buf the ports P that have a Unix socket "<uds_path>_P" now
 * ("6000, 6001", at most 16, or "none"); for log lines. */
void conn_host_listeners(const char *uds_path, char *buf, size_t size);

#endif
