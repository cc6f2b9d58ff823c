/*
 * test_acpi.c -- ACPI discovery on synthetic tables in a fake physical
 * address space, including corrupt and truncated tables.
 */
#include "kernel/acpi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/harness.h"

#define PHYS_BASE 0x10000u
#define PHYS_SIZE 0x10000u

static uint8_t phys_mem[PHYS_SIZE];

static const void *fake_map(uint64_t phys, size_t len)
{
	if (phys < PHYS_BASE || phys - PHYS_BASE > PHYS_SIZE ||
	    len > PHYS_SIZE - (phys - PHYS_BASE))
		return NULL;
	return phys_mem + (phys - PHYS_BASE);
}

static uint8_t *at(uint64_t phys)
{
	return phys_mem + (phys - PHYS_BASE);
}

static void fix_checksum(uint8_t *p, size_t len, size_t checksum_offset)
{
	uint8_t sum = 0;

	p[checksum_offset] = 0;
	for (size_t i = 0; i < len; i++)
		sum += p[i];
	p[checksum_offset] = (uint8_t)-sum;
}

static void make_table(uint64_t phys, const char *sig, uint32_t len, const void *body,
                       size_t body_len)
{
	struct acpi_header h = { .length = len, .revision = 2 };

	memcpy(h.signature, sig, 4);
	memcpy(at(phys), &h, sizeof(h));
	if (body)
		memcpy(at(phys) + sizeof(h), body, body_len);
	fix_checksum(at(phys), len, 9);
}

#define RSDP 0x10000
#define XSDT 0x10100
#define FADT 0x10200
#define DSDT 0x10400
#define SPCR 0x10600
#define MCFG 0x10700

/* S5 package as QEMU writes it: Name(_S5_, Package(4){Zero, Zero, Zero, Zero}) */
static const uint8_t dsdt_body[] = {
	0x10, 0x05, 0x5c, 0x00, /* scope noise before it */
	0x08, '_',  'S',  '3',  '_',  0x12, 0x06, 0x04, 0x01, 0x01, 0x00, 0x00, 0x08,
	'_',  'S',  '5',  '_',  0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x07, 0x00, 0x00,
};

static void build_tables(void)
{
	uint8_t fadt[276 - 36] = { 0 };
	uint8_t spcr[80 - 36] = { 0 };
	uint64_t entries[] = { FADT, SPCR, MCFG };
	uint8_t *r = at(RSDP);

	memset(phys_mem, 0, sizeof(phys_mem));
	make_table(DSDT, "DSDT", 36 + sizeof(dsdt_body), dsdt_body, sizeof(dsdt_body));

	/* FADT: PM1a_CNT_BLK = 0x604 (I/O), DSDT via X_DSDT, PSCI via HVC */
	fadt[64 - 36] = 0x04;
	fadt[65 - 36] = 0x06;
	fadt[129 - 36] = 0x03;
	fadt[76 - 36] = 0x08; /* PM_TMR_BLK = 0x608 */
	fadt[77 - 36] = 0x06;
	fadt[113 - 36] = 0x01; /* flags bit 8: TMR_VAL_EXT */
	memcpy(&fadt[140 - 36], &(uint64_t){ DSDT }, 8);
	make_table(FADT, "FACP", 276, fadt, sizeof(fadt));

	spcr[36 - 36] = 3; /* PL011 */
	spcr[40 - 36] = ACPI_SPACE_MEMORY;
	spcr[41 - 36] = 32;
	memcpy(&spcr[44 - 36], &(uint64_t){ 0x9000000 }, 8);
	make_table(SPCR, "SPCR", 80, spcr, sizeof(spcr));
	{
		uint8_t mcfg[60 - 36] = { 0 };

		memcpy(&mcfg[44 - 36], &(uint64_t){ 0xb0000000 }, 8);
		mcfg[54 - 36] = 0;    /* start bus */
		mcfg[55 - 36] = 0xff; /* end bus */
		make_table(MCFG, "MCFG", 60, mcfg, sizeof(mcfg));
	}
	make_table(XSDT, "XSDT", 36 + sizeof(entries), entries, sizeof(entries));

	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, "BOCHS ", 6);
	r[15] = 2;
	memcpy(r + 20, &(uint32_t){ 36 }, 4);
	memcpy(r + 24, &(uint64_t){ XSDT }, 8);
	fix_checksum(r, 20, 8);
	fix_checksum(r, 36, 32);
}

