/* GatewayProtocol codec against the golden vectors (index.json, live/index.json)
 * and against hostile input: truncation, bad lengths, random bytes, and
 * arbitrary read boundaries through a struct buf. */
#include "buf.h"
#include "gwp.h"
#include "tu.h"

#include <CUnit/CUnit.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

/* Deterministic xorshift64*: the same "random" inputs on every run. */
static uint64_t rng_state;
static void rng_seed(uint64_t s) { rng_state = s ? s : 0x9e3779b97f4a7c15ull; }
static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}
static size_t rng_range(size_t lo, size_t hi) { return lo + (size_t)(rng_next() % (hi - lo + 1)); }

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void fmt_ip(uint32_t ip, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", ip >> 24, ip >> 16 & 0xff, ip >> 8 & 0xff, ip & 0xff);
}

static int parse_ip(const char *s, uint32_t *ip)
{
    unsigned a, b, c, d;
    char extra;
    if (sscanf(s, "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) != 4 || a > 255 || b > 255 || c > 255 || d > 255)
        return -1;
    *ip = a << 24 | b << 16 | c << 8 | d;
    return 0;
}

/* Exact-size heap copy, so ASan flags any read past `len`. NULL for len 0. */
static uint8_t *exact_copy(const uint8_t *p, size_t len)
{
    if (len == 0)
        return NULL;
    uint8_t *q = malloc(len);
    memcpy(q, p, len);
    return q;
}

static json_t *load_json_fixture(const char *file)
{
    char *path = tu_fixture_path(file);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j)
        fprintf(stderr, "cannot load %s: %s\n", path, jerr.text);
    free(path);
    return j;
}

/* index.json (borrowed; tu parses it with JSON_ALLOW_NUL for serialize-binary_string). */
static json_t *vectors(void) { return tu_fixture_index(); }

static const char *case_name(json_t *c) { return json_string_value(json_object_get(c, "name")); }
static const char *case_kind(json_t *c) { return json_string_value(json_object_get(c, "kind")); }

static uint8_t *json_bytes(json_t *v, size_t *len)
{
    *len = json_string_length(v);
    uint8_t *p = malloc(*len + 1);
    memcpy(p, json_string_value(v), *len);
    return p;
}

/* on_message_70k's body is described by a PHP expression rather than given;
 * rebuild it (i counts from 0; checked against the file, and its sha256). */
static uint8_t *gen_pattern_body(size_t n)
{
    uint8_t *p = malloc(n + 128);
    size_t off = 0;
    for (unsigned i = 0; off < n; i++) {
        char pad[41];
        memset(pad, 'a' + (int)(i % 26), 40);
        pad[40] = 0;
        off += (size_t)snprintf((char *)p + off, n + 128 - off, "{\"seq\":%05u,\"pad\":\"%s\"}", i, pad);
    }
    return p;
}

/* The ext_data bytes a vector expects, malloc'd; NULL if it gives none. */
static uint8_t *expected_ext(json_t *fields, size_t *len)
{
    json_t *v;
    if ((v = json_object_get(fields, "ext_data_hex")))
        return tu_hex_decode(json_string_value(v), len);
    if ((v = json_object_get(fields, "ext_data")))
        return json_bytes(v, len);
    return NULL;
}

/* The body bytes a vector expects, malloc'd; NULL if it gives them only as
 * a PHP value (live ON_WEBSOCKET_CONNECT). kase may be NULL. */
static uint8_t *expected_body(json_t *kase, json_t *fields, size_t *len)
{
    json_t *v;
    if ((v = json_object_get(fields, "body_hex")))
        return tu_hex_decode(json_string_value(v), len);
    if ((v = json_object_get(fields, "body")) && json_is_string(v))
        return json_bytes(v, len);
    if ((v = json_object_get(fields, "body_serialized")))
        return json_bytes(v, len);
    if (json_object_get(fields, "body_sha256") && kase) {
        const char *pat = json_string_value(json_object_get(kase, "body_pattern"));
        if (pat && strncmp(pat, "sprintf('{\"seq\":%05d,\"pad\":\"%s\"}', i, 40 x chr(97 + i % 26))", 56) == 0) {
            *len = (size_t)json_integer_value(json_object_get(fields, "body_len"));
            return gen_pattern_body(*len);
        }
    }
    return NULL;
}

/* Header as the vector states it (IPs from *_int, else from the dotted form). */
static void header_from_fields(json_t *fields, struct gwp_header *h)
{
    memset(h, 0, sizeof *h);
    h->cmd = (uint8_t)json_integer_value(json_object_get(fields, "cmd"));
    json_t *v;
    if ((v = json_object_get(fields, "local_ip_int")))
        h->local_ip = (uint32_t)json_integer_value(v);
    else
        parse_ip(json_string_value(json_object_get(fields, "local_ip")), &h->local_ip);
    if ((v = json_object_get(fields, "client_ip_int")))
        h->client_ip = (uint32_t)json_integer_value(v);
    else
        parse_ip(json_string_value(json_object_get(fields, "client_ip")), &h->client_ip);
    h->local_port = (uint16_t)json_integer_value(json_object_get(fields, "local_port"));
    h->client_port = (uint16_t)json_integer_value(json_object_get(fields, "client_port"));
    h->connection_id = (uint32_t)json_integer_value(json_object_get(fields, "connection_id"));
    h->flag = (uint8_t)json_integer_value(json_object_get(fields, "flag"));
    h->gateway_port = (uint16_t)json_integer_value(json_object_get(fields, "gateway_port"));
}

/* Compares every field the vector states with the decoded frame. Returns how
 * many were compared, so callers can insist that a vector was not skipped. */
static int check_fields(json_t *kase, json_t *fields, const struct gwp_frame *f, const char *ctx)
{
    int n = 0;
    const struct {
        const char *key;
        uint64_t got;
    } ints[] = {
        {"pack_len", f->hdr.pack_len},           {"cmd", f->hdr.cmd},
        {"local_ip_int", f->hdr.local_ip},       {"local_port", f->hdr.local_port},
        {"client_ip_int", f->hdr.client_ip},     {"client_port", f->hdr.client_port},
        {"connection_id", f->hdr.connection_id}, {"flag", f->hdr.flag},
        {"gateway_port", f->hdr.gateway_port},   {"ext_len", f->hdr.ext_len},
        {"body_len", f->body_len},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        json_t *v = json_object_get(fields, ints[i].key);
        if (!v)
            continue;
        CHECKF(json_is_integer(v) && (uint64_t)json_integer_value(v) == ints[i].got, "%s: %s is %" PRIu64 ", vector says %" JSON_INTEGER_FORMAT,
               ctx, ints[i].key, ints[i].got, json_integer_value(v));
        n++;
    }
    CHECKF(f->ext_len == f->hdr.ext_len, "%s: frame ext_len %zu vs header %" PRIu32, ctx, f->ext_len, f->hdr.ext_len);
    CHECKF(GWP_HEADER_LEN + f->ext_len + f->body_len == f->hdr.pack_len, "%s: lengths do not add up", ctx);

    const struct {
        const char *key;
        uint32_t got;
    } ips[] = {{"local_ip", f->hdr.local_ip}, {"client_ip", f->hdr.client_ip}};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(fields, ips[i].key);
        if (!v)
            continue;
        char dotted[16];
        fmt_ip(ips[i].got, dotted);
        CHECKF(strcmp(dotted, json_string_value(v)) == 0, "%s: %s %s vs %s", ctx, ips[i].key, dotted, json_string_value(v));
        n++;
    }

    json_t *v;
    if ((v = json_object_get(fields, "cmd_name"))) {
        const char *name = gwp_cmd_name(f->hdr.cmd);
        CHECKF(name && strcmp(name, json_string_value(v)) == 0, "%s: cmd_name %s vs %s", ctx, name ? name : "(null)",
               json_string_value(v));
        n++;
    }
    if ((v = json_object_get(fields, "body_is_serialized"))) {
        CHECKF(json_is_true(v) == !(f->hdr.flag & GWP_FLAG_BODY_IS_SCALAR), "%s: body_is_serialized vs flag %u", ctx,
               f->hdr.flag);
        n++;
    }

    size_t elen;
    uint8_t *ext = expected_ext(fields, &elen);
    if (ext) {
        CHECKF(elen == f->ext_len && memcmp(ext, f->ext, elen) == 0, "%s: ext_data differs (%zu vs %zu bytes)", ctx, elen,
               f->ext_len);
        n++;
        free(ext);
    }

    size_t blen;
    uint8_t *body = expected_body(kase, fields, &blen);
    if (body) {
        CHECKF(blen == f->body_len && memcmp(body, f->body, blen) == 0, "%s: body differs (%zu vs %zu bytes)", ctx, blen,
               f->body_len);
        n++;
        free(body);
    } else if ((v = json_object_get(fields, "body_php")) && json_is_object(v)) {
        /* Only a plain JSON view of the unserialized array: check that the
         * body is a serialized array carrying each top-level key. */
        CHECKF(!(f->hdr.flag & GWP_FLAG_BODY_IS_SCALAR) && f->body_len > 2 && f->body[0] == 'a' && f->body[1] == ':',
               "%s: body is not a serialized array", ctx);
        const char *key;
        json_t *val;
        json_object_foreach(v, key, val)
        {
            char needle[128];
            snprintf(needle, sizeof needle, "s:%zu:\"%s\";", strlen(key), key);
            CHECKF(memmem(f->body, f->body_len, needle, strlen(needle)) != NULL, "%s: body lacks key %s", ctx, key);
        }
        n++;
    } else {
        CHECKF(0, "%s: vector gives no body this test understands", ctx);
    }
    return n;
}

