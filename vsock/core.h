/*
 * core.h -- the portable vsock protocol core: one instance per transport
 * (the virtio-vsock device in the image, one end of a loopback in tests).
 *
 * Typical usage:
 *	struct vsock_config cfg;
 *	struct vsock_core *core;
 *
 *	vsock_config_defaults(&cfg);
 *	err = vsock_core_create(&core, &my_transport_ops, my_ctx, &cfg);
 *	...the transport calls vsock_core_rx()/tx_ready()/transport_reset()
 *	   (vsock/transport.h) with the platform lock held...
 *	...a timer task calls vsock_core_tick(core, platform_now_ns())
 *	   at the latest by the deadline it returns...
 *	...sockets: vsock/socket.h...
 *	vsock_core_destroy(core);   // once the transport is quiet
 *
 * Everything here except vsock_core_rx/tx_ready/transport_reset takes the
 * platform lock itself (include/platform.h), so call it without the lock.
 */
#ifndef VSOCK_CORE_H
#define VSOCK_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vsock/transport.h"

struct vsock_config {
	uint32_t buf_alloc;          /* receive buffer per connection (bytes) */
	uint32_t max_conns;          /* connections at once (incl. closing ones) */
	uint64_t connect_timeout_ns; /* default connect() timeout (Linux: 2 s) */
	uint64_t linger_ns;          /* wait for the peer's RST after close (8 s) */
	uint64_t port_quarantine_ns; /* an ephemeral port rests this long */
	uint32_t ephemeral_first;    /* ephemeral ports: first ... */
	uint32_t ephemeral_last;     /* ... and last (inclusive) */
	uint32_t max_ctrl_queue;     /* control packets held while tx is full */
	uint32_t counter_start;      /* test hook: tx/rx/fwd counters start here */
	/* Receive windows all connections may hold together (0: no bound).
	 * Each connection is granted its window as it enters the table: what
	 * is left of the budget, at least VSOCK_WINDOW_MIN, at most its
	 * buf_alloc; it advertises that window for its life.  So a peer that
	 * opens many connections and fills them cannot make the receive
	 * buffers outgrow the budget by more than VSOCK_WINDOW_MIN each. */
	size_t rx_budget;
};

#define VSOCK_WINDOW_MIN (16u * 1024)

/* Counters for tests and diagnostics. */
struct vsock_stats {
	uint32_t conns;             /* connections in the table */
	uint32_t sockets;           /* socket objects allocated (any state) */
	size_t rx_mem;              /* bytes allocated for receive buffers */
	size_t rx_granted;          /* receive windows granted (cfg.rx_budget) */
	uint32_t ctrl_queued;       /* control packets waiting for the transport */
	bool tx_blocked;            /* the transport said -EAGAIN; waiting for tx_ready */
	uint64_t rx_packets;        /* packets received */
	uint64_t rx_malformed;      /* dropped or answered with RST as malformed */
	uint64_t rst_sent;          /* RST packets sent or queued */
	uint64_t refused_limit;     /* REQUESTs refused by max_conns */
	uint64_t refused_backlog;   /* REQUESTs refused by a full backlog */
	uint64_t window_violations; /* connections reset for exceeding our window */
	uint64_t ctrl_dropped;      /* control packets dropped: queue full */
};

void vsock_config_defaults(struct vsock_config *cfg);

/* Reads the local CID from the transport.  0 or -ENOMEM / -EINVAL. */
int vsock_core_create(struct vsock_core **out, const struct vsock_transport_ops *ops, void *ctx,
                      const struct vsock_config *cfg);

/* Frees the core and every socket still in it (handles become invalid). */
void vsock_core_destroy(struct vsock_core *core);

/*
 * Timeouts nobody waits for: connect timeouts, lingering closes, port
 * quarantine; also retries queued control packets.  Returns the next
 * deadline (PLATFORM_FOREVER when none).
 */
uint64_t vsock_core_tick(struct vsock_core *core, uint64_t now_ns);

uint64_t vsock_core_local_cid(struct vsock_core *core);
void vsock_core_stats(struct vsock_core *core, struct vsock_stats *out);

#endif
