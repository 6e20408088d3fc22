/* authguard: the back-off that slows secret-key guessing on the internal
 * port, driven with explicit times. */
#include "authguard.h"
#include "tu.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct authguard *fresh(void) { return calloc(1, sizeof(struct authguard)); }

static void test_free_then_doubling(void)
{
    struct authguard *g = fresh();
    int64_t t = 1000, block = -1;
    for (uint32_t i = 1; i <= AUTHGUARD_FREE; i++) {
        CU_ASSERT_EQUAL(authguard_check(g, "10.0.0.9", t, NULL), 0);
        CU_ASSERT_EQUAL(authguard_fail(g, "10.0.0.9", t, &block), i);
        CU_ASSERT_EQUAL(block, 0);
    }
    /* 4th wrong key: 1 s, then 2 s, 4 s ... */
    int64_t want = 1000;
    for (int i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(authguard_fail(g, "10.0.0.9", t, &block), AUTHGUARD_FREE + 1 + (uint32_t)i);
        CU_ASSERT_EQUAL(block, want);
        int first = 0;
        CU_ASSERT_EQUAL(authguard_check(g, "10.0.0.9", t + 1, &first), want - 1);
        CU_ASSERT_EQUAL(first, 1);
        CU_ASSERT_EQUAL(authguard_check(g, "10.0.0.9", t + 2, &first), want - 2);
        CU_ASSERT_EQUAL(first, 0); /* logged once per block */
        /* Another address is not affected. */
        CU_ASSERT_EQUAL(authguard_check(g, "10.0.0.8", t + 1, NULL), 0);
        t += want;
        CU_ASSERT_EQUAL(authguard_check(g, "10.0.0.9", t, NULL), 0);
        want *= 2;
    }
    /* Capped. */
    for (int i = 0; i < 40; i++)
        authguard_fail(g, "10.0.0.9", t, &block);
    CU_ASSERT_EQUAL(block, AUTHGUARD_MAX_BLOCK_MS);
    free(g);
}

static void test_success_and_time_forget(void)
{
    struct authguard *g = fresh();
    int64_t block;
    for (int i = 0; i < 6; i++)
        authguard_fail(g, "a", 0, &block);
    CU_ASSERT(block > 0);
    authguard_ok(g, "a");
    CU_ASSERT_EQUAL(authguard_check(g, "a", 1, NULL), 0);
    CU_ASSERT_EQUAL(authguard_fail(g, "a", 1, &block), 1);
    for (int i = 0; i < 6; i++)
        authguard_fail(g, "b", 0, &block);
    CU_ASSERT_EQUAL(authguard_fail(g, "b", AUTHGUARD_FORGET_MS, &block), 1);
    CU_ASSERT_EQUAL(block, 0);
    free(g);
}

static void test_table_is_bounded(void)
{
    struct authguard *g = fresh();
    char ip[32];
    int64_t block;
    for (int i = 0; i < 6; i++)
        authguard_fail(g, "victim-of-eviction", 0, &block);
    /* Many more addresses than slots: the stalest goes, nothing grows. */
    for (int i = 0; i < AUTHGUARD_SLOTS * 4; i++) {
        snprintf(ip, sizeof ip, "10.1.%d.%d", i / 256, i % 256);
        authguard_fail(g, ip, 1 + i, NULL);
    }
    CU_ASSERT_EQUAL(authguard_check(g, "victim-of-eviction", 2, NULL), 0);
    snprintf(ip, sizeof ip, "10.1.%d.%d", (AUTHGUARD_SLOTS * 4 - 1) / 256, (AUTHGUARD_SLOTS * 4 - 1) % 256);
    CU_ASSERT_EQUAL(authguard_fail(g, ip, AUTHGUARD_SLOTS * 4 + 1, NULL), 2);
    free(g);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("authguard", NULL, NULL);
    CU_add_test(s, "three free failures, then blocks doubling to a cap", test_free_then_doubling);
    CU_add_test(s, "a success or ten quiet minutes forget the streak", test_success_and_time_forget);
    CU_add_test(s, "fixed table: the stalest address is evicted", test_table_is_bounded);
    return tu_run("test_authguard");
}
