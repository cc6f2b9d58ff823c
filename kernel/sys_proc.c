/*
 * sys_proc.c -- threads, processes and signals (syscalls.h): clone and
 * clone3 (threads as glibc's pthread_create and Go's runtime make them,
 * processes as fork, vfork and posix_spawn make them), execve of a store
 * file, exit and exit_group, wait4 and waitid, process groups and
 * sessions, kill/tkill/tgkill within the session, futex, and the signal
 * calls.  Ids are the session's own (its first process is pid 1).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/arch.h"
#include "kernel/elf.h"
#include "kernel/kernel.h"
#include "kernel/syscalls.h"

#define CLONE_VM             0x100
#define CLONE_FS             0x200
#define CLONE_FILES          0x400
#define CLONE_SIGHAND        0x800
#define CLONE_PIDFD          0x1000
#define CLONE_PTRACE         0x2000
#define CLONE_VFORK          0x4000
#define CLONE_PARENT         0x8000
#define CLONE_THREAD         0x10000
#define CLONE_NEWNS          0x20000
#define CLONE_SYSVSEM        0x40000
#define CLONE_SETTLS         0x80000
#define CLONE_PARENT_SETTID  0x100000
#define CLONE_CHILD_CLEARTID 0x200000
#define CLONE_DETACHED       0x400000
#define CLONE_UNTRACED       0x800000
#define CLONE_CHILD_SETTID   0x01000000
#define CLONE_SUPPORTED                                                                          \
	(0xff | CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_VFORK | CLONE_PARENT | \
	 CLONE_THREAD | CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID |                     \
	 CLONE_CHILD_CLEARTID | CLONE_DETACHED | CLONE_UNTRACED | CLONE_CHILD_SETTID)
#define WNOHANG              1
#define WUNTRACED            2
#define WEXITED              4
#define WCONTINUED           8
#define WNOWAIT              0x01000000
#define WALL_FLAGS           0xe0000000u /* __WNOTHREAD, __WALL, __WCLONE */
#define P_ALL                0
#define P_PID                1
#define P_PGID               2
#define FUTEX_WAIT           0
#define FUTEX_WAKE           1
#define FUTEX_REQUEUE        3
#define FUTEX_CMP_REQUEUE    4
#define FUTEX_WAIT_BITSET    9
#define FUTEX_WAKE_BITSET    10
#define FUTEX_CLOCK_REALTIME 256
#define ARG_STRING_MAX       4096
#define ARGS_BYTES_MAX       (128u << 10)

/* ---- clone ---- */

struct clone_req {
	uint64_t flags;      /* CLONE_* | exit signal */
	uint64_t stack;      /* the child's stack pointer, 0: the parent's */
	uint64_t parent_tid; /* CLONE_PARENT_SETTID: where */
	uint64_t child_tid;  /* CLONE_CHILD_SETTID / CLEARTID: where */
	uint64_t tls;        /* CLONE_SETTLS: the value */
};

/* The current frame and FP state, as a new thread starts from them. */
static void *frame_copy(struct trap_frame *f, uint64_t sp)
{
	size_t fsize = arch_frame_size(), fpsize = arch_fpu_size();
	uint8_t *copy = malloc(fsize + fpsize);
	void *fpu;

	if (!copy)
		return NULL;
	memcpy(copy, f, fsize);
	if (fpsize) {
		arch_frame_fpu(f, &fpu);
		memcpy(copy + fsize, fpu, fpsize);
	}
	arch_syscall_set_return((struct trap_frame *)copy, 0);
	if (sp)
		arch_frame_set_sp((struct trap_frame *)copy, sp);
	return copy;
}

static long clone_thread(struct user_proc *p, struct trap_frame *f, const struct clone_req *r)
{
	uint64_t tls = r->flags & CLONE_SETTLS ? r->tls : arch_user_tls_get();
	void *frame = frame_copy(f, r->stack);
	struct user_thread *t;
	int32_t tid;

	if (!frame)
		return -ENOMEM;
	t = uthread_new(p, frame, 0, 0, tls);
	free(frame);
	if (!t)
		return -EAGAIN;
	tid = t->tid;
	if (r->flags & CLONE_CHILD_CLEARTID)
		t->clear_tid = r->child_tid;
	/* before it runs: pthread_create's callers read them at once */
	if (r->flags & CLONE_PARENT_SETTID)
		vm_copy_out(p->mm->as, r->parent_tid, &tid, 4);
	if (r->flags & CLONE_CHILD_SETTID)
		vm_copy_out(p->mm->as, r->child_tid, &tid, 4);
	if (uthread_run(t))
		return -EAGAIN;
	return tid;
}

