/*
 * text.c -- escaping guest-chosen text for the terminal, and reading the
 * agent's JSON log records (see text.h).
 */
#include "host/agentctl/text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at in[0..len), its code point in *cp;
 * 0 when the bytes there are not valid UTF-8 (overlong, surrogate, > U+10FFFF,
 * truncated). */
static size_t utf8_decode(const unsigned char *in, size_t len, uint32_t *cp)
{
	static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t n;
	uint32_t c;

	if (in[0] < 0x80) {
		*cp = in[0];
		return 1;
	}
	if (in[0] >= 0xc2 && in[0] <= 0xdf)
		n = 2, c = in[0] & 0x1f;
	else if (in[0] >= 0xe0 && in[0] <= 0xef)
		n = 3, c = in[0] & 0x0f;
	else if (in[0] >= 0xf0 && in[0] <= 0xf4)
		n = 4, c = in[0] & 0x07;
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((in[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (in[i] & 0x3f);
	}
	if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

static size_t utf8_encode(uint32_t c, char out[4])
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | c >> 6);
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | c >> 12);
		out[1] = (char)(0x80 | (c >> 6 & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | c >> 18);
	out[1] = (char)(0x80 | (c >> 12 & 0x3f));
	out[2] = (char)(0x80 | (c >> 6 & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* Append piece[0..n) to out if it fits whole (keeping room for the NUL). */
static bool put(char *out, size_t cap, size_t *o, const char *piece, size_t n)
{
	if (*o + n >= cap)
		return false;
	memcpy(out + *o, piece, n);
	*o += n;
	return true;
}

size_t text_escape(char *out, size_t cap, const char *in, size_t len)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0;

	if (cap == 0)
		return 0;
	for (size_t i = 0; i < len;) {
		char piece[8];
		size_t n;
		uint32_t cp;
		size_t seq = utf8_decode(p + i, len - i, &cp);

		if (seq == 0) {
			n = (size_t)snprintf(piece, sizeof(piece), "\\x%02x", p[i]);
			seq = 1;
		} else if (cp == '\t' || cp == '\n' || cp == '\r') {
			n = (size_t)snprintf(piece, sizeof(piece), "\\%c",
			                     cp == '\t' ? 't' :
			                     cp == '\n' ? 'n' :
			                                  'r');
		} else if (cp < 0x20 || cp == 0x7f) {
			n = (size_t)snprintf(piece, sizeof(piece), "\\x%02x", (unsigned)cp);
		} else if (cp >= 0x80 && cp <= 0x9f) {
			n = (size_t)snprintf(piece, sizeof(piece), "\\u%04x", (unsigned)cp);
		} else {
			memcpy(piece, p + i, seq);
			n = seq;
		}
		if (!put(out, cap, &o, piece, n))
			break;
		i += seq;
	}
	out[o] = '\0';
	return o;
}

static int hex4(const char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* Where the value of top-level member "key" starts, or NULL. */
static const char *json_member(const char *line, const char *key)
{
	size_t klen = strlen(key);
	const char *p = line;
	int depth = 0;
	bool in_string = false;

	for (; *p; p++) {
		if (in_string) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '"')
				in_string = false;
			continue;
		}
		if (*p == '{' || *p == '[') {
			depth++;
		} else if (*p == '}' || *p == ']') {
			depth--;
		} else if (*p == '"') {
			if (depth == 1 && strncmp(p + 1, key, klen) == 0 && p[1 + klen] == '"') {
				const char *v = p + 2 + klen;

				while (*v == ' ')
					v++;
				if (*v == ':') {
					for (v++; *v == ' '; v++)
						;
					return v;
				}
			}
			in_string = true;
		}
	}
	return NULL;
}

bool json_get_string(const char *line, const char *key, char *out, size_t cap)
{
	const char *p = json_member(line, key);
	size_t o = 0;

	if (cap == 0)
		return false;
	out[0] = '\0';
	if (!p || *p != '"')
		return false;
	for (p++; *p && *p != '"'; p++) {
		char piece[4];
		size_t n = 1;

		piece[0] = *p;
		if (*p == '\\') {
			p++;
			switch (*p) {
			case 'n':
				piece[0] = '\n';
				break;
			case 't':
				piece[0] = '\t';
				break;
			case 'r':
				piece[0] = '\r';
				break;
			case 'b':
				piece[0] = '\b';
				break;
			case 'f':
				piece[0] = '\f';
				break;
			case '"':
			case '\\':
			case '/':
				piece[0] = *p;
				break;
			case 'u': {
				int hi = hex4(p + 1), lo;
				uint32_t cp;

				if (hi < 0)
					goto malformed;
				p += 4;
				cp = (uint32_t)hi;
				if (hi >= 0xd800 && hi <= 0xdbff && p[1] == '\\' && p[2] == 'u' &&
				    (lo = hex4(p + 3)) >= 0xdc00 && lo <= 0xdfff) {
					cp = 0x10000 + ((uint32_t)(hi - 0xd800) << 10) +
					     (uint32_t)(lo - 0xdc00);
					p += 6;
				} else if (hi >= 0xd800 && hi <= 0xdfff) {
					cp = 0xfffd; /* a lone surrogate */
				}
				n = utf8_encode(cp, piece);
				break;
			}
			default:
				goto malformed;
			}
		}
		if (!put(out, cap, &o, piece, n))
			break; /* cut short: keep what fits */
	}
	out[o] = '\0';
	return true;
malformed:
	out[0] = '\0';
	return false;
}

long long json_get_int(const char *line, const char *key)
{
	const char *p = json_member(line, key);
	char *end;
	long long v;

	if (!p || (*p != '-' && (*p < '0' || *p > '9')))
		return -1;
	v = strtoll(p, &end, 10);
	return end == p ? -1 : v;
}

size_t json_line_sanitize(char *out, size_t cap, const char *in, size_t len)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0;

	if (cap == 0)
		return 0;
	for (size_t i = 0; i < len;) {
		char piece[8];
		size_t n;
		uint32_t cp;
		size_t seq = utf8_decode(p + i, len - i, &cp);

		if (seq == 0) {
			n = (size_t)snprintf(piece, sizeof(piece), "\\ufffd");
			seq = 1;
		} else if ((cp < 0x20 && cp != '\t') || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)) {
			n = (size_t)snprintf(piece, sizeof(piece), "\\u%04x", (unsigned)cp);
		} else {
			memcpy(piece, p + i, seq);
			n = seq;
		}
		if (!put(out, cap, &o, piece, n))
			break;
		i += seq;
	}
	out[o] = '\0';
	return o;
}