TEST(acpi_finds_tables_through_xsdt)
{
	struct acpi acpi;

	build_tables();
	CHECK_EQ(acpi_init(&acpi, RSDP, fake_map), 0);
	CHECK_EQ(acpi.count, 3);
	CHECK_EQ(acpi.rejected, 0);
	CHECK(acpi_find(&acpi, "MCFG", 0) == (const void *)at(MCFG));
	CHECK(acpi_find(&acpi, "MCFG", 1) == NULL);
	CHECK(acpi_find(&acpi, "APIC", 0) == NULL);
}

TEST(acpi_fadt_gives_pm1a_dsdt_and_psci_flags)
{
	struct acpi acpi;
	struct acpi_fadt_info fadt;
	uint8_t a, b;

	build_tables();
	CHECK_EQ(acpi_init(&acpi, RSDP, fake_map), 0);
	CHECK_EQ(acpi_parse_fadt(&acpi, &fadt), 0);
	CHECK_EQ(fadt.pm1a_cnt.space_id, ACPI_SPACE_IO);
	CHECK_EQ(fadt.pm1a_cnt.address, 0x604);
	CHECK_EQ(fadt.pm1b_cnt.address, 0);
	CHECK_EQ(fadt.arm_boot_flags, ACPI_ARM_PSCI_COMPLIANT | ACPI_ARM_PSCI_USE_HVC);
	CHECK(fadt.dsdt == (const void *)at(DSDT));
	CHECK_EQ(fadt.pm_timer.address, 0x608);
	CHECK_EQ(fadt.pm_timer.space_id, ACPI_SPACE_IO);
	CHECK(fadt.pm_timer_32bit);
	CHECK_EQ(acpi_s5_sleep_type(fadt.dsdt, &a, &b), 0);
	CHECK_EQ(a, 5);
	CHECK_EQ(b, 7);
}

TEST(acpi_spcr_gives_uart)
{
	struct acpi acpi;
	struct acpi_spcr_info spcr;

	build_tables();
	CHECK_EQ(acpi_init(&acpi, RSDP, fake_map), 0);
	CHECK_EQ(acpi_parse_spcr(&acpi, &spcr), 0);
	CHECK_EQ(spcr.interface_type, 3);
	CHECK_EQ(spcr.base.address, 0x9000000);
}

TEST(acpi_mcfg_gives_ecam_windows)
{
	struct acpi acpi;
	struct acpi_ecam ecam[4];

	build_tables();
	CHECK_EQ(acpi_init(&acpi, RSDP, fake_map), 0);
	CHECK_EQ(acpi_parse_mcfg(&acpi, ecam, 4), 1);
	CHECK_EQ(ecam[0].base, 0xb0000000);
	CHECK_EQ(ecam[0].start_bus, 0);
	CHECK_EQ(ecam[0].end_bus, 255);
	CHECK_EQ(acpi_parse_mcfg(&acpi, ecam, 0), 0);
}

TEST(acpi_gic_from_madt_and_gtdt)
{
	struct acpi acpi;
	struct acpi_gic_info gic;
	uint8_t madt[44 - 36 + 80 + 24 + 24] = { 0 };
	uint8_t gtdt[104 - 36] = { 0 };
	uint8_t *e = madt + 8;
	uint64_t entries[] = { FADT, SPCR, MCFG, 0x10800, 0x10900 };

	build_tables();
	e[0] = 0x0b;
	e[1] = 80; /* GICC, enabled */
	e[12] = 1;
	memcpy(e + 32, &(uint64_t){ 0x8010000 }, 8);
	e += 80;
	e[0] = 0x0c;
	e[1] = 24; /* GICD, version 2 */
	memcpy(e + 8, &(uint64_t){ 0x8000000 }, 8);
	e[20] = 2;
	e += 24;
	e[0] = 0x0d;
	e[1] = 24; /* MSI frame */
	memcpy(e + 8, &(uint64_t){ 0x8020000 }, 8);
	make_table(0x10800, "APIC", sizeof(madt) + 36, madt, sizeof(madt));
	gtdt[64 - 36] = 27;
	make_table(0x10900, "GTDT", 104, gtdt, sizeof(gtdt));
	make_table(XSDT, "XSDT", 36 + sizeof(entries), entries, sizeof(entries));
	at(RSDP)[8] = 0;
	{
		uint8_t *r = at(RSDP);
		uint8_t sum = 0;

		for (int i = 0; i < 20; i++)
			sum += r[i];
		r[8] = (uint8_t)-sum;
		r[32] = 0;
		sum = 0;
		for (int i = 0; i < 36; i++)
			sum += r[i];
		r[32] = (uint8_t)-sum;
	}
	CHECK_EQ(acpi_init(&acpi, RSDP, fake_map), 0);
	CHECK_EQ(acpi_parse_gic(&acpi, &gic), 0);
	CHECK_EQ(gic.version, 2);
	CHECK_EQ(gic.gicd_base, 0x8000000);
	CHECK_EQ(gic.gicc_base, 0x8010000);
	CHECK_EQ(gic.msi_frame_base, 0x8020000);
	CHECK_EQ(gic.virtual_timer_gsiv, 27);

	/* a zero-length entry must not loop forever */
	memset(madt + 8, 0, 2);
	make_table(0x10800, "APIC", sizeof(madt) + 36, madt, sizeof(madt));
	CHECK_EQ(acpi_init(&acpi, RSDP, fake_map), 0);
	CHECK_EQ(acpi_parse_gic(&acpi, &gic), -ENOENT);
}

