/* business/query.c: the query API's request connections against fake
 * gateways on 127.0.0.1.
 *
 * query_run blocks the calling thread (as PHP's worker does), so the fake
 * gateways run in a thread of their own: one poll loop over their listening
 * sockets and accepted connections, answering each command frame with the
 * reply it is told to give (u32 length + PHP serialize), or never. */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "business/bw.h"
#include "business/query.h"
#include "buf.h"
#include "clientid.h"
#include "gwp.h"
#include "loop.h"
#include "sock.h"
#include "tu.h"

#define LOCALHOST 0x7f000001u
#define MAXC 8

/* One fake gateway. Fields below `mu` are shared with the test thread. */
struct fgw {
    int lfd;
    uint16_t port;
    struct {
        int fd;
        struct buf in;
        int frames;
        uint8_t first[GWP_HEADER_LEN + 64]; /* the connection's first frame */
        size_t first_len;
        int eof;
    } c[MAXC];
    int nconn;              /* accepted so far */
    const char *reply;      /* answer to every command frame; NULL: never answer */
    int commands;           /* command frames seen (auth frames not counted) */
    uint8_t last_cmd;
    uint32_t last_conn_id;
    char last_ext[64];
};

struct peers {
    struct fgw *g[4];
    int n;
    int stop;
    pthread_mutex_t mu;
    pthread_t th;
};

static void fgw_serve_conn(struct fgw *g, int i)
{
    uint8_t *p = buf_reserve(&g->c[i].in, 4096);
    ssize_t n = p ? read(g->c[i].fd, p, 4096) : -1;
    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            g->c[i].eof = 1;
            close(g->c[i].fd);
            g->c[i].fd = -1;
        }
        return;
    }
    buf_commit(&g->c[i].in, (size_t)n);
    struct gwp_frame fr;
    size_t used;
    while (buf_avail(&g->c[i].in) && gwp_decode(buf_head(&g->c[i].in), buf_avail(&g->c[i].in),
                                                GWP_DEFAULT_MAX_PACK_LEN, &fr, &used, NULL, 0) == GWP_OK) {
        if (g->c[i].frames++ == 0 && used <= sizeof g->c[i].first) {
            memcpy(g->c[i].first, buf_head(&g->c[i].in), used);
            g->c[i].first_len = used;
        }
        if (fr.hdr.cmd != GWP_CMD_GATEWAY_CLIENT_CONNECT) {
            g->commands++;
            g->last_cmd = fr.hdr.cmd;
            g->last_conn_id = fr.hdr.connection_id;
            snprintf(g->last_ext, sizeof g->last_ext, "%.*s", (int)fr.ext_len, (const char *)fr.ext);
            if (g->reply) {
                struct buf out = {0};
                gwp_reply_encode(&out, g->reply, strlen(g->reply));
                send(g->c[i].fd, buf_head(&out), buf_avail(&out), MSG_NOSIGNAL);
                buf_free(&out);
            }
        }
        buf_consume(&g->c[i].in, used);
    }
}

static void *peers_main(void *arg)
{
    struct peers *ps = arg;
    struct pollfd pf[4 * (MAXC + 1)];
    struct {
        struct fgw *g;
        int conn; /* -1: the listening socket */
    } who[4 * (MAXC + 1)];
    for (;;) {
        pthread_mutex_lock(&ps->mu);
        int stop = ps->stop, n = 0;
        for (int k = 0; k < ps->n; k++) {
            struct fgw *g = ps->g[k];
            pf[n] = (struct pollfd){.fd = g->lfd, .events = POLLIN};
            who[n].g = g;
            who[n++].conn = -1;
            for (int i = 0; i < g->nconn; i++)
                if (g->c[i].fd >= 0) {
                    pf[n] = (struct pollfd){.fd = g->c[i].fd, .events = POLLIN};
                    who[n].g = g;
                    who[n++].conn = i;
                }
        }
        pthread_mutex_unlock(&ps->mu);
        if (stop)
            return NULL;
        if (poll(pf, (nfds_t)n, 5) <= 0)
            continue;
        pthread_mutex_lock(&ps->mu);
        for (int k = 0; k < n; k++) {
            if (!pf[k].revents)
                continue;
            struct fgw *g = who[k].g;
            if (who[k].conn >= 0) {
                fgw_serve_conn(g, who[k].conn);
            } else if (g->nconn < MAXC) {
                char ip[48];
                uint16_t port;
                int fd = sock_accept(g->lfd, ip, sizeof ip, &port);
                if (fd >= 0) {
                    memset(&g->c[g->nconn], 0, sizeof g->c[0]);
                    g->c[g->nconn++].fd = fd;
                }
            }
        }
        pthread_mutex_unlock(&ps->mu);
    }
}

