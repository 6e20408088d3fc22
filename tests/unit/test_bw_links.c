/* business/links.c + business/events.c: one business worker's gateway links
 * against a fake gateway (a listening socket of the test on 127.0.0.1).
 *
 * The worker is set up as business/main.c does it (settings, loop, links,
 * query, api_bind, an application table defined here), without the register:
 * the test hands the address set to links_set_addresses itself. The loop is
 * run until the awaited condition holds, with a deadline, so a bug fails a
 * check instead of hanging the test. */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "business/api.h"
#include "business/bw.h"
#include "business/events.h"
#include "business/links.h"
#include "business/query.h"
#include "clientid.h"
#include "gwp.h"
#include "loop.h"
#include "sock.h"
#include "tu.h"

#define LOCALHOST 0x7f000001u
#define DEADLINE_MS 5000

/* ---- the application: records what it saw, acts on the message text ---- */

struct seen {
    int connects, closes, messages;
    char client_id[CLIENTID_LEN + 1];
    char data[256];
    size_t len;
    int loaded_at_entry;     /* bw.ctx.session_loaded when "get" began */
    int loaded_after;        /* ... and after it read the session */
    int session_a;           /* the session's "a" (an int), -1 when absent */
};

static struct seen seen;
static struct bw *the_bw;
static int close_sets_session; /* on_close changes the session (never written back) */

static void note_session_a(void)
{
    const msgpack_object *a = gw_session_get("a");
    seen.session_a = a && a->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int)a->via.u64 : -1;
}

static int app_on_connect(const char *client_id)
{
    seen.connects++;
    snprintf(seen.client_id, sizeof seen.client_id, "%s", client_id);
    return 0;
}

static int app_on_close(const char *client_id)
{
    seen.closes++;
    snprintf(seen.client_id, sizeof seen.client_id, "%s", client_id);
    if (close_sets_session)
        gw_session_set_int("closed", 1);
    return 0;
}

/* "echo:X" replies "re:X"; "get" reads the session's "a"; "set:N" sets a=N;
 * "mark:X" replies X (to show where a frame would have been). */
static int app_on_message(const char *client_id, const char *data, size_t len)
{
    int loaded_at_entry = the_bw->ctx.session_loaded;
    seen.messages++;
    snprintf(seen.client_id, sizeof seen.client_id, "%s", client_id);
    seen.len = len < sizeof seen.data ? len : sizeof seen.data - 1;
    memcpy(seen.data, data, seen.len);
    seen.data[seen.len] = 0;
    if (strncmp(data, "echo:", 5) == 0) {
        char re[300];
        int n = snprintf(re, sizeof re, "re:%s", data + 5);
        return gw_send_to_current_client(re, (size_t)n, 0);
    }
    if (strcmp(data, "get") == 0) {
        seen.loaded_at_entry = loaded_at_entry;
        note_session_a();
        seen.loaded_after = the_bw->ctx.session_loaded;
        return 0;
    }
    if (strncmp(data, "set:", 4) == 0) {
        note_session_a();
        return gw_session_set_int("a", atoi(data + 4));
    }
    if (strncmp(data, "mark:", 5) == 0)
        return gw_send_to_current_client(data + 5, len - 5, 0);
    return 0;
}

static const struct gw_app app = {
    .api_version = GW_API_VERSION,
    .on_connect = app_on_connect,
    .on_message = app_on_message,
    .on_close = app_on_close,
};

/* ---- the fixture: a worker and a fake gateway with one accepted link ---- */

struct fx {
    struct business_cfg cfg;
    struct bw bw;
    int lfd;             /* the fake gateway's listening socket */
    uint16_t port;
    char addr[32];
    int gfd;             /* the accepted worker link, gateway side */
    struct buf in;       /* what the gateway read from it */
    size_t used;         /* bytes of `in` the last gw_next frame holds */
};

/* One loop iteration without blocking, then a short wait for any socket. */
static void pump(struct fx *f)
{
    ev_run(loop_ev(f->bw.loop), EVRUN_NOWAIT);
    struct pollfd p = {.fd = f->gfd >= 0 ? f->gfd : f->lfd, .events = POLLIN};
    poll(&p, 1, 1);
}

static int gw_accept(struct fx *f, int timeout_ms)
{
    int64_t until = loop_now_ms() + timeout_ms;
    char ip[48];
    uint16_t port;
    while (loop_now_ms() < until) {
        int fd = sock_accept(f->lfd, ip, sizeof ip, &port);
        if (fd >= 0)
            return fd;
        pump(f);
    }
    return -1;
}

