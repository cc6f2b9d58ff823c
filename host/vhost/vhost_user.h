/*
 * vhost_user.h -- the back-end half of the vhost-user protocol for one
 * device (QEMU docs/interop/vhost-user.rst; DESIGN §6 lists what QEMU 7.2
 * does for vhost-user-vsock).
 *
 * A vu_dev listens on its socket, serves one front-end at a time, maps guest
 * memory, and turns the rx/tx rings into struct virtq.  It tells its owner
 * (the vsock layer) through vu_ops when a ring was kicked or became ready,
 * when the device was reset (the front-end went away, RESET_*, or the guest
 * re-initialised its driver) and when rings stopped by GET_VRING_BASE run
 * again as they were (a VM pause: `stop`/`cont` in QEMU's monitor).
 *
 * Pause and reset look alike on the wire: QEMU sends GET_VRING_BASE for
 * every ring both when the VM stops and when the guest resets the device.
 * A ring that restarts at the index GET_VRING_BASE answered, at the same
 * addresses, was paused; anything else is a device the guest set up anew,
 * whose connections are gone on its side.
 *
 * Typical usage:
 *	vu_dev_init(&dev, "/tmp/vhost.sock", &ops, owner);  // listens
 *	... loop dispatches; ops->kick(dev, VU_TX) etc. ...
 *	vu_dev_notify(&dev, VU_RX);       // after pushing used entries
 *	vu_dev_fini(&dev);                // closes, unlinks the socket
 */
#ifndef HOST_VHOST_VHOST_USER_H
#define HOST_VHOST_VHOST_USER_H

#include <stdbool.h>
#include <stdint.h>

#include "host/vhost/guest_mem.h"
#include "host/vhost/log.h"
#include "host/vhost/loop.h"
#include "host/vhost/virtq.h"

#define VU_RX         0 /* device → driver packets */
#define VU_TX         1 /* driver → device packets */
#define VU_EVENT      2 /* events (QEMU keeps it; crosvm hands it over) */
#define VU_NUM_QUEUES 3 /* GET_QUEUE_NUM's answer (PROTOCOL_F_MQ) */

/* Front-end requests (vhost-user.rst "Front-end message types"). */
enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_SET_BACKEND_REQ_FD = 21,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_RESET_DEVICE = 34,
	VU_GET_MAX_MEM_SLOTS = 36,
};

#define VU_F_PROTOCOL_FEATURES  30 /* VHOST_USER_F_PROTOCOL_FEATURES */
#define VU_PROTOCOL_F_MQ        0
#define VU_PROTOCOL_F_REPLY_ACK 3
#define VU_PROTOCOL_F_CONFIG    9

#define VU_FLAG_VERSION    0x1u
#define VU_FLAG_REPLY      (1u << 2)
#define VU_FLAG_NEED_REPLY (1u << 3)
#define VU_VRING_IDX_MASK  0xffu
#define VU_VRING_NOFD      (1u << 8)

#define VU_HDR_SIZE       12
#define VU_MAX_PAYLOAD    4096
#define VU_MAX_FDS        8
#define VU_MSGS_PER_EVENT 16 /* then the loop serves the others */

struct vu_msg {
	uint32_t request; /* enum vu_request */
	uint32_t flags;   /* VU_FLAG_* */
	uint32_t size;    /* payload bytes */
	union {
		uint64_t u64;
		struct {
			uint32_t index, num;
		} state;
		struct {
			uint32_t index, flags;
			uint64_t desc, used, avail, log;
		} addr;
		struct {
			uint32_t nregions, padding;
			struct {
				uint64_t gpa, size, uva, mmap_offset;
			} region[GUEST_MEM_MAX_REGIONS];
		} mem;
		struct {
			uint32_t offset, size, flags;
			uint8_t data[256];
		} config;
		uint8_t raw[VU_MAX_PAYLOAD];
	} payload;
	int fds[VU_MAX_FDS]; /* fds that came with the message */
	unsigned nfds;       /* how many */
} __attribute__((packed));

struct vu_dev;

struct vu_ops {
	/* Ring idx may have work: kicked, or just became ready. */
	void (*kick)(struct vu_dev *dev, unsigned idx);
	/* The device was reset or the front-end left: drop connection state. */
	void (*stop)(struct vu_dev *dev);
	/* The rx and tx rings run again after a pause that lasted paused_ms
	 * (may be NULL). */
	void (*resume)(struct vu_dev *dev, uint64_t paused_ms);
};

