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

#include "agent/call.h"
#include "agent/sandbox.h"

#include <errno.h>
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
#define MAX_TARGETS    64    /* processes one SignalProcess / RemoveContainer reaches */

static const google_protobuf_Empty empty = google_protobuf_Empty_init_zero;

enum park_kind {
	PARK_WAIT,     /* WaitProcess: the process exits */
	PARK_READ_OUT, /* ReadStdout: output, or its end */
	PARK_READ_ERR, /* ReadStderr: the same */
	PARK_WRITE_IN, /* WriteStdin: stdin took all of its data */
	PARK_CLOSE_IN, /* WriteStdin with no data: earlier writes done, then close */
	PARK_REMOVE,   /* RemoveContainer: nothing runs any more */
	PARK_OOM,      /* GetOOMEvent: an out-of-memory event, or teardown */
};

/* A call answered later. */
struct park {
	struct park *next;         /* the service's list */
	struct service_peer *peer; /* where the answer goes */
	uint32_t stream_id;        /* ttRPC stream of the call */
	enum park_kind kind;       /* what it waits for */
	struct container *ctr;     /* its container (NULL for OOM) */
	struct process *proc;      /* its process (NULL for REMOVE, OOM) */
	uint32_t len;              /* READ: most bytes wanted; WRITE: bytes the call gave */
	uint8_t *data;             /* WRITE: bytes not yet written (owned) */
	size_t data_len;           /* WRITE: how many */
	size_t done;               /* WRITE: of them, written so far */
	uint64_t deadline_ns;      /* answer DEADLINE_EXCEEDED then */
};

/* Kata's answer to a read at the end of a stream (src/agent/src/rpc.rs
 * read_stream): an error, which both runtimes take as end of output. */
#define READ_EOF_MESSAGE "read meet eof"

/* ---- parks ---- */

static void park_free(struct service *svc, struct park *park)
{
	park->peer->parked--;
	park->peer->parked_bytes -= park->data_len;
	svc->nparked--;
	svc->oom_parked -= park->kind == PARK_OOM;
	svc->parked_bytes -= park->data_len;
	free(park->data);
	free(park);
}

static void reply_read(struct service *svc, struct park *park, bool err_stream)
{
	grpc_ReadStreamResponse *resp = malloc(sizeof(*resp));
	uint32_t want = park->len && park->len < AGENT_READ_MAX ? park->len : AGENT_READ_MAX;

	if (!resp) {
		call_respond(svc, park->peer, park->stream_id, GRPC_RESOURCE_EXHAUSTED,
		             "agent is out of memory for the read", NULL, NULL);
		return;
	}
	resp->data.size =
	        (pb_size_t)process_read_output(park->proc, err_stream, resp->data.bytes, want);
	if (resp->data.size == 0) { /* ready with nothing: the process has exited */
		*(err_stream ? &park->proc->eof_err : &park->proc->eof_out) = true;
		call_respond(svc, park->peer, park->stream_id, GRPC_INTERNAL, READ_EOF_MESSAGE,
		             NULL, NULL);
	} else {
		call_respond(svc, park->peer, park->stream_id, GRPC_OK, NULL,
		             grpc_ReadStreamResponse_fields, resp);
	}
	free(resp);
}

