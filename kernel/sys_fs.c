/*
 * sys_fs.c -- system calls on files and fds (syscalls.h): read and write
 * of every kind of file, open of the store (read-only), of /tmp (files a
 * program writes reach the store at their last close), of /dev/null,
 * /dev/vsock and /proc/self/auxv; pipes, stat, directories, dup, fcntl.
 *
 * Blocking I/O sleeps in file_wait (fd.c), which a signal or the end of
 * the thread interrupts: -EINTR, or the bytes moved so far.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/arch.h"
#include "kernel/syscalls.h"

#define AT_FDCWD      (-100)
#define AT_EMPTY_PATH 0x1000
#define AT_REMOVEDIR  0x200
#define O_CREAT       0100
#define O_EXCL        0200
#define O_TRUNC       01000
#ifdef ARCH_x86_64
#define O_DIRECTORY 0200000
#else
#define O_DIRECTORY 040000
#endif
#define S_IFIFO                        0010000
#define S_IFCHR                        0020000
#define S_IFDIR                        0040000
#define S_IFREG                        0100000
#define S_IFSOCK                       0140000
#define MAX_IOV                        1024
#define WFILE_MAX                      (16u << 20) /* a file a program writes */
#define IOCTL_VM_SOCKETS_GET_LOCAL_CID 0x7b9
#define FIONBIO                        0x5421
#define FIONREAD                       0x541b
#define FIOCLEX                        0x5451
#define FIONCLEX                       0x5450

static uint8_t *iobuf(void)
{
	return uthread_current()->iobuf;
}

static bool nonblocking(const struct user_file *f)
{
	return f->flags & UO_NONBLOCK;
}

/* ---- read ---- */

/* The container's stdin: bytes as they come, 0 at its close. */
static long read_stdin(struct user_proc *p, struct user_file *f, uint64_t buf, uint64_t len)
{
	struct prog *prog = f->prog;

	for (;;) {
		size_t n;
		bool on = ulock();
		int err;

		n = pipe_read(&prog->in, iobuf(), len < UPROC_IOBUF ? len : UPROC_IOBUF);
		uunlock(on);
		if (n) {
			if (prog->notify)
				prog->notify(prog->notify_arg); /* room for a parked WriteStdin */
			return vm_copy_out(p->mm->as, buf, iobuf(), n) ? -EFAULT : (long)n;
		}
		if (pipe_write_closed(&prog->in) && !pipe_readable(&prog->in))
			return 0;
		if (nonblocking(f))
			return -EAGAIN;
		if ((err = file_wait(f, UPOLLIN, UINT64_MAX)))
			return err;
	}
}

static long read_pipe(struct user_proc *p, struct user_file *f, uint64_t buf, uint64_t len)
{
	for (;;) {
		long n = upipe_read(f->pipe, iobuf(), len < UPROC_IOBUF ? len : UPROC_IOBUF);
		int err;

		if (n)
			return vm_copy_out(p->mm->as, buf, iobuf(), (size_t)n) ? -EFAULT : n;
		if (pipe_write_closed(&f->pipe->pipe))
			return 0;
		if (nonblocking(f))
			return -EAGAIN;
		if ((err = file_wait(f, UPOLLIN, UINT64_MAX)))
			return err;
	}
}

static long read_bytes(struct user_proc *p, const uint8_t *data, size_t size, uint64_t buf,
                       uint64_t len, uint64_t offset)
{
	uint64_t n;

	if (offset >= size)
		return 0;
	n = size - offset < len ? size - offset : len;
	return vm_copy_out(p->mm->as, buf, data + offset, n) ? -EFAULT : (long)n;
}

static long read_at(struct user_proc *p, struct user_file *f, uint64_t buf, uint64_t len,
                    uint64_t offset)
{
	switch (f->kind) {
	case FK_FILE:
		return read_bytes(p, f->file->data, f->file->size, buf, len, offset);
	case FK_WFILE:
		return read_bytes(p, f->wfile->data, f->wfile->size, buf, len, offset);
	default:
		return -ESPIPE;
	}
}

