/*
 * socket.c -- the application's side of the vsock core: a socket-like API
 * with AF_VSOCK semantics (Linux net/vmw_vsock/af_vsock.c), blocking calls
 * that sleep on the socket's wait queue, non-blocking variants and poll.
 * See socket.h for usage.
 */
#include <errno.h>
#include <string.h>

#include "include/log.h"
#include "vsock/internal.h"

/* A blocking send gives the lock back after this many bytes. */
#define SEND_ROUND    (64 * 1024)
#define MAX_BACKLOG   4096
#define MAX_BUF_ALLOC (64u * 1024 * 1024)

static uint64_t deadline_after(uint64_t timeout_ns)
{
	uint64_t now = platform_now_ns();

	if (timeout_ns == 0 || timeout_ns >= PLATFORM_FOREVER - now)
		return PLATFORM_FOREVER;
	return now + timeout_ns;
}

static bool nonblocking(const struct vsock_sock *sock, int flags)
{
	return sock->nonblock || (flags & VSOCK_DONTWAIT);
}

int vsock_socket(struct vsock_core *core, int type, struct vsock_sock **out)
{
	struct vsock_sock *sock;

	if (!core || !out)
		return -EINVAL;
	if (type != VSOCK_TYPE_STREAM && type != VSOCK_TYPE_SEQPACKET)
		return -EPROTONOSUPPORT;
	if (!core_type_supported(core, (uint16_t)type))
		return -ESOCKTNOSUPPORT; /* the transport did not negotiate it */
	platform_lock();
	sock = sock_alloc(core, (uint16_t)type);
	if (sock)
		sock->user_open = true;
	platform_unlock();
	if (!sock)
		return -ENOMEM;
	*out = sock;
	return 0;
}

static int bind_locked(struct vsock_sock *sock, const struct vsock_addr *addr)
{
	struct vsock_core *core = sock->core;
	uint32_t port = addr->port;
	int err;

	if (sock->owns_port || sock->state != SS_UNCONNECTED)
		return -EINVAL;
	if (addr->cid != VSOCK_CID_ANY && addr->cid != core->local_cid)
		return -EADDRNOTAVAIL;
	if (port == VSOCK_PORT_ANY) {
		err = sock_pick_ephemeral(core, &port);
		if (err < 0)
			return err;
		sock->ephemeral = true;
	} else if (sock_port_owned(core, port)) {
		return -EADDRINUSE;
	}
	sock->local = (struct vsock_addr){ core->local_cid, port };
	sock->owns_port = true;
	return 0;
}

int vsock_bind(struct vsock_sock *sock, const struct vsock_addr *addr)
{
	int err;

	if (!sock || !addr)
		return -EINVAL;
	platform_lock();
	err = bind_locked(sock, addr);
	platform_unlock();
	return err;
}

int vsock_listen(struct vsock_sock *sock, int backlog)
{
	int err = 0;

	if (!sock)
		return -EINVAL;
	if (backlog < 1)
		backlog = 1;
	if (backlog > MAX_BACKLOG)
		backlog = MAX_BACKLOG;
	platform_lock();
	if (!sock->owns_port || (sock->state != SS_UNCONNECTED && sock->state != SS_LISTEN)) {
		err = -EINVAL;
	} else {
		sock->state = SS_LISTEN;
		sock->backlog = (uint32_t)backlog;
	}
	platform_unlock();
	return err;
}

int vsock_accept(struct vsock_sock *sock, struct vsock_sock **out, struct vsock_addr *peer,
                 int flags)
{
	struct vsock_sock *child;
	bool timed_out = false;
	uint64_t deadline;
	int err = 0;

	if (!sock || !out)
		return -EINVAL;
	deadline = deadline_after(sock->rcvtimeo_ns);
	platform_lock();
	for (;;) {
		if (sock->state != SS_LISTEN) {
			err = -EINVAL;
			break;
		}
		child = sock->accept_head;
		if (child) {
			sock->accept_head = child->accept_next;
			if (!sock->accept_head)
				sock->accept_tail = NULL;
			sock->accept_len--;
			child->accept_next = NULL;
			child->parent = NULL;
			child->user_open = true;
			if (peer)
				*peer = child->peer;
			*out = child;
			break;
		}
		if (nonblocking(sock, flags) || timed_out) {
			err = -EAGAIN;
			break;
		}
		err = platform_wait(&sock->wq, deadline);
		if (err == -EINTR)
			break; /* the task is being killed */
		timed_out = err == -ETIMEDOUT;
		err = 0;
	}
	platform_unlock();
	return err;
}

