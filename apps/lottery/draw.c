/* draw: the verifiable draw of docs/lottery-protocol.md §8.
 *
 * Everything here is deterministic given the seed, except draw_new_seed.
 * SHA-256 comes from libcrypto; in OpenSSL 3 even the one-shot SHA256()
 * may allocate and so may fail, which is why the hash helpers leave an
 * empty string on failure (callers compare or store the hex and must check
 * hex[0]) and the stream carries a `failed` flag that draw_pick turns into
 * a -1. */
#include "draw.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

int draw_new_seed(uint8_t seed[DRAW_SEED_LEN])
{
    size_t got = 0;
    while (got < DRAW_SEED_LEN) {
        /* Blocks only until the kernel's pool is initialised (boot time). */
        ssize_t r = getrandom(seed + got, DRAW_SEED_LEN - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

static int cmp_id(const void *a, const void *b)
{
    /* strcmp compares as unsigned char: the protocol's "byte value" order. */
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void draw_sort_pool(const char **ids, size_t n)
{
    if (n > 1)
        qsort(ids, n, sizeof *ids, cmp_id);
}

static void to_hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

void draw_pool_hash(const char *const *ids, size_t n, char hex[DRAW_HEX_LEN])
{
    hex[0] = '\0';
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c)
        return;
    uint8_t md[SHA256_DIGEST_LENGTH];
    unsigned mdlen = 0;
    int ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
    for (size_t i = 0; ok && i < n; i++)
        ok = EVP_DigestUpdate(c, ids[i], strlen(ids[i])) == 1 && EVP_DigestUpdate(c, "\n", 1) == 1;
    if (ok && EVP_DigestFinal_ex(c, md, &mdlen) == 1 && mdlen == sizeof md)
        to_hex(md, sizeof md, hex);
    EVP_MD_CTX_free(c);
}

void draw_seed_hash(const uint8_t seed[DRAW_SEED_LEN], char hex[DRAW_HEX_LEN])
{
    uint8_t md[SHA256_DIGEST_LENGTH];
    hex[0] = '\0';
    if (SHA256(seed, DRAW_SEED_LEN, md))
        to_hex(md, sizeof md, hex);
}

void draw_rng_init(struct draw_rng *r, const uint8_t seed[DRAW_SEED_LEN])
{
    memcpy(r->seed, seed, DRAW_SEED_LEN);
    r->block = 0;
    r->used = sizeof r->buf;
    r->failed = 0;
}

/* Refills buf with block r->block: SHA-256(seed || block as 8 bytes BE). */
static int rng_refill(struct draw_rng *r)
{
    uint8_t in[DRAW_SEED_LEN + 8];
    memcpy(in, r->seed, DRAW_SEED_LEN);
    for (int i = 0; i < 8; i++)
        in[DRAW_SEED_LEN + i] = (uint8_t)(r->block >> (56 - 8 * i));
    if (!SHA256(in, sizeof in, r->buf)) {
        r->failed = 1;
        return -1;
    }
    r->block++;
    r->used = 0;
    return 0;
}

uint64_t draw_rng_next(struct draw_rng *r)
{
    /* 32-byte blocks hold exactly four numbers, so a number never straddles
     * two blocks; the check stays general in case the buffer size changes. */
    if (r->failed || (r->used + 8 > sizeof r->buf && rng_refill(r) < 0))
        return 0;
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = (x << 8) | r->buf[r->used + (size_t)i];
    r->used += 8;
    return x;
}

uint64_t draw_uniform(struct draw_rng *r, uint64_t m)
{
    if (m == 0)
        return 0; /* a caller bug; never a division by zero */
    /* m = 1 still reads one number (threshold 0), exactly as §8 says, so
     * the stream position always matches an independent implementation. */
    /* (2^64 - m) mod m, computed in 64 bits: -m wraps to 2^64 - m. The
     * accepted range [t, 2^64) holds a multiple of m values, so x mod m is
     * exactly uniform. At most half of the values are ever rejected. */
    uint64_t t = (0 - m) % m;
    for (;;) {
        uint64_t x = draw_rng_next(r);
        if (r->failed)
            return 0;
        if (x >= t)
            return x % m;
    }
}

int draw_pick(const uint8_t seed[DRAW_SEED_LEN], size_t n, size_t k, size_t *out)
{
    if (k > n)
        return -1;
    if (k == 0)
        return 0;
    if (n > SIZE_MAX / sizeof(size_t))
        return -1;
    size_t *pos = malloc(n * sizeof *pos);
    if (!pos)
        return -1;
    for (size_t i = 0; i < n; i++)
        pos[i] = i;
    struct draw_rng r;
    draw_rng_init(&r, seed);
    for (size_t i = 0; i < k; i++) {
        size_t j = i + (size_t)draw_uniform(&r, (uint64_t)(n - i));
        size_t t = pos[i];
        pos[i] = pos[j];
        pos[j] = t;
        out[i] = pos[i];
    }
    free(pos);
    return r.failed ? -1 : 0;
}

void draw_seed_to_hex(const uint8_t seed[DRAW_SEED_LEN], char hex[DRAW_HEX_LEN])
{
    to_hex(seed, DRAW_SEED_LEN, hex);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int draw_seed_from_hex(const char *hex, uint8_t seed[DRAW_SEED_LEN])
{
    if (!hex || strlen(hex) != 2 * DRAW_SEED_LEN)
        return -1;
    for (size_t i = 0; i < DRAW_SEED_LEN; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        seed[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
