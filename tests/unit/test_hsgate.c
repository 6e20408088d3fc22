/* hsgate: the count of wss handshakes inside libwebsockets. Only the
 * bookkeeping: when the gate is full, when a handshake stops counting (its
 * end, its age, its fd number reused), and that no count leaks however
 * begins, ends and reuses interleave. */
#include "../../gateway/hsgate.h"
#include "tu.h"
#include <CUnit/CUnit.h>
#include <stdlib.h>

static void test_full_and_end(void)
{
    struct hsgate *g = hsgate_new(3, 1000);
    CU_ASSERT_FATAL(g != NULL);
    CU_ASSERT_EQUAL(hsgate_next_expiry(g), 0);
    CU_ASSERT_FALSE(hsgate_full(g, 100));
    CU_ASSERT_EQUAL(hsgate_begin(g, 7, 100), 0);
    CU_ASSERT_EQUAL(hsgate_begin(g, 8, 150), 0);
    CU_ASSERT_FALSE(hsgate_full(g, 160));
    CU_ASSERT_EQUAL(hsgate_begin(g, 9, 200), 0);
    CU_ASSERT_TRUE(hsgate_full(g, 200));
    CU_ASSERT_EQUAL(hsgate_active(g, 200), 3);
    CU_ASSERT_EQUAL(hsgate_next_expiry(g), 1100);
    hsgate_end(g, 8);
    CU_ASSERT_FALSE(hsgate_full(g, 210));
    hsgate_end(g, 8); /* twice: nothing more */
    hsgate_end(g, 55); /* never began */
    hsgate_end(g, -1);
    CU_ASSERT_EQUAL(hsgate_active(g, 210), 2);
    hsgate_end(g, 7);
    CU_ASSERT_EQUAL(hsgate_next_expiry(g), 1200); /* 7 ended: 9 is the oldest that counts */
    hsgate_free(g);
}

static void test_age(void)
{
    struct hsgate *g = hsgate_new(2, 1000);
    CU_ASSERT_FATAL(g != NULL);
    hsgate_begin(g, 3, 5000);
    hsgate_begin(g, 4, 5400);
    CU_ASSERT_TRUE(hsgate_full(g, 5999));
    CU_ASSERT_FALSE(hsgate_full(g, 6000)); /* fd 3 stalled for hold_ms: no longer counts */
    CU_ASSERT_EQUAL(hsgate_active(g, 6000), 1);
    CU_ASSERT_EQUAL(hsgate_next_expiry(g), 6400);
    hsgate_end(g, 3); /* ending after it aged out changes nothing */
    CU_ASSERT_EQUAL(hsgate_active(g, 6000), 1);
    CU_ASSERT_EQUAL(hsgate_active(g, 6400), 0);
    CU_ASSERT_EQUAL(hsgate_next_expiry(g), 0);
    hsgate_free(g);
}

static void test_reuse(void)
{
    struct hsgate *g = hsgate_new(10, 1000);
    CU_ASSERT_FATAL(g != NULL);
    /* fd 5's connection died inside lws (no end seen); a new one gets fd 5 */
    hsgate_begin(g, 5, 100);
    hsgate_begin(g, 5, 300);
    CU_ASSERT_EQUAL(hsgate_active(g, 300), 1);
    CU_ASSERT_EQUAL(hsgate_active(g, 1100), 1); /* the old entry ages without uncounting the new */
    CU_ASSERT_EQUAL(hsgate_active(g, 1300), 0);
    /* reused within the same millisecond */
    hsgate_begin(g, 6, 2000);
    hsgate_begin(g, 6, 2000);
    CU_ASSERT_EQUAL(hsgate_active(g, 2000), 1);
    CU_ASSERT_EQUAL(hsgate_active(g, 3000), 0);
    /* a clock at 0 still counts */
    hsgate_begin(g, 1, 0);
    CU_ASSERT_EQUAL(hsgate_active(g, 0), 1);
    hsgate_end(g, 1);
    CU_ASSERT_EQUAL(hsgate_active(g, 0), 0);
    hsgate_free(g);
}

/* Random begins, ends and clock steps over 64 fd numbers against a model
 * (the count is the number of fds whose latest begin is younger than
 * hold_ms and not ended); the ring grows and wraps many times. */
static void test_model(void)
{
    enum { FDS = 64, HOLD = 50 };
    struct hsgate *g = hsgate_new(1000, HOLD);
    CU_ASSERT_FATAL(g != NULL);
    uint64_t began[FDS] = {0}, now = 1;
    unsigned seed = 12345, bad = 0;
    for (int i = 0; i < 200000; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = (seed >> 8) % 100, fd = (seed >> 16) % FDS;
        if (r < 45) {
            CU_ASSERT_EQUAL(hsgate_begin(g, (int)fd, now), 0);
            began[fd] = now;
        } else if (r < 80) {
            hsgate_end(g, (int)fd);
            began[fd] = 0;
        } else
            now += (seed >> 20) % 7;
        unsigned want = 0;
        for (int k = 0; k < FDS; k++)
            want += began[k] && began[k] + HOLD > now;
        if (hsgate_active(g, now) != want)
            bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    hsgate_free(g);
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("hsgate", NULL, NULL);
    CU_add_test(s, "full at max; an end frees a place", test_full_and_end);
    CU_add_test(s, "a handshake stops counting after hold_ms", test_age);
    CU_add_test(s, "a reused fd number ends the old connection's count", test_reuse);
    CU_add_test(s, "200,000 random steps agree with a model", test_model);
    return tu_run("test_hsgate");
}
