/* The gateway's operational behaviour as real processes on loopback:
 * heartbeats, client events held while no business worker is connected,
 * slow consumers, several gateway processes, status. */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "fakebw.h"
#include "phpser.h"
#include "launch.h"
#include "tu.h"
#include "wsc.h"

#define KEY "ops-key"

static char dir[64];
static int reg_port;
static struct launch reg;

static int suite_init(void)
{
    if (launch_tmpdir("ops", dir, sizeof dir) < 0)
        return -1;
    reg_port = tu_free_port();
    launch_register(&reg, dir, reg_port, KEY);
    return launch_start(&reg, reg_port, NULL, 5000);
}

static int suite_clean(void)
{
    int rc = launch_stop(&reg, 5000);
    launch_free(&reg);
    return rc;
}

/* Starts a gateway with extra settings (NULL-terminated list). */
static int gw_start(struct launch_gw *g, const char *name, ...)
{
    launch_gw_init(g, dir, name, reg_port, KEY);
    va_list ap;
    va_start(ap, name);
    const char *x;
    while ((x = va_arg(ap, const char *)))
        launch_set(&g->p, "%s", x);
    va_end(ap);
    if (launch_spawn(&g->p) < 0)
        return -1;
    return launch_gw_ready(g, 5000);
}

static void gw_stop(struct launch_gw *g) { CU_ASSERT(launch_gw_stop(g, 5000) == 0); }

static void test_heartbeat(void)
{
    struct launch_gw g = {0};
    CU_ASSERT_FATAL(gw_start(&g, "hb", "--pingInterval=1", "--pingNotResponseLimit=1", "--pingData={\"type\":\"ping\"}",
                             NULL) == 0);
    struct fakebw bw;
    CU_ASSERT_FATAL(fakebw_worker(&bw, g.lan_port, "Hb:0", KEY) == 0);
    CU_ASSERT_FATAL(tu_file_contains(g.p.log, "business worker", 3000));
    int quiet = wsc_connect(g.ws_port, "/", NULL, 3000);
    int talker = wsc_connect(g.ws_port, "/", NULL, 3000);
    CU_ASSERT_FATAL(quiet >= 0 && talker >= 0);
    long long t0 = tu_now_ms();
    /* The silent client gets the probe, then is dropped (§6.1: L=1 → ping at
     * tick 3, destroy at tick 4, ticks every 0.5 s). The talker answers each
     * probe and stays. */
    CU_ASSERT(wsc_expect_text(quiet, "{\"type\":\"ping\"}", 3000));
    CU_ASSERT(wsc_expect_text(talker, "{\"type\":\"ping\"}", 3000));
    long long t_ping = tu_now_ms() - t0;
    CU_ASSERT(t_ping >= 900); /* not before tick 3 after the last data (upper bound left to the timeouts) */
    wsc_send(talker, WSC_TEXT, "pong", 4);
    CU_ASSERT_EQUAL(tu_wait_eof(quiet, 3000), 1);
    for (int i = 0; i < 2; i++) {
        CU_ASSERT(wsc_expect_text(talker, "{\"type\":\"ping\"}", 3000));
        wsc_send(talker, WSC_TEXT, "pong", 4);
    }
    /* The worker saw exactly one ON_CLOSE: the quiet one. */
    int closes = 0;
    while (fakebw_next(&bw, 300) == 0)
        closes += bw.last.hdr.cmd == GWP_CMD_ON_CLOSE;
    CU_ASSERT_EQUAL(closes, 1);
    tu_close(quiet);
    tu_close(talker);
    fakebw_close(&bw);
    gw_stop(&g);
}

static void test_events_held_until_a_worker_connects(void)
{
    struct launch_gw g = {0};
    CU_ASSERT_FATAL(gw_start(&g, "pending", "--pendingTimeout=20", NULL) == 0);
    int c = wsc_connect(g.ws_port, "/?early=1", NULL, 3000);
    CU_ASSERT_FATAL(c >= 0);
    wsc_send(c, WSC_TEXT, "first", 5);
    wsc_send(c, WSC_TEXT, "second", 6);
    usleep(300000);
    struct fakebw bw;
    CU_ASSERT_FATAL(fakebw_worker(&bw, g.lan_port, "Late:0", KEY) == 0);
    uint8_t want[] = {GWP_CMD_ON_CONNECT, GWP_CMD_ON_WEBSOCKET_CONNECT, GWP_CMD_ON_MESSAGE, GWP_CMD_ON_MESSAGE};
    for (size_t i = 0; i < sizeof want; i++) {
        CU_ASSERT_FATAL(fakebw_next(&bw, 3000) == 0);
        CU_ASSERT_EQUAL(bw.last.hdr.cmd, want[i]);
    }
    CU_ASSERT(bw.last.body_len == 6 && memcmp(bw.last.body, "second", 6) == 0);
    /* The client sticks to that worker and is served normally. */
    uint32_t id = bw.last.hdr.connection_id;
    fakebw_cmd(&bw, GWP_CMD_SEND_TO_ONE, id, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, "late hello", 10);
    CU_ASSERT(wsc_expect_text(c, "late hello", 3000));
    wsc_send(c, WSC_TEXT, "third", 5);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_MESSAGE, 3000) == 0);
    tu_close(c);
    fakebw_close(&bw);
    gw_stop(&g);
}

static void test_held_events_expire(void)
{
    struct launch_gw g = {0};
    CU_ASSERT_FATAL(gw_start(&g, "expire", "--pendingTimeout=1", NULL) == 0);
    int c = wsc_connect(g.ws_port, "/", NULL, 3000);
    CU_ASSERT_FATAL(c >= 0);
    wsc_send(c, WSC_TEXT, "old", 3);
    CU_ASSERT(tu_file_contains(g.p.log, "dropped 3 held client events", 4000));
    struct fakebw bw;
    CU_ASSERT_FATAL(fakebw_worker(&bw, g.lan_port, "Late:0", KEY) == 0);
    CU_ASSERT_EQUAL(fakebw_next(&bw, 500), -1); /* nothing stale delivered */
    wsc_send(c, WSC_TEXT, "new", 3);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_MESSAGE, 3000) == 0);
    CU_ASSERT(bw.last.body_len == 3 && memcmp(bw.last.body, "new", 3) == 0);
    tu_close(c);
    fakebw_close(&bw);
    gw_stop(&g);
}

