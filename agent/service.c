/*
 * service.c -- the methods of grpc.Health and grpc.AgentService (Kata's
 * names, DESIGN §5) plus vsockagent.Extras/ListContainers, and the parked
 * calls that wait for a process event (see service.h).  Errors carry gRPC
 * codes and a message saying what to do about them.
 *
 * Everything runs in the agent task: a handler looks at the process table,
 * answers or parks, and returns; nothing here blocks.
 */
#include "agent/service.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pb_decode.h>

#include "agent.pb.h"
#include "agent/version.h"
#include "agentext.pb.h"
#include "google/protobuf/empty.pb.h"
#include "health.pb.h"
#include "include/log.h"
#include "include/store.h"

#define AGENT_READ_MAX 32768 /* ReadStreamResponse.data (agent.options) */
#define MAX_TARGETS 64       /* processes one SignalProcess / RemoveContainer reaches */

static const google_protobuf_Empty empty = google_protobuf_Empty_init_zero;

enum park_kind { PARK_WAIT, PARK_READ_OUT, PARK_READ_ERR, PARK_WRITE_IN, PARK_REMOVE };

/* A call answered later. */
struct park {
	struct park *next;           /* the service's list */
	struct service_peer *peer;   /* where the answer goes */
	uint32_t stream_id;          /* ttRPC stream of the call */
	enum park_kind kind;         /* what it waits for */
	struct container *ctr;       /* its container */
	struct process *proc;        /* its process (NULL for REMOVE) */
	uint32_t len;                /* READ: most bytes wanted */
	uint8_t *data;               /* WRITE: bytes to write (owned) */
	size_t data_len;             /* WRITE: how many */
	uint64_t deadline_ns;        /* answer DEADLINE_EXCEEDED then */
};

/* ---- answering ---- */

static void respond(struct service *svc, struct service_peer *peer, uint32_t stream_id,
		    int code, const char *message, const pb_msgdesc_t *fields, const void *msg)
{
	svc->respond(svc->respond_ctx, peer, stream_id, code, message, fields, msg, false);
}

static void call_reply(struct call *call, const pb_msgdesc_t *fields, const void *msg)
{
	respond(call->service, call->peer, call->stream_id, GRPC_OK, NULL, fields, msg);
	call->answered = true;
}

static void reply_empty(struct call *call)
{
	call_reply(call, google_protobuf_Empty_fields, &empty);
}

