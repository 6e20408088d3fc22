/* wsconnect: the ON_WEBSOCKET_CONNECT body (spec §8). See wsconnect.h.
 *
 * Three PHP behaviours are reproduced here, each checked against PHP 8.2 with
 * workerman 5.2.2's Request:
 *   - parse_url() deciding what the query string is (it fails on some
 *     targets, e.g. "/a:80", and then QUERY_STRING is "" and get is []);
 *   - parse_str() (php_default_treat_data + php_register_variable_ex):
 *     '&'-separated, empty pieces skipped, at most 1000 pieces, names
 *     percent-decoded then cut at a NUL, leading spaces dropped, ' ' and '.'
 *     made '_', brackets making nested arrays (max 64 levels), int-like keys
 *     stored as ints, "[]" appending at the array's next free index;
 *   - Request::parseHeaders()/cookie(): header names lower-cased for lookup,
 *     repeats joined with ",", values trimmed of " \t"; cookie names trimmed
 *     of PHP's trim() set, values kept raw.
 */
#include "wsconnect.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phpser.h"

size_t wsconnect_head_len(const char *buf, size_t len)
{
    const char *p = len >= 4 ? memmem(buf, len, "\r\n\r\n", 4) : NULL;
    return p ? (size_t)(p - buf) + 4 : 0;
}

static void wsc__err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void wsc__err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------ serializer */

/* Output with a sticky error, so the builders need not test every append. */
struct wsc__out {
    struct buf *b;
    int bad;
};

static void wsc__out_raw(struct wsc__out *o, const void *p, size_t n)
{
    if (!o->bad && buf_append(o->b, p, n) != 0)
        o->bad = 1;
}

static void wsc__out_str(struct wsc__out *o, const char *p, size_t n)
{
    if (!o->bad && buf_printf(o->b, "s:%zu:\"", n) != 0)
        o->bad = 1;
    wsc__out_raw(o, p, n);
    wsc__out_raw(o, "\";", 2);
}

static void wsc__out_int(struct wsc__out *o, int64_t v)
{
    if (!o->bad && buf_printf(o->b, "i:%lld;", (long long)v) != 0)
        o->bad = 1;
}

static void wsc__out_arr(struct wsc__out *o, size_t n)
{
    if (!o->bad && buf_printf(o->b, "a:%zu:{", n) != 0)
        o->bad = 1;
}

/* ------------------------------------------------------------- parse_url */

static const char *wsc__first_of(const char *s, const char *e, const char *set)
{
    for (const char *p = s; p < e; p++)
        if (strchr(set, *p) && *p)
            return p;
    return e;
}

static const char *wsc__last(const char *s, const char *e, char c)
{
    for (const char *p = e; p > s; p--)
        if (p[-1] == c)
            return p - 1;
    return NULL;
}

/* The port text after a host's last ':' as PHP reads it with strtol():
 * optional sign, at least one digit, value 0..65535 (trailing junk allowed). */
static int wsc__port_ok(const char *p, const char *e, long *port)
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

static int wsc__scheme_char(char c)
{
    return isalpha((unsigned char)c) || isdigit((unsigned char)c) || c == '+' || c == '.' || c == '-';
}

/* The query component of parse_url(target) (PHP 8.2 php_url_parse_ex2).
 * Returns 1 with [*q, *q + *qn) when there is one, 0 when parse_url has no
 * query or fails (both give workerman's ""). The target holds no control
 * bytes (checked by the caller), so PHP's control-char replacement never
 * applies. */
