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

#include <stdio.h>

#include "agent/program.h"
#include "include/store.h"
#include "kernel/kernel.h"
#include "kernel/sched.h"
#include "kernel/user.h"
#include "kernel/vm.h"

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
		kprintf("selftest: fault '%s' is not supported on %s\n", name, ARCH_NAME);
		return;
	}
	if (strcmp(name, "bp") == 0) {
		kprintf("selftest: resumed after breakpoint\n");
		arch_power_off(POWEROFF_CLEAN);
	}
	panic("selftest: fault '%s' returned", name);
}

/* ---- test.run: a program from the store, output on the console ---- */

struct run_ctx {
	struct prog prog; /* pipes and arguments */
	char path[STORE_PATH_MAX];
	char *argv[2];      /* prog.argv: { path, NULL } */
	char *envp[1];      /* prog.envp: { NULL } */
	uint64_t mem_limit; /* bytes */
	volatile bool done; /* the program has ended */
};

static void drain(struct run_ctx *ctx)
{
	char buf[256];
	size_t n;

	while ((n = pipe_read(&ctx->prog.out, buf, sizeof(buf))) ||
	       (n = pipe_read(&ctx->prog.err, buf, sizeof(buf)))) {
		console_write(buf, n);
		prog_wake(&ctx->prog);
	}
}

static void run_task(void *arg)
{
	struct run_ctx *ctx = arg;
	struct store_file *file = store_get(ctx->path);
	char note[USER_NOTE_MAX];
	int status = 127;

	note[0] = '\0';
	if (file && !file->is_dir) {
		uint64_t t0 = arch_clock_ns();

		status = user_run(&ctx->prog, file, ctx->path, ctx->mem_limit, note, sizeof(note));
		kprintf("test.run: %s ran %llu ms\n", ctx->path,
		        (unsigned long long)((arch_clock_ns() - t0) / 1000000));
	}
	store_put(file);
	ctx->done = true;
	kprintf("test.run: %s exited with status %d%s%s\n", ctx->path, status, note[0] ? ": " : "",
	        note);
}

void selftest_run_program(const char *path, uint32_t mem_mib)
{
	struct run_ctx *ctx = calloc(1, sizeof(*ctx));
	uint64_t free_before = vm_pages_free();
	size_t heap_before = heap_used();

	if (!ctx || pipe_init(&ctx->prog.in, 4096) || pipe_init(&ctx->prog.out, 32 << 10) ||
	    pipe_init(&ctx->prog.err, 32 << 10))
		panic("test.run: no memory");
	snprintf(ctx->path, sizeof(ctx->path), "%s", path);
	ctx->prog.argv = ctx->argv;
	ctx->prog.envp = ctx->envp;
	ctx->prog.argv[0] = ctx->path;
	ctx->prog.argc = 1;
	strcpy(ctx->prog.cwd, "/");
	ctx->mem_limit = (uint64_t)mem_mib << 20;
	pipe_close_write(&ctx->prog.in);
	kprintf("test.run: starting %s\n", path);
	if (!task_create("run", run_task, ctx, 32 << 10))
		panic("test.run: cannot create the task");
	while (!ctx->done) {
		drain(ctx);
		sched_sleep_ns(5000000);
	}
	sched_sleep_ns(20000000); /* the task is reaped */
	drain(ctx);
	kprintf("test.run: free pages %zu before, %zu after\n", (size_t)free_before,
	        vm_pages_free());
	(void)heap_before;
}
