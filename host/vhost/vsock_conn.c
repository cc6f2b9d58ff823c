/*
 * vsock_conn.c -- host-side vsock connections and their Unix sockets: the
 * hybrid CONNECT handshake, the guest→host byte buffer with its credit, half
 * close mapped to shutdown(2) (DESIGN §4 credit rules, §6; Firecracker
 * docs/vsock.md for the CONNECT/OK lines).
 */
#include "host/vhost/vsock_conn.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "host/vhost/forward.h"
#include "host/vhost/hybrid.h"
#include "host/vhost/log.h"
#include "host/vhost/virtq.h"
#include "host/vhost/vsock_seq.h"

/* Destroyed connections (linked by their `all` node), freed after the
 * loop batch: no bound, however many one event destroys. */
static struct list_node dead_conns = { &dead_conns, &dead_conns };

static unsigned bucket_of(uint32_t local_port, uint32_t peer_port)
{
	return (local_port * 2654435761u ^ peer_port * 40503u) % CONN_BUCKETS;
}

void conn_table_init(struct conn_table *table, uint64_t cid, const char *uds_path,
                     uint32_t buf_alloc, unsigned max_conns, const struct conn_table_ops *ops)
{
	memset(table, 0, sizeof(*table));
	table->cid = cid;
	table->uds_path = uds_path;
	table->buf_alloc = buf_alloc;
	table->next_port = HOST_PORT_BASE;
	table->max_conns = max_conns;
	list_init(&table->all);
	list_init(&table->ready);
	list_init(&table->held);
	table->ops = ops;
}

struct vsock_conn *conn_lookup(struct conn_table *table, uint32_t local_port, uint32_t peer_port)
{
	struct vsock_conn *c = table->bucket[bucket_of(local_port, peer_port)];
	for (; c; c = c->hash_next)
		if (c->local_port == local_port && c->peer_port == peer_port)
			return c;
	return NULL;
}

static void hash_insert(struct vsock_conn *conn)
{
	struct vsock_conn **b = &conn->table->bucket[bucket_of(conn->local_port, conn->peer_port)];
	conn->hash_next = *b;
	*b = conn;
}

static void hash_remove(struct vsock_conn *conn)
{
	struct vsock_conn **p = &conn->table->bucket[bucket_of(conn->local_port, conn->peer_port)];
	for (; *p; p = &(*p)->hash_next) {
		if (*p == conn) {
			*p = conn->hash_next;
			return;
		}
	}
}

void conn_free_dead(void)
{
	struct list_node *pos, *tmp;
	list_for_each_safe (pos, tmp, &dead_conns) {
		struct vsock_conn *conn = list_entry(pos, struct vsock_conn, all);
		list_del(pos);
		seq_free(conn);
		free(conn->buf);
		free(conn);
	}
}

void conn_destroy(struct vsock_conn *conn)
{
	if (conn->state == CONN_DEAD)
		return;
	if (conn->state != CONN_LINE)
		hash_remove(conn);
	list_del(&conn->all);
	conn->table->count--;
	if (list_linked(&conn->ready))
		list_del(&conn->ready);
	if (list_linked(&conn->held_node))
		list_del(&conn->held_node);
	if (conn->ev.fd >= 0) {
		loop_del(&conn->ev);
		close(conn->ev.fd);
		conn->ev.fd = -1;
	}
	conn->state = CONN_DEAD;
	list_add_tail(&dead_conns, &conn->all);
}

void conn_reset(struct vsock_conn *conn, const char *why)
{
	if (why)
		log_peer(conn->table->log, LOG_CONN, "reset %u<->%u: %s", conn->local_port,
		         conn->peer_port, why);
	if (conn->state != CONN_LINE) {
		struct vsock_hdr h = {
			.src_cid = conn->table->cid,
			.dst_cid = VSOCK_CID_HOST,
			.src_port = conn->peer_port,
			.dst_port = conn->local_port,
			.type = conn->seqpacket ? VSOCK_TYPE_SEQPACKET : VSOCK_TYPE_STREAM,
			.op = VSOCK_OP_SHUTDOWN,
		};
		/* send_rst answers a guest packet; describe the
		 * tuple as the guest would have sent it. */
		conn->table->ops->send_rst(conn->table, &h);
	}
	conn_destroy(conn);
}

