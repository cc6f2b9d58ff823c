/*
 * elf.h -- checking a static ELF64 executable and laying out the initial
 * stack Linux gives a new program (System V gABI ch. 4-5; psABI x86-64
 * §3.4.1, AArch64 ELF ABI; Linux fs/binfmt_elf.c for the auxv order).
 *
 * Portable: no kernel or arch headers, built into the image, the host
 * unit tests (tests/unit/test_elf.c) and a libFuzzer target
 * (tests/fuzz/fuzz_elf.c).  The file is hostile: every offset and size is
 * range-checked before use, and every refusal says why.
 *
 * Typical usage (kernel/exec.c):
 *	struct elf_image img;
 *	char why[128];
 *	if (elf_parse(file, len, &limits, &img, why, sizeof(why)))
 *		...refuse with ENOEXEC, log `why`...
 *	base = img.type == ELF_ET_DYN ? PIE_BASE : 0;
 *	for each img.segs[i]: map [base + vaddr, +memsz), copy filesz bytes
 *	sp = elf_build_stack(&args, buf, sizeof(buf), stack_top);
 */
#ifndef KERNEL_ELF_H
#define KERNEL_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELF_MACHINE_X86_64  62
#define ELF_MACHINE_AARCH64 183
#define ELF_ET_EXEC         2
#define ELF_ET_DYN          3
#define ELF_MAX_SEGMENTS    16  /* PT_LOAD entries accepted */
#define ELF_MAX_ARGS        128 /* arguments, and environment entries, on a new stack */
#define ELF_PF_X            1
#define ELF_PF_W            2
#define ELF_PF_R            4

/* One PT_LOAD, as the file says (addresses before the load base). */
struct elf_segment {
	uint64_t vaddr;  /* first byte in memory */
	uint64_t memsz;  /* bytes in memory (the rest past filesz is zero) */
	uint64_t offset; /* first byte in the file */
	uint64_t filesz; /* bytes from the file */
	unsigned flags;  /* ELF_PF_R / W / X */
};

struct elf_image {
	unsigned type;       /* ELF_ET_EXEC or ELF_ET_DYN (static-pie) */
	uint64_t entry;      /* e_entry (before the load base) */
	uint64_t phdr_vaddr; /* where the program headers are in memory, 0: nowhere */
	unsigned phnum;      /* program headers */
	unsigned phentsize;  /* bytes each */
	struct elf_segment segs[ELF_MAX_SEGMENTS]; /* PT_LOAD, in file order */
	unsigned nsegs;                            /* how many */
	uint64_t lo, hi;                           /* page-rounded span of all segments */
	uint64_t tls_memsz;                        /* PT_TLS size, 0: none */
	uint64_t tls_align;                        /* its alignment */
	bool exec_stack;                           /* PT_GNU_STACK asks for an executable stack */
};

/* What the loader accepts. */
struct elf_limits {
	unsigned machine; /* ELF_MACHINE_* of this image */
	size_t max_len;   /* largest file */
	uint64_t exec_lo; /* ET_EXEC segments must lie in [exec_lo, exec_hi) */
	uint64_t exec_hi;
	uint64_t max_span; /* largest span of a static-pie's segments */
};

/* 0, or -ENOEXEC with the reason in `why`. */
int elf_parse(const void *file, size_t len, const struct elf_limits *limits, struct elf_image *out,
              char *why, size_t why_len);

/* One auxv pair. */
struct elf_aux {
	uint64_t type; /* AT_* */
	uint64_t value;
};

#define AT_NULL         0
#define AT_PHDR         3
#define AT_PHENT        4
#define AT_PHNUM        5
#define AT_PAGESZ       6
#define AT_BASE         7
#define AT_FLAGS        8
#define AT_ENTRY        9
#define AT_UID          11
#define AT_EUID         12
#define AT_GID          13
#define AT_EGID         14
#define AT_PLATFORM     15
#define AT_HWCAP        16
#define AT_CLKTCK       17
#define AT_SECURE       23
#define AT_RANDOM       25
#define AT_HWCAP2       26
#define AT_EXECFN       31
#define AT_SYSINFO_EHDR 33
#define AT_MINSIGSTKSZ  51

struct elf_stack_args {
	int argc; /* arguments */
	const char *const *argv;
	int envc; /* environment, "K=V" */
	const char *const *envp;
	const char *execfn;        /* AT_EXECFN's string */
	const char *platform;      /* AT_PLATFORM's string */
	const uint8_t *random;     /* 16 bytes for AT_RANDOM */
	const struct elf_aux *aux; /* the rest of auxv (no AT_NULL) */
	unsigned naux;
};

/*
 * Lay out the initial stack for user addresses [top - len, top) in `buf`
 * (which stands for exactly that range): from the top down the strings
 * (execfn, environment, arguments, platform), the 16 random bytes, then,
 * 16-byte aligned, argc, argv[], NULL, envp[], NULL, auxv (with
 * AT_EXECFN, AT_PLATFORM, AT_RANDOM added), AT_NULL.  Returns the initial
 * stack pointer (pointing at argc), or 0 when it does not fit.
 */
uint64_t elf_build_stack(const struct elf_stack_args *args, uint8_t *buf, size_t len, uint64_t top);

#endif
