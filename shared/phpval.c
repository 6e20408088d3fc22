#include "phpval.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "phpser.h"

/* ------------------------------------------------------------------ keys */

static int key_is_str(const msgpack_object *k)
{
    return k->type == MSGPACK_OBJECT_STR || k->type == MSGPACK_OBJECT_BIN;
}

int phpval_key_int(const msgpack_object *k, int64_t *v)
{
    int64_t x;
    switch (k->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (k->via.u64 > INT64_MAX)
            return 0;
        x = (int64_t)k->via.u64;
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: x = k->via.i64; break;
    case MSGPACK_OBJECT_STR:
    case MSGPACK_OBJECT_BIN: /* str and bin share layout in msgpack_object's union */
        if (!phpser_key_is_int(k->via.str.ptr, k->via.str.size, &x))
            return 0;
        break;
    default: return 0;
    }
    if (v)
        *v = x;
    return 1;
}

int phpval_key_eq(const msgpack_object *a, const msgpack_object *b)
{
    /* Two strings are the same key exactly when their bytes are: a canonical
     * int string names one integer and no other string names it. */
    if (key_is_str(a) && key_is_str(b))
        return a->via.str.size == b->via.str.size &&
               (a->via.str.size == 0 || memcmp(a->via.str.ptr, b->via.str.ptr, a->via.str.size) == 0);
    int64_t x, y;
    return phpval_key_int(a, &x) && phpval_key_int(b, &y) && x == y;
}

int phpval_key_is(const msgpack_object *k, const char *key, size_t n)
{
    msgpack_object s = {.type = MSGPACK_OBJECT_STR, .via.str = {.size = (uint32_t)n, .ptr = key}};
    return phpval_key_eq(k, &s);
}

uint64_t phpval_key_hash(const msgpack_object *k)
{
    int64_t v;
    if (phpval_key_int(k, &v))
        return hash_mix64((uint64_t)v);
    if (!key_is_str(k))
        return 0;
    return hash_bytes(k->via.str.ptr, k->via.str.size);
}

/* ----------------------------------------------------------- key index */

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
            if (phpval_key_eq(&x->kv[i].key, k))
                return (long)i;
        return -1;
    }
    for (size_t i = phpval_key_hash(k) & x->mask;; i = (i + 1) & x->mask) {
        uint32_t s = x->slot[i];
        if (!s)
            return -1;
        if (phpval_key_eq(&x->kv[s - 1].key, k))
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
    size_t i = phpval_key_hash(&x->kv[idx].key) & x->mask;
    while (x->slot[i])
        i = (i + 1) & x->mask;
    x->slot[i] = (uint32_t)idx + 1;
}

/* ------------------------------------------------------ find / set / copy */

long phpval_map_find(const msgpack_object *m, const msgpack_object *key)
{
    if (m->type != MSGPACK_OBJECT_MAP)
        return -1;
    for (long i = (long)m->via.map.size - 1; i >= 0; i--)
        if (phpval_key_eq(&m->via.map.ptr[i].key, key))
            return i;
    return -1;
}

int phpval_map_set(msgpack_zone *zone, msgpack_object *dst, const msgpack_object *m, const msgpack_object *key,
                   const msgpack_object *value)
{
    uint32_t n = m->type == MSGPACK_OBJECT_MAP ? m->via.map.size : 0;
    long at = phpval_map_find(m, key);
    msgpack_object_kv *v = msgpack_zone_malloc(zone, ((size_t)n + 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object_kv *e = &m->via.map.ptr[i];
        if (phpval_key_eq(&e->key, key)) {
            if ((long)i != at || !value)
                continue; /* drop earlier duplicates, or the removed key */
            v[k].key = e->key;
            if (phpval_copy(zone, &v[k].val, value) < 0)
                return -ENOMEM;
            k++;
            continue;
        }
        v[k++] = *e;
    }
    if (at < 0 && value) {
        if (phpval_copy(zone, &v[k].key, key) < 0 || phpval_copy(zone, &v[k].val, value) < 0)
            return -ENOMEM;
        k++;
    }
    dst->type = MSGPACK_OBJECT_MAP;
    dst->via.map.size = k;
    dst->via.map.ptr = v;
    return 0;
}

int phpval_copy(msgpack_zone *zone, msgpack_object *dst, const msgpack_object *src)
{
    msgpack_object o = *src;
    switch (src->type) {
    case MSGPACK_OBJECT_STR:
    case MSGPACK_OBJECT_BIN: {
        uint32_t n = src->via.str.size;
        char *p = msgpack_zone_malloc(zone, n ? n : 1);
        if (!p)
            return -ENOMEM;
        if (n)
            memcpy(p, src->via.str.ptr, n);
        o.via.str.ptr = p;
        break;
    }
    case MSGPACK_OBJECT_ARRAY: {
        uint32_t n = src->via.array.size;
        msgpack_object *v = n ? msgpack_zone_malloc(zone, n * sizeof *v) : NULL;
        if (n && !v)
            return -ENOMEM;
        for (uint32_t i = 0; i < n; i++)
            if (phpval_copy(zone, &v[i], &src->via.array.ptr[i]) < 0)
                return -ENOMEM;
        o.via.array.ptr = v;
        break;
    }
    case MSGPACK_OBJECT_MAP: {
        uint32_t n = src->via.map.size;
        msgpack_object_kv *v = n ? msgpack_zone_malloc(zone, n * sizeof *v) : NULL;
        if (n && !v)
            return -ENOMEM;
        for (uint32_t i = 0; i < n; i++)
            if (phpval_copy(zone, &v[i].key, &src->via.map.ptr[i].key) < 0 ||
                phpval_copy(zone, &v[i].val, &src->via.map.ptr[i].val) < 0)
                return -ENOMEM;
        o.via.map.ptr = v;
        break;
    }
    default:
        break;
    }
    *dst = o;
    return 0;
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

int phpval_normalize(msgpack_object *v) { return normalize(v, 0); }

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

int phpval_replace_recursive(msgpack_zone *zone, msgpack_object *dest, const msgpack_object *src)
{
    return replace_rec(zone, dest, src, 0);
}
