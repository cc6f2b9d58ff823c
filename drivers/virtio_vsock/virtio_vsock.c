/*
 * virtio_vsock.c -- virtio-vsock device driver (virtio 1.2 §5.10).
 *
 * QEMU: -chardev socket,id=vc,path=SOCK -device vhost-user-vsock-pci,chardev=vc
 * (with -object memory-backend-memfd,...,share=on), or with a host kernel
 * module: -device vhost-vsock-pci,guest-cid=N.
 *
 * Queues: 0 rx (device -> driver packets), 1 tx, 2 event.  Each has its
 * own interrupt; the handlers only note which queue fired and wake the
 * driver task, which does all the work with the platform lock held:
 * consume used rx buffers (each header read once from shared memory, then
 * checked against what the device wrote), hand packets to the vsock core
 * (vsock_core_rx), re-post the buffers at once (the core copies what it
 * keeps), reclaim tx buffers, handle TRANSPORT_RESET events, and run the
 * core's timers.  The core is attached before DRIVER_OK, so every packet
 * has somewhere to go; refusing strangers (RST) is the core's job.
 */
#include "drivers/virtio_vsock/virtio_vsock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/virtio_pci/virtio.h"
#include "include/log.h"
#include "include/platform.h"
#include "vsock/core.h"
#include "vsock/transport.h"
#include "vsock/wire.h"

#define QUEUE_RX    0
#define QUEUE_TX    1
#define QUEUE_EVENT 2

#define RX_BUFFERS                  64
/* Payload room of each rx buffer.  Linux posts 4 KiB; 16 KiB quarters the
 * packets (and interrupts) per byte host -> guest: 630 -> 846 MiB/s into
 * the discard service, 4 interleaved rounds (bench/README.md), for 1 MiB
 * of the DMA pool. */
#define RX_PAYLOAD                  16384
#define RX_STRIDE                   16432 /* header + payload, rounded to 16 */
#define TX_BUFFERS                  32
#define TX_PAYLOAD                  32768 /* largest payload we send in one packet */
#define TX_STRIDE                   32816 /* header + payload, rounded to 16 */
#define EVENT_BUFFERS               4
#define VSOCK_EVENT_TRANSPORT_RESET 0
#define CONFIG_GUEST_CID            0
#define TASK_STACK                  (32u << 10)
/* While the core waits for tx buffers, the driver also looks for their
 * completions this often, in case the interrupt is lost (see driver_task). */
#define TX_POLL_NS                  (50u * 1000000u)

_Static_assert(RX_STRIDE >= sizeof(struct vsock_hdr) + RX_PAYLOAD, "rx stride");
_Static_assert(TX_STRIDE >= sizeof(struct vsock_hdr) + TX_PAYLOAD, "tx stride");

struct virtio_vsock_event {
	uint32_t id; /* le32 VIRTIO_VSOCK_EVENT_* */
} __attribute__((packed));

struct virtio_vsock {
	struct virtio_device *vdev;           /* transport view (the transport's) */
	struct dma_pool *pool;                /* rings and buffers */
	struct virtqueue rx, tx, event;       /* queues 0, 1, 2 */
	struct dma_region rx_slab;            /* RX_BUFFERS buffers of RX_STRIDE */
	struct dma_region tx_slab;            /* TX_BUFFERS buffers of TX_STRIDE */
	struct dma_region event_slab;         /* EVENT_BUFFERS events */
	uint16_t tx_free[TX_BUFFERS];         /* stack of free tx buffer indices */
	unsigned tx_free_count;               /* entries in tx_free */
	uint64_t guest_cid;                   /* from config; re-read on reset */
	struct vsock_core *core;              /* receives every packet (set before DRIVER_OK) */
	struct vsock_transport_ops transport; /* what the core calls */
	struct platform_task *task;           /* the driver task, once started */
	bool task_exited;                     /* it has stopped for good */
	struct wait_queue wake;               /* the task sleeps here */
	struct wait_queue exited;             /* virtio_vsock_remove waits here for it */
	volatile bool kicked;                 /* an interrupt arrived since last look */
	struct virtio_vsock_stats stats;      /* counters */
};

/* ---- buffers ---- */

static uint8_t *slab_cpu(const struct dma_region *slab, unsigned i, size_t stride)
{
	return (uint8_t *)slab->cpu + (size_t)i * stride;
}

static dma_addr_t slab_dev(const struct dma_region *slab, unsigned i, size_t stride)
{
	return dma_addr(slab->dev.addr + (uint64_t)i * stride);
}

