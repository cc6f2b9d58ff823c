/*
 * sys_mm.c -- memory system calls (syscalls.h): brk, mmap (anonymous, and
 * private copies of store files), munmap, mprotect, madvise, mremap.
 * Pages are mapped when asked for, within the session's budget: beyond
 * it, ENOMEM; except that thread stacks (MAP_STACK) and memory reserved
 * with PROT_NONE and then opened with mprotect are backed page by page
 * when first touched (vm_map_lazy), as Linux backs all anonymous memory:
 * glibc reserves 8 MiB for each thread's stack that way.  Every change of the layout holds
 * the memory's mutex: threads of a process share it.
 *
 * mmap without MAP_FIXED treats the address as a hint, as Linux does: it
 * is used when the range is free (Go places its heap arenas that way),
 * else the next free range below the last one handed out.
 */
#include <errno.h>
#include <string.h>

#include "include/arch.h"
#include "kernel/syscalls.h"

#define PROT_READ           1
#define PROT_WRITE          2
#define PROT_EXEC           4
#define MAP_SHARED          0x01
#define MAP_PRIVATE         0x02
#define MAP_FIXED           0x10
#define MAP_ANONYMOUS       0x20
#define MAP_STACK           0x20000
#define MAP_FIXED_NOREPLACE 0x100000
#define MREMAP_MAYMOVE      1
#define MADV_DONTNEED       4

static const uint8_t zero_page[VM_PAGE];

static uint64_t page_up(uint64_t x)
{
	return (x + VM_PAGE - 1) & ~(VM_PAGE - 1);
}

static bool user_span(uint64_t va, uint64_t len)
{
	return !(va & (VM_PAGE - 1)) && va + len >= va &&
	       ((va >= VM_USER_WINDOW_START && va + len <= VM_USER_WINDOW_END) ||
	        (va >= VM_KERNEL_END && va + len <= VM_USER_END));
}

static unsigned prot_of(uint64_t prot)
{
	return VM_READ | (prot & PROT_WRITE ? VM_WRITE : 0) | (prot & PROT_EXEC ? VM_EXEC : 0);
}

long sys_brk(SYSCALL_ARGS)
{
	struct user_mm *mm = p->mm;
	uint64_t want = a[0], old_end, new_end;
	long ret;

	umutex_lock(&mm->lock);
	old_end = page_up(mm->brk);
	new_end = page_up(want);
	if (want < mm->brk_start || want > mm->brk_max) {
		ret = (long)mm->brk;
	} else if (new_end > old_end &&
	           (vm_any_mapped(mm->as, old_end, new_end - old_end) ||
	            vm_map_anon(mm->as, old_end, new_end - old_end, VM_READ | VM_WRITE) != 0)) {
		ret = (long)mm->brk; /* Linux: the old break means ENOMEM */
	} else {
		if (new_end < old_end)
			vm_unmap(mm->as, new_end, old_end - new_end);
		mm->brk = want;
		ret = (long)mm->brk;
	}
	umutex_unlock(&mm->lock);
	return ret;
}

/* Where an mmap without MAP_FIXED goes: the hint if that range is free
 * and ours to give, else below the last range handed out. */
static uint64_t place(struct user_mm *mm, uint64_t hint, uint64_t len)
{
	hint &= ~(VM_PAGE - 1);
	if (hint && hint >= VM_KERNEL_END && user_span(hint, len) && hint + len <= mm->mmap_next &&
	    !vm_any_mapped(mm->as, hint, len))
		return hint;
	if (len > mm->mmap_next - VM_KERNEL_END)
		return 0;
	for (uint64_t va = mm->mmap_next - len; va >= VM_KERNEL_END; va -= VM_PAGE) {
		if (!vm_any_mapped(mm->as, va, len)) {
			mm->mmap_next = va;
			return va;
		}
		if (va - VM_KERNEL_END < VM_PAGE)
			break;
	}
	return 0;
}

