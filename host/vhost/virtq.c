/*
 * virtq.c -- device side of a split virtqueue over untrusted guest memory
 * (virtio 1.2 §2.7 "Split Virtqueues", §2.7.7 notification suppression with
 * VIRTIO_F_EVENT_IDX; DESIGN §6).
 *
 * Rules kept here: the avail index may run at most num ahead of us; heads and
 * next indices are < num; a chain visits at most num descriptors (a longer one
 * loops); readable descriptors come before writable ones; every address and
 * length is translated through guest_mem; indirect descriptors are not
 * offered so they are an error.  Any violation marks the queue broken.
 * Shared ring words are read once with atomic loads so the guest cannot
 * change a value between our check and our use.
 */
#include "host/vhost/virtq.h"

#include <errno.h>
#include <string.h>

static inline uint16_t load16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void store16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

size_t virtq_desc_bytes(uint16_t num)
{
	return vring_desc_bytes(num);
}

size_t virtq_avail_bytes(uint16_t num)
{
	return vring_avail_bytes(num);
}

size_t virtq_used_bytes(uint16_t num)
{
	return vring_used_bytes(num);
}

static uint16_t *avail_event_ptr(struct virtq *vq)
{
	return (uint16_t *)&vq->used->ring[vq->num];
}

int virtq_setup(struct virtq *vq, const struct guest_mem *mem, uint16_t num, void *desc,
                void *avail, void *used, uint16_t base, bool event_idx)
{
	const char *name = vq->name;
	struct log_limit *log = vq->log;
	memset(vq, 0, sizeof(*vq));
	vq->name = name ? name : "vq";
	vq->log = log;
	if (num == 0 || (num & (num - 1)) || !desc || !avail || !used)
		return -EINVAL;
	if (((uintptr_t)desc & 15) || ((uintptr_t)avail & 1) || ((uintptr_t)used & 3))
		return -EINVAL;
	vq->mem = mem;
	vq->num = num;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->event_idx = event_idx;
	vq->last_avail = base;
	vq->used_idx = load16(&vq->used->idx);
	if (vq->used_idx != base) {
		/* Chains in flight when a previous backend stopped are lost;
		 * resume after what the guest has seen used. */
		log_peer(vq->log, LOG_RING, "%s: used idx %u != base %u, resuming at %u", vq->name,
		         vq->used_idx, base, vq->used_idx);
		vq->last_avail = vq->used_idx;
	}
	vq->ready = true;
	return 0;
}

void virtq_mark_broken(struct virtq *vq, const char *why)
{
	if (!vq->broken)
		log_peer(vq->log, LOG_RING, "%s: queue broken: %s", vq->name, why);
	vq->broken = true;
}

static int broken(struct virtq *vq, const char *why)
{
	virtq_mark_broken(vq, why);
	return -EIO;
}

bool virtq_has_avail(struct virtq *vq)
{
	if (!vq->ready || vq->broken)
		return false;
	return load16(&vq->avail->idx) != vq->last_avail;
}

/* Maps one descriptor's buffer, possibly over several regions. */
static int map_desc(struct virtq *vq, struct vq_chain *chain, uint64_t addr, uint32_t len)
{
	unsigned n = chain->n_out + chain->n_in;
	uint64_t left = len;
	while (left) {
		uint64_t contig;
		void *p = guest_mem_gpa_prefix(vq->mem, addr, left, &contig);
		if (!p)
			return broken(vq, "descriptor address outside guest memory");
		if (n >= VQ_MAX_IOV)
			return broken(vq, "chain has too many segments");
		chain->iov[n].iov_base = p;
		chain->iov[n].iov_len = (size_t)contig;
		n++;
		addr += contig;
		left -= contig;
	}
	return (int)(n - (chain->n_out + chain->n_in));
}

