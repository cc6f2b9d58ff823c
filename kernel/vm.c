/*
 * vm.c -- page tables, the page allocator, guarded stacks and user
 * address spaces (see vm.h).  The arch layer only encodes entries
 * (include/arch.h); walking, building and freeing tables happens here.
 *
 * Kernel map, built once at boot from the firmware's final memory map:
 *   - RAM (free, ours, the firmware's ACPI and runtime ranges) in 4 KiB
 *     pages, supervisor-only, read-write, non-executable; the image's
 *     text then read-only + executable (W^X);
 *   - everything else below min(2^physbits, VM_KERNEL_END) as device
 *     memory in the largest blocks that hold no RAM;
 *   - nothing below VM_USER_WINDOW_END.
 * RAM is mapped page by page so that later changes (guard pages) only
 * ever touch leaf tables, which every address space shares.
 *
 * A user address space copies the root, the level-2 table under root
 * entry 0 and the level-1 table under its entry 0 (which covers the low
 * window); every other kernel table is shared.  User pages live in the
 * window and in root entries from VM_KERNEL_END up.
 */
#include "kernel/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "include/arch.h"
#include "include/pool.h"
#include "kernel/kernel.h"

#define ENTRIES            512
#define MAX_POOLS          32           /* free RAM ranges used as page pools */
#define MIN_POOL_BYTES     (256u << 10) /* smaller free ranges are left alone */
#define LEVEL_BYTES(level) (VM_PAGE << (9 * (level)))
#define INDEX(va, level)   (((va) >> (12 + 9 * (level))) & (ENTRIES - 1))
#define ROOT_LEVEL         3

struct vm_space {
	uint64_t root;            /* physical address of its root table */
	uint64_t pages;           /* pages it holds: user pages + its tables */
	struct vm_budget *budget; /* what it may hold, shared with other spaces */
	uint64_t grow_lo;         /* a stack's reserve [grow_lo, grow_hi) ... */
	uint64_t grow_hi;         /* ... mapped on first touch; grow_hi: lowest page mapped */
};

/* A page reserved by vm_map_lazy and not yet touched: an invalid entry
 * (the CPU ignores its other bits on both architectures) carrying a
 * software tag and the rights the page gets when it is backed. */
#define LAZY_TAG        (1ull << 60)
#define LAZY_PROT_SHIFT 8

static bool is_lazy(uint64_t e)
{
	return !arch_pte_valid(e) && (e & LAZY_TAG);
}

static uint64_t lazy_entry(unsigned prot)
{
	return LAZY_TAG | ((uint64_t)(prot & (VM_READ | VM_WRITE | VM_EXEC)) << LAZY_PROT_SHIFT);
}

static unsigned lazy_prot(uint64_t e)
{
	return (unsigned)(e >> LAZY_PROT_SHIFT) & (VM_READ | VM_WRITE | VM_EXEC);
}

static struct dma_pool pools[MAX_POOLS]; /* free RAM, one pool per range */
static unsigned npools;
static uint64_t kernel_root;             /* the kernel's root table */
static uint64_t kernel_tables;           /* pages its tables take */
static uint64_t device_bytes;            /* device memory mapped */
static uint64_t ram_mapped;              /* RAM mapped */
static const struct boot_info *boot_map; /* for vm_report */
static uint64_t map_end;                 /* end of the kernel's map */
static unsigned max_block_level;         /* 2 with 1 GiB pages, else 1 */

extern char _text[], _etext[];

static uint64_t *table(uint64_t phys)
{
	return (uint64_t *)(uintptr_t)phys;
}

static uint64_t page_round_up(uint64_t x)
{
	return (x + VM_PAGE - 1) & ~(VM_PAGE - 1);
}

/* ---- the page allocator: pools over free RAM ---- */

void *vm_page_alloc(size_t pages)
{
	struct dma_region r;
	bool irq_on = arch_irq_enabled();
	void *out = NULL;

	arch_irq_disable();
	for (unsigned i = 0; i < npools && !out; i++) {
		if (pool_pages_free(&pools[i]) >= pages && pool_alloc(&pools[i], pages, &r) == 0)
			out = r.cpu;
	}
	if (irq_on)
		arch_irq_enable();
	return out;
}

