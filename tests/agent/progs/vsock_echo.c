/* vsock_echo.c -- an AF_VSOCK echo server on epoll (issue 15): `vsock_echo
 * PORT [COUNT]` listens on PORT, prints "READY PORT" once it does, and
 * echoes every connection's bytes back until that peer half-closes, then
 * half-closes its side and closes; after COUNT connections (0: never) it
 * prints "SERVED COUNT BYTES" and exits 0.  Sockets are non-blocking and
 * level-triggered; a peer that reads slowly stops the reading of its own
 * connection (EPOLLOUT), never loses bytes.  The same static binary runs
 * in the Linux test guest and in the image (bench/). */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define BUF       (64 * 1024)
#define MAX_CONNS 1024

struct conn {
	int fd;
	char buf[BUF];
	size_t len, off; /* bytes held, of which sent */
	int eof;         /* the peer half-closed */
};

static struct conn *conns[MAX_CONNS];
static unsigned long long total;

static void watch(int ep, int op, int fd, unsigned events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	if (epoll_ctl(ep, op, fd, &ev) < 0) {
		perror("epoll_ctl");
		exit(1);
	}
}

/* Move what can move; 1 when the connection is over. */
static int serve(int ep, struct conn *c)
{
	for (;;) {
		if (c->off < c->len) {
			ssize_t n = write(c->fd, c->buf + c->off, c->len - c->off);

			if (n < 0 && errno == EAGAIN)
				break;
			if (n < 0)
				return 1;
			c->off += (size_t)n;
			total += (unsigned long long)n;
			if (c->off == c->len)
				c->off = c->len = 0;
			continue;
		}
		if (c->eof) {
			shutdown(c->fd, SHUT_WR);
			return 1;
		}
		ssize_t n = read(c->fd, c->buf, BUF);

		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			c->eof = 1;
			continue;
		}
		c->len = (size_t)n;
	}
	/* a full buffer waits for room, an empty one for bytes */
	watch(ep, EPOLL_CTL_MOD, c->fd, c->off < c->len ? EPOLLOUT : EPOLLIN);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY };
	int lfd, ep;
	long count, done = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: vsock_echo PORT [COUNT]\n");
		return 2;
	}
	addr.svm_port = (unsigned)atoi(argv[1]);
	count = argc > 2 ? atol(argv[2]) : 0;
	lfd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(lfd, 256) < 0) {
		perror("vsock_echo: listen");
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		perror("epoll_create1");
		return 1;
	}
	watch(ep, EPOLL_CTL_ADD, lfd, EPOLLIN);
	printf("READY %u\n", addr.svm_port);
	fflush(stdout);
	while (!count || done < count) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd) {
				int c;

				while ((c = accept4(lfd, NULL, NULL,
				                    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					if (c >= MAX_CONNS ||
					    !(conns[c] = calloc(1, sizeof(struct conn)))) {
						close(c);
						continue;
					}
					conns[c]->fd = c;
					watch(ep, EPOLL_CTL_ADD, c, EPOLLIN);
				}
				if (errno != EAGAIN) {
					perror("accept4");
					return 1;
				}
				continue;
			}
			if (conns[fd] && serve(ep, conns[fd])) {
				close(fd); /* (its epoll entry goes with it) */
				free(conns[fd]);
				conns[fd] = NULL;
				done++;
			}
		}
	}
	printf("SERVED %ld %llu\n", done, total);
	return 0;
}
