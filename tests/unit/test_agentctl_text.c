/*
 * test_agentctl_text.c -- agentctl's escaping of guest-chosen text and its
 * reading of the agent's JSON log records (host/agentctl/text.c; issue 12,
 * hole 13: a guest must not be able to drive the user's terminal).
 */
#include "host/agentctl/text.h"

#include <string.h>

#include "tests/unit/harness.h"

/* A string literal and its length, embedded NULs included. */
#define LIT(s) s, sizeof(s) - 1

static const char *esc(const char *in, size_t len)
{
	static char out[512];

	text_escape(out, sizeof(out), in, len);
	return out;
}

TEST(plain_text_and_utf8_pass_unchanged)
{
	CHECK(strcmp(esc(LIT("hello, world")), "hello, world") == 0);
	CHECK(strcmp(esc(LIT("gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x90\xb3")),
	             "gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x90\xb3") == 0);
}

TEST(control_characters_are_escaped)
{
	CHECK(strcmp(esc(LIT("\x1b[2J\x1b]0;pwned\x07")), "\\x1b[2J\\x1b]0;pwned\\x07") == 0);
	CHECK(strcmp(esc(LIT("a\tb\nc\rd\x7f")), "a\\tb\\nc\\rd\\x7f") == 0);
	CHECK(strcmp(esc(LIT("nul\0byte")), "nul\\x00byte") == 0);
}

TEST(c1_controls_and_invalid_utf8_are_escaped)
{
	/* U+009B is CSI in C1 form; a raw 0x9b byte is invalid UTF-8. */
	CHECK(strcmp(esc(LIT("\xc2\x9b"
	                     "31m")),
	             "\\u009b31m") == 0);
	CHECK(strcmp(esc(LIT("\x9b"
	                     "31m")),
	             "\\x9b31m") == 0);
	/* overlong ESC, a surrogate, a truncated sequence */
	CHECK(strcmp(esc(LIT("\xc0\x9b")), "\\xc0\\x9b") == 0);
	CHECK(strcmp(esc(LIT("\xed\xa0\x80")), "\\xed\\xa0\\x80") == 0);
	CHECK(strcmp(esc(LIT("\xe2\x82")), "\\xe2\\x82") == 0);
}

TEST(escaping_is_cut_short_on_a_whole_escape)
{
	char out[8];

	CHECK_EQ(text_escape(out, sizeof(out), LIT("abcde\x1b")), 5);
	CHECK(strcmp(out, "abcde") == 0);
	CHECK_EQ(text_escape(out, 1, LIT("abc")), 0);
	CHECK(out[0] == '\0');
}

TEST(json_strings_are_unescaped_then_escaped_for_showing)
{
	const char *line = "{\"msg\":\"\\u001b[31mred\\u001b[0m \\\"q\\\" \\u00e9 \\ud83d\\udc33\","
	                   "\"seq\":42,\"level\":\"info\"}";
	char msg[128];

	CHECK(json_get_string(line, "msg", msg, sizeof(msg)));
	CHECK(strcmp(msg, "\x1b[31mred\x1b[0m \"q\" \xc3\xa9 \xf0\x9f\x90\xb3") == 0);
	CHECK(strcmp(esc(msg, strlen(msg)),
	             "\\x1b[31mred\\x1b[0m \"q\" \xc3\xa9 \xf0\x9f\x90\xb3") == 0);
	CHECK_EQ(json_get_int(line, "seq"), 42);
	CHECK_EQ(json_get_int(line, "nope"), -1);
}

TEST(json_members_are_found_only_at_the_top_level)
{
	/* A key inside a string value or a nested object is not the member. */
	const char *line = "{\"msg\":\"\\\"seq\\\":7\",\"inner\":{\"seq\":8},\"seq\":9}";

	CHECK_EQ(json_get_int(line, "seq"), 9);
}

TEST(malformed_json_strings_are_rejected)
{
	char out[16];

	CHECK(!json_get_string("{\"msg\":\"\\q\"}", "msg", out, sizeof(out)));
	CHECK(!json_get_string("{\"msg\":\"\\u12\"}", "msg", out, sizeof(out)));
	CHECK(!json_get_string("{\"msg\":5}", "msg", out, sizeof(out)));
	CHECK(out[0] == '\0');
	/* a lone surrogate becomes U+FFFD */
	CHECK(json_get_string("{\"msg\":\"\\ud800x\"}", "msg", out, sizeof(out)));
	CHECK(strcmp(out, "\xef\xbf\xbdx") == 0);
}

TEST(json_lines_are_sanitized_for_json_output)
{
	char out[64];

	json_line_sanitize(out, sizeof(out), LIT("{\"msg\":\"\x1b[2J\xff\"}"));
	CHECK(strcmp(out, "{\"msg\":\"\\u001b[2J\\ufffd\"}") == 0);
}
