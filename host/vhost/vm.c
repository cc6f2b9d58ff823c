/*
 * vm.c -- the VMs the daemon serves and their lifetime: each VM's
 * vhost-user device and hybrid listener, the after-batch work and the 1 Hz
 * handshake timer shared by all of them (DESIGN §6; issue 4 "one process,
 * one epoll loop, any number of VMs").
 *
 * Every VM is on one list, which the after-batch hook and the timer walk
 * and sibling routing searches.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 */
#endif
#include "host/vhost/vm.h"

#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "host/vhost/guest_fault.h"
#include "host/vhost/list.h"
#include "host/vhost/log.h"
#include "host/vhost/loop.h"
#include "host/vhost/pcap.h"
#include "host/vhost/vhost_user.h"
#include "host/vhost/vsock_conn.h"
#include "host/vhost/vsock_queue.h"

struct vsock_vm {
	struct vu_dev dev;		/* vhost-user device (rings, memory) */
	struct vsock_queue queue;	/* its packets, RSTs and connections (CID) */
	uint32_t groups;		/* sibling groups bitmask */
	char *uds_path;			/* hybrid listener path */
	struct ev_source uds;		/* hybrid listener */
	bool uds_paused;		/* out of fds: accept again on the timer */
	struct list_node vms;		/* vsock_all_vms */
};

static struct list_node vsock_all_vms = { &vsock_all_vms, &vsock_all_vms };
static struct ev_source timer;			/* 1 Hz handshake timeouts */

static struct vsock_vm *vm_of_queue(struct vsock_queue *q)
{
	return (struct vsock_vm *)((char *)q - offsetof(struct vsock_vm, queue));
}

/* Sibling routing: a VM reaches another by CID when they share a group. */
static struct vsock_queue *find_sibling(struct vsock_queue *q, uint64_t cid)
{
	struct vsock_vm *vm = vm_of_queue(q);
	struct list_node *pos, *tmp;
	list_for_each_safe(pos, tmp, &vsock_all_vms) {
		struct vsock_vm *other = list_entry(pos, struct vsock_vm, vms);
		if (other != vm && other->queue.cid == cid && (other->groups & vm->groups))
			return &other->queue;
	}
	return NULL;
}

static const struct vsock_queue_ops vm_queue_ops = { .find_sibling = find_sibling };

static void on_uds_accept(struct ev_source *src, uint32_t events)
{
	struct vsock_vm *vm = (struct vsock_vm *)((char *)src - offsetof(struct vsock_vm, uds));
	for (int i = 0; i < 16; i++) {
		int fd = accept4(src->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* The listener stays readable: pausing it keeps
				 * the loop from spinning until fds come back. */
				log_peer(&vm->dev.log, LOG_HYBRID,
					 "hybrid accept: %s; pausing for a second",
					 strerror(errno));
				loop_set(src, 0);
				vm->uds_paused = true;
			}
			return;
		}
		if (!conn_from_host(&vm->queue.conns, fd))
			close(fd);
	}
}

/* Runs work on vm's rings.  Guest memory that vanishes under it (the
 * front-end truncated its file: SIGBUS) drops the VM's front-end, not the
 * daemon (guest_fault.h). */
static void vm_run_guarded(struct vsock_vm *vm, void (*work)(struct vsock_queue *q))
{
	struct guest_fault_guard guard;
	guest_fault_push(&guard, &vm->dev.mem);
	if (sigsetjmp(guard.env, 0) == 0) {
		work(&vm->queue);
		guest_fault_pop(&guard);
	} else {
		char why[96];
		snprintf(why, sizeof(why), "guest memory vanished at %p (file truncated?)",
			 guard.addr);
		vu_dev_fail(&vm->dev, why);
	}
}

static void vm_kick(struct vu_dev *dev, unsigned idx)
{
	struct vsock_vm *vm = dev->owner;
	if (idx == VU_EVENT)
		return; /* event buffers: we never send an event */
	vm_run_guarded(vm, idx == VU_TX ? queue_tx_service : queue_rx_service);
}

static void vm_stop(struct vu_dev *dev)
{
	struct vsock_vm *vm = dev->owner;
	queue_drop(&vm->queue);
}

