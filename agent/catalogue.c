/*
 * catalogue.c -- the built-in programs a container can run (DESIGN §5),
 * named by Spec.Process.Args[0], and the calls they make: read stdin,
 * write stdout/stderr, sleep, notice a stop request.  Each runs as its
 * own task; everything they share with the agent is behind the lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/internal.h"

#define CHUNK 4096              /* bytes a program moves per call */
#define STOP_POLL_NS 50000000ull /* waits re-check for a stop this often */

/* ---- the program side of the pipes ---- */

bool prog_should_stop(struct process *proc)
{
	bool stop;

	platform_lock();
	stop = proc->stop_signal != 0;
	platform_unlock();
	return stop || platform_task_kill_requested();
}

int prog_stopped_status(struct process *proc)
{
	int sig;

	platform_lock();
	sig = proc->stop_signal ? proc->stop_signal : SIGNAL_KILL;
	platform_unlock();
	return 128 + sig;
}

/* Wait on proc->wq (lock held); -EINTR once asked to stop or killed
 * (platform_wait says so for a killed task). */
static int prog_wait_locked(struct process *proc, uint64_t deadline)
{
	uint64_t slice = platform_now_ns() + STOP_POLL_NS;
	int err;

	if (proc->stop_signal)
		return -EINTR;
	err = platform_wait(&proc->wq, deadline < slice ? deadline : slice);
	if (err == -EINTR || proc->stop_signal)
		return -EINTR;
	return err;
}

ssize_t prog_read(struct process *proc, void *buf, size_t len)
{
	struct agent *agent = proc->ctr->agent;
	ssize_t n = 0;

	platform_lock();
	for (;;) {
		if (proc->in.len) {
			n = (ssize_t)pipe_read_locked(&proc->in, buf, len);
			parks_poll_locked(agent); /* a parked WriteStdin may fit now */
			break;
		}
		if (proc->in.eof)
			break;
		if (prog_wait_locked(proc, PLATFORM_FOREVER) == -EINTR) {
			n = -EINTR;
			break;
		}
	}
	platform_unlock();
	return n;
}

/* Copy output into the log stream, one record per line. */
static void log_output_locked(struct process *proc, struct line_buf *line, const char *stream,
			      const uint8_t *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n' || line->len == sizeof(line->text)) {
			log_record_locked(proc->ctr->agent, "info", "container", proc->ctr->id,
					  stream, line->text, line->len);
			line->len = 0;
			if (data[i] == '\n')
				continue;
		}
		line->text[line->len++] = (char)data[i];
	}
}

int prog_write(struct process *proc, int fd, const void *buf, size_t len)
{
	struct agent *agent = proc->ctr->agent;
	struct pipe *pipe = fd == 2 ? &proc->err : &proc->out;
	struct line_buf *line = fd == 2 ? &proc->err_line : &proc->out_line;
	const char *stream = fd == 2 ? "stderr" : "stdout";
	const uint8_t *p = buf;
	int err = 0;

	platform_lock();
	while (len) {
		size_t n;

		/* Backpressure from a log listener that is behind (or just
		 * went away and may come back); never from RPC handling. */
		if (log_output_should_wait_locked(agent, platform_now_ns())) {
			if (platform_wait(&agent->log.space_wq, platform_now_ns() + STOP_POLL_NS) ==
			    -EINTR) {
				err = -EINTR;
				break;
			}
			continue;
		}
		if (pipe->broken) {
			err = -EPIPE;
			break;
		}
		n = pipe_write_locked(pipe, p, len);
		if (n == 0) {
			/* a stop request does not cut output short; a kill does */
			err = platform_wait(&proc->wq, platform_now_ns() + STOP_POLL_NS);
			if (err == -EINTR) {
				err = -EINTR;
				break;
			}
			err = 0;
			continue;
		}
		log_output_locked(proc, line, stream, p, n);
		p += n;
		len -= n;
		parks_poll_locked(agent);
	}
	platform_unlock();
	return err;
}

int prog_printf(struct process *proc, int fd, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	return prog_write(proc, fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

int prog_sleep(struct process *proc, uint64_t ns)
{
	uint64_t deadline = platform_now_ns() + ns;
	int err = 0;

	platform_lock();
	while (platform_now_ns() < deadline) {
		if (prog_wait_locked(proc, deadline) == -EINTR) {
			err = -EINTR;
			break;
		}
	}
	platform_unlock();
	return err;
}

/* ---- the programs ---- */

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return (*end || errno) ? -EINVAL : 0;
}

/* echo ARGS...: the arguments joined by spaces, then a newline. */
static int prog_echo(struct process *proc, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (prog_write(proc, 1, argv[i], strlen(argv[i])) ||
		    (i + 1 < argc && prog_write(proc, 1, " ", 1)))
			return 1;
	}
	return prog_write(proc, 1, "\n", 1) ? 1 : 0;
}

