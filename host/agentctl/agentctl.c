/*
 * agentctl.c -- command-line client of the guest agent (DESIGN §6): ttRPC
 * over hybrid vsock (hvsock://UDS:PORT, Firecracker-style CONNECT) or
 * AF_VSOCK (vsock://CID:PORT), Kata's grpc.AgentService / grpc.Health.
 *
 *   agentctl --addr hvsock:///run/vsock-agent/vsock.sock:1024 run echo hello
 *   agentctl logs --listen hvsock:///run/vsock-agent/vsock.sock:1025
 *   agentctl --addr unix:///run/vsock-agent/vsock.sock --hybrid-vsock check
 *
 * Every error is one line on stderr and a non-zero exit (2 for usage,
 * 1 for a failed call; `run` and `wait` exit with the program's status).
 */
#include <errno.h>
#include <getopt.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <pb_decode.h>
#include <pb_encode.h>

#include "agent.pb.h"
#include "agentext.pb.h"
#include "google/protobuf/empty.pb.h"
#include "health.pb.h"
#include "host/agentctl/addr.h"
#include "host/agentctl/text.h"
#include "ttrpc.pb.h"

#define AGENT     "grpc.AgentService"
#define MAX_FRAME (4u << 20)
#define CHUNK     32768

static const char *prog = "agentctl";
static int conn_fd = -1;         /* connection to the agent */
static uint32_t next_stream = 1; /* next odd stream id */

static void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

/* Guest-chosen text made safe to print (text.h); valid until the next call. */
static const char *shown(const char *guest_text)
{
	static char buf[4096];

	text_escape(buf, sizeof(buf), guest_text, strlen(guest_text));
	return buf;
}

/* ---- addresses (addr.h) ---- */

static bool hybrid_vsock;           /* --hybrid-vsock: unix:// is hybrid vsock */
static uint32_t hybrid_port = 1024; /* --hybrid-vsock-port */

static void parse_addr(const char *uri, struct agent_addr *a)
{
	char err[256];

	if (addr_parse(uri, hybrid_vsock, hybrid_port, a, err, sizeof(err)) < 0)
		die(2, "%s", err);
}

/* A Unix socket address; "@name" is in the abstract namespace. */
static socklen_t unix_sockaddr(struct sockaddr_un *sun, const char *path)
{
	size_t len = strlen(path);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (len >= sizeof(sun->sun_path))
		die(2, "socket path %s is too long", path);
	memcpy(sun->sun_path, path, len);
	if (path[0] == '@')
		sun->sun_path[0] = '\0';
	else
		len++; /* the NUL */
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
}

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die(1, "connection to the agent lost while sending: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

static int connect_addr(const struct agent_addr *a)
{
	int fd;

	if (a->kind == ADDR_VSOCK) {
		struct sockaddr_vm svm = { .svm_family = AF_VSOCK,
			                   .svm_cid = a->cid,
			                   .svm_port = a->port };

		if (a->cid == ADDR_CID_ANY)
			die(2, "vsock://-1 (any CID) is for --listen; name the guest's CID");
		fd = socket(AF_VSOCK, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&svm, sizeof(svm)) < 0)
			die(1, "cannot connect to vsock %u:%u: %s", a->cid, a->port,
			    strerror(errno));
		return fd;
	}

	struct sockaddr_un sun;
	socklen_t sun_len = unix_sockaddr(&sun, a->path);

	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sun_len) < 0)
		die(1, "cannot connect to %s: %s (is the backend running?)", a->path,
		    strerror(errno));
	if (a->kind == ADDR_HYBRID) {
		char line[256];
		size_t used = 0;
		int n = snprintf(line, sizeof(line), "CONNECT %u\n", a->port);

		write_all(fd, line, (size_t)n);
		while (used < sizeof(line) - 1) { /* byte by byte: the stream follows */
			ssize_t got = read(fd, line + used, 1);

			if (got <= 0)
				die(1,
				    "hybrid vsock: no answer to CONNECT %u (nothing listens on "
				    "guest port %u?)",
				    a->port, a->port);
			if (line[used++] == '\n')
				break;
		}
		line[used] = '\0';
		if (strncmp(line, "OK ", 3) != 0)
			die(1, "hybrid vsock: CONNECT %u refused: %s", a->port, shown(line));
	}
	return fd;
}

/* ---- ttRPC ---- */

struct bytes {
	uint8_t *data;
	size_t len;
};

