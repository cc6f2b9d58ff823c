/*
 * test_virtqueue.c -- the split virtqueue against a fake device that plays
 * the device side in ordinary memory, honest and malicious.
 */
#include "drivers/virtio_pci/virtqueue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/harness.h"

#define POOL_PAGES    64
#define FAKE_DEV_BASE 0x80000000ull

static struct dma_pool pool;
static void *pool_mem;
static unsigned notifications;

static void notify(void *ctx, uint16_t index)
{
	notifications++;
}

static void setup(struct virtqueue *vq, uint16_t size)
{
	free(pool_mem);
	pool_mem = aligned_alloc(POOL_PAGE_SIZE, POOL_PAGES * POOL_PAGE_SIZE);
	CHECK_EQ(pool_init(&pool, pool_mem, dma_addr(FAKE_DEV_BASE), POOL_PAGES * POOL_PAGE_SIZE),
	         0);
	notifications = 0;
	CHECK_EQ(vq_init(vq, &pool, 1, size, notify, NULL), 0);
}

static void teardown(struct virtqueue *vq)
{
	vq_destroy(vq, &pool);
	CHECK_EQ(pool_pages_in_use(&pool), 0);
}

/* ---- the fake device: sees the rings only through device addresses ---- */

struct fake_device {
	struct virtqueue *vq; /* only for its ring addresses */
	uint16_t last_avail;  /* next avail entry to take */
	uint16_t used_idx;    /* device's used index */
};

static void *dev_ptr(dma_addr_t a, size_t len)
{
	void *p = pool_cpu_addr(&pool, a, len);

	CHECK(p != NULL); /* the driver gave the device a valid address */
	return p;
}

static uint16_t *dev_avail(struct fake_device *d)
{
	return dev_ptr(d->vq->avail_dma, 6 + 2 * d->vq->size);
}

static uint8_t *dev_used(struct fake_device *d)
{
	return dev_ptr(d->vq->used_dma, 6 + 8 * d->vq->size);
}

/* Take the next available chain; fill writable buffers with `fill`. */
static int dev_take(struct fake_device *d, uint16_t *head_out, uint32_t *writable_out,
                    uint32_t *readable_out, uint8_t fill)
{
	uint16_t *avail = dev_avail(d);
	struct vring_desc *desc = dev_ptr(d->vq->desc_dma, 16 * d->vq->size);
	uint16_t head, i;
	uint32_t w = 0, r = 0;

	if (avail[1] == d->last_avail)
		return 0;
	head = avail[2 + (d->last_avail++ & (d->vq->size - 1))];
	i = head;
	for (int n = 0; n < d->vq->size; n++) {
		void *buf = dev_ptr(dma_addr(desc[i].addr), desc[i].len);

		if (desc[i].flags & VRING_DESC_F_WRITE) {
			memset(buf, fill, desc[i].len);
			w += desc[i].len;
		} else {
			r += desc[i].len;
		}
		if (!(desc[i].flags & VRING_DESC_F_NEXT))
			break;
		i = desc[i].next;
	}
	*head_out = head;
	*writable_out = w;
	*readable_out = r;
	return 1;
}

static void dev_complete(struct fake_device *d, uint32_t id, uint32_t len)
{
	uint8_t *used = dev_used(d);
	struct vring_used_elem e = { id, len };

	memcpy(used + 4 + 8 * (d->used_idx & (d->vq->size - 1)), &e, sizeof(e));
	d->used_idx++;
	memcpy(used + 2, &d->used_idx, 2);
}

static struct vq_buffer in_buffer(struct dma_region *r, uint32_t len)
{
	return (struct vq_buffer){ r->dev, len, VQ_DEVICE_WRITES };
}