/* vfork: the parent waits for the child's exec or end (only a kill
 * interrupts it, as Linux's killable wait). */
static void vfork_wait(struct user_thread *t)
{
	bool on = ulock();

	while (t->vfork_child && !uthread_ending(t))
		sched_wait(&t->vfork_wq, UINT64_MAX);
	if (t->vfork_child) {
		t->vfork_child->vfork_parent = NULL;
		t->vfork_child = NULL;
	}
	uunlock(on);
}

static long clone_process(struct user_proc *p, struct trap_frame *f, const struct clone_req *r)
{
	struct user_thread *self = uthread_current(), *t;
	struct user_proc *parent = r->flags & CLONE_PARENT ? p->parent : p;
	struct user_proc *c;
	void *frame;
	int32_t pid;

	if ((r->flags & CLONE_PARENT) && !parent)
		return -EINVAL; /* the session's first process has no parent here */
	if (!(c = uproc_new(p->session, parent)))
		return -EAGAIN;
	c->exit_signal = (int)(r->flags & 0xff);
	memcpy(c->exe, p->exe, sizeof(c->exe));
	if (r->flags & CLONE_VM) {
		mm_get(p->mm);
		c->mm = p->mm;
	} else if (!(c->mm = mm_clone(p->mm, &p->session->budget))) {
		uproc_abort(c);
		return -ENOMEM;
	}
	if (r->flags & CLONE_FILES) {
		bool on = ulock();

		p->fds->refs++;
		c->fds = p->fds;
		uunlock(on);
	} else if (!(c->fds = fd_table_copy(p->fds))) {
		uproc_abort(c);
		return -ENOMEM;
	}
	if (!(frame = frame_copy(f, r->stack))) {
		uproc_abort(c);
		return -ENOMEM;
	}
	t = uthread_new(c, frame, 0, 0, r->flags & CLONE_SETTLS ? r->tls : arch_user_tls_get());
	free(frame);
	if (!t) {
		uproc_abort(c);
		return -EAGAIN;
	}
	t->blocked = self->blocked;
	t->altstack_sp = self->altstack_sp;
	t->altstack_size = self->altstack_size;
	t->altstack_flags = self->altstack_flags;
	pid = c->pid;
	if (r->flags & CLONE_CHILD_CLEARTID)
		t->clear_tid = r->child_tid;
	if (r->flags & CLONE_PARENT_SETTID)
		vm_copy_out(p->mm->as, r->parent_tid, &pid, 4);
	if (r->flags & CLONE_CHILD_SETTID)
		vm_copy_out(c->mm->as, r->child_tid, &pid, 4);
	if (r->flags & CLONE_VFORK) {
		bool on = ulock();

		self->vfork_child = c;
		c->vfork_parent = self;
		uunlock(on);
	}
	if (uthread_run(t)) {
		uproc_vfork_release(c);
		uproc_abort(c);
		return -EAGAIN;
	}
	if (r->flags & CLONE_VFORK)
		vfork_wait(self);
	return pid;
}

static long do_clone(struct user_proc *p, struct trap_frame *f, const struct clone_req *r)
{
	uint64_t fl = r->flags;

	if (fl & ~(uint64_t)CLONE_SUPPORTED)
		return -EINVAL; /* namespaces, pidfds, ptrace: not here */
	if ((fl & CLONE_SIGHAND) && !(fl & CLONE_VM))
		return -EINVAL;
	if ((fl & CLONE_THREAD) && !(fl & CLONE_SIGHAND))
		return -EINVAL;
	if (fl & CLONE_THREAD)
		return clone_thread(p, f, r);
	return clone_process(p, f, r);
}

long sys_clone(SYSCALL_ARGS)
{
#ifdef ARCH_x86_64
	struct clone_req r = { a[0], a[1], a[2], a[3], a[4] };
#else
	struct clone_req r = { a[0], a[1], a[2], a[4], a[3] };
#endif
	return do_clone(p, tf, &r);
}

