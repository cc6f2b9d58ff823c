/*
 * elf.c -- static ELF64 executables and the initial stack (see elf.h).
 *
 * Fields are read with memcpy at their gABI offsets (little-endian, as
 * both architectures are), never through a cast of the file's bytes, so
 * a misaligned or truncated file cannot make us read out of bounds.
 */
#include "kernel/elf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define EHDR_SIZE 64
#define PHDR_SIZE 56
#define MAX_PHNUM 128
#define PAGE      4096ull

#define PT_LOAD      1
#define PT_INTERP    3
#define PT_PHDR      6
#define PT_TLS       7
#define PT_GNU_STACK 0x6474e551u

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static int refuse(char *why, size_t why_len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int refuse(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
	return -ENOEXEC;
}

static const char *machine_name(unsigned m)
{
	switch (m) {
	case ELF_MACHINE_X86_64:
		return "x86_64";
	case ELF_MACHINE_AARCH64:
		return "aarch64";
	case 3:
		return "i386";
	case 40:
		return "arm";
	case 243:
		return "riscv";
	}
	return "another architecture";
}

static int check_header(const uint8_t *f, size_t len, const struct elf_limits *lim, char *why,
                        size_t why_len)
{
	if (len > lim->max_len)
		return refuse(why, why_len, "%zu bytes is over the size limit of %zu bytes", len,
		              lim->max_len);
	if (len < 4 || memcmp(f, "\177ELF", 4) != 0)
		return refuse(why, why_len, "not an ELF file (no \\177ELF magic)");
	if (len < EHDR_SIZE)
		return refuse(why, why_len, "truncated: %zu bytes, the ELF header alone is %u", len,
		              EHDR_SIZE);
	if (f[4] != 2)
		return refuse(why, why_len, "%s ELF (class %u): only 64-bit ELF runs",
		              f[4] == 1 ? "32-bit" : "unknown-class", f[4]);
	if (f[5] != 1)
		return refuse(why, why_len, "big-endian or unknown data encoding (%u)", f[5]);
	if (get16(f + 18) != lim->machine)
		return refuse(why, why_len, "built for %s (e_machine %u); this image runs %s",
		              machine_name(get16(f + 18)), get16(f + 18),
		              machine_name(lim->machine));
	if (get16(f + 16) != ELF_ET_EXEC && get16(f + 16) != ELF_ET_DYN)
		return refuse(why, why_len, "not an executable (e_type %u)", get16(f + 16));
	return 0;
}

static int add_load(struct elf_image *img, const uint8_t *ph, size_t len, unsigned index, char *why,
                    size_t why_len)
{
	struct elf_segment s = {
		.flags = get32(ph + 4) & 7,
		.offset = get64(ph + 8),
		.vaddr = get64(ph + 16),
		.filesz = get64(ph + 32),
		.memsz = get64(ph + 40),
	};

	if (s.memsz == 0)
		return 0;
	if (img->nsegs == ELF_MAX_SEGMENTS)
		return refuse(why, why_len, "more than %u PT_LOAD segments", ELF_MAX_SEGMENTS);
	if (s.filesz > s.memsz)
		return refuse(why, why_len,
		              "segment %u: file size %#llx exceeds its memory size %#llx", index,
		              (unsigned long long)s.filesz, (unsigned long long)s.memsz);
	if (s.offset > len || s.filesz > len - s.offset)
		return refuse(why, why_len,
		              "truncated: segment %u needs bytes up to %#llx, the file "
		              "has %#zx",
		              index, (unsigned long long)(s.offset + s.filesz), len);
	if (s.vaddr + s.memsz < s.vaddr || s.vaddr + s.memsz > (1ull << 47))
		return refuse(why, why_len, "segment %u is out of range (%#llx + %#llx)", index,
		              (unsigned long long)s.vaddr, (unsigned long long)s.memsz);
	if ((s.vaddr - s.offset) % PAGE)
		return refuse(why, why_len,
		              "segment %u: address %#llx and file offset %#llx "
		              "differ within a page",
		              index, (unsigned long long)s.vaddr, (unsigned long long)s.offset);
	if (img->nsegs) {
		const struct elf_segment *prev = &img->segs[img->nsegs - 1];

		if (s.vaddr < prev->vaddr + prev->memsz)
			return refuse(why, why_len,
			              "segment %u (%#llx) overlaps the one before "
			              "(%#llx + %#llx)",
			              index, (unsigned long long)s.vaddr,
			              (unsigned long long)prev->vaddr,
			              (unsigned long long)prev->memsz);
	}
	img->segs[img->nsegs++] = s;
	return 0;
}

/* Span, placement, entry point and where the program headers are. */
static int check_layout(struct elf_image *img, uint64_t phoff, const struct elf_limits *lim,
                        char *why, size_t why_len)
{
	bool entry_ok = false;

	if (!img->nsegs)
		return refuse(why, why_len, "no PT_LOAD segment");
	img->lo = img->segs[0].vaddr & ~(PAGE - 1);
	img->hi = (img->segs[img->nsegs - 1].vaddr + img->segs[img->nsegs - 1].memsz + PAGE - 1) &
	          ~(PAGE - 1);
	if (img->type == ELF_ET_EXEC && (img->lo < lim->exec_lo || img->hi > lim->exec_hi))
		return refuse(why, why_len,
		              "segments at [%#llx, %#llx) are out of range: a "
		              "fixed-address program must lie in [%#llx, %#llx)",
		              (unsigned long long)img->lo, (unsigned long long)img->hi,
		              (unsigned long long)lim->exec_lo, (unsigned long long)lim->exec_hi);
	if (img->type == ELF_ET_DYN && img->hi - img->lo > lim->max_span)
		return refuse(why, why_len, "segments span %#llx bytes, more than %#llx",
		              (unsigned long long)(img->hi - img->lo),
		              (unsigned long long)lim->max_span);
	for (unsigned i = 0; i < img->nsegs; i++) {
		const struct elf_segment *s = &img->segs[i];

		if (img->entry >= s->vaddr && img->entry - s->vaddr < s->memsz &&
		    (s->flags & ELF_PF_X))
			entry_ok = true;
		if (!img->phdr_vaddr && phoff >= s->offset && phoff - s->offset < s->filesz)
			img->phdr_vaddr = s->vaddr + (phoff - s->offset);
	}
	if (!entry_ok)
		return refuse(why, why_len, "entry point %#llx is in no executable segment",
		              (unsigned long long)img->entry);
	return 0;
}

int elf_parse(const void *file, size_t len, const struct elf_limits *lim, struct elf_image *img,
              char *why, size_t why_len)
{
	const uint8_t *f = file;
	uint64_t phoff;
	int err;

	memset(img, 0, sizeof(*img));
	if ((err = check_header(f, len, lim, why, why_len)))
		return err;
	img->type = get16(f + 16);
	img->entry = get64(f + 24);
	phoff = get64(f + 32);
	img->phentsize = get16(f + 54);
	img->phnum = get16(f + 56);
	if (img->phentsize != PHDR_SIZE || img->phnum == 0 || img->phnum > MAX_PHNUM)
		return refuse(why, why_len, "bad program header table (%u entries of %u bytes)",
		              img->phnum, img->phentsize);
	if (phoff > len || (uint64_t)img->phnum * PHDR_SIZE > len - phoff)
		return refuse(why, why_len,
		              "truncated: the program headers end past the file's "
		              "%zu bytes",
		              len);
	for (unsigned i = 0; i < img->phnum; i++) {
		const uint8_t *ph = f + phoff + (size_t)i * PHDR_SIZE;

		switch (get32(ph)) {
		case PT_INTERP:
			return refuse(why, why_len,
			              "dynamically linked (PT_INTERP): only static "
			              "executables run");
		case PT_LOAD:
			if ((err = add_load(img, ph, len, i, why, why_len)))
				return err;
			break;
		case PT_PHDR:
			img->phdr_vaddr = get64(ph + 16);
			break;
		case PT_TLS:
			img->tls_memsz = get64(ph + 40);
			img->tls_align = get64(ph + 48);
			break;
		case PT_GNU_STACK:
			img->exec_stack = get32(ph + 4) & ELF_PF_X;
			break;
		}
	}
	return check_layout(img, phoff, lim, why, why_len);
}

/* ---- the initial stack ---- */

struct stack_builder {
	uint8_t *buf; /* stands for user addresses [top - len, top) */
	size_t len;
	uint64_t top;
	uint64_t pos; /* user address of the lowest byte used so far */
	bool full;    /* something did not fit */
};

/* Push bytes downwards; their user address. */
static uint64_t push(struct stack_builder *b, const void *data, size_t n)
{
	if (b->full || n > b->pos - (b->top - b->len)) {
		b->full = true;
		return 0;
	}
	b->pos -= n;
	memcpy(b->buf + (b->pos - (b->top - b->len)), data, n);
	return b->pos;
}

static uint64_t push_string(struct stack_builder *b, const char *s)
{
	return push(b, s, strlen(s) + 1);
}

uint64_t elf_build_stack(const struct elf_stack_args *a, uint8_t *buf, size_t len, uint64_t top)
{
	struct stack_builder b = { buf, len, top, top, false };
	uint64_t argv_at[ELF_MAX_ARGS], envp_at[ELF_MAX_ARGS], execfn, platform, random;
	uint64_t words, table[2 + ELF_MAX_ARGS + 1 + ELF_MAX_ARGS + 1 + 2 * 40], sp;
	unsigned n = 0, naux;

	if (a->argc > ELF_MAX_ARGS || a->envc > ELF_MAX_ARGS || a->argc < 0 || a->envc < 0)
		return 0;
	push(&b, "\0\0\0\0\0\0\0", 8); /* an end marker, as Linux leaves */
	execfn = push_string(&b, a->execfn);
	for (int i = a->envc - 1; i >= 0; i--)
		envp_at[i] = push_string(&b, a->envp[i]);
	for (int i = a->argc - 1; i >= 0; i--)
		argv_at[i] = push_string(&b, a->argv[i]);
	platform = push_string(&b, a->platform);
	random = push(&b, a->random, 16);
	if (b.full)
		return 0;

	/* argc, argv + NULL, envp + NULL, auxv pairs + AT_NULL; 16-aligned */
	naux = a->naux + 4;
	if (naux > 40)
		return 0;
	words = 1 + (uint64_t)a->argc + 1 + (uint64_t)a->envc + 1 + 2 * (uint64_t)naux;
	sp = (b.pos - words * 8) & ~15ull;
	if (sp < top - len)
		return 0;
	table[n++] = (uint64_t)a->argc;
	for (int i = 0; i < a->argc; i++)
		table[n++] = argv_at[i];
	table[n++] = 0;
	for (int i = 0; i < a->envc; i++)
		table[n++] = envp_at[i];
	table[n++] = 0;
	for (unsigned i = 0; i < a->naux; i++) {
		table[n++] = a->aux[i].type;
		table[n++] = a->aux[i].value;
	}
	table[n++] = AT_RANDOM;
	table[n++] = random;
	table[n++] = AT_EXECFN;
	table[n++] = execfn;
	table[n++] = AT_PLATFORM;
	table[n++] = platform;
	table[n++] = AT_NULL;
	table[n++] = 0;
	memcpy(buf + (sp - (top - len)), table, n * 8);
	return sp;
}
