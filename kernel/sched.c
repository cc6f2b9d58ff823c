/*
 * sched.c -- preemptive round-robin scheduler for one CPU (see sched.h),
 * with the wait queues tasks sleep on (as xv6 keeps sleep and wakeup in
 * proc.c; kernel/platform.c only adapts them to include/platform.h).
 *
 * All scheduler state is touched with interrupts off.  A switch happens
 * in schedule(): called by a task that blocks or yields, or at the end of
 * an interrupt handler (sched_irq_exit) when a slice ended or a task was
 * woken.  The timer is one-shot and re-armed at every decision for the
 * nearest event: the end of the slice if another task is ready, else the
 * earliest deadline of a blocked task, else never (a halted, idle CPU).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "include/arch.h"
#include "include/platform.h" /* struct wait_queue */
#include "kernel/kernel.h"
#include "kernel/sched.h"
#include "kernel/vm.h"

static struct task boot_task;       /* the flow that called sched_init */
static struct task *idle_task;      /* runs when nothing else can */
static struct task *current;        /* the running task */
static struct task *all_tasks;      /* every task, creation order */
static bool need_resched;           /* switch at the next opportunity */
static bool preemption;             /* timer slices active */
static uint64_t slice_start_ns;     /* when current was switched in */
static uint64_t switch_count;       /* context switches */
static unsigned task_count;         /* live tasks, idle included */
static struct task *reaper_task;    /* frees dead tasks, runs exit callbacks */
static struct wait_queue reaper_wq; /* the reaper sleeps here */

static void irq_save(bool *was_on);
static void schedule(bool preempted);
static void reaper_loop(void *arg);

static void idle_loop(void *arg)
{
	for (;;)
		arch_wait_for_interrupt();
}

/* Start of every new task: interrupts on, run, then die. */
static void task_start(void)
{
	struct task *self = current;

	arch_irq_enable();
	self->entry(self->arg);
	arch_irq_disable();
	self->state = TASK_DEAD;
	self->killed = self->kill_requested;
	schedule(false);
	panic("dead task %s was scheduled again", self->name);
}

void sched_init(void)
{
	strcpy(boot_task.name, "main");
	boot_task.state = TASK_RUNNABLE;
	boot_task.deadline_ns = UINT64_MAX;
	current = all_tasks = &boot_task;
	task_count = 1;
	idle_task = task_create("idle", idle_loop, NULL, 8 << 10);
	reaper_task = task_create("reaper", reaper_loop, NULL, 16 << 10);
	if (!idle_task || !reaper_task)
		panic("cannot create the idle and reaper tasks");
}

struct task *task_create(const char *name, void (*entry)(void *), void *arg, size_t stack_bytes)
{
	struct task *t = calloc(1, sizeof(*t));
	struct task **tail;
	bool irq_on;

	if (!t || !(t->stack = vm_stack_alloc(stack_bytes))) {
		kprintf("sched: no memory for task %s (%zu byte stack)\n", name, stack_bytes);
		free(t);
		return NULL;
	}
	strncpy(t->name, name, TASK_NAME_MAX - 1);
	t->stack_bytes = stack_bytes;
	t->entry = entry;
	t->arg = arg;
	t->deadline_ns = UINT64_MAX;
	t->state = TASK_RUNNABLE;
	t->sp = arch_task_stack_init((uint8_t *)t->stack + stack_bytes, task_start);

	irq_save(&irq_on);
	for (tail = &all_tasks; *tail; tail = &(*tail)->next)
		;
	*tail = t;
	task_count++;
	if (irq_on)
		arch_irq_enable();
	return t;
}

struct task *sched_current(void)
{
	return current;
}

static void irq_save(bool *was_on)
{
	/* The scheduler is only entered from task context with interrupts
	 * on, or with them off (lock held, interrupt handler). */
	*was_on = arch_irq_enabled();
	arch_irq_disable();
}

/* Unlink every dead task (but the running one) into a list of their own,
 * still in creation order. */
static struct task *unlink_dead(void)
{
	struct task *dead = NULL, **tail = &dead, **p = &all_tasks;

	while (*p) {
		struct task *t = *p;

		if (t->state != TASK_DEAD || t == current) {
			p = &t->next;
			continue;
		}
		*p = t->next;
		task_count--;
		t->next = NULL;
		*tail = t;
		tail = &t->next;
	}
	return dead;
}

