/*
 * fd.c -- open files and fd tables of user processes (uproc.h): what a
 * file is (the session's stdio pipes, a store file, a file being written
 * under /tmp, a pipe2 pipe, an AF_VSOCK socket, an epoll instance,
 * /dev/vsock, /dev/null), references to it (fds, fork, dup, a poll in
 * progress), its readiness for poll, and paths.
 *
 * An open file description is shared as Linux shares it: dup and fork
 * give the same offset and flags.  Its last reference closes it: a
 * socket's peer then sees SHUTDOWN (or RST), a pipe's other end EOF or
 * EPIPE, a written file appears in the store, an epoll entry watching it
 * goes.  The system calls on files are sys_fs.c's, sys_net.c's and
 * sys_poll.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/log.h"
#include "kernel/uproc.h"
#include "vsock/socket.h"

#define PIPE_BYTES (64u << 10) /* as Linux's default pipe */

/* ---- files ---- */

struct user_file *file_alloc(enum file_kind kind, unsigned flags)
{
	struct user_file *f = calloc(1, sizeof(*f));

	if (f) {
		f->refs = 1;
		f->kind = kind;
		f->flags = flags;
	}
	return f;
}

void file_get(struct user_file *f)
{
	bool on = ulock();

	f->refs++;
	uunlock(on);
}

/* The last close of a file written by a program: it joins the store. */
static void wfile_publish(struct user_wfile *w)
{
	int err =
	        store_add(w->path, w->data ? w->data : (const uint8_t *)"", w->size, w->mode, true);

	if (err)
		log_printf("user: %s could not be stored (%d, agent.store_mib bounds the store)\n",
		           w->path, err);
	free(w->data);
	free(w);
}

static void pipe_end_closed(struct user_pipe *up, bool reader)
{
	bool on = ulock(), gone;

	if (reader && --up->readers == 0)
		pipe_close_read(&up->pipe);
	if (!reader && --up->writers == 0)
		pipe_close_write(&up->pipe);
	gone = up->readers == 0 && up->writers == 0;
	sched_wake_all(&up->wq);
	uunlock(on);
	if (gone) {
		pipe_destroy(&up->pipe);
		free(up);
	}
}

/* An epoll instance going away: its entries leave their files' lists. */
static void epoll_free(struct user_epoll *ep)
{
	bool on = ulock();

	while (ep->items) {
		struct ep_item *it = ep->items;

		ep->items = it->next_in_ep;
		for (struct ep_item **p = &it->file->ep_items; *p; p = &(*p)->next_in_file) {
			if (*p == it) {
				*p = it->next_in_file;
				break;
			}
		}
		free(it);
	}
	sched_wake_all(&ep->wq);
	uunlock(on);
	free(ep);
}

void epoll_rearm(struct user_file *f, unsigned bits)
{
	bool on = ulock();

	for (struct ep_item *it = f->ep_items; it; it = it->next_in_file)
		it->masked &= ~bits;
	uunlock(on);
}

void epoll_forget_file(struct user_file *f)
{
	bool on = ulock();

	while (f->ep_items) {
		struct ep_item *it = f->ep_items;
		struct user_epoll *ep = it->ep;

		ep->gen++;
		f->ep_items = it->next_in_file;
		for (struct ep_item **p = &ep->items; *p; p = &(*p)->next_in_ep) {
			if (*p == it) {
				*p = it->next_in_ep;
				break;
			}
		}
		ep->nitems--;
		free(it);
	}
	uunlock(on);
}

static void file_close(struct user_file *f)
{
	epoll_forget_file(f);
	switch (f->kind) {
	case FK_FILE:
	case FK_DIR:
		store_put(f->file);
		break;
	case FK_WFILE:
		wfile_publish(f->wfile);
		break;
	case FK_PIPE_R:
	case FK_PIPE_W:
		pipe_end_closed(f->pipe, f->kind == FK_PIPE_R);
		break;
	case FK_SOCKET:
		if (f->sock)
			vsock_close(f->sock);
		break;
	case FK_EPOLL:
		epoll_free(f->ep);
		break;
	default:
		break;
	}
	free(f);
}

