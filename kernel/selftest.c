/*
 * selftest.c -- the exception self-test (option test.fault=NAME).
 *
 * Raises a deliberate fault after the takeover so the tests can check that
 * the image's own exception vectors catch it, report it with the right
 * vector and registers, and power off with the panic code.  "bp" is a trap
 * the image resumes from; it then powers off cleanly to prove it resumed.
 */
#include <string.h>

#include "kernel/kernel.h"

void selftest_fault(const char *name)
{
	kprintf("selftest: raising fault '%s'\n", name);
	if (strcmp(name, "panic") == 0)
		panic("selftest: deliberate panic");
	if (!arch_raise_fault(name)) {
		kprintf("selftest: fault '%s' is not supported on %s\n", name,
			ARCH_NAME);
		return;
	}
	if (strcmp(name, "bp") == 0) {
		kprintf("selftest: resumed after breakpoint\n");
		arch_power_off(POWEROFF_CLEAN);
	}
	panic("selftest: fault '%s' returned", name);
}
