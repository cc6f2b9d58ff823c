/*
 * user.c -- user processes (see user.h): loading a static ELF into a new
 * address space, the Linux initial stack, entering user mode, and every
 * way a process ends -- exit, a fault, a fatal signal, a kill -- each
 * landing back in user_run through longjmp with the process's resources
 * freed there, on its own task.
 *
 * Address space (vm.h): fixed-address programs in the low window
 * [0x10000, 32 MiB) with their heap (brk) after them; static-pie at
 * PIE_BASE with the heap after it; mmap below MMAP_TOP, downwards; the
 * stack below STACK_TOP; one page with the rt_sigreturn trampoline at
 * the top (for programs that give no SA_RESTORER, as on aarch64).
 */
#include "kernel/user.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/sha256.h"
#include "include/arch.h"
#include "kernel/elf.h"
#include "kernel/kernel.h"
#include "kernel/sched.h"
#include "kernel/vm.h"

#define PIE_BASE 0x555555554000ull
#define PIE_BRK_MAX (1ull << 30)          /* a static-pie heap may grow 1 GiB */
#define SIGRETURN_PAGE (VM_USER_END - VM_PAGE)
#define STACK_TOP (SIGRETURN_PAGE - VM_PAGE)
#define STACK_BYTES (256ull << 10)        /* mapped up front */
#define STACK_MAX (8ull << 20)            /* grown on demand down to this (RLIMIT_STACK) */
#define MMAP_TOP (STACK_TOP - (64ull << 20))
#define MAX_FILE_BYTES (64u << 20)
#define STACK_BUILD_BYTES (64u << 10)

#define SIG_DFL 0
#define SIG_IGN 1
#define SA_SIGINFO 0x4ull
#define SA_ONSTACK 0x08000000ull
#define SA_RESTART 0x10000000ull
#define SA_NODEFER 0x40000000ull
#define SA_RESETHAND 0x80000000ull
#define SA_RESTORER 0x04000000ull
#define SIGINFO_BYTES 128

#ifdef ARCH_x86_64
#define ELF_MACHINE_HERE ELF_MACHINE_X86_64
#else
#define ELF_MACHINE_HERE ELF_MACHINE_AARCH64
#endif

/* ---- the current process ---- */

struct user_proc *user_current(void)
{
	return sched_current()->user;
}

static void note(struct user_proc *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct user_proc *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->note, p->note_len, fmt, ap);
	va_end(ap);
}

void user_exit(int status)
{
	struct user_proc *p = user_current();

	p->exit_status = status & 0xff;
	longjmp(p->exit_jmp, 1);
}

/* Ended by a signal: 128 + sig, as a shell reports it. */
static __attribute__((noreturn)) void exit_by_signal(struct user_proc *p, int sig)
{
	if (!p->note[0])
		note(p, "killed by signal %d", sig);
	p->exit_status = 128 + sig;
	longjmp(p->exit_jmp, 1);
}

void user_fault(int sig, const char *what, uint64_t addr, uint64_t pc)
{
	struct user_proc *p = user_current();

	note(p, "%s: %s (signal %d) at address %#llx, pc %#llx", p->exe, what, sig,
	     (unsigned long long)addr, (unsigned long long)pc);
	kprintf("user: %s\n", p->note);
	exit_by_signal(p, sig);
}

bool user_stack_fault(uint64_t addr)
{
	struct user_proc *p = user_current();

	return p && vm_grow(p->as, addr);
}

int user_peek(uint64_t va, void *buf, size_t len)
{
	struct user_proc *p = user_current();

	return p ? vm_copy_in(p->as, buf, va, len) : -EFAULT;
}

void user_raise(int sig)
{
	struct user_proc *p = user_current();

	if (sig > 0 && sig <= SIGNAL_MAX)
		p->pending |= 1ull << (sig - 1);
}

/* ---- signals ---- */

static bool default_ignores(int sig)
{
	return sig == SIGNAL_CHLD || sig == 23 /* URG */ || sig == 28 /* WINCH */;
}

/* Run the handler of `sig` on return to user mode: the interrupted frame
 * and mask go on the user stack (siginfo, then our ucontext), the
 * handler returns into rt_sigreturn. */
