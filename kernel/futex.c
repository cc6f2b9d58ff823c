/*
 * futex.c -- fast user-space mutexes (Linux kernel/futex: futex(2)'s
 * FUTEX_WAIT, FUTEX_WAKE, FUTEX_WAIT_BITSET / WAKE_BITSET, FUTEX_REQUEUE
 * and FUTEX_CMP_REQUEUE).  A waiter is keyed by its memory (struct
 * user_mm: the threads of a process and a vfork child share one) and the
 * user address; private and shared futexes are the same here, since no
 * two address spaces share writable memory.
 *
 * The value is compared and the waiter queued under the lock, and a wake
 * takes the lock, so no wake between the compare and the sleep is lost.
 */
#include <errno.h>

#include "kernel/uproc.h"

#define BUCKETS 64

/* A thread asleep in futex_wait; lives on its stack. */
struct futex_waiter {
	struct futex_waiter *next; /* in its bucket */
	struct user_mm *mm;        /* key: the memory ... */
	uint64_t uaddr;            /* ... and the address */
	uint32_t bitset;           /* FUTEX_WAIT_BITSET's bits (all for WAIT) */
	struct task *task;         /* who sleeps */
	bool woken;                /* a wake took it off its bucket */
};

static struct futex_waiter *buckets[BUCKETS]; /* waiters by hash of the key */

static struct futex_waiter **bucket(struct user_mm *mm, uint64_t uaddr)
{
	uint64_t h = (uaddr >> 2) ^ ((uintptr_t)mm >> 4);

	h ^= h >> 17;
	h *= 0x9e3779b97f4a7c15ull;
	return &buckets[(h >> 40) % BUCKETS];
}

static void unlink_waiter(struct futex_waiter *w)
{
	for (struct futex_waiter **p = bucket(w->mm, w->uaddr); *p; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			return;
		}
	}
}

long futex_wait(struct user_mm *mm, uint64_t uaddr, uint32_t val, uint32_t bitset,
                uint64_t deadline_ns)
{
	struct user_thread *t = uthread_current();
	struct futex_waiter w = { NULL, mm, uaddr, bitset, sched_current(), false };
	struct futex_waiter **b;
	uint32_t now;
	long err = 0;
	bool on;

	if (uaddr & 3)
		return -EINVAL;
	if (!bitset)
		return -EINVAL;
	on = ulock();
	if (vm_copy_in(mm->as, &now, uaddr, 4)) {
		uunlock(on);
		return -EFAULT;
	}
	if (now != val) {
		uunlock(on);
		return -EAGAIN;
	}
	b = bucket(mm, uaddr);
	w.next = *b;
	*b = &w;
	sched_event_clear();
	while (!w.woken) {
		if (uthread_interrupted(t)) {
			err = -EINTR;
			break;
		}
		err = sched_event_wait(deadline_ns);
		if (err == -ETIMEDOUT)
			break;
		err = 0;
		/* a wake that was not ours: a signal for the process that another
		 * thread took, say; sleep again (the checks above run with the
		 * lock held, so nothing is missed) */
		sched_event_clear();
	}
	if (!w.woken)
		unlink_waiter(&w);
	else
		err = 0; /* woken: that counts, whatever came with it */
	uunlock(on);
	return err;
}

long futex_wake(struct user_mm *mm, uint64_t uaddr, int n, uint32_t bitset)
{
	struct futex_waiter **p;
	long woken = 0;
	bool on;

	if (uaddr & 3)
		return -EINVAL;
	if (!bitset)
		return -EINVAL;
	on = ulock();
	p = bucket(mm, uaddr);
	while (*p && woken < n) {
		struct futex_waiter *w = *p;

		if (w->mm != mm || w->uaddr != uaddr || !(w->bitset & bitset)) {
			p = &w->next;
			continue;
		}
		*p = w->next;
		w->woken = true;
		sched_wake(w->task);
		woken++;
	}
	uunlock(on);
	return woken;
}

long futex_requeue(struct user_mm *mm, uint64_t uaddr, int n1, uint64_t uaddr2, int n2, bool cmp,
                   uint32_t val)
{
	struct futex_waiter **p;
	long done = 0;
	int moved = 0;
	bool on;

	if ((uaddr | uaddr2) & 3)
		return -EINVAL;
	if (uaddr == uaddr2)
		n2 = 0; /* nothing to move */
	on = ulock();
	if (cmp) {
		uint32_t now;

		if (vm_copy_in(mm->as, &now, uaddr, 4)) {
			uunlock(on);
			return -EFAULT;
		}
		if (now != val) {
			uunlock(on);
			return -EAGAIN;
		}
	}
	p = bucket(mm, uaddr);
	while (*p) {
		struct futex_waiter *w = *p, **b2;

		if (w->mm != mm || w->uaddr != uaddr) {
			p = &w->next;
			continue;
		}
		if (done < n1) {
			*p = w->next;
			w->woken = true;
			sched_wake(w->task);
			done++;
			continue;
		}
		if (moved >= n2)
			break;
		/* onto uaddr2's bucket (it may be this one: move it to the front) */
		*p = w->next;
		w->uaddr = uaddr2;
		b2 = bucket(mm, uaddr2);
		w->next = *b2;
		*b2 = w;
		moved++;
		if (b2 == bucket(mm, uaddr))
			p = bucket(mm, uaddr); /* rescan: the list changed at its head */
	}
	uunlock(on);
	return done + moved;
}
