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

static const struct uart_ops *uart;                  /* the console after takeover */
static void (*firmware_write)(const char *, size_t); /* before it */

/*
 * log_printf is what portable code calls about hostile input, so a peer
 * could flood the (slow, polled) serial console through it: past
 * LOG_BURST messages in a LOG_WINDOW_NS window the rest are counted and
 * reported as one line when the next window opens.
 */
#define LOG_BURST     64
#define LOG_WINDOW_NS 1000000000ull

static bool rate_limit;       /* on once the clock runs */
static uint64_t window_start; /* start of the current window */
static unsigned window_count; /* messages printed in it */
static uint64_t suppressed;   /* messages dropped since the last report */

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

/* One call's text stays together on the console: interrupts are off while
 * it is written, so another task's line cannot land inside it. */
void console_write(const char *bytes, size_t len)
{
	bool irq_on = arch_irq_enabled();
	size_t start = 0;

	arch_irq_disable();
	for (size_t i = 0; i < len; i++) {
		if (bytes[i] != '\n')
			continue;
		sink(bytes + start, i - start);
		sink("\r\n", 2);
		start = i + 1;
	}
	sink(bytes + start, len - start);
	if (irq_on)
		arch_irq_enable();
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

void console_rate_limit_logs(void)
{
	window_start = arch_clock_ns();
	rate_limit = true;
}

/* May this message be printed?  Interrupts off while counting. */
static bool log_allowed(void)
{
	bool irq_on = arch_irq_enabled(), allowed = true;
	uint64_t now, dropped = 0;

	if (!rate_limit)
		return true;
	arch_irq_disable();
	now = arch_clock_ns();
	if (now - window_start >= LOG_WINDOW_NS) {
		dropped = suppressed;
		suppressed = 0;
		window_start = now;
		window_count = 0;
	}
	if (window_count >= LOG_BURST) {
		suppressed++;
		allowed = false;
	} else {
		window_count++;
	}
	if (irq_on)
		arch_irq_enable();
	if (dropped)
		kprintf("log: %llu messages suppressed (more than %u per second)\n",
		        (unsigned long long)dropped, LOG_BURST);
	return allowed;
}

void log_printf(const char *fmt, ...)
{
	va_list ap;

	if (!log_allowed())
		return;
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
}
