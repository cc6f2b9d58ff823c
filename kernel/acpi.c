/*
 * acpi.c -- ACPI table discovery and the few fields the image needs
 * (ACPI 6.4 §5.2: RSDP, XSDT/RSDT, FADT, SPCR; §20 AML for \_S5).
 *
 * Portable and host-tested (tests/unit/test_acpi.c).  Tables come from the
 * firmware and are treated as untrusted: lengths are capped, checksums
 * verified, fields read only inside the checked length, unaligned fields
 * read with memcpy.
 */
#include "kernel/acpi.h"

#include <errno.h>
#include <string.h>

#include "include/log.h"

#define ACPI_TABLE_MAX_LEN (4u << 20) /* no sane table is larger */
#define RSDP_V1_LEN        20
#define RSDP_V2_LEN        36

/* FADT field offsets (ACPI 6.4 Table 5.9). */
#define FADT_DSDT             40
#define FADT_PM1A_CNT_BLK     64
#define FADT_PM1B_CNT_BLK     68
#define FADT_PM_TMR_BLK       76
#define FADT_FLAGS            112
#define FADT_ARM_BOOT_ARCH    129
#define FADT_X_DSDT           140
#define FADT_X_PM1A_CNT_BLK   172
#define FADT_X_PM1B_CNT_BLK   184
#define FADT_X_PM_TMR_BLK     208
#define FADT_FLAG_TMR_VAL_EXT (1u << 8)
#define FADT_FLAG_HW_REDUCED  (1u << 20)

/* MCFG layout: header, 8 reserved bytes, then 16-byte allocations. */
#define MCFG_FIRST_ENTRY 44
#define MCFG_ENTRY_SIZE  16

/* SPCR field offsets (Microsoft SPCR spec, revision 2). */
#define SPCR_INTERFACE_TYPE 36
#define SPCR_BASE_ADDRESS   40
#define SPCR_MIN_LEN        80

static uint8_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return sum;
}

static uint32_t read32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t read64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

bool acpi_table_valid(const struct acpi_header *table, size_t min_len)
{
	uint32_t len = read32(&table->length);

	return len >= sizeof(*table) && len >= min_len && len <= ACPI_TABLE_MAX_LEN &&
	       checksum(table, len) == 0;
}

/* Map a whole table at `phys`: header first, then its claimed length. */
static const struct acpi_header *map_table(acpi_map_fn map, uint64_t phys)
{
	const struct acpi_header *h;
	uint32_t len;

	if (!phys)
		return NULL;
	h = map(phys, sizeof(*h));
	if (!h)
		return NULL;
	len = read32(&h->length);
	if (len < sizeof(*h) || len > ACPI_TABLE_MAX_LEN)
		return NULL;
	h = map(phys, len);
	if (!h || !acpi_table_valid(h, sizeof(*h)))
		return NULL;
	return h;
}

int acpi_init(struct acpi *acpi, uint64_t rsdp_phys, acpi_map_fn map)
{
	const uint8_t *rsdp;
	const struct acpi_header *root;
	uint64_t root_phys;
	size_t entry_size, entries;

	memset(acpi, 0, sizeof(*acpi));
	acpi->map = map;
	rsdp = map(rsdp_phys, RSDP_V1_LEN);
	if (!rsdp || memcmp(rsdp, "RSD PTR ", 8) != 0 || checksum(rsdp, RSDP_V1_LEN) != 0) {
		log_printf("acpi: no valid RSDP at %#llx\n", (unsigned long long)rsdp_phys);
		return -ENOENT;
	}
	acpi->revision = rsdp[15];
	if (acpi->revision >= 2) {
		uint32_t len;

		rsdp = map(rsdp_phys, RSDP_V2_LEN);
		len = rsdp ? read32(rsdp + 20) : 0;
		if (!rsdp || len < RSDP_V2_LEN || len > 4096 || !(rsdp = map(rsdp_phys, len)) ||
		    checksum(rsdp, len) != 0) {
			log_printf("acpi: RSDP extended checksum is wrong\n");
			return -EINVAL;
		}
		root_phys = read64(rsdp + 24);
		entry_size = 8;
	} else {
		root_phys = read32(rsdp + 16);
		entry_size = 4;
	}

	root = map_table(map, root_phys);
	if (!root || memcmp(root->signature, entry_size == 8 ? "XSDT" : "RSDT", 4)) {
		log_printf("acpi: root table at %#llx is missing or corrupt\n",
		           (unsigned long long)root_phys);
		return -EINVAL;
	}
	entries = (read32(&root->length) - sizeof(*root)) / entry_size;
	for (size_t i = 0; i < entries; i++) {
		const uint8_t *slot = (const uint8_t *)(root + 1) + i * entry_size;
		uint64_t phys = entry_size == 8 ? read64(slot) : read32(slot);
		const struct acpi_header *t = map_table(map, phys);

		if (!t) {
			acpi->rejected++;
			log_printf("acpi: table %zu at %#llx is corrupt (skipped)\n", i,
			           (unsigned long long)phys);
			continue;
		}
		if (acpi->count == ACPI_MAX_TABLES) {
			acpi->rejected++;
			log_printf("acpi: more than %d tables; the rest are ignored\n",
			           ACPI_MAX_TABLES);
			break;
		}
		acpi->tables[acpi->count++] = t;
	}
	return 0;
}

