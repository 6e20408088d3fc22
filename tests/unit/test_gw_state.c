/* The gateway's state and command engine (gateway/state.c, commands.c,
 * extdata.c, ptab.c, gwmsg.c) against the golden vectors of the real PHP
 * gateway, the live captures, and the rules of spec §3.6, §3.8, §4.1, §5.3
 * and §10.4.
 *
 * The test links build/libgateway.a and reads the state's internals (the id
 * counter, table sizes) through state_int.h. */
#include "gateway/gwmsg.h"
#include "gateway/ptab.h"
#include "gateway/extdata.h"
#include "gateway/state_int.h"

#include "gwp.h"
#include "log.h"
#include "phpser.h"
#include "tu.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------ fake transport */

struct ev {
    uint32_t id;
    struct gwmsg *m; /* our own reference, or NULL (close without goodbye) */
    int close;
    int flush;
};

struct fake {
    struct gws *s;
    struct ev *ev;
    size_t n, cap;
    int remove_on_close; /* behave like a transport that drops the client inside close() */
    int remove_on_send;  /* drop each recipient inside send(): re-entrancy */
    int count_only;      /* the big fan-out: count and compare pointers, keep nothing */
    size_t sends;
    struct gwmsg *first;
    int all_same;
};

static void fake_push(struct fake *fk, uint32_t id, struct gwmsg *m, int close, int flush)
{
    if (fk->n == fk->cap) {
        fk->cap = fk->cap ? fk->cap * 2 : 16;
        fk->ev = realloc(fk->ev, fk->cap * sizeof *fk->ev);
    }
    fk->ev[fk->n++] = (struct ev){id, m, close, flush};
}

static void fake_send(void *ctx, struct gws_client *c, struct gwmsg *m)
{
    struct fake *fk = ctx;
    if (fk->count_only) {
        if (!fk->sends++)
            fk->first = m;
        else if (m != fk->first)
            fk->all_same = 0;
        return;
    }
    fake_push(fk, gws_client_conn_id(c), gwmsg_ref(m), 0, 0);
    if (fk->remove_on_send)
        gws_client_remove(fk->s, c);
}

static void fake_close(void *ctx, struct gws_client *c, struct gwmsg *bye, int flush)
{
    struct fake *fk = ctx;
    fake_push(fk, gws_client_conn_id(c), bye ? gwmsg_ref(bye) : NULL, 1, flush);
    if (fk->remove_on_close)
        gws_client_remove(fk->s, c);
}

static const struct gws_ops fake_ops = {fake_send, fake_close};

static void fake_clear(struct fake *fk)
{
    for (size_t i = 0; i < fk->n; i++)
        gwmsg_unref(fk->ev[i].m);
    fk->n = 0;
}

static void fake_free(struct fake *fk)
{
    fake_clear(fk);
    free(fk->ev);
    fk->ev = NULL;
    fk->cap = 0;
}

static struct gws *new_state(struct fake *fk)
{
    memset(fk, 0, sizeof *fk);
    fk->all_same = 1;
    fk->s = gws_new(&fake_ops, fk);
    return fk->s;
}

static void free_state(struct fake *fk)
{
    gws_free(fk->s);
    fake_free(fk);
}

/* "1,1,2": the recipients of the sends recorded so far. */
static void sends_str(const struct fake *fk, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = 0;
    for (size_t i = 0; i < fk->n && n + 12 < cap; i++)
        if (!fk->ev[i].close)
            n += (size_t)snprintf(out + n, cap - n, "%s%u", n ? "," : "", fk->ev[i].id);
}

/* --------------------------------------------------------- frame helpers */

/* Executes one command built from its parts; ext and body are copied to
 * exact-size heap blocks so ASan sees any read past them. */
static int exec_raw(struct gws *s, uint8_t cmd, uint32_t conn, uint8_t flag, const void *ext, size_t ext_len,
                    const void *body, size_t body_len, struct buf *reply)
{
    uint8_t *e = malloc(ext_len ? ext_len : 1), *b = malloc(body_len ? body_len : 1);
    if (ext_len)
        memcpy(e, ext, ext_len);
    if (body_len)
        memcpy(b, body, body_len);
    struct gwp_frame f;
    memset(&f, 0, sizeof f);
    f.hdr.cmd = cmd;
    f.hdr.connection_id = conn;
    f.hdr.flag = flag;
    f.hdr.ext_len = (uint32_t)ext_len;
    f.hdr.pack_len = (uint32_t)(GWP_HEADER_LEN + ext_len + body_len);
    f.ext = e;
    f.ext_len = ext_len;
    f.body = b;
    f.body_len = body_len;
    int r = gws_exec(s, &f, reply);
    free(e);
    free(b);
    return r;
}

/* A command with text ext_data, flag 1, empty body, no reply expected. */
static int cmd(struct gws *s, uint8_t c, uint32_t conn, const char *ext)
{
    struct buf r = BUF_INIT;
    int ret = exec_raw(s, c, conn, GWP_FLAG_BODY_IS_SCALAR, ext, strlen(ext), "", 0, &r);
    CHECKF(buf_avail(&r) == 0, "cmd %u wrote %zu reply bytes", c, buf_avail(&r));
    buf_free(&r);
    return ret;
}

/* A push with text ext_data and body. */
static int push(struct gws *s, uint8_t c, uint32_t conn, uint8_t flag, const char *ext, const char *body)
{
    return exec_raw(s, c, conn, flag, ext, strlen(ext), body, strlen(body), NULL);
}

/* Runs a query and checks the whole reply: 4-byte length + want. */
static void expect_reply_at(struct gws *s, uint8_t c, uint32_t conn, const char *ext, const char *want, int line)
{
    struct buf r = BUF_INIT;
    buf_append(&r, "old", 3); /* replies are appended after what is there */
    int ret = exec_raw(s, c, conn, GWP_FLAG_BODY_IS_SCALAR, ext, strlen(ext), "", 0, &r);
    size_t wl = strlen(want);
    const uint8_t *p = buf_head(&r);
    size_t n = buf_avail(&r);
    int ok = ret == 0 && n == 3 + 4 + wl && memcmp(p, "old", 3) == 0 && p[3] == (uint8_t)(wl >> 24) &&
             p[4] == (uint8_t)(wl >> 16) && p[5] == (uint8_t)(wl >> 8) && p[6] == (uint8_t)wl &&
             memcmp(p + 7, want, wl) == 0;
    CHECKF(ok, "line %d: cmd %u ext '%s': want '%s', got %d '%.*s'", line, c, ext, want, ret,
           n > 7 ? (int)(n - 7) : 0, n > 7 ? (const char *)p + 7 : "");
    buf_free(&r);
}
#define EXPECT_REPLY(s, c, conn, ext, want) expect_reply_at(s, c, conn, ext, want, __LINE__)

static void expect_session_at(struct gws *s, uint32_t conn, const char *want, int line)
{
    struct gws_client *c = gws_client_find(s, conn);
    size_t n = 0;
    const uint8_t *p = c ? gws_client_session(c, &n) : NULL;
    int ok = c && n == strlen(want) && (n == 0 ? p == NULL : memcmp(p, want, n) == 0);
    CHECKF(ok, "line %d: session of %u: want '%s', got '%.*s'", line, conn, want, (int)n, p ? (const char *)p : "");
}
#define EXPECT_SESSION(s, conn, want) expect_session_at(s, conn, want, __LINE__)

static void expect_sends_at(struct fake *fk, const char *want, int line)
{
    char got[512];
    sends_str(fk, got, sizeof got);
    CHECKF(strcmp(got, want) == 0, "line %d: recipients: want '%s', got '%s'", line, want, got);
    fake_clear(fk);
}
#define EXPECT_SENDS(fk, want) expect_sends_at(fk, want, __LINE__)

/* ----------------------------------------------------- typed PHP values */

/* Serializes a typed value of index.json (typed_value_format). */
static int ser_typed(json_t *t, struct buf *b)
{
    const char *type = json_string_value(json_object_get(t, "type"));
    if (!type)
        return -1;
    if (!strcmp(type, "null"))
        return buf_append_str(b, "N;");
    if (!strcmp(type, "bool"))
        return buf_printf(b, "b:%d;", json_is_true(json_object_get(t, "value")));
    if (!strcmp(type, "int"))
        return buf_printf(b, "i:%" JSON_INTEGER_FORMAT ";", json_integer_value(json_object_get(t, "value")));
    if (!strcmp(type, "float"))
        return buf_printf(b, "d:%s;", json_string_value(json_object_get(t, "repr")));
    if (!strcmp(type, "string")) {
        json_t *v = json_object_get(t, "value");
        if (v) {
            buf_printf(b, "s:%zu:\"", json_string_length(v));
            buf_append(b, json_string_value(v), json_string_length(v));
        } else {
            size_t n;
            uint8_t *raw = tu_hex_decode(json_string_value(json_object_get(t, "hex")), &n);
            if (!raw)
                return -1;
            buf_printf(b, "s:%zu:\"", n);
            buf_append(b, raw, n);
            free(raw);
        }
        return buf_append_str(b, "\";");
    }
    if (!strcmp(type, "array")) {
        json_t *entries = json_object_get(t, "entries");
        buf_printf(b, "a:%zu:{", json_array_size(entries));
        size_t i;
        json_t *e;
        json_array_foreach(entries, i, e)
        {
            if (ser_typed(json_object_get(e, "key"), b) < 0 || ser_typed(json_object_get(e, "value"), b) < 0)
                return -1;
        }
        return buf_append_str(b, "}");
    }
    return -1;
}

/* ------------------------------------------------------ golden vectors */

/* Gateway B (172.16.0.11:2900) = gw[0], gateway C (172.16.0.12:2900) = gw[1]. */
struct world {
    struct fake fk[2];
    struct gws *gw[2];
    char *covered[256];
    size_t ncovered;
};

static int covered(const struct world *w, const char *name)
{
    for (size_t i = 0; i < w->ncovered; i++)
        if (!strcmp(w->covered[i], name))
            return 1;
    return 0;
}

