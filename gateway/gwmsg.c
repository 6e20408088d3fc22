#include "gwmsg.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phpser.h"
#include "phpval.h"
#include "utf8.h"

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
    if (phpser_decode(m->data, m->len, &zone, &v, &lim, NULL, 0) < 0 || phpval_normalize(&v) < 0)
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