void file_put(struct user_file *f)
{
	bool on, last;

	if (!f)
		return;
	on = ulock();
	last = --f->refs == 0;
	uunlock(on);
	if (last)
		file_close(f);
}

/* ---- fd tables ---- */

struct user_file *fd_file(struct user_proc *p, int64_t fd)
{
	struct user_file *f = NULL;
	bool on;

	if (fd < 0 || fd >= UPROC_MAX_FDS)
		return NULL;
	on = ulock();
	f = p->fds->files[fd];
	if (f)
		f->refs++;
	uunlock(on);
	return f;
}

bool fd_cloexec(struct user_proc *p, int fd)
{
	return (p->fds->cloexec[fd / 8] >> (fd % 8)) & 1;
}

void fd_set_cloexec(struct user_proc *p, int fd, bool on)
{
	if (on)
		p->fds->cloexec[fd / 8] |= (uint8_t)(1u << (fd % 8));
	else
		p->fds->cloexec[fd / 8] &= (uint8_t) ~(1u << (fd % 8));
}

int fd_install(struct user_proc *p, struct user_file *f, int from, bool cloexec)
{
	bool on = ulock();

	for (int i = from < 0 ? 0 : from; i < UPROC_MAX_FDS; i++) {
		if (!p->fds->files[i]) {
			p->fds->files[i] = f;
			fd_set_cloexec(p, i, cloexec);
			uunlock(on);
			return i;
		}
	}
	uunlock(on);
	return -EMFILE;
}

int fd_install_at(struct user_proc *p, struct user_file *f, int fd, bool cloexec)
{
	struct user_file *old;
	bool on;

	if (fd < 0 || fd >= UPROC_MAX_FDS)
		return -EBADF;
	on = ulock();
	old = p->fds->files[fd];
	p->fds->files[fd] = f;
	fd_set_cloexec(p, fd, cloexec);
	uunlock(on);
	file_put(old);
	return fd;
}

int fd_close(struct user_proc *p, int64_t fd)
{
	struct user_file *f;
	bool on;

	if (fd < 0 || fd >= UPROC_MAX_FDS)
		return -EBADF;
	on = ulock();
	f = p->fds->files[fd];
	p->fds->files[fd] = NULL;
	uunlock(on);
	if (!f)
		return -EBADF;
	file_put(f);
	return 0;
}

struct fd_table *fd_table_new(struct prog *prog)
{
	struct fd_table *t = calloc(1, sizeof(*t));
	static const enum file_kind stdio[3] = { FK_STDIN, FK_STDOUT, FK_STDERR };

	if (!t)
		return NULL;
	t->refs = 1;
	for (int i = 0; i < 3; i++) {
		if (!(t->files[i] = file_alloc(stdio[i], i ? UO_WRONLY : 0))) {
			fd_table_put(t);
			return NULL;
		}
		t->files[i]->prog = prog;
	}
	return t;
}

struct fd_table *fd_table_copy(struct fd_table *src)
{
	struct fd_table *t = calloc(1, sizeof(*t));
	bool on;

	if (!t)
		return NULL;
	t->refs = 1;
	on = ulock();
	for (int i = 0; i < UPROC_MAX_FDS; i++) {
		if ((t->files[i] = src->files[i]))
			t->files[i]->refs++;
	}
	memcpy(t->cloexec, src->cloexec, sizeof(t->cloexec));
	uunlock(on);
	return t;
}

void fd_table_put(struct fd_table *t)
{
	bool on, last;

	if (!t)
		return;
	on = ulock();
	last = --t->refs == 0;
	uunlock(on);
	if (!last)
		return;
	for (int i = 0; i < UPROC_MAX_FDS; i++)
		file_put(t->files[i]);
	free(t);
}

void fd_close_on_exec(struct user_proc *p)
{
	for (int i = 0; i < UPROC_MAX_FDS; i++)
		if (p->fds->files[i] && fd_cloexec(p, i))
			fd_close(p, i);
}

