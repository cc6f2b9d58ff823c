/*
 * vsock_stack.c -- joins the portable vsock core (vsock/) to the
 * virtio-vsock driver and starts the services that need nothing else:
 *
 *   agent.diag_services=1   echo (7), discard (9), source (19), each a task
 *                           serving all its connections (vsock/diag.c);
 *   test.echo_out=PORT      the guest connects OUT to host CID 2 port PORT
 *                           and echoes what it reads until EOF, then
 *                           reconnects (guest -> host tests and benches).
 */
#include "kernel/vsock_stack.h"

#include <errno.h>
#include <stdlib.h>

#include "drivers/virtio_vsock/virtio_vsock.h"
#include "include/platform.h"
#include "kernel/kernel.h"
#include "kernel/sched.h"
#include "vsock/core.h"
#include "vsock/diag.h"
#include "vsock/socket.h"

#define SERVICE_STACK (32u << 10)
#define ECHO_OUT_BUFFER 16384

/* virtio_vsock_upper callbacks: the driver task calls them, lock held. */
static void core_rx(void *ctx, const struct vsock_hdr *hdr, const void *payload,
		    size_t len)
{
	vsock_core_rx(ctx, hdr, payload, len);
}

static void core_tx_ready(void *ctx)
{
	vsock_core_tx_ready(ctx);
}

static void core_reset(void *ctx)
{
	vsock_core_transport_reset(ctx);
}

/* vsock_core_tick takes the platform lock itself: step out of it. */
static uint64_t core_tick(void *ctx, uint64_t now_ns)
{
	uint64_t next;

	platform_unlock();
	next = vsock_core_tick(ctx, now_ns);
	platform_lock();
	return next;
}

struct diag_service {
	struct vsock_core *core;
	enum vsock_diag_kind kind;
};

static void diag_task(void *arg)
{
	struct diag_service *svc = arg;
	struct vsock_diag *diag;
	int err = vsock_diag_start(&diag, svc->core, svc->kind, 0);

	if (err) {
		kprintf("diag: service %d cannot start: %d\n", svc->kind, err);
		return;
	}
	vsock_diag_run(diag);
	vsock_diag_destroy(diag);
}

static void start_diag(struct vsock_core *core)
{
	static struct diag_service services[] = {
		{ NULL, VSOCK_DIAG_ECHO }, { NULL, VSOCK_DIAG_DISCARD },
		{ NULL, VSOCK_DIAG_SOURCE },
	};
	static const char *const names[] = { "diag-echo", "diag-discard", "diag-source" };

	for (unsigned i = 0; i < 3; i++) {
		services[i].core = core;
		if (!task_create(names[i], diag_task, &services[i], SERVICE_STACK))
			kprintf("diag: cannot start %s\n", names[i]);
	}
	kprintf("diag: echo on port %u, discard on %u, source on %u\n",
		VSOCK_DIAG_ECHO_PORT, VSOCK_DIAG_DISCARD_PORT, VSOCK_DIAG_SOURCE_PORT);
}

struct echo_out {
	struct vsock_core *core;
	uint32_t port;
};

/* Echo everything read from one connection back into it. */
static void echo_connection(struct vsock_sock *s, uint8_t *buf)
{
	for (;;) {
		ssize_t n = vsock_recv(s, buf, ECHO_OUT_BUFFER, 0);

		if (n <= 0)
			return;
		if (vsock_send(s, buf, (size_t)n, 0) != n)
			return;
	}
}

static void echo_out_task(void *arg)
{
	struct echo_out *eo = arg;
	struct vsock_addr host = { VSOCK_CID_HOST, eo->port };
	uint8_t *buf = malloc(ECHO_OUT_BUFFER);

	if (!buf)
		return;
	for (;;) {
		struct vsock_sock *s;
		int err = vsock_socket(eo->core, VSOCK_TYPE_STREAM, &s);

		if (err) {
			platform_sleep_ns(1000000000ull);
			continue;
		}
		err = vsock_connect(s, &host, 0);
		if (err == 0) {
			echo_connection(s, buf);
			vsock_shutdown(s, VSOCK_SHUT_WR);
		}
		vsock_close(s);
		if (platform_sleep_ns(err ? 500000000ull : 100000000ull) == -EINTR)
			break;
	}
	free(buf);
}

struct vsock_core *vsock_stack_start(struct virtio_vsock *dev,
				     const struct agent_config *cfg)
{
	struct vsock_config vcfg;
	struct vsock_core *core;
	struct virtio_vsock_upper upper;
	int err;

	vsock_config_defaults(&vcfg);
	err = vsock_core_create(&core, virtio_vsock_transport(dev), dev, &vcfg);
	if (err) {
		kprintf("vsock: cannot create the protocol core: %d\n", err);
		return NULL;
	}
	upper = (struct virtio_vsock_upper){ core_rx, core_tx_ready, core_reset,
					     core_tick, core };
	virtio_vsock_attach(dev, &upper);
	kprintf("vsock: protocol core attached (guest CID %llu)\n",
		(unsigned long long)vsock_core_local_cid(core));

	if (cfg->diag_services)
		start_diag(core);
	if (cfg->test_echo_out) {
		static struct echo_out eo;

		eo = (struct echo_out){ core, cfg->test_echo_out };
		if (!task_create("echo-out", echo_out_task, &eo, SERVICE_STACK))
			kprintf("vsock: cannot start echo-out\n");
	}
	return core;
}
