/* regmsg: the register protocol's lines (§2) against the golden vectors
 * (index.json and live/index.json kind "register-line", the live
 * register_timeline) and against hostile input: PHP empty() on "event",
 * non-objects, invalid UTF-8, NUL bytes, escapes, and line framing limits. */
#include "buf.h"
#include "regmsg.h"
#include "tu.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

static json_t *live_index;

static int load_live(void)
{
    char *path = tu_fixture_path("live/index.json");
    json_error_t jerr;
    live_index = json_load_file(path, 0, &jerr);
    if (!live_index)
        fprintf(stderr, "cannot load %s: %s\n", path, jerr.text);
    free(path);
    return (live_index && tu_fixture_index()) ? 0 : 1;
}

static int free_live(void)
{
    json_decref(live_index);
    live_index = NULL;
    return 0;
}

/* Reads fixture `file` (relative to $GW_FIXTURES); caller frees. */
static uint8_t *read_fixture(const char *file, size_t *len)
{
    char *path = tu_fixture_path(file);
    uint8_t *p = tu_read_file(path, len);
    free(path);
    return p;
}

static enum regmsg_event event_of(const char *name)
{
    if (strcmp(name, "gateway_connect") == 0)
        return REGMSG_GATEWAY_CONNECT;
    if (strcmp(name, "worker_connect") == 0)
        return REGMSG_WORKER_CONNECT;
    if (strcmp(name, "ping") == 0)
        return REGMSG_PING;
    if (strcmp(name, "broadcast_addresses") == 0)
        return REGMSG_BROADCAST_ADDRESSES;
    return REGMSG_UNKNOWN;
}

static int parse_str(const char *line, struct regmsg *m) { return regmsg_parse(line, strlen(line), m); }

/* The event parse_str gives for line (frees the message). */
static enum regmsg_event event_str(const char *line, size_t len)
{
    struct regmsg m;
    if (regmsg_parse(line, len, &m) != 0)
        return (enum regmsg_event)-1;
    enum regmsg_event e = m.event;
    regmsg_free(&m);
    return e;
}

/* Compares a parsed line with the decoded JSON the fixture says it holds. */
static void check_against_json(const struct regmsg *m, const json_t *want, const char *what)
{
    const char *ev = json_string_value(json_object_get(want, "event"));
    CHECKF(ev != NULL, "%s: fixture json has no event", what);
    if (!ev)
        return;
    enum regmsg_event e = event_of(ev);
    CHECKF(m->event == e, "%s: event %d, want %d (%s)", what, (int)m->event, (int)e, ev);
    if (e == REGMSG_GATEWAY_CONNECT || e == REGMSG_WORKER_CONNECT) {
        const json_t *k = json_object_get(want, "secret_key");
        const char *ks = k ? json_string_value(k) : "";
        size_t kl = k ? json_string_length(k) : 0;
        CHECKF(m->secret_key && m->secret_len == kl && memcmp(m->secret_key, ks, kl) == 0,
               "%s: secret_key '%s' (%zu), want '%s'", what, m->secret_key ? m->secret_key : "(null)",
               m->secret_len, ks);
        const char *addr = json_string_value(json_object_get(want, "address"));
        if (!addr)
            addr = "";
        CHECKF(m->address && strcmp(m->address, addr) == 0, "%s: address '%s', want '%s'", what,
               m->address ? m->address : "(null)", addr);
    }
    if (e == REGMSG_BROADCAST_ADDRESSES) {
        const json_t *a = json_object_get(want, "addresses");
        /* The values, in order, whether a list or an object. */
        size_t n = json_is_array(a) ? json_array_size(a) : json_object_size(a);
        CHECKF(m->addresses_ok == 1, "%s: addresses_ok %d", what, m->addresses_ok);
        CHECKF(m->n_addresses == n, "%s: %zu addresses, want %zu", what, m->n_addresses, n);
        if (m->n_addresses != n)
            return;
        size_t i = 0;
        const char *k;
        json_t *v;
        if (json_is_array(a)) {
            json_array_foreach(a, i, v)
            {
                CHECKF(strcmp(m->addresses[i], json_string_value(v)) == 0, "%s: address %zu '%s', want '%s'",
                       what, i, m->addresses[i], json_string_value(v));
            }
        } else {
            json_object_foreach((json_t *)a, k, v)
            {
                CHECKF(strcmp(m->addresses[i], json_string_value(v)) == 0, "%s: address %zu '%s', want '%s'",
                       what, i, m->addresses[i], json_string_value(v));
                i++;
            }
        }
    }
}

/* Output of a builder: one LF at the end, none before. */
static int one_line(const struct buf *b)
{
    size_t n = buf_avail(b);
    const uint8_t *p = buf_head(b);
    return n > 0 && p[n - 1] == '\n' && memchr(p, '\n', n - 1) == NULL;
}

/* 1 if the builder output (one line) decodes to JSON equal to want. */
static int json_equals_line(const struct buf *b, const json_t *want)
{
    if (!one_line(b))
        return 0;
    json_error_t jerr;
    json_t *got = json_loadb((const char *)buf_head(b), buf_avail(b) - 1, 0, &jerr);
    int eq = got && json_equal(got, (json_t *)want);
    json_decref(got);
    return eq;
}

/* Builds the line our code would send for the decoded message j (the dedup
 * object form is built as a list of its values). */
static int build_like(struct buf *out, const json_t *j)
{
    const char *ev = json_string_value(json_object_get(j, "event"));
    switch (event_of(ev ? ev : "")) {
    case REGMSG_GATEWAY_CONNECT:
        return regmsg_build_gateway_connect(out, json_string_value(json_object_get(j, "address")),
                                            json_string_value(json_object_get(j, "secret_key")));
    case REGMSG_WORKER_CONNECT:
        return regmsg_build_worker_connect(out, json_string_value(json_object_get(j, "secret_key")));
    case REGMSG_PING:
        return regmsg_build_ping(out);
    case REGMSG_BROADCAST_ADDRESSES: {
        const json_t *a = json_object_get(j, "addresses");
        size_t n = json_is_array(a) ? json_array_size(a) : json_object_size(a);
        const char **list = calloc(n ? n : 1, sizeof *list);
        size_t i = 0;
        const char *k;
        json_t *v;
        if (json_is_array(a)) {
            json_array_foreach(a, i, v) list[i] = json_string_value(v);
        } else {
            json_object_foreach((json_t *)a, k, v) list[i++] = json_string_value(v);
        }
        int rc = regmsg_build_broadcast(out, list, n);
        free(list);
        return rc;
    }
    default:
        return -1;
    }
}

