/*
 * fuzz_acpi.c -- libFuzzer target: ACPI discovery and table parsing
 * (kernel/acpi.c) on firmware-supplied memory.
 *
 * The input is a fake physical address space.  Checksums would stop a
 * fuzzer at the first byte, so the harness lays out what firmware would:
 * an RSDP at the base pointing at an XSDT whose entries point into the
 * input, and fixes the checksum of each table header it finds there; every
 * other byte, including each table's length, is the fuzzer's.  The first
 * input byte picks the layout (RSDP revision, XSDT entry count) so that
 * raw, unfixed memory is explored too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/acpi.h"
#include "tests/fuzz/fuzz.h"

#define PHYS_BASE 0x100000u
#define PHYS_SIZE 0x10000u
#define XSDT_AT   64u  /* offset of the XSDT from PHYS_BASE */
#define TABLES_AT 256u /* first byte the fuzzer controls freely */

static uint8_t phys[PHYS_SIZE];

static const void *fake_map(uint64_t addr, size_t len)
{
	if (addr < PHYS_BASE || addr - PHYS_BASE > PHYS_SIZE ||
	    len > PHYS_SIZE - (addr - PHYS_BASE))
		return NULL;
	return phys + (addr - PHYS_BASE);
}

static void checksum(uint8_t *p, size_t len, size_t at)
{
	uint8_t sum = 0;

	p[at] = 0;
	for (size_t i = 0; i < len; i++)
		sum += p[i];
	p[at] = (uint8_t)-sum;
}

/* Fix the checksum of a table header at `off` if its length fits; a FADT's
 * DSDT (field DSDT at 40, X_DSDT at 140) gets the same treatment. */
static void fix_table(uint64_t off, int depth)
{
	uint32_t len;

	if (off > PHYS_SIZE - sizeof(struct acpi_header))
		return;
	memcpy(&len, phys + off + 4, 4);
	if (len < sizeof(struct acpi_header) || len > PHYS_SIZE - off)
		return;
	if (depth == 0 && memcmp(phys + off, "FACP", 4) == 0) {
		uint32_t dsdt32 = 0;
		uint64_t dsdt64 = 0;

		if (len >= 44)
			memcpy(&dsdt32, phys + off + 40, 4);
		if (len >= 148)
			memcpy(&dsdt64, phys + off + 140, 8);
		if (dsdt32 >= PHYS_BASE)
			fix_table(dsdt32 - PHYS_BASE, 1);
		if (dsdt64 >= PHYS_BASE)
			fix_table(dsdt64 - PHYS_BASE, 1);
	}
	checksum(phys + off, len, 9);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acpi acpi;
	struct acpi_fadt_info fadt;
	struct acpi_spcr_info spcr;
	struct acpi_ecam ecam[ACPI_MAX_ECAM];
	struct acpi_gic_info gic;
	uint8_t mode, slp_a, slp_b;
	unsigned entries;

	if (size < 1)
		return 0;
	mode = data[0];
	data++, size--;
	memset(phys, 0, sizeof(phys));
	memcpy(phys + TABLES_AT, data, size < PHYS_SIZE - TABLES_AT ? size : PHYS_SIZE - TABLES_AT);

	if (!(mode & 0x80)) {
		/* RSDP (ACPI 2.0+): "RSD PTR ", checksums over 20 and 36 bytes. */
		uint64_t xsdt = PHYS_BASE + XSDT_AT;
		uint32_t rsdp_len = 36, xsdt_len;

		memcpy(phys, "RSD PTR ", 8);
		phys[15] = mode & 0x40 ? 0 : 2; /* revision: ACPI 1.0 (RSDT) or 2.0 */
		memcpy(phys + 16, &(uint32_t){ PHYS_BASE + XSDT_AT }, 4);
		memcpy(phys + 20, &rsdp_len, 4);
		memcpy(phys + 24, &xsdt, 8);
		checksum(phys, 20, 8);
		checksum(phys, 36, 32);

		/* XSDT (or RSDT) entries: table offsets taken from the input. */
		entries = mode & 0x0f;
		xsdt_len = sizeof(struct acpi_header) + entries * (mode & 0x40 ? 4 : 8);
		memcpy(phys + XSDT_AT, mode & 0x40 ? "RSDT" : "XSDT", 4);
		memcpy(phys + XSDT_AT + 4, &xsdt_len, 4);
		for (unsigned i = 0; i < entries; i++) {
			uint16_t off = 0;
			uint64_t addr;

			if (size >= 2 * (i + 1))
				memcpy(&off, data + 2 * i, 2);
			off = (uint16_t)(TABLES_AT + off % (PHYS_SIZE - TABLES_AT));
			fix_table(off, 0);
			addr = PHYS_BASE + off;
			if (mode & 0x40)
				memcpy(phys + XSDT_AT + 36 + 4 * i, &(uint32_t){ (uint32_t)addr },
				       4);
			else
				memcpy(phys + XSDT_AT + 36 + 8 * i, &addr, 8);
		}
		checksum(phys + XSDT_AT, xsdt_len, 9);
	}

	/* The \_S5 AML walker on a DSDT of exactly the input's size, in its
	 * own allocation so that any overread is caught. */
	if (size >= sizeof(struct acpi_header)) {
		uint8_t *dsdt = malloc(size);
		uint32_t len = (uint32_t)size;

		memcpy(dsdt, data, size);
		memcpy(dsdt, "DSDT", 4);
		memcpy(dsdt + 4, &len, 4);
		checksum(dsdt, size, 9);
		acpi_s5_sleep_type((const struct acpi_header *)dsdt, &slp_a, &slp_b);
		free(dsdt);
	}

	if (acpi_init(&acpi, PHYS_BASE, fake_map) < 0)
		return 0;
	if (acpi_parse_fadt(&acpi, &fadt) == 0 && fadt.dsdt)
		acpi_s5_sleep_type(fadt.dsdt, &slp_a, &slp_b);
	acpi_parse_spcr(&acpi, &spcr);
	acpi_parse_mcfg(&acpi, ecam, ACPI_MAX_ECAM);
	acpi_parse_gic(&acpi, &gic);
	return 0;
}
