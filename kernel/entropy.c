/*
 * entropy.c -- where programs' random bytes (AT_RANDOM, getrandom) come
 * from, best first: a virtio-rng device (QEMU -device virtio-rng-pci,
 * drivers/virtio_rng/), the CPU's RDRAND / RNDR, or the clock mixed
 * through splitmix64 (not secret; the boot log says when it is all there
 * is).
 */
#include <stdio.h>
#include <string.h>

#include "drivers/virtio_pci/pci.h"
#include "drivers/virtio_pci/virtio_pci.h"
#include "drivers/virtio_rng/virtio_rng.h"
#include "include/arch.h"
#include "kernel/kernel.h"
#include "kernel/user.h"

#ifdef ARCH_x86_64
#define CPU_RNG "RDRAND"
#else
#define CPU_RNG "RNDR"
#endif

static struct virtio_rng *rng; /* the device, if any */
static char rng_name[48];      /* "virtio-rng 00:03.0" */
static uint64_t clock_state;   /* splitmix64 state for the fallback */

void entropy_probe(struct dma_pool *pool)
{
	static struct virtio_device vdev; /* the one device, for good */
	struct pci_device *pci = pci_find(VIRTIO_PCI_VENDOR, VIRTIO_RNG_DEVICE_MODERN, 0);

	if (!pci)
		pci = pci_find(VIRTIO_PCI_VENDOR, VIRTIO_RNG_DEVICE_TRANSITIONAL, 0);
	if (!pci)
		return;
	snprintf(rng_name, sizeof(rng_name), "virtio-rng %02x:%02x.%u", pci->bus, pci->dev,
	         pci->fn);
	vdev.name = rng_name;
	if (virtio_pci_probe(pci, pool, &vdev) != 0)
		return;
	if (virtio_rng_probe(&vdev, pool, &rng) != 0) {
		virtio_pci_remove(&vdev);
		rng = NULL;
	}
}

static uint64_t splitmix(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void user_entropy(void *buf, size_t len)
{
	uint8_t *out = buf;

	while (len && rng) {
		int n = virtio_rng_read(rng, out, len);

		if (n <= 0) {
			rng = NULL; /* reported by the driver; fall back for good */
			break;
		}
		out += n;
		len -= (size_t)n;
	}
	while (len) {
		uint64_t v;
		size_t n = len < 8 ? len : 8;

		if (!arch_random64(&v)) {
			clock_state ^= arch_clock_ns();
			v = splitmix(&clock_state);
		}
		memcpy(out, &v, n);
		out += n;
		len -= n;
	}
}

const char *user_entropy_source(void)
{
	uint64_t v;

	if (rng)
		return rng_name;
	return arch_random64(&v) ? CPU_RNG : "the clock (no virtio-rng, no " CPU_RNG ")";
}
