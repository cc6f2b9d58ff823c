/*
 * efi_boot.c -- everything the image needs from UEFI boot services, ending
 * with ExitBootServices (UEFI 2.10 §7.4).
 *
 * In order: options from the load options and \agent.cfg, the ACPI RSDP
 * from the configuration table, the heap and the DMA page pool reserved as
 * EfiLoaderData (the pool below 4 GiB), then the final memory map and
 * ExitBootServices, retried with a fresh map when the map key is stale.
 * After efi_boot returns 0 no boot service may be called again.
 */
#include <efi.h>
#include <string.h>

#include "include/arch.h"
#include "include/pool.h"
#include "kernel/acpi.h"
#include "kernel/boot.h"
#include "kernel/kernel.h"

#define CONFIG_FILE_MAX       (64u << 10) /* \agent.cfg larger than this is refused */
#define EXIT_RETRIES          8
#define MAP_SLACK_DESCRIPTORS 16 /* room for the map to grow between calls */
#define POOL_MAX_ADDRESS      0xffffffffull
#define IST_STACK_BYTES       (16u << 10)

static void *allocate_pages(EFI_ALLOCATE_TYPE type, uint64_t max, size_t bytes, const char *what);

static EFI_SYSTEM_TABLE *st;
static EFI_BOOT_SERVICES *bs;

/* Console sink before a UART is known: the firmware's text output. */
static void firmware_console_write(const char *bytes, size_t len)
{
	CHAR16 buf[129];
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		buf[n++] = (unsigned char)bytes[i];
		if (n == 128 || i + 1 == len) {
			buf[n] = 0;
			st->ConOut->OutputString(st->ConOut, buf);
			n = 0;
		}
	}
}

static void efi_error(const char *what, EFI_STATUS status)
{
	kprintf("efi: %s failed: status %#llx\n", what, (unsigned long long)status);
}

/* ------------------------------------------------------------------ */
/* Options                                                              */
/* ------------------------------------------------------------------ */

/*
 * Load options are UCS-2 text when someone typed them (shell, Boot####
 * with text data).  Anything else (boot manager binary data) is reported
 * and ignored.  The shell puts the image path first: skip it.
 */
static void parse_load_options(EFI_LOADED_IMAGE *loaded, struct agent_config *cfg,
                               struct boot_info *info)
{
	const CHAR16 *w = loaded->LoadOptions;
	size_t chars = loaded->LoadOptionsSize / sizeof(CHAR16);
	char *text;
	size_t start = 0;

	if (!w || chars == 0)
		return;
	if (bs->AllocatePool(EfiLoaderData, chars + 1, (void **)&text) != EFI_SUCCESS)
		return;
	for (size_t i = 0; i < chars; i++) {
		if (w[i] == 0) {
			chars = i;
			break;
		}
		if (w[i] > 0x7e || (w[i] < 0x20 && w[i] != '\t' && w[i] != '\n' && w[i] != '\r')) {
			kprintf("config: load options are not text (%u bytes); "
			        "ignored\n",
			        loaded->LoadOptionsSize);
			bs->FreePool(text);
			return;
		}
		text[i] = (char)w[i];
	}
	text[chars] = '\0';
	while (start < chars && text[start] == ' ')
		start++;
	if (chars - start >= 4) {
		size_t end = start;

		while (end < chars && text[end] != ' ' && text[end] != '=')
			end++;
		if (end - start >= 4 && end < chars + 1 && text[end] != '=' &&
		    strncasecmp(text + end - 4, ".efi", 4) == 0)
			start = end;
	}
	if (start < chars) {
		kprintf("config: load options: %s\n", text + start);
		info->config_problems +=
		        config_parse(cfg, text + start, chars - start, "load options");
	}
	bs->FreePool(text);
}

static void read_config_file(EFI_LOADED_IMAGE *loaded, struct agent_config *cfg,
                             struct boot_info *info)
{
	EFI_GUID fs_guid = EFI_SIMPLE_FILE_SYSTEM_PROTOCOL_GUID;
	EFI_SIMPLE_FILE_SYSTEM_PROTOCOL *fs;
	EFI_FILE_HANDLE root, file;
	EFI_STATUS status;
	UINTN size = CONFIG_FILE_MAX + 1;
	char *buf;

