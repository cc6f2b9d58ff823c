/*
 * sys_poll.c -- readiness over many files (syscalls.h): poll, ppoll,
 * select, pselect6 and epoll (create1, ctl, wait, pwait, pwait2), over
 * sockets, pipes, the container's stdio and anything else (always ready).
 *
 * A wait links the thread into the wait queue of every file it looks at
 * before it looks (uwait, uproc.h), so nothing that happens between the
 * look and the sleep is missed.  epoll is level-triggered, or, with
 * EPOLLET, reports a readiness once until it is seen gone or an operation
 * on the file finds nothing to do (EAGAIN: epoll_rearm) -- what Go's
 * netpoller relies on.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "include/arch.h"
#include "kernel/syscalls.h"

#define EPOLL_CTL_ADD  1
#define EPOLL_CTL_DEL  2
#define EPOLL_CTL_MOD  3
#define EPOLLONESHOT   (1u << 30)
#define EPOLLET        (1u << 31)
#define EPOLL_CLOEXEC  02000000
#define FD_SETSIZE_MAX UPROC_MAX_FDS
#ifdef ARCH_x86_64
#define EPOLL_EVENT_SIZE 12 /* packed: u32 events, u64 data */
#define EPOLL_DATA_AT    4
#else
#define EPOLL_EVENT_SIZE 16
#define EPOLL_DATA_AT    8
#endif

static uint64_t deadline_in(uint64_t ns)
{
	uint64_t now = arch_clock_ns();

	return ns >= UINT64_MAX - now ? UINT64_MAX : now + ns;
}

/* A user timespec as a deadline (NULL: forever); -EFAULT / -EINVAL. */
static long timespec_deadline(struct user_proc *p, uint64_t uts, uint64_t *deadline)
{
	int64_t ts[2];

	if (!uts) {
		*deadline = UINT64_MAX;
		return 0;
	}
	if (vm_copy_in(p->mm->as, ts, uts, sizeof(ts)))
		return -EFAULT;
	if (ts[0] < 0 || ts[1] < 0 || ts[1] >= 1000000000)
		return -EINVAL;
	*deadline = deadline_in((uint64_t)ts[0] * 1000000000 + (uint64_t)ts[1]);
	return 0;
}

/* ---- poll over a list of fds ---- */

struct poll_entry {
	int fd;                 /* as given (< 0: ignored) */
	unsigned events;        /* asked for */
	unsigned revents;       /* found */
	struct user_file *file; /* a reference, NULL: not open */
};

/* Until one entry is ready, the deadline or a signal: ready entries, or
 * -EINTR.  Each entry's file stays referenced by the caller. */
static long poll_entries(struct poll_entry *e, size_t n, uint64_t deadline)
{
	struct uwait w;
	long ready = 0;
	int err = 0;

	uwait_init(&w);
	uwait_reserve(&w, (unsigned)n);
	for (;;) {
		ready = 0;
		uwait_begin(&w);
		for (size_t i = 0; i < n; i++) {
			e[i].revents = 0;
			if (e[i].fd < 0)
				continue;
			if (!e[i].file) {
				e[i].revents = UPOLLNVAL;
			} else {
				uwait_add(&w, file_wait_queue(e[i].file));
				e[i].revents = file_poll(e[i].file) &
				               (e[i].events | UPOLLERR | UPOLLHUP);
			}
			if (e[i].revents)
				ready++;
		}
		if (ready || err == -ETIMEDOUT || arch_clock_ns() >= deadline)
			break;
		err = uwait_sleep(&w, deadline);
		uwait_end(&w);
		if (err == -EINTR) {
			ready = -EINTR;
			break;
		}
	}
	uwait_done(&w);
	return ready;
}

static void put_entries(struct poll_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		file_put(e[i].file);
	free(e);
}

static long do_poll(struct user_proc *p, uint64_t ufds, uint64_t nfds, uint64_t deadline)
{
	struct poll_entry *e;
	uint8_t *raw;
	long ready;

	if (nfds > UPROC_MAX_FDS)
		return -EINVAL;
	if (!(raw = malloc(nfds * 8 + 1)) || !(e = calloc(nfds + 1, sizeof(*e)))) {
		free(raw);
		return -ENOMEM;
	}
	if (vm_copy_in(p->mm->as, raw, ufds, nfds * 8)) {
		free(raw);
		free(e);
		return -EFAULT;
	}
	for (uint64_t i = 0; i < nfds; i++) {
		int32_t fd;
		int16_t events;

		memcpy(&fd, raw + 8 * i, 4);
		memcpy(&events, raw + 8 * i + 4, 2);
		e[i].fd = fd;
		e[i].events = (uint16_t)events;
		e[i].file = fd >= 0 ? fd_file(p, fd) : NULL;
	}
	ready = poll_entries(e, nfds, deadline);
	if (ready >= 0) {
		for (uint64_t i = 0; i < nfds; i++) {
			int16_t revents = (int16_t)e[i].revents;

			memcpy(raw + 8 * i + 6, &revents, 2);
		}
		if (vm_copy_out(p->mm->as, ufds, raw, nfds * 8))
			ready = -EFAULT;
	}
	put_entries(e, nfds);
	free(raw);
	return ready;
}

