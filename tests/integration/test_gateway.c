/* The gateway as a real process on loopback, with a real register, real
 * WebSocket clients and a test business worker speaking the internal
 * protocol: each command is exercised end to end and its effect checked on
 * the clients. */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clientid.h"
#include "fakebw.h"
#include "phpser.h"
#include "tu.h"
#include "launch.h"
#include "wsc.h"

#define KEY "s3cr3t-lottery"

static char dir[64];
static int reg_port, ws_port, lan_port;
static struct launch reg, gw;
static struct fakebw bw;

static int start_all(void)
{
    if (launch_tmpdir("gateway", dir, sizeof dir) < 0)
        return -1;
    reg_port = tu_free_port();
    ws_port = tu_free_port();
    lan_port = tu_free_port();
    launch_register(&reg, dir, reg_port, KEY);
    launch_gateway(&gw, dir, "gateway", ws_port, lan_port, reg_port, KEY);
    if (launch_spawn(&reg) < 0 || launch_start(&gw, lan_port, NULL, 5000) < 0)
        return -1;
    if (fakebw_worker(&bw, lan_port, "TestBusiness:0", KEY) < 0)
        return -1;
    /* Let the gateway take the worker link before clients arrive. */
    return launch_ready(&gw, 0, "business worker 127.0.0.1:TestBusiness:0 connected", 3000);
}

static int stop_all(void)
{
    fakebw_close(&bw);
    int st = launch_stop(&gw, 5000);
    int st2 = launch_stop(&reg, 5000);
    launch_free(&gw);
    launch_free(&reg);
    return st == 0 && st2 == 0 ? 0 : -1;
}

/* Connects a WebSocket client and returns its connection id, read from the
 * ON_CONNECT the worker receives. */
static int client(const char *path, uint32_t *conn_id)
{
    int fd = wsc_connect(ws_port, path, "Cookie: a=1; theme=dark%20blue\r\nUser-Agent: gw-test\r\n", 3000);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_CONNECT, 3000) == 0);
    *conn_id = bw.last.hdr.connection_id;
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_WEBSOCKET_CONNECT, 3000) == 0);
    return fd;
}

static const msgpack_object *map_get(const msgpack_object *m, const char *key)
{
    if (m->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) && memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}

static int str_is(const msgpack_object *o, const char *s)
{
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) && memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

static void test_registers_with_register(void)
{
    int w = tu_connect(reg_port, 2000);
    CU_ASSERT_FATAL(w >= 0);
    const char *hello = "{\"event\":\"worker_connect\",\"secret_key\":\"" KEY "\"}\n";
    char line[256], want[256];
    snprintf(want, sizeof want, "{\"event\":\"broadcast_addresses\",\"addresses\":[\"127.0.0.1:%d\"]}\n", lan_port);
    /* The gateway registers on its own schedule (its first connect may
     * come before the register listens, then it retries): ask again until
     * the list names it, within a deadline; an empty list before that is
     * the register's correct answer. */
    long long end = tu_now_ms() + 8000;
    line[0] = '\0';
    do {
        tu_write_all(w, hello, strlen(hello));
        if (tu_read_line(w, line, sizeof line, 3000) <= 0 || strcmp(line, want) == 0)
            break;
        usleep(100000);
    } while (tu_now_ms() < end);
    CU_ASSERT_STRING_EQUAL(line, want);
    tu_close(w);
}

