/*
 * vsock_stack.c -- finds the virtio-vsock device on PCI, puts the portable
 * vsock core (vsock/) on it and starts the services that need nothing else:
 *
 *   agent.diag_services=1   echo (7), discard (9), source (19) and, when
 *                           the device has SEQPACKET, seqpacket echo (1007),
 *                           each a task serving all its connections
 *                           (vsock/diag.c);
 *   test.echo_out=PORT      the guest connects OUT to host CID 2 port PORT
 *                           and echoes what it reads until EOF, then
 *                           reconnects (guest -> host tests and benches).
 */
#include "kernel/vsock_stack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "drivers/virtio_pci/pci.h"
#include "drivers/virtio_pci/virtio_pci.h"
#include "drivers/virtio_vsock/virtio_vsock.h"
#include "include/platform.h"
#include "kernel/kernel.h"
#include "kernel/sched.h"
#include "vsock/core.h"
#include "vsock/diag.h"
#include "vsock/socket.h"

#define SERVICE_STACK   (32u << 10)
#define ECHO_OUT_BUFFER 16384

/* The PCI side of the driver (the driver itself sees only virtio_ops). */
int vsock_device_probe(struct dma_pool *pool, struct virtio_vsock **out)
{
	static struct virtio_device vdev; /* the one device, for good */
	static char name[40];
	struct pci_device *pci = pci_find(VIRTIO_PCI_VENDOR, VIRTIO_VSOCK_DEVICE_MODERN, 0);
	int err;

	if (!pci)
		pci = pci_find(VIRTIO_PCI_VENDOR, VIRTIO_VSOCK_DEVICE_TRANSITIONAL, 0);
	if (!pci) {
		log_printf("vsock: no virtio-vsock device (PCI %04x:%04x or %04x:%04x); "
		           "start QEMU with -device vhost-user-vsock-pci or "
		           "vhost-vsock-pci\n",
		           VIRTIO_PCI_VENDOR, VIRTIO_VSOCK_DEVICE_MODERN, VIRTIO_PCI_VENDOR,
		           VIRTIO_VSOCK_DEVICE_TRANSITIONAL);
		return -ENODEV;
	}
	snprintf(name, sizeof(name), "virtio-vsock %02x:%02x.%u", pci->bus, pci->dev, pci->fn);
	vdev.name = name;
	err = virtio_pci_probe(pci, pool, &vdev);
	if (err) {
		log_printf("vsock: %s is not a usable virtio 1.x PCI device\n", name);
		return -ENODEV;
	}
	err = virtio_vsock_probe(&vdev, pool, out);
	if (err)
		virtio_pci_remove(&vdev);
	return err;
}

struct diag_service {
	enum vsock_diag_kind kind;
	struct vsock_diag *diag; /* listening before its task starts */
};

static void diag_task(void *arg)
{
	struct diag_service *svc = arg;

	vsock_diag_run(svc->diag);
	vsock_diag_destroy(svc->diag);
}

static void start_diag(struct vsock_core *core)
{
	static struct diag_service services[] = {
		{ VSOCK_DIAG_ECHO, NULL },
		{ VSOCK_DIAG_DISCARD, NULL },
		{ VSOCK_DIAG_SOURCE, NULL },
		{ VSOCK_DIAG_SEQ_ECHO, NULL },
	};
	static const char *const names[] = { "diag-echo", "diag-discard", "diag-source",
		                             "diag-seqecho" };
	struct vsock_sock *probe;
	unsigned count = 3;

	/* The SEQPACKET echo only where the device negotiated SEQPACKET. */
	if (vsock_socket(core, VSOCK_TYPE_SEQPACKET, &probe) == 0) {
		vsock_close(probe);
		count = 4;
	}
	/* Each listens before the lines below say so: a test that reads
	 * them may connect at once. */
	for (unsigned i = 0; i < count; i++) {
		int err = vsock_diag_start(&services[i].diag, core, services[i].kind, 0);

		if (err) {
			kprintf("diag: cannot start %s: %d\n", names[i], err);
		} else if (!task_create(names[i], diag_task, &services[i], SERVICE_STACK)) {
			kprintf("diag: cannot start %s: no task\n", names[i]);
			vsock_diag_destroy(services[i].diag);
		}
	}
	kprintf("diag: echo on port %u, discard on %u, source on %u\n", VSOCK_DIAG_ECHO_PORT,
	        VSOCK_DIAG_DISCARD_PORT, VSOCK_DIAG_SOURCE_PORT);
	if (count == 4)
		kprintf("diag: seqpacket echo on port %u\n", VSOCK_DIAG_SEQ_ECHO_PORT);
	else
		kprintf("diag: no seqpacket echo: the device did not offer SEQPACKET\n");
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

struct vsock_core *vsock_stack_start(struct virtio_vsock *dev, const struct agent_config *cfg)
{
	struct vsock_config vcfg;
	struct vsock_core *core;
	int err;

	vsock_config_defaults(&vcfg);
	/* A quarter of the heap for receive windows: the first connections
	 * get 256 KiB each, and 256 connections that a peer fills cannot take
	 * the heap the agent needs (issue 12). */
	vcfg.rx_budget = heap_size() / 4;
	err = vsock_core_create(&core, virtio_vsock_transport(dev), dev, &vcfg);
	if (err) {
		kprintf("vsock: cannot create the protocol core: %d\n", err);
		return NULL;
	}
	err = virtio_vsock_start(dev, core);
	if (err) {
		kprintf("vsock: cannot start the device: %d\n", err);
		vsock_core_destroy(core);
		return NULL;
	}
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
