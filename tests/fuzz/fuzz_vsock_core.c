/*
 * fuzz_vsock_core.c -- libFuzzer target: the portable vsock core (vsock/)
 * against a hostile device and peer.  Packets from the input go into
 * vsock_core_rx() as the transport would hand them over; socket calls
 * from the input play the application; a fake transport records what the
 * core sends and refuses with -EAGAIN when told to.
 *
 * The input is a list of commands (one byte, then its bytes):
 *   0  a packet: header fields picked from the input (CIDs, ports, op,
 *      type, flags, credit) and up to 8 KiB of payload, len sometimes lying
 *   1  listen on one of four ports          2  connect to the peer
 *   3  accept                               4  send N bytes
 *   5  receive N bytes                      6  shutdown
 *   7  close                                8  abort
 *   9  time passes, timers run              10 transport reset (maybe a new CID)
 *   11 the transport refuses the next N sends (then tx_ready)
 *   12 the peer answers the core's last packet (handshakes, credit, data)
 *   13 poll every socket                    14 set a socket's buf_alloc
 *
 * After every command the core's state must be consistent (check_core):
 * counters match the tables, receive buffers match their counters and
 * stay within buf_alloc, no two connections share a 4-tuple, accept
 * queues are well formed, every handle the application holds is alive; and
 * every RW packet the core sends fits the credit the peer gave (fake_send).
 * At the end every handle is closed and time runs out: nothing may be left.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_platform.h"
#include "vsock/internal.h"

#define LOCAL_CID   3
#define HANDLES     16
#define PAYLOAD_MAX 8192

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_vsock_core: %s\n", what);
	abort();
}

#define ASSERT(cond)                                  \
	do {                                          \
		if (!(cond))                          \
			fail("check failed: " #cond); \
	} while (0)

/* ---- the fake transport ---- */

struct fake {
	struct vsock_transport_ops ops;
	struct vsock_core *core;      /* whose sends these are */
	uint64_t cid;                 /* local_cid() */
	unsigned refuse;              /* sends still to refuse with -EAGAIN */
	bool have_last;               /* last is valid */
	struct vsock_hdr_fields last; /* the last packet sent */
	uint64_t sent;                /* packets sent */
};

static struct fake fake;

static uint64_t fake_cid(void *ctx)
{
	return fake.cid;
}

static struct vsock_sock *find(struct vsock_core *core, const struct vsock_hdr_fields *f)
{
	for (struct vsock_sock *s = core->socks; s; s = s->next)
		if (s->in_table && s->local.port == f->src_port && s->peer.port == f->dst_port &&
		    s->peer.cid == f->dst_cid)
			return s;
	return NULL;
}

static int fake_send(void *ctx, const struct vsock_hdr *hdr, const void *payload, size_t len)
{
	struct vsock_hdr_fields f;

	if (fake.refuse) {
		fake.refuse--;
		return -EAGAIN;
	}
	vsock_hdr_decode(&f, hdr);
	ASSERT(f.len == len);
	ASSERT(len <= fake.ops.max_payload);
	ASSERT(f.src_cid == fake.core->local_cid);
	if (f.op == VSOCK_OP_RW) {
		struct vsock_sock *s = find(fake.core, &f);

		ASSERT(len > 0 && payload);
		ASSERT(s != NULL); /* data only on a connection */
		ASSERT(s->state == SS_CONNECTED);
		ASSERT(len <= sock_tx_credit(s)); /* never beyond the peer's window */
	} else {
		ASSERT(len == 0);
		ASSERT(f.op != VSOCK_OP_INVALID && f.op <= VSOCK_OP_MAX);
	}
	fake.last = f;
	fake.have_last = true;
	fake.sent++;
	return 0;
}

/* ---- invariants ---- */

static struct vsock_sock *handles[HANDLES];

