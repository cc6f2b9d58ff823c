/*
 * loop.c -- the epoll event loop (see loop.h).
 */
#include "host/vhost/loop.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

#define LOOP_BATCH     64
#define LOOP_MAX_HOOKS 8

static int epoll_fd = -1;                   /* the one epoll instance */
static void (*hooks[LOOP_MAX_HOOKS])(void); /* run after each batch */
static unsigned hook_count;                 /* entries in hooks[] */
static int more_work;                       /* a hook has leftover work */
static uint64_t wake_at_ms;                 /* earliest loop_wake_at; 0: none */

int loop_init(void)
{
	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	return epoll_fd < 0 ? -errno : 0;
}

void loop_fini(void)
{
	if (epoll_fd >= 0)
		close(epoll_fd);
	epoll_fd = -1;
}

int loop_set(struct ev_source *src, uint32_t events)
{
	if (src->fd < 0)
		return -EBADF;
	if (src->registered && src->events == events)
		return 0;
	struct epoll_event ev = { .events = events, .data.ptr = src };
	int op = src->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(epoll_fd, op, src->fd, &ev) < 0)
		return -errno;
	src->registered = 1;
	src->events = events;
	return 0;
}

void loop_del(struct ev_source *src)
{
	if (src->registered && src->fd >= 0)
		epoll_ctl(epoll_fd, EPOLL_CTL_DEL, src->fd, NULL);
	src->registered = 0;
	src->events = 0;
}

void loop_after_batch(void (*fn)(void))
{
	if (hook_count < LOOP_MAX_HOOKS)
		hooks[hook_count++] = fn;
}

void loop_more_work(void)
{
	more_work = 1;
}

void loop_wake_at(uint64_t ms)
{
	if (!wake_at_ms || ms < wake_at_ms)
		wake_at_ms = ms;
}

int loop_run_once(int timeout_ms)
{
	struct epoll_event events[LOOP_BATCH];
	if (more_work)
		timeout_ms = 0;
	more_work = 0;
	if (wake_at_ms) {
		uint64_t now = loop_now_ms();
		uint64_t left = wake_at_ms > now ? wake_at_ms - now : 0;
		if (timeout_ms < 0 || left < (uint64_t)timeout_ms)
			timeout_ms = (int)left;
		wake_at_ms = 0; /* the hooks ask again if it still stands */
	}
	int n = epoll_wait(epoll_fd, events, LOOP_BATCH, timeout_ms);
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0; /* the hooks still run: leftover work must not wait */
	}
	for (int i = 0; i < n; i++) {
		struct ev_source *src = events[i].data.ptr;
		if (src->fd >= 0 && src->registered)
			src->handle(src, events[i].events);
	}
	for (unsigned i = 0; i < hook_count; i++)
		hooks[i]();
	return n;
}

uint64_t loop_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
