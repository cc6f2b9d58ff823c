/* faults.c -- programs that must fail cleanly (issue 14): argv[1] picks
 * null (NULL dereference), priv (a privileged instruction), kread
 * (read the kernel address argv[2]), spin, alloc (allocate until refused),
 * term (a SIGTERM handler that exits 0), random (16 bytes of getrandom and
 * of AT_RANDOM, in hex), stack N (N KiB of stack through recursion; the
 * stack grows on demand up to 8 MiB), pipe (pipe2 within the process) and
 * getpid N (a system-call loop), fpe (an integer division by zero) and bus
 * (a misaligned access that must fault: x86 with EFLAGS.AC set, aarch64 an
 * exclusive load). */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One KiB of stack per level; the sum keeps it from becoming a loop. */
static unsigned long deep(unsigned long kib)
{
	volatile char frame[1024];

	frame[0] = (char)kib;
	if (kib == 0)
		return 0;
	return deep(kib - 1) + (unsigned long)frame[0];
}

static void on_term(int sig __attribute__((unused)))
{
	static const char msg[] = "handler: SIGTERM\n";

	write(1, msg, sizeof(msg) - 1);
	_exit(0);
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";

	if (strcmp(what, "null") == 0)
		return *(volatile int *)0;
	if (strcmp(what, "priv") == 0) {
#if defined(__x86_64__)
		__asm__ volatile("hlt");
#else
		__asm__ volatile("msr daifset, #2");
#endif
		return 0;
	}
	if (strcmp(what, "kread") == 0)
		return *(volatile char *)strtoull(argv[2], NULL, 0);
	if (strcmp(what, "spin") == 0)
		for (volatile unsigned long n = 0;; n++)
			;
	if (strcmp(what, "alloc") == 0) {
		unsigned long mib = 0;
		char *p;

		while ((p = malloc(1 << 20))) {
			memset(p, 1, 1 << 20);
			mib++;
		}
		printf("allocated %lu MiB before malloc failed\n", mib);
		return 3;
	}
	if (strcmp(what, "term") == 0) {
		signal(SIGTERM, on_term);
		printf("ready\n");
		fflush(stdout);
		for (;;)
			sleep(1);
	}
	if (strcmp(what, "random") == 0) {
		unsigned char buf[16];
		const unsigned char *at = (const unsigned char *)getauxval(AT_RANDOM);

		if (getrandom(buf, sizeof(buf), 0) != sizeof(buf) || !at)
			return 1;
		for (int i = 0; i < 16; i++)
			printf("%02x", buf[i]);
		printf(" ");
		for (int i = 0; i < 16; i++)
			printf("%02x", at[i]);
		printf("\n");
		return 0;
	}
	if (strcmp(what, "fpe") == 0) {
		volatile int seven = 7, zero = 0; /* gcc turns 1 / x into compares */

		return seven / zero;
	}
	if (strcmp(what, "bus") == 0) {
		static char buf[16] __attribute__((aligned(16)));
#if defined(__x86_64__)
		__asm__ volatile("pushfq; orq $0x40000, (%%rsp); popfq; movl 1(%0), %%eax"
		                 :
		                 : "r"(buf)
		                 : "rax", "memory");
#else
		__asm__ volatile("add x10, %0, #1; ldxr x11, [x10]"
		                 :
		                 : "r"(buf)
		                 : "x10", "x11", "memory");
#endif
		return 0;
	}
	if (strcmp(what, "enosys") == 0) {
		/* twice the same unknown number, then another: ENOSYS each time */
		long a = syscall(1999), b = syscall(1999), c = syscall(2999);

		printf("%ld %ld %ld %d\n", a, b, c, errno == ENOSYS);
		return 0;
	}
	if (strcmp(what, "stack") == 0) {
		printf("stack ok %d\n", deep(strtoul(argv[2], NULL, 0)) > 0);
		return 0;
	}
	if (strcmp(what, "pipe") == 0) {
		int fds[2];
		char buf[8];
		struct pollfd pfd;

		signal(SIGPIPE, SIG_IGN);
		if (pipe2(fds, O_NONBLOCK) || write(fds[1], "abc", 3) != 3)
			return 10;
		pfd = (struct pollfd){ fds[0], POLLIN, 0 };
		if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLIN))
			return 11;
		if (read(fds[0], buf, sizeof(buf)) != 3 || memcmp(buf, "abc", 3))
			return 12;
		if (read(fds[0], buf, sizeof(buf)) != -1 || errno != EAGAIN)
			return 13;
		close(fds[1]);
		if (read(fds[0], buf, sizeof(buf)) != 0)
			return 14;
		if (pipe(fds) || close(fds[0]) || write(fds[1], "x", 1) != -1 || errno != EPIPE)
			return 15;
		printf("pipe ok\n");
		return 0;
	}
	if (strcmp(what, "getpid") == 0) {
		long n = argc > 2 ? atol(argv[2]) : 100000;

		for (long i = 0; i < n; i++)
			getpid();
		return 0;
	}
	return 2;
}
