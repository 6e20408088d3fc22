/* apitest: every function of gw_api.h behind a text command, for the
 * end-to-end tests (tests/integration/test_business_api.c). Not for
 * production: any client may kick anyone.
 *
 * Each client message is one command; the answer goes back to the sender as
 * one JSON object:
 *
 *   {"cmd":"<name>","r":<return value>,"v":<result value, if any>,
 *    "q":{"asked":N,"answered":N,"missing":["ip:port",...]}   (queries only)}
 *
 * Commands (ID = a client_id, U = uid, G = group, lists are comma-separated,
 * KV = k=v[,k=v...] with string values):
 *
 *   me | cur                         the current client_id / every gw_current_*()
 *   sessions | gsessions:G           gw_get_all_client_sessions / _by_group
 *   ids | ids:G                      gw_get_all_client_id_list / _by_group
 *   alluids | uids:G                 gw_get_all_uid_list / gw_get_uid_list_by_group
 *   uidcount | uidcount:G            gw_get_all_uid_count / gw_get_uid_count_by_group
 *   count | count:G                  gw_get_all_client_count / _by_group
 *   groups                           gw_get_all_group_id_list
 *   online:ID | uidonline:U          gw_is_online / gw_is_uid_online
 *   uidof:ID | idsofuid:U            gw_get_uid_by_client_id / gw_get_client_id_by_uid
 *   getsess:ID                       gw_get_session
 *   setsess:ID:KV | setsess:ID       gw_set_session (no KV: NULL = clear)
 *   upd:ID:KV                        gw_update_session
 *   bind:ID:U | unbind:ID:U          gw_bind_uid / gw_unbind_uid
 *   join:ID:G | leave:ID:G           gw_join_group / gw_leave_group
 *   ungroup:G                        gw_ungroup
 *   send:ID:msg | sendme:msg         gw_send_to_client / gw_send_to_current_client
 *   rawme:msg                        gw_send_to_current_client(GW_RAW) of a
 *                                    WebSocket text frame built here
 *   sendall:msg                      gw_send_to_all to everyone
 *   sendall-ids:ID,ID:msg            gw_send_to_all to those client_ids
 *   sendall-ex:ID,ID:msg             gw_send_to_all minus those client_ids
 *   touid:U,U:msg                    gw_send_to_uid
 *   togroup:G,G:msg                  gw_send_to_group
 *   togroup-ex:G,G:ID,ID:msg         gw_send_to_group minus those client_ids
 *   kick:ID:msg | kick:ID            gw_close_client (no msg: NULL)
 *   kickme:msg | kickme              gw_close_current_client
 *   destroy:ID | destroyme           gw_destroy_client / gw_destroy_current_client
 *   sess                             gw_session()
 *   sget:k | sset:KV | sunset:k      gw_session_get / gw_session_set_str / gw_session_unset
 *   sint:k=N                         gw_session_set_int
 *   sreplace:KV | sreplace           gw_session_replace (no KV: NULL)
 *   slow:MS:KV                       sets KV in the session, then sleeps MS ms
 *                                    (the stale-session guard test)
 *   setting:K                        gw_app_setting (v: the string, or null)
 *   path:P                           gw_app_path (v: the absolute path)
 *   every:MS:N                       gw_timer_add, persistent: each run sends
 *                                    "tick:<n>:<rc>" to this client (rc: what
 *                                    gw_session_set_str returned there: no
 *                                    current client), the N-th run deletes its
 *                                    own timer and sends "every-done"; r = id
 *   once:MS                          gw_timer_add, one-shot: sends "once"; r = id
 *   timerdel:ID                      gw_timer_del
 *
 * Callbacks besides on_message: on_websocket_connect stores the query
 * parameter `name` (if any) in the session as "name"; on_close sends
 * "closed:<client_id>" to the group "watchers"; on_connect does nothing but
 * count (the count is in `cur`). Nothing is sent on connect. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_api.h"

/* ---- a growing string ---- */

struct sb {
    char *p;
    size_t n, cap;
    int oom;
};

