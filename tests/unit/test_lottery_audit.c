/* audit: the hash chain and the verifier that recomputes every draw.
 *
 * Each test builds a small log in memory exactly as the store writes it
 * (canonical text, chained hashes), optionally damages it, and runs the
 * verifier over it. "Re-hashed" damage (the attacker recomputes the chain)
 * must still be caught by the draw checks. */
#include "audit.h"
#include "tu.h"

#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#define MAXE 16

struct log {
    json_t *e[MAXE];
    char hash[MAXE][DRAW_HEX_LEN];
    long long seq[MAXE];
    int n;
};

static const char *POOL[] = {"E001", "E002", "E003", "E004", "E005", "E006", "E007"};
#define NPOOL 7

static uint8_t SEED[DRAW_SEED_LEN];

static void add(struct log *l, json_t *e)
{
    CU_ASSERT_FATAL(l->n < MAXE && e != NULL);
    json_object_set_new(e, "at", json_string("2027-01-20T20:15:03Z"));
    l->e[l->n] = e;
    l->seq[l->n] = l->n + 1;
    l->n++;
}

/* (Re)computes every hash from entry i on, as an attacker could. */
static void rehash(struct log *l, int from)
{
    for (int i = from; i < l->n; i++) {
        char *t = audit_canonical(l->e[i]);
        CU_ASSERT_FATAL(t != NULL);
        audit_chain_hash(i ? l->hash[i - 1] : AUDIT_GENESIS, t, l->hash[i]);
        free(t);
    }
}

static json_t *start_entry(long long id, int count, const uint8_t *seed)
{
    json_t *pool = json_array();
    for (int i = 0; i < NPOOL; i++)
        json_array_append_new(pool, json_string(POOL[i]));
    char ph[DRAW_HEX_LEN], sh[DRAW_HEX_LEN];
    draw_pool_hash(POOL, NPOOL, ph);
    draw_seed_hash(seed, sh);
    return json_pack("{s:s, s:I, s:i, s:i, s:o, s:s, s:s, s:n}", "kind", "draw.start", "drawId", (json_int_t)id,
                     "prizeId", 1, "count", count, "pool", pool, "poolHash", ph, "seedHash", sh, "replaces");
}

static json_t *stop_entry(long long id, int count, const uint8_t *seed)
{
    size_t pos[NPOOL];
    CU_ASSERT_FATAL(draw_pick(seed, NPOOL, (size_t)count, pos) == 0);
    json_t *w = json_array();
    for (int i = 0; i < count; i++)
        json_array_append_new(w, json_string(POOL[pos[i]]));
    char hex[DRAW_HEX_LEN];
    draw_seed_to_hex(seed, hex);
    return json_pack("{s:s, s:I, s:s, s:o}", "kind", "draw.stop", "drawId", (json_int_t)id, "seed", hex, "winners",
                     w);
}

/* A log with every kind: import, prize, draw 1 (3 seats), cancel of draw
 * 2, draw 3, undo of 3, an absent winner, a Chinese name in an event. */
static void good_log(struct log *l)
{
    memset(l, 0, sizeof *l);
    uint8_t seed3[DRAW_SEED_LEN];
    memcpy(seed3, SEED, sizeof seed3);
    seed3[0] ^= 0xff;
    add(l, json_pack("{s:s, s:s, s:i, s:i, s:i}", "kind", "import", "mode", "merge", "added", 7, "updated", 0,
                     "total", 7));
    add(l, json_pack("{s:s, s:{s:i, s:s, s:i, s:i, s:b}}", "kind", "prize.save", "prize", "id", 1, "name",
                     "\xe4\xb8\x80\xe7\xad\x89\xe5\xa5\x96" /* 一等奖 */, "tier", 1, "quantity", 5,
                     "excludeWinners", 1));
    add(l, start_entry(1, 3, SEED));
    add(l, stop_entry(1, 3, SEED));
    add(l, start_entry(2, 1, SEED));
    add(l, json_pack("{s:s, s:i, s:s}", "kind", "draw.cancel", "drawId", 2, "reason", "mic broke"));
    add(l, start_entry(3, 2, seed3));
    add(l, stop_entry(3, 2, seed3));
    add(l, json_pack("{s:s, s:i, s:s}", "kind", "draw.undo", "drawId", 3, "reason", "wrong prize"));
    add(l, json_pack("{s:s, s:i, s:s, s:i, s:s}", "kind", "winner.absent", "prizeId", 1, "empNo", "E002", "drawId",
                     1, "reason", "not here"));
    rehash(l, 0);
}

