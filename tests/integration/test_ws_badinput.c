/* The WebSocket rows of the bad-input matrix (issue 10), against the real
 * register, gateways and business worker (apps/echo) on loopback: bad
 * handshakes, a request head that never ends, 10,000 idle connections, a
 * flood from one address (maxConnectionsPerIp), a client that reads
 * nothing. Each case checks the answer (HTTP status, close, log line) and
 * that a bystander client connected before it is still served, and that
 * the gateway is still alive. The frame-level rows (unmasked frames,
 * reserved bits, control frames, sizes, UTF-8) are the conformance suite's
 * (tests/conformance/wsconf.c). */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch.h"
#include "tu.h"
#include "wsc.h"

#define KEY "badinput"
#define PER_IP 50
#define IDLE 10000

static char dir[64];
static int reg_port;
static struct launch reg, bw;
static struct launch_gw main_gw, lim_gw, slow_gw;
static int by = -1; /* the bystander, on main_gw */

/* Started, not waited for: the first echo through it is the readiness. */
static void spawn_gateway(struct launch_gw *g, const char *name, const char *extra)
{
    launch_gw_init(g, dir, name, reg_port, KEY);
    launch_set(&g->p, "%s", extra);
    launch_spawn(&g->p);
}

/* One text message there and back on fd. */
static int echo_ok(int fd, const char *text)
{
    return fd >= 0 && wsc_send(fd, WSC_TEXT, text, strlen(text)) == 0 && wsc_expect_text(fd, text, 10000);
}

static int alive(pid_t p)
{
    int st;
    return waitpid(p, &st, WNOHANG) == 0;
}

/* The gateway still serves: the bystander and a new client get their echo. */
static void assert_still_serving(const char *after)
{
    char m[96];
    snprintf(m, sizeof m, "echo:bystander after %s", after);
    CU_ASSERT(alive(main_gw.p.pid));
    CU_ASSERT(echo_ok(by, m));
    int fresh = wsc_connect(main_gw.ws_port, "/", NULL, 5000);
    snprintf(m, sizeof m, "echo:new client after %s", after);
    CU_ASSERT(echo_ok(fresh, m));
    tu_close(fresh);
}