long sys_mmap(SYSCALL_ARGS)
{
	struct user_mm *mm = p->mm;
	uint64_t len = page_up(a[1]), va, flags = a[3];
	struct user_file *file = NULL;
	long ret;
	int err;

	if (!a[1] || len < a[1] || (a[5] & (VM_PAGE - 1)))
		return -EINVAL;
	if (!(flags & (MAP_SHARED | MAP_PRIVATE)))
		return -EINVAL;
	if (!(flags & MAP_ANONYMOUS)) {
		if (!(file = fd_file(p, (int64_t)a[4])))
			return -EBADF;
		if (file->kind != FK_FILE) {
			file_put(file);
			return -ENODEV;
		}
		if ((flags & MAP_SHARED) && (a[2] & PROT_WRITE)) {
			file_put(file);
			return -EACCES; /* read-only files */
		}
	}
	umutex_lock(&mm->lock);
	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
		va = a[0];
		if ((va & (VM_PAGE - 1)) || !user_span(va, len)) {
			ret = va & (VM_PAGE - 1) ? -EINVAL : -ENOMEM;
			goto out;
		}
		if ((flags & MAP_FIXED_NOREPLACE) && vm_any_mapped(mm->as, va, len)) {
			ret = -EEXIST;
			goto out;
		}
		vm_unmap(mm->as, va, len);
	} else if (!(va = place(mm, a[0], len))) {
		ret = -ENOMEM;
		goto out;
	}
	if (a[2] == 0) { /* PROT_NONE: address space only (mprotect maps it) */
		ret = (long)va;
		goto out;
	}
	if ((flags & MAP_STACK) && !file)
		err = vm_map_lazy(mm->as, va, len, prot_of(a[2]));
	else
		err = vm_map_anon(mm->as, va, len, prot_of(a[2]));
	if (err) {
		ret = err;
		goto out;
	}
	if (file && a[5] < file->file->size) {
		uint64_t n = file->file->size - a[5] < a[1] ? file->file->size - a[5] : a[1];

		vm_poke(mm->as, va, file->file->data + a[5], n);
	}
	ret = (long)va;
out:
	umutex_unlock(&mm->lock);
	file_put(file);
	return ret;
}

long sys_munmap(SYSCALL_ARGS)
{
	if (!a[1] || !user_span(a[0], page_up(a[1])))
		return -EINVAL;
	umutex_lock(&p->mm->lock);
	vm_unmap(p->mm->as, a[0], page_up(a[1]));
	umutex_unlock(&p->mm->lock);
	return 0;
}

/* PROT_NONE unmaps (its pages' contents are lost); a page not mapped in
 * the range (memory reserved with PROT_NONE) is backed when touched. */
long sys_mprotect(SYSCALL_ARGS)
{
	struct user_mm *mm = p->mm;
	uint64_t len = page_up(a[1]);
	long ret = 0;

	if (!user_span(a[0], len))
		return -EINVAL;
	umutex_lock(&mm->lock);
	if (a[2] == 0) {
		vm_unmap(mm->as, a[0], len);
	} else {
		for (uint64_t va = a[0]; va < a[0] + len && !ret; va += VM_PAGE) {
			if (vm_any_mapped(mm->as, va, VM_PAGE))
				ret = vm_protect(mm->as, va, VM_PAGE, prot_of(a[2])) ? -ENOMEM : 0;
			else
				ret = vm_map_lazy(mm->as, va, VM_PAGE, prot_of(a[2])) ? -ENOMEM : 0;
		}
	}
	umutex_unlock(&mm->lock);
	return ret;
}

/* MADV_DONTNEED: the pages read as zero afterwards (Go's scavenger
 * gives memory back this way); the rest are hints. */
long sys_madvise(SYSCALL_ARGS)
{
	struct user_mm *mm = p->mm;
	uint64_t len = page_up(a[1]);

	if (a[0] & (VM_PAGE - 1))
		return -EINVAL;
	if (a[2] != MADV_DONTNEED || !len)
		return 0;
	if (!user_span(a[0], len))
		return -EINVAL;
	umutex_lock(&mm->lock);
	for (uint64_t va = a[0]; va < a[0] + len; va += VM_PAGE)
		if (vm_user_ok(mm->as, va, VM_PAGE, true))
			vm_copy_out(mm->as, va, zero_page, VM_PAGE);
	umutex_unlock(&mm->lock);
	return 0;
}

/* Growing in place when the pages after it are free; else ENOMEM (no
 * MREMAP_MAYMOVE copies: programs fall back to mmap + copy). */
long sys_mremap(SYSCALL_ARGS)
{
	struct user_mm *mm = p->mm;
	uint64_t old = page_up(a[1]), want = page_up(a[2]);
	long ret;

	if ((a[0] & (VM_PAGE - 1)) || !want || !user_span(a[0], old) || !user_span(a[0], want))
		return -EINVAL;
	umutex_lock(&mm->lock);
	if (want <= old) {
		vm_unmap(mm->as, a[0] + want, old - want);
		ret = (long)a[0];
	} else if (!vm_any_mapped(mm->as, a[0] + old, want - old) &&
	           vm_map_anon(mm->as, a[0] + old, want - old, VM_READ | VM_WRITE) == 0) {
		ret = (long)a[0];
	} else {
		ret = -ENOMEM;
	}
	umutex_unlock(&mm->lock);
	return ret;
}