static void call_error(struct call *call, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void call_error(struct call *call, int code, const char *fmt, ...)
{
	char message[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	respond(call->service, call->peer, call->stream_id, code, message, NULL, NULL);
	call->answered = true;
}

static bool call_decode(struct call *call, const pb_msgdesc_t *fields, void *msg)
{
	pb_istream_t is = pb_istream_from_buffer(call->payload, call->payload_len);

	if (pb_decode(&is, fields, msg))
		return true;
	call_error(call, GRPC_INVALID_ARGUMENT, "cannot decode the request message: %s",
		   PB_GET_ERROR(&is));
	return false;
}

/* ---- parks ---- */

static void park_free(struct service *svc, struct park *park)
{
	park->peer->parked--;
	park->peer->parked_bytes -= park->data_len;
	svc->nparked--;
	svc->parked_bytes -= park->data_len;
	free(park->data);
	free(park);
}

static void reply_read(struct service *svc, struct park *park, bool err_stream)
{
	grpc_ReadStreamResponse *resp = malloc(sizeof(*resp));
	uint32_t want = park->len && park->len < AGENT_READ_MAX ? park->len : AGENT_READ_MAX;

	if (!resp) {
		respond(svc, park->peer, park->stream_id, GRPC_RESOURCE_EXHAUSTED,
			"agent is out of memory for the read", NULL, NULL);
		return;
	}
	resp->data.size = (pb_size_t)process_read_output(park->proc, err_stream, resp->data.bytes,
							  want);
	respond(svc, park->peer, park->stream_id, GRPC_OK, NULL, grpc_ReadStreamResponse_fields,
		resp);
	free(resp);
}

/* Answer the park if its event came; true when answered. */
static bool park_try(struct service *svc, struct park *park)
{
	struct process *proc = park->proc;
	const char *refusal;

	switch (park->kind) {
	case PARK_WAIT:
		if (proc->state != PROC_EXITED)
			return false;
		grpc_WaitProcessResponse wait = { proc->exit_status };
		respond(svc, park->peer, park->stream_id, GRPC_OK, NULL,
			grpc_WaitProcessResponse_fields, &wait);
		return true;
	case PARK_READ_OUT:
	case PARK_READ_ERR:
		if (park->peer->congested || !process_output_ready(proc, park->kind == PARK_READ_ERR))
			return false;
		reply_read(svc, park, park->kind == PARK_READ_ERR);
		return true;
	case PARK_WRITE_IN: {
		grpc_WriteStreamResponse resp = { 0 };

		refusal = process_input_refusal(proc);
		if (refusal) {
			respond(svc, park->peer, park->stream_id, GRPC_FAILED_PRECONDITION, refusal,
				NULL, NULL);
			return true;
		}
		resp.len = (uint32_t)process_write_input(proc, park->data, park->data_len);
		if (!resp.len)
			return false;
		respond(svc, park->peer, park->stream_id, GRPC_OK, NULL,
			grpc_WriteStreamResponse_fields, &resp);
		return true;
	}
	case PARK_REMOVE:
		if (container_running(park->ctr))
			return false;
		respond(svc, park->peer, park->stream_id, GRPC_OK, NULL,
			google_protobuf_Empty_fields, &empty);
		return true;
	}
	return false;
}

/* Take the park at *link out of the list. */
static struct park *park_unlink(struct service *svc, struct park **link)
{
	struct park *park = *link;

	*link = park->next;
	if (svc->parks_tail == &park->next)
		svc->parks_tail = link;
	return park;
}

/* Drop the parks of `peer` or `ctr`, answering them with code/message
 * (peer NULL) or not at all (a peer that is gone). */
static void parks_cancel(struct service *svc, struct service_peer *peer, struct container *ctr,
			 int code, const char *message)
{
	for (struct park **link = &svc->parks; *link;) {
		struct park *park = *link;

		if ((peer && park->peer != peer) || (ctr && park->ctr != ctr)) {
			link = &park->next;
			continue;
		}
		park_unlink(svc, link);
		if (park->kind == PARK_REMOVE)
			park->ctr->removing = false;
		if (!peer)
			respond(svc, park->peer, park->stream_id, code, message, NULL, NULL);
		park_free(svc, park);
	}
}

static void container_remove(struct service *svc, struct container *ctr)
{
	char message[200];

	snprintf(message, sizeof(message), "container '%s' was removed", ctr->id);
	parks_cancel(svc, NULL, ctr, GRPC_NOT_FOUND, message);
	agent_log(svc->log, "info", ctr->id, "container removed");
	container_free(ctr);
}

static bool park_expire(struct service *svc, struct park *park, uint64_t now)
{
	if (park->deadline_ns > now)
		return false;
	if (park->kind == PARK_REMOVE)
		park->ctr->removing = false;
	respond(svc, park->peer, park->stream_id, GRPC_DEADLINE_EXCEEDED,
		park->kind == PARK_REMOVE ? "the container's processes did not exit in time"
					  : "deadline exceeded (timeout_nano) before the event came",
		NULL, NULL);
	return true;
}

void service_poll(struct service *svc, uint64_t now)
{
again:
	for (struct park **link = &svc->parks; *link;) {
		struct park *park = *link;

		if (park_try(svc, park)) {
			park_unlink(svc, link);
			if (park->kind == PARK_REMOVE) {
				struct container *ctr = park->ctr;

				park_free(svc, park);
				container_remove(svc, ctr);
				goto again; /* the list changed under us */
			}
			park_free(svc, park);
		} else if (park_expire(svc, park, now)) {
			park_unlink(svc, link);
			park_free(svc, park);
		} else {
			link = &park->next;
		}
	}
}

uint64_t service_next_deadline(const struct service *svc)
{
	uint64_t next = PLATFORM_FOREVER;

	for (const struct park *park = svc->parks; park; park = park->next)
		if (park->deadline_ns < next)
			next = park->deadline_ns;
	return next;
}

void service_peer_gone(struct service *svc, struct service_peer *peer)
{
	parks_cancel(svc, peer, NULL, GRPC_CANCELLED, NULL);
}

/* Park a call on `proc` / `ctr`: true, or false when it could not be
 * parked (then it has answered RESOURCE_EXHAUSTED and freed `data`). */
static bool park_call(struct call *call, enum park_kind kind, struct container *ctr,
		      struct process *proc, uint32_t len, uint8_t *data, size_t data_len)
{
	struct service *svc = call->service;
	struct park *park = NULL;

	if (call->peer->parked < svc->opts->max_inflight)
		park = calloc(1, sizeof(*park));
	if (!park) {
		free(data);
		call_error(call, GRPC_RESOURCE_EXHAUSTED,
			   "too many requests waiting on this connection (agent.max_inflight)");
		return false;
	}
	*park = (struct park){ .next = NULL, .peer = call->peer,
			       .stream_id = call->stream_id, .kind = kind, .ctr = ctr,
			       .proc = proc, .len = len, .data = data, .data_len = data_len,
			       .deadline_ns = call->deadline_ns };
	/* oldest first: reads of one stream get its bytes in the order they were asked */
	*svc->parks_tail = park;
	svc->parks_tail = &park->next;
	svc->nparked++;
	svc->parked_bytes += data_len;
	call->peer->parked++;
	call->peer->parked_bytes += data_len;
	call->answered = true;
	return true;
}

/* ---- lookups with messages ---- */

static struct container *find_ctr(struct call *call, const char *id)
{
	struct container *ctr = container_find(call->service->procs, id);

	if (!ctr) {
		if (!id[0])
			call_error(call, GRPC_INVALID_ARGUMENT, "container_id is empty");
		else
			call_error(call, GRPC_NOT_FOUND, "no container '%s' (create it first, "
				   "or see `agentctl ps`)", id);
	}
	return ctr;
}

static struct process *find_proc(struct call *call, const char *id, const char *exec_id)
{
	struct container *ctr = find_ctr(call, id);
	struct process *proc;

	if (!ctr)
		return NULL;
	proc = process_find(ctr, exec_id[0] ? exec_id : id);
	if (!proc)
		call_error(call, GRPC_NOT_FOUND, "container '%s' has no process '%s'", id, exec_id);
	return proc;
}

/* ---- grpc.Health ---- */

static void health_check(struct call *call)
{
	grpc_CheckRequest req;
	grpc_HealthCheckResponse resp = { grpc_HealthCheckResponse_ServingStatus_SERVING };

	if (call_decode(call, grpc_CheckRequest_fields, &req))
		call_reply(call, grpc_HealthCheckResponse_fields, &resp);
}

static void health_version(struct call *call)
{
	grpc_CheckRequest req;
	grpc_VersionCheckResponse resp = { "ttrpc", AGENT_VERSION };

	if (call_decode(call, grpc_CheckRequest_fields, &req))
		call_reply(call, grpc_VersionCheckResponse_fields, &resp);
}

/* ---- grpc.AgentService: sandbox ---- */

static void get_guest_details(struct call *call)
{
	grpc_GuestDetailsRequest req;
	grpc_GuestDetailsResponse resp = grpc_GuestDetailsResponse_init_zero;

	if (!call_decode(call, grpc_GuestDetailsRequest_fields, &req))
		return;
	resp.has_agent_details = true;
	snprintf(resp.agent_details.version, sizeof(resp.agent_details.version), "%s",
		 AGENT_VERSION);
	resp.agent_details.init_daemon = true;
	call_reply(call, grpc_GuestDetailsResponse_fields, &resp);
}

static void create_sandbox(struct call *call)
{
	struct service *svc = call->service;
	grpc_CreateSandboxRequest *req = calloc(1, sizeof(*req));

	if (!req) {
		call_error(call, GRPC_RESOURCE_EXHAUSTED, "agent is out of memory");
		return;
	}
	if (call_decode(call, grpc_CreateSandboxRequest_fields, req)) {
		if (svc->sandbox_created) {
			call_error(call, GRPC_ALREADY_EXISTS, "sandbox '%s' already exists: this "
				   "agent serves one sandbox per boot", svc->sandbox_id);
		} else {
			svc->sandbox_created = true;
			snprintf(svc->sandbox_id, sizeof(svc->sandbox_id), "%s", req->sandbox_id);
			agent_log(svc->log, "info", "", "sandbox '%s' created (hostname '%s')",
				  req->sandbox_id, req->hostname);
			reply_empty(call);
		}
	}
	free(req);
}

static void destroy_sandbox(struct call *call)
{
	struct service *svc = call->service;
	grpc_DestroySandboxRequest req;

	if (!call_decode(call, grpc_DestroySandboxRequest_fields, &req))
		return;
	process_kill_all(svc->procs);
	svc->sandbox_created = false;
	agent_log(svc->log, "info", "", "sandbox destroyed: %s",
		  svc->opts->power_off ? "powering off" : "programs killed");
	svc->respond(svc->respond_ctx, call->peer, call->stream_id, GRPC_OK, NULL,
		     google_protobuf_Empty_fields, &empty, true);
	call->answered = true;
}

/* ---- containers ---- */

static bool id_valid(const char *id)
{
	if (!id[0])
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return false;
	return true;
}

static int create_error_code(int err)
{
	return err == -EINVAL ? GRPC_INVALID_ARGUMENT
	       : err == -ENOENT ? GRPC_NOT_FOUND
	       : GRPC_RESOURCE_EXHAUSTED;
}

/* The command line of an OCI Process, pointing into the request. */
static void spec_of(const grpc_Process *p, struct process_spec *spec,
		    const char *argv[PROG_MAX_ARGS], const char *envp[PROG_MAX_ARGS])
{
	for (pb_size_t i = 0; i < p->Args_count && i < PROG_MAX_ARGS; i++)
		argv[i] = p->Args[i];
	for (pb_size_t i = 0; i < p->Env_count && i < PROG_MAX_ARGS; i++)
		envp[i] = p->Env[i];
	*spec = (struct process_spec){
		.argc = p->Args_count < PROG_MAX_ARGS ? (int)p->Args_count : PROG_MAX_ARGS,
		.argv = argv,
		.envc = p->Env_count < PROG_MAX_ARGS ? (int)p->Env_count : PROG_MAX_ARGS,
		.envp = envp,
		.cwd = p->Cwd,
	};
}

static void create_container(struct call *call)
{
	struct service *svc = call->service;
	grpc_CreateContainerRequest *req = calloc(1, sizeof(*req));
	const char *argv[PROG_MAX_ARGS], *envp[PROG_MAX_ARGS];
	struct process_spec spec;
	struct container *ctr;
	char why[200];
	int err;

	if (!req) {
		call_error(call, GRPC_RESOURCE_EXHAUSTED, "agent is out of memory");
		return;
	}
	if (!call_decode(call, grpc_CreateContainerRequest_fields, req))
		goto out;
	if (!id_valid(req->container_id)) {
		call_error(call, GRPC_INVALID_ARGUMENT, "container_id '%s' is not valid: use "
			   "1-127 letters, digits, '-', '_' or '.'", req->container_id);
		goto out;
	}
	if (req->exec_id[0] && strcmp(req->exec_id, req->container_id) != 0) {
		call_error(call, GRPC_INVALID_ARGUMENT, "exec_id '%s' must be empty or equal "
			   "container_id '%s' (the init process)", req->exec_id, req->container_id);
		goto out;
	}
	if (!req->has_OCI || !req->OCI.has_Process) {
		call_error(call, GRPC_INVALID_ARGUMENT, "the request has no OCI spec with a "
			   "Process: set OCI.Process.Args to a catalogue program");
		goto out;
	}
	if (container_find(svc->procs, req->container_id)) {
		call_error(call, GRPC_ALREADY_EXISTS, "container '%s' already exists (remove it "
			   "first or pick another id)", req->container_id);
		goto out;
	}
	if (svc->procs->ncontainers >= svc->opts->max_containers) {
		unsigned limit = svc->opts->max_containers;

		call_error(call, GRPC_RESOURCE_EXHAUSTED, "%u containers exist already (limit "
			   "agent.max_containers=%u): remove some first", limit, limit);
		goto out;
	}
	spec_of(&req->OCI.Process, &spec, argv, envp);
	if (req->OCI.has_Linux && req->OCI.Linux.has_Resources &&
	    req->OCI.Linux.Resources.has_Memory && req->OCI.Linux.Resources.Memory.Limit > 0)
		spec.mem_limit = (uint64_t)req->OCI.Linux.Resources.Memory.Limit;
	err = container_create(svc->procs, req->container_id, &spec, &ctr, why, sizeof(why));
	if (err < 0) {
		call_error(call, create_error_code(err), "%s", why);
		goto out;
	}
	agent_log(svc->log, "info", ctr->id, "container created: %s", ctr->init->io.argv[0]);
	reply_empty(call);
out:
	free(req);
}

static void start_container(struct call *call)
{
	grpc_StartContainerRequest req;
	struct container *ctr;

	if (!call_decode(call, grpc_StartContainerRequest_fields, &req))
		return;
	ctr = find_ctr(call, req.container_id);
	if (!ctr)
		return;
	if (ctr->started || ctr->removing) {
		call_error(call, GRPC_FAILED_PRECONDITION, "container '%s' %s", req.container_id,
			   ctr->removing ? "is being removed" : "was started already");
		return;
	}
	if (process_start(ctr->init) < 0) {
		call_error(call, GRPC_RESOURCE_EXHAUSTED, "cannot start a task for container "
			   "'%s' (out of memory: fewer containers or a smaller agent.stack_kib)",
			   req.container_id);
		return;
	}
	ctr->started = true;
	reply_empty(call);
}

static void exec_process(struct call *call)
{
	grpc_ExecProcessRequest *req = calloc(1, sizeof(*req));
	const char *argv[PROG_MAX_ARGS], *envp[PROG_MAX_ARGS];
	struct process_spec spec;
	struct container *ctr;
	struct process *proc;
	char why[200];
	int err;

	if (!req) {
		call_error(call, GRPC_RESOURCE_EXHAUSTED, "agent is out of memory");
		return;
	}
	if (!call_decode(call, grpc_ExecProcessRequest_fields, req))
		goto out;
	if (!id_valid(req->exec_id) || !req->has_process) {
		call_error(call, GRPC_INVALID_ARGUMENT, "%s", !req->has_process
			   ? "the request has no process: set process.Args to a catalogue program"
			   : "exec_id is empty or not valid: use letters, digits, '-', '_' or '.'");
		goto out;
	}
	ctr = find_ctr(call, req->container_id);
	if (!ctr)
		goto out;
	if (!ctr->started || ctr->removing || ctr->init->state != PROC_RUNNING) {
		call_error(call, GRPC_FAILED_PRECONDITION, "container '%s' is not running "
			   "(exec needs a started container whose init process still runs)",
			   req->container_id);
		goto out;
	}
	if (process_find(ctr, req->exec_id)) {
		call_error(call, GRPC_ALREADY_EXISTS, "container '%s' already has a process "
			   "'%s'", req->container_id, req->exec_id);
		goto out;
	}
	spec_of(&req->process, &spec, argv, envp);
	err = process_create(ctr, req->exec_id, &spec, &proc, why, sizeof(why));
	if (err < 0) {
		call_error(call, create_error_code(err), "%s", why);
		goto out;
	}
	if (process_start(proc) < 0) {
		process_fail(proc, 127);
		call_error(call, GRPC_RESOURCE_EXHAUSTED, "cannot start a task for '%s' (out of "
			   "memory)", req->exec_id);
		goto out;
	}
	reply_empty(call);
out:
	free(req);
}

static void signal_process(struct call *call)
{
	struct service *svc = call->service;
	grpc_SignalProcessRequest req;
	struct process *targets[MAX_TARGETS];
	struct container *ctr;
	unsigned n = 0;
	uint32_t sig;

	if (!call_decode(call, grpc_SignalProcessRequest_fields, &req))
		return;
	sig = req.signal;
	if (!signal_supported(sig)) {
		call_error(call, GRPC_INVALID_ARGUMENT, "signal %u is not supported: use 9 (KILL), "
			   "15 (TERM), 2 (INT), 1 (HUP), 3 (QUIT) or 0", sig);
		return;
	}
	ctr = find_ctr(call, req.container_id);
	if (!ctr)
		return;
	if (!req.exec_id[0]) {
		for (struct process *p = ctr->procs; p && n < MAX_TARGETS; p = p->next)
			targets[n++] = p;
	} else {
		struct process *proc = process_find(ctr, req.exec_id);

		if (!proc) {
			call_error(call, GRPC_NOT_FOUND, "container '%s' has no process '%s'",
				   req.container_id, req.exec_id);
			return;
		}
		if (proc->state == PROC_CREATED) {
			call_error(call, GRPC_FAILED_PRECONDITION, "process '%s' has not been "
				   "started yet (StartContainer first)", req.exec_id);
			return;
		}
		targets[n++] = proc;
	}
	agent_log(svc->log, "info", ctr->id, "signal %u to %s", sig,
		  req.exec_id[0] ? req.exec_id : "every process");
	for (unsigned i = 0; i < n; i++)
		process_signal(targets[i], sig);
	reply_empty(call);
}

static void wait_process(struct call *call)
{
	grpc_WaitProcessRequest req;
	struct process *proc;

	if (!call_decode(call, grpc_WaitProcessRequest_fields, &req))
		return;
	proc = find_proc(call, req.container_id, req.exec_id);
	if (!proc)
		return;
	if (proc->state == PROC_EXITED) {
		grpc_WaitProcessResponse resp = { proc->exit_status };

		call_reply(call, grpc_WaitProcessResponse_fields, &resp);
	} else {
		park_call(call, PARK_WAIT, proc->ctr, proc, 0, NULL, 0);
	}
}

static void read_stream(struct call *call, bool err_stream)
{
	grpc_ReadStreamRequest req;
	struct process *proc;
	struct park probe;

	if (!call_decode(call, grpc_ReadStreamRequest_fields, &req))
		return;
	proc = find_proc(call, req.container_id, req.exec_id);
	if (!proc)
		return;
	probe = (struct park){ .peer = call->peer, .stream_id = call->stream_id,
			       .kind = err_stream ? PARK_READ_ERR : PARK_READ_OUT,
			       .ctr = proc->ctr, .proc = proc, .len = req.len };
	if (park_try(call->service, &probe))
		call->answered = true;
	else
		park_call(call, probe.kind, proc->ctr, proc, req.len, NULL, 0);
}

static void read_stdout(struct call *call)
{
	read_stream(call, false);
}

static void read_stderr(struct call *call)
{
	read_stream(call, true);
}

static void write_stdin(struct call *call)
{
	grpc_WriteStreamRequest *req = malloc(sizeof(*req));
	struct process *proc;
	struct park probe;
	uint8_t *copy;

	if (!req) {
		call_error(call, GRPC_RESOURCE_EXHAUSTED, "agent is out of memory");
		return;
	}
	if (!call_decode(call, grpc_WriteStreamRequest_fields, req))
		goto out;
	proc = find_proc(call, req->container_id, req->exec_id);
	if (!proc)
		goto out;
	probe = (struct park){ .peer = call->peer, .stream_id = call->stream_id,
			       .kind = PARK_WRITE_IN, .ctr = proc->ctr, .proc = proc,
			       .data = req->data.bytes, .data_len = req->data.size };
	if (req->data.size == 0) {
		grpc_WriteStreamResponse resp = { 0 };

		call_reply(call, grpc_WriteStreamResponse_fields, &resp);
	} else if (park_try(call->service, &probe)) {
		call->answered = true;
	} else if (call->peer->parked_bytes + req->data.size > SERVICE_PEER_PARKED_MAX ||
		   call->service->parked_bytes + req->data.size > SERVICE_PARKED_MAX) {
		call_error(call, GRPC_RESOURCE_EXHAUSTED, "stdin is full and %zu bytes already wait "
			   "for it on this connection (%zu in all; at most %u and %u): wait for the "
			   "answers to earlier WriteStdin calls", call->peer->parked_bytes,
			   call->service->parked_bytes, SERVICE_PEER_PARKED_MAX, SERVICE_PARKED_MAX);
	} else if ((copy = malloc(req->data.size)) != NULL) {
		memcpy(copy, req->data.bytes, req->data.size);
		park_call(call, PARK_WRITE_IN, proc->ctr, proc, 0, copy, req->data.size);
	} else {
		call_error(call, GRPC_RESOURCE_EXHAUSTED, "agent is out of memory");
	}
out:
	free(req);
}

static void close_stdin(struct call *call)
{
	grpc_CloseStdinRequest req;
	struct process *proc;

	if (!call_decode(call, grpc_CloseStdinRequest_fields, &req))
		return;
	proc = find_proc(call, req.container_id, req.exec_id);
	if (!proc)
		return;
	process_close_input(proc); /* parked writes fail at the next poll */
	reply_empty(call);
}

static void remove_container(struct call *call)
{
	struct service *svc = call->service;
	grpc_RemoveContainerRequest req;
	struct container *ctr;

	if (!call_decode(call, grpc_RemoveContainerRequest_fields, &req))
		return;
	ctr = find_ctr(call, req.container_id);
	if (!ctr)
		return;
	if (ctr->removing) {
		call_error(call, GRPC_FAILED_PRECONDITION, "container '%s' is being removed "
			   "already", req.container_id);
		return;
	}
	if (!container_running(ctr)) {
		container_remove(svc, ctr);
		reply_empty(call);
		return;
	}
	/* Kata: RemoveContainer kills what still runs and waits for it.  The
	 * wait is parked first: if that fails (every park slot of this
	 * connection in use) nothing has changed and a later remove works. */
	if (req.timeout) {
		uint64_t limit = platform_now_ns() + (uint64_t)req.timeout * 1000000000ull;

		if (limit < call->deadline_ns)
			call->deadline_ns = limit;
	}
	if (!park_call(call, PARK_REMOVE, ctr, NULL, 0, NULL, 0))
		return;
	ctr->removing = true;
	for (struct process *p = ctr->procs; p; p = p->next)
		process_signal(p, SIGNAL_KILL);
}

/* ---- vsockagent.Extras ---- */

static const char *state_name(enum proc_state state)
{
	return state == PROC_CREATED ? "created" : state == PROC_RUNNING ? "running" : "exited";
}

static void list_containers(struct call *call)
{
	struct service *svc = call->service;
	vsockagent_ListContainersRequest req;
	vsockagent_ListContainersResponse *resp = calloc(1, sizeof(*resp));

	if (!resp) {
		call_error(call, GRPC_RESOURCE_EXHAUSTED, "agent is out of memory");
		return;
	}
	if (call_decode(call, vsockagent_ListContainersRequest_fields, &req)) {
		const size_t max = sizeof(resp->processes) / sizeof(resp->processes[0]);

		for (struct container *ctr = svc->procs->containers; ctr; ctr = ctr->next)
			for (struct process *p = ctr->procs; p && resp->processes_count < max;
			     p = p->next) {
				vsockagent_ProcessState *s = &resp->processes[resp->processes_count++];

				snprintf(s->container_id, sizeof(s->container_id), "%s", ctr->id);
				snprintf(s->exec_id, sizeof(s->exec_id), "%s", p->exec_id);
				snprintf(s->state, sizeof(s->state), "%s", state_name(p->state));
				s->exit_status = p->state == PROC_EXITED ? p->exit_status : 0;
				snprintf(s->program, sizeof(s->program), "%s", p->program->name);
			}
		call_reply(call, vsockagent_ListContainersResponse_fields, resp);
	}
	free(resp);
}

/* ---- dispatch ---- */

/* CopyFile's data, decoded straight into the store (fields 1-7 come
 * first on the wire, so the file's path, size and offset are known). */
struct copy_ctx {
	grpc_CopyFileRequest *req;  /* the fields decoded so far */
	uint64_t written;           /* bytes of data stored */
	bool got_data;              /* the data field was there */
	int err;                    /* the store's refusal, 0: none */
};

static bool copy_data(pb_istream_t *stream, const pb_field_t *field, void **arg)
{
	struct copy_ctx *ctx = *arg;
	grpc_CopyFileRequest *req = ctx->req;
	uint8_t buf[2048];

	ctx->got_data = true;
	while (stream->bytes_left) {
		size_t n = stream->bytes_left < sizeof(buf) ? stream->bytes_left : sizeof(buf);

		if (!pb_read(stream, buf, n))
			return false;
		if (ctx->err)
			continue; /* refused: the rest is only read past */
		if (!req->path[0] || req->file_size < 0 || req->offset < 0)
			ctx->err = -EINVAL;
		else
			ctx->err = store_write(req->path, (uint64_t)req->file_size, req->file_mode,
					       (uint64_t)req->offset + ctx->written, buf, n);
		ctx->written += n;
	}
	return true;
}

/*
 * CopyFile (Kata's fields): the chunk goes into the file store
 * (include/store.h), which shows the file once its last byte is in.
 * A mode with S_IFDIR makes a directory; symbolic links are refused.
 */
static void copy_file(struct call *call)
{
	struct service *svc = call->service;
	grpc_CopyFileRequest *req = calloc(1, sizeof(*req));
	struct copy_ctx ctx = { req, 0, false, 0 };
	uint32_t type;
	int err;

	if (!req) {
		call_error(call, GRPC_RESOURCE_EXHAUSTED, "agent is out of memory");
		return;
	}
	req->data.funcs.decode = copy_data;
	req->data.arg = &ctx;
	if (!call_decode(call, grpc_CopyFileRequest_fields, req))
		goto out;
	type = req->file_mode & 0170000;
	if (type == 0040000) {
		err = store_mkdir(req->path, req->file_mode);
	} else if (type != 0 && type != 0100000) {
		call_error(call, GRPC_INVALID_ARGUMENT, "CopyFile of '%s': only regular files and "
			   "directories go into the file store (mode %#o)", req->path,
			   req->file_mode);
		goto out;
	} else if (req->file_size < 0 || req->offset < 0) {
		err = -EINVAL;
	} else if (!ctx.got_data) { /* no data: an empty file, or an empty chunk */
		err = store_write(req->path, (uint64_t)req->file_size, req->file_mode,
				  (uint64_t)req->offset, NULL, 0);
	} else {
		err = ctx.err;
	}
	if (err == -ENOSPC) {
		call_error(call, GRPC_RESOURCE_EXHAUSTED, "CopyFile of '%s' (%lld bytes): the "
			   "file store is bounded by agent.store_mib (%zu of %zu bytes in use)",
			   req->path, (long long)req->file_size, store_bytes_used(), store_limit());
	} else if (err) {
		call_error(call, err == -ENOMEM ? GRPC_RESOURCE_EXHAUSTED : GRPC_INVALID_ARGUMENT,
			   "CopyFile of '%s' (offset %lld, %llu bytes of %lld): %s", req->path,
			   (long long)req->offset, (unsigned long long)ctx.written,
			   (long long)req->file_size,
			   err == -EINVAL ? "not an absolute canonical path, or a chunk out of order "
					    "or past the file's size" :
			   err == -EISDIR ? "a directory has that path" :
			   err == -ENOTDIR ? "a parent is a file" : "out of memory");
	} else {
		if ((uint64_t)req->offset + ctx.written == (uint64_t)req->file_size)
			agent_log(svc->log, "info", "", "CopyFile: %s (%lld bytes, mode %#o) is in "
				  "the file store", req->path, (long long)req->file_size,
				  req->file_mode & 07777);
		reply_empty(call);
	}
out:
	free(req);
}

static const struct method {
	const char *service; /* ttRPC service name */
	const char *name;    /* method */
	void (*fn)(struct call *call);
} methods[] = {
	{ "grpc.Health", "Check", health_check },
	{ "grpc.Health", "Version", health_version },
	{ "grpc.AgentService", "GetGuestDetails", get_guest_details },
	{ "grpc.AgentService", "CreateSandbox", create_sandbox },
	{ "grpc.AgentService", "DestroySandbox", destroy_sandbox },
	{ "grpc.AgentService", "CreateContainer", create_container },
	{ "grpc.AgentService", "StartContainer", start_container },
	{ "grpc.AgentService", "ExecProcess", exec_process },
	{ "grpc.AgentService", "WaitProcess", wait_process },
	{ "grpc.AgentService", "SignalProcess", signal_process },
	{ "grpc.AgentService", "RemoveContainer", remove_container },
	{ "grpc.AgentService", "ReadStdout", read_stdout },
	{ "grpc.AgentService", "ReadStderr", read_stderr },
	{ "grpc.AgentService", "WriteStdin", write_stdin },
	{ "grpc.AgentService", "CloseStdin", close_stdin },
	{ "grpc.AgentService", "CopyFile", copy_file },
	{ "vsockagent.Extras", "ListContainers", list_containers },
};

static const struct method *method_find(const char *service, const char *name)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(methods[i].service, service) == 0 && strcmp(methods[i].name, name) == 0)
			return &methods[i];
	return NULL;
}

bool service_method_known(const char *service, const char *method)
{
	return method_find(service, method) != NULL;
}

void service_dispatch(struct call *call, const char *service, const char *method)
{
	method_find(service, method)->fn(call);
	if (!call->answered)
		call_error(call, GRPC_INTERNAL, "%s/%s gave no answer", service, method);
}

void service_init(struct service *svc, const struct agent_options *opts,
		  struct process_table *procs, struct log_stream *log,
		  service_respond_fn *respond_fn, void *respond_ctx)
{
	memset(svc, 0, sizeof(*svc));
	svc->opts = opts;
	svc->procs = procs;
	svc->log = log;
	svc->respond = respond_fn;
	svc->respond_ctx = respond_ctx;
	svc->parks_tail = &svc->parks;
}

void service_free(struct service *svc)
{
	while (svc->parks)
		park_free(svc, park_unlink(svc, &svc->parks));
}