static bool enc_bytes(pb_ostream_t *s, const pb_field_t *f, void *const *arg)
{
	const struct bytes *b = *arg;

	return !b->len || (pb_encode_tag_for_field(s, f) && pb_encode_string(s, b->data, b->len));
}

static bool dec_bytes(pb_istream_t *s, const pb_field_t *f, void **arg)
{
	struct bytes *b = *arg;

	b->len = s->bytes_left;
	b->data = malloc(b->len + 1);
	return b->data && pb_read(s, b->data, b->len);
}

static uint32_t send_request(const char *method_path, const pb_msgdesc_t *fields, const void *req)
{
	ttrpc_Request r = ttrpc_Request_init_zero;
	struct bytes inner = { NULL, 0 };
	uint32_t sid = next_stream;
	const char *slash = strchr(method_path, '/');
	uint8_t *buf;
	size_t total;
	pb_ostream_t os;

	next_stream += 2;
	if (!pb_get_encoded_size(&inner.len, fields, req) || !(inner.data = malloc(inner.len + 1)))
		die(1, "cannot encode the request");
	os = pb_ostream_from_buffer(inner.data, inner.len);
	if (!pb_encode(&os, fields, req))
		die(1, "cannot encode the request: %s", PB_GET_ERROR(&os));
	snprintf(r.service, sizeof(r.service), "%.*s", (int)(slash - method_path), method_path);
	snprintf(r.method, sizeof(r.method), "%s", slash + 1);
	r.payload.funcs.encode = enc_bytes;
	r.payload.arg = &inner;
	pb_get_encoded_size(&total, ttrpc_Request_fields, &r);
	buf = malloc(10 + total);
	if (!buf)
		die(1, "out of memory");
	buf[0] = (uint8_t)(total >> 24);
	buf[1] = (uint8_t)(total >> 16);
	buf[2] = (uint8_t)(total >> 8);
	buf[3] = (uint8_t)total;
	buf[4] = (uint8_t)(sid >> 24);
	buf[5] = (uint8_t)(sid >> 16);
	buf[6] = (uint8_t)(sid >> 8);
	buf[7] = (uint8_t)sid;
	buf[8] = 1;
	buf[9] = 0;
	os = pb_ostream_from_buffer(buf + 10, total);
	pb_encode(&os, ttrpc_Request_fields, &r);
	write_all(conn_fd, buf, 10 + total);
	free(buf);
	free(inner.data);
	return sid;
}

static void read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die(1, "connection to the agent closed unexpectedly");
		p += n;
		len -= (size_t)n;
	}
}

#define MESSAGE_MAX 1024 /* the most of an error message kept (the rest: "...") */

struct response {
	uint32_t stream;           /* which request */
	int code;                  /* gRPC status */
	char message[MESSAGE_MAX]; /* its text, cut to fit */
	struct bytes payload;      /* the method's response (owned) */
};

/* Status.message: any length on the wire; what fits is kept, then "...". */
static bool dec_message(pb_istream_t *s, const pb_field_t *f, void **arg)
{
	char *out = *arg;
	size_t keep = s->bytes_left < MESSAGE_MAX - 1 ? s->bytes_left : MESSAGE_MAX - 4;

	(void)f;
	if (!pb_read(s, (uint8_t *)out, keep))
		return false;
	out[keep] = '\0';
	if (s->bytes_left) {
		strcpy(out + keep, "...");
		return pb_read(s, NULL, s->bytes_left);
	}
	return true;
}

static void recv_response(struct response *resp)
{
	uint8_t hdr[10], *buf;
	uint32_t len;
	ttrpc_Response r = ttrpc_Response_init_zero;
	pb_istream_t is;

	read_all(conn_fd, hdr, sizeof(hdr));
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (len > MAX_FRAME)
		die(1, "the agent sent a %u-byte frame: too big", len);
	resp->stream = (uint32_t)hdr[4] << 24 | (uint32_t)hdr[5] << 16 | (uint32_t)hdr[6] << 8 |
	               hdr[7];
	buf = malloc(len + 1);
	read_all(conn_fd, buf, len);
	resp->payload = (struct bytes){ NULL, 0 };
	resp->message[0] = '\0';
	r.payload.funcs.decode = dec_bytes;
	r.payload.arg = &resp->payload;
	r.status.message.funcs.decode = dec_message;
	r.status.message.arg = resp->message;
	is = pb_istream_from_buffer(buf, len);
	if (hdr[8] != 2 || !pb_decode(&is, ttrpc_Response_fields, &r))
		die(1, "the agent sent a malformed response");
	resp->code = r.status.code;
	free(buf);
}

