/*
 * mmu.c -- aarch64 translation tables and their control (Arm ARM D8:
 * VMSAv8-64, 4 KiB granule, 48-bit input addresses in TTBR0_EL1).
 *
 * MAIR_EL1: attribute 0 is Normal write-back (RAM, the DMA pool),
 * attribute 1 Device-nGnRE (MMIO).  Kernel entries are UXN (never
 * executable at EL0) and, outside the image's text, PXN; user entries are
 * PXN, nG, and UXN unless executable.  TCR_EL1: T0SZ=16, 4 KiB granule,
 * inner-shareable write-back walks, TTBR1 walks disabled (EPD1), IPS from
 * ID_AA64MMFR0_EL1.PARange.  SCTLR_EL1 gains what EL0 programs expect on
 * Linux: CTR_EL0 and DC ZVA / cache maintenance at EL0 (UCT, DZE, UCI),
 * WFE not trapped (nTWE), SP alignment checks at EL0 (SA0).
 */
#include <stdint.h>

#include "include/arch.h"

#define DESC_VALID    (1ull << 0)
#define DESC_TABLE    (1ull << 1) /* level 1-3 (our 1..3): table; level 0 (our 0): page */
#define ATTR_INDEX(n) ((uint64_t)(n) << 2)
#define AP_EL0        (1ull << 6) /* AP[1]: EL0 may access */
#define AP_RO         (1ull << 7) /* AP[2]: read-only */
#define SH_INNER      (3ull << 8)
#define AF            (1ull << 10)
#define NG            (1ull << 11)
#define PXN           (1ull << 53)
#define UXN           (1ull << 54)
#define SW_SHARED     (1ull << 55) /* reserved for software: VM_SHARED */
#define ADDR_MASK     0x0000fffffffff000ull

#define MAIR_NORMAL_WB    0xffull
#define MAIR_DEVICE_NGNRE 0x04ull
#define ATTR_NORMAL       0
#define ATTR_DEVICE       1

#define SCTLR_SA0  (1ull << 4)
#define SCTLR_DZE  (1ull << 14)
#define SCTLR_UCT  (1ull << 15)
#define SCTLR_NTWE (1ull << 18)
#define SCTLR_UCI  (1ull << 26)
#define CPACR_FPEN (3ull << 20)

uint64_t arch_pte_leaf(uint64_t phys, unsigned prot, unsigned level)
{
	uint64_t e = (phys & ADDR_MASK) | DESC_VALID | AF;

	if (level == 0)
		e |= DESC_TABLE; /* a page descriptor at the last level */
	if (prot & VM_DEVICE)
		e |= ATTR_INDEX(ATTR_DEVICE);
	else
		e |= ATTR_INDEX(ATTR_NORMAL) | SH_INNER;
	if (!(prot & VM_WRITE))
		e |= AP_RO;
	if (prot & VM_USER) {
		e |= AP_EL0 | NG | PXN;
		if (!(prot & VM_EXEC))
			e |= UXN;
	} else {
		e |= UXN;
		if (!(prot & VM_EXEC))
			e |= PXN;
	}
	if (prot & VM_SHARED)
		e |= SW_SHARED;
	return e;
}

uint64_t arch_pte_table(uint64_t phys)
{
	return (phys & ADDR_MASK) | DESC_VALID | DESC_TABLE;
}

bool arch_pte_valid(uint64_t pte)
{
	return pte & DESC_VALID;
}

bool arch_pte_is_leaf(uint64_t pte, unsigned level)
{
	return level == 0 || !(pte & DESC_TABLE);
}

uint64_t arch_pte_phys(uint64_t pte)
{
	return pte & ADDR_MASK;
}

unsigned arch_pte_prot(uint64_t pte, unsigned level)
{
	unsigned prot = VM_READ;
	bool user = pte & AP_EL0;

	if (!(pte & AP_RO))
		prot |= VM_WRITE;
	if (user)
		prot |= VM_USER;
	if (!(pte & (user ? UXN : PXN)))
		prot |= VM_EXEC;
	if (((pte >> 2) & 7) == ATTR_DEVICE)
		prot |= VM_DEVICE;
	if (pte & SW_SHARED)
		prot |= VM_SHARED;
	return prot;
}

static unsigned parange(void)
{
	uint64_t mmfr0;

	__asm__ volatile("mrs %0, id_aa64mmfr0_el1" : "=r"(mmfr0));
	return mmfr0 & 0xf;
}

unsigned arch_phys_bits(void)
{
	static const unsigned bits[] = { 32, 36, 40, 42, 44, 48, 52 };
	unsigned r = parange();

	return r < 7 ? bits[r] : 48;
}