/* Reads from the gateway side until a whole frame is there; *fr points into
 * f->in until the next call. 0, -1 on timeout, -2 on EOF. */
static int gw_next(struct fx *f, struct gwp_frame *fr)
{
    buf_consume(&f->in, f->used);
    f->used = 0;
    int64_t until = loop_now_ms() + DEADLINE_MS;
    for (;;) {
        size_t used;
        if (buf_avail(&f->in) &&
            gwp_decode(buf_head(&f->in), buf_avail(&f->in), GWP_DEFAULT_MAX_PACK_LEN, fr, &used, NULL, 0) == GWP_OK) {
            f->used = used;
            return 0;
        }
        if (loop_now_ms() >= until)
            return -1;
        uint8_t *p = buf_reserve(&f->in, 65536);
        ssize_t n = read(f->gfd, p, 65536);
        if (n == 0)
            return -2;
        if (n > 0)
            buf_commit(&f->in, (size_t)n);
        else
            pump(f);
    }
}

static void gw_drop_input(struct fx *f)
{
    buf_reset(&f->in);
    f->used = 0;
}

static int gw_write(struct fx *f, const void *p, size_t n) { return tu_write_all(f->gfd, p, n); }

/* One event frame from the gateway, as lan.c would send it. */
static void gw_event(struct fx *f, uint8_t cmd, uint32_t conn_id, const char *ext, const char *body)
{
    struct buf b = {0};
    struct gwp_header h = {.cmd = cmd,
                           .local_ip = LOCALHOST,
                           .local_port = f->port,
                           .client_ip = 0x0a000005u,
                           .client_port = 50000,
                           .connection_id = conn_id,
                           .flag = GWP_FLAG_BODY_IS_SCALAR,
                           .gateway_port = 8282};
    CU_ASSERT_FATAL(gwp_encode(&b, &h, ext, ext ? strlen(ext) : 0, body, body ? strlen(body) : 0) == 0);
    CU_ASSERT(gw_write(f, buf_head(&b), buf_avail(&b)) == 0);
    buf_free(&b);
}

/* Runs the loop until cond(f) or the deadline; returns cond's last value. */
static int run_until(struct fx *f, int (*cond)(struct fx *))
{
    int64_t until = loop_now_ms() + DEADLINE_MS;
    while (!cond(f) && loop_now_ms() < until)
        pump(f);
    return cond(f);
}

static int one_link_up(struct fx *f) { return links_up(f->bw.links) == 1; }

static void expect_worker_connect(struct fx *f)
{
    struct gwp_frame fr;
    CU_ASSERT_FATAL(gw_next(f, &fr) == 0);
    CHECKF(fr.hdr.cmd == GWP_CMD_WORKER_CONNECT, "first frame is command %u, want WORKER_CONNECT", fr.hdr.cmd);
    const char want[] = "{\"worker_key\":\"bwtest:0\",\"secret_key\":\"s3cret\"}";
    CHECKF(fr.body_len == strlen(want) && memcmp(fr.body, want, fr.body_len) == 0, "WORKER_CONNECT body %.*s",
           (int)fr.body_len, (const char *)fr.body);
    CU_ASSERT(fr.hdr.flag & GWP_FLAG_BODY_IS_SCALAR);
    CU_ASSERT_EQUAL(fr.ext_len, 0);
}

static void fx_up(struct fx *f, long send_buffer)
{
    memset(f, 0, sizeof *f);
    memset(&seen, 0, sizeof seen);
    close_sets_session = 0;
    f->gfd = -1;
    f->cfg.secretKey = "s3cret";
    f->cfg.slowCallbackMs = 500;
    f->cfg.sendToGatewayBufferSize = send_buffer;
    f->cfg.common.name = "bwtest";
    f->bw.cfg = &f->cfg;
    snprintf(f->bw.worker_key, sizeof f->bw.worker_key, "%s:%d", f->cfg.common.name, 0);
    msgpack_zone_init(&f->bw.ctx.zone, 4096);
    f->bw.app = &app;
    the_bw = &f->bw;
    f->bw.loop = loop_new();
    CU_ASSERT_FATAL(f->bw.loop != NULL);
    f->bw.links = links_new(&f->bw);
    f->bw.query = query_new(&f->bw);
    CU_ASSERT_FATAL(f->bw.links && f->bw.query);
    api_bind(&f->bw);
    char err[128];
    f->lfd = sock_listen("127.0.0.1", 0, 0, 16, err, sizeof err);
    CU_ASSERT_FATAL(f->lfd >= 0);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    getsockname(f->lfd, (struct sockaddr *)&sa, &sl);
    f->port = ntohs(sa.sin_port);
    snprintf(f->addr, sizeof f->addr, "127.0.0.1:%u", f->port);
    char *addrs[] = {f->addr};
    links_set_addresses(f->bw.links, addrs, 1);
    CU_ASSERT_EQUAL(links_count(f->bw.links), 1);
    f->gfd = gw_accept(f, DEADLINE_MS);
    CU_ASSERT_FATAL(f->gfd >= 0);
    CU_ASSERT(run_until(f, one_link_up));
}