TEST(vq_round_trip_single_and_chained_buffers)
{
	struct virtqueue vq;
	struct fake_device dev = { &vq, 0, 0 };
	struct dma_region a, b;
	struct vq_buffer chain[2];
	uint16_t head;
	uint32_t w, r, len;
	int cookie_a, cookie_b;

	setup(&vq, 8);
	CHECK_EQ(pool_alloc(&pool, 1, &a), 0);
	CHECK_EQ(pool_alloc(&pool, 1, &b), 0);
	chain[0] = (struct vq_buffer){ a.dev, 44, VQ_DEVICE_READS };
	chain[1] = in_buffer(&b, 100);
	CHECK_EQ(vq_add(&vq, chain, 2, &cookie_a), 0);
	chain[0] = in_buffer(&a, 4096);
	CHECK_EQ(vq_add(&vq, chain, 1, &cookie_b), 0);
	CHECK_EQ(vq.num_free, 5);
	vq_kick(&vq);
	CHECK_EQ(notifications, 1);
	vq_kick(&vq); /* nothing new: no doorbell */
	CHECK_EQ(notifications, 1);

	CHECK(dev_take(&dev, &head, &w, &r, 0x5a));
	CHECK_EQ(w, 100);
	CHECK_EQ(r, 44);
	dev_complete(&dev, head, 60);
	CHECK(vq_next_used(&vq, &len) == &cookie_a);
	CHECK_EQ(len, 60);
	CHECK_EQ(((uint8_t *)b.cpu)[99], 0x5a);
	CHECK(vq_next_used(&vq, &len) == NULL);

	CHECK(dev_take(&dev, &head, &w, &r, 1));
	dev_complete(&dev, head, 4096);
	CHECK(vq_has_used(&vq));
	CHECK(vq_next_used(&vq, &len) == &cookie_b);
	CHECK_EQ(vq.num_free, 8);
	CHECK(!vq.broken);
	pool_free(&pool, &a);
	pool_free(&pool, &b);
	teardown(&vq);
}

TEST(vq_out_of_order_completion_and_full_ring)
{
	struct virtqueue vq;
	struct fake_device dev = { &vq, 0, 0 };
	struct dma_region buf;
	int cookies[4];
	uint16_t heads[4];
	uint32_t w, r, len;

	setup(&vq, 4);
	CHECK_EQ(pool_alloc(&pool, 1, &buf), 0);
	for (int i = 0; i < 4; i++) {
		struct vq_buffer b = in_buffer(&buf, 16);

		CHECK_EQ(vq_add(&vq, &b, 1, &cookies[i]), 0);
	}
	{
		struct vq_buffer b = in_buffer(&buf, 16);

		CHECK_EQ(vq_add(&vq, &b, 1, &cookies[0]), -ENOSPC);
	}
	vq_kick(&vq);
	for (int i = 0; i < 4; i++)
		CHECK(dev_take(&dev, &heads[i], &w, &r, 0));
	dev_complete(&dev, heads[2], 1);
	dev_complete(&dev, heads[0], 2);
	CHECK(vq_next_used(&vq, &len) == &cookies[2]);
	CHECK(vq_next_used(&vq, &len) == &cookies[0]);
	/* freed descriptors are reusable at once */
	for (int round = 0; round < 100; round++) {
		struct vq_buffer b = in_buffer(&buf, 16);
		uint16_t h;

		CHECK_EQ(vq_add(&vq, &b, 1, &cookies[0]), 0);
		vq_kick(&vq);
		CHECK(dev_take(&dev, &h, &w, &r, 0));
		dev_complete(&dev, h, 16);
		CHECK(vq_next_used(&vq, &len) == &cookies[0]);
	}
	dev_complete(&dev, heads[3], 0);
	dev_complete(&dev, heads[1], 0);
	CHECK(vq_next_used(&vq, &len) == &cookies[3]);
	CHECK(vq_next_used(&vq, &len) == &cookies[1]);
	CHECK_EQ(vq.num_free, 4);
	pool_free(&pool, &buf);
	teardown(&vq);
}

