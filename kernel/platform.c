/*
 * platform.c -- include/platform.h for the image: one CPU, so the lock is
 * "interrupts off" (which also stops preemption), and a wait queue is a
 * list of blocked tasks.  Only tasks take the lock, always with interrupts
 * on; holding it across platform_wait is how a task sleeps atomically.
 */
#include <errno.h>

#include "include/arch.h"
#include "include/platform.h"
#include "kernel/kernel.h"
#include "kernel/sched.h"

struct waiter {
	struct waiter *next; /* next sleeper on the same queue */
	struct task *task;   /* who sleeps */
};

static bool locked; /* platform lock held (interrupts are off then) */

uint64_t platform_now_ns(void)
{
	return arch_clock_ns();
}

void platform_lock(void)
{
	arch_irq_disable();
	if (locked)
		panic("platform lock taken twice (it is not recursive)");
	locked = true;
}

void platform_unlock(void)
{
	if (!locked)
		panic("platform lock released but not held");
	locked = false;
	arch_irq_enable();
}

int platform_wait(struct wait_queue *wq, uint64_t deadline_ns)
{
	struct waiter self = { NULL, sched_current() };
	struct waiter **p;
	bool woken;

	for (p = &wq->first; *p; p = &(*p)->next)
		;
	*p = &self;
	locked = false;          /* others may take the lock while we sleep */
	woken = sched_block(deadline_ns);
	locked = true;           /* interrupts are still off: we hold it again */
	for (p = &wq->first; *p; p = &(*p)->next) {
		if (*p == &self) {
			*p = self.next;
			break;
		}
	}
	return woken ? 0 : -ETIMEDOUT;
}

void platform_wake(struct wait_queue *wq)
{
	struct waiter *w = wq->first;

	wq->first = NULL;
	for (; w; w = w->next)
		sched_wake(w->task);
}
