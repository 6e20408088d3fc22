#include "msg.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phpser.h"

/* ------------------------------------------------------------- messages */

struct gwmsg *gwmsg_new(const void *body, size_t len, unsigned flags)
{
    if (len > UINT32_MAX)
        return NULL;
    struct gwmsg *m = malloc(sizeof *m + len);
    if (!m)
        return NULL;
    memset(m, 0, sizeof *m);
    m->refs = 1;
    m->flags = (uint8_t)flags;
    m->len = (uint32_t)len;
    if (len)
        memcpy(m->data, body, len);
    return m;
}

struct gwmsg *gwmsg_ref(struct gwmsg *m)
{
    m->refs++;
    return m;
}

void gwmsg_unref(struct gwmsg *m)
{
    if (!m || --m->refs > 0)
        return;
    for (int i = 0; i < GWMSG_ENC_SLOTS; i++)
        free(m->enc[i]);
    free(m);
}

/* ------------------------------------------------------ PHP array keys */

/* phpser_decode turns canonical integer strings into integers, so a key is
 * either an integer or a string that is not one, and two keys are the same
 * PHP key exactly when they compare equal here. */
static int key_is_int(const msgpack_object *k)
{
    return k->type == MSGPACK_OBJECT_POSITIVE_INTEGER || k->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
}

static int key_eq(const msgpack_object *a, const msgpack_object *b)
{
    if (key_is_int(a) || key_is_int(b))
        return key_is_int(a) && key_is_int(b) && a->via.i64 == b->via.i64;
    if ((a->type != MSGPACK_OBJECT_STR && a->type != MSGPACK_OBJECT_BIN) ||
        (b->type != MSGPACK_OBJECT_STR && b->type != MSGPACK_OBJECT_BIN))
        return 0;
    /* str and bin share layout in msgpack_object's union. */
    return a->via.str.size == b->via.str.size &&
           (a->via.str.size == 0 || memcmp(a->via.str.ptr, b->via.str.ptr, a->via.str.size) == 0);
}

static uint64_t key_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t key_hash(const msgpack_object *k)
{
    if (key_is_int(k))
        return key_mix64((uint64_t)k->via.i64);
    if (k->type != MSGPACK_OBJECT_STR && k->type != MSGPACK_OBJECT_BIN)
        return 0;
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint32_t i = 0; i < k->via.str.size; i++)
        h = (h ^ (uint8_t)k->via.str.ptr[i]) * 0x100000001b3ull;
    return key_mix64(h);
}

/* Index over the keys of an entry array, so deduplicating or merging a big
 * array stays linear. Small arrays are scanned instead (no allocation). */
#define KIDX_SCAN_MAX 8

struct kidx {
    const msgpack_object_kv *kv; /* the entries the slots point into */
    uint32_t *slot;              /* entry index + 1; 0 = empty */
    size_t mask;
    size_t n;                    /* entries covered when scanning */
};

static int kidx_init(struct kidx *x, const msgpack_object_kv *kv, size_t max)
{
    x->kv = kv;
    x->slot = NULL;
    x->mask = 0;
    x->n = 0;
    if (max <= KIDX_SCAN_MAX)
        return 0;
    size_t cap = 16;
    while (cap < 2 * max)
        cap <<= 1;
    x->slot = calloc(cap, sizeof *x->slot);
    if (!x->slot)
        return -ENOMEM;
    x->mask = cap - 1;
    return 0;
}

static void kidx_free(struct kidx *x) { free(x->slot); }

/* Index of the entry whose key equals k, or -1. */
static long kidx_find(const struct kidx *x, const msgpack_object *k)
{
    if (!x->slot) {
        for (size_t i = 0; i < x->n; i++)
            if (key_eq(&x->kv[i].key, k))
                return (long)i;
        return -1;
    }
    for (size_t i = key_hash(k) & x->mask;; i = (i + 1) & x->mask) {
        uint32_t s = x->slot[i];
        if (!s)
            return -1;
        if (key_eq(&x->kv[s - 1].key, k))
            return (long)s - 1;
    }
}

