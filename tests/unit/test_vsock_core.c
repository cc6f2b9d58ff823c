/*
 * test_vsock_core.c -- the vsock protocol core over the loopback transport
 * and a recording fake transport, single-threaded: header codec, every op,
 * state transitions, credit (also across u32 wrap-around), RST rules,
 * backpressure, bounded memory, limits, transport reset.  Each test ends
 * with the connection table and the socket count back at zero.
 */
#include "tests/unit/vsock_fixture.h"

#include "vsock/internal.h"

/* Move `total` bytes from a to b with non-blocking calls, verifying them. */
static void transfer(struct pair *p, struct vsock_sock *a, struct vsock_sock *b, size_t total,
                     size_t read_chunk, uint32_t seed)
{
	static uint8_t out[70000], in[70000];
	size_t sent = 0, got = 0;
	int idle = 0;

	CHECK(read_chunk <= sizeof(in));
	while (got < total) {
		size_t n = total - sent < sizeof(out) ? total - sent : sizeof(out);
		ssize_t r;
		bool progress = false;

		for (size_t i = 0; i < n; i++)
			out[i] = pattern_byte(sent + i, seed);
		if (n) {
			r = vsock_send(a, out, n, VSOCK_DONTWAIT);
			CHECK(r > 0 || r == -EAGAIN);
			if (r > 0) {
				sent += (size_t)r;
				progress = true;
			}
		}
		if (pair_pump(p))
			progress = true;
		r = vsock_recv(b, in, read_chunk, VSOCK_DONTWAIT);
		CHECK(r > 0 || r == -EAGAIN);
		if (r > 0) {
			for (ssize_t i = 0; i < r; i++)
				if (in[i] != pattern_byte(got + (size_t)i, seed))
					CHECK(!"data corrupted");
			got += (size_t)r;
			progress = true;
		}
		pair_pump(p);
		idle = progress ? 0 : idle + 1;
		CHECK(idle < 3);
	}
	CHECK_EQ(sent, total);
}

TEST(wire_header_is_little_endian_at_fixed_offsets)
{
	struct vsock_hdr_fields f = {
		.src_cid = 0x0102030405060708ull, .dst_cid = 2, .src_port = 0x11223344,
		.dst_port = 1024, .len = 5, .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_RW,
		.flags = 0xa0b0c0d0, .buf_alloc = 262144, .fwd_cnt = 0xfffffffe,
	}, back;
	struct vsock_hdr hdr;
	const uint8_t *bytes = (const uint8_t *)&hdr;

	vsock_hdr_encode(&hdr, &f);
	CHECK_EQ(bytes[0], 0x08);
	CHECK_EQ(bytes[7], 0x01);
	CHECK_EQ(bytes[8], 2);
	CHECK_EQ(bytes[16], 0x44);
	CHECK_EQ(bytes[19], 0x11);
	CHECK_EQ(bytes[20], 0x00);
	CHECK_EQ(bytes[21], 0x04);
	CHECK_EQ(bytes[24], 5);
	CHECK_EQ(bytes[28], 1);
	CHECK_EQ(bytes[30], 5);
	CHECK_EQ(bytes[32], 0xd0);
	CHECK_EQ(bytes[38], 4);
	CHECK_EQ(bytes[40], 0xfe);
	vsock_hdr_decode(&back, &hdr);
	CHECK(memcmp(&back, &f, sizeof(f)) == 0);
	CHECK_EQ(vsock_hdr_dst_port(&hdr), 1024);
}

TEST(credit_arithmetic_wraps)
{
	CHECK_EQ(vsock_credit_free(1000, 0, 0), 1000);
	CHECK_EQ(vsock_credit_free(1000, 600, 100), 500);
	/* tx_cnt wrapped past 2^32, fwd_cnt not yet */
	CHECK_EQ(vsock_credit_free(1000, 100, 0xffffff00u), 1000 - 356);
	CHECK_EQ(vsock_credit_free(1000, 0x2e8, 0xffffffffu), 1000 - 745);
	/* full, and a peer that shrank its buffer below what is in flight */
	CHECK_EQ(vsock_credit_free(1000, 1000, 0), 0);
	CHECK_EQ(vsock_credit_free(500, 0x10, 0xfffffd00u), 0);
	CHECK_EQ(vsock_credit_free(0, 5, 5), 0);
}

