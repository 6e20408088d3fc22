/* phpval (PHP array semantics on msgpack trees) and phpser's writer: key
 * normalisation (§10.4), key equality, duplicate keys, array_replace_recursive
 * (PHP manual's examples and a large case against a plain scan), and the
 * serialize writer against phpser_encode. Also the UTF-8 rule both the
 * gateway's JSON and its text frames use. */
#include "phpser.h"
#include "phpval.h"
#include "tu.h"
#include "utf8.h"

#include <CUnit/CUnit.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static msgpack_object S(const char *s)
{
    msgpack_object o = {.type = MSGPACK_OBJECT_STR, .via.str = {.size = (uint32_t)strlen(s), .ptr = s}};
    return o;
}

static msgpack_object I(int64_t v)
{
    msgpack_object o;
    if (v >= 0) {
        o.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o.via.u64 = (uint64_t)v;
    } else {
        o.type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        o.via.i64 = v;
    }
    return o;
}

/* Decodes PHP serialize text into zone (the test's input notation). */
static msgpack_object D(msgpack_zone *z, const char *ser)
{
    msgpack_object v = {.type = MSGPACK_OBJECT_NIL};
    char err[128];
    int r = phpser_decode((const uint8_t *)ser, strlen(ser), z, &v, NULL, err, sizeof err);
    CU_ASSERT_EQUAL_FATAL(r, 0);
    return v;
}

/* phpser_encode(v) == want. */
#define EXPECT_SER(v, want) expect_ser_at((v), (want), __LINE__)
static void expect_ser_at(const msgpack_object *v, const char *want, int line)
{
    struct buf b = BUF_INIT;
    int r = phpser_encode(&b, v);
    int ok = r == 0 && buf_avail(&b) == strlen(want) && memcmp(buf_head(&b), want, strlen(want)) == 0;
    if (!ok)
        fprintf(stderr, "line %d: got %d '%.*s', want '%s'\n", line, r, (int)buf_avail(&b), (const char *)buf_head(&b),
                want);
    CU_ASSERT(ok);
    buf_free(&b);
}

/* ---- keys ---- */

static void test_key_int(void)
{
    int64_t v = 0;
    msgpack_object k;
    k = I(5);
    CU_ASSERT(phpval_key_int(&k, &v) && v == 5);
    k = I(-7);
    CU_ASSERT(phpval_key_int(&k, &v) && v == -7);
    k = S("5");
    CU_ASSERT(phpval_key_int(&k, &v) && v == 5);
    k = S("-5");
    CU_ASSERT(phpval_key_int(&k, &v) && v == -5);
    k = S("0");
    CU_ASSERT(phpval_key_int(&k, &v) && v == 0);
    k = S("9223372036854775807");
    CU_ASSERT(phpval_key_int(&k, &v) && v == INT64_MAX);
    k = S("-9223372036854775808");
    CU_ASSERT(phpval_key_int(&k, &v) && v == INT64_MIN);
    /* Not canonical: PHP keeps these as strings. */
    static const char *const strings[] = {"05", "-0", "+5", " 5", "5 ", "", "-", "5a", "1e3", "0x1",
                                          "9223372036854775808", "-9223372036854775809", "1.0"};
    for (size_t i = 0; i < sizeof strings / sizeof *strings; i++) {
        k = S(strings[i]);
        v = 42;
        CU_ASSERT_EQUAL(phpval_key_int(&k, &v), 0);
        CU_ASSERT_EQUAL(v, 42); /* untouched */
    }
    /* BIN is a string too. */
    k.type = MSGPACK_OBJECT_BIN;
    k.via.bin.ptr = "12";
    k.via.bin.size = 2;
    CU_ASSERT(phpval_key_int(&k, &v) && v == 12);
    /* No PHP key at all. */
    k.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
    k.via.u64 = (uint64_t)INT64_MAX + 1;
    CU_ASSERT_EQUAL(phpval_key_int(&k, NULL), 0);
    k.type = MSGPACK_OBJECT_NIL;
    CU_ASSERT_EQUAL(phpval_key_int(&k, NULL), 0);
}