void vm_page_free(void *page, size_t pages)
{
	uintptr_t p = (uintptr_t)page;
	bool irq_on = arch_irq_enabled();

	arch_irq_disable();
	for (unsigned i = 0; i < npools; i++) {
		uintptr_t base = (uintptr_t)pools[i].base;

		if (p >= base && p < base + pools[i].pages * POOL_PAGE_SIZE) {
			struct dma_region r = { page, dma_addr(p), pages };

			if (pool_free(&pools[i], &r) != 0)
				panic("vm: bad free of %zu pages at %p (from %p)", pages, page,
				      __builtin_return_address(0));
			break;
		}
	}
	if (irq_on)
		arch_irq_enable();
}

size_t vm_pages_free(void)
{
	size_t n = 0;

	for (unsigned i = 0; i < npools; i++)
		n += pool_pages_free(&pools[i]);
	return n;
}

size_t vm_pages_total(void)
{
	size_t n = 0;

	for (unsigned i = 0; i < npools; i++)
		n += pool_usable_pages(&pools[i]);
	return n;
}

static uint64_t table_alloc(void)
{
	void *p = vm_page_alloc(1);

	return (uint64_t)(uintptr_t)p;
}

/* Free RAM outside the user window, largest ranges first would be nicer;
 * in map order is what the firmware's top-down allocation makes fine. */
static void pools_init(const struct boot_info *boot)
{
	for (unsigned i = 0; i < boot->nranges && npools < MAX_POOLS; i++) {
		const struct mem_range *r = &boot->ranges[i];
		uint64_t base = r->base, end = r->base + r->bytes;

		if (r->kind != MEM_FREE)
			continue;
		if (base < VM_USER_WINDOW_END)
			base = VM_USER_WINDOW_END;
		if (end <= base || end - base < MIN_POOL_BYTES || end > map_end)
			continue;
		if (pool_init(&pools[npools], (void *)(uintptr_t)base, dma_addr(base),
		              end - base) == 0)
			npools++;
	}
	if (!npools)
		panic("vm: no free RAM above %#llx for page tables and programs",
		      (unsigned long long)VM_USER_WINDOW_END);
}

/* ---- walking and building tables ---- */

/*
 * The entry for `va` at `level` under `root`, making intermediate tables
 * when `create` (each counted in *tables).  NULL when a table is missing
 * (and not created), when a block maps the range higher up, or when no
 * memory is left.
 */
static uint64_t *walk(uint64_t root, uint64_t va, unsigned level, bool create, uint64_t *tables)
{
	uint64_t t = root;

	for (unsigned l = ROOT_LEVEL; l > level; l--) {
		uint64_t *e = &table(t)[INDEX(va, l)];

		if (!arch_pte_valid(*e)) {
			uint64_t fresh;

			if (!create || !(fresh = table_alloc()))
				return NULL;
			if (tables)
				(*tables)++;
			*e = arch_pte_table(fresh);
		} else if (arch_pte_is_leaf(*e, l)) {
			return NULL;
		}
		t = arch_pte_phys(*e);
	}
	return &table(t)[INDEX(va, level)];
}

static const struct mem_range *range_at(const struct boot_info *boot, uint64_t addr)
{
	for (unsigned i = 0; i < boot->nranges; i++) {
		const struct mem_range *r = &boot->ranges[i];

		if (addr >= r->base && addr - r->base < r->bytes)
			return r;
	}
	return NULL;
}

static bool has_ram(const struct boot_info *boot, uint64_t base, uint64_t bytes)
{
	for (unsigned i = 0; i < boot->nranges; i++) {
		const struct mem_range *r = &boot->ranges[i];

		if (r->kind != MEM_DEVICE && r->base < base + bytes && base < r->base + r->bytes)
			return true;
	}
	return false;
}

static void kernel_set(uint64_t va, uint64_t pte, unsigned level)
{
	uint64_t *e = walk(kernel_root, va, level, true, &kernel_tables);

	if (!e)
		panic("vm: no memory for the kernel's page tables at %#llx",
		      (unsigned long long)va);
	*e = pte;
}

/* Identity-map [base, base + LEVEL_BYTES(level)): a device block when it
 * holds no RAM and blocks are allowed, else piece by piece. */
