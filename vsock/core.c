/*
 * core.c -- the vsock protocol core: connection table, packet transmit
 * (with a queue for control packets the transport cannot take yet),
 * timers, ports and transport reset (virtio 1.2 §5.10.6, DESIGN §4; Linux
 * net/vmw_vsock/virtio_transport_common.c is the reference behaviour).
 * Receive-side packet handling is in rx.c, the application's API in
 * socket.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/log.h"
#include "vsock/internal.h"

static void accept_queue_unlink(struct vsock_sock *child);
static void tx_msg_drop(struct vsock_sock *sock);
static bool messages_tx_flush(struct vsock_core *core);

void vsock_config_defaults(struct vsock_config *cfg)
{
	*cfg = (struct vsock_config){
		.buf_alloc = 256 * 1024,
		.max_conns = 256,
		.connect_timeout_ns = 2000000000ull,
		.linger_ns = 8000000000ull,
		.port_quarantine_ns = 16000000000ull,
		.ephemeral_first = 49152,
		.ephemeral_last = UINT32_MAX - 1,
		.max_ctrl_queue = 1024,
		.counter_start = 0,
	};
}

int vsock_core_create(struct vsock_core **out, const struct vsock_transport_ops *ops, void *ctx,
                      const struct vsock_config *cfg)
{
	struct vsock_core *core;

	if (!ops || !ops->send || !ops->local_cid || !cfg || cfg->buf_alloc == 0 ||
	    cfg->max_ctrl_queue == 0 || cfg->ephemeral_first > cfg->ephemeral_last ||
	    cfg->ephemeral_last == VSOCK_PORT_ANY || ops->max_payload == 0)
		return -EINVAL;
	core = calloc(1, sizeof(*core));
	if (!core)
		return -ENOMEM;
	core->ctrl = calloc(cfg->max_ctrl_queue, sizeof(*core->ctrl));
	if (!core->ctrl) {
		free(core);
		return -ENOMEM;
	}
	core->ops = ops;
	core->ctx = ctx;
	core->cfg = *cfg;
	core->next_ephemeral = cfg->ephemeral_first;
	platform_lock();
	core->local_cid = ops->local_cid(ctx);
	platform_unlock();
	*out = core;
	return 0;
}

void vsock_core_destroy(struct vsock_core *core)
{
	if (!core)
		return;
	platform_lock();
	for (struct vsock_sock *sock = core->socks; sock; sock = sock->next)
		sock->user_open = false;
	while (core->socks) {
		struct vsock_sock *sock = core->socks;

		if (sock->parent)
			accept_queue_unlink(sock);
		sock_table_remove(sock);
		sock_rx_discard(sock);
		sock_release_if_unused(sock);
	}
	platform_unlock();
	free(core->ctrl);
	free(core);
}

uint64_t vsock_core_local_cid(struct vsock_core *core)
{
	uint64_t cid;

	platform_lock();
	cid = core->local_cid;
	platform_unlock();
	return cid;
}

void vsock_core_stats(struct vsock_core *core, struct vsock_stats *out)
{
	platform_lock();
	*out = core->stats;
	out->ctrl_queued = core->ctrl_count;
	out->tx_blocked = core->tx_full;
	platform_unlock();
}

/* ------------------------------------------------------------------------
 * Sockets and the table
 * ------------------------------------------------------------------------ */

struct vsock_sock *sock_alloc(struct vsock_core *core, uint16_t type)
{
	struct vsock_sock *sock = calloc(1, sizeof(*sock));
	uint32_t start = core->cfg.counter_start;

	if (!sock)
		return NULL;
	sock->core = core;
	sock->type = type;
	sock->state = SS_UNCONNECTED;
	sock->local = (struct vsock_addr){ core->local_cid, VSOCK_PORT_ANY };
	sock->peer = (struct vsock_addr){ VSOCK_CID_ANY, VSOCK_PORT_ANY };
	sock->connect_timeout_ns = core->cfg.connect_timeout_ns;
	sock->buf_alloc = core->cfg.buf_alloc;
	sock->rx_cnt = sock->fwd_cnt = sock->last_fwd_sent = start;
	sock->tx_cnt = sock->peer_fwd_cnt = start;
	sock->next = core->socks;
	if (core->socks)
		core->socks->prev = sock;
	core->socks = sock;
	core->stats.sockets++;
	return sock;
}

