/*
 * config.c -- the image's option parser (DESIGN §3; see config.h) and
 * the table-driven option system of include/option.h: the kernel's table
 * here, the agent's in agent/options.c, one parser for both.
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

static const char *const fault_choices[] = {
	"none",           "ud",         "de",        "gp", "pf", "bp", "df", "panic",
	"stack_overflow", "write_text", "exec_data", NULL,
};

#define CFG struct agent_config
static const struct option_desc kernel_option_descs[] = {
	OPTION_BOOL("agent.diag_services", CFG, diag_services),
	OPTION_UINT("agent.pool_mib", CFG, pool_mib, 1, 1024, 1),
	OPTION_UINT("agent.heap_mib", CFG, heap_mib, 1, 1024, 1),
	OPTION_UINT("agent.stats_ms", CFG, stats_ms, 0, 3600000, 1),
	OPTION_UINT("agent.store_mib", CFG, store_mib, 1, 1024, 1),
	OPTION_UINT("agent.bin_max_mib", CFG, bin_max_mib, 1, 256, 1),
	OPTION_UINT("agent.container_mem_mib", CFG, container_mem_mib, 1, 4096, 1),
	OPTION_STRING("test.run", CFG, test_run, NULL),
	OPTION_STRING("test.fault", CFG, test_fault, fault_choices),
	OPTION_BOOL("test.poweroff", CFG, test_poweroff),
	OPTION_UINT("test.spin", CFG, test_spin, 0, 8, 1),
	OPTION_UINT("test.echo_out", CFG, test_echo_out, 0, UINT32_MAX - 1, 1),
	OPTION_BOOL("test.semihosting", CFG, test_semihosting),
};

const struct option_table kernel_option_table = OPTION_TABLE(kernel_option_descs);

/* Every table the parser walks, and where in struct agent_config its struct is. */
static const struct {
	const struct option_table *table; /* the keys */
	size_t offset;                    /* its struct within struct agent_config */
} tables[] = {
	{ &kernel_option_table, 0 },
	{ &agent_option_table, offsetof(CFG, agent) },
};
#undef CFG

void config_defaults(struct agent_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	agent_options_defaults(&cfg->agent);
	cfg->pool_mib = 4;
	cfg->heap_mib = 16;
	cfg->store_mib = 64;
	cfg->bin_max_mib = 32;
	cfg->container_mem_mib = 128;
	strcpy(cfg->test_fault, "none");
}

/* ---- reading one value (include/option.h) ---- */

static bool parse_number(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	unsigned base = 10;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && s[2]) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return false;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	*out = v;
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

static bool in_choices(const char *const *choices, const char *value)
{
	for (; *choices; choices++)
		if (strcmp(*choices, value) == 0)
			return true;
	return false;
}

/* Unsigned fields of any width. */
static uint64_t load_uint(const void *field, size_t size)
{
	switch (size) {
	case 1:
		return *(const uint8_t *)field;
	case 2:
		return *(const uint16_t *)field;
	case 4:
		return *(const uint32_t *)field;
	default:
		return *(const uint64_t *)field;
	}
}

static bool store_uint(void *field, size_t size, uint64_t v)
{
	switch (size) {
	case 1:
		if (v > UINT8_MAX)
			return false;
		*(uint8_t *)field = (uint8_t)v;
		return true;
	case 2:
		if (v > UINT16_MAX)
			return false;
		*(uint16_t *)field = (uint16_t)v;
		return true;
	case 4:
		if (v > UINT32_MAX)
			return false;
		*(uint32_t *)field = (uint32_t)v;
		return true;
	case 8:
		*(uint64_t *)field = v;
		return true;
	default:
		return false;
	}
}

static const struct option_desc *find_option(const struct option_table *table, const char *key)
{
	for (size_t i = 0; i < table->count; i++)
		if (strcmp(table->descs[i].key, key) == 0)
			return &table->descs[i];
	return NULL;
}

