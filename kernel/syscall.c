/*
 * syscall.c -- the Linux system-call layer for user processes (user.h):
 * the tables with x86_64 (arch/x86/entry/syscalls/syscall_64.tbl) and
 * aarch64 (include/uapi/asm-generic/unistd.h) numbering, the dispatch with
 * Linux errno values, and the small calls about time, limits and
 * randomness.  The handlers by subject are in sys_fs.c, sys_mm.c,
 * sys_net.c, sys_poll.c and sys_proc.c (syscalls.h).
 *
 * An unknown number gives ENOSYS and one console record per program and
 * number.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/arch.h"
#include "kernel/kernel.h"
#include "kernel/syscalls.h"

#define SYSCALL_TRACE 0 /* 1: every call on the console */

typedef long (*syscall_fn)(SYSCALL_ARGS);

/* ---- limits, randomness ---- */

static long put_rlimit(struct user_proc *p, uint64_t res, uint64_t uold)
{
	uint64_t lim[2] = { UINT64_MAX, UINT64_MAX };

	if (res >= 16)
		return -EINVAL;
	if (res == 3) /* RLIMIT_STACK */
		lim[0] = lim[1] = 8ull << 20;
	else if (res == 7) /* RLIMIT_NOFILE */
		lim[0] = lim[1] = UPROC_MAX_FDS;
	else if (res == 6) /* RLIMIT_NPROC */
		lim[0] = lim[1] = UPROC_MAX_PROCS;
	return uold && vm_copy_out(p->mm->as, uold, lim, sizeof(lim)) ? -EFAULT : 0;
}

static long sys_prlimit64(SYSCALL_ARGS)
{
	if (a[0] != 0 && a[0] != (uint64_t)p->pid)
		return -ESRCH;
	return put_rlimit(p, a[1], a[3]);
}

static long sys_getrlimit(SYSCALL_ARGS)
{
	return put_rlimit(p, a[0], a[1]);
}

static long sys_setrlimit(SYSCALL_ARGS)
{
	return a[0] >= 16 ? -EINVAL : 0; /* accepted, the limits stay as they are */
}

static long sys_getrandom(SYSCALL_ARGS)
{
	uint8_t *buf = uthread_current()->iobuf;
	uint64_t done = 0, len = a[1] > (1u << 20) ? 1u << 20 : a[1];

	if (a[2] & ~(uint64_t)7) /* GRND_NONBLOCK, GRND_RANDOM, GRND_INSECURE */
		return -EINVAL;
	while (done < len) {
		size_t n = len - done < UPROC_IOBUF ? len - done : UPROC_IOBUF;

		user_entropy(buf, n);
		if (vm_copy_out(p->mm->as, a[0] + done, buf, n))
			return done ? (long)done : -EFAULT;
		done += n;
	}
	return (long)done;
}

static long sys_sched_yield(SYSCALL_ARGS)
{
	sched_yield();
	return 0;
}

/* ---- time ---- */

static long get_clock(uint64_t clock, uint64_t *ns)
{
	switch (clock) {
	case 0:
	case 5:
	case 8: /* CLOCK_REALTIME(_COARSE, _ALARM): the RTC at entry + since */
		*ns = user_wall_clock_ns();
		return 0;
	case 1:
	case 4:
	case 6:
	case 7:
	case 9: /* monotonic, raw, coarse, boottime(_alarm) */
		*ns = arch_clock_ns();
		return 0;
	case 2:
	case 3: /* process / thread CPU time */
		*ns = sched_current()->run_ns;
		return 0;
	}
	return -EINVAL;
}

static long sys_clock_gettime(SYSCALL_ARGS)
{
	uint64_t ns, ts[2];
	long err = get_clock(a[0], &ns);

	if (err)
		return err;
	ts[0] = ns / 1000000000;
	ts[1] = ns % 1000000000;
	return vm_copy_out(p->mm->as, a[1], ts, sizeof(ts)) ? -EFAULT : 0;
}

static long sys_clock_getres(SYSCALL_ARGS)
{
	uint64_t ns, ts[2] = { 0, 1 };
	long err = get_clock(a[0], &ns);

	if (err)
		return err;
	return a[1] && vm_copy_out(p->mm->as, a[1], ts, sizeof(ts)) ? -EFAULT : 0;
}