long sys_poll(SYSCALL_ARGS)
{
	int64_t ms = (int32_t)a[2];

	return do_poll(p, a[0], a[1], ms < 0 ? UINT64_MAX : deadline_in((uint64_t)ms * 1000000));
}

long sys_ppoll(SYSCALL_ARGS)
{
	uint64_t deadline;
	long err = timespec_deadline(p, a[2], &deadline);

	if (err || (err = sigmask_swap_in(uthread_current(), a[3], a[4])))
		return err;
	return do_poll(p, a[0], a[1], deadline);
}

/* ---- select ---- */

static long do_select(struct user_proc *p, uint64_t nfds, const uint64_t sets[3], uint64_t deadline)
{
	static const unsigned want[3] = { UPOLLIN | UPOLLHUP | UPOLLERR, UPOLLOUT | UPOLLERR,
		                          UPOLLPRI };
	size_t bytes = (nfds + 7) / 8, n = 0;
	uint8_t *bits[3] = { NULL, NULL, NULL };
	struct poll_entry *e = NULL;
	long ready = 0;

	if (nfds > FD_SETSIZE_MAX)
		return -EINVAL;
	bytes = (bytes + 7) & ~(size_t)7; /* whole longs, as the kernel reads them */
	for (int s = 0; s < 3; s++) {
		if (!sets[s])
			continue;
		if (!(bits[s] = calloc(1, bytes + 1)) ||
		    vm_copy_in(p->mm->as, bits[s], sets[s], bytes)) {
			ready = bits[s] ? -EFAULT : -ENOMEM;
			goto out;
		}
	}
	if (!(e = calloc(nfds + 1, sizeof(*e)))) {
		ready = -ENOMEM;
		goto out;
	}
	for (uint64_t fd = 0; fd < nfds; fd++) {
		unsigned events = 0;

		for (int s = 0; s < 3; s++)
			if (bits[s] && (bits[s][fd / 8] >> (fd % 8)) & 1)
				events |= want[s];
		if (!events)
			continue;
		e[n].fd = (int)fd;
		e[n].events = events;
		if (!(e[n].file = fd_file(p, (int64_t)fd))) {
			ready = -EBADF;
			n++;
			goto out;
		}
		n++;
	}
	ready = poll_entries(e, n, deadline);
	if (ready < 0)
		goto out;
	/* the sets come back with the ready fds only; the count is of bits */
	ready = 0;
	for (int s = 0; s < 3; s++)
		if (bits[s])
			memset(bits[s], 0, bytes);
	for (size_t i = 0; i < n; i++) {
		for (int s = 0; s < 3; s++) {
			unsigned fired = e[i].revents & want[s];

			if (!bits[s] || !fired)
				continue;
			/* POLLERR/HUP count for a set only when it asked for them */
			if (s == 1 && !(e[i].events & UPOLLOUT))
				continue;
			if (s == 0 && !(e[i].events & UPOLLIN))
				continue;
			bits[s][e[i].fd / 8] |= (uint8_t)(1u << (e[i].fd % 8));
			ready++;
		}
	}
	for (int s = 0; s < 3; s++)
		if (bits[s] && vm_copy_out(p->mm->as, sets[s], bits[s], bytes))
			ready = -EFAULT;
out:
	if (e)
		put_entries(e, n);
	for (int s = 0; s < 3; s++)
		free(bits[s]);
	return ready;
}

long sys_select(SYSCALL_ARGS)
{
	uint64_t deadline = UINT64_MAX;
	int64_t tv[2];

	if (a[4]) {
		if (vm_copy_in(p->mm->as, tv, a[4], sizeof(tv)))
			return -EFAULT;
		if (tv[0] < 0 || tv[1] < 0 || tv[1] >= 1000000)
			return -EINVAL;
		deadline = deadline_in((uint64_t)tv[0] * 1000000000 + (uint64_t)tv[1] * 1000);
	}
	return do_select(p, a[0], (const uint64_t[3]){ a[1], a[2], a[3] }, deadline);
}

