/*
 * virtio_pci.h -- the virtio 1.x modern PCI transport (virtio 1.2 §4.1).
 */
#ifndef DRIVERS_VIRTIO_PCI_VIRTIO_PCI_H
#define DRIVERS_VIRTIO_PCI_VIRTIO_PCI_H

#include "drivers/virtio_pci/pci.h"
#include "drivers/virtio_pci/virtio.h"
#include "include/pool.h"

#define VIRTIO_PCI_VENDOR     0x1af4
#define VIRTIO_PCI_MAX_QUEUES 8

/* Map a PCI function as a virtio device: capabilities, BAR bounds, MSI-X.
 * Fills `dev`; -ENODEV (with the reason logged) if it is not usable. */
int virtio_pci_probe(struct pci_device *pci, struct dma_pool *pool, struct virtio_device *dev);
/* Undo virtio_pci_probe (MSI-X off, transport state freed), once the
 * driver has reset the device and released its queues and interrupts. */
void virtio_pci_remove(struct virtio_device *dev);

#endif
