#include "state.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* uthash's default answer to a failed allocation is exit(); a gateway must
 * survive it, so every HASH_ADD site declares `oom_` and checks it. */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) \
    do {                         \
        oom_ = 1;                \
    } while (0)
#include <uthash.h>
#include <utlist.h>

#include "log.h"
#include "phpser.h"

/* ------------------------------------------------------------ the types */

enum {
    CF_JOINED = 1u,    /* joined a group once: SELECT shows an array, maybe empty, not null */
    CF_KICKED = 2u,    /* KICK: flushing then closing; no more sends, no second KICK */
    CF_DESTROYED = 4u, /* DESTROY: dropped; nothing more at all */
    CF_DEAD = 8u,      /* removed while a command runs; freed when it returns */
};

struct gws_sess {
    uint32_t len;
    uint8_t data[];
};

struct gws_client {
    struct gws_client *prev, *next; /* every client in accept order (utlist: head->prev is the tail) */
    void *handle;                   /* the transport's; once CF_DEAD: the next zombie */
    struct gws_sess *sess;          /* NULL = no session (PHP's '') */
    struct gws_uidm *uid;           /* NULL = unbound */
    struct gws_member *groups;      /* memberships in join order, linked by c_prev/c_next */
    uint32_t id;
    uint8_t flags;
};

/* A uid and the clients bound to it, in bind order. */
struct gws_uid {
    UT_hash_handle hh;
    struct gws_uidm *members;
    uint32_t count;
    uint32_t len;
    char name[]; /* len bytes + NUL */
};

/* One binding; allocated only for bound clients so idle ones stay small. */
struct gws_uidm {
    struct gws_client *c;
    struct gws_uid *u;
    struct gws_uidm *prev, *next;
};

struct gws_group {
    UT_hash_handle hh;
    struct gws_member *members; /* join order, linked by g_prev/g_next */
    uint32_t count;
    uint32_t len;
    char name[];
};

/* One client in one group, on both the group's list and the client's. */
struct gws_member {
    struct gws_client *c;
    struct gws_group *g;
    struct gws_member *g_prev, *g_next;
    struct gws_member *c_prev, *c_next;
};

/* Open-addressing set of pointers (linear probing, backward-shift delete):
 * 8 bytes a slot at most half full, instead of a 56-byte UT_hash_handle in
 * every client and every membership. */
struct ptab {
    void **slot;
    size_t mask; /* capacity - 1 */
    size_t n;
    uint64_t (*hash)(const void *item);
};

struct gws {
    const struct gws_ops *ops;
    void *ctx;
    struct gws_client *clients; /* includes zombies until they are reaped */
    size_t nclients;            /* live ones */
    struct ptab ids;            /* connection id -> client */
    struct ptab members;        /* (group, client) -> membership */
    struct gws_uid *uids;
    struct gws_group *groups;
    size_t nuids, ngroups;
    uint32_t last_id;
    unsigned in_exec;
    struct gws_client *zombies;
};

/* ------------------------------------------------------------- hashing */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t hash_bytes(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return mix64(h);
}

#define PTAB_MIN 16u

static int ptab_resize(struct ptab *t, size_t cap)
{
    void **ns = calloc(cap, sizeof *ns);
    if (!ns)
        return -ENOMEM;
    size_t m = cap - 1;
    if (t->slot) {
        for (size_t i = 0; i <= t->mask; i++) {
            void *p = t->slot[i];
            if (!p)
                continue;
            size_t j = t->hash(p) & m;
            while (ns[j])
                j = (j + 1) & m;
            ns[j] = p;
        }
    }
    free(t->slot);
    t->slot = ns;
    t->mask = m;
    return 0;
}

static void *ptab_find(const struct ptab *t, uint64_t h, int (*eq)(const void *item, const void *key),
                       const void *key)
{
    if (!t->n)
        return NULL;
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        void *p = t->slot[i];
        if (!p)
            return NULL;
        if (eq(p, key))
            return p;
    }
}

/* item must not be in the table yet. */
static int ptab_add(struct ptab *t, void *item)
{
    if (!t->slot || t->n + 1 > (t->mask + 1) / 2) {
        if (ptab_resize(t, t->slot ? (t->mask + 1) * 2 : PTAB_MIN) < 0)
            return -ENOMEM;
    }
    size_t i = t->hash(item) & t->mask;
    while (t->slot[i])
        i = (i + 1) & t->mask;
    t->slot[i] = item;
    t->n++;
    return 0;
}

static void ptab_del(struct ptab *t, const void *item)
{
    if (!t->n)
        return;
    size_t m = t->mask;
    size_t i = t->hash(item) & m;
    while (t->slot[i] != item) {
        if (!t->slot[i])
            return;
        i = (i + 1) & m;
    }
    /* Shift later entries of the probe run back so no tombstones are needed. */
    for (size_t j = i;;) {
        j = (j + 1) & m;
        void *p = t->slot[j];
        if (!p)
            break;
        size_t k = t->hash(p) & m;
        /* p may fill the hole at i unless its home k lies cyclically in (i, j]. */
        if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
            t->slot[i] = p;
            i = j;
        }
    }
    t->slot[i] = NULL;
    t->n--;
    if (t->n == 0) {
        free(t->slot);
        t->slot = NULL;
        t->mask = 0;
    } else if (t->mask + 1 > PTAB_MIN && t->n < (t->mask + 1) / 8) {
        (void)ptab_resize(t, (t->mask + 1) / 2); /* a failed shrink only wastes memory */
    }
}

static void ptab_free(struct ptab *t)
{
    free(t->slot);
    t->slot = NULL;
    t->mask = t->n = 0;
}

static uint64_t hash_client(const void *p) { return mix64(((const struct gws_client *)p)->id); }
static int eq_client_id(const void *item, const void *key)
{
    return ((const struct gws_client *)item)->id == *(const uint32_t *)key;
}

