/*
 * cpu.c -- x86_64 descriptor tables: the image's own GDT with a TSS
 * (IST stacks for double fault, NMI and machine check) and its own IDT
 * (Intel SDM vol. 3 §3.4.5, §7.7, §6.14).
 *
 * Loaded right after ExitBootServices; from then on every exception and
 * interrupt enters through vectors.S into traps.c.
 */
#include <stdint.h>
#include <string.h>

#include "arch/x86_64/io.h"
#include "arch/x86_64/trap.h"
#include "include/arch.h"
#include "kernel/sched.h"

/* Selectors: SYSCALL loads CS/SS from STAR[47:32] (+8); SYSRET would load
 * SS = STAR[63:48] + 8 and CS = STAR[63:48] + 16, hence this order. */
#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define USER_DS   0x18 /* | 3 */
#define USER_CS   0x20 /* | 3 */
#define TSS_SEL   0x28

#define MSR_EFER    0xc0000080
#define EFER_SCE    (1ull << 0)
#define MSR_STAR    0xc0000081
#define MSR_LSTAR   0xc0000082
#define MSR_SFMASK  0xc0000084
#define MSR_FS_BASE 0xc0000100
/* cleared on SYSCALL: IF (interrupts), TF, DF, AC, NT */
#define SFMASK_BITS ((1u << 9) | (1u << 8) | (1u << 10) | (1u << 18) | (1u << 14))

#define IST_DOUBLE_FAULT  1
#define IST_NMI           2
#define IST_MACHINE_CHECK 3

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3]; /* rsp[0]: where ring 3 enters ring 0 */
	uint64_t reserved1;
	uint64_t ist[7]; /* interrupt stack table, IST1..IST7 */
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base; /* past the limit: no I/O bitmap */
} __attribute__((packed));
_Static_assert(sizeof(struct tss) == 104, "64-bit TSS is 104 bytes");
_Static_assert(__builtin_offsetof(struct tss, ist) == 36, "IST1 at offset 36");

struct idt_gate {
	uint16_t offset_low;
	uint16_t selector;
	uint8_t ist;       /* IST index, 0 = current stack */
	uint8_t type_attr; /* present, DPL 0, interrupt gate (0x8e) */
	uint16_t offset_mid;
	uint32_t offset_high;
	uint32_t zero;
} __attribute__((packed));
_Static_assert(sizeof(struct idt_gate) == 16, "IDT gate is 16 bytes");

