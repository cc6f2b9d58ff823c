/*
 * fuzz_support.c -- the platform pieces every fuzz target links: a
 * log_printf (include/log.h) that formats each message, so that a bad
 * format argument is still caught, and throws it away (a fuzzer's millions
 * of rejected inputs would otherwise flood the terminal).
 */
#include <stdarg.h>
#include <stdio.h>

#include "include/log.h"

void log_printf(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
}
