/*
 * agent_fixture.c -- see agent_fixture.h.
 */
#include "tests/unit/agent_fixture.h"

#include <stdio.h>

#include <pb_decode.h>
#include <pb_encode.h>

#include "agent.pb.h"
#include "google/protobuf/empty.pb.h"
#include "oci.pb.h"
#include "ttrpc.pb.h"

static void *pump_main(void *opaque)
{
	struct agent_fixture *fx = opaque;

	for (;;) {
		bool stop;

		platform_lock();
		vsock_loopback_pump_locked(fx->pair.lb, 1000);
		vsock_loopback_wait(fx->pair.lb, platform_now_ns() + 2000000);
		stop = fx->pump_stop;
		platform_unlock();
		vsock_core_tick(fx->pair.guest, platform_now_ns());
		vsock_core_tick(fx->pair.host, platform_now_ns());
		if (stop)
			return NULL;
	}
}

void fixture_options(struct agent_options *opts)
{
	agent_options_defaults(opts);
	opts->log_port = 0;
	opts->arch = "host";
	snprintf(opts->boot_id, sizeof(opts->boot_id), "test-boot");
}

static void fixture_teardown(void *arg)
{
	fixture_stop(arg);
}

void fixture_start(struct agent_fixture *fx, const struct agent_options *opts)
{
	memset(fx, 0, sizeof(*fx));
	if (opts)
		fx->opts = *opts;
	else
		fixture_options(&fx->opts);
	pair_init_cfg(&fx->pair, NULL, NULL, 4096);
	CHECK_EQ(pthread_create(&fx->pump, NULL, pump_main, fx), 0);
	fx->running = true;
	harness_defer(fixture_teardown, fx);
	CHECK_EQ(agent_start(fx->pair.guest, &fx->opts, &fx->agent), 0);
}

void fixture_stop(struct agent_fixture *fx)
{
	if (!fx->running)
		return;
	fx->running = false;
	while (fx->clients)
		tclient_close(fx->clients);
	if (fx->agent)
		agent_stop(fx->agent);
	fx->agent = NULL;
	platform_lock();
	fx->pump_stop = true;
	platform_unlock();
	pthread_join(fx->pump, NULL);
	if (harness_failing())
		pair_destroy(&fx->pair); /* whatever the test left open goes too */
	else
		pair_finish(&fx->pair); /* every socket closed, nothing leaked */
}

struct tclient *tclient_open(struct agent_fixture *fx)
{
	struct tclient *c = calloc(1, sizeof(*c));
	struct vsock_addr addr = { GUEST_CID, fx->opts.server_port };

	CHECK(c != NULL);
	c->fx = fx;
	c->next = fx->clients;
	fx->clients = c;
	c->next_stream = 1;
	CHECK_EQ(vsock_socket(fx->pair.host, VSOCK_TYPE_STREAM, &c->sock), 0);
	CHECK_EQ(vsock_connect(c->sock, &addr, 0), 0);
	vsock_setopt(c->sock, VSOCK_OPT_RCVTIMEO_NS, 20 * SECOND_NS);
	return c;
}

void tclient_close(struct tclient *c)
{
	for (struct tclient **link = &c->fx->clients; *link; link = &(*link)->next) {
		if (*link == c) {
			*link = c->next;
			break;
		}
	}
	vsock_close(c->sock);
	free(c);
}

void tclient_send_frame(struct tclient *c, uint32_t stream_id, uint8_t type, const void *payload,
                        size_t len)
{
	uint8_t hdr[10] = { (uint8_t)(len >> 24),
		            (uint8_t)(len >> 16),
		            (uint8_t)(len >> 8),
		            (uint8_t)len,
		            (uint8_t)(stream_id >> 24),
		            (uint8_t)(stream_id >> 16),
		            (uint8_t)(stream_id >> 8),
		            (uint8_t)stream_id,
		            type,
		            0 };

	CHECK_EQ(vsock_send(c->sock, hdr, sizeof(hdr), 0), (long)sizeof(hdr));
	if (len)
		CHECK_EQ(vsock_send(c->sock, payload, len, 0), (long)len);
}

