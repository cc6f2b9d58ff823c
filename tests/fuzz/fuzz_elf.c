/*
 * fuzz_elf.c -- libFuzzer target: kernel/elf.c on hostile files.  Each
 * input is an ELF file checked for both architectures; an accepted one
 * must describe segments inside the file and inside the limits, and the
 * initial stack is then built for it into a buffer that ASan guards.
 */
#include <stdint.h>
#include <string.h>

#include "kernel/elf.h"
#include "tests/fuzz/fuzz.h"

static void check(const uint8_t *data, size_t size, unsigned machine)
{
	struct elf_limits lim = { machine, 1 << 20, 0x10000, 0x2000000, 1ull << 32 };
	struct elf_image img;
	char why[160];

	if (elf_parse(data, size, &lim, &img, why, sizeof(why)) != 0) {
		if (!why[0])
			__builtin_trap(); /* every refusal says why */
		return;
	}
	for (unsigned i = 0; i < img.nsegs; i++) {
		const struct elf_segment *s = &img.segs[i];

		if (s->offset > size || s->filesz > size - s->offset || s->filesz > s->memsz)
			__builtin_trap();
		if (img.type == ELF_ET_EXEC &&
		    (s->vaddr < lim.exec_lo || s->vaddr + s->memsz > lim.exec_hi))
			__builtin_trap();
	}
	{
		static uint8_t stack[4096];
		const char *argv[] = { "/bin/x" };
		uint8_t random[16] = { 0 };
		struct elf_aux aux[] = { { AT_PHNUM, img.phnum } };
		struct elf_stack_args a = { 1, argv, 0, NULL, "/bin/x", "x86_64", random, aux, 1 };
		uint64_t sp = elf_build_stack(&a, stack, sizeof(stack), 0x7ffffffff000);

		if (sp && (sp % 16 || sp < 0x7ffffffff000 - sizeof(stack)))
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check(data, size, ELF_MACHINE_X86_64);
	check(data, size, ELF_MACHINE_AARCH64);
	return 0;
}
