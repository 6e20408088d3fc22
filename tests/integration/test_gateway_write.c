/* The gateway's client write path over real sockets (issue 11), once per
 * clientWritePath: `direct` (the flush pass sends plain ws frames on the
 * socket itself, handing what the socket does not take to libwebsockets)
 * and `lws` (every write through lws_write, the fallback). Each suite starts
 * its own register and gateway; a test business worker pushes. And with
 * `uring` (a flush pass's sends in one io_uring submission), once as
 * configured and once with GW_NO_IO_URING=1, the fallback to send().
 *
 * - a backlog far larger than the socket buffers reaches two clients that
 *   stopped reading, whole and in order, then a KICK's goodbye and the close
 *   frame after it; /metrics shows the direct path did take partial writes
 *   (and the lws path none);
 * - once a client sent its close frame, nothing follows the gateway's close
 *   frame, however many pushes arrive meanwhile;
 * - a client that resets its connection while its writes are backed up is
 *   closed (ON_CLOSE), and the other clients get everything. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakebw.h"
#include "launch.h"
#include "tu.h"
#include "wsc.h"

#define KEY "write-path-key"
#define BACKLOG_MSGS 3000
#define BACKLOG_SIZE 3000 /* 9 MB per client: far more than its socket buffers hold (4 MB + 4 KB) */

static char dir[64];
static int reg_port, ws_port, lan_port;
static struct launch reg, gw;
static struct fakebw bw;
static const char *path; /* clientWritePath of the running suite */
static int ring_used;     /* the gateway said it writes through io_uring */

static int start_path(const char *p)
{
    path = p;
    if (launch_tmpdir("gwwrite", dir, sizeof dir) < 0)
        return -1;
    reg_port = tu_free_port();
    ws_port = tu_free_port();
    lan_port = tu_free_port();
    launch_register(&reg, dir, reg_port, KEY);
    launch_gateway(&gw, dir, p, ws_port, lan_port, reg_port, KEY);
    launch_set(&gw, "--clientWritePath=%s", p);
    launch_set(&gw, "--sendToClientBufferSize=%d", 64 << 20); /* the backlog is not a slow consumer here */
    if (launch_spawn(&reg) < 0 || launch_start(&gw, lan_port, NULL, 5000) < 0)
        return -1;
    ring_used = 0;
    if (strcmp(p, "uring") == 0) {
        /* io_uring, or the reason it is not used (no liburing in the build,
         * refused by the kernel, GW_NO_IO_URING): one or the other is logged. */
        if (launch_ready(&gw, 0, "client writes: ", 3000) < 0)
            return -1;
        ring_used = tu_file_contains(gw.log, "client writes: io_uring", 0);
    }
    if (fakebw_worker(&bw, lan_port, "TestBusiness:0", KEY) < 0)
        return -1;
    return launch_ready(&gw, 0, "business worker 127.0.0.1:TestBusiness:0 connected", 3000);
}

static int start_direct(void) { return start_path("direct"); }
static int start_lws(void) { return start_path("lws"); }
static int start_uring(void)
{
    int rc = start_path("uring");
    if (rc == 0 && !ring_used)
        fprintf(stderr, "    (this gateway writes with send(): io_uring unavailable, see %s)\n", gw.log);
    return rc;
}
static int start_uring_off(void)
{
    setenv("GW_NO_IO_URING", "1", 1); /* inherited by the gateway */
    int rc = start_path("uring");
    unsetenv("GW_NO_IO_URING");
    if (rc == 0 && (ring_used || !tu_file_contains(gw.log, "io_uring unavailable: disabled by GW_NO_IO_URING", 0)))
        return -1;
    return rc;
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

/* A WebSocket client with a small receive buffer (the gateway's sends fill
 * up early and often) and its connection id. */
static int client(uint32_t *conn_id)
{
    int fd = wsc_connect_rcvbuf(ws_port, "/", 4096, 3000);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_CONNECT, 3000) == 0);
    *conn_id = bw.last.hdr.connection_id;
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_WEBSOCKET_CONNECT, 3000) == 0);
    return fd;
}