static void fx_down(struct fx *f)
{
    api_bind(NULL);
    links_free(f->bw.links);
    query_free(f->bw.query);
    events_free(&f->bw);
    loop_free(f->bw.loop);
    buf_free(&f->bw.ctx.scratch);
    buf_free(&f->bw.ctx.baseline);
    msgpack_zone_destroy(&f->bw.ctx.zone);
    if (f->gfd >= 0)
        close(f->gfd);
    close(f->lfd);
    buf_free(&f->in);
}

static int got_message(struct fx *f)
{
    (void)f;
    return seen.messages > 0;
}

/* ---- the tests ---- */

static void test_worker_connect_first(void)
{
    struct fx f;
    fx_up(&f, 10240000);
    expect_worker_connect(&f);
    struct link *l = links_find(f.bw.links, LOCALHOST, f.port);
    CU_ASSERT_PTR_EQUAL(l, links_at(f.bw.links, 0));
    CU_ASSERT_EQUAL(l->state, LINK_UP);
    CU_ASSERT(link_usable(l));
    fx_down(&f);
}

static void test_message_and_reply(void)
{
    struct fx f;
    fx_up(&f, 10240000);
    expect_worker_connect(&f);
    gw_event(&f, GWP_CMD_ON_MESSAGE, 42, NULL, "echo:hello");
    CU_ASSERT_FATAL(run_until(&f, got_message));
    char want_id[CLIENTID_LEN + 1];
    clientid_encode(LOCALHOST, f.port, 42, want_id);
    CU_ASSERT_STRING_EQUAL(seen.client_id, want_id);
    CU_ASSERT_EQUAL(seen.len, 10);
    CU_ASSERT_STRING_EQUAL(seen.data, "echo:hello");
    struct gwp_frame fr;
    CU_ASSERT_FATAL(gw_next(&f, &fr) == 0);
    CHECKF(fr.hdr.cmd == GWP_CMD_SEND_TO_ONE, "reply command %u", fr.hdr.cmd);
    CU_ASSERT_EQUAL(fr.hdr.connection_id, 42);
    CU_ASSERT(fr.hdr.flag & GWP_FLAG_BODY_IS_SCALAR);
    CU_ASSERT(fr.body_len == 8 && memcmp(fr.body, "re:hello", 8) == 0);
    CU_ASSERT_EQUAL(f.bw.events_in, 1);
    fx_down(&f);
}

/* One frame written a byte at a time, the loop running between the bytes,
 * then three frames and half of a fourth in one write. */