static uint64_t hash_pair(const struct gws_group *g, const struct gws_client *c)
{
    return mix64((uint64_t)(uintptr_t)g * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)c);
}
static uint64_t hash_member(const void *p)
{
    const struct gws_member *m = p;
    return hash_pair(m->g, m->c);
}
static int eq_member(const void *item, const void *key)
{
    const struct gws_member *a = item, *b = key;
    return a->g == b->g && a->c == b->c;
}

/* Sets of connection ids, stored as the pointer value (ids are never 0). */
static uint64_t hash_idval(const void *p) { return mix64((uint64_t)(uintptr_t)p); }
static int eq_ptr(const void *item, const void *key) { return item == key; }

static int idset_has(const struct ptab *t, uint32_t id)
{
    void *k = (void *)(uintptr_t)id;
    return ptab_find(t, hash_idval(k), eq_ptr, k) != NULL;
}

static int idset_add(struct ptab *t, uint32_t id)
{
    if (idset_has(t, id))
        return 0;
    return ptab_add(t, (void *)(uintptr_t)id);
}

/* ------------------------------------------------------- clients, uids, groups */

struct gws *gws_new(const struct gws_ops *ops, void *ctx)
{
    struct gws *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->ops = ops;
    s->ctx = ctx;
    s->ids.hash = hash_client;
    s->members.hash = hash_member;
    return s;
}

struct gws_client *gws_client_find(struct gws *s, uint32_t conn_id)
{
    return ptab_find(&s->ids, mix64(conn_id), eq_client_id, &conn_id);
}

struct gws_client *gws_client_add(struct gws *s, void *handle)
{
    if (s->ids.n >= UINT32_MAX)
        return NULL;
    /* PHP: pre-increment, skip ids in use, 2^32-1 is followed by 1. (PHP
     * itself hands out 2^32 if the skip runs past the top; we wrap.) */
    uint32_t id = s->last_id;
    do
        id = id == UINT32_MAX ? 1 : id + 1;
    while (gws_client_find(s, id));
    struct gws_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->id = id;
    c->handle = handle;
    if (ptab_add(&s->ids, c) < 0) {
        free(c);
        return NULL;
    }
    s->last_id = id;
    DL_APPEND2(s->clients, c, prev, next);
    s->nclients++;
    return c;
}

static struct gws_uid *uid_find(struct gws *s, const void *name, size_t len)
{
    struct gws_uid *u = NULL;
    HASH_FIND(hh, s->uids, name ? name : "", (unsigned)len, u);
    return u;
}

static struct gws_group *group_find(struct gws *s, const void *name, size_t len)
{
    struct gws_group *g = NULL;
    HASH_FIND(hh, s->groups, name ? name : "", (unsigned)len, g);
    return g;
}

static void uid_unbind(struct gws *s, struct gws_client *c)
{
    struct gws_uidm *b = c->uid;
    if (!b)
        return;
    struct gws_uid *u = b->u;
    DL_DELETE2(u->members, b, prev, next);
    u->count--;
    free(b);
    c->uid = NULL;
    if (!u->count) {
        HASH_DEL(s->uids, u);
        s->nuids--;
        free(u);
    }
}

static int uid_bind(struct gws *s, struct gws_client *c, const void *name, size_t len)
{
    /* PHP unsets then re-adds, even for the same uid: the client moves to
     * the end of the uid's list. */
    uid_unbind(s, c);
    struct gws_uidm *b = malloc(sizeof *b);
    if (!b)
        return -ENOMEM;
    struct gws_uid *u = uid_find(s, name, len);
    if (!u) {
        int oom_ = 0;
        u = calloc(1, sizeof *u + len + 1);
        if (!u) {
            free(b);
            return -ENOMEM;
        }
        u->len = (uint32_t)len;
        memcpy(u->name, name, len);
        HASH_ADD_KEYPTR(hh, s->uids, u->name, (unsigned)u->len, u);
        if (oom_) {
            free(u);
            free(b);
            return -ENOMEM;
        }
        s->nuids++;
    }
    b->c = c;
    b->u = u;
    DL_APPEND2(u->members, b, prev, next);
    u->count++;
    c->uid = b;
    return 0;
}

static struct gws_member *member_find(struct gws *s, struct gws_group *g, struct gws_client *c)
{
    struct gws_member k = {.c = c, .g = g};
    return ptab_find(&s->members, hash_pair(g, c), eq_member, &k);
}

/* Frees m, and its group once empty. */
static void member_drop(struct gws *s, struct gws_member *m)
{
    struct gws_group *g = m->g;
    struct gws_client *c = m->c;
    ptab_del(&s->members, m);
    DL_DELETE2(g->members, m, g_prev, g_next);
    DL_DELETE2(c->groups, m, c_prev, c_next);
    free(m);
    if (!--g->count) {
        HASH_DEL(s->groups, g);
        s->ngroups--;
        free(g);
    }
}

static int group_join(struct gws *s, struct gws_client *c, const void *name, size_t len)
{
    struct gws_group *g = group_find(s, name, len);
    c->flags |= CF_JOINED;
    if (g && member_find(s, g, c))
        return 0; /* PHP re-assigns the same keys: positions do not change */
    struct gws_member *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    if (!g) {
        int oom_ = 0;
        g = calloc(1, sizeof *g + len + 1);
        if (!g) {
            free(m);
            return -ENOMEM;
        }
        g->len = (uint32_t)len;
        memcpy(g->name, name, len);
        HASH_ADD_KEYPTR(hh, s->groups, g->name, (unsigned)g->len, g);
        if (oom_) {
            free(g);
            free(m);
            return -ENOMEM;
        }
        s->ngroups++;
    }
    m->c = c;
    m->g = g;
    if (ptab_add(&s->members, m) < 0) {
        free(m);
        if (!g->count) {
            HASH_DEL(s->groups, g);
            s->ngroups--;
            free(g);
        }
        return -ENOMEM;
    }
    DL_APPEND2(g->members, m, g_prev, g_next);
    DL_APPEND2(c->groups, m, c_prev, c_next);
    g->count++;
    return 0;
}

