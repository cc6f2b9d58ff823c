/*
 * test_agent_catalogue.c -- each catalogue program's exact output and exit
 * status, SHA-256 against FIPS 180-4 vectors, stdin through cat, pipes
 * under backpressure, and spin not starving the agent.
 */
#include "tests/unit/agent_fixture.h"

#include <stdio.h>

#include "agent/sha256.h"
#include "health.pb.h"

static struct agent_fixture fx;
static struct tclient *c;
static char out[1 << 20];

/* Run args with stdin `in` (NULL: none), collect stdout; returns the status. */
static int run(const char *id, const char *const *args, const char *in, long *out_len, char *err,
               size_t err_cap)
{
	int status = -1;

	CHECK_EQ(agent_run(c, id, args), 0);
	if (in)
		CHECK_EQ(agent_write(c, id, NULL, in, strlen(in)), 0);
	CHECK_EQ(agent_close_stdin(c, id, NULL), 0);
	*out_len = agent_read_all(c, id, NULL, false, out, sizeof(out));
	if (err)
		CHECK(agent_read_all(c, id, NULL, true, err, err_cap) >= 0);
	CHECK_EQ(agent_wait(c, id, NULL, &status), 0);
	CHECK_EQ(agent_remove(c, id), 0);
	return status;
}

static void expect(const char *id, const char *const *args, const char *in, const char *want,
                   int want_status)
{
	long n;

	CHECK_EQ(run(id, args, in, &n, NULL, 0), want_status);
	CHECK_EQ(n, (long)strlen(want));
	CHECK(memcmp(out, want, (size_t)n) == 0);
}

TEST(sha256_vectors)
{
	static const struct {
		const char *in;
		const char *hex;
	} v[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct sha256 ctx;
		uint8_t d[32];
		char hex[65];

		sha256_init(&ctx);
		for (const char *p = v[i].in; *p; p++)
			sha256_update(&ctx, p, 1); /* byte at a time: block edges */
		sha256_final(&ctx, d);
		for (int j = 0; j < 32; j++)
			snprintf(hex + 2 * j, 3, "%02x", d[j]);
		CHECK(strcmp(hex, v[i].hex) == 0);
	}
	/* a million 'a' */
	struct sha256 ctx;
	uint8_t d[32];
	static char a[1000];
	memset(a, 'a', sizeof(a));
	sha256_init(&ctx);
	for (int i = 0; i < 1000; i++)
		sha256_update(&ctx, a, sizeof(a));
	sha256_final(&ctx, d);
	CHECK_EQ(d[0], 0xcd);
	CHECK_EQ(d[1], 0xc7);
	CHECK_EQ(d[31], 0xd0);
}

TEST(programs_exact_output)
{
	fixture_start(&fx, NULL);
	c = tclient_open(&fx);
	expect("e1", (const char *[]){ "echo", "a", "b  c", NULL }, NULL, "a b  c\n", 0);
	expect("e2", (const char *[]){ "echo", NULL }, NULL, "\n", 0);
	expect("c1", (const char *[]){ "cat", NULL }, "line1\nline2", "line1\nline2", 0);
	expect("s1", (const char *[]){ "sha256sum", NULL }, "abc",
	       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  -\n", 0);
	expect("x1", (const char *[]){ "exit", "3", NULL }, NULL, "", 3);
	expect("x2", (const char *[]){ "exit", "300", NULL }, NULL, "", 44);
	expect("x3", (const char *[]){ "exit", "nope", NULL }, NULL, "", 2);
	expect("l1", (const char *[]){ "logspam", "3", NULL }, NULL,
	       "logspam 1\nlogspam 2\nlogspam 3\n", 0);
	expect("t1", (const char *[]){ "true", NULL }, NULL, "", 0);
	expect("f1", (const char *[]){ "false", NULL }, NULL, "", 1);
	expect("p1", (const char *[]){ "pwd", NULL }, NULL, "/work\n", 0);
	expect("v1", (const char *[]){ "env", NULL }, NULL, "PATH=/bin\n", 0);
	expect("h1", (const char *[]){ "head", "-c", "5", NULL }, "hello world", "hello", 0);
	expect("w1", (const char *[]){ "wc", "-c", NULL }, "hello world", "11\n", 0);
	expect("z1", (const char *[]){ "sleep", "0.05", NULL }, NULL, "", 0);
	char err[256];
	long n;
	memset(err, 0, sizeof(err));
	CHECK_EQ(run("z2", (const char *[]){ "sleep", "x", NULL }, NULL, &n, err, sizeof(err)), 1);
	CHECK(strstr(err, "invalid time interval") != NULL);
	CHECK_EQ(run("si", (const char *[]){ "sysinfo", NULL }, NULL, &n, NULL, 0), 0);
	out[n] = '\0';
	CHECK(strstr(out, "agent_version " AGENT_VERSION "\n") != NULL);
	CHECK(strstr(out, "guest_cid 3\n") != NULL);
	tclient_close(c);
	fixture_stop(&fx);
}

static char big_in[1 << 20];

static void *big_writer(void *arg)
{
	struct tclient *w = arg;

	if (agent_write(w, "big", NULL, big_in, sizeof(big_in)) == 0)
		agent_close_stdin(w, "big", NULL);
	return NULL;
}

TEST(megabyte_through_cat)
{
	const char *cat[] = { "cat", NULL };
	struct tclient *w;
	pthread_t writer;
	int status;
	long n;

	fixture_start(&fx, NULL);
	c = tclient_open(&fx);
	w = tclient_open(&fx);
	for (size_t i = 0; i < sizeof(big_in); i++)
		big_in[i] = (char)('a' + (i * 7 + i / 1000) % 26);
	CHECK_EQ(agent_run(c, "big", cat), 0);
	/* stdin from a second connection while this one reads stdout */
	CHECK_EQ(pthread_create(&writer, NULL, big_writer, w), 0);
	n = agent_read_all(c, "big", NULL, false, out, sizeof(out));
	pthread_join(writer, NULL);
	CHECK_EQ(n, (long)sizeof(big_in));
	CHECK(memcmp(out, big_in, sizeof(big_in)) == 0);
	CHECK_EQ(agent_wait(c, "big", NULL, &status), 0);
	CHECK_EQ(status, 0);
	CHECK_EQ(agent_remove(c, "big"), 0);
	tclient_close(w);
	tclient_close(c);
	fixture_stop(&fx);
}

TEST(spin_does_not_starve_health_check)
{
	grpc_CheckRequest req = grpc_CheckRequest_init_zero;
	grpc_HealthCheckResponse resp;
	uint64_t t0;
	int status;

	fixture_start(&fx, NULL);
	c = tclient_open(&fx);
	CHECK_EQ(agent_run(c, "spin", (const char *[]){ "spin", NULL }), 0);
	t0 = platform_now_ns();
	CHECK_EQ(tclient_call(c, "grpc.Health", "Check", grpc_CheckRequest_fields, &req,
	                      grpc_HealthCheckResponse_fields, &resp),
	         0);
	CHECK(platform_now_ns() - t0 < SECOND_NS);
	CHECK_EQ(agent_signal(c, "spin", "spin", 15), 0);
	CHECK_EQ(agent_wait(c, "spin", NULL, &status), 0);
	CHECK_EQ(status, 143);
	CHECK_EQ(agent_remove(c, "spin"), 0);
	tclient_close(c);
	fixture_stop(&fx);
}
