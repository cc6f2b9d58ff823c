/*
 * test_vhost_ring.c -- the backend's split-virtqueue walker and guest memory
 * map on synthetic guest memory (virtio 1.2 §2.7; DESIGN §6 "does not trust
 * the guest").  Rings and buffers are laid out by hand in a host buffer
 * registered as two adjacent guest-physical regions.
 */
#include "tests/unit/harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "host/vhost/guest_mem.h"
#include "host/vhost/virtq.h"

#define GPA_BASE    0x100000ull /* guest-physical start of region 0 */
#define REGION_SIZE 0x40000ull  /* 256 KiB per region */
#define UVA_BASE    0x7f0000000000ull
#define NUM         16  /* ring size */
#define DESC_OFF    0x0 /* ring areas inside region 0 */
#define AVAIL_OFF   0x1000
#define USED_OFF    0x2000
#define BUF_OFF     0x10000 /* buffers from here */

struct fixture {
	uint8_t *host;           /* both regions, contiguous */
	struct guest_mem mem;    /* the map under test */
	struct virtq vq;         /* the queue under test */
	struct vring_desc *desc; /* the driver's view */
	uint16_t *avail;
	uint8_t *used;
	uint16_t avail_idx; /* driver's next avail index */
};

static void setup(struct fixture *f, bool event_idx)
{
	memset(f, 0, sizeof(*f));
	f->host = aligned_alloc(4096, 2 * REGION_SIZE);
	CHECK(f->host != NULL);
	memset(f->host, 0, 2 * REGION_SIZE);
	CHECK_EQ(guest_mem_add_host(&f->mem, GPA_BASE, REGION_SIZE, UVA_BASE, f->host), 0);
	CHECK_EQ(guest_mem_add_host(&f->mem, GPA_BASE + REGION_SIZE, REGION_SIZE,
	                            UVA_BASE + REGION_SIZE, f->host + REGION_SIZE),
	         0);
	f->desc = (struct vring_desc *)(f->host + DESC_OFF);
	f->avail = (uint16_t *)(f->host + AVAIL_OFF);
	f->used = f->host + USED_OFF;
	f->vq.name = "test";
	CHECK_EQ(virtq_setup(&f->vq, &f->mem, NUM, f->desc, f->avail, f->used, 0, event_idx), 0);
}

static void teardown(struct fixture *f)
{
	guest_mem_clear(&f->mem);
	free(f->host);
}

static void set_desc(struct fixture *f, uint16_t i, uint64_t gpa, uint32_t len, uint16_t flags,
                     uint16_t next)
{
	f->desc[i] = (struct vring_desc){ gpa, len, flags, next };
}

static void post(struct fixture *f, uint16_t head)
{
	f->avail[2 + (f->avail_idx % NUM)] = head;
	f->avail_idx++;
	f->avail[1] = f->avail_idx;
}

static uint16_t used_idx(struct fixture *f)
{
	return *(uint16_t *)(f->used + 2);
}

TEST(mem_lookup_is_bounds_checked)
{
	struct fixture f;
	setup(&f, false);
	CHECK(guest_mem_gpa(&f.mem, GPA_BASE, 16) == f.host);
	CHECK(guest_mem_gpa(&f.mem, GPA_BASE + REGION_SIZE - 1, 1) != NULL);
	CHECK(guest_mem_gpa(&f.mem, GPA_BASE + REGION_SIZE - 1, 2) == NULL); /* spans */
	CHECK(guest_mem_gpa(&f.mem, GPA_BASE - 1, 1) == NULL);
	CHECK(guest_mem_gpa(&f.mem, GPA_BASE + 2 * REGION_SIZE, 1) == NULL);
	CHECK(guest_mem_gpa(&f.mem, UINT64_MAX, 2) == NULL);
	CHECK(guest_mem_gpa(&f.mem, GPA_BASE + 8, UINT64_MAX) == NULL);
	CHECK(guest_mem_uva(&f.mem, UVA_BASE + 0x10, 4) == f.host + 0x10);
	CHECK(guest_mem_uva(&f.mem, GPA_BASE, 4) == NULL);
	uint64_t contig = 0;
	CHECK(guest_mem_gpa_prefix(&f.mem, GPA_BASE + REGION_SIZE - 4, 16, &contig) != NULL);
	CHECK_EQ(contig, 4);
	CHECK(guest_mem_add_host(&f.mem, UINT64_MAX - 4, 16, 0, f.host) < 0);
	teardown(&f);
}