static void client_free(struct gws *s, struct gws_client *c)
{
    uid_unbind(s, c);
    while (c->groups)
        member_drop(s, c->groups);
    DL_DELETE2(s->clients, c, prev, next);
    free(c->sess);
    free(c);
}

void gws_client_remove(struct gws *s, struct gws_client *c)
{
    if (!c || (c->flags & CF_DEAD))
        return;
    ptab_del(&s->ids, c);
    s->nclients--;
    c->flags |= CF_DEAD;
    if (s->in_exec) {
        /* A callback of the running command removes it: the command may be
         * walking a list that holds c, so unlink and free it afterwards. */
        c->handle = s->zombies;
        s->zombies = c;
        return;
    }
    client_free(s, c);
}

static void reap(struct gws *s)
{
    while (s->zombies) {
        struct gws_client *c = s->zombies;
        s->zombies = c->handle;
        client_free(s, c);
    }
}

void gws_free(struct gws *s)
{
    if (!s)
        return;
    s->zombies = NULL; /* still on s->clients: freed below */
    while (s->clients)
        client_free(s, s->clients);
    ptab_free(&s->ids);
    ptab_free(&s->members);
    HASH_CLEAR(hh, s->uids);
    HASH_CLEAR(hh, s->groups);
    free(s);
}

uint32_t gws_client_conn_id(const struct gws_client *c) { return c->id; }
void *gws_client_handle(const struct gws_client *c) { return c->handle; }
void gws_client_set_handle(struct gws_client *c, void *handle) { c->handle = handle; }
int gws_client_closing(const struct gws_client *c) { return (c->flags & (CF_KICKED | CF_DESTROYED)) != 0; }

const uint8_t *gws_client_session(const struct gws_client *c, size_t *len)
{
    *len = c->sess ? c->sess->len : 0;
    return c->sess ? c->sess->data : NULL;
}

struct gws_client *gws_client_next(struct gws *s, struct gws_client *c)
{
    c = c ? c->next : s->clients;
    while (c && (c->flags & CF_DEAD))
        c = c->next;
    return c;
}

size_t gws_client_count(const struct gws *s) { return s->nclients; }
size_t gws_group_count(const struct gws *s) { return s->ngroups; }
size_t gws_uid_count(const struct gws *s) { return s->nuids; }

static int set_session(struct gws_client *c, const void *p, size_t n)
{
    struct gws_sess *ns = NULL;
    if (n) {
        if (n > UINT32_MAX)
            return -EOVERFLOW;
        ns = malloc(sizeof *ns + n);
        if (!ns)
            return -ENOMEM;
        ns->len = (uint32_t)n;
        memcpy(ns->data, p, n);
    }
    free(c->sess);
    c->sess = ns;
    return 0;
}

/* ---------------------------------------------------- PHP-side helpers */

/* PHP empty() of a string: "" and "0". */
static int php_empty(const void *p, size_t n) { return n == 0 || (n == 1 && *(const char *)p == '0'); }

static int session_empty(const struct gws_client *c) { return !c->sess || php_empty(c->sess->data, c->sess->len); }

static void bad(const struct gwp_frame *f, const char *why)
{
    const char *name = gwp_cmd_name(f->hdr.cmd);
    log_warn("gateway: ignored malformed %s (connection %" PRIu32 "): %s", name ? name : "command",
             f->hdr.connection_id, why);
}

