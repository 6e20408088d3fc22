/* Every internal command that test_gateway.c leaves out, end to end against
 * real processes on loopback: a register, gateways with a secretKey, a test
 * business worker link, GatewayClient request links and real WebSocket
 * clients. Effects are checked on the clients (who got what, how often) and
 * every query reply byte for byte against what PHP's Gateway would answer.
 *
 * The last two suites rebuild, on fresh gateways, the worlds in which the
 * golden vectors were generated (gateway B 172.16.0.11 with clients 1-3,
 * gateway C 172.16.0.12 with clients 4-5), partly by replaying the vectors'
 * own command frames, then send the exact bytes of every query stream of
 * index.json and compare each reply with the matching reply-*.hex.
 *
 * Ordering: commands that build state go over a GatewayClient link, and a
 * query on that same link (whose reply comes back only after everything
 * before it was executed) is the barrier before a client acts. "Nothing
 * else arrived" is checked with a marker message sent after the push under
 * test: a client whose next message is the marker got nothing before it. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "fakebw.h"
#include "gwp.h"
#include "phpser.h"
#include "launch.h"
#include "tu.h"
#include "wsc.h"

#define KEY "s3cr3t-lottery"
#define T 3000 /* generous timeout for anything expected, ms */

static char dir[64];
static int reg_port;
static struct launch reg;

struct gw {
    struct launch_gw gw;
    struct fakebw bw; /* the business worker link */
    struct fakebw gc; /* an authorised GatewayClient link */
};

static struct gw G;

/* ---------- processes ---------- */

static int start_register(void)
{
    if (launch_tmpdir("cmds", dir, sizeof dir) < 0)
        return -1;
    reg_port = tu_free_port();
    launch_register(&reg, dir, reg_port, KEY);
    return launch_start(&reg, reg_port, NULL, 5000);
}

static int gw_start(struct gw *g, const char *name)
{
    memset(g, 0, sizeof *g);
    g->bw.fd = g->gc.fd = -1;
    if (launch_gw_start(&g->gw, dir, name, reg_port, KEY, 5000) < 0)
        return -1;
    char wk[64], line[128];
    snprintf(wk, sizeof wk, "Cmds%s:0", name);
    if (fakebw_worker(&g->bw, g->gw.lan_port, wk, KEY) < 0)
        return -1;
    snprintf(line, sizeof line, "business worker 127.0.0.1:%s connected", wk);
    if (launch_ready(&g->gw.p, 0, line, T) < 0)
        return -1;
    return fakebw_client(&g->gc, g->gw.lan_port, KEY);
}

static int gw_stop(struct gw *g)
{
    if (g->gc.fd >= 0)
        fakebw_close(&g->gc);
    if (g->bw.fd >= 0)
        fakebw_close(&g->bw);
    return launch_gw_stop(&g->gw, 5000);
}

/* ---------- clients ---------- */

/* A WebSocket client; its connection id from the worker's ON_CONNECT. */
static int client(struct gw *g, uint32_t *id)
{
    int fd = wsc_connect(g->gw.ws_port, "/", NULL, T);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(fakebw_wait(&g->bw, GWP_CMD_ON_CONNECT, T) == 0);
    *id = g->bw.last.hdr.connection_id;
    CU_ASSERT_FATAL(fakebw_wait(&g->bw, GWP_CMD_ON_WEBSOCKET_CONNECT, T) == 0);
    CU_ASSERT_EQUAL(g->bw.last.hdr.connection_id, *id);
    return fd;
}

/* Waits until the worker hears ON_CLOSE for this client (others skipped). */
static void wait_close(struct gw *g, uint32_t id)
{
    long long end = tu_now_ms() + T;
    for (;;) {
        int left = (int)(end - tu_now_ms());
        if (left <= 0 || fakebw_wait(&g->bw, GWP_CMD_ON_CLOSE, left) < 0) {
            CU_FAIL("no ON_CLOSE for a closed client");
            return;
        }
        if (g->bw.last.hdr.connection_id == id)
            return;
    }
}

/* Closes a client and waits until the gateway reports it gone. */
static void bye(struct gw *g, int fd, uint32_t id)
{
    tu_close(fd);
    wait_close(g, id);
}

/* The next message of a client is exactly want (len bytes). */
static int next_is(int fd, const void *want, size_t len)
{
    uint8_t *m = NULL;
    int op = 0;
    ssize_t n = wsc_recv(fd, &m, &op, T);
    int ok = n == (ssize_t)len && op == WSC_TEXT && memcmp(m, want, len) == 0;
    if (!ok)
        fprintf(stderr, "\n    client expected \"%.*s\" (%zu bytes), got n=%zd op=%d \"%.*s\"\n", (int)len,
                (const char *)want, len, n, op, n > 0 ? (int)n : 0, n > 0 ? (const char *)m : "");
    free(m);
    return ok;
}
#define NEXT_IS(fd, s) CU_ASSERT(next_is((fd), (s), strlen(s)))

/* Sends a marker to the client and checks that the marker is the next thing
 * it reads: nothing else was delivered to it before. */
static int nothing_before_marker(struct gw *g, int fd, uint32_t id)
{
    fakebw_cmd(&g->bw, GWP_CMD_SEND_TO_ONE, id, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, "marker", 6);
    return next_is(fd, "marker", 6);
}
#define NOTHING(g, fd, id) CU_ASSERT(nothing_before_marker((g), (fd), (id)))

/* ---------- internal links ---------- */

static int cmd(struct fakebw *l, uint8_t c, uint32_t conn, const char *ext)
{
    return fakebw_cmd(l, c, conn, GWP_FLAG_BODY_IS_SCALAR, ext, ext ? strlen(ext) : 0, "", 0);
}

static int bytes_eq(const char *what, const void *got, size_t glen, const void *want, size_t wlen)
{
    if (got && glen == wlen && memcmp(got, want, wlen) == 0)
        return 1;
    fprintf(stderr, "\n    %s:\n      want (%zu) %.*s\n      got  (%zu) %.*s\n", what, wlen, (int)wlen,
            (const char *)want, glen, got ? (int)glen : 6, got ? (const char *)got : "(none)");
    return 0;
}

/* One query on link l; compares the whole reply payload with want. */
static int query_is(struct fakebw *l, uint8_t c, uint32_t conn, const char *ext, size_t ext_len, const char *want,
                    size_t want_len)
{
    if (fakebw_cmd(l, c, conn, GWP_FLAG_BODY_IS_SCALAR, ext, ext_len, "", 0) < 0)
        return 0;
    size_t n = 0;
    char *r = fakebw_reply(l, &n, T);
    char what[96];
    snprintf(what, sizeof what, "reply to cmd %u (%s)", c, gwp_cmd_name(c));
    int ok = bytes_eq(what, r, n, want, want_len);
    free(r);
    return ok;
}
static size_t slen(const char *s) { return s ? strlen(s) : 0; }
#define Q(l, c, conn, ext, want) CU_ASSERT(query_is((l), (c), (conn), (ext), slen(ext), (want), strlen(want)))

/* Barrier: every command sent on l before this has been executed. */
static void sync_link(struct fakebw *l)
{
    CU_ASSERT(query_is(l, GWP_CMD_IS_ONLINE, 0, NULL, 0, "i:0;", 4));
}

/* The frame of a golden "frame" case, decoded; *raw holds its bytes (free it). */
static int fixture_frame(const char *file, struct gwp_frame *f, uint8_t **raw, size_t *len)
{
    *raw = tu_read_hex_fixture(file, len);
    if (!*raw)
        return -1;
    size_t used;
    char err[128];
    return gwp_decode(*raw, *len, GWP_DEFAULT_MAX_PACK_LEN, f, &used, err, sizeof err) == GWP_OK && used == *len
               ? 0
               : -1;
}

/* gateway_effect.session_after_hex of a case, decoded (free it). */
static uint8_t *session_after(const char *name, size_t *len)
{
    json_t *c = tu_fixture_case(name);
    json_t *h = c ? json_object_get(json_object_get(c, "gateway_effect"), "session_after_hex") : NULL;
    return h ? tu_hex_decode(json_string_value(h), len) : NULL;
}

