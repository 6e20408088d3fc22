/* The gateway state's table: connections, sessions, uid and group indexes
 * (state.h has the contract, state_int.h the types). */
#include "state_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "extdata.h"
#include "hash.h"

/* ------------------------------------------------------------- hashing */

static uint64_t hash_client(const void *p) { return hash_mix64(((const struct gws_client *)p)->id); }
static int eq_client_id(const void *item, const void *key)
{
    return ((const struct gws_client *)item)->id == *(const uint32_t *)key;
}

static uint64_t hash_pair(const struct gws_group *g, const struct gws_client *c)
{
    return hash_mix64((uint64_t)(uintptr_t)g * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)c);
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
    return ptab_find(&s->ids, hash_mix64(conn_id), eq_client_id, &conn_id);
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

struct gws_uid *gws__uid_find(struct gws *s, const void *name, size_t len)
{
    struct gws_uid *u = NULL;
    HASH_FIND(hh, s->uids, name ? name : "", (unsigned)len, u);
    return u;
}

struct gws_group *gws__group_find(struct gws *s, const void *name, size_t len)
{
    struct gws_group *g = NULL;
    HASH_FIND(hh, s->groups, name ? name : "", (unsigned)len, g);
    return g;
}

void gws__uid_unbind(struct gws *s, struct gws_client *c)
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

int gws__uid_bind(struct gws *s, struct gws_client *c, const void *name, size_t len)
{
    /* PHP unsets then re-adds, even for the same uid: the client moves to
     * the end of the uid's list. */
    gws__uid_unbind(s, c);
    struct gws_uidm *b = malloc(sizeof *b);
    if (!b)
        return -ENOMEM;
    struct gws_uid *u = gws__uid_find(s, name, len);
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

struct gws_member *gws__member_find(struct gws *s, struct gws_group *g, struct gws_client *c)
{
    struct gws_member k = {.c = c, .g = g};
    return ptab_find(&s->members, hash_pair(g, c), eq_member, &k);
}

/* Frees m, and its group once empty. */
void gws__member_drop(struct gws *s, struct gws_member *m)
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

int gws__group_join(struct gws *s, struct gws_client *c, const void *name, size_t len)
{
    struct gws_group *g = gws__group_find(s, name, len);
    c->flags |= CF_JOINED;
    if (g && gws__member_find(s, g, c))
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
    gws__uid_unbind(s, c);
    while (c->groups)
        gws__member_drop(s, c->groups);
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

void gws__reap(struct gws *s)
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

int gws__set_session(struct gws_client *c, const void *p, size_t n)
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

int gws__session_empty(const struct gws_client *c) { return !c->sess || extdata_empty(c->sess->data, c->sess->len); }
