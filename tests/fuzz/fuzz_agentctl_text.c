/*
 * fuzz_agentctl_text.c -- libFuzzer target: agentctl's JSON record reader
 * and terminal escaping (host/agentctl/text.c) on guest-chosen lines.
 * Checks, beyond memory safety, that nothing escaped can reach a terminal:
 * no C0/C1 control character and no invalid UTF-8 in text_escape's output.
 */
#include <stdlib.h>
#include <string.h>

#include "host/agentctl/text.h"
#include "tests/fuzz/fuzz.h"

static void check_printable(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			abort();
		/* C1 controls in UTF-8 are c2 80..c2 9f */
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1);
	char value[256], shown[1024], clean[4096];
	static const char *keys[] = { "msg", "level", "seq", "container_id", "stream" };

	memcpy(line, data, size);
	line[size] = '\0';
	text_escape(shown, sizeof(shown), line, size);
	check_printable(shown);
	json_line_sanitize(clean, sizeof(clean), line, size);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_get_string(line, keys[i], value, sizeof(value));
		text_escape(shown, sizeof(shown), value, strlen(value));
		check_printable(shown);
		json_get_int(line, keys[i]);
	}
	free(line);
	return 0;
}
