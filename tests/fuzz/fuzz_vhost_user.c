/*
 * fuzz_vhost_user.c -- libFuzzer target: vhost-user sessions with the
 * daemon's device (host/vhost/vhost_user.c), through its real socket code:
 * a client socket connected to the device's listener, messages sent in
 * pieces with their fds (SCM_RIGHTS), the epoll loop run in between
 * (QEMU docs/interop/vhost-user.rst; DESIGN §6).
 *
 * Memory tables get real memfds of the right or the wrong size, filled
 * with the input's "memory image", so that ring setup and kicks walk rings
 * the fuzzer wrote; a memfd can be truncated under a running ring (the
 * SIGBUS guard).  Kicks run the rings as the vsock layer would: pop, copy,
 * push, notify.
 *
 * Input: u16 image length, the image (at most 16 KiB), then records:
 *   0 message: u8 request, u8 flags (bit 3 NEED_REPLY, bit 7: a size field
 *     of its own follows as u16), u16 payload bytes (mod 600), the payload,
 *     u8 fds (mod 4) then per fd u8 kind (eventfd, memfd of one of six
 *     sizes, a pipe), u8 split (the message goes out in up to 3 pieces)
 *   1 loop: u8 rounds       2 raw: u8 length, bytes       3 truncate the
 *   last memfd: u32 size, then kick      4 read the replies
 * After the records the client hangs up.  Checked after every input: the
 * session ended, the memory is unmapped, no fd leaked.  FUZZ_VHOST_LOG=1
 * shows the daemon's log lines (for one input at a time).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "host/vhost/guest_fault.h"
#include "host/vhost/log.h"
#include "host/vhost/loop.h"
#include "host/vhost/vhost_user.h"
#include "tests/fuzz/fuzz.h"

#define IMAGE_MAX 16384

struct reader {
	const uint8_t *data; /* input */
	size_t size;         /* its bytes */
	size_t at;           /* next byte */
};

static uint64_t take(struct reader *r, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++, r->at++)
		if (r->at < r->size)
			v |= (uint64_t)r->data[r->at] << (8 * i);
	return v;
}

static struct vu_dev dev;    /* the device under test, kept */
static char sock_path[64];   /* its listening socket */
static const uint8_t *image; /* memory image of this input */
static size_t image_len;     /* its bytes */
static int last_memfd = -1;  /* for truncation records */
static int last_kick = -1;   /* eventfd sent last, for kicks */
static uint8_t scratch[VQ_MAX_CHAIN_BYTES];
static FILE *trace; /* FUZZ_VHOST_LOG: what happened */

/* A kick: run the ring as the vsock layer does, under the SIGBUS guard
 * (vm.c's vm_run_guarded). */
static void run_ring(struct vu_dev *d, unsigned idx)
{
	struct guest_fault_guard guard;
	guest_fault_push(&guard, &d->mem);
	if (sigsetjmp(guard.env, 0) != 0) {
		vu_dev_fail(d, "guest memory vanished (fuzz)");
		return;
	}
	struct virtq *vq = vu_dev_queue(d, idx);
	struct vq_chain chain;
	for (unsigned i = 0; vq && i < 64 && virtq_pop(vq, &chain) > 0; i++) {
		if (trace)
			fprintf(trace, "ring %u: chain %u, %zu bytes out, %zu in\n", idx,
			        chain.head, chain.out_bytes, chain.in_bytes);
		iov_copy_from(chain.iov, chain.n_out, 0, scratch, chain.out_bytes);
		iov_copy_to(chain.iov + chain.n_out, chain.n_in, 0, scratch, chain.in_bytes);
		virtq_push(vq, chain.head, (uint32_t)chain.in_bytes);
	}
	if (vq)
		vu_dev_notify(d, idx);
	guest_fault_pop(&guard);
}

static void on_stop(struct vu_dev *d)
{
}

static const struct vu_ops ops = { .kick = run_ring, .stop = on_stop };

static void cleanup(void)
{
	vu_dev_fini(&dev);
	loop_fini();
}

static void init_once(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	/* The daemon's log lines, when looking at one input by hand. */
	trace = getenv("FUZZ_VHOST_LOG") ? stderr : NULL;
	log_set_output(trace);
	if (loop_init() < 0 || guest_fault_init() < 0)
		abort();
	snprintf(sock_path, sizeof(sock_path), "/tmp/fuzz_vhost_user.%d.sock", (int)getpid());
	if (vu_dev_init(&dev, sock_path, 3, &ops, NULL) < 0)
		abort();
	atexit(cleanup);
}

