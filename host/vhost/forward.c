/*
 * forward.c -- AF_VSOCK sockets for --forward-cid / --forward-listen (see
 * forward.h), and the test hook that stands in TCP on 127.0.0.1 for them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* SOCK_NONBLOCK */
#endif
#include "host/vhost/forward.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#ifdef VHOST_FORWARD_TEST_HOOK
/* Test builds only: AF_VSOCK port P becomes TCP 127.0.0.1:P. */
static bool tcp_stand_in(void)
{
	return getenv("VHOST_USER_VSOCK_FORWARD_TO_TCP") != NULL;
}

static int tcp_address(uint32_t port, struct sockaddr_in *sin)
{
	if (port == 0 || port > 65535)
		return -EINVAL;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return 0;
}
#endif

int forward_connect(uint32_t cid, uint32_t port, int type, bool *in_progress)
{
	struct sockaddr_vm svm = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
	struct sockaddr *addr = (struct sockaddr *)&svm;
	socklen_t addr_len = sizeof(svm);
	int family = AF_VSOCK;
#ifdef VHOST_FORWARD_TEST_HOOK
	struct sockaddr_in sin;
	if (tcp_stand_in()) {
		if (type != SOCK_STREAM)
			return -EPROTONOSUPPORT;
		int err = tcp_address(port, &sin);
		if (err)
			return err;
		family = AF_INET;
		addr = (struct sockaddr *)&sin;
		addr_len = sizeof(sin);
	}
#endif
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	*in_progress = false;
	if (connect(fd, addr, addr_len) < 0) {
		if (errno == EINPROGRESS) {
			*in_progress = true;
			return fd;
		}
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int forward_connect_result(int fd)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		return -errno;
	return -soerr;
}

int forward_listen(uint32_t port)
{
	struct sockaddr_vm svm = { .svm_family = AF_VSOCK,
		                   .svm_cid = VMADDR_CID_ANY,
		                   .svm_port = port };
	struct sockaddr *addr = (struct sockaddr *)&svm;
	socklen_t addr_len = sizeof(svm);
	int family = AF_VSOCK;
#ifdef VHOST_FORWARD_TEST_HOOK
	struct sockaddr_in sin;
	if (tcp_stand_in()) {
		int err = tcp_address(port, &sin);
		if (err)
			return err;
		family = AF_INET;
		addr = (struct sockaddr *)&sin;
		addr_len = sizeof(sin);
	}
#endif
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	if (family != AF_VSOCK)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, addr, addr_len) < 0 || listen(fd, 128) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}
