/*
 * vsock_queue.c -- packets on the rings: the guest's tx ring is parsed and
 * dispatched to connections; the rx ring is filled with control packets,
 * Unix-socket data read straight into guest buffers, RSTs for unknown
 * tuples and packets from sibling VMs (virtio 1.2 §5.10.6; DESIGN §4, §6;
 * Linux net/vmw_vsock/virtio_transport_common.c as the peer's behaviour).
 *
 * Every header field from the guest is range-checked; a bad packet is
 * dropped (or answered with RST), a bad ring is marked broken by virtq.c.
 */
#include "host/vhost/vsock_queue.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "host/vhost/log.h"
#include "host/vhost/loop.h"
#include "host/vhost/pcap.h"
#include "host/vhost/vhost_user.h"
#include "host/vhost/virtq.h"
#include "host/vhost/vsock_seq.h"

/* A packet from one VM's tx ring for a sibling VM's rx ring. */
struct sibling_pkt {
	struct list_node node; /* in the destination's sibling_in */
	struct vsock_hdr hdr;  /* header as sent (len = bytes left) */
	uint32_t off;          /* payload bytes already delivered */
	uint8_t data[];        /* payload */
};

/* Queues an RST answering the guest packet in (never for an RST). */
static void queue_rst(struct vsock_queue *q, const struct vsock_hdr *in)
{
	if (in->op == VSOCK_OP_RST)
		return;
	if (q->rst_count == RST_QUEUE_MAX) {
		log_peer(q->conns.log, LOG_PACKET, "RST queue full, dropping one");
		return;
	}
	struct vsock_hdr *h = &q->rst[(q->rst_head + q->rst_count++) % RST_QUEUE_MAX];
	memset(h, 0, sizeof(*h));
	h->src_cid = in->dst_cid;
	h->dst_cid = in->src_cid;
	h->src_port = in->dst_port;
	h->dst_port = in->src_port;
	h->type = in->type;
	h->op = VSOCK_OP_RST;
	q->rx_dirty = true;
}

static struct vsock_queue *queue_of_table(struct conn_table *table)
{
	return (struct vsock_queue *)((char *)table - offsetof(struct vsock_queue, conns));
}

static void conn_send_rst(struct conn_table *table, const struct vsock_hdr *hdr)
{
	queue_rst(queue_of_table(table), hdr);
}

static void conn_rx_ready(struct conn_table *table)
{
	queue_of_table(table)->rx_dirty = true;
}

static const struct conn_table_ops queue_conn_ops = { .send_rst = conn_send_rst,
	                                              .rx_ready = conn_rx_ready };

void queue_init(struct vsock_queue *q, struct vu_dev *dev, uint64_t cid, const char *uds_path,
                uint32_t buf_alloc, unsigned max_conns, const struct vsock_queue_ops *ops)
{
	memset(q, 0, sizeof(*q));
	q->dev = dev;
	q->cid = cid;
	conn_table_init(&q->conns, cid, uds_path, buf_alloc, max_conns, &queue_conn_ops);
	q->conns.log = &dev->log;
	q->conns.features = &dev->features;
	list_init(&q->sibling_in);
	q->ops = ops;
}

/* ---- guest → host --------------------------------------------------------- */

/* A sibling packet being filled from guest memory: if a fault interrupts
 * the copy (guest_fault.h), the sender's queue_drop frees it. */
static struct sibling_pkt *copying;

static uint32_t sibling_charge(const struct vsock_hdr *hdr)
{
	return SIBLING_PKT_CHARGE + hdr->len;
}

/* Queues a packet for a sibling VM; -EAGAIN when its queue is full (the
 * packet stays in the sender's ring). */
static int route_sibling(struct vsock_queue *q, struct vsock_queue *dst,
                         const struct vsock_hdr *hdr, const struct vq_chain *chain)
{
	_Static_assert(sizeof(struct sibling_pkt) <= SIBLING_PKT_CHARGE, "charge too small");
	if (!list_empty(&dst->sibling_in) &&
	    (dst->sibling_bytes + sibling_charge(hdr) > SIBLING_QUEUE_BYTES ||
	     dst->sibling_count >= SIBLING_QUEUE_PKTS))
		return -EAGAIN;
	struct sibling_pkt *pkt = malloc(sizeof(*pkt) + hdr->len);
	if (!pkt)
		return -EAGAIN; /* try again later, as when full */
	pkt->hdr = *hdr;
	pkt->off = 0;
	copying = pkt;
	iov_copy_from(chain->iov, chain->n_out, VSOCK_HDR_SIZE, pkt->data, hdr->len);
	copying = NULL;
	list_add_tail(&dst->sibling_in, &pkt->node);
	dst->sibling_bytes += sibling_charge(hdr);
	dst->sibling_count++;
	dst->rx_dirty = true;
	return 0;
}

