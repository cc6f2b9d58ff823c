/*
 * vsock_host.h -- the host (CID 2) end of virtio-vsock for each VM served by
 * the daemon, with hybrid vsock over Unix sockets (DESIGN §4, §6; Firecracker
 * docs/vsock.md; rust-vmm vhost-device-vsock).
 *
 *   host program --connect--> uds-path, "CONNECT <port>\n"  --REQUEST--> guest
 *                <-- "OK <local port>\n"                     <--RESPONSE--
 *   guest --REQUEST to host port P--> connect(<uds-path>_P), RESPONSE or RST
 *
 * Data flows unchanged both ways with per-connection credit: we advertise
 * buf_alloc bytes of buffer for guest→host data and honour the guest's
 * buf_alloc/fwd_cnt for host→guest data.  A slow Unix reader fills our
 * buffer, which stops our credit; a guest without rx buffers (or credit)
 * makes us stop reading the Unix socket.  Nothing spins.
 *
 * Typical usage:
 *	struct vsock_vm *vm;
 *	vsock_vm_create(&vm, &cfg);        // listens on socket and uds-path
 *	... loop ...
 *	vsock_vm_destroy(vm);              // closes everything, unlinks
 */
#ifndef HOST_VHOST_VSOCK_HOST_H
#define HOST_VHOST_VSOCK_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "host/vhost/list.h"
#include "host/vhost/loop.h"
#include "host/vhost/vhost_user.h"
#include "host/vhost/vsock_wire.h"

#define CONN_BUCKETS 256		/* connection hash buckets per VM */
#define RST_QUEUE_MAX 1024		/* RSTs for unknown tuples awaiting rx */
#define CONN_LINE_MAX 64		/* "CONNECT <port>\n" plus early data */
#define SIBLING_QUEUE_BYTES (1u << 20)	/* bytes queued for a sibling VM */
#define HOST_PORT_BASE 0x40000000u	/* first local port for CONNECT */
#define CONNECT_TIMEOUT_MS 10000	/* CONNECT line or guest answer */

enum conn_state {
	CONN_LINE,		/* host-initiated: reading "CONNECT <port>\n" */
	CONN_CONNECTING,	/* REQUEST to the guest pending or sent */
	CONN_ESTABLISHED,	/* data may flow */
	CONN_DEAD,		/* destroyed, freed after this loop batch */
};

#define PEND_REQUEST 1u		/* send REQUEST (host-initiated) */
#define PEND_RESPONSE 2u	/* send RESPONSE (guest-initiated) */
#define PEND_SHUTDOWN 4u	/* send SHUTDOWN with shutdown_flags */
#define PEND_CREDIT 8u		/* send CREDIT_UPDATE */

struct vsock_vm;

struct vsock_conn {
	struct vsock_vm *vm;		/* owner */
	struct ev_source ev;		/* the Unix socket */
	enum conn_state state;		/* see enum */
	uint32_t local_port;		/* host-side port (CID 2) */
	uint32_t peer_port;		/* guest-side port */
	struct vsock_conn *hash_next;	/* bucket chain */
	struct list_node all;		/* vm->conns */
	struct list_node ready;		/* vm->ready when it has work for rx */
	/* guest → host */
	uint8_t *buf;			/* ring of buf_alloc bytes, lazily made */
	uint32_t buf_head;		/* first unwritten byte in buf */
	uint32_t buf_used;		/* bytes waiting for the Unix socket */
	uint32_t buf_alloc;		/* buffer we advertise */
	uint32_t rx_cnt;		/* payload bytes received from the guest */
	uint32_t fwd_cnt;		/* of those, handed to the Unix socket */
	uint32_t fwd_cnt_sent;		/* fwd_cnt the guest last heard */
	uint32_t peer_shutdown;		/* VSOCK_SHUTDOWN_* from the guest */
	bool wr_shut;			/* shutdown(SHUT_WR) done */
	/* host → guest */
	uint32_t peer_buf_alloc;	/* guest's buffer size */
	uint32_t peer_fwd_cnt;		/* guest's consumed count */
	uint32_t tx_cnt;		/* payload bytes sent to the guest */
	bool rd_eof;			/* Unix socket gave EOF */
	bool hup;			/* Unix peer closed completely */
	bool data_ready;		/* Unix socket (or line) may have data */
	unsigned pending;		/* PEND_* control packets owed */
	uint32_t shutdown_flags;	/* flags of the pending SHUTDOWN */
	char line[CONN_LINE_MAX];	/* CONNECT line, then early data */
	uint32_t line_len;		/* bytes in line[] */
	uint32_t lead_off;		/* early data: line[lead_off..line_len) */
	uint64_t deadline_ms;		/* LINE/CONNECTING give up then */
};

