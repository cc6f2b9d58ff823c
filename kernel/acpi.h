/*
 * acpi.h -- read-only access to the firmware's ACPI tables (ACPI 6.x §5.2).
 *
 * Portable and host-tested: the tables are reached through a `map`
 * callback that turns a physical range into a pointer, so unit tests can
 * hand in synthetic tables and the image an identity map.  Every table is
 * length- and checksum-checked before it is used; a bad table is reported
 * and skipped, never followed.
 *
 * Typical usage:
 *	struct acpi acpi;
 *	if (acpi_init(&acpi, rsdp_phys, identity_map) == 0) {
 *		const struct acpi_header *mcfg = acpi_find(&acpi, "MCFG", 0);
 *		struct acpi_fadt_info fadt;
 *		acpi_parse_fadt(&acpi, &fadt);
 *	}
 */
#ifndef KERNEL_ACPI_H
#define KERNEL_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "include/acpi_ecam.h" /* struct acpi_ecam, ACPI_MAX_ECAM */

struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	uint32_t creator_id;
	uint32_t creator_revision;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_header) == 36, "ACPI header is 36 bytes");

/* Generic Address Structure (ACPI §5.2.3.2). */
struct acpi_gas {
	uint8_t space_id; /* 0 system memory, 1 system I/O */
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_gas) == 12, "GAS is 12 bytes");

#define ACPI_SPACE_MEMORY 0
#define ACPI_SPACE_IO     1

/* Turn a physical range into a readable pointer, or NULL if not allowed. */
typedef const void *(*acpi_map_fn)(uint64_t phys, size_t len);

#define ACPI_MAX_TABLES 64

struct acpi {
	acpi_map_fn map;                                   /* physical range -> pointer */
	uint8_t revision;                                  /* RSDP revision: 0 = ACPI 1.0 (RSDT) */
	unsigned count;                                    /* valid tables found */
	const struct acpi_header *tables[ACPI_MAX_TABLES]; /* each checked */
	unsigned rejected;                                 /* tables skipped as malformed */
};

struct acpi_fadt_info {
	bool hw_reduced;                /* HW_REDUCED_ACPI flag */
	struct acpi_gas pm1a_cnt;       /* PM1a control block (I/O on PCs) */
	struct acpi_gas pm1b_cnt;       /* PM1b control block (address 0 if none) */
	uint16_t arm_boot_flags;        /* ARM_BOOT_ARCH: bit0 PSCI, bit1 use HVC */
	struct acpi_gas pm_timer;       /* ACPI PM timer, 3.579545 MHz (address 0 if none) */
	bool pm_timer_32bit;            /* TMR_VAL_EXT: 32-bit counter, else 24-bit */
	const struct acpi_header *dsdt; /* checked DSDT, or NULL */
};

#define ACPI_ARM_PSCI_COMPLIANT 1u
#define ACPI_ARM_PSCI_USE_HVC   2u

struct acpi_spcr_info {
	uint8_t interface_type; /* 3 = ARM PL011, 0 = 16550, 0x0e = SBSA */
	struct acpi_gas base;   /* register base */
};

/* Arm GIC as MADT describes it (ACPI 6.4 §5.2.12.14-16), plus the
 * generic timer's interrupt from GTDT (§5.2.24). */
struct acpi_gic_info {
	uint8_t version;         /* GICD version field (0: unknown, 2, 3, 4) */
	uint64_t gicd_base;      /* distributor */
	uint64_t gicc_base;      /* CPU interface of the first enabled CPU */
	uint64_t msi_frame_base; /* GICv2m MSI frame (0: none) */
	uint16_t msi_spi_base;   /* its SPIs, when MADT overrides the frame's */
	uint16_t msi_spi_count;  /*   own MSI_TYPER (flags bit 0) */
	bool msi_spi_override;
	uint32_t virtual_timer_gsiv; /* EL1 virtual timer interrupt (PPI) */
};

int acpi_init(struct acpi *acpi, uint64_t rsdp_phys, acpi_map_fn map);
const struct acpi_header *acpi_find(const struct acpi *acpi, const char sig[4], unsigned index);
int acpi_parse_fadt(const struct acpi *acpi, struct acpi_fadt_info *out);
int acpi_parse_spcr(const struct acpi *acpi, struct acpi_spcr_info *out);
/* ECAM windows from MCFG; returns how many (0 if none or malformed). */
unsigned acpi_parse_mcfg(const struct acpi *acpi, struct acpi_ecam *out, unsigned max);
/* GIC and timer from MADT/GTDT: 0, or -ENOENT when MADT has no GICD. */
int acpi_parse_gic(const struct acpi *acpi, struct acpi_gic_info *out);
/* SLP_TYPa/b of \_S5 from the DSDT's AML; -ENOENT if it has none. */
int acpi_s5_sleep_type(const struct acpi_header *dsdt, uint8_t *slp_typa, uint8_t *slp_typb);
/* Is this a checksum-valid table of at least `min_len` bytes? */
bool acpi_table_valid(const struct acpi_header *table, size_t min_len);

#endif
