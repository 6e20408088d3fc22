#include "extdata.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "phpser.h"
#include "ptab.h"

int extdata_empty(const void *p, size_t n) { return n == 0 || (n == 1 && *(const char *)p == '0'); }

json_t *extdata_json(const void *ext, size_t len)
{
    if (!len)
        return NULL;
    return json_loadb(ext, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

int extdata_json_empty(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
    case JSON_FALSE: return 1;
    case JSON_INTEGER: return json_integer_value(v) == 0;
    case JSON_REAL: return json_real_value(v) == 0;
    case JSON_STRING: return extdata_empty(json_string_value(v), json_string_length(v));
    case JSON_ARRAY: return json_array_size(v) == 0;
    case JSON_OBJECT: return json_object_size(v) == 0;
    default: return 0;
    }
}

int extdata_it_init(struct extdata_it *j, json_t *c)
{
    j->c = c;
    j->i = 0;
    j->it = NULL;
    if (json_is_array(c))
        return 0;
    if (json_is_object(c)) {
        j->it = json_object_iter(c);
        return 0;
    }
    return -1;
}

json_t *extdata_it_next(struct extdata_it *j)
{
    if (json_is_array(j->c))
        return j->i < json_array_size(j->c) ? json_array_get(j->c, j->i++) : NULL;
    if (!j->it)
        return NULL;
    json_t *v = json_object_iter_value(j->it);
    j->it = json_object_iter_next(j->c, j->it);
    return v;
}

static size_t it_count(const json_t *c) { return json_is_array(c) ? json_array_size(c) : json_object_size(c); }

/* 0 for an array or object (PHP: "Illegal offset type", a fatal error) and
 * for floats beyond int64 (PHP's conversion is platform noise). */
int extdata_key_of(const json_t *v, struct extdata_key *k)
{
    k->ext = NULL;
    k->num[0] = 0;
    k->n = 0;
    switch (json_typeof(v)) {
    case JSON_STRING:
        k->ext = json_string_value(v);
        k->n = json_string_length(v);
        return 1;
    case JSON_INTEGER:
        k->n = (size_t)snprintf(k->num, sizeof k->num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return 1;
    case JSON_REAL: {
        double d = json_real_value(v);
        if (!(d > -9223372036854775808.0 && d < 9223372036854775808.0))
            return 0;
        k->n = (size_t)snprintf(k->num, sizeof k->num, "%lld", (long long)d); /* truncates, as PHP */
        return 1;
    }
    case JSON_TRUE: k->num[0] = '1', k->num[1] = 0, k->n = 1; return 1;
    case JSON_FALSE: k->num[0] = '0', k->num[1] = 0, k->n = 1; return 1;
    case JSON_NULL: return 1;
    default: return 0;
    }
}

int extdata_conn_id(const char *p, size_t n, uint32_t *id)
{
    int64_t v;
    if (!phpser_key_is_int(p, n, &v) || v < 1 || v > (int64_t)UINT32_MAX)
        return 0;
    *id = (uint32_t)v;
    return 1;
}

int extdata_json_conn_id(const json_t *v, uint32_t *id)
{
    struct extdata_key k;
    return extdata_key_of(v, &k) && extdata_conn_id(extdata_key_ptr(&k), k.n, id);
}

static uint64_t hash_key(const void *p)
{
    const struct extdata_key *k = p;
    return hash_bytes(extdata_key_ptr(k), k->n);
}

static int eq_key(const void *item, const void *key)
{
    const struct extdata_key *a = item, *b = key;
    return a->n == b->n && memcmp(extdata_key_ptr(a), extdata_key_ptr(b), a->n) == 0;
}

/* The distinct PHP keys among the values of a JSON list/object, in first-
 * occurrence order (what `$r[$v] = …` in a foreach keeps). *out is malloc'd
 * (or NULL when empty) and points into c's strings. Values that cannot be
 * keys are skipped. Returns 0, -1 when c is not a list/object, -ENOMEM. */
int extdata_distinct_keys(json_t *c, struct extdata_key **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    struct extdata_it it;
    if (extdata_it_init(&it, c) < 0)
        return -1;
    size_t max = it_count(c);
    if (!max)
        return 0;
    /* Sized once: the set below points into this array. */
    struct extdata_key *k = malloc(max * sizeof *k);
    struct ptab seen = {.hash = hash_key};
    if (!k)
        return -ENOMEM;
    size_t cnt = 0;
    for (json_t *v; (v = extdata_it_next(&it));) {
        if (!extdata_key_of(v, &k[cnt]))
            continue;
        if (ptab_find(&seen, hash_key(&k[cnt]), eq_key, &k[cnt]))
            continue;
        if (ptab_add(&seen, &k[cnt]) < 0) {
            ptab_free(&seen);
            free(k);
            return -ENOMEM;
        }
        cnt++;
    }
    ptab_free(&seen);
    *out = k;
    *n = cnt;
    return 0;
}

/* The connections an `exclude` names: PHP tests isset($exclude[$id]), i.e.
 * the keys of the object senders write; a list is taken as a list of ids
 * (as the spec asks), not by its 0..n-1 keys. Returns 0, -1 for a shape
 * that is neither empty, an object nor a list, or -ENOMEM. */
int extdata_exclude(json_t *ex, struct ptab *set)
{
    if (!ex || extdata_json_empty(ex))
        return 0;
    if (json_is_object(ex)) {
        const char *key;
        size_t klen;
        json_t *val;
        json_object_keylen_foreach(ex, key, klen, val)
        {
            uint32_t id;
            (void)val;
            if (extdata_conn_id(key, klen, &id) && ptab_id_add(set, id) < 0)
                return -ENOMEM;
        }
        return 0;
    }
    if (json_is_array(ex)) {
        size_t i;
        json_t *val;
        json_array_foreach(ex, i, val)
        {
            uint32_t id;
            if (extdata_json_conn_id(val, &id) && ptab_id_add(set, id) < 0)
                return -ENOMEM;
        }
        return 0;
    }
    return -1;
}