static void quarantine_port(struct vsock_core *core, uint32_t port)
{
	struct quarantined_port *slot = &core->quarantine[core->quarantine_next];

	slot->port = port;
	slot->until_ns = platform_now_ns() + core->cfg.port_quarantine_ns;
	core->quarantine_next = (core->quarantine_next + 1) % VSOCK_QUARANTINE_SLOTS;
}

static bool port_quarantined(struct vsock_core *core, uint32_t port, uint64_t now_ns)
{
	for (size_t i = 0; i < VSOCK_QUARANTINE_SLOTS; i++) {
		const struct quarantined_port *slot = &core->quarantine[i];

		if (slot->until_ns > now_ns && slot->port == port)
			return true;
	}
	return false;
}

/* Free the socket once no handle, table entry or accept queue holds it. */
void sock_release_if_unused(struct vsock_sock *sock)
{
	struct vsock_core *core = sock->core;

	if (sock->user_open || sock->in_table || sock->parent)
		return;
	if (sock->state == SS_LISTEN)
		sock_close_listener(sock);
	sock_rx_discard(sock);
	tx_msg_drop(sock);
	if (sock->owns_port && sock->ephemeral)
		quarantine_port(core, sock->local.port);
	if (sock->prev)
		sock->prev->next = sock->next;
	else
		core->socks = sock->next;
	if (sock->next)
		sock->next->prev = sock->prev;
	core->stats.sockets--;
	/* Anyone still asleep on it would be a use-after-free: wake them. */
	platform_wake(&sock->wq);
	free(sock);
}

/* Wake the vsock_poll sleepers hooked on `sock`. */
static void wake_hooked(struct vsock_sock *sock)
{
	for (struct vsock_poll_hook *h = sock->poll_hooks; h; h = h->next)
		platform_wake(&h->poller->wq);
}

void sock_notify(struct vsock_sock *sock)
{
	platform_wake(&sock->wq);
	wake_hooked(sock);
	if (sock->parent) {
		platform_wake(&sock->parent->wq);
		wake_hooked(sock->parent); /* its accept queue changed */
	}
}

void core_wake_pollers(struct vsock_core *core)
{
	for (struct vsock_poller *p = core->pollers; p; p = p->next)
		platform_wake(&p->wq);
}

/* A connection's receive window out of cfg.rx_budget (see core.h); before
 * its first packet, which advertises it. */
static void window_grant(struct vsock_sock *sock)
{
	struct vsock_core *core = sock->core;
	size_t left;
	uint32_t grant;

	sock->buf_alloc_asked = sock->buf_alloc;
	if (!core->cfg.rx_budget)
		return;
	left = core->cfg.rx_budget > core->stats.rx_granted ?
	               core->cfg.rx_budget - core->stats.rx_granted :
	               0;
	grant = left < VSOCK_WINDOW_MIN ? VSOCK_WINDOW_MIN :
	        left > sock->buf_alloc  ? sock->buf_alloc :
	                                  (uint32_t)left;
	if (grant > sock->buf_alloc)
		grant = sock->buf_alloc;
	sock->buf_alloc = grant;
	sock->granted = grant;
	core->stats.rx_granted += grant;
}

void sock_table_add(struct vsock_sock *sock)
{
	if (sock->in_table)
		return;
	sock->in_table = true;
	sock->core->stats.conns++;
	window_grant(sock);
}

void sock_table_remove(struct vsock_sock *sock)
{
	if (!sock->in_table)
		return;
	sock->in_table = false;
	sock->core->stats.conns--;
	sock->core->stats.rx_granted -= sock->granted;
	sock->granted = 0;
	sock->buf_alloc = sock->buf_alloc_asked;
}

