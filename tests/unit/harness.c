/*
 * harness.c -- main() for host unit tests: runs every registered TEST.
 * See harness.h for usage.
 */
#include "tests/unit/harness.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "include/log.h"

#define MAX_TESTS    512
#define MAX_DEFERRED 32

static struct {
	const char *name; /* as written in TEST() */
	test_fn fn;       /* the test */
	bool must_fail;   /* TEST_MUST_FAIL: passes when a CHECK failed */
} tests[MAX_TESTS];
static int test_count;
static jmp_buf test_escape;
static const char *current_test;
static bool current_failed; /* a CHECK of the current test failed */

static struct {
	void (*fn)(void *arg); /* a teardown */
	void *arg;             /* its argument */
} deferred[MAX_DEFERRED];
static int deferred_count;

char harness_last_log[1024];
unsigned harness_log_count;

/* Portable code reports problems here; tests check that they did. */
void log_printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(harness_last_log, sizeof(harness_last_log), fmt, ap);
	va_end(ap);
	harness_log_count++;
	if (getenv("HARNESS_VERBOSE"))
		printf("  log: %s", harness_last_log);
}

void harness_register(const char *name, test_fn fn, bool must_fail)
{
	if (test_count == MAX_TESTS) {
		fprintf(stderr, "harness: more than %d tests\n", MAX_TESTS);
		exit(2);
	}
	tests[test_count].name = name;
	tests[test_count].fn = fn;
	tests[test_count].must_fail = must_fail;
	test_count++;
}

void harness_fail(const char *file, int line, const char *what)
{
	printf("  %s:%d: %s: check failed: %s\n", file, line, current_test, what);
	current_failed = true;
	longjmp(test_escape, 1);
}

void harness_defer(void (*fn)(void *arg), void *arg)
{
	if (deferred_count == MAX_DEFERRED) {
		fprintf(stderr, "harness: more than %d teardowns in one test\n", MAX_DEFERRED);
		exit(2);
	}
	deferred[deferred_count].fn = fn;
	deferred[deferred_count].arg = arg;
	deferred_count++;
}

bool harness_failing(void)
{
	return current_failed;
}

/* The current test's teardowns, newest first; each is taken off before it
 * runs, so one whose CHECK fails is not run again. */
static void run_deferred(void)
{
	while (deferred_count > 0) {
		int i = --deferred_count;

		if (setjmp(test_escape) == 0)
			deferred[i].fn(deferred[i].arg);
	}
}

int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : NULL;
	volatile int passed = 0, failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (volatile int i = 0; i < test_count; i++) {
		if (only && strcmp(only, tests[i].name) != 0)
			continue;
		current_test = tests[i].name;
		current_failed = false;
		if (setjmp(test_escape) == 0)
			tests[i].fn();
		run_deferred();
		if (current_failed == tests[i].must_fail) {
			printf("ok   %s%s\n", tests[i].name,
			       tests[i].must_fail ? " (failed, as it must)" : "");
			passed++;
		} else {
			printf("FAIL %s\n", tests[i].name);
			failed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