long file_read(struct user_proc *p, struct user_file *f, uint64_t buf, uint64_t len)
{
	long n;

	if ((f->flags & O_ACCMODE_BITS) == UO_WRONLY)
		return -EBADF;
	if (len == 0 && f->kind != FK_SOCKET)
		return 0;
	switch (f->kind) {
	case FK_STDIN:
		return read_stdin(p, f, buf, len);
	case FK_FILE:
	case FK_WFILE:
		n = read_at(p, f, buf, len, f->offset);
		if (n > 0)
			f->offset += (uint64_t)n;
		return n;
	case FK_DIR:
		return -EISDIR;
	case FK_PIPE_R:
		return read_pipe(p, f, buf, len);
	case FK_SOCKET:
		return sock_recv(p, f, buf, len, 0, NULL);
	case FK_NULL:
		return 0;
	default:
		return -EINVAL;
	}
}

/* ---- write ---- */

static long write_stdout(struct user_proc *p, struct user_file *f, uint64_t buf, uint64_t len)
{
	struct prog *prog = f->prog;
	struct pipe *pipe = f->kind == FK_STDERR ? &prog->err : &prog->out;
	uint64_t done = 0;

	while (done < len) {
		size_t chunk = len - done < UPROC_IOBUF ? len - done : UPROC_IOBUF, n;
		bool on;
		int err;

		if (vm_copy_in(p->mm->as, iobuf(), buf + done, chunk))
			return done ? (long)done : -EFAULT;
		on = ulock(); /* several processes may write to it */
		if (pipe_read_closed(pipe)) {
			uunlock(on);
			sig_send_thread(uthread_current(), SIGNAL_PIPE);
			return done ? (long)done : -EPIPE;
		}
		n = pipe_write(pipe, iobuf(), chunk);
		uunlock(on);
		if (n) {
			if (prog->notify)
				prog->notify(prog->notify_arg);
			done += n;
			continue;
		}
		if (nonblocking(f))
			return done ? (long)done : -EAGAIN;
		if ((err = file_wait(f, UPOLLOUT, UINT64_MAX)))
			return done ? (long)done : err;
	}
	return (long)done;
}

static long write_pipe(struct user_proc *p, struct user_file *f, uint64_t buf, uint64_t len)
{
	uint64_t done = 0;

	while (done < len) {
		size_t chunk = len - done < UPROC_IOBUF ? len - done : UPROC_IOBUF;
		long n;
		int err;

		if (vm_copy_in(p->mm->as, iobuf(), buf + done, chunk))
			return done ? (long)done : -EFAULT;
		n = upipe_write(f->pipe, iobuf(), chunk);
		if (n == -EPIPE) {
			sig_send_thread(uthread_current(), SIGNAL_PIPE);
			return done ? (long)done : -EPIPE;
		}
		if (n > 0) {
			done += (uint64_t)n;
			continue;
		}
		if (nonblocking(f))
			return done ? (long)done : -EAGAIN;
		if ((err = file_wait(f, UPOLLOUT, UINT64_MAX)))
			return done ? (long)done : err;
	}
	return (long)done;
}

static long write_wfile(struct user_proc *p, struct user_file *f, uint64_t buf, uint64_t len,
                        uint64_t offset)
{
	struct user_wfile *w = f->wfile;
	uint64_t end = offset + len;

	if (end < offset || end > WFILE_MAX)
		return -EFBIG;
	if (end > w->cap) {
		size_t cap = w->cap ? w->cap : 4096;
		uint8_t *data;

		while (cap < end)
			cap *= 2;
		if (cap > WFILE_MAX)
			cap = WFILE_MAX;
		if (!(data = realloc(w->data, cap)))
			return -ENOSPC;
		w->data = data;
		w->cap = cap;
	}
	if (offset > w->size)
		memset(w->data + w->size, 0, offset - w->size);
	if (vm_copy_in(p->mm->as, w->data + offset, buf, len))
		return -EFAULT;
	if (end > w->size)
		w->size = end;
	return (long)len;
}

long file_write(struct user_proc *p, struct user_file *f, uint64_t buf, uint64_t len)
{
	long n;

	if ((f->flags & O_ACCMODE_BITS) == 0 && f->kind != FK_SOCKET && f->kind != FK_NULL)
		return -EBADF;
	switch (f->kind) {
	case FK_STDOUT:
	case FK_STDERR:
		return write_stdout(p, f, buf, len);
	case FK_PIPE_W:
		return write_pipe(p, f, buf, len);
	case FK_WFILE:
		if (f->flags & UO_APPEND)
			f->offset = f->wfile->size;
		n = write_wfile(p, f, buf, len, f->offset);
		if (n > 0)
			f->offset += (uint64_t)n;
		return n;
	case FK_SOCKET:
		return sock_send(p, f, buf, len, 0);
	case FK_NULL:
		return (long)len;
	default:
		return -EBADF;
	}
}