static void map_identity(const struct boot_info *boot, uint64_t base, unsigned level)
{
	uint64_t bytes = LEVEL_BYTES(level);

	if (base + bytes <= VM_USER_WINDOW_END)
		return;
	if (level == 0) {
		const struct mem_range *r = range_at(boot, base);

		if (r && r->kind != MEM_DEVICE) {
			kernel_set(base, arch_pte_leaf(base, VM_READ | VM_WRITE, 0), 0);
			ram_mapped += VM_PAGE;
		} else {
			kernel_set(base, arch_pte_leaf(base, VM_READ | VM_WRITE | VM_DEVICE, 0), 0);
			device_bytes += VM_PAGE;
		}
		return;
	}
	if (level <= max_block_level && base >= VM_USER_WINDOW_END && !has_ram(boot, base, bytes)) {
		kernel_set(base, arch_pte_leaf(base, VM_READ | VM_WRITE | VM_DEVICE, level), level);
		device_bytes += bytes;
		return;
	}
	for (unsigned i = 0; i < ENTRIES; i++)
		map_identity(boot, base + i * LEVEL_BYTES(level - 1), level - 1);
}

static void kernel_protect(uint64_t start, uint64_t end, unsigned prot)
{
	for (uint64_t va = start & ~(VM_PAGE - 1); va < end; va += VM_PAGE) {
		uint64_t *e = walk(kernel_root, va, 0, false, NULL);

		if (!e || !arch_pte_valid(*e))
			panic("vm: image page %#llx is not mapped", (unsigned long long)va);
		*e = arch_pte_leaf(va, prot, 0);
	}
}

/* The kernel must not live in the user window. */
static void check_outside_window(const char *what, uint64_t base, uint64_t bytes)
{
	if (bytes && base < VM_USER_WINDOW_END)
		panic("vm: the %s (%#llx, %llu bytes) lies in the user window below %#llx", what,
		      (unsigned long long)base, (unsigned long long)bytes,
		      (unsigned long long)VM_USER_WINDOW_END);
}

static void sort_ranges(struct boot_info *boot)
{
	for (unsigned i = 1; i < boot->nranges; i++) {
		struct mem_range r = boot->ranges[i];
		unsigned j = i;

		for (; j > 0 && boot->ranges[j - 1].base > r.base; j--)
			boot->ranges[j] = boot->ranges[j - 1];
		boot->ranges[j] = r;
	}
}

void vm_init(const struct boot_info *boot)
{
	uint64_t text = (uint64_t)(uintptr_t)_text, etext = page_round_up((uintptr_t)_etext);
	unsigned bits = arch_phys_bits();

	sort_ranges((struct boot_info *)boot);
	boot_map = boot;
	map_end = bits >= 40 ? VM_KERNEL_END : 1ull << bits;
	max_block_level = arch_pte_leaf(0, VM_READ, 2) ? 2 : 1;
	if (max_block_level < 2 && map_end > (64ull << 30))
		map_end = 64ull << 30; /* without 1 GiB pages, keep the tables small */
	check_outside_window("image", boot->image_base, boot->image_bytes);
	check_outside_window("heap", (uintptr_t)boot->heap, boot->heap_bytes);
	check_outside_window("DMA pool", boot->pool_phys, boot->pool_bytes);
	check_outside_window("boot stack", boot->boot_stack_base, boot->boot_stack_bytes);
	check_outside_window("ACPI RSDP", boot->rsdp, boot->rsdp ? 1 : 0);
	pools_init(boot);

	kernel_root = table_alloc();
	kernel_tables = 1;
	for (uint64_t base = 0; base < map_end; base += LEVEL_BYTES(2))
		map_identity(boot, base, 2);
	kernel_protect(text, etext, VM_READ | VM_EXEC);
	arch_mmu_enable(kernel_root);
}