static void test_key_eq(void)
{
    msgpack_object a, b;
    a = I(5), b = S("5");
    CU_ASSERT(phpval_key_eq(&a, &b) && phpval_key_eq(&b, &a));
    CU_ASSERT_EQUAL(phpval_key_hash(&a), phpval_key_hash(&b));
    a = I(-1), b = S("-1");
    CU_ASSERT(phpval_key_eq(&a, &b));
    CU_ASSERT_EQUAL(phpval_key_hash(&a), phpval_key_hash(&b));
    a = I(5), b = S("05");
    CU_ASSERT(!phpval_key_eq(&a, &b));
    a = S("5"), b = S("05");
    CU_ASSERT(!phpval_key_eq(&a, &b));
    a = S("abc"), b = S("abc");
    CU_ASSERT(phpval_key_eq(&a, &b));
    CU_ASSERT_EQUAL(phpval_key_hash(&a), phpval_key_hash(&b));
    a = S("abc"), b = S("abd");
    CU_ASSERT(!phpval_key_eq(&a, &b));
    a = S(""), b = S("");
    CU_ASSERT(phpval_key_eq(&a, &b));
    a = I(0), b = S("");
    CU_ASSERT(!phpval_key_eq(&a, &b)); /* "" is a string key, not 0 */
    a = I(0), b = S("-0");
    CU_ASSERT(!phpval_key_eq(&a, &b));
    a = I(INT64_MIN), b = S("-9223372036854775808");
    CU_ASSERT(phpval_key_eq(&a, &b));
    /* STR and BIN with the same bytes are the same string key. */
    a = S("k");
    b.type = MSGPACK_OBJECT_BIN;
    b.via.bin.ptr = "k";
    b.via.bin.size = 1;
    CU_ASSERT(phpval_key_eq(&a, &b));
    /* Keys that are no PHP key equal nothing, not even themselves. */
    a.type = MSGPACK_OBJECT_NIL;
    CU_ASSERT(!phpval_key_eq(&a, &a));
    a.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
    a.via.u64 = UINT64_MAX;
    b = I(-1); /* same bits as an i64 */
    CU_ASSERT(!phpval_key_eq(&a, &b));
    /* key_is */
    a = I(7);
    CU_ASSERT(phpval_key_is(&a, "7", 1));
    CU_ASSERT(!phpval_key_is(&a, "07", 2));
    a = S("uid");
    CU_ASSERT(phpval_key_is(&a, "uid", 3));
    CU_ASSERT(!phpval_key_is(&a, "ui", 2));
}

/* ---- find / set / copy / normalize ---- */

static void test_find_set_copy(void)
{
    msgpack_zone *z = msgpack_zone_new(4096);
    /* A map with a duplicate written by hand (a decoder keeps it). */
    msgpack_object m = D(z, "a:3:{s:1:\"a\";i:1;s:1:\"b\";i:2;s:1:\"a\";i:3;}");
    msgpack_object k = S("a");
    CU_ASSERT_EQUAL(phpval_map_find(&m, &k), 2); /* the last one: the value PHP keeps */
    k = S("z");
    CU_ASSERT_EQUAL(phpval_map_find(&m, &k), -1);
    msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
    CU_ASSERT_EQUAL(phpval_map_find(&nil, &k), -1);

    /* set: replaces at the last duplicate's position, drops the others */
    msgpack_object v = I(9), out;
    k = S("a");
    CU_ASSERT_EQUAL(phpval_map_set(z, &out, &m, &k, &v), 0);
    EXPECT_SER(&out, "a:2:{s:1:\"b\";i:2;s:1:\"a\";i:9;}");
    /* append, and "5" names the int key 5 */
    msgpack_object m2 = D(z, "a:1:{i:5;s:1:\"x\";}");
    k = S("5");
    v = S("y");
    CU_ASSERT_EQUAL(phpval_map_set(z, &m2, &m2, &k, &v), 0);
    EXPECT_SER(&m2, "a:1:{i:5;s:1:\"y\";}");
    k = S("n");
    CU_ASSERT_EQUAL(phpval_map_set(z, &m2, &m2, &k, &v), 0);
    EXPECT_SER(&m2, "a:2:{i:5;s:1:\"y\";s:1:\"n\";s:1:\"y\";}");
    /* remove */
    k = I(5);
    CU_ASSERT_EQUAL(phpval_map_set(z, &m2, &m2, &k, NULL), 0);
    EXPECT_SER(&m2, "a:1:{s:1:\"n\";s:1:\"y\";}");
    /* on NIL: a new array */
    k = S("only");
    CU_ASSERT_EQUAL(phpval_map_set(z, &out, &nil, &k, &v), 0);
    EXPECT_SER(&out, "a:1:{s:4:\"only\";s:1:\"y\";}");

    /* copy: deep, independent of the source's bytes */
    char buf[] = "a:2:{s:1:\"k\";a:1:{i:0;s:3:\"abc\";}s:1:\"f\";d:0.5;}";
    msgpack_zone *z2 = msgpack_zone_new(1024);
    msgpack_object src = D(z2, buf), copy;
    CU_ASSERT_EQUAL(phpval_copy(z, &copy, &src), 0);
    msgpack_zone_free(z2); /* the source tree is gone */
    EXPECT_SER(&copy, "a:2:{s:1:\"k\";a:1:{i:0;s:3:\"abc\";}s:1:\"f\";d:0.5;}");
    msgpack_zone_free(z);
}