static void drop_sibling_queue(struct vsock_queue *q)
{
	struct list_node *pos, *tmp;
	list_for_each_safe (pos, tmp, &q->sibling_in) {
		list_del(pos);
		free(list_entry(pos, struct sibling_pkt, node));
	}
	q->sibling_bytes = 0;
	q->sibling_count = 0;
}

void queue_drop(struct vsock_queue *q)
{
	free(copying); /* only set when a fault cut a copy short */
	copying = NULL;
	conn_table_drop(&q->conns);
	q->rst_count = 0;
	q->rst_head = 0;
	drop_sibling_queue(q);
}

static void conn_packet(struct vsock_conn *conn, const struct vsock_hdr *hdr,
                        const struct vq_chain *chain)
{
	conn_peer_update(conn, hdr->buf_alloc, hdr->fwd_cnt);
	switch (hdr->op) {
	case VSOCK_OP_RESPONSE:
		if (conn->state != CONN_CONNECTING) {
			conn_reset(conn, "unexpected RESPONSE");
			return;
		}
		conn_established(conn);
		break;
	case VSOCK_OP_RW:
		if (conn->state != CONN_ESTABLISHED) {
			conn_reset(conn, "data before the handshake");
			return;
		}
		if (conn_from_guest_data(conn, chain->iov, chain->n_out, VSOCK_HDR_SIZE, hdr->len,
		                         hdr->flags) < 0)
			return;
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		conn->pending |= PEND_CREDIT;
		break;
	case VSOCK_OP_SHUTDOWN:
		conn->peer_shutdown |= hdr->flags & (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
		break;
	case VSOCK_OP_RST:
		if (conn->state == CONN_CONNECTING)
			conn_refused_by_guest(conn); /* our REQUEST: nobody listens */
		else
			conn_destroy(conn);
		return;
	default: /* REQUEST on a live tuple, or an unknown op */
		conn_reset(conn, "unexpected operation");
		return;
	}
	conn_check_shutdown(conn);
	conn_refresh(conn);
}

/* One packet from the tx ring; -EAGAIN leaves it there (sibling full). */
static int guest_packet(struct vsock_queue *q, const struct vq_chain *chain)
{
	struct vsock_hdr hdr;
	if (chain->out_bytes < VSOCK_HDR_SIZE) {
		log_peer(q->conns.log, LOG_PACKET, "tx packet shorter than a header, dropped");
		return 0;
	}
	iov_copy_from(chain->iov, chain->n_out, 0, &hdr, sizeof(hdr));
	if (hdr.len > chain->out_bytes - VSOCK_HDR_SIZE || hdr.len > VSOCK_MAX_PKT_PAYLOAD) {
		log_peer(q->conns.log, LOG_PACKET, "tx packet len %u beyond its buffer, dropped",
		         hdr.len);
		return 0;
	}
	if (hdr.src_cid != q->cid) {
		log_peer(q->conns.log, LOG_PACKET, "tx packet from cid %llu, dropped",
		         (unsigned long long)hdr.src_cid);
		return 0;
	}
	if (hdr.dst_cid != VSOCK_CID_HOST) {
		struct vsock_queue *dst = q->ops->find_sibling(q, hdr.dst_cid);
		/* A paused sibling is still there: its packets wait (bounded). */
		if (!dst || !vu_dev_attached(dst->dev) || dst->dev->vring[VU_RX].vq.broken) {
			queue_rst(q, &hdr);
			return 0;
		}
		int err = route_sibling(q, dst, &hdr, chain);
		if (err == -EAGAIN)
			return err;
		vsock_pcap_packet(&hdr, chain->iov, chain->n_out, VSOCK_HDR_SIZE);
		return 0;
	}
	vsock_pcap_packet(&hdr, chain->iov, chain->n_out, VSOCK_HDR_SIZE);
	bool seqpacket_ok = q->dev->features & (1ull << VSOCK_F_SEQPACKET);
	if (hdr.type != VSOCK_TYPE_STREAM && !(hdr.type == VSOCK_TYPE_SEQPACKET && seqpacket_ok)) {
		queue_rst(q, &hdr);
		return 0;
	}
	struct vsock_conn *conn = conn_lookup(&q->conns, hdr.dst_port, hdr.src_port);
	if (conn) {
		if ((hdr.type == VSOCK_TYPE_SEQPACKET) != conn->seqpacket)
			conn_reset(conn, "packet of the other socket type");
		else
			conn_packet(conn, &hdr, chain);
		return 0;
	}
	if (hdr.op != VSOCK_OP_REQUEST) {
		queue_rst(q, &hdr);
		return 0;
	}
	conn = conn_from_guest(&q->conns, &hdr);
	if (!conn) {
		queue_rst(q, &hdr); /* nobody listens on <uds>_P */
		return 0;
	}
	conn_peer_update(conn, hdr.buf_alloc, hdr.fwd_cnt);
	conn_refresh(conn);
	return 0;
}

/* Whether a ring loop has done its share for this round; if so the loop
 * comes back after serving everything else (loop_more_work). */
static bool over_weight(unsigned pkts, size_t bytes)
{
	if (pkts < QUEUE_WEIGHT_PKTS && bytes < QUEUE_WEIGHT_BYTES)
		return false;
	loop_more_work();
	return true;
}

void queue_tx_service(struct vsock_queue *q)
{
	struct virtq *vq = vu_dev_queue(q->dev, VU_TX);
	struct vq_chain chain;
	unsigned pkts = 0;
	size_t bytes = 0;
	q->tx_stalled = false;
	q->tx_more = false;
	if (!vq)
		return;
	for (;;) {
		if (over_weight(pkts, bytes)) {
			q->tx_more = true;
			break;
		}
		int r = virtq_pop(vq, &chain);
		if (r < 0)
			break;
		if (r == 0) {
			if (virtq_enable_notify(vq))
				continue;
			break;
		}
		if (guest_packet(q, &chain) == -EAGAIN) {
			virtq_unpop(vq); /* resumes when the sibling drains */
			q->tx_stalled = true;
			break;
		}
		virtq_push(vq, chain.head, 0);
		pkts++;
		bytes += chain.out_bytes;
	}
	vu_dev_notify(q->dev, VU_TX);
	if (q->rx_dirty)
		queue_rx_service(q);
}

/* ---- host → guest ---------------------------------------------------------- */

static void conn_header(struct vsock_conn *conn, struct vsock_hdr *h, uint16_t op)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = VSOCK_CID_HOST;
	h->dst_cid = conn->table->cid;
	h->src_port = conn->local_port;
	h->dst_port = conn->peer_port;
	h->type = conn->seqpacket ? VSOCK_TYPE_SEQPACKET : VSOCK_TYPE_STREAM;
	h->op = op;
	h->buf_alloc = conn->buf_alloc;
	h->fwd_cnt = conn->fwd_cnt;
	conn->fwd_cnt_sent = conn->fwd_cnt;
	conn->pending &= ~PEND_CREDIT; /* every header carries our credit */
}

