/*
 * sys_net.c -- AF_VSOCK sockets for programs (DESIGN §9; Linux
 * net/vmw_vsock/af_vsock.c and include/uapi/linux/vm_sockets.h for the
 * ABI): socket, bind, listen, accept4, connect, send/recv in all their
 * forms, shutdown, the names, the options, and /dev/vsock's
 * IOCTL_VM_SOCKETS_GET_LOCAL_CID.  Sockets live on the image's vsock core
 * (vsock/socket.h), one port space with the agent: a port it serves
 * (1024, the diag ports) gives EADDRINUSE.
 *
 * Every call into the core is non-blocking (VSOCK_DONTWAIT); a blocking
 * socket sleeps here, in file_wait, so that signals interrupt it as
 * Linux's would.  Errors are Linux's: an RST answering a connect is
 * ECONNRESET (virtio_transport_recv_connecting); after the peer's
 * shutdown or RST, writing is EPIPE with SIGPIPE unless MSG_NOSIGNAL, and
 * reading is the end of the stream (virtio_transport_do_close).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/syscalls.h"
#include "vsock/socket.h"

#define AF_VSOCK                          40
#define SOCK_STREAM                       1
#define SOCK_DGRAM                        2
#define SOCK_SEQPACKET                    5
#define SOCK_TYPE_MASK                    0xf
#define SOCK_NONBLOCK                     04000
#define SOCK_CLOEXEC                      02000000
#define SOL_SOCKET                        1
#define SO_REUSEADDR                      2
#define SO_TYPE                           3
#define SO_ERROR                          4
#define SO_SNDBUF                         7
#define SO_RCVBUF                         8
#define SO_KEEPALIVE                      9
#define SO_LINGER                         13
#define SO_RCVLOWAT                       18
#define SO_RCVTIMEO_OLD                   20
#define SO_SNDTIMEO_OLD                   21
#define SO_ACCEPTCONN                     30
#define SO_PROTOCOL                       38
#define SO_DOMAIN                         39
#define SO_RCVTIMEO_NEW                   66
#define SO_SNDTIMEO_NEW                   67
#define SO_VM_SOCKETS_BUFFER_SIZE         0
#define SO_VM_SOCKETS_BUFFER_MIN_SIZE     1
#define SO_VM_SOCKETS_BUFFER_MAX_SIZE     2
#define SO_VM_SOCKETS_PEER_HOST_VM_ID     3
#define SO_VM_SOCKETS_TRUSTED             5
#define SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD 6
#define SO_VM_SOCKETS_NONBLOCK_TXRX       7
#define SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW 8
#define MSG_PEEK                          0x2
#define MSG_TRUNC                         0x20
#define MSG_DONTWAIT                      0x40
#define MSG_EOR                           0x80
#define MSG_WAITALL                       0x100
#define MSG_NOSIGNAL                      0x4000
#define MSG_CMSG_CLOEXEC                  0x40000000
#define SOCKADDR_VM_LEN                   16
#define VMADDR_ANY                        0xffffffffu
#define BUFFER_MIN_DEFAULT                128
#define BUFFER_MAX_DEFAULT                (256u << 10)
#define SEQ_MAX_MESSAGE                   (256u << 10) /* a SEQPACKET message a program sends */
#define MAX_IOV                           1024
#define IOCTL_VM_SOCKETS_GET_LOCAL_CID    0x7b9
#define FIONREAD                          0x541b

static uint8_t *iobuf(void)
{
	return uthread_current()->iobuf;
}

/* The socket at fd with a reference, or NULL and *err (EBADF, ENOTSOCK). */
static struct user_file *sock_file(struct user_proc *p, uint64_t fd, long *err)
{
	struct user_file *f = fd_file(p, (int64_t)fd);

	*err = -EBADF;
	if (f && f->kind != FK_SOCKET) {
		file_put(f);
		*err = -ENOTSOCK;
		return NULL;
	}
	return f;
}

/* ---- addresses ---- */

static long addr_in(struct user_proc *p, uint64_t uaddr, uint64_t len, struct vsock_addr *out)
{
	uint8_t sa[SOCKADDR_VM_LEN];
	uint16_t family;
	uint32_t port, cid;

	if (len < SOCKADDR_VM_LEN)
		return -EINVAL;
	if (vm_copy_in(p->mm->as, sa, uaddr, sizeof(sa)))
		return -EFAULT;
	memcpy(&family, sa, 2);
	memcpy(&port, sa + 4, 4);
	memcpy(&cid, sa + 8, 4);
	if (family != AF_VSOCK)
		return -EAFNOSUPPORT;
	if (sa[13] || sa[14] || sa[15]) /* svm_zero */
		return -EINVAL;
	out->cid = cid == VMADDR_ANY ? VSOCK_CID_ANY : cid;
	out->port = port;
	return 0;
}

