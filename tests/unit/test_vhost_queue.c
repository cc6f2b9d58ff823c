/*
 * test_vhost_queue.c -- one VM's packet queue (host/vhost/vsock_queue.c)
 * on rings laid out by hand in host memory, with a guest that refills its
 * ring from inside the daemon's own processing, so that "a guest keeping
 * its ring topped up" is exact rather than a race (issue 12 hole 3; Linux
 * vhost's weights, CVE-2019-3900).
 */
#include "tests/unit/harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "host/vhost/guest_mem.h"
#include "host/vhost/loop.h"
#include "host/vhost/vhost_user.h"
#include "host/vhost/virtq.h"
#include "host/vhost/vsock_conn.h"
#include "host/vhost/vsock_queue.h"
#include "host/vhost/vsock_wire.h"

#define MEM_SIZE (1u << 20)
#define UVA      0x7f3400000000ull
#define CID      7
#define RING_NUM 1024
/* Ring areas (guest-physical = offset); buffers from BUF_OFF. */
#define RX_DESC  0x0000
#define RX_AVAIL 0x4000
#define RX_USED  0x5000
#define TX_DESC  0x8000
#define TX_AVAIL 0xc000
#define TX_USED  0xd000
#define BUF_OFF  0x10000

struct fixture {
	uint8_t *mem;               /* the guest's memory */
	struct vu_dev dev;          /* rings only: no socket, no front-end */
	struct vsock_queue q;       /* the queue under test */
	uint16_t tx_avail;          /* the guest's next tx avail index */
	unsigned refills_left;      /* tx packets the guest adds while served */
	struct vsock_queue sibling; /* a sibling VM (shares our rx ring) */
	bool have_sibling;          /* find_sibling answers with it */
};

static struct fixture fx;

static uint16_t *avail_idx(uint32_t avail_off)
{
	return (uint16_t *)(fx.mem + avail_off + 2);
}

static uint16_t used_idx(uint32_t used_off)
{
	return *(uint16_t *)(fx.mem + used_off + 2);
}

/* The guest posts tx entry n (every entry names descriptor 0). */
static void tx_publish(void)
{
	uint16_t *ring = avail_idx(TX_AVAIL) + 1;
	ring[fx.tx_avail % RING_NUM] = 0;
	fx.tx_avail++;
	__atomic_store_n(avail_idx(TX_AVAIL), fx.tx_avail, __ATOMIC_RELEASE);
}

/* Called by the daemon for every packet to another CID: the guest adds a
 * packet for each one the daemon takes, while the daemon runs. */
static struct vsock_queue *find_sibling(struct vsock_queue *q, uint64_t cid)
{
	/* A driver refills what the device has used (the entry being served
	 * now is not used yet). */
	if (fx.refills_left && (uint16_t)(fx.tx_avail - used_idx(TX_USED)) < RING_NUM) {
		fx.refills_left--;
		tx_publish();
	}
	return fx.have_sibling && cid == fx.sibling.cid ? &fx.sibling : NULL;
}

static const struct vsock_queue_ops ops = { .find_sibling = find_sibling };

static void ring_start(unsigned idx, uint32_t desc, uint32_t avail, uint32_t used)
{
	struct vu_vring *vr = &fx.dev.vring[idx];
	vr->idx = idx;
	vr->dev = &fx.dev;
	vr->call_fd = -1;
	vr->kick.fd = -1;
	vr->started = vr->enabled = true;
	vr->vq.name = idx == VU_RX ? "rx" : "tx";
	CHECK_EQ(virtq_setup(&vr->vq, &fx.dev.mem, RING_NUM, fx.mem + desc, fx.mem + avail,
	                     fx.mem + used, 0, false),
	         0);
}

static void after_batch(void)
{
	queue_after_batch(&fx.q);
}

