/*
 * test_vsock_seqpacket.c -- SEQPACKET in the vsock core (vsock/seqpacket.c;
 * virtio 1.2 §5.10.6.4, Linux as the reference): messages split into RW
 * packets with EOM on the last and EOR when asked, one message per recv
 * with MSG_TRUNC, empty messages, -EMSGSIZE past min(buf_alloc of both), a
 * credit update after every message, a transport that fills up in the
 * middle of a message, and a peer that floods empty messages.
 */
#include "tests/unit/vsock_fixture.h"

#include "vsock/diag.h"
#include "vsock/internal.h"

static struct vsock_sock *seq_listen(struct vsock_core *core, uint32_t port)
{
	struct vsock_sock *sock;
	struct vsock_addr addr = { VSOCK_CID_ANY, port };

	CHECK_EQ(vsock_socket(core, VSOCK_TYPE_SEQPACKET, &sock), 0);
	CHECK_EQ(vsock_bind(sock, &addr), 0);
	CHECK_EQ(vsock_listen(sock, 8), 0);
	return sock;
}

/* An established SEQPACKET connection guest -> host port 2000. */
static void seq_open(struct pair *p, struct vsock_sock **client, struct vsock_sock **server)
{
	struct vsock_sock *lsn = seq_listen(p->host, 2000);
	struct vsock_addr host = { HOST_CID, 2000 };

	CHECK_EQ(vsock_socket(p->guest, VSOCK_TYPE_SEQPACKET, client), 0);
	CHECK_EQ(vsock_connect(*client, &host, VSOCK_DONTWAIT), -EINPROGRESS);
	pair_pump(p);
	CHECK_EQ(vsock_sock_error(*client), 0);
	CHECK_EQ(vsock_accept(lsn, server, NULL, VSOCK_DONTWAIT), 0);
	CHECK_EQ(vsock_close(lsn), 0);
}

static uint8_t data[300000], buf[300000];

static void fill(size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		data[i] = pattern_byte(i, seed);
}

TEST(message_boundaries_kept_across_packets)
{
	static const size_t sizes[] = { 0, 1, 4095, 4096, 4097, 12288, 65536, 0, 3 };
	struct pair p;
	struct vsock_sock *c, *s;
	int flags;

	pair_init(&p); /* 4096-byte packets */
	seq_open(&p, &c, &s);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fill(sizes[i], (uint32_t)i);
		CHECK_EQ(vsock_send(c, data, sizes[i], VSOCK_DONTWAIT), (ssize_t)sizes[i]);
	}
	pair_pump(&p);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		/* A big buffer still gets one message, never two merged. */
		CHECK_EQ(vsock_recvmsg(s, buf, sizeof(buf), VSOCK_DONTWAIT, &flags),
		         (ssize_t)sizes[i]);
		CHECK_EQ(flags, VSOCK_MSG_EOM);
		fill(sizes[i], (uint32_t)i);
		CHECK(memcmp(buf, data, sizes[i]) == 0);
	}
	CHECK_EQ(vsock_recvmsg(s, buf, sizeof(buf), VSOCK_DONTWAIT, &flags), -EAGAIN);
	CHECK_EQ(vsock_close(c), 0);
	pair_pump(&p);
	/* End of stream: 0 without EOM (an empty message has EOM). */
	CHECK_EQ(vsock_recvmsg(s, buf, sizeof(buf), VSOCK_DONTWAIT, &flags), 0);
	CHECK_EQ(flags, 0);
	CHECK_EQ(vsock_close(s), 0);
	pair_finish(&p);
}

TEST(eor_when_asked_and_trunc_drops_the_rest)
{
	struct pair p;
	struct vsock_sock *c, *s;
	int flags;

	pair_init(&p);
	seq_open(&p, &c, &s);
	fill(10000, 1);
	CHECK_EQ(vsock_send(c, data, 10000, VSOCK_MSG_EOR), 10000);
	CHECK_EQ(vsock_send(c, "second", 6, 0), 6);
	CHECK_EQ(vsock_send(c, "third!", 6, 0), 6);
	pair_pump(&p);
	/* 100 bytes of 10000: the rest is gone, TRUNC and EOR say so. */
	CHECK_EQ(vsock_recvmsg(s, buf, 100, 0, &flags), 100);
	CHECK_EQ(flags, VSOCK_MSG_EOM | VSOCK_MSG_TRUNC | VSOCK_MSG_EOR);
	CHECK(memcmp(buf, data, 100) == 0);
	/* With VSOCK_MSG_TRUNC in: the real length. */
	CHECK_EQ(vsock_recvmsg(s, buf, 3, VSOCK_MSG_TRUNC, &flags), 6);
	CHECK_EQ(flags, VSOCK_MSG_EOM | VSOCK_MSG_TRUNC);
	CHECK(memcmp(buf, "sec", 3) == 0);
	CHECK_EQ(vsock_recv(s, buf, sizeof(buf), 0), 6);
	CHECK(memcmp(buf, "third!", 6) == 0);
	CHECK_EQ(vsock_rx_available(s), 0);
	CHECK_EQ(vsock_close(c), 0);
	CHECK_EQ(vsock_close(s), 0);
	pair_finish(&p);
}