static bool conn_can_send_data(const struct vsock_conn *conn)
{
	return conn->state == CONN_ESTABLISHED && !conn->rd_eof && !conn->held &&
	       !(conn->peer_shutdown & VSOCK_SHUTDOWN_RCV) && conn_peer_credit(conn) > 0;
}

void conn_refresh(struct vsock_conn *conn)
{
	if (conn->state == CONN_DEAD)
		return;
	uint32_t events = 0;
	if (conn->state == CONN_LINE) {
		events = EPOLLIN;
	} else if (conn->state == CONN_DIALING) {
		events = EPOLLOUT;
	} else if (conn->state == CONN_ESTABLISHED && !conn->hup) {
		if (!conn->data_ready && conn_can_send_data(conn))
			events |= EPOLLIN;
		/* (SEQPACKET: only whole messages can go) */
		if (conn->seqpacket ? seq_flush_pending(conn) : conn->buf_used != 0)
			events |= EPOLLOUT;
	}
	if (conn->ev.fd >= 0 && !conn->hup && loop_set(&conn->ev, events) < 0)
		log_peer(conn->table->log, LOG_CONN, "epoll: cannot watch a connection");
	bool work = conn->pending || (conn->data_ready && conn_can_send_data(conn));
	if (work && !list_linked(&conn->ready)) {
		list_add_tail(&conn->table->ready, &conn->ready);
		conn->table->ops->rx_ready(conn->table);
	} else if (!work && list_linked(&conn->ready)) {
		list_del(&conn->ready);
	}
}

void conn_held_expire(struct conn_table *table, uint64_t now)
{
	struct list_node *pos, *tmp;
	list_for_each_safe (pos, tmp, &table->held) {
		struct vsock_conn *conn = list_entry(pos, struct vsock_conn, held_node);
		if ((int64_t)(now - conn->held_until_ms) < 0) {
			loop_wake_at(conn->held_until_ms);
			continue;
		}
		conn_unhold(conn);
		conn->coalesce_off = true; /* what waited goes as it is */
		conn_refresh(conn);
	}
}

/* ---- guest → host bytes ------------------------------------------------- */

/* Writes buffered bytes to the Unix socket; negative errno when it broke. */
static int conn_flush(struct vsock_conn *conn)
{
	if (conn->seqpacket) {
		const char *why = NULL;
		int err = seq_flush(conn, &why);
		if (err < 0)
			conn_reset(conn, why);
		return err;
	}
	while (conn->buf_used) {
		struct iovec iov[2];
		uint32_t first = conn->buf_alloc - conn->buf_head;
		if (first > conn->buf_used)
			first = conn->buf_used;
		iov[0].iov_base = conn->buf + conn->buf_head;
		iov[0].iov_len = first;
		iov[1].iov_base = conn->buf;
		iov[1].iov_len = conn->buf_used - first;
		ssize_t w = writev(conn->ev.fd, iov, iov[1].iov_len ? 2 : 1);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		conn->buf_head = (conn->buf_head + (uint32_t)w) % conn->buf_alloc;
		conn->buf_used -= (uint32_t)w;
		conn->fwd_cnt += (uint32_t)w;
	}
	if (!conn->buf_used)
		conn->buf_head = 0;
	conn_maybe_credit_update(conn);
	return 0;
}