long sys_clone3(SYSCALL_ARGS)
{
	uint64_t args[11] = { 0 };
	struct clone_req r;

	/* struct clone_args: flags, pidfd, child_tid, parent_tid, exit_signal,
	 * stack, stack_size, tls, set_tid, set_tid_size, cgroup */
	if (a[1] < 64 || a[1] > 4096)
		return -EINVAL;
	if (vm_copy_in(p->mm->as, args, a[0], a[1] < sizeof(args) ? a[1] : sizeof(args)))
		return -EFAULT;
	if (args[0] & 0xff || args[4] > SIGNAL_MAX || args[8] || args[9] || args[10])
		return -EINVAL;
	r.flags = args[0] | args[4];
	r.child_tid = args[2];
	r.parent_tid = args[3];
	r.stack = args[5] ? args[5] + args[6] : 0; /* the top of the area given */
	r.tls = args[7];
	return do_clone(p, tf, &r);
}

long sys_fork(SYSCALL_ARGS)
{
	struct clone_req r = { SIGNAL_CHLD, 0, 0, 0, 0 };

	return do_clone(p, tf, &r);
}

long sys_vfork(SYSCALL_ARGS)
{
	struct clone_req r = { CLONE_VM | CLONE_VFORK | SIGNAL_CHLD, 0, 0, 0, 0 };

	return do_clone(p, tf, &r);
}

/* ---- execve ---- */

