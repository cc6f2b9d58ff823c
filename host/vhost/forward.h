/*
 * forward.h -- AF_VSOCK sockets on this host, for --forward-cid and
 * --forward-listen (vhost-device-vsock's "vsock backend"; its README): a
 * guest connection to host port P is connected onward to AF_VSOCK
 * forward-cid:P, and a host program that connects to AF_VSOCK port P (any
 * local CID) of a --forward-listen port reaches guest port P.  Nothing is
 * said on these sockets: no CONNECT/OK lines.
 *
 * Testing: hosts without vsock transports (no vhost-vsock, no
 * vsock_loopback) cannot carry these sockets.  A build with
 * -DVHOST_FORWARD_TEST_HOOK (the daemon's ASan build) maps them to TCP on
 * 127.0.0.1, port for port, when VHOST_USER_VSOCK_FORWARD_TO_TCP is set in
 * the environment, so that the forwarding paths run in tests/backend.
 *
 * Typical usage:
 *	bool in_progress;
 *	int fd = forward_connect(cid, port, SOCK_STREAM, &in_progress);
 *	// in_progress: wait for EPOLLOUT, then forward_connect_result(fd)
 *	int lfd = forward_listen(port);   // accept4() host programs from it
 */
#ifndef HOST_VHOST_FORWARD_H
#define HOST_VHOST_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

/* A non-blocking socket of `type` (SOCK_STREAM or SOCK_SEQPACKET)
 * connecting to cid:port; the fd, *in_progress when the connection is not
 * made yet, or negative errno. */
int forward_connect(uint32_t cid, uint32_t port, int type, bool *in_progress);
/* After EPOLLOUT on an in-progress fd: 0 when connected, else negative
 * errno (why it failed). */
int forward_connect_result(int fd);
/* A non-blocking listening AF_VSOCK SOCK_STREAM socket on port (any local
 * CID); the fd or negative errno. */
int forward_listen(uint32_t port);

#endif