static bool decode_payload(struct response *resp, const pb_msgdesc_t *fields, void *msg)
{
	pb_istream_t is = pb_istream_from_buffer(
	        resp->payload.data ? resp->payload.data : (uint8_t *)"", resp->payload.len);
	bool ok = pb_decode(&is, fields, msg);

	free(resp->payload.data);
	resp->payload.data = NULL;
	return ok;
}

static const char *code_name(int code)
{
	static const char *names[] = { "OK",
		                       "CANCELLED",
		                       "UNKNOWN",
		                       "INVALID_ARGUMENT",
		                       "DEADLINE_EXCEEDED",
		                       "NOT_FOUND",
		                       "ALREADY_EXISTS",
		                       "PERMISSION_DENIED",
		                       "RESOURCE_EXHAUSTED",
		                       "FAILED_PRECONDITION",
		                       "ABORTED",
		                       "OUT_OF_RANGE",
		                       "UNIMPLEMENTED",
		                       "INTERNAL",
		                       "UNAVAILABLE" };

	return code >= 0 && code < 15 ? names[code] : "UNKNOWN";
}

/* A synchronous call; any error ends the program with one line. */
static void call(const char *method_path, const pb_msgdesc_t *req_fields, const void *req,
                 const pb_msgdesc_t *resp_fields, void *resp)
{
	struct response r;
	uint32_t sid = send_request(method_path, req_fields, req);

	recv_response(&r);
	if (r.stream != sid)
		die(1, "the agent answered stream %u, expected %u", r.stream, sid);
	if (r.code)
		die(1, "%s: %s: %s", strchr(method_path, '/') + 1, code_name(r.code),
		    shown(r.message));
	if (!decode_payload(&r, resp_fields, resp))
		die(1, "%s: cannot decode the response", method_path);
}

/* ---- commands ---- */

static void cmd_check(void)
{
	grpc_CheckRequest req = grpc_CheckRequest_init_zero;
	grpc_HealthCheckResponse resp;

	call("grpc.Health/Check", grpc_CheckRequest_fields, &req, grpc_HealthCheckResponse_fields,
	     &resp);
	printf("%s\n", resp.status == grpc_HealthCheckResponse_ServingStatus_SERVING ?
	                       "SERVING" :
	                       "NOT_SERVING");
	exit(resp.status == grpc_HealthCheckResponse_ServingStatus_SERVING ? 0 : 1);
}

static void cmd_version(void)
{
	grpc_CheckRequest req = grpc_CheckRequest_init_zero;
	grpc_VersionCheckResponse resp;

	call("grpc.Health/Version", grpc_CheckRequest_fields, &req,
	     grpc_VersionCheckResponse_fields, &resp);
	printf("agent %s", shown(resp.agent_version));
	printf(" (%s)\n", shown(resp.grpc_version));
}

#define MAX_ENV 4096 /* -e variables */

struct spec {
	char id[128];      /* --id */
	char exec_id[128]; /* exec: --exec-id */
	bool interactive;  /* -i */
	int argc;          /* program and arguments */
	char **argv;
	int envc; /* -e K=V */
	char *env[MAX_ENV];
};

struct strings {
	int n;          /* how many */
	char *const *v; /* the strings */
};

/* A repeated string field, one entry per string (Process.Args, .Env). */
static bool enc_strings(pb_ostream_t *stream, const pb_field_t *field, void *const *arg)
{
	const struct strings *list = *arg;

	for (int i = 0; i < list->n; i++)
		if (!pb_encode_tag_for_field(stream, field) ||
		    !pb_encode_string(stream, (const pb_byte_t *)list->v[i], strlen(list->v[i])))
			return false;
	return true;
}

/* p points into *s until the request is sent. */
static void fill_process(grpc_Process *p, const struct spec *s)
{
	static struct strings args, env;

	args = (struct strings){ s->argc, s->argv };
	env = (struct strings){ s->envc, s->env };
	p->Args = (pb_callback_t){ { .encode = enc_strings }, &args };
	p->Env = (pb_callback_t){ { .encode = enc_strings }, &env };
	snprintf(p->Cwd, sizeof(p->Cwd), "/");
}

