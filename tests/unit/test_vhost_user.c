/*
 * test_vhost_user.c -- the back-end's vhost-user message handling, driven
 * the way QEMU 7.2 drives vhost-user-vsock (docs/interop/vhost-user.rst;
 * DESIGN §6): feature and config answers, REPLY_ACK, a memfd memory table,
 * ring setup that only runs once enabled, GET_VRING_BASE stopping the ring
 * (a pause: connections stay unless the ring comes back somewhere else).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, memfd_create */
#endif
#include "tests/unit/harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "host/vhost/guest_fault.h"
#include "host/vhost/loop.h"
#include "host/vhost/vhost_user.h"
#include "host/vhost/vsock_wire.h"

#define MEM_SIZE (1u << 20)
#define GPA      0x0ull
#define UVA      0x7f1200000000ull

static unsigned kicks[VU_NUM_QUEUES]; /* ops->kick calls per ring */
static unsigned stops;                /* ops->stop calls */
static unsigned resumes;              /* ops->resume calls */

static void on_kick(struct vu_dev *dev, unsigned idx)
{
	kicks[idx]++;
}

static void on_stop(struct vu_dev *dev)
{
	stops++;
}

static void on_resume(struct vu_dev *dev, uint64_t paused_ms)
{
	resumes++;
}

static const struct vu_ops ops = { .kick = on_kick, .stop = on_stop, .resume = on_resume };

struct fixture {
	struct vu_dev dev;
	char path[64];
	int memfd;
};

static void setup(struct fixture *f)
{
	memset(kicks, 0, sizeof(kicks));
	stops = 0;
	resumes = 0;
	CHECK_EQ(loop_init(), 0);
	CHECK_EQ(guest_fault_init(), 0);
	snprintf(f->path, sizeof(f->path), "/tmp/test_vhost_user.%d.sock", getpid());
	CHECK_EQ(vu_dev_init(&f->dev, f->path, 42, &ops, NULL), 0);
	f->memfd = memfd_create("guest", MFD_CLOEXEC);
	CHECK(f->memfd >= 0);
	CHECK_EQ(ftruncate(f->memfd, MEM_SIZE), 0);
}

static void teardown(struct fixture *f)
{
	vu_dev_fini(&f->dev);
	close(f->memfd);
	loop_fini();
	CHECK(access(f->path, F_OK) != 0); /* socket file removed */
}

