/* The lottery end to end (docs/lottery-protocol.md): a real register, two
 * real gateways and the business worker (count 2) running apps/lottery on
 * loopback with a sqlite store, and real WebSocket clients: an admin, a big
 * screen and phones on both gateways. The tests run in order and build on
 * each other (one party: import, prizes, sign-ins, draws, undo, replace,
 * export, danmaku, bad input), and end with `lotteryctl verify` on the store
 * and on an exported, then tampered, audit log. Every wait is a condition
 * with a deadline. */
#include <CUnit/Basic.h>

#include "lottery_harness.h"

#define T 10000 /* ms: any reply or push on a loaded machine */

static struct lh H;
static int started;

#define NP 24     /* participants imported */
#define NSIGNED 16 /* of them signed in: E001..E016 */
#define NPHONES 6  /* phones kept open: E001..E006 */

static const char *names[NP] = {
    "王小明", "李雷", "韩梅梅", "张伟", "王芳", "李娜", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰",
    "吴婷", "徐强", "孙丽", "马超", "朱琳", "胡军", "郭靖", "何欢", "高峰", "林小雨", "欧阳娜娜", "司马光",
};
static const char *depts[4] = {"研发部", "市场部", "财务部", ""};

static char emp[NP][16];
static char token[NP][80];
static struct lc *admin, *screen, *phone[NPHONES];
static long long prize_s, prize_a, prize_b; /* 特等奖 tier 0 q1 excl, 一等奖 tier 1 q3 excl, 二等奖 tier 2 q5 */
static long long t_first_signin;

/* Present winners so far: (prize, empNo) pairs, kept by the tests. */
struct won {
    long long prize, draw;
    char emp[16];
    int absent, undone;
};
static struct won won[64];
static int nwon;

static int idx_of(const char *e)
{
    for (int i = 0; i < NP; i++)
        if (lh_streq(emp[i], e))
            return i;
    return -1;
}

static int won_present(const char *e, long long prize /* 0: any */)
{
    for (int i = 0; i < nwon; i++)
        if (!won[i].absent && !won[i].undone && lh_streq(won[i].emp, e) && (!prize || won[i].prize == prize))
            return 1;
    return 0;
}

static int won_or_absent(const char *e, long long prize)
{
    for (int i = 0; i < nwon; i++)
        if (!won[i].undone && lh_streq(won[i].emp, e) && won[i].prize == prize)
            return 1;
    return 0;
}

/* The pool of §8 as the test expects it: signed in (E001..E016), not a
 * winner (present or absent) of this prize, and for excl prizes not a
 * present winner of any prize. Returns n; ids point into emp[]. */
static size_t expected_pool(long long prize, int excl, const char **ids)
{
    size_t n = 0;
    for (int i = 0; i < NSIGNED; i++) {
        if (won_or_absent(emp[i], prize))
            continue;
        if (excl && won_present(emp[i], 0))
            continue;
        ids[n++] = emp[i];
    }
    return n;
}

static char rid_buf[64][80];
static int rid_n;
static const char *rid(const char *fmt, ...)
{
    char *r = rid_buf[rid_n++ % 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r, 80, fmt, ap);
    va_end(ap);
    return r;
}

/* A fresh admin connection's state (the store's view). */
static json_t *admin_state(void)
{
    struct lc *c = lc_open(H.gw[1].ws_port, "admin-state");
    if (!c)
        return NULL;
    json_t *st = lc_hello(c, "admin", "adminToken", LH_ADMIN_TOKEN, NULL, T);
    lc_close(c);
    return st;
}

/* The parts of a state every role shares (no role, recent, me, storeId). */
static json_t *core_state(void)
{
    json_t *st = admin_state();
    if (!st)
        return NULL;
    json_t *c = json_pack("{s:O?,s:O?,s:O?,s:O?,s:O?,s:O?}", "event", json_object_get(st, "event"), "participants",
                          json_object_get(st, "participants"), "signedIn", json_object_get(st, "signedIn"), "prizes",
                          json_object_get(st, "prizes"), "winners", json_object_get(st, "winners"), "openDraw",
                          json_object_get(st, "openDraw"));
    json_decref(st);
    return c;
}

static json_t *find_prize(const json_t *st, long long id)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(st, "prizes"), i, p) if (lh_int(p, "id") == id) return p;
    return NULL;
}

/* An admin command: {type, rid, ...fields}; returns the answer. */
static json_t *acmd(json_t *msg) { return lc_cmd(admin, msg, T); }

/* json_equal, ignoring a "replayed" marker. */
static int same_reply(const json_t *a, const json_t *b)
{
    if (!a || !b)
        return 0;
    json_t *x = json_deep_copy(a), *y = json_deep_copy(b);
    json_object_del(x, "replayed");
    json_object_del(y, "replayed");
    int eq = json_equal(x, y);
    if (!eq) {
        char *s = json_dumps(x, JSON_COMPACT | JSON_SORT_KEYS), *t = json_dumps(y, JSON_COMPACT | JSON_SORT_KEYS);
        fprintf(stderr, "\n  replies differ:\n   first:  %.600s\n   replay: %.600s\n", s, t);
        free(s);
        free(t);
    }
    json_decref(x);
    json_decref(y);
    return eq;
}

static int is_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!strchr("0123456789abcdef", s[i]))
            return 0;
    return 1;
}

/* ---- setup ---- */

static int suite_init(void)
{
    for (int i = 0; i < NP; i++)
        snprintf(emp[i], sizeof emp[i], "E%03d", i + 1);
    if (lh_start(&H, "lottery-e2e") < 0)
        return -1;
    started = 1;
    return 0;
}

static int suite_clean(void)
{
    if (admin)
        lc_close(admin);
    if (screen)
        lc_close(screen);
    for (int i = 0; i < NPHONES; i++)
        if (phone[i])
            lc_close(phone[i]);
    return started ? lh_finish(&H) : 0;
}

/* ---- the tests ---- */

static void test_admin_hello(void)
{
    struct lc *c = lc_open(H.gw[0].ws_port, "admin");
    CU_ASSERT_FATAL(c != NULL);
    /* a wrong token: forbidden, and the connection is not an admin */
    lc_send(c, json_pack("{s:s,s:s,s:s}", "type", "hello", "role", "admin", "adminToken", "wrong"));
    json_t *e = lc_answer(c, "hello", NULL, T);
    CU_ASSERT(lh_is_error(e, "forbidden", "hello admin with a wrong token"));
    json_decref(e);
    lc_drop(c, "state"); /* the doc does not say whether a state follows; tolerate one */
    json_t *r = lc_cmd(c,
                       json_pack("{s:s,s:s,s:s,s:[{s:s,s:s}]}", "type", "participants.import", "rid", "imp-forbidden",
                                 "mode", "merge", "rows", "empNo", "X1", "name", "x"),
                       T);
    CU_ASSERT(lh_is_error(r, "forbidden", "import after a refused admin hello"));
    json_decref(r);
    /* the right one: the state, as admin */
    json_t *err = NULL;
    json_t *st = lc_hello(c, "admin", "adminToken", LH_ADMIN_TOKEN, &err, T);
    CU_ASSERT_FATAL(st != NULL);
    CU_ASSERT(err == NULL);
    json_decref(err);
    CU_ASSERT(lh_streq(lh_str(st, "role"), "admin"));
    /* The store's identity (the split-store check, protocol §9). */
    static char store_id[40];
    const char *sid = lh_str(st, "storeId");
    CU_ASSERT(sid && strlen(sid) == 32 && strspn(sid, "0123456789abcdef") == 32);
    snprintf(store_id, sizeof store_id, "%s", sid ? sid : "");
    CU_ASSERT(lh_streq(lh_str(json_object_get(st, "event"), "title"), LH_TITLE));
    CU_ASSERT(json_is_false(json_object_get(json_object_get(st, "event"), "openSignup")));
    CU_ASSERT(lh_int(st, "participants") == 0);
    CU_ASSERT(lh_int(st, "signedIn") == 0);
    CU_ASSERT(json_is_array(json_object_get(st, "prizes")) && json_array_size(json_object_get(st, "prizes")) == 0);
    CU_ASSERT(json_is_null(json_object_get(st, "openDraw")));
    CU_ASSERT(json_object_get(st, "me") == NULL || json_is_null(json_object_get(st, "me")));
    json_decref(st);
    admin = c;

    /* the screen: no secret */
    screen = lc_open(H.gw[1].ws_port, "screen");
    CU_ASSERT_FATAL(screen != NULL);
    st = lc_hello(screen, "screen", NULL, NULL, &err, T);
    CU_ASSERT_FATAL(st != NULL);
    CU_ASSERT(err == NULL);
    CU_ASSERT(lh_streq(lh_str(st, "role"), "screen"));
    CU_ASSERT(json_is_array(json_object_get(st, "recent")));
    CU_ASSERT(lh_streq(lh_str(st, "storeId"), store_id)); /* one store, one lottery */
    json_decref(st);
    json_decref(err);
}