/* A packet from one VM's tx ring for a sibling VM's rx ring. */
struct sibling_pkt {
	struct list_node node;		/* in the destination's sibling queue */
	struct vsock_hdr hdr;		/* header as sent (len = bytes left) */
	uint32_t off;			/* payload bytes already delivered */
	uint8_t data[];			/* payload */
};

struct vsock_vm_config {
	uint64_t guest_cid;		/* CID the guest reads from config */
	const char *socket_path;	/* vhost-user socket */
	const char *uds_path;		/* hybrid vsock Unix socket */
	uint32_t groups;		/* bitmask of sibling groups */
	uint32_t buf_alloc;		/* per-connection buffer we advertise */
};

struct vsock_vm {
	struct vu_dev dev;		/* vhost-user device (rings, memory) */
	uint64_t cid;			/* guest CID */
	char *uds_path;			/* hybrid listener path */
	struct ev_source uds;		/* hybrid listener */
	uint32_t groups;		/* sibling groups bitmask */
	uint32_t buf_alloc;		/* per-connection buffer we advertise */
	struct vsock_conn *bucket[CONN_BUCKETS]; /* (local, peer) port hash */
	struct list_node conns;		/* every live connection */
	struct list_node ready;		/* connections with packets to send */
	struct vsock_hdr rst[RST_QUEUE_MAX]; /* RSTs without a connection */
	unsigned rst_head;		/* first queued RST */
	unsigned rst_count;		/* queued RSTs */
	struct list_node sibling_in;	/* sibling_pkt for our rx ring */
	uint32_t sibling_bytes;		/* payload bytes in sibling_in */
	bool tx_stalled;		/* tx paused: a sibling queue was full */
	uint32_t next_port;		/* next local port to try for CONNECT */
	bool rx_dirty;			/* rx work appeared this batch */
	struct list_node vms;		/* every VM of the daemon */
};

int vsock_vm_create(struct vsock_vm **out, const struct vsock_vm_config *cfg);
void vsock_vm_destroy(struct vsock_vm *vm);
/* Registers the after-batch work (rx servicing, freeing dead conns) and
 * the 1 Hz timer for handshake timeouts; 0 or negative errno. */
int vsock_host_init(void);
void vsock_host_fini(void);

/* ---- shared between vsock_conn.c and vsock_queue.c ---------------------- */
extern struct list_node vsock_all_vms;

struct vsock_conn *conn_lookup(struct vsock_vm *vm, uint32_t local_port, uint32_t peer_port);
/* Guest REQUEST to host port: connect <uds>_P; NULL when nobody listens. */
struct vsock_conn *conn_from_guest(struct vsock_vm *vm, const struct vsock_hdr *hdr);
/* Closes the Unix side and frees the connection after the batch. */
void conn_destroy(struct vsock_conn *conn);
/* Sends RST to the guest and destroys the connection. */
void conn_reset(struct vsock_conn *conn, const char *why);
/* Recomputes epoll interest and the ready-list membership. */
void conn_refresh(struct vsock_conn *conn);
/* Bytes the guest can take now. */
uint32_t conn_peer_credit(const struct vsock_conn *conn);
/* Guest payload for the Unix socket; 0 or negative errno (conn reset). */
int conn_from_guest_data(struct vsock_conn *conn, const struct iovec *iov,
			 unsigned n, size_t skip, uint32_t len);
/* Applies shutdown state after data moved (may destroy the conn). */
void conn_check_shutdown(struct vsock_conn *conn);
/* The guest answered our REQUEST. */
void conn_established(struct vsock_conn *conn);
/* Destroys every connection of the VM (device stopped). */
void vm_drop_connections(struct vsock_vm *vm);
/* A host program connected to uds-path: read its CONNECT line next;
 * NULL when out of memory (the caller closes fd). */
struct vsock_conn *conn_from_host(struct vsock_vm *vm, int fd);
/* Resets connections whose handshake deadline has passed. */
void conn_expire(struct vsock_vm *vm, uint64_t now);
/* Frees destroyed connections (after the loop batch that destroyed them). */
void conn_free_dead(void);
/* Queues an RST answering hdr (never for an RST). */
void vm_queue_rst(struct vsock_vm *vm, const struct vsock_hdr *hdr);
/* Processes the tx ring / fills the rx ring. */
void vm_tx_service(struct vsock_vm *vm);
void vm_rx_service(struct vsock_vm *vm);
/* Frees sibling packets queued for vm. */
void vm_drop_sibling_queue(struct vsock_vm *vm);

#endif
