/*
 * procs.c -- processes in the image (issue 15): built static.
 *
 *   procs all       fork, vfork + execve with argv and envp, wait4, waitid,
 *                   getppid, setpgid/getpgid, setsid/getsid, kill between
 *                   processes, SIGCHLD, pipe2 + dup2 across fork and exec;
 *                   one "name=value" line per check
 *   procs child A   (run by "all" through execve) prints its argv[2], the
 *                   environment's PROCS_X and whether its parent is the
 *                   process that ran "all", exits 7
 *   procs tree      forks 4 children that sleep forever, prints "TREE",
 *                   sleeps: killing the container must end all five
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static volatile sig_atomic_t chld;

static void on_chld(int sig)
{
	(void)sig;
	chld++;
}

static int child(char **argv)
{
	const char *x = getenv("PROCS_X");
	const char *want = getenv("PROCS_PARENT");

	printf("exec_arg=%s exec_env=%s exec_ppid_ok=%d\n", argv[2], x ? x : "none",
	       want && atoi(want) == getppid());
	return 7;
}

static int all(void)
{
	struct sigaction sa;
	int status, fds[2];
	pid_t me = getpid(), pid;
	siginfo_t si;
	char buf[64], parent[32];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_chld;
	sigaction(SIGCHLD, &sa, NULL);
	printf("init_pid=%d\n", me == 1);

	/* fork: the copy sees its own memory, its parent, its exit code */
	int shared = 5;
	pid = fork();
	if (pid == 0) {
		shared = 6;
		_exit(getppid() == me ? 40 + shared : 1);
	}
	printf("fork_wait=%d", waitpid(pid, &status, 0) == pid);
	printf(" fork_status=%d parent_copy=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
	       shared);

	/* vfork + execve with argv and envp; waitid for it */
	snprintf(parent, sizeof(parent), "PROCS_PARENT=%d", (int)me);
	fflush(stdout);
	pid = vfork();
	if (pid == 0) {
		char *args[] = { "procs", "child", "hello-arg", NULL };
		char *env[] = { "PROCS_X=42", parent, NULL };

		execve("/bin/procs", args, env);
		_exit(127);
	}
	memset(&si, 0, sizeof(si));
	printf("waitid=%d", waitid(P_PID, (id_t)pid, &si, WEXITED));
	printf(" waitid_pid=%d waitid_code=%d waitid_status=%d\n", si.si_pid == pid,
	       si.si_code == CLD_EXITED, si.si_status);
	printf("sigchld=%d\n", chld >= 2);

	/* process groups and sessions */
	pid = fork();
	if (pid == 0) {
		int ok = setpgid(0, 0) == 0 && getpgid(0) == getpid() && getpgrp() == getpid();

		_exit(ok ? 3 : 1);
	}
	waitpid(pid, &status, 0);
	printf("setpgid=%d\n", WEXITSTATUS(status) == 3);
	pid = fork();
	if (pid == 0) {
		int ok = setsid() == getpid() && getsid(0) == getpid() && getpgid(0) == getpid();

		_exit(ok ? 4 : 1);
	}
	waitpid(pid, &status, 0);
	printf("setsid=%d getsid_init=%d\n", WEXITSTATUS(status) == 4, getsid(0) > 0);

	/* kill another process of the container */
	pid = fork();
	if (pid == 0) {
		for (;;)
			pause();
	}
	printf("kill=%d", kill(pid, SIGTERM));
	waitpid(pid, &status, 0);
	printf(" killed_by=%d\n", WIFSIGNALED(status) ? WTERMSIG(status) : -1);
	printf("kill_gone=%d\n", kill(pid, 0) < 0 && errno == ESRCH);
	printf("wait_none=%d\n", waitpid(-1, &status, WNOHANG) < 0 && errno == ECHILD);

	/* pipe2 + dup2 across fork and exec: busybox echo into our pipe */
	if (pipe2(fds, O_CLOEXEC))
		return 1;
	pid = fork();
	if (pid == 0) {
		char *args[] = { "busybox", "echo", "through-the-pipe", NULL };

		dup2(fds[1], 1); /* dup2 clears FD_CLOEXEC on the copy */
		execve("/bin/busybox", args, environ);
		_exit(127);
	}
	close(fds[1]);
	ssize_t n = 0, r;
	while ((r = read(fds[0], buf + n, sizeof(buf) - 1 - (size_t)n)) > 0)
		n += r;
	buf[n > 0 ? n : 0] = 0;
	waitpid(pid, &status, 0);
	printf("pipe_exec=%s", buf);
	printf("pipe_status=%d\n", WEXITSTATUS(status));
	return 0;
}

static int tree(void)
{
	for (int i = 0; i < 4; i++)
		if (fork() == 0)
			for (;;)
				pause();
	printf("TREE\n");
	fflush(stdout);
	for (;;)
		pause();
	return 1;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 2 && !strcmp(argv[1], "all"))
		return all();
	if (argc == 3 && !strcmp(argv[1], "child"))
		return child(argv);
	if (argc == 2 && !strcmp(argv[1], "tree"))
		return tree();
	fprintf(stderr, "usage: procs all|tree\n");
	return 2;
}
