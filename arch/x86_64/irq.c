/*
 * irq.c -- x86_64 device interrupt vectors and MSI messages
 * (Intel SDM vol. 3 §10.11: MSI address 0xFEE0_0000 | dest APIC id << 12,
 * data = vector, fixed delivery, edge trigger).
 *
 * Vectors 0x30..0xef are handed to drivers; the timer, APIC error and
 * spurious vectors are fixed above them.
 */
#include <errno.h>

#include "arch/x86_64/io.h"
#include "arch/x86_64/trap.h"
#include "include/arch.h"
#include "kernel/kernel.h"

#define DEVICE_VECTOR_FIRST 0x30
#define DEVICE_VECTOR_LAST  0xef
#define MSI_ADDRESS_BASE    0xfee00000ull

struct irq_slot {
	irq_handler_fn handler; /* NULL: free */
	void *arg;              /* handler's argument */
	const char *name;       /* for reports */
	uint64_t count;         /* interrupts taken */
};

static struct irq_slot slots[256];
static uint64_t total;      /* every vector >= 32 */
static uint64_t unexpected; /* vectors nobody registered */

int arch_irq_alloc(irq_handler_fn handler, void *arg, const char *name)
{
	for (int v = DEVICE_VECTOR_FIRST; v <= DEVICE_VECTOR_LAST; v++) {
		if (slots[v].handler)
			continue;
		slots[v] = (struct irq_slot){ handler, arg, name, 0 };
		return v;
	}
	kprintf("irq: no free vector for %s\n", name);
	return -ENOSPC;
}

void x86_irq_set_fixed(int vector, irq_handler_fn handler, void *arg, const char *name)
{
	slots[vector] = (struct irq_slot){ handler, arg, name, 0 };
}

void arch_irq_free(int vector)
{
	if (vector >= DEVICE_VECTOR_FIRST && vector <= DEVICE_VECTOR_LAST)
		slots[vector].handler = NULL;
}

void arch_msi_message(int vector, uint64_t *address, uint32_t *data)
{
	uint32_t apic_id = x86_lapic_id();

	*address = MSI_ADDRESS_BASE | ((uint64_t)apic_id << 12);
	*data = (uint32_t)vector; /* fixed delivery, edge */
}

uint64_t arch_irq_count(int vector)
{
	return vector >= 0 && vector < 256 ? slots[vector].count : 0;
}

uint64_t arch_irq_total(void)
{
	return total;
}

/* Called by x86_trap for vectors >= 32, interrupts off. */
void x86_irq_dispatch(unsigned vector)
{
	struct irq_slot *slot = &slots[vector];

	total++;
	slot->count++;
	if (vector == SPURIOUS_VECTOR)
		return; /* no EOI for spurious interrupts */
	if (slot->handler) {
		slot->handler(slot->arg);
	} else if (unexpected++ < 8) {
		kprintf("irq: unexpected interrupt on vector %u\n", vector);
	}
	if (vector >= DEVICE_VECTOR_FIRST) /* below: masked 8259, spurious only */
		lapic_eoi();
}