static void test_import_and_prizes(void)
{
    CU_ASSERT_FATAL(admin != NULL);
    json_t *rows = json_array();
    for (int i = 0; i < NP; i++)
        json_array_append_new(rows, json_pack("{s:s,s:s,s:s}", "empNo", emp[i], "name", names[i], "dept", depts[i % 4]));
    json_t *imp = json_pack("{s:s,s:s,s:s,s:O}", "type", "participants.import", "rid", "imp-1", "mode", "merge",
                            "rows", rows);
    json_t *r1 = acmd(json_deep_copy(imp));
    CU_ASSERT_FATAL(lh_is_reply(r1, "import"));
    CU_ASSERT(lh_int(r1, "added") == NP);
    CU_ASSERT(lh_int(r1, "updated") == 0);
    CU_ASSERT(lh_int(r1, "total") == NP);
    CU_ASSERT(lh_streq(lh_str(r1, "rid"), "imp-1") && lh_streq(lh_str(r1, "cmd"), "participants.import"));
    /* the screen hears of it */
    json_t *p = lc_push(screen, "participants", T);
    CU_ASSERT(p && lh_int(p, "participants") == NP && lh_int(p, "signedIn") == 0);
    json_decref(p);
    /* the same rid: the stored reply, nothing imported twice */
    json_t *r2 = acmd(imp);
    CU_ASSERT(lh_is_reply(r2, "import replayed") && same_reply(r1, r2));
    json_decref(r1);
    json_decref(r2);
    /* merge: one known row with a new dept */
    json_t *r3 = acmd(json_pack("{s:s,s:s,s:s,s:[{s:s,s:s,s:s}]}", "type", "participants.import", "rid", "imp-2",
                                "mode", "merge", "rows", "empNo", emp[NP - 1], "name", names[NP - 1], "dept",
                                "董事会"));
    CU_ASSERT(lh_is_reply(r3, "merge import") && lh_int(r3, "added") == 0 && lh_int(r3, "updated") == 1 &&
              lh_int(r3, "total") == NP);
    json_decref(r3);
    json_decref(rows);
    /* a rid used for another command */
    json_t *r4 = acmd(json_pack("{s:s,s:s,s:s,s:i,s:i,s:b}", "type", "prize.save", "rid", "imp-1", "name", "x",
                                "tier", 5, "quantity", 1, "excludeWinners", 0));
    CU_ASSERT(lh_is_error(r4, "rid_reused", "prize.save with the import's rid"));
    json_decref(r4);

    /* prizes, saved out of tier order */
    struct {
        const char *name;
        int tier, qty, excl;
        long long *id;
    } pz[] = {{"二等奖", 2, 5, 0, &prize_b}, {"一等奖", 1, 3, 1, &prize_a}, {"特等奖", 0, 1, 1, &prize_s}};
    for (int i = 0; i < 3; i++) {
        json_t *r = acmd(json_pack("{s:s,s:s,s:s,s:i,s:i,s:b}", "type", "prize.save", "rid", rid("prize-%d", i), "name",
                                   pz[i].name, "tier", pz[i].tier, "quantity", pz[i].qty, "excludeWinners", pz[i].excl));
        CU_ASSERT_FATAL(lh_is_reply(r, "prize.save"));
        json_t *prz = json_object_get(r, "prize");
        *pz[i].id = lh_int(prz, "id");
        CU_ASSERT(*pz[i].id > 0);
        CU_ASSERT(lh_streq(lh_str(prz, "name"), pz[i].name));
        CU_ASSERT(lh_int(prz, "quantity") == pz[i].qty && lh_int(prz, "tier") == pz[i].tier);
        CU_ASSERT(json_is_boolean(json_object_get(prz, "excludeWinners")) &&
                  json_is_true(json_object_get(prz, "excludeWinners")) == pz[i].excl);
        json_decref(r);
        json_t *push = lc_push(screen, "prizes", T);
        CU_ASSERT(push && json_array_size(json_object_get(push, "prizes")) == (size_t)i + 1);
        json_decref(push);
    }
    /* bad prizes change nothing */
    json_t *b1 = acmd(json_pack("{s:s,s:s,s:s,s:i,s:i,s:b}", "type", "prize.save", "rid", "prize-bad-1", "name",
                                "三等奖", "tier", 3, "quantity", 0, "excludeWinners", 0));
    CU_ASSERT(lh_is_error(b1, "bad_request", "prize quantity 0"));
    json_decref(b1);
    json_t *b2 = acmd(json_pack("{s:s,s:s,s:i,s:i,s:b}", "type", "prize.save", "rid", "prize-bad-2", "tier", 3,
                                "quantity", 2, "excludeWinners", 0));
    CU_ASSERT(lh_is_error(b2, "bad_request", "prize without a name"));
    json_decref(b2);

    json_t *st = admin_state();
    CU_ASSERT_FATAL(st != NULL);
    json_t *prizes = json_object_get(st, "prizes");
    CU_ASSERT(json_array_size(prizes) == 3);
    /* sorted by tier */
    CU_ASSERT(lh_int(json_array_get(prizes, 0), "id") == prize_s);
    CU_ASSERT(lh_int(json_array_get(prizes, 1), "id") == prize_a);
    CU_ASSERT(lh_int(json_array_get(prizes, 2), "id") == prize_b);
    CU_ASSERT(lh_int(find_prize(st, prize_a), "remaining") == 3 && lh_int(find_prize(st, prize_a), "won") == 0);
    CU_ASSERT(lh_int(st, "participants") == NP);
    json_decref(st);
}

static json_t *signin(struct lc *c, const char *e, const char *name)
{
    json_t *m = json_pack("{s:s,s:s}", "type", "signin", "rid", rid("si-%s-%d", e ? e : "x", rid_n));
    if (e)
        json_object_set_new(m, "empNo", json_string(e));
    if (name)
        json_object_set_new(m, "name", json_string(name));
    return lc_cmd(c, m, T);
}

