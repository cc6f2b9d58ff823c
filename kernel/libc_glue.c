/*
 * libc_glue.c -- the system calls newlib needs, for a machine with one
 * console and no files.
 *
 * newlib's x86_64-elf build calls them by their plain names (write, sbrk),
 * its aarch64-elf build with a leading underscore (_write, _sbrk).
 */
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/times.h>

#include "kernel/kernel.h"

#ifdef ARCH_x86_64
#define SYSCALL(name) name
#else
#define SYSCALL(name) _##name
#endif

/* Prototypes keep -Wmissing-prototypes quiet for these libc entry points. */
int SYSCALL(write)(int fd, const void *buf, size_t len);
int SYSCALL(read)(int fd, void *buf, size_t len);
int SYSCALL(close)(int fd);
int SYSCALL(fstat)(int fd, struct stat *st);
int SYSCALL(isatty)(int fd);
off_t SYSCALL(lseek)(int fd, off_t offset, int whence);
int SYSCALL(getpid)(void);
int SYSCALL(kill)(int pid, int sig);
void *SYSCALL(sbrk)(intptr_t increment);
int SYSCALL(gettimeofday)(struct timeval *tv, void *tz);
clock_t SYSCALL(times)(struct tms *t);
void _exit(int status);

int SYSCALL(write)(int fd, const void *buf, size_t len)
{
	if (fd != 1 && fd != 2) {
		errno = EBADF;
		return -1;
	}
	console_write(buf, len);
	return (int)len;
}

int SYSCALL(read)(int fd, void *buf, size_t len)
{
	errno = EBADF;
	return -1;
}

int SYSCALL(close)(int fd)
{
	errno = EBADF;
	return -1;
}

int SYSCALL(fstat)(int fd, struct stat *st)
{
	if (fd < 0 || fd > 2) {
		errno = EBADF;
		return -1;
	}
	st->st_mode = S_IFCHR;
	return 0;
}

int SYSCALL(isatty)(int fd)
{
	return fd >= 0 && fd <= 2;
}

off_t SYSCALL(lseek)(int fd, off_t offset, int whence)
{
	errno = ESPIPE;
	return -1;
}

int SYSCALL(getpid)(void)
{
	return 1;
}

int SYSCALL(kill)(int pid, int sig)
{
	errno = EINVAL;
	return -1;
}

void *SYSCALL(sbrk)(intptr_t increment)
{
	return heap_sbrk(increment);
}

int SYSCALL(gettimeofday)(struct timeval *tv, void *tz)
{
	errno = ENOSYS;
	return -1;
}

clock_t SYSCALL(times)(struct tms *t)
{
	errno = ENOSYS;
	return (clock_t)-1;
}

void _exit(int status)
{
	panic("libc exit(%d)", status);
}