long sys_read(SYSCALL_ARGS)
{
	struct user_file *file = fd_file(p, (int64_t)a[0]);
	long n;

	if (!file)
		return -EBADF;
	n = file_read(p, file, a[1], a[2]);
	file_put(file);
	return n;
}

long sys_write(SYSCALL_ARGS)
{
	struct user_file *file = fd_file(p, (int64_t)a[0]);
	long n;

	if (!file)
		return -EBADF;
	n = file_write(p, file, a[1], a[2]);
	file_put(file);
	return n;
}

static long do_iov(struct user_proc *p, const uint64_t *a, bool write)
{
	struct user_file *file;
	long total = 0;

	if (a[2] > MAX_IOV)
		return -EINVAL;
	if (!(file = fd_file(p, (int64_t)a[0])))
		return -EBADF;
	for (uint64_t i = 0; i < a[2]; i++) {
		uint64_t iov[2];
		long n;

		if (vm_copy_in(p->mm->as, iov, a[1] + 16 * i, sizeof(iov))) {
			total = total ? total : -EFAULT;
			break;
		}
		if (!iov[1])
			continue;
		n = write ? file_write(p, file, iov[0], iov[1]) :
		            file_read(p, file, iov[0], iov[1]);
		if (n < 0) {
			total = total ? total : n;
			break;
		}
		total += n;
		if ((uint64_t)n < iov[1])
			break;
	}
	file_put(file);
	return total;
}

long sys_readv(SYSCALL_ARGS)
{
	return do_iov(p, a, false);
}

long sys_writev(SYSCALL_ARGS)
{
	return do_iov(p, a, true);
}

long sys_pread64(SYSCALL_ARGS)
{
	struct user_file *file = fd_file(p, (int64_t)a[0]);
	long n;

	if (!file)
		return -EBADF;
	n = file->kind == FK_DIR ? -EISDIR : read_at(p, file, a[1], a[2], a[3]);
	file_put(file);
	return n;
}

long sys_pwrite64(SYSCALL_ARGS)
{
	struct user_file *file = fd_file(p, (int64_t)a[0]);
	long n;

	if (!file)
		return -EBADF;
	n = file->kind != FK_WFILE ? (file->kind == FK_FILE ? -EBADF : -ESPIPE) :
	                             write_wfile(p, file, a[1], a[2], a[3]);
	file_put(file);
	return n;
}

long sys_lseek(SYSCALL_ARGS)
{
	struct user_file *file = fd_file(p, (int64_t)a[0]);
	int64_t off = (int64_t)a[1], base;
	long ret;

	if (!file)
		return -EBADF;
	if (file->kind == FK_DIR && off == 0 && a[2] == 0) {
		file->offset = 0;
		ret = 0;
	} else if (file->kind != FK_FILE && file->kind != FK_WFILE) {
		ret = -ESPIPE;
	} else {
		uint64_t size = file->kind == FK_FILE ? file->file->size : file->wfile->size;

		switch (a[2]) {
		case 0:
			base = 0;
			break;
		case 1:
			base = (int64_t)file->offset;
			break;
		case 2:
			base = (int64_t)size;
			break;
		default:
			base = -1;
			off = 0;
			break;
		}
		if (base < 0 || base + off < 0) {
			ret = -EINVAL;
		} else {
			file->offset = (uint64_t)(base + off);
			ret = (long)file->offset;
		}
	}
	file_put(file);
	return ret;
}

long sys_close(SYSCALL_ARGS)
{
	return fd_close(p, (int64_t)a[0]);
}

long sys_fsync(SYSCALL_ARGS)
{
	struct user_file *file = fd_file(p, (int64_t)a[0]);

	if (!file)
		return -EBADF;
	file_put(file);
	return 0;
}

/* ---- open ---- */

/* A file of the store opened for writing: under /tmp only. */
static long open_for_write(struct user_proc *p, const char *path, uint64_t flags, uint32_t mode,
                           struct store_file *old, bool is_dir)
{
	struct user_wfile *w;
	struct user_file *f;
	int fd;

