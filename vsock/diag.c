/*
 * diag.c -- echo, discard and source services (see diag.h): one poll loop
 * per service serving all of its connections with non-blocking calls.
 * Portable: only the socket API, the platform lock and malloc.
 */
#include "vsock/diag.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "include/log.h"
#include "vsock/internal.h"

#define DIAG_BUF 16384 /* a multiple of the source pattern's period, 256 */
_Static_assert(DIAG_BUF % 256 == 0, "source buffer holds whole pattern periods");
/* Rounds of recv/send per connection per step, so one cannot starve others. */
#define DIAG_ROUNDS       16
/* Connections accepted per step. */
#define DIAG_ACCEPTS      32
/* Connections the core completes before the task accepts them: a client
 * opening a hundred at once must not meet a full backlog while the task
 * waits its turn (tests/qemu test_100_concurrent_connections on TCG). */
#define DIAG_BACKLOG      256
/* How long vsock_diag_run sleeps at most before checking for stop. */
#define DIAG_RUN_SLICE_NS 100000000ull

struct diag_conn {
	struct vsock_sock *sock; /* the connection */
	uint8_t *msg;            /* seq echo: the message (VSOCK_DIAG_SEQ_MAX) */
	size_t msg_len;          /* seq echo: its length */
	int msg_flags;           /* seq echo: VSOCK_MSG_EOR to send it with */
	bool msg_owed;           /* seq echo: it waits to go back */
	uint64_t offset;         /* source: bytes sent so far (pattern index) */
	int phase;               /* source: offset % 256 buf was filled for (-1: none) */
	size_t pending;          /* echo: bytes in buf still to send back */
	size_t pending_off;      /* echo: first of them */
	uint8_t buf[DIAG_BUF];   /* echo: data; source: pattern scratch */
};

struct vsock_diag {
	struct vsock_core *core;     /* where it serves */
	enum vsock_diag_kind kind;   /* what it does */
	struct vsock_sock *listener; /* its listening socket */
	struct diag_conn **conns;    /* connections being served */
	size_t nconns;               /* how many */
	size_t cap;                  /* room in conns and fds */
	struct vsock_pollfd *fds;    /* poll set: listener then conns */
	bool stop;                   /* request_stop() was called (lock) */
	struct vsock_diag_stats stats;
};

int vsock_diag_start(struct vsock_diag **out, struct vsock_core *core, enum vsock_diag_kind kind,
                     uint32_t port)
{
	static const uint32_t default_ports[] = {
		[VSOCK_DIAG_ECHO] = VSOCK_DIAG_ECHO_PORT,
		[VSOCK_DIAG_DISCARD] = VSOCK_DIAG_DISCARD_PORT,
		[VSOCK_DIAG_SOURCE] = VSOCK_DIAG_SOURCE_PORT,
		[VSOCK_DIAG_SEQ_ECHO] = VSOCK_DIAG_SEQ_ECHO_PORT,
	};
	int type = kind == VSOCK_DIAG_SEQ_ECHO ? VSOCK_TYPE_SEQPACKET : VSOCK_TYPE_STREAM;
	struct vsock_addr addr = { VSOCK_CID_ANY, port };
	struct vsock_diag *diag;
	int err;

	if ((unsigned)kind > VSOCK_DIAG_SEQ_ECHO)
		return -EINVAL;
	if (port == 0)
		addr.port = default_ports[kind];
	diag = calloc(1, sizeof(*diag));
	if (!diag)
		return -ENOMEM;
	diag->core = core;
	diag->kind = kind;
	err = vsock_socket(core, type, &diag->listener);
	if (err < 0)
		goto err_free;
	err = vsock_bind(diag->listener, &addr);
	if (err == 0)
		err = vsock_listen(diag->listener, DIAG_BACKLOG);
	if (err == 0)
		err = vsock_setopt(diag->listener, VSOCK_OPT_NONBLOCK, 1);
	if (err < 0)
		goto err_close;
	*out = diag;
	return 0;

err_close:
	vsock_close(diag->listener);
err_free:
	free(diag);
	log_printf("vsock diag: cannot serve port %u: %d\n", addr.port, err);
	return err;
}

static void conn_remove(struct vsock_diag *diag, size_t i)
{
	vsock_close(diag->conns[i]->sock);
	free(diag->conns[i]->msg);
	free(diag->conns[i]);
	diag->conns[i] = diag->conns[--diag->nconns];
	diag->stats.active--;
}

