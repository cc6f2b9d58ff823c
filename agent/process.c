/*
 * process.c -- containers and their processes (DESIGN §5): each process
 * runs one catalogue program as its own task with bounded stdin, stdout
 * and stderr pipes.  A container's init process has exec_id == its id.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/internal.h"
#include "include/log.h"
#include "oci.pb.h"

/* ---- agent-owned tasks ---- */

struct task_start {
	struct agent *agent;          /* owner */
	void (*exit_fn)(void *, bool); /* the caller's exit callback */
	void *exit_arg;               /* and its argument */
};

void agent_task_done_locked(struct agent *agent)
{
	agent->tasks--;
	platform_wake(&agent->tasks_wq);
}

static void agent_task_exit(void *arg, bool killed)
{
	struct task_start *start = arg;
	struct agent *agent = start->agent;

	if (start->exit_fn)
		start->exit_fn(start->exit_arg, killed);
	free(start);
	agent_task_done_locked(agent);
}

/* platform_task_spawn that keeps count, so agent_stop can wait for all. */
int agent_spawn(struct agent *agent, const char *name, void (*fn)(void *), void *arg,
		size_t stack, void (*exit_fn)(void *, bool), void *exit_arg)
{
	struct task_start *start = malloc(sizeof(*start));
	struct platform_task *task;
	int err;

	if (!start)
		return -ENOMEM;
	start->agent = agent;
	start->exit_fn = exit_fn;
	start->exit_arg = exit_arg;
	platform_lock();
	agent->tasks++;
	platform_unlock();
	err = platform_task_spawn(&task, name, fn, arg, stack, agent_task_exit, start);
	if (err < 0) {
		free(start);
		platform_lock();
		agent_task_done_locked(agent);
		platform_unlock();
	}
	return err;
}

/* ---- pipes ---- */

static int pipe_init(struct pipe *pipe, size_t cap)
{
	pipe->buf = malloc(cap);
	pipe->cap = cap;
	pipe->head = pipe->len = 0;
	pipe->eof = pipe->broken = false;
	return pipe->buf ? 0 : -ENOMEM;
}

size_t pipe_read_locked(struct pipe *pipe, void *buf, size_t len)
{
	uint8_t *out = buf;
	size_t done = 0;

	while (done < len && pipe->len) {
		size_t n = pipe->cap - pipe->head;

		if (n > pipe->len)
			n = pipe->len;
		if (n > len - done)
			n = len - done;
		memcpy(out + done, pipe->buf + pipe->head, n);
		pipe->head = (pipe->head + n) % pipe->cap;
		pipe->len -= n;
		done += n;
	}
	return done;
}

size_t pipe_write_locked(struct pipe *pipe, const void *buf, size_t len)
{
	const uint8_t *in = buf;
	size_t done = 0;

	while (done < len && pipe->len < pipe->cap) {
		size_t tail = (pipe->head + pipe->len) % pipe->cap;
		size_t n = tail >= pipe->head ? pipe->cap - tail : pipe->head - tail;

		if (n > len - done)
			n = len - done;
		memcpy(pipe->buf + tail, in + done, n);
		pipe->len += n;
		done += n;
	}
	return done;
}

/* ---- lookup ---- */

struct container *container_find(struct agent *agent, const char *id)
{
	for (struct container *ctr = agent->containers; ctr; ctr = ctr->next)
		if (strcmp(ctr->id, id) == 0)
			return ctr;
	return NULL;
}

struct process *process_find(struct container *ctr, const char *exec_id)
{
	for (struct process *proc = ctr->procs; proc; proc = proc->next)
		if (strcmp(proc->exec_id, exec_id) == 0)
			return proc;
	return NULL;
}

/* ---- life cycle ---- */

static char *dup_string(const char *s)
{
	size_t n = strlen(s) + 1;
	char *copy = malloc(n);

	if (copy)
		memcpy(copy, s, n);
	return copy;
}