static void test_normalize(void)
{
    msgpack_zone *z = msgpack_zone_new(4096);
    /* unserialize(): a later duplicate wins and keeps the first position;
     * "1" and 1 are one key (the decoder already made "1" an int). */
    msgpack_object v = D(z, "a:4:{s:1:\"a\";i:1;i:1;s:1:\"x\";s:1:\"a\";i:3;s:1:\"1\";s:1:\"y\";}");
    CU_ASSERT_EQUAL(phpval_normalize(&v), 0);
    EXPECT_SER(&v, "a:2:{s:1:\"a\";i:3;i:1;s:1:\"y\";}");
    /* nested, and a big array (the hashed path) */
    v = D(z, "a:1:{s:1:\"n\";a:2:{i:0;N;i:0;b:1;}}");
    CU_ASSERT_EQUAL(phpval_normalize(&v), 0);
    EXPECT_SER(&v, "a:1:{s:1:\"n\";a:1:{i:0;b:1;}}");
    struct buf in = BUF_INIT, want = BUF_INIT;
    int n = 200;
    buf_printf(&in, "a:%d:{", 2 * n);
    for (int i = 0; i < n; i++)
        buf_printf(&in, "s:2:\"k%c\";i:%d;i:%d;i:%d;", 'A' + i % 50, i, i % 70, i);
    buf_append_str(&in, "}");
    buf_append(&in, "", 1);
    /* expected: keys in first-occurrence order with their last values */
    int last_k[50], last_i[70];
    int order_k[50], nk = 0, order_i[70], ni = 0;
    memset(last_k, -1, sizeof last_k);
    memset(last_i, -1, sizeof last_i);
    struct {
        int is_str, key;
    } order[120];
    int no = 0;
    for (int i = 0; i < n; i++) {
        if (last_k[i % 50] < 0) {
            order_k[nk++] = i % 50;
            order[no].is_str = 1, order[no].key = i % 50, no++;
        }
        last_k[i % 50] = i;
        if (last_i[i % 70] < 0) {
            order_i[ni++] = i % 70;
            order[no].is_str = 0, order[no].key = i % 70, no++;
        }
        last_i[i % 70] = i;
    }
    (void)order_k;
    (void)order_i;
    buf_printf(&want, "a:%d:{", no);
    for (int i = 0; i < no; i++) {
        if (order[i].is_str)
            buf_printf(&want, "s:2:\"k%c\";i:%d;", 'A' + order[i].key, last_k[order[i].key]);
        else
            buf_printf(&want, "i:%d;i:%d;", order[i].key, last_i[order[i].key]);
    }
    buf_append_str(&want, "}");
    buf_append(&want, "", 1);
    v = D(z, (const char *)buf_head(&in));
    CU_ASSERT_EQUAL(phpval_normalize(&v), 0);
    EXPECT_SER(&v, (const char *)buf_head(&want));
    buf_free(&in);
    buf_free(&want);
    msgpack_zone_free(z);
}

