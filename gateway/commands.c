/* The gateway state's command engine: every W→G command of §3.5 on the
 * table of state.c — fan-out of one shared message, sessions, uid and group
 * changes, and the queries with their PHP-serialized replies (§3.8).
 * state.h has the contract (gws_exec). */
#include "state_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "extdata.h"
#include "log.h"
#include "phpser.h"
#include "phpval.h"

static void bad(const struct gwp_frame *f, const char *why)
{
    const char *name = gwp_cmd_name(f->hdr.cmd);
    log_warn("gateway: ignored malformed %s (connection %" PRIu32 "): %s", name ? name : "command",
             f->hdr.connection_id, why);
}

/* ---------------------------------------------------- reply serializing */

static void reply_session(struct phpser_w *w, const struct gws_client *c)
{
    if (c->sess)
        phpser_w_str(w, c->sess->data, c->sess->len);
    else
        phpser_w_str(w, "", 0);
}

/* Where the reply starts, counted from the unread front: an append may
 * slide the unread bytes to the start of the buffer (buf_reserve). */
static size_t reply_open(struct phpser_w *w)
{
    size_t at = w->b->len - w->b->off;
    phpser_w_raw(w, "\0\0\0\0", 4);
    return at;
}

/* Patches the length prefix, or removes the partial reply on error. */
static int reply_close(struct phpser_w *w, size_t at)
{
    if (!w->err) {
        size_t n = w->b->len - w->b->off - at - 4;
        if (n > UINT32_MAX) {
            w->err = -EOVERFLOW;
        } else {
            uint8_t *p = w->b->data + w->b->off + at;
            p[0] = (uint8_t)(n >> 24);
            p[1] = (uint8_t)(n >> 16);
            p[2] = (uint8_t)(n >> 8);
            p[3] = (uint8_t)n;
        }
    }
    if (w->err)
        w->b->len = w->b->off + at;
    return w->err;
}

