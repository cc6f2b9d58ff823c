/*
 * cli.c -- the command line and the --config YAML file (see cli.h).
 *
 * The keys and their meaning follow rust-vmm vhost-device-vsock 0.3
 * (README "Usage", src/main.rs's VsockParam/ConfigFileVsockParam); what we
 * add is named so in --help: --max-connections, --pcap, hex numbers.
 * Every problem is reported with the text that caused it; the file's are
 * located by line.
 */
#include "host/vhost/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "host/vhost/virtq.h"
#include "host/vhost/vsock_conn.h"

#define MAX_CONNS_LIMIT (1u << 20)

const char cli_usage[] =
        "usage: vhost-user-vsock --guest-cid N --socket PATH --uds-path PATH\n"
        "                        [--tx-buffer-size BYTES] [--queue-size N] [--groups G1+G2]\n"
        "                        [--max-connections N] [--pcap FILE]\n"
        "       vhost-user-vsock --guest-cid N --socket PATH --forward-cid CID\n"
        "                        [--forward-listen P1+P2] [options as above]\n"
        "       vhost-user-vsock --vm guest-cid=N,socket=PATH,uds-path=PATH[,KEY=VALUE...]\n"
        "                        [--vm ...]... [--pcap FILE]\n"
        "       vhost-user-vsock --config FILE [--pcap FILE]\n"
        "\n"
        "A vhost-user back-end for vhost-user-vsock-pci (QEMU), a drop-in for rust-vmm's\n"
        "vhost-device-vsock.  Host programs reach a guest by connecting to uds-path and\n"
        "writing \"CONNECT <port>\\n\"; they get \"OK <local port>\\n\" and then the stream,\n"
        "or a line \"ERROR <reason>\\n\" and the close.  A guest connection to host port P\n"
        "goes to the Unix socket \"<uds-path>_P\" (RST when nobody listens there).\n"
        "VMs sharing a group reach each other by CID (default group: \"default\").\n"
        "\n"
        "  --guest-cid N          CID of the guest (default 3)\n"
        "  --socket PATH          vhost-user socket QEMU connects to\n"
        "  --uds-path PATH        hybrid vsock Unix socket\n"
        "  --forward-cid CID      instead of uds-path: guest connections to host port P\n"
        "                         go to AF_VSOCK CID:P on this host\n"
        "  --forward-listen P1+P2 with --forward-cid: listen on AF_VSOCK ports P1, P2 and\n"
        "                         forward each connection to the same port of the guest\n"
        "  --tx-buffer-size N     per-connection buffer advertised to the guest\n"
        "                         (default 262144; vhost-device-vsock: 65536)\n"
        "  --queue-size N         largest ring a front-end may set up (default 1024)\n"
        "  --groups G1+G2         sibling groups of the VM\n"
        "  --max-connections N    connections of the VM at once, hybrid and guest\n"
        "                         initiated (default 4096); beyond it a host program\n"
        "                         gets \"ERROR too many connections\", a guest an RST\n"
        "  --vm KEY=VAL,...       one VM (repeatable); keys as above without --, also\n"
        "                         with underscores (guest_cid=, uds_path=, ...)\n"
        "  --config FILE          the VMs from a YAML file: a list \"vms:\" of mappings\n"
        "                         with the same keys (vhost-device-vsock's format)\n"
        "  --pcap FILE            capture every packet (LINKTYPE_VSOCK, 271)\n"
        "  --help, -h             this text\n"
        "  --version, -V          the version\n";

/* A string copied out of the --config file, kept until cli_free. */
struct cli_string {
	struct cli_string *next; /* the next one */
	char text[];             /* NUL-terminated */
};