void vm_report(void)
{
	unsigned firmware = 0;

	for (unsigned i = 0; i < boot_map->nranges; i++)
		if (boot_map->ranges[i].kind == MEM_FIRMWARE)
			firmware++;
	kprintf("vm: own page tables at %#llx (%llu KiB): %llu MiB RAM write-back "
	        "(image text read-only + executable, the rest no-execute), %llu GiB "
	        "device memory up to %#llx; nothing below %#llx (user window)\n",
	        (unsigned long long)kernel_root, (unsigned long long)(kernel_tables * 4),
	        (unsigned long long)(ram_mapped >> 20), (unsigned long long)(device_bytes >> 30),
	        (unsigned long long)map_end, (unsigned long long)VM_USER_WINDOW_END);
	kprintf("vm: %zu free pages (%zu MiB) in %u ranges for stacks and programs\n",
	        vm_pages_free(), vm_pages_free() >> 8, npools);
}

/* ---- guarded kernel stacks ---- */

void *vm_stack_alloc(size_t bytes)
{
	size_t pages = page_round_up(bytes) / VM_PAGE + 1;
	uint8_t *p = vm_page_alloc(pages);
	uint64_t *e;

	if (!p)
		return NULL;
	e = walk(kernel_root, (uintptr_t)p, 0, false, NULL);
	if (!e)
		panic("vm: stack page %p is not in the kernel's map", (void *)p);
	*e = 0; /* the guard */
	arch_tlb_flush_page((uintptr_t)p);
	return p + VM_PAGE;
}

void vm_stack_free(void *stack, size_t bytes)
{
	uint8_t *guard = (uint8_t *)stack - VM_PAGE;
	uint64_t *e = walk(kernel_root, (uintptr_t)guard, 0, false, NULL);

	*e = arch_pte_leaf((uintptr_t)guard, VM_READ | VM_WRITE, 0);
	arch_tlb_flush_page((uintptr_t)guard);
	vm_page_free(guard, page_round_up(bytes) / VM_PAGE + 1);
}

bool vm_is_guard(uintptr_t addr, uintptr_t stack_base)
{
	return stack_base && addr < stack_base && addr >= stack_base - VM_PAGE;
}

/* ---- user address spaces ---- */

static bool user_range(uint64_t va, uint64_t len)
{
	uint64_t end = va + len;

	if (end < va || (va | len) & (VM_PAGE - 1))
		return false;
	return (va >= VM_USER_WINDOW_START && end <= VM_USER_WINDOW_END) ||
	       (va >= VM_KERNEL_END && end <= VM_USER_END);
}

/* May `as` take n more pages?  Count them in / out. */
static bool room(const struct vm_space *as, uint64_t n)
{
	return as->budget->pages + n <= as->budget->limit_pages;
}

static void count(struct vm_space *as, int64_t n)
{
	as->pages += (uint64_t)n;
	as->budget->pages += (uint64_t)n;
}

/* Interrupts off around each page's change: threads of a process share
 * its space, and a copy must not race an unmap of the page it copies. */
static bool irq_off(void)
{
	bool on = arch_irq_enabled();

	arch_irq_disable();
	return on;
}

static void irq_restore(bool on)
{
	if (on)
		arch_irq_enable();
}

/* A private copy of the kernel table at `phys` (entries shared below). */
static uint64_t copy_table(struct vm_space *as, uint64_t phys)
{
	uint64_t t = table_alloc();

	if (t) {
		memcpy(table(t), table(phys), VM_PAGE);
		count(as, 1);
	}
	return t;
}

struct vm_space *vm_space_create(struct vm_budget *budget)
{
	struct vm_space *as = calloc(1, sizeof(*as));
	uint64_t l2, l1;

	if (!as)
		return NULL;
	as->budget = budget;
	/* root, then root[0]'s table, then its [0]: the low window's */
	if (!(as->root = copy_table(as, kernel_root)))
		goto err_free;
	if (!(l2 = copy_table(as, arch_pte_phys(table(kernel_root)[0]))))
		goto err_free_root;
	table(as->root)[0] = arch_pte_table(l2);
	if (!(l1 = copy_table(as, arch_pte_phys(table(l2)[0]))))
		goto err_free_l2;
	table(l2)[0] = arch_pte_table(l1);
	return as;

err_free_l2:
	vm_page_free(table(l2), 1);
	count(as, -1);
err_free_root:
	vm_page_free(table(as->root), 1);
	count(as, -1);
err_free:
	free(as);
	return NULL;
}

