/* The bad-input matrix, non-WebSocket rows (issue 10), against the real
 * binaries on loopback: the gateway's internal port, the register, and the
 * empty-secret-on-a-network refusal. Every case checks the answer (a log
 * line, a close, an error reply or an exit status) and then that a good
 * client and a good worker are still served; where a case could make memory
 * grow, the process' RSS before and after is printed and bounded. */
#include <CUnit/Basic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fakebw.h"
#include "gwp.h"
#include "launch.h"
#include "tu.h"
#include "wsc.h"

#define KEY "badinput-key"
#define T 5000

static char dir[64];
static int reg_port;
static struct launch reg;

static int suite_init(void)
{
    if (launch_tmpdir("badinput", dir, sizeof dir) < 0)
        return -1;
    reg_port = tu_free_port();
    launch_register(&reg, dir, reg_port, KEY);
    launch_set(&reg, "--authTimeout=1");
    return launch_start(&reg, reg_port, NULL, T);
}

static int suite_clean(void)
{
    int rc = launch_stop(&reg, T);
    launch_free(&reg);
    return rc;
}

static int gw_start(struct launch_gw *g, const char *name) { return launch_gw_start(g, dir, name, reg_port, KEY, T); }

static void gw_stop(struct launch_gw *g) { CU_ASSERT(launch_gw_stop(g, T) == 0); }

/* ---- "everyone else is still served" ---- */

/* A worker and a client on g: the client's message reaches the worker, the
 * worker's answer reaches the client. */
struct pair {
    struct fakebw bw;
    int ws;
    uint32_t id;
};

static int pair_open(struct pair *p, struct launch_gw *g, const char *wkey)
{
    char needle[128];
    snprintf(needle, sizeof needle, "business worker 127.0.0.1:%s connected", wkey);
    if (fakebw_worker(&p->bw, g->lan_port, wkey, KEY) < 0 || !tu_file_contains(g->p.log, needle, T))
        return -1;
    p->ws = wsc_connect(g->ws_port, "/", NULL, T);
    if (p->ws < 0 || fakebw_wait(&p->bw, GWP_CMD_ON_CONNECT, T) < 0)
        return -1;
    p->id = p->bw.last.hdr.connection_id;
    return 0;
}

/* 1 if a round trip client → worker → client works now. */
static int pair_alive(struct pair *p, const char *tag)
{
    if (wsc_send(p->ws, WSC_TEXT, tag, strlen(tag)) < 0 || fakebw_wait(&p->bw, GWP_CMD_ON_MESSAGE, T) < 0)
        return 0;
    if (p->bw.last.body_len != strlen(tag) || memcmp(p->bw.last.body, tag, strlen(tag)) != 0)
        return 0;
    fakebw_cmd(&p->bw, GWP_CMD_SEND_TO_ONE, p->id, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, tag, strlen(tag));
    return wsc_expect_text(p->ws, tag, T);
}

static void pair_close(struct pair *p)
{
    tu_close(p->ws);
    fakebw_close(&p->bw);
}

/* A request connection that authenticated: GET_ALL_CLIENT_SESSIONS answers. */
static int client_answers(struct launch_gw *g, const char *secret)
{
    struct fakebw c;
    if (fakebw_client(&c, g->lan_port, secret) < 0)
        return 0;
    fakebw_cmd(&c, GWP_CMD_GET_ALL_CLIENT_SESSIONS, 0, 0, NULL, 0, NULL, 0);
    size_t n;
    char *r = fakebw_reply(&c, &n, T);
    fakebw_close(&c);
    free(r);
    return r != NULL;
}

/* Sends raw bytes on a fresh internal connection (authenticated first when
 * auth is set) and returns 1 if the gateway then closes it. */
static int raw_closed(struct launch_gw *g, int auth, const void *bytes, size_t n)
{
    struct fakebw c;
    if (fakebw_client(&c, g->lan_port, auth ? KEY : NULL) < 0)
        return 0;
    int closed = tu_write_all(c.fd, bytes, n) == 0 && tu_wait_eof(c.fd, T) == 1;
    fakebw_close(&c);
    return closed;
}

static void header(uint8_t out[GWP_HEADER_LEN], uint32_t pack_len, uint8_t cmd, uint32_t ext_len)
{
    struct gwp_header h = {.pack_len = pack_len, .cmd = cmd, .flag = GWP_FLAG_BODY_IS_SCALAR, .ext_len = ext_len};
    gwp_header_pack(out, &h);
}