struct table_pointer {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

/* null, kernel code, kernel data, user data, user code, TSS (2) */
static void syscall_init(void);

static uint64_t gdt[7] __attribute__((aligned(16)));
static struct tss tss __attribute__((aligned(16)));
static struct idt_gate idt[256] __attribute__((aligned(16)));

static void gdt_init(void *ist_stacks, size_t ist_stack_size)
{
	uint64_t base = (uint64_t)(uintptr_t)&tss, limit = sizeof(tss) - 1;
	struct table_pointer gdtr = { sizeof(gdt) - 1, (uint64_t)(uintptr_t)gdt };

	/* IST stacks grow down from the end of each slice. */
	memset(&tss, 0, sizeof(tss));
	for (int i = 0; i < ARCH_IST_STACKS; i++)
		tss.ist[i] = (uint64_t)(uintptr_t)ist_stacks + (i + 1) * ist_stack_size;
	tss.iomap_base = sizeof(tss);

	gdt[0] = 0;
	gdt[1] = 0x00af9a000000ffffull; /* 64-bit code, DPL 0 */
	gdt[2] = 0x00cf92000000ffffull; /* data, DPL 0 */
	gdt[3] = 0x00cff2000000ffffull; /* data, DPL 3 */
	gdt[4] = 0x00affa000000ffffull; /* 64-bit code, DPL 3 */
	gdt[5] = (limit & 0xffff) | ((base & 0xffffff) << 16) |
	         (0x89ull << 40) | /* present, 64-bit TSS (available) */
	         (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	gdt[6] = base >> 32;

	__asm__ volatile("lgdt %0\n\t"
	                 "pushq %1\n\t"
	                 "leaq 1f(%%rip), %%rax\n\t"
	                 "pushq %%rax\n\t"
	                 "lretq\n"
	                 "1:\n\t"
	                 "movw %w2, %%ax\n\t"
	                 "movw %%ax, %%ds\n\t"
	                 "movw %%ax, %%es\n\t"
	                 "movw %%ax, %%ss\n\t"
	                 "movw %%ax, %%fs\n\t"
	                 "movw %%ax, %%gs\n\t"
	                 "ltr %w3"
	                 :
	                 : "m"(gdtr), "i"(KERNEL_CS), "r"(KERNEL_DS), "r"(TSS_SEL)
	                 : "rax", "memory");
}

static void idt_set(int vector, uint8_t ist)
{
	uint64_t handler = (uint64_t)(uintptr_t)x86_trap_stubs + (uint64_t)vector * TRAP_STUB_SIZE;

	idt[vector] = (struct idt_gate){
		.offset_low = handler & 0xffff,
		.selector = KERNEL_CS,
		.ist = ist,
		.type_attr = 0x8e,
		.offset_mid = (handler >> 16) & 0xffff,
		.offset_high = handler >> 32,
	};
}

static void idt_init(void)
{
	struct table_pointer idtr = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };

	for (int v = 0; v < 256; v++)
		idt_set(v, 0);
	idt_set(2, IST_NMI);
	idt_set(8, IST_DOUBLE_FAULT);
	idt_set(18, IST_MACHINE_CHECK);
	__asm__ volatile("lidt %0" : : "m"(idtr) : "memory");
}

void arch_cpu_init(void *ist_stacks, size_t ist_stack_size)
{
	arch_irq_disable();
	gdt_init(ist_stacks, ist_stack_size);
	idt_init();
	syscall_init();
}

void arch_set_kernel_stack(uintptr_t top, uintptr_t limit)
{
	tss.rsp[0] = top; /* where ring 3 enters ring 0 */
	x86_kernel_entry_sp = top;
}

/* SYSCALL/SYSRET (Intel SDM vol. 3 §5.8.8): entry at x86_syscall_entry
 * with interrupts off; STAR's selectors as above. */
static void syscall_init(void)
{
	wrmsr(MSR_STAR, (uint64_t)(USER_DS - 8) << 48 | (uint64_t)KERNEL_CS << 32);
	wrmsr(MSR_LSTAR, (uint64_t)(uintptr_t)x86_syscall_entry);
	wrmsr(MSR_SFMASK, SFMASK_BITS);
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
}

void arch_user_tls_set(uint64_t value)
{
	wrmsr(MSR_FS_BASE, value);
}

uint64_t arch_user_tls_get(void)
{
	return rdmsr(MSR_FS_BASE);
}

void arch_user_enter(uint64_t pc, uint64_t sp)
{
	uintptr_t top = arch_stack_pointer() & ~15ull;
	struct trap_frame *f = (struct trap_frame *)(top - 256) - 1;

	top -= 256; /* the caller's frames stay untouched above */
	memset(f, 0, sizeof(*f));
	f->rip = pc;
	f->cs = USER_CS | 3;
	f->rflags = 0x202; /* IF */
	f->rsp = sp;
	f->ss = USER_DS | 3;
	arch_irq_disable();
	sched_current()->kernel_entry_sp = top;
	arch_set_kernel_stack(top, 0);
	x86_enter_user(f);
}

void arch_user_resume(const struct trap_frame *src, const void *fpu)
{
	uintptr_t top = arch_stack_pointer() & ~15ull;
	struct trap_frame *f = (struct trap_frame *)(top - 256) - 1;
	uint8_t fx[512] __attribute__((aligned(16)));

	top -= 256;
	*f = *src;
	f->cs = USER_CS | 3;
	f->ss = USER_DS | 3;
	f->rflags = (f->rflags & 0xcd5) | 0x202; /* user flags only, IF on */
	if (fpu) {
		memcpy(fx, fpu, sizeof(fx));
		arch_fpu_sanitize(fx);
	}
	arch_irq_disable();
	sched_current()->kernel_entry_sp = top;
	arch_set_kernel_stack(top, 0);
	if (fpu)
		x86_enter_user_fpu(f, fx);
	x86_enter_user(f);
}

void arch_irq_enable(void)
{
	__asm__ volatile("sti" ::: "memory");
}

void arch_irq_disable(void)
{
	__asm__ volatile("cli" ::: "memory");
}

bool arch_irq_enabled(void)
{
	uint64_t flags;

	__asm__ volatile("pushfq; popq %0" : "=r"(flags));
	return flags & (1u << 9);
}

void arch_wait_for_interrupt(void)
{
	/* sti takes effect after the next instruction: no lost wake-up. */
	__asm__ volatile("sti; hlt" ::: "memory");
}

bool arch_raise_fault(const char *name)
{
	if (strcmp(name, "ud") == 0) {
		__asm__ volatile("ud2");
	} else if (strcmp(name, "de") == 0) {
		volatile uint32_t zero = 0, x = 1;
		x /= zero;
	} else if (strcmp(name, "gp") == 0) {
		/* a non-canonical address */
		(void)*(volatile uint64_t *)0x8000000000000000ull;
	} else if (strcmp(name, "pf") == 0) {
		/* canonical, but far above any RAM or MMIO the firmware mapped */
		(void)*(volatile uint64_t *)0x00007ffffffff000ull;
	} else if (strcmp(name, "bp") == 0) {
		__asm__ volatile("int3");
		return true;
	} else if (strcmp(name, "df") == 0) {
		/* a fault whose frame cannot be pushed: #PF -> #DF on IST1 */
		__asm__ volatile("movq $0x00007ffffffff000, %%rsp\n\t"
		                 "pushq $0" ::
		                         : "memory");
	} else {
		return false;
	}
	return true;
}