/* Reads Unix-socket (or early line) data into the chain after the header;
 * returns payload bytes, 0 at EOF, -EAGAIN for none, other negative errno
 * when the socket failed. */
static ssize_t conn_read_payload(struct vsock_conn *conn, struct vq_chain *chain, uint32_t max)
{
	struct iovec *in = chain->iov + chain->n_out;
	if (conn->lead_off < conn->line_len) {
		uint32_t n = conn->line_len - conn->lead_off;
		if (n > max)
			n = max;
		iov_copy_to(in, chain->n_in, VSOCK_HDR_SIZE, conn->line + conn->lead_off, n);
		conn->lead_off += n;
		return n;
	}
	struct iovec slice[VQ_MAX_IOV];
	unsigned k = iov_slice(in, chain->n_in, VSOCK_HDR_SIZE, max, slice, VQ_MAX_IOV);
	for (;;) {
		ssize_t r = readv(conn->ev.fd, slice, (int)k);
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 ? -errno : r;
	}
}

/* For a header-only rx buffer: whether the Unix socket is at EOF (0),
 * has data that must wait for a bigger buffer (-EMSGSIZE), has nothing
 * (-EAGAIN), or failed (other negative errno). */
static ssize_t conn_peek(struct vsock_conn *conn)
{
	if (conn->lead_off < conn->line_len)
		return -EMSGSIZE;
	uint8_t byte;
	for (;;) {
		ssize_t r = recv(conn->ev.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r > 0)
			return -EMSGSIZE;
		return r < 0 ? -errno : 0;
	}
}

