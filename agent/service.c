/*
 * service.c -- the methods of grpc.Health and grpc.AgentService (Kata's
 * names, DESIGN §5) plus vsockagent.Extras/ListContainers, and the parked
 * requests that wait for a process event.  Errors carry gRPC codes and a
 * message saying what to do about them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.pb.h"
#include "agent/internal.h"
#include "agentext.pb.h"
#include "google/protobuf/empty.pb.h"
#include "health.pb.h"
#include "include/log.h"

static const google_protobuf_Empty empty = google_protobuf_Empty_init_zero;
#define REPLY_EMPTY(call) call_reply(call, google_protobuf_Empty_fields, &empty)

/* ---- parks ---- */

static void park_free_locked(struct agent *agent, struct park *park)
{
	park->conn->parked--;
	agent->nparked--;
	free(park->data);
	free(park);
}

static void reply_read_locked(struct park *park, struct pipe *pipe)
{
	grpc_ReadStreamResponse *resp = malloc(sizeof(*resp));
	uint32_t want = park->len && park->len < AGENT_READ_MAX ? park->len : AGENT_READ_MAX;

	if (!resp) {
		call_reply_locked(park->conn, park->stream_id, GRPC_RESOURCE_EXHAUSTED,
				  "agent is out of memory for the read", NULL, NULL, false);
		return;
	}
	resp->data.size = (pb_size_t)pipe_read_locked(pipe, resp->data.bytes, want);
	call_reply_locked(park->conn, park->stream_id, GRPC_OK, NULL,
			  grpc_ReadStreamResponse_fields, resp, false);
	free(resp);
	platform_wake(&park->proc->wq); /* room for the writer */
}

/* Answer the park if its event came; true when answered. */
static bool park_try_locked(struct park *park)
{
	struct process *proc = park->proc;
	struct pipe *pipe;

	switch (park->kind) {
	case PARK_WAIT:
		if (proc->state != PROC_EXITED)
			return false;
		grpc_WaitProcessResponse wait = { proc->exit_status };
		call_reply_locked(park->conn, park->stream_id, GRPC_OK, NULL,
				  grpc_WaitProcessResponse_fields, &wait, false);
		return true;
	case PARK_READ_OUT:
	case PARK_READ_ERR:
		pipe = park->kind == PARK_READ_OUT ? &proc->out : &proc->err;
		if (!pipe->len && !pipe->eof)
			return false;
		reply_read_locked(park, pipe);
		return true;
	case PARK_WRITE_IN: {
		grpc_WriteStreamResponse resp = { 0 };

		if (proc->in.eof || proc->in.broken) {
			call_reply_locked(park->conn, park->stream_id, GRPC_FAILED_PRECONDITION,
					  proc->in.eof ? "stdin was closed (CloseStdin)"
						       : "the process has exited: nothing reads stdin",
					  NULL, NULL, false);
			return true;
		}
		resp.len = (uint32_t)pipe_write_locked(&proc->in, park->data, park->data_len);
		if (!resp.len)
			return false;
		platform_wake(&proc->wq);
		call_reply_locked(park->conn, park->stream_id, GRPC_OK, NULL,
				  grpc_WriteStreamResponse_fields, &resp, false);
		return true;
	}
	case PARK_REMOVE:
		if (park->ctr->holds)
			return false;
		for (struct process *p = park->ctr->procs; p; p = p->next)
			if (p->state == PROC_RUNNING)
				return false;
		call_reply_locked(park->conn, park->stream_id, GRPC_OK, NULL,
				  google_protobuf_Empty_fields, &empty, false);
		return true;
	}
	return false;
}

static void container_remove_locked(struct agent *agent, struct container *ctr)
{
	char message[200];

	snprintf(message, sizeof(message), "container '%s' was removed", ctr->id);
	parks_cancel_locked(agent, NULL, ctr, GRPC_NOT_FOUND, message);
	agent_log_locked(agent, "info", ctr->id, "container removed");
	container_free_locked(ctr);
}

void parks_poll_locked(struct agent *agent)
{
again:
	for (struct park **link = &agent->parks; *link;) {
		struct park *park = *link;

		if (!park_try_locked(park)) {
			link = &park->next;
			continue;
		}
		*link = park->next;
		if (park->kind == PARK_REMOVE) {
			struct container *ctr = park->ctr;

			park_free_locked(agent, park);
			container_remove_locked(agent, ctr);
			goto again; /* the list changed under us */
		}
		park_free_locked(agent, park);
	}
}

