/* api_query: the queries of gw_api.h (counts, lists, sessions, online
 * checks): one request to every gateway, or to a client's own, through
 * query.c, and the replies merged as PHP's GatewayClient merges them (§4.4). */
#include "api_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clientid.h"
#include "phpser.h"
#include "phpval.h"
#include "query.h"

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
    return api_bound() && api_bound()->query ? query_last(api_bound()->query) : &none;
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
    size_t n = 0, cap = api__count();
    *t = calloc(cap ? cap : 1, sizeof **t);
    if (!*t)
        return 0;
    for (size_t i = 0; i < cap; i++) {
        struct link *l = api__at(i);
        if (l->in_set) {
            (*t)[n].ip = l->ip;
            (*t)[n].port = l->port;
            n++;
        }
    }
    return n;
}

/* Asks every gateway; replies land in zone. Returns targets (malloc'd) via *t. */
static int ask_all(uint8_t cmd, const void *ext, size_t ext_len, msgpack_zone *zone, struct query_target **t,
                   size_t *n)
{
    if (!api_bound())
        return -EPERM;
    /* Pushes queued by this callback go out (and arrive) before we block. */
    api__settle();
    *n = all_targets(t);
    if (!*t)
        return -ENOMEM;
    query_run(api_bound()->query, *t, *n, cmd, 0, ext, ext_len, zone);
    return 0;
}

/* Asks client_id's gateway only. 0, -EINVAL; t->ok says whether it answered. */
static int ask_own(const char *client_id, uint8_t cmd, const void *ext, size_t ext_len, msgpack_zone *zone,
                   struct query_target *t)
{
    uint32_t id;
    if (!api_bound())
        return -EPERM;
    if (!client_id || clientid_decode(client_id, strlen(client_id), &t->ip, &t->port, &id) < 0)
        return -EINVAL;
    api__settle();
    t->ok = 0;
    t->reply.type = MSGPACK_OBJECT_NIL;
    /* Inside a worker only gateways it links to count (PHP returns null/0 otherwise). */
    if (!api__find(t->ip, t->port))
        return 0;
    query_run(api_bound()->query, t, 1, cmd, id, ext, ext_len, zone);
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
            if (phpval_key_eq(&m->v[i].key, &k)) {
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
    int r = ask_all(cmd, ext, api__php_ext_len(ext) ? strlen(ext) : 0, z, &t, &n);
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
    if (!api__php_ext_len(group))
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
    struct bw_ctx *c = api__cur();
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
                api__session_load();
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
    if (!api__php_ext_len(group)) {
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
    r = api__json_emit(json_pack("{s:[s], s:o}", "fields", "uid", "where", where), &ext);
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
            long at = e->val.type == MSGPACK_OBJECT_MAP ? phpval_map_find(&e->val, &key) : -1;
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
    if (!api__php_ext_len(uid))
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
    r = api__json_emit(json_pack("{s:[s], s:{s:{s:I}}}", "fields", "uid", "where", "connection_id", k, (json_int_t)id),
                  &ext);
    if (r < 0)
        return r;
    struct query_target t;
    r = ask_own(client_id, GWP_CMD_SELECT, ext, strlen(ext), out->zone, &t);
    free(ext);
    if (r == 0 && t.ok && t.reply.type == MSGPACK_OBJECT_MAP && t.reply.via.map.size > 0) {
        const msgpack_object *row = &t.reply.via.map.ptr[0].val;
        msgpack_object key = gw_str("uid");
        long at = row->type == MSGPACK_OBJECT_MAP ? phpval_map_find(row, &key) : -1;
        if (at >= 0 && row->via.map.ptr[at].val.type != MSGPACK_OBJECT_NIL)
            out->value = as_str(out->zone, &row->via.map.ptr[at].val);
    }
    return r;
}