static void sb_add(struct sb *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(struct sb *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_fmt(struct sb *b, const char *fmt, long long v)
{
    char t[64];
    int n = snprintf(t, sizeof t, fmt, v);
    sb_add(b, t, (size_t)n);
}

/* A JSON string of bytes (non-ASCII bytes are copied: the tests use UTF-8). */
static void sb_json_str(struct sb *b, const char *s, size_t n)
{
    sb_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_add(b, e, 2);
        } else if (c < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            sb_add(b, e, 6);
        } else {
            sb_add(b, (const char *)&c, 1);
        }
    }
    sb_add(b, "\"", 1);
}

static void sb_json(struct sb *b, const msgpack_object *o)
{
    if (!o) {
        sb_str(b, "null");
        return;
    }
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        sb_str(b, "null");
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        sb_str(b, o->via.boolean ? "true" : "false");
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        sb_fmt(b, "%llu", (long long)o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        sb_fmt(b, "%lld", (long long)o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: {
        char t[64];
        int n = snprintf(t, sizeof t, "%.17g", o->via.f64);
        sb_add(b, t, (size_t)n);
        break;
    }
    case MSGPACK_OBJECT_STR:
        sb_json_str(b, o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        sb_json_str(b, o->via.bin.ptr, o->via.bin.size);
        break;
    case MSGPACK_OBJECT_ARRAY:
        sb_str(b, "[");
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i)
                sb_str(b, ",");
            sb_json(b, &o->via.array.ptr[i]);
        }
        sb_str(b, "]");
        break;
    case MSGPACK_OBJECT_MAP:
        sb_str(b, "{");
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            if (i)
                sb_str(b, ",");
            if (k->type == MSGPACK_OBJECT_STR) {
                sb_json_str(b, k->via.str.ptr, k->via.str.size);
            } else {
                /* Integer keys become JSON strings, as json_encode does. */
                sb_str(b, "\"");
                sb_fmt(b, k->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? "%lld" : "%llu",
                       k->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? k->via.i64 : (long long)k->via.u64);
                sb_str(b, "\"");
            }
            sb_str(b, ":");
            sb_json(b, &o->via.map.ptr[i].val);
        }
        sb_str(b, "}");
        break;
    default:
        sb_str(b, "\"?\"");
        break;
    }
}

/* ---- parsing the command ---- */

#define MAX_ITEMS 16

/* Splits s (modified in place) at commas into v; returns the count. */
static size_t split_list(char *s, const char **v)
{
    size_t n = 0;
    while (s && n < MAX_ITEMS) {
        char *c = strchr(s, ',');
        if (c)
            *c++ = 0;
        v[n++] = s;
        s = c;
    }
    return n;
}

/* Cuts the next ':'-separated field off *rest (NULL when none left). */
static char *field(char **rest)
{
    char *s = *rest;
    if (!s)
        return NULL;
    char *c = strchr(s, ':');
    if (c) {
        *c = 0;
        *rest = c + 1;
    } else {
        *rest = NULL;
    }
    return s;
}

/* KV text "k=v,k2=v2" → a MAP of STRs whose storage lives in kv (modified). */
struct kvmap {
    msgpack_object_kv e[MAX_ITEMS];
    msgpack_object map;
};

static const msgpack_object *kv_parse(char *s, struct kvmap *m)
{
    const char *items[MAX_ITEMS];
    size_t n = s && *s ? split_list(s, items) : 0;
    m->map.type = MSGPACK_OBJECT_MAP;
    m->map.via.map.size = 0;
    m->map.via.map.ptr = m->e;
    for (size_t i = 0; i < n; i++) {
        char *eq = strchr((char *)items[i], '=');
        const char *v = "";
        if (eq) {
            *eq = 0;
            v = eq + 1;
        }
        m->e[m->map.via.map.size].key = gw_str(items[i]);
        m->e[m->map.via.map.size].val = gw_str(v);
        m->map.via.map.size++;
    }
    return &m->map;
}

/* ---- the answer ---- */

static unsigned long n_connects;

