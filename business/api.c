#include "api.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <time.h>

#include "bw.h"
#include "clientid.h"
#include "events.h"
#include "gw_api.h"
#include "gwp.h"
#include "links.h"
#include "log.h"
#include "loop.h"
#include "phpser.h"
#include "query.h"
#include "value.h"

/* The process's worker state: the API's only global (see api.h). */
static struct bw *api_bw;

void api_bind(struct bw *bw) { api_bw = bw; }
struct bw *api_bound(void) { return api_bw; }

static struct bw_ctx *cur(void) { return api_bw && api_bw->ctx.active ? &api_bw->ctx : NULL; }

/* ---- the current event ---- */

const char *gw_current_client_id(void) { return cur() ? cur()->client_id : NULL; }
const char *gw_current_remote_ip(void) { return cur() ? cur()->remote_ip : NULL; }
uint16_t gw_current_remote_port(void) { return cur() ? cur()->remote_port : 0; }
const char *gw_current_gateway_address(void) { return cur() ? cur()->gateway_addr : NULL; }
uint16_t gw_current_gateway_port(void) { return cur() ? cur()->gateway_port : 0; }
int gw_current_body_is_serialized(void) { return cur() ? cur()->body_serialized : 0; }

msgpack_object gw_str(const char *s) { return gw_strn(s, s ? strlen(s) : 0); }

msgpack_object gw_strn(const char *s, size_t n)
{
    msgpack_object o = {.type = MSGPACK_OBJECT_STR, .via.str = {.size = (uint32_t)n, .ptr = s ? s : ""}};
    return o;
}

msgpack_object gw_int(int64_t v)
{
    msgpack_object o;
    if (v >= 0) {
        o.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o.via.u64 = (uint64_t)v;
    } else {
        o.type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        o.via.i64 = v;
    }
    return o;
}

/* ---- routing ---- */

/* The link of client_id's gateway and its connection id.
 * 0, -EINVAL (malformed), -ENOTCONN (no usable link). */
static int resolve(const char *client_id, struct link **l, uint32_t *conn_id)
{
    uint32_t ip;
    uint16_t port;
    if (!api_bw || !client_id || clientid_decode(client_id, strlen(client_id), &ip, &port, conn_id) < 0)
        return -EINVAL;
    *l = links_find(api_bw->links, ip, port);
    return link_usable(*l) ? 0 : -ENOTCONN;
}

static int is_current(const char *client_id)
{
    struct bw_ctx *c = cur();
    return c && client_id && strcasecmp(client_id, c->client_id) == 0;
}

static int send_one(struct link *l, uint8_t cmd, uint32_t conn_id, uint8_t flag, const void *ext, size_t ext_len,
                    const void *body, size_t body_len)
{
    struct gwp_header h = {.cmd = cmd, .connection_id = conn_id, .flag = flag};
    return link_send(l, &h, ext, ext_len, body, body_len);
}

static int to_client(const char *client_id, uint8_t cmd, uint8_t flag, const void *ext, size_t ext_len,
                     const void *body, size_t body_len)
{
    struct link *l;
    uint32_t id;
    int r = resolve(client_id, &l, &id);
    return r < 0 ? r : send_one(l, cmd, id, flag, ext, ext_len, body, body_len);
}

static int to_current(uint8_t cmd, uint8_t flag, const void *body, size_t body_len)
{
    struct bw_ctx *c = cur();
    if (!c)
        return -EPERM;
    return send_one(c->link, cmd, c->conn_id, flag, NULL, 0, body, body_len);
}

/* The same frame to every open link (§4.4). 0 when at least one took it. */
static int broadcast(uint8_t cmd, uint8_t flag, const void *ext, size_t ext_len, const void *body, size_t body_len)
{
    if (!api_bw)
        return -EPERM;
    int sent = 0, err = -ENOTCONN;
    for (size_t i = 0; i < links_count(api_bw->links); i++) {
        struct link *l = links_at(api_bw->links, i);
        if (!link_usable(l))
            continue;
        int r = send_one(l, cmd, 0, flag, ext, ext_len, body, body_len);
        if (r == 0)
            sent++;
        else
            err = r;
    }
    return sent ? 0 : err;
}

static uint8_t push_flag(unsigned flags)
{
    return (uint8_t)(GWP_FLAG_BODY_IS_SCALAR | ((flags & GW_RAW) ? GWP_FLAG_NOT_CALL_ENCODE : 0));
}