/* Compares what the fake transport saw with a gateway_effect object. */
static void check_effect(const char *name, struct world *w, int g, json_t *eff, uint32_t conn)
{
    struct fake *fk = &w->fk[g];
    json_t *clients = json_object_get(eff, "clients");
    /* nobody outside the listed clients got anything */
    for (size_t i = 0; i < fk->n; i++) {
        int listed = 0;
        size_t k;
        json_t *c;
        json_array_foreach(clients, k, c)
        {
            if (json_integer_value(json_object_get(c, "connection_id")) == fk->ev[i].id)
                listed = 1;
        }
        CHECKF(listed, "%s: connection %u got an unexpected %s", name, fk->ev[i].id,
               fk->ev[i].close ? "close" : "message");
    }
    size_t k;
    json_t *c;
    json_array_foreach(clients, k, c)
    {
        uint32_t id = (uint32_t)json_integer_value(json_object_get(c, "connection_id"));
        json_t *received = json_object_get(c, "received");
        size_t want_n = json_array_size(received), got_n = 0;
        int closed = 0, flush = -1;
        for (size_t i = 0; i < fk->n; i++) {
            struct ev *e = &fk->ev[i];
            if (e->id != id)
                continue;
            if (e->close) {
                closed++;
                flush = e->flush;
            }
            if (!e->m)
                continue;
            json_t *r = json_array_get(received, got_n++);
            if (!r) {
                CHECKF(0, "%s: connection %u got more than %zu messages", name, id, want_n);
                continue;
            }
            int raw = json_is_true(json_object_get(r, "raw"));
            CHECKF(!!(e->m->flags & GWMSG_RAW) == raw, "%s: connection %u message %zu raw flag", name, id,
                   got_n - 1);
            struct buf want = BUF_INIT;
            int array = 0;
            json_t *v;
            if ((v = json_object_get(r, "data"))) {
                buf_append(&want, json_string_value(v), json_string_length(v));
            } else if ((v = json_object_get(r, "data_hex"))) {
                size_t n;
                uint8_t *raw_bytes = tu_hex_decode(json_string_value(v), &n);
                buf_append(&want, raw_bytes, n);
                free(raw_bytes);
            } else if ((v = json_object_get(r, "data_php"))) {
                ser_typed(v, &want);
                array = 1;
            }
            CHECKF(!!(e->m->flags & GWMSG_ARRAY) == array, "%s: connection %u message %zu array flag", name, id,
                   got_n - 1);
            CHECKF(e->m->len == buf_avail(&want) && memcmp(e->m->data, buf_head(&want), e->m->len) == 0,
                   "%s: connection %u message %zu: want '%.*s' got '%.*s'", name, id, got_n - 1,
                   (int)buf_avail(&want), (const char *)buf_head(&want), (int)e->m->len, (const char *)e->m->data);
            buf_free(&want);
        }
        CHECKF(got_n == want_n, "%s: connection %u got %zu messages, want %zu", name, id, got_n, want_n);
        int alive = !json_is_false(json_object_get(c, "alive"));
        CHECKF(closed == (alive ? 0 : 1), "%s: connection %u closed %d times, alive=%d", name, id, closed, alive);
        const char *ended = json_string_value(json_object_get(c, "ended_by"));
        if (ended)
            CHECKF(flush == (!strcmp(ended, "close") ? 1 : 0), "%s: connection %u ended by %s, flush=%d", name,
                   id, ended, flush);
    }
    json_t *after = json_object_get(eff, "session_after_hex");
    if (after) {
        size_t n, got_len = 0;
        uint8_t *want = tu_hex_decode(json_string_value(after), &n);
        struct gws_client *cl = gws_client_find(w->gw[g], conn);
        const uint8_t *got = cl ? gws_client_session(cl, &got_len) : NULL;
        CHECKF(cl && got_len == n && (n == 0 || memcmp(got, want, n) == 0),
               "%s: session after: want %zu bytes, got %zu '%.*s'", name, n, got_len, (int)got_len,
               got ? (const char *)got : "");
        free(want);
    }
}

static int gateway_of(json_t *c, uint32_t conn)
{
    const char *to = json_string_value(json_object_get(c, "to_address"));
    if (to)
        return strcmp(to, "172.16.0.11:2900") == 0 ? 0 : 1;
    /* No address in the case: the scenario's ids tell (B holds 1-3 and 6). */
    return (conn <= 3 || conn == 6) ? 0 : 1;
}

/* Feeds every frame of a case to its gateway and checks reply and effect.
 * extra: an effect in gateway_effect form for cases that carry none. */
static void run_vector(struct world *w, const char *name, const char *extra)
{
    json_t *c = tu_fixture_case(name);
    CHECKF(c != NULL, "case %s missing from index.json", name);
    if (!c)
        return;
    w->covered[w->ncovered++] = strdup(name);
    size_t len;
    uint8_t *bytes = tu_read_hex_fixture(json_string_value(json_object_get(c, "file")), &len);
    CHECKF(bytes != NULL, "%s: cannot read its file", name);
    if (!bytes)
        return;
    size_t off = 0;
    int commands = 0;
    while (off < len) {
        struct gwp_frame f;
        size_t used;
        char err[128];
        int r = gwp_decode(bytes + off, len - off, GWP_DEFAULT_MAX_PACK_LEN, &f, &used, err, sizeof err);
        CHECKF(r == GWP_OK, "%s: frame at %zu does not decode: %s", name, off, err);
        if (r != GWP_OK)
            break;
        off += used;
        int g = gateway_of(c, f.hdr.connection_id);
        struct buf reply = BUF_INIT;
        fake_clear(&w->fk[g]);
        int ret = gws_exec(w->gw[g], &f, &reply);
        if (f.hdr.cmd == GWP_CMD_GATEWAY_CLIENT_CONNECT || f.hdr.cmd == GWP_CMD_WORKER_CONNECT) {
            /* the link layer's business, never the engine's */
            CHECKF(ret == GWS_EUNKNOWN && buf_avail(&reply) == 0 && w->fk[g].n == 0,
                   "%s: auth frame was not refused cleanly", name);
            buf_free(&reply);
            continue;
        }
        commands++;
        CHECKF(ret == 0, "%s: gws_exec returned %d", name, ret);
        if (gwp_cmd_has_reply(f.hdr.cmd)) {
            char rname[128];
            snprintf(rname, sizeof rname, "reply-%s", name);
            json_t *rc = tu_fixture_case(rname);
            CHECKF(rc != NULL, "%s: no %s vector", name, rname);
            if (rc) {
                size_t wl;
                uint8_t *want = tu_read_hex_fixture(json_string_value(json_object_get(rc, "file")), &wl);
                CHECKF(want && buf_avail(&reply) == wl && memcmp(buf_head(&reply), want, wl) == 0,
                       "%s: reply differs: want '%s' got %zu bytes '%.*s'", name,
                       json_string_value(json_object_get(rc, "payload")), buf_avail(&reply),
                       buf_avail(&reply) > 4 ? (int)buf_avail(&reply) - 4 : 0,
                       buf_avail(&reply) > 4 ? (const char *)buf_head(&reply) + 4 : "");
                w->covered[w->ncovered++] = strdup(rname);
                free(want);
            }
        } else {
            CHECKF(buf_avail(&reply) == 0, "%s: a command without reply wrote %zu bytes", name, buf_avail(&reply));
        }
        buf_free(&reply);
        json_t *eff = json_object_get(c, "gateway_effect");
        json_t *extra_j = NULL;
        if (!eff && extra) {
            extra_j = json_loads(extra, 0, NULL);
            CHECKF(extra_j != NULL, "%s: bad extra effect in the test", name);
            eff = extra_j;
        }
        if (eff)
            check_effect(name, w, g, eff, f.hdr.connection_id);
        json_decref(extra_j);
        fake_clear(&w->fk[g]);
    }
    CHECKF(commands == 1, "%s: %d command frames, want 1", name, commands);
    free(bytes);
}

static void add_clients(struct gws *s, int n)
{
    for (int i = 0; i < n; i++)
        CU_ASSERT_PTR_NOT_NULL(gws_client_add(s, NULL));
}

static void remove_client(struct gws *s, uint32_t id)
{
    struct gws_client *c = gws_client_find(s, id);
    CHECKF(c != NULL, "client %u to remove is missing", id);
    gws_client_remove(s, c);
}

/* The scenario of index.json, rebuilt: gateway B holds clients 1, 2, 3 (6
 * joins for the kick), C holds 4, 5 (7 and 8 join for kick and destroy);
 * ids come from one counter shared by both simulated gateways, so each of
 * ours burns the other's ids. The order of the steps follows the effects:
 * e.g. send_to_uid reaches 1 and 2, so 2 is bound to u1001 before it. */
