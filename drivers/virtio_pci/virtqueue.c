/*
 * virtqueue.c -- split virtqueue, driver side (virtio 1.2 §2.7; see
 * virtqueue.h).
 *
 * Layout in one pool run: descriptor table (16 * size), available ring
 * (6 + 2 * size), used ring (6 + 8 * size) at a 64-byte boundary.  The
 * free list and each chain's shape are kept in driver-private memory, never
 * read back from the shared descriptor table, so a device that scribbles on
 * descriptors cannot make the driver free or reuse the wrong ones.
 */
#include "drivers/virtio_pci/virtqueue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "include/log.h"
#include "include/platform.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "rings are little-endian; add byte swaps for big-endian CPUs");

#define AVAIL_FLAGS 0
#define AVAIL_IDX   1
#define AVAIL_RING  2 /* in uint16_t units */
#define USED_FLAGS  0
#define USED_IDX    2
#define USED_RING   4 /* in bytes */

static uint16_t *desc_next_shadow(const struct virtqueue *vq)
{
	/* stored after writable[] in the same allocation, see vq_init */
	return (uint16_t *)(vq->writable + vq->size);
}

size_t vq_avail_offset(uint16_t size)
{
	return (size_t)16 * size;
}

size_t vq_used_offset(uint16_t size)
{
	size_t avail_end = vq_avail_offset(size) + 6 + 2 * (size_t)size;

	return (avail_end + 63) & ~(size_t)63;
}

static size_t ring_bytes(uint16_t size)
{
	return vq_used_offset(size) + 6 + 8 * (size_t)size;
}

int vq_init(struct virtqueue *vq, struct dma_pool *pool, uint16_t index, uint16_t size,
            vq_notify_fn notify, void *notify_ctx)
{
	size_t pages;
	uint8_t *meta;
	int err;

	memset(vq, 0, sizeof(*vq));
	if (size == 0 || size > VQ_MAX_SIZE || (size & (size - 1))) {
		log_printf("virtqueue %u: bad size %u\n", index, size);
		return -EINVAL;
	}
	/* cookies, chain lengths, writable bytes, shadow next links */
	meta = calloc(size,
	              sizeof(void *) + sizeof(uint16_t) + sizeof(uint32_t) + sizeof(uint16_t));
	if (!meta)
		return -ENOMEM;
	pages = (ring_bytes(size) + POOL_PAGE_SIZE - 1) / POOL_PAGE_SIZE;
	err = pool_alloc(pool, pages, &vq->ring);
	if (err) {
		free(meta);
		return err;
	}
	vq->index = index;
	vq->size = size;
	vq->desc = vq->ring.cpu;
	vq->avail = (uint16_t *)((uint8_t *)vq->ring.cpu + vq_avail_offset(size));
	vq->used = (uint8_t *)vq->ring.cpu + vq_used_offset(size);
	vq->desc_dma = vq->ring.dev;
	vq->avail_dma = dma_addr(vq->ring.dev.addr + vq_avail_offset(size));
	vq->used_dma = dma_addr(vq->ring.dev.addr + vq_used_offset(size));
	vq->cookies = (void **)meta;
	vq->writable = (uint32_t *)(meta + size * sizeof(void *));
	vq->chain_len = (uint16_t *)(desc_next_shadow(vq) + size);
	for (uint16_t i = 0; i < size; i++)
		desc_next_shadow(vq)[i] = (uint16_t)(i + 1);
	vq->free_head = 0;
	vq->num_free = size;
	vq->notify = notify;
	vq->notify_ctx = notify_ctx;
	vq->interrupts_on = true;
	return 0;
}

void vq_use_event_idx(struct virtqueue *vq, bool on)
{
	vq->event_idx = on;
}

/* The driver's used_event (after avail->ring) and the device's
 * avail_event (after used->ring). */
static volatile uint16_t *used_event(struct virtqueue *vq)
{
	return &vq->avail[AVAIL_RING + vq->size];
}

static uint16_t avail_event(const struct virtqueue *vq)
{
	return *(volatile uint16_t *)(vq->used + USED_RING + 8 * (size_t)vq->size);
}

void vq_destroy(struct virtqueue *vq, struct dma_pool *pool)
{
	pool_free(pool, &vq->ring);
	free(vq->cookies);
	memset(vq, 0, sizeof(*vq));
}