static void reply_written(struct service *svc, struct park *park)
{
	grpc_WriteStreamResponse resp = { park->len };

	call_respond(svc, park->peer, park->stream_id, GRPC_OK, NULL,
	             grpc_WriteStreamResponse_fields, &resp);
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
		call_respond(svc, park->peer, park->stream_id, GRPC_OK, NULL,
		             grpc_WaitProcessResponse_fields, &wait);
		return true;
	case PARK_READ_OUT:
	case PARK_READ_ERR:
		if (park->peer->congested ||
		    !process_output_ready(proc, park->kind == PARK_READ_ERR))
			return false;
		reply_read(svc, park, park->kind == PARK_READ_ERR);
		return true;
	case PARK_WRITE_IN:
		refusal = process_input_refusal(proc);
		if (refusal) {
			call_respond(svc, park->peer, park->stream_id, GRPC_FAILED_PRECONDITION,
			             refusal, NULL, NULL);
			return true;
		}
		park->done += process_write_input(proc, park->data + park->done,
		                                  park->data_len - park->done);
		if (park->done < park->data_len)
			return false;
		reply_written(svc, park);
		return true;
	case PARK_CLOSE_IN:
		process_close_input(proc);
		reply_written(svc, park);
		return true;
	case PARK_REMOVE:
		if (container_running(park->ctr))
			return false;
		call_respond(svc, park->peer, park->stream_id, GRPC_OK, NULL,
		             google_protobuf_Empty_fields, &empty);
		return true;
	case PARK_OOM:
		return false; /* no OOM killer here: only teardown answers (service_teardown) */
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

/* Drop the parks of `peer`, `ctr` or `proc`, answering them with
 * code/message (peer NULL) or not at all (a peer that is gone). */
static void parks_cancel(struct service *svc, struct service_peer *peer, struct container *ctr,
                         struct process *proc, int code, const char *message)
{
	for (struct park **link = &svc->parks; *link;) {
		struct park *park = *link;

		if ((peer && park->peer != peer) || (ctr && park->ctr != ctr) ||
		    (proc && park->proc != proc)) {
			link = &park->next;
			continue;
		}
		park_unlink(svc, link);
		if (park->kind == PARK_REMOVE)
			park->ctr->removing = false;
		if (!peer)
			call_respond(svc, park->peer, park->stream_id, code, message, NULL, NULL);
		park_free(svc, park);
	}
}

static void container_remove(struct service *svc, struct container *ctr)
{
	char message[200];

	snprintf(message, sizeof(message), "container '%s' was removed", ctr->id);
	parks_cancel(svc, NULL, ctr, NULL, GRPC_NOT_FOUND, message);
	agent_log(svc->log, "info", ctr->id, "container removed");
	container_free(ctr);
}

/* Free an exec process whose output is all read (reaped, or being reaped). */
static void process_forget(struct service *svc, struct process *proc)
{
	char message[200];

	snprintf(message, sizeof(message), "process '%s' was waited for and has been freed",
	         proc->exec_id);
	parks_cancel(svc, NULL, NULL, proc, GRPC_NOT_FOUND, message);
	process_remove(proc);
}

/*
 * WaitProcess answered for an exec process: Kata's agent frees it then
 * (it no longer counts against agent.max_procs).  Other WaitProcess calls
 * for it get the same status.  Its output stays readable until both
 * streams have been read to their end; a container keeps at most
 * agent.max_procs such processes (process_create frees the oldest).
 */
static void process_reap(struct service *svc, struct process *proc)
{
	grpc_WaitProcessResponse wait = { proc->exit_status };

	if (proc == proc->ctr->init || proc->reaped)
		return;
	for (struct park **link = &svc->parks; *link;) {
		struct park *park = *link;

		if (park->proc != proc || park->kind != PARK_WAIT) {
			link = &park->next;
			continue;
		}
		call_respond(svc, park->peer, park->stream_id, GRPC_OK, NULL,
		             grpc_WaitProcessResponse_fields, &wait);
		park_free(svc, park_unlink(svc, link));
	}
	if (process_output_done(proc)) {
		process_forget(svc, proc);
	} else {
		proc->reaped = true;
		proc->ctr->nreaped++;
	}
}

/* Reaped processes read to the end since, that no call waits on. */
static void reaped_sweep(struct service *svc)
{
	for (struct container *ctr = svc->procs->containers; ctr; ctr = ctr->next) {
		if (!ctr->nreaped)
			continue;
		for (struct process *p = ctr->procs, *next; p; p = next) {
			next = p->next;
			if (!p->reaped || !process_output_done(p))
				continue;
			bool waited_on = false;

			for (const struct park *park = svc->parks; park; park = park->next)
				waited_on |= park->proc == p;
			if (!waited_on)
				process_remove(p);
		}
	}
}

static bool park_expire(struct service *svc, struct park *park, uint64_t now)
{
	if (park->deadline_ns > now)
		return false;
	if (park->kind == PARK_REMOVE)
		park->ctr->removing = false;
	call_respond(svc, park->peer, park->stream_id, GRPC_DEADLINE_EXCEEDED,
	             park->kind == PARK_REMOVE ?
	                     "the container's processes did not exit in time" :
	                     "deadline exceeded (timeout_nano) before the event came",
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
			if (park->kind == PARK_WAIT) {
				struct process *proc = park->proc;

				park_free(svc, park);
				process_reap(svc, proc);
				goto again;
			}
			park_free(svc, park);
		} else if (park_expire(svc, park, now)) {
			park_unlink(svc, link);
			park_free(svc, park);
		} else {
			link = &park->next;
		}
	}
	reaped_sweep(svc);
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
	parks_cancel(svc, peer, NULL, NULL, GRPC_CANCELLED, NULL);
}

