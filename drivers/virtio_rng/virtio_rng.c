/*
 * virtio_rng.c -- the virtio entropy device (virtio 1.2 §5.4; see
 * virtio_rng.h).  One page of DMA memory is the only buffer: a read posts
 * it (device-writable), kicks, and sleeps until the interrupt handler
 * sees it used; reads take turns.  The written length is range-checked:
 * a device claiming more than it was given is marked broken.
 */
#include "drivers/virtio_rng/virtio_rng.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "include/log.h"
#include "include/platform.h"

#define QUEUE_REQUEST   0
#define QUEUE_SIZE      8
#define READ_TIMEOUT_NS 1000000000ull

struct virtio_rng {
	struct virtio_device *vdev; /* the transport's device */
	struct dma_pool *pool;      /* where buf comes from */
	struct virtqueue vq;        /* requestq */
	struct dma_region buf;      /* one page the device fills */
	struct wait_queue wq;       /* readers: the one in flight and those waiting */
	bool busy;                  /* a request is in flight (lock held) */
	bool done;                  /* ... and has completed */
	bool broken;                /* the device misbehaved: no more reads */
	uint32_t got;               /* bytes the device wrote */
	uint64_t bytes;             /* delivered since probe */
};

static void request_irq(void *arg)
{
	struct virtio_rng *rng = arg;
	uint32_t len;

	while (vq_next_used(&rng->vq, &len)) {
		if (len > rng->buf.pages * POOL_PAGE_SIZE) {
			rng->broken = true;
			len = 0;
		}
		rng->got = len;
		rng->done = true;
	}
	platform_wake(&rng->wq);
}

int virtio_rng_read(struct virtio_rng *rng, void *buf, size_t len)
{
	uint64_t deadline = platform_now_ns() + READ_TIMEOUT_NS;
	struct vq_buffer b;
	int err = 0, n;

	if (len > POOL_PAGE_SIZE)
		len = POOL_PAGE_SIZE;
	platform_lock();
	while (rng->busy && err == 0)
		err = platform_wait(&rng->wq, deadline);
	if (err || rng->broken) {
		platform_unlock();
		return -EIO;
	}
	rng->busy = true;
	rng->done = false;
	b = (struct vq_buffer){ rng->buf.dev, (uint32_t)len, VQ_DEVICE_WRITES };
	if (vq_add(&rng->vq, &b, 1, rng) != 0) {
		rng->busy = false;
		platform_unlock();
		return -EIO;
	}
	vq_kick(&rng->vq);
	while (!rng->done && err == 0)
		err = platform_wait(&rng->wq, deadline);
	if (!rng->done) {
		/* the buffer stays posted: the device owns it, so no more reads */
		rng->broken = true;
		platform_unlock();
		log_printf("%s: no answer within a second; entropy device abandoned\n",
		           rng->vdev->name);
		return -EIO;
	}
	n = (int)(rng->got < len ? rng->got : len);
	memcpy(buf, rng->buf.cpu, (size_t)n);
	rng->bytes += (uint64_t)n;
	rng->busy = false;
	platform_wake(&rng->wq);
	platform_unlock();
	return n;
}

uint64_t virtio_rng_bytes(const struct virtio_rng *rng)
{
	return rng->bytes;
}

int virtio_rng_probe(struct virtio_device *dev, struct dma_pool *pool, struct virtio_rng **out)
{
	struct virtio_rng *rng = calloc(1, sizeof(*rng));
	const char *why = "no memory for the driver";
	int err = -ENOMEM;

	*out = NULL;
	if (!rng)
		goto err_fail;
	rng->vdev = dev;
	rng->pool = pool;
	virtio_begin(dev);                                          /* steps 1-3 */
	err = virtio_negotiate(dev, 0, 1ull << VIRTIO_F_VERSION_1); /* steps 4-6 */
	if (err) {
		why = "feature negotiation failed";
		goto err_free_driver;
	}
	err = pool_alloc(pool, 1, &rng->buf);
	if (err) {
		why = "no DMA memory for the buffer";
		goto err_free_driver;
	}
	err = dev->ops->queue_setup(dev, &rng->vq, QUEUE_REQUEST, QUEUE_SIZE, request_irq,
	                            rng); /* step 7 */
	if (err) {
		why = "queue setup failed";
		goto err_free_buf;
	}
	virtio_driver_ok(dev); /* step 8 */
	*out = rng;
	return 0;

err_free_buf:
	pool_free(pool, &rng->buf);
err_free_driver:
	free(rng);
err_fail:
	virtio_fail(dev, why);
	return err;
}