static void test_signin(void)
{
    t_first_signin = tu_now_ms();
    for (int i = 0; i < NPHONES; i++) {
        char l[24];
        snprintf(l, sizeof l, "phone%d", i);
        phone[i] = lc_open(H.gw[i % 2].ws_port, l);
        CU_ASSERT_FATAL(phone[i] != NULL);
        json_t *err = NULL;
        json_t *st = lc_hello(phone[i], "phone", NULL, NULL, &err, T);
        CU_ASSERT_FATAL(st != NULL);
        CU_ASSERT(err == NULL);
        CU_ASSERT(lh_streq(lh_str(st, "role"), "phone"));
        CU_ASSERT(json_object_get(st, "me") == NULL || json_is_null(json_object_get(st, "me")));
        json_decref(st);
        json_decref(err);
    }
    json_t *r = signin(phone[0], emp[0], "王大明");
    CU_ASSERT(lh_is_error(r, "name_mismatch", "signin with a wrong name"));
    json_decref(r);
    r = signin(phone[0], "E999", "无名氏");
    CU_ASSERT(lh_is_error(r, "not_found", "signin of an unknown empNo (open sign-up off)"));
    json_decref(r);
    r = signin(phone[0], emp[0], NULL);
    CU_ASSERT(lh_is_error(r, "bad_request", "signin without a name"));
    json_decref(r);

    for (int i = 0; i < NSIGNED; i++) {
        struct lc *c = i < NPHONES ? phone[i] : lc_open(H.gw[i % 2].ws_port, "phone-tmp");
        CU_ASSERT_FATAL(c != NULL);
        if (i >= NPHONES) {
            json_t *st = lc_hello(c, "phone", NULL, NULL, NULL, T);
            CU_ASSERT(st != NULL);
            json_decref(st);
        }
        char nm[96];
        /* surrounding spaces are ignored */
        snprintf(nm, sizeof nm, i == 2 ? "  %s " : "%s", names[i]);
        r = signin(c, emp[i], nm);
        CU_ASSERT(lh_is_reply(r, "signin"));
        const char *tok = lh_str(r, "token");
        CU_ASSERT(tok && tok[0]);
        snprintf(token[i], sizeof token[i], "%s", tok ? tok : "");
        json_t *me = json_object_get(r, "me");
        CU_ASSERT(lh_streq(lh_str(me, "empNo"), emp[i]));
        CU_ASSERT(lh_streq(lh_str(me, "name"), names[i]));
        CU_ASSERT(lh_streq(lh_str(me, "dept"), depts[i % 4]));
        CU_ASSERT(json_is_array(json_object_get(me, "won")) && json_array_size(json_object_get(me, "won")) == 0);
        json_decref(r);
        if (i >= NPHONES)
            lc_close(c);
    }
    /* idempotent: another phone, the same person, the same token, no second count */
    struct lc *c = lc_open(H.gw[1].ws_port, "phone-again");
    CU_ASSERT_FATAL(c != NULL);
    json_decref(lc_hello(c, "phone", NULL, NULL, NULL, T));
    r = signin(c, emp[0], names[0]);
    CU_ASSERT(lh_is_reply(r, "signin again") && lh_streq(lh_str(r, "token"), token[0]));
    json_decref(r);
    lc_close(c);

    /* hello with the token restores `me` */
    c = lc_open(H.gw[0].ws_port, "phone-token");
    CU_ASSERT_FATAL(c != NULL);
    json_t *err = NULL;
    json_t *st = lc_hello(c, "phone", "token", token[1], &err, T);
    CU_ASSERT(err == NULL);
    json_t *me = json_object_get(st, "me");
    CU_ASSERT(lh_streq(lh_str(me, "empNo"), emp[1]) && lh_streq(lh_str(me, "token"), token[1]) &&
              lh_streq(lh_str(me, "name"), names[1]));
    CU_ASSERT(lh_int(st, "signedIn") == NSIGNED);
    json_decref(st);
    json_decref(err);
    lc_close(c);

    /* an unknown token: bad_token and the state without me */
    c = lc_open(H.gw[1].ws_port, "phone-badtoken");
    CU_ASSERT_FATAL(c != NULL);
    lc_send(c, json_pack("{s:s,s:s,s:s}", "type", "hello", "role", "phone", "token", "0123456789abcdef0123"));
    json_t *e = lc_answer(c, "hello", NULL, T);
    CU_ASSERT(lh_is_error(e, "bad_token", "hello with an unknown token"));
    json_decref(e);
    st = lc_push(c, "state", T);
    CU_ASSERT(st != NULL);
    CU_ASSERT(st && (json_object_get(st, "me") == NULL || json_is_null(json_object_get(st, "me"))));
    json_decref(st);
    lc_close(c);

    st = admin_state();
    CU_ASSERT(st && lh_int(st, "signedIn") == NSIGNED && lh_int(st, "participants") == NP);
    json_decref(st);
}

static void test_signins_pushes(void)
{
    /* the screen was connected before the first sign-in: its `signins`
     * pushes reach signedIn == 16, name every signed-in person, and are
     * coalesced (at most 10 a second in the whole system). */
    long long end = tu_now_ms() + T;
    int pushes = 0, last = -1;
    int seen[NP] = {0};
    long long t_last = 0;
    while (last != NSIGNED && tu_now_ms() < end) {
        json_t *p = lc_push(screen, "signins", (int)(end - tu_now_ms()));
        if (!p)
            break;
        /* A push that counts no sign-in is the feed's "counts once" push of
         * a fresh lease holder (feed.c): on a loaded machine its first tick,
         * or a lease taken over, may come after the screen joined and
         * before or during the import, with any participants count. It is
         * not one of the sign-ins' pushes. */
        if (lh_int(p, "signedIn") == 0) {
            json_decref(p);
            continue;
        }
        pushes++;
        t_last = tu_now_ms();
        last = (int)lh_int(p, "signedIn");
        CU_ASSERT(lh_int(p, "participants") == NP);
        if (lh_int(p, "participants") != NP)
            fprintf(stderr, "\n  screen: a signins push with signedIn %d said participants %lld, want %d\n", last,
                    (long long)lh_int(p, "participants"), NP);
        size_t i;
        json_t *n;
        json_array_foreach(json_object_get(p, "names"), i, n) for (int k = 0; k < NP; k++) if (
            lh_streq(json_string_value(n), names[k])) seen[k] = 1;
        json_decref(p);
    }
    CU_ASSERT(last == NSIGNED);
    if (last != NSIGNED)
        fprintf(stderr, "\n  screen: last signins push said %d, want %d (%d pushes)\n", last, NSIGNED, pushes);
    for (int k = 0; k < NSIGNED; k++) {
        CU_ASSERT(seen[k]);
        if (!seen[k])
            fprintf(stderr, "\n  screen: %s never named in a signins push\n", names[k]);
    }
    double secs = (double)(t_last - t_first_signin) / 1000.0;
    fprintf(stderr, "\n  screen: %d signins pushes in %.2f s for %d sign-ins ", pushes, secs, NSIGNED + 1);
    /* 17 sign-ins (one repeated) over `secs`: uncoalesced would be 16 pushes */
    CU_ASSERT(pushes <= 10 * secs + 2);
    if (pushes > 10 * secs + 2)
        fprintf(stderr, "\n  screen: %d signins pushes in %.2f s (limit: 10 a second)\n", pushes, secs);
    /* the admin page gets them too */
    json_t *p = NULL;
    end = tu_now_ms() + T;
    while (tu_now_ms() < end) {
        json_decref(p);
        p = lc_push(admin, "signins", (int)(end - tu_now_ms()));
        if (!p || lh_int(p, "signedIn") == NSIGNED)
            break;
    }
    CU_ASSERT(p && lh_int(p, "signedIn") == NSIGNED);
    json_decref(p);
    /* state of the screen: recent names, newest included */
    json_t *st = lc_hello(screen, "screen", NULL, NULL, NULL, T);
    CU_ASSERT(st && json_array_size(json_object_get(st, "recent")) == NSIGNED);
    json_decref(st);
}

/* Every client connected (admin, screen, phones) receives push `type` for
 * draw drawId; returns the screen's (new reference). */
static json_t *everyone_gets(const char *type, long long draw_id, const json_t *winners)
{
    struct lc *all[NPHONES + 2] = {admin, screen};
    for (int i = 0; i < NPHONES; i++)
        all[2 + i] = phone[i];
    json_t *keep = NULL;
    for (int i = 0; i < NPHONES + 2; i++) {
        json_t *p = NULL;
        long long end = tu_now_ms() + T;
        for (;;) { /* skip older pushes of the same type (replays) */
            json_decref(p);
            p = lc_push(all[i], type, (int)(end - tu_now_ms()));
            if (!p)
                break;
            json_t *d = json_object_get(p, "draw");
            long long id = d ? lh_int(d, "drawId") : lh_int(p, "drawId");
            if (id == draw_id)
                break;
        }
        CU_ASSERT(p != NULL);
        if (!p) {
            fprintf(stderr, "\n  %s: no %s push for draw %lld\n", all[i]->label, type, draw_id);
            continue;
        }
        if (winners) {
            int eq = json_equal(json_object_get(json_object_get(p, "draw"), "winners"), winners);
            CU_ASSERT(eq);
            if (!eq)
                fprintf(stderr, "\n  %s: %s with other winners\n", all[i]->label, type);
        }
        if (i == 1)
            keep = json_incref(p);
        json_decref(p);
    }
    return keep;
}