/* Whether a read of at most max bytes should wait for more data: the
 * guest still holds COALESCE_AFTER_PKTS of our packets, and the Unix socket
 * has less than would fill this buffer (and the credit).  Small writes of
 * the host program then travel in fewer, fuller packets. */
static bool conn_should_coalesce(struct vsock_conn *conn, uint32_t max)
{
	int queued;
	if (conn->coalesce_off || conn->pkt_count < COALESCE_AFTER_PKTS || conn->hup ||
	    conn->lead_off < conn->line_len)
		return false;
	if (ioctl(conn->ev.fd, FIONREAD, &queued) < 0)
		return false;
	return queued > 0 && (uint32_t)queued < max;
}

/* Builds conn's next packet into chain; the bytes written, 0 for nothing.
 * Control packets are header-only and fit any rx buffer.  Data needs room
 * after the header: when a buffer has none (a guest may post 44-byte
 * buffers), it carries a CREDIT_UPDATE instead, so that every buffer
 * handed to a connection with work is used and the rx loop moves on.
 * Data may also wait (conn_hold): for more of it (coalescing), or for the
 * guest to consume packets (the packet bound, vsock_conn.h); the guest is
 * then asked for its credit with a CREDIT_REQUEST in this buffer. */
static uint32_t conn_fill(struct vsock_conn *conn, struct vq_chain *chain)
{
	struct vsock_hdr h;
	struct iovec *in = chain->iov + chain->n_out;
	uint32_t payload = 0;

	if (conn->pending & PEND_REQUEST) {
		conn->pending &= ~PEND_REQUEST;
		conn_header(conn, &h, VSOCK_OP_REQUEST);
	} else if (conn->pending & PEND_RESPONSE) {
		conn->pending &= ~PEND_RESPONSE;
		conn_header(conn, &h, VSOCK_OP_RESPONSE);
	} else {
		uint32_t room = (uint32_t)(chain->in_bytes - VSOCK_HDR_SIZE);
		uint32_t credit = conn_peer_credit(conn);
		uint32_t limit = conn_send_limit(conn);
		uint32_t max = room < limit ? room : limit;
		if (max > VSOCK_MAX_PKT_PAYLOAD)
			max = VSOCK_MAX_PKT_PAYLOAD;
		bool want_data = conn->data_ready && conn->state == CONN_ESTABLISHED &&
		                 !conn->held && !conn->rd_eof &&
		                 !(conn->peer_shutdown & VSOCK_SHUTDOWN_RCV);
		bool held = false;
		ssize_t r = -EAGAIN;
		uint32_t seq_flags = 0;
		if (want_data && conn->seqpacket) {
			uint32_t seq_len;
			r = seq_fill(conn, chain, room, limit, &seq_len, &seq_flags);
			if (r == 0) {
				/* an RW, maybe empty: payload seq_len */
				payload = seq_len;
				conn->tx_cnt += payload;
				conn_sent_packet(conn);
				conn_header(conn, &h, VSOCK_OP_RW);
				h.len = payload;
				h.flags = seq_flags;
				goto built;
			}
			if (r == -ENODATA) {
				r = 0; /* the end of the stream, as for STREAM */
			} else if (r == -ENOSPC) {
				/* A record read already waits for credit (the next
				 * CREDIT_UPDATE brings it back) or the packet bound. */
				r = -EAGAIN;
				held = true;
				if (credit && !limit && conn_hold(conn, CREDIT_ASK_MS))
					conn->pending |= PEND_CREDIT_REQ;
			} else if (r == -E2BIG) {
				conn_reset(conn, "a host record larger than the guest takes");
				return 0;
			}
		} else if (want_data && credit && room && !limit) {
			held = true; /* the packet bound: the guest must consume first */
			if (conn_hold(conn, CREDIT_ASK_MS))
				conn->pending |= PEND_CREDIT_REQ;
		} else if (want_data && max && conn_should_coalesce(conn, max)) {
			held = true;
			if (conn_hold(conn, COALESCE_MS))
				conn->pending |= PEND_CREDIT_REQ;
		} else if (want_data && max) {
			r = conn_read_payload(conn, chain, max);
			conn->coalesce_off = false;
		} else if (want_data && credit && !room) {
			r = conn_peek(conn);
		}
		if (r > 0) {
			payload = (uint32_t)r;
			conn->tx_cnt += payload;
			conn_sent_packet(conn);
			if (payload < max && !conn->hup && conn->lead_off >= conn->line_len)
				conn->data_ready = false;
			conn_header(conn, &h, VSOCK_OP_RW);
			h.len = payload;
		} else if (held && (conn->pending & PEND_CREDIT_REQ)) {
			conn->pending &= ~PEND_CREDIT_REQ;
			conn_header(conn, &h, VSOCK_OP_CREDIT_REQUEST);
		} else {
			bool filler = r == -EMSGSIZE; /* data waits for room */
			if (r == 0) {
				conn->rd_eof = true;
				conn->shutdown_flags |= VSOCK_SHUTDOWN_SEND;
				if (conn->hup)
					conn->shutdown_flags |= VSOCK_SHUTDOWN_RCV;
				conn->pending |= PEND_SHUTDOWN;
			} else if (r != -EAGAIN && r != -EWOULDBLOCK && !filler) {
				conn_reset(conn, "Unix socket read failed");
				return 0;
			}
			if (!filler && !held && (!conn->hup || r == 0))
				conn->data_ready = false;
			if (conn->pending & PEND_SHUTDOWN) {
				conn->pending &= ~PEND_SHUTDOWN;
				conn_header(conn, &h, VSOCK_OP_SHUTDOWN);
				h.flags = conn->shutdown_flags;
			} else if (conn->pending & PEND_CREDIT_REQ) {
				conn->pending &= ~PEND_CREDIT_REQ;
				conn_header(conn, &h, VSOCK_OP_CREDIT_REQUEST);
			} else if ((conn->pending & PEND_CREDIT) || filler) {
				conn_header(conn, &h, VSOCK_OP_CREDIT_UPDATE);
			} else {
				return 0;
			}
		}
	}
built:
	iov_copy_to(in, chain->n_in, 0, &h, sizeof(h));
	vsock_pcap_packet(&h, in, chain->n_in, VSOCK_HDR_SIZE);
	return VSOCK_HDR_SIZE + payload;
}