/* Park a call on `proc` / `ctr`: true, or false when it could not be
 * parked (then it has answered RESOURCE_EXHAUSTED and freed `data`). */
static bool park_call(struct call *call, enum park_kind kind, struct container *ctr,
                      struct process *proc, uint32_t len, uint8_t *data, size_t data_len)
{
	struct service *svc = call->service;
	struct park *park = NULL;

	if (call->peer->parked < svc->opts->max_inflight && svc->nparked < SERVICE_PARKS_MAX)
		park = calloc(1, sizeof(*park));
	if (!park) {
		free(data);
		if (call->peer->parked >= svc->opts->max_inflight)
			call_error(call, GRPC_RESOURCE_EXHAUSTED,
			           "%u requests already wait on "
			           "this connection (agent.max_inflight)",
			           call->peer->parked);
		else
			call_error(call, GRPC_RESOURCE_EXHAUSTED,
			           "%u requests already wait in "
			           "the agent (at most %u)%s",
			           svc->nparked, SERVICE_PARKS_MAX,
			           svc->nparked < SERVICE_PARKS_MAX ? ": out of memory" : "");
		return false;
	}
	*park = (struct park){ .next = NULL,
		               .peer = call->peer,
		               .stream_id = call->stream_id,
		               .kind = kind,
		               .ctr = ctr,
		               .proc = proc,
		               .len = len,
		               .data = data,
		               .data_len = data_len,
		               .deadline_ns = call->deadline_ns };
	/* oldest first: reads of one stream get its bytes in the order they were asked */
	*svc->parks_tail = park;
	svc->parks_tail = &park->next;
	svc->nparked++;
	svc->oom_parked += kind == PARK_OOM;
	svc->parked_bytes += data_len;
	call->peer->parked++;
	call->peer->parked_bytes += data_len;
	call->answered = true;
	return true;
}

/* Does a write into this process's stdin wait already?  (A later one
 * must wait behind it: stdin keeps the order the calls came in.) */
static bool write_parked(const struct service *svc, const struct process *proc)
{
	for (const struct park *park = svc->parks; park; park = park->next)
		if (park->proc == proc &&
		    (park->kind == PARK_WRITE_IN || park->kind == PARK_CLOSE_IN))
			return true;
	return false;
}

/* Sandbox teardown: GetOOMEvent calls get their answer (no event). */
static void oom_teardown(struct service *svc)
{
	for (struct park **link = &svc->parks; *link;) {
		struct park *park = *link;

		if (park->kind != PARK_OOM) {
			link = &park->next;
			continue;
		}
		call_respond(svc, park->peer, park->stream_id, GRPC_CANCELLED,
		             "the sandbox is being destroyed: no more OOM events", NULL, NULL);
		park_free(svc, park_unlink(svc, link));
	}
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
			call_error(call, GRPC_ALREADY_EXISTS,
			           "sandbox '%s' already exists: this "
			           "agent serves one sandbox per boot",
			           svc->sandbox_id);
		} else {
			svc->sandbox_created = true;
			snprintf(svc->sandbox_id, sizeof(svc->sandbox_id), "%s", req->sandbox_id);
			agent_log(svc->log, "info", "", "sandbox '%s' created (hostname '%s')",
			          req->sandbox_id, req->hostname);
			call_reply_empty(call);
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
	oom_teardown(svc);
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
	return err == -EINVAL ? GRPC_INVALID_ARGUMENT :
	       err == -ENOENT ? GRPC_NOT_FOUND :
	                        GRPC_RESOURCE_EXHAUSTED;
}

/* Process.Args and Process.Env of a request, decoded by callback. */
struct cmdline {
	struct call_strvec args, env;
};

static void cmdline_init(struct cmdline *cl, struct call *call, grpc_Process *p)
{
	*cl = (struct cmdline){ { call, "Process.Args", NULL, 0, 0, 0 },
		                { call, "Process.Env", NULL, 0, 0, 0 } };
	p->Args = (pb_callback_t){ { .decode = call_strvec_decode }, &cl->args };
	p->Env = (pb_callback_t){ { .decode = call_strvec_decode }, &cl->env };
}

