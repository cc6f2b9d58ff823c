/*
 * mmu.c -- x86_64 page-table entries and paging control (Intel SDM vol. 3
 * §4.5 4-level paging, §4.6 access rights, §11.12 PAT).
 *
 * Device memory is UC through PCD|PWT (PAT entry 3, which is UC in the
 * power-on PAT that is written back here to be sure); kernel pages are
 * global (CR4.PGE) so a CR3 switch keeps them; EFER.NXE enables the
 * no-execute bit, CR0.WP makes read-only pages read-only for the kernel
 * too, and CR4.SMEP (when present) forbids executing user pages in ring 0.
 */
#include <stdint.h>

#include "arch/x86_64/io.h"
#include "include/arch.h"

#define PTE_P      (1ull << 0)
#define PTE_RW     (1ull << 1)
#define PTE_US     (1ull << 2)
#define PTE_PWT    (1ull << 3)
#define PTE_PCD    (1ull << 4)
#define PTE_A      (1ull << 5)
#define PTE_D      (1ull << 6)
#define PTE_PS     (1ull << 7)
#define PTE_G      (1ull << 8)
#define PTE_SHARED (1ull << 9) /* available to software: VM_SHARED */
#define PTE_NX     (1ull << 63)
#define PTE_ADDR   0x000ffffffffff000ull

#define MSR_EFER     0xc0000080
#define EFER_NXE     (1ull << 11)
#define MSR_PAT      0x277
#define PAT_POWER_ON 0x0007040600070406ull /* WB WT UC- UC, twice */
#define CR0_WP       (1ull << 16)
#define CR0_AM       (1ull << 18)
#define CR4_PGE      (1ull << 7)
#define CR4_OSXSAVE  (1ull << 18)
#define CR4_SMEP     (1ull << 20)

static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid"
	                 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
	                 : "a"(leaf), "c"(sub));
}

static bool has_1g_pages(void)
{
	uint32_t r[4];

	cpuid(0x80000000, 0, r);
	if (r[0] < 0x80000001)
		return false;
	cpuid(0x80000001, 0, r);
	return r[3] & (1u << 26);
}

uint64_t arch_pte_leaf(uint64_t phys, unsigned prot, unsigned level)
{
	uint64_t e = (phys & PTE_ADDR) | PTE_P | PTE_A;

	if (level == 2 && !has_1g_pages())
		return 0;
	if (level > 0)
		e |= PTE_PS;
	if (prot & VM_WRITE)
		e |= PTE_RW | PTE_D;
	if (!(prot & VM_EXEC))
		e |= PTE_NX;
	if (prot & VM_USER)
		e |= PTE_US;
	else
		e |= PTE_G;
	if (prot & VM_DEVICE)
		e |= PTE_PCD | PTE_PWT;
	if (prot & VM_SHARED)
		e |= PTE_SHARED;
	return e;
}

uint64_t arch_pte_table(uint64_t phys)
{
	/* rights are decided by the leaf */
	return (phys & PTE_ADDR) | PTE_P | PTE_RW | PTE_US;
}

bool arch_pte_valid(uint64_t pte)
{
	return pte & PTE_P;
}

bool arch_pte_is_leaf(uint64_t pte, unsigned level)
{
	return level == 0 || (pte & PTE_PS);
}

uint64_t arch_pte_phys(uint64_t pte)
{
	return pte & PTE_ADDR;
}

unsigned arch_pte_prot(uint64_t pte, unsigned level)
{
	unsigned prot = VM_READ;

	if (pte & PTE_RW)
		prot |= VM_WRITE;
	if (!(pte & PTE_NX))
		prot |= VM_EXEC;
	if (pte & PTE_US)
		prot |= VM_USER;
	if (pte & PTE_PCD)
		prot |= VM_DEVICE;
	if (pte & PTE_SHARED)
		prot |= VM_SHARED;
	return prot;
}

static uint64_t read_cr(int n)
{
	uint64_t v = 0;

	if (n == 0)
		__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	else
		__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

void arch_mmu_enable(uint64_t root)
{
	uint32_t r[4];
	uint64_t cr0 = read_cr(0), cr4 = read_cr(4);

	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
	wrmsr(MSR_PAT, PAT_POWER_ON);
	__asm__ volatile("mov %0, %%cr3" : : "r"(root) : "memory");
	/* WP: read-only means read-only in ring 0 too; AM: user code may
	 * ask for alignment checks (EFLAGS.AC), as on Linux. */
	cr0 |= CR0_WP | CR0_AM;
	__asm__ volatile("mov %0, %%cr0" : : "r"(cr0) : "memory");
	/* No XSAVE: programs then keep to SSE state, which every kernel
	 * entry saves with fxsave. */
	cr4 &= ~CR4_OSXSAVE;
	cr4 |= CR4_PGE;
	cpuid(7, 0, r);
	if (r[1] & (1u << 7))
		cr4 |= CR4_SMEP;
	__asm__ volatile("mov %0, %%cr4" : : "r"(cr4) : "memory");
}

void arch_mmu_switch(uint64_t root)
{
	uint64_t cur;

	__asm__ volatile("mov %%cr3, %0" : "=r"(cur));
	if (cur != root)
		__asm__ volatile("mov %0, %%cr3" : : "r"(root) : "memory");
}

void arch_tlb_flush_page(uint64_t va)
{
	__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

unsigned arch_phys_bits(void)
{
	uint32_t r[4];

	cpuid(0x80000000, 0, r);
	if (r[0] < 0x80000008)
		return 36;
	cpuid(0x80000008, 0, r);
	return r[0] & 0xff;
}

uintptr_t arch_stack_pointer(void)
{
	uintptr_t sp;

	__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
	return sp;
}

void arch_user_auxv(uint64_t *hwcap, uint64_t *hwcap2, uint64_t *minsigstksz, const char **platform)
{
	uint32_t r[4];

	cpuid(1, 0, r);
	*hwcap = r[3]; /* CPUID.1:EDX, as Linux reports it */
	*hwcap2 = 0;
	*minsigstksz = 2048; /* fxsave state: no XSAVE here */
	*platform = "x86_64";
}

bool arch_random64(uint64_t *out)
{
	uint32_t r[4];
	unsigned char ok;

	cpuid(1, 0, r);
	if (!(r[2] & (1u << 30)))
		return false;
	for (int i = 0; i < 10; i++) {
		__asm__ volatile("rdrand %0; setc %1" : "=r"(*out), "=qm"(ok));
		if (ok)
			return true;
	}
	return false;
}