void process_free_locked(struct process *proc)
{
	for (int i = 0; i < proc->argc; i++)
		free(proc->argv[i]);
	for (int i = 0; i < proc->envc; i++)
		free(proc->envp[i]);
	free(proc->in.buf);
	free(proc->out.buf);
	free(proc->err.buf);
	proc->ctr->agent->nprocesses--;
	free(proc);
}

int process_create_locked(struct container *ctr, const char *exec_id,
			  const void *oci_process, struct process **out, char *err, size_t errlen)
{
	const grpc_Process *spec = oci_process;
	struct agent *agent = ctr->agent;
	struct process *proc;
	char names[256];

	if (spec->Args_count == 0 || spec->Args[0][0] == '\0') {
		snprintf(err, errlen, "the process has no Args: Args[0] must name a "
			 "catalogue program");
		return -EINVAL;
	}
	if (!catalogue_find(spec->Args[0])) {
		catalogue_list(names, sizeof(names));
		snprintf(err, errlen, "program '%s' is not in the catalogue (available: %s)",
			 spec->Args[0], names);
		return -ENOENT;
	}
	if (ctr->nprocs >= agent->opts.max_procs) {
		snprintf(err, errlen, "container '%s' already has %u processes "
			 "(limit agent.max_procs=%u)", ctr->id, ctr->nprocs, agent->opts.max_procs);
		return -ENOSPC;
	}
	proc = calloc(1, sizeof(*proc));
	if (!proc)
		goto err_nomem;
	proc->ctr = ctr;
	agent->nprocesses++;
	snprintf(proc->exec_id, sizeof(proc->exec_id), "%s", exec_id);
	proc->prog = catalogue_find(spec->Args[0]);
	snprintf(proc->cwd, sizeof(proc->cwd), "%s", spec->Cwd[0] ? spec->Cwd : "/");
	for (pb_size_t i = 0; i < spec->Args_count; i++) {
		if (!(proc->argv[proc->argc] = dup_string(spec->Args[i])))
			goto err_free;
		proc->argc++;
	}
	for (pb_size_t i = 0; i < spec->Env_count; i++) {
		if (!(proc->envp[proc->envc] = dup_string(spec->Env[i])))
			goto err_free;
		proc->envc++;
	}
	if (pipe_init(&proc->in, agent->opts.pipe_bytes) || pipe_init(&proc->out, agent->opts.pipe_bytes) ||
	    pipe_init(&proc->err, agent->opts.pipe_bytes))
		goto err_free;
	proc->next = NULL;
	/* init first, execs after it in creation order */
	struct process **link = &ctr->procs;
	while (*link)
		link = &(*link)->next;
	*link = proc;
	ctr->nprocs++;
	*out = proc;
	return 0;

err_free:
	process_free_locked(proc);
err_nomem:
	snprintf(err, errlen, "out of memory for a new process (try a smaller agent.pipe_kib)");
	return -ENOMEM;
}

void container_free_locked(struct container *ctr)
{
	struct agent *agent = ctr->agent;

	for (struct container **link = &agent->containers; *link; link = &(*link)->next) {
		if (*link == ctr) {
			*link = ctr->next;
			break;
		}
	}
	while (ctr->procs) {
		struct process *proc = ctr->procs;

		ctr->procs = proc->next;
		process_free_locked(proc);
	}
	agent->ncontainers--;
	free(ctr);
}

/* Output lines still partial at exit go to the log as they are. */
static void flush_line_locked(struct process *proc, struct line_buf *line, const char *stream)
{
	if (line->len)
		log_record_locked(proc->ctr->agent, "info", "container", proc->ctr->id, stream,
				  line->text, line->len);
	line->len = 0;
}

static void program_task(void *arg)
{
	struct process *proc = arg;
	int status = proc->prog->main(proc, proc->argc, proc->argv);

	platform_lock();
	proc->exit_status = status & 0xff;
	/* A SignalProcess(KILL) holding our handle must finish with it first. */
	while (proc->kill_inflight)
		platform_wait(&proc->wq, platform_now_ns() + 1000000);
	platform_unlock();
}

