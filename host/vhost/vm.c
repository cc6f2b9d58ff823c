/*
 * vm.c -- the VMs the daemon serves and their lifetime: each VM's
 * vhost-user device and its host-side listeners (hybrid uds-path, the
 * SEQPACKET one at <uds-path>.seqpacket, or the --forward-listen AF_VSOCK
 * ports), its pause and resume, the after-batch work and the 1 Hz timer
 * shared by all of them (DESIGN §6; issue 4 "one process, one epoll loop,
 * any number of VMs"; issue 16).
 *
 * Every VM is on one list, which the after-batch hook and the timer walk
 * and sibling routing searches.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, asprintf */
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

#include "host/vhost/forward.h"
#include "host/vhost/guest_fault.h"
#include "host/vhost/list.h"
#include "host/vhost/log.h"
#include "host/vhost/loop.h"
#include "host/vhost/pcap.h"
#include "host/vhost/vhost_user.h"
#include "host/vhost/vsock_conn.h"
#include "host/vhost/vsock_queue.h"

struct vsock_vm;

/* A --forward-listen port: host programs that connect reach that guest port. */
struct forward_port {
	struct ev_source ev; /* listening AF_VSOCK socket */
	struct vsock_vm *vm; /* owner */
	uint32_t port;       /* the port, ours and the guest's */
};

struct vsock_vm {
	struct vu_dev dev;        /* vhost-user device (rings, memory) */
	struct vsock_queue queue; /* its packets, RSTs and connections (CID) */
	uint32_t groups;          /* sibling groups bitmask */
	char *uds_path;           /* hybrid listener path (NULL: forwarding) */
	struct ev_source uds;     /* hybrid listener (fd -1: none) */
	char *seq_path;           /* <uds_path>.seqpacket (vsock_seq.h) */
	struct ev_source seq;     /* its SOCK_SEQPACKET listener (fd -1: none) */
	struct forward_port fwd[VM_MAX_FORWARD_LISTEN]; /* --forward-listen */
	unsigned fwd_count;                             /* entries in fwd */
	bool accept_paused;                             /* out of fds: accept again on the timer */
	struct list_node vms;                           /* vsock_all_vms */
};

static struct list_node vsock_all_vms = { &vsock_all_vms, &vsock_all_vms };
static struct ev_source timer; /* 1 Hz handshake timeouts */

static struct vsock_vm *vm_of_queue(struct vsock_queue *q)
{
	return (struct vsock_vm *)((char *)q - offsetof(struct vsock_vm, queue));
}

/* Sibling routing: a VM reaches another by CID when they share a group. */
static struct vsock_queue *find_sibling(struct vsock_queue *q, uint64_t cid)
{
	struct vsock_vm *vm = vm_of_queue(q);
	struct list_node *pos, *tmp;
	list_for_each_safe (pos, tmp, &vsock_all_vms) {
		struct vsock_vm *other = list_entry(pos, struct vsock_vm, vms);
		if (other != vm && other->queue.cid == cid && (other->groups & vm->groups))
			return &other->queue;
	}
	return NULL;
}

static const struct vsock_queue_ops vm_queue_ops = { .find_sibling = find_sibling };

/* Accepts what is pending on a listener (16 at most a round) and hands each
 * fd to take(), which closes it when refused. */
static void accept_some(struct vsock_vm *vm, struct ev_source *src,
                        void (*take)(struct vsock_vm *vm, int fd, void *arg), void *arg)
{
	for (int i = 0; i < 16; i++) {
		int fd = accept4(src->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* The listener stays readable: pausing it keeps
				 * the loop from spinning until fds come back. */
				log_peer(&vm->dev.log, LOG_HYBRID,
				         "accept: %s; pausing for a second", strerror(errno));
				loop_set(src, 0);
				vm->accept_paused = true;
			}
			return;
		}
		take(vm, fd, arg);
	}
}