static uint16_t listen_any(int *lfd)
{
    char err[128];
    *lfd = sock_listen("127.0.0.1", 0, 0, 16, err, sizeof err);
    CU_ASSERT_FATAL(*lfd >= 0);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    getsockname(*lfd, (struct sockaddr *)&sa, &sl);
    return ntohs(sa.sin_port);
}

static struct fgw *fgw_new(const char *reply)
{
    struct fgw *g = calloc(1, sizeof *g);
    g->port = listen_any(&g->lfd);
    g->reply = reply;
    return g;
}

static void fgw_free(struct fgw *g)
{
    for (int i = 0; i < g->nconn; i++) {
        if (g->c[i].fd >= 0)
            close(g->c[i].fd);
        buf_free(&g->c[i].in);
    }
    close(g->lfd);
    free(g);
}

static void peers_start(struct peers *ps)
{
    pthread_mutex_init(&ps->mu, NULL);
    CU_ASSERT_FATAL(pthread_create(&ps->th, NULL, peers_main, ps) == 0);
}

static void peers_stop(struct peers *ps)
{
    pthread_mutex_lock(&ps->mu);
    ps->stop = 1;
    pthread_mutex_unlock(&ps->mu);
    pthread_join(ps->th, NULL);
    for (int k = 0; k < ps->n; k++)
        fgw_free(ps->g[k]);
    pthread_mutex_destroy(&ps->mu);
}

/* Waits (deadline 5 s) until conn i of g was closed by the worker. */
static int wait_eof(struct peers *ps, struct fgw *g, int i)
{
    int64_t until = loop_now_ms() + 5000;
    for (;;) {
        pthread_mutex_lock(&ps->mu);
        int eof = i < g->nconn && g->c[i].eof;
        pthread_mutex_unlock(&ps->mu);
        if (eof || loop_now_ms() >= until)
            return eof;
        usleep(1000);
    }
}

struct qfx {
    struct business_cfg cfg;
    struct bw bw;
    msgpack_zone zone;
};

static void qfx_up(struct qfx *f, const char *secret)
{
    memset(f, 0, sizeof *f);
    f->cfg.secretKey = (char *)secret;
    f->bw.cfg = &f->cfg;
    f->bw.query = query_new(&f->bw);
    CU_ASSERT_FATAL(f->bw.query != NULL);
    msgpack_zone_init(&f->zone, 4096);
}

static void qfx_down(struct qfx *f)
{
    query_free(f->bw.query);
    msgpack_zone_destroy(&f->zone);
}

static struct query_target target(uint16_t port) { return (struct query_target){.ip = LOCALHOST, .port = port}; }

static int auth_frame_is(const uint8_t *p, size_t n, const char *secret)
{
    struct buf want = {0};
    query_auth_frame(&want, secret);
    int same = buf_avail(&want) == n && memcmp(buf_head(&want), p, n) == 0;
    buf_free(&want);
    return same;
}

/* query_auth_frame: GATEWAY_CLIENT_CONNECT {"secret_key":KEY}, nothing
 * without a key. */
