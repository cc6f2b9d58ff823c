/*
 * platform.h -- the one narrow interface portable code (vsock/, agent/,
 * the virtqueue) has to the machine (DESIGN §1, STYLE "one platform header").
 *
 * Two implementations: kernel/platform.c in the image (one CPU, preemptive
 * tasks, interrupts) and tests/unit/host_platform.c on the host (pthreads),
 * so the same .c files run in unit tests under sanitizers.
 *
 * Concurrency model: portable state is guarded by ONE lock,
 * platform_lock()/platform_unlock() (image: preemption and interrupts off
 * on the single CPU; host: a pthread mutex).  Blocking is done with wait
 * queues while holding that lock:
 *
 *	platform_lock();
 *	while (!condition) {
 *		if (platform_wait(&sock->readers, deadline) == -ETIMEDOUT)
 *			break;               // the lock is held again here
 *	}
 *	platform_unlock();
 *
 * and whoever makes the condition true calls platform_wake(&sock->readers)
 * with the lock held.  Wake-ups may be spurious: always re-check.
 * platform_wait returns -EINTR once the calling task is being killed
 * (platform_task_kill below): unwind, don't wait again.
 */
#ifndef INCLUDE_PLATFORM_H
#define INCLUDE_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "include/dma.h"

#define PLATFORM_FOREVER UINT64_MAX /* deadline that never passes */

/* Monotonic time in nanoseconds since boot (host: since an arbitrary origin). */
uint64_t platform_now_ns(void);

/* The lock that guards all portable state.  Not recursive. */
void platform_lock(void);
void platform_unlock(void);

struct waiter;

/* A list of sleepers; zero-initialised is empty. */
struct wait_queue {
	struct waiter *first; /* sleepers, in arrival order */
};

/*
 * Sleep until platform_wake() on `wq` or until `deadline_ns`
 * (platform_now_ns() scale; PLATFORM_FOREVER for none).  Must be called
 * with the lock held; releases it while asleep and holds it again on
 * return.  Returns 0 when woken, -ETIMEDOUT when the deadline passed,
 * -EINTR when the task is being killed.
 */
int platform_wait(struct wait_queue *wq, uint64_t deadline_ns);

/* Wake every sleeper on `wq`.  Lock held.  Safe from interrupt bottom halves. */
void platform_wake(struct wait_queue *wq);

/*
 * Tasks, for code that runs programs (the agent's containers).
 *
 *	struct platform_task *t;
 *	platform_task_spawn(&t, "ctr-1", run_program, ctx, 64 << 10,
 *			    program_exited, ctx);
 *	...
 *	platform_task_kill(t);          // SignalProcess(KILL)
 *
 * `exit_fn(arg, killed)` runs exactly once, with the platform lock held,
 * in another task's context, after the task has stopped for good: its
 * function returned (killed = false) or it was killed (killed = true).
 * The task handle is freed right after exit_fn returns.
 *
 * platform_task_kill() requests termination.  A task sleeping in
 * platform_wait() (or asleep in platform_sleep_ns) is woken and its waits
 * return -EINTR from then on, so well-behaved code unwinds; a task that
 * never waits is ended by the image at its next preemption.  (On the host,
 * threads cannot be ended from outside: host programs poll
 * platform_task_kill_requested().)  Calling kill again, or on a task that
 * is exiting, is harmless.  Lock NOT held for spawn and kill.
 */
struct platform_task;

int platform_task_spawn(struct platform_task **out, const char *name, void (*fn)(void *arg),
                        void *arg, size_t stack_bytes, void (*exit_fn)(void *arg, bool killed),
                        void *exit_arg);
void platform_task_kill(struct platform_task *task);
bool platform_task_kill_requested(void); /* for the current task */
/* CPU time the task has used and the memory it holds (its stack, and a
 * user program's pages).  Lock held; the task's exit_fn has not run yet
 * (it may be running, from exit_fn itself). */
void platform_task_usage(struct platform_task *task, uint64_t *cpu_ns, uint64_t *mem_bytes);
/* Sleep without a wait queue; 0, or -EINTR if the task is being killed. */
int platform_sleep_ns(uint64_t ns);

/*
 * Memory ordering between the CPU and a device sharing memory (virtio 1.2
 * §2.7.13: the device is another observer of normal, cacheable memory).
 */
static inline void dma_wmb(void)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void dma_rmb(void)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
}

static inline void dma_mb(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Device registers (identity-mapped, uncached device memory). */
static inline uint8_t mmio_read8(uintptr_t a)
{
	return *(volatile uint8_t *)a;
}
static inline uint16_t mmio_read16(uintptr_t a)
{
	return *(volatile uint16_t *)a;
}
static inline uint32_t mmio_read32(uintptr_t a)
{
	return *(volatile uint32_t *)a;
}
static inline void mmio_write8(uintptr_t a, uint8_t v)
{
	*(volatile uint8_t *)a = v;
}
static inline void mmio_write16(uintptr_t a, uint16_t v)
{
	*(volatile uint16_t *)a = v;
}
static inline void mmio_write32(uintptr_t a, uint32_t v)
{
	*(volatile uint32_t *)a = v;
}

#endif