/* Reads everything until EOF: the byte count, or -1 if EOF did not come. */
static ssize_t bytes_until_eof(int fd, int timeout_ms)
{
    long long end = tu_now_ms() + timeout_ms;
    ssize_t total = 0;
    for (;;) {
        int left = (int)(end - tu_now_ms());
        if (left <= 0)
            return -1;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, left) <= 0)
            return -1;
        char b[4096];
        ssize_t r = read(fd, b, sizeof b);
        if (r == 0)
            return total;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return errno == ECONNRESET ? total : -1;
        }
        total += r;
    }
}

/* ---------- suite 1: each command on its own ---------- */

static int cmds_init(void) { return gw_start(&G, "cmds"); }
static int cmds_clean(void) { return gw_stop(&G); }

static void test_update_session(void)
{
    uint32_t id, id2;
    int c = client(&G, &id), c2 = client(&G, &id2);
    struct gwp_frame set, upd;
    uint8_t *raw1, *raw2;
    size_t l1, l2, al;
    CU_ASSERT_FATAL(fixture_frame("set_session.hex", &set, &raw1, &l1) == 0);
    CU_ASSERT_FATAL(fixture_frame("update_session.hex", &upd, &raw2, &l2) == 0);
    uint8_t *after = session_after("update_session", &al);
    CU_ASSERT_FATAL(after != NULL);

    /* The golden example: SET_SESSION the session before, UPDATE_SESSION the
     * partial array; the next ON_MESSAGE carries PHP's array_replace_recursive
     * result, byte for byte. */
    fakebw_cmd(&G.gc, GWP_CMD_SET_SESSION, id, GWP_FLAG_BODY_IS_SCALAR, (const char *)set.ext, set.ext_len, "", 0);
    fakebw_cmd(&G.gc, GWP_CMD_UPDATE_SESSION, id, GWP_FLAG_BODY_IS_SCALAR, (const char *)upd.ext, upd.ext_len, "", 0);
    sync_link(&G.gc);
    CU_ASSERT(wsc_send(c, WSC_TEXT, "m1", 2) == 0);
    CU_ASSERT_FATAL(fakebw_wait(&G.bw, GWP_CMD_ON_MESSAGE, T) == 0);
    CU_ASSERT_EQUAL(G.bw.last.hdr.connection_id, id);
    CU_ASSERT(bytes_eq("ON_MESSAGE ext after update_session", G.bw.last.ext, G.bw.last.ext_len, after, al));
    CU_ASSERT(query_is(&G.gc, GWP_CMD_GET_SESSION_BY_CLIENT_ID, id, NULL, 0, (const char *)after, al));

    /* Recursive merge of nested arrays and lists, null kept as N;, a new
     * numeric key appended as i:7 (outputs computed with PHP 8.2). */
    const char *u1 = "a:5:{s:5:\"prize\";a:1:{s:4:\"name\";s:3:\"car\";}s:3:\"uid\";N;s:5:\"table\";a:2:{i:0;i:1;i:1;i:2;}"
                     "i:7;s:5:\"seven\";s:4:\"tags\";a:2:{i:0;s:1:\"a\";i:1;s:1:\"b\";}}";
    const char *u2 = "a:5:{s:4:\"tags\";a:1:{i:0;s:1:\"x\";}s:5:\"prize\";s:4:\"none\";s:1:\"w\";d:0.1;s:1:\"e\";a:0:{}"
                     "s:9:\"signed_in\";b:0;}";
    const char *want1 = "a:9:{s:3:\"uid\";N;s:4:\"name\";s:9:\"\xe5\xbc\xa0\xe4\xb8\x89\xe4\xb8\xb0\";s:5:\"table\";"
                        "a:2:{i:0;i:1;i:1;i:2;}s:9:\"signed_in\";b:1;s:9:\"joined_at\";i:1767225600;s:5:\"score\";i:10;"
                        "s:5:\"prize\";a:2:{s:5:\"level\";i:2;s:4:\"name\";s:3:\"car\";}i:7;s:5:\"seven\";s:4:\"tags\";"
                        "a:2:{i:0;s:1:\"a\";i:1;s:1:\"b\";}}";
    const char *want2 = "a:11:{s:3:\"uid\";N;s:4:\"name\";s:9:\"\xe5\xbc\xa0\xe4\xb8\x89\xe4\xb8\xb0\";s:5:\"table\";"
                        "a:2:{i:0;i:1;i:1;i:2;}s:9:\"signed_in\";b:0;s:9:\"joined_at\";i:1767225600;s:5:\"score\";i:10;"
                        "s:5:\"prize\";s:4:\"none\";i:7;s:5:\"seven\";s:4:\"tags\";a:2:{i:0;s:1:\"x\";i:1;s:1:\"b\";}"
                        "s:1:\"w\";d:0.1;s:1:\"e\";a:0:{}}";
    cmd(&G.gc, GWP_CMD_UPDATE_SESSION, id, u1);
    Q(&G.gc, GWP_CMD_GET_SESSION_BY_CLIENT_ID, id, NULL, want1);
    cmd(&G.gc, GWP_CMD_UPDATE_SESSION, id, u2);
    sync_link(&G.gc);
    CU_ASSERT(wsc_send(c, WSC_TEXT, "m2", 2) == 0);
    CU_ASSERT_FATAL(fakebw_wait(&G.bw, GWP_CMD_ON_MESSAGE, T) == 0);
    CU_ASSERT(bytes_eq("ON_MESSAGE ext after two merges", G.bw.last.ext, G.bw.last.ext_len, want2, strlen(want2)));

    /* No stored session: the update is stored verbatim (golden
     * update_session_empty_before), even bytes PHP would re-serialize. */
    struct gwp_frame ue;
    uint8_t *raw3;
    size_t l3, el;
    CU_ASSERT_FATAL(fixture_frame("update_session_empty_before.hex", &ue, &raw3, &l3) == 0);
    uint8_t *after_e = session_after("update_session_empty_before", &el);
    fakebw_cmd(&G.gc, GWP_CMD_UPDATE_SESSION, id2, GWP_FLAG_BODY_IS_SCALAR, (const char *)ue.ext, ue.ext_len, "", 0);
    CU_ASSERT(query_is(&G.gc, GWP_CMD_GET_SESSION_BY_CLIENT_ID, id2, NULL, 0, (const char *)after_e, el));
    CU_ASSERT(wsc_send(c2, WSC_TEXT, "m3", 2) == 0);
    CU_ASSERT_FATAL(fakebw_wait(&G.bw, GWP_CMD_ON_MESSAGE, T) == 0);
    CU_ASSERT_EQUAL(G.bw.last.hdr.connection_id, id2);
    CU_ASSERT(bytes_eq("ON_MESSAGE ext after update on empty", G.bw.last.ext, G.bw.last.ext_len, after_e, el));

    /* A stored session that is not a PHP array must not crash the gateway
     * (PHP's does, §5.3): treated as empty, the update is stored as is. */
    cmd(&G.gc, GWP_CMD_SET_SESSION, id2, "garbage");
    cmd(&G.gc, GWP_CMD_UPDATE_SESSION, id2, "a:1:{s:1:\"k\";i:1;}");
    Q(&G.gc, GWP_CMD_IS_ONLINE, id2, NULL, "i:1;");
    Q(&G.gc, GWP_CMD_GET_SESSION_BY_CLIENT_ID, id2, NULL, "a:1:{s:1:\"k\";i:1;}");
    /* An update that is not an array is ignored; the stored session stays. */
    cmd(&G.gc, GWP_CMD_UPDATE_SESSION, id2, "s:3:\"abc\";");
    Q(&G.gc, GWP_CMD_GET_SESSION_BY_CLIENT_ID, id2, NULL, "a:1:{s:1:\"k\";i:1;}");
    /* UPDATE_SESSION for a client that is not connected: nothing happens. */
    cmd(&G.gc, GWP_CMD_UPDATE_SESSION, 999999, u1);
    Q(&G.gc, GWP_CMD_GET_SESSION_BY_CLIENT_ID, 999999, NULL, "N;");

    free(raw1);
    free(raw2);
    free(raw3);
    free(after);
    free(after_e);
    bye(&G, c, id);
    bye(&G, c2, id2);
}

