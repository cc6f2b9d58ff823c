/*
 * sandbox.c -- SetPolicy, the calls that have nothing to do in this
 * image, UpdateContainer and StatsContainer (see sandbox.h; Kata's
 * agent.proto for the messages).
 *
 * A call accepted and ignored answers what Kata's agent would answer on a
 * guest without the feature (an empty list, the request's own interface or
 * routes echoed) and makes one log record saying why it did nothing; those
 * records share one rate limit, since a peer chooses how often to call.
 */
#include "agent/sandbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pb_decode.h>

#include "agent.pb.h"
#include "agent/call.h"

/* Kata's AgentService methods and the request message a policy names them by. */
static const struct policy_name {
	const char *method;  /* ttRPC method of grpc.AgentService */
	const char *request; /* its request message: the policy's rule name */
} policy_names[] = {
	{ "CreateContainer", "CreateContainerRequest" },
	{ "StartContainer", "StartContainerRequest" },
	{ "RemoveContainer", "RemoveContainerRequest" },
	{ "ExecProcess", "ExecProcessRequest" },
	{ "SignalProcess", "SignalProcessRequest" },
	{ "WaitProcess", "WaitProcessRequest" },
	{ "UpdateContainer", "UpdateContainerRequest" },
	{ "UpdateEphemeralMounts", "UpdateEphemeralMountsRequest" },
	{ "StatsContainer", "StatsContainerRequest" },
	{ "PauseContainer", "PauseContainerRequest" },
	{ "ResumeContainer", "ResumeContainerRequest" },
	{ "RemoveStaleVirtiofsShareMounts", "RemoveStaleVirtiofsShareMountsRequest" },
	{ "WriteStdin", "WriteStreamRequest" },
	{ "ReadStdout", "ReadStreamRequest" },
	{ "ReadStderr", "ReadStreamRequest" },
	{ "CloseStdin", "CloseStdinRequest" },
	{ "TtyWinResize", "TtyWinResizeRequest" },
	{ "UpdateInterface", "UpdateInterfaceRequest" },
	{ "UpdateRoutes", "UpdateRoutesRequest" },
	{ "ListInterfaces", "ListInterfacesRequest" },
	{ "ListRoutes", "ListRoutesRequest" },
	{ "AddARPNeighbors", "AddARPNeighborsRequest" },
	{ "GetIPTables", "GetIPTablesRequest" },
	{ "SetIPTables", "SetIPTablesRequest" },
	{ "GetMetrics", "GetMetricsRequest" },
	{ "CreateSandbox", "CreateSandboxRequest" },
	{ "DestroySandbox", "DestroySandboxRequest" },
	{ "OnlineCPUMem", "OnlineCPUMemRequest" },
	{ "ReseedRandomDev", "ReseedRandomDevRequest" },
	{ "GetGuestDetails", "GuestDetailsRequest" },
	{ "MemHotplugByProbe", "MemHotplugByProbeRequest" },
	{ "SetGuestDateTime", "SetGuestDateTimeRequest" },
	{ "CopyFile", "CopyFileRequest" },
	{ "GetOOMEvent", "GetOOMEventRequest" },
	{ "AddSwap", "AddSwapRequest" },
	{ "GetVolumeStats", "VolumeStatsRequest" },
	{ "ResizeVolume", "ResizeVolumeRequest" },
	{ "SetPolicy", "SetPolicyRequest" },
};

#define NPOLICY (sizeof(policy_names) / sizeof(policy_names[0]))
_Static_assert(NPOLICY <= 64, "policy_denied has a bit per method");

/* ---- accepted and ignored ---- */

static void accepted_ignored(struct call *call, const char *container_id, const char *method,
                             const char *why)
{
	struct service *svc = call->service;
	uint64_t suppressed;

	if (!log_limit_allow(&svc->ignored_log, platform_now_ns(), &suppressed))
		return;
	if (suppressed)
		agent_log(svc->log, "info", "",
		          "%llu more records of calls accepted and ignored "
		          "were not made (more than %u a second)",
		          (unsigned long long)suppressed, LOG_LIMIT_BURST);
	agent_log(svc->log, "info", container_id, "%s accepted and ignored: %s", method, why);
}

/* Requests with nothing the agent reads: decoded only to check them. */
static void ignore_empty(struct call *call, const pb_msgdesc_t *fields, void *req,
                         const char *method, const char *why)
{
	if (!call_decode(call, fields, req))
		return;
	accepted_ignored(call, "", method, why);
	call_reply_empty(call);
}