const struct acpi_header *acpi_find(const struct acpi *acpi, const char sig[4], unsigned index)
{
	for (unsigned i = 0; i < acpi->count; i++) {
		if (memcmp(acpi->tables[i]->signature, sig, 4) == 0 && index-- == 0)
			return acpi->tables[i];
	}
	return NULL;
}

static void read_gas(const uint8_t *p, struct acpi_gas *out)
{
	memcpy(out, p, sizeof(*out));
}

int acpi_parse_fadt(const struct acpi *acpi, struct acpi_fadt_info *out)
{
	const struct acpi_header *fadt = acpi_find(acpi, "FACP", 0);
	const uint8_t *f = (const uint8_t *)fadt;
	uint32_t len;
	uint64_t dsdt_phys = 0;

	memset(out, 0, sizeof(*out));
	if (!fadt || read32(&fadt->length) < FADT_PM1B_CNT_BLK + 4) {
		log_printf("acpi: no usable FADT\n");
		return -ENOENT;
	}
	len = read32(&fadt->length);
	if (len >= FADT_FLAGS + 4) {
		uint32_t flags = read32(f + FADT_FLAGS);

		out->hw_reduced = flags & FADT_FLAG_HW_REDUCED;
		out->pm_timer_32bit = flags & FADT_FLAG_TMR_VAL_EXT;
	}
	if (len >= FADT_X_PM_TMR_BLK + sizeof(struct acpi_gas))
		read_gas(f + FADT_X_PM_TMR_BLK, &out->pm_timer);
	if (!out->pm_timer.address && len >= FADT_PM_TMR_BLK + 4 && read32(f + FADT_PM_TMR_BLK)) {
		out->pm_timer.space_id = ACPI_SPACE_IO;
		out->pm_timer.bit_width = 32;
		out->pm_timer.address = read32(f + FADT_PM_TMR_BLK);
	}
	if (len >= FADT_ARM_BOOT_ARCH + 2)
		out->arm_boot_flags = f[FADT_ARM_BOOT_ARCH] | f[FADT_ARM_BOOT_ARCH + 1] << 8;

	if (len >= FADT_X_PM1A_CNT_BLK + sizeof(struct acpi_gas))
		read_gas(f + FADT_X_PM1A_CNT_BLK, &out->pm1a_cnt);
	if (!out->pm1a_cnt.address && read32(f + FADT_PM1A_CNT_BLK)) {
		out->pm1a_cnt.space_id = ACPI_SPACE_IO;
		out->pm1a_cnt.bit_width = 16;
		out->pm1a_cnt.address = read32(f + FADT_PM1A_CNT_BLK);
	}
	if (len >= FADT_X_PM1B_CNT_BLK + sizeof(struct acpi_gas))
		read_gas(f + FADT_X_PM1B_CNT_BLK, &out->pm1b_cnt);
	if (!out->pm1b_cnt.address && read32(f + FADT_PM1B_CNT_BLK)) {
		out->pm1b_cnt.space_id = ACPI_SPACE_IO;
		out->pm1b_cnt.bit_width = 16;
		out->pm1b_cnt.address = read32(f + FADT_PM1B_CNT_BLK);
	}

	if (len >= FADT_X_DSDT + 8)
		dsdt_phys = read64(f + FADT_X_DSDT);
	if (!dsdt_phys)
		dsdt_phys = read32(f + FADT_DSDT);
	out->dsdt = map_table(acpi->map, dsdt_phys);
	if (dsdt_phys && (!out->dsdt || memcmp(out->dsdt->signature, "DSDT", 4))) {
		log_printf("acpi: DSDT at %#llx is corrupt\n", (unsigned long long)dsdt_phys);
		out->dsdt = NULL;
	}
	return 0;
}

int acpi_parse_spcr(const struct acpi *acpi, struct acpi_spcr_info *out)
{
	const struct acpi_header *spcr = acpi_find(acpi, "SPCR", 0);
	const uint8_t *s = (const uint8_t *)spcr;

	memset(out, 0, sizeof(*out));
	if (!spcr)
		return -ENOENT;
	if (read32(&spcr->length) < SPCR_MIN_LEN) {
		log_printf("acpi: SPCR is too short\n");
		return -EINVAL;
	}
	out->interface_type = s[SPCR_INTERFACE_TYPE];
	read_gas(s + SPCR_BASE_ADDRESS, &out->base);
	return 0;
}

