/*
 * hybrid.c -- the hybrid vsock CONNECT line parser (see hybrid.h).  A pure
 * function over untrusted bytes: the libFuzzer target fuzz_hybrid_connect
 * drives it directly.
 */
#include "host/vhost/hybrid.h"

#include <errno.h>
#include <string.h>

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int hybrid_parse_connect(const char *buf, size_t len, uint32_t *port, size_t *used)
{
	static const char word[] = "connect";
	const char *nl = memchr(buf, '\n', len);
	if (!nl)
		return 0;
	size_t end = (size_t)(nl - buf), i = 0;
	if (end && buf[end - 1] == '\r')
		end--;
	for (; word[i]; i++)
		if (i >= end || lower(buf[i]) != word[i])
			return -EPROTO;
	if (i >= end || !is_blank(buf[i]))
		return -EPROTO;
	while (i < end && is_blank(buf[i]))
		i++;
	uint64_t value = 0;
	size_t digits = 0;
	for (; i < end && buf[i] >= '0' && buf[i] <= '9'; i++, digits++) {
		value = value * 10 + (uint64_t)(buf[i] - '0');
		if (value > UINT32_MAX)
			return -EPROTO;
	}
	if (!digits)
		return -EPROTO;
	while (i < end && is_blank(buf[i]))
		i++;
	if (i != end)
		return -EPROTO;
	*port = (uint32_t)value;
	*used = (size_t)(nl - buf) + 1;
	return 1;
}
