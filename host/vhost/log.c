/*
 * log.c -- rate-limited, escaped log lines about peers (see log.h).
 */
#include "host/vhost/log.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

static FILE *output;   /* NULL until set: stderr */
static int output_set; /* log_set_output called */

static const char *const class_names[LOG_CLASSES] = {
	[LOG_FRONTEND] = "front-end", [LOG_RING] = "ring",     [LOG_PACKET] = "packet",
	[LOG_CONN] = "connection",    [LOG_HYBRID] = "hybrid",
};

void log_set_output(FILE *out)
{
	output = out;
	output_set = 1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Formats one whole line and writes it with one call (lines from one
 * process never interleave). */
static void emit(const struct log_limit *lim, const char *fmt, va_list ap)
{
	char line[512];
	int n = lim ? snprintf(line, sizeof(line),
	                       "vhost-user-vsock: cid %llu: ", (unsigned long long)lim->cid) :
	              snprintf(line, sizeof(line), "vhost-user-vsock: ");
	if (n < 0)
		return;
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	size_t len = (size_t)n + (size_t)m;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	line[len] = 0;
	FILE *out = output_set ? output : stderr;
	if (out)
		fputs(line, out);
}

static void emit_args(const struct log_limit *lim, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(lim, fmt, ap);
	va_end(ap);
}

void log_limit_init(struct log_limit *lim, uint64_t cid)
{
	memset(lim, 0, sizeof(*lim));
	lim->cid = cid;
}

static void refill(struct log_bucket *b, uint64_t now)
{
	if (b->stamp_ms == 0 || now - b->stamp_ms >= 1000u * LOG_BURST / LOG_PER_SEC) {
		b->tokens = LOG_BURST;
		b->stamp_ms = now;
		return;
	}
	uint64_t earned = (now - b->stamp_ms) * LOG_PER_SEC / 1000;
	if (!earned)
		return;
	b->tokens = b->tokens + earned > LOG_BURST ? LOG_BURST : b->tokens + (uint32_t)earned;
	b->stamp_ms += earned * 1000 / LOG_PER_SEC;
}

static void summary(struct log_limit *lim, enum log_class cls)
{
	struct log_bucket *b = &lim->bucket[cls];
	if (!b->suppressed)
		return;
	emit_args(lim, "%u %s messages suppressed (more than %u a second)", b->suppressed,
	          class_names[cls], LOG_PER_SEC);
	b->suppressed = 0;
}

void log_peer(struct log_limit *lim, enum log_class cls, const char *fmt, ...)
{
	va_list ap;
	if (lim) {
		struct log_bucket *b = &lim->bucket[cls];
		refill(b, now_ms());
		if (!b->tokens) {
			b->suppressed++;
			return;
		}
		b->tokens--;
		summary(lim, cls);
	}
	va_start(ap, fmt);
	emit(lim, fmt, ap);
	va_end(ap);
}

int log_peer_would_print(struct log_limit *lim, enum log_class cls)
{
	if (!lim)
		return 1;
	refill(&lim->bucket[cls], now_ms());
	return lim->bucket[cls].tokens > 0;
}

void log_limit_flush(struct log_limit *lim)
{
	for (int cls = 0; cls < LOG_CLASSES; cls++)
		summary(lim, (enum log_class)cls);
}

char *log_escape(char *dst, size_t size, const void *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *s = src;
	size_t out = 0, shown = len < LOG_ESCAPED_MAX ? len : LOG_ESCAPED_MAX;
	if (!size)
		return dst;
	for (size_t i = 0; i < shown; i++) {
		char buf[4];
		size_t n = 0;
		if (s[i] == '\\') {
			buf[n++] = '\\';
			buf[n++] = '\\';
		} else if (s[i] >= 0x20 && s[i] < 0x7f) {
			buf[n++] = (char)s[i];
		} else {
			buf[n++] = '\\';
			buf[n++] = 'x';
			buf[n++] = hex[s[i] >> 4];
			buf[n++] = hex[s[i] & 15];
		}
		if (out + n + 1 > size)
			break;
		memcpy(dst + out, buf, n);
		out += n;
	}
	if (shown < len && out + 4 <= size) {
		memcpy(dst + out, "...", 3);
		out += 3;
	}
	dst[out] = 0;
	return dst;
}