static void test_vectors(void)
{
    struct world w;
    memset(&w, 0, sizeof w);
    for (int g = 0; g < 2; g++) {
        w.gw[g] = new_state(&w.fk[g]);
        w.fk[g].remove_on_close = 1;
    }
    struct gws *B = w.gw[0], *C = w.gw[1];
    add_clients(B, 3);
    add_clients(C, 5);
    for (uint32_t id = 1; id <= 3; id++)
        remove_client(C, id);

    /* gateway B: sessions, uid, groups */
    run_vector(&w, "set_session", NULL);
    run_vector(&w, "bind_uid", NULL);
    CU_ASSERT_EQUAL(cmd(B, GWP_CMD_BIND_UID, 2, "u1001"), 0);
    run_vector(&w, "join_group", NULL);
    CU_ASSERT_EQUAL(cmd(B, GWP_CMD_JOIN_GROUP, 2, "table-12"), 0);
    CU_ASSERT_EQUAL(cmd(B, GWP_CMD_JOIN_GROUP, 3, "screen"), 0);
    CU_ASSERT_EQUAL(cmd(B, GWP_CMD_JOIN_GROUP, 1, "100"), 0);
    run_vector(&w, "update_session", NULL);
    run_vector(&w, "set_session_api", NULL);

    /* gateway B: pushes */
    run_vector(&w, "send_to_one", NULL);
    run_vector(&w, "send_to_one_raw", NULL);
    run_vector(&w, "send_to_current_client",
               "{\"clients\":[{\"connection_id\":1,\"received\":[{\"raw\":false,\"data\":\"欢迎 welcome\"}]}]}");
    run_vector(&w, "send_to_one_array_body", NULL);
    run_vector(&w, "send_to_one_empty_body",
               "{\"clients\":[{\"connection_id\":2,\"received\":[{\"raw\":false,\"data\":\"\"}]}]}");
    run_vector(&w, "send_to_all", NULL);
    run_vector(&w, "send_to_all_exclude", NULL);
    run_vector(&w, "send_to_all_exclude_other_gateway",
               "{\"clients\":[{\"connection_id\":1,\"received\":[{\"raw\":false,\"data\":\"{\\\"type\\\":\\\"round\\\",\\\"n\\\":3}\"}]},"
               "{\"connection_id\":2,\"received\":[{\"raw\":false,\"data\":\"{\\\"type\\\":\\\"round\\\",\\\"n\\\":3}\"}]},"
               "{\"connection_id\":3,\"received\":[{\"raw\":false,\"data\":\"{\\\"type\\\":\\\"round\\\",\\\"n\\\":3}\"}]}]}");
    run_vector(&w, "send_to_all_client_id_array", NULL);
    run_vector(&w, "send_to_uid", NULL);
    run_vector(&w, "send_to_group", NULL);
    run_vector(&w, "send_to_group_exclude", NULL);
    run_vector(&w, "gc_send_to_all",
               "{\"clients\":[{\"connection_id\":1,\"received\":[{\"raw\":false,\"data\":\"{\\\"type\\\":\\\"announce\\\",\\\"text\\\":\\\"抽奖开始\\\"}\"}]},"
               "{\"connection_id\":2,\"received\":[{\"raw\":false,\"data\":\"{\\\"type\\\":\\\"announce\\\",\\\"text\\\":\\\"抽奖开始\\\"}\"}]},"
               "{\"connection_id\":3,\"received\":[{\"raw\":false,\"data\":\"{\\\"type\\\":\\\"announce\\\",\\\"text\\\":\\\"抽奖开始\\\"}\"}]}]}");

    /* gateway C: uid, groups (some made and dropped again), sessions */
    run_vector(&w, "bind_uid_int", NULL);
    CU_ASSERT_EQUAL(cmd(C, GWP_CMD_BIND_UID, 5, "u2002"), 0);
    run_vector(&w, "unbind_uid", NULL);
    CU_ASSERT_EQUAL(gws_uid_count(C), 1);
    CU_ASSERT_EQUAL(cmd(C, GWP_CMD_JOIN_GROUP, 4, "table-12"), 0);
    CU_ASSERT_EQUAL(cmd(C, GWP_CMD_JOIN_GROUP, 5, "table-12"), 0);
    CU_ASSERT_EQUAL(cmd(C, GWP_CMD_JOIN_GROUP, 5, "leavers"), 0);
    run_vector(&w, "leave_group", NULL);
    CU_ASSERT_EQUAL(cmd(C, GWP_CMD_JOIN_GROUP, 4, "一等奖/VIP"), 0);
    CU_ASSERT_EQUAL(cmd(C, GWP_CMD_JOIN_GROUP, 4, "temp-group"), 0);
    CU_ASSERT_EQUAL(cmd(C, GWP_CMD_JOIN_GROUP, 5, "temp-group"), 0);
    run_vector(&w, "ungroup", NULL);
    CU_ASSERT_EQUAL(gws_group_count(C), 2);
    run_vector(&w, "update_session_empty_before", NULL);
    CU_ASSERT_EQUAL(cmd(C, GWP_CMD_SET_SESSION, 5, "a:1:{s:1:\"x\";i:1;}"), 0);
    run_vector(&w, "set_session_clear", "{\"session_after_hex\":\"\"}");

    /* gateway C: pushes */
    run_vector(&w, "send_to_all_gw_c", NULL);
    run_vector(&w, "send_to_all_exclude_gw_c", NULL);
    run_vector(&w, "send_to_all_client_id_array_gw_c",
               "{\"clients\":[{\"connection_id\":4,\"received\":[{\"raw\":false,\"data\":\"{\\\"type\\\":\\\"private\\\"}\"}]}]}");
    run_vector(&w, "send_to_uid_list", NULL);
    run_vector(&w, "send_to_group_exclude_gw_c", NULL);
    run_vector(&w, "send_to_group_json_escapes", NULL);
    run_vector(&w, "gc_send_to_all_gw_c",
               "{\"clients\":[{\"connection_id\":4,\"received\":[{\"raw\":false,\"data\":\"{\\\"type\\\":\\\"announce\\\",\\\"text\\\":\\\"抽奖开始\\\"}\"}]},"
               "{\"connection_id\":5,\"received\":[{\"raw\":false,\"data\":\"{\\\"type\\\":\\\"announce\\\",\\\"text\\\":\\\"抽奖开始\\\"}\"}]}]}");
    run_vector(&w, "gc_send_to_client",
               "{\"clients\":[{\"connection_id\":4,\"received\":[{\"raw\":false,\"data\":\"hi\"}]}]}");

    /* the kicked and destroyed clients arrive last */
    add_clients(B, 3);
    remove_client(B, 4);
    remove_client(B, 5);
    run_vector(&w, "kick", NULL);
    add_clients(C, 3);
    remove_client(C, 6);
    run_vector(&w, "kick_with_message", NULL);
    run_vector(&w, "destroy", NULL);

    /* queries, replies compared byte for byte */
    static const char *const queries[] = {
        "is_online", "is_online_gone", "get_session", "get_session_empty", "get_session_gone",
        "get_all_client_sessions_1", "get_all_client_sessions_2", "get_client_sessions_by_group_1",
        "get_client_sessions_by_group_2", "get_client_count_by_group_1", "get_client_count_by_group_2",
        "get_all_client_count_1", "get_all_client_count_2", "get_client_id_by_uid_1", "get_client_id_by_uid_2",
        "get_all_group_id_list_1", "get_all_group_id_list_2", "select_all_client_id_list_1",
        "select_all_client_id_list_2", "select_uid_list_by_group_1", "select_uid_list_by_group_2",
        "select_uid_by_client_id", "select_all_fields_1", "select_all_fields_2", "select_group_uid_list_1",
        "select_group_uid_list_2", "gc_batch_get_client_id_by_uid_1", "gc_batch_get_client_id_by_uid_2",
        "gc_batch_get_client_count_by_group_1", "gc_batch_get_client_count_by_group_2", "gc_is_uid_online_1",
        "gc_is_uid_online_2",
    };
    for (size_t i = 0; i < sizeof queries / sizeof *queries; i++)
        run_vector(&w, queries[i], NULL);

    /* Every command vector aimed at a gateway, and every reply, was used. */
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(tu_fixture_index(), "cases"), i, c)
    {
        const char *kind = json_string_value(json_object_get(c, "kind"));
        const char *dir = json_string_value(json_object_get(c, "direction"));
        const char *name = json_string_value(json_object_get(c, "name"));
        int to_gateway = dir && strstr(dir, "->gateway");
        int is_auth = !strcmp(name, "worker_connect") || !strcmp(name, "worker_connect_no_secret") ||
                      !strcmp(name, "gateway_client_connect");
        if ((!strcmp(kind, "reply") || ((!strcmp(kind, "frame") || !strcmp(kind, "stream")) && to_gateway)) &&
            !is_auth)
            CHECKF(covered(&w, name), "vector %s is not exercised", name);
    }
    for (size_t k = 0; k < w.ncovered; k++)
        free(w.covered[k]);
    for (int g = 0; g < 2; g++)
        free_state(&w.fk[g]);
}

/* Frames the gateway sends (events, PING) and the auth frames are not
 * commands for the engine: refused without effect, as PHP's default branch. */
static void test_vectors_not_commands(void)
{
    struct fake fk;
    struct gws *s = new_state(&fk);
    add_clients(s, 2);
    size_t i;
    json_t *c;
    int n = 0;
    json_array_foreach(json_object_get(tu_fixture_index(), "cases"), i, c)
    {
        const char *kind = json_string_value(json_object_get(c, "kind"));
        const char *name = json_string_value(json_object_get(c, "name"));
        json_t *fields = json_object_get(c, "fields");
        if (strcmp(kind, "frame") != 0 || !fields)
            continue;
        unsigned cmdno = (unsigned)json_integer_value(json_object_get(fields, "cmd"));
        if (cmdno != 1 && cmdno != 3 && cmdno != 4 && cmdno != 200 && cmdno != 201 && cmdno != 205)
            continue;
        size_t len;
        uint8_t *bytes = tu_read_hex_fixture(json_string_value(json_object_get(c, "file")), &len);
        struct gwp_frame f;
        size_t used;
        CU_ASSERT_FATAL(bytes && gwp_decode(bytes, len, GWP_DEFAULT_MAX_PACK_LEN, &f, &used, NULL, 0) == GWP_OK);
        struct buf reply = BUF_INIT;
        int r = gws_exec(s, &f, &reply);
        CHECKF(r == GWS_EUNKNOWN && buf_avail(&reply) == 0 && fk.n == 0, "%s: cmd %u not refused (%d)", name, cmdno,
               r);
        buf_free(&reply);
        free(bytes);
        n++;
    }
    CHECKF(n >= 8, "only %d event/auth vectors found", n);
    CU_ASSERT_EQUAL(gws_client_count(s), 2);
    free_state(&fk);
}

/* live/: one browser on a real workerman 4.2 gateway, session set by the
 * worker, in group "100", no uid. */
static void test_live_vectors(void)
{
    struct fake fk;
    struct gws *s = new_state(&fk);
    add_clients(s, 1);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_SET_SESSION, 1, "a:2:{s:3:\"uid\";s:5:\"u1001\";s:4:\"name\";s:6:\"张三\";}"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_JOIN_GROUP, 1, "100"), 0);
    static const char *const names[] = {"is_online", "get_session", "get_all_client_sessions",
                                        "get_client_count_by_group", "get_group_id_list", "select"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[128];
        size_t len, wl;
        snprintf(path, sizeof path, "live/live-%s-request.hex", names[i]);
        uint8_t *req = tu_read_hex_fixture(path, &len);
        snprintf(path, sizeof path, "live/live-%s-reply.hex", names[i]);
        uint8_t *want = tu_read_hex_fixture(path, &wl);
        CHECKF(req && want, "live %s: fixture missing", names[i]);
        struct buf reply = BUF_INIT;
        for (size_t off = 0; req && off < len;) {
            struct gwp_frame f;
            size_t used;
            if (gwp_decode(req + off, len - off, GWP_DEFAULT_MAX_PACK_LEN, &f, &used, NULL, 0) != GWP_OK) {
                CHECKF(0, "live %s: bad frame", names[i]);
                break;
            }
            off += used;
            (void)gws_exec(s, &f, &reply);
        }
        CHECKF(want && buf_avail(&reply) == wl && memcmp(buf_head(&reply), want, wl) == 0,
               "live %s: reply differs: got '%.*s'", names[i],
               buf_avail(&reply) > 4 ? (int)buf_avail(&reply) - 4 : 0,
               buf_avail(&reply) > 4 ? (const char *)buf_head(&reply) + 4 : "");
        buf_free(&reply);
        free(req);
        free(want);
    }
    /* live-unauthenticated-command is the link layer's; the command itself
     * (IS_ONLINE of connection 1) is an ordinary query here. */
    free_state(&fk);
}