/* Re-encodes a decoded frame and, when the vector states everything, the
 * frame built from the vector alone; both must equal the original bytes. */
static void check_reencode(json_t *kase, json_t *fields, const struct gwp_frame *f, const uint8_t *orig, size_t len,
                           const char *ctx)
{
    struct buf b = BUF_INIT;
    CHECKF(gwp_encode(&b, &f->hdr, f->ext, f->ext_len, f->body, f->body_len) == 0, "%s: encode failed", ctx);
    CHECKF(buf_avail(&b) == len && memcmp(buf_head(&b), orig, len) == 0, "%s: re-encoded frame differs", ctx);
    buf_free(&b);

    size_t elen, blen;
    uint8_t *ext = expected_ext(fields, &elen);
    uint8_t *body = expected_body(kase, fields, &blen);
    if (ext && body) {
        struct gwp_header h;
        header_from_fields(fields, &h);
        CHECKF(gwp_encode(&b, &h, ext, elen, body, blen) == 0, "%s: encode from vector failed", ctx);
        CHECKF(buf_avail(&b) == len && memcmp(buf_head(&b), orig, len) == 0, "%s: frame built from the vector differs",
               ctx);
        buf_free(&b);
    }
    free(ext);
    free(body);
}

/* Frame lengths found by decoding `data` in one go; -1 on error/leftover. */
static long frame_lengths(const uint8_t *data, size_t len, size_t *lens, size_t cap)
{
    size_t pos = 0, n = 0;
    while (pos < len) {
        struct gwp_frame f;
        size_t used;
        if (gwp_decode(data + pos, len - pos, GWP_DEFAULT_MAX_PACK_LEN, &f, &used, NULL, 0) != GWP_OK || n == cap)
            return -1;
        lens[n++] = used;
        pos += used;
    }
    return (long)n;
}

/* Feeds `data` through a struct buf in chunks from next_chunk() and decodes
 * as a connection would. Checks that every frame comes out whole and in
 * order, and that NEED_MORE is returned exactly while a frame is incomplete.
 * Returns the number of frames, or -1 after reporting a failure. */
static long feed(const uint8_t *data, size_t len, size_t (*next_chunk)(void), const char *ctx)
{
    size_t lens[4096];
    long nref = frame_lengths(data, len, lens, 4096);
    CHECKF(nref >= 0, "%s: reference decode failed", ctx);
    if (nref < 0)
        return -1;

    struct buf in = BUF_INIT, re = BUF_INIT;
    size_t pos = 0, fed = 0;
    long n = 0;
    const char *bad = NULL;
    while (fed < len && !bad) {
        size_t c = next_chunk();
        if (c > len - fed)
            c = len - fed;
        if (buf_append(&in, data + fed, c) != 0) {
            bad = "buf_append failed";
            break;
        }
        fed += c;
        for (;;) {
            if (buf_avail(&in) == 0)
                break;
            struct gwp_frame f;
            size_t used = 0;
            char err[128];
            int r = gwp_decode(buf_head(&in), buf_avail(&in), GWP_DEFAULT_MAX_PACK_LEN, &f, &used, err, sizeof err);
            if (r == GWP_NEED_MORE) {
                if (n < nref && buf_avail(&in) >= lens[n])
                    bad = "NEED_MORE although the frame is complete";
                break;
            }
            if (r != GWP_OK) {
                bad = "ERROR on a valid stream";
                break;
            }
            if (n >= nref || used != lens[n] || memcmp(buf_head(&in), data + pos, used) != 0 ||
                f.ext != buf_head(&in) + GWP_HEADER_LEN || f.body != f.ext + f.ext_len) {
                bad = "frame boundary or pointers wrong";
                break;
            }
            buf_reset(&re);
            if (gwp_encode(&re, &f.hdr, f.ext, f.ext_len, f.body, f.body_len) != 0 || buf_avail(&re) != used ||
                memcmp(buf_head(&re), data + pos, used) != 0) {
                bad = "re-encoded frame differs";
                break;
            }
            pos += used;
            n++;
            buf_consume(&in, used);
        }
    }
    CHECKF(!bad, "%s: %s (frame %ld, at byte %zu)", ctx, bad ? bad : "", n, pos);
    CHECKF(bad || (n == nref && pos == len && buf_avail(&in) == 0), "%s: %ld of %ld frames, %zu of %zu bytes", ctx, n,
           nref, pos, len);
    buf_free(&in);
    buf_free(&re);
    return bad ? -1 : n;
}

