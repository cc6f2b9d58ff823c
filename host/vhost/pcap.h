/*
 * pcap.h -- --pcap FILE: every packet on the rings, both directions, as
 * LINKTYPE_VSOCK (271) records that tshark's vsock dissector reads
 * (DESIGN §6; the record layout is in vsock_wire.h).
 *
 * Typical usage:
 *	vsock_pcap_open("/tmp/vsock.pcap");         // once, at start-up
 *	vsock_pcap_packet(&hdr, iov, n, HDR_SIZE);  // each packet (no-op if closed)
 *	vsock_pcap_flush();                         // after each loop batch
 *	vsock_pcap_close();
 */
#ifndef HOST_VHOST_PCAP_H
#define HOST_VHOST_PCAP_H

#include <stddef.h>
#include <sys/uio.h>

#include "host/vhost/vsock_wire.h"

/* Opens --pcap FILE; 0 or negative errno. */
int vsock_pcap_open(const char *path);
void vsock_pcap_close(void);
/* Pushes buffered capture records to the file (after each loop batch). */
void vsock_pcap_flush(void);
/* Writes one packet to the capture, if any: hdr, then hdr->len payload
 * bytes taken from iov[0..n) starting skip bytes in. */
void vsock_pcap_packet(const struct vsock_hdr *hdr, const struct iovec *iov, unsigned n,
                       size_t skip);

#endif
