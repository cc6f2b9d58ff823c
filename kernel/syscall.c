/*
 * syscall.c -- the Linux system-call layer for user processes (user.h),
 * with x86_64 (arch/x86/entry/syscalls/syscall_64.tbl) and aarch64
 * (include/uapi/asm-generic/unistd.h) numbering, Linux errno values and
 * Linux's struct layouts for each architecture.
 *
 * Every pointer from user space is hostile: it is only ever used through
 * vm_copy_in / vm_copy_out / vm_strncpy_in, which check it against the
 * process's page tables.  Files come from the store (read-only); fds 0, 1
 * and 2 are the container's pipes (agent/program.h).  An unknown number
 * gives ENOSYS and one console record per program and number.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/program.h"
#include "include/arch.h"
#include "include/store.h"
#include "kernel/kernel.h"
#include "kernel/sched.h"
#include "kernel/user.h"
#include "kernel/vm.h"

#define AT_FDCWD (-100)
#define AT_EMPTY_PATH 0x1000
#define O_ACCMODE 3
#define O_CREAT 0100
#define O_TRUNC 01000
#define O_APPEND 02000
#define O_CLOEXEC 02000000
#ifdef ARCH_x86_64
#define O_DIRECTORY 0200000
#else
#define O_DIRECTORY 040000
#endif
#define S_IFIFO 0010000
#define S_IFDIR 0040000
#define S_IFREG 0100000
#define PROT_READ 1
#define PROT_WRITE 2
#define PROT_EXEC 4
#define MAP_SHARED 0x01
#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20
#define MAP_FIXED_NOREPLACE 0x100000
#define POLLIN 0x1
#define POLLOUT 0x4
#define POLLNVAL 0x20
#define POLLHUP 0x10
#define MAX_IOV 1024
#define MAX_POLL 64
#define SYSCALL_TRACE 0 /* 1: every call on the console */

/* system calls only x86_64's table has (aarch64 has the *at forms) */
#define X86_ONLY __attribute__((unused))

typedef long (*syscall_fn)(struct user_proc *p, struct trap_frame *f, const uint64_t *a);

/* ---- helpers ---- */

#define O_NONBLOCK 04000
#define PIPE_BYTES (64u << 10)       /* as Linux's default pipe */
#define PIPE_POLL_NS 1000000ull      /* a blocked pipe end looks again this often */

/* `in` made absolute against `base`, with ".", ".." and "//" resolved. */
static int normalise(const char *base, const char *in, char *out, size_t len)
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

/* A user path (relative to dirfd or the cwd) as an absolute path. */
static int resolve(struct user_proc *p, int64_t dirfd, uint64_t upath, char *out, size_t len)
{
	char path[STORE_PATH_MAX];
	const char *base = p->cwd;
	long n = vm_strncpy_in(p->as, path, upath, sizeof(path));

	if (n < 0)
		return (int)n;
	if (n == 0)
		return -ENOENT;
	if (path[0] != '/' && dirfd != AT_FDCWD) {
		struct user_fd *d = fd_get(p, (uint64_t)dirfd);

		if (!d)
			return -EBADF;
		if (d->kind != FD_DIR)
			return -ENOTDIR;
		base = d->file ? d->file->path : "/";
	}
	return normalise(base, path, out, len);
}

/* The store entry at `path`; "/" is a directory the store always has. */
static int lookup(const char *path, struct store_file **out, bool *is_dir)
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

/* ---- I/O ---- */

static long read_stdin(struct user_proc *p, uint64_t buf, uint64_t len)
{
	ssize_t n = prog_read(p->prog, p->iobuf, len < USER_IOBUF ? len : USER_IOBUF);

	if (n < 0)
		return -EINTR;
	if (n > 0 && vm_copy_out(p->as, buf, p->iobuf, (size_t)n))
		return -EFAULT;
	return n;
}

static long read_file(struct user_proc *p, struct user_fd *fd, uint64_t buf, uint64_t len,
		      uint64_t offset, bool advance)
{
	size_t size = fd->file->size;
	uint64_t n;

	if (offset >= size)
		return 0;
	n = size - offset < len ? size - offset : len;
	if (vm_copy_out(p->as, buf, fd->file->data + offset, n))
		return -EFAULT;
	if (advance)
		fd->offset += n;
	return (long)n;
}

/* A pipe of this process: only a signal handler could fill or drain it
 * while we wait, so a blocking end sleeps in short steps until it can go
 * on or a signal comes (as Linux, it may wait for good). */
static long read_pipe(struct user_proc *p, struct user_fd *fd, uint64_t buf, uint64_t len)
{
	struct pipe *pipe = &fd->upipe->pipe;

	for (;;) {
		size_t n = pipe_read(pipe, p->iobuf, len < USER_IOBUF ? len : USER_IOBUF);

		if (n)
			return vm_copy_out(p->as, buf, p->iobuf, n) ? -EFAULT : (long)n;
		if (pipe_write_closed(pipe))
			return 0;
		if (fd->nonblock)
			return -EAGAIN;
		if (prog_sleep(p->prog, PIPE_POLL_NS) == -EINTR || p->pending & ~p->blocked)
			return -EINTR;
	}
}

static long write_pipe(struct user_proc *p, struct user_fd *fd, uint64_t buf, uint64_t len)
{
	struct pipe *pipe = &fd->upipe->pipe;
	uint64_t done = 0;

	while (done < len) {
		size_t chunk = len - done < USER_IOBUF ? len - done : USER_IOBUF, n;

		if (pipe_read_closed(pipe)) {
			user_raise(SIGNAL_PIPE);
			return done ? (long)done : -EPIPE;
		}
		if (pipe_room(pipe) < chunk)
			chunk = pipe_room(pipe);
		if (!chunk) {
			if (fd->nonblock)
				return done ? (long)done : -EAGAIN;
			if (prog_sleep(p->prog, PIPE_POLL_NS) == -EINTR || p->pending & ~p->blocked)
				return done ? (long)done : -EINTR;
			continue;
		}
		if (vm_copy_in(p->as, p->iobuf, buf + done, chunk))
			return done ? (long)done : -EFAULT;
		n = pipe_write(pipe, p->iobuf, chunk);
		done += n;
	}
	return (long)done;
}

