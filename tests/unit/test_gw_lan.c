/* gateway/lan.c: the gateway's internal port, driven in-process — a struct
 * gateway with its settings and loop, lan_new on a listening socket of the
 * test, and fake business workers (tests/support/fakebw) connecting to it on
 * 127.0.0.1. No libwebsockets: client events are handed to lan_send_event
 * the way gateway/clients.c does, and the state engine is not needed (the
 * fake workers send nothing but WORKER_CONNECT).
 *
 * Routing (spec §7): sticky per client in every mode; leastConnections picks
 * the worker with the fewest bound clients, ties to the one that connected
 * first; client is deterministic in the connection id; random is uniform
 * but still sticky. The held queue (§6.5 C): events that find no worker wait,
 * in order, for the first worker that connects, and are dropped after
 * pendingTimeout or when pendingBufferSize is reached. */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakebw.h"
#include "gateway/gateway.h"
#include "gateway/lan.h"
#include "gwp.h"
#include "loop.h"
#include "sock.h"
#include "tu.h"

#define LOCALHOST 0x7f000001u
#define NW 3
#define NCLIENT 64
#define DEADLINE_MS 5000

struct lfx {
    struct gateway_cfg cfg;
    struct gateway gw;
    uint16_t port;
    struct fakebw w[NW];
    int nw;
    lan_route route[NCLIENT];
};

static void pump(struct lfx *f, int n)
{
    for (int i = 0; i < n; i++)
        ev_run(f->gw.loop, EVRUN_NOWAIT);
}

static int wait_workers(struct lfx *f, size_t k)
{
    int64_t until = loop_now_ms() + DEADLINE_MS;
    while (lan_worker_count(f->gw.lan) != k && loop_now_ms() < until) {
        pump(f, 1);
        usleep(500);
    }
    return lan_worker_count(f->gw.lan) == k;
}

static void lfx_up(struct lfx *f, const char *router, long pending_timeout, long pending_buffer)
{
    memset(f, 0, sizeof *f);
    for (int i = 0; i < NW; i++)
        f->w[i].fd = -1;
    f->cfg.secretKey = "";
    f->cfg.lanIp = "127.0.0.1"; /* no PING timer (§3.9) */
    f->cfg.router = (char *)router;
    f->cfg.maxPackageSize = 10485760;
    f->cfg.sendToWorkerBufferSize = 10240000;
    f->cfg.pendingTimeout = pending_timeout;
    f->cfg.pendingBufferSize = pending_buffer;
    f->gw.cfg = &f->cfg;
    f->gw.ioloop = loop_new();
    CU_ASSERT_FATAL(f->gw.ioloop != NULL);
    f->gw.loop = loop_ev(f->gw.ioloop);
    char err[128];
    int lfd = sock_listen("127.0.0.1", 0, 0, 64, err, sizeof err);
    CU_ASSERT_FATAL(lfd >= 0);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    f->port = ntohs(sa.sin_port);
    f->gw.lan_ip = LOCALHOST;
    f->gw.lan_port = f->port;
    f->gw.lan = lan_new(&f->gw, lfd);
    CU_ASSERT_FATAL(f->gw.lan != NULL);
}

static void lfx_down(struct lfx *f)
{
    for (int i = 0; i < NW; i++)
        if (f->w[i].fd >= 0)
            fakebw_close(&f->w[i]);
    lan_free(f->gw.lan);
    loop_free(f->gw.ioloop);
}

/* Worker i connects and is registered (in this order: ties go to it first). */
static void worker_up(struct lfx *f, int i)
{
    char key[32];
    snprintf(key, sizeof key, "bw:%d", i);
    CU_ASSERT_FATAL(fakebw_worker(&f->w[i], f->port, key, "") == 0);
    CU_ASSERT_FATAL(wait_workers(f, lan_worker_count(f->gw.lan) + 1));
}

static int event(struct lfx *f, uint8_t cmd, int client, const char *body)
{
    struct gwp_header h = {.local_ip = LOCALHOST,
                           .local_port = f->port,
                           .client_ip = 0x0a000001u,
                           .client_port = (uint16_t)(40000 + client),
                           .connection_id = (uint32_t)client,
                           .gateway_port = 8282};
    return lan_send_event(f->gw.lan, &f->route[client], cmd, &h, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, body,
                          body ? strlen(body) : 0);
}