TEST(connect_accept_send_recv_close)
{
	struct pair p;
	struct vsock_sock *lsn, *client, *server;
	struct vsock_addr peer, name;
	char buf[16];

	pair_init(&p);
	lsn = listen_on(p.host, 1024, 4);
	CHECK_EQ(vsock_accept(lsn, &server, NULL, VSOCK_DONTWAIT), -EAGAIN);
	CHECK_EQ(connect_from_guest(&p, 1024, &client), 0);
	CHECK_EQ(vsock_accept(lsn, &server, &peer, VSOCK_DONTWAIT), 0);
	CHECK_EQ(peer.cid, GUEST_CID);
	CHECK_EQ(vsock_getsockname(client, &name), 0);
	CHECK_EQ(name.cid, GUEST_CID);
	CHECK_EQ(name.port, peer.port);
	CHECK(name.port >= 49152);
	CHECK_EQ(vsock_getpeername(server, &name), 0);
	CHECK_EQ(name.port, peer.port);
	CHECK_EQ(vsock_connect(client, &(struct vsock_addr){ HOST_CID, 1024 }, 0), -EISCONN);

	CHECK_EQ(vsock_send(client, "hello", 5, 0), 5);
	CHECK_EQ(vsock_recv(server, buf, sizeof(buf), VSOCK_DONTWAIT), -EAGAIN);
	pair_pump(&p);
	CHECK_EQ(vsock_rx_available(server), 5);
	CHECK_EQ(vsock_recv(server, buf, sizeof(buf), 0), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CHECK_EQ(vsock_send(server, "world!", 6, 0), 6);
	pair_pump(&p);
	CHECK_EQ(vsock_recv(client, buf, 3, 0), 3);
	CHECK_EQ(vsock_recv(client, buf + 3, 10, 0), 3);
	CHECK(memcmp(buf, "world!", 6) == 0);

	/* client closes: server sees EOF, answers with RST, client is freed */
	CHECK_EQ(vsock_close(client), 0);
	pair_pump(&p);
	CHECK_EQ(vsock_recv(server, buf, sizeof(buf), 0), 0);
	CHECK_EQ(vsock_send(server, "x", 1, 0), -EPIPE);
	CHECK_EQ(vsock_sock_error(server), 0);
	CHECK_EQ(vsock_close(server), 0);
	CHECK_EQ(vsock_close(lsn), 0);
	pair_pump(&p);
	core_check_empty(p.guest); /* no linger needed: the RST came */
	pair_finish(&p);
}

TEST(connect_without_listener_is_reset)
{
	struct pair p;
	struct vsock_sock *client;
	struct vsock_pollfd pfd;

	pair_init(&p);
	CHECK_EQ(connect_from_guest(&p, 4444, &client), -ECONNRESET);
	pfd = (struct vsock_pollfd){ .sock = client, .events = VSOCK_POLLOUT };
	CHECK_EQ(vsock_poll(&pfd, 1, 0), 1);
	CHECK(pfd.revents & VSOCK_POLLERR);
	CHECK_EQ(vsock_send(client, "x", 1, 0), -ECONNRESET);
	CHECK_EQ(vsock_close(client), 0);
	pair_finish(&p);
}

TEST(connect_times_out_and_sends_rst)
{
	struct pair p;
	struct vsock_sock *client;
	struct vsock_loopback_faults drop_all = { .drop = 65536 };
	struct vsock_stats st;

	pair_init(&p);
	vsock_loopback_set_faults(p.lb, &drop_all);
	CHECK_EQ(connect_from_guest(&p, 1024, &client), 0);
	pair_tick(&p, SECOND_NS); /* not yet: 2 s default */
	CHECK_EQ(vsock_sock_error(client), 0);
	pair_tick(&p, 3 * SECOND_NS);
	CHECK_EQ(vsock_sock_error(client), -ETIMEDOUT);
	vsock_core_stats(p.guest, &st);
	CHECK_EQ(st.rst_sent, 1);
	CHECK_EQ(st.conns, 0);
	CHECK_EQ(vsock_close(client), 0);
	pair_finish(&p);
}

TEST(rst_rules_for_unknown_tuples)
{
	struct fake_transport fake;
	struct vsock_core *core = fake_core(&fake, NULL);
	struct vsock_hdr_fields f;
	struct vsock_stats st;

	for (uint16_t op = VSOCK_OP_REQUEST; op <= VSOCK_OP_MAX; op++) {
		size_t before = fake.count;

		f = pkt(op, 5000, 6000, op == VSOCK_OP_RW ? 3 : 0);
		inject(core, &f, "abc", f.len);
		if (op == VSOCK_OP_RST) {
			CHECK_EQ(fake.count, before); /* never answer an RST */
			continue;
		}
		CHECK_EQ(fake.count, before + 1);
		CHECK_EQ(fake_last(&fake)->op, VSOCK_OP_RST);
		CHECK_EQ(fake_last(&fake)->src_port, 6000);
		CHECK_EQ(fake_last(&fake)->dst_port, 5000);
		CHECK_EQ(fake_last(&fake)->dst_cid, HOST_CID);
		CHECK_EQ(fake_last(&fake)->src_cid, GUEST_CID);
	}
	/* not our CID: dropped silently (nothing to answer from), counted */
	f = pkt(VSOCK_OP_REQUEST, 5000, 6000, 0);
	f.dst_cid = 99;
	inject(core, &f, NULL, 0);
	CHECK_EQ(fake.count, 6);
	vsock_core_stats(core, &st);
	CHECK_EQ(st.rx_malformed, 1);
	core_check_empty(core);
	vsock_core_destroy(core);
}

TEST(request_to_a_port_nobody_listens_on_is_logged_with_the_listeners)
{
	struct fake_transport fake;
	struct vsock_core *core = fake_core(&fake, NULL);
	struct vsock_sock *a = listen_on(core, 1025, 4), *b = listen_on(core, 1024, 4);
	struct vsock_hdr_fields f = pkt(VSOCK_OP_REQUEST, 1073741824, 5000, 0);
	unsigned before;

	/* "no listener on guest port 5000; guest listens on 1024, 1025" */
	inject(core, &f, NULL, 0);
	CHECK_EQ(fake_last(&fake)->op, VSOCK_OP_RST);
	CHECK(strstr(harness_last_log, "REQUEST 2:1073741824 -> 3:5000 refused") != NULL);
	CHECK(strstr(harness_last_log, "no listener on port 5000; listening on 1024, 1025") !=
	      NULL);
	/* A peer that keeps asking is answered every time, logged a few times
	 * and then summarised. */
	before = harness_log_count;
	for (int i = 0; i < 1000; i++) {
		f.src_port = 1073741825u + (uint32_t)i;
		inject(core, &f, NULL, 0);
	}
	CHECK_EQ(fake.count, 1001);
	CHECK(harness_log_count - before <= 12);
	platform_sleep_ns(450000000ull); /* two more tokens */
	inject(core, &f, NULL, 0);
	CHECK(strstr(harness_last_log, "no listener on port 5000") != NULL);
	CHECK(harness_log_count - before <= 14);
	CHECK_EQ(vsock_close(a), 0);
	CHECK_EQ(vsock_close(b), 0);
	f.src_port = 7;
	inject(core, &f, NULL, 0);
	CHECK(strstr(harness_last_log, "listening on no port") != NULL);
	core_check_empty(core);
	vsock_core_destroy(core);
}

TEST(malformed_headers_are_refused)
{
	struct fake_transport fake;
	struct vsock_core *core = fake_core(&fake, NULL);
	struct vsock_sock *lsn = listen_on(core, 1024, 4);
	struct vsock_hdr_fields f;
	struct vsock_stats st;
	static uint8_t big[70000];

	f = pkt(VSOCK_OP_REQUEST, 5000, 1024, 0);
	f.type = 7;
	inject(core, &f, NULL, 0);
	CHECK_EQ(fake_last(&fake)->op, VSOCK_OP_RST);
	f = pkt(VSOCK_OP_REQUEST, 5000, 1024, 0);
	f.op = 42;
	inject(core, &f, NULL, 0);
	f = pkt(VSOCK_OP_REQUEST, 5000, 1024, 4);
	inject(core, &f, "abcd", 4); /* payload on a control op */
	f = pkt(VSOCK_OP_RW, 5000, 1024, 10);
	inject(core, &f, "abcd", 4); /* len says 10, 4 came */
	f = pkt(VSOCK_OP_RW, 5000, 1024, sizeof(big));
	inject(core, &f, big, sizeof(big)); /* oversized */
	vsock_core_stats(core, &st);
	CHECK_EQ(st.rx_malformed, 5);
	CHECK_EQ(st.rst_sent, 5);
	CHECK_EQ(st.conns, 0);
	CHECK(strstr(harness_last_log, "oversized") != NULL);

	/* on an established connection: the connection is reset */
	f = pkt(VSOCK_OP_REQUEST, 5000, 1024, 0);
	inject(core, &f, NULL, 0);
	CHECK_EQ(fake_last(&fake)->op, VSOCK_OP_RESPONSE);
	f = pkt(VSOCK_OP_SHUTDOWN, 5000, 1024, 2);
	inject(core, &f, "xx", 2);
	CHECK_EQ(fake_last(&fake)->op, VSOCK_OP_RST);
	vsock_core_stats(core, &st);
	CHECK_EQ(st.conns, 0);
	CHECK_EQ(st.sockets, 1); /* the unaccepted child is gone */
	CHECK_EQ(vsock_close(lsn), 0);
	core_check_empty(core);
	vsock_core_destroy(core);
}

TEST(data_beyond_window_resets_and_is_not_buffered)
{
	struct fake_transport fake;
	struct vsock_config cfg;
	struct vsock_core *core;
	struct vsock_sock *lsn, *conn;
	struct vsock_hdr_fields f;
	struct vsock_stats st;
	static uint8_t data[4096];
	char buf[8];

	vsock_config_defaults(&cfg);
	cfg.buf_alloc = 8192;
	core = fake_core(&fake, &cfg);
	lsn = listen_on(core, 1024, 4);
	f = pkt(VSOCK_OP_REQUEST, 5000, 1024, 0);
	inject(core, &f, NULL, 0);
	CHECK_EQ(fake_last(&fake)->buf_alloc, 8192);
	CHECK_EQ(vsock_accept(lsn, &conn, NULL, VSOCK_DONTWAIT), 0);
	f = pkt(VSOCK_OP_RW, 5000, 1024, 4096);
	inject(core, &f, data, 4096);
	inject(core, &f, data, 4096);
	CHECK_EQ(vsock_rx_available(conn), 8192);
	f.len = 1; /* one byte more than we advertised */
	inject(core, &f, data, 1);
	vsock_core_stats(core, &st);
	CHECK_EQ(st.window_violations, 1);
	CHECK(st.rx_mem <= 8192 + sizeof(struct rx_chunk));
	CHECK_EQ(fake_last(&fake)->op, VSOCK_OP_RST);
	CHECK(strstr(harness_last_log, "beyond our window") != NULL);
	/* buffered data stays readable, then the reset shows */
	CHECK_EQ(vsock_recv(conn, buf, 8, 0), 8);
	CHECK_EQ(vsock_close(conn), 0);
	CHECK_EQ(vsock_close(lsn), 0);
	core_check_empty(core);
	vsock_core_destroy(core);
}

TEST(credit_update_on_request_and_when_low)
{
	struct fake_transport fake;
	struct vsock_core *core = fake_core(&fake, NULL);
	struct vsock_sock *lsn = listen_on(core, 1024, 4), *conn;
	struct vsock_hdr_fields f;
	static uint8_t data[4096];
	static uint8_t sink[256 * 1024];
	size_t before;

	f = pkt(VSOCK_OP_REQUEST, 5000, 1024, 0);
	inject(core, &f, NULL, 0);
	CHECK_EQ(vsock_accept(lsn, &conn, NULL, VSOCK_DONTWAIT), 0);
	f = pkt(VSOCK_OP_CREDIT_REQUEST, 5000, 1024, 0);
	inject(core, &f, NULL, 0);
	CHECK_EQ(fake_last(&fake)->op, VSOCK_OP_CREDIT_UPDATE);
	CHECK_EQ(fake_last(&fake)->buf_alloc, 256 * 1024);
	CHECK_EQ(fake_last(&fake)->fwd_cnt, 0);
	/* fill the window completely */
	f = pkt(VSOCK_OP_RW, 5000, 1024, 4096);
	for (int i = 0; i < 64; i++)
		inject(core, &f, data, 4096);
	before = fake.count;
	/* reading a little: no update (no silly-window updates) */
	CHECK_EQ(vsock_recv(conn, sink, 100, 0), 100);
	CHECK_EQ(fake.count, before);
	/* reading 64 KiB: the peer's view was 0 < 64 KiB, so tell it */
	CHECK_EQ(vsock_recv(conn, sink, 64 * 1024, 0), 64 * 1024);
	CHECK_EQ(fake.count, before + 1);
	CHECK_EQ(fake_last(&fake)->op, VSOCK_OP_CREDIT_UPDATE);
	CHECK_EQ(fake_last(&fake)->fwd_cnt, 64 * 1024 + 100);
	CHECK_EQ(vsock_close(conn), 0);
	CHECK_EQ(fake_last(&fake)->op, VSOCK_OP_SHUTDOWN);
	CHECK_EQ(fake_last(&fake)->flags, VSOCK_SHUTDOWN_BOTH);
	f = pkt(VSOCK_OP_RST, 5000, 1024, 0);
	inject(core, &f, NULL, 0);
	CHECK_EQ(vsock_close(lsn), 0);
	core_check_empty(core);
	vsock_core_destroy(core);
}

TEST(transfer_with_counters_across_wraparound)
{
	struct pair p;
	struct vsock_config cfg;
	struct vsock_sock *client, *server;

	vsock_config_defaults(&cfg);
	cfg.counter_start = 0xffffffffu - 100000; /* both ends agree */
	pair_init_cfg(&p, &cfg, &cfg, 4096);
	open_connection(&p, 1024, &client, &server);
	transfer(&p, client, server, 3 * 1024 * 1024, 65536, 1);
	transfer(&p, server, client, 1024 * 1024, 1000, 2);
	platform_lock();
	CHECK(client->tx_cnt < 0x80000000u); /* it did wrap */
	CHECK(server->fwd_cnt < 0x80000000u);
	CHECK_EQ(server->rx_cnt, server->fwd_cnt);
	platform_unlock();
	CHECK_EQ(vsock_close(client), 0);
	CHECK_EQ(vsock_close(server), 0);
	pair_finish(&p);
}

TEST(slow_reader_backpressure_drops_nothing)
{
	struct pair p;
	struct vsock_config cfg;
	struct vsock_sock *client, *server;
	struct vsock_stats st;
	static uint8_t out[200000];
	ssize_t n;

	vsock_config_defaults(&cfg);
	cfg.buf_alloc = 64 * 1024;
	pair_init_cfg(&p, &cfg, &cfg, 4096);
	open_connection(&p, 1024, &client, &server);
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = pattern_byte(i, 7);
	/* the sender may put exactly the window in flight, then -EAGAIN */
	n = vsock_send(client, out, sizeof(out), VSOCK_DONTWAIT);
	CHECK_EQ(n, 64 * 1024);
	CHECK_EQ(vsock_send(client, out, 1, VSOCK_DONTWAIT), -EAGAIN);
	pair_pump(&p);
	CHECK_EQ(vsock_send(client, out, 1, VSOCK_DONTWAIT), -EAGAIN);
	CHECK_EQ(vsock_rx_available(server), 64 * 1024);
	{
		struct vsock_pollfd pfd = { .sock = client, .events = VSOCK_POLLOUT };

		CHECK_EQ(vsock_poll(&pfd, 1, 0), 0);
	}
	vsock_core_stats(p.host, &st);
	CHECK_EQ(st.window_violations, 0);
	/* a reader that takes 1000 bytes at a time still gets every byte */
	{
		size_t got = 0, sent = (size_t)n;
		static uint8_t in[1000];

		while (got < sizeof(out)) {
			ssize_t r = vsock_recv(server, in, sizeof(in), VSOCK_DONTWAIT);

			if (r > 0) {
				for (ssize_t i = 0; i < r; i++)
					CHECK_EQ(in[i], out[got + (size_t)i]);
				got += (size_t)r;
			}
			if (sent < sizeof(out)) {
				ssize_t w = vsock_send(client, out + sent, sizeof(out) - sent,
				                       VSOCK_DONTWAIT);
				CHECK(w > 0 || w == -EAGAIN);
				if (w > 0)
					sent += (size_t)w;
			}
			pair_pump(&p);
			CHECK(vsock_rx_available(server) <= 64 * 1024);
		}
	}
	vsock_core_stats(p.host, &st);
	CHECK_EQ(st.window_violations, 0);
	CHECK_EQ(vsock_close(client), 0);
	CHECK_EQ(vsock_close(server), 0);
	pair_finish(&p);
}

TEST(one_byte_flood_is_coalesced_and_bounded)
{
	struct pair p;
	struct vsock_config cfg;
	struct vsock_sock *client, *server;
	struct vsock_stats st;
	size_t sent = 0;

	vsock_config_defaults(&cfg);
	cfg.buf_alloc = 32 * 1024;
	pair_init_cfg(&p, &cfg, &cfg, 4096);
	open_connection(&p, 1024, &client, &server);
	for (;;) {
		ssize_t n = vsock_send(client, "z", 1, VSOCK_DONTWAIT);

		if (n == -EAGAIN) {
			if (pair_pump(&p) == 0)
				break;
			continue;
		}
		CHECK_EQ(n, 1);
		sent++;
		if (sent % 512 == 0)
			pair_pump(&p);
	}
	CHECK_EQ(sent, 32 * 1024);
	vsock_core_stats(p.host, &st);
	/* 32768 one-byte packets in ceil(32768 / 4032) chunks */
	CHECK(st.rx_mem <= 32 * 1024 + 2 * sizeof(struct rx_chunk));
	CHECK_EQ(vsock_rx_available(server), 32 * 1024);
	CHECK_EQ(vsock_close(client), 0);
	CHECK_EQ(vsock_close(server), 0);
	pair_finish(&p);
}

TEST(half_close_write_side_both_ways)
{
	struct pair p;
	struct vsock_sock *client, *server;
	char buf[8];

	pair_init(&p);
	open_connection(&p, 1024, &client, &server);
	CHECK_EQ(vsock_send(client, "abc", 3, 0), 3);
	CHECK_EQ(vsock_shutdown(client, VSOCK_SHUT_WR), 0);
	CHECK_EQ(vsock_send(client, "d", 1, 0), -EPIPE);
	pair_pump(&p);
	CHECK_EQ(vsock_recv(server, buf, sizeof(buf), 0), 3);
	CHECK_EQ(vsock_recv(server, buf, sizeof(buf), 0), 0); /* EOF */
	/* the other direction still flows */
	CHECK_EQ(vsock_send(server, "reply", 5, 0), 5);
	pair_pump(&p);
	CHECK_EQ(vsock_recv(client, buf, sizeof(buf), 0), 5);
	CHECK_EQ(vsock_shutdown(server, VSOCK_SHUT_WR), 0);
	pair_pump(&p);
	CHECK_EQ(vsock_recv(client, buf, sizeof(buf), 0), 0);
	CHECK_EQ(vsock_close(client), 0);
	CHECK_EQ(vsock_close(server), 0);
	pair_finish(&p);
}

TEST(shutdown_read_side_stops_the_sender)
{
	struct pair p;
	struct vsock_sock *client, *server;
	char buf[8];

	pair_init(&p);
	open_connection(&p, 1024, &client, &server);
	CHECK_EQ(vsock_shutdown(server, VSOCK_SHUT_RD), 0);
	CHECK_EQ(vsock_recv(server, buf, sizeof(buf), 0), 0);
	pair_pump(&p);
	CHECK_EQ(vsock_send(client, "x", 1, 0), -EPIPE);
	CHECK_EQ(vsock_shutdown(client, 0), -EINVAL);
	CHECK_EQ(vsock_close(client), 0);
	CHECK_EQ(vsock_close(server), 0);
	pair_finish(&p);
}

TEST(close_with_pending_data_delivers_then_eof)
{
	struct pair p;
	struct vsock_sock *client, *server;
	char buf[16];

	pair_init(&p);
	open_connection(&p, 1024, &client, &server);
	CHECK_EQ(vsock_send(server, "last words", 10, 0), 10);
	CHECK_EQ(vsock_close(server), 0);
	pair_pump(&p);
	/* the server lingers until we read; the RST is owed */
	CHECK_EQ(vsock_send(client, "x", 1, 0), -EPIPE);
	CHECK_EQ(vsock_recv(client, buf, sizeof(buf), 0), 10);
	CHECK_EQ(vsock_recv(client, buf, sizeof(buf), 0), 0);
	CHECK_EQ(vsock_sock_error(client), 0);
	pair_pump(&p); /* our RST ends the server's linger */
	core_check_empty(p.host);
	CHECK_EQ(vsock_close(client), 0);
	pair_finish(&p);
}

TEST(linger_ends_with_rst_after_timeout)
{
	struct pair p;
	struct vsock_sock *client, *server;
	struct vsock_loopback_faults drop_all = { .drop = 65536 };
	struct vsock_stats st;

	pair_init(&p);
	open_connection(&p, 1024, &client, &server);
	vsock_loopback_set_faults(p.lb, &drop_all); /* the peer never answers */
	CHECK_EQ(vsock_close(client), 0);
	pair_tick(&p, 7 * SECOND_NS);
	vsock_core_stats(p.guest, &st);
	CHECK_EQ(st.conns, 1); /* still lingering */
	pair_tick(&p, 9 * SECOND_NS);
	vsock_core_stats(p.guest, &st);
	CHECK_EQ(st.conns, 0);
	CHECK_EQ(st.rst_sent, 1);
	CHECK_EQ(vsock_close(server), 0);
	pair_finish(&p);
}

TEST(abort_resets_at_once_without_linger)
{
	struct pair p;
	struct vsock_sock *client, *server;
	struct vsock_loopback_faults drop_all = { .drop = 65536 };
	struct vsock_stats st;
	char buf[4];

	pair_init(&p);
	open_connection(&p, 1024, &client, &server);
	CHECK_EQ(vsock_send(server, "data", 4, 0), 4);
	pair_pump(&p);
	CHECK_EQ(vsock_abort(client), 0); /* unread data and all: gone now */
	vsock_core_stats(p.guest, &st);
	CHECK_EQ(st.conns, 0);
	CHECK_EQ(st.sockets, 0);
	CHECK_EQ(st.rx_mem, 0);
	CHECK_EQ(st.rst_sent, 1);
	pair_pump(&p);
	CHECK_EQ(vsock_recv(server, buf, sizeof(buf), 0), -ECONNRESET);
	CHECK_EQ(vsock_close(server), 0);
	/* an abort the peer never hears of still frees everything here */
	open_connection(&p, 1025, &client, &server);
	vsock_loopback_set_faults(p.lb, &drop_all);
	CHECK_EQ(vsock_abort(client), 0);
	vsock_core_stats(p.guest, &st);
	CHECK_EQ(st.conns, 0);
	CHECK_EQ(st.sockets, 0);
	CHECK_EQ(vsock_abort(server), 0);
	pair_finish(&p);
}

TEST(peer_rst_resets_an_established_connection)
{
	struct fake_transport fake;
	struct vsock_core *core = fake_core(&fake, NULL);
	struct vsock_sock *lsn = listen_on(core, 1024, 4), *conn;
	struct vsock_hdr_fields f;
	char buf[4];

	f = pkt(VSOCK_OP_REQUEST, 5000, 1024, 0);
	inject(core, &f, NULL, 0);
	CHECK_EQ(vsock_accept(lsn, &conn, NULL, VSOCK_DONTWAIT), 0);
	f = pkt(VSOCK_OP_RST, 5000, 1024, 0);
	inject(core, &f, NULL, 0);
	CHECK_EQ(vsock_recv(conn, buf, sizeof(buf), 0), -ECONNRESET);
	CHECK_EQ(vsock_send(conn, "x", 1, 0), -ECONNRESET);
	CHECK_EQ(vsock_close(conn), 0);
	CHECK_EQ(vsock_close(lsn), 0);
	core_check_empty(core);
	vsock_core_destroy(core);
}

TEST(demux_on_full_tuple)
{
	struct pair p;
	struct vsock_sock *lsn, *c1, *c2, *s1, *s2, *g_lsn, *h_client, *g_server;
	struct vsock_addr a1, a2;
	char buf[8];

	pair_init(&p);
	lsn = listen_on(p.host, 1024, 4);
	CHECK_EQ(connect_from_guest(&p, 1024, &c1), 0);
	CHECK_EQ(connect_from_guest(&p, 1024, &c2), 0);
	CHECK_EQ(vsock_accept(lsn, &s1, &a1, VSOCK_DONTWAIT), 0);
	CHECK_EQ(vsock_accept(lsn, &s2, &a2, VSOCK_DONTWAIT), 0);
	CHECK(a1.port != a2.port);
	/* the host connects to the guest from port 1024 too: a third tuple */
	g_lsn = listen_on(p.guest, 1024, 4);
	CHECK_EQ(vsock_socket(p.host, VSOCK_TYPE_STREAM, &h_client), 0);
	CHECK_EQ(vsock_connect(h_client, &(struct vsock_addr){ GUEST_CID, 1024 }, VSOCK_DONTWAIT),
	         -EINPROGRESS);
	pair_pump(&p);
	CHECK_EQ(vsock_accept(g_lsn, &g_server, NULL, VSOCK_DONTWAIT), 0);
	CHECK_EQ(vsock_send(c2, "two", 3, 0), 3);
	CHECK_EQ(vsock_send(c1, "one", 3, 0), 3);
	CHECK_EQ(vsock_send(h_client, "three", 5, 0), 5);
	pair_pump(&p);
	CHECK_EQ(vsock_recv(s1, buf, sizeof(buf), 0), 3);
	CHECK(memcmp(buf, "one", 3) == 0);
	CHECK_EQ(vsock_recv(s2, buf, sizeof(buf), 0), 3);
	CHECK(memcmp(buf, "two", 3) == 0);
	CHECK_EQ(vsock_recv(g_server, buf, sizeof(buf), 0), 5);
	/* the same explicit port cannot be bound twice */
	{
		struct vsock_sock *dup;

		CHECK_EQ(vsock_socket(p.host, VSOCK_TYPE_STREAM, &dup), 0);
		CHECK_EQ(vsock_bind(dup, &(struct vsock_addr){ VSOCK_CID_ANY, 1024 }), -EADDRINUSE);
		CHECK_EQ(vsock_bind(dup, &(struct vsock_addr){ 77, 1025 }), -EADDRNOTAVAIL);
		CHECK_EQ(vsock_close(dup), 0);
	}
	struct vsock_sock *all[] = { c1, c2, s1, s2, lsn, g_lsn, h_client, g_server };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		CHECK_EQ(vsock_close(all[i]), 0);
	pair_finish(&p);
}

TEST(ephemeral_ports_rest_before_reuse)
{
	struct pair p;
	struct vsock_config cfg;
	struct vsock_sock *lsn, *client, *server;
	uint32_t used[4];

	vsock_config_defaults(&cfg);
	cfg.ephemeral_first = 50000;
	cfg.ephemeral_last = 50003;
	pair_init_cfg(&p, &cfg, NULL, 4096);
	lsn = listen_on(p.host, 1024, 4);
	for (int i = 0; i < 4; i++) {
		struct vsock_addr name;

		CHECK_EQ(connect_from_guest(&p, 1024, &client), 0);
		CHECK_EQ(vsock_getsockname(client, &name), 0);
		used[i] = name.port;
		for (int j = 0; j < i; j++)
			CHECK(used[j] != used[i]);
		CHECK_EQ(vsock_accept(lsn, &server, NULL, VSOCK_DONTWAIT), 0);
		CHECK_EQ(vsock_close(client), 0);
		CHECK_EQ(vsock_close(server), 0);
		pair_pump(&p);
	}
	/* all four closed recently: none may be reused yet */
	CHECK_EQ(vsock_socket(p.guest, VSOCK_TYPE_STREAM, &client), 0);
	CHECK_EQ(vsock_connect(client, &(struct vsock_addr){ HOST_CID, 1024 }, VSOCK_DONTWAIT),
	         -EADDRNOTAVAIL);
	CHECK_EQ(vsock_close(client), 0);
	CHECK_EQ(vsock_close(lsn), 0);
	pair_finish(&p);
}

TEST(connection_limit_refuses_with_rst_and_log)
{
	struct pair p;
	struct vsock_config cfg;
	struct vsock_sock *lsn, *clients[5], *servers[4];
	struct vsock_stats st;

	vsock_config_defaults(&cfg);
	cfg.max_conns = 4;
	pair_init_cfg(&p, NULL, &cfg, 4096);
	lsn = listen_on(p.host, 1024, 16);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(connect_from_guest(&p, 1024, &clients[i]), 0);
	CHECK_EQ(connect_from_guest(&p, 1024, &clients[4]), -ECONNRESET);
	CHECK(strstr(harness_last_log, "connection limit") != NULL);
	vsock_core_stats(p.host, &st);
	CHECK_EQ(st.refused_limit, 1);
	CHECK_EQ(st.conns, 4);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(vsock_accept(lsn, &servers[i], NULL, VSOCK_DONTWAIT), 0);
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(vsock_close(clients[i]), 0);
		CHECK_EQ(vsock_close(servers[i]), 0);
	}
	CHECK_EQ(vsock_close(clients[4]), 0);
	CHECK_EQ(vsock_close(lsn), 0);
	pair_finish(&p);
}

