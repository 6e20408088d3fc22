/* Every function of business/gw_api.h end to end: a real register, two real
 * gateways, the business worker (count 2) running apps/apitest, and real
 * WebSocket clients on both gateways. Each client command of apitest calls
 * one API function and answers JSON (apps/apitest/apitest.c); the tests
 * check the answer (results merged over both gateways, gw_last_query) and
 * the effect seen by the other clients. Also: the stale-session guard
 * (spec §5.2) with pipelined messages, a gateway that does not answer a
 * query (SIGSTOP), and a register restart. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch.h"
#include "tu.h"
#include "wsc.h"

#define KEY "api-test-key"
#define NAME "ApiBiz"
#define REPLY_MS 9000 /* a query may wait 5 s for a stopped gateway */

static char dir[64];
static int reg_port;
static struct launch reg, bw;

static struct launch_gw gw1, gw2, gw3;

/* s is g's address as the register and the API name it: 127.0.0.1:<internal port>. */
static int is_addr_of(const char *s, const struct launch_gw *g)
{
    char want[32];
    snprintf(want, sizeof want, "127.0.0.1:%d", g->lan_port);
    return s && strcmp(s, want) == 0;
}

static int start_all(void)
{
    if (launch_tmpdir("bizapi", dir, sizeof dir) < 0)
        return -1;
    reg_port = tu_free_port();
    launch_register(&reg, dir, reg_port, KEY);
    if (launch_start(&reg, reg_port, NULL, 5000) < 0)
        return -1;
    launch_gw_spawn(&gw1, dir, "gateway-1", reg_port, KEY);
    launch_gw_spawn(&gw2, dir, "gateway-2", reg_port, KEY);
    launch_business(&bw, dir, "business", reg_port, "apps/apitest.so", NAME, 2, KEY);
    launch_set(&bw, "--app.greeting=你好, world");
    launch_set(&bw, "--app.db=data/x.db");
    launch_spawn(&bw);
    return launch_gw_linked(&gw1, NAME, 2, 8000) == 0 && launch_gw_linked(&gw2, NAME, 2, 8000) == 0 ? 0 : -1;
}

static int stop_all(void)
{
    int sb = launch_stop(&bw, 8000);
    int s1 = launch_stop(&gw1.p, 5000), s2 = launch_stop(&gw2.p, 5000);
    int s3 = gw3.p.pid ? launch_stop(&gw3.p, 5000) : 0;
    int sr = launch_stop(&reg, 5000);
    if (sb || s1 || s2 || s3 || sr)
        fprintf(stderr, "not exited with 0: business %d gw1 %d gw2 %d gw3 %d register %d (logs in %s)\n", sb, s1, s2,
                s3, sr, dir);
    launch_free(&bw);
    launch_free(&gw1.p);
    launch_free(&gw2.p);
    launch_free(&gw3.p);
    launch_free(&reg);
    return sb == 0 && s1 == 0 && s2 == 0 && s3 == 0 && sr == 0 ? 0 : -1;
}

/* ---- clients ---- */

struct cl {
    int fd;
    char id[24];
};

static json_t *cmd(int fd, const char *text);

static struct cl client_path(const struct launch_gw *g, const char *path)
{
    struct cl c = {.fd = wsc_connect(g->ws_port, path, NULL, 3000)};
    CU_ASSERT_FATAL(c.fd >= 0);
    json_t *r = cmd(c.fd, "me");
    const char *id = json_string_value(json_object_get(r, "v"));
    CU_ASSERT_FATAL(id && strlen(id) == 20);
    snprintf(c.id, sizeof c.id, "%s", id);
    json_decref(r);
    return c;
}

static struct cl client(const struct launch_gw *g) { return client_path(g, "/"); }

static int say(int fd, const char *text) { return wsc_send(fd, WSC_TEXT, text, strlen(text)); }

/* A member of the group "watchers" hears every client close (apitest's
 * on_close), also clients of earlier tests whose ON_CLOSE arrives late: those
 * notices are not answers. */
static int is_close_notice(const uint8_t *m, ssize_t n) { return n > 7 && memcmp(m, "closed:", 7) == 0; }

/* The close notices next_json passed over, for expect_closed: the notice of
 * a client kicked or destroyed by a command can come before that command's
 * answer (apitest sends the kick first; the notice goes gateway -> another
 * business process -> the watcher's gateway, and may overtake the answer). */
static struct {
    int fd;
    char text[48];
} passed_over[32];
static unsigned npassed_over;

static void pass_over(int fd, const uint8_t *m, ssize_t n)
{
    unsigned i = npassed_over++ % (sizeof passed_over / sizeof passed_over[0]);
    passed_over[i].fd = fd;
    snprintf(passed_over[i].text, sizeof passed_over[i].text, "%.*s", (int)n, (const char *)m);
}

/* 1 (and forgets it) when next_json passed over exactly text on fd. */
static int was_passed_over(int fd, const char *text)
{
    for (size_t i = 0; i < sizeof passed_over / sizeof passed_over[0]; i++)
        if (passed_over[i].fd == fd && strcmp(passed_over[i].text, text) == 0) {
            passed_over[i].text[0] = 0;
            return 1;
        }
    return 0;
}

