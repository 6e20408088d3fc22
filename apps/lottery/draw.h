/* draw: the verifiable draw, pure functions (no I/O but getrandom).
 *
 * The algorithm is the one in docs/lottery-protocol.md §8, so anyone can
 * recompute a draw from its audit entry: the pool sorted by byte value,
 * SHA-256 commitments, a SHA-256 counter stream as the random source,
 * rejection sampling (no modulo bias) and a partial Fisher-Yates. */
#ifndef LOTTERY_DRAW_H
#define LOTTERY_DRAW_H

#include <stddef.h>
#include <stdint.h>

#define DRAW_SEED_LEN 32
#define DRAW_HEX_LEN 65 /* 64 hex digits + NUL */

/* 32 bytes from getrandom(). 0, or -1 (errno set). */
int draw_new_seed(uint8_t seed[DRAW_SEED_LEN]);

/* Sorts ids in place by byte value (strcmp). */
void draw_sort_pool(const char **ids, size_t n);
/* SHA-256 hex of the sorted ids, each followed by "\n". ids must be sorted.
 * These hash helpers leave hex empty ("") if libcrypto fails (out of
 * memory): callers check hex[0]. */
void draw_pool_hash(const char *const *ids, size_t n, char hex[DRAW_HEX_LEN]);
/* SHA-256 hex of the raw seed. */
void draw_seed_hash(const uint8_t seed[DRAW_SEED_LEN], char hex[DRAW_HEX_LEN]);

/* The deterministic random stream of §8. */
struct draw_rng {
    uint8_t seed[DRAW_SEED_LEN];
    uint64_t block;     /* index of the next block to hash */
    uint8_t buf[32];
    size_t used;        /* bytes of buf consumed (32 = empty) */
    int failed;         /* libcrypto failed: every later number is 0; draw_pick returns -1 */
};
void draw_rng_init(struct draw_rng *r, const uint8_t seed[DRAW_SEED_LEN]);
uint64_t draw_rng_next(struct draw_rng *r);
/* Uniform in [0, m), m >= 1, by rejection (m = 0 returns 0). */
uint64_t draw_uniform(struct draw_rng *r, uint64_t m);

/* Picks k distinct positions of [0, n) (k <= n): out[0..k) in draw order.
 * 0, or -1 when k > n or out of memory. */
int draw_pick(const uint8_t seed[DRAW_SEED_LEN], size_t n, size_t k, size_t *out);

/* Hex <-> bytes for the seed. hex_to_seed: 0, or -1 unless exactly 64 hex digits. */
void draw_seed_to_hex(const uint8_t seed[DRAW_SEED_LEN], char hex[DRAW_HEX_LEN]);
int draw_seed_from_hex(const char *hex, uint8_t seed[DRAW_SEED_LEN]);

#endif
