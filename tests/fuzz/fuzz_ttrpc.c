/*
 * fuzz_ttrpc.c -- libFuzzer target: ttRPC frames and the protobuf in them,
 * into the agent's server and dispatcher (agent/ttrpc.c, agent/service.c)
 * over a loopback vsock, on the deterministic fuzz platform.
 *
 * The input is a list of commands (one byte each, then their bytes):
 *   0 I        open client I (of FZ_CONNS)
 *   1 I        close client I
 *   2 I L L .. send L (u16) raw bytes on client I: any framing at all
 *   3 I M T L L ..  a request for method M (of `methods`, some unknown) whose
 *              payload is the next L (u16) bytes, as they are; T picks
 *              timeout_nano
 *   4          settle: run the agent until quiet
 *   5 E        let 2^(E % 34) ns of virtual time pass
 *   6 I        client I stops (or resumes) reading its answers
 *   7 I L L L L T  a frame header claiming a u32 length, type T, and
 *              nothing more (a hostile peer's claim)
 *   8 N        preempt tasks at every (N % 8 + 2)th lock (0: off)
 * Every answer is checked as it arrives (fuzz_agent.c); at the end the
 * agent is stopped and nothing may be left behind.
 */
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_agent.h"

static const struct {
	const char *service, *method;
} methods[] = {
	{ "grpc.Health", "Check" },
	{ "grpc.Health", "Version" },
	{ "grpc.AgentService", "GetGuestDetails" },
	{ "grpc.AgentService", "CreateSandbox" },
	{ "grpc.AgentService", "DestroySandbox" },
	{ "grpc.AgentService", "CreateContainer" },
	{ "grpc.AgentService", "StartContainer" },
	{ "grpc.AgentService", "ExecProcess" },
	{ "grpc.AgentService", "WaitProcess" },
	{ "grpc.AgentService", "SignalProcess" },
	{ "grpc.AgentService", "RemoveContainer" },
	{ "grpc.AgentService", "ReadStdout" },
	{ "grpc.AgentService", "ReadStderr" },
	{ "grpc.AgentService", "WriteStdin" },
	{ "grpc.AgentService", "CloseStdin" },
	{ "vsockagent.Extras", "ListContainers" },
	{ "grpc.AgentService", "SetPolicy" },
	{ "grpc.AgentService", "GetOOMEvent" },
	{ "grpc.AgentService", "UpdateInterface" }, /* echoes field 1 */
	{ "grpc.AgentService", "UpdateRoutes" },
	{ "grpc.AgentService", "UpdateContainer" },
	{ "grpc.AgentService", "StatsContainer" },
	{ "grpc.AgentService", "TtyWinResize" },
	{ "grpc.AgentService", "PauseContainer" },
	{ "grpc.AgentService", "OnlineCPUMem" },
	{ "grpc.AgentService", "CopyFile" },
	{ "grpc.AgentService", "GetMetrics" }, /* not implemented */
	{ "grpc.Nope", "Check" },              /* no such service */
	{ "grpc.\x1b[2J", "Get\r\n\x7f" },     /* a terminal's nightmare */
	{ "", "" },
};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

static const int64_t timeouts[] = { 0, 1000000, 100000000, 2000000000, -1 };

static const uint8_t *take(struct fuzz_input *in, size_t *len)
{
	const uint8_t *at = in->p;

	if (*len > in->left)
		*len = in->left;
	in->p += *len;
	in->left -= *len;
	return at;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz_world w;
	struct agent_options opts;
	struct fuzz_input in = { data, size };
	unsigned commands = 0;

	fz_options(&opts);
	opts.max_frame = 64u << 10; /* frames beyond it are skipped: reach that quickly */
	opts.rx_budget = 256u << 10;
	fz_start(&w, &opts);
	fz_open(&w, 0);
	while (in.left && commands++ < 256) {
		unsigned op = fuzz_byte(&in) % 9, i = op == 4 ? 0 : fuzz_byte(&in);

		if (op != 5 && op != 8)
			i %= FZ_CONNS;
		switch (op) {
		case 0:
			fz_open(&w, (int)i);
			break;
		case 1:
			fz_close(&w, (int)i);
			break;
		case 2: {
			size_t len = fuzz_u16(&in);
			const uint8_t *bytes = take(&in, &len);

			w.conns[i].raw = true;
			fz_send(&w, (int)i, bytes, len);
			break;
		}
		case 3: {
			unsigned m = fuzz_byte(&in) % NMETHODS;
			int64_t timeout = timeouts[fuzz_byte(&in) % 5];
			size_t len = fuzz_u16(&in);
			const uint8_t *payload = take(&in, &len);

			fz_call_raw(&w, (int)i, methods[m].service, methods[m].method, payload, len,
			            timeout);
			break;
		}
		case 4:
			fz_settle(&w);
			break;
		case 5:
			fz_advance(&w, 1ull << (i % 34));
			break;
		case 6:
			w.conns[i].reading = !w.conns[i].reading;
			break;
		case 7: {
			uint8_t hdr[10] = { (uint8_t)fuzz_byte(&in),
				            (uint8_t)fuzz_byte(&in),
				            (uint8_t)fuzz_byte(&in),
				            (uint8_t)fuzz_byte(&in),
				            0,
				            0,
				            0,
				            1,
				            (uint8_t)fuzz_byte(&in),
				            0 };

			w.conns[i].raw = true;
			fz_send(&w, (int)i, hdr, sizeof(hdr));
			break;
		}
		case 8:
			fuzz_platform_set_preempt(i ? i % 8 + 2 : 0);
			break;
		}
	}
	for (int i = 0; i < FZ_CONNS; i++)
		w.conns[i].reading = true;
	fz_settle(&w);
	fz_stop(&w);
	return 0;
}