long sys_pselect6(SYSCALL_ARGS)
{
	uint64_t deadline, sig[2] = { 0, 0 };
	long err = timespec_deadline(p, a[4], &deadline);

	if (err)
		return err;
	if (a[5] && vm_copy_in(p->mm->as, sig, a[5], sizeof(sig)))
		return -EFAULT;
	if ((err = sigmask_swap_in(uthread_current(), sig[0], sig[1])))
		return err;
	return do_select(p, a[0], (const uint64_t[3]){ a[1], a[2], a[3] }, deadline);
}

/* ---- epoll ---- */

static long epoll_new(struct user_proc *p, uint64_t flags)
{
	struct user_file *f;
	int fd;

	if (flags & ~(uint64_t)EPOLL_CLOEXEC)
		return -EINVAL;
	if (!(f = file_alloc(FK_EPOLL, 0)) || !(f->ep = calloc(1, sizeof(*f->ep)))) {
		free(f);
		return -ENOMEM;
	}
	if ((fd = fd_install(p, f, 0, flags & EPOLL_CLOEXEC)) < 0)
		file_put(f);
	return fd;
}

long sys_epoll_create1(SYSCALL_ARGS)
{
	return epoll_new(p, a[0]);
}

long sys_epoll_create(SYSCALL_ARGS)
{
	return (int64_t)a[0] <= 0 ? -EINVAL : epoll_new(p, 0);
}

static struct ep_item *find_item(struct user_epoll *ep, struct user_file *file, int fd)
{
	for (struct ep_item *it = ep->items; it; it = it->next_in_ep)
		if (it->file == file && it->fd == fd)
			return it;
	return NULL;
}

static long ctl_locked(struct user_epoll *ep, int op, struct user_file *file, int fd,
                       uint32_t events, uint64_t data, struct ep_item *fresh)
{
	struct ep_item *it = find_item(ep, file, fd);

	switch (op) {
	case EPOLL_CTL_ADD:
		if (it)
			return -EEXIST;
		if (ep->nitems >= UPROC_MAX_FDS)
			return -ENOSPC;
		*fresh = (struct ep_item){
			.ep = ep, .file = file, .fd = fd, .events = events, .data = data
		};
		fresh->next_in_ep = ep->items;
		ep->items = fresh;
		fresh->next_in_file = file->ep_items;
		file->ep_items = fresh;
		ep->nitems++;
		return 1; /* fresh is used */
	case EPOLL_CTL_MOD:
		if (!it)
			return -ENOENT;
		it->events = events;
		it->data = data;
		it->masked = 0;
		ep->gen++;
		return 0;
	case EPOLL_CTL_DEL:
		if (!it)
			return -ENOENT;
		for (struct ep_item **q = &ep->items; *q; q = &(*q)->next_in_ep) {
			if (*q == it) {
				*q = it->next_in_ep;
				break;
			}
		}
		for (struct ep_item **q = &file->ep_items; *q; q = &(*q)->next_in_file) {
			if (*q == it) {
				*q = it->next_in_file;
				break;
			}
		}
		ep->nitems--;
		ep->gen++;
		free(it);
		return 0;
	}
	return -EINVAL;
}

long sys_epoll_ctl(SYSCALL_ARGS)
{
	struct user_file *epf = fd_file(p, (int64_t)a[0]), *file = NULL;
	struct ep_item *fresh = NULL;
	uint8_t ev[EPOLL_EVENT_SIZE];
	uint32_t events = 0;
	uint64_t data = 0;
	long ret;
	bool on;

	if (!epf)
		return -EBADF;
	if (!(file = fd_file(p, (int64_t)a[2]))) {
		ret = -EBADF;
		goto out;
	}
	if (epf->kind != FK_EPOLL || file == epf) {
		ret = -EINVAL;
		goto out;
	}
	if (file->kind == FK_FILE || file->kind == FK_DIR || file->kind == FK_WFILE) {
		ret = -EPERM; /* as Linux: regular files cannot be watched */
		goto out;
	}
	if (a[1] != EPOLL_CTL_DEL) {
		if (vm_copy_in(p->mm->as, ev, a[3], sizeof(ev))) {
			ret = -EFAULT;
			goto out;
		}
		memcpy(&events, ev, 4);
		memcpy(&data, ev + EPOLL_DATA_AT, 8);
	}
	if (a[1] == EPOLL_CTL_ADD && !(fresh = malloc(sizeof(*fresh)))) {
		ret = -ENOMEM;
		goto out;
	}
	on = ulock();
	ret = ctl_locked(epf->ep, (int)a[1], file, (int)a[2], events, data, fresh);
	uunlock(on);
	if (ret == 1) {
		fresh = NULL;
		ret = 0;
	}
out:
	free(fresh);
	file_put(file);
	file_put(epf);
	return ret;
}