static void test_auth_frame_bytes(void)
{
    struct buf b = {0};
    CU_ASSERT_EQUAL(query_auth_frame(&b, ""), 0);
    CU_ASSERT_EQUAL(query_auth_frame(&b, NULL), 0);
    CU_ASSERT_EQUAL(buf_avail(&b), 0);
    CU_ASSERT_EQUAL(query_auth_frame(&b, "k/1"), 0);
    struct gwp_frame fr;
    size_t used;
    CU_ASSERT_FATAL(gwp_decode(buf_head(&b), buf_avail(&b), GWP_DEFAULT_MAX_PACK_LEN, &fr, &used, NULL, 0) == GWP_OK);
    CU_ASSERT_EQUAL(used, buf_avail(&b));
    CU_ASSERT_EQUAL(fr.hdr.cmd, GWP_CMD_GATEWAY_CLIENT_CONNECT);
    CU_ASSERT_EQUAL(fr.hdr.flag, GWP_FLAG_BODY_IS_SCALAR);
    CU_ASSERT_EQUAL(fr.ext_len, 0);
    const char want[] = "{\"secret_key\":\"k\\/1\"}"; /* '/' escaped as PHP's json_encode does */
    CHECKF(fr.body_len == strlen(want) && memcmp(fr.body, want, fr.body_len) == 0, "auth body %.*s",
           (int)fr.body_len, (const char *)fr.body);
    buf_free(&b);
}

/* Every gateway answers: replies decoded into the zone, ok flags set, the
 * request carries cmd, connection id and ext; with a secret key the fresh
 * connection starts with the auth frame. */
static void test_all_answer(void)
{
    struct qfx f;
    qfx_up(&f, "sk");
    struct peers ps = {.n = 2};
    ps.g[0] = fgw_new("i:5;");
    ps.g[1] = fgw_new("a:1:{s:1:\"x\";s:2:\"yz\";}");
    peers_start(&ps);
    struct query_target t[2] = {target(ps.g[0]->port), target(ps.g[1]->port)};
    int r = query_run(f.bw.query, t, 2, GWP_CMD_GET_CLIENT_COUNT_BY_GROUP, 77, "grp", 3, &f.zone);
    CU_ASSERT_EQUAL(r, 2);
    CU_ASSERT(t[0].ok && t[1].ok);
    CU_ASSERT(t[0].reply.type == MSGPACK_OBJECT_POSITIVE_INTEGER && t[0].reply.via.u64 == 5);
    CU_ASSERT_FATAL(t[1].reply.type == MSGPACK_OBJECT_MAP && t[1].reply.via.map.size == 1);
    msgpack_object_kv *kv = t[1].reply.via.map.ptr;
    CU_ASSERT(kv[0].key.type == MSGPACK_OBJECT_STR && kv[0].key.via.str.size == 1 && kv[0].key.via.str.ptr[0] == 'x');
    CU_ASSERT(kv[0].val.type == MSGPACK_OBJECT_STR && kv[0].val.via.str.size == 2 &&
              memcmp(kv[0].val.via.str.ptr, "yz", 2) == 0);
    const struct gw_query_info *qi = query_last(f.bw.query);
    CU_ASSERT(qi->asked == 2 && qi->answered == 2 && qi->n_missing == 0);
    pthread_mutex_lock(&ps.mu);
    for (int k = 0; k < 2; k++) {
        struct fgw *g = ps.g[k];
        CU_ASSERT_EQUAL(g->nconn, 1);
        CU_ASSERT_EQUAL(g->commands, 1);
        CU_ASSERT_EQUAL(g->last_cmd, GWP_CMD_GET_CLIENT_COUNT_BY_GROUP);
        CU_ASSERT_EQUAL(g->last_conn_id, 77);
        CU_ASSERT_STRING_EQUAL(g->last_ext, "grp");
        CHECKF(auth_frame_is(g->c[0].first, g->c[0].first_len, "sk"), "gateway %d: first frame is not the auth frame",
               k);
        CU_ASSERT_EQUAL(g->c[0].frames, 2);
    }
    pthread_mutex_unlock(&ps.mu);
    peers_stop(&ps);
    qfx_down(&f);
}

/* Without a secret key the command is the first frame. */
static void test_no_secret_no_auth(void)
{
    struct qfx f;
    qfx_up(&f, "");
    struct peers ps = {.n = 1};
    ps.g[0] = fgw_new("b:1;");
    peers_start(&ps);
    struct query_target t = target(ps.g[0]->port);
    CU_ASSERT_EQUAL(query_run(f.bw.query, &t, 1, GWP_CMD_IS_ONLINE, 3, NULL, 0, &f.zone), 1);
    CU_ASSERT(t.ok && t.reply.type == MSGPACK_OBJECT_BOOLEAN && t.reply.via.boolean);
    pthread_mutex_lock(&ps.mu);
    CU_ASSERT_EQUAL(ps.g[0]->c[0].frames, 1);
    struct gwp_header h;
    gwp_header_unpack(&h, ps.g[0]->c[0].first);
    CU_ASSERT_EQUAL(h.cmd, GWP_CMD_IS_ONLINE);
    pthread_mutex_unlock(&ps.mu);
    peers_stop(&ps);
    qfx_down(&f);
}

