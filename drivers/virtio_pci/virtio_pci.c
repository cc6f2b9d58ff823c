/*
 * virtio_pci.c -- virtio 1.x modern PCI transport (virtio 1.2 §4.1.4) with
 * MSI-X (PCI local bus 3.0 §6.8.2): one vector for configuration changes
 * and one per queue, delivered through the image's own interrupt vectors.
 *
 * QEMU: -device vhost-user-vsock-pci,chardev=... (or vhost-vsock-pci):
 * modern-only virtio, vendor 0x1af4, device 0x1053, capabilities in BAR4.
 *
 * Every capability is bounds-checked against the BAR it points into
 * before any register in it is touched.
 */
#include "drivers/virtio_pci/virtio_pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "include/log.h"
#include "include/platform.h"

/* virtio PCI capability types (§4.1.4) */
#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR    3
#define CAP_DEVICE 4

/* struct virtio_pci_cap field offsets within the capability */
#define CAP_CFG_TYPE          3
#define CAP_BAR               4
#define CAP_OFFSET            8
#define CAP_LENGTH            12
#define CAP_NOTIFY_MULTIPLIER 16

/* common configuration structure (§4.1.4.3) */
struct virtio_pci_common_cfg {
	uint32_t device_feature_select;
	uint32_t device_feature;
	uint32_t driver_feature_select;
	uint32_t driver_feature;
	uint16_t config_msix_vector;
	uint16_t num_queues;
	uint8_t device_status;
	uint8_t config_generation;
	uint16_t queue_select;
	uint16_t queue_size;
	uint16_t queue_msix_vector;
	uint16_t queue_enable;
	uint16_t queue_notify_off;
	uint64_t queue_desc;
	uint64_t queue_driver;
	uint64_t queue_device;
} __attribute__((packed));
#define COMMON(field) __builtin_offsetof(struct virtio_pci_common_cfg, field)
_Static_assert(COMMON(config_msix_vector) == 0x10, "common cfg");
_Static_assert(COMMON(device_status) == 0x14, "common cfg");
_Static_assert(COMMON(queue_select) == 0x16, "common cfg");
_Static_assert(COMMON(queue_notify_off) == 0x1e, "common cfg");
_Static_assert(COMMON(queue_desc) == 0x20, "common cfg");
_Static_assert(COMMON(queue_device) == 0x30, "common cfg");
_Static_assert(sizeof(struct virtio_pci_common_cfg) == 0x38, "common cfg");

#define VIRTIO_MSI_NO_VECTOR 0xffff

/* MSI-X capability and table (PCI 3.0 §6.8.2) */
#define MSIX_CONTROL              2
#define MSIX_TABLE                4
#define MSIX_CONTROL_ENABLE       (1u << 15)
#define MSIX_CONTROL_MASK_ALL     (1u << 14)
#define MSIX_ENTRY_SIZE           16
#define MSIX_ENTRY_VECTOR_CONTROL 12
#define MSIX_VECTOR_MASKED        1u

#define MSIX_SHARERS 2 /* handlers one table entry can serve */

/* One MSI-X table entry and the handlers its CPU vector calls. */
struct msix_slot {
	int vector;                            /* CPU vector (while count > 0) */
	irq_handler_fn handlers[MSIX_SHARERS]; /* called in this order */
	void *args[MSIX_SHARERS];              /* their arguments */
	unsigned count;                        /* handlers registered; 0: entry free */
};