void arch_mmu_enable(uint64_t root)
{
	uint64_t ips = parange() > 5 ? 5 : parange();
	uint64_t mair = MAIR_NORMAL_WB << (8 * ATTR_NORMAL) | MAIR_DEVICE_NGNRE
	                                                              << (8 * ATTR_DEVICE);
	uint64_t tcr = 16ull                    /* T0SZ: 48-bit */
	               | 1ull << 8 | 1ull << 10 /* IRGN0, ORGN0: write-back */
	               | 3ull << 12             /* SH0: inner shareable */
	               | 0ull << 14             /* TG0: 4 KiB */
	               | 16ull << 16            /* T1SZ */
	               | 1ull << 23             /* EPD1: no TTBR1 walks */
	               | 2ull << 30             /* TG1: 4 KiB */
	               | ips << 32;
	uint64_t sctlr, cpacr;

	/*
	 * The firmware's translation regime may start at another level, so
	 * MAIR, TCR and TTBR0 change with the MMU off: every address used
	 * here is identity-mapped in both, and the block touches no memory.
	 */
	__asm__ volatile("mrs %0, sctlr_el1" : "=r"(sctlr));
	__asm__ volatile("dsb sy\n\t"
	                 "msr sctlr_el1, %3\n\t"
	                 "isb\n\t"
	                 "msr mair_el1, %0\n\t"
	                 "msr tcr_el1, %1\n\t"
	                 "msr ttbr0_el1, %2\n\t"
	                 "isb\n\t"
	                 "tlbi vmalle1\n\t"
	                 "dsb nsh\n\t"
	                 "isb\n\t"
	                 "msr sctlr_el1, %4\n\t"
	                 "isb"
	                 :
	                 : "r"(mair), "r"(tcr), "r"(root), "r"(sctlr & ~1ull),
	                   "r"(sctlr | 1ull | SCTLR_SA0 | SCTLR_DZE | SCTLR_UCT | SCTLR_NTWE |
	                       SCTLR_UCI)
	                 : "memory");
	__asm__ volatile("mrs %0, cpacr_el1" : "=r"(cpacr));
	__asm__ volatile("msr cpacr_el1, %0\n\tisb" : : "r"(cpacr | CPACR_FPEN) : "memory");
}

void arch_mmu_switch(uint64_t root)
{
	uint64_t cur;

	__asm__ volatile("mrs %0, ttbr0_el1" : "=r"(cur));
	if ((cur & ADDR_MASK) == root)
		return;
	/* no ASIDs: forget every translation of the old space */
	__asm__ volatile("dsb ishst\n\t"
	                 "msr ttbr0_el1, %0\n\t"
	                 "isb\n\t"
	                 "tlbi vmalle1\n\t"
	                 "dsb nsh\n\t"
	                 "isb"
	                 :
	                 : "r"(root)
	                 : "memory");
}

void arch_tlb_flush_page(uint64_t va)
{
	__asm__ volatile("dsb ishst\n\t"
	                 "tlbi vaae1, %0\n\t"
	                 "dsb ish\n\t"
	                 "isb"
	                 :
	                 : "r"((va >> 12) & ((1ull << 44) - 1))
	                 : "memory");
}

uintptr_t arch_stack_pointer(void)
{
	uintptr_t sp;

	__asm__ volatile("mov %0, sp" : "=r"(sp));
	return sp;
}

void arch_user_auxv(uint64_t *hwcap, uint64_t *hwcap2, uint64_t *minsigstksz, const char **platform)
{
	uint64_t isar0, pfr0;

	__asm__ volatile("mrs %0, id_aa64isar0_el1" : "=r"(isar0));
	__asm__ volatile("mrs %0, id_aa64pfr0_el1" : "=r"(pfr0));
	*hwcap = 0;
	if (((pfr0 >> 16) & 0xf) != 0xf)
		*hwcap |= 1 << 0; /* HWCAP_FP */
	if (((pfr0 >> 20) & 0xf) != 0xf)
		*hwcap |= 1 << 1; /* HWCAP_ASIMD */
	if ((isar0 >> 4) & 0xf)
		*hwcap |= 1 << 3; /* HWCAP_AES */
	if (((isar0 >> 4) & 0xf) >= 2)
		*hwcap |= 1 << 4; /* HWCAP_PMULL */
	if ((isar0 >> 8) & 0xf)
		*hwcap |= 1 << 5; /* HWCAP_SHA1 */
	if ((isar0 >> 12) & 0xf)
		*hwcap |= 1 << 6; /* HWCAP_SHA2 */
	if ((isar0 >> 16) & 0xf)
		*hwcap |= 1 << 7; /* HWCAP_CRC32 */
	if ((isar0 >> 20) & 0xf)
		*hwcap |= 1 << 8; /* HWCAP_ATOMICS */
	*hwcap2 = 0;
	*minsigstksz = 5120;
	*platform = "aarch64";
}

bool arch_random64(uint64_t *out)
{
	uint64_t isar0;
	uint64_t ok;

	__asm__ volatile("mrs %0, id_aa64isar0_el1" : "=r"(isar0));
	if (((isar0 >> 60) & 0xf) == 0)
		return false;
	for (int i = 0; i < 10; i++) {
		/* RNDR (s3_3_c2_c4_0); NZCV.Z set on failure */
		__asm__ volatile("mrs %0, s3_3_c2_c4_0\n\tcset %1, ne" : "=r"(*out), "=r"(ok));
		if (ok)
			return true;
	}
	return false;
}
