/*
 * exec.c -- a static ELF program loaded into a fresh address space (a new
 * session's first process, execve): its segments, heap, stack with the
 * Linux initial stack (elf.h), and the rt_sigreturn trampoline page.
 *
 * Address space (vm.h): fixed-address programs in the low window
 * [0x10000, 32 MiB) with their heap (brk) after them; static-pie at
 * PIE_BASE with the heap after it; mmap below MMAP_TOP, downwards; the
 * stack below STACK_TOP; one page with the rt_sigreturn trampoline at
 * the top (for programs that give no SA_RESTORER, as on aarch64).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/arch.h"
#include "kernel/elf.h"
#include "kernel/uproc.h"

#define PIE_BASE          0x555555554000ull
#define PIE_BRK_MAX       (1ull << 30) /* a static-pie heap may grow 1 GiB */
#define SIGRETURN_PAGE    (VM_USER_END - VM_PAGE)
#define STACK_TOP         (SIGRETURN_PAGE - VM_PAGE)
#define STACK_BYTES       (256ull << 10) /* mapped up front */
#define STACK_MAX         (8ull << 20)   /* grown on demand down to this (RLIMIT_STACK) */
#define MMAP_TOP          (STACK_TOP - (64ull << 20))
#define MAX_FILE_BYTES    (64u << 20)
#define STACK_BUILD_BYTES (64u << 10)

#ifdef ARCH_x86_64
#define ELF_MACHINE_HERE ELF_MACHINE_X86_64
#else
#define ELF_MACHINE_HERE ELF_MACHINE_AARCH64
#endif

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
static int load_segments(struct vm_space *as, const struct elf_image *img, const uint8_t *file,
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

			if (vm_any_mapped(as, va, VM_PAGE)) { /* shared with the one before */
				err = vm_protect(as, va, VM_PAGE,
				                 prot | vm_prot(img->segs[i - 1].flags));
			} else if (va + VM_PAGE <= share_end) {
				err = vm_map_shared(as, va, (uintptr_t)(file_page + (va - lo)),
				                    VM_PAGE, prot);
				continue;
			} else {
				err = vm_map_anon(as, va, VM_PAGE, prot);
			}
			if (err)
				return err;
			if (from < to &&
			    vm_poke(as, from, file + s->offset + (from - start), to - from))
				return -ENOMEM;
		}
	}
	return 0;
}

