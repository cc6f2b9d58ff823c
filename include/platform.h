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
 */
#ifndef INCLUDE_PLATFORM_H
#define INCLUDE_PLATFORM_H

#include <stdbool.h>
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
 * return.  Returns 0 when woken, -ETIMEDOUT when the deadline passed.
 */
int platform_wait(struct wait_queue *wq, uint64_t deadline_ns);

/* Wake every sleeper on `wq`.  Lock held.  Safe from interrupt bottom halves. */
void platform_wake(struct wait_queue *wq);

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
static inline uint8_t mmio_read8(uintptr_t a) { return *(volatile uint8_t *)a; }
static inline uint16_t mmio_read16(uintptr_t a) { return *(volatile uint16_t *)a; }
static inline uint32_t mmio_read32(uintptr_t a) { return *(volatile uint32_t *)a; }
static inline void mmio_write8(uintptr_t a, uint8_t v) { *(volatile uint8_t *)a = v; }
static inline void mmio_write16(uintptr_t a, uint16_t v) { *(volatile uint16_t *)a = v; }
static inline void mmio_write32(uintptr_t a, uint32_t v) { *(volatile uint32_t *)a = v; }

#endif
