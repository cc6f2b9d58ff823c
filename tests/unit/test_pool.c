/*
 * test_pool.c -- the DMA page pool on ordinary memory.
 *
 * The fake region's device addresses are deliberately far from its CPU
 * addresses, so any code that casts a pointer to a device address fails.
 */
#define POOL_DEBUG 1
#include "kernel/pool.c"

#include <stdlib.h>

#include "tests/unit/harness.h"

#define FAKE_DEV_BASE 0x40000000ull

static void *region_mem;

static void make_pool(struct dma_pool *pool, size_t pages)
{
	free(region_mem);
	region_mem = aligned_alloc(POOL_PAGE_SIZE, pages * POOL_PAGE_SIZE);
	CHECK(region_mem != NULL);
	CHECK_EQ(pool_init(pool, region_mem, dma_addr(FAKE_DEV_BASE), pages * POOL_PAGE_SIZE), 0);
}

static bool all_bytes(const void *p, size_t n, uint8_t v)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != v)
			return false;
	return true;
}

TEST(pool_init_reserves_bookkeeping)
{
	struct dma_pool pool;

	make_pool(&pool, 1024);
	CHECK_EQ(pool.meta_pages, 1);
	CHECK_EQ(pool_usable_pages(&pool), 1023);
	CHECK_EQ(pool_pages_in_use(&pool), 0);
	CHECK_EQ(pool_pages_free(&pool), 1023);
}

TEST(pool_init_rejects_unaligned_and_tiny)
{
	struct dma_pool pool;
	static uint8_t tiny[2 * POOL_PAGE_SIZE] __attribute__((aligned(4096)));

	CHECK_EQ(pool_init(&pool, tiny + 8, dma_addr(0), POOL_PAGE_SIZE), -EINVAL);
	CHECK_EQ(pool_init(&pool, tiny, dma_addr(0x123), POOL_PAGE_SIZE), -EINVAL);
	CHECK_EQ(pool_init(&pool, tiny, dma_addr(0), POOL_PAGE_SIZE), -EINVAL);
}

TEST(pool_alloc_returns_zeroed_contiguous_pages_with_device_address)
{
	struct dma_pool pool;
	struct dma_region r;

	make_pool(&pool, 64);
	CHECK_EQ(pool_alloc(&pool, 3, &r), 0);
	CHECK_EQ(r.pages, 3);
	CHECK(all_bytes(r.cpu, 3 * POOL_PAGE_SIZE, 0));
	CHECK_EQ((uintptr_t)r.cpu % POOL_PAGE_SIZE, 0);
	CHECK_EQ(r.dev.addr, FAKE_DEV_BASE + ((uint8_t *)r.cpu - (uint8_t *)region_mem));
	CHECK(r.dev.addr != (uint64_t)(uintptr_t)r.cpu);
	CHECK_EQ(pool_pages_in_use(&pool), 3);
	CHECK_EQ(pool_free(&pool, &r), 0);
	CHECK_EQ(pool_pages_in_use(&pool), 0);
	CHECK(r.cpu == NULL);
}

TEST(pool_address_translation_is_bounded)
{
	struct dma_pool pool;
	struct dma_region r;
	dma_addr_t dev;

	make_pool(&pool, 16);
	CHECK_EQ(pool_alloc(&pool, 2, &r), 0);
	CHECK(pool_dev_addr(&pool, (uint8_t *)r.cpu + 100, &dev));
	CHECK_EQ(dev.addr, r.dev.addr + 100);
	CHECK(pool_cpu_addr(&pool, dev, 10) == (uint8_t *)r.cpu + 100);
	CHECK(!pool_dev_addr(&pool, (uint8_t *)region_mem + 16 * POOL_PAGE_SIZE, &dev));
	CHECK(pool_cpu_addr(&pool, dma_addr(FAKE_DEV_BASE - 1), 1) == NULL);
	CHECK(pool_cpu_addr(&pool, dma_addr(FAKE_DEV_BASE + 16 * POOL_PAGE_SIZE - 4), 8) == NULL);
	CHECK(pool_cpu_addr(&pool, dma_addr(FAKE_DEV_BASE + 8), UINT64_MAX) == NULL);
	CHECK_EQ(pool_free(&pool, &r), 0);
}

TEST(pool_exhaustion_is_reported_not_fatal)
{
	struct dma_pool pool;
	struct dma_region a, b;
	unsigned logs;

	make_pool(&pool, 8); /* 7 usable */
	CHECK_EQ(pool_alloc(&pool, 7, &a), 0);
	logs = harness_log_count;
	CHECK_EQ(pool_alloc(&pool, 1, &b), -ENOMEM);
	CHECK(b.cpu == NULL);
	CHECK_EQ(pool.failures, 1);
	CHECK(harness_log_count == logs + 1);
	CHECK(strstr(harness_last_log, "out of memory") != NULL);
	CHECK_EQ(pool_alloc(&pool, 0, &b), -EINVAL);
	CHECK_EQ(pool_alloc(&pool, SIZE_MAX, &b), -ENOMEM);
	CHECK_EQ(pool_free(&pool, &a), 0);
	CHECK_EQ(pool_alloc(&pool, 7, &a), 0);
	CHECK_EQ(pool_free(&pool, &a), 0);
	CHECK_EQ(pool_pages_in_use(&pool), 0);
}