struct virtio_pci {
	struct pci_device *pci;                   /* the function */
	struct dma_pool *pool;                    /* where rings come from */
	uintptr_t common;                         /* common configuration registers */
	uintptr_t notify;                         /* notification area base */
	uint32_t notify_multiplier;               /* bytes per queue_notify_off unit */
	uint32_t notify_len;                      /* size of the notification area */
	uintptr_t isr;                            /* ISR status (unused with MSI-X) */
	uintptr_t device;                         /* device-specific configuration */
	uint32_t device_len;                      /* its size */
	uintptr_t msix_table;                     /* MSI-X table in its BAR */
	uint16_t msix_entries;                    /* table size */
	struct msix_slot *slots;                  /* one per table entry */
	uint8_t msix_cap;                         /* capability offset */
	int config_entry;                         /* MSI-X entry for config changes (-1 none) */
	int config_vector;                        /* its CPU vector (-1 none) */
	irq_handler_fn config_handler;            /* what config changes call ... */
	void *config_arg;                         /* ... with this */
	int queue_entries[VIRTIO_PCI_MAX_QUEUES]; /* MSI-X entry per queue (-1 none) */
	int queue_vectors[VIRTIO_PCI_MAX_QUEUES]; /* CPU vector per queue (-1 none) */
	irq_handler_fn queue_handlers[VIRTIO_PCI_MAX_QUEUES]; /* per queue ... */
	void *queue_args[VIRTIO_PCI_MAX_QUEUES];              /* ... and its argument */
	uintptr_t queue_notify[VIRTIO_PCI_MAX_QUEUES];        /* doorbell per queue */
};

static struct virtio_pci *tp(struct virtio_device *dev)
{
	return dev->transport;
}

/* Where a capability's window lives, if it fits inside its memory BAR. */
static int map_cap(struct virtio_pci *vp, uint8_t cap, uint32_t min_len, uintptr_t *out,
                   uint32_t *len_out)
{
	const struct pci_device *pci = vp->pci;
	uint8_t bar = pci_read8(pci, cap + CAP_BAR);
	uint32_t offset = pci_read32(pci, cap + CAP_OFFSET);
	uint32_t len = pci_read32(pci, cap + CAP_LENGTH);

	if (bar >= 6 || pci->bars[bar].is_io || !pci->bars[bar].base || len < min_len ||
	    offset > pci->bars[bar].size || len > pci->bars[bar].size - offset) {
		log_printf("virtio-pci: capability at %#x (type %u) lies outside "
		           "BAR%u (offset %#x length %#x)\n",
		           cap, pci_read8(pci, cap + CAP_CFG_TYPE), bar, offset, len);
		return -ENODEV;
	}
	*out = (uintptr_t)(pci->bars[bar].base + offset);
	if (len_out)
		*len_out = len;
	return 0;
}

static int find_caps(struct virtio_pci *vp)
{
	bool have[5] = { false };

	for (unsigned i = 0;; i++) {
		uint8_t cap = pci_find_capability(vp->pci, PCI_CAP_VENDOR, i);
		uint8_t type;
		int err = 0;

		if (!cap)
			break;
		type = pci_read8(vp->pci, cap + CAP_CFG_TYPE);
		if (type > CAP_DEVICE || type == 0 || have[type])
			continue; /* first of each type wins (§4.1.4) */
		switch (type) {
		case CAP_COMMON:
			err = map_cap(vp, cap, sizeof(struct virtio_pci_common_cfg), &vp->common,
			              NULL);
			break;
		case CAP_NOTIFY:
			err = map_cap(vp, cap, 2, &vp->notify, &vp->notify_len);
			vp->notify_multiplier = pci_read32(vp->pci, cap + CAP_NOTIFY_MULTIPLIER);
			break;
		case CAP_ISR:
			err = map_cap(vp, cap, 1, &vp->isr, NULL);
			break;
		case CAP_DEVICE:
			err = map_cap(vp, cap, 1, &vp->device, &vp->device_len);
			break;
		}
		if (err)
			return err;
		have[type] = true;
	}
	if (!have[CAP_COMMON] || !have[CAP_NOTIFY] || !have[CAP_DEVICE]) {
		log_printf("virtio-pci: %02x:%02x.%u lacks modern capabilities "
		           "(common %d notify %d device %d)\n",
		           vp->pci->bus, vp->pci->dev, vp->pci->fn, have[CAP_COMMON],
		           have[CAP_NOTIFY], have[CAP_DEVICE]);
		return -ENODEV;
	}
	return 0;
}

