/* Unit tests for shared/phpser: golden vectors (serialize, reply, frame
 * bodies, live captures), float text, the §10.4 key rule, the encoder's
 * mapping, and malformed or hostile input. */
#include "phpser.h"
#include "tu.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERRLEN 256

/* ------------------------------------------------------------ helpers */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static double bits_to_double(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static uint64_t double_to_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

/* Deterministic xorshift64*, so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static int decode(const void *p, size_t n, msgpack_zone *z, msgpack_object *o, const struct phpser_limits *lim,
                  char err[ERRLEN])
{
    return phpser_decode(p, n, z, o, lim, err, ERRLEN);
}

/* Decodes p[0..n) with default limits and reports whether it failed with a
 * non-empty message; the message is copied to err for further checks. */
static int rejects(const void *p, size_t n, char err[ERRLEN])
{
    msgpack_zone z;
    msgpack_zone_init(&z, 1024);
    msgpack_object o;
    int rc = decode(p, n, &z, &o, NULL, err);
    msgpack_zone_destroy(&z);
    return rc == -1 && err[0] != 0 && o.type == MSGPACK_OBJECT_NIL;
}

static const char *typed_type(json_t *t) { return json_string_value(json_object_get(t, "type")); }

/* Walks a typed value of index.json (`typed_value_format`) and a decoded
 * msgpack_object together. Returns 1 when they agree; otherwise writes the
 * path and the first difference into why. */
static int typed_eq(json_t *t, const msgpack_object *o, const char *path, char *why, size_t whylen)
{
    const char *ty = typed_type(t);
    if (!ty) {
        snprintf(why, whylen, "%s: typed value without type", path);
        return 0;
    }
    if (strcmp(ty, "null") == 0) {
        if (o->type == MSGPACK_OBJECT_NIL)
            return 1;
    } else if (strcmp(ty, "bool") == 0) {
        if (o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean == json_is_true(json_object_get(t, "value")))
            return 1;
    } else if (strcmp(ty, "int") == 0) {
        json_int_t want = json_integer_value(json_object_get(t, "value"));
        if (want >= 0 && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 == (uint64_t)want)
            return 1;
        if (want < 0 && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o->via.i64 == (int64_t)want)
            return 1;
    } else if (strcmp(ty, "float") == 0) {
        const char *hex = json_string_value(json_object_get(t, "ieee754_hex"));
        const char *repr = json_string_value(json_object_get(t, "repr"));
        if (o->type == MSGPACK_OBJECT_FLOAT64 && hex && repr) {
            double want = bits_to_double(strtoull(hex, NULL, 16));
            int same = isnan(want) ? isnan(o->via.f64) : double_to_bits(want) == double_to_bits(o->via.f64);
            char text[32];
            phpser_format_double(o->via.f64, text);
            if (same && strcmp(text, repr) == 0)
                return 1;
            snprintf(why, whylen, "%s: float %s formats as %s (want %s)", path, same ? "equal" : "differs", text,
                     repr);
            return 0;
        }
    } else if (strcmp(ty, "string") == 0) {
        const char *hex = json_string_value(json_object_get(t, "hex"));
        json_int_t len = json_integer_value(json_object_get(t, "len"));
        uint8_t *want = NULL;
        size_t wn = 0;
        int ok = 0;
        if (hex) {
            want = tu_hex_decode(hex, &wn);
        } else {
            json_t *v = json_object_get(t, "value");
            wn = json_string_length(v);
            want = malloc(wn + 1);
            memcpy(want, json_string_value(v), wn);
        }
        if (want && o->type == MSGPACK_OBJECT_STR && (json_int_t)wn == len && o->via.str.size == wn &&
            (wn == 0 || memcmp(o->via.str.ptr, want, wn) == 0))
            ok = 1;
        free(want);
        if (ok)
            return 1;
    } else if (strcmp(ty, "array") == 0) {
        json_t *entries = json_object_get(t, "entries");
        if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size != json_array_size(entries)) {
            snprintf(why, whylen, "%s: want array of %zu entries, got type %d size %u", path,
                     json_array_size(entries), (int)o->type,
                     o->type == MSGPACK_OBJECT_MAP ? o->via.map.size : 0);
            return 0;
        }
        size_t i;
        json_t *e;
        json_array_foreach(entries, i, e)
        {
            char sub[512];
            snprintf(sub, sizeof sub, "%s[%zu].key", path, i);
            if (!typed_eq(json_object_get(e, "key"), &o->via.map.ptr[i].key, sub, why, whylen))
                return 0;
            snprintf(sub, sizeof sub, "%s[%zu].val", path, i);
            if (!typed_eq(json_object_get(e, "value"), &o->via.map.ptr[i].val, sub, why, whylen))
                return 0;
        }
        return 1;
    }
    snprintf(why, whylen, "%s: want %s, got msgpack type %d", path, ty, (int)o->type);
    return 0;
}

/* The core golden check: bytes decode to `typed` (when given) and encode
 * back to the same bytes. Returns 1 on success, printing the reason if not. */