static json_t *ext_json(const struct gwp_frame *f)
{
    if (!f->ext_len)
        return NULL;
    return json_loadb((const char *)f->ext, f->ext_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

/* PHP empty() of a json_decode($x, true) result. */
static int json_php_empty(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
    case JSON_FALSE: return 1;
    case JSON_INTEGER: return json_integer_value(v) == 0;
    case JSON_REAL: return json_real_value(v) == 0;
    case JSON_STRING: return php_empty(json_string_value(v), json_string_length(v));
    case JSON_ARRAY: return json_array_size(v) == 0;
    case JSON_OBJECT: return json_object_size(v) == 0;
    default: return 0;
    }
}

/* foreach ($x as $v) over a decoded JSON list or object. */
struct jit {
    json_t *c;
    size_t i;
    void *it;
};

static int jit_init(struct jit *j, json_t *c)
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

static json_t *jit_next(struct jit *j)
{
    if (json_is_array(j->c))
        return j->i < json_array_size(j->c) ? json_array_get(j->c, j->i++) : NULL;
    if (!j->it)
        return NULL;
    json_t *v = json_object_iter_value(j->it);
    j->it = json_object_iter_next(j->c, j->it);
    return v;
}

static size_t json_count(const json_t *c) { return json_is_array(c) ? json_array_size(c) : json_object_size(c); }

/* The PHP array key a JSON scalar becomes, in string form — the form
 * uids and groups are stored in. */
struct pkey {
    const char *ext; /* the JSON string's bytes, or NULL: then num */
    size_t n;
    char num[24];
};

static const char *pk_ptr(const struct pkey *k) { return k->ext ? k->ext : k->num; }

/* 0 for an array or object (PHP: "Illegal offset type", a fatal error) and
 * for floats beyond int64 (PHP's conversion is platform noise). */
static int json_pkey(const json_t *v, struct pkey *k)
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

static int pkey_conn_id(const char *p, size_t n, uint32_t *id)
{
    int64_t v;
    if (!phpser_key_is_int(p, n, &v) || v < 1 || v > (int64_t)UINT32_MAX)
        return 0;
    *id = (uint32_t)v;
    return 1;
}

/* A JSON value used as a connection id (PHP: $clients[$v]). */
static int json_conn_id(const json_t *v, uint32_t *id)
{
    struct pkey k;
    return json_pkey(v, &k) && pkey_conn_id(pk_ptr(&k), k.n, id);
}

static uint64_t hash_pkey(const void *p)
{
    const struct pkey *k = p;
    return hash_bytes(pk_ptr(k), k->n);
}

static int eq_pkey(const void *item, const void *key)
{
    const struct pkey *a = item, *b = key;
    return a->n == b->n && memcmp(pk_ptr(a), pk_ptr(b), a->n) == 0;
}

/* The distinct PHP keys among the values of a JSON list/object, in first-
 * occurrence order (what `$r[$v] = …` in a foreach keeps). *out is malloc'd
 * (or NULL when empty) and points into c's strings. Values that cannot be
 * keys are skipped. Returns 0, -1 when c is not a list/object, -ENOMEM. */
static int json_distinct_keys(json_t *c, struct pkey **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    struct jit it;
    if (jit_init(&it, c) < 0)
        return -1;
    size_t max = json_count(c);
    if (!max)
        return 0;
    /* Sized once: the set below points into this array. */
    struct pkey *k = malloc(max * sizeof *k);
    struct ptab seen = {.hash = hash_pkey};
    if (!k)
        return -ENOMEM;
    size_t cnt = 0;
    for (json_t *v; (v = jit_next(&it));) {
        if (!json_pkey(v, &k[cnt]))
            continue;
        if (ptab_find(&seen, hash_pkey(&k[cnt]), eq_pkey, &k[cnt]))
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
static int exclude_set(json_t *ex, struct ptab *set)
{
    if (!ex || json_php_empty(ex))
        return 0;
    if (json_is_object(ex)) {
        const char *key;
        size_t klen;
        json_t *val;
        json_object_keylen_foreach(ex, key, klen, val)
        {
            uint32_t id;
            (void)val;
            if (pkey_conn_id(key, klen, &id) && idset_add(set, id) < 0)
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
            if (json_conn_id(val, &id) && idset_add(set, id) < 0)
                return -ENOMEM;
        }
        return 0;
    }
    return -1;
}

/* ---------------------------------------------------- reply serializing */

/* Sticky-error writer: a failed append leaves a gap, so stop at the first. */
struct sw {
    struct buf *b;
    int err;
};

static void sw_raw(struct sw *w, const void *p, size_t n)
{
    if (!w->err && n && buf_append(w->b, p, n) < 0)
        w->err = -ENOMEM;
}

__attribute__((format(printf, 2, 3))) static void sw_fmt(struct sw *w, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sw_raw(w, tmp, (size_t)n);
}

static void sw_int(struct sw *w, int64_t v) { sw_fmt(w, "i:%" PRId64 ";", v); }
static void sw_null(struct sw *w) { sw_raw(w, "N;", 2); }
static void sw_arr(struct sw *w, size_t n) { sw_fmt(w, "a:%zu:{", n); }
static void sw_end(struct sw *w) { sw_raw(w, "}", 1); }

static void sw_str(struct sw *w, const void *p, size_t n)
{
    sw_fmt(w, "s:%zu:\"", n);
    sw_raw(w, p, n);
    sw_raw(w, "\";", 2);
}

/* A name used as a PHP array key: canonical integers are int keys (§10.4). */
static void sw_key(struct sw *w, const char *p, size_t n)
{
    int64_t v;
    if (phpser_key_is_int(p, n, &v))
        sw_int(w, v);
    else
        sw_str(w, p, n);
}

static void sw_session(struct sw *w, const struct gws_client *c)
{
    if (c->sess)
        sw_str(w, c->sess->data, c->sess->len);
    else
        sw_str(w, "", 0);
}

static size_t reply_open(struct sw *w)
{
    size_t at = w->b->len;
    sw_raw(w, "\0\0\0\0", 4);
    return at;
}

/* Patches the length prefix, or removes the partial reply on error. */
static int reply_close(struct sw *w, size_t at)
{
    if (!w->err) {
        size_t n = w->b->len - at - 4;
        if (n > UINT32_MAX) {
            w->err = -EOVERFLOW;
        } else {
            uint8_t *p = w->b->data + at;
            p[0] = (uint8_t)(n >> 24);
            p[1] = (uint8_t)(n >> 16);
            p[2] = (uint8_t)(n >> 8);
            p[3] = (uint8_t)n;
        }
    }
    if (w->err)
        w->b->len = at;
    return w->err;
}

/* A whole reply from one literal ("i:1;", "a:0:{}", "N;"). */
static int reply_lit(struct sw *w, const char *payload)
{
    size_t at = reply_open(w);
    sw_raw(w, payload, strlen(payload));
    return reply_close(w, at);
}

/* ---------------------------------------------------------------- fan-out */

/* One message per command, built at the first recipient and shared. */
struct fan {
    struct gws *s;
    const struct gwp_frame *f;
    struct gwmsg *m;
    int err;
};

static unsigned msg_flags(const struct gwp_frame *f)
{
    return ((f->hdr.flag & GWP_FLAG_NOT_CALL_ENCODE) ? GWMSG_RAW : 0) |
           ((f->hdr.flag & GWP_FLAG_BODY_IS_SCALAR) ? 0 : GWMSG_ARRAY);
}

static void fan_send(struct fan *x, struct gws_client *c)
{
    /* PHP's send() on a closing connection returns false without sending. */
    if (x->err || (c->flags & (CF_KICKED | CF_DESTROYED | CF_DEAD)))
        return;
    if (!x->m) {
        x->m = gwmsg_new(x->f->body, x->f->body_len, msg_flags(x->f));
        if (!x->m) {
            x->err = -ENOMEM;
            return;
        }
    }
    x->s->ops->send(x->s->ctx, c, x->m);
}

static int fan_done(struct fan *x)
{
    gwmsg_unref(x->m);
    x->m = NULL;
    return x->err;
}

/* ---------------------------------------------------------------- commands */

static int cmd_send_to_one(struct gws *s, const struct gwp_frame *f)
{
    struct gws_client *c = gws_client_find(s, f->hdr.connection_id);
    if (!c)
        return 0;
    struct fan x = {s, f, NULL, 0};
    fan_send(&x, c);
    return fan_done(&x);
}

static int cmd_send_to_all(struct gws *s, const struct gwp_frame *f)
{
    struct fan x = {s, f, NULL, 0};
    struct ptab ex = {.hash = hash_idval};
    json_t *j = NULL;
    /* PHP: `$ext_data ? json_decode(...) : ''`, so "0" is a plain broadcast too. */
    if (!php_empty(f->ext, f->ext_len)) {
        j = ext_json(f);
        if (!json_is_object(j)) {
            bad(f, j ? "ext_data is not a JSON object" : "ext_data is not JSON");
            goto out;
        }
        json_t *conns = json_object_get(j, "connections");
        if (conns && !json_is_null(conns)) { /* PHP: isset($ext_data['connections']) */
            struct jit it;
            if (jit_init(&it, conns) < 0) {
                bad(f, "connections is not a list or object");
                goto out;
            }
            /* Every value, duplicates included: PHP sends once per listed id. */
            for (json_t *v; (v = jit_next(&it));) {
                uint32_t id;
                struct gws_client *c;
                if (json_conn_id(v, &id) && (c = gws_client_find(s, id)))
                    fan_send(&x, c);
            }
            goto out;
        }
        int r = exclude_set(json_object_get(j, "exclude"), &ex);
        if (r == -1) {
            bad(f, "exclude is not an object or list");
            goto out;
        }
        if (r < 0) {
            x.err = r;
            goto out;
        }
    }
    for (struct gws_client *c = s->clients; c; c = c->next)
        if (!ex.n || !idset_has(&ex, c->id))
            fan_send(&x, c);
out:
    json_decref(j);
    ptab_free(&ex);
    return fan_done(&x);
}

static int cmd_send_to_uid(struct gws *s, const struct gwp_frame *f)
{
    struct fan x = {s, f, NULL, 0};
    json_t *j = ext_json(f);
    struct jit it;
    if (jit_init(&it, j) < 0) {
        bad(f, j ? "ext_data is not a JSON list" : "ext_data is not JSON");
        goto out;
    }
    for (json_t *v; (v = jit_next(&it));) {
        struct pkey k;
        struct gws_uid *u;
        if (!json_pkey(v, &k) || !(u = uid_find(s, pk_ptr(&k), k.n)))
            continue;
        for (struct gws_uidm *b = u->members; b; b = b->next)
            fan_send(&x, b->c);
    }
out:
    json_decref(j);
    return fan_done(&x);
}

static int cmd_send_to_group(struct gws *s, const struct gwp_frame *f)
{
    struct fan x = {s, f, NULL, 0};
    struct ptab ex = {.hash = hash_idval};
    json_t *j = ext_json(f);
    struct jit it;
    if (!json_is_object(j)) {
        bad(f, j ? "ext_data is not a JSON object" : "ext_data is not JSON");
        goto out;
    }
    if (jit_init(&it, json_object_get(j, "group")) < 0) {
        bad(f, "group is not a list");
        goto out;
    }
    int r = exclude_set(json_object_get(j, "exclude"), &ex);
    if (r == -1) {
        bad(f, "exclude is not an object or list");
        goto out;
    }
    if (r < 0) {
        x.err = r;
        goto out;
    }
    /* A client in two listed groups gets the message twice, as from PHP. */
    for (json_t *v; (v = jit_next(&it));) {
        struct pkey k;
        struct gws_group *g;
        if (!json_pkey(v, &k) || !(g = group_find(s, pk_ptr(&k), k.n)))
            continue;
        for (struct gws_member *m = g->members; m; m = m->g_next)
            if (!ex.n || !idset_has(&ex, m->c->id))
                fan_send(&x, m->c);
    }
out:
    json_decref(j);
    ptab_free(&ex);
    return fan_done(&x);
}

static int cmd_kick(struct gws *s, const struct gwp_frame *f)
{
    struct gws_client *c = gws_client_find(s, f->hdr.connection_id);
    if (!c || (c->flags & (CF_KICKED | CF_DESTROYED)))
        return 0;
    /* close($body): a serialized null ("N;", flag 0) means no goodbye; any
     * other body, even empty, is sent first, through the encoder (never raw). */
    struct gwmsg *bye = NULL;
    int scalar = (f->hdr.flag & GWP_FLAG_BODY_IS_SCALAR) != 0;
    if (scalar || !(f->body_len == 2 && memcmp(f->body, "N;", 2) == 0)) {
        bye = gwmsg_new(f->body, f->body_len, scalar ? 0 : GWMSG_ARRAY);
        if (!bye)
            return -ENOMEM;
    }
    c->flags |= CF_KICKED;
    s->ops->close(s->ctx, c, bye, 1);
    gwmsg_unref(bye);
    return 0;
}

static int cmd_destroy(struct gws *s, const struct gwp_frame *f)
{
    struct gws_client *c = gws_client_find(s, f->hdr.connection_id);
    /* A kicked client still flushing can be destroyed, as in PHP. */
    if (!c || (c->flags & CF_DESTROYED))
        return 0;
    c->flags |= CF_DESTROYED;
    s->ops->close(s->ctx, c, NULL, 0);
    return 0;
}

/* Sessions nest as deep as the application makes them; PHP has no limit of
 * its own worth copying, so allow far more than the protocol's 64. */
static const struct phpser_limits session_limits = {512, 0};

static int cmd_update_session(struct gws *s, const struct gwp_frame *f)
{
    struct gws_client *c = gws_client_find(s, f->hdr.connection_id);
    if (!c)
        return 0;
    if (session_empty(c))
        return set_session(c, f->ext, f->ext_len);
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 4096))
        return -ENOMEM;
    msgpack_object cur, upd;
    struct buf out = BUF_INIT;
    int r = 0;
    if (phpser_decode(c->sess->data, c->sess->len, &zone, &cur, &session_limits, NULL, 0) < 0 ||
        cur.type != MSGPACK_OBJECT_MAP) {
        /* PHP dies here (TypeError in array_replace_recursive); we treat
         * the stored bytes as no session, which stores ext_data as is. */
        log_warn("gateway: stored session of connection %" PRIu32
                 " is not a serialized array; UPDATE_SESSION replaces it",
                 c->id);
        r = set_session(c, f->ext, f->ext_len);
        goto out;
    }
    if (phpser_decode(f->ext, f->ext_len, &zone, &upd, &session_limits, NULL, 0) < 0 ||
        upd.type != MSGPACK_OBJECT_MAP) {
        bad(f, "ext_data is not a serialized array");
        goto out;
    }
    if ((r = gwmsg_php_normalize(&cur)) < 0 || (r = gwmsg_php_normalize(&upd)) < 0 ||
        (r = gwmsg_php_replace_recursive(&zone, &cur, &upd)) < 0 || (r = phpser_encode(&out, &cur)) < 0)
        goto out;
    r = set_session(c, buf_head(&out), buf_avail(&out));
out:
    buf_free(&out);
    msgpack_zone_destroy(&zone);
    /* -EINVAL (a tree PHP could not serialize) leaves the session as it was;
     * only ENOMEM is the caller's problem. */
    return r == -EINVAL ? 0 : r;
}

static int cmd_set_session(struct gws *s, const struct gwp_frame *f)
{
    struct gws_client *c = gws_client_find(s, f->hdr.connection_id);
    return c ? set_session(c, f->ext, f->ext_len) : 0;
}

static int cmd_bind_uid(struct gws *s, const struct gwp_frame *f)
{
    if (php_empty(f->ext, f->ext_len)) {
        bad(f, "empty uid");
        return 0;
    }
    struct gws_client *c = gws_client_find(s, f->hdr.connection_id);
    return c ? uid_bind(s, c, f->ext, f->ext_len) : 0;
}

static int cmd_unbind_uid(struct gws *s, const struct gwp_frame *f)
{
    struct gws_client *c = gws_client_find(s, f->hdr.connection_id);
    if (c)
        uid_unbind(s, c);
    return 0;
}

static int cmd_join_group(struct gws *s, const struct gwp_frame *f)
{
    if (php_empty(f->ext, f->ext_len)) {
        bad(f, "empty group");
        return 0;
    }
    struct gws_client *c = gws_client_find(s, f->hdr.connection_id);
    return c ? group_join(s, c, f->ext, f->ext_len) : 0;
}

static int cmd_leave_group(struct gws *s, const struct gwp_frame *f)
{
    if (php_empty(f->ext, f->ext_len)) {
        bad(f, "empty group");
        return 0;
    }
    struct gws_client *c = gws_client_find(s, f->hdr.connection_id);
    struct gws_group *g = c ? group_find(s, f->ext, f->ext_len) : NULL;
    struct gws_member *m = g ? member_find(s, g, c) : NULL;
    if (m)
        member_drop(s, m);
    return 0;
}

static int cmd_ungroup(struct gws *s, const struct gwp_frame *f)
{
    if (php_empty(f->ext, f->ext_len)) {
        bad(f, "empty group");
        return 0;
    }
    struct gws_group *g = group_find(s, f->ext, f->ext_len);
    if (!g)
        return 0;
    /* The last member_drop frees g; tmp is NULL by then. */
    struct gws_member *m, *tmp;
    DL_FOREACH_SAFE2(g->members, m, tmp, g_next) {
        member_drop(s, m);
    }
    return 0;
}

static int cmd_get_all_client_sessions(struct gws *s, struct sw *w)
{
    size_t at = reply_open(w);
    sw_arr(w, s->nclients);
    for (struct gws_client *c = s->clients; c; c = c->next) {
        if (c->flags & CF_DEAD)
            continue;
        sw_int(w, c->id);
        sw_session(w, c);
    }
    sw_end(w);
    return reply_close(w, at);
}

static int cmd_get_session(struct gws *s, const struct gwp_frame *f, struct sw *w)
{
    struct gws_client *c = gws_client_find(s, f->hdr.connection_id);
    if (!c)
        return reply_lit(w, "N;");
    if (session_empty(c))
        return reply_lit(w, "a:0:{}");
    size_t at = reply_open(w);
    sw_raw(w, c->sess->data, c->sess->len);
    return reply_close(w, at);
}

static void sw_uid_ids(struct sw *w, const struct gws_uid *u)
{
    if (!u) {
        sw_raw(w, "a:0:{}", 6);
        return;
    }
    sw_arr(w, u->count);
    int64_t i = 0;
    for (const struct gws_uidm *b = u->members; b; b = b->next) {
        sw_int(w, i++);
        sw_int(w, b->c->id);
    }
    sw_end(w);
}

static int cmd_get_client_id_by_uid(struct gws *s, const struct gwp_frame *f, struct sw *w)
{
    size_t at = reply_open(w);
    sw_uid_ids(w, uid_find(s, f->ext, f->ext_len));
    return reply_close(w, at);
}

/* BATCH_GET_CLIENT_ID_BY_UID (by_uid) and BATCH_GET_CLIENT_COUNT_BY_GROUP:
 * one entry per distinct requested key, in request order. */
static int cmd_batch(struct gws *s, const struct gwp_frame *f, struct sw *w, int by_uid)
{
    json_t *j = ext_json(f);
    struct pkey *k = NULL;
    size_t n = 0;
    int r = json_distinct_keys(j, &k, &n); /* k points into j's strings */
    if (r == -1) {
        bad(f, j ? "ext_data is not a JSON list (answered a:0:{})" : "ext_data is not JSON (answered a:0:{})");
        r = 0;
    }
    if (r < 0)
        goto out;
    size_t at = reply_open(w);
    sw_arr(w, n);
    for (size_t i = 0; i < n; i++) {
        sw_key(w, pk_ptr(&k[i]), k[i].n);
        if (by_uid) {
            sw_uid_ids(w, uid_find(s, pk_ptr(&k[i]), k[i].n));
        } else {
            struct gws_group *g = group_find(s, pk_ptr(&k[i]), k[i].n);
            sw_int(w, g ? g->count : 0);
        }
    }
    sw_end(w);
    r = reply_close(w, at);
out:
    free(k);
    json_decref(j);
    return r;
}

static int cmd_get_client_sessions_by_group(struct gws *s, const struct gwp_frame *f, struct sw *w)
{
    struct gws_group *g = group_find(s, f->ext, f->ext_len);
    if (!g)
        return reply_lit(w, "a:0:{}");
    size_t at = reply_open(w);
    sw_arr(w, g->count);
    for (struct gws_member *m = g->members; m; m = m->g_next) {
        sw_int(w, m->c->id);
        sw_session(w, m->c);
    }
    sw_end(w);
    return reply_close(w, at);
}

static int cmd_get_client_count_by_group(struct gws *s, const struct gwp_frame *f, struct sw *w)
{
    size_t n = s->nclients;
    if (f->ext_len) {
        struct gws_group *g = group_find(s, f->ext, f->ext_len);
        n = g ? g->count : 0;
    }
    size_t at = reply_open(w);
    sw_int(w, (int64_t)n);
    return reply_close(w, at);
}

static int cmd_get_group_id_list(struct gws *s, struct sw *w)
{
    size_t at = reply_open(w);
    sw_arr(w, s->ngroups);
    int64_t i = 0;
    for (struct gws_group *g = s->groups; g; g = g->hh.next) {
        sw_int(w, i++);
        sw_key(w, g->name, g->len);
    }
    sw_end(w);
    return reply_close(w, at);
}

/* SELECT: per client, each requested field as PHP reads the connection's
 * property — session (always set, '' when none), uid (null when unbound),
 * groups (null until the first join, then name => name). */
enum { SF_OTHER, SF_SESSION, SF_UID, SF_GROUPS };

static int field_kind(const struct pkey *k)
{
    const char *p = pk_ptr(k);
    if (k->n == 7 && memcmp(p, "session", 7) == 0)
        return SF_SESSION;
    if (k->n == 3 && memcmp(p, "uid", 3) == 0)
        return SF_UID;
    if (k->n == 6 && memcmp(p, "groups", 6) == 0)
        return SF_GROUPS;
    return SF_OTHER; /* PHP would read any TcpConnection property; only these three are ever asked */
}

static void sw_record(struct sw *w, const struct gws_client *c, const struct pkey *fields, size_t nf)
{
    sw_arr(w, nf);
    for (size_t i = 0; i < nf; i++) {
        sw_key(w, pk_ptr(&fields[i]), fields[i].n);
        switch (field_kind(&fields[i])) {
        case SF_SESSION: sw_session(w, c); break;
        case SF_UID:
            if (c->uid)
                sw_str(w, c->uid->u->name, c->uid->u->len);
            else
                sw_null(w);
            break;
        case SF_GROUPS: {
            if (!(c->flags & CF_JOINED)) {
                sw_null(w);
                break;
            }
            size_t n = 0;
            for (const struct gws_member *m = c->groups; m; m = m->c_next)
                n++;
            sw_arr(w, n);
            for (const struct gws_member *m = c->groups; m; m = m->c_next) {
                sw_key(w, m->g->name, m->g->len);
                sw_str(w, m->g->name, m->g->len);
            }
            sw_end(w);
            break;
        }
        default: sw_null(w); break;
        }
    }
    sw_end(w);
}

struct sel {
    struct gws_client **v;
    size_t n, cap;
    struct ptab seen;
};

/* First match wins the position (a later connection_id match re-assigns
 * the same value in PHP, which keeps the position). */
static int sel_add(struct sel *r, struct gws_client *c)
{
    if ((c->flags & CF_DEAD) || idset_has(&r->seen, c->id))
        return 0;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct gws_client **v = realloc(r->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        r->v = v;
        r->cap = cap;
    }
    if (idset_add(&r->seen, c->id) < 0)
        return -ENOMEM;
    r->v[r->n++] = c;
    return 0;
}

static int select_where(struct gws *s, json_t *where, struct sel *r)
{
    const char *key;
    size_t klen;
    json_t *items;
    json_object_keylen_foreach(where, key, klen, items)
    {
        enum { W_NONE, W_GROUPS, W_UID, W_CONN } kind = W_NONE;
        if (klen == 6 && memcmp(key, "groups", 6) == 0)
            kind = W_GROUPS;
        else if (klen == 3 && memcmp(key, "uid", 3) == 0)
            kind = W_UID;
        else if (klen == 13 && memcmp(key, "connection_id", 13) == 0)
            kind = W_CONN;
        struct jit it;
        if (kind == W_NONE || jit_init(&it, items) < 0)
            continue; /* PHP: a warning and nothing */
        for (json_t *v; (v = jit_next(&it));) {
            struct pkey k;
            if (!json_pkey(v, &k))
                continue;
            if (kind == W_CONN) {
                uint32_t id;
                struct gws_client *c;
                if (pkey_conn_id(pk_ptr(&k), k.n, &id) && (c = gws_client_find(s, id)) && sel_add(r, c) < 0)
                    return -ENOMEM;
            } else if (kind == W_GROUPS) {
                struct gws_group *g = group_find(s, pk_ptr(&k), k.n);
                for (struct gws_member *m = g ? g->members : NULL; m; m = m->g_next)
                    if (sel_add(r, m->c) < 0)
                        return -ENOMEM;
            } else {
                struct gws_uid *u = uid_find(s, pk_ptr(&k), k.n);
                for (struct gws_uidm *b = u ? u->members : NULL; b; b = b->next)
                    if (sel_add(r, b->c) < 0)
                        return -ENOMEM;
            }
        }
    }
    return 0;
}

static int cmd_select(struct gws *s, const struct gwp_frame *f, struct sw *w)
{
    json_t *j = ext_json(f);
    struct pkey *fields = NULL;
    size_t nf = 0;
    struct sel r = {.seen = {.hash = hash_idval}};
    int ret = 0, all = 0;
    if (!j)
        bad(f, "ext_data is not JSON (answered a:0:{})");
    /* PHP: `if (!$ext_data)` answers a:0:{}; a list or scalar has no
     * 'fields' and ends with the same empty answer. */
    if (j && !json_php_empty(j) && json_is_object(j)) {
        json_t *fl = json_object_get(j, "fields");
        if (fl && (ret = json_distinct_keys(fl, &fields, &nf)) == -ENOMEM)
            goto out;
        ret = 0;
        json_t *where = json_object_get(j, "where");
        if (!where || json_php_empty(where))
            all = 1;
        else if (json_is_object(where) && (ret = select_where(s, where, &r)) < 0)
            goto out;
        /* a non-empty list or a true scalar `where` matches nothing */
    }
    size_t at = reply_open(w);
    if (all) {
        /* PHP builds entries only inside `foreach ($fields ...)`: no fields, no clients. */
        sw_arr(w, nf ? s->nclients : 0);
        for (struct gws_client *c = s->clients; c && nf; c = c->next) {
            if (c->flags & CF_DEAD)
                continue;
            sw_int(w, c->id);
            sw_record(w, c, fields, nf);
        }
    } else {
        sw_arr(w, r.n);
        for (size_t i = 0; i < r.n; i++) {
            sw_int(w, r.v[i]->id);
            sw_record(w, r.v[i], fields, nf);
        }
    }
    sw_end(w);
    ret = reply_close(w, at);
out:
    free(fields);
    free(r.v);
    ptab_free(&r.seen);
    json_decref(j);
    return ret;
}

static int dispatch(struct gws *s, const struct gwp_frame *f, struct sw *w)
{
    switch (f->hdr.cmd) {
    case GWP_CMD_SEND_TO_ONE: return cmd_send_to_one(s, f);
    case GWP_CMD_SEND_TO_ALL: return cmd_send_to_all(s, f);
    case GWP_CMD_KICK: return cmd_kick(s, f);
    case GWP_CMD_DESTROY: return cmd_destroy(s, f);
    case GWP_CMD_UPDATE_SESSION: return cmd_update_session(s, f);
    case GWP_CMD_GET_ALL_CLIENT_SESSIONS: return cmd_get_all_client_sessions(s, w);
    case GWP_CMD_IS_ONLINE: return reply_lit(w, gws_client_find(s, f->hdr.connection_id) ? "i:1;" : "i:0;");
    case GWP_CMD_BIND_UID: return cmd_bind_uid(s, f);
    case GWP_CMD_UNBIND_UID: return cmd_unbind_uid(s, f);
    case GWP_CMD_SEND_TO_UID: return cmd_send_to_uid(s, f);
    case GWP_CMD_GET_CLIENT_ID_BY_UID: return cmd_get_client_id_by_uid(s, f, w);
    case GWP_CMD_BATCH_GET_CLIENT_ID_BY_UID: return cmd_batch(s, f, w, 1);
    case GWP_CMD_JOIN_GROUP: return cmd_join_group(s, f);
    case GWP_CMD_LEAVE_GROUP: return cmd_leave_group(s, f);
    case GWP_CMD_SEND_TO_GROUP: return cmd_send_to_group(s, f);
    case GWP_CMD_GET_CLIENT_SESSIONS_BY_GROUP: return cmd_get_client_sessions_by_group(s, f, w);
    case GWP_CMD_GET_CLIENT_COUNT_BY_GROUP: return cmd_get_client_count_by_group(s, f, w);
    case GWP_CMD_SELECT: return cmd_select(s, f, w);
    case GWP_CMD_GET_GROUP_ID_LIST: return cmd_get_group_id_list(s, w);
    case GWP_CMD_UNGROUP: return cmd_ungroup(s, f);
    case GWP_CMD_BATCH_GET_CLIENT_COUNT_BY_GROUP: return cmd_batch(s, f, w, 0);
    case GWP_CMD_GET_SESSION_BY_CLIENT_ID: return cmd_get_session(s, f, w);
    case GWP_CMD_SET_SESSION: return cmd_set_session(s, f);
    default: return GWS_EUNKNOWN;
    }
}

int gws_exec(struct gws *s, const struct gwp_frame *f, struct buf *reply)
{
    struct buf scratch = BUF_INIT;
    struct sw w = {reply ? reply : &scratch, 0};
    s->in_exec++;
    int r = dispatch(s, f, &w);
    if (--s->in_exec == 0)
        reap(s);
    buf_free(&scratch);
    return r;
}
