/*
 * test_vhost_cli.c -- the daemon's command line and --config files
 * (host/vhost/cli.c) in the forms rust-vmm vhost-device-vsock 0.3 accepts
 * (its README "Usage" and "Configuration file example"), and what they
 * refuse, with the reasons they print.
 */
#include "tests/unit/harness.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/vhost/cli.h"

static struct cli cli;
static char *err_text;
static size_t err_len;

/* Parses a NULL-terminated argument list (copied: --vm is cut in place). */
static int parse(const char *first, ...)
{
	static char storage[32][256];
	char *argv[33];
	int argc = 0;
	va_list ap;
	argv[argc++] = "vhost-user-vsock";
	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *)) {
		snprintf(storage[argc], sizeof(storage[argc]), "%s", a);
		argv[argc] = storage[argc];
		argc++;
	}
	va_end(ap);
	argv[argc] = NULL;
	cli_free(&cli);
	memset(&cli, 0, sizeof(cli));
	free(err_text);
	err_text = NULL;
	FILE *err = open_memstream(&err_text, &err_len);
	int r = cli_parse(&cli, argc, argv, err);
	fclose(err);
	return r;
}

static const char *yaml_file(const char *text)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/test_vhost_cli.%d.yaml", getpid());
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	fputs(text, f);
	fclose(f);
	return path;
}

static void done(void)
{
	cli_free(&cli);
	free(err_text);
	err_text = NULL;
	char path[64];
	snprintf(path, sizeof(path), "/tmp/test_vhost_cli.%d.yaml", getpid());
	unlink(path);
}

TEST(single_vm_flags_with_queue_size_and_defaults)
{
	CHECK(parse("--guest-cid", "4", "--socket", "/tmp/v4.sock", "--uds-path", "/tmp/vm4.vsock",
	            "--queue-size", "256", "--tx-buffer-size", "32768", NULL) == 0);
	CHECK_EQ(cli.count, 1);
	CHECK_EQ(cli.vms[0].guest_cid, 4);
	CHECK_EQ(cli.vms[0].queue_size, 256);
	CHECK_EQ(cli.vms[0].buf_alloc, 32768);
	CHECK(!strcmp(cli.vms[0].uds_path, "/tmp/vm4.vsock"));
	/* Defaults: CID 3 and a queue of 1024 as vhost-device-vsock. */
	CHECK(parse("--socket", "/tmp/v.sock", "--uds-path", "/tmp/vm.vsock", NULL) == 0);
	CHECK_EQ(cli.vms[0].guest_cid, 3);
	CHECK_EQ(cli.vms[0].queue_size, 1024);
	CHECK_EQ(cli.vms[0].buf_alloc, 256 * 1024);
	CHECK(cli.vms[0].groups != 0);
	done();
}

TEST(vm_keys_in_both_spellings)
{
	CHECK(parse("--vm",
	            "guest_cid=3,socket=/tmp/v3.sock,uds_path=/tmp/vm3.vsock,"
	            "tx_buffer_size=65536,queue_size=512,groups=group1+groupA",
	            "--vm",
	            "guest-cid=4,socket=/tmp/v4.sock,uds-path=/tmp/vm4.vsock,"
	            "tx-buffer-size=32768,queue-size=256,groups=groupA",
	            NULL) == 0);
	CHECK_EQ(cli.count, 2);
	CHECK_EQ(cli.vms[0].guest_cid, 3);
	CHECK_EQ(cli.vms[0].queue_size, 512);
	CHECK_EQ(cli.vms[0].buf_alloc, 65536);
	CHECK_EQ(cli.vms[1].queue_size, 256);
	/* groupA is shared: one bit in both masks. */
	CHECK(cli.vms[0].groups & cli.vms[1].groups);
	CHECK(!strcmp(cli.vms[1].uds_path, "/tmp/vm4.vsock"));
	done();
}

TEST(forward_cid_and_forward_listen)
{
	CHECK(parse("--vm",
	            "guest-cid=5,socket=/tmp/v5.sock,forward-cid=1,"
	            "forward-listen=9001+9002",
	            NULL) == 0);
	CHECK(cli.vms[0].forward);
	CHECK_EQ(cli.vms[0].forward_cid, 1);
	CHECK_EQ(cli.vms[0].forward_listen_count, 2);
	CHECK_EQ(cli.vms[0].forward_listen[1], 9002);
	CHECK(cli.vms[0].uds_path == NULL);
	CHECK(parse("--guest-cid", "5", "--socket", "/tmp/v5.sock", "--forward-cid", "1", NULL) ==
	      0);
	CHECK_EQ(cli.vms[0].forward_listen_count, 0);
	/* uds-path and forward-cid exclude each other; forward-listen needs
	 * forward-cid; a port given twice is a mistake. */
	CHECK(parse("--vm", "socket=/tmp/v.sock,uds-path=/tmp/u,forward-cid=1", NULL) < 0);
	CHECK(strstr(err_text, "exclude each other"));
	CHECK(parse("--vm", "socket=/tmp/v.sock,uds-path=/tmp/u,forward-listen=9001", NULL) < 0);
	CHECK(strstr(err_text, "needs forward-cid"));
	CHECK(parse("--vm", "socket=/tmp/v.sock,forward-cid=1,forward-listen=9001+9001", NULL) < 0);
	CHECK(parse("--vm", "socket=/tmp/v.sock,forward-cid=1,forward-listen=90x1", NULL) < 0);
	CHECK(strstr(err_text, "90x1"));
	done();
}

