/*
 * virtqueue.h -- split virtqueues (virtio 1.2 §2.7), driver side.
 *
 * Portable: rings live in DMA pool memory and are reached by the device
 * through their dma_addr_t; the transport is seen only through a notify
 * callback.  Built into the image and into the host unit tests, where a
 * fake device plays the other side (tests/unit/test_virtqueue.c).
 *
 * Typical usage:
 *	struct virtqueue vq;
 *	vq_init(&vq, &pool, 0, 64, notify, transport);  // rings from the pool
 *	transport: tell the device vq.desc_dma / avail_dma / used_dma, enable
 *	struct vq_buffer b = { buf_dma, 4096, VQ_DEVICE_WRITES };
 *	vq_add(&vq, &b, 1, cookie);                     // post a buffer
 *	vq_kick(&vq);                                   // notify if needed
 *	while ((cookie = vq_next_used(&vq, &len)))      // after the interrupt
 *		consume(cookie, len);
 *
 * With VIRTIO_F_EVENT_IDX (vq_use_event_idx) the doorbell is rung only
 * when the device's avail_event says it is waiting, and the device is
 * asked for an interrupt only for the entry after the last one consumed.
 *
 * The device is not trusted: a used entry naming a descriptor that is not
 * the head of an outstanding chain, a length larger than the chain's
 * device-writable bytes, or a used index that moves more than the ring
 * size marks the queue broken; a broken queue hands nothing out again.
 */
#ifndef DRIVERS_VIRTIO_PCI_VIRTQUEUE_H
#define DRIVERS_VIRTIO_PCI_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "include/dma.h"
#include "include/pool.h"
#include "include/virtio_ring.h"

#define VQ_MAX_SIZE 1024

enum vq_direction {
	VQ_DEVICE_READS,  /* driver -> device (out) */
	VQ_DEVICE_WRITES, /* device -> driver (in) */
};

struct vq_buffer {
	dma_addr_t addr;       /* device address of the bytes */
	uint32_t len;          /* their length */
	enum vq_direction dir; /* out buffers must come before in buffers */
};

typedef void (*vq_notify_fn)(void *ctx, uint16_t queue_index);

struct virtqueue {
	uint16_t index;           /* queue number on the device */
	uint16_t size;            /* descriptors (power of two) */
	struct dma_region ring;   /* one pool run holding all three rings */
	struct vring_desc *desc;  /* descriptor table */
	volatile uint16_t *avail; /* flags, idx, ring[size], used_event */
	volatile uint8_t *used;   /* flags, idx, ring[size] (8 bytes each), avail_event */
	dma_addr_t desc_dma, avail_dma, used_dma; /* for the transport */
	uint16_t free_head;                       /* first free descriptor */
	uint16_t num_free;                        /* free descriptors */
	uint16_t avail_idx;                       /* our copy of avail->idx */
	uint16_t last_used_idx;                   /* next used entry to consume */
	uint16_t added_since_kick;                /* buffers made available since the last kick */
	void **cookies;                           /* per head: caller's cookie, NULL if free */
	uint16_t *chain_len;                      /* per head: descriptors in its chain */
	uint32_t *writable;                       /* per head: device-writable bytes in chain */
	vq_notify_fn notify;                      /* transport: ring the doorbell */
	void *notify_ctx;                         /* its argument */
	bool broken;                              /* device misbehaved: queue is dead */
	bool event_idx;                           /* VIRTIO_F_EVENT_IDX negotiated (§2.7.10) */
	bool interrupts_on;                       /* we want used-buffer notifications */
	uint64_t kicks;                           /* doorbells rung */
	uint64_t completions;                     /* used entries consumed */
};

int vq_init(struct virtqueue *vq, struct dma_pool *pool, uint16_t index, uint16_t size,
            vq_notify_fn notify, void *notify_ctx);
void vq_destroy(struct virtqueue *vq, struct dma_pool *pool);

/* Post one chain; -ENOSPC if too few free descriptors, -EIO if broken. */
int vq_add(struct virtqueue *vq, const struct vq_buffer *bufs, unsigned count, void *cookie);
/* Publish added buffers and notify the device unless it asked not to. */
void vq_kick(struct virtqueue *vq);
/* Next completed chain's cookie and written length, or NULL. */
void *vq_next_used(struct virtqueue *vq, uint32_t *len);
/* Outstanding cookies are handed back one by one after a device reset. */
void *vq_detach_unused(struct virtqueue *vq);

/* VIRTIO_F_EVENT_IDX was negotiated: notifications follow the event
 * indexes instead of the flags (call before posting buffers). */
void vq_use_event_idx(struct virtqueue *vq, bool on);

/* Ask the device (not) to interrupt on completions. */
void vq_enable_interrupts(struct virtqueue *vq);
void vq_disable_interrupts(struct virtqueue *vq);
/* Used entries waiting?  Re-check after enabling interrupts. */
bool vq_has_used(const struct virtqueue *vq);
/* The device's used index, as it stands (for statistics only). */
uint16_t vq_used_idx(const struct virtqueue *vq);

/* Byte offsets of the rings inside vq->ring (for fake devices in tests). */
size_t vq_avail_offset(uint16_t size);
size_t vq_used_offset(uint16_t size);

#endif
