/*
 * test_elf.c -- kernel/elf.c on the host: which static ELF64 files are
 * accepted, every refusal's reason, and the initial stack's layout.
 */
#include <errno.h>
#include <string.h>

#include "kernel/elf.h"
#include "tests/unit/harness.h"

#define FILE_BYTES 0x3000

static uint8_t file[FILE_BYTES];
static char why[160];

static const struct elf_limits limits = {
	.machine = ELF_MACHINE_X86_64,
	.max_len = 1 << 20,
	.exec_lo = 0x10000,
	.exec_hi = 0x2000000,
	.max_span = 1ull << 32,
};

static void put16(size_t at, uint16_t v)
{
	memcpy(file + at, &v, 2);
}
static void put32(size_t at, uint32_t v)
{
	memcpy(file + at, &v, 4);
}
static void put64(size_t at, uint64_t v)
{
	memcpy(file + at, &v, 8);
}

/* Program header i at 64 + 56 i. */
static void phdr(unsigned i, uint32_t type, uint32_t flags, uint64_t off, uint64_t vaddr,
                 uint64_t filesz, uint64_t memsz)
{
	size_t at = 64 + 56 * i;

	put32(at, type);
	put32(at + 4, flags);
	put64(at + 8, off);
	put64(at + 16, vaddr);
	put64(at + 32, filesz);
	put64(at + 40, memsz);
	put64(at + 48, 0x1000);
}

/* A static ET_EXEC: text at 0x400000 (file 0..0x2000), data at 0x402000. */
static void make_exec(void)
{
	memset(file, 0, sizeof(file));
	memcpy(file, "\177ELF", 4);
	file[4] = 2;
	file[5] = 1;
	file[6] = 1;
	put16(16, ELF_ET_EXEC);
	put16(18, ELF_MACHINE_X86_64);
	put32(20, 1);
	put64(24, 0x401000);
	put64(32, 64);
	put16(52, 64);
	put16(54, 56);
	put16(56, 3);
	phdr(0, 1, ELF_PF_R | ELF_PF_X, 0, 0x400000, 0x2000, 0x2000);
	phdr(1, 1, ELF_PF_R | ELF_PF_W, 0x2000, 0x402000, 0x800, 0x3000);
	phdr(2, 0x6474e551, ELF_PF_R | ELF_PF_W, 0, 0, 0, 0);
}

static int parse(size_t len, struct elf_image *img)
{
	return elf_parse(file, len, &limits, img, why, sizeof(why));
}

TEST(accepts_a_static_executable)
{
	struct elf_image img;

	make_exec();
	CHECK_EQ(parse(FILE_BYTES, &img), 0);
	CHECK_EQ(img.type, ELF_ET_EXEC);
	CHECK_EQ(img.nsegs, 2);
	CHECK_EQ(img.entry, 0x401000);
	CHECK_EQ(img.phdr_vaddr, 0x400040);
	CHECK_EQ(img.lo, 0x400000);
	CHECK_EQ(img.hi, 0x405000);
	CHECK(!img.exec_stack);
}

TEST(accepts_static_pie)
{
	struct elf_image img;

	make_exec();
	put16(16, ELF_ET_DYN);
	phdr(0, 1, ELF_PF_R | ELF_PF_X, 0, 0, 0x2000, 0x2000);
	phdr(1, 1, ELF_PF_R | ELF_PF_W, 0x2000, 0x2000, 0x800, 0x3000);
	put64(24, 0x1000);
	CHECK_EQ(parse(FILE_BYTES, &img), 0);
	CHECK_EQ(img.type, ELF_ET_DYN);
	CHECK_EQ(img.lo, 0);
}

static void check_refused(size_t len, const char *reason)
{
	struct elf_image img;

	CHECK_EQ(parse(len, &img), -ENOEXEC);
	CHECK(strstr(why, reason) != NULL);
}