/* Cookies are buffer index + 1 (a cookie must not be NULL). */
static void *cookie_of(unsigned i)
{
	return (void *)(uintptr_t)(i + 1);
}

static unsigned index_of(void *cookie)
{
	return (unsigned)(uintptr_t)cookie - 1;
}

static void rx_post(struct virtio_vsock *vs, unsigned i)
{
	struct vq_buffer b = { slab_dev(&vs->rx_slab, i, RX_STRIDE), RX_STRIDE, VQ_DEVICE_WRITES };

	if (vq_add(&vs->rx, &b, 1, cookie_of(i)) == 0)
		vs->stats.rx_posted++;
}

static void event_post(struct virtio_vsock *vs, unsigned i)
{
	struct vq_buffer b = {
		dma_addr(vs->event_slab.dev.addr + i * sizeof(struct virtio_vsock_event)),
		sizeof(struct virtio_vsock_event),
		VQ_DEVICE_WRITES,
	};

	vq_add(&vs->event, &b, 1, cookie_of(i));
}

static bool reclaim_tx(struct virtio_vsock *vs);

/* ---- transport for the core ---- */

static uint64_t vv_local_cid(void *ctx)
{
	return ((struct virtio_vsock *)ctx)->guest_cid;
}

/* Copy one packet into a free tx buffer and post it.  Lock held. */
static int vv_send(void *ctx, const struct vsock_hdr *hdr, const void *payload, size_t len)
{
	struct virtio_vsock *vs = ctx;
	struct vq_buffer b;
	unsigned i;
	uint8_t *buf;

	if (len > TX_PAYLOAD)
		return -EMSGSIZE;
	if (vs->tx.broken)
		return -EIO;
	if (vs->tx_free_count < TX_BUFFERS / 2)
		reclaim_tx(vs); /* completions are collected here, not by interrupt */
	if (vs->tx_free_count == 0) {
		/* Out of buffers: now an interrupt is wanted, to resume the core
		 * when the device completes one (re-check after enabling). */
		vq_enable_interrupts(&vs->tx);
		reclaim_tx(vs);
		if (vs->tx_free_count == 0) {
			vs->stats.tx_full++;
			return -EAGAIN;
		}
	}
	i = vs->tx_free[--vs->tx_free_count];
	buf = slab_cpu(&vs->tx_slab, i, TX_STRIDE);
	memcpy(buf, hdr, sizeof(*hdr));
	if (len)
		memcpy(buf + sizeof(*hdr), payload, len);
	b = (struct vq_buffer){ slab_dev(&vs->tx_slab, i, TX_STRIDE),
		                (uint32_t)(sizeof(*hdr) + len), VQ_DEVICE_READS };
	if (vq_add(&vs->tx, &b, 1, cookie_of(i)) != 0) {
		vs->tx_free[vs->tx_free_count++] = i;
		return -EAGAIN;
	}
	vq_kick(&vs->tx);
	vs->stats.tx_packets++;
	return 0;
}

/* ---- work done by the driver task, lock held ---- */

/*
 * Hand rx buffer `i`, of which the device says it wrote `written` bytes
 * (at most RX_STRIDE: the virtqueue checked), to the core.  The device may
 * still write the buffer, so its header is copied out once and only the
 * copy is checked and passed on; the core copies the payload once.
 */
static void deliver_rx(struct virtio_vsock *vs, unsigned i, uint32_t written)
{
	const uint8_t *buf = slab_cpu(&vs->rx_slab, i, RX_STRIDE);
	struct vsock_hdr hdr;
	uint32_t len = 0;

	if (written >= sizeof(hdr)) {
		memcpy(&hdr, buf, sizeof(hdr));
		__asm__ volatile("" ::: "memory"); /* no re-reading `buf` for `hdr` */
		len = vsock_hdr_len(&hdr);
		if (len <= written - sizeof(hdr)) {
			vs->stats.rx_packets++;
			vsock_core_rx(vs->core, &hdr, buf + sizeof(hdr), len);
			return;
		}
	}
	if (vs->stats.rx_bad++ < 8)
		log_printf("vsock: dropped malformed packet: %u bytes written, "
		           "header says %u payload bytes\n",
		           written, len);
}

