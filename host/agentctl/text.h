/*
 * text.h -- making guest-chosen text safe to show (issue 12, hole 13).
 *
 * Everything agentctl prints that came from the guest (log records, error
 * messages, ps fields, versions) goes through text_escape(): a hostile
 * guest must not be able to drive the user's terminal.  Container output
 * from `run` is the exception: those bytes are the program's own and are
 * passed through as they are, as `docker run` does.
 *
 * Typical usage:
 *     char msg[1024], shown[4096];
 *     json_get_string(line, "msg", msg, sizeof(msg));
 *     text_escape(shown, sizeof(shown), msg, strlen(msg));
 *     printf("%s\n", shown);
 */
#ifndef HOST_AGENTCTL_TEXT_H
#define HOST_AGENTCTL_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Copy `len` bytes of `in` to `out` (always NUL-terminated, cut short at
 * cap - 1 bytes on a whole escape) so that it is printable as one line:
 * valid UTF-8 is kept except C1 controls (U+0080..U+009F) which become
 * \u00XX; C0 controls and DEL become \t, \n, \r or \xNN; bytes that are
 * not valid UTF-8 become \xNN.  Returns the length written.
 */
size_t text_escape(char *out, size_t cap, const char *in, size_t len);

/*
 * The value of the JSON string member "key" in a one-line object (the log
 * records the agent writes), unescaped into UTF-8 (\uXXXX with surrogate
 * pairs included).  The result may contain control characters: pass it
 * through text_escape() before showing it.  false if absent or malformed
 * (out is then "").  Only top-level "key": "value" pairs are looked for.
 */
bool json_get_string(const char *line, const char *key, char *out, size_t cap);

/* The value of the JSON number member "key" (an integer), or -1. */
long long json_get_int(const char *line, const char *key);

/*
 * Rewrite a JSON line for --json output: raw control bytes (invalid in
 * JSON, and dangerous on a terminal) become \u00XX and invalid UTF-8 bytes
 * \ufffd; everything else is kept.  Returns the length written.
 */
size_t json_line_sanitize(char *out, size_t cap, const char *in, size_t len);

#endif