/* Records that entry idx (not yet indexed, key not present) exists. */
static void kidx_add(struct kidx *x, size_t idx)
{
    if (!x->slot) {
        x->n = idx + 1;
        return;
    }
    size_t i = key_hash(&x->kv[idx].key) & x->mask;
    while (x->slot[i])
        i = (i + 1) & x->mask;
    x->slot[i] = (uint32_t)idx + 1;
}

/* --------------------------------------------------- normalize / merge */

static int normalize(msgpack_object *v, unsigned depth)
{
    if (v->type != MSGPACK_OBJECT_MAP)
        return 0;
    if (depth > PHPSER_HARD_MAX_DEPTH)
        return -EINVAL;
    msgpack_object_kv *kv = v->via.map.ptr;
    uint32_t n = v->via.map.size;
    if (n > 1) {
        struct kidx x;
        if (kidx_init(&x, kv, n) < 0)
            return -ENOMEM;
        uint32_t k = 0;
        for (uint32_t i = 0; i < n; i++) {
            long j = kidx_find(&x, &kv[i].key);
            if (j >= 0) {
                kv[j].val = kv[i].val;
                continue;
            }
            /* Only slots below k are indexed, so moving entry i down to k
             * keeps every index slot valid. */
            kv[k] = kv[i];
            kidx_add(&x, k);
            k++;
        }
        kidx_free(&x);
        v->via.map.size = k;
    }
    for (uint32_t i = 0; i < v->via.map.size; i++) {
        int r = normalize(&kv[i].val, depth + 1);
        if (r < 0)
            return r;
    }
    return 0;
}

int gwmsg_php_normalize(msgpack_object *v) { return normalize(v, 0); }

static int replace_rec(msgpack_zone *zone, msgpack_object *dest, const msgpack_object *src, unsigned depth)
{
    if (dest->type != MSGPACK_OBJECT_MAP || src->type != MSGPACK_OBJECT_MAP)
        return -EINVAL;
    if (depth > PHPSER_HARD_MAX_DEPTH)
        return -EINVAL;
    uint32_t n = dest->via.map.size, m = src->via.map.size;
    if (m == 0)
        return 0;
    if ((uint64_t)n + m > UINT32_MAX)
        return -ENOMEM;
    size_t max = (size_t)n + m;
    msgpack_object_kv *kv = msgpack_zone_malloc(zone, max * sizeof *kv);
    if (!kv)
        return -ENOMEM;
    if (n)
        memcpy(kv, dest->via.map.ptr, n * sizeof *kv);
    struct kidx x;
    if (kidx_init(&x, kv, max) < 0)
        return -ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        kidx_add(&x, i);
    uint32_t cnt = n;
    int r = 0;
    for (uint32_t i = 0; i < m && r == 0; i++) {
        const msgpack_object_kv *e = &src->via.map.ptr[i];
        long j = kidx_find(&x, &e->key);
        if (j < 0) {
            kv[cnt] = *e;
            kidx_add(&x, cnt);
            cnt++;
        } else if (e->val.type == MSGPACK_OBJECT_MAP && kv[j].val.type == MSGPACK_OBJECT_MAP) {
            r = replace_rec(zone, &kv[j].val, &e->val, depth + 1);
        } else {
            kv[j].val = e->val;
        }
    }
    kidx_free(&x);
    if (r < 0)
        return r;
    dest->via.map.ptr = kv;
    dest->via.map.size = cnt;
    return 0;
}

int gwmsg_php_replace_recursive(msgpack_zone *zone, msgpack_object *dest, const msgpack_object *src)
{
    return replace_rec(zone, dest, src, 0);
}

/* ----------------------------------------------------------------- JSON */

