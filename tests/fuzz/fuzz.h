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

#endif