/* ----------------------------------------------------------- connection ids */

static void test_conn_ids(void)
{
    struct fake fk;
    struct gws *s = new_state(&fk);
    int h1, h2;
    struct gws_client *a = gws_client_add(s, &h1), *b = gws_client_add(s, &h2), *c = gws_client_add(s, NULL);
    CU_ASSERT_EQUAL(gws_client_conn_id(a), 1);
    CU_ASSERT_EQUAL(gws_client_conn_id(b), 2);
    CU_ASSERT_EQUAL(gws_client_conn_id(c), 3);
    CU_ASSERT_PTR_EQUAL(gws_client_handle(a), &h1);
    gws_client_set_handle(c, &h2);
    CU_ASSERT_PTR_EQUAL(gws_client_handle(c), &h2);
    CU_ASSERT_PTR_EQUAL(gws_client_find(s, 2), b);
    CU_ASSERT_PTR_NULL(gws_client_find(s, 4));
    CU_ASSERT_PTR_NULL(gws_client_find(s, 0));

    /* pre-increment: a freed id is not handed out again at once */
    gws_client_remove(s, b);
    CU_ASSERT_PTR_NULL(gws_client_find(s, 2));
    struct gws_client *d = gws_client_add(s, NULL);
    CU_ASSERT_EQUAL(gws_client_conn_id(d), 4);
    CU_ASSERT_EQUAL(gws_client_count(s), 3);

    /* the top: 2^32-2, 2^32-1, then 1 is in use, 2 is free */
    s->last_id = UINT32_MAX - 2;
    struct gws_client *e = gws_client_add(s, NULL), *f = gws_client_add(s, NULL), *g = gws_client_add(s, NULL);
    CU_ASSERT_EQUAL(gws_client_conn_id(e), UINT32_MAX - 1);
    CU_ASSERT_EQUAL(gws_client_conn_id(f), UINT32_MAX);
    CU_ASSERT_EQUAL(gws_client_conn_id(g), 2);
    /* skipping a run of ids in use: 3, 4 taken → 5 */
    struct gws_client *h = gws_client_add(s, NULL);
    CU_ASSERT_EQUAL(gws_client_conn_id(h), 5);
    /* a wrap that must skip ids at both ends */
    s->last_id = UINT32_MAX - 1;
    struct gws_client *i = gws_client_add(s, NULL);
    CU_ASSERT_EQUAL(gws_client_conn_id(i), 6);

    /* accept order for iteration (and for every reply listing clients) */
    uint32_t want[] = {1, 3, 4, UINT32_MAX - 1, UINT32_MAX, 2, 5, 6};
    size_t n = 0;
    for (struct gws_client *it = gws_client_next(s, NULL); it; it = gws_client_next(s, it), n++)
        CHECKF(n < 8 && gws_client_conn_id(it) == want[n], "iteration %zu: %u", n, gws_client_conn_id(it));
    CU_ASSERT_EQUAL(n, 8);
    EXPECT_REPLY(s, GWP_CMD_GET_ALL_CLIENT_SESSIONS, 0, "",
                 "a:8:{i:1;s:0:\"\";i:3;s:0:\"\";i:4;s:0:\"\";i:4294967294;s:0:\"\";i:4294967295;s:0:\"\";i:2;s:0:\"\";"
                 "i:5;s:0:\"\";i:6;s:0:\"\";}");
    gws_client_remove(s, NULL);
    gws_client_remove(s, f);
    CU_ASSERT_EQUAL(gws_client_count(s), 7);
    free_state(&fk);
}

/* ------------------------------------------------------- big fan-out */

#define BIG 100000

static void test_big_group(void)
{
    struct fake fk;
    struct gws *s = new_state(&fk);
    fk.count_only = 1;
    struct gws_client **cl = malloc(BIG * sizeof *cl);
    for (int i = 0; i < BIG; i++) {
        cl[i] = gws_client_add(s, NULL);
        CU_ASSERT_FATAL(cl[i] != NULL);
        CU_ASSERT_EQUAL_FATAL(cmd(s, GWP_CMD_JOIN_GROUP, gws_client_conn_id(cl[i]), "everyone"), 0);
        if (i % 2 == 0)
            CU_ASSERT_EQUAL_FATAL(cmd(s, GWP_CMD_BIND_UID, gws_client_conn_id(cl[i]), "even"), 0);
    }
    CU_ASSERT_EQUAL(gws_client_count(s), BIG);
    EXPECT_REPLY(s, GWP_CMD_GET_CLIENT_COUNT_BY_GROUP, 0, "everyone", "i:100000;");

    /* one SEND_TO_GROUP: 100,000 deliveries of one shared message */
    CU_ASSERT_EQUAL(push(s, GWP_CMD_SEND_TO_GROUP, 0, 1, "{\"group\":[\"everyone\"],\"exclude\":null}", "draw!"), 0);
    CU_ASSERT_EQUAL(fk.sends, BIG);
    CU_ASSERT(fk.all_same);
    fk.sends = 0;
    CU_ASSERT_EQUAL(push(s, GWP_CMD_SEND_TO_ALL, 0, 1, "", "all"), 0);
    CU_ASSERT_EQUAL(fk.sends, BIG);
    CU_ASSERT(fk.all_same);
    fk.sends = 0;
    CU_ASSERT_EQUAL(push(s, GWP_CMD_SEND_TO_UID, 0, 1, "[\"even\"]", "half"), 0);
    CU_ASSERT_EQUAL(fk.sends, BIG / 2);
    CU_ASSERT(fk.all_same);

    /* an exclude list of 50,000 ids (object form, as PHP writes it) */
    struct buf ex = BUF_INIT;
    buf_append_str(&ex, "{\"group\":[\"everyone\"],\"exclude\":{");
    for (int i = 0; i < BIG; i += 2)
        buf_printf(&ex, "%s\"%u\":%u", i ? "," : "", gws_client_conn_id(cl[i]), gws_client_conn_id(cl[i]));
    buf_append_str(&ex, "}}");
    fk.sends = 0;
    CU_ASSERT_EQUAL(
        exec_raw(s, GWP_CMD_SEND_TO_GROUP, 0, 1, buf_head(&ex), buf_avail(&ex), "odd", 3, NULL), 0);
    CU_ASSERT_EQUAL(fk.sends, BIG / 2);
    buf_free(&ex);

    /* leaving and re-joining are O(1): the member moves to the end */
    uint32_t first = gws_client_conn_id(cl[0]);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_LEAVE_GROUP, first, "everyone"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_JOIN_GROUP, first, "everyone"), 0);
    struct gws_group *g = gws__group_find(s, "everyone", 8);
    CU_ASSERT_FATAL(g != NULL);
    CU_ASSERT_EQUAL(g->members->g_prev->c->id, first); /* utlist: head->prev is the tail */
    CU_ASSERT_EQUAL(g->count, BIG);

    /* removing every client empties every index */
    for (int i = 0; i < BIG; i++)
        gws_client_remove(s, cl[(i * 7919) % BIG]); /* 7919 is prime: a scattered order */
    CU_ASSERT_EQUAL(gws_client_count(s), 0);
    CU_ASSERT_EQUAL(gws_group_count(s), 0);
    CU_ASSERT_EQUAL(gws_uid_count(s), 0);
    CU_ASSERT_EQUAL(s->members.n, 0);
    CU_ASSERT_PTR_NULL(s->members.slot);
    CU_ASSERT_EQUAL(s->ids.n, 0);
    CU_ASSERT_PTR_NULL(s->clients);
    EXPECT_REPLY(s, GWP_CMD_GET_CLIENT_COUNT_BY_GROUP, 0, "everyone", "i:0;");
    EXPECT_REPLY(s, GWP_CMD_GET_GROUP_ID_LIST, 0, "", "a:0:{}");
    free(cl);
    free_state(&fk);
}

static void test_client_is_small(void)
{
    /* The brief: an idle client well under 100 bytes. */
    CHECKF(sizeof(struct gws_client) <= 56, "struct gws_client is %zu bytes", sizeof(struct gws_client));
    CHECKF(sizeof(struct gws_member) <= 48, "struct gws_member is %zu bytes", sizeof(struct gws_member));
}

/* ------------------------------------------------------- semantics */

/* clients 1..n, no memberships */
static struct gws *world_n(struct fake *fk, int n)
{
    struct gws *s = new_state(fk);
    add_clients(s, n);
    return s;
}

static void test_uids(void)
{
    struct fake fk;
    struct gws *s = world_n(&fk, 3);
    /* PHP-empty uids are ignored */
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_BIND_UID, 1, ""), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_BIND_UID, 1, "0"), 0);
    CU_ASSERT_EQUAL(gws_uid_count(s), 0);
    EXPECT_REPLY(s, GWP_CMD_SELECT, 0, "{\"fields\":[\"uid\"],\"where\":{\"connection_id\":[1]}}",
                 "a:1:{i:1;a:1:{s:3:\"uid\";N;}}");
    /* "00" is not PHP-empty */
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_BIND_UID, 3, "00"), 0);
    CU_ASSERT_EQUAL(gws_uid_count(s), 1);
    /* a re-bind to the same uid moves the client to the end */
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_BIND_UID, 1, "u"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_BIND_UID, 2, "u"), 0);
    EXPECT_REPLY(s, GWP_CMD_GET_CLIENT_ID_BY_UID, 0, "u", "a:2:{i:0;i:1;i:1;i:2;}");
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_BIND_UID, 1, "u"), 0);
    EXPECT_REPLY(s, GWP_CMD_GET_CLIENT_ID_BY_UID, 0, "u", "a:2:{i:0;i:2;i:1;i:1;}");
    /* one uid per client */
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_BIND_UID, 1, "v"), 0);
    EXPECT_REPLY(s, GWP_CMD_GET_CLIENT_ID_BY_UID, 0, "u", "a:1:{i:0;i:2;}");
    EXPECT_REPLY(s, GWP_CMD_GET_CLIENT_ID_BY_UID, 0, "v", "a:1:{i:0;i:1;}");
    /* unbind ignores ext_data; the last member's departure deletes the uid */
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_UNBIND_UID, 2, "whatever"), 0);
    EXPECT_REPLY(s, GWP_CMD_GET_CLIENT_ID_BY_UID, 0, "u", "a:0:{}");
    CU_ASSERT_EQUAL(gws_uid_count(s), 2);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_UNBIND_UID, 2, ""), 0); /* not bound: nothing */
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_BIND_UID, 99, "u"), 0); /* no such client */
    CU_ASSERT_EQUAL(gws_uid_count(s), 2);
    /* numeric uids: the uid value stays a string, keys become ints */
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_BIND_UID, 2, "1002"), 0);
    EXPECT_REPLY(s, GWP_CMD_SELECT, 0, "{\"fields\":[\"uid\"],\"where\":{\"uid\":[1002]}}",
                 "a:1:{i:2;a:1:{s:3:\"uid\";s:4:\"1002\";}}");
    EXPECT_REPLY(s, GWP_CMD_BATCH_GET_CLIENT_ID_BY_UID, 0, "[1002,\"00\",\"-0\"]",
                 "a:3:{i:1002;a:1:{i:0;i:2;}s:2:\"00\";a:1:{i:0;i:3;}s:2:\"-0\";a:0:{}}");
    /* a uid listed twice is pushed twice; a client is removed from its uid on close */
    CU_ASSERT_EQUAL(push(s, GWP_CMD_SEND_TO_UID, 0, 1, "[\"v\",1002,\"v\",\"nobody\"]", "m"), 0);
    EXPECT_SENDS(&fk, "1,2,1");
    remove_client(s, 1);
    EXPECT_REPLY(s, GWP_CMD_GET_CLIENT_ID_BY_UID, 0, "v", "a:0:{}");
    CU_ASSERT_EQUAL(gws_uid_count(s), 2);
    free_state(&fk);
}

