/*
 * guest_fault.h -- surviving guest memory that disappears under us
 * (issue 12: a front-end truncates the file behind its memory table, and
 * the next access to a mapped page past the new end raises SIGBUS).
 *
 * SET_MEM_TABLE checks every region against the size of its file
 * (guest_mem_map_fd), but the file may shrink later: QEMU seals its memfd
 * backends against that by default (F_SEAL_SHRINK | F_SEAL_GROW), while
 * memory-backend-file (/dev/shm, hugetlbfs) and seal=off are not sealed, so
 * the daemon cannot rely on seals.  Instead, code that touches a VM's guest
 * memory runs inside a guard: a SIGBUS whose address lies in that memory
 * jumps back to the guard, which drops the VM's front-end (vu_dev_fail);
 * any other SIGBUS is a bug and goes to the previous handler.
 *
 * What runs inside a guard must leave nothing behind that outlives the VM's
 * reset when interrupted: no lock held, no allocation that only the
 * interrupted code would link somewhere (see vsock_queue.c's `copying`).
 *
 * Typical usage:
 *	guest_fault_init();                        // once, at start-up
 *	struct guest_fault_guard guard;
 *	guest_fault_push(&guard, &dev->mem);
 *	if (sigsetjmp(guard.env, 0) == 0) {
 *		... read and write guest memory ...
 *		guest_fault_pop(&guard);
 *	} else {
 *		vu_dev_fail(dev, "...");            // guard already popped
 *	}
 */
#ifndef HOST_VHOST_GUEST_FAULT_H
#define HOST_VHOST_GUEST_FAULT_H

#include <setjmp.h>

#include "host/vhost/guest_mem.h"

struct guest_fault_guard {
	sigjmp_buf env;                  /* where a fault resumes */
	const struct guest_mem *mem;     /* memory this guard covers */
	void *addr;                      /* faulting address, once caught */
	struct guest_fault_guard *outer; /* enclosing guard, or NULL */
};

/* Installs the SIGBUS handler; 0 or negative errno. */
int guest_fault_init(void);
/* Enters a guard for mem (follow with sigsetjmp(guard->env, 0)). */
void guest_fault_push(struct guest_fault_guard *guard, const struct guest_mem *mem);
/* Leaves it on the normal path (a caught fault has left it already). */
void guest_fault_pop(struct guest_fault_guard *guard);

#endif
