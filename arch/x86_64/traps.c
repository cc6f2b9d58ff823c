/*
 * traps.c -- x86_64 exception reporting and interrupt dispatch.
 *
 * Every exception reports its vector, name, error code, RIP, CR2 and all
 * registers on the serial console.  #BP resumes (it is a trap); NMI is
 * reported and resumed; everything else powers off with the panic code.
 * Interrupt vectors (32..255) go to the handler registered for them, then
 * the LAPIC gets its EOI.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arch/x86_64/io.h"
#include "arch/x86_64/trap.h"
#include "kernel/kernel.h"
#include "kernel/sched.h"
#include "kernel/user.h"

static const char *const exception_names[32] = {
	"#DE divide error",
	"#DB debug",
	"NMI",
	"#BP breakpoint",
	"#OF overflow",
	"#BR bound range",
	"#UD invalid opcode",
	"#NM device not available",
	"#DF double fault",
	"coprocessor segment overrun",
	"#TS invalid TSS",
	"#NP segment not present",
	"#SS stack fault",
	"#GP general protection",
	"#PF page fault",
	"reserved 15",
	"#MF x87 error",
	"#AC alignment check",
	"#MC machine check",
	"#XM SIMD error",
	"#VE virtualization",
	"#CP control protection",
	"reserved 22",
	"reserved 23",
	"reserved 24",
	"reserved 25",
	"reserved 26",
	"reserved 27",
	"#HV hypervisor injection",
	"#VC VMM communication",
	"#SX security",
	"reserved 31",
};

static void dump_frame(const struct trap_frame *f)
{
	kprintf("  RIP=%016llx CS=%04llx RFLAGS=%016llx\n", (unsigned long long)f->rip,
	        (unsigned long long)f->cs, (unsigned long long)f->rflags);
	kprintf("  RSP=%016llx SS=%04llx CR2=%016llx CR3=%016llx\n", (unsigned long long)f->rsp,
	        (unsigned long long)f->ss, (unsigned long long)read_cr2(),
	        (unsigned long long)read_cr3());
	kprintf("  RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n", (unsigned long long)f->rax,
	        (unsigned long long)f->rbx, (unsigned long long)f->rcx, (unsigned long long)f->rdx);
	kprintf("  RSI=%016llx RDI=%016llx RBP=%016llx R8 =%016llx\n", (unsigned long long)f->rsi,
	        (unsigned long long)f->rdi, (unsigned long long)f->rbp, (unsigned long long)f->r8);
	kprintf("  R9 =%016llx R10=%016llx R11=%016llx R12=%016llx\n", (unsigned long long)f->r9,
	        (unsigned long long)f->r10, (unsigned long long)f->r11, (unsigned long long)f->r12);
	kprintf("  R13=%016llx R14=%016llx R15=%016llx CR0=%08llx CR4=%08llx\n",
	        (unsigned long long)f->r13, (unsigned long long)f->r14, (unsigned long long)f->r15,
	        (unsigned long long)read_cr0(), (unsigned long long)read_cr4());
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

/* A privileged instruction at `pc` (#GP from ring 3 without a bad address)? */
static bool privileged_instruction(uint64_t pc)
{
	uint8_t op[2] = { 0, 0 };

	if (user_peek(pc, op, 2) != 0)
		return false;
	switch (op[0]) {
	case 0xf4: /* hlt */
	case 0xfa: /* cli */
	case 0xfb: /* sti */
	case 0xe4:
	case 0xe5:
	case 0xe6:
	case 0xe7: /* in/out imm */
	case 0xec:
	case 0xed:
	case 0xee:
	case 0xef: /* in/out dx */
	case 0x6c:
	case 0x6d:
	case 0x6e:
	case 0x6f: /* ins/outs */
		return true;
	case 0x0f: /* lgdt/lidt/..., clts, mov cr/dr, wrmsr, rdmsr, invd, wbinvd */
		return op[1] == 0x00 || op[1] == 0x01 || op[1] == 0x06 || op[1] == 0x08 ||
		       op[1] == 0x09 || op[1] == 0x20 || op[1] == 0x21 || op[1] == 0x22 ||
		       op[1] == 0x23 || op[1] == 0x30 || op[1] == 0x32;
	}
	return false;
}

/* A fault in ring 3 ends the process with the matching signal. */
static void user_exception(struct trap_frame *f)
{
	uint64_t addr = 0;
	int sig;
	const char *what = exception_names[f->vector];

	switch (f->vector) {
	case 0:
	case 16:
	case 19:
		sig = SIGNAL_FPE;
		break;
	case 6:
		sig = SIGNAL_ILL;
		break;
	case 14:
		if (!(f->error & 1) && user_stack_fault(read_cr2()))
			return; /* not present, below the stack: it grew */
		sig = SIGNAL_SEGV;
		addr = read_cr2();
		break;
	case 13:
		sig = privileged_instruction(f->rip) ? SIGNAL_ILL : SIGNAL_SEGV;
		if (sig == SIGNAL_ILL)
			what = "privileged instruction";
		break;
	case 11:
	case 12:
	case 17:
		sig = SIGNAL_BUS;
		break;
	case 1:
	case 3:
		sig = SIGNAL_TRAP;
		break;
	default:
		sig = SIGNAL_SEGV;
	}
	user_fault(sig, what, addr, f->rip);
}