static void deliver(struct user_proc *p, struct trap_frame *f, int sig)
{
	struct user_sigaction *a = &p->actions[sig];
	size_t fsize = arch_frame_size();
	uint8_t info[SIGINFO_BYTES] = { 0 };
	uint64_t sp = arch_frame_sp(f), ret, info_at, uc_at, uc_header[5];
	bool pushes = arch_call_pushes_return();
	void *fpu;
	size_t fpsize = arch_frame_fpu(f, &fpu);

	if ((a->flags & SA_ONSTACK) && p->altstack_size && !(p->altstack_flags & 1))
		sp = p->altstack_sp + p->altstack_size;
	sp -= 128; /* the x86 red zone; harmless elsewhere */
	sp -= SIGINFO_BYTES + sizeof(uc_header) + fsize + 8 + fpsize;
	sp &= ~15ull;
	info_at = sp;
	uc_at = sp + SIGINFO_BYTES;
	ret = (a->flags & SA_RESTORER) ? a->restorer : p->sigreturn_page;
	memcpy(info, &sig, sizeof(int));   /* si_signo; si_errno, si_code 0 (SI_USER) */
	uc_header[0] = 0;                   /* uc_flags */
	uc_header[1] = 0;                   /* uc_link */
	uc_header[2] = p->altstack_sp;      /* uc_stack */
	uc_header[3] = p->altstack_flags;
	uc_header[4] = p->altstack_size;
	if (pushes)
		sp -= 8; /* the return address, so the handler sees rsp % 16 == 8 */
	if (vm_copy_out(p->as, info_at, info, sizeof(info)) ||
	    vm_copy_out(p->as, uc_at, uc_header, sizeof(uc_header)) ||
	    vm_copy_out(p->as, uc_at + sizeof(uc_header), f, fsize) ||
	    vm_copy_out(p->as, uc_at + sizeof(uc_header) + fsize, &p->blocked, 8) ||
	    (fpsize && vm_copy_out(p->as, uc_at + sizeof(uc_header) + fsize + 8, fpu, fpsize)) ||
	    (pushes && vm_copy_out(p->as, sp, &ret, 8))) {
		note(p, "%s: no room on the stack for the handler of signal %d", p->exe, sig);
		exit_by_signal(p, SIGNAL_SEGV);
	}
	arch_frame_call(f, a->handler, sp, (uint64_t)sig, info_at, uc_at, ret);
	if (!(a->flags & SA_NODEFER))
		p->blocked |= 1ull << (sig - 1);
	p->blocked |= a->mask & ~((1ull << (SIGNAL_KILL - 1)) | (1ull << 18)); /* KILL, STOP */
	if (a->flags & SA_RESETHAND)
		a->handler = SIG_DFL;
}

long user_sigreturn(struct trap_frame *f)
{
	struct user_proc *p = user_current();
	size_t fsize = arch_frame_size();
	uint64_t at = arch_frame_sp(f) + SIGINFO_BYTES + 5 * 8, mask;
	uint8_t *saved = malloc(fsize);
	void *fpu;
	size_t fpsize = arch_frame_fpu(f, &fpu);

	/* the FP state goes straight back where this entry's exit restores it */
	if (!saved || vm_copy_in(p->as, saved, at, fsize) ||
	    vm_copy_in(p->as, &mask, at + fsize, 8) ||
	    (fpsize && vm_copy_in(p->as, fpu, at + fsize + 8, fpsize))) {
		free(saved);
		note(p, "%s: rt_sigreturn with a bad frame", p->exe);
		exit_by_signal(p, SIGNAL_SEGV);
	}
	if (fpsize)
		arch_fpu_sanitize(fpu);
	arch_frame_restore(f, saved);
	free(saved);
	p->blocked = mask & ~((1ull << (SIGNAL_KILL - 1)) | (1ull << 18));
	return 0;
}

void user_return(struct trap_frame *f)
{
	struct user_proc *p = user_current();
	int stop;

	if (!p)
		return;
	if (sched_current()->kill_requested) {
		note(p, "killed (SIGKILL)");
		exit_by_signal(p, SIGNAL_KILL);
	}
	/* SignalProcess's TERM/INT/HUP/QUIT arrive through the program's
	 * stop request; taking it lets the next one through. */
	stop = __atomic_load_n(&p->prog->stop_signal, __ATOMIC_SEQ_CST);
	if (stop) {
		__atomic_store_n(&p->prog->stop_signal, 0, __ATOMIC_SEQ_CST);
		user_raise(stop);
	}
	/* the lowest deliverable signal first, one at a time */
	for (uint64_t ready = p->pending & ~p->blocked; ready; ready = p->pending & ~p->blocked) {
		int sig = __builtin_ctzll(ready) + 1;
		struct user_sigaction *a = &p->actions[sig];

		p->pending &= ~(1ull << (sig - 1));
		if (sig == SIGNAL_KILL || (a->handler == SIG_DFL && !default_ignores(sig))) {
			note(p, "ended by signal %d", sig);
			exit_by_signal(p, sig);
		}
		if (a->handler == SIG_IGN || a->handler == SIG_DFL)
			continue;
		deliver(p, f, sig);
		return; /* one handler at a time */
	}
}

/* ---- loading ---- */

static unsigned vm_prot(unsigned pf)
{
	return (pf & ELF_PF_W ? VM_WRITE : 0) | (pf & ELF_PF_X ? VM_EXEC : 0) | VM_READ;
}

