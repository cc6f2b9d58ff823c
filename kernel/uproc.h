/*
 * uproc.h -- the user layer's objects (DESIGN §9): sessions, processes,
 * threads, their memory, open files and fd tables.  kernel/user.h is what
 * the rest of the image sees; this is what the user layer's own files
 * share.
 *
 *   session  every process started, directly or through fork, from one
 *            user_run (a container's init, or one ExecProcess): its own
 *            pid numbering (the first process is pid 1), its stdio (the
 *            agent's struct prog), its memory budget.  user_run
 *            supervises it and returns once every process in it ended.
 *   process  an address space (struct user_mm, shared with a vfork child
 *            until that execs), an fd table, signal actions, children.
 *   thread   a preemptive task of its own running the process's code in
 *            user mode; traps from user mode enter on that task's stack.
 *
 * Files of the layer, lowest first (no call goes up):
 *   uwait.c   the lock, the current thread, waits on several queues that
 *             signals interrupt, signal queueing, the mm mutex
 *   futex.c   futex wait / wake / requeue
 *   fd.c      open files, fd tables, pipes, readiness, paths
 *   exec.c    loading an ELF into a fresh address space
 *   proc.c    creating threads and processes, their ends, zombies, reaping
 *   signal.c  delivering signals (Linux's frames), faults, rt_sigreturn
 *   user.c    user_run: a session from its start to its end
 *   sys_*.c   the system calls by subject; syscall.c dispatches to them
 *
 * Locking: one CPU, so the layer's lock is "interrupts off" (ulock); it is
 * never held across a call into vsock/ or agent/ (they take the platform
 * lock, which turns interrupts back on), nor across a sleep.
 */
#ifndef KERNEL_UPROC_H
#define KERNEL_UPROC_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/program.h"
#include "include/platform.h"
#include "include/store.h"
#include "kernel/sched.h"
#include "kernel/user.h"
#include "kernel/vm.h"

#define UPROC_MAX_FDS     1024        /* per fd table (RLIMIT_NOFILE) */
#define UPROC_MAX_THREADS 256         /* per process */
#define UPROC_MAX_PROCS   128         /* per session, zombies included */
#define UPROC_KSTACK      (32u << 10) /* each thread's kernel stack */
#define UPROC_IOBUF       (16u << 10) /* each thread's bounce buffer */
#define UWAIT_INLINE      8           /* queues a wait holds without malloc */

/* Linux's wait status of a process: exited with `code`, or killed by `sig`. */
#define WSTATUS_EXIT(code)  (((code)&0xff) << 8)
#define WSTATUS_SIGNAL(sig) ((sig)&0x7f)

#define SIG_DFL         0
#define SIG_IGN         1
#define SA_NOCLDSTOP    0x1ull
#define SA_NOCLDWAIT    0x2ull
#define SA_SIGINFO      0x4ull
#define SA_ONSTACK      0x08000000ull
#define SA_RESTART      0x10000000ull
#define SA_NODEFER      0x40000000ull
#define SA_RESETHAND    0x80000000ull
#define SA_RESTORER     0x04000000ull
#define SIGNAL_STOP     19
#define SIGNAL_CONT     18
#define SIGNAL_URG      23
#define SIGNAL_WINCH    28
#define SIG_BIT(sig)    (1ull << ((sig)-1))
#define SIG_UNBLOCKABLE (SIG_BIT(SIGNAL_KILL) | SIG_BIT(SIGNAL_STOP))
#define SS_ONSTACK      1
#define SS_DISABLE      2

struct user_session;
struct user_proc;
struct user_thread;
struct user_file;
struct user_epoll;
struct vsock_sock;
struct vsock_core;

/* ---- objects ---- */

struct user_sigaction {
	uint64_t handler;  /* SIG_DFL 0, SIG_IGN 1, or an address */
	uint64_t flags;    /* SA_* */
	uint64_t restorer; /* SA_RESTORER's trampoline */
	uint64_t mask;     /* blocked while the handler runs */
};

/* A sleeping mutex (tasks only, never from interrupts). */
struct umutex {
	struct task *owner;   /* who holds it, NULL: free */
	struct wait_queue wq; /* who waits for it */
};

/* An address space and what the process keeps about it. */
struct user_mm {
	struct vm_space *as;              /* the page tables */
	unsigned users;                   /* processes on it (a vfork child shares it) */
	struct umutex lock;               /* mmap, munmap, mprotect, brk */
	uint64_t brk_start, brk, brk_max; /* the heap after the program's segments */
	uint64_t mmap_next;               /* mmap hands out addresses downwards from here */
	uint64_t sigreturn_page;          /* the page with the rt_sigreturn trampoline */
	uint64_t auxv[2 * 24];            /* the auxv it started with (/proc/self/auxv) */
	unsigned auxv_len;                /* bytes of it */
};