static size_t chunk_one(void) { return 1; }
static size_t chunk_small(void) { return rng_range(1, 17); }
static size_t chunk_medium(void) { return rng_range(1, 600); }
static size_t chunk_large(void) { return rng_range(1, 20000); }
static size_t chunk_all(void) { return SIZE_MAX; }

/* Every frame and stream file, concatenated in index order. */
static uint8_t *all_frame_bytes(size_t *len, long *nframes)
{
    struct buf all = BUF_INIT;
    long n = 0;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(vectors(), "cases"), i, c)
    {
        const char *kind = case_kind(c);
        if (strcmp(kind, "frame") != 0 && strcmp(kind, "stream") != 0)
            continue;
        size_t flen;
        uint8_t *bytes = tu_read_hex_fixture(json_string_value(json_object_get(c, "file")), &flen);
        if (!bytes)
            continue;
        buf_append(&all, bytes, flen);
        free(bytes);
        n += strcmp(kind, "frame") == 0 ? 1 : (long)json_array_size(json_object_get(c, "frames"));
    }
    *nframes = n;
    *len = buf_avail(&all);
    uint8_t *out = exact_copy(buf_head(&all), *len);
    buf_free(&all);
    return out;
}

/* ------------------------------------------------------------ vectors */

static void test_cmd_names(void)
{
    static const unsigned used[] = {1,  3,  4,  5,  6,  7,  8,  9,  10,  11,  12,  13,  14,  15, 16,
                                    20, 21, 22, 23, 24, 25, 26, 27, 28, 200, 201, 202, 203, 204, 205};
    int known = 0;
    for (unsigned cmd = 0; cmd < 300; cmd++) {
        int in_spec = 0;
        for (size_t i = 0; i < sizeof used / sizeof used[0]; i++)
            in_spec |= used[i] == cmd;
        const char *name = gwp_cmd_name(cmd);
        CHECKF(in_spec == (name != NULL), "cmd %u: name %s", cmd, name ? name : "(null)");
        CHECKF(!name || strncmp(name, "CMD_", 4) == 0, "cmd %u: name %s", cmd, name);
        known += name != NULL;
    }
    CU_ASSERT_EQUAL(known, 30);
    CU_ASSERT_STRING_EQUAL(gwp_cmd_name(GWP_CMD_ON_CONNECT), "CMD_ON_CONNECT");
    CU_ASSERT_STRING_EQUAL(gwp_cmd_name(GWP_CMD_ON_WEBSOCKET_CONNECT), "CMD_ON_WEBSOCKET_CONNECT");
    CU_ASSERT_PTR_NULL(gwp_cmd_name(0));
    CU_ASSERT_PTR_NULL(gwp_cmd_name(2));
    CU_ASSERT_PTR_NULL(gwp_cmd_name(255));
    CU_ASSERT_EQUAL(GWP_FLAG_BODY_IS_SCALAR, 0x01);
    CU_ASSERT_EQUAL(GWP_FLAG_NOT_CALL_ENCODE, 0x02);
    CU_ASSERT_EQUAL(GWP_DEFAULT_MAX_PACK_LEN, 10485760u);

    /* The reply vectors cover every query; the set must match exactly. */
    int has_vector[256] = {0};
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(vectors(), "cases"), i, c)
    {
        if (strcmp(case_kind(c), "reply") != 0)
            continue;
        json_int_t cmd = json_integer_value(json_object_get(c, "for_cmd"));
        has_vector[cmd & 0xff] = 1;
        const char *name = gwp_cmd_name((unsigned)cmd);
        CHECKF(name && strcmp(name, json_string_value(json_object_get(c, "for_cmd_name"))) == 0, "%s: for_cmd_name",
               case_name(c));
    }
    for (unsigned cmd = 0; cmd < 256; cmd++)
        CHECKF(gwp_cmd_has_reply(cmd) == has_vector[cmd], "cmd %u: has_reply %d", cmd, gwp_cmd_has_reply(cmd));
}

static void test_frames(void)
{
    json_t *idx = vectors();
    CU_ASSERT_PTR_NOT_NULL_FATAL(idx);
    int count = 0;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(idx, "cases"), i, c)
    {
        if (strcmp(case_kind(c), "frame") != 0)
            continue;
        const char *name = case_name(c);
        size_t len;
        uint8_t *data = tu_read_hex_fixture(json_string_value(json_object_get(c, "file")), &len);
        CHECKF(data != NULL, "%s: cannot read", name);
        if (!data)
            continue;
        uint8_t *exact = exact_copy(data, len);
        struct gwp_frame f;
        size_t used = 0;
        char err[128] = "";
        int r = gwp_decode(exact, len, GWP_DEFAULT_MAX_PACK_LEN, &f, &used, err, sizeof err);
        CHECKF(r == GWP_OK && used == len, "%s: decode %d used %zu of %zu: %s", name, r, used, len, err);
        if (r == GWP_OK) {
            json_t *fields = json_object_get(c, "fields");
            int n = check_fields(c, fields, &f, name);
            CHECKF(n == (int)json_object_size(fields) - (json_object_get(fields, "ext_data_json") != NULL) -
                            (json_object_get(fields, "ext_data_php") != NULL) -
                            (json_object_get(fields, "body_php") != NULL),
                   "%s: only %d fields compared", name, n);
            check_reencode(c, fields, &f, exact, len, name);
        }
        free(exact);
        free(data);
        count++;
    }
    CU_ASSERT_EQUAL(count, 44);
}

