/*
 * pcap.c -- --pcap FILE: every packet on the rings as a LINKTYPE_VSOCK (271)
 * record: struct af_vsockmon_hdr, the 44-byte virtio header, the payload
 * (Linux include/uapi/linux/vsockmon.h; the format tshark's vsock dissector
 * reads).  Classic pcap file format, microsecond timestamps.
 */
#include "host/vhost/pcap.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "host/vhost/virtq.h"

#define PCAP_SNAPLEN (sizeof(struct vsockmon_hdr) + VSOCK_HDR_SIZE + VSOCK_MAX_PKT_PAYLOAD)

static FILE *pcap_file; /* NULL: capture off */

int vsock_pcap_open(const char *path)
{
	pcap_file = fopen(path, "wb");
	if (!pcap_file)
		return -errno;
	struct {
		uint32_t magic;
		uint16_t major, minor;
		int32_t thiszone;
		uint32_t sigfigs, snaplen, linktype;
	} hdr = { 0xa1b2c3d4u, 2, 4, 0, 0, PCAP_SNAPLEN, PCAP_LINKTYPE_VSOCK };
	if (fwrite(&hdr, sizeof(hdr), 1, pcap_file) != 1) {
		fclose(pcap_file);
		pcap_file = NULL;
		return -EIO;
	}
	fflush(pcap_file);
	return 0;
}

void vsock_pcap_close(void)
{
	if (pcap_file)
		fclose(pcap_file);
	pcap_file = NULL;
}

static uint16_t monitor_op(uint16_t op)
{
	switch (op) {
	case VSOCK_OP_REQUEST:
	case VSOCK_OP_RESPONSE:
		return VSOCKMON_OP_CONNECT;
	case VSOCK_OP_RST:
	case VSOCK_OP_SHUTDOWN:
		return VSOCKMON_OP_DISCONNECT;
	case VSOCK_OP_RW:
		return VSOCKMON_OP_PAYLOAD;
	case VSOCK_OP_CREDIT_UPDATE:
	case VSOCK_OP_CREDIT_REQUEST:
		return VSOCKMON_OP_CONTROL;
	default:
		return VSOCKMON_OP_UNKNOWN;
	}
}

void vsock_pcap_packet(const struct vsock_hdr *hdr, const struct iovec *iov, unsigned n,
                       size_t skip)
{
	if (!pcap_file)
		return;
	static uint8_t payload[VSOCK_MAX_PKT_PAYLOAD];
	uint32_t len = hdr->len <= VSOCK_MAX_PKT_PAYLOAD ? hdr->len : VSOCK_MAX_PKT_PAYLOAD;
	len = (uint32_t)iov_copy_from(iov, n, skip, payload, len);
	struct timeval tv;
	gettimeofday(&tv, NULL);
	uint32_t total = (uint32_t)(sizeof(struct vsockmon_hdr) + VSOCK_HDR_SIZE + len);
	uint32_t rec[4] = { (uint32_t)tv.tv_sec, (uint32_t)tv.tv_usec, total, total };
	struct vsockmon_hdr mon = {
		.src_cid = hdr->src_cid,
		.dst_cid = hdr->dst_cid,
		.src_port = hdr->src_port,
		.dst_port = hdr->dst_port,
		.op = monitor_op(hdr->op),
		.transport = VSOCKMON_TRANSPORT_VIRTIO,
		.len = VSOCK_HDR_SIZE,
	};
	fwrite(rec, sizeof(rec), 1, pcap_file);
	fwrite(&mon, sizeof(mon), 1, pcap_file);
	fwrite(hdr, VSOCK_HDR_SIZE, 1, pcap_file);
	fwrite(payload, 1, len, pcap_file);
}

void vsock_pcap_flush(void)
{
	if (pcap_file)
		fflush(pcap_file);
}
