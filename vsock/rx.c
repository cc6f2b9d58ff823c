/*
 * rx.c -- every packet the transport receives: validation, demultiplexing
 * on the full 4-tuple, and the per-state handling of each op (virtio 1.2
 * §5.10.6.3-6, DESIGN §4; Linux virtio_transport_recv_pkt and friends).
 *
 * The peer is not trusted: each header field is range-checked, a payload
 * that does not match `len` or exceeds 64 KiB is refused with RST, data
 * beyond the window we advertised resets the connection (it is never
 * buffered past buf_alloc), and every refusal is counted and logged.
 */
#include <errno.h>
#include <stdio.h>

#include "include/log.h"
#include "vsock/internal.h"

static void log_packet(const char *why, const struct vsock_hdr_fields *h)
{
	log_printf("vsock: %s: %s %llu:%u -> %llu:%u type %u len %u\n", why, vsock_op_name(h->op),
	           (unsigned long long)h->src_cid, h->src_port, (unsigned long long)h->dst_cid,
	           h->dst_port, h->type, h->len);
}

static struct vsock_sock *find_connection(struct vsock_core *core, const struct vsock_hdr_fields *h)
{
	for (struct vsock_sock *s = core->socks; s; s = s->next)
		if (s->in_table && s->local.port == h->dst_port && s->peer.port == h->src_port &&
		    s->peer.cid == h->src_cid)
			return s;
	return NULL;
}

static struct vsock_sock *find_listener(struct vsock_core *core, uint32_t port)
{
	for (struct vsock_sock *s = core->socks; s; s = s->next)
		if (s->state == SS_LISTEN && s->local.port == port)
			return s;
	return NULL;
}

/* A REQUEST for a listening port: a new connection, or RST if refused. */
static void listener_rx(struct vsock_sock *listener, const struct vsock_hdr_fields *h)
{
	struct vsock_core *core = listener->core;
	struct vsock_sock *child;

	if (core->stats.conns >= core->cfg.max_conns) {
		core->stats.refused_limit++;
		if (core_log_allowed(&core->refusal_log))
			log_printf("vsock: connection limit (%u) reached, refusing %llu:%u -> "
			           "port %u\n",
			           core->cfg.max_conns, (unsigned long long)h->src_cid, h->src_port,
			           h->dst_port);
		core_reply_rst(core, h);
		return;
	}
	if (listener->accept_len >= listener->backlog) {
		core->stats.refused_backlog++;
		if (core_log_allowed(&core->refusal_log))
			log_printf("vsock: backlog of port %u full (%u), refusing %llu:%u\n",
			           h->dst_port, listener->backlog, (unsigned long long)h->src_cid,
			           h->src_port);
		core_reply_rst(core, h);
		return;
	}
	child = sock_alloc(core, listener->type);
	if (!child) {
		log_packet("out of memory for a connection", h);
		core_reply_rst(core, h);
		return;
	}
	child->local = (struct vsock_addr){ core->local_cid, h->dst_port };
	child->peer = (struct vsock_addr){ h->src_cid, h->src_port };
	child->buf_alloc = listener->buf_alloc;
	child->peer_buf_alloc = h->buf_alloc;
	child->peer_fwd_cnt = h->fwd_cnt;
	child->state = SS_CONNECTED;
	child->parent = listener;
	if (listener->accept_tail)
		listener->accept_tail->accept_next = child;
	else
		listener->accept_head = child;
	listener->accept_tail = child;
	listener->accept_len++;
	sock_table_add(child);
	sock_send_ctrl(child, VSOCK_OP_RESPONSE, 0);
	sock_notify(child);
}