static json_t *start_draw(const char *r, long long prize, int count)
{
    return acmd(json_pack("{s:s,s:s,s:I,s:i}", "type", "draw.start", "rid", r, "prizeId", (json_int_t)prize, "count",
                          count));
}

static json_t *stop_draw(const char *r, long long draw)
{
    return acmd(json_pack("{s:s,s:s,s:I}", "type", "draw.stop", "rid", r, "drawId", (json_int_t)draw));
}

/* A full draw checked against §8: start (commitment over the expected
 * pool), every client sees draw.started, stop (seed matches, winners
 * recomputed here), every client sees draw.result. Returns the stop reply. */
static json_t *checked_draw(const char *tag, long long prize, int excl, int count, json_t **start_reply)
{
    const char *pool[NP];
    size_t n = expected_pool(prize, excl, pool);
    char want_hash[65];
    lh_pool_hash(pool, n, want_hash);

    json_t *s = start_draw(rid("%s-start", tag), prize, count);
    CU_ASSERT_FATAL(lh_is_reply(s, "draw.start"));
    json_t *d = json_object_get(s, "draw");
    long long draw_id = lh_int(d, "drawId");
    CU_ASSERT(draw_id > 0);
    CU_ASSERT(lh_int(d, "prizeId") == prize && lh_int(d, "count") == count);
    CU_ASSERT(lh_int(d, "poolSize") == (long long)n);
    CU_ASSERT(is_hex64(lh_str(d, "poolHash")) && is_hex64(lh_str(d, "seedHash")));
    CU_ASSERT(lh_streq(lh_str(d, "poolHash"), want_hash));
    if (!lh_streq(lh_str(d, "poolHash"), want_hash))
        fprintf(stderr, "\n  %s: poolHash %s, the expected pool of %zu hashes to %s\n", tag, lh_str(d, "poolHash"), n,
                want_hash);
    CU_ASSERT(json_object_get(d, "seed") == NULL); /* not revealed before the stop */
    CU_ASSERT(json_is_array(json_object_get(d, "sample")) && json_array_size(json_object_get(d, "sample")) <= 200 &&
              json_array_size(json_object_get(d, "sample")) > 0);
    json_t *started_push = everyone_gets("draw.started", draw_id, NULL);
    CU_ASSERT(started_push && lh_streq(lh_str(json_object_get(started_push, "draw"), "seedHash"), lh_str(d, "seedHash")));
    json_decref(started_push);
    json_t *st = admin_state();
    CU_ASSERT(st && lh_int(json_object_get(st, "openDraw"), "drawId") == draw_id);
    json_decref(st);

    json_t *r = stop_draw(rid("%s-stop", tag), draw_id);
    CU_ASSERT_FATAL(lh_is_reply(r, "draw.stop"));
    json_t *f = json_object_get(r, "draw");
    CU_ASSERT(lh_int(f, "drawId") == draw_id && lh_int(f, "prizeId") == prize);
    CU_ASSERT(lh_streq(lh_str(f, "poolHash"), lh_str(d, "poolHash")));
    CU_ASSERT(lh_streq(lh_str(f, "seedHash"), lh_str(d, "seedHash")));
    CU_ASSERT(lh_str(f, "prizeName") != NULL);
    char sh[65];
    lh_seed_hash(lh_str(f, "seed"), sh);
    CU_ASSERT(lh_streq(sh, lh_str(d, "seedHash")));
    json_t *w = json_object_get(f, "winners");
    CU_ASSERT_FATAL(json_array_size(w) == (size_t)count);
    const char *want[NP];
    CU_ASSERT_FATAL(lh_draw_winners(pool, n, lh_str(f, "seed"), (size_t)count, want) == 0);
    for (int i = 0; i < count; i++) {
        json_t *x = json_array_get(w, (size_t)i);
        int ok = lh_streq(lh_str(x, "empNo"), want[i]);
        CU_ASSERT(ok);
        if (!ok)
            fprintf(stderr, "\n  %s: winner %d is %s, §8 gives %s\n", tag, i, lh_str(x, "empNo"), want[i]);
        int k = idx_of(lh_str(x, "empNo"));
        CU_ASSERT(k >= 0 && lh_streq(lh_str(x, "name"), names[k]));
        if (k >= 0 && nwon < 64) {
            won[nwon].prize = prize;
            won[nwon].draw = draw_id;
            snprintf(won[nwon].emp, sizeof won[nwon].emp, "%s", emp[k]);
            nwon++;
        }
    }
    json_t *res = everyone_gets("draw.result", draw_id, w);
    json_decref(res);
    if (start_reply)
        *start_reply = s;
    else
        json_decref(s);
    return r;
}

static json_t *d1_start, *d1_stop;

static void test_draw(void)
{
    CU_ASSERT_FATAL(admin && screen);
    d1_stop = checked_draw("d1", prize_a, 1, 2, &d1_start);
    long long id = lh_int(json_object_get(d1_stop, "draw"), "drawId");
    /* state: the winners, the prize's counts */
    json_t *st = admin_state();
    CU_ASSERT_FATAL(st != NULL);
    CU_ASSERT(json_is_null(json_object_get(st, "openDraw")));
    json_t *ws = json_object_get(st, "winners");
    CU_ASSERT(json_array_size(ws) == 2);
    size_t i;
    json_t *w;
    json_array_foreach(ws, i, w)
    {
        CU_ASSERT(lh_int(w, "drawId") == id && lh_int(w, "prizeId") == prize_a);
        CU_ASSERT(json_is_false(json_object_get(w, "absent")));
    }
    CU_ASSERT(lh_int(find_prize(st, prize_a), "won") == 2 && lh_int(find_prize(st, prize_a), "remaining") == 1);
    json_decref(st);
    /* a winner's fresh hello: me.won names the prize; a loser's does not */
    int k = idx_of(won[0].emp);
    CU_ASSERT_FATAL(k >= 0);
    struct lc *c = lc_open(H.gw[k % 2].ws_port, "winner");
    st = lc_hello(c, "phone", "token", token[k], NULL, T);
    json_t *mw = json_object_get(json_object_get(st, "me"), "won");
    CU_ASSERT(json_array_size(mw) == 1 && json_integer_value(json_array_get(mw, 0)) == prize_a);
    json_decref(st);
    lc_close(c);
    int loser = -1;
    for (int j = 0; j < NSIGNED && loser < 0; j++)
        if (!won_present(emp[j], 0))
            loser = j;
    c = lc_open(H.gw[1].ws_port, "loser");
    st = lc_hello(c, "phone", "token", token[loser], NULL, T);
    CU_ASSERT(lh_streq(lh_str(json_object_get(st, "me"), "empNo"), emp[loser]));
    CU_ASSERT(json_array_size(json_object_get(json_object_get(st, "me"), "won")) == 0);
    json_decref(st);
    lc_close(c);
    /* only one draw open at a time */
    json_t *s = start_draw("d1x-start", prize_b, 1);
    CU_ASSERT(lh_is_reply(s, "draw.start while none is open"));
    json_t *s2 = start_draw("d1y-start", prize_b, 1);
    CU_ASSERT(lh_is_error(s2, "draw_open", "a second draw.start"));
    json_t *cx = acmd(json_pack("{s:s,s:s,s:I,s:s}", "type", "draw.cancel", "rid", "d1x-cancel", "drawId",
                                (json_int_t)lh_int(json_object_get(s, "draw"), "drawId"), "reason", "测试取消"));
    CU_ASSERT(lh_is_reply(cx, "draw.cancel"));
    json_t *cp = lc_push(screen, "draw.cancelled", T);
    CU_ASSERT(cp && lh_streq(lh_str(cp, "reason"), "测试取消"));
    json_decref(cp);
    json_decref(s);
    json_decref(s2);
    json_decref(cx);
}

