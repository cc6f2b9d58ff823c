/*
 * test_vsock_api.c -- the blocking socket API across threads (a pump
 * thread plays the device), timeouts, task kill, and the diagnostic
 * services serving many connections at once from one task each.
 */
#include <pthread.h>

#include "tests/unit/vsock_fixture.h"
#include "vsock/diag.h"

struct pumper {
	struct pair *p;
	pthread_t thread;
	bool stop; /* lock */
};

static void *pump_main(void *opaque)
{
	struct pumper *pu = opaque;

	for (;;) {
		bool stop;

		platform_lock();
		vsock_loopback_pump_locked(pu->p->lb, 1000);
		vsock_loopback_wait(pu->p->lb, platform_now_ns() + 2000000);
		stop = pu->stop;
		platform_unlock();
		vsock_core_tick(pu->p->guest, platform_now_ns());
		vsock_core_tick(pu->p->host, platform_now_ns());
		if (stop)
			return NULL;
	}
}

static void pumper_start(struct pumper *pu, struct pair *p)
{
	pu->p = p;
	pu->stop = false;
	CHECK_EQ(pthread_create(&pu->thread, NULL, pump_main, pu), 0);
}

static void pumper_stop(struct pumper *pu)
{
	platform_lock();
	pu->stop = true;
	platform_unlock();
	pthread_join(pu->thread, NULL);
}

/* ---- blocking echo across threads ------------------------------------- */

#define ECHO_TOTAL (2 * 1024 * 1024)

static void *echo_server(void *opaque)
{
	struct vsock_sock *lsn = opaque, *conn;
	static uint8_t buf[5000];
	ssize_t n;

	if (vsock_accept(lsn, &conn, NULL, 0) != 0)
		return (void *)1;
	while ((n = vsock_recv(conn, buf, sizeof(buf), 0)) > 0)
		if (vsock_send(conn, buf, (size_t)n, 0) != n)
			break;
	vsock_close(conn);
	return n == 0 ? NULL : (void *)2;
}

static void *bulk_sender(void *opaque)
{
	struct vsock_sock *sock = opaque;
	static uint8_t out[ECHO_TOTAL];

	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = pattern_byte(i, 9);
	if (vsock_send(sock, out, sizeof(out), 0) != (ssize_t)sizeof(out))
		return (void *)1;
	return vsock_shutdown(sock, VSOCK_SHUT_WR) == 0 ? NULL : (void *)2;
}