TEST(vq_rejects_bad_chains_from_the_driver_side)
{
	struct virtqueue vq;
	struct dma_region buf;
	struct vq_buffer bufs[2];
	int c;

	setup(&vq, 4);
	CHECK_EQ(pool_alloc(&pool, 1, &buf), 0);
	bufs[0] = in_buffer(&buf, 8);
	bufs[1] = (struct vq_buffer){ buf.dev, 8, VQ_DEVICE_READS };
	CHECK_EQ(vq_add(&vq, bufs, 2, &c), -EINVAL); /* in before out */
	CHECK_EQ(vq_add(&vq, bufs, 0, &c), -EINVAL);
	CHECK_EQ(vq_add(&vq, bufs, 1, NULL), -EINVAL);
	CHECK_EQ(vq.num_free, 4);
	{
		struct virtqueue other;

		CHECK_EQ(vq_init(&other, &pool, 0, 6, notify, NULL), -EINVAL);
		CHECK_EQ(vq_init(&other, &pool, 0, 0, notify, NULL), -EINVAL);
		CHECK_EQ(vq_init(&other, &pool, 0, 2048, notify, NULL), -EINVAL);
	}
	pool_free(&pool, &buf);
	teardown(&vq);
}

/* A malicious device: every kind of bad used entry breaks the queue. */
static void malicious(int kind)
{
	struct virtqueue vq;
	struct fake_device dev = { &vq, 0, 0 };
	struct dma_region buf;
	int cookie;
	uint16_t head;
	uint32_t w, r, len;
	struct vq_buffer b;

	setup(&vq, 8);
	CHECK_EQ(pool_alloc(&pool, 1, &buf), 0);
	b = in_buffer(&buf, 64);
	CHECK_EQ(vq_add(&vq, &b, 1, &cookie), 0);
	vq_kick(&vq);
	CHECK(dev_take(&dev, &head, &w, &r, 0));
	switch (kind) {
	case 0:
		dev_complete(&dev, 8, 0);
		break; /* id out of range */
	case 1:
		dev_complete(&dev, head + 1, 0);
		break; /* not outstanding */
	case 2:
		dev_complete(&dev, head, 65);
		break; /* longer than buffer */
	case 3:        /* index jumps far ahead */
		dev.used_idx += 100;
		dev_complete(&dev, head, 1);
		break;
	case 4: { /* same id twice, while another chain is outstanding */
		int other;
		uint16_t other_head;

		CHECK_EQ(vq_add(&vq, &b, 1, &other), 0);
		vq_kick(&vq);
		CHECK(dev_take(&dev, &other_head, &w, &r, 0));
		dev_complete(&dev, head, 1);
		CHECK(vq_next_used(&vq, &len) == &cookie);
		dev_complete(&dev, head, 1);
		break;
	}
	case 5: /* scribbles on the descriptor table, then completes */
		memset(vq.desc, 0xff, 16 * 8);
		dev_complete(&dev, head, 64);
		CHECK(vq_next_used(&vq, &len) == &cookie);
		/* our private links still hold: all 8 descriptors usable */
		CHECK_EQ(vq.num_free, 8);
		for (int i = 0; i < 8; i++)
			CHECK_EQ(vq_add(&vq, &b, 1, &cookie), 0);
		CHECK(!vq.broken);
		pool_free(&pool, &buf);
		teardown(&vq);
		return;
	}
	CHECK(vq_next_used(&vq, &len) == NULL);
	CHECK(vq.broken);
	CHECK(strstr(harness_last_log, "device broke the ring") != NULL);
	CHECK_EQ(vq_add(&vq, &b, 1, &cookie), -EIO);
	CHECK(vq_next_used(&vq, &len) == NULL);
	pool_free(&pool, &buf);
	teardown(&vq);
}

TEST(vq_malicious_id_out_of_range)
{
	malicious(0);
}
TEST(vq_malicious_id_not_outstanding)
{
	malicious(1);
}
TEST(vq_malicious_length_too_long)
{
	malicious(2);
}
TEST(vq_malicious_index_jump)
{
	malicious(3);
}
TEST(vq_malicious_duplicate_completion)
{
	malicious(4);
}
TEST(vq_descriptor_scribbling_cannot_corrupt_free_list)
{
	malicious(5);
}

TEST(vq_interrupt_suppression_flags)
{
	struct virtqueue vq;
	uint16_t *avail;

	setup(&vq, 8);
	avail = (uint16_t *)vq.avail;
	vq_disable_interrupts(&vq);
	CHECK_EQ(avail[0], VRING_AVAIL_F_NO_INTERRUPT);
	vq_enable_interrupts(&vq);
	CHECK_EQ(avail[0], 0);
	teardown(&vq);
}