static bool process_rx(struct virtio_vsock *vs)
{
	bool any = false;
	uint32_t len;
	void *cookie;

	while ((cookie = vq_next_used(&vs->rx, &len))) {
		unsigned i = index_of(cookie);

		any = true;
		vs->stats.rx_posted--;
		if (i >= RX_BUFFERS) {
			log_printf("vsock: rx cookie %u out of range\n", i);
			continue;
		}
		deliver_rx(vs, i, len);
		rx_post(vs, i); /* the core copied what it keeps */
	}
	vq_kick(&vs->rx);
	return any;
}

/* Take back tx buffers the device has finished with.  Lock held. */
static bool reclaim_tx(struct virtio_vsock *vs)
{
	bool any = false;
	uint32_t len;
	void *cookie;

	while ((cookie = vq_next_used(&vs->tx, &len))) {
		unsigned i = index_of(cookie);

		if (i < TX_BUFFERS && vs->tx_free_count < TX_BUFFERS)
			vs->tx_free[vs->tx_free_count++] = (uint16_t)i;
		any = true;
	}
	return any;
}

/* After a tx interrupt (asked for only when buffers ran out): reclaim,
 * let the core send again, and go back to collecting completions in send. */
static bool process_tx(struct virtio_vsock *vs)
{
	bool any = reclaim_tx(vs);

	if (vs->tx.interrupts_on) {
		vq_disable_interrupts(&vs->tx);
		vsock_core_tx_ready(vs->core);
	}
	return any;
}

static void read_cid(struct virtio_vsock *vs)
{
	uint64_t cid = 0;

	if (vs->vdev->ops->read_config(vs->vdev, CONFIG_GUEST_CID, &cid, sizeof(cid)))
		log_printf("vsock: cannot read the guest CID\n");
	else if (cid < 3 || cid >= 0xffffffffull)
		log_printf("vsock: device reports invalid guest CID %llu\n",
		           (unsigned long long)cid);
	else
		vs->guest_cid = cid;
	vs->stats.guest_cid = vs->guest_cid;
}

static bool process_events(struct virtio_vsock *vs)
{
	bool any = false;
	uint32_t len;
	void *cookie;

	while ((cookie = vq_next_used(&vs->event, &len))) {
		unsigned i = index_of(cookie);
		const volatile struct virtio_vsock_event *ev =
		        (const void *)((uint8_t *)vs->event_slab.cpu + i * sizeof(*ev));
		uint32_t id;

		any = true;
		if (i >= EVENT_BUFFERS)
			continue;
		id = len >= sizeof(*ev) ? vsock_le32(ev->id) : UINT32_MAX; /* read once */
		if (id == VSOCK_EVENT_TRANSPORT_RESET) {
			vs->stats.transport_resets++;
			read_cid(vs);
			log_printf("vsock: transport reset; guest CID now %llu\n",
			           (unsigned long long)vs->guest_cid);
			vsock_core_transport_reset(vs->core);
		} else {
			log_printf("vsock: unknown event %u\n", len >= sizeof(*ev) ? id : 0);
		}
		event_post(vs, i);
	}
	vq_kick(&vs->event);
	return any;
}

/* The core's timers run on the driver task too; vsock_core_tick takes
 * the platform lock itself, so step out of it. */
static uint64_t core_tick(struct virtio_vsock *vs)
{
	uint64_t now = platform_now_ns(), next;

	platform_unlock();
	next = vsock_core_tick(vs->core, now);
	platform_lock();
	return next;
}

/*
 * Runs until virtio_vsock_remove kills it (never, in the image).
 *
 * While the core waits for tx buffers (tx interrupts on), the wait is cut
 * to TX_POLL_NS: an interrupt can be lost without anyone breaking the
 * protocol.  Under QEMU's TCG with a single possible vCPU our fences are
 * translated without host barriers, so our store of used_event can pass
 * our load of the used index while the device, on another host CPU, reads
 * the old used_event and sends nothing (README: -smp).  Completions found
 * by such a poll, with no interrupt, are counted and logged.
 */
static void driver_task(void *arg)
{
	struct virtio_vsock *vs = arg;
	uint64_t deadline = PLATFORM_FOREVER;
	bool polled = false;

	platform_lock();
	for (;;) {
		uint64_t wait_until = deadline;
		bool worked, tx_done;

		vs->kicked = false;
		worked = process_rx(vs);
		worked |= tx_done = process_tx(vs);
		worked |= process_events(vs);
		if (polled && tx_done) {
			if (vs->stats.tx_irq_lost++ < 4)
				log_printf("vsock: tx completions found by polling, with no "
				           "interrupt (%llu so far)\n",
				           (unsigned long long)vs->stats.tx_irq_lost);
		}
		if (worked || platform_now_ns() >= deadline)
			deadline = core_tick(vs);
		if (worked || vs->kicked) {
			polled = false;
			continue;
		}
		if (vs->tx.interrupts_on) {
			uint64_t poll = platform_now_ns() + TX_POLL_NS;

			if (poll < wait_until)
				wait_until = poll;
		}
		if (platform_wait(&vs->wake, wait_until) == -EINTR)
			break;
		polled = vs->tx.interrupts_on && !vs->kicked && wait_until != deadline;
	}
	platform_unlock();
}

