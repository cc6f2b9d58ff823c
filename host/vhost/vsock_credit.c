/*
 * vsock_credit.c -- how much a host-side connection may send its guest
 * now: the guest's credit (virtio 1.2 §5.10.6.3), the bound on the packets
 * a Linux guest holds (vsock_conn.h: GUEST_PKT_COST), and the short holds
 * that coalesce small writes or wait for the guest to consume; our own
 * credit toward the guest (the buffer of its bytes, the updates it is
 * owed).  Accounting only: it never resets or refreshes a connection, so
 * that vsock_conn.c and vsock_seq.c can both build on it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "host/vhost/list.h"
#include "host/vhost/loop.h"
#include "host/vhost/virtq.h"
#include "host/vhost/vsock_conn.h"

uint32_t conn_peer_credit(const struct vsock_conn *conn)
{
	uint32_t in_flight = conn->tx_cnt - conn->peer_fwd_cnt;
	if (in_flight >= conn->peer_buf_alloc)
		return 0;
	return conn->peer_buf_alloc - in_flight;
}

uint32_t conn_send_limit(const struct vsock_conn *conn)
{
	uint32_t credit = conn_peer_credit(conn);
	if (conn->pkt_count >= CONN_TRACK_PKTS)
		return 0;
	/* (held + 1) * cost + in flight + len <= buf_alloc, in 64 bits. */
	uint64_t used = (uint64_t)(conn->pkt_count + 1) * GUEST_PKT_COST +
	                (uint32_t)(conn->tx_cnt - conn->peer_fwd_cnt);
	if (used >= conn->peer_buf_alloc)
		return 0;
	uint64_t room = conn->peer_buf_alloc - used;
	return room < credit ? (uint32_t)room : credit;
}

void conn_sent_packet(struct vsock_conn *conn)
{
	if (conn->pkt_count == CONN_TRACK_PKTS) /* conn_send_limit forbids it */
		return;
	conn->pkt_end[(conn->pkt_head + conn->pkt_count++) % CONN_TRACK_PKTS] = conn->tx_cnt;
}

void conn_unhold(struct vsock_conn *conn)
{
	conn->held = false;
	if (list_linked(&conn->held_node))
		list_del(&conn->held_node);
}

void conn_peer_update(struct vsock_conn *conn, uint32_t buf_alloc, uint32_t fwd_cnt)
{
	bool moved = fwd_cnt != conn->peer_fwd_cnt;
	conn->peer_buf_alloc = buf_alloc;
	conn->peer_fwd_cnt = fwd_cnt;
	/* A packet is consumed once fwd_cnt reaches its end (mod 2^32; a
	 * fwd_cnt beyond tx_cnt is the guest's lie and frees nothing more). */
	while (conn->pkt_count) {
		uint32_t end = conn->pkt_end[conn->pkt_head];
		if ((int32_t)(fwd_cnt - end) < 0 || (int32_t)(conn->tx_cnt - fwd_cnt) < 0)
			break;
		conn->pkt_head = (uint16_t)((conn->pkt_head + 1) % CONN_TRACK_PKTS);
		conn->pkt_count--;
	}
	if (moved && conn->held) {
		conn_unhold(conn);
		conn->coalesce_off = false;
	}
}

bool conn_hold(struct vsock_conn *conn, uint32_t ms)
{
	uint64_t now = loop_now_ms();
	conn->held = true;
	conn->held_until_ms = now + ms;
	if (!list_linked(&conn->held_node))
		list_add_tail(&conn->table->held, &conn->held_node);
	loop_wake_at(conn->held_until_ms);
	if (conn->credit_asked_ms && conn->credit_asked_fwd == conn->peer_fwd_cnt &&
	    now - conn->credit_asked_ms < CREDIT_ASK_MS)
		return false;
	conn->credit_asked_ms = now;
	conn->credit_asked_fwd = conn->peer_fwd_cnt;
	return true;
}

void conn_maybe_credit_update(struct vsock_conn *conn)
{
	uint32_t peer_view_free = conn->buf_alloc - (conn->rx_cnt - conn->fwd_cnt_sent);
	uint32_t low = conn->buf_alloc / 2 < VSOCK_MAX_PKT_PAYLOAD ? conn->buf_alloc / 2 :
	                                                             VSOCK_MAX_PKT_PAYLOAD;
	if (conn->fwd_cnt != conn->fwd_cnt_sent && (peer_view_free < low || conn->seqpacket))
		conn->pending |= PEND_CREDIT;
}

int conn_buffer_guest_bytes(struct vsock_conn *conn, const struct iovec *iov, unsigned n,
                            size_t skip, uint32_t len)
{
	if (!conn->buf) {
		conn->buf = malloc(conn->buf_alloc);
		if (!conn->buf)
			return -ENOMEM; /* the caller resets */
	}
	uint32_t tail = (conn->buf_head + conn->buf_used) % conn->buf_alloc;
	uint32_t first = conn->buf_alloc - tail < len ? conn->buf_alloc - tail : len;
	iov_copy_from(iov, n, skip, conn->buf + tail, first);
	iov_copy_from(iov, n, skip + first, conn->buf, len - first);
	conn->buf_used += len;
	return 0;
}
