/*
 * addr.c -- parsing agentctl's agent addresses (see addr.h).
 */
#include "host/agentctl/addr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool parse_u32(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

bool addr_parse_port(const char *s, uint32_t *out)
{
	uint32_t v;

	if (!parse_u32(s, strlen(s), &v) || v == UINT32_MAX)
		return false;
	*out = v;
	return true;
}

static int fail(char *err, size_t errlen, const char *uri, const char *why)
{
	snprintf(err, errlen, "address '%s': %s", uri, why);
	return -EINVAL;
}

static int set_path(struct agent_addr *out, const char *path, size_t len, const char *uri,
                    char *err, size_t errlen)
{
	if (len == 0)
		return fail(err, errlen, uri, "no socket path");
	if (len >= sizeof(out->path))
		return fail(err, errlen, uri, "socket path too long");
	memcpy(out->path, path, len);
	out->path[len] = '\0';
	return 0;
}

int addr_parse(const char *uri, bool hybrid_vsock, uint32_t hybrid_port, struct agent_addr *out,
               char *err, size_t errlen)
{
	const char *sep = strstr(uri, "://");
	const char *rest, *colon;
	size_t scheme_len;

	memset(out, 0, sizeof(*out));
	if (!sep)
		return fail(err, errlen, uri,
		            "use vsock://CID:PORT, hvsock:///PATH:PORT or unix:///PATH");
	scheme_len = (size_t)(sep - uri);
	rest = sep + 3;

	if (scheme_len == 4 && strncasecmp(uri, "unix", 4) == 0) {
		out->kind = hybrid_vsock ? ADDR_HYBRID : ADDR_UNIX;
		out->port = hybrid_port;
		return set_path(out, rest, strlen(rest), uri, err, errlen);
	}
	colon = strrchr(rest, ':');
	if (!colon)
		return fail(err, errlen, uri, "no :PORT (the vsock port) at the end");
	if (!addr_parse_port(colon + 1, &out->port))
		return fail(err, errlen, uri, "the port must be a number from 0 to 4294967294");

	if (scheme_len == 6 && strncasecmp(uri, "hvsock", 6) == 0) {
		out->kind = ADDR_HYBRID;
		return set_path(out, rest, (size_t)(colon - rest), uri, err, errlen);
	}
	if (scheme_len == 5 && strncasecmp(uri, "vsock", 5) == 0) {
		size_t len = (size_t)(colon - rest);

		out->kind = ADDR_VSOCK;
		if (len == 0 || (len == 2 && strncmp(rest, "-1", 2) == 0)) {
			out->cid = ADDR_CID_ANY;
			return 0;
		}
		if (!parse_u32(rest, len, &out->cid))
			return fail(err, errlen, uri, "the CID must be a number (or -1 for any)");
		return 0;
	}
	return fail(err, errlen, uri, "unknown scheme; use vsock://, hvsock:// or unix://");
}