TEST(blocking_echo_across_threads)
{
	struct pair p;
	struct pumper pu;
	struct vsock_sock *lsn, *client;
	pthread_t server, sender;
	void *server_rc, *sender_rc;
	static uint8_t in[10000];
	size_t got = 0;
	ssize_t n;

	pair_init(&p);
	pumper_start(&pu, &p);
	lsn = listen_on(p.host, 1024, 4);
	CHECK_EQ(pthread_create(&server, NULL, echo_server, lsn), 0);
	CHECK_EQ(vsock_socket(p.guest, VSOCK_TYPE_STREAM, &client), 0);
	CHECK_EQ(vsock_connect(client, &(struct vsock_addr){ HOST_CID, 1024 }, 0), 0);
	CHECK_EQ(pthread_create(&sender, NULL, bulk_sender, client), 0);
	while ((n = vsock_recv(client, in, sizeof(in), 0)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (in[i] != pattern_byte(got + (size_t)i, 9))
				CHECK(!"echo corrupted");
		got += (size_t)n;
	}
	CHECK_EQ(n, 0);
	CHECK_EQ(got, ECHO_TOTAL);
	pthread_join(sender, &sender_rc);
	pthread_join(server, &server_rc);
	CHECK(sender_rc == NULL);
	CHECK(server_rc == NULL);
	CHECK_EQ(vsock_close(client), 0);
	CHECK_EQ(vsock_close(lsn), 0);
	pumper_stop(&pu);
	pair_finish(&p);
}

TEST(blocking_connect_refused_and_timed_out)
{
	struct pair p;
	struct pumper pu;
	struct vsock_sock *sock;
	struct vsock_loopback_faults drop_all = { .drop = 65536 };
	uint64_t t0;

	pair_init(&p);
	pumper_start(&pu, &p);
	CHECK_EQ(vsock_socket(p.guest, VSOCK_TYPE_STREAM, &sock), 0);
	CHECK_EQ(vsock_connect(sock, &(struct vsock_addr){ HOST_CID, 9999 }, 0), -ECONNRESET);
	/* the same socket may try again; this time nobody answers at all */
	vsock_loopback_set_faults(p.lb, &drop_all);
	CHECK_EQ(vsock_setopt(sock, VSOCK_OPT_CONNECT_TIMEOUT_NS, 100000000), 0);
	t0 = platform_now_ns();
	CHECK_EQ(vsock_connect(sock, &(struct vsock_addr){ HOST_CID, 9999 }, 0), -ETIMEDOUT);
	CHECK(platform_now_ns() - t0 >= 100000000);
	CHECK(platform_now_ns() - t0 < 2 * SECOND_NS);
	CHECK_EQ(vsock_close(sock), 0);
	pumper_stop(&pu);
	pair_finish(&p);
}

TEST(receive_timeout_and_nonblocking_option)
{
	struct pair p;
	struct pumper pu;
	struct vsock_sock *lsn, *client, *server;
	char buf[4];
	uint64_t t0;

	pair_init(&p);
	pumper_start(&pu, &p);
	lsn = listen_on(p.host, 1024, 4);
	CHECK_EQ(vsock_socket(p.guest, VSOCK_TYPE_STREAM, &client), 0);
	CHECK_EQ(vsock_connect(client, &(struct vsock_addr){ HOST_CID, 1024 }, 0), 0);
	CHECK_EQ(vsock_accept(lsn, &server, NULL, 0), 0);
	CHECK_EQ(vsock_setopt(server, VSOCK_OPT_RCVTIMEO_NS, 50000000), 0);
	t0 = platform_now_ns();
	CHECK_EQ(vsock_recv(server, buf, sizeof(buf), 0), -EAGAIN);
	CHECK(platform_now_ns() - t0 >= 50000000);
	CHECK_EQ(vsock_setopt(client, VSOCK_OPT_NONBLOCK, 1), 0);
	CHECK_EQ(vsock_recv(client, buf, sizeof(buf), 0), -EAGAIN);
	CHECK_EQ(vsock_setopt(lsn, VSOCK_OPT_RCVTIMEO_NS, 10000000), 0);
	CHECK_EQ(vsock_accept(lsn, &server, NULL, 0), -EAGAIN);
	CHECK_EQ(vsock_setopt(client, VSOCK_OPT_BUF_ALLOC, 4096), -EINVAL); /* connected */
	CHECK_EQ(vsock_close(client), 0);
	CHECK_EQ(vsock_close(server), 0);
	CHECK_EQ(vsock_close(lsn), 0);
	pumper_stop(&pu);
	pair_finish(&p);
}

/* ---- a killed task's blocking call returns -EINTR --------------------- */

struct kill_ctx {
	struct vsock_sock *sock;
	ssize_t result;  /* what recv returned */
	bool exited;     /* exit_fn ran */
	bool was_killed; /* ...with killed = true */
	struct wait_queue done;
};

static void blocked_reader(void *opaque)
{
	struct kill_ctx *ctx = opaque;
	char buf[4];

	ctx->result = vsock_recv(ctx->sock, buf, sizeof(buf), 0);
}

static void reader_exited(void *opaque, bool killed)
{
	struct kill_ctx *ctx = opaque;

	ctx->exited = true;
	ctx->was_killed = killed;
	platform_wake(&ctx->done);
}

TEST(killed_task_leaves_blocking_recv_with_eintr)
{
	struct pair p;
	struct vsock_sock *client, *server;
	struct platform_task *task;
	struct kill_ctx ctx = { 0 };

	pair_init(&p);
	open_connection(&p, 1024, &client, &server);
	ctx.sock = server;
	CHECK_EQ(platform_task_spawn(&task, "reader", blocked_reader, &ctx, 65536, reader_exited,
	                             &ctx),
	         0);
	platform_sleep_ns(20000000);
	platform_task_kill(task);
	platform_lock();
	while (!ctx.exited)
		platform_wait(&ctx.done, platform_now_ns() + SECOND_NS);
	platform_unlock();
	CHECK_EQ(ctx.result, -EINTR);
	CHECK(ctx.was_killed);
	CHECK_EQ(vsock_close(client), 0);
	CHECK_EQ(vsock_close(server), 0);
	pair_finish(&p);
}

/* ---- diagnostic services --------------------------------------------- */

struct service {
	struct vsock_diag *diag;
	pthread_t thread;
};

static void *service_main(void *opaque)
{
	vsock_diag_run(opaque);
	return NULL;
}

static void service_start(struct service *s, struct vsock_core *core, enum vsock_diag_kind kind)
{
	CHECK_EQ(vsock_diag_start(&s->diag, core, kind, 0), 0);
	CHECK_EQ(pthread_create(&s->thread, NULL, service_main, s->diag), 0);
}

static void service_stop(struct service *s, struct vsock_diag_stats *stats)
{
	uint64_t give_up = platform_now_ns() + 5 * SECOND_NS;

	/* let it finish the connections its clients closed */
	do {
		vsock_diag_stats(s->diag, stats);
	} while (stats->active && platform_now_ns() < give_up && platform_sleep_ns(1000000) == 0);
	vsock_diag_request_stop(s->diag);
	pthread_join(s->thread, NULL);
	vsock_diag_stats(s->diag, stats);
	vsock_diag_destroy(s->diag);
}

#define ECHO_CONNS    40
#define SOURCE_CONNS  8
#define DISCARD_CONNS 8

TEST(diag_services_serve_many_connections_at_once)
{
	struct pair p;
	struct pumper pu;
	struct service echo, discard, source;
	struct vsock_diag_stats st;
	struct vsock_sock *e[ECHO_CONNS], *s[SOURCE_CONNS], *d[DISCARD_CONNS];
	static uint8_t buf[40000];

	pair_init(&p);
	pumper_start(&pu, &p);
	service_start(&echo, p.guest, VSOCK_DIAG_ECHO);
	service_start(&discard, p.guest, VSOCK_DIAG_DISCARD);
	service_start(&source, p.guest, VSOCK_DIAG_SOURCE);
	for (int i = 0; i < ECHO_CONNS; i++) {
		CHECK_EQ(vsock_socket(p.host, VSOCK_TYPE_STREAM, &e[i]), 0);
		CHECK_EQ(vsock_connect(e[i], &(struct vsock_addr){ GUEST_CID, 7 }, 0), 0);
	}
	for (int i = 0; i < SOURCE_CONNS; i++) {
		CHECK_EQ(vsock_socket(p.host, VSOCK_TYPE_STREAM, &s[i]), 0);
		CHECK_EQ(vsock_connect(s[i], &(struct vsock_addr){ GUEST_CID, 19 }, 0), 0);
	}
	for (int i = 0; i < DISCARD_CONNS; i++) {
		CHECK_EQ(vsock_socket(p.host, VSOCK_TYPE_STREAM, &d[i]), 0);
		CHECK_EQ(vsock_connect(d[i], &(struct vsock_addr){ GUEST_CID, 9 }, 0), 0);
	}
	/* every echo connection talks at once, each with its own bytes */
	for (int i = 0; i < ECHO_CONNS; i++) {
		for (size_t k = 0; k < 3000; k++)
			buf[k] = pattern_byte(k, (uint32_t)i);
		CHECK_EQ(vsock_send(e[i], buf, 3000, 0), 3000);
	}
	for (int i = 0; i < DISCARD_CONNS; i++)
		CHECK_EQ(vsock_send(d[i], buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	for (int i = 0; i < ECHO_CONNS; i++) {
		size_t got = 0;

		while (got < 3000) {
			ssize_t n = vsock_recv(e[i], buf + got, 3000 - got, 0);

			CHECK(n > 0);
			got += (size_t)n;
		}
		for (size_t k = 0; k < 3000; k++)
			CHECK_EQ(buf[k], pattern_byte(k, (uint32_t)i));
		CHECK_EQ(vsock_shutdown(e[i], VSOCK_SHUT_WR), 0);
		CHECK_EQ(vsock_recv(e[i], buf, 1, 0), 0); /* echo closes after EOF */
	}
	for (int i = 0; i < SOURCE_CONNS; i++) {
		size_t got = 0;

		while (got < 100000) {
			ssize_t n = vsock_recv(s[i], buf, sizeof(buf), 0);

			CHECK(n > 0);
			for (ssize_t k = 0; k < n; k++)
				if (buf[k] != vsock_diag_source_byte(got + (size_t)k))
					CHECK(!"source pattern wrong");
			got += (size_t)n;
		}
	}
	for (int i = 0; i < ECHO_CONNS; i++)
		CHECK_EQ(vsock_close(e[i]), 0);
	for (int i = 0; i < SOURCE_CONNS; i++)
		CHECK_EQ(vsock_close(s[i]), 0);
	for (int i = 0; i < DISCARD_CONNS; i++)
		CHECK_EQ(vsock_close(d[i]), 0);
	service_stop(&echo, &st);
	CHECK_EQ(st.accepted, ECHO_CONNS);
	CHECK_EQ(st.bytes_out, ECHO_CONNS * 3000);
	CHECK_EQ(st.active, 0);
	service_stop(&discard, &st);
	CHECK_EQ(st.accepted, DISCARD_CONNS);
	CHECK_EQ(st.bytes_in, DISCARD_CONNS * sizeof(buf));
	service_stop(&source, &st);
	CHECK_EQ(st.accepted, SOURCE_CONNS);
	CHECK(st.bytes_out >= SOURCE_CONNS * 100000);
	pumper_stop(&pu);
	pair_finish(&p);
}
