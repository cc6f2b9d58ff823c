/*
 * heap.c -- the general heap: a region reserved from the firmware before
 * ExitBootServices, grown through sbrk by newlib's malloc.  DMA memory never
 * comes from here (see pool.c).
 */
#include <errno.h>
#include <stdint.h>

#include "kernel/kernel.h"

static uint8_t *heap_base; /* first byte of the region */
static size_t heap_limit;  /* region size in bytes */
static size_t heap_break;  /* bytes handed out so far */

void heap_init(void *base, size_t size)
{
	heap_base = base;
	heap_limit = size;
	heap_break = 0;
}

size_t heap_used(void)
{
	return heap_break;
}

size_t heap_size(void)
{
	return heap_limit;
}

/* newlib's sbrk: grow (or shrink) the break; (void *)-1 when exhausted. */
void *heap_sbrk(intptr_t increment)
{
	uint8_t *old = heap_base + heap_break;

	if ((increment > 0 && (size_t)increment > heap_limit - heap_break) ||
	    (increment < 0 && (size_t)-increment > heap_break)) {
		kprintf("heap: cannot grow by %ld bytes (%zu of %zu in use)\n", (long)increment,
		        heap_break, heap_limit);
		errno = ENOMEM;
		return (void *)-1;
	}
	heap_break += increment;
	return old;
}