static void test_slow_consumer_closed(void)
{
    struct launch_gw g = {0};
    CU_ASSERT_FATAL(gw_start(&g, "slow", "--sendToClientBufferSize=65536", NULL) == 0);
    struct fakebw bw;
    CU_ASSERT_FATAL(fakebw_worker(&bw, g.lan_port, "Slow:0", KEY) == 0);
    CU_ASSERT_FATAL(tu_file_contains(g.p.log, "business worker", 3000));
    int c = wsc_connect(g.ws_port, "/", NULL, 3000);
    CU_ASSERT_FATAL(c >= 0);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_CONNECT, 3000) == 0);
    uint32_t id = bw.last.hdr.connection_id;
    /* The client never reads; 64 MiB pushed at it must end in a close, not in
     * 64 MiB of gateway memory. */
    static char chunk[65536];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 1024; i++)
        fakebw_cmd(&bw, GWP_CMD_SEND_TO_ONE, id, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, chunk, sizeof chunk);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_CLOSE, 10000) == 0);
    CU_ASSERT_EQUAL(bw.last.hdr.connection_id, id);
    CU_ASSERT(tu_file_contains(g.p.log, "over sendToClientBufferSize; closing", 2000));
    tu_close(c);
    fakebw_close(&bw);
    gw_stop(&g);
}

/* 1 if port p on 127.0.0.1 can be bound now (no listener, and no
 * connection using it as its local port). */
static int bindable(int p, int *fd)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    return *fd >= 0 && bind(*fd, (struct sockaddr *)&a, sizeof a) == 0;
}

/* A base port with base and base + 1 both free a moment ago. base + 1 is
 * even, the parity Linux gives connect()'s local ports: on a machine
 * busy with loopback connections (make test-stress, other suites) it is
 * often taken by one, which only a bind shows (a connect probe saw no
 * listener, and the gateway then failed with "Address already in use"). */
static int free_pair(void)
{
    for (int i = 0; i < 100; i++) {
        int base = tu_free_port(), f1 = -1, f2 = -1;
        int ok = base > 0 && base < 65535 && bindable(base, &f1) && bindable(base + 1, &f2);
        if (f1 >= 0)
            close(f1);
        if (f2 >= 0)
            close(f2);
        if (ok)
            return base;
    }
    return -1;
}

static void test_two_processes_register_and_status(void)
{
    struct launch_gw g = {0};
    /* Two consecutive free internal ports are needed: try a few bases. */
    int ok = -1;
    for (int tries = 0; tries < 5 && ok < 0; tries++) {
        int base = free_pair();
        if (base < 0)
            continue;
        g = (struct launch_gw){.lan_port = base}; /* a fresh client port too: it may be the one that was taken */
        ok = gw_start(&g, "two", "--count=2", NULL);
    }
    CU_ASSERT_FATAL(ok == 0);
    /* Both processes register their own internal address. */
    int w = tu_connect(reg_port, 2000);
    const char *hello = "{\"event\":\"worker_connect\",\"secret_key\":\"" KEY "\"}\n";
    char want1[128], want2[128], line[512];
    snprintf(want1, sizeof want1, "\"127.0.0.1:%d\"", g.lan_port);
    snprintf(want2, sizeof want2, "\"127.0.0.1:%d\"", g.lan_port + 1);
    int seen = 0;
    for (int i = 0; i < 20 && seen != 3; i++) {
        tu_write_all(w, hello, strlen(hello));
        if (tu_read_line(w, line, sizeof line, 2000) > 0)
            seen = (strstr(line, want1) ? 1 : 0) | (strstr(line, want2) ? 2 : 0);
        if (seen != 3)
            usleep(100000);
    }
    CU_ASSERT_EQUAL(seen, 3);
    tu_close(w);
    /* status lists both processes. */
    char cmd[512], out[4096];
    char *bin = tu_bin_path("gateway");
    snprintf(cmd, sizeof cmd, "%s --pidFile=%s status 2>&1", bin, g.p.pidfile);
    free(bin);
    FILE *p = popen(cmd, "r");
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    CU_ASSERT_EQUAL(pclose(p), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "process 0"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "process 1"));
    gw_stop(&g);
}

static void test_web_root_and_health(void)
{
    char root[128], path[160];
    snprintf(root, sizeof root, "%s/www", dir);
    mkdir(root, 0755);
    snprintf(path, sizeof path, "%s/index.html", root);
    FILE *f = fopen(path, "w");
    fputs("<html><body>lucky draw</body></html>\n", f);
    fclose(f);
    struct launch_gw g = {0};
    char opt[200];
    snprintf(opt, sizeof opt, "--webRoot=%s", root);
    CU_ASSERT_FATAL(gw_start(&g, "web", opt, NULL) == 0);
    char out[8192];
    CU_ASSERT(tu_http_get(g.ws_port, "/", out, sizeof out) > 0);
    CU_ASSERT(strncmp(out, "HTTP/1.1 200", 12) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "lucky draw"));
    CU_ASSERT(tu_http_get(g.ws_port, "/health", out, sizeof out) > 0);
    CU_ASSERT(strncmp(out, "HTTP/1.1 200", 12) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"status\":\"ok\""));
    CU_ASSERT(tu_http_get(g.ws_port, "/nope.html", out, sizeof out) > 0);
    CU_ASSERT(strncmp(out, "HTTP/1.1 404", 12) == 0);
    /* The WebSocket upgrade on the same port and path still works. */
    int c = wsc_connect(g.ws_port, "/", NULL, 3000);
    CU_ASSERT(c >= 0);
    tu_close(c);
    gw_stop(&g);
}

