/*
 * virtio.c -- the transport-independent part of bringing up a virtio
 * device (virtio 1.2 §3.1.1 "Driver Requirements: Device Initialization"):
 * status handshake and feature negotiation, through whatever struct
 * virtio_ops the transport filled (virtio_pci.c today).  See virtio.h.
 */
#include "drivers/virtio_pci/virtio.h"

#include <errno.h>

#include "include/log.h"

void virtio_begin(struct virtio_device *dev)
{
	dev->ops->reset(dev);                                                        /* step 1 */
	dev->ops->set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE);                        /* step 2 */
	dev->ops->set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER); /* step 3 */
}

int virtio_negotiate(struct virtio_device *dev, uint64_t wanted, uint64_t required)
{
	uint64_t offered = dev->ops->get_features(dev); /* step 4 */
	uint8_t status;

	if ((offered & required) != required) {
		log_printf("%s: device lacks required features %#llx (offers %#llx)\n", dev->name,
		           (unsigned long long)(required & ~offered), (unsigned long long)offered);
		return -ENODEV;
	}
	dev->features = offered & (wanted | required);
	dev->ops->set_features(dev, dev->features);
	status = dev->ops->get_status(dev);
	dev->ops->set_status(dev, status | VIRTIO_STATUS_FEATURES_OK);  /* step 5 */
	if (!(dev->ops->get_status(dev) & VIRTIO_STATUS_FEATURES_OK)) { /* step 6 */
		log_printf("%s: device rejected features %#llx\n", dev->name,
		           (unsigned long long)dev->features);
		return -ENODEV;
	}
	return 0;
}

void virtio_driver_ok(struct virtio_device *dev)
{
	dev->ops->set_status(dev, dev->ops->get_status(dev) | VIRTIO_STATUS_DRIVER_OK); /* step 8 */
}

void virtio_fail(struct virtio_device *dev, const char *why)
{
	log_printf("%s: %s; device marked FAILED and reset\n", dev->name, why);
	dev->ops->set_status(dev, dev->ops->get_status(dev) | VIRTIO_STATUS_FAILED);
	dev->ops->reset(dev);
}