static void cmdline_free(struct cmdline *cl)
{
	call_strvec_free(&cl->args);
	call_strvec_free(&cl->env);
}

/* The command line of an OCI Process, pointing into the decoded request. */
static void spec_of(const grpc_Process *p, const struct cmdline *cl, struct process_spec *spec)
{
	*spec = (struct process_spec){
		.argc = cl->args.n,
		.argv = (const char *const *)cl->args.v,
		.envc = cl->env.n,
		.envp = (const char *const *)cl->env.v,
		.cwd = p->Cwd,
	};
}

static void create_container(struct call *call)
{
	struct service *svc = call->service;
	grpc_CreateContainerRequest *req = calloc(1, sizeof(*req));
	struct process_spec spec;
	struct cmdline cl;
	struct container *ctr;
	char why[CALL_MESSAGE_MAX - 64];
	int err;

	if (!req) {
		call_error(call, GRPC_RESOURCE_EXHAUSTED, "agent is out of memory");
		return;
	}
	cmdline_init(&cl, call, &req->OCI.Process);
	if (!call_decode(call, grpc_CreateContainerRequest_fields, req))
		goto out;
	if (!id_valid(req->container_id)) {
		call_error(call, GRPC_INVALID_ARGUMENT,
		           "container_id '%s' is not valid: use "
		           "1-127 letters, digits, '-', '_' or '.'",
		           req->container_id);
		goto out;
	}
	if (req->exec_id[0] && strcmp(req->exec_id, req->container_id) != 0) {
		call_error(call, GRPC_INVALID_ARGUMENT,
		           "exec_id '%s' must be empty or equal "
		           "container_id '%s' (the init process)",
		           req->exec_id, req->container_id);
		goto out;
	}
	if (!req->has_OCI || !req->OCI.has_Process) {
		call_error(call, GRPC_INVALID_ARGUMENT,
		           "the request has no OCI spec with a "
		           "Process: set OCI.Process.Args to a catalogue program");
		goto out;
	}
	if (container_find(svc->procs, req->container_id)) {
		call_error(call, GRPC_ALREADY_EXISTS,
		           "container '%s' already exists (remove it "
		           "first or pick another id)",
		           req->container_id);
		goto out;
	}
	if (svc->procs->ncontainers >= svc->opts->max_containers) {
		unsigned limit = svc->opts->max_containers;

		call_error(call, GRPC_RESOURCE_EXHAUSTED,
		           "%u containers exist already (limit "
		           "agent.max_containers=%u): remove some first",
		           limit, limit);
		goto out;
	}
	spec_of(&req->OCI.Process, &cl, &spec);
	if (req->OCI.has_Linux && req->OCI.Linux.has_Resources &&
	    req->OCI.Linux.Resources.has_Memory && req->OCI.Linux.Resources.Memory.Limit > 0)
		spec.mem_limit = (uint64_t)req->OCI.Linux.Resources.Memory.Limit;
	err = container_create(svc->procs, req->container_id, &spec, &ctr, why, sizeof(why));
	if (err < 0) {
		call_error(call, create_error_code(err), "%s", why);
		goto out;
	}
	agent_log(svc->log, "info", ctr->id, "container created: %s", ctr->init->io.argv[0]);
	call_reply_empty(call);
out:
	cmdline_free(&cl);
	free(req);
}

static void start_container(struct call *call)
{
	grpc_StartContainerRequest req;
	struct container *ctr;

	if (!call_decode(call, grpc_StartContainerRequest_fields, &req))
		return;
	ctr = call_find_ctr(call, req.container_id);
	if (!ctr)
		return;
	if (ctr->started || ctr->removing || ctr->init->state != PROC_CREATED) {
		call_error(call, GRPC_FAILED_PRECONDITION, "container '%s' %s", req.container_id,
		           ctr->removing ?
		                   "is being removed" :
		           ctr->started ?
		                   "was started already" :
		                   "has exited already (it was signalled before it was started)");
		return;
	}
	if (process_start(ctr->init) < 0) {
		call_error(call, GRPC_RESOURCE_EXHAUSTED,
		           "cannot start a task for container "
		           "'%s' (out of memory: fewer containers or a smaller agent.stack_kib)",
		           req.container_id);
		return;
	}
	ctr->started = true;
	call_reply_empty(call);
}