/* Message i of a backlog: "i:NNNNNN:" then filler that depends on i, size bytes. */
static void backlog_msg(char *out, size_t size, int i)
{
    int n = snprintf(out, size, "i:%06d:", i);
    for (size_t k = (size_t)n; k < size; k++)
        out[k] = (char)('a' + (i + (int)k) % 26);
}

/* Reads n backlog messages from fd; returns how many were as expected, in order. */
static int read_backlog(int fd, int n, size_t size)
{
    char *want = malloc(size + 1);
    int ok = 0;
    for (int i = 0; i < n; i++) {
        uint8_t *m = NULL;
        int op = 0;
        ssize_t r = wsc_recv(fd, &m, &op, 10000);
        backlog_msg(want, size, i);
        if (r == (ssize_t)size && op == WSC_TEXT && memcmp(m, want, size) == 0)
            ok++;
        else if (ok == i)
            fprintf(stderr, "    message %d: %zd bytes, opcode %d, \"%.12s\"\n", i, r, op, m ? (char *)m : "");
        free(m);
        if (r < 0)
            break;
    }
    free(want);
    return ok;
}

/* The value of one metric of process 0 from GET /metrics, or -1. */
static long long metric(const char *name)
{
    static char out[16384];
    if (tu_http_get(ws_port, "/metrics", out, sizeof out) < 0)
        return -1;
    char key[128];
    snprintf(key, sizeof key, "\n%s{process=\"0\"} ", name);
    const char *p = strstr(out, key);
    return p ? atoll(p + strlen(key)) : -1;
}

static void test_backlog_in_order_then_kick(void)
{
    uint32_t id1, id2;
    int c1 = client(&id1), c2 = client(&id2);
    long long partials0 = metric("gateway_direct_partial_writes_total");
    CU_ASSERT(partials0 >= 0);

    /* One broadcast while both queues are empty: a flush pass then holds one
     * frame for each of the two clients, which is what goes through the ring
     * when it is in use (a burst may instead be read in one wake and queue
     * several frames per client, which the batched send() takes: so the
     * ring is checked here, not after the backlog). */
    CU_ASSERT_FATAL(fakebw_cmd(&bw, GWP_CMD_SEND_TO_ALL, 0, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, "one", 3) == 0);
    CU_ASSERT(wsc_expect_text(c1, "one", 5000));
    CU_ASSERT(wsc_expect_text(c2, "one", 5000));
    long long ring_sends = metric("gateway_uring_sends_total");
    if (ring_used) {
        CU_ASSERT(ring_sends >= 2);
    } else {
        CU_ASSERT_EQUAL(ring_sends, 0);
    }

    char *body = malloc(BACKLOG_SIZE);
    for (int i = 0; i < BACKLOG_MSGS; i++) { /* nobody reads meanwhile */
        backlog_msg(body, BACKLOG_SIZE, i);
        CU_ASSERT_FATAL(fakebw_cmd(&bw, GWP_CMD_SEND_TO_ALL, 0, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, body,
                                   BACKLOG_SIZE) == 0);
    }
    free(body);
    /* c2 is kicked with its backlog still queued: the goodbye and the close
     * frame come after all of it. */
    fakebw_cmd(&bw, GWP_CMD_KICK, id2, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, "bye", 3);

    CU_ASSERT_EQUAL(read_backlog(c1, BACKLOG_MSGS, BACKLOG_SIZE), BACKLOG_MSGS);
    CU_ASSERT_EQUAL(read_backlog(c2, BACKLOG_MSGS, BACKLOG_SIZE), BACKLOG_MSGS);
    CU_ASSERT(wsc_expect_text(c2, "bye", 5000));
    uint8_t *m = NULL;
    int op = 0;
    CU_ASSERT(wsc_recv(c2, &m, &op, 5000) >= 0 && op == WSC_CLOSE);
    free(m);
    CU_ASSERT_EQUAL(tu_wait_eof(c2, 5000), 1);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_CLOSE, 5000) == 0);
    CU_ASSERT_EQUAL(bw.last.hdr.connection_id, id2);
    CU_ASSERT(wsc_quiet(c1, 100));

    /* The direct path met full sockets and handed the rest to lws; the lws
     * path never sends past lws, so its counter stays 0. */
    long long partials = metric("gateway_direct_partial_writes_total");
    if (strcmp(path, "lws") != 0) {
        CU_ASSERT(partials > partials0);
    } else {
        CU_ASSERT_EQUAL(partials, 0);
    }
    /* Without the ring nothing ever went through it. */
    if (!ring_used)
        CU_ASSERT_EQUAL(metric("gateway_uring_sends_total"), 0);

    tu_close(c1);
    tu_close(c2);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_CLOSE, 3000) == 0);
    CU_ASSERT_EQUAL(bw.last.hdr.connection_id, id1);
}