struct user_thread {
	struct user_proc *proc;   /* whose thread */
	struct user_thread *next; /* in proc->threads */
	struct task *task;        /* the task running it */
	int tid;                  /* thread id (the main thread's is the pid) */
	jmp_buf exit_jmp;         /* its task's top: every end of the thread lands here */
	uint64_t blocked;         /* rt_sigprocmask (bit sig - 1) */
	uint64_t pending;         /* raised for this thread (tgkill, a fault) */
	uint64_t saved_mask;      /* ppoll/pselect6/epoll_pwait/rt_sigsuspend: ... */
	bool restore_mask;        /* ... blocked goes back to it after the handler */
	uint64_t altstack_sp, altstack_size; /* sigaltstack */
	uint32_t altstack_flags;             /* SS_DISABLE */
	uint64_t clear_tid;                  /* CLONE_CHILD_CLEARTID / set_tid_address */
	uint64_t robust_list;                /* set_robust_list (kept, not walked) */
	uint8_t *iobuf;                      /* UPROC_IOBUF bytes for copies */
	void *start_frame;                   /* a new thread's first registers (+ FP state) */
	uint64_t start_pc, start_sp;         /* ... or, for a fresh program, where it starts */
	uint64_t start_tls;                  /* its TLS register at the start */
	int exit_code;                       /* SYS_exit's code */
	struct user_proc *vfork_child;       /* vfork: the child it waits for (exec or exit) */
	struct wait_queue vfork_wq;          /* where it waits */
	uint64_t fault_addr;                 /* a fault's address, for its siginfo */
	int fault_code;                      /* a fault's si_code (0: none pending) */
};

struct fd_table {
	unsigned refs;                          /* processes sharing it (clone with CLONE_FILES) */
	struct user_file *files[UPROC_MAX_FDS]; /* open files, NULL: free */
	uint8_t cloexec[UPROC_MAX_FDS / 8];     /* FD_CLOEXEC, by fd */
};

struct user_proc {
	struct user_session *session;   /* its session */
	struct user_proc *session_next; /* in session->procs */
	int pid, pgid, sid;             /* ids within the session */
	struct user_proc *parent;       /* NULL for the session's first process */
	struct user_proc *children;     /* its children, live or zombie */
	struct user_proc *sibling;      /* next child of the same parent */
	int exit_signal;                /* sent to the parent at its end (SIGCHLD, 0) */
	struct user_mm *mm;             /* its memory */
	struct fd_table *fds;           /* its open files */
	struct user_sigaction actions[SIGNAL_MAX + 1]; /* by signal (threads share them) */
	uint64_t pending;                              /* raised for the process (kill) */
	struct user_thread *threads;                   /* its threads */
	unsigned nthreads;                             /* threads that have not left yet */
	bool exiting;                     /* exit_group or a fatal signal: all threads end */
	bool zombie;                      /* ended: only its status is left for wait */
	int status;                       /* Linux wait status, once exiting/zombie */
	struct wait_queue child_wq;       /* wait4 sleepers: a child changed state */
	struct user_thread *vfork_parent; /* a vfork parent waiting for our exec/exit */
	char exe[STORE_PATH_MAX];         /* what runs (/proc/self/exe) */
	char cwd[STORE_PATH_MAX];         /* getcwd / chdir */
	uint16_t enosys[16];              /* unimplemented numbers reported so far */
	unsigned n_enosys;
	uint64_t start_ns;        /* when it started */
	uint64_t dead_run_ns;     /* CPU time of threads that have left */
	uint64_t children_run_ns; /* CPU time of children reaped */
	uint32_t umask;           /* umask */
};

struct user_session {
	struct prog *prog;       /* stdio pipes, arguments, stop requests */
	struct vm_budget budget; /* memory of all its processes */
	struct user_proc *procs; /* every process, live or zombie */
	struct user_proc *root;  /* the first process (pid 1) */
	unsigned nprocs;         /* processes in the list */
	unsigned live;           /* processes not yet ended */
	int next_pid;            /* the next pid or tid handed out */
	struct wait_queue wq;    /* user_run sleeps here: a process ended */
	bool killing;            /* every process is being ended */
	char *note;              /* user_run's note buffer: why the root ended */
	size_t note_len;
};

/* ---- uwait.c ---- */

/* The layer's lock: interrupts off (nests: restores what it found). */
bool ulock(void);
void uunlock(bool was_on);