/* A struct sockaddr_vm out, with Linux's in/out length convention. */
static long addr_out(struct user_proc *p, uint64_t uaddr, uint64_t ulen,
                     const struct vsock_addr *addr)
{
	uint8_t sa[SOCKADDR_VM_LEN] = { 0 };
	uint16_t family = AF_VSOCK;
	uint32_t port = addr->port,
	         cid = addr->cid == VSOCK_CID_ANY ? VMADDR_ANY : (uint32_t)addr->cid, len;

	if (!uaddr)
		return 0;
	if (vm_copy_in(p->mm->as, &len, ulen, 4))
		return -EFAULT;
	if ((int32_t)len < 0)
		return -EINVAL;
	memcpy(sa, &family, 2);
	memcpy(sa + 4, &port, 4);
	memcpy(sa + 8, &cid, 4);
	if (vm_copy_out(p->mm->as, uaddr, sa, len < sizeof(sa) ? len : sizeof(sa)))
		return -EFAULT;
	len = SOCKADDR_VM_LEN;
	return vm_copy_out(p->mm->as, ulen, &len, 4) ? -EFAULT : 0;
}

/* ---- socket, bind, listen ---- */

static long new_socket_fd(struct user_proc *p, struct vsock_sock *sock, int type, uint64_t flags)
{
	struct user_file *f =
	        file_alloc(FK_SOCKET, UO_RDWR | (flags & SOCK_NONBLOCK ? UO_NONBLOCK : 0));
	int fd;

	if (!f) {
		vsock_close(sock);
		return -ENOMEM;
	}
	f->sock = sock;
	f->sock_type = type;
	f->rcvlowat = 1;
	f->buf_min = BUFFER_MIN_DEFAULT;
	f->buf_max = BUFFER_MAX_DEFAULT;
	if ((fd = fd_install(p, f, 0, flags & SOCK_CLOEXEC)) < 0)
		file_put(f); /* closes the socket */
	return fd;
}

long sys_socket(SYSCALL_ARGS)
{
	int type = (int)(a[1] & SOCK_TYPE_MASK);
	struct vsock_sock *sock;
	struct vsock_core *core = user_vsock();
	long err;

	if (a[0] != AF_VSOCK)
		return -EAFNOSUPPORT;
	if (a[1] & ~(uint64_t)(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC))
		return -EINVAL;
	if (type != SOCK_STREAM && type != SOCK_SEQPACKET)
		return -ESOCKTNOSUPPORT;
	if (a[2] != 0)
		return -EPROTONOSUPPORT;
	if (!core)
		return -EAFNOSUPPORT;
	err = vsock_socket(core, type == SOCK_STREAM ? VSOCK_TYPE_STREAM : VSOCK_TYPE_SEQPACKET,
	                   &sock);
	if (err)
		return err;
	return new_socket_fd(p, sock, type, a[1]);
}

long sys_socketpair(SYSCALL_ARGS)
{
	return a[0] == AF_VSOCK ? -EOPNOTSUPP : -EAFNOSUPPORT;
}

long sys_bind(SYSCALL_ARGS)
{
	struct vsock_addr addr;
	long err;
	struct user_file *f = sock_file(p, a[0], &err);

	if (!f)
		return err;
	if (!(err = addr_in(p, a[1], a[2], &addr)))
		err = vsock_bind(f->sock, &addr);
	file_put(f);
	return err;
}

long sys_listen(SYSCALL_ARGS)
{
	long err;
	struct user_file *f = sock_file(p, a[0], &err);

	if (!f)
		return err;
	err = vsock_listen(f->sock, (int)a[1] > 0 ? (int)a[1] : 1);
	file_put(f);
	return err;
}

/* ---- accept, connect ---- */

/*
 * A socket call said -EAGAIN: 0 to try again once `events` may be ready,
 * else what the call returns -- -EAGAIN when non-blocking (epoll re-armed
 * for edge-triggered waiters), or file_wait's error (EINTR, ...).
 */