static void test_groups(void)
{
    struct fake fk;
    struct gws *s = world_n(&fk, 3);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_JOIN_GROUP, 1, ""), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_JOIN_GROUP, 1, "0"), 0);
    CU_ASSERT_EQUAL(gws_group_count(s), 0);
    /* never joined: groups is null, not an empty array */
    EXPECT_REPLY(s, GWP_CMD_SELECT, 0, "{\"fields\":[\"groups\"],\"where\":[]}",
                 "a:3:{i:1;a:1:{s:6:\"groups\";N;}i:2;a:1:{s:6:\"groups\";N;}i:3;a:1:{s:6:\"groups\";N;}}");
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_JOIN_GROUP, 2, "b"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_JOIN_GROUP, 1, "a"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_JOIN_GROUP, 2, "a"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_JOIN_GROUP, 1, "a"), 0); /* twice: no change */
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_JOIN_GROUP, 1, "7"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_JOIN_GROUP, 1, "-7"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_JOIN_GROUP, 1, "07"), 0);
    EXPECT_REPLY(s, GWP_CMD_GET_GROUP_ID_LIST, 0, "",
                 "a:5:{i:0;s:1:\"b\";i:1;s:1:\"a\";i:2;i:7;i:3;i:-7;i:4;s:2:\"07\";}");
    EXPECT_REPLY(s, GWP_CMD_GET_CLIENT_SESSIONS_BY_GROUP, 0, "a", "a:2:{i:1;s:0:\"\";i:2;s:0:\"\";}");
    EXPECT_REPLY(s, GWP_CMD_GET_CLIENT_COUNT_BY_GROUP, 0, "a", "i:2;");
    EXPECT_REPLY(s, GWP_CMD_GET_CLIENT_COUNT_BY_GROUP, 0, "0", "i:0;"); /* "0" is a name here */
    EXPECT_REPLY(s, GWP_CMD_GET_CLIENT_COUNT_BY_GROUP, 0, "", "i:3;");
    EXPECT_REPLY(s, GWP_CMD_GET_CLIENT_SESSIONS_BY_GROUP, 0, "nope", "a:0:{}");
    EXPECT_REPLY(s, GWP_CMD_SELECT, 0, "{\"fields\":[\"groups\"],\"where\":{\"connection_id\":{\"1\":1}}}",
                 "a:1:{i:1;a:1:{s:6:\"groups\";a:4:{s:1:\"a\";s:1:\"a\";i:7;s:1:\"7\";i:-7;s:2:\"-7\";s:2:\"07\";s:2:\"07\";}}}");
    /* a client in two listed groups receives twice */
    CU_ASSERT_EQUAL(push(s, GWP_CMD_SEND_TO_GROUP, 0, 1, "{\"group\":[\"a\",\"b\",\"nope\",7],\"exclude\":null}", "m"), 0);
    EXPECT_SENDS(&fk, "1,2,2,1");
    /* leave: non-members and unknown groups are no-ops; the empty group goes */
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_LEAVE_GROUP, 3, "a"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_LEAVE_GROUP, 3, "zzz"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_LEAVE_GROUP, 1, ""), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_LEAVE_GROUP, 2, "b"), 0);
    CU_ASSERT_EQUAL(gws_group_count(s), 4);
    /* a group emptied and made again is the newest */
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_JOIN_GROUP, 3, "b"), 0);
    EXPECT_REPLY(s, GWP_CMD_GET_GROUP_ID_LIST, 0, "",
                 "a:5:{i:0;s:1:\"a\";i:1;i:7;i:2;i:-7;i:3;s:2:\"07\";i:4;s:1:\"b\";}");
    /* ungroup: members stay, their groups array loses the name (not null) */
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_UNGROUP, 0, "0"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_UNGROUP, 0, "nope"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_UNGROUP, 0, "a"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_UNGROUP, 0, "b"), 0);
    EXPECT_REPLY(s, GWP_CMD_SELECT, 0, "{\"fields\":[\"groups\"],\"where\":[]}",
                 "a:3:{i:1;a:1:{s:6:\"groups\";a:3:{i:7;s:1:\"7\";i:-7;s:2:\"-7\";s:2:\"07\";s:2:\"07\";}}"
                 "i:2;a:1:{s:6:\"groups\";a:0:{}}i:3;a:1:{s:6:\"groups\";a:0:{}}}");
    CU_ASSERT_EQUAL(gws_client_count(s), 3);
    /* closing drops every membership */
    remove_client(s, 1);
    CU_ASSERT_EQUAL(gws_group_count(s), 0);
    CU_ASSERT_EQUAL(s->members.n, 0);
    free_state(&fk);
}

static void test_sessions(void)
{
    struct fake fk;
    struct gws *s = world_n(&fk, 2);
    EXPECT_REPLY(s, GWP_CMD_GET_SESSION_BY_CLIENT_ID, 1, "", "a:0:{}");
    EXPECT_REPLY(s, GWP_CMD_GET_SESSION_BY_CLIENT_ID, 3, "", "N;");
    /* stored verbatim, even when not a serialized array */
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_SET_SESSION, 1, "garbage"), 0);
    EXPECT_SESSION(s, 1, "garbage");
    EXPECT_REPLY(s, GWP_CMD_GET_SESSION_BY_CLIENT_ID, 1, "", "garbage");
    /* UPDATE_SESSION on garbage: treated as no session, ext_data stored */
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_UPDATE_SESSION, 1, "a:1:{s:1:\"k\";i:1;}"), 0);
    EXPECT_SESSION(s, 1, "a:1:{s:1:\"k\";i:1;}");
    static const char *const not_arrays[] = {"N;", "i:5;", "s:1:\"x\";", "a:1:{i:0;", "b:1;"};
    for (size_t i = 0; i < sizeof not_arrays / sizeof *not_arrays; i++) {
        CU_ASSERT_EQUAL(cmd(s, GWP_CMD_SET_SESSION, 1, not_arrays[i]), 0);
        CU_ASSERT_EQUAL(cmd(s, GWP_CMD_UPDATE_SESSION, 1, "a:1:{s:1:\"k\";i:2;}"), 0);
        EXPECT_SESSION(s, 1, "a:1:{s:1:\"k\";i:2;}");
    }
    /* "0" is PHP-empty: replaced as is, and read back as a:0:{} */
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_SET_SESSION, 2, "0"), 0);
    EXPECT_REPLY(s, GWP_CMD_GET_SESSION_BY_CLIENT_ID, 2, "", "a:0:{}");
    EXPECT_REPLY(s, GWP_CMD_GET_ALL_CLIENT_SESSIONS, 0, "", "a:2:{i:1;s:18:\"a:1:{s:1:\"k\";i:2;}\";i:2;s:1:\"0\";}");
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_UPDATE_SESSION, 2, "x"), 0);
    EXPECT_SESSION(s, 2, "x");
    /* a good session and a bad update: unchanged */
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_SET_SESSION, 2, "a:1:{s:1:\"a\";i:1;}"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_UPDATE_SESSION, 2, "not serialized"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_UPDATE_SESSION, 2, "i:1;"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_UPDATE_SESSION, 2, ""), 0);
    EXPECT_SESSION(s, 2, "a:1:{s:1:\"a\";i:1;}");
    /* SET_SESSION empty: no session at all */
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_SET_SESSION, 2, ""), 0);
    EXPECT_SESSION(s, 2, "");
    /* array_replace_recursive */
    static const struct {
        const char *stored, *update, *after;
    } merges[] = {
        {"a:2:{s:1:\"p\";a:2:{s:1:\"x\";i:1;s:1:\"y\";i:2;}s:1:\"l\";a:2:{i:0;i:1;i:1;i:2;}}",
         "a:3:{s:1:\"p\";a:1:{s:1:\"y\";i:3;}s:1:\"l\";a:1:{i:0;i:9;}s:1:\"n\";N;}",
         "a:3:{s:1:\"p\";a:2:{s:1:\"x\";i:1;s:1:\"y\";i:3;}s:1:\"l\";a:2:{i:0;i:9;i:1;i:2;}s:1:\"n\";N;}"},
        {"a:2:{s:1:\"a\";a:1:{i:0;i:1;}s:1:\"b\";i:1;}", "a:2:{s:1:\"a\";i:5;s:1:\"b\";a:1:{i:0;i:2;}}",
         "a:2:{s:1:\"a\";i:5;s:1:\"b\";a:1:{i:0;i:2;}}"},
        /* duplicate keys resolve as unserialize() does: last value, first place */
        {"a:3:{s:1:\"a\";i:1;s:1:\"z\";i:0;s:1:\"a\";i:2;}", "a:2:{s:1:\"b\";i:3;s:1:\"b\";i:4;}",
         "a:3:{s:1:\"a\";i:2;s:1:\"z\";i:0;s:1:\"b\";i:4;}"},
        /* "5" as a key is the int 5 */
        {"a:1:{i:5;s:1:\"x\";}", "a:1:{s:1:\"5\";s:1:\"y\";}", "a:1:{i:5;s:1:\"y\";}"},
        {"a:1:{s:1:\"k\";a:0:{}}", "a:0:{}", "a:1:{s:1:\"k\";a:0:{}}"},
        {"a:1:{s:1:\"k\";d:0.1;}", "a:1:{s:1:\"f\";d:1.0E+25;}", "a:2:{s:1:\"k\";d:0.1;s:1:\"f\";d:1.0E+25;}"},
    };
    for (size_t i = 0; i < sizeof merges / sizeof *merges; i++) {
        CU_ASSERT_EQUAL(cmd(s, GWP_CMD_SET_SESSION, 2, merges[i].stored), 0);
        CU_ASSERT_EQUAL(cmd(s, GWP_CMD_UPDATE_SESSION, 2, merges[i].update), 0);
        EXPECT_SESSION(s, 2, merges[i].after);
    }
    /* large arrays (hash-indexed merge): k0..k19 updated by k10..k29 */
    struct buf st = BUF_INIT, up = BUF_INIT, want = BUF_INIT;
    buf_append_str(&st, "a:20:{");
    buf_append_str(&up, "a:20:{");
    buf_append_str(&want, "a:30:{");
    for (int i = 0; i < 20; i++)
        buf_printf(&st, "s:3:\"k%02d\";i:%d;", i, i);
    for (int i = 10; i < 30; i++)
        buf_printf(&up, "s:3:\"k%02d\";i:%d;", i, 100 + i);
    for (int i = 0; i < 30; i++)
        buf_printf(&want, "s:3:\"k%02d\";i:%d;", i, i < 10 ? i : 100 + i);
    buf_append_str(&st, "}");
    buf_append_str(&up, "}");
    buf_append_str(&want, "}");
    buf_append(&st, "", 1);
    buf_append(&up, "", 1);
    buf_append(&want, "", 1);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_SET_SESSION, 2, (const char *)buf_head(&st)), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_UPDATE_SESSION, 2, (const char *)buf_head(&up)), 0);
    EXPECT_SESSION(s, 2, (const char *)buf_head(&want));
    buf_free(&st);
    buf_free(&up);
    buf_free(&want);
    /* unknown connections */
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_SET_SESSION, 9, "a:0:{}"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_UPDATE_SESSION, 9, "a:0:{}"), 0);
    free_state(&fk);
}

