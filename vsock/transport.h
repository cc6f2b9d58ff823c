/*
 * transport.h -- the contract between the portable vsock core (vsock/) and
 * whatever carries its packets: the virtio-vsock device driver in the image
 * (drivers/virtio_vsock/virtio_vsock.c) or the loopback transport in host
 * tests (vsock/loopback.c).
 *
 * Down (core -> transport): `send` one packet.  The transport copies header
 * and payload before returning (into DMA memory for the device), so the
 * core's buffers are free again at once.  -EAGAIN means "no room now": the
 * core keeps the packet queued and retries when the transport calls
 * vsock_core_tx_ready().
 *
 * Up (transport -> core): direct calls, with the platform lock held (as
 * Linux's transports call virtio_transport_recv_pkt).  Every packet
 * received goes to vsock_core_rx(); the core copies what it keeps, so the
 * transport can recycle its receive buffer immediately (an unread
 * connection never holds device descriptors).  A TRANSPORT_RESET event
 * goes to vsock_core_transport_reset().  The transport is given its core
 * before it can receive anything (the driver: before DRIVER_OK), so every
 * packet has a core to go to; answering strangers with RST is the core's
 * job alone.  A transport with a task of its own may run the core's
 * timers there too (vsock_core_tick, vsock/core.h, without the lock).
 *
 * The packet header is struct vsock_hdr (vsock/wire.h, DESIGN §4), in
 * little-endian wire order: the transport passes it through untouched.
 */
#ifndef VSOCK_TRANSPORT_H
#define VSOCK_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

struct vsock_hdr;
struct vsock_core;

struct vsock_transport_ops {
	/* The local (guest) CID as the device reports it now. */
	uint64_t (*local_cid)(void *ctx);
	/* Queue one packet; 0, -EAGAIN (retry after tx_ready) or another -errno. */
	int (*send)(void *ctx, const struct vsock_hdr *hdr, const void *payload, size_t len);
	/* Largest payload one packet may carry (e.g. 4096 for the image). */
	size_t max_payload;
	/* Feature bits the transport negotiated (VIRTIO_VSOCK_F_*). */
	uint64_t features;
};

/* Transport -> core entry points (lock held). */
void vsock_core_rx(struct vsock_core *core, const struct vsock_hdr *hdr, const void *payload,
                   size_t len);
void vsock_core_tx_ready(struct vsock_core *core);
void vsock_core_transport_reset(struct vsock_core *core);

#endif
