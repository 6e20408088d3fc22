/* phpurl: PHP 8.2's parse_url() (as far as finding the query) and
 * parse_str(), reproduced byte for byte. See phpurl.h.
 *
 * parse_str() is php_default_treat_data + php_register_variable_ex:
 * '&'-separated, empty pieces skipped, at most 1000 pieces, names
 * percent-decoded then cut at a NUL, leading spaces dropped, ' ' and '.'
 * made '_', brackets making nested arrays (max 64 levels), int-like keys
 * stored as ints, "[]" appending at the array's next free index. The result
 * is built in a pool of nodes of its own (one hash index over (array, key))
 * and written straight out as PHP serialize() text. */
#include "phpurl.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- parse_url */

static const char *pu_first_of(const char *s, const char *e, const char *set)
{
    for (const char *p = s; p < e; p++)
        if (strchr(set, *p) && *p)
            return p;
    return e;
}

static const char *pu_last(const char *s, const char *e, char c)
{
    for (const char *p = e; p > s; p--)
        if (p[-1] == c)
            return p - 1;
    return NULL;
}

/* The port text after a host's last ':' as PHP reads it with strtol():
 * optional sign, at least one digit, value 0..65535 (trailing junk allowed). */
static int pu_port_ok(const char *p, const char *e, long *port)
{
    int neg = 0;
    if (p < e && (*p == '+' || *p == '-')) {
        neg = *p == '-';
        p++;
    }
    if (p >= e || !isdigit((unsigned char)*p))
        return 0;
    long v = 0;
    while (p < e && isdigit((unsigned char)*p))
        v = v * 10 + (*p++ - '0'); /* at most 5 characters: no overflow */
    if (neg)
        v = -v;
    *port = v;
    return v >= 0 && v <= 65535;
}

static int pu_scheme_char(char c)
{
    return isalpha((unsigned char)c) || isdigit((unsigned char)c) || c == '+' || c == '.' || c == '-';
}

/* The query component of parse_url(target) (PHP 8.2 php_url_parse_ex2).
 * Returns 1 with [*q, *q + *qn) when there is one, 0 when parse_url has no
 * query or fails (both give workerman's ""). The target holds no control
 * bytes (checked by the caller), so PHP's control-char replacement never
 * applies. */
