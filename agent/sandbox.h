/*
 * sandbox.h -- the grpc.AgentService methods about the sandbox as a whole
 * that Kata's runtimes call on every pod (DESIGN §5): SetPolicy, and the
 * calls that have nothing to do in this image (no network, no CPU or
 * memory hotplug, no virtiofs, no terminal, no cgroup freezer), which
 * answer OK with a faithful empty or echoed result and one rate-limited
 * log record saying so; plus UpdateContainer and StatsContainer.
 *
 * Handlers are called by service_dispatch (service.c's method table).
 * sandbox_policy_refusal is asked by the transport before a call is
 * dispatched.
 *
 * Typical usage (ttrpc.c):
 *	why = sandbox_policy_refusal(svc, "grpc.AgentService", "ExecProcess");
 *	if (why) ...answer PERMISSION_DENIED with why...
 */
#ifndef AGENT_SANDBOX_H
#define AGENT_SANDBOX_H

#include "agent/service.h"

/* NULL when the SetPolicy document allows the method (or none was set). */
const char *sandbox_policy_refusal(const struct service *svc, const char *service,
                                   const char *method);

void sandbox_set_policy(struct call *call);
void sandbox_online_cpu_mem(struct call *call);
void sandbox_update_ephemeral_mounts(struct call *call);
void sandbox_remove_stale_virtiofs_share_mounts(struct call *call);
void sandbox_update_interface(struct call *call);
void sandbox_update_routes(struct call *call);
void sandbox_list_interfaces(struct call *call);
void sandbox_list_routes(struct call *call);
void sandbox_add_arp_neighbors(struct call *call);
void sandbox_tty_win_resize(struct call *call);
void sandbox_pause_container(struct call *call);
void sandbox_resume_container(struct call *call);
void sandbox_update_container(struct call *call);
void sandbox_stats_container(struct call *call);

#endif