void sandbox_online_cpu_mem(struct call *call)
{
	grpc_OnlineCPUMemRequest req;

	ignore_empty(call, grpc_OnlineCPUMemRequest_fields, &req, "OnlineCPUMem",
	             "every CPU and all memory the image uses are online from boot; there is "
	             "no CPU or memory hotplug to bring online");
}

void sandbox_update_ephemeral_mounts(struct call *call)
{
	grpc_UpdateEphemeralMountsRequest req;

	ignore_empty(call, grpc_UpdateEphemeralMountsRequest_fields, &req, "UpdateEphemeralMounts",
	             "there are no mounts in this image (the in-memory "
	             "file store is its only file system)");
}

void sandbox_remove_stale_virtiofs_share_mounts(struct call *call)
{
	grpc_RemoveStaleVirtiofsShareMountsRequest req;

	ignore_empty(call, grpc_RemoveStaleVirtiofsShareMountsRequest_fields, &req,
	             "RemoveStaleVirtiofsShareMounts",
	             "there is no virtiofs share in this image, "
	             "so nothing is stale");
}

void sandbox_add_arp_neighbors(struct call *call)
{
	grpc_AddARPNeighborsRequest req;

	ignore_empty(call, grpc_AddARPNeighborsRequest_fields, &req, "AddARPNeighbors",
	             "the image has no network interfaces (vsock only)");
}

void sandbox_list_interfaces(struct call *call)
{
	grpc_ListInterfacesRequest req;
	grpc_Interfaces resp = grpc_Interfaces_init_zero;

	if (!call_decode(call, grpc_ListInterfacesRequest_fields, &req))
		return;
	accepted_ignored(call, "", "ListInterfaces",
	                 "the image has no network interfaces "
	                 "(vsock only): the list is empty");
	call_reply(call, grpc_Interfaces_fields, &resp);
}

void sandbox_list_routes(struct call *call)
{
	grpc_ListRoutesRequest req;
	grpc_Routes resp = grpc_Routes_init_zero;

	if (!call_decode(call, grpc_ListRoutesRequest_fields, &req))
		return;
	accepted_ignored(call, "", "ListRoutes",
	                 "the image has no network interfaces "
	                 "(vsock only): the list is empty");
	call_reply(call, grpc_Routes_fields, &resp);
}

/* An embedded message kept as its bytes (they point into the request). */
struct encoded_ref {
	const uint8_t *bytes; /* NULL: the field was absent */
	size_t len;           /* its length */
};

static bool keep_encoded(pb_istream_t *stream, const pb_field_t *field, void **arg)
{
	struct encoded_ref *ref = *arg;

	(void)field;
	ref->bytes = stream->state; /* a buffer stream: its state is the next byte */
	ref->len = stream->bytes_left;
	return pb_read(stream, NULL, stream->bytes_left);
}

void sandbox_update_interface(struct call *call)
{
	struct encoded_ref ref = { NULL, 0 };
	grpc_UpdateInterfaceRequest req = { { { .decode = keep_encoded }, &ref } };

	if (!call_decode(call, grpc_UpdateInterfaceRequest_fields, &req))
		return;
	accepted_ignored(call, "", "UpdateInterface",
	                 "the image has no network interfaces "
	                 "(vsock only); the interface is answered as it was asked for");
	call_reply_encoded(call, ref.bytes, ref.bytes ? ref.len : 0);
}

void sandbox_update_routes(struct call *call)
{
	struct encoded_ref ref = { NULL, 0 };
	grpc_UpdateRoutesRequest req = { { { .decode = keep_encoded }, &ref } };

	if (!call_decode(call, grpc_UpdateRoutesRequest_fields, &req))
		return;
	accepted_ignored(call, "", "UpdateRoutes",
	                 "the image has no network interfaces "
	                 "(vsock only); the routes are answered as they were asked for");
	call_reply_encoded(call, ref.bytes, ref.bytes ? ref.len : 0);
}

void sandbox_tty_win_resize(struct call *call)
{
	grpc_TtyWinResizeRequest req;
	struct process *proc;

	if (!call_decode(call, grpc_TtyWinResizeRequest_fields, &req))
		return;
	proc = call_find_proc(call, req.container_id, req.exec_id);
	if (!proc)
		return;
	accepted_ignored(call, proc->ctr->id, "TtyWinResize",
	                 "processes here have pipes, not "
	                 "a terminal, so there is no window size to set");
	call_reply_empty(call);
}