int phpurl_query(const char *str, size_t length, const char **q, size_t *qn)
{
    const char *s = str, *ue = str + length, *e, *p, *pp;
    long port = 0;
    int has_port = 0;

    e = memchr(s, ':', length);
    if (e && e != s) {
        for (p = s; p < e; p++) {
            if (pu_scheme_char(*p))
                continue;
            if (e + 1 < ue && e < pu_first_of(s, ue, "?#"))
                goto parse_port;
            if (s + 1 < ue && s[0] == '/' && s[1] == '/') {
                s += 2;
                goto parse_host;
            }
            goto just_path;
        }
        if (e + 1 == ue)
            return 0; /* only a scheme */
        if (e[1] != '/') {
            /* "host:port" without a scheme, or "mailto:x" */
            for (p = e + 1; p < ue && isdigit((unsigned char)*p); p++)
                ;
            if ((p == ue || *p == '/') && p - e < 7)
                goto parse_port;
            s = e + 1;
            goto just_path;
        }
        if (e + 2 < ue && e[2] == '/') {
            int is_file = e - s == 4 && strncasecmp(s, "file", 4) == 0;
            s = e + 3;
            if (is_file && e + 3 < ue && e[3] == '/')
                goto just_path; /* file:///path (a drive letter only moves s past '/') */
            goto parse_host;
        }
        s = e + 1;
        goto just_path;
    } else if (e) {
    parse_port:
        p = e + 1;
        for (pp = p; pp < ue && pp - p < 6 && isdigit((unsigned char)*pp); pp++)
            ;
        if (pp - p > 0 && pp - p < 6 && (pp == ue || *pp == '/')) {
            for (port = 0; p < pp; p++)
                port = port * 10 + (*p - '0');
            if (port > 65535)
                return 0;
            has_port = 1;
            if (s + 1 < ue && s[0] == '/' && s[1] == '/')
                s += 2;
        } else if (p == pp && pp == ue) {
            return 0;
        } else if (s + 1 < ue && s[0] == '/' && s[1] == '/') {
            s += 2;
        } else {
            goto just_path;
        }
    } else if (s + 1 < ue && s[0] == '/' && s[1] == '/') {
        s += 2;
    } else {
        goto just_path;
    }

parse_host:
    e = pu_first_of(s, ue, "/?#");
    if ((p = pu_last(s, e, '@')))
        s = p + 1;
    if (s < ue && *s == '[' && e[-1] == ']')
        p = NULL; /* [IPv6] */
    else
        p = pu_last(s, e, ':');
    if (p) {
        /* PHP tests the port *value*: a port of 0 is parsed again here. */
        if (!(has_port && port != 0)) {
            long v;
            if (e - (p + 1) > 5)
                return 0;
            if (e - (p + 1) > 0 && !pu_port_ok(p + 1, e, &v))
                return 0;
        }
    } else {
        p = e;
    }
    if (p - s < 1)
        return 0; /* no host: parse_url fails */
    if (e == ue)
        return 0;
    s = e;

just_path:
    e = ue;
    if ((p = memchr(s, '#', (size_t)(e - s))))
        e = p;
    if ((p = memchr(s, '?', (size_t)(e - s)))) {
        *q = p + 1;
        *qn = (size_t)(e - (p + 1));
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------- parse_str */

/* One PHP array element; arrays are linked lists of their children, and
 * one hash index over (array, key) finds an element. Index 0 is the root
 * array (never a child), so 0 also means "none". An array that is replaced
 * (by a string, or by a fresh array) gets a new aid, so its old children drop
 * out of the index without being touched. */
struct pu_node {
    const char *key; /* string key (when !kint), points into the decoded query */
    size_t klen;
    int64_t ik;
    const char *val; /* string value (when !isarr) */
    size_t vlen;
    uint32_t first, last, next, count;
    uint32_t aid;        /* this array's id, when isarr */
    uint32_t parent_aid; /* the aid of the array holding this element */
    uint32_t hash;       /* of (parent_aid, key) */
    int64_t next_free;   /* PHP's nNextFreeElement, valid when has_int */
    uint8_t kint, isarr, has_int, dead;
};

struct pu_pool {
    struct pu_node *n;
    uint32_t len, cap;
    uint32_t *ht; /* node indexes, 0 = empty; open addressing, load <= 1/2 */
    uint32_t ht_size, ht_used;
    uint32_t next_aid;
    int oom;
};

static uint32_t pu_pool_new(struct pu_pool *pl)
{
    if (pl->len == pl->cap) {
        uint32_t cap = pl->cap ? pl->cap * 2 : 64;
        struct pu_node *n = cap > pl->cap ? realloc(pl->n, (size_t)cap * sizeof *n) : NULL;
        if (!n) {
            pl->oom = 1;
            return 0;
        }
        pl->n = n;
        pl->cap = cap;
    }
    memset(&pl->n[pl->len], 0, sizeof pl->n[0]);
    return pl->len++;
}

/* A key as PHP's symtable stores it: int-like strings become ints. */
struct pu_key {
    const char *s;
    size_t n;
    int64_t i;
    int isint;
};

static struct pu_key pu_mkkey(const char *s, size_t n)
{
    struct pu_key k = {s, n, 0, 0};
    k.isint = phpser_key_is_int(s, n, &k.i);
    return k;
}

static uint32_t pu_key_hash(const struct pu_key *k, uint32_t seed)
{
    uint32_t h = 2166136261u ^ seed;
    if (k->isint) {
        uint64_t v = (uint64_t)k->i;
        for (int i = 0; i < 8; i++, v >>= 8)
            h = (h ^ (uint8_t)v) * 16777619u;
        return h ^ 0x5bd1e995u;
    }
    for (size_t i = 0; i < k->n; i++)
        h = (h ^ (unsigned char)k->s[i]) * 16777619u;
    return h;
}

static int pu_key_eq(const struct pu_node *x, const struct pu_key *k)
{
    return k->isint ? (x->kint && x->ik == k->i)
                    : (!x->kint && x->klen == k->n && memcmp(x->key, k->s, k->n) == 0);
}

static uint32_t pu_arr_find(struct pu_pool *pl, uint32_t arr, const struct pu_key *k)
{
    if (!pl->ht_size)
        return 0;
    uint32_t aid = pl->n[arr].aid, h = pu_key_hash(k, aid), m = pl->ht_size - 1;
    for (uint32_t i = h & m; pl->ht[i]; i = (i + 1) & m) {
        const struct pu_node *x = &pl->n[pl->ht[i]];
        if (x->hash == h && x->parent_aid == aid && !x->dead && pu_key_eq(x, k))
            return pl->ht[i];
    }
    return 0;
}

static int pu_ht_insert(struct pu_pool *pl, uint32_t c)
{
    if (2 * (pl->ht_used + 1) > pl->ht_size) {
        uint32_t size = pl->ht_size ? pl->ht_size * 2 : 256;
        uint32_t *t = size > pl->ht_size ? calloc(size, sizeof *t) : NULL;
        if (!t) {
            pl->oom = 1;
            return -1;
        }
        for (uint32_t j = 0; j < pl->ht_size; j++) {
            uint32_t e = pl->ht[j];
            if (!e)
                continue;
            uint32_t i = pl->n[e].hash & (size - 1);
            while (t[i])
                i = (i + 1) & (size - 1);
            t[i] = e;
        }
        free(pl->ht);
        pl->ht = t;
        pl->ht_size = size;
    }
    uint32_t i = pl->n[c].hash & (pl->ht_size - 1);
    while (pl->ht[i])
        i = (i + 1) & (pl->ht_size - 1);
    pl->ht[i] = c;
    pl->ht_used++;
    return 0;
}

static uint32_t pu_arr_add(struct pu_pool *pl, uint32_t arr, const struct pu_key *k)
{
    uint32_t c = pu_pool_new(pl);
    if (!c)
        return 0;
    struct pu_node *x = &pl->n[c], *a = &pl->n[arr];
    x->parent_aid = a->aid;
    x->hash = pu_key_hash(k, a->aid);
    if (k->isint) {
        x->kint = 1;
        x->ik = k->i;
        /* PHP 8.2: the next free index follows the largest int key, negative too. */
        if (!a->has_int || k->i >= a->next_free) {
            a->next_free = k->i < INT64_MAX ? k->i + 1 : INT64_MAX;
            a->has_int = 1;
        }
    } else {
        x->key = k->s;
        x->klen = k->n;
    }
    if (a->last)
        pl->n[a->last].next = c;
    else
        a->first = c;
    a->last = c;
    a->count++;
    if (pu_ht_insert(pl, c) != 0)
        return 0;
    return c;
}

/* $arr[] = ...: returns the new element, or 0 when PHP's insert fails (the
 * next index is INT64_MAX and already taken) or on OOM. */
static uint32_t pu_arr_append(struct pu_pool *pl, uint32_t arr)
{
    struct pu_key k = {NULL, 0, pl->n[arr].has_int ? pl->n[arr].next_free : 0, 1};
    /* next_free is above every int key unless it is stuck at INT64_MAX */
    if (k.i == INT64_MAX && pu_arr_find(pl, arr, &k))
        return 0;
    return pu_arr_add(pl, arr, &k);
}

static void pu_node_set_str(struct pu_node *x, const char *v, size_t vn)
{
    x->isarr = 0;
    x->aid = 0;
    x->first = x->last = x->count = 0;
    x->has_int = 0;
    x->val = v;
    x->vlen = vn;
}

static void pu_node_set_arr(struct pu_pool *pl, uint32_t c)
{
    struct pu_node *x = &pl->n[c];
    x->aid = ++pl->next_aid;
    x->isarr = 1;
    x->first = x->last = x->count = 0;
    x->has_int = 0;
}

static void pu_arr_del(struct pu_pool *pl, uint32_t arr, const struct pu_key *k)
{
    uint32_t c = pu_arr_find(pl, arr, k), prev = 0;
    if (!c)
        return;
    for (uint32_t i = pl->n[arr].first; i != c; i = pl->n[i].next)
        prev = i;
    if (prev)
        pl->n[prev].next = pl->n[c].next;
    else
        pl->n[arr].first = pl->n[c].next;
    if (pl->n[arr].last == c)
        pl->n[arr].last = prev;
    pl->n[arr].count--;
    pl->n[c].dead = 1;
}

/* plain_var: $arr[key] = val, or $arr[] = val when key is NULL. */
static void pu_arr_put(struct pu_pool *pl, uint32_t arr, const char *key, size_t kn, const char *v, size_t vn)
{
    uint32_t c;
    if (!key) {
        c = pu_arr_append(pl, arr);
    } else {
        struct pu_key k = pu_mkkey(key, kn);
        c = pu_arr_find(pl, arr, &k);
        if (!c)
            c = pu_arr_add(pl, arr, &k);
    }
    if (c)
        pu_node_set_str(&pl->n[c], v, vn);
}

/* php_register_variable_ex for one decoded name (already cut at a NUL; its
 * bytes are rewritten in place as PHP does) and value. */
static void pu_register_var(struct pu_pool *pl, char *s, size_t n, const char *v, size_t vn)
{
    while (n > 0 && *s == ' ') {
        s++;
        n--;
    }
    size_t i = 0;
    for (; i < n && s[i] != '['; i++)
        if (s[i] == ' ' || s[i] == '.')
            s[i] = '_';
    size_t var_len = i;
    if (var_len == 0)
        return;
    if (i == n) {
        pu_arr_put(pl, 0, s, var_len, v, vn);
        return;
    }

    uint32_t cur = 0;
    const char *idx = s; /* NULL: "[]" */
    size_t idx_len = var_len;
    size_t pos = var_len; /* at a '[' */
    for (unsigned level = 1;; level++) {
        if (level > PHPURL_MAX_NESTING) {
            struct pu_key k = pu_mkkey(s, var_len);
            pu_arr_del(pl, 0, &k);
            return;
        }
        size_t is = pos + 1, p2 = is, close;
        const char *nidx;
        size_t nlen = 0;
        if (p2 < n && isspace((unsigned char)s[p2]))
            p2++;
        if (p2 < n && s[p2] == ']') {
            nidx = NULL;
            close = p2;
        } else {
            const char *r = p2 < n ? memchr(s + p2, ']', n - p2) : NULL;
            if (!r) {
                /* Not an index. At the first level PHP turns the '[' and any
                 * later ' ', '.', '[' into '_' and uses the whole name; deeper,
                 * the name it looks at ends at the previous ']'. */
                if (level == 1) {
                    for (size_t j = pos; j < n; j++)
                        if (s[j] == ' ' || s[j] == '.' || s[j] == '[')
                            s[j] = '_';
                    pu_arr_put(pl, cur, s, n, v, vn);
                } else {
                    pu_arr_put(pl, cur, idx, idx_len, v, vn);
                }
                return;
            }
            close = (size_t)(r - s);
            nidx = s + is;
            nlen = close - is;
        }

        uint32_t child;
        if (!idx) {
            child = pu_arr_append(pl, cur);
            if (!child)
                return;
            pu_node_set_arr(pl, child);
        } else {
            struct pu_key k = pu_mkkey(idx, idx_len);
            child = pu_arr_find(pl, cur, &k);
            if (!child) {
                child = pu_arr_add(pl, cur, &k);
                if (!child)
                    return;
                pu_node_set_arr(pl, child);
            } else if (!pl->n[child].isarr) {
                pu_node_set_arr(pl, child);
            }
        }
        cur = child;
        idx = nidx;
        idx_len = nlen;
        pos = close + 1;
        if (pos < n && s[pos] == '[')
            continue;
        pu_arr_put(pl, cur, idx, idx_len, v, vn);
        return;
    }
}

static int pu_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* php_url_decode in place; returns the new length. */
static size_t pu_url_decode(char *s, size_t n)
{
    size_t r = 0, w = 0;
    while (r < n) {
        if (s[r] == '+') {
            s[w++] = ' ';
            r++;
        } else if (s[r] == '%' && n - r > 2 && pu_hexval(s[r + 1]) >= 0 && pu_hexval(s[r + 2]) >= 0) {
            s[w++] = (char)(pu_hexval(s[r + 1]) * 16 + pu_hexval(s[r + 2]));
            r += 3;
        } else {
            s[w++] = s[r++];
        }
    }
    return w;
}

/* parse_str(q) into pl (root = node 0). q is a private copy, rewritten. */
static void pu_parse_str(struct pu_pool *pl, char *q, size_t n)
{
    unsigned count = 0;
    size_t i = 0;
    while (i < n) {
        if (q[i] == '&') {
            i++;
            continue;
        }
        size_t a = i;
        while (i < n && q[i] != '&')
            i++;
        if (++count > PHPURL_MAX_INPUT_VARS)
            break;
        char *tok = q + a;
        size_t tn = i - a;
        char *eq = memchr(tok, '=', tn);
        size_t nn = eq ? (size_t)(eq - tok) : tn;
        char *v = eq ? eq + 1 : tok + tn;
        size_t vn = eq ? tn - nn - 1 : 0;
        nn = pu_url_decode(tok, nn);
        nn = strnlen(tok, nn); /* PHP handles the name as a C string */
        vn = pu_url_decode(v, vn);
        pu_register_var(pl, tok, nn, v, vn);
        if (pl->oom)
            return;
    }
}

static void pu_write_node(struct phpser_w *w, const struct pu_pool *pl, uint32_t a)
{
    phpser_w_arr(w, pl->n[a].count);
    for (uint32_t c = pl->n[a].first; c; c = pl->n[c].next) {
        const struct pu_node *x = &pl->n[c];
        if (x->kint)
            phpser_w_int(w, x->ik);
        else
            phpser_w_str(w, x->key, x->klen);
        if (x->isarr)
            pu_write_node(w, pl, c); /* depth <= PHPURL_MAX_NESTING + 1 */
        else
            phpser_w_str(w, x->val, x->vlen);
    }
    phpser_w_end(w);
}

int phpurl_parse_str(struct phpser_w *w, const char *q, size_t n)
{
    struct pu_pool pl = {NULL, 0, 0, NULL, 0, 0, 0, 0};
    char *copy = NULL;
    int rc = -ENOMEM;
    if (pu_pool_new(&pl) != 0 || pl.oom) /* the root */
        goto out;
    pu_node_set_arr(&pl, 0);
    if (n > 0) {
        if (!(copy = malloc(n)))
            goto out;
        memcpy(copy, q, n);
        pu_parse_str(&pl, copy, n);
        if (pl.oom)
            goto out;
    }
    pu_write_node(w, &pl, 0);
    rc = w->err;
out:
    if (rc == -ENOMEM && !w->err)
        w->err = -ENOMEM;
    free(pl.n);
    free(pl.ht);
    free(copy);
    return rc;
}
