/*
 * loop.h -- the daemon's one epoll event loop (issue 4: "one epoll loop").
 *
 * Every file descriptor the daemon watches is embedded in its owner as a
 * struct ev_source; epoll hands the source back and the loop calls its
 * handler.  Owners that die while a batch of events is being dispatched set
 * fd to -1 (so later events of the batch are skipped) and are freed by their
 * module after the batch (loop_after_batch hooks).
 *
 * Handlers do a bounded amount of work per round (Linux vhost's weight,
 * CVE-2019-3900): one that stops with work left calls loop_more_work(), and
 * the next round polls epoll without blocking, serves whatever else is
 * ready, then runs the after-batch hooks, which resume the leftover work.
 *
 * Typical usage:
 *	loop_init();
 *	src->fd = fd; src->handle = on_ready;
 *	loop_add(src, EPOLLIN);
 *	while (!stop) loop_run_once(-1);
 */
#ifndef HOST_VHOST_LOOP_H
#define HOST_VHOST_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct ev_source {
	int fd;                                                 /* watched fd; -1 when dead */
	uint32_t events;                                        /* interest currently registered */
	int registered;                                         /* in the epoll set? */
	void (*handle)(struct ev_source *src, uint32_t events); /* callback */
};

int loop_init(void);
void loop_fini(void);
/* Registers (or updates) interest; events 0 keeps the fd registered with no
 * interest (note: EPOLLHUP/EPOLLERR are still reported). */
int loop_set(struct ev_source *src, uint32_t events);
/* Removes the fd from the set (does not close it). */
void loop_del(struct ev_source *src);
/* Waits up to timeout_ms, dispatches one batch; negative errno on failure. */
int loop_run_once(int timeout_ms);
/* Registers a function run after every batch (at most 8). */
void loop_after_batch(void (*fn)(void));
/* Work was left for the after-batch hooks: the next wait does not block. */
void loop_more_work(void);
/* The next wait ends by loop_now_ms() == ms at the latest (a hook with a
 * deadline calls it after every batch while the deadline stands). */
void loop_wake_at(uint64_t ms);
/* CLOCK_MONOTONIC in milliseconds, for deadlines checked by timers. */
uint64_t loop_now_ms(void);

#endif