/* PHP json_encode's own limit (depth 512); deeper arrays make it fail. */
#define GWMSG_JSON_MAX_DEPTH 512

struct jw {
    struct buf *b;
    unsigned opts;
    int err;
};

static void jw_raw(struct jw *w, const void *p, size_t n)
{
    if (!w->err && n && buf_append(w->b, p, n) < 0)
        w->err = -ENOMEM;
}

static void jw_str(struct jw *w, const char *s) { jw_raw(w, s, strlen(s)); }

static void jw_u(struct jw *w, unsigned cp)
{
    static const char hex[] = "0123456789abcdef";
    char e[6] = {'\\', 'u', hex[cp >> 12 & 15], hex[cp >> 8 & 15], hex[cp >> 4 & 15], hex[cp & 15]};
    jw_raw(w, e, sizeof e);
}

/* Length of the well-formed UTF-8 sequence at p (code point in *cp), or 0:
 * overlong forms, surrogates and code points above U+10FFFF are refused, as
 * PHP's decoder does. */
static size_t utf8_next(const uint8_t *p, size_t n, unsigned *cp)
{
    uint8_t c = p[0];
    size_t len;
    unsigned v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        len = 2, v = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, v = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

static void jw_string(struct jw *w, const uint8_t *p, size_t n)
{
    jw_raw(w, "\"", 1);
    size_t run = 0; /* start of bytes copied through unchanged */
    size_t i = 0;
    while (i < n && !w->err) {
        uint8_t c = p[i];
        const char *esc = NULL;
        if (c >= 0x80) {
            unsigned cp;
            size_t k = utf8_next(p + i, n - i, &cp);
            if (!k) {
                w->err = -EILSEQ;
                break;
            }
            /* JSON_UNESCAPED_UNICODE still escapes the two JavaScript line
             * terminators unless JSON_UNESCAPED_LINE_TERMINATORS is given. */
            if (!(w->opts & GWMSG_JSON_ESCAPE_UNICODE) && cp != 0x2028 && cp != 0x2029) {
                i += k;
                continue;
            }
            jw_raw(w, p + run, i - run);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                jw_u(w, 0xd800 | cp >> 10);
                jw_u(w, 0xdc00 | (cp & 0x3ff));
            } else {
                jw_u(w, cp);
            }
            i += k;
            run = i;
            continue;
        }
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '/': esc = "\\/"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c >= 0x20) {
                i++;
                continue;
            }
        }
        jw_raw(w, p + run, i - run);
        if (esc)
            jw_str(w, esc);
        else
            jw_u(w, c);
        i++;
        run = i;
    }
    jw_raw(w, p + run, i - run);
    jw_raw(w, "\"", 1);
}

/* zend_array_is_list: keys exactly 0, 1, 2, … in order. */
static int map_is_list(const msgpack_object *v)
{
    for (uint32_t i = 0; i < v->via.map.size; i++) {
        const msgpack_object *k = &v->via.map.ptr[i].key;
        if (k->type != MSGPACK_OBJECT_POSITIVE_INTEGER || k->via.u64 != i)
            return 0;
    }
    return 1;
}

