/*
 * platform.c -- include/platform.h for the image: one CPU, so the lock is
 * "interrupts off" (which also stops preemption), and waits are the
 * scheduler's wait queues (kernel/sched.c).  Only tasks take the lock,
 * always with interrupts on; holding it across platform_wait is how a task
 * sleeps atomically.  Nothing here is called by the scheduler.
 */
#include <errno.h>
#include <stdlib.h>

#include "include/arch.h"
#include "include/platform.h"
#include "kernel/kernel.h"
#include "kernel/sched.h"
#include "kernel/vm.h"

/* A task spawned for portable code, and what runs once it is gone. */
struct platform_task {
	struct task *task;                       /* the scheduler's task */
	void (*exit_fn)(void *arg, bool killed); /* platform_task_spawn's */
	void *exit_arg;                          /* its argument */
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
	int err;

	locked = false; /* others may take the lock while we sleep */
	err = sched_wait(wq, deadline_ns);
	locked = true; /* interrupts are still off: we hold it again */
	return err;
}

void platform_wake(struct wait_queue *wq)
{
	sched_wake_all(wq);
}

/* ---- tasks ---- */

/* The reaper calls this once the task is gone: exit_fn runs locked. */
static void task_exited(void *arg, bool killed)
{
	struct platform_task *pt = arg;

	platform_lock();
	if (pt->exit_fn)
		pt->exit_fn(pt->exit_arg, killed);
	platform_unlock();
	free(pt);
}

int platform_task_spawn(struct platform_task **out, const char *name, void (*fn)(void *arg),
                        void *arg, size_t stack_bytes, void (*exit_fn)(void *arg, bool killed),
                        void *exit_arg)
{
	struct platform_task *pt = malloc(sizeof(*pt));

	if (!pt)
		return -ENOMEM;
	pt->exit_fn = exit_fn;
	pt->exit_arg = exit_arg;
	/* Created runnable but unable to run before its exit callback is set
	 * and the caller holds its handle: interrupts stay off across all
	 * three steps.  (A short program can run, end and be reaped as soon
	 * as they are back on; its exit callback may read the handle.) */
	arch_irq_disable();
	pt->task = task_create(name, fn, arg, stack_bytes);
	if (pt->task) {
		sched_set_exit(pt->task, task_exited, pt);
		if (out)
			*out = pt;
	}
	arch_irq_enable();
	if (!pt->task) {
		free(pt);
		return -ENOMEM;
	}
	return 0;
}

void platform_task_kill(struct platform_task *pt)
{
	arch_irq_disable();
	sched_kill(pt->task);
	arch_irq_enable();
	if (pt->task == sched_current())
		sched_yield(); /* killing yourself takes effect now */
}

void platform_task_usage(struct platform_task *pt, uint64_t *cpu_ns, uint64_t *mem_bytes)
{
	const struct task *t = pt->task;

	/* interrupts are off: t->as is the live space or NULL (user.c's release) */
	*cpu_ns = t->run_ns;
	*mem_bytes = t->stack_bytes + (t->as ? vm_space_bytes(t->as) : 0);
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

static unsigned malloc_depth;  /* nesting of __malloc_lock */
static bool malloc_irq_was_on; /* interrupt state at the outermost lock */

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
