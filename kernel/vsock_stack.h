/*
 * vsock_stack.h -- the vsock core on top of the virtio-vsock device, and
 * the services that run on it without the agent (diagnostics, tests).
 */
#ifndef KERNEL_VSOCK_STACK_H
#define KERNEL_VSOCK_STACK_H

#include "kernel/config.h"

struct virtio_vsock;
struct vsock_core;

/* Create the core over the device, attach it, start the enabled services.
 * Returns the core (NULL after reporting why). */
struct vsock_core *vsock_stack_start(struct virtio_vsock *dev,
				     const struct agent_config *cfg);

#endif