/* Splits text into lines with regmsg_next_line; returns the count, stores up to
 * max (start, len) pairs. */
static size_t split_lines(const uint8_t *text, size_t n, size_t starts[], size_t lens[], size_t max)
{
    size_t off = 0, count = 0;
    while (off < n) {
        size_t ll = 0, used = 0;
        if (regmsg_next_line(text + off, n - off, REGMSG_DEFAULT_MAX_LINE, &ll, &used) != REGMSG_OK)
            break;
        if (count < max) {
            starts[count] = off;
            lens[count] = ll;
        }
        count++;
        off += used;
    }
    return off == n ? count : 0;
}

/* ------------------------------------------------------ fixture vectors */

/* One register-line case: the file equals "text"; each line parses to what
 * the fixture's json (or, without one, the line's own JSON) says. */
static void check_register_case(const json_t *c, const char *dir, int *n_cases)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *file = json_string_value(json_object_get(c, "file"));
    const char *text = json_string_value(json_object_get(c, "text"));
    CHECKF(name && file && text, "register-line case without name/file/text");
    if (!name || !file || !text)
        return;
    (*n_cases)++;
    char rel[256];
    snprintf(rel, sizeof rel, "%s%s", dir, file);
    size_t flen;
    uint8_t *bytes = read_fixture(rel, &flen);
    CHECKF(bytes != NULL, "%s: cannot read %s", name, rel);
    if (!bytes)
        return;
    CHECKF(flen == strlen(text) && memcmp(bytes, text, flen) == 0, "%s: file differs from index text", name);

    size_t starts[8], lens[8];
    size_t nl = split_lines(bytes, flen, starts, lens, 8);
    CHECKF(nl >= 1 && nl <= 8, "%s: %zu lines", name, nl);
    const json_t *want = json_object_get(c, "json");
    CHECKF(!want || nl == 1, "%s: json given for %zu lines", name, nl);
    for (size_t i = 0; i < nl && i < 8; i++) {
        char what[300];
        snprintf(what, sizeof what, "%s line %zu", name, i);
        const char *line = (const char *)bytes + starts[i];
        struct regmsg m;
        CHECKF(regmsg_parse(line, lens[i], &m) == 0, "%s: parse failed", what);
        if (strcmp(name, "register-bad_request_reply") == 0) {
            /* The register's reply is not an event line. */
            CHECKF(m.event == REGMSG_BAD, "%s: event %d, want BAD", what, (int)m.event);
        } else {
            json_error_t jerr;
            json_t *own = want ? NULL : json_loadb(line, lens[i], 0, &jerr);
            CHECKF(want || own, "%s: line is not JSON", what);
            if (want || own)
                check_against_json(&m, want ? want : own, what);
            json_decref(own);
        }
        regmsg_free(&m);
    }
    free(bytes);
}

static void test_fixture_lines(void)
{
    json_t *idx = tu_fixture_index();
    CU_ASSERT_PTR_NOT_NULL_FATAL(idx);
    size_t i;
    json_t *c;
    int n = 0;
    json_array_foreach(json_object_get(idx, "cases"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "kind")), "register-line") == 0)
            check_register_case(c, "", &n);
    }
    CHECKF(n == 9, "%d register-line cases, want 9", n);
}

static void test_live_lines(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(live_index);
    size_t i;
    json_t *c;
    int n = 0;
    json_array_foreach(json_object_get(live_index, "cases"), i, c)
    {
        const char *kind = json_string_value(json_object_get(c, "kind"));
        if (kind && strcmp(kind, "register-line") == 0)
            check_register_case(c, "live/", &n);
    }
    CHECKF(n == 5, "%d live register-line cases, want 5", n);
}

/* Every line of the live register timeline parses to its own JSON; the lines
 * the register sent are byte-identical to what our builder makes. */
static void test_live_timeline(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(live_index);
    json_t *tl = json_object_get(live_index, "register_timeline");
    CU_ASSERT_FATAL(json_array_size(tl) >= 4);
    size_t i;
    json_t *e;
    int from_register = 0;
    json_array_foreach(tl, i, e)
    {
        const char *text = json_string_value(json_object_get(e, "text"));
        const char *dir = json_string_value(json_object_get(e, "dir"));
        CU_ASSERT_PTR_NOT_NULL_FATAL(text);
        CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
        size_t n = strlen(text), ll = 0, used = 0;
        CHECKF(regmsg_next_line((const uint8_t *)text, n, REGMSG_DEFAULT_MAX_LINE, &ll, &used) == REGMSG_OK &&
                   used == n && ll == n - 1,
               "timeline %zu: not one LF-terminated line", i);
        char what[64];
        snprintf(what, sizeof what, "timeline %zu", i);
        json_error_t jerr;
        json_t *j = json_loadb(text, ll, 0, &jerr);
        CHECKF(j != NULL, "%s: not JSON", what);
        if (!j)
            continue;
        struct regmsg m;
        CHECKF(regmsg_parse(text, ll, &m) == 0, "%s: parse failed", what);
        check_against_json(&m, j, what);
        regmsg_free(&m);
        struct buf b = BUF_INIT;
        CHECKF(build_like(&b, j) == 0, "%s: build failed", what);
        if (strcmp(dir, "from_register") == 0 || m.event == REGMSG_WORKER_CONNECT || m.event == REGMSG_PING) {
            from_register += strcmp(dir, "from_register") == 0;
            CHECKF(buf_avail(&b) == n && memcmp(buf_head(&b), text, n) == 0, "%s: built '%.*s', want '%s'", what,
                   (int)buf_avail(&b), (const char *)buf_head(&b), text);
        } else {
            CHECKF(json_equals_line(&b, j), "%s: built '%.*s' is not JSON-equal to '%s'", what, (int)buf_avail(&b),
                   (const char *)buf_head(&b), text);
        }
        buf_free(&b);
        json_decref(j);
    }
    CHECKF(from_register == 3, "%d from_register lines, want 3", from_register);
}