bool sock_tuple_in_use(struct vsock_core *core, uint32_t local_port, const struct vsock_addr *peer)
{
	for (struct vsock_sock *s = core->socks; s; s = s->next)
		if (s->in_table && s->local.port == local_port && s->peer.port == peer->port &&
		    s->peer.cid == peer->cid)
			return true;
	return false;
}

bool sock_port_owned(struct vsock_core *core, uint32_t port)
{
	for (struct vsock_sock *s = core->socks; s; s = s->next)
		if (s->owns_port && s->local.port == port)
			return true;
	return false;
}

/*
 * Ephemeral ports go round the configured range; a port is skipped while a
 * socket owns it or while it rests in quarantine after its last connection
 * (the old peer may still answer on it).  Every skipped port is owned or
 * quarantined, so sockets + slots + 1 attempts always find one if any exists.
 */
int sock_pick_ephemeral(struct vsock_core *core, uint32_t *port)
{
	uint64_t range = (uint64_t)core->cfg.ephemeral_last - core->cfg.ephemeral_first + 1;
	uint64_t attempts = (uint64_t)core->stats.sockets + VSOCK_QUARANTINE_SLOTS + 1;
	uint64_t now = platform_now_ns();

	if (attempts > range)
		attempts = range;
	for (uint64_t i = 0; i < attempts; i++) {
		uint32_t candidate = core->next_ephemeral;

		core->next_ephemeral = candidate >= core->cfg.ephemeral_last ?
		                               core->cfg.ephemeral_first :
		                               candidate + 1;
		if (!sock_port_owned(core, candidate) && !port_quarantined(core, candidate, now)) {
			*port = candidate;
			return 0;
		}
	}
	return -EADDRNOTAVAIL;
}

bool core_log_allowed(struct vsock_log_limit *limit)
{
	uint64_t now = platform_now_ns();
	uint64_t period = 1000000000ull / VSOCK_LOG_PER_SEC;

	if (limit->stamp_ns == 0 || now - limit->stamp_ns >= period * VSOCK_LOG_BURST) {
		limit->tokens = VSOCK_LOG_BURST;
		limit->stamp_ns = now;
	} else if (now - limit->stamp_ns >= period) {
		uint64_t earned = (now - limit->stamp_ns) / period;

		limit->tokens = limit->tokens + earned > VSOCK_LOG_BURST ?
		                        VSOCK_LOG_BURST :
		                        limit->tokens + (uint32_t)earned;
		limit->stamp_ns += earned * period;
	}
	if (limit->tokens == 0) {
		limit->suppressed++;
		return false;
	}
	limit->tokens--;
	if (limit->suppressed) {
		log_printf("vsock: %u similar lines suppressed (more than %u a second)\n",
		           limit->suppressed, VSOCK_LOG_PER_SEC);
		limit->suppressed = 0;
	}
	return true;
}

void core_listening_ports(struct vsock_core *core, char *buf, size_t size)
{
	enum {
		MAX_SHOWN = 16
	};
	const struct vsock_sock *shown[MAX_SHOWN];
	size_t n = 0, more = 0, used = 0;

	for (const struct vsock_sock *s = core->socks; s; s = s->next) {
		if (s->state != SS_LISTEN)
			continue;
		if (n == MAX_SHOWN) {
			more++;
			continue;
		}
		/* Insertion by port: the list is newest first. */
		size_t i = n++;
		while (i > 0 && shown[i - 1]->local.port > s->local.port) {
			shown[i] = shown[i - 1];
			i--;
		}
		shown[i] = s;
	}
	buf[0] = 0;
	if (n == 0) {
		snprintf(buf, size, "no port");
		return;
	}
	for (size_t i = 0; i < n && used < size; i++)
		used += (size_t)snprintf(
		        buf + used, size - used, "%s%u%s", i ? ", " : "", shown[i]->local.port,
		        shown[i]->type == VSOCK_TYPE_SEQPACKET ? " (seqpacket)" : "");
	if (more && used < size)
		snprintf(buf + used, size - used, " and %zu more", more);
}

/* ------------------------------------------------------------------------
 * Transmit
 * ------------------------------------------------------------------------ */

