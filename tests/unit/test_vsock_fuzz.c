/*
 * test_vsock_fuzz.c -- seeded random packet sequences against the core
 * (a hostile peer) and random traffic over a faulty loopback (drop,
 * duplicate, corrupt, reorder, -EAGAIN), checking invariants after every
 * step: no crash (ASan/UBSan), the connection limit and the memory bound
 * hold, the receive buffers never exceed buf_alloc, and everything is
 * gone at the end.
 */
#include "tests/unit/vsock_fixture.h"

#include "vsock/internal.h"

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return n ? (uint32_t)((rng_state >> 11) % n) : 0;
}

#define HELD_MAX 16

static void check_invariants(struct vsock_core *core, const struct vsock_config *cfg)
{
	struct vsock_stats st;
	size_t sockets = 0;

	vsock_core_stats(core, &st);
	CHECK(st.conns <= cfg->max_conns);
	CHECK(st.ctrl_queued <= cfg->max_ctrl_queue);
	platform_lock();
	for (struct vsock_sock *s = core->socks; s; s = s->next) {
		sockets++;
		CHECK(sock_rx_bytes(s) <= s->buf_alloc);
	}
	platform_unlock();
	CHECK_EQ(sockets, st.sockets);
	CHECK(st.rx_mem <= sockets * (cfg->buf_alloc + 2 * sizeof(struct rx_chunk)));
}

static struct vsock_hdr_fields random_packet(void)
{
	static const uint32_t ports[] = { 1024, 1025, 1026, 49152, 7 };
	struct vsock_hdr_fields f = pkt((uint16_t)(1 + rnd(7)), 5000 + rnd(12), ports[rnd(5)], 0);

	if (rnd(20) == 0)
		f.op = (uint16_t)rnd(12);
	if (rnd(30) == 0)
		f.type = (uint16_t)rnd(4);
	if (rnd(40) == 0)
		f.dst_cid = rnd(5);
	if (rnd(40) == 0)
		f.src_cid = rnd(5);
	f.flags = rnd(8) == 0 ? rnd(0xffffffffu) : rnd(4);
	f.buf_alloc = rnd(4) ? 65536 : rnd(0xffffffffu);
	f.fwd_cnt = rnd(2) ? rnd(100000) : rnd(0xffffffffu);
	if (f.op == VSOCK_OP_RW || rnd(20) == 0)
		f.len = rnd(10) == 0 ? rnd(80000) : rnd(5000);
	return f;
}

TEST(random_packets_from_a_hostile_peer)
{
	struct fake_transport fake;
	struct vsock_config cfg;
	struct vsock_core *core;
	struct vsock_sock *lsn[2], *held[HELD_MAX] = { 0 };
	static uint8_t payload[80000], buf[8192];
	uint64_t now = platform_now_ns();

	rng_state = 0x1234567887654321ull;
	vsock_config_defaults(&cfg);
	cfg.buf_alloc = 16384;
	cfg.max_conns = 8;
	cfg.max_ctrl_queue = 32;
	core = fake_core(&fake, &cfg);
	lsn[0] = listen_on(core, 1024, 4);
	lsn[1] = listen_on(core, 1025, 2);
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)i;

	for (int step = 0; step < 30000; step++) {
		uint32_t what = rnd(100);
		struct vsock_sock **slot = &held[rnd(HELD_MAX)];

		if (what < 70) {
			struct vsock_hdr_fields f = random_packet();
			size_t len = f.len;

			if (rnd(30) == 0)
				len = rnd(6000); /* length mismatch */
			if (len > sizeof(payload))
				len = sizeof(payload);
			inject(core, &f, payload, len);
		} else if (what < 76 && !*slot) {
			vsock_accept(lsn[rnd(2)], slot, NULL, VSOCK_DONTWAIT);
		} else if (what < 82 && *slot) {
			vsock_recv(*slot, buf, rnd(sizeof(buf)), VSOCK_DONTWAIT);
		} else if (what < 86 && *slot) {
			vsock_send(*slot, payload, rnd(20000), VSOCK_DONTWAIT);
		} else if (what < 88 && *slot) {
			vsock_shutdown(*slot, 1 + (int)rnd(3));
		} else if (what < 91 && *slot) {
			CHECK_EQ(vsock_close(*slot), 0);
			*slot = NULL;
		} else if (what < 94) {
			now += rnd(3 * SECOND_NS);
			vsock_core_tick(core, now);
		} else if (what < 97) {
			fake.fail_with = fake.fail_with ? 0 : -EAGAIN;
			if (!fake.fail_with) {
				platform_lock();
				vsock_core_tx_ready(core);
				platform_unlock();
			}
		} else if (what < 98) {
			fake.cid = rnd(4) ? GUEST_CID : GUEST_CID + 1;
			platform_lock();
			vsock_core_transport_reset(core);
			platform_unlock();
		} else if (!*slot) {
			/* an outgoing connection too */
			if (vsock_socket(core, VSOCK_TYPE_STREAM, slot) == 0)
				vsock_connect(*slot,
				              &(struct vsock_addr){ HOST_CID, 5000 + rnd(12) },
				              VSOCK_DONTWAIT);
		}
		check_invariants(core, &cfg);
	}
	{
		struct vsock_stats st;

		vsock_core_stats(core, &st);
		if (getenv("HARNESS_VERBOSE"))
			printf("  rx %llu malformed %llu rst %llu limit %llu backlog %llu window %llu "
			       "ctrl_dropped %llu\n",
			       (unsigned long long)st.rx_packets,
			       (unsigned long long)st.rx_malformed, (unsigned long long)st.rst_sent,
			       (unsigned long long)st.refused_limit,
			       (unsigned long long)st.refused_backlog,
			       (unsigned long long)st.window_violations,
			       (unsigned long long)st.ctrl_dropped);
		/* the sequence reached the interesting paths */
		CHECK(st.rx_malformed > 100);
		CHECK(st.refused_backlog + st.refused_limit > 0);
		CHECK(st.window_violations > 0);
	}
	for (int i = 0; i < HELD_MAX; i++)
		if (held[i])
			CHECK_EQ(vsock_close(held[i]), 0);
	CHECK_EQ(vsock_close(lsn[0]), 0);
	CHECK_EQ(vsock_close(lsn[1]), 0);
	fake.fail_with = 0;
	platform_lock();
	vsock_core_tx_ready(core);
	platform_unlock();
	vsock_core_tick(core, now + 60 * SECOND_NS);
	core_check_empty(core);
	vsock_core_destroy(core);
}