int conn_from_guest_data(struct vsock_conn *conn, const struct iovec *iov, unsigned n, size_t skip,
                         uint32_t len, uint32_t flags)
{
	/* The guest may use only the credit it has heard of (fwd_cnt_sent);
	 * that also bounds what our buffer must hold. */
	uint32_t free_space = conn->buf_alloc - (conn->rx_cnt - conn->fwd_cnt_sent);
	if (len > free_space) {
		conn_reset(conn, "guest sent past our credit");
		return -ENOBUFS;
	}
	if (conn->peer_shutdown & VSOCK_SHUTDOWN_SEND) {
		conn_reset(conn, "guest sent after shutting down");
		return -EPIPE;
	}
	conn->rx_cnt += len;
	if (conn->seqpacket) {
		const char *why = NULL;
		int err = seq_from_guest(conn, iov, n, skip, len, flags, &why);
		if (err < 0)
			conn_reset(conn, why);
		return err;
	}
	if (conn->hup || conn->wr_shut) { /* nobody can read it any more */
		conn->fwd_cnt += len;
		conn_maybe_credit_update(conn);
		return 0;
	}
	size_t done = 0;
	if (conn->buf_used == 0) {
		struct iovec slice[VQ_MAX_IOV];
		unsigned k = iov_slice(iov, n, skip, len, slice, VQ_MAX_IOV);
		ssize_t w = k ? writev(conn->ev.fd, slice, (int)k) : 0;
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			conn_reset(conn, "Unix socket write failed");
			return -EPIPE;
		}
		if (w > 0) {
			done = (size_t)w;
			conn->fwd_cnt += (uint32_t)w;
		}
	}
	/* The rest waits in the ring (it fits: credit). */
	if (done < len &&
	    conn_buffer_guest_bytes(conn, iov, n, skip + done, len - (uint32_t)done) < 0) {
		conn_reset(conn, "out of memory");
		return -ENOMEM;
	}
	conn_maybe_credit_update(conn);
	return 0;
}

void conn_check_shutdown(struct vsock_conn *conn)
{
	if (conn->state == CONN_DEAD)
		return;
	if (conn->seqpacket)
		seq_guest_done(conn);
	if (conn->buf_used)
		return;
	if ((conn->peer_shutdown & VSOCK_SHUTDOWN_SEND) && !conn->wr_shut) {
		conn->wr_shut = true;
		if (!conn->hup)
			shutdown(conn->ev.fd, SHUT_WR);
	}
	/* Both directions closed by the guest: finish with RST, as Linux
	 * expects from the side that closes last. */
	if (conn->peer_shutdown == (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND))
		conn_reset(conn, NULL);
}

/* ---- the Unix socket side ----------------------------------------------- */

static void conn_set_hup(struct vsock_conn *conn)
{
	conn->hup = true;
	/* Nothing can flow to the host any more: the guest gets its SHUTDOWN
	 * and a little while to close (conn_expire). */
	conn->deadline_ms = loop_now_ms() + SHUTDOWN_TIMEOUT_MS;
	loop_del(&conn->ev);
	/* The peer is gone: buffered guest bytes cannot be delivered. */
	conn->fwd_cnt += conn->buf_used;
	conn->buf_used = 0;
	conn->seq_count = 0;
	conn->seq_partial = 0;
	conn->data_ready = true; /* reads no longer block: data or EOF */
	if (conn->rd_eof && !(conn->shutdown_flags & VSOCK_SHUTDOWN_RCV)) {
		conn->shutdown_flags |= VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
		conn->pending |= PEND_SHUTDOWN;
	}
}

/* A host-side socket wants guest port `port`: picks our local port and
 * owes the guest a REQUEST; -EADDRINUSE when no local port is free. */
static int conn_start_request(struct vsock_conn *conn, uint32_t port)
{
	struct conn_table *table = conn->table;
	conn->peer_port = port;
	for (unsigned tries = 0;; tries++) {
		if (tries > 1u << 16)
			return -EADDRINUSE;
		uint32_t p32 = table->next_port++;
		if (table->next_port < HOST_PORT_BASE)
			table->next_port = HOST_PORT_BASE;
		if (!conn_lookup(table, p32, conn->peer_port)) {
			conn->local_port = p32;
			break;
		}
	}
	hash_insert(conn);
	conn->state = CONN_CONNECTING;
	conn->deadline_ms = loop_now_ms() + CONNECT_TIMEOUT_MS;
	conn->pending |= PEND_REQUEST;
	return 0;
}

