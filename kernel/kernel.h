/*
 * kernel.h -- kernel-wide services: console, panic, power-off codes.
 */
#ifndef KERNEL_KERNEL_H
#define KERNEL_KERNEL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "include/arch.h"
#include "include/log.h"

/*
 * Power-off codes.  Under QEMU a non-zero code becomes the exit status
 * code * 2 + 1: isa-debug-exit (x86_64) exits with (value << 1) | 1 and
 * semihosting (aarch64, test.semihosting=1) is given that number directly.
 *   0 clean power-off          -> status 0
 *   1 panic / fatal exception  -> status 3
 *   2 no usable vsock device   -> status 5
 */
#define POWEROFF_CLEAN     0
#define POWEROFF_PANIC     1
#define POWEROFF_NO_DEVICE 2

/* console.c */
void console_set_uart(const struct uart_ops *uart);
void console_set_firmware(void (*write)(const char *bytes, size_t len));
const char *console_name(void);
void console_write(const char *bytes, size_t len);
int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kvprintf(const char *fmt, va_list ap);
/* From now on log_printf floods are cut to a burst per second. */
void console_rate_limit_logs(void);

/* panic.c */
__attribute__((noreturn, format(printf, 1, 2))) void panic(const char *fmt, ...);

/* heap.c: the general heap that newlib's malloc grows into */
void heap_init(void *base, size_t size);
size_t heap_used(void);
/* Bytes in chunks malloc has handed out and not had back: what a leak
 * grows (the break above also keeps free chunks under a live one). */
size_t heap_inuse(void);
size_t heap_size(void);
/* newlib's sbrk: grow the break; (void *)-1 with errno ENOMEM when full. */
void *heap_sbrk(intptr_t increment);

/* selftest.c */
void selftest_fault(const char *name);
/* test.run: run a program of the file store, its output on the console. */
void selftest_run_program(const char *path, uint32_t mem_mib);

#endif
