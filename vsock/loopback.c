/*
 * loopback.c -- two vsock cores wired back to back through one packet
 * queue, with injectable faults, for host tests.  See loopback.h.
 *
 * Every function here runs with the platform lock held (the cores call
 * send() with it held; pump takes it), so the queue needs no lock of its own.
 */
#include "vsock/loopback.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vsock/wire.h"

struct loopback_packet {
	struct loopback_packet *next; /* FIFO order */
	int from;                     /* sending side, 0 or 1 */
	struct vsock_hdr hdr;         /* header as sent (wire order) */
	size_t len;                   /* payload bytes */
	uint8_t payload[];
};

struct vsock_loopback_end {
	struct vsock_loopback *lb; /* back pointer */
	int side;                  /* 0 or 1 */
	uint64_t cid;              /* what local_cid() reports */
	struct vsock_core *core;   /* receives packets sent by the other side */
	size_t queued;             /* packets this side has in the queue */
	bool blocked;              /* send() said -EAGAIN; owe a tx_ready */
};

struct vsock_loopback {
	struct vsock_loopback_end ends[2];
	struct vsock_transport_ops ops; /* shared by both ends (ctx differs) */
	size_t max_payload;             /* largest payload send() takes */
	struct loopback_packet *head;   /* oldest queued packet */
	struct loopback_packet *tail;   /* newest */
	struct vsock_loopback_faults faults;
	uint64_t rng; /* xorshift64 state */
	struct vsock_loopback_counts counts;
	struct wait_queue wq; /* pump threads waiting for packets */
};

static uint32_t rng_next(struct vsock_loopback *lb)
{
	uint64_t x = lb->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	lb->rng = x;
	return (uint32_t)(x >> 32);
}

/* True with probability chance/65536. */
static bool roll(struct vsock_loopback *lb, uint32_t chance)
{
	return chance && (rng_next(lb) & 0xffff) < chance;
}

static uint64_t loopback_local_cid(void *ctx)
{
	return ((struct vsock_loopback_end *)ctx)->cid;
}

static struct loopback_packet *packet_copy(int from, const struct vsock_hdr *hdr,
                                           const void *payload, size_t len)
{
	struct loopback_packet *pkt = malloc(sizeof(*pkt) + len);

	if (!pkt)
		return NULL;
	pkt->next = NULL;
	pkt->from = from;
	pkt->hdr = *hdr;
	pkt->len = len;
	if (len)
		memcpy(pkt->payload, payload, len);
	return pkt;
}

static void enqueue(struct vsock_loopback *lb, struct loopback_packet *pkt)
{
	if (lb->tail)
		lb->tail->next = pkt;
	else
		lb->head = pkt;
	lb->tail = pkt;
	lb->ends[pkt->from].queued++;
	lb->counts.queued++;
	lb->counts.queued_bytes += pkt->len;
}

static int loopback_send(void *ctx, const struct vsock_hdr *hdr, const void *payload, size_t len)
{
	struct vsock_loopback_end *end = ctx;
	struct vsock_loopback *lb = end->lb;
	struct loopback_packet *pkt;

	if (len > lb->max_payload)
		return -EMSGSIZE;
	if ((lb->faults.capacity && end->queued >= lb->faults.capacity) ||
	    roll(lb, lb->faults.eagain)) {
		lb->counts.eagain++;
		end->blocked = true;
		return -EAGAIN;
	}
	lb->counts.sent[end->side]++;
	if (roll(lb, lb->faults.drop)) {
		lb->counts.dropped++;
		return 0;
	}
	pkt = packet_copy(end->side, hdr, payload, len);
	if (!pkt)
		return -ENOMEM;
	if (roll(lb, lb->faults.corrupt)) {
		size_t at = rng_next(lb) % (sizeof(pkt->hdr) + len);
		uint8_t flip = (uint8_t)(1u << (rng_next(lb) % 8));

		if (at < sizeof(pkt->hdr))
			((uint8_t *)&pkt->hdr)[at] ^= flip;
		else
			pkt->payload[at - sizeof(pkt->hdr)] ^= flip;
		lb->counts.corrupted++;
	}
	enqueue(lb, pkt);
	if (roll(lb, lb->faults.duplicate)) {
		struct loopback_packet *dup = packet_copy(end->side, &pkt->hdr, pkt->payload, len);

		if (dup) {
			enqueue(lb, dup);
			lb->counts.duplicated++;
		}
	}
	platform_wake(&lb->wq);
	return 0;
}

struct vsock_loopback *vsock_loopback_create(uint64_t cid0, uint64_t cid1, size_t max_payload)
{
	struct vsock_loopback *lb = calloc(1, sizeof(*lb));