static long do_read(struct user_proc *p, uint64_t fdn, uint64_t buf, uint64_t len)
{
	struct user_fd *fd = fd_get(p, fdn);

	if (!fd)
		return -EBADF;
	if (len == 0)
		return 0;
	switch (fd->kind) {
	case FD_STDIN:
		return read_stdin(p, buf, len);
	case FD_FILE:
		return read_file(p, fd, buf, len, fd->offset, true);
	case FD_DIR:
		return -EISDIR;
	case FD_PIPE_R:
		return read_pipe(p, fd, buf, len);
	default:
		return -EBADF;
	}
}

static long do_write(struct user_proc *p, uint64_t fdn, uint64_t buf, uint64_t len)
{
	struct user_fd *fd = fd_get(p, fdn);
	uint64_t done = 0;

	if (!fd)
		return -EBADF;
	if (fd->kind == FD_PIPE_W)
		return write_pipe(p, fd, buf, len);
	if (fd->kind != FD_STDOUT && fd->kind != FD_STDERR)
		return -EBADF;
	while (done < len) {
		size_t chunk = len - done < USER_IOBUF ? len - done : USER_IOBUF;
		int err;

		if (vm_copy_in(p->as, p->iobuf, buf + done, chunk))
			return done ? (long)done : -EFAULT;
		err = prog_write(p->prog, fd->kind == FD_STDERR ? 2 : 1, p->iobuf, chunk);
		if (err == -EPIPE) {
			user_raise(SIGNAL_PIPE);
			return done ? (long)done : -EPIPE;
		}
		if (err)
			return done ? (long)done : -EINTR;
		done += chunk;
	}
	return (long)done;
}

static long sys_read(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	return do_read(p, a[0], a[1], a[2]);
}

static long sys_write(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	return do_write(p, a[0], a[1], a[2]);
}

static long do_iov(struct user_proc *p, const uint64_t *a, bool write)
{
	long total = 0;

	if (a[2] > MAX_IOV)
		return -EINVAL;
	for (uint64_t i = 0; i < a[2]; i++) {
		uint64_t iov[2];
		long n;

		if (vm_copy_in(p->as, iov, a[1] + 16 * i, sizeof(iov)))
			return total ? total : -EFAULT;
		if (!iov[1])
			continue;
		n = write ? do_write(p, a[0], iov[0], iov[1]) : do_read(p, a[0], iov[0], iov[1]);
		if (n < 0)
			return total ? total : n;
		total += n;
		if ((uint64_t)n < iov[1])
			break;
	}
	return total;
}

static long sys_readv(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	return do_iov(p, a, false);
}

static long sys_writev(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	return do_iov(p, a, true);
}

static long sys_pread64(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	struct user_fd *fd = fd_get(p, a[0]);

	if (!fd)
		return -EBADF;
	if (fd->kind != FD_FILE)
		return fd->kind == FD_DIR ? -EISDIR : -ESPIPE;
	return read_file(p, fd, a[1], a[2], a[3], false);
}

static long sys_lseek(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	struct user_fd *fd = fd_get(p, a[0]);
	int64_t off = (int64_t)a[1], base;

	if (!fd)
		return -EBADF;
	if (fd->kind == FD_DIR && off == 0 && a[2] == 0)
		return (long)(fd->offset = 0);
	if (fd->kind != FD_FILE)
		return -ESPIPE;
	switch (a[2]) {
	case 0: base = 0; break;
	case 1: base = (int64_t)fd->offset; break;
	case 2: base = (int64_t)fd->file->size; break;
	default: return -EINVAL;
	}
	if (base + off < 0)
		return -EINVAL;
	fd->offset = (uint64_t)(base + off);
	return (long)fd->offset;
}

static long sys_close(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	struct user_fd *fd = fd_get(p, a[0]);

	if (!fd)
		return -EBADF;
	fd_release(fd);
	return 0;
}

static long do_openat(struct user_proc *p, int64_t dirfd, uint64_t upath, uint64_t flags)
{
	char path[STORE_PATH_MAX];
	struct store_file *file;
	bool is_dir;
	int fdn, err;

	if ((err = resolve(p, dirfd, upath, path, sizeof(path))))
		return err;
	if ((err = lookup(path, &file, &is_dir)))
		return (flags & O_CREAT) ? -EROFS : err;
	if ((flags & O_ACCMODE) != 0 || (flags & (O_TRUNC | O_APPEND))) {
		store_put(file);
		return is_dir ? -EISDIR : -EROFS; /* the store is read-only here */
	}
	if ((flags & O_DIRECTORY) && !is_dir) {
		store_put(file);
		return -ENOTDIR;
	}
	if ((fdn = fd_alloc(p, 0)) < 0) {
		store_put(file);
		return fdn;
	}
	p->fds[fdn] = (struct user_fd){ .kind = is_dir ? FD_DIR : FD_FILE,
					.cloexec = (flags & O_CLOEXEC) != 0, .file = file };
	return fdn;
}

static long sys_openat(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	return do_openat(p, (int64_t)a[0], a[1], a[2]);
}

X86_ONLY static long sys_open(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	return do_openat(p, AT_FDCWD, a[0], a[1]);
}