static void add_query_info(struct sb *b)
{
    const struct gw_query_info *q = gw_last_query();
    sb_fmt(b, ",\"q\":{\"asked\":%lld", q->asked);
    sb_fmt(b, ",\"answered\":%lld,\"missing\":[", q->answered);
    for (int i = 0; i < q->n_missing && i < 16; i++) {
        if (i)
            sb_str(b, ",");
        sb_json_str(b, q->missing[i], strlen(q->missing[i]));
    }
    sb_str(b, "]}");
}

static int answer(const char *cmd, long long r, const msgpack_object *v, int has_v, int query)
{
    struct sb b = {0};
    sb_str(&b, "{\"cmd\":");
    sb_json_str(&b, cmd, strlen(cmd));
    sb_fmt(&b, ",\"r\":%lld", r);
    if (has_v) {
        sb_str(&b, ",\"v\":");
        sb_json(&b, v);
    }
    if (query)
        add_query_info(&b);
    sb_str(&b, "}");
    int rc = b.oom ? -ENOMEM : gw_send_to_current_client(b.p, b.n, 0);
    free(b.p);
    return rc;
}

static int answer_result(const char *cmd, int r, struct gw_result *res)
{
    int rc = answer(cmd, r, &res->value, 1, 1);
    gw_result_free(res);
    return rc;
}

static int answer_push(const char *cmd, int r) { return answer(cmd, r, NULL, 0, 0); }

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- timers ---- */

struct apitimer {
    char client_id[24];
    int64_t id;
    int runs, limit;
    struct apitimer *next; /* the pending ones, so timerdel can free them */
};
static struct apitimer *pending_timers;

static void timer_forget(struct apitimer *t)
{
    for (struct apitimer **p = &pending_timers; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            break;
        }
    free(t);
}

static void on_every(void *arg)
{
    struct apitimer *t = arg;
    char m[64];
    int rc = gw_session_set_str("x", "y");
    int n = snprintf(m, sizeof m, "tick:%d:%d", ++t->runs, rc);
    gw_send_to_client(t->client_id, m, (size_t)n, 0);
    if (t->runs == t->limit) {
        gw_timer_del(t->id);
        gw_send_to_client(t->client_id, "every-done", 10, 0);
        timer_forget(t);
    }
}

static void on_once(void *arg)
{
    struct apitimer *t = arg;
    gw_send_to_client(t->client_id, "once", 4, 0);
    timer_forget(t);
}

static int add_timer(const char *cmd, long ms, int limit)
{
    struct apitimer *t = calloc(1, sizeof *t);
    if (!t)
        return answer_push(cmd, -ENOMEM);
    snprintf(t->client_id, sizeof t->client_id, "%s", gw_current_client_id());
    t->limit = limit;
    t->id = gw_timer_add((unsigned)ms, limit > 0, limit > 0 ? on_every : on_once, t);
    if (t->id < 0) {
        int r = (int)t->id;
        free(t);
        return answer_push(cmd, r);
    }
    t->next = pending_timers;
    pending_timers = t;
    return answer(cmd, t->id, NULL, 0, 0);
}

/* gw_timer_del, and the timer's argument freed when it was still pending. */
static int del_timer(const char *cmd, int64_t id)
{
    int r = gw_timer_del(id);
    if (r == 0)
        for (struct apitimer *t = pending_timers; t; t = t->next)
            if (t->id == id) {
                timer_forget(t);
                break;
            }
    return answer_push(cmd, r);
}

/* ---- the commands ---- */

