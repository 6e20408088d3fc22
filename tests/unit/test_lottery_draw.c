/* draw: the verifiable draw of docs/lottery-protocol.md §8.
 *
 * The expected values below were computed independently from the protocol
 * text with Python's hashlib (tests/unit/lottery_draw_vectors.py, run by
 * hand, not by make): they share no code with apps/lottery/draw.c. */
#include "draw.h"
#include "tu.h"

#include <CUnit/CUnit.h>
#include <string.h>

static const uint8_t SEED_ZERO[DRAW_SEED_LEN]; /* 32 zero bytes */
static uint8_t seed_count[DRAW_SEED_LEN];      /* 00 01 02 ... 1f */
static uint8_t seed_abc[DRAW_SEED_LEN];        /* SHA-256("abc") */

static int setup(void)
{
    for (int i = 0; i < DRAW_SEED_LEN; i++)
        seed_count[i] = (uint8_t)i;
    return draw_seed_from_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", seed_abc);
}

static void test_seed_hash(void)
{
    char hex[DRAW_HEX_LEN];
    draw_seed_hash(SEED_ZERO, hex);
    CU_ASSERT_STRING_EQUAL(hex, "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925");
    draw_seed_hash(seed_count, hex);
    CU_ASSERT_STRING_EQUAL(hex, "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd");
    draw_seed_hash(seed_abc, hex);
    CU_ASSERT_STRING_EQUAL(hex, "4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358");
}