static int check_roundtrip(const char *name, const uint8_t *p, size_t n, json_t *typed)
{
    msgpack_zone z;
    msgpack_zone_init(&z, 2048);
    msgpack_object o;
    char err[ERRLEN], why[512] = "";
    int ok = 0;
    struct buf out = BUF_INIT;
    if (decode(p, n, &z, &o, NULL, err) != 0) {
        fprintf(stderr, "\n%s: decode failed: %s\n", name, err);
        goto done;
    }
    if (typed && !typed_eq(typed, &o, "$", why, sizeof why)) {
        fprintf(stderr, "\n%s: %s\n", name, why);
        goto done;
    }
    if (phpser_encode(&out, &o) != 0) {
        fprintf(stderr, "\n%s: encode failed\n", name);
        goto done;
    }
    if (buf_avail(&out) != n || memcmp(buf_head(&out), p, n) != 0) {
        fprintf(stderr, "\n%s: re-encoding differs (%zu vs %zu bytes)\n", name, buf_avail(&out), n);
        goto done;
    }
    ok = 1;
done:
    buf_free(&out);
    msgpack_zone_destroy(&z);
    return ok;
}

static const char *case_str(json_t *c, const char *key) { return json_string_value(json_object_get(c, key)); }

/* index.json (borrowed; tu parses it with JSON_ALLOW_NUL for serialize-binary_string). */
static json_t *vectors(void) { return tu_fixture_index(); }

static json_t *find_case(const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(vectors(), "cases"), i, c)
    {
        const char *n = case_str(c, "name");
        if (n && strcmp(n, name) == 0)
            return c;
    }
    return NULL;
}

/* Calls fn for every case of the given kind; returns how many there were. */
static size_t each_case(const char *kind, void (*fn)(json_t *c))
{
    json_t *idx = vectors();
    CU_ASSERT_PTR_NOT_NULL_FATAL(idx);
    size_t i, n = 0;
    json_t *c;
    json_array_foreach(json_object_get(idx, "cases"), i, c)
    {
        const char *k = case_str(c, "kind");
        if (k && strcmp(k, kind) == 0) {
            fn(c);
            n++;
        }
    }
    return n;
}

/* ------------------------------------------------------- golden vectors */

