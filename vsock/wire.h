/*
 * wire.h -- the virtio-vsock packet header (virtio 1.2 §5.10.6, DESIGN §4).
 *
 * struct vsock_hdr is the 44-byte header exactly as it travels: packed and
 * little-endian.  Portable code never reads its fields directly; it decodes
 * the header into struct vsock_hdr_fields (CPU order), works on that, and
 * encodes it back:
 *
 *	struct vsock_hdr_fields f;
 *	vsock_hdr_decode(&f, wire_hdr);     // le -> cpu
 *	...
 *	vsock_hdr_encode(&out_hdr, &f);     // cpu -> le
 */
#ifndef VSOCK_WIRE_H
#define VSOCK_WIRE_H

#include <stddef.h>
#include <stdint.h>

struct vsock_hdr {
	uint64_t src_cid;   /* le: sender's context id */
	uint64_t dst_cid;   /* le: receiver's context id */
	uint32_t src_port;  /* le: sender's port */
	uint32_t dst_port;  /* le: receiver's port */
	uint32_t len;       /* le: payload bytes after this header */
	uint16_t type;      /* le: VSOCK_TYPE_* */
	uint16_t op;        /* le: VSOCK_OP_* */
	uint32_t flags;     /* le: op-specific VSOCK_SHUTDOWN_* / VSOCK_SEQ_* */
	uint32_t buf_alloc; /* le: sender's receive buffer size */
	uint32_t fwd_cnt;   /* le: bytes the sender's application consumed */
} __attribute__((packed));

_Static_assert(sizeof(struct vsock_hdr) == 44, "vsock_hdr is 44 bytes");
_Static_assert(offsetof(struct vsock_hdr, src_cid) == 0, "src_cid");
_Static_assert(offsetof(struct vsock_hdr, dst_cid) == 8, "dst_cid");
_Static_assert(offsetof(struct vsock_hdr, src_port) == 16, "src_port");
_Static_assert(offsetof(struct vsock_hdr, dst_port) == 20, "dst_port");
_Static_assert(offsetof(struct vsock_hdr, len) == 24, "len");
_Static_assert(offsetof(struct vsock_hdr, type) == 28, "type");
_Static_assert(offsetof(struct vsock_hdr, op) == 30, "op");
_Static_assert(offsetof(struct vsock_hdr, flags) == 32, "flags");
_Static_assert(offsetof(struct vsock_hdr, buf_alloc) == 36, "buf_alloc");
_Static_assert(offsetof(struct vsock_hdr, fwd_cnt) == 40, "fwd_cnt");

/* type */
#define VSOCK_TYPE_STREAM    1
#define VSOCK_TYPE_SEQPACKET 2

/* op */
#define VSOCK_OP_INVALID        0
#define VSOCK_OP_REQUEST        1
#define VSOCK_OP_RESPONSE       2
#define VSOCK_OP_RST            3
#define VSOCK_OP_SHUTDOWN       4
#define VSOCK_OP_RW             5
#define VSOCK_OP_CREDIT_UPDATE  6
#define VSOCK_OP_CREDIT_REQUEST 7
#define VSOCK_OP_MAX            VSOCK_OP_CREDIT_REQUEST

/* flags of VSOCK_OP_SHUTDOWN */
#define VSOCK_SHUTDOWN_RCV  1 /* the sender will receive no more */
#define VSOCK_SHUTDOWN_SEND 2 /* the sender will send no more */
#define VSOCK_SHUTDOWN_BOTH (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)

/* flags of VSOCK_OP_RW on SEQPACKET */
#define VSOCK_SEQ_EOM 1 /* end of message */
#define VSOCK_SEQ_EOR 2 /* end of record */

/* feature bits (virtio 1.2 §5.10.3) */
#define VSOCK_F_STREAM            0
#define VSOCK_F_SEQPACKET         1
#define VSOCK_F_NO_IMPLIED_STREAM 2
#define VSOCK_F_EVENT_IDX         29
#define VSOCK_F_VERSION_1         32

/* well-known CIDs and ports (Linux sockaddr_vm) */
#define VSOCK_CID_ANY        UINT64_MAX /* bind: whatever our CID is */
#define VSOCK_CID_HYPERVISOR 0
#define VSOCK_CID_LOCAL      1
#define VSOCK_CID_HOST       2
#define VSOCK_PORT_ANY       UINT32_MAX /* bind/connect: pick an ephemeral port */