/* ---- array_replace_recursive ---- */

/* $r = array_replace_recursive(base, repl...) on PHP serialize texts. */
static void expect_replace_at(const char *base, const char *const *repl, size_t nrepl, const char *want, int line)
{
    msgpack_zone *z = msgpack_zone_new(4096);
    msgpack_object d = D(z, base);
    CU_ASSERT_EQUAL(phpval_normalize(&d), 0);
    for (size_t i = 0; i < nrepl; i++) {
        msgpack_object s = D(z, repl[i]);
        CU_ASSERT_EQUAL(phpval_normalize(&s), 0);
        CU_ASSERT_EQUAL(phpval_replace_recursive(z, &d, &s), 0);
    }
    expect_ser_at(&d, want, line);
    msgpack_zone_free(z);
}
#define EXPECT_REPLACE(base, want, ...)                                                                       \
    expect_replace_at((base), (const char *const[]){__VA_ARGS__}, sizeof((const char *const[]){__VA_ARGS__}) / \
                                                                      sizeof(const char *),                   \
                      (want), __LINE__)

static void test_replace_recursive_manual(void)
{
    /* php.net array_replace_recursive, Example #1:
     * $base = ['citrus' => ["orange"], 'berries' => ["blackberry", "raspberry"]];
     * $replacements = ['citrus' => ['pineapple'], 'berries' => ['blueberry']]; */
    EXPECT_REPLACE("a:2:{s:6:\"citrus\";a:1:{i:0;s:6:\"orange\";}s:7:\"berries\";a:2:{i:0;s:10:\"blackberry\";i:1;"
                   "s:9:\"raspberry\";}}",
                   "a:2:{s:6:\"citrus\";a:1:{i:0;s:9:\"pineapple\";}s:7:\"berries\";a:2:{i:0;s:9:\"blueberry\";i:1;"
                   "s:9:\"raspberry\";}}",
                   "a:2:{s:6:\"citrus\";a:1:{i:0;s:9:\"pineapple\";}s:7:\"berries\";a:1:{i:0;s:9:\"blueberry\";}}");
    /* Example #2, recursive and types:
     * $base = ['citrus' => ["orange"], 'berries' => ["blackberry", "raspberry"], 'others' => 'banana'];
     * $replacements = ['citrus' => 'pineapple', 'berries' => ['blueberry'], 'others' => ['litchis']];
     * $replacements2 = ['citrus' => ['pineapple'], 'berries' => ['blueberry'], 'others' => 'litchis'];
     * array_replace_recursive($base, $replacements, $replacements2) */
    EXPECT_REPLACE("a:3:{s:6:\"citrus\";a:1:{i:0;s:6:\"orange\";}s:7:\"berries\";a:2:{i:0;s:10:\"blackberry\";i:1;"
                   "s:9:\"raspberry\";}s:6:\"others\";s:6:\"banana\";}",
                   "a:3:{s:6:\"citrus\";a:1:{i:0;s:9:\"pineapple\";}s:7:\"berries\";a:2:{i:0;s:9:\"blueberry\";i:1;"
                   "s:9:\"raspberry\";}s:6:\"others\";s:7:\"litchis\";}",
                   "a:3:{s:6:\"citrus\";s:9:\"pineapple\";s:7:\"berries\";a:1:{i:0;s:9:\"blueberry\";}s:6:\"others\";"
                   "a:1:{i:0;s:7:\"litchis\";}}",
                   "a:3:{s:6:\"citrus\";a:1:{i:0;s:9:\"pineapple\";}s:7:\"berries\";a:1:{i:0;s:9:\"blueberry\";}"
                   "s:6:\"others\";s:7:\"litchis\";}");
    /* New keys are appended, existing ones keep their place; an empty
     * replacement changes nothing; an array replaced by a scalar and back. */
    EXPECT_REPLACE("a:2:{s:1:\"a\";i:1;s:1:\"b\";i:2;}", "a:3:{s:1:\"a\";i:1;s:1:\"b\";i:3;s:1:\"c\";i:4;}",
                   "a:2:{s:1:\"c\";i:4;s:1:\"b\";i:3;}");
    EXPECT_REPLACE("a:1:{s:1:\"a\";i:1;}", "a:1:{s:1:\"a\";i:1;}", "a:0:{}");
    EXPECT_REPLACE("a:0:{}", "a:1:{i:3;a:0:{}}", "a:1:{i:3;a:0:{}}");
    EXPECT_REPLACE("a:1:{s:1:\"x\";a:1:{s:1:\"y\";a:1:{s:1:\"z\";i:1;}}}",
                   "a:1:{s:1:\"x\";a:1:{s:1:\"y\";a:2:{s:1:\"z\";i:1;s:1:\"w\";N;}}}",
                   "a:1:{s:1:\"x\";a:1:{s:1:\"y\";a:1:{s:1:\"w\";N;}}}");
    /* "5" and 5 are the same key (the decoder makes "5" an int; by hand too) */
    EXPECT_REPLACE("a:1:{i:5;a:1:{i:0;s:1:\"a\";}}", "a:1:{i:5;a:2:{i:0;s:1:\"a\";i:1;s:1:\"b\";}}",
                   "a:1:{s:1:\"5\";a:1:{i:1;s:1:\"b\";}}");
}

