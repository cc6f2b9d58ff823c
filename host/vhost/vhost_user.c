/*
 * vhost_user.c -- vhost-user back-end for one device (QEMU
 * docs/interop/vhost-user.rst; DESIGN §6).
 *
 * What QEMU 7.2 does with vhost-user-vsock-pci and what we answer:
 *   GET_FEATURES            VERSION_1 | EVENT_IDX | PROTOCOL_FEATURES |
 *                           SEQPACKET (QEMU passes it on: its seqpacket=auto)
 *   GET/SET_PROTOCOL_FEATURES   MQ | REPLY_ACK | CONFIG (vhost-user.rst:
 *                           back-ends should always offer MQ, even with a
 *                           fixed number of queues; GET_QUEUE_NUM says 3)
 *   SET_OWNER, SET_VRING_CALL (at any time, also while running)
 *   GET_CONFIG              le64 guest_cid at offset 0
 *   SET_FEATURES, SET_MEM_TABLE (fds: one per region), SET_VRING_NUM/BASE/
 *   ADDR (ring addresses are front-end virtual addresses), SET_VRING_KICK
 *   (the fd may already be signalled), SET_VRING_ENABLE (rings start
 *   disabled once PROTOCOL_FEATURES is acked), GET_VRING_BASE (stops the
 *   ring, on every VM stop: connections stay, see vhost_user.h on pause and
 *   reset).  QEMU sets up rings 0 (rx) and 1 (tx) only and keeps the event
 *   queue; crosvm sets up all three.  Ring 2 is accepted and left alone: no
 *   event is ever sent on it (the guest's buffers wait there unused).  With
 *   REPLY_ACK, a message flagged NEED_REPLY that has no reply of
 *   its own gets a u64 status (0 = success).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, memfd_create */
#endif
#include "host/vhost/vhost_user.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "host/vhost/guest_fault.h"
#include "host/vhost/log.h"
#include "host/vhost/vsock_wire.h"

uint64_t vu_offered_features(void)
{
	return (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) |
	       (1ull << VU_F_PROTOCOL_FEATURES) | (1ull << VSOCK_F_SEQPACKET);
}

