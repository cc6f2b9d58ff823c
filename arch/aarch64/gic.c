/*
 * gic.c -- aarch64 interrupts: an Arm GICv2 distributor and CPU interface
 * (GIC architecture spec v2, IHI 0048B §4) found through ACPI MADT, with
 * message-signalled interrupts through a GICv2m MSI frame (MADT type 0xD;
 * QEMU -M virt with the default gic-version=2 has one at 0x08020000).
 *
 * Device "vectors" are SPI numbers from the MSI frame's range: an MSI-X
 * entry writes the SPI number to the frame's SETSPI register.  The
 * generic timer's PPI is routed to the clock (timer.c).  Every interrupt
 * is acknowledged through GICC_IAR, handled, ended through GICC_EOIR, and
 * then the scheduler may switch tasks.
 */
#include <errno.h>
#include <stdint.h>

#include "arch/aarch64/gic.h"
#include "include/platform.h"
#include "kernel/acpi.h"
#include "kernel/kernel.h"
#include "kernel/sched.h"

/* distributor */
#define GICD_CTLR         0x000
#define GICD_TYPER        0x004
#define GICD_ISENABLER    0x100
#define GICD_ICENABLER    0x180
#define GICD_ICPENDR      0x280
#define GICD_IPRIORITYR   0x400
#define GICD_ITARGETSR    0x800
#define GICD_ICFGR        0xc00
/* CPU interface */
#define GICC_CTLR         0x000
#define GICC_PMR          0x004
#define GICC_BPR          0x008
#define GICC_IAR          0x00c
#define GICC_EOIR         0x010
/* GICv2m MSI frame */
#define V2M_MSI_TYPER     0x008
#define V2M_MSI_SETSPI_NS 0x040

#define MAX_INTID      1020
#define SPURIOUS_INTID 1023
#define FIRST_SPI      32
#define PRIORITY       0xa0

struct irq_slot {
	irq_handler_fn handler; /* NULL: free */
	void *arg;
	const char *name;
	uint64_t count; /* interrupts taken */
};

static uintptr_t gicd, gicc;          /* register bases */
static uintptr_t msi_frame;           /* v2m frame, 0 if none */
static unsigned msi_first, msi_count; /* SPIs the frame can raise */
static unsigned lines;                /* interrupt IDs the distributor has */
static unsigned timer_intid;          /* virtual timer PPI */
static struct irq_slot slots[MAX_INTID];
static uint64_t total;    /* every interrupt taken */
static uint64_t spurious; /* IAR said 1023 */

static void set_priority(unsigned intid, uint8_t prio)
{
	mmio_write8(gicd + GICD_IPRIORITYR + intid, prio);
}

static void enable(unsigned intid)
{
	mmio_write32(gicd + GICD_ISENABLER + 4 * (intid / 32), 1u << (intid % 32));
}

static void disable(unsigned intid)
{
	mmio_write32(gicd + GICD_ICENABLER + 4 * (intid / 32), 1u << (intid % 32));
}

static void set_edge(unsigned intid, bool edge)
{
	uintptr_t reg = gicd + GICD_ICFGR + 4 * (intid / 16);
	uint32_t shift = 2 * (intid % 16) + 1, v = mmio_read32(reg);

	mmio_write32(reg, edge ? v | (1u << shift) : v & ~(1u << shift));
}