static void free_log(struct log *l)
{
    for (int i = 0; i < l->n; i++)
        json_decref(l->e[i]);
}

/* Verifies l: 0 if it all passes, else the seq that failed (err filled). */
static long long run(const struct log *l, char *err, size_t errlen, int *draws)
{
    struct audit_verifier *v = audit_verifier_new();
    CU_ASSERT_FATAL(v != NULL);
    long long bad = 0;
    for (int i = 0; i < l->n && !bad; i++) {
        char *line = NULL;
        if (audit_verify_next(v, l->seq[i], l->hash[i], l->e[i], &line, err, errlen) < 0)
            bad = l->seq[i];
        else if (strcmp(json_string_value(json_object_get(l->e[i], "kind")), "draw.stop") == 0)
            CU_ASSERT(line != NULL && strstr(line, "draw ") == line);
        free(line);
    }
    if (draws)
        *draws = (int)audit_verifier_draws(v);
    if (!bad)
        CU_ASSERT_EQUAL(audit_verifier_entries(v), l->n);
    audit_verifier_free(v);
    return bad;
}

static int setup(void)
{
    for (int i = 0; i < DRAW_SEED_LEN; i++)
        SEED[i] = (uint8_t)(i * 37 + 11);
    return 0;
}

static void test_canonical(void)
{
    json_t *e = json_pack("{s:s, s:i, s:s}", "z", "\xe7\x8e\x8b" /* 王 */, "a", 1, "m", "x");
    char *t = audit_canonical(e);
    CU_ASSERT_STRING_EQUAL(t, "{\"a\":1,\"m\":\"x\",\"z\":\"\\u738B\"}");
    /* hash_0 = SHA-256("lottery-audit-v1\n" + text), checked with
     * printf 'lottery-audit-v1\n{"a":1,"m":"x","z":"\\u738B"}' | sha256sum */
    char h[DRAW_HEX_LEN];
    audit_chain_hash(AUDIT_GENESIS, t, h);
    CU_ASSERT_STRING_EQUAL(h, "5d2807d642c78b630743a4911e635ff0e1d4d30e0f197058a73622fc6f412daf");
    free(t);
    json_decref(e);
    CU_ASSERT_PTR_NULL(audit_canonical(NULL));
}

static void test_good_chain(void)
{
    struct log l;
    good_log(&l);
    char err[256] = "";
    int draws = -1;
    CU_ASSERT_EQUAL(run(&l, err, sizeof err, &draws), 0);
    CU_ASSERT_EQUAL(draws, 2);
    if (err[0])
        fprintf(stderr, "unexpected: %s\n", err);
    free_log(&l);
}

static void test_tampered_entry(void)
{
    /* Change a reason without fixing the hash: the chain breaks there. */
    struct log l;
    good_log(&l);
    json_object_set_new(l.e[5], "reason", json_string("nothing happened"));
    char err[256] = "";
    CU_ASSERT_EQUAL(run(&l, err, sizeof err, NULL), 6);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "seq 6"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "hash chain"));
    /* A changed hash string alone breaks the next link as well. */
    free_log(&l);
    good_log(&l);
    l.hash[1][0] = l.hash[1][0] == 'a' ? 'b' : 'a';
    CU_ASSERT_EQUAL(run(&l, err, sizeof err, NULL), 2);
    free_log(&l);
}

static void test_swapped_winner(void)
{
    /* Winners in another order, chain recomputed: the draw check catches it. */
    struct log l;
    good_log(&l);
    json_t *w = json_object_get(l.e[3], "winners");
    json_t *a = json_incref(json_array_get(w, 0)), *b = json_incref(json_array_get(w, 1));
    json_array_set_new(w, 0, b);
    json_array_set_new(w, 1, a);
    rehash(&l, 3);
    char err[256] = "";
    CU_ASSERT_EQUAL(run(&l, err, sizeof err, NULL), 4);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "seq 4"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "winners do not follow"));
    free_log(&l);

    /* Someone outside the pool as a winner. */
    good_log(&l);
    json_array_set_new(json_object_get(l.e[3], "winners"), 2, json_string("E999"));
    rehash(&l, 3);
    CU_ASSERT_EQUAL(run(&l, err, sizeof err, NULL), 4);
    free_log(&l);

    /* One winner fewer than the count. */
    good_log(&l);
    json_array_remove(json_object_get(l.e[3], "winners"), 2);
    rehash(&l, 3);
    CU_ASSERT_EQUAL(run(&l, err, sizeof err, NULL), 4);
    free_log(&l);
}

