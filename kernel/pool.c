/*
 * pool.c -- the DMA-safe page pool (see pool.h).
 *
 * Portable: no EFI, no arch code; built into the image and into the host
 * unit tests (tests/unit/test_pool.c).  Two bitmaps live in the leading
 * pages of the region: `used` marks allocated pages, `head` marks the first
 * page of each allocation, so a free can check that it names exactly one
 * live allocation (right start, right length) before touching anything.
 */
#include "include/pool.h"

#include <errno.h>
#include <string.h>

#include "include/log.h"

#define BITS_PER_WORD 64u

static bool bit_get(const uint64_t *map, size_t i)
{
	return (map[i / BITS_PER_WORD] >> (i % BITS_PER_WORD)) & 1u;
}

static void bit_set(uint64_t *map, size_t i, bool value)
{
	uint64_t mask = (uint64_t)1 << (i % BITS_PER_WORD);

	if (value)
		map[i / BITS_PER_WORD] |= mask;
	else
		map[i / BITS_PER_WORD] &= ~mask;
}

static size_t bitmap_bytes(size_t pages)
{
	return (pages + BITS_PER_WORD - 1) / BITS_PER_WORD * sizeof(uint64_t);
}

static uint8_t *page_ptr(const struct dma_pool *pool, size_t index)
{
	return pool->base + index * POOL_PAGE_SIZE;
}

int pool_init(struct dma_pool *pool, void *cpu_base, dma_addr_t dev_base, size_t bytes)
{
	size_t pages = bytes / POOL_PAGE_SIZE;
	size_t meta;

	memset(pool, 0, sizeof(*pool));
	if (!cpu_base || ((uintptr_t)cpu_base % POOL_PAGE_SIZE) ||
	    (dev_base.addr % POOL_PAGE_SIZE)) {
		log_printf("pool: region %p (device %#llx) is not page aligned\n", cpu_base,
		           (unsigned long long)dev_base.addr);
		return -EINVAL;
	}
	meta = (2 * bitmap_bytes(pages) + POOL_PAGE_SIZE - 1) / POOL_PAGE_SIZE;
	if (pages <= meta) {
		log_printf("pool: %zu bytes is too small for a pool\n", bytes);
		return -EINVAL;
	}

	pool->base = cpu_base;
	pool->dev_base = dev_base;
	pool->pages = pages;
	pool->meta_pages = meta;
	pool->used = cpu_base;
	pool->head = (uint64_t *)((uint8_t *)cpu_base + bitmap_bytes(pages));
	memset(pool->used, 0, 2 * bitmap_bytes(pages));
	for (size_t i = 0; i < meta; i++)
		bit_set(pool->used, i, true);
	pool->next_hint = meta;
#ifdef POOL_DEBUG
	memset(page_ptr(pool, meta), POOL_POISON, (pages - meta) * POOL_PAGE_SIZE);
#endif
	return 0;
}

/* First fit from `start`: index of `count` free pages in a row, or 0. */
static size_t find_run(const struct dma_pool *pool, size_t start, size_t count)
{
	size_t run = 0;

	for (size_t i = start; i < pool->pages; i++) {
		if (bit_get(pool->used, i)) {
			run = 0;
			continue;
		}
		if (++run == count)
			return i + 1 - count;
	}
	return 0; /* page 0 always holds bookkeeping, so 0 means "none" */
}

#ifdef POOL_DEBUG
static void check_poison(struct dma_pool *pool, size_t first, size_t count)
{
	const uint8_t *p = page_ptr(pool, first);

	for (size_t i = 0; i < count * POOL_PAGE_SIZE; i++) {
		if (p[i] != POOL_POISON) {
			pool->poison_errors++;
			log_printf("pool: page %zu was written after free "
			           "(offset %zu holds %#x)\n",
			           first + i / POOL_PAGE_SIZE, i % POOL_PAGE_SIZE, p[i]);
			return;
		}
	}
}
#endif