TEST(pops_header_plus_data_chain_and_pushes_used)
{
	struct fixture f;
	setup(&f, false);
	memcpy(f.host + BUF_OFF, "header", 6);
	memcpy(f.host + BUF_OFF + 0x100, "payload", 7);
	set_desc(&f, 3, GPA_BASE + BUF_OFF, 6, VRING_DESC_F_NEXT, 7);
	set_desc(&f, 7, GPA_BASE + BUF_OFF + 0x100, 7, 0, 0);
	post(&f, 3);
	struct vq_chain c;
	CHECK_EQ(virtq_pop(&f.vq, &c), 1);
	CHECK_EQ(c.head, 3);
	CHECK_EQ(c.n_out, 2);
	CHECK_EQ(c.n_in, 0);
	CHECK_EQ(c.out_bytes, 13);
	char flat[13];
	CHECK_EQ(iov_copy_from(c.iov, c.n_out, 0, flat, sizeof(flat)), 13);
	CHECK(!memcmp(flat, "headerpayload", 13));
	CHECK_EQ(virtq_pop(&f.vq, &c), 0);
	virtq_push(&f.vq, c.head, 0);
	CHECK_EQ(used_idx(&f), 1);
	struct vring_used_elem *e = (struct vring_used_elem *)(f.used + 4);
	CHECK_EQ(e[0].id, 3);
	CHECK(virtq_should_notify(&f.vq));
	teardown(&f);
}

TEST(writable_chain_and_unpop)
{
	struct fixture f;
	setup(&f, false);
	set_desc(&f, 0, GPA_BASE + BUF_OFF, 4096, VRING_DESC_F_WRITE, 0);
	post(&f, 0);
	struct vq_chain c;
	CHECK_EQ(virtq_pop(&f.vq, &c), 1);
	CHECK_EQ(c.n_in, 1);
	CHECK_EQ(c.in_bytes, 4096);
	virtq_unpop(&f.vq);
	CHECK_EQ(virtq_pop(&f.vq, &c), 1);
	CHECK_EQ(c.head, 0);
	CHECK_EQ(iov_copy_to(c.iov, c.n_in, 10, "xyz", 3), 3);
	CHECK(!memcmp(f.host + BUF_OFF + 10, "xyz", 3));
	teardown(&f);
}

TEST(buffer_spanning_two_regions_maps_to_two_segments)
{
	struct fixture f;
	setup(&f, false);
	set_desc(&f, 0, GPA_BASE + REGION_SIZE - 8, 16, 0, 0);
	post(&f, 0);
	struct vq_chain c;
	CHECK_EQ(virtq_pop(&f.vq, &c), 1);
	CHECK_EQ(c.n_out, 2);
	CHECK_EQ(c.iov[0].iov_len, 8);
	CHECK_EQ(c.iov[1].iov_len, 8);
	CHECK_EQ(c.out_bytes, 16);
	teardown(&f);
}

static void expect_broken(struct fixture *f)
{
	struct vq_chain c;
	CHECK_EQ(virtq_pop(&f->vq, &c), -EIO);
	CHECK(f->vq.broken);
	CHECK_EQ(virtq_pop(&f->vq, &c), -EIO); /* stays broken */
	virtq_push(&f->vq, 0, 0);              /* and is never written */
	CHECK_EQ(used_idx(f), 0);
}

