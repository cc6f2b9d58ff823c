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
 * Linux resets a peer whose packets overrun its queue.  Sending is the
 * core's transmit path (core.c, sock_send_message): a message goes only
 * when the credit covers all of it; what the transport cannot take at once
 * waits in tx_msg and goes before anything else of the core, so packets of
 * two messages never mix.  This file sits above core.c and calls down only.
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
	return type == VSOCK_TYPE_STREAM && (!(features & (1ull << VSOCK_F_NO_IMPLIED_STREAM)) ||
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
		log_printf("vsock: out of memory buffering %u bytes, resetting %llu:%u\n", h->len,
		           (unsigned long long)sock->peer.cid, sock->peer.port);
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

int seq_take(struct vsock_sock *sock, uint8_t *buf, size_t len, uint32_t *msg_len, bool *eor)
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
