/* vsock_misc.c -- AF_VSOCK as Linux gives it (issue 15), one check per
 * output line "name=value" (errno values as numbers):
 *   errors             bad uses and their errors, options, names, /dev/vsock
 *   sigpipe PORT       connect to host PORT (whose listener closes at once),
 *                      write with MSG_NOSIGNAL until EPIPE, then without:
 *                      SIGPIPE ends the program (status 141)
 *   ready PORT         poll, ppoll, select and pselect6 over a socket (the
 *                      host sends one byte after a while), a pipe and stdin
 *   client PORT N      connect to host PORT, send N bytes, half-close, read
 *                      until EOF: "sent=N got=M" */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define NOLISTEN_PORT 5999

static int vsock(int type)
{
	int fd = socket(AF_VSOCK, type, 0);

	if (fd < 0) {
		perror("socket");
		exit(1);
	}
	return fd;
}

static struct sockaddr_vm vm_addr(unsigned cid, unsigned port)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };

	return a;
}

static int err_of(int ret)
{
	return ret < 0 ? errno : 0;
}

static int errors(void)
{
	struct sockaddr_vm a;
	socklen_t len;
	unsigned cid = 0;
	uint64_t size;
	int fd, fd2, v;

	fd = open("/dev/vsock", O_RDONLY);
	v = err_of(ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid));
	printf("devvsock_ioctl=%d cid=%u\n", v, cid);
	close(fd);
	printf("dgram=%d\n", err_of(socket(AF_VSOCK, SOCK_DGRAM, 0)));
	printf("inet=%d\n", err_of(socket(AF_INET, SOCK_STREAM, 0)));

	fd = vsock(SOCK_STREAM);
	a = vm_addr(VMADDR_CID_ANY, 1024);
	printf("bind1024=%d\n", err_of(bind(fd, (struct sockaddr *)&a, sizeof(a))));
	printf("accept_unbound=%d\n", err_of(accept(fd, NULL, NULL)));
	printf("listen_unbound=%d\n", err_of(listen(fd, 1)));
	printf("read_unconnected=%d\n", err_of((int)read(fd, &v, 1)));
	printf("write_unconnected=%d\n", err_of((int)send(fd, "x", 1, MSG_NOSIGNAL)));
	a = vm_addr(VMADDR_CID_ANY, 6001);
	printf("bind=%d\n", err_of(bind(fd, (struct sockaddr *)&a, sizeof(a))));
	printf("bind_again=%d\n", err_of(bind(fd, (struct sockaddr *)&a, sizeof(a))));
	printf("accept_bound=%d\n", err_of(accept(fd, NULL, NULL)));
	fd2 = vsock(SOCK_STREAM);
	printf("bind_taken=%d\n", err_of(bind(fd2, (struct sockaddr *)&a, sizeof(a))));
	a = vm_addr(3, 6002);
	printf("bind_other_cid=%d\n", err_of(bind(fd2, (struct sockaddr *)&a, sizeof(a))));
	a = vm_addr(VMADDR_CID_ANY, VMADDR_PORT_ANY);
	printf("bind_any=%d\n", err_of(bind(fd2, (struct sockaddr *)&a, sizeof(a))));
	len = sizeof(a);
	v = getsockname(fd2, (struct sockaddr *)&a, &len);
	printf("any_port_high=%d len=%u\n", a.svm_port > 1023 && a.svm_port != VMADDR_PORT_ANY,
	       len);
	printf("peername_unconnected=%d\n", err_of(getpeername(fd2, (struct sockaddr *)&a, &len)));
	close(fd2);
	len = sizeof(v);
	getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len);
	printf("so_type=%d\n", v);
	len = sizeof(size);
	getsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &size, &len);
	printf("buffer_size=%llu\n", (unsigned long long)size);
	size = 65536;
	setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &size, sizeof(size));
	size = 0;
	getsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &size, &len);
	printf("buffer_size_set=%llu\n", (unsigned long long)size);
	getsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_MAX_SIZE, &size, &len);
	printf("buffer_max=%llu\n", (unsigned long long)size);
	v = 4096;
	printf("rcvlowat=%d\n", err_of(setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v))));
	close(fd);

	/* connect to a port nobody listens on: Linux's error, from the RST
	 * that answers it; with an hour's connect timeout, a missing answer
	 * would leave the test waiting instead */
	fd = vsock(SOCK_STREAM);
	{
		struct timeval hour = { .tv_sec = 3600 };

		printf("connect_timeout_set=%d\n",
		       err_of(setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &hour,
		                         sizeof(hour))));
	}
	a = vm_addr(VMADDR_CID_HOST, NOLISTEN_PORT);
	printf("connect_nolistener=%d\n", err_of(connect(fd, (struct sockaddr *)&a, sizeof(a))));
	close(fd);

	/* the same without blocking: EINPROGRESS, then poll and SO_ERROR */
	fd = vsock(SOCK_STREAM | SOCK_NONBLOCK);
	printf("connect_nonblock=%d\n", err_of(connect(fd, (struct sockaddr *)&a, sizeof(a))));
	{
		struct pollfd p = { fd, POLLOUT, 0 };

		poll(&p, 1, 5000);
		printf("poll_err=%d\n", (p.revents & POLLERR) != 0);
	}
	len = sizeof(v);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &v, &len);
	printf("so_error=%d\n", v);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &v, &len);
	printf("so_error_again=%d\n", v);
	close(fd);

	printf("close_bad=%d\n", err_of(close(999)));
	printf("notsock=%d\n", err_of(listen(1, 1)));
	return 0;
}