static void test_frames_cut_across_reads(void)
{
    struct fx f;
    fx_up(&f, 10240000);
    expect_worker_connect(&f);
    struct buf b = {0};
    struct gwp_header h = {.cmd = GWP_CMD_ON_MESSAGE, .local_ip = LOCALHOST, .local_port = f.port,
                           .connection_id = 7, .flag = GWP_FLAG_BODY_IS_SCALAR};
    gwp_encode(&b, &h, NULL, 0, "echo:byte-by-byte", 17);
    for (size_t i = 0; i < buf_avail(&b); i++) {
        CU_ASSERT_EQUAL(seen.messages, 0);
        CU_ASSERT(gw_write(&f, buf_head(&b) + i, 1) == 0);
        ev_run(loop_ev(f.bw.loop), EVRUN_NOWAIT);
    }
    CU_ASSERT(run_until(&f, got_message));
    CU_ASSERT_EQUAL(seen.messages, 1);
    CU_ASSERT_STRING_EQUAL(seen.data, "echo:byte-by-byte");
    struct gwp_frame fr;
    CU_ASSERT_FATAL(gw_next(&f, &fr) == 0);
    CU_ASSERT(fr.body_len == 15 && memcmp(fr.body, "re:byte-by-byte", 15) == 0);

    buf_reset(&b);
    const char *msgs[] = {"echo:1", "echo:22", "echo:333", "echo:4444"};
    for (int i = 0; i < 4; i++)
        gwp_encode(&b, &h, NULL, 0, msgs[i], strlen(msgs[i]));
    size_t half = buf_avail(&b) - 5;
    CU_ASSERT(gw_write(&f, buf_head(&b), half) == 0);
    const char *replies[] = {"re:1", "re:22", "re:333"};
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_FATAL(gw_next(&f, &fr) == 0);
        CU_ASSERT(fr.body_len == strlen(replies[i]) && memcmp(fr.body, replies[i], fr.body_len) == 0);
    }
    CU_ASSERT_EQUAL(seen.messages, 4); /* the fourth is not complete yet */
    CU_ASSERT(gw_write(&f, buf_head(&b) + half, 5) == 0);
    CU_ASSERT_FATAL(gw_next(&f, &fr) == 0);
    CU_ASSERT(fr.body_len == 7 && memcmp(fr.body, "re:4444", 7) == 0);
    CU_ASSERT_EQUAL(seen.messages, 5);
    buf_free(&b);
    fx_down(&f);
}

static int got_close(struct fx *f)
{
    (void)f;
    return seen.closes > 0;
}

/* PING is ignored (no callback, no reply); ON_CONNECT and ON_CLOSE reach
 * their callbacks with the client_id; a frame after them still works. */
static void test_connect_close_ping(void)
{
    struct fx f;
    fx_up(&f, 10240000);
    expect_worker_connect(&f);
    struct gwp_header ph = {.cmd = GWP_CMD_PING, .flag = GWP_FLAG_BODY_IS_SCALAR};
    struct buf b = {0};
    gwp_encode(&b, &ph, NULL, 0, NULL, 0);
    gw_write(&f, buf_head(&b), buf_avail(&b));
    buf_free(&b);
    gw_event(&f, GWP_CMD_ON_CONNECT, 9, NULL, NULL);
    gw_event(&f, GWP_CMD_ON_CLOSE, 9, NULL, NULL);
    CU_ASSERT_FATAL(run_until(&f, got_close));
    char want_id[CLIENTID_LEN + 1];
    clientid_encode(LOCALHOST, f.port, 9, want_id);
    CU_ASSERT_EQUAL(seen.connects, 1);
    CU_ASSERT_EQUAL(seen.closes, 1);
    CU_ASSERT_STRING_EQUAL(seen.client_id, want_id);
    CU_ASSERT_EQUAL(seen.messages, 0);
    /* PING counts as no event. */
    CU_ASSERT_EQUAL(f.bw.events_in, 2);
    /* Nothing was written for any of them: the next frame is this marker's. */
    gw_event(&f, GWP_CMD_ON_MESSAGE, 10, NULL, "mark:after");
    struct gwp_frame fr;
    CU_ASSERT_FATAL(gw_next(&f, &fr) == 0);
    CU_ASSERT_EQUAL(fr.hdr.cmd, GWP_CMD_SEND_TO_ONE);
    CU_ASSERT(fr.body_len == 5 && memcmp(fr.body, "after", 5) == 0);
    fx_down(&f);
}

/* The session is decoded only when the application asks; an unchanged one is
 * not written back; a changed one is, with SET_SESSION after the callback's
 * own frames; nothing is written back after ON_CLOSE. */