static int wait_ready(struct user_file *f, bool nonblock, unsigned events)
{
	if (nonblock) {
		epoll_rearm(f, events);
		return -EAGAIN;
	}
	return file_wait(f, events, UINT64_MAX);
}

static long do_accept(struct user_proc *p, const uint64_t *a, uint64_t flags)
{
	struct vsock_sock *child;
	struct vsock_addr peer;
	long err;
	struct user_file *f = sock_file(p, a[0], &err);
	long fd;

	if (!f)
		return err;
	if (flags & ~(uint64_t)(SOCK_NONBLOCK | SOCK_CLOEXEC)) {
		file_put(f);
		return -EINVAL;
	}
	for (;;) {
		err = vsock_accept(f->sock, &child, &peer, VSOCK_DONTWAIT);
		if (err != -EAGAIN || (err = wait_ready(f, f->flags & UO_NONBLOCK, UPOLLIN)))
			break;
	}
	if (err) {
		file_put(f);
		return err;
	}
	fd = new_socket_fd(p, child, f->sock_type, flags);
	file_put(f);
	if (fd >= 0 && (err = addr_out(p, a[1], a[2], &peer))) {
		fd_close(p, fd);
		return err;
	}
	return fd;
}

long sys_accept(SYSCALL_ARGS)
{
	return do_accept(p, a, 0);
}

long sys_accept4(SYSCALL_ARGS)
{
	return do_accept(p, a, a[3]);
}

long sys_connect(SYSCALL_ARGS)
{
	struct vsock_addr addr;
	long err;
	struct user_file *f = sock_file(p, a[0], &err);

	if (!f)
		return err;
	if ((err = addr_in(p, a[1], a[2], &addr)))
		goto out;
	err = vsock_connect(f->sock, &addr, VSOCK_DONTWAIT);
	if (err != -EINPROGRESS || (f->flags & UO_NONBLOCK))
		goto out;
	/* blocking: until the answer (or the connect timeout, or a signal:
	 * then EINTR, and the attempt goes on as Linux's does) */
	while ((err = vsock_connect_status(f->sock)) == -EINPROGRESS)
		if ((err = file_wait(f, UPOLLOUT, UINT64_MAX)))
			break;
	if (err == -ENOTCONN)
		err = -ECONNRESET;
out:
	file_put(f);
	return err;
}

/* ---- data ---- */

long sock_recv(struct user_proc *p, struct user_file *f, uint64_t buf, uint64_t len, unsigned flags,
               unsigned *msg_flags)
{
	bool nonblock = (f->flags & UO_NONBLOCK) || (flags & MSG_DONTWAIT);
	size_t room = len < UPROC_IOBUF ? len : UPROC_IOBUF;
	uint8_t *kbuf = iobuf(), *big = NULL;
	long n;

	if (flags & MSG_PEEK)
		return -EOPNOTSUPP;
	if (f->sock_type == SOCK_SEQPACKET && len > UPROC_IOBUF) {
		/* a whole message at once: up to what the caller takes */
		room = len < SEQ_MAX_MESSAGE ? len : SEQ_MAX_MESSAGE;
		if (!(big = malloc(room)))
			return -ENOMEM;
		kbuf = big;
	}
	for (;;) {
		int mflags = 0;
		int err;

		if (f->rcvlowat > 1 && !nonblock && f->sock_type == SOCK_STREAM &&
		    vsock_rx_available(f->sock) < (len < f->rcvlowat ? len : f->rcvlowat) &&
		    !(file_poll(f) & (UPOLLHUP | UPOLLERR | UPOLLRDHUP)) &&
		    vsock_connect_status(f->sock) == 0) {
			if ((err = file_wait(f, UPOLLIN, UINT64_MAX))) {
				n = err;
				break;
			}
			continue;
		}
		n = vsock_recvmsg(f->sock, kbuf, room,
		                  VSOCK_DONTWAIT | (flags & MSG_TRUNC ? VSOCK_MSG_TRUNC : 0),
		                  &mflags);
		if (n >= 0) {
			size_t copy = (size_t)n < room ? (size_t)n : room;

			if (copy && vm_copy_out(p->mm->as, buf, kbuf, copy))
				n = -EFAULT;
			if (msg_flags)
				*msg_flags = (mflags & VSOCK_MSG_TRUNC ? MSG_TRUNC : 0) |
				             (mflags & VSOCK_MSG_EOR ? MSG_EOR : 0);
			break;
		}
		if (n == -ECONNRESET)
			n = 0; /* the peer reset it: end of stream, as Linux reads it */
		if (n != -EAGAIN)
			break;
		if ((err = wait_ready(f, nonblock, UPOLLIN))) {
			n = err;
			break;
		}
	}
	free(big);
	return n;
}