static void test_nothing_after_the_close_frame(void)
{
    for (int round = 0; round < 20; round++) {
        uint32_t id;
        int c = client(&id);
        /* The client closes; pushes for it keep coming right behind. */
        CU_ASSERT_FATAL(wsc_send(c, WSC_CLOSE, "\x03\xe8", 2) == 0);
        for (int i = 0; i < 50; i++)
            fakebw_cmd(&bw, GWP_CMD_SEND_TO_ONE, id, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, "late", 4);
        int closed = 0, after = 0;
        for (;;) {
            uint8_t *m = NULL;
            int op = 0;
            ssize_t r = wsc_recv(c, &m, &op, 5000);
            free(m);
            if (r < 0)
                break; /* EOF (or reset) */
            if (closed)
                after++;
            else if (op == WSC_CLOSE)
                closed = 1;
            else
                CU_ASSERT(op == WSC_TEXT);
        }
        CU_ASSERT(closed);
        CU_ASSERT_EQUAL(after, 0);
        CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_CLOSE, 5000) == 0);
        CU_ASSERT_EQUAL(bw.last.hdr.connection_id, id);
        tu_close(c);
    }
}

static void test_reset_while_backed_up(void)
{
    uint32_t id1, id2;
    int c1 = client(&id1), c2 = client(&id2);
    char *body = malloc(BACKLOG_SIZE);
    /* c2's writes back up (nobody reads it); c1 is read as the pushes go. */
    int ok1 = 0;
    char *want = malloc(BACKLOG_SIZE);
    for (int i = 0; i < 1000; i++) {
        backlog_msg(body, BACKLOG_SIZE, i);
        CU_ASSERT_FATAL(fakebw_cmd(&bw, GWP_CMD_SEND_TO_ALL, 0, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, body,
                                   BACKLOG_SIZE) == 0);
        uint8_t *m = NULL;
        int op = 0;
        ssize_t r = wsc_recv(c1, &m, &op, 5000);
        ok1 += r == BACKLOG_SIZE && memcmp(m, body, BACKLOG_SIZE) == 0;
        free(m);
        if (i == 500) { /* c2 resets its connection with writes pending */
            struct linger lg = {1, 0};
            setsockopt(c2, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            close(c2);
        }
    }
    free(body);
    free(want);
    CU_ASSERT_EQUAL(ok1, 1000);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_CLOSE, 5000) == 0);
    CU_ASSERT_EQUAL(bw.last.hdr.connection_id, id2);
    /* The gateway goes on: c1 still gets pushes. */
    fakebw_cmd(&bw, GWP_CMD_SEND_TO_ALL, 0, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, "still", 5);
    CU_ASSERT(wsc_expect_text(c1, "still", 3000));
    tu_close(c1);
    CU_ASSERT_FATAL(fakebw_wait(&bw, GWP_CMD_ON_CLOSE, 3000) == 0);
}

static void add_tests(CU_pSuite s)
{
    CU_add_test(s, "a backlog larger than the socket buffers arrives whole and in order; KICK after it",
                test_backlog_in_order_then_kick);
    CU_add_test(s, "nothing follows the close frame", test_nothing_after_the_close_frame);
    CU_add_test(s, "a client reset while its writes are backed up is closed; others unaffected",
                test_reset_while_backed_up);
}

int main(void)
{
    CU_initialize_registry();
    add_tests(CU_add_suite("clientWritePath=direct", start_direct, stop_all));
    add_tests(CU_add_suite("clientWritePath=lws (fallback)", start_lws, stop_all));
    add_tests(CU_add_suite("clientWritePath=uring", start_uring, stop_all));
    add_tests(CU_add_suite("clientWritePath=uring, GW_NO_IO_URING=1 (fallback to send())", start_uring_off, stop_all));
    return tu_run("test_gateway_write");
}
