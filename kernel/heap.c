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

/*
 * newlib's malloc (libc/stdlib/mallocr.c, built without
 * HAVE_USR_INCLUDE_MALLOC_H) returns the SVID mallinfo with int fields,
 * while newlib's <malloc.h> declares size_t ones: the caller would read
 * past the 40 bytes the library writes.  Declared here as the library
 * defines it (tests/qemu/test_vsock_device.py checks the figure against
 * the break).
 */
struct newlib_mallinfo {
	int arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks;
	int uordblks; /* bytes in chunks handed out */
	int fordblks, keepcost;
};
struct newlib_mallinfo mallinfo(void);

size_t heap_inuse(void)
{
	int n = mallinfo().uordblks;

	return n > 0 ? (size_t)n : 0;
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
