/*
 * fake_virtio.h -- a virtio device in ordinary memory, for the virtio-vsock
 * driver's host unit tests and its fuzz target: struct virtio_ops over a
 * fake transport, and a device side that reads and writes the rings by
 * device address (as in test_virtqueue.c), the pool being the "guest
 * memory" both sides share.
 *
 * The user provides two hooks:
 *	bool fake_fault(void);    // true: this fallible device step fails
 *	void fake_expect_failed(const char *file, int line, const char *what);
 * (the unit test counts a failed check; the fuzz target aborts).
 *
 * Typical usage:
 *	fake_device_new();                           // a fresh device and pool
 *	virtio_vsock_probe(&fake.vdev, &fake_pool, &vs) ...
 *	platform_lock();
 *	dev_write_packet(&fake.q[Q_RX], &fields, "hi", sizeof(struct vsock_hdr) + 2);
 *	platform_unlock();
 *	dev_interrupt(&fake.q[Q_RX]);
 */
#ifndef TESTS_UNIT_FAKE_VIRTIO_H
#define TESTS_UNIT_FAKE_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "drivers/virtio_pci/virtio.h"
#include "include/pool.h"
#include "vsock/wire.h"

#define FAKE_POOL_PAGES 1024
#define FAKE_DEV_BASE   0x40000000ull
#define FAKE_GUEST_CID  42

enum {
	Q_RX,
	Q_TX,
	Q_EVENT,
	NQUEUES
};

bool fake_fault(void);
void fake_expect_failed(const char *file, int line, const char *what) __attribute__((noreturn));
#define FAKE_EXPECT(cond)                                              \
	do {                                                           \
		if (!(cond))                                           \
			fake_expect_failed(__FILE__, __LINE__, #cond); \
	} while (0)

struct fake_queue {
	struct virtqueue *vq;   /* the driver's, while set up */
	irq_handler_fn handler; /* its interrupt route */
	void *arg;
	uint16_t last_avail; /* device: next avail entry to take */
	uint16_t used_idx;   /* device: its used index */
	unsigned kicks;      /* doorbells rung */
};

struct fake {
	struct virtio_device vdev;     /* what the driver sees */
	uint8_t status;                /* device status register */
	uint64_t offered;              /* device feature bits */
	uint64_t cid;                  /* config: guest_cid */
	bool failed_set;               /* the driver wrote FAILED ... */
	bool reset_after_failed;       /* ... and reset the device after it */
	struct fake_queue q[NQUEUES];  /* queues set up */
	irq_handler_fn config_handler; /* config interrupt route */
	void *config_arg;
	unsigned queues;           /* queues set up now */
	unsigned routes;           /* interrupt routes held now */
	bool deliver_at_driver_ok; /* complete an rx buffer when DRIVER_OK is set */
};

extern struct fake fake;
extern struct dma_pool fake_pool; /* guest memory, shared with the device */
extern uint8_t *fake_pool_mem;    /* its host address */

/* A fresh device (VERSION_1, STREAM, EVENT_IDX; CID FAKE_GUEST_CID) and pool. */
void fake_device_new(void);

/* The device side; lock held. */
void *dev_ptr(dma_addr_t a, size_t len);
uint16_t dev_avail_idx(struct fake_queue *q);
/* Take the next available chain (one descriptor): its head and bytes. */
bool dev_take(struct fake_queue *q, uint16_t *head, uint8_t **buf, uint32_t *len);
/* Put (id, len) on the used ring and publish it. */
void dev_complete(struct fake_queue *q, uint32_t id, uint32_t len);
/* Fill the next rx buffer with a packet; the device says it wrote `written`. */
void dev_write_packet(struct fake_queue *q, const struct vsock_hdr_fields *f, const void *payload,
                      uint32_t written);
/* Raise a queue's interrupt, as the hardware would (takes the lock). */
void dev_interrupt(struct fake_queue *q);

#endif