/* Forget a failed earlier attempt so the socket can connect again. */
static void connect_prepare(struct vsock_sock *sock)
{
	uint32_t start = sock->core->cfg.counter_start;

	sock_rx_discard(sock);
	sock->error = 0;
	sock->shut_local = sock->shut_peer = 0;
	sock->rst_owed = sock->credit_requested = false;
	sock->rx_cnt = sock->fwd_cnt = sock->last_fwd_sent = start;
	sock->tx_cnt = sock->peer_fwd_cnt = start;
	sock->peer_buf_alloc = 0;
}

static int connect_start(struct vsock_sock *sock, const struct vsock_addr *addr)
{
	struct vsock_core *core = sock->core;
	int err;

	switch (sock->state) {
	case SS_CONNECTED:
		return -EISCONN;
	case SS_CONNECTING:
		return -EALREADY;
	case SS_LISTEN:
	case SS_CLOSING:
		return -EINVAL;
	default:
		break;
	}
	if (addr->port == VSOCK_PORT_ANY || addr->cid == VSOCK_CID_ANY)
		return -EINVAL;
	if (!sock->owns_port) {
		struct vsock_addr any = { VSOCK_CID_ANY, VSOCK_PORT_ANY };

		err = bind_locked(sock, &any);
		if (err < 0)
			return err;
	}
	if (sock_tuple_in_use(core, sock->local.port, addr))
		return -EADDRINUSE;
	if (core->stats.conns >= core->cfg.max_conns) {
		log_printf("vsock: connection limit (%u) reached, not connecting to %llu:%u\n",
		           core->cfg.max_conns, (unsigned long long)addr->cid, addr->port);
		return -ENOBUFS;
	}
	connect_prepare(sock);
	sock->local.cid = core->local_cid;
	sock->peer = *addr;
	sock->state = SS_CONNECTING;
	sock->deadline_ns = deadline_after(sock->connect_timeout_ns);
	sock_table_add(sock);
	err = sock_send_ctrl(sock, VSOCK_OP_REQUEST, 0);
	if (err < 0) {
		sock_reset(sock, -err, false);
		return err;
	}
	return 0;
}

int vsock_connect(struct vsock_sock *sock, const struct vsock_addr *addr, int flags)
{
	int err;

	if (!sock || !addr)
		return -EINVAL;
	platform_lock();
	err = connect_start(sock, addr);
	if (err == 0 && nonblocking(sock, flags))
		err = -EINPROGRESS;
	while (err == 0 && sock->state == SS_CONNECTING) {
		if (platform_wait(&sock->wq, sock->deadline_ns) == -EINTR)
			err = -EINTR; /* killed: the attempt goes on in the background */
		sock_timeout(sock, platform_now_ns());
	}
	if (err == 0 && sock->state != SS_CONNECTED)
		err = sock->error ? -sock->error : -ECONNRESET;
	platform_unlock();
	return err;
}

/* Why a send cannot proceed now (negative errno), or 0. */
static int send_blocked_reason(const struct vsock_sock *sock)
{
	if (sock->error)
		return -sock->error;
	if (sock->shut_local & VSOCK_SHUTDOWN_SEND)
		return -EPIPE;
	if (sock->state == SS_DISCONNECTED || (sock->shut_peer & VSOCK_SHUTDOWN_RCV))
		return -EPIPE;
	if (sock->state != SS_CONNECTED)
		return -ENOTCONN;
	return 0;
}

/* The largest SEQPACKET message: what both buffers hold (Linux caps it
 * so since CVE-2026-23086's fixes: virtio_transport_tx_buf_size). */
static size_t seq_max_message(const struct vsock_sock *sock)
{
	return sock->peer_buf_alloc < sock->buf_alloc ? sock->peer_buf_alloc : sock->buf_alloc;
}

/* One SEQPACKET message, all of it or nothing: waits (unless non-blocking)
 * until the credit covers it and no earlier message is still going out. */
