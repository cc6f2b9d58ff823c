/*
 * fuzz.h -- what every libFuzzer target in tests/fuzz/ defines.
 * Build and run: `make fuzz` (tests/run_fuzz.py).
 */
#ifndef TESTS_FUZZ_FUZZ_H
#define TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* One input; returns 0.  A crash, sanitizer report or leak is a finding. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The input, read a piece at a time by the targets that interpret it as
 * commands; past its end every read gives 0, so any input is a program.
 *	struct fuzz_input in = { data, size };
 *	while (in.left) switch (fuzz_byte(&in) % 4) { ... fuzz_u32(&in) ... }
 */
struct fuzz_input {
	const uint8_t *p; /* next byte */
	size_t left;      /* bytes after it */
};

static inline unsigned fuzz_byte(struct fuzz_input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

/* Big-endian, as a person writes a seed by hand. */
static inline unsigned fuzz_u16(struct fuzz_input *in)
{
	unsigned hi = fuzz_byte(in);

	return hi << 8 | fuzz_byte(in);
}

static inline uint32_t fuzz_u32(struct fuzz_input *in)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 8 | fuzz_byte(in);
	return v;
}

#endif