/* ---- internal port ---- */

static void test_lan_before_auth(void)
{
    struct launch_gw g = {0};
    CU_ASSERT_FATAL(gw_start(&g, "beforeauth") == 0);
    struct pair p;
    CU_ASSERT_FATAL(pair_open(&p, &g, "Good:0") == 0);
    /* A command that would reach every client, with no WORKER_CONNECT first. */
    struct buf b = BUF_INIT;
    struct gwp_header h = {.cmd = GWP_CMD_SEND_TO_ALL, .flag = GWP_FLAG_BODY_IS_SCALAR};
    gwp_encode(&b, &h, NULL, 0, "owned", 5);
    CU_ASSERT(raw_closed(&g, 0, buf_head(&b), buf_avail(&b)));
    buf_free(&b);
    CU_ASSERT(tu_file_contains(g.p.log, "Unauthorized request from 127.0.0.1", T));
    CU_ASSERT(wsc_quiet(p.ws, 300)); /* "owned" never reached the client */
    CU_ASSERT(pair_alive(&p, "after-unauthorized"));
    pair_close(&p);
    gw_stop(&g);
}

static void test_lan_wrong_secret_backoff(void)
{
    struct launch_gw g = {0};
    CU_ASSERT_FATAL(gw_start(&g, "wrongsecret") == 0);
    struct pair p;
    CU_ASSERT_FATAL(pair_open(&p, &g, "Good:0") == 0);
    char needle[160];
    /* Three free failures, each closed and logged with the streak. */
    for (int i = 1; i <= 3; i++) {
        CU_ASSERT(!client_answers(&g, "guess"));
        snprintf(needle, sizeof needle, "GATEWAY_CLIENT_CONNECT with a wrong secret key (%d in a row from 127.0.0.1)", i);
        CU_ASSERT(tu_file_contains(g.p.log, needle, T));
    }
    /* The fourth blocks the address for 1 s (from when the gateway saw it,
     * which is after t_block) ... */
    long long t_block = tu_now_ms();
    CU_ASSERT(!client_answers(&g, "guess"));
    CU_ASSERT(tu_file_contains(g.p.log, "(4 in a row from 127.0.0.1: blocked for 1000 ms)", T));
    /* ... during which even the right key is refused unseen, logged once. */
    int refused = 0;
    for (int i = 0; i < 5; i++)
        refused += !client_answers(&g, KEY);
    long long t_refused = tu_now_ms();
    if (t_refused - t_block < 950) { /* all five fell inside the block */
        CU_ASSERT_EQUAL(refused, 5);
        CU_ASSERT(tu_file_contains(g.p.log, "refused: too many wrong secret keys from 127.0.0.1", T));
        size_t n;
        uint8_t *txt = tu_read_file(g.p.log, &n);
        int lines = 0;
        for (char *s = (char *)txt; txt && (s = strstr(s, "refused: too many")); s++)
            lines++;
        free(txt);
        CU_ASSERT_EQUAL(lines, 1);
    }
    /* After the block the right key works again (and clears the streak). */
    long long end = tu_now_ms() + 10000;
    int ok = 0;
    while (!ok && tu_now_ms() < end)
        if (!(ok = client_answers(&g, KEY)))
            usleep(100000);
    CU_ASSERT(ok);
    CU_ASSERT(tu_now_ms() - t_block >= 1000);
    CU_ASSERT(!client_answers(&g, "guess"));
    CU_ASSERT(tu_file_contains(g.p.log, "wrong secret key (1 in a row from 127.0.0.1)", T));
    /* The worker and client linked before were never disturbed. */
    CU_ASSERT(pair_alive(&p, "after-guessing"));
    pair_close(&p);
    gw_stop(&g);
}

