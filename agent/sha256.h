/*
 * sha256.h -- SHA-256 (FIPS 180-4) for the `sha256sum` program.
 *
 * Typical usage:
 *	struct sha256 ctx;
 *	uint8_t digest[32];
 *
 *	sha256_init(&ctx);
 *	sha256_update(&ctx, data, len);   // as often as needed
 *	sha256_final(&ctx, digest);
 */
#ifndef AGENT_SHA256_H
#define AGENT_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
	uint32_t state[8]; /* chaining value */
	uint64_t bytes;    /* message length so far */
	uint8_t block[64]; /* partial block */
	size_t used;       /* bytes in block */
};

void sha256_init(struct sha256 *ctx);
void sha256_update(struct sha256 *ctx, const void *data, size_t len);
void sha256_final(struct sha256 *ctx, uint8_t digest[32]);

#endif