TEST(message_over_both_buffers_is_emsgsize)
{
	struct pair p;
	struct vsock_config small, big;
	struct vsock_sock *c, *s;

	vsock_config_defaults(&small);
	vsock_config_defaults(&big);
	small.buf_alloc = 8192;
	big.buf_alloc = 200000;
	/* min(peer's 8192, ours 200000), as Linux since CVE-2026-23086. */
	pair_init_cfg(&p, &big, &small, 4096);
	seq_open(&p, &c, &s);
	CHECK_EQ(vsock_send(c, data, 8193, VSOCK_DONTWAIT), -EMSGSIZE);
	CHECK_EQ(vsock_send(c, data, 8192, VSOCK_DONTWAIT), 8192);
	pair_pump(&p);
	CHECK_EQ(vsock_recv(s, buf, sizeof(buf), 0), 8192);
	/* ... and the other way: min(ours 8192, peer's 200000). */
	CHECK_EQ(vsock_send(s, data, 8193, VSOCK_DONTWAIT), -EMSGSIZE);
	CHECK_EQ(vsock_close(c), 0);
	CHECK_EQ(vsock_close(s), 0);
	pair_finish(&p);
}

TEST(credit_update_after_every_message_and_whole_message_credit)
{
	struct fake_transport fake;
	struct vsock_core *core;
	struct vsock_sock *lsn, *s;
	struct vsock_hdr_fields f;
	struct vsock_pollfd pfd;

	core = fake_core(&fake, NULL);
	fake.ops.features = 1ull << VSOCK_F_SEQPACKET;
	lsn = seq_listen(core, 2000);
	f = pkt(VSOCK_OP_REQUEST, 5000, 2000, 0);
	f.type = VSOCK_TYPE_SEQPACKET;
	f.buf_alloc = 10000;
	inject(core, &f, NULL, 0);
	CHECK_EQ(fake_last(&fake)->op, VSOCK_OP_RESPONSE);
	CHECK_EQ(fake_last(&fake)->type, VSOCK_TYPE_SEQPACKET);
	CHECK_EQ(vsock_accept(lsn, &s, NULL, VSOCK_DONTWAIT), 0);
	/* One message in three packets, the last with EOM and EOR. */
	f.op = VSOCK_OP_RW;
	f.len = 100;
	inject(core, &f, data, 100);
	inject(core, &f, data, 100);
	CHECK_EQ(vsock_recv(s, buf, sizeof(buf), VSOCK_DONTWAIT), -EAGAIN);
	f.flags = VSOCK_SEQ_EOM | VSOCK_SEQ_EOR;
	inject(core, &f, data, 100);
	size_t before = fake.count;
	CHECK_EQ(vsock_recv(s, buf, sizeof(buf), VSOCK_DONTWAIT), 300);
	CHECK_EQ(fake.count, before + 1);
	CHECK_EQ(fake_last(&fake)->op, VSOCK_OP_CREDIT_UPDATE);
	CHECK_EQ(fake_last(&fake)->fwd_cnt, 300);
	/* A zero-length message with EOM is accepted (and updates nothing). */
	f.len = 0;
	f.flags = VSOCK_SEQ_EOM;
	inject(core, &f, NULL, 0);
	int flags;
	CHECK_EQ(vsock_recvmsg(s, buf, sizeof(buf), VSOCK_DONTWAIT, &flags), 0);
	CHECK_EQ(flags, VSOCK_MSG_EOM);
	/* Sending: the peer's 10000-byte buffer.  9000 bytes go (packets of
	 * 4096, EOM on the last); then 2000 do not fit the credit left: not
	 * a byte goes, POLLOUT waits for room for them, CREDIT_REQUEST asks. */
	before = fake.count;
	CHECK_EQ(vsock_send(s, data, 9000, VSOCK_DONTWAIT | VSOCK_MSG_EOR), 9000);
	CHECK_EQ(fake.count, before + 3);
	CHECK_EQ(fake.sent[(before + 1) % FAKE_MAX].flags, 0);
	CHECK_EQ(fake_last(&fake)->len, 9000 - 2 * 4096);
	CHECK_EQ(fake_last(&fake)->flags, VSOCK_SEQ_EOM | VSOCK_SEQ_EOR);
	CHECK_EQ(vsock_send(s, data, 2000, VSOCK_DONTWAIT), -EAGAIN);
	CHECK_EQ(fake_last(&fake)->op, VSOCK_OP_CREDIT_REQUEST);
	pfd = (struct vsock_pollfd){ .sock = s, .events = VSOCK_POLLOUT };
	CHECK_EQ(vsock_poll(&pfd, 1, 0), 0);
	f = pkt(VSOCK_OP_CREDIT_UPDATE, 5000, 2000, 0);
	f.type = VSOCK_TYPE_SEQPACKET;
	f.buf_alloc = 10000;
	f.fwd_cnt = 9000;
	inject(core, &f, NULL, 0);
	CHECK_EQ(vsock_poll(&pfd, 1, 0), 1);
	CHECK_EQ(vsock_send(s, data, 2000, VSOCK_DONTWAIT), 2000);
	CHECK_EQ(vsock_close(s), 0);
	CHECK_EQ(vsock_close(lsn), 0);
	f = pkt(VSOCK_OP_RST, 5000, 2000, 0);
	f.type = VSOCK_TYPE_SEQPACKET;
	inject(core, &f, NULL, 0);
	core_check_empty(core);
	vsock_core_destroy(core);
}