TEST(backlog_full_refuses_and_listener_close_resets_queue)
{
	struct pair p;
	struct vsock_sock *lsn, *c[3];
	struct vsock_stats st;

	pair_init(&p);
	lsn = listen_on(p.host, 1024, 2);
	CHECK_EQ(connect_from_guest(&p, 1024, &c[0]), 0);
	CHECK_EQ(connect_from_guest(&p, 1024, &c[1]), 0);
	CHECK_EQ(connect_from_guest(&p, 1024, &c[2]), -ECONNRESET);
	vsock_core_stats(p.host, &st);
	CHECK_EQ(st.refused_backlog, 1);
	CHECK_EQ(vsock_close(lsn), 0); /* unaccepted ones get RST */
	pair_pump(&p);
	CHECK_EQ(vsock_sock_error(c[0]), -ECONNRESET);
	CHECK_EQ(vsock_sock_error(c[1]), -ECONNRESET);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(vsock_close(c[i]), 0);
	pair_finish(&p);
}

TEST(peer_closes_before_accept_data_still_readable)
{
	struct pair p;
	struct vsock_sock *lsn, *client, *server;
	char buf[8];

	pair_init(&p);
	lsn = listen_on(p.host, 1024, 2);
	CHECK_EQ(connect_from_guest(&p, 1024, &client), 0);
	CHECK_EQ(vsock_send(client, "hi", 2, 0), 2);
	CHECK_EQ(vsock_close(client), 0);
	pair_pump(&p);
	CHECK_EQ(vsock_accept(lsn, &server, NULL, VSOCK_DONTWAIT), 0);
	CHECK_EQ(vsock_recv(server, buf, sizeof(buf), 0), 2);
	CHECK_EQ(vsock_recv(server, buf, sizeof(buf), 0), 0);
	CHECK_EQ(vsock_close(server), 0);
	CHECK_EQ(vsock_close(lsn), 0);
	pair_finish(&p);
}

