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
	const char *name;                             /* e.g. "COM1 16550" */
	void (*write)(const char *bytes, size_t len); /* polled transmit */
};

/* The UART usable before ACPI is read (x86_64: COM1), or NULL. */
const struct uart_ops *arch_early_uart(void);
/* The UART described by ACPI (SPCR), or the architecture's default. */
const struct uart_ops *arch_acpi_uart(const struct acpi *acpi);

/* Own the CPU after ExitBootServices: descriptor tables / vector base. */
void arch_cpu_init(void *ist_stacks, size_t ist_stack_size);
/* How many exception stacks arch_cpu_init wants (each ist_stack_size bytes). */
#define ARCH_IST_STACKS 3
/* Own the interrupt controller(s): legacy masked, local controller on. */
int arch_interrupts_init(const struct acpi *acpi);
/* Describe the CPU and interrupt controller on the console. */
void arch_report(void);

/* Power-off: ACPI tables tell how; code 0 is a clean power-off. */
void arch_power_init(const struct acpi *acpi, const struct acpi_fadt_info *fadt, bool semihosting);
__attribute__((noreturn)) void arch_power_off(int code);

/* ---- time (kernel/sched.c, include/platform.h) ---- */

/* Calibrate the clock and the timer; 0 or -errno. */
int arch_clock_init(const struct acpi_fadt_info *fadt);
/* Monotonic nanoseconds since arch_clock_init. */
uint64_t arch_clock_ns(void);
/* Raise the timer interrupt at `deadline_ns` (arch_clock_ns scale), or
 * never for UINT64_MAX.  Replaces any earlier setting. */
void arch_timer_set(uint64_t deadline_ns);
/* Describe the clock: source and calibrated rates. */
void arch_clock_report(void);
/* Note the raw counter now (first thing efi_main does), so that the boot
 * can later report how long the image itself took. */
void arch_clock_mark_entry(void);
/* Nanoseconds since arch_clock_mark_entry; valid after arch_clock_init. */
uint64_t arch_clock_since_entry_ns(void);

/* ---- interrupts for devices ---- */

typedef void (*irq_handler_fn)(void *arg);
/* A free vector routed to `handler`; returns the vector or -ENOSPC. */
int arch_irq_alloc(irq_handler_fn handler, void *arg, const char *name);
void arch_irq_free(int vector);
/* The MSI/MSI-X message (address, data) that raises `vector` on this CPU. */
void arch_msi_message(int vector, uint64_t *address, uint32_t *data);
/* Interrupts taken on `vector` since boot. */
uint64_t arch_irq_count(int vector);
/* The timer's own vector (x86_64) or interrupt ID (aarch64), for
 * arch_irq_count. */
int arch_timer_irq(void);
/* All device and timer interrupts taken since boot. */
uint64_t arch_irq_total(void);

/* ---- tasks (kernel/sched.c) ---- */

/* Prepare a new stack so that arch_switch to it enters `start()`;
 * returns the stack pointer to switch to. */
uintptr_t arch_task_stack_init(void *stack_top, void (*start)(void));
/* Save the callee-saved context on the current stack, store the stack
 * pointer in *save_sp, and resume the context saved at new_sp. */
void arch_switch(uintptr_t *save_sp, uintptr_t new_sp);

/* Halt with interrupts enabled until one arrives. */
void arch_wait_for_interrupt(void);
void arch_irq_enable(void);
void arch_irq_disable(void);
bool arch_irq_enabled(void);

/* Deliberate faults for the exception self-test; false if unsupported. */
bool arch_raise_fault(const char *name);

/* ---- page tables (kernel/vm.c builds them, the arch encodes them) ----
 *
 * Both architectures translate 48-bit addresses with 4 KiB pages through
 * four levels of 512 eight-byte entries: level 3 is the root (PML4 /
 * TTBR0's level 0), level 0 holds 4 KiB pages, levels 1 and 2 may also map
 * 2 MiB and 1 GiB blocks. */
#define VM_READ   1u  /* readable (every valid mapping is) */
#define VM_WRITE  2u  /* writable */
#define VM_EXEC   4u  /* executable (never together with VM_WRITE) */
#define VM_USER   8u  /* user mode may access it (ring 3 / EL0) */
#define VM_DEVICE 16u /* device memory: uncached, no speculation */
#define VM_SHARED \
	32u /* the page is not the mapping's own (a file store page): kept in
		       * a software bit, never freed with the mapping */

/* A leaf entry mapping `phys` at `level` (0: page, 1: 2 MiB, 2: 1 GiB);
 * 0 when the CPU cannot map a block of that level. */
