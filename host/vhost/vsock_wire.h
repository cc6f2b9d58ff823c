/*
 * vsock_wire.h -- the virtio-vsock packet header and constants as the backend
 * sees them on the rings (virtio 1.2 §5.10.6, DESIGN §4), plus the vsockmon
 * header used by --pcap (Linux include/uapi/linux/vsockmon.h, LINKTYPE 271).
 *
 * All fields are little-endian on the wire; the backend only runs on
 * little-endian hosts (checked below), so the structs are read in place.
 */
#ifndef HOST_VHOST_VSOCK_WIRE_H
#define HOST_VHOST_VSOCK_WIRE_H

#include <stddef.h>
#include <stdint.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "the backend reads little-endian wire structs in place");

/* The packet header and its constants are the portable core's. */
#include "vsock/wire.h"

#define VSOCK_HDR_SIZE 44
_Static_assert(sizeof(struct vsock_hdr) == VSOCK_HDR_SIZE, "header size");

/* Generic feature bits the backend offers (virtio 1.2 §6). */
#define VIRTIO_RING_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1      32

/* Linux's largest packet payload (VIRTIO_VSOCK_MAX_PKT_BUF_SIZE). */
#define VSOCK_MAX_PKT_PAYLOAD (64u * 1024u)

/* --pcap: struct af_vsockmon_hdr, then the transport header, then payload. */
struct vsockmon_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint16_t op;        /* VSOCKMON_OP_* */
	uint16_t transport; /* VSOCKMON_TRANSPORT_VIRTIO */
	uint16_t len;       /* transport header bytes that follow */
	uint8_t reserved[2];
} __attribute__((packed));

_Static_assert(sizeof(struct vsockmon_hdr) == 32, "vsockmon header size");
_Static_assert(offsetof(struct vsockmon_hdr, src_port) == 16, "mon src_port");
_Static_assert(offsetof(struct vsockmon_hdr, op) == 24, "mon op");
_Static_assert(offsetof(struct vsockmon_hdr, transport) == 26, "mon transport");
_Static_assert(offsetof(struct vsockmon_hdr, len) == 28, "mon len");

#define VSOCKMON_OP_UNKNOWN       0
#define VSOCKMON_OP_CONNECT       1
#define VSOCKMON_OP_DISCONNECT    2
#define VSOCKMON_OP_CONTROL       3
#define VSOCKMON_OP_PAYLOAD       4
#define VSOCKMON_TRANSPORT_VIRTIO 2
#define PCAP_LINKTYPE_VSOCK       271

#endif