static void test_subprotocols(void)
{
    struct launch_gw g = {0};
    CU_ASSERT_FATAL(gw_start(&g, "subp", "--subprotocols=lottery.v1,chat", NULL) == 0);
    int c = wsc_connect(g.ws_port, "/", "Sec-WebSocket-Protocol: chat\r\n", 3000);
    CU_ASSERT(c >= 0);
    tu_close(c);
    c = wsc_connect(g.ws_port, "/", "Sec-WebSocket-Protocol: other, lottery.v1\r\n", 3000);
    CU_ASSERT(c >= 0);
    tu_close(c);
    c = wsc_connect(g.ws_port, "/", NULL, 3000);
    CU_ASSERT(c >= 0);
    tu_close(c);
    gw_stop(&g);
}

/* The string at [sec][key] of the last ON_WEBSOCKET_CONNECT body, into out
 * ("" when absent or not a string). */
static void body_str(const struct fakebw *bw, const char *sec, const char *key, char *out, size_t cap)
{
    msgpack_zone z;
    msgpack_zone_init(&z, 4096);
    msgpack_object v;
    char err[128];
    out[0] = 0;
    if (phpser_decode(bw->last.body, bw->last.body_len, &z, &v, NULL, err, sizeof err) == 0 && v.type == MSGPACK_OBJECT_MAP)
        for (uint32_t i = 0; i < v.via.map.size; i++) {
            msgpack_object *k = &v.via.map.ptr[i].key, *val = &v.via.map.ptr[i].val;
            if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(sec) &&
                memcmp(k->via.str.ptr, sec, strlen(sec)) == 0 && val->type == MSGPACK_OBJECT_MAP)
                for (uint32_t j = 0; j < val->via.map.size; j++) {
                    msgpack_object *k2 = &val->via.map.ptr[j].key, *v2 = &val->via.map.ptr[j].val;
                    if (k2->type == MSGPACK_OBJECT_STR && k2->via.str.size == strlen(key) &&
                        memcmp(k2->via.str.ptr, key, strlen(key)) == 0 && v2->type == MSGPACK_OBJECT_STR)
                        snprintf(out, cap, "%.*s", (int)v2->via.str.size, v2->via.str.ptr);
                }
        }
    msgpack_zone_destroy(&z);
}

/* A throwaway certificate and key in dir, named after tag (EC P-256, or
 * RSA 2048 when rsa), given as the gateway's options: --ssl_cert=... in
 * ocert, --ssl_key=... in okey (each of 200 bytes). */
static void make_cert(const char *tag, int rsa, char *ocert, char *okey)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey %s -nodes -subj /CN=localhost -days 1 -keyout %s/%s-key.pem "
             "-out %s/%s-cert.pem >/dev/null 2>&1",
             rsa ? "rsa:2048" : "ec -pkeyopt ec_paramgen_curve:prime256v1", dir, tag, dir, tag);
    CU_ASSERT_FATAL(system(cmd) == 0);
    snprintf(ocert, 200, "--ssl_cert=%s/%s-cert.pem", dir, tag);
    snprintf(okey, 200, "--ssl_key=%s/%s-key.pem", dir, tag);
}

/* A wss client by hand: TLS from OpenSSL, then the same handshake and frames. */
static void test_wss(void)
{
    struct launch_gw g = {0};
    char o1[200], o2[200];
    make_cert("rsa", 1, o1, o2);
    CU_ASSERT_FATAL(gw_start(&g, "wss", o1, o2, NULL) == 0);
    struct fakebw bw;
    CU_ASSERT_FATAL(fakebw_worker(&bw, g.lan_port, "Tls:0", KEY) == 0);
    CU_ASSERT_FATAL(tu_file_contains(g.p.log, "business worker", 3000));

    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    int fd = tu_connect(g.ws_port, 2000);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    CU_ASSERT_FATAL(SSL_connect(ssl) == 1);
    const char *req = "GET /?tls=1&name=%E5%BC%A0%E4%B8%89&x=a%2Bb HTTP/1.1\r\nHost: localhost\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                      "User-Agent: probe/1.0\r\nX-Party-Table: 7\r\nCookie: a=1; theme=dark\r\n\r\n";
    SSL_write(ssl, req, (int)strlen(req));
    char resp[1024];
    int n = 0;
    while (n < (int)sizeof resp - 1) {
        int r = SSL_read(ssl, resp + n, 1);
        if (r <= 0)
            break;
        n += r;
        resp[n] = 0;
        if (n >= 4 && memcmp(resp + n - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    CU_ASSERT(strncmp(resp, "HTTP/1.1 101", 12) == 0);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_CONNECT, 3000) == 0);
    uint32_t id = bw.last.hdr.connection_id;
    /* Built from the decrypted raw head, as over ws://: the query string
     * as sent (lws keeps it decoded) and every header, also those lws has
     * no token for. */
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_WEBSOCKET_CONNECT, 3000) == 0);
    char v[128];
    body_str(&bw, "get", "tls", v, sizeof v);
    CU_ASSERT_STRING_EQUAL(v, "1");
    body_str(&bw, "get", "name", v, sizeof v);
    CU_ASSERT_STRING_EQUAL(v, "张三");
    body_str(&bw, "get", "x", v, sizeof v);
    CU_ASSERT_STRING_EQUAL(v, "a+b");
    body_str(&bw, "server", "REQUEST_URI", v, sizeof v);
    CU_ASSERT_STRING_EQUAL(v, "/?tls=1&name=%E5%BC%A0%E4%B8%89&x=a%2Bb");
    body_str(&bw, "server", "QUERY_STRING", v, sizeof v);
    CU_ASSERT_STRING_EQUAL(v, "tls=1&name=%E5%BC%A0%E4%B8%89&x=a%2Bb");
    body_str(&bw, "server", "HTTP_X_PARTY_TABLE", v, sizeof v);
    CU_ASSERT_STRING_EQUAL(v, "7");
    body_str(&bw, "server", "SERVER_NAME", v, sizeof v);
    CU_ASSERT_STRING_EQUAL(v, "localhost");
    body_str(&bw, "server", "HTTP_USER_AGENT", v, sizeof v);
    CU_ASSERT_STRING_EQUAL(v, "probe/1.0");
    body_str(&bw, "cookie", "a", v, sizeof v);
    CU_ASSERT_STRING_EQUAL(v, "1");
    body_str(&bw, "cookie", "theme", v, sizeof v);
    CU_ASSERT_STRING_EQUAL(v, "dark");
    /* "hi" masked with 0x01020304 */
    uint8_t frame[] = {0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2};
    SSL_write(ssl, frame, sizeof frame);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_MESSAGE, 3000) == 0);
    CU_ASSERT(bw.last.body_len == 2 && memcmp(bw.last.body, "hi", 2) == 0);
    fakebw_cmd(&bw, GWP_CMD_SEND_TO_ONE, id, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, "secure", 6);
    uint8_t back[8] = {0};
    int got = 0;
    while (got < 8) {
        int r = SSL_read(ssl, back + got, 8 - got);
        if (r <= 0)
            break;
        got += r;
    }
    CU_ASSERT(got == 8 && back[0] == 0x81 && back[1] == 6 && memcmp(back + 2, "secure", 6) == 0);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    tu_close(fd);
    fakebw_close(&bw);
    gw_stop(&g);
}