/*
 * Each page of each PT_LOAD: a page of a read-only segment wholly backed
 * by the file is the store's own page, mapped shared (no copy, and the
 * same physical page for every run); any other page is fresh and gets its
 * file bytes copied in.  A page two segments share keeps the first's
 * mapping with both permissions, and the second's bytes copied in (a
 * shared page becomes private on that write).
 */
static int load_segments(struct user_proc *p, const struct elf_image *img, const uint8_t *file,
			 uint64_t base)
{
	bool aligned = ((uintptr_t)file & (VM_PAGE - 1)) == 0;

	for (unsigned i = 0; i < img->nsegs; i++) {
		const struct elf_segment *s = &img->segs[i];
		uint64_t start = base + s->vaddr, fend = start + s->filesz;
		uint64_t lo = start & ~(VM_PAGE - 1);
		uint64_t hi = (start + s->memsz + VM_PAGE - 1) & ~(VM_PAGE - 1);
		uint64_t share_end = (s->flags & ELF_PF_W) || !aligned ? lo :
				     s->memsz == s->filesz ? (fend + VM_PAGE - 1) & ~(VM_PAGE - 1) :
							     fend & ~(VM_PAGE - 1);
		const uint8_t *file_page = file + (s->offset & ~(VM_PAGE - 1));
		unsigned prot = vm_prot(s->flags);

		for (uint64_t va = lo; va < hi; va += VM_PAGE) {
			uint64_t from = va > start ? va : start;
			uint64_t to = va + VM_PAGE < fend ? va + VM_PAGE : fend;
			int err = 0;

			if (vm_any_mapped(p->as, va, VM_PAGE)) { /* shared with the one before */
				err = vm_protect(p->as, va, VM_PAGE,
						 prot | vm_prot(img->segs[i - 1].flags));
			} else if (va + VM_PAGE <= share_end) {
				err = vm_map_shared(p->as, va, (uintptr_t)(file_page + (va - lo)),
						    VM_PAGE, prot);
				continue;
			} else {
				err = vm_map_anon(p->as, va, VM_PAGE, prot);
			}
			if (err)
				return err;
			if (from < to &&
			    vm_poke(p->as, from, file + s->offset + (from - start), to - from))
				return -ENOMEM;
		}
	}
	return 0;
}

static uint64_t build_stack(struct user_proc *p, const struct elf_image *img, uint64_t base,
			    const char *path)
{
	struct elf_aux aux[16];
	uint8_t random[16], *buf;
	unsigned n = 0;
	uint64_t hwcap, hwcap2, minsig, sp;
	const char *platform;
	struct elf_stack_args args = {
		.argc = p->prog->argc, .argv = (const char *const *)p->prog->argv,
		.envc = p->prog->envc, .envp = (const char *const *)p->prog->envp,
		.execfn = path, .random = random,
	};

	arch_user_auxv(&hwcap, &hwcap2, &minsig, &platform);
	user_entropy(random, sizeof(random));
	args.platform = platform;
	aux[n++] = (struct elf_aux){ AT_PHDR, img->phdr_vaddr ? base + img->phdr_vaddr : 0 };
	aux[n++] = (struct elf_aux){ AT_PHENT, img->phentsize };
	aux[n++] = (struct elf_aux){ AT_PHNUM, img->phnum };
	aux[n++] = (struct elf_aux){ AT_PAGESZ, VM_PAGE };
	aux[n++] = (struct elf_aux){ AT_BASE, 0 };
	aux[n++] = (struct elf_aux){ AT_FLAGS, 0 };
	aux[n++] = (struct elf_aux){ AT_ENTRY, base + img->entry };
	aux[n++] = (struct elf_aux){ AT_UID, 0 };
	aux[n++] = (struct elf_aux){ AT_EUID, 0 };
	aux[n++] = (struct elf_aux){ AT_GID, 0 };
	aux[n++] = (struct elf_aux){ AT_EGID, 0 };
	aux[n++] = (struct elf_aux){ AT_SECURE, 0 };
	aux[n++] = (struct elf_aux){ AT_HWCAP, hwcap };
	aux[n++] = (struct elf_aux){ AT_HWCAP2, hwcap2 };
	aux[n++] = (struct elf_aux){ AT_CLKTCK, 100 };
	aux[n++] = (struct elf_aux){ AT_MINSIGSTKSZ, minsig };
	args.aux = aux;
	args.naux = n;
	if (!(buf = malloc(STACK_BUILD_BYTES)))
		return 0;
	sp = elf_build_stack(&args, buf, STACK_BUILD_BYTES, STACK_TOP);
	if (sp && vm_copy_out(p->as, sp, buf + (sp - (STACK_TOP - STACK_BUILD_BYTES)),
			      STACK_TOP - sp))
		sp = 0;
	free(buf);
	return sp;
}