static void test_session_write_back(void)
{
    struct fx f;
    fx_up(&f, 10240000);
    expect_worker_connect(&f);
    const char *s1 = "a:1:{s:1:\"a\";i:1;}";
    struct gwp_frame fr;

    /* Read only: decoded lazily, not written back. */
    gw_event(&f, GWP_CMD_ON_MESSAGE, 20, s1, "get");
    gw_event(&f, GWP_CMD_ON_MESSAGE, 20, s1, "mark:m1");
    CU_ASSERT_FATAL(gw_next(&f, &fr) == 0);
    CHECKF(fr.hdr.cmd == GWP_CMD_SEND_TO_ONE, "after a read-only event: command %u (SET_SESSION = 204)",
           fr.hdr.cmd);
    CU_ASSERT(fr.body_len == 2 && memcmp(fr.body, "m1", 2) == 0);
    CU_ASSERT_EQUAL(seen.messages, 2);
    CU_ASSERT_EQUAL(seen.loaded_at_entry, 0); /* not decoded before the callback asked */
    CU_ASSERT_EQUAL(seen.loaded_after, 1);
    CU_ASSERT_EQUAL(seen.session_a, 1);

    /* Changed: SET_SESSION with the new bytes, for this connection. */
    gw_event(&f, GWP_CMD_ON_MESSAGE, 20, s1, "set:5");
    CU_ASSERT_FATAL(gw_next(&f, &fr) == 0);
    CHECKF(fr.hdr.cmd == GWP_CMD_SET_SESSION, "command %u, want SET_SESSION", fr.hdr.cmd);
    CU_ASSERT_EQUAL(fr.hdr.connection_id, 20);
    const char *s2 = "a:1:{s:1:\"a\";i:5;}";
    CHECKF(fr.ext_len == strlen(s2) && memcmp(fr.ext, s2, fr.ext_len) == 0, "SET_SESSION ext %.*s",
           (int)fr.ext_len, (const char *)fr.ext);
    CU_ASSERT_EQUAL(fr.body_len, 0);

    /* Set to the value it has: the same bytes, nothing written. The event
     * carries what we wrote (the gateway caught up), so no fetch either. */
    gw_event(&f, GWP_CMD_ON_MESSAGE, 20, s2, "set:5");
    gw_event(&f, GWP_CMD_ON_MESSAGE, 20, s2, "mark:m2");
    CU_ASSERT_FATAL(gw_next(&f, &fr) == 0);
    CU_ASSERT(fr.hdr.cmd == GWP_CMD_SEND_TO_ONE && fr.body_len == 2 && memcmp(fr.body, "m2", 2) == 0);
    CU_ASSERT_EQUAL(seen.session_a, 5);

    /* ON_CLOSE: the callback changes the session, nothing goes out. */
    close_sets_session = 1;
    gw_event(&f, GWP_CMD_ON_CLOSE, 20, s2, NULL);
    gw_event(&f, GWP_CMD_ON_MESSAGE, 21, NULL, "mark:m3");
    CU_ASSERT_FATAL(gw_next(&f, &fr) == 0);
    CHECKF(fr.hdr.cmd == GWP_CMD_SEND_TO_ONE, "after ON_CLOSE: command %u", fr.hdr.cmd);
    CU_ASSERT(fr.body_len == 2 && memcmp(fr.body, "m3", 2) == 0);
    CU_ASSERT_EQUAL(seen.closes, 1);
    fx_down(&f);
}

/* ---- stale-session guard: the gateway answers GET_SESSION from a thread,
 * because query_run blocks the worker's thread while it waits ---- */

struct gw_query_peer {
    int lfd;
    const char *reply;      /* the session it answers */
    int asked;              /* GET_SESSION_BY_CLIENT_ID frames seen */
    int auth_first;         /* GATEWAY_CLIENT_CONNECT came first */
    uint32_t conn_id;
    int stop;
};

/* The peer's counters, read from the test's thread. */
static int peer_asked(struct gw_query_peer *p) { return __atomic_load_n(&p->asked, __ATOMIC_SEQ_CST); }

static void *query_peer(void *arg)
{
    struct gw_query_peer *p = arg;
    char ip[48];
    uint16_t port;
    struct buf in = {0};
    int fd = -1;
    int64_t until = loop_now_ms() + DEADLINE_MS;
    while (!__atomic_load_n(&p->stop, __ATOMIC_SEQ_CST) && loop_now_ms() < until) {
        struct pollfd pf = {.fd = fd >= 0 ? fd : p->lfd, .events = POLLIN};
        if (poll(&pf, 1, 10) <= 0)
            continue;
        if (fd < 0) {
            fd = sock_accept(p->lfd, ip, sizeof ip, &port);
            continue;
        }
        uint8_t *b = buf_reserve(&in, 4096);
        ssize_t n = read(fd, b, 4096);
        if (n <= 0) {
            close(fd);
            fd = -1;
            buf_reset(&in);
            continue;
        }
        buf_commit(&in, (size_t)n);
        struct gwp_frame fr;
        size_t used;
        while (buf_avail(&in) &&
               gwp_decode(buf_head(&in), buf_avail(&in), GWP_DEFAULT_MAX_PACK_LEN, &fr, &used, NULL, 0) == GWP_OK) {
            if (fr.hdr.cmd == GWP_CMD_GATEWAY_CLIENT_CONNECT && __atomic_load_n(&p->asked, __ATOMIC_SEQ_CST) == 0)
                __atomic_store_n(&p->auth_first, 1, __ATOMIC_SEQ_CST);
            if (fr.hdr.cmd == GWP_CMD_GET_SESSION_BY_CLIENT_ID) {
                __atomic_store_n(&p->conn_id, fr.hdr.connection_id, __ATOMIC_SEQ_CST);
                __atomic_add_fetch(&p->asked, 1, __ATOMIC_SEQ_CST);
                struct buf out = {0};
                gwp_reply_encode(&out, p->reply, strlen(p->reply));
                tu_write_all(fd, buf_head(&out), buf_avail(&out));
                buf_free(&out);
            }
            buf_consume(&in, used);
        }
    }
    if (fd >= 0)
        close(fd);
    buf_free(&in);
    return NULL;
}