static void test_connect_events_and_message(void)
{
    int fd = wsc_connect(ws_port, "/ws?token=9f2c1e&room=annual-party", "Cookie: a=1; theme=dark\r\n", 3000);
    CU_ASSERT_FATAL(fd >= 0);
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    getsockname(fd, (struct sockaddr *)&me, &ml);

    CU_ASSERT_FATAL(fakebw_next(&bw, 3000) == 0);
    const struct gwp_frame *f = &bw.last;
    CU_ASSERT_EQUAL(f->hdr.cmd, GWP_CMD_ON_CONNECT);
    CU_ASSERT_EQUAL(f->hdr.local_ip, 0x7f000001);
    CU_ASSERT_EQUAL(f->hdr.local_port, lan_port);
    CU_ASSERT_EQUAL(f->hdr.client_ip, 0x7f000001);
    CU_ASSERT_EQUAL(f->hdr.client_port, ntohs(me.sin_port));
    CU_ASSERT_EQUAL(f->hdr.gateway_port, ws_port);
    CU_ASSERT_EQUAL(f->hdr.flag, GWP_FLAG_BODY_IS_SCALAR);
    CU_ASSERT_EQUAL(f->ext_len, 0);
    uint32_t id = f->hdr.connection_id;
    CU_ASSERT(id >= 1);

    CU_ASSERT_FATAL(fakebw_next(&bw, 3000) == 0);
    CU_ASSERT_EQUAL(f->hdr.cmd, GWP_CMD_ON_WEBSOCKET_CONNECT);
    CU_ASSERT_EQUAL(f->hdr.connection_id, id);
    CU_ASSERT_EQUAL(f->hdr.flag & GWP_FLAG_BODY_IS_SCALAR, 0);
    msgpack_zone z;
    msgpack_zone_init(&z, 4096);
    msgpack_object v;
    char err[160];
    CU_ASSERT_FATAL(phpser_decode(f->body, f->body_len, &z, &v, NULL, err, sizeof err) == 0);
    const msgpack_object *get = map_get(&v, "get"), *server = map_get(&v, "server"), *cookie = map_get(&v, "cookie");
    CU_ASSERT(str_is(map_get(get, "token"), "9f2c1e"));
    CU_ASSERT(str_is(map_get(get, "room"), "annual-party"));
    CU_ASSERT(str_is(map_get(server, "REQUEST_METHOD"), "GET"));
    CU_ASSERT(str_is(map_get(server, "REMOTE_ADDR"), "127.0.0.1"));
    const msgpack_object *rp = map_get(server, "REMOTE_PORT");
    CU_ASSERT(rp && rp->type == MSGPACK_OBJECT_POSITIVE_INTEGER && rp->via.u64 == ntohs(me.sin_port));
    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%d", ws_port);
    CU_ASSERT(str_is(map_get(server, "SERVER_NAME"), host));
    CU_ASSERT(str_is(map_get(server, "HTTP_HOST"), host));
    CU_ASSERT(str_is(map_get(cookie, "a"), "1"));
    CU_ASSERT(str_is(map_get(cookie, "theme"), "dark"));
    msgpack_zone_destroy(&z);

    CU_ASSERT(wsc_send(fd, WSC_TEXT, "hello", 5) == 0);
    CU_ASSERT_FATAL(fakebw_next(&bw, 3000) == 0);
    CU_ASSERT_EQUAL(f->hdr.cmd, GWP_CMD_ON_MESSAGE);
    CU_ASSERT_EQUAL(f->hdr.connection_id, id);
    CU_ASSERT_EQUAL(f->body_len, 5);
    CU_ASSERT(memcmp(f->body, "hello", 5) == 0);

    /* A fragmented message reaches the worker as one ON_MESSAGE. */
    char big[5000];
    memset(big, 'z', sizeof big);
    CU_ASSERT(wsc_send_fragmented(fd, WSC_TEXT, big, sizeof big, 1000) == 0);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_MESSAGE, 3000) == 0);
    CU_ASSERT_EQUAL(f->body_len, sizeof big);

    /* Session bytes set by the worker ride on every later event, verbatim. */
    const char *sess = "a:1:{s:3:\"uid\";s:5:\"u1001\";}";
    CU_ASSERT(fakebw_cmd(&bw, GWP_CMD_SET_SESSION, id, GWP_FLAG_BODY_IS_SCALAR, sess, strlen(sess), "", 0) == 0);
    /* Barrier, not a sleep: the gateway runs one link's commands in order,
     * so the reply to a query sent after SET_SESSION means it was applied
     * before the client's next message is read. */
    CU_ASSERT(fakebw_cmd(&bw, GWP_CMD_IS_ONLINE, id, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, "", 0) == 0);
    {
        size_t rn = 0;
        char *r = fakebw_reply(&bw, &rn, 3000);
        CU_ASSERT(r != NULL && rn == 4 && memcmp(r, "i:1;", 4) == 0);
        free(r);
    }
    CU_ASSERT(wsc_send(fd, WSC_TEXT, "again", 5) == 0);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_MESSAGE, 3000) == 0);
    CU_ASSERT_EQUAL(f->ext_len, strlen(sess));
    CU_ASSERT(f->ext_len == strlen(sess) && memcmp(f->ext, sess, f->ext_len) == 0);

    tu_close(fd);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_CLOSE, 3000) == 0);
    CU_ASSERT_EQUAL(f->hdr.connection_id, id);
    CU_ASSERT(f->ext_len == strlen(sess) && memcmp(f->ext, sess, f->ext_len) == 0);
}