/* The VM ran again after a pause: the guest could not answer meanwhile,
 * so deadlines that wait for it move by the pause. */
static void vm_resume(struct vu_dev *dev, uint64_t paused_ms)
{
	struct vsock_vm *vm = dev->owner;
	log_peer(&dev->log, LOG_FRONTEND, "rings run again after a %llu ms pause; %u "
		 "connections kept", (unsigned long long)paused_ms, vm->queue.conns.count);
	conn_shift_deadlines(&vm->queue.conns, paused_ms);
}

static const struct vu_ops vm_ops = { .kick = vm_kick, .stop = vm_stop,
				      .resume = vm_resume };

static void after_batch(void)
{
	struct list_node *pos, *tmp;
	list_for_each_safe(pos, tmp, &vsock_all_vms) {
		struct vsock_vm *vm = list_entry(pos, struct vsock_vm, vms);
		vm_run_guarded(vm, queue_after_batch);
	}
	conn_free_dead();
	vsock_pcap_flush();
}

/* Host programs that never finish the CONNECT line, and guests that never
 * answer a REQUEST, are given up on. */
static void on_timer(struct ev_source *src, uint32_t events)
{
	uint64_t ticks, now = loop_now_ms();
	if (read(src->fd, &ticks, sizeof(ticks)) < 0)
		return;
	struct list_node *pos, *tmp;
	list_for_each_safe(pos, tmp, &vsock_all_vms) {
		struct vsock_vm *vm = list_entry(pos, struct vsock_vm, vms);
		if (!vu_dev_paused(&vm->dev)) /* a paused guest cannot answer */
			conn_expire(&vm->queue.conns, now);
		log_limit_flush(&vm->dev.log);
		if (vm->uds_paused && loop_set(&vm->uds, EPOLLIN) == 0)
			vm->uds_paused = false;
	}
}

int vsock_host_init(void)
{
	int err = guest_fault_init();
	if (err)
		return err;
	loop_after_batch(after_batch);
	timer.handle = on_timer;
	timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (timer.fd < 0)
		return -errno;
	struct itimerspec period = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
	if (timerfd_settime(timer.fd, 0, &period, NULL) < 0)
		return -errno;
	return loop_set(&timer, EPOLLIN);
}

void vsock_host_fini(void)
{
	if (timer.fd > 0) {
		loop_del(&timer);
		close(timer.fd);
	}
	timer.fd = -1;
}

int vsock_vm_create(struct vsock_vm **out, const struct vsock_vm_config *cfg)
{
	struct vsock_vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->groups = cfg->groups;
	vm->uds.handle = on_uds_accept;
	vm->uds_path = strdup(cfg->uds_path);
	int err = -ENOMEM;
	if (!vm->uds_path)
		goto err_free;
	queue_init(&vm->queue, &vm->dev, cfg->guest_cid, vm->uds_path, cfg->buf_alloc,
		   cfg->max_conns, &vm_queue_ops);
	vm->uds.fd = vu_listen_unix(cfg->uds_path, 128);
	if (vm->uds.fd < 0) {
		err = vm->uds.fd;
		goto err_free_path;
	}
	err = loop_set(&vm->uds, EPOLLIN);
	if (err)
		goto err_close_uds;
	err = vu_dev_init(&vm->dev, cfg->socket_path, cfg->guest_cid, &vm_ops, vm);
	if (err)
		goto err_close_uds;
	list_add_tail(&vsock_all_vms, &vm->vms);
	*out = vm;
	return 0;

err_close_uds:
	loop_del(&vm->uds);
	close(vm->uds.fd);
	unlink(cfg->uds_path);
err_free_path:
	free(vm->uds_path);
err_free:
	free(vm);
	return err;
}

void vsock_vm_destroy(struct vsock_vm *vm)
{
	list_del(&vm->vms);
	vu_dev_fini(&vm->dev); /* calls vm_stop: connections go */
	queue_drop(&vm->queue);
	loop_del(&vm->uds);
	close(vm->uds.fd);
	unlink(vm->uds_path);
	free(vm->uds_path);
	free(vm);
	conn_free_dead();
}