/* The header in CPU byte order. */
struct vsock_hdr_fields {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port;
	uint32_t len;
	uint16_t type, op;
	uint32_t flags;
	uint32_t buf_alloc, fwd_cnt;
};

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define vsock_le16(x) __builtin_bswap16(x)
#define vsock_le32(x) __builtin_bswap32(x)
#define vsock_le64(x) __builtin_bswap64(x)
#else
#define vsock_le16(x) ((uint16_t)(x))
#define vsock_le32(x) ((uint32_t)(x))
#define vsock_le64(x) ((uint64_t)(x))
#endif

/* Field accessors: le <-> cpu on one field of a wire header. */
static inline uint64_t vsock_hdr_src_cid(const struct vsock_hdr *h)
{
	return vsock_le64(h->src_cid);
}
static inline uint64_t vsock_hdr_dst_cid(const struct vsock_hdr *h)
{
	return vsock_le64(h->dst_cid);
}
static inline uint32_t vsock_hdr_src_port(const struct vsock_hdr *h)
{
	return vsock_le32(h->src_port);
}
static inline uint32_t vsock_hdr_dst_port(const struct vsock_hdr *h)
{
	return vsock_le32(h->dst_port);
}
static inline uint32_t vsock_hdr_len(const struct vsock_hdr *h)
{
	return vsock_le32(h->len);
}
static inline uint16_t vsock_hdr_type(const struct vsock_hdr *h)
{
	return vsock_le16(h->type);
}
static inline uint16_t vsock_hdr_op(const struct vsock_hdr *h)
{
	return vsock_le16(h->op);
}
static inline uint32_t vsock_hdr_flags(const struct vsock_hdr *h)
{
	return vsock_le32(h->flags);
}
static inline uint32_t vsock_hdr_buf_alloc(const struct vsock_hdr *h)
{
	return vsock_le32(h->buf_alloc);
}
static inline uint32_t vsock_hdr_fwd_cnt(const struct vsock_hdr *h)
{
	return vsock_le32(h->fwd_cnt);
}

static inline void vsock_hdr_decode(struct vsock_hdr_fields *f, const struct vsock_hdr *h)
{
	f->src_cid = vsock_hdr_src_cid(h);
	f->dst_cid = vsock_hdr_dst_cid(h);
	f->src_port = vsock_hdr_src_port(h);
	f->dst_port = vsock_hdr_dst_port(h);
	f->len = vsock_hdr_len(h);
	f->type = vsock_hdr_type(h);
	f->op = vsock_hdr_op(h);
	f->flags = vsock_hdr_flags(h);
	f->buf_alloc = vsock_hdr_buf_alloc(h);
	f->fwd_cnt = vsock_hdr_fwd_cnt(h);
}

static inline void vsock_hdr_encode(struct vsock_hdr *h, const struct vsock_hdr_fields *f)
{
	h->src_cid = vsock_le64(f->src_cid);
	h->dst_cid = vsock_le64(f->dst_cid);
	h->src_port = vsock_le32(f->src_port);
	h->dst_port = vsock_le32(f->dst_port);
	h->len = vsock_le32(f->len);
	h->type = vsock_le16(f->type);
	h->op = vsock_le16(f->op);
	h->flags = vsock_le32(f->flags);
	h->buf_alloc = vsock_le32(f->buf_alloc);
	h->fwd_cnt = vsock_le32(f->fwd_cnt);
}

/*
 * Credit (DESIGN §4): how many bytes we may still send.  tx_cnt counts what
 * we sent, peer_fwd_cnt what the peer's application consumed; both are u32
 * counters that wrap, so their difference is taken modulo 2^32.  A peer
 * that shrinks buf_alloc below what is in flight gets 0, never a wrapped
 * huge value.
 */
static inline uint32_t vsock_credit_free(uint32_t peer_buf_alloc, uint32_t tx_cnt,
                                         uint32_t peer_fwd_cnt)
{
	uint32_t in_flight = tx_cnt - peer_fwd_cnt;

	return in_flight >= peer_buf_alloc ? 0 : peer_buf_alloc - in_flight;
}

static inline const char *vsock_op_name(uint16_t op)
{
	static const char *const names[] = {
		"INVALID",  "REQUEST", "RESPONSE",      "RST",
		"SHUTDOWN", "RW",      "CREDIT_UPDATE", "CREDIT_REQUEST",
	};
	return op <= VSOCK_OP_MAX ? names[op] : "?";
}

#endif
