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
 */
#ifndef TESTS_UNIT_HARNESS_H
#define TESTS_UNIT_HARNESS_H

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>

typedef void (*test_fn)(void);

/* The last message portable code passed to log_printf, and how many. */
extern char harness_last_log[1024];
extern unsigned harness_log_count;

void harness_register(const char *name, test_fn fn);
void harness_fail(const char *file, int line, const char *what) __attribute__((noreturn));

#define TEST(name)                                                           \
	static void name(void);                                              \
	__attribute__((constructor)) static void register_##name(void)      \
	{                                                                    \
		harness_register(#name, name);                               \
	}                                                                    \
	static void name(void)

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond))                                                 \
			harness_fail(__FILE__, __LINE__, #cond);             \
	} while (0)

#define CHECK_EQ(a, b)                                                       \
	do {                                                                 \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b); \
		if (check_a_ != check_b_) {                                  \
			char check_msg_[256];                                \
			snprintf(check_msg_, sizeof(check_msg_),             \
				 "%s == %s (%lld != %lld)", #a, #b, check_a_, \
				 check_b_);                                  \
			harness_fail(__FILE__, __LINE__, check_msg_);        \
		}                                                            \
	} while (0)

#endif