struct bytes {
	uint8_t *data;
	size_t len;
};

static bool enc_bytes(pb_ostream_t *s, const pb_field_t *f, void *const *arg)
{
	const struct bytes *b = *arg;

	return pb_encode_tag_for_field(s, f) && pb_encode_string(s, b->data, b->len);
}

/* A ttrpc.Request for stream sid, encoded (malloc'd, *len bytes). */
static uint8_t *encode_request(const char *service, const char *method, const pb_msgdesc_t *fields,
                               const void *req, int64_t timeout_ns, size_t *len)
{
	ttrpc_Request r = ttrpc_Request_init_zero;
	struct bytes inner = { NULL, 0 };
	size_t total;
	uint8_t *buf;
	pb_ostream_t os;

	CHECK(pb_get_encoded_size(&inner.len, fields, req));
	inner.data = malloc(inner.len + 1);
	os = pb_ostream_from_buffer(inner.data, inner.len);
	CHECK(pb_encode(&os, fields, req));
	snprintf(r.service, sizeof(r.service), "%s", service);
	snprintf(r.method, sizeof(r.method), "%s", method);
	r.timeout_nano = timeout_ns;
	r.payload.funcs.encode = enc_bytes;
	r.payload.arg = &inner;
	CHECK(pb_get_encoded_size(&total, ttrpc_Request_fields, &r));
	buf = malloc(total + 1);
	os = pb_ostream_from_buffer(buf, total);
	CHECK(pb_encode(&os, ttrpc_Request_fields, &r));
	free(inner.data);
	*len = total;
	return buf;
}

uint32_t tclient_send(struct tclient *c, const char *service, const char *method,
                      const pb_msgdesc_t *fields, const void *req, int64_t timeout_ns)
{
	uint32_t sid = c->next_stream;
	size_t total;
	uint8_t *buf = encode_request(service, method, fields, req, timeout_ns, &total);

	c->next_stream += 2;
	tclient_send_frame(c, sid, 1, buf, total);
	free(buf);
	return sid;
}

size_t tclient_frame(struct tclient *c, const char *service, const char *method,
                     const pb_msgdesc_t *fields, const void *req, uint8_t *out, size_t cap)
{
	uint32_t sid = c->next_stream;
	size_t total;
	uint8_t *buf = encode_request(service, method, fields, req, 0, &total);
	uint8_t hdr[10] = { (uint8_t)(total >> 24),
		            (uint8_t)(total >> 16),
		            (uint8_t)(total >> 8),
		            (uint8_t)total,
		            (uint8_t)(sid >> 24),
		            (uint8_t)(sid >> 16),
		            (uint8_t)(sid >> 8),
		            (uint8_t)sid,
		            1,
		            0 };

	c->next_stream += 2;
	CHECK(sizeof(hdr) + total <= cap);
	memcpy(out, hdr, sizeof(hdr));
	memcpy(out + sizeof(hdr), buf, total);
	free(buf);
	return sizeof(hdr) + total;
}

