/*
 * host_platform.c -- include/platform.h for host unit tests, on pthreads:
 * the platform lock is one global mutex, sleepers wait on one condition
 * variable (CLOCK_MONOTONIC) and each carries a private struct waiter on
 * its own stack, linked into the wait queue it sleeps on.
 *
 * Tasks are detached threads.  A thread cannot be ended from outside, so
 * platform_task_kill() only makes the task's waits return -EINTR (and
 * platform_task_kill_requested() true); exit_fn runs with the lock held
 * in the task's own thread after its function returns.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "include/platform.h"

struct waiter {
	struct waiter *next; /* next sleeper on the same queue */
	bool woken;          /* platform_wake() took us off the queue */
};

struct platform_task {
	void (*fn)(void *arg);                   /* the task's body */
	void *arg;                               /* its argument */
	void (*exit_fn)(void *arg, bool killed); /* runs once when it is over */
	void *exit_arg;                          /* its argument */
	bool kill_requested;                     /* platform_task_kill() was called (lock) */
	size_t stack_bytes;                      /* what the spawner asked for */
};

static __thread struct platform_task *current_task; /* NULL: not a spawned task */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wakeup;
static pthread_once_t wakeup_once = PTHREAD_ONCE_INIT;

static void wakeup_init(void)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (pthread_cond_init(&wakeup, &attr) != 0) {
		fprintf(stderr, "host_platform: pthread_cond_init failed\n");
		abort();
	}
	pthread_condattr_destroy(&attr);
}

uint64_t platform_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void platform_lock(void)
{
	pthread_mutex_lock(&lock);
}

void platform_unlock(void)
{
	pthread_mutex_unlock(&lock);
}

static void unlink_waiter(struct wait_queue *wq, struct waiter *self)
{
	for (struct waiter **link = &wq->first; *link; link = &(*link)->next) {
		if (*link == self) {
			*link = self->next;
			return;
		}
	}
}

static bool killed(void)
{
	return current_task && current_task->kill_requested;
}

int platform_wait(struct wait_queue *wq, uint64_t deadline_ns)
{
	struct waiter self = { NULL, false };
	struct waiter **tail = &wq->first;

	pthread_once(&wakeup_once, wakeup_init);
	if (killed())
		return -EINTR;
	while (*tail)
		tail = &(*tail)->next;
	*tail = &self;
	while (!self.woken && !killed()) {
		if (deadline_ns == PLATFORM_FOREVER) {
			pthread_cond_wait(&wakeup, &lock);
			continue;
		}
		if (platform_now_ns() >= deadline_ns)
			break;
		struct timespec ts = {
			.tv_sec = (time_t)(deadline_ns / 1000000000ull),
			.tv_nsec = (long)(deadline_ns % 1000000000ull),
		};
		pthread_cond_timedwait(&wakeup, &lock, &ts);
	}
	if (!self.woken)
		unlink_waiter(wq, &self);
	if (killed())
		return -EINTR;
	return self.woken ? 0 : -ETIMEDOUT;
}

void platform_wake(struct wait_queue *wq)
{
	struct waiter *w = wq->first;

	if (!w)
		return;
	wq->first = NULL;
	for (; w; w = w->next)
		w->woken = true;
	pthread_once(&wakeup_once, wakeup_init);
	pthread_cond_broadcast(&wakeup);
}

static void *task_main(void *opaque)
{
	struct platform_task *task = opaque;

	current_task = task;
	task->fn(task->arg);
	platform_lock();
	if (task->exit_fn)
		task->exit_fn(task->exit_arg, task->kill_requested);
	platform_unlock();
	current_task = NULL;
	free(task);
	return NULL;
}

int platform_task_spawn(struct platform_task **out, const char *name, void (*fn)(void *arg),
                        void *arg, size_t stack_bytes, void (*exit_fn)(void *arg, bool killed),
                        void *exit_arg)
{
	struct platform_task *task = calloc(1, sizeof(*task));
	pthread_attr_t attr;
	pthread_t thread;
	int err;

	if (!task)
		return -ENOMEM;
	*task = (struct platform_task){ fn, arg, exit_fn, exit_arg, false, stack_bytes };
	if (out)
		*out = task;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&thread, &attr, task_main, task);
	pthread_attr_destroy(&attr);
	if (err) {
		free(task);
		return -err;
	}
	return 0;
}

void platform_task_kill(struct platform_task *task)
{
	platform_lock();
	task->kill_requested = true;
	pthread_once(&wakeup_once, wakeup_init);
	pthread_cond_broadcast(&wakeup); /* its waits notice and return -EINTR */
	platform_unlock();
}

/* Threads here: no CPU time of one thread seen from another; the stack
 * the task asked for stands for its memory. */
void platform_task_usage(struct platform_task *task, uint64_t *cpu_ns, uint64_t *mem_bytes)
{
	*cpu_ns = 0;
	*mem_bytes = task->stack_bytes;
}

bool platform_task_kill_requested(void)
{
	bool kill;

	platform_lock();
	kill = killed();
	platform_unlock();
	return kill;
}

int platform_sleep_ns(uint64_t ns)
{
	struct wait_queue nobody = { NULL };
	uint64_t now = platform_now_ns();
	int err;

	platform_lock();
	err = platform_wait(&nobody, ns >= PLATFORM_FOREVER - now ? PLATFORM_FOREVER : now + ns);
	platform_unlock();
	return err == -EINTR ? -EINTR : 0;
}