/* The same hostile peer against SEQPACKET: a listener for it, packets of
 * both types with random EOM/EOR flags, empty messages, recvmsg with and
 * without VSOCK_MSG_TRUNC, sends of messages of any size (-EMSGSIZE). */
TEST(random_seqpacket_packets_from_a_hostile_peer)
{
	struct fake_transport fake;
	struct vsock_config cfg;
	struct vsock_core *core;
	struct vsock_sock *lsn, *held[HELD_MAX] = { 0 };
	static uint8_t payload[80000], buf[8192];
	uint64_t now = platform_now_ns();
	struct vsock_stats st;
	unsigned messages = 0;

	rng_state = 0x5eeded5eeded5eedull;
	vsock_config_defaults(&cfg);
	cfg.buf_alloc = 16384;
	cfg.max_conns = 8;
	cfg.max_ctrl_queue = 32;
	core = fake_core(&fake, &cfg);
	fake.ops.features = 1ull << VSOCK_F_SEQPACKET;
	CHECK_EQ(vsock_socket(core, VSOCK_TYPE_SEQPACKET, &lsn), 0);
	CHECK_EQ(vsock_bind(lsn, &(struct vsock_addr){ VSOCK_CID_ANY, 1024 }), 0);
	CHECK_EQ(vsock_listen(lsn, 4), 0);
	for (int step = 0; step < 30000; step++) {
		uint32_t what = rnd(100);
		struct vsock_sock **slot = &held[rnd(HELD_MAX)];

		if (what < 72) {
			struct vsock_hdr_fields f = random_packet();

			if (rnd(4))
				f.type = VSOCK_TYPE_SEQPACKET;
			if (rnd(3) == 0) { /* a message part for our listener */
				f.op = VSOCK_OP_RW;
				f.dst_port = 1024;
				f.len = rnd(600);
			}
			if (f.op == VSOCK_OP_RW && rnd(3) == 0)
				f.len = 0; /* empty messages, or empty packets */
			inject(core, &f, payload, f.len <= sizeof(payload) ? f.len : 0);
		} else if (what < 78 && !*slot) {
			vsock_accept(lsn, slot, NULL, VSOCK_DONTWAIT);
		} else if (what < 86 && *slot) {
			int flags;

			if (vsock_recvmsg(*slot, buf, rnd(sizeof(buf)),
			                  VSOCK_DONTWAIT | (rnd(4) ? 0 : VSOCK_MSG_TRUNC),
			                  &flags) >= 0 &&
			    (flags & VSOCK_MSG_EOM))
				messages++;
		} else if (what < 90 && *slot) {
			vsock_send(*slot, payload, rnd(20000),
			           VSOCK_DONTWAIT | (rnd(2) ? VSOCK_MSG_EOR : 0));
		} else if (what < 91 && *slot) {
			vsock_shutdown(*slot, 1 + (int)rnd(3));
		} else if (what < 93 && *slot) {
			CHECK_EQ(vsock_close(*slot), 0);
			*slot = NULL;
		} else if (what < 96) {
			now += rnd(3 * SECOND_NS);
			vsock_core_tick(core, now);
		} else if (what < 99) {
			fake.fail_with = fake.fail_with ? 0 : -EAGAIN;
			if (!fake.fail_with) {
				platform_lock();
				vsock_core_tx_ready(core);
				platform_unlock();
			}
		} else if (!*slot) {
			if (vsock_socket(core, VSOCK_TYPE_SEQPACKET, slot) == 0)
				vsock_connect(*slot,
				              &(struct vsock_addr){ HOST_CID, 5000 + rnd(12) },
				              VSOCK_DONTWAIT);
		}
		check_invariants(core, &cfg);
	}
	vsock_core_stats(core, &st);
	CHECK(st.rx_malformed > 100);
	CHECK(st.window_violations > 0);
	CHECK(messages > 50); /* whole messages were read */
	for (int i = 0; i < HELD_MAX; i++)
		if (held[i])
			CHECK_EQ(vsock_close(held[i]), 0);
	CHECK_EQ(vsock_close(lsn), 0);
	fake.fail_with = 0;
	platform_lock();
	vsock_core_tx_ready(core);
	platform_unlock();
	vsock_core_tick(core, now + 60 * SECOND_NS);
	core_check_empty(core);
	vsock_core_destroy(core);
}

