/*
 * guest_fault.c -- the SIGBUS guard around guest memory accesses (see
 * guest_fault.h).  The daemon is single-threaded: one chain of guards.
 * The handler runs with SA_NODEFER, so jumping out of it with
 * sigsetjmp(env, 0) leaves SIGBUS unblocked for the next fault.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "host/vhost/guest_fault.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>

static struct guest_fault_guard *current; /* innermost guard, or NULL */
static struct sigaction previous;         /* SIGBUS action before ours */
static int installed;                     /* guest_fault_init done */

void guest_fault_push(struct guest_fault_guard *guard, const struct guest_mem *mem)
{
	guard->mem = mem;
	guard->addr = NULL;
	guard->outer = current;
	current = guard;
}

void guest_fault_pop(struct guest_fault_guard *guard)
{
	current = guard->outer;
}

static void on_sigbus(int sig, siginfo_t *info, void *context)
{
	for (struct guest_fault_guard *g = current; g; g = g->outer) {
		if (!guest_mem_maps(g->mem, info->si_addr))
			continue;
		current = g->outer;
		g->addr = info->si_addr;
		siglongjmp(g->env, 1);
	}
	/* Not guest memory: a bug of ours.  Let the previous action (the
	 * default, or a sanitizer's report) have it. */
	if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction) {
		previous.sa_sigaction(sig, info, context);
		return;
	}
	sigaction(SIGBUS, &previous, NULL); /* the access faults again */
}

int guest_fault_init(void)
{
	if (installed)
		return 0;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &previous) < 0)
		return -errno;
	installed = 1;
	return 0;
}
