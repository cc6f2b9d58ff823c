/*
 * virtq.h -- the device side of a split virtqueue (virtio 1.2 §2.7), as a
 * vhost-user backend drives it: the rings live in guest memory and every
 * index, address and length read from them is checked (DESIGN §4, §6).
 *
 * Typical usage (one queue):
 *	virtq_setup(&vq, &mem, num, desc, avail, used, base, event_idx);
 *	struct vq_chain chain;
 *	while ((r = virtq_pop(&vq, &chain)) > 0) {
 *		... read chain.iov[0..n_out), write chain.iov[n_out..) ...
 *		virtq_push(&vq, chain.head, bytes_written);
 *	}
 *	if (r < 0) ... the queue is broken: stop using it ...
 *	if (virtq_should_notify(&vq)) ... signal the call eventfd ...
 *	if (virtq_enable_notify(&vq)) ... more arrived meanwhile: pop again ...
 */
#ifndef HOST_VHOST_VIRTQ_H
#define HOST_VHOST_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "host/vhost/guest_mem.h"
#include "host/vhost/log.h"
#include "include/virtio_ring.h"

#define VIRTQ_MAX_SIZE     32768      /* largest split ring (virtio 1.2 §2.7) */
#define VQ_MAX_IOV         64         /* segments one chain may map to */
#define VQ_MAX_CHAIN_BYTES (1u << 20) /* larger chains are hostile */

/* One descriptor chain mapped into host pointers. */
struct vq_chain {
	uint16_t head;                /* descriptor index to return via virtq_push */
	unsigned n_out;               /* device-readable segments: iov[0..n_out) */
	unsigned n_in;                /* device-writable ones: iov[n_out..n_out+n_in) */
	size_t out_bytes;             /* total readable bytes */
	size_t in_bytes;              /* total writable bytes */
	struct iovec iov[VQ_MAX_IOV]; /* host pointers into guest memory */
};

struct virtq {
	const struct guest_mem *mem; /* where desc addresses are looked up */
	uint16_t num;                /* ring size (power of two) */
	struct vring_desc *desc;     /* descriptor table (host pointer) */
	struct vring_avail *avail;   /* avail ring; ring[num] is used_event */
	struct vring_used *used;     /* used ring; ring[num] is avail_event */
	uint16_t last_avail;         /* next avail entry we consume */
	uint16_t used_idx;           /* our copy of used->idx */
	uint16_t signalled_used;     /* used_idx at the last notification */
	bool signalled_valid;        /* signalled_used means something */
	bool event_idx;              /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool broken;                 /* guest broke the rules: never touch again */
	bool ready;                  /* rings mapped */
	unsigned pushed;             /* used entries since the last notify check */
	const char *name;            /* for log lines */
	struct log_limit *log;       /* the VM's log limit (NULL: none) */
};

/* Maps the rings (host pointers already translated); 0 or -EINVAL.  Keeps
 * vq->name and vq->log. */
int virtq_setup(struct virtq *vq, const struct guest_mem *mem, uint16_t num, void *desc,
                void *avail, void *used, uint16_t base, bool event_idx);
/* Sizes of the three areas for num entries. */
size_t virtq_desc_bytes(uint16_t num);
size_t virtq_avail_bytes(uint16_t num);
size_t virtq_used_bytes(uint16_t num);

/* Next available chain: 1 with *chain filled, 0 when none, -EIO when the
 * ring is (now) broken. */
int virtq_pop(struct virtq *vq, struct vq_chain *chain);
/* Gives back the chain just popped (not yet pushed). */
void virtq_unpop(struct virtq *vq);
/* Returns a chain with the number of bytes written into it. */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t len);
/* Whether the driver wants an interrupt for what was pushed. */
bool virtq_should_notify(struct virtq *vq);
/* Asks the driver to kick on its next buffer; true when buffers arrived
 * meanwhile (the caller should pop again). */
bool virtq_enable_notify(struct virtq *vq);
/* Whether the avail ring has entries we have not consumed. */
bool virtq_has_avail(struct virtq *vq);
/* Marks the queue broken and logs why. */
void virtq_mark_broken(struct virtq *vq, const char *why);

/* Copy helpers over a chain's segments, starting `skip` bytes in. */
size_t iov_copy_from(const struct iovec *iov, unsigned n, size_t skip, void *dst, size_t len);
size_t iov_copy_to(const struct iovec *iov, unsigned n, size_t skip, const void *src, size_t len);
/* Fills out[] with the part of iov[] from `skip` for at most len bytes;
 * returns the number of entries used (at most max). */
unsigned iov_slice(const struct iovec *iov, unsigned n, size_t skip, size_t len, struct iovec *out,
                   unsigned max);

#endif