/* One answers, one never does (the 5 s overall limit), one refuses the
 * connection: ok only for the first, the others listed as missing. The
 * silent one's reply, sent after the query gave up, must not answer the next
 * query: its connection was closed, the next query opens a new one and reads
 * the right reply. The answering one's connection is reused. */
static void test_silent_refused_and_late_reply(void)
{
    struct qfx f;
    qfx_up(&f, "sk");
    struct peers ps = {.n = 2};
    ps.g[0] = fgw_new("s:2:\"ok\";");
    ps.g[1] = fgw_new(NULL); /* silent */
    int refused_port = tu_free_port();
    CU_ASSERT_FATAL(refused_port > 0);
    peers_start(&ps);
    struct query_target t[3] = {target(ps.g[0]->port), target(ps.g[1]->port), target((uint16_t)refused_port)};
    int r = query_run(f.bw.query, t, 3, GWP_CMD_GET_ALL_CLIENT_SESSIONS, 0, NULL, 0, &f.zone);
    CU_ASSERT_EQUAL(r, 1);
    CU_ASSERT(t[0].ok && t[0].reply.type == MSGPACK_OBJECT_STR && t[0].reply.via.str.size == 2);
    CU_ASSERT(!t[1].ok && t[1].reply.type == MSGPACK_OBJECT_NIL);
    CU_ASSERT(!t[2].ok && t[2].reply.type == MSGPACK_OBJECT_NIL);
    const struct gw_query_info *qi = query_last(f.bw.query);
    CU_ASSERT(qi->asked == 3 && qi->answered == 1 && qi->n_missing == 2);
    char a1[CLIENTID_ADDR_MAX], a2[CLIENTID_ADDR_MAX];
    clientid_gateway_address(LOCALHOST, ps.g[1]->port, a1, sizeof a1);
    clientid_gateway_address(LOCALHOST, (uint16_t)refused_port, a2, sizeof a2);
    CU_ASSERT_FATAL(qi->missing[0] && qi->missing[1]);
    CU_ASSERT_STRING_EQUAL(qi->missing[0], a1);
    CU_ASSERT_STRING_EQUAL(qi->missing[1], a2);

    /* The silent gateway answers now, too late, on the query's connection:
     * the worker closed it when the query gave up. */
    pthread_mutex_lock(&ps.mu);
    if (ps.g[1]->c[0].fd >= 0) {
        struct buf late = {0};
        gwp_reply_encode(&late, "s:4:\"late\";", 11);
        send(ps.g[1]->c[0].fd, buf_head(&late), buf_avail(&late), MSG_NOSIGNAL);
        buf_free(&late);
    }
    pthread_mutex_unlock(&ps.mu);
    CU_ASSERT(wait_eof(&ps, ps.g[1], 0));
    /* From now on it answers. */
    pthread_mutex_lock(&ps.mu);
    CU_ASSERT_EQUAL(ps.g[1]->commands, 1);
    ps.g[1]->reply = "s:6:\"second\";";
    pthread_mutex_unlock(&ps.mu);

    msgpack_zone_clear(&f.zone);
    struct query_target t2[2] = {target(ps.g[0]->port), target(ps.g[1]->port)};
    r = query_run(f.bw.query, t2, 2, GWP_CMD_GET_ALL_CLIENT_SESSIONS, 0, NULL, 0, &f.zone);
    CU_ASSERT_EQUAL(r, 2);
    CU_ASSERT(t2[1].ok && t2[1].reply.type == MSGPACK_OBJECT_STR && t2[1].reply.via.str.size == 6 &&
              memcmp(t2[1].reply.via.str.ptr, "second", 6) == 0);
    pthread_mutex_lock(&ps.mu);
    CU_ASSERT_EQUAL(ps.g[1]->nconn, 2); /* a new connection, authenticated again */
    CU_ASSERT(auth_frame_is(ps.g[1]->c[1].first, ps.g[1]->c[1].first_len, "sk"));
    CU_ASSERT_EQUAL(ps.g[0]->nconn, 1); /* reused: no second accept, no second auth */
    CU_ASSERT_EQUAL(ps.g[0]->c[0].frames, 3);
    CU_ASSERT_EQUAL(ps.g[0]->commands, 2);
    pthread_mutex_unlock(&ps.mu);
    peers_stop(&ps);
    qfx_down(&f);
}