static int run(char *line)
{
    char *rest = line;
    char *cmd = field(&rest);
    struct gw_result res = {0};
    struct kvmap kv;
    const char *list[MAX_ITEMS], *list2[MAX_ITEMS];

    if (!strcmp(cmd, "me")) {
        msgpack_object id = gw_str(gw_current_client_id());
        return answer(cmd, 0, &id, 1, 0);
    }
    if (!strcmp(cmd, "cur")) {
        msgpack_object_kv e[7];
        char port[16], gport[16], conns[24];
        snprintf(port, sizeof port, "%u", gw_current_remote_port());
        snprintf(gport, sizeof gport, "%u", gw_current_gateway_port());
        snprintf(conns, sizeof conns, "%lu", n_connects);
        const char *k[7] = {"client_id", "remote_ip", "remote_port", "gateway_address", "gateway_port",
                            "body_is_serialized", "connects"};
        const char *v[7] = {gw_current_client_id(), gw_current_remote_ip(), port, gw_current_gateway_address(),
                            gport, gw_current_body_is_serialized() ? "1" : "0", conns};
        for (int i = 0; i < 7; i++) {
            e[i].key = gw_str(k[i]);
            e[i].val = gw_str(v[i]);
        }
        msgpack_object m = {.type = MSGPACK_OBJECT_MAP, .via.map = {.size = 7, .ptr = e}};
        return answer(cmd, 0, &m, 1, 0);
    }
    /* queries */
    if (!strcmp(cmd, "sessions"))
        return answer_result(cmd, gw_get_all_client_sessions(&res), &res);
    if (!strcmp(cmd, "gsessions"))
        return answer_result(cmd, gw_get_client_sessions_by_group(field(&rest), &res), &res);
    if (!strcmp(cmd, "ids"))
        return answer_result(cmd, rest ? gw_get_client_id_list_by_group(field(&rest), &res)
                                       : gw_get_all_client_id_list(&res),
                             &res);
    if (!strcmp(cmd, "alluids"))
        return answer_result(cmd, gw_get_all_uid_list(&res), &res);
    if (!strcmp(cmd, "uids"))
        return answer_result(cmd, gw_get_uid_list_by_group(field(&rest), &res), &res);
    if (!strcmp(cmd, "groups"))
        return answer_result(cmd, gw_get_all_group_id_list(&res), &res);
    if (!strcmp(cmd, "uidcount"))
        return answer(cmd, rest ? gw_get_uid_count_by_group(field(&rest)) : gw_get_all_uid_count(), NULL, 0, 1);
    if (!strcmp(cmd, "count"))
        return answer(cmd, rest ? gw_get_client_count_by_group(field(&rest)) : gw_get_all_client_count(), NULL, 0,
                      1);
    if (!strcmp(cmd, "online"))
        return answer(cmd, gw_is_online(field(&rest)), NULL, 0, 1);
    if (!strcmp(cmd, "uidonline"))
        return answer(cmd, gw_is_uid_online(field(&rest)), NULL, 0, 1);
    if (!strcmp(cmd, "uidof"))
        return answer_result(cmd, gw_get_uid_by_client_id(field(&rest), &res), &res);
    if (!strcmp(cmd, "idsofuid"))
        return answer_result(cmd, gw_get_client_id_by_uid(field(&rest), &res), &res);
    if (!strcmp(cmd, "getsess"))
        return answer_result(cmd, gw_get_session(field(&rest), &res), &res);
    /* sessions of any client */
    if (!strcmp(cmd, "setsess")) {
        char *id = field(&rest);
        return answer_push(cmd, gw_set_session(id, rest ? kv_parse(rest, &kv) : NULL));
    }
    if (!strcmp(cmd, "upd")) {
        char *id = field(&rest);
        return answer_push(cmd, gw_update_session(id, kv_parse(rest, &kv)));
    }
    /* uids and groups */
    if (!strcmp(cmd, "bind") || !strcmp(cmd, "unbind") || !strcmp(cmd, "join") || !strcmp(cmd, "leave")) {
        char *id = field(&rest);
        const char *name = rest ? rest : "";
        int r = cmd[0] == 'b'   ? gw_bind_uid(id, name)
                : cmd[0] == 'u' ? gw_unbind_uid(id, name)
                : cmd[0] == 'j' ? gw_join_group(id, name)
                                : gw_leave_group(id, name);
        return answer_push(cmd, r);
    }
    if (!strcmp(cmd, "ungroup"))
        return answer_push(cmd, gw_ungroup(rest ? rest : ""));
    /* pushes: the reply comes first, so a test reads it before the push */
    if (!strcmp(cmd, "send")) {
        char *id = field(&rest);
        answer_push(cmd, 0);
        return gw_send_to_client(id, rest ? rest : "", rest ? strlen(rest) : 0, 0);
    }
    if (!strcmp(cmd, "sendme"))
        return gw_send_to_current_client(rest ? rest : "", rest ? strlen(rest) : 0, 0);
    if (!strcmp(cmd, "rawme")) {
        /* A whole WebSocket text frame (payload < 126 bytes), written verbatim. */
        char frame[130];
        size_t n = rest ? strlen(rest) : 0;
        if (n > 125)
            return -EINVAL;
        frame[0] = (char)0x81;
        frame[1] = (char)n;
        memcpy(frame + 2, rest ? rest : "", n);
        return gw_send_to_current_client(frame, n + 2, GW_RAW);
    }
    if (!strcmp(cmd, "sendall")) {
        answer_push(cmd, 0);
        return gw_send_to_all(rest ? rest : "", rest ? strlen(rest) : 0, NULL, 0, NULL, 0, 0);
    }
    if (!strcmp(cmd, "sendall-ids") || !strcmp(cmd, "sendall-ex")) {
        int ex = cmd[8] == 'e';
        size_t n = split_list(field(&rest), list);
        answer_push(cmd, 0);
        const char *msg = rest ? rest : "";
        return ex ? gw_send_to_all(msg, strlen(msg), NULL, 0, list, n, 0)
                  : gw_send_to_all(msg, strlen(msg), list, n, NULL, 0, 0);
    }
    if (!strcmp(cmd, "touid")) {
        size_t n = split_list(field(&rest), list);
        answer_push(cmd, 0);
        return gw_send_to_uid(list, n, rest ? rest : "", rest ? strlen(rest) : 0, 0);
    }
    if (!strcmp(cmd, "togroup")) {
        size_t n = split_list(field(&rest), list);
        answer_push(cmd, 0);
        return gw_send_to_group(list, n, rest ? rest : "", rest ? strlen(rest) : 0, NULL, 0, 0);
    }
    if (!strcmp(cmd, "togroup-ex")) {
        size_t n = split_list(field(&rest), list);
        size_t nx = split_list(field(&rest), list2);
        answer_push(cmd, 0);
        return gw_send_to_group(list, n, rest ? rest : "", rest ? strlen(rest) : 0, list2, nx, 0);
    }
    /* closing */
    if (!strcmp(cmd, "kick")) {
        char *id = field(&rest);
        int r = gw_close_client(id, rest, rest ? strlen(rest) : 0);
        return answer_push(cmd, r);
    }
    if (!strcmp(cmd, "kickme"))
        return gw_close_current_client(rest, rest ? strlen(rest) : 0);
    if (!strcmp(cmd, "destroy"))
        return answer_push(cmd, gw_destroy_client(field(&rest)));
    if (!strcmp(cmd, "destroyme"))
        return gw_destroy_current_client();
    /* the current session */
    if (!strcmp(cmd, "sess"))
        return answer(cmd, 0, gw_session(), 1, 0);
    if (!strcmp(cmd, "sget"))
        return answer(cmd, 0, gw_session_get(rest ? rest : ""), 1, 0);
    if (!strcmp(cmd, "sunset")) {
        int r = gw_session_unset(rest ? rest : "");
        return answer(cmd, r, gw_session(), 1, 0);
    }
    if (!strcmp(cmd, "sint")) {
        char *eq = rest ? strchr(rest, '=') : NULL;
        if (!eq)
            return -EINVAL;
        *eq = 0;
        int r = gw_session_set_int(rest, strtoll(eq + 1, NULL, 10));
        return answer(cmd, r, gw_session(), 1, 0);
    }
    if (!strcmp(cmd, "setting")) {
        const char *v = gw_app_setting(rest ? rest : "");
        msgpack_object o = v ? gw_str(v) : (msgpack_object){.type = MSGPACK_OBJECT_NIL};
        return answer(cmd, v ? 0 : -ENOENT, &o, 1, 0);
    }
    if (!strcmp(cmd, "path")) {
        char p[4096];
        int r = gw_app_path(rest ? rest : "", p, sizeof p);
        msgpack_object o = gw_str(r == 0 ? p : "");
        return answer(cmd, r, &o, 1, 0);
    }
    if (!strcmp(cmd, "every")) {
        char *ms = field(&rest);
        return add_timer(cmd, ms ? strtol(ms, NULL, 10) : 0, rest ? atoi(rest) : 1);
    }
    if (!strcmp(cmd, "once"))
        return add_timer(cmd, rest ? strtol(rest, NULL, 10) : 0, 0);
    if (!strcmp(cmd, "timerdel"))
        return del_timer(cmd, rest ? strtoll(rest, NULL, 10) : 0);
    if (!strcmp(cmd, "sreplace")) {
        int r = gw_session_replace(rest ? kv_parse(rest, &kv) : NULL);
        return answer(cmd, r, gw_session(), 1, 0);
    }
    return answer_push("unknown", -ENOSYS);
}

