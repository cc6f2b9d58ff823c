/*
 * traps.c -- x86_64 exception reporting and interrupt dispatch.
 *
 * Every exception reports its vector, name, error code, RIP, CR2 and all
 * registers on the serial console.  #BP resumes (it is a trap); NMI is
 * reported and resumed; everything else powers off with the panic code.
 * Interrupt vectors (32..255) go to the handler registered for them, then
 * the LAPIC gets its EOI.
 */
#include <stdint.h>

#include "arch/x86_64/io.h"
#include "arch/x86_64/trap.h"
#include "kernel/kernel.h"
#include "kernel/sched.h"

static const char *const exception_names[32] = {
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint",
	"#OF overflow", "#BR bound range", "#UD invalid opcode",
	"#NM device not available", "#DF double fault",
	"coprocessor segment overrun", "#TS invalid TSS",
	"#NP segment not present", "#SS stack fault",
	"#GP general protection", "#PF page fault", "reserved 15",
	"#MF x87 error", "#AC alignment check", "#MC machine check",
	"#XM SIMD error", "#VE virtualization", "#CP control protection",
	"reserved 22", "reserved 23", "reserved 24", "reserved 25",
	"reserved 26", "reserved 27", "#HV hypervisor injection",
	"#VC VMM communication", "#SX security", "reserved 31",
};

static void dump_frame(const struct trap_frame *f)
{
	kprintf("  RIP=%016llx CS=%04llx RFLAGS=%016llx\n",
		(unsigned long long)f->rip, (unsigned long long)f->cs,
		(unsigned long long)f->rflags);
	kprintf("  RSP=%016llx SS=%04llx CR2=%016llx CR3=%016llx\n",
		(unsigned long long)f->rsp, (unsigned long long)f->ss,
		(unsigned long long)read_cr2(), (unsigned long long)read_cr3());
	kprintf("  RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n",
		(unsigned long long)f->rax, (unsigned long long)f->rbx,
		(unsigned long long)f->rcx, (unsigned long long)f->rdx);
	kprintf("  RSI=%016llx RDI=%016llx RBP=%016llx R8 =%016llx\n",
		(unsigned long long)f->rsi, (unsigned long long)f->rdi,
		(unsigned long long)f->rbp, (unsigned long long)f->r8);
	kprintf("  R9 =%016llx R10=%016llx R11=%016llx R12=%016llx\n",
		(unsigned long long)f->r9, (unsigned long long)f->r10,
		(unsigned long long)f->r11, (unsigned long long)f->r12);
	kprintf("  R13=%016llx R14=%016llx R15=%016llx CR0=%08llx CR4=%08llx\n",
		(unsigned long long)f->r13, (unsigned long long)f->r14,
		(unsigned long long)f->r15, (unsigned long long)read_cr0(),
		(unsigned long long)read_cr4());
}

static void exception(struct trap_frame *f)
{
	/* A kernel stack overflow faults on the guard page; the CPU then
	 * cannot push the #PF frame there either and raises #DF (on IST1). */
	if ((f->vector == 8 || f->vector == 14) && sched_in_guard(read_cr2()))
		sched_stack_overflow(read_cr2(), f->rip);
	kprintf("\nEXCEPTION vector=%llu (%s) error=%#llx rip=%#llx cr2=%#llx\n",
		(unsigned long long)f->vector, exception_names[f->vector],
		(unsigned long long)f->error, (unsigned long long)f->rip,
		(unsigned long long)read_cr2());
	dump_frame(f);
	if (f->vector == 3) {
		kprintf("  breakpoint: resuming\n");
		return;
	}
	if (f->vector == 2) {
		kprintf("  NMI: resuming\n");
		return;
	}
	panic("unhandled exception %llu", (unsigned long long)f->vector);
}

void x86_trap(struct trap_frame *f)
{
	if (f->vector < IRQ_VECTOR_FIRST) {
		exception(f);
		return;
	}
	x86_irq_dispatch((unsigned)f->vector);
	/* Interrupts are off and the EOI is done: a good moment to switch. */
	sched_irq_exit();
}