static int find_msix(struct virtio_pci *vp)
{
	const struct pci_device *pci = vp->pci;
	uint8_t cap = pci_find_capability(pci, PCI_CAP_MSIX, 0);
	uint16_t control;
	uint32_t table, offset;
	uint8_t bar;

	if (!cap) {
		log_printf("virtio-pci: no MSI-X capability; this driver needs it\n");
		return -ENODEV;
	}
	control = pci_read16(pci, cap + MSIX_CONTROL);
	table = pci_read32(pci, cap + MSIX_TABLE);
	bar = table & 7;
	offset = table & ~7u;
	vp->msix_entries = (control & 0x7ff) + 1;
	if (bar >= 6 || pci->bars[bar].is_io || !pci->bars[bar].base ||
	    offset > pci->bars[bar].size ||
	    (uint64_t)vp->msix_entries * MSIX_ENTRY_SIZE > pci->bars[bar].size - offset) {
		log_printf("virtio-pci: MSI-X table outside BAR%u\n", bar);
		return -ENODEV;
	}
	vp->slots = calloc(vp->msix_entries, sizeof(*vp->slots));
	if (!vp->slots)
		return -ENOMEM;
	for (uint16_t i = 0; i < vp->msix_entries; i++)
		vp->slots[i].vector = -1;
	vp->msix_cap = cap;
	vp->msix_table = (uintptr_t)(pci->bars[bar].base + offset);
	/* Mask every entry, then enable MSI-X (INTx is off from pci_enable). */
	for (uint16_t i = 0; i < vp->msix_entries; i++)
		mmio_write32(vp->msix_table + i * MSIX_ENTRY_SIZE + MSIX_ENTRY_VECTOR_CONTROL,
		             MSIX_VECTOR_MASKED);
	pci_write16(pci, cap + MSIX_CONTROL,
	            (control | MSIX_CONTROL_ENABLE) & ~MSIX_CONTROL_MASK_ALL);
	return 0;
}

static void msix_dispatch(void *arg)
{
	struct msix_slot *slot = arg;

	for (unsigned i = 0; i < slot->count; i++)
		slot->handlers[i](slot->args[i]);
}

static uintptr_t msix_entry(struct virtio_pci *vp, int index)
{
	return vp->msix_table + (uintptr_t)index * MSIX_ENTRY_SIZE;
}

/*
 * Route `handler` through an MSI-X table entry; returns the entry.  Each
 * user gets an entry of its own (the lowest free one) while they last
 * (QEMU's vhost-user-vsock has 3 for 3 queues + config); after that the
 * last entry is shared, its CPU vector calling every handler on it.
 */
static int msix_route(struct virtio_pci *vp, irq_handler_fn handler, void *arg, const char *name,
                      int *vector_out)
{
	struct msix_slot *slot;
	uint64_t address;
	uint32_t data;
	int index, vector;

	for (index = 0; index < vp->msix_entries; index++)
		if (vp->slots[index].count == 0)
			break;
	if (index < vp->msix_entries) {
		slot = &vp->slots[index];
		vector = arch_irq_alloc(msix_dispatch, slot, name);
		if (vector < 0)
			return vector;
		slot->vector = vector;
		arch_msi_message(vector, &address, &data);
		mmio_write32(msix_entry(vp, index) + 0, (uint32_t)address);
		mmio_write32(msix_entry(vp, index) + 4, (uint32_t)(address >> 32));
		mmio_write32(msix_entry(vp, index) + 8, data);
		mmio_write32(msix_entry(vp, index) + MSIX_ENTRY_VECTOR_CONTROL, 0); /* unmask */
	} else {
		index = vp->msix_entries - 1;
		slot = &vp->slots[index];
		if (slot->count == MSIX_SHARERS) {
			log_printf("virtio-pci: out of MSI-X entries (%u)\n", vp->msix_entries);
			return -ENOSPC;
		}
	}
	slot->handlers[slot->count] = handler;
	slot->args[slot->count] = arg;
	slot->count++;
	*vector_out = slot->vector;
	return index;
}