void x86_trap(struct trap_frame *f)
{
	bool from_user = (f->cs & 3) == 3;

	if (f->vector == SYSCALL_VECTOR) {
		__asm__ volatile("sti" ::: "memory"); /* system calls run interruptible */
		syscall_dispatch(f);
		__asm__ volatile("cli" ::: "memory");
	} else if (f->vector < IRQ_VECTOR_FIRST) {
		if (from_user && f->vector != 2 && f->vector != 18 && f->vector != 8)
			user_exception(f);
		else
			exception(f);
	} else {
		x86_irq_dispatch((unsigned)f->vector);
		/* Interrupts are off and the EOI is done: a good moment to switch. */
		sched_irq_exit();
	}
	if (from_user)
		user_return(f); /* signals, a kill: interrupts off */
}

/* ---- system-call registers (x86-64 psABI A.2.1: number in rax; rdi,
 * rsi, rdx, r10, r8, r9; the result in rax) ---- */

uint64_t arch_syscall_number(const struct trap_frame *f)
{
	return f->rax;
}

uint64_t arch_syscall_arg(const struct trap_frame *f, unsigned n)
{
	const uint64_t args[6] = { f->rdi, f->rsi, f->rdx, f->r10, f->r8, f->r9 };

	return n < 6 ? args[n] : 0;
}

void arch_syscall_set_return(struct trap_frame *f, uint64_t value)
{
	f->rax = value;
}

void arch_syscall_restart(struct trap_frame *f, uint64_t nr, uint64_t arg0)
{
	f->rip -= 2; /* syscall is 0f 05 */
	f->rax = nr;
}

uint64_t arch_frame_pc(const struct trap_frame *f)
{
	return f->rip;
}

uint64_t arch_frame_sp(const struct trap_frame *f)
{
	return f->rsp;
}

/* x86: the return address goes on the stack; the kernel has put it at sp. */
void arch_frame_call(struct trap_frame *f, uint64_t pc, uint64_t sp, uint64_t a0, uint64_t a1,
                     uint64_t a2, uint64_t ret)
{
	f->rip = pc;
	f->rsp = sp;
	f->rdi = a0;
	f->rsi = a1;
	f->rdx = a2;
	f->rax = 0;
	f->rflags &= ~(1ull << 10); /* DF clear, as the ABI wants at a call */
}

size_t arch_frame_size(void)
{
	return sizeof(struct trap_frame);
}

void arch_frame_restore(struct trap_frame *f, const void *saved)
{
	/* user-settable flags only (CF PF AF ZF SF TF DF OF AC ...), IF on */
	const uint64_t user_flags = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 |
	                            0x40000;

	memcpy(f, saved, sizeof(*f));
	f->cs = 0x23;
	f->ss = 0x1b;
	f->rflags = (f->rflags & user_flags) | 0x202;
}

size_t arch_sigreturn_code(uint8_t *buf, size_t len)
{
	static const uint8_t code[] = { 0xb8, 0x0f, 0x00, 0x00, 0x00, /* mov $15, %eax */
		                        0x0f, 0x05 };                 /* syscall */

	if (len < sizeof(code))
		return 0;
	memcpy(buf, code, sizeof(code));
	return sizeof(code);
}

bool arch_call_pushes_return(void)
{
	return true;
}

/* vectors.S: fxsave64 at (frame - 512) & ~15, restored with fxrstor64 on
 * the way out; frames from ring 3 are 16-aligned, so it is frame - 512. */
size_t arch_frame_fpu(struct trap_frame *f, void **state)
{
	*state = (void *)(((uintptr_t)f - 512) & ~(uintptr_t)15);
	return 512;
}

size_t arch_fpu_size(void)
{
	return 512;
}

void arch_frame_set_sp(struct trap_frame *f, uint64_t sp)
{
	f->rsp = sp;
}

void arch_frame_exec(struct trap_frame *f, uint64_t pc, uint64_t sp)
{
	uint8_t *fx;

	memset(f, 0, offsetof(struct trap_frame, vector));
	f->rip = pc;
	f->rsp = sp;
	f->rflags = 0x202;
	arch_frame_fpu(f, (void **)&fx);
	memset(fx, 0, 512);
	fx[0] = 0x7f; /* FCW 0x037f, as after fninit */
	fx[1] = 0x03;
	fx[24] = 0x80; /* MXCSR 0x1f80 */
	fx[25] = 0x1f;
}

void arch_fpu_sanitize(void *state)
{
	uint32_t mxcsr;

	/* reserved MXCSR bits make fxrstor raise #GP in the kernel */
	memcpy(&mxcsr, (uint8_t *)state + 24, 4);
	mxcsr &= 0xffbf;
	memcpy((uint8_t *)state + 24, &mxcsr, 4);
}
