/*
 * harness.h -- a tiny unit-test harness for host-built tests.
 *
 * Typical usage:
 *	#include "tests/unit/harness.h"
 *	TEST(pool_allocates_zeroed_pages)
 *	{
 *		CHECK(p != NULL);
 *		CHECK_EQ(pool_pages_in_use(&pool), 0);
 *	}
 * harness.c supplies main(): it runs every TEST in file order, prints one
 * line per test and closes with "N passed, N failed"; the exit status is
 * non-zero when any test failed.  A failing CHECK ends only its own test.
 *
 * Fixtures that start threads or hold resources register their teardown
 * with harness_defer(); it runs when the test ends, passed or failed (a
 * failed CHECK jumps past the test's own cleanup, never past these):
 *	void fixture_start(struct fixture *fx)
 *	{
 *		...start threads...
 *		harness_defer(fixture_teardown, fx);  // runs after the test
 *	}
 * Teardowns run newest first; a CHECK failing in one fails the test and
 * goes on with the next.  harness_failing() tells a teardown that the
 * test failed, so it frees what is left instead of checking for leaks.
 */
#ifndef TESTS_UNIT_HARNESS_H
#define TESTS_UNIT_HARNESS_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef void (*test_fn)(void);

/* The last message portable code passed to log_printf, and how many. */
extern char harness_last_log[1024];
extern unsigned harness_log_count;

void harness_register(const char *name, test_fn fn, bool must_fail);
void harness_fail(const char *file, int line, const char *what) __attribute__((noreturn));
/* Run fn(arg) when the current test ends, however it ends. */
void harness_defer(void (*fn)(void *arg), void *arg);
/* Has a CHECK of the current test failed? */
bool harness_failing(void);

#define TEST(name)                                                     \
	static void name(void);                                        \
	__attribute__((constructor)) static void register_##name(void) \
	{                                                              \
		harness_register(#name, name, false);                  \
	}                                                              \
	static void name(void)

/* A test of the harness itself: it passes when one of its CHECKs fails. */
#define TEST_MUST_FAIL(name)                                           \
	static void name(void);                                        \
	__attribute__((constructor)) static void register_##name(void) \
	{                                                              \
		harness_register(#name, name, true);                   \
	}                                                              \
	static void name(void)

#define CHECK(cond)                                              \
	do {                                                     \
		if (!(cond))                                     \
			harness_fail(__FILE__, __LINE__, #cond); \
	} while (0)

#define CHECK_EQ(a, b)                                                                          \
	do {                                                                                    \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);                 \
		if (check_a_ != check_b_) {                                                     \
			char check_msg_[256];                                                   \
			snprintf(check_msg_, sizeof(check_msg_), "%s == %s (%lld != %lld)", #a, \
			         #b, check_a_, check_b_);                                       \
			harness_fail(__FILE__, __LINE__, check_msg_);                           \
		}                                                                               \
	} while (0)

#endif