TEST(transport_reset_resets_connections_keeps_listeners)
{
	struct pair p;
	struct vsock_sock *g_lsn, *h_client, *g_server, *g_client, *h_lsn, *h_server, *again;
	char buf[8];

	pair_init(&p);
	g_lsn = listen_on(p.guest, 1024, 4);
	h_lsn = listen_on(p.host, 2000, 4);
	CHECK_EQ(vsock_socket(p.host, VSOCK_TYPE_STREAM, &h_client), 0);
	CHECK_EQ(vsock_connect(h_client, &(struct vsock_addr){ GUEST_CID, 1024 }, VSOCK_DONTWAIT),
	         -EINPROGRESS);
	pair_pump(&p);
	CHECK_EQ(vsock_accept(g_lsn, &g_server, NULL, VSOCK_DONTWAIT), 0);
	CHECK_EQ(connect_from_guest(&p, 2000, &g_client), 0);
	CHECK_EQ(vsock_accept(h_lsn, &h_server, NULL, VSOCK_DONTWAIT), 0);
	CHECK_EQ(vsock_send(h_client, "data", 4, 0), 4);
	pair_pump(&p);

	/* the device resets (e.g. after migration) and reports a new CID */
	vsock_loopback_flush(p.lb);
	vsock_loopback_set_cid(p.lb, 0, 5);
	platform_lock();
	vsock_core_transport_reset(p.guest);
	platform_unlock();
	CHECK_EQ(vsock_core_local_cid(p.guest), 5);
	CHECK_EQ(vsock_sock_error(g_server), -ECONNRESET);
	CHECK_EQ(vsock_sock_error(g_client), -ECONNRESET);
	CHECK_EQ(vsock_recv(g_server, buf, sizeof(buf), 0), 4); /* buffered data first */
	CHECK_EQ(vsock_recv(g_server, buf, sizeof(buf), 0), -ECONNRESET);
	CHECK_EQ(vsock_send(g_client, "x", 1, 0), -ECONNRESET);
	/* the host's old connections learn it from RSTs */
	CHECK_EQ(vsock_send(h_server, "x", 1, 0), 1);
	pair_pump(&p);
	CHECK_EQ(vsock_sock_error(h_server), 0); /* dst cid 3 is gone: dropped */
	/* the listener survived: the host reaches the guest at its new CID */
	CHECK_EQ(vsock_socket(p.host, VSOCK_TYPE_STREAM, &again), 0);
	CHECK_EQ(vsock_connect(again, &(struct vsock_addr){ 5, 1024 }, VSOCK_DONTWAIT),
	         -EINPROGRESS);
	pair_pump(&p);
	CHECK_EQ(vsock_sock_error(again), 0);
	struct vsock_sock *fresh;
	CHECK_EQ(vsock_accept(g_lsn, &fresh, NULL, VSOCK_DONTWAIT), 0);
	CHECK_EQ(vsock_send(again, "ok", 2, 0), 2);
	pair_pump(&p);
	CHECK_EQ(vsock_recv(fresh, buf, sizeof(buf), 0), 2);
	struct vsock_sock *all[] = { g_lsn, h_client, g_server, g_client,
		                     h_lsn, h_server, again,    fresh };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		CHECK_EQ(vsock_close(all[i]), 0);
	pair_finish(&p);
}

