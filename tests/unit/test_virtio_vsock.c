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
#include "tests/unit/fake_virtio.h"
#include "tests/unit/harness.h"
#include "vsock/core.h"
#include "vsock/transport.h"
#include "vsock/wire.h"

#define GUEST_CID     FAKE_GUEST_CID
#define WAIT_NS       5000000000ull
#define RX_BUFFERS    64 /* what the driver posts (virtio_vsock.c) */
#define EVENT_BUFFERS 4
#define TX_BUFFERS    32
#define TX_PAYLOAD    32768

/* ---- fault injection ---- */

static __thread bool armed; /* count steps on this thread only */
static int step;            /* fallible steps taken since armed */
static int fail_at;         /* the step that fails (0: none) */

static size_t heap_live; /* bytes the code under test holds (atomic) */

static bool fault(void)
{
	return armed && ++step == fail_at;
}

/* The fake device's hooks (fake_virtio.h). */
bool fake_fault(void)
{
	return fault();
}

void fake_expect_failed(const char *file, int line, const char *what)
{
	harness_fail(file, line, what);
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

static bool in_pool(const void *p)
{
	return (const uint8_t *)p >= fake_pool_mem &&
	       (const uint8_t *)p < fake_pool_mem + FAKE_POOL_PAGES * POOL_PAGE_SIZE;
}

void vsock_core_rx(struct vsock_core *core, const struct vsock_hdr *hdr, const void *payload,
                   size_t len)
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

/* ---- fixture ---- */

struct fixture {
	struct virtio_vsock *vs;
	struct vsock_core core;
	size_t heap; /* heap bytes in use before probe */
	const struct vsock_transport_ops *ops;
};

static size_t heap_in_use(void)
{
	return __atomic_load_n(&heap_live, __ATOMIC_RELAXED);
}

static void start(struct fixture *fx)
{
	memset(fx, 0, sizeof(*fx));
	fake_device_new();
	fx->heap = heap_in_use();
	CHECK_EQ(virtio_vsock_probe(&fake.vdev, &fake_pool, &fx->vs), 0);
	fx->ops = virtio_vsock_transport(fx->vs);
	CHECK_EQ(virtio_vsock_start(fx->vs, &fx->core), 0);
	CHECK(fake.status & VIRTIO_STATUS_DRIVER_OK);
}

/* Nothing the driver took is still out: pool, routes, queues, heap (the
 * driver task's thread may take a moment to hand back its last bytes). */
static void check_nothing_left(size_t heap_before)
{
	uint64_t deadline = platform_now_ns() + WAIT_NS;

	CHECK_EQ(pool_pages_in_use(&fake_pool), 0);
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

static bool rx_broken(struct fixture *fx)
{
	return fake.q[Q_RX].vq->broken;
}
static bool one_packet(struct fixture *fx)
{
	return fx->core.rx >= 1;
}
static bool tx_ready_called(struct fixture *fx)
{
	return fx->core.tx_ready >= 1;
}
static bool reset_called(struct fixture *fx)
{
	return fx->core.resets >= 1;
}

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
		err = virtio_vsock_probe(&fake.vdev, &fake_pool, &vs);
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
		CHECK(fake.failed_set);         /* FAILED ... */
		CHECK(fake.reset_after_failed); /* ... then reset */
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
	CHECK_EQ(virtio_vsock_probe(&fake.vdev, &fake_pool, &vs), -ENODEV);
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
		CHECK_EQ(virtio_vsock_probe(&fake.vdev, &fake_pool, &vs), -ENODEV);
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
	CHECK_EQ(virtio_vsock_probe(&fake.vdev, &fake_pool, &fx.vs), 0);
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
	struct vsock_hdr_fields f = { .src_cid = 2,
		                      .dst_cid = GUEST_CID,
		                      .src_port = 1234,
		                      .dst_port = 7,
		                      .len = 5,
		                      .type = VSOCK_TYPE_STREAM,
		                      .op = VSOCK_OP_RW,
		                      .buf_alloc = 65536,
		                      .fwd_cnt = 9 };
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
	struct vsock_hdr_fields f = { .src_cid = 2,
		                      .dst_cid = GUEST_CID,
		                      .src_port = 1,
		                      .dst_port = 7,
		                      .type = VSOCK_TYPE_STREAM,
		                      .op = VSOCK_OP_RW };

	start(&fx);
	platform_lock();
	f.len = 0;
	dev_write_packet(&fake.q[Q_RX], &f, NULL, 20); /* shorter than a header */
	f.len = 100;
	dev_write_packet(&fake.q[Q_RX], &f, NULL, 44 + 99); /* payload cut short */
	f.len = 0xffffffff;
	dev_write_packet(&fake.q[Q_RX], &f, NULL, 4096); /* absurd length */
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
	struct vsock_hdr_fields f = { .src_cid = GUEST_CID,
		                      .dst_cid = 2,
		                      .src_port = 7,
		                      .dst_port = 1234,
		                      .len = 3,
		                      .type = VSOCK_TYPE_STREAM,
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
	struct vsock_hdr_fields f = { .src_cid = GUEST_CID,
		                      .dst_cid = 2,
		                      .src_port = 7,
		                      .dst_port = 1234,
		                      .type = VSOCK_TYPE_STREAM,
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
