/*
 * main.c -- the image's entry and boot sequence.
 *
 * gnu-efi's crt0 relocates the image and calls efi_main.  One line per
 * subsystem, in the order they come up; after efi_boot() the firmware is
 * gone and the machine is ours.
 */
#include <efi.h>
#include <string.h>

#include "include/arch.h"
#include "kernel/acpi.h"
#include "kernel/boot.h"
#include "kernel/kernel.h"
#include "kernel/pool.h"

#define IMAGE_VERSION "0.1.0"

struct agent_config config; /* options, final after efi_boot */
struct acpi acpi;           /* validated ACPI tables */
struct dma_pool dma_pool;   /* every page a device may touch */
static struct boot_info boot;

static void report_takeover(void)
{
	struct acpi_fadt_info fadt;

	kprintf("memory: %llu MiB usable RAM in %u map entries, %llu MiB free; "
		"ExitBootServices after %u attempt(s)\n",
		(unsigned long long)(boot.ram_bytes >> 20), boot.map_entries,
		(unsigned long long)(boot.free_bytes >> 20), boot.exit_attempts);
	kprintf("heap: %zu KiB at %p\n", heap_size() >> 10, boot.heap);
	kprintf("pool: %zu pages (%zu KiB) at phys %#llx, %zu in use\n",
		pool_usable_pages(&dma_pool), pool_usable_pages(&dma_pool) * 4,
		(unsigned long long)boot.pool_phys, pool_pages_in_use(&dma_pool));
	kprintf("acpi: revision %u, %u tables:", acpi.revision, acpi.count);
	for (unsigned i = 0; i < acpi.count; i++)
		kprintf(" %.4s", acpi.tables[i]->signature);
	kprintf("%s\n", acpi.rejected ? " (some rejected)" : "");
	if (acpi_parse_fadt(&acpi, &fadt) == 0)
		kprintf("acpi: FADT pm1a_cnt %#llx%s, arm boot flags %#x\n",
			(unsigned long long)fadt.pm1a_cnt.address,
			fadt.hw_reduced ? " (hardware-reduced)" : "",
			fadt.arm_boot_flags);
	arch_report();
	kprintf("options:\n");
	config_dump(&config);
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *system_table);
EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *system_table)
{
	struct acpi_fadt_info fadt;

	/* Firmware phase: options, ACPI, memory reservations, then exit. */
	if (efi_boot(image, system_table, &config, &acpi, &boot) != 0)
		return EFI_LOAD_ERROR; /* boot services still up: back to firmware */

	/* From here on there is no firmware. */
	arch_cpu_init(boot.ist_stacks, boot.ist_stack_bytes);   /* own descriptor tables / vectors */
	kprintf("vsock-agent %s (%s): took over the machine\n", IMAGE_VERSION,
		ARCH_NAME);
	heap_init(boot.heap, boot.heap_bytes);                   /* malloc's region */
	if (pool_init(&dma_pool, boot.pool, dma_addr(arch_phys_to_dma(boot.pool_phys)),
		      boot.pool_bytes) != 0)                     /* DMA page pool */
		panic("cannot set up the DMA page pool");
	acpi_parse_fadt(&acpi, &fadt);
	arch_power_init(&acpi, &fadt, config.test_semihosting);  /* how to power off */
	if (arch_interrupts_init(&acpi) != 0)                    /* PIC masked, LAPIC / GIC */
		panic("cannot take over the interrupt controller");
	report_takeover();

	if (strcmp(config.test_fault, "none") != 0)
		selftest_fault(config.test_fault);                /* exception self-test */

	if (config.test_poweroff) {
		kprintf("boot complete; powering off (test.poweroff=1)\n");
		arch_power_off(POWEROFF_CLEAN);
	}
	kprintf("boot complete; idle with interrupts enabled\n");
	for (;;)
		arch_wait_for_interrupt();
}
