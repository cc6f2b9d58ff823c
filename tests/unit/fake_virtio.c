/*
 * fake_virtio.c -- a virtio device in ordinary memory for the driver's
 * host tests and fuzz target (fake_virtio.h).
 */
#include "tests/unit/fake_virtio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "include/platform.h"

struct fake fake;
struct dma_pool fake_pool;
uint8_t *fake_pool_mem;

static void fake_reset(struct virtio_device *dev)
{
	if (fake.failed_set)
		fake.reset_after_failed = true;
	fake.status = 0;
}

static uint8_t fake_get_status(struct virtio_device *dev)
{
	return fake.status;
}

static void fake_set_status(struct virtio_device *dev, uint8_t status)
{
	if ((status & VIRTIO_STATUS_FEATURES_OK) && !(fake.status & VIRTIO_STATUS_FEATURES_OK) &&
	    fake_fault())
		status &= ~VIRTIO_STATUS_FEATURES_OK; /* the device refuses them */
	if (status & VIRTIO_STATUS_FAILED)
		fake.failed_set = true;
	if ((status & VIRTIO_STATUS_DRIVER_OK) && fake.deliver_at_driver_ok) {
		/* A packet the moment the device goes live (rx is posted first). */
		struct vsock_hdr_fields f = { .src_cid = 2,
			                      .dst_cid = FAKE_GUEST_CID,
			                      .src_port = 5000,
			                      .dst_port = 1024,
			                      .type = VSOCK_TYPE_STREAM,
			                      .op = VSOCK_OP_REQUEST };

		platform_lock();
		dev_write_packet(&fake.q[Q_RX], &f, NULL, sizeof(struct vsock_hdr));
		fake.q[Q_RX].handler(fake.q[Q_RX].arg);
		platform_unlock();
	}
	fake.status = status;
}

static uint64_t fake_get_features(struct virtio_device *dev)
{
	return fake.offered;
}

static void fake_set_features(struct virtio_device *dev, uint64_t features)
{
}

static int fake_read_config(struct virtio_device *dev, unsigned offset, void *buf, unsigned len)
{
	if (fake_fault())
		return -EIO;
	if (offset != 0 || len != sizeof(fake.cid))
		return -EINVAL;
	memcpy(buf, &fake.cid, len);
	return 0;
}

static uint16_t fake_queue_max_size(struct virtio_device *dev, uint16_t index)
{
	return index < NQUEUES ? 128 : 0;
}

static void fake_notify(void *ctx, uint16_t index)
{
	((struct fake_queue *)ctx)->kicks++;
}

static int fake_queue_setup(struct virtio_device *dev, struct virtqueue *vq, uint16_t index,
                            uint16_t size, irq_handler_fn handler, void *arg)
{
	struct fake_queue *q;
	int err;

	if (index >= NQUEUES || fake.q[index].vq || fake_fault())
		return -ENODEV;
	q = &fake.q[index];
	err = vq_init(vq, &fake_pool, index, size, fake_notify, q);
	if (err)
		return err;
	vq_use_event_idx(vq, dev->features & (1ull << VIRTIO_F_EVENT_IDX));
	*q = (struct fake_queue){ vq, handler, arg, 0, 0, 0 };
	fake.queues++;
	fake.routes++;
	return 0;
}

static void fake_queue_release(struct virtio_device *dev, struct virtqueue *vq)
{
	struct fake_queue *q = &fake.q[vq->index];

	FAKE_EXPECT(q->vq == vq);
	vq_destroy(vq, &fake_pool);
	*q = (struct fake_queue){ 0 };
	fake.queues--;
	fake.routes--;
}

static int fake_config_irq(struct virtio_device *dev, irq_handler_fn handler, void *arg)
{
	if (fake_fault())
		return -ENOSPC;
	fake.config_handler = handler;
	fake.config_arg = arg;
	fake.routes++;
	return 0;
}

static void fake_config_irq_release(struct virtio_device *dev)
{
	FAKE_EXPECT(fake.config_handler != NULL);
	fake.config_handler = NULL;
	fake.routes--;
}

static int fake_queue_vector(struct virtio_device *dev, uint16_t index)
{
	return index;
}

