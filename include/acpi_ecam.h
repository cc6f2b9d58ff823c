/*
 * acpi_ecam.h -- where PCI configuration space lives: the ECAM windows the
 * firmware lists in ACPI MCFG (PCI Firmware spec 3.2 §4.1.2).  kernel/acpi.c
 * reads them, drivers/virtio_pci/pci.c walks the buses behind them.
 */
#ifndef INCLUDE_ACPI_ECAM_H
#define INCLUDE_ACPI_ECAM_H

#include <stdint.h>

/* One ECAM window from MCFG. */
struct acpi_ecam {
	uint64_t base;     /* physical address of bus start_bus, device 0 */
	uint16_t segment;  /* PCI segment group */
	uint8_t start_bus; /* first bus decoded */
	uint8_t end_bus;   /* last bus decoded */
};

#define ACPI_MAX_ECAM 8

#endif
