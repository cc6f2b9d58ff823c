/*
 * fuzz_agent_sequences.c -- libFuzzer target: sequences of the agent's
 * methods over several connections (issue 12): create, start, signal,
 * remove, exec, read, write, close stdin, wait, interleaved on up to
 * FZ_CONNS clients, pipelined, with programs of the catalogue running as
 * tasks on the deterministic fuzz platform, a log listener that may stop
 * acknowledging or go away, virtual time, and preemption points the input
 * picks.
 *
 * The input is a list of commands, one byte each, then its arguments; ids
 * come from a small set so that calls meet each other (c0..c3, exec ids
 * e0..e2 or the container's own, or "").  Every call carries a deadline
 * (timeout_nano) so that all of them must be answered once enough virtual
 * time has passed.  Checked, besides the sanitizers and every answer as it
 * arrives (fuzz_agent.c): at the end each open client reads everything,
 * 20 virtual seconds pass, and every call it made has had exactly one
 * answer; then the agent stops and nothing is left.
 */
#include <stdio.h>
#include <string.h>

#include <pb_encode.h>

#include "agent.pb.h"
#include "agentext.pb.h"
#include "google/protobuf/empty.pb.h"
#include "health.pb.h"
#include "oci.pb.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_agent.h"

#define AGENT      "grpc.AgentService"
#define CONTAINERS 4
#define EXECS      3

/* The programs: each a command line (args from the input fill in %u). */
static const char *const programs[][4] = {
	{ "echo", "hello", "%u" },
	{ "cat" },
	{ "sleep", "0.%u" },
	{ "sleep", "%u" },
	{ "logspam", "%u" },
	{ "sha256sum" },
	{ "exit", "%u" },
	{ "sysinfo" },
	{ "env" },
	{ "pwd" },
	{ "true" },
	{ "false" },
	{ "yes", "y%u" },
	{ "head", "-c", "%u" },
	{ "wc", "-c" },
	{ "nope" },
	{ "" },
	{ "/bin/echo", "via", "path" },
};
#define NPROGRAMS (sizeof(programs) / sizeof(programs[0]))

static const uint32_t signals[] = { 0, 1, 2, 3, 9, 15, 77, 10, 17, 64 };
#define NSIGNALS (sizeof(signals) / sizeof(signals[0]))
static const int64_t timeouts[] = { 1000000, 50000000, 1000000000, 5000000000 };

struct ids {
	char ctr[16];  /* container id */
	char exec[16]; /* exec id: e0..e2, the container's, or "" */
};

static void pick_ids(struct fuzz_input *in, struct ids *ids)
{
	unsigned c = fuzz_byte(in), e = fuzz_byte(in) % (EXECS + 2);

	if (c == 255)
		ids->ctr[0] = '\0';
	else
		snprintf(ids->ctr, sizeof(ids->ctr), "c%u", c % CONTAINERS);
	if (e < EXECS)
		snprintf(ids->exec, sizeof(ids->exec), "e%u", e);
	else if (e == EXECS)
		snprintf(ids->exec, sizeof(ids->exec), "%s", ids->ctr);
	else
		ids->exec[0] = '\0';
}

/* Process.Args / Process.Env: encoded by callback from these (one request
 * is encoded at a time). */
static char fz_args[4][64];
static int fz_argc;

static bool encode_args(pb_ostream_t *stream, const pb_field_t *field, void *const *arg)
{
	for (int i = 0; i < fz_argc; i++)
		if (!pb_encode_tag_for_field(stream, field) ||
		    !pb_encode_string(stream, (const pb_byte_t *)fz_args[i], strlen(fz_args[i])))
			return false;
	return true;
}

static bool encode_env(pb_ostream_t *stream, const pb_field_t *field, void *const *arg)
{
	static const char path[] = "PATH=/bin";

	return pb_encode_tag_for_field(stream, field) &&
	       pb_encode_string(stream, (const pb_byte_t *)path, sizeof(path) - 1);
}

static void fill_process(struct fuzz_input *in, grpc_Process *p)
{
	unsigned which = fuzz_byte(in) % NPROGRAMS, arg = fuzz_byte(in);

	memset(p, 0, sizeof(*p));
	fz_argc = 0;
	for (int i = 0; i < 4 && programs[which][i]; i++)
		snprintf(fz_args[fz_argc++], sizeof(fz_args[0]), programs[which][i],
		         which == 4  ? arg * 3 :
		         which == 13 ? arg * 97 :
		                       arg % 4);
	p->Args.funcs.encode = encode_args;
	p->Env.funcs.encode = encode_env;
	snprintf(p->Cwd, sizeof(p->Cwd), "/w%u", arg & 1);
}

