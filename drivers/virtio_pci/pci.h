/*
 * pci.h -- PCI configuration access through ECAM (PCIe base spec §7.2.2)
 * and enumeration of every function behind the ACPI MCFG windows,
 * following bridges.
 *
 * Typical usage:
 *	pci_init(ecam_windows, count);            // walks all buses once
 *	struct pci_device *d = pci_find(0x1af4, 0x1053, 0);
 *	uint8_t cap = pci_find_capability(d, PCI_CAP_MSIX, 0);
 */
#ifndef DRIVERS_VIRTIO_PCI_PCI_H
#define DRIVERS_VIRTIO_PCI_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "include/acpi_ecam.h"

#define PCI_MAX_DEVICES 64
#define PCI_CAP_MSIX    0x11
#define PCI_CAP_VENDOR  0x09

/* Configuration space registers (type 0 / type 1 headers). */
#define PCI_VENDOR_ID     0x00
#define PCI_DEVICE_ID     0x02
#define PCI_COMMAND       0x04
#define PCI_STATUS        0x06
#define PCI_REVISION      0x08
#define PCI_CLASS         0x09 /* prog-if, subclass, class: 3 bytes */
#define PCI_HEADER_TYPE   0x0e
#define PCI_BAR0          0x10
#define PCI_SECONDARY_BUS 0x19 /* type 1 */
#define PCI_CAP_PTR       0x34

#define PCI_COMMAND_IO           (1u << 0)
#define PCI_COMMAND_MEMORY       (1u << 1)
#define PCI_COMMAND_MASTER       (1u << 2)
#define PCI_COMMAND_INTX_DISABLE (1u << 10)
#define PCI_STATUS_CAP_LIST      (1u << 4)

struct pci_bar {
	uint64_t base; /* address as the firmware assigned it (0: none) */
	uint64_t size; /* decoded size in bytes */
	bool is_io;    /* I/O space rather than memory */
};

struct pci_device {
	uint16_t segment;     /* PCI segment group */
	uint8_t bus, dev, fn; /* location */
	uint16_t vendor_id, device_id;
	uint8_t class_code, subclass, prog_if, revision;
	uintptr_t config;       /* ECAM address of its 4 KiB config space */
	struct pci_bar bars[6]; /* type 0 only; a 64-bit BAR fills two slots */
};

int pci_init(const struct acpi_ecam *windows, unsigned count);
unsigned pci_device_count(void);
struct pci_device *pci_device_at(unsigned index);
struct pci_device *pci_find(uint16_t vendor, uint16_t device, unsigned index);

uint8_t pci_read8(const struct pci_device *d, unsigned offset);
uint16_t pci_read16(const struct pci_device *d, unsigned offset);
uint32_t pci_read32(const struct pci_device *d, unsigned offset);
void pci_write16(const struct pci_device *d, unsigned offset, uint16_t v);
void pci_write32(const struct pci_device *d, unsigned offset, uint32_t v);

/* Offset of the `index`-th capability with `id`, or 0. */
uint8_t pci_find_capability(const struct pci_device *d, uint8_t id, unsigned index);
void pci_enable(const struct pci_device *d); /* memory decode + bus master, INTx off */
void pci_report(void);

#endif