static ssize_t seq_sendmsg(struct vsock_sock *sock, const void *buf, size_t len, int flags)
{
	bool timed_out = false;
	uint64_t deadline = deadline_after(sock->sndtimeo_ns);
	ssize_t result;

	platform_lock();
	for (;;) {
		int err = send_blocked_reason(sock);

		if (err < 0) {
			result = err;
			break;
		}
		if (len > seq_max_message(sock)) {
			result = -EMSGSIZE;
			break;
		}
		if (sock_tx_credit(sock) >= len && !sock->tx_msg && core_tx_flush(sock->core)) {
			result = sock_send_message(sock, buf, len, flags & VSOCK_MSG_EOR);
			if (result != -EAGAIN) {
				sock->tx_msg_want = 0;
				break;
			}
		} else if (sock_tx_credit(sock) < len) {
			sock->tx_msg_want = (uint32_t)len; /* poll: POLLOUT once it fits */
			if (!sock->credit_requested) {
				sock->credit_requested = true;
				sock_send_ctrl(sock, VSOCK_OP_CREDIT_REQUEST, 0);
			}
		}
		if (nonblocking(sock, flags) || timed_out) {
			result = -EAGAIN;
			break;
		}
		err = platform_wait(&sock->wq, deadline);
		if (err == -EINTR) {
			result = -EINTR;
			break;
		}
		timed_out = err == -ETIMEDOUT;
	}
	platform_unlock();
	return result;
}

ssize_t vsock_send(struct vsock_sock *sock, const void *buf, size_t len, int flags)
{
	bool timed_out = false;
	uint64_t deadline;
	size_t sent = 0;
	ssize_t result;

	if (!sock || (!buf && len))
		return -EINVAL;
	if (sock->type == VSOCK_TYPE_SEQPACKET)
		return seq_sendmsg(sock, buf, len, flags);
	deadline = deadline_after(sock->sndtimeo_ns);
	platform_lock();
	for (;;) {
		int err = send_blocked_reason(sock);
		size_t round = len - sent;

		if (err < 0) {
			result = sent ? (ssize_t)sent : err;
			break;
		}
		if (round == 0) {
			result = (ssize_t)sent;
			break;
		}
		if (round > SEND_ROUND)
			round = SEND_ROUND;
		err = sock_send_data(sock, (const uint8_t *)buf + sent, round);
		if (err > 0) {
			sent += (size_t)err;
			/* Let interrupts and other tasks in between rounds. */
			platform_unlock();
			platform_lock();
			continue;
		}
		if (err != -EAGAIN) {
			result = sent ? (ssize_t)sent : err;
			break;
		}
		if (nonblocking(sock, flags) || timed_out) {
			result = sent ? (ssize_t)sent : -EAGAIN;
			break;
		}
		err = platform_wait(&sock->wq, deadline);
		if (err == -EINTR) {
			result = sent ? (ssize_t)sent : -EINTR;
			break;
		}
		timed_out = err == -ETIMEDOUT;
	}
	platform_unlock();
	return result;
}

/* Takes the oldest whole message (lock held); its answer for recv. */
static ssize_t seq_recv_locked(struct vsock_sock *sock, void *buf, size_t len, int flags,
                               int *msg_flags)
{
	uint32_t msg_len;
	bool eor;

	seq_take(sock, buf, len, &msg_len, &eor);
	if (msg_flags)
		*msg_flags = VSOCK_MSG_EOM | (msg_len > len ? VSOCK_MSG_TRUNC : 0) |
		             (eor ? VSOCK_MSG_EOR : 0);
	sock_consumed(sock, msg_len);
	/* Linux updates the sender's credit after every message: a SEQPACKET
	 * sender waits for room for a whole message. */
	if (sock->state == SS_CONNECTED && sock->fwd_cnt != sock->last_fwd_sent)
		sock_send_ctrl(sock, VSOCK_OP_CREDIT_UPDATE, 0);
	return (flags & VSOCK_MSG_TRUNC) ? (ssize_t)msg_len :
	                                   (ssize_t)(msg_len < len ? msg_len : len);
}

ssize_t vsock_recv(struct vsock_sock *sock, void *buf, size_t len, int flags)
{
	return vsock_recvmsg(sock, buf, len, flags, NULL);
}