/* cat: stdin to stdout until end of input. */
static int prog_cat(struct process *proc, int argc, char **argv)
{
	char buf[CHUNK];

	for (;;) {
		ssize_t n = prog_read(proc, buf, sizeof(buf));

		if (n == 0)
			return 0;
		if (n < 0)
			return prog_stopped_status(proc);
		if (prog_write(proc, 1, buf, (size_t)n))
			return prog_should_stop(proc) ? prog_stopped_status(proc) : 1;
	}
}

/* sleep SECONDS: fractions allowed ("0.25"). */
static int prog_sleep_main(struct process *proc, int argc, char **argv)
{
	uint64_t whole = 0, frac = 0, scale = 1000000000ull;
	const char *dot;
	char intpart[24];

	if (argc != 2) {
		prog_printf(proc, 2, "sleep: usage: sleep SECONDS\n");
		return 1;
	}
	dot = strchr(argv[1], '.');
	snprintf(intpart, sizeof(intpart), "%.*s",
		 dot ? (int)(dot - argv[1]) : (int)strlen(argv[1]), argv[1]);
	if ((intpart[0] && parse_u64(intpart, &whole)) || whole > 1000000 ||
	    (!intpart[0] && !dot)) {
		prog_printf(proc, 2, "sleep: invalid time interval '%s'\n", argv[1]);
		return 1;
	}
	for (const char *d = dot ? dot + 1 : ""; *d && scale > 1; d++) {
		if (*d < '0' || *d > '9') {
			prog_printf(proc, 2, "sleep: invalid time interval '%s'\n", argv[1]);
			return 1;
		}
		scale /= 10;
		frac += (uint64_t)(*d - '0') * scale;
	}
	if (prog_sleep(proc, whole * 1000000000ull + frac))
		return prog_stopped_status(proc);
	return 0;
}

/* logspam N: lines "logspam 1" ... "logspam N". */
static int prog_logspam(struct process *proc, int argc, char **argv)
{
	uint64_t count;

	if (argc != 2 || parse_u64(argv[1], &count)) {
		prog_printf(proc, 2, "logspam: usage: logspam N (a number of lines)\n");
		return 1;
	}
	for (uint64_t i = 1; i <= count; i++) {
		if (prog_printf(proc, 1, "logspam %llu\n", (unsigned long long)i))
			return prog_stopped_status(proc);
		if ((i & 255) == 0 && prog_should_stop(proc))
			return prog_stopped_status(proc);
	}
	return 0;
}

/* sha256sum: the hex digest of stdin, "  -" as coreutils prints it. */
static int prog_sha256sum(struct process *proc, int argc, char **argv)
{
	static const char hex[] = "0123456789abcdef";
	struct sha256 ctx;
	uint8_t digest[32];
	char line[64 + 4];
	char buf[CHUNK];

	sha256_init(&ctx);
	for (;;) {
		ssize_t n = prog_read(proc, buf, sizeof(buf));

		if (n == 0)
			break;
		if (n < 0)
			return prog_stopped_status(proc);
		sha256_update(&ctx, buf, (size_t)n);
	}
	sha256_final(&ctx, digest);
	for (int i = 0; i < 32; i++) {
		line[2 * i] = hex[digest[i] >> 4];
		line[2 * i + 1] = hex[digest[i] & 15];
	}
	memcpy(line + 64, "  -\n", 4);
	return prog_write(proc, 1, line, sizeof(line)) ? 1 : 0;
}

/* exit CODE: ends at once with CODE (0..255, as a shell would). */
static int prog_exit(struct process *proc, int argc, char **argv)
{
	uint64_t code = 0;

	if (argc > 2 || (argc == 2 && parse_u64(argv[1], &code))) {
		prog_printf(proc, 2, "exit: usage: exit [CODE] (a number 0-255)\n");
		return 2;
	}
	return (int)(code & 0xff);
}

/* spin: burns CPU until signalled (preemption keeps the agent alive). */
static int prog_spin(struct process *proc, int argc, char **argv)
{
	volatile uint64_t n = 0;

	for (;;) {
		for (int i = 0; i < 100000; i++)
			n++;
		if (prog_should_stop(proc))
			return prog_stopped_status(proc);
	}
}