/* PHP leaves out ext_data that is PHP-empty ("" or "0", §9.1). */
static size_t php_ext_len(const char *s)
{
    if (!s || !s[0] || strcmp(s, "0") == 0)
        return 0;
    return strlen(s);
}

/* ---- JSON for ext_data ---- */

static int json_emit(json_t *o, char **out)
{
    if (!o)
        return -EINVAL;
    *out = json_dumps(o, JSON_COMPACT | JSON_ESCAPE_SLASH);
    json_decref(o);
    return *out ? 0 : -ENOMEM;
}

/* {"<id>":<id>,...} of the connection ids in ids[] that live on link l. */
static json_t *ids_on_link(const struct link *l, const char *const *ids, size_t n, const char *const *skip,
                           size_t nskip)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < n; i++) {
        uint32_t ip, id;
        uint16_t port;
        if (!ids[i] || clientid_decode(ids[i], strlen(ids[i]), &ip, &port, &id) < 0 || ip != l->ip ||
            port != l->port)
            continue;
        int skipped = 0;
        for (size_t j = 0; j < nskip && !skipped; j++)
            skipped = skip[j] && strcasecmp(skip[j], ids[i]) == 0;
        if (skipped)
            continue;
        char k[16];
        snprintf(k, sizeof k, "%u", id);
        json_object_set_new(o, k, json_integer(id));
    }
    return o;
}

static json_t *str_list(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_t *s = v[i] ? json_string(v[i]) : NULL;
        if (!s || json_array_append_new(a, s) < 0) {
            json_decref(a);
            return NULL; /* not UTF-8: PHP's json_encode fails too */
        }
    }
    return a;
}

/* ---- pushes ---- */

int gw_send_to_all(const void *msg, size_t len, const char *const *client_ids, size_t n_ids,
                   const char *const *exclude, size_t n_exclude, unsigned flags)
{
    if (!api_bw)
        return -EPERM;
    uint8_t flag = push_flag(flags);
    if (client_ids && n_ids == 0)
        return 0;
    if (!client_ids && n_exclude == 0)
        return broadcast(GWP_CMD_SEND_TO_ALL, flag, NULL, 0, msg, len);
    int sent = 0, err = client_ids ? 0 : -ENOTCONN;
    for (size_t i = 0; i < links_count(api_bw->links); i++) {
        struct link *l = links_at(api_bw->links, i);
        if (!link_usable(l))
            continue;
        json_t *ids = client_ids ? ids_on_link(l, client_ids, n_ids, exclude, n_exclude)
                                 : ids_on_link(l, exclude, n_exclude, NULL, 0);
        if (!ids)
            return -ENOMEM;
        char *ext = NULL;
        int r = 0;
        if (json_object_size(ids) == 0) {
            json_decref(ids);
            if (client_ids)
                continue; /* none of the ids lives there */
            r = send_one(l, GWP_CMD_SEND_TO_ALL, 0, flag, NULL, 0, msg, len);
        } else {
            r = json_emit(json_pack("{s:o}", client_ids ? "connections" : "exclude", ids), &ext);
            if (r == 0)
                r = send_one(l, GWP_CMD_SEND_TO_ALL, 0, flag, ext, strlen(ext), msg, len);
            free(ext);
        }
        if (r == 0)
            sent++;
        else
            err = r;
    }
    return sent ? 0 : err;
}

int gw_send_to_client(const char *client_id, const void *msg, size_t len, unsigned flags)
{
    return to_client(client_id, GWP_CMD_SEND_TO_ONE, push_flag(flags), NULL, 0, msg, len);
}

int gw_send_to_current_client(const void *msg, size_t len, unsigned flags)
{
    return to_current(GWP_CMD_SEND_TO_ONE, push_flag(flags), msg, len);
}

/* KICK's body: the message (scalar), or serialize(null) = "N;" with flag 0. */
int gw_close_client(const char *client_id, const void *msg, size_t len)
{
    if (!msg)
        return to_client(client_id, GWP_CMD_KICK, 0, NULL, 0, "N;", 2);
    return to_client(client_id, GWP_CMD_KICK, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, msg, len);
}

int gw_close_current_client(const void *msg, size_t len)
{
    if (!msg)
        return to_current(GWP_CMD_KICK, 0, "N;", 2);
    return to_current(GWP_CMD_KICK, GWP_FLAG_BODY_IS_SCALAR, msg, len);
}

