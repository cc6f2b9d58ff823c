/*
 * catalogue.h -- the built-in programs a container can run (DESIGN §5),
 * named by Spec.Process.Args[0].  A program sees only its struct prog
 * (program.h): pipes, arguments and the calls it makes on them.
 *
 * Typical usage:
 *	const struct program *p = catalogue_find(argv[0]);
 *	if (!p) { catalogue_list(names, sizeof(names)); ...refuse, naming them... }
 *	status = p->main(prog, argc, argv);       // in the program's own task
 */
#ifndef AGENT_CATALOGUE_H
#define AGENT_CATALOGUE_H

#include <stddef.h>

#include "agent/program.h"

struct program {
	const char *name;                                      /* Args[0] */
	const char *usage;                                     /* one line for people */
	int (*main)(struct prog *prog, int argc, char **argv); /* the exit status */
};

/* By name, or by the last component of a path ("/bin/echo" is echo). */
const struct program *catalogue_find(const char *name);
/* The names, space-separated, for messages. */
void catalogue_list(char *buf, size_t len);

#endif