#define CONNS 6

TEST(random_traffic_over_a_faulty_loopback)
{
	static const uint32_t seeds[] = { 1, 7, 99 };

	for (size_t round = 0; round < sizeof(seeds) / sizeof(seeds[0]); round++) {
		struct pair p;
		struct vsock_config cfg;
		struct vsock_loopback_faults faults = {
			.drop = 300,
			.duplicate = 300,
			.corrupt = 300,
			.reorder = 500,
			.eagain = 2000,
			.capacity = 16,
			.seed = seeds[round],
		};
		struct vsock_sock *lsn, *client[CONNS] = { 0 }, *server[CONNS] = { 0 };
		static uint8_t data[20000], buf[20000];

		rng_state = seeds[round] * 0x9e3779b97f4a7c15ull;
		vsock_config_defaults(&cfg);
		cfg.buf_alloc = 32768;
		pair_init_cfg(&p, &cfg, &cfg, 4096);
		vsock_loopback_set_faults(p.lb, &faults);
		lsn = listen_on(p.host, 1024, CONNS);
		for (int i = 0; i < CONNS; i++) {
			CHECK_EQ(vsock_socket(p.guest, VSOCK_TYPE_STREAM, &client[i]), 0);
			vsock_connect(client[i], &(struct vsock_addr){ HOST_CID, 1024 },
			              VSOCK_DONTWAIT);
		}
		for (int step = 0; step < 4000; step++) {
			int i = (int)rnd(CONNS);

			if (!server[i])
				vsock_accept(lsn, &server[i], NULL, VSOCK_DONTWAIT);
			switch (rnd(6)) {
			case 0:
				vsock_send(client[i], data, rnd(sizeof(data)), VSOCK_DONTWAIT);
				break;
			case 1:
				if (server[i])
					vsock_send(server[i], data, rnd(sizeof(data)),
					           VSOCK_DONTWAIT);
				break;
			case 2:
				vsock_recv(client[i], buf, rnd(sizeof(buf)), VSOCK_DONTWAIT);
				break;
			case 3:
				if (server[i])
					vsock_recv(server[i], buf, rnd(sizeof(buf)),
					           VSOCK_DONTWAIT);
				break;
			default:
				vsock_loopback_pump(p.lb, rnd(20));
				break;
			}
			if (step % 500 == 0)
				pair_tick(&p, 0);
			check_invariants(p.guest, &cfg);
			check_invariants(p.host, &cfg);
		}
		{
			struct vsock_loopback_counts counts;

			vsock_loopback_counts(p.lb, &counts);
			if (getenv("HARNESS_VERBOSE"))
				printf("  sent %llu/%llu dropped %llu dup %llu corrupt %llu reorder %llu "
				       "eagain %llu\n",
				       (unsigned long long)counts.sent[0],
				       (unsigned long long)counts.sent[1],
				       (unsigned long long)counts.dropped,
				       (unsigned long long)counts.duplicated,
				       (unsigned long long)counts.corrupted,
				       (unsigned long long)counts.reordered,
				       (unsigned long long)counts.eagain);
			CHECK(counts.sent[0] + counts.sent[1] > 1000);
		}
		for (int i = 0; i < CONNS; i++) {
			CHECK_EQ(vsock_close(client[i]), 0);
			if (server[i])
				CHECK_EQ(vsock_close(server[i]), 0);
		}
		CHECK_EQ(vsock_close(lsn), 0);
		pair_finish(&p);
	}
}
