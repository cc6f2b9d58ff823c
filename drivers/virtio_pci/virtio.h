/*
 * virtio.h -- the transport-independent view of a virtio device
 * (virtio 1.2 §2, §3.1).  A transport (virtio_pci.c) fills a struct
 * virtio_ops; virtio.c does the initialization steps every transport
 * shares on top of it; device drivers (virtio_vsock.c) see only this
 * header and the virtqueue API, so a virtio-mmio transport could be added
 * without touching them.
 *
 * Typical usage (a device driver's probe and remove):
 *	virtio_begin(dev);                                  // reset, ACK, DRIVER
 *	if (virtio_negotiate(dev, wanted, required))        // FEATURES_OK;
 *		goto err_fail;                              //   dev->features
 *	dev->ops->read_config(dev, 0, &cid, sizeof(cid));
 *	if (dev->ops->queue_setup(dev, &vq, 0, 64, rx_irq, ctx))
 *		goto err_fail;
 *	virtio_driver_ok(dev);                              // the device runs
 *	return 0;
 * err_fail:
 *	virtio_fail(dev, "why");                            // FAILED, then reset
 *	return err;
 *
 *	dev->ops->reset(dev);                               // remove: stop it,
 *	dev->ops->queue_release(dev, &vq);                  //   then release
 */
#ifndef DRIVERS_VIRTIO_PCI_VIRTIO_H
#define DRIVERS_VIRTIO_PCI_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "drivers/virtio_pci/virtqueue.h"
#include "include/arch.h"

/* Device status bits (§2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER      2
#define VIRTIO_STATUS_DRIVER_OK   4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED      128

#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_EVENT_IDX 29

struct virtio_device;

struct virtio_ops {
	void (*reset)(struct virtio_device *dev);
	uint8_t (*get_status)(struct virtio_device *dev);
	void (*set_status)(struct virtio_device *dev, uint8_t status);
	uint64_t (*get_features)(struct virtio_device *dev);
	void (*set_features)(struct virtio_device *dev, uint64_t features);
	/* Device-specific config, read consistently (generation checked). */
	int (*read_config)(struct virtio_device *dev, unsigned offset, void *buf, unsigned len);
	/* Largest ring the device allows for a queue (0: no such queue). */
	uint16_t (*queue_max_size)(struct virtio_device *dev, uint16_t index);
	/* Allocate the rings, route the queue's interrupt to `handler`,
	 * tell the device, enable the queue.  On failure nothing is left
	 * allocated or routed. */
	int (*queue_setup)(struct virtio_device *dev, struct virtqueue *vq, uint16_t index,
	                   uint16_t size, irq_handler_fn handler, void *arg);
	/* Undo queue_setup: unroute the interrupt, free the rings.  Only
	 * once the device is reset (or never had DRIVER_OK). */
	void (*queue_release)(struct virtio_device *dev, struct virtqueue *vq);
	/* Route configuration-change interrupts to `handler`. */
	int (*config_irq)(struct virtio_device *dev, irq_handler_fn handler, void *arg);
	/* Undo config_irq. */
	void (*config_irq_release)(struct virtio_device *dev);
	/* Interrupt vector of a queue (or -1), for reports. */
	int (*queue_vector)(struct virtio_device *dev, uint16_t index);
	int (*config_vector)(struct virtio_device *dev);
};

struct virtio_device {
	const struct virtio_ops *ops; /* the transport's */
	void *transport;              /* its private state */
	const char *name;             /* for messages, e.g. "virtio-vsock 00:03.0" */
	uint64_t features;            /* negotiated */
};

void virtio_begin(struct virtio_device *dev);
int virtio_negotiate(struct virtio_device *dev, uint64_t wanted, uint64_t required);
void virtio_driver_ok(struct virtio_device *dev);
void virtio_fail(struct virtio_device *dev, const char *why);

#endif
