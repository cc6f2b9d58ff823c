/*
 * power.c -- aarch64 power-off through PSCI SYSTEM_OFF (Arm DEN0022,
 * function 0x84000008), with the conduit (HVC or SMC) the FADT's
 * ARM_BOOT_ARCH flags name.  PSCI carries no exit code, so under test
 * (test.semihosting=1, QEMU -semihosting-config enable=on) a failure
 * exits through semihosting SYS_EXIT with the code as QEMU's status.
 */
#include <stdint.h>

#include "include/arch.h"
#include "kernel/acpi.h"
#include "kernel/kernel.h"

#define PSCI_SYSTEM_OFF              0x84000008u
#define SEMIHOSTING_SYS_EXIT         0x18
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

static bool psci_use_hvc;    /* conduit: HVC (no EL3) or SMC */
static bool use_semihosting; /* test.semihosting: exit codes via semihosting */

void arch_power_init(const struct acpi *acpi, const struct acpi_fadt_info *fadt, bool semihosting)
{
	if (!(fadt->arm_boot_flags & ACPI_ARM_PSCI_COMPLIANT))
		kprintf("power: FADT does not declare PSCI; trying HVC anyway\n");
	psci_use_hvc = (fadt->arm_boot_flags & ACPI_ARM_PSCI_USE_HVC) ||
	               !(fadt->arm_boot_flags & ACPI_ARM_PSCI_COMPLIANT);
	use_semihosting = semihosting;
}

static __attribute__((noinline)) void semihosting_exit(int code)
{
	uint64_t block[2] = { ADP_STOPPED_APPLICATION_EXIT, (uint64_t)code };
	register uint64_t x0 __asm__("x0") = SEMIHOSTING_SYS_EXIT;
	register uint64_t x1 __asm__("x1") = (uint64_t)(uintptr_t)block;

	__asm__ volatile("hlt #0xf000" : "+r"(x0) : "r"(x1) : "memory");
}

/* One PSCI call through the conduit; returns PSCI's status in x0. */
static __attribute__((noinline)) int64_t psci_call(uint32_t function)
{
	register uint64_t x0 __asm__("x0") = function;

	if (psci_use_hvc)
		__asm__ volatile("hvc #0" : "+r"(x0) : : "x1", "x2", "x3", "memory");
	else
		__asm__ volatile("smc #0" : "+r"(x0) : : "x1", "x2", "x3", "memory");
	return (int64_t)x0;
}

void arch_power_off(int code)
{
	int64_t status;

	arch_irq_disable();
	kprintf("power: off (code %d)\n", code);
	if (code != POWEROFF_CLEAN && use_semihosting)
		semihosting_exit(code * 2 + 1); /* as isa-debug-exit on x86_64 */
	status = psci_call(PSCI_SYSTEM_OFF);
	kprintf("power: PSCI SYSTEM_OFF returned %lld; halting\n", (long long)status);
	for (;;)
		__asm__ volatile("wfi");
}