static void test_replay(void)
{
    CU_ASSERT_FATAL(d1_start && d1_stop);
    json_t *before = core_state();
    lc_drop(screen, "draw.result");
    /* the same draw.stop rid: the stored reply, nothing drawn; its pushes again */
    json_t *r = stop_draw("d1-stop", lh_int(json_object_get(d1_stop, "draw"), "drawId"));
    CU_ASSERT(lh_is_reply(r, "draw.stop replayed") && same_reply(d1_stop, r));
    json_t *p = lc_push(screen, "draw.result", T);
    CU_ASSERT(p && json_equal(json_object_get(p, "draw"), json_object_get(d1_stop, "draw")));
    json_decref(p);
    json_decref(r);
    /* the same draw.start rid after the stop: the stored reply, no new draw */
    r = start_draw("d1-start", prize_a, 2);
    CU_ASSERT(lh_is_reply(r, "draw.start replayed") && same_reply(d1_start, r));
    json_decref(r);
    /* even with other fields, the rid wins: the stored reply */
    r = start_draw("d1-start", prize_b, 1);
    CU_ASSERT(r && !lh_streq(lh_str(r, "type"), "reply") ? lh_is_error(r, "rid_reused", "draw.start rid, other args")
                                                         : same_reply(d1_start, r));
    json_decref(r);
    json_t *after = core_state();
    CU_ASSERT(before && after && json_equal(before, after));
    json_decref(before);
    json_decref(after);
    /* a rid reused for another command */
    r = acmd(json_pack("{s:s,s:s,s:s}", "type", "draw.undo", "rid", "d1-stop", "reason", "x"));
    CU_ASSERT(lh_is_error(r, "rid_reused", "draw.undo with draw.stop's rid"));
    json_decref(r);
}

static void test_exclude_winners(void)
{
    /* 二等奖 does not exclude: the 1st prize's winners are in its pool */
    json_decref(checked_draw("d2", prize_b, 0, 3, NULL));
    /* 一等奖: 1 seat left, 2 asked */
    json_t *r = start_draw("d3-too-many", prize_a, 2);
    CU_ASSERT(lh_is_error(r, "not_enough", "count above the remaining seats"));
    json_decref(r);
    /* 一等奖 excludes every present winner */
    json_decref(checked_draw("d3", prize_a, 1, 1, NULL));
    json_t *st = admin_state();
    CU_ASSERT(st && lh_int(find_prize(st, prize_a), "remaining") == 0 && lh_int(find_prize(st, prize_b), "won") == 3);
    CU_ASSERT(st && json_array_size(json_object_get(st, "winners")) == (size_t)nwon);
    json_decref(st);
}

static void test_undo(void)
{
    json_t *r = acmd(json_pack("{s:s,s:s}", "type", "draw.undo", "rid", "u0"));
    CU_ASSERT(lh_is_error(r, "bad_request", "draw.undo without a reason"));
    json_decref(r);
    /* undo while a draw is open: conflict */
    json_t *s = start_draw("u-open-start", prize_s, 1);
    CU_ASSERT(lh_is_reply(s, "draw.start of the special prize"));
    r = acmd(json_pack("{s:s,s:s,s:s}", "type", "draw.undo", "rid", "u-open", "reason", "不行"));
    CU_ASSERT(lh_is_error(r, "conflict", "undo with a draw open"));
    json_decref(r);
    r = acmd(json_pack("{s:s,s:s,s:I,s:s}", "type", "draw.cancel", "rid", "u-open-cancel", "drawId",
                       (json_int_t)lh_int(json_object_get(s, "draw"), "drawId"), "reason", "稍后再抽"));
    CU_ASSERT(lh_is_reply(r, "draw.cancel"));
    json_decref(r);
    json_decref(s);

    long long last = won[nwon - 1].draw;
    lc_drop(screen, "draw.undone");
    for (int i = 0; i < NPHONES; i++)
        lc_drop(phone[i], "draw.undone");
    json_t *u = acmd(json_pack("{s:s,s:s,s:s}", "type", "draw.undo", "rid", "u1", "reason", "主持人口误 <重抽>"));
    CU_ASSERT_FATAL(lh_is_reply(u, "draw.undo"));
    CU_ASSERT(lh_int(u, "drawId") == last);
    for (int i = 0; i < nwon; i++)
        if (won[i].draw == last)
            won[i].undone = 1;
    json_t *p = everyone_gets("draw.undone", last, NULL);
    CU_ASSERT(p && lh_streq(lh_str(p, "reason"), "主持人口误 <重抽>"));
    json_decref(p);
    /* replayed: the same reply, one undo only */
    json_t *u2 = acmd(json_pack("{s:s,s:s,s:s}", "type", "draw.undo", "rid", "u1", "reason", "主持人口误 <重抽>"));
    CU_ASSERT(lh_is_reply(u2, "draw.undo replayed") && same_reply(u, u2));
    json_decref(u);
    json_decref(u2);
    json_t *st = admin_state();
    CU_ASSERT_FATAL(st != NULL);
    size_t i;
    json_t *w;
    int present = 0;
    json_array_foreach(json_object_get(st, "winners"), i, w)
    {
        CU_ASSERT(lh_int(w, "drawId") != last);
        present++;
    }
    CU_ASSERT(present == 5); /* d1 (2) + d2 (3) */
    CU_ASSERT(lh_int(find_prize(st, prize_a), "won") == 2 && lh_int(find_prize(st, prize_a), "remaining") == 1);
    json_decref(st);
}

static char absent_emp[16];

static void test_replace(void)
{
    /* the first winner of d1 is not in the hall */
    snprintf(absent_emp, sizeof absent_emp, "%s", won[0].emp);
    int k = idx_of(absent_emp);
    lc_drop(screen, "winner.absent");
    lc_drop(screen, "draw.started");
    json_t *r = acmd(json_pack("{s:s,s:s,s:I,s:s,s:s}", "type", "winner.replace", "rid", "rep-1", "prizeId",
                               (json_int_t)prize_a, "empNo", absent_emp, "reason", "不在现场"));
    CU_ASSERT_FATAL(lh_is_reply(r, "winner.replace"));
    won[0].absent = 1;
    json_t *d = json_object_get(r, "draw");
    long long draw_id = lh_int(d, "drawId");
    CU_ASSERT(lh_int(d, "count") == 1 && lh_int(d, "prizeId") == prize_a);
    CU_ASSERT(lh_streq(lh_str(d, "replaces"), absent_emp));
    const char *pool[NP];
    size_t n = expected_pool(prize_a, 1, pool);
    char want_hash[65];
    lh_pool_hash(pool, n, want_hash);
    CU_ASSERT(lh_int(d, "poolSize") == (long long)n && lh_streq(lh_str(d, "poolHash"), want_hash));
    json_t *p = lc_push(screen, "winner.absent", T);
    CU_ASSERT(p && lh_int(p, "prizeId") == prize_a && lh_streq(lh_str(p, "empNo"), absent_emp) &&
              lh_streq(lh_str(p, "name"), names[k]) && lh_streq(lh_str(p, "reason"), "不在现场"));
    json_decref(p);
    json_t *s = stop_draw("rep-1-stop", draw_id);
    CU_ASSERT_FATAL(lh_is_reply(s, "draw.stop of the replacement"));
    json_t *f = json_object_get(s, "draw");
    const char *want[1];
    CU_ASSERT(lh_draw_winners(pool, n, lh_str(f, "seed"), 1, want) == 0);
    const char *nw = lh_str(json_array_get(json_object_get(f, "winners"), 0), "empNo");
    CU_ASSERT(lh_streq(nw, want[0]));
    CU_ASSERT(!lh_streq(nw, absent_emp));
    json_t *res = everyone_gets("draw.result", draw_id, json_object_get(f, "winners"));
    json_decref(res);
    if (nw && nwon < 64) {
        won[nwon].prize = prize_a;
        won[nwon].draw = draw_id;
        snprintf(won[nwon].emp, sizeof won[nwon].emp, "%s", nw);
        nwon++;
    }
    json_decref(r);
    json_decref(s);

    json_t *st = admin_state();
    CU_ASSERT_FATAL(st != NULL);
    size_t i;
    json_t *w;
    int found_absent = 0;
    json_array_foreach(json_object_get(st, "winners"), i, w) if (lh_streq(lh_str(w, "empNo"), absent_emp) &&
                                                                 lh_int(w, "prizeId") == prize_a)
    {
        found_absent = json_is_true(json_object_get(w, "absent"));
    }
    CU_ASSERT(found_absent);
    CU_ASSERT(lh_int(find_prize(st, prize_a), "won") == 2 && lh_int(find_prize(st, prize_a), "remaining") == 1);
    json_decref(st);
    /* the absent person's me.won no longer names the prize */
    struct lc *c = lc_open(H.gw[0].ws_port, "absent");
    st = lc_hello(c, "phone", "token", token[k], NULL, T);
    json_t *mw = json_object_get(json_object_get(st, "me"), "won");
    CU_ASSERT(json_is_array(mw));
    json_array_foreach(mw, i, w) CU_ASSERT(json_integer_value(w) != prize_a);
    json_decref(st);
    lc_close(c);
}

