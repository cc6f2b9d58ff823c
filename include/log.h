/*
 * log.h -- the one logging call portable code may make.
 *
 * In the image it prints on the console (serial); in host unit tests the
 * harness records the last message so tests can check that a problem was
 * reported, not silently ignored.
 */
#ifndef INCLUDE_LOG_H
#define INCLUDE_LOG_H

void log_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