void parks_cancel_locked(struct agent *agent, struct conn *conn, struct container *ctr,
			 int code, const char *message)
{
	for (struct park **link = &agent->parks; *link;) {
		struct park *park = *link;

		if ((conn && park->conn != conn) || (ctr && park->ctr != ctr)) {
			link = &park->next;
			continue;
		}
		*link = park->next;
		if (park->kind == PARK_REMOVE)
			park->ctr->removing = false;
		if (!conn)
			call_reply_locked(park->conn, park->stream_id, code, message, NULL, NULL,
					  false);
		park_free_locked(agent, park);
	}
}

uint64_t parks_expire_locked(struct agent *agent, struct conn *conn, uint64_t now)
{
	uint64_t next = PLATFORM_FOREVER;

	for (struct park **link = &agent->parks; *link;) {
		struct park *park = *link;

		if (park->conn != conn || park->deadline_ns > now) {
			if (park->conn == conn && park->deadline_ns < next)
				next = park->deadline_ns;
			link = &park->next;
			continue;
		}
		*link = park->next;
		if (park->kind == PARK_REMOVE)
			park->ctr->removing = false;
		call_reply_locked(conn, park->stream_id, GRPC_DEADLINE_EXCEEDED,
				  park->kind == PARK_REMOVE
					  ? "the container's processes did not exit in time"
					  : "deadline exceeded (timeout_nano) before the event came",
				  NULL, NULL, false);
		park_free_locked(agent, park);
	}
	return next;
}

/* Park a request on `proc` / `ctr`; answers RESOURCE_EXHAUSTED itself. */
static void park_locked(struct call *call, enum park_kind kind, struct container *ctr,
			struct process *proc, uint32_t len, uint8_t *data, size_t data_len)
{
	struct park *park = calloc(1, sizeof(*park));

	if (park) {
		park->kind = kind;
		park->ctr = ctr;
		park->proc = proc;
		park->len = len;
		park->data = data;
		park->data_len = data_len;
		if (call_park_locked(call, park))
			return;
		free(park);
	}
	free(data);
	call_reply_locked(call->conn, call->stream_id, GRPC_RESOURCE_EXHAUSTED,
			  "too many requests waiting on this connection (agent.max_inflight)",
			  NULL, NULL, false);
	call->answered = true;
}

/* ---- lookups with messages ---- */

static struct container *find_ctr_locked(struct call *call, const char *id)
{
	struct container *ctr = container_find(call->conn->agent, id);

	if (!ctr) {
		platform_unlock();
		if (!id[0])
			call_error(call, GRPC_INVALID_ARGUMENT, "container_id is empty");
		else
			call_error(call, GRPC_NOT_FOUND, "no container '%s' (create it first, "
				   "or see `agentctl ps`)", id);
		platform_lock();
	}
	return ctr;
}

static struct process *find_proc_locked(struct call *call, const char *id, const char *exec_id)
{
	struct container *ctr = find_ctr_locked(call, id);
	struct process *proc;

	if (!ctr)
		return NULL;
	proc = process_find(ctr, exec_id[0] ? exec_id : id);
	if (!proc) {
		platform_unlock();
		call_error(call, GRPC_NOT_FOUND, "container '%s' has no process '%s'", id, exec_id);
		platform_lock();
	}
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
	struct agent *agent = call->conn->agent;
	grpc_CreateSandboxRequest *req = calloc(1, sizeof(*req));

	if (!req) {
		call_error(call, GRPC_RESOURCE_EXHAUSTED, "agent is out of memory");
		return;
	}
	if (call_decode(call, grpc_CreateSandboxRequest_fields, req)) {
		platform_lock();
		if (agent->sandbox_created) {
			platform_unlock();
			call_error(call, GRPC_ALREADY_EXISTS, "sandbox '%s' already exists: this "
				   "agent serves one sandbox per boot", agent->sandbox_id);
		} else {
			agent->sandbox_created = true;
			snprintf(agent->sandbox_id, sizeof(agent->sandbox_id), "%s", req->sandbox_id);
			agent_log_locked(agent, "info", "", "sandbox '%s' created (hostname '%s')",
					 req->sandbox_id, req->hostname);
			platform_unlock();
			REPLY_EMPTY(call);
		}
	}
	free(req);
}