static void test_streams(void)
{
    int count = 0;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(vectors(), "cases"), i, c)
    {
        if (strcmp(case_kind(c), "stream") != 0)
            continue;
        const char *name = case_name(c);
        size_t len;
        uint8_t *data = tu_read_hex_fixture(json_string_value(json_object_get(c, "file")), &len);
        CHECKF(data != NULL, "%s: cannot read", name);
        if (!data)
            continue;
        uint8_t *exact = exact_copy(data, len);
        json_t *frames = json_object_get(c, "frames");
        CHECKF(json_integer_value(json_object_get(c, "frame_count")) == (json_int_t)json_array_size(frames),
               "%s: frame_count", name);
        struct buf re = BUF_INIT, fromvec = BUF_INIT;
        size_t pos = 0, k;
        json_t *fields;
        json_array_foreach(frames, k, fields)
        {
            char ctx[160];
            snprintf(ctx, sizeof ctx, "%s frame %zu", name, k);
            struct gwp_frame f;
            size_t used = 0;
            int r = gwp_decode(exact + pos, len - pos, GWP_DEFAULT_MAX_PACK_LEN, &f, &used, NULL, 0);
            CHECKF(r == GWP_OK, "%s: decode %d", ctx, r);
            if (r != GWP_OK)
                break;
            check_fields(c, fields, &f, ctx);
            CU_ASSERT_EQUAL(gwp_encode(&re, &f.hdr, f.ext, f.ext_len, f.body, f.body_len), 0);
            struct gwp_header h;
            size_t elen, blen;
            uint8_t *ext = expected_ext(fields, &elen), *body = expected_body(c, fields, &blen);
            header_from_fields(fields, &h);
            CHECKF(ext && body && gwp_encode(&fromvec, &h, ext, elen, body, blen) == 0, "%s: encode from vector", ctx);
            free(ext);
            free(body);
            pos += used;
        }
        CHECKF(pos == len, "%s: %zu of %zu bytes decoded", name, pos, len);
        CHECKF(buf_avail(&re) == len && memcmp(buf_head(&re), data, len) == 0, "%s: re-encoded stream differs", name);
        CHECKF(buf_avail(&fromvec) == len && memcmp(buf_head(&fromvec), data, len) == 0,
               "%s: stream built from the vector differs", name);
        buf_free(&re);
        buf_free(&fromvec);
        free(exact);
        free(data);
        count++;
    }
    CU_ASSERT_EQUAL(count, 35);
}

static void test_replies(void)
{
    int count = 0;
    struct buf all = BUF_INIT;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(vectors(), "cases"), i, c)
    {
        if (strcmp(case_kind(c), "reply") != 0)
            continue;
        const char *name = case_name(c);
        size_t len;
        uint8_t *data = tu_read_hex_fixture(json_string_value(json_object_get(c, "file")), &len);
        CHECKF(data != NULL, "%s: cannot read", name);
        if (!data)
            continue;
        uint8_t *exact = exact_copy(data, len);
        const uint8_t *payload = NULL;
        size_t plen = 0, used = 0;
        int r = gwp_reply_decode(exact, len, GWP_DEFAULT_MAX_PACK_LEN, &payload, &plen, &used, NULL, 0);
        json_t *want = json_object_get(c, "payload");
        CHECKF(r == GWP_OK && used == len, "%s: decode %d used %zu of %zu", name, r, used, len);
        CHECKF(r == GWP_OK && payload == exact + 4 && plen == json_string_length(want) &&
                   memcmp(payload, json_string_value(want), plen) == 0,
               "%s: payload differs", name);
        CHECKF((json_int_t)plen == json_integer_value(json_object_get(c, "length_prefix")), "%s: length_prefix", name);

        struct buf re = BUF_INIT;
        CU_ASSERT_EQUAL(gwp_reply_encode(&re, json_string_value(want), json_string_length(want)), 0);
        CHECKF(buf_avail(&re) == len && memcmp(buf_head(&re), data, len) == 0, "%s: re-encoded reply differs", name);
        buf_free(&re);

        /* Every proper prefix is incomplete, never an error. */
        int badprefix = -1;
        for (size_t k = 0; k < len && badprefix < 0; k++) {
            uint8_t *p = exact_copy(data, k);
            if (gwp_reply_decode(p, k, GWP_DEFAULT_MAX_PACK_LEN, &payload, &plen, &used, NULL, 0) != GWP_NEED_MORE)
                badprefix = (int)k;
            free(p);
        }
        CHECKF(badprefix < 0, "%s: prefix of %d bytes not NEED_MORE", name, badprefix);

        buf_append(&all, data, len);
        free(exact);
        free(data);
        count++;
    }
    CU_ASSERT_EQUAL(count, 32);

    /* Back to back, as several answers would arrive on one link, fed one
     * byte at a time through a buf. */
    struct buf in = BUF_INIT;
    size_t total = buf_avail(&all), got = 0, n = 0;
    int bad = 0;
    for (size_t k = 0; k < total && !bad; k++) {
        buf_append(&in, buf_head(&all) + k, 1);
        while (buf_avail(&in) > 0) {
            const uint8_t *payload;
            size_t plen, used;
            int r = gwp_reply_decode(buf_head(&in), buf_avail(&in), GWP_DEFAULT_MAX_PACK_LEN, &payload, &plen, &used,
                                     NULL, 0);
            if (r == GWP_NEED_MORE)
                break;
            if (r != GWP_OK || used != plen + 4 || memcmp(buf_head(&in), buf_head(&all) + got, used) != 0) {
                bad = 1;
                break;
            }
            got += used;
            n++;
            buf_consume(&in, used);
        }
    }
    CHECKF(!bad && got == total && n == 32, "reply stream: %zu replies, %zu of %zu bytes", n, got, total);
    buf_free(&in);
    buf_free(&all);
}