int gw_destroy_client(const char *client_id)
{
    return to_client(client_id, GWP_CMD_DESTROY, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, NULL, 0);
}

int gw_destroy_current_client(void) { return to_current(GWP_CMD_DESTROY, GWP_FLAG_BODY_IS_SCALAR, NULL, 0); }

int gw_bind_uid(const char *client_id, const char *uid)
{
    return to_client(client_id, GWP_CMD_BIND_UID, GWP_FLAG_BODY_IS_SCALAR, uid, php_ext_len(uid), NULL, 0);
}

int gw_unbind_uid(const char *client_id, const char *uid)
{
    return to_client(client_id, GWP_CMD_UNBIND_UID, GWP_FLAG_BODY_IS_SCALAR, uid, php_ext_len(uid), NULL, 0);
}

int gw_send_to_uid(const char *const *uids, size_t n, const void *msg, size_t len, unsigned flags)
{
    char *ext = NULL;
    int r = json_emit(str_list(uids, n), &ext);
    if (r < 0)
        return r;
    r = broadcast(GWP_CMD_SEND_TO_UID, push_flag(flags), ext, strlen(ext), msg, len);
    free(ext);
    return r;
}

int gw_join_group(const char *client_id, const char *group)
{
    return to_client(client_id, GWP_CMD_JOIN_GROUP, GWP_FLAG_BODY_IS_SCALAR, group, php_ext_len(group), NULL, 0);
}

int gw_leave_group(const char *client_id, const char *group)
{
    return to_client(client_id, GWP_CMD_LEAVE_GROUP, GWP_FLAG_BODY_IS_SCALAR, group, php_ext_len(group), NULL, 0);
}

int gw_ungroup(const char *group)
{
    if (!php_ext_len(group))
        return -EINVAL; /* PHP refuses an empty group client-side */
    return broadcast(GWP_CMD_UNGROUP, GWP_FLAG_BODY_IS_SCALAR, group, strlen(group), NULL, 0);
}

int gw_send_to_group(const char *const *groups, size_t n, const void *msg, size_t len,
                     const char *const *exclude, size_t n_exclude, unsigned flags)
{
    if (!api_bw)
        return -EPERM;
    if (n == 0)
        return -EINVAL;
    uint8_t flag = push_flag(flags);
    int sent = 0, err = -ENOTCONN;
    char *plain = NULL;
    for (size_t i = 0; i < links_count(api_bw->links); i++) {
        struct link *l = links_at(api_bw->links, i);
        if (!link_usable(l))
            continue;
        json_t *gl = str_list(groups, n);
        json_t *ex = n_exclude ? ids_on_link(l, exclude, n_exclude, NULL, 0) : NULL;
        if (!gl) {
            json_decref(ex);
            free(plain);
            return -EINVAL;
        }
        int r;
        if (ex && json_object_size(ex) > 0) {
            char *ext = NULL;
            r = json_emit(json_pack("{s:o, s:o}", "group", gl, "exclude", ex), &ext);
            if (r == 0)
                r = send_one(l, GWP_CMD_SEND_TO_GROUP, 0, flag, ext, strlen(ext), msg, len);
            free(ext);
        } else {
            json_decref(ex);
            /* Gateways with nothing excluded share one ext (§4.4). */
            r = plain ? (json_decref(gl), 0) : json_emit(json_pack("{s:o, s:n}", "group", gl, "exclude"), &plain);
            if (r == 0)
                r = send_one(l, GWP_CMD_SEND_TO_GROUP, 0, flag, plain, strlen(plain), msg, len);
        }
        if (r == 0)
            sent++;
        else
            err = r;
    }
    free(plain);
    return sent ? 0 : err;
}

/* ---- sessions ---- */

static int session_bytes(const msgpack_object *s, struct buf *out)
{
    buf_reset(out);
    if (!s || s->type == MSGPACK_OBJECT_NIL)
        return 0;
    if (s->type != MSGPACK_OBJECT_MAP)
        return -EINVAL;
    return phpser_encode(out, s);
}

/* The current client's session became `s` on the gateway too: remember it
 * as the baseline so the write-back does not send it again (PHP sets
 * Context::$old_session likewise). */
static int adopt_current(struct bw_ctx *c, const msgpack_object *s)
{
    events_session_load(api_bw);
    msgpack_object copy = {.type = MSGPACK_OBJECT_NIL};
    if (s && s->type == MSGPACK_OBJECT_MAP && val_copy(&c->zone, &copy, s) < 0)
        return -ENOMEM;
    c->session = copy;
    c->baseline_own = 1;
    return session_bytes(&c->session, &c->baseline);
}

