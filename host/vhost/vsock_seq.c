/*
 * vsock_seq.c -- SEQPACKET connections: vsock messages <-> AF_UNIX
 * SOCK_SEQPACKET records (see vsock_seq.h for the mapping, the handshake
 * and the limits).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* struct ucred, SO_PASSCRED */
#endif
#include "host/vhost/vsock_seq.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "host/vhost/hybrid.h"
#include "host/vhost/log.h"

void seq_socket_setup(int fd, uint32_t buf_alloc)
{
	int one = 1;
	/* Credentials come with every record, also an empty one: that tells
	 * it from the end of the stream (recv returns 0 for both). */
	setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	/* A record must fit the send buffer whole (AF_UNIX: EMSGSIZE else);
	 * the kernel doubles this and caps it at net.core.wmem_max. */
	int size = (int)(buf_alloc + 4096);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

/* A record could not be sent at all: the reason for the caller's reset. */
static int seq_broken(int err, uint32_t len, const char **why)
{
	static char text[128]; /* one reason at a time: the daemon is one thread */
	if (err == EMSGSIZE)
		snprintf(text, sizeof(text),
		         "a %u-byte message does not fit the Unix socket's "
		         "send buffer (net.core.wmem_max)",
		         len);
	else
		snprintf(text, sizeof(text), "Unix socket write failed: %s", strerror(err));
	*why = text;
	return -err;
}

int seq_from_guest(struct vsock_conn *conn, const struct iovec *iov, unsigned n, size_t skip,
                   uint32_t len, uint32_t flags, const char **why)
{
	bool eom = flags & VSOCK_SEQ_EOM;
	if (conn->hup || conn->wr_shut) { /* nobody can read it any more */
		conn->fwd_cnt += len;
		conn_maybe_credit_update(conn);
		return 0;
	}
	if (!conn->buf_used && !conn->seq_partial && eom) {
		/* A whole message and nothing before it: one record now. */
		struct iovec slice[VQ_MAX_IOV];
		struct msghdr mh = { .msg_iov = slice,
			             .msg_iovlen =
			                     iov_slice(iov, n, skip, len, slice, VQ_MAX_IOV) };
		ssize_t w = sendmsg(conn->ev.fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w >= 0) {
			conn->fwd_cnt += len;
			conn_maybe_credit_update(conn);
			return 0;
		}
		if (errno != EAGAIN && errno != EINTR)
			return seq_broken(errno, len, why);
	}
	if (eom && !conn->seq_len) {
		conn->seq_len = malloc(CONN_SEQ_MSGS * sizeof(*conn->seq_len));
		if (!conn->seq_len) {
			*why = "out of memory";
			return -ENOMEM;
		}
	}
	if (eom && conn->seq_count == CONN_SEQ_MSGS) {
		*why = "more than 1024 guest messages wait for the Unix socket";
		return -ENOBUFS;
	}
	int err = conn_buffer_guest_bytes(conn, iov, n, skip, len);
	if (err) {
		*why = "out of memory";
		return err;
	}
	conn->seq_partial += len;
	if (eom) {
		conn->seq_len[(conn->seq_head + conn->seq_count++) % CONN_SEQ_MSGS] =
		        conn->seq_partial;
		conn->seq_partial = 0;
	}
	return 0;
}

int seq_flush(struct vsock_conn *conn, const char **why)
{
	while (conn->seq_count) {
		uint32_t len = conn->seq_len[conn->seq_head];
		uint32_t first = conn->buf_alloc - conn->buf_head;
		if (first > len)
			first = len;
		struct iovec iov[2] = {
			{ conn->buf + conn->buf_head, first },
			{ conn->buf, len - first },
		};
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len - first ? 2 : 1 };
		ssize_t w = sendmsg(conn->ev.fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w < 0)
			return seq_broken(errno, len, why);
		conn->buf_head = (conn->buf_head + len) % conn->buf_alloc;
		conn->buf_used -= len;
		conn->fwd_cnt += len;
		conn->seq_head = (uint16_t)((conn->seq_head + 1) % CONN_SEQ_MSGS);
		conn->seq_count--;
	}
	if (!conn->buf_used)
		conn->buf_head = 0;
	conn_maybe_credit_update(conn);
	return 0;
}

int seq_flush_pending(const struct vsock_conn *conn)
{
	return conn->seq_count > 0;
}

