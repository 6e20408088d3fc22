/* The split-store check (docs/lottery-protocol.md §9), with real processes:
 * a register, two gateways, the lottery's business worker on one sqlite
 * store (the harness), and a second business worker — another "host" — left
 * on a sqlite file of its own. Pages connect; some are greeted by the one
 * lottery, some by the other; within a few checks the screens and admins
 * get the `store_split` alert naming both store ids, and the workers' log
 * says SPLIT. Then, as a control, the same pages on one store only never
 * see an alert while the check runs twice. */
#include "lottery_harness.h"

#define T 10000
#define PAGES 8

static struct lh H;
static char second_ini[300], second_db[300];
static struct launch second;

static int suite_init(void) { return lh_start(&H, "lottery-split") == 0 ? 0 : 1; }

static int suite_clean(void)
{
    int s2 = second.pid > 0 ? launch_stop(&second, 8000) : 0;
    launch_free(&second);
    int r = lh_finish(&H);
    return r == 0 && s2 == 0 ? 0 : 1;
}

/* The second worker: same register, same key, its own name and store. */
static int start_second(void)
{
    char *rel = tu_bin_path("apps/lottery.so");
    char *app = lh_abs(rel);
    free(rel);
    snprintf(second_ini, sizeof second_ini, "%s/second.ini", H.dir);
    snprintf(second_db, sizeof second_db, "%s/other.db", H.dir);
    FILE *f = fopen(second_ini, "w");
    if (!f)
        return -1;
    fprintf(f,
            "[business]\nregisterAddress = 127.0.0.1:%d\nsecretKey = %s\nname = OtherHost\ncount = 2\n"
            "eventHandler = %s\npidFile = %s/second.pid\n[app]\nstore = sqlite:%s\nadminToken = %s\n",
            H.reg_port, LH_KEY, app, H.dir, second_db, LH_ADMIN_TOKEN);
    free(app);
    fclose(f);
    launch_init(&second, H.dir, "business", "second");
    launch_set(&second, "-c");
    launch_set(&second, "%s", second_ini);
    launch_spawn(&second);
    /* Both of its processes linked to both gateways. */
    for (int g = 0; g < 2; g++)
        for (int i = 0; i < 2; i++) {
            char needle[128];
            snprintf(needle, sizeof needle, "business worker 127.0.0.1:OtherHost:%d connected", i);
            if (!lh_file_count_reaches(H.gw[g].p.log, needle, 1, 15000))
                return -1;
        }
    return 0;
}

/* Half screens, half admins, over both gateways; their store ids. */
static int open_pages(struct lc **pages, char ids[][40])
{
    for (int i = 0; i < PAGES; i++) {
        int port = H.gw[i % 2].ws_port;
        json_t *st;
        if (i % 4 < 2) {
            pages[i] = lc_open(port, "screen");
            st = pages[i] ? lc_hello(pages[i], "screen", NULL, NULL, NULL, T) : NULL;
        } else {
            pages[i] = lc_open(port, "admin");
            st = pages[i] ? lc_hello(pages[i], "admin", "adminToken", LH_ADMIN_TOKEN, NULL, T) : NULL;
        }
        if (!st)
            return -1;
        snprintf(ids[i], 40, "%s", lh_str(st, "storeId") ? lh_str(st, "storeId") : "");
        json_decref(st);
    }
    return 0;
}

static void test_split_is_shouted(void)
{
    CU_ASSERT_FATAL(start_second() == 0);
    struct lc *pages[PAGES] = {0};
    char ids[PAGES][40];
    CU_ASSERT_FATAL(open_pages(pages, ids) == 0);
    /* The gateways spread the pages over all four worker processes, so
     * both lotteries greeted some: two different ids among the states. */
    int distinct = 0;
    for (int i = 1; i < PAGES; i++)
        if (strcmp(ids[i], ids[0]) != 0)
            distinct = 1;
    CU_ASSERT_FATAL(distinct);
    /* Every page hears the alert (both feed holders push it), within a few
     * 5-second checks. */
    for (int i = 0; i < PAGES; i++) {
        json_t *a = lc_push(pages[i], "alert", 30000);
        CU_ASSERT(a != NULL);
        if (a) {
            CU_ASSERT(lh_streq(lh_str(a, "code"), "store_split"));
            const json_t *both = json_object_get(a, "storeIds");
            CU_ASSERT(json_array_size(both) == 2);
            CU_ASSERT(strcmp(json_string_value(json_array_get(both, 0)), json_string_value(json_array_get(both, 1))) !=
                      0);
        }
        json_decref(a);
    }
    CU_ASSERT(tu_file_contains(H.bw.log, "SPLIT", 5000) || tu_file_contains(second.log, "SPLIT", 5000));
    for (int i = 0; i < PAGES; i++)
        lc_close(pages[i]);
}

/* The control: the second worker gone, fresh pages all on one store; two
 * full checks pass (the feed holder logs each SPLIT it sees: none new). */
static void test_one_store_is_quiet(void)
{
    CU_ASSERT_FATAL(launch_stop(&second, 8000) == 0);
    /* The gateways drop its links before the pages come (else a page could
     * still be routed to it). */
    for (int g = 0; g < 2; g++) {
        CU_ASSERT_FATAL(lh_file_count_reaches(H.gw[g].p.log, "OtherHost:0 closed", 1, 10000));
        CU_ASSERT_FATAL(lh_file_count_reaches(H.gw[g].p.log, "OtherHost:1 closed", 1, 10000));
    }
    struct lc *pages[PAGES] = {0};
    char ids[PAGES][40];
    CU_ASSERT_FATAL(open_pages(pages, ids) == 0);
    for (int i = 1; i < PAGES; i++)
        CU_ASSERT_STRING_EQUAL(ids[i], ids[0]);
    int before = lh_file_count(H.bw.log, "SPLIT");
    /* Two checks of the admins and screens: 5 s apart. The old pages'
     * stamps went with their connections. */
    CU_ASSERT(lh_file_count_reaches(H.bw.log, "this process now feeds the screens", 1, 1000));
    for (int i = 0; i < PAGES; i++)
        CU_ASSERT(lc_push(pages[i], "alert", i == 0 ? 11000 : 0) == NULL);
    CU_ASSERT_EQUAL(lh_file_count(H.bw.log, "SPLIT"), before);
    for (int i = 0; i < PAGES; i++)
        lc_close(pages[i]);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("lottery_split", suite_init, suite_clean);
    CU_add_test(s, "two stores: every page gets the store_split alert", test_split_is_shouted);
    CU_add_test(s, "one store: no alert", test_one_store_is_quiet);
    return tu_run("test_lottery_split");
}
