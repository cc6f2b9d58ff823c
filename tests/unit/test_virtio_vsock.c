/*
 * test_virtio_vsock.c -- the virtio-vsock driver against a fake transport
 * (struct virtio_ops over ordinary memory, with a device side that reads
 * and writes the rings by device address, as in test_virtqueue.c) and a
 * fake vsock core that records what the driver hands up.
 *
 * Fault injection: the build wraps calloc, malloc, free and pool_alloc
 * (-Wl,--wrap, see the Makefile), and the fake transport's fallible
 * operations count as steps too; while `armed`, step number `fail_at`
 * fails.  The wrappers also count the heap bytes the code under test holds
 * (libc's own bookkeeping, such as a finished thread's cached stack, is
 * not ours to count).  Every test ends by removing the driver and checking
 * that the pool, that heap and the interrupt routes are back where they
 * started.
 */
#include "drivers/virtio_vsock/virtio_vsock.h"

#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/virtio_pci/virtio.h"
#include "include/platform.h"
#include "include/pool.h"
#include "tests/unit/harness.h"
#include "vsock/core.h"
#include "vsock/transport.h"
#include "vsock/wire.h"

#define POOL_PAGES 512
#define FAKE_DEV_BASE 0x40000000ull
#define GUEST_CID 42
#define WAIT_NS 5000000000ull
#define RX_BUFFERS 64     /* what the driver posts (virtio_vsock.c) */
#define EVENT_BUFFERS 4
#define TX_BUFFERS 32
#define TX_PAYLOAD 32768

enum { Q_RX, Q_TX, Q_EVENT, NQUEUES };

/* ---- fault injection ---- */

static __thread bool armed; /* count steps on this thread only */
static int step;            /* fallible steps taken since armed */
static int fail_at;         /* the step that fails (0: none) */

static size_t heap_live; /* bytes the code under test holds (atomic) */

static bool fault(void)
{
	return armed && ++step == fail_at;
}

void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__real_malloc(size_t size);
void *__wrap_malloc(size_t size);
void __real_free(void *p);
void __wrap_free(void *p);
int __real_pool_alloc(struct dma_pool *pool, size_t pages, struct dma_region *out);
int __wrap_pool_alloc(struct dma_pool *pool, size_t pages, struct dma_region *out);

static void *counted(void *p)
{
	if (p)
		__atomic_add_fetch(&heap_live, malloc_usable_size(p), __ATOMIC_RELAXED);
	return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
	return fault() ? NULL : counted(__real_calloc(n, size));
}

void *__wrap_malloc(size_t size)
{
	return fault() ? NULL : counted(__real_malloc(size));
}

void __wrap_free(void *p)
{
	if (p)
		__atomic_sub_fetch(&heap_live, malloc_usable_size(p), __ATOMIC_RELAXED);
	__real_free(p);
}

int __wrap_pool_alloc(struct dma_pool *pool, size_t pages, struct dma_region *out)
{
	return fault() ? -ENOMEM : __real_pool_alloc(pool, pages, out);
}

/* ---- the fake core: records what the driver hands up ---- */

#define MAX_PACKETS 8

struct packet {
	struct vsock_hdr_fields h; /* decoded header */
	uint8_t payload[64];       /* its first bytes */
	size_t len;                /* payload length passed */
	bool hdr_in_pool;          /* the header pointer was shared memory */
	bool payload_in_pool;      /* the payload pointer was shared memory */
};

struct vsock_core {
	struct packet packets[MAX_PACKETS]; /* received, in order */
	unsigned rx;                        /* vsock_core_rx calls */
	unsigned tx_ready;                  /* vsock_core_tx_ready calls */
	unsigned resets;                    /* vsock_core_transport_reset calls */
	unsigned ticks;                     /* vsock_core_tick calls */
	struct wait_queue wq;               /* the test waits here */
};

static struct dma_pool pool;
static uint8_t *pool_mem;

