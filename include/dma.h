/*
 * dma.h -- device addresses.
 *
 * A device (bus) address is its own type, never a cast pointer: UEFI
 * identity-maps memory today, but a confidential guest would hand devices
 * bounce pages at other addresses, and keeping the type distinct keeps that
 * possible (STYLE "one platform header").
 */
#ifndef INCLUDE_DMA_H
#define INCLUDE_DMA_H

#include <stdint.h>

typedef struct {
	uint64_t addr; /* address as the device sees it */
} dma_addr_t;

static inline dma_addr_t dma_addr(uint64_t addr)
{
	return (dma_addr_t){ .addr = addr };
}

#endif