/* Parses the CONNECT line once complete; negative errno closes. */
static int conn_parse_line(struct vsock_conn *conn)
{
	uint32_t port;
	size_t used;
	int r = hybrid_parse_connect(conn->line, conn->line_len, &port, &used);
	if (r == 0)
		return conn->line_len >= CONN_LINE_MAX ? -EPROTO : 0;
	if (r < 0)
		return r;
	conn->lead_off = (uint32_t)used;
	int err = conn_start_request(conn, port);
	if (err)
		return err;
	conn->data_ready = conn->lead_off < conn->line_len;
	return 0;
}

static void refuse_host(int fd, const char *why);

/* A SEQPACKET host program's CONNECT record: the port, or why not. */
static int conn_parse_record(struct vsock_conn *conn)
{
	uint32_t port;
	int r = seq_read_connect(conn, &port);
	if (r <= 0)
		return r == -ECONNRESET ? -ECONNRESET : r;
	if (conn->table->features && !(*conn->table->features & (1ull << VSOCK_F_SEQPACKET))) {
		log_peer(conn->table->log, LOG_HYBRID,
		         "SEQPACKET CONNECT %u refused: the "
		         "guest's driver did not negotiate SEQPACKET",
		         port);
		refuse_host(conn->ev.fd, "the guest did not negotiate SEQPACKET");
		return -ECONNRESET;
	}
	return conn_start_request(conn, port);
}

static void conn_read_line(struct vsock_conn *conn)
{
	int err;
	if (conn->seqpacket) {
		err = conn_parse_record(conn);
		if (err == -ECONNRESET) {
			conn_destroy(conn);
			return;
		}
	} else {
		ssize_t r = recv(conn->ev.fd, conn->line + conn->line_len,
		                 CONN_LINE_MAX - conn->line_len, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r <= 0) {
			conn_destroy(conn);
			return;
		}
		conn->line_len += (uint32_t)r;
		err = conn_parse_line(conn);
	}
	if (err == -EADDRINUSE) {
		log_peer(conn->table->log, LOG_HYBRID, "no free local port for a host program");
		refuse_host(conn->ev.fd, "no free local port");
		conn_destroy(conn);
	} else if (err) {
		/* What the program sent is its choice: shown escaped. */
		char text[4 * LOG_ESCAPED_MAX + 4];
		char *nl = memchr(conn->line, '\n', conn->line_len);
		size_t len = nl ? (size_t)(nl - conn->line) : conn->line_len;
		log_peer(conn->table->log, LOG_HYBRID,
		         "bad CONNECT line from a host program: \"%s\"",
		         log_escape(text, sizeof(text), conn->line, len));
		conn_destroy(conn); /* closed without a word, as before */
	}
}

void conn_established(struct vsock_conn *conn)
{
	char ok[32];
	int n = snprintf(ok, sizeof(ok), "OK %u\n", conn->local_port);
	conn->state = CONN_ESTABLISHED;
	if (conn->hup || !conn->hybrid)
		return;
	/* A fresh socket has room for a line; anything else is broken. */
	if (send(conn->ev.fd, ok, (size_t)n, MSG_NOSIGNAL) != n)
		conn_reset(conn, "cannot write OK line");
}

/* Our connect to forward_cid:P finished: RESPONSE to the guest, or RST. */
static void conn_dialed(struct vsock_conn *conn)
{
	int err = forward_connect_result(conn->ev.fd);
	if (err) {
		log_peer(conn->table->log, LOG_CONN,
		         "guest %llu:%u -> host %u: AF_VSOCK connect to cid %u port %u: %s; RST",
		         (unsigned long long)conn->table->cid, conn->peer_port, conn->local_port,
		         conn->table->forward_cid, conn->local_port, strerror(-err));
		conn_reset(conn, NULL);
		return;
	}
	conn->state = CONN_ESTABLISHED;
	conn->pending |= PEND_RESPONSE;
	conn_refresh(conn);
}