	if (is_dir)
		return -EISDIR;
	if (!path_writable(path))
		return -EROFS; /* the store is read-only outside /tmp */
	if (old && (flags & O_CREAT) && (flags & O_EXCL))
		return -EEXIST;
	if (!old && !(flags & O_CREAT))
		return -ENOENT;
	if (!(w = calloc(1, sizeof(*w))))
		return -ENOMEM;
	snprintf(w->path, sizeof(w->path), "%s", path);
	w->mode = old ? old->mode : mode & ~p->umask & 07777;
	if (old && !(flags & O_TRUNC) && old->size) {
		w->cap = old->size;
		if (old->size > WFILE_MAX || !(w->data = malloc(w->cap))) {
			free(w);
			return old->size > WFILE_MAX ? -EFBIG : -ENOMEM;
		}
		memcpy(w->data, old->data, old->size);
		w->size = old->size;
	}
	if (!(f = file_alloc(FK_WFILE,
	                     (unsigned)flags & (O_ACCMODE_BITS | UO_APPEND | UO_NONBLOCK)))) {
		free(w->data);
		free(w);
		return -ENOMEM;
	}
	f->wfile = w;
	if ((fd = fd_install(p, f, 0, flags & UO_CLOEXEC)) < 0)
		file_put(f); /* (publishes what it was: the old bytes, or an empty file) */
	return fd;
}

/* /dev/null, /dev/vsock, /proc/self/auxv, or -ENOENT. */
static long open_special(struct user_proc *p, const char *path, uint64_t flags)
{
	struct user_file *f;
	enum file_kind kind;
	int fd;

	if (strcmp(path, "/dev/null") == 0)
		kind = FK_NULL;
	else if (strcmp(path, "/dev/vsock") == 0)
		kind = FK_VSOCK_DEV;
	else if (strcmp(path, "/proc/self/auxv") == 0)
		kind = FK_WFILE;
	else
		return -ENOENT;
	if (!(f = file_alloc(kind, (unsigned)flags & (O_ACCMODE_BITS | UO_NONBLOCK))))
		return -ENOMEM;
	if (kind == FK_WFILE) {
		/* a private copy, never stored (no path) */
		if (!(f->wfile = calloc(1, sizeof(*f->wfile))) ||
		    !(f->wfile->data = malloc(p->mm->auxv_len))) {
			if (f->wfile)
				free(f->wfile);
			free(f);
			return -ENOMEM;
		}
		memcpy(f->wfile->data, p->mm->auxv, p->mm->auxv_len);
		f->wfile->size = f->wfile->cap = p->mm->auxv_len;
		f->flags &= ~(unsigned)O_ACCMODE_BITS;
	}
	if ((fd = fd_install(p, f, 0, flags & UO_CLOEXEC)) < 0)
		file_put(f);
	return fd;
}

static long do_openat(struct user_proc *p, int64_t dirfd, uint64_t upath, uint64_t flags,
                      uint32_t mode)
{
	char path[STORE_PATH_MAX];
	struct store_file *file = NULL;
	struct user_file *f;
	bool is_dir = false;
	int fd, err;

	if ((err = path_resolve(p, dirfd, upath, path, sizeof(path))))
		return err;
	if (strncmp(path, "/dev/", 5) == 0 || strncmp(path, "/proc/", 6) == 0)
		return open_special(p, path, flags);
	err = path_lookup(path, &file, &is_dir);
	if (err && err != -ENOENT)
		return err;
	if ((flags & O_ACCMODE_BITS) != 0 || (flags & (O_TRUNC | UO_APPEND)) ||
	    (err && (flags & O_CREAT))) {
		long ret = open_for_write(p, path, flags, mode, err ? NULL : file, is_dir);

		store_put(file);
		return ret;
	}
	if (err)
		return err;
	if ((flags & O_DIRECTORY) && !is_dir) {
		store_put(file);
		return -ENOTDIR;
	}
	if (!(f = file_alloc(is_dir ? FK_DIR : FK_FILE, (unsigned)flags & UO_NONBLOCK))) {
		store_put(file);
		return -ENOMEM;
	}
	f->file = file;
	if ((fd = fd_install(p, f, 0, flags & UO_CLOEXEC)) < 0)
		file_put(f);
	return fd;
}

long sys_openat(SYSCALL_ARGS)
{
	return do_openat(p, (int64_t)a[0], a[1], a[2], (uint32_t)a[3]);
}