/* Reads over TLS until the end of the connection (blocking); what came, NUL-terminated. */
static size_t ssl_read_all(SSL *ssl, char *out, size_t cap)
{
    size_t n = 0;
    int r;
    while (n + 1 < cap && (r = SSL_read(ssl, out + n, (int)(cap - 1 - n))) > 0)
        n += (size_t)r;
    out[n] = 0;
    return n;
}

/* wss behind a balancer's PROXY header: the gateway's own checks work on the
 * decrypted stream (wsguard on SSL_read): a bad handshake is answered 400
 * over TLS and logged with the PROXY header's address; an unmasked frame
 * after a good one is failed with 1002. */
static void test_wss_guard_behind_proxy(void)
{
    struct launch_gw g = {0};
    char o1[200], o2[200];
    make_cert("px", 0, o1, o2);
    CU_ASSERT_FATAL(gw_start(&g, "wsspx", o1, o2, "--proxyProtocol=on", NULL) == 0);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    const char *px = "PROXY TCP4 203.0.113.77 10.0.0.5 51234 443\r\n";
    const char *up = "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
    char req[512], resp[1024];

    /* blocking reads, but a gateway that never answers fails the test, not hangs it */
    struct timeval tv = {5, 0};
    int fd = tu_connect(g.ws_port, 2000);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    tu_write_all(fd, px, strlen(px));
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    CU_ASSERT_FATAL(SSL_connect(ssl) == 1);
    snprintf(req, sizeof req, "%sSec-WebSocket-Version: 13\r\n\r\n", up);
    SSL_write(ssl, req, (int)strlen(req));
    ssl_read_all(ssl, resp, sizeof resp); /* the answer, then the end of the connection */
    CU_ASSERT(strncmp(resp, "HTTP/1.1 400 ", 13) == 0);
    CU_ASSERT(tu_file_contains(g.p.log, "client 203.0.113.77: bad WebSocket handshake (no Sec-WebSocket-Key); "
                                        "answered 400", 3000));
    SSL_free(ssl);
    tu_close(fd);

    fd = tu_connect(g.ws_port, 2000);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    tu_write_all(fd, px, strlen(px));
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    CU_ASSERT_FATAL(SSL_connect(ssl) == 1);
    snprintf(req, sizeof req, "%sSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", up);
    SSL_write(ssl, req, (int)strlen(req));
    int n = 0;
    while (n < (int)sizeof resp - 1 && SSL_read(ssl, resp + n, 1) == 1) {
        resp[++n] = 0;
        if (n >= 4 && memcmp(resp + n - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    CU_ASSERT_FATAL(strncmp(resp, "HTTP/1.1 101", 12) == 0);
    const uint8_t unmasked[] = {0x81, 0x02, 'h', 'i'};
    SSL_write(ssl, unmasked, sizeof unmasked);
    uint8_t close[4] = {0};
    n = 0;
    while (n < 4) {
        int r = SSL_read(ssl, close + n, 4 - n);
        if (r <= 0)
            break;
        n += r;
    }
    CU_ASSERT(n == 4 && close[0] == 0x88 && close[1] >= 2 && (close[2] << 8 | close[3]) == 1002); /* code, then the reason */
    CU_ASSERT(tu_file_contains(g.p.log, "unmasked frame; closing with 1002", 3000));
    SSL_free(ssl);
    tu_close(fd);
    SSL_CTX_free(ctx);
    gw_stop(&g);
}

/* One wss handshake up to the 101 answer on a real OpenSSL client, offering
 * `resume` when not NULL. Returns SSL_session_reused (0/1), -1 on failure;
 * *out gets the session (its ticket came with the 101) for the next one. */
static int wss_handshake(int port, SSL_CTX *ctx, SSL_SESSION *resume, SSL_SESSION **out)
{
    int fd = tu_connect(port, 2000);
    if (fd < 0)
        return -1;
    struct timeval tv = {10, 0}; /* a gateway that never answers fails the handshake, not the run */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (resume)
        SSL_set_session(ssl, resume);
    int rc = -1;
    if (SSL_connect(ssl) == 1) {
        const char *req = "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        SSL_write(ssl, req, (int)strlen(req));
        char resp[1024];
        int n = 0;
        while (n < (int)sizeof resp - 1) {
            int r = SSL_read(ssl, resp + n, (int)sizeof resp - 1 - n);
            if (r <= 0)
                break;
            n += r;
            resp[n] = 0;
            if (strstr(resp, "\r\n\r\n"))
                break;
        }
        if (n >= 12 && strncmp(resp, "HTTP/1.1 101", 12) == 0)
            rc = SSL_session_reused(ssl);
        if (out)
            *out = SSL_get1_session(ssl);
        SSL_shutdown(ssl); /* an SSL freed without close_notify marks its session not resumable */
    }
    SSL_free(ssl);
    tu_close(fd);
    return rc;
}

static void write_key_file(const char *path, size_t n)
{
    uint8_t k[100];
    CU_ASSERT_FATAL(n <= sizeof k && RAND_bytes(k, (int)n) == 1);
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_FATAL(fwrite(k, 1, n, f) == n);
    fclose(f);
}

/* ssl_ticket_key: a TLS 1.3 session from one gateway resumes on another that
 * reads the same key file (also as its second, decrypt-only key: rotation),
 * and not on one with a different key; a malformed key file stops the start. */
static void test_wss_resumes_across_gateways(void)
{
    char k1[160], k2[160], bad[160], cmd[1400];
    snprintf(k1, sizeof k1, "%s/ticket1.key", dir);
    snprintf(k2, sizeof k2, "%s/ticket2.key", dir);
    snprintf(bad, sizeof bad, "%s/ticket-short.key", dir);
    write_key_file(k1, 80);
    write_key_file(k2, 80);
    write_key_file(bad, 48);
    char oc[200], ok[200], t1[200], t2[200], t21[400];
    make_cert("ec", 0, oc, ok);
    snprintf(t1, sizeof t1, "--ssl_ticket_key=%s", k1);
    snprintf(t2, sizeof t2, "--ssl_ticket_key=%s", k2);
    snprintf(t21, sizeof t21, "--ssl_ticket_key=%s,%s", k2, k1);
    /* No fatal assertion while gateways run: each one is stopped at the end. */
    struct launch_gw a = {0}, b = {0}, other = {0}, rotated = {0};
    int up = gw_start(&a, "tls-a", oc, ok, t1, NULL) == 0;
    up = gw_start(&b, "tls-b", oc, ok, t1, NULL) == 0 && up;
    up = gw_start(&other, "tls-other", oc, ok, t2, NULL) == 0 && up;
    up = gw_start(&rotated, "tls-rotated", oc, ok, t21, NULL) == 0 && up;
    CU_ASSERT(up);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_SESSION *s = NULL;
    int first = up ? wss_handshake(a.ws_port, ctx, NULL, &s) : -1;
    CU_ASSERT(first == 0); /* a full handshake */
    CU_ASSERT(s != NULL && SSL_SESSION_is_resumable(s));
    if (first == 0 && s) {
        CU_ASSERT(wss_handshake(b.ws_port, ctx, s, NULL) == 1);
        CU_ASSERT(wss_handshake(a.ws_port, ctx, s, NULL) == 1);
        CU_ASSERT(wss_handshake(rotated.ws_port, ctx, s, NULL) == 1);
        CU_ASSERT(wss_handshake(other.ws_port, ctx, s, NULL) == 0); /* unknown key: a full handshake, still served */
    }
    SSL_SESSION_free(s);
    SSL_CTX_free(ctx);
    struct launch_gw *all[] = {&a, &b, &other, &rotated};
    for (int i = 0; i < 4; i++)
        if (all[i]->p.pid > 0)
            gw_stop(all[i]);

    char out[200];
    snprintf(out, sizeof out, "%s/tls-bad.out", dir);
    char *bin = tu_bin_path("gateway");
    snprintf(cmd, sizeof cmd,
             "%s --listen=websocket://127.0.0.1:%d --startPort=%d --registerAddress=127.0.0.1:%d "
             "--pidFile=%s/tls-bad.pid %s %s --ssl_ticket_key=%s start >%s 2>&1",
             bin, tu_free_port(), tu_free_port(), reg_port, dir, oc, ok, bad, out);
    free(bin);
    int st = system(cmd);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) != 0);
    CU_ASSERT(tu_file_contains(out, "exactly 80 random bytes", 1000));
}

/* GET path over TLS on port (one request, Connection: close): the answer,
 * NUL-terminated, into out; its length, or -1. */
static int wss_http_get(int port, const char *path, char *out, size_t cap)
{
    int fd = tu_connect(port, 2000);
    if (fd < 0)
        return -1;
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    int n = -1;
    if (SSL_connect(ssl) == 1) {
        char req[256];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);
        SSL_write(ssl, req, (int)strlen(req));
        n = (int)ssl_read_all(ssl, out, cap);
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    tu_close(fd);
    return n;
}

/* maxTlsHandshakes: with 2 allowed, two clients that connect and stall hold
 * the gate for 1 s at most (not until lws's own timeout), and 16 clients
 * handshaking at once are all served while the rest wait in the accept
 * queue; /metrics counts the pauses. */
static void test_wss_handshake_gate(void)
{
    char oc[200], ok[200];
    make_cert("gate", 0, oc, ok);
    struct launch_gw g = {0};
    CU_ASSERT_FATAL(gw_start(&g, "gate", oc, ok, "--maxTlsHandshakes=2", NULL) == 0);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    /* two that never send a ClientHello: both counted once accepted */
    int stall1 = tu_connect(g.ws_port, 2000), stall2 = tu_connect(g.ws_port, 2000);
    CU_ASSERT(stall1 >= 0 && stall2 >= 0);
    CU_ASSERT(wss_handshake(g.ws_port, ctx, NULL, NULL) == 0); /* within its 10 s: they stopped counting */
    enum { N = 16 };
    pid_t kids[N];
    for (int i = 0; i < N; i++) {
        kids[i] = fork();
        if (kids[i] == 0)
            _exit(wss_handshake(g.ws_port, ctx, NULL, NULL) == 0 ? 0 : 1);
    }
    int served = 0;
    for (int i = 0; i < N; i++) {
        int st;
        if (kids[i] > 0 && waitpid(kids[i], &st, 0) == kids[i] && WIFEXITED(st) && WEXITSTATUS(st) == 0)
            served++;
    }
    CU_ASSERT_EQUAL(served, N);
    char m[16384];
    CU_ASSERT(wss_http_get(g.ws_port, "/metrics", m, sizeof m) > 0);
    const char *p = strstr(m, "gateway_tls_accept_pauses_total{process=\"0\"} ");
    CU_ASSERT(p && strtoll(p + strlen("gateway_tls_accept_pauses_total{process=\"0\"} "), NULL, 10) >= 1);
    SSL_CTX_free(ctx);
    tu_close(stall1);
    tu_close(stall2);
    gw_stop(&g);
}

/* REMOTE_ADDR of the last ON_WEBSOCKET_CONNECT body, into out. */
static void remote_addr_of(const struct fakebw *bw, char *out, size_t cap)
{
    body_str(bw, "server", "REMOTE_ADDR", out, cap);
}

static const char *WS_REQ = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

static void test_proxy_protocol(void)
{
    struct launch_gw g = {0};
    CU_ASSERT_FATAL(gw_start(&g, "proxy", "--proxyProtocol=on", NULL) == 0);
    struct fakebw bw;
    CU_ASSERT_FATAL(fakebw_worker(&bw, g.lan_port, "Pp:0", KEY) == 0);
    CU_ASSERT_FATAL(tu_file_contains(g.p.log, "business worker", 3000));
    char line[512], addr[64];

    /* v1, header and handshake in one write. */
    int fd = tu_connect(g.ws_port, 2000);
    char req[1024];
    snprintf(req, sizeof req, "PROXY TCP4 203.0.113.45 10.0.0.5 51234 1240\r\n%s\r\n", WS_REQ);
    tu_write_all(fd, req, strlen(req));
    CU_ASSERT(tu_read_line(fd, line, sizeof line, 3000) > 0 && strncmp(line, "HTTP/1.1 101", 12) == 0);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_CONNECT, 3000) == 0);
    CU_ASSERT_EQUAL(bw.last.hdr.client_ip, 0xcb00712d);
    CU_ASSERT_EQUAL(bw.last.hdr.client_port, 51234);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_WEBSOCKET_CONNECT, 3000) == 0);
    remote_addr_of(&bw, addr, sizeof addr);
    CU_ASSERT_STRING_EQUAL(addr, "203.0.113.45");
    tu_close(fd);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_CLOSE, 3000) == 0);

    /* v2 LOCAL (the balancer's own health check), then GET /health. */
    fd = tu_connect(g.ws_port, 2000);
    uint8_t v2[16] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20, 0x00, 0x00, 0x00};
    tu_write_all(fd, v2, sizeof v2);
    const char *h = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    tu_write_all(fd, h, strlen(h));
    CU_ASSERT(tu_read_line(fd, line, sizeof line, 3000) > 0 && strncmp(line, "HTTP/1.1 200", 12) == 0);
    tu_close(fd);

    /* v1 then a plain HTTP request: the attached address must not outlive it. */
    fd = tu_connect(g.ws_port, 2000);
    snprintf(req, sizeof req, "PROXY TCP4 203.0.113.46 10.0.0.5 40000 1240\r\n%s", h);
    tu_write_all(fd, req, strlen(req));
    CU_ASSERT(tu_read_line(fd, line, sizeof line, 3000) > 0 && strncmp(line, "HTTP/1.1 200", 12) == 0);
    tu_close(fd);

    /* No header at all: refused with a log line, and no business event. */
    fd = tu_connect(g.ws_port, 2000);
    snprintf(req, sizeof req, "%s\r\n", WS_REQ);
    tu_write_all(fd, req, strlen(req));
    CU_ASSERT_EQUAL(tu_wait_eof(fd, 3000), 1);
    tu_close(fd);
    CU_ASSERT(tu_file_contains(g.p.log, "bad PROXY protocol header", 2000));
    CU_ASSERT_EQUAL(fakebw_next(&bw, 300), -1);
    fakebw_close(&bw);
    gw_stop(&g);
}