/* sysinfo: what the agent knows about the machine, KEY VALUE lines. */
static int prog_sysinfo(struct process *proc, int argc, char **argv)
{
	struct agent *agent = proc->ctr->agent;
	unsigned containers, processes;
	uint64_t uptime_ms, cid;

	platform_lock();
	containers = agent->ncontainers;
	processes = agent->nprocesses;
	uptime_ms = (platform_now_ns() - agent->started_ns) / 1000000;
	platform_unlock();
	cid = vsock_core_local_cid(agent->core);
	return prog_printf(proc, 1,
			   "agent_version %s\narch %s\nguest_cid %llu\nboot_id %s\n"
			   "agent_uptime_ms %llu\ncontainers %u\nprocesses %u\n",
			   AGENT_VERSION, agent->opts.arch, (unsigned long long)cid,
			   agent->opts.boot_id, (unsigned long long)uptime_ms, containers,
			   processes) ? 1 : 0;
}

/* env: the environment, one K=V per line. */
static int prog_env(struct process *proc, int argc, char **argv)
{
	for (int i = 0; i < proc->envc; i++)
		if (prog_printf(proc, 1, "%s\n", proc->envp[i]))
			return 1;
	return 0;
}

static int prog_pwd(struct process *proc, int argc, char **argv)
{
	return prog_printf(proc, 1, "%s\n", proc->cwd) ? 1 : 0;
}

static int prog_true(struct process *proc, int argc, char **argv)
{
	return 0;
}

static int prog_false(struct process *proc, int argc, char **argv)
{
	return 1;
}

/* yes [WORD...]: the words (or "y") forever, until stopped or stdout closes. */
static int prog_yes(struct process *proc, int argc, char **argv)
{
	char line[256];
	size_t len = 0;

	if (argc < 2) {
		line[len++] = 'y';
	} else {
		for (int i = 1; i < argc && len < sizeof(line) - 2; i++)
			len += (size_t)snprintf(line + len, sizeof(line) - 1 - len, "%s%s",
						i > 1 ? " " : "", argv[i]);
		if (len > sizeof(line) - 2)
			len = sizeof(line) - 2;
	}
	line[len++] = '\n';
	for (;;) {
		if (prog_write(proc, 1, line, len) || prog_should_stop(proc))
			return prog_stopped_status(proc);
	}
}

/* head -c N: the first N bytes of stdin. */
static int prog_head(struct process *proc, int argc, char **argv)
{
	char buf[CHUNK];
	uint64_t left;

	if (argc != 3 || strcmp(argv[1], "-c") != 0 || parse_u64(argv[2], &left)) {
		prog_printf(proc, 2, "head: usage: head -c BYTES\n");
		return 1;
	}
	while (left) {
		ssize_t n = prog_read(proc, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));

		if (n == 0)
			break;
		if (n < 0)
			return prog_stopped_status(proc);
		if (prog_write(proc, 1, buf, (size_t)n))
			return 1;
		left -= (uint64_t)n;
	}
	return 0;
}

/* wc -c: the number of bytes of stdin. */
static int prog_wc(struct process *proc, int argc, char **argv)
{
	char buf[CHUNK];
	uint64_t total = 0;

	if (argc != 2 || strcmp(argv[1], "-c") != 0) {
		prog_printf(proc, 2, "wc: usage: wc -c\n");
		return 1;
	}
	for (;;) {
		ssize_t n = prog_read(proc, buf, sizeof(buf));

		if (n == 0)
			break;
		if (n < 0)
			return prog_stopped_status(proc);
		total += (uint64_t)n;
	}
	return prog_printf(proc, 1, "%llu\n", (unsigned long long)total) ? 1 : 0;
}

static const struct program programs[] = {
	{ "echo", "echo ARGS...", prog_echo },
	{ "cat", "cat (stdin to stdout)", prog_cat },
	{ "sleep", "sleep SECONDS", prog_sleep_main },
	{ "logspam", "logspam N", prog_logspam },
	{ "sha256sum", "sha256sum (of stdin)", prog_sha256sum },
	{ "exit", "exit CODE", prog_exit },
	{ "spin", "spin (until signalled)", prog_spin },
	{ "sysinfo", "sysinfo", prog_sysinfo },
	{ "env", "env", prog_env },
	{ "pwd", "pwd", prog_pwd },
	{ "true", "true", prog_true },
	{ "false", "false", prog_false },
	{ "yes", "yes [WORDS...]", prog_yes },
	{ "head", "head -c BYTES", prog_head },
	{ "wc", "wc -c", prog_wc },
};

const struct program *catalogue_find(const char *name)
{
	for (size_t i = 0; i < sizeof(programs) / sizeof(programs[0]); i++)
		if (strcmp(programs[i].name, name) == 0)
			return &programs[i];
	return NULL;
}

void catalogue_list(char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(programs) / sizeof(programs[0]) && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? " " : "",
					 programs[i].name);
}