static void connected_rw(struct vsock_sock *sock, const struct vsock_hdr_fields *h,
                         const void *payload)
{
	bool seqpacket = sock->type == VSOCK_TYPE_SEQPACKET;

	if (h->len == 0 && !seqpacket)
		return; /* (a SEQPACKET one may end a message: EOM) */
	/* rx_cnt - fwd_cnt <= buf_alloc always holds, so this cannot wrap. */
	if (h->len > sock->buf_alloc - sock_rx_bytes(sock)) {
		sock->core->stats.window_violations++;
		log_printf("vsock: %llu:%u sent %u bytes beyond our window (%zu of %u used), "
		           "resetting\n",
		           (unsigned long long)sock->peer.cid, sock->peer.port, h->len,
		           sock_rx_bytes(sock), sock->buf_alloc);
		sock_reset(sock, ECONNRESET, true);
		return;
	}
	if (sock->shut_local & VSOCK_SHUTDOWN_RCV) {
		/* We said we read no more: count it consumed so credit flows. */
		sock->rx_cnt += h->len;
		sock->fwd_cnt += h->len;
		return;
	}
	if (seqpacket) {
		seq_rx(sock, h, payload);
		return;
	}
	if (sock_rx_append(sock, payload, h->len) < 0) {
		log_printf("vsock: out of memory buffering %u bytes, resetting %llu:%u\n", h->len,
		           (unsigned long long)sock->peer.cid, sock->peer.port);
		sock_reset(sock, ENOMEM, true);
		return;
	}
	sock_notify(sock);
}

static void connected_rx(struct vsock_sock *sock, const struct vsock_hdr_fields *h,
                         const void *payload)
{
	switch (h->op) {
	case VSOCK_OP_RW:
		connected_rw(sock, h, payload);
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		break; /* the credit fields were taken already */
	case VSOCK_OP_CREDIT_REQUEST:
		sock_send_ctrl(sock, VSOCK_OP_CREDIT_UPDATE, 0);
		break;
	case VSOCK_OP_SHUTDOWN:
		sock->shut_peer |= h->flags & VSOCK_SHUTDOWN_BOTH;
		if (sock->shut_peer == VSOCK_SHUTDOWN_BOTH) {
			/*
			 * Closed both ways: like Linux, leave the table now so
			 * the tuple is free, and send the RST the peer lingers
			 * for once the application has read what is buffered.
			 */
			/* (A message cut short by the peer is never read.) */
			if (sock_rx_bytes(sock) - sock->msg_partial == 0)
				sock_send_ctrl(sock, VSOCK_OP_RST, 0);
			else
				sock->rst_owed = true;
			sock_table_remove(sock);
			sock->state = SS_DISCONNECTED;
		}
		sock_notify(sock);
		break;
	case VSOCK_OP_RST:
		/* After the peer's SHUTDOWN(SEND) or our full one it is a clean end. */
		sock_reset(sock,
		           (sock->shut_peer & VSOCK_SHUTDOWN_SEND) ||
		                           sock->shut_local == VSOCK_SHUTDOWN_BOTH ?
		                   0 :
		                   ECONNRESET,
		           false);
		break;
	default:
		/* REQUEST/RESPONSE on an established tuple: a duplicate; ignore. */
		log_packet("ignored on an established connection", h);
		break;
	}
}

/* The application closed; we linger for the peer's RST or SHUTDOWN. */
static void closing_rx(struct vsock_sock *sock, const struct vsock_hdr_fields *h)
{
	switch (h->op) {
	case VSOCK_OP_RST:
		sock_reset(sock, 0, false);
		break;
	case VSOCK_OP_SHUTDOWN:
		sock->shut_peer |= h->flags & VSOCK_SHUTDOWN_BOTH;
		if (sock->shut_peer == VSOCK_SHUTDOWN_BOTH)
			sock_reset(sock, 0, true);
		break;
	case VSOCK_OP_RW:
		/* Nobody will read it; keep the counters honest. */
		sock->rx_cnt += h->len;
		sock->fwd_cnt += h->len;
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		sock_send_ctrl(sock, VSOCK_OP_CREDIT_UPDATE, 0);
		break;
	default:
		break;
	}
}