static long sys_pipe2(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	struct user_pipe *up;
	int32_t fds[2];
	int r, w;

	if (a[1] & ~(uint64_t)(O_NONBLOCK | O_CLOEXEC))
		return -EINVAL;
	if ((r = fd_alloc(p, 0)) < 0)
		return r;
	p->fds[r].kind = FD_PIPE_R; /* held while the second is found */
	w = fd_alloc(p, 0);
	p->fds[r].kind = FD_NONE;
	if (w < 0)
		return w;
	if (!(up = calloc(1, sizeof(*up))) || pipe_init(&up->pipe, PIPE_BYTES)) {
		free(up);
		return -ENFILE;
	}
	fds[0] = r;
	fds[1] = w;
	if (vm_copy_out(p->as, a[0], fds, sizeof(fds))) {
		pipe_destroy(&up->pipe);
		free(up);
		return -EFAULT;
	}
	up->readers = up->writers = 1;
	p->fds[r] = (struct user_fd){ .kind = FD_PIPE_R, .cloexec = a[1] & O_CLOEXEC,
				       .nonblock = a[1] & O_NONBLOCK, .upipe = up };
	p->fds[w] = (struct user_fd){ .kind = FD_PIPE_W, .cloexec = a[1] & O_CLOEXEC,
				       .nonblock = a[1] & O_NONBLOCK, .upipe = up };
	return 0;
}

X86_ONLY static long sys_pipe(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	const uint64_t b[2] = { a[0], 0 };

	return sys_pipe2(p, f, b);
}

/* ---- stat ---- */

struct kstat {
	uint64_t ino, size;
	uint32_t mode, nlink;
};

static void stat_of(const struct user_fd *fd, const struct store_file *file, bool is_dir,
		    struct kstat *k)
{
	memset(k, 0, sizeof(*k));
	k->nlink = 1;
	if (fd && (fd->kind == FD_STDIN || fd->kind == FD_STDOUT || fd->kind == FD_STDERR ||
		   fd->kind == FD_PIPE_R || fd->kind == FD_PIPE_W)) {
		k->mode = S_IFIFO | 0600;
		k->ino = 1 + (uint64_t)fd->kind;
		return;
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
	return vm_copy_out(p->as, ubuf, st, len) ? -EFAULT : 0;
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

		if (vm_copy_in(p->as, &c, upath, 1))
			return -EFAULT;
		if (c == '\0') {
			struct user_fd *fd = dirfd == AT_FDCWD ? NULL : fd_get(p, (uint64_t)dirfd);

			if (!fd)
				return -EBADF;
			stat_of(fd, fd->file, fd->kind == FD_DIR, k);
			return 0;
		}
	}
	if ((err = resolve(p, dirfd, upath, path, sizeof(path))) ||
	    (err = lookup(path, &file, &is_dir)))
		return err;
	stat_of(NULL, file, is_dir, k);
	store_put(file);
	return 0;
}

static long sys_fstat(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	struct user_fd *fd = fd_get(p, a[0]);
	struct kstat k;

	if (!fd)
		return -EBADF;
	stat_of(fd, fd->file, fd->kind == FD_DIR, &k);
	return put_stat(p, a[1], &k);
}

static long sys_newfstatat(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	struct kstat k;
	long err = stat_path(p, (int64_t)a[0], a[1], a[3], &k);

	return err ? err : put_stat(p, a[2], &k);
}

X86_ONLY static long sys_stat(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	struct kstat k;
	long err = stat_path(p, AT_FDCWD, a[0], 0, &k);

	return err ? err : put_stat(p, a[1], &k);
}

static long sys_statx(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
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
	return vm_copy_out(p->as, a[4], sx, sizeof(sx)) ? -EFAULT : 0;
}

static long sys_getdents64(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	struct user_fd *fd = fd_get(p, a[0]);
	uint64_t out = 0;

	if (!fd)
		return -EBADF;
	if (fd->kind != FD_DIR)
		return -ENOTDIR;
	for (;;) {
		char name[STORE_PATH_MAX];
		uint8_t rec[24 + STORE_PATH_MAX];
		bool is_dir = true;
		uint16_t reclen;
		uint64_t ino = fd->offset + 1;
		int64_t next = (int64_t)fd->offset + 1;

		if (fd->offset < 2)
			strcpy(name, fd->offset ? ".." : ".");
		else if (!store_list(fd->file ? fd->file->path : "/", (unsigned)fd->offset - 2, name,
				     sizeof(name), &is_dir))
			break;
		reclen = (uint16_t)((19 + strlen(name) + 1 + 7) & ~7u);
		if (out + reclen > a[2])
			return out ? (long)out : -EINVAL;
		memset(rec, 0, reclen);
		memcpy(rec, &ino, 8);
		memcpy(rec + 8, &next, 8);
		memcpy(rec + 16, &reclen, 2);
		rec[18] = is_dir ? 4 : 8; /* DT_DIR, DT_REG */
		strcpy((char *)rec + 19, name);
		if (vm_copy_out(p->as, a[1] + out, rec, reclen))
			return -EFAULT;
		out += reclen;
		fd->offset++;
	}
	return (long)out;
}

static long sys_ioctl(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	/* no terminals: TCGETS, TIOCGWINSZ and the rest */
	return fd_get(p, a[0]) ? -ENOTTY : -EBADF;
}

static long do_dup(struct user_proc *p, uint64_t old, int64_t to, bool cloexec)
{
	struct user_fd *fd = fd_get(p, old);
	int n;

	if (!fd)
		return -EBADF;
	if (to < 0) {
		if ((n = fd_alloc(p, (int)-to - 1)) < 0)
			return n;
	} else {
		if (to >= USER_MAX_FDS)
			return -EBADF;
		n = (int)to;
		if ((uint64_t)n == old)
			return n;
		if (p->fds[n].kind != FD_NONE)
			fd_release(&p->fds[n]);
	}
	p->fds[n] = *fd;
	p->fds[n].cloexec = cloexec;
	if (fd->file)
		fd->file->refs++; /* under no lock: only this task touches its own fds' files */
	if (fd->kind == FD_PIPE_R)
		fd->upipe->readers++;
	if (fd->kind == FD_PIPE_W)
		fd->upipe->writers++;
	return n;
}