ssize_t vsock_recvmsg(struct vsock_sock *sock, void *buf, size_t len, int flags, int *msg_flags)
{
	bool timed_out = false;
	uint64_t deadline;
	ssize_t result;

	if (!sock || (!buf && len))
		return -EINVAL;
	if (msg_flags)
		*msg_flags = 0;
	deadline = deadline_after(sock->rcvtimeo_ns);
	platform_lock();
	for (;;) {
		size_t avail = sock_rx_bytes(sock);

		if (sock->state == SS_UNCONNECTED || sock->state == SS_LISTEN ||
		    sock->state == SS_CONNECTING) {
			result = -ENOTCONN;
			break;
		}
		if (sock->shut_local & VSOCK_SHUTDOWN_RCV) {
			result = 0;
			break;
		}
		if (sock->type == VSOCK_TYPE_SEQPACKET && sock->msg_count) {
			result = seq_recv_locked(sock, buf, len, flags, msg_flags);
			break;
		}
		/* (A SEQPACKET buffer without messages holds at most part of
		 * one still arriving: nothing to read yet.) */
		if (sock->type != VSOCK_TYPE_SEQPACKET && avail > 0 && len > 0) {
			size_t n = sock_rx_take(sock, buf, len < avail ? len : avail);

			sock_consumed(sock, (uint32_t)n);
			result = (ssize_t)n;
			break;
		}
		if (len == 0 && sock->type != VSOCK_TYPE_SEQPACKET) {
			result = 0;
			break;
		}
		if (sock->error) {
			result = -sock->error;
			break;
		}
		if ((sock->shut_peer & VSOCK_SHUTDOWN_SEND) || sock->state != SS_CONNECTED) {
			result = 0; /* end of stream */
			break;
		}
		if (nonblocking(sock, flags) || timed_out) {
			result = -EAGAIN;
			break;
		}
		/* On a timeout, look once more: data may have come just then. */
		switch (platform_wait(&sock->wq, deadline)) {
		case -EINTR:
			platform_unlock();
			return -EINTR; /* the task is being killed */
		case -ETIMEDOUT:
			timed_out = true;
			break;
		}
	}
	platform_unlock();
	return result;
}

int vsock_shutdown(struct vsock_sock *sock, int how)
{
	int err = 0;

	if (!sock || how < VSOCK_SHUT_RD || how > VSOCK_SHUT_RDWR)
		return -EINVAL;
	platform_lock();
	if (sock->state == SS_CONNECTED) {
		uint8_t fresh = (uint8_t)how & ~sock->shut_local;

		sock->shut_local |= (uint8_t)how;
		if (fresh & VSOCK_SHUTDOWN_RCV) {
			/* Everything goes, with a message still arriving: its
			 * rest is counted consumed on arrival (rx.c). */
			sock_consumed(sock, (uint32_t)sock_rx_take(sock, NULL, SIZE_MAX));
			sock_msgs_forget(sock);
		}
		if (fresh)
			err = sock_send_ctrl(sock, VSOCK_OP_SHUTDOWN, fresh);
		if (err == -ENOBUFS)
			err = 0; /* logged; the peer will see our close or RST */
		sock_notify(sock);
	} else if (sock->state == SS_DISCONNECTED) {
		sock->shut_local |= (uint8_t)how;
	} else {
		err = -ENOTCONN;
	}
	platform_unlock();
	return err;
}

int vsock_close(struct vsock_sock *sock)
{
	if (!sock)
		return -EINVAL;
	platform_lock();
	sock->user_open = false;
	switch (sock->state) {
	case SS_LISTEN:
		sock_close_listener(sock);
		break;
	case SS_CONNECTING:
		sock_reset(sock, 0, true);
		platform_unlock();
		return 0; /* freed */
	case SS_CONNECTED:
		/* Linux: SHUTDOWN both, then linger up to 8 s for the peer's RST. */
		sock_rx_discard(sock);
		if (sock->shut_local != VSOCK_SHUTDOWN_BOTH)
			sock_send_ctrl(sock, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_BOTH);
		sock->shut_local = VSOCK_SHUTDOWN_BOTH;
		sock->state = SS_CLOSING;
		sock->deadline_ns = deadline_after(sock->core->cfg.linger_ns);
		break;
	case SS_DISCONNECTED:
		if (sock->rst_owed)
			sock_send_ctrl(sock, VSOCK_OP_RST, 0);
		sock->rst_owed = false;
		break;
	default:
		break;
	}
	sock_release_if_unused(sock);
	platform_unlock();
	return 0;
}

int vsock_abort(struct vsock_sock *sock)
{
	if (!sock)
		return -EINVAL;
	platform_lock();
	sock->user_open = false;
	switch (sock->state) {
	case SS_LISTEN:
		sock_close_listener(sock);
		sock_release_if_unused(sock);
		break;
	case SS_UNCONNECTED:
		sock_release_if_unused(sock);
		break;
	default:
		/* RST if the peer still knows the connection; frees the socket */
		sock_reset(sock, 0, true);
		break;
	}
	platform_unlock();
	return 0;
}