static unsigned count_fds(void)
{
	unsigned n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		abort();
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void run_loop(unsigned rounds)
{
	for (unsigned i = 0; i < rounds; i++)
		if (loop_run_once(0) < 0)
			abort();
}

static int make_fd(unsigned kind)
{
	static const uint64_t sizes[] = { 0, 4096, 65536, 1u << 20, 2u << 20, 3000 };
	int fds[2];
	switch (kind % 3) {
	case 0:
		return eventfd(kind & 8 ? 1 : 0, EFD_CLOEXEC | EFD_NONBLOCK);
	case 1: {
		int fd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0)
			abort();
		uint64_t size = sizes[(kind >> 2) % 6];
		if (ftruncate(fd, (off_t)size) < 0)
			abort();
		size_t n = image_len < size ? image_len : (size_t)size;
		if (n && pwrite(fd, image, n, 0) != (ssize_t)n)
			abort();
		if (kind & 0x80)
			fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
		return fd;
	}
	default:
		if (pipe2(fds, O_CLOEXEC) < 0)
			abort();
		close(fds[1]);
		return fds[0];
	}
}

static void send_all(int sock, const uint8_t *buf, size_t len, const int *fds, unsigned nfds)
{
	char control[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds) {
		memset(control, 0, sizeof(control));
		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	/* The daemon's side is read between pieces; a full socket means it
	 * stopped reading (a reply waits): give up on the rest. */
	for (int tries = 0; tries < 4; tries++) {
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0 || (errno != EAGAIN && errno != EINTR))
			return;
		run_loop(1);
	}
}

static void drain(int sock)
{
	uint8_t buf[8192];
	while (recv(sock, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static void message(struct reader *r, int sock)
{
	uint8_t msg[VU_HDR_SIZE + 600];
	uint32_t request = (uint32_t)take(r, 1), flags = (uint32_t)take(r, 1);
	uint32_t len = (uint32_t)(take(r, 2) % 600), size = len;
	if (flags & 0x80)
		size = (uint32_t)take(r, 2);
	flags = (flags & VU_FLAG_NEED_REPLY) | VU_FLAG_VERSION;
	memcpy(msg, &request, 4);
	memcpy(msg + 4, &flags, 4);
	memcpy(msg + 8, &size, 4);
	for (uint32_t i = 0; i < len; i++)
		msg[VU_HDR_SIZE + i] = (uint8_t)take(r, 1);
	int fds[4];
	unsigned kinds[4], nfds = (unsigned)take(r, 1) % 4;
	for (unsigned i = 0; i < nfds; i++) {
		kinds[i] = (unsigned)take(r, 1);
		fds[i] = make_fd(kinds[i]);
	}
	size_t total = VU_HDR_SIZE + len, split = (size_t)take(r, 1) % (total + 1);
	send_all(sock, msg, split ? split : total, fds, nfds);
	if (split && split < total) {
		run_loop(1); /* the daemon sees the first piece alone */
		send_all(sock, msg + split, total - split, NULL, 0);
	}
	/* The daemon has its own copies; the last memfd and eventfd are kept
	 * for truncation and kick records. */
	for (unsigned i = 0; i < nfds; i++) {
		int *keep = kinds[i] % 3 == 1 ? &last_memfd : kinds[i] % 3 == 0 ? &last_kick : NULL;
		if (keep && *keep >= 0)
			close(*keep);
		if (keep)
			*keep = fds[i];
		else
			close(fds[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = { data, size, 0 };
	init_once();
	unsigned fds_before = count_fds();
	image_len = (size_t)take(&r, 2) % (IMAGE_MAX + 1);
	if (r.at + image_len > size)
		image_len = size - r.at;
	image = data + r.at;
	r.at += image_len;

	int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	strcpy(addr.sun_path, sock_path);
	if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		abort();
	run_loop(2);
	if (dev.conn.fd < 0)
		abort(); /* the previous session did not end */

	for (unsigned records = 0; r.at < size && records < 64; records++) {
		switch (take(&r, 1) % 5) {
		case 0:
			message(&r, sock);
			break;
		case 1:
			run_loop((unsigned)take(&r, 1) % 4 + 1);
			break;
		case 2: {
			size_t n = (size_t)take(&r, 1);
			if (n > size - (r.at < size ? r.at : size))
				n = size - (r.at < size ? r.at : size);
			send_all(sock, data + r.at, n, NULL, 0);
			r.at += n;
			break;
		}
		case 3: {
			uint32_t to = (uint32_t)take(&r, 4);
			if (last_memfd >= 0)
				ftruncate(last_memfd, to % (2u << 20));
			if (last_kick >= 0)
				eventfd_write(last_kick, 1);
			run_loop(1);
			break;
		}
		default:
			drain(sock);
			break;
		}
		run_loop(1);
		drain(sock);
	}

	close(sock);
	for (int i = 0; i < 8 && dev.conn.fd >= 0; i++)
		run_loop(1);
	if (dev.conn.fd >= 0 || dev.mem.count || dev.failed || dev.rx_have || dev.tx_len)
		abort(); /* the hang-up must end the session and forget it */
	for (unsigned i = 0; i < VU_NUM_QUEUES; i++)
		if (vu_dev_queue(&dev, i) || dev.vring[i].call_fd >= 0 || dev.vring[i].kick.fd >= 0)
			abort();
	if (last_memfd >= 0)
		close(last_memfd);
	if (last_kick >= 0)
		close(last_kick);
	last_memfd = last_kick = -1;
	if (count_fds() != fds_before)
		abort(); /* an fd that came with a message was not closed */
	return 0;
}