static long sys_dup(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	return do_dup(p, a[0], -1, false);
}

X86_ONLY static long sys_dup2(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	return fd_get(p, a[0]) ? do_dup(p, a[0], (int64_t)a[1], false) : -EBADF;
}

static long sys_dup3(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	if (a[0] == a[1])
		return -EINVAL;
	return do_dup(p, a[0], (int64_t)a[1], a[2] & O_CLOEXEC);
}

static long sys_fcntl(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	struct user_fd *fd = fd_get(p, a[0]);

	if (!fd)
		return -EBADF;
	switch (a[1]) {
	case 0: /* F_DUPFD */
		return do_dup(p, a[0], -(int64_t)a[2] - 1, false);
	case 1030: /* F_DUPFD_CLOEXEC */
		return do_dup(p, a[0], -(int64_t)a[2] - 1, true);
	case 1: /* F_GETFD */
		return fd->cloexec ? 1 : 0;
	case 2: /* F_SETFD */
		fd->cloexec = a[2] & 1;
		return 0;
	case 3: /* F_GETFL */
		return (fd->kind == FD_STDOUT || fd->kind == FD_STDERR || fd->kind == FD_PIPE_W ?
				1 : 0) | (fd->nonblock ? O_NONBLOCK : 0);
	case 4: /* F_SETFL */
		fd->nonblock = a[2] & O_NONBLOCK;
		return 0;
	}
	return -EINVAL;
}

static bool poll_ready(struct user_proc *p, int64_t fdn, int16_t events, int16_t *revents)
{
	struct user_fd *fd = fdn < 0 ? NULL : fd_get(p, (uint64_t)fdn);

	*revents = 0;
	if (fdn < 0)
		return false;
	if (!fd) {
		*revents = POLLNVAL;
		return true;
	}
	switch (fd->kind) {
	case FD_STDIN:
		if (pipe_readable(&p->prog->in) || pipe_write_closed(&p->prog->in))
			*revents = events & POLLIN;
		if (pipe_write_closed(&p->prog->in) && !pipe_readable(&p->prog->in))
			*revents |= POLLHUP;
		break;
	case FD_STDOUT:
	case FD_STDERR: {
		struct pipe *pipe = fd->kind == FD_STDERR ? &p->prog->err : &p->prog->out;

		if (pipe_room(pipe))
			*revents = events & POLLOUT;
		if (pipe_read_closed(pipe))
			*revents |= 0x8; /* POLLERR */
		break;
	}
	case FD_PIPE_R:
		if (pipe_readable(&fd->upipe->pipe) || pipe_write_closed(&fd->upipe->pipe))
			*revents = events & POLLIN;
		if (pipe_write_closed(&fd->upipe->pipe) && !pipe_readable(&fd->upipe->pipe))
			*revents |= POLLHUP;
		break;
	case FD_PIPE_W:
		if (pipe_room(&fd->upipe->pipe))
			*revents = events & POLLOUT;
		if (pipe_read_closed(&fd->upipe->pipe))
			*revents |= 0x8; /* POLLERR */
		break;
	default:
		*revents = events & (POLLIN | POLLOUT);
	}
	return *revents != 0;
}

/* poll/ppoll: pipes are checked every millisecond until ready, the
 * timeout (ns, UINT64_MAX: none) or a stop request. */
static long do_poll(struct user_proc *p, uint64_t ufds, uint64_t nfds, uint64_t timeout_ns)
{
	uint8_t fds[MAX_POLL * 8];
	uint64_t deadline = timeout_ns == UINT64_MAX ? UINT64_MAX : arch_clock_ns() + timeout_ns;

	if (nfds > MAX_POLL)
		return -EINVAL;
	if (vm_copy_in(p->as, fds, ufds, nfds * 8))
		return -EFAULT;
	for (;;) {
		long ready = 0;

		for (uint64_t i = 0; i < nfds; i++) {
			int32_t fd;
			int16_t events, revents;

			memcpy(&fd, fds + 8 * i, 4);
			memcpy(&events, fds + 8 * i + 4, 2);
			ready += poll_ready(p, fd, events, &revents);
			memcpy(fds + 8 * i + 6, &revents, 2);
		}
		if (ready || arch_clock_ns() >= deadline) {
			if (vm_copy_out(p->as, ufds, fds, nfds * 8))
				return -EFAULT;
			return ready;
		}
		if (prog_sleep(p->prog, 1000000) == -EINTR)
			return -EINTR;
	}
}

X86_ONLY static long sys_poll(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	int64_t ms = (int32_t)a[2];

	return do_poll(p, a[0], a[1], ms < 0 ? UINT64_MAX : (uint64_t)ms * 1000000);
}

static long sys_ppoll(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	int64_t ts[2];

	if (!a[2])
		return do_poll(p, a[0], a[1], UINT64_MAX);
	if (vm_copy_in(p->as, ts, a[2], sizeof(ts)))
		return -EFAULT;
	if (ts[0] < 0 || ts[1] < 0 || ts[1] >= 1000000000)
		return -EINVAL;
	return do_poll(p, a[0], a[1], (uint64_t)ts[0] * 1000000000 + (uint64_t)ts[1]);
}

/* ---- memory ---- */

static uint64_t page_up(uint64_t x)
{
	return (x + VM_PAGE - 1) & ~(VM_PAGE - 1);
}

static long sys_brk(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	uint64_t want = a[0], old_end = page_up(p->brk), new_end = page_up(want);

	if (want < p->brk_start || want > p->brk_max)
		return (long)p->brk;
	if (new_end > old_end && vm_map_anon(p->as, old_end, new_end - old_end,
					     VM_READ | VM_WRITE) != 0)
		return (long)p->brk; /* Linux: the old break means ENOMEM */
	if (new_end < old_end)
		vm_unmap(p->as, new_end, old_end - new_end);
	p->brk = want;
	return (long)p->brk;
}

