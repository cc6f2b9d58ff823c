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

#define BOOT_MAX_RANGES 256 /* memory map ranges kept for the page tables */

/* What a range of physical memory is, as far as the kernel is concerned. */
enum mem_kind {
	MEM_FREE,     /* RAM nobody uses after ExitBootServices */
	MEM_KERNEL,   /* RAM the image and its reservations occupy (loader code/data) */
	MEM_FIRMWARE, /* RAM the firmware keeps: ACPI tables, runtime services */
	MEM_DEVICE,   /* not RAM: MMIO, reserved, unusable */
};

struct mem_range {
	uint64_t base;      /* physical address, page aligned */
	uint64_t bytes;     /* length, whole pages */
	enum mem_kind kind; /* see enum */
};

#define BOOT_MAX_BIN 32 /* files read from \bin\ on the ESP */

/* A file from the ESP's \bin\ folder, in EfiLoaderData pages. */
struct boot_file {
	char name[64]; /* its name: /bin/NAME in the file store */
	void *data;    /* contents */
	size_t size;   /* bytes */
};

struct boot_info {
	uint64_t rsdp; /* physical address of the ACPI RSDP, or 0 */
	void *heap;    /* general heap region */
	size_t heap_bytes;
	void *pool;         /* DMA pool region (CPU address) */
	uint64_t pool_phys; /* its physical address (below 4 GiB) */
	size_t pool_bytes;
	void *ist_stacks;          /* exception stacks for arch_cpu_init */
	size_t ist_stack_bytes;    /* bytes per stack */
	uint64_t ram_bytes;        /* usable RAM per the final memory map */
	uint64_t free_bytes;       /* of which free (conventional + boot services) */
	unsigned map_entries;      /* descriptors in the final memory map */
	unsigned exit_attempts;    /* ExitBootServices calls it took */
	unsigned config_problems;  /* option problems reported */
	char firmware[64];         /* firmware vendor and revision */
	uint64_t epoch_seconds;    /* wall clock (Unix time) from the firmware's RTC, 0: none */
	uint64_t image_base;       /* where the firmware loaded the image */
	uint64_t image_bytes;      /* and its size */
	uint64_t boot_stack_base;  /* the map range holding the stack efi_main runs on */
	uint64_t boot_stack_bytes; /* (boot services data the kernel keeps using) */
	struct mem_range ranges[BOOT_MAX_RANGES]; /* the final memory map, merged */
	unsigned nranges;                         /* entries used */
	unsigned ranges_dropped;                  /* descriptors that did not fit (reported) */
	struct boot_file bin[BOOT_MAX_BIN];       /* \bin\ on the ESP */
	unsigned nbin;                            /* files read */
};

struct acpi;

/* kernel/efi_boot.c: everything that needs boot services, then exit. */
int efi_boot(void *image_handle, void *system_table, struct agent_config *cfg, struct acpi *acpi,
             struct boot_info *info);

#endif