static void test_live(void)
{
    json_t *live = load_json_fixture("live/index.json");
    CU_ASSERT_PTR_NOT_NULL_FATAL(live);
    int frames = 0, streams = 0, replies = 0, behaviours = 0;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(live, "cases"), i, c)
    {
        const char *kind = case_kind(c), *name = case_name(c);
        if (!kind || !name)
            continue;
        const char *file = json_string_value(json_object_get(c, "file"));
        char path[256];
        size_t len = 0;
        uint8_t *data = NULL;
        if (file && strstr(file, ".hex")) {
            snprintf(path, sizeof path, "live/%s", file);
            data = tu_read_hex_fixture(path, &len);
        }

        if (strcmp(kind, "frame") == 0) {
            CHECKF(data != NULL, "%s: cannot read", name);
            struct gwp_frame f;
            size_t used = 0;
            int r = data ? gwp_decode(data, len, GWP_DEFAULT_MAX_PACK_LEN, &f, &used, NULL, 0) : GWP_ERROR;
            CHECKF(r == GWP_OK && used == len, "%s: decode %d used %zu of %zu", name, r, used, len);
            if (r == GWP_OK) {
                json_t *fields = json_object_get(c, "fields");
                CHECKF(check_fields(NULL, fields, &f, name) >= 10, "%s: too few fields compared", name);
                check_reencode(NULL, fields, &f, data, len, name);
            }
            frames++;
        } else if (strcmp(kind, "stream") == 0) {
            CHECKF(data != NULL, "%s: cannot read", name);
            size_t lens[16];
            long n = data ? frame_lengths(data, len, lens, 16) : -1;
            /* Described as the auth frame, then the command. */
            CHECKF(n == 2 && data[4] == GWP_CMD_GATEWAY_CLIENT_CONNECT, "%s: %ld frames", name, n);
            CHECKF(n > 0 && feed(data, len, chunk_one, name) == n, "%s: byte-wise feed", name);
            streams++;
        } else if (strcmp(kind, "reply") == 0) {
            CHECKF(data != NULL, "%s: cannot read", name);
            const uint8_t *payload = NULL;
            size_t plen = 0, used = 0;
            int r = data ? gwp_reply_decode(data, len, GWP_DEFAULT_MAX_PACK_LEN, &payload, &plen, &used, NULL, 0)
                         : GWP_ERROR;
            json_t *want = json_object_get(c, "payload");
            CHECKF(r == GWP_OK && used == len && plen == json_string_length(want) &&
                       memcmp(payload, json_string_value(want), plen) == 0,
                   "%s: reply decode %d", name, r);
            replies++;
        } else if (strcmp(kind, "behaviour") == 0) {
            /* Frames quoted inline: the request that was refused and the
             * frames seen afterwards must all be well-formed. */
            json_t *req = json_object_get(c, "request_hex");
            json_t *after = json_object_get(json_object_get(c, "observed"), "frames_after");
            json_t *list = json_array();
            if (req)
                json_array_append(list, req);
            if (after)
                json_array_extend(list, after);
            size_t k;
            json_t *hex;
            json_array_foreach(list, k, hex)
            {
                size_t hlen, used = 0;
                uint8_t *bytes = tu_hex_decode(json_string_value(hex), &hlen);
                struct gwp_frame f;
                int r = bytes ? gwp_decode(bytes, hlen, GWP_DEFAULT_MAX_PACK_LEN, &f, &used, NULL, 0) : GWP_ERROR;
                CHECKF(r == GWP_OK && used == hlen && gwp_cmd_name(f.hdr.cmd) != NULL, "%s: inline frame %zu", name, k);
                free(bytes);
                behaviours++;
            }
            json_decref(list);
        }
        free(data);
    }
    CU_ASSERT(frames >= 7);
    CU_ASSERT(streams >= 6);
    CU_ASSERT(replies >= 6);
    CU_ASSERT(behaviours >= 2);
    json_decref(live);
}

/* ------------------------------------------------------------- streams */

/* Every stream and frame, fed 1 byte at a time and in random chunk sizes. */
static void test_feed_each(void)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(vectors(), "cases"), i, c)
    {
        const char *kind = case_kind(c), *name = case_name(c);
        if (strcmp(kind, "frame") != 0 && strcmp(kind, "stream") != 0)
            continue;
        size_t len;
        uint8_t *data = tu_read_hex_fixture(json_string_value(json_object_get(c, "file")), &len);
        if (!data)
            continue;
        long want = strcmp(kind, "frame") == 0 ? 1 : (long)json_array_size(json_object_get(c, "frames"));
        CHECKF(feed(data, len, chunk_one, name) == want, "%s: 1-byte reads", name);
        for (uint64_t seed = 1; seed <= 4; seed++) {
            rng_seed(seed * 7919 + i);
            CHECKF(feed(data, len, chunk_small, name) == want, "%s: small chunks, seed %" PRIu64, name, seed);
            CHECKF(feed(data, len, chunk_medium, name) == want, "%s: medium chunks, seed %" PRIu64, name, seed);
        }
        rng_seed(99 + i);
        CHECKF(feed(data, len, chunk_large, name) == want, "%s: large chunks", name);
        CHECKF(feed(data, len, chunk_all, name) == want, "%s: one read", name);
        free(data);
    }
}

/* All 114 frames (including the 70 KiB one) on one connection: in a single
 * read, byte by byte, and in random chunks. */
static void test_feed_concatenated(void)
{
    size_t len;
    long want;
    uint8_t *all = all_frame_bytes(&len, &want);
    CU_ASSERT_PTR_NOT_NULL_FATAL(all);
    json_t *declared = json_object_get(vectors(), "frames_checked_with_real_decode");
    CHECKF(!declared || json_integer_value(declared) == want, "index declares %" JSON_INTEGER_FORMAT " frames, cases hold %ld",
           json_integer_value(declared), want);
    CHECKF(feed(all, len, chunk_all, "all") == want, "all frames in one read");
    CHECKF(feed(all, len, chunk_one, "all") == want, "all frames, 1-byte reads");
    for (uint64_t seed = 1; seed <= 8; seed++) {
        rng_seed(seed);
        CHECKF(feed(all, len, chunk_small, "all") == want, "all frames, small chunks seed %" PRIu64, seed);
        CHECKF(feed(all, len, chunk_medium, "all") == want, "all frames, medium chunks seed %" PRIu64, seed);
        CHECKF(feed(all, len, chunk_large, "all") == want, "all frames, large chunks seed %" PRIu64, seed);
    }
    free(all);
}