static void setup(void)
{
	static bool hooked;
	memset(&fx, 0, sizeof(fx));
	fx.mem = aligned_alloc(4096, MEM_SIZE);
	CHECK(fx.mem != NULL);
	memset(fx.mem, 0, MEM_SIZE);
	CHECK_EQ(guest_mem_add_host(&fx.dev.mem, 0, MEM_SIZE, UVA, fx.mem), 0);
	ring_start(VU_RX, RX_DESC, RX_AVAIL, RX_USED);
	ring_start(VU_TX, TX_DESC, TX_AVAIL, TX_USED);
	queue_init(&fx.q, &fx.dev, CID, "/nonexistent/vm.vsock", 65536, 16, &ops);
	CHECK_EQ(loop_init(), 0);
	if (!hooked)
		loop_after_batch(after_batch);
	hooked = true;
}

static void teardown(void)
{
	queue_drop(&fx.q);
	if (fx.have_sibling)
		queue_drop(&fx.sibling);
	loop_fini();
	guest_mem_clear(&fx.dev.mem);
	free(fx.mem);
}

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Tx descriptor 0: an RST to another CID (no answer, no log line, one
 * find_sibling callback each time it is served). */
static void tx_desc_rst_elsewhere(void)
{
	struct vsock_hdr h = { .src_cid = CID,
		               .dst_cid = 99,
		               .src_port = 1,
		               .dst_port = 2,
		               .type = VSOCK_TYPE_STREAM,
		               .op = VSOCK_OP_RST };
	memcpy(fx.mem + BUF_OFF, &h, sizeof(h));
	struct vring_desc *desc = (struct vring_desc *)(fx.mem + TX_DESC);
	desc[0] = (struct vring_desc){ BUF_OFF, VSOCK_HDR_SIZE, 0, 0 };
}

TEST(tx_stops_at_its_weight_while_the_guest_keeps_the_ring_full)
{
	setup();
	tx_desc_rst_elsewhere();
	fx.refills_left = 100000;
	tx_publish();
	queue_tx_service(&fx.q);
	/* The old loop ran until the guest stopped (100,001 packets). */
	CHECK_EQ(used_idx(TX_USED), QUEUE_WEIGHT_PKTS);
	CHECK(fx.q.tx_more);
	/* The next round does not block in epoll: the leftover work goes on
	 * at once (a 5 s wait would mean nobody asked for it). */
	double t0 = seconds();
	CHECK(loop_run_once(5000) >= 0);
	CHECK(seconds() - t0 < 2.5);
	CHECK_EQ(used_idx(TX_USED), 2 * QUEUE_WEIGHT_PKTS);
	/* Once the guest stops, the rounds drain the ring and stop asking. */
	fx.refills_left = 0;
	for (int i = 0; i < 16 && fx.q.tx_more; i++)
		CHECK(loop_run_once(5000) >= 0);
	CHECK(!fx.q.tx_more);
	CHECK_EQ(used_idx(TX_USED), fx.tx_avail);
	teardown();
}

/* A guest whose kick was lost (a store that passed a load, see
 * queue_watchdog): the packet is served on the watchdog's second look at an
 * unmoved ring, not on the first (the kick may still be on its way). */
TEST(tx_packets_waiting_without_a_kick_are_served_by_the_watchdog)
{
	setup();
	tx_desc_rst_elsewhere();
	queue_watchdog(&fx.q); /* an idle ring: nothing to say */
	CHECK_EQ(fx.q.kicks_lost, 0u);
	tx_publish(); /* ... and no kick */
	queue_watchdog(&fx.q);
	CHECK_EQ(used_idx(TX_USED), 0); /* it has not waited a period yet */
	queue_watchdog(&fx.q);
	CHECK_EQ(used_idx(TX_USED), 1);
	CHECK_EQ(fx.q.kicks_lost, 1u);
	queue_watchdog(&fx.q); /* served: nothing more */
	CHECK_EQ(fx.q.kicks_lost, 1u);
	teardown();
}

