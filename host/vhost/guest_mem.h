/*
 * guest_mem.h -- the bounds-checked map of guest memory (vhost-user
 * SET_MEM_TABLE; DESIGN §6).
 *
 * Every address the guest or the front-end hands us goes through here:
 * descriptor addresses are guest-physical (gpa), ring addresses are the
 * front-end's virtual addresses (uva).  A lookup returns a host pointer only
 * for a range that lies inside one mapped region; callers that may span
 * regions ask for the contiguous prefix and loop.
 *
 * Typical usage:
 *	guest_mem_map_fd(&mem, gpa, size, uva, fd, offset);   // per region
 *	uint8_t *p = guest_mem_gpa(&mem, addr, len);          // NULL: reject
 *	guest_mem_clear(&mem);                                // unmaps all
 */
#ifndef HOST_VHOST_GUEST_MEM_H
#define HOST_VHOST_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 8 /* VHOST_MEMORY_BASELINE_NREGIONS */

struct guest_region {
	uint64_t gpa;   /* guest-physical address of the first byte */
	uint64_t size;  /* bytes in the region */
	uint64_t uva;   /* front-end virtual address of the first byte */
	uint8_t *host;  /* our pointer to the first byte */
	void *map_base; /* what munmap() takes (NULL: not ours) */
	size_t map_len; /* length of that mapping */
};

struct guest_mem {
	struct guest_region region[GUEST_MEM_MAX_REGIONS]; /* mapped regions */
	unsigned count;                                    /* regions in use */
};

/* mmap()s region [gpa, gpa+size) from fd at offset; 0 or negative errno
 * (-ENXIO when the file is shorter than offset + size: touching such pages
 * would raise SIGBUS). */
int guest_mem_map_fd(struct guest_mem *mem, uint64_t gpa, uint64_t size, uint64_t uva, int fd,
                     uint64_t offset);
/* Adds memory we already have (unit tests); 0 or negative errno. */
int guest_mem_add_host(struct guest_mem *mem, uint64_t gpa, uint64_t size, uint64_t uva,
                       void *host);
/* Unmaps and forgets every region. */
void guest_mem_clear(struct guest_mem *mem);

/* Host pointer for [gpa, gpa+len) when it lies in one region, else NULL. */
void *guest_mem_gpa(const struct guest_mem *mem, uint64_t gpa, uint64_t len);
/* Same for a front-end virtual address range. */
void *guest_mem_uva(const struct guest_mem *mem, uint64_t uva, uint64_t len);
/* Host pointer for gpa and, in *contig, how many of len bytes follow it
 * contiguously (1..len); NULL when gpa is not mapped or len is 0. */
void *guest_mem_gpa_prefix(const struct guest_mem *mem, uint64_t gpa, uint64_t len,
                           uint64_t *contig);
/* Whether host address p lies in one of mem's regions or their mappings
 * (async-signal-safe: the SIGBUS guard asks). */
int guest_mem_maps(const struct guest_mem *mem, const void *p);

#endif
