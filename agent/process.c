/*
 * process.c -- containers and their processes (DESIGN §5; see process.h).
 * A container's init process has exec_id == its id.
 *
 * Who touches what: the agent task owns the tables, the state and the
 * reading end of stdout/stderr (and the writing end of stdin); a program
 * task touches only its struct prog (program.c) and, on its way out, the
 * few atomics marked in struct process.  A program's task handle is used
 * only under the kill handshake below, so it is never used after the
 * task is over.
 */
#include "agent/process.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/sha256.h"
#include "agent/version.h"
#include "include/log.h"
#include "include/store.h"

/* Args[0] naming a file of the store (DESIGN §9): it runs in user mode
 * through opts->run_file, not from the catalogue. */
static const struct program file_program = { "file", "a program file from the store", NULL };

#define TAP_CHUNK 256 /* output bytes looked at per step of the log tap */

#define LOAD(p)     __atomic_load_n(p, __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n(p, v, __ATOMIC_SEQ_CST)

/* ---- the table ---- */

void process_table_init(struct process_table *table, const struct agent_options *opts,
                        struct log_stream *log, struct vsock_core *core,
                        struct vsock_wakeup *wakeup)
{
	memset(table, 0, sizeof(*table));
	table->opts = opts;
	table->log = log;
	table->core = core;
	table->wakeup = wakeup;
	table->started_ns = platform_now_ns();
}

void process_table_free(struct process_table *table)
{
	while (table->containers)
		container_free(table->containers);
}

/*
 * A program moved a pipe (in its own task): wake the agent task, once
 * until it looks.  Seeing notified == 1 is enough to skip the post: the
 * agent clears it before it looks at the pipes, and that clear comes
 * after this load in the (sequentially consistent) order of all atomics,
 * so the pipe change before the load is seen.  Two programs may both post;
 * that is harmless.  (Loads and stores only: aarch64 would take a
 * read-modify-write from libgcc's outline atomics.)
 */
static void program_notify(void *arg)
{
	struct process_table *table = arg;

	if (LOAD(&table->notified))
		return;
	STORE(&table->notified, 1);
	vsock_wakeup_post(table->wakeup);
}

struct container *container_find(struct process_table *table, const char *id)
{
	for (struct container *ctr = table->containers; ctr; ctr = ctr->next)
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

bool container_running(const struct container *ctr)
{
	for (const struct process *p = ctr->procs; p; p = p->next)
		if (p->state == PROC_RUNNING)
			return true;
	return false;
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

static void process_free(struct process *proc)
{
	struct prog *io = &proc->io;

	proc->ctr->cpu_ns_freed += proc->cpu_ns;
	for (int i = 0; io->argv && i < io->argc; i++)
		free(io->argv[i]);
	for (int i = 0; io->envp && i < io->envc; i++)
		free(io->envp[i]);
	free(io->argv);
	free(io->envp);
	proc->ctr->table->argv_bytes -= proc->argv_bytes;
	pipe_destroy(&io->in);
	pipe_destroy(&io->out);
	pipe_destroy(&io->err);
	proc->ctr->table->nprocesses--;
	free(proc);
}

/* Bytes the strings of a vector hold, NULs and pointers included. */
static size_t vector_bytes(int n, const char *const *v)
{
	size_t bytes = (size_t)(n + 1) * sizeof(char *);

	for (int i = 0; i < n; i++)
		bytes += strlen(v[i]) + 1;
	return bytes;
}

static int copy_vector(int n, const char *const *from, char ***to, int *count)
{
	*to = calloc((size_t)n + 1, sizeof(char *));
	if (!*to)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		if (!((*to)[i] = dup_string(from[i])))
			return -ENOMEM;
		(*count)++;
	}
	return 0;
}

static int copy_spec(struct prog *io, const struct process_spec *spec)
{
	if (copy_vector(spec->argc, spec->argv, &io->argv, &io->argc) ||
	    copy_vector(spec->envc, spec->envp, &io->envp, &io->envc))
		return -ENOMEM;
	snprintf(io->cwd, sizeof(io->cwd), "%s", spec->cwd && spec->cwd[0] ? spec->cwd : "/");
	return 0;
}

int process_create(struct container *ctr, const char *exec_id, const struct process_spec *spec,
                   struct process **out, char *why, size_t why_len)
{
	struct process_table *table = ctr->table;
	size_t pipe_bytes = table->opts->pipe_bytes;
	struct process *proc;
	char names[256];

