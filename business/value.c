#include "value.h"

#include <errno.h>
#include <string.h>

#include "phpser.h"

int val_copy(msgpack_zone *zone, msgpack_object *dst, const msgpack_object *src)
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
            if (val_copy(zone, &v[i], &src->via.array.ptr[i]) < 0)
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
            if (val_copy(zone, &v[i].key, &src->via.map.ptr[i].key) < 0 ||
                val_copy(zone, &v[i].val, &src->via.map.ptr[i].val) < 0)
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

/* A key as PHP stores it: an integer, or a string that is not integer-like. */
static int key_int(const msgpack_object *k, int64_t *v)
{
    if (k->type == MSGPACK_OBJECT_POSITIVE_INTEGER && k->via.u64 <= INT64_MAX) {
        *v = (int64_t)k->via.u64;
        return 1;
    }
    if (k->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *v = k->via.i64;
        return 1;
    }
    if (k->type == MSGPACK_OBJECT_STR)
        return phpser_key_is_int(k->via.str.ptr, k->via.str.size, v);
    return 0;
}

int val_key_eq(const msgpack_object *a, const msgpack_object *b)
{
    int64_t x, y;
    int ia = key_int(a, &x), ib = key_int(b, &y);
    if (ia || ib)
        return ia && ib && x == y;
    return a->type == MSGPACK_OBJECT_STR && b->type == MSGPACK_OBJECT_STR && a->via.str.size == b->via.str.size &&
           memcmp(a->via.str.ptr, b->via.str.ptr, a->via.str.size) == 0;
}

int val_key_is(const msgpack_object *k, const char *key, size_t n)
{
    msgpack_object s = {.type = MSGPACK_OBJECT_STR, .via.str = {.size = (uint32_t)n, .ptr = key}};
    return val_key_eq(k, &s);
}

long val_map_find(const msgpack_object *m, const msgpack_object *key)
{
    if (m->type != MSGPACK_OBJECT_MAP)
        return -1;
    for (long i = (long)m->via.map.size - 1; i >= 0; i--)
        if (val_key_eq(&m->via.map.ptr[i].key, key))
            return i;
    return -1;
}

int val_map_set(msgpack_zone *zone, msgpack_object *dst, const msgpack_object *m, const msgpack_object *key,
                const msgpack_object *value)
{
    uint32_t n = m->type == MSGPACK_OBJECT_MAP ? m->via.map.size : 0;
    long at = val_map_find(m, key);
    uint32_t cap = n + 1;
    msgpack_object_kv *v = msgpack_zone_malloc(zone, cap * sizeof *v);
    if (!v)
        return -ENOMEM;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object_kv *e = &m->via.map.ptr[i];
        if (val_key_eq(&e->key, key)) {
            if ((long)i != at || !value)
                continue; /* drop earlier duplicates, or the removed key */
            v[k].key = e->key;
            if (val_copy(zone, &v[k].val, value) < 0)
                return -ENOMEM;
            k++;
            continue;
        }
        v[k++] = *e;
    }
    if (at < 0 && value) {
        if (val_copy(zone, &v[k].key, key) < 0 || val_copy(zone, &v[k].val, value) < 0)
            return -ENOMEM;
        k++;
    }
    dst->type = MSGPACK_OBJECT_MAP;
    dst->via.map.size = k;
    dst->via.map.ptr = v;
    return 0;
}

int val_merge(msgpack_zone *zone, msgpack_object *dst, const msgpack_object *base, const msgpack_object *upd)
{
    msgpack_object cur = {.type = MSGPACK_OBJECT_MAP};
    if (base->type == MSGPACK_OBJECT_MAP)
        cur = *base;
    if (upd->type != MSGPACK_OBJECT_MAP) {
        *dst = cur;
        return 0;
    }
    for (uint32_t i = 0; i < upd->via.map.size; i++) {
        const msgpack_object_kv *e = &upd->via.map.ptr[i];
        long at = val_map_find(&cur, &e->key);
        msgpack_object nv = e->val;
        if (at >= 0 && cur.via.map.ptr[at].val.type == MSGPACK_OBJECT_MAP && e->val.type == MSGPACK_OBJECT_MAP &&
            val_merge(zone, &nv, &cur.via.map.ptr[at].val, &e->val) < 0)
            return -ENOMEM;
        if (val_map_set(zone, &cur, &cur, &e->key, &nv) < 0)
            return -ENOMEM;
    }
    *dst = cur;
    return 0;
}
