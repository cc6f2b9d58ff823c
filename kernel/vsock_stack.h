/*
 * vsock_stack.h -- the virtio-vsock device on PCI, the vsock core on top
 * of it, and the services that run on it without the agent (diagnostics,
 * tests).
 *
 * Typical usage (kernel/main.c):
 *	vsock_device_probe(&dma_pool, &dev);        // configured, not running
 *	core = vsock_stack_start(dev, &config);     // core attached, DRIVER_OK
 */
#ifndef KERNEL_VSOCK_STACK_H
#define KERNEL_VSOCK_STACK_H

#include "include/pool.h"
#include "kernel/config.h"

struct virtio_vsock;
struct vsock_core;

/* Find the first virtio-vsock PCI function and probe the driver on it
 * (virtio_vsock_probe).  -ENODEV (reason printed) when there is none or it
 * misbehaves; nothing is left allocated then. */
int vsock_device_probe(struct dma_pool *pool, struct virtio_vsock **out);

/* Create the core over the device, start the device with the core
 * attached, start the enabled services.  Returns the core (NULL after
 * reporting why). */
struct vsock_core *vsock_stack_start(struct virtio_vsock *dev, const struct agent_config *cfg);

#endif