/* A user page leaves the space: freed unless it is a shared store page. */
static void drop_leaf(struct vm_space *as, uint64_t e)
{
	if (arch_pte_prot(e, 0) & VM_SHARED)
		return;
	vm_page_free(table(arch_pte_phys(e)), 1);
	count(as, -1);
}

/* Free the user part of the tree under `t` at `level`: user pages, and
 * tables that only the space owns. */
static void free_user_tree(struct vm_space *as, uint64_t t, unsigned level)
{
	for (unsigned i = 0; i < ENTRIES; i++) {
		uint64_t e = table(t)[i];

		if (!arch_pte_valid(e))
			continue;
		if (level == 0 || arch_pte_is_leaf(e, level)) {
			drop_leaf(as, e);
			continue;
		}
		free_user_tree(as, arch_pte_phys(e), level - 1);
		vm_page_free(table(arch_pte_phys(e)), 1);
		count(as, -1);
	}
}

void vm_space_destroy(struct vm_space *as)
{
	uint64_t l2, l1, kl1;

	if (!as)
		return;
	l2 = arch_pte_phys(table(as->root)[0]);
	l1 = arch_pte_phys(table(l2)[0]);
	kl1 = arch_pte_phys(table(arch_pte_phys(table(kernel_root)[0]))[0]);
	/* the window: entries of the private level-1 table the kernel lacks
	 * (compared by address: the CPU sets accessed bits in either copy) */
	for (unsigned i = 0; i < ENTRIES; i++) {
		uint64_t e = table(l1)[i];

		if (!arch_pte_valid(e) || (arch_pte_valid(table(kl1)[i]) &&
		                           arch_pte_phys(e) == arch_pte_phys(table(kl1)[i])))
			continue;
		free_user_tree(as, arch_pte_phys(e), 0);
		vm_page_free(table(arch_pte_phys(e)), 1);
		count(as, -1);
	}
	for (unsigned i = INDEX(VM_KERNEL_END, ROOT_LEVEL); i < ENTRIES; i++) {
		uint64_t e = table(as->root)[i];

		if (!arch_pte_valid(e) ||
		    (arch_pte_valid(table(kernel_root)[i]) &&
		     arch_pte_phys(e) == arch_pte_phys(table(kernel_root)[i])))
			continue;
		free_user_tree(as, arch_pte_phys(e), ROOT_LEVEL - 1);
		vm_page_free(table(arch_pte_phys(e)), 1);
		count(as, -1);
	}
	vm_page_free(table(l1), 1);
	vm_page_free(table(l2), 1);
	vm_page_free(table(as->root), 1);
	count(as, -3);
	if (as->pages)
		kprintf("vm: address space freed with %llu pages unaccounted\n",
		        (unsigned long long)as->pages);
	free(as);
}

void vm_space_activate(struct vm_space *as)
{
	arch_mmu_switch(as ? as->root : kernel_root);
}

uint64_t vm_space_bytes(const struct vm_space *as)
{
	return as->pages * VM_PAGE;
}

/* One page of user memory at va (nothing mapped there yet): `phys` when
 * shared, else a fresh page with `copy_from`'s bytes (NULL: zeroed). */
static int map_page(struct vm_space *as, uint64_t va, unsigned prot, uint64_t phys,
                    const void *copy_from)
{
	uint64_t *e, tables = 0;
	void *page = NULL;
	bool on;
	int err = 0;

	/* worst case: this page and three tables */
	if (!room(as, phys ? 3 : 4))
		return -ENOMEM;
	if (!phys && !(page = vm_page_alloc(1)))
		return -ENOMEM;
	if (page && copy_from)
		memcpy(page, copy_from, VM_PAGE);
	on = irq_off();
	e = walk(as->root, va, 0, true, &tables);
	count(as, (int64_t)tables);
	if (!e)
		err = -ENOMEM;
	else if (arch_pte_valid(*e))
		err = -EINVAL;
	else if (page) {
		count(as, 1);
		*e = arch_pte_leaf((uintptr_t)page, prot | VM_USER | VM_READ, 0);
	} else {
		*e = arch_pte_leaf(phys, prot | VM_SHARED | VM_USER | VM_READ, 0);
	}
	irq_restore(on);
	if (err && page)
		vm_page_free(page, 1);
	return err;
}