long sys_open(SYSCALL_ARGS)
{
	return do_openat(p, AT_FDCWD, a[0], a[1], (uint32_t)a[2]);
}

long sys_creat(SYSCALL_ARGS)
{
	return do_openat(p, AT_FDCWD, a[0], O_CREAT | UO_WRONLY | O_TRUNC, (uint32_t)a[1]);
}

long sys_mkdirat(SYSCALL_ARGS)
{
	char path[STORE_PATH_MAX];
	struct store_file *file;
	bool is_dir;
	int err;

	if ((err = path_resolve(p, (int64_t)a[0], a[1], path, sizeof(path))))
		return err;
	if (path_lookup(path, &file, &is_dir) == 0) {
		store_put(file);
		return -EEXIST;
	}
	if (!path_writable(path))
		return -EROFS;
	return store_mkdir(path, (uint32_t)a[2] & 07777);
}

long sys_mkdir(SYSCALL_ARGS)
{
	const uint64_t b[3] = { (uint64_t)AT_FDCWD, a[0], a[1] };

	return sys_mkdirat(p, tf, b);
}

long sys_pipe2(SYSCALL_ARGS)
{
	struct user_file *r, *w;
	struct user_pipe *up;
	int32_t fds[2];

	if (a[1] & ~(uint64_t)(UO_NONBLOCK | UO_CLOEXEC))
		return -EINVAL;
	if (!(up = upipe_new()))
		return -ENFILE;
	r = file_alloc(FK_PIPE_R, (unsigned)a[1] & UO_NONBLOCK);
	w = file_alloc(FK_PIPE_W, ((unsigned)a[1] & UO_NONBLOCK) | UO_WRONLY);
	if (!r || !w) {
		free(r);
		free(w);
		pipe_destroy(&up->pipe);
		free(up);
		return -ENFILE;
	}
	r->pipe = w->pipe = up;
	if ((fds[0] = fd_install(p, r, 0, a[1] & UO_CLOEXEC)) < 0) {
		file_put(r);
		file_put(w);
		return -EMFILE;
	}
	if ((fds[1] = fd_install(p, w, 0, a[1] & UO_CLOEXEC)) < 0) {
		fd_close(p, fds[0]);
		file_put(w);
		return -EMFILE;
	}
	if (vm_copy_out(p->mm->as, a[0], fds, sizeof(fds))) {
		fd_close(p, fds[0]);
		fd_close(p, fds[1]);
		return -EFAULT;
	}
	return 0;
}

long sys_pipe(SYSCALL_ARGS)
{
	const uint64_t b[2] = { a[0], 0 };

	return sys_pipe2(p, tf, b);
}

/* ---- stat ---- */

struct kstat {
	uint64_t ino, size;
	uint32_t mode, nlink;
};

static void stat_of(const struct user_file *fd, const struct store_file *file, bool is_dir,
                    struct kstat *k)
{
	memset(k, 0, sizeof(*k));
	k->nlink = 1;
	if (fd) {
		switch (fd->kind) {
		case FK_STDIN:
		case FK_STDOUT:
		case FK_STDERR:
		case FK_PIPE_R:
		case FK_PIPE_W:
			k->mode = S_IFIFO | 0600;
			k->ino = 1 + (uint64_t)(uintptr_t)fd->prog + (uint64_t)(uintptr_t)fd->pipe;
			return;
		case FK_SOCKET:
			k->mode = S_IFSOCK | 0777;
			k->ino = (uint64_t)(uintptr_t)fd >> 4;
			return;
		case FK_NULL:
		case FK_VSOCK_DEV:
		case FK_EPOLL:
			k->mode = S_IFCHR | 0666;
			k->ino = 3 + fd->kind;
			return;
		case FK_WFILE:
			k->mode = S_IFREG | fd->wfile->mode;
			k->size = fd->wfile->size;
			k->ino = (uint64_t)(uintptr_t)fd->wfile >> 4;
			return;
		default:
			break;
		}
	}
	k->mode = is_dir ? S_IFDIR | 0755 : S_IFREG | (file ? file->mode : 0644);
	k->size = file && !is_dir ? file->size : 0;
	k->ino = (uint64_t)(uintptr_t)file >> 4 | 1;
	if (is_dir)
		k->nlink = 2;
}

