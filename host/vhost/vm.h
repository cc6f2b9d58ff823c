/*
 * vm.h -- the VMs the daemon serves: the host (CID 2) end of virtio-vsock
 * for each, behind its own vhost-user socket and hybrid vsock Unix socket
 * (DESIGN §4, §6).  The top of the back-end: a VM owns its vhost-user
 * device and its queue (vsock_queue.h), which owns its connections
 * (vsock_conn.h).
 *
 * Typical usage:
 *	vsock_host_init();                 // after loop_init
 *	struct vsock_vm *vm;
 *	vsock_vm_create(&vm, &cfg);        // listens on socket and uds-path
 *	... loop ...
 *	vsock_vm_destroy(vm);              // closes everything, unlinks
 *	vsock_host_fini();
 */
#ifndef HOST_VHOST_VM_H
#define HOST_VHOST_VM_H

#include <stdbool.h>
#include <stdint.h>

#define VM_MAX_FORWARD_LISTEN 64 /* --forward-listen ports per VM */

struct vsock_vm_config {
	uint64_t guest_cid;      /* CID the guest reads from config */
	const char *socket_path; /* vhost-user socket */
	const char *uds_path;    /* hybrid vsock Unix socket (NULL: forward) */
	uint32_t groups;         /* bitmask of sibling groups */
	uint32_t buf_alloc;      /* per-connection buffer we advertise */
	uint32_t max_conns;      /* connections at once (hybrid + guest) */
	uint32_t queue_size;     /* largest ring a front-end may set up */
	bool forward;            /* AF_VSOCK forwarding instead of uds_path */
	uint32_t forward_cid;    /* guest connections go to this CID */
	uint32_t forward_listen[VM_MAX_FORWARD_LISTEN]; /* host ports to the guest */
	unsigned forward_listen_count;                  /* entries in forward_listen */
};

struct vsock_vm;

/* 0 with *out set, or negative errno (nothing left behind). */
int vsock_vm_create(struct vsock_vm **out, const struct vsock_vm_config *cfg);
void vsock_vm_destroy(struct vsock_vm *vm);
/* Registers the after-batch work (rx servicing, freeing dead conns) and
 * the 1 Hz timer for handshake timeouts; 0 or negative errno. */
int vsock_host_init(void);
void vsock_host_fini(void);

#endif