/* Everything the gateway wrote is in the workers' sockets once the loop ran
 * its before-sleep phase (loopback delivers on write): read what is there,
 * without waiting. Frames are listed as (cmd, connection id, body). */
struct got {
    int n;
    uint8_t cmd[256];
    uint32_t conn[256];
    char body[256][16];
};

static void drain(struct fakebw *w, struct got *g)
{
    memset(g, 0, sizeof *g);
    for (;;) {
        uint8_t *p = buf_reserve(&w->in, 65536);
        ssize_t n = recv(w->fd, p, 65536, MSG_DONTWAIT);
        if (n <= 0)
            break;
        buf_commit(&w->in, (size_t)n);
    }
    struct gwp_frame fr;
    size_t used;
    while (buf_avail(&w->in) &&
           gwp_decode(buf_head(&w->in), buf_avail(&w->in), GWP_DEFAULT_MAX_PACK_LEN, &fr, &used, NULL, 0) == GWP_OK) {
        if (g->n < 256) {
            g->cmd[g->n] = fr.hdr.cmd;
            g->conn[g->n] = fr.hdr.connection_id;
            snprintf(g->body[g->n], sizeof g->body[0], "%.*s", (int)fr.body_len, (const char *)fr.body);
            g->n++;
        }
        buf_consume(&w->in, used);
    }
}

/* Which worker got each client's events: owner[client] = worker index, -1
 * none, -2 several. Returns the number of frames seen. */
static int owners(struct lfx *f, int *owner, int nclient)
{
    int total = 0;
    for (int c = 0; c < nclient; c++)
        owner[c] = -1;
    for (int i = 0; i < NW; i++) {
        if (f->w[i].fd < 0)
            continue;
        struct got g;
        drain(&f->w[i], &g);
        total += g.n;
        for (int k = 0; k < g.n; k++) {
            int c = (int)g.conn[k];
            if (c < nclient)
                owner[c] = owner[c] == -1 || owner[c] == i ? i : -2;
        }
    }
    return total;
}

/* leastConnections: clients spread 0,1,2,0,1,2 (ties to the first
 * connected); later events stick; a released client frees its slot; a
 * vanished worker's clients pick again. */
static void test_least_connections(void)
{
    struct lfx f;
    lfx_up(&f, "leastConnections", 30, 4194304);
    for (int i = 0; i < NW; i++)
        worker_up(&f, i);
    for (int c = 0; c < 6; c++)
        CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_CONNECT, c, NULL), 0);
    for (int c = 0; c < 6; c++)
        CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_MESSAGE, c, "m"), 0);
    pump(&f, 2);
    int owner[NCLIENT];
    CU_ASSERT_EQUAL(owners(&f, owner, 6), 12);
    for (int c = 0; c < 6; c++)
        CHECKF(owner[c] == c % NW, "client %d went to worker %d, want %d", c, owner[c], c % NW);

    /* Client 1 (on worker 1) leaves: worker 1 has the fewest, the next new
     * client goes there. */
    lan_route_release(f.gw.lan, &f.route[1]);
    CU_ASSERT_EQUAL(f.route[1], 0);
    CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_CONNECT, 6, NULL), 0);
    pump(&f, 2);
    CU_ASSERT_EQUAL(owners(&f, owner, 7), 1);
    CHECKF(owner[6] == 1, "client 6 went to worker %d, want 1", owner[6]);

    /* Worker 0 goes: its clients (0 and 3) pick again, among 1 and 2, and
     * stay there. */
    fakebw_close(&f.w[0]);
    CU_ASSERT_FATAL(wait_workers(&f, NW - 1));
    for (int round = 0; round < 3; round++) {
        CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_MESSAGE, 0, "x"), 0);
        CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_MESSAGE, 3, "x"), 0);
    }
    pump(&f, 2);
    CU_ASSERT_EQUAL(owners(&f, owner, 6), 6);
    CU_ASSERT(owner[0] == 1 || owner[0] == 2);
    CU_ASSERT(owner[3] == 1 || owner[3] == 2);
    lfx_down(&f);
}

/* client: the worker is a function of the connection id (ids equal modulo
 * the worker count share a worker, others do not), and sticky. */