static void sock_fill_hdr(struct vsock_sock *sock, struct vsock_hdr_fields *f, uint16_t op,
                          uint32_t flags, uint32_t len)
{
	*f = (struct vsock_hdr_fields){
		.src_cid = sock->core->local_cid,
		.dst_cid = sock->peer.cid,
		.src_port = sock->local.port,
		.dst_port = sock->peer.port,
		.len = len,
		.type = sock->type,
		.op = op,
		.flags = flags,
		.buf_alloc = sock->buf_alloc,
		.fwd_cnt = sock->fwd_cnt,
	};
	sock->last_fwd_sent = sock->fwd_cnt;
}

/*
 * Send a header-only packet now, or queue it if the transport is full
 * (or earlier packets are queued: order is kept).  `essential` packets may
 * use the whole queue; replies to strangers only half of it, so a flood of
 * junk cannot crowd out our own SHUTDOWNs and RESPONSEs.
 */
static int core_send_ctrl(struct vsock_core *core, const struct vsock_hdr_fields *f, bool essential,
                          bool behind)
{
	struct vsock_hdr hdr;
	uint32_t limit = essential ? core->cfg.max_ctrl_queue : core->cfg.max_ctrl_queue / 2;
	int err;

	vsock_hdr_encode(&hdr, f);
	if (f->op == VSOCK_OP_RST)
		core->stats.rst_sent++;
	if (core->ctrl_count == 0 && !core->tx_full && !behind) {
		err = core->ops->send(core->ctx, &hdr, NULL, 0);
		if (err != -EAGAIN)
			return err;
		core->tx_full = true;
	}
	if (core->ctrl_count >= limit) {
		core->stats.ctrl_dropped++;
		log_printf("vsock: control queue full, dropping %s to %llu:%u\n",
		           vsock_op_name(f->op), (unsigned long long)f->dst_cid, f->dst_port);
		return -ENOBUFS;
	}
	core->ctrl[(core->ctrl_head + core->ctrl_count) % core->cfg.max_ctrl_queue].hdr = hdr;
	core->ctrl_count++;
	return 0;
}

/* Push queued packets out: the rest of SEQPACKET messages first (their
 * control packets wait behind them), then control packets; true when
 * nothing is left. */
bool core_tx_flush(struct vsock_core *core)
{
	if (!messages_tx_flush(core))
		return false;
	while (core->ctrl_count > 0) {
		const struct vsock_hdr *hdr = &core->ctrl[core->ctrl_head].hdr;
		int err = core->ops->send(core->ctx, hdr, NULL, 0);

		if (err == -EAGAIN) {
			core->tx_full = true;
			return false;
		}
		if (err < 0)
			log_printf("vsock: transport refused a queued %s: %d\n",
			           vsock_op_name(vsock_hdr_op(hdr)), err);
		core->ctrl_head = (core->ctrl_head + 1) % core->cfg.max_ctrl_queue;
		core->ctrl_count--;
	}
	return !core->tx_full;
}

int sock_send_ctrl(struct vsock_sock *sock, uint16_t op, uint32_t flags)
{
	struct vsock_hdr_fields f;

	sock_fill_hdr(sock, &f, op, flags, 0);
	/* After a message still going out: never before its last packet. */
	return core_send_ctrl(sock->core, &f, true, sock->tx_msg != NULL);
}

/* One RW packet now: 0 (tx_cnt counts it), -EAGAIN (the transport is
 * full: tx_ready follows) or the transport's error. */
int sock_send_rw(struct vsock_sock *sock, const void *buf, size_t len, uint32_t flags)
{
	struct vsock_core *core = sock->core;
	struct vsock_hdr_fields f;
	struct vsock_hdr hdr;
	int err;

	sock_fill_hdr(sock, &f, VSOCK_OP_RW, flags, (uint32_t)len);
	vsock_hdr_encode(&hdr, &f);
	err = core->ops->send(core->ctx, &hdr, buf, len);
	if (err == -EAGAIN)
		core->tx_full = true;
	if (err < 0)
		return err;
	sock->tx_cnt += (uint32_t)len;
	return 0;
}

