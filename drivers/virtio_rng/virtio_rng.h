/*
 * virtio_rng.h -- the virtio entropy device (virtio 1.2 §5.4): one
 * request queue of device-writable buffers the device fills with random
 * bytes.  QEMU: -device virtio-rng-pci.  Portable: it sees the device
 * only through struct virtio_ops (drivers/virtio_pci/virtio.h).
 *
 * Typical usage:
 *	struct virtio_rng *rng;
 *	if (virtio_rng_probe(&vdev, &pool, &rng) == 0)
 *		n = virtio_rng_read(rng, buf, 32);   // task context; blocks
 */
#ifndef DRIVERS_VIRTIO_RNG_VIRTIO_RNG_H
#define DRIVERS_VIRTIO_RNG_VIRTIO_RNG_H

#include <stddef.h>
#include <stdint.h>

#include "drivers/virtio_pci/virtio.h"
#include "include/pool.h"

#define VIRTIO_RNG_DEVICE_MODERN       0x1044
#define VIRTIO_RNG_DEVICE_TRANSITIONAL 0x1005

struct virtio_rng;

int virtio_rng_probe(struct virtio_device *dev, struct dma_pool *pool, struct virtio_rng **out);
/* Up to len bytes (one request, at most a page): the count, or -EIO when
 * the device does not answer within a second or misbehaves. */
int virtio_rng_read(struct virtio_rng *rng, void *buf, size_t len);
/* Bytes the device has delivered since probe. */
uint64_t virtio_rng_bytes(const struct virtio_rng *rng);

#endif