int gw_set_session(const char *client_id, const msgpack_object *session)
{
    if (session && session->type != MSGPACK_OBJECT_MAP && session->type != MSGPACK_OBJECT_NIL)
        return -EINVAL;
    struct buf b = BUF_INIT;
    int r = session_bytes(session, &b);
    if (r == 0)
        r = to_client(client_id, GWP_CMD_SET_SESSION, GWP_FLAG_BODY_IS_SCALAR, buf_head(&b), buf_avail(&b), NULL, 0);
    if (r == 0 && !is_current(client_id) && api_bw->session_written)
        api_bw->session_written(api_bw, client_id, buf_head(&b), buf_avail(&b), 1);
    buf_free(&b);
    if (r == 0 && is_current(client_id))
        r = adopt_current(cur(), session);
    return r;
}

int gw_update_session(const char *client_id, const msgpack_object *partial)
{
    if (!partial || partial->type != MSGPACK_OBJECT_MAP)
        return -EINVAL;
    struct buf b = BUF_INIT;
    int r = phpser_encode(&b, partial);
    if (r == 0)
        r = to_client(client_id, GWP_CMD_UPDATE_SESSION, GWP_FLAG_BODY_IS_SCALAR, buf_head(&b), buf_avail(&b), NULL,
                      0);
    buf_free(&b);
    if (r == 0 && !is_current(client_id) && api_bw->session_written)
        api_bw->session_written(api_bw, client_id, NULL, 0, 0);
    if (r == 0 && is_current(client_id)) {
        struct bw_ctx *c = cur();
        events_session_load(api_bw);
        msgpack_object merged;
        if (val_merge(&c->zone, &merged, &c->session, partial) < 0)
            return -ENOMEM;
        r = adopt_current(c, &merged);
    }
    return r;
}

const msgpack_object *gw_session(void)
{
    struct bw_ctx *c = cur();
    if (!c || events_session_load(api_bw) < 0)
        return NULL;
    return c->session.type == MSGPACK_OBJECT_MAP ? &c->session : NULL;
}

const msgpack_object *gw_session_get(const char *key)
{
    const msgpack_object *s = gw_session();
    if (!s || !key)
        return NULL;
    msgpack_object k = gw_str(key);
    long i = val_map_find(s, &k);
    return i < 0 ? NULL : &s->via.map.ptr[i].val;
}

int gw_session_set(const char *key, const msgpack_object *value)
{
    struct bw_ctx *c = cur();
    if (!c)
        return -EPERM;
    if (!key || !value)
        return -EINVAL;
    events_session_load(api_bw);
    msgpack_object k = gw_str(key);
    if (val_map_set(&c->zone, &c->session, &c->session, &k, value) < 0)
        return -ENOMEM;
    c->session_changed = 1;
    return 0;
}

int gw_session_set_str(const char *key, const char *value)
{
    msgpack_object v = gw_str(value);
    return gw_session_set(key, &v);
}

int gw_session_set_int(const char *key, int64_t value)
{
    msgpack_object v = gw_int(value);
    return gw_session_set(key, &v);
}

int gw_session_unset(const char *key)
{
    struct bw_ctx *c = cur();
    if (!c)
        return -EPERM;
    events_session_load(api_bw);
    msgpack_object k = gw_str(key);
    if (c->session.type != MSGPACK_OBJECT_MAP || val_map_find(&c->session, &k) < 0)
        return 0;
    if (val_map_set(&c->zone, &c->session, &c->session, &k, NULL) < 0)
        return -ENOMEM;
    c->session_changed = 1;
    return 0;
}

int gw_session_replace(const msgpack_object *map)
{
    struct bw_ctx *c = cur();
    if (!c)
        return -EPERM;
    if (map && map->type != MSGPACK_OBJECT_MAP && map->type != MSGPACK_OBJECT_NIL)
        return -EINVAL;
    events_session_load(api_bw);
    msgpack_object copy = {.type = MSGPACK_OBJECT_NIL};
    if (map && map->type == MSGPACK_OBJECT_MAP && val_copy(&c->zone, &copy, map) < 0)
        return -ENOMEM;
    c->session = copy;
    c->session_changed = 1;
    return 0;
}

/* ---- queries ---- */