static void test_replace_recursive_api(void)
{
    msgpack_zone *z = msgpack_zone_new(4096);
    /* Keys spelled differently by hand (not decoded): still one key. */
    msgpack_object_kv dk[2] = {{I(5), I(1)}, {S("a"), I(2)}};
    msgpack_object_kv sk[2] = {{S("5"), I(10)}, {S("b"), I(3)}};
    msgpack_object d = {.type = MSGPACK_OBJECT_MAP, .via.map = {2, dk}};
    msgpack_object s = {.type = MSGPACK_OBJECT_MAP, .via.map = {2, sk}};
    CU_ASSERT_EQUAL(phpval_replace_recursive(z, &d, &s), 0);
    EXPECT_SER(&d, "a:3:{i:5;i:10;s:1:\"a\";i:2;s:1:\"b\";i:3;}");
    /* dest's original entry array is untouched */
    CU_ASSERT(d.via.map.ptr != dk);
    CU_ASSERT_EQUAL(dk[0].val.via.u64, 1);
    /* not arrays */
    msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
    CU_ASSERT_EQUAL(phpval_replace_recursive(z, &d, &nil), -EINVAL);
    CU_ASSERT_EQUAL(phpval_replace_recursive(z, &nil, &d), -EINVAL);

    /* A large merge (hashed) against a plain scan. */
    enum { N = 500 };
    struct buf a = BUF_INIT, b = BUF_INIT, want = BUF_INIT;
    buf_printf(&a, "a:%d:{", N);
    for (int i = 0; i < N; i++)
        buf_printf(&a, "i:%d;a:1:{i:0;i:%d;}", i * 2, i);
    buf_append(&a, "}", 2);
    buf_printf(&b, "a:%d:{", N);
    for (int i = 0; i < N; i++)
        buf_printf(&b, "i:%d;a:1:{i:1;i:%d;}", i * 3, i);
    buf_append(&b, "}", 2);
    /* dest keys 0,2,4,..; src keys 0,3,6,..: shared keys (multiples of 6)
     * merge into [a, b]; src-only keys are appended in src order. */
    int total = N;
    for (int i = 0; i < N; i++)
        if ((i * 3) % 2 != 0 || (i * 3) / 2 >= N)
            total++;
    buf_printf(&want, "a:%d:{", total);
    for (int i = 0; i < N; i++) {
        int key = i * 2;
        if (key % 3 == 0 && key / 3 < N)
            buf_printf(&want, "i:%d;a:2:{i:0;i:%d;i:1;i:%d;}", key, i, key / 3);
        else
            buf_printf(&want, "i:%d;a:1:{i:0;i:%d;}", key, i);
    }
    for (int i = 0; i < N; i++)
        if ((i * 3) % 2 != 0 || (i * 3) / 2 >= N)
            buf_printf(&want, "i:%d;a:1:{i:1;i:%d;}", i * 3, i);
    buf_append(&want, "}", 2);
    msgpack_object da = D(z, (const char *)buf_head(&a)), db = D(z, (const char *)buf_head(&b));
    CU_ASSERT_EQUAL(phpval_replace_recursive(z, &da, &db), 0);
    EXPECT_SER(&da, (const char *)buf_head(&want));
    buf_free(&a);
    buf_free(&b);
    buf_free(&want);
    msgpack_zone_free(z);
}