static void test_pool_sort_and_hash(void)
{
    /* Byte order: upper case before lower case, UTF-8 (0xe7...) last. */
    const char *ids[] = {"E002", "E001", "E010", "\xe7\x8e\x8b" /* 王 */, "e001"};
    draw_sort_pool(ids, 5);
    CU_ASSERT_STRING_EQUAL(ids[0], "E001");
    CU_ASSERT_STRING_EQUAL(ids[1], "E002");
    CU_ASSERT_STRING_EQUAL(ids[2], "E010");
    CU_ASSERT_STRING_EQUAL(ids[3], "e001");
    CU_ASSERT_STRING_EQUAL(ids[4], "\xe7\x8e\x8b");
    char hex[DRAW_HEX_LEN];
    draw_pool_hash(ids, 5, hex);
    CU_ASSERT_STRING_EQUAL(hex, "248bc4866bf6e078c19ecaff8880c10b2716009a424f494d9a7b3d690426ad28");
    draw_pool_hash(ids, 0, hex); /* SHA-256 of nothing */
    CU_ASSERT_STRING_EQUAL(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_stream(void)
{
    static const uint64_t zero5[] = {0x2c34ce1df23b838cULL, 0x5abf2a7f6437cca3ULL, 0xd3067ed509ff25f1ULL,
                                     0x1df6b11b582b51ebULL, 0x08e00266fff0aaccULL};
    static const uint64_t count5[] = {0xa9d6e500293a88bdULL, 0x38cbe213d07ab71fULL, 0x8cb2258552072a01ULL,
                                      0xbdf1c40be527f4d0ULL, 0x6061c4386d7a1788ULL};
    struct draw_rng r;
    draw_rng_init(&r, SEED_ZERO);
    for (int i = 0; i < 5; i++) /* the 5th number comes from block 1 */
        CU_ASSERT_EQUAL(draw_rng_next(&r), zero5[i]);
    draw_rng_init(&r, seed_count);
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(draw_rng_next(&r), count5[i]);
    CU_ASSERT_EQUAL(r.failed, 0);
}

static void test_uniform_boundaries(void)
{
    struct draw_rng r;
    /* m = 1: always 0, and it still consumes one number per call (the
     * threshold is 0, every number is accepted). */
    draw_rng_init(&r, SEED_ZERO);
    CU_ASSERT_EQUAL(draw_uniform(&r, 1), 0);
    CU_ASSERT_EQUAL(draw_rng_next(&r), 0x5abf2a7f6437cca3ULL);

    /* m = 2^63 + 1: threshold 2^63 - 1, about half the numbers are
     * rejected. With the zero seed the first two (0x2c.., 0x5a..) are
     * below it, the third is taken: 0xd3067ed509ff25f1 mod (2^63+1). */
    const uint64_t big = (1ULL << 63) + 1;
    draw_rng_init(&r, SEED_ZERO);
    CU_ASSERT_EQUAL(draw_uniform(&r, big), 5982608608469132784ULL);
    CU_ASSERT_EQUAL(draw_rng_next(&r), 0x1df6b11b582b51ebULL); /* exactly 3 consumed */
    draw_rng_init(&r, seed_count); /* first number 0xa9.. is accepted */
    CU_ASSERT_EQUAL(draw_uniform(&r, big), 3014848789425588412ULL);
    draw_rng_init(&r, seed_abc);
    CU_ASSERT_EQUAL(draw_uniform(&r, big), 3722550373202616957ULL);

    /* m = 2^64 - 1: threshold 1, only x = 0 is rejected. */
    draw_rng_init(&r, SEED_ZERO);
    CU_ASSERT_EQUAL(draw_uniform(&r, UINT64_MAX), 3185397464471143308ULL);
    draw_rng_init(&r, seed_count);
    CU_ASSERT_EQUAL(draw_uniform(&r, UINT64_MAX), 12238220826280364221ULL);

    /* m = 3: threshold 1 (2^64 mod 3 = 1). */
    draw_rng_init(&r, SEED_ZERO);
    CU_ASSERT_EQUAL(draw_uniform(&r, 3), 0);
    draw_rng_init(&r, seed_count);
    CU_ASSERT_EQUAL(draw_uniform(&r, 3), 1);
    draw_rng_init(&r, seed_abc);
    CU_ASSERT_EQUAL(draw_uniform(&r, 3), 0);
    CU_ASSERT_EQUAL(r.failed, 0);
}

static void check_pick(const uint8_t *seed, size_t n, size_t k, const size_t *want)
{
    size_t got[16];
    CU_ASSERT_FATAL(k <= 16);
    CU_ASSERT_EQUAL_FATAL(draw_pick(seed, n, k, got), 0);
    for (size_t i = 0; i < k; i++)
        CU_ASSERT_EQUAL(got[i], want[i]);
}

static void test_pick_vectors(void)
{
    check_pick(SEED_ZERO, 10, 3, (const size_t[]){8, 1, 3});
    check_pick(SEED_ZERO, 1000, 5, (const size_t[]){308, 73, 127, 477, 924});
    check_pick(SEED_ZERO, 7, 7, (const size_t[]){2, 4, 5, 6, 3, 1, 0});
    check_pick(seed_count, 10, 3, (const size_t[]){1, 5, 3});
    check_pick(seed_count, 1000, 5, (const size_t[]){221, 68, 995, 327, 908});
    check_pick(seed_count, 7, 7, (const size_t[]){5, 2, 1, 3, 0, 4, 6});
    check_pick(seed_abc, 10, 3, (const size_t[]){6, 1, 3});
    check_pick(seed_abc, 1000, 5, (const size_t[]){766, 181, 201, 925, 727});
    check_pick(seed_abc, 7, 7, (const size_t[]){3, 4, 2, 1, 0, 6, 5});
    /* A prefix of a longer draw is the shorter draw (same stream). */
    check_pick(SEED_ZERO, 1000, 2, (const size_t[]){308, 73});
}

static void test_pick_limits(void)
{
    size_t out[4] = {99, 99, 99, 99};
    CU_ASSERT_EQUAL(draw_pick(SEED_ZERO, 3, 4, out), -1);
    CU_ASSERT_EQUAL(draw_pick(SEED_ZERO, 0, 1, out), -1);
    CU_ASSERT_EQUAL(draw_pick(SEED_ZERO, 0, 0, out), 0);
    CU_ASSERT_EQUAL(out[0], 99); /* k = 0 writes nothing */
    CU_ASSERT_EQUAL(draw_pick(SEED_ZERO, 1, 1, out), 0);
    CU_ASSERT_EQUAL(out[0], 0);
}

static void seed_of(uint32_t i, uint8_t seed[DRAW_SEED_LEN])
{
    /* Distinct deterministic seeds: SHA-256 of "chi" and the counter. */
    memset(seed, 0, DRAW_SEED_LEN);
    seed[0] = 'c';
    seed[1] = 'h';
    seed[2] = 'i';
    seed[28] = (uint8_t)(i >> 24);
    seed[29] = (uint8_t)(i >> 16);
    seed[30] = (uint8_t)(i >> 8);
    seed[31] = (uint8_t)i;
}

static void test_pick_distinct(void)
{
    /* Every k-subset is distinct and in range, for many seeds and sizes. */
    static size_t out[200];
    static unsigned char seen[500];
    for (uint32_t t = 0; t < 300; t++) {
        uint8_t seed[DRAW_SEED_LEN];
        seed_of(t, seed);
        size_t n = 1 + t % 500, k = (t * 7) % (n < 200 ? n + 1 : 200);
        CU_ASSERT_EQUAL_FATAL(draw_pick(seed, n, k, out), 0);
        memset(seen, 0, sizeof seen);
        for (size_t i = 0; i < k; i++) {
            CU_ASSERT_FATAL(out[i] < n);
            CU_ASSERT_EQUAL(seen[out[i]], 0);
            seen[out[i]] = 1;
        }
    }
}

static void test_chi_square(void)
{
    /* 30,000 draws of 1 out of 10 with distinct, fixed seeds: chi-square
     * with 9 degrees of freedom. Its 99.999th percentile is about 39, so 40
     * only fails for a real bias (e.g. a constant or a skewed mapping); the
     * seeds are fixed, so the result cannot flake. A second test counts
     * every position of 3-of-10 draws (each seat should be uniform too). */
    enum { N = 10, DRAWS = 30000 };
    long c1[N] = {0}, c3[3][N] = {{0}};
    for (uint32_t t = 0; t < DRAWS; t++) {
        uint8_t seed[DRAW_SEED_LEN];
        size_t out[3];
        seed_of(t, seed);
        CU_ASSERT_EQUAL_FATAL(draw_pick(seed, N, 1, out), 0);
        c1[out[0]]++;
        seed[3] = 1; /* another family of seeds for the 3-seat draws */
        CU_ASSERT_EQUAL_FATAL(draw_pick(seed, N, 3, out), 0);
        for (int p = 0; p < 3; p++)
            c3[p][out[p]]++;
    }
    double expect = (double)DRAWS / N, chi = 0;
    for (int i = 0; i < N; i++)
        chi += (c1[i] - expect) * (c1[i] - expect) / expect;
    CU_ASSERT(chi < 40.0);
    for (int p = 0; p < 3; p++) {
        double c = 0;
        for (int i = 0; i < N; i++)
            c += (c3[p][i] - expect) * (c3[p][i] - expect) / expect;
        CU_ASSERT(c < 40.0);
    }
}

static void test_seed_hex(void)
{
    char hex[DRAW_HEX_LEN];
    uint8_t back[DRAW_SEED_LEN];
    draw_seed_to_hex(seed_count, hex);
    CU_ASSERT_STRING_EQUAL(hex, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    CU_ASSERT_EQUAL(draw_seed_from_hex(hex, back), 0);
    CU_ASSERT_EQUAL(memcmp(back, seed_count, DRAW_SEED_LEN), 0);
    CU_ASSERT_EQUAL(draw_seed_from_hex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", back), 0);
    CU_ASSERT_EQUAL(memcmp(back, seed_count, DRAW_SEED_LEN), 0);
    CU_ASSERT_EQUAL(draw_seed_from_hex("00", back), -1);
    CU_ASSERT_EQUAL(draw_seed_from_hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00", back), -1);
    CU_ASSERT_EQUAL(draw_seed_from_hex("g00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1", back), -1);
    CU_ASSERT_EQUAL(draw_seed_from_hex(NULL, back), -1);
}

static void test_new_seed(void)
{
    uint8_t a[DRAW_SEED_LEN], b[DRAW_SEED_LEN];
    CU_ASSERT_EQUAL(draw_new_seed(a), 0);
    CU_ASSERT_EQUAL(draw_new_seed(b), 0);
    /* Two equal 256-bit seeds would mean a broken source. */
    CU_ASSERT_NOT_EQUAL(memcmp(a, b, DRAW_SEED_LEN), 0);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("lottery_draw", setup, NULL);
    CU_add_test(s, "seed hash vectors", test_seed_hash);
    CU_add_test(s, "pool sort and hash", test_pool_sort_and_hash);
    CU_add_test(s, "SHA-256 counter stream", test_stream);
    CU_add_test(s, "uniform rejection boundaries", test_uniform_boundaries);
    CU_add_test(s, "draw_pick vectors", test_pick_vectors);
    CU_add_test(s, "draw_pick limits", test_pick_limits);
    CU_add_test(s, "draw_pick distinct", test_pick_distinct);
    CU_add_test(s, "chi-square", test_chi_square);
    CU_add_test(s, "seed hex", test_seed_hex);
    CU_add_test(s, "new seed", test_new_seed);
    return tu_run("test_lottery_draw");
}
