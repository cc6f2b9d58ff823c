/*
 * fuzz_platform.c -- the deterministic, single-threaded platform of the
 * fuzz targets (see fuzz_platform.h): coroutine tasks, a virtual clock, a
 * lock that only checks it is used correctly.
 *
 * The harness's own context ("main") is not a task.  When it waits (a
 * blocking call, agent_stop), the wait runs the tasks and the idle hook
 * itself, moving the clock to the next deadline when all are quiet, and
 * aborts if nothing could ever wake it: a deadlock is a finding.
 */
#include "tests/fuzz/fuzz_platform.h"

#include <errno.h>
#include <sanitizer/common_interface_defs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#define START_NS           1000000000ull
#define STACK_MIN          (256u << 10) /* ASan's frames are large: at least this */
#define GUARD              4096         /* an overflow faults instead of writing a neighbour */
#define MAIN_WAIT_SWITCHES 1000000      /* a main-context wait gives up (livelock) after this */

struct waiter {
	struct waiter *next; /* next sleeper on the queue */
	bool woken;          /* platform_wake took it off */
};

struct platform_task {
	struct platform_task *next; /* every task, in creation order */
	ucontext_t ctx;             /* where it stopped */
	uint8_t *map;               /* its stack mapping, guard page first */
	size_t map_len;             /* its size */
	void (*fn)(void *arg);      /* the body */
	void *arg;
	void (*exit_fn)(void *arg, bool killed); /* after the body, from main */
	void *exit_arg;
	bool runnable;       /* switch to it at the next chance */
	bool done;           /* the body returned */
	bool kill_requested; /* platform_task_kill */
	uint64_t deadline;   /* waiting: until then (PLATFORM_FOREVER: none) */
	bool waiting;        /* inside platform_wait */
};

static struct platform_task *tasks;   /* alive ones */
static struct platform_task *current; /* running now; NULL: main */
static ucontext_t main_ctx;           /* main's context while a task runs */
static const void *main_stack;        /* main's stack, for ASan's switches */
static size_t main_stack_len;
static uint64_t clock_ns = START_NS; /* virtual time */
static unsigned lock_depth;          /* 0 or 1: not recursive */
static unsigned lock_count;          /* locks taken by tasks (preemption) */
static unsigned preempt_every;       /* yield at every Nth; 0: never */
static bool (*idle_fn)(void *arg);   /* moves packets */
static void *idle_arg;

static void die(const char *what)
{
	fprintf(stderr, "fuzz_platform: %s\n", what);
	abort();
}

/* ---- switching ---- */

static void to_task(struct platform_task *t)
{
	current = t;
	__sanitizer_start_switch_fiber(NULL, t->map + GUARD, t->map_len - GUARD);
	swapcontext(&main_ctx, &t->ctx);
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
	current = NULL;
}

static void to_main(void)
{
	struct platform_task *t = current;

	__sanitizer_start_switch_fiber(NULL, main_stack, main_stack_len);
	swapcontext(&t->ctx, &main_ctx);
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
}

static void task_entry(void)
{
	struct platform_task *t = current;

	__sanitizer_finish_switch_fiber(NULL, &main_stack, &main_stack_len);
	t->fn(t->arg);
	t->done = true;
	t->runnable = false;
	__sanitizer_start_switch_fiber(NULL, main_stack, main_stack_len);
	setcontext(&main_ctx); /* never comes back */
}

/* A task that is over: its exit callback (lock held), then it goes. */
static void reap(struct platform_task *t)
{
	for (struct platform_task **link = &tasks; *link; link = &(*link)->next) {
		if (*link == t) {
			*link = t->next;
			break;
		}
	}
	if (lock_depth)
		die("a task ended holding the lock");
	lock_depth = 1;
	if (t->exit_fn)
		t->exit_fn(t->exit_arg, t->kill_requested);
	lock_depth = 0;
	munmap(t->map, t->map_len);
	free(t);
}

size_t fuzz_run(size_t max_switches)
{
	size_t switches = 0;
	bool ran = true;

	if (current)
		die("fuzz_run from a task");
	while (ran && switches < max_switches) {
		ran = false;
		for (struct platform_task *t = tasks, *next; t && switches < max_switches;
		     t = next) {
			next = t->next;
			if (t->waiting && t->deadline <= clock_ns)
				t->runnable = true;
			if (!t->runnable)
				continue;
			to_task(t);
			switches++;
			ran = true;
			if (t->done)
				reap(t);
		}
	}
	return switches;
}

void fuzz_settle(size_t max_switches)
{
	size_t used = 0;

	while (used < max_switches) {
		size_t n = fuzz_run(max_switches - used);
		bool moved = idle_fn && idle_fn(idle_arg);

		used += n;
		if (!n && !moved)
			return;
	}
}

uint64_t fuzz_next_deadline(void)
{
	uint64_t next = PLATFORM_FOREVER;

	for (struct platform_task *t = tasks; t; t = t->next)
		if (t->waiting && t->deadline < next)
			next = t->deadline;
	return next;
}

void fuzz_advance(uint64_t ns)
{
	uint64_t target = ns >= PLATFORM_FOREVER - clock_ns ? PLATFORM_FOREVER - 1 : clock_ns + ns;

	for (;;) {
		uint64_t next = fuzz_next_deadline();

		fuzz_settle(10000);
		next = fuzz_next_deadline();
		if (next > target)
			break;
		if (next > clock_ns)
			clock_ns = next;
	}
	clock_ns = target;
	fuzz_settle(10000);
}

unsigned fuzz_tasks(void)
{
	unsigned n = 0;

	for (struct platform_task *t = tasks; t; t = t->next)
		n++;
	return n;
}

