/*
 * power.c -- x86_64 power-off.
 *
 * A clean power-off writes SLP_TYP(S5) | SLP_EN to the FADT's PM1a (and
 * PM1b) control registers (ACPI 6.4 §4.8.3.2.1, §7.4.2).  A failure first
 * writes its code to QEMU's isa-debug-exit port (QEMU then exits with
 * status (code << 1) | 1), which is ignored where the device is absent,
 * then powers off through ACPI as well.  If everything fails the CPU halts.
 */
#include "arch/x86_64/io.h"
#include "include/arch.h"
#include "kernel/acpi.h"
#include "kernel/kernel.h"

#define DEBUG_EXIT_PORT 0xf4 /* -device isa-debug-exit,iobase=0xf4,iosize=4 */
#define SLP_EN          (1u << 13)

static struct acpi_gas pm1a, pm1b; /* PM1 control blocks (I/O on PCs) */
static uint8_t slp_typa, slp_typb; /* \_S5 sleep types */
static bool have_s5;

void arch_power_init(const struct acpi *acpi, const struct acpi_fadt_info *fadt, bool semihosting)
{
	pm1a = fadt->pm1a_cnt;
	pm1b = fadt->pm1b_cnt;
	have_s5 = acpi_s5_sleep_type(fadt->dsdt, &slp_typa, &slp_typb) == 0;
	if (!have_s5 || pm1a.space_id != ACPI_SPACE_IO || !pm1a.address)
		kprintf("power: no ACPI S5 path (PM1a %#llx, _S5 %s)\n",
		        (unsigned long long)pm1a.address, have_s5 ? "found" : "missing");
}

static void pm1_write(const struct acpi_gas *reg, uint8_t slp_typ)
{
	if (reg->space_id == ACPI_SPACE_IO && reg->address && reg->address < 0x10000)
		outw((uint16_t)reg->address, (uint16_t)((slp_typ & 7) << 10) | SLP_EN);
}

void arch_power_off(int code)
{
	arch_irq_disable();
	kprintf("power: off (code %d)\n", code);
	if (code != POWEROFF_CLEAN)
		outl(DEBUG_EXIT_PORT, (uint32_t)code);
	if (have_s5) {
		pm1_write(&pm1a, slp_typa);
		pm1_write(&pm1b, slp_typb);
	}
	/* QEMU acts on the write asynchronously: give it a moment before
	 * declaring failure. */
	for (volatile uint32_t spin = 0; spin < 50000000; spin++)
		__asm__ volatile("pause");
	kprintf("power: the machine did not power off; halting\n");
	for (;;)
		__asm__ volatile("cli; hlt");
}