TEST(transport_full_in_the_middle_of_a_message)
{
	struct pair p;
	struct vsock_sock *c, *s;
	struct vsock_loopback_faults faults = { .capacity = 2 };

	pair_init(&p);
	seq_open(&p, &c, &s);
	vsock_loopback_set_faults(p.lb, &faults);
	/* 5 packets, 2 fit: the message is taken, the rest goes later; the
	 * next message and the close's SHUTDOWN wait behind it. */
	fill(20000, 3);
	CHECK_EQ(vsock_send(c, data, 20000, VSOCK_DONTWAIT | VSOCK_MSG_EOR), 20000);
	CHECK_EQ(vsock_send(c, "next", 4, VSOCK_DONTWAIT), -EAGAIN);
	for (int i = 0; i < 10; i++)
		pair_pump(&p); /* each pump drains, tx_ready refills */
	CHECK_EQ(vsock_send(c, "next", 4, VSOCK_DONTWAIT), 4);
	CHECK_EQ(vsock_close(c), 0);
	for (int i = 0; i < 10; i++)
		pair_pump(&p);
	int flags;
	CHECK_EQ(vsock_recvmsg(s, buf, sizeof(buf), 0, &flags), 20000);
	CHECK_EQ(flags, VSOCK_MSG_EOM | VSOCK_MSG_EOR);
	CHECK(memcmp(buf, data, 20000) == 0);
	CHECK_EQ(vsock_recv(s, buf, sizeof(buf), 0), 4);
	CHECK_EQ(vsock_recvmsg(s, buf, sizeof(buf), VSOCK_DONTWAIT, &flags), 0);
	CHECK_EQ(flags, 0); /* the SHUTDOWN came after both */
	CHECK_EQ(vsock_close(s), 0);
	faults.capacity = 0;
	vsock_loopback_set_faults(p.lb, &faults);
	pair_finish(&p);
}

TEST(a_flood_of_empty_messages_resets_and_other_types_are_refused)
{
	struct fake_transport fake;
	struct vsock_core *core;
	struct vsock_sock *lsn, *stream_lsn, *s;
	struct vsock_hdr_fields f;

	core = fake_core(&fake, NULL);
	fake.ops.features = (1ull << VSOCK_F_STREAM) | (1ull << VSOCK_F_SEQPACKET);
	lsn = seq_listen(core, 2000);
	stream_lsn = listen_on(core, 2001, 4);
	/* A SEQPACKET REQUEST to the STREAM listener: RST, and said why. */
	f = pkt(VSOCK_OP_REQUEST, 5001, 2001, 0);
	f.type = VSOCK_TYPE_SEQPACKET;
	inject(core, &f, NULL, 0);
	CHECK_EQ(fake_last(&fake)->op, VSOCK_OP_RST);
	CHECK(strstr(harness_last_log, "port 2001 listens for STREAM, the peer asked for "
	                               "SEQPACKET") != NULL);
	f = pkt(VSOCK_OP_REQUEST, 5000, 2000, 0);
	f.type = VSOCK_TYPE_SEQPACKET;
	inject(core, &f, NULL, 0);
	CHECK_EQ(vsock_accept(lsn, &s, NULL, VSOCK_DONTWAIT), 0);
	/* Empty messages cost no credit: more than VSOCK_SEQ_MAX_MSGS unread
	 * ones reset the connection (Linux resets a peer overrunning its
	 * queue too). */
	f.op = VSOCK_OP_RW;
	f.flags = VSOCK_SEQ_EOM;
	for (int i = 0; i < VSOCK_SEQ_MAX_MSGS; i++)
		inject(core, &f, NULL, 0);
	CHECK_EQ(vsock_sock_error(s), 0);
	inject(core, &f, NULL, 0);
	CHECK_EQ(vsock_sock_error(s), -ENOBUFS);
	CHECK_EQ(fake_last(&fake)->op, VSOCK_OP_RST);
	CHECK_EQ(vsock_close(s), 0);
	CHECK_EQ(vsock_close(lsn), 0);
	CHECK_EQ(vsock_close(stream_lsn), 0);
	core_check_empty(core);
	vsock_core_destroy(core);
}