int vm_map_anon(struct vm_space *as, uint64_t va, uint64_t len, unsigned prot)
{
	if (!user_range(va, len))
		return -EINVAL;
	for (uint64_t off = 0; off < len; off += VM_PAGE) {
		int err = map_page(as, va + off, prot, 0, NULL);

		if (err) {
			vm_unmap(as, va, err == -EINVAL ? off : len);
			return err;
		}
	}
	return 0;
}

/* Mark the empty entry for va as reserved (tables made as needed). */
static int reserve_page(struct vm_space *as, uint64_t va, uint64_t entry)
{
	uint64_t *e, tables = 0;
	bool on;
	int err = 0;

	if (!room(as, 3))
		return -ENOMEM;
	on = irq_off();
	e = walk(as->root, va, 0, true, &tables);
	count(as, (int64_t)tables);
	if (!e)
		err = -ENOMEM;
	else if (*e)
		err = -EINVAL;
	else
		*e = entry;
	irq_restore(on);
	return err;
}

int vm_map_lazy(struct vm_space *as, uint64_t va, uint64_t len, unsigned prot)
{
	if (!user_range(va, len))
		return -EINVAL;
	for (uint64_t off = 0; off < len; off += VM_PAGE) {
		int err = reserve_page(as, va + off, lazy_entry(prot));

		if (err) {
			vm_unmap(as, va, err == -EINVAL ? off : len);
			return err;
		}
	}
	return 0;
}

int vm_map_shared(struct vm_space *as, uint64_t va, uint64_t phys, uint64_t len, unsigned prot)
{
	if (!user_range(va, len) || (phys & (VM_PAGE - 1)) || !phys || (prot & VM_WRITE))
		return -EINVAL;
	for (uint64_t off = 0; off < len; off += VM_PAGE) {
		int err = map_page(as, va + off, prot, phys + off, NULL);

		if (err) {
			vm_unmap(as, va, err == -EINVAL ? off : len);
			return err;
		}
	}
	return 0;
}

/* Copy every user page under table t (level) of src into dst, at va. */
static int clone_tree(struct vm_space *dst, uint64_t t, unsigned level, uint64_t va)
{
	for (unsigned i = 0; i < ENTRIES; i++) {
		uint64_t e = table(t)[i], at = va + i * LEVEL_BYTES(level);
		int err;

		if (!arch_pte_valid(e)) {
			/* a reservation stays one in the copy */
			if (level == 0 && is_lazy(e) && user_range(at, VM_PAGE) &&
			    (err = reserve_page(dst, at, e)))
				return err;
			continue;
		}
		if (level > 0 && !arch_pte_is_leaf(e, level)) {
			if ((err = clone_tree(dst, arch_pte_phys(e), level - 1, at)))
				return err;
			continue;
		}
		if (level > 0 || !user_range(at, VM_PAGE))
			continue; /* (user spaces hold no blocks) */
		if (arch_pte_prot(e, 0) & VM_SHARED)
			err = map_page(dst, at, arch_pte_prot(e, 0) & ~VM_SHARED, arch_pte_phys(e),
			               NULL);
		else
			err = map_page(dst, at, arch_pte_prot(e, 0), 0, table(arch_pte_phys(e)));
		if (err)
			return err;
	}
	return 0;
}

struct vm_space *vm_space_clone(struct vm_space *src, struct vm_budget *budget)
{
	struct vm_space *dst = vm_space_create(budget);
	uint64_t l2, l1, kl1;
	int err = 0;