static void test_get_session(void)
{
    uint32_t id;
    int c = client(&G, &id);
    /* Online, never had a session. */
    Q(&G.gc, GWP_CMD_GET_SESSION_BY_CLIENT_ID, id, NULL, "a:0:{}");
    /* Verbatim, even bytes that are not PHP serialize() output (NUL included). */
    const char odd[] = "not serialized \x00 \xff bytes";
    fakebw_cmd(&G.gc, GWP_CMD_SET_SESSION, id, GWP_FLAG_BODY_IS_SCALAR, odd, sizeof odd - 1, "", 0);
    CU_ASSERT(query_is(&G.gc, GWP_CMD_GET_SESSION_BY_CLIENT_ID, id, NULL, 0, odd, sizeof odd - 1));
    const char *s = "a:2:{s:3:\"uid\";s:5:\"u1001\";s:5:\"score\";d:99.5;}";
    cmd(&G.gc, GWP_CMD_SET_SESSION, id, s);
    Q(&G.gc, GWP_CMD_GET_SESSION_BY_CLIENT_ID, id, NULL, s);
    /* SET_SESSION with empty ext_data clears it: back to a:0:{}. */
    cmd(&G.gc, GWP_CMD_SET_SESSION, id, NULL);
    Q(&G.gc, GWP_CMD_GET_SESSION_BY_CLIENT_ID, id, NULL, "a:0:{}");
    /* The worker link answers queries too. */
    Q(&G.bw, GWP_CMD_GET_SESSION_BY_CLIENT_ID, id, NULL, "a:0:{}");
    bye(&G, c, id);
    /* Gone, and never existed. */
    Q(&G.gc, GWP_CMD_GET_SESSION_BY_CLIENT_ID, id, NULL, "N;");
    Q(&G.gc, GWP_CMD_GET_SESSION_BY_CLIENT_ID, 0, NULL, "N;");
}

static void test_get_all_client_sessions(void)
{
    Q(&G.gc, GWP_CMD_GET_ALL_CLIENT_SESSIONS, 0, NULL, "a:0:{}");
    uint32_t id1, id2, id3;
    int c1 = client(&G, &id1), c2 = client(&G, &id2), c3 = client(&G, &id3);
    const char *s1 = "a:1:{s:3:\"uid\";i:1002;}", *s3 = "a:1:{s:1:\"q\";s:2:\"\";\";}";
    cmd(&G.gc, GWP_CMD_SET_SESSION, id1, s1);
    cmd(&G.gc, GWP_CMD_SET_SESSION, id3, s3);
    char want[512];
    snprintf(want, sizeof want, "a:3:{i:%u;s:%zu:\"%s\";i:%u;s:0:\"\";i:%u;s:%zu:\"%s\";}", id1, strlen(s1), s1, id2, id3,
             strlen(s3), s3);
    Q(&G.gc, GWP_CMD_GET_ALL_CLIENT_SESSIONS, 0, NULL, want);
    bye(&G, c2, id2);
    snprintf(want, sizeof want, "a:2:{i:%u;s:%zu:\"%s\";i:%u;s:%zu:\"%s\";}", id1, strlen(s1), s1, id3, strlen(s3), s3);
    Q(&G.gc, GWP_CMD_GET_ALL_CLIENT_SESSIONS, 0, NULL, want);
    bye(&G, c1, id1);
    bye(&G, c3, id3);
    Q(&G.gc, GWP_CMD_GET_ALL_CLIENT_SESSIONS, 0, NULL, "a:0:{}");
}

static void test_uids(void)
{
    uint32_t id1, id2, id3;
    int c1 = client(&G, &id1), c2 = client(&G, &id2), c3 = client(&G, &id3);
    char want[512], ext[128];
    cmd(&G.gc, GWP_CMD_BIND_UID, id1, "u1");
    cmd(&G.gc, GWP_CMD_BIND_UID, id2, "u1");
    cmd(&G.gc, GWP_CMD_BIND_UID, id3, "1002");
    cmd(&G.gc, GWP_CMD_BIND_UID, 999999, "u1"); /* not connected: ignored */
    snprintf(want, sizeof want, "a:2:{i:0;i:%u;i:1;i:%u;}", id1, id2);
    Q(&G.gc, GWP_CMD_GET_CLIENT_ID_BY_UID, 0, "u1", want);
    snprintf(want, sizeof want, "a:1:{i:0;i:%u;}", id3);
    Q(&G.gc, GWP_CMD_GET_CLIENT_ID_BY_UID, 0, "1002", want);
    Q(&G.gc, GWP_CMD_GET_CLIENT_ID_BY_UID, 0, "nobody", "a:0:{}");
    /* Batch: one entry per requested uid, numeric uid as an int key, ints in
     * the JSON list accepted as uids. */
    snprintf(want, sizeof want, "a:3:{s:2:\"u1\";a:2:{i:0;i:%u;i:1;i:%u;}i:1002;a:1:{i:0;i:%u;}s:6:\"nobody\";a:0:{}}", id1,
             id2, id3);
    Q(&G.gc, GWP_CMD_BATCH_GET_CLIENT_ID_BY_UID, 0, "[\"u1\",\"1002\",\"nobody\"]", want);
    Q(&G.gc, GWP_CMD_BATCH_GET_CLIENT_ID_BY_UID, 0, "[\"u1\",1002,\"nobody\"]", want);
    Q(&G.gc, GWP_CMD_BATCH_GET_CLIENT_ID_BY_UID, 0, "[]", "a:0:{}");

    /* SEND_TO_UID: a uid listed twice delivers twice; an int uid matches. */
    fakebw_cmd(&G.bw, GWP_CMD_SEND_TO_UID, 0, GWP_FLAG_BODY_IS_SCALAR, "[\"u1\",\"u1\"]", 11, "twice", 5);
    NEXT_IS(c1, "twice");
    NEXT_IS(c1, "twice");
    NEXT_IS(c2, "twice");
    NEXT_IS(c2, "twice");
    NOTHING(&G, c1, id1);
    NOTHING(&G, c2, id2);
    NOTHING(&G, c3, id3);
    fakebw_cmd(&G.bw, GWP_CMD_SEND_TO_UID, 0, GWP_FLAG_BODY_IS_SCALAR, "[1002,\"nobody\"]", 15, "int-uid", 7);
    NEXT_IS(c3, "int-uid");
    NOTHING(&G, c1, id1);
    NOTHING(&G, c2, id2);

    /* UNBIND_UID ignores its ext_data and removes whatever uid the client has. */
    cmd(&G.gc, GWP_CMD_UNBIND_UID, id1, "not-its-uid");
    snprintf(want, sizeof want, "a:1:{i:0;i:%u;}", id2);
    Q(&G.gc, GWP_CMD_GET_CLIENT_ID_BY_UID, 0, "u1", want);
    fakebw_cmd(&G.bw, GWP_CMD_SEND_TO_UID, 0, GWP_FLAG_BODY_IS_SCALAR, "[\"u1\"]", 6, "after-unbind", 12);
    NEXT_IS(c2, "after-unbind");
    NOTHING(&G, c1, id1);
    /* Binding again puts the client last; re-binding c2 elsewhere moves it. */
    cmd(&G.gc, GWP_CMD_BIND_UID, id1, "u1");
    snprintf(want, sizeof want, "a:2:{i:0;i:%u;i:1;i:%u;}", id2, id1);
    Q(&G.gc, GWP_CMD_GET_CLIENT_ID_BY_UID, 0, "u1", want);
    cmd(&G.gc, GWP_CMD_BIND_UID, id2, "u2");
    snprintf(want, sizeof want, "a:1:{i:0;i:%u;}", id1);
    Q(&G.gc, GWP_CMD_GET_CLIENT_ID_BY_UID, 0, "u1", want);
    snprintf(want, sizeof want, "a:1:{i:0;i:%u;}", id2);
    Q(&G.gc, GWP_CMD_GET_CLIENT_ID_BY_UID, 0, "u2", want);
    /* PHP-empty uids ("0", "") are ignored: c3 keeps 1002. */
    cmd(&G.gc, GWP_CMD_BIND_UID, id3, "0");
    cmd(&G.gc, GWP_CMD_BIND_UID, id3, NULL);
    Q(&G.gc, GWP_CMD_GET_CLIENT_ID_BY_UID, 0, "0", "a:0:{}");
    snprintf(want, sizeof want, "a:1:{i:0;i:%u;}", id3);
    Q(&G.gc, GWP_CMD_GET_CLIENT_ID_BY_UID, 0, "1002", want);
    /* The last member unbinding leaves nothing behind. */
    cmd(&G.gc, GWP_CMD_UNBIND_UID, id3, NULL);
    Q(&G.gc, GWP_CMD_GET_CLIENT_ID_BY_UID, 0, "1002", "a:0:{}");
    /* A client that goes away leaves its uid. */
    bye(&G, c1, id1);
    Q(&G.gc, GWP_CMD_GET_CLIENT_ID_BY_UID, 0, "u1", "a:0:{}");
    snprintf(ext, sizeof ext, "[\"u1\",\"u2\"]");
    snprintf(want, sizeof want, "a:2:{s:2:\"u1\";a:0:{}s:2:\"u2\";a:1:{i:0;i:%u;}}", id2);
    Q(&G.gc, GWP_CMD_BATCH_GET_CLIENT_ID_BY_UID, 0, ext, want);
    bye(&G, c2, id2);
    bye(&G, c3, id3);
}