static int on_message(const char *client_id, const char *data, size_t len)
{
    (void)client_id;
    char *line = malloc(len + 1);
    if (!line)
        return -ENOMEM;
    memcpy(line, data, len);
    line[len] = 0;
    int r;
    /* sset:KV and slow:MS:KV set string keys one by one (gw_session_set_str). */
    if (!strncmp(line, "sset:", 5) || !strncmp(line, "slow:", 5)) {
        char *rest = line + 5;
        long ms = 0;
        if (line[1] == 'l') {
            char *f = field(&rest);
            ms = f ? strtol(f, NULL, 10) : 0;
        }
        struct kvmap kv;
        const msgpack_object *m = kv_parse(rest, &kv);
        r = 0;
        for (uint32_t i = 0; i < m->via.map.size && r == 0; i++) {
            char k[256], v[256];
            snprintf(k, sizeof k, "%.*s", (int)m->via.map.ptr[i].key.via.str.size, m->via.map.ptr[i].key.via.str.ptr);
            snprintf(v, sizeof v, "%.*s", (int)m->via.map.ptr[i].val.via.str.size, m->via.map.ptr[i].val.via.str.ptr);
            r = gw_session_set_str(k, v);
        }
        if (ms > 0)
            sleep_ms(ms);
        r = answer(line[1] == 'l' ? "slow" : "sset", r, gw_session(), 1, 0);
    } else {
        r = run(line);
    }
    free(line);
    return r;
}