static int complain(FILE *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int complain(FILE *err, const char *fmt, ...)
{
	va_list ap;
	fprintf(err, "vhost-user-vsock: ");
	va_start(ap, fmt);
	vfprintf(err, fmt, ap);
	va_end(ap);
	fprintf(err, "\n(see --help)\n");
	return -EINVAL;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (!*s || *end || errno || v < min || v > max || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	*out = v;
	return 0;
}

/* "a+b+c" into group bits; s is modified (names point into it). */
static int parse_groups(struct cli *cli, char *s, uint32_t *mask, FILE *err)
{
	*mask = 0;
	char *save = NULL;
	for (char *g = strtok_r(s, "+", &save); g; g = strtok_r(NULL, "+", &save)) {
		unsigned i;
		for (i = 0; i < cli->group_count; i++)
			if (!strcmp(cli->group_names[i], g))
				break;
		if (i == cli->group_count) {
			if (cli->group_count == CLI_MAX_GROUPS)
				return complain(err, "too many groups at '%s' (at most %u)", g,
				                CLI_MAX_GROUPS);
			cli->group_names[cli->group_count++] = g;
		}
		*mask |= 1u << i;
	}
	return *mask ? 0 : complain(err, "empty group list");
}

/* "9001+9002" into cfg->forward_listen; s is not kept. */
static int parse_ports(struct vsock_vm_config *cfg, char *s, FILE *err)
{
	char *save = NULL;
	cfg->forward_listen_count = 0;
	for (char *p = strtok_r(s, "+", &save); p; p = strtok_r(NULL, "+", &save)) {
		uint64_t v;
		if (parse_u64(p, 0, 0xfffffffeu, &v))
			return complain(err, "bad forward-listen port '%s'", p);
		for (unsigned i = 0; i < cfg->forward_listen_count; i++)
			if (cfg->forward_listen[i] == v)
				return complain(err, "forward-listen names port %s twice", p);
		if (cfg->forward_listen_count == VM_MAX_FORWARD_LISTEN)
			return complain(err, "more than %u forward-listen ports",
			                VM_MAX_FORWARD_LISTEN);
		cfg->forward_listen[cfg->forward_listen_count++] = (uint32_t)v;
	}
	return cfg->forward_listen_count ? 0 : complain(err, "empty forward-listen list");
}

/* Folds vhost-device-vsock's underscore spelling into ours. */
static void canonical_key(char *dst, size_t size, const char *key)
{
	size_t i = 0;
	for (; key[i] && i + 1 < size; i++)
		dst[i] = key[i] == '_' ? '-' : key[i];
	dst[i] = 0;
}

/* One key of a VM; 0, -ENOENT for a key we do not know, or -EINVAL. */
static int set_key(struct cli *cli, struct vsock_vm_config *cfg, const char *raw_key, char *val,
                   FILE *err)
{
	char key[32];
	uint64_t v;
	canonical_key(key, sizeof(key), raw_key);
	if (!strcmp(key, "guest-cid")) {
		if (parse_u64(val, 3, 0xfffffffeu, &v))
			return complain(err, "bad guest-cid '%s' (3..4294967294)", val);
		cfg->guest_cid = v;
	} else if (!strcmp(key, "socket")) {
		cfg->socket_path = val;
	} else if (!strcmp(key, "uds-path")) {
		cfg->uds_path = val;
	} else if (!strcmp(key, "forward-cid")) {
		if (parse_u64(val, 0, 0xfffffffeu, &v))
			return complain(err, "bad forward-cid '%s' (0..4294967294)", val);
		cfg->forward = true;
		cfg->forward_cid = (uint32_t)v;
	} else if (!strcmp(key, "forward-listen")) {
		return parse_ports(cfg, val, err);
	} else if (!strcmp(key, "tx-buffer-size")) {
		if (parse_u64(val, 4096, 64u << 20, &v))
			return complain(err, "bad tx-buffer-size '%s' (4096..67108864)", val);
		cfg->buf_alloc = (uint32_t)v;
	} else if (!strcmp(key, "queue-size")) {
		if (parse_u64(val, 1, VIRTQ_MAX_SIZE, &v))
			return complain(err, "bad queue-size '%s' (1..%u)", val, VIRTQ_MAX_SIZE);
		cfg->queue_size = (uint32_t)v;
	} else if (!strcmp(key, "max-connections")) {
		if (parse_u64(val, 1, MAX_CONNS_LIMIT, &v))
			return complain(err, "bad max-connections '%s' (1..%u)", val,
			                MAX_CONNS_LIMIT);
		cfg->max_conns = (uint32_t)v;
	} else if (!strcmp(key, "groups")) {
		return parse_groups(cli, val, &cfg->groups, err);
	} else {
		return -ENOENT;
	}
	return 0;
}

static int parse_vm(struct cli *cli, char *spec, struct vsock_vm_config *cfg, FILE *err)
{
	char *save = NULL;
	for (char *kv = strtok_r(spec, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq)
			return complain(err, "--vm expects key=value, got '%s'", kv);
		*eq = 0;
		int r = set_key(cli, cfg, kv, eq + 1, err);
		if (r == -ENOENT)
			return complain(err, "unknown --vm key '%s'", kv);
		if (r)
			return r;
	}
	return 0;
}

/* ---- --config FILE ------------------------------------------------------- */

static char *keep_string(struct cli *cli, const char *text, size_t len)
{
	struct cli_string *s = malloc(sizeof(*s) + len + 1);
	if (!s)
		return NULL;
	memcpy(s->text, text, len);
	s->text[len] = 0;
	s->next = cli->owned;
	cli->owned = s;
	return s->text;
}

static const char *node_kind(const yaml_node_t *node)
{
	switch (node->type) {
	case YAML_SCALAR_NODE:
		return "a value";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/* One entry of "vms:"; 0 or -EINVAL. */
static int config_vm(struct cli *cli, yaml_document_t *doc, yaml_node_t *item, const char *path,
                     struct vsock_vm_config *cfg, FILE *err)
{
	unsigned line = (unsigned)item->start_mark.line + 1;
	if (item->type != YAML_MAPPING_NODE)
		return complain(err, "%s:%u: an entry of vms is %s, not a mapping of keys", path,
		                line, node_kind(item));
	for (yaml_node_pair_t *pair = item->data.mapping.pairs.start;
	     pair < item->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = yaml_document_get_node(doc, pair->key);
		yaml_node_t *value = yaml_document_get_node(doc, pair->value);
		if (!key || !value)
			return complain(err, "%s:%u: broken mapping", path, line);
		unsigned kline = (unsigned)key->start_mark.line + 1;
		if (key->type != YAML_SCALAR_NODE)
			return complain(err, "%s:%u: a key is %s", path, kline, node_kind(key));
		const char *name = (const char *)key->data.scalar.value;
		if (value->type != YAML_SCALAR_NODE)
			return complain(err, "%s:%u: %s is %s, not a value", path, kline, name,
			                node_kind(value));
		char *text = keep_string(cli, (const char *)value->data.scalar.value,
		                         value->data.scalar.length);
		if (!text)
			return complain(err, "out of memory reading %s", path);
		if (strlen(text) != value->data.scalar.length)
			return complain(err, "%s:%u: %s holds a NUL byte", path, kline, name);
		int r = set_key(cli, cfg, name, text, err);
		if (r == -ENOENT) {
			/* vhost-device-vsock ignores keys it does not know. */
			fprintf(err, "vhost-user-vsock: %s:%u: unknown key '%s' ignored\n", path,
			        kline, name);
			continue;
		}
		if (r) {
			fprintf(err, "  (at %s:%u)\n", path, kline);
			return r;
		}
	}
	return 0;
}

static int config_document(struct cli *cli, yaml_document_t *doc, const char *path, FILE *err)
{
	yaml_node_t *root = yaml_document_get_root_node(doc);
	yaml_node_t *vms = NULL;
	if (!root || root->type != YAML_MAPPING_NODE)
		return complain(err, "%s: expected a mapping with a list \"vms:\"", path);
	for (yaml_node_pair_t *pair = root->data.mapping.pairs.start;
	     pair < root->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = yaml_document_get_node(doc, pair->key);
		if (key && key->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)key->data.scalar.value, "vms"))
			vms = yaml_document_get_node(doc, pair->value);
		else if (key && key->type == YAML_SCALAR_NODE)
			fprintf(err, "vhost-user-vsock: %s:%u: unknown key '%s' ignored\n", path,
			        (unsigned)key->start_mark.line + 1,
			        (const char *)key->data.scalar.value);
	}
	if (!vms || vms->type != YAML_SEQUENCE_NODE)
		return complain(err, "%s: \"vms:\" must be a list of VMs", path);
	for (yaml_node_item_t *it = vms->data.sequence.items.start;
	     it < vms->data.sequence.items.top; it++) {
		if (cli->count == CLI_MAX_VMS)
			return complain(err, "%s: more than %u VMs", path, CLI_MAX_VMS);
		struct vsock_vm_config *cfg = &cli->vms[cli->count];
		*cfg = (struct vsock_vm_config){ .guest_cid = CLI_DEFAULT_GUEST_CID };
		int r = config_vm(cli, doc, yaml_document_get_node(doc, *it), path, cfg, err);
		if (r)
			return r;
		cli->count++;
	}
	if (!cli->count)
		return complain(err, "%s: the list \"vms:\" is empty", path);
	return 0;
}

static int parse_config(struct cli *cli, const char *path, FILE *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return complain(err, "--config %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && st.st_size > CLI_MAX_CONFIG_BYTES) {
		fclose(f);
		return complain(err, "--config %s: larger than %u bytes", path,
		                CLI_MAX_CONFIG_BYTES);
	}
	yaml_parser_t parser;
	yaml_document_t doc;
	int r;
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		return complain(err, "--config %s: cannot start the YAML parser", path);
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		r = complain(err, "%s:%u: %s", path, (unsigned)parser.problem_mark.line + 1,
		             parser.problem ? parser.problem : "not YAML");
	} else {
		r = config_document(cli, &doc, path, err);
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	fclose(f);
	return r;
}

void cli_free(struct cli *cli)
{
	while (cli->owned) {
		struct cli_string *s = cli->owned;
		cli->owned = s->next;
		free(s);
	}
}

/* ---- checks and defaults ------------------------------------------------ */

static int check_vm(const struct vsock_vm_config *vm, unsigned i, FILE *err)
{
	if (!vm->socket_path)
		return complain(err, "VM %u (cid %llu) lacks socket", i,
		                (unsigned long long)vm->guest_cid);
	if (!vm->uds_path && !vm->forward)
		return complain(err, "VM %u (cid %llu) needs uds-path or forward-cid", i,
		                (unsigned long long)vm->guest_cid);
	if (vm->uds_path && vm->forward)
		return complain(err,
		                "VM %u (cid %llu): uds-path and forward-cid exclude "
		                "each other",
		                i, (unsigned long long)vm->guest_cid);
	if (vm->forward_listen_count && !vm->forward)
		return complain(err, "VM %u (cid %llu): forward-listen needs forward-cid", i,
		                (unsigned long long)vm->guest_cid);
	return 0;
}

static int check_vms(struct cli *cli, FILE *err)
{
	if (cli->count == 0)
		return complain(err, "no VM given");
	for (unsigned i = 0; i < cli->count; i++) {
		struct vsock_vm_config *vm = &cli->vms[i];
		int r = check_vm(vm, i, err);
		if (r)
			return r;
		for (unsigned j = 0; j < i; j++) {
			const struct vsock_vm_config *o = &cli->vms[j];
			if (vm->guest_cid == o->guest_cid)
				return complain(err, "two VMs share guest-cid %llu",
				                (unsigned long long)vm->guest_cid);
			if (!strcmp(vm->socket_path, o->socket_path) ||
			    (vm->uds_path && o->uds_path && !strcmp(vm->uds_path, o->uds_path)))
				return complain(err, "two VMs share a socket path");
		}
	}
	return 0;
}

static int fill_defaults(struct cli *cli, FILE *err)
{
	for (unsigned i = 0; i < cli->count; i++) {
		struct vsock_vm_config *vm = &cli->vms[i];
		if (!vm->groups) {
			/* The group "default" (vhost-device-vsock's default). */
			unsigned g;
			for (g = 0; g < cli->group_count; g++)
				if (!strcmp(cli->group_names[g], "default"))
					break;
			if (g == CLI_MAX_GROUPS)
				return complain(err, "too many groups for \"default\" too");
			if (g == cli->group_count)
				cli->group_names[cli->group_count++] = "default";
			vm->groups = 1u << g;
		}
		if (!vm->buf_alloc)
			vm->buf_alloc = CLI_DEFAULT_BUF_ALLOC;
		if (!vm->max_conns)
			vm->max_conns = CONN_MAX_DEFAULT;
		if (!vm->queue_size)
			vm->queue_size = CLI_DEFAULT_QUEUE_SIZE;
	}
	return 0;
}

/* ---- the command line --------------------------------------------------- */

enum {
	OPT_VM = 256,
	OPT_CONFIG,
	OPT_PCAP,
	OPT_HELP,
	OPT_VERSION,
	OPT_KEY,
};

int cli_parse(struct cli *cli, int argc, char **argv, FILE *err)
{
	static const struct option options[] = {
		{ "guest-cid", required_argument, NULL, OPT_KEY },
		{ "socket", required_argument, NULL, OPT_KEY },
		{ "uds-path", required_argument, NULL, OPT_KEY },
		{ "forward-cid", required_argument, NULL, OPT_KEY },
		{ "forward-listen", required_argument, NULL, OPT_KEY },
		{ "tx-buffer-size", required_argument, NULL, OPT_KEY },
		{ "queue-size", required_argument, NULL, OPT_KEY },
		{ "groups", required_argument, NULL, OPT_KEY },
		{ "max-connections", required_argument, NULL, OPT_KEY },
		{ "vm", required_argument, NULL, OPT_VM },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "pcap", required_argument, NULL, OPT_PCAP },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 },
	};
	struct vsock_vm_config single = { .guest_cid = CLI_DEFAULT_GUEST_CID };
	const char *config = NULL;
	bool have_single = false;
	int opt, index, r;

	cli->count = 0;
	cli->pcap = NULL;
	cli->group_count = 0;
	opterr = 0;
	optind = 0; /* a full reset of getopt's state (glibc) */
	while ((opt = getopt_long(argc, argv, "hV", options, &index)) != -1) {
		switch (opt) {
		case OPT_KEY:
			r = set_key(cli, &single, options[index].name, optarg, err);
			if (r)
				return r;
			have_single = true;
			break;
		case OPT_VM:
			if (cli->count == CLI_MAX_VMS)
				return complain(err, "more than %u --vm", CLI_MAX_VMS);
			cli->vms[cli->count] =
			        (struct vsock_vm_config){ .guest_cid = CLI_DEFAULT_GUEST_CID };
			r = parse_vm(cli, optarg, &cli->vms[cli->count], err);
			if (r)
				return r;
			cli->count++;
			break;
		case OPT_CONFIG:
			if (config)
				return complain(err, "--config given twice");
			config = optarg;
			break;
		case OPT_PCAP:
			cli->pcap = optarg;
			break;
		case 'h':
		case OPT_HELP:
			fputs(cli_usage, stdout);
			return 1;
		case 'V':
		case OPT_VERSION:
			printf("vhost-user-vsock %s (vhost-device-vsock 0.3 command line)\n",
			       CLI_VERSION);
			return 1;
		default:
			return complain(err, "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return complain(err, "unexpected argument '%s'", argv[optind]);
	if (config && (have_single || cli->count))
		return complain(err, "--config excludes --vm and the single-VM options");
	if (have_single && cli->count)
		return complain(err, "use either --vm or --guest-cid/--socket/--uds-path");
	if (config) {
		r = parse_config(cli, config, err);
		if (r)
			return r;
	} else if (have_single) {
		cli->vms[cli->count++] = single;
	}
	r = fill_defaults(cli, err);
	return r ? r : check_vms(cli, err);
}