static void pause_resume(struct call *call, bool pause)
{
	grpc_PauseContainerRequest req; /* ResumeContainerRequest: the same field */
	struct container *ctr;

	_Static_assert(sizeof(grpc_PauseContainerRequest) == sizeof(grpc_ResumeContainerRequest),
	               "the two requests are one field each");
	if (!call_decode(call,
	                 pause ? grpc_PauseContainerRequest_fields :
	                         grpc_ResumeContainerRequest_fields,
	                 &req))
		return;
	ctr = call_find_ctr(call, req.container_id);
	if (!ctr)
		return;
	accepted_ignored(call, ctr->id, pause ? "PauseContainer" : "ResumeContainer",
	                 "this image has no cgroup freezer: the container's programs keep running");
	call_reply_empty(call);
}

void sandbox_pause_container(struct call *call)
{
	pause_resume(call, true);
}

void sandbox_resume_container(struct call *call)
{
	pause_resume(call, false);
}

/* UpdateContainer: of the OCI resources, the memory limit applies here
 * (to programs the container starts from now on). */
void sandbox_update_container(struct call *call)
{
	struct service *svc = call->service;
	grpc_UpdateContainerRequest req;
	struct container *ctr;

	if (!call_decode(call, grpc_UpdateContainerRequest_fields, &req))
		return;
	ctr = call_find_ctr(call, req.container_id);
	if (!ctr)
		return;
	if (req.has_resources && req.resources.has_Memory && req.resources.Memory.Limit > 0) {
		ctr->mem_limit = (uint64_t)req.resources.Memory.Limit;
		agent_log(svc->log, "info", ctr->id,
		          "memory limit now %llu bytes for programs "
		          "started from now on",
		          (unsigned long long)ctr->mem_limit);
	} else {
		accepted_ignored(call, ctr->id, "UpdateContainer",
		                 "only Linux.Resources.Memory."
		                 "Limit applies in this image, and the request has none");
	}
	call_reply_empty(call);
}

void sandbox_stats_container(struct call *call)
{
	grpc_StatsContainerRequest req;
	grpc_StatsContainerResponse resp = grpc_StatsContainerResponse_init_zero;
	struct container *ctr;
	struct process_usage use;

	if (!call_decode(call, grpc_StatsContainerRequest_fields, &req))
		return;
	ctr = call_find_ctr(call, req.container_id);
	if (!ctr)
		return;
	container_usage(ctr, &use);
	resp.has_cgroup_stats = true;
	resp.cgroup_stats.has_cpu_stats = true;
	resp.cgroup_stats.cpu_stats.has_cpu_usage = true;
	resp.cgroup_stats.cpu_stats.cpu_usage.total_usage = use.cpu_ns;
	resp.cgroup_stats.has_memory_stats = true;
	resp.cgroup_stats.memory_stats.has_usage = true;
	resp.cgroup_stats.memory_stats.usage.usage = use.mem_bytes;
	resp.cgroup_stats.memory_stats.usage.max_usage = use.mem_bytes_max;
	resp.cgroup_stats.memory_stats.usage.limit = ctr->mem_limit; /* 0: the image's default */
	resp.cgroup_stats.has_pids_stats = true;
	resp.cgroup_stats.pids_stats.current = use.running;
	resp.cgroup_stats.pids_stats.limit = call->service->opts->max_procs;
	call_reply(call, grpc_StatsContainerResponse_fields, &resp);
}

/* ---- SetPolicy ---- */

struct policy_read {
	struct call *call; /* for a limit's answer */
	char *text;        /* the document (owned until kept) */
	size_t len;        /* its length */
};

static bool read_policy(pb_istream_t *stream, const pb_field_t *field, void **arg)
{
	struct policy_read *pr = *arg;

	(void)field;
	if (stream->bytes_left > SERVICE_POLICY_MAX) {
		call_limit_hit(pr->call, "SetPolicyRequest.policy", "1 MiB");
		return false;
	}
	free(pr->text);
	pr->len = stream->bytes_left;
	pr->text = malloc(pr->len + 1);
	if (!pr->text) {
		call_error(pr->call, GRPC_RESOURCE_EXHAUSTED,
		           "agent is out of memory for a "
		           "%zu-byte policy",
		           pr->len);
		return false;
	}
	pr->text[pr->len] = '\0';
	return pb_read(stream, (uint8_t *)pr->text, pr->len);
}