static void test_pushes(void)
{
    uint32_t id1, id2, id3;
    int c1 = client("/", &id1), c2 = client("/", &id2), c3 = client("/", &id3);
    const char *txt = "hi \xe4\xb8\xad\xe6\x96\x87";
    fakebw_cmd(&bw, GWP_CMD_SEND_TO_ONE, id2, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, txt, strlen(txt));
    CU_ASSERT(wsc_expect_text(c2, txt, 3000));
    CU_ASSERT(wsc_quiet(c1, 100) && wsc_quiet(c3, 100));

    fakebw_cmd(&bw, GWP_CMD_SEND_TO_ALL, 0, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, "everyone", 8);
    CU_ASSERT(wsc_expect_text(c1, "everyone", 3000));
    CU_ASSERT(wsc_expect_text(c2, "everyone", 3000));
    CU_ASSERT(wsc_expect_text(c3, "everyone", 3000));

    char ex[128];
    int n = snprintf(ex, sizeof ex, "{\"exclude\":{\"%u\":%u}}", id1, id1);
    fakebw_cmd(&bw, GWP_CMD_SEND_TO_ALL, 0, GWP_FLAG_BODY_IS_SCALAR, ex, (size_t)n, "not-you", 7);
    CU_ASSERT(wsc_expect_text(c2, "not-you", 3000));
    CU_ASSERT(wsc_expect_text(c3, "not-you", 3000));
    CU_ASSERT(wsc_quiet(c1, 100));

    fakebw_cmd(&bw, GWP_CMD_JOIN_GROUP, id1, GWP_FLAG_BODY_IS_SCALAR, "table-12", 8, "", 0);
    fakebw_cmd(&bw, GWP_CMD_JOIN_GROUP, id3, GWP_FLAG_BODY_IS_SCALAR, "table-12", 8, "", 0);
    const char *grp = "{\"group\":[\"table-12\"],\"exclude\":null}";
    fakebw_cmd(&bw, GWP_CMD_SEND_TO_GROUP, 0, GWP_FLAG_BODY_IS_SCALAR, grp, strlen(grp), "table", 5);
    CU_ASSERT(wsc_expect_text(c1, "table", 3000));
    CU_ASSERT(wsc_expect_text(c3, "table", 3000));
    CU_ASSERT(wsc_quiet(c2, 100));

    fakebw_cmd(&bw, GWP_CMD_BIND_UID, id2, GWP_FLAG_BODY_IS_SCALAR, "u1001", 5, "", 0);
    fakebw_cmd(&bw, GWP_CMD_SEND_TO_UID, 0, GWP_FLAG_BODY_IS_SCALAR, "[\"u1001\"]", 9, "for-uid", 7);
    CU_ASSERT(wsc_expect_text(c2, "for-uid", 3000));
    CU_ASSERT(wsc_quiet(c1, 100) && wsc_quiet(c3, 100));

    /* A PHP array body reaches a WebSocket client as JSON. */
    const char *arr = "a:2:{s:4:\"type\";s:4:\"draw\";s:5:\"prize\";i:1;}";
    fakebw_cmd(&bw, GWP_CMD_SEND_TO_ONE, id1, 0, NULL, 0, arr, strlen(arr));
    CU_ASSERT(wsc_expect_text(c1, "{\"type\":\"draw\",\"prize\":1}", 3000));

    /* Queries through a GatewayClient connection. */
    struct fakebw gc;
    CU_ASSERT_FATAL(fakebw_client(&gc, lan_port, KEY) == 0);
    fakebw_cmd(&gc, GWP_CMD_GET_CLIENT_COUNT_BY_GROUP, 0, GWP_FLAG_BODY_IS_SCALAR, "table-12", 8, "", 0);
    size_t rl;
    char *r = fakebw_reply(&gc, &rl, 3000);
    CU_ASSERT(r && strcmp(r, "i:2;") == 0);
    free(r);
    fakebw_cmd(&gc, GWP_CMD_IS_ONLINE, id2, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, "", 0);
    r = fakebw_reply(&gc, &rl, 3000);
    CU_ASSERT(r && strcmp(r, "i:1;") == 0);
    free(r);
    fakebw_close(&gc);

    /* KICK: the goodbye, then a close frame, then EOF; the worker hears ON_CLOSE. */
    fakebw_cmd(&bw, GWP_CMD_KICK, id3, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, "bye", 3);
    CU_ASSERT(wsc_expect_text(c3, "bye", 3000));
    uint8_t *m = NULL;
    int op = 0;
    CU_ASSERT(wsc_recv(c3, &m, &op, 3000) >= 0 && op == WSC_CLOSE);
    free(m);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_CLOSE, 3000) == 0);
    CU_ASSERT_EQUAL(bw.last.hdr.connection_id, id3);

    /* DESTROY drops at once. */
    fakebw_cmd(&bw, GWP_CMD_DESTROY, id1, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, "", 0);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_CLOSE, 3000) == 0);
    CU_ASSERT_EQUAL(bw.last.hdr.connection_id, id1);
    CU_ASSERT_EQUAL(tu_wait_eof(c1, 3000), 1);
    tu_close(c1);
    tu_close(c3);
    tu_close(c2);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_CLOSE, 3000) == 0);
}