static void test_lan_length_fields(void)
{
    struct launch_gw g = {0};
    CU_ASSERT_FATAL(gw_start(&g, "lengths") == 0);
    struct pair p;
    CU_ASSERT_FATAL(pair_open(&p, &g, "Good:0") == 0);
    long before = tu_rss_kb(g.p.pid);
    uint8_t h[GWP_HEADER_LEN + 16];
    const struct {
        const char *name;
        uint32_t pack_len, ext_len;
    } cases[] = {
        {"pack_len 0", 0, 0},
        {"pack_len 27", 27, 0},
        {"pack_len 2^31", 0x80000000u, 0},
        {"pack_len 2^32-1", 0xffffffffu, 0},
        {"ext_len larger than the frame", GWP_HEADER_LEN + 16, 17},
        {"ext_len 2^31", GWP_HEADER_LEN + 16, 0x80000000u},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        memset(h, 'x', sizeof h);
        header(h, cases[i].pack_len, GWP_CMD_SEND_TO_ALL, cases[i].ext_len);
        for (int auth = 0; auth < 2; auth++) {
            int closed = raw_closed(&g, auth, h, sizeof h);
            if (!closed)
                fprintf(stderr, "\n  %s (%s): not closed", cases[i].name, auth ? "authorised" : "before auth");
            CU_ASSERT(closed);
        }
    }
    CU_ASSERT(tu_file_contains(g.p.log, "protocol error", T));
    CU_ASSERT(pair_alive(&p, "after-lengths"));
    long after = tu_rss_kb(g.p.pid);
    printf("\n    gateway RSS around the length-field cases: %ld kB -> %ld kB ", before, after);
#ifndef __SANITIZE_ADDRESS__ /* ASan's quarantine and shadow memory make RSS meaningless */
    CU_ASSERT(after - before < 4096); /* 2^31 was never allocated */
#endif
    pair_close(&p);
    gw_stop(&g);
}

/* An unserialize() bomb: n nested arrays. */
static char *nested(int n, size_t *len)
{
    size_t cap = (size_t)n * 16 + 64;
    char *s = malloc(cap), *q = s;
    for (int i = 0; i < n; i++)
        q += sprintf(q, "a:1:{i:0;");
    q += sprintf(q, "i:1;");
    for (int i = 0; i < n; i++)
        *q++ = '}';
    *q = 0;
    *len = (size_t)(q - s);
    return s;
}

static void test_lan_bad_serialize(void)
{
    struct launch_gw g = {0};
    CU_ASSERT_FATAL(gw_start(&g, "serialize") == 0);
    struct pair p;
    CU_ASSERT_FATAL(pair_open(&p, &g, "Good:0") == 0);
    long before = tu_rss_kb(g.p.pid);
    size_t deep_len;
    char *deep = nested(200000, &deep_len);
    const char *garbage = "a:5:{s:3:\"abc\";i:1;s:999:\"x\";}";
    /* A session that is not serialize() output is stored as bytes by PHP too;
     * the merge (UPDATE_SESSION) is where it must be decoded: ignored, logged. */
    fakebw_cmd(&p.bw, GWP_CMD_SET_SESSION, p.id, 0, "a:1:{s:1:\"k\";i:1;}", 18, NULL, 0);
    fakebw_cmd(&p.bw, GWP_CMD_UPDATE_SESSION, p.id, 0, garbage, strlen(garbage), NULL, 0);
    CU_ASSERT(tu_file_contains(g.p.log, "ignored malformed CMD_UPDATE_SESSION", T));
    fakebw_cmd(&p.bw, GWP_CMD_UPDATE_SESSION, p.id, 0, deep, deep_len, NULL, 0);
    CU_ASSERT(pair_alive(&p, "after-update-session"));
    /* A body meant as serialize() output (no BODY_IS_SCALAR flag) that is not. */
    fakebw_cmd(&p.bw, GWP_CMD_SEND_TO_ALL, 0, 0, NULL, 0, garbage, strlen(garbage));
    fakebw_cmd(&p.bw, GWP_CMD_SEND_TO_ONE, p.id, 0, NULL, 0, deep, deep_len);
    fakebw_cmd(&p.bw, GWP_CMD_SEND_TO_ALL, 0, 0, NULL, 0, deep, deep_len);
    /* Ext data of a multi-client command, garbage and deep. */
    fakebw_cmd(&p.bw, GWP_CMD_SEND_TO_ALL, 0, GWP_FLAG_BODY_IS_SCALAR, garbage, strlen(garbage), "x", 1);
    fakebw_cmd(&p.bw, GWP_CMD_SEND_TO_ALL, 0, GWP_FLAG_BODY_IS_SCALAR, deep, deep_len, "x", 1);
    fakebw_cmd(&p.bw, GWP_CMD_SEND_TO_GROUP, 0, GWP_FLAG_BODY_IS_SCALAR, deep, deep_len, "x", 1);
    /* Whatever the gateway made of them, it is alive, the link is kept and
     * the next good frame is served in order. */
    CU_ASSERT(pair_alive(&p, "after-bad-bodies"));
    CU_ASSERT(client_answers(&g, KEY));
    long after = tu_rss_kb(g.p.pid);
    printf("\n    gateway RSS around the serialize cases: %ld kB -> %ld kB ", before, after);
#ifndef __SANITIZE_ADDRESS__
    CU_ASSERT(after - before < 8192);
#endif
    free(deep);
    pair_close(&p);
    gw_stop(&g);
}

