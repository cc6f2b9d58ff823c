/*
 * fuzz_vhost_ring.c -- libFuzzer target: the backend's descriptor-chain
 * walker (host/vhost/virtq.c) over guest memory with holes
 * (host/vhost/guest_mem.c), as a hostile guest lays it out (virtio 1.2
 * §2.7; DESIGN §6 "every descriptor address and length is translated
 * through a bounds-checked guest-memory map").
 *
 * Input layout (little-endian; missing bytes read as 0):
 *   u8  ring size: 1 << (v % 9)          u8  flags: bit 0 EVENT_IDX,
 *                                             bits 1-2: regions - 1 (1..3)
 *   per region: u16 gpa in 4 KiB pages, u16 size in 256-byte units
 *   u32 desc, u32 avail, u32 used        (guest-physical ring addresses)
 *   u16 first avail index               u8  guest writes (4 bytes each:
 *                                             u16 byte offset, u16 value)
 *   the guest writes, then the regions' contents, one after the other.
 * Each region is its own heap block of exactly its size, so any access
 * past a region is an ASan report; the gaps between regions are holes.
 * Between pops the "guest" applies one of its writes, as a racing driver
 * would.  Checked for every chain: the walker's answer lies inside the
 * regions, within VQ_MAX_IOV segments and VQ_MAX_CHAIN_BYTES, and the
 * byte counts add up.
 */
#include <stdlib.h>
#include <string.h>

#include "host/vhost/guest_mem.h"
#include "host/vhost/log.h"
#include "host/vhost/virtq.h"
#include "tests/fuzz/fuzz.h"

#define UVA_BASE    0x7f0000000000ull
#define MAX_REGIONS 3

struct reader {
	const uint8_t *data; /* input */
	size_t size;         /* its bytes */
	size_t at;           /* next byte */
};

static uint64_t take(struct reader *r, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++, r->at++)
		if (r->at < r->size)
			v |= (uint64_t)r->data[r->at] << (8 * i);
	return v;
}

struct region {
	uint8_t *host; /* heap block of exactly size bytes */
	uint64_t gpa;  /* where the guest sees it */
	uint64_t size; /* bytes */
};

static struct region regions[MAX_REGIONS];
static unsigned region_count;
static uint8_t scratch[VQ_MAX_CHAIN_BYTES];

/* Whether [p, p+len) lies inside one region. */
static int inside(const void *p, size_t len)
{
	const uint8_t *b = p;
	for (unsigned i = 0; i < region_count; i++)
		if (b >= regions[i].host && len <= regions[i].size &&
		    (size_t)(b - regions[i].host) <= regions[i].size - len)
			return 1;
	return 0;
}

static void check_chain(const struct virtq *vq, const struct vq_chain *c)
{
	size_t out = 0, in = 0;
	if (c->head >= vq->num || c->n_out + c->n_in > VQ_MAX_IOV)
		abort();
	for (unsigned i = 0; i < c->n_out + c->n_in; i++) {
		if (!c->iov[i].iov_len || !inside(c->iov[i].iov_base, c->iov[i].iov_len))
			abort();
		if (i < c->n_out)
			out += c->iov[i].iov_len;
		else
			in += c->iov[i].iov_len;
	}
	if (out != c->out_bytes || in != c->in_bytes || out + in > VQ_MAX_CHAIN_BYTES)
		abort();
}

/* One write of the racing guest: two bytes at an offset of the regions
 * taken one after the other. */
static void guest_write(uint16_t off, uint16_t value)
{
	for (unsigned i = 0; i < region_count; i++) {
		if (off + 2u <= regions[i].size) {
			memcpy(regions[i].host + off, &value, 2);
			return;
		}
		if (off < regions[i].size)
			return;
		off = (uint16_t)(off - regions[i].size);
	}
}

static void walk(struct virtq *vq, struct reader *writes, unsigned nwrites)
{
	struct vq_chain chain;
	uint16_t pushed = 0, used_start = vq->used_idx;
	unsigned w = 0;
	for (unsigned round = 0; round < 2u * vq->num + 8; round++) {
		int r = virtq_pop(vq, &chain);
		if (r < 0) {
			if (!vq->broken)
				abort();
			break;
		}
		if (r == 0) {
			if (virtq_enable_notify(vq))
				continue;
			break;
		}
		check_chain(vq, &chain);
		iov_copy_from(chain.iov, chain.n_out, 0, scratch, chain.out_bytes);
		iov_copy_to(chain.iov + chain.n_out, chain.n_in, 0, scratch, chain.in_bytes);
		if (w < nwrites) {
			uint16_t off = (uint16_t)take(writes, 2), value = (uint16_t)take(writes, 2);
			guest_write(off, value);
			w++;
		}
		if (round % 5 == 4) {
			virtq_unpop(vq); /* given back: popped again next round */
			continue;
		}
		virtq_push(vq, chain.head, (uint32_t)chain.in_bytes);
		pushed++;
		virtq_should_notify(vq);
	}
	if (!vq->broken && (uint16_t)(vq->used_idx - used_start) != pushed)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = { data, size, 0 };
	struct guest_mem mem = { 0 };
	struct virtq vq = { .name = "fuzz" };

	log_set_output(NULL);
	uint16_t num = (uint16_t)(1u << (take(&r, 1) % 9));
	unsigned flags = (unsigned)take(&r, 1);
	region_count = 1 + (flags >> 1) % MAX_REGIONS;
	for (unsigned i = 0; i < region_count; i++) {
		regions[i].gpa = take(&r, 2) * 4096;
		regions[i].size = (take(&r, 2) % 256 + 1) * 256;
	}
	uint64_t desc = take(&r, 4), avail = take(&r, 4), used = take(&r, 4);
	uint16_t base = (uint16_t)take(&r, 2);
	unsigned nwrites = (unsigned)take(&r, 1);
	struct reader writes = { data, size, r.at };
	r.at += 4u * nwrites;
	for (unsigned i = 0; i < region_count; i++) {
		regions[i].host = calloc(1, regions[i].size);
		if (!regions[i].host)
			abort();
		size_t have = r.at < size ? size - r.at : 0;
		size_t n = have < regions[i].size ? have : regions[i].size;
		if (n)
			memcpy(regions[i].host, data + r.at, n);
		r.at += regions[i].size;
		/* A region overlapping an earlier one is refused or shadowed;
		 * either way the walker must stay inside what is mapped. */
		guest_mem_add_host(&mem, regions[i].gpa, regions[i].size, UVA_BASE + regions[i].gpa,
		                   regions[i].host);
	}

	/* As vring_map does: ring addresses are front-end virtual addresses. */
	void *d = guest_mem_uva(&mem, UVA_BASE + desc, virtq_desc_bytes(num));
	void *a = guest_mem_uva(&mem, UVA_BASE + avail, virtq_avail_bytes(num));
	void *u = guest_mem_uva(&mem, UVA_BASE + used, virtq_used_bytes(num));
	if (virtq_setup(&vq, &mem, num, d, a, u, base, flags & 1) == 0)
		walk(&vq, &writes, nwrites);

	guest_mem_clear(&mem);
	for (unsigned i = 0; i < region_count; i++)
		free(regions[i].host);
	return 0;
}