/* The vsock core sockets are made on (user_init), NULL before. */
struct vsock_core *user_vsock(void);

struct user_thread *uthread_current(void);
struct user_proc *uproc_current(void);

/*
 * A wait for any of several things: a wait queue each (a socket, a pipe,
 * the container's stdio, a futex), plus what always ends a wait: a signal
 * the thread does not block, or the thread having to end.
 *
 *	struct uwait w;
 *	uwait_init(&w);
 *	uwait_reserve(&w, nfds);             // more than UWAIT_INLINE queues
 *	for (;;) {
 *		uwait_begin(&w);
 *		uwait_add(&w, queue);            // each thing looked at
 *		if (ready()) break;              // may take locks, copy, ...
 *		err = uwait_sleep(&w, deadline); // 0, -ETIMEDOUT, -EINTR
 *		uwait_end(&w);
 *		if (err) break;
 *	}
 *	uwait_done(&w);                      // unlinks, frees the room
 *
 * Waiting on the same queue twice links it once.  A queue that finds no
 * room is looked at again every 2 ms instead (never lost).
 */
struct uwait {
	struct waiter nodes[UWAIT_INLINE]; /* the first queues */
	struct waiter *more;               /* the rest (malloc), NULL */
	unsigned n, cap_more;              /* queues linked; room in more */
	bool nomem;                        /* a queue could not be linked: poll */
};
void uwait_init(struct uwait *w);
int uwait_reserve(struct uwait *w, unsigned n);
void uwait_begin(struct uwait *w);
void uwait_add(struct uwait *w, struct wait_queue *wq);
/* 0: something happened; -ETIMEDOUT; -EINTR (signal, or the thread ends). */
int uwait_sleep(struct uwait *w, uint64_t deadline_ns);
void uwait_end(struct uwait *w);
void uwait_done(struct uwait *w);
/* Sleep until the deadline or a signal: 0 at the deadline, else -EINTR. */
int uwait_nap(uint64_t deadline_ns);

/* Must the thread stop what it does: an unblocked signal, or its end? */
bool uthread_interrupted(struct user_thread *t);
/* Is the thread to end (exit_group, a kill, the session's end)? */
bool uthread_ending(struct user_thread *t);

/* Signals: raised for one thread (tgkill, faults, SIGPIPE) or for the
 * process (kill): the thread(s) that may take it are woken. */
void sig_send_thread(struct user_thread *t, int sig);
void sig_send_proc(struct user_proc *p, int sig);
/* Lock held: does the process discard `sig` (SIG_IGN, or SIG_DFL ignoring)? */
bool sig_ignored(struct user_proc *p, int sig);
bool sig_default_ignores(int sig);

/* End every thread of `p` (lock held): exit_group, a fatal signal, exec. */
void uproc_end_threads(struct user_proc *p, struct user_thread *except);

/* Unix time in ns (CLOCK_REALTIME): the RTC at the image's entry + since. */
uint64_t user_wall_clock_ns(void);

/* A negative errno of the image's <errno.h> (newlib's numbers) as Linux's. */
long linux_errno(long ret);