/* /ws-check: the page, and a WebSocket the gateway answers itself (no
 * business event, with PROXY v2 the client address it names comes from the
 * header); /metrics: Prometheus text for metricsAllow, 403 for others; the
 * status lines count the messages. */
static void test_ws_check_and_metrics(void)
{
    struct launch_gw g = {0};
    CU_ASSERT_FATAL(gw_start(&g, "wscheck", "--proxyProtocol=on", NULL) == 0);
    struct fakebw bw;
    CU_ASSERT_FATAL(fakebw_worker(&bw, g.lan_port, "Wc:0", KEY) == 0);
    CU_ASSERT_FATAL(tu_file_contains(g.p.log, "business worker", 3000));
    uint8_t v2local[16] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20, 0x00, 0x00, 0x00};

    /* The page, behind a PROXY v2 LOCAL header (the balancer's own probe). */
    int fd = tu_connect(g.ws_port, 2000);
    tu_write_all(fd, v2local, sizeof v2local);
    const char *get = "GET /ws-check HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    tu_write_all(fd, get, strlen(get));
    char page[8192] = "";
    size_t got = 0;
    long long end = tu_now_ms() + 3000;
    while (got + 1 < sizeof page && !strstr(page, "</html>") && tu_now_ms() < end) {
        ssize_t r = read(fd, page + got, sizeof page - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        page[got] = 0;
    }
    tu_close(fd);
    CU_ASSERT(strncmp(page, "HTTP/1.1 200", 12) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(page, "new WebSocket("));
    CU_ASSERT_PTR_NOT_NULL(strstr(page, "/ws-check"));

    /* The WebSocket, from 198.51.100.7:4242 as the PROXY v2 header says. */
    uint8_t v2[28] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c,
                      198,  51,   100,  7,    10,   0,    0,    5,    0x10, 0x92, 0x04, 0xd8};
    fd = tu_connect(g.ws_port, 2000);
    tu_write_all(fd, v2, sizeof v2);
    const char *up = "GET /ws-check HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    tu_write_all(fd, up, strlen(up));
    char line[512];
    CU_ASSERT_FATAL(tu_read_line(fd, line, sizeof line, 3000) > 0 && strncmp(line, "HTTP/1.1 101", 12) == 0);
    while (tu_read_line(fd, line, sizeof line, 3000) > 2)
        ; /* the rest of the head */
    for (int seq = 0; seq < 3; seq++) {
        char msg[32];
        snprintf(msg, sizeof msg, "{\"seq\":%d}", seq);
        CU_ASSERT_FATAL(wsc_send(fd, WSC_TEXT, msg, strlen(msg)) == 0);
        uint8_t *in = NULL;
        int op = 0;
        ssize_t n = wsc_recv(fd, &in, &op, 3000);
        CU_ASSERT_FATAL(n > 0 && op == WSC_TEXT);
        json_t *a = json_loads((const char *)in, 0, NULL);
        char want_gw[64];
        snprintf(want_gw, sizeof want_gw, "127.0.0.1:%d", g.lan_port);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(a, "type")), "ws-check");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(a, "gateway")), want_gw);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(a, "client")), "198.51.100.7:4242");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(a, "via")), "PROXY protocol");
        CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_object_get(a, "peer")), "127.0.0.1:"));
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(a, "seq")), seq);
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(a, "process")), 0);
        json_decref(a);
        free(in);
    }
    tu_close(fd);
    /* None of it reached the business worker: no connect, message or close. */
    CU_ASSERT(fakebw_next(&bw, 500) < 0);

    /* /metrics from 127.0.0.1 (allowed by default), behind a LOCAL header. */
    fd = tu_connect(g.ws_port, 2000);
    tu_write_all(fd, v2local, sizeof v2local);
    const char *gm = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    tu_write_all(fd, gm, strlen(gm));
    char out[8192] = "";
    got = 0;
    end = tu_now_ms() + 3000;
    while (got + 1 < sizeof out && !strstr(out, "gateway_clients_waiting_to_write{") && tu_now_ms() < end) {
        ssize_t r = read(fd, out + got, sizeof out - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        out[got] = 0;
    }
    tu_close(fd);
    CU_ASSERT(strncmp(out, "HTTP/1.1 200", 12) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "# TYPE gateway_messages_in_total counter"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "gateway_messages_in_total{process=\"0\"} 3\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "gateway_messages_out_total{process=\"0\"} 3\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "gateway_business_workers{process=\"0\"} 1\n"));
    gw_stop(&g);

    /* Not in metricsAllow: 403, logged; and wsCheck=off: no page. */
    struct launch_gw g2 = {0};
    CU_ASSERT_FATAL(gw_start(&g2, "nometrics", "--metricsAllow=10.9.9.9", "--wsCheck=off", NULL) == 0);
    CU_ASSERT(tu_http_get(g2.ws_port, "/metrics", out, sizeof out) > 0);
    CU_ASSERT(strncmp(out, "HTTP/1.1 403", 12) == 0);
    CU_ASSERT(tu_file_contains(g2.p.log, "GET /metrics from 127.0.0.1 refused", 3000));
    CU_ASSERT(tu_http_get(g2.ws_port, "/ws-check", out, sizeof out) > 0);
    CU_ASSERT(strncmp(out, "HTTP/1.1 404", 12) == 0);
    gw_stop(&g2);
}

static void test_forwarded_for_from_trusted_proxy(void)
{
    struct launch_gw g = {0};
    CU_ASSERT_FATAL(gw_start(&g, "xff", "--trustedProxies=127.0.0.0/8", NULL) == 0);
    struct fakebw bw;
    CU_ASSERT_FATAL(fakebw_worker(&bw, g.lan_port, "Xff:0", KEY) == 0);
    CU_ASSERT_FATAL(tu_file_contains(g.p.log, "business worker", 3000));
    char addr[64];
    /* The client's own claim (left) is not believed past the first untrusted hop. */
    int c = wsc_connect(g.ws_port, "/", "X-Forwarded-For: 6.6.6.6, 198.51.100.7\r\n", 3000);
    CU_ASSERT_FATAL(c >= 0);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_CONNECT, 3000) == 0);
    CU_ASSERT_EQUAL(bw.last.hdr.client_ip, 0xc6336407);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_WEBSOCKET_CONNECT, 3000) == 0);
    remote_addr_of(&bw, addr, sizeof addr);
    CU_ASSERT_STRING_EQUAL(addr, "198.51.100.7");
    tu_close(c);
    fakebw_close(&bw);
    gw_stop(&g);

    /* The same header from a peer that is not a trusted proxy is ignored. */
    g = (struct launch_gw){0}; /* fresh ports: launch_gw_init keeps those already set */
    CU_ASSERT_FATAL(gw_start(&g, "xff2", "--trustedProxies=10.0.0.0/8", NULL) == 0);
    CU_ASSERT_FATAL(fakebw_worker(&bw, g.lan_port, "Xff:0", KEY) == 0);
    CU_ASSERT_FATAL(tu_file_contains(g.p.log, "business worker", 3000));
    c = wsc_connect(g.ws_port, "/", "X-Forwarded-For: 198.51.100.7\r\n", 3000);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_CONNECT, 3000) == 0);
    CU_ASSERT_EQUAL(bw.last.hdr.client_ip, 0x7f000001);
    tu_close(c);
    fakebw_close(&bw);
    gw_stop(&g);
}