static int conn_add(struct vsock_diag *diag, struct vsock_sock *sock)
{
	struct diag_conn *conn;

	if (diag->nconns == diag->cap) {
		size_t cap = diag->cap ? diag->cap * 2 : 8;
		struct diag_conn **conns = realloc(diag->conns, cap * sizeof(*conns));
		struct vsock_pollfd *fds;

		if (!conns)
			return -ENOMEM;
		diag->conns = conns;
		fds = realloc(diag->fds, (cap + 1) * sizeof(*fds));
		if (!fds)
			return -ENOMEM;
		diag->fds = fds;
		diag->cap = cap;
	}
	conn = calloc(1, sizeof(*conn));
	if (!conn)
		return -ENOMEM;
	conn->sock = sock;
	conn->phase = -1;
	diag->conns[diag->nconns++] = conn;
	diag->stats.active++;
	diag->stats.accepted++;
	return 0;
}

static void accept_new(struct vsock_diag *diag)
{
	for (int i = 0; i < DIAG_ACCEPTS; i++) {
		struct vsock_sock *sock;

		if (vsock_accept(diag->listener, &sock, NULL, VSOCK_DONTWAIT) < 0)
			return;
		if (vsock_setopt(sock, VSOCK_OPT_NONBLOCK, 1) < 0 || conn_add(diag, sock) < 0) {
			log_printf("vsock diag: dropping a connection: out of memory\n");
			vsock_close(sock);
		}
	}
}

/* Serve one connection; false when it is over. */
static bool serve_echo(struct vsock_diag *diag, struct diag_conn *conn)
{
	for (int round = 0; round < DIAG_ROUNDS; round++) {
		ssize_t n;

		if (conn->pending) {
			n = vsock_send(conn->sock, conn->buf + conn->pending_off, conn->pending, 0);
			if (n == -EAGAIN)
				return true;
			if (n < 0)
				return false;
			conn->pending -= (size_t)n;
			conn->pending_off += (size_t)n;
			diag->stats.bytes_out += (uint64_t)n;
			continue;
		}
		n = vsock_recv(conn->sock, conn->buf, sizeof(conn->buf), 0);
		if (n == -EAGAIN)
			return true;
		if (n <= 0)
			return false; /* EOF (all echoed) or error */
		conn->pending = (size_t)n;
		conn->pending_off = 0;
		diag->stats.bytes_in += (uint64_t)n;
	}
	return true;
}

/* SEQPACKET echo: one message in, the same message out (EOR kept). */
static bool serve_seq_echo(struct vsock_diag *diag, struct diag_conn *conn)
{
	if (!conn->msg) {
		conn->msg = malloc(VSOCK_DIAG_SEQ_MAX);
		if (!conn->msg)
			return false;
	}
	for (int round = 0; round < DIAG_ROUNDS; round++) {
		ssize_t n;
		int flags;

		if (conn->msg_owed) { /* it may wait for credit (POLLOUT) */
			n = vsock_send(conn->sock, conn->msg, conn->msg_len,
			               conn->msg_flags & VSOCK_MSG_EOR);
			if (n == -EAGAIN)
				return true;
			if (n < 0)
				return false;
			diag->stats.bytes_out += (uint64_t)n;
			conn->msg_owed = false;
			continue;
		}
		n = vsock_recvmsg(conn->sock, conn->msg, VSOCK_DIAG_SEQ_MAX, 0, &flags);
		if (n == -EAGAIN)
			return true;
		if (n < 0 || !(flags & VSOCK_MSG_EOM))
			return false; /* error or end of stream */
		if (flags & VSOCK_MSG_TRUNC)
			log_printf("vsock diag: a message longer than %u bytes comes back cut\n",
			           VSOCK_DIAG_SEQ_MAX);
		diag->stats.bytes_in += (uint64_t)n;
		conn->msg_len = (size_t)n;
		conn->msg_flags = flags;
		conn->msg_owed = true;
	}
	return true;
}

static bool serve_discard(struct vsock_diag *diag, struct diag_conn *conn)
{
	for (int round = 0; round < DIAG_ROUNDS; round++) {
		ssize_t n = vsock_recv(conn->sock, conn->buf, sizeof(conn->buf), 0);

		if (n == -EAGAIN)
			return true;
		if (n <= 0)
			return false;
		diag->stats.bytes_in += (uint64_t)n;
	}
	return true;
}