static void test_client_router(void)
{
    struct lfx f;
    lfx_up(&f, "client", 30, 4194304);
    for (int i = 0; i < NW; i++)
        worker_up(&f, i);
    for (int c = 0; c < 12; c++)
        CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_CONNECT, c, NULL), 0);
    for (int c = 0; c < 12; c++)
        CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_MESSAGE, c, "m"), 0);
    pump(&f, 2);
    int owner[NCLIENT];
    CU_ASSERT_EQUAL(owners(&f, owner, 12), 24);
    for (int c = 0; c < 12; c++) {
        CHECKF(owner[c] >= 0, "client %d: owner %d", c, owner[c]);
        CHECKF(owner[c] == owner[c % NW], "client %d on worker %d, client %d on worker %d", c, owner[c], c % NW,
               owner[c % NW]);
    }
    CU_ASSERT(owner[0] != owner[1] && owner[1] != owner[2] && owner[0] != owner[2]);
    lfx_down(&f);
}

/* random: sticky per client; over 60 clients every worker gets some (the
 * chance that one gets none is 3 * (2/3)^60, about 1e-10). */
static void test_random_router_sticky(void)
{
    struct lfx f;
    lfx_up(&f, "random", 30, 4194304);
    for (int i = 0; i < NW; i++)
        worker_up(&f, i);
    for (int round = 0; round < 3; round++)
        for (int c = 0; c < 60; c++)
            CU_ASSERT_EQUAL(event(&f, round ? GWP_CMD_ON_MESSAGE : GWP_CMD_ON_CONNECT, c, "m"), 0);
    pump(&f, 2);
    int owner[NCLIENT], per[NW] = {0};
    CU_ASSERT_EQUAL(owners(&f, owner, 60), 180);
    for (int c = 0; c < 60; c++) {
        CHECKF(owner[c] >= 0, "client %d: events on several workers or none (%d)", c, owner[c]);
        if (owner[c] >= 0)
            per[owner[c]]++;
    }
    CU_ASSERT(per[0] && per[1] && per[2]);
    lfx_down(&f);
}

/* No worker: events are held, in order, and delivered to the first worker
 * that connects; the clients whose events were held stick to it. */
static void test_held_then_delivered(void)
{
    struct lfx f;
    lfx_up(&f, "leastConnections", 30, 4194304);
    CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_CONNECT, 1, NULL), 0);
    CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_MESSAGE, 1, "a"), 0);
    CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_CONNECT, 2, NULL), 0);
    CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_MESSAGE, 1, "b"), 0);
    CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_MESSAGE, 2, "c"), 0);
    pump(&f, 2);
    CU_ASSERT_EQUAL(lan_pending_count(f.gw.lan), 5);
    CU_ASSERT_EQUAL(lan_dropped_events(f.gw.lan), 0);
    worker_up(&f, 0);
    pump(&f, 2);
    CU_ASSERT_EQUAL(lan_pending_count(f.gw.lan), 0);
    struct got g;
    drain(&f.w[0], &g);
    CU_ASSERT_EQUAL_FATAL(g.n, 5);
    const uint8_t cmds[] = {GWP_CMD_ON_CONNECT, GWP_CMD_ON_MESSAGE, GWP_CMD_ON_CONNECT, GWP_CMD_ON_MESSAGE,
                            GWP_CMD_ON_MESSAGE};
    const uint32_t conns[] = {1, 1, 2, 1, 2};
    const char *bodies[] = {"", "a", "", "b", "c"};
    for (int k = 0; k < 5; k++) {
        CHECKF(g.cmd[k] == cmds[k] && g.conn[k] == conns[k] && strcmp(g.body[k], bodies[k]) == 0,
               "held event %d: cmd %u conn %u body '%s'", k, g.cmd[k], g.conn[k], g.body[k]);
    }
    lfx_down(&f);
}

/* The clients whose held events went to the first worker stay with it when
 * a second worker connects before their next event (a gateway's usual start:
 * clients first, then `count` workers within milliseconds); a new client
 * goes to the second one, which has none. */
static void test_held_clients_stay(void)
{
    struct lfx f;
    lfx_up(&f, "leastConnections", 30, 4194304);
    CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_CONNECT, 1, NULL), 0);
    CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_CONNECT, 2, NULL), 0);
    worker_up(&f, 0);
    pump(&f, 2);
    struct got g;
    drain(&f.w[0], &g);
    CU_ASSERT_EQUAL(g.n, 2);
    worker_up(&f, 1);
    CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_MESSAGE, 1, "d"), 0);
    CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_MESSAGE, 2, "e"), 0);
    CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_CONNECT, 3, NULL), 0);
    pump(&f, 2);
    int owner[NCLIENT];
    CU_ASSERT_EQUAL(owners(&f, owner, 4), 3);
    CHECKF(owner[1] == 0 && owner[2] == 0 && owner[3] == 1,
           "held clients 1, 2 on workers %d, %d (want 0, 0); new client 3 on %d (want 1)", owner[1], owner[2],
           owner[3]);
    lfx_down(&f);
}