static void jw_value(struct jw *w, const msgpack_object *v, unsigned depth)
{
    char tmp[40];
    if (w->err)
        return;
    switch (v->type) {
    case MSGPACK_OBJECT_NIL: jw_str(w, "null"); return;
    case MSGPACK_OBJECT_BOOLEAN: jw_str(w, v->via.boolean ? "true" : "false"); return;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        snprintf(tmp, sizeof tmp, "%" PRIu64, v->via.u64);
        jw_str(w, tmp);
        return;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        snprintf(tmp, sizeof tmp, "%" PRId64, v->via.i64);
        jw_str(w, tmp);
        return;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: {
        if (!isfinite(v->via.f64)) {
            w->err = -EDOM;
            return;
        }
        /* Same shortest digits as serialize(); json_encode only spells the
         * exponent with a lowercase e (php_gcvt(..., 'e')). */
        int n = phpser_format_double(v->via.f64, tmp);
        for (int i = 0; i < n; i++)
            if (tmp[i] == 'E')
                tmp[i] = 'e';
        jw_raw(w, tmp, (size_t)n);
        return;
    }
    case MSGPACK_OBJECT_STR:
    case MSGPACK_OBJECT_BIN: jw_string(w, (const uint8_t *)v->via.str.ptr, v->via.str.size); return;
    case MSGPACK_OBJECT_ARRAY:
        if (depth >= GWMSG_JSON_MAX_DEPTH) {
            w->err = -EDOM;
            return;
        }
        jw_raw(w, "[", 1);
        for (uint32_t i = 0; i < v->via.array.size; i++) {
            if (i)
                jw_raw(w, ",", 1);
            jw_value(w, &v->via.array.ptr[i], depth + 1);
        }
        jw_raw(w, "]", 1);
        return;
    case MSGPACK_OBJECT_MAP: {
        if (depth >= GWMSG_JSON_MAX_DEPTH) {
            w->err = -EDOM;
            return;
        }
        int list = map_is_list(v);
        jw_raw(w, list ? "[" : "{", 1);
        for (uint32_t i = 0; i < v->via.map.size; i++) {
            const msgpack_object_kv *e = &v->via.map.ptr[i];
            if (i)
                jw_raw(w, ",", 1);
            if (!list) {
                if (e->key.type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
                    snprintf(tmp, sizeof tmp, "\"%" PRIu64 "\"", e->key.via.u64);
                    jw_str(w, tmp);
                } else if (e->key.type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
                    snprintf(tmp, sizeof tmp, "\"%" PRId64 "\"", e->key.via.i64);
                    jw_str(w, tmp);
                } else if (e->key.type == MSGPACK_OBJECT_STR || e->key.type == MSGPACK_OBJECT_BIN) {
                    jw_string(w, (const uint8_t *)e->key.via.str.ptr, e->key.via.str.size);
                } else {
                    w->err = -EINVAL;
                    return;
                }
                jw_raw(w, ":", 1);
            }
            jw_value(w, &e->val, depth + 1);
        }
        jw_raw(w, list ? "]" : "}", 1);
        return;
    }
    default: w->err = -EINVAL; return;
    }
}

int gwmsg_php_json(const msgpack_object *v, struct buf *out, unsigned opts)
{
    size_t mark = out->len;
    struct jw w = {out, opts, 0};
    jw_value(&w, v, 0);
    if (w.err) {
        out->len = mark;
        return -1;
    }
    return 0;
}

int gwmsg_json_body_opts(const struct gwmsg *m, struct buf *out, unsigned opts)
{
    if (!(m->flags & GWMSG_ARRAY))
        return buf_append(out, m->data, m->len) < 0 ? -1 : 0;
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 4096))
        return -1;
    /* Nesting as deep as json_encode accepts; phpser's default would stop
     * at 64 where PHP goes on. */
    struct phpser_limits lim = {GWMSG_JSON_MAX_DEPTH, 0};
    msgpack_object v;
    int r = -1;
    if (phpser_decode(m->data, m->len, &zone, &v, &lim, NULL, 0) < 0 || gwmsg_php_normalize(&v) < 0)
        goto out;
    switch (v.type) {
    case MSGPACK_OBJECT_MAP:
    case MSGPACK_OBJECT_NIL: r = gwmsg_php_json(&v, out, opts); break;
    case MSGPACK_OBJECT_STR: r = buf_append(out, v.via.str.ptr, v.via.str.size) < 0 ? -1 : 0; break;
    default: break;
    }
out:
    msgpack_zone_destroy(&zone);
    return r;
}

int gwmsg_json_body(const struct gwmsg *m, struct buf *out) { return gwmsg_json_body_opts(m, out, 0); }