static void exec_process(struct call *call)
{
	grpc_ExecProcessRequest *req = calloc(1, sizeof(*req));
	struct process_spec spec;
	struct cmdline cl;
	struct container *ctr;
	struct process *proc;
	char why[CALL_MESSAGE_MAX - 64];
	int err;

	if (!req) {
		call_error(call, GRPC_RESOURCE_EXHAUSTED, "agent is out of memory");
		return;
	}
	cmdline_init(&cl, call, &req->process);
	if (!call_decode(call, grpc_ExecProcessRequest_fields, req))
		goto out;
	if (!id_valid(req->exec_id) || !req->has_process) {
		call_error(
		        call, GRPC_INVALID_ARGUMENT, "%s",
		        !req->has_process ?
		                "the request has no process: set process.Args to a catalogue program" :
		                "exec_id is empty or not valid: use letters, digits, '-', '_' or '.'");
		goto out;
	}
	ctr = call_find_ctr(call, req->container_id);
	if (!ctr)
		goto out;
	if (!ctr->started || ctr->removing || ctr->init->state != PROC_RUNNING) {
		call_error(call, GRPC_FAILED_PRECONDITION,
		           "container '%s' is not running "
		           "(exec needs a started container whose init process still runs)",
		           req->container_id);
		goto out;
	}
	if (process_find(ctr, req->exec_id)) {
		call_error(call, GRPC_ALREADY_EXISTS,
		           "container '%s' already has a process "
		           "'%s'",
		           req->container_id, req->exec_id);
		goto out;
	}
	spec_of(&req->process, &cl, &spec);
	err = process_create(ctr, req->exec_id, &spec, &proc, why, sizeof(why));
	if (err < 0) {
		call_error(call, create_error_code(err), "%s", why);
		goto out;
	}
	if (process_start(proc) < 0) {
		process_fail(proc, 127);
		call_error(call, GRPC_RESOURCE_EXHAUSTED,
		           "cannot start a task for '%s' (out of "
		           "memory)",
		           req->exec_id);
		goto out;
	}
	call_reply_empty(call);
out:
	cmdline_free(&cl);
	free(req);
}

/*
 * SignalProcess.  An empty exec_id is the container's init process, and
 * for SIGKILL every process of the container (Kata: the runtime stops a
 * container so).  Signals 1-64 are accepted (process_signal says what
 * each does); a created process never started ends with 128 + signal for
 * a terminating one, so the WaitProcess that follows returns.
 */
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
		call_error(call, GRPC_INVALID_ARGUMENT,
		           "signal %u is not a Linux signal: use "
		           "1-64 (9 KILL, 15 TERM, ...) or 0",
		           sig);
		return;
	}
	ctr = call_find_ctr(call, req.container_id);
	if (!ctr)
		return;
	if (!req.exec_id[0] && sig == SIGNAL_KILL) {
		/* the live ones: at most agent.max_procs (<= MAX_TARGETS) */
		for (struct process *p = ctr->procs; p && n < MAX_TARGETS; p = p->next)
			if (p->state != PROC_EXITED)
				targets[n++] = p;
	} else {
		struct process *proc = process_find(ctr, req.exec_id[0] ? req.exec_id : ctr->id);

		if (!proc || proc->reaped) {
			call_error(call, GRPC_NOT_FOUND, "container '%s' has no process '%s'",
			           req.container_id, req.exec_id);
			return;
		}
		targets[n++] = proc;
	}
	agent_log(svc->log, "info", ctr->id, "signal %u to %s", sig,
	          req.exec_id[0]     ? req.exec_id :
	          sig == SIGNAL_KILL ? "every process" :
	                               "the init process");
	for (unsigned i = 0; i < n; i++)
		process_signal(targets[i], sig);
	call_reply_empty(call);
}