/* ---- register ---- */

/* A worker that authenticates and gets the list: the register still serves. */
static int register_serves(void)
{
    int fd = tu_connect(reg_port, T);
    if (fd < 0)
        return 0;
    const char *hello = "{\"event\":\"worker_connect\",\"secret_key\":\"" KEY "\"}\n";
    char line[4096];
    int ok = tu_write_all(fd, hello, strlen(hello)) == 0 && tu_read_line(fd, line, sizeof line, T) > 0 &&
             strstr(line, "broadcast_addresses") != NULL;
    tu_close(fd);
    return ok;
}

static int reg_line_closed(const char *line, char *reply, size_t cap)
{
    int fd = tu_connect(reg_port, T);
    if (fd < 0)
        return 0;
    if (reply)
        reply[0] = 0;
    if (tu_write_all(fd, line, strlen(line)) < 0) {
        tu_close(fd);
        return 0;
    }
    if (reply && tu_read_line(fd, reply, cap, T) <= 0)
        reply[0] = 0;
    int closed = tu_wait_eof(fd, T);
    tu_close(fd);
    return closed;
}

static void test_register_no_newline(void)
{
    int fd = tu_connect(reg_port, T);
    CU_ASSERT_FATAL(fd >= 0);
    const char *s = "{\"event\":\"worker_connect\",\"secret_key\":\"" KEY "\"}";
    CU_ASSERT(tu_write_all(fd, s, strlen(s)) == 0);
    /* Never a line: the auth deadline (1 s here) closes it, with a log line. */
    CU_ASSERT(tu_wait_eof(fd, T) == 1);
    tu_close(fd);
    CU_ASSERT(tu_file_contains(reg.log, "register auth timeout", T));
    CU_ASSERT(register_serves());
}

static void test_register_10mb_line(void)
{
    long before = tu_rss_kb(reg.pid);
    int fd = tu_connect(reg_port, T);
    CU_ASSERT_FATAL(fd >= 0);
    size_t n = 10u << 20;
    char *big = malloc(n);
    memset(big, 'a', n);
    memcpy(big, "{\"event\":\"", 10);
    big[n - 1] = '\n';
    /* The register closes at 64 KiB; the rest of the write may fail (reset). */
    (void)tu_write_all(fd, big, n);
    CU_ASSERT(tu_wait_eof(fd, T) == 1);
    tu_close(fd);
    free(big);
    CU_ASSERT(tu_file_contains(reg.log, "sent a line longer than 65536 bytes; closing", T));
    CU_ASSERT(register_serves());
    long after = tu_rss_kb(reg.pid);
    printf("\n    register RSS around a 10 MB line: %ld kB -> %ld kB ", before, after);
#ifndef __SANITIZE_ADDRESS__
    CU_ASSERT(after - before < 1024);
#endif
}

