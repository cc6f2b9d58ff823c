/*
 * fuzz_options.c -- libFuzzer target: the option parser (kernel/config.c)
 * and the agent's option table (agent/options.c) on untrusted text, the
 * EFI load options or \agent.cfg.
 *
 * Besides the sanitizers: whatever the text, the options that come out can
 * be written back as text (option_format) that parses with no problem into
 * the very same options -- every accepted value is within its table's
 * range, and formatting and parsing agree.  The first token is also handed
 * to agent_option_set() directly, as code that sets one option would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/config.h"
#include "tests/fuzz/fuzz.h"

#define TEXT_MAX (64u << 10)

static const struct {
	const struct option_table *table; /* the keys */
	size_t offset;                    /* its struct in struct agent_config */
} tables[] = {
	{ &kernel_option_table, 0 },
	{ &agent_option_table, offsetof(struct agent_config, agent) },
};

/* Every option as "key=value\n" lines. */
static size_t format_all(const struct agent_config *cfg, char *out, size_t cap)
{
	size_t used = 0;

	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		const struct option_table *table = tables[t].table;
		const void *base = (const char *)cfg + tables[t].offset;

		for (size_t i = 0; i < table->count; i++) {
			char value[CONFIG_TOKEN_MAX];
			int n;

			option_format(&table->descs[i], base, value, sizeof(value));
			n = snprintf(out + used, cap - used, "%s=%s\n", table->descs[i].key, value);
			if (n < 0 || (size_t)n >= cap - used)
				abort();
			used += (size_t)n;
		}
	}
	return used;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char first[TEXT_MAX], second[TEXT_MAX];
	static struct agent_config cfg, again;
	struct agent_options opts;
	size_t n1, n2;
	char token[CONFIG_TOKEN_MAX + 1];
	const char *eq;
	size_t len;

	if (size > TEXT_MAX)
		return 0;
	config_defaults(&cfg);
	config_parse(&cfg, (const char *)data, size, "fuzz");
	config_dump(&cfg);
	n1 = format_all(&cfg, first, sizeof(first));
	config_defaults(&again);
	if (config_parse(&again, first, n1, "formatted") != 0) {
		fprintf(stderr, "the formatted options do not parse back:\n%.*s", (int)n1, first);
		abort();
	}
	n2 = format_all(&again, second, sizeof(second));
	if (n1 != n2 || memcmp(first, second, n1) != 0) {
		fprintf(stderr, "options changed on the way back:\n%.*s---\n%.*s", (int)n1, first,
		        (int)n2, second);
		abort();
	}
	/* One key=value straight into the agent's table. */
	len = strnlen((const char *)data, size < sizeof(token) - 1 ? size : sizeof(token) - 1);
	memcpy(token, data, len);
	token[len] = '\0';
	eq = strchr(token, '=');
	agent_options_defaults(&opts);
	if (eq) {
		token[eq - token] = '\0';
		agent_option_set(&opts, token, eq + 1);
	}
	return 0;
}