/* The task is gone for good (lock held). */
static void driver_task_exited(void *arg, bool killed)
{
	struct virtio_vsock *vs = arg;

	vs->task_exited = true;
	platform_wake(&vs->exited);
}

/* ---- interrupt handlers: note and wake, nothing more ---- */

static void irq_wake(struct virtio_vsock *vs, uint64_t *counter)
{
	(*counter)++;
	vs->kicked = true;
	platform_wake(&vs->wake);
}

static void rx_irq(void *arg)
{
	struct virtio_vsock *vs = arg;

	irq_wake(vs, &vs->stats.irq_rx);
}

static void tx_irq(void *arg)
{
	struct virtio_vsock *vs = arg;

	irq_wake(vs, &vs->stats.irq_tx);
}

static void event_irq(void *arg)
{
	struct virtio_vsock *vs = arg;

	irq_wake(vs, &vs->stats.irq_event);
}

static void config_irq(void *arg)
{
	struct virtio_vsock *vs = arg;

	irq_wake(vs, &vs->stats.irq_config);
}

/* ---- bring-up (virtio 1.2 §3.1.1 steps, §5.10.6 device init) ---- */

static int slab_alloc(struct virtio_vsock *vs, struct dma_region *slab, unsigned n, size_t stride)
{
	size_t pages = (n * stride + POOL_PAGE_SIZE - 1) / POOL_PAGE_SIZE;

	return pool_alloc(vs->pool, pages, slab);
}

/*
 * Every step that can fail has a label below that undoes the steps before
 * it, in reverse order (edk2 VirtioNetDxe style); the last marks the device
 * FAILED and resets it.  Queues are released before that reset: the device
 * never had DRIVER_OK, so it does not touch them (§3.1.1, §2.7).
 */
int virtio_vsock_probe(struct virtio_device *dev, struct dma_pool *pool, struct virtio_vsock **out)
{
	struct virtio_vsock *vs;
	const char *why;
	int err;

	*out = NULL;
	vs = calloc(1, sizeof(*vs));
	if (!vs) {
		err = -ENOMEM;
		why = "no memory for the driver";
		goto err_fail;
	}
	vs->vdev = dev;
	vs->pool = pool;
	virtio_begin(dev); /* steps 1-3 */
	/* SEQPACKET when the device has it; F_NO_IMPLIED_STREAM accepted as
	 * a driver SHOULD (virtio 1.2 §5.10.3.1): the core then offers
	 * STREAM only if F_STREAM was negotiated too. */
	err = virtio_negotiate(dev, /* steps 4-6 */
	                       (1ull << VSOCK_F_STREAM) | (1ull << VSOCK_F_SEQPACKET) |
	                               (1ull << VSOCK_F_NO_IMPLIED_STREAM) |
	                               (1ull << VIRTIO_F_EVENT_IDX),
	                       1ull << VSOCK_F_VERSION_1);
	if (err) {
		why = "feature negotiation failed";
		goto err_free_driver;
	}
	vs->stats.negotiated = dev->features;
	read_cid(vs); /* step 7: config */
	if (!vs->guest_cid) {
		err = -ENODEV;
		why = "no valid guest CID";
		goto err_free_driver;
	}
	why = "no DMA memory for the buffers";
	err = slab_alloc(vs, &vs->rx_slab, RX_BUFFERS, RX_STRIDE);
	if (err)
		goto err_free_driver;
	err = slab_alloc(vs, &vs->tx_slab, TX_BUFFERS, TX_STRIDE);
	if (err)
		goto err_free_rx_slab;
	err = slab_alloc(vs, &vs->event_slab, EVENT_BUFFERS, sizeof(struct virtio_vsock_event));
	if (err)
		goto err_free_tx_slab;
	why = "queue setup failed"; /* step 7: queues */
	err = dev->ops->queue_setup(dev, &vs->rx, QUEUE_RX, 128, rx_irq, vs);
	if (err)
		goto err_free_event_slab;
	err = dev->ops->queue_setup(dev, &vs->tx, QUEUE_TX, 128, tx_irq, vs);
	if (err)
		goto err_release_rx;
	err = dev->ops->queue_setup(dev, &vs->event, QUEUE_EVENT, 8, event_irq, vs);
	if (err)
		goto err_release_tx;
	err = dev->ops->config_irq(dev, config_irq, vs);
	if (err) {
		why = "config interrupt setup failed";
		goto err_release_event;
	}

	for (unsigned i = 0; i < TX_BUFFERS; i++)
		vs->tx_free[vs->tx_free_count++] = (uint16_t)(TX_BUFFERS - 1 - i);
	vs->transport = (struct vsock_transport_ops){
		.local_cid = vv_local_cid,
		.send = vv_send,
		.max_payload = TX_PAYLOAD,
		.features = dev->features,
	};
	*out = vs;
	return 0;

err_release_event:
	dev->ops->queue_release(dev, &vs->event);
err_release_tx:
	dev->ops->queue_release(dev, &vs->tx);
err_release_rx:
	dev->ops->queue_release(dev, &vs->rx);
err_free_event_slab:
	pool_free(pool, &vs->event_slab);
err_free_tx_slab:
	pool_free(pool, &vs->tx_slab);
err_free_rx_slab:
	pool_free(pool, &vs->rx_slab);
err_free_driver:
	free(vs);
err_fail:
	virtio_fail(dev, why);
	return err;
}

