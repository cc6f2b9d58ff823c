/*
 * pool.h -- the DMA-safe page pool.
 *
 * One physically contiguous region, reserved from the firmware before
 * ExitBootServices (below 4 GiB), handed out in page-granular runs of
 * contiguous pages.  Every allocation returns both a CPU pointer and the
 * device address of the same memory; virtqueues and buffers the device
 * touches come from here and nowhere else.
 *
 * Typical usage:
 *	struct dma_pool pool;
 *	pool_init(&pool, cpu_base, dev_base, bytes);
 *	struct dma_region r;
 *	if (pool_alloc(&pool, 2, &r) == 0) {     // two zeroed pages
 *		use(r.cpu, r.dev);
 *		pool_free(&pool, &r);
 *	}
 *
 * The pool keeps its bookkeeping (two bitmaps) in the first pages of the
 * region itself, so it needs no other allocator.  Allocation failure returns
 * -ENOMEM and is reported through log_printf, never a crash.  With
 * POOL_DEBUG defined, freed pages are poisoned and the poison is checked
 * when they are handed out again, catching writes after free.
 *
 * Not thread-safe: callers serialise (the image disables preemption around
 * pool calls).  Implemented by kernel/pool.c, in the image and in the host
 * unit tests alike.
 */
#ifndef INCLUDE_POOL_H
#define INCLUDE_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "include/dma.h"

#define POOL_PAGE_SIZE 4096u
#define POOL_POISON    0x6b

struct dma_region {
	void *cpu;      /* CPU address of the first byte */
	dma_addr_t dev; /* device address of the same byte */
	size_t pages;   /* length in pages */
};

struct dma_pool {
	uint8_t *base;          /* CPU address of pool page 0 */
	dma_addr_t dev_base;    /* device address of pool page 0 */
	size_t pages;           /* pages in the region, bookkeeping included */
	size_t meta_pages;      /* leading pages holding the two bitmaps */
	uint64_t *used;         /* bit per page: allocated (or bookkeeping)? */
	uint64_t *head;         /* bit per page: first page of an allocation? */
	size_t next_hint;       /* page index where the next search starts */
	size_t in_use;          /* pages allocated now (bookkeeping excluded) */
	size_t peak;            /* highest in_use seen */
	size_t allocations;     /* live allocations */
	uint64_t failures;      /* allocations refused since init */
	uint64_t bad_frees;     /* frees of something not allocated */
	uint64_t poison_errors; /* freed pages found modified (POOL_DEBUG) */
};

int pool_init(struct dma_pool *pool, void *cpu_base, dma_addr_t dev_base, size_t bytes);
int pool_alloc(struct dma_pool *pool, size_t pages, struct dma_region *out);
int pool_free(struct dma_pool *pool, struct dma_region *region);

/* Device address of a CPU pointer inside the pool; false if outside. */
bool pool_dev_addr(const struct dma_pool *pool, const void *cpu, dma_addr_t *out);
/* CPU pointer for a device range inside the pool; NULL if outside. */
void *pool_cpu_addr(const struct dma_pool *pool, dma_addr_t dev, size_t len);

size_t pool_pages_in_use(const struct dma_pool *pool);
size_t pool_pages_free(const struct dma_pool *pool);
size_t pool_usable_pages(const struct dma_pool *pool);

#endif