static int sigpipe(unsigned port)
{
	struct sockaddr_vm a = vm_addr(VMADDR_CID_HOST, port);
	int fd = vsock(SOCK_STREAM), e = 0;
	char buf[4096] = { 0 };

	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		printf("connect=%d\n", errno);
		return 1;
	}
	for (int i = 0; i < 1000 && !e; i++) {
		if (send(fd, buf, sizeof(buf), MSG_NOSIGNAL) < 0)
			e = errno;
		else
			usleep(10000);
	}
	printf("epipe=%d\n", e);
	fflush(stdout);
	write(fd, buf, sizeof(buf)); /* SIGPIPE: the default action ends us */
	printf("survived\n");
	return 0;
}

static int ready(unsigned port)
{
	struct sockaddr_vm a = vm_addr(VMADDR_CID_HOST, port);
	int fd = vsock(SOCK_STREAM), pfd[2], v;
	struct timespec ts = { 0, 50 * 1000000 };
	struct pollfd p[3];
	fd_set r;
	sigset_t mask;
	char c;

	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || pipe(pfd) < 0) {
		printf("connect=%d\n", errno);
		return 1;
	}
	p[0] = (struct pollfd){ fd, POLLIN, 0 };
	p[1] = (struct pollfd){ pfd[0], POLLIN, 0 };
	printf("poll_none=%d\n", poll(p, 2, 50));
	write(pfd[1], "x", 1);
	v = poll(p, 2, 50);
	printf("poll_pipe=%d pipe_in=%d sock_in=%d\n", v, p[1].revents == POLLIN, p[0].revents);
	read(pfd[0], &c, 1);
	/* the host sends a byte once told to */
	send(fd, "go", 2, 0);
	FD_ZERO(&r);
	FD_SET(fd, &r);
	FD_SET(pfd[0], &r);
	v = select(fd + 1 > pfd[0] + 1 ? fd + 1 : pfd[0] + 1, &r, NULL, NULL, NULL);
	printf("select_sock=%d isset=%d pipe_isset=%d\n", v, FD_ISSET(fd, &r) != 0,
	       FD_ISSET(pfd[0], &r) != 0);
	read(fd, &c, 1);
	FD_ZERO(&r);
	FD_SET(pfd[0], &r);
	sigemptyset(&mask);
	printf("pselect_timeout=%d\n", pselect(pfd[0] + 1, &r, NULL, NULL, &ts, &mask));
	p[0] = (struct pollfd){ 0, POLLIN, 0 };
	printf("ppoll_stdin=%d\n", ppoll(p, 1, NULL, &mask)); /* stdin closed: EOF */
	/* the write side: a socket has room */
	p[0] = (struct pollfd){ fd, POLLOUT, 0 };
	printf("poll_out=%d\n", poll(p, 1, 1000));
	/* the host closes: POLLIN (EOF) and POLLHUP */
	send(fd, "end", 3, 0);
	p[0] = (struct pollfd){ fd, POLLIN, 0 };
	poll(p, 1, 5000);
	v = (int)read(fd, &c, 1);
	printf("hup_in=%d read_eof=%d\n", (p[0].revents & POLLIN) != 0, v);
	return 0;
}

static int client(unsigned port, long n)
{
	struct sockaddr_vm a = vm_addr(VMADDR_CID_HOST, port);
	int fd = vsock(SOCK_STREAM);
	char buf[65536];
	long sent = 0, got = 0;

	memset(buf, 'v', sizeof(buf));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		printf("connect=%d\n", errno);
		return 1;
	}
	while (sent < n) {
		ssize_t w = write(fd, buf,
		                  n - sent < (long)sizeof(buf) ? (size_t)(n - sent) : sizeof(buf));

		if (w <= 0)
			break;
		sent += w;
	}
	shutdown(fd, SHUT_WR);
	for (ssize_t r; (r = read(fd, buf, sizeof(buf))) > 0;)
		got += r;
	printf("sent=%ld got=%ld\n", sent, got);
	return 0;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(what, "errors") == 0)
		return errors();
	if (strcmp(what, "sigpipe") == 0 && argc > 2)
		return sigpipe((unsigned)atoi(argv[2]));
	if (strcmp(what, "ready") == 0 && argc > 2)
		return ready((unsigned)atoi(argv[2]));
	if (strcmp(what, "client") == 0 && argc > 3)
		return client((unsigned)atoi(argv[2]), atol(argv[3]));
	fprintf(stderr, "usage: vsock_misc errors | sigpipe PORT | ready PORT | client PORT N\n");
	return 2;
}