static void test_register_wrong_events_and_keys(void)
{
    char reply[512];
    /* Not an event object: PHP's bad-request line, then closed. */
    CU_ASSERT(reg_line_closed("{\"evnt\":\"worker_connect\"}\n", reply, sizeof reply));
    CU_ASSERT(strstr(reply, "bad request") != NULL || strstr(reply, "Bad") != NULL || reply[0] != 0);
    CU_ASSERT(reg_line_closed("not json at all\n", reply, sizeof reply));
    CU_ASSERT(reply[0] != 0);
    CU_ASSERT(tu_file_contains(reg.log, "bad request from 127.0.0.1", T));
    /* Events a peer must never send, or that do not exist. */
    CU_ASSERT(reg_line_closed("{\"event\":\"broadcast_addresses\",\"addresses\":[\"6.6.6.6:1\"]}\n", NULL, 0));
    CU_ASSERT(reg_line_closed("{\"event\":\"drop_tables\"}\n", NULL, 0));
    CU_ASSERT(tu_file_contains(reg.log, "unknown event from 127.0.0.1", T));
    /* Wrong keys: a wrong secret, a secret of the wrong type, an address
     * that is not an address. */
    CU_ASSERT(reg_line_closed("{\"event\":\"worker_connect\",\"secret_key\":\"nope\"}\n", NULL, 0));
    CU_ASSERT(reg_line_closed("{\"event\":\"worker_connect\",\"secret_key\":[1,2]}\n", NULL, 0));
    CU_ASSERT(tu_file_contains(reg.log, "worker_connect from 127.0.0.1", T));
    CU_ASSERT(reg_line_closed("{\"event\":\"gateway_connect\",\"address\":12,\"secret_key\":\"" KEY "\"}\n", NULL, 0));
    CU_ASSERT(tu_file_contains(reg.log, "without address; closing", T));
    CU_ASSERT(reg_line_closed("{\"event\":\"gateway_connect\",\"address\":\"1.2.3.4:5\",\"secret_key\":\"x\"}\n", NULL,
                              0));
    CU_ASSERT(tu_file_contains(reg.log, "gateway_connect from 127.0.0.1", T));
    /* None of them got a gateway registered. */
    CU_ASSERT(register_serves());
    int fd = tu_connect(reg_port, T);
    const char *hello = "{\"event\":\"worker_connect\",\"secret_key\":\"" KEY "\"}\n";
    char line[4096];
    CU_ASSERT(tu_write_all(fd, hello, strlen(hello)) == 0 && tu_read_line(fd, line, sizeof line, T) > 0);
    CU_ASSERT(strstr(line, "6.6.6.6") == NULL && strstr(line, "1.2.3.4") == NULL);
    tu_close(fd);
}

static void test_register_key_guessing(void)
{
    const char *wrong = "{\"event\":\"worker_connect\",\"secret_key\":\"guess\"}\n";
    for (int i = 0; i < 3; i++)
        CU_ASSERT(reg_line_closed(wrong, NULL, 0));
    long long t_block = tu_now_ms(); /* the block starts after this */
    CU_ASSERT(reg_line_closed(wrong, NULL, 0));
    CU_ASSERT(tu_file_contains(reg.log, "(4 in a row from 127.0.0.1: blocked for 1000 ms)", T));
    /* Blocked: even the right key is turned away until the block ends. */
    int served = register_serves();
    if (tu_now_ms() - t_block < 950) {
        CU_ASSERT(!served);
        CU_ASSERT(tu_file_contains(reg.log, "worker_connect from 127.0.0.1", T));
        CU_ASSERT(tu_file_contains(reg.log, "refused: too many wrong secret keys from 127.0.0.1", T));
    }
    long long end = tu_now_ms() + 10000;
    while (!served && tu_now_ms() < end)
        if (!(served = register_serves()))
            usleep(100000);
    CU_ASSERT(served);
    CU_ASSERT(tu_now_ms() - t_block >= 1000);
}

/* ---- configuration: an empty secretKey on a network ---- */

/* Runs a role's start with args; returns its wait status (the process is
 * stopped once its output shows `ready`: a connect alone could come before
 * its signal handlers are set; then 0 stands for "exited 0 on SIGTERM"), and
 * its output in out. */
static int run_role(const char *role, char *const extra[], char *out, size_t cap, int *started, const char *ready)
{
    static int n;
    char tag[48];
    snprintf(tag, sizeof tag, "%s-cfg-%d", role, ++n);
    struct launch p;
    launch_init(&p, dir, role, tag);
    for (int i = 0; extra[i]; i++)
        launch_set(&p, "%s", extra[i]);
    launch_spawn(&p);
    *started = 0;
    int st = -1;
    long long end = tu_now_ms() + T;
    while (tu_now_ms() < end && !launch_exited(&p, &st)) {
        if (ready && tu_file_contains(p.log, ready, 0)) {
            *started = 1;
            st = launch_stop(&p, T) == 0 ? 0 : -1;
            break;
        }
        usleep(20000);
    }
    if (p.pid > 0) /* neither refused nor ready in time: not left running */
        launch_stop(&p, T);
    size_t len;
    uint8_t *txt = tu_read_file(p.log, &len);
    snprintf(out, cap, "%s", txt ? (char *)txt : "");
    free(txt);
    launch_free(&p);
    return st;
}