static void test_text_protocol(void)
{
    struct launch_gw g = {0};
    char opt[100];
    int port = tu_free_port();
    snprintf(opt, sizeof opt, "--listen=text://127.0.0.1:%d", port);
    CU_ASSERT_FATAL(gw_start(&g, "text", opt, NULL) == 0);
    g.ws_port = port;
    struct fakebw bw;
    CU_ASSERT_FATAL(fakebw_worker(&bw, g.lan_port, "Txt:0", KEY) == 0);
    CU_ASSERT_FATAL(tu_file_contains(g.p.log, "business worker", 3000));
    int c = tu_connect(port, 2000);
    CU_ASSERT_FATAL(c >= 0);
    /* No handshake: ON_CONNECT at once, no ON_WEBSOCKET_CONNECT. */
    CU_ASSERT_FATAL(fakebw_next(&bw, 3000) == 0);
    CU_ASSERT_EQUAL(bw.last.hdr.cmd, GWP_CMD_ON_CONNECT);
    uint32_t id = bw.last.hdr.connection_id;
    tu_write_all(c, "hello\r\nwor", 10);
    usleep(50000);
    tu_write_all(c, "ld\n", 3);
    CU_ASSERT_FATAL(fakebw_next(&bw, 3000) == 0);
    CU_ASSERT(bw.last.hdr.cmd == GWP_CMD_ON_MESSAGE && bw.last.body_len == 5 && memcmp(bw.last.body, "hello", 5) == 0);
    CU_ASSERT_FATAL(fakebw_next(&bw, 3000) == 0);
    CU_ASSERT(bw.last.hdr.cmd == GWP_CMD_ON_MESSAGE && bw.last.body_len == 5 && memcmp(bw.last.body, "world", 5) == 0);
    fakebw_cmd(&bw, GWP_CMD_SEND_TO_ONE, id, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, "hi", 2);
    char line[128];
    CU_ASSERT(tu_read_line(c, line, sizeof line, 3000) > 0);
    CU_ASSERT_STRING_EQUAL(line, "hi\n");
    fakebw_cmd(&bw, GWP_CMD_KICK, id, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, "bye", 3);
    CU_ASSERT(tu_read_line(c, line, sizeof line, 3000) > 0);
    CU_ASSERT_STRING_EQUAL(line, "bye\n");
    CU_ASSERT_EQUAL(tu_read_line(c, line, sizeof line, 3000), 0);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_CLOSE, 3000) == 0);
    tu_close(c);
    fakebw_close(&bw);
    gw_stop(&g);
}