static int suite_init(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < IDLE + 500) {
        rl.rlim_cur = rl.rlim_max < IDLE + 500 ? rl.rlim_max : IDLE + 500;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (launch_tmpdir("ws-badinput", dir, sizeof dir) < 0)
        return -1;
    reg_port = tu_free_port();
    launch_register(&reg, dir, reg_port, KEY);
    if (launch_start(&reg, reg_port, NULL, 5000) < 0)
        return -1;
    spawn_gateway(&main_gw, "gateway", "--sendToClientBufferSize=262144");
    /* The slow-consumer case measures RSS: under ASan its gateway keeps no
     * quarantine of freed memory, which would count as growth (no effect
     * on other builds). */
    const char *asan = getenv("ASAN_OPTIONS");
    char *saved = asan ? strdup(asan) : NULL, opts[512];
    snprintf(opts, sizeof opts, "%s%squarantine_size_mb=0", asan ? asan : "", asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    spawn_gateway(&slow_gw, "slow", "--sendToClientBufferSize=262144");
    if (saved)
        setenv("ASAN_OPTIONS", saved, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(saved);
    char lim[64];
    snprintf(lim, sizeof lim, "--maxConnectionsPerIp=%d", PER_IP);
    spawn_gateway(&lim_gw, "limited", lim);
    launch_business(&bw, dir, "business", reg_port, "apps/echo.so", "WsBadInput", 1, KEY);
    launch_spawn(&bw);
    /* Events are held until the worker links: the first echo waits for it. */
    by = wsc_connect(main_gw.ws_port, "/", NULL, 5000);
    int lim_client = wsc_connect(lim_gw.ws_port, "/", NULL, 5000);
    int slow_client = wsc_connect(slow_gw.ws_port, "/", NULL, 5000);
    int ok = echo_ok(by, "echo:ready") && echo_ok(lim_client, "echo:ready") && echo_ok(slow_client, "echo:ready");
    tu_close(lim_client);
    tu_close(slow_client);
    return ok ? 0 : -1;
}

static int suite_clean(void)
{
    tu_close(by);
    struct launch *all[] = {&bw, &main_gw.p, &lim_gw.p, &slow_gw.p, &reg};
    int ok = 1;
    for (int i = 0; i < 5; i++) {
        ok &= launch_stop(all[i], i < 4 ? 8000 : 5000) == 0;
        launch_free(all[i]);
    }
    return ok ? 0 : -1;
}

/* Sends a raw request and reads everything until the server closes. */
static char *raw_exchange(int port, const char *req, int timeout_ms)
{
    int fd = tu_connect(port, 3000);
    if (fd < 0)
        return NULL;
    tu_write_all(fd, req, strlen(req));
    char *out = calloc(1, 8192);
    size_t n = 0;
    long long end = tu_now_ms() + timeout_ms;
    while (n < 8191) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int left = (int)(end - tu_now_ms());
        if (left <= 0 || poll(&pf, 1, left) <= 0)
            break;
        ssize_t r = read(fd, out + n, 8191 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    tu_close(fd);
    return out;
}

static void test_handshake_without_key(void)
{
    char *r = raw_exchange(main_gw.ws_port,
                           "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n",
                           5000);
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT(strncmp(r, "HTTP/1.1 400 ", 13) == 0);
    free(r);
    CU_ASSERT(tu_file_contains(main_gw.p.log, "bad WebSocket handshake (no Sec-WebSocket-Key); answered 400", 3000));
    r = raw_exchange(main_gw.ws_port,
                     "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     5000);
    CU_ASSERT(r && strncmp(r, "HTTP/1.1 400 ", 13) == 0);
    free(r);
    CU_ASSERT(tu_file_contains(main_gw.p.log, "Sec-WebSocket-Key is not 16 bytes of base64", 3000));
    assert_still_serving("handshake without key");
}

static void test_handshake_bad_version(void)
{
    char *r = raw_exchange(main_gw.ws_port,
                           "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
                           5000);
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT(strncmp(r, "HTTP/1.1 426 ", 13) == 0);
    CU_ASSERT(strstr(r, "\r\nSec-WebSocket-Version: 13\r\n") != NULL);
    free(r);
    CU_ASSERT(tu_file_contains(main_gw.p.log, "bad WebSocket handshake (Sec-WebSocket-Version 8", 3000));
    assert_still_serving("bad version");
}

/* Slowloris: a header line now and then, never the blank line. The
 * handshake deadline (5 s from accept) ends it, however slowly it trickles. */
static void test_request_head_never_ends(void)
{
    int fd = tu_connect(main_gw.ws_port, 3000);
    CU_ASSERT_FATAL(fd >= 0);
    const char *start = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n";
    tu_write_all(fd, start, strlen(start));
    long long t0 = tu_now_ms(), end = t0 + 15000;
    int eof = 0;
    for (int i = 0; !eof && tu_now_ms() < end; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "X-Slow-%d: 1\r\n", i);
        if (tu_write_all(fd, line, (size_t)n) < 0) {
            eof = 1;
            break;
        }
        /* The drip's pace (the attack), not a wait for a result: EOF is. */
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 300) > 0) {
            char b[256];
            eof = read(fd, b, sizeof b) <= 0;
        }
        if (i == 3) /* others are served while it drips */
            CU_ASSERT(echo_ok(by, "echo:during slowloris"));
    }
    printf("\n    slowloris closed after %lld ms ", tu_now_ms() - t0);
    CU_ASSERT(eof);
    tu_close(fd);
    CU_ASSERT(tu_file_contains(main_gw.p.log, "sent no complete request within 5 s; closing", 3000));
    assert_still_serving("slowloris");
}

static int open_fds(pid_t pid)
{
    char cmd[96];
    snprintf(cmd, sizeof cmd, "ls /proc/%d/fd 2>/dev/null | wc -l", (int)pid);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

/* 10,000 connections that send nothing: held (memory per connection
 * reported), then all closed by the handshake deadline. */
static void test_idle_connections(void)
{
    int base_fds = open_fds(main_gw.p.pid);
    long rss0 = tu_rss_kb(main_gw.p.pid);
    static int fds[IDLE];
    int n = 0;
    for (; n < IDLE; n++) {
        fds[n] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)main_gw.ws_port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (fds[n] < 0 || connect(fds[n], (struct sockaddr *)&a, sizeof a) != 0) {
            fprintf(stderr, "\n  idle connection %d: %s\n", n, strerror(errno));
            if (fds[n] >= 0)
                close(fds[n]);
            break;
        }
    }
    CU_ASSERT_FATAL(n == IDLE);
    /* Wait until the gateway holds them all (accepted, each an fd). */
    long long end = tu_now_ms() + 20000;
    int held = 0;
    while (tu_now_ms() < end && (held = open_fds(main_gw.p.pid) - base_fds) < IDLE)
        usleep(50000);
    long rss1 = tu_rss_kb(main_gw.p.pid);
    printf("\n    %d idle connections: gateway RSS %ld -> %ld kB, %.2f kB per connection ", held, rss0, rss1,
           (double)(rss1 - rss0) / IDLE);
    CU_ASSERT(held >= IDLE);
    CU_ASSERT(echo_ok(by, "echo:with 10000 idle"));
    /* Every one ends at the handshake deadline. */
    int closed = 0;
    end = tu_now_ms() + 30000;
    static char gone[IDLE];
    memset(gone, 0, sizeof gone);
    while (closed < IDLE && tu_now_ms() < end) {
        for (int i = 0; i < IDLE; i++) {
            if (gone[i])
                continue;
            struct pollfd pf = {.fd = fds[i], .events = POLLIN};
            if (poll(&pf, 1, 0) > 0) {
                char b[16];
                if (read(fds[i], b, sizeof b) <= 0) {
                    gone[i] = 1;
                    closed++;
                }
            }
        }
        if (closed < IDLE)
            usleep(100000);
    }
    printf("%d closed by the handshake deadline ", closed);
    CU_ASSERT(closed == IDLE);
    for (int i = 0; i < IDLE; i++)
        close(fds[i]);
    assert_still_serving("10000 idle connections");
}

/* 10,000 WebSocket clients that completed the handshake and stay silent:
 * what an idle party guest costs. */
static void test_idle_websocket_clients(void)
{
    long rss0 = tu_rss_kb(main_gw.p.pid);
    static int fds[IDLE];
    int n = 0;
    long long t0 = tu_now_ms();
    for (; n < IDLE; n++)
        if ((fds[n] = wsc_connect(main_gw.ws_port, "/", NULL, 10000)) < 0)
            break;
    CU_ASSERT(n == IDLE);
    long rss1 = tu_rss_kb(main_gw.p.pid);
    printf("\n    %d idle WebSocket clients (handshakes took %lld ms): gateway RSS %ld -> %ld kB, %.2f kB per client ", n,
           tu_now_ms() - t0, rss0, rss1, (double)(rss1 - rss0) / (n ? n : 1));
    CU_ASSERT(echo_ok(by, "echo:with 10000 idle clients"));
    for (int i = 0; i < n; i++)
        tu_close(fds[i]);
    assert_still_serving("10000 idle WebSocket clients");
}

/* Connects from a given loopback address and does a handshake by hand;
 * returns the fd with "HTTP/1.1 101" read, or -1. */
static int ws_from(const char *src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in s = {.sin_family = AF_INET}, d = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, src, &s.sin_addr);
    d.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&s, sizeof s) != 0 || connect(fd, (struct sockaddr *)&d, sizeof d) != 0) {
        close(fd);
        return -1;
    }
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    tu_write_all(fd, req, strlen(req));
    char b[13] = "";
    size_t got = 0;
    long long end = tu_now_ms() + 5000;
    while (got < 12 && tu_now_ms() < end) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 200) > 0) {
            ssize_t r = read(fd, b + got, 12 - got);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
    }
    if (got < 12 || strncmp(b, "HTTP/1.1 101", 12) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void test_flood_from_one_address(void)
{
    int fds[PER_IP];
    int n = 0;
    for (; n < PER_IP; n++)
        if ((fds[n] = wsc_connect(lim_gw.ws_port, "/", NULL, 5000)) < 0)
            break;
    CU_ASSERT_FATAL(n == PER_IP);
    /* The flood: every further connection from 127.0.0.1 is refused at once. */
    int refused = 0;
    for (int i = 0; i < 200; i++) {
        int fd = wsc_connect(lim_gw.ws_port, "/", NULL, 5000);
        refused += fd < 0;
        tu_close(fd);
    }
    CU_ASSERT_EQUAL(refused, 200);
    CU_ASSERT(tu_file_contains(lim_gw.p.log, "client 127.0.0.1 refused: 50 connections from this address (maxConnectionsPerIp)",
                               3000));
    /* Another address is served, and the admitted clients still are. */
    int other = ws_from("127.0.0.2", lim_gw.ws_port);
    CU_ASSERT(other >= 0);
    if (other >= 0)
        close(other);
    CU_ASSERT(echo_ok(fds[0], "echo:admitted during the flood"));
    /* A closed connection frees its place (released when the gateway
     * destroys it: wait for that, with a deadline). */
    tu_close(fds[PER_IP - 1]);
    int again = -1;
    for (long long end = tu_now_ms() + 5000; again < 0 && tu_now_ms() < end;)
        if ((again = wsc_connect(lim_gw.ws_port, "/", NULL, 2000)) < 0)
            usleep(50000);
    CU_ASSERT(again >= 0);
    fds[PER_IP - 1] = again;
    for (int i = 0; i < PER_IP; i++)
        tu_close(fds[i]);
    CU_ASSERT(alive(lim_gw.p.pid));
    assert_still_serving("flood");
}

/* A client that reads nothing while 24 MB are sent to it: closed by the
 * slow-consumer limit (sendToClientBufferSize = 256 KiB), RSS bounded. */
static void test_client_that_reads_nothing(void)
{
    int slow = wsc_connect(slow_gw.ws_port, "/", NULL, 5000);
    CU_ASSERT_FATAL(echo_ok(slow, "echo:slow one here"));
    CU_ASSERT_FATAL(wsc_send(slow, WSC_TEXT, "uid:slowpoke", 12) == 0 && wsc_expect_text(slow, "bound:slowpoke", 5000));
    long rss0 = tu_rss_kb(slow_gw.p.pid);
    int sender = wsc_connect(slow_gw.ws_port, "/", NULL, 5000);
    CU_ASSERT_FATAL(sender >= 0);
    size_t len = 60000;
    char *m = malloc(len);
    memset(m, 'z', len);
    memcpy(m, "touid:slowpoke:", 15);
    long peak = rss0;
    for (int i = 0; i < 400; i++) {
        CU_ASSERT_FATAL(wsc_send(sender, WSC_TEXT, m, len) == 0);
        if (i % 50 == 49) { /* the sender is served meanwhile: a round trip paces it */
            CU_ASSERT(echo_ok(sender, "echo:sender pacing"));
            long r = tu_rss_kb(slow_gw.p.pid);
            peak = r > peak ? r : peak;
        }
    }
    free(m);
    CU_ASSERT(tu_file_contains(slow_gw.p.log, "over sendToClientBufferSize; closing", 10000));
    long rss1 = tu_rss_kb(slow_gw.p.pid);
    peak = rss1 > peak ? rss1 : peak;
    printf("\n    24 MB sent at a client that reads nothing: gateway RSS %ld kB before, peak %ld kB, after %ld kB ", rss0,
           peak, rss1);
    CU_ASSERT(peak - rss0 < 16 * 1024);
    /* Its pipe is full, so no close frame can reach it: what it finally
     * reads ends with the end of the connection (possibly mid-frame). */
    CU_ASSERT(tu_wait_eof(slow, 20000) == 1);
    tu_close(slow);
    tu_close(sender);
    CU_ASSERT(alive(slow_gw.p.pid));
    int other = wsc_connect(slow_gw.ws_port, "/", NULL, 5000);
    CU_ASSERT(echo_ok(other, "echo:served after the slow consumer"));
    tu_close(other);
    assert_still_serving("slow consumer");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("websocket bad input", suite_init, suite_clean);
    CU_add_test(s, "handshake without (or with a bad) Sec-WebSocket-Key: 400, logged", test_handshake_without_key);
    CU_add_test(s, "handshake with Sec-WebSocket-Version 8: 426 naming 13, logged", test_handshake_bad_version);
    CU_add_test(s, "request head that never ends: closed at the handshake deadline, logged", test_request_head_never_ends);
    CU_add_test(s, "10000 connections that never send: held, then closed at the deadline", test_idle_connections);
    CU_add_test(s, "10000 idle WebSocket clients: memory per client", test_idle_websocket_clients);
    CU_add_test(s, "flood from one address: maxConnectionsPerIp refuses, logs, frees", test_flood_from_one_address);
    CU_add_test(s, "client that reads nothing: closed by the slow-consumer limit, RSS bounded",
                test_client_that_reads_nothing);
    return tu_run("test_ws_badinput");
}
