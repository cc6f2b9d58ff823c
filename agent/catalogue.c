/*
 * catalogue.c -- the built-in programs a container can run (DESIGN §5),
 * named by Spec.Process.Args[0].  Each runs as its own task and sees only
 * its struct prog: pipes, arguments and the calls of program.h.
 */
#include "agent/catalogue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/sha256.h"

#define CHUNK 4096 /* bytes a program moves per call */

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
static int prog_echo(struct prog *prog, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (prog_write(prog, 1, argv[i], strlen(argv[i])) ||
		    (i + 1 < argc && prog_write(prog, 1, " ", 1)))
			return 1;
	}
	return prog_write(prog, 1, "\n", 1) ? 1 : 0;
}

/* cat: stdin to stdout until end of input. */
static int prog_cat(struct prog *prog, int argc, char **argv)
{
	char buf[CHUNK];

	for (;;) {
		ssize_t n = prog_read(prog, buf, sizeof(buf));

		if (n == 0)
			return 0;
		if (n < 0)
			return prog_stopped_status(prog);
		if (prog_write(prog, 1, buf, (size_t)n))
			return prog_should_stop(prog) ? prog_stopped_status(prog) : 1;
	}
}

/* sleep SECONDS: fractions allowed ("0.25"). */
static int prog_sleep_main(struct prog *prog, int argc, char **argv)
{
	uint64_t whole = 0, frac = 0, scale = 1000000000ull;
	const char *dot;
	char intpart[24];

	if (argc != 2) {
		prog_printf(prog, 2, "sleep: usage: sleep SECONDS\n");
		return 1;
	}
	dot = strchr(argv[1], '.');
	snprintf(intpart, sizeof(intpart), "%.*s",
	         dot ? (int)(dot - argv[1]) : (int)strlen(argv[1]), argv[1]);
	if ((intpart[0] && parse_u64(intpart, &whole)) || whole > 1000000 ||
	    (!intpart[0] && !dot)) {
		prog_printf(prog, 2, "sleep: invalid time interval '%s'\n", argv[1]);
		return 1;
	}
	for (const char *d = dot ? dot + 1 : ""; *d && scale > 1; d++) {
		if (*d < '0' || *d > '9') {
			prog_printf(prog, 2, "sleep: invalid time interval '%s'\n", argv[1]);
			return 1;
		}
		scale /= 10;
		frac += (uint64_t)(*d - '0') * scale;
	}
	if (prog_sleep(prog, whole * 1000000000ull + frac))
		return prog_stopped_status(prog);
	return 0;
}

/* logspam N: lines "logspam 1" ... "logspam N". */
static int prog_logspam(struct prog *prog, int argc, char **argv)
{
	uint64_t count;

	if (argc != 2 || parse_u64(argv[1], &count)) {
		prog_printf(prog, 2, "logspam: usage: logspam N (a number of lines)\n");
		return 1;
	}
	for (uint64_t i = 1; i <= count; i++) {
		if (prog_printf(prog, 1, "logspam %llu\n", (unsigned long long)i))
			return prog_stopped_status(prog);
		if ((i & 255) == 0 && prog_should_stop(prog))
			return prog_stopped_status(prog);
	}
	return 0;
}

/* sha256sum: the hex digest of stdin, "  -" as coreutils prints it. */
static int prog_sha256sum(struct prog *prog, int argc, char **argv)
{
	static const char hex[] = "0123456789abcdef";
	struct sha256 ctx;
	uint8_t digest[32];
	char line[64 + 4];
	char buf[CHUNK];

	sha256_init(&ctx);
	for (;;) {
		ssize_t n = prog_read(prog, buf, sizeof(buf));

		if (n == 0)
			break;
		if (n < 0)
			return prog_stopped_status(prog);
		sha256_update(&ctx, buf, (size_t)n);
	}
	sha256_final(&ctx, digest);
	for (int i = 0; i < 32; i++) {
		line[2 * i] = hex[digest[i] >> 4];
		line[2 * i + 1] = hex[digest[i] & 15];
	}
	memcpy(line + 64, "  -\n", 4);
	return prog_write(prog, 1, line, sizeof(line)) ? 1 : 0;
}

/* exit CODE: ends at once with CODE (0..255, as a shell would). */
static int prog_exit(struct prog *prog, int argc, char **argv)
{
	uint64_t code = 0;

	if (argc > 2 || (argc == 2 && parse_u64(argv[1], &code))) {
		prog_printf(prog, 2, "exit: usage: exit [CODE] (a number 0-255)\n");
		return 2;
	}
	return (int)(code & 0xff);
}

