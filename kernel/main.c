/*
 * main.c -- the image's entry and boot sequence.
 *
 * gnu-efi's crt0 relocates the image and calls efi_main.  One line per
 * subsystem, in the order they come up; after efi_boot() the firmware is
 * gone and the machine is ours.
 */
#include <efi.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "drivers/virtio_pci/pci.h"
#include "drivers/virtio_vsock/virtio_vsock.h"
#include "include/arch.h"
#include "include/platform.h"
#include "include/pool.h"
#include "kernel/acpi.h"
#include "kernel/boot.h"
#include "kernel/kernel.h"
#include "kernel/sched.h"
#include "include/store.h"
#include "kernel/user.h"
#include "kernel/vm.h"
#include "kernel/vsock_stack.h"
#include "vsock/core.h"

#define IMAGE_VERSION "0.1.0"

struct agent_config config; /* options, final after efi_boot */
struct acpi acpi;           /* validated ACPI tables */
struct dma_pool dma_pool;   /* every page a device may touch */
static struct boot_info boot;
static struct virtio_vsock *vsock_dev; /* the vsock device */
static struct vsock_core *vsock_core;  /* the protocol core on it */
static struct agent *agent;            /* the Kata-style agent */

/* DestroySandbox: the agent has answered; power the VM off. */
static void agent_power_off(void)
{
	kprintf("agent: DestroySandbox: powering off\n");
	arch_power_off(POWEROFF_CLEAN);
}

/* A boot id unique enough to tell boots apart in the log stream (not a
 * secret): clock, addresses the firmware chose, mixed by splitmix64. */
static void make_boot_id(char *out, size_t size)
{
	uint64_t now = arch_clock_ns();
	uint64_t seed[2] = { now ^ boot.pool_phys,
		             (now << 23 | now >> 41) ^ (uint64_t)(uintptr_t)boot.heap };
	uint64_t v[2];

	for (int i = 0; i < 2; i++) {
		uint64_t z = seed[i] + 0x9e3779b97f4a7c15ull * (i + 1);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		v[i] = z ^ (z >> 31);
	}
	snprintf(out, size, "%08llx-%04llx-4%03llx-%04llx-%012llx",
	         (unsigned long long)(v[0] >> 32), (unsigned long long)((v[0] >> 16) & 0xffff),
	         (unsigned long long)(v[0] & 0xfff),
	         (unsigned long long)(0x8000 | ((v[1] >> 48) & 0x3fff)),
	         (unsigned long long)(v[1] & 0xffffffffffffull));
}

/* agent.run_file: a store file in user mode, on the program's task. */
static int run_store_file(struct prog *prog, const char *path, uint64_t mem_limit, char *note,
                          size_t note_len)
{
	struct store_file *file = store_get(path);
	int status;

	if (!file || file->is_dir) {
		snprintf(note, note_len, "%s is no longer in the file store", path);
		store_put(file);
		return 127;
	}
	status = user_run(prog, file, path,
	                  mem_limit ? mem_limit : (uint64_t)config.container_mem_mib << 20, note,
	                  note_len);
	store_put(file);
	return status;
}

static void start_agent(void)
{
	int err;

	config.agent.arch = ARCH_NAME;
	config.agent.power_off = agent_power_off;
	config.agent.run_file = run_store_file;
	if (!config.agent.boot_id[0])
		make_boot_id(config.agent.boot_id, sizeof(config.agent.boot_id));
	err = agent_start(vsock_core, &config.agent, &agent);
	if (err)
		panic("the agent cannot start: %d", err);
	kprintf("boot: agent started %llu ms after the image was entered\n",
	        (unsigned long long)(arch_clock_since_entry_ns() / 1000000));
}