	status = bs->HandleProtocol(loaded->DeviceHandle, &fs_guid, (void **)&fs);
	if (status != EFI_SUCCESS)
		return; /* not loaded from a file system: nothing to read */
	status = fs->OpenVolume(fs, &root);
	if (status != EFI_SUCCESS) {
		efi_error("OpenVolume", status);
		return;
	}
	status = root->Open(root, &file, L"\\agent.cfg", EFI_FILE_MODE_READ, 0);
	if (status != EFI_SUCCESS) {
		if (status != EFI_NOT_FOUND)
			efi_error("opening \\agent.cfg", status);
		goto close_root;
	}
	if (bs->AllocatePool(EfiLoaderData, size, (void **)&buf) != EFI_SUCCESS)
		goto close_file;
	status = file->Read(file, &size, buf);
	if (status != EFI_SUCCESS)
		efi_error("reading \\agent.cfg", status);
	else if (size > CONFIG_FILE_MAX)
		kprintf("config: \\agent.cfg is larger than %u bytes; ignored\n", CONFIG_FILE_MAX);
	else {
		kprintf("config: read \\agent.cfg (%u bytes)\n", (unsigned)size);
		info->config_problems += config_parse(cfg, buf, size, "\\agent.cfg");
	}
	bs->FreePool(buf);
close_file:
	file->Close(file);
close_root:
	root->Close(root);
}

/*
 * \bin\ on the ESP: every regular file up to cfg->bin_max_mib (and in
 * all up to cfg->store_mib) into EfiLoaderData pages, for the file
 * store (DESIGN §9).  Larger files and names that are not plain ASCII
 * are reported and left out.
 */
static void read_bin_folder(EFI_LOADED_IMAGE *loaded, const struct agent_config *cfg,
                            struct boot_info *info)
{
	EFI_GUID fs_guid = EFI_SIMPLE_FILE_SYSTEM_PROTOCOL_GUID;
	EFI_SIMPLE_FILE_SYSTEM_PROTOCOL *fs;
	EFI_FILE_HANDLE root, dir, file;
	uint64_t max = (uint64_t)cfg->bin_max_mib << 20, total = 0;
	union {
		EFI_FILE_INFO info;
		uint8_t bytes[1024];
	} entry;

	if (bs->HandleProtocol(loaded->DeviceHandle, &fs_guid, (void **)&fs) != EFI_SUCCESS ||
	    fs->OpenVolume(fs, &root) != EFI_SUCCESS)
		return;
	if (root->Open(root, &dir, L"\\bin", EFI_FILE_MODE_READ, 0) != EFI_SUCCESS)
		goto close_root;
	for (;;) {
		UINTN size = sizeof(entry);
		EFI_FILE_INFO *fi = &entry.info;
		struct boot_file *bf;
		char name[64];
		size_t n = 0;
		bool ok = true;

		if (dir->Read(dir, &size, &entry) != EFI_SUCCESS || size == 0)
			break;
		if (fi->Attribute & EFI_FILE_DIRECTORY)
			continue;
		for (; fi->FileName[n] && ok; n++) {
			ok = n + 1 < sizeof(name) && fi->FileName[n] > 0x20 &&
			     fi->FileName[n] < 0x7f && fi->FileName[n] != '/';
			name[n] = (char)fi->FileName[n];
		}
		name[ok ? n : 0] = '\0';
		if (!ok || !n) {
			kprintf("bin: a file with a name that is not plain ASCII is left out\n");
			continue;
		}
		if (fi->FileSize > max || total + fi->FileSize > ((uint64_t)cfg->store_mib << 20) ||
		    info->nbin == BOOT_MAX_BIN) {
			kprintf("bin: \\bin\\%s (%llu bytes) is left out: over the limit of %u MiB "
			        "a file, %u MiB in all, %u files\n",
			        name, (unsigned long long)fi->FileSize, cfg->bin_max_mib,
			        cfg->store_mib, BOOT_MAX_BIN);
			continue;
		}
		bf = &info->bin[info->nbin];
		if (dir->Open(dir, &file, fi->FileName, EFI_FILE_MODE_READ, 0) != EFI_SUCCESS)
			continue;
		size = fi->FileSize;
		bf->data = size ? allocate_pages(AllocateAnyPages, 0, size, "\\bin file") : NULL;
		if ((size && !bf->data) || file->Read(file, &size, bf->data) != EFI_SUCCESS ||
		    size != fi->FileSize) {
			kprintf("bin: cannot read \\bin\\%s\n", name);
			file->Close(file);
			continue;
		}
		file->Close(file);
		/* programs may map the last page: no firmware leftovers past the end */
		memset((uint8_t *)bf->data + size, 0, ((size + 4095) & ~(UINTN)4095) - size);
		strcpy(bf->name, name);
		bf->size = size;
		total += size;
		info->nbin++;
	}
	kprintf("bin: %u files (%llu KiB) read from \\bin\\\n", info->nbin,
	        (unsigned long long)(total >> 10));
	dir->Close(dir);
close_root:
	root->Close(root);
}

