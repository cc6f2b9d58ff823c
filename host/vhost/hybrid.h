/*
 * hybrid.h -- the first line a host program writes on a hybrid vsock
 * socket (Firecracker docs/vsock.md; DESIGN §6): "CONNECT <port>\n".
 *
 * Accepted, as vhost-device-vsock does: the word in any case, one or more
 * blanks (space, tab), a decimal port of at most 32 bits without a sign,
 * optional trailing blanks, an optional '\r' before the '\n'.  Anything
 * else is refused.  Bytes after the '\n' are the program's first data.
 *
 * The answer is "OK <local port>\n" (Firecracker), then the stream.  Our
 * extension: a CONNECT that fails gets one line "ERROR <reason>\n" and then
 * the close, where Firecracker and vhost-device-vsock close without a word
 * ("ERROR connection refused: no listener on guest port 5000", "ERROR no
 * answer from guest port 5000 within 10 s", "ERROR too many connections
 * (limit 4096)").  Clients that read one line and require it to start with
 * "OK" report it as a failure, as they report the bare close (Kata's
 * hybrid-vsock dialers show the line); the reasons never contain "OK".  A
 * line that is not a CONNECT line at all is still closed without a word:
 * its writer does not speak this protocol (the log names what it sent).
 *
 * Typical usage:
 *	uint32_t port; size_t used;
 *	int r = hybrid_parse_connect(buf, len, &port, &used);
 *	// 1: line is buf[0..used), 0: no '\n' yet, -EPROTO: refuse
 */
#ifndef HOST_VHOST_HYBRID_H
#define HOST_VHOST_HYBRID_H

#include <stddef.h>
#include <stdint.h>

/* Parses buf[0..len) (not NUL-terminated, never modified): 1 with *port
 * and *used (the line's bytes including '\n') set, 0 when no '\n' has
 * arrived yet, -EPROTO when the line is not a CONNECT line. */
int hybrid_parse_connect(const char *buf, size_t len, uint32_t *port, size_t *used);

#endif