static void test_kick_destroy(void)
{
    struct fake fk;
    struct gws *s = world_n(&fk, 4);
    /* unknown ids: nothing at all */
    CU_ASSERT_EQUAL(exec_raw(s, GWP_CMD_KICK, 9, 0, "", 0, "N;", 2, NULL), 0);
    CU_ASSERT_EQUAL(exec_raw(s, GWP_CMD_KICK, 0, 1, "", 0, "bye", 3, NULL), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_DESTROY, 9, ""), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_DESTROY, 0, ""), 0);
    CU_ASSERT_EQUAL(fk.n, 0);
    /* N; with flag 0: no goodbye */
    CU_ASSERT_EQUAL(exec_raw(s, GWP_CMD_KICK, 1, 0, "", 0, "N;", 2, NULL), 0);
    CU_ASSERT_FATAL(fk.n == 1);
    CU_ASSERT(fk.ev[0].close && fk.ev[0].flush == 1 && fk.ev[0].m == NULL && fk.ev[0].id == 1);
    fake_clear(&fk);
    /* an empty string (flag 1) is still a message; NOT_CALL_ENCODE does not apply */
    CU_ASSERT_EQUAL(exec_raw(s, GWP_CMD_KICK, 2, 3, "", 0, "", 0, NULL), 0);
    CU_ASSERT_FATAL(fk.n == 1 && fk.ev[0].m);
    CU_ASSERT(fk.ev[0].m->len == 0 && fk.ev[0].m->flags == 0 && fk.ev[0].flush == 1);
    fake_clear(&fk);
    /* a serialized array goodbye */
    CU_ASSERT_EQUAL(exec_raw(s, GWP_CMD_KICK, 3, 0, "", 0, "a:0:{}", 6, NULL), 0);
    CU_ASSERT_FATAL(fk.n == 1 && fk.ev[0].m);
    CU_ASSERT(fk.ev[0].m->flags == GWMSG_ARRAY && fk.ev[0].m->len == 6);
    fake_clear(&fk);
    /* kicked clients stay online until the transport removes them, get no
     * more pushes and no second close; DESTROY still drops them */
    CU_ASSERT(gws_client_closing(gws_client_find(s, 1)));
    CU_ASSERT(!gws_client_closing(gws_client_find(s, 4)));
    EXPECT_REPLY(s, GWP_CMD_IS_ONLINE, 1, "", "i:1;");
    CU_ASSERT_EQUAL(push(s, GWP_CMD_SEND_TO_ALL, 0, 1, "", "m"), 0);
    EXPECT_SENDS(&fk, "4");
    CU_ASSERT_EQUAL(push(s, GWP_CMD_SEND_TO_ONE, 1, 1, "", "m"), 0);
    CU_ASSERT_EQUAL(exec_raw(s, GWP_CMD_KICK, 1, 1, "", 0, "again", 5, NULL), 0);
    CU_ASSERT_EQUAL(fk.n, 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_DESTROY, 1, ""), 0);
    CU_ASSERT_FATAL(fk.n == 1);
    CU_ASSERT(fk.ev[0].close && fk.ev[0].flush == 0 && !fk.ev[0].m);
    fake_clear(&fk);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_DESTROY, 1, ""), 0);
    CU_ASSERT_EQUAL(exec_raw(s, GWP_CMD_KICK, 1, 1, "", 0, "x", 1, NULL), 0);
    CU_ASSERT_EQUAL(fk.n, 0);
    /* a transport that removes inside close() */
    fk.remove_on_close = 1;
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_BIND_UID, 4, "u"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_JOIN_GROUP, 4, "g"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_DESTROY, 4, ""), 0);
    EXPECT_REPLY(s, GWP_CMD_IS_ONLINE, 4, "", "i:0;");
    CU_ASSERT_EQUAL(gws_uid_count(s), 0);
    CU_ASSERT_EQUAL(gws_group_count(s), 0);
    CU_ASSERT_EQUAL(gws_client_count(s), 3);
    free_state(&fk);
}

static void test_pushes(void)
{
    struct fake fk;
    struct gws *s = world_n(&fk, 3);
    /* message flags from the frame flag */
    static const struct {
        uint8_t flag;
        unsigned want;
    } fl[] = {{1, 0}, {3, GWMSG_RAW}, {0, GWMSG_ARRAY}, {2, GWMSG_RAW | GWMSG_ARRAY}, {0x81, 0}};
    for (size_t i = 0; i < sizeof fl / sizeof *fl; i++) {
        CU_ASSERT_EQUAL(push(s, GWP_CMD_SEND_TO_ONE, 2, fl[i].flag, "", "a:0:{}"), 0);
        CHECKF(fk.n == 1 && fk.ev[0].m->flags == fl[i].want, "flag %u", fl[i].flag);
        fake_clear(&fk);
    }
    CU_ASSERT_EQUAL(push(s, GWP_CMD_SEND_TO_ONE, 7, 1, "", "m"), 0);
    CU_ASSERT_EQUAL(push(s, GWP_CMD_SEND_TO_ONE, 0, 1, "", "m"), 0);
    CU_ASSERT_EQUAL(fk.n, 0);
    /* SEND_TO_ALL forms */
    static const struct {
        const char *ext, *want;
    } all[] = {
        {"", "1,2,3"},
        {"0", "1,2,3"}, /* PHP-falsy ext_data: a plain broadcast */
        {"{}", "1,2,3"},
        {"{\"exclude\":null}", "1,2,3"},
        {"{\"exclude\":[]}", "1,2,3"},
        {"{\"exclude\":{}}", "1,2,3"},
        {"{\"exclude\":0}", "1,2,3"},
        {"{\"connections\":null,\"exclude\":{\"3\":3}}", "1,2"},
        {"{\"exclude\":{\"1\":1}}", "2,3"},
        {"{\"exclude\":{\"1\":true,\"02\":2,\"x\":3}}", "2,3"},
        {"{\"exclude\":[1,\"2\"]}", "3"},
        {"{\"connections\":[]}", ""},
        {"{\"connections\":{}}", ""},
        {"{\"connections\":{\"1\":1,\"2\":2}}", "1,2"},
        {"{\"connections\":[3,1,1,\"2\",\"02\",2.0,true,null,[1],{\"a\":3},99,0,-1,4294967296]}", "3,1,1,2,2,1"},
        {"{\"connections\":[1],\"exclude\":{\"1\":1}}", "1"},
    };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        CHECKF(push(s, GWP_CMD_SEND_TO_ALL, 0, 1, all[i].ext, "m") == 0, "send_to_all %s", all[i].ext);
        char got[128];
        sends_str(&fk, got, sizeof got);
        CHECKF(!strcmp(got, all[i].want), "send_to_all %s: want '%s' got '%s'", all[i].ext, all[i].want, got);
        fake_clear(&fk);
    }
    /* one message object per command, shared */
    CU_ASSERT_EQUAL(push(s, GWP_CMD_SEND_TO_ALL, 0, 1, "", "shared"), 0);
    CU_ASSERT_FATAL(fk.n == 3);
    CU_ASSERT(fk.ev[0].m == fk.ev[1].m && fk.ev[1].m == fk.ev[2].m && fk.ev[0].m->refs == 3);
    fake_clear(&fk);
    /* a transport that drops every recipient inside send() */
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_JOIN_GROUP, 1, "g"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_JOIN_GROUP, 2, "g"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_BIND_UID, 1, "u"), 0);
    fk.remove_on_send = 1;
    CU_ASSERT_EQUAL(push(s, GWP_CMD_SEND_TO_GROUP, 0, 1, "{\"group\":[\"g\",\"g\"],\"exclude\":null}", "m"), 0);
    EXPECT_SENDS(&fk, "1,2");
    CU_ASSERT_EQUAL(gws_client_count(s), 1);
    CU_ASSERT_EQUAL(gws_group_count(s), 0);
    CU_ASSERT_EQUAL(gws_uid_count(s), 0);
    CU_ASSERT_EQUAL(push(s, GWP_CMD_SEND_TO_ALL, 0, 1, "", "m"), 0);
    EXPECT_SENDS(&fk, "3");
    CU_ASSERT_EQUAL(gws_client_count(s), 0);
    CU_ASSERT_PTR_NULL(gws_client_next(s, NULL));
    free_state(&fk);
}

