/*
 * loopback.h -- a loopback transport for host tests (Linux
 * net/vmw_vsock/vsock_loopback.c in spirit): two vsock cores, e.g. a
 * "guest" with CID 3 and a "host" with CID 2, wired to each other through
 * one packet queue.  Nothing moves until someone pumps.
 *
 * Typical usage:
 *	struct vsock_loopback *lb = vsock_loopback_create(3, 2, 4096);
 *	vsock_core_create(&guest, vsock_loopback_transport(lb),
 *			  vsock_loopback_end(lb, 0), &cfg);
 *	vsock_core_create(&host, vsock_loopback_transport(lb),
 *			  vsock_loopback_end(lb, 1), &cfg);
 *	vsock_loopback_attach(lb, guest, host);
 *	...socket calls on either core...
 *	vsock_loopback_pump(lb, SIZE_MAX);      // deliver everything queued
 *	...
 *	vsock_loopback_attach(lb, NULL, NULL);  // detach before destroying cores
 *	vsock_loopback_destroy(lb);
 *
 * Faults for tests (probabilities in 1/65536, from a seeded generator):
 * drop, duplicate, corrupt one byte, reorder (move a packet behind the
 * next one), and a queue capacity beyond which send() says -EAGAIN (the
 * core's retry path; tx_ready follows once the queue drains).
 */
#ifndef VSOCK_LOOPBACK_H
#define VSOCK_LOOPBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "include/platform.h"
#include "vsock/core.h"
#include "vsock/transport.h"

struct vsock_loopback;
struct vsock_loopback_end;

struct vsock_loopback_faults {
	uint32_t drop;      /* chance a packet vanishes */
	uint32_t duplicate; /* chance a packet arrives twice */
	uint32_t corrupt;   /* chance one random byte (header or payload) flips */
	uint32_t reorder;   /* chance a packet swaps with the one after it */
	uint32_t eagain;    /* chance send() refuses with -EAGAIN anyway */
	size_t capacity;    /* packets queued per direction before -EAGAIN (0: no limit) */
	uint64_t seed;      /* random generator seed */
};

struct vsock_loopback_counts {
	uint64_t sent[2];      /* packets each end sent */
	uint64_t delivered[2]; /* packets delivered to each end */
	uint64_t dropped, duplicated, corrupted, reordered, eagain;
	size_t queued;       /* packets waiting now */
	size_t queued_bytes; /* their payload bytes */
};

/* max_payload: largest packet payload (the image's device uses 4096). */
struct vsock_loopback *vsock_loopback_create(uint64_t cid0, uint64_t cid1, size_t max_payload);
void vsock_loopback_destroy(struct vsock_loopback *lb);
/* The ops and the ctx to hand vsock_core_create() for each side. */
const struct vsock_transport_ops *vsock_loopback_transport(struct vsock_loopback *lb);
struct vsock_loopback_end *vsock_loopback_end(struct vsock_loopback *lb, int side);
/* Which core receives each side's packets; NULLs detach (queue is freed). */
void vsock_loopback_attach(struct vsock_loopback *lb, struct vsock_core *core0,
                           struct vsock_core *core1);
void vsock_loopback_set_faults(struct vsock_loopback *lb,
                               const struct vsock_loopback_faults *faults);
/* Change what local_cid reports (then call vsock_core_transport_reset). */
void vsock_loopback_set_cid(struct vsock_loopback *lb, int side, uint64_t cid);
/* Forget every queued packet (as a device reset would). */
void vsock_loopback_flush(struct vsock_loopback *lb);

/* Deliver up to max packets; returns how many.  Takes the platform lock. */
size_t vsock_loopback_pump(struct vsock_loopback *lb, size_t max);
/* The same with the lock already held. */
size_t vsock_loopback_pump_locked(struct vsock_loopback *lb, size_t max);
/* Sleep (lock held) until a packet is queued or the deadline passes. */
int vsock_loopback_wait(struct vsock_loopback *lb, uint64_t deadline_ns);

void vsock_loopback_counts(struct vsock_loopback *lb, struct vsock_loopback_counts *out);

#endif