	if (spec->argc == 0 || spec->argv[0][0] == '\0') {
		snprintf(why, why_len,
		         "the process has no Args: Args[0] must name a "
		         "catalogue program");
		return -EINVAL;
	}
	bool is_file = false;

	if (strchr(spec->argv[0], '/') && table->opts->run_file) {
		struct store_file *f = store_get(spec->argv[0]);

		is_file = f && !f->is_dir;
		store_put(f);
	}
	if (!is_file && !catalogue_find(spec->argv[0])) {
		catalogue_list(names, sizeof(names));
		snprintf(why, why_len, "program '%s' is not in the catalogue (available: %s)",
		         spec->argv[0], names);
		return -ENOENT;
	}
	size_t args_bytes = vector_bytes(spec->argc, spec->argv);
	size_t env_bytes = vector_bytes(spec->envc, spec->envp);

	if (table->argv_bytes + args_bytes + env_bytes > PROCESS_ARGV_BYTES_MAX) {
		snprintf(why, why_len,
		         "%s: %zu bytes of arguments and %zu of environment, and "
		         "processes hold %zu already (at most %u in all)",
		         args_bytes > env_bytes ? "Process.Args" : "Process.Env", args_bytes,
		         env_bytes, table->argv_bytes, PROCESS_ARGV_BYTES_MAX);
		return -E2BIG;
	}
	if (ctr->nprocs - ctr->nreaped >= table->opts->max_procs) {
		snprintf(why, why_len,
		         "container '%s' already has %u processes not yet waited "
		         "for (limit agent.max_procs=%u)",
		         ctr->id, ctr->nprocs - ctr->nreaped, table->opts->max_procs);
		return -ENOSPC;
	}
	/* Reaped processes kept for their unread output are bounded too: the
	 * oldest gives way (what it wrote and nobody read is lost, and said so). */
	if (ctr->nreaped >= table->opts->max_procs) {
		for (struct process *old = ctr->procs; old; old = old->next) {
			if (old->reaped) {
				if (pipe_readable(&old->io.out) || pipe_readable(&old->io.err))
					agent_log(
					        table->log, "warn", ctr->id,
					        "process '%s' freed "
					        "with output nobody read (room for a new process)",
					        old->exec_id);
				process_remove(old);
				break;
			}
		}
	}
	proc = calloc(1, sizeof(*proc));
	if (!proc)
		goto err_nomem;
	proc->ctr = ctr;
	table->nprocesses++;
	snprintf(proc->exec_id, sizeof(proc->exec_id), "%s", exec_id);
	proc->program = is_file ? &file_program : catalogue_find(spec->argv[0]);
	proc->io.notify = program_notify;
	proc->io.notify_arg = table;
	proc->out = (struct output){ .pipe = &proc->io.out, .stream = "stdout" };
	proc->err = (struct output){ .pipe = &proc->io.err, .stream = "stderr" };
	if (pipe_init(&proc->io.in, pipe_bytes) || pipe_init(&proc->io.out, pipe_bytes) ||
	    pipe_init(&proc->io.err, pipe_bytes) || copy_spec(&proc->io, spec))
		goto err_free;
	proc->argv_bytes = args_bytes + env_bytes;
	table->argv_bytes += proc->argv_bytes;
	/* init first, execs after it in creation order */
	struct process **link = &ctr->procs;
	while (*link)
		link = &(*link)->next;
	*link = proc;
	ctr->nprocs++;
	*out = proc;
	return 0;

err_free:
	process_free(proc);
err_nomem:
	snprintf(why, why_len, "out of memory for a new process (try a smaller agent.pipe_kib)");
	return -ENOMEM;
}

int container_create(struct process_table *table, const char *id, const struct process_spec *spec,
                     struct container **out, char *why, size_t why_len)
{
	struct container *ctr = calloc(1, sizeof(*ctr));
	int err;