/*
 * The reaper: unlinks dead tasks (interrupts off), then with interrupts
 * on runs their exit callbacks and frees their stacks.  A task never
 * frees its own stack, and exit callbacks never run in scheduler context.
 */
static void reaper_loop(void *arg)
{
	arch_irq_disable();
	for (;;) {
		struct task *dead = unlink_dead();

		if (!dead) {
			sched_wait(&reaper_wq, UINT64_MAX);
			continue;
		}
		arch_irq_enable();
		while (dead) {
			struct task *t = dead;

			dead = t->next;
			if (t->exit_fn)
				t->exit_fn(t->exit_arg, t->killed);
			vm_stack_free(t->stack, t->stack_bytes);
			free(t);
		}
		arch_irq_disable();
	}
}

/* Wake tasks whose deadline has passed. */
static void expire_deadlines(uint64_t now)
{
	for (struct task *t = all_tasks; t; t = t->next)
		if (t->state == TASK_BLOCKED && t->deadline_ns <= now)
			t->state = TASK_RUNNABLE;
}

/* Round robin: the next runnable task after `from`, idle excluded. */
static struct task *pick_next(struct task *from)
{
	struct task *t = from;

	for (unsigned i = 0; i <= task_count + 1; i++) {
		t = t->next ? t->next : all_tasks;
		if (t != idle_task && t->state == TASK_RUNNABLE)
			return t;
	}
	return idle_task;
}

static void arm_timer(uint64_t now)
{
	uint64_t next = UINT64_MAX;
	bool others_ready = false;

	for (struct task *t = all_tasks; t; t = t->next) {
		if (t->state == TASK_BLOCKED && t->deadline_ns < next)
			next = t->deadline_ns;
		if (t != current && t != idle_task && t->state == TASK_RUNNABLE)
			others_ready = true;
	}
	if (preemption && others_ready && now + SCHED_SLICE_NS < next)
		next = now + SCHED_SLICE_NS;
	arch_timer_set(next);
}

static void schedule(bool preempted)
{
	uint64_t now = arch_clock_ns();
	struct task *prev = current, *next;

	need_resched = false;
	/* A task asked to die ends here if it was interrupted (so it holds
	 * no lock: the lock keeps interrupts off) and is not a system task.
	 * A user process ends itself when killed (kernel/user.c), on its way
	 * back to user mode, so that its address space is freed; its thread's
	 * task (ends_itself) also before it enters user mode and after it
	 * left, so that it always leaves its process. */
	if (preempted && prev->kill_requested && prev->state == TASK_RUNNABLE && !prev->user &&
	    !prev->ends_itself && prev != &boot_task && prev != idle_task && prev != reaper_task) {
		prev->state = TASK_DEAD;
		prev->killed = true;
	}
	if (prev->state == TASK_DEAD)
		sched_wake_all(&reaper_wq);
	expire_deadlines(now);
	next = pick_next(prev);
	if (next == idle_task && prev->state == TASK_RUNNABLE && prev != idle_task)
		next = prev; /* nothing else to run: keep going */
	prev->run_ns += now - slice_start_ns;
	slice_start_ns = now;
	current = next;
	arm_timer(now);
	if (next == prev)
		return;
	next->switches++;
	switch_count++;
	/* a user process's address space and TLS register follow it */
	if (prev->as)
		prev->user_tls = arch_user_tls_get();
	if (next->as) {
		vm_space_activate(next->as);
		arch_user_tls_set(next->user_tls);
	}
	arch_set_kernel_stack(next->kernel_entry_sp ? next->kernel_entry_sp :
	                      next->stack           ? (uintptr_t)next->stack + next->stack_bytes :
	                                              0,
	                      (uintptr_t)next->stack);
	arch_switch(&prev->sp, next->sp);
	/* back in prev, possibly much later */
}

bool sched_block(uint64_t deadline_ns)
{
	if (current->kill_requested)
		return false; /* a dying task does not go back to sleep */
	current->woken = false;
	current->deadline_ns = deadline_ns;
	current->state = TASK_BLOCKED;
	schedule(false);
	current->deadline_ns = UINT64_MAX;
	return current->woken;
}

void sched_wake(struct task *t)
{
	t->woken = true;
	t->event = true;
	if (t->state == TASK_BLOCKED) {
		t->state = TASK_RUNNABLE;
		need_resched = true;
	}
}