/* The big frame arriving in exactly two reads, cut at many places. */
static void test_feed_big_split(void)
{
    size_t len;
    uint8_t *data = tu_read_hex_fixture("on_message_70k.hex", &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(data);
    int bad = -1;
    for (size_t cut = 0; cut <= len && bad < 0; cut++) {
        /* Every cut through the header region and the tail, a stride between
         * (each try copies the whole 70 KiB). */
        if (cut > 600 && cut < len - 64 && cut % 61)
            continue;
        struct buf in = BUF_INIT;
        struct gwp_frame f;
        size_t used = 0;
        buf_append(&in, data, cut);
        int r1 = buf_avail(&in) ? gwp_decode(buf_head(&in), buf_avail(&in), GWP_DEFAULT_MAX_PACK_LEN, &f, &used, NULL, 0)
                                : GWP_NEED_MORE;
        buf_append(&in, data + cut, len - cut);
        int r2 = gwp_decode(buf_head(&in), buf_avail(&in), GWP_DEFAULT_MAX_PACK_LEN, &f, &used, NULL, 0);
        if (r1 != (cut == len ? GWP_OK : GWP_NEED_MORE) || r2 != GWP_OK || used != len || f.body_len != 71680)
            bad = (int)cut;
        buf_free(&in);
    }
    CHECKF(bad < 0, "on_message_70k split at %d", bad);
    free(data);
}

/* ----------------------------------------------------------- malformed */

/* A 28-byte header with the given lengths, the rest zero. */
static void make_header(uint8_t h[28], uint32_t pack_len, uint32_t ext_len)
{
    memset(h, 0, 28);
    put32(h, pack_len);
    h[4] = GWP_CMD_ON_MESSAGE;
    put32(h + 24, ext_len);
}

static void test_bad_pack_len(void)
{
    uint8_t h[28];
    const uint32_t bad[] = {0, 1, 4, 27, GWP_DEFAULT_MAX_PACK_LEN + 1, 0x7fffffff, 0xffffffff};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        make_header(h, bad[i], 0);
        /* Refused with only the length bytes in, and with the whole header. */
        for (size_t avail = 4; avail <= 28; avail += 24) {
            uint8_t *p = exact_copy(h, avail);
            struct gwp_frame f;
            memset(&f, 0xa5, sizeof f);
            struct gwp_frame before = f;
            size_t used = 12345;
            char err[128] = "";
            int r = gwp_decode(p, avail, GWP_DEFAULT_MAX_PACK_LEN, &f, &used, err, sizeof err);
            CHECKF(r == GWP_ERROR && r < 0, "pack_len %" PRIu32 " with %zu bytes: %d", bad[i], avail, r);
            CHECKF(err[0] != '\0' && strstr(err, "pack_len"), "pack_len %" PRIu32 ": message \"%s\"", bad[i], err);
            CHECKF(used == 12345 && memcmp(&f, &before, sizeof f) == 0, "pack_len %" PRIu32 ": outputs touched", bad[i]);
            free(p);
        }
    }
    /* Fewer than 4 bytes cannot be judged. */
    make_header(h, 0, 0);
    for (size_t avail = 0; avail < 4; avail++) {
        struct gwp_frame f;
        size_t used;
        uint8_t *p = exact_copy(h, avail);
        CU_ASSERT_EQUAL(gwp_decode(p, avail, GWP_DEFAULT_MAX_PACK_LEN, &f, &used, NULL, 0), GWP_NEED_MORE);
        free(p);
    }
    CU_ASSERT_EQUAL(gwp_decode(NULL, 0, GWP_DEFAULT_MAX_PACK_LEN, NULL, NULL, NULL, 0), GWP_NEED_MORE);

    /* The limit itself is accepted (and waited for); a custom limit works. */
    make_header(h, GWP_DEFAULT_MAX_PACK_LEN, 0);
    struct gwp_frame f;
    size_t used;
    CU_ASSERT_EQUAL(gwp_decode(h, 28, GWP_DEFAULT_MAX_PACK_LEN, &f, &used, NULL, 0), GWP_NEED_MORE);
    uint8_t small[65] = {0};
    make_header(small, 64, 10);
    CU_ASSERT_EQUAL(gwp_decode(small, 64, 64, &f, &used, NULL, 0), GWP_OK);
    CU_ASSERT_EQUAL(used, 64);
    CU_ASSERT_EQUAL(f.ext_len, 10);
    CU_ASSERT_EQUAL(f.body_len, 26);
    put32(small, 65);
    CU_ASSERT_EQUAL(gwp_decode(small, 65, 64, &f, &used, NULL, 0), GWP_ERROR);
    CU_ASSERT_EQUAL(gwp_decode(small, 4, 64, &f, &used, NULL, 0), GWP_ERROR);
    /* Exactly the header: empty ext and body that still point in bounds. */
    make_header(h, 28, 0);
    CU_ASSERT_EQUAL(gwp_decode(h, 28, GWP_DEFAULT_MAX_PACK_LEN, &f, &used, NULL, 0), GWP_OK);
    CU_ASSERT_EQUAL(used, 28);
    CU_ASSERT(f.ext == h + 28 && f.body == h + 28 && f.ext_len == 0 && f.body_len == 0);

    /* The error message is optional and truncated to fit. */
    make_header(h, 27, 0);
    char tiny[6];
    memset(tiny, 'x', sizeof tiny);
    CU_ASSERT_EQUAL(gwp_decode(h, 28, GWP_DEFAULT_MAX_PACK_LEN, &f, &used, tiny, sizeof tiny), GWP_ERROR);
    CU_ASSERT_EQUAL(strlen(tiny), sizeof tiny - 1);
    CU_ASSERT_EQUAL(gwp_decode(h, 28, GWP_DEFAULT_MAX_PACK_LEN, &f, &used, NULL, 0), GWP_ERROR);
    tiny[0] = 'x';
    CU_ASSERT_EQUAL(gwp_decode(h, 28, GWP_DEFAULT_MAX_PACK_LEN, &f, &used, tiny, 0), GWP_ERROR);
    CU_ASSERT_EQUAL(tiny[0], 'x');
}

static void test_bad_ext_len(void)
{
    uint8_t frame[40];
    struct gwp_frame f;
    size_t used;
    char err[128];
    const uint32_t exts[] = {13, 100, 0x7fffffff, 0xffffffff, 0xffffffe4};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        make_header(frame, 40, exts[i]);
        memset(frame + 28, 'e', 12);
        err[0] = 0;
        /* Known as soon as the header is in, before the rest arrives. */
        for (size_t avail = 28; avail <= 40; avail += 12) {
            uint8_t *p = exact_copy(frame, avail);
            CHECKF(gwp_decode(p, avail, GWP_DEFAULT_MAX_PACK_LEN, &f, &used, err, sizeof err) == GWP_ERROR,
                   "ext_len %" PRIu32 " with %zu bytes", exts[i], avail);
            CHECKF(strstr(err, "ext_len") != NULL, "ext_len message \"%s\"", err);
            free(p);
        }
        /* Before the header is complete the length is unknown. */
        CU_ASSERT_EQUAL(gwp_decode(frame, 27, GWP_DEFAULT_MAX_PACK_LEN, &f, &used, NULL, 0), GWP_NEED_MORE);
    }
    /* ext_len == pack_len - 28: all ext, no body. */
    make_header(frame, 40, 12);
    CU_ASSERT_EQUAL(gwp_decode(frame, 40, GWP_DEFAULT_MAX_PACK_LEN, &f, &used, NULL, 0), GWP_OK);
    CU_ASSERT(f.ext_len == 12 && f.body_len == 0 && f.body == frame + 40);
}