/* ---- pipes ---- */

struct user_pipe *upipe_new(void)
{
	struct user_pipe *up = calloc(1, sizeof(*up));

	if (!up || pipe_init(&up->pipe, PIPE_BYTES)) {
		free(up);
		return NULL;
	}
	up->readers = up->writers = 1;
	return up;
}

/* Bytes move under the lock: several processes may hold either end. */
long upipe_read(struct user_pipe *up, void *buf, size_t len)
{
	bool on = ulock();
	size_t n = pipe_read(&up->pipe, buf, len);

	if (n)
		sched_wake_all(&up->wq);
	uunlock(on);
	return (long)n;
}

long upipe_write(struct user_pipe *up, const void *buf, size_t len)
{
	bool on = ulock();
	size_t n;

	if (pipe_read_closed(&up->pipe)) {
		uunlock(on);
		return -EPIPE;
	}
	n = pipe_write(&up->pipe, buf, len);
	if (n)
		sched_wake_all(&up->wq);
	uunlock(on);
	return (long)n;
}

/* ---- readiness ---- */

static unsigned socket_poll(struct user_file *f)
{
	struct vsock_pollfd pfd = { .sock = f->sock, .events = VSOCK_POLLIN | VSOCK_POLLOUT };
	unsigned mask = 0;

	if (!f->sock)
		return UPOLLOUT | UPOLLHUP; /* as Linux's unconnected stream socket */
	vsock_poll(&pfd, 1, 0);
	if (pfd.revents & VSOCK_POLLIN)
		mask |= UPOLLIN | UPOLLRDNORM;
	if (pfd.revents & VSOCK_POLLOUT)
		mask |= UPOLLOUT | UPOLLWRNORM;
	if (pfd.revents & VSOCK_POLLERR)
		mask |= UPOLLERR;
	if (pfd.revents & VSOCK_POLLHUP)
		mask |= UPOLLHUP | UPOLLRDHUP;
	return mask;
}

static unsigned stdio_poll(struct user_file *f)
{
	struct prog *prog = f->prog;
	unsigned mask = 0;

	if (f->kind == FK_STDIN) {
		if (pipe_readable(&prog->in) || pipe_write_closed(&prog->in))
			mask |= UPOLLIN | UPOLLRDNORM;
		if (pipe_write_closed(&prog->in) && !pipe_readable(&prog->in))
			mask |= UPOLLHUP;
		return mask;
	}
	struct pipe *out = f->kind == FK_STDERR ? &prog->err : &prog->out;

	if (pipe_room(out))
		mask |= UPOLLOUT | UPOLLWRNORM;
	if (pipe_read_closed(out))
		mask |= UPOLLERR;
	return mask;
}

static unsigned pipe_poll(struct user_file *f)
{
	struct pipe *pipe = &f->pipe->pipe;
	unsigned mask = 0;
	bool on = ulock();

	if (f->kind == FK_PIPE_R) {
		if (pipe_readable(pipe))
			mask |= UPOLLIN | UPOLLRDNORM;
		if (pipe_write_closed(pipe))
			mask |= UPOLLHUP;
	} else {
		if (pipe_room(pipe))
			mask |= UPOLLOUT | UPOLLWRNORM;
		if (pipe_read_closed(pipe))
			mask |= UPOLLERR;
	}
	uunlock(on);
	return mask;
}

unsigned file_poll(struct user_file *f)
{
	switch (f->kind) {
	case FK_STDIN:
	case FK_STDOUT:
	case FK_STDERR:
		return stdio_poll(f);
	case FK_PIPE_R:
	case FK_PIPE_W:
		return pipe_poll(f);
	case FK_SOCKET:
		return socket_poll(f);
	case FK_EPOLL: {
		/* ready when an entry is (entries that are epolls count as not) */
		unsigned n = 0;
		bool on = ulock();

		for (struct ep_item *it = f->ep->items; it && !n; it = it->next_in_ep) {
			struct user_file *g = it->file;

			if (g->kind == FK_EPOLL)
				continue;
			g->refs++;
			uunlock(on);
			n = file_poll(g) & (it->events | UPOLLERR | UPOLLHUP) & ~it->masked;
			file_put(g);
			on = ulock();
		}
		uunlock(on);
		return n ? UPOLLIN | UPOLLRDNORM : 0;
	}
	default:
		return UPOLLIN | UPOLLOUT | UPOLLRDNORM | UPOLLWRNORM;
	}
}