static void test_export(void)
{
    json_t *r = acmd(json_pack("{s:s,s:s}", "type", "winners.export", "rid", "x1"));
    CU_ASSERT_FATAL(lh_is_reply(r, "winners.export"));
    const char *csv = lh_str(r, "csv");
    CU_ASSERT_FATAL(csv != NULL);
    CU_ASSERT(lh_str(r, "filename") && strlen(lh_str(r, "filename")) > 0);
    CU_ASSERT(memcmp(csv, "\xef\xbb\xbf", 3) == 0);
    int lines = 0;
    for (const char *s = csv; (s = strchr(s, '\n')); s++)
        lines++;
    /* a header and one line per winner (present or absent) of draws not undone */
    int want = 1;
    for (int i = 0; i < nwon; i++)
        want += !won[i].undone;
    CU_ASSERT(lines == want || (lines == want - 1 && csv[strlen(csv) - 1] != '\n'));
    if (!(lines == want || (lines == want - 1 && csv[strlen(csv) - 1] != '\n')))
        fprintf(stderr, "\n  csv has %d lines, want %d:\n%s\n", lines, want, csv);
    for (int i = 0; i < nwon; i++) {
        if (won[i].undone)
            continue;
        /* the winner's line: empNo, name and status */
        int found = 0;
        const char *s = csv;
        while (!found && (s = strstr(s, won[i].emp))) {
            const char *bol = s, *eol = strchr(s, '\n');
            while (bol > csv && bol[-1] != '\n')
                bol--;
            size_t len = eol ? (size_t)(eol - bol) : strlen(bol);
            char line[512];
            snprintf(line, sizeof line, "%.*s", (int)(len < 500 ? len : 500), bol);
            found = strstr(line, names[idx_of(won[i].emp)]) &&
                    strstr(line, won[i].absent ? "absent" : "won") != NULL;
            s += strlen(won[i].emp);
        }
        CU_ASSERT(found);
        if (!found)
            fprintf(stderr, "\n  csv: no line for %s (%s):\n%s\n", won[i].emp, won[i].absent ? "absent" : "won", csv);
    }
    json_decref(r);
}

static json_t *danmaku(struct lc *c, const char *r, const char *text) /* text may be NULL */
{
    json_t *m = json_pack("{s:s,s:s}", "type", "danmaku", "rid", r);
    if (text)
        json_object_set_new(m, "text", json_string(text));
    return lc_cmd(c, m, T);
}

static void test_danmaku(void)
{
    /* not signed in */
    struct lc *anon = lc_open(H.gw[0].ws_port, "anon");
    json_decref(lc_hello(anon, "phone", NULL, NULL, NULL, T));
    json_t *r = danmaku(anon, "dm-anon", "hi");
    CU_ASSERT(lh_is_error(r, "not_signed_in", "danmaku before signing in"));
    json_decref(r);
    lc_close(anon);

    /* HTML stays text: the screen gets exactly the string */
    const char *html = "恭喜 <b>发财</b> & \"q\" <script>x</script>"; /* 37 characters */
    lc_drop(screen, "danmaku");
    r = danmaku(phone[0], "dm-1", html);
    CU_ASSERT(lh_is_reply(r, "danmaku"));
    json_t *id = json_object_get(r, "id");
    CU_ASSERT(id != NULL);
    json_t *p = lc_push(screen, "danmaku", T);
    CU_ASSERT(p && lh_streq(lh_str(p, "text"), html) && lh_streq(lh_str(p, "name"), names[0]) &&
              json_equal(json_object_get(p, "id"), id));
    json_decref(p);
    p = lc_push(admin, "danmaku", T);
    CU_ASSERT(p && lh_streq(lh_str(p, "text"), html));
    json_decref(p);
    /* the admin deletes it */
    json_t *del = json_pack("{s:s,s:s,s:O}", "type", "danmaku.delete", "rid", "dm-del-1", "id", id);
    json_t *dr = acmd(del);
    CU_ASSERT(lh_is_reply(dr, "danmaku.delete"));
    json_decref(dr);
    p = lc_push(screen, "danmaku.deleted", T);
    CU_ASSERT(p && json_equal(json_object_get(p, "id"), id));
    json_decref(p);
    json_decref(r);

    /* 40 characters (120 bytes of UTF-8) pass; 41 are too long */
    char t40[200] = "", t41[260] = "";
    for (int i = 0; i < 40; i++)
        strcat(t40, "福");
    snprintf(t41, sizeof t41, "%s福", t40);
    r = danmaku(phone[1], "dm-41", t41);
    CU_ASSERT(lh_is_error(r, "too_long", "danmaku of 41 characters"));
    json_decref(r);
    r = danmaku(phone[2], "dm-40", t40);
    CU_ASSERT(lh_is_reply(r, "danmaku of 40 characters"));
    json_decref(r);
    /* over 4 KiB from a phone */
    char *big = malloc(5001);
    memset(big, 'a', 5000);
    big[5000] = 0;
    /* the answer may come without cmd/rid (the message was not parsed) */
    lc_send(phone[1], json_pack("{s:s,s:s,s:s}", "type", "danmaku", "rid", "dm-big", "text", big));
    free(big);
    {
        json_t *e = lc_error(phone[1], T);
        CU_ASSERT(lh_is_error(e, "too_large", "a 5 KB message from a phone"));
        json_decref(e);
    }

    /* rate limit: 3 in a burst, then one per 2 s; six sent at once */
    for (int i = 0; i < 6; i++)
        lc_send(phone[3], json_pack("{s:s,s:s,s:s}", "type", "danmaku", "rid", rid("dm-burst-%d", i), "text", "冲鸭"));
    int ok = 0, limited = 0;
    for (int i = 0; i < 6; i++) {
        char rr[32];
        snprintf(rr, sizeof rr, "dm-burst-%d", i);
        json_t *a = lc_answer(phone[3], "danmaku", rr, T);
        CU_ASSERT(a != NULL);
        if (i < 3)
            CU_ASSERT(lh_is_reply(a, "danmaku within the burst"));
        if (lh_streq(lh_str(a, "type"), "reply"))
            ok++;
        else if (lh_streq(lh_str(a, "code"), "rate_limited"))
            limited++;
        json_decref(a);
    }
    CU_ASSERT(ok >= 3 && limited >= 1 && ok + limited == 6);
    if (!(ok >= 3 && limited >= 1))
        fprintf(stderr, "\n  danmaku burst of 6: %d accepted, %d rate_limited\n", ok, limited);

    /* muted */
    r = acmd(json_pack("{s:s,s:s,s:b}", "type", "event.set", "rid", "mute-1", "danmakuMuted", 1));
    CU_ASSERT(lh_is_reply(r, "event.set danmakuMuted"));
    CU_ASSERT(json_is_true(json_object_get(json_object_get(r, "event"), "danmakuMuted")));
    json_decref(r);
    p = lc_push(phone[4], "event", T);
    CU_ASSERT(p && json_is_true(json_object_get(json_object_get(p, "event"), "danmakuMuted")));
    json_decref(p);
    r = danmaku(phone[4], "dm-muted", "静音了吗");
    CU_ASSERT(lh_is_error(r, "muted", "danmaku while muted"));
    json_decref(r);
    r = acmd(json_pack("{s:s,s:s,s:b}", "type", "event.set", "rid", "mute-0", "danmakuMuted", 0));
    CU_ASSERT(lh_is_reply(r, "event.set unmute"));
    json_decref(r);
    r = danmaku(phone[4], "dm-unmuted", "好了");
    CU_ASSERT(lh_is_reply(r, "danmaku after unmuting"));
    json_decref(r);
}

