/*
 * user.h -- user processes: a static Linux ELF program running in ring 3 /
 * EL0 in its own address space, on the task that called user_run (the
 * container's program task), with the Linux system-call ABI
 * (kernel/syscall.c) and the container's pipes as fds 0, 1 and 2.
 *
 * Typical usage (the agent's program task, through agent_options.run_file):
 *	status = user_run(prog, file, "/bin/hello", limit, note, sizeof(note));
 *	// the exit code, or 128 + the signal that ended it; `note` says why
 *	// when it did not simply exit (ENOEXEC reason, fault, ...)
 *
 * Ends of a process: exit/exit_group, a fatal signal (a fault in user
 * mode, kill, SignalProcess), or the task being killed (SIGKILL): in each
 * case everything it held is freed before user_run returns.
 */
#ifndef KERNEL_USER_H
#define KERNEL_USER_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/program.h"
#include "include/store.h"

/* Linux signal numbers beyond program.h's */
#define SIGNAL_ILL 4
#define SIGNAL_TRAP 5
#define SIGNAL_ABRT 6
#define SIGNAL_BUS 7
#define SIGNAL_FPE 8
#define SIGNAL_USR1 10
#define SIGNAL_SEGV 11
#define SIGNAL_USR2 12
#define SIGNAL_PIPE 13
#define SIGNAL_ALRM 14
#define SIGNAL_CHLD 17
#define SIGNAL_MAX 64

#define USER_MAX_FDS 64
#define USER_NOTE_MAX 256

struct trap_frame;
struct vm_space;

enum fd_kind { FD_NONE, FD_STDIN, FD_STDOUT, FD_STDERR, FD_FILE, FD_DIR, FD_PIPE_R, FD_PIPE_W };

/* A pipe2 pipe: both ends in this process (there is no fork). */
struct user_pipe {
	struct pipe pipe;            /* the bytes (agent/pipe.h) */
	unsigned readers, writers;   /* fds open on each end */
};

struct user_fd {
	enum fd_kind kind;           /* what it reads or writes */
	bool cloexec;                /* FD_CLOEXEC (kept, no exec yet) */
	bool nonblock;               /* O_NONBLOCK (pipes) */
	struct user_pipe *upipe;     /* PIPE_R, PIPE_W: the pipe */
	struct store_file *file;     /* FILE, DIR: the store entry (a reference) */
	uint64_t offset;             /* FILE: read position; DIR: next entry */
};

struct user_sigaction {
	uint64_t handler;            /* SIG_DFL 0, SIG_IGN 1, or an address */
	uint64_t flags;              /* SA_* */
	uint64_t restorer;           /* SA_RESTORER's trampoline */
	uint64_t mask;               /* blocked while the handler runs */
};

struct user_proc {
	struct prog *prog;           /* the container's pipes and arguments */
	struct vm_space *as;         /* its address space */
	char exe[STORE_PATH_MAX];    /* what runs (readlink /proc/self/exe) */
	jmp_buf exit_jmp;            /* user_run's frame: every end lands here */
	int exit_status;             /* set before the longjmp */
	uint64_t brk_start, brk, brk_max; /* the heap after the program's segments */
	uint64_t mmap_next;          /* mmap hands out addresses downwards from here */
	uint64_t sigreturn_page;     /* the page with the rt_sigreturn trampoline */
	struct user_fd fds[USER_MAX_FDS]; /* open files */
	struct user_sigaction actions[SIGNAL_MAX + 1]; /* rt_sigaction, by signal */
	uint64_t blocked;            /* rt_sigprocmask (bit sig - 1) */
	uint64_t pending;            /* raised, not yet delivered */
	uint64_t altstack_sp, altstack_size; /* sigaltstack */
	uint32_t altstack_flags;
	uint64_t clear_tid;          /* set_tid_address */
	char cwd[STORE_PATH_MAX];    /* getcwd / chdir */
	uint16_t enosys[16];         /* unimplemented numbers reported so far */
	unsigned n_enosys;
	char *note;                  /* user_run's note buffer */
	size_t note_len;
	uint64_t start_ns;           /* for times / rusage */
	uint8_t *iobuf;              /* bounce buffer for read/write (USER_IOBUF bytes) */
};

#define USER_IOBUF (16u << 10)

int user_run(struct prog *prog, struct store_file *file, const char *path, uint64_t mem_limit,
	     char *note, size_t note_len);

/* The running task's process, or NULL. */
struct user_proc *user_current(void);
/* End the current process with `status` (never returns). */
__attribute__((noreturn)) void user_exit(int status);
/* A fault in user mode: log it and end the process with 128 + sig. */
__attribute__((noreturn)) void user_fault(int sig, const char *what, uint64_t addr, uint64_t pc);
/* On every way back to user mode (interrupts off): a kill ends the
 * process, a pending signal runs its handler or its default action. */
void user_return(struct trap_frame *f);
/* A page fault at `addr` below the stack: grown (true) or not a stack
 * growth / over the limit (false: the fault ends the process). */
bool user_stack_fault(uint64_t addr);
/* Read the current process's memory (for the arch fault decoder). */
int user_peek(uint64_t va, void *buf, size_t len);
/* Raise `sig` for the current process (kill, tgkill to itself). */
void user_raise(int sig);
/* rt_sigreturn: the frame the handler was given, back into `f` (whose
 * return register then must not be overwritten). */
long user_sigreturn(struct trap_frame *f);

/* kernel/syscall.c; the wall clock at the image's entry, for CLOCK_REALTIME
 * (0: unknown, then it counts from the boot). */
void syscall_set_wall_clock(uint64_t epoch_seconds_at_entry);
void syscall_dispatch(struct trap_frame *f);

/* kernel/fd.c: fds 0-2 on the container's pipes, the I/O bounce buffer */
void user_fds_init(struct user_proc *p);
void user_fds_close(struct user_proc *p);
/* An open fd, or NULL (EBADF). */
struct user_fd *fd_get(struct user_proc *p, uint64_t fd);
/* The lowest free fd from `from`, or -EMFILE. */
int fd_alloc(struct user_proc *p, int from);
void fd_release(struct user_fd *fd);

/* kernel/entropy.c: AT_RANDOM and getrandom's bytes, from a virtio-rng
 * device when there is one, else RDRAND / RNDR, else the clock. */
void user_entropy(void *buf, size_t len);
const char *user_entropy_source(void);
struct dma_pool;
void entropy_probe(struct dma_pool *pool);

#endif
