/*
 * vsock_queue.h -- one VM's packets on its rings (virtio 1.2 §5.10.6;
 * DESIGN §4, §6): the guest's tx ring is parsed and dispatched to the VM's
 * connections or to a sibling VM; the rx ring is filled with the RSTs and
 * sibling packets queued here and with the packets of ready connections
 * (RSTs first; sibling and host packets take turns when both wait).
 *
 * Sits between the VM (vm.c, which owns a vsock_queue and its vhost-user
 * device) and the connections (vsock_conn.h, whose table it embeds and
 * whose callbacks it answers).  Reaching another VM is the owner's job,
 * asked through vsock_queue_ops.
 *
 * Typical usage:
 *	queue_init(&q, &dev, cid, uds_path, buf_alloc, max_conns, &ops);
 *	queue_tx_service(&q);      // tx ring kicked
 *	queue_rx_service(&q);      // rx ring kicked (new buffers)
 *	queue_after_batch(&q);     // after each loop batch
 *	queue_drop(&q);            // device stopped: connections and queues go
 */
#ifndef HOST_VHOST_VSOCK_QUEUE_H
#define HOST_VHOST_VSOCK_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "host/vhost/list.h"
#include "host/vhost/vsock_conn.h"
#include "host/vhost/vsock_wire.h"

#define RST_QUEUE_MAX       1024 /* RSTs for unknown tuples awaiting rx */
/* What one VM may hold for a sibling VM's rx ring: bytes charged (payload
 * plus SIBLING_PKT_CHARGE per packet, for the header, the list node and
 * the allocator) and packets.  Beyond either, the sender's packets stay in
 * its tx ring until the sibling drains (a single packet always fits an
 * empty queue). */
#define SIBLING_QUEUE_BYTES (1u << 20)
#define SIBLING_QUEUE_PKTS  1024u
#define SIBLING_PKT_CHARGE  128u
/* Work per ring per loop round (Linux vhost-vsock's weights): then the
 * loop serves everything else before the ring is resumed. */
#define QUEUE_WEIGHT_PKTS   256
#define QUEUE_WEIGHT_BYTES  0x80000u

struct vu_dev;
struct vsock_queue;

/* A ring as queue_watchdog last saw it. */
struct ring_watch {
	uint16_t pos; /* our position in its avail ring */
	bool waiting; /* work for us was waiting */
};

/* What a queue needs from its owner. */
struct vsock_queue_ops {
	/* The queue of the VM with this CID that q's VM may reach (a VM
	 * sharing one of its groups), or NULL. */
	struct vsock_queue *(*find_sibling)(struct vsock_queue *q, uint64_t cid);
};

struct vsock_queue {
	struct vu_dev *dev;                   /* the VM's rings (vhost_user.h) */
	uint64_t cid;                         /* guest CID */
	struct conn_table conns;              /* host-side connections */
	struct vsock_hdr rst[RST_QUEUE_MAX];  /* RSTs without a connection */
	unsigned rst_head;                    /* first queued RST */
	unsigned rst_count;                   /* queued RSTs */
	struct list_node sibling_in;          /* sibling packets for our rx ring */
	uint32_t sibling_bytes;               /* bytes charged for sibling_in */
	uint32_t sibling_count;               /* packets in sibling_in */
	bool tx_stalled;                      /* tx paused: a sibling queue was full */
	bool tx_more;                         /* tx stopped at its weight: resume */
	bool rx_dirty;                        /* rx work appeared (or was left over) */
	bool sibling_turn;                    /* both wait: a sibling packet goes next */
	struct ring_watch watch_tx, watch_rx; /* the rings at the last queue_watchdog */
	uint64_t kicks_lost;                  /* rings found waiting without a kick */
	const struct vsock_queue_ops *ops;    /* the owner's callbacks */
};

/* Sets up an empty queue for dev's rings, with room for max_conns
 * connections; uds_path must outlive it. */
void queue_init(struct vsock_queue *q, struct vu_dev *dev, uint64_t cid, const char *uds_path,
                uint32_t buf_alloc, unsigned max_conns, const struct vsock_queue_ops *ops);
/* Destroys every connection and empties the RST and sibling queues
 * (device stopped). */
void queue_drop(struct vsock_queue *q);
/* Processes the tx ring / fills the rx ring, each up to its weight
 * (QUEUE_WEIGHT_*); what is left waits for queue_after_batch. */
void queue_tx_service(struct vsock_queue *q);
void queue_rx_service(struct vsock_queue *q);
/* Resumes a tx ring stalled on a full sibling or stopped at its weight,
 * and fills the rx ring if work appeared or was left. */
void queue_after_batch(struct vsock_queue *q);
/* Call about once a second: a ring that had work for us at the last call
 * and still has, without having moved, lost its kick; it is served now,
 * and logged. */
void queue_watchdog(struct vsock_queue *q);

#endif