static void test_groups(void)
{
    uint32_t id1, id2, id3;
    int c1 = client(&G, &id1), c2 = client(&G, &id2), c3 = client(&G, &id3);
    char want[512], ext[256];
    cmd(&G.gc, GWP_CMD_JOIN_GROUP, id1, "g1");
    cmd(&G.gc, GWP_CMD_JOIN_GROUP, id1, "100");
    cmd(&G.gc, GWP_CMD_JOIN_GROUP, id2, "g1");
    cmd(&G.gc, GWP_CMD_JOIN_GROUP, id2, "g2");
    cmd(&G.gc, GWP_CMD_JOIN_GROUP, id3, "g2");
    cmd(&G.gc, GWP_CMD_JOIN_GROUP, id3, "0"); /* PHP-empty: ignored */
    cmd(&G.gc, GWP_CMD_JOIN_GROUP, id3, NULL);
    cmd(&G.gc, GWP_CMD_JOIN_GROUP, 999999, "ghost"); /* not connected: ignored */
    /* Creation order; the numeric name comes back as an int. */
    Q(&G.gc, GWP_CMD_GET_GROUP_ID_LIST, 0, NULL, "a:3:{i:0;s:2:\"g1\";i:1;i:100;i:2;s:2:\"g2\";}");
    Q(&G.gc, GWP_CMD_BATCH_GET_CLIENT_COUNT_BY_GROUP, 0, "[\"g1\",\"100\",\"g2\",\"none\"]",
      "a:4:{s:2:\"g1\";i:2;i:100;i:1;s:2:\"g2\";i:2;s:4:\"none\";i:0;}");
    Q(&G.gc, GWP_CMD_BATCH_GET_CLIENT_COUNT_BY_GROUP, 0, "[100]", "a:1:{i:100;i:1;}");
    Q(&G.gc, GWP_CMD_GET_CLIENT_COUNT_BY_GROUP, 0, "g2", "i:2;");
    Q(&G.gc, GWP_CMD_GET_CLIENT_COUNT_BY_GROUP, 0, NULL, "i:3;");

    const char *s1 = "a:1:{s:3:\"uid\";s:2:\"u1\";}";
    cmd(&G.gc, GWP_CMD_SET_SESSION, id1, s1);
    snprintf(want, sizeof want, "a:2:{i:%u;s:%zu:\"%s\";i:%u;s:0:\"\";}", id1, strlen(s1), s1, id2);
    Q(&G.gc, GWP_CMD_GET_CLIENT_SESSIONS_BY_GROUP, 0, "g1", want);
    Q(&G.gc, GWP_CMD_GET_CLIENT_SESSIONS_BY_GROUP, 0, "no-such-group", "a:0:{}");

    /* SEND_TO_GROUP over two groups: c2 is in both and gets it twice; exclude
     * is an object keyed by connection id. */
    int n = snprintf(ext, sizeof ext, "{\"group\":[\"g1\",\"g2\"],\"exclude\":{\"%u\":%u}}", id1, id1);
    fakebw_cmd(&G.bw, GWP_CMD_SEND_TO_GROUP, 0, GWP_FLAG_BODY_IS_SCALAR, ext, (size_t)n, "gx", 2);
    NEXT_IS(c2, "gx");
    NEXT_IS(c2, "gx");
    NEXT_IS(c3, "gx");
    NOTHING(&G, c1, id1);
    NOTHING(&G, c2, id2);
    NOTHING(&G, c3, id3);
    const char *both = "{\"group\":[\"g1\",\"g2\"],\"exclude\":null}";
    fakebw_cmd(&G.bw, GWP_CMD_SEND_TO_GROUP, 0, GWP_FLAG_BODY_IS_SCALAR, both, strlen(both), "all-g", 5);
    NEXT_IS(c1, "all-g");
    NEXT_IS(c2, "all-g");
    NEXT_IS(c2, "all-g");
    NEXT_IS(c3, "all-g");
    NOTHING(&G, c2, id2);
    /* A numeric group name given as a JSON int. */
    const char *num = "{\"group\":[100],\"exclude\":null}";
    fakebw_cmd(&G.bw, GWP_CMD_SEND_TO_GROUP, 0, GWP_FLAG_BODY_IS_SCALAR, num, strlen(num), "hundred", 7);
    NEXT_IS(c1, "hundred");
    NOTHING(&G, c2, id2);

    /* LEAVE_GROUP */
    cmd(&G.gc, GWP_CMD_LEAVE_GROUP, id1, "g1");
    Q(&G.gc, GWP_CMD_GET_CLIENT_COUNT_BY_GROUP, 0, "g1", "i:1;");
    const char *g1 = "{\"group\":[\"g1\"],\"exclude\":null}";
    fakebw_cmd(&G.bw, GWP_CMD_SEND_TO_GROUP, 0, GWP_FLAG_BODY_IS_SCALAR, g1, strlen(g1), "g1-only", 7);
    NEXT_IS(c2, "g1-only");
    NOTHING(&G, c1, id1);
    /* The last member leaving deletes the group. */
    cmd(&G.gc, GWP_CMD_LEAVE_GROUP, id1, "100");
    Q(&G.gc, GWP_CMD_GET_GROUP_ID_LIST, 0, NULL, "a:2:{i:0;s:2:\"g1\";i:1;s:2:\"g2\";}");

    /* UNGROUP: members stay connected but no longer get the group's sends. */
    cmd(&G.gc, GWP_CMD_UNGROUP, 0, "g2");
    Q(&G.gc, GWP_CMD_GET_GROUP_ID_LIST, 0, NULL, "a:1:{i:0;s:2:\"g1\";}");
    Q(&G.gc, GWP_CMD_GET_CLIENT_COUNT_BY_GROUP, 0, "g2", "i:0;");
    Q(&G.gc, GWP_CMD_GET_CLIENT_SESSIONS_BY_GROUP, 0, "g2", "a:0:{}");
    Q(&G.gc, GWP_CMD_IS_ONLINE, id2, NULL, "i:1;");
    Q(&G.gc, GWP_CMD_IS_ONLINE, id3, NULL, "i:1;");
    const char *g2 = "{\"group\":[\"g2\"],\"exclude\":null}";
    fakebw_cmd(&G.bw, GWP_CMD_SEND_TO_GROUP, 0, GWP_FLAG_BODY_IS_SCALAR, g2, strlen(g2), "ungrouped", 9);
    NOTHING(&G, c2, id2);
    NOTHING(&G, c3, id3);
    /* ...and the group can be made again; it goes last. */
    cmd(&G.gc, GWP_CMD_JOIN_GROUP, id3, "g2");
    Q(&G.gc, GWP_CMD_GET_GROUP_ID_LIST, 0, NULL, "a:2:{i:0;s:2:\"g1\";i:1;s:2:\"g2\";}");
    fakebw_cmd(&G.bw, GWP_CMD_SEND_TO_GROUP, 0, GWP_FLAG_BODY_IS_SCALAR, g2, strlen(g2), "g2-again", 8);
    NEXT_IS(c3, "g2-again");
    NOTHING(&G, c2, id2);
    /* UNGROUP of an unknown group is harmless. */
    cmd(&G.gc, GWP_CMD_UNGROUP, 0, "never-was");
    /* A member that goes away leaves its groups; an emptied group is gone. */
    bye(&G, c3, id3);
    Q(&G.gc, GWP_CMD_GET_GROUP_ID_LIST, 0, NULL, "a:1:{i:0;s:2:\"g1\";}");
    bye(&G, c1, id1);
    bye(&G, c2, id2);
    Q(&G.gc, GWP_CMD_GET_GROUP_ID_LIST, 0, NULL, "a:0:{}");
}

