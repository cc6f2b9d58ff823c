/*
 * fuzz_hybrid_connect.c -- libFuzzer target: the hybrid vsock CONNECT line
 * parser (host/vhost/hybrid.c), the first bytes a host program sends.
 *
 * Checks, for any input:
 *   - the answer agrees with a second, deliberately naive reading of the
 *     grammar in hybrid.h (a differential check);
 *   - fed as it would arrive, one prefix at a time, the parser says "more"
 *     until the '\n' is there and then gives the same answer;
 *   - an accepted line is exactly the bytes up to the first '\n', and
 *     "CONNECT <port>\n" printed back parses to the same port.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/vhost/hybrid.h"
#include "tests/fuzz/fuzz.h"

/* The grammar again, the slow way: strip the '\n' and a '\r', split at
 * the first blank, compare words, then read digits. */
static int reference(const char *buf, size_t len, uint32_t *port)
{
	const char *nl = memchr(buf, '\n', len);
	if (!nl)
		return 0;
	size_t n = (size_t)(nl - buf);
	char line[256];
	if (n >= sizeof(line))
		return -EPROTO;
	memcpy(line, buf, n);
	line[n] = 0;
	if (n && line[n - 1] == '\r')
		line[--n] = 0;
	if (memchr(line, 0, n))
		return -EPROTO;
	if (n < 8 || strncasecmp(line, "connect", 7) || (line[7] != ' ' && line[7] != '\t'))
		return -EPROTO;
	char *p = line + 7;
	while (*p == ' ' || *p == '\t')
		p++;
	char *digits = p;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p == digits)
		return -EPROTO;
	char *rest = p;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	if (*rest)
		return -EPROTO;
	*p = 0;
	unsigned long long v = strtoull(digits, NULL, 10);
	size_t sig = strspn(digits, "0");
	if (strlen(digits + sig) > 10 || v > UINT32_MAX)
		return -EPROTO;
	*port = (uint32_t)v;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	uint32_t port = 0, ref_port = 0;
	size_t used = 0;

	int r = hybrid_parse_connect(buf, size, &port, &used);
	const char *nl = memchr(buf, '\n', size);
	if (!nl && r != 0)
		abort();
	if (nl && r == 0)
		abort();
	if (r != 0 && r != 1 && r != -EPROTO)
		abort();
	if (r == 1 && (used != (size_t)(nl - buf) + 1))
		abort();
	/* Lines longer than the reference's buffer are never valid for it;
	 * the parser may accept them only with many blanks. */
	if (nl && (size_t)(nl - buf) < 255) {
		int ref = reference(buf, size, &ref_port);
		if (ref != r || (r == 1 && ref_port != port))
			abort();
	}

	/* As it arrives: a prefix without the '\n' is "more", never a verdict. */
	size_t limit = nl ? (size_t)(nl - buf) + 1 : size;
	if (limit > 80)
		limit = 80;
	for (size_t k = 0; k < limit; k++) {
		uint32_t p2;
		size_t u2;
		if (hybrid_parse_connect(buf, k, &p2, &u2) != 0)
			abort();
	}

	/* What the daemon's own clients send parses back. */
	if (r == 1) {
		char line[32];
		int n = snprintf(line, sizeof(line), "CONNECT %u\n", port);
		uint32_t p3 = ~port;
		size_t u3 = 0;
		if (hybrid_parse_connect(line, (size_t)n, &p3, &u3) != 1 || p3 != port ||
		    u3 != (size_t)n)
			abort();
	}
	return 0;
}