TEST(transport_eagain_is_retried_in_order)
{
	struct pair p;
	struct vsock_sock *client, *server;
	struct vsock_loopback_faults tight = { .capacity = 2, .eagain = 8000, .seed = 42 };
	struct vsock_loopback_counts counts;

	pair_init(&p);
	vsock_loopback_set_faults(p.lb, &tight);
	open_connection(&p, 1024, &client, &server);
	transfer(&p, client, server, 300000, 7000, 3);
	transfer(&p, server, client, 100000, 65536, 4);
	vsock_loopback_counts(p.lb, &counts);
	CHECK(counts.eagain > 10);
	CHECK_EQ(vsock_close(client), 0);
	CHECK_EQ(vsock_close(server), 0);
	pair_finish(&p);
}

TEST(poll_reports_readiness)
{
	struct pair p;
	struct vsock_sock *lsn, *client, *server;
	struct vsock_pollfd fds[3];
	uint64_t t0;

	pair_init(&p);
	lsn = listen_on(p.host, 1024, 4);
	fds[0] = (struct vsock_pollfd){ .sock = lsn, .events = VSOCK_POLLIN };
	t0 = platform_now_ns();
	CHECK_EQ(vsock_poll(fds, 1, t0 + 20000000), 0); /* 20 ms, nothing */
	CHECK(platform_now_ns() - t0 >= 20000000);
	CHECK_EQ(connect_from_guest(&p, 1024, &client), 0);
	CHECK_EQ(vsock_poll(fds, 1, 0), 1);
	CHECK_EQ(vsock_accept(lsn, &server, NULL, VSOCK_DONTWAIT), 0);
	fds[0] = (struct vsock_pollfd){ .sock = server, .events = VSOCK_POLLIN | VSOCK_POLLOUT };
	fds[1] = (struct vsock_pollfd){ .sock = client, .events = VSOCK_POLLIN };
	fds[2] = (struct vsock_pollfd){ .sock = NULL, .events = VSOCK_POLLIN };
	CHECK_EQ(vsock_poll(fds, 3, 0), 1);
	CHECK_EQ(fds[0].revents, VSOCK_POLLOUT);
	CHECK_EQ(vsock_send(server, "x", 1, 0), 1);
	pair_pump(&p);
	CHECK_EQ(vsock_poll(fds, 3, 0), 2);
	CHECK_EQ(fds[1].revents, VSOCK_POLLIN);
	CHECK_EQ(vsock_close(server), 0);
	pair_pump(&p);
	CHECK_EQ(vsock_poll(fds + 1, 1, 0), 1);
	CHECK(fds[1].revents & VSOCK_POLLHUP);
	CHECK_EQ(vsock_close(client), 0);
	CHECK_EQ(vsock_close(lsn), 0);
	pair_finish(&p);
}