struct wait_queue *file_wait_queue(struct user_file *f)
{
	switch (f->kind) {
	case FK_STDIN:
	case FK_STDOUT:
	case FK_STDERR:
		return &f->prog->wq;
	case FK_PIPE_R:
	case FK_PIPE_W:
		return &f->pipe->wq;
	case FK_SOCKET:
		return f->sock ? vsock_wait_queue(f->sock) : NULL;
	case FK_EPOLL:
		return &f->ep->wq;
	default:
		return NULL;
	}
}

/* ---- paths ---- */

int path_normalise(const char *base, const char *in, char *out, size_t len)
{
	char tmp[2 * STORE_PATH_MAX];
	size_t n = 0;

	if (in[0] == '/')
		snprintf(tmp, sizeof(tmp), "%s", in);
	else
		snprintf(tmp, sizeof(tmp), "%s/%s", base, in);
	out[0] = '\0';
	for (char *save = NULL, *part = strtok_r(tmp, "/", &save); part;
	     part = strtok_r(NULL, "/", &save)) {
		if (strcmp(part, ".") == 0)
			continue;
		if (strcmp(part, "..") == 0) {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
			out[n] = '\0';
			continue;
		}
		if (n + 1 + strlen(part) + 1 > len)
			return -ENAMETOOLONG;
		out[n++] = '/';
		strcpy(out + n, part);
		n += strlen(part);
	}
	if (n == 0)
		strcpy(out, "/");
	return 0;
}

int path_resolve(struct user_proc *p, int64_t dirfd, uint64_t upath, char *out, size_t len)
{
	char path[STORE_PATH_MAX];
	char base[STORE_PATH_MAX];
	long n = vm_strncpy_in(p->mm->as, path, upath, sizeof(path));
	int err = 0;

	if (n < 0)
		return (int)n;
	if (n == 0)
		return -ENOENT;
	snprintf(base, sizeof(base), "%s", p->cwd);
	if (path[0] != '/' && dirfd != -100 /* AT_FDCWD */) {
		struct user_file *d = fd_file(p, dirfd);

		if (!d)
			return -EBADF;
		if (d->kind != FK_DIR)
			err = -ENOTDIR;
		else
			snprintf(base, sizeof(base), "%s", d->file ? d->file->path : "/");
		file_put(d);
		if (err)
			return err;
	}
	return path_normalise(base, path, out, len);
}

int path_lookup(const char *path, struct store_file **out, bool *is_dir)
{
	if (strcmp(path, "/") == 0) {
		*out = NULL;
		*is_dir = true;
		return 0;
	}
	if (!(*out = store_get(path)))
		return -ENOENT;
	*is_dir = (*out)->is_dir;
	return 0;
}

bool path_writable(const char *path)
{
	return strncmp(path, "/tmp/", 5) == 0 && path[5];
}

int file_wait(struct user_file *f, unsigned events, uint64_t deadline_ns)
{
	struct uwait w;
	int err = 0;

	uwait_init(&w);
	for (;;) {
		uwait_begin(&w);
		uwait_add(&w, file_wait_queue(f));
		if (file_poll(f) & (events | UPOLLERR | UPOLLHUP)) {
			err = 0; /* ready, signal or not: the bytes first, as Linux */
			break;
		}
		if (err)
			break;
		err = uwait_sleep(&w, deadline_ns);
		uwait_end(&w);
		if (err && err != -EINTR)
			break;
	}
	uwait_done(&w);
	return err;
}