static long sys_gettimeofday(SYSCALL_ARGS)
{
	uint64_t ns = user_wall_clock_ns();
	uint64_t tv[2] = { ns / 1000000000, ns % 1000000000 / 1000 };

	return a[0] && vm_copy_out(p->mm->as, a[0], tv, sizeof(tv)) ? -EFAULT : 0;
}

X86_ONLY static long sys_time(SYSCALL_ARGS)
{
	uint64_t t = user_wall_clock_ns() / 1000000000;

	return a[0] && vm_copy_out(p->mm->as, a[0], &t, 8) ? -EFAULT : (long)t;
}

/* Sleep until `end` on the monotonic clock, or a signal: 0 or -EINTR
 * (with what was left in urem when it is given). */
static long do_sleep(struct user_proc *p, uint64_t ureq, uint64_t urem, bool absolute,
                     bool realtime)
{
	int64_t ts[2];
	uint64_t ns, end, now = arch_clock_ns();

	if (vm_copy_in(p->mm->as, ts, ureq, sizeof(ts)))
		return -EFAULT;
	if (ts[0] < 0 || ts[1] < 0 || ts[1] >= 1000000000)
		return -EINVAL;
	ns = (uint64_t)ts[0] * 1000000000 + (uint64_t)ts[1];
	if (absolute && realtime) {
		uint64_t wall = user_wall_clock_ns();

		end = ns <= wall ? now : now + (ns - wall);
	} else {
		end = absolute ? ns : (ns > UINT64_MAX - now ? UINT64_MAX : now + ns);
	}
	if (end <= now)
		return 0;
	if (uwait_nap(end) == -EINTR) {
		uint64_t left = end > arch_clock_ns() ? end - arch_clock_ns() : 0;
		int64_t rem[2] = { (int64_t)(left / 1000000000), (int64_t)(left % 1000000000) };

		if (urem && !absolute)
			vm_copy_out(p->mm->as, urem, rem, sizeof(rem));
		return -EINTR;
	}
	return 0;
}

static long sys_nanosleep(SYSCALL_ARGS)
{
	return do_sleep(p, a[0], a[1], false, false);
}

static long sys_clock_nanosleep(SYSCALL_ARGS)
{
	uint64_t ns;
	long err = get_clock(a[0], &ns);

	if (err)
		return err;
	return do_sleep(p, a[2], a[3], a[1] & 1, a[0] == 0 || a[0] == 5);
}

static long sys_zero(SYSCALL_ARGS)
{
	return 0;
}

static long sys_enosys_quiet(SYSCALL_ARGS)
{
	return -ENOSYS; /* rseq: glibc carries on without it */
}

/* ---- the tables ---- */

struct syscall_entry {
	const char *name; /* for the ENOSYS record and reports */
	syscall_fn fn;    /* NULL: rt_sigreturn, handled apart */
	bool restart;     /* interrupted by a SA_RESTART handler: made again */
};

/* R: restarted after an SA_RESTART handler (Linux's -ERESTARTSYS); the
 * rest (poll, epoll_wait, nanosleep, ...) return EINTR when one runs. */
#define S(fn)                        \
	{                            \
#fn, sys_##fn, false \
	}
#define R(fn)                       \
	{                           \
#fn, sys_##fn, true \
	}