/* The held queue is bounded by pendingBufferSize; pendingTimeout 0 holds
 * nothing. */
static void test_held_limits(void)
{
    struct lfx f;
    /* Room for two 29-byte frames (28-byte header + 1-byte body), not three. */
    lfx_up(&f, "leastConnections", 30, 60);
    CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_MESSAGE, 1, "a"), 0);
    CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_MESSAGE, 1, "b"), 0);
    CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_MESSAGE, 1, "c"), -1);
    CU_ASSERT_EQUAL(lan_pending_count(f.gw.lan), 2);
    CU_ASSERT_EQUAL(lan_dropped_events(f.gw.lan), 1);
    worker_up(&f, 0);
    pump(&f, 2);
    struct got g;
    drain(&f.w[0], &g);
    CU_ASSERT(g.n == 2 && strcmp(g.body[0], "a") == 0 && strcmp(g.body[1], "b") == 0);
    lfx_down(&f);

    lfx_up(&f, "leastConnections", 0, 4194304);
    CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_MESSAGE, 1, "a"), -1);
    CU_ASSERT_EQUAL(lan_pending_count(f.gw.lan), 0);
    CU_ASSERT_EQUAL(lan_dropped_events(f.gw.lan), 1);
    lfx_down(&f);
}

/* Held events older than pendingTimeout (1 s here) are dropped by the
 * gateway's 1 s timer; a worker that connects afterwards gets none of them. */
static void test_held_expire(void)
{
    struct lfx f;
    lfx_up(&f, "leastConnections", 1, 4194304);
    CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_CONNECT, 5, NULL), 0);
    CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_MESSAGE, 5, "old"), 0);
    CU_ASSERT_EQUAL(lan_pending_count(f.gw.lan), 2);
    int64_t until = loop_now_ms() + DEADLINE_MS;
    while (lan_pending_count(f.gw.lan) && loop_now_ms() < until) {
        pump(&f, 1);
        usleep(1000);
    }
    CU_ASSERT_EQUAL_FATAL(lan_pending_count(f.gw.lan), 0);
    worker_up(&f, 0);
    CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_MESSAGE, 6, "new"), 0);
    pump(&f, 2);
    struct got g;
    drain(&f.w[0], &g);
    CHECKF(g.n == 1 && g.conn[0] == 6 && strcmp(g.body[0], "new") == 0, "worker got %d frames, first conn %u '%s'",
           g.n, g.conn[0], g.body[0]);
    lfx_down(&f);
}

/* Many events for one worker in one iteration leave in one write: the worker
 * finds them all in its socket after a single loop iteration. */
static void test_events_batched(void)
{
    struct lfx f;
    lfx_up(&f, "leastConnections", 30, 4194304);
    worker_up(&f, 0);
    for (int c = 0; c < 50; c++)
        CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_MESSAGE, c, "z"), 0);
    struct got g;
    drain(&f.w[0], &g);
    CU_ASSERT_EQUAL(g.n, 0); /* queued, not written: the loop has not run */
    ev_run(f.gw.loop, EVRUN_NOWAIT);
    drain(&f.w[0], &g);
    CU_ASSERT_EQUAL(g.n, 50);
    for (int k = 0; k < g.n; k++)
        CU_ASSERT_EQUAL(g.conn[k], (uint32_t)k);
    lfx_down(&f);
}

static int worker_sees_eof(struct fakebw *w, struct lfx *f)
{
    int64_t until = loop_now_ms() + DEADLINE_MS;
    while (loop_now_ms() < until) {
        pump(f, 1);
        char c[256];
        ssize_t n = recv(w->fd, c, sizeof c, MSG_DONTWAIT);
        if (n == 0)
            return 1;
        if (n < 0)
            usleep(500);
    }
    return 0;
}

/* With a secret key: WORKER_CONNECT with a wrong key, or a command before
 * any WORKER_CONNECT, closes the link and registers no worker; held events
 * stay held for a worker with the right key. */