static long send_failed(struct user_file *f, long err, unsigned flags)
{
	/* Linux marks a connection the peer reset as shut both ways
	 * (virtio_transport_do_close): writing is EPIPE, reading EOF */
	if (err == -ECONNRESET)
		err = -EPIPE;
	if (err == -EPIPE && !(flags & MSG_NOSIGNAL))
		sig_send_thread(uthread_current(), SIGNAL_PIPE);
	return err;
}

/* One SEQPACKET message, all of it or nothing. */
static long send_message(struct user_proc *p, struct user_file *f, uint64_t buf, uint64_t len,
                         unsigned flags)
{
	bool nonblock = (f->flags & UO_NONBLOCK) || (flags & MSG_DONTWAIT);
	uint8_t *msg;
	long n;

	if (len > SEQ_MAX_MESSAGE)
		return -EMSGSIZE;
	if (!(msg = malloc(len + 1)))
		return -ENOMEM;
	if (vm_copy_in(p->mm->as, msg, buf, len)) {
		free(msg);
		return -EFAULT;
	}
	for (;;) {
		int err;

		n = vsock_send(f->sock, msg, len,
		               VSOCK_DONTWAIT | (flags & MSG_EOR ? VSOCK_MSG_EOR : 0));
		if (n != -EAGAIN)
			break;
		if ((err = wait_ready(f, nonblock, UPOLLOUT))) {
			n = err;
			break;
		}
	}
	free(msg);
	return n < 0 ? send_failed(f, n, flags) : n;
}

long sock_send(struct user_proc *p, struct user_file *f, uint64_t buf, uint64_t len, unsigned flags)
{
	bool nonblock = (f->flags & UO_NONBLOCK) || (flags & MSG_DONTWAIT);
	uint64_t done = 0;

	if (f->sock_type == SOCK_SEQPACKET)
		return send_message(p, f, buf, len, flags);
	while (done < len || len == 0) {
		size_t chunk = len - done < UPROC_IOBUF ? len - done : UPROC_IOBUF;
		long n;
		int err;

		if (chunk && vm_copy_in(p->mm->as, iobuf(), buf + done, chunk))
			return done ? (long)done : -EFAULT;
		n = vsock_send(f->sock, iobuf(), chunk, VSOCK_DONTWAIT);
		if (len == 0)
			return n < 0 ? send_failed(f, n, flags) : 0;
		if (n > 0) {
			done += (uint64_t)n;
			continue;
		}
		if (n != -EAGAIN)
			return done ? (long)done : send_failed(f, n, flags);
		if ((err = wait_ready(f, nonblock, UPOLLOUT)))
			return done ? (long)done : err;
	}
	return (long)done;
}

long sys_sendto(SYSCALL_ARGS)
{
	long err;
	struct user_file *f = fd_file(p, (int64_t)a[0]);

	if (!f)
		return -EBADF;
	if (f->kind != FK_SOCKET) {
		/* send(2) on a non-socket is ENOTSOCK */
		file_put(f);
		return -ENOTSOCK;
	}
	if (a[4] && a[5])
		err = vsock_connect_status(f->sock) == 0 ? -EISCONN : -EOPNOTSUPP;
	else
		err = sock_send(p, f, a[1], a[2], (unsigned)a[3]);
	file_put(f);
	return err;
}

long sys_recvfrom(SYSCALL_ARGS)
{
	long n, err;
	struct user_file *f = sock_file(p, a[0], &err);

	if (!f)
		return err;
	n = sock_recv(p, f, a[1], a[2], (unsigned)a[3], NULL);
	if (n >= 0 && a[4]) {
		struct vsock_addr peer;

		if (vsock_getpeername(f->sock, &peer) == 0 &&
		    (err = addr_out(p, a[4], a[5], &peer)))
			n = err;
	}
	file_put(f);
	return n;
}

/* struct msghdr (64-bit): name 0, namelen 8, iov 16, iovlen 24,
 * control 32, controllen 40, flags 48 */
struct msghdr_k {
	uint64_t name, iov, iovlen, control, controllen;
	uint32_t namelen, flags;
};