static void parse_spec(int argc, char **argv, struct spec *s, bool program)
{
	static const struct option opts[] = { { "id", required_argument, NULL, 'I' },
		                              { "exec-id", required_argument, NULL, 'X' },
		                              { NULL, 0, NULL, 0 } };
	int c;

	memset(s, 0, sizeof(*s));
	optind = 1;
	while ((c = getopt_long(argc, argv, "+ie:", opts, NULL)) != -1) {
		switch (c) {
		case 'I':
			snprintf(s->id, sizeof(s->id), "%s", optarg);
			break;
		case 'X':
			snprintf(s->exec_id, sizeof(s->exec_id), "%s", optarg);
			break;
		case 'i':
			s->interactive = true;
			break;
		case 'e':
			if (s->envc == MAX_ENV || !strchr(optarg, '='))
				die(2, "-e wants K=V (at most %d)", MAX_ENV);
			s->env[s->envc++] = optarg;
			break;
		default:
			die(2, "bad option; see `%s help`", prog);
		}
	}
	s->argc = argc - optind;
	s->argv = argv + optind;
	if (program && s->argc < 1)
		die(2, "%s: which program? (e.g. echo hello)", argv[0]);
	if (!s->id[0])
		snprintf(s->id, sizeof(s->id), "ctr-%ld-%d", (long)time(NULL), (int)getpid());
}

static void create(const struct spec *s)
{
	static grpc_CreateContainerRequest req;
	google_protobuf_Empty out;

	memset(&req, 0, sizeof(req));
	snprintf(req.container_id, sizeof(req.container_id), "%s", s->id);
	snprintf(req.exec_id, sizeof(req.exec_id), "%s", s->id);
	req.has_OCI = true;
	req.OCI.has_Process = true;
	fill_process(&req.OCI.Process, s);
	call(AGENT "/CreateContainer", grpc_CreateContainerRequest_fields, &req,
	     google_protobuf_Empty_fields, &out);
}

static void start(const char *id)
{
	grpc_StartContainerRequest req = grpc_StartContainerRequest_init_zero;
	google_protobuf_Empty out;

	snprintf(req.container_id, sizeof(req.container_id), "%s", id);
	call(AGENT "/StartContainer", grpc_StartContainerRequest_fields, &req,
	     google_protobuf_Empty_fields, &out);
}

/*
 * Stream stdout/stderr live (one ReadStdout and one ReadStderr always in
 * flight), forward stdin with -i, then WaitProcess; returns the status.
 */
/*
 * The end of a stream, as Kata's agent answers a read there (rpc.rs
 * read_stream): INTERNAL with "read meet eof" in the message (its Debug
 * formatting may quote it).
 */
static bool read_eof(const struct response *r, uint32_t out_sid, uint32_t err_sid)
{
	return (r->stream == out_sid || r->stream == err_sid) && r->code == 13 &&
	       strstr(r->message, "read meet eof") != NULL;
}