/* The golden handshake from a real phone, through a real gateway behind a
 * PROXY-speaking balancer: ON_WEBSOCKET_CONNECT must be the bytes PHP
 * produced (only SERVER_PORT, the port we listen on, differs). */
static void test_websocket_connect_body_is_phps(void)
{
    json_t *vec = tu_fixture_case("on_websocket_connect");
    CU_ASSERT_FATAL(vec != NULL);
    const char *req = json_string_value(json_object_get(vec, "handshake_request"));
    json_t *bs = json_object_get(json_object_get(vec, "fields"), "body_serialized");
    CU_ASSERT_FATAL(req && bs);
    struct launch_gw g = {0};
    CU_ASSERT_FATAL(gw_start(&g, "golden", "--proxyProtocol=on", NULL) == 0);
    struct fakebw bw;
    CU_ASSERT_FATAL(fakebw_worker(&bw, g.lan_port, "Gold:0", KEY) == 0);
    CU_ASSERT_FATAL(tu_file_contains(g.p.log, "business worker", 3000));
    int fd = tu_connect(g.ws_port, 2000);
    char pp[128];
    snprintf(pp, sizeof pp, "PROXY TCP4 203.0.113.45 10.0.0.5 51234 %d\r\n", g.ws_port);
    tu_write_all(fd, pp, strlen(pp));
    tu_write_all(fd, req, strlen(req));
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_WEBSOCKET_CONNECT, 3000) == 0);
    /* Expected: PHP's body with our listening port. */
    const char *php = json_string_value(bs);
    const char *sp = strstr(php, "s:11:\"SERVER_PORT\";i:1240;");
    CU_ASSERT_FATAL(sp != NULL);
    struct buf want = BUF_INIT;
    buf_append(&want, php, (size_t)(sp - php));
    buf_printf(&want, "s:11:\"SERVER_PORT\";i:%d;", g.ws_port);
    buf_append_str(&want, sp + strlen("s:11:\"SERVER_PORT\";i:1240;"));
    CU_ASSERT_EQUAL(bw.last.body_len, buf_avail(&want));
    CU_ASSERT(bw.last.body_len == buf_avail(&want) && memcmp(bw.last.body, buf_head(&want), buf_avail(&want)) == 0);
    if (bw.last.body_len != buf_avail(&want) || memcmp(bw.last.body, buf_head(&want), buf_avail(&want)) != 0)
        fprintf(stderr, "\n  want %.*s\n  got  %.*s\n", (int)buf_avail(&want), (const char *)buf_head(&want),
                (int)bw.last.body_len, (const char *)bw.last.body);
    buf_free(&want);
    tu_close(fd);
    fakebw_close(&bw);
    gw_stop(&g);
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("gateway_ops", suite_init, suite_clean);
    CU_add_test(s, "heartbeat: probe, answer, drop the silent", test_heartbeat);
    CU_add_test(s, "events held until a worker connects, in order", test_events_held_until_a_worker_connects);
    CU_add_test(s, "held events expire after pendingTimeout", test_held_events_expire);
    CU_add_test(s, "slow consumer closed at sendToClientBufferSize", test_slow_consumer_closed);
    CU_add_test(s, "count=2: both register, status lists both", test_two_processes_register_and_status);
    CU_add_test(s, "webRoot files and /health on the client port", test_web_root_and_health);
    CU_add_test(s, "configured subprotocols accepted", test_subprotocols);
    CU_add_test(s, "wss with ssl_cert/ssl_key", test_wss);
    CU_add_test(s, "wss: maxTlsHandshakes queues handshakes, stalled clients hold it 1 s at most", test_wss_handshake_gate);
    CU_add_test(s, "wss: TLS sessions resume across gateways sharing ssl_ticket_key", test_wss_resumes_across_gateways);
    CU_add_test(s, "wss behind a PROXY header: bad handshake 400 over TLS, unmasked frame 1002", test_wss_guard_behind_proxy);
    CU_add_test(s, "PROXY protocol v1/v2 gives the client address", test_proxy_protocol);
    CU_add_test(s, "X-Forwarded-For only from trusted proxies", test_forwarded_for_from_trusted_proxy);
    CU_add_test(s, "/ws-check answered by the gateway itself; /metrics for metricsAllow only",
                test_ws_check_and_metrics);
    CU_add_test(s, "text:// clients: lines in, lines out", test_text_protocol);
    CU_add_test(s, "ON_WEBSOCKET_CONNECT is byte for byte PHP's (golden handshake)", test_websocket_connect_body_is_phps);
    return tu_run("test_gateway_ops");
}