static void take_hybrid(struct vsock_vm *vm, int fd, void *arg)
{
	if (!conn_from_host(&vm->queue.conns, fd, arg != NULL))
		close(fd);
}

static void on_uds_accept(struct ev_source *src, uint32_t events)
{
	struct vsock_vm *vm = (struct vsock_vm *)((char *)src - offsetof(struct vsock_vm, uds));
	accept_some(vm, src, take_hybrid, NULL);
}

static void on_seq_accept(struct ev_source *src, uint32_t events)
{
	struct vsock_vm *vm = (struct vsock_vm *)((char *)src - offsetof(struct vsock_vm, seq));
	accept_some(vm, src, take_hybrid, vm); /* arg set: SEQPACKET */
}

static void take_forwarded(struct vsock_vm *vm, int fd, void *arg)
{
	struct forward_port *fp = arg;
	if (!conn_from_forward(&vm->queue.conns, fd, fp->port))
		close(fd);
}

static void on_forward_accept(struct ev_source *src, uint32_t events)
{
	struct forward_port *fp = (struct forward_port *)src;
	accept_some(fp->vm, src, take_forwarded, fp);
}

/* The timer's second look at listeners paused for want of fds. */
static void accept_resume(struct vsock_vm *vm)
{
	if (!vm->accept_paused)
		return;
	vm->accept_paused = false;
	if (vm->uds.fd >= 0 && loop_set(&vm->uds, EPOLLIN) < 0)
		vm->accept_paused = true;
	if (vm->seq.fd >= 0 && loop_set(&vm->seq, EPOLLIN) < 0)
		vm->accept_paused = true;
	for (unsigned i = 0; i < vm->fwd_count; i++)
		if (loop_set(&vm->fwd[i].ev, EPOLLIN) < 0)
			vm->accept_paused = true;
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
	log_peer(&dev->log, LOG_FRONTEND,
	         "rings run again after a %llu ms pause; %u "
	         "connections kept",
	         (unsigned long long)paused_ms, vm->queue.conns.count);
	conn_shift_deadlines(&vm->queue.conns, paused_ms);
}

static const struct vu_ops vm_ops = { .kick = vm_kick, .stop = vm_stop, .resume = vm_resume };

