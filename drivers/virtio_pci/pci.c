/*
 * pci.c -- ECAM configuration access and enumeration (see pci.h).
 *
 * The walk starts at each MCFG window's first bus and follows type 1
 * bridges to their secondary buses, so only buses that exist are scanned.
 * BAR sizes are read with the standard all-ones probe while decoding is
 * off; the addresses are the ones the firmware assigned.  Every value read
 * from config space is bounds-checked before use (capability pointers,
 * bus numbers, BAR sizes).
 */
#include "drivers/virtio_pci/pci.h"

#include <errno.h>
#include <string.h>

#include "include/log.h"
#include "include/platform.h"

#define MAX_CAPS 48 /* a capability list longer than this is a loop */

static struct pci_device devices[PCI_MAX_DEVICES]; /* found functions */
static unsigned device_count;
static bool bus_seen[256]; /* loop guard per segment 0 */

static uintptr_t ecam_address(const struct acpi_ecam *w, unsigned bus, unsigned dev, unsigned fn)
{
	return (uintptr_t)(w->base +
	                   (((uint64_t)(bus - w->start_bus) << 20) | (dev << 15) | (fn << 12)));
}

uint8_t pci_read8(const struct pci_device *d, unsigned offset)
{
	return mmio_read8(d->config + (offset & 0xfff));
}

uint16_t pci_read16(const struct pci_device *d, unsigned offset)
{
	return mmio_read16(d->config + (offset & 0xffe));
}

uint32_t pci_read32(const struct pci_device *d, unsigned offset)
{
	return mmio_read32(d->config + (offset & 0xffc));
}

void pci_write16(const struct pci_device *d, unsigned offset, uint16_t v)
{
	mmio_write16(d->config + (offset & 0xffe), v);
}

void pci_write32(const struct pci_device *d, unsigned offset, uint32_t v)
{
	mmio_write32(d->config + (offset & 0xffc), v);
}