TEST(descriptor_loop_breaks_the_queue)
{
	struct fixture f;
	setup(&f, false);
	set_desc(&f, 0, GPA_BASE + BUF_OFF, 8, VRING_DESC_F_NEXT, 1);
	set_desc(&f, 1, GPA_BASE + BUF_OFF, 8, VRING_DESC_F_NEXT, 0);
	post(&f, 0);
	expect_broken(&f);
	teardown(&f);
}

TEST(self_loop_breaks_the_queue)
{
	struct fixture f;
	setup(&f, false);
	set_desc(&f, 5, GPA_BASE + BUF_OFF, 0, VRING_DESC_F_NEXT, 5);
	post(&f, 5);
	expect_broken(&f);
	teardown(&f);
}

TEST(head_past_table_breaks_the_queue)
{
	struct fixture f;
	setup(&f, false);
	post(&f, NUM);
	expect_broken(&f);
	teardown(&f);
}

TEST(avail_index_too_far_ahead_breaks_the_queue)
{
	struct fixture f;
	setup(&f, false);
	set_desc(&f, 0, GPA_BASE + BUF_OFF, 8, 0, 0);
	f.avail[1] = NUM + 1;
	expect_broken(&f);
	teardown(&f);
}

TEST(next_past_table_breaks_the_queue)
{
	struct fixture f;
	setup(&f, false);
	set_desc(&f, 0, GPA_BASE + BUF_OFF, 8, VRING_DESC_F_NEXT, 999);
	post(&f, 0);
	expect_broken(&f);
	teardown(&f);
}

TEST(address_outside_memory_breaks_the_queue)
{
	struct fixture f;
	setup(&f, false);
	set_desc(&f, 0, 0x1000, 8, 0, 0);
	post(&f, 0);
	expect_broken(&f);
	teardown(&f);
}

TEST(address_wrapping_around_breaks_the_queue)
{
	struct fixture f;
	setup(&f, false);
	set_desc(&f, 0, UINT64_MAX - 3, 8, 0, 0);
	post(&f, 0);
	expect_broken(&f);
	teardown(&f);
}

TEST(length_past_region_end_breaks_the_queue)
{
	struct fixture f;
	setup(&f, false);
	set_desc(&f, 0, GPA_BASE + 2 * REGION_SIZE - 8, 64, 0, 0);
	post(&f, 0);
	expect_broken(&f);
	teardown(&f);
}