/* Undo msix_route: the entry is masked and its vector freed with its
 * last handler. */
static void msix_unroute(struct virtio_pci *vp, int index, irq_handler_fn handler, void *arg)
{
	struct msix_slot *slot = &vp->slots[index];

	for (unsigned i = 0; i < slot->count; i++) {
		if (slot->handlers[i] != handler || slot->args[i] != arg)
			continue;
		for (unsigned j = i + 1; j < slot->count; j++) {
			slot->handlers[j - 1] = slot->handlers[j];
			slot->args[j - 1] = slot->args[j];
		}
		slot->count--;
		break;
	}
	if (slot->count == 0 && slot->vector >= 0) {
		mmio_write32(msix_entry(vp, index) + MSIX_ENTRY_VECTOR_CONTROL, MSIX_VECTOR_MASKED);
		arch_irq_free(slot->vector);
		slot->vector = -1;
	}
}

/* ---- struct virtio_ops ---- */

static void vp_reset(struct virtio_device *dev)
{
	struct virtio_pci *vp = tp(dev);

	mmio_write8(vp->common + COMMON(device_status), 0);
	/* §4.1.4.3.2: reset is complete when the status reads back 0 */
	for (int i = 0; i < 1000000; i++)
		if (mmio_read8(vp->common + COMMON(device_status)) == 0)
			return;
	log_printf("%s: device did not complete reset\n", dev->name);
}

static uint8_t vp_get_status(struct virtio_device *dev)
{
	return mmio_read8(tp(dev)->common + COMMON(device_status));
}

static void vp_set_status(struct virtio_device *dev, uint8_t status)
{
	mmio_write8(tp(dev)->common + COMMON(device_status), status);
}

static uint64_t vp_get_features(struct virtio_device *dev)
{
	uintptr_t c = tp(dev)->common;
	uint64_t features;

	mmio_write32(c + COMMON(device_feature_select), 0);
	features = mmio_read32(c + COMMON(device_feature));
	mmio_write32(c + COMMON(device_feature_select), 1);
	features |= (uint64_t)mmio_read32(c + COMMON(device_feature)) << 32;
	return features;
}

static void vp_set_features(struct virtio_device *dev, uint64_t features)
{
	uintptr_t c = tp(dev)->common;

	mmio_write32(c + COMMON(driver_feature_select), 0);
	mmio_write32(c + COMMON(driver_feature), (uint32_t)features);
	mmio_write32(c + COMMON(driver_feature_select), 1);
	mmio_write32(c + COMMON(driver_feature), (uint32_t)(features >> 32));
}

static int vp_read_config(struct virtio_device *dev, unsigned offset, void *buf, unsigned len)
{
	struct virtio_pci *vp = tp(dev);
	uint8_t before, after;

	if (offset > vp->device_len || len > vp->device_len - offset)
		return -EINVAL;
	/* §4.1.4.3.1: retry until the generation is stable across the read */
	for (int tries = 0; tries < 100; tries++) {
		before = mmio_read8(vp->common + COMMON(config_generation));
		for (unsigned i = 0; i < len; i++)
			((uint8_t *)buf)[i] = mmio_read8(vp->device + offset + i);
		after = mmio_read8(vp->common + COMMON(config_generation));
		if (before == after)
			return 0;
	}
	return -EIO;
}

static uint16_t vp_queue_max_size(struct virtio_device *dev, uint16_t index)
{
	uintptr_t c = tp(dev)->common;

	if (index >= mmio_read16(c + COMMON(num_queues)))
		return 0;
	mmio_write16(c + COMMON(queue_select), index);
	return mmio_read16(c + COMMON(queue_size));
}