/* Sends raw text from c; expects an error with code (any cmd/rid). */
static void bad_raw(struct lc *c, const char *text, const char *code)
{
    lc_send_raw(c, text, strlen(text));
    json_t *e = lc_error(c, T);
    char what[200];
    snprintf(what, sizeof what, "sent %.120s", text);
    /* code may list alternatives the doc allows: "a|b" */
    int ok = 0;
    char alt[64];
    snprintf(alt, sizeof alt, "%s", code);
    for (char *sp, *k = strtok_r(alt, "|", &sp); k && !ok; k = strtok_r(NULL, "|", &sp))
        ok = e && lh_streq(lh_str(e, "type"), "error") && lh_streq(lh_str(e, "code"), k);
    CU_ASSERT(ok || lh_is_error(e, code, what));
    json_decref(e);
}

static void test_bad_input(void)
{
    json_t *before = core_state();
    CU_ASSERT_FATAL(before != NULL);
    struct lc *p = phone[5];
    bad_raw(p, "this is not json", "bad_request");
    bad_raw(p, "{\"type\":\"signin\",", "bad_request");
    bad_raw(p, "[1,2,3]", "bad_request");
    bad_raw(p, "\"hello\"", "bad_request");
    bad_raw(p, "{\"type\":5}", "bad_request");
    bad_raw(p, "{\"notype\":\"hello\"}", "bad_request");
    bad_raw(p, "{\"type\":\"draw.begin\",\"rid\":\"x1\"}", "unknown_type");
    bad_raw(p, "{\"type\":\"signin\",\"rid\":\"bad-e\",\"empNo\":\"E 1/\",\"name\":\"x\"}", "bad_request");
    bad_raw(p, "{\"type\":\"signin\",\"rid\":\"bad-n\",\"empNo\":\"E020\",\"name\":\"a\\u0007b\"}", "bad_request");
    bad_raw(p, "{\"type\":\"signin\",\"rid\":\"bad-t\",\"empNo\":20,\"name\":\"x\"}", "bad_request");
    /* a phone may not run admin commands */
    bad_raw(p, "{\"type\":\"draw.start\",\"rid\":\"ph-1\",\"prizeId\":1,\"count\":1}", "forbidden");
    bad_raw(p, "{\"type\":\"winners.export\",\"rid\":\"ph-2\"}", "forbidden");
    /* too large from a phone: a 6 KB hello */
    {
        size_t n = 6000;
        char *m = malloc(n + 64);
        int h = snprintf(m, 64, "{\"type\":\"hello\",\"role\":\"phone\",\"pad\":\"");
        memset(m + h, 'x', n);
        strcpy(m + h + n, "\"}");
        bad_raw(p, m, "too_large");
        free(m);
    }
    /* admin: missing or wrong-typed fields */
    struct lc *a = admin;
    bad_raw(a, "{\"type\":\"draw.start\",\"rid\":\"bad-1\"}", "bad_request");
    bad_raw(a, "{\"type\":\"draw.start\",\"rid\":\"bad-2\",\"prizeId\":1,\"count\":0}", "bad_request");
    bad_raw(a, "{\"type\":\"draw.start\",\"prizeId\":1,\"count\":1}", "bad_request"); /* no rid */
    bad_raw(a, "{\"type\":\"draw.start\",\"rid\":\"bad rid!\",\"prizeId\":1,\"count\":1}", "bad_request");
    bad_raw(a, "{\"type\":\"prize.save\",\"rid\":\"bad-3\",\"name\":\"x\",\"tier\":\"one\",\"quantity\":1}",
            "bad_request");
    bad_raw(a, "{\"type\":\"participants.import\",\"rid\":\"bad-4\",\"rows\":[{\"empNo\":\"E1\"}]}", "bad_request");
    bad_raw(a, "{\"type\":\"participants.import\",\"rid\":\"bad-5\",\"mode\":\"replace\",\"rows\":[{\"empNo\":\"Z1\","
               "\"name\":\"z\"}]}",
            "conflict");
    /* no draw is open: stopping a finished one, or one that never existed */
    {
        char m[200];
        snprintf(m, sizeof m, "{\"type\":\"draw.stop\",\"rid\":\"bad-6\",\"drawId\":%lld}",
                 lh_int(json_object_get(d1_stop, "draw"), "drawId"));
        bad_raw(a, m, "no_open_draw");
    }
    bad_raw(a, "{\"type\":\"draw.stop\",\"rid\":\"bad-6b\",\"drawId\":999999}", "no_open_draw|not_found");
    bad_raw(a, "{\"type\":\"winner.replace\",\"rid\":\"bad-7\",\"prizeId\":1}", "bad_request");
    bad_raw(a, "{\"type\":\"prize.delete\",\"rid\":\"bad-8\",\"id\":999999}", "not_found");
    {
        char m[300];
        snprintf(m, sizeof m, "{\"type\":\"prize.delete\",\"rid\":\"bad-9\",\"id\":%lld}", prize_a);
        bad_raw(a, m, "conflict"); /* it has winners */
        snprintf(m, sizeof m,
                 "{\"type\":\"prize.save\",\"rid\":\"bad-10\",\"id\":%lld,\"name\":\"一等奖\",\"tier\":1,"
                 "\"quantity\":1,\"excludeWinners\":true}",
                 prize_a);
        bad_raw(a, m, "conflict"); /* quantity below its 2 winners */
    }
    /* the connections stay open and nothing changed */
    json_t *st = lc_hello(p, "phone", "token", token[5], NULL, T);
    CU_ASSERT(st && lh_streq(lh_str(json_object_get(st, "me"), "empNo"), emp[5]));
    json_decref(st);
    json_t *after = core_state();
    CU_ASSERT(after && json_equal(before, after));
    if (after && !json_equal(before, after)) {
        char *x = json_dumps(before, JSON_COMPACT), *y = json_dumps(after, JSON_COMPACT);
        fprintf(stderr, "\n  state changed by bad input:\n   before %.800s\n   after  %.800s\n", x, y);
        free(x);
        free(y);
    }
    json_decref(before);
    json_decref(after);
    /* a failed command stored nothing: its rid may be used again */
    json_t *r = acmd(json_pack("{s:s,s:s,s:s,s:i,s:i,s:b}", "type", "prize.save", "rid", "bad-3", "name", "三等奖",
                               "tier", 3, "quantity", 2, "excludeWinners", 0));
    CU_ASSERT(lh_is_reply(r, "prize.save with a failed command's rid"));
    json_decref(r);
}

/* ---- lotteryctl ---- */

static int ctl(const char *out, char *a1, char *a2)
{
    char *bin = tu_bin_path("lotteryctl");
    char err[260];
    snprintf(err, sizeof err, "%s/lotteryctl.err", H.dir);
    char *argv[] = {bin, a1, a2, NULL};
    int st = lh_run(argv, out, err, 30000);
    free(bin);
    return st;
}