static unsigned prot_of(uint64_t prot)
{
	return VM_READ | (prot & PROT_WRITE ? VM_WRITE : 0) | (prot & PROT_EXEC ? VM_EXEC : 0);
}

static long sys_mmap(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	uint64_t len = page_up(a[1]), va, flags = a[3];
	struct user_fd *fd = NULL;
	int err;

	if (!a[1] || len < a[1] || (a[5] & (VM_PAGE - 1)))
		return -EINVAL;
	if (!(flags & MAP_ANONYMOUS)) {
		if (!(fd = fd_get(p, a[4])))
			return -EBADF;
		if (fd->kind != FD_FILE)
			return -ENODEV;
		if ((flags & MAP_SHARED) && (a[2] & PROT_WRITE))
			return -EACCES; /* read-only files */
	}
	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
		va = a[0];
		if (va & (VM_PAGE - 1))
			return -EINVAL;
		if ((flags & MAP_FIXED_NOREPLACE) && vm_any_mapped(p->as, va, len))
			return -EEXIST;
		vm_unmap(p->as, va, len);
	} else {
		if (len > p->mmap_next - VM_KERNEL_END)
			return -ENOMEM;
		va = p->mmap_next - len;
	}
	if (a[2] == 0) { /* PROT_NONE: address space only */
		if (!(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)))
			p->mmap_next = va;
		return (long)va;
	}
	if ((err = vm_map_anon(p->as, va, len, prot_of(a[2]))))
		return err;
	if (!(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)))
		p->mmap_next = va;
	if (fd && a[5] < fd->file->size) {
		uint64_t n = fd->file->size - a[5] < a[1] ? fd->file->size - a[5] : a[1];

		vm_poke(p->as, va, fd->file->data + a[5], n);
	}
	return (long)va;
}

static bool user_span(uint64_t va, uint64_t len)
{
	return !(va & (VM_PAGE - 1)) && va + len >= va &&
	       ((va >= VM_USER_WINDOW_START && va + len <= VM_USER_WINDOW_END) ||
		(va >= VM_KERNEL_END && va + len <= VM_USER_END));
}

static long sys_munmap(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	if (!a[1] || !user_span(a[0], page_up(a[1])))
		return -EINVAL;
	vm_unmap(p->as, a[0], page_up(a[1]));
	return 0;
}

/* PROT_NONE unmaps (its pages' contents are lost); a page not mapped in
 * the range is mapped afresh (memory reserved with PROT_NONE). */
static long sys_mprotect(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	uint64_t len = page_up(a[1]);

	if (!user_span(a[0], len))
		return -EINVAL;
	if (a[2] == 0) {
		vm_unmap(p->as, a[0], len);
		return 0;
	}
	for (uint64_t va = a[0]; va < a[0] + len; va += VM_PAGE) {
		if (vm_any_mapped(p->as, va, VM_PAGE)) {
			if (vm_protect(p->as, va, VM_PAGE, prot_of(a[2])))
				return -ENOMEM;
		} else if (vm_map_anon(p->as, va, VM_PAGE, prot_of(a[2])))
			return -ENOMEM;
	}
	return 0;
}

static long sys_zero(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	return 0;
}

static long sys_enomem(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	return -ENOMEM;
}

/* ---- process ---- */

static long sys_exit(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	user_exit((int)a[0]);
}

static long sys_getpid(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	return 1; /* each container is its own pid namespace; the program is its init */
}

static long sys_getppid(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	return 0;
}

static long sys_uname(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	char u[6][65];

	memset(u, 0, sizeof(u));
	strcpy(u[0], "Linux");
	strcpy(u[1], "vsock-agent");
	strcpy(u[2], "6.1.0-vsock-agent");
	strcpy(u[3], "#1 SMP");
	strcpy(u[4], ARCH_NAME);
	strcpy(u[5], "(none)");
	return vm_copy_out(p->as, a[0], u, sizeof(u)) ? -EFAULT : 0;
}

X86_ONLY static long sys_arch_prctl(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	uint64_t v;

	switch (a[0]) {
	case 0x1002: /* ARCH_SET_FS */
		if (a[1] >= VM_USER_END)
			return -EPERM;
		arch_user_tls_set(a[1]);
		return 0;
	case 0x1003: /* ARCH_GET_FS */
		v = arch_user_tls_get();
		return vm_copy_out(p->as, a[1], &v, 8) ? -EFAULT : 0;
	}
	return -EINVAL;
}

static long sys_set_tid_address(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	p->clear_tid = a[0];
	return 1;
}

static long sys_enosys_quiet(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	return -ENOSYS; /* rseq: glibc carries on without it */
}

static long put_rlimit(struct user_proc *p, uint64_t res, uint64_t uold)
{
	uint64_t lim[2] = { UINT64_MAX, UINT64_MAX };

	if (res >= 16)
		return -EINVAL;
	if (res == 3) /* RLIMIT_STACK */
		lim[0] = lim[1] = 8ull << 20;
	else if (res == 7) /* RLIMIT_NOFILE */
		lim[0] = lim[1] = USER_MAX_FDS;
	return uold && vm_copy_out(p->as, uold, lim, sizeof(lim)) ? -EFAULT : 0;
}

static long sys_prlimit64(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	if (a[0] != 0 && a[0] != 1)
		return -ESRCH;
	return put_rlimit(p, a[1], a[3]);
}

static long sys_getrlimit(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	return put_rlimit(p, a[0], a[1]);
}

static long sys_getrandom(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	uint64_t done = 0, len = a[1] > (1u << 20) ? 1u << 20 : a[1];

	while (done < len) {
		size_t n = len - done < USER_IOBUF ? len - done : USER_IOBUF;

		user_entropy(p->iobuf, n);
		if (vm_copy_out(p->as, a[0] + done, p->iobuf, n))
			return done ? (long)done : -EFAULT;
		done += n;
	}
	return (long)done;
}