void gw_result_free(struct gw_result *r)
{
    if (!r)
        return;
    if (r->zone)
        msgpack_zone_free(r->zone);
    r->zone = NULL;
    r->value.type = MSGPACK_OBJECT_NIL;
}

const struct gw_query_info *gw_last_query(void)
{
    static const struct gw_query_info none;
    return api_bw && api_bw->query ? query_last(api_bw->query) : &none;
}

static int result_init(struct gw_result *r)
{
    r->value.type = MSGPACK_OBJECT_NIL;
    r->zone = msgpack_zone_new(4096);
    return r->zone ? 0 : -ENOMEM;
}

/* Every gateway the registers list now (§4.4: the address set, not the
 * open links). *t is malloc'd. */
static size_t all_targets(struct query_target **t)
{
    size_t n = 0, cap = links_count(api_bw->links);
    *t = calloc(cap ? cap : 1, sizeof **t);
    if (!*t)
        return 0;
    for (size_t i = 0; i < cap; i++) {
        struct link *l = links_at(api_bw->links, i);
        if (l->in_set) {
            (*t)[n].ip = l->ip;
            (*t)[n].port = l->port;
            n++;
        }
    }
    return n;
}

/* Before a query: the pushes this process queued on its gateway links must
 * reach the gateways BEFORE the query does, or a query right after a push
 * (bind then uid lookup, SET_SESSION then GET_SESSION for the stale-session
 * guard) can see the state before it. Writing them first is not enough: the
 * query travels on another TCP connection, and the kernel may hand the
 * gateway the query's bytes first. The gateway serves connections that are
 * readable together in accept order (the worker link first), so wait until
 * the links' bytes are acknowledged by the peer (SIOCOUTQ 0: in the gateway's
 * receive queue), at most SETTLE_MS; on loopback this takes microseconds. */
#define SETTLE_MS 200
static void settle_links(void)
{
    links_flush(api_bw->links);
    int64_t until = loop_now_ms() + SETTLE_MS;
    for (;;) {
        int busy = 0;
        for (size_t i = 0; i < links_count(api_bw->links) && !busy; i++) {
            struct link *l = links_at(api_bw->links, i);
            int q = 0;
            if (!l || l->fd < 0 || l->state != LINK_UP)
                continue;
            busy = buf_avail(&l->out) > 0 || (ioctl(l->fd, SIOCOUTQ, &q) == 0 && q > 0);
        }
        if (!busy || loop_now_ms() >= until)
            return;
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
        links_flush(api_bw->links);
    }
}

/* Asks every gateway; replies land in zone. Returns targets (malloc'd) via *t. */
static int ask_all(uint8_t cmd, const void *ext, size_t ext_len, msgpack_zone *zone, struct query_target **t,
                   size_t *n)
{
    if (!api_bw)
        return -EPERM;
    /* Pushes queued by this callback go out (and arrive) before we block. */
    settle_links();
    *n = all_targets(t);
    if (!*t)
        return -ENOMEM;
    query_run(api_bw->query, *t, *n, cmd, 0, ext, ext_len, zone);
    return 0;
}

/* Asks client_id's gateway only. 0, -EINVAL; t->ok says whether it answered. */
static int ask_own(const char *client_id, uint8_t cmd, const void *ext, size_t ext_len, msgpack_zone *zone,
                   struct query_target *t)
{
    uint32_t id;
    if (!api_bw)
        return -EPERM;
    if (!client_id || clientid_decode(client_id, strlen(client_id), &t->ip, &t->port, &id) < 0)
        return -EINVAL;
    settle_links();
    t->ok = 0;
    t->reply.type = MSGPACK_OBJECT_NIL;
    /* Inside a worker only gateways it links to count (PHP returns null/0 otherwise). */
    if (!links_find(api_bw->links, t->ip, t->port))
        return 0;
    query_run(api_bw->query, t, 1, cmd, id, ext, ext_len, zone);
    return 0;
}

static int obj_int(const msgpack_object *o, int64_t *v)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
        *v = (int64_t)o->via.u64;
        return 1;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *v = o->via.i64;
        return 1;
    }
    if (o->type == MSGPACK_OBJECT_STR)
        return phpser_key_is_int(o->via.str.ptr, o->via.str.size, v);
    return 0;
}

static msgpack_object zstr(msgpack_zone *z, const char *s, size_t n)
{
    msgpack_object o = {.type = MSGPACK_OBJECT_NIL};
    char *p = msgpack_zone_malloc(z, n ? n : 1);
    if (p) {
        memcpy(p, s, n);
        o = gw_strn(p, n);
    }
    return o;
}