static void check_core(struct vsock_core *core)
{
	struct vsock_stats st;
	size_t sockets = 0, conns = 0, rx_mem = 0;

	vsock_core_stats(core, &st);
	platform_lock();
	for (struct vsock_sock *s = core->socks; s; s = s->next) {
		size_t bytes = 0, accepted = 0;

		sockets++;
		ASSERT(s->core == core);
		ASSERT(!s->next || s->next->prev == s);
		conns += s->in_table;
		for (struct rx_chunk *c = s->rx_head; c; c = c->next) {
			ASSERT(c->start <= c->end && c->end <= VSOCK_RX_CHUNK);
			ASSERT(c->next || c == s->rx_tail);
			bytes += c->end - c->start;
			rx_mem += sizeof(*c);
		}
		ASSERT(!s->rx_tail || !s->rx_tail->next);
		ASSERT(bytes == sock_rx_bytes(s));        /* credit counters match the buffer */
		ASSERT(sock_rx_bytes(s) <= s->buf_alloc); /* never past our window */
		ASSERT(sock_tx_credit(s) <= s->peer_buf_alloc);
		if (s->in_table) {
			ASSERT(s->state == SS_CONNECTING || s->state == SS_CONNECTED ||
			       s->state == SS_CLOSING);
			for (struct vsock_sock *o = s->next; o; o = o->next)
				ASSERT(!(o->in_table && o->local.port == s->local.port &&
				         o->peer.port == s->peer.port &&
				         o->peer.cid == s->peer.cid));
		}
		if (s->state == SS_LISTEN) {
			ASSERT(!s->in_table);
			for (struct vsock_sock *c = s->accept_head; c; c = c->accept_next) {
				ASSERT(c->parent == s && !c->user_open);
				ASSERT(c->accept_next || c == s->accept_tail);
				accepted++;
			}
			ASSERT(accepted == s->accept_len && accepted <= s->backlog);
		}
		if (!s->user_open)
			ASSERT(s->in_table || s->parent); /* or it should have been freed */
	}
	for (int i = 0; i < HANDLES; i++) {
		bool found = false;

		if (!handles[i])
			continue;
		for (struct vsock_sock *s = core->socks; s && !found; s = s->next)
			found = s == handles[i];
		ASSERT(found && handles[i]->user_open); /* what we hold is alive */
	}
	ASSERT(core->ctrl_count <= core->cfg.max_ctrl_queue);
	platform_unlock();
	ASSERT(sockets == st.sockets);
	ASSERT(conns == st.conns);
	ASSERT(conns <= core->cfg.max_conns);
	ASSERT(rx_mem == st.rx_mem);
}

/* ---- commands ---- */

static const uint32_t ports[] = { 1024, 1025, 1026, 1027 };

static int free_slot(void)
{
	for (int i = 0; i < HANDLES; i++)
		if (!handles[i])
			return i;
	return -1;
}

static struct vsock_sock *held(struct fuzz_input *in, int *slot)
{
	*slot = (int)(fuzz_byte(in) % HANDLES);
	return handles[*slot];
}

static void inject(struct vsock_core *core, struct fuzz_input *in)
{
	static uint8_t payload[PAYLOAD_MAX];
	struct vsock_hdr_fields f = { 0 };
	struct vsock_hdr hdr;
	unsigned pick = fuzz_byte(in), n;
	size_t len;

	f.src_cid = pick & 1 ? VSOCK_CID_HOST : pick & 2 ? 5 : fuzz_u32(in);
	f.dst_cid = pick & 4 ? LOCAL_CID : pick & 8 ? core->local_cid : fuzz_u32(in);
	f.src_port = pick & 16 ? 6000 + fuzz_byte(in) % 4 : fuzz_u32(in);
	n = fuzz_byte(in);
	if (n < 128)
		f.dst_port = ports[n % 4];
	else if (n < 250 && handles[n % HANDLES])
		f.dst_port = handles[n % HANDLES]->local.port;
	else
		f.dst_port = fuzz_u32(in);
	f.op = (uint16_t)(fuzz_byte(in) % 9);
	f.type = pick & 32 ? VSOCK_TYPE_STREAM : (uint16_t)fuzz_byte(in) % 4;
	f.flags = pick & 64 ? fuzz_byte(in) % 4 : fuzz_u32(in);
	f.buf_alloc = pick & 128 ? 256u << 10 : fuzz_u32(in);
	f.fwd_cnt = fuzz_u32(in);
	len = (size_t)fuzz_byte(in) << 5 | fuzz_byte(in) % 32;
	if (len > PAYLOAD_MAX)
		len = PAYLOAD_MAX;
	for (size_t i = 0; i < len; i++)
		payload[i] = (uint8_t)(i * 7 + pick);
	f.len = fuzz_byte(in) == 255 ? fuzz_u32(in) : (uint32_t)len; /* sometimes lying */
	vsock_hdr_encode(&hdr, &f);
	platform_lock();
	vsock_core_rx(core, &hdr, len ? payload : NULL, len);
	platform_unlock();
}