	if (!dst)
		return NULL;
	l2 = arch_pte_phys(table(src->root)[0]);
	l1 = arch_pte_phys(table(l2)[0]);
	kl1 = arch_pte_phys(table(arch_pte_phys(table(kernel_root)[0]))[0]);
	for (unsigned i = 0; i < ENTRIES && !err; i++) {
		uint64_t e = table(l1)[i];

		if (!arch_pte_valid(e) || (arch_pte_valid(table(kl1)[i]) &&
		                           arch_pte_phys(e) == arch_pte_phys(table(kl1)[i])))
			continue;
		err = clone_tree(dst, arch_pte_phys(e), 0, i * LEVEL_BYTES(1));
	}
	for (unsigned i = INDEX(VM_KERNEL_END, ROOT_LEVEL); i < ENTRIES && !err; i++) {
		uint64_t e = table(src->root)[i];

		if (!arch_pte_valid(e) ||
		    (arch_pte_valid(table(kernel_root)[i]) &&
		     arch_pte_phys(e) == arch_pte_phys(table(kernel_root)[i])))
			continue;
		err = clone_tree(dst, arch_pte_phys(e), ROOT_LEVEL - 1,
		                 (uint64_t)i * LEVEL_BYTES(ROOT_LEVEL));
	}
	if (err) {
		vm_space_destroy(dst);
		return NULL;
	}
	dst->grow_lo = src->grow_lo;
	dst->grow_hi = src->grow_hi;
	return dst;
}

void vm_unmap(struct vm_space *as, uint64_t va, uint64_t len)
{
	for (uint64_t off = 0; off < len; off += VM_PAGE) {
		bool on = irq_off();
		uint64_t *e = walk(as->root, va + off, 0, false, NULL);

		if (e && is_lazy(*e) && user_range(va + off, VM_PAGE)) {
			*e = 0;
		} else if (e && arch_pte_valid(*e) && user_range(va + off, VM_PAGE)) {
			drop_leaf(as, *e);
			*e = 0;
			arch_tlb_flush_page(va + off);
		}
		irq_restore(on);
	}
}

/* A shared page about to be written becomes the space's own copy. */
static bool unshare(struct vm_space *as, uint64_t *e, uint64_t va)
{
	unsigned prot = arch_pte_prot(*e, 0);
	void *page;

	if (!(prot & VM_SHARED))
		return true;
	if (!room(as, 1) || !(page = vm_page_alloc(1)))
		return false;
	memcpy(page, table(arch_pte_phys(*e)), VM_PAGE);
	count(as, 1);
	*e = arch_pte_leaf((uintptr_t)page, prot & ~VM_SHARED, 0);
	arch_tlb_flush_page(va);
	return true;
}

int vm_protect(struct vm_space *as, uint64_t va, uint64_t len, unsigned prot)
{
	for (uint64_t off = 0; off < len; off += VM_PAGE) {
		bool on = irq_off();
		uint64_t *e = walk(as->root, va + off, 0, false, NULL);
		int err = 0;

		if (e && is_lazy(*e) && user_range(va + off, VM_PAGE)) {
			*e = lazy_entry(prot);
		} else if (e && arch_pte_valid(*e) && user_range(va + off, VM_PAGE)) {
			if ((prot & VM_WRITE) && !unshare(as, e, va + off)) {
				err = -ENOMEM;
			} else {
				*e = arch_pte_leaf(arch_pte_phys(*e),
				                   prot | VM_USER | VM_READ |
				                           (arch_pte_prot(*e, 0) & VM_SHARED),
				                   0);
				arch_tlb_flush_page(va + off);
			}
		}
		irq_restore(on);
		if (err)
			return err;
	}
	return 0;
}

void vm_set_growable(struct vm_space *as, uint64_t lo, uint64_t hi)
{
	as->grow_lo = lo;
	as->grow_hi = hi;
}

/* Back a page vm_map_lazy reserved: true when it is (or already was)
 * backed with rights that include its reserved ones. */
static bool fill(struct vm_space *as, uint64_t page)
{
	bool on = irq_off(), ok = false;
	uint64_t *e = walk(as->root, page, 0, false, NULL);
	void *fresh;

	if (e && arch_pte_valid(*e)) {
		ok = true; /* another thread backed it first */
	} else if (e && is_lazy(*e) && lazy_prot(*e) && room(as, 1) && (fresh = vm_page_alloc(1))) {
		memset(fresh, 0, VM_PAGE);
		count(as, 1);
		*e = arch_pte_leaf((uintptr_t)fresh, lazy_prot(*e) | VM_USER | VM_READ, 0);
		arch_tlb_flush_page(page);
		ok = true;
	}
	irq_restore(on);
	return ok;
}