static void one_serialize_case(json_t *c)
{
    const char *name = case_str(c, "name");
    size_t n;
    uint8_t *p = tu_read_hex_fixture(case_str(c, "file"), &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    json_t *text = json_object_get(c, "text");
    CU_ASSERT(json_string_length(text) == n && memcmp(json_string_value(text), p, n) == 0);
    CU_ASSERT(check_roundtrip(name, p, n, json_object_get(c, "value")));
    free(p);
}

static void test_serialize_vectors(void) { CU_ASSERT(each_case("serialize", one_serialize_case) >= 35); }

static void one_reply_case(json_t *c)
{
    const char *name = case_str(c, "name");
    size_t n;
    uint8_t *p = tu_read_hex_fixture(case_str(c, "file"), &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_FATAL(n >= 4);
    CU_ASSERT(be32(p) == n - 4);
    json_t *payload = json_object_get(c, "payload");
    CU_ASSERT(json_string_length(payload) == n - 4 && memcmp(json_string_value(payload), p + 4, n - 4) == 0);
    CU_ASSERT(check_roundtrip(name, p + 4, n - 4, json_object_get(c, "value")));
    free(p);
}

static void test_reply_vectors(void) { CU_ASSERT(each_case("reply", one_reply_case) >= 32); }

static size_t frame_bodies_seen, frame_exts_seen;

/* Frames carry PHP-serialized bytes in two places: a flag-0 body and, for
 * session-bearing commands and events, ext_data. */
static void one_frame_case(json_t *c)
{
    json_t *f = json_object_get(c, "fields");
    json_t *body_ser = json_object_get(f, "body_serialized");
    json_t *ext_php = json_object_get(f, "ext_data_php");
    if (!body_ser && !ext_php)
        return;
    const char *name = case_str(c, "name");
    size_t n;
    uint8_t *p = tu_read_hex_fixture(case_str(c, "file"), &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_FATAL(n >= 28 && be32(p) == n);
    size_t ext_len = be32(p + 24);
    CU_ASSERT_FATAL(ext_len <= n - 28);
    const uint8_t *ext = p + 28, *body = p + 28 + ext_len;
    size_t body_len = n - 28 - ext_len;
    if (body_ser) {
        CU_ASSERT((p[21] & 1) == 0);
        CU_ASSERT(json_string_length(body_ser) == body_len &&
                  memcmp(json_string_value(body_ser), body, body_len) == 0);
        CU_ASSERT(check_roundtrip(name, body, body_len, json_object_get(f, "body_php")));
        frame_bodies_seen++;
    }
    if (ext_php) {
        CU_ASSERT(check_roundtrip(name, ext, ext_len, ext_php));
        frame_exts_seen++;
    }
    free(p);
}

static void test_frame_vectors(void)
{
    frame_bodies_seen = frame_exts_seen = 0;
    each_case("frame", one_frame_case);
    CU_ASSERT(frame_bodies_seen >= 3);
    CU_ASSERT(frame_exts_seen >= 5);
}

/* The live captures have no typed values, only bytes from real processes:
 * reply payloads and flag-0 bodies must decode and re-encode identically. */
static void test_live_vectors(void)
{
    char *path = tu_fixture_path("live/index.json");
    json_error_t jerr;
    json_t *idx = json_load_file(path, 0, &jerr);
    free(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(idx);
    size_t i, replies = 0, bodies = 0;
    json_t *c;
    json_array_foreach(json_object_get(idx, "cases"), i, c)
    {
        const char *kind = case_str(c, "kind"), *file = case_str(c, "file");
        if (!kind || !file || (strcmp(kind, "reply") != 0 && strcmp(kind, "frame") != 0))
            continue;
        char rel[256];
        snprintf(rel, sizeof rel, "live/%s", file);
        size_t n;
        uint8_t *p = tu_read_hex_fixture(rel, &n);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        if (strcmp(kind, "reply") == 0) {
            CU_ASSERT(n >= 4 && be32(p) == n - 4);
            CU_ASSERT(check_roundtrip(case_str(c, "name"), p + 4, n - 4, NULL));
            replies++;
        } else if (n >= 28 && be32(p) == n) {
            size_t ext_len = be32(p + 24);
            CU_ASSERT_FATAL(ext_len <= n - 28);
            if (ext_len > 0 && p[28] == 'a') {
                CU_ASSERT(check_roundtrip(case_str(c, "name"), p + 28, ext_len, NULL));
            }
            if ((p[21] & 1) == 0 && n - 28 - ext_len > 0) {
                CU_ASSERT(check_roundtrip(case_str(c, "name"), p + 28 + ext_len, n - 28 - ext_len, NULL));
                bodies++;
            }
        }
        free(p);
    }
    CU_ASSERT(replies >= 6);
    CU_ASSERT(bodies >= 1);
    json_decref(idx);
}

/* ---------------------------------------------------------------- floats */

static size_t floats_seen;

static void walk_floats(json_t *v)
{
    if (json_is_object(v)) {
        const char *ty = typed_type(v);
        json_t *repr = json_object_get(v, "repr"), *hex = json_object_get(v, "ieee754_hex");
        if (ty && strcmp(ty, "float") == 0 && json_is_string(repr) && json_is_string(hex)) {
            double d = bits_to_double(strtoull(json_string_value(hex), NULL, 16));
            char text[32];
            int n = phpser_format_double(d, text);
            CU_ASSERT(n == (int)strlen(text));
            if (strcmp(text, json_string_value(repr)) != 0)
                fprintf(stderr, "\nfloat %s: formatted %s\n", json_string_value(repr), text);
            CU_ASSERT_STRING_EQUAL(text, json_string_value(repr));
            /* And the decoder reads the same text back to the same bits. */
            char ser[48];
            int sn = snprintf(ser, sizeof ser, "d:%s;", json_string_value(repr));
            msgpack_zone z;
            msgpack_zone_init(&z, 256);
            msgpack_object o;
            char err[ERRLEN];
            CU_ASSERT_FATAL(decode(ser, (size_t)sn, &z, &o, NULL, err) == 0);
            CU_ASSERT(o.type == MSGPACK_OBJECT_FLOAT64);
            CU_ASSERT(isnan(d) ? isnan(o.via.f64) : double_to_bits(d) == double_to_bits(o.via.f64));
            msgpack_zone_destroy(&z);
            floats_seen++;
        }
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) walk_floats(x);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) walk_floats(x);
    }
}

static void test_float_vectors(void)
{
    floats_seen = 0;
    walk_floats(vectors());
    CU_ASSERT(floats_seen >= 18);
}

static void test_float_format_extra(void)
{
    static const struct {
        double d;
        const char *want;
    } cases[] = {
        {0.0, "0"},
        {-0.0, "-0"},
        {1.0, "1"},
        {-1.5, "-1.5"},
        {123.456, "123.456"},
        {1e15, "1000000000000000"},
        {1e16, "10000000000000000"},
        {12345678901234567.0, "12345678901234568"},
        {1e17, "1.0E+17"},
        {-1e17, "-1.0E+17"},
        {1e22, "1.0E+22"},
        {1e23, "1.0E+23"},
        {0.0001, "0.0001"},
        {0.0001234, "0.0001234"},
        {0.00001234, "1.234E-5"},
        {0.1 + 0.2, "0.30000000000000004"},
        {DBL_MAX, "1.7976931348623157E+308"},
        {-DBL_MAX, "-1.7976931348623157E+308"},
        {DBL_MIN, "2.2250738585072014E-308"},
        {5e-324, "5.0E-324"},
        {9007199254740993.0, "9007199254740992"},
        {(double)INT64_MAX, "9.223372036854776E+18"},
        {1767225600.5, "1767225600.5"},
        {HUGE_VAL, "INF"},
        {-HUGE_VAL, "-INF"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[32];
        phpser_format_double(cases[i].d, text);
        CU_ASSERT_STRING_EQUAL(text, cases[i].want);
    }
    char text[32];
    CU_ASSERT(phpser_format_double(NAN, text) == 3 && strcmp(text, "NAN") == 0);
    CU_ASSERT(phpser_format_double(-NAN, text) == 3 && strcmp(text, "NAN") == 0);
}

/* Powers of two have a lopsided round-trip interval; these are cases where
 * the correctly rounded 16-digit number misses but the one on the other
 * side hits (checked against a dtoa mode-0 implementation). */
static void test_float_power_of_two_boundaries(void)
{
    static const struct {
        int exp2;
        const char *want;
    } cases[] = {
        {-1017, "7.120236347223045E-307"},
        {-1007, "7.291122019556398E-304"},
        {132, "5.444517870735016E+39"},
        {976, "6.386688990511104E+293"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[32];
        phpser_format_double(ldexp(1.0, cases[i].exp2), text);
        CU_ASSERT_STRING_EQUAL(text, cases[i].want);
    }
}

/* Any double: the text parses back to the same bits, is short, and has at
 * most 17 significant digits. */
static void test_float_roundtrip_random(void)
{
    for (int i = 0; i < 200000; i++) {
        double d = bits_to_double(rng());
        if (i % 4 == 1)
            d = ldexp(1.0, (int)(rng() % 2098) - 1074);
        char text[32];
        int n = phpser_format_double(d, text);
        CU_ASSERT_FATAL(n > 0 && n < 32 && (size_t)n == strlen(text));
        if (isnan(d)) {
            CU_ASSERT_STRING_EQUAL(text, "NAN");
            continue;
        }
        double back = strtod(text, NULL);
        if (double_to_bits(back) != double_to_bits(d)) {
            fprintf(stderr, "\n%a formatted as %s\n", d, text);
            CU_FAIL_FATAL("float text does not round-trip");
        }
        /* Significant digits: zeros on either side are layout padding. */
        char dg[32];
        size_t nd = 0;
        for (const char *q = text; *q && *q != 'E'; q++)
            if (*q >= '0' && *q <= '9' && (nd > 0 || *q != '0'))
                dg[nd++] = *q;
        while (nd > 0 && dg[nd - 1] == '0')
            nd--;
        CU_ASSERT(nd <= 17);
    }
}

/* ------------------------------------------------------------- key rule */

static void test_key_rule(void)
{
    static const struct {
        const char *s;
        int is_int;
        int64_t v;
    } cases[] = {
        {"7", 1, 7},
        {"0", 1, 0},
        {"-1", 1, -1},
        {"1002", 1, 1002},
        {"9223372036854775807", 1, INT64_MAX},
        {"-9223372036854775808", 1, INT64_MIN},
        {"07", 0, 0},
        {"+7", 0, 0},
        {" 7", 0, 0},
        {"7 ", 0, 0},
        {"1.5", 0, 0},
        {"-0", 0, 0},
        {"-07", 0, 0},
        {"00", 0, 0},
        {"9223372036854775808", 0, 0},
        {"-9223372036854775809", 0, 0},
        {"99999999999999999999", 0, 0},
        {"", 0, 0},
        {"-", 0, 0},
        {"1a", 0, 0},
        {"0x1", 0, 0},
        {"1e3", 0, 0},
        {"u1001", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t v = 12345;
        int r = phpser_key_is_int(cases[i].s, strlen(cases[i].s), &v);
        if (r != cases[i].is_int)
            fprintf(stderr, "\nkey \"%s\": got %d\n", cases[i].s, r);
        CU_ASSERT(r == cases[i].is_int);
        CU_ASSERT(v == (cases[i].is_int ? cases[i].v : 12345));
    }
    /* Length-delimited, not NUL-terminated. */
    CU_ASSERT(phpser_key_is_int("12x", 2, NULL) == 1);
    CU_ASSERT(phpser_key_is_int("1\0" "2", 3, NULL) == 0);
}

/* ------------------------------------------------------- decoder mapping */

static void test_decode_mapping(void)
{
    msgpack_zone z;
    msgpack_zone_init(&z, 1024);
    msgpack_object o;
    char err[ERRLEN];

    CU_ASSERT(decode("i:-1;", 5, &z, &o, NULL, err) == 0);
    CU_ASSERT(o.type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o.via.i64 == -1);
    CU_ASSERT(decode("i:0;", 4, &z, &o, NULL, err) == 0);
    CU_ASSERT(o.type == MSGPACK_OBJECT_POSITIVE_INTEGER && o.via.u64 == 0);

    /* String keys that are canonical ints become int keys; others stay. */
    const char *keys = "a:4:{s:1:\"5\";N;s:2:\"-3\";N;s:2:\"07\";N;s:20:\"-9223372036854775808\";N;}";
    CU_ASSERT_FATAL(decode(keys, strlen(keys), &z, &o, NULL, err) == 0);
    CU_ASSERT_FATAL(o.type == MSGPACK_OBJECT_MAP && o.via.map.size == 4);
    CU_ASSERT(o.via.map.ptr[0].key.type == MSGPACK_OBJECT_POSITIVE_INTEGER && o.via.map.ptr[0].key.via.u64 == 5);
    CU_ASSERT(o.via.map.ptr[1].key.type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o.via.map.ptr[1].key.via.i64 == -3);
    CU_ASSERT(o.via.map.ptr[2].key.type == MSGPACK_OBJECT_STR && o.via.map.ptr[2].key.via.str.size == 2);
    CU_ASSERT(o.via.map.ptr[3].key.type == MSGPACK_OBJECT_NEGATIVE_INTEGER &&
              o.via.map.ptr[3].key.via.i64 == INT64_MIN);

    /* Duplicate keys are kept in wire order (PHP: later wins on lookup). */
    const char *dup = "a:2:{i:0;i:1;i:0;i:2;}";
    CU_ASSERT_FATAL(decode(dup, strlen(dup), &z, &o, NULL, err) == 0);
    CU_ASSERT(o.via.map.size == 2 && o.via.map.ptr[0].val.via.u64 == 1 && o.via.map.ptr[1].val.via.u64 == 2);
    CU_ASSERT(check_roundtrip("duplicate keys", (const uint8_t *)dup, strlen(dup), NULL));

    /* Strings are copied: the tree outlives the input buffer. */
    char in[] = "s:5:\"a\"\0;b\";";
    CU_ASSERT_FATAL(decode(in, sizeof in - 1, &z, &o, NULL, err) == 0);
    memset(in, 'x', sizeof in - 1);
    CU_ASSERT(o.type == MSGPACK_OBJECT_STR && o.via.str.size == 5 && memcmp(o.via.str.ptr, "a\"\0;b", 5) == 0);

    /* Anything strtod takes, and the specials. */
    static const struct {
        const char *s;
        double v;
    } fl[] = {{"d:1e3;", 1000.0}, {"d:-0.0;", -0.0},     {"d:.5;", 0.5},      {"d:0x10;", 16.0},
              {"d:1E+17;", 1e17}, {"d:INF;", HUGE_VAL}, {"d:-INF;", -HUGE_VAL}, {"d:inf;", HUGE_VAL},
              {"d:1e999;", HUGE_VAL}};
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) {
        CU_ASSERT_FATAL(decode(fl[i].s, strlen(fl[i].s), &z, &o, NULL, err) == 0);
        CU_ASSERT(o.type == MSGPACK_OBJECT_FLOAT64 && double_to_bits(o.via.f64) == double_to_bits(fl[i].v));
    }
    CU_ASSERT(decode("d:NAN;", 6, &z, &o, NULL, err) == 0 && isnan(o.via.f64));

    /* Error buffer of size 0 or 1 is tolerated. */
    CU_ASSERT(phpser_decode((const uint8_t *)"x", 1, &z, &o, NULL, err, 0) == -1);
    CU_ASSERT(phpser_decode((const uint8_t *)"x", 1, &z, &o, NULL, err, 1) == -1 && err[0] == 0);
    msgpack_zone_destroy(&z);
}

static char *nested(unsigned levels)
{
    size_t n = levels * 9 + 2 + levels + 1;
    char *s = malloc(n), *q = s;
    for (unsigned i = 0; i < levels; i++)
        q += sprintf(q, "a:1:{i:0;");
    q += sprintf(q, "N;");
    for (unsigned i = 0; i < levels; i++)
        *q++ = '}';
    *q = 0;
    return s;
}

static void test_limits(void)
{
    msgpack_zone z;
    msgpack_zone_init(&z, 1024);
    msgpack_object o;
    char err[ERRLEN];

    char *s64 = nested(64), *s65 = nested(65), *s100 = nested(100), *s3 = nested(3);
    CU_ASSERT(decode(s64, strlen(s64), &z, &o, NULL, err) == 0);
    CU_ASSERT(check_roundtrip("nested 64", (const uint8_t *)s64, strlen(s64), NULL));
    CU_ASSERT(decode(s65, strlen(s65), &z, &o, NULL, err) == -1 && strstr(err, "nesting deeper than 64"));
    CU_ASSERT(decode(s100, strlen(s100), &z, &o, NULL, err) == -1 && strstr(err, "nesting deeper than 64"));
    struct phpser_limits two = {.max_depth = 2};
    CU_ASSERT(decode(s3, strlen(s3), &z, &o, &two, err) == -1 && strstr(err, "nesting deeper than 2"));
    /* A request beyond the hard cap is clamped rather than trusted. */
    struct phpser_limits huge = {.max_depth = 100000};
    char *s2000 = nested(2000);
    CU_ASSERT(decode(s2000, strlen(s2000), &z, &o, &huge, err) == -1 && strstr(err, "nesting deeper than 1024"));
    free(s64);
    free(s65);
    free(s100);
    free(s3);
    free(s2000);

    /* max_elems counts entries over the whole tree. */
    struct phpser_limits three = {.max_elems = 3};
    const char *ok3 = "a:2:{i:0;N;i:1;a:1:{i:0;N;}}";
    const char *bad4 = "a:2:{i:0;N;i:1;a:2:{i:0;N;i:1;N;}}";
    CU_ASSERT(decode(ok3, strlen(ok3), &z, &o, &three, err) == 0);
    CU_ASSERT(decode(bad4, strlen(bad4), &z, &o, &three, err) == -1 && strstr(err, "more than 3"));
    msgpack_zone_destroy(&z);
}

/* -------------------------------------------------------------- encoder */

static msgpack_object mk_str(const char *s)
{
    msgpack_object o = {.type = MSGPACK_OBJECT_STR};
    o.via.str.ptr = s;
    o.via.str.size = (uint32_t)strlen(s);
    return o;
}

static msgpack_object mk_int(int64_t v)
{
    msgpack_object o;
    if (v < 0) {
        o.type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        o.via.i64 = v;
    } else {
        o.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o.via.u64 = (uint64_t)v;
    }
    return o;
}

static int encodes_to(const msgpack_object *o, const char *want)
{
    struct buf b = BUF_INIT;
    int r = phpser_encode(&b, o);
    int ok = r == 0 && buf_avail(&b) == strlen(want) && memcmp(buf_head(&b), want, strlen(want)) == 0;
    if (!ok)
        fprintf(stderr, "\nencode: got rc %d \"%.*s\", want \"%s\"\n", r, (int)buf_avail(&b),
                b.data ? (const char *)buf_head(&b) : "", want);
    buf_free(&b);
    return ok;
}

static void test_encode(void)
{
    msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
    CU_ASSERT(encodes_to(&nil, "N;"));
    msgpack_object t = {.type = MSGPACK_OBJECT_BOOLEAN, .via.boolean = true};
    CU_ASSERT(encodes_to(&t, "b:1;"));
    msgpack_object i = mk_int(INT64_MIN);
    CU_ASSERT(encodes_to(&i, "i:-9223372036854775808;"));
    msgpack_object f32 = {.type = MSGPACK_OBJECT_FLOAT32, .via.f64 = 0.5};
    CU_ASSERT(encodes_to(&f32, "d:0.5;"));
    msgpack_object f64 = {.type = MSGPACK_OBJECT_FLOAT64, .via.f64 = -HUGE_VAL};
    CU_ASSERT(encodes_to(&f64, "d:-INF;"));
    msgpack_object bin = {.type = MSGPACK_OBJECT_BIN};
    bin.via.bin.ptr = "a\0\"";
    bin.via.bin.size = 3;
    /* encodes_to() would stop at the NUL: compare by hand. */
    struct buf b = BUF_INIT;
    CU_ASSERT(phpser_encode(&b, &bin) == 0 && buf_avail(&b) == 10 && memcmp(buf_head(&b), "s:3:\"a\0\"\";", 10) == 0);
    buf_free(&b);

    /* ARRAY is a PHP list. */
    msgpack_object items[3] = {mk_str("u1001"), mk_int(42), nil};
    msgpack_object list = {.type = MSGPACK_OBJECT_ARRAY};
    list.via.array.ptr = items;
    list.via.array.size = 3;
    CU_ASSERT(encodes_to(&list, "a:3:{i:0;s:5:\"u1001\";i:1;i:42;i:2;N;}"));
    msgpack_object empty_list = {.type = MSGPACK_OBJECT_ARRAY};
    CU_ASSERT(encodes_to(&empty_list, "a:0:{}"));

    /* §10.4 on STR keys, the way replies 16/26/28 need it. */
    msgpack_object_kv kv[5] = {
        {mk_str("u1001"), list}, {mk_str("1002"), empty_list}, {mk_str("07"), nil},
        {mk_str("-5"), nil},     {mk_int(-6), nil},
    };
    msgpack_object map = {.type = MSGPACK_OBJECT_MAP};
    map.via.map.ptr = kv;
    map.via.map.size = 5;
    CU_ASSERT(encodes_to(&map, "a:5:{s:5:\"u1001\";a:3:{i:0;s:5:\"u1001\";i:1;i:42;i:2;N;}i:1002;a:0:{}"
                               "s:2:\"07\";N;i:-5;N;i:-6;N;}"));

    /* Unrepresentable values fail and leave the buffer as it was, even one
     * with consumed bytes at the front. */
    struct buf keep = BUF_INIT;
    buf_append_str(&keep, "xxhead");
    buf_consume(&keep, 2);
    msgpack_object ext = {.type = MSGPACK_OBJECT_EXT};
    msgpack_object big = {.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = (uint64_t)INT64_MAX + 1};
    msgpack_object_kv badkv[2] = {{mk_str("fine"), mk_str("a long enough value to grow the buffer")}, {t, nil}};
    msgpack_object badkey = {.type = MSGPACK_OBJECT_MAP};
    badkey.via.map.ptr = badkv;
    badkey.via.map.size = 2;
    msgpack_object_kv bigkv[1] = {{big, nil}};
    msgpack_object bigkey = {.type = MSGPACK_OBJECT_MAP};
    bigkey.via.map.ptr = bigkv;
    bigkey.via.map.size = 1;
    msgpack_object deep_items[1] = {ext};
    msgpack_object deep = {.type = MSGPACK_OBJECT_ARRAY};
    deep.via.array.ptr = deep_items;
    deep.via.array.size = 1;
    const msgpack_object *bad[] = {&ext, &big, &badkey, &bigkey, &deep};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        CU_ASSERT(phpser_encode(&keep, bad[k]) == -EINVAL);
        CU_ASSERT(buf_avail(&keep) == 4 && memcmp(buf_head(&keep), "head", 4) == 0);
    }
    CU_ASSERT(phpser_encode(&keep, &nil) == 0);
    CU_ASSERT(buf_avail(&keep) == 6 && memcmp(buf_head(&keep), "headN;", 6) == 0);
    buf_free(&keep);
}

/* ------------------------------------------------------------ malformed */

struct bad_case {
    const char *in;
    size_t len;
    const char *want; /* substring of the message, or NULL */
};
#define BAD(s, w) {s, sizeof(s) - 1, w}

static const struct bad_case bad_cases[] = {
    BAD("", "empty input"),
    BAD("N", "end of input"),
    BAD("N:", "unexpected byte ':' at offset 1"),
    BAD("n;", "not the start of a value"),
    BAD("\0", "0x00"),
    BAD("\xff", "0xff"),
    BAD("b:2;", "bool must be 0 or 1"),
    BAD("b:;", NULL),
    BAD("b:1", "end of input"),
    BAD("b:10;", NULL),
    BAD("i:;", NULL),
    BAD("i:-;", NULL),
    BAD("i:+1;", "'+' sign"),
    BAD("i:01;", "leading zero"),
    BAD("i:00;", "leading zero"),
    BAD("i:-0;", "-0"),
    BAD("i:-01;", "leading zero"),
    BAD("i:9223372036854775808;", "out of range"),
    BAD("i:-9223372036854775809;", "out of range"),
    BAD("i:99999999999999999999999;", "out of range"),
    BAD("i:1", "end of input"),
    BAD("i:1x;", NULL),
    BAD("i:1.5;", NULL),
    BAD("i: 1;", NULL),
    BAD("d:;", "empty float"),
    BAD("d:1.5", "no terminating"),
    BAD("d:abc;", "bad float"),
    BAD("d:1.5x;", "bad float"),
    BAD("d: 1;", "whitespace"),
    BAD("d:1 ;", "bad float"),
    BAD("d:INFX;", "bad float"),
    BAD("d:1\0;", "bad float"),
    BAD("s:5:\"ab\";", "string length 5 exceeds remaining input at offset 2"),
    BAD("s:99:\"ab\";", "exceeds remaining input"),
    BAD("s:4294967296:\"ab\";", "exceeds remaining input"),
    BAD("s:18446744073709551616:\"\";", "out of range"),
    BAD("s:2:\"abc\";", "expected '\"'"),
    BAD("s:2:\"ab\"", "exceeds remaining"),
    BAD("s:2:\"ab\":", "expected ';'"),
    BAD("s:2:'ab';", NULL),
    BAD("s:-1:\"\";", NULL),
    BAD("s:01:\"a\";", "leading zero"),
    BAD("s:x:\"\";", NULL),
    BAD("S:1:\"a\";", NULL),
    BAD("a:4000000000:{", "array count 4000000000 exceeds remaining input"),
    BAD("a:4000000000:{}", "exceeds remaining input"),
    BAD("a:18446744073709551615:{i:0;N;}", "exceeds remaining input"),
    BAD("a:18446744073709551616:{}", "out of range"),
    BAD("a:1:{i:0;N;", "exceeds remaining input"),
    BAD("a:1:{i:0;N;i", "expected '}'"),
    BAD("a:1:{}", "exceeds remaining input"),
    BAD("a:2:{i:0;N;}xxxxxx", "array keys must be int or string"),
    BAD("a:1:{i:0;N;i:1;N;}", "expected '}'"),
    BAD("a:1:{N;N;}xx", "array keys must be int or string"),
    BAD("a:1:{d:1;N;}", "array keys must be int or string"),
    BAD("a:1:{b:1;N;}", "array keys must be int or string"),
    BAD("a:1:{a:0:{}N;}", "array keys must be int or string"),
    BAD("a:1:{s:1:\"a\";}xxxxx", "not the start of a value"),
    BAD("a:0:{};", "trailing bytes at offset 6"),
    BAD("a:0:{", NULL),
    BAD("a:0:}", NULL),
    BAD("a:0{}", NULL),
    BAD("a:-1:{}", NULL),
    BAD("a:01:{i:0;N;}", "leading zero"),
    BAD("O:8:\"stdClass\":0:{}", "unexpected byte 'O' at offset 0: objects are not accepted"),
    BAD("C:3:\"Foo\":0:{}", "objects are not accepted"),
    BAD("o:1:{}", "objects are not accepted"),
    BAD("E:7:\"Foo:Bar\";", "enums are not accepted"),
    BAD("r:1;", "references are not accepted"),
    BAD("R:1;", "references are not accepted"),
    BAD("a:1:{i:0;O:8:\"stdClass\":0:{}}", "unexpected byte 'O' at offset 9: objects are not accepted"),
    BAD("a:2:{i:0;a:0:{}i:1;R:2;}", "references are not accepted"),
    BAD("N;N;", "trailing bytes at offset 2"),
    BAD("i:1;x", "trailing bytes at offset 4"),
    BAD("s:0:\"\";\0", "trailing bytes"),
    BAD("b:1; ", "trailing bytes"),
    BAD(" N;", NULL),
};

static void test_malformed_table(void)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *c = &bad_cases[i];
        char err[ERRLEN];
        int ok = rejects(c->in, c->len, err) && (!c->want || strstr(err, c->want));
        if (!ok)
            fprintf(stderr, "\nmalformed #%zu \"%.*s\": message \"%s\", want \"%s\"\n", i, (int)c->len, c->in, err,
                    c->want ? c->want : "");
        CU_ASSERT(ok);
    }
}

/* Counts that the input cannot hold must be refused before the zone grows. */
static void test_no_allocation_for_oversized(void)
{
    static const char *inputs[] = {"a:4000000000:{", "a:1000:{i:0;N;}", "s:4000000000:\"abc\";", "s:100:\"\";"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        msgpack_zone z;
        msgpack_zone_init(&z, 64);
        size_t free_before = z.chunk_list.free;
        char *ptr_before = z.chunk_list.ptr;
        msgpack_object o;
        char err[ERRLEN];
        CU_ASSERT(decode(inputs[i], strlen(inputs[i]), &z, &o, NULL, err) == -1);
        CU_ASSERT(z.chunk_list.free == free_before && z.chunk_list.ptr == ptr_before);
        msgpack_zone_destroy(&z);
    }
}

static size_t prefixes_checked;

/* Every proper prefix of a valid serialization is invalid: the grammar is
 * self-delimiting, so the decoder must notice each truncation point. */
static void truncate_all(const char *name, const uint8_t *p, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        char err[ERRLEN];
        if (!rejects(p, k, err)) {
            fprintf(stderr, "\n%s truncated to %zu bytes was accepted\n", name, k);
            CU_FAIL("truncated input accepted");
            return;
        }
        prefixes_checked++;
    }
}

