/*
 * vsock_fixture.h -- helpers shared by the vsock unit tests: two cores
 * ("guest" CID 3, "host" CID 2) over the loopback transport, a recording
 * fake transport for packet-level tests, and the end-of-test check that
 * nothing leaked (connection table and socket count back to zero).
 */
#ifndef TESTS_UNIT_VSOCK_FIXTURE_H
#define TESTS_UNIT_VSOCK_FIXTURE_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "include/platform.h"
#include "tests/unit/harness.h"
#include "vsock/core.h"
#include "vsock/loopback.h"
#include "vsock/socket.h"
#include "vsock/wire.h"

#define GUEST_CID 3
#define HOST_CID  2
#define SECOND_NS 1000000000ull

struct pair {
	struct vsock_loopback *lb; /* the wire */
	struct vsock_core *guest;  /* side 0 */
	struct vsock_core *host;   /* side 1 */
};

static inline void pair_init_cfg(struct pair *p, const struct vsock_config *guest_cfg,
                                 const struct vsock_config *host_cfg, size_t max_payload)
{
	struct vsock_config defaults;

	vsock_config_defaults(&defaults);
	p->lb = vsock_loopback_create(GUEST_CID, HOST_CID, max_payload);
	CHECK(p->lb != NULL);
	CHECK_EQ(vsock_core_create(&p->guest, vsock_loopback_transport(p->lb),
	                           vsock_loopback_end(p->lb, 0), guest_cfg ? guest_cfg : &defaults),
	         0);
	CHECK_EQ(vsock_core_create(&p->host, vsock_loopback_transport(p->lb),
	                           vsock_loopback_end(p->lb, 1), host_cfg ? host_cfg : &defaults),
	         0);
	vsock_loopback_attach(p->lb, p->guest, p->host);
}

static inline void pair_init(struct pair *p)
{
	pair_init_cfg(p, NULL, NULL, 4096);
}

static inline size_t pair_pump(struct pair *p)
{
	return vsock_loopback_pump(p->lb, 10000000);
}

/* Run both cores' timers as if `after_ns` had passed, and deliver. */
static inline void pair_tick(struct pair *p, uint64_t after_ns)
{
	uint64_t now = platform_now_ns() + after_ns;

	for (int i = 0; i < 3; i++) {
		vsock_core_tick(p->guest, now);
		vsock_core_tick(p->host, now);
		pair_pump(p);
	}
}

static inline void core_check_empty(struct vsock_core *core)
{
	struct vsock_stats st;

	vsock_core_stats(core, &st);
	CHECK_EQ(st.conns, 0);
	CHECK_EQ(st.sockets, 0);
	CHECK_EQ(st.rx_mem, 0);
}

/* Free both cores and every socket still in them, checking nothing. */
static inline void pair_destroy(struct pair *p)
{
	vsock_loopback_attach(p->lb, NULL, NULL);
	vsock_core_destroy(p->guest);
	vsock_core_destroy(p->host);
	vsock_loopback_destroy(p->lb);
}

/* Every socket must be closed already: let lingering ones finish, check, free. */
static inline void pair_finish(struct pair *p)
{
	pair_pump(p);
	pair_tick(p, 20 * SECOND_NS);
	core_check_empty(p->guest);
	core_check_empty(p->host);
	pair_destroy(p);
}

static inline struct vsock_sock *listen_on(struct vsock_core *core, uint32_t port, int backlog)
{
	struct vsock_sock *sock;
	struct vsock_addr addr = { VSOCK_CID_ANY, port };

	CHECK_EQ(vsock_socket(core, VSOCK_TYPE_STREAM, &sock), 0);
	CHECK_EQ(vsock_bind(sock, &addr), 0);
	CHECK_EQ(vsock_listen(sock, backlog), 0);
	return sock;
}

/* Non-blocking connect from the guest to the host's port, pumped to completion. */
static inline int connect_from_guest(struct pair *p, uint32_t port, struct vsock_sock **out)
{
	struct vsock_addr host = { HOST_CID, port };

	CHECK_EQ(vsock_socket(p->guest, VSOCK_TYPE_STREAM, out), 0);
	CHECK_EQ(vsock_connect(*out, &host, VSOCK_DONTWAIT), -EINPROGRESS);
	pair_pump(p);
	return vsock_sock_error(*out);
}

/* An established guest -> host connection through a fresh listener. */
static inline void open_connection(struct pair *p, uint32_t port, struct vsock_sock **client,
                                   struct vsock_sock **server)
{
	struct vsock_sock *lsn = listen_on(p->host, port, 8);

	CHECK_EQ(connect_from_guest(p, port, client), 0);
	CHECK_EQ(vsock_accept(lsn, server, NULL, VSOCK_DONTWAIT), 0);
	CHECK_EQ(vsock_close(lsn), 0);
}

/* ---- a fake transport that records what the core sends ---------------- */

#define FAKE_MAX 64

struct fake_transport {
	struct vsock_transport_ops ops;
	uint64_t cid;                           /* local_cid() */
	struct vsock_hdr_fields sent[FAKE_MAX]; /* last FAKE_MAX headers */
	size_t count;                           /* packets sent in total */
	int fail_with;                          /* send() returns this if set */
};

static inline uint64_t fake_local_cid(void *ctx)
{
	return ((struct fake_transport *)ctx)->cid;
}

static inline int fake_send(void *ctx, const struct vsock_hdr *hdr, const void *payload, size_t len)
{
	struct fake_transport *fake = ctx;

	if (fake->fail_with)
		return fake->fail_with;
	vsock_hdr_decode(&fake->sent[fake->count % FAKE_MAX], hdr);
	fake->count++;
	return 0;
}

static inline struct vsock_core *fake_core(struct fake_transport *fake,
                                           const struct vsock_config *cfg)
{
	struct vsock_config defaults;
	struct vsock_core *core;

	memset(fake, 0, sizeof(*fake));
	fake->ops.local_cid = fake_local_cid;
	fake->ops.send = fake_send;
	fake->ops.max_payload = 4096;
	fake->cid = GUEST_CID;
	vsock_config_defaults(&defaults);
	CHECK_EQ(vsock_core_create(&core, &fake->ops, fake, cfg ? cfg : &defaults), 0);
	return core;
}

static inline const struct vsock_hdr_fields *fake_last(struct fake_transport *fake)
{
	return fake->count ? &fake->sent[(fake->count - 1) % FAKE_MAX] : NULL;
}

/* Inject one packet as if the transport received it (takes the lock). */
static inline void inject(struct vsock_core *core, const struct vsock_hdr_fields *f,
                          const void *payload, size_t len)
{
	struct vsock_hdr hdr;

	vsock_hdr_encode(&hdr, f);
	platform_lock();
	vsock_core_rx(core, &hdr, payload, len);
	platform_unlock();
}

static inline struct vsock_hdr_fields pkt(uint16_t op, uint32_t src_port, uint32_t dst_port,
                                          uint32_t len)
{
	return (struct vsock_hdr_fields){
		.src_cid = HOST_CID,
		.dst_cid = GUEST_CID,
		.src_port = src_port,
		.dst_port = dst_port,
		.len = len,
		.type = VSOCK_TYPE_STREAM,
		.op = op,
		.buf_alloc = 256 * 1024,
	};
}

static inline uint8_t pattern_byte(uint64_t i, uint32_t seed)
{
	return (uint8_t)((i * 131 + seed + (i >> 8)) & 0xff);
}

#endif
