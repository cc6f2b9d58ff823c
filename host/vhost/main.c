/*
 * main.c -- build/host/vhost-user-vsock: a vhost-user-vsock back-end daemon
 * whose command line matches rust-vmm's vhost-device-vsock (DESIGN §6):
 *
 *   vhost-user-vsock --guest-cid 3 --socket /tmp/vhost3.sock --uds-path /tmp/vm3.vsock
 *   vhost-user-vsock --vm guest-cid=3,socket=/tmp/v3.sock,uds-path=/tmp/vm3.vsock,groups=a+b \
 *                    --vm guest-cid=4,socket=/tmp/v4.sock,uds-path=/tmp/vm4.vsock,groups=b
 *
 * and QEMU then runs with
 *   -object memory-backend-memfd,id=mem,size=256M,share=on -machine memory-backend=mem
 *   -chardev socket,id=vc,path=/tmp/vhost3.sock -device vhost-user-vsock-pci,chardev=vc
 *
 * One process, one epoll loop, any number of VMs.  SIGINT/SIGTERM end it
 * cleanly and remove the socket files it created.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, memfd_create */
#endif
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "host/vhost/loop.h"
#include "host/vhost/pcap.h"
#include "host/vhost/vm.h"
#include "host/vhost/vsock_conn.h"

#define MAX_VMS 64
#define MAX_GROUPS 32
#define DEFAULT_BUF_ALLOC (256u * 1024u)
#define MAX_CONNS_LIMIT (1u << 20)

static const char usage[] =
	"usage: vhost-user-vsock --guest-cid N --socket PATH --uds-path PATH\n"
	"                        [--tx-buffer-size BYTES] [--groups G1+G2]\n"
	"                        [--max-connections N] [--pcap FILE]\n"
	"       vhost-user-vsock --vm guest-cid=N,socket=PATH,uds-path=PATH[,groups=G1+G2]\n"
	"                            [,tx-buffer-size=BYTES][,max-connections=N]\n"
	"                            [--vm ...]... [--pcap FILE]\n"
	"\n"
	"A vhost-user back-end for vhost-user-vsock-pci (QEMU).  Host programs reach\n"
	"a guest by connecting to uds-path and writing \"CONNECT <port>\\n\"; they get\n"
	"\"OK <local port>\\n\" and then the stream.  A guest connection to host port P\n"
	"goes to the Unix socket \"<uds-path>_P\" (RST when nobody listens there).\n"
	"VMs sharing a group reach each other by CID (default group: \"default\").\n"
	"\n"
	"  --guest-cid N          CID of the guest (default 3)\n"
	"  --socket PATH          vhost-user socket QEMU connects to\n"
	"  --uds-path PATH        hybrid vsock Unix socket\n"
	"  --tx-buffer-size N     per-connection buffer advertised to the guest\n"
	"                         (default 262144)\n"
	"  --groups G1+G2         sibling groups of the VM\n"
	"  --max-connections N    connections of the VM at once, hybrid and guest\n"
	"                         initiated (default 4096); beyond it a host program\n"
	"                         gets \"ERROR too many connections\", a guest an RST\n"
	"  --vm KEY=VAL,...       one VM (repeatable); keys as above without --\n"
	"  --pcap FILE            capture every packet (LINKTYPE_VSOCK, 271)\n"
	"  --help                 this text\n";

static const char *group_names[MAX_GROUPS];	/* names seen, index = bit */
static unsigned group_count;			/* entries in group_names */