static int wsc__url_query(const char *str, size_t length, const char **q, size_t *qn)
{
    const char *s = str, *ue = str + length, *e, *p, *pp;
    long port = 0;
    int has_port = 0;

    e = memchr(s, ':', length);
    if (e && e != s) {
        for (p = s; p < e; p++) {
            if (wsc__scheme_char(*p))
                continue;
            if (e + 1 < ue && e < wsc__first_of(s, ue, "?#"))
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
    e = wsc__first_of(s, ue, "/?#");
    if ((p = wsc__last(s, e, '@')))
        s = p + 1;
    if (s < ue && *s == '[' && e[-1] == ']')
        p = NULL; /* [IPv6] */
    else
        p = wsc__last(s, e, ':');
    if (p) {
        /* PHP tests the port *value*: a port of 0 is parsed again here. */
        if (!(has_port && port != 0)) {
            long v;
            if (e - (p + 1) > 5)
                return 0;
            if (e - (p + 1) > 0 && !wsc__port_ok(p + 1, e, &v))
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
struct wsc__node {
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

struct wsc__pool {
    struct wsc__node *n;
    uint32_t len, cap;
    uint32_t *ht; /* node indexes, 0 = empty; open addressing, load <= 1/2 */
    uint32_t ht_size, ht_used;
    uint32_t next_aid;
    int oom;
};

static uint32_t wsc__pool_new(struct wsc__pool *pl)
{
    if (pl->len == pl->cap) {
        uint32_t cap = pl->cap ? pl->cap * 2 : 64;
        struct wsc__node *n = cap > pl->cap ? realloc(pl->n, (size_t)cap * sizeof *n) : NULL;
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
struct wsc__key {
    const char *s;
    size_t n;
    int64_t i;
    int isint;
};

static struct wsc__key wsc__mkkey(const char *s, size_t n)
{
    struct wsc__key k = {s, n, 0, 0};
    k.isint = phpser_key_is_int(s, n, &k.i);
    return k;
}

static uint32_t wsc__key_hash(const struct wsc__key *k, uint32_t seed)
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

static int wsc__key_eq(const struct wsc__node *x, const struct wsc__key *k)
{
    return k->isint ? (x->kint && x->ik == k->i)
                    : (!x->kint && x->klen == k->n && memcmp(x->key, k->s, k->n) == 0);
}

static uint32_t wsc__arr_find(struct wsc__pool *pl, uint32_t arr, const struct wsc__key *k)
{
    if (!pl->ht_size)
        return 0;
    uint32_t aid = pl->n[arr].aid, h = wsc__key_hash(k, aid), m = pl->ht_size - 1;
    for (uint32_t i = h & m; pl->ht[i]; i = (i + 1) & m) {
        const struct wsc__node *x = &pl->n[pl->ht[i]];
        if (x->hash == h && x->parent_aid == aid && !x->dead && wsc__key_eq(x, k))
            return pl->ht[i];
    }
    return 0;
}

static int wsc__ht_insert(struct wsc__pool *pl, uint32_t c)
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

static uint32_t wsc__arr_add(struct wsc__pool *pl, uint32_t arr, const struct wsc__key *k)
{
    uint32_t c = wsc__pool_new(pl);
    if (!c)
        return 0;
    struct wsc__node *x = &pl->n[c], *a = &pl->n[arr];
    x->parent_aid = a->aid;
    x->hash = wsc__key_hash(k, a->aid);
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
    if (wsc__ht_insert(pl, c) != 0)
        return 0;
    return c;
}

/* $arr[] = ...: returns the new element, or 0 when PHP's insert fails (the
 * next index is INT64_MAX and already taken) or on OOM. */
static uint32_t wsc__arr_append(struct wsc__pool *pl, uint32_t arr)
{
    struct wsc__key k = {NULL, 0, pl->n[arr].has_int ? pl->n[arr].next_free : 0, 1};
    /* next_free is above every int key unless it is stuck at INT64_MAX */
    if (k.i == INT64_MAX && wsc__arr_find(pl, arr, &k))
        return 0;
    return wsc__arr_add(pl, arr, &k);
}

static void wsc__node_set_str(struct wsc__node *x, const char *v, size_t vn)
{
    x->isarr = 0;
    x->aid = 0;
    x->first = x->last = x->count = 0;
    x->has_int = 0;
    x->val = v;
    x->vlen = vn;
}

static void wsc__node_set_arr(struct wsc__pool *pl, uint32_t c)
{
    struct wsc__node *x = &pl->n[c];
    x->aid = ++pl->next_aid;
    x->isarr = 1;
    x->first = x->last = x->count = 0;
    x->has_int = 0;
}

static void wsc__arr_del(struct wsc__pool *pl, uint32_t arr, const struct wsc__key *k)
{
    uint32_t c = wsc__arr_find(pl, arr, k), prev = 0;
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
static void wsc__arr_put(struct wsc__pool *pl, uint32_t arr, const char *key, size_t kn, const char *v, size_t vn)
{
    uint32_t c;
    if (!key) {
        c = wsc__arr_append(pl, arr);
    } else {
        struct wsc__key k = wsc__mkkey(key, kn);
        c = wsc__arr_find(pl, arr, &k);
        if (!c)
            c = wsc__arr_add(pl, arr, &k);
    }
    if (c)
        wsc__node_set_str(&pl->n[c], v, vn);
}

/* php_register_variable_ex for one decoded name (already cut at a NUL; its
 * bytes are rewritten in place as PHP does) and value. */
static void wsc__register_var(struct wsc__pool *pl, char *s, size_t n, const char *v, size_t vn)
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
        wsc__arr_put(pl, 0, s, var_len, v, vn);
        return;
    }

    uint32_t cur = 0;
    const char *idx = s; /* NULL: "[]" */
    size_t idx_len = var_len;
    size_t pos = var_len; /* at a '[' */
    for (unsigned level = 1;; level++) {
        if (level > WSCONNECT_MAX_NESTING) {
            struct wsc__key k = wsc__mkkey(s, var_len);
            wsc__arr_del(pl, 0, &k);
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
                    wsc__arr_put(pl, cur, s, n, v, vn);
                } else {
                    wsc__arr_put(pl, cur, idx, idx_len, v, vn);
                }
                return;
            }
            close = (size_t)(r - s);
            nidx = s + is;
            nlen = close - is;
        }

        uint32_t child;
        if (!idx) {
            child = wsc__arr_append(pl, cur);
            if (!child)
                return;
            wsc__node_set_arr(pl, child);
        } else {
            struct wsc__key k = wsc__mkkey(idx, idx_len);
            child = wsc__arr_find(pl, cur, &k);
            if (!child) {
                child = wsc__arr_add(pl, cur, &k);
                if (!child)
                    return;
                wsc__node_set_arr(pl, child);
            } else if (!pl->n[child].isarr) {
                wsc__node_set_arr(pl, child);
            }
        }
        cur = child;
        idx = nidx;
        idx_len = nlen;
        pos = close + 1;
        if (pos < n && s[pos] == '[')
            continue;
        wsc__arr_put(pl, cur, idx, idx_len, v, vn);
        return;
    }
}

static int wsc__hexval(char c)
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
static size_t wsc__url_decode(char *s, size_t n)
{
    size_t r = 0, w = 0;
    while (r < n) {
        if (s[r] == '+') {
            s[w++] = ' ';
            r++;
        } else if (s[r] == '%' && n - r > 2 && wsc__hexval(s[r + 1]) >= 0 && wsc__hexval(s[r + 2]) >= 0) {
            s[w++] = (char)(wsc__hexval(s[r + 1]) * 16 + wsc__hexval(s[r + 2]));
            r += 3;
        } else {
            s[w++] = s[r++];
        }
    }
    return w;
}

/* parse_str(q) into pl (root = node 0). q is a private copy, rewritten. */
static void wsc__parse_str(struct wsc__pool *pl, char *q, size_t n)
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
        if (++count > WSCONNECT_MAX_INPUT_VARS)
            break;
        char *tok = q + a;
        size_t tn = i - a;
        char *eq = memchr(tok, '=', tn);
        size_t nn = eq ? (size_t)(eq - tok) : tn;
        char *v = eq ? eq + 1 : tok + tn;
        size_t vn = eq ? tn - nn - 1 : 0;
        nn = wsc__url_decode(tok, nn);
        nn = strnlen(tok, nn); /* PHP handles the name as a C string */
        vn = wsc__url_decode(v, vn);
        wsc__register_var(pl, tok, nn, v, vn);
        if (pl->oom)
            return;
    }
}

static void wsc__out_node(struct wsc__out *o, const struct wsc__pool *pl, uint32_t a)
{
    wsc__out_arr(o, pl->n[a].count);
    for (uint32_t c = pl->n[a].first; c; c = pl->n[c].next) {
        const struct wsc__node *x = &pl->n[c];
        if (x->kint)
            wsc__out_int(o, x->ik);
        else
            wsc__out_str(o, x->key, x->klen);
        if (x->isarr)
            wsc__out_node(o, pl, c); /* depth <= WSCONNECT_MAX_NESTING + 1 */
        else
            wsc__out_str(o, x->val, x->vlen);
    }
    wsc__out_raw(o, "}", 1);
}

/* ---------------------------------------------------------- HTTP headers */

struct wsc__hdr {
    const char *name; /* as sent */
    size_t nlen;
    const char *val; /* trimmed of " \t" */
    size_t vlen;
    int dup_next; /* next line with the same (case-insensitive) name, -1 */
    int uniq;     /* first line of this name */
    int skey_src; /* for a first line: the last first-line whose HTTP_ key equals ours, -1 if
                     ours is taken by an earlier header */
};

static int wsc__is_tchar(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int wsc__name_eq_ci(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && strncasecmp(a, b, an) == 0;
}

/* The HTTP_ key of a name: upper-case, '-' -> '_'. */
static int wsc__skey_eq(const char *a, size_t an, const char *b, size_t bn)
{
    if (an != bn)
        return 0;
    for (size_t i = 0; i < an; i++) {
        char x = a[i] == '-' ? '_' : (char)toupper((unsigned char)a[i]);
        char y = b[i] == '-' ? '_' : (char)toupper((unsigned char)b[i]);
        if (x != y)
            return 0;
    }
    return 1;
}

/* The server key of a header: "HTTP_" . strtoupper(str_replace('-', '_', name)). */
static void wsc__out_hkey(struct wsc__out *o, const char *name, size_t n)
{
    if (!o->bad && buf_printf(o->b, "s:%zu:\"HTTP_", n + 5) != 0)
        o->bad = 1;
    uint8_t *d = o->bad ? NULL : buf_reserve(o->b, n);
    if (!d) {
        o->bad = 1;
        return;
    }
    for (size_t j = 0; j < n; j++)
        d[j] = name[j] == '-' ? '_' : (uint8_t)toupper((unsigned char)name[j]);
    buf_commit(o->b, n);
    wsc__out_raw(o, "\";", 2);
}

/* Length of a header's value as Request::header() returns it (repeats joined with ','). */
static size_t wsc__hdr_joined_len(const struct wsc__hdr *h, int i)
{
    size_t n = 0;
    for (int j = i; j >= 0; j = h[j].dup_next)
        n += h[j].vlen + (j != i);
    return n;
}

static void wsc__out_hdr_joined(struct wsc__out *o, const struct wsc__hdr *h, int i)
{
    if (!o->bad && buf_printf(o->b, "s:%zu:\"", wsc__hdr_joined_len(h, i)) != 0)
        o->bad = 1;
    for (int j = i; j >= 0; j = h[j].dup_next) {
        if (j != i)
            wsc__out_raw(o, ",", 1);
        wsc__out_raw(o, h[j].val, h[j].vlen);
    }
    wsc__out_raw(o, "\";", 2);
}

static int wsc__hdr_lookup(const struct wsc__hdr *h, int nh, const char *name)
{
    for (int i = 0; i < nh; i++)
        if (h[i].uniq == i && wsc__name_eq_ci(h[i].name, h[i].nlen, name, strlen(name)))
            return i;
    return -1;
}

/* ---------------------------------------------------------------- cookie */

struct wsc__cookie {
    struct wsc__key k;
    uint32_t hash;
    const char *val;
    size_t vlen;
};

static int wsc__php_trim_char(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\0' || c == '\x0b';
}

/* Request::cookie(): fills *out (malloc'd, caller frees) with the map in PHP
 * order. Names are found through a hash index: a 16 KiB header holds
 * thousands of them. */
static int wsc__parse_cookie(const char *s, size_t n, struct wsc__cookie **out, size_t *count)
{
    size_t pieces = 1, cnt = 0;
    for (size_t i = 0; i < n; i++)
        pieces += s[i] == ';';
    size_t slots = 16;
    while (slots < 2 * pieces)
        slots *= 2;
    struct wsc__cookie *c = malloc(pieces * sizeof *c);
    uint32_t *idx = calloc(slots, sizeof *idx); /* entry + 1, 0 = empty */
    if (!c || !idx) {
        free(c);
        free(idx);
        return -1;
    }
    size_t i = 0;
    while (i <= n) {
        size_t a = i;
        while (i < n && s[i] != ';')
            i++;
        const char *piece = s + a, *eq = memchr(piece, '=', i - a);
        size_t pn = i - a;
        i++; /* past ';' (or past the end) */
        if (!eq)
            continue;
        const char *nm = piece, *ne = eq;
        while (nm < ne && wsc__php_trim_char(*nm))
            nm++;
        while (ne > nm && wsc__php_trim_char(ne[-1]))
            ne--;
        struct wsc__cookie e = {wsc__mkkey(nm, (size_t)(ne - nm)), 0, eq + 1, pn - (size_t)(eq - piece) - 1};
        e.hash = wsc__key_hash(&e.k, 0);
        size_t sl = e.hash & (slots - 1);
        for (; idx[sl]; sl = (sl + 1) & (slots - 1)) {
            struct wsc__cookie *x = &c[idx[sl] - 1];
            if (x->hash == e.hash && x->k.isint == e.k.isint &&
                (x->k.isint ? x->k.i == e.k.i : (x->k.n == e.k.n && memcmp(x->k.s, e.k.s, e.k.n) == 0)))
                break;
        }
        if (idx[sl]) {
            c[idx[sl] - 1].val = e.val; /* later wins, first position kept */
            c[idx[sl] - 1].vlen = e.vlen;
            continue;
        }
        c[cnt++] = e;
        idx[sl] = (uint32_t)cnt;
    }
    free(idx);
    *out = c;
    *count = cnt;
    return 0;
}

/* ------------------------------------------------------------------ body */

int wsconnect_body(const char *head, size_t len, const char *remote_addr, uint16_t remote_port,
                   uint16_t server_port, struct buf *out, char *err, size_t errlen)
{
    struct wsc__hdr h[WSCONNECT_MAX_HEADERS];
    int nh = 0;
    char *qcopy = NULL, *cookie_str = NULL;
    struct wsc__cookie *cookies = NULL;
    size_t ncookies = 0;
    struct wsc__pool pl = {NULL, 0, 0, NULL, 0, 0, 0, 0};
    size_t out_unread0 = out->len - out->off; /* appends may slide the unread bytes to the front */
    int rc = -1;

    if (err && errlen)
        err[0] = '\0';
    if (!remote_addr)
        remote_addr = "";

    size_t hl = wsconnect_head_len(head, len);
    if (hl == 0) {
        wsc__err(err, errlen, len > WSCONNECT_MAX_HEAD ? "request head longer than %u bytes"
                                                        : "incomplete request head (no blank line)",
                 WSCONNECT_MAX_HEAD);
        return -1;
    }
    if (hl > WSCONNECT_MAX_HEAD) {
        wsc__err(err, errlen, "request head longer than %u bytes", WSCONNECT_MAX_HEAD);
        return -1;
    }
    const char *end = head + hl - 2; /* the head's lines, each ending in CRLF */

    /* request line */
    const char *line_end = memmem(head, (size_t)(end - head), "\r\n", 2);
    size_t ll = (size_t)(line_end - head);
    if (ll < 4 || memcmp(head, "GET ", 4) != 0) {
        wsc__err(err, errlen, "not a GET request");
        return -1;
    }
    const char *target = head + 4, *t_end = target;
    while (t_end < line_end && *t_end != ' ') {
        unsigned char c = (unsigned char)*t_end;
        if (c < 0x21 || c == 0x7f) {
            wsc__err(err, errlen, "control byte in the request target");
            return -1;
        }
        t_end++;
    }
    size_t tlen = (size_t)(t_end - target);
    if (tlen == 0 || line_end - t_end != 9 || memcmp(t_end, " HTTP/1.", 8) != 0 ||
        !isdigit((unsigned char)t_end[8])) {
        wsc__err(err, errlen, "malformed request line (want GET target HTTP/1.x)");
        return -1;
    }

    /* header lines */
    for (const char *p = line_end + 2; p < end;) {
        const char *le = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (nh == (int)WSCONNECT_MAX_HEADERS) {
            wsc__err(err, errlen, "more than %u header lines", WSCONNECT_MAX_HEADERS);
            return -1;
        }
        const char *c = p;
        while (c < le && wsc__is_tchar((unsigned char)*c))
            c++;
        if (c == p || c == le || *c != ':') {
            wsc__err(err, errlen, "malformed header line %d (want token ':' value)", nh + 1);
            return -1;
        }
        const char *v = c + 1, *ve = le;
        for (const char *x = v; x < ve; x++)
            if (*x == '\r' || *x == '\n' || *x == '\0') {
                wsc__err(err, errlen, "CR, LF or NUL in the value of header line %d", nh + 1);
                return -1;
            }
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        struct wsc__hdr *x = &h[nh];
        x->name = p;
        x->nlen = (size_t)(c - p);
        x->val = v;
        x->vlen = (size_t)(ve - v);
        x->dup_next = -1;
        x->uniq = nh;
        x->skey_src = nh;
        for (int j = 0; j < nh; j++) {
            if (h[j].uniq == j && wsc__name_eq_ci(h[j].name, h[j].nlen, x->name, x->nlen)) {
                int k = j;
                while (h[k].dup_next >= 0)
                    k = h[k].dup_next;
                h[k].dup_next = nh;
                x->uniq = j;
                break;
            }
        }
        if (x->uniq == nh) {
            /* "X-A" and "X_A" are two headers but one HTTP_X_A: PHP overwrites
             * the value and keeps the first position. */
            for (int j = 0; j < nh; j++) {
                if (h[j].uniq == j && h[j].skey_src >= 0 && wsc__skey_eq(h[j].name, h[j].nlen, x->name, x->nlen)) {
                    h[j].skey_src = nh;
                    x->skey_src = -1;
                    break;
                }
            }
        }
        nh++;
        p = le + 2;
    }

    /* get */
    const char *q = NULL;
    size_t qn = 0;
    if (!wsc__url_query(target, tlen, &q, &qn)) {
        q = "";
        qn = 0;
    }
    if (wsc__pool_new(&pl) != 0 || pl.oom) /* the root */
        goto oom;
    wsc__node_set_arr(&pl, 0);
    if (qn > 0) {
        if (!(qcopy = malloc(qn)))
            goto oom;
        memcpy(qcopy, q, qn);
        wsc__parse_str(&pl, qcopy, qn);
        if (pl.oom)
            goto oom;
    }

    /* cookie */
    int ck = wsc__hdr_lookup(h, nh, "cookie");
    if (ck >= 0) {
        size_t cl = wsc__hdr_joined_len(h, ck), w = 0;
        if (!(cookie_str = malloc(cl + 1)))
            goto oom;
        for (int j = ck; j >= 0; j = h[j].dup_next) {
            if (j != ck)
                cookie_str[w++] = ',';
            memcpy(cookie_str + w, h[j].val, h[j].vlen);
            w += h[j].vlen;
        }
        if (wsc__parse_cookie(cookie_str, cl, &cookies, &ncookies) != 0)
            goto oom;
    }

    struct wsc__out o = {out, 0};
    wsc__out_raw(&o, "a:3:{s:3:\"get\";", 15);
    wsc__out_node(&o, &pl, 0);

    size_t nserver = 9;
    for (int i = 0; i < nh; i++)
        if (h[i].uniq == i && h[i].skey_src >= 0)
            nserver++;
    wsc__out_raw(&o, "s:6:\"server\";", 13);
    wsc__out_arr(&o, nserver);
    wsc__out_str(&o, "QUERY_STRING", 12);
    wsc__out_str(&o, q, qn);
    wsc__out_str(&o, "REQUEST_METHOD", 14);
    wsc__out_str(&o, "GET", 3);
    wsc__out_str(&o, "REQUEST_URI", 11);
    wsc__out_str(&o, target, tlen);
    /* "HTTP/" . everything after the first "HTTP/" of the request line */
    const char *hp = memmem(head, ll, "HTTP/", 5);
    wsc__out_str(&o, "SERVER_PROTOCOL", 15);
    wsc__out_str(&o, hp, (size_t)(line_end - hp));
    int host = wsc__hdr_lookup(h, nh, "host");
    wsc__out_str(&o, "SERVER_NAME", 11);
    if (host >= 0)
        wsc__out_hdr_joined(&o, h, host);
    else
        wsc__out_raw(&o, "N;", 2);
    int ct = wsc__hdr_lookup(h, nh, "content-type");
    wsc__out_str(&o, "CONTENT_TYPE", 12);
    if (ct >= 0)
        wsc__out_hdr_joined(&o, h, ct);
    else
        wsc__out_raw(&o, "N;", 2);
    wsc__out_str(&o, "REMOTE_ADDR", 11);
    wsc__out_str(&o, remote_addr, strlen(remote_addr));
    wsc__out_str(&o, "REMOTE_PORT", 11);
    wsc__out_int(&o, remote_port);
    wsc__out_str(&o, "SERVER_PORT", 11);
    wsc__out_int(&o, server_port);
    for (int i = 0; i < nh; i++) {
        if (h[i].uniq != i || h[i].skey_src < 0)
            continue;
        wsc__out_hkey(&o, h[i].name, h[i].nlen);
        wsc__out_hdr_joined(&o, h, h[i].skey_src);
    }
    wsc__out_raw(&o, "}", 1);

    wsc__out_raw(&o, "s:6:\"cookie\";", 13);
    wsc__out_arr(&o, ncookies);
    for (size_t i = 0; i < ncookies; i++) {
        if (cookies[i].k.isint)
            wsc__out_int(&o, cookies[i].k.i);
        else
            wsc__out_str(&o, cookies[i].k.s, cookies[i].k.n);
        wsc__out_str(&o, cookies[i].val, cookies[i].vlen);
    }
    wsc__out_raw(&o, "}}", 2);
    if (o.bad)
        goto oom;
    rc = 0;
    goto done;

oom:
    wsc__err(err, errlen, "out of memory");
done:
    if (rc != 0)
        out->len = out->off + out_unread0;
    free(pl.n);
    free(pl.ht);
    free(qcopy);
    free(cookie_str);
    free(cookies);
    return rc;
}
