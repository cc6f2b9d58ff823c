/*
 * sched.h -- preemptive tasks on one CPU.
 *
 * Each task has its own stack and runs until it blocks, yields or its time
 * slice ends (the timer interrupt preempts it).  When nothing is runnable
 * the idle task halts the CPU with interrupts enabled.  Interrupt handlers
 * do the minimum and wake the task that does the work (sched_wake).
 *
 * Typical usage:
 *	static void worker(void *arg) { for (;;) { ...; sched_sleep_ns(1000000); } }
 *	sched_init();                          // the boot flow becomes a task
 *	struct task *t = task_create("worker", worker, NULL, 16 << 10);
 *	...
 *	sched_start_preemption();              // timer on, interrupts on
 */
#ifndef KERNEL_SCHED_H
#define KERNEL_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wait_queue;  /* include/platform.h */
struct user_thread; /* kernel/uproc.h */
struct vm_space;    /* kernel/vm.h */

#define TASK_NAME_MAX  24
#define SCHED_SLICE_NS 10000000ull /* 10 ms time slice */

enum task_state {
	TASK_RUNNABLE, /* running or ready to run */
	TASK_BLOCKED,  /* waiting for sched_wake or its deadline */
	TASK_DEAD,     /* returned; its stack is freed by the reaper */
};

struct task {
	char name[TASK_NAME_MAX]; /* for reports */
	uintptr_t sp;             /* saved stack pointer while switched out */
	void *stack;              /* stack memory (guarded pages), NULL for boot task */
	size_t stack_bytes;       /* its size */
	enum task_state state;    /* see enum */
	uint64_t deadline_ns;     /* BLOCKED: wake then (UINT64_MAX: never) */
	bool woken;               /* set by sched_wake since it blocked */
	bool event;               /* set by sched_wake since sched_event_clear */
	void (*entry)(void *);    /* task body */
	void *arg;                /* its argument */
	uint64_t switches;        /* times switched in */
	uint64_t run_ns;          /* CPU time used */
	bool kill_requested;      /* end it at the next safe point */
	bool killed;              /* DEAD because it was killed, not returned */
	bool ends_itself;         /* killed, it runs to its own end (a user
				    * thread: it must leave its process) */
	void (*exit_fn)(void *arg, bool killed); /* called by the reaper */
	void *exit_arg;                          /* its argument */
	/* A task running a user process (kernel/user.c): */
	struct user_thread *user;  /* its user thread, NULL for a kernel task */
	struct vm_space *as;       /* its address space, loaded when switched in */
	uint64_t user_tls;         /* its TLS register (FS base / TPIDR_EL0) */
	uintptr_t kernel_entry_sp; /* where traps from user mode enter (x86 rsp0), 0: stack top */
	struct task *next;         /* all tasks, in creation order */
};

void sched_init(void);
void sched_start_preemption(void);
struct task *task_create(const char *name, void (*entry)(void *), void *arg, size_t stack_bytes);
/* Ask `task` to end: a blocked task is woken (its waits fail), a running
 * one ends at its next preemption.  Interrupts off. */
void sched_kill(struct task *task);
/* Register what the reaper calls once `task` is gone (in the reaper's own
 * task, interrupts on, nothing held). */
void sched_set_exit(struct task *task, void (*exit_fn)(void *, bool), void *arg);
struct task *sched_current(void);

/* Block the current task until woken or the deadline.  Interrupts must be
 * off; they are off again on return.  Returns true if woken. */
bool sched_block(uint64_t deadline_ns);
/* Make `task` runnable (from tasks or interrupt handlers, interrupts off). */
void sched_wake(struct task *task);
void sched_yield(void);
void sched_sleep_ns(uint64_t ns);

/*
 * Wait queues (struct wait_queue, include/platform.h): a list of blocked
 * tasks, each linked in by a waiter on its own stack.  Both calls with
 * interrupts off, which is what makes "check the condition, then sleep"
 * atomic against the waker:
 *
 *	arch_irq_disable();
 *	while (!condition)
 *		if (sched_wait(&wq, deadline) != 0)
 *			break;                  // -ETIMEDOUT or -EINTR
 *	arch_irq_enable();
 *
 * sched_wait returns 0 when woken, -ETIMEDOUT at the deadline, -EINTR
 * once the task is being killed (sched_kill).  sched_wake_all wakes every
 * sleeper (from tasks or interrupt handlers); wake-ups may be spurious.
 */
int sched_wait(struct wait_queue *wq, uint64_t deadline_ns);
void sched_wake_all(struct wait_queue *wq);

/*
 * Sleeping on several wait queues at once (a poll over many files): a
 * waiter per queue, linked before the condition is looked at, so that
 * a wake-up between the look and the sleep is not lost -- it sets the
 * task's event flag, which sched_event_wait checks.  All interrupts off:
 *
 *	struct waiter w[2];
 *	sched_event_clear();
 *	sched_link(&w[0], &a); sched_link(&w[1], &b);
 *	arch_irq_enable();  ...look (may take locks)...  arch_irq_disable();
 *	if (!ready) err = sched_event_wait(deadline); // 0, -ETIMEDOUT, -EINTR
 *	sched_unlink(&w[0]); sched_unlink(&w[1]);
 *
 * A waiter's `queue` is NULL once a wake-up unlinked it (a queue may then
 * be freed: sockets wake their sleepers before they go).
 */
struct waiter {
	struct waiter *next;      /* next sleeper on the same queue */
	struct task *task;        /* who sleeps */
	struct wait_queue *queue; /* the queue it is linked into, NULL: none */
};
void sched_link(struct waiter *w, struct wait_queue *wq);
void sched_unlink(struct waiter *w);
void sched_event_clear(void);
int sched_event_wait(uint64_t deadline_ns);

/* Called by the arch layer. */
void sched_timer_interrupt(void);
void sched_irq_exit(void);

/* Stack overflows: is `addr` in the guard page below the current task's
 * stack?  sched_stack_overflow reports one, naming the task, and panics. */
bool sched_in_guard(uintptr_t addr);
__attribute__((noreturn)) void sched_stack_overflow(uintptr_t fault_addr, uintptr_t pc);

/* Counters for reports and tests. */
uint64_t sched_switch_count(void);
uint64_t sched_idle_ns(void);
unsigned sched_task_count(void);
void sched_report(void);

#endif