/* Sends one message; returns the handler's result, reply in *m. */
static int send_msg(struct fixture *f, struct vu_msg *m, uint32_t request, uint32_t flags,
                    uint32_t size, bool *reply)
{
	m->request = request;
	m->flags = VU_FLAG_VERSION | flags;
	m->size = size;
	int err = vu_handle_msg(&f->dev, m, reply);
	for (unsigned i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	m->nfds = 0;
	return err;
}

static int simple(struct fixture *f, uint32_t request, uint64_t value)
{
	struct vu_msg m = { 0 };
	bool reply;
	m.payload.u64 = value;
	return send_msg(f, &m, request, 0, 8, &reply);
}

static int state(struct fixture *f, uint32_t request, uint32_t index, uint32_t num)
{
	struct vu_msg m = { 0 };
	bool reply;
	m.payload.state.index = index;
	m.payload.state.num = num;
	return send_msg(f, &m, request, 0, 8, &reply);
}

TEST(offers_version_1_protocol_features_and_config)
{
	struct fixture f;
	setup(&f);
	struct vu_msg m = { 0 };
	bool reply;
	CHECK_EQ(send_msg(&f, &m, VU_GET_FEATURES, 0, 0, &reply), 0);
	CHECK(reply);
	CHECK(m.payload.u64 & (1ull << VIRTIO_F_VERSION_1));
	CHECK(m.payload.u64 & (1ull << VU_F_PROTOCOL_FEATURES));
	CHECK_EQ(send_msg(&f, &m, VU_GET_PROTOCOL_FEATURES, 0, 0, &reply), 0);
	CHECK(m.payload.u64 & (1ull << VU_PROTOCOL_F_CONFIG));
	CHECK(m.payload.u64 & (1ull << VU_PROTOCOL_F_REPLY_ACK));
	CHECK(m.payload.u64 & (1ull << VU_PROTOCOL_F_MQ));
	CHECK_EQ(send_msg(&f, &m, VU_GET_QUEUE_NUM, 0, 0, &reply), 0);
	CHECK(reply);
	CHECK_EQ(m.payload.u64, 3);
	/* Features outside the offer are refused. */
	CHECK(simple(&f, VU_SET_FEATURES, 1ull << 63) < 0);
	teardown(&f);
}

TEST(get_config_answers_the_guest_cid)
{
	struct fixture f;
	setup(&f);
	struct vu_msg m = { 0 };
	bool reply;
	m.payload.config.offset = 0;
	m.payload.config.size = 8;
	CHECK_EQ(send_msg(&f, &m, VU_GET_CONFIG, 0, 12 + 8, &reply), 0);
	CHECK(reply);
	CHECK_EQ(m.size, 20);
	uint64_t cid;
	memcpy(&cid, m.payload.config.data, 8);
	CHECK_EQ(cid, 42);
	/* Out of range: a zero-length payload reports failure. */
	m.payload.config.offset = 4;
	m.payload.config.size = 8;
	CHECK_EQ(send_msg(&f, &m, VU_GET_CONFIG, 0, 12 + 8, &reply), 0);
	CHECK(reply);
	CHECK_EQ(m.size, 0);
	teardown(&f);
}

TEST(reply_ack_reports_success_and_failure)
{
	struct fixture f;
	setup(&f);
	struct vu_msg m = { 0 };
	bool reply;
	/* Without REPLY_ACK negotiated NEED_REPLY gets no answer. */
	m.payload.state.index = 0;
	m.payload.state.num = 256;
	CHECK_EQ(send_msg(&f, &m, VU_SET_VRING_NUM, VU_FLAG_NEED_REPLY, 8, &reply), 0);
	CHECK(!reply);
	CHECK_EQ(simple(&f, VU_SET_PROTOCOL_FEATURES, 1ull << VU_PROTOCOL_F_REPLY_ACK), 0);
	m.payload.state.index = 0;
	m.payload.state.num = 256;
	CHECK_EQ(send_msg(&f, &m, VU_SET_VRING_NUM, VU_FLAG_NEED_REPLY, 8, &reply), 0);
	CHECK(reply);
	CHECK_EQ(m.payload.u64, 0);
	m.payload.state.index = 0;
	m.payload.state.num = 100; /* not a power of two */
	CHECK_EQ(send_msg(&f, &m, VU_SET_VRING_NUM, VU_FLAG_NEED_REPLY, 8, &reply), 0);
	CHECK(reply);
	CHECK_EQ(m.payload.u64, 1);
	/* Issue 16 changed this: ring 2 (events) is accepted, as crosvm sets
	 * it up; an index past the three queues is refused. */
	m.payload.state.index = 2;
	m.payload.state.num = 64;
	CHECK_EQ(send_msg(&f, &m, VU_SET_VRING_NUM, VU_FLAG_NEED_REPLY, 8, &reply), 0);
	CHECK_EQ(m.payload.u64, 0);
	m.payload.state.index = 3;
	m.payload.state.num = 64;
	CHECK_EQ(send_msg(&f, &m, VU_SET_VRING_NUM, VU_FLAG_NEED_REPLY, 8, &reply), 0);
	CHECK_EQ(m.payload.u64, 1);
	teardown(&f);
}

static void set_mem_table_sized(struct fixture *f, uint64_t size, int expect)
{
	struct vu_msg m = { 0 };
	bool reply;
	m.payload.mem.nregions = 1;
	m.payload.mem.region[0].gpa = GPA;
	m.payload.mem.region[0].size = size;
	m.payload.mem.region[0].uva = UVA;
	m.payload.mem.region[0].mmap_offset = 0;
	m.fds[0] = dup(f->memfd);
	m.nfds = 1;
	CHECK_EQ(send_msg(f, &m, VU_SET_MEM_TABLE, 0, 8 + 32, &reply), expect);
}

static void set_mem_table(struct fixture *f, int expect)
{
	set_mem_table_sized(f, MEM_SIZE, expect);
}

static void set_addr(struct fixture *f, unsigned idx, uint64_t desc_off)
{
	struct vu_msg m = { 0 };
	bool reply;
	m.payload.addr.index = idx;
	m.payload.addr.desc = UVA + desc_off;
	m.payload.addr.avail = UVA + desc_off + 0x1000;
	m.payload.addr.used = UVA + desc_off + 0x2000;
	CHECK_EQ(send_msg(f, &m, VU_SET_VRING_ADDR, 0, 40, &reply), 0);
}

static void set_kick(struct fixture *f, unsigned idx, bool signalled)
{
	struct vu_msg m = { 0 };
	bool reply;
	int efd = eventfd(signalled ? 1 : 0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(efd >= 0);
	m.payload.u64 = idx;
	m.fds[0] = efd;
	m.nfds = 1;
	CHECK_EQ(send_msg(f, &m, VU_SET_VRING_KICK, 0, 8, &reply), 0);
}

TEST(ring_runs_after_setup_and_enable_and_stops_on_get_vring_base)
{
	struct fixture f;
	setup(&f);
	CHECK_EQ(simple(&f, VU_SET_FEATURES, vu_offered_features()), 0);
	set_mem_table(&f, 0);
	CHECK_EQ(state(&f, VU_SET_VRING_NUM, VU_TX, 128), 0);
	CHECK_EQ(state(&f, VU_SET_VRING_BASE, VU_TX, 0), 0);
	set_addr(&f, VU_TX, 0x10000);
	set_kick(&f, VU_TX, true);
	CHECK_EQ(kicks[VU_TX], 1);                  /* looked at right away */
	CHECK(vu_dev_queue(&f.dev, VU_TX) == NULL); /* still disabled */
	CHECK_EQ(state(&f, VU_SET_VRING_ENABLE, VU_TX, 1), 0);
	struct virtq *vq = vu_dev_queue(&f.dev, VU_TX);
	CHECK(vq != NULL);
	CHECK_EQ(vq->num, 128);
	CHECK(vq->event_idx);
	/* Run the loop once: the signalled kick fd is delivered. */
	CHECK(loop_run_once(100) >= 1);
	CHECK_EQ(kicks[VU_TX], 3);
	vq->last_avail = 7;
	struct vu_msg m = { 0 };
	bool reply;
	m.payload.state.index = VU_TX;
	CHECK_EQ(send_msg(&f, &m, VU_GET_VRING_BASE, 0, 8, &reply), 0);
	CHECK(reply);
	CHECK_EQ(m.payload.state.num, 7);
	CHECK(vu_dev_queue(&f.dev, VU_TX) == NULL);
	/* Issue 16 changed this: GET_VRING_BASE is a pause (QEMU sends it on
	 * every `stop`), not a reset; connections stay. */
	CHECK_EQ(stops, 0);
	teardown(&f);
}

/* Both rings set up and running, as QEMU leaves them after `cont`. */
static void start_ring(struct fixture *f, unsigned idx, uint16_t base, uint64_t desc_off)
{
	CHECK_EQ(state(f, VU_SET_VRING_NUM, idx, 128), 0);
	CHECK_EQ(state(f, VU_SET_VRING_BASE, idx, base), 0);
	set_addr(f, idx, desc_off);
	set_kick(f, idx, false);
	CHECK_EQ(state(f, VU_SET_VRING_ENABLE, idx, 1), 0);
}

static uint16_t get_base(struct fixture *f, unsigned idx)
{
	struct vu_msg m = { 0 };
	bool reply;
	m.payload.state.index = idx;
	CHECK_EQ(send_msg(f, &m, VU_GET_VRING_BASE, 0, 8, &reply), 0);
	CHECK(reply);
	return (uint16_t)m.payload.state.num;
}

TEST(a_ring_restarted_where_it_stopped_resumes_without_a_reset)
{
	struct fixture f;
	setup(&f);
	CHECK_EQ(simple(&f, VU_SET_FEATURES, vu_offered_features()), 0);
	set_mem_table(&f, 0);
	start_ring(&f, VU_RX, 0, 0x10000);
	start_ring(&f, VU_TX, 0, 0x20000);
	/* As if the rings had carried 300 and 9 buffers, all used. */
	vu_dev_queue(&f.dev, VU_RX)->last_avail = 300;
	vu_dev_queue(&f.dev, VU_RX)->used->idx = 300;
	vu_dev_queue(&f.dev, VU_TX)->last_avail = 9;
	vu_dev_queue(&f.dev, VU_TX)->used->idx = 9;
	/* `stop`: QEMU asks for both bases, then on `cont` sets everything up
	 * again with what we answered. */
	CHECK_EQ(get_base(&f, VU_RX), 300);
	CHECK_EQ(get_base(&f, VU_TX), 9);
	CHECK(vu_dev_queue(&f.dev, VU_RX) == NULL);
	set_mem_table(&f, 0);
	start_ring(&f, VU_RX, 300, 0x10000);
	CHECK_EQ(resumes, 0); /* tx still stopped */
	start_ring(&f, VU_TX, 9, 0x20000);
	CHECK_EQ(stops, 0);
	CHECK_EQ(resumes, 1);
	CHECK_EQ(vu_dev_queue(&f.dev, VU_RX)->last_avail, 300);
	CHECK_EQ(vu_dev_queue(&f.dev, VU_TX)->last_avail, 9);
	teardown(&f);
}

TEST(a_ring_restarted_from_zero_is_a_device_the_guest_reset)
{
	struct fixture f;
	setup(&f);
	CHECK_EQ(simple(&f, VU_SET_FEATURES, vu_offered_features()), 0);
	set_mem_table(&f, 0);
	start_ring(&f, VU_RX, 0, 0x10000);
	start_ring(&f, VU_TX, 0, 0x20000);
	vu_dev_queue(&f.dev, VU_RX)->last_avail = 300;
	vu_dev_queue(&f.dev, VU_TX)->last_avail = 9;
	get_base(&f, VU_RX);
	get_base(&f, VU_TX);
	/* A rebooted guest: its driver starts the rings at 0 (new addresses
	 * too, here for tx only). */
	start_ring(&f, VU_RX, 0, 0x10000);
	CHECK_EQ(stops, 1);
	start_ring(&f, VU_TX, 0, 0x30000);
	CHECK_EQ(stops, 1); /* one reset, not one per ring */
	CHECK_EQ(resumes, 0);
	teardown(&f);
}

TEST(ring_outside_guest_memory_is_broken_not_followed)
{
	struct fixture f;
	setup(&f);
	CHECK_EQ(simple(&f, VU_SET_FEATURES, 1ull << VIRTIO_F_VERSION_1), 0);
	set_mem_table(&f, 0);
	CHECK_EQ(state(&f, VU_SET_VRING_NUM, VU_RX, 256), 0);
	set_addr(&f, VU_RX, MEM_SIZE - 0x1000); /* used ring past the end */
	set_kick(&f, VU_RX, false);
	CHECK(vu_dev_queue(&f.dev, VU_RX) == NULL);
	CHECK(f.dev.vring[VU_RX].vq.broken);
	teardown(&f);
}

TEST(memory_table_needs_one_fd_per_region)
{
	struct fixture f;
	setup(&f);
	struct vu_msg m = { 0 };
	bool reply;
	m.payload.mem.nregions = 2;
	m.fds[0] = dup(f.memfd);
	m.nfds = 1;
	CHECK(send_msg(&f, &m, VU_SET_MEM_TABLE, 0, 8 + 64, &reply) < 0);
	m.payload.mem.nregions = 9;
	CHECK(send_msg(&f, &m, VU_SET_MEM_TABLE, 0, 8 + 32 * 8, &reply) < 0);
	CHECK_EQ(f.dev.mem.count, 0);
	teardown(&f);
}

TEST(unknown_request_is_refused)
{
	struct fixture f;
	setup(&f);
	CHECK(simple(&f, 77, 0) < 0);
	teardown(&f);
}

TEST(memory_table_past_the_end_of_its_file_is_refused)
{
	struct fixture f;
	setup(&f);
	/* 2 MiB of a 1 MiB memfd: touching the second MiB would be SIGBUS. */
	set_mem_table_sized(&f, 2 * MEM_SIZE, -ENXIO);
	CHECK_EQ(f.dev.mem.count, 0);
	set_mem_table_sized(&f, MEM_SIZE, 0);
	CHECK_EQ(f.dev.mem.count, 1);
	teardown(&f);
}

TEST(file_truncated_after_mapping_fails_the_device_not_the_process)
{
	struct fixture f;
	setup(&f);
	CHECK_EQ(simple(&f, VU_SET_FEATURES, 1ull << VIRTIO_F_VERSION_1), 0);
	set_mem_table(&f, 0);
	CHECK_EQ(state(&f, VU_SET_VRING_NUM, VU_RX, 256), 0);
	set_kick(&f, VU_RX, false);
	/* The front-end shrinks the file; the next ring setup reads the used
	 * index from a page that is gone. */
	CHECK_EQ(ftruncate(f.memfd, 0), 0);
	struct vu_msg m = { 0 };
	bool reply;
	m.payload.addr.index = VU_RX;
	m.payload.addr.desc = UVA + 0x10000;
	m.payload.addr.avail = UVA + 0x11000;
	m.payload.addr.used = UVA + 0x12000;
	unsigned stops_before = stops;
	CHECK_EQ(send_msg(&f, &m, VU_SET_VRING_ADDR, 0, 40, &reply), -EFAULT);
	CHECK(f.dev.failed);
	CHECK_EQ(f.dev.mem.count, 0);
	CHECK(vu_dev_queue(&f.dev, VU_RX) == NULL);
	CHECK(stops > stops_before);
	/* Nothing more is taken from this front-end. */
	CHECK(simple(&f, VU_SET_OWNER, 0) < 0);
	teardown(&f);
}
