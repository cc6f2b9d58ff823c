/*
 * txflood.c -- build/host/txflood: a guest that keeps its tx ring topped up,
 * for tests/backend (issue 12: per-batch budget, sibling bound, log flood).
 * Python cannot refill a ring as fast as the daemon drains it; a guest
 * written in C can, and so can this.
 *
 * fake_frontend.py's Hammer starts it on the fake front-end's guest memory
 * (a memfd) after pointing every avail entry of the tx ring at one
 * descriptor:
 *
 *   txflood MEMFD KICKFD STOPFD NUM AVAIL_OFF USED_OFF PUBLISHED COUNT
 *
 * It keeps avail->idx at (consumed + NUM), kicks, and stops when COUNT
 * packets were consumed (COUNT < 0: never) or STOPFD becomes readable.  It
 * prints "<avail idx published> <packets consumed>" (split-ring layout:
 * virtio 1.2 §2.7; idx is at offset 2 of both rings).
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long arg(char **argv, int i)
{
	return strtol(argv[i], NULL, 0);
}

int main(int argc, char **argv)
{
	if (argc != 9) {
		fprintf(stderr, "usage: txflood MEMFD KICKFD STOPFD NUM AVAIL_OFF USED_OFF "
		                "PUBLISHED COUNT\n");
		return 2;
	}
	int memfd = (int)arg(argv, 1), kick = (int)arg(argv, 2), stop = (int)arg(argv, 3);
	uint32_t num = (uint32_t)arg(argv, 4);
	long avail_off = arg(argv, 5), used_off = arg(argv, 6);
	uint64_t published = (uint64_t)arg(argv, 7);
	long count = arg(argv, 8);
	struct stat st;
	if (fstat(memfd, &st) < 0)
		return 1;
	uint8_t *mem = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED)
		return 1;
	uint16_t *avail_idx = (uint16_t *)(mem + avail_off + 2);
	uint16_t *used_idx = (uint16_t *)(mem + used_off + 2);
	uint64_t start = published, consumed = published;
	uint64_t end = count < 0 ? UINT64_MAX : start + (uint64_t)count;
	unsigned long idle = 0; /* iterations since the daemon last moved */
	for (unsigned long spins = 0; consumed < end; spins++) {
		uint16_t used = __atomic_load_n(used_idx, __ATOMIC_ACQUIRE);
		uint64_t now = published - (uint16_t)((uint16_t)published - used);
		idle = now == consumed ? idle + 1 : 0;
		bool was_empty = now == published;
		consumed = now;
		uint64_t target = consumed + num < end ? consumed + num : end;
		if (target > published) {
			published = target;
			__atomic_store_n(avail_idx, (uint16_t)published, __ATOMIC_RELEASE);
		}
		/* Kick as a driver would: when the daemon may have gone idle
		 * (it saw an empty ring, or has not moved for a while); a
		 * busy daemon finds the new entries without a kick. */
		if (was_empty || idle % 4096 == 4095) {
			uint64_t one = 1;
			if (write(kick, &one, sizeof(one)) < 0 && errno != EAGAIN)
				break;
		}
		if (idle > 100000) {
			struct timespec ts = { 0, 200000 }; /* the daemon holds back */
			nanosleep(&ts, NULL);
		}
		if (spins % 4096 == 0) {
			struct pollfd p = { .fd = stop, .events = POLLIN };
			if (poll(&p, 1, 0) > 0)
				break;
		}
	}
	printf("%llu %llu\n", (unsigned long long)published,
	       (unsigned long long)(consumed - start));
	return 0;
}
