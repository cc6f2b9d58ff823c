/*
 * option.h -- table-driven `key=value` options (DESIGN §3).  Each part of
 * the image describes its own options in a table over its own struct; the
 * one parser (kernel/config.c) walks every table, so each key has exactly
 * one owner and one place where it is parsed and range-checked.
 *
 * Typical usage:
 *	struct net_options { uint32_t port; bool verbose; };
 *	static const struct option_desc net_descs[] = {
 *		OPTION_UINT("net.port", struct net_options, port, 1, 65535, 1),
 *		OPTION_BOOL("net.verbose", struct net_options, verbose),
 *	};
 *	const struct option_table net_table = OPTION_TABLE(net_descs);
 *
 *	char why[160];
 *	err = option_set(&net_table, &opts, "net.port", "80", why, sizeof(why));
 *	// 0; -ENOENT: not a key of this table; -EINVAL: bad value, `why` says why
 */
#ifndef INCLUDE_OPTION_H
#define INCLUDE_OPTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum option_type {
	OPTION_UINT,   /* decimal or 0x-hex number in [min, max], stored times scale */
	OPTION_BOOL,   /* 1/true/yes/on or 0/false/no/off */
	OPTION_STRING, /* text shorter than the field, one of `choices` if given */
	OPTION_CUSTOM, /* parse() reads it, format() prints it (given the whole struct) */
};

struct option_desc {
	const char *key;                             /* as written: "agent.server_port" */
	enum option_type type;                       /* how the value is read */
	size_t offset;                               /* the field in the table's struct */
	size_t size;                                 /* the field's size in bytes */
	uint64_t min, max;                           /* UINT: accepted range, as written */
	uint64_t scale;                              /* UINT: the field holds value * scale */
	const char *const *choices;                  /* STRING: the accepted values (NULL: any) */
	int (*parse)(void *base, const char *value); /* CUSTOM: 0 or -EINVAL */
	void (*format)(const void *base, char *buf, size_t len); /* CUSTOM */
};

struct option_table {
	const struct option_desc *descs; /* the options */
	size_t count;                    /* how many */
};

#define OPTION_FIELD(st, field) .offset = offsetof(st, field), .size = sizeof(((st *)0)->field)
#define OPTION_UINT(k, st, field, lo, hi, sc)                                          \
	{                                                                              \
		.key = (k), .type = OPTION_UINT, OPTION_FIELD(st, field), .min = (lo), \
		.max = (hi), .scale = (sc)                                             \
	}
#define OPTION_BOOL(k, st, field)                                        \
	{                                                                \
		.key = (k), .type = OPTION_BOOL, OPTION_FIELD(st, field) \
	}
#define OPTION_STRING(k, st, field, ch)                                                     \
	{                                                                                   \
		.key = (k), .type = OPTION_STRING, OPTION_FIELD(st, field), .choices = (ch) \
	}
#define OPTION_CUSTOM(k, p, f)                                                 \
	{                                                                      \
		.key = (k), .type = OPTION_CUSTOM, .parse = (p), .format = (f) \
	}
#define OPTION_TABLE(descs)                                 \
	{                                                   \
		(descs), sizeof(descs) / sizeof((descs)[0]) \
	}

/* Set `key` in the struct at `base` from its text (kernel/config.c). */
int option_set(const struct option_table *table, void *base, const char *key, const char *value,
               char *why, size_t why_len);
/* The option's current value as text, the way it would be written. */
void option_format(const struct option_desc *desc, const void *base, char *buf, size_t len);

#endif