void seq_guest_done(struct vsock_conn *conn)
{
	if (!(conn->peer_shutdown & VSOCK_SHUTDOWN_SEND) || conn->seq_count || !conn->seq_partial)
		return;
	/* Its last message never ended (no EOM): it cannot go as a record. */
	conn->fwd_cnt += conn->seq_partial;
	conn->buf_used -= conn->seq_partial;
	conn->seq_partial = 0;
	if (!conn->buf_used)
		conn->buf_head = 0;
}

static bool has_credentials(struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
			return true;
	return false;
}

/* The next host record into out_msg: 1, 0 at the end of the stream,
 * -EAGAIN for none, -E2BIG for one the guest cannot take (logged), other
 * negative errno when the socket failed. */
static int seq_read_record(struct vsock_conn *conn)
{
	uint32_t limit = conn->peer_buf_alloc < SEQ_MAX_RECORD ? conn->peer_buf_alloc :
	                                                         SEQ_MAX_RECORD;
	ssize_t len;
	do
		len = recv(conn->ev.fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
	while (len < 0 && errno == EINTR);
	if (len < 0)
		return -errno;
	if ((size_t)len > limit) {
		log_peer(conn->table->log, LOG_CONN,
		         "host 2:%u -> guest %llu:%u: a %zd-byte record is larger than the "
		         "guest takes (%u bytes)",
		         conn->local_port, (unsigned long long)conn->table->cid, conn->peer_port,
		         len, limit);
		return -E2BIG;
	}
	uint8_t *msg = len ? malloc((size_t)len) : NULL;
	if (len && !msg)
		return -ENOMEM;
	char control[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = { msg, (size_t)len };
	struct msghdr mh = { .msg_iov = &iov,
		             .msg_iovlen = 1,
		             .msg_control = control,
		             .msg_controllen = sizeof(control) };
	ssize_t r;
	do
		r = recvmsg(conn->ev.fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r <= 0) {
		int err = r < 0 ? -errno : 0;
		free(msg);
		if (r == 0 && has_credentials(&mh))
			return 1; /* an empty record (out_msg stays NULL) */
		return err;       /* 0: the end of the stream */
	}
	conn->out_msg = msg;
	conn->out_len = (uint32_t)r;
	conn->out_off = 0;
	conn->out_pending = true;
	return 1;
}

int seq_fill(struct vsock_conn *conn, struct vq_chain *chain, uint32_t room, uint32_t limit,
             uint32_t *len, uint32_t *flags)
{
	if (!conn->out_pending) {
		int r = seq_read_record(conn);
		if (r == 0)
			return -ENODATA;
		if (r < 0)
			return r;
		conn->out_pending = true; /* also an empty one */
	}
	uint32_t left = conn->out_len - conn->out_off;
	uint32_t n = left < room ? left : room;
	if (n > limit)
		n = limit;
	if (n > VSOCK_MAX_PKT_PAYLOAD)
		n = VSOCK_MAX_PKT_PAYLOAD;
	if (left && !n)
		return room ? -ENOSPC : -EMSGSIZE;
	iov_copy_to(chain->iov + chain->n_out, chain->n_in, VSOCK_HDR_SIZE,
	            conn->out_msg + conn->out_off, n);
	conn->out_off += n;
	*len = n;
	*flags = 0;
	if (conn->out_off == conn->out_len) {
		/* A record is a whole record: EOM and EOR. */
		*flags = VSOCK_SEQ_EOM | VSOCK_SEQ_EOR;
		free(conn->out_msg);
		conn->out_msg = NULL;
		conn->out_len = conn->out_off = 0;
		conn->out_pending = false;
	}
	return 0;
}

int seq_read_connect(struct vsock_conn *conn, uint32_t *port)
{
	ssize_t r;
	do
		r = recv(conn->ev.fd, conn->line, CONN_LINE_MAX - 1, MSG_TRUNC | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno == EAGAIN)
		return 0;
	if (r <= 0)
		return -ECONNRESET;
	if (r > CONN_LINE_MAX - 1) {
		conn->line_len = CONN_LINE_MAX - 1;
		return -EPROTO; /* no CONNECT line is that long */
	}
	conn->line_len = (uint32_t)r;
	if (conn->line[conn->line_len - 1] != '\n')
		conn->line[conn->line_len++] = '\n';
	size_t used;
	if (hybrid_parse_connect(conn->line, conn->line_len, port, &used) != 1 ||
	    used != conn->line_len)
		return -EPROTO; /* one CONNECT line, nothing else, in the record */
	conn->lead_off = conn->line_len;
	return 1;
}

void seq_free(struct vsock_conn *conn)
{
	free(conn->seq_len);
	free(conn->out_msg);
	conn->seq_len = NULL;
	conn->out_msg = NULL;
}
