/*
 * syscalls.h -- the system-call handlers of the user layer, by file
 * (syscall.c's tables name them).  Each gets the calling process, the
 * trap frame and the six argument registers, and returns the result or
 * a negative errno (the image's <errno.h> names; syscall.c turns them
 * into Linux's numbers).
 *
 * Every pointer from user space is hostile: handlers use it only through
 * vm_copy_in / vm_copy_out / vm_strncpy_in against the process's own
 * address space, and bound every length and count they are given.
 */
#ifndef KERNEL_SYSCALLS_H
#define KERNEL_SYSCALLS_H

#include <stdint.h>

#include "kernel/uproc.h"

#define SYSCALL_ARGS struct user_proc *p, struct trap_frame *tf, const uint64_t *a
#define X86_ONLY     __attribute__((unused)) /* x86_64's table only */

/* sys_fs.c */
long sys_read(SYSCALL_ARGS);
long sys_write(SYSCALL_ARGS);
long sys_readv(SYSCALL_ARGS);
long sys_writev(SYSCALL_ARGS);
long sys_pread64(SYSCALL_ARGS);
long sys_pwrite64(SYSCALL_ARGS);
long sys_lseek(SYSCALL_ARGS);
long sys_close(SYSCALL_ARGS);
long sys_openat(SYSCALL_ARGS);
long sys_open(SYSCALL_ARGS);
long sys_creat(SYSCALL_ARGS);
long sys_pipe2(SYSCALL_ARGS);
long sys_pipe(SYSCALL_ARGS);
long sys_fstat(SYSCALL_ARGS);
long sys_newfstatat(SYSCALL_ARGS);
long sys_stat(SYSCALL_ARGS);
long sys_lstat(SYSCALL_ARGS);
long sys_statx(SYSCALL_ARGS);
long sys_getdents64(SYSCALL_ARGS);
long sys_ioctl(SYSCALL_ARGS);
long sys_dup(SYSCALL_ARGS);
long sys_dup2(SYSCALL_ARGS);
long sys_dup3(SYSCALL_ARGS);
long sys_fcntl(SYSCALL_ARGS);
long sys_getcwd(SYSCALL_ARGS);
long sys_chdir(SYSCALL_ARGS);
long sys_fchdir(SYSCALL_ARGS);
long sys_readlinkat(SYSCALL_ARGS);
long sys_readlink(SYSCALL_ARGS);
long sys_faccessat(SYSCALL_ARGS);
long sys_access(SYSCALL_ARGS);
long sys_mkdirat(SYSCALL_ARGS);
long sys_mkdir(SYSCALL_ARGS);
long sys_umask(SYSCALL_ARGS);
long sys_fsync(SYSCALL_ARGS);
/* read/write of one file (also recvfrom/sendto without an address) */
long file_read(struct user_proc *p, struct user_file *file, uint64_t buf, uint64_t len);
long file_write(struct user_proc *p, struct user_file *file, uint64_t buf, uint64_t len);

/* sys_mm.c */
long sys_brk(SYSCALL_ARGS);
long sys_mmap(SYSCALL_ARGS);
long sys_munmap(SYSCALL_ARGS);
long sys_mprotect(SYSCALL_ARGS);
long sys_madvise(SYSCALL_ARGS);
long sys_mremap(SYSCALL_ARGS);

/* sys_net.c */
long sys_socket(SYSCALL_ARGS);
long sys_socketpair(SYSCALL_ARGS);
long sys_bind(SYSCALL_ARGS);
long sys_listen(SYSCALL_ARGS);
long sys_accept(SYSCALL_ARGS);
long sys_accept4(SYSCALL_ARGS);
long sys_connect(SYSCALL_ARGS);
long sys_sendto(SYSCALL_ARGS);
long sys_recvfrom(SYSCALL_ARGS);
long sys_sendmsg(SYSCALL_ARGS);
long sys_recvmsg(SYSCALL_ARGS);
long sys_shutdown(SYSCALL_ARGS);
long sys_getsockname(SYSCALL_ARGS);
long sys_getpeername(SYSCALL_ARGS);
long sys_getsockopt(SYSCALL_ARGS);
long sys_setsockopt(SYSCALL_ARGS);
/* read/write on a socket file (sys_fs.c's read and write come here) */
long sock_recv(struct user_proc *p, struct user_file *file, uint64_t buf, uint64_t len,
               unsigned flags, unsigned *msg_flags);
long sock_send(struct user_proc *p, struct user_file *file, uint64_t buf, uint64_t len,
               unsigned flags);
/* ioctl on a socket or /dev/vsock */
long sock_ioctl(struct user_proc *p, struct user_file *file, uint64_t cmd, uint64_t arg);

/* sys_poll.c */
long sys_poll(SYSCALL_ARGS);
long sys_ppoll(SYSCALL_ARGS);
long sys_select(SYSCALL_ARGS);
long sys_pselect6(SYSCALL_ARGS);
long sys_epoll_create(SYSCALL_ARGS);
long sys_epoll_create1(SYSCALL_ARGS);
long sys_epoll_ctl(SYSCALL_ARGS);
long sys_epoll_wait(SYSCALL_ARGS);
long sys_epoll_pwait(SYSCALL_ARGS);
long sys_epoll_pwait2(SYSCALL_ARGS);

/* sys_proc.c */
long sys_clone(SYSCALL_ARGS);
long sys_clone3(SYSCALL_ARGS);
long sys_fork(SYSCALL_ARGS);
long sys_vfork(SYSCALL_ARGS);
long sys_execve(SYSCALL_ARGS);
long sys_exit(SYSCALL_ARGS);
long sys_exit_group(SYSCALL_ARGS);
long sys_wait4(SYSCALL_ARGS);
long sys_waitid(SYSCALL_ARGS);
long sys_getpid(SYSCALL_ARGS);
long sys_getppid(SYSCALL_ARGS);
long sys_gettid(SYSCALL_ARGS);
long sys_setpgid(SYSCALL_ARGS);
long sys_getpgid(SYSCALL_ARGS);
long sys_getpgrp(SYSCALL_ARGS);
long sys_setsid(SYSCALL_ARGS);
long sys_getsid(SYSCALL_ARGS);
long sys_kill(SYSCALL_ARGS);
long sys_tkill(SYSCALL_ARGS);
long sys_tgkill(SYSCALL_ARGS);
long sys_set_tid_address(SYSCALL_ARGS);
long sys_set_robust_list(SYSCALL_ARGS);
long sys_get_robust_list(SYSCALL_ARGS);
long sys_futex(SYSCALL_ARGS);
long sys_rt_sigaction(SYSCALL_ARGS);
long sys_rt_sigprocmask(SYSCALL_ARGS);
long sys_rt_sigpending(SYSCALL_ARGS);
long sys_rt_sigsuspend(SYSCALL_ARGS);
long sys_rt_sigtimedwait(SYSCALL_ARGS);
long sys_sigaltstack(SYSCALL_ARGS);
long sys_sched_getaffinity(SYSCALL_ARGS);
long sys_sched_setaffinity(SYSCALL_ARGS);
long sys_arch_prctl(SYSCALL_ARGS);
long sys_prctl(SYSCALL_ARGS);
long sys_getrusage(SYSCALL_ARGS);
long sys_times(SYSCALL_ARGS);
long sys_uname(SYSCALL_ARGS);
long sys_sysinfo(SYSCALL_ARGS);

#endif