	if (!lb)
		return NULL;
	for (int side = 0; side < 2; side++) {
		lb->ends[side].lb = lb;
		lb->ends[side].side = side;
	}
	lb->ends[0].cid = cid0;
	lb->ends[1].cid = cid1;
	lb->max_payload = max_payload;
	lb->ops = (struct vsock_transport_ops){
		.local_cid = loopback_local_cid,
		.send = loopback_send,
		.max_payload = max_payload,
		.features = (1ull << VSOCK_F_STREAM) | (1ull << VSOCK_F_SEQPACKET),
	};
	lb->rng = 0x9e3779b97f4a7c15ull;
	return lb;
}

static void free_queue(struct vsock_loopback *lb)
{
	while (lb->head) {
		struct loopback_packet *pkt = lb->head;

		lb->head = pkt->next;
		free(pkt);
	}
	lb->tail = NULL;
	lb->ends[0].queued = lb->ends[1].queued = 0;
	lb->counts.queued = lb->counts.queued_bytes = 0;
}

void vsock_loopback_destroy(struct vsock_loopback *lb)
{
	if (!lb)
		return;
	free_queue(lb);
	free(lb);
}

const struct vsock_transport_ops *vsock_loopback_transport(struct vsock_loopback *lb)
{
	return &lb->ops;
}

struct vsock_loopback_end *vsock_loopback_end(struct vsock_loopback *lb, int side)
{
	return &lb->ends[side & 1];
}

void vsock_loopback_attach(struct vsock_loopback *lb, struct vsock_core *core0,
                           struct vsock_core *core1)
{
	platform_lock();
	lb->ends[0].core = core0;
	lb->ends[1].core = core1;
	if (!core0 || !core1)
		free_queue(lb);
	platform_unlock();
}

void vsock_loopback_set_faults(struct vsock_loopback *lb,
                               const struct vsock_loopback_faults *faults)
{
	platform_lock();
	lb->faults = *faults;
	if (faults->seed)
		lb->rng = faults->seed;
	platform_unlock();
}

void vsock_loopback_set_cid(struct vsock_loopback *lb, int side, uint64_t cid)
{
	platform_lock();
	lb->ends[side & 1].cid = cid;
	platform_unlock();
}

void vsock_loopback_flush(struct vsock_loopback *lb)
{
	platform_lock();
	free_queue(lb);
	platform_unlock();
}

/* Give tx_ready to each side that was refused and has room again. */
static void unblock(struct vsock_loopback *lb)
{
	for (int side = 0; side < 2; side++) {
		struct vsock_loopback_end *end = &lb->ends[side];

		if (end->blocked && end->core &&
		    (!lb->faults.capacity || end->queued < lb->faults.capacity)) {
			end->blocked = false;
			vsock_core_tx_ready(end->core);
		}
	}
}

size_t vsock_loopback_pump_locked(struct vsock_loopback *lb, size_t max)
{
	size_t done = 0;

	unblock(lb);
	while (done < max && lb->head) {
		struct loopback_packet *pkt = lb->head;
		struct vsock_core *to;

		if (pkt->next && roll(lb, lb->faults.reorder)) {
			/* Deliver the one behind it first. */
			struct loopback_packet *second = pkt->next;

			pkt->next = second->next;
			second->next = pkt;
			lb->head = second;
			if (lb->tail == second)
				lb->tail = pkt;
			lb->counts.reordered++;
			pkt = second;
		}
		lb->head = pkt->next;
		if (!lb->head)
			lb->tail = NULL;
		lb->ends[pkt->from].queued--;
		lb->counts.queued--;
		lb->counts.queued_bytes -= pkt->len;
		to = lb->ends[!pkt->from].core;
		if (to) {
			lb->counts.delivered[!pkt->from]++;
			vsock_core_rx(to, &pkt->hdr, pkt->len ? pkt->payload : NULL, pkt->len);
		}
		free(pkt);
		done++;
		unblock(lb);
	}
	return done;
}

size_t vsock_loopback_pump(struct vsock_loopback *lb, size_t max)
{
	size_t done;

	platform_lock();
	done = vsock_loopback_pump_locked(lb, max);
	platform_unlock();
	return done;
}

int vsock_loopback_wait(struct vsock_loopback *lb, uint64_t deadline_ns)
{
	if (lb->head || lb->ends[0].blocked || lb->ends[1].blocked)
		return 0;
	return platform_wait(&lb->wq, deadline_ns);
}

void vsock_loopback_counts(struct vsock_loopback *lb, struct vsock_loopback_counts *out)
{
	platform_lock();
	*out = lb->counts;
	platform_unlock();
}