/* The next message on fd as parsed JSON (NULL, with a note, if none). */
static json_t *next_json(int fd)
{
    uint8_t *m = NULL;
    int op = 0;
    ssize_t n;
    while ((n = wsc_recv(fd, &m, &op, REPLY_MS)) >= 0 && is_close_notice(m, n)) {
        pass_over(fd, m, n);
        free(m);
        m = NULL;
    }
    if (n < 0) {
        fprintf(stderr, "\n  no answer (%zd)\n", n);
        free(m);
        return NULL;
    }
    json_error_t e;
    json_t *j = json_loadb((const char *)m, (size_t)n, 0, &e);
    if (!j)
        fprintf(stderr, "\n  not JSON: %s\n", (char *)m);
    free(m);
    return j;
}

/* Sends a command and returns its JSON answer (caller decrefs). */
static json_t *cmd(int fd, const char *text)
{
    if (say(fd, text) < 0)
        return NULL;
    json_t *j = next_json(fd);
    if (getenv("APITEST_TRACE")) {
        char *d = json_dumps(j, JSON_COMPACT);
        fprintf(stderr, "  > %s\n  < %s\n", text, d ? d : "(none)");
        free(d);
    }
    return j;
}

static json_t *cmdf(int fd, const char *fmt, const char *a, const char *b)
{
    char t[512];
    snprintf(t, sizeof t, fmt, a, b);
    return cmd(fd, t);
}

static long long r_of(json_t *j) { return json_integer_value(json_object_get(j, "r")); }
static json_t *v_of(json_t *j) { return json_object_get(j, "v"); }

/* The value as compact JSON text with sorted keys, for comparisons. */
static int v_is(json_t *j, const char *want)
{
    json_t *v = v_of(j);
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    int ok = s && strcmp(s, want) == 0;
    if (!ok)
        fprintf(stderr, "\n  value %s, want %s\n", s ? s : "(none)", want);
    free(s);
    return ok;
}

static int has_key(json_t *j, const char *k) { return json_object_get(v_of(j), k) != NULL; }

/* The query reached both gateways (or `asked` gateways) and all answered. */
static int all_answered(json_t *j, int asked)
{
    json_t *q = json_object_get(j, "q");
    int ok = json_integer_value(json_object_get(q, "asked")) == asked &&
             json_integer_value(json_object_get(q, "answered")) == asked &&
             json_array_size(json_object_get(q, "missing")) == 0;
    if (!ok) {
        char *s = json_dumps(j, JSON_COMPACT);
        fprintf(stderr, "\n  query info: %s\n", s);
        free(s);
    }
    return ok;
}

/* Repeats a query until r equals want (closed clients leave asynchronously). */
static int r_becomes(int fd, const char *text, long long want)
{
    long long got = -999;
    for (int i = 0; i < 40; i++) {
        json_t *j = cmd(fd, text);
        if (!j)
            return 0;
        got = r_of(j);
        json_decref(j);
        if (got == want)
            return 1;
        usleep(100000);
    }
    fprintf(stderr, "\n  %s: %lld, want %lld\n", text, got, want);
    return 0;
}

static void close_all(struct cl *c, int n)
{
    for (int i = 0; i < n; i++)
        if (c[i].fd >= 0)
            tu_close(c[i].fd);
}

/* 1 when the peer closed (a close frame or EOF) within ms, after any data. */
static int closed_within(int fd, int ms)
{
    long long end = tu_now_ms() + ms;
    while (tu_now_ms() < end) {
        uint8_t *m = NULL;
        int op = 0;
        ssize_t n = wsc_recv(fd, &m, &op, (int)(end - tu_now_ms()));
        free(m);
        if (n == -2 || (n >= 0 && op == WSC_CLOSE))
            return 1;
        if (n == -1)
            return 0;
    }
    return 0;
}

/* ---- the tests ---- */

static void test_current_client(void)
{
    struct cl c = client_path(&gw2, "/room?name=alice&x=1");
    /* on_websocket_connect stored the query parameter in the session. */
    json_t *j = cmd(c.fd, "sess");
    CU_ASSERT(v_is(j, "{\"name\":\"alice\"}"));
    json_decref(j);
    j = cmd(c.fd, "cur");
    json_t *v = v_of(j);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(v, "client_id")), c.id);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(v, "remote_ip")), "127.0.0.1");
    CU_ASSERT(atoi(json_string_value(json_object_get(v, "remote_port"))) > 0);
    CU_ASSERT(is_addr_of(json_string_value(json_object_get(v, "gateway_address")), &gw2));
    CU_ASSERT(atoi(json_string_value(json_object_get(v, "gateway_port"))) == gw2.ws_port);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(v, "body_is_serialized")), "0");
    CU_ASSERT(atoi(json_string_value(json_object_get(v, "connects"))) >= 1); /* on_connect ran */
    json_decref(j);
    /* sendme, and GW_RAW: the app writes a whole WebSocket frame itself. */
    CU_ASSERT(say(c.fd, "sendme:to myself") == 0);
    CU_ASSERT(wsc_expect_text(c.fd, "to myself", 3000));
    CU_ASSERT(say(c.fd, "rawme:raw frame") == 0);
    CU_ASSERT(wsc_expect_text(c.fd, "raw frame", 3000));
    tu_close(c.fd);
}