void fuzz_platform_reset(void)
{
	if (tasks)
		die("reset with tasks alive");
	clock_ns = START_NS;
	lock_depth = 0;
	lock_count = 0;
	preempt_every = 0;
	idle_fn = NULL;
	idle_arg = NULL;
}

void fuzz_platform_set_idle(bool (*idle)(void *arg), void *arg)
{
	idle_fn = idle;
	idle_arg = arg;
}

void fuzz_platform_set_preempt(unsigned every)
{
	preempt_every = every;
}

/* ---- include/platform.h ---- */

uint64_t platform_now_ns(void)
{
	return clock_ns;
}

void platform_lock(void)
{
	if (current && preempt_every && lock_depth == 0 && ++lock_count % preempt_every == 0)
		to_main(); /* preempted just before taking it: still runnable */
	if (lock_depth)
		die("platform_lock taken twice (it is not recursive)");
	lock_depth = 1;
}

void platform_unlock(void)
{
	if (!lock_depth)
		die("platform_unlock without the lock");
	lock_depth = 0;
}

static void unlink_waiter(struct wait_queue *wq, struct waiter *w)
{
	for (struct waiter **link = &wq->first; *link; link = &(*link)->next) {
		if (*link == w) {
			*link = w->next;
			return;
		}
	}
}

/* The harness's context waits: it runs the world itself. */
static int main_wait(struct waiter *w, uint64_t deadline)
{
	size_t switches = 0;

	while (!w->woken) {
		size_t n = fuzz_run(1000);
		bool moved = idle_fn && idle_fn(idle_arg);
		uint64_t next;

		switches += n;
		if (switches > MAIN_WAIT_SWITCHES)
			die("a wait of the harness never ends (livelock)");
		if (n || moved || w->woken)
			continue;
		next = fuzz_next_deadline();
		if (deadline <= clock_ns)
			break;
		if (next == PLATFORM_FOREVER && deadline == PLATFORM_FOREVER)
			die("every task waits forever and so does the harness (deadlock)");
		clock_ns = next < deadline ? next : deadline;
	}
	return w->woken ? 0 : -ETIMEDOUT;
}

int platform_wait(struct wait_queue *wq, uint64_t deadline_ns)
{
	struct waiter self = { NULL, false };
	struct waiter **tail = &wq->first;
	int err;

	if (!lock_depth)
		die("platform_wait without the lock");
	if (current && current->kill_requested)
		return -EINTR;
	while (*tail)
		tail = &(*tail)->next;
	*tail = &self;
	lock_depth = 0;
	if (!current) {
		err = main_wait(&self, deadline_ns);
	} else {
		current->waiting = true;
		current->deadline = deadline_ns;
		current->runnable = deadline_ns <= clock_ns;
		while (!self.woken && !current->kill_requested && current->deadline > clock_ns) {
			current->runnable = false;
			to_main();
		}
		current->waiting = false;
		err = self.woken ? 0 : -ETIMEDOUT;
		if (current->kill_requested)
			err = -EINTR;
	}
	lock_depth = 1;
	if (!self.woken)
		unlink_waiter(wq, &self);
	return err;
}

/* Waiters carry no task pointer: every waiting task becomes runnable and
 * checks its own waiter (spurious wake-ups are allowed). */
void platform_wake(struct wait_queue *wq)
{
	struct waiter *w = wq->first;

	if (!w)
		return;
	wq->first = NULL;
	for (; w; w = w->next)
		w->woken = true;
	for (struct platform_task *t = tasks; t; t = t->next)
		if (t->waiting)
			t->runnable = true;
}

int platform_task_spawn(struct platform_task **out, const char *name, void (*fn)(void *arg),
                        void *arg, size_t stack_bytes, void (*exit_fn)(void *arg, bool killed),
                        void *exit_arg)
{
	struct platform_task *t = calloc(1, sizeof(*t)), **link = &tasks;
	size_t len = (stack_bytes > STACK_MIN ? stack_bytes : STACK_MIN) + GUARD;

	if (!t)
		return -ENOMEM;
	t->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t->map == MAP_FAILED) {
		free(t);
		return -ENOMEM;
	}
	mprotect(t->map, GUARD, PROT_NONE);
	t->map_len = len;
	t->fn = fn;
	t->arg = arg;
	t->exit_fn = exit_fn;
	t->exit_arg = exit_arg;
	t->runnable = true;
	getcontext(&t->ctx);
	t->ctx.uc_stack.ss_sp = t->map + GUARD;
	t->ctx.uc_stack.ss_size = len - GUARD;
	t->ctx.uc_link = NULL;
	makecontext(&t->ctx, task_entry, 0);
	while (*link)
		link = &(*link)->next;
	*link = t;
	if (out)
		*out = t;
	return 0;
}

void platform_task_kill(struct platform_task *task)
{
	task->kill_requested = true;
	task->runnable = true;
}

/* Deterministic: no CPU time is measured here; the stack mapping stands
 * for the task's memory. */
void platform_task_usage(struct platform_task *task, uint64_t *cpu_ns, uint64_t *mem_bytes)
{
	*cpu_ns = 0;
	*mem_bytes = task->map_len;
}

bool platform_task_kill_requested(void)
{
	if (!current)
		return false;
	if (!lock_depth && !current->kill_requested) /* a preemption point */
		to_main();
	return current->kill_requested;
}

int platform_sleep_ns(uint64_t ns)
{
	struct wait_queue nobody = { NULL };
	uint64_t deadline = ns >= PLATFORM_FOREVER - clock_ns ? PLATFORM_FOREVER : clock_ns + ns;
	int err;

	platform_lock();
	err = platform_wait(&nobody, deadline);
	platform_unlock();
	return err == -EINTR ? -EINTR : 0;
}
