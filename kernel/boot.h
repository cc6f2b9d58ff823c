/*
 * boot.h -- what the EFI phase hands to the rest of the kernel.
 *
 * Everything here was obtained from the firmware before ExitBootServices
 * and stays valid after it (EfiLoaderData memory, ACPI tables).
 */
#ifndef KERNEL_BOOT_H
#define KERNEL_BOOT_H

#include <stdint.h>
#include <stddef.h>

#include "kernel/config.h"

struct boot_info {
	uint64_t rsdp;             /* physical address of the ACPI RSDP, or 0 */
	void *heap;                /* general heap region */
	size_t heap_bytes;
	void *pool;                /* DMA pool region (CPU address) */
	uint64_t pool_phys;        /* its physical address (below 4 GiB) */
	size_t pool_bytes;
	void *ist_stacks;          /* exception stacks for arch_cpu_init */
	size_t ist_stack_bytes;    /* bytes per stack */
	uint64_t ram_bytes;        /* usable RAM per the final memory map */
	uint64_t free_bytes;       /* of which free (conventional + boot services) */
	unsigned map_entries;      /* descriptors in the final memory map */
	unsigned exit_attempts;    /* ExitBootServices calls it took */
	unsigned config_problems;  /* option problems reported */
	char firmware[64];         /* firmware vendor and revision */
};

struct acpi;

/* kernel/efi_boot.c: everything that needs boot services, then exit. */
int efi_boot(void *image_handle, void *system_table, struct agent_config *cfg,
	     struct acpi *acpi, struct boot_info *info);

#endif
