/*
 * virtio_vsock.c -- virtio-vsock device driver (virtio 1.2 §5.10).
 *
 * QEMU: -chardev socket,id=vc,path=SOCK -device vhost-user-vsock-pci,chardev=vc
 * (with -object memory-backend-memfd,...,share=on), or with a host kernel
 * module: -device vhost-vsock-pci,guest-cid=N.
 *
 * Queues: 0 rx (device -> driver packets), 1 tx, 2 event.  Each has its
 * own MSI-X vector; the handlers only note which queue fired and wake the
 * driver task, which does all the work with the platform lock held:
 * consume used rx buffers (each header + payload checked against what the
 * device wrote), hand packets to the vsock core, re-post the buffers at
 * once (the core copies what it keeps), reclaim tx buffers, and handle
 * TRANSPORT_RESET events.  With no core attached, every packet but an RST
 * is answered with an RST, so a host connecting to any port is refused.
 */
#include "drivers/virtio_vsock/virtio_vsock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/virtio_pci/virtio_pci.h"
#include "include/log.h"
#include "include/platform.h"
#include "kernel/sched.h"
#include "vsock/transport.h"
#include "vsock/wire.h"

#define QUEUE_RX 0
#define QUEUE_TX 1
#define QUEUE_EVENT 2

#define RX_BUFFERS 64
#define RX_PAYLOAD 4096    /* payload room of each rx buffer (as Linux posts) */
#define RX_STRIDE 4144     /* header + payload, rounded to 16 */
#define TX_BUFFERS 32
#define TX_PAYLOAD 32768   /* largest payload we send in one packet */
#define TX_STRIDE 32816    /* header + payload, rounded to 16 */
#define EVENT_BUFFERS 4
#define VSOCK_EVENT_TRANSPORT_RESET 0
#define CONFIG_GUEST_CID 0
#define TASK_STACK (32u << 10)

_Static_assert(RX_STRIDE >= sizeof(struct vsock_hdr) + RX_PAYLOAD, "rx stride");
_Static_assert(TX_STRIDE >= sizeof(struct vsock_hdr) + TX_PAYLOAD, "tx stride");

struct virtio_vsock_event {
	uint32_t id; /* le32 VIRTIO_VSOCK_EVENT_* */
} __attribute__((packed));