/* RST for a packet that matches no connection (never in reply to an RST). */
void core_reply_rst(struct vsock_core *core, const struct vsock_hdr_fields *in)
{
	struct vsock_hdr_fields f = {
		.src_cid = core->local_cid,
		.dst_cid = in->src_cid,
		.src_port = in->dst_port,
		.dst_port = in->src_port,
		.type = in->type == VSOCK_TYPE_SEQPACKET ? VSOCK_TYPE_SEQPACKET : VSOCK_TYPE_STREAM,
		.op = VSOCK_OP_RST,
	};

	if (in->op == VSOCK_OP_RST)
		return;
	core_send_ctrl(core, &f, false, false);
}

uint32_t sock_tx_credit(const struct vsock_sock *sock)
{
	return vsock_credit_free(sock->peer_buf_alloc, sock->tx_cnt, sock->peer_fwd_cnt);
}

/*
 * Send as much of buf as credit and the transport allow, in packets of at
 * most max_payload.  Bytes sent, or -EAGAIN when none could go, or the
 * transport's error.
 */
int sock_send_data(struct vsock_sock *sock, const void *buf, size_t len)
{
	struct vsock_core *core = sock->core;
	const uint8_t *bytes = buf;
	size_t sent = 0;

	if (!core_tx_flush(core))
		return -EAGAIN;
	while (sent < len) {
		struct vsock_hdr_fields f;
		struct vsock_hdr hdr;
		uint32_t credit = sock_tx_credit(sock);
		size_t chunk = len - sent;
		int err;

		if (credit == 0) {
			if (!sock->credit_requested) {
				sock->credit_requested = true;
				sock_send_ctrl(sock, VSOCK_OP_CREDIT_REQUEST, 0);
			}
			break;
		}
		if (chunk > credit)
			chunk = credit;
		if (chunk > core->ops->max_payload)
			chunk = core->ops->max_payload;
		sock_fill_hdr(sock, &f, VSOCK_OP_RW, 0, (uint32_t)chunk);
		vsock_hdr_encode(&hdr, &f);
		err = core->ops->send(core->ctx, &hdr, bytes + sent, chunk);
		if (err == -EAGAIN) {
			core->tx_full = true;
			break;
		}
		if (err < 0)
			return sent ? (int)sent : err;
		sock->tx_cnt += (uint32_t)chunk;
		sent += chunk;
	}
	return sent ? (int)sent : -EAGAIN;
}

void vsock_core_tx_ready(struct vsock_core *core)
{
	core->tx_full = false;
	core_tx_flush(core);
	for (struct vsock_sock *s = core->socks; s; s = s->next)
		platform_wake(&s->wq);
	core_wake_pollers(core);
}

/* ------------------------------------------------------------------------
 * Receive buffer (coalescing chunks, bounded by buf_alloc)
 * ------------------------------------------------------------------------ */

size_t sock_rx_bytes(const struct vsock_sock *sock)
{
	return sock->rx_cnt - sock->fwd_cnt;
}

/* Append payload; every chunk but the newest is full, so memory stays within
 * buf_alloc plus one chunk however small the packets are. */
int sock_rx_append(struct vsock_sock *sock, const uint8_t *data, uint32_t len)
{
	while (len > 0) {
		struct rx_chunk *tail = sock->rx_tail;
		uint32_t room, n;

		if (!tail || tail->end == VSOCK_RX_CHUNK) {
			tail = malloc(sizeof(*tail));
			if (!tail)
				return -ENOMEM;
			tail->next = NULL;
			tail->start = tail->end = 0;
			if (sock->rx_tail)
				sock->rx_tail->next = tail;
			else
				sock->rx_head = tail;
			sock->rx_tail = tail;
			sock->core->stats.rx_mem += sizeof(*tail);
		}
		room = VSOCK_RX_CHUNK - tail->end;
		n = len < room ? len : room;
		memcpy(tail->data + tail->end, data, n);
		tail->end += n;
		data += n;
		len -= n;
		sock->rx_cnt += n;
	}
	return 0;
}

