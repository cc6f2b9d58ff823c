/*
 * console.c -- the serial console: firmware text output until a UART is
 * known, then the UART (COM1 on x86_64, the SPCR PL011 on aarch64).
 *
 * Lines end in "\r\n" on the wire.  Output is formatted into a bounded
 * buffer; longer messages are cut and marked, never overrun.
 */
#include <stdio.h>
#include <string.h>

#include "kernel/kernel.h"

static const struct uart_ops *uart;             /* the console after takeover */
static void (*firmware_write)(const char *, size_t); /* before it */

void console_set_uart(const struct uart_ops *u)
{
	uart = u;
}

void console_set_firmware(void (*write)(const char *bytes, size_t len))
{
	firmware_write = write;
}

const char *console_name(void)
{
	return uart ? uart->name : firmware_write ? "firmware console" : "none";
}

static void sink(const char *bytes, size_t len)
{
	if (uart)
		uart->write(bytes, len);
	else if (firmware_write)
		firmware_write(bytes, len);
}

void console_write(const char *bytes, size_t len)
{
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		if (bytes[i] != '\n')
			continue;
		sink(bytes + start, i - start);
		sink("\r\n", 2);
		start = i + 1;
	}
	sink(bytes + start, len - start);
}

int kvprintf(const char *fmt, va_list ap)
{
	char buf[512];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);

	if (n < 0)
		return n;
	if ((size_t)n >= sizeof(buf)) {
		memcpy(buf + sizeof(buf) - 6, "...\n", 5);
		n = sizeof(buf) - 2;
	}
	console_write(buf, n);
	return n;
}

int kprintf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kvprintf(fmt, ap);
	va_end(ap);
	return n;
}

void log_printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
}
