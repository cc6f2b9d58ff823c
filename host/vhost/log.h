/*
 * log.h -- the daemon's log lines about its peers (DESIGN §6: mismatches
 * and resets are logged, never silent, and rate-limited).
 *
 * Every line a guest, a front-end or a host program can cause goes through
 * log_peer(): stderr, prefixed with the program name and the guest CID,
 * under a token bucket per VM and per message class (LOG_BURST lines at
 * once, then LOG_PER_SEC a second).  What a bucket holds back is counted
 * and reported as one "N <class> messages suppressed" line: before the
 * class's next line, or at the latest by log_limit_flush() (the daemon's
 * 1 Hz timer).  Text the peer chose goes through log_escape() first.
 *
 * Typical usage:
 *	log_limit_init(&dev->log, cid);                  // per VM
 *	log_peer(&dev->log, LOG_RESET, "reset %u<->%u: %s", local, peer, why);
 *	log_limit_flush(&dev->log);                      // once a second
 */
#ifndef HOST_VHOST_LOG_H
#define HOST_VHOST_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LOG_BURST       20 /* lines a class may print at once */
#define LOG_PER_SEC     5  /* and then, on average, per second */
#define LOG_ESCAPED_MAX 64 /* peer text shown per line, before escaping */

enum log_class {
	LOG_FRONTEND, /* vhost-user: sessions, requests, memory */
	LOG_RING,     /* rings: broken, resumed */
	LOG_PACKET,   /* guest packets dropped or refused */
	LOG_CONN,     /* connections reset or refused */
	LOG_HYBRID,   /* host programs: CONNECT lines, refusals */
	LOG_CLASSES
};

struct log_bucket {
	uint64_t stamp_ms;   /* when tokens were last topped up; 0: never */
	uint32_t tokens;     /* lines that may be printed now */
	uint32_t suppressed; /* lines held back since the last summary */
};

/* One VM's buckets. */
struct log_limit {
	uint64_t cid;                          /* guest CID for the prefix */
	struct log_bucket bucket[LOG_CLASSES]; /* one per class */
};

void log_limit_init(struct log_limit *lim, uint64_t cid);
/* One line about a peer of lim's VM (lim NULL: no limit, no CID; unit
 * tests). */
void log_peer(struct log_limit *lim, enum log_class cls, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Whether the next log_peer() line of cls would be printed now (callers
 * gather costly detail, such as a directory listing, only then). */
int log_peer_would_print(struct log_limit *lim, enum log_class cls);
/* Reports what each class held back since its last line. */
void log_limit_flush(struct log_limit *lim);
/* Writes src[0..len) into dst as printable ASCII (others as \xNN, a
 * backslash as \\), at most LOG_ESCAPED_MAX source bytes ("..." after
 * more); always NUL-terminates; returns dst. */
char *log_escape(char *dst, size_t size, const void *src, size_t len);
/* Where lines go (default stderr; NULL formats them and drops them, for
 * fuzzing). */
void log_set_output(FILE *out);

#endif