static void connection_rx(struct vsock_sock *sock, const struct vsock_hdr_fields *h,
                          const void *payload)
{
	if (h->type != sock->type) {
		log_packet("type differs from the connection's, resetting", h);
		sock->core->stats.rx_malformed++;
		sock_reset(sock, EPROTO, h->op != VSOCK_OP_RST);
		return;
	}
	if (sock->peer_buf_alloc != h->buf_alloc || sock->peer_fwd_cnt != h->fwd_cnt) {
		sock->peer_buf_alloc = h->buf_alloc;
		sock->peer_fwd_cnt = h->fwd_cnt;
		sock->credit_requested = false;
		sock_notify(sock); /* senders may go on */
	}
	switch (sock->state) {
	case SS_CONNECTING:
		if (h->op == VSOCK_OP_RESPONSE) {
			sock->state = SS_CONNECTED;
			sock_notify(sock);
		} else if (h->op == VSOCK_OP_RST) {
			sock_reset(sock, ECONNRESET, false);
		} else {
			log_packet("unexpected while connecting, resetting", h);
			sock_reset(sock, EPROTO, true);
		}
		break;
	case SS_CONNECTED:
		connected_rx(sock, h, payload);
		break;
	case SS_CLOSING:
		closing_rx(sock, h);
		break;
	default:
		break; /* not in the table in other states */
	}
}

static const char *type_name(uint16_t type)
{
	return type == VSOCK_TYPE_SEQPACKET ? "SEQPACKET" : "STREAM";
}

/*
 * A REQUEST nobody takes is the classic port mismatch: say so, with the
 * 4-tuple and what we do listen on (rate-limited: the peer decides how
 * often this happens).
 */
static void log_refused_request(struct vsock_core *core, const struct vsock_hdr_fields *h,
                                const struct vsock_sock *listener)
{
	char ports[160];

	if (!core_log_allowed(&core->refusal_log))
		return;
	core_listening_ports(core, ports, sizeof(ports));
	if (listener)
		log_printf("vsock: REQUEST %llu:%u -> %llu:%u refused: port %u listens for %s, "
		           "the peer asked for %s; answered RST\n",
		           (unsigned long long)h->src_cid, h->src_port,
		           (unsigned long long)h->dst_cid, h->dst_port, h->dst_port,
		           type_name(listener->type), type_name(h->type));
	else
		log_printf("vsock: REQUEST %llu:%u -> %llu:%u refused: no listener on port %u; "
		           "listening on %s; answered RST\n",
		           (unsigned long long)h->src_cid, h->src_port,
		           (unsigned long long)h->dst_cid, h->dst_port, h->dst_port, ports);
}

static bool type_valid(struct vsock_core *core, uint16_t type)
{
	return core_type_supported(core, type); /* negotiated types only */
}

void vsock_core_rx(struct vsock_core *core, const struct vsock_hdr *wire, const void *payload,
                   size_t len)
{
	struct vsock_hdr_fields h;
	struct vsock_sock *sock;
	const char *bad = NULL;

	core->stats.rx_packets++;
	if (!wire)
		return;
	vsock_hdr_decode(&h, wire);
	if (h.dst_cid != core->local_cid) {
		/* Not addressed to us: no tuple of ours to answer from. */
		core->stats.rx_malformed++;
		log_packet("not our cid, dropped", &h);
		return;
	}
	if (h.len != len || (len && !payload))
		bad = "len does not match the payload";
	else if (h.len > VSOCK_MAX_RX_PAYLOAD)
		bad = "oversized payload";
	else if (!type_valid(core, h.type))
		bad = "unsupported type";
	else if (h.op == VSOCK_OP_INVALID || h.op > VSOCK_OP_MAX)
		bad = "invalid op";
	else if (h.op != VSOCK_OP_RW && h.len != 0)
		bad = "payload on a control op";
	sock = find_connection(core, &h);
	if (bad) {
		core->stats.rx_malformed++;
		log_packet(bad, &h);
		if (sock)
			sock_reset(sock, EPROTO, h.op != VSOCK_OP_RST);
		else
			core_reply_rst(core, &h);
		return;
	}
	if (sock) {
		connection_rx(sock, &h, payload);
		return;
	}
	if (h.op == VSOCK_OP_REQUEST) {
		struct vsock_sock *listener = find_listener(core, h.dst_port);

		if (listener && listener->type == h.type) {
			listener_rx(listener, &h);
			return;
		}
		log_refused_request(core, &h, listener);
	}
	core_reply_rst(core, &h); /* unknown tuple (never answers an RST) */
}