/* A key or scalar in its PHP string form (for uids and group names). */
static msgpack_object as_str(msgpack_zone *z, const msgpack_object *o)
{
    char b[32];
    if (o->type == MSGPACK_OBJECT_STR)
        return *o;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return zstr(z, b, (size_t)snprintf(b, sizeof b, "%llu", (unsigned long long)o->via.u64));
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return zstr(z, b, (size_t)snprintf(b, sizeof b, "%lld", (long long)o->via.i64));
    return *o;
}

/* A growing MAP in a zone. */
struct mapb {
    msgpack_zone *z;
    msgpack_object_kv *v;
    uint32_t n, cap;
};

static int mapb_put(struct mapb *m, msgpack_object k, msgpack_object v, int unique)
{
    if (unique)
        for (uint32_t i = 0; i < m->n; i++)
            if (val_key_eq(&m->v[i].key, &k)) {
                m->v[i].val = v;
                return 0;
            }
    if (m->n == m->cap) {
        uint32_t cap = m->cap ? m->cap * 2 : 16;
        msgpack_object_kv *nv = msgpack_zone_malloc(m->z, cap * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        if (m->n)
            memcpy(nv, m->v, m->n * sizeof *nv);
        m->v = nv;
        m->cap = cap;
    }
    m->v[m->n].key = k;
    m->v[m->n].val = v;
    m->n++;
    return 0;
}

static msgpack_object mapb_done(struct mapb *m)
{
    msgpack_object o = {.type = MSGPACK_OBJECT_MAP, .via.map = {.size = m->n, .ptr = m->v}};
    return o;
}

static msgpack_object client_id_obj(msgpack_zone *z, const struct query_target *t, int64_t id)
{
    char cid[CLIENTID_LEN + 1];
    clientid_encode(t->ip, t->port, (uint32_t)id, cid);
    return zstr(z, cid, CLIENTID_LEN);
}

static int64_t sum_ints(uint8_t cmd, const char *ext)
{
    msgpack_zone *z = msgpack_zone_new(1024);
    if (!z)
        return -ENOMEM;
    struct query_target *t;
    size_t n;
    int64_t sum = 0;
    int r = ask_all(cmd, ext, php_ext_len(ext) ? strlen(ext) : 0, z, &t, &n);
    if (r < 0) {
        msgpack_zone_free(z);
        return r;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t v;
        if (t[i].ok && obj_int(&t[i].reply, &v))
            sum += v;
    }
    free(t);
    msgpack_zone_free(z);
    return sum;
}

int64_t gw_get_all_client_count(void) { return sum_ints(GWP_CMD_GET_CLIENT_COUNT_BY_GROUP, NULL); }

int64_t gw_get_client_count_by_group(const char *group)
{
    if (!php_ext_len(group))
        return 0; /* an empty ext would count every client */
    return sum_ints(GWP_CMD_GET_CLIENT_COUNT_BY_GROUP, group);
}

int gw_is_online(const char *client_id)
{
    msgpack_zone *z = msgpack_zone_new(256);
    if (!z)
        return -ENOMEM;
    struct query_target t;
    int r = ask_own(client_id, GWP_CMD_IS_ONLINE, NULL, 0, z, &t);
    int64_t v = 0;
    if (r == 0)
        r = t.ok && obj_int(&t.reply, &v) && v ? 1 : 0;
    msgpack_zone_free(z);
    return r;
}

int gw_get_session(const char *client_id, struct gw_result *out)
{
    int r = result_init(out);
    if (r < 0)
        return r;
    struct query_target t;
    r = ask_own(client_id, GWP_CMD_GET_SESSION_BY_CLIENT_ID, NULL, 0, out->zone, &t);
    if (r == 0 && t.ok)
        out->value = t.reply;
    return r;
}

/* MAP client_id -> session for a GET_ALL_CLIENT_SESSIONS / BY_GROUP reply. */
static int sessions(uint8_t cmd, const char *group, struct gw_result *out)
{
    int r = result_init(out);
    if (r < 0)
        return r;
    struct query_target *t;
    size_t n;
    r = ask_all(cmd, group, group ? strlen(group) : 0, out->zone, &t, &n);
    if (r < 0)
        return r;
    struct mapb m = {.z = out->zone};
    struct bw_ctx *c = cur();
    for (size_t i = 0; i < n && r == 0; i++) {
        if (!t[i].ok || t[i].reply.type != MSGPACK_OBJECT_MAP)
            continue;
        for (uint32_t j = 0; j < t[i].reply.via.map.size && r == 0; j++) {
            const msgpack_object_kv *e = &t[i].reply.via.map.ptr[j];
            int64_t id;
            if (!obj_int(&e->key, &id))
                continue;
            msgpack_object cid = client_id_obj(out->zone, &t[i], id);
            msgpack_object s = {.type = MSGPACK_OBJECT_MAP};
            /* The current client's entry is its local session (§5.4). */
            if (c && cid.type == MSGPACK_OBJECT_STR && memcmp(cid.via.str.ptr, c->client_id, CLIENTID_LEN) == 0) {
                events_session_load(api_bw);
                if (c->session.type == MSGPACK_OBJECT_MAP)
                    s = c->session;
            } else if (e->val.type == MSGPACK_OBJECT_STR && e->val.via.str.size > 0) {
                char err[120];
                if (phpser_decode((const uint8_t *)e->val.via.str.ptr, e->val.via.str.size, out->zone, &s, NULL, err,
                                  sizeof err) < 0)
                    s.type = MSGPACK_OBJECT_NIL;
            }
            r = mapb_put(&m, cid, s, 0);
        }
    }
    free(t);
    out->value = mapb_done(&m);
    return r;
}

int gw_get_all_client_sessions(struct gw_result *out)
{
    return sessions(GWP_CMD_GET_ALL_CLIENT_SESSIONS, NULL, out);
}

int gw_get_client_sessions_by_group(const char *group, struct gw_result *out)
{
    if (!php_ext_len(group)) {
        int r = result_init(out);
        if (r == 0)
            out->value = (msgpack_object){.type = MSGPACK_OBJECT_MAP};
        return r;
    }
    return sessions(GWP_CMD_GET_CLIENT_SESSIONS_BY_GROUP, group, out);
}

/* SELECT {"fields":["uid"],"where":...} over every gateway; then either
 * client_id -> client_id (want_uids 0) or uid -> uid (want_uids 1). */
static int select_uid(const char *group, int want_uids, struct gw_result *out)
{
    int r = result_init(out);
    if (r < 0)
        return r;
    json_t *where = group ? json_pack("{s:[s]}", "groups", group) : json_array();
    char *ext = NULL;
    r = json_emit(json_pack("{s:[s], s:o}", "fields", "uid", "where", where), &ext);
    if (r < 0)
        return r;
    struct query_target *t;
    size_t n;
    r = ask_all(GWP_CMD_SELECT, ext, strlen(ext), out->zone, &t, &n);
    free(ext);
    if (r < 0)
        return r;
    struct mapb m = {.z = out->zone};
    for (size_t i = 0; i < n && r == 0; i++) {
        if (!t[i].ok || t[i].reply.type != MSGPACK_OBJECT_MAP)
            continue;
        for (uint32_t j = 0; j < t[i].reply.via.map.size && r == 0; j++) {
            const msgpack_object_kv *e = &t[i].reply.via.map.ptr[j];
            int64_t id;
            if (!obj_int(&e->key, &id))
                continue;
            if (!want_uids) {
                msgpack_object cid = client_id_obj(out->zone, &t[i], id);
                r = mapb_put(&m, cid, cid, 0);
                continue;
            }
            msgpack_object key = gw_str("uid");
            long at = e->val.type == MSGPACK_OBJECT_MAP ? val_map_find(&e->val, &key) : -1;
            if (at < 0)
                continue;
            const msgpack_object *uid = &e->val.via.map.ptr[at].val;
            if (uid->type == MSGPACK_OBJECT_NIL)
                continue;
            msgpack_object s = as_str(out->zone, uid);
            r = mapb_put(&m, s, s, 1);
        }
    }
    free(t);
    out->value = mapb_done(&m);
    return r;
}

int gw_get_all_client_id_list(struct gw_result *out) { return select_uid(NULL, 0, out); }
int gw_get_client_id_list_by_group(const char *group, struct gw_result *out)
{
    return select_uid(group ? group : "", 0, out);
}
int gw_get_all_uid_list(struct gw_result *out) { return select_uid(NULL, 1, out); }
int gw_get_uid_list_by_group(const char *group, struct gw_result *out)
{
    return select_uid(group ? group : "", 1, out);
}

static int64_t count_of(int r, struct gw_result *res)
{
    int64_t n = r < 0 ? r : (int64_t)res->value.via.map.size;
    gw_result_free(res);
    return n;
}

int64_t gw_get_all_uid_count(void)
{
    struct gw_result res = {0};
    return count_of(gw_get_all_uid_list(&res), &res);
}

int64_t gw_get_uid_count_by_group(const char *group)
{
    struct gw_result res = {0};
    return count_of(gw_get_uid_list_by_group(group, &res), &res);
}

int gw_get_all_group_id_list(struct gw_result *out)
{
    int r = result_init(out);
    if (r < 0)
        return r;
    struct query_target *t;
    size_t n;
    r = ask_all(GWP_CMD_GET_GROUP_ID_LIST, NULL, 0, out->zone, &t, &n);
    if (r < 0)
        return r;
    struct mapb m = {.z = out->zone};
    for (size_t i = 0; i < n && r == 0; i++) {
        if (!t[i].ok || t[i].reply.type != MSGPACK_OBJECT_MAP)
            continue;
        for (uint32_t j = 0; j < t[i].reply.via.map.size && r == 0; j++) {
            msgpack_object g = as_str(out->zone, &t[i].reply.via.map.ptr[j].val);
            if (g.type == MSGPACK_OBJECT_STR)
                r = mapb_put(&m, g, g, 1);
        }
    }
    free(t);
    out->value = mapb_done(&m);
    return r;
}

int gw_get_client_id_by_uid(const char *uid, struct gw_result *out)
{
    int r = result_init(out);
    if (r < 0)
        return r;
    out->value = (msgpack_object){.type = MSGPACK_OBJECT_ARRAY};
    if (!php_ext_len(uid))
        return 0;
    struct query_target *t;
    size_t n;
    r = ask_all(GWP_CMD_GET_CLIENT_ID_BY_UID, uid, strlen(uid), out->zone, &t, &n);
    if (r < 0)
        return r;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (t[i].ok && t[i].reply.type == MSGPACK_OBJECT_MAP)
            total += t[i].reply.via.map.size;
    msgpack_object *v = total ? msgpack_zone_malloc(out->zone, total * sizeof *v) : NULL;
    uint32_t k = 0;
    for (size_t i = 0; v && i < n; i++) {
        if (!t[i].ok || t[i].reply.type != MSGPACK_OBJECT_MAP)
            continue;
        for (uint32_t j = 0; j < t[i].reply.via.map.size; j++) {
            int64_t id;
            if (obj_int(&t[i].reply.via.map.ptr[j].val, &id))
                v[k++] = client_id_obj(out->zone, &t[i], id);
        }
    }
    free(t);
    if (total && !v)
        return -ENOMEM;
    out->value.via.array.size = k;
    out->value.via.array.ptr = v;
    return 0;
}

int gw_is_uid_online(const char *uid)
{
    struct gw_result res = {0};
    int r = gw_get_client_id_by_uid(uid, &res);
    if (r == 0)
        r = res.value.via.array.size > 0;
    gw_result_free(&res);
    return r;
}

int gw_get_uid_by_client_id(const char *client_id, struct gw_result *out)
{
    int r = result_init(out);
    if (r < 0)
        return r;
    uint32_t ip, id;
    uint16_t port;
    if (!client_id || clientid_decode(client_id, strlen(client_id), &ip, &port, &id) < 0)
        return -EINVAL;
    char k[16];
    snprintf(k, sizeof k, "%u", id);
    char *ext = NULL;
    r = json_emit(json_pack("{s:[s], s:{s:{s:I}}}", "fields", "uid", "where", "connection_id", k, (json_int_t)id),
                  &ext);
    if (r < 0)
        return r;
    struct query_target t;
    r = ask_own(client_id, GWP_CMD_SELECT, ext, strlen(ext), out->zone, &t);
    free(ext);
    if (r == 0 && t.ok && t.reply.type == MSGPACK_OBJECT_MAP && t.reply.via.map.size > 0) {
        const msgpack_object *row = &t.reply.via.map.ptr[0].val;
        msgpack_object key = gw_str("uid");
        long at = row->type == MSGPACK_OBJECT_MAP ? val_map_find(row, &key) : -1;
        if (at >= 0 && row->via.map.ptr[at].val.type != MSGPACK_OBJECT_NIL)
            out->value = as_str(out->zone, &row->via.map.ptr[at].val);
    }
    return r;
}