/* ------------------------------------------------------------------ */
/* ACPI, heap, pool                                                     */
/* ------------------------------------------------------------------ */

static uint64_t find_rsdp(void)
{
	EFI_GUID acpi20 = ACPI_20_TABLE_GUID, acpi10 = ACPI_TABLE_GUID;
	uint64_t v1 = 0;

	for (UINTN i = 0; i < st->NumberOfTableEntries; i++) {
		EFI_CONFIGURATION_TABLE *t = &st->ConfigurationTable[i];

		if (memcmp(&t->VendorGuid, &acpi20, sizeof(EFI_GUID)) == 0)
			return (uint64_t)(uintptr_t)t->VendorTable;
		if (memcmp(&t->VendorGuid, &acpi10, sizeof(EFI_GUID)) == 0)
			v1 = (uint64_t)(uintptr_t)t->VendorTable;
	}
	return v1;
}

static void *allocate_pages(EFI_ALLOCATE_TYPE type, uint64_t max, size_t bytes, const char *what)
{
	EFI_PHYSICAL_ADDRESS addr = max;
	UINTN pages = (bytes + 4095) / 4096;
	EFI_STATUS status = bs->AllocatePages(type, EfiLoaderData, pages, &addr);

	if (status != EFI_SUCCESS) {
		kprintf("efi: cannot reserve %zu KiB for the %s: status %#llx\n", bytes >> 10, what,
		        (unsigned long long)status);
		return NULL;
	}
	return (void *)(uintptr_t)addr;
}

