/*
 * panic.c -- report an unrecoverable state and power off with the panic
 * code (QEMU exit status 3, see kernel.h).
 */
#include "kernel/kernel.h"

void panic(const char *fmt, ...)
{
	static int nested;
	va_list ap;

	arch_irq_disable();
	if (nested++ == 0) {
		kprintf("\nPANIC: ");
		va_start(ap, fmt);
		kvprintf(fmt, ap);
		va_end(ap);
		kprintf("\n");
	}
	arch_power_off(POWEROFF_PANIC);
}