static int attach(const char *id, const char *exec_id, bool interactive)
{
	grpc_ReadStreamRequest rreq = grpc_ReadStreamRequest_init_zero;
	static grpc_WriteStreamRequest wreq;
	static grpc_ReadStreamResponse rresp;
	grpc_WaitProcessRequest wait = grpc_WaitProcessRequest_init_zero;
	uint32_t out_sid, err_sid, write_sid = 0, close_sid = 0, wait_sid = 0;
	bool out_eof = false, err_eof = false, in_eof = !interactive;

	snprintf(rreq.container_id, sizeof(rreq.container_id), "%s", id);
	snprintf(rreq.exec_id, sizeof(rreq.exec_id), "%s", exec_id);
	rreq.len = CHUNK;
	memset(&wreq, 0, sizeof(wreq));
	snprintf(wreq.container_id, sizeof(wreq.container_id), "%s", id);
	snprintf(wreq.exec_id, sizeof(wreq.exec_id), "%s", exec_id);
	out_sid = send_request(AGENT "/ReadStdout", grpc_ReadStreamRequest_fields, &rreq);
	err_sid = send_request(AGENT "/ReadStderr", grpc_ReadStreamRequest_fields, &rreq);
	for (;;) {
		struct pollfd fds[2] = { { conn_fd, POLLIN, 0 }, { 0, POLLIN, 0 } };
		struct response r;

		if (out_eof && err_eof && !wait_sid && !write_sid && !close_sid) {
			snprintf(wait.container_id, sizeof(wait.container_id), "%s", id);
			snprintf(wait.exec_id, sizeof(wait.exec_id), "%s", exec_id);
			wait_sid = send_request(AGENT "/WaitProcess",
			                        grpc_WaitProcessRequest_fields, &wait);
		}
		if (poll(fds, in_eof || write_sid || close_sid ? 1 : 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die(1, "poll: %s", strerror(errno));
		}
		if (fds[1].revents && !in_eof && !write_sid) {
			ssize_t n = read(0, wreq.data.bytes, sizeof(wreq.data.bytes));

			if (n > 0) {
				wreq.data.size = (pb_size_t)n;
				write_sid = send_request(AGENT "/WriteStdin",
				                         grpc_WriteStreamRequest_fields, &wreq);
			} else {
				grpc_CloseStdinRequest creq = grpc_CloseStdinRequest_init_zero;

				in_eof = true;
				snprintf(creq.container_id, sizeof(creq.container_id), "%s", id);
				snprintf(creq.exec_id, sizeof(creq.exec_id), "%s", exec_id);
				close_sid = send_request(AGENT "/CloseStdin",
				                         grpc_CloseStdinRequest_fields, &creq);
			}
		}
		if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		recv_response(&r);
		if (r.code && r.stream != write_sid && !read_eof(&r, out_sid, err_sid))
			die(1, "%s: %s", code_name(r.code), shown(r.message));
		if (r.stream == out_sid || r.stream == err_sid) {
			bool is_out = r.stream == out_sid;

			rresp.data.size = 0;
			if (!r.code)
				decode_payload(&r, grpc_ReadStreamResponse_fields, &rresp);
			else
				free(r.payload.data);
			if (rresp.data.size ==
			    0) { /* Kata's EOF error, or an older agent's empty read */
				*(is_out ? &out_eof : &err_eof) = true;
				continue;
			}
			fwrite(rresp.data.bytes, 1, rresp.data.size, is_out ? stdout : stderr);
			fflush(is_out ? stdout : stderr);
			*(is_out ? &out_sid : &err_sid) =
			        send_request(is_out ? AGENT "/ReadStdout" : AGENT "/ReadStderr",
			                     grpc_ReadStreamRequest_fields, &rreq);
		} else if (r.stream == write_sid) {
			grpc_WriteStreamResponse w;

			if (r.code) { /* the program stopped reading: drop the rest */
				in_eof = true;
				write_sid = 0;
				continue;
			}
			decode_payload(&r, grpc_WriteStreamResponse_fields, &w);
			if (w.len < wreq.data.size) { /* the rest, again */
				memmove(wreq.data.bytes, wreq.data.bytes + w.len,
				        wreq.data.size - w.len);
				wreq.data.size -= (pb_size_t)w.len;
				write_sid = send_request(AGENT "/WriteStdin",
				                         grpc_WriteStreamRequest_fields, &wreq);
			} else {
				write_sid = 0;
			}
		} else if (r.stream == close_sid) {
			close_sid = 0;
			free(r.payload.data);
		} else if (r.stream == wait_sid) {
			grpc_WaitProcessResponse w = grpc_WaitProcessResponse_init_zero;

			decode_payload(&r, grpc_WaitProcessResponse_fields, &w);
			return w.status;
		} else {
			free(r.payload.data);
		}
	}
}

static void remove_ctr(const char *id)
{
	grpc_RemoveContainerRequest req = grpc_RemoveContainerRequest_init_zero;
	google_protobuf_Empty out;

	snprintf(req.container_id, sizeof(req.container_id), "%s", id);
	call(AGENT "/RemoveContainer", grpc_RemoveContainerRequest_fields, &req,
	     google_protobuf_Empty_fields, &out);
}

static int cmd_run(int argc, char **argv)
{
	struct spec s;
	int status;

	parse_spec(argc, argv, &s, true);
	create(&s);
	start(s.id);
	status = attach(s.id, s.id, s.interactive);
	remove_ctr(s.id);
	return status;
}

static int cmd_exec(int argc, char **argv)
{
	static grpc_ExecProcessRequest req;
	google_protobuf_Empty out;
	struct spec s;

	parse_spec(argc, argv, &s, false);
	if (s.argc < 2)
		die(2, "usage: exec [--exec-id E] [-i] [-e K=V] CONTAINER PROGRAM [ARGS...]");
	snprintf(s.id, sizeof(s.id), "%s", s.argv[0]);
	s.argv++;
	s.argc--;
	if (!s.exec_id[0])
		snprintf(s.exec_id, sizeof(s.exec_id), "exec-%d", (int)getpid());
	memset(&req, 0, sizeof(req));
	snprintf(req.container_id, sizeof(req.container_id), "%s", s.id);
	snprintf(req.exec_id, sizeof(req.exec_id), "%s", s.exec_id);
	req.has_process = true;
	fill_process(&req.process, &s);
	call(AGENT "/ExecProcess", grpc_ExecProcessRequest_fields, &req,
	     google_protobuf_Empty_fields, &out);
	return attach(s.id, s.exec_id, s.interactive);
}

static int parse_signal(const char *s)
{
	static const struct {
		const char *name;
		int num;
	} sigs[] = { { "KILL", 9 }, { "TERM", 15 }, { "INT", 2 }, { "HUP", 1 }, { "QUIT", 3 } };
	char *end;
	long n;

	if (strncmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (strcmp(s, sigs[i].name) == 0)
			return sigs[i].num;
	n = strtol(s, &end, 10);
	if (*end || n < 0 || n > 64)
		die(2, "unknown signal '%s' (KILL, TERM, INT, HUP, QUIT or a number)", s);
	return (int)n;
}

static void cmd_kill(int argc, char **argv)
{
	grpc_SignalProcessRequest req = grpc_SignalProcessRequest_init_zero;
	google_protobuf_Empty out;
	int c, sig = 9; /* SIGKILL, as kata-agent-ctl */

	optind = 1;
	while ((c = getopt(argc, argv, "+s:")) != -1) {
		if (c != 's')
			die(2, "usage: kill [-s SIG] CONTAINER [EXEC_ID]");
		sig = parse_signal(optarg);
	}
	if (argc - optind < 1 || argc - optind > 2)
		die(2, "usage: kill [-s SIG] CONTAINER [EXEC_ID]");
	snprintf(req.container_id, sizeof(req.container_id), "%s", argv[optind]);
	/* No exec id: "" names the container as a whole, as Kata's runtime
	 * sends it (the init process; every process for SIGKILL). */
	snprintf(req.exec_id, sizeof(req.exec_id), "%s",
	         argc - optind == 2 ? argv[optind + 1] : "");
	req.signal = (uint32_t)sig;
	call(AGENT "/SignalProcess", grpc_SignalProcessRequest_fields, &req,
	     google_protobuf_Empty_fields, &out);
}

static int cmd_wait(int argc, char **argv)
{
	grpc_WaitProcessRequest req = grpc_WaitProcessRequest_init_zero;
	grpc_WaitProcessResponse resp = grpc_WaitProcessResponse_init_zero;

	if (argc < 2 || argc > 3)
		die(2, "usage: wait CONTAINER [EXEC_ID]");
	snprintf(req.container_id, sizeof(req.container_id), "%s", argv[1]);
	snprintf(req.exec_id, sizeof(req.exec_id), "%s", argc == 3 ? argv[2] : argv[1]);
	call(AGENT "/WaitProcess", grpc_WaitProcessRequest_fields, &req,
	     grpc_WaitProcessResponse_fields, &resp);
	printf("%d\n", resp.status);
	return resp.status;
}

static void cmd_ps(void)
{
	vsockagent_ListContainersRequest req = vsockagent_ListContainersRequest_init_zero;
	static vsockagent_ListContainersResponse resp;

	call("vsockagent.Extras/ListContainers", vsockagent_ListContainersRequest_fields, &req,
	     vsockagent_ListContainersResponse_fields, &resp);
	printf("%-24s %-16s %-10s %-8s %s\n", "CONTAINER", "EXEC", "PROGRAM", "STATE", "STATUS");
	for (pb_size_t i = 0; i < resp.processes_count; i++) {
		vsockagent_ProcessState *p = &resp.processes[i];
		char status[16] = "-";

		if (strcmp(p->state, "exited") == 0)
			snprintf(status, sizeof(status), "%d", p->exit_status);
		printf("%-24s ", shown(p->container_id));
		printf("%-16s ", shown(p->exec_id));
		printf("%-10s ", shown(p->program));
		printf("%-8s %s\n", shown(p->state), status);
	}
}

/* ---- logs --listen ----
 * Acknowledges what it printed after each read ("ACK <seq>") and answers
 * the agent's {"ack_request":N} at once (the contract: agent/logstream.h). */

/* One log record, shown as a line (or as sanitized JSON with --json).
 * Every field is the guest's choice: escaped before it reaches the terminal. */
static void print_record(const char *line, bool json)
{
	char msg[2048], level[16], ctr[256], stream[16];
	char shown_msg[4 * sizeof(msg)], shown_level[4 * sizeof(level)], shown_ctr[4 * sizeof(ctr)],
	        shown_stream[4 * sizeof(stream)];
	long long seq = json_get_int(line, "seq");

	if (json) {
		static char clean[4 * 65536];

		json_line_sanitize(clean, sizeof(clean), line, strlen(line));
		printf("%s\n", clean);
		return;
	}
	json_get_string(line, "msg", msg, sizeof(msg));
	json_get_string(line, "level", level, sizeof(level));
	json_get_string(line, "container_id", ctr, sizeof(ctr));
	json_get_string(line, "stream", stream, sizeof(stream));
	if (strcmp(msg, "dropped") == 0 && seq < 0) {
		printf("!! agent dropped records %lld..%lld (its ring overflowed)\n",
		       json_get_int(line, "from"), json_get_int(line, "to"));
		return;
	}
	text_escape(shown_msg, sizeof(shown_msg), msg, strlen(msg));
	text_escape(shown_level, sizeof(shown_level), level, strlen(level));
	text_escape(shown_ctr, sizeof(shown_ctr), ctr, strlen(ctr));
	text_escape(shown_stream, sizeof(shown_stream), stream, strlen(stream));
	printf("%6lld %-5s %s%s%s: %s\n", seq, shown_level, ctr[0] ? shown_ctr : "agent",
	       ctr[0] ? "/" : "", ctr[0] ? shown_stream : "", shown_msg);
}

static int listen_addr(const struct agent_addr *a)
{
	int fd;

	if (a->kind == ADDR_VSOCK) {
		struct sockaddr_vm svm = { .svm_family = AF_VSOCK,
			                   .svm_cid = a->cid,
			                   .svm_port = a->port };

		fd = socket(AF_VSOCK, SOCK_STREAM, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&svm, sizeof(svm)) < 0 ||
		    listen(fd, 4) < 0)
			die(1, "cannot listen on vsock port %u: %s", a->port, strerror(errno));
		return fd;
	}

	/* The backend forwards a guest connection to host port P to UDS_P. */
	char path[ADDR_PATH_MAX + 16];
	struct sockaddr_un sun;
	socklen_t sun_len;

	if (a->kind == ADDR_HYBRID)
		snprintf(path, sizeof(path), "%s_%u", a->path, a->port);
	else
		snprintf(path, sizeof(path), "%s", a->path);
	sun_len = unix_sockaddr(&sun, path);
	if (path[0] != '@')
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sun_len) < 0 || listen(fd, 4) < 0)
		die(1, "cannot listen on %s: %s", path, strerror(errno));
	return fd;
}