TEST(readable_after_writable_breaks_the_queue)
{
	struct fixture f;
	setup(&f, false);
	set_desc(&f, 0, GPA_BASE + BUF_OFF, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(&f, 1, GPA_BASE + BUF_OFF, 8, 0, 0);
	post(&f, 0);
	expect_broken(&f);
	teardown(&f);
}

TEST(indirect_descriptor_breaks_the_queue)
{
	struct fixture f;
	setup(&f, false);
	set_desc(&f, 0, GPA_BASE + BUF_OFF, 16, VRING_DESC_F_INDIRECT, 0);
	post(&f, 0);
	expect_broken(&f);
	teardown(&f);
}

TEST(oversized_chain_breaks_the_queue)
{
	struct fixture f;
	setup(&f, false);
	/* One descriptor claiming 4 GiB: over VQ_MAX_CHAIN_BYTES. */
	set_desc(&f, 0, GPA_BASE + BUF_OFF, 0xffffffffu, 0, 0);
	post(&f, 0);
	expect_broken(&f);
	teardown(&f);
}

TEST(chain_longer_than_segment_limit_breaks_the_queue)
{
	/* A ring of 128 lets a loop-free chain exceed VQ_MAX_IOV segments. */
	struct fixture f;
	setup(&f, false);
	CHECK_EQ(virtq_setup(&f.vq, &f.mem, 128, f.desc, f.avail, f.used, 0, false), 0);
	for (uint16_t i = 0; i < VQ_MAX_IOV + 1; i++)
		set_desc(&f, i, GPA_BASE + BUF_OFF + i, 1, VRING_DESC_F_NEXT, i + 1);
	f.desc[VQ_MAX_IOV].flags = 0;
	f.avail[2] = 0;
	f.avail[1] = 1;
	expect_broken(&f);
	teardown(&f);
}

TEST(no_interrupt_flag_is_honoured_without_event_idx)
{
	struct fixture f;
	setup(&f, false);
	set_desc(&f, 0, GPA_BASE + BUF_OFF, 8, 0, 0);
	post(&f, 0);
	struct vq_chain c;
	CHECK_EQ(virtq_pop(&f.vq, &c), 1);
	f.avail[0] = VRING_AVAIL_F_NO_INTERRUPT;
	virtq_push(&f.vq, c.head, 0);
	CHECK(!virtq_should_notify(&f.vq));
	CHECK(!virtq_should_notify(&f.vq)); /* nothing new pushed */
	teardown(&f);
}

TEST(event_idx_notifies_only_when_used_event_is_crossed)
{
	struct fixture f;
	setup(&f, true);
	uint16_t *used_event = &f.avail[2 + NUM];
	uint16_t *avail_event = (uint16_t *)(f.used + 4 + 8 * NUM);
	struct vq_chain c;
	for (uint16_t i = 0; i < 4; i++) {
		set_desc(&f, i, GPA_BASE + BUF_OFF, 8, 0, 0);
		post(&f, i);
	}
	/* First notification always goes out. */
	CHECK_EQ(virtq_pop(&f.vq, &c), 1);
	virtq_push(&f.vq, c.head, 0);
	CHECK(virtq_should_notify(&f.vq));
	/* Driver wants to hear when used idx passes 2 (i.e. entry 2 used). */
	*used_event = 2;
	CHECK_EQ(virtq_pop(&f.vq, &c), 1);
	virtq_push(&f.vq, c.head, 0); /* used idx 2: event 2 not yet crossed */
	CHECK(!virtq_should_notify(&f.vq));
	CHECK_EQ(virtq_pop(&f.vq, &c), 1);
	virtq_push(&f.vq, c.head, 0); /* used idx 3: crossed */
	CHECK(virtq_should_notify(&f.vq));
	/* Kick suppression: avail_event tells the driver our position. */
	CHECK_EQ(virtq_pop(&f.vq, &c), 1);
	CHECK(!virtq_enable_notify(&f.vq));
	CHECK_EQ(*avail_event, 4);
	set_desc(&f, 4, GPA_BASE + BUF_OFF, 8, 0, 0);
	post(&f, 4);
	CHECK(virtq_enable_notify(&f.vq)); /* raced: caller pops again */
	teardown(&f);
}

TEST(setup_rejects_bad_sizes_and_alignment)
{
	struct fixture f;
	setup(&f, false);
	struct virtq vq = { .name = "bad" };
	CHECK(virtq_setup(&vq, &f.mem, 12, f.desc, f.avail, f.used, 0, false) < 0);
	CHECK(virtq_setup(&vq, &f.mem, 0, f.desc, f.avail, f.used, 0, false) < 0);
	CHECK(virtq_setup(&vq, &f.mem, 16, f.host + 8, f.avail, f.used, 0, false) < 0);
	CHECK(virtq_setup(&vq, &f.mem, 16, f.desc, f.avail, f.used + 2, 0, false) < 0);
	CHECK(virtq_setup(&vq, &f.mem, 16, NULL, f.avail, f.used, 0, false) < 0);
	teardown(&f);
}

TEST(iov_slice_skips_and_limits)
{
	char a[4] = "abcd", b[4] = "efgh";
	struct iovec iov[2] = { { a, 4 }, { b, 4 } }, out[4];
	unsigned n = iov_slice(iov, 2, 3, 3, out, 4);
	CHECK_EQ(n, 2);
	CHECK(out[0].iov_base == a + 3);
	CHECK_EQ(out[0].iov_len, 1);
	CHECK_EQ(out[1].iov_len, 2);
	char flat[8];
	CHECK_EQ(iov_copy_from(iov, 2, 6, flat, 8), 2);
	CHECK(!memcmp(flat, "gh", 2));
}
