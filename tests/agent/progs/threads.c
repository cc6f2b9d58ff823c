/*
 * threads.c -- a multi-threaded program for the image (issue 15): built
 * static (glibc, and musl on x86_64) with -pthread.
 *
 *   threads turns     8 threads, one mutex and one condition variable:
 *                     the threads take turns in order, ROUNDS rounds each,
 *                     and add to a shared total under the mutex; prints
 *                     "total=... order_ok=... joined=... cpus=..."
 *   threads exit      a thread calls pthread_exit while main goes on, then
 *                     another calls exit(5) while main sleeps: the whole
 *                     process ends with 5
 *   threads spin      8 threads spin or sleep forever ("SPINNING" printed):
 *                     killing the container must end every one of them
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define THREADS 8
#define ROUNDS  500

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_changed = PTHREAD_COND_INITIALIZER;
static unsigned turn; /* whose turn: turn % THREADS */
static unsigned long long total;
static int order_bad;
static int last_index = -1;
static volatile sig_atomic_t got_usr1;
static pid_t tids[THREADS];

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1++;
}

static void *taker(void *arg)
{
	int me = (int)(long)arg;

	pthread_mutex_lock(&lock);
	tids[me] = (pid_t)syscall(SYS_gettid);
	pthread_mutex_unlock(&lock);
	for (int r = 0; r < ROUNDS; r++) {
		pthread_mutex_lock(&lock);
		while (turn % THREADS != (unsigned)me)
			pthread_cond_wait(&turn_changed, &lock);
		if (last_index != (me + THREADS - 1) % THREADS && !(last_index == -1 && me == 0))
			order_bad++;
		last_index = me;
		total += (unsigned long long)(me + 1) * (r + 1);
		turn++;
		pthread_cond_broadcast(&turn_changed);
		pthread_mutex_unlock(&lock);
	}
	return (void *)(long)(me * 3);
}

static int turns(void)
{
	pthread_t t[THREADS];
	long joined = 0;
	cpu_set_t set;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	for (int i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, taker, (void *)(long)i)) {
			printf("create_failed=%d\n", i);
			return 1;
		}
	for (int i = 0; i < THREADS; i++) {
		void *ret;

		pthread_join(t[i], &ret);
		joined += (long)ret;
	}
	/* the expected total: sum over me, r of (me+1)(r+1) */
	unsigned long long want =
	        (unsigned long long)(THREADS * (THREADS + 1) / 2) * (ROUNDS * (ROUNDS + 1) / 2);
	printf("total_ok=%d order_ok=%d joined=%ld turns=%u\n", total == want, order_bad == 0,
	       joined, turn);
	/* every thread had a tid of its own, none the process's */
	int distinct = 1;
	for (int i = 0; i < THREADS; i++)
		for (int j = 0; j < i; j++)
			if (tids[i] == tids[j] || tids[i] == getpid())
				distinct = 0;
	printf("tids_distinct=%d\n", distinct);
	CPU_ZERO(&set);
	int aff = sched_getaffinity(0, sizeof(set), &set);
	printf("affinity=%d cpus=%d\n", aff, CPU_COUNT(&set));
	/* tgkill to this thread: the handler runs */
	syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), SIGUSR1);
	printf("usr1=%d\n", (int)got_usr1);
	return 0;
}

static void *quitter(void *arg)
{
	(void)arg;
	pthread_exit((void *)7L);
}

static void *ender(void *arg)
{
	(void)arg;
	usleep(100000);
	exit(5); /* exit_group: main, asleep, ends too */
}

static int exits(void)
{
	pthread_t t;
	void *ret;

	pthread_create(&t, NULL, quitter, NULL);
	pthread_join(t, &ret);
	printf("thread_exit=%ld\n", (long)ret);
	fflush(stdout);
	pthread_create(&t, NULL, ender, NULL);
	for (;;)
		pause();
	return 1; /* not reached */
}

static void *spinner(void *arg)
{
	if ((long)arg % 2)
		for (;;)
			;
	for (;;)
		pause();
	return NULL;
}

static int spin(void)
{
	pthread_t t;

	for (long i = 0; i < THREADS; i++)
		pthread_create(&t, NULL, spinner, (void *)i);
	printf("SPINNING\n");
	fflush(stdout);
	for (;;)
		pause();
	return 1;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && !strcmp(argv[1], "turns"))
		return turns();
	if (argc == 2 && !strcmp(argv[1], "exit"))
		return exits();
	if (argc == 2 && !strcmp(argv[1], "spin"))
		return spin();
	fprintf(stderr, "usage: threads turns|exit|spin\n");
	return 2;
}