struct ep_seen {
	struct ep_item *item;   /* valid while ep->gen is unchanged */
	struct user_file *file; /* a reference for the scan */
	uint32_t events;        /* asked for */
	uint64_t data;          /* given back */
	uint32_t masked;        /* EPOLLET: reported already */
};

/* One look at every entry: ready ones into out (at most max). */
static long epoll_scan(struct user_epoll *ep, struct uwait *w, uint8_t *out, long max)
{
	struct ep_seen *seen;
	unsigned n = 0;
	uint64_t gen;
	long count = 0;
	bool on = ulock();

	if (!(seen = malloc((ep->nitems + 1) * sizeof(*seen)))) {
		uunlock(on);
		return -ENOMEM;
	}
	gen = ep->gen;
	for (struct ep_item *it = ep->items; it; it = it->next_in_ep) {
		seen[n] = (struct ep_seen){ it, it->file, it->events, it->data, it->masked };
		it->file->refs++;
		n++;
	}
	uunlock(on);
	uwait_reserve(w, n);
	for (unsigned i = 0; i < n; i++) {
		unsigned mask;

		uwait_add(w, file_wait_queue(seen[i].file));
		mask = file_poll(seen[i].file) & (seen[i].events | UPOLLERR | UPOLLHUP);
		if (seen[i].events & EPOLLET) {
			unsigned fresh = mask & ~seen[i].masked;

			seen[i].masked = mask; /* gone bits report again once back */
			mask = count < max ? fresh : 0;
			if (count >= max)
				seen[i].masked &= ~fresh; /* not reported after all */
		}
		if (mask && count < max) {
			memcpy(out + EPOLL_EVENT_SIZE * count, &mask, 4);
			memcpy(out + EPOLL_EVENT_SIZE * count + EPOLL_DATA_AT, &seen[i].data, 8);
			count++;
			if (seen[i].events & EPOLLONESHOT)
				seen[i].events = 0;
		}
	}
	on = ulock();
	if (ep->gen == gen) {
		for (unsigned i = 0; i < n; i++) {
			seen[i].item->masked = seen[i].masked;
			seen[i].item->events = seen[i].events;
		}
	}
	uunlock(on);
	for (unsigned i = 0; i < n; i++)
		file_put(seen[i].file);
	free(seen);
	return count;
}

static long do_epoll_wait(struct user_proc *p, uint64_t epfd, uint64_t uevents, int64_t max,
                          uint64_t deadline)
{
	struct user_file *epf = fd_file(p, (int64_t)epfd);
	struct uwait w;
	uint8_t *out;
	long count = 0;
	int err = 0;

	if (!epf)
		return -EBADF;
	if (epf->kind != FK_EPOLL || max <= 0 || max > 4096) {
		file_put(epf);
		return -EINVAL;
	}
	if (!(out = malloc((size_t)max * EPOLL_EVENT_SIZE))) {
		file_put(epf);
		return -ENOMEM;
	}
	uwait_init(&w);
	for (;;) {
		uwait_begin(&w);
		count = epoll_scan(epf->ep, &w, out, max);
		if (count || err == -ETIMEDOUT || arch_clock_ns() >= deadline)
			break;
		err = uwait_sleep(&w, deadline);
		uwait_end(&w);
		if (err == -EINTR) {
			count = -EINTR;
			break;
		}
	}
	uwait_done(&w);
	if (count > 0 && vm_copy_out(p->mm->as, uevents, out, (size_t)count * EPOLL_EVENT_SIZE))
		count = -EFAULT;
	free(out);
	file_put(epf);
	return count;
}

long sys_epoll_wait(SYSCALL_ARGS)
{
	int64_t ms = (int32_t)a[3];

	return do_epoll_wait(p, a[0], a[1], (int32_t)a[2],
	                     ms < 0 ? UINT64_MAX : deadline_in((uint64_t)ms * 1000000));
}

long sys_epoll_pwait(SYSCALL_ARGS)
{
	long err = sigmask_swap_in(uthread_current(), a[4], a[5]);

	return err ? err : sys_epoll_wait(p, tf, a);
}

long sys_epoll_pwait2(SYSCALL_ARGS)
{
	uint64_t deadline;
	long err = timespec_deadline(p, a[3], &deadline);

	if (err || (err = sigmask_swap_in(uthread_current(), a[4], a[5])))
		return err;
	return do_epoll_wait(p, a[0], a[1], (int32_t)a[2], deadline);
}
