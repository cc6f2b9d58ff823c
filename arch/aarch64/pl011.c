/*
 * pl011.c -- the aarch64 console: an Arm PL011 UART (PrimeCell UART TRM
 * §3.3), found through the ACPI SPCR table; QEMU virt puts it at
 * 0x09000000.  Polled transmit; the firmware already configured it.
 */
#include <stdint.h>

#include "include/arch.h"
#include "kernel/acpi.h"

#define PL011_DR          0x00
#define PL011_FR          0x18
#define FR_TXFF           (1u << 5) /* transmit FIFO full */
#define SPCR_PL011        0x03
#define SPCR_SBSA_GENERIC 0x0e
#define SPCR_SBSA_32BIT   0x0d
#define QEMU_VIRT_PL011   0x09000000ull
#define TX_SPIN_LIMIT     100000

static uintptr_t pl011_base;

static void pl011_write(const char *bytes, size_t len)
{
	volatile uint32_t *dr = (volatile uint32_t *)(pl011_base + PL011_DR);
	volatile uint32_t *fr = (volatile uint32_t *)(pl011_base + PL011_FR);

	for (size_t i = 0; i < len; i++) {
		for (int spin = 0; spin < TX_SPIN_LIMIT && (*fr & FR_TXFF); spin++)
			;
		*dr = (uint8_t)bytes[i];
	}
}

static struct uart_ops pl011 = { "PL011", pl011_write };

const struct uart_ops *arch_early_uart(void)
{
	return NULL; /* the firmware console until SPCR is read */
}

const struct uart_ops *arch_acpi_uart(const struct acpi *acpi)
{
	struct acpi_spcr_info spcr;

	if (acpi_parse_spcr(acpi, &spcr) == 0 &&
	    (spcr.interface_type == SPCR_PL011 || spcr.interface_type == SPCR_SBSA_GENERIC ||
	     spcr.interface_type == SPCR_SBSA_32BIT) &&
	    spcr.base.space_id == ACPI_SPACE_MEMORY && spcr.base.address) {
		pl011_base = spcr.base.address;
		pl011.name = "PL011 (from SPCR)";
	} else {
		pl011_base = QEMU_VIRT_PL011;
		pl011.name = "PL011 (QEMU virt default, no usable SPCR)";
	}
	return &pl011;
}