static void test_internal_port_auth(void)
{
    struct fakebw x;
    /* A command before any authorisation: closed, nothing sent back. */
    CU_ASSERT_FATAL(fakebw_client(&x, lan_port, NULL) == 0);
    fakebw_cmd(&x, GWP_CMD_SEND_TO_ALL, 0, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, "evil", 4);
    CU_ASSERT_EQUAL(fakebw_next(&x, 3000), -2);
    fakebw_close(&x);
    CU_ASSERT(tu_file_contains(gw.log, "Unauthorized request from 127.0.0.1", 2000));
    /* A wrong key: closed. */
    CU_ASSERT_FATAL(fakebw_worker(&x, lan_port, "Evil:0", "wrong") == 0);
    CU_ASSERT_EQUAL(fakebw_next(&x, 3000), -2);
    fakebw_close(&x);
    /* A frame whose pack_len is below 28: a protocol error, closed. */
    CU_ASSERT_FATAL(fakebw_client(&x, lan_port, KEY) == 0);
    uint8_t bad[28] = {0, 0, 0, 5};
    tu_write_all(x.fd, bad, sizeof bad);
    CU_ASSERT_EQUAL(fakebw_next(&x, 3000), -2);
    fakebw_close(&x);
}

static void test_probes_produce_no_events(void)
{
    /* A load balancer's TCP probe: connect, close, no handshake. */
    int fd = tu_connect(ws_port, 2000);
    CU_ASSERT(fd >= 0);
    tu_close(fd);
    /* An HTTP health check. */
    fd = tu_connect(ws_port, 2000);
    const char *req = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    tu_write_all(fd, req, strlen(req));
    char line[512];
    CU_ASSERT(tu_read_line(fd, line, sizeof line, 3000) > 0);
    CU_ASSERT(strncmp(line, "HTTP/1.1 200", 12) == 0);
    tu_close(fd);
    CU_ASSERT_EQUAL(fakebw_next(&bw, 300), -1);
}

/* A GatewayClient opens one connection per call: calls made one after the
 * other must take effect in that order (PHP's gateway does). */
static void test_calls_on_separate_connections_keep_their_order(void)
{
    uint32_t id;
    int c = client("/", &id);
    int in_order = 0, bound_seen = 0;
    enum { ROUNDS = 20 };
    for (int round = 0; round < ROUNDS; round++) {
        struct fakebw gc[3];
        for (int i = 0; i < 3; i++) {
            char body[2] = {(char)('0' + i), 0};
            CU_ASSERT_FATAL(fakebw_client(&gc[i], lan_port, KEY) == 0);
            fakebw_cmd(&gc[i], GWP_CMD_SEND_TO_ONE, id, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, body, 1);
        }
        char got[4] = {0};
        for (int i = 0; i < 3; i++) {
            uint8_t *m = NULL;
            int op;
            if (wsc_recv(c, &m, &op, 3000) == 1)
                got[i] = (char)m[0];
            free(m);
        }
        in_order += strcmp(got, "012") == 0;
        for (int i = 0; i < 3; i++)
            fakebw_close(&gc[i]);

        char uid[16];
        int n = snprintf(uid, sizeof uid, "o%d", round);
        struct fakebw a, b;
        CU_ASSERT_FATAL(fakebw_client(&a, lan_port, KEY) == 0);
        fakebw_cmd(&a, GWP_CMD_BIND_UID, id, GWP_FLAG_BODY_IS_SCALAR, uid, (size_t)n, "", 0);
        CU_ASSERT_FATAL(fakebw_client(&b, lan_port, KEY) == 0);
        fakebw_cmd(&b, GWP_CMD_GET_CLIENT_ID_BY_UID, 0, GWP_FLAG_BODY_IS_SCALAR, uid, (size_t)n, "", 0);
        size_t rl;
        char *r = fakebw_reply(&b, &rl, 3000);
        bound_seen += r && strcmp(r, "a:0:{}") != 0;
        free(r);
        fakebw_close(&a);
        fakebw_close(&b);
    }
    CU_ASSERT_EQUAL(in_order, ROUNDS);
    CU_ASSERT_EQUAL(bound_seen, ROUNDS);
    tu_close(c);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_CLOSE, 3000) == 0);
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("gateway_process", start_all, stop_all);
    CU_add_test(s, "registers its lan address with the register", test_registers_with_register);
    CU_add_test(s, "ON_CONNECT, ON_WEBSOCKET_CONNECT, ON_MESSAGE, session, ON_CLOSE", test_connect_events_and_message);
    CU_add_test(s, "pushes, groups, uids, queries, kick, destroy", test_pushes);
    CU_add_test(s, "internal port: auth and protocol errors", test_internal_port_auth);
    CU_add_test(s, "calls on separate connections keep their order", test_calls_on_separate_connections_keep_their_order);
    CU_add_test(s, "TCP and HTTP probes produce no business events", test_probes_produce_no_events);
    return tu_run("test_gateway");
}