	if (!ctr) {
		snprintf(why, why_len, "agent is out of memory");
		return -ENOMEM;
	}
	ctr->table = table;
	ctr->mem_limit = spec->mem_limit;
	snprintf(ctr->id, sizeof(ctr->id), "%s", id);
	err = process_create(ctr, ctr->id, spec, &ctr->init, why, why_len);
	if (err < 0) {
		free(ctr);
		return err;
	}
	ctr->next = table->containers;
	table->containers = ctr;
	table->ncontainers++;
	*out = ctr;
	return 0;
}

void container_free(struct container *ctr)
{
	struct process_table *table = ctr->table;

	for (struct container **link = &table->containers; *link; link = &(*link)->next) {
		if (*link == ctr) {
			*link = ctr->next;
			break;
		}
	}
	while (ctr->procs) {
		struct process *proc = ctr->procs;

		ctr->procs = proc->next;
		process_free(proc);
	}
	table->ncontainers--;
	free(ctr);
}

void process_remove(struct process *proc)
{
	struct container *ctr = proc->ctr;

	for (struct process **link = &ctr->procs; *link; link = &(*link)->next) {
		if (*link == proc) {
			*link = proc->next;
			ctr->nprocs--;
			ctr->nreaped -= proc->reaped;
			process_free(proc);
			return;
		}
	}
}

/* Sample what a live task uses (platform lock held). */
static void sample_usage(struct process *proc)
{
	if (proc->state == PROC_RUNNING && proc->task && !LOAD(&proc->task_gone))
		platform_task_usage(proc->task, &proc->cpu_ns, &proc->mem_bytes);
}

void container_usage(struct container *ctr, struct process_usage *use)
{
	*use = (struct process_usage){ ctr->cpu_ns_freed, 0, 0, 0 };
	platform_lock();
	for (struct process *p = ctr->procs; p; p = p->next) {
		sample_usage(p);
		use->cpu_ns += p->cpu_ns;
		if (p->state == PROC_RUNNING) {
			use->mem_bytes += p->mem_bytes;
			use->running++;
		}
	}
	platform_unlock();
	if (use->mem_bytes > ctr->mem_bytes_max)
		ctr->mem_bytes_max = use->mem_bytes;
	use->mem_bytes_max = ctr->mem_bytes_max;
}

/* ---- the program's task ---- */

static void program_task(void *arg)
{
	struct process *proc = arg;
	const struct agent_options *opts = proc->ctr->table->opts;
	int status = proc->program == &file_program ?
	                     opts->run_file(&proc->io, proc->io.argv[0], proc->ctr->mem_limit,
	                                    proc->note, sizeof(proc->note)) :
	                     proc->program->main(&proc->io, proc->io.argc, proc->io.argv);

	STORE(&proc->status, status);
	/* Past main: from here the task may end at any moment, so the agent
	 * must not start a kill; one under way finishes with our handle
	 * first (kill_task).  -EINTR: the kill has been delivered. */
	STORE(&proc->returning, 1);
	if (LOAD(&proc->kill_inflight)) {
		platform_lock();
		while (LOAD(&proc->kill_inflight) &&
		       platform_wait(&proc->io.wq, PLATFORM_FOREVER) != -EINTR)
			;
		platform_unlock();
	}
}

/* The task is over for good (platform lock held, another task's context). */
static void program_exited(void *arg, bool killed)
{
	struct process *proc = arg;

	/* the handle is good until we return: the task's final figures */
	platform_task_usage(proc->task, &proc->cpu_ns, &proc->mem_bytes);
	proc->mem_bytes = 0;
	proc->killed = killed;
	STORE(&proc->task_gone, 1);
	vsock_wakeup_post_locked(proc->ctr->table->wakeup);
}

/*
 * platform_task_kill needs a live handle.  Dekker's handshake with the
 * program task: we announce the kill, then look whether the task is past
 * main; it announces that, then looks for a kill under way and waits for
 * it.  Whichever comes second sees the other, so either the task is not
 * returning and waits for us, or we do not touch the handle.
 */
static void kill_task(struct process *proc)
{
	STORE(&proc->kill_inflight, 1);
	if (!LOAD(&proc->returning))
		platform_task_kill(proc->task);
	STORE(&proc->kill_inflight, 0);
	prog_wake(&proc->io);
}

static void fill_facts(struct process *proc)
{
	struct process_table *table = proc->ctr->table;

	proc->io.facts = (struct prog_facts){
		.agent_version = AGENT_VERSION,
		.arch = table->opts->arch,
		.boot_id = table->opts->boot_id,
		.guest_cid = vsock_core_local_cid(table->core),
		.agent_uptime_ms = (platform_now_ns() - table->started_ns) / 1000000,
		.containers = table->ncontainers,
		.processes = table->nprocesses,
	};
}

int process_start(struct process *proc)
{
	struct process_table *table = proc->ctr->table;
	int err;

	fill_facts(proc);
	proc->state = PROC_RUNNING;
	table->ntasks++;
	err = platform_task_spawn(&proc->task, proc->program->name, program_task, proc,
	                          table->opts->stack_bytes, program_exited, proc);
	if (err < 0) {
		proc->state = PROC_CREATED;
		proc->task = NULL;
		table->ntasks--;
		return err;
	}
	if (proc->program == &file_program) {
		struct store_file *f = store_get(proc->io.argv[0]);
		char hex[65] = "";

		/* a file's data never changes: its digest is computed once (only
		 * the agent task writes it) */
		if (f && !f->sha256[0]) {
			struct sha256 ctx;
			uint8_t digest[32];

			sha256_init(&ctx);
			sha256_update(&ctx, f->data, f->size);
			sha256_final(&ctx, digest);
			for (int i = 0; i < 32; i++)
				snprintf(f->sha256 + 2 * i, 3, "%02x", digest[i]);
		}
		if (f)
			memcpy(hex, f->sha256, sizeof(hex));
		store_put(f);
		agent_log_kv(table->log, "info", proc->ctr->id, "sha256", hex,
		             "process '%s' started: %s (user mode)", proc->exec_id,
		             proc->io.argv[0]);
		return 0;
	}
	agent_log(table->log, "info", proc->ctr->id, "process '%s' started: %s", proc->exec_id,
	          proc->program->name);
	return 0;
}

void process_fail(struct process *proc, int status)
{
	proc->exit_status = status;
	proc->state = PROC_EXITED;
	pipe_close_write(&proc->io.out);
	pipe_close_write(&proc->io.err);
	pipe_close_read(&proc->io.in);
}

bool signal_supported(uint32_t sig)
{
	return sig <= 64;
}

bool signal_terminates(uint32_t sig)
{
	/* Linux's default actions: CHLD, URG, WINCH are ignored; CONT
	 * continues; STOP, TSTP, TTIN, TTOU stop (not modelled: ignored) */
	switch (sig) {
	case 17:
	case 18:
	case 19:
	case 20:
	case 21:
	case 22:
	case 23:
	case 28:
		return false;
	default:
		return sig >= 1 && sig <= 64;
	}
}

/*
 * SIGKILL ends the task (platform_task_kill).  Another terminating signal
 * asks a catalogue program to stop: its waits return and it exits with
 * 128 + signal.  A user program takes any signal through the same request
 * (kernel: its handler, or Linux's default action).  Signal 0 only checks
 * that the process exists.
 */
int process_signal(struct process *proc, uint32_t sig)
{
	if (!signal_supported(sig))
		return -EINVAL;
	if (sig == 0)
		return 0;
	if (proc->state == PROC_CREATED) {
		/* never started: a terminating signal ends it where it stands */
		if (signal_terminates(sig)) {
			process_fail(proc, 128 + (int)sig);
			agent_log(proc->ctr->table->log, "info", proc->ctr->id,
			          "process '%s' "
			          "ended by signal %u before it was started: status %d",
			          proc->exec_id, sig, proc->exit_status);
		}
		return 0;
	}
	if (proc->state != PROC_RUNNING)
		return 0;
	if (proc->program == &file_program || signal_terminates(sig))
		prog_request_stop(&proc->io, (int)sig);
	if (sig == SIGNAL_KILL && !proc->kill_sent) {
		proc->kill_sent = true;
		kill_task(proc);
	}
	return 0;
}

void process_kill_all(struct process_table *table)
{
	for (struct container *ctr = table->containers; ctr; ctr = ctr->next)
		for (struct process *proc = ctr->procs; proc; proc = proc->next)
			process_signal(proc, SIGNAL_KILL);
}

/* ---- output into the log ---- */

/* The line so far as records: one, or more when its escaped form is long. */
static void flush_line(struct process *proc, struct output *o)
{
	for (size_t done = 0; done < o->line_len;)
		done += log_record(proc->ctr->table->log, "info", "container", proc->ctr->id,
		                   o->stream, o->line + done, o->line_len - done);
	o->line_len = 0;
}

/* Log what the program wrote since last time, one record per line (split
 * at LOG_MSG_MAX), while the log stream can take it. */
static void tap_output(struct process *proc, struct output *o, uint64_t now)
{
	struct log_stream *log = proc->ctr->table->log;
	uint8_t chunk[TAP_CHUNK];

	for (;;) {
		size_t n = pipe_peek(o->pipe, o->logged, chunk, sizeof(chunk)), used = 0;

		if (n == 0 || log_output_should_wait(log, now))
			return;
		while (used < n) {
			uint8_t c = chunk[used];

			if (c == '\n' || o->line_len == sizeof(o->line)) {
				flush_line(proc, o);
				used += c == '\n';
				break; /* a record made: may the next one go? */
			}
			o->line[o->line_len++] = (char)c;
			used++;
		}
		o->logged += used;
	}
}

static size_t unlogged(const struct output *o)
{
	return pipe_readable(o->pipe) - o->logged;
}

/* The task is over and all its output logged: the process has exited. */
static void finish_exit(struct process *proc)
{
	struct process_table *table = proc->ctr->table;

	proc->exit_status = proc->killed ? 128 + SIGNAL_KILL : LOAD(&proc->status) & 0xff;
	proc->state = PROC_EXITED;
	proc->task = NULL;
	pipe_close_write(&proc->io.out);
	pipe_close_write(&proc->io.err);
	pipe_close_read(&proc->io.in);
	flush_line(proc, &proc->out);
	flush_line(proc, &proc->err);
	table->ntasks--;
	agent_log(table->log, "info", proc->ctr->id, "process '%s' (%s) exited with status %d%s%s",
	          proc->exec_id,
	          proc->program == &file_program ? proc->io.argv[0] : proc->program->name,
	          proc->exit_status, proc->note[0] ? ": " : "", proc->note);
}

void process_table_poll(struct process_table *table, uint64_t now)
{
	/* Before looking: a program that moves a pipe from now on posts again. */
	STORE(&table->notified, 0);
	for (struct container *ctr = table->containers; ctr; ctr = ctr->next) {
		for (struct process *proc = ctr->procs; proc; proc = proc->next) {
			if (proc->state != PROC_RUNNING)
				continue;
			tap_output(proc, &proc->out, now);
			tap_output(proc, &proc->err, now);
			if (LOAD(&proc->task_gone) && !unlogged(&proc->out) &&
			    !unlogged(&proc->err))
				finish_exit(proc);
		}
	}
}

/* ---- the host's side of the pipes ---- */

size_t process_read_output(struct process *proc, bool err_stream, void *buf, size_t len)
{
	struct output *o = err_stream ? &proc->err : &proc->out;
	size_t n = pipe_read(o->pipe, buf, len < o->logged ? len : o->logged);

	o->logged -= n;
	if (n)
		prog_wake(&proc->io); /* room for the writer */
	return n;
}

bool process_output_done(const struct process *proc)
{
	return proc->eof_out && proc->eof_err;
}

bool process_output_ready(const struct process *proc, bool err_stream)
{
	const struct output *o = err_stream ? &proc->err : &proc->out;

	return o->logged || proc->state == PROC_EXITED;
}

size_t process_input_room(const struct process *proc)
{
	return pipe_room(&proc->io.in);
}

size_t process_write_input(struct process *proc, const void *buf, size_t len)
{
	size_t n = pipe_write(&proc->io.in, buf, len);

	if (n)
		prog_wake(&proc->io);
	return n;
}

const char *process_input_refusal(const struct process *proc)
{
	if (pipe_write_closed(&proc->io.in))
		return "stdin was closed (CloseStdin)";
	if (pipe_read_closed(&proc->io.in))
		return "the process has exited: nothing reads stdin";
	return NULL;
}

void process_close_input(struct process *proc)
{
	pipe_close_write(&proc->io.in);
	prog_wake(&proc->io);
}