/* struct stat: x86_64's own layout, or asm-generic's (aarch64). */
static long put_stat(struct user_proc *p, uint64_t ubuf, const struct kstat *k)
{
	uint8_t st[144] = { 0 };
	uint64_t blocks = (k->size + 511) / 512;
#ifdef ARCH_x86_64
	uint64_t nlink = k->nlink, blksize = 4096;
	size_t len = 144;

	memcpy(st + 8, &k->ino, 8);
	memcpy(st + 16, &nlink, 8);
	memcpy(st + 24, &k->mode, 4);
	memcpy(st + 48, &k->size, 8);
	memcpy(st + 56, &blksize, 8);
	memcpy(st + 64, &blocks, 8);
#else
	uint32_t blksize = 4096;
	size_t len = 128;

	memcpy(st + 8, &k->ino, 8);
	memcpy(st + 16, &k->mode, 4);
	memcpy(st + 20, &k->nlink, 4);
	memcpy(st + 48, &k->size, 8);
	memcpy(st + 56, &blksize, 4);
	memcpy(st + 64, &blocks, 8);
#endif
	return vm_copy_out(p->mm->as, ubuf, st, len) ? -EFAULT : 0;
}

static long stat_path(struct user_proc *p, int64_t dirfd, uint64_t upath, uint64_t flags,
                      struct kstat *k)
{
	char path[STORE_PATH_MAX];
	struct store_file *file;
	bool is_dir;
	int err;

	if (flags & AT_EMPTY_PATH) {
		char c;

		if (vm_copy_in(p->mm->as, &c, upath, 1))
			return -EFAULT;
		if (c == '\0') {
			struct user_file *fd = dirfd == AT_FDCWD ? NULL : fd_file(p, dirfd);

			if (!fd)
				return -EBADF;
			stat_of(fd, fd->file, fd->kind == FK_DIR, k);
			file_put(fd);
			return 0;
		}
	}
	if ((err = path_resolve(p, dirfd, upath, path, sizeof(path))))
		return err;
	if (strcmp(path, "/dev/null") == 0 || strcmp(path, "/dev/vsock") == 0) {
		memset(k, 0, sizeof(*k));
		k->mode = S_IFCHR | 0666;
		k->nlink = 1;
		return 0;
	}
	if ((err = path_lookup(path, &file, &is_dir)))
		return err;
	stat_of(NULL, file, is_dir, k);
	store_put(file);
	return 0;
}

long sys_fstat(SYSCALL_ARGS)
{
	struct user_file *fd = fd_file(p, (int64_t)a[0]);
	struct kstat k;

	if (!fd)
		return -EBADF;
	stat_of(fd, fd->file, fd->kind == FK_DIR, &k);
	file_put(fd);
	return put_stat(p, a[1], &k);
}

long sys_newfstatat(SYSCALL_ARGS)
{
	struct kstat k;
	long err = stat_path(p, (int64_t)a[0], a[1], a[3], &k);

	return err ? err : put_stat(p, a[2], &k);
}

long sys_stat(SYSCALL_ARGS)
{
	struct kstat k;
	long err = stat_path(p, AT_FDCWD, a[0], 0, &k);

	return err ? err : put_stat(p, a[1], &k);
}

long sys_lstat(SYSCALL_ARGS)
{
	return sys_stat(p, tf, a);
}

long sys_statx(SYSCALL_ARGS)
{
	uint8_t sx[256] = { 0 };
	struct kstat k;
	uint32_t mask = 0x7ff, blksize = 4096; /* STATX_BASIC_STATS */
	uint16_t mode;
	uint64_t blocks;
	long err = stat_path(p, (int64_t)a[0], a[1], a[2], &k);

	if (err)
		return err;
	mode = (uint16_t)k.mode;
	blocks = (k.size + 511) / 512;
	memcpy(sx + 0, &mask, 4);
	memcpy(sx + 4, &blksize, 4);
	memcpy(sx + 16, &k.nlink, 4);
	memcpy(sx + 28, &mode, 2);
	memcpy(sx + 32, &k.ino, 8);
	memcpy(sx + 40, &k.size, 8);
	memcpy(sx + 48, &blocks, 8);
	return vm_copy_out(p->mm->as, a[4], sx, sizeof(sx)) ? -EFAULT : 0;
}