TEST(config_file_as_in_the_vhost_device_vsock_readme)
{
	const char *path = yaml_file("vms:\n"
	                             "    - guest_cid: 3\n"
	                             "      socket: /tmp/vhost3.socket\n"
	                             "      uds_path: /tmp/vm3.sock\n"
	                             "      tx_buffer_size: 65536\n"
	                             "      queue_size: 1024\n"
	                             "      groups: group1+groupA\n"
	                             "    - guest_cid: 4\n"
	                             "      socket: /tmp/vhost4.socket\n"
	                             "      uds_path: /tmp/vm4.sock\n"
	                             "      tx_buffer_size: 32768\n"
	                             "      queue_size: 256\n"
	                             "      groups: group2+groupB\n"
	                             "    - guest_cid: 5\n"
	                             "      socket: /tmp/vhost5.socket\n"
	                             "      forward-cid: 1\n"
	                             "      forward-listen: 9001+9002\n"
	                             "      tx_buffer_size: 32768\n"
	                             "      queue_size: 1024\n");
	CHECK(parse("--config", path, NULL) == 0);
	CHECK_EQ(cli.count, 3);
	CHECK_EQ(cli.vms[1].guest_cid, 4);
	CHECK_EQ(cli.vms[1].queue_size, 256);
	CHECK_EQ(cli.vms[1].buf_alloc, 32768);
	CHECK(!strcmp(cli.vms[1].socket_path, "/tmp/vhost4.socket"));
	CHECK(!(cli.vms[0].groups & cli.vms[1].groups));
	CHECK(cli.vms[2].forward);
	CHECK_EQ(cli.vms[2].forward_listen_count, 2);
	/* --pcap goes with it. */
	CHECK(parse("--config", path, "--pcap", "/tmp/x.pcap", NULL) == 0);
	CHECK(!strcmp(cli.pcap, "/tmp/x.pcap"));
	done();
}

TEST(config_file_problems_are_named_with_their_line)
{
	/* An unknown key is reported and skipped (vhost-device-vsock ignores
	 * it); the rest still counts. */
	const char *path = yaml_file("vms:\n"
	                             "  - socket: /tmp/v.sock\n"
	                             "    uds_path: /tmp/u\n"
	                             "    colour: blue\n");
	CHECK(parse("--config", path, NULL) == 0);
	CHECK(strstr(err_text, ":4: unknown key 'colour' ignored"));
	/* Broken YAML. */
	path = yaml_file("vms:\n  - socket: [unclosed\n");
	CHECK(parse("--config", path, NULL) < 0);
	CHECK(strstr(err_text, ".yaml:"));
	/* Values of the wrong kind, bad numbers, no list, empty list. */
	path = yaml_file("vms:\n  - socket: /tmp/v.sock\n    uds_path: [a, b]\n");
	CHECK(parse("--config", path, NULL) < 0);
	CHECK(strstr(err_text, ":3: uds_path is a list"));
	path = yaml_file("vms:\n  - socket: /tmp/v.sock\n    uds_path: /u\n    guest_cid: 2\n");
	CHECK(parse("--config", path, NULL) < 0);
	CHECK(strstr(err_text, "bad guest-cid '2'"));
	path = yaml_file("vms: 3\n");
	CHECK(parse("--config", path, NULL) < 0);
	path = yaml_file("vms: []\n");
	CHECK(parse("--config", path, NULL) < 0);
	CHECK(strstr(err_text, "empty"));
	path = yaml_file("- a\n- b\n");
	CHECK(parse("--config", path, NULL) < 0);
	CHECK(parse("--config", "/nonexistent/vsock.yaml", NULL) < 0);
	CHECK(strstr(err_text, "/nonexistent/vsock.yaml"));
	done();
}

TEST(forms_exclude_each_other_and_mistakes_are_refused)
{
	const char *path = yaml_file("vms:\n  - socket: /tmp/v.sock\n    uds_path: /tmp/u\n");
	CHECK(parse("--config", path, "--vm", "socket=/a,uds-path=/b", NULL) < 0);
	CHECK(parse("--config", path, "--guest-cid", "4", NULL) < 0);
	CHECK(parse("--vm", "socket=/a,uds-path=/b", "--guest-cid", "4", NULL) < 0);
	CHECK(parse(NULL) < 0);
	CHECK(strstr(err_text, "no VM given"));
	CHECK(parse("--bogus", NULL) < 0);
	CHECK(parse("--vm", "socket=/a,uds-path=/b,nope=1", NULL) < 0);
	CHECK(strstr(err_text, "unknown --vm key 'nope'"));
	CHECK(parse("--vm", "socket=/a,uds-path=/b,queue-size=0", NULL) < 0);
	CHECK(parse("--vm", "socket=/a,uds-path=/b,queue-size=65536", NULL) < 0);
	CHECK(parse("--vm", "guest-cid=3,socket=/a,uds-path=/b", "--vm",
	            "guest-cid=3,socket=/c,uds-path=/d", NULL) < 0);
	CHECK(parse("--vm", "guest-cid=3,socket=/a,uds-path=/b", "--vm",
	            "guest-cid=4,socket=/a,uds-path=/d", NULL) < 0);
	CHECK(parse("--socket", "/a", NULL) < 0);
	CHECK(strstr(err_text, "needs uds-path or forward-cid"));
	CHECK_EQ(parse("--help", NULL), 1);
	CHECK_EQ(parse("-V", NULL), 1);
	CHECK_EQ(parse("--version", NULL), 1);
	done();
}