static int cmd_logs(int argc, char **argv)
{
	static const struct option opts[] = { { "listen", required_argument, NULL, 'l' },
		                              { "json", no_argument, NULL, 'j' },
		                              { NULL, 0, NULL, 0 } };
	const char *where = NULL;
	bool json = false;
	struct agent_addr a;
	int c, lfd;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'l')
			where = optarg;
		else if (c == 'j')
			json = true;
		else
			die(2, "usage: logs --listen ADDR [--json]");
	}
	if (!where)
		die(2, "usage: logs --listen ADDR [--json]");
	parse_addr(where, &a);
	lfd = listen_addr(&a);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) { /* one agent connection after another: it reconnects */
		static char buf[1 << 16];
		size_t used = 0;
		long long last = -1; /* the highest seq read on this connection */
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			die(1, "accept: %s", strerror(errno));
		}
		for (;;) {
			ssize_t n = read(fd, buf + used, sizeof(buf) - 1 - used);
			bool ack_due = false;
			char *start = buf, *nl;

			if (n <= 0)
				break;
			used += (size_t)n;
			while ((nl = memchr(start, '\n', used - (size_t)(start - buf)))) {
				long long seq, asked;

				*nl = '\0';
				/* The agent's ACK request (agent/logstream.h): not a record;
				 * answered with the last seq read, which covers it. */
				asked = json_get_int(start, "ack_request");
				if (asked >= 0 && json_get_int(start, "seq") < 0) {
					if (asked > last)
						last = asked;
					ack_due = true;
				} else {
					print_record(start, json);
					seq = json_get_int(start, "seq");
					if (seq > last)
						last = seq;
					ack_due |= seq >= 0;
				}
				start = nl + 1;
			}
			used -= (size_t)(start - buf);
			memmove(buf, start, used);
			if (used == sizeof(buf) - 1)
				used = 0;           /* a line longer than the buffer: drop it */
			if (ack_due && last >= 0) { /* what was printed, after each read */
				char ack[32];
				int len = snprintf(ack, sizeof(ack), "ACK %lld\n", last);

				if (write(fd, ack, (size_t)len) != len)
					break;
			}
		}
		close(fd);
	}
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: %s [--addr ADDR] [--hybrid-vsock [--hybrid-vsock-port N]] COMMAND [ARGS]\n"
	        "  check | version | ps | shutdown\n"
	        "  run [--id ID] [-e K=V] [-i] PROGRAM [ARGS...]   create, start, stream, wait, rm\n"
	        "  create [--id ID] [-e K=V] PROGRAM [ARGS...]     prints the id\n"
	        "  start ID | wait ID [EXEC] | rm ID\n"
	        "  exec [--exec-id E] [-i] [-e K=V] ID PROGRAM [ARGS...]\n"
	        "  kill [-s SIG] ID [EXEC]     SIG: KILL (default), TERM, ... or 1-64;\n"
	        "                              no EXEC: the container (Kata's empty exec id)\n"
	        "  logs --listen ADDR [--json]\n"
	        "ADDR (Kata's forms; scheme in any case; also AGENTCTL_ADDR or --server-address):\n"
	        "  hvsock:///PATH/UDS:PORT   hybrid vsock through the backend's Unix socket\n"
	        "  vsock://CID:PORT          AF_VSOCK (vsock://-1:PORT or vsock://:PORT: any CID, --listen)\n"
	        "  unix:///PATH              a Unix socket; with --hybrid-vsock, hybrid vsock to\n"
	        "                            --hybrid-vsock-port (1024)\n",
	        prog);
}