/* API version 2: the [app] settings and timers. */
static void test_settings_and_timers(void)
{
    struct cl c = client_path(&gw1, "/");
    json_t *j = cmd(c.fd, "setting:greeting");
    CU_ASSERT(r_of(j) == 0 && v_is(j, "\"你好, world\""));
    json_decref(j);
    j = cmd(c.fd, "setting:absent");
    CU_ASSERT(r_of(j) == -ENOENT && v_is(j, "null"));
    json_decref(j);
    /* Relative to where the worker was started (the test's cwd), not "/". */
    char cwd[1024], want[1200];
    CU_ASSERT_FATAL(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(want, sizeof want, "\"%s/data/x.db\"", cwd);
    j = cmd(c.fd, "path:data/x.db");
    CU_ASSERT(r_of(j) == 0 && v_is(j, want));
    json_decref(j);
    j = cmd(c.fd, "path:/abs/y");
    CU_ASSERT(v_is(j, "\"/abs/y\""));
    json_decref(j);

    /* A persistent timer runs three times, outside any client event (no
     * current client: the session call fails with -EPERM), then deletes
     * itself from its own callback. */
    j = cmd(c.fd, "every:30:3");
    long long id = r_of(j);
    CU_ASSERT(id > 0);
    json_decref(j);
    char want_tick[32];
    for (int i = 1; i <= 3; i++) {
        snprintf(want_tick, sizeof want_tick, "tick:%d:%d", i, -EPERM);
        CU_ASSERT(wsc_expect_text(c.fd, want_tick, 3000));
    }
    CU_ASSERT(wsc_expect_text(c.fd, "every-done", 3000));
    char del[48];
    snprintf(del, sizeof del, "timerdel:%lld", id);
    j = cmd(c.fd, del);
    CU_ASSERT(r_of(j) == -ENOENT); /* already gone */
    json_decref(j);
    CU_ASSERT(wsc_quiet(c.fd, 150)); /* no fourth tick */

    /* One-shot: runs once; deleting it afterwards says it is gone. */
    j = cmd(c.fd, "once:20");
    id = r_of(j);
    CU_ASSERT(id > 0);
    json_decref(j);
    CU_ASSERT(wsc_expect_text(c.fd, "once", 3000));
    snprintf(del, sizeof del, "timerdel:%lld", id);
    j = cmd(c.fd, del);
    CU_ASSERT(r_of(j) == -ENOENT);
    json_decref(j);
    /* A pending timer deleted before it runs never runs. */
    j = cmd(c.fd, "once:2000");
    id = r_of(j);
    json_decref(j);
    snprintf(del, sizeof del, "timerdel:%lld", id);
    j = cmd(c.fd, del);
    CU_ASSERT(r_of(j) == 0);
    json_decref(j);
    CU_ASSERT(wsc_quiet(c.fd, 2500));
    /* Bad arguments. */
    j = cmd(c.fd, "once:0");
    CU_ASSERT(r_of(j) == -EINVAL);
    json_decref(j);
    tu_close(c.fd);
}

static void test_current_session(void)
{
    struct cl c = client(&gw1);
    json_t *j = cmd(c.fd, "sess");
    CU_ASSERT(v_is(j, "null")); /* no session yet */
    json_decref(j);
    j = cmd(c.fd, "sset:x=1,y=2");
    CU_ASSERT(r_of(j) == 0 && v_is(j, "{\"x\":\"1\",\"y\":\"2\"}"));
    json_decref(j);
    /* The write-back reached the gateway: the next event carries it. */
    j = cmd(c.fd, "sget:y");
    CU_ASSERT(v_is(j, "\"2\""));
    json_decref(j);
    j = cmd(c.fd, "sget:nope");
    CU_ASSERT(v_is(j, "null"));
    json_decref(j);
    j = cmd(c.fd, "sunset:x");
    CU_ASSERT(v_is(j, "{\"y\":\"2\"}"));
    json_decref(j);
    j = cmd(c.fd, "sint:n=42");
    CU_ASSERT(v_is(j, "{\"n\":42,\"y\":\"2\"}"));
    json_decref(j);
    j = cmdf(c.fd, "getsess:%s", c.id, NULL);
    CU_ASSERT(r_of(j) == 0 && v_is(j, "{\"n\":42,\"y\":\"2\"}"));
    CU_ASSERT(all_answered(j, 1)); /* only the client's own gateway is asked */
    json_decref(j);
    j = cmd(c.fd, "sreplace:z=9");
    CU_ASSERT(v_is(j, "{\"z\":\"9\"}"));
    json_decref(j);
    j = cmd(c.fd, "sess");
    CU_ASSERT(v_is(j, "{\"z\":\"9\"}"));
    json_decref(j);
    /* gw_set_session on the current client updates gw_session() too. */
    j = cmdf(c.fd, "setsess:%s:a=1", c.id, NULL);
    CU_ASSERT(r_of(j) == 0);
    json_decref(j);
    j = cmd(c.fd, "sess");
    CU_ASSERT(v_is(j, "{\"a\":\"1\"}"));
    json_decref(j);
    j = cmdf(c.fd, "upd:%s:b=2", c.id, NULL);
    CU_ASSERT(r_of(j) == 0);
    json_decref(j);
    j = cmd(c.fd, "sess");
    CU_ASSERT(v_is(j, "{\"a\":\"1\",\"b\":\"2\"}"));
    json_decref(j);
    /* No session at all. */
    j = cmd(c.fd, "sreplace");
    CU_ASSERT(v_is(j, "null"));
    json_decref(j);
    j = cmdf(c.fd, "getsess:%s", c.id, NULL);
    CU_ASSERT(v_is(j, "{}") || v_is(j, "[]"));
    json_decref(j);
    tu_close(c.fd);
}

static void test_queries_across_gateways(void)
{
    struct cl c[4] = {client(&gw1), client(&gw1), client(&gw2), client(&gw2)};
    struct cl *a1 = &c[0], *a2 = &c[1], *b1 = &c[2], *b2 = &c[3];
    CU_ASSERT(r_becomes(a1->fd, "count", 4));
    json_t *j = cmd(a1->fd, "ids");
    CU_ASSERT(all_answered(j, 2));
    for (int i = 0; i < 4; i++)
        CU_ASSERT(has_key(j, c[i].id));
    CU_ASSERT(json_object_size(v_of(j)) == 4);
    json_decref(j);

    /* uids, bound from a client on the other gateway */
    j = cmdf(a1->fd, "bind:%s:u-b1", b1->id, NULL);
    CU_ASSERT(r_of(j) == 0);
    json_decref(j);
    j = cmdf(a1->fd, "bind:%s:u-a2", a2->id, NULL);
    json_decref(j);
    j = cmdf(a2->fd, "uidof:%s", b1->id, NULL);
    CU_ASSERT(v_is(j, "\"u-b1\""));
    CU_ASSERT(all_answered(j, 1));
    json_decref(j);
    j = cmd(a2->fd, "idsofuid:u-b1");
    char want[64];
    snprintf(want, sizeof want, "[\"%s\"]", b1->id);
    CU_ASSERT(v_is(j, want));
    CU_ASSERT(all_answered(j, 2));
    json_decref(j);
    j = cmd(b2->fd, "uidonline:u-b1");
    CU_ASSERT(r_of(j) == 1);
    json_decref(j);
    j = cmd(b2->fd, "uidonline:nobody");
    CU_ASSERT(r_of(j) == 0);
    json_decref(j);
    j = cmd(b2->fd, "alluids");
    CU_ASSERT(v_is(j, "{\"u-a2\":\"u-a2\",\"u-b1\":\"u-b1\"}"));
    CU_ASSERT(all_answered(j, 2));
    json_decref(j);
    j = cmd(b2->fd, "uidcount");
    CU_ASSERT(r_of(j) == 2);
    json_decref(j);

    /* groups spanning both gateways */
    json_decref(cmdf(a1->fd, "join:%s:g-api", a2->id, NULL));
    json_decref(cmdf(a1->fd, "join:%s:g-api", b2->id, NULL));
    json_decref(cmdf(a1->fd, "join:%s:g-only2", b1->id, NULL));
    j = cmd(a1->fd, "groups");
    CU_ASSERT(has_key(j, "g-api") && has_key(j, "g-only2"));
    CU_ASSERT(all_answered(j, 2));
    json_decref(j);
    j = cmd(a1->fd, "ids:g-api");
    CU_ASSERT(json_object_size(v_of(j)) == 2 && has_key(j, a2->id) && has_key(j, b2->id));
    json_decref(j);
    j = cmd(a1->fd, "count:g-api");
    CU_ASSERT(r_of(j) == 2);
    json_decref(j);
    j = cmd(a1->fd, "uids:g-api");
    CU_ASSERT(v_is(j, "{\"u-a2\":\"u-a2\"}"));
    json_decref(j);
    j = cmd(a1->fd, "uidcount:g-api");
    CU_ASSERT(r_of(j) == 1);
    json_decref(j);

    /* sessions of other clients, on the other gateway */
    j = cmdf(a1->fd, "setsess:%s:k=v", b2->id, NULL);
    CU_ASSERT(r_of(j) == 0);
    json_decref(j);
    j = cmdf(a1->fd, "getsess:%s", b2->id, NULL);
    CU_ASSERT(v_is(j, "{\"k\":\"v\"}"));
    json_decref(j);
    j = cmdf(a1->fd, "upd:%s:m=n,k=w", b2->id, NULL);
    CU_ASSERT(r_of(j) == 0);
    json_decref(j);
    j = cmdf(a1->fd, "getsess:%s", b2->id, NULL);
    CU_ASSERT(v_is(j, "{\"k\":\"w\",\"m\":\"n\"}"));
    json_decref(j);
    j = cmd(a1->fd, "gsessions:g-api");
    CU_ASSERT(json_object_size(v_of(j)) == 2);
    CU_ASSERT(json_object_get(json_object_get(v_of(j), b2->id), "m") != NULL);
    CU_ASSERT(json_object_size(json_object_get(v_of(j), a2->id)) == 0);
    CU_ASSERT(all_answered(j, 2));
    json_decref(j);
    j = cmd(a1->fd, "sessions");
    CU_ASSERT(json_object_size(v_of(j)) == 4);
    CU_ASSERT(json_object_get(json_object_get(v_of(j), b2->id), "k") != NULL);
    json_decref(j);
    /* The target's own later events carry what was set from outside. */
    j = cmd(b2->fd, "sess");
    CU_ASSERT(v_is(j, "{\"k\":\"w\",\"m\":\"n\"}"));
    json_decref(j);
    j = cmdf(a1->fd, "setsess:%s", b2->id, NULL); /* cleared */
    json_decref(j);
    j = cmdf(a1->fd, "getsess:%s", b2->id, NULL);
    CU_ASSERT(v_is(j, "{}") || v_is(j, "[]"));
    json_decref(j);

    /* online */
    j = cmdf(a1->fd, "online:%s", b1->id, NULL);
    CU_ASSERT(r_of(j) == 1);
    CU_ASSERT(all_answered(j, 1));
    json_decref(j);
    j = cmd(a1->fd, "online:zzz");
    CU_ASSERT(r_of(j) == -22); /* -EINVAL */
    json_decref(j);
    char gone[24];
    snprintf(gone, sizeof gone, "%.12s%08x", b1->id, 0x7ffffff0u); /* b1's gateway, no such connection */
    j = cmdf(a1->fd, "online:%s", gone, NULL);
    CU_ASSERT(r_of(j) == 0);
    json_decref(j);
    j = cmdf(a1->fd, "getsess:%s", gone, NULL);
    CU_ASSERT(v_is(j, "null"));
    json_decref(j);

    /* unbind, leave, ungroup */
    json_decref(cmdf(a1->fd, "unbind:%s:u-b1", b1->id, NULL));
    j = cmd(a1->fd, "uidonline:u-b1");
    CU_ASSERT(r_of(j) == 0);
    json_decref(j);
    j = cmdf(a1->fd, "uidof:%s", b1->id, NULL);
    CU_ASSERT(v_is(j, "null"));
    json_decref(j);
    json_decref(cmdf(a1->fd, "leave:%s:g-api", a2->id, NULL));
    j = cmd(a1->fd, "count:g-api");
    CU_ASSERT(r_of(j) == 1);
    json_decref(j);
    j = cmd(a1->fd, "ungroup:g-api");
    CU_ASSERT(r_of(j) == 0);
    json_decref(j);
    j = cmd(a1->fd, "count:g-api");
    CU_ASSERT(r_of(j) == 0);
    json_decref(j);
    j = cmd(a1->fd, "groups");
    CU_ASSERT(!has_key(j, "g-api") && has_key(j, "g-only2"));
    json_decref(j);
    j = cmdf(a1->fd, "online:%s", b2->id, NULL); /* ungroup keeps members connected */
    CU_ASSERT(r_of(j) == 1);
    json_decref(j);
    j = cmd(a1->fd, "ungroup:");
    CU_ASSERT(r_of(j) == -22);
    json_decref(j);

    close_all(c, 4);
}

/* c[i] for i in `got` receive text once; every other client stays quiet. */
static void expect_only(struct cl *c, int n, const char *got, const char *text)
{
    for (int i = 0; i < n; i++)
        if (strchr(got, '0' + i))
            CU_ASSERT(wsc_expect_text(c[i].fd, text, 3000));
    for (int i = 0; i < n; i++)
        CU_ASSERT(wsc_quiet(c[i].fd, strchr(got, '0' + i) ? 100 : 150));
}

static void test_pushes_across_gateways(void)
{
    struct cl c[4] = {client(&gw1), client(&gw1), client(&gw2), client(&gw2)};
    struct cl *a1 = &c[0], *a2 = &c[1], *b1 = &c[2], *b2 = &c[3];
    json_decref(cmdf(a1->fd, "bind:%s:u-p1", b1->id, NULL));
    json_decref(cmdf(a1->fd, "bind:%s:u-p2", a2->id, NULL));
    json_decref(cmdf(a1->fd, "join:%s:g-p", a2->id, NULL));
    json_decref(cmdf(a1->fd, "join:%s:g-p", b2->id, NULL));
    json_decref(cmdf(a1->fd, "join:%s:g-q", b1->id, NULL));
    json_t *j;
#define PUSH(text)                                 \
    do {                                           \
        j = cmd(a1->fd, text);                     \
        CU_ASSERT(j && r_of(j) == 0);              \
        json_decref(j);                            \
    } while (0)
    char t[256];
    snprintf(t, sizeof t, "send:%s:hello-b2", b2->id);
    PUSH(t);
    expect_only(c, 4, "3", "hello-b2");
    PUSH("sendall:everyone");
    expect_only(c, 4, "0123", "everyone");
    snprintf(t, sizeof t, "sendall-ids:%s,%s:some", a2->id, b1->id);
    PUSH(t);
    expect_only(c, 4, "12", "some");
    snprintf(t, sizeof t, "sendall-ex:%s,%s:most", a1->id, b2->id);
    PUSH(t);
    expect_only(c, 4, "12", "most");
    PUSH("touid:u-p1,nobody:by-uid");
    expect_only(c, 4, "2", "by-uid");
    PUSH("touid:u-p1,u-p2:by-uids");
    expect_only(c, 4, "12", "by-uids");
    PUSH("togroup:g-p:by-group");
    expect_only(c, 4, "13", "by-group");
    PUSH("togroup:g-p,g-q:by-groups");
    expect_only(c, 4, "123", "by-groups");
    snprintf(t, sizeof t, "togroup-ex:g-p,g-q:%s,%s:by-group-ex", b2->id, a1->id);
    PUSH(t);
    expect_only(c, 4, "12", "by-group-ex");
    /* A client that left is no longer reached. */
    json_decref(cmdf(a1->fd, "leave:%s:g-p", a2->id, NULL));
    PUSH("togroup:g-p:after-leave");
    expect_only(c, 4, "3", "after-leave");
    json_decref(cmdf(a1->fd, "unbind:%s:u-p1", b1->id, NULL));
    PUSH("touid:u-p1:after-unbind");
    expect_only(c, 4, "", "after-unbind");
#undef PUSH
    (void)a2;
    close_all(c, 4);
}

/* Waits for "closed:<id>", skipping the close notices of other clients
 * (earlier tests' clients may close late). 1 if it came within timeout_ms. */
static int expect_closed(int fd, const char *id, int timeout_ms)
{
    char want[64];
    snprintf(want, sizeof want, "closed:%s", id);
    if (was_passed_over(fd, want))
        return 1;
    long long end = tu_now_ms() + timeout_ms;
    while (tu_now_ms() < end) {
        uint8_t *m = NULL;
        int op = 0;
        ssize_t n = wsc_recv(fd, &m, &op, (int)(end - tu_now_ms()));
        if (n < 0) {
            free(m);
            break;
        }
        int mine = op == WSC_TEXT && (size_t)n == strlen(want) && memcmp(m, want, (size_t)n) == 0;
        int other = op == WSC_TEXT && is_close_notice(m, n);
        if (!mine && !other)
            fprintf(stderr, "\n  waiting for %s, got '%.*s'\n", want, (int)n, (char *)m);
        free(m);
        if (mine)
            return 1;
        if (!other)
            return 0;
    }
    fprintf(stderr, "\n  no %s within %d ms\n", want, timeout_ms);
    return 0;
}

static void test_close_and_destroy(void)
{
    struct cl w = client(&gw1);
    json_decref(cmdf(w.fd, "join:%s:watchers", w.id, NULL));
    char t[128];
    json_t *j;

    /* kick with a message: the message, then the close; on_close runs. */
    struct cl b1 = client(&gw2);
    j = cmdf(w.fd, "kick:%s:bye", b1.id, NULL);
    CU_ASSERT(r_of(j) == 0);
    json_decref(j);
    CU_ASSERT(wsc_expect_text(b1.fd, "bye", 3000));
    CU_ASSERT(closed_within(b1.fd, 3000));
    CU_ASSERT(expect_closed(w.fd, b1.id, 3000));
    snprintf(t, sizeof t, "online:%s", b1.id);
    CU_ASSERT(r_becomes(w.fd, t, 0));

    /* kick without a message */
    struct cl b2 = client(&gw2);
    json_decref(cmdf(w.fd, "kick:%s", b2.id, NULL));
    CU_ASSERT(closed_within(b2.fd, 3000));
    CU_ASSERT(expect_closed(w.fd, b2.id, 3000));

    /* destroy another client */
    struct cl a2 = client(&gw1);
    json_decref(cmdf(w.fd, "destroy:%s", a2.id, NULL));
    CU_ASSERT(closed_within(a2.fd, 3000));
    CU_ASSERT(expect_closed(w.fd, a2.id, 3000));
    j = cmd(w.fd, "destroy:not-an-id");
    CU_ASSERT(r_of(j) == -22);
    json_decref(j);

    /* the current client closes itself, with a message, or destroys itself */
    struct cl c = client(&gw2);
    CU_ASSERT(say(c.fd, "kickme:later") == 0);
    CU_ASSERT(wsc_expect_text(c.fd, "later", 3000));
    CU_ASSERT(closed_within(c.fd, 3000));
    CU_ASSERT(expect_closed(w.fd, c.id, 3000));
    struct cl d = client(&gw1);
    CU_ASSERT(say(d.fd, "destroyme") == 0);
    CU_ASSERT(closed_within(d.fd, 3000));
    CU_ASSERT(expect_closed(w.fd, d.id, 3000));

    tu_close(b1.fd);
    tu_close(b2.fd);
    tu_close(a2.fd);
    tu_close(c.fd);
    tu_close(d.fd);
    tu_close(w.fd);
}

/* Sends every command at once (they queue on the gateway behind the slow
 * first one) and reads the answers in order; returns the last one. */
static json_t *pipeline(int fd, const char *const *cmds, int n)
{
    for (int i = 0; i < n; i++)
        if (say(fd, cmds[i]) < 0)
            return NULL;
    json_t *last = NULL;
    for (int i = 0; i < n; i++) {
        json_decref(last);
        last = next_json(fd);
        if (!last)
            return NULL;
    }
    return last;
}

static void test_stale_session_guard(void)
{
    struct cl c = client(&gw1);
    char get[64];
    snprintf(get, sizeof get, "getsess:%s", c.id);

    /* Two messages back to back: the second left the gateway (with no
     * session) while the first was still sleeping in its callback, before
     * the first's SET_SESSION {a} reached the gateway. Without the guard
     * the second would write back {b} alone and lose a. */
    const char *two[] = {"slow:400:a=1", "sset:b=2"};
    json_t *j = pipeline(c.fd, two, 2);
    CU_ASSERT(v_is(j, "{\"a\":\"1\",\"b\":\"2\"}"));
    json_decref(j);
    j = cmd(c.fd, get);
    CU_ASSERT(v_is(j, "{\"a\":\"1\",\"b\":\"2\"}"));
    json_decref(j);

    /* A stale event that only reads, then another stale one that writes:
     * PHP's rule (remember the stale event's CRC after the fetch) would let
     * the third use the stale session and drop c; ours fetches again. */
    const char *three[] = {"slow:400:c=3", "sess", "sset:d=4"};
    j = pipeline(c.fd, three, 3);
    CU_ASSERT(v_is(j, "{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\",\"d\":\"4\"}"));
    json_decref(j);
    j = cmd(c.fd, get);
    CU_ASSERT(v_is(j, "{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\",\"d\":\"4\"}"));
    json_decref(j);

    /* Many stale writers in a row, one unset among them. */
    const char *many[] = {"slow:300:e=5", "sset:f=6", "sunset:a", "sset:g=7", "sset:h=8"};
    j = pipeline(c.fd, many, 5);
    CU_ASSERT(v_is(j, "{\"b\":\"2\",\"c\":\"3\",\"d\":\"4\",\"e\":\"5\",\"f\":\"6\",\"g\":\"7\",\"h\":\"8\"}"));
    json_decref(j);
    j = cmd(c.fd, get);
    CU_ASSERT(v_is(j, "{\"b\":\"2\",\"c\":\"3\",\"d\":\"4\",\"e\":\"5\",\"f\":\"6\",\"g\":\"7\",\"h\":\"8\"}"));
    json_decref(j);

    /* A change this process made to ANOTHER client's session (gw_set_session)
     * while that client's next messages were already queued. */
    struct cl o = client(&gw2);
    char set[128];
    snprintf(set, sizeof set, "setsess:%s:x=1", o.id);
    /* c's process is busy 400 ms (slow) then sets o's session; o's messages
     * queued meanwhile carry no session. Only meaningful when both clients
     * are served by the same process, but correct in any case. */
    CU_ASSERT(say(c.fd, "slow:400:i=9") == 0);
    CU_ASSERT(say(c.fd, set) == 0);
    usleep(100000);
    CU_ASSERT(say(o.fd, "sset:y=2") == 0);
    json_decref(next_json(c.fd));
    json_decref(next_json(c.fd));
    j = next_json(o.fd);
    CU_ASSERT(j != NULL);
    json_decref(j);
    snprintf(get, sizeof get, "getsess:%s", o.id);
    j = cmd(c.fd, get);
    /* o's sset ran either after the SET_SESSION (both keys) or before it
     * (then the set replaced it: x only); never y alone over a lost x. */
    CU_ASSERT(v_is(j, "{\"x\":\"1\",\"y\":\"2\"}") || v_is(j, "{\"x\":\"1\"}"));
    json_decref(j);

    tu_close(o.fd);
    tu_close(c.fd);
    /* The worker's log has no complaint about failed fetches. */
    CU_ASSERT(!tu_file_contains(bw.log, "did not answer GET_SESSION", 10));
}

static void test_query_with_stopped_gateway(void)
{
    struct cl a = client(&gw1), b = client(&gw2);
    CU_ASSERT_FATAL(kill(gw2.p.pid, SIGSTOP) == 0);
    long long t0 = tu_now_ms();
    json_t *j = cmd(a.fd, "ids");
    long long took = tu_now_ms() - t0;
    json_t *q = json_object_get(j, "q");
    CU_ASSERT(json_integer_value(json_object_get(q, "asked")) == 2);
    CU_ASSERT(json_integer_value(json_object_get(q, "answered")) == 1);
    json_t *miss = json_object_get(q, "missing");
    CU_ASSERT(json_array_size(miss) == 1 && is_addr_of(json_string_value(json_array_get(miss, 0)), &gw2));
    /* gw1's part is there, gw2's is not. */
    CU_ASSERT(has_key(j, a.id) && !has_key(j, b.id));
    /* Within the 5 s reply timeout (plus slack), not forever. */
    CU_ASSERT(took >= 4500 && took < 8000);
    json_decref(j);
    /* A per-client query to the stopped gateway is reported too. */
    j = cmdf(a.fd, "online:%s", b.id, NULL);
    CU_ASSERT(r_of(j) == 0);
    q = json_object_get(j, "q");
    CU_ASSERT(json_integer_value(json_object_get(q, "asked")) == 1 &&
              json_integer_value(json_object_get(q, "answered")) == 0);
    json_decref(j);
    CU_ASSERT(kill(gw2.p.pid, SIGCONT) == 0);
    /* Everything answers again, b included. */
    j = cmd(a.fd, "ids");
    CU_ASSERT(all_answered(j, 2));
    CU_ASSERT(has_key(j, a.id) && has_key(j, b.id));
    json_decref(j);
    j = cmdf(a.fd, "online:%s", b.id, NULL);
    CU_ASSERT(r_of(j) == 1);
    json_decref(j);
    j = cmd(b.fd, "me");
    CU_ASSERT(j && strcmp(json_string_value(v_of(j)), b.id) == 0);
    json_decref(j);
    tu_close(a.fd);
    tu_close(b.fd);
}

/* Lines of the file holding both a and b. */
static int count_lines(const char *path, const char *a, const char *b)
{
    size_t len;
    char *s = (char *)tu_read_file(path, &len);
    int n = 0;
    for (char *line = s; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        if (strstr(line, a) && strstr(line, b))
            n++;
        line = nl ? nl + 1 : NULL;
    }
    free(s);
    return n;
}

static void test_register_restart(void)
{
    struct cl a = client(&gw1), b = client(&gw2);
    json_decref(cmdf(a.fd, "join:%s:g-r", b.id, NULL));
    CU_ASSERT(launch_stop(&reg, 5000) == 0);
    /* Without a register, the links to the gateways stay up. */
    json_t *j = cmd(a.fd, "togroup:g-r:no register");
    CU_ASSERT(r_of(j) == 0);
    json_decref(j);
    CU_ASSERT(wsc_expect_text(b.fd, "no register", 3000));
    usleep(300000);
    CU_ASSERT_FATAL(launch_start(&reg, reg_port, NULL, 5000) == 0); /* a new log */
    /* Both gateways and both business processes come back to the new register. */
    CU_ASSERT(tu_file_contains(reg.log, "registered 127.0.0.1:", 8000));
    {
        char want[64];
        snprintf(want, sizeof want, "registered 127.0.0.1:%d", gw1.lan_port);
        CU_ASSERT(tu_file_contains(reg.log, want, 8000));
        snprintf(want, sizeof want, "registered 127.0.0.1:%d", gw2.lan_port);
        CU_ASSERT(tu_file_contains(reg.log, want, 8000));
    }
    long long end = tu_now_ms() + 8000;
    int workers = 0;
    while (tu_now_ms() < end && (workers = count_lines(reg.log, "worker 127.0.0.1:", " connected")) < 2)
        usleep(100000);
    CU_ASSERT(workers >= 2);
    /* The clients keep working, across gateways. */
    j = cmd(a.fd, "ids");
    CU_ASSERT(all_answered(j, 2));
    CU_ASSERT(has_key(j, a.id) && has_key(j, b.id));
    json_decref(j);
    j = cmd(b.fd, "togroup:g-r:after restart");
    json_decref(j);
    CU_ASSERT(wsc_expect_text(b.fd, "after restart", 3000));

    /* A gateway started after the restart is learned from the new register. */
    CU_ASSERT_FATAL(launch_gw_spawn(&gw3, dir, "gateway-3", reg_port, KEY) > 0);
    CU_ASSERT_FATAL(launch_gw_linked(&gw3, NAME, 2, 10000) == 0);
    struct cl c = client(&gw3);
    json_decref(cmdf(c.fd, "join:%s:g-r", c.id, NULL));
    j = cmd(a.fd, "togroup:g-r:three gateways");
    json_decref(j);
    CU_ASSERT(wsc_expect_text(b.fd, "three gateways", 3000));
    CU_ASSERT(wsc_expect_text(c.fd, "three gateways", 3000));
    j = cmd(c.fd, "ids");
    CU_ASSERT(all_answered(j, 3));
    CU_ASSERT(has_key(j, a.id) && has_key(j, b.id) && has_key(j, c.id));
    json_decref(j);
    CU_ASSERT(r_becomes(c.fd, "count", 3));
    tu_close(a.fd);
    tu_close(b.fd);
    tu_close(c.fd);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("business_api", start_all, stop_all);
    CU_add_test(s, "the current client: gw_current_*, handshake data, sendme, GW_RAW", test_current_client);
    CU_add_test(s, "settings ([app], --app.*) and timers (API version 2)", test_settings_and_timers);
    CU_add_test(s, "the current client's session: get/set/unset/int/replace, set/update", test_current_session);
    CU_add_test(s, "every query, merged over two gateways", test_queries_across_gateways);
    CU_add_test(s, "every push: who receives what", test_pushes_across_gateways);
    CU_add_test(s, "kick, destroy, on_close", test_close_and_destroy);
    CU_add_test(s, "stale-session guard: pipelined messages keep every write", test_stale_session_guard);
    CU_add_test(s, "gw_last_query names a stopped gateway; it answers again after SIGCONT",
                test_query_with_stopped_gateway);
    CU_add_test(s, "register restart: links survive, gateways re-register, a new gateway is learned",
                test_register_restart);
    return tu_run("test_business_api");
}