static void test_select(void)
{
    uint32_t id1, id2, id3, id4;
    int c1 = client(&G, &id1), c2 = client(&G, &id2), c3 = client(&G, &id3), c4 = client(&G, &id4);
    const char *s1 = "a:1:{s:1:\"k\";i:1;}";
    cmd(&G.gc, GWP_CMD_SET_SESSION, id1, s1);
    cmd(&G.gc, GWP_CMD_BIND_UID, id1, "u1");
    cmd(&G.gc, GWP_CMD_JOIN_GROUP, id1, "g1");
    cmd(&G.gc, GWP_CMD_JOIN_GROUP, id1, "100");
    cmd(&G.gc, GWP_CMD_BIND_UID, id2, "7");
    cmd(&G.gc, GWP_CMD_JOIN_GROUP, id2, "g1");
    cmd(&G.gc, GWP_CMD_JOIN_GROUP, id4, "g9");
    cmd(&G.gc, GWP_CMD_LEAVE_GROUP, id4, "g9");
    char want[1024], ext[256];

    /* fields uid, where [] (getAllClientIdList): every client in accept order. */
    snprintf(want, sizeof want,
             "a:4:{i:%u;a:1:{s:3:\"uid\";s:2:\"u1\";}i:%u;a:1:{s:3:\"uid\";s:1:\"7\";}i:%u;a:1:{s:3:\"uid\";N;}"
             "i:%u;a:1:{s:3:\"uid\";N;}}",
             id1, id2, id3, id4);
    Q(&G.gc, GWP_CMD_SELECT, 0, "{\"fields\":[\"uid\"],\"where\":[]}", want);
    Q(&G.gc, GWP_CMD_SELECT, 0, "{\"fields\":[\"uid\"],\"where\":{}}", want);

    /* All three fields in the order asked; groups null if never joined, an
     * empty array once joined and left; session "" when none. */
    snprintf(want, sizeof want,
             "a:4:{i:%u;a:3:{s:6:\"groups\";a:2:{s:2:\"g1\";s:2:\"g1\";i:100;s:3:\"100\";}s:3:\"uid\";s:2:\"u1\";"
             "s:7:\"session\";s:%zu:\"%s\";}"
             "i:%u;a:3:{s:6:\"groups\";a:1:{s:2:\"g1\";s:2:\"g1\";}s:3:\"uid\";s:1:\"7\";s:7:\"session\";s:0:\"\";}"
             "i:%u;a:3:{s:6:\"groups\";N;s:3:\"uid\";N;s:7:\"session\";s:0:\"\";}"
             "i:%u;a:3:{s:6:\"groups\";a:0:{}s:3:\"uid\";N;s:7:\"session\";s:0:\"\";}}",
             id1, strlen(s1), s1, id2, id3, id4);
    Q(&G.gc, GWP_CMD_SELECT, 0, "{\"fields\":[\"groups\",\"uid\",\"session\"],\"where\":[]}", want);

    /* where groups */
    snprintf(want, sizeof want, "a:2:{i:%u;a:1:{s:3:\"uid\";s:2:\"u1\";}i:%u;a:1:{s:3:\"uid\";s:1:\"7\";}}", id1, id2);
    Q(&G.gc, GWP_CMD_SELECT, 0, "{\"fields\":[\"uid\"],\"where\":{\"groups\":[\"g1\"]}}", want);
    snprintf(want, sizeof want, "a:1:{i:%u;a:1:{s:3:\"uid\";s:2:\"u1\";}}", id1);
    Q(&G.gc, GWP_CMD_SELECT, 0, "{\"fields\":[\"uid\"],\"where\":{\"groups\":[100]}}", want);
    Q(&G.gc, GWP_CMD_SELECT, 0, "{\"fields\":[\"uid\"],\"where\":{\"groups\":[\"nope\",\"g9\"]}}", "a:0:{}");
    /* where uid, string or int */
    snprintf(want, sizeof want, "a:2:{i:%u;a:1:{s:7:\"session\";s:0:\"\";}i:%u;a:1:{s:7:\"session\";s:%zu:\"%s\";}}", id2,
             id1, strlen(s1), s1);
    Q(&G.gc, GWP_CMD_SELECT, 0, "{\"fields\":[\"session\"],\"where\":{\"uid\":[7,\"u1\"]}}", want);
    /* where connection_id: the values of the object are used. */
    int n = snprintf(ext, sizeof ext, "{\"fields\":[\"uid\",\"groups\"],\"where\":{\"connection_id\":{\"%u\":%u}}}", id3,
                     id3);
    (void)n;
    snprintf(want, sizeof want, "a:1:{i:%u;a:2:{s:3:\"uid\";N;s:6:\"groups\";N;}}", id3);
    Q(&G.gc, GWP_CMD_SELECT, 0, ext, want);
    /* Union of every key, a client once, in where's key order. */
    snprintf(ext, sizeof ext, "{\"fields\":[\"uid\"],\"where\":{\"groups\":[\"g1\"],\"uid\":[\"u1\"],\"connection_id\":{\"%u\":%u}}}",
             id3, id3);
    snprintf(want, sizeof want,
             "a:3:{i:%u;a:1:{s:3:\"uid\";s:2:\"u1\";}i:%u;a:1:{s:3:\"uid\";s:1:\"7\";}i:%u;a:1:{s:3:\"uid\";N;}}", id1, id2,
             id3);
    Q(&G.gc, GWP_CMD_SELECT, 0, ext, want);
    /* connection_id first: that client keeps its first place. */
    snprintf(ext, sizeof ext, "{\"fields\":[\"uid\"],\"where\":{\"connection_id\":{\"%u\":%u},\"groups\":[\"g1\"]}}", id2,
             id2);
    snprintf(want, sizeof want, "a:2:{i:%u;a:1:{s:3:\"uid\";s:1:\"7\";}i:%u;a:1:{s:3:\"uid\";s:2:\"u1\";}}", id2, id1);
    Q(&G.gc, GWP_CMD_SELECT, 0, ext, want);
    /* Unknown connection ids contribute nothing; bad JSON gives a:0:{}. */
    Q(&G.gc, GWP_CMD_SELECT, 0, "{\"fields\":[\"uid\"],\"where\":{\"connection_id\":{\"999999\":999999}}}", "a:0:{}");
    Q(&G.gc, GWP_CMD_SELECT, 0, "{nope", "a:0:{}");
    Q(&G.gc, GWP_CMD_SELECT, 0, NULL, "a:0:{}");
    bye(&G, c1, id1);
    bye(&G, c2, id2);
    bye(&G, c3, id3);
    bye(&G, c4, id4);
}