static void free_strings(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* A NULL-terminated user array of strings, copied (bounded). */
static long copy_strings(struct user_proc *p, uint64_t uarr, char ***out, int *count, size_t *bytes)
{
	char **v = calloc(ELF_MAX_ARGS + 1, sizeof(*v));
	int n = 0;

	if (!v)
		return -ENOMEM;
	for (; uarr; n++) {
		uint64_t ptr;
		char tmp[ARG_STRING_MAX];
		long len;

		if (vm_copy_in(p->mm->as, &ptr, uarr + 8 * (uint64_t)n, 8)) {
			free_strings(v, n);
			return -EFAULT;
		}
		if (!ptr)
			break;
		if (n >= ELF_MAX_ARGS) {
			free_strings(v, n);
			return -E2BIG;
		}
		len = vm_strncpy_in(p->mm->as, tmp, ptr, sizeof(tmp));
		if (len < 0) {
			free_strings(v, n);
			return len == -ENAMETOOLONG ? -E2BIG : len;
		}
		*bytes += (size_t)len + 1;
		if (*bytes > ARGS_BYTES_MAX || !(v[n] = malloc((size_t)len + 1))) {
			free_strings(v, n);
			return *bytes > ARGS_BYTES_MAX ? -E2BIG : -ENOMEM;
		}
		memcpy(v[n], tmp, (size_t)len + 1);
	}
	*out = v;
	*count = n;
	return 0;
}

/* The process's other threads end (the exec'ing one goes on). */
static void end_other_threads(struct user_proc *p, struct user_thread *self)
{
	bool on = ulock();

	for (struct user_thread *t = p->threads; t; t = t->next)
		if (t != self)
			sched_kill(t->task);
	while (p->nthreads > 1) {
		uunlock(on);
		sched_yield();
		on = ulock();
	}
	uunlock(on);
}

long sys_execve(SYSCALL_ARGS)
{
	struct user_thread *t = uthread_current();
	char path[STORE_PATH_MAX], why[USER_NOTE_MAX];
	struct exec_args args = { 0, 0, NULL, NULL };
	struct store_file *file;
	struct user_mm *mm, *old;
	struct task *task = sched_current();
	uint64_t entry, sp;
	size_t bytes = 0;
	bool is_dir, on;
	long err;

	if ((err = path_resolve(p, -100, a[0], path, sizeof(path))))
		return err;
	if (strcmp(path, "/proc/self/exe") == 0) /* busybox runs its applets so */
		memcpy(path, p->exe, sizeof(path));
	if ((err = path_lookup(path, &file, &is_dir)))
		return err;
	if (is_dir) {
		store_put(file);
		return -EACCES;
	}
	if ((err = copy_strings(p, a[1], &args.argv, &args.argc, &bytes)) ||
	    (err = copy_strings(p, a[2], &args.envp, &args.envc, &bytes)))
		goto out;
	err = exec_load(&p->session->budget, file, path, &args, &mm, &entry, &sp, why, sizeof(why));
	if (err) {
		kprintf("user: %s\n", why);
		goto out;
	}
	/* no way back from here: the old program is gone */
	end_other_threads(p, t);
	on = ulock();
	old = p->mm;
	p->mm = mm;
	task->as = mm->as;
	vm_space_activate(mm->as);
	arch_user_tls_set(0);
	uunlock(on);
	mm_put(old); /* a vfork parent still holds it */
	uproc_vfork_release(p);
	fd_close_on_exec(p);
	on = ulock();
	for (int sig = 1; sig <= SIGNAL_MAX; sig++) {
		if (p->actions[sig].handler != SIG_IGN)
			p->actions[sig] = (struct user_sigaction){ SIG_DFL, 0, 0, 0 };
	}
	t->altstack_sp = t->altstack_size = 0;
	t->altstack_flags = SS_DISABLE;
	t->clear_tid = 0;
	t->robust_list = 0;
	uunlock(on);
	snprintf(p->exe, sizeof(p->exe), "%s", path);
	arch_frame_exec(tf, entry, sp);
	err = 0;
out:
	store_put(file);
	if (args.argv)
		free_strings(args.argv, args.argc);
	if (args.envp)
		free_strings(args.envp, args.envc);
	return err;
}

/* ---- ends, waits ---- */

long sys_exit(SYSCALL_ARGS)
{
	uthread_exit((int)(a[0] & 0xff));
}

long sys_exit_group(SYSCALL_ARGS)
{
	uproc_exit(WSTATUS_EXIT((int)a[0]));
}

/* Does child c match wait4's pid argument? */
static bool wait_matches(struct user_proc *p, struct user_proc *c, int64_t pid)
{
	if (pid > 0)
		return c->pid == pid;
	if (pid == -1)
		return true;
	if (pid == 0)
		return c->pgid == p->pgid;
	return c->pgid == -pid;
}

static void put_rusage(struct user_proc *p, uint64_t uru, uint64_t run_ns)
{
	uint64_t ru[18] = { 0 }; /* struct rusage: utime, stime, 14 longs */

	if (!uru)
		return;
	ru[0] = run_ns / 1000000000;
	ru[1] = run_ns % 1000000000 / 1000;
	vm_copy_out(p->mm->as, uru, ru, sizeof(ru));
}

/* A zombie child matching pid (lock held), or NULL with *any set when
 * some child matches. */
static struct user_proc *find_zombie(struct user_proc *p, int64_t pid, bool *any)
{
	*any = false;
	for (struct user_proc *c = p->children; c; c = c->sibling) {
		if (!wait_matches(p, c, pid))
			continue;
		*any = true;
		if (c->zombie)
			return c;
	}
	return NULL;
}

/* Until a matching child is a zombie: it (reaped unless nowait), or NULL
 * with *err (ECHILD, EINTR, 0 for WNOHANG).  Woken by a signal, it looks
 * once more before EINTR, as Linux's do_wait does: the SIGCHLD that a
 * child's exit raises must not hide that child from a handler-owning
 * parent without SA_RESTART. */
static long wait_child(struct user_proc *p, int64_t pid, uint64_t options, int *cpid, int *status,
                       uint64_t *run_ns)
{
	struct uwait w;
	bool interrupted = false;
	long err = 0;

	uwait_init(&w);
	for (;;) {
		struct user_proc *z;
		bool any, on;

		uwait_begin(&w);
		uwait_add(&w, &p->child_wq);
		on = ulock();
		z = find_zombie(p, pid, &any);
		if (z) {
			*cpid = z->pid;
			*status = z->status;
			*run_ns = z->dead_run_ns + z->children_run_ns;
			if (!(options & WNOWAIT))
				uproc_reap(z);
			uunlock(on);
			err = 1;
			break;
		}
		uunlock(on);
		if (!any) {
			err = -ECHILD;
			break;
		}
		if (options & WNOHANG) {
			err = 0;
			break;
		}
		if (interrupted) {
			err = -EINTR;
			break;
		}
		err = uwait_sleep(&w, UINT64_MAX);
		uwait_end(&w);
		interrupted = err == -EINTR;
	}
	uwait_done(&w);
	return err;
}

long sys_wait4(SYSCALL_ARGS)
{
	int cpid = 0, status = 0;
	uint64_t run_ns = 0;
	long err;

	if (a[2] & ~(uint64_t)(WNOHANG | WUNTRACED | WCONTINUED | WALL_FLAGS))
		return -EINVAL;
	err = wait_child(p, (int64_t)(int32_t)a[0], a[2], &cpid, &status, &run_ns);
	if (err <= 0)
		return err;
	if (a[1] && vm_copy_out(p->mm->as, a[1], &status, 4))
		return -EFAULT;
	put_rusage(p, a[3], run_ns);
	return cpid;
}

long sys_waitid(SYSCALL_ARGS)
{
	int cpid = 0, status = 0;
	uint64_t run_ns = 0;
	int64_t pid;
	long err;

	switch (a[0]) {
	case P_ALL:
		pid = -1;
		break;
	case P_PID:
		pid = (int64_t)a[1];
		break;
	case P_PGID:
		pid = a[1] ? -(int64_t)a[1] : 0;
		break;
	default:
		return -EINVAL;
	}
	if (!(a[3] & WEXITED) ||
	    (a[3] & ~(uint64_t)(WNOHANG | WEXITED | WNOWAIT | WUNTRACED | WCONTINUED | WALL_FLAGS)))
		return -EINVAL;
	err = wait_child(p, pid, a[3], &cpid, &status, &run_ns);
	if (err < 0)
		return err;
	if (a[2]) {
		uint8_t info[128] = { 0 };
		int32_t signo = SIGNAL_CHLD, code = (status & 0x7f) ? 2 : 1; /* CLD_KILLED/EXITED */
		int32_t st = (status & 0x7f) ? (status & 0x7f) : (status >> 8) & 0xff;

		if (err > 0) {
			memcpy(info, &signo, 4);
			memcpy(info + 8, &code, 4);
			memcpy(info + 16, &cpid, 4);
			memcpy(info + 24, &st, 4);
		}
		if (vm_copy_out(p->mm->as, a[2], info, sizeof(info)))
			return -EFAULT;
	}
	put_rusage(p, a[4], run_ns);
	return 0;
}

/* ---- ids ---- */

long sys_getpid(SYSCALL_ARGS)
{
	return p->pid;
}

long sys_gettid(SYSCALL_ARGS)
{
	return uthread_current()->tid;
}

long sys_getppid(SYSCALL_ARGS)
{
	bool on = ulock();
	long ppid = p->parent ? p->parent->pid : 0;

	uunlock(on);
	return ppid;
}

/* pid 0 is the caller; else the caller or one of its children. */
static struct user_proc *self_or_child(struct user_proc *p, int64_t pid)
{
	if (pid == 0 || pid == p->pid)
		return p;
	for (struct user_proc *c = p->children; c; c = c->sibling)
		if (c->pid == pid && !c->zombie)
			return c;
	return NULL;
}

long sys_setpgid(SYSCALL_ARGS)
{
	int64_t pid = (int32_t)a[0], pgid = (int32_t)a[1];
	struct user_proc *t;
	long ret = 0;
	bool on;

	if (pgid < 0)
		return -EINVAL;
	on = ulock();
	if (!(t = self_or_child(p, pid))) {
		ret = -ESRCH;
	} else if (t->sid == t->pid || t->sid != p->sid) {
		ret = -EPERM; /* a session leader, or another session's */
	} else {
		t->pgid = pgid ? (int)pgid : t->pid;
	}
	uunlock(on);
	return ret;
}

long sys_getpgid(SYSCALL_ARGS)
{
	int64_t pid = (int32_t)a[0];
	struct user_proc *t;
	long ret;
	bool on = ulock();

	t = pid == 0 ? p : uproc_find(p->session, (int)pid);
	ret = t && !t->zombie ? t->pgid : -ESRCH;
	uunlock(on);
	return ret;
}

long sys_getpgrp(SYSCALL_ARGS)
{
	return p->pgid;
}

long sys_setsid(SYSCALL_ARGS)
{
	bool on = ulock();
	long ret;

	if (p->pgid == p->pid) {
		ret = -EPERM; /* already a group leader */
	} else {
		p->sid = p->pgid = p->pid;
		ret = p->pid;
	}
	uunlock(on);
	return ret;
}

long sys_getsid(SYSCALL_ARGS)
{
	int64_t pid = (int32_t)a[0];
	struct user_proc *t;
	long ret;
	bool on = ulock();

	t = pid == 0 ? p : uproc_find(p->session, (int)pid);
	ret = t && !t->zombie ? t->sid : -ESRCH;
	uunlock(on);
	return ret;
}

/* ---- kill ---- */

long sys_kill(SYSCALL_ARGS)
{
	int64_t pid = (int32_t)a[0];
	int sig = (int)a[1];
	int found = 0;
	bool on;

	if (a[1] > SIGNAL_MAX)
		return -EINVAL;
	on = ulock();
	for (struct user_proc *t = p->session->procs; t; t = t->session_next) {
		bool match = pid > 0   ? t->pid == pid :
		             pid == 0  ? t->pgid == p->pgid :
		             pid == -1 ? t->pid != 1 || t == p :
		                         t->pgid == -pid;

		if (!match || t->zombie)
			continue;
		found++;
		if (sig)
			sig_send_proc(t, sig);
	}
	uunlock(on);
	return found ? 0 : -ESRCH;
}

static long thread_kill(struct user_proc *p, int64_t tgid, int64_t tid, uint64_t sig)
{
	struct user_thread *t;
	long ret = 0;
	bool on;

	if (sig > SIGNAL_MAX || tid <= 0)
		return -EINVAL;
	on = ulock();
	t = uthread_find(p->session, (int)tid);
	if (!t || (tgid >= 0 && t->proc->pid != tgid))
		ret = -ESRCH;
	else if (sig)
		sig_send_thread(t, (int)sig);
	uunlock(on);
	return ret;
}

long sys_tkill(SYSCALL_ARGS)
{
	return thread_kill(p, -1, (int32_t)a[0], a[1]);
}

long sys_tgkill(SYSCALL_ARGS)
{
	if ((int32_t)a[0] <= 0)
		return -EINVAL;
	return thread_kill(p, (int32_t)a[0], (int32_t)a[1], a[2]);
}

/* ---- thread bookkeeping, futex ---- */

long sys_set_tid_address(SYSCALL_ARGS)
{
	struct user_thread *t = uthread_current();

	t->clear_tid = a[0];
	return t->tid;
}

long sys_set_robust_list(SYSCALL_ARGS)
{
	if (a[1] != 24) /* sizeof(struct robust_list_head) */
		return -EINVAL;
	uthread_current()->robust_list = a[0];
	return 0;
}

long sys_get_robust_list(SYSCALL_ARGS)
{
	uint64_t head = uthread_current()->robust_list, len = 24;

	if (a[0] && a[0] != (uint64_t)uthread_current()->tid)
		return -ESRCH;
	if (vm_copy_out(p->mm->as, a[1], &head, 8) || vm_copy_out(p->mm->as, a[2], &len, 8))
		return -EFAULT;
	return 0;
}

/* A futex timeout: relative (FUTEX_WAIT) or absolute on the monotonic or
 * real-time clock (FUTEX_WAIT_BITSET). */
static long futex_deadline(struct user_proc *p, uint64_t uts, bool absolute, bool realtime,
                           uint64_t *deadline)
{
	int64_t ts[2];
	uint64_t ns, now = arch_clock_ns();

	*deadline = UINT64_MAX;
	if (!uts)
		return 0;
	if (vm_copy_in(p->mm->as, ts, uts, sizeof(ts)))
		return -EFAULT;
	if (ts[0] < 0 || ts[1] < 0 || ts[1] >= 1000000000)
		return -EINVAL;
	ns = (uint64_t)ts[0] * 1000000000 + (uint64_t)ts[1];
	if (!absolute) {
		*deadline = ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
	} else if (realtime) {
		uint64_t wall = user_wall_clock_ns();

		*deadline = ns <= wall ? now : now + (ns - wall);
	} else {
		*deadline = ns;
	}
	return 0;
}

long sys_futex(SYSCALL_ARGS)
{
	unsigned op = (unsigned)a[1], cmd = op & 127;
	uint64_t deadline;
	long err;

	switch (cmd) {
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET:
		if ((err = futex_deadline(p, a[3], cmd == FUTEX_WAIT_BITSET,
		                          op & FUTEX_CLOCK_REALTIME, &deadline)))
			return err;
		err = futex_wait(p->mm, a[0], (uint32_t)a[2],
		                 cmd == FUTEX_WAIT ? ~0u : (uint32_t)a[5], deadline);
		return err;
	case FUTEX_WAKE:
	case FUTEX_WAKE_BITSET:
		return futex_wake(p->mm, a[0], (int)(a[2] > 0x7fffffff ? 0x7fffffff : a[2]),
		                  cmd == FUTEX_WAKE ? ~0u : (uint32_t)a[5]);
	case FUTEX_REQUEUE:
	case FUTEX_CMP_REQUEUE:
		if ((int32_t)a[2] < 0 || (int32_t)a[3] < 0)
			return -EINVAL;
		return futex_requeue(p->mm, a[0], (int)a[2], a[4], (int)(int32_t)a[3],
		                     cmd == FUTEX_CMP_REQUEUE, (uint32_t)a[5]);
	}
	return -ENOSYS;
}

/* ---- signals ---- */

long sys_rt_sigaction(SYSCALL_ARGS)
{
	uint64_t sig = a[0], act[4];
	struct user_sigaction *s;
	bool on;

	if (sig == 0 || sig > SIGNAL_MAX || a[3] != 8)
		return -EINVAL;
	s = &p->actions[sig];
	if (a[2]) {
		uint64_t old[4] = { s->handler, s->flags, s->restorer, s->mask };

		if (vm_copy_out(p->mm->as, a[2], old, sizeof(old)))
			return -EFAULT;
	}
	if (!a[1])
		return 0;
	if (sig == SIGNAL_KILL || sig == SIGNAL_STOP)
		return -EINVAL;
	if (vm_copy_in(p->mm->as, act, a[1], sizeof(act)))
		return -EFAULT;
	on = ulock();
	*s = (struct user_sigaction){ act[0], act[1], act[2], act[3] };
	if (sig_ignored(p, (int)sig)) {
		/* a pending one that is now ignored is discarded */
		p->pending &= ~SIG_BIT(sig);
		for (struct user_thread *t = p->threads; t; t = t->next)
			t->pending &= ~SIG_BIT(sig);
	}
	uunlock(on);
	return 0;
}

long sys_rt_sigprocmask(SYSCALL_ARGS)
{
	struct user_thread *t = uthread_current();
	uint64_t set, old = t->blocked;

	if (a[3] != 8)
		return -EINVAL;
	if (a[1]) {
		if (vm_copy_in(p->mm->as, &set, a[1], 8))
			return -EFAULT;
		switch (a[0]) {
		case 0:
			t->blocked |= set;
			break;
		case 1:
			t->blocked &= ~set;
			break;
		case 2:
			t->blocked = set;
			break;
		default:
			return -EINVAL;
		}
		t->blocked &= ~SIG_UNBLOCKABLE;
	}
	return a[2] && vm_copy_out(p->mm->as, a[2], &old, 8) ? -EFAULT : 0;
}

long sys_rt_sigpending(SYSCALL_ARGS)
{
	struct user_thread *t = uthread_current();
	uint64_t set = (t->pending | p->pending) & t->blocked;

	if (a[1] != 8)
		return -EINVAL;
	return vm_copy_out(p->mm->as, a[0], &set, 8) ? -EFAULT : 0;
}

long sys_rt_sigsuspend(SYSCALL_ARGS)
{
	long err = sigmask_swap_in(uthread_current(), a[0], a[1]);

	if (err)
		return err;
	uwait_nap(UINT64_MAX);
	return -EINTR;
}

/* rt_sigtimedwait: a signal of the set (blocked, normally) is taken
 * without its handler; looked for every few ms. */
long sys_rt_sigtimedwait(SYSCALL_ARGS)
{
	struct user_thread *t = uthread_current();
	uint64_t set, deadline = UINT64_MAX;
	int64_t ts[2];

	if (a[3] != 8)
		return -EINVAL;
	if (vm_copy_in(p->mm->as, &set, a[0], 8))
		return -EFAULT;
	if (a[2]) {
		if (vm_copy_in(p->mm->as, ts, a[2], sizeof(ts)))
			return -EFAULT;
		deadline = arch_clock_ns() + (uint64_t)ts[0] * 1000000000 + (uint64_t)ts[1];
	}
	for (;;) {
		bool on = ulock();
		uint64_t ready = (t->pending | p->pending) & set;

		if (ready) {
			int sig = __builtin_ctzll(ready) + 1;
			uint8_t info[128] = { 0 };

			if (t->pending & SIG_BIT(sig))
				t->pending &= ~SIG_BIT(sig);
			else
				p->pending &= ~SIG_BIT(sig);
			uunlock(on);
			memcpy(info, &sig, 4);
			if (a[1] && vm_copy_out(p->mm->as, a[1], info, sizeof(info)))
				return -EFAULT;
			return sig;
		}
		uunlock(on);
		if (arch_clock_ns() >= deadline)
			return -EAGAIN;
		if (uwait_nap(arch_clock_ns() + 5000000) == -EINTR &&
		    !((t->pending | p->pending) & set))
			return -EINTR;
	}
}

long sys_sigaltstack(SYSCALL_ARGS)
{
	struct user_thread *t = uthread_current();
	uint64_t ss[3], sp = arch_frame_sp(tf);
	bool on_alt = t->altstack_size && sp - t->altstack_sp < t->altstack_size;
	uint64_t old[3] = { t->altstack_sp,
		            (t->altstack_flags & SS_DISABLE) | (on_alt ? SS_ONSTACK : 0),
		            t->altstack_size };

	if (a[1] && vm_copy_out(p->mm->as, a[1], old, sizeof(old)))
		return -EFAULT;
	if (!a[0])
		return 0;
	if (vm_copy_in(p->mm->as, ss, a[0], sizeof(ss)))
		return -EFAULT;
	if (on_alt)
		return -EPERM;
	if ((uint32_t)ss[1] & ~(uint32_t)(SS_DISABLE | SS_ONSTACK | 0x80000000u))
		return -EINVAL;
	if ((uint32_t)ss[1] & SS_DISABLE) {
		t->altstack_sp = t->altstack_size = 0;
		t->altstack_flags = SS_DISABLE;
		return 0;
	}
	if (ss[2] < 2048)
		return -ENOMEM; /* MINSIGSTKSZ */
	t->altstack_sp = ss[0];
	t->altstack_size = ss[2];
	t->altstack_flags = 0;
	return 0;
}

/* ---- scheduling, names, usage ---- */

long sys_sched_getaffinity(SYSCALL_ARGS)
{
	uint64_t mask = 1; /* one CPU */

	if (a[1] < 8 || (a[1] & 7))
		return -EINVAL;
	return vm_copy_out(p->mm->as, a[2], &mask, 8) ? -EFAULT : 8;
}

long sys_sched_setaffinity(SYSCALL_ARGS)
{
	return 0;
}

long sys_arch_prctl(SYSCALL_ARGS)
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
		return vm_copy_out(p->mm->as, a[1], &v, 8) ? -EFAULT : 0;
	}
	return -EINVAL;
}

