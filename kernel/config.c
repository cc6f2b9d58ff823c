/*
 * config.c -- the agent option parser (DESIGN §3; see config.h).
 *
 * Portable and host-tested (tests/unit/test_config.c).  The input is
 * untrusted text from the firmware or a file: every token is bounded, every
 * number range-checked, and every problem reported with its origin and the
 * offending text.
 */
#include "kernel/config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "include/log.h"

enum option_type { OPT_U32, OPT_BOOL, OPT_STRING };

struct option {
	const char *key;       /* name as written in the options */
	enum option_type type; /* how the value is parsed */
	size_t offset;         /* field in struct agent_config */
	uint32_t min, max;     /* OPT_U32: accepted range */
	const char *const *choices; /* OPT_STRING: allowed values (NULL: any) */
};

static const char *const fault_choices[] = {
	"none", "ud", "de", "gp", "pf", "bp", "df", "panic", NULL,
};

#define FIELD(name) offsetof(struct agent_config, name)

static const struct option options[] = {
	{ "agent.server_port", OPT_U32, FIELD(server_port), 1, UINT32_MAX - 1, NULL },
	{ "agent.log_port", OPT_U32, FIELD(log_port), 0, UINT32_MAX - 1, NULL }, /* 0: off */
	{ "agent.diag_services", OPT_BOOL, FIELD(diag_services), 0, 0, NULL },
	{ "agent.pool_mib", OPT_U32, FIELD(pool_mib), 1, 1024, NULL },
	{ "agent.heap_mib", OPT_U32, FIELD(heap_mib), 1, 1024, NULL },
	{ "agent.stats_ms", OPT_U32, FIELD(stats_ms), 0, 3600000, NULL },
	{ "test.fault", OPT_STRING, FIELD(test_fault), 0, 0, fault_choices },
	{ "test.poweroff", OPT_BOOL, FIELD(test_poweroff), 0, 0, NULL },
	{ "test.spin", OPT_U32, FIELD(test_spin), 0, 8, NULL },
	{ "test.echo_out", OPT_U32, FIELD(test_echo_out), 0, UINT32_MAX - 1, NULL },
	{ "test.semihosting", OPT_BOOL, FIELD(test_semihosting), 0, 0, NULL },
};

static config_extra_fn extra_fn; /* who takes options not in the table */

void config_set_extra(config_extra_fn fn)
{
	extra_fn = fn;
}

void config_defaults(struct agent_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->server_port = 1024;
	cfg->log_port = 1025;
	cfg->pool_mib = 4;
	cfg->heap_mib = 16;
	strcpy(cfg->test_fault, "none");
}

static bool parse_u32(const char *s, uint32_t *out)
{
	uint64_t v = 0;
	int base = 10;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && s[2]) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return false;
	for (; *s; s++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return false;
		v = v * base + d;
		if (v > UINT32_MAX)
			return false;
	}
	*out = (uint32_t)v;
	return true;
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on", NULL };
	static const char *const no[] = { "0", "false", "no", "off", NULL };

	for (int i = 0; yes[i]; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static const struct option *find_option(const char *key)
{
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
		if (strcmp(options[i].key, key) == 0)
			return &options[i];
	return NULL;
}

static bool in_choices(const char *const *choices, const char *value)
{
	for (; *choices; choices++)
		if (strcmp(*choices, value) == 0)
			return true;
	return false;
}

/* Apply one key=value token; returns 0 or -EINVAL after reporting. */
static int apply_token(struct agent_config *cfg, char *token, const char *origin)
{
	char *eq = strchr(token, '=');
	const struct option *opt;
	void *field;
	const char *value;

	if (!eq || eq == token) {
		log_printf("config: %s: '%s' is not key=value (ignored)\n", origin, token);
		return -EINVAL;
	}
	*eq = '\0';
	value = eq + 1;
	opt = find_option(token);
	if (!opt) {
		int err = extra_fn ? extra_fn(token, value) : -ENOENT;

		if (err == 0)
			return 0;
		if (err == -ENOENT)
			log_printf("config: %s: unknown option '%s=%s' (ignored)\n",
				   origin, token, value);
		else
			log_printf("config: %s: %s='%s' is not an accepted value "
				   "(ignored)\n", origin, token, value);
		return -EINVAL;
	}
	field = (char *)cfg + opt->offset;
	switch (opt->type) {
	case OPT_U32: {
		uint32_t v;

		if (!parse_u32(value, &v) || v < opt->min || v > opt->max) {
			log_printf("config: %s: %s='%s' is not a number in [%u, %u]; "
				   "keeping %u\n", origin, opt->key, value, opt->min,
				   opt->max, *(uint32_t *)field);
			return -EINVAL;
		}
		*(uint32_t *)field = v;
		return 0;
	}
	case OPT_BOOL:
		if (!parse_bool(value, (bool *)field)) {
			log_printf("config: %s: %s='%s' is not 0/1/true/false; "
				   "keeping %d\n", origin, opt->key, value,
				   *(bool *)field);
			return -EINVAL;
		}
		return 0;
	case OPT_STRING:
		if (strlen(value) >= CONFIG_STRING_MAX ||
		    (opt->choices && !in_choices(opt->choices, value))) {
			log_printf("config: %s: %s='%s' is not an accepted value; "
				   "keeping '%s'\n", origin, opt->key, value,
				   (char *)field);
			return -EINVAL;
		}
		strcpy(field, value);
		return 0;
	}
	return -EINVAL;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

static bool is_printable(char c)
{
	return (unsigned char)c >= 0x21 && (unsigned char)c < 0x7f;
}

int config_parse(struct agent_config *cfg, const char *text, size_t len,
		 const char *origin)
{
	char token[CONFIG_TOKEN_MAX + 1];
	int problems = 0;
	size_t i = 0;

	while (i < len) {
		size_t start, n;
		bool bad_char = false;

		if (is_space(text[i]) || text[i] == '\0') {
			i++;
			continue;
		}
		if (text[i] == '#') {
			while (i < len && text[i] != '\n')
				i++;
			continue;
		}
		start = i;
		while (i < len && !is_space(text[i]) && text[i] != '\0' &&
		       text[i] != '#') {
			bad_char |= !is_printable(text[i]);
			i++;
		}
		n = i - start;
		if (n > CONFIG_TOKEN_MAX) {
			log_printf("config: %s: option of %zu bytes starting '%.32s' "
				   "is longer than %u (ignored)\n", origin, n,
				   text + start, CONFIG_TOKEN_MAX);
			problems++;
			continue;
		}
		if (bad_char) {
			log_printf("config: %s: option at byte %zu has a "
				   "non-printable byte (ignored)\n", origin, start);
			problems++;
			continue;
		}
		memcpy(token, text + start, n);
		token[n] = '\0';
		if (apply_token(cfg, token, origin))
			problems++;
	}
	return problems;
}

void config_dump(const struct agent_config *cfg)
{
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
		const struct option *opt = &options[i];
		const void *field = (const char *)cfg + opt->offset;

		switch (opt->type) {
		case OPT_U32:
			log_printf("  %s=%u\n", opt->key, *(const uint32_t *)field);
			break;
		case OPT_BOOL:
			log_printf("  %s=%d\n", opt->key, *(const bool *)field);
			break;
		case OPT_STRING:
			log_printf("  %s=%s\n", opt->key, (const char *)field);
			break;
		}
	}
}