/* Event 1 writes a=1; event 2 was queued before the write reached the
 * gateway (its ext_data is the old, empty session): its session is fetched
 * with GET_SESSION_BY_CLIENT_ID and the callback sees a=1, not the stale
 * one. Event 3 carries what we wrote: used as is, no fetch. */
static void test_stale_session_guard(void)
{
    struct fx f;
    fx_up(&f, 10240000);
    expect_worker_connect(&f);
    struct gwp_frame fr;
    gw_event(&f, GWP_CMD_ON_MESSAGE, 30, NULL, "set:1");
    CU_ASSERT_FATAL(gw_next(&f, &fr) == 0);
    CU_ASSERT_EQUAL_FATAL(fr.hdr.cmd, GWP_CMD_SET_SESSION);
    const char *s1 = "a:1:{s:1:\"a\";i:1;}";
    CU_ASSERT(fr.ext_len == strlen(s1) && memcmp(fr.ext, s1, fr.ext_len) == 0);

    struct gw_query_peer peer = {.lfd = f.lfd, .reply = s1};
    pthread_t th;
    CU_ASSERT_FATAL(pthread_create(&th, NULL, query_peer, &peer) == 0);
    seen.session_a = -2;
    gw_event(&f, GWP_CMD_ON_MESSAGE, 30, NULL, "get"); /* stale: empty ext_data */
    gw_event(&f, GWP_CMD_ON_MESSAGE, 30, NULL, "mark:m1");
    CU_ASSERT_FATAL(gw_next(&f, &fr) == 0);
    CU_ASSERT(fr.hdr.cmd == GWP_CMD_SEND_TO_ONE && fr.body_len == 2 && memcmp(fr.body, "m1", 2) == 0);
    /* "mark:m1" is stale too (its ext_data is empty): fetched as well. */
    CHECKF(peer_asked(&peer) == 2, "GET_SESSION asked %d times, want 2", peer_asked(&peer));
    CU_ASSERT_EQUAL(__atomic_load_n(&peer.conn_id, __ATOMIC_SEQ_CST), 30);
    CU_ASSERT(__atomic_load_n(&peer.auth_first, __ATOMIC_SEQ_CST));
    /* The "get" callback saw the fetched session. (seen is overwritten by
     * mark:m1, which does not read it: check with one more read.) */
    gw_event(&f, GWP_CMD_ON_MESSAGE, 30, s1, "get");
    gw_event(&f, GWP_CMD_ON_MESSAGE, 30, s1, "mark:m2");
    CU_ASSERT_FATAL(gw_next(&f, &fr) == 0);
    CU_ASSERT(fr.body_len == 2 && memcmp(fr.body, "m2", 2) == 0);
    CU_ASSERT_EQUAL(seen.messages, 5);
    CHECKF(peer_asked(&peer) == 2, "an event with the written session was fetched again (%d)", peer_asked(&peer));
    __atomic_store_n(&peer.stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(th, NULL);
    fx_down(&f);
}

/* The same, but the stale event's own read is observed directly. */
static void test_stale_session_seen_by_callback(void)
{
    struct fx f;
    fx_up(&f, 10240000);
    expect_worker_connect(&f);
    struct gwp_frame fr;
    gw_event(&f, GWP_CMD_ON_MESSAGE, 31, NULL, "set:3");
    CU_ASSERT_FATAL(gw_next(&f, &fr) == 0);
    CU_ASSERT_EQUAL_FATAL(fr.hdr.cmd, GWP_CMD_SET_SESSION);
    struct gw_query_peer peer = {.lfd = f.lfd, .reply = "a:1:{s:1:\"a\";i:3;}"};
    pthread_t th;
    CU_ASSERT_FATAL(pthread_create(&th, NULL, query_peer, &peer) == 0);
    seen.session_a = -2;
    int before = seen.messages;
    gw_event(&f, GWP_CMD_ON_MESSAGE, 31, NULL, "get");
    int64_t until = loop_now_ms() + DEADLINE_MS;
    while (seen.messages == before && loop_now_ms() < until)
        pump(&f);
    CHECKF(seen.session_a == 3, "the stale event's callback read a=%d, want 3 (fetched)", seen.session_a);
    CU_ASSERT_EQUAL(peer_asked(&peer), 1);
    /* ON_CLOSE ends the guard: a later event with an empty session (a new
     * client reusing the id cannot happen, but the entry must be gone) is
     * not fetched. */
    gw_event(&f, GWP_CMD_ON_CLOSE, 31, NULL, NULL);
    gw_event(&f, GWP_CMD_ON_MESSAGE, 31, NULL, "mark:m");
    CU_ASSERT_FATAL(gw_next(&f, &fr) == 0);
    CU_ASSERT(fr.body_len == 1 && fr.body[0] == 'm');
    CU_ASSERT_EQUAL(peer_asked(&peer), 1);
    __atomic_store_n(&peer.stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(th, NULL);
    fx_down(&f);
}

static int link_idle(struct fx *f) { return links_at(f->bw.links, 0)->state == LINK_IDLE; }

/* Closed by the gateway: reconnected after the first backoff (1 s), and the
 * new connection starts with WORKER_CONNECT again. */
static void test_reconnect_after_loss(void)
{
    struct fx f;
    fx_up(&f, 10240000);
    expect_worker_connect(&f);
    close(f.gfd);
    f.gfd = -1;
    buf_reset(&f.in);
    CU_ASSERT_FATAL(run_until(&f, link_idle));
    struct link *l = links_at(f.bw.links, 0);
    CU_ASSERT_EQUAL(stream_retry_ms(&l->io), 1000);
    CU_ASSERT(stream_retry_pending(&l->io));
    CU_ASSERT_EQUAL(link_send(l, &(struct gwp_header){.cmd = GWP_CMD_SEND_TO_ALL}, NULL, 0, "x", 1), -ENOTCONN);
    f.gfd = gw_accept(&f, DEADLINE_MS);
    CU_ASSERT_FATAL(f.gfd >= 0);
    gw_drop_input(&f);
    expect_worker_connect(&f);
    CU_ASSERT(run_until(&f, one_link_up));
    fx_down(&f);
}

static int gw_sees_eof(struct fx *f)
{
    char c;
    return recv(f->gfd, &c, 1, MSG_DONTWAIT) == 0;
}

/* An address that leaves the set stays through the grace period (5 s: a
 * restarted register sends partial lists) and is closed after it; links_tick
 * is driven with a future now instead of waiting. */
static void test_absent_address_grace(void)
{
    struct fx f;
    fx_up(&f, 10240000);
    expect_worker_connect(&f);
    int64_t t0 = loop_now_ms();
    links_set_addresses(f.bw.links, NULL, 0);
    links_tick(f.bw.links, t0 + 4000);
    CU_ASSERT_EQUAL(links_count(f.bw.links), 1);
    /* Listed again within the grace: kept, and the clock starts over. */
    char *addrs[] = {f.addr};
    links_set_addresses(f.bw.links, addrs, 1);
    links_tick(f.bw.links, t0 + 60000);
    CU_ASSERT_EQUAL(links_count(f.bw.links), 1);
    CU_ASSERT_EQUAL(links_up(f.bw.links), 1);
    /* Gone for good. */
    links_set_addresses(f.bw.links, NULL, 0);
    links_tick(f.bw.links, loop_now_ms() + 4999 - 50);
    CU_ASSERT_EQUAL(links_count(f.bw.links), 1);
    links_tick(f.bw.links, loop_now_ms() + 5000);
    CU_ASSERT_EQUAL(links_count(f.bw.links), 0);
    CU_ASSERT_PTR_NULL(links_find(f.bw.links, LOCALHOST, f.port));
    CU_ASSERT(run_until(&f, gw_sees_eof));
    fx_down(&f);
}

/* A corrupt frame from the gateway (pack_len below the header size): the
 * link is closed, the frame never reaches the application, and the link
 * comes back with WORKER_CONNECT after the backoff. */
static void test_protocol_error_closes_and_reconnects(void)
{
    struct fx f;
    fx_up(&f, 10240000);
    expect_worker_connect(&f);
    uint8_t bad[GWP_HEADER_LEN];
    struct gwp_header h = {.pack_len = 5, .cmd = GWP_CMD_ON_MESSAGE};
    gwp_header_pack(bad, &h);
    CU_ASSERT(gw_write(&f, bad, sizeof bad) == 0);
    CU_ASSERT(run_until(&f, gw_sees_eof));
    CU_ASSERT_EQUAL(seen.messages, 0);
    CU_ASSERT_EQUAL(links_at(f.bw.links, 0)->state, LINK_IDLE);
    close(f.gfd);
    f.gfd = gw_accept(&f, DEADLINE_MS);
    CU_ASSERT_FATAL(f.gfd >= 0);
    gw_drop_input(&f);
    expect_worker_connect(&f);
    gw_event(&f, GWP_CMD_ON_MESSAGE, 8, NULL, "echo:again");
    struct gwp_frame fr;
    CU_ASSERT_FATAL(gw_next(&f, &fr) == 0);
    CU_ASSERT(fr.body_len == 8 && memcmp(fr.body, "re:again", 8) == 0);
    fx_down(&f);
}

/* The gateway reads nothing: link_send queues until the sockets are full and
 * then its queue reaches sendToGatewayBufferSize: -ENOBUFS, counted. What was
 * accepted arrives whole once the gateway reads. */
static void test_send_buffer_limit(void)
{
    struct fx f;
    fx_up(&f, 65536);
    expect_worker_connect(&f);
    struct link *l = links_at(f.bw.links, 0);
    static char body[16384];
    memset(body, 'q', sizeof body);
    struct gwp_header h = {.cmd = GWP_CMD_SEND_TO_ALL, .flag = GWP_FLAG_BODY_IS_SCALAR};
    int sent = 0, r = 0;
    for (int i = 0; i < 100000; i++) {
        r = link_send(l, &h, NULL, 0, body, sizeof body);
        if (r < 0)
            break;
        sent++;
        ev_run(loop_ev(f.bw.loop), EVRUN_NOWAIT);
    }
    CHECKF(r == -ENOBUFS, "link_send returned %d after %d frames, want -ENOBUFS", r, sent);
    CU_ASSERT(links_queued_bytes(f.bw.links) <= 65536);
    CU_ASSERT(links_queued_bytes(f.bw.links) + GWP_HEADER_LEN + sizeof body > 65536);
    CU_ASSERT_EQUAL(f.bw.commands_dropped, 1);
    CU_ASSERT_EQUAL(f.bw.commands_out, (uint64_t)sent);
    CU_ASSERT(sent > 4); /* the sockets took some before the queue filled */
    /* Everything accepted arrives, in whole frames. */
    int got = 0;
    struct gwp_frame fr;
    while (got < sent && gw_next(&f, &fr) == 0) {
        if (fr.hdr.cmd != GWP_CMD_SEND_TO_ALL || fr.body_len != sizeof body)
            break;
        got++;
    }
    CHECKF(got == sent, "gateway read %d whole frames of %d sent", got, sent);
    CU_ASSERT_EQUAL(links_queued_bytes(f.bw.links), 0);
    fx_down(&f);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("business links + events", NULL, NULL);
    CU_add_test(s, "a link starts with WORKER_CONNECT (key, secret)", test_worker_connect_first);
    CU_add_test(s, "ON_MESSAGE reaches on_message; the reply frame", test_message_and_reply);
    CU_add_test(s, "frames cut across reads", test_frames_cut_across_reads);
    CU_add_test(s, "ON_CONNECT, ON_CLOSE; PING ignored", test_connect_close_ping);
    CU_add_test(s, "session: lazy decode, SET_SESSION write-back, none after ON_CLOSE", test_session_write_back);
    CU_add_test(s, "stale-session guard fetches with GET_SESSION", test_stale_session_guard);
    CU_add_test(s, "stale-session guard: the callback sees the fetched session", test_stale_session_seen_by_callback);
    CU_add_test(s, "a link closed by the gateway is reopened with backoff", test_reconnect_after_loss);
    CU_add_test(s, "an address leaving the set is closed after the grace period", test_absent_address_grace);
    CU_add_test(s, "a corrupt frame closes the link; it reconnects", test_protocol_error_closes_and_reconnects);
    CU_add_test(s, "link_send: -ENOBUFS past sendToGatewayBufferSize", test_send_buffer_limit);
    return tu_run("test_bw_links");
}
