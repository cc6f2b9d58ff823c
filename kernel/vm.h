/*
 * vm.h -- the image's own page tables, the page allocator over free RAM,
 * guarded kernel stacks and user address spaces.
 *
 * The kernel is identity-mapped (virtual == physical, so device addresses
 * stay honest) and supervisor-only: the image's text read-only and
 * executable, everything else non-executable; RAM write-back, everything
 * that is not RAM device memory.  Below VM_USER_WINDOW_END nothing is
 * mapped for the kernel: that window (NULL page included) belongs to
 * programs linked at fixed low addresses (0x400000).  The kernel's map
 * ends at VM_KERNEL_END; user space lies above it, up to VM_USER_END.
 *
 * A user space's pages change one at a time with interrupts off, so that
 * threads sharing it see each page mapped or not, never half; a copy
 * never races the unmapping of the page it copies.
 *
 * Typical usage:
 *	vm_init(&boot);                         // tables built, switched to
 *	void *stack = vm_stack_alloc(32 << 10); // guard page below it
 *	struct vm_budget budget = { 0, limit_bytes / VM_PAGE };
 *	struct vm_space *as = vm_space_create(&budget);
 *	vm_map_anon(as, 0x400000, 8192, VM_READ | VM_WRITE | VM_USER);
 *	vm_space_activate(as);                  // the CPU now sees it
 *	vm_copy_out(as, 0x400000, "hi", 2);     // checked against its map
 *	vm_space_destroy(as);                   // every page back
 */
#ifndef KERNEL_VM_H
#define KERNEL_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel/boot.h"

#define VM_PAGE              4096ull
#define VM_USER_WINDOW_START 0x10000ull        /* lowest user address (as Linux's mmap_min_addr) */
#define VM_USER_WINDOW_END   0x2000000ull      /* low window for fixed-address programs: 32 MiB */
#define VM_KERNEL_END        (1ull << 40)      /* the kernel's map: [window end, 1 TiB) */
#define VM_USER_END          0x800000000000ull /* 47-bit user space, as Linux */

void vm_init(const struct boot_info *boot);
void vm_report(void);

/* Zeroed, identity-mapped pages of RAM; NULL when none are left. */
void *vm_page_alloc(size_t pages);
void vm_page_free(void *page, size_t pages);
size_t vm_pages_free(void);
size_t vm_pages_total(void);

/* A kernel stack of `bytes` with an unmapped guard page right below it:
 * running into the guard is reported as a stack overflow.  NULL: no memory. */
void *vm_stack_alloc(size_t bytes);
void vm_stack_free(void *stack, size_t bytes);
/* Is `addr` inside a guard page (1 page below a stack's lowest byte)? */
bool vm_is_guard(uintptr_t addr, uintptr_t stack_base);

/* ---- user address spaces ---- */

struct vm_space;

/* What a group of address spaces (a container's processes) may hold. */
struct vm_budget {
	uint64_t pages;       /* user pages and page tables held now */
	uint64_t limit_pages; /* most they may hold */
};

/* An address space sharing the kernel's map; user pages count against
 * `budget` (page tables too).  NULL: no memory. */
struct vm_space *vm_space_create(struct vm_budget *budget);
/* A copy of every user page of src (fork); store pages stay shared.
 * NULL: no memory or over the budget. */
struct vm_space *vm_space_clone(struct vm_space *src, struct vm_budget *budget);
void vm_space_destroy(struct vm_space *as);
/* Make `as` (NULL: the kernel's own) the CPU's address space. */
void vm_space_activate(struct vm_space *as);
/* Bytes of pages the space holds now (user pages + its page tables). */
uint64_t vm_space_bytes(const struct vm_space *as);

/* Map fresh zeroed pages over [va, va + len) (page aligned, user range,
 * nothing mapped there yet): 0, -ENOMEM (limit or RAM), -EINVAL. */
int vm_map_anon(struct vm_space *as, uint64_t va, uint64_t len, unsigned prot);
/* Reserve [va, va + len) (page aligned, user range, nothing mapped there
 * yet) with `prot`: each page is backed by a fresh zeroed page when first
 * touched (vm_grow), and counted against the limit then, as Linux backs
 * anonymous memory.  Only the tables are taken now: 0, -ENOMEM, -EINVAL. */
int vm_map_lazy(struct vm_space *as, uint64_t va, uint64_t len, unsigned prot);
/* Map existing read-only pages (a file in the store) at [va, va + len):
 * shared, never freed with the mapping, not counted against the limit;
 * one made writable (vm_protect, a copy into it) becomes a private copy. */
int vm_map_shared(struct vm_space *as, uint64_t va, uint64_t phys, uint64_t len, unsigned prot);
/* Unmap and free what is mapped in [va, va + len); holes are fine. */
void vm_unmap(struct vm_space *as, uint64_t va, uint64_t len);
/* Change the protection of what is mapped in [va, va + len): 0, or
 * -ENOMEM when a shared page made writable finds no room for its copy. */
int vm_protect(struct vm_space *as, uint64_t va, uint64_t len, unsigned prot);
/* Is every page of [va, va + len) mapped for user access (and writable)? */
bool vm_user_ok(struct vm_space *as, uint64_t va, uint64_t len, bool write);
/* Is any page of [va, va + len) mapped (or reserved by vm_map_lazy)? */
bool vm_any_mapped(struct vm_space *as, uint64_t va, uint64_t len);

/* A stack's reserve [lo, hi): pages below hi are mapped when first
 * touched (a page fault, or a copy below), down to lo, within the limit. */
void vm_set_growable(struct vm_space *as, uint64_t lo, uint64_t hi);
/* A fault at `addr`: back its page when vm_map_lazy reserved it, or map
 * the stack's reserve down to its page: true, or false (neither, or over
 * the limit). */
bool vm_grow(struct vm_space *as, uint64_t addr);

/* Copies between the kernel and user memory of `as`, through the page
 * tables (never by dereferencing the user pointer): 0 or -EFAULT. */
int vm_copy_in(struct vm_space *as, void *dst, uint64_t src, size_t len);
int vm_copy_out(struct vm_space *as, uint64_t dst, const void *src, size_t len);
/* Copy-in of writes the loader makes (ignores VM_WRITE on the target). */
int vm_poke(struct vm_space *as, uint64_t dst, const void *src, size_t len);
/* A NUL-terminated string of at most max - 1 bytes: its length, -EFAULT,
 * or -ENAMETOOLONG. */
long vm_strncpy_in(struct vm_space *as, char *dst, uint64_t src, size_t max);

#endif