static void test_config_empty_secret_on_lan(void)
{
    char out[4096], a[2][160];
    int started;
    int port = tu_free_port();
    /* The register on every interface without a key: refused, exit 1. */
    snprintf(a[0], 160, "--listen=text://0.0.0.0:%d", port);
    char *r1[] = {a[0], NULL};
    int st = run_role("register", r1, out, sizeof out, &started, "INFO listening on");
    CU_ASSERT(!started && WIFEXITED(st) && WEXITSTATUS(st) == 1);
    CU_ASSERT(strstr(out, "start failed: secretKey: empty while listen 0.0.0.0 is not loopback") != NULL);
    CU_ASSERT(strstr(out, "allowEmptySecretOnLan") != NULL);
    /* With the explicit opt-in it starts, and says so loudly. */
    char *r2[] = {a[0], "--allowEmptySecretOnLan=on", NULL};
    st = run_role("register", r2, out, sizeof out, &started, "INFO listening on");
    CU_ASSERT(started && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CU_ASSERT(strstr(out, "secretKey is empty and 0.0.0.0 is not a loopback address") != NULL);
    /* On loopback an empty key is fine (the local / test setups). */
    snprintf(a[1], 160, "--listen=text://127.0.0.1:%d", port);
    char *r3[] = {a[1], NULL};
    st = run_role("register", r3, out, sizeof out, &started, "INFO listening on");
    CU_ASSERT(started && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CU_ASSERT(strstr(out, "secretKey is empty") == NULL);

    /* The gateway with a LAN lanIp and no key: refused before binding. */
    int ws = tu_free_port(), lan = tu_free_port();
    char g[3][160];
    snprintf(g[0], 160, "--listen=websocket://127.0.0.1:%d", ws);
    snprintf(g[1], 160, "--startPort=%d", lan);
    snprintf(g[2], 160, "--registerAddress=127.0.0.1:%d", reg_port);
    char *g1[] = {g[0], g[1], g[2], "--lanIp=10.255.255.1", NULL};
    st = run_role("gateway", g1, out, sizeof out, &started, "INFO process 0 serving");
    CU_ASSERT(!started && WIFEXITED(st) && WEXITSTATUS(st) == 1);
    CU_ASSERT(strstr(out, "start failed: secretKey: empty while lanIp 10.255.255.1 is not loopback") != NULL);
    /* Opted in: the warning, then it goes on (here to a bind error: the
     * address is not ours; a real LAN address would start). */
    char *g2[] = {g[0], g[1], g[2], "--lanIp=10.255.255.1", "--allowEmptySecretOnLan=on", NULL};
    st = run_role("gateway", g2, out, sizeof out, &started, "INFO process 0 serving");
    CU_ASSERT(strstr(out, "allowEmptySecretOnLan is on") != NULL);
    CU_ASSERT(strstr(out, "start failed: secretKey") == NULL);
    /* With a key the same lanIp passes the check. */
    char *g3[] = {g[0], g[1], g[2], "--lanIp=10.255.255.1", "--secretKey=" KEY, NULL};
    st = run_role("gateway", g3, out, sizeof out, &started, "INFO process 0 serving");
    CU_ASSERT(strstr(out, "secretKey is empty") == NULL);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("bad input: internal port, register, configuration", suite_init, suite_clean);
    CU_add_test(s, "internal port: a command before authorisation", test_lan_before_auth);
    CU_add_test(s, "internal port: wrong secrets are logged and slowed down", test_lan_wrong_secret_backoff);
    CU_add_test(s, "internal port: length fields 0, 27, 2^31, ext_len past the frame", test_lan_length_fields);
    CU_add_test(s, "internal port: bodies that are not serialize data, or nested 200,000 deep",
                test_lan_bad_serialize);
    CU_add_test(s, "register: no newline", test_register_no_newline);
    CU_add_test(s, "register: a 10 MB line", test_register_10mb_line);
    CU_add_test(s, "register: wrong events and wrong keys", test_register_wrong_events_and_keys);
    CU_add_test(s, "register: wrong secrets are logged and slowed down", test_register_key_guessing);
    CU_add_test(s, "configuration: empty secretKey on a network address", test_config_empty_secret_on_lan);
    return tu_run("test_badinput");
}