long sys_prctl(SYSCALL_ARGS)
{
	char name[16] = "";

	switch (a[0]) {
	case 15: /* PR_SET_NAME */
		return 0;
	case 16: /* PR_GET_NAME */
		snprintf(name, sizeof(name), "%s",
		         strrchr(p->exe, '/') ? strrchr(p->exe, '/') + 1 : p->exe);
		return vm_copy_out(p->mm->as, a[1], name, sizeof(name)) ? -EFAULT : 0;
	case 1:  /* PR_SET_PDEATHSIG */
	case 38: /* PR_SET_NO_NEW_PRIVS */
		return 0;
	}
	return -EINVAL;
}

/* CPU time of the process: its live threads and those gone. */
static uint64_t proc_run_ns(struct user_proc *p)
{
	bool on = ulock();
	uint64_t ns = p->dead_run_ns;

	for (struct user_thread *t = p->threads; t; t = t->next)
		ns += t->task->run_ns;
	uunlock(on);
	return ns;
}

long sys_getrusage(SYSCALL_ARGS)
{
	int64_t who = (int32_t)a[0];
	uint64_t ns;

	if (who == 0)
		ns = proc_run_ns(p);
	else if (who == -1)
		ns = p->children_run_ns;
	else if (who == 1)
		ns = sched_current()->run_ns;
	else
		return -EINVAL;
	put_rusage(p, a[1], ns);
	return 0;
}

