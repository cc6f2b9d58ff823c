/*
 * version.h -- the agent's version, as Health.Version, GetGuestDetails and
 * sysinfo report it.
 */
#ifndef AGENT_VERSION_H
#define AGENT_VERSION_H

#define AGENT_VERSION "0.1.0"

#endif