static int policy_index(const char *name, size_t len)
{
	int found = -1;

	for (size_t i = 0; i < NPOLICY; i++)
		if (strlen(policy_names[i].request) == len &&
		    memcmp(policy_names[i].request, name, len) == 0)
			found = (int)i; /* ReadStreamRequest names two methods: see below */
	return found;
}

static size_t ident_len(const char *p, const char *end)
{
	size_t n = 0;

	while (p + n < end && (((p[n] | 0x20) >= 'a' && (p[n] | 0x20) <= 'z') ||
	                       (p[n] >= '0' && p[n] <= '9') || p[n] == '_'))
		n++;
	return n;
}

static const char *skip_blank(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/* Set the bit of every method whose request is `name`. */
static void mark(uint64_t *set, const char *name, size_t len, bool on)
{
	if (policy_index(name, len) < 0)
		return;
	for (size_t i = 0; i < NPOLICY; i++)
		if (strlen(policy_names[i].request) == len &&
		    memcmp(policy_names[i].request, name, len) == 0) {
			if (on)
				*set |= 1ull << i;
			else
				*set &= ~(1ull << i);
		}
}

/*
 * What the agent can enforce of a Rego policy without evaluating Rego:
 * `default XRequest := false` with no rule of its own for XRequest refuses
 * the method outright.  A rule with conditions (a line starting with the
 * name) is not evaluated: the method stays allowed, and the log says how
 * many such rules there were.
 */
static uint64_t policy_refusals(const char *text, size_t len, unsigned *conditional)
{
	uint64_t default_false = 0, has_rule = 0;
	const char *p = text, *end = text + len;

	*conditional = 0;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = eol ? eol : end;
		const char *q = skip_blank(p, line_end);
		size_t n = ident_len(q, line_end);

		if (n == 7 && memcmp(q, "default", 7) == 0) {
			const char *name = skip_blank(q + 7, line_end);
			size_t name_len = ident_len(name, line_end);
			const char *v = skip_blank(name + name_len, line_end);

			if (v + 1 < line_end && v[0] == ':' && v[1] == '=')
				v += 2;
			else if (v < line_end && v[0] == '=')
				v++;
			else
				v = line_end;
			v = skip_blank(v, line_end);
			if (line_end - v >= 5 && memcmp(v, "false", 5) == 0)
				mark(&default_false, name, name_len, true);
			else if (line_end - v >= 4 && memcmp(v, "true", 4) == 0)
				mark(&default_false, name, name_len, false);
		} else if (n && policy_index(q, n) >= 0) {
			if (!(has_rule & (1ull << policy_index(q, n))))
				(*conditional)++;
			mark(&has_rule, q, n, true);
		}
		p = eol ? eol + 1 : end;
	}
	return default_false & ~has_rule;
}

void sandbox_set_policy(struct call *call)
{
	struct service *svc = call->service;
	struct policy_read pr = { call, NULL, 0 };
	grpc_SetPolicyRequest req = { { { .decode = read_policy }, &pr } };
	char refused[200] = "";
	unsigned conditional;
	size_t used = 0;

	if (!call_decode(call, grpc_SetPolicyRequest_fields, &req)) {
		free(pr.text);
		return;
	}
	free(svc->policy);
	svc->policy = pr.text; /* NULL: an empty policy, which refuses nothing */
	svc->policy_len = pr.len;
	svc->policy_denied = pr.text ? policy_refusals(pr.text, pr.len, &conditional) : 0;
	if (!pr.text)
		conditional = 0;
	for (size_t i = 0; i < NPOLICY && used < sizeof(refused); i++)
		if (svc->policy_denied & (1ull << i))
			used += (size_t)snprintf(refused + used, sizeof(refused) - used, "%s%s",
			                         used ? "," : "", policy_names[i].method);
	agent_log(svc->log, "info", "",
	          "policy set (%zu bytes): refused outright: %s; %u rules "
	          "with conditions are not evaluated here (those methods stay allowed)",
	          pr.len, refused[0] ? refused : "none", conditional);
	call_reply_empty(call);
}

const char *sandbox_policy_refusal(const struct service *svc, const char *service,
                                   const char *method)
{
	if (!svc->policy_denied || strcmp(service, "grpc.AgentService") != 0)
		return NULL;
	for (size_t i = 0; i < NPOLICY; i++)
		if (strcmp(policy_names[i].method, method) == 0)
			return svc->policy_denied & (1ull << i) ?
			               "refused by the policy (SetPolicy)" :
			               NULL;
	return NULL;
}
