/*
 * virtio_ring.h -- the split virtqueue as it lies in memory (virtio 1.2
 * §2.7), shared by both ends this project implements: the guest driver
 * (drivers/virtio_pci/virtqueue.c) and the host back-end
 * (host/vhost/virtq.c).  Layout only, no code that depends on a side.
 *
 * All fields are little-endian; both sides run on little-endian CPUs only
 * and read the rings in place.
 *
 *   descriptor table  struct vring_desc[num]                  16 * num bytes
 *   available ring    flags, idx, ring[num], used_event        6 + 2 * num
 *   used ring         flags, idx, elem[num], avail_event       6 + 8 * num
 *
 * Typical usage (device side, EVENT_IDX negotiated, after publishing used
 * entries up to new_idx; the driver side does the same with avail_event):
 *	uint16_t used_event = avail->ring[num];      // the word after ring[]
 *	if (vring_need_event(used_event, new_idx, signalled_idx))
 *		... interrupt the driver ...
 */
#ifndef INCLUDE_VIRTIO_RING_H
#define INCLUDE_VIRTIO_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VRING_DESC_F_NEXT          1 /* chain continues at .next */
#define VRING_DESC_F_WRITE         2 /* device writes (else reads) */
#define VRING_DESC_F_INDIRECT      4 /* buffer is a descriptor table */
#define VRING_AVAIL_F_NO_INTERRUPT 1 /* driver: no used-buffer interrupt */
#define VRING_USED_F_NO_NOTIFY     1 /* device: no available-buffer kick */

struct vring_desc {
	uint64_t addr;  /* le64 device address of the buffer */
	uint32_t len;   /* le32 buffer bytes */
	uint16_t flags; /* le16 VRING_DESC_F_* */
	uint16_t next;  /* le16 next descriptor when F_NEXT */
};
_Static_assert(sizeof(struct vring_desc) == 16, "descriptor is 16 bytes");
_Static_assert(offsetof(struct vring_desc, len) == 8, "desc.len");
_Static_assert(offsetof(struct vring_desc, flags) == 12, "desc.flags");
_Static_assert(offsetof(struct vring_desc, next) == 14, "desc.next");

struct vring_used_elem {
	uint32_t id;  /* le32 head of the used chain */
	uint32_t len; /* le32 bytes the device wrote */
};
_Static_assert(sizeof(struct vring_used_elem) == 8, "used element is 8 bytes");
_Static_assert(offsetof(struct vring_used_elem, len) == 4, "used.len");

/* Written by the driver; ring[num] is used_event (EVENT_IDX). */
struct vring_avail {
	uint16_t flags;  /* le16 VRING_AVAIL_F_* */
	uint16_t idx;    /* le16 where the driver puts the next entry */
	uint16_t ring[]; /* le16 heads of available chains */
};
_Static_assert(offsetof(struct vring_avail, idx) == 2, "avail.idx");
_Static_assert(offsetof(struct vring_avail, ring) == 4, "avail.ring");
_Static_assert(sizeof(struct vring_avail) == 4, "avail header");

/* Written by the device; ring[num] (its first 2 bytes) is avail_event. */
struct vring_used {
	uint16_t flags;                /* le16 VRING_USED_F_* */
	uint16_t idx;                  /* le16 where the device puts the next entry */
	struct vring_used_elem ring[]; /* returned chains */
};
_Static_assert(offsetof(struct vring_used, idx) == 2, "used.idx");
_Static_assert(offsetof(struct vring_used, ring) == 4, "used.ring");
_Static_assert(sizeof(struct vring_used) == 4, "used header");

/* Bytes of the three areas for a ring of num entries (with the event
 * words, which are there whether or not EVENT_IDX is negotiated). */
static inline size_t vring_desc_bytes(uint16_t num)
{
	return sizeof(struct vring_desc) * (size_t)num;
}

static inline size_t vring_avail_bytes(uint16_t num)
{
	return sizeof(struct vring_avail) + sizeof(uint16_t) * ((size_t)num + 1);
}

static inline size_t vring_used_bytes(uint16_t num)
{
	return sizeof(struct vring_used) + sizeof(struct vring_used_elem) * (size_t)num +
	       sizeof(uint16_t);
}

/* §2.7.10 (VIRTIO_F_EVENT_IDX): moving an index from old_idx to new_idx
 * must notify the other side when its event index lies in [old_idx,
 * new_idx), counted modulo 2^16. */
static inline bool vring_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

#endif