/* The peer answers the last thing the core sent, as a peer would. */
static void answer(struct vsock_core *core, struct fuzz_input *in)
{
	static const uint16_t ops[] = { VSOCK_OP_RESPONSE, VSOCK_OP_RW,  VSOCK_OP_CREDIT_UPDATE,
		                        VSOCK_OP_SHUTDOWN, VSOCK_OP_RST, VSOCK_OP_CREDIT_REQUEST,
		                        VSOCK_OP_REQUEST };
	static uint8_t payload[PAYLOAD_MAX];
	struct vsock_hdr_fields f;
	struct vsock_hdr hdr;
	struct vsock_sock *s;
	size_t len = 0;

	if (!fake.have_last)
		return;
	f = (struct vsock_hdr_fields){
		.src_cid = fake.last.dst_cid,
		.dst_cid = fake.last.src_cid,
		.src_port = fake.last.dst_port,
		.dst_port = fake.last.src_port,
		.type = fake.last.type,
		.op = ops[fuzz_byte(in) % 7],
		.buf_alloc = 256u << 10,
	};
	platform_lock();
	s = find(core, &fake.last);
	f.fwd_cnt = s ? s->tx_cnt : 0; /* the peer read everything we sent */
	platform_unlock();
	if (f.op == VSOCK_OP_SHUTDOWN)
		f.flags = fuzz_byte(in) % 4;
	if (f.op == VSOCK_OP_RW) {
		len = (size_t)fuzz_byte(in) << 5;
		if (len > PAYLOAD_MAX)
			len = PAYLOAD_MAX;
		memset(payload, 'a' + (int)(len % 26), len);
	}
	f.len = (uint32_t)len;
	vsock_hdr_encode(&hdr, &f);
	platform_lock();
	vsock_core_rx(core, &hdr, len ? payload : NULL, len);
	platform_unlock();
}

