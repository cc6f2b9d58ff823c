/*
 * virtio_vsock.h -- the virtio-vsock device driver (virtio 1.2 §5.10).
 *
 * Brings the device up on its PCI transport, keeps the rx queue full of
 * pool buffers, sends packets for the vsock core and hands it every
 * received packet from a task woken by the queue interrupts.
 *
 * Typical usage:
 *	struct virtio_vsock *vs;
 *	if (virtio_vsock_probe(&pool, &vs) != 0)
 *		panic(...);                          // the reason was printed
 *	vsock_core_create(&core, virtio_vsock_transport(vs), vs, &cfg);
 *	struct virtio_vsock_upper up = { rx, tx_ready, reset, tick, core };
 *	virtio_vsock_attach(vs, &up);                 // packets flow to the core
 */
#ifndef DRIVERS_VIRTIO_VSOCK_H
#define DRIVERS_VIRTIO_VSOCK_H

#include <stddef.h>
#include <stdint.h>

#include "kernel/pool.h"

struct virtio_vsock;
struct vsock_hdr;
struct vsock_transport_ops;

/*
 * The layer above the device (the vsock core), called by the driver task
 * with the platform lock held.  `tick` runs the upper layer's timeouts and
 * returns when it wants to be called next (PLATFORM_FOREVER: not at all).
 */
struct virtio_vsock_upper {
	void (*rx)(void *ctx, const struct vsock_hdr *hdr, const void *payload,
		   size_t len);
	void (*tx_ready)(void *ctx);
	void (*transport_reset)(void *ctx);
	uint64_t (*tick)(void *ctx, uint64_t now_ns);
	void *ctx;
};

#define VIRTIO_VSOCK_DEVICE_MODERN 0x1053
#define VIRTIO_VSOCK_DEVICE_TRANSITIONAL 0x1012

struct virtio_vsock_stats {
	uint64_t guest_cid;       /* CID from the device config */
	uint64_t irq_rx, irq_tx, irq_event, irq_config; /* interrupts taken */
	uint64_t rx_packets;      /* packets handed up */
	uint64_t rx_bad;          /* malformed packets dropped */
	uint64_t tx_packets;      /* packets sent */
	uint64_t tx_full;         /* sends refused: no free tx buffer */
	uint64_t rst_replies;     /* RSTs sent for packets with no core */
	uint64_t transport_resets;/* TRANSPORT_RESET events */
	unsigned rx_posted;       /* rx buffers currently with the device */
	unsigned tx_free;         /* tx buffers free */
	uint64_t negotiated;      /* feature bits */
};

/* Find, negotiate and start the first vsock device.  -ENODEV with the
 * reason on the console when there is none or it misbehaves. */
int virtio_vsock_probe(struct dma_pool *pool, struct virtio_vsock **out);
const struct vsock_transport_ops *virtio_vsock_transport(struct virtio_vsock *vs);
void virtio_vsock_attach(struct virtio_vsock *vs, const struct virtio_vsock_upper *upper);
void virtio_vsock_stats(struct virtio_vsock *vs, struct virtio_vsock_stats *out);

#endif
