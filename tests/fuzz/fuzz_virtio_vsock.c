/*
 * fuzz_virtio_vsock.c -- libFuzzer target: the virtio-vsock driver's rx,
 * tx and event paths against a hostile device (issue 12).  The device is
 * tests/unit/fake_virtio.c on the deterministic fuzz platform; it writes
 * what the input says into the buffers the driver posted, completes them
 * with lengths and ids the input picks (lying ones included), moves used
 * indexes, raises interrupts, changes the CID, and rewrites shared memory
 * after the driver has read it.
 *
 * The input: one byte picks a probe step to fail (most values: none), then
 * a list of commands (one byte, then its bytes):
 *   0  fill the next rx buffer: 44 header bytes (raw, or encoded with a
 *      chosen len), payload, and a `written` that is exact, short or a lie
 *   1  complete an rx entry with any id and length (no buffer taken)
 *   2  the core sends a packet of N payload bytes
 *   3  the device takes every tx buffer and completes it (any length)
 *   4  an event: 0-8 bytes into the next event buffer, any written length
 *   5  interrupt rx, tx or event          6  config change: a new CID
 *   7  a used index jumps to any value     8  tasks run until quiet
 *   9  virtual time passes
 *
 * What must hold, checked as the driver hands packets up (a fake core):
 * the header is the driver's own copy (not shared memory), its len is the
 * payload length passed, and the payload lies inside one rx buffer the
 * device filled, after its header.  Right after each handover the device
 * scribbles over that buffer: the driver must not read it again.  At the
 * end the driver is removed and every pool page, queue and interrupt
 * route must be back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/virtio_pci/virtqueue.h"
#include "drivers/virtio_vsock/virtio_vsock.h"
#include "include/platform.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_platform.h"
#include "tests/unit/fake_virtio.h"
#include "vsock/core.h"
#include "vsock/transport.h"

#define RX_ROOM_MAX 32768 /* more than the driver's rx buffers */
#define FILLED_MAX  256   /* rx buffers the device filled, remembered */
#define SEND_MAX    40000 /* a little over the driver's TX_PAYLOAD */

static size_t take(struct fuzz_input *in, void *out, size_t n)
{
	n = n < in->left ? n : in->left;
	memcpy(out, in->p, n);
	in->p += n;
	in->left -= n;
	return n;
}

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_virtio_vsock: %s\n", what);
	abort();
}