static void wait_process(struct call *call)
{
	grpc_WaitProcessRequest req;
	struct process *proc;

	if (!call_decode(call, grpc_WaitProcessRequest_fields, &req))
		return;
	proc = call_find_proc(call, req.container_id, req.exec_id);
	if (!proc)
		return;
	if (proc->state == PROC_EXITED) {
		grpc_WaitProcessResponse resp = { proc->exit_status };

		call_reply(call, grpc_WaitProcessResponse_fields, &resp);
		process_reap(call->service, proc);
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
	proc = call_find_proc(call, req.container_id, req.exec_id);
	if (!proc)
		return;
	probe = (struct park){ .peer = call->peer,
		               .stream_id = call->stream_id,
		               .kind = err_stream ? PARK_READ_ERR : PARK_READ_OUT,
		               .ctr = proc->ctr,
		               .proc = proc,
		               .len = req.len };
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

/*
 * WriteStdin takes the whole buffer, as Kata's agent does (write_all): what
 * the pipe cannot take now waits, parked, and the answer comes once all of
 * it is in.  Empty data (runtime-rs's end of stdin) closes stdin once the
 * writes before it are done.
 */
static void write_stdin(struct call *call)
{
	struct service *svc = call->service;
	grpc_WriteStreamRequest *req = malloc(sizeof(*req));
	struct process *proc;
	struct park probe;
	uint8_t *copy;
	size_t written;
	bool queued;

	if (!req) {
		call_error(call, GRPC_RESOURCE_EXHAUSTED, "agent is out of memory");
		return;
	}
	if (!call_decode(call, grpc_WriteStreamRequest_fields, req))
		goto out;
	proc = call_find_proc(call, req->container_id, req->exec_id);
	if (!proc)
		goto out;
	probe = (struct park){ .peer = call->peer,
		               .stream_id = call->stream_id,
		               .kind = req->data.size ? PARK_WRITE_IN : PARK_CLOSE_IN,
		               .ctr = proc->ctr,
		               .proc = proc,
		               .len = req->data.size,
		               .data = req->data.bytes,
		               .data_len = req->data.size };
	queued = write_parked(svc, proc);
	if (!queued && (req->data.size == 0 || process_input_room(proc) >= req->data.size ||
	                process_input_refusal(proc))) {
		park_try(svc, &probe); /* answers: all written, closed, or refused */
		call->answered = true;
		goto out;
	}
	/* Some or all of it must wait: within the bounds before a byte goes in. */
	if (call->peer->parked_bytes + req->data.size > SERVICE_PEER_PARKED_MAX ||
	    svc->parked_bytes + req->data.size > SERVICE_PARKED_MAX) {
		call_error(
		        call, GRPC_RESOURCE_EXHAUSTED,
		        "stdin is full and %zu bytes already wait "
		        "for it on this connection (%zu in all; at most %u and %u): wait for the "
		        "answers to earlier WriteStdin calls",
		        call->peer->parked_bytes, svc->parked_bytes, SERVICE_PEER_PARKED_MAX,
		        SERVICE_PARKED_MAX);
		goto out;
	}
	if (req->data.size == 0) {
		park_call(call, PARK_CLOSE_IN, proc->ctr, proc, 0, NULL, 0);
		goto out;
	}
	copy = malloc(req->data.size);
	if (!copy) {
		call_error(call, GRPC_RESOURCE_EXHAUSTED, "agent is out of memory");
		goto out;
	}
	if (call->peer->parked >= svc->opts->max_inflight || svc->nparked >= SERVICE_PARKS_MAX) {
		/* answers RESOURCE_EXHAUSTED (and frees copy) before a byte goes in */
		park_call(call, PARK_WRITE_IN, proc->ctr, proc, 0, copy, 0);
		goto out;
	}
	/* what fits goes in now; the rest waits its turn, copied */
	written = queued ? 0 : process_write_input(proc, req->data.bytes, req->data.size);
	memcpy(copy, req->data.bytes + written, req->data.size - written);
	park_call(call, PARK_WRITE_IN, proc->ctr, proc, req->data.size, copy,
	          req->data.size - written);
out:
	free(req);
}

static void close_stdin(struct call *call)
{
	grpc_CloseStdinRequest req;
	struct process *proc;

	if (!call_decode(call, grpc_CloseStdinRequest_fields, &req))
		return;
	proc = call_find_proc(call, req.container_id, req.exec_id);
	if (!proc)
		return;
	process_close_input(proc); /* parked writes fail at the next poll */
	call_reply_empty(call);
}

static void remove_container(struct call *call)
{
	struct service *svc = call->service;
	grpc_RemoveContainerRequest req;
	struct container *ctr;

	if (!call_decode(call, grpc_RemoveContainerRequest_fields, &req))
		return;
	ctr = call_find_ctr(call, req.container_id);
	if (!ctr)
		return;
	if (ctr->removing) {
		call_error(call, GRPC_FAILED_PRECONDITION,
		           "container '%s' is being removed "
		           "already",
		           req.container_id);
		return;
	}
	if (!container_running(ctr)) {
		container_remove(svc, ctr);
		call_reply_empty(call);
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

/*
 * GetOOMEvent: the shim polls it for the life of the sandbox.  This image
 * has no OOM killer (a program over its memory limit gets ENOMEM from the
 * allocation, and its exit says so), so the call waits until the sandbox
 * is destroyed, or its deadline.
 */
static void get_oom_event(struct call *call)
{
	struct service *svc = call->service;
	grpc_GetOOMEventRequest req;
	uint64_t suppressed;

	if (!call_decode(call, grpc_GetOOMEventRequest_fields, &req))
		return;
	if (!park_call(call, PARK_OOM, NULL, NULL, 0, NULL, 0))
		return;
	if (svc->oom_parked == 1 &&
	    log_limit_allow(&svc->ignored_log, platform_now_ns(), &suppressed))
		agent_log(svc->log, "info", "",
		          "GetOOMEvent waits: no OOM killer in this image "
		          "(allocations over a container's limit fail with ENOMEM); it is answered "
		          "when the sandbox is destroyed");
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
				vsockagent_ProcessState *s =
				        &resp->processes[resp->processes_count++];

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
	grpc_CopyFileRequest *req; /* the fields decoded so far */
	uint64_t written;          /* bytes of data stored */
	bool got_data;             /* the data field was there */
	int err;                   /* the store's refusal, 0: none */
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
		call_error(call, GRPC_INVALID_ARGUMENT,
		           "CopyFile of '%s': only regular files and "
		           "directories go into the file store (mode %#o)",
		           req->path, req->file_mode);
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
		call_error(call, GRPC_RESOURCE_EXHAUSTED,
		           "CopyFile of '%s' (%lld bytes): the "
		           "file store is bounded by agent.store_mib (%zu of %zu bytes in use)",
		           req->path, (long long)req->file_size, store_bytes_used(), store_limit());
	} else if (err) {
		call_error(call, err == -ENOMEM ? GRPC_RESOURCE_EXHAUSTED : GRPC_INVALID_ARGUMENT,
		           "CopyFile of '%s' (offset %lld, %llu bytes of %lld): %s", req->path,
		           (long long)req->offset, (unsigned long long)ctx.written,
		           (long long)req->file_size,
		           err == -EINVAL ?
		                   "not an absolute canonical path, or a chunk out of order "
		                   "or past the file's size" :
		           err == -EISDIR  ? "a directory has that path" :
		           err == -ENOTDIR ? "a parent is a file" :
		                             "out of memory");
	} else {
		if ((uint64_t)req->offset + ctx.written == (uint64_t)req->file_size)
			agent_log(svc->log, "info", "",
			          "CopyFile: %s (%lld bytes, mode %#o) is in "
			          "the file store",
			          req->path, (long long)req->file_size, req->file_mode & 07777);
		call_reply_empty(call);
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
	{ "grpc.AgentService", "GetOOMEvent", get_oom_event },
	{ "grpc.AgentService", "SetPolicy", sandbox_set_policy },
	{ "grpc.AgentService", "OnlineCPUMem", sandbox_online_cpu_mem },
	{ "grpc.AgentService", "UpdateEphemeralMounts", sandbox_update_ephemeral_mounts },
	{ "grpc.AgentService", "RemoveStaleVirtiofsShareMounts",
	  sandbox_remove_stale_virtiofs_share_mounts },
	{ "grpc.AgentService", "UpdateInterface", sandbox_update_interface },
	{ "grpc.AgentService", "UpdateRoutes", sandbox_update_routes },
	{ "grpc.AgentService", "ListInterfaces", sandbox_list_interfaces },
	{ "grpc.AgentService", "ListRoutes", sandbox_list_routes },
	{ "grpc.AgentService", "AddARPNeighbors", sandbox_add_arp_neighbors },
	{ "grpc.AgentService", "TtyWinResize", sandbox_tty_win_resize },
	{ "grpc.AgentService", "PauseContainer", sandbox_pause_container },
	{ "grpc.AgentService", "ResumeContainer", sandbox_resume_container },
	{ "grpc.AgentService", "UpdateContainer", sandbox_update_container },
	{ "grpc.AgentService", "StatsContainer", sandbox_stats_container },
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
	free(svc->policy);
	svc->policy = NULL;
	svc->policy_denied = 0;
}
