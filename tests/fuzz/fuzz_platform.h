/*
 * fuzz_platform.h -- include/platform.h for libFuzzer targets that need
 * tasks (the agent, its programs): one thread, deterministic, so that a
 * crash found once happens again on the same input.
 *
 * Tasks are coroutines (ucontext, with AddressSanitizer's fiber
 * annotations).  Nothing runs until the harness calls fuzz_run(), which
 * switches to each runnable task in creation order until it waits; time is
 * virtual and moves only when the harness (or a wait of the harness's own
 * context) moves it.  A task yields in platform_wait(), in
 * platform_task_kill_requested() (a program's preemption point, so `spin`
 * cannot hang the run) and, if asked, at every Nth platform_lock() -- the
 * image is preemptive, and the fuzzer may pick where tasks switch.
 *
 * Typical usage (a harness with a loopback transport):
 *	fuzz_platform_reset();
 *	fuzz_platform_set_idle(pump, lb);   // what moves the world when all tasks wait
 *	agent_start(core, &opts, &agent);   // spawns the agent task
 *	...vsock calls with VSOCK_DONTWAIT from the harness...
 *	fuzz_settle(1000);                  // tasks and packets until quiet
 *	fuzz_advance(100000000);            // 100 ms pass: timeouts fire
 *	agent_stop(agent);                  // waits in the harness's context
 *	if (fuzz_tasks()) ...a task is stuck...
 */
#ifndef TESTS_FUZZ_FUZZ_PLATFORM_H
#define TESTS_FUZZ_FUZZ_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "include/platform.h"

/* A fresh clock (1 s), no preemption, no idle hook.  No task may be alive. */
void fuzz_platform_reset(void);
/* The harness's "device": pumps packets; true when it moved something. */
void fuzz_platform_set_idle(bool (*idle)(void *arg), void *arg);
/* A task yields at every `every`-th platform_lock() it takes (0: never). */
void fuzz_platform_set_preempt(unsigned every);

/* Run runnable tasks, at most `max_switches` switches; returns how many. */
size_t fuzz_run(size_t max_switches);
/* Tasks and the idle hook until nothing moves (or the budget is spent). */
void fuzz_settle(size_t max_switches);
/* Let `ns` of virtual time pass, settling at every deadline on the way. */
void fuzz_advance(uint64_t ns);
/* The earliest deadline any task waits for (PLATFORM_FOREVER: none). */
uint64_t fuzz_next_deadline(void);
/* Tasks not yet over. */
unsigned fuzz_tasks(void);

#endif
