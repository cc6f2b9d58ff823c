/*
 * vsockpeer.c -- the test peer inside the Linux guest (issue 4, DESIGN §7).
 *
 * Built static with the host gcc and put in the initramfs by
 * scripts/deps-linux-guest.sh.  `vsockpeer serve PORT` listens on AF_VSOCK
 * PORT, prints "VSOCKPEER READY" on the console and serves one command line
 * per connection (host side: CONNECT PORT through the backend's uds-path):
 *
 *   echo                      echo bytes until EOF, then shutdown(SHUT_WR)
 *   sink                      read until EOF, answer "OK <count> <crc32>"
 *   stall SECONDS             sleep without reading, then act as sink
 *   hold SECONDS              neither read nor close for SECONDS, then exit
 *                             (a guest that ignores the host's close)
 *   source N SEED             send N pseudo-random bytes, shutdown(SHUT_WR),
 *                             read until EOF
 *   dial CID PORT ROLE ARGS   connect to CID:PORT, play ROLE (echo, sink,
 *                             source N SEED, none, say TEXT = send "echo\n"
 *                             and TEXT to another vsockpeer) there; answer on this
 *                             connection "RESULT <errno> <sent> <sent-crc>
 *                             <got> <got-crc>"
 *   many CID PORT COUNT N     COUNT concurrent connections to CID:PORT, each
 *                             sends N bytes, half-closes and expects the same
 *                             bytes back; answer "RESULT 0 <ok> <failed>"
 *
 *   seqdial CID PORT N SEED   SEQPACKET: connect to CID:PORT, send messages
 *                             0..N-1 (EOR on the odd ones), each followed
 *                             by reading its echo; answer "RESULT <errno>
 *                             <echoes equal> <echoes wrong> <echoes with
 *                             MSG_EOR>"
 *
 * and, with SOCK_SEQPACKET, listens on PORT + 1 (5001); the first message
 * of a connection is the command:
 *
 *   sink N SEED               read messages 0..N-1, each with one recv;
 *                             answer one message "RESULT <equal> <wrong>
 *                             <with MSG_EOR>"
 *   send N SEED               send messages 0..N-1 (EOR on the odd ones),
 *                             then wait for the peer's close
 *   trunc LEN [real]          read each message into LEN bytes (with
 *                             MSG_TRUNC when "real") and answer each with
 *                             "got=<return> trunc=<0|1> eor=<0|1>"
 *   echo                      send every message back, MSG_EOR as it came
 *
 * Message i of seed S: seq_size(i, S) bytes (0 and 65536 first, then
 * mostly up to 4 KiB, one in eight up to 64 KiB), byte j is
 * ((i * 131 + S) % 256 + j) * 7 mod 256 (tests/backend: the same
 * generator in Python).  "send" and "seqdial" skip the empty ones: Linux
 * sends nothing for a zero-length send (virtio_transport_send_pkt_info:
 * "Do not send zero length OP_RW pkt").
 *
 * CRCs are zlib's crc32 so the Python side checks them with zlib.crc32.
 * A command line containing "nocrc" skips checksums and pattern generation
 * (benchmarks measure the transport, not the guest's CPU).
 */
#include <errno.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static int checksums = 1; /* 0: "nocrc" given, for benchmarks */

static uint32_t crc_update(uint32_t crc, const unsigned char *p, size_t n)
{
	if (!checksums)
		return 0;
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

struct tally {
	unsigned long long sent, got; /* byte counts */
	uint32_t sent_crc, got_crc;   /* crc32 of those bytes */
};

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read until EOF, counting; echo back when asked. */
static int drain(int fd, struct tally *t, int echo)
{
	static unsigned char buf[65536];
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		t->got += (size_t)r;
		t->got_crc = crc_update(t->got_crc, buf, (size_t)r);
		if (echo) {
			int err = write_all(fd, buf, (size_t)r);
			if (err)
				return err;
			t->sent += (size_t)r;
			t->sent_crc = crc_update(t->sent_crc, buf, (size_t)r);
		}
	}
}