#ifdef ARCH_x86_64
static const struct syscall_entry table[] = {
	[0] = R(read),
	[1] = R(write),
	[2] = R(open),
	[3] = S(close),
	[4] = S(stat),
	[5] = S(fstat),
	[6] = S(lstat),
	[7] = S(poll),
	[8] = S(lseek),
	[9] = S(mmap),
	[10] = S(mprotect),
	[11] = S(munmap),
	[12] = S(brk),
	[13] = S(rt_sigaction),
	[14] = S(rt_sigprocmask),
	[15] = { "rt_sigreturn", NULL },
	[16] = R(ioctl),
	[17] = R(pread64),
	[18] = R(pwrite64),
	[19] = R(readv),
	[20] = R(writev),
	[21] = S(access),
	[22] = S(pipe),
	[23] = S(select),
	[24] = S(sched_yield),
	[25] = S(mremap),
	[26] = { "msync", sys_zero },
	[28] = S(madvise),
	[32] = S(dup),
	[33] = S(dup2),
	[35] = S(nanosleep),
	[39] = S(getpid),
	[41] = S(socket),
	[42] = R(connect),
	[43] = R(accept),
	[44] = R(sendto),
	[45] = R(recvfrom),
	[46] = R(sendmsg),
	[47] = R(recvmsg),
	[48] = S(shutdown),
	[49] = S(bind),
	[50] = S(listen),
	[51] = S(getsockname),
	[52] = S(getpeername),
	[53] = S(socketpair),
	[54] = S(setsockopt),
	[55] = S(getsockopt),
	[56] = S(clone),
	[57] = S(fork),
	[58] = S(vfork),
	[59] = S(execve),
	[60] = S(exit),
	[61] = R(wait4),
	[62] = S(kill),
	[63] = S(uname),
	[72] = R(fcntl),
	[74] = S(fsync),
	[75] = { "fdatasync", sys_fsync },
	[79] = S(getcwd),
	[80] = S(chdir),
	[81] = S(fchdir),
	[83] = S(mkdir),
	[85] = S(creat),
	[89] = S(readlink),
	[95] = S(umask),
	[96] = S(gettimeofday),
	[97] = S(getrlimit),
	[98] = S(getrusage),
	[99] = S(sysinfo),
	[100] = S(times),
	[102] = { "getuid", sys_zero },
	[104] = { "getgid", sys_zero },
	[105] = { "setuid", sys_zero },
	[106] = { "setgid", sys_zero },
	[107] = { "geteuid", sys_zero },
	[108] = { "getegid", sys_zero },
	[109] = S(setpgid),
	[110] = S(getppid),
	[111] = S(getpgrp),
	[112] = S(setsid),
	[121] = S(getpgid),
	[124] = S(getsid),
	[127] = S(rt_sigpending),
	[128] = S(rt_sigtimedwait),
	[130] = S(rt_sigsuspend),
	[131] = S(sigaltstack),
	[157] = S(prctl),
	[158] = S(arch_prctl),
	[160] = S(setrlimit),
	[186] = S(gettid),
	[200] = S(tkill),
	[201] = S(time),
	[202] = R(futex),
	[203] = S(sched_setaffinity),
	[204] = S(sched_getaffinity),
	[213] = S(epoll_create),
	[217] = S(getdents64),
	[218] = S(set_tid_address),
	[221] = { "fadvise64", sys_zero },
	[228] = S(clock_gettime),
	[229] = S(clock_getres),
	[230] = S(clock_nanosleep),
	[231] = S(exit_group),
	[232] = S(epoll_wait),
	[233] = S(epoll_ctl),
	[234] = S(tgkill),
	[247] = R(waitid),
	[257] = R(openat),
	[258] = S(mkdirat),
	[262] = S(newfstatat),
	[267] = S(readlinkat),
	[269] = S(faccessat),
	[270] = S(pselect6),
	[271] = S(ppoll),
	[273] = S(set_robust_list),
	[274] = S(get_robust_list),
	[281] = S(epoll_pwait),
	[288] = R(accept4),
	[291] = S(epoll_create1),
	[292] = S(dup3),
	[293] = S(pipe2),
	[302] = S(prlimit64),
	[318] = S(getrandom),
	[332] = S(statx),
	[334] = { "rseq", sys_enosys_quiet },
	[435] = S(clone3),
	[439] = { "faccessat2", sys_faccessat },
	[441] = S(epoll_pwait2),
};
#else
static const struct syscall_entry table[] = {
	[17] = S(getcwd),
	[20] = S(epoll_create1),
	[21] = S(epoll_ctl),
	[22] = S(epoll_pwait),
	[23] = S(dup),
	[24] = S(dup3),
	[25] = R(fcntl),
	[29] = R(ioctl),
	[34] = S(mkdirat),
	[48] = S(faccessat),
	[49] = S(chdir),
	[50] = S(fchdir),
	[56] = R(openat),
	[57] = S(close),
	[59] = S(pipe2),
	[61] = S(getdents64),
	[62] = S(lseek),
	[63] = R(read),
	[64] = R(write),
	[65] = R(readv),
	[66] = R(writev),
	[67] = R(pread64),
	[68] = R(pwrite64),
	[72] = S(pselect6),
	[73] = S(ppoll),
	[78] = S(readlinkat),
	[79] = S(newfstatat),
	[80] = S(fstat),
	[82] = S(fsync),
	[83] = { "fdatasync", sys_fsync },
	[93] = S(exit),
	[94] = S(exit_group),
	[95] = R(waitid),
	[96] = S(set_tid_address),
	[98] = R(futex),
	[99] = S(set_robust_list),
	[100] = S(get_robust_list),
	[101] = S(nanosleep),
	[113] = S(clock_gettime),
	[114] = S(clock_getres),
	[115] = S(clock_nanosleep),
	[122] = S(sched_setaffinity),
	[123] = S(sched_getaffinity),
	[124] = S(sched_yield),
	[129] = S(kill),
	[130] = S(tkill),
	[131] = S(tgkill),
	[132] = S(sigaltstack),
	[133] = S(rt_sigsuspend),
	[134] = S(rt_sigaction),
	[135] = S(rt_sigprocmask),
	[136] = S(rt_sigpending),
	[137] = S(rt_sigtimedwait),
	[139] = { "rt_sigreturn", NULL },
	[144] = { "setgid", sys_zero },
	[146] = { "setuid", sys_zero },
	[153] = S(times),
	[154] = S(setpgid),
	[155] = S(getpgid),
	[156] = S(getsid),
	[157] = S(setsid),
	[160] = S(uname),
	[163] = S(getrlimit),
	[164] = S(setrlimit),
	[165] = S(getrusage),
	[166] = S(umask),
	[167] = S(prctl),
	[169] = S(gettimeofday),
	[172] = S(getpid),
	[173] = S(getppid),
	[174] = { "getuid", sys_zero },
	[175] = { "geteuid", sys_zero },
	[176] = { "getgid", sys_zero },
	[177] = { "getegid", sys_zero },
	[178] = S(gettid),
	[179] = S(sysinfo),
	[198] = S(socket),
	[199] = S(socketpair),
	[200] = S(bind),
	[201] = S(listen),
	[202] = R(accept),
	[203] = R(connect),
	[204] = S(getsockname),
	[205] = S(getpeername),
	[206] = R(sendto),
	[207] = R(recvfrom),
	[208] = S(setsockopt),
	[209] = S(getsockopt),
	[210] = S(shutdown),
	[211] = R(sendmsg),
	[212] = R(recvmsg),
	[214] = S(brk),
	[215] = S(munmap),
	[216] = S(mremap),
	[220] = S(clone),
	[221] = S(execve),
	[222] = S(mmap),
	[223] = { "fadvise64", sys_zero },
	[226] = S(mprotect),
	[227] = { "msync", sys_zero },
	[233] = S(madvise),
	[242] = R(accept4),
	[260] = R(wait4),
	[261] = S(prlimit64),
	[278] = S(getrandom),
	[291] = S(statx),
	[293] = { "rseq", sys_enosys_quiet },
	[435] = S(clone3),
	[439] = { "faccessat2", sys_faccessat },
	[441] = S(epoll_pwait2),
};
#endif
#undef S
#undef R