/* Explicit values, so the test does not only trust the fixture's json. */
static void test_fixture_values(void)
{
    size_t n;
    uint8_t *t = read_fixture("register-gateway_connect.txt", &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    struct regmsg m;
    CU_ASSERT_EQUAL(regmsg_parse((const char *)t, n - 1, &m), 0);
    CU_ASSERT_EQUAL(m.event, REGMSG_GATEWAY_CONNECT);
    CU_ASSERT_STRING_EQUAL(m.address, "172.16.0.11:2900");
    CU_ASSERT_EQUAL(m.secret_len, 14);
    CU_ASSERT_STRING_EQUAL(m.secret_key, "s3cr3t-lottery");
    CU_ASSERT_EQUAL(m.n_addresses, 0);
    regmsg_free(&m);
    free(t);

    t = read_fixture("register-worker_connect.txt", &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(regmsg_parse((const char *)t, n - 1, &m), 0);
    CU_ASSERT_EQUAL(m.event, REGMSG_WORKER_CONNECT);
    CU_ASSERT_STRING_EQUAL(m.secret_key, "s3cr3t-lottery");
    CU_ASSERT_STRING_EQUAL(m.address, "");
    regmsg_free(&m);
    free(t);

    t = read_fixture("register-broadcast_addresses_dedup_object.txt", &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(regmsg_parse((const char *)t, n - 1, &m), 0);
    CU_ASSERT_EQUAL(m.event, REGMSG_BROADCAST_ADDRESSES);
    CU_ASSERT_EQUAL(m.addresses_ok, 1);
    CU_ASSERT_EQUAL_FATAL(m.n_addresses, 2);
    CU_ASSERT_STRING_EQUAL(m.addresses[0], "172.16.0.11:2900");
    CU_ASSERT_STRING_EQUAL(m.addresses[1], "172.16.0.13:2900");
    regmsg_free(&m);
    free(t);

    t = read_fixture("register-broadcast_addresses_empty.txt", &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(regmsg_parse((const char *)t, n - 1, &m), 0);
    CU_ASSERT_EQUAL(m.event, REGMSG_BROADCAST_ADDRESSES);
    CU_ASSERT_EQUAL(m.addresses_ok, 1);
    CU_ASSERT_EQUAL(m.n_addresses, 0);
    regmsg_free(&m);
    free(t);
}

/* ------------------------------------------------------------ builders */

static void expect_file(const struct buf *b, const char *file)
{
    size_t n;
    uint8_t *want = read_fixture(file, &n);
    CHECKF(want != NULL, "cannot read %s", file);
    if (!want)
        return;
    CHECKF(buf_avail(b) == n && memcmp(buf_head(b), want, n) == 0, "built '%.*s', want %s: '%s'",
           (int)buf_avail(b), (const char *)buf_head(b), file, (const char *)want);
    free(want);
}

static void test_build_bytes(void)
{
    struct buf b = BUF_INIT;
    CU_ASSERT_EQUAL(regmsg_build_ping(&b), 0);
    expect_file(&b, "register-ping.txt");
    buf_reset(&b);

    CU_ASSERT_EQUAL(regmsg_build_worker_connect(&b, "s3cr3t-lottery"), 0);
    expect_file(&b, "register-worker_connect.txt");
    buf_reset(&b);

    CU_ASSERT_EQUAL(regmsg_build_broadcast(&b, NULL, 0), 0);
    expect_file(&b, "register-broadcast_addresses_empty.txt");
    buf_reset(&b);

    const char *one[] = {"172.16.0.11:2900"};
    CU_ASSERT_EQUAL(regmsg_build_broadcast(&b, one, 1), 0);
    expect_file(&b, "register-broadcast_addresses_one.txt");
    buf_reset(&b);

    const char *two[] = {"172.16.0.11:2900", "172.16.0.12:2900"};
    CU_ASSERT_EQUAL(regmsg_build_broadcast(&b, two, 2), 0);
    expect_file(&b, "register-broadcast_addresses.txt");
    buf_reset(&b);

    /* The two-line file: two builds appended to one buffer. */
    const char *a13[] = {"172.16.0.11:2900", "172.16.0.13:2900"}, *b13[] = {"172.16.0.13:2900"};
    CU_ASSERT_EQUAL(regmsg_build_broadcast(&b, a13, 2), 0);
    CU_ASSERT_EQUAL(regmsg_build_broadcast(&b, b13, 1), 0);
    expect_file(&b, "register-broadcast_addresses_after_close.txt");
    buf_reset(&b);

    /* Builders append: existing content is kept. */
    buf_append_str(&b, "keep");
    CU_ASSERT_EQUAL(regmsg_build_ping(&b), 0);
    CU_ASSERT(buf_avail(&b) == 21 && memcmp(buf_head(&b), "keep{\"event\":\"ping\"}\n", 21) == 0);
    buf_free(&b);
}

/* Every fixture line with a json: the builder's output is JSON-equal (the
 * dedup object is sent as a list of its values). */
static void test_build_json_equal(void)
{
    json_t *idx = tu_fixture_index();
    CU_ASSERT_PTR_NOT_NULL_FATAL(idx);
    size_t i;
    json_t *c;
    int n = 0;
    json_array_foreach(json_object_get(idx, "cases"), i, c)
    {
        const json_t *want = json_object_get(c, "json");
        const char *name = json_string_value(json_object_get(c, "name"));
        if (!want || strcmp(json_string_value(json_object_get(c, "kind")), "register-line") != 0)
            continue;
        n++;
        struct buf b = BUF_INIT;
        CHECKF(build_like(&b, want) == 0, "%s: build failed", name);
        const json_t *a = json_object_get(want, "addresses");
        if (json_is_object(a)) {
            json_t *list = json_array();
            const char *k;
            json_t *v;
            json_object_foreach((json_t *)a, k, v) json_array_append(list, v);
            json_t *as_list = json_pack("{s:s, s:o}", "event", "broadcast_addresses", "addresses", list);
            CHECKF(json_equals_line(&b, as_list), "%s: built '%.*s'", name, (int)buf_avail(&b),
                   (const char *)buf_head(&b));
            CHECKF(!json_equals_line(&b, want), "%s: built an object", name);
            json_decref(as_list);
        } else {
            CHECKF(json_equals_line(&b, want), "%s: built '%.*s' is not JSON-equal", name, (int)buf_avail(&b),
                   (const char *)buf_head(&b));
        }
        buf_free(&b);
    }
    CHECKF(n == 7, "%d cases with json, want 7", n);

    /* gateway_connect: compact JSON, which PHP registers accept (§2.2). */
    struct buf b = BUF_INIT;
    CU_ASSERT_EQUAL(regmsg_build_gateway_connect(&b, "172.16.0.11:2900", "s3cr3t-lottery"), 0);
    const char *want = "{\"event\":\"gateway_connect\",\"address\":\"172.16.0.11:2900\",\"secret_key\":\"s3cr3t-lottery\"}\n";
    CU_ASSERT(buf_avail(&b) == strlen(want) && memcmp(buf_head(&b), want, strlen(want)) == 0);
    buf_free(&b);
}

static void test_bad_request_reply(void)
{
    struct buf b = BUF_INIT;
    const char *line = "GET / HTTP/1.1";
    CU_ASSERT_EQUAL(regmsg_build_bad_request(&b, "203.0.113.5", line, strlen(line)), 0);
    expect_file(&b, "register-bad_request_reply.txt");
    buf_reset(&b);
    /* The line is echoed verbatim, bytes after a NUL included, and only len bytes. */
    CU_ASSERT_EQUAL(regmsg_build_bad_request(&b, "10.0.0.1", "a\0b%sXYZ", 5), 0);
    const char *want = "Bad request for Register service. Request info(IP:10.0.0.1, Request Buffer:a\0b%s). See "
                       "http://doc2.workerman.net/register-auth-timeout.html\n";
    size_t wl = strlen("Bad request for Register service. Request info(IP:10.0.0.1, Request Buffer:") + 5 +
                strlen("). See http://doc2.workerman.net/register-auth-timeout.html\n");
    CHECKF(buf_avail(&b) == wl && memcmp(buf_head(&b), want, wl) == 0, "got '%.*s'", (int)buf_avail(&b),
           (const char *)buf_head(&b));
    buf_free(&b);
}

/* Keys with `"` and `\` (and other escapes) survive build → parse. */
static void test_round_trip(void)
{
    static const char *keys[] = {
        "",
        "plain",
        "with\"quote",
        "back\\slash",
        "\\\"both\\\"",
        "\"",
        "\\",
        "slash/and\ttab\nnewline\r",
        "\x01\x1f control",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
        "{\"event\":\"ping\"}",
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        struct buf b = BUF_INIT;
        struct regmsg m;
        CU_ASSERT_EQUAL(regmsg_build_worker_connect(&b, keys[i]), 0);
        CHECKF(one_line(&b), "key %zu: not one line", i);
        CU_ASSERT_EQUAL(regmsg_parse((const char *)buf_head(&b), buf_avail(&b) - 1, &m), 0);
        CHECKF(m.event == REGMSG_WORKER_CONNECT, "key %zu: event %d", i, (int)m.event);
        CHECKF(m.secret_len == strlen(keys[i]) && memcmp(m.secret_key, keys[i], m.secret_len) == 0,
               "key %zu: got '%s'", i, m.secret_key);
        regmsg_free(&m);
        buf_reset(&b);

        CU_ASSERT_EQUAL(regmsg_build_gateway_connect(&b, keys[i], keys[i]), 0);
        CHECKF(one_line(&b), "key %zu: not one line", i);
        CU_ASSERT_EQUAL(regmsg_parse((const char *)buf_head(&b), buf_avail(&b) - 1, &m), 0);
        CHECKF(m.event == REGMSG_GATEWAY_CONNECT, "key %zu: event %d", i, (int)m.event);
        CHECKF(m.secret_len == strlen(keys[i]) && memcmp(m.secret_key, keys[i], m.secret_len) == 0,
               "key %zu: got '%s'", i, m.secret_key);
        CHECKF(strcmp(m.address, keys[i]) == 0, "key %zu: address '%s'", i, m.address);
        regmsg_free(&m);
        buf_reset(&b);

        const char *list[] = {keys[i], "1.2.3.4:5"};
        CU_ASSERT_EQUAL(regmsg_build_broadcast(&b, list, 2), 0);
        CU_ASSERT_EQUAL(regmsg_parse((const char *)buf_head(&b), buf_avail(&b) - 1, &m), 0);
        CHECKF(m.event == REGMSG_BROADCAST_ADDRESSES && m.addresses_ok && m.n_addresses == 2 &&
                   strcmp(m.addresses[0], keys[i]) == 0 && strcmp(m.addresses[1], "1.2.3.4:5") == 0,
               "key %zu: broadcast round trip", i);
        regmsg_free(&m);
        buf_free(&b);
    }
    /* PHP's json_encode escapes '/', and so do we. */
    struct buf b = BUF_INIT;
    CU_ASSERT_EQUAL(regmsg_build_worker_connect(&b, "a/b"), 0);
    const char *slash = "{\"event\":\"worker_connect\",\"secret_key\":\"a\\/b\"}\n";
    CU_ASSERT(buf_avail(&b) == strlen(slash) && memcmp(buf_head(&b), slash, strlen(slash)) == 0);
    buf_free(&b);
}

/* ------------------------------------------------------------ parsing */

static void test_php_empty_event(void)
{
    static const char *bad[] = {
        "{\"event\":\"\"}",    "{\"event\":\"0\"}", "{\"event\":0}",  "{\"event\":null}",
        "{\"event\":false}",   "{}",                "{\"secret_key\":\"k\"}", "{\"event\":0.0}",
        "{\"event\":-0.0}",    "{\"event\":[]}",    "{\"event\":{}}", "{\"Event\":\"ping\"}",
        "{\"event \":\"ping\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(event_str(bad[i], strlen(bad[i])) == REGMSG_BAD, "%s: not BAD", bad[i]);

    /* Non-empty values that name no event. Note: PHP compares with a loose
     * switch, so `true` would match 'gateway_connect' there; we refuse it. */
    static const char *unknown[] = {
        "{\"event\":\"x\"}",        "{\"event\":1}",          "{\"event\":-1}",
        "{\"event\":0.5}",          "{\"event\":\"00\"}",     "{\"event\":\" \"}",
        "{\"event\":\"0.0\"}",      "{\"event\":\"Ping\"}",   "{\"event\":\"ping \"}",
        "{\"event\":\"PING\"}",     "{\"event\":[0]}",        "{\"event\":{\"a\":1}}",
        "{\"event\":true}",         "{\"event\":\"pin\"}",    "{\"event\":\"gateway_connectx\"}",
    };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        CHECKF(event_str(unknown[i], strlen(unknown[i])) == REGMSG_UNKNOWN, "%s: not UNKNOWN", unknown[i]);

    /* Known events; "broadcast_addresses" is one too (the register rejects it itself). */
    CU_ASSERT_EQUAL(event_str("{\"event\":\"ping\"}", 16), REGMSG_PING);
    CU_ASSERT_EQUAL(event_str("{\"event\":\"broadcast_addresses\"}", 31), REGMSG_BROADCAST_ADDRESSES);
}

static void test_non_object(void)
{
    static const char *bad[] = {
        "",
        " ",
        "null",
        "true",
        "false",
        "0",
        "1",
        "\"ping\"",
        "\"event\"",
        "[]",
        "[{\"event\":\"ping\"}]",
        "[\"event\",\"ping\"]",
        "GET / HTTP/1.1",
        "{",
        "}",
        "{\"event\":\"ping\"",
        "{\"event\":\"ping\"}}",
        "{\"event\":\"ping\"}x",
        "{\"event\":\"ping\"}{\"event\":\"ping\"}",
        "{\"event\":\"ping\"}\n{\"event\":\"ping\"}",
        "{event:\"ping\"}",
        "{'event':'ping'}",
        "{\"event\":\"ping\",}",
        "{\"event\":ping}",
        "{\"event\":\"ping\" \"x\":1}",
        "{\"event\":\"p\\ing\"}",
        "{\"event\":\"ping\\u00\"}",
        "\xef\xbb\xbf{\"event\":\"ping\"}", /* BOM */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(event_str(bad[i], strlen(bad[i])) == REGMSG_BAD, "'%s': not BAD", bad[i]);

    /* Whitespace around the object is valid JSON. */
    CU_ASSERT_EQUAL(event_str(" \t{ \"event\" : \"ping\" }\r ", 24), REGMSG_PING);
    /* Only len bytes are read: a valid prefix of a longer buffer. */
    CU_ASSERT_EQUAL(event_str("{\"event\":\"ping\"}garbage", 16), REGMSG_PING);
    CU_ASSERT_EQUAL(event_str("{\"event\":\"ping\"}", 15), REGMSG_BAD);
    /* Duplicate keys: the last one wins, as in PHP. */
    CU_ASSERT_EQUAL(event_str("{\"event\":\"ping\",\"event\":\"worker_connect\"}", 41), REGMSG_WORKER_CONNECT);
    CU_ASSERT_EQUAL(event_str("{\"event\":\"ping\",\"event\":\"\"}", 27), REGMSG_BAD);
    /* Deep nesting elsewhere in the object does not matter. */
    CU_ASSERT_EQUAL(event_str("{\"x\":[[[[{\"y\":{}}]]]],\"event\":\"ping\"}", 37), REGMSG_PING);
}

static void test_invalid_utf8(void)
{
    static const char *bad[] = {
        "{\"event\":\"ping\",\"x\":\"\xff\"}",
        "{\"event\":\"p\xc3\x28ng\"}",
        "{\"event\":\"ping\",\"x\":\"\xc0\xaf\"}",          /* overlong '/' */
        "{\"event\":\"ping\",\"x\":\"\xed\xa0\x80\"}",      /* encoded surrogate */
        "{\"event\":\"ping\",\"x\":\"\xf4\x90\x80\x80\"}",  /* above U+10FFFF */
        "{\"event\":\"ping\",\"x\":\"\xe2\x82\"}",          /* truncated sequence */
        "{\"event\":\"ping\",\"\xfe\":1}",                  /* in a key */
        "{\"event\":\"ping\",\"x\":\"\\ud800\"}",           /* lone surrogate escape */
        "{\"event\":\"ping\",\"x\":\"\\udc00\\ud800\"}",    /* reversed pair */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(event_str(bad[i], strlen(bad[i])) == REGMSG_BAD, "bad UTF-8 %zu: not BAD", i);
    /* Valid multi-byte UTF-8 and a surrogate pair escape are fine. */
    const char *ok = "{\"event\":\"ping\",\"x\":\"caf\xc3\xa9 \\ud83d\\ude00 \xf0\x9f\x98\x80\"}";
    CU_ASSERT_EQUAL(event_str(ok, strlen(ok)), REGMSG_PING);
    /* Raw control characters (here TAB and a raw LF) are not allowed inside strings. */
    CU_ASSERT_EQUAL(event_str("{\"event\":\"pi\tng\"}", 17), REGMSG_BAD);
}

static void test_nul(void)
{
    struct regmsg m;
    /* A raw NUL byte inside a string is invalid JSON (a control character). */
    const char raw[] = "{\"event\":\"ping\0\"}";
    CU_ASSERT_EQUAL(event_str(raw, sizeof raw - 1), REGMSG_BAD);
    /* A raw NUL outside the JSON text is garbage. */
    const char raw2[] = "{\"event\":\"ping\"}\0";
    CU_ASSERT_EQUAL(event_str(raw2, sizeof raw2 - 1), REGMSG_BAD);

    /* \u0000 in the event: not "ping". */
    CU_ASSERT_EQUAL(event_str("{\"event\":\"ping\\u0000\"}", 22), REGMSG_UNKNOWN);
    CU_ASSERT_EQUAL(event_str("{\"event\":\"\\u0000\"}", 18), REGMSG_UNKNOWN);
    /* \u0000 in a key name: not "event". */
    CU_ASSERT_EQUAL(event_str("{\"event\\u0000\":\"ping\"}", 22), REGMSG_BAD);

    /* \u0000 in the secret key: kept, with its length. */
    const char *l = "{\"event\":\"worker_connect\",\"secret_key\":\"ab\\u0000c\"}";
    CU_ASSERT_EQUAL_FATAL(regmsg_parse(l, strlen(l), &m), 0);
    CU_ASSERT_EQUAL(m.event, REGMSG_WORKER_CONNECT);
    CU_ASSERT_EQUAL(m.secret_len, 4);
    CU_ASSERT(memcmp(m.secret_key, "ab\0c", 5) == 0);
    regmsg_free(&m);

    /* \u0000 in a gateway address: it cannot be a C string, so it is not kept
     * as a truncated "1.2.3.4:5" (which would pass as canonical). */
    l = "{\"event\":\"gateway_connect\",\"address\":\"1.2.3.4:5\\u0000x\",\"secret_key\":\"\"}";
    CU_ASSERT_EQUAL_FATAL(regmsg_parse(l, strlen(l), &m), 0);
    CU_ASSERT_EQUAL(m.event, REGMSG_GATEWAY_CONNECT);
    CU_ASSERT_STRING_EQUAL(m.address, "");
    regmsg_free(&m);

    /* \u0000 in a broadcast address: treated like a non-string entry. */
    l = "{\"event\":\"broadcast_addresses\",\"addresses\":[\"1.2.3.4:5\\u0000x\",\"6.7.8.9:10\"]}";
    CU_ASSERT_EQUAL_FATAL(regmsg_parse(l, strlen(l), &m), 0);
    CU_ASSERT_EQUAL(m.event, REGMSG_BROADCAST_ADDRESSES);
    CU_ASSERT_EQUAL(m.addresses_ok, 0);
    CU_ASSERT_EQUAL_FATAL(m.n_addresses, 1);
    CU_ASSERT_STRING_EQUAL(m.addresses[0], "6.7.8.9:10");
    regmsg_free(&m);
}

static void test_fields(void)
{
    struct regmsg m;
    /* Escapes everywhere: in key names and in values. */
    const char *l = "{\"\\u0065vent\":\"gateway\\u005fconnect\",\"addr\\u0065ss\":\"172.16.0.11:2900\","
                    "\"secret\\u005fkey\":\"s3\\/cr\\\"3t\\\\\\u00e9\"}";
    CU_ASSERT_EQUAL_FATAL(parse_str(l, &m), 0);
    CU_ASSERT_EQUAL(m.event, REGMSG_GATEWAY_CONNECT);
    CU_ASSERT_STRING_EQUAL(m.address, "172.16.0.11:2900");
    CU_ASSERT_EQUAL(m.secret_len, 11);
    CU_ASSERT_STRING_EQUAL(m.secret_key, "s3/cr\"3t\\\xc3\xa9");
    regmsg_free(&m);

    /* Key order and spacing do not matter. */
    CU_ASSERT_EQUAL_FATAL(parse_str(" { \"secret_key\" : \"k\" , \"address\" : \"1.2.3.4:5\" , \"event\" : "
                                    "\"gateway_connect\" } ",
                                    &m),
                          0);
    CU_ASSERT_EQUAL(m.event, REGMSG_GATEWAY_CONNECT);
    CU_ASSERT_STRING_EQUAL(m.address, "1.2.3.4:5");
    CU_ASSERT_STRING_EQUAL(m.secret_key, "k");
    regmsg_free(&m);

    /* Missing secret_key and address: "" (PHP treats absent as ""). */
    CU_ASSERT_EQUAL_FATAL(parse_str("{\"event\":\"gateway_connect\"}", &m), 0);
    CU_ASSERT_EQUAL(m.event, REGMSG_GATEWAY_CONNECT);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m.address);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m.secret_key);
    CU_ASSERT_STRING_EQUAL(m.address, "");
    CU_ASSERT_STRING_EQUAL(m.secret_key, "");
    CU_ASSERT_EQUAL(m.secret_len, 0);
    regmsg_free(&m);
    CU_ASSERT_EQUAL_FATAL(parse_str("{\"event\":\"worker_connect\",\"secret_key\":null}", &m), 0);
    CU_ASSERT_EQUAL(m.event, REGMSG_WORKER_CONNECT);
    CU_ASSERT_STRING_EQUAL(m.secret_key, "");
    regmsg_free(&m);
    /* Address not a string: "". */
    CU_ASSERT_EQUAL_FATAL(parse_str("{\"event\":\"gateway_connect\",\"address\":12,\"secret_key\":\"k\"}", &m), 0);
    CU_ASSERT_STRING_EQUAL(m.address, "");
    CU_ASSERT_STRING_EQUAL(m.secret_key, "k");
    regmsg_free(&m);

    /* Extra fields are ignored. */
    CU_ASSERT_EQUAL_FATAL(parse_str("{\"event\":\"ping\",\"secret_key\":\"k\",\"extra\":[1,2]}", &m), 0);
    CU_ASSERT_EQUAL(m.event, REGMSG_PING);
    CU_ASSERT_EQUAL(m.n_addresses, 0);
    regmsg_free(&m);

    /* A BAD or UNKNOWN message can still be freed (and freed twice). */
    CU_ASSERT_EQUAL_FATAL(parse_str("nope", &m), 0);
    CU_ASSERT_EQUAL(m.event, REGMSG_BAD);
    regmsg_free(&m);
    regmsg_free(&m);
}

static void test_addresses_forms(void)
{
    struct regmsg m;
    /* Object form: the values, in document order (keys are not sorted). */
    CU_ASSERT_EQUAL_FATAL(parse_str("{\"event\":\"broadcast_addresses\",\"addresses\":{\"5\":\"5.5.5.5:5\",\"1\":"
                                    "\"1.1.1.1:1\",\"x\":\"9.9.9.9:9\"}}",
                                    &m),
                          0);
    CU_ASSERT_EQUAL(m.addresses_ok, 1);
    CU_ASSERT_EQUAL_FATAL(m.n_addresses, 3);
    CU_ASSERT_STRING_EQUAL(m.addresses[0], "5.5.5.5:5");
    CU_ASSERT_STRING_EQUAL(m.addresses[1], "1.1.1.1:1");
    CU_ASSERT_STRING_EQUAL(m.addresses[2], "9.9.9.9:9");
    regmsg_free(&m);

    /* Empty object (PHP's json_encode of an empty array is [], but accept {}). */
    CU_ASSERT_EQUAL_FATAL(parse_str("{\"event\":\"broadcast_addresses\",\"addresses\":{}}", &m), 0);
    CU_ASSERT_EQUAL(m.addresses_ok, 1);
    CU_ASSERT_EQUAL(m.n_addresses, 0);
    regmsg_free(&m);

    /* Not a list or object: not ok. */
    static const char *notok[] = {
        "{\"event\":\"broadcast_addresses\"}",
        "{\"event\":\"broadcast_addresses\",\"addresses\":null}",
        "{\"event\":\"broadcast_addresses\",\"addresses\":\"1.1.1.1:1\"}",
        "{\"event\":\"broadcast_addresses\",\"addresses\":5}",
    };
    for (size_t i = 0; i < sizeof notok / sizeof notok[0]; i++) {
        CU_ASSERT_EQUAL_FATAL(parse_str(notok[i], &m), 0);
        CHECKF(m.event == REGMSG_BROADCAST_ADDRESSES && m.addresses_ok == 0 && m.n_addresses == 0, "%s", notok[i]);
        regmsg_free(&m);
    }

    /* Non-string entries: skipped, and not ok. */
    CU_ASSERT_EQUAL_FATAL(
        parse_str("{\"event\":\"broadcast_addresses\",\"addresses\":[\"1.1.1.1:1\",2,null,[\"x\"],\"3.3.3.3:3\"]}", &m),
        0);
    CU_ASSERT_EQUAL(m.addresses_ok, 0);
    CU_ASSERT_EQUAL_FATAL(m.n_addresses, 2);
    CU_ASSERT_STRING_EQUAL(m.addresses[0], "1.1.1.1:1");
    CU_ASSERT_STRING_EQUAL(m.addresses[1], "3.3.3.3:3");
    regmsg_free(&m);
    CU_ASSERT_EQUAL_FATAL(parse_str("{\"event\":\"broadcast_addresses\",\"addresses\":{\"0\":1,\"1\":\"1.1.1.1:1\"}}", &m),
                          0);
    CU_ASSERT_EQUAL(m.addresses_ok, 0);
    CU_ASSERT_EQUAL_FATAL(m.n_addresses, 1);
    CU_ASSERT_STRING_EQUAL(m.addresses[0], "1.1.1.1:1");
    regmsg_free(&m);

    /* Many addresses. */
    struct buf b = BUF_INIT;
    const char *list[300];
    char store[300][24];
    for (int i = 0; i < 300; i++) {
        snprintf(store[i], sizeof store[i], "10.%d.%d.1:%d", i / 256, i % 256, 1000 + i);
        list[i] = store[i];
    }
    CU_ASSERT_EQUAL(regmsg_build_broadcast(&b, list, 300), 0);
    CU_ASSERT_EQUAL_FATAL(regmsg_parse((const char *)buf_head(&b), buf_avail(&b) - 1, &m), 0);
    CU_ASSERT_EQUAL_FATAL(m.n_addresses, 300);
    int same = 1;
    for (int i = 0; i < 300; i++)
        same &= strcmp(m.addresses[i], store[i]) == 0;
    CU_ASSERT(same);
    regmsg_free(&m);
    buf_free(&b);
}

/* -------------------------------------------------------------- framing */

static int next(const char *s, size_t len, size_t max, size_t *ll, size_t *used)
{
    *ll = 12345;
    *used = 12345;
    return regmsg_next_line((const uint8_t *)s, len, max, ll, used);
}

static void test_next_line(void)
{
    size_t ll, used;
    /* LF only. */
    CU_ASSERT_EQUAL(next("abc\n", 4, 100, &ll, &used), REGMSG_OK);
    CU_ASSERT_EQUAL(ll, 3);
    CU_ASSERT_EQUAL(used, 4);
    /* CRLF. */
    CU_ASSERT_EQUAL(next("abc\r\n", 5, 100, &ll, &used), REGMSG_OK);
    CU_ASSERT_EQUAL(ll, 3);
    CU_ASSERT_EQUAL(used, 5);
    /* Several CRs before the LF: all stripped. */
    CU_ASSERT_EQUAL(next("abc\r\r\r\n", 7, 100, &ll, &used), REGMSG_OK);
    CU_ASSERT_EQUAL(ll, 3);
    CU_ASSERT_EQUAL(used, 7);
    /* A CR inside the line is kept. */
    CU_ASSERT_EQUAL(next("a\rb\r\n", 5, 100, &ll, &used), REGMSG_OK);
    CU_ASSERT_EQUAL(ll, 3);
    /* Only CR/LF: an empty line. */
    CU_ASSERT_EQUAL(next("\r\r\n", 3, 100, &ll, &used), REGMSG_OK);
    CU_ASSERT_EQUAL(ll, 0);
    CU_ASSERT_EQUAL(used, 3);
    CU_ASSERT_EQUAL(next("\n", 1, 100, &ll, &used), REGMSG_OK);
    CU_ASSERT_EQUAL(ll, 0);
    CU_ASSERT_EQUAL(used, 1);
    /* Trailing spaces are not CR/LF and stay. */
    CU_ASSERT_EQUAL(next("ab \n", 4, 100, &ll, &used), REGMSG_OK);
    CU_ASSERT_EQUAL(ll, 3);
    /* A message ends at the first LF: "x\n\n" is "x" then an empty line. */
    CU_ASSERT_EQUAL(next("x\n\n", 3, 100, &ll, &used), REGMSG_OK);
    CU_ASSERT_EQUAL(ll, 1);
    CU_ASSERT_EQUAL(used, 2);
    /* A NUL byte is just a byte. */
    CU_ASSERT_EQUAL(next("a\0b\n", 4, 100, &ll, &used), REGMSG_OK);
    CU_ASSERT_EQUAL(ll, 3);
    CU_ASSERT_EQUAL(used, 4);
}

static void test_next_line_many(void)
{
    const char *buf = "{\"event\":\"ping\"}\r\n{\"event\":\"worker_connect\",\"secret_key\":\"k\"}\n\r\n"
                      "{\"event\":\"ping\"}\r\r\n{\"event\":\"pi";
    size_t n = strlen(buf), off = 0, ll, used;
    struct {
        size_t len;
        enum regmsg_event ev;
    } want[] = {{16, REGMSG_PING}, {43, REGMSG_WORKER_CONNECT}, {0, REGMSG_BAD}, {16, REGMSG_PING}};
    for (size_t i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL_FATAL(next(buf + off, n - off, 100, &ll, &used), REGMSG_OK);
        CHECKF(ll == want[i].len, "line %zu: len %zu, want %zu", i, ll, want[i].len);
        CHECKF(event_str(buf + off, ll) == want[i].ev, "line %zu: event", i);
        off += used;
    }
    /* The rest has no LF yet. */
    CU_ASSERT_EQUAL(next(buf + off, n - off, 100, &ll, &used), REGMSG_NEED_MORE);
    CU_ASSERT_EQUAL(n - off, 12);
    CU_ASSERT_EQUAL(used, 12345); /* untouched */
}

static void test_next_line_limits(void)
{
    size_t ll, used;
    /* Nothing buffered, or no LF: need more. */
    CU_ASSERT_EQUAL(next("", 0, 10, &ll, &used), REGMSG_NEED_MORE);
    CU_ASSERT_EQUAL(next("abc", 3, 10, &ll, &used), REGMSG_NEED_MORE);
    CU_ASSERT_EQUAL(next("abc\r", 4, 10, &ll, &used), REGMSG_NEED_MORE);

    char big[64];
    memset(big, 'x', sizeof big);
    /* max 10: 9 bytes without LF still may complete; 10 do not. */
    CU_ASSERT_EQUAL(next(big, 9, 10, &ll, &used), REGMSG_NEED_MORE);
    CU_ASSERT_EQUAL(next(big, 10, 10, &ll, &used), REGMSG_ERROR);
    CU_ASSERT_EQUAL(next(big, 64, 10, &ll, &used), REGMSG_ERROR);
    /* Exactly max bytes including the LF: accepted. */
    big[9] = '\n';
    CU_ASSERT_EQUAL(next(big, 10, 10, &ll, &used), REGMSG_OK);
    CU_ASSERT_EQUAL(ll, 9);
    CU_ASSERT_EQUAL(used, 10);
    CU_ASSERT_EQUAL(next(big, 64, 10, &ll, &used), REGMSG_OK);
    CU_ASSERT_EQUAL(used, 10);
    /* The LF one byte past max: error, even though it is in the buffer. */
    big[9] = 'x';
    big[10] = '\n';
    CU_ASSERT_EQUAL(next(big, 11, 10, &ll, &used), REGMSG_ERROR);
    CU_ASSERT_EQUAL(next(big, 64, 10, &ll, &used), REGMSG_ERROR);
    /* The scan never reads past len (ASan would see it): LF just beyond. */
    char *heap = malloc(5);
    memcpy(heap, "abcd\n", 5);
    CU_ASSERT_EQUAL(regmsg_next_line((const uint8_t *)heap, 4, 100, &ll, &used), REGMSG_NEED_MORE);
    CU_ASSERT_EQUAL(regmsg_next_line((const uint8_t *)heap, 5, 100, &ll, &used), REGMSG_OK);
    free(heap);

    /* The default limit. */
    size_t n = REGMSG_DEFAULT_MAX_LINE;
    uint8_t *p = malloc(n + 1);
    memset(p, 'y', n + 1);
    CU_ASSERT_EQUAL(regmsg_next_line(p, n - 1, n, &ll, &used), REGMSG_NEED_MORE);
    CU_ASSERT_EQUAL(regmsg_next_line(p, n, n, &ll, &used), REGMSG_ERROR);
    p[n - 1] = '\n';
    CU_ASSERT_EQUAL(regmsg_next_line(p, n, n, &ll, &used), REGMSG_OK);
    CU_ASSERT_EQUAL(ll, n - 1);
    CU_ASSERT_EQUAL(used, n);
    p[n - 1] = 'y';
    p[n] = '\n';
    CU_ASSERT_EQUAL(regmsg_next_line(p, n + 1, n, &ll, &used), REGMSG_ERROR);
    free(p);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("regmsg_vectors", load_live, free_live);
    CU_add_test(s, "register-line fixtures", test_fixture_lines);
    CU_add_test(s, "live register-line fixtures", test_live_lines);
    CU_add_test(s, "live register timeline", test_live_timeline);
    CU_add_test(s, "fixture values spelled out", test_fixture_values);
    s = CU_add_suite("regmsg_build", NULL, NULL);
    CU_add_test(s, "byte-identical lines", test_build_bytes);
    CU_add_test(s, "JSON-equal lines", test_build_json_equal);
    CU_add_test(s, "bad request reply", test_bad_request_reply);
    CU_add_test(s, "build/parse round trip with escapes", test_round_trip);
    s = CU_add_suite("regmsg_parse", NULL, NULL);
    CU_add_test(s, "PHP empty() on event", test_php_empty_event);
    CU_add_test(s, "non-objects and garbage", test_non_object);
    CU_add_test(s, "invalid UTF-8", test_invalid_utf8);
    CU_add_test(s, "NUL bytes", test_nul);
    CU_add_test(s, "fields, escapes and defaults", test_fields);
    CU_add_test(s, "addresses: list and object", test_addresses_forms);
    s = CU_add_suite("regmsg_framing", NULL, NULL);
    CU_add_test(s, "line endings", test_next_line);
    CU_add_test(s, "several lines in one buffer", test_next_line_many);
    CU_add_test(s, "NEED_MORE and ERROR at the limit", test_next_line_limits);
    return tu_run("test_regmsg");
}