static int source(int fd, unsigned long long n, uint64_t seed, struct tally *t)
{
	static unsigned char buf[65536];
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	while (n) {
		size_t chunk = n < sizeof(buf) ? (size_t)n : sizeof(buf);
		for (size_t i = 0; i < chunk && (checksums || !t->sent); i += 8) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memcpy(buf + i, &x, 8);
		}
		int err = write_all(fd, buf, chunk);
		if (err)
			return err;
		t->sent += chunk;
		t->sent_crc = crc_update(t->sent_crc, buf, chunk);
		n -= chunk;
	}
	shutdown(fd, SHUT_WR);
	return drain(fd, t, 0);
}

static int play(int fd, char *role, char *args, struct tally *t)
{
	if (!strcmp(role, "echo")) {
		int err = drain(fd, t, 1);
		shutdown(fd, SHUT_WR);
		return err;
	}
	if (!strcmp(role, "sink"))
		return drain(fd, t, 0);
	if (!strcmp(role, "source")) {
		unsigned long long n = 0, seed = 0;
		if (!args || sscanf(args, "%llu %llu", &n, &seed) < 1)
			return -EINVAL;
		return source(fd, n, seed, t);
	}
	if (!strcmp(role, "none"))
		return 0;
	if (!strcmp(role, "say")) {
		char line[160];
		int n = snprintf(line, sizeof(line), "echo\n%s", args ? args : "");
		int err = write_all(fd, line, (size_t)n);
		if (err)
			return err;
		t->sent += (size_t)n;
		t->sent_crc = crc_update(t->sent_crc, (unsigned char *)line, (size_t)n);
		shutdown(fd, SHUT_WR);
		return drain(fd, t, 0);
	}
	return -EINVAL;
}