static long sys_getcwd(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	size_t n = strlen(p->cwd) + 1;

	if (a[1] < n)
		return -ERANGE;
	return vm_copy_out(p->as, a[0], p->cwd, n) ? -EFAULT : (long)n;
}

static long sys_chdir(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	char path[STORE_PATH_MAX];
	struct store_file *file;
	bool is_dir;
	int err;

	if ((err = resolve(p, AT_FDCWD, a[0], path, sizeof(path))) ||
	    (err = lookup(path, &file, &is_dir)))
		return err;
	store_put(file);
	if (!is_dir)
		return -ENOTDIR;
	strcpy(p->cwd, path);
	return 0;
}

static long do_readlink(struct user_proc *p, int64_t dirfd, uint64_t upath, uint64_t buf,
			uint64_t size)
{
	char path[STORE_PATH_MAX];
	struct store_file *file;
	bool is_dir;
	size_t n;
	int err;

	if ((err = resolve(p, dirfd, upath, path, sizeof(path))))
		return err;
	if (strcmp(path, "/proc/self/exe") != 0) {
		if ((err = lookup(path, &file, &is_dir)))
			return err;
		store_put(file);
		return -EINVAL; /* not a symbolic link */
	}
	n = strlen(p->exe);
	if (n > size)
		n = size;
	return vm_copy_out(p->as, buf, p->exe, n) ? -EFAULT : (long)n;
}

static long sys_readlinkat(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	return do_readlink(p, (int64_t)a[0], a[1], a[2], a[3]);
}

X86_ONLY static long sys_readlink(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	return do_readlink(p, AT_FDCWD, a[0], a[1], a[2]);
}

static long sys_sysinfo(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	uint8_t si[112] = { 0 };
	uint64_t uptime = arch_clock_ns() / 1000000000, total = vm_pages_total() * VM_PAGE,
		 free_bytes = vm_pages_free() * VM_PAGE;
	uint16_t procs = (uint16_t)sched_task_count();
	uint32_t unit = 1;

	memcpy(si + 0, &uptime, 8);
	memcpy(si + 32, &total, 8);
	memcpy(si + 40, &free_bytes, 8);
	memcpy(si + 80, &procs, 2);
	memcpy(si + 104, &unit, 4);
	return vm_copy_out(p->as, a[0], si, sizeof(si)) ? -EFAULT : 0;
}

static long sys_sched_yield(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	sched_yield();
	return 0;
}

static long sys_wait4(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	return -ECHILD; /* no fork: never a child */
}

static long sys_umask(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	return 022;
}

static long sys_sched_getaffinity(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	uint64_t mask = 1;

	if (a[1] < 8)
		return -EINVAL;
	return vm_copy_out(p->as, a[2], &mask, 8) ? -EFAULT : 8;
}

static long sys_faccessat(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	char path[STORE_PATH_MAX];
	struct store_file *file;
	bool is_dir;
	int err;

	if ((err = resolve(p, (int64_t)a[0], a[1], path, sizeof(path))) ||
	    (err = lookup(path, &file, &is_dir)))
		return err;
	store_put(file);
	return (a[2] & 2) ? -EROFS : 0; /* W_OK */
}

X86_ONLY static long sys_access(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	const uint64_t b[3] = { (uint64_t)AT_FDCWD, a[0], a[1] };

	return sys_faccessat(p, f, b);
}

/* ---- time ---- */

static uint64_t wall_clock_ns; /* Unix time at the image's entry (RTC), 0: unknown */

void syscall_set_wall_clock(uint64_t epoch_seconds_at_entry)
{
	wall_clock_ns = epoch_seconds_at_entry * 1000000000ull;
}

static long get_clock(uint64_t clock, uint64_t *ns)
{
	switch (clock) {
	case 0: case 5: /* CLOCK_REALTIME(_COARSE): the RTC at entry + time since */
		*ns = wall_clock_ns + arch_clock_since_entry_ns();
		return 0;
	case 1: case 4: case 6: case 7: /* monotonic, raw, coarse, boottime */
		*ns = arch_clock_ns();
		return 0;
	case 2: case 3: /* process / thread CPU time */
		*ns = sched_current()->run_ns;
		return 0;
	}
	return -EINVAL;
}

static long sys_clock_gettime(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	uint64_t ns, ts[2];
	long err = get_clock(a[0], &ns);

	if (err)
		return err;
	ts[0] = ns / 1000000000;
	ts[1] = ns % 1000000000;
	return vm_copy_out(p->as, a[1], ts, sizeof(ts)) ? -EFAULT : 0;
}

static long sys_clock_getres(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	uint64_t ns, ts[2] = { 0, 1 };
	long err = get_clock(a[0], &ns);

	if (err)
		return err;
	return a[1] && vm_copy_out(p->as, a[1], ts, sizeof(ts)) ? -EFAULT : 0;
}

static long sys_gettimeofday(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	uint64_t ns = wall_clock_ns + arch_clock_since_entry_ns();
	uint64_t tv[2] = { ns / 1000000000, ns % 1000000000 / 1000 };

	return a[0] && vm_copy_out(p->as, a[0], tv, sizeof(tv)) ? -EFAULT : 0;
}

X86_ONLY static long sys_time(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	uint64_t t = (wall_clock_ns + arch_clock_since_entry_ns()) / 1000000000;

	return a[0] && vm_copy_out(p->as, a[0], &t, 8) ? -EFAULT : (long)t;
}