static uint64_t offered_protocol_features(void)
{
	return (1ull << VU_PROTOCOL_F_MQ) | (1ull << VU_PROTOCOL_F_REPLY_ACK) |
	       (1ull << VU_PROTOCOL_F_CONFIG);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Takes fd number i of the message (the handler now owns it). */
static int take_fd(struct vu_msg *msg, unsigned i)
{
	if (i >= msg->nfds)
		return -1;
	int fd = msg->fds[i];
	msg->fds[i] = -1;
	return fd;
}

bool vu_dev_paused(const struct vu_dev *dev)
{
	return dev->paused_at_ms != 0 && vu_dev_attached(dev);
}

bool vu_dev_attached(const struct vu_dev *dev)
{
	return dev->conn.fd >= 0 && !dev->failed && dev->mem.count > 0;
}

struct virtq *vu_dev_queue(struct vu_dev *dev, unsigned idx)
{
	struct vu_vring *vr = &dev->vring[idx];
	if (!vr->started || !vr->enabled || !vr->vq.ready || vr->vq.broken)
		return NULL;
	return &vr->vq;
}

void vu_dev_notify(struct vu_dev *dev, unsigned idx)
{
	struct vu_vring *vr = &dev->vring[idx];
	if (!virtq_should_notify(&vr->vq) || vr->call_fd < 0)
		return;
	uint64_t one = 1;
	if (write(vr->call_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_peer(&dev->log, LOG_FRONTEND, "call fd write: %s", strerror(errno));
}

/* Translates the ring addresses; keep_state keeps our indices (a memory
 * table change while running), otherwise starts from the vring base. */
static void vring_map(struct vu_dev *dev, struct vu_vring *vr, bool keep_state)
{
	uint16_t last_avail = vr->vq.last_avail, used_idx = vr->vq.used_idx;
	uint16_t signalled = vr->vq.signalled_used;
	bool valid = vr->vq.signalled_valid, was_ready = vr->vq.ready;
	vr->vq.ready = false;
	if (!vr->started || !vr->addr_set || vr->num == 0 || dev->mem.count == 0)
		return;
	void *desc = guest_mem_uva(&dev->mem, vr->desc_uva, virtq_desc_bytes(vr->num));
	void *avail = guest_mem_uva(&dev->mem, vr->avail_uva, virtq_avail_bytes(vr->num));
	void *used = guest_mem_uva(&dev->mem, vr->used_uva, virtq_used_bytes(vr->num));
	bool event_idx = dev->features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	if (virtq_setup(&vr->vq, &dev->mem, vr->num, desc, avail, used, vr->base, event_idx) < 0) {
		virtq_mark_broken(&vr->vq, "ring addresses outside guest memory");
		return;
	}
	if (keep_state && was_ready) {
		vr->vq.last_avail = last_avail;
		vr->vq.used_idx = used_idx;
		vr->vq.signalled_used = signalled;
		vr->vq.signalled_valid = valid;
	}
}

static void on_kick(struct ev_source *src, uint32_t events)
{
	struct vu_vring *vr = (struct vu_vring *)((char *)src - offsetof(struct vu_vring, kick));
	uint64_t count;
	if (read(src->fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_peer(&vr->dev->log, LOG_FRONTEND, "kick fd read: %s", strerror(errno));
	vr->dev->ops->kick(vr->dev, vr->idx);
}

static void vring_stop(struct vu_vring *vr)
{
	loop_del(&vr->kick);
	close_fd(&vr->kick.fd);
	vr->started = false;
	vr->vq.ready = false;
}

static uint64_t now_ms(void)
{
	return loop_now_ms() | 1; /* never 0: 0 means "not paused" */
}

/* Forgets that rings were paused: what runs next is a fresh device. */
static void forget_pause(struct vu_dev *dev)
{
	for (unsigned i = 0; i < VU_NUM_QUEUES; i++)
		dev->vring[i].paused = false;
	dev->paused_at_ms = 0;
}

/* GET_VRING_BASE: the ring stops (vhost-user.rst "Ring states") and keeps
 * what it needs to tell a resume (same index, same addresses) from a
 * driver that set the device up anew. */
static void vring_pause(struct vu_dev *dev, struct vu_vring *vr, uint16_t base)
{
	bool was_started = vr->started;
	vring_stop(vr);
	if (!was_started)
		return;
	vr->paused = true;
	vr->paused_base = base;
	vr->paused_desc = vr->desc_uva;
	vr->paused_avail = vr->avail_uva;
	vr->paused_used = vr->used_uva;
	if (!dev->paused_at_ms)
		dev->paused_at_ms = now_ms();
}

/* A paused ring is started again (SET_VRING_KICK).  Same index and
 * addresses: the VM was paused and goes on.  Anything else: the guest reset
 * its device while it was stopped; its connections are gone, so are ours. */
static void vring_resume_check(struct vu_dev *dev, struct vu_vring *vr)
{
	if (!vr->paused)
		return;
	vr->paused = false;
	if (vr->base != vr->paused_base || vr->desc_uva != vr->paused_desc ||
	    vr->avail_uva != vr->paused_avail || vr->used_uva != vr->paused_used) {
		log_peer(&dev->log, LOG_FRONTEND,
		         "ring %u restarted at index %u (stopped at %u): the guest reset "
		         "its device; dropping its connections",
		         vr->idx, vr->base, vr->paused_base);
		forget_pause(dev);
		dev->ops->stop(dev);
	}
}

/* After a ring started: once rx and tx both run again, the pause is over. */
static void pause_maybe_over(struct vu_dev *dev)
{
	if (!dev->paused_at_ms || !dev->vring[VU_RX].started || !dev->vring[VU_TX].started ||
	    dev->vring[VU_RX].paused || dev->vring[VU_TX].paused)
		return;
	uint64_t paused_ms = loop_now_ms() - dev->paused_at_ms;
	forget_pause(dev);
	if (dev->ops->resume)
		dev->ops->resume(dev, paused_ms);
}

/* Forgets everything the front-end told us (disconnect or reset). */
static void dev_reset(struct vu_dev *dev)
{
	forget_pause(dev);
	for (unsigned i = 0; i < VU_NUM_QUEUES; i++) {
		struct vu_vring *vr = &dev->vring[i];
		vring_stop(vr);
		close_fd(&vr->call_fd);
		vr->enabled = false;
		vr->addr_set = false;
		vr->num = 0;
		vr->base = 0;
		vr->vq.broken = false;
	}
	guest_mem_clear(&dev->mem);
	dev->features = 0;
	dev->protocol_features = 0;
	dev->ops->stop(dev);
}

static int set_mem_table(struct vu_dev *dev, struct vu_msg *msg)
{
	uint32_t n = msg->payload.mem.nregions;
	if (msg->size < 8 || n > GUEST_MEM_MAX_REGIONS || msg->size < 8 + 32 * n || n != msg->nfds)
		return -EINVAL;
	struct guest_mem fresh = { 0 };
	int err = 0;
	for (uint32_t i = 0; i < n; i++) {
		int fd = take_fd(msg, i);
		err = guest_mem_map_fd(&fresh, msg->payload.mem.region[i].gpa,
		                       msg->payload.mem.region[i].size,
		                       msg->payload.mem.region[i].uva, fd,
		                       msg->payload.mem.region[i].mmap_offset);
		close(fd);
		if (err == -ENXIO) {
			log_peer(&dev->log, LOG_FRONTEND,
			         "memory table refused: region %u (mmap_offset 0x%llx + size "
			         "0x%llx) reaches past the end of its file",
			         i, (unsigned long long)msg->payload.mem.region[i].mmap_offset,
			         (unsigned long long)msg->payload.mem.region[i].size);
			goto err_unmap;
		}
		if (err) {
			log_peer(&dev->log, LOG_FRONTEND, "mapping region %u: %s", i,
			         strerror(-err));
			goto err_unmap;
		}
	}
	guest_mem_clear(&dev->mem);
	dev->mem = fresh;
	for (unsigned i = 0; i < VU_NUM_QUEUES; i++)
		vring_map(dev, &dev->vring[i], true);
	return 0;

err_unmap:
	guest_mem_clear(&fresh);
	return err;
}

static struct vu_vring *msg_vring(struct vu_dev *dev, uint32_t index)
{
	return index < VU_NUM_QUEUES ? &dev->vring[index] : NULL;
}

static int set_vring_fd(struct vu_dev *dev, struct vu_msg *msg)
{
	if (msg->size < 8)
		return -EINVAL;
	struct vu_vring *vr = msg_vring(dev, msg->payload.u64 & VU_VRING_IDX_MASK);
	bool nofd = msg->payload.u64 & VU_VRING_NOFD;
	int fd = nofd ? -1 : take_fd(msg, 0);
	if (!vr || (!nofd && fd < 0)) {
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	switch (msg->request) {
	case VU_SET_VRING_CALL:
		close_fd(&vr->call_fd);
		vr->call_fd = fd;
		return 0;
	case VU_SET_VRING_ERR:
		if (fd >= 0)
			close(fd);
		return 0;
	default: /* VU_SET_VRING_KICK */
		break;
	}
	vring_stop(vr);
	if (nofd)
		log_peer(&dev->log, LOG_FRONTEND, "ring %u: polling mode is not supported",
		         vr->idx);
	vring_resume_check(dev, vr);
	vr->kick.fd = fd;
	vr->started = true;
	if (!(dev->features & (1ull << VU_F_PROTOCOL_FEATURES)))
		vr->enabled = true;
	vring_map(dev, vr, false);
	if (fd >= 0 && loop_set(&vr->kick, EPOLLIN) < 0)
		return -EIO;
	pause_maybe_over(dev);
	/* The kick fd may arrive already signalled; the loop sees that too,
	 * but buffers posted before we had an fd need a look now. */
	dev->ops->kick(dev, vr->idx);
	return 0;
}

static int get_config(struct vu_dev *dev, struct vu_msg *msg)
{
	uint32_t off = msg->payload.config.offset, size = msg->payload.config.size;
	if (msg->size < 12 || size > sizeof(msg->payload.config.data) || off > 8 ||
	    size > 8 - off) {
		msg->size = 0; /* a zero-length payload reports failure */
		return 0;
	}
	uint64_t cid = dev->guest_cid;
	memcpy(msg->payload.config.data, (uint8_t *)&cid + off, size);
	msg->size = 12 + size;
	return 0;
}

static int handle_msg(struct vu_dev *dev, struct vu_msg *msg, bool *reply)
{
	struct vu_vring *vr;
	int err = 0;
	switch (msg->request) {
	case VU_GET_FEATURES:
		msg->payload.u64 = vu_offered_features();
		msg->size = 8;
		*reply = true;
		break;
	case VU_SET_FEATURES:
		if (msg->size < 8 || (msg->payload.u64 & ~vu_offered_features())) {
			err = -EINVAL;
			break;
		}
		dev->features = msg->payload.u64;
		break;
	case VU_GET_PROTOCOL_FEATURES:
		msg->payload.u64 = offered_protocol_features();
		msg->size = 8;
		*reply = true;
		break;
	case VU_SET_PROTOCOL_FEATURES:
		if (msg->size < 8) {
			err = -EINVAL;
			break;
		}
		dev->protocol_features = msg->payload.u64 & offered_protocol_features();
		break;
	case VU_SET_OWNER:
		break;
	case VU_RESET_OWNER:
	case VU_RESET_DEVICE:
		forget_pause(dev);
		for (unsigned i = 0; i < VU_NUM_QUEUES; i++)
			vring_stop(&dev->vring[i]);
		dev->ops->stop(dev);
		break;
	case VU_SET_MEM_TABLE:
		err = set_mem_table(dev, msg);
		break;
	case VU_SET_VRING_NUM:
		vr = msg_vring(dev, msg->payload.state.index);
		if (msg->size < 8 || !vr || msg->payload.state.num == 0 ||
		    msg->payload.state.num > dev->max_queue_size ||
		    (msg->payload.state.num & (msg->payload.state.num - 1))) {
			if (vr && msg->size >= 8 && msg->payload.state.num > dev->max_queue_size)
				log_peer(&dev->log, LOG_FRONTEND,
				         "ring %u of %u entries refused: "
				         "--queue-size is %u",
				         vr->idx, msg->payload.state.num, dev->max_queue_size);
			err = -EINVAL;
			break;
		}
		vr->num = (uint16_t)msg->payload.state.num;
		break;
	case VU_SET_VRING_BASE:
		vr = msg_vring(dev, msg->payload.state.index);
		if (msg->size < 8 || !vr || msg->payload.state.num > 0xffff) {
			err = -EINVAL;
			break;
		}
		vr->base = (uint16_t)msg->payload.state.num;
		break;
	case VU_SET_VRING_ADDR:
		vr = msg_vring(dev, msg->payload.addr.index);
		if (msg->size < 40 || !vr) {
			err = -EINVAL;
			break;
		}
		vr->desc_uva = msg->payload.addr.desc;
		vr->avail_uva = msg->payload.addr.avail;
		vr->used_uva = msg->payload.addr.used;
		vr->addr_set = true;
		if (vr->started)
			vring_map(dev, vr, true);
		break;
	case VU_GET_VRING_BASE:
		vr = msg_vring(dev, msg->payload.state.index);
		if (msg->size < 8 || !vr) {
			err = -EINVAL;
			break;
		}
		msg->payload.state.num = vr->vq.ready ? vr->vq.last_avail : vr->base;
		msg->size = 8;
		*reply = true;
		/* A VM stop, not a reset: the connections wait (vhost_user.h). */
		vring_pause(dev, vr, (uint16_t)msg->payload.state.num);
		break;
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		err = set_vring_fd(dev, msg);
		break;
	case VU_GET_QUEUE_NUM:
		msg->payload.u64 = VU_NUM_QUEUES;
		msg->size = 8;
		*reply = true;
		break;
	case VU_GET_MAX_MEM_SLOTS:
		msg->payload.u64 = GUEST_MEM_MAX_REGIONS;
		msg->size = 8;
		*reply = true;
		break;
	case VU_SET_VRING_ENABLE:
		vr = msg_vring(dev, msg->payload.state.index);
		if (msg->size < 8 || !vr) {
			err = -EINVAL;
			break;
		}
		vr->enabled = msg->payload.state.num != 0;
		if (vr->enabled)
			dev->ops->kick(dev, vr->idx);
		break;
	case VU_GET_CONFIG:
		err = get_config(dev, msg);
		*reply = true;
		break;
	case VU_SET_CONFIG:
		break; /* the guest cid is read-only */
	case VU_SET_BACKEND_REQ_FD:
	case VU_SET_LOG_FD:
		break; /* fds closed by the caller */
	default:
		log_peer(&dev->log, LOG_FRONTEND, "unsupported request %u", msg->request);
		err = -ENOSYS;
		break;
	}
	if (!*reply && (msg->flags & VU_FLAG_NEED_REPLY) &&
	    (dev->protocol_features & (1ull << VU_PROTOCOL_F_REPLY_ACK))) {
		msg->payload.u64 = err ? 1 : 0;
		msg->size = 8;
		*reply = true;
		err = 0; /* reported to the front-end, session goes on */
	}
	return err;
}

int vu_handle_msg(struct vu_dev *dev, struct vu_msg *msg, bool *reply)
{
	*reply = false;
	if (dev->failed)
		return -EIO;
	/* Ring setup reads guest memory (and kicks run the rings). */
	struct guest_fault_guard guard;
	guest_fault_push(&guard, &dev->mem);
	if (sigsetjmp(guard.env, 0) != 0) {
		vu_dev_fail(dev, "guest memory vanished under a request (file truncated?)");
		return -EFAULT;
	}
	int err = handle_msg(dev, msg, reply);
	guest_fault_pop(&guard);
	return err;
}

void vu_dev_fail(struct vu_dev *dev, const char *why)
{
	if (dev->failed)
		return;
	log_peer(&dev->log, LOG_FRONTEND, "dropping the front-end: %s", why);
	dev->failed = true;
	dev_reset(dev);
	/* The session ends when the loop next looks at the socket. */
	if (dev->conn.fd >= 0) {
		shutdown(dev->conn.fd, SHUT_RDWR);
		loop_set(&dev->conn, EPOLLIN | EPOLLOUT);
	}
}

/* ---- the socket side --------------------------------------------------- */

static void rx_reset(struct vu_dev *dev);

static void disconnect(struct vu_dev *dev)
{
	log_peer(&dev->log, LOG_FRONTEND, "front-end disconnected");
	loop_del(&dev->conn);
	close_fd(&dev->conn.fd);
	rx_reset(dev);
	dev->tx_len = dev->tx_off = 0;
	dev_reset(dev);
	dev->failed = false; /* the next front-end starts afresh */
}

/* Forgets the message being received (closing fds it brought). */
static void rx_reset(struct vu_dev *dev)
{
	struct vu_msg *msg = &dev->rx_msg;
	for (unsigned i = 0; i < msg->nfds; i++)
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
	msg->nfds = 0;
	dev->rx_have = 0;
}

/* Keeps the fds of an SCM_RIGHTS message (up to VU_MAX_FDS per message;
 * the rest are closed). */
static void rx_take_fds(struct vu_msg *msg, struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned count = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int fds[VU_MAX_FDS * 2];
		if (count > sizeof(fds) / sizeof(fds[0]))
			count = sizeof(fds) / sizeof(fds[0]);
		memcpy(fds, CMSG_DATA(c), count * sizeof(int));
		for (unsigned i = 0; i < count; i++) {
			if (msg->nfds < VU_MAX_FDS)
				msg->fds[msg->nfds++] = fds[i];
			else
				close(fds[i]);
		}
	}
}

/* Reads what has arrived of the current message without blocking: the
 * header, then the payload, with any fds (SCM_RIGHTS) that come along.
 * 1 when the message is complete, 0 when the rest has not arrived yet,
 * negative errno to end the session. */
static int rx_some(struct vu_dev *dev)
{
	struct vu_msg *msg = &dev->rx_msg;
	for (;;) {
		size_t want = dev->rx_have < VU_HDR_SIZE ? VU_HDR_SIZE : VU_HDR_SIZE + msg->size;
		if (dev->rx_have == want)
			return 1;
		char control[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
		struct iovec iov = { .iov_base = (uint8_t *)msg + dev->rx_have,
			             .iov_len = want - dev->rx_have };
		struct msghdr mh = { .msg_iov = &iov,
			             .msg_iovlen = 1,
			             .msg_control = control,
			             .msg_controllen = sizeof(control) };
		ssize_t n = recvmsg(dev->conn.fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n > 0)
			rx_take_fds(msg, &mh);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		if (mh.msg_flags & MSG_CTRUNC)
			return -EPROTO;
		dev->rx_have += (size_t)n;
		if (dev->rx_have == VU_HDR_SIZE && msg->size > VU_MAX_PAYLOAD)
			return -EMSGSIZE;
	}
}

/* Sends what it can of the pending reply; negative errno when the socket
 * failed.  What does not fit now waits for EPOLLOUT. */
static int tx_some(struct vu_dev *dev)
{
	while (dev->tx_off < dev->tx_len) {
		ssize_t n = send(dev->conn.fd, dev->tx_buf + dev->tx_off, dev->tx_len - dev->tx_off,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		dev->tx_off += (size_t)n;
	}
	dev->tx_len = dev->tx_off = 0;
	return 0;
}

static int queue_reply(struct vu_dev *dev, struct vu_msg *msg)
{
	msg->flags = VU_FLAG_VERSION | VU_FLAG_REPLY;
	dev->tx_len = VU_HDR_SIZE + msg->size;
	dev->tx_off = 0;
	memcpy(dev->tx_buf, msg, dev->tx_len);
	return tx_some(dev);
}

/* The front-end's socket is readable (or writable again).  Messages are
 * reassembled without blocking, so a front-end that sends half a header
 * and stops holds up only itself.  While a reply waits for room in the
 * socket, no further request is read (the front-end must read replies). */
static void on_conn(struct ev_source *src, uint32_t events)
{
	struct vu_dev *dev = (struct vu_dev *)((char *)src - offsetof(struct vu_dev, conn));
	struct vu_msg *msg = &dev->rx_msg;
	int err = dev->failed ? -EIO : tx_some(dev);
	for (unsigned handled = 0; !err && !dev->tx_len && handled < VU_MSGS_PER_EVENT; handled++) {
		int r = rx_some(dev);
		if (r <= 0) {
			err = r;
			break;
		}
		bool reply;
		err = vu_handle_msg(dev, msg, &reply);
		if (err)
			log_peer(&dev->log, LOG_FRONTEND, "request %u failed: %s", msg->request,
			         strerror(-err));
		else if (reply)
			err = queue_reply(dev, msg);
		if (dev->failed)
			err = -EIO;
		rx_reset(dev);
	}
	if (err) {
		disconnect(dev);
		return;
	}
	if (loop_set(src, dev->tx_len ? EPOLLOUT : EPOLLIN) < 0)
		disconnect(dev);
}

static void on_listener(struct ev_source *src, uint32_t events)
{
	struct vu_dev *dev = (struct vu_dev *)((char *)src - offsetof(struct vu_dev, listener));
	int fd = accept4(src->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	if (dev->conn.fd >= 0) {
		log_peer(&dev->log, LOG_FRONTEND, "second front-end refused");
		close(fd);
		return;
	}
	dev->conn.fd = fd;
	dev->rx_have = 0;
	dev->tx_len = dev->tx_off = 0;
	if (loop_set(&dev->conn, EPOLLIN) < 0) {
		close_fd(&dev->conn.fd);
		return;
	}
	log_peer(&dev->log, LOG_FRONTEND, "front-end connected");
}

int vu_listen_unix(const char *path, int backlog)
{
	return vu_listen_unix_type(path, SOCK_STREAM, backlog);
}

int vu_listen_unix_type(const char *path, int type, int backlog)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		unlink(path);
	}
	int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int err = 0;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, backlog) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int vu_dev_init(struct vu_dev *dev, const char *socket_path, uint64_t guest_cid,
                const struct vu_ops *ops, void *owner)
{
	memset(dev, 0, sizeof(*dev));
	dev->guest_cid = guest_cid;
	dev->max_queue_size = VIRTQ_MAX_SIZE; /* the owner may lower it */
	log_limit_init(&dev->log, guest_cid);
	dev->ops = ops;
	dev->owner = owner;
	dev->conn.fd = -1;
	dev->conn.handle = on_conn;
	dev->listener.handle = on_listener;
	for (unsigned i = 0; i < VU_NUM_QUEUES; i++) {
		struct vu_vring *vr = &dev->vring[i];
		vr->dev = dev;
		vr->idx = i;
		vr->call_fd = -1;
		vr->kick.fd = -1;
		vr->kick.handle = on_kick;
		vr->vq.name = i == VU_RX ? "rx" : i == VU_TX ? "tx" : "event";
		vr->vq.log = &dev->log;
	}
	dev->socket_path = strdup(socket_path);
	if (!dev->socket_path)
		return -ENOMEM;
	int fd = vu_listen_unix(socket_path, 4);
	if (fd < 0) {
		free(dev->socket_path);
		dev->socket_path = NULL;
		return fd;
	}
	dev->listener.fd = fd;
	int err = loop_set(&dev->listener, EPOLLIN);
	if (err)
		goto err_close;
	return 0;

err_close:
	close_fd(&dev->listener.fd);
	unlink(socket_path);
	free(dev->socket_path);
	dev->socket_path = NULL;
	return err;
}

void vu_dev_fini(struct vu_dev *dev)
{
	if (dev->conn.fd >= 0) {
		loop_del(&dev->conn);
		close_fd(&dev->conn.fd);
	}
	rx_reset(dev);
	dev_reset(dev);
	if (dev->listener.fd >= 0) {
		loop_del(&dev->listener);
		close_fd(&dev->listener.fd);
	}
	if (dev->socket_path) {
		unlink(dev->socket_path);
		free(dev->socket_path);
		dev->socket_path = NULL;
	}
}