static void call(struct fz_world *w, int conn, struct fuzz_input *in, const char *service,
                 const char *method, const pb_msgdesc_t *fields, const void *msg)
{
	fz_call(w, conn, service, method, fields, msg, timeouts[fuzz_byte(in) % 4]);
}

static void command(struct fz_world *w, struct fuzz_input *in)
{
	static grpc_CreateContainerRequest create;
	static grpc_ExecProcessRequest exec;
	static grpc_WriteStreamRequest write;
	unsigned op = fuzz_byte(in) % 21;
	int conn = (int)(fuzz_byte(in) % FZ_CONNS);
	struct ids ids;

	switch (op) {
	case 0:
		fz_open(w, conn);
		break;
	case 1:
		fz_close(w, conn);
		break;
	case 2:
		pick_ids(in, &ids);
		memset(&create, 0, sizeof(create));
		snprintf(create.container_id, sizeof(create.container_id), "%s", ids.ctr);
		create.has_OCI = true;
		create.OCI.has_Process = true;
		fill_process(in, &create.OCI.Process);
		call(w, conn, in, AGENT, "CreateContainer", grpc_CreateContainerRequest_fields,
		     &create);
		break;
	case 3: {
		grpc_StartContainerRequest req = grpc_StartContainerRequest_init_zero;

		pick_ids(in, &ids);
		snprintf(req.container_id, sizeof(req.container_id), "%s", ids.ctr);
		call(w, conn, in, AGENT, "StartContainer", grpc_StartContainerRequest_fields, &req);
		break;
	}
	case 4: {
		grpc_SignalProcessRequest req = grpc_SignalProcessRequest_init_zero;

		pick_ids(in, &ids);
		snprintf(req.container_id, sizeof(req.container_id), "%s", ids.ctr);
		snprintf(req.exec_id, sizeof(req.exec_id), "%s", ids.exec);
		req.signal = signals[fuzz_byte(in) % NSIGNALS];
		call(w, conn, in, AGENT, "SignalProcess", grpc_SignalProcessRequest_fields, &req);
		break;
	}
	case 5: {
		grpc_RemoveContainerRequest req = grpc_RemoveContainerRequest_init_zero;

		pick_ids(in, &ids);
		snprintf(req.container_id, sizeof(req.container_id), "%s", ids.ctr);
		req.timeout = fuzz_byte(in) % 3;
		call(w, conn, in, AGENT, "RemoveContainer", grpc_RemoveContainerRequest_fields,
		     &req);
		break;
	}
	case 6:
		pick_ids(in, &ids);
		memset(&exec, 0, sizeof(exec));
		snprintf(exec.container_id, sizeof(exec.container_id), "%s", ids.ctr);
		snprintf(exec.exec_id, sizeof(exec.exec_id), "%s", ids.exec);
		exec.has_process = true;
		fill_process(in, &exec.process);
		call(w, conn, in, AGENT, "ExecProcess", grpc_ExecProcessRequest_fields, &exec);
		break;
	case 7:
	case 8: {
		grpc_ReadStreamRequest req = grpc_ReadStreamRequest_init_zero;

		pick_ids(in, &ids);
		snprintf(req.container_id, sizeof(req.container_id), "%s", ids.ctr);
		snprintf(req.exec_id, sizeof(req.exec_id), "%s", ids.exec);
		req.len = fuzz_byte(in) * 160u;
		call(w, conn, in, AGENT, op == 7 ? "ReadStdout" : "ReadStderr",
		     grpc_ReadStreamRequest_fields, &req);
		break;
	}
	case 9: {
		unsigned len = fuzz_byte(in) * 128u + 1, seed = fuzz_byte(in); /* 1 .. 32641 */

		pick_ids(in, &ids);
		memset(&write, 0, sizeof(write));
		snprintf(write.container_id, sizeof(write.container_id), "%s", ids.ctr);
		snprintf(write.exec_id, sizeof(write.exec_id), "%s", ids.exec);
		write.data.size = (pb_size_t)len;
		for (unsigned i = 0; i < len; i++)
			write.data.bytes[i] = (uint8_t)(seed + i * (seed | 1) + (i % 61 == 0) * 10);
		call(w, conn, in, AGENT, "WriteStdin", grpc_WriteStreamRequest_fields, &write);
		break;
	}
	case 10: {
		grpc_CloseStdinRequest req = grpc_CloseStdinRequest_init_zero;

		pick_ids(in, &ids);
		snprintf(req.container_id, sizeof(req.container_id), "%s", ids.ctr);
		snprintf(req.exec_id, sizeof(req.exec_id), "%s", ids.exec);
		call(w, conn, in, AGENT, "CloseStdin", grpc_CloseStdinRequest_fields, &req);
		break;
	}
	case 11: {
		grpc_WaitProcessRequest req = grpc_WaitProcessRequest_init_zero;

		pick_ids(in, &ids);
		snprintf(req.container_id, sizeof(req.container_id), "%s", ids.ctr);
		snprintf(req.exec_id, sizeof(req.exec_id), "%s", ids.exec);
		call(w, conn, in, AGENT, "WaitProcess", grpc_WaitProcessRequest_fields, &req);
		break;
	}
	case 12: {
		grpc_CheckRequest req = grpc_CheckRequest_init_zero;
		vsockagent_ListContainersRequest list = vsockagent_ListContainersRequest_init_zero;

		if (fuzz_byte(in) & 1)
			call(w, conn, in, "grpc.Health", "Check", grpc_CheckRequest_fields, &req);
		else
			call(w, conn, in, "vsockagent.Extras", "ListContainers",
			     vsockagent_ListContainersRequest_fields, &list);
		break;
	}
	case 13:
		fz_settle(w);
		break;
	case 14:
		fz_advance(w, 1ull << (fuzz_byte(in) % 35));
		break;
	case 15:
		w->conns[conn].reading = !w->conns[conn].reading;
		break;
	case 16: /* the log listener stops acknowledging, or starts again */
		w->log_acks = !w->log_acks;
		break;
	case 17: /* the log listener's connection goes away (it listens on) */
		if (w->log_conn) {
			vsock_close(w->log_conn);
			w->log_conn = NULL;
		}
		break;
	case 18: {
		grpc_DestroySandboxRequest req = grpc_DestroySandboxRequest_init_zero;
		grpc_CreateSandboxRequest sb = grpc_CreateSandboxRequest_init_zero;

		if (fuzz_byte(in) & 1) {
			call(w, conn, in, AGENT, "DestroySandbox",
			     grpc_DestroySandboxRequest_fields, &req);
		} else {
			snprintf(sb.sandbox_id, sizeof(sb.sandbox_id), "sb");
			call(w, conn, in, AGENT, "CreateSandbox", grpc_CreateSandboxRequest_fields,
			     &sb);
		}
		break;
	}
	case 19:
		fuzz_platform_set_preempt(conn ? fuzz_byte(in) % 16 + 2 : 0);
		break;
	case 20: { /* the shim's pollers: GetOOMEvent parks, StatsContainer answers */
		grpc_GetOOMEventRequest oom = grpc_GetOOMEventRequest_init_zero;
		grpc_StatsContainerRequest stats = grpc_StatsContainerRequest_init_zero;

		pick_ids(in, &ids);
		if (fuzz_byte(in) & 1) {
			call(w, conn, in, AGENT, "GetOOMEvent", grpc_GetOOMEventRequest_fields,
			     &oom);
		} else {
			snprintf(stats.container_id, sizeof(stats.container_id), "%s", ids.ctr);
			call(w, conn, in, AGENT, "StatsContainer",
			     grpc_StatsContainerRequest_fields, &stats);
		}
		break;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz_world w;
	struct agent_options opts;
	struct fuzz_input in = { data, size };
	unsigned commands = 0;

	fz_options(&opts);
	opts.log_port = 1025;
	opts.log_grace_ns = 1000000000ull; /* a listener that stops acking delays by 1 s at most */
	opts.max_inflight = 8;
	opts.pipe_bytes = 4096; /* pipes fill, programs block: reach those paths */
	fz_start(&w, &opts);
	fz_open(&w, 0);
	while (in.left && commands++ < 200)
		command(&w, &in);
	/* Every call had a deadline: once they passed, each was answered once. */
	for (int i = 0; i < FZ_CONNS; i++)
		w.conns[i].reading = true;
	fz_advance(&w, 20 * 1000000000ull);
	fz_settle(&w);
	for (int i = 0; i < FZ_CONNS; i++) {
		if (w.conns[i].sock && w.conns[i].answered != w.conns[i].sent) {
			fprintf(stderr, "client %d: %u calls, %u answers\n", i, w.conns[i].sent,
			        w.conns[i].answered);
			__builtin_trap();
		}
	}
	fz_stop(&w);
	return 0;
}