/* Every proper prefix of every vector: NEED_MORE for the unfinished frame,
 * the finished ones decoded, never ERROR; exact-size copies so a read past
 * the end trips ASan. */
static void test_truncation(void)
{
    size_t i;
    json_t *c;
    long prefixes = 0;
    json_array_foreach(json_object_get(vectors(), "cases"), i, c)
    {
        const char *kind = case_kind(c), *name = case_name(c);
        if (strcmp(kind, "frame") != 0 && strcmp(kind, "stream") != 0)
            continue;
        size_t len;
        uint8_t *data = tu_read_hex_fixture(json_string_value(json_object_get(c, "file")), &len);
        if (!data)
            continue;
        size_t lens[64];
        long nf = frame_lengths(data, len, lens, 64);
        CHECKF(nf > 0, "%s: reference decode", name);
        int bad = -1;
        for (size_t k = 0; k < len && bad < 0 && nf > 0; k++) {
            /* The 70 KiB frame: all of the header region, then a stride. */
            if (len > 4096 && k > 512 && k < len - 64 && k % 97)
                continue;
            uint8_t *p = exact_copy(data, k);
            size_t pos = 0, complete = 0, acc = 0;
            for (long j = 0; j < nf && acc + lens[j] <= k; j++)
                complete = acc += lens[j];
            for (;;) {
                struct gwp_frame f;
                size_t used;
                int r = gwp_decode(p ? p + pos : NULL, k - pos, GWP_DEFAULT_MAX_PACK_LEN, &f, &used, NULL, 0);
                if (r == GWP_OK) {
                    pos += used;
                    continue;
                }
                if (r != GWP_NEED_MORE || pos != complete)
                    bad = (int)k;
                break;
            }
            free(p);
            prefixes++;
        }
        CHECKF(bad < 0, "%s: prefix of %d bytes misdecoded", name, bad);
        free(data);
    }
    CHECKF(prefixes > 5000, "only %ld prefixes tried", prefixes);
}

/* Random bytes, sometimes with plausible lengths so that OK paths are hit:
 * any result is fine as long as it is consistent and nothing crashes. */
static void test_random(void)
{
    rng_seed(20250101);
    long ok = 0, need = 0, error = 0, badn = 0;
    uint8_t data[320];
    struct buf re = BUF_INIT;
    for (int iter = 0; iter < 30000; iter++) {
        size_t len = rng_range(0, sizeof data);
        for (size_t k = 0; k < len; k++)
            data[k] = (uint8_t)rng_next();
        int mode = (int)(rng_next() % 4);
        if (mode >= 1 && len >= 4)
            put32(data, (uint32_t)rng_range(0, len + 8));
        if (mode >= 2 && len >= 28)
            put32(data + 24, (uint32_t)rng_range(0, len));
        uint32_t max = mode == 3 ? (uint32_t)rng_range(0, 400) : GWP_DEFAULT_MAX_PACK_LEN;
        uint8_t *p = exact_copy(data, len);
        size_t pos = 0;
        for (;;) {
            struct gwp_frame f;
            size_t used = 0;
            char err[64] = "";
            int r = gwp_decode(p ? p + pos : NULL, len - pos, max, &f, &used, err, sizeof err);
            if (r == GWP_OK) {
                ok++;
                buf_reset(&re);
                if (used < 28 || used > len - pos || used > max || f.ext != p + pos + 28 ||
                    f.body != f.ext + f.ext_len || 28 + f.ext_len + f.body_len != used ||
                    gwp_encode(&re, &f.hdr, f.ext, f.ext_len, f.body, f.body_len) != 0 || buf_avail(&re) != used ||
                    memcmp(buf_head(&re), p + pos, used) != 0)
                    badn++;
                pos += used;
                continue;
            }
            if (r == GWP_NEED_MORE)
                need++;
            else if (r == GWP_ERROR && err[0])
                error++;
            else
                badn++;
            break;
        }
        const uint8_t *payload;
        size_t plen, used;
        int r = gwp_reply_decode(p, len, max, &payload, &plen, &used, NULL, 0);
        if (r == GWP_OK && (payload != p + 4 || used != plen + 4 || used > len))
            badn++;
        free(p);
    }
    buf_free(&re);
    CHECKF(badn == 0, "%ld inconsistent results", badn);
    CHECKF(ok > 1000 && need > 1000 && error > 1000, "coverage: ok %ld need %ld error %ld", ok, need, error);
}

/* ------------------------------------------------------------- encoding */

static void test_header_pack(void)
{
    /* Distinct values per field: an offset or width mix-up cannot cancel out. */
    struct gwp_header h = {
        .pack_len = 0x01020304,
        .cmd = 0x05,
        .local_ip = 0x06070809,
        .local_port = 0x0a0b,
        .client_ip = 0x0c0d0e0f,
        .client_port = 0x1011,
        .connection_id = 0x12131415,
        .flag = 0x16,
        .gateway_port = 0x1718,
        .ext_len = 0x191a1b1c,
    };
    uint8_t out[28];
    gwp_header_pack(out, &h);
    for (int k = 0; k < 28; k++)
        CHECKF(out[k] == k + 1, "header byte %d is %02x", k, out[k]);
    struct gwp_header back;
    gwp_header_unpack(&back, out);
    CU_ASSERT(back.pack_len == h.pack_len && back.cmd == h.cmd && back.local_ip == h.local_ip &&
              back.local_port == h.local_port && back.client_ip == h.client_ip && back.client_port == h.client_port &&
              back.connection_id == h.connection_id && back.flag == h.flag && back.gateway_port == h.gateway_port &&
              back.ext_len == h.ext_len);

    /* §3.9's PING, built by hand. */
    size_t len;
    uint8_t *ping = tu_read_hex_fixture("ping.hex", &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ping);
    struct gwp_header ph = {.pack_len = 28, .cmd = GWP_CMD_PING, .flag = GWP_FLAG_BODY_IS_SCALAR};
    gwp_header_pack(out, &ph);
    CU_ASSERT(len == 28 && memcmp(out, ping, 28) == 0);
    free(ping);
}

