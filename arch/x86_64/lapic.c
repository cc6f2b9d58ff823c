/*
 * lapic.c -- interrupt controllers on x86_64: the legacy 8259 PICs are
 * remapped away from the exception vectors and masked, the local APIC is
 * enabled in xAPIC mode with a spurious vector (Intel SDM vol. 3 §10.4).
 * MSI-X from virtio devices lands here (issue 5).
 */
#include "arch/x86_64/io.h"
#include "arch/x86_64/trap.h"
#include "include/arch.h"
#include "include/platform.h"
#include "kernel/kernel.h"

#define IA32_APIC_BASE   0x1b
#define APIC_BASE_ENABLE (1u << 11)
#define APIC_BASE_X2APIC (1u << 10)

#define LAPIC_ID        0x020
#define LAPIC_VERSION   0x030
#define LAPIC_TPR       0x080
#define LAPIC_EOI       0x0b0
#define LAPIC_SVR       0x0f0
#define LAPIC_ESR       0x280
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERROR 0x370
#define LVT_MASKED      (1u << 16)
#define LVT_NMI         (4u << 8)
#define SVR_ENABLE      (1u << 8)

#define PIC1_CMD  0x20
#define PIC1_DATA 0x21
#define PIC2_CMD  0xa0
#define PIC2_DATA 0xa1

static uintptr_t lapic_base; /* MMIO base, identity-mapped */

uint32_t x86_lapic_read(uint32_t reg)
{
	return mmio_read32(lapic_base + reg);
}

void x86_lapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(lapic_base + reg, v);
}

#define lapic_read  x86_lapic_read
#define lapic_write x86_lapic_write

uint32_t x86_lapic_id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}

void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

/* ICW1..ICW4: cascade, vectors 0x20/0x28, 8086 mode; then mask all. */
static void pic_disable(void)
{
	outb(PIC1_CMD, 0x11);
	outb(PIC2_CMD, 0x11);
	outb(PIC1_DATA, IRQ_VECTOR_FIRST);
	outb(PIC2_DATA, IRQ_VECTOR_FIRST + 8);
	outb(PIC1_DATA, 4);
	outb(PIC2_DATA, 2);
	outb(PIC1_DATA, 0x01);
	outb(PIC2_DATA, 0x01);
	outb(PIC1_DATA, 0xff);
	outb(PIC2_DATA, 0xff);
}

int arch_interrupts_init(const struct acpi *acpi)
{
	uint64_t base = rdmsr(IA32_APIC_BASE);

	pic_disable();
	if (base & APIC_BASE_X2APIC) {
		kprintf("lapic: firmware left x2APIC mode on; not supported yet\n");
		return -1;
	}
	base |= APIC_BASE_ENABLE;
	wrmsr(IA32_APIC_BASE, base);
	lapic_base = base & ~0xfffull;

	lapic_write(LAPIC_TPR, 0);                /* accept every priority */
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED); /* timer.c arms it */
	lapic_write(LAPIC_LVT_LINT0, LVT_MASKED); /* ExtINT from the PIC: off */
	lapic_write(LAPIC_LVT_LINT1, LVT_NMI);    /* LINT1 stays NMI */
	lapic_write(LAPIC_LVT_ERROR, APIC_ERROR_VECTOR);
	lapic_write(LAPIC_ESR, 0);
	lapic_write(LAPIC_SVR, SVR_ENABLE | SPURIOUS_VECTOR);
	lapic_eoi(); /* clear anything stale */
	return 0;
}

void arch_report(void)
{
	kprintf("cpu: own GDT+TSS (IST for #DF, NMI, #MC) and IDT (256 vectors) "
	        "installed\n");
	kprintf("irq: 8259 PIC masked; LAPIC id %u version %#x at %#llx enabled "
	        "(spurious vector %#x)\n",
	        lapic_read(LAPIC_ID) >> 24, lapic_read(LAPIC_VERSION) & 0xff,
	        (unsigned long long)lapic_base, SPURIOUS_VECTOR);
}