int arch_interrupts_init(const struct acpi *acpi)
{
	struct acpi_gic_info info;

	if (acpi_parse_gic(acpi, &info) != 0 || !info.gicc_base) {
		kprintf("gic: MADT describes no GIC distributor and CPU interface\n");
		return -ENODEV;
	}
	if (info.version != 2 && info.version != 0) {
		kprintf("gic: GICv%u is not supported yet (GICv2 only: QEMU -M "
		        "virt,gic-version=2)\n",
		        info.version);
		return -ENOSYS;
	}
	gicd = info.gicd_base;
	gicc = info.gicc_base;
	timer_intid = info.virtual_timer_gsiv;
	lines = 32 * ((mmio_read32(gicd + GICD_TYPER) & 0x1f) + 1);
	if (lines > MAX_INTID)
		lines = MAX_INTID;

	/* Distributor off while it is reprogrammed: everything disabled,
	 * nothing pending, every SPI to CPU 0 at one priority. */
	mmio_write32(gicd + GICD_CTLR, 0);
	for (unsigned i = 0; i < lines; i += 32) {
		mmio_write32(gicd + GICD_ICENABLER + i / 8, 0xffffffffu);
		mmio_write32(gicd + GICD_ICPENDR + i / 8, 0xffffffffu);
	}
	for (unsigned i = 0; i < lines; i++)
		set_priority(i, PRIORITY);
	for (unsigned i = FIRST_SPI; i < lines; i++)
		mmio_write8(gicd + GICD_ITARGETSR + i, 1);
	mmio_write32(gicd + GICD_CTLR, 1);

	mmio_write32(gicc + GICC_PMR, 0xf0); /* accept priorities below 0xf0 */
	mmio_write32(gicc + GICC_BPR, 0);
	mmio_write32(gicc + GICC_CTLR, 1);

	if (info.msi_frame_base) {
		uint32_t typer;

		msi_frame = info.msi_frame_base;
		typer = mmio_read32(msi_frame + V2M_MSI_TYPER);
		msi_first = info.msi_spi_override ? info.msi_spi_base : (typer >> 16) & 0x3ff;
		msi_count = info.msi_spi_override ? info.msi_spi_count : typer & 0x3ff;
		if (msi_first < FIRST_SPI || msi_first + msi_count > lines) {
			kprintf("gic: MSI frame SPIs %u+%u outside the distributor's %u\n",
			        msi_first, msi_count, lines);
			msi_count = 0;
		}
	}
	return 0;
}

void arch_report(void)
{
	uint64_t midr, vbar;

	__asm__ volatile("mrs %0, midr_el1" : "=r"(midr));
	__asm__ volatile("mrs %0, vbar_el1" : "=r"(vbar));
	kprintf("cpu: EL1, MIDR %#llx, own vector table at VBAR_EL1=%#llx\n",
	        (unsigned long long)midr, (unsigned long long)vbar);
	kprintf("irq: GICv2 distributor %#lx (%u interrupt IDs), CPU interface %#lx, "
	        "MSI frame %#lx with SPIs %u..%u\n",
	        (unsigned long)gicd, lines, (unsigned long)gicc, (unsigned long)msi_frame,
	        msi_first, msi_first + msi_count - 1);
}

int gic_attach_timer(irq_handler_fn handler)
{
	if (!gicd || timer_intid < 16 || timer_intid >= FIRST_SPI) {
		kprintf("gic: timer interrupt %u is not a PPI\n", timer_intid);
		return -ENODEV;
	}
	slots[timer_intid] = (struct irq_slot){ handler, NULL, "timer", 0 };
	enable(timer_intid);
	return 0;
}

unsigned gic_timer_intid(void)
{
	return timer_intid;
}

int arch_irq_alloc(irq_handler_fn handler, void *arg, const char *name)
{
	for (unsigned spi = msi_first; spi < msi_first + msi_count; spi++) {
		if (slots[spi].handler)
			continue;
		slots[spi] = (struct irq_slot){ handler, arg, name, 0 };
		set_edge(spi, true); /* MSIs are edges */
		enable(spi);
		return (int)spi;
	}
	kprintf("irq: no free MSI interrupt for %s (frame has %u)\n", name, msi_count);
	return -ENOSPC;
}

void arch_irq_free(int vector)
{
	if (vector >= FIRST_SPI && vector < (int)lines) {
		disable((unsigned)vector);
		slots[vector].handler = NULL;
	}
}

void arch_msi_message(int vector, uint64_t *address, uint32_t *data)
{
	*address = msi_frame + V2M_MSI_SETSPI_NS;
	*data = (uint32_t)vector;
}

uint64_t arch_irq_count(int vector)
{
	return vector >= 0 && vector < MAX_INTID ? slots[vector].count : 0;
}

uint64_t arch_irq_total(void)
{
	return total;
}

/* From the IRQ exception vector, interrupts masked. */
void gic_handle_irq(void)
{
	uint32_t iar = mmio_read32(gicc + GICC_IAR);
	unsigned intid = iar & 0x3ff;

	if (intid >= MAX_INTID) {
		spurious++;
		return;
	}
	total++;
	slots[intid].count++;
	if (slots[intid].handler)
		slots[intid].handler(slots[intid].arg);
	else
		disable(intid); /* nobody wants it: stop it from recurring */
	mmio_write32(gicc + GICC_EOIR, iar);
	sched_irq_exit();
}