long sys_times(SYSCALL_ARGS)
{
	uint64_t t[4] = { proc_run_ns(p) / 10000000, 0, p->children_run_ns / 10000000, 0 };

	if (a[0] && vm_copy_out(p->mm->as, a[0], t, sizeof(t)))
		return -EFAULT;
	return (long)(arch_clock_ns() / 10000000);
}

long sys_uname(SYSCALL_ARGS)
{
	char u[6][65];

	memset(u, 0, sizeof(u));
	strcpy(u[0], "Linux");
	strcpy(u[1], "vsock-agent");
	strcpy(u[2], "6.1.0-vsock-agent");
	strcpy(u[3], "#1 SMP");
	strcpy(u[4], ARCH_NAME);
	strcpy(u[5], "(none)");
	return vm_copy_out(p->mm->as, a[0], u, sizeof(u)) ? -EFAULT : 0;
}

long sys_sysinfo(SYSCALL_ARGS)
{
	uint8_t si[112] = { 0 };
	uint64_t uptime = arch_clock_ns() / 1000000000, total = vm_pages_total() * VM_PAGE,
	         free_bytes = vm_pages_free() * VM_PAGE;
	uint16_t procs = (uint16_t)p->session->live;
	uint32_t unit = 1;

	memcpy(si + 0, &uptime, 8);
	memcpy(si + 32, &total, 8);
	memcpy(si + 40, &free_bytes, 8);
	memcpy(si + 80, &procs, 2);
	memcpy(si + 104, &unit, 4);
	return vm_copy_out(p->mm->as, a[0], si, sizeof(si)) ? -EFAULT : 0;
}