long sys_getdents64(SYSCALL_ARGS)
{
	struct user_file *fd = fd_file(p, (int64_t)a[0]);
	uint64_t out = 0;
	long ret = 0;

	if (!fd)
		return -EBADF;
	if (fd->kind != FK_DIR) {
		file_put(fd);
		return -ENOTDIR;
	}
	for (;;) {
		char name[STORE_PATH_MAX];
		uint8_t rec[24 + STORE_PATH_MAX];
		bool is_dir = true;
		uint16_t reclen;
		uint64_t ino = fd->offset + 1;
		int64_t next = (int64_t)fd->offset + 1;

		if (fd->offset < 2)
			strcpy(name, fd->offset ? ".." : ".");
		else if (!store_list(fd->file ? fd->file->path : "/", (unsigned)fd->offset - 2,
		                     name, sizeof(name), &is_dir))
			break;
		reclen = (uint16_t)((19 + strlen(name) + 1 + 7) & ~7u);
		if (out + reclen > a[2]) {
			ret = out ? 0 : -EINVAL;
			break;
		}
		memset(rec, 0, reclen);
		memcpy(rec, &ino, 8);
		memcpy(rec + 8, &next, 8);
		memcpy(rec + 16, &reclen, 2);
		rec[18] = is_dir ? 4 : 8; /* DT_DIR, DT_REG */
		strcpy((char *)rec + 19, name);
		if (vm_copy_out(p->mm->as, a[1] + out, rec, reclen)) {
			ret = -EFAULT;
			break;
		}
		out += reclen;
		fd->offset++;
	}
	file_put(fd);
	return ret ? ret : (long)out;
}

long sys_ioctl(SYSCALL_ARGS)
{
	struct user_file *file = fd_file(p, (int64_t)a[0]);
	long ret = -ENOTTY;
	int on;

	if (!file)
		return -EBADF;
	switch (a[1]) {
	case FIONBIO:
		if (vm_copy_in(p->mm->as, &on, a[2], 4)) {
			ret = -EFAULT;
			break;
		}
		if (on)
			file->flags |= UO_NONBLOCK;
		else
			file->flags &= ~(unsigned)UO_NONBLOCK;
		ret = 0;
		break;
	case FIOCLEX:
	case FIONCLEX:
		fd_set_cloexec(p, (int)a[0], a[1] == FIOCLEX);
		ret = 0;
		break;
	default:
		/* no terminals: TCGETS, TIOCGWINSZ and the rest give ENOTTY */
		if (file->kind == FK_SOCKET || file->kind == FK_VSOCK_DEV)
			ret = sock_ioctl(p, file, a[1], a[2]);
		else if (a[1] == FIONREAD && file->kind == FK_PIPE_R) {
			int32_t n = (int32_t)pipe_readable(&file->pipe->pipe);

			ret = vm_copy_out(p->mm->as, a[2], &n, 4) ? -EFAULT : 0;
		}
	}
	file_put(file);
	return ret;
}

/* ---- fds ---- */

static long do_dup(struct user_proc *p, int64_t old, int64_t to, bool cloexec, bool exact)
{
	struct user_file *f = fd_file(p, old);
	int n;

	if (!f)
		return -EBADF;
	if (exact) {
		if (to == old) {
			file_put(f);
			return to;
		}
		n = fd_install_at(p, f, (int)to, cloexec);
	} else {
		n = fd_install(p, f, (int)to, cloexec);
	}
	if (n < 0)
		file_put(f);
	return n;
}

long sys_dup(SYSCALL_ARGS)
{
	return do_dup(p, (int64_t)a[0], 0, false, false);
}

long sys_dup2(SYSCALL_ARGS)
{
	if ((int64_t)a[1] < 0 || a[1] >= UPROC_MAX_FDS)
		return -EBADF;
	return do_dup(p, (int64_t)a[0], (int64_t)a[1], false, true);
}

long sys_dup3(SYSCALL_ARGS)
{
	if (a[0] == a[1])
		return -EINVAL;
	if (a[2] & ~(uint64_t)UO_CLOEXEC)
		return -EINVAL;
	if ((int64_t)a[1] < 0 || a[1] >= UPROC_MAX_FDS)
		return -EBADF;
	return do_dup(p, (int64_t)a[0], (int64_t)a[1], a[2] & UO_CLOEXEC, true);
}

