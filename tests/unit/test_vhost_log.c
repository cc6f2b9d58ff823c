/*
 * test_vhost_log.c -- the backend's peer log lines (host/vhost/log.c):
 * the per-class token bucket with its "suppressed" summary, and the
 * escaping of text a peer chose (issue 12 hole 7).
 */
#include "tests/unit/harness.h"

#include <stdlib.h>
#include <string.h>

#include "host/vhost/log.h"

static unsigned count_lines(const char *text, const char *needle)
{
	unsigned n = 0;
	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

TEST(a_flood_prints_a_burst_then_one_summary)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	CHECK(out != NULL);
	log_set_output(out);
	struct log_limit lim;
	log_limit_init(&lim, 7);
	for (int i = 0; i < 1000; i++)
		log_peer(&lim, LOG_PACKET, "bad packet %d", i);
	log_peer(&lim, LOG_RING, "another class is not held back");
	log_limit_flush(&lim);
	log_limit_flush(&lim); /* nothing more to report */
	fflush(out);
	CHECK_EQ(count_lines(text, "bad packet"), LOG_BURST);
	CHECK(strstr(text, "vhost-user-vsock: cid 7: bad packet 0\n") != NULL);
	CHECK(strstr(text, "cid 7: 980 packet messages suppressed") != NULL);
	CHECK_EQ(count_lines(text, "suppressed"), 1);
	CHECK(strstr(text, "another class is not held back") != NULL);
	log_set_output(stderr);
	fclose(out);
	free(text);
}

TEST(peer_text_is_escaped_and_cut)
{
	char buf[4 * LOG_ESCAPED_MAX + 4];
	CHECK(!strcmp(log_escape(buf, sizeof(buf), "ok 1", 4), "ok 1"));
	CHECK(!strcmp(log_escape(buf, sizeof(buf), "\x1b[2J\r\n\0\\\xff", 9),
	              "\\x1b[2J\\x0d\\x0a\\x00\\\\\\xff"));
	char long_text[200];
	memset(long_text, 'a', sizeof(long_text));
	log_escape(buf, sizeof(buf), long_text, sizeof(long_text));
	CHECK_EQ(strlen(buf), LOG_ESCAPED_MAX + 3);
	CHECK(!strcmp(buf + LOG_ESCAPED_MAX, "..."));
	/* A small buffer is never overrun and always terminated. */
	char small[5];
	log_escape(small, sizeof(small), "\x01\x02", 2);
	CHECK(!strcmp(small, "\\x01"));
}