static bool serve_source(struct vsock_diag *diag, struct diag_conn *conn)
{
	/* Whatever the client sends is read and dropped. */
	if (!serve_discard(diag, conn))
		return false;
	for (int round = 0; round < DIAG_ROUNDS; round++) {
		ssize_t n;

		/* The pattern repeats every 256 bytes and buf is a multiple
		 * of that: refill only when the phase changes (partial send). */
		if (conn->phase != (int)(conn->offset & 0xff)) {
			for (size_t i = 0; i < sizeof(conn->buf); i++)
				conn->buf[i] = vsock_diag_source_byte(conn->offset + i);
			conn->phase = (int)(conn->offset & 0xff);
		}
		n = vsock_send(conn->sock, conn->buf, sizeof(conn->buf), 0);
		if (n == -EAGAIN)
			return true;
		if (n < 0)
			return false; /* closed by the peer */
		conn->offset += (uint64_t)n;
		diag->stats.bytes_out += (uint64_t)n;
	}
	return true;
}

static short conn_events(const struct vsock_diag *diag, const struct diag_conn *conn)
{
	switch (diag->kind) {
	case VSOCK_DIAG_ECHO:
		return conn->pending ? VSOCK_POLLOUT : VSOCK_POLLIN;
	case VSOCK_DIAG_SEQ_ECHO:
		return conn->msg_owed ? VSOCK_POLLOUT : VSOCK_POLLIN;
	case VSOCK_DIAG_SOURCE:
		return VSOCK_POLLIN | VSOCK_POLLOUT;
	default:
		return VSOCK_POLLIN;
	}
}

int vsock_diag_step(struct vsock_diag *diag, uint64_t deadline_ns)
{
	size_t count = diag->nconns;
	int ready;

	if (!diag->fds) {
		diag->fds = malloc(sizeof(*diag->fds));
		if (!diag->fds)
			return -ENOMEM;
	}
	diag->fds[0] = (struct vsock_pollfd){ .sock = diag->listener, .events = VSOCK_POLLIN };
	for (size_t i = 0; i < count; i++)
		diag->fds[i + 1] =
		        (struct vsock_pollfd){ .sock = diag->conns[i]->sock,
			                       .events = conn_events(diag, diag->conns[i]) };
	ready = vsock_poll(diag->fds, count + 1, deadline_ns);
	if (ready <= 0)
		return ready;
	/* Serve from the end so removing (swap with last) keeps indexes valid. */
	for (size_t i = count; i-- > 0;) {
		struct diag_conn *conn = diag->conns[i];
		bool alive;

		if (!diag->fds[i + 1].revents)
			continue;
		if (diag->kind == VSOCK_DIAG_ECHO)
			alive = serve_echo(diag, conn);
		else if (diag->kind == VSOCK_DIAG_SEQ_ECHO)
			alive = serve_seq_echo(diag, conn);
		else if (diag->kind == VSOCK_DIAG_DISCARD)
			alive = serve_discard(diag, conn);
		else
			alive = serve_source(diag, conn);
		if (!alive)
			conn_remove(diag, i);
	}
	if (diag->fds[0].revents)
		accept_new(diag);
	return ready;
}

void vsock_diag_run(struct vsock_diag *diag)
{
	for (;;) {
		bool stop;

		platform_lock();
		stop = diag->stop;
		platform_unlock();
		if (stop)
			return;
		if (vsock_diag_step(diag, platform_now_ns() + DIAG_RUN_SLICE_NS) == -EINTR)
			return; /* the task is being killed */
	}
}

void vsock_diag_request_stop(struct vsock_diag *diag)
{
	platform_lock();
	diag->stop = true;
	core_wake_pollers(diag->core);
	platform_unlock();
}

void vsock_diag_destroy(struct vsock_diag *diag)
{
	if (!diag)
		return;
	while (diag->nconns)
		conn_remove(diag, diag->nconns - 1);
	vsock_close(diag->listener);
	free(diag->conns);
	free(diag->fds);
	free(diag);
}

void vsock_diag_stats(struct vsock_diag *diag, struct vsock_diag_stats *out)
{
	platform_lock();
	*out = diag->stats;
	platform_unlock();
}
