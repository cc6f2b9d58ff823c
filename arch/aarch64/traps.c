/*
 * traps.c -- aarch64 exception reporting: exception class, ESR, FAR, ELR
 * and all registers on the serial console.  BRK resumes after the
 * instruction; everything else powers off with the panic code.
 */
#include <stdint.h>
#include <string.h>

#include "arch/aarch64/gic.h"
#include "arch/aarch64/trap.h"
#include "kernel/kernel.h"
#include "kernel/sched.h"
#include "kernel/user.h"

static const char *const entry_names[16] = {
	"sync (EL1, SP0)", "IRQ (EL1, SP0)", "FIQ (EL1, SP0)", "SError (EL1, SP0)",
	"sync (EL1, SPx)", "IRQ (EL1, SPx)", "FIQ (EL1, SPx)", "SError (EL1, SPx)",
	"sync (EL0, A64)", "IRQ (EL0, A64)", "FIQ (EL0, A64)", "SError (EL0, A64)",
	"sync (EL0, A32)", "IRQ (EL0, A32)", "FIQ (EL0, A32)", "SError (EL0, A32)",
};

#define EC_UNKNOWN 0x00
#define EC_BRK64   0x3c

static const char *class_name(unsigned ec)
{
	switch (ec) {
	case 0x00:
		return "unknown instruction";
	case 0x01:
		return "WFI/WFE";
	case 0x07:
		return "FP/SIMD access";
	case 0x0e:
		return "illegal execution state";
	case 0x15:
		return "SVC";
	case 0x16:
		return "HVC";
	case 0x17:
		return "SMC";
	case 0x18:
		return "system register access";
	case 0x20:
		return "instruction abort (lower EL)";
	case 0x21:
		return "instruction abort";
	case 0x22:
		return "PC alignment";
	case 0x24:
		return "data abort (lower EL)";
	case 0x25:
		return "data abort";
	case 0x26:
		return "SP alignment";
	case 0x2f:
		return "SError";
	case 0x3c:
		return "BRK";
	}
	return "other";
}

static void dump_frame(const struct trap_frame *f)
{
	kprintf("  ELR=%016llx SPSR=%08llx SP=%016llx\n", (unsigned long long)f->elr,
	        (unsigned long long)f->spsr, (unsigned long long)f->sp);
	for (int i = 0; i < 30; i += 3)
		kprintf("  X%-2d=%016llx X%-2d=%016llx X%-2d=%016llx\n", i,
		        (unsigned long long)f->x[i], i + 1, (unsigned long long)f->x[i + 1], i + 2,
		        (unsigned long long)f->x[i + 2]);
	kprintf("  X30=%016llx\n", (unsigned long long)f->x[30]);
}

/* A synchronous exception from EL0 other than SVC ends the process. */
static void user_exception(struct trap_frame *f, unsigned ec)
{
	unsigned fsc = f->esr & 0x3f;

	switch (ec) {
	case 0x24: /* data abort */
		if ((fsc & 0x3c) == 0x04 && user_stack_fault(f->far))
			return; /* translation fault below the stack: it grew */
		if (fsc == 0x21)
			user_fault(SIGNAL_BUS, "alignment fault", f->far, f->elr);
		user_fault(SIGNAL_SEGV, "data abort", f->far, f->elr);
		break;
	case 0x20: /* instruction abort */
		user_fault(SIGNAL_SEGV, "instruction abort", f->far, f->elr);
		break;
	case 0x22:
		user_fault(SIGNAL_BUS, "PC alignment fault", f->elr, f->elr);
		break;
	case 0x26:
		user_fault(SIGNAL_BUS, "SP alignment fault", f->sp_el0, f->elr);
		break;
	case 0x28:
	case 0x2c:
		user_fault(SIGNAL_FPE, "floating-point exception", 0, f->elr);
		break;
	case 0x30:
	case 0x32:
	case 0x34:
	case 0x3c:
		user_fault(SIGNAL_TRAP, class_name(ec), 0, f->elr);
		break;
	case 0x18:
		user_fault(SIGNAL_ILL, "privileged system register access", 0, f->elr);
		break;
	default:
		user_fault(SIGNAL_ILL,
		           ec == 0 ? "undefined or privileged instruction" : class_name(ec), 0,
		           f->elr);
	}
}