int main(int argc, char **argv)
{
	const char *addr = getenv("AGENTCTL_ADDR");
	const char *cmd;
	struct agent_addr a;

	signal(SIGPIPE, SIG_IGN);
	/* Global options, before the command; kata-agent-ctl's names where it
	 * has them (--server-address is a synonym of --addr). */
	static const struct option global_opts[] = {
		{ "addr", required_argument, NULL, 'a' },
		{ "server-address", required_argument, NULL, 'a' },
		{ "hybrid-vsock", no_argument, NULL, 'H' },
		{ "hybrid-vsock-port", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "+", global_opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			addr = optarg;
			break;
		case 'H':
			hybrid_vsock = true;
			break;
		case 'P':
			if (!addr_parse_port(optarg, &hybrid_port))
				die(2, "--hybrid-vsock-port: '%s' is not a vsock port", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			die(2, "bad option; see `%s help`", prog);
		}
	}
	argc -= optind - 1;
	argv += optind - 1;
	if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	cmd = argv[1];
	argc--, argv++;
	if (strcmp(cmd, "logs") == 0)
		return cmd_logs(argc, argv);
	if (!addr)
		die(2, "no agent address: pass --addr hvsock:///PATH/UDS:1024 or vsock://CID:1024");
	parse_addr(addr, &a);
	conn_fd = connect_addr(&a);
	if (strcmp(cmd, "check") == 0)
		cmd_check();
	else if (strcmp(cmd, "version") == 0)
		cmd_version();
	else if (strcmp(cmd, "run") == 0)
		return cmd_run(argc, argv);
	else if (strcmp(cmd, "create") == 0) {
		struct spec s;

		parse_spec(argc, argv, &s, true);
		create(&s);
		printf("%s\n", s.id);
	} else if (strcmp(cmd, "start") == 0) {
		if (argc != 2)
			die(2, "usage: start CONTAINER");
		start(argv[1]);
	} else if (strcmp(cmd, "exec") == 0)
		return cmd_exec(argc, argv);
	else if (strcmp(cmd, "kill") == 0)
		cmd_kill(argc, argv);
	else if (strcmp(cmd, "wait") == 0)
		return cmd_wait(argc, argv);
	else if (strcmp(cmd, "rm") == 0) {
		if (argc != 2)
			die(2, "usage: rm CONTAINER");
		remove_ctr(argv[1]);
	} else if (strcmp(cmd, "ps") == 0)
		cmd_ps();
	else if (strcmp(cmd, "shutdown") == 0) {
		grpc_DestroySandboxRequest req = grpc_DestroySandboxRequest_init_zero;
		google_protobuf_Empty out;

		call(AGENT "/DestroySandbox", grpc_DestroySandboxRequest_fields, &req,
		     google_protobuf_Empty_fields, &out);
	} else
		die(2, "unknown command '%s'; see `%s help`", cmd, prog);
	return 0;
}
