/*
 * fd.c -- a user process's file descriptors (user.h): lookup, allocation
 * and release (a store file's reference, a pipe end), and the table a
 * process starts and ends with.  The system calls on them are syscall.c's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/user.h"

struct user_fd *fd_get(struct user_proc *p, uint64_t fd)
{
	if (fd >= USER_MAX_FDS || p->fds[fd].kind == FD_NONE)
		return NULL;
	return &p->fds[fd];
}

int fd_alloc(struct user_proc *p, int from)
{
	for (int i = from < 0 ? 0 : from; i < USER_MAX_FDS; i++)
		if (p->fds[i].kind == FD_NONE)
			return i;
	return -EMFILE;
}

void fd_release(struct user_fd *fd)
{
	struct user_pipe *up = fd->upipe;

	store_put(fd->file);
	if (up && fd->kind == FD_PIPE_R && --up->readers == 0)
		pipe_close_read(&up->pipe);
	if (up && fd->kind == FD_PIPE_W && --up->writers == 0)
		pipe_close_write(&up->pipe);
	if (up && up->readers == 0 && up->writers == 0) {
		pipe_destroy(&up->pipe);
		free(up);
	}
	memset(fd, 0, sizeof(*fd));
}

void user_fds_init(struct user_proc *p)
{
	p->fds[0].kind = FD_STDIN;
	p->fds[1].kind = FD_STDOUT;
	p->fds[2].kind = FD_STDERR;
	p->iobuf = malloc(USER_IOBUF);
}

void user_fds_close(struct user_proc *p)
{
	for (int i = 0; i < USER_MAX_FDS; i++)
		if (p->fds[i].kind != FD_NONE)
			fd_release(&p->fds[i]);
	free(p->iobuf);
	p->iobuf = NULL;
}