TEST(refuses_other_architecture)
{
	make_exec();
	put16(18, ELF_MACHINE_AARCH64);
	check_refused(FILE_BYTES, "built for aarch64");
}

TEST(refuses_32_bit)
{
	make_exec();
	file[4] = 1;
	check_refused(FILE_BYTES, "32-bit");
}

TEST(refuses_dynamic)
{
	make_exec();
	phdr(2, 3, ELF_PF_R, 0, 0, 0, 0);
	check_refused(FILE_BYTES, "dynamically linked (PT_INTERP)");
}

TEST(refuses_truncated)
{
	make_exec();
	check_refused(40, "truncated");
	check_refused(0x2100, "truncated: segment 1");
}

TEST(refuses_overlapping_and_out_of_range_segments)
{
	make_exec();
	phdr(1, 1, ELF_PF_R | ELF_PF_W, 0x1000, 0x401000, 0x800, 0x3000);
	check_refused(FILE_BYTES, "overlaps");
	make_exec();
	phdr(0, 1, ELF_PF_R | ELF_PF_X, 0, 0x40000000, 0x2000, 0x2000);
	phdr(1, 1, ELF_PF_R | ELF_PF_W, 0x2000, 0x40002000, 0x800, 0x3000);
	put64(24, 0x40001000);
	check_refused(FILE_BYTES, "out of range");
}

TEST(refuses_over_the_size_limit_and_a_bad_entry)
{
	struct elf_limits small = limits;
	struct elf_image img;

	make_exec();
	small.max_len = 100;
	CHECK_EQ(elf_parse(file, FILE_BYTES, &small, &img, why, sizeof(why)), -ENOEXEC);
	CHECK(strstr(why, "over the size limit") != NULL);
	put64(24, 0x402100);
	check_refused(FILE_BYTES, "entry point");
}

TEST(initial_stack_is_laid_out_as_linux_does)
{
	static uint8_t stack[8192];
	const uint64_t top = 0x7ffffffff000;
	const char *argv[] = { "/bin/prog", "a" }, *envp[] = { "K=V" };
	const struct elf_aux aux[] = { { AT_PAGESZ, 4096 }, { AT_ENTRY, 0x401000 } };
	uint8_t random[16];
	struct elf_stack_args a = { 2, argv, 1, envp, "/bin/prog", "x86_64", random, aux, 2 };
	uint64_t sp, w[16];

	memset(random, 7, sizeof(random));
	sp = elf_build_stack(&a, stack, sizeof(stack), top);
	CHECK(sp != 0);
	CHECK_EQ(sp % 16, 0);
	memcpy(w, stack + (sp - (top - sizeof(stack))), sizeof(w));
	CHECK_EQ(w[0], 2); /* argc */
	CHECK(strcmp((char *)stack + (w[1] - (top - sizeof(stack))), "/bin/prog") == 0);
	CHECK(strcmp((char *)stack + (w[2] - (top - sizeof(stack))), "a") == 0);
	CHECK_EQ(w[3], 0); /* argv end */
	CHECK(strcmp((char *)stack + (w[4] - (top - sizeof(stack))), "K=V") == 0);
	CHECK_EQ(w[5], 0); /* envp end */
	CHECK_EQ(w[6], AT_PAGESZ);
	CHECK_EQ(w[7], 4096);
	CHECK_EQ(w[8], AT_ENTRY);
	CHECK_EQ(w[10], AT_RANDOM);
	CHECK(memcmp(stack + (w[11] - (top - sizeof(stack))), random, 16) == 0);
	CHECK_EQ(w[12], AT_EXECFN);
	CHECK_EQ(w[14], AT_PLATFORM);
	CHECK(strcmp((char *)stack + (w[15] - (top - sizeof(stack))), "x86_64") == 0);
	/* too small a buffer: 0, never a write past it */
	CHECK_EQ(elf_build_stack(&a, stack, 64, top), 0);
}