/* Copies the next piece of a sibling packet into chain.  A header-only
 * buffer cannot carry any of its payload: it gets the sender's credit
 * (a CREDIT_UPDATE from the same header) and the payload waits. */
static uint32_t sibling_fill(struct vsock_queue *q, struct vq_chain *chain)
{
	struct sibling_pkt *pkt = list_entry(q->sibling_in.next, struct sibling_pkt, node);
	struct iovec *in = chain->iov + chain->n_out;
	uint32_t left = pkt->hdr.len - pkt->off;
	uint32_t room = (uint32_t)(chain->in_bytes - VSOCK_HDR_SIZE);
	uint32_t n = left < room ? left : room;
	struct vsock_hdr h = pkt->hdr;
	h.len = n;
	if (left && !room) {
		h.op = VSOCK_OP_CREDIT_UPDATE;
		h.flags = 0;
		iov_copy_to(in, chain->n_in, 0, &h, sizeof(h));
		vsock_pcap_packet(&h, in, chain->n_in, VSOCK_HDR_SIZE);
		return VSOCK_HDR_SIZE;
	}
	iov_copy_to(in, chain->n_in, 0, &h, sizeof(h));
	iov_copy_to(in, chain->n_in, VSOCK_HDR_SIZE, pkt->data + pkt->off, n);
	pkt->off += n;
	if (pkt->off == pkt->hdr.len) {
		q->sibling_bytes -= sibling_charge(&pkt->hdr);
		q->sibling_count--;
		list_del(&pkt->node);
		free(pkt);
	}
	return VSOCK_HDR_SIZE + n;
}

static bool rx_has_work(struct vsock_queue *q)
{
	return q->rst_count || !list_empty(&q->sibling_in) || !list_empty(&q->conns.ready);
}

/* Sibling packets and our host connections take turns when both wait
 * (vhost-device-vsock #384/#385): neither can starve the other. */
static bool sibling_goes_next(struct vsock_queue *q)
{
	bool sibling = !list_empty(&q->sibling_in), host = !list_empty(&q->conns.ready);
	if (!sibling || !host)
		return sibling;
	q->sibling_turn = !q->sibling_turn;
	return !q->sibling_turn;
}

