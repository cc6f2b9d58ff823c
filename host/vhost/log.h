/*
 * log.h -- the daemon's one log line format: stderr, prefixed with the
 * program name and the guest CID the line is about (DESIGN §6: mismatches
 * and resets are logged, never silent).
 *
 * Typical usage:
 *	LOG(vm->cid, "reset %u<->%u: %s", local, peer, why);
 */
#ifndef HOST_VHOST_LOG_H
#define HOST_VHOST_LOG_H

#include <stdio.h>

#define LOG(cid, fmt, ...) \
	fprintf(stderr, "vhost-user-vsock: cid %llu: " fmt "\n", \
		(unsigned long long)(cid), ##__VA_ARGS__)

#endif