static void after_batch(void)
{
	struct list_node *pos, *tmp;
	list_for_each_safe (pos, tmp, &vsock_all_vms) {
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
	list_for_each_safe (pos, tmp, &vsock_all_vms) {
		struct vsock_vm *vm = list_entry(pos, struct vsock_vm, vms);
		if (!vu_dev_paused(&vm->dev)) { /* a paused guest cannot answer */
			conn_expire(&vm->queue.conns, now);
			vm_run_guarded(vm, queue_watchdog);
		}
		log_limit_flush(&vm->dev.log);
		accept_resume(vm);
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

static void close_listener(struct ev_source *src)
{
	if (src->fd < 0)
		return;
	loop_del(src);
	close(src->fd);
	src->fd = -1;
}

/* The --forward-listen ports of cfg; 0 or negative errno (those opened
 * stay, vsock_vm_destroy closes them). */
static int forward_listen_all(struct vsock_vm *vm, const struct vsock_vm_config *cfg)
{
	for (unsigned i = 0; i < cfg->forward_listen_count; i++) {
		struct forward_port *fp = &vm->fwd[vm->fwd_count];
		fp->vm = vm;
		fp->port = cfg->forward_listen[i];
		fp->ev.handle = on_forward_accept;
		fp->ev.fd = forward_listen(fp->port);
		if (fp->ev.fd < 0) {
			fprintf(stderr, "vhost-user-vsock: cid %llu: AF_VSOCK port %u: %s\n",
			        (unsigned long long)cfg->guest_cid, fp->port, strerror(-fp->ev.fd));
			return fp->ev.fd;
		}
		vm->fwd_count++;
		int err = loop_set(&fp->ev, EPOLLIN);
		if (err)
			return err;
	}
	return 0;
}

/* The SEQPACKET hybrid listener next to uds_path (vsock_seq.h).  A VM
 * goes on without it (the path may be too long): said on stderr. */
static void seq_listen(struct vsock_vm *vm, const struct vsock_vm_config *cfg)
{
	vm->seq.fd = vu_listen_unix_type(vm->seq_path, SOCK_SEQPACKET, 128);
	if (vm->seq.fd < 0) {
		fprintf(stderr, "vhost-user-vsock: cid %llu: no SEQPACKET listener at %s: %s\n",
		        (unsigned long long)cfg->guest_cid, vm->seq_path, strerror(-vm->seq.fd));
		vm->seq.fd = -1;
		return;
	}
	if (loop_set(&vm->seq, EPOLLIN) < 0) {
		close(vm->seq.fd);
		unlink(vm->seq_path);
		vm->seq.fd = -1;
	}
}

int vsock_vm_create(struct vsock_vm **out, const struct vsock_vm_config *cfg)
{
	struct vsock_vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->groups = cfg->groups;
	vm->uds.handle = on_uds_accept;
	vm->uds.fd = -1;
	vm->seq.handle = on_seq_accept;
	vm->seq.fd = -1;
	int err = -ENOMEM;
	if (cfg->uds_path) {
		vm->uds_path = strdup(cfg->uds_path);
		if (!vm->uds_path || asprintf(&vm->seq_path, "%s.seqpacket", cfg->uds_path) < 0)
			goto err_free;
	}
	queue_init(&vm->queue, &vm->dev, cfg->guest_cid, vm->uds_path, cfg->buf_alloc,
	           cfg->max_conns, &vm_queue_ops);
	vm->queue.conns.forward = cfg->forward;
	vm->queue.conns.forward_cid = cfg->forward_cid;
	if (cfg->uds_path) {
		vm->uds.fd = vu_listen_unix(cfg->uds_path, 128);
		if (vm->uds.fd < 0) {
			err = vm->uds.fd;
			goto err_free_path;
		}
		err = loop_set(&vm->uds, EPOLLIN);
		if (err)
			goto err_close_listeners;
		seq_listen(vm, cfg);
	}
	err = forward_listen_all(vm, cfg);
	if (err)
		goto err_close_listeners;
	err = vu_dev_init(&vm->dev, cfg->socket_path, cfg->guest_cid, &vm_ops, vm);
	if (err)
		goto err_close_listeners;
	vm->dev.max_queue_size = cfg->queue_size;
	list_add_tail(&vsock_all_vms, &vm->vms);
	*out = vm;
	return 0;

err_close_listeners:
	for (unsigned i = 0; i < vm->fwd_count; i++)
		close_listener(&vm->fwd[i].ev);
	if (vm->seq.fd >= 0) {
		close_listener(&vm->seq);
		unlink(vm->seq_path);
	}
	if (vm->uds.fd >= 0) {
		close_listener(&vm->uds);
		unlink(cfg->uds_path);
	}
err_free_path:
err_free:
	free(vm->seq_path);
	free(vm->uds_path);
	free(vm);
	return err;
}

void vsock_vm_destroy(struct vsock_vm *vm)
{
	list_del(&vm->vms);
	vu_dev_fini(&vm->dev); /* calls vm_stop: connections go */
	queue_drop(&vm->queue);
	for (unsigned i = 0; i < vm->fwd_count; i++)
		close_listener(&vm->fwd[i].ev);
	if (vm->seq.fd >= 0) {
		close_listener(&vm->seq);
		unlink(vm->seq_path);
	}
	if (vm->uds.fd >= 0) {
		close_listener(&vm->uds);
		unlink(vm->uds_path);
	}
	free(vm->seq_path);
	free(vm->uds_path);
	free(vm);
	conn_free_dead();
}
