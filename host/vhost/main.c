/*
 * main.c -- build/host/vhost-user-vsock: a vhost-user-vsock back-end daemon
 * whose command line matches rust-vmm's vhost-device-vsock (DESIGN §6):
 *
 *   vhost-user-vsock --guest-cid 3 --socket /tmp/vhost3.sock --uds-path /tmp/vm3.vsock
 *   vhost-user-vsock --vm guest-cid=3,socket=/tmp/v3.sock,uds-path=/tmp/vm3.vsock,groups=a+b \
 *                    --vm guest_cid=4,socket=/tmp/v4.sock,uds_path=/tmp/vm4.vsock,groups=b
 *   vhost-user-vsock --config vms.yaml
 *
 * (every form and key: cli.h; AF_VSOCK forwarding: forward.h)
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
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "host/vhost/cli.h"
#include "host/vhost/loop.h"
#include "host/vhost/pcap.h"
#include "host/vhost/vm.h"
#include "host/vhost/vsock_conn.h"

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

static struct ev_source signal_source; /* signalfd for SIGINT/SIGTERM */
static volatile int stopping;          /* set by the signal handler */

static void on_signal(struct ev_source *src, uint32_t events)
{
	struct signalfd_siginfo si;
	if (read(src->fd, &si, sizeof(si)) == sizeof(si))
		stopping = 1;
}

int main(int argc, char **argv)
{
	static struct cli cli;
	struct vsock_vm *vms[CLI_MAX_VMS];
	unsigned created = 0;
	int err;

	err = cli_parse(&cli, argc, argv, stderr);
	if (err)
		return err > 0 ? 0 : 2;
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
	if (cli.pcap) {
		err = vsock_pcap_open(cli.pcap);
		if (err) {
			fprintf(stderr, "vhost-user-vsock: --pcap %s: %s\n", cli.pcap,
			        strerror(-err));
			goto err_signal;
		}
	}
	// step 4 -- every VM: listen on its vhost-user socket and uds-path (or
	// its --forward-listen ports)
	for (created = 0; created < cli.count; created++) {
		const struct vsock_vm_config *cfg = &cli.vms[created];
		err = vsock_vm_create(&vms[created], cfg);
		if (err) {
			fprintf(stderr, "vhost-user-vsock: VM cid %llu (%s, %s): %s\n",
			        (unsigned long long)cfg->guest_cid, cfg->socket_path,
			        cfg->uds_path ? cfg->uds_path : "forwarding", strerror(-err));
			goto err_vms;
		}
		if (cfg->forward)
			fprintf(stderr,
			        "vhost-user-vsock: cid %llu: listening on %s, "
			        "forwarding to AF_VSOCK cid %u (%u ports the other way)\n",
			        (unsigned long long)cfg->guest_cid, cfg->socket_path,
			        cfg->forward_cid, cfg->forward_listen_count);
		else
			fprintf(stderr, "vhost-user-vsock: cid %llu: listening on %s, uds %s\n",
			        (unsigned long long)cfg->guest_cid, cfg->socket_path,
			        cfg->uds_path);
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
	cli_free(&cli);
	return err ? 1 : 0;
}