static long msghdr_in(struct user_proc *p, uint64_t umsg, struct msghdr_k *m)
{
	uint8_t raw[56];

	if (vm_copy_in(p->mm->as, raw, umsg, sizeof(raw)))
		return -EFAULT;
	memcpy(&m->name, raw, 8);
	memcpy(&m->namelen, raw + 8, 4);
	memcpy(&m->iov, raw + 16, 8);
	memcpy(&m->iovlen, raw + 24, 8);
	memcpy(&m->control, raw + 32, 8);
	memcpy(&m->controllen, raw + 40, 8);
	memcpy(&m->flags, raw + 48, 4);
	return m->iovlen > MAX_IOV ? -EMSGSIZE : 0;
}

/* The iovecs gathered into one buffer (at most `cap` bytes). */
static long gather(struct user_proc *p, const struct msghdr_k *m, uint8_t *buf, size_t cap)
{
	size_t len = 0;

	for (uint64_t i = 0; i < m->iovlen; i++) {
		uint64_t iov[2];

		if (vm_copy_in(p->mm->as, iov, m->iov + 16 * i, sizeof(iov)))
			return -EFAULT;
		if (iov[1] > cap - len)
			return -EMSGSIZE;
		if (iov[1] && vm_copy_in(p->mm->as, buf + len, iov[0], iov[1]))
			return -EFAULT;
		len += iov[1];
	}
	return (long)len;
}

long sys_sendmsg(SYSCALL_ARGS)
{
	struct msghdr_k m;
	long err, total = 0;
	struct user_file *f = sock_file(p, a[0], &err);

	if (!f)
		return err;
	if ((err = msghdr_in(p, a[1], &m)))
		goto out;
	if (m.name && m.namelen) {
		err = vsock_connect_status(f->sock) == 0 ? -EISCONN : -EOPNOTSUPP;
		goto out;
	}
	if (f->sock_type == SOCK_SEQPACKET) {
		/* one message: gathered, then sent from a copy in user memory's stead */
		uint8_t *msg = malloc(SEQ_MAX_MESSAGE);
		long len;

		if (!msg) {
			err = -ENOMEM;
			goto out;
		}
		len = gather(p, &m, msg, SEQ_MAX_MESSAGE);
		if (len < 0) {
			free(msg);
			err = len;
			goto out;
		}
		for (;;) {
			err = vsock_send(f->sock, msg, (size_t)len,
			                 VSOCK_DONTWAIT | (a[2] & MSG_EOR ? VSOCK_MSG_EOR : 0));
			if (err != -EAGAIN)
				break;
			if ((total = wait_ready(f,
			                        (f->flags & UO_NONBLOCK) || (a[2] & MSG_DONTWAIT),
			                        UPOLLOUT))) {
				err = total;
				break;
			}
		}
		free(msg);
		if (err < 0)
			err = send_failed(f, err, (unsigned)a[2]);
		goto out;
	}
	for (uint64_t i = 0; i < m.iovlen; i++) {
		uint64_t iov[2];
		long n;

		if (vm_copy_in(p->mm->as, iov, m.iov + 16 * i, sizeof(iov))) {
			err = total ? total : -EFAULT;
			goto out;
		}
		if (!iov[1])
			continue;
		n = sock_send(p, f, iov[0], iov[1], (unsigned)a[2]);
		if (n < 0) {
			err = total ? total : n;
			goto out;
		}
		total += n;
		if ((uint64_t)n < iov[1])
			break;
	}
	err = total;
out:
	file_put(f);
	return err;
}