static void vp_notify(void *ctx, uint16_t index)
{
	struct virtio_pci *vp = ctx;

	if (index < VIRTIO_PCI_MAX_QUEUES && vp->queue_notify[index])
		mmio_write16(vp->queue_notify[index], index);
}

static int vp_queue_setup(struct virtio_device *dev, struct virtqueue *vq, uint16_t index,
                          uint16_t size, irq_handler_fn handler, void *arg)
{
	struct virtio_pci *vp = tp(dev);
	uintptr_t c = vp->common;
	uint16_t max = vp_queue_max_size(dev, index), notify_off;
	uint64_t doorbell;
	int entry, err;

	if (index >= VIRTIO_PCI_MAX_QUEUES || max == 0) {
		log_printf("%s: queue %u does not exist\n", dev->name, index);
		return -ENODEV;
	}
	if (size > max)
		size = max;
	mmio_write16(c + COMMON(queue_select), index);
	notify_off = mmio_read16(c + COMMON(queue_notify_off));
	doorbell = (uint64_t)notify_off * vp->notify_multiplier;
	if (doorbell + 2 > vp->notify_len) {
		log_printf("%s: queue %u doorbell outside the notify area\n", dev->name, index);
		return -ENODEV;
	}
	err = vq_init(vq, vp->pool, index, size, vp_notify, vp);
	if (err)
		return err;
	vq_use_event_idx(vq, dev->features & (1ull << VIRTIO_F_EVENT_IDX));
	entry = msix_route(vp, handler, arg, dev->name, &vp->queue_vectors[index]);
	if (entry < 0) {
		err = entry;
		goto err_destroy;
	}
	vp->queue_entries[index] = entry;
	vp->queue_handlers[index] = handler;
	vp->queue_args[index] = arg;
	mmio_write16(c + COMMON(queue_select), index);
	mmio_write16(c + COMMON(queue_size), size);
	mmio_write16(c + COMMON(queue_msix_vector), (uint16_t)entry);
	if (mmio_read16(c + COMMON(queue_msix_vector)) != entry) {
		log_printf("%s: device refused MSI-X entry %d for queue %u\n", dev->name, entry,
		           index);
		err = -EIO;
		goto err_unroute;
	}
	mmio_write32(c + COMMON(queue_desc), (uint32_t)vq->desc_dma.addr);
	mmio_write32(c + COMMON(queue_desc) + 4, (uint32_t)(vq->desc_dma.addr >> 32));
	mmio_write32(c + COMMON(queue_driver), (uint32_t)vq->avail_dma.addr);
	mmio_write32(c + COMMON(queue_driver) + 4, (uint32_t)(vq->avail_dma.addr >> 32));
	mmio_write32(c + COMMON(queue_device), (uint32_t)vq->used_dma.addr);
	mmio_write32(c + COMMON(queue_device) + 4, (uint32_t)(vq->used_dma.addr >> 32));
	vp->queue_notify[index] = vp->notify + doorbell;
	mmio_write16(c + COMMON(queue_enable), 1);
	return 0;

err_unroute:
	msix_unroute(vp, entry, handler, arg);
	vp->queue_entries[index] = vp->queue_vectors[index] = -1;
err_destroy:
	vq_destroy(vq, vp->pool);
	return err;
}

/* The device has been reset: it no longer reads the rings or raises the
 * queue's interrupt. */
static void vp_queue_release(struct virtio_device *dev, struct virtqueue *vq)
{
	struct virtio_pci *vp = tp(dev);
	uint16_t index = vq->index;

	if (index < VIRTIO_PCI_MAX_QUEUES && vp->queue_entries[index] >= 0) {
		msix_unroute(vp, vp->queue_entries[index], vp->queue_handlers[index],
		             vp->queue_args[index]);
		vp->queue_entries[index] = vp->queue_vectors[index] = -1;
		vp->queue_notify[index] = 0;
	}
	vq_destroy(vq, vp->pool);
}