struct vu_vring {
	struct virtq vq;      /* the ring itself once running */
	uint16_t num;         /* SET_VRING_NUM */
	uint16_t base;        /* SET_VRING_BASE: first avail index */
	uint64_t desc_uva;    /* descriptor table (front-end address) */
	uint64_t avail_uva;   /* avail ring (front-end address) */
	uint64_t used_uva;    /* used ring (front-end address) */
	bool addr_set;        /* SET_VRING_ADDR seen */
	bool started;         /* kick fd given and not stopped by GET_VRING_BASE */
	bool enabled;         /* SET_VRING_ENABLE 1 (or no protocol features) */
	bool paused;          /* stopped by GET_VRING_BASE, may resume */
	uint16_t paused_base; /* the index GET_VRING_BASE answered */
	uint64_t paused_desc; /* ring addresses when it stopped */
	uint64_t paused_avail;
	uint64_t paused_used;
	int call_fd;           /* eventfd we signal; -1: none */
	struct ev_source kick; /* kick eventfd in the loop; fd -1: none */
	struct vu_dev *dev;    /* back pointer for the kick handler */
	unsigned idx;          /* VU_RX, VU_TX or VU_EVENT */
};

struct vu_dev {
	char *socket_path;                    /* where we listen */
	struct ev_source listener;            /* listening socket */
	struct ev_source conn;                /* connected front-end; fd -1: none */
	uint64_t features;                    /* features the front-end acked */
	uint64_t protocol_features;           /* protocol features acked */
	uint64_t guest_cid;                   /* answered by GET_CONFIG */
	struct log_limit log;                 /* the VM's peer-caused log lines */
	struct guest_mem mem;                 /* guest memory map */
	struct vu_vring vring[VU_NUM_QUEUES]; /* rx, tx and event */
	const struct vu_ops *ops;             /* owner callbacks */
	void *owner;                          /* for the owner's use */
	bool failed;                          /* vu_dev_fail'ed: the session ends */
	uint32_t max_queue_size;              /* largest SET_VRING_NUM (--queue-size) */
	uint64_t paused_at_ms;                /* when the first ring paused; 0: running */
	/* The front-end's socket is non-blocking: messages are reassembled
	 * here as their bytes arrive, replies wait here for room. */
	struct vu_msg rx_msg;                         /* message being received (and its fds) */
	size_t rx_have;                               /* bytes of it received so far */
	uint8_t tx_buf[VU_HDR_SIZE + VU_MAX_PAYLOAD]; /* reply being sent */
	size_t tx_len;                                /* its bytes; 0: no reply pending */
	size_t tx_off;                                /* bytes of it sent */
};

/* Backend virtio feature bits we offer. */
uint64_t vu_offered_features(void);

int vu_dev_init(struct vu_dev *dev, const char *socket_path, uint64_t guest_cid,
                const struct vu_ops *ops, void *owner);
void vu_dev_fini(struct vu_dev *dev);
/* The ring if it may be used now (started, enabled, mapped, not broken). */
struct virtq *vu_dev_queue(struct vu_dev *dev, unsigned idx);
/* Whether the VM is paused: a front-end is attached and its rings were
 * stopped by GET_VRING_BASE (timeouts that need the guest wait). */
bool vu_dev_paused(const struct vu_dev *dev);
/* Whether a front-end is attached with guest memory (the VM exists, even
 * if paused). */
bool vu_dev_attached(const struct vu_dev *dev);
/* Signals the call fd if the driver wants it for what was pushed. */
void vu_dev_notify(struct vu_dev *dev, unsigned idx);
/* The front-end's memory or rings cannot be used any more (a SIGBUS
 * caught by a guard): forgets memory, rings and connections now (the
 * owner's stop), and ends the front-end's session at the next safe point.
 * Safe to call from a guard's recovery path, also inside vu_handle_msg. */
void vu_dev_fail(struct vu_dev *dev, const char *why);

/* Listening Unix socket at path (a stale socket file is replaced);
 * the fd or negative errno.  _type: SOCK_STREAM or SOCK_SEQPACKET. */
int vu_listen_unix(const char *path, int backlog);
int vu_listen_unix_type(const char *path, int type, int backlog);

/* Handles one message (exposed for unit tests); the reply, if any, is
 * left in *msg with *reply set; negative errno ends the session. */
int vu_handle_msg(struct vu_dev *dev, struct vu_msg *msg, bool *reply);

#endif