static long do_sleep(struct user_proc *p, uint64_t ureq, uint64_t urem, bool absolute)
{
	int64_t ts[2];
	uint64_t ns, end, now = arch_clock_ns();

	if (vm_copy_in(p->as, ts, ureq, sizeof(ts)))
		return -EFAULT;
	if (ts[0] < 0 || ts[1] < 0 || ts[1] >= 1000000000)
		return -EINVAL;
	ns = (uint64_t)ts[0] * 1000000000 + (uint64_t)ts[1];
	end = absolute ? ns : now + ns;
	if (end <= now)
		return 0;
	if (prog_sleep(p->prog, end - now) == -EINTR) {
		uint64_t left = end > arch_clock_ns() ? end - arch_clock_ns() : 0;
		int64_t rem[2] = { (int64_t)(left / 1000000000), (int64_t)(left % 1000000000) };

		if (urem && !absolute)
			vm_copy_out(p->as, urem, rem, sizeof(rem));
		return -EINTR;
	}
	return 0;
}

static long sys_nanosleep(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	return do_sleep(p, a[0], a[1], false);
}

static long sys_clock_nanosleep(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	uint64_t ns;
	long err = get_clock(a[0], &ns);

	if (err)
		return err;
	return do_sleep(p, a[2], a[3], a[1] & 1);
}

static long sys_times(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	uint64_t ticks = sched_current()->run_ns / 10000000, t[4] = { ticks, 0, 0, 0 };

	if (a[0] && vm_copy_out(p->as, a[0], t, sizeof(t)))
		return -EFAULT;
	return (long)(arch_clock_ns() / 10000000);
}

/* ---- signals ---- */

static long sys_rt_sigaction(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	uint64_t sig = a[0], act[4];
	struct user_sigaction *s;

	if (sig == 0 || sig > SIGNAL_MAX || a[3] != 8)
		return -EINVAL;
	s = &p->actions[sig];
	if (a[2]) {
		uint64_t old[4] = { s->handler, s->flags, s->restorer, s->mask };

		if (vm_copy_out(p->as, a[2], old, sizeof(old)))
			return -EFAULT;
	}
	if (!a[1])
		return 0;
	if (sig == SIGNAL_KILL || sig == 19 /* SIGSTOP */)
		return -EINVAL;
	if (vm_copy_in(p->as, act, a[1], sizeof(act)))
		return -EFAULT;
	*s = (struct user_sigaction){ act[0], act[1], act[2], act[3] };
	return 0;
}

static long sys_rt_sigprocmask(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	uint64_t set, old = p->blocked, never = (1ull << (SIGNAL_KILL - 1)) | (1ull << 18);

	if (a[3] != 8)
		return -EINVAL;
	if (a[1]) {
		if (vm_copy_in(p->as, &set, a[1], 8))
			return -EFAULT;
		switch (a[0]) {
		case 0: p->blocked |= set; break;
		case 1: p->blocked &= ~set; break;
		case 2: p->blocked = set; break;
		default: return -EINVAL;
		}
		p->blocked &= ~never;
	}
	return a[2] && vm_copy_out(p->as, a[2], &old, 8) ? -EFAULT : 0;
}

static long sys_sigaltstack(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	uint64_t ss[3], old[3] = { p->altstack_sp, p->altstack_flags, p->altstack_size };

	if (a[1] && vm_copy_out(p->as, a[1], old, sizeof(old)))
		return -EFAULT;
	if (!a[0])
		return 0;
	if (vm_copy_in(p->as, ss, a[0], sizeof(ss)))
		return -EFAULT;
	p->altstack_sp = ss[0];
	p->altstack_flags = (uint32_t)ss[1] & 2; /* SS_DISABLE */
	p->altstack_size = ss[2];
	return 0;
}

static long sys_kill(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	int64_t pid = (int64_t)a[0];

	if (a[1] > SIGNAL_MAX)
		return -EINVAL;
	if (pid != 1 && pid != 0 && pid != -1)
		return -ESRCH; /* only itself in its container */
	if (a[1])
		user_raise((int)a[1]);
	return 0;
}

static long sys_tgkill(struct user_proc *p, struct trap_frame *f, const uint64_t *a)
{
	const uint64_t b[2] = { a[1], a[2] };

	if (a[0] != 1)
		return -ESRCH;
	return sys_kill(p, f, b);
}

/* ---- the tables ---- */

enum { NR_SIGRETURN = -2 };

struct syscall_entry {
	const char *name;  /* for the ENOSYS record and reports */
	syscall_fn fn;     /* NULL: rt_sigreturn, handled apart */
};