/* Runs once the task is gone for good (lock held, another task's context). */
static void program_exited(void *arg, bool killed)
{
	struct process *proc = arg;
	struct agent *agent = proc->ctr->agent;

	if (killed)
		proc->exit_status = 128 + SIGNAL_KILL;
	proc->state = PROC_EXITED;
	proc->task = NULL;
	proc->out.eof = proc->err.eof = true;
	proc->in.broken = true;
	flush_line_locked(proc, &proc->out_line, "stdout");
	flush_line_locked(proc, &proc->err_line, "stderr");
	agent_log_locked(agent, "info", proc->ctr->id, "process '%s' (%s) exited with status %d",
			 proc->exec_id, proc->prog->name, proc->exit_status);
	platform_wake(&proc->wq);
	parks_poll_locked(agent);
}

/* The caller set proc->state = PROC_RUNNING under the lock already, so
 * nobody frees the process meanwhile. */
int process_start(struct process *proc)
{
	struct agent *agent = proc->ctr->agent;
	struct platform_task *task;
	struct task_start *start;
	int err;

	/* agent_spawn inlined: the handle is kept for SignalProcess. */
	start = malloc(sizeof(*start));
	if (!start)
		return -ENOMEM;
	start->agent = agent;
	start->exit_fn = program_exited;
	start->exit_arg = proc;
	platform_lock();
	agent->tasks++;
	platform_unlock();
	err = platform_task_spawn(&task, proc->prog->name, program_task, proc,
				  agent->opts.stack_bytes, agent_task_exit, start);
	platform_lock();
	if (err < 0) {
		free(start);
		proc->state = PROC_CREATED;
		agent_task_done_locked(agent);
	} else if (proc->state == PROC_RUNNING) {
		/* (if it already ran and exited, the handle is gone) */
		proc->task = task;
		agent_log_locked(agent, "info", proc->ctr->id, "process '%s' started: %s",
				 proc->exec_id, proc->prog->name);
	}
	platform_unlock();
	return err;
}

/*
 * SIGKILL ends the task (platform_task_kill); TERM, INT, HUP and QUIT ask
 * the program to stop: its waits return and it exits with 128 + signal.
 * Signal 0 only checks that the process exists.
 */
int process_signal(struct process *proc, uint32_t sig)
{
	struct platform_task *task = NULL;

	if (sig != 0 && sig != 1 && sig != 2 && sig != 3 && sig != SIGNAL_KILL && sig != 15)
		return -EINVAL;
	platform_lock();
	if (proc->state == PROC_RUNNING && sig != 0) {
		if (!proc->stop_signal)
			proc->stop_signal = (int)sig;
		if (sig == SIGNAL_KILL && !proc->kill_sent && proc->task) {
			proc->kill_sent = true;
			proc->kill_inflight = true;
			task = proc->task;
		}
		platform_wake(&proc->wq);
	}
	platform_unlock();
	/* The handle stays valid meanwhile: the task cannot return while
	 * kill_inflight is set (program_task), only be ended by this kill. */
	if (task) {
		platform_task_kill(task);
		platform_lock();
		proc->kill_inflight = false;
		platform_wake(&proc->wq);
		platform_unlock();
	}
	return 0;
}

/* agent_stop: every running program is killed. */
void agent_kill_all(struct agent *agent)
{
	for (;;) {
		struct process *victim = NULL;

		platform_lock();
		for (struct container *ctr = agent->containers; ctr && !victim; ctr = ctr->next)
			for (struct process *proc = ctr->procs; proc; proc = proc->next)
				if (proc->state == PROC_RUNNING && !proc->kill_sent) {
					victim = proc;
					break;
				}
		platform_unlock();
		if (!victim)
			return;
		process_signal(victim, SIGNAL_KILL);
	}
}