static void command(struct vsock_core *core, struct fuzz_input *in)
{
	static uint8_t buf[1 << 16];
	struct vsock_sock *s;
	int slot;

	unsigned op = fuzz_byte(in) % 15;

	switch (op) {
	case 0:
		inject(core, in);
		break;
	case 1: {
		struct vsock_addr addr = { VSOCK_CID_ANY, ports[fuzz_byte(in) % 4] };
		int i = free_slot();

		if (i < 0 || vsock_socket(core, VSOCK_TYPE_STREAM, &s))
			break;
		if (vsock_bind(s, &addr) || vsock_listen(s, (int)fuzz_byte(in) % 6)) {
			vsock_close(s);
			break;
		}
		handles[i] = s;
		break;
	}
	case 2: {
		struct vsock_addr addr = { fuzz_byte(in) & 1 ? VSOCK_CID_HOST : 5,
			                   6000 + fuzz_byte(in) % 4 };
		int i = free_slot();

		if (i < 0 || vsock_socket(core, VSOCK_TYPE_STREAM, &s))
			break;
		handles[i] = s;
		vsock_connect(s, &addr, VSOCK_DONTWAIT);
		break;
	}
	case 3: {
		struct vsock_sock *child;
		int i;

		s = held(in, &slot);
		i = free_slot();
		if (s && i >= 0 && vsock_accept(s, &child, NULL, VSOCK_DONTWAIT) == 0)
			handles[i] = child;
		break;
	}
	case 4: {
		size_t len = fuzz_u16(in);

		s = held(in, &slot);
		if (s) {
			memset(buf, 'x', len);
			vsock_send(s, buf, len, VSOCK_DONTWAIT);
		}
		break;
	}
	case 5: {
		size_t len = fuzz_u16(in);

		s = held(in, &slot);
		if (s)
			vsock_recv(s, buf, len, VSOCK_DONTWAIT);
		break;
	}
	case 6: {
		int how = (int)fuzz_byte(in) % 5;

		s = held(in, &slot);
		if (s)
			vsock_shutdown(s, how);
		break;
	}
	case 7:
	case 8:
		s = held(in, &slot);
		if (s) {
			if (op == 8)
				vsock_abort(s);
			else
				vsock_close(s);
			handles[slot] = NULL;
		}
		break;
	case 9:
		fuzz_advance(1ull << (fuzz_byte(in) % 35));
		vsock_core_tick(core, platform_now_ns());
		break;
	case 10:
		if (fuzz_byte(in) & 1)
			fake.cid = 3 + fuzz_byte(in) % 3;
		platform_lock();
		vsock_core_transport_reset(core);
		platform_unlock();
		break;
	case 11:
		fake.refuse = fuzz_byte(in) % 8;
		platform_lock();
		if (!fake.refuse)
			vsock_core_tx_ready(core);
		platform_unlock();
		break;
	case 12:
		answer(core, in);
		break;
	case 13: {
		struct vsock_pollfd fds[HANDLES];

		for (int i = 0; i < HANDLES; i++)
			fds[i] = (struct vsock_pollfd){ .sock = handles[i],
				                        .events = VSOCK_POLLIN | VSOCK_POLLOUT };
		vsock_poll(fds, HANDLES, 0);
		break;
	}
	case 14: {
		uint32_t value = fuzz_u32(in);

		s = held(in, &slot);
		if (s)
			vsock_setopt(s, VSOCK_OPT_BUF_ALLOC, value % (1u << 21));
		break;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	struct vsock_config cfg;
	struct vsock_core *core;
	struct vsock_stats st;
	unsigned commands = 0;

	fuzz_platform_reset();
	memset(&fake, 0, sizeof(fake));
	memset(handles, 0, sizeof(handles));
	fake.ops.local_cid = fake_cid;
	fake.ops.send = fake_send;
	fake.cid = LOCAL_CID;
	vsock_config_defaults(&cfg);
	/* small limits, reached quickly: the input's first bytes pick them */
	cfg.max_conns = 2 + fuzz_byte(&in) % 16;
	cfg.max_ctrl_queue = 1 + fuzz_byte(&in) % 16;
	cfg.buf_alloc = 1u << (8 + fuzz_byte(&in) % 11);
	fake.ops.max_payload = (size_t)1 << (fuzz_byte(&in) % 13);
	if (vsock_core_create(&core, &fake.ops, &fake, &cfg))
		abort();
	fake.core = core;
	while (in.left && commands++ < 512) {
		command(core, &in);
		check_core(core);
	}
	for (int i = 0; i < HANDLES; i++)
		if (handles[i])
			vsock_close(handles[i]);
	memset(handles, 0, sizeof(handles));
	fake.refuse = 0;
	platform_lock();
	vsock_core_tx_ready(core);
	platform_unlock();
	fuzz_advance(60 * 1000000000ull); /* lingering closes and connects time out */
	vsock_core_tick(core, platform_now_ns());
	check_core(core);
	vsock_core_stats(core, &st);
	ASSERT(st.conns == 0 && st.sockets == 0 && st.rx_mem == 0); /* nothing leaked */
	vsock_core_destroy(core);
	return 0;
}