void conn_refused_by_guest(struct vsock_conn *conn)
{
	char why[96];
	log_peer(conn->table->log, LOG_CONN,
	         "host 2:%u -> guest %llu:%u: the guest answered RST: no listener on guest "
	         "port %u",
	         conn->local_port, (unsigned long long)conn->table->cid, conn->peer_port,
	         conn->peer_port);
	if (conn->hybrid && !conn->hup) {
		snprintf(why, sizeof(why), "connection refused: no listener on guest port %u",
		         conn->peer_port);
		refuse_host(conn->ev.fd, why);
	}
	conn_destroy(conn);
}

static int compare_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

void conn_host_listeners(const char *uds_path, char *buf, size_t size)
{
	enum {
		MAX_SHOWN = 16,
		MAX_ENTRIES = 4096
	};
	uint32_t ports[MAX_SHOWN];
	unsigned n = 0, more = 0, seen = 0;
	char dir[256];
	const char *slash = strrchr(uds_path, '/');
	const char *base = slash ? slash + 1 : uds_path;
	size_t dir_len = slash ? (size_t)(slash - uds_path) : 0;
	snprintf(buf, size, "none");
	if (dir_len >= sizeof(dir))
		return;
	memcpy(dir, slash ? uds_path : ".", slash ? dir_len : 1);
	dir[slash ? dir_len : 1] = 0;
	if (slash && dir_len == 0)
		snprintf(dir, sizeof(dir), "/");
	DIR *d = opendir(dir);
	if (!d)
		return;
	size_t base_len = strlen(base);
	struct dirent *e;
	while ((e = readdir(d)) && seen++ < MAX_ENTRIES) {
		const char *name = e->d_name;
		if (strncmp(name, base, base_len) || name[base_len] != '_' ||
		    (e->d_type != DT_SOCK && e->d_type != DT_UNKNOWN))
			continue;
		char *end;
		unsigned long port = strtoul(name + base_len + 1, &end, 10);
		if (*end || end == name + base_len + 1 || port > UINT32_MAX)
			continue;
		if (n < MAX_SHOWN)
			ports[n++] = (uint32_t)port;
		else
			more++;
	}
	closedir(d);
	if (!n)
		return;
	qsort(ports, n, sizeof(ports[0]), compare_u32);
	size_t used = 0;
	for (unsigned i = 0; i < n && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%u", i ? ", " : "", ports[i]);
	if (more && used < size)
		snprintf(buf + used, size - used, " and %u more", more);
}

static void on_conn_event(struct ev_source *src, uint32_t events)
{
	struct vsock_conn *conn =
	        (struct vsock_conn *)((char *)src - offsetof(struct vsock_conn, ev));
	if (conn->state == CONN_LINE) {
		conn_read_line(conn);
		if (conn->state != CONN_DEAD)
			conn_refresh(conn);
		return;
	}
	if (conn->state == CONN_DIALING) {
		conn_dialed(conn);
		return;
	}
	if (events & EPOLLOUT) {
		if (conn_flush(conn) < 0) {
			conn_reset(conn, "Unix socket write failed");
			return;
		}
		conn_check_shutdown(conn);
		if (conn->state == CONN_DEAD)
			return;
	}
	if (events & EPOLLIN)
		conn->data_ready = true;
	if (events & (EPOLLHUP | EPOLLERR)) {
		if (conn->state == CONN_CONNECTING) {
			conn_reset(conn, NULL);
			return;
		}
		conn_set_hup(conn);
		conn_check_shutdown(conn);
	}
	conn_refresh(conn);
}

static struct vsock_conn *conn_new(struct conn_table *table, int fd, enum conn_state state)
{
	if (table->count >= table->max_conns)
		return NULL;
	struct vsock_conn *conn = calloc(1, sizeof(*conn));
	if (!conn)
		return NULL;
	conn->table = table;
	conn->ev.fd = fd;
	conn->ev.handle = on_conn_event;
	conn->state = state;
	conn->buf_alloc = table->buf_alloc;
	conn->deadline_ms = loop_now_ms() + CONNECT_TIMEOUT_MS;
	list_init(&conn->ready);
	list_init(&conn->held_node);
	list_add_tail(&table->all, &conn->all);
	table->count++;
	return conn;
}

/* Guest REQUEST with --forward-cid: connect AF_VSOCK forward_cid:P. */
static struct vsock_conn *conn_forward_guest(struct conn_table *table, const struct vsock_hdr *hdr)
{
	bool in_progress;
	if (hdr->type == VSOCK_TYPE_SEQPACKET) {
		/* Linux's non-blocking AF_VSOCK SEQPACKET send may send part of a
		 * message and still say EAGAIN (af_vsock.c): sending the rest, or
		 * all of it again, would break the message.  Not forwarded. */
		log_peer(table->log, LOG_CONN,
		         "guest %llu:%u -> host %u: SEQPACKET is not "
		         "forwarded to AF_VSOCK (--forward-cid); answered RST",
		         (unsigned long long)table->cid, hdr->src_port, hdr->dst_port);
		return NULL;
	}
	int fd = forward_connect(table->forward_cid, hdr->dst_port, SOCK_STREAM, &in_progress);
	if (fd < 0) {
		log_peer(table->log, LOG_CONN,
		         "guest %llu:%u -> host %u: AF_VSOCK connect to cid %u port %u: %s; RST",
		         (unsigned long long)table->cid, hdr->src_port, hdr->dst_port,
		         table->forward_cid, hdr->dst_port, strerror(-fd));
		return NULL;
	}
	struct vsock_conn *conn =
	        conn_new(table, fd, in_progress ? CONN_DIALING : CONN_ESTABLISHED);
	if (!conn) {
		close(fd);
		return NULL;
	}
	conn->local_port = hdr->dst_port;
	conn->peer_port = hdr->src_port;
	hash_insert(conn);
	if (!in_progress)
		conn->pending = PEND_RESPONSE;
	return conn;
}

struct vsock_conn *conn_from_guest(struct conn_table *table, const struct vsock_hdr *hdr)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (table->count >= table->max_conns) {
		log_peer(table->log, LOG_CONN,
		         "REQUEST to host port %u refused: %u connections (limit)", hdr->dst_port,
		         table->count);
		return NULL;
	}
	if (table->forward)
		return conn_forward_guest(table, hdr);
	int n = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s_%u", table->uds_path,
	                 hdr->dst_port);
	if (n < 0 || (size_t)n >= sizeof(addr.sun_path))
		return NULL;
	bool seqpacket = hdr->type == VSOCK_TYPE_SEQPACKET;
	int fd = socket(AF_UNIX,
	                (seqpacket ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC,
	                0);
	if (fd < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int err = errno;
		char ports[160] = "";
		/* The listing is gathered only for lines that will be shown. */
		if (log_peer_would_print(table->log, LOG_CONN))
			conn_host_listeners(table->uds_path, ports, sizeof(ports));
		if (err == EPROTOTYPE) /* a listener of the other type */
			log_peer(table->log, LOG_CONN,
			         "guest %llu:%u -> host 2:%u: %s is not a %s listener; answered "
			         "RST",
			         (unsigned long long)table->cid, hdr->src_port, hdr->dst_port,
			         addr.sun_path, seqpacket ? "SOCK_SEQPACKET" : "SOCK_STREAM");
		else
			log_peer(table->log, LOG_CONN,
			         "guest %llu:%u -> host 2:%u: no listener at %s (%s); answered "
			         "RST; host listeners: %s",
			         (unsigned long long)table->cid, hdr->src_port, hdr->dst_port,
			         addr.sun_path, strerror(err), ports);
		close(fd);
		return NULL;
	}
	struct vsock_conn *conn = conn_new(table, fd, CONN_ESTABLISHED);
	if (!conn) {
		close(fd);
		return NULL;
	}
	conn->seqpacket = seqpacket;
	if (seqpacket)
		seq_socket_setup(fd, conn->buf_alloc);
	conn->local_port = hdr->dst_port;
	conn->peer_port = hdr->src_port;
	hash_insert(conn);
	conn->pending = PEND_RESPONSE;
	return conn;
}