long sys_recvmsg(SYSCALL_ARGS)
{
	struct msghdr_k m;
	long err, n;
	uint64_t want = 0, done = 0;
	uint8_t *buf = NULL;
	unsigned mflags = 0;
	struct user_file *f = sock_file(p, a[0], &err);

	if (!f)
		return err;
	if ((err = msghdr_in(p, a[1], &m)))
		goto out;
	for (uint64_t i = 0; i < m.iovlen; i++) {
		uint64_t iov[2];

		if (vm_copy_in(p->mm->as, iov, m.iov + 16 * i, sizeof(iov))) {
			err = -EFAULT;
			goto out;
		}
		want += iov[1];
	}
	if (want > SEQ_MAX_MESSAGE)
		want = SEQ_MAX_MESSAGE;
	/* into a user-space-sized bounce of our own, then scattered */
	if (!(buf = malloc(want + 1))) {
		err = -ENOMEM;
		goto out;
	}
	{
		/* sock_recv copies out to a user address: give it ours via the
		 * first iovec when there is only one, else receive then scatter */
		uint64_t iov[2];

		if (m.iovlen == 1) {
			if (vm_copy_in(p->mm->as, iov, m.iov, sizeof(iov))) {
				err = -EFAULT;
				goto out;
			}
			n = sock_recv(p, f, iov[0], iov[1], (unsigned)a[2], &mflags);
		} else {
			int vflags = 0;
			bool nonblock = (f->flags & UO_NONBLOCK) || (a[2] & MSG_DONTWAIT);

			for (;;) {
				n = vsock_recvmsg(f->sock, buf, want,
				                  VSOCK_DONTWAIT |
				                          (a[2] & MSG_TRUNC ? VSOCK_MSG_TRUNC : 0),
				                  &vflags);
				if (n != -EAGAIN)
					break;
				if ((err = wait_ready(f, nonblock, UPOLLIN))) {
					n = err;
					break;
				}
			}
			mflags = (vflags & VSOCK_MSG_TRUNC ? MSG_TRUNC : 0) |
			         (vflags & VSOCK_MSG_EOR ? MSG_EOR : 0);
			for (uint64_t i = 0;
			     n > 0 && i < m.iovlen && done < (uint64_t)n && done < want; i++) {
				uint64_t left = ((uint64_t)n < want ? (uint64_t)n : want) - done, c;

				if (vm_copy_in(p->mm->as, iov, m.iov + 16 * i, sizeof(iov))) {
					n = -EFAULT;
					break;
				}
				c = iov[1] < left ? iov[1] : left;
				if (c && vm_copy_out(p->mm->as, iov[0], buf + done, c)) {
					n = -EFAULT;
					break;
				}
				done += c;
			}
		}
	}
	if (n < 0) {
		err = n;
		goto out;
	}
	/* the name (the peer), no control data, the flags */
	{
		uint32_t namelen = 0, controllen0 = 0;
		uint64_t zero = 0;
		struct vsock_addr peer;

		if (m.name && vsock_getpeername(f->sock, &peer) == 0) {
			uint8_t sa[SOCKADDR_VM_LEN] = { 0 };
			uint16_t family = AF_VSOCK;
			uint32_t port = peer.port, cid = (uint32_t)peer.cid;

			memcpy(sa, &family, 2);
			memcpy(sa + 4, &port, 4);
			memcpy(sa + 8, &cid, 4);
			if (vm_copy_out(p->mm->as, m.name, sa,
			                m.namelen < SOCKADDR_VM_LEN ? m.namelen :
			                                              SOCKADDR_VM_LEN)) {
				err = -EFAULT;
				goto out;
			}
			namelen = SOCKADDR_VM_LEN;
		}
		(void)controllen0;
		if (vm_copy_out(p->mm->as, a[1] + 8, &namelen, 4) ||
		    vm_copy_out(p->mm->as, a[1] + 40, &zero, 8) ||
		    vm_copy_out(p->mm->as, a[1] + 48, &mflags, 4)) {
			err = -EFAULT;
			goto out;
		}
	}
	err = n;
out:
	free(buf);
	file_put(f);
	return err;
}

long sys_shutdown(SYSCALL_ARGS)
{
	long err;
	struct user_file *f = sock_file(p, a[0], &err);

	if (!f)
		return err;
	err = a[1] > 2 ? -EINVAL : vsock_shutdown(f->sock, (int)a[1] + 1);
	file_put(f);
	return err;
}

long sys_getsockname(SYSCALL_ARGS)
{
	struct vsock_addr addr;
	long err;
	struct user_file *f = sock_file(p, a[0], &err);

	if (!f)
		return err;
	vsock_getsockname(f->sock, &addr);
	if (addr.port == 0 && addr.cid == 0)
		addr = (struct vsock_addr){ VSOCK_CID_ANY, VMADDR_ANY }; /* not bound */
	err = addr_out(p, a[1], a[2], &addr);
	file_put(f);
	return err;
}

long sys_getpeername(SYSCALL_ARGS)
{
	struct vsock_addr addr;
	long err;
	struct user_file *f = sock_file(p, a[0], &err);

	if (!f)
		return err;
	if (!(err = vsock_getpeername(f->sock, &addr)))
		err = addr_out(p, a[1], a[2], &addr);
	file_put(f);
	return err;
}

/* ---- options ---- */