/* Readiness of one socket, lock held. */
static short poll_mask(const struct vsock_sock *sock)
{
	short mask = 0;

	if (sock->state == SS_LISTEN)
		return sock->accept_head ? VSOCK_POLLIN : 0;
	if (sock->state == SS_UNCONNECTED || sock->state == SS_CONNECTING)
		return sock->error ? VSOCK_POLLERR | VSOCK_POLLOUT | VSOCK_POLLIN : 0;
	if (sock->error)
		mask |= VSOCK_POLLERR | VSOCK_POLLIN | VSOCK_POLLOUT;
	if (sock_readable(sock) || (sock->shut_peer & VSOCK_SHUTDOWN_SEND) ||
	    (sock->shut_local & VSOCK_SHUTDOWN_RCV))
		mask |= VSOCK_POLLIN;
	if (sock->state != SS_CONNECTED || sock->shut_peer == VSOCK_SHUTDOWN_BOTH)
		mask |= VSOCK_POLLHUP | VSOCK_POLLIN | VSOCK_POLLOUT;
	if (send_blocked_reason(sock) < 0 ||
	    (sock_tx_credit(sock) > 0 && !sock->core->tx_full && !sock->tx_msg &&
	     sock_tx_credit(sock) >= sock->tx_msg_want))
		mask |= VSOCK_POLLOUT;
	return mask;
}

/* Before the first sleep: hook `me` onto every polled socket. */
static void poll_hook(struct vsock_core *core, struct vsock_poller *me, struct vsock_pollfd *fds,
                      size_t n)
{
	me->next = core->pollers;
	core->pollers = me;
	for (size_t i = 0; i < n; i++) {
		struct vsock_sock *sock = fds[i].sock;

		if (!sock)
			continue;
		fds[i].hook = (struct vsock_poll_hook){ sock->poll_hooks, me };
		sock->poll_hooks = &fds[i].hook;
	}
}

static void poll_unhook(struct vsock_core *core, struct vsock_poller *me, struct vsock_pollfd *fds,
                        size_t n)
{
	struct vsock_poller **pp;

	for (pp = &core->pollers; *pp != me; pp = &(*pp)->next)
		;
	*pp = me->next;
	for (size_t i = 0; i < n; i++) {
		struct vsock_poll_hook **hp;

		if (!fds[i].sock)
			continue;
		for (hp = &fds[i].sock->poll_hooks; *hp != &fds[i].hook; hp = &(*hp)->next)
			;
		*hp = fds[i].hook.next;
	}
}

static int poll_common(struct vsock_pollfd *fds, size_t n, uint64_t deadline_ns,
                       struct vsock_wakeup *wakeup)
{
	struct vsock_core *core = wakeup ? wakeup->core : NULL;
	struct vsock_poller me = { 0 };
	bool hooked = false;
	int ready = 0;

	for (size_t i = 0; i < n; i++) {
		fds[i].revents = 0;
		if (fds[i].sock && !core)
			core = fds[i].sock->core;
	}
	if (!core)
		return 0;
	platform_lock();
	for (;;) {
		ready = 0;
		for (size_t i = 0; i < n; i++) {
			if (!fds[i].sock)
				continue;
			fds[i].revents = poll_mask(fds[i].sock) &
			                 (fds[i].events | VSOCK_POLLERR | VSOCK_POLLHUP);
			if (fds[i].revents)
				ready++;
		}
		if (wakeup && wakeup->posted) {
			wakeup->posted = false;
			ready++;
		}
		if (ready || platform_now_ns() >= deadline_ns)
			break;
		if (!hooked) {
			poll_hook(core, &me, fds, n);
			if (wakeup)
				wakeup->sleeper = &me;
			hooked = true;
		}
		if (platform_wait(&me.wq, deadline_ns) == -EINTR) {
			ready = -EINTR;
			break;
		}
	}
	if (hooked) {
		poll_unhook(core, &me, fds, n);
		if (wakeup)
			wakeup->sleeper = NULL;
	}
	platform_unlock();
	return ready;
}

int vsock_poll(struct vsock_pollfd *fds, size_t n, uint64_t deadline_ns)
{
	return poll_common(fds, n, deadline_ns, NULL);
}

