/*
 * test_agentctl_addr.c -- agentctl's agent addresses in Kata's URI forms
 * (host/agentctl/addr.c; issue 13).
 */
#include "host/agentctl/addr.h"

#include <string.h>

#include "tests/unit/harness.h"

static struct agent_addr a;
static char err[256];

static int parse(const char *uri)
{
	return addr_parse(uri, false, 1024, &a, err, sizeof(err));
}

TEST(vsock_addresses)
{
	CHECK_EQ(parse("vsock://3:1024"), 0);
	CHECK_EQ(a.kind, ADDR_VSOCK);
	CHECK_EQ(a.cid, 3);
	CHECK_EQ(a.port, 1024);
	CHECK_EQ(parse("VSOCK://4294967294:4294967294"), 0);
	CHECK_EQ(a.cid, 4294967294u);
	CHECK_EQ(a.port, 4294967294u);
}

TEST(vsock_any_cid_forms)
{
	CHECK_EQ(parse("vsock://-1:1025"), 0);
	CHECK_EQ(a.cid, ADDR_CID_ANY);
	CHECK_EQ(a.port, 1025);
	CHECK_EQ(parse("vsock://:1025"), 0);
	CHECK_EQ(a.cid, ADDR_CID_ANY);
}

TEST(hybrid_addresses_absolute_and_relative)
{
	CHECK_EQ(parse("hvsock:///run/vc/vm/x/kata.hvsock:1024"), 0);
	CHECK_EQ(a.kind, ADDR_HYBRID);
	CHECK(strcmp(a.path, "/run/vc/vm/x/kata.hvsock") == 0);
	CHECK_EQ(a.port, 1024);
	CHECK_EQ(parse("HvSock://build/v.sock:7"), 0);
	CHECK(strcmp(a.path, "build/v.sock") == 0);
	CHECK_EQ(a.port, 7);
}

TEST(unix_addresses_plain_and_as_hybrid_vsock)
{
	CHECK_EQ(parse("unix:///tmp/local.socket"), 0);
	CHECK_EQ(a.kind, ADDR_UNIX);
	CHECK(strcmp(a.path, "/tmp/local.socket") == 0);
	CHECK_EQ(parse("UNIX://@/foo/abstract"), 0);
	CHECK(strcmp(a.path, "@/foo/abstract") == 0);
	CHECK_EQ(addr_parse("unix:///run/vc/clh.sock", true, 2048, &a, err, sizeof(err)), 0);
	CHECK_EQ(a.kind, ADDR_HYBRID);
	CHECK(strcmp(a.path, "/run/vc/clh.sock") == 0);
	CHECK_EQ(a.port, 2048);
}

TEST(bad_addresses_say_why)
{
	CHECK(parse("vsock://3:4294967295") < 0); /* VMADDR_PORT_ANY */
	CHECK(strstr(err, "port") != NULL);
	CHECK(parse("vsock://3:4294967296") < 0);
	CHECK(parse("vsock://3:-5") < 0);
	CHECK(parse("vsock://3:") < 0);
	CHECK(parse("vsock://3") < 0);
	CHECK(parse("vsock://x:1024") < 0);
	CHECK(strstr(err, "CID") != NULL);
	CHECK(parse("vsock://4294967296:1") < 0);
	CHECK(parse("hvsock://:1024") < 0);
	CHECK(strstr(err, "path") != NULL);
	CHECK(parse("tcp://1.2.3.4:1024") < 0);
	CHECK(strstr(err, "scheme") != NULL);
	CHECK(parse("/tmp/x.sock") < 0);
	CHECK(parse("unix://") < 0);
	char long_uri[200] = "hvsock:///";
	memset(long_uri + 10, 'a', 120);
	strcpy(long_uri + 130, ":1024");
	CHECK(parse(long_uri) < 0);
	CHECK(strstr(err, "too long") != NULL);
}