static int fake_config_vector(struct virtio_device *dev)
{
	return NQUEUES;
}

static const struct virtio_ops fake_ops = {
	.reset = fake_reset,
	.get_status = fake_get_status,
	.set_status = fake_set_status,
	.get_features = fake_get_features,
	.set_features = fake_set_features,
	.read_config = fake_read_config,
	.queue_max_size = fake_queue_max_size,
	.queue_setup = fake_queue_setup,
	.queue_release = fake_queue_release,
	.config_irq = fake_config_irq,
	.config_irq_release = fake_config_irq_release,
	.queue_vector = fake_queue_vector,
	.config_vector = fake_config_vector,
};

/* ---- the device side: rings by device address (lock held) ---- */

void *dev_ptr(dma_addr_t a, size_t len)
{
	void *p = pool_cpu_addr(&fake_pool, a, len);

	FAKE_EXPECT(p != NULL); /* the driver gave the device a valid address */
	return p;
}

uint16_t dev_avail_idx(struct fake_queue *q)
{
	uint16_t *avail = dev_ptr(q->vq->avail_dma, 6 + 2 * q->vq->size);

	return avail[1];
}

/* Take the next available chain (one descriptor here): its head, bytes. */
bool dev_take(struct fake_queue *q, uint16_t *head, uint8_t **buf, uint32_t *len)
{
	uint16_t *avail = dev_ptr(q->vq->avail_dma, 6 + 2 * q->vq->size);
	struct vring_desc *desc = dev_ptr(q->vq->desc_dma, 16 * q->vq->size);

	if (avail[1] == q->last_avail)
		return false;
	*head = avail[2 + (q->last_avail++ & (q->vq->size - 1))];
	FAKE_EXPECT(!(desc[*head].flags & VRING_DESC_F_NEXT));
	*buf = dev_ptr(dma_addr(desc[*head].addr), desc[*head].len);
	*len = desc[*head].len;
	return true;
}

void dev_complete(struct fake_queue *q, uint32_t id, uint32_t len)
{
	uint8_t *used = dev_ptr(q->vq->used_dma, 6 + 8 * q->vq->size);
	struct vring_used_elem e = { id, len };

	memcpy(used + 4 + 8 * (q->used_idx & (q->vq->size - 1)), &e, sizeof(e));
	q->used_idx++;
	memcpy(used + 2, &q->used_idx, 2);
}

/* Fill the next rx buffer with a packet; the device says it wrote `written`. */
void dev_write_packet(struct fake_queue *q, const struct vsock_hdr_fields *f, const void *payload,
                      uint32_t written)
{
	uint16_t head;
	uint8_t *buf;
	uint32_t room;

	FAKE_EXPECT(dev_take(q, &head, &buf, &room));
	vsock_hdr_encode((struct vsock_hdr *)buf, f);
	if (f->len && payload)
		memcpy(buf + sizeof(struct vsock_hdr), payload, f->len);
	dev_complete(q, head, written);
}

/* Raise a queue's interrupt, as the hardware would: interrupts off. */
void dev_interrupt(struct fake_queue *q)
{
	platform_lock();
	q->handler(q->arg);
	platform_unlock();
}

void fake_device_new(void)
{
	memset(&fake, 0, sizeof(fake));
	fake.vdev = (struct virtio_device){ &fake_ops, NULL, "fake-vsock", 0 };
	fake.offered = (1ull << VSOCK_F_VERSION_1) | (1ull << VSOCK_F_STREAM) |
	               (1ull << VIRTIO_F_EVENT_IDX);
	fake.cid = FAKE_GUEST_CID;
	if (!fake_pool_mem) {
		fake_pool_mem = aligned_alloc(POOL_PAGE_SIZE, FAKE_POOL_PAGES * POOL_PAGE_SIZE);
		FAKE_EXPECT(fake_pool_mem != NULL);
	}
	FAKE_EXPECT(pool_init(&fake_pool, fake_pool_mem, dma_addr(FAKE_DEV_BASE),
	                      FAKE_POOL_PAGES * POOL_PAGE_SIZE) == 0);
}
