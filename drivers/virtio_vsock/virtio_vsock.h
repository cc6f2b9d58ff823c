/*
 * virtio_vsock.h -- the virtio-vsock device driver (virtio 1.2 §5.10).
 *
 * The driver is the vsock core's transport (vsock/transport.h, as Linux's
 * struct virtio_transport): the core sends through virtio_vsock_transport(),
 * and the driver hands every received packet straight to the core from a
 * task woken by the queue interrupts.  It sees the device only through
 * struct virtio_ops (drivers/virtio_pci/virtio.h), so the same driver runs
 * on any transport, including a fake one in the host unit tests.
 *
 * Typical usage:
 *	struct virtio_vsock *vs;
 *	if (virtio_vsock_probe(dev, &pool, &vs) != 0)     // steps 1-7; on failure
 *		...;                                      //   nothing is left over
 *	vsock_core_create(&core, virtio_vsock_transport(vs), vs, &cfg);
 *	if (virtio_vsock_start(vs, core) != 0)            // step 8: packets flow
 *		...;
 *	...
 *	virtio_vsock_remove(vs);                          // reset, release all
 */
#ifndef DRIVERS_VIRTIO_VSOCK_H
#define DRIVERS_VIRTIO_VSOCK_H

#include <stddef.h>
#include <stdint.h>

#include "include/pool.h"

struct virtio_device;
struct virtio_vsock;
struct vsock_core;
struct vsock_transport_ops;

#define VIRTIO_VSOCK_DEVICE_MODERN       0x1053
#define VIRTIO_VSOCK_DEVICE_TRANSITIONAL 0x1012

struct virtio_vsock_stats {
	uint64_t guest_cid;                             /* CID from the device config */
	uint64_t irq_rx, irq_tx, irq_event, irq_config; /* interrupts taken */
	uint64_t rx_packets;                            /* packets handed up */
	uint64_t rx_bad;                                /* malformed packets dropped */
	uint64_t tx_packets;                            /* packets sent */
	uint64_t tx_full;                               /* sends refused: no free tx buffer */
	uint64_t tx_irq_lost;                           /* tx completions found by polling */
	uint64_t transport_resets;                      /* TRANSPORT_RESET events */
	unsigned rx_posted;                             /* rx buffers currently with the device */
	unsigned tx_free;                               /* tx buffers free */
	/* The tx ring as the driver sees it, to tell a stalled device from a
	 * stalled driver: our avail index, the device's used index, the next
	 * used entry we would consume, and whether we asked for interrupts. */
	uint16_t tx_avail, tx_used, tx_last_used;
	bool tx_irq_on, tx_broken;
	uint64_t negotiated; /* feature bits */
};

/*
 * Bring `dev` (mapped by its transport, named) up to the point where it
 * could run: reset, features, guest CID, buffers, queues and interrupts
 * (virtio 1.2 §3.1.1 steps 1-7).  On failure everything is given back,
 * the device is marked FAILED and reset, and the reason is logged.
 */
int virtio_vsock_probe(struct virtio_device *dev, struct dma_pool *pool, struct virtio_vsock **out);
/* What to give vsock_core_create (with `vs` as its context). */
const struct vsock_transport_ops *virtio_vsock_transport(struct virtio_vsock *vs);
/*
 * Attach `core`, fill the rx and event queues, start the driver task and
 * set DRIVER_OK (step 8): from here on every packet goes to the core.
 * On failure the device is marked FAILED; remove it.
 */
int virtio_vsock_start(struct virtio_vsock *vs, struct vsock_core *core);
/* Reset the device, stop the driver task, give back every queue,
 * interrupt route and buffer.  Not with the platform lock held. */
void virtio_vsock_remove(struct virtio_vsock *vs);
void virtio_vsock_stats(struct virtio_vsock *vs, struct virtio_vsock_stats *out);

#endif