int sched_wait(struct wait_queue *wq, uint64_t deadline_ns)
{
	struct waiter self = { NULL, current, wq };
	struct waiter **p;
	bool woken;

	if (current->kill_requested)
		return -EINTR;
	for (p = &wq->first; *p; p = &(*p)->next)
		;
	*p = &self;
	woken = sched_block(deadline_ns);
	for (p = &wq->first; *p; p = &(*p)->next) {
		if (*p == &self) {
			*p = self.next;
			break;
		}
	}
	if (current->kill_requested)
		return -EINTR;
	return woken ? 0 : -ETIMEDOUT;
}

void sched_wake_all(struct wait_queue *wq)
{
	struct waiter *w = wq->first;

	wq->first = NULL;
	while (w) {
		struct waiter *next = w->next;

		w->queue = NULL; /* unlinked: the sleeper must not walk wq again */
		sched_wake(w->task);
		w = next;
	}
}

void sched_link(struct waiter *w, struct wait_queue *wq)
{
	struct waiter **p;

	w->next = NULL;
	w->task = current;
	w->queue = wq;
	for (p = &wq->first; *p; p = &(*p)->next)
		;
	*p = w;
}

void sched_unlink(struct waiter *w)
{
	if (!w->queue)
		return; /* woken (and unlinked) already */
	for (struct waiter **p = &w->queue->first; *p; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	w->queue = NULL;
}

void sched_event_clear(void)
{
	current->event = false;
}

int sched_event_wait(uint64_t deadline_ns)
{
	while (!current->event) {
		if (current->kill_requested)
			return -EINTR;
		if (arch_clock_ns() >= deadline_ns)
			return -ETIMEDOUT;
		sched_block(deadline_ns);
	}
	return 0;
}

void sched_kill(struct task *t)
{
	t->kill_requested = true;
	if (t->state == TASK_BLOCKED)
		sched_wake(t);
	else if (t == current)
		need_resched = true;
}

void sched_set_exit(struct task *t, void (*exit_fn)(void *, bool), void *arg)
{
	t->exit_fn = exit_fn;
	t->exit_arg = arg;
}

void sched_yield(void)
{
	bool irq_on;

	irq_save(&irq_on);
	schedule(irq_on);
	if (irq_on)
		arch_irq_enable();
}

void sched_sleep_ns(uint64_t ns)
{
	bool irq_on;
	uint64_t deadline = arch_clock_ns() + ns;

	irq_save(&irq_on);
	while (arch_clock_ns() < deadline && !current->kill_requested)
		sched_block(deadline);
	if (irq_on)
		arch_irq_enable();
}

void sched_timer_interrupt(void)
{
	need_resched = true;
}

void sched_irq_exit(void)
{
	if (need_resched && current)
		schedule(true);
}

void sched_start_preemption(void)
{
	preemption = true;
	slice_start_ns = arch_clock_ns();
	arm_timer(slice_start_ns);
	arch_irq_enable();
}

void sched_stack_overflow(uintptr_t fault_addr, uintptr_t pc)
{
	struct task *t = current;

	panic("stack overflow in task '%s': access at %#lx (guard page below its %zu-byte "
	      "stack at %p), pc %#lx",
	      t ? t->name : "?", (unsigned long)fault_addr, t ? t->stack_bytes : 0,
	      t ? t->stack : NULL, (unsigned long)pc);
}

bool sched_in_guard(uintptr_t addr)
{
	return current && vm_is_guard(addr, (uintptr_t)current->stack);
}

uint64_t sched_switch_count(void)
{
	return switch_count;
}

uint64_t sched_idle_ns(void)
{
	return idle_task ? idle_task->run_ns : 0;
}

unsigned sched_task_count(void)
{
	return task_count;
}

void sched_report(void)
{
	bool irq_on;

	irq_save(&irq_on);
	kprintf("sched: %u tasks, %llu switches, %llu interrupts\n", task_count,
	        (unsigned long long)switch_count, (unsigned long long)arch_irq_total());
	for (struct task *t = all_tasks; t; t = t->next)
		kprintf("  %-16s %-8s %8llu ms cpu %8llu switches\n", t->name,
		        t->state == TASK_RUNNABLE ? "ready" :
		        t->state == TASK_BLOCKED  ? "blocked" :
		                                    "dead",
		        (unsigned long long)(t->run_ns / 1000000), (unsigned long long)t->switches);
	if (irq_on)
		arch_irq_enable();
}