void option_format(const struct option_desc *opt, const void *base, char *buf, size_t len)
{
	const void *field = (const char *)base + opt->offset;

	switch (opt->type) {
	case OPTION_UINT:
		snprintf(buf, len, "%llu",
		         (unsigned long long)(load_uint(field, opt->size) / opt->scale));
		break;
	case OPTION_BOOL:
		snprintf(buf, len, "%d", *(const bool *)field);
		break;
	case OPTION_STRING:
		snprintf(buf, len, "%s", (const char *)field);
		break;
	case OPTION_CUSTOM:
		opt->format(base, buf, len);
		break;
	}
}

int option_set(const struct option_table *table, void *base, const char *key, const char *value,
               char *why, size_t why_len)
{
	const struct option_desc *opt = find_option(table, key);
	char now[80];
	void *field;
	uint64_t v;

	if (!opt)
		return -ENOENT;
	field = (char *)base + opt->offset;
	option_format(opt, base, now, sizeof(now));
	switch (opt->type) {
	case OPTION_UINT:
		if (parse_number(value, &v) && v >= opt->min && v <= opt->max &&
		    v <= UINT64_MAX / opt->scale && store_uint(field, opt->size, v * opt->scale))
			return 0;
		snprintf(why, why_len, "%s='%s' is not a number in [%llu, %llu]; keeping %s",
		         opt->key, value, (unsigned long long)opt->min,
		         (unsigned long long)opt->max, now);
		return -EINVAL;
	case OPTION_BOOL:
		if (parse_bool(value, (bool *)field))
			return 0;
		snprintf(why, why_len, "%s='%s' is not 0/1/true/false; keeping %s", opt->key, value,
		         now);
		return -EINVAL;
	case OPTION_STRING:
		if (strlen(value) < opt->size &&
		    (!opt->choices || in_choices(opt->choices, value))) {
			strcpy(field, value);
			return 0;
		}
		break;
	case OPTION_CUSTOM:
		if (opt->parse(base, value) == 0)
			return 0;
		break;
	}
	snprintf(why, why_len, "%s='%s' is not an accepted value; keeping '%s'", opt->key, value,
	         now);
	return -EINVAL;
}

/* ---- text ---- */

/* Apply one key=value token; returns 0 or -EINVAL after reporting. */
static int apply_token(struct agent_config *cfg, char *token, const char *origin)
{
	char *eq = strchr(token, '=');
	const char *value;
	char why[CONFIG_TOKEN_MAX + 120];

	if (!eq || eq == token) {
		log_printf("config: %s: '%s' is not key=value (ignored)\n", origin, token);
		return -EINVAL;
	}
	*eq = '\0';
	value = eq + 1;
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		int err = option_set(tables[i].table, (char *)cfg + tables[i].offset, token, value,
		                     why, sizeof(why));

		if (err == 0)
			return 0;
		if (err != -ENOENT) {
			log_printf("config: %s: %s\n", origin, why);
			return -EINVAL;
		}
	}
	log_printf("config: %s: unknown option '%s=%s' (ignored)\n", origin, token, value);
	return -EINVAL;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_printable(char c)
{
	return (unsigned char)c >= 0x21 && (unsigned char)c < 0x7f;
}

int config_parse(struct agent_config *cfg, const char *text, size_t len, const char *origin)
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
		while (i < len && !is_space(text[i]) && text[i] != '\0' && text[i] != '#') {
			bad_char |= !is_printable(text[i]);
			i++;
		}
		n = i - start;
		if (n > CONFIG_TOKEN_MAX) {
			log_printf("config: %s: option of %zu bytes starting '%.32s' "
			           "is longer than %u (ignored)\n",
			           origin, n, text + start, CONFIG_TOKEN_MAX);
			problems++;
			continue;
		}
		if (bad_char) {
			log_printf("config: %s: option at byte %zu has a "
			           "non-printable byte (ignored)\n",
			           origin, start);
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
	char value[CONFIG_TOKEN_MAX];

	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		const struct option_table *table = tables[t].table;
		const void *base = (const char *)cfg + tables[t].offset;

		for (size_t i = 0; i < table->count; i++) {
			option_format(&table->descs[i], base, value, sizeof(value));
			log_printf("  %s=%s\n", table->descs[i].key, value);
		}
	}
}