static int recv_full(struct tclient *c, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = vsock_recv(c->sock, p, len, 0);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static bool dec_bytes(pb_istream_t *s, const pb_field_t *f, void **arg)
{
	struct bytes *b = *arg;

	b->len = s->bytes_left;
	b->data = malloc(b->len + 1);
	return pb_read(s, b->data, b->len);
}

/* Status.message into c->message (TCLIENT_MESSAGE_MAX), the rest skipped. */
static bool dec_message(pb_istream_t *s, const pb_field_t *f, void **arg)
{
	char *out = *arg;
	size_t keep = s->bytes_left < TCLIENT_MESSAGE_MAX - 1 ? s->bytes_left :
	                                                        TCLIENT_MESSAGE_MAX - 1;

	(void)f;
	if (!pb_read(s, (uint8_t *)out, keep))
		return false;
	out[keep] = '\0';
	return pb_read(s, NULL, s->bytes_left);
}

bool tclient_eof(const struct tclient *c, int code)
{
	return code == 13 /* INTERNAL */ && strcmp(c->message, "read meet eof") == 0;
}

int tclient_try_recv(struct tclient *c, uint32_t *sid, int *code, const pb_msgdesc_t *fields,
                     void *resp)
{
	uint8_t hdr[10];
	uint32_t len;
	uint8_t *buf;
	ttrpc_Response r = ttrpc_Response_init_zero;
	struct bytes inner = { NULL, 0 };
	pb_istream_t is;
	int err = -1;

	if (recv_full(c, hdr, sizeof(hdr)) < 0 || hdr[8] != 2)
		return -1;
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	*sid = (uint32_t)hdr[4] << 24 | (uint32_t)hdr[5] << 16 | (uint32_t)hdr[6] << 8 | hdr[7];
	buf = malloc(len + 1);
	if (!buf || recv_full(c, buf, len) < 0)
		goto out;
	r.payload.funcs.decode = dec_bytes;
	r.payload.arg = &inner;
	c->message[0] = '\0';
	r.status.message.funcs.decode = dec_message;
	r.status.message.arg = c->message;
	is = pb_istream_from_buffer(buf, len);
	if (!pb_decode(&is, ttrpc_Response_fields, &r))
		goto out;
	*code = r.status.code;
	c->payload_len = inner.len;
	if (inner.data)
		memcpy(c->payload, inner.data,
		       inner.len < sizeof(c->payload) ? inner.len : sizeof(c->payload));
	if (fields && *code == 0) {
		is = pb_istream_from_buffer(inner.data ? inner.data : (uint8_t *)"", inner.len);
		if (!pb_decode(&is, fields, resp))
			goto out;
	}
	err = 0;
out:
	free(inner.data);
	free(buf);
	return err;
}

uint32_t tclient_recv(struct tclient *c, int *code, const pb_msgdesc_t *fields, void *resp)
{
	uint32_t sid = 0;

	CHECK_EQ(tclient_try_recv(c, &sid, code, fields, resp), 0);
	return sid;
}

int tclient_call_timeout(struct tclient *c, const char *service, const char *method,
                         const pb_msgdesc_t *req_fields, const void *req,
                         const pb_msgdesc_t *resp_fields, void *resp, int64_t timeout_ns)
{
	uint32_t sid = tclient_send(c, service, method, req_fields, req, timeout_ns);
	int code;

	CHECK_EQ(tclient_recv(c, &code, resp_fields, resp), sid);
	if (code && getenv("HARNESS_VERBOSE"))
		printf("  %s/%s: %d %s\n", service, method, code, c->message);
	return code;
}

int tclient_call(struct tclient *c, const char *service, const char *method,
                 const pb_msgdesc_t *req_fields, const void *req, const pb_msgdesc_t *resp_fields,
                 void *resp)
{
	return tclient_call_timeout(c, service, method, req_fields, req, resp_fields, resp, 0);
}

/* ---- conveniences ---- */

#define AGENT "grpc.AgentService"

bool tstrings_encode(pb_ostream_t *stream, const pb_field_t *field, void *const *arg)
{
	const struct tstrings *list = *arg;

	for (int i = 0; i < list->n; i++)
		if (!pb_encode_tag_for_field(stream, field) ||
		    !pb_encode_string(stream, (const pb_byte_t *)list->v[i], strlen(list->v[i])))
			return false;
	return true;
}

void tprocess_set(grpc_Process *p, struct tstrings *args, const char *const *argv,
                  struct tstrings *env, const char *const *envp)
{
	static const char *const path_only[] = { "PATH=/bin", NULL };
	int n = 0;

	if (!envp)
		envp = path_only;
	while (argv && argv[n])
		n++;
	*args = (struct tstrings){ n, argv };
	for (n = 0; envp[n]; n++)
		;
	*env = (struct tstrings){ n, envp };
	p->Args = (pb_callback_t){ { .encode = tstrings_encode }, args };
	p->Env = (pb_callback_t){ { .encode = tstrings_encode }, env };
}

int agent_create(struct tclient *c, const char *id, const char *const *args)
{
	static grpc_CreateContainerRequest req;
	static struct tstrings argl, envl;
	google_protobuf_Empty out;

	memset(&req, 0, sizeof(req));
	snprintf(req.container_id, sizeof(req.container_id), "%s", id);
	snprintf(req.exec_id, sizeof(req.exec_id), "%s", id);
	req.has_OCI = true;
	req.OCI.has_Process = true;
	snprintf(req.OCI.Process.Cwd, sizeof(req.OCI.Process.Cwd), "/work");
	tprocess_set(&req.OCI.Process, &argl, args, &envl, NULL);
	return tclient_call(c, AGENT, "CreateContainer", grpc_CreateContainerRequest_fields, &req,
	                    google_protobuf_Empty_fields, &out);
}

int agent_start_ctr(struct tclient *c, const char *id)
{
	grpc_StartContainerRequest req = grpc_StartContainerRequest_init_zero;
	google_protobuf_Empty out;

	snprintf(req.container_id, sizeof(req.container_id), "%s", id);
	return tclient_call(c, AGENT, "StartContainer", grpc_StartContainerRequest_fields, &req,
	                    google_protobuf_Empty_fields, &out);
}

int agent_run(struct tclient *c, const char *id, const char *const *args)
{
	int code = agent_create(c, id, args);

	return code ? code : agent_start_ctr(c, id);
}

int agent_wait(struct tclient *c, const char *id, const char *exec_id, int *status)
{
	grpc_WaitProcessRequest req = grpc_WaitProcessRequest_init_zero;
	grpc_WaitProcessResponse resp = grpc_WaitProcessResponse_init_zero;
	int code;

	snprintf(req.container_id, sizeof(req.container_id), "%s", id);
	snprintf(req.exec_id, sizeof(req.exec_id), "%s", exec_id ? exec_id : id);
	code = tclient_call(c, AGENT, "WaitProcess", grpc_WaitProcessRequest_fields, &req,
	                    grpc_WaitProcessResponse_fields, &resp);
	if (status)
		*status = resp.status;
	return code;
}

long agent_read_all(struct tclient *c, const char *id, const char *exec_id, bool err_stream,
                    char *buf, size_t cap)
{
	grpc_ReadStreamRequest req = grpc_ReadStreamRequest_init_zero;
	static grpc_ReadStreamResponse resp;
	size_t used = 0;

	snprintf(req.container_id, sizeof(req.container_id), "%s", id);
	snprintf(req.exec_id, sizeof(req.exec_id), "%s", exec_id ? exec_id : id);
	req.len = 32768;
	for (;;) {
		int code = tclient_call(c, AGENT, err_stream ? "ReadStderr" : "ReadStdout",
		                        grpc_ReadStreamRequest_fields, &req,
		                        grpc_ReadStreamResponse_fields, &resp);
		if (tclient_eof(c, code))
			return (long)used;
		if (code || resp.data.size == 0) /* an empty answer is not Kata's end of output */
			return -1;
		if (used + resp.data.size <= cap)
			memcpy(buf + used, resp.data.bytes, resp.data.size);
		used += resp.data.size;
	}
}

int agent_write(struct tclient *c, const char *id, const char *exec_id, const void *data,
                size_t len)
{
	static grpc_WriteStreamRequest req;
	grpc_WriteStreamResponse resp;
	const uint8_t *p = data;

	memset(&req, 0, sizeof(req));
	snprintf(req.container_id, sizeof(req.container_id), "%s", id);
	snprintf(req.exec_id, sizeof(req.exec_id), "%s", exec_id ? exec_id : id);
	while (len) {
		size_t n = len < sizeof(req.data.bytes) ? len : sizeof(req.data.bytes);
		int code;

		memcpy(req.data.bytes, p, n);
		req.data.size = (pb_size_t)n;
		code = tclient_call(c, AGENT, "WriteStdin", grpc_WriteStreamRequest_fields, &req,
		                    grpc_WriteStreamResponse_fields, &resp);
		if (code)
			return code;
		CHECK(resp.len > 0 && resp.len <= n);
		p += resp.len;
		len -= resp.len;
	}
	return 0;
}

int agent_close_stdin(struct tclient *c, const char *id, const char *exec_id)
{
	grpc_CloseStdinRequest req = grpc_CloseStdinRequest_init_zero;
	google_protobuf_Empty out;

	snprintf(req.container_id, sizeof(req.container_id), "%s", id);
	snprintf(req.exec_id, sizeof(req.exec_id), "%s", exec_id ? exec_id : id);
	return tclient_call(c, AGENT, "CloseStdin", grpc_CloseStdinRequest_fields, &req,
	                    google_protobuf_Empty_fields, &out);
}

int agent_signal(struct tclient *c, const char *id, const char *exec_id, uint32_t sig)
{
	grpc_SignalProcessRequest req = grpc_SignalProcessRequest_init_zero;
	google_protobuf_Empty out;

	snprintf(req.container_id, sizeof(req.container_id), "%s", id);
	snprintf(req.exec_id, sizeof(req.exec_id), "%s", exec_id ? exec_id : "");
	req.signal = sig;
	return tclient_call(c, AGENT, "SignalProcess", grpc_SignalProcessRequest_fields, &req,
	                    google_protobuf_Empty_fields, &out);
}

int agent_remove(struct tclient *c, const char *id)
{
	grpc_RemoveContainerRequest req = grpc_RemoveContainerRequest_init_zero;
	google_protobuf_Empty out;

	snprintf(req.container_id, sizeof(req.container_id), "%s", id);
	return tclient_call(c, AGENT, "RemoveContainer", grpc_RemoveContainerRequest_fields, &req,
	                    google_protobuf_Empty_fields, &out);
}

/* ---- a stream drained by a thread ---- */

static void *tdrain_main(void *arg)
{
	struct tdrain *d = arg;
	grpc_ReadStreamRequest req = grpc_ReadStreamRequest_init_zero;
	static __thread grpc_ReadStreamResponse resp;
	uint8_t frame[512];

	snprintf(req.container_id, sizeof(req.container_id), "%s", d->id);
	snprintf(req.exec_id, sizeof(req.exec_id), "%s", d->id);
	req.len = sizeof(resp.data.bytes);
	for (;;) {
		size_t len = tclient_frame(d->c, AGENT, d->err_stream ? "ReadStderr" : "ReadStdout",
		                           grpc_ReadStreamRequest_fields, &req, frame,
		                           sizeof(frame));
		uint32_t sid;

		if (vsock_send(d->c->sock, frame, len, 0) != (ssize_t)len ||
		    tclient_try_recv(d->c, &sid, &d->code, grpc_ReadStreamResponse_fields, &resp) <
		            0) {
			d->code = -1;
			return NULL;
		}
		if (tclient_eof(d->c, d->code)) {
			d->code = 0;
			return NULL;
		}
		if (d->code || resp.data.size == 0)
			return NULL;
		if (d->buf && d->bytes + resp.data.size <= d->cap)
			memcpy(d->buf + d->bytes, resp.data.bytes, resp.data.size);
		d->bytes += resp.data.size;
	}
}

static void tdrain_teardown(void *arg)
{
	tdrain_join(arg);
}

void tdrain_start(struct tdrain *d, struct agent_fixture *fx, const char *id, bool err_stream,
                  uint8_t *buf, size_t cap)
{
	memset(d, 0, sizeof(*d));
	d->c = tclient_open(fx);
	snprintf(d->id, sizeof(d->id), "%s", id);
	d->err_stream = err_stream;
	d->buf = buf;
	d->cap = cap;
	d->code = -1;
	CHECK_EQ(pthread_create(&d->thread, NULL, tdrain_main, d), 0);
	harness_defer(tdrain_teardown, d);
}

int tdrain_join(struct tdrain *d)
{
	if (!d->joined) {
		if (harness_failing())
			vsock_shutdown(d->c->sock, VSOCK_SHUT_RDWR); /* end its calls */
		pthread_join(d->thread, NULL);
		d->joined = true;
		tclient_close(d->c);
	}
	return d->code;
}
