/*
 * arch.h -- what kernel/ needs from arch/$(ARCH)/.
 *
 * Each architecture implements every function here; kernel code never
 * includes an arch header directly.  Interrupt controllers, timers and the
 * context switch join this interface with the drivers (issue 5).
 */
#ifndef INCLUDE_ARCH_H
#define INCLUDE_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct acpi;
struct acpi_fadt_info;

/* Console UART: write bytes as they are (the console adds \r). */
struct uart_ops {
	const char *name;                              /* e.g. "COM1 16550" */
	void (*write)(const char *bytes, size_t len);  /* polled transmit */
};

/* The UART usable before ACPI is read (x86_64: COM1), or NULL. */
const struct uart_ops *arch_early_uart(void);
/* The UART described by ACPI (SPCR), or the architecture's default. */
const struct uart_ops *arch_acpi_uart(const struct acpi *acpi);

/* Own the CPU after ExitBootServices: descriptor tables / vector base. */
void arch_cpu_init(void *ist_stacks, size_t ist_stack_size);
/* Bytes of stack arch_cpu_init wants for its exception stacks. */
#define ARCH_IST_STACKS 3
/* Own the interrupt controller(s): legacy masked, local controller on. */
int arch_interrupts_init(const struct acpi *acpi);
/* Describe the CPU and interrupt controller on the console. */
void arch_report(void);

/* Power-off: ACPI tables tell how; code 0 is a clean power-off. */
void arch_power_init(const struct acpi *acpi, const struct acpi_fadt_info *fadt,
		     bool semihosting);
__attribute__((noreturn)) void arch_power_off(int code);

/* Halt with interrupts enabled until one arrives. */
void arch_wait_for_interrupt(void);
void arch_irq_enable(void);
void arch_irq_disable(void);

/* Deliberate faults for the exception self-test; false if unsupported. */
bool arch_raise_fault(const char *name);

/* Device address of physical memory (no IOMMU: identity). */
static inline uint64_t arch_phys_to_dma(uint64_t phys)
{
	return phys;
}

#endif