TEST(rx_stops_at_its_weight_with_more_packets_than_that)
{
	setup();
	/* 1000 RSTs owed to the guest, 1024 header-sized rx buffers. */
	for (unsigned i = 0; i < 1000; i++) {
		struct vsock_hdr *h = &fx.q.rst[i];
		*h = (struct vsock_hdr){ .src_cid = VSOCK_CID_HOST,
			                 .dst_cid = CID,
			                 .src_port = 5,
			                 .dst_port = i,
			                 .type = VSOCK_TYPE_STREAM,
			                 .op = VSOCK_OP_RST };
	}
	fx.q.rst_count = 1000;
	struct vring_desc *desc = (struct vring_desc *)(fx.mem + RX_DESC);
	uint16_t *ring = avail_idx(RX_AVAIL) + 1;
	for (unsigned i = 0; i < RING_NUM; i++) {
		desc[i] = (struct vring_desc){ BUF_OFF + VSOCK_HDR_SIZE * i, VSOCK_HDR_SIZE,
			                       VRING_DESC_F_WRITE, 0 };
		ring[i] = (uint16_t)i;
	}
	*avail_idx(RX_AVAIL) = RING_NUM;
	queue_rx_service(&fx.q);
	CHECK_EQ(used_idx(RX_USED), QUEUE_WEIGHT_PKTS);
	CHECK(fx.q.rx_dirty);
	for (int i = 0; i < 16 && fx.q.rx_dirty; i++)
		CHECK(loop_run_once(5000) >= 0);
	CHECK_EQ(used_idx(RX_USED), 1000);
	CHECK_EQ(fx.q.rst_count, 0);
	/* In order: the last RST went to guest port 999. */
	struct vsock_hdr last;
	memcpy(&last, fx.mem + BUF_OFF + VSOCK_HDR_SIZE * 999, sizeof(last));
	CHECK_EQ(last.dst_port, 999);
	CHECK_EQ(last.op, VSOCK_OP_RST);
	teardown();
}

/* The guest keeps its tx ring full of a packet to the sibling (CID 8) with
 * `len` payload bytes; the daemon takes what the sibling's queue holds. */
static void flood_sibling(uint32_t len)
{
	unsigned count = RING_NUM;
	queue_init(&fx.sibling, &fx.dev, 8, "/nonexistent/vm8.vsock", 65536, 16, &ops);
	fx.have_sibling = true;
	struct vsock_hdr h = { .src_cid = CID,
		               .dst_cid = 8,
		               .src_port = 1,
		               .dst_port = 2,
		               .len = len,
		               .type = VSOCK_TYPE_STREAM,
		               .op = VSOCK_OP_RW };
	memcpy(fx.mem + BUF_OFF, &h, sizeof(h));
	struct vring_desc *desc = (struct vring_desc *)(fx.mem + TX_DESC);
	desc[0] = (struct vring_desc){ BUF_OFF, VSOCK_HDR_SIZE + len, 0, 0 };
	for (unsigned i = 0; i < count; i++)
		tx_publish();
	fx.refills_left = 100000;
	for (int i = 0; i < 64; i++)
		queue_after_batch(&fx.q), queue_tx_service(&fx.q);
}

TEST(header_only_packets_to_a_stalled_sibling_are_counted)
{
	setup();
	flood_sibling(0);
	/* The old bound counted payload bytes only: a guest refilling its ring
	 * queued header-only packets without end. */
	CHECK_EQ(fx.sibling.sibling_count, SIBLING_QUEUE_PKTS);
	CHECK(fx.q.tx_stalled);
	CHECK_EQ(used_idx(TX_USED), SIBLING_QUEUE_PKTS);
	teardown();
}