long sys_fcntl(SYSCALL_ARGS)
{
	struct user_file *file = fd_file(p, (int64_t)a[0]);
	long ret = -EINVAL;

	if (!file)
		return -EBADF;
	switch (a[1]) {
	case 0:    /* F_DUPFD */
	case 1030: /* F_DUPFD_CLOEXEC */
		ret = a[2] >= UPROC_MAX_FDS ?
		              -EINVAL :
		              do_dup(p, (int64_t)a[0], (int64_t)a[2], a[1] == 1030, false);
		break;
	case 1: /* F_GETFD */
		ret = fd_cloexec(p, (int)a[0]) ? 1 : 0;
		break;
	case 2: /* F_SETFD */
		fd_set_cloexec(p, (int)a[0], a[2] & 1);
		ret = 0;
		break;
	case 3: /* F_GETFL */
		ret = (long)file->flags;
		break;
	case 4: /* F_SETFL: O_NONBLOCK and O_APPEND may change */
		file->flags = (file->flags & ~(unsigned)(UO_NONBLOCK | UO_APPEND)) |
		              ((unsigned)a[2] & (UO_NONBLOCK | UO_APPEND));
		ret = 0;
		break;
	case 5:
	case 6:
	case 7: /* F_GETLK, F_SETLK, F_SETLKW: nobody else locks */
		ret = 0;
		break;
	}
	file_put(file);
	return ret;
}

/* ---- the working directory, links, access ---- */

long sys_getcwd(SYSCALL_ARGS)
{
	size_t n = strlen(p->cwd) + 1;

	if (a[1] < n)
		return -ERANGE;
	return vm_copy_out(p->mm->as, a[0], p->cwd, n) ? -EFAULT : (long)n;
}

long sys_chdir(SYSCALL_ARGS)
{
	char path[STORE_PATH_MAX];
	struct store_file *file;
	bool is_dir;
	int err;

	if ((err = path_resolve(p, AT_FDCWD, a[0], path, sizeof(path))) ||
	    (err = path_lookup(path, &file, &is_dir)))
		return err;
	store_put(file);
	if (!is_dir)
		return -ENOTDIR;
	strcpy(p->cwd, path);
	return 0;
}

long sys_fchdir(SYSCALL_ARGS)
{
	struct user_file *d = fd_file(p, (int64_t)a[0]);
	long ret = 0;

	if (!d)
		return -EBADF;
	if (d->kind != FK_DIR)
		ret = -ENOTDIR;
	else
		snprintf(p->cwd, sizeof(p->cwd), "%s", d->file ? d->file->path : "/");
	file_put(d);
	return ret;
}

long sys_umask(SYSCALL_ARGS)
{
	uint32_t old = p->umask;

	p->umask = (uint32_t)a[0] & 0777;
	return old;
}

static long do_readlink(struct user_proc *p, int64_t dirfd, uint64_t upath, uint64_t buf,
                        uint64_t size)
{
	char path[STORE_PATH_MAX];
	struct store_file *file;
	bool is_dir;
	size_t n;
	int err;

	if ((err = path_resolve(p, dirfd, upath, path, sizeof(path))))
		return err;
	if (strcmp(path, "/proc/self/exe") != 0) {
		if ((err = path_lookup(path, &file, &is_dir)))
			return err;
		store_put(file);
		return -EINVAL; /* not a symbolic link */
	}
	n = strlen(p->exe);
	if (n > size)
		n = size;
	return vm_copy_out(p->mm->as, buf, p->exe, n) ? -EFAULT : (long)n;
}

long sys_readlinkat(SYSCALL_ARGS)
{
	return do_readlink(p, (int64_t)a[0], a[1], a[2], a[3]);
}

long sys_readlink(SYSCALL_ARGS)
{
	return do_readlink(p, AT_FDCWD, a[0], a[1], a[2]);
}

long sys_faccessat(SYSCALL_ARGS)
{
	char path[STORE_PATH_MAX];
	struct store_file *file;
	bool is_dir;
	int err;

	if ((err = path_resolve(p, (int64_t)a[0], a[1], path, sizeof(path))))
		return err;
	if (strcmp(path, "/dev/null") == 0 || strcmp(path, "/dev/vsock") == 0)
		return 0;
	if ((err = path_lookup(path, &file, &is_dir)))
		return err;
	store_put(file);
	return (a[2] & 2) && !path_writable(path) ? -EROFS : 0; /* W_OK */
}

long sys_access(SYSCALL_ARGS)
{
	const uint64_t b[3] = { (uint64_t)AT_FDCWD, a[0], a[1] };

	return sys_faccessat(p, tf, b);
}
