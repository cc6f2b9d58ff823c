/*
 * selftest.c -- the exception self-test (option test.fault=NAME).
 *
 * Raises a deliberate fault after the takeover so the tests can check that
 * the image's own exception vectors catch it, report it with the right
 * vector and registers, and power off with the panic code.  "bp" is a trap
 * the image resumes from; it then powers off cleanly to prove it resumed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/kernel.h"
#include "kernel/sched.h"

/* Deep enough to run through any stack; the result keeps it recursive. */
static unsigned recurse(unsigned depth, unsigned limit)
{
	volatile char frame[256];

	frame[0] = (char)depth;
	if (depth == limit)
		return frame[0];
	return recurse(depth + 1, limit) + frame[0];
}

static void overflow_task(void *arg)
{
	kprintf("selftest: task 'overflow' recursing\n");
	kprintf("selftest: %u\n", recurse(0, (unsigned)(uintptr_t)arg));
}

void selftest_fault(const char *name)
{
	kprintf("selftest: raising fault '%s'\n", name);
	if (strcmp(name, "panic") == 0)
		panic("selftest: deliberate panic");
	if (strcmp(name, "write_text") == 0) {
		/* W^X: the image's text is read-only, for the kernel too */
		*(volatile uint8_t *)(uintptr_t)selftest_fault = 0;
		panic("selftest: wrote to the image's text");
	}
	if (strcmp(name, "exec_data") == 0) {
		/* NX: data (here the heap) never runs */
		uint8_t *code = malloc(64);

		memset(code, 0xc3, 64); /* x86 ret; on aarch64 a permission fault first anyway */
		((void (*)(void))(uintptr_t)code)();
		panic("selftest: ran code from the heap");
	}
	if (strcmp(name, "stack_overflow") == 0) {
		/* a kernel task runs into the guard page below its stack */
		sched_init();
		if (!task_create("overflow", overflow_task, (void *)(uintptr_t)1000000, 16 << 10))
			panic("selftest: cannot create the task");
		for (;;)
			sched_yield();
	}
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