/* ---- the writer ---- */

static int same(const struct buf *a, const struct buf *b)
{
    return buf_avail(a) == buf_avail(b) && memcmp(buf_head(a), buf_head(b), buf_avail(a)) == 0;
}

static void test_writer_vs_encode(void)
{
    /* By hand with the writer, and phpser_encode of the same tree. */
    msgpack_object_kv inner[2] = {{I(0), S("x")}, {I(1), {.type = MSGPACK_OBJECT_NIL}}};
    msgpack_object f = {.type = MSGPACK_OBJECT_FLOAT64, .via.f64 = 0.1};
    msgpack_object t = {.type = MSGPACK_OBJECT_BOOLEAN, .via.boolean = true};
    msgpack_object_kv kv[7] = {
        {S("str"), S("h\"llo")},
        {S("5"), I(-3)},
        {S("05"), I(INT64_MIN)},
        {I(7), I(INT64_MAX)},
        {S("f"), f},
        {S("t"), t},
        {S("arr"), {.type = MSGPACK_OBJECT_MAP, .via.map = {2, inner}}},
    };
    msgpack_object v = {.type = MSGPACK_OBJECT_MAP, .via.map = {7, kv}};
    struct buf enc = BUF_INIT, wr = BUF_INIT, wv = BUF_INIT;
    CU_ASSERT_EQUAL(phpser_encode(&enc, &v), 0);
    struct phpser_w w;
    phpser_w_init(&w, &wr);
    phpser_w_arr(&w, 7);
    phpser_w_key(&w, "str", 3);
    phpser_w_str(&w, "h\"llo", 5);
    phpser_w_key(&w, "5", 1);
    phpser_w_int(&w, -3);
    phpser_w_key(&w, "05", 2);
    phpser_w_int(&w, INT64_MIN);
    phpser_w_int(&w, 7);
    phpser_w_int(&w, INT64_MAX);
    phpser_w_key(&w, "f", 1);
    phpser_w_double(&w, 0.1);
    phpser_w_key(&w, "t", 1);
    phpser_w_bool(&w, 1);
    phpser_w_key(&w, "arr", 3);
    phpser_w_arr(&w, 2);
    phpser_w_int(&w, 0);
    phpser_w_str_open(&w, 1); /* a string in pieces */
    uint8_t *p = phpser_w_reserve(&w, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    *p = 'x';
    phpser_w_commit(&w, 1);
    phpser_w_str_close(&w);
    phpser_w_int(&w, 1);
    phpser_w_null(&w);
    phpser_w_end(&w);
    phpser_w_end(&w);
    CU_ASSERT_EQUAL(w.err, 0);
    CU_ASSERT(same(&enc, &wr));
    static const char want[] = "a:7:{s:3:\"str\";s:5:\"h\"llo\";i:5;i:-3;s:2:\"05\";i:-9223372036854775808;"
                               "i:7;i:9223372036854775807;s:1:\"f\";d:0.1;s:1:\"t\";b:1;s:3:\"arr\";"
                               "a:2:{i:0;s:1:\"x\";i:1;N;}}";
    CU_ASSERT(buf_avail(&enc) == sizeof want - 1 && memcmp(buf_head(&enc), want, sizeof want - 1) == 0);
    /* phpser_w_value is phpser_encode */
    phpser_w_init(&w, &wv);
    phpser_w_value(&w, &v);
    CU_ASSERT_EQUAL(w.err, 0);
    CU_ASSERT(same(&enc, &wv));

    /* integers against printf over a spread of values */
    struct buf a = BUF_INIT, b = BUF_INIT;
    phpser_w_init(&w, &a);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 2000; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        int64_t iv = (int64_t)(x >> (i % 64));
        if (i & 1)
            iv = -iv;
        phpser_w_int(&w, iv);
        buf_printf(&b, "i:%" PRId64 ";", iv);
        phpser_w_arr(&w, (size_t)i);
        buf_printf(&b, "a:%d:{", i);
        phpser_w_str_open(&w, (size_t)i * 977);
        buf_printf(&b, "s:%zu:\"", (size_t)i * 977);
    }
    CU_ASSERT_EQUAL(w.err, 0);
    CU_ASSERT(same(&a, &b));
    buf_free(&a);
    buf_free(&b);

    /* sticky error: a value PHP cannot hold stops the writer */
    struct buf e = BUF_INIT;
    phpser_w_init(&w, &e);
    phpser_w_str(&w, "ok", 2);
    msgpack_object ext = {.type = MSGPACK_OBJECT_EXT};
    phpser_w_value(&w, &ext);
    CU_ASSERT_EQUAL(w.err, -EINVAL);
    size_t n = buf_avail(&e);
    phpser_w_int(&w, 1);
    phpser_w_raw(&w, "x", 1);
    CU_ASSERT_PTR_NULL(phpser_w_reserve(&w, 4));
    CU_ASSERT_EQUAL(buf_avail(&e), n);
    CU_ASSERT(n == 9 && memcmp(buf_head(&e), "s:2:\"ok\";", 9) == 0);
    /* phpser_encode leaves nothing behind on error */
    msgpack_object_kv bad[2] = {{S("a"), I(1)}, {S("b"), ext}};
    msgpack_object bv = {.type = MSGPACK_OBJECT_MAP, .via.map = {2, bad}};
    CU_ASSERT_EQUAL(phpser_encode(&e, &bv), -EINVAL);
    CU_ASSERT_EQUAL(buf_avail(&e), n);
    buf_free(&e);
    buf_free(&enc);
    buf_free(&wr);
    buf_free(&wv);
}

