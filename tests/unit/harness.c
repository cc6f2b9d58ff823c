/*
 * harness.c -- main() for host unit tests: runs every registered TEST.
 * See harness.h for usage.
 */
#include "tests/unit/harness.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "include/log.h"

#define MAX_TESTS 512

static struct {
	const char *name;
	test_fn fn;
} tests[MAX_TESTS];
static int test_count;
static jmp_buf test_escape;
static const char *current_test;

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

void harness_register(const char *name, test_fn fn)
{
	if (test_count == MAX_TESTS) {
		fprintf(stderr, "harness: more than %d tests\n", MAX_TESTS);
		exit(2);
	}
	tests[test_count].name = name;
	tests[test_count].fn = fn;
	test_count++;
}

void harness_fail(const char *file, int line, const char *what)
{
	printf("  %s:%d: %s: check failed: %s\n", file, line, current_test, what);
	longjmp(test_escape, 1);
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
		if (setjmp(test_escape) == 0) {
			tests[i].fn();
			printf("ok   %s\n", tests[i].name);
			passed++;
		} else {
			printf("FAIL %s\n", tests[i].name);
			failed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