static bool in_pool(const void *p)
{
	return (const uint8_t *)p >= pool_mem &&
	       (const uint8_t *)p < pool_mem + POOL_PAGES * POOL_PAGE_SIZE;
}

void vsock_core_rx(struct vsock_core *core, const struct vsock_hdr *hdr,
		   const void *payload, size_t len)
{
	if (core->rx < MAX_PACKETS) {
		struct packet *p = &core->packets[core->rx];

		vsock_hdr_decode(&p->h, hdr);
		memcpy(p->payload, payload, len < sizeof(p->payload) ? len : sizeof(p->payload));
		p->len = len;
		p->hdr_in_pool = in_pool(hdr);
		p->payload_in_pool = in_pool(payload);
	}
	core->rx++;
	platform_wake(&core->wq);
}

void vsock_core_tx_ready(struct vsock_core *core)
{
	core->tx_ready++;
	platform_wake(&core->wq);
}

void vsock_core_transport_reset(struct vsock_core *core)
{
	core->resets++;
	platform_wake(&core->wq);
}

uint64_t vsock_core_tick(struct vsock_core *core, uint64_t now_ns)
{
	platform_lock();
	core->ticks++;
	platform_unlock();
	return PLATFORM_FOREVER;
}

/* ---- the fake transport and device ---- */

struct fake_queue {
	struct virtqueue *vq;   /* the driver's, while set up */
	irq_handler_fn handler; /* its interrupt route */
	void *arg;
	uint16_t last_avail;    /* device: next avail entry to take */
	uint16_t used_idx;      /* device: its used index */
	unsigned kicks;         /* doorbells rung */
};

static struct fake {
	struct virtio_device vdev;    /* what the driver sees */
	uint8_t status;               /* device status register */
	uint64_t offered;             /* device feature bits */
	uint64_t cid;                 /* config: guest_cid */
	bool failed_set;              /* the driver wrote FAILED ... */
	bool reset_after_failed;      /* ... and reset the device after it */
	struct fake_queue q[NQUEUES]; /* queues set up */
	irq_handler_fn config_handler; /* config interrupt route */
	void *config_arg;
	unsigned queues;              /* queues set up now */
	unsigned routes;              /* interrupt routes held now */
	bool deliver_at_driver_ok;    /* complete an rx buffer when DRIVER_OK is set */
} fake;

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

static void dev_write_packet(struct fake_queue *q, const struct vsock_hdr_fields *f,
			     const void *payload, uint32_t written);