int pool_alloc(struct dma_pool *pool, size_t pages, struct dma_region *out)
{
	size_t first;

	memset(out, 0, sizeof(*out));
	if (pages == 0 || pages > pool->pages) {
		pool->failures++;
		log_printf("pool: cannot allocate %zu pages (pool has %zu)\n", pages,
		           pool->pages - pool->meta_pages);
		return pages ? -ENOMEM : -EINVAL;
	}
	first = find_run(pool, pool->next_hint, pages);
	if (!first)
		first = find_run(pool, pool->meta_pages, pages);
	if (!first) {
		pool->failures++;
		log_printf("pool: out of memory: %zu contiguous pages wanted, "
		           "%zu of %zu pages free\n",
		           pages, pool_pages_free(pool), pool_usable_pages(pool));
		return -ENOMEM;
	}

	for (size_t i = first; i < first + pages; i++)
		bit_set(pool->used, i, true);
	bit_set(pool->head, first, true);
	pool->next_hint = first + pages < pool->pages ? first + pages : pool->meta_pages;
	pool->in_use += pages;
	pool->allocations++;
	if (pool->in_use > pool->peak)
		pool->peak = pool->in_use;

#ifdef POOL_DEBUG
	check_poison(pool, first, pages);
#endif
	memset(page_ptr(pool, first), 0, pages * POOL_PAGE_SIZE);
	out->cpu = page_ptr(pool, first);
	out->dev = dma_addr(pool->dev_base.addr + first * POOL_PAGE_SIZE);
	out->pages = pages;
	return 0;
}

/* Is `region` exactly one live allocation?  Returns its first page or 0. */
static size_t validate_region(const struct dma_pool *pool, const struct dma_region *region)
{
	uintptr_t offset = (uintptr_t)region->cpu - (uintptr_t)pool->base;
	size_t first, end;

	if ((uintptr_t)region->cpu < (uintptr_t)pool->base || offset % POOL_PAGE_SIZE)
		return 0;
	first = offset / POOL_PAGE_SIZE;
	if (first < pool->meta_pages || first >= pool->pages || region->pages == 0 ||
	    region->pages > pool->pages - first)
		return 0;
	if (region->dev.addr != pool->dev_base.addr + offset)
		return 0;
	if (!bit_get(pool->head, first))
		return 0;
	end = first + region->pages;
	for (size_t i = first; i < end; i++) {
		if (!bit_get(pool->used, i) || (i > first && bit_get(pool->head, i)))
			return 0;
	}
	/* The allocation must end where the region says it ends. */
	if (end < pool->pages && bit_get(pool->used, end) && !bit_get(pool->head, end))
		return 0;
	return first;
}

int pool_free(struct dma_pool *pool, struct dma_region *region)
{
	size_t first;

	if (!region->cpu)
		return 0; /* freeing nothing is fine, like free(NULL) */
	first = validate_region(pool, region);
	if (!first) {
		pool->bad_frees++;
		log_printf("pool: bad free of %p (%zu pages): not an allocation "
		           "of this pool\n",
		           region->cpu, region->pages);
		return -EINVAL;
	}
	for (size_t i = first; i < first + region->pages; i++)
		bit_set(pool->used, i, false);
	bit_set(pool->head, first, false);
	pool->in_use -= region->pages;
	pool->allocations--;
#ifdef POOL_DEBUG
	memset(region->cpu, POOL_POISON, region->pages * POOL_PAGE_SIZE);
#endif
	memset(region, 0, sizeof(*region));
	return 0;
}

bool pool_dev_addr(const struct dma_pool *pool, const void *cpu, dma_addr_t *out)
{
	uintptr_t p = (uintptr_t)cpu, base = (uintptr_t)pool->base;

	if (p < base || p - base >= pool->pages * POOL_PAGE_SIZE)
		return false;
	*out = dma_addr(pool->dev_base.addr + (p - base));
	return true;
}

void *pool_cpu_addr(const struct dma_pool *pool, dma_addr_t dev, size_t len)
{
	uint64_t size = (uint64_t)pool->pages * POOL_PAGE_SIZE;
	uint64_t offset = dev.addr - pool->dev_base.addr;

	if (dev.addr < pool->dev_base.addr || offset >= size || len > size - offset)
		return NULL;
	return pool->base + offset;
}

size_t pool_pages_in_use(const struct dma_pool *pool)
{
	return pool->in_use;
}

size_t pool_usable_pages(const struct dma_pool *pool)
{
	return pool->pages - pool->meta_pages;
}

size_t pool_pages_free(const struct dma_pool *pool)
{
	return pool_usable_pages(pool) - pool->in_use;
}