static long opt_out(struct user_proc *p, uint64_t uval, uint64_t ulen, const void *v, uint32_t n)
{
	uint32_t len;

	if (vm_copy_in(p->mm->as, &len, ulen, 4))
		return -EFAULT;
	if ((int32_t)len < 0)
		return -EINVAL;
	if (len > n)
		len = n;
	if (vm_copy_out(p->mm->as, uval, v, len) || vm_copy_out(p->mm->as, ulen, &len, 4))
		return -EFAULT;
	return 0;
}

/* SO_ERROR reads and clears: a connect's error is told once. */
static int take_error(struct user_file *f)
{
	int status = vsock_connect_status(f->sock), err = vsock_sock_error(f->sock);

	if (status == -EINPROGRESS || !err || f->connect_reported)
		return 0;
	f->connect_reported = true;
	return (int)-linux_errno(err);
}

static long getopt_socket(struct user_proc *p, struct user_file *f, uint64_t name, uint64_t uval,
                          uint64_t ulen)
{
	int32_t v;
	uint64_t ns;

	switch (name) {
	case SO_ERROR:
		v = take_error(f);
		break;
	case SO_TYPE:
		v = f->sock_type;
		break;
	case SO_DOMAIN:
		v = AF_VSOCK;
		break;
	case SO_PROTOCOL:
		v = 0;
		break;
	case SO_RCVLOWAT:
		v = (int32_t)f->rcvlowat;
		break;
	case SO_ACCEPTCONN:
		v = vsock_connect_status(f->sock) == -EINVAL;
		break;
	case SO_SNDBUF:
	case SO_RCVBUF:
		v = vsock_getopt(f->sock, VSOCK_OPT_BUF_ALLOC, &ns) ? 0 : (int32_t)ns;
		break;
	case SO_REUSEADDR:
	case SO_KEEPALIVE:
		v = 0;
		break;
	case SO_RCVTIMEO_OLD:
	case SO_SNDTIMEO_OLD:
	case SO_RCVTIMEO_NEW:
	case SO_SNDTIMEO_NEW: {
		int64_t tv[2];

		vsock_getopt(f->sock,
		             name == SO_RCVTIMEO_OLD || name == SO_RCVTIMEO_NEW ?
		                     VSOCK_OPT_RCVTIMEO_NS :
		                     VSOCK_OPT_SNDTIMEO_NS,
		             &ns);
		tv[0] = (int64_t)(ns / 1000000000);
		tv[1] = (int64_t)(ns % 1000000000 / 1000);
		return opt_out(p, uval, ulen, tv, sizeof(tv));
	}
	default:
		return -ENOPROTOOPT;
	}
	return opt_out(p, uval, ulen, &v, sizeof(v));
}

static long getopt_vsock(struct user_proc *p, struct user_file *f, uint64_t name, uint64_t uval,
                         uint64_t ulen)
{
	uint64_t v;
	int64_t tv[2];

	switch (name) {
	case SO_VM_SOCKETS_BUFFER_SIZE:
		if (vsock_getopt(f->sock, VSOCK_OPT_BUF_ALLOC, &v))
			return -ENOPROTOOPT;
		break;
	case SO_VM_SOCKETS_BUFFER_MIN_SIZE:
		v = f->buf_min;
		break;
	case SO_VM_SOCKETS_BUFFER_MAX_SIZE:
		v = f->buf_max;
		break;
	case SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD:
	case SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW:
		vsock_getopt(f->sock, VSOCK_OPT_CONNECT_TIMEOUT_NS, &v);
		tv[0] = (int64_t)(v / 1000000000);
		tv[1] = (int64_t)(v % 1000000000 / 1000);
		return opt_out(p, uval, ulen, tv, sizeof(tv));
	default:
		return -ENOPROTOOPT;
	}
	return opt_out(p, uval, ulen, &v, sizeof(v));
}

long sys_getsockopt(SYSCALL_ARGS)
{
	long err;
	struct user_file *f = sock_file(p, a[0], &err);

	if (!f)
		return err;
	if (a[1] == SOL_SOCKET)
		err = getopt_socket(p, f, a[2], a[3], a[4]);
	else if (a[1] == AF_VSOCK)
		err = getopt_vsock(p, f, a[2], a[3], a[4]);
	else
		err = -ENOPROTOOPT;
	file_put(f);
	return err;
}