TEST(pool_finds_contiguous_run_after_fragmentation)
{
	struct dma_pool pool;
	struct dma_region r[8], big;

	make_pool(&pool, 9); /* 8 usable pages */
	for (int i = 0; i < 8; i++)
		CHECK_EQ(pool_alloc(&pool, 1, &r[i]), 0);
	/* free pages 1, 3, 4, 5: a run of three exists only at 3..5 */
	CHECK_EQ(pool_free(&pool, &r[1]), 0);
	CHECK_EQ(pool_free(&pool, &r[3]), 0);
	CHECK_EQ(pool_free(&pool, &r[4]), 0);
	CHECK_EQ(pool_free(&pool, &r[5]), 0);
	CHECK_EQ(pool_alloc(&pool, 4, &big), -ENOMEM);
	CHECK_EQ(pool_alloc(&pool, 3, &big), 0);
	CHECK_EQ((uint8_t *)big.cpu - (uint8_t *)region_mem, 4 * POOL_PAGE_SIZE);
	CHECK_EQ(pool_free(&pool, &big), 0);
	for (int i = 0; i < 8; i++)
		if (i != 1 && i != 3 && i != 4 && i != 5)
			CHECK_EQ(pool_free(&pool, &r[i]), 0);
	CHECK_EQ(pool_pages_in_use(&pool), 0);
	CHECK_EQ(pool.allocations, 0);
}

TEST(pool_rejects_double_free_and_wrong_length)
{
	struct dma_pool pool;
	struct dma_region a, b, copy, inner;

	make_pool(&pool, 32);
	CHECK_EQ(pool_alloc(&pool, 4, &a), 0);
	CHECK_EQ(pool_alloc(&pool, 2, &b), 0);

	copy = a;
	copy.pages = 3; /* too short */
	CHECK_EQ(pool_free(&pool, &copy), -EINVAL);
	copy.pages = 6; /* runs into b */
	CHECK_EQ(pool_free(&pool, &copy), -EINVAL);
	inner = a;
	inner.cpu = (uint8_t *)a.cpu + POOL_PAGE_SIZE; /* not a head */
	inner.dev.addr += POOL_PAGE_SIZE;
	inner.pages = 1;
	CHECK_EQ(pool_free(&pool, &inner), -EINVAL);
	copy = a;
	copy.dev.addr += 8; /* device address does not match */
	CHECK_EQ(pool_free(&pool, &copy), -EINVAL);
	copy = a;
	copy.cpu = (uint8_t *)region_mem; /* bookkeeping page */
	copy.dev = dma_addr(FAKE_DEV_BASE);
	CHECK_EQ(pool_free(&pool, &copy), -EINVAL);
	CHECK_EQ(pool.bad_frees, 5);
	CHECK_EQ(pool_pages_in_use(&pool), 6);

	copy = a;
	CHECK_EQ(pool_free(&pool, &a), 0);
	CHECK_EQ(pool_free(&pool, &copy), -EINVAL); /* double free */
	CHECK_EQ(pool_free(&pool, &b), 0);
	CHECK_EQ(pool_free(&pool, &b), 0); /* b was cleared: free(NULL) */
	CHECK_EQ(pool_pages_in_use(&pool), 0);
}

TEST(pool_poisons_freed_pages_and_detects_use_after_free)
{
	struct dma_pool pool;
	struct dma_region a, again;
	uint8_t *stale;

	make_pool(&pool, 4);
	CHECK_EQ(pool_alloc(&pool, 1, &a), 0);
	stale = a.cpu;
	memset(stale, 0xab, POOL_PAGE_SIZE);
	CHECK_EQ(pool_free(&pool, &a), 0);
	CHECK(all_bytes(stale, POOL_PAGE_SIZE, POOL_POISON));
	stale[17] = 1; /* write after free */
	pool.next_hint = pool.meta_pages;
	CHECK_EQ(pool_alloc(&pool, 1, &again), 0);
	CHECK(again.cpu == stale);
	CHECK_EQ(pool.poison_errors, 1);
	CHECK(strstr(harness_last_log, "written after free") != NULL);
	CHECK(all_bytes(again.cpu, POOL_PAGE_SIZE, 0));
	CHECK_EQ(pool_free(&pool, &again), 0);
}

TEST(pool_random_alloc_free_keeps_accounting)
{
	struct dma_pool pool;
	struct dma_region live[64] = { 0 };
	size_t expect = 0;

	make_pool(&pool, 256);
	srand(12345);
	for (int step = 0; step < 20000; step++) {
		int slot = rand() % 64;

		if (live[slot].cpu) {
			expect -= live[slot].pages;
			CHECK_EQ(pool_free(&pool, &live[slot]), 0);
		} else if (pool_alloc(&pool, 1 + rand() % 9, &live[slot]) == 0) {
			expect += live[slot].pages;
			/* the whole run is ours: write it all */
			memset(live[slot].cpu, slot, live[slot].pages * POOL_PAGE_SIZE);
		}
		CHECK_EQ(pool_pages_in_use(&pool), expect);
	}
	for (int slot = 0; slot < 64; slot++)
		CHECK_EQ(pool_free(&pool, &live[slot]), 0);
	CHECK_EQ(pool_pages_in_use(&pool), 0);
	CHECK_EQ(pool.poison_errors, 0);
	CHECK_EQ(pool.bad_frees, 0);
	CHECK(pool.peak > 0);
}