TEST(payload_to_a_stalled_sibling_is_charged_with_its_overhead)
{
	setup();
	flood_sibling(4096);
	unsigned fits = SIBLING_QUEUE_BYTES / (4096 + SIBLING_PKT_CHARGE);
	CHECK_EQ(fx.sibling.sibling_count, fits);
	CHECK(fx.sibling.sibling_bytes <= SIBLING_QUEUE_BYTES);
	CHECK(fx.q.tx_stalled);
	CHECK_EQ(used_idx(TX_USED), fits);
	/* The sibling drains one packet (into our shared rx ring): one more
	 * leaves the sender's ring, in order. */
	struct vring_desc *desc = (struct vring_desc *)(fx.mem + RX_DESC);
	desc[0] = (struct vring_desc){ 0x80000, 8192, VRING_DESC_F_WRITE, 0 };
	uint16_t *ring = avail_idx(RX_AVAIL) + 1;
	ring[0] = 0;
	*avail_idx(RX_AVAIL) = 1;
	queue_rx_service(&fx.sibling);
	CHECK_EQ(used_idx(RX_USED), 1);
	queue_after_batch(&fx.q);
	CHECK_EQ(used_idx(TX_USED), fits + 1);
	CHECK_EQ(fx.sibling.sibling_count, fits);
	teardown();
}

/* The guest posts one tx packet (header + payload) and the daemon takes it
 * for queue q (the VMs of this fixture share one pair of rings). */
static void tx_one(struct vsock_queue *q, const struct vsock_hdr *h, const void *payload)
{
	memcpy(fx.mem + BUF_OFF, h, sizeof(*h));
	if (h->len)
		memcpy(fx.mem + BUF_OFF + VSOCK_HDR_SIZE, payload, h->len);
	struct vring_desc *desc = (struct vring_desc *)(fx.mem + TX_DESC);
	desc[0] = (struct vring_desc){ BUF_OFF, VSOCK_HDR_SIZE + h->len, 0, 0 };
	tx_publish();
	queue_tx_service(q);
}

TEST(sibling_and_host_packets_take_turns)
{
	setup();
	/* VM 8 (the sibling's queue) has a host connection: its guest
	 * connected to a Unix listener at <uds>_6000. */
	char dir[] = "/tmp/test_vhost_queue.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char uds[64], port_path[80];
	snprintf(uds, sizeof(uds), "%s/vm8.vsock", dir);
	snprintf(port_path, sizeof(port_path), "%s_6000", uds);
	int lsn = vu_listen_unix(port_path, 4);
	CHECK(lsn >= 0);
	queue_init(&fx.sibling, &fx.dev, 8, uds, 65536, 16, &ops);
	fx.have_sibling = true;
	struct vsock_hdr req = { .src_cid = 8,
		                 .dst_cid = VSOCK_CID_HOST,
		                 .src_port = 1000,
		                 .dst_port = 6000,
		                 .type = VSOCK_TYPE_STREAM,
		                 .op = VSOCK_OP_REQUEST,
		                 .buf_alloc = 1 << 20 };
	tx_one(&fx.sibling, &req, NULL);
	int host = accept(lsn, NULL, NULL);
	CHECK(host >= 0);
	/* VM 7 sends 40 packets to VM 8 ... */
	static uint8_t payload[1000];
	struct vsock_hdr rw = { .src_cid = CID,
		                .dst_cid = 8,
		                .src_port = 1,
		                .dst_port = 2,
		                .len = sizeof(payload),
		                .type = VSOCK_TYPE_STREAM,
		                .op = VSOCK_OP_RW };
	for (int i = 0; i < 40; i++)
		tx_one(&fx.q, &rw, payload);
	CHECK_EQ(fx.sibling.sibling_count, 40);
	/* ... while the host program writes 40 KiB to VM 8. */
	static uint8_t data[40 * 1024];
	CHECK_EQ(write(host, data, sizeof(data)), (ssize_t)sizeof(data));
	CHECK(loop_run_once(1000) >= 1); /* EPOLLIN: the connection has data */
	/* 64 rx buffers of 2 KiB. */
	struct vring_desc *desc = (struct vring_desc *)(fx.mem + RX_DESC);
	uint16_t *ring = avail_idx(RX_AVAIL) + 1;
	for (unsigned i = 0; i < 64; i++) {
		desc[i] = (struct vring_desc){ 0x80000 + 2048 * i, 2048, VRING_DESC_F_WRITE, 0 };
		ring[i] = (uint16_t)i;
	}
	*avail_idx(RX_AVAIL) = 64;
	queue_rx_service(&fx.sibling);
	/* The old order served all 40 sibling packets first.  Now, while both
	 * wait, no two sibling packets follow each other. */
	unsigned from_host = 0, run = 0, longest = 0;
	for (unsigned i = 0; i < 40; i++) {
		struct vsock_hdr h;
		memcpy(&h, fx.mem + 0x80000 + 2048 * i, sizeof(h));
		if (h.src_cid == VSOCK_CID_HOST) {
			from_host++;
			run = 0;
		} else {
			CHECK_EQ(h.src_cid, CID);
			if (++run > longest)
				longest = run;
		}
	}
	CHECK(from_host >= 19);
	CHECK_EQ(longest, 1);
	close(host);
	close(lsn);
	unlink(port_path);
	rmdir(dir);
	teardown();
}