static int vp_config_irq(struct virtio_device *dev, irq_handler_fn handler, void *arg)
{
	struct virtio_pci *vp = tp(dev);
	int entry = msix_route(vp, handler, arg, dev->name, &vp->config_vector);

	if (entry < 0)
		return entry;
	mmio_write16(vp->common + COMMON(config_msix_vector), (uint16_t)entry);
	if (mmio_read16(vp->common + COMMON(config_msix_vector)) != entry) {
		log_printf("%s: device refused MSI-X entry %d for config\n", dev->name, entry);
		msix_unroute(vp, entry, handler, arg);
		vp->config_vector = -1;
		return -EIO;
	}
	vp->config_entry = entry;
	vp->config_handler = handler;
	vp->config_arg = arg;
	return 0;
}

static void vp_config_irq_release(struct virtio_device *dev)
{
	struct virtio_pci *vp = tp(dev);

	if (vp->config_entry < 0)
		return;
	msix_unroute(vp, vp->config_entry, vp->config_handler, vp->config_arg);
	vp->config_entry = vp->config_vector = -1;
}

static int vp_queue_vector(struct virtio_device *dev, uint16_t index)
{
	return index < VIRTIO_PCI_MAX_QUEUES ? tp(dev)->queue_vectors[index] : -1;
}

static int vp_config_vector(struct virtio_device *dev)
{
	return tp(dev)->config_vector;
}

static const struct virtio_ops virtio_pci_ops = {
	.reset = vp_reset,
	.get_status = vp_get_status,
	.set_status = vp_set_status,
	.get_features = vp_get_features,
	.set_features = vp_set_features,
	.read_config = vp_read_config,
	.queue_max_size = vp_queue_max_size,
	.queue_setup = vp_queue_setup,
	.queue_release = vp_queue_release,
	.config_irq = vp_config_irq,
	.config_irq_release = vp_config_irq_release,
	.queue_vector = vp_queue_vector,
	.config_vector = vp_config_vector,
};

int virtio_pci_probe(struct pci_device *pci, struct dma_pool *pool, struct virtio_device *dev)
{
	struct virtio_pci *vp = calloc(1, sizeof(*vp));
	int err;

	if (!vp)
		return -ENOMEM;
	vp->pci = pci;
	vp->pool = pool;
	vp->config_entry = vp->config_vector = -1;
	for (int i = 0; i < VIRTIO_PCI_MAX_QUEUES; i++)
		vp->queue_entries[i] = vp->queue_vectors[i] = -1;
	pci_enable(pci);
	err = find_caps(vp);
	if (err)
		goto err_free;
	err = find_msix(vp);
	if (err)
		goto err_free;
	dev->ops = &virtio_pci_ops;
	dev->transport = vp;
	return 0;

err_free:
	free(vp->slots);
	free(vp);
	return err;
}

void virtio_pci_remove(struct virtio_device *dev)
{
	struct virtio_pci *vp = tp(dev);
	uint16_t control = pci_read16(vp->pci, vp->msix_cap + MSIX_CONTROL);

	/* Whatever the driver left routed goes too. */
	for (uint16_t i = 0; i < vp->msix_entries; i++) {
		if (vp->slots[i].vector < 0)
			continue;
		log_printf("%s: MSI-X entry %u still routed at remove\n", dev->name, i);
		mmio_write32(msix_entry(vp, i) + MSIX_ENTRY_VECTOR_CONTROL, MSIX_VECTOR_MASKED);
		arch_irq_free(vp->slots[i].vector);
	}
	pci_write16(vp->pci, vp->msix_cap + MSIX_CONTROL, control & ~MSIX_CONTROL_ENABLE);
	free(vp->slots);
	free(vp);
	dev->ops = NULL;
	dev->transport = NULL;
}