#define ASSERT(cond)                                  \
	do {                                          \
		if (!(cond))                          \
			fail("check failed: " #cond); \
	} while (0)

/* ---- the fake device's hooks ---- */

static int step, fail_at;

bool fake_fault(void)
{
	return fail_at && ++step == fail_at;
}

void fake_expect_failed(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: the fake device's expectation failed: %s\n", file, line, what);
	abort();
}

/* ---- rx buffers the device filled ---- */

static struct filled {
	uint8_t *buf;  /* in shared memory */
	uint32_t room; /* bytes the descriptor offered */
} filled[FILLED_MAX];
static unsigned nfilled;

static const struct filled *filled_holding(const uint8_t *p, size_t len)
{
	for (unsigned i = 0; i < nfilled; i++) {
		const struct filled *f = &filled[i];

		if (p >= f->buf + sizeof(struct vsock_hdr) && p <= f->buf + f->room &&
		    len <= (size_t)(f->buf + f->room - p))
			return f;
	}
	return NULL;
}

/* ---- the fake core ---- */

struct vsock_core {
	unsigned rx, tx_ready, resets;
};

static uint8_t scribble; /* what the device writes over a buffer it got back */

void vsock_core_rx(struct vsock_core *core, const struct vsock_hdr *hdr, const void *payload,
                   size_t len)
{
	struct vsock_hdr_fields f;
	const struct filled *b;
	uint8_t sum = 0;

	ASSERT(!(hdr >= (const struct vsock_hdr *)fake_pool_mem &&
	         hdr < (const struct vsock_hdr *)(fake_pool_mem +
	                                          FAKE_POOL_PAGES * POOL_PAGE_SIZE)));
	vsock_hdr_decode(&f, hdr);
	ASSERT(f.len == len);
	ASSERT(len == 0 || (b = filled_holding(payload, len)) != NULL);
	for (size_t i = 0; i < len; i++) /* every byte passed is readable */
		sum += ((const uint8_t *)payload)[i];
	__asm__ volatile("" ::"r"(sum));
	/* The device changes its mind; the driver must be done with it. */
	if (len) {
		b = filled_holding(payload, len);
		memset(b->buf, scribble, b->room);
	}
	core->rx++;
}

void vsock_core_tx_ready(struct vsock_core *core)
{
	core->tx_ready++;
}

void vsock_core_transport_reset(struct vsock_core *core)
{
	core->resets++;
}

uint64_t vsock_core_tick(struct vsock_core *core, uint64_t now_ns)
{
	return PLATFORM_FOREVER;
}

/* ---- commands ---- */

static void rx_fill(struct fuzz_input *in)
{
	struct fake_queue *q = &fake.q[Q_RX];
	uint8_t *buf;
	uint32_t room, written, n;
	uint16_t head;
	unsigned how = fuzz_byte(in);

	if (!dev_take(q, &head, &buf, &room))
		return;
	ASSERT(room <= RX_ROOM_MAX);
	if (nfilled < FILLED_MAX)
		filled[nfilled++] = (struct filled){ buf, room };
	memset(buf, 0, room);
	if (how & 1) { /* a well-formed header with a chosen len */
		struct vsock_hdr_fields f = { .src_cid = 2,
			                      .dst_cid = FAKE_GUEST_CID,
			                      .src_port = fuzz_u32(in),
			                      .dst_port = fuzz_u32(in),
			                      .type = VSOCK_TYPE_STREAM,
			                      .op = fuzz_byte(in) % 8,
			                      .buf_alloc = fuzz_u32(in),
			                      .fwd_cnt = fuzz_u32(in) };

		f.len = how & 2 ? fuzz_u32(in) : fuzz_byte(in) << 4;
		vsock_hdr_encode((struct vsock_hdr *)buf, &f);
	} else {
		take(in, buf, sizeof(struct vsock_hdr));
	}
	n = fuzz_byte(in) << 5;
	n = n < room - sizeof(struct vsock_hdr) ? n : room - (uint32_t)sizeof(struct vsock_hdr);
	take(in, buf + sizeof(struct vsock_hdr), n);
	switch (how >> 2 & 3) {
	case 0:
		written = (uint32_t)sizeof(struct vsock_hdr) + n;
		break;
	case 1:
		written = fuzz_byte(in);
		break;
	case 2:
		written = room;
		break;
	default:
		written = fuzz_u32(in);
		break; /* a lie, maybe past the buffer */
	}
	dev_complete(q, head, written);
}

static void tx_send(struct fuzz_input *in, const struct vsock_transport_ops *ops,
                    struct virtio_vsock *vs)
{
	static uint8_t payload[SEND_MAX];
	struct vsock_hdr_fields f = { .src_cid = FAKE_GUEST_CID,
		                      .dst_cid = 2,
		                      .src_port = 7,
		                      .dst_port = 1234,
		                      .type = VSOCK_TYPE_STREAM,
		                      .op = VSOCK_OP_RW };
	struct vsock_hdr hdr;
	size_t len = fuzz_u16(in) % SEND_MAX;
	int err;

	f.len = (uint32_t)len;
	vsock_hdr_encode(&hdr, &f);
	memset(payload, (int)len, len);
	platform_lock();
	err = ops->send(vs, &hdr, payload, len);
	platform_unlock();
	ASSERT(err == 0 || err == -EAGAIN || err == -EMSGSIZE || err == -EIO || err == -ENODEV);
}

static void tx_drain(struct fuzz_input *in)
{
	struct fake_queue *q = &fake.q[Q_TX];
	uint8_t *buf;
	uint32_t len;
	uint16_t head;
	unsigned how = fuzz_byte(in);

	while (dev_take(q, &head, &buf, &len))
		dev_complete(q, head, how & 1 ? fuzz_u32(in) : 0);
}

static void event(struct fuzz_input *in)
{
	struct fake_queue *q = &fake.q[Q_EVENT];
	uint8_t *buf;
	uint32_t room;
	uint16_t head;
	unsigned n = fuzz_byte(in) % 9;

	if (!dev_take(q, &head, &buf, &room))
		return;
	take(in, buf, n < room ? n : room);
	dev_complete(q, head, fuzz_byte(in) & 1 ? fuzz_u32(in) : n);
}

static void used_jump(struct fuzz_input *in)
{
	struct fake_queue *q = &fake.q[fuzz_byte(in) % NQUEUES];
	uint8_t *used = dev_ptr(q->vq->used_dma, 6 + 8 * q->vq->size);
	uint16_t idx = (uint16_t)fuzz_u16(in);

	memcpy(used + 2, &idx, 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	struct vsock_core core = { 0 };
	const struct vsock_transport_ops *ops;
	struct virtio_vsock *vs;
	unsigned first;

	fuzz_platform_reset();
	fake_device_new();
	nfilled = 0;
	step = 0;
	first = fuzz_byte(&in);
	fail_at = first >= 240 ? (int)(first - 239) : 0; /* a probe step fails */
	scribble = (uint8_t)fuzz_byte(&in);
	if (virtio_vsock_probe(&fake.vdev, &fake_pool, &vs) != 0) {
		ASSERT(pool_pages_in_use(&fake_pool) == 0);
		ASSERT(fake.routes == 0 && fake.queues == 0);
		return 0;
	}
	fail_at = 0;
	ops = virtio_vsock_transport(vs);
	if (virtio_vsock_start(vs, &core) != 0)
		goto out;
	fuzz_settle(1000);
	while (in.left) {
		platform_lock();
		switch (fuzz_byte(&in) % 10) {
		case 0:
			rx_fill(&in);
			break;
		case 1:
			dev_complete(&fake.q[Q_RX], fuzz_u16(&in), fuzz_u32(&in));
			break;
		case 2:
			platform_unlock();
			tx_send(&in, ops, vs);
			platform_lock();
			break;
		case 3:
			tx_drain(&in);
			break;
		case 4:
			event(&in);
			break;
		case 5: {
			struct fake_queue *q = &fake.q[fuzz_byte(&in) % NQUEUES];

			q->handler(q->arg);
			break;
		}
		case 6:
			fake.cid = fuzz_u32(&in);
			if (fake.config_handler)
				fake.config_handler(fake.config_arg);
			break;
		case 7:
			used_jump(&in);
			break;
		case 8:
			platform_unlock();
			fuzz_settle(1000);
			platform_lock();
			break;
		default:
			platform_unlock();
			fuzz_advance(fuzz_u32(&in));
			platform_lock();
			break;
		}
		platform_unlock();
	}
	fuzz_settle(10000);
out:
	virtio_vsock_remove(vs);
	ASSERT(fake.status == 0);
	ASSERT(pool_pages_in_use(&fake_pool) == 0);
	ASSERT(fake.routes == 0 && fake.queues == 0);
	ASSERT(fuzz_tasks() == 0);
	return 0;
}