/* Why a process ended, in the session's note (its root only, first wins). */
void uproc_note(struct user_proc *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void umutex_lock(struct umutex *m);
void umutex_unlock(struct umutex *m);

/* The process with `pid` in the session, or NULL (lock held). */
struct user_proc *uproc_find(struct user_session *s, int pid);
/* The thread with `tid` in the session, or NULL (lock held). */
struct user_thread *uthread_find(struct user_session *s, int tid);

/* ---- futex.c ---- */

long futex_wait(struct user_mm *mm, uint64_t uaddr, uint32_t val, uint32_t bitset,
                uint64_t deadline_ns);
long futex_wake(struct user_mm *mm, uint64_t uaddr, int n, uint32_t bitset);
/* Wake n1 at uaddr, move up to n2 more to uaddr2 (cmp: *uaddr must be val). */
long futex_requeue(struct user_mm *mm, uint64_t uaddr, int n1, uint64_t uaddr2, int n2, bool cmp,
                   uint32_t val);

/* ---- fd.c ---- */

enum file_kind {
	FK_STDIN,
	FK_STDOUT,
	FK_STDERR, /* the session's pipes */
	FK_FILE,
	FK_DIR,   /* the store, read-only */
	FK_WFILE, /* a file being written (/tmp) */
	FK_PIPE_R,
	FK_PIPE_W,    /* pipe2 */
	FK_SOCKET,    /* AF_VSOCK */
	FK_EPOLL,     /* epoll_create1 */
	FK_VSOCK_DEV, /* /dev/vsock (ioctl) */
	FK_NULL,      /* /dev/null */
};

/* A pipe2 pipe: both ends may be in several processes (fork, dup). */
struct user_pipe {
	struct pipe pipe;          /* the bytes (agent/pipe.h), moved under ulock */
	unsigned readers, writers; /* open files on each end */
	struct wait_queue wq;      /* readers, writers and pollers of either end */
};

/* A file written by a program: its bytes reach the store at the last close. */
struct user_wfile {
	char path[STORE_PATH_MAX]; /* where */
	uint8_t *data;             /* its bytes (malloc) */
	size_t size, cap;          /* bytes, room */
	uint32_t mode;             /* permission bits */
};

/* An epoll entry: a file watched by an epoll instance (a weak reference:
 * the file's last close removes it). */
struct ep_item {
	struct user_epoll *ep;        /* the instance */
	struct user_file *file;       /* the file watched */
	int fd;                       /* the fd it was added as */
	uint32_t events;              /* EPOLL* asked for */
	uint64_t data;                /* epoll_data */
	uint32_t masked;              /* EPOLLET: reported, not yet seen to go away */
	struct ep_item *next_in_ep;   /* the instance's entries */
	struct ep_item *next_in_file; /* the file's entries */
};

struct user_epoll {
	struct ep_item *items; /* entries */
	unsigned nitems;       /* how many */
	uint64_t gen;          /* bumped whenever an entry goes or changes */
	struct wait_queue wq;  /* (nested epoll: never woken, polled) */
};

/* An open file description: fds, fork and dup share it. */
struct user_file {
	unsigned refs;             /* fds and users (a poll in progress) */
	enum file_kind kind;       /* what it is */
	unsigned flags;            /* O_NONBLOCK, O_APPEND, the access mode */
	uint64_t offset;           /* FILE, WFILE: position; DIR: next entry */
	struct prog *prog;         /* STDIN/STDOUT/STDERR: the session's pipes */
	struct user_pipe *pipe;    /* PIPE_R, PIPE_W */
	struct store_file *file;   /* FILE, DIR (NULL for "/"): a store reference */
	struct user_wfile *wfile;  /* WFILE */
	struct vsock_sock *sock;   /* SOCKET (NULL until made) */
	int sock_type;             /* SOCK_STREAM / SOCK_SEQPACKET */
	uint32_t rcvlowat;         /* SO_RCVLOWAT */
	uint64_t buf_min, buf_max; /* SO_VM_SOCKETS_BUFFER_MIN_SIZE / MAX_SIZE */
	bool connect_reported;     /* a non-blocking connect's outcome was read */
	struct user_epoll *ep;     /* EPOLL */
	struct ep_item *ep_items;  /* epoll entries watching this file */
};

/* Readiness, as poll's: POLLIN 1, POLLPRI 2, POLLOUT 4, POLLERR 8,
 * POLLHUP 0x10, POLLNVAL 0x20, POLLRDHUP 0x2000 */
#define UPOLLIN     0x1
#define UPOLLPRI    0x2
#define UPOLLOUT    0x4
#define UPOLLERR    0x8
#define UPOLLHUP    0x10
#define UPOLLNVAL   0x20
#define UPOLLRDNORM 0x40
#define UPOLLWRNORM 0x100
#define UPOLLRDHUP  0x2000

#define O_ACCMODE_BITS 3
#define UO_WRONLY      1
#define UO_RDWR        2
#define UO_NONBLOCK    04000
#define UO_APPEND      02000
#define UO_CLOEXEC     02000000

struct user_file *file_alloc(enum file_kind kind, unsigned flags);
void file_get(struct user_file *f);
/* Drop a reference; the last one closes it (sockets: SHUTDOWN/RST to the
 * peer).  Interrupts on, lock not held. */
void file_put(struct user_file *f);
/* The file at fd with a reference taken, or NULL (EBADF). */
struct user_file *fd_file(struct user_proc *p, int64_t fd);
/* Install f (the caller's reference moves to the table) at the lowest
 * free fd >= from: the fd, or -EMFILE. */
int fd_install(struct user_proc *p, struct user_file *f, int from, bool cloexec);
/* Put f at exactly fd (closing what was there): fd, or -EBADF. */
int fd_install_at(struct user_proc *p, struct user_file *f, int fd, bool cloexec);
int fd_close(struct user_proc *p, int64_t fd);
bool fd_cloexec(struct user_proc *p, int fd);
void fd_set_cloexec(struct user_proc *p, int fd, bool on);
/* A table with fds 0-2 on the session's pipes, a copy (fork), a release. */
struct fd_table *fd_table_new(struct prog *prog);
struct fd_table *fd_table_copy(struct fd_table *t);
void fd_table_put(struct fd_table *t);
/* exec: close the FD_CLOEXEC fds. */
void fd_close_on_exec(struct user_proc *p);

/* Readiness of f for poll (UPOLL*), and the queue that changes of it wake. */
unsigned file_poll(struct user_file *f);
struct wait_queue *file_wait_queue(struct user_file *f);
/* Sleep until f is ready for `events` (or has an error or hang-up): 0,
 * -ETIMEDOUT, -EINTR (a signal, the thread's end). */
int file_wait(struct user_file *f, unsigned events, uint64_t deadline_ns);

/* Pipes: bytes in or out (0 ..len), or -errno; never blocks. */
struct user_pipe *upipe_new(void);
long upipe_read(struct user_pipe *up, void *buf, size_t len);
long upipe_write(struct user_pipe *up, const void *buf, size_t len);

/* Paths: `upath` (user memory) relative to dirfd or the cwd, normalised. */
int path_resolve(struct user_proc *p, int64_t dirfd, uint64_t upath, char *out, size_t len);
int path_normalise(const char *base, const char *in, char *out, size_t len);
/* The store entry at an absolute path ("/" is a directory always). */
int path_lookup(const char *path, struct store_file **out, bool *is_dir);
/* May programs write at this path (/tmp/...)? */
bool path_writable(const char *path);

/* epoll entries of a file going away */
void epoll_forget_file(struct user_file *f);
/* EPOLLET: an operation on f found nothing to do (EAGAIN): its entries
 * report `bits` again once they are ready. */
void epoll_rearm(struct user_file *f, unsigned bits);

/* ---- exec.c ---- */

struct exec_args {
	int argc, envc;      /* counts */
	char **argv, **envp; /* strings (kernel memory) */
};
/* Load `file` into a fresh mm: 0 with *out, entry and sp; or -errno with
 * the reason in why (ENOEXEC: not an ELF for us; E2BIG; ENOMEM). */
int exec_load(struct vm_budget *budget, const struct store_file *file, const char *path,
              const struct exec_args *args, struct user_mm **out, uint64_t *entry, uint64_t *sp,
              char *why, size_t why_len);
/* fork: a copy of src's memory (NULL: no memory, over the budget). */
struct user_mm *mm_clone(struct user_mm *src, struct vm_budget *budget);
void mm_get(struct user_mm *mm);
/* The last user frees it; it must not be the CPU's address space then. */
void mm_put(struct user_mm *mm);

/* ---- proc.c ---- */

/*
 * A new thread of p, starting at pc/sp (a fresh program) or with the
 * registers of `frame` (arch_frame_size() bytes, then arch_frame_fpu's:
 * clone, fork), with `tls` in its TLS register.  It has its tid but does
 * not run before uthread_run.  NULL: no memory, or -EAGAIN's limit.
 */
struct user_thread *uthread_new(struct user_proc *p, const void *frame, uint64_t pc, uint64_t sp,
                                uint64_t tls);
/* Its task starts: 0, or -EAGAIN (no memory; the thread is gone). */
int uthread_run(struct user_thread *t);
/* A new process in session s, child of parent (NULL: the root): pid,
 * links, what it inherits besides memory and files.  NULL: the session
 * has UPROC_MAX_PROCS, or is ending, or no memory. */
struct user_proc *uproc_new(struct user_session *s, struct user_proc *parent);
/* Undo uproc_new for a process that never ran (its mm and fds dropped). */
void uproc_abort(struct user_proc *p);
/* Leave: the current thread ends (SYS_exit); the last one ends the process. */
__attribute__((noreturn)) void uthread_exit(int code);
/* The whole process ends with wait status `status` (exit_group, signal). */
__attribute__((noreturn)) void uproc_exit(int status);
/* Free a zombie that was waited for (lock held; unlinks it). */
void uproc_reap(struct user_proc *p);
/* vfork: the child execs or ends; its parent goes on (lock not held). */
void uproc_vfork_release(struct user_proc *child);
/* End every process of the session (user_run: killed, or its root ended). */
void session_kill(struct user_session *s);

/* ---- signal.c ---- */

/* ppoll, pselect6, epoll_pwait, rt_sigsuspend: the thread blocks `umask`
 * (a user pointer to a sigset of `size` bytes; 0: no change) while it
 * waits; the old mask comes back on the way out, after any handler the
 * wait let run.  0, -EFAULT, -EINVAL. */
int sigmask_swap_in(struct user_thread *t, uint64_t umask, uint64_t size);
#endif