unsigned acpi_parse_mcfg(const struct acpi *acpi, struct acpi_ecam *out, unsigned max)
{
	const struct acpi_header *mcfg = acpi_find(acpi, "MCFG", 0);
	const uint8_t *m = (const uint8_t *)mcfg;
	unsigned n = 0;
	uint32_t len;

	if (!mcfg)
		return 0;
	len = read32(&mcfg->length);
	for (uint32_t off = MCFG_FIRST_ENTRY; off + MCFG_ENTRY_SIZE <= len && n < max;
	     off += MCFG_ENTRY_SIZE) {
		struct acpi_ecam e = {
			.base = read64(m + off),
			.segment = (uint16_t)(m[off + 8] | m[off + 9] << 8),
			.start_bus = m[off + 10],
			.end_bus = m[off + 11],
		};

		if (!e.base || e.end_bus < e.start_bus) {
			log_printf("acpi: MCFG entry at offset %u is invalid (skipped)\n", off);
			continue;
		}
		out[n++] = e;
	}
	return n;
}

#define MADT_FIRST_ENTRY      44
#define MADT_GICC             0x0b
#define MADT_GICD             0x0c
#define MADT_GIC_MSI_FRAME    0x0d
#define GICC_FLAG_ENABLED     1u
#define GTDT_VIRTUAL_GSIV     64
#define ARM_VIRTUAL_TIMER_PPI 27 /* SBSA's recommended PPI */

int acpi_parse_gic(const struct acpi *acpi, struct acpi_gic_info *out)
{
	const struct acpi_header *madt = acpi_find(acpi, "APIC", 0);
	const struct acpi_header *gtdt = acpi_find(acpi, "GTDT", 0);
	const uint8_t *m = (const uint8_t *)madt;
	uint32_t len, off;

	memset(out, 0, sizeof(*out));
	out->virtual_timer_gsiv = ARM_VIRTUAL_TIMER_PPI;
	if (gtdt && read32(&gtdt->length) >= GTDT_VIRTUAL_GSIV + 4)
		out->virtual_timer_gsiv = read32((const uint8_t *)gtdt + GTDT_VIRTUAL_GSIV);
	if (!madt)
		return -ENOENT;
	len = read32(&madt->length);
	for (off = MADT_FIRST_ENTRY; off + 2 <= len; off += m[off + 1]) {
		uint8_t type = m[off], elen = m[off + 1];

		if (elen < 2 || elen > len - off) {
			log_printf("acpi: MADT entry at offset %u has bad length %u\n", off, elen);
			break;
		}
		if (type == MADT_GICC && elen >= 40 && !out->gicc_base &&
		    (read32(m + off + 12) & GICC_FLAG_ENABLED))
			out->gicc_base = read64(m + off + 32);
		else if (type == MADT_GICD && elen >= 21) {
			out->gicd_base = read64(m + off + 8);
			out->version = m[off + 20];
		} else if (type == MADT_GIC_MSI_FRAME && elen >= 24 && !out->msi_frame_base) {
			out->msi_frame_base = read64(m + off + 8);
			out->msi_spi_override = read32(m + off + 16) & 1;
			out->msi_spi_count = (uint16_t)(m[off + 20] | m[off + 21] << 8);
			out->msi_spi_base = (uint16_t)(m[off + 22] | m[off + 23] << 8);
		}
	}
	return out->gicd_base ? 0 : -ENOENT;
}

/* One AML integer constant: ZeroOp, OneOp, BytePrefix or WordPrefix. */
static int aml_small_integer(const uint8_t *p, const uint8_t *end, uint8_t *value, size_t *used)
{
	if (p >= end)
		return -EINVAL;
	switch (p[0]) {
	case 0x00: /* ZeroOp */
	case 0x01: /* OneOp */
		*value = p[0];
		*used = 1;
		return 0;
	case 0x0a: /* BytePrefix */
	case 0x0b: /* WordPrefix: SLP_TYP is 3 bits, the low byte is enough */
		if (end - p < (p[0] == 0x0a ? 2 : 3))
			return -EINVAL;
		*value = p[1];
		*used = p[0] == 0x0a ? 2 : 3;
		return 0;
	}
	return -EINVAL;
}

int acpi_s5_sleep_type(const struct acpi_header *dsdt, uint8_t *slp_typa, uint8_t *slp_typb)
{
	const uint8_t *aml, *end, *p;
	size_t used;

	if (!dsdt)
		return -ENOENT;
	aml = (const uint8_t *)(dsdt + 1);
	end = (const uint8_t *)dsdt + read32(&dsdt->length);
	/* Name(_S5_, Package(){a, b, ...}): 08 [5C] "_S5_" 12 PkgLength NumElements a b */
	for (p = aml; p + 4 <= end; p++) {
		const uint8_t *q;
		unsigned length_bytes;

		if (memcmp(p, "_S5_", 4) != 0)
			continue;
		if (!(p > aml &&
		      (p[-1] == 0x08 || (p[-1] == 0x5c && p - 1 > aml && p[-2] == 0x08))))
			continue;
		q = p + 4;
		if (q >= end || *q != 0x12) /* PackageOp */
			continue;
		q++;
		if (q >= end)
			break;
		length_bytes = *q >> 6;
		if (end - q < 2 + length_bytes + 1)
			break;
		q += 1 + length_bytes; /* PkgLength */
		q += 1;                /* NumElements */
		if (aml_small_integer(q, end, slp_typa, &used))
			continue;
		q += used;
		if (aml_small_integer(q, end, slp_typb, &used))
			*slp_typb = 0;
		return 0;
	}
	return -ENOENT;
}