struct virtio_vsock {
	struct virtio_device vdev;   /* transport view */
	struct dma_pool *pool;       /* rings and buffers */
	struct virtqueue rx, tx, event;
	struct dma_region rx_slab;   /* RX_BUFFERS buffers of RX_STRIDE */
	struct dma_region tx_slab;   /* TX_BUFFERS buffers of TX_STRIDE */
	struct dma_region event_slab;/* EVENT_BUFFERS events */
	uint16_t tx_free[TX_BUFFERS];/* stack of free tx buffer indices */
	unsigned tx_free_count;      /* entries in tx_free */
	uint64_t guest_cid;          /* from config; re-read on reset */
	struct virtio_vsock_upper upper; /* where packets go (rx NULL: RST them) */
	struct vsock_transport_ops transport; /* what the core calls */
	struct task *task;           /* the driver task */
	struct wait_queue wake;      /* the task sleeps here */
	volatile bool kicked;        /* an interrupt arrived since last look */
	struct virtio_vsock_stats stats;
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

static int slab_alloc(struct virtio_vsock *vs, struct dma_region *slab, unsigned n,
		      size_t stride)
{
	size_t pages = (n * stride + POOL_PAGE_SIZE - 1) / POOL_PAGE_SIZE;

	return pool_alloc(vs->pool, pages, slab);
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
	struct vq_buffer b = { slab_dev(&vs->rx_slab, i, RX_STRIDE), RX_STRIDE,
			       VQ_DEVICE_WRITES };

	if (vq_add(&vs->rx, &b, 1, cookie_of(i)) == 0)
		vs->stats.rx_posted++;
}

static void event_post(struct virtio_vsock *vs, unsigned i)
{
	struct vq_buffer b = {
		dma_addr(vs->event_slab.dev.addr + i * sizeof(struct virtio_vsock_event)),
		sizeof(struct virtio_vsock_event), VQ_DEVICE_WRITES,
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
static int vv_send(void *ctx, const struct vsock_hdr *hdr, const void *payload,
		   size_t len)
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

/* No core yet: refuse everything with an RST (never answer an RST). */
static void reply_rst(struct virtio_vsock *vs, const struct vsock_hdr *in)
{
	struct vsock_hdr rst;

	if (in->op == VSOCK_OP_RST)
		return;
	memset(&rst, 0, sizeof(rst));
	rst.src_cid = in->dst_cid;
	rst.dst_cid = in->src_cid;
	rst.src_port = in->dst_port;
	rst.dst_port = in->src_port;
	rst.type = in->type;
	rst.op = VSOCK_OP_RST;
	if (vv_send(vs, &rst, NULL, 0) == 0)
		vs->stats.rst_replies++;
}

/* ---- work done by the driver task, lock held ---- */

static bool process_rx(struct virtio_vsock *vs)
{
	bool any = false;
	uint32_t len;
	void *cookie;

	while ((cookie = vq_next_used(&vs->rx, &len))) {
		unsigned i = index_of(cookie);
		const struct vsock_hdr *hdr = (const void *)slab_cpu(&vs->rx_slab, i, RX_STRIDE);

		any = true;
		vs->stats.rx_posted--;
		if (i >= RX_BUFFERS) {
			log_printf("vsock: rx cookie %u out of range\n", i);
			continue;
		}
		if (len < sizeof(*hdr) || hdr->len > len - sizeof(*hdr)) {
			if (vs->stats.rx_bad++ < 8)
				log_printf("vsock: dropped malformed packet: %u bytes "
					   "written, header says %u payload bytes\n",
					   len, len >= sizeof(*hdr) ? hdr->len : 0);
		} else {
			vs->stats.rx_packets++;
			if (vs->upper.rx)
				vs->upper.rx(vs->upper.ctx, hdr, hdr + 1, hdr->len);
			else
				reply_rst(vs, hdr);
		}
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
		if (vs->upper.tx_ready)
			vs->upper.tx_ready(vs->upper.ctx);
	}
	return any;
}

static void read_cid(struct virtio_vsock *vs)
{
	uint64_t cid = 0;

	if (vs->vdev.ops->read_config(&vs->vdev, CONFIG_GUEST_CID, &cid, sizeof(cid)))
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
		const struct virtio_vsock_event *ev =
			(const void *)((uint8_t *)vs->event_slab.cpu + i * sizeof(*ev));

		any = true;
		if (i >= EVENT_BUFFERS)
			continue;
		if (len >= sizeof(*ev) && ev->id == VSOCK_EVENT_TRANSPORT_RESET) {
			vs->stats.transport_resets++;
			read_cid(vs);
			log_printf("vsock: transport reset; guest CID now %llu\n",
				   (unsigned long long)vs->guest_cid);
			if (vs->upper.transport_reset)
				vs->upper.transport_reset(vs->upper.ctx);
		} else {
			log_printf("vsock: unknown event %u\n", len >= sizeof(*ev) ? ev->id : 0);
		}
		event_post(vs, i);
	}
	vq_kick(&vs->event);
	return any;
}

static void driver_task(void *arg)
{
	struct virtio_vsock *vs = arg;
	uint64_t deadline = PLATFORM_FOREVER;

	platform_lock();
	for (;;) {
		bool worked;

		vs->kicked = false;
		worked = process_rx(vs);
		worked |= process_tx(vs);
		worked |= process_events(vs);
		if (vs->upper.tick && (worked || platform_now_ns() >= deadline))
			deadline = vs->upper.tick(vs->upper.ctx, platform_now_ns());
		if (worked || vs->kicked)
			continue;
		platform_wait(&vs->wake, deadline);
	}
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

static struct pci_device *find_device(void)
{
	struct pci_device *d = pci_find(VIRTIO_PCI_VENDOR, VIRTIO_VSOCK_DEVICE_MODERN, 0);

	return d ? d : pci_find(VIRTIO_PCI_VENDOR, VIRTIO_VSOCK_DEVICE_TRANSITIONAL, 0);
}

static int setup_queues(struct virtio_vsock *vs)
{
	struct virtio_device *dev = &vs->vdev;
	int err;

	err = dev->ops->queue_setup(dev, &vs->rx, QUEUE_RX, 128, rx_irq, vs);
	if (err)
		return err;
	err = dev->ops->queue_setup(dev, &vs->tx, QUEUE_TX, 128, tx_irq, vs);
	if (err)
		return err;
	err = dev->ops->queue_setup(dev, &vs->event, QUEUE_EVENT, 8, event_irq, vs);
	if (err)
		return err;
	return dev->ops->config_irq(dev, config_irq, vs);
}

static int setup_buffers(struct virtio_vsock *vs)
{
	int err;

	err = slab_alloc(vs, &vs->rx_slab, RX_BUFFERS, RX_STRIDE);
	if (!err)
		err = slab_alloc(vs, &vs->tx_slab, TX_BUFFERS, TX_STRIDE);
	if (!err)
		err = slab_alloc(vs, &vs->event_slab, EVENT_BUFFERS,
				 sizeof(struct virtio_vsock_event));
	if (err)
		return err;
	for (unsigned i = 0; i < TX_BUFFERS; i++)
		vs->tx_free[vs->tx_free_count++] = (uint16_t)(TX_BUFFERS - 1 - i);
	return 0;
}

int virtio_vsock_probe(struct dma_pool *pool, struct virtio_vsock **out)
{
	struct pci_device *pci = find_device();
	struct virtio_vsock *vs;
	static char name[40];
	int err;

	*out = NULL;
	if (!pci) {
		log_printf("vsock: no virtio-vsock device (PCI %04x:%04x or %04x:%04x); "
			   "start QEMU with -device vhost-user-vsock-pci or "
			   "vhost-vsock-pci\n", VIRTIO_PCI_VENDOR,
			   VIRTIO_VSOCK_DEVICE_MODERN, VIRTIO_PCI_VENDOR,
			   VIRTIO_VSOCK_DEVICE_TRANSITIONAL);
		return -ENODEV;
	}
	vs = calloc(1, sizeof(*vs));
	if (!vs)
		return -ENOMEM;
	vs->pool = pool;
	snprintf(name, sizeof(name), "virtio-vsock %02x:%02x.%u", pci->bus, pci->dev,
		 pci->fn);
	vs->vdev.name = name;
	err = virtio_pci_probe(pci, pool, &vs->vdev);
	if (err) {
		log_printf("vsock: %s is not a usable virtio 1.x PCI device\n", name);
		free(vs);
		return -ENODEV;
	}

	virtio_begin(&vs->vdev);                                   /* steps 1-3 */
	err = virtio_negotiate(&vs->vdev,                          /* steps 4-6 */
			       (1ull << VSOCK_F_STREAM) | (1ull << VIRTIO_F_EVENT_IDX),
			       1ull << VSOCK_F_VERSION_1);
	if (err) {
		virtio_fail(&vs->vdev, "feature negotiation failed");
		return -ENODEV;
	}
	vs->stats.negotiated = vs->vdev.features;
	read_cid(vs);                                              /* step 7: config */
	if (!vs->guest_cid) {
		virtio_fail(&vs->vdev, "no valid guest CID");
		return -ENODEV;
	}
	err = setup_buffers(vs);
	if (!err)
		err = setup_queues(vs);                            /* step 7: queues */
	if (err) {
		virtio_fail(&vs->vdev, "queue setup failed");
		return -ENODEV;
	}

	vs->transport = (struct vsock_transport_ops){
		.local_cid = vv_local_cid,
		.send = vv_send,
		.max_payload = TX_PAYLOAD,
		.features = vs->vdev.features,
	};
	platform_lock();
	vq_disable_interrupts(&vs->tx); /* see vv_send */
	for (unsigned i = 0; i < RX_BUFFERS; i++)
		rx_post(vs, i);
	for (unsigned i = 0; i < EVENT_BUFFERS; i++)
		event_post(vs, i);
	platform_unlock();
	vs->task = task_create("virtio-vsock", driver_task, vs, TASK_STACK);
	if (!vs->task) {
		virtio_fail(&vs->vdev, "cannot start the driver task");
		return -ENOMEM;
	}
	virtio_driver_ok(&vs->vdev);                               /* step 8 */
	platform_lock();
	vq_kick(&vs->rx);
	vq_kick(&vs->event);
	platform_unlock();

	log_printf("vsock: %s up: guest CID %llu, features %#llx, MSI-X vectors "
		   "rx %d tx %d event %d config %d, %u rx buffers\n", name,
		   (unsigned long long)vs->guest_cid,
		   (unsigned long long)vs->vdev.features,
		   vs->vdev.ops->queue_vector(&vs->vdev, QUEUE_RX),
		   vs->vdev.ops->queue_vector(&vs->vdev, QUEUE_TX),
		   vs->vdev.ops->queue_vector(&vs->vdev, QUEUE_EVENT),
		   vs->vdev.ops->config_vector(&vs->vdev), vs->stats.rx_posted);
	*out = vs;
	return 0;
}

const struct vsock_transport_ops *virtio_vsock_transport(struct virtio_vsock *vs)
{
	return &vs->transport;
}

void virtio_vsock_attach(struct virtio_vsock *vs, const struct virtio_vsock_upper *upper)
{
	platform_lock();
	vs->upper = *upper;
	vs->kicked = true;
	platform_wake(&vs->wake);
	platform_unlock();
}

void virtio_vsock_stats(struct virtio_vsock *vs, struct virtio_vsock_stats *out)
{
	platform_lock();
	*out = vs->stats;
	out->tx_free = vs->tx_free_count;
	platform_unlock();
}