void queue_rx_service(struct vsock_queue *q)
{
	struct virtq *vq = vu_dev_queue(q->dev, VU_RX);
	struct vq_chain chain;
	unsigned pkts = 0;
	size_t bytes = 0;
	q->rx_dirty = false;
	if (!vq)
		return;
	while (rx_has_work(q)) {
		if (over_weight(pkts, bytes)) {
			q->rx_dirty = true;
			break;
		}
		int r = virtq_pop(vq, &chain);
		if (r < 0)
			break;
		if (r == 0) {
			if (virtq_enable_notify(vq))
				continue;
			break; /* the guest's next rx buffer kicks us */
		}
		if (chain.n_out || chain.in_bytes < VSOCK_HDR_SIZE) {
			virtq_mark_broken(vq, "rx buffer not writable or too small");
			break;
		}
		uint32_t written = 0;
		if (q->rst_count) {
			struct vsock_hdr *h = &q->rst[q->rst_head];
			iov_copy_to(chain.iov, chain.n_in, 0, h, sizeof(*h));
			vsock_pcap_packet(h, chain.iov, chain.n_in, VSOCK_HDR_SIZE);
			q->rst_head = (q->rst_head + 1) % RST_QUEUE_MAX;
			q->rst_count--;
			written = VSOCK_HDR_SIZE;
		} else if (sibling_goes_next(q)) {
			written = sibling_fill(q, &chain);
		} else {
			struct vsock_conn *conn =
			        list_entry(q->conns.ready.next, struct vsock_conn, ready);
			list_del(&conn->ready); /* round robin: re-added at the tail */
			written = conn_fill(conn, &chain);
			if (conn->state != CONN_DEAD)
				conn_refresh(conn);
			if (!written && list_linked(&conn->ready)) {
				/* Nothing built, yet it claims work: taking it
				 * off keeps this loop from spinning (a bug). */
				log_peer(q->conns.log, LOG_CONN,
				         "connection %u<->%u has no packet to send",
				         conn->local_port, conn->peer_port);
				list_del(&conn->ready);
			}
		}
		if (written)
			virtq_push(vq, chain.head, written);
		else
			virtq_unpop(vq);
		pkts++;
		bytes += written;
	}
	vu_dev_notify(q->dev, VU_RX);
	/* A sibling whose tx stalled on our queue resumes after this batch
	 * (queue_after_batch). */
}

/*
 * A kick can be lost without anyone breaking the protocol: a guest under
 * QEMU's TCG with a single possible vCPU has its fences translated without
 * host barriers, so its load of avail_event may pass its store of the avail
 * index while we, going idle, read the old index (README: -smp).  The
 * guest then waits for a completion and we for a kick.  Rather than leave
 * the VM's vsock dead, a ring that had work waiting at two looks in a row
 * and did not move between them is served, and the loss is logged.
 */
static bool ring_stuck(struct ring_watch *w, const struct virtq *vq, bool work)
{
	bool stuck = work && w->waiting && vq->last_avail == w->pos;
	w->pos = vq->last_avail;
	w->waiting = work;
	return stuck;
}

static void kick_lost(struct vsock_queue *q, const char *ring, void (*serve)(struct vsock_queue *q))
{
	q->kicks_lost++;
	log_peer(q->conns.log, LOG_RING,
	         "%s ring: work waited a whole period without a kick; served (%llu lost so far)",
	         ring, (unsigned long long)q->kicks_lost);
	serve(q);
}

void queue_watchdog(struct vsock_queue *q)
{
	struct virtq *tx = vu_dev_queue(q->dev, VU_TX), *rx = vu_dev_queue(q->dev, VU_RX);
	if (tx && ring_stuck(&q->watch_tx, tx, virtq_has_avail(tx) && !q->tx_stalled))
		kick_lost(q, "tx", queue_tx_service);
	if (rx && ring_stuck(&q->watch_rx, rx, rx_has_work(q) && virtq_has_avail(rx)))
		kick_lost(q, "rx", queue_rx_service);
}

void queue_after_batch(struct vsock_queue *q)
{
	conn_held_expire(&q->conns, loop_now_ms());
	if (q->tx_stalled || q->tx_more)
		queue_tx_service(q);
	if (q->rx_dirty)
		queue_rx_service(q);
}