uint64_t arch_pte_leaf(uint64_t phys, unsigned prot, unsigned level);
/* An entry pointing to a next-level table at `phys`. */
uint64_t arch_pte_table(uint64_t phys);
bool arch_pte_valid(uint64_t pte);
/* Does this valid entry at `level` map memory (rather than a table)? */
bool arch_pte_is_leaf(uint64_t pte, unsigned level);
uint64_t arch_pte_phys(uint64_t pte);
unsigned arch_pte_prot(uint64_t pte, unsigned level);
/* Turn on the image's own tables (first call: also the control bits:
 * NX, write protection, memory attributes); later calls switch roots. */
void arch_mmu_enable(uint64_t root);
void arch_mmu_switch(uint64_t root);
/* Forget cached translations of one page (all address spaces). */
void arch_tlb_flush_page(uint64_t va);
/* Highest physical address bit the CPU supports (for the device map). */
unsigned arch_phys_bits(void);
/* Current stack pointer (the boot task's stack is the firmware's). */
uintptr_t arch_stack_pointer(void);
/* The kernel stack that the CPU enters the kernel on from user mode and
 * below which an overflow is caught: both change with every task. */
void arch_set_kernel_stack(uintptr_t top, uintptr_t limit);

/* ---- user mode (kernel/user.c, kernel/syscall.c) ---- */

struct trap_frame; /* arch/$(ARCH)/trap.h: registers at a kernel entry */

/* Leave for user mode at `pc` with stack `sp`, all else zero, on the
 * current task.  Traps from user mode then enter below the caller's
 * frames, so the caller can be returned to with longjmp. */
__attribute__((noreturn)) void arch_user_enter(uint64_t pc, uint64_t sp);
/* The same with every register of `f` (a frame saved at an entry from
 * user mode: the parent's at clone or fork) and FP state `fpu` in
 * arch_frame_fpu's layout (NULL: a clean FPU). */
__attribute__((noreturn)) void arch_user_resume(const struct trap_frame *f, const void *fpu);
/* The user TLS register (FS base / TPIDR_EL0) of the running task. */
void arch_user_tls_set(uint64_t value);
uint64_t arch_user_tls_get(void);
/* System-call registers (Linux ABI of the architecture). */
uint64_t arch_syscall_number(const struct trap_frame *f);
uint64_t arch_syscall_arg(const struct trap_frame *f, unsigned n);
void arch_syscall_set_return(struct trap_frame *f, uint64_t value);
/* Make the system call again on the way back to user mode (after a
 * signal handler): its number and first argument as they were. */
void arch_syscall_restart(struct trap_frame *f, uint64_t nr, uint64_t arg0);
uint64_t arch_frame_pc(const struct trap_frame *f);
uint64_t arch_frame_sp(const struct trap_frame *f);
/* Call a signal handler: pc, sp, three arguments, return address (on
 * x86 the caller has stored it at sp: arch_call_pushes_return). */
bool arch_call_pushes_return(void);
void arch_frame_call(struct trap_frame *f, uint64_t pc, uint64_t sp, uint64_t a0, uint64_t a1,
                     uint64_t a2, uint64_t ret);
/* The frame's size, and restoring one saved by the kernel earlier, with
 * everything that would leave user mode forced back (rt_sigreturn). */
size_t arch_frame_size(void);
void arch_frame_restore(struct trap_frame *f, const void *saved);
/* FP/SIMD state saved at this kernel entry outside the frame (x86: the
 * fxsave area below it), or 0 bytes (aarch64: inside the frame). */
size_t arch_frame_fpu(struct trap_frame *f, void **state);
size_t arch_fpu_size(void);
/* A new stack pointer for a frame (clone's child stack). */
void arch_frame_set_sp(struct trap_frame *f, uint64_t sp);
/* execve: the frame starts a fresh program at pc with stack sp, every
 * other register zero; its FP state (if outside the frame) a clean one. */
void arch_frame_exec(struct trap_frame *f, uint64_t pc, uint64_t sp);
/* Make FP state copied back from user memory safe to restore. */
void arch_fpu_sanitize(void *state);
/* What a program's auxv says about the CPU (AT_HWCAP, AT_HWCAP2,
 * AT_MINSIGSTKSZ, AT_PLATFORM). */
void arch_user_auxv(uint64_t *hwcap, uint64_t *hwcap2, uint64_t *minsigstksz,
                    const char **platform);
/* 8 random bytes from the CPU (RDRAND / RNDR); false if it has none. */
bool arch_random64(uint64_t *out);
/* The bytes of a trampoline that makes system call rt_sigreturn. */
size_t arch_sigreturn_code(uint8_t *buf, size_t len);

/* Device address of physical memory (no IOMMU: identity). */
static inline uint64_t arch_phys_to_dma(uint64_t phys)
{
	return phys;
}

#endif