TEST(acpi_rejects_bad_rsdp)
{
	struct acpi acpi;

	build_tables();
	at(RSDP)[0] = 'X';
	CHECK_EQ(acpi_init(&acpi, RSDP, fake_map), -ENOENT);
	build_tables();
	at(RSDP)[30] ^= 1; /* breaks only the extended checksum */
	CHECK_EQ(acpi_init(&acpi, RSDP, fake_map), -EINVAL);
	CHECK_EQ(acpi_init(&acpi, 0x1, fake_map), -ENOENT); /* unmapped */
}

TEST(acpi_skips_corrupt_table_and_keeps_the_rest)
{
	struct acpi acpi;

	build_tables();
	at(SPCR)[50] ^= 0xff; /* checksum now wrong */
	CHECK_EQ(acpi_init(&acpi, RSDP, fake_map), 0);
	CHECK_EQ(acpi.count, 2);
	CHECK_EQ(acpi.rejected, 1);
	CHECK(acpi_find(&acpi, "SPCR", 0) == NULL);
	CHECK(acpi_find(&acpi, "FACP", 0) != NULL);
}

TEST(acpi_table_length_beyond_memory_is_rejected)
{
	struct acpi acpi;

	build_tables();
	memcpy(at(MCFG) + 4, &(uint32_t){ 0x00ffffff }, 4);
	CHECK_EQ(acpi_init(&acpi, RSDP, fake_map), 0);
	CHECK_EQ(acpi.rejected, 1);
	build_tables();
	memcpy(at(MCFG) + 4, &(uint32_t){ 3 }, 4); /* shorter than a header */
	CHECK_EQ(acpi_init(&acpi, RSDP, fake_map), 0);
	CHECK_EQ(acpi.rejected, 1);
}

TEST(acpi_corrupt_xsdt_fails_cleanly)
{
	struct acpi acpi;

	build_tables();
	at(XSDT)[40] ^= 1;
	CHECK_EQ(acpi_init(&acpi, RSDP, fake_map), -EINVAL);
	CHECK(strstr(harness_last_log, "corrupt") != NULL);
}

TEST(acpi_s5_truncated_aml_is_not_followed)
{
	uint8_t buf[36 + 8];
	struct acpi_header *h = (struct acpi_header *)buf;
	const uint8_t body[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04 };
	uint8_t a = 99, b = 99;

	memset(buf, 0, sizeof(buf));
	memcpy(h->signature, "DSDT", 4);
	h->length = sizeof(buf);
	memcpy(buf + 36, body, sizeof(body));
	CHECK_EQ(acpi_s5_sleep_type(h, &a, &b), -ENOENT);
	CHECK_EQ(acpi_s5_sleep_type(NULL, &a, &b), -ENOENT);
}

TEST(acpi_random_corruption_never_crashes)
{
	struct acpi acpi;
	struct acpi_fadt_info fadt;
	struct acpi_spcr_info spcr;
	uint8_t a, b;

	srand(99);
	for (int round = 0; round < 3000; round++) {
		build_tables();
		for (int k = 0; k < 1 + rand() % 8; k++)
			phys_mem[rand() % 0x800] = (uint8_t)rand();
		if (acpi_init(&acpi, RSDP, fake_map) != 0)
			continue;
		if (acpi_parse_fadt(&acpi, &fadt) == 0 && fadt.dsdt)
			acpi_s5_sleep_type(fadt.dsdt, &a, &b);
		acpi_parse_spcr(&acpi, &spcr);
		struct acpi_ecam ecam[2];
		struct acpi_gic_info gic;
		acpi_parse_mcfg(&acpi, ecam, 2);
		acpi_parse_gic(&acpi, &gic);
	}
}
