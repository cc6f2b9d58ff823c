/*
 * syscall_loop.c -- the cost of a system call, measured by the program
 * itself: N getpid() calls between two CLOCK_MONOTONIC readings.  The
 * same static binary runs in the image (as a container: argv[1] = N) and
 * as /init of a Linux guest (no arguments: then it powers the guest off).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	struct timespec a, b;
	double ns;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		syscall(SYS_getpid);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
	printf("SYSCALL_LOOP getpid calls=%ld ns_per_call=%.1f\n", n, ns / n);
	fflush(stdout);
	if (argc == 1) {
		sync();
		reboot(RB_POWER_OFF);
	}
	return 0;
}