static int on_connect(const char *client_id)
{
    (void)client_id;
    n_connects++;
    return 0;
}

static int on_websocket_connect(const char *client_id, const msgpack_object *data)
{
    (void)client_id;
    if (data->type != MSGPACK_OBJECT_MAP)
        return 0;
    for (uint32_t i = 0; i < data->via.map.size; i++) {
        const msgpack_object_kv *e = &data->via.map.ptr[i];
        if (e->key.type != MSGPACK_OBJECT_STR || e->key.via.str.size != 3 || memcmp(e->key.via.str.ptr, "get", 3) ||
            e->val.type != MSGPACK_OBJECT_MAP)
            continue;
        for (uint32_t j = 0; j < e->val.via.map.size; j++) {
            const msgpack_object_kv *q = &e->val.via.map.ptr[j];
            if (q->key.type == MSGPACK_OBJECT_STR && q->key.via.str.size == 4 &&
                !memcmp(q->key.via.str.ptr, "name", 4))
                return gw_session_set("name", &q->val);
        }
    }
    return 0;
}

static int on_close(const char *client_id)
{
    char m[64];
    int n = snprintf(m, sizeof m, "closed:%s", client_id);
    const char *g[] = {"watchers"};
    return gw_send_to_group(g, 1, m, (size_t)n, NULL, 0, 0);
}

static const struct gw_app apitest_app = {
    .api_version = GW_API_VERSION,
    .on_connect = on_connect,
    .on_websocket_connect = on_websocket_connect,
    .on_message = on_message,
    .on_close = on_close,
};

const struct gw_app *gw_app(void) { return &apitest_app; }
