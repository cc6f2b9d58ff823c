/*
 * seqpacket.c -- SEQPACKET connections of the vsock core (virtio 1.2
 * §5.10.6.4 "Seqpacket Sockets"; Linux virtio_transport_common.c's
 * seqpacket_enqueue/do_dequeue as the reference behaviour).
 *
 * A message travels as RW packets of the connection; VIRTIO_VSOCK_SEQ_EOM
 * marks its last packet (a zero-length packet with EOM is a whole, empty
 * message) and VIRTIO_VSOCK_SEQ_EOR, set on that packet when the sender
 * asked for it, ends a record.  Credit works as for STREAM.  Receiving,
 * the bytes go into the connection's ordinary buffer and the boundaries
 * into a ring of at most VSOCK_SEQ_MAX_MSGS messages: a peer sending empty
 * messages (which cost no credit) faster than they are read is reset, as
 * Linux resets a peer whose packets overrun its queue.  Sending, a message
 * goes only when the credit covers all of it; what the transport cannot
 * take at once waits in tx_msg and goes before anything else of the core
 * (core_tx_flush), so packets of two messages never mix.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "include/log.h"
#include "vsock/internal.h"

bool core_type_supported(const struct vsock_core *core, uint16_t type)
{
	uint64_t features = core->ops->features;

	if (type == VSOCK_TYPE_SEQPACKET)
		return features & (1ull << VSOCK_F_SEQPACKET);
	/* STREAM is implied unless F_NO_IMPLIED_STREAM says it must be
	 * negotiated as F_STREAM (virtio 1.2 §5.10.3). */
	return type == VSOCK_TYPE_STREAM &&
	       (!(features & (1ull << VSOCK_F_NO_IMPLIED_STREAM)) ||
		(features & (1ull << VSOCK_F_STREAM)));
}

bool sock_readable(const struct vsock_sock *sock)
{
	if (sock->type == VSOCK_TYPE_SEQPACKET)
		return sock->msg_count > 0;
	return sock_rx_bytes(sock) > 0;
}

bool seq_rx(struct vsock_sock *sock, const struct vsock_hdr_fields *h, const void *payload)
{
	if (h->len && sock_rx_append(sock, payload, h->len) < 0) {
		log_printf("vsock: out of memory buffering %u bytes, resetting %llu:%u\n",
			   h->len, (unsigned long long)sock->peer.cid, sock->peer.port);
		sock_reset(sock, ENOMEM, true);
		return false;
	}
	sock->msg_partial += h->len;
	if (!(h->flags & VSOCK_SEQ_EOM))
		return true;
	if (!sock->msgs) {
		sock->msgs = malloc(VSOCK_SEQ_MAX_MSGS * sizeof(*sock->msgs));
		if (!sock->msgs) {
			sock_reset(sock, ENOMEM, true);
			return false;
		}
	}
	if (sock->msg_count == VSOCK_SEQ_MAX_MSGS) {
		log_printf("vsock: %llu:%u queued more than %u unread messages, resetting\n",
			   (unsigned long long)sock->peer.cid, sock->peer.port, VSOCK_SEQ_MAX_MSGS);
		sock_reset(sock, ENOBUFS, true);
		return false;
	}
	sock->msgs[(sock->msg_head + sock->msg_count++) % VSOCK_SEQ_MAX_MSGS] =
		(struct seq_msg){ sock->msg_partial, (h->flags & VSOCK_SEQ_EOR) != 0 };
	sock->msg_partial = 0;
	sock_notify(sock);
	return true;
}

int seq_take(struct vsock_sock *sock, uint8_t *buf, size_t len, uint32_t *msg_len,
	     bool *eor)
{
	struct seq_msg msg;
	size_t n;

	if (!sock->msg_count)
		return -EAGAIN;
	msg = sock->msgs[sock->msg_head];
	sock->msg_head = (sock->msg_head + 1) % VSOCK_SEQ_MAX_MSGS;
	sock->msg_count--;
	n = len < msg.len ? len : msg.len;
	sock_rx_take(sock, buf, n);
	sock_rx_take(sock, NULL, msg.len - n); /* the cut-off rest */
	*msg_len = msg.len;
	*eor = msg.eor;
	return 0;
}

void seq_forget(struct vsock_sock *sock)
{
	free(sock->msgs);
	sock->msgs = NULL;
	sock->msg_head = sock->msg_count = sock->msg_partial = 0;
}

static void tx_msg_drop(struct vsock_sock *sock)
{
	if (!sock->tx_msg)
		return;
	free(sock->tx_msg);
	sock->tx_msg = NULL;
	sock->tx_msg_len = sock->tx_msg_off = 0;
	sock->core->tx_msgs_pending--;
}

void seq_drop_tx(struct vsock_sock *sock)
{
	tx_msg_drop(sock);
}

/* Packets of buf[*off..len) while the transport takes them (*off moves
 * on): 0 when the last one (EOM) went, -EAGAIN when the transport is full,
 * other negative errno when it failed. */
static int send_packets(struct vsock_sock *sock, const uint8_t *buf, size_t *off, size_t len,
			bool eor)
{
	size_t max = sock->core->ops->max_payload;

	do {
		size_t chunk = len - *off < max ? len - *off : max;
		uint32_t flags = *off + chunk == len ?
					 VSOCK_SEQ_EOM | (eor ? VSOCK_SEQ_EOR : 0u) : 0u;
		int err = sock_send_rw(sock, buf + *off, chunk, flags);

		if (err < 0)
			return err;
		*off += chunk;
	} while (*off < len);
	return 0;
}

int seq_send(struct vsock_sock *sock, const uint8_t *buf, size_t len, bool eor)
{
	size_t off = 0;
	int err = send_packets(sock, buf, &off, len, eor);

	if (err == 0)
		return (int)len;
	if (off == 0)
		return err; /* nothing of the message went */
	if (err != -EAGAIN) {
		sock_reset(sock, -err, true); /* the message is cut */
		return err;
	}
	/* The transport is full in the middle of the message: keep the rest. */
	sock->tx_msg = malloc(len - off);
	if (!sock->tx_msg) {
		log_printf("vsock: out of memory holding a message for %llu:%u, resetting\n",
			   (unsigned long long)sock->peer.cid, sock->peer.port);
		sock_reset(sock, ENOMEM, true);
		return -ENOMEM;
	}
	memcpy(sock->tx_msg, buf + off, len - off);
	sock->tx_msg_len = (uint32_t)(len - off);
	sock->tx_msg_off = 0;
	sock->tx_msg_eor = eor;
	sock->core->tx_msgs_pending++;
	return (int)len;
}

bool seq_tx_flush(struct vsock_core *core)
{
	struct vsock_sock *sock, *following;

	if (!core->tx_msgs_pending)
		return true;
	for (sock = core->socks; sock && !core->tx_full; sock = following) {
		size_t off;
		int err;

		following = sock->next;
		if (!sock->tx_msg)
			continue;
		off = sock->tx_msg_off;
		err = send_packets(sock, sock->tx_msg, &off, sock->tx_msg_len, sock->tx_msg_eor);
		sock->tx_msg_off = (uint32_t)off;
		if (err < 0 && err != -EAGAIN) {
			tx_msg_drop(sock);
			sock_reset(sock, -err, true); /* the message is cut */
			continue;
		}
		if (err == 0) {
			tx_msg_drop(sock);
			sock_notify(sock); /* a blocked sender may go on */
		}
	}
	return core->tx_msgs_pending == 0;
}