static void test_auth(void)
{
    struct lfx f;
    lfx_up(&f, "leastConnections", 30, 4194304);
    f.cfg.secretKey = "k";
    CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_MESSAGE, 1, "held"), 0);
    CU_ASSERT_FATAL(fakebw_worker(&f.w[0], f.port, "bw:0", "wrong") == 0);
    CU_ASSERT(worker_sees_eof(&f.w[0], &f));
    CU_ASSERT_FATAL(fakebw_client(&f.w[1], f.port, NULL) == 0);
    CU_ASSERT(fakebw_cmd(&f.w[1], GWP_CMD_SEND_TO_ALL, 0, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, "x", 1) == 0);
    CU_ASSERT(worker_sees_eof(&f.w[1], &f));
    CU_ASSERT_EQUAL(lan_worker_count(f.gw.lan), 0);
    CU_ASSERT_EQUAL(lan_pending_count(f.gw.lan), 1);
    fakebw_close(&f.w[0]);
    fakebw_close(&f.w[1]);
    CU_ASSERT_FATAL(fakebw_worker(&f.w[2], f.port, "bw:2", "k") == 0);
    CU_ASSERT_FATAL(wait_workers(&f, 1));
    pump(&f, 2);
    struct got g;
    drain(&f.w[2], &g);
    CU_ASSERT(g.n == 1 && strcmp(g.body[0], "held") == 0);
    lfx_down(&f);
}

/* The same worker key connecting again (a worker process restarted): the
 * old link is closed, the count stays one, events go to the new link. */
static void test_same_worker_key_replaces(void)
{
    struct lfx f;
    lfx_up(&f, "leastConnections", 30, 4194304);
    worker_up(&f, 0);
    CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_CONNECT, 1, NULL), 0);
    pump(&f, 2);
    struct got g;
    drain(&f.w[0], &g);
    CU_ASSERT_EQUAL(g.n, 1);
    CU_ASSERT_FATAL(fakebw_worker(&f.w[1], f.port, "bw:0", "") == 0);
    CU_ASSERT(worker_sees_eof(&f.w[0], &f));
    CU_ASSERT_EQUAL(lan_worker_count(f.gw.lan), 1);
    CU_ASSERT_EQUAL(event(&f, GWP_CMD_ON_MESSAGE, 1, "after"), 0);
    pump(&f, 2);
    drain(&f.w[1], &g);
    CHECKF(g.n == 1 && g.conn[0] == 1 && strcmp(g.body[0], "after") == 0, "new link got %d frames", g.n);
    lfx_down(&f);
}

/* A worker that reads nothing: once its queue passes
 * sendToWorkerBufferSize further events are dropped and counted. */
static void test_worker_send_buffer_full(void)
{
    struct lfx f;
    lfx_up(&f, "leastConnections", 30, 4194304);
    f.cfg.sendToWorkerBufferSize = 65536;
    worker_up(&f, 0);
    static char body[8192];
    memset(body, 'w', sizeof body - 1);
    int r = 0, sent = 0;
    for (int i = 0; i < 100000 && r == 0; i++) {
        r = event(&f, GWP_CMD_ON_MESSAGE, 1, body);
        if (r == 0)
            sent++;
        pump(&f, 1);
    }
    CU_ASSERT_EQUAL(r, -1);
    CU_ASSERT_EQUAL(lan_dropped_events(f.gw.lan), 1);
    CU_ASSERT(sent > 8); /* the socket took some before the queue filled */
    lfx_down(&f);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("gateway lan", NULL, NULL);
    CU_add_test(s, "router leastConnections: spread, sticky, release, worker loss", test_least_connections);
    CU_add_test(s, "router client: by connection id, sticky", test_client_router);
    CU_add_test(s, "router random: sticky", test_random_router_sticky);
    CU_add_test(s, "held events delivered in order to the first worker", test_held_then_delivered);
    CU_add_test(s, "held clients stay with the worker that took them", test_held_clients_stay);
    CU_add_test(s, "held queue: pendingBufferSize, pendingTimeout 0", test_held_limits);
    CU_add_test(s, "held events expire after pendingTimeout", test_held_expire);
    CU_add_test(s, "secret key: wrong key / no hello closes, no worker", test_auth);
    CU_add_test(s, "the same worker key replaces its old link", test_same_worker_key_replaces);
    CU_add_test(s, "sendToWorkerBufferSize: events dropped", test_worker_send_buffer_full);
    CU_add_test(s, "events for one worker leave in one loop iteration", test_events_batched);
    return tu_run("test_gw_lan");
}