/* A poller sleeps hooked onto the sockets it polls, and nowhere else. */
struct sleeper {
	struct vsock_pollfd *fds; /* what it polls */
	size_t n;
	int result; /* vsock_poll's */
	bool done;
};

static void poll_in_task(void *arg)
{
	struct sleeper *s = arg;

	s->result = vsock_poll(s->fds, s->n, platform_now_ns() + 10 * SECOND_NS);
	platform_lock();
	s->done = true;
	platform_unlock();
}

static bool hooked(struct vsock_sock *sock)
{
	bool any;

	platform_lock();
	any = sock->poll_hooks != NULL;
	platform_unlock();
	return any;
}

static void wait_hooked(struct vsock_sock *sock)
{
	uint64_t deadline = platform_now_ns() + 5 * SECOND_NS;

	while (!hooked(sock) && platform_now_ns() < deadline)
		platform_sleep_ns(1000000);
	CHECK(hooked(sock));
}

TEST(poll_sleeps_hooked_onto_its_own_sockets_only)
{
	enum {
		MANY = 20
	};
	struct pair p;
	struct vsock_sock *lsn[MANY], *client, *server;
	struct vsock_pollfd fds[MANY];
	struct platform_task *task;
	struct sleeper s = { fds, MANY, -1, false };

	pair_init(&p);
	for (int i = 0; i < MANY; i++) {
		lsn[i] = listen_on(p.host, 2000 + (uint32_t)i, 4);
		fds[i] = (struct vsock_pollfd){ .sock = lsn[i], .events = VSOCK_POLLIN };
	}
	open_connection(&p, 1024, &client, &server);
	CHECK_EQ(platform_task_spawn(&task, "poller", poll_in_task, &s, 64 << 10, NULL, NULL), 0);
	wait_hooked(lsn[MANY - 1]);
	for (int i = 0; i < MANY; i++)
		CHECK(hooked(lsn[i]));
	CHECK(!hooked(server)); /* traffic there is none of its business */
	CHECK_EQ(vsock_send(client, "x", 1, 0), 1);
	pair_pump(&p);
	platform_sleep_ns(20000000);
	platform_lock();
	CHECK(!s.done);
	platform_unlock();
	/* a connection to the last listener ends the poll; nothing stays hooked */
	{
		struct vsock_sock *c2;

		CHECK_EQ(vsock_socket(p.guest, VSOCK_TYPE_STREAM, &c2), 0);
		CHECK_EQ(vsock_connect(c2, &(struct vsock_addr){ HOST_CID, 2000 + MANY - 1 },
		                       VSOCK_DONTWAIT),
		         -EINPROGRESS);
		pair_pump(&p);
		for (uint64_t end = platform_now_ns() + 5 * SECOND_NS; platform_now_ns() < end;) {
			bool done;

			platform_lock();
			done = s.done;
			platform_unlock();
			if (done)
				break;
			platform_sleep_ns(1000000);
		}
		platform_lock();
		CHECK(s.done);
		CHECK_EQ(s.result, 1);
		CHECK(p.host->pollers == NULL);
		platform_unlock();
		CHECK_EQ(fds[MANY - 1].revents, VSOCK_POLLIN);
		for (int i = 0; i < MANY; i++)
			CHECK(!hooked(lsn[i]));
		CHECK_EQ(vsock_close(c2), 0);
	}
	for (int i = 0; i < MANY; i++)
		CHECK_EQ(vsock_close(lsn[i]), 0);
	CHECK_EQ(vsock_close(client), 0);
	CHECK_EQ(vsock_close(server), 0);
	pair_finish(&p);
}