static void read_bars(struct pci_device *d)
{
	uint16_t command = pci_read16(d, PCI_COMMAND);

	pci_write16(d, PCI_COMMAND, command & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
	for (int i = 0; i < 6; i++) {
		unsigned reg = PCI_BAR0 + 4 * i;
		uint32_t orig = pci_read32(d, reg), probe;
		uint64_t base, mask;
		bool is64 = false;

		pci_write32(d, reg, 0xffffffffu);
		probe = pci_read32(d, reg);
		pci_write32(d, reg, orig);
		if (orig & 1) { /* I/O BAR */
			mask = probe & ~3u & 0xffff;
			d->bars[i] = (struct pci_bar){ orig & ~3u, mask ? (~mask & 0xffff) + 1 : 0,
				                       true };
			continue;
		}
		base = orig & ~0xfu;
		mask = probe & ~0xfu;
		is64 = ((orig >> 1) & 3) == 2 && i < 5;
		if (is64) {
			uint32_t orig_hi = pci_read32(d, reg + 4), probe_hi;

			pci_write32(d, reg + 4, 0xffffffffu);
			probe_hi = pci_read32(d, reg + 4);
			pci_write32(d, reg + 4, orig_hi);
			base |= (uint64_t)orig_hi << 32;
			mask |= (uint64_t)probe_hi << 32;
		} else {
			mask |= 0xffffffff00000000ull;
		}
		/* A BAR that reads back no writable address bits is absent. */
		d->bars[i] = (struct pci_bar){ base,
			                       (mask & ~0xfull) && (uint32_t)mask ? ~mask + 1 : 0,
			                       false };
		if (is64) {
			i++;
			d->bars[i] = (struct pci_bar){ 0, 0, false };
		}
	}
	pci_write16(d, PCI_COMMAND, command);
}

static void scan_bus(const struct acpi_ecam *w, unsigned bus);

static void scan_function(const struct acpi_ecam *w, unsigned bus, unsigned dev, unsigned fn)
{
	struct pci_device probe = { .segment = w->segment,
		                    .bus = bus,
		                    .dev = dev,
		                    .fn = fn,
		                    .config = ecam_address(w, bus, dev, fn) };
	uint8_t header = pci_read8(&probe, PCI_HEADER_TYPE) & 0x7f;
	uint32_t class_rev = pci_read32(&probe, PCI_REVISION);

	probe.vendor_id = pci_read16(&probe, PCI_VENDOR_ID);
	probe.device_id = pci_read16(&probe, PCI_DEVICE_ID);
	probe.revision = class_rev & 0xff;
	probe.prog_if = (class_rev >> 8) & 0xff;
	probe.subclass = (class_rev >> 16) & 0xff;
	probe.class_code = class_rev >> 24;

	if (header == 1) { /* PCI-to-PCI bridge: walk what is behind it */
		unsigned secondary = pci_read8(&probe, PCI_SECONDARY_BUS);

		if (secondary > bus && secondary <= w->end_bus)
			scan_bus(w, secondary);
		else
			log_printf("pci: bridge %02x:%02x.%u has bad secondary bus %u\n", bus, dev,
			           fn, secondary);
		return;
	}
	if (header != 0)
		return;
	if (device_count == PCI_MAX_DEVICES) {
		log_printf("pci: more than %d functions; %02x:%02x.%u ignored\n", PCI_MAX_DEVICES,
		           bus, dev, fn);
		return;
	}
	read_bars(&probe);
	devices[device_count++] = probe;
}

static void scan_bus(const struct acpi_ecam *w, unsigned bus)
{
	if (bus < w->start_bus || bus > w->end_bus || bus_seen[bus])
		return;
	bus_seen[bus] = true;
	for (unsigned dev = 0; dev < 32; dev++) {
		struct pci_device f0 = { .config = ecam_address(w, bus, dev, 0) };
		unsigned functions;

		if (pci_read16(&f0, PCI_VENDOR_ID) == 0xffff)
			continue;
		functions = (pci_read8(&f0, PCI_HEADER_TYPE) & 0x80) ? 8 : 1;
		for (unsigned fn = 0; fn < functions; fn++) {
			struct pci_device f = { .config = ecam_address(w, bus, dev, fn) };

			if (pci_read16(&f, PCI_VENDOR_ID) != 0xffff)
				scan_function(w, bus, dev, fn);
		}
	}
}

int pci_init(const struct acpi_ecam *windows, unsigned count)
{
	device_count = 0;
	memset(bus_seen, 0, sizeof(bus_seen));
	if (count == 0) {
		log_printf("pci: no ECAM window (ACPI MCFG missing)\n");
		return -ENODEV;
	}
	for (unsigned i = 0; i < count; i++) {
		if (windows[i].segment != 0) {
			log_printf("pci: segment %u ignored (only segment 0)\n",
			           windows[i].segment);
			continue;
		}
		scan_bus(&windows[i], windows[i].start_bus);
	}
	return 0;
}

unsigned pci_device_count(void)
{
	return device_count;
}

struct pci_device *pci_device_at(unsigned index)
{
	return index < device_count ? &devices[index] : NULL;
}

struct pci_device *pci_find(uint16_t vendor, uint16_t device, unsigned index)
{
	for (unsigned i = 0; i < device_count; i++)
		if (devices[i].vendor_id == vendor && devices[i].device_id == device &&
		    index-- == 0)
			return &devices[i];
	return NULL;
}

uint8_t pci_find_capability(const struct pci_device *d, uint8_t id, unsigned index)
{
	uint8_t offset;

	if (!(pci_read16(d, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return 0;
	offset = pci_read8(d, PCI_CAP_PTR) & 0xfc;
	for (int n = 0; n < MAX_CAPS && offset >= 0x40; n++) {
		if (pci_read8(d, offset) == id && index-- == 0)
			return offset;
		offset = pci_read8(d, offset + 1) & 0xfc;
	}
	return 0;
}

void pci_enable(const struct pci_device *d)
{
	uint16_t command = pci_read16(d, PCI_COMMAND);

	command |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE;
	pci_write16(d, PCI_COMMAND, command);
}

void pci_report(void)
{
	log_printf("pci: %u functions\n", device_count);
	for (unsigned i = 0; i < device_count; i++) {
		const struct pci_device *d = &devices[i];

		log_printf("  %02x:%02x.%u %04x:%04x class %02x%02x\n", d->bus, d->dev, d->fn,
		           d->vendor_id, d->device_id, d->class_code, d->subclass);
	}
}