static void test_wrong_seed(void)
{
    /* A revealed seed that is not the committed one (winners recomputed
     * from it, so only the commitment can tell). */
    struct log l;
    good_log(&l);
    uint8_t other[DRAW_SEED_LEN];
    memcpy(other, SEED, sizeof other);
    other[31] ^= 1;
    json_decref(l.e[3]);
    l.e[3] = stop_entry(1, 3, other);
    json_object_set_new(l.e[3], "at", json_string("2027-01-20T20:15:03Z"));
    rehash(&l, 3);
    char err[256] = "";
    CU_ASSERT_EQUAL(run(&l, err, sizeof err, NULL), 4);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "seedHash"));
    free_log(&l);

    /* A seed that is not hex. */
    good_log(&l);
    json_object_set_new(l.e[3], "seed", json_string("xyz"));
    rehash(&l, 3);
    CU_ASSERT_EQUAL(run(&l, err, sizeof err, NULL), 4);
    free_log(&l);
}

static void test_pool_checks(void)
{
    /* A pool out of byte order, hash recomputed over the new order. */
    struct log l;
    good_log(&l);
    json_t *pool = json_object_get(l.e[2], "pool");
    json_array_set_new(pool, 0, json_string("E002"));
    json_array_set_new(pool, 1, json_string("E001"));
    rehash(&l, 2);
    char err[256] = "";
    CU_ASSERT_EQUAL(run(&l, err, sizeof err, NULL), 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "sorted"));
    free_log(&l);

    /* Someone removed from the pool after the commitment. */
    good_log(&l);
    json_array_remove(json_object_get(l.e[2], "pool"), 6);
    rehash(&l, 2);
    CU_ASSERT_EQUAL(run(&l, err, sizeof err, NULL), 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "poolHash"));
    free_log(&l);
}

static void test_broken_seq(void)
{
    struct log l;
    good_log(&l);
    l.seq[4] = 6; /* a gap */
    char err[256] = "";
    CU_ASSERT_EQUAL(run(&l, err, sizeof err, NULL), 6);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "expected seq 5"));
    free_log(&l);

    /* A log that starts late (entries dropped from the front). */
    good_log(&l);
    for (int i = 0; i < l.n; i++)
        l.seq[i]++;
    CU_ASSERT_EQUAL(run(&l, err, sizeof err, NULL), 2);
    free_log(&l);

    /* An entry dropped from the middle, seq renumbered: the chain breaks. */
    good_log(&l);
    json_decref(l.e[5]);
    memmove(&l.e[5], &l.e[6], (size_t)(l.n - 6) * sizeof l.e[0]);
    memmove(&l.hash[5], &l.hash[6], (size_t)(l.n - 6) * sizeof l.hash[0]);
    l.n--;
    for (int i = 0; i < l.n; i++)
        l.seq[i] = i + 1;
    CU_ASSERT_EQUAL(run(&l, err, sizeof err, NULL), 6);
    free_log(&l);
}

static void test_draw_sequence(void)
{
    /* A stop for a draw that never started, and an undo of the wrong draw. */
    struct log l;
    good_log(&l);
    json_object_set_new(l.e[3], "drawId", json_integer(9));
    rehash(&l, 3);
    char err[256] = "";
    CU_ASSERT_EQUAL(run(&l, err, sizeof err, NULL), 4);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "without an open draw.start"));
    free_log(&l);

    good_log(&l);
    json_object_set_new(l.e[8], "drawId", json_integer(1));
    rehash(&l, 8);
    CU_ASSERT_EQUAL(run(&l, err, sizeof err, NULL), 9);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "draw.undo"));
    free_log(&l);

    /* An entry without a kind. */
    good_log(&l);
    json_object_del(l.e[0], "kind");
    rehash(&l, 0);
    CU_ASSERT_EQUAL(run(&l, err, sizeof err, NULL), 1);
    free_log(&l);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("lottery_audit", setup, NULL);
    CU_add_test(s, "canonical text and genesis hash", test_canonical);
    CU_add_test(s, "a good chain verifies", test_good_chain);
    CU_add_test(s, "tampered entry", test_tampered_entry);
    CU_add_test(s, "swapped or foreign winner", test_swapped_winner);
    CU_add_test(s, "wrong seed", test_wrong_seed);
    CU_add_test(s, "pool order and hash", test_pool_checks);
    CU_add_test(s, "broken seq", test_broken_seq);
    CU_add_test(s, "draw sequence", test_draw_sequence);
    return tu_run("test_lottery_audit");
}