static void test_send_to_all_connections(void)
{
    uint32_t id1, id2, id3;
    int c1 = client(&G, &id1), c2 = client(&G, &id2), c3 = client(&G, &id3);
    char ext[256];
    int n = snprintf(ext, sizeof ext, "{\"connections\":{\"%u\":%u,\"%u\":%u,\"999999\":999999}}", id1, id1, id3, id3);
    fakebw_cmd(&G.bw, GWP_CMD_SEND_TO_ALL, 0, GWP_FLAG_BODY_IS_SCALAR, ext, (size_t)n, "chosen", 6);
    NEXT_IS(c1, "chosen");
    NEXT_IS(c3, "chosen");
    NOTHING(&G, c2, id2);
    NOTHING(&G, c1, id1);
    NOTHING(&G, c3, id3);
    /* A JSON list of ids is accepted too (§3.6 C note). */
    n = snprintf(ext, sizeof ext, "{\"connections\":[%u]}", id2);
    fakebw_cmd(&G.bw, GWP_CMD_SEND_TO_ALL, 0, GWP_FLAG_BODY_IS_SCALAR, ext, (size_t)n, "listed", 6);
    NEXT_IS(c2, "listed");
    NOTHING(&G, c1, id1);
    NOTHING(&G, c3, id3);
    /* An exclude list naming two clients. */
    n = snprintf(ext, sizeof ext, "{\"exclude\":{\"%u\":%u,\"%u\":%u}}", id1, id1, id2, id2);
    fakebw_cmd(&G.bw, GWP_CMD_SEND_TO_ALL, 0, GWP_FLAG_BODY_IS_SCALAR, ext, (size_t)n, "rest", 4);
    NEXT_IS(c3, "rest");
    NOTHING(&G, c1, id1);
    NOTHING(&G, c2, id2);
    bye(&G, c1, id1);
    bye(&G, c2, id2);
    bye(&G, c3, id3);
}

static void test_not_call_encode(void)
{
    uint32_t id1, id2;
    int c1 = client(&G, &id1), c2 = client(&G, &id2);
    cmd(&G.gc, GWP_CMD_JOIN_GROUP, id1, "raw-g");
    cmd(&G.gc, GWP_CMD_BIND_UID, id2, "raw-u");
    sync_link(&G.gc);
    /* The golden frame itself (send_to_one_raw.hex) retargeted at c1: body
     * 81 05 "hello" with flag 3 must reach the socket as it is. */
    struct gwp_frame f;
    uint8_t *raw;
    size_t len;
    CU_ASSERT_FATAL(fixture_frame("send_to_one_raw.hex", &f, &raw, &len) == 0);
    CU_ASSERT_EQUAL(f.hdr.flag, GWP_FLAG_BODY_IS_SCALAR | GWP_FLAG_NOT_CALL_ENCODE);
    const uint8_t frame[] = {0x81, 0x05, 'h', 'e', 'l', 'l', 'o'};
    CU_ASSERT(f.body_len == sizeof frame && memcmp(f.body, frame, sizeof frame) == 0);
    const uint8_t fl = GWP_FLAG_BODY_IS_SCALAR | GWP_FLAG_NOT_CALL_ENCODE;
    fakebw_cmd(&G.bw, GWP_CMD_SEND_TO_ONE, id1, f.hdr.flag, NULL, 0, f.body, f.body_len);
    NEXT_IS(c1, "hello");
    NOTHING(&G, c1, id1);
    fakebw_cmd(&G.bw, GWP_CMD_SEND_TO_ALL, 0, fl, NULL, 0, frame, sizeof frame);
    NEXT_IS(c1, "hello");
    NEXT_IS(c2, "hello");
    fakebw_cmd(&G.bw, GWP_CMD_SEND_TO_UID, 0, fl, "[\"raw-u\"]", 9, frame, sizeof frame);
    NEXT_IS(c2, "hello");
    const char *g = "{\"group\":[\"raw-g\"],\"exclude\":null}";
    fakebw_cmd(&G.bw, GWP_CMD_SEND_TO_GROUP, 0, fl, g, strlen(g), frame, sizeof frame);
    NEXT_IS(c1, "hello");
    /* Two raw frames in one body arrive as two messages; the stream stays in
     * step with encoded messages after it. */
    const uint8_t two[] = {0x81, 0x01, 'a', 0x81, 0x02, 'b', 'c'};
    fakebw_cmd(&G.bw, GWP_CMD_SEND_TO_ONE, id2, fl, NULL, 0, two, sizeof two);
    NEXT_IS(c2, "a");
    NEXT_IS(c2, "bc");
    NOTHING(&G, c1, id1);
    NOTHING(&G, c2, id2);
    free(raw);
    bye(&G, c1, id1);
    bye(&G, c2, id2);
}

static void test_pipelined_queries(void)
{
    uint32_t id1;
    int c1 = client(&G, &id1);
    const char *s = "a:1:{s:1:\"p\";i:1;}";
    cmd(&G.gc, GWP_CMD_SET_SESSION, id1, s);
    sync_link(&G.gc);
    /* A fresh GatewayClient connection: the auth frame and eight commands in
     * one write; the no-reply JOIN_GROUP in the middle takes effect in order. */
    struct buf b = BUF_INIT;
    struct gwp_header h = {.cmd = GWP_CMD_GATEWAY_CLIENT_CONNECT, .flag = GWP_FLAG_BODY_IS_SCALAR};
    const char *auth = "{\"secret_key\":\"" KEY "\"}";
    gwp_encode(&b, &h, NULL, 0, auth, strlen(auth));
    struct {
        uint8_t cmd;
        uint32_t conn;
        const char *ext;
    } q[] = {
        {GWP_CMD_IS_ONLINE, id1, NULL},
        {GWP_CMD_JOIN_GROUP, id1, "pipe"},
        {GWP_CMD_GET_CLIENT_COUNT_BY_GROUP, 0, "pipe"},
        {GWP_CMD_GET_SESSION_BY_CLIENT_ID, id1, NULL},
        {GWP_CMD_GET_GROUP_ID_LIST, 0, NULL},
        {GWP_CMD_IS_ONLINE, 999999, NULL},
        {GWP_CMD_GET_CLIENT_COUNT_BY_GROUP, 0, NULL},
        {GWP_CMD_GET_CLIENT_ID_BY_UID, 0, "nobody"},
    };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        struct gwp_header x = {.cmd = q[i].cmd, .connection_id = q[i].conn, .flag = GWP_FLAG_BODY_IS_SCALAR};
        gwp_encode(&b, &x, q[i].ext, q[i].ext ? strlen(q[i].ext) : 0, "", 0);
    }
    const char *want[] = {"i:1;", "i:1;", s, "a:1:{i:0;s:4:\"pipe\";}", "i:0;", "i:1;", "a:0:{}"};
    struct fakebw p;
    CU_ASSERT_FATAL(fakebw_client(&p, G.gw.lan_port, NULL) == 0);
    CU_ASSERT(tu_write_all(p.fd, buf_head(&b), buf_avail(&b)) == 0);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        size_t n = 0;
        char *r = fakebw_reply(&p, &n, T);
        char what[64];
        snprintf(what, sizeof what, "pipelined reply %zu", i);
        CU_ASSERT(bytes_eq(what, r, n, want[i], strlen(want[i])));
        free(r);
    }
    /* Exactly those seven replies: nothing more on the link. */
    CU_ASSERT_EQUAL(buf_avail(&p.in), 0);
    struct pollfd pf = {.fd = p.fd, .events = POLLIN};
    CU_ASSERT_EQUAL(poll(&pf, 1, 200), 0);

    /* The same link, a query split across writes (header cut in the middle). */
    buf_reset(&b);
    struct gwp_header x = {.cmd = GWP_CMD_GET_CLIENT_COUNT_BY_GROUP, .flag = GWP_FLAG_BODY_IS_SCALAR};
    gwp_encode(&b, &x, "pipe", 4, "", 0);
    tu_write_all(p.fd, buf_head(&b), 10);
    usleep(100000);
    tu_write_all(p.fd, buf_head(&b) + 10, buf_avail(&b) - 10);
    size_t n = 0;
    char *r = fakebw_reply(&p, &n, T);
    CU_ASSERT(bytes_eq("split query", r, n, "i:1;", 4));
    free(r);
    fakebw_close(&p);
    buf_free(&b);
    bye(&G, c1, id1);
}