/* Linux's vsock_update_buffer_size: the size within [min, max]. */
static long set_buffer(struct user_file *f, uint64_t which, uint64_t v)
{
	uint64_t size;

	if (which == SO_VM_SOCKETS_BUFFER_MIN_SIZE)
		f->buf_min = v;
	else if (which == SO_VM_SOCKETS_BUFFER_MAX_SIZE)
		f->buf_max = v;
	if (vsock_getopt(f->sock, VSOCK_OPT_BUF_ALLOC, &size))
		return -ENOPROTOOPT;
	if (which == SO_VM_SOCKETS_BUFFER_SIZE)
		size = v;
	if (size > f->buf_max)
		size = f->buf_max;
	if (size < f->buf_min)
		size = f->buf_min;
	if (size > (64u << 20))
		size = 64u << 20;
	if (size == 0)
		size = 1;
	/* (after connect or listen the core keeps the size it has: Linux's
	 * transports take it for the next credit update only) */
	vsock_setopt(f->sock, VSOCK_OPT_BUF_ALLOC, size);
	return 0;
}

static long timeval_ns(struct user_proc *p, uint64_t uval, uint64_t len, uint64_t *ns)
{
	int64_t tv[2];

	if (len < sizeof(tv))
		return -EINVAL;
	if (vm_copy_in(p->mm->as, tv, uval, sizeof(tv)))
		return -EFAULT;
	if (tv[0] < 0 || tv[1] < 0 || tv[1] >= 1000000)
		return -EDOM;
	*ns = (uint64_t)tv[0] * 1000000000 + (uint64_t)tv[1] * 1000;
	return 0;
}

long sys_setsockopt(SYSCALL_ARGS)
{
	long err;
	struct user_file *f = sock_file(p, a[0], &err);
	uint64_t v = 0, ns;
	int32_t i = 0;

	if (!f)
		return err;
	err = 0;
	if (a[1] == SOL_SOCKET) {
		switch (a[2]) {
		case SO_RCVLOWAT:
			if (a[4] < 4 || vm_copy_in(p->mm->as, &i, a[3], 4))
				err = a[4] < 4 ? -EINVAL : -EFAULT;
			else
				f->rcvlowat = i < 1 ? 1 : (uint32_t)i;
			break;
		case SO_RCVTIMEO_OLD:
		case SO_RCVTIMEO_NEW:
		case SO_SNDTIMEO_OLD:
		case SO_SNDTIMEO_NEW:
			if (!(err = timeval_ns(p, a[3], a[4], &ns)))
				vsock_setopt(f->sock,
				             a[2] == SO_RCVTIMEO_OLD || a[2] == SO_RCVTIMEO_NEW ?
				                     VSOCK_OPT_RCVTIMEO_NS :
				                     VSOCK_OPT_SNDTIMEO_NS,
				             ns);
			break;
		case SO_REUSEADDR:
		case SO_KEEPALIVE:
		case SO_SNDBUF:
		case SO_RCVBUF:
		case SO_LINGER:
			break; /* accepted, nothing to change here */
		default:
			err = -ENOPROTOOPT;
		}
	} else if (a[1] == AF_VSOCK) {
		switch (a[2]) {
		case SO_VM_SOCKETS_BUFFER_SIZE:
		case SO_VM_SOCKETS_BUFFER_MIN_SIZE:
		case SO_VM_SOCKETS_BUFFER_MAX_SIZE:
			if (a[4] < 8 || vm_copy_in(p->mm->as, &v, a[3], 8))
				err = a[4] < 8 ? -EINVAL : -EFAULT;
			else
				err = set_buffer(f, a[2], v);
			break;
		case SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD:
		case SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW:
			if (!(err = timeval_ns(p, a[3], a[4], &ns)))
				err = vsock_setopt(f->sock, VSOCK_OPT_CONNECT_TIMEOUT_NS,
				                   ns ? ns : 1);
			break;
		default:
			err = -ENOPROTOOPT;
		}
	} else {
		err = -ENOPROTOOPT;
	}
	file_put(f);
	return err;
}

long sock_ioctl(struct user_proc *p, struct user_file *f, uint64_t cmd, uint64_t arg)
{
	if (cmd == IOCTL_VM_SOCKETS_GET_LOCAL_CID) {
		uint32_t cid = user_vsock() ? (uint32_t)vsock_core_local_cid(user_vsock()) : 0;

		return vm_copy_out(p->mm->as, arg, &cid, 4) ? -EFAULT : 0;
	}
	if (cmd == FIONREAD && f->kind == FK_SOCKET) {
		int32_t n = (int32_t)vsock_rx_available(f->sock);

		return vm_copy_out(p->mm->as, arg, &n, 4) ? -EFAULT : 0;
	}
	return -ENOTTY;
}