int virtq_pop(struct virtq *vq, struct vq_chain *chain)
{
	if (!vq->ready || vq->broken)
		return vq->broken ? -EIO : 0;
	uint16_t avail_idx = load16(&vq->avail->idx);
	if (avail_idx == vq->last_avail)
		return 0;
	if ((uint16_t)(avail_idx - vq->last_avail) > vq->num)
		return broken(vq, "avail index ran more than the ring size ahead");
	/* Read the ring entry and descriptors only after seeing the index. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	uint16_t head = load16(&vq->avail->ring[vq->last_avail & (vq->num - 1)]);
	if (head >= vq->num)
		return broken(vq, "avail ring names a descriptor past the table");

	chain->head = head;
	chain->n_out = chain->n_in = 0;
	chain->out_bytes = chain->in_bytes = 0;
	uint16_t i = head;
	uint64_t total = 0;
	for (unsigned visited = 0;; visited++) {
		if (visited >= vq->num)
			return broken(vq, "descriptor chain loops");
		struct vring_desc d;
		memcpy(&d, &vq->desc[i], sizeof(d)); /* one snapshot */
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		if (d.flags & VRING_DESC_F_INDIRECT)
			return broken(vq, "indirect descriptor (not negotiated)");
		total += d.len;
		if (total > VQ_MAX_CHAIN_BYTES)
			return broken(vq, "descriptor chain too long");
		bool writable = d.flags & VRING_DESC_F_WRITE;
		if (!writable && chain->n_in)
			return broken(vq, "readable descriptor after a writable one");
		int segs = map_desc(vq, chain, d.addr, d.len);
		if (segs < 0)
			return segs;
		if (writable) {
			chain->n_in += (unsigned)segs;
			chain->in_bytes += d.len;
		} else {
			chain->n_out += (unsigned)segs;
			chain->out_bytes += d.len;
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (d.next >= vq->num)
			return broken(vq, "next descriptor past the table");
		i = d.next;
	}
	vq->last_avail++;
	return 1;
}

void virtq_unpop(struct virtq *vq)
{
	vq->last_avail--;
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t len)
{
	if (!vq->ready || vq->broken)
		return;
	struct vring_used_elem *elem = &vq->used->ring[vq->used_idx & (vq->num - 1)];
	__atomic_store_n(&elem->id, head, __ATOMIC_RELAXED);
	__atomic_store_n(&elem->len, len, __ATOMIC_RELAXED);
	vq->used_idx++;
	/* The element must be visible before the index that publishes it. */
	__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
	vq->pushed++;
}

bool virtq_should_notify(struct virtq *vq)
{
	if (!vq->ready || vq->broken || vq->pushed == 0)
		return false;
	vq->pushed = 0;
	/* Our used index must be visible before we read the guest's wish. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(load16(&vq->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
	uint16_t old = vq->signalled_used, new = vq->used_idx;
	bool valid = vq->signalled_valid;
	vq->signalled_used = new;
	vq->signalled_valid = true;
	if (!valid)
		return true;
	uint16_t used_event = load16(&vq->avail->ring[vq->num]);
	return vring_need_event(used_event, new, old);
}

bool virtq_enable_notify(struct virtq *vq)
{
	if (!vq->ready || vq->broken)
		return false;
	if (vq->event_idx)
		store16(avail_event_ptr(vq), vq->last_avail);
	/* Publish our wish before looking again (pairs with the driver's
	 * barrier between adding a buffer and reading avail_event). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return load16(&vq->avail->idx) != vq->last_avail;
}

size_t iov_copy_from(const struct iovec *iov, unsigned n, size_t skip, void *dst, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t chunk = iov[i].iov_len - skip;
		if (chunk > len - done)
			chunk = len - done;
		memcpy((uint8_t *)dst + done, (uint8_t *)iov[i].iov_base + skip, chunk);
		done += chunk;
		skip = 0;
	}
	return done;
}

size_t iov_copy_to(const struct iovec *iov, unsigned n, size_t skip, const void *src, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t chunk = iov[i].iov_len - skip;
		if (chunk > len - done)
			chunk = len - done;
		memcpy((uint8_t *)iov[i].iov_base + skip, (const uint8_t *)src + done, chunk);
		done += chunk;
		skip = 0;
	}
	return done;
}

unsigned iov_slice(const struct iovec *iov, unsigned n, size_t skip, size_t len, struct iovec *out,
                   unsigned max)
{
	unsigned used = 0;
	for (unsigned i = 0; i < n && len && used < max; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t chunk = iov[i].iov_len - skip;
		if (chunk > len)
			chunk = len;
		out[used].iov_base = (uint8_t *)iov[i].iov_base + skip;
		out[used].iov_len = chunk;
		used++;
		len -= chunk;
		skip = 0;
	}
	return used;
}