static void truncate_serialize_case(json_t *c)
{
    size_t n;
    uint8_t *p = tu_read_hex_fixture(case_str(c, "file"), &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    truncate_all(case_str(c, "name"), p, n);
    free(p);
}

static void truncate_reply_case(json_t *c)
{
    size_t n;
    uint8_t *p = tu_read_hex_fixture(case_str(c, "file"), &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    if (n >= 4)
        truncate_all(case_str(c, "name"), p + 4, n - 4);
    free(p);
}

static void test_truncated(void)
{
    prefixes_checked = 0;
    each_case("serialize", truncate_serialize_case);
    each_case("reply", truncate_reply_case);
    json_t *ws = find_case("on_websocket_connect");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    json_t *body = json_object_get(json_object_get(ws, "fields"), "body_serialized");
    truncate_all("on_websocket_connect body", (const uint8_t *)json_string_value(body), json_string_length(body));
    CU_ASSERT(prefixes_checked > 5000);
}

/* Whatever decodes must survive encode → decode → encode unchanged. */
static void check_stable(const uint8_t *p, size_t n)
{
    msgpack_zone z;
    msgpack_zone_init(&z, 256);
    msgpack_object o;
    char err[ERRLEN];
    if (decode(p, n, &z, &o, NULL, err) != 0) {
        CU_ASSERT(err[0] != 0);
        msgpack_zone_destroy(&z);
        return;
    }
    struct buf a = BUF_INIT, b = BUF_INIT;
    CU_ASSERT_FATAL(phpser_encode(&a, &o) == 0);
    msgpack_object o2;
    CU_ASSERT_FATAL(decode(buf_head(&a), buf_avail(&a), &z, &o2, NULL, err) == 0);
    CU_ASSERT_FATAL(phpser_encode(&b, &o2) == 0);
    CU_ASSERT(buf_avail(&a) == buf_avail(&b) && memcmp(buf_head(&a), buf_head(&b), buf_avail(&a)) == 0);
    buf_free(&a);
    buf_free(&b);
    msgpack_zone_destroy(&z);
}

static void test_random_bytes(void)
{
    /* Mostly grammar characters, so some inputs get deep into the parser. */
    static const char alphabet[] = "Nbidsa:;{}\"0123456789-.EIFNA";
    uint8_t in[64];
    for (int iter = 0; iter < 50000; iter++) {
        size_t n = (size_t)(rng() % sizeof in);
        for (size_t k = 0; k < n; k++) {
            uint64_t r = rng();
            in[k] = (r & 7) == 0 ? (uint8_t)(r >> 8) : (uint8_t)alphabet[(r >> 8) % (sizeof alphabet - 1)];
        }
        check_stable(in, n);
    }
}

static void mutate_case(json_t *c)
{
    size_t n;
    uint8_t *p = tu_read_hex_fixture(case_str(c, "file"), &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    uint8_t *m = malloc(n + 8);
    for (int iter = 0; iter < 300; iter++) {
        memcpy(m, p, n);
        size_t mn = n;
        int edits = 1 + (int)(rng() % 3);
        for (int e = 0; e < edits && mn > 0; e++) {
            size_t at = (size_t)(rng() % mn);
            switch (rng() % 3) {
            case 0: /* replace */
                m[at] = (uint8_t)rng();
                break;
            case 1: /* delete */
                memmove(m + at, m + at + 1, mn - at - 1);
                mn--;
                break;
            default: /* insert a digit: shifts lengths against content */
                if (mn < n + 8) {
                    memmove(m + at + 1, m + at, mn - at);
                    m[at] = (uint8_t)('0' + rng() % 10);
                    mn++;
                }
            }
        }
        check_stable(m, mn);
    }
    free(m);
    free(p);
}

static void test_mutated_vectors(void) { CU_ASSERT(each_case("serialize", mutate_case) >= 35); }

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite golden = CU_add_suite("phpser golden vectors", NULL, NULL);
    CU_add_test(golden, "serialize cases decode, compare and re-encode", test_serialize_vectors);
    CU_add_test(golden, "reply payloads decode, compare and re-encode", test_reply_vectors);
    CU_add_test(golden, "frame bodies and ext_data decode and re-encode", test_frame_vectors);
    CU_add_test(golden, "live captures re-encode byte for byte", test_live_vectors);

    CU_pSuite floats = CU_add_suite("phpser floats", NULL, NULL);
    CU_add_test(floats, "every float vector formats and parses", test_float_vectors);
    CU_add_test(floats, "layout thresholds and extremes", test_float_format_extra);
    CU_add_test(floats, "power-of-two boundaries", test_float_power_of_two_boundaries);
    CU_add_test(floats, "random doubles round-trip", test_float_roundtrip_random);

    CU_pSuite model = CU_add_suite("phpser value model", NULL, NULL);
    CU_add_test(model, "integer-like key rule", test_key_rule);
    CU_add_test(model, "decoder mapping", test_decode_mapping);
    CU_add_test(model, "depth and element limits", test_limits);
    CU_add_test(model, "encoder mapping and errors", test_encode);

    CU_pSuite hostile = CU_add_suite("phpser malformed input", NULL, NULL);
    CU_add_test(hostile, "table of malformed inputs", test_malformed_table);
    CU_add_test(hostile, "no allocation for oversized counts", test_no_allocation_for_oversized);
    CU_add_test(hostile, "every truncation rejected", test_truncated);
    CU_add_test(hostile, "random bytes", test_random_bytes);
    CU_add_test(hostile, "mutated vectors", test_mutated_vectors);
    return tu_run("test_phpser");
}