#define S(fn) { #fn, sys_##fn }
#ifdef ARCH_x86_64
static const struct syscall_entry table[] = {
	[0] = S(read), [1] = S(write), [2] = S(open), [3] = S(close), [4] = S(stat),
	[5] = S(fstat), [6] = S(stat), [7] = S(poll), [8] = S(lseek), [9] = S(mmap),
	[10] = S(mprotect), [11] = S(munmap), [12] = S(brk), [13] = S(rt_sigaction),
	[14] = S(rt_sigprocmask), [15] = { "rt_sigreturn", NULL }, [16] = S(ioctl),
	[17] = S(pread64), [19] = S(readv), [20] = S(writev), [21] = S(access), [22] = S(pipe),
	[24] = S(sched_yield), [25] = { "mremap", sys_enomem }, [28] = { "madvise", sys_zero },
	[32] = S(dup), [33] = S(dup2), [35] = S(nanosleep), [39] = S(getpid),
	[60] = S(exit), [61] = S(wait4), [62] = S(kill), [63] = S(uname), [72] = S(fcntl),
	[79] = S(getcwd), [80] = S(chdir), [89] = S(readlink), [95] = S(umask),
	[96] = S(gettimeofday), [97] = S(getrlimit), [99] = S(sysinfo), [100] = S(times),
	[102] = { "getuid", sys_zero }, [104] = { "getgid", sys_zero },
	[107] = { "geteuid", sys_zero }, [108] = { "getegid", sys_zero },
	[110] = S(getppid), [111] = { "getpgrp", sys_getpid }, [131] = S(sigaltstack),
	[158] = S(arch_prctl), [186] = { "gettid", sys_getpid }, [201] = S(time),
	[204] = S(sched_getaffinity), [217] = S(getdents64), [218] = S(set_tid_address),
	[221] = { "fadvise64", sys_zero }, [228] = S(clock_gettime), [229] = S(clock_getres),
	[230] = S(clock_nanosleep), [231] = { "exit_group", sys_exit }, [234] = S(tgkill),
	[257] = S(openat), [262] = S(newfstatat), [267] = S(readlinkat), [269] = S(faccessat),
	[271] = S(ppoll), [273] = { "set_robust_list", sys_zero }, [292] = S(dup3), [293] = S(pipe2),
	[302] = S(prlimit64), [318] = S(getrandom), [332] = S(statx),
	[334] = { "rseq", sys_enosys_quiet }, [439] = { "faccessat2", sys_faccessat },
};
#else
static const struct syscall_entry table[] = {
	[17] = S(getcwd), [23] = S(dup), [24] = S(dup3), [25] = S(fcntl), [29] = S(ioctl),
	[48] = S(faccessat), [49] = S(chdir), [56] = S(openat), [57] = S(close), [59] = S(pipe2),
	[61] = S(getdents64), [62] = S(lseek), [63] = S(read), [64] = S(write),
	[65] = S(readv), [66] = S(writev), [67] = S(pread64), [73] = S(ppoll),
	[78] = S(readlinkat), [79] = S(newfstatat), [80] = S(fstat), [93] = S(exit),
	[94] = { "exit_group", sys_exit }, [96] = S(set_tid_address),
	[99] = { "set_robust_list", sys_zero }, [101] = S(nanosleep),
	[113] = S(clock_gettime), [114] = S(clock_getres), [115] = S(clock_nanosleep),
	[123] = S(sched_getaffinity), [124] = S(sched_yield), [129] = S(kill),
	[131] = S(tgkill), [132] = S(sigaltstack), [134] = S(rt_sigaction),
	[135] = S(rt_sigprocmask), [139] = { "rt_sigreturn", NULL }, [153] = S(times),
	[155] = { "getpgid", sys_getpid }, [160] = S(uname), [163] = S(getrlimit),
	[166] = S(umask), [169] = S(gettimeofday), [172] = S(getpid), [173] = S(getppid),
	[174] = { "getuid", sys_zero }, [175] = { "geteuid", sys_zero },
	[176] = { "getgid", sys_zero }, [177] = { "getegid", sys_zero },
	[178] = { "gettid", sys_getpid }, [179] = S(sysinfo), [214] = S(brk),
	[215] = S(munmap), [216] = { "mremap", sys_enomem }, [222] = S(mmap),
	[223] = { "fadvise64", sys_zero }, [226] = S(mprotect), [233] = { "madvise", sys_zero },
	[260] = S(wait4), [261] = S(prlimit64), [278] = S(getrandom), [291] = S(statx),
	[293] = { "rseq", sys_enosys_quiet }, [439] = { "faccessat2", sys_faccessat },
};
#endif
#undef S

/*
 * Linux's errno numbers (include/uapi/asm-generic/errno-base.h, errno.h).
 * The kernel is built against newlib's <errno.h>, which agrees with Linux
 * up to ERANGE (34) and numbers the rest its own way: results leave
 * through linux_errno().
 */
#define LINUX_ENAMETOOLONG 36
#define LINUX_ENOSYS 38
_Static_assert(EPERM == 1 && ENOENT == 2 && ESRCH == 3 && EINTR == 4 && E2BIG == 7 &&
	       ENOEXEC == 8 && EBADF == 9 && ECHILD == 10 && EAGAIN == 11 && ENOMEM == 12 &&
	       EACCES == 13 && EFAULT == 14 && EEXIST == 17 && ENODEV == 19 && ENOTDIR == 20 &&
	       EISDIR == 21 && EINVAL == 22 && ENFILE == 23 && EMFILE == 24 && ENOTTY == 25 &&
	       ENOSPC == 28 && ESPIPE == 29 && EROFS == 30 && EPIPE == 32 && ERANGE == 34,
	       "these errno values are Linux's as they are");

static long linux_errno(long ret)
{
	if (ret >= 0 || ret < -4095)
		return ret;
	switch (-ret) {
	case ENOSYS: return -LINUX_ENOSYS;
	case ENAMETOOLONG: return -LINUX_ENAMETOOLONG;
	}
	return -ret <= ERANGE ? ret : -EINVAL; /* nothing else is returned; never a wrong code */
}

static long unimplemented(struct user_proc *p, uint64_t nr)
{
	for (unsigned i = 0; i < p->n_enosys; i++)
		if (p->enosys[i] == nr)
			return -ENOSYS;
	if (p->n_enosys < sizeof(p->enosys) / sizeof(p->enosys[0]))
		p->enosys[p->n_enosys++] = (uint16_t)nr;
	kprintf("user: %s: system call %llu is not implemented (ENOSYS)\n", p->exe,
		(unsigned long long)nr);
	return -ENOSYS;
}

void syscall_dispatch(struct trap_frame *f)
{
	struct user_proc *p = user_current();
	uint64_t nr = arch_syscall_number(f), a[6];
	long ret;

	for (unsigned i = 0; i < 6; i++)
		a[i] = arch_syscall_arg(f, i);
	if (nr < sizeof(table) / sizeof(table[0]) && table[nr].name && !table[nr].fn) {
		user_sigreturn(f); /* the restored frame keeps its return register */
		return;
	}
	if (nr < sizeof(table) / sizeof(table[0]) && table[nr].fn)
		ret = table[nr].fn(p, f, a);
	else
		ret = unimplemented(p, nr);
	ret = linux_errno(ret);
	arch_syscall_set_return(f, (uint64_t)ret);
	if (SYSCALL_TRACE)
		kprintf("trace: %llu(%llx, %llx, %llx, %llx) = %lx\n", (unsigned long long)nr,
			(unsigned long long)a[0], (unsigned long long)a[1], (unsigned long long)a[2],
			(unsigned long long)a[3], ret);
}