/* A whole reply from one literal ("i:1;", "a:0:{}", "N;"). */
static int reply_lit(struct phpser_w *w, const char *payload)
{
    size_t at = reply_open(w);
    phpser_w_raw(w, payload, strlen(payload));
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
    struct ptab ex = PTAB_IDSET_INIT;
    json_t *j = NULL;
    /* PHP: `$ext_data ? json_decode(...) : ''`, so "0" is a plain broadcast too. */
    if (!extdata_empty(f->ext, f->ext_len)) {
        j = extdata_json(f->ext, f->ext_len);
        if (!json_is_object(j)) {
            bad(f, j ? "ext_data is not a JSON object" : "ext_data is not JSON");
            goto out;
        }
        json_t *conns = json_object_get(j, "connections");
        if (conns && !json_is_null(conns)) { /* PHP: isset($ext_data['connections']) */
            struct extdata_it it;
            if (extdata_it_init(&it, conns) < 0) {
                bad(f, "connections is not a list or object");
                goto out;
            }
            /* Every value, duplicates included: PHP sends once per listed id. */
            for (json_t *v; (v = extdata_it_next(&it));) {
                uint32_t id;
                struct gws_client *c;
                if (extdata_json_conn_id(v, &id) && (c = gws_client_find(s, id)))
                    fan_send(&x, c);
            }
            goto out;
        }
        int r = extdata_exclude(json_object_get(j, "exclude"), &ex);
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
        if (!ex.n || !ptab_id_has(&ex, c->id))
            fan_send(&x, c);
out:
    json_decref(j);
    ptab_free(&ex);
    return fan_done(&x);
}

static int cmd_send_to_uid(struct gws *s, const struct gwp_frame *f)
{
    struct fan x = {s, f, NULL, 0};
    json_t *j = extdata_json(f->ext, f->ext_len);
    struct extdata_it it;
    if (extdata_it_init(&it, j) < 0) {
        bad(f, j ? "ext_data is not a JSON list" : "ext_data is not JSON");
        goto out;
    }
    for (json_t *v; (v = extdata_it_next(&it));) {
        struct extdata_key k;
        struct gws_uid *u;
        if (!extdata_key_of(v, &k) || !(u = gws__uid_find(s, extdata_key_ptr(&k), k.n)))
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
    struct ptab ex = PTAB_IDSET_INIT;
    json_t *j = extdata_json(f->ext, f->ext_len);
    struct extdata_it it;
    if (!json_is_object(j)) {
        bad(f, j ? "ext_data is not a JSON object" : "ext_data is not JSON");
        goto out;
    }
    if (extdata_it_init(&it, json_object_get(j, "group")) < 0) {
        bad(f, "group is not a list");
        goto out;
    }
    int r = extdata_exclude(json_object_get(j, "exclude"), &ex);
    if (r == -1) {
        bad(f, "exclude is not an object or list");
        goto out;
    }
    if (r < 0) {
        x.err = r;
        goto out;
    }
    /* A client in two listed groups gets the message twice, as from PHP. */
    for (json_t *v; (v = extdata_it_next(&it));) {
        struct extdata_key k;
        struct gws_group *g;
        if (!extdata_key_of(v, &k) || !(g = gws__group_find(s, extdata_key_ptr(&k), k.n)))
            continue;
        for (struct gws_member *m = g->members; m; m = m->g_next)
            if (!ex.n || !ptab_id_has(&ex, m->c->id))
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
    if (gws__session_empty(c))
        return gws__set_session(c, f->ext, f->ext_len);
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
        r = gws__set_session(c, f->ext, f->ext_len);
        goto out;
    }
    if (phpser_decode(f->ext, f->ext_len, &zone, &upd, &session_limits, NULL, 0) < 0 ||
        upd.type != MSGPACK_OBJECT_MAP) {
        bad(f, "ext_data is not a serialized array");
        goto out;
    }
    if ((r = phpval_normalize(&cur)) < 0 || (r = phpval_normalize(&upd)) < 0 ||
        (r = phpval_replace_recursive(&zone, &cur, &upd)) < 0 || (r = phpser_encode(&out, &cur)) < 0)
        goto out;
    r = gws__set_session(c, buf_head(&out), buf_avail(&out));
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
    return c ? gws__set_session(c, f->ext, f->ext_len) : 0;
}

static int cmd_bind_uid(struct gws *s, const struct gwp_frame *f)
{
    if (extdata_empty(f->ext, f->ext_len)) {
        bad(f, "empty uid");
        return 0;
    }
    struct gws_client *c = gws_client_find(s, f->hdr.connection_id);
    return c ? gws__uid_bind(s, c, f->ext, f->ext_len) : 0;
}

static int cmd_unbind_uid(struct gws *s, const struct gwp_frame *f)
{
    struct gws_client *c = gws_client_find(s, f->hdr.connection_id);
    if (c)
        gws__uid_unbind(s, c);
    return 0;
}

static int cmd_join_group(struct gws *s, const struct gwp_frame *f)
{
    if (extdata_empty(f->ext, f->ext_len)) {
        bad(f, "empty group");
        return 0;
    }
    struct gws_client *c = gws_client_find(s, f->hdr.connection_id);
    return c ? gws__group_join(s, c, f->ext, f->ext_len) : 0;
}

static int cmd_leave_group(struct gws *s, const struct gwp_frame *f)
{
    if (extdata_empty(f->ext, f->ext_len)) {
        bad(f, "empty group");
        return 0;
    }
    struct gws_client *c = gws_client_find(s, f->hdr.connection_id);
    struct gws_group *g = c ? gws__group_find(s, f->ext, f->ext_len) : NULL;
    struct gws_member *m = g ? gws__member_find(s, g, c) : NULL;
    if (m)
        gws__member_drop(s, m);
    return 0;
}

static int cmd_ungroup(struct gws *s, const struct gwp_frame *f)
{
    if (extdata_empty(f->ext, f->ext_len)) {
        bad(f, "empty group");
        return 0;
    }
    struct gws_group *g = gws__group_find(s, f->ext, f->ext_len);
    if (!g)
        return 0;
    /* The last member_drop frees g; tmp is NULL by then. */
    struct gws_member *m, *tmp;
    DL_FOREACH_SAFE2(g->members, m, tmp, g_next) {
        gws__member_drop(s, m);
    }
    return 0;
}

static int cmd_get_all_client_sessions(struct gws *s, struct phpser_w *w)
{
    size_t at = reply_open(w);
    phpser_w_arr(w, s->nclients);
    for (struct gws_client *c = s->clients; c; c = c->next) {
        if (c->flags & CF_DEAD)
            continue;
        phpser_w_int(w, c->id);
        reply_session(w, c);
    }
    phpser_w_end(w);
    return reply_close(w, at);
}

static int cmd_get_session(struct gws *s, const struct gwp_frame *f, struct phpser_w *w)
{
    struct gws_client *c = gws_client_find(s, f->hdr.connection_id);
    if (!c)
        return reply_lit(w, "N;");
    if (gws__session_empty(c))
        return reply_lit(w, "a:0:{}");
    size_t at = reply_open(w);
    phpser_w_raw(w, c->sess->data, c->sess->len);
    return reply_close(w, at);
}

static void reply_uid_ids(struct phpser_w *w, const struct gws_uid *u)
{
    if (!u) {
        phpser_w_raw(w, "a:0:{}", 6);
        return;
    }
    phpser_w_arr(w, u->count);
    int64_t i = 0;
    for (const struct gws_uidm *b = u->members; b; b = b->next) {
        phpser_w_int(w, i++);
        phpser_w_int(w, b->c->id);
    }
    phpser_w_end(w);
}

static int cmd_get_client_id_by_uid(struct gws *s, const struct gwp_frame *f, struct phpser_w *w)
{
    size_t at = reply_open(w);
    reply_uid_ids(w, gws__uid_find(s, f->ext, f->ext_len));
    return reply_close(w, at);
}

/* BATCH_GET_CLIENT_ID_BY_UID (by_uid) and BATCH_GET_CLIENT_COUNT_BY_GROUP:
 * one entry per distinct requested key, in request order. */
static int cmd_batch(struct gws *s, const struct gwp_frame *f, struct phpser_w *w, int by_uid)
{
    json_t *j = extdata_json(f->ext, f->ext_len);
    struct extdata_key *k = NULL;
    size_t n = 0;
    int r = extdata_distinct_keys(j, &k, &n); /* k points into j's strings */
    if (r == -1) {
        bad(f, j ? "ext_data is not a JSON list (answered a:0:{})" : "ext_data is not JSON (answered a:0:{})");
        r = 0;
    }
    if (r < 0)
        goto out;
    size_t at = reply_open(w);
    phpser_w_arr(w, n);
    for (size_t i = 0; i < n; i++) {
        phpser_w_key(w, extdata_key_ptr(&k[i]), k[i].n);
        if (by_uid) {
            reply_uid_ids(w, gws__uid_find(s, extdata_key_ptr(&k[i]), k[i].n));
        } else {
            struct gws_group *g = gws__group_find(s, extdata_key_ptr(&k[i]), k[i].n);
            phpser_w_int(w, g ? g->count : 0);
        }
    }
    phpser_w_end(w);
    r = reply_close(w, at);
out:
    free(k);
    json_decref(j);
    return r;
}

static int cmd_get_client_sessions_by_group(struct gws *s, const struct gwp_frame *f, struct phpser_w *w)
{
    struct gws_group *g = gws__group_find(s, f->ext, f->ext_len);
    if (!g)
        return reply_lit(w, "a:0:{}");
    size_t at = reply_open(w);
    phpser_w_arr(w, g->count);
    for (struct gws_member *m = g->members; m; m = m->g_next) {
        phpser_w_int(w, m->c->id);
        reply_session(w, m->c);
    }
    phpser_w_end(w);
    return reply_close(w, at);
}

static int cmd_get_client_count_by_group(struct gws *s, const struct gwp_frame *f, struct phpser_w *w)
{
    size_t n = s->nclients;
    if (f->ext_len) {
        struct gws_group *g = gws__group_find(s, f->ext, f->ext_len);
        n = g ? g->count : 0;
    }
    size_t at = reply_open(w);
    phpser_w_int(w, (int64_t)n);
    return reply_close(w, at);
}

static int cmd_get_group_id_list(struct gws *s, struct phpser_w *w)
{
    size_t at = reply_open(w);
    phpser_w_arr(w, s->ngroups);
    int64_t i = 0;
    for (struct gws_group *g = s->groups; g; g = g->hh.next) {
        phpser_w_int(w, i++);
        phpser_w_key(w, g->name, g->len);
    }
    phpser_w_end(w);
    return reply_close(w, at);
}

/* SELECT: per client, each requested field as PHP reads the connection's
 * property — session (always set, '' when none), uid (null when unbound),
 * groups (null until the first join, then name => name). */
enum { SF_OTHER, SF_SESSION, SF_UID, SF_GROUPS };

static int field_kind(const struct extdata_key *k)
{
    const char *p = extdata_key_ptr(k);
    if (k->n == 7 && memcmp(p, "session", 7) == 0)
        return SF_SESSION;
    if (k->n == 3 && memcmp(p, "uid", 3) == 0)
        return SF_UID;
    if (k->n == 6 && memcmp(p, "groups", 6) == 0)
        return SF_GROUPS;
    return SF_OTHER; /* PHP would read any TcpConnection property; only these three are ever asked */
}

static void reply_record(struct phpser_w *w, const struct gws_client *c, const struct extdata_key *fields, size_t nf)
{
    phpser_w_arr(w, nf);
    for (size_t i = 0; i < nf; i++) {
        phpser_w_key(w, extdata_key_ptr(&fields[i]), fields[i].n);
        switch (field_kind(&fields[i])) {
        case SF_SESSION: reply_session(w, c); break;
        case SF_UID:
            if (c->uid)
                phpser_w_str(w, c->uid->u->name, c->uid->u->len);
            else
                phpser_w_null(w);
            break;
        case SF_GROUPS: {
            if (!(c->flags & CF_JOINED)) {
                phpser_w_null(w);
                break;
            }
            size_t n = 0;
            for (const struct gws_member *m = c->groups; m; m = m->c_next)
                n++;
            phpser_w_arr(w, n);
            for (const struct gws_member *m = c->groups; m; m = m->c_next) {
                phpser_w_key(w, m->g->name, m->g->len);
                phpser_w_str(w, m->g->name, m->g->len);
            }
            phpser_w_end(w);
            break;
        }
        default: phpser_w_null(w); break;
        }
    }
    phpser_w_end(w);
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
    if ((c->flags & CF_DEAD) || ptab_id_has(&r->seen, c->id))
        return 0;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct gws_client **v = realloc(r->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        r->v = v;
        r->cap = cap;
    }
    if (ptab_id_add(&r->seen, c->id) < 0)
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
        struct extdata_it it;
        if (kind == W_NONE || extdata_it_init(&it, items) < 0)
            continue; /* PHP: a warning and nothing */
        for (json_t *v; (v = extdata_it_next(&it));) {
            struct extdata_key k;
            if (!extdata_key_of(v, &k))
                continue;
            if (kind == W_CONN) {
                uint32_t id;
                struct gws_client *c;
                if (extdata_conn_id(extdata_key_ptr(&k), k.n, &id) && (c = gws_client_find(s, id)) && sel_add(r, c) < 0)
                    return -ENOMEM;
            } else if (kind == W_GROUPS) {
                struct gws_group *g = gws__group_find(s, extdata_key_ptr(&k), k.n);
                for (struct gws_member *m = g ? g->members : NULL; m; m = m->g_next)
                    if (sel_add(r, m->c) < 0)
                        return -ENOMEM;
            } else {
                struct gws_uid *u = gws__uid_find(s, extdata_key_ptr(&k), k.n);
                for (struct gws_uidm *b = u ? u->members : NULL; b; b = b->next)
                    if (sel_add(r, b->c) < 0)
                        return -ENOMEM;
            }
        }
    }
    return 0;
}

static int cmd_select(struct gws *s, const struct gwp_frame *f, struct phpser_w *w)
{
    json_t *j = extdata_json(f->ext, f->ext_len);
    struct extdata_key *fields = NULL;
    size_t nf = 0;
    struct sel r = {.seen = PTAB_IDSET_INIT};
    int ret = 0, all = 0;
    if (!j)
        bad(f, "ext_data is not JSON (answered a:0:{})");
    /* PHP: `if (!$ext_data)` answers a:0:{}; a list or scalar has no
     * 'fields' and ends with the same empty answer. */
    if (j && !extdata_json_empty(j) && json_is_object(j)) {
        json_t *fl = json_object_get(j, "fields");
        if (fl && (ret = extdata_distinct_keys(fl, &fields, &nf)) == -ENOMEM)
            goto out;
        ret = 0;
        json_t *where = json_object_get(j, "where");
        if (!where || extdata_json_empty(where))
            all = 1;
        else if (json_is_object(where) && (ret = select_where(s, where, &r)) < 0)
            goto out;
        /* a non-empty list or a true scalar `where` matches nothing */
    }
    size_t at = reply_open(w);
    if (all) {
        /* PHP builds entries only inside `foreach ($fields ...)`: no fields, no clients. */
        phpser_w_arr(w, nf ? s->nclients : 0);
        for (struct gws_client *c = s->clients; c && nf; c = c->next) {
            if (c->flags & CF_DEAD)
                continue;
            phpser_w_int(w, c->id);
            reply_record(w, c, fields, nf);
        }
    } else {
        phpser_w_arr(w, r.n);
        for (size_t i = 0; i < r.n; i++) {
            phpser_w_int(w, r.v[i]->id);
            reply_record(w, r.v[i], fields, nf);
        }
    }
    phpser_w_end(w);
    ret = reply_close(w, at);
out:
    free(fields);
    free(r.v);
    ptab_free(&r.seen);
    json_decref(j);
    return ret;
}

static int dispatch(struct gws *s, const struct gwp_frame *f, struct phpser_w *w)
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
    struct phpser_w w;
    phpser_w_init(&w, reply ? reply : &scratch);
    s->in_exec++;
    int r = dispatch(s, f, &w);
    if (--s->in_exec == 0)
        gws__reap(s);
    buf_free(&scratch);
    return r;
}