TEST(vq_device_no_notify_suppresses_doorbell)
{
	struct virtqueue vq;
	struct dma_region buf;
	struct vq_buffer b;
	int c;

	setup(&vq, 8);
	CHECK_EQ(pool_alloc(&pool, 1, &buf), 0);
	b = in_buffer(&buf, 8);
	*(uint16_t *)(vq.used) = VRING_USED_F_NO_NOTIFY;
	CHECK_EQ(vq_add(&vq, &b, 1, &c), 0);
	vq_kick(&vq);
	CHECK_EQ(notifications, 0);
	pool_free(&pool, &buf);
	teardown(&vq);
}

TEST(vq_index_wraps_past_65535)
{
	struct virtqueue vq;
	struct fake_device dev = { &vq, 0, 0 };
	struct dma_region buf;
	struct vq_buffer b;
	int c;
	uint16_t head;
	uint32_t w, r, len;

	setup(&vq, 2);
	CHECK_EQ(pool_alloc(&pool, 1, &buf), 0);
	b = in_buffer(&buf, 8);
	for (int i = 0; i < 70000; i++) {
		CHECK_EQ(vq_add(&vq, &b, 1, &c), 0);
		vq_kick(&vq);
		CHECK(dev_take(&dev, &head, &w, &r, 0));
		dev_complete(&dev, head, 8);
		CHECK(vq_next_used(&vq, &len) == &c);
	}
	CHECK(!vq.broken);
	CHECK_EQ(vq.completions, 70000);
	pool_free(&pool, &buf);
	teardown(&vq);
}

TEST(vq_event_idx_kicks_only_when_the_device_waits)
{
	struct virtqueue vq;
	struct fake_device dev = { &vq, 0, 0 };
	struct dma_region buf;
	struct vq_buffer b;
	uint16_t *avail_event_slot, head;
	uint32_t w, r, len;
	int c;

	setup(&vq, 8);
	vq_use_event_idx(&vq, true);
	CHECK_EQ(pool_alloc(&pool, 1, &buf), 0);
	b = in_buffer(&buf, 8);
	avail_event_slot = (uint16_t *)(dev_used(&dev) + 4 + 8 * 8);

	*avail_event_slot = 0; /* device waits for entry 0 */
	CHECK_EQ(vq_add(&vq, &b, 1, &c), 0);
	vq_kick(&vq);
	CHECK_EQ(notifications, 1);
	/* device busy: it will look again at index 5 */
	*avail_event_slot = 5;
	CHECK_EQ(vq_add(&vq, &b, 1, &c), 0);
	CHECK_EQ(vq_add(&vq, &b, 1, &c), 0);
	vq_kick(&vq); /* avail idx 1 -> 3: event 5 not crossed */
	CHECK_EQ(notifications, 1);
	CHECK_EQ(vq_add(&vq, &b, 1, &c), 0);
	CHECK_EQ(vq_add(&vq, &b, 1, &c), 0);
	CHECK_EQ(vq_add(&vq, &b, 1, &c), 0);
	vq_kick(&vq); /* 3 -> 6 crosses 5 */
	CHECK_EQ(notifications, 2);

	/* consuming an entry asks for an interrupt at the next one */
	CHECK(dev_take(&dev, &head, &w, &r, 0));
	dev_complete(&dev, head, 8);
	CHECK(vq_next_used(&vq, &len) == &c);
	CHECK_EQ(((uint16_t *)dev_avail(&dev))[2 + 8], 1);
	vq_disable_interrupts(&vq);
	CHECK(dev_take(&dev, &head, &w, &r, 0));
	dev_complete(&dev, head, 8);
	CHECK(vq_next_used(&vq, &len) == &c);
	CHECK_EQ(((uint16_t *)dev_avail(&dev))[2 + 8], 1); /* not advanced */
	vq_enable_interrupts(&vq);
	CHECK_EQ(((uint16_t *)dev_avail(&dev))[2 + 8], 2);
	pool_free(&pool, &buf);
	teardown(&vq);
}