static void test_query_before_auth(void)
{
    uint32_t id1;
    int c1 = client(&G, &id1);
    struct fakebw x;
    /* A query with no auth frame: closed, not a byte back. */
    CU_ASSERT_FATAL(fakebw_client(&x, G.gw.lan_port, NULL) == 0);
    cmd(&x, GWP_CMD_GET_ALL_CLIENT_SESSIONS, 0, NULL);
    CU_ASSERT_EQUAL(bytes_until_eof(x.fd, T), 0);
    fakebw_close(&x);
    /* The query first, the auth frame after it in the same write: still
     * closed at the query, nothing sent. */
    struct buf b = BUF_INIT;
    struct gwp_header q = {.cmd = GWP_CMD_IS_ONLINE, .connection_id = id1, .flag = GWP_FLAG_BODY_IS_SCALAR};
    gwp_encode(&b, &q, NULL, 0, "", 0);
    struct gwp_header h = {.cmd = GWP_CMD_GATEWAY_CLIENT_CONNECT, .flag = GWP_FLAG_BODY_IS_SCALAR};
    const char *auth = "{\"secret_key\":\"" KEY "\"}";
    gwp_encode(&b, &h, NULL, 0, auth, strlen(auth));
    gwp_encode(&b, &q, NULL, 0, "", 0);
    CU_ASSERT_FATAL(fakebw_client(&x, G.gw.lan_port, NULL) == 0);
    tu_write_all(x.fd, buf_head(&b), buf_avail(&b));
    CU_ASSERT_EQUAL(bytes_until_eof(x.fd, T), 0);
    fakebw_close(&x);
    buf_free(&b);
    /* A wrong key, then a query: closed, nothing sent. */
    CU_ASSERT_FATAL(fakebw_client(&x, G.gw.lan_port, "wrong-key") == 0);
    cmd(&x, GWP_CMD_IS_ONLINE, id1, NULL);
    CU_ASSERT_EQUAL(bytes_until_eof(x.fd, T), 0);
    fakebw_close(&x);
    /* A push before auth does not reach the client. */
    CU_ASSERT_FATAL(fakebw_client(&x, G.gw.lan_port, NULL) == 0);
    fakebw_cmd(&x, GWP_CMD_SEND_TO_ONE, id1, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, "sneaky", 6);
    CU_ASSERT_EQUAL(bytes_until_eof(x.fd, T), 0);
    fakebw_close(&x);
    NOTHING(&G, c1, id1);
    CU_ASSERT(tu_file_contains(G.gw.p.log, "Unauthorized request from 127.0.0.1", T));
    /* The gateway is unharmed. */
    Q(&G.gc, GWP_CMD_IS_ONLINE, id1, NULL, "i:1;");
    bye(&G, c1, id1);
}

/* DESTROY on a quiet gateway: the connection must drop at once, without
 * any other traffic to drive the event loop. */
static void test_destroy_idle(void)
{
    uint32_t id;
    int c = client(&G, &id);
    cmd(&G.gc, GWP_CMD_DESTROY, id, NULL);
    CU_ASSERT_EQUAL(tu_wait_eof(c, T), 1);
    tu_close(c);
    CU_ASSERT_FATAL(fakebw_wait(&G.bw, GWP_CMD_ON_CLOSE, T) == 0);
    CU_ASSERT_EQUAL(G.bw.last.hdr.connection_id, id);
    Q(&G.gc, GWP_CMD_IS_ONLINE, id, NULL, "i:0;");
}

/* ---------- suites 2 and 3: the golden worlds ---------- */

static struct gw B, C;
static int cb[4], cc[9]; /* client fds by connection id */

/* Sends a golden frame file as it is over the GatewayClient link. */
static void replay_frame(struct gw *g, const char *file)
{
    size_t len;
    uint8_t *raw = tu_read_hex_fixture(file, &len);
    CU_ASSERT_FATAL(raw != NULL);
    CU_ASSERT(tu_write_all(g->gc.fd, raw, len) == 0);
    free(raw);
}

/* Connects clients until the next one gets connection id `want`. */
static int client_with_id(struct gw *g, uint32_t want)
{
    uint32_t id;
    int fd = client(g, &id);
    CU_ASSERT_FATAL(id == want);
    return fd;
}

static int golden_b_init(void)
{
    if (gw_start(&B, "golden-b") < 0)
        return -1;
    return 0;
}
static int golden_b_clean(void)
{
    for (int i = 1; i <= 3; i++)
        if (cb[i] > 0)
            tu_close(cb[i]);
    return gw_stop(&B);
}
static int golden_c_init(void) { return gw_start(&C, "golden-c"); }
static int golden_c_clean(void)
{
    for (int i = 4; i <= 5; i++)
        if (cc[i] > 0)
            tu_close(cc[i]);
    return gw_stop(&C);
}

/* Sends every query stream addressed to `addr` exactly as stored and
 * compares each reply with reply-<name>.hex (length prefix included). */
static void replay_streams(struct gw *g, const char *addr)
{
    json_t *cases = json_object_get(tu_fixture_index(), "cases");
    size_t i, done = 0;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "kind")), "stream") != 0 ||
            strcmp(json_string_value(json_object_get(c, "to_address")), addr) != 0)
            continue;
        const char *name = json_string_value(json_object_get(c, "name"));
        json_t *frames = json_object_get(c, "frames"), *fr;
        size_t j, queries = 0;
        json_array_foreach(frames, j, fr) queries += gwp_cmd_has_reply((unsigned)json_integer_value(json_object_get(fr, "cmd")));
        if (!queries)
            continue;
        char file[128];
        snprintf(file, sizeof file, "%s", json_string_value(json_object_get(c, "file")));
        size_t len;
        uint8_t *raw = tu_read_hex_fixture(file, &len);
        CU_ASSERT_FATAL(raw != NULL);
        struct fakebw l;
        CU_ASSERT_FATAL(fakebw_client(&l, g->gw.lan_port, NULL) == 0);
        CU_ASSERT(tu_write_all(l.fd, raw, len) == 0);
        free(raw);
        for (size_t k = 0; k < queries; k++) {
            size_t n = 0;
            char *r = fakebw_reply(&l, &n, T);
            char what[160];
            snprintf(what, sizeof what, "golden stream %s", name);
            CU_ASSERT_PTR_NOT_NULL(r);
            if (!r)
                break;
            /* Well-formed whatever the world: valid PHP serialize(). */
            msgpack_zone z;
            msgpack_zone_init(&z, 4096);
            msgpack_object v;
            char err[128];
            int ok = phpser_decode((const uint8_t *)r, n, &z, &v, NULL, err, sizeof err) == 0;
            if (!ok)
                fprintf(stderr, "\n    %s: reply is not PHP serialize(): %s\n", what, err);
            CU_ASSERT(ok);
            msgpack_zone_destroy(&z);
            /* Byte-exact against the reply PHP gave in the same world. */
            char rfile[160];
            snprintf(rfile, sizeof rfile, "reply-%s.hex", name);
            size_t wl;
            uint8_t *want = tu_read_hex_fixture(rfile, &wl);
            if (want) {
                CU_ASSERT(wl >= 4);
                CU_ASSERT(bytes_eq(what, r, n, want + 4, wl - 4));
                CU_ASSERT_EQUAL(((size_t)want[0] << 24 | (size_t)want[1] << 16 | (size_t)want[2] << 8 | want[3]), n);
                free(want);
                done++;
            }
            free(r);
        }
        /* Exactly one reply per query. */
        struct pollfd pf = {.fd = l.fd, .events = POLLIN};
        CU_ASSERT(buf_avail(&l.in) == 0 && poll(&pf, 1, 100) == 0);
        fakebw_close(&l);
    }
    CU_ASSERT(done >= 10);
    fprintf(stderr, " [%zu replies byte-exact] ", done);
}