/* ---- UTF-8 ---- */

static void test_utf8(void)
{
    static const struct {
        const char *s;
        int ok;
    } cases[] = {
        {"", 1},
        {"plain ascii, longer than eight bytes", 1},
        {"caf\xc3\xa9", 1},
        {"\xe4\xb8\xad\xe6\x96\x87 and more ascii after it", 1},
        {"\xf0\x9f\x8e\x89", 1},
        {"\xf4\x8f\xbf\xbf", 1},           /* U+10FFFF */
        {"\xc0\xaf", 0},                   /* overlong '/' */
        {"\xe0\x80\xaf", 0},               /* overlong */
        {"\xed\xa0\x80", 0},               /* surrogate */
        {"\xf4\x90\x80\x80", 0},           /* above U+10FFFF */
        {"\xf5\x80\x80\x80", 0},
        {"abcdefgh\xc3", 0},               /* cut short after an ASCII run */
        {"\x80", 0},
        {"abcdefghijklmnop\xff", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        CU_ASSERT_EQUAL(utf8_valid((const uint8_t *)cases[i].s, strlen(cases[i].s)), cases[i].ok);
    unsigned cp;
    CU_ASSERT(utf8_next((const uint8_t *)"\xe2\x80\xa8", 3, &cp) == 3 && cp == 0x2028);
    CU_ASSERT_EQUAL(utf8_next((const uint8_t *)"\xe2\x80", 2, &cp), 0);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite("phpval", NULL, NULL);
    CU_add_test(s, "keys: int rule (10.4)", test_key_int);
    CU_add_test(s, "keys: equality and hash", test_key_eq);
    CU_add_test(s, "map find/set/copy", test_find_set_copy);
    CU_add_test(s, "normalize: duplicates as unserialize", test_normalize);
    CU_add_test(s, "array_replace_recursive: PHP manual examples", test_replace_recursive_manual);
    CU_add_test(s, "array_replace_recursive: keys, large, errors", test_replace_recursive_api);
    CU_add_test(s, "writer against phpser_encode", test_writer_vs_encode);
    CU_add_test(s, "utf8", test_utf8);
    return tu_run("test_phpval");
}
