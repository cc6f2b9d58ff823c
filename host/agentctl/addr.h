/*
 * addr.h -- the agent addresses agentctl takes, in Kata's URI forms
 * (kata-agent-ctl --server-address, kata_agent.go; DESIGN §6).
 *
 *   vsock://CID:PORT        AF_VSOCK (a host with vhost-vsock);
 *   vsock://-1:PORT         any CID, also vsock://:PORT (for --listen)
 *   hvsock://PATH:PORT      hybrid vsock: a Unix socket with Firecracker's
 *                           CONNECT handshake; PATH absolute (hvsock:///run/x.sock:1024)
 *                           or relative to the working directory
 *   unix://PATH             a plain Unix socket; with --hybrid-vsock, the
 *                           same as hvsock://PATH:PORT where PORT is
 *                           --hybrid-vsock-port (1024).  PATH "@name" is an
 *                           abstract socket.
 * Schemes are matched in any case.  Ports and CIDs are decimal and must
 * fit 32 bits; port 4294967295 (VMADDR_PORT_ANY) is refused.
 */
#ifndef HOST_AGENTCTL_ADDR_H
#define HOST_AGENTCTL_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ADDR_CID_ANY  0xffffffffu /* VMADDR_CID_ANY */
#define ADDR_PATH_MAX 96          /* leaves room for "_PORT" within sun_path */

enum addr_kind {
	ADDR_VSOCK,  /* AF_VSOCK cid:port */
	ADDR_HYBRID, /* Unix socket path, then "CONNECT port" */
	ADDR_UNIX,   /* Unix socket path, nothing else */
};

struct agent_addr {
	enum addr_kind kind;      /* which form */
	char path[ADDR_PATH_MAX]; /* HYBRID/UNIX: socket path ("@..." abstract) */
	uint32_t cid;             /* VSOCK: the CID, or ADDR_CID_ANY */
	uint32_t port;            /* VSOCK/HYBRID: the vsock port */
};

/*
 * Parse `uri`.  hybrid_vsock/hybrid_port: kata-agent-ctl's --hybrid-vsock
 * and --hybrid-vsock-port, which turn unix:// into hybrid vsock.
 * 0, or -EINVAL with a one-line reason in err.
 */
int addr_parse(const char *uri, bool hybrid_vsock, uint32_t hybrid_port, struct agent_addr *out,
               char *err, size_t errlen);

/* A decimal vsock port: 0 .. 4294967294.  false otherwise. */
bool addr_parse_port(const char *s, uint32_t *out);

#endif