static void rx_chunk_free(struct vsock_sock *sock)
{
	struct rx_chunk *head = sock->rx_head;

	sock->rx_head = head->next;
	if (!sock->rx_head)
		sock->rx_tail = NULL;
	sock->core->stats.rx_mem -= sizeof(*head);
	free(head);
}

/* Copy out up to len bytes (buf NULL: drop them); the caller credits them. */
size_t sock_rx_take(struct vsock_sock *sock, uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len && sock->rx_head) {
		struct rx_chunk *head = sock->rx_head;
		size_t n = head->end - head->start;

		if (n == 0)
			break; /* only an emptied, reusable tail is empty */
		if (n > len - done)
			n = len - done;
		if (buf)
			memcpy(buf + done, head->data + head->start, n);
		head->start += (uint32_t)n;
		done += n;
		if (head->start == head->end &&
		    (head != sock->rx_tail || head->end == VSOCK_RX_CHUNK))
			rx_chunk_free(sock);
		else if (head->start == head->end)
			head->start = head->end = 0; /* reuse the empty tail */
	}
	return done;
}

void sock_rx_discard(struct vsock_sock *sock)
{
	sock->fwd_cnt += (uint32_t)sock_rx_take(sock, NULL, SIZE_MAX);
	while (sock->rx_head)
		rx_chunk_free(sock);
	sock_msgs_forget(sock);
}

/*
 * The application consumed `bytes`: advance fwd_cnt and tell the peer when
 * its view of our free space is low (Linux: < 64 KiB) and we have freed a
 * worthwhile amount or drained everything (no silly-window updates).
 */
void sock_consumed(struct vsock_sock *sock, uint32_t bytes)
{
	uint32_t low = sock->buf_alloc / 2 < VSOCK_CREDIT_LOW ? sock->buf_alloc / 2 :
	                                                        VSOCK_CREDIT_LOW;
	uint32_t delta, peer_view;

	if (low == 0)
		low = 1;

	sock->fwd_cnt += bytes;
	if (sock->rst_owed && sock_rx_bytes(sock) - sock->msg_partial == 0) {
		sock->rst_owed = false;
		sock_send_ctrl(sock, VSOCK_OP_RST, 0);
		return;
	}
	if (sock->state != SS_CONNECTED)
		return;
	delta = sock->fwd_cnt - sock->last_fwd_sent;
	peer_view = vsock_credit_free(sock->buf_alloc, sock->rx_cnt, sock->last_fwd_sent);
	if (delta && peer_view < low && (delta >= low || sock_rx_bytes(sock) == 0))
		sock_send_ctrl(sock, VSOCK_OP_CREDIT_UPDATE, 0);
}

/* ------------------------------------------------------------------------
 * Ending connections
 * ------------------------------------------------------------------------ */

static void accept_queue_unlink(struct vsock_sock *child)
{
	struct vsock_sock *parent = child->parent, **link = &parent->accept_head;

	while (*link && *link != child)
		link = &(*link)->accept_next;
	if (*link) {
		*link = child->accept_next;
		parent->accept_len--;
	}
	parent->accept_tail = NULL;
	for (struct vsock_sock *s = parent->accept_head; s; s = s->accept_next)
		parent->accept_tail = s;
	child->parent = NULL;
	child->accept_next = NULL;
}

/*
 * The connection is over: optionally tell the peer (RST), leave the table,
 * record `error` (positive errno, 0 for a clean end) for the application.
 * A socket nobody holds any more is freed: do not touch it afterwards.
 */
void sock_reset(struct vsock_sock *sock, int error, bool send_rst)
{
	tx_msg_drop(sock); /* the connection is over: so is its message */
	if (send_rst && (sock->in_table || sock->rst_owed))
		sock_send_ctrl(sock, VSOCK_OP_RST, 0);
	sock_table_remove(sock);
	sock->rst_owed = false;
	sock->state = SS_DISCONNECTED;
	sock->shut_peer = VSOCK_SHUTDOWN_BOTH;
	if (error && !sock->error)
		sock->error = error;
	if (!sock->user_open) {
		if (sock->parent)
			accept_queue_unlink(sock);
		sock_rx_discard(sock);
		sock_release_if_unused(sock);
		return;
	}
	sock_notify(sock);
}