/* agent.stats_ms: one line of counters, for people and for the tests. */
static void stats_task(void *arg)
{
	for (;;) {
		struct virtio_vsock_stats vs = { 0 };
		struct vsock_stats cs = { 0 };
		size_t inuse;
		uint64_t now;

		sched_sleep_ns((uint64_t)config.stats_ms * 1000000);
		now = arch_clock_ns();
		inuse = heap_inuse();
		if (vsock_dev)
			virtio_vsock_stats(vsock_dev, &vs);
		if (vsock_core)
			vsock_core_stats(vsock_core, &cs);
		platform_lock();
		kprintf("stats: t=%llums irq=%llu timer=%llu switches=%llu idle=%llums "
		        "vsock_irq rx=%llu tx=%llu event=%llu config=%llu "
		        "rx_packets=%llu tx_packets=%llu rx_bad=%llu rx_posted=%u "
		        "rst=%llu vsock_conns=%u pool_pages=%zu free_pages=%zu heap_used=%zu "
		        "heap_inuse=%zu tx_free=%u tx_full=%llu tx_irq_lost=%llu tx_ring=%u/%u/%u%s%s core_blocked=%d ctrl_queued=%u\n",
		        (unsigned long long)(now / 1000000), (unsigned long long)arch_irq_total(),
		        (unsigned long long)arch_irq_count(arch_timer_irq()),
		        (unsigned long long)sched_switch_count(),
		        (unsigned long long)(sched_idle_ns() / 1000000),
		        (unsigned long long)vs.irq_rx, (unsigned long long)vs.irq_tx,
		        (unsigned long long)vs.irq_event, (unsigned long long)vs.irq_config,
		        (unsigned long long)vs.rx_packets, (unsigned long long)vs.tx_packets,
		        (unsigned long long)vs.rx_bad, vs.rx_posted,
		        (unsigned long long)cs.rst_sent, cs.conns, pool_pages_in_use(&dma_pool),
		        vm_pages_free(), heap_used(), inuse, vs.tx_free,
		        (unsigned long long)vs.tx_full, (unsigned long long)vs.tx_irq_lost,
		        vs.tx_avail, vs.tx_used, vs.tx_last_used, vs.tx_irq_on ? " irq_on" : "",
		        vs.tx_broken ? " broken" : "", cs.tx_blocked, cs.ctrl_queued);
		platform_unlock();
	}
}

/* test.spin=N: tasks that never block; the others must still run. */
static void spin_task(void *arg)
{
	volatile uint64_t n = 0;

	for (;;)
		n++;
}

/* File memory for the store: whole pages of free RAM. */
static void *store_pages(size_t bytes)
{
	return vm_page_alloc((bytes + VM_PAGE - 1) / VM_PAGE);
}

static void store_pages_free(void *p, size_t bytes)
{
	vm_page_free(p, (bytes + VM_PAGE - 1) / VM_PAGE);
}

/* The file store, with the ESP's \bin\ files as /bin/NAME. */
static void start_store(void)
{
	char path[STORE_PATH_MAX];

	store_init((size_t)config.store_mib << 20, store_pages, store_pages_free);
	for (unsigned i = 0; i < boot.nbin; i++) {
		snprintf(path, sizeof(path), "/bin/%s", boot.bin[i].name);
		if (store_add(path, boot.bin[i].data, boot.bin[i].size, 0755, false) != 0)
			kprintf("store: cannot add %s\n", path);
	}
	kprintf("store: %u files from \\bin\\, limit %u MiB\n", boot.nbin, config.store_mib);
}

/* Time, tasks, PCI and the vsock device; returns only when all are up. */
static void bring_up_devices(const struct acpi_fadt_info *fadt)
{
	struct acpi_ecam ecam[ACPI_MAX_ECAM];
	unsigned windows;

	if (arch_clock_init(fadt) != 0) /* calibrated clock */
		panic("no usable clock");
	arch_clock_report();
	console_rate_limit_logs(); /* floods of log lines */
	sched_init();              /* tasks; idle halts */
	sched_start_preemption();  /* timer + interrupts on */
	windows = acpi_parse_mcfg(&acpi, ecam, ACPI_MAX_ECAM);
	if (pci_init(ecam, windows) != 0) /* ECAM from MCFG */
		panic("no PCI configuration space");
	pci_report();
	if (vsock_device_probe(&dma_pool, &vsock_dev) != 0) { /* the vsock device */
		kprintf("vsock: cannot continue without a vsock device; powering off\n");
		arch_power_off(POWEROFF_NO_DEVICE);
	}
	entropy_probe(&dma_pool); /* virtio-rng, if any */
	kprintf("random: programs' random bytes come from %s\n", user_entropy_source());
	kprintf("pool: %zu pages in use after bring-up, %zu free\n", pool_pages_in_use(&dma_pool),
	        pool_pages_free(&dma_pool));
	vsock_core = vsock_stack_start(vsock_dev, &config); /* protocol + services */
	if (!vsock_core)
		panic("no vsock protocol core");
	user_init(vsock_core); /* programs' sockets, /tmp */
	start_agent();         /* ttRPC, containers, logs */
	if (config.test_run[0])
		selftest_run_program(config.test_run, config.container_mem_mib);
	if (config.stats_ms && !task_create("stats", stats_task, NULL, 16 << 10))
		kprintf("stats: cannot start the stats task\n");
	for (uint32_t i = 0; i < config.test_spin; i++)
		if (!task_create("spin", spin_task, NULL, 8 << 10))
			kprintf("spin: cannot start a spinning task\n");
}

