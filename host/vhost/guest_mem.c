/*
 * guest_mem.c -- the bounds-checked guest memory map (vhost-user
 * SET_MEM_TABLE, docs/interop/vhost-user.rst "Memory regions"; DESIGN §6).
 */
#include "host/vhost/guest_mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

static int region_add(struct guest_mem *mem, uint64_t gpa, uint64_t size, uint64_t uva,
                      uint8_t *host, void *map_base, size_t map_len)
{
	if (mem->count >= GUEST_MEM_MAX_REGIONS)
		return -ENOSPC;
	if (size == 0 || gpa + size < gpa || uva + size < uva)
		return -EINVAL;
	struct guest_region *r = &mem->region[mem->count++];
	r->gpa = gpa;
	r->size = size;
	r->uva = uva;
	r->host = host;
	r->map_base = map_base;
	r->map_len = map_len;
	return 0;
}

int guest_mem_map_fd(struct guest_mem *mem, uint64_t gpa, uint64_t size, uint64_t uva, int fd,
                     uint64_t offset)
{
	if (size == 0 || offset + size < offset || offset + size > SIZE_MAX)
		return -EINVAL;
	if (mem->count >= GUEST_MEM_MAX_REGIONS)
		return -ENOSPC;
	/* Pages past the end of a file raise SIGBUS when touched: the region
	 * must lie inside the file (devices have no size to check). */
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode) && (st.st_size < 0 || offset + size > (uint64_t)st.st_size))
		return -ENXIO;
	/* Map from file offset 0 so the offset need not be page aligned. */
	size_t len = (size_t)(offset + size);
	void *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		return -errno;
	int err = region_add(mem, gpa, size, uva, (uint8_t *)base + offset, base, len);
	if (err)
		goto err_unmap;
	return 0;

err_unmap:
	munmap(base, len);
	return err;
}

int guest_mem_add_host(struct guest_mem *mem, uint64_t gpa, uint64_t size, uint64_t uva, void *host)
{
	return region_add(mem, gpa, size, uva, host, NULL, 0);
}

void guest_mem_clear(struct guest_mem *mem)
{
	for (unsigned i = 0; i < mem->count; i++)
		if (mem->region[i].map_base)
			munmap(mem->region[i].map_base, mem->region[i].map_len);
	memset(mem, 0, sizeof(*mem));
}

/* Offset of [addr, addr+len) inside [start, start+size), or -1. */
static int64_t range_offset(uint64_t start, uint64_t size, uint64_t addr, uint64_t len)
{
	if (addr < start)
		return -1;
	uint64_t off = addr - start;
	if (off >= size || len > size - off)
		return -1;
	return (int64_t)off;
}

void *guest_mem_gpa(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < mem->count; i++) {
		const struct guest_region *r = &mem->region[i];
		int64_t off = range_offset(r->gpa, r->size, gpa, len);
		if (off >= 0)
			return r->host + off;
	}
	return NULL;
}

void *guest_mem_uva(const struct guest_mem *mem, uint64_t uva, uint64_t len)
{
	for (unsigned i = 0; i < mem->count; i++) {
		const struct guest_region *r = &mem->region[i];
		int64_t off = range_offset(r->uva, r->size, uva, len);
		if (off >= 0)
			return r->host + off;
	}
	return NULL;
}

void *guest_mem_gpa_prefix(const struct guest_mem *mem, uint64_t gpa, uint64_t len,
                           uint64_t *contig)
{
	if (len == 0)
		return NULL;
	for (unsigned i = 0; i < mem->count; i++) {
		const struct guest_region *r = &mem->region[i];
		int64_t off = range_offset(r->gpa, r->size, gpa, 1);
		if (off < 0)
			continue;
		uint64_t room = r->size - (uint64_t)off;
		*contig = len < room ? len : room;
		return r->host + off;
	}
	return NULL;
}

int guest_mem_maps(const struct guest_mem *mem, const void *p)
{
	uintptr_t a = (uintptr_t)p;
	for (unsigned i = 0; i < mem->count; i++) {
		const struct guest_region *r = &mem->region[i];
		uintptr_t host = (uintptr_t)r->host, base = (uintptr_t)r->map_base;
		if (a >= host && a - host < r->size)
			return 1;
		if (r->map_base && a >= base && a - base < r->map_len)
			return 1;
	}
	return 0;
}