/* Cached connections are reused until idle for 50 s; query_tick (driven
 * with a future now) closes them, and the next query connects again. */
static void test_idle_cache(void)
{
    struct qfx f;
    qfx_up(&f, "sk");
    struct peers ps = {.n = 1};
    ps.g[0] = fgw_new("i:1;");
    peers_start(&ps);
    struct query_target t = target(ps.g[0]->port);
    CU_ASSERT_EQUAL(query_run(f.bw.query, &t, 1, GWP_CMD_IS_ONLINE, 1, NULL, 0, &f.zone), 1);
    int64_t t0 = loop_now_ms();
    query_tick(f.bw.query, t0 + 40000);
    CU_ASSERT_EQUAL(query_run(f.bw.query, &t, 1, GWP_CMD_IS_ONLINE, 2, NULL, 0, &f.zone), 1);
    pthread_mutex_lock(&ps.mu);
    CU_ASSERT_EQUAL(ps.g[0]->nconn, 1);
    CU_ASSERT_EQUAL(ps.g[0]->commands, 2);
    pthread_mutex_unlock(&ps.mu);
    query_tick(f.bw.query, loop_now_ms() + 50000);
    CU_ASSERT(wait_eof(&ps, ps.g[0], 0));
    CU_ASSERT_EQUAL(query_run(f.bw.query, &t, 1, GWP_CMD_IS_ONLINE, 3, NULL, 0, &f.zone), 1);
    pthread_mutex_lock(&ps.mu);
    CU_ASSERT_EQUAL(ps.g[0]->nconn, 2);
    CU_ASSERT(auth_frame_is(ps.g[0]->c[1].first, ps.g[0]->c[1].first_len, "sk"));
    CU_ASSERT_EQUAL(ps.g[0]->last_conn_id, 3);
    pthread_mutex_unlock(&ps.mu);
    peers_stop(&ps);
    qfx_down(&f);
}

/* A cached connection the gateway closed meanwhile is not used: the query
 * connects again instead of failing. */
static void test_cached_connection_closed_by_gateway(void)
{
    struct qfx f;
    qfx_up(&f, "");
    struct peers ps = {.n = 1};
    ps.g[0] = fgw_new("i:1;");
    peers_start(&ps);
    struct query_target t = target(ps.g[0]->port);
    CU_ASSERT_EQUAL(query_run(f.bw.query, &t, 1, GWP_CMD_IS_ONLINE, 1, NULL, 0, &f.zone), 1);
    pthread_mutex_lock(&ps.mu);
    shutdown(ps.g[0]->c[0].fd, SHUT_RDWR);
    pthread_mutex_unlock(&ps.mu);
    CU_ASSERT(wait_eof(&ps, ps.g[0], 0));
    CU_ASSERT_EQUAL(query_run(f.bw.query, &t, 1, GWP_CMD_IS_ONLINE, 2, NULL, 0, &f.zone), 1);
    CU_ASSERT(t.ok);
    pthread_mutex_lock(&ps.mu);
    CU_ASSERT_EQUAL(ps.g[0]->nconn, 2);
    pthread_mutex_unlock(&ps.mu);
    peers_stop(&ps);
    qfx_down(&f);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("business query", NULL, NULL);
    CU_add_test(s, "query_auth_frame bytes", test_auth_frame_bytes);
    CU_add_test(s, "all answer: replies decoded, auth frame first", test_all_answer);
    CU_add_test(s, "no secret key: no auth frame", test_no_secret_no_auth);
    CU_add_test(s, "silent + refused gateways; a late reply never answers the next query",
                test_silent_refused_and_late_reply);
    CU_add_test(s, "cached connections reused, closed by query_tick after idleness", test_idle_cache);
    CU_add_test(s, "a cached connection closed by the gateway is replaced", test_cached_connection_closed_by_gateway);
    return tu_run("test_bw_query");
}