static void test_encode(void)
{
    struct buf b = BUF_INIT;
    /* Lengths in h are ignored; the encoder computes them. */
    struct gwp_header h = {.pack_len = 999, .cmd = GWP_CMD_BIND_UID, .connection_id = 7, .flag = 1, .ext_len = 555};
    buf_append_str(&b, "prefix");
    CU_ASSERT_EQUAL(gwp_encode(&b, &h, "u1001", 5, "body", 4), 0);
    CU_ASSERT_EQUAL(buf_avail(&b), 6 + 28 + 5 + 4);
    struct gwp_frame f;
    size_t used;
    CU_ASSERT_EQUAL_FATAL(gwp_decode(buf_head(&b) + 6, buf_avail(&b) - 6, GWP_DEFAULT_MAX_PACK_LEN, &f, &used, NULL, 0),
                          GWP_OK);
    CU_ASSERT(f.hdr.pack_len == 37 && f.hdr.ext_len == 5 && f.hdr.cmd == GWP_CMD_BIND_UID && f.hdr.connection_id == 7);
    CU_ASSERT(memcmp(f.ext, "u1001", 5) == 0 && memcmp(f.body, "body", 4) == 0);
    CU_ASSERT(memcmp(buf_head(&b), "prefix", 6) == 0);
    buf_free(&b);

    /* NULL parts of length 0. */
    CU_ASSERT_EQUAL(gwp_encode(&b, &h, NULL, 0, NULL, 0), 0);
    CU_ASSERT_EQUAL(buf_avail(&b), 28);
    buf_free(&b);

    /* Sizes that do not fit pack_len are refused before anything is read
     * (the pointers here cover 1 byte) and leave the buffer unchanged. */
    const char one = 'x';
    buf_append_str(&b, "keep");
    const struct {
        size_t ext, body;
    } over[] = {
        {(size_t)UINT32_MAX - 27, 0}, {(size_t)UINT32_MAX - 28, 1}, {0, (size_t)UINT32_MAX - 27},
        {(size_t)UINT32_MAX, 0},      {SIZE_MAX, 0},                {0, SIZE_MAX},
        {SIZE_MAX, SIZE_MAX},         {(size_t)UINT32_MAX / 2, (size_t)UINT32_MAX / 2},
    };
    for (size_t i = 0; i < sizeof over / sizeof over[0]; i++) {
        CHECKF(gwp_encode(&b, &h, &one, over[i].ext, &one, over[i].body) == -EOVERFLOW, "overflow case %zu", i);
        CHECKF(buf_avail(&b) == 4 && memcmp(buf_head(&b), "keep", 4) == 0, "overflow case %zu touched the buffer", i);
    }
    buf_free(&b);
}

static void test_reply_codec(void)
{
    struct buf b = BUF_INIT;
    CU_ASSERT_EQUAL(gwp_reply_encode(&b, "i:1;", 4), 0);
    CU_ASSERT(buf_avail(&b) == 8 && memcmp(buf_head(&b), "\0\0\0\4i:1;", 8) == 0);
    CU_ASSERT_EQUAL(gwp_reply_encode(&b, NULL, 0), 0);
    CU_ASSERT_EQUAL(buf_avail(&b), 12);

    const uint8_t *payload;
    size_t plen, used;
    CU_ASSERT_EQUAL(gwp_reply_decode(buf_head(&b), buf_avail(&b), 100, &payload, &plen, &used, NULL, 0), GWP_OK);
    CU_ASSERT(used == 8 && plen == 4 && payload == buf_head(&b) + 4);
    /* An empty payload is a complete (if useless) reply. */
    CU_ASSERT_EQUAL(gwp_reply_decode(buf_head(&b) + 8, 4, 100, &payload, &plen, &used, NULL, 0), GWP_OK);
    CU_ASSERT(used == 4 && plen == 0);
    buf_free(&b);

    /* The limit is judged from the 4 length bytes alone. */
    uint8_t hdr[4];
    char err[64] = "";
    put32(hdr, 101);
    CU_ASSERT_EQUAL(gwp_reply_decode(hdr, 4, 100, &payload, &plen, &used, err, sizeof err), GWP_ERROR);
    CU_ASSERT(strstr(err, "101") != NULL);
    put32(hdr, 100);
    CU_ASSERT_EQUAL(gwp_reply_decode(hdr, 4, 100, &payload, &plen, &used, NULL, 0), GWP_NEED_MORE);
    put32(hdr, 0xffffffff);
    CU_ASSERT_EQUAL(gwp_reply_decode(hdr, 4, UINT32_MAX, &payload, &plen, &used, NULL, 0), GWP_NEED_MORE);
    CU_ASSERT_EQUAL(gwp_reply_decode(hdr, 4, GWP_DEFAULT_MAX_PACK_LEN, &payload, &plen, &used, NULL, 0), GWP_ERROR);
    CU_ASSERT_EQUAL(gwp_reply_decode(NULL, 0, 100, &payload, &plen, &used, NULL, 0), GWP_NEED_MORE);
    CU_ASSERT_EQUAL(gwp_reply_decode(hdr, 3, 100, &payload, &plen, &used, NULL, 0), GWP_NEED_MORE);

#if SIZE_MAX > UINT32_MAX
    const char one = 'x';
    buf_append_str(&b, "keep");
    CU_ASSERT_EQUAL(gwp_reply_encode(&b, &one, (size_t)UINT32_MAX + 1), -EOVERFLOW);
    CU_ASSERT_EQUAL(gwp_reply_encode(&b, &one, SIZE_MAX), -EOVERFLOW);
    CU_ASSERT(buf_avail(&b) == 4 && memcmp(buf_head(&b), "keep", 4) == 0);
    buf_free(&b);
#endif
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("gwp_vectors", NULL, NULL);
    CU_add_test(s, "command names and reply table", test_cmd_names);
    CU_add_test(s, "frame vectors", test_frames);
    CU_add_test(s, "stream vectors", test_streams);
    CU_add_test(s, "reply vectors", test_replies);
    CU_add_test(s, "live captures", test_live);
    s = CU_add_suite("gwp_incremental", NULL, NULL);
    CU_add_test(s, "each vector, 1-byte and random reads", test_feed_each);
    CU_add_test(s, "all frames on one connection", test_feed_concatenated);
    CU_add_test(s, "70 KiB frame split anywhere", test_feed_big_split);
    s = CU_add_suite("gwp_malformed", NULL, NULL);
    CU_add_test(s, "pack_len out of range", test_bad_pack_len);
    CU_add_test(s, "ext_len beyond the frame", test_bad_ext_len);
    CU_add_test(s, "truncation at every byte", test_truncation);
    CU_add_test(s, "random bytes", test_random);
    s = CU_add_suite("gwp_encode", NULL, NULL);
    CU_add_test(s, "header layout", test_header_pack);
    CU_add_test(s, "frame encoder", test_encode);
    CU_add_test(s, "reply codec", test_reply_codec);
    return tu_run("test_gwp");
}
