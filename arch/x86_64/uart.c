/*
 * uart.c -- the x86_64 console: the 16550 UART at COM1 (I/O port 0x3f8),
 * 115200 8N1, polled transmit.  QEMU: -serial file:LOG or -serial stdio.
 */
#include "arch/x86_64/io.h"
#include "include/arch.h"

#define COM1          0x3f8
#define UART_THR      0 /* transmit holding register */
#define UART_IER      1
#define UART_FCR      2
#define UART_LCR      3
#define UART_MCR      4
#define UART_LSR      5
#define LSR_THR_EMPTY 0x20
#define TX_SPIN_LIMIT 100000 /* give up on a wedged UART rather than hang */

static bool uart_ready;

static void com1_init(void)
{
	outb(COM1 + UART_IER, 0x00); /* no UART interrupts */
	outb(COM1 + UART_LCR, 0x80); /* DLAB: divisor follows */
	outb(COM1 + 0, 0x01);        /* 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + UART_LCR, 0x03); /* 8N1 */
	outb(COM1 + UART_FCR, 0xc7); /* FIFOs on and cleared */
	outb(COM1 + UART_MCR, 0x03); /* DTR, RTS */
	uart_ready = true;
}

static void com1_write(const char *bytes, size_t len)
{
	if (!uart_ready)
		com1_init();
	for (size_t i = 0; i < len; i++) {
		for (int spin = 0; spin < TX_SPIN_LIMIT; spin++)
			if (inb(COM1 + UART_LSR) & LSR_THR_EMPTY)
				break;
		outb(COM1 + UART_THR, (uint8_t)bytes[i]);
	}
}

static const struct uart_ops com1 = { "COM1 16550 at 0x3f8", com1_write };

const struct uart_ops *arch_early_uart(void)
{
	return &com1;
}

const struct uart_ops *arch_acpi_uart(const struct acpi *acpi)
{
	return &com1;
}