int vq_add(struct virtqueue *vq, const struct vq_buffer *bufs, unsigned count, void *cookie)
{
	uint16_t *next = desc_next_shadow(vq);
	uint16_t head, i;
	uint32_t writable = 0;
	bool seen_in = false;

	if (vq->broken)
		return -EIO;
	if (count == 0 || !cookie)
		return -EINVAL;
	if (count > vq->num_free)
		return -ENOSPC;
	for (unsigned n = 0; n < count; n++) {
		if (bufs[n].dir == VQ_DEVICE_WRITES)
			seen_in = true;
		else if (seen_in)
			return -EINVAL; /* device-readable after writable: §2.7.4.2 */
	}

	head = i = vq->free_head;
	for (unsigned n = 0; n < count; n++) {
		struct vring_desc *d = &vq->desc[i];

		d->addr = bufs[n].addr.addr;
		d->len = bufs[n].len;
		d->flags = (bufs[n].dir == VQ_DEVICE_WRITES ? VRING_DESC_F_WRITE : 0) |
		           (n + 1 < count ? VRING_DESC_F_NEXT : 0);
		d->next = n + 1 < count ? next[i] : 0;
		if (bufs[n].dir == VQ_DEVICE_WRITES)
			writable += bufs[n].len;
		i = next[i];
	}
	vq->free_head = i;
	vq->num_free -= count;
	vq->cookies[head] = cookie;
	vq->chain_len[head] = (uint16_t)count;
	vq->writable[head] = writable;

	vq->avail[AVAIL_RING + (vq->avail_idx & (vq->size - 1))] = head;
	dma_wmb(); /* descriptors and ring entry before the index (§2.7.13) */
	vq->avail_idx++;
	vq->avail[AVAIL_IDX] = vq->avail_idx;
	vq->added_since_kick++;
	return 0;
}

void vq_kick(struct virtqueue *vq)
{
	uint16_t added = vq->added_since_kick;
	bool notify;

	if (vq->broken || added == 0)
		return;
	vq->added_since_kick = 0;
	dma_mb(); /* the index store before reading what the device wants */
	if (vq->event_idx)
		notify = vring_need_event(avail_event(vq), vq->avail_idx,
		                          (uint16_t)(vq->avail_idx - added));
	else
		notify = !(*(volatile uint16_t *)(vq->used + USED_FLAGS) & VRING_USED_F_NO_NOTIFY);
	if (notify) {
		vq->kicks++;
		vq->notify(vq->notify_ctx, vq->index);
	}
}

static void mark_broken(struct virtqueue *vq, const char *why, unsigned a, unsigned b)
{
	if (!vq->broken)
		log_printf("virtqueue %u: device broke the ring: %s (%u, %u); "
		           "queue disabled\n",
		           vq->index, why, a, b);
	vq->broken = true;
}

static uint16_t used_idx(const struct virtqueue *vq)
{
	return *(volatile uint16_t *)(vq->used + USED_IDX);
}

uint16_t vq_used_idx(const struct virtqueue *vq)
{
	return used_idx(vq);
}

bool vq_has_used(const struct virtqueue *vq)
{
	return !vq->broken && used_idx(vq) != vq->last_used_idx;
}

void *vq_next_used(struct virtqueue *vq, uint32_t *len)
{
	uint16_t *next = desc_next_shadow(vq);
	uint16_t idx, pending, head, i;
	volatile struct vring_used_elem *elem;
	uint32_t id, written;
	void *cookie;

	if (vq->broken)
		return NULL;
	idx = used_idx(vq);
	pending = (uint16_t)(idx - vq->last_used_idx);
	if (pending == 0)
		return NULL;
	if (pending > vq->size - vq->num_free) {
		mark_broken(vq, "used index ahead of what was posted", idx, vq->last_used_idx);
		return NULL;
	}
	dma_rmb(); /* the index before the entry it covers */
	elem = (volatile struct vring_used_elem *)(vq->used + USED_RING) +
	       (vq->last_used_idx & (vq->size - 1));
	id = elem->id;
	written = elem->len;
	if (id >= vq->size || !vq->cookies[id]) {
		mark_broken(vq, "used id is not an outstanding chain", id, vq->size);
		return NULL;
	}
	if (written > vq->writable[id]) {
		mark_broken(vq, "used length exceeds the writable buffer", written,
		            vq->writable[id]);
		return NULL;
	}
	head = (uint16_t)id;
	cookie = vq->cookies[head];
	vq->cookies[head] = NULL;
	/* Return the chain to the free list using our own links. */
	i = head;
	for (uint16_t n = 1; n < vq->chain_len[head]; n++)
		i = next[i];
	next[i] = vq->free_head;
	vq->free_head = head;
	vq->num_free += vq->chain_len[head];
	vq->last_used_idx++;
	vq->completions++;
	if (vq->event_idx && vq->interrupts_on) {
		/* interrupt us for the next entry (§2.7.10) */
		*used_event(vq) = vq->last_used_idx;
		dma_mb();
	}
	*len = written;
	return cookie;
}

void *vq_detach_unused(struct virtqueue *vq)
{
	for (uint16_t head = 0; head < vq->size; head++) {
		void *cookie = vq->cookies[head];

		if (cookie) {
			vq->cookies[head] = NULL;
			return cookie;
		}
	}
	return NULL;
}

void vq_enable_interrupts(struct virtqueue *vq)
{
	vq->interrupts_on = true;
	if (vq->event_idx)
		*used_event(vq) = vq->last_used_idx;
	else
		vq->avail[AVAIL_FLAGS] = 0;
	dma_mb(); /* the store before the caller re-checks the used ring */
}

void vq_disable_interrupts(struct virtqueue *vq)
{
	vq->interrupts_on = false;
	/* with event indexes the device only reads used_event, which is
	 * simply no longer advanced: at most one more interrupt comes */
	if (!vq->event_idx)
		vq->avail[AVAIL_FLAGS] = VRING_AVAIL_F_NO_INTERRUPT;
}
