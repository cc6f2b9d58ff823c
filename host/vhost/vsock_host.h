/*
 * vsock_host.h -- the host (CID 2) end of virtio-vsock for each VM served by
 * the daemon (DESIGN §4, §6); connections are in vsock_conn.h.
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
#include "host/vhost/vsock_conn.h"
#include "host/vhost/vsock_wire.h"

#define RST_QUEUE_MAX 1024		/* RSTs for unknown tuples awaiting rx */
#define SIBLING_QUEUE_BYTES (1u << 20)	/* bytes queued for a sibling VM */

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
	struct conn_table conns;	/* host-side connections */
	struct vsock_hdr rst[RST_QUEUE_MAX]; /* RSTs without a connection */
	unsigned rst_head;		/* first queued RST */
	unsigned rst_count;		/* queued RSTs */
	struct list_node sibling_in;	/* sibling_pkt for our rx ring */
	uint32_t sibling_bytes;		/* payload bytes in sibling_in */
	bool tx_stalled;		/* tx paused: a sibling queue was full */
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

/* Destroys every connection of the VM (device stopped). */
void vm_drop_connections(struct vsock_vm *vm);
/* The VM's answers to its connection table (vsock_queue.c). */
extern const struct conn_table_ops vm_conn_ops;
/* Queues an RST answering hdr (never for an RST). */
void vm_queue_rst(struct vsock_vm *vm, const struct vsock_hdr *hdr);
/* Processes the tx ring / fills the rx ring. */
void vm_tx_service(struct vsock_vm *vm);
void vm_rx_service(struct vsock_vm *vm);
/* Frees sibling packets queued for vm. */
void vm_drop_sibling_queue(struct vsock_vm *vm);

#endif