static void destroy_sandbox(struct call *call)
{
	struct agent *agent = call->conn->agent;
	grpc_DestroySandboxRequest req;

	if (!call_decode(call, grpc_DestroySandboxRequest_fields, &req))
		return;
	agent_kill_all(agent);
	platform_lock();
	agent->sandbox_created = false;
	agent_log_locked(agent, "info", "", "sandbox destroyed: %s",
			 agent->opts.power_off ? "powering off" : "programs killed");
	call_reply_locked(call->conn, call->stream_id, GRPC_OK, NULL, google_protobuf_Empty_fields,
			  &empty, true);
	platform_unlock();
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

static void create_container(struct call *call)
{
	struct agent *agent = call->conn->agent;
	grpc_CreateContainerRequest *req = calloc(1, sizeof(*req));
	struct container *ctr;
	struct process *proc;
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
	platform_lock();
	if (container_find(agent, req->container_id)) {
		platform_unlock();
		call_error(call, GRPC_ALREADY_EXISTS, "container '%s' already exists (remove it "
			   "first or pick another id)", req->container_id);
		goto out;
	}
	if (agent->ncontainers >= agent->opts.max_containers) {
		unsigned limit = agent->opts.max_containers;

		platform_unlock();
		call_error(call, GRPC_RESOURCE_EXHAUSTED, "%u containers exist already (limit "
			   "agent.max_containers=%u): remove some first", limit, limit);
		goto out;
	}
	ctr = calloc(1, sizeof(*ctr));
	if (!ctr) {
		platform_unlock();
		call_error(call, GRPC_RESOURCE_EXHAUSTED, "agent is out of memory");
		goto out;
	}
	ctr->agent = agent;
	snprintf(ctr->id, sizeof(ctr->id), "%s", req->container_id);
	err = process_create_locked(ctr, ctr->id, &req->OCI.Process, &proc, why, sizeof(why));
	if (err < 0) {
		free(ctr);
		platform_unlock();
		call_error(call, create_error_code(err), "%s", why);
		goto out;
	}
	ctr->init = proc;
	ctr->next = agent->containers;
	agent->containers = ctr;
	agent->ncontainers++;
	agent_log_locked(agent, "info", ctr->id, "container created: %s", proc->prog->name);
	platform_unlock();
	REPLY_EMPTY(call);
out:
	free(req);
}

static void start_container(struct call *call)
{
	grpc_StartContainerRequest req;
	struct container *ctr;
	int err;

	if (!call_decode(call, grpc_StartContainerRequest_fields, &req))
		return;
	platform_lock();
	ctr = find_ctr_locked(call, req.container_id);
	if (!ctr) {
		platform_unlock();
		return;
	}
	if (ctr->started || ctr->removing) {
		platform_unlock();
		call_error(call, GRPC_FAILED_PRECONDITION, "container '%s' %s", req.container_id,
			   ctr->removing ? "is being removed" : "was started already");
		return;
	}
	ctr->started = true;
	ctr->init->state = PROC_RUNNING;
	ctr->holds++;
	platform_unlock();
	err = process_start(ctr->init);
	platform_lock();
	if (err < 0)
		ctr->started = false;
	ctr->holds--;
	parks_poll_locked(ctr->agent);
	platform_unlock();
	if (err < 0)
		call_error(call, GRPC_RESOURCE_EXHAUSTED, "cannot start a task for container "
			   "'%s' (out of memory: fewer containers or a smaller agent.stack_kib)",
			   req.container_id);
	else
		REPLY_EMPTY(call);
}

static void exec_process(struct call *call)
{
	grpc_ExecProcessRequest *req = calloc(1, sizeof(*req));
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
	platform_lock();
	ctr = find_ctr_locked(call, req->container_id);
	if (!ctr) {
		platform_unlock();
		goto out;
	}
	if (!ctr->started || ctr->removing || ctr->init->state != PROC_RUNNING) {
		platform_unlock();
		call_error(call, GRPC_FAILED_PRECONDITION, "container '%s' is not running "
			   "(exec needs a started container whose init process still runs)",
			   req->container_id);
		goto out;
	}
	if (process_find(ctr, req->exec_id)) {
		platform_unlock();
		call_error(call, GRPC_ALREADY_EXISTS, "container '%s' already has a process "
			   "'%s'", req->container_id, req->exec_id);
		goto out;
	}
	err = process_create_locked(ctr, req->exec_id, &req->process, &proc, why, sizeof(why));
	if (err < 0) {
		platform_unlock();
		call_error(call, create_error_code(err), "%s", why);
		goto out;
	}
	proc->state = PROC_RUNNING;
	ctr->holds++;
	platform_unlock();
	err = process_start(proc);
	platform_lock();
	if (err < 0)
		proc->exit_status = 127;
	if (err < 0)
		proc->state = PROC_EXITED, proc->out.eof = proc->err.eof = proc->in.broken = true;
	ctr->holds--;
	parks_poll_locked(ctr->agent);
	platform_unlock();
	if (err < 0)
		call_error(call, GRPC_RESOURCE_EXHAUSTED, "cannot start a task for '%s' (out of "
			   "memory)", req->exec_id);
	else
		REPLY_EMPTY(call);
out:
	free(req);
}

static void signal_process(struct call *call)
{
	grpc_SignalProcessRequest req;
	struct process *targets[64];
	struct container *ctr;
	unsigned n = 0;
	uint32_t sig;

	if (!call_decode(call, grpc_SignalProcessRequest_fields, &req))
		return;
	sig = req.signal;
	if (sig != 0 && sig != 1 && sig != 2 && sig != 3 && sig != SIGNAL_KILL && sig != 15) {
		call_error(call, GRPC_INVALID_ARGUMENT, "signal %u is not supported: use 9 (KILL), "
			   "15 (TERM), 2 (INT), 1 (HUP), 3 (QUIT) or 0", sig);
		return;
	}
	platform_lock();
	ctr = find_ctr_locked(call, req.container_id);
	if (!ctr) {
		platform_unlock();
		return;
	}
	if (!req.exec_id[0]) {
		for (struct process *p = ctr->procs; p && n < 64; p = p->next)
			targets[n++] = p;
	} else {
		struct process *proc = process_find(ctr, req.exec_id);

		if (!proc) {
			platform_unlock();
			call_error(call, GRPC_NOT_FOUND, "container '%s' has no process '%s'",
				   req.container_id, req.exec_id);
			return;
		}
		if (proc->state == PROC_CREATED) {
			platform_unlock();
			call_error(call, GRPC_FAILED_PRECONDITION, "process '%s' has not been "
				   "started yet (StartContainer first)", req.exec_id);
			return;
		}
		targets[n++] = proc;
	}
	ctr->holds++;
	agent_log_locked(ctr->agent, "info", ctr->id, "signal %u to %s", sig,
			 req.exec_id[0] ? req.exec_id : "every process");
	platform_unlock();
	for (unsigned i = 0; i < n; i++)
		process_signal(targets[i], sig);
	platform_lock();
	ctr->holds--;
	parks_poll_locked(ctr->agent);
	platform_unlock();
	REPLY_EMPTY(call);
}

static void wait_process(struct call *call)
{
	grpc_WaitProcessRequest req;
	struct process *proc;

	if (!call_decode(call, grpc_WaitProcessRequest_fields, &req))
		return;
	platform_lock();
	proc = find_proc_locked(call, req.container_id, req.exec_id);
	if (proc) {
		if (proc->state == PROC_EXITED) {
			grpc_WaitProcessResponse resp = { proc->exit_status };

			call_reply_locked(call->conn, call->stream_id, GRPC_OK, NULL,
					  grpc_WaitProcessResponse_fields, &resp, false);
			call->answered = true;
		} else {
			park_locked(call, PARK_WAIT, proc->ctr, proc, 0, NULL, 0);
		}
	}
	platform_unlock();
}

static void read_stream(struct call *call, bool err_stream)
{
	grpc_ReadStreamRequest req;
	struct process *proc;
	struct park probe;

	if (!call_decode(call, grpc_ReadStreamRequest_fields, &req))
		return;
	platform_lock();
	proc = find_proc_locked(call, req.container_id, req.exec_id);
	if (proc) {
		probe = (struct park){ .conn = call->conn, .stream_id = call->stream_id,
				       .kind = err_stream ? PARK_READ_ERR : PARK_READ_OUT,
				       .ctr = proc->ctr, .proc = proc, .len = req.len };
		if (park_try_locked(&probe))
			call->answered = true;
		else
			park_locked(call, probe.kind, proc->ctr, proc, req.len, NULL, 0);
	}
	platform_unlock();
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

	if (!req) {
		call_error(call, GRPC_RESOURCE_EXHAUSTED, "agent is out of memory");
		return;
	}
	if (!call_decode(call, grpc_WriteStreamRequest_fields, req))
		goto out;
	platform_lock();
	proc = find_proc_locked(call, req->container_id, req->exec_id);
	if (proc) {
		probe = (struct park){ .conn = call->conn, .stream_id = call->stream_id,
				       .kind = PARK_WRITE_IN, .ctr = proc->ctr, .proc = proc,
				       .data = req->data.bytes, .data_len = req->data.size };
		if (req->data.size == 0) {
			grpc_WriteStreamResponse resp = { 0 };

			call_reply_locked(call->conn, call->stream_id, GRPC_OK, NULL,
					  grpc_WriteStreamResponse_fields, &resp, false);
			call->answered = true;
		} else if (park_try_locked(&probe)) {
			call->answered = true;
		} else {
			uint8_t *copy = malloc(req->data.size);

			if (copy)
				memcpy(copy, req->data.bytes, req->data.size);
			if (copy)
				park_locked(call, PARK_WRITE_IN, proc->ctr, proc, 0, copy,
					    req->data.size);
			else
				call_reply_locked(call->conn, call->stream_id,
						  GRPC_RESOURCE_EXHAUSTED, "agent is out of memory",
						  NULL, NULL, false);
			call->answered = true;
		}
	}
	platform_unlock();
out:
	free(req);
}

static void close_stdin(struct call *call)
{
	grpc_CloseStdinRequest req;
	struct process *proc;

	if (!call_decode(call, grpc_CloseStdinRequest_fields, &req))
		return;
	platform_lock();
	proc = find_proc_locked(call, req.container_id, req.exec_id);
	if (proc) {
		proc->in.eof = true;
		platform_wake(&proc->wq);
		parks_poll_locked(call->conn->agent); /* parked writes fail now */
	}
	platform_unlock();
	if (proc)
		REPLY_EMPTY(call);
}

static void remove_container(struct call *call)
{
	struct agent *agent = call->conn->agent;
	grpc_RemoveContainerRequest req;
	struct process *targets[64];
	struct container *ctr;
	unsigned n = 0;

	if (!call_decode(call, grpc_RemoveContainerRequest_fields, &req))
		return;
	platform_lock();
	ctr = find_ctr_locked(call, req.container_id);
	if (!ctr) {
		platform_unlock();
		return;
	}
	if (ctr->removing) {
		platform_unlock();
		call_error(call, GRPC_FAILED_PRECONDITION, "container '%s' is being removed "
			   "already", req.container_id);
		return;
	}
	for (struct process *p = ctr->procs; p && n < 64; p = p->next)
		if (p->state == PROC_RUNNING)
			targets[n++] = p;
	if (!n) {
		container_remove_locked(agent, ctr);
		platform_unlock();
		REPLY_EMPTY(call);
		return;
	}
	/* Kata: RemoveContainer kills what still runs and waits for it. */
	ctr->removing = true;
	if (req.timeout) {
		uint64_t limit = platform_now_ns() + (uint64_t)req.timeout * 1000000000ull;

		if (limit < call->deadline_ns)
			call->deadline_ns = limit;
	}
	park_locked(call, PARK_REMOVE, ctr, NULL, 0, NULL, 0);
	ctr->holds++;
	platform_unlock();
	for (unsigned i = 0; i < n; i++)
		process_signal(targets[i], SIGNAL_KILL);
	platform_lock();
	ctr->holds--;
	parks_poll_locked(agent);
	platform_unlock();
}

/* ---- vsockagent.Extras ---- */

static const char *state_name(enum proc_state state)
{
	return state == PROC_CREATED ? "created" : state == PROC_RUNNING ? "running" : "exited";
}

static void list_containers(struct call *call)
{
	struct agent *agent = call->conn->agent;
	vsockagent_ListContainersRequest req;
	vsockagent_ListContainersResponse *resp = calloc(1, sizeof(*resp));

	if (!resp) {
		call_error(call, GRPC_RESOURCE_EXHAUSTED, "agent is out of memory");
		return;
	}
	if (call_decode(call, vsockagent_ListContainersRequest_fields, &req)) {
		const size_t max = sizeof(resp->processes) / sizeof(resp->processes[0]);

		platform_lock();
		for (struct container *ctr = agent->containers; ctr; ctr = ctr->next)
			for (struct process *p = ctr->procs; p && resp->processes_count < max;
			     p = p->next) {
				vsockagent_ProcessState *s = &resp->processes[resp->processes_count++];

				snprintf(s->container_id, sizeof(s->container_id), "%s", ctr->id);
				snprintf(s->exec_id, sizeof(s->exec_id), "%s", p->exec_id);
				snprintf(s->state, sizeof(s->state), "%s", state_name(p->state));
				s->exit_status = p->state == PROC_EXITED ? p->exit_status : 0;
				snprintf(s->program, sizeof(s->program), "%s", p->prog->name);
			}
		platform_unlock();
		call_reply(call, vsockagent_ListContainersResponse_fields, resp);
	}
	free(resp);
}

/* ---- dispatch ---- */

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
}