TEST(packets_the_guest_holds_are_bounded_by_linux_rule)
{
	/* Linux (6.12.92+) resets when (queued + 1) * SKB_TRUESIZE(0) + bytes
	 * + len > buf_alloc: the send limit keeps that true with a margin. */
	static struct vsock_conn conn;
	memset(&conn, 0, sizeof(conn));
	conn.state = CONN_ESTABLISHED;
	conn.peer_buf_alloc = 65536;
	CHECK_EQ(conn_send_limit(&conn), 65536 - GUEST_PKT_COST);
	unsigned sent = 0;
	while (conn_send_limit(&conn) >= 200) {
		conn.tx_cnt += 200; /* 200-byte packets, never consumed */
		conn_sent_packet(&conn);
		sent++;
		/* The strict rule with the real 576 bytes holds for each. */
		CHECK((uint64_t)conn.pkt_count * 576 + conn.tx_cnt <= conn.peer_buf_alloc);
	}
	CHECK_EQ(sent, 65536 / (GUEST_PKT_COST + 200) - 0);
	CHECK(conn_peer_credit(&conn) > 30000); /* the credit alone allowed more */
	/* The guest consumes the first 10 packets: 10 more may go. */
	conn_peer_update(&conn, 65536, 2000);
	CHECK_EQ(conn.pkt_count, sent - 10);
	CHECK(conn_send_limit(&conn) >= 200);
	/* fwd_cnt in the middle of a packet frees nothing more; a fwd_cnt past
	 * what we sent (a lying guest) frees nothing at all. */
	conn_peer_update(&conn, 65536, 2100);
	CHECK_EQ(conn.pkt_count, sent - 10);
	conn_peer_update(&conn, 65536, conn.tx_cnt + 5000);
	CHECK_EQ(conn.pkt_count, sent - 10);
	/* However big the guest's buffer, at most CONN_TRACK_PKTS packets. */
	memset(&conn, 0, sizeof(conn));
	conn.peer_buf_alloc = 64u << 20;
	for (unsigned i = 0; i < CONN_TRACK_PKTS; i++) {
		CHECK(conn_send_limit(&conn) > 0);
		conn.tx_cnt += 1;
		conn_sent_packet(&conn);
	}
	CHECK_EQ(conn_send_limit(&conn), 0);
	/* Counters that wrap. */
	memset(&conn, 0, sizeof(conn));
	conn.peer_buf_alloc = 65536;
	conn.tx_cnt = conn.peer_fwd_cnt = 0xfffffff0u;
	conn.tx_cnt += 100;
	conn_sent_packet(&conn);
	conn.tx_cnt += 100;
	conn_sent_packet(&conn);
	conn_peer_update(&conn, 65536, 0xfffffff0u + 100);
	CHECK_EQ(conn.pkt_count, 1);
	conn_peer_update(&conn, 65536, 0xfffffff0u + 200);
	CHECK_EQ(conn.pkt_count, 0);
}