static void test_golden_world_b(void)
{
    /* Gateway B (172.16.0.11:2900): clients 1, 2, 3. */
    for (uint32_t i = 1; i <= 3; i++)
        cb[i] = client_with_id(&B, i);
    replay_frame(&B, "join_group.hex");  /* 1 joins table-12 */
    cmd(&B.gc, GWP_CMD_JOIN_GROUP, 2, "table-12");
    cmd(&B.gc, GWP_CMD_JOIN_GROUP, 3, "screen");
    cmd(&B.gc, GWP_CMD_JOIN_GROUP, 1, "100");
    replay_frame(&B, "bind_uid.hex"); /* 1 binds u1001 */
    cmd(&B.gc, GWP_CMD_BIND_UID, 2, "u1001");
    replay_frame(&B, "set_session.hex");    /* 1: the five-key session */
    replay_frame(&B, "update_session.hex"); /* 1: merged */
    replay_frame(&B, "set_session_api.hex"); /* 2 */
    replay_frame(&B, "kick.hex");            /* 6 is not here: ignored */
    sync_link(&B.gc);
    /* Effects the vectors record, checked on the real clients. */
    replay_frame(&B, "send_to_one_raw.hex");
    NEXT_IS(cb[2], "hello");
    replay_frame(&B, "send_to_uid.hex");
    NEXT_IS(cb[1], "{\"type\":\"you_won\"}");
    NEXT_IS(cb[2], "{\"type\":\"you_won\"}");
    replay_frame(&B, "send_to_group_exclude.hex"); /* table-12 + screen, not 2 */
    NEXT_IS(cb[1], "{\"type\":\"draw_start\"}");
    NEXT_IS(cb[3], "{\"type\":\"draw_start\"}");
    replay_frame(&B, "send_to_all_client_id_array.hex"); /* 1 and 2 */
    NEXT_IS(cb[1], "{\"type\":\"private\"}");
    NEXT_IS(cb[2], "{\"type\":\"private\"}");
    replay_frame(&B, "send_to_all_exclude.hex"); /* all but 1 */
    NEXT_IS(cb[2], "{\"type\":\"round\",\"n\":2}");
    NEXT_IS(cb[3], "{\"type\":\"round\",\"n\":2}");
    for (int i = 1; i <= 3; i++)
        NOTHING(&B, cb[i], (uint32_t)i);
    replay_streams(&B, "172.16.0.11:2900");
}

static void test_golden_world_c(void)
{
    /* Gateway C (172.16.0.12:2900): clients 4 and 5 (1-3 come and go first). */
    for (uint32_t i = 1; i <= 3; i++) {
        int fd = client_with_id(&C, i);
        bye(&C, fd, i);
    }
    cc[4] = client_with_id(&C, 4);
    cc[5] = client_with_id(&C, 5);
    cmd(&C.gc, GWP_CMD_JOIN_GROUP, 4, "table-12");
    cmd(&C.gc, GWP_CMD_JOIN_GROUP, 5, "table-12");
    cmd(&C.gc, GWP_CMD_JOIN_GROUP, 5, "leavers");
    replay_frame(&C, "leave_group.hex"); /* 5 leaves "leavers": deleted */
    cmd(&C.gc, GWP_CMD_JOIN_GROUP, 5, "temp-group");
    cmd(&C.gc, GWP_CMD_JOIN_GROUP, 4, "temp-group");
    replay_frame(&C, "ungroup.hex"); /* temp-group gone */
    cmd(&C.gc, GWP_CMD_JOIN_GROUP, 4, "\xe4\xb8\x80\xe7\xad\x89\xe5\xa5\x96/VIP");
    replay_frame(&C, "bind_uid_int.hex"); /* 4 binds 1002 */
    cmd(&C.gc, GWP_CMD_BIND_UID, 5, "u2002");
    replay_frame(&C, "unbind_uid.hex");              /* 5 unbinds */
    replay_frame(&C, "update_session_empty_before.hex"); /* 4 */
    cmd(&C.gc, GWP_CMD_SET_SESSION, 5, "a:1:{s:1:\"x\";i:1;}");
    replay_frame(&C, "set_session_clear.hex"); /* 5: no session again */
    sync_link(&C.gc);
    /* Clients 6, 7, 8: closed, kicked with a message, destroyed. */
    int c6 = client_with_id(&C, 6);
    bye(&C, c6, 6);
    int c7 = client_with_id(&C, 7);
    replay_frame(&C, "kick_with_message.hex");
    NEXT_IS(c7, "{\"type\":\"bye\",\"reason\":\"\xe6\xb4\xbb\xe5\x8a\xa8\xe7\xbb\x93\xe6\x9d\x9f\"}");
    CU_ASSERT_EQUAL(tu_wait_eof(c7, T), 1);
    wait_close(&C, 7);
    tu_close(c7);
    int c8 = client_with_id(&C, 8);
    replay_frame(&C, "destroy.hex");
    CU_ASSERT_EQUAL(tu_wait_eof(c8, T), 1);
    wait_close(&C, 8);
    tu_close(c8);
    /* Effects recorded by the vectors. */
    replay_frame(&C, "send_to_uid_list.hex"); /* [1002,"u1001"]: 4 only */
    NEXT_IS(cc[4], "x");
    replay_frame(&C, "send_to_group_json_escapes.hex"); /* the VIP group: 4 */
    NEXT_IS(cc[4], "{\"type\":\"vip\"}");
    replay_frame(&C, "send_to_group_exclude_gw_c.hex"); /* not 5 */
    NEXT_IS(cc[4], "{\"type\":\"draw_start\"}");
    /* A GatewayClient stream (auth + SEND_TO_ONE to 4) on a new link. */
    struct fakebw l;
    CU_ASSERT_FATAL(fakebw_client(&l, C.gw.lan_port, NULL) == 0);
    size_t len;
    uint8_t *raw = tu_read_hex_fixture("gc_send_to_client.hex", &len);
    tu_write_all(l.fd, raw, len);
    free(raw);
    NEXT_IS(cc[4], "hi");
    fakebw_close(&l);
    NOTHING(&C, cc[4], 4);
    NOTHING(&C, cc[5], 5);
    replay_streams(&C, "172.16.0.12:2900");
}

int main(void)
{
    int reg_ok = start_register() == 0;
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("gateway_cmds", reg_ok ? cmds_init : NULL, cmds_clean);
    if (!reg_ok)
        fprintf(stderr, "register did not start\n");
    CU_add_test(s, "UPDATE_SESSION merges like array_replace_recursive", test_update_session);
    CU_add_test(s, "GET_SESSION_BY_CLIENT_ID: verbatim, a:0:{}, N;", test_get_session);
    CU_add_test(s, "GET_ALL_CLIENT_SESSIONS", test_get_all_client_sessions);
    CU_add_test(s, "uids: BIND/UNBIND, GET_CLIENT_ID_BY_UID, batch, SEND_TO_UID", test_uids);
    CU_add_test(s, "groups: JOIN/LEAVE/UNGROUP, lists, counts, sessions, SEND_TO_GROUP", test_groups);
    CU_add_test(s, "SELECT fields and where", test_select);
    CU_add_test(s, "SEND_TO_ALL with connections and exclude", test_send_to_all_connections);
    CU_add_test(s, "NOT_CALL_ENCODE writes the body verbatim", test_not_call_encode);
    CU_add_test(s, "pipelined queries answered in order", test_pipelined_queries);
    CU_add_test(s, "commands before GATEWAY_CLIENT_CONNECT: closed, nothing sent", test_query_before_auth);
    CU_add_test(s, "DESTROY drops an idle client at once", test_destroy_idle);
    CU_pSuite b = CU_add_suite("golden_world_b", golden_b_init, golden_b_clean);
    CU_add_test(b, "gateway B world: golden frames replayed, query streams byte-exact", test_golden_world_b);
    CU_pSuite c = CU_add_suite("golden_world_c", golden_c_init, golden_c_clean);
    CU_add_test(c, "gateway C world: golden frames replayed, query streams byte-exact", test_golden_world_c);
    int rc = tu_run("test_gateway_cmds");
    if (reg.pid > 0 && launch_stop(&reg, 5000) < 0)
        rc = rc ? rc : 1;
    launch_free(&reg);
    return rc;
}