static void fake_set_status(struct virtio_device *dev, uint8_t status)
{
	if ((status & VIRTIO_STATUS_FEATURES_OK) && !(fake.status & VIRTIO_STATUS_FEATURES_OK) &&
	    fault())
		status &= ~VIRTIO_STATUS_FEATURES_OK; /* the device refuses them */
	if (status & VIRTIO_STATUS_FAILED)
		fake.failed_set = true;
	if ((status & VIRTIO_STATUS_DRIVER_OK) && fake.deliver_at_driver_ok) {
		/* A packet the moment the device goes live (rx is posted first). */
		struct vsock_hdr_fields f = { .src_cid = 2, .dst_cid = GUEST_CID,
					      .src_port = 5000, .dst_port = 1024,
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

static int fake_read_config(struct virtio_device *dev, unsigned offset, void *buf,
			    unsigned len)
{
	if (fault())
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

static int fake_queue_setup(struct virtio_device *dev, struct virtqueue *vq,
			    uint16_t index, uint16_t size, irq_handler_fn handler,
			    void *arg)
{
	struct fake_queue *q;
	int err;

	if (index >= NQUEUES || fake.q[index].vq || fault())
		return -ENODEV;
	q = &fake.q[index];
	err = vq_init(vq, &pool, index, size, fake_notify, q);
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

	CHECK(q->vq == vq);
	vq_destroy(vq, &pool);
	*q = (struct fake_queue){ 0 };
	fake.queues--;
	fake.routes--;
}

static int fake_config_irq(struct virtio_device *dev, irq_handler_fn handler, void *arg)
{
	if (fault())
		return -ENOSPC;
	fake.config_handler = handler;
	fake.config_arg = arg;
	fake.routes++;
	return 0;
}

static void fake_config_irq_release(struct virtio_device *dev)
{
	CHECK(fake.config_handler != NULL);
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

static void *dev_ptr(dma_addr_t a, size_t len)
{
	void *p = pool_cpu_addr(&pool, a, len);

	CHECK(p != NULL); /* the driver gave the device a valid address */
	return p;
}

static uint16_t dev_avail_idx(struct fake_queue *q)
{
	uint16_t *avail = dev_ptr(q->vq->avail_dma, 6 + 2 * q->vq->size);

	return avail[1];
}

/* Take the next available chain (one descriptor here): its head, bytes. */
static bool dev_take(struct fake_queue *q, uint16_t *head, uint8_t **buf, uint32_t *len)
{
	uint16_t *avail = dev_ptr(q->vq->avail_dma, 6 + 2 * q->vq->size);
	struct vring_desc *desc = dev_ptr(q->vq->desc_dma, 16 * q->vq->size);

	if (avail[1] == q->last_avail)
		return false;
	*head = avail[2 + (q->last_avail++ & (q->vq->size - 1))];
	CHECK(!(desc[*head].flags & VRING_DESC_F_NEXT));
	*buf = dev_ptr(dma_addr(desc[*head].addr), desc[*head].len);
	*len = desc[*head].len;
	return true;
}

static void dev_complete(struct fake_queue *q, uint32_t id, uint32_t len)
{
	uint8_t *used = dev_ptr(q->vq->used_dma, 6 + 8 * q->vq->size);
	struct vring_used_elem e = { id, len };

	memcpy(used + 4 + 8 * (q->used_idx & (q->vq->size - 1)), &e, sizeof(e));
	q->used_idx++;
	memcpy(used + 2, &q->used_idx, 2);
}

/* Fill the next rx buffer with a packet; the device says it wrote `written`. */
static void dev_write_packet(struct fake_queue *q, const struct vsock_hdr_fields *f,
			     const void *payload, uint32_t written)
{
	uint16_t head;
	uint8_t *buf;
	uint32_t room;

	CHECK(dev_take(q, &head, &buf, &room));
	vsock_hdr_encode((struct vsock_hdr *)buf, f);
	if (f->len && payload)
		memcpy(buf + sizeof(struct vsock_hdr), payload, f->len);
	dev_complete(q, head, written);
}

/* Raise a queue's interrupt, as the hardware would: interrupts off. */
static void dev_interrupt(struct fake_queue *q)
{
	platform_lock();
	q->handler(q->arg);
	platform_unlock();
}

/* ---- fixture ---- */

struct fixture {
	struct virtio_vsock *vs;
	struct vsock_core core;
	size_t heap;              /* heap bytes in use before probe */
	const struct vsock_transport_ops *ops;
};

static void fake_device_new(void)
{
	memset(&fake, 0, sizeof(fake));
	fake.vdev = (struct virtio_device){ &fake_ops, NULL, "fake-vsock", 0 };
	fake.offered = (1ull << VSOCK_F_VERSION_1) | (1ull << VSOCK_F_STREAM) |
		       (1ull << VIRTIO_F_EVENT_IDX);
	fake.cid = GUEST_CID;
	if (!pool_mem) {
		pool_mem = aligned_alloc(POOL_PAGE_SIZE, POOL_PAGES * POOL_PAGE_SIZE);
		CHECK(pool_mem != NULL);
	}
	CHECK_EQ(pool_init(&pool, pool_mem, dma_addr(FAKE_DEV_BASE),
			   POOL_PAGES * POOL_PAGE_SIZE), 0);
}

static size_t heap_in_use(void)
{
	return __atomic_load_n(&heap_live, __ATOMIC_RELAXED);
}

static void start(struct fixture *fx)
{
	memset(fx, 0, sizeof(*fx));
	fake_device_new();
	fx->heap = heap_in_use();
	CHECK_EQ(virtio_vsock_probe(&fake.vdev, &pool, &fx->vs), 0);
	fx->ops = virtio_vsock_transport(fx->vs);
	CHECK_EQ(virtio_vsock_start(fx->vs, &fx->core), 0);
	CHECK(fake.status & VIRTIO_STATUS_DRIVER_OK);
}

/* Nothing the driver took is still out: pool, routes, queues, heap (the
 * driver task's thread may take a moment to hand back its last bytes). */
static void check_nothing_left(size_t heap_before)
{
	uint64_t deadline = platform_now_ns() + WAIT_NS;

	CHECK_EQ(pool_pages_in_use(&pool), 0);
	CHECK_EQ(fake.routes, 0);
	CHECK_EQ(fake.queues, 0);
	while (heap_in_use() != heap_before && platform_now_ns() < deadline)
		platform_sleep_ns(1000000);
	CHECK_EQ(heap_in_use(), heap_before);
}

static void finish(struct fixture *fx)
{
	virtio_vsock_remove(fx->vs);
	CHECK_EQ(fake.status, 0); /* reset */
	check_nothing_left(fx->heap);
}

/* Wait (lock held inside) until cond(fx) holds; false on timeout. */
static bool wait_for(struct fixture *fx, bool (*cond)(struct fixture *))
{
	uint64_t deadline = platform_now_ns() + WAIT_NS;
	bool ok;

	platform_lock();
	while (!(ok = cond(fx)))
		if (platform_wait(&fx->core.wq, deadline) == -ETIMEDOUT && !(ok = cond(fx)))
			break;
	platform_unlock();
	return ok;
}

/* The same for conditions nobody wakes the test for: poll. */
static bool poll_for(struct fixture *fx, bool (*cond)(struct fixture *))
{
	uint64_t deadline = platform_now_ns() + WAIT_NS;
	bool ok;

	for (;;) {
		platform_lock();
		ok = cond(fx);
		platform_unlock();
		if (ok || platform_now_ns() >= deadline)
			return ok;
		platform_sleep_ns(1000000);
	}
}

static bool rx_broken(struct fixture *fx) { return fake.q[Q_RX].vq->broken; }
static bool one_packet(struct fixture *fx) { return fx->core.rx >= 1; }
static bool tx_ready_called(struct fixture *fx) { return fx->core.tx_ready >= 1; }
static bool reset_called(struct fixture *fx) { return fx->core.resets >= 1; }

/* The driver has consumed every used rx entry and posted buffers back. */
static bool rx_ring_settled(struct fixture *fx)
{
	struct fake_queue *q = &fake.q[Q_RX];

	return q->vq->last_used_idx == q->used_idx &&
	       (uint16_t)(dev_avail_idx(q) - q->last_avail) == RX_BUFFERS;
}

static struct virtio_vsock_stats stats_of(struct fixture *fx)
{
	struct virtio_vsock_stats s;

	virtio_vsock_stats(fx->vs, &s);
	return s;
}

/* ---- probe and start ---- */

TEST(probe_and_start_fail_cleanly_at_every_step)
{
	int steps = 0;

	for (fail_at = 1; fail_at < 100; fail_at++) {
		struct vsock_core core = { 0 };
		struct virtio_vsock *vs = (void *)1;
		size_t heap;
		int err;

		fake_device_new();
		heap = heap_in_use();
		step = 0;
		armed = true;
		err = virtio_vsock_probe(&fake.vdev, &pool, &vs);
		if (err == 0)
			err = virtio_vsock_start(vs, &core);
		armed = false;
		if (err == 0 && step < fail_at) {
			steps = step; /* nothing failed: every step has been tried */
			virtio_vsock_remove(vs);
			check_nothing_left(heap);
			break;
		}
		CHECK(err < 0);
		if (vs && vs != (void *)1) {
			/* probe went through, start failed: remove undoes both */
			CHECK(!(fake.status & VIRTIO_STATUS_DRIVER_OK));
			virtio_vsock_remove(vs);
		} else {
			CHECK(vs == NULL);
		}
		CHECK(fake.failed_set);          /* FAILED ... */
		CHECK(fake.reset_after_failed);  /* ... then reset */
		CHECK_EQ(fake.status, 0);
		check_nothing_left(heap);
	}
	/* calloc, FEATURES_OK, config, 3 slabs, 3 x (queue, its rings), the
	 * config interrupt, the task: at least 16 steps, each failed once. */
	CHECK(steps >= 16);
	CHECK_EQ(fail_at, steps + 1);
	fail_at = 0;
}

TEST(probe_refuses_a_device_without_version_1)
{
	struct virtio_vsock *vs;
	size_t heap;

	fake_device_new();
	fake.offered &= ~(1ull << VSOCK_F_VERSION_1);
	heap = heap_in_use();
	CHECK_EQ(virtio_vsock_probe(&fake.vdev, &pool, &vs), -ENODEV);
	CHECK(vs == NULL);
	CHECK(fake.reset_after_failed);
	CHECK(strstr(harness_last_log, "feature negotiation failed") != NULL);
	check_nothing_left(heap);
}

TEST(probe_refuses_reserved_guest_cids)
{
	static const uint64_t bad[] = { 0, 1, 2, 0xffffffffull, 1ull << 40 };

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct virtio_vsock *vs;
		size_t heap;

		fake_device_new();
		fake.cid = bad[i];
		heap = heap_in_use();
		CHECK_EQ(virtio_vsock_probe(&fake.vdev, &pool, &vs), -ENODEV);
		CHECK(fake.reset_after_failed);
		check_nothing_left(heap);
	}
}

TEST(start_posts_buffers_then_sets_driver_ok)
{
	struct fixture fx;
	struct virtio_vsock_stats s;

	start(&fx);
	platform_lock();
	CHECK_EQ(dev_avail_idx(&fake.q[Q_RX]), RX_BUFFERS);
	CHECK_EQ(dev_avail_idx(&fake.q[Q_EVENT]), EVENT_BUFFERS);
	CHECK_EQ(dev_avail_idx(&fake.q[Q_TX]), 0);
	platform_unlock();
	CHECK_EQ(fx.ops->local_cid(fx.vs), GUEST_CID);
	CHECK_EQ(fx.ops->max_payload, TX_PAYLOAD);
	CHECK(fx.ops->features & (1ull << VSOCK_F_VERSION_1));
	s = stats_of(&fx);
	CHECK_EQ(s.rx_posted, RX_BUFFERS);
	CHECK_EQ(s.tx_free, TX_BUFFERS);
	CHECK_EQ(s.guest_cid, GUEST_CID);
	finish(&fx);
}

/* The core is attached before DRIVER_OK: a packet that arrives the moment
 * the device goes live reaches it (no "no core yet" path). */
TEST(packet_at_driver_ok_reaches_the_core)
{
	struct fixture fx;

	memset(&fx, 0, sizeof(fx));
	fake_device_new();
	fake.deliver_at_driver_ok = true;
	fx.heap = heap_in_use();
	CHECK_EQ(virtio_vsock_probe(&fake.vdev, &pool, &fx.vs), 0);
	CHECK_EQ(virtio_vsock_start(fx.vs, &fx.core), 0);
	CHECK(wait_for(&fx, one_packet));
	CHECK_EQ(fx.core.packets[0].h.op, VSOCK_OP_REQUEST);
	CHECK_EQ(fx.core.packets[0].h.dst_port, 1024);
	platform_lock();
	CHECK_EQ(dev_avail_idx(&fake.q[Q_TX]), 0); /* the driver answered nothing itself */
	platform_unlock();
	finish(&fx);
}

/* ---- receive ---- */

TEST(rx_packet_reaches_the_core_with_its_header_copied)
{
	struct fixture fx;
	struct vsock_hdr_fields f = { .src_cid = 2, .dst_cid = GUEST_CID, .src_port = 1234,
				      .dst_port = 7, .len = 5, .type = VSOCK_TYPE_STREAM,
				      .op = VSOCK_OP_RW, .buf_alloc = 65536, .fwd_cnt = 9 };
	struct packet *p;

	start(&fx);
	platform_lock();
	dev_write_packet(&fake.q[Q_RX], &f, "hello", sizeof(struct vsock_hdr) + 5);
	platform_unlock();
	dev_interrupt(&fake.q[Q_RX]);
	CHECK(wait_for(&fx, one_packet));
	CHECK(wait_for(&fx, rx_ring_settled)); /* the buffer went straight back */
	p = &fx.core.packets[0];
	CHECK_EQ(p->h.src_port, 1234);
	CHECK_EQ(p->h.dst_port, 7);
	CHECK_EQ(p->h.buf_alloc, 65536);
	CHECK_EQ(p->h.fwd_cnt, 9);
	CHECK_EQ(p->len, 5);
	CHECK(memcmp(p->payload, "hello", 5) == 0);
	CHECK(!p->hdr_in_pool);    /* the header is the driver's own copy ... */
	CHECK(p->payload_in_pool); /* ... the payload is read in place, once */
	CHECK_EQ(stats_of(&fx).rx_packets, 1);
	CHECK_EQ(stats_of(&fx).rx_posted, RX_BUFFERS);
	CHECK_EQ(stats_of(&fx).irq_rx, 1);
	finish(&fx);
}

TEST(malformed_rx_is_dropped_and_its_buffer_reposted)
{
	struct fixture fx;
	struct vsock_hdr_fields f = { .src_cid = 2, .dst_cid = GUEST_CID, .src_port = 1,
				      .dst_port = 7, .type = VSOCK_TYPE_STREAM,
				      .op = VSOCK_OP_RW };

	start(&fx);
	platform_lock();
	f.len = 0;
	dev_write_packet(&fake.q[Q_RX], &f, NULL, 20);    /* shorter than a header */
	f.len = 100;
	dev_write_packet(&fake.q[Q_RX], &f, NULL, 44 + 99); /* payload cut short */
	f.len = 0xffffffff;
	dev_write_packet(&fake.q[Q_RX], &f, NULL, 4096);  /* absurd length */
	platform_unlock();
	dev_interrupt(&fake.q[Q_RX]);
	CHECK(poll_for(&fx, rx_ring_settled));
	CHECK_EQ(fx.core.rx, 0);
	CHECK_EQ(stats_of(&fx).rx_bad, 3);
	CHECK_EQ(stats_of(&fx).rx_posted, RX_BUFFERS);
	finish(&fx);
}

TEST(device_breaking_the_rx_ring_is_contained)
{
	struct fixture fx;

	start(&fx);
	platform_lock();
	dev_complete(&fake.q[Q_RX], 1000, 44); /* no such descriptor */
	platform_unlock();
	dev_interrupt(&fake.q[Q_RX]);
	CHECK(poll_for(&fx, rx_broken)); /* marked broken, nothing followed */
	CHECK_EQ(fx.core.rx, 0);
	finish(&fx);
}

/* ---- transmit ---- */

TEST(send_copies_header_and_payload_into_a_tx_buffer)
{
	struct fixture fx;
	struct vsock_hdr_fields f = { .src_cid = GUEST_CID, .dst_cid = 2, .src_port = 7,
				      .dst_port = 1234, .len = 3, .type = VSOCK_TYPE_STREAM,
				      .op = VSOCK_OP_RW };
	struct vsock_hdr hdr, got;
	uint16_t head;
	uint8_t *buf;
	uint32_t len;

	start(&fx);
	vsock_hdr_encode(&hdr, &f);
	platform_lock();
	CHECK_EQ(fx.ops->send(fx.vs, &hdr, "abc", 3), 0);
	CHECK_EQ(fx.ops->send(fx.vs, &hdr, NULL, TX_PAYLOAD + 1), -EMSGSIZE);
	CHECK(dev_take(&fake.q[Q_TX], &head, &buf, &len));
	CHECK_EQ(len, sizeof(hdr) + 3);
	memcpy(&got, buf, sizeof(got));
	CHECK(memcmp(&got, &hdr, sizeof(hdr)) == 0);
	CHECK(memcmp(buf + sizeof(hdr), "abc", 3) == 0);
	CHECK(fake.q[Q_TX].kicks >= 1);
	platform_unlock();
	CHECK_EQ(stats_of(&fx).tx_packets, 1);
	CHECK_EQ(stats_of(&fx).tx_free, TX_BUFFERS - 1);
	finish(&fx);
}

TEST(full_tx_says_eagain_then_tx_ready_after_completions)
{
	struct fixture fx;
	struct vsock_hdr_fields f = { .src_cid = GUEST_CID, .dst_cid = 2, .src_port = 7,
				      .dst_port = 1234, .type = VSOCK_TYPE_STREAM,
				      .op = VSOCK_OP_CREDIT_UPDATE };
	struct vsock_hdr hdr;
	uint16_t head;
	uint8_t *buf;
	uint32_t len;

	start(&fx);
	vsock_hdr_encode(&hdr, &f);
	platform_lock();
	for (int i = 0; i < TX_BUFFERS; i++)
		CHECK_EQ(fx.ops->send(fx.vs, &hdr, NULL, 0), 0);
	CHECK_EQ(fx.ops->send(fx.vs, &hdr, NULL, 0), -EAGAIN);
	CHECK(fake.q[Q_TX].vq->interrupts_on); /* now it wants to hear back */
	while (dev_take(&fake.q[Q_TX], &head, &buf, &len))
		dev_complete(&fake.q[Q_TX], head, 0);
	platform_unlock();
	dev_interrupt(&fake.q[Q_TX]);
	CHECK(wait_for(&fx, tx_ready_called));
	platform_lock();
	CHECK(!fake.q[Q_TX].vq->interrupts_on); /* back to collecting in send */
	CHECK_EQ(fx.ops->send(fx.vs, &hdr, NULL, 0), 0);
	platform_unlock();
	CHECK_EQ(stats_of(&fx).tx_full, 1);
	CHECK_EQ(stats_of(&fx).tx_free, TX_BUFFERS - 1);
	finish(&fx);
}

/* ---- events ---- */

TEST(transport_reset_rereads_the_cid_and_tells_the_core)
{
	struct fixture fx;
	uint16_t head;
	uint8_t *buf;
	uint32_t len, id = 0; /* VIRTIO_VSOCK_EVENT_TRANSPORT_RESET */

	start(&fx);
	platform_lock();
	fake.cid = 99;
	CHECK(dev_take(&fake.q[Q_EVENT], &head, &buf, &len));
	CHECK_EQ(len, 4);
	memcpy(buf, &id, 4);
	dev_complete(&fake.q[Q_EVENT], head, 4);
	platform_unlock();
	dev_interrupt(&fake.q[Q_EVENT]);
	CHECK(wait_for(&fx, reset_called));
	platform_lock();
	CHECK_EQ(fx.ops->local_cid(fx.vs), 99);
	platform_unlock();
	CHECK_EQ(stats_of(&fx).transport_resets, 1);
	CHECK_EQ(stats_of(&fx).irq_event, 1);
	finish(&fx);
}