static int fail(const char *fmt, const char *arg)
{
	fprintf(stderr, "vhost-user-vsock: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n(see --help)\n");
	return -EINVAL;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (!*s || *end || errno || v < min || v > max || *s == '-')
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_groups(char *s, uint32_t *mask)
{
	*mask = 0;
	char *save = NULL;
	for (char *g = strtok_r(s, "+", &save); g; g = strtok_r(NULL, "+", &save)) {
		unsigned i;
		for (i = 0; i < group_count; i++)
			if (!strcmp(group_names[i], g))
				break;
		if (i == group_count) {
			if (group_count == MAX_GROUPS)
				return fail("too many groups at '%s'", g);
			group_names[group_count++] = g;
		}
		*mask |= 1u << i;
	}
	return *mask ? 0 : fail("empty group list%s", "");
}

static int set_key(struct vsock_vm_config *cfg, const char *key, char *val)
{
	uint64_t v;
	if (!strcmp(key, "guest-cid")) {
		if (parse_u64(val, 3, 0xfffffffeu, &v))
			return fail("bad guest-cid '%s' (3..4294967294)", val);
		cfg->guest_cid = v;
	} else if (!strcmp(key, "socket")) {
		cfg->socket_path = val;
	} else if (!strcmp(key, "uds-path")) {
		cfg->uds_path = val;
	} else if (!strcmp(key, "tx-buffer-size")) {
		if (parse_u64(val, 4096, 64u << 20, &v))
			return fail("bad tx-buffer-size '%s' (4096..67108864)", val);
		cfg->buf_alloc = (uint32_t)v;
	} else if (!strcmp(key, "max-connections")) {
		if (parse_u64(val, 1, MAX_CONNS_LIMIT, &v))
			return fail("bad max-connections '%s' (1..1048576)", val);
		cfg->max_conns = (uint32_t)v;
	} else if (!strcmp(key, "groups")) {
		return parse_groups(val, &cfg->groups);
	} else {
		return fail("unknown key '%s'", key);
	}
	return 0;
}

static int parse_vm(char *spec, struct vsock_vm_config *cfg)
{
	char *save = NULL;
	for (char *kv = strtok_r(spec, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq)
			return fail("--vm expects key=value, got '%s'", kv);
		*eq = 0;
		int err = set_key(cfg, kv, eq + 1);
		if (err)
			return err;
	}
	return 0;
}

static int check_vms(struct vsock_vm_config *vms, unsigned n)
{
	if (n == 0)
		return fail("no VM given%s", "");
	for (unsigned i = 0; i < n; i++) {
		if (!vms[i].socket_path)
			return fail("a VM lacks socket%s", "");
		if (!vms[i].uds_path)
			return fail("a VM lacks uds-path%s", "");
		for (unsigned j = 0; j < i; j++) {
			if (vms[i].guest_cid == vms[j].guest_cid)
				return fail("two VMs share guest-cid%s", "");
			if (!strcmp(vms[i].socket_path, vms[j].socket_path) ||
			    !strcmp(vms[i].uds_path, vms[j].uds_path))
				return fail("two VMs share a socket path%s", "");
		}
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct vsock_vm_config *vms,
		      unsigned *count, const char **pcap)
{
	static const struct option options[] = {
		{ "guest-cid", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "uds-path", required_argument, NULL, 'u' },
		{ "tx-buffer-size", required_argument, NULL, 'b' },
		{ "groups", required_argument, NULL, 'g' },
		{ "max-connections", required_argument, NULL, 'm' },
		{ "vm", required_argument, NULL, 'v' },
		{ "pcap", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct vsock_vm_config single = { .guest_cid = 3 };
	bool have_single = false;
	unsigned n = 0;
	int opt, err;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		const char *key = NULL;
		switch (opt) {
		case 'c': key = "guest-cid"; break;
		case 's': key = "socket"; break;
		case 'u': key = "uds-path"; break;
		case 'b': key = "tx-buffer-size"; break;
		case 'g': key = "groups"; break;
		case 'm': key = "max-connections"; break;
		case 'p':
			*pcap = optarg;
			continue;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		case 'v':
			if (n == MAX_VMS)
				return fail("too many --vm%s", "");
			vms[n] = (struct vsock_vm_config){ .guest_cid = 3 };
			err = parse_vm(optarg, &vms[n]);
			if (err)
				return err;
			n++;
			continue;
		default:
			return fail("unknown or incomplete option '%s'", argv[optind - 1]);
		}
		err = set_key(&single, key, optarg);
		if (err)
			return err;
		have_single = true;
	}
	if (optind < argc)
		return fail("unexpected argument '%s'", argv[optind]);
	if (have_single && n)
		return fail("use either --vm or --guest-cid/--socket/--uds-path%s", "");
	if (have_single)
		vms[n++] = single;
	for (unsigned i = 0; i < n; i++) {
		static char default_group[] = "default";
		if (!vms[i].groups)
			parse_groups(default_group, &vms[i].groups);
		if (!vms[i].buf_alloc)
			vms[i].buf_alloc = DEFAULT_BUF_ALLOC;
		if (!vms[i].max_conns)
			vms[i].max_conns = CONN_MAX_DEFAULT;
	}
	*count = n;
	return check_vms(vms, n);
}

/* Every connection is an fd: use the hard limit, not the 1024 a shell
 * usually starts us with. */
static void raise_fd_limit(void)
{
	struct rlimit lim;
	if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
		lim.rlim_cur = lim.rlim_max;
		setrlimit(RLIMIT_NOFILE, &lim);
	}
}

static struct ev_source signal_source;	/* signalfd for SIGINT/SIGTERM */
static volatile int stopping;		/* set by the signal handler */

static void on_signal(struct ev_source *src, uint32_t events)
{
	struct signalfd_siginfo si;
	if (read(src->fd, &si, sizeof(si)) == sizeof(si))
		stopping = 1;
}

int main(int argc, char **argv)
{
	static struct vsock_vm_config cfgs[MAX_VMS];
	struct vsock_vm *vms[MAX_VMS];
	const char *pcap = NULL;
	unsigned count = 0, created = 0;
	int err;

	if (parse_args(argc, argv, cfgs, &count, &pcap) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stderr, NULL, _IOLBF, 0);
	raise_fd_limit();
	// step 1 -- the event loop and the after-batch work of the vsock layer
	err = loop_init();
	if (err)
		goto err_out;
	err = vsock_host_init();
	if (err)
		goto err_loop;
	// step 2 -- signals as events, so shutdown runs in the loop
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal_source.fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	signal_source.handle = on_signal;
	if (signal_source.fd < 0 || loop_set(&signal_source, EPOLLIN) < 0) {
		err = -errno;
		goto err_loop;
	}
	// step 3 -- the capture file
	if (pcap) {
		err = vsock_pcap_open(pcap);
		if (err) {
			fprintf(stderr, "vhost-user-vsock: --pcap %s: %s\n", pcap, strerror(-err));
			goto err_signal;
		}
	}
	// step 4 -- every VM: listen on its vhost-user socket and uds-path
	for (created = 0; created < count; created++) {
		err = vsock_vm_create(&vms[created], &cfgs[created]);
		if (err) {
			fprintf(stderr, "vhost-user-vsock: VM cid %llu (%s, %s): %s\n",
				(unsigned long long)cfgs[created].guest_cid,
				cfgs[created].socket_path, cfgs[created].uds_path,
				strerror(-err));
			goto err_vms;
		}
		fprintf(stderr, "vhost-user-vsock: cid %llu: listening on %s, uds %s\n",
			(unsigned long long)cfgs[created].guest_cid,
			cfgs[created].socket_path, cfgs[created].uds_path);
	}
	// step 5 -- serve until a signal
	while (!stopping) {
		err = loop_run_once(-1);
		if (err < 0) {
			fprintf(stderr, "vhost-user-vsock: epoll: %s\n", strerror(-err));
			break;
		}
	}
	err = 0;

err_vms:
	while (created)
		vsock_vm_destroy(vms[--created]);
	vsock_pcap_close();
err_signal:
	close(signal_source.fd);
err_loop:
	vsock_host_fini();
	loop_fini();
err_out:
	return err ? 1 : 0;
}