/* spin: burns CPU until signalled (preemption keeps the agent alive). */
static int prog_spin(struct prog *prog, int argc, char **argv)
{
	volatile uint64_t n = 0;

	for (;;) {
		for (int i = 0; i < 100000; i++)
			n++;
		if (prog_should_stop(prog))
			return prog_stopped_status(prog);
	}
}

/* sysinfo: what the agent knows about the machine, KEY VALUE lines. */
static int prog_sysinfo(struct prog *prog, int argc, char **argv)
{
	const struct prog_facts *f = &prog->facts;

	return prog_printf(prog, 1,
	                   "agent_version %s\narch %s\nguest_cid %llu\nboot_id %s\n"
	                   "agent_uptime_ms %llu\ncontainers %u\nprocesses %u\n",
	                   f->agent_version, f->arch, (unsigned long long)f->guest_cid, f->boot_id,
	                   (unsigned long long)f->agent_uptime_ms, f->containers, f->processes) ?
	               1 :
	               0;
}

/* env: the environment, one K=V per line. */
static int prog_env(struct prog *prog, int argc, char **argv)
{
	for (int i = 0; i < prog->envc; i++)
		if (prog_printf(prog, 1, "%s\n", prog->envp[i]))
			return 1;
	return 0;
}

static int prog_pwd(struct prog *prog, int argc, char **argv)
{
	return prog_printf(prog, 1, "%s\n", prog->cwd) ? 1 : 0;
}

static int prog_true(struct prog *prog, int argc, char **argv)
{
	return 0;
}

static int prog_false(struct prog *prog, int argc, char **argv)
{
	return 1;
}

/* yes [WORD...]: the words (or "y") forever, until stopped or stdout closes. */
static int prog_yes(struct prog *prog, int argc, char **argv)
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
		if (prog_write(prog, 1, line, len) || prog_should_stop(prog))
			return prog_stopped_status(prog);
	}
}

/* head -c N: the first N bytes of stdin. */
static int prog_head(struct prog *prog, int argc, char **argv)
{
	char buf[CHUNK];
	uint64_t left;

	if (argc != 3 || strcmp(argv[1], "-c") != 0 || parse_u64(argv[2], &left)) {
		prog_printf(prog, 2, "head: usage: head -c BYTES\n");
		return 1;
	}
	while (left) {
		ssize_t n = prog_read(prog, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));

		if (n == 0)
			break;
		if (n < 0)
			return prog_stopped_status(prog);
		if (prog_write(prog, 1, buf, (size_t)n))
			return 1;
		left -= (uint64_t)n;
	}
	return 0;
}

/* wc -c: the number of bytes of stdin. */
static int prog_wc(struct prog *prog, int argc, char **argv)
{
	char buf[CHUNK];
	uint64_t total = 0;

	if (argc != 2 || strcmp(argv[1], "-c") != 0) {
		prog_printf(prog, 2, "wc: usage: wc -c\n");
		return 1;
	}
	for (;;) {
		ssize_t n = prog_read(prog, buf, sizeof(buf));

		if (n == 0)
			break;
		if (n < 0)
			return prog_stopped_status(prog);
		total += (uint64_t)n;
	}
	return prog_printf(prog, 1, "%llu\n", (unsigned long long)total) ? 1 : 0;
}

/* pause: sleeps until a signal ends it (a pod's infrastructure container). */
static int prog_pause(struct prog *prog, int argc, char **argv)
{
	while (prog_sleep(prog, 3600ull * 1000000000ull) == 0)
		;
	return prog_stopped_status(prog);
}

static const struct program programs[] = {
	{ "echo", "echo ARGS...", prog_echo },
	{ "cat", "cat (stdin to stdout)", prog_cat },
	{ "sleep", "sleep SECONDS", prog_sleep_main },
	{ "logspam", "logspam N", prog_logspam },
	{ "sha256sum", "sha256sum (of stdin)", prog_sha256sum },
	{ "exit", "exit CODE", prog_exit },
	{ "spin", "spin (until signalled)", prog_spin },
	{ "pause", "pause (sleeps until signalled)", prog_pause },
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
	const char *slash = strrchr(name, '/');

	if (slash) /* a path (Kata: /pause, /bin/sh): its last component */
		name = slash + 1;
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