bool vm_grow(struct vm_space *as, uint64_t addr)
{
	uint64_t page = addr & ~(VM_PAGE - 1);

	if (fill(as, page))
		return true;
	if (page < as->grow_lo || page >= as->grow_hi)
		return false;
	/* a stack grows without gaps: everything down to this page */
	if (vm_map_anon(as, page, as->grow_hi - page, VM_READ | VM_WRITE) != 0)
		return false;
	as->grow_hi = page;
	return true;
}

/* The kernel pointer to user byte `va`, if user-accessible (writable);
 * `store`: it is about to be written (a shared page becomes private). */
static uint8_t *user_byte(struct vm_space *as, uint64_t va, bool write, bool store)
{
	uint64_t *e;
	unsigned prot;

	if (va < VM_USER_WINDOW_START || va >= VM_USER_END ||
	    (va >= VM_USER_WINDOW_END && va < VM_KERNEL_END))
		return NULL;
	e = walk(as->root, va, 0, false, NULL);
	if ((!e || !arch_pte_valid(*e)) && vm_grow(as, va))
		e = walk(as->root, va, 0, false, NULL); /* a stack page, first touched here */
	if (!e || !arch_pte_valid(*e))
		return NULL;
	prot = arch_pte_prot(*e, 0);
	if (!(prot & VM_USER) || (write && !(prot & VM_WRITE)))
		return NULL;
	if (store && !unshare(as, e, va & ~(VM_PAGE - 1)))
		return NULL;
	return (uint8_t *)(uintptr_t)(arch_pte_phys(*e) + (va & (VM_PAGE - 1)));
}

bool vm_user_ok(struct vm_space *as, uint64_t va, uint64_t len, bool write)
{
	uint64_t end = va + len;

	if (end < va)
		return false;
	for (uint64_t p = va & ~(VM_PAGE - 1); p < end; p += VM_PAGE) {
		bool on = irq_off(), ok = user_byte(as, p, write, false) != NULL;

		irq_restore(on);
		if (!ok)
			return false;
	}
	return true;
}

bool vm_any_mapped(struct vm_space *as, uint64_t va, uint64_t len)
{
	for (uint64_t off = 0; off < len; off += VM_PAGE) {
		bool on = irq_off();
		uint64_t *e = walk(as->root, va + off, 0, false, NULL);
		bool mapped = e && (arch_pte_valid(*e) || is_lazy(*e));

		irq_restore(on);
		if (mapped)
			return true;
	}
	return false;
}

/* Copy page by page; `to_user`: direction; `write`: check writability. */
static int copy_user(struct vm_space *as, uint64_t uva, void *kbuf, size_t len, bool to_user,
                     bool write)
{
	uint8_t *k = kbuf;

	if (uva + len < uva)
		return -EFAULT;
	while (len) {
		size_t chunk = VM_PAGE - (uva & (VM_PAGE - 1));
		bool on = irq_off();
		uint8_t *u = user_byte(as, uva, write, to_user);

		if (!u) {
			irq_restore(on);
			return -EFAULT;
		}
		if (chunk > len)
			chunk = len;
		if (to_user)
			memcpy(u, k, chunk);
		else
			memcpy(k, u, chunk);
		irq_restore(on);
		uva += chunk;
		k += chunk;
		len -= chunk;
	}
	return 0;
}

int vm_copy_in(struct vm_space *as, void *dst, uint64_t src, size_t len)
{
	return copy_user(as, src, dst, len, false, false);
}

int vm_copy_out(struct vm_space *as, uint64_t dst, const void *src, size_t len)
{
	return copy_user(as, dst, (void *)src, len, true, true);
}

int vm_poke(struct vm_space *as, uint64_t dst, const void *src, size_t len)
{
	return copy_user(as, dst, (void *)src, len, true, false);
}

long vm_strncpy_in(struct vm_space *as, char *dst, uint64_t src, size_t max)
{
	for (size_t i = 0; i < max; i++) {
		bool on = irq_off();
		uint8_t *u = user_byte(as, src + i, false, false);
		char c = u ? (char)*u : 0;

		irq_restore(on);
		if (!u)
			return -EFAULT;
		dst[i] = c;
		if (!c)
			return (long)i;
	}
	return -ENAMETOOLONG;
}