/* Will the handler that interrupted the call have SA_RESTART? */
static bool restart_after_handler(struct user_proc *p)
{
	struct user_thread *t = uthread_current();
	bool on = ulock(), restart = false;
	uint64_t ready = (t->pending | p->pending) & ~t->blocked;

	if (ready && !uthread_ending(t)) {
		const struct user_sigaction *act = &p->actions[__builtin_ctzll(ready) + 1];

		restart = act->handler > SIG_IGN && (act->flags & SA_RESTART);
	}
	uunlock(on);
	return restart;
}

static long unimplemented(struct user_proc *p, uint64_t nr)
{
	bool on = ulock();

	for (unsigned i = 0; i < p->n_enosys; i++) {
		if (p->enosys[i] == nr) {
			uunlock(on);
			return -ENOSYS;
		}
	}
	if (p->n_enosys < sizeof(p->enosys) / sizeof(p->enosys[0]))
		p->enosys[p->n_enosys++] = (uint16_t)nr;
	uunlock(on);
	kprintf("user: %s: system call %llu is not implemented (ENOSYS)\n", p->exe,
	        (unsigned long long)nr);
	return -ENOSYS;
}

void syscall_dispatch(struct trap_frame *f)
{
	struct user_proc *p = uproc_current();
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
	if (ret == -EINTR && nr < sizeof(table) / sizeof(table[0]) && table[nr].restart &&
	    restart_after_handler(p)) {
		arch_syscall_restart(f, nr, a[0]);
		return;
	}
	ret = linux_errno(ret);
	arch_syscall_set_return(f, (uint64_t)ret);
	if (SYSCALL_TRACE)
		kprintf("trace: %d %llu(%llx, %llx, %llx, %llx) = %lx\n", uthread_current()->tid,
		        (unsigned long long)nr, (unsigned long long)a[0], (unsigned long long)a[1],
		        (unsigned long long)a[2], (unsigned long long)a[3], ret);
}