/* Malformed ext_data for every command that parses JSON: no crash, no
 * delivery, and queries answer as PHP does. Clients: 1 (uid u, group g),
 * 2 (group g), 3. */
static void test_malformed_json(void)
{
    struct fake fk;
    struct gws *s = world_n(&fk, 3);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_BIND_UID, 1, "u"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_JOIN_GROUP, 1, "g"), 0);
    CU_ASSERT_EQUAL(cmd(s, GWP_CMD_JOIN_GROUP, 2, "g"), 0);
    static const char *const garbage[] = {"{", "nul", "[1,", "\xff\xfe", "{\"a\":}", "[\"\\ud800\"", "}{"};
    static const uint8_t pushes[] = {GWP_CMD_SEND_TO_ALL, GWP_CMD_SEND_TO_UID, GWP_CMD_SEND_TO_GROUP};
    static const uint8_t queries[] = {GWP_CMD_SELECT, GWP_CMD_BATCH_GET_CLIENT_ID_BY_UID,
                                      GWP_CMD_BATCH_GET_CLIENT_COUNT_BY_GROUP};
    for (size_t i = 0; i < sizeof garbage / sizeof *garbage; i++) {
        for (size_t k = 0; k < sizeof pushes; k++) {
            CHECKF(push(s, pushes[k], 0, 1, garbage[i], "m") == 0 && fk.n == 0, "cmd %u ext '%s'", pushes[k],
                   garbage[i]);
            fake_clear(&fk);
        }
        for (size_t k = 0; k < sizeof queries; k++)
            EXPECT_REPLY(s, queries[k], 0, garbage[i], "a:0:{}");
    }
    /* well-formed JSON of the wrong shape */
    static const struct {
        uint8_t cmd;
        const char *ext, *want;
    } shapes[] = {
        {GWP_CMD_SEND_TO_ALL, "5", ""},
        {GWP_CMD_SEND_TO_ALL, "[1]", ""},
        {GWP_CMD_SEND_TO_ALL, "\"x\"", ""},
        {GWP_CMD_SEND_TO_ALL, "{\"connections\":5}", ""},
        {GWP_CMD_SEND_TO_ALL, "{\"connections\":\"1\"}", ""},
        {GWP_CMD_SEND_TO_ALL, "{\"exclude\":\"x\"}", ""},
        {GWP_CMD_SEND_TO_ALL, "{\"exclude\":true}", ""},
        {GWP_CMD_SEND_TO_UID, "", ""},
        {GWP_CMD_SEND_TO_UID, "5", ""},
        {GWP_CMD_SEND_TO_UID, "\"u\"", ""},
        {GWP_CMD_SEND_TO_UID, "[]", ""},
        {GWP_CMD_SEND_TO_UID, "[[\"u\"],{\"u\":1}]", ""},
        {GWP_CMD_SEND_TO_UID, "{\"a\":\"u\"}", "1"},
        {GWP_CMD_SEND_TO_UID, "[\"u\",\"u\"]", "1,1"},
        {GWP_CMD_SEND_TO_GROUP, "", ""},
        {GWP_CMD_SEND_TO_GROUP, "[]", ""},
        {GWP_CMD_SEND_TO_GROUP, "{\"group\":\"g\"}", ""},
        {GWP_CMD_SEND_TO_GROUP, "{\"exclude\":null}", ""},
        {GWP_CMD_SEND_TO_GROUP, "{\"group\":[\"g\"],\"exclude\":\"x\"}", ""},
        {GWP_CMD_SEND_TO_GROUP, "{\"group\":[[\"g\"]],\"exclude\":null}", ""},
        {GWP_CMD_SEND_TO_GROUP, "{\"group\":[\"g\"]}", "1,2"},
        {GWP_CMD_SEND_TO_GROUP, "{\"group\":{\"x\":\"g\"},\"exclude\":[2]}", "1"},
        {GWP_CMD_SEND_TO_GROUP, "{\"group\":[\"g\"],\"exclude\":{\"2\":2,\"1\":\"x\"}}", ""},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        CHECKF(push(s, shapes[i].cmd, 0, 1, shapes[i].ext, "m") == 0, "cmd %u ext '%s'", shapes[i].cmd,
               shapes[i].ext);
        char got[128];
        sends_str(&fk, got, sizeof got);
        CHECKF(!strcmp(got, shapes[i].want), "cmd %u ext '%s': want '%s' got '%s'", shapes[i].cmd, shapes[i].ext,
               shapes[i].want, got);
        fake_clear(&fk);
    }
    static const struct {
        uint8_t cmd;
        const char *ext, *want;
    } q[] = {
        {GWP_CMD_SELECT, "", "a:0:{}"},
        {GWP_CMD_SELECT, "5", "a:0:{}"},
        {GWP_CMD_SELECT, "\"x\"", "a:0:{}"},
        {GWP_CMD_SELECT, "[]", "a:0:{}"},
        {GWP_CMD_SELECT, "{}", "a:0:{}"},
        {GWP_CMD_SELECT, "[{\"fields\":[\"uid\"]}]", "a:0:{}"},
        {GWP_CMD_SELECT, "{\"fields\":[],\"where\":[]}", "a:0:{}"},
        {GWP_CMD_SELECT, "{\"fields\":[\"uid\"]}",
         "a:3:{i:1;a:1:{s:3:\"uid\";s:1:\"u\";}i:2;a:1:{s:3:\"uid\";N;}i:3;a:1:{s:3:\"uid\";N;}}"},
        {GWP_CMD_SELECT, "{\"fields\":[\"uid\"],\"where\":{}}",
         "a:3:{i:1;a:1:{s:3:\"uid\";s:1:\"u\";}i:2;a:1:{s:3:\"uid\";N;}i:3;a:1:{s:3:\"uid\";N;}}"},
        {GWP_CMD_SELECT, "{\"fields\":5,\"where\":{\"groups\":[\"g\"]}}", "a:2:{i:1;a:0:{}i:2;a:0:{}}"},
        {GWP_CMD_SELECT, "{\"fields\":[\"uid\",\"uid\",5,\"5\",\"x\",[1]],\"where\":{\"uid\":[\"u\"]}}",
         "a:1:{i:1;a:3:{s:3:\"uid\";s:1:\"u\";i:5;N;s:1:\"x\";N;}}"},
        {GWP_CMD_SELECT, "{\"fields\":[\"uid\"],\"where\":5}", "a:0:{}"},
        {GWP_CMD_SELECT, "{\"fields\":[\"uid\"],\"where\":[\"g\"]}", "a:0:{}"},
        {GWP_CMD_SELECT, "{\"fields\":[\"uid\"],\"where\":{\"bogus\":[\"g\"],\"groups\":\"g\"}}", "a:0:{}"},
        {GWP_CMD_SELECT, "{\"fields\":[\"groups\"],\"where\":{\"connection_id\":{\"3\":3},\"groups\":[\"g\"]}}",
         "a:3:{i:3;a:1:{s:6:\"groups\";N;}i:1;a:1:{s:6:\"groups\";a:1:{s:1:\"g\";s:1:\"g\";}}"
         "i:2;a:1:{s:6:\"groups\";a:1:{s:1:\"g\";s:1:\"g\";}}}"},
        {GWP_CMD_SELECT, "{\"fields\":[\"uid\"],\"where\":{\"groups\":[\"g\"],\"connection_id\":[2,\"1\",[3],\"03\"]}}",
         "a:2:{i:1;a:1:{s:3:\"uid\";s:1:\"u\";}i:2;a:1:{s:3:\"uid\";N;}}"},
        {GWP_CMD_SELECT, "{\"fields\":[\"uid\"],\"where\":{\"uid\":[\"u\",[\"x\"]],\"groups\":[{\"a\":1},\"g\"]}}",
         "a:2:{i:1;a:1:{s:3:\"uid\";s:1:\"u\";}i:2;a:1:{s:3:\"uid\";N;}}"},
        {GWP_CMD_SELECT, "{\"fields\":[\"session\"],\"where\":{\"connection_id\":[9]}}", "a:0:{}"},
        {GWP_CMD_BATCH_GET_CLIENT_ID_BY_UID, "", "a:0:{}"},
        {GWP_CMD_BATCH_GET_CLIENT_ID_BY_UID, "5", "a:0:{}"},
        {GWP_CMD_BATCH_GET_CLIENT_ID_BY_UID, "[]", "a:0:{}"},
        {GWP_CMD_BATCH_GET_CLIENT_ID_BY_UID, "[[\"u\"],\"u\",\"u\",null]", "a:2:{s:1:\"u\";a:1:{i:0;i:1;}s:0:\"\";a:0:{}}"},
        {GWP_CMD_BATCH_GET_CLIENT_ID_BY_UID, "{\"k\":\"u\"}", "a:1:{s:1:\"u\";a:1:{i:0;i:1;}}"},
        {GWP_CMD_BATCH_GET_CLIENT_ID_BY_UID, "[\"1\",1,1.5,true]", "a:1:{i:1;a:0:{}}"},
        {GWP_CMD_BATCH_GET_CLIENT_COUNT_BY_GROUP, "\"g\"", "a:0:{}"},
        {GWP_CMD_BATCH_GET_CLIENT_COUNT_BY_GROUP, "[\"g\",\"g\",false,\"nope\"]",
         "a:3:{s:1:\"g\";i:2;i:0;i:0;s:4:\"nope\";i:0;}"},
    };
    for (size_t i = 0; i < sizeof q / sizeof *q; i++)
        EXPECT_REPLY(s, q[i].cmd, 0, q[i].ext, q[i].want);
    CU_ASSERT_EQUAL(fk.n, 0);
    free_state(&fk);
}

static void test_unknown_commands(void)
{
    struct fake fk;
    struct gws *s = world_n(&fk, 1);
    static const uint8_t unknown[] = {0, 1, 2, 3, 4, 17, 18, 19, 29, 100, 199, 200, 201, 202, 205, 206, 255};
    for (size_t i = 0; i < sizeof unknown; i++) {
        struct buf r = BUF_INIT;
        int ret = exec_raw(s, unknown[i], 1, 1, "x", 1, "y", 1, &r);
        CHECKF(ret == GWS_EUNKNOWN && buf_avail(&r) == 0 && fk.n == 0, "cmd %u: %d", unknown[i], ret);
        buf_free(&r);
    }
    /* a query with no reply buffer must not crash */
    CU_ASSERT_EQUAL(exec_raw(s, GWP_CMD_IS_ONLINE, 1, 1, "", 0, "", 0, NULL), 0);
    CU_ASSERT_EQUAL(gws_client_count(s), 1);
    free_state(&fk);
}

