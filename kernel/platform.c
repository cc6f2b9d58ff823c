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

	if (self.task->kill_requested)
		return -EINTR;
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
	if (self.task->kill_requested)
		return -EINTR;
	return woken ? 0 : -ETIMEDOUT;
}

void platform_wake(struct wait_queue *wq)
{
	struct waiter *w = wq->first;

	wq->first = NULL;
	for (; w; w = w->next)
		sched_wake(w->task);
}

/* ---- tasks ---- */

int platform_task_spawn(struct platform_task **out, const char *name,
			void (*fn)(void *arg), void *arg, size_t stack_bytes,
			void (*exit_fn)(void *arg, bool killed), void *exit_arg)
{
	struct task *t;

	/* Created runnable but unable to run before its exit callback is
	 * set: interrupts stay off across both steps. */
	arch_irq_disable();
	t = task_create(name, fn, arg, stack_bytes);
	if (t)
		sched_set_exit(t, exit_fn, exit_arg);
	arch_irq_enable();
	if (!t)
		return -ENOMEM;
	*out = (struct platform_task *)t;
	return 0;
}

void platform_task_kill(struct platform_task *task)
{
	arch_irq_disable();
	sched_kill((struct task *)task);
	arch_irq_enable();
	if ((struct task *)task == sched_current())
		sched_yield(); /* killing yourself takes effect now */
}

bool platform_task_kill_requested(void)
{
	return sched_current()->kill_requested;
}

int platform_sleep_ns(uint64_t ns)
{
	sched_sleep_ns(ns);
	return sched_current()->kill_requested ? -EINTR : 0;
}

/* ---- newlib's malloc lock: one CPU, so interrupts off (recursive) ---- */

struct _reent;
void __malloc_lock(struct _reent *reent);
void __malloc_unlock(struct _reent *reent);

static unsigned malloc_depth;    /* nesting of __malloc_lock */
static bool malloc_irq_was_on;   /* interrupt state at the outermost lock */

void __malloc_lock(struct _reent *reent)
{
	bool on = arch_irq_enabled();

	arch_irq_disable();
	if (malloc_depth++ == 0)
		malloc_irq_was_on = on;
}

void __malloc_unlock(struct _reent *reent)
{
	if (--malloc_depth == 0 && malloc_irq_was_on)
		arch_irq_enable();
}