/* cfg.rx_budget: each connection is granted what is left of it as it
 * enters the table (at least VSOCK_WINDOW_MIN), advertises that, and gives
 * it back when it leaves; a peer that fills every window cannot make the
 * receive buffers outgrow the budget by more than the minimum each. */
TEST(receive_windows_are_granted_out_of_a_budget)
{
	enum {
		CONNS = 6
	};
	struct vsock_config host_cfg;
	struct pair p;
	struct vsock_sock *lsn, *client[CONNS], *server[CONNS];
	struct vsock_stats st;
	static uint8_t junk[256 * 1024];

	vsock_config_defaults(&host_cfg);
	host_cfg.rx_budget = 80 * 1024; /* 64 KiB, then 16 KiB, then the minimum */
	host_cfg.buf_alloc = 64 * 1024;
	pair_init_cfg(&p, NULL, &host_cfg, 4096);
	lsn = listen_on(p.host, 1024, CONNS);
	for (int i = 0; i < CONNS; i++) {
		CHECK_EQ(connect_from_guest(&p, 1024, &client[i]), 0);
		CHECK_EQ(vsock_accept(lsn, &server[i], NULL, VSOCK_DONTWAIT), 0);
		CHECK_EQ(vsock_setopt(client[i], VSOCK_OPT_NONBLOCK, 1), 0);
	}
	platform_lock();
	CHECK_EQ(server[0]->buf_alloc, 64 * 1024);
	CHECK_EQ(server[1]->buf_alloc, 16 * 1024);
	for (int i = 2; i < CONNS; i++)
		CHECK_EQ(server[i]->buf_alloc, VSOCK_WINDOW_MIN);
	/* the peer was told: its credit is the grant */
	CHECK_EQ(client[0]->peer_buf_alloc, 64 * 1024);
	CHECK_EQ(client[CONNS - 1]->peer_buf_alloc, VSOCK_WINDOW_MIN);
	platform_unlock();
	/* the peer fills every window; nothing is read */
	for (int i = 0; i < CONNS; i++) {
		while (vsock_send(client[i], junk, sizeof(junk), 0) > 0)
			pair_pump(&p);
		pair_pump(&p);
	}
	vsock_core_stats(p.host, &st);
	CHECK_EQ(st.rx_granted, 80 * 1024 + (CONNS - 2) * VSOCK_WINDOW_MIN);
	CHECK(st.rx_mem <= st.rx_granted + CONNS * 4096 + CONNS * 64);
	CHECK_EQ(st.window_violations, 0);
	/* connections leave: their grants come back, a new one gets it all */
	for (int i = 0; i < CONNS; i++) {
		CHECK_EQ(vsock_abort(server[i]), 0);
		CHECK_EQ(vsock_close(client[i]), 0);
	}
	pair_pump(&p);
	pair_tick(&p, 20 * SECOND_NS);
	vsock_core_stats(p.host, &st);
	CHECK_EQ(st.rx_granted, 0);
	CHECK_EQ(connect_from_guest(&p, 1024, &client[0]), 0);
	CHECK_EQ(vsock_accept(lsn, &server[0], NULL, VSOCK_DONTWAIT), 0);
	platform_lock();
	CHECK_EQ(server[0]->buf_alloc, 64 * 1024);
	platform_unlock();
	CHECK_EQ(vsock_close(client[0]), 0);
	CHECK_EQ(vsock_close(server[0]), 0);
	CHECK_EQ(vsock_close(lsn), 0);
	pair_finish(&p);
}