static void report_takeover(void)
{
	struct acpi_fadt_info fadt;

	kprintf("memory: %llu MiB usable RAM in %u map entries, %llu MiB free; "
	        "ExitBootServices after %u attempt(s)\n",
	        (unsigned long long)(boot.ram_bytes >> 20), boot.map_entries,
	        (unsigned long long)(boot.free_bytes >> 20), boot.exit_attempts);
	kprintf("heap: %zu KiB at %p\n", heap_size() >> 10, boot.heap);
	vm_report();
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
		        fadt.hw_reduced ? " (hardware-reduced)" : "", fadt.arm_boot_flags);
	arch_report();
	kprintf("options:\n");
	config_dump(&config);
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *system_table);
EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *system_table)
{
	struct acpi_fadt_info fadt;
	int err;

	arch_clock_mark_entry(); /* for the boot time below */
	/* Firmware phase: options, ACPI, memory reservations, then exit. */
	if (efi_boot(image, system_table, &config, &acpi, &boot) != 0)
		return EFI_LOAD_ERROR; /* boot services still up: back to firmware */

	/* From here on there is no firmware. */
	arch_cpu_init(boot.ist_stacks, boot.ist_stack_bytes); /* own descriptor tables / vectors */
	kprintf("vsock-agent %s (%s): took over the machine\n", IMAGE_VERSION, ARCH_NAME);
	vm_init(&boot);                             /* own page tables */
	heap_init(boot.heap, boot.heap_bytes);      /* malloc's region */
	start_store();                              /* programs: \\bin\\, CopyFile */
	syscall_set_wall_clock(boot.epoch_seconds); /* programs' CLOCK_REALTIME */
	if (pool_init(&dma_pool, boot.pool, dma_addr(arch_phys_to_dma(boot.pool_phys)),
	              boot.pool_bytes) != 0) /* DMA page pool */
		panic("cannot set up the DMA page pool");
	acpi_parse_fadt(&acpi, &fadt);
	arch_power_init(&acpi, &fadt, config.test_semihosting); /* how to power off */
	err = arch_interrupts_init(&acpi);                      /* PIC masked, LAPIC / GIC */
	if (err && err != -ENOSYS)
		panic("cannot take over the interrupt controller");
	report_takeover();

	if (strcmp(config.test_fault, "none") != 0)
		selftest_fault(config.test_fault); /* exception self-test */

	if (err == -ENOSYS) {
		kprintf("%s: no interrupt controller driver yet: stopping after the "
		        "takeover\n",
		        ARCH_NAME);
	} else {
		bring_up_devices(&fadt); /* clock, tasks, PCI, vsock */
	}

	if (config.test_poweroff) {
		kprintf("boot complete; powering off (test.poweroff=1)\n");
		arch_power_off(POWEROFF_CLEAN);
	}
	kprintf("boot complete; idle with interrupts enabled\n");
	if (err == -ENOSYS) {
		for (;;)
			arch_wait_for_interrupt();
	}
	/* The boot flow has nothing left to do: sleep for good, the other
	 * tasks and the idle task keep the machine. */
	arch_irq_disable();
	for (;;)
		sched_block(UINT64_MAX);
}