static int exit_code(int st) { return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1; }

/* Rewrites an exported audit log: every line re-dumped; when tamper is set,
 * the first draw.stop's first winner is swapped for someone of its pool who
 * did not win, and with rechain the hash chain is recomputed after it (a
 * forger who knows the chain). Returns 0 if the tamper was applied. */
static int rewrite_audit(const char *in, const char *out, int tamper, int rechain)
{
    size_t n;
    char *text = (char *)tu_read_file(in, &n);
    FILE *f = fopen(out, "w");
    if (!text || !f) {
        free(text);
        if (f)
            fclose(f);
        return -1;
    }
    int done = !tamper;
    json_t *pools = json_object(); /* drawId -> pool */
    char prev[65] = "";
    int first = 1;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j) {
            fprintf(f, "%s\n", line);
            continue;
        }
        json_t *e = json_object_get(j, "entry");
        const char *kind = lh_str(e, "kind");
        char key[32];
        snprintf(key, sizeof key, "%lld", lh_int(e, "drawId"));
        if (lh_streq(kind, "draw.start"))
            json_object_set(pools, key, json_object_get(e, "pool"));
        if (!done && lh_streq(kind, "draw.stop")) {
            json_t *w = json_object_get(e, "winners");
            json_t *pool = json_object_get(pools, key);
            size_t i;
            json_t *x;
            json_array_foreach(pool, i, x)
            {
                int winner = 0;
                for (size_t k = 0; k < json_array_size(w); k++)
                    winner |= json_equal(json_array_get(w, k), x);
                if (!winner) {
                    json_array_set(w, 0, x);
                    done = 1;
                    break;
                }
            }
        }
        if (rechain && done && tamper) {
            /* hash = SHA-256(prev_hex "\n" canonical(entry)) */
            char *canon = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
            const char *p = first ? "lottery-audit-v1" : prev;
            size_t cl = strlen(canon), pl = strlen(p);
            char *buf = malloc(pl + 1 + cl);
            memcpy(buf, p, pl);
            buf[pl] = '\n';
            memcpy(buf + pl + 1, canon, cl);
            uint8_t d[32];
            SHA256((uint8_t *)buf, pl + 1 + cl, d);
            char hex[65];
            lh_hex(d, 32, hex);
            json_object_set_new(j, "hash", json_string(hex));
            free(buf);
            free(canon);
        }
        snprintf(prev, sizeof prev, "%s", lh_str(j, "hash") ? lh_str(j, "hash") : "");
        first = 0;
        char *d = json_dumps(j, JSON_COMPACT);
        fprintf(f, "%s\n", d);
        free(d);
        json_decref(j);
    }
    json_decref(pools);
    free(text);
    fclose(f);
    return done ? 0 : -1;
}

static void test_verify(void)
{
    char store_arg[260], out[260], audit[260], copy[260], bad[260], bad2[260];
    snprintf(store_arg, sizeof store_arg, "--store=%s", H.store);
    snprintf(out, sizeof out, "%s/verify.out", H.dir);
    snprintf(audit, sizeof audit, "%s/audit.jsonl", H.dir);
    snprintf(copy, sizeof copy, "%s/audit-copy.jsonl", H.dir);
    snprintf(bad, sizeof bad, "%s/audit-tampered.jsonl", H.dir);
    snprintf(bad2, sizeof bad2, "%s/audit-tampered-rechained.jsonl", H.dir);
    char *bin = tu_bin_path("lotteryctl");
    int have = access(bin, X_OK) == 0;
    free(bin);
    CU_ASSERT_FATAL(have);

    int st = ctl(out, "verify", store_arg);
    CU_ASSERT(exit_code(st) == 0);
    if (exit_code(st) != 0)
        fprintf(stderr, "\n  lotteryctl verify %s: exit %d (see %s/lotteryctl.err)\n", store_arg, exit_code(st), H.dir);
    /* one line per draw: 4 finished (d1, d2, d3 undone but still verifiable, the replacement) */
    int finished = 4;
    CU_ASSERT(lh_file_count(out, "\n") >= finished);

    st = ctl(audit, "export", store_arg);
    CU_ASSERT_FATAL(exit_code(st) == 0);
    /* the log's entries: what happened, nothing erased */
    int starts = 0, stops = 0, undos = 0, cancels = 0, absents = 0, lines = 0;
    {
        size_t n;
        char *text = (char *)tu_read_file(audit, &n);
        CU_ASSERT_FATAL(text != NULL);
        long long seq_prev = -1;
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            json_t *j = json_loads(line, 0, NULL);
            CU_ASSERT(j != NULL);
            lines++;
            long long seq = lh_int(j, "seq");
            CU_ASSERT(seq > seq_prev);
            seq_prev = seq;
            const char *k = lh_str(json_object_get(j, "entry"), "kind");
            starts += lh_streq(k, "draw.start");
            stops += lh_streq(k, "draw.stop");
            undos += lh_streq(k, "draw.undo");
            cancels += lh_streq(k, "draw.cancel");
            absents += lh_streq(k, "winner.absent");
            json_decref(j);
        }
        free(text);
    }
    /* draws opened: d1, d1x (cancelled), d2, d3, u-open (cancelled), rep-1 */
    CU_ASSERT(starts == 6 && stops == finished && undos == 1 && cancels == 2 && absents == 1);
    if (!(starts == 6 && stops == finished && undos == 1 && cancels == 2 && absents == 1))
        fprintf(stderr, "\n  audit: %d lines, %d draw.start, %d draw.stop, %d undo, %d cancel, %d absent\n", lines,
                starts, stops, undos, cancels, absents);

    CU_ASSERT(exit_code(ctl(out, "verify", audit)) == 0);
    /* control: the same entries re-serialised still verify */
    CU_ASSERT(rewrite_audit(audit, copy, 0, 0) == 0);
    CU_ASSERT(exit_code(ctl(out, "verify", copy)) == 0);
    /* one winner edited: the chain breaks */
    CU_ASSERT(rewrite_audit(audit, bad, 1, 0) == 0);
    st = ctl(out, "verify", bad);
    CU_ASSERT(exit_code(st) > 0);
    /* one winner edited and the chain recomputed: the winners do not follow from seed and pool */
    CU_ASSERT(rewrite_audit(audit, bad2, 1, 1) == 0);
    st = ctl(out, "verify", bad2);
    CU_ASSERT(exit_code(st) > 0);
    if (exit_code(st) <= 0)
        fprintf(stderr, "\n  lotteryctl verify accepted %s (a winner changed, chain recomputed)\n", bad2);
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("lottery_e2e", suite_init, suite_clean);
    CU_add_test(s, "admin hello: a wrong token is forbidden, the right one gets the state", test_admin_hello);
    CU_add_test(s, "import with Chinese names, replay, merge; prizes sorted by tier", test_import_and_prizes);
    CU_add_test(s, "sign-in: errors, idempotent token, hello with the token restores me", test_signin);
    CU_add_test(s, "the screen's coalesced signins pushes count everyone", test_signins_pushes);
    CU_add_test(s, "a draw: commitment, reveal, winners recomputed, everyone gets the result", test_draw);
    CU_add_test(s, "the same rid replays the reply and draws nothing", test_replay);
    CU_add_test(s, "excludeWinners: the pool leaves out earlier winners", test_exclude_winners);
    CU_add_test(s, "draw.undo with a reason", test_undo);
    CU_add_test(s, "winner.replace then draw.stop", test_replace);
    CU_add_test(s, "winners.export CSV", test_export);
    CU_add_test(s, "danmaku: HTML as text, length, size, rate limit, mute", test_danmaku);
    CU_add_test(s, "bad input gets its error code and changes nothing", test_bad_input);
    CU_add_test(s, "lotteryctl verify: the store, the export, a tampered copy", test_verify);
    return tu_run("test_lottery_e2e");
}