/* A listener goes away: its unaccepted connections are refused (RST). */
void sock_close_listener(struct vsock_sock *sock)
{
	while (sock->accept_head) {
		struct vsock_sock *child = sock->accept_head;

		accept_queue_unlink(child);
		sock_reset(child, ECONNRESET, true);
	}
	sock->state = SS_DISCONNECTED;
}

void sock_timeout(struct vsock_sock *sock, uint64_t now_ns)
{
	if (now_ns < sock->deadline_ns)
		return;
	if (sock->state == SS_CONNECTING) {
		sock_reset(sock, ETIMEDOUT, true);
	} else if (sock->state == SS_CLOSING) {
		/* The peer never answered our SHUTDOWN: end it ourselves. */
		sock_reset(sock, 0, true);
	}
}

uint64_t vsock_core_tick(struct vsock_core *core, uint64_t now_ns)
{
	uint64_t next = PLATFORM_FOREVER;
	struct vsock_sock *sock, *following;

	platform_lock();
	core_tx_flush(core);
	for (sock = core->socks; sock; sock = following) {
		following = sock->next; /* sock may be freed */
		if (sock->state != SS_CONNECTING && sock->state != SS_CLOSING)
			continue;
		sock_timeout(sock, now_ns);
	}
	for (sock = core->socks; sock; sock = sock->next)
		if ((sock->state == SS_CONNECTING || sock->state == SS_CLOSING) &&
		    sock->deadline_ns < next)
			next = sock->deadline_ns;
	platform_unlock();
	return next;
}

/*
 * TRANSPORT_RESET (DESIGN §4): the device lost every connection.  Connected
 * and connecting sockets see ECONNRESET, lingering ones are freed,
 * listeners stay and take the CID the device reports now.
 */
void vsock_core_transport_reset(struct vsock_core *core)
{
	struct vsock_sock *sock, *following;
	uint64_t old_cid = core->local_cid;

	core->local_cid = core->ops->local_cid(core->ctx);
	core->ctrl_count = 0; /* packets for connections that no longer exist */
	core->tx_full = false;
	for (sock = core->socks; sock; sock = following) {
		following = sock->next; /* sock_reset frees at most sock */
		if (sock->state == SS_LISTEN || sock->state == SS_UNCONNECTED) {
			sock->local.cid = core->local_cid;
			continue;
		}
		if (sock->state == SS_DISCONNECTED) {
			sock->rst_owed = false;
			continue;
		}
		sock_reset(sock, ECONNRESET, false);
	}
	log_printf("vsock: transport reset, cid %llu -> %llu\n", (unsigned long long)old_cid,
	           (unsigned long long)core->local_cid);
	core_wake_pollers(core);
}

/* ---- SEQPACKET messages on their way out (seqpacket.c: the receive side) ---- */

void sock_msgs_forget(struct vsock_sock *sock)
{
	free(sock->msgs);
	sock->msgs = NULL;
	sock->msg_head = sock->msg_count = sock->msg_partial = 0;
}

/* Drops the part of a message the transport has not taken (reset). */
static void tx_msg_drop(struct vsock_sock *sock)
{
	if (!sock->tx_msg)
		return;
	free(sock->tx_msg);
	sock->tx_msg = NULL;
	sock->tx_msg_len = sock->tx_msg_off = 0;
	sock->core->tx_msgs_pending--;
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
		uint32_t flags = *off + chunk == len ? VSOCK_SEQ_EOM | (eor ? VSOCK_SEQ_EOR : 0u) :
		                                       0u;
		int err = sock_send_rw(sock, buf + *off, chunk, flags);

		if (err < 0)
			return err;
		*off += chunk;
	} while (*off < len);
	return 0;
}

int sock_send_message(struct vsock_sock *sock, const uint8_t *buf, size_t len, bool eor)
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

static bool messages_tx_flush(struct vsock_core *core)
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