/* Tells a host program why its connection goes away (best effort: the
 * socket is fresh, so a short line fits). */
static void refuse_host(int fd, const char *why)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "ERROR %s\n", why);
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		return; /* it left already */
}

struct vsock_conn *conn_from_host(struct conn_table *table, int fd, bool seqpacket)
{
	if (table->count >= table->max_conns) {
		char why[96];
		snprintf(why, sizeof(why), "too many connections (limit %u)", table->max_conns);
		log_peer(table->log, LOG_HYBRID, "host program refused: %s", why);
		refuse_host(fd, why);
		return NULL;
	}
	struct vsock_conn *conn = conn_new(table, fd, CONN_LINE);
	if (!conn) {
		refuse_host(fd, "out of memory");
		return NULL;
	}
	conn->hybrid = true;
	conn->seqpacket = seqpacket;
	if (seqpacket)
		seq_socket_setup(fd, conn->buf_alloc);
	conn_refresh(conn);
	return conn;
}

struct vsock_conn *conn_from_forward(struct conn_table *table, int fd, uint32_t port)
{
	if (table->count >= table->max_conns) {
		log_peer(table->log, LOG_HYBRID,
		         "forwarded connection to guest port %u "
		         "refused: too many connections (limit %u)",
		         port, table->max_conns);
		return NULL;
	}
	struct vsock_conn *conn = conn_new(table, fd, CONN_LINE);
	if (!conn)
		return NULL;
	if (conn_start_request(conn, port) < 0) {
		conn->ev.fd = -1; /* the caller closes it */
		conn_destroy(conn);
		return NULL;
	}
	conn_refresh(conn);
	return conn;
}