int vsock_poll_wakeup(struct vsock_pollfd *fds, size_t n, uint64_t deadline_ns,
                      struct vsock_wakeup *wakeup)
{
	return poll_common(fds, n, deadline_ns, wakeup);
}

void vsock_wakeup_init(struct vsock_wakeup *wakeup, struct vsock_core *core)
{
	wakeup->core = core;
	wakeup->posted = false;
	wakeup->sleeper = NULL;
}

void vsock_wakeup_post_locked(struct vsock_wakeup *wakeup)
{
	if (wakeup->posted)
		return;
	wakeup->posted = true;
	if (wakeup->sleeper)
		platform_wake(&wakeup->sleeper->wq);
}

void vsock_wakeup_post(struct vsock_wakeup *wakeup)
{
	platform_lock();
	vsock_wakeup_post_locked(wakeup);
	platform_unlock();
}

int vsock_setopt(struct vsock_sock *sock, enum vsock_opt opt, uint64_t value)
{
	int err = 0;

	if (!sock)
		return -EINVAL;
	platform_lock();
	switch (opt) {
	case VSOCK_OPT_NONBLOCK:
		sock->nonblock = value != 0;
		break;
	case VSOCK_OPT_CONNECT_TIMEOUT_NS:
		sock->connect_timeout_ns = value;
		break;
	case VSOCK_OPT_RCVTIMEO_NS:
		sock->rcvtimeo_ns = value;
		break;
	case VSOCK_OPT_SNDTIMEO_NS:
		sock->sndtimeo_ns = value;
		break;
	case VSOCK_OPT_BUF_ALLOC:
		if (value == 0 || value > MAX_BUF_ALLOC ||
		    (sock->state != SS_UNCONNECTED && sock->state != SS_LISTEN))
			err = -EINVAL;
		else
			sock->buf_alloc = (uint32_t)value;
		break;
	default:
		err = -ENOPROTOOPT;
		break;
	}
	platform_unlock();
	return err;
}

int vsock_getopt(struct vsock_sock *sock, enum vsock_opt opt, uint64_t *value)
{
	int err = 0;

	if (!sock || !value)
		return -EINVAL;
	platform_lock();
	switch (opt) {
	case VSOCK_OPT_NONBLOCK:
		*value = sock->nonblock;
		break;
	case VSOCK_OPT_CONNECT_TIMEOUT_NS:
		*value = sock->connect_timeout_ns;
		break;
	case VSOCK_OPT_RCVTIMEO_NS:
		*value = sock->rcvtimeo_ns;
		break;
	case VSOCK_OPT_SNDTIMEO_NS:
		*value = sock->sndtimeo_ns;
		break;
	case VSOCK_OPT_BUF_ALLOC:
		*value = sock->buf_alloc;
		break;
	default:
		err = -ENOPROTOOPT;
		break;
	}
	platform_unlock();
	return err;
}

int vsock_connect_status(struct vsock_sock *sock)
{
	int status;

	platform_lock();
	switch (sock->state) {
	case SS_CONNECTING:
		status = -EINPROGRESS;
		break;
	case SS_CONNECTED:
	case SS_CLOSING:
		status = 0;
		break;
	case SS_LISTEN:
		status = -EINVAL;
		break;
	default: /* UNCONNECTED, DISCONNECTED */
		status = sock->error                    ? -sock->error :
		         sock->state == SS_DISCONNECTED ? 0 :
		                                          -ENOTCONN;
		break;
	}
	platform_unlock();
	return status;
}

int vsock_sock_error(struct vsock_sock *sock)
{
	int err;

	platform_lock();
	err = -sock->error;
	platform_unlock();
	return err;
}

int vsock_getsockname(struct vsock_sock *sock, struct vsock_addr *out)
{
	platform_lock();
	*out = sock->local;
	platform_unlock();
	return 0;
}

int vsock_getpeername(struct vsock_sock *sock, struct vsock_addr *out)
{
	int err = 0;

	platform_lock();
	if (sock->state == SS_CONNECTED || sock->state == SS_DISCONNECTED)
		*out = sock->peer;
	else
		err = -ENOTCONN;
	platform_unlock();
	return err;
}

size_t vsock_rx_available(struct vsock_sock *sock)
{
	size_t n;

	platform_lock();
	n = sock_rx_bytes(sock);
	platform_unlock();
	return n;
}

struct wait_queue *vsock_wait_queue(struct vsock_sock *sock)
{
	return &sock->wq;
}