/* The initial stack; its auxv also kept in mm (for /proc/self/auxv). */
static uint64_t build_stack(struct user_mm *mm, const struct elf_image *img, uint64_t base,
                            const char *path, const struct exec_args *ea)
{
	struct elf_aux aux[16];
	uint8_t random[16], *buf;
	unsigned n = 0;
	uint64_t hwcap, hwcap2, minsig, sp;
	const char *platform;
	struct elf_stack_args args = {
		.argc = ea->argc,
		.argv = (const char *const *)ea->argv,
		.envc = ea->envc,
		.envp = (const char *const *)ea->envp,
		.execfn = path,
		.random = random,
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
	if (sp) {
		const uint8_t *at = buf + (sp - (STACK_TOP - STACK_BUILD_BYTES));
		size_t skip = 8 * (1 + (size_t)ea->argc + 1 + (size_t)ea->envc + 1), len = 0;
		uint64_t pair[2];

		/* the auxv as laid out, AT_NULL included */
		do {
			memcpy(pair, at + skip + len, 16);
			len += 16;
		} while (pair[0] != AT_NULL && len < sizeof(mm->auxv));
		memcpy(mm->auxv, at + skip, len);
		mm->auxv_len = (unsigned)len;
		if (vm_copy_out(mm->as, sp, at, STACK_TOP - sp))
			sp = 0;
	}
	free(buf);
	return sp;
}

static int map_sigreturn_page(struct user_mm *mm)
{
	uint8_t code[32];
	size_t n = arch_sigreturn_code(code, sizeof(code));
	int err = vm_map_anon(mm->as, SIGRETURN_PAGE, VM_PAGE, VM_READ | VM_EXEC);

	if (!err)
		err = vm_poke(mm->as, SIGRETURN_PAGE, code, n);
	mm->sigreturn_page = SIGRETURN_PAGE;
	return err;
}

int exec_load(struct vm_budget *budget, const struct store_file *file, const char *path,
              const struct exec_args *args, struct user_mm **out, uint64_t *entry, uint64_t *sp,
              char *why, size_t why_len)
{
	struct elf_limits limits = {
		.machine = ELF_MACHINE_HERE,
		.max_len = MAX_FILE_BYTES,
		.exec_lo = VM_USER_WINDOW_START,
		.exec_hi = VM_USER_WINDOW_END,
		.max_span = 1ull << 32,
	};
	char reason[160];
	struct elf_image img;
	struct user_mm *mm;
	uint64_t base;
	int err;

	if (elf_parse(file->data, file->size, &limits, &img, reason, sizeof(reason))) {
		snprintf(why, why_len, "%s: cannot execute (ENOEXEC): %s", path, reason);
		return -ENOEXEC;
	}
	if (args->argc > ELF_MAX_ARGS || args->envc > ELF_MAX_ARGS) {
		snprintf(why, why_len, "%s: more than %d arguments or environment entries", path,
		         ELF_MAX_ARGS);
		return -E2BIG;
	}
	if (!(mm = calloc(1, sizeof(*mm))) || !(mm->as = vm_space_create(budget))) {
		free(mm);
		snprintf(why, why_len, "%s: no memory for an address space", path);
		return -ENOMEM;
	}
	mm->users = 1;
	base = img.type == ELF_ET_DYN ? PIE_BASE - img.lo : 0;
	if ((err = load_segments(mm->as, &img, file->data, base)) ||
	    (err = vm_map_anon(mm->as, STACK_TOP - STACK_BYTES, STACK_BYTES,
	                       VM_READ | VM_WRITE | (img.exec_stack ? VM_EXEC : 0))) ||
	    (err = map_sigreturn_page(mm))) {
		snprintf(why, why_len, "%s: no memory to load it (%s)", path,
		         err == -ENOMEM ? "over the memory limit or out of RAM" : "bad layout");
		mm_put(mm);
		return err == -ENOMEM ? -ENOMEM : -ENOEXEC;
	}
	vm_set_growable(mm->as, STACK_TOP - STACK_MAX, STACK_TOP - STACK_BYTES);
	mm->brk_start = mm->brk = base + img.hi;
	mm->brk_max = img.type == ELF_ET_DYN ? mm->brk + PIE_BRK_MAX : VM_USER_WINDOW_END;
	mm->mmap_next = MMAP_TOP;
	*entry = base + img.entry;
	*sp = build_stack(mm, &img, base, path, args);
	if (!*sp) {
		snprintf(why, why_len, "%s: arguments and environment do not fit the stack", path);
		mm_put(mm);
		return -E2BIG;
	}
	*out = mm;
	return 0;
}

void mm_get(struct user_mm *mm)
{
	bool on = ulock();

	mm->users++;
	uunlock(on);
}

void mm_put(struct user_mm *mm)
{
	bool on, last;

	if (!mm)
		return;
	on = ulock();
	last = --mm->users == 0;
	uunlock(on);
	if (!last)
		return;
	vm_space_destroy(mm->as);
	free(mm);
}

struct user_mm *mm_clone(struct user_mm *src, struct vm_budget *budget)
{
	struct user_mm *mm = calloc(1, sizeof(*mm));

	if (!mm)
		return NULL;
	umutex_lock(&src->lock); /* no mmap half done in another thread */
	mm->as = vm_space_clone(src->as, budget);
	umutex_unlock(&src->lock);
	if (!mm->as) {
		free(mm);
		return NULL;
	}
	mm->users = 1;
	mm->brk_start = src->brk_start;
	mm->brk = src->brk;
	mm->brk_max = src->brk_max;
	mm->mmap_next = src->mmap_next;
	mm->sigreturn_page = src->sigreturn_page;
	memcpy(mm->auxv, src->auxv, sizeof(mm->auxv));
	mm->auxv_len = src->auxv_len;
	return mm;
}