void conn_expire(struct conn_table *table, uint64_t now)
{
	struct list_node *pos, *tmp;
	list_for_each_safe (pos, tmp, &table->all) {
		struct vsock_conn *conn = list_entry(pos, struct vsock_conn, all);
		bool lingering = conn->state == CONN_ESTABLISHED && conn->hup;
		if (conn->state != CONN_LINE && conn->state != CONN_CONNECTING &&
		    conn->state != CONN_DIALING && !lingering)
			continue;
		if ((int64_t)(now - conn->deadline_ms) < 0)
			continue;
		if (lingering) {
			char why[96];
			snprintf(why, sizeof(why),
			         "the guest did not close within %u ms of the "
			         "host's close",
			         SHUTDOWN_TIMEOUT_MS);
			conn_reset(conn, why);
			continue;
		}
		if (conn->hybrid && !conn->hup && conn->state == CONN_CONNECTING) {
			char why[96];
			snprintf(why, sizeof(why), "no answer from guest port %u within %u s",
			         conn->peer_port, CONNECT_TIMEOUT_MS / 1000);
			refuse_host(conn->ev.fd, why);
		}
		conn_reset(conn, "handshake timed out");
	}
}

void conn_shift_deadlines(struct conn_table *table, uint64_t delta_ms)
{
	struct list_node *pos;
	for (pos = table->all.next; pos != &table->all; pos = pos->next)
		list_entry(pos, struct vsock_conn, all)->deadline_ms += delta_ms;
}

void conn_table_drop(struct conn_table *table)
{
	struct list_node *pos, *tmp;
	list_for_each_safe (pos, tmp, &table->all)
		conn_destroy(list_entry(pos, struct vsock_conn, all));
}