struct late_post {
	struct vsock_wakeup *wakeup; /* what to post */
	uint64_t delay_ns;           /* after this long */
};

static void post_later(void *arg)
{
	struct late_post *late = arg;

	platform_sleep_ns(late->delay_ns);
	vsock_wakeup_post(late->wakeup);
}

TEST(poll_wakeup_is_never_lost_and_consumed_once)
{
	struct pair p;
	struct vsock_sock *lsn;
	struct vsock_pollfd fds[1];
	struct vsock_wakeup wakeup;
	struct platform_task *task;
	struct late_post late;
	uint64_t t0;

	pair_init(&p);
	lsn = listen_on(p.host, 1024, 4);
	fds[0] = (struct vsock_pollfd){ .sock = lsn, .events = VSOCK_POLLIN };
	vsock_wakeup_init(&wakeup, p.host);
	/* posted before the poll: it returns at once, and only once */
	vsock_wakeup_post(&wakeup);
	vsock_wakeup_post(&wakeup);
	t0 = platform_now_ns();
	CHECK_EQ(vsock_poll_wakeup(fds, 1, PLATFORM_FOREVER, &wakeup), 1);
	CHECK_EQ(fds[0].revents, 0);
	CHECK_EQ(vsock_poll_wakeup(fds, 1, platform_now_ns() + 20000000, &wakeup), 0);
	/* posted by another task while the poller sleeps */
	late = (struct late_post){ &wakeup, 30000000 };
	CHECK_EQ(platform_task_spawn(&task, "poster", post_later, &late, 16 << 10, NULL, NULL), 0);
	t0 = platform_now_ns();
	CHECK_EQ(vsock_poll_wakeup(fds, 1, t0 + 10 * SECOND_NS, &wakeup), 1);
	CHECK(platform_now_ns() - t0 >= 30000000);
	CHECK(platform_now_ns() - t0 < 5 * SECOND_NS);
	/* with no sockets at all, the wakeup alone */
	vsock_wakeup_post(&wakeup);
	CHECK_EQ(vsock_poll_wakeup(NULL, 0, PLATFORM_FOREVER, &wakeup), 1);
	platform_sleep_ns(10000000); /* the poster task is gone */
	CHECK_EQ(vsock_close(lsn), 0);
	pair_finish(&p);
}