static int dial(unsigned cid, unsigned port)
{
	struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static void answer(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void answer(int fd, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	write_all(fd, line, (size_t)n);
}

static void cmd_many(int ctl, unsigned cid, unsigned port, int count, unsigned long long n)
{
	int ok = 0, failed = 0;
	for (int i = 0; i < count; i++) {
		if (fork() == 0) {
			struct tally t = { 0 };
			int fd = dial(cid, port);
			if (fd < 0)
				_exit(2);
			int err = source(fd, n, (uint64_t)i + 1, &t);
			_exit(!err && t.got == t.sent && t.got_crc == t.sent_crc ? 0 : 1);
		}
	}
	for (int i = 0; i < count; i++) {
		int status;
		if (wait(&status) < 0)
			break;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			ok++;
		else
			failed++;
	}
	answer(ctl, "RESULT 0 %d %d\n", ok, failed);
}

/* ---- SEQPACKET ---------------------------------------------------------- */

#define SEQ_MAX 65536

static size_t seq_size(uint64_t i, uint64_t seed)
{
	if (i == 0)
		return 0;
	if (i == 1)
		return SEQ_MAX;
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull ^ seed;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return (x % 8 == 0) ? (size_t)((x >> 8) % (SEQ_MAX + 1)) : (size_t)((x >> 8) % 4097);
}

static void seq_fill(unsigned char *buf, size_t n, uint64_t i, uint64_t seed)
{
	unsigned base = (unsigned)((i * 131 + seed) % 256);
	for (size_t j = 0; j < n; j++)
		buf[j] = (unsigned char)((base + j) * 7);
}

/* One message in: its length (or -errno), *flags its msg_flags. */
static ssize_t seq_recv(int fd, void *buf, size_t len, int in_flags, int *flags)
{
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t r;
	do
		r = recvmsg(fd, &mh, in_flags);
	while (r < 0 && errno == EINTR);
	*flags = mh.msg_flags;
	return r < 0 ? -errno : r;
}

static int seq_send(int fd, const void *buf, size_t len, int flags)
{
	ssize_t w;
	do
		w = send(fd, buf, len, flags);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return -errno;
	return (size_t)w == len ? 0 : -EIO;
}

static void seq_answer(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void seq_answer(int fd, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	seq_send(fd, line, (size_t)n, MSG_EOR);
}

static unsigned char seq_want[SEQ_MAX + 1], seq_got[SEQ_MAX + 2];

static void seq_serve_one(int fd)
{
	char cmd[256];
	int flags;
	ssize_t n = seq_recv(fd, cmd, sizeof(cmd) - 1, 0, &flags);
	unsigned long long count = 0, seed = 0;
	if (n <= 0)
		return;
	cmd[n] = 0;
	if (sscanf(cmd, "sink %llu %llu", &count, &seed) == 2) {
		unsigned long long ok = 0, bad = 0, eor = 0;
		for (uint64_t i = 0; i < count; i++) {
			size_t want = seq_size(i, seed);
			n = seq_recv(fd, seq_got, sizeof(seq_got), 0, &flags);
			if (n < 0)
				break;
			seq_fill(seq_want, want, i, seed);
			if ((size_t)n == want && !(flags & MSG_TRUNC) &&
			    !memcmp(seq_got, seq_want, want))
				ok++;
			else
				bad++;
			eor += (flags & MSG_EOR) != 0;
		}
		seq_answer(fd, "RESULT %llu %llu %llu", ok, bad, eor);
	} else if (sscanf(cmd, "send %llu %llu", &count, &seed) == 2) {
		for (uint64_t i = 0; i < count; i++) {
			size_t len = seq_size(i, seed);
			if (!len)
				continue;
			seq_fill(seq_want, len, i, seed);
			if (seq_send(fd, seq_want, len, i % 2 ? MSG_EOR : 0) < 0)
				return;
		}
		while (seq_recv(fd, seq_got, sizeof(seq_got), 0, &flags) > 0)
			;
	} else if (!strncmp(cmd, "trunc ", 6)) {
		size_t len = (size_t)atoi(cmd + 6);
		int in_flags = strstr(cmd, "real") ? MSG_TRUNC : 0;
		if (len > SEQ_MAX)
			return;
		for (;;) {
			n = seq_recv(fd, seq_got, len, in_flags, &flags);
			if (n <= 0 && !(n == 0 && (flags & MSG_EOR)))
				return; /* (an empty message has MSG_EOR from us) */
			seq_answer(fd, "got=%zd trunc=%d eor=%d", n, (flags & MSG_TRUNC) != 0,
			           (flags & MSG_EOR) != 0);
		}
	} else if (!strcmp(cmd, "echo")) {
		for (;;) {
			n = seq_recv(fd, seq_got, SEQ_MAX, 0, &flags);
			if (n < 0 || (n == 0 && !(flags & MSG_EOR)))
				return;
			if (seq_send(fd, seq_got, (size_t)n, flags & MSG_EOR) < 0)
				return;
		}
	} else {
		seq_answer(fd, "ERR unknown command");
	}
}

/* seqdial: messages out, each echo back and compared. */
static void cmd_seqdial(int ctl, unsigned cid, unsigned port, unsigned long long count,
                        unsigned long long seed)
{
	struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
	int fd = socket(AF_VSOCK, SOCK_SEQPACKET, 0);
	unsigned long long ok = 0, bad = 0, eor = 0;
	int flags;
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		answer(ctl, "RESULT %d 0 0 0\n", errno);
		if (fd >= 0)
			close(fd);
		return;
	}
	for (uint64_t i = 0; i < count; i++) {
		size_t len = seq_size(i, seed);
		if (!len)
			continue;
		seq_fill(seq_want, len, i, seed);
		if (seq_send(fd, seq_want, len, i % 2 ? MSG_EOR : 0) < 0)
			break;
		ssize_t n = seq_recv(fd, seq_got, sizeof(seq_got), 0, &flags);
		if (n < 0)
			break;
		if ((size_t)n == len && !memcmp(seq_got, seq_want, len))
			ok++;
		else
			bad++;
		eor += (flags & MSG_EOR) != 0;
	}
	close(fd);
	answer(ctl, "RESULT 0 %llu %llu %llu\n", ok, bad, eor);
}

static void serve_one(int fd)
{
	char line[256];
	size_t len = 0;
	/* The command line, byte by byte so no data after it is consumed. */
	while (len < sizeof(line) - 1) {
		ssize_t r = read(fd, line + len, 1);
		if (r <= 0)
			return;
		if (line[len] == '\n')
			break;
		len++;
	}
	line[len] = 0;
	char *save = NULL;
	char *cmd = strtok_r(line, " ", &save);
	char *rest = save;
	struct tally t = { 0 };
	if (!cmd)
		return;
	if (rest && strstr(rest, "nocrc"))
		checksums = 0; /* this connection's process only */
	if (!strcmp(cmd, "hold")) {
		sleep(rest ? (unsigned)atoi(rest) : 1);
		return;
	}
	if (!strcmp(cmd, "stall")) {
		sleep(rest ? (unsigned)atoi(rest) : 1);
		cmd = "sink";
	}
	if (!strcmp(cmd, "sink")) {
		int err = drain(fd, &t, 0);
		answer(fd, "OK %llu %u %d\n", t.got, t.got_crc, err);
	} else if (!strcmp(cmd, "echo") || !strcmp(cmd, "source")) {
		play(fd, cmd, rest, &t);
	} else if (!strcmp(cmd, "dial")) {
		unsigned cid, port;
		char role[32];
		int used = 0;
		if (!rest || sscanf(rest, "%u %u %31s %n", &cid, &port, role, &used) < 3) {
			answer(fd, "RESULT %d 0 0 0 0\n", EINVAL);
			return;
		}
		int dfd = dial(cid, port);
		if (dfd < 0) {
			answer(fd, "RESULT %d 0 0 0 0\n", -dfd);
			return;
		}
		int err = play(dfd, role, rest + used, &t);
		close(dfd);
		answer(fd, "RESULT %d %llu %u %llu %u\n", -err, t.sent, t.sent_crc, t.got,
		       t.got_crc);
	} else if (!strcmp(cmd, "seqdial")) {
		unsigned cid, port;
		unsigned long long count, seed;
		if (!rest || sscanf(rest, "%u %u %llu %llu", &cid, &port, &count, &seed) != 4)
			answer(fd, "RESULT %d 0 0 0\n", EINVAL);
		else
			cmd_seqdial(fd, cid, port, count, seed);
	} else if (!strcmp(cmd, "many")) {
		unsigned cid, port;
		int count;
		unsigned long long n;
		if (!rest || sscanf(rest, "%u %u %d %llu", &cid, &port, &count, &n) != 4)
			answer(fd, "RESULT %d 0 0\n", EINVAL);
		else
			cmd_many(fd, cid, port, count, n);
	} else {
		answer(fd, "ERR unknown command\n");
	}
}

/* Serves every connection of lfd in a child process of its own. */
static void accept_loop(int lfd, void (*serve)(int fd)) __attribute__((noreturn));
static void accept_loop(int lfd, void (*serve)(int fd))
{
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		pid_t pid = fork();
		if (pid == 0) {
			close(lfd);
			signal(SIGCHLD, SIG_DFL);
			serve(fd);
			close(fd);
			_exit(0);
		}
		close(fd);
	}
}

int main(int argc, char **argv)
{
	crc_init();
	if (argc != 3 || strcmp(argv[1], "serve")) {
		fprintf(stderr, "usage: vsockpeer serve PORT\n");
		return 2;
	}
	signal(SIGCHLD, SIG_IGN);
	struct sockaddr_vm addr = { .svm_family = AF_VSOCK,
		                    .svm_cid = VMADDR_CID_ANY,
		                    .svm_port = (unsigned)atoi(argv[2]) };
	int lfd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(lfd, 128) < 0) {
		perror("vsockpeer: listen");
		return 1;
	}
	/* SEQPACKET on the next port, served by a child of its own. */
	struct sockaddr_vm seq_addr = addr;
	seq_addr.svm_port = addr.svm_port + 1;
	int sfd = socket(AF_VSOCK, SOCK_SEQPACKET, 0);
	if (sfd < 0 || bind(sfd, (struct sockaddr *)&seq_addr, sizeof(seq_addr)) < 0 ||
	    listen(sfd, 128) < 0) {
		perror("vsockpeer: SEQPACKET listen");
		return 1;
	}
	if (fork() == 0) {
		close(lfd);
		accept_loop(sfd, seq_serve_one);
	}
	close(sfd);
	printf("VSOCKPEER READY\n");
	fflush(stdout);
	accept_loop(lfd, serve_one);
}
