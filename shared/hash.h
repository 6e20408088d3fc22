/* hash: the two hash functions the in-memory tables share (the gateway's
 * client, uid and group indexes, PHP array key indexes). Not for anything
 * that leaves the process: the values may change between builds. */
#ifndef GW_HASH_H
#define GW_HASH_H

#include <stddef.h>
#include <stdint.h>

/* A 64-bit finalizer (splitmix64's): every input bit affects every output
 * bit, so the low bits can index a power-of-two table. */
static inline uint64_t hash_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* FNV-1a over p[0..n), finished with hash_mix64. */
static inline uint64_t hash_bytes(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return hash_mix64(h);
}

#endif