static int map_sigreturn_page(struct user_proc *p)
{
	uint8_t code[32];
	size_t n = arch_sigreturn_code(code, sizeof(code));
	int err = vm_map_anon(p->as, SIGRETURN_PAGE, VM_PAGE, VM_READ | VM_EXEC);

	if (!err)
		err = vm_poke(p->as, SIGRETURN_PAGE, code, n);
	p->sigreturn_page = SIGRETURN_PAGE;
	return err;
}

/* ELF checks, segments, heap, stack: the entry point and stack pointer. */
static int load(struct user_proc *p, const struct store_file *file, const char *path,
		uint64_t *entry, uint64_t *sp)
{
	struct elf_limits limits = {
		.machine = ELF_MACHINE_HERE, .max_len = MAX_FILE_BYTES,
		.exec_lo = VM_USER_WINDOW_START, .exec_hi = VM_USER_WINDOW_END,
		.max_span = 1ull << 32,
	};
	struct elf_image img;
	char why[160];
	uint64_t base;
	int err;

	if (elf_parse(file->data, file->size, &limits, &img, why, sizeof(why))) {
		note(p, "%s: cannot execute (ENOEXEC): %s", path, why);
		return -ENOEXEC;
	}
	base = img.type == ELF_ET_DYN ? PIE_BASE - img.lo : 0;
	if ((err = load_segments(p, &img, file->data, base)) ||
	    (err = vm_map_anon(p->as, STACK_TOP - STACK_BYTES, STACK_BYTES,
			       VM_READ | VM_WRITE | (img.exec_stack ? VM_EXEC : 0))) ||
	    (err = map_sigreturn_page(p))) {
		note(p, "%s: no memory to load it (%s)", path,
		     err == -ENOMEM ? "over the memory limit or out of RAM" : "bad layout");
		return err;
	}
	vm_set_growable(p->as, STACK_TOP - STACK_MAX, STACK_TOP - STACK_BYTES);
	p->brk_start = p->brk = base + img.hi;
	p->brk_max = img.type == ELF_ET_DYN ? p->brk + PIE_BRK_MAX : VM_USER_WINDOW_END;
	p->mmap_next = MMAP_TOP;
	*entry = base + img.entry;
	*sp = build_stack(p, &img, base, path);
	if (!*sp) {
		note(p, "%s: arguments and environment do not fit the stack", path);
		return -E2BIG;
	}
	return 0;
}

/* Everything the process holds goes back; we run on its task still. */
static void release(struct user_proc *p)
{
	struct task *t = sched_current();

	arch_irq_disable();
	t->user = NULL;
	t->as = NULL;
	t->kernel_entry_sp = 0;
	vm_space_activate(NULL);
	arch_irq_enable();
	user_fds_close(p);
	vm_space_destroy(p->as);
}

int user_run(struct prog *prog, struct store_file *file, const char *path, uint64_t mem_limit,
	     char *note_buf, size_t note_len)
{
	struct user_proc *p = calloc(1, sizeof(*p));
	struct task *t = sched_current();
	uint64_t entry = 0, sp = 0;
	int status;

	note_buf[0] = '\0';
	if (!p) {
		snprintf(note_buf, note_len, "%s: no memory for a process", path);
		return 126;
	}
	p->prog = prog;
	p->note = note_buf;
	p->note_len = note_len;
	p->start_ns = arch_clock_ns();
	snprintf(p->exe, sizeof(p->exe), "%s", path);
	snprintf(p->cwd, sizeof(p->cwd), "%s", prog->cwd[0] ? prog->cwd : "/");
	if (!(p->as = vm_space_create(mem_limit))) {
		note(p, "%s: no memory for an address space", path);
		free(p);
		return 126;
	}
	user_fds_init(p);
	if (load(p, file, path, &entry, &sp) != 0) {
		kprintf("user: %s\n", p->note);
		release(p);
		free(p);
		return 126;
	}
	if (setjmp(p->exit_jmp) == 0) {
		arch_irq_disable();
		t->user = p;
		t->as = p->as;
		t->user_tls = 0;
		vm_space_activate(p->as);
		arch_user_tls_set(0);
		arch_user_enter(entry, sp);
	}
	/* every end of the process comes back here (user_exit) */
	arch_irq_enable();
	status = p->exit_status;
	if (!note_buf[0] && p->n_enosys) {
		int n = snprintf(note_buf, note_len, "system calls it made that are not "
				 "implemented (ENOSYS):");

		for (unsigned i = 0; i < p->n_enosys && n > 0 && (size_t)n < note_len; i++)
			n += snprintf(note_buf + n, note_len - (size_t)n, " %u", p->enosys[i]);
	}
	release(p);
	free(p);
	return status;
}