TEST(types_follow_the_negotiated_features)
{
	struct fake_transport fake;
	struct vsock_core *core;
	struct vsock_sock *s;
	struct vsock_hdr_fields f;

	/* Neither bit: STREAM only (implied), SEQPACKET refused. */
	core = fake_core(&fake, NULL);
	CHECK_EQ(vsock_socket(core, VSOCK_TYPE_SEQPACKET, &s), -ESOCKTNOSUPPORT);
	f = pkt(VSOCK_OP_REQUEST, 5000, 2000, 0);
	f.type = VSOCK_TYPE_SEQPACKET;
	inject(core, &f, NULL, 0);
	CHECK_EQ(fake_last(&fake)->op, VSOCK_OP_RST);
	CHECK(strstr(harness_last_log, "unsupported type") != NULL);
	CHECK_EQ(vsock_socket(core, VSOCK_TYPE_STREAM, &s), 0);
	CHECK_EQ(vsock_close(s), 0);
	/* F_NO_IMPLIED_STREAM without F_STREAM: SEQPACKET only. */
	fake.ops.features = (1ull << VSOCK_F_SEQPACKET) | (1ull << VSOCK_F_NO_IMPLIED_STREAM);
	CHECK_EQ(vsock_socket(core, VSOCK_TYPE_STREAM, &s), -ESOCKTNOSUPPORT);
	CHECK_EQ(vsock_socket(core, VSOCK_TYPE_SEQPACKET, &s), 0);
	CHECK_EQ(vsock_close(s), 0);
	fake.ops.features |= 1ull << VSOCK_F_STREAM;
	CHECK_EQ(vsock_socket(core, VSOCK_TYPE_STREAM, &s), 0);
	CHECK_EQ(vsock_close(s), 0);
	core_check_empty(core);
	vsock_core_destroy(core);
}

TEST(diag_seqpacket_echo_returns_each_message_with_its_eor)
{
	struct pair p;
	struct vsock_diag *diag;
	struct vsock_sock *c;
	struct vsock_addr addr = { HOST_CID, VSOCK_DIAG_SEQ_ECHO_PORT };
	static const size_t sizes[] = { 5, 0, 65536, 4097, 1 };
	int flags;

	pair_init(&p);
	CHECK_EQ(vsock_diag_start(&diag, p.host, VSOCK_DIAG_SEQ_ECHO, 0), 0);
	CHECK_EQ(vsock_socket(p.guest, VSOCK_TYPE_SEQPACKET, &c), 0);
	CHECK_EQ(vsock_connect(c, &addr, VSOCK_DONTWAIT), -EINPROGRESS);
	for (int i = 0; i < 4; i++) {
		pair_pump(&p);
		vsock_diag_step(diag, 0);
	}
	CHECK_EQ(vsock_sock_error(c), 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fill(sizes[i], (uint32_t)i);
		CHECK_EQ(vsock_send(c, data, sizes[i], i % 2 ? VSOCK_MSG_EOR : 0),
		         (ssize_t)sizes[i]);
		for (int k = 0; k < 40; k++) {
			pair_pump(&p);
			vsock_diag_step(diag, 0);
		}
		CHECK_EQ(vsock_recvmsg(c, buf, sizeof(buf), VSOCK_DONTWAIT, &flags),
		         (ssize_t)sizes[i]);
		CHECK_EQ(flags, VSOCK_MSG_EOM | (i % 2 ? VSOCK_MSG_EOR : 0));
		CHECK(memcmp(buf, data, sizes[i]) == 0);
	}
	CHECK_EQ(vsock_close(c), 0);
	for (int k = 0; k < 4; k++) {
		pair_pump(&p);
		vsock_diag_step(diag, 0);
	}
	vsock_diag_destroy(diag);
	pair_finish(&p);
}
