/*
 * cli.h -- the daemon's command line and --config file, compatible with
 * rust-vmm vhost-device-vsock 0.3 (its README and `--help`; DESIGN §6).
 *
 * Three ways to name the VMs, mutually exclusive as in vhost-device-vsock:
 *   one VM:    --guest-cid N --socket PATH (--uds-path PATH | --forward-cid C
 *              [--forward-listen P1+P2]) [--tx-buffer-size N] [--queue-size N]
 *              [--groups G1+G2] [--max-connections N]
 *   any:       --vm guest-cid=N,socket=PATH,uds-path=PATH,...   (repeatable;
 *              every key also in vhost-device-vsock's underscore spelling:
 *              guest_cid=, uds_path=, tx_buffer_size=, ...)
 *   a file:    --config FILE, YAML parsed with libyaml:
 *                vms:
 *                  - guest_cid: 3
 *                    socket: /tmp/vhost3.socket
 *                    uds_path: /tmp/vm3.vsock
 *                    tx_buffer_size: 65536
 *                    queue_size: 1024
 *                    groups: group1+groupA
 *              (keys as in --vm, either spelling; a key we do not know is
 *              reported and ignored, as vhost-device-vsock ignores it).
 * --pcap FILE goes with any of them.
 *
 * Typical usage:
 *	struct cli *cli = calloc(1, sizeof(*cli));
 *	int r = cli_parse(cli, argc, argv, stderr); // 0 ok, 1 --help shown, <0 bad
 *	... cli->vms[0 .. cli->count) ...
 *	cli_free(cli);                              // strings the file brought
 */
#ifndef HOST_VHOST_CLI_H
#define HOST_VHOST_CLI_H

#include <stdio.h>

#include "host/vhost/vm.h"

#define CLI_MAX_VMS            64
#define CLI_MAX_GROUPS         32             /* sibling group names in all */
#define CLI_DEFAULT_GUEST_CID  3              /* vhost-device-vsock's default */
#define CLI_DEFAULT_BUF_ALLOC  (256u * 1024u) /* vhost-device-vsock: 64 KiB */
#define CLI_DEFAULT_QUEUE_SIZE 1024           /* vhost-device-vsock's default */
#define CLI_MAX_CONFIG_BYTES   (1u << 20)     /* a --config file larger is refused */
#define CLI_VERSION            "0.1.0"        /* --version */

struct cli_string;

struct cli {
	struct vsock_vm_config vms[CLI_MAX_VMS]; /* the VMs, in order */
	unsigned count;                          /* entries in vms */
	const char *pcap;                        /* --pcap FILE or NULL */
	const char *group_names[CLI_MAX_GROUPS]; /* names seen; index = bit */
	unsigned group_count;                    /* entries in group_names */
	struct cli_string *owned;                /* strings copied from --config */
};

/* Parses the command line (getopt is reset first, so it may be called
 * again); problems go to err with the offending text.  0 when cli holds
 * a valid set of VMs, 1 when --help or --version was printed to stdout,
 * -EINVAL. */
int cli_parse(struct cli *cli, int argc, char **argv, FILE *err);
/* Frees what --config allocated (argv strings are not copied). */
void cli_free(struct cli *cli);
/* The usage text (--help). */
extern const char cli_usage[];

#endif