/* ------------------------------------------------------------ gwmsg */

static void expect_json_at(const char *ser, unsigned opts, const char *want, int line)
{
    struct gwmsg *m = gwmsg_new(ser, strlen(ser), GWMSG_ARRAY);
    struct buf out = BUF_INIT;
    buf_append(&out, ">", 1);
    int r = gwmsg_json_body_opts(m, &out, opts);
    /* what follows the ">" marker (which shows nothing before it was touched) */
    const char *got = (const char *)out.data + 1;
    int got_n = (int)out.len - 1;
    if (!want) {
        CHECKF(r == -1 && got_n == 0, "line %d: '%s' should fail, got %d '%.*s'", line, ser, r, got_n, got);
    } else {
        CHECKF(r == 0 && got_n == (int)strlen(want) && !memcmp(got, want, strlen(want)),
               "line %d: '%s': want '%s' got %d '%.*s'", line, ser, want, r, got_n, got);
    }
    buf_free(&out);
    gwmsg_unref(m);
}
#define EXPECT_JSON(ser, want) expect_json_at(ser, 0, want, __LINE__)
#define EXPECT_JSON_ESC(ser, want) expect_json_at(ser, GWMSG_JSON_ESCAPE_UNICODE, want, __LINE__)

static void test_json_body(void)
{
    /* the fixture's array body */
    json_t *c = tu_fixture_case("send_to_one_array_body");
    CU_ASSERT_FATAL(c != NULL);
    const char *body = json_string_value(json_object_get(json_object_get(c, "fields"), "body_serialized"));
    CU_ASSERT_FATAL(body != NULL);
    EXPECT_JSON(body, "{\"type\":\"winner\",\"uid\":\"u1001\",\"prize\":{\"level\":1,\"title\":\"一等奖\"},"
                      "\"ts\":1767225600.5}");
    EXPECT_JSON_ESC(body, "{\"type\":\"winner\",\"uid\":\"u1001\",\"prize\":{\"level\":1,"
                          "\"title\":\"\\u4e00\\u7b49\\u5956\"},\"ts\":1767225600.5}");

    EXPECT_JSON("a:0:{}", "[]");
    EXPECT_JSON("N;", "null");
    EXPECT_JSON("a:3:{i:0;s:1:\"a\";i:1;b:1;i:2;N;}", "[\"a\",true,null]");
    EXPECT_JSON("a:2:{i:0;i:1;i:2;i:3;}", "{\"0\":1,\"2\":3}");
    EXPECT_JSON("a:2:{i:1;i:1;i:0;i:0;}", "{\"1\":1,\"0\":0}");
    EXPECT_JSON("a:2:{i:-1;b:0;s:2:\"07\";i:-9223372036854775808;}", "{\"-1\":false,\"07\":-9223372036854775808}");
    EXPECT_JSON("a:1:{s:1:\"/\";s:3:\"a/b\";}", "{\"\\/\":\"a\\/b\"}");
    EXPECT_JSON("a:1:{i:0;s:7:\"\"\\\b\f\n\r\t\";}", "[\"\\\"\\\\\\b\\f\\n\\r\\t\"]");
    EXPECT_JSON("a:1:{i:0;s:3:\"\x01\x1f\x7f\";}", "[\"\\u0001\\u001f\x7f\"]");
    EXPECT_JSON("a:1:{i:0;s:4:\"\xf0\x9f\xa7\xa7\";}", "[\"\xf0\x9f\xa7\xa7\"]");
    EXPECT_JSON_ESC("a:1:{i:0;s:4:\"\xf0\x9f\xa7\xa7\";}", "[\"\\ud83e\\udde7\"]");
    EXPECT_JSON("a:1:{i:0;s:6:\"\xe2\x80\xa8\xe2\x80\xa9\";}", "[\"\\u2028\\u2029\"]");
    EXPECT_JSON_ESC("a:1:{i:0;s:5:\"\xc3\xa9\xe4\xb8\x80\";}", "[\"\\u00e9\\u4e00\"]");
    EXPECT_JSON("a:1:{i:0;s:1:\"\xff\";}", NULL);       /* invalid UTF-8: json_encode fails */
    EXPECT_JSON("a:1:{i:0;s:2:\"\xc0\xaf\";}", NULL);   /* overlong */
    EXPECT_JSON("a:1:{i:0;s:3:\"\xed\xa0\x80\";}", NULL); /* surrogate */
    EXPECT_JSON("a:1:{s:1:\"\xff\";i:1;}", NULL);
    EXPECT_JSON("a:5:{i:0;d:0.1;i:1;d:1.0E+25;i:2;d:-0;i:3;d:100;i:4;d:1.5E-7;}", "[0.1,1.0e+25,-0,100,1.5e-7]");
    EXPECT_JSON("a:1:{i:0;d:INF;}", NULL);
    EXPECT_JSON("a:1:{i:0;d:NAN;}", NULL);
    /* duplicate keys as unserialize() resolves them */
    EXPECT_JSON("a:2:{s:1:\"a\";i:1;s:1:\"a\";i:2;}", "{\"a\":2}");
    EXPECT_JSON("a:3:{i:0;s:1:\"x\";i:1;s:1:\"y\";i:0;s:1:\"z\";}", "[\"z\",\"y\"]");
    /* top level: a string is sent as its bytes; other scalars and junk fail */
    EXPECT_JSON("s:3:\"a/b\";", "a/b");
    EXPECT_JSON("i:5;", NULL);
    EXPECT_JSON("b:1;", NULL);
    EXPECT_JSON("d:1.5;", NULL);
    EXPECT_JSON("garbage", NULL);
    EXPECT_JSON("", NULL);
    EXPECT_JSON("a:1:{i:0;O:8:\"stdClass\":0:{}}", NULL);
    /* a large object goes through the hashed duplicate check */
    struct buf big = BUF_INIT, want = BUF_INIT;
    buf_append_str(&big, "a:40:{");
    buf_append_str(&want, "{");
    for (int i = 0; i < 40; i++) {
        buf_printf(&big, "s:2:\"%02d\";i:%d;", i % 30, i);
        if (i < 30)
            buf_printf(&want, "%s\"%02d\":%d", i ? "," : "", i, i < 10 ? i + 30 : i);
    }
    buf_append_str(&big, "}");
    buf_append(&big, "", 1);
    buf_append_str(&want, "}");
    buf_append(&want, "", 1);
    EXPECT_JSON((const char *)buf_head(&big), (const char *)buf_head(&want));
    buf_free(&big);
    buf_free(&want);
    /* nesting deeper than phpser's default 64 still encodes */
    struct buf deep = BUF_INIT, dj = BUF_INIT;
    for (int i = 0; i < 100; i++) {
        buf_append_str(&deep, "a:1:{i:0;");
        buf_append_str(&dj, "[");
    }
    buf_append_str(&deep, "N;");
    buf_append_str(&dj, "null");
    for (int i = 0; i < 100; i++) {
        buf_append_str(&deep, "}");
        buf_append_str(&dj, "]");
    }
    buf_append(&deep, "", 1);
    buf_append(&dj, "", 1);
    EXPECT_JSON((const char *)buf_head(&deep), (const char *)buf_head(&dj));
    buf_free(&deep);
    buf_free(&dj);

    /* not an array body: the bytes themselves */
    struct gwmsg *m = gwmsg_new("a:0:{}", 6, GWMSG_RAW);
    struct buf out = BUF_INIT;
    CU_ASSERT_EQUAL(gwmsg_json_body(m, &out), 0);
    CU_ASSERT(buf_avail(&out) == 6 && !memcmp(buf_head(&out), "a:0:{}", 6));
    buf_free(&out);
    /* refs and the transport's cache slots */
    CU_ASSERT_PTR_EQUAL(gwmsg_ref(m), m);
    CU_ASSERT_EQUAL(m->refs, 2);
    m->enc[0] = malloc(10);
    m->enc_len[0] = 10;
    m->enc[1] = malloc(3);
    /* Called out of line: inlined twice, GCC cannot follow the count and
     * warns of a use after free. */
    void (*volatile unref)(struct gwmsg *) = gwmsg_unref;
    unref(m);
    unref(m); /* the last one frees enc[] too: ASan reports a leak or a double free otherwise */
    gwmsg_unref(NULL);
    m = gwmsg_new(NULL, 0, 0);
    CU_ASSERT(m && m->len == 0 && m->refs == 1 && m->flags == 0);
    gwmsg_unref(m);
}

int main(void)
{
    /* The malformed-input tests make the engine log; keep the output to results. */
    log_init("test", LOG_ERROR);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite golden = CU_add_suite("gw_state golden vectors", NULL, NULL);
    CU_add_test(golden, "scenario: every command vector, its effect and reply", test_vectors);
    CU_add_test(golden, "event and auth frames are not engine commands", test_vectors_not_commands);
    CU_add_test(golden, "live captures: replies byte for byte", test_live_vectors);

    CU_pSuite state = CU_add_suite("gw_state tables", NULL, NULL);
    CU_add_test(state, "connection ids: order, reuse, wrap, skip", test_conn_ids);
    CU_add_test(state, "100,000 members: one shared message, clean removal", test_big_group);
    CU_add_test(state, "per-client memory", test_client_is_small);

    CU_pSuite sem = CU_add_suite("gw_state semantics", NULL, NULL);
    CU_add_test(sem, "uids", test_uids);
    CU_add_test(sem, "groups", test_groups);
    CU_add_test(sem, "sessions and UPDATE_SESSION merge", test_sessions);
    CU_add_test(sem, "KICK and DESTROY", test_kick_destroy);
    CU_add_test(sem, "pushes, flags, re-entrant removal", test_pushes);
    CU_add_test(sem, "malformed ext_data", test_malformed_json);
    CU_add_test(sem, "unknown commands", test_unknown_commands);

    CU_pSuite msg = CU_add_suite("gwmsg", NULL, NULL);
    CU_add_test(msg, "JSON of array bodies, refs, caches", test_json_body);
    return tu_run("test_gw_state");
}