const struct vsock_transport_ops *virtio_vsock_transport(struct virtio_vsock *vs)
{
	return &vs->transport;
}

int virtio_vsock_start(struct virtio_vsock *vs, struct vsock_core *core)
{
	struct virtio_device *dev = vs->vdev;
	int err;

	platform_lock();
	vs->core = core;
	vq_disable_interrupts(&vs->tx); /* see vv_send */
	for (unsigned i = 0; i < RX_BUFFERS; i++)
		rx_post(vs, i);
	for (unsigned i = 0; i < EVENT_BUFFERS; i++)
		event_post(vs, i);
	platform_unlock();
	err = platform_task_spawn(&vs->task, "virtio-vsock", driver_task, vs, TASK_STACK,
	                          driver_task_exited, vs);
	if (err) {
		vs->task = NULL;
		virtio_fail(dev, "cannot start the driver task");
		return err;
	}
	virtio_driver_ok(dev); /* step 8 */
	platform_lock();
	vq_kick(&vs->rx);
	vq_kick(&vs->event);
	platform_unlock();

	log_printf("vsock: %s up: guest CID %llu, features %#llx, MSI-X vectors "
	           "rx %d tx %d event %d config %d, %u rx buffers\n",
	           dev->name, (unsigned long long)vs->guest_cid, (unsigned long long)dev->features,
	           dev->ops->queue_vector(dev, QUEUE_RX), dev->ops->queue_vector(dev, QUEUE_TX),
	           dev->ops->queue_vector(dev, QUEUE_EVENT), dev->ops->config_vector(dev),
	           vs->stats.rx_posted);
	return 0;
}

/* The reverse of probe and start: once the device is reset it no longer
 * touches the rings or raises interrupts, so the task can be stopped and
 * everything given back. */
void virtio_vsock_remove(struct virtio_vsock *vs)
{
	struct virtio_device *dev = vs->vdev;

	dev->ops->reset(dev);
	if (vs->task) {
		platform_task_kill(vs->task);
		platform_lock();
		while (!vs->task_exited)
			platform_wait(&vs->exited, PLATFORM_FOREVER);
		platform_unlock();
	}
	dev->ops->config_irq_release(dev);
	dev->ops->queue_release(dev, &vs->event);
	dev->ops->queue_release(dev, &vs->tx);
	dev->ops->queue_release(dev, &vs->rx);
	pool_free(vs->pool, &vs->event_slab);
	pool_free(vs->pool, &vs->tx_slab);
	pool_free(vs->pool, &vs->rx_slab);
	free(vs);
}

void virtio_vsock_stats(struct virtio_vsock *vs, struct virtio_vsock_stats *out)
{
	platform_lock();
	*out = vs->stats;
	out->tx_free = vs->tx_free_count;
	out->tx_avail = vs->tx.avail_idx;
	out->tx_used = vq_used_idx(&vs->tx);
	out->tx_last_used = vs->tx.last_used_idx;
	out->tx_irq_on = vs->tx.interrupts_on;
	out->tx_broken = vs->tx.broken;
	platform_unlock();
}
