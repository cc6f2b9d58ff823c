/*
 * traps.c -- aarch64 exception reporting: exception class, ESR, FAR, ELR
 * and all registers on the serial console.  BRK resumes after the
 * instruction; everything else powers off with the panic code.
 */
#include <stdint.h>

#include "arch/aarch64/gic.h"
#include "arch/aarch64/trap.h"
#include "kernel/kernel.h"
#include "kernel/sched.h"

static const char *const entry_names[16] = {
	"sync (EL1, SP0)", "IRQ (EL1, SP0)", "FIQ (EL1, SP0)", "SError (EL1, SP0)",
	"sync (EL1, SPx)", "IRQ (EL1, SPx)", "FIQ (EL1, SPx)", "SError (EL1, SPx)",
	"sync (EL0, A64)", "IRQ (EL0, A64)", "FIQ (EL0, A64)", "SError (EL0, A64)",
	"sync (EL0, A32)", "IRQ (EL0, A32)", "FIQ (EL0, A32)", "SError (EL0, A32)",
};

#define EC_UNKNOWN 0x00
#define EC_BRK64 0x3c

static const char *class_name(unsigned ec)
{
	switch (ec) {
	case 0x00: return "unknown instruction";
	case 0x01: return "WFI/WFE";
	case 0x07: return "FP/SIMD access";
	case 0x0e: return "illegal execution state";
	case 0x15: return "SVC";
	case 0x16: return "HVC";
	case 0x17: return "SMC";
	case 0x18: return "system register access";
	case 0x20: return "instruction abort (lower EL)";
	case 0x21: return "instruction abort";
	case 0x22: return "PC alignment";
	case 0x24: return "data abort (lower EL)";
	case 0x25: return "data abort";
	case 0x26: return "SP alignment";
	case 0x2f: return "SError";
	case 0x3c: return "BRK";
	}
	return "other";
}

static void dump_frame(const struct trap_frame *f)
{
	kprintf("  ELR=%016llx SPSR=%08llx SP=%016llx\n",
		(unsigned long long)f->elr, (unsigned long long)f->spsr,
		(unsigned long long)f->sp);
	for (int i = 0; i < 30; i += 3)
		kprintf("  X%-2d=%016llx X%-2d=%016llx X%-2d=%016llx\n", i,
			(unsigned long long)f->x[i], i + 1,
			(unsigned long long)f->x[i + 1], i + 2,
			(unsigned long long)f->x[i + 2]);
	kprintf("  X30=%016llx\n", (unsigned long long)f->x[30]);
}

void aarch64_trap(struct trap_frame *f, uint64_t type)
{
	unsigned ec = (f->esr >> 26) & 0x3f;

	if (type == 16) /* vectors.S: no room left above the stack limit */
		sched_stack_overflow(f->far, f->elr);
	if ((type & 3) == 1) { /* IRQ */
		gic_handle_irq();
		return;
	}
	kprintf("\nEXCEPTION %s: class %#x (%s) ESR=%#llx FAR=%#llx ELR=%#llx\n",
		entry_names[type & 15], ec, class_name(ec),
		(unsigned long long)f->esr, (unsigned long long)f->far,
		(unsigned long long)f->elr);
	dump_frame(f);
	if ((type & 3) == 0 && ec == EC_BRK64) {
		kprintf("  breakpoint: resuming\n");
		f->elr += 4;
		return;
	}
	panic("unhandled exception (%s, class %#x)", entry_names[type & 15], ec);
}
