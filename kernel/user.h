/*
 * user.h -- user processes: unmodified static Linux ELF programs running
 * in ring 3 / EL0 in their own address spaces, with the Linux system-call
 * ABI (kernel/syscall.c), the container's pipes as fds 0, 1 and 2, and
 * AF_VSOCK sockets on the image's vsock core.  A program may make threads
 * (clone), processes (fork, vfork) and exec others; kernel/uproc.h has
 * the layer's own objects.
 *
 * Typical usage (the agent's program task, through agent_options.run_file):
 *	status = user_run(prog, file, "/bin/hello", limit, note, sizeof(note));
 *	// the exit code of the first process, or 128 + the signal that
 *	// ended it; `note` says why when it did not simply exit (ENOEXEC
 *	// reason, fault, ...)
 *
 * user_run returns once every process the program started has ended: the
 * end of the first process ends all the others (as the end of a pid
 * namespace's init does), and a kill of the calling task (SIGKILL from
 * the agent) ends them all.  Everything they held is freed by then.
 */
#ifndef KERNEL_USER_H
#define KERNEL_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/program.h"
#include "include/store.h"

/* Linux signal numbers beyond program.h's */
#define SIGNAL_ILL  4
#define SIGNAL_TRAP 5
#define SIGNAL_ABRT 6
#define SIGNAL_BUS  7
#define SIGNAL_FPE  8
#define SIGNAL_USR1 10
#define SIGNAL_SEGV 11
#define SIGNAL_USR2 12
#define SIGNAL_PIPE 13
#define SIGNAL_ALRM 14
#define SIGNAL_CHLD 17
#define SIGNAL_MAX  64

#define USER_NOTE_MAX 256

struct trap_frame;
struct vsock_core;

/* Sockets of programs live on `core` (one port space with the agent). */
void user_init(struct vsock_core *core);

int user_run(struct prog *prog, struct store_file *file, const char *path, uint64_t mem_limit,
             char *note, size_t note_len);

/* A fault in user mode: the faulting thread's handler runs, or the
 * process ends with 128 + sig and a console line. */
void user_fault(int sig, const char *what, uint64_t addr, uint64_t pc);
/* On every way back to user mode (interrupts off): the end of the
 * thread, or a pending signal's handler or default action. */
void user_return(struct trap_frame *f);
/* A page fault at `addr` below the stack: grown (true) or not a stack
 * growth / over the limit (false: the fault ends the process). */
bool user_stack_fault(uint64_t addr);
/* Read the current process's memory (for the arch fault decoder). */
int user_peek(uint64_t va, void *buf, size_t len);
/* rt_sigreturn: the frame the handler was given, back into `f` (whose
 * return register then must not be overwritten). */
long user_sigreturn(struct trap_frame *f);

/* kernel/syscall.c; the wall clock at the image's entry, for CLOCK_REALTIME
 * (0: unknown, then it counts from the boot). */
void syscall_set_wall_clock(uint64_t epoch_seconds_at_entry);
void syscall_dispatch(struct trap_frame *f);

/* kernel/entropy.c: AT_RANDOM and getrandom's bytes, from a virtio-rng
 * device when there is one, else RDRAND / RNDR, else the clock. */
void user_entropy(void *buf, size_t len);
const char *user_entropy_source(void);
struct dma_pool;
void entropy_probe(struct dma_pool *pool);

#endif