static int reserve_memory(const struct agent_config *cfg, struct boot_info *info)
{
	info->heap_bytes = (size_t)cfg->heap_mib << 20;
	info->heap = allocate_pages(AllocateAnyPages, 0, info->heap_bytes, "heap");
	if (!info->heap)
		return -1;

	/* The pool: physically contiguous, below 4 GiB for 32-bit devices. */
	info->pool_bytes = (size_t)cfg->pool_mib << 20;
	info->pool = allocate_pages(AllocateMaxAddress, POOL_MAX_ADDRESS, info->pool_bytes,
	                            "DMA page pool");
	if (!info->pool)
		return -1;
	info->pool_phys = (uint64_t)(uintptr_t)info->pool;

	info->ist_stack_bytes = IST_STACK_BYTES;
	info->ist_stacks = allocate_pages(AllocateAnyPages, 0, ARCH_IST_STACKS * IST_STACK_BYTES,
	                                  "exception stacks");
	return info->ist_stacks ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Memory map and ExitBootServices                                      */
/* ------------------------------------------------------------------ */

static bool usable_after_exit(UINT32 type)
{
	switch (type) {
	case EfiLoaderCode:
	case EfiLoaderData:
	case EfiBootServicesCode:
	case EfiBootServicesData:
	case EfiConventionalMemory:
		return true;
	}
	return false;
}

static enum mem_kind kind_of(UINT32 type)
{
	switch (type) {
	case EfiConventionalMemory:
	case EfiBootServicesCode:
	case EfiBootServicesData:
		return MEM_FREE;
	case EfiLoaderCode:
	case EfiLoaderData:
		return MEM_KERNEL;
	case EfiACPIReclaimMemory:
	case EfiACPIMemoryNVS:
	case EfiRuntimeServicesCode:
	case EfiRuntimeServicesData:
		return MEM_FIRMWARE;
	}
	return MEM_DEVICE;
}

/* Keep the map for the page tables: adjacent descriptors of one kind
 * merge; the range holding our own stack is the kernel's, not free. */
static void keep_range(struct boot_info *info, uint64_t base, uint64_t bytes, enum mem_kind kind)
{
	struct mem_range *last = info->nranges ? &info->ranges[info->nranges - 1] : NULL;

	if (kind == MEM_FREE && info->boot_stack_base >= base &&
	    info->boot_stack_base < base + bytes)
		kind = MEM_KERNEL;
	if (last && last->kind == kind && last->base + last->bytes == base) {
		last->bytes += bytes;
		return;
	}
	if (info->nranges == BOOT_MAX_RANGES) {
		info->ranges_dropped++;
		return;
	}
	info->ranges[info->nranges++] = (struct mem_range){ base, bytes, kind };
}

static void summarise_map(const uint8_t *map, UINTN map_size, UINTN desc_size,
                          struct boot_info *info)
{
	uint64_t sp = (uint64_t)(uintptr_t)__builtin_frame_address(0);

	info->ram_bytes = info->free_bytes = 0;
	info->map_entries = map_size / desc_size;
	/* the stack efi_main runs on: the boot task keeps it for good */
	for (UINTN off = 0; off + desc_size <= map_size; off += desc_size) {
		const EFI_MEMORY_DESCRIPTOR *d = (const void *)(map + off);

		if (sp >= d->PhysicalStart && sp < d->PhysicalStart + d->NumberOfPages * 4096) {
			info->boot_stack_base = d->PhysicalStart;
			info->boot_stack_bytes = d->NumberOfPages * 4096;
		}
	}
	for (UINTN off = 0; off + desc_size <= map_size; off += desc_size) {
		const EFI_MEMORY_DESCRIPTOR *d = (const void *)(map + off);
		uint64_t bytes = d->NumberOfPages * 4096;

		keep_range(info, d->PhysicalStart, bytes, kind_of(d->Type));

		if (!usable_after_exit(d->Type))
			continue;
		info->ram_bytes += bytes;
		if (d->Type != EfiLoaderCode && d->Type != EfiLoaderData)
			info->free_bytes += bytes;
	}
}

/*
 * Step 1: size the map and allocate a buffer with slack (the allocation
 * itself may split a descriptor).  Step 2: GetMemoryMap into it, then
 * ExitBootServices with its key.  A stale key (EFI_INVALID_PARAMETER)
 * means the map changed: get it again into the same buffer, with no
 * allocation in between, and retry (UEFI 2.10 §7.4.6).
 */
static int exit_boot_services(void *image_handle, struct boot_info *info)
{
	UINTN map_size = 0, key, desc_size, capacity;
	UINT32 desc_version;
	uint8_t *map = NULL;
	EFI_STATUS status;

	status = bs->GetMemoryMap(&map_size, NULL, &key, &desc_size, &desc_version);
	if (status != EFI_BUFFER_TOO_SMALL) {
		efi_error("GetMemoryMap (size)", status);
		return -1;
	}
	capacity = map_size + MAP_SLACK_DESCRIPTORS * desc_size;
	if (bs->AllocatePool(EfiLoaderData, capacity, (void **)&map) != EFI_SUCCESS) {
		kprintf("efi: cannot allocate the memory map buffer\n");
		return -1;
	}
	for (unsigned attempt = 1; attempt <= EXIT_RETRIES; attempt++) {
		map_size = capacity;
		status = bs->GetMemoryMap(&map_size, (EFI_MEMORY_DESCRIPTOR *)map, &key, &desc_size,
		                          &desc_version);
		if (status != EFI_SUCCESS) {
			efi_error("GetMemoryMap", status);
			return -1;
		}
		status = bs->ExitBootServices(image_handle, key);
		if (status == EFI_SUCCESS) {
			info->exit_attempts = attempt;
			summarise_map(map, map_size, desc_size, info);
			return 0;
		}
		if (status != EFI_INVALID_PARAMETER) {
			efi_error("ExitBootServices", status);
			return -1;
		}
		/* Stale map key: the firmware changed the map; fetch it again. */
	}
	kprintf("efi: ExitBootServices still refused after %d attempts\n", EXIT_RETRIES);
	return -1;
}

/* ------------------------------------------------------------------ */

/* ACPI tables are identity-mapped by UEFI, before and after exit. */
static const void *identity_map(uint64_t phys, size_t len)
{
	if (phys == 0 || phys + len < phys)
		return NULL;
	return (const void *)(uintptr_t)phys;
}

/* Days from 1970-01-01 to year-month-day (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* The firmware's real-time clock as Unix time (UEFI 2.10 §8.3.1), for
 * programs' CLOCK_REALTIME; 0 when it has none. */
static uint64_t wall_clock(void)
{
	EFI_TIME t;
	int64_t secs;

	if (st->RuntimeServices->GetTime(&t, NULL) != EFI_SUCCESS || t.Year < 1970 || t.Month < 1 ||
	    t.Month > 12 || t.Day < 1 || t.Day > 31)
		return 0;
	secs = days_from_civil(t.Year, t.Month, t.Day) * 86400 + t.Hour * 3600 + t.Minute * 60 +
	       t.Second;
	if (t.TimeZone != EFI_UNSPECIFIED_TIMEZONE)
		secs += (int64_t)t.TimeZone * 60; /* minutes to add to local time for UTC */
	return secs > 0 ? (uint64_t)secs : 0;
}

int efi_boot(void *image_handle, void *system_table, struct agent_config *cfg, struct acpi *acpi,
             struct boot_info *info)
{
	EFI_GUID loaded_guid = EFI_LOADED_IMAGE_PROTOCOL_GUID;
	EFI_LOADED_IMAGE *loaded = NULL;

	st = system_table;
	bs = st->BootServices;
	memset(info, 0, sizeof(*info));
	if (!arch_early_uart())
		console_set_firmware(firmware_console_write);
	else
		console_set_uart(arch_early_uart());
	bs->SetWatchdogTimer(0, 0, 0, NULL);

	for (unsigned i = 0, n = 0;
	     st->FirmwareVendor && st->FirmwareVendor[i] && n + 1 < sizeof(info->firmware); i++)
		info->firmware[n++] = st->FirmwareVendor[i] < 0x7f ? (char)st->FirmwareVendor[i] :
		                                                     '?';
	kprintf("firmware: %s rev %#x, UEFI %u.%u\n", info->firmware, st->FirmwareRevision,
	        st->Hdr.Revision >> 16, (st->Hdr.Revision & 0xffff) / 10);

	config_defaults(cfg);
	info->epoch_seconds = wall_clock();
	if (bs->HandleProtocol(image_handle, &loaded_guid, (void **)&loaded) == EFI_SUCCESS) {
		kprintf("image: loaded at %p, %llu bytes\n", loaded->ImageBase,
		        (unsigned long long)loaded->ImageSize);
		info->image_base = (uint64_t)(uintptr_t)loaded->ImageBase;
		info->image_bytes = loaded->ImageSize;
		parse_load_options(loaded, cfg, info);
		read_config_file(loaded, cfg, info);
		read_bin_folder(loaded, cfg, info);
	}

	/* The console moves to the ACPI-described UART while the firmware
	 * console still works, so a missing UART is still reported. */
	info->rsdp = find_rsdp();
	if (!info->rsdp || acpi_init(acpi, info->rsdp, identity_map) != 0)
		kprintf("acpi: no usable ACPI tables; using defaults\n");
	console_set_uart(arch_acpi_uart(acpi));
	console_set_firmware(NULL);

	if (reserve_memory(cfg, info))
		return -1;
	kprintf("efi: exiting boot services\n");
	return exit_boot_services(image_handle, info);
}