void aarch64_trap(struct trap_frame *f, uint64_t type)
{
	unsigned ec = (f->esr >> 26) & 0x3f;
	bool from_user = type >= 8 && type < 12;

	if (type == 16) /* vectors.S: no room left above the stack limit */
		sched_stack_overflow(f->far, f->elr);
	if ((type & 3) == 1) { /* IRQ */
		gic_handle_irq();
		if (from_user)
			user_return(f);
		return;
	}
	if (from_user) {
		if ((type & 3) == 0 && ec == 0x15) {                      /* SVC from AArch64 */
			__asm__ volatile("msr daifclr, #2" ::: "memory"); /* interruptible */
			syscall_dispatch(f);
			__asm__ volatile("msr daifset, #2" ::: "memory");
		} else if ((type & 3) == 0) {
			user_exception(f, ec);
		} else {
			user_fault(SIGNAL_BUS, "SError or FIQ", 0, f->elr);
		}
		user_return(f);
		return;
	}
	kprintf("\nEXCEPTION %s: class %#x (%s) ESR=%#llx FAR=%#llx ELR=%#llx\n",
	        entry_names[type & 15], ec, class_name(ec), (unsigned long long)f->esr,
	        (unsigned long long)f->far, (unsigned long long)f->elr);
	dump_frame(f);
	if ((type & 3) == 0 && ec == EC_BRK64) {
		kprintf("  breakpoint: resuming\n");
		f->elr += 4;
		return;
	}
	panic("unhandled exception (%s, class %#x)", entry_names[type & 15], ec);
}

/* ---- system-call registers (Linux arm64: number in x8, arguments in
 * x0..x5, the result in x0) ---- */

uint64_t arch_syscall_number(const struct trap_frame *f)
{
	return f->x[8];
}

uint64_t arch_syscall_arg(const struct trap_frame *f, unsigned n)
{
	return n < 6 ? f->x[n] : 0;
}

void arch_syscall_set_return(struct trap_frame *f, uint64_t value)
{
	f->x[0] = value;
}

void arch_syscall_restart(struct trap_frame *f, uint64_t nr, uint64_t arg0)
{
	f->elr -= 4; /* svc #0 */
	f->x[0] = arg0;
	f->x[8] = nr;
}

uint64_t arch_frame_pc(const struct trap_frame *f)
{
	return f->elr;
}

uint64_t arch_frame_sp(const struct trap_frame *f)
{
	return f->sp_el0;
}

void arch_frame_call(struct trap_frame *f, uint64_t pc, uint64_t sp, uint64_t a0, uint64_t a1,
                     uint64_t a2, uint64_t ret)
{
	f->elr = pc;
	f->sp_el0 = sp;
	f->x[0] = a0;
	f->x[1] = a1;
	f->x[2] = a2;
	f->x[30] = ret;
}

bool arch_call_pushes_return(void)
{
	return false;
}

size_t arch_frame_size(void)
{
	return sizeof(struct trap_frame);
}

void arch_frame_restore(struct trap_frame *f, const void *saved)
{
	uint64_t sp = f->sp;

	memcpy(f, saved, sizeof(*f));
	f->sp = sp;
	f->spsr &= 0xf0000000ull; /* NZCV only: EL0t, nothing masked */
}

size_t arch_sigreturn_code(uint8_t *buf, size_t len)
{
	static const uint32_t code[] = { 0xd2801168,   /* mov x8, #139 (rt_sigreturn) */
		                         0xd4000001 }; /* svc #0 */

	if (len < sizeof(code))
		return 0;
	memcpy(buf, code, sizeof(code));
	return sizeof(code);
}

size_t arch_frame_fpu(struct trap_frame *f, void **state)
{
	*state = NULL;
	return 0; /* q0-q31, FPSR and FPCR are in the frame */
}

size_t arch_fpu_size(void)
{
	return 0;
}

void arch_frame_set_sp(struct trap_frame *f, uint64_t sp)
{
	f->sp_el0 = sp;
}

void arch_frame_exec(struct trap_frame *f, uint64_t pc, uint64_t sp)
{
	uint64_t ksp = f->sp;

	memset(f, 0, sizeof(*f));
	f->sp = ksp;
	f->elr = pc;
	f->sp_el0 = sp;
}

void arch_fpu_sanitize(void *state)
{
}
