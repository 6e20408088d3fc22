/* registry: the register's directory logic (§2.3), driven through a fake
 * transport that records, per peer, the bytes sent and the closes asked for. */
#include "register/registry.h"
#include "log.h"
#include "regmsg.h"

#include "tu.h"

#include <CUnit/CUnit.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY "s3cr3t-lottery"

/* ------------------------------------------------------ fake transport */

struct fpeer {
    struct reg_peer p; /* what the registry sees */
    struct buf out;    /* every byte sent to this peer */
    size_t seen;       /* bytes of out already checked by take() */
    int sends;         /* send calls */
    int closes;        /* close calls */
    int sends_after_close;
};

struct fake {
    struct registry reg;
    struct fpeer *peers[16];
    int n;
};

static void fake_send(void *ctx, struct reg_peer *p, const uint8_t *data, size_t len)
{
    (void)ctx;
    struct fpeer *f = (struct fpeer *)p; /* p is the first member */
    if (f->closes)
        f->sends_after_close++;
    f->sends++;
    buf_append(&f->out, data, len);
}

static void fake_close(void *ctx, struct reg_peer *p)
{
    (void)ctx;
    ((struct fpeer *)p)->closes++;
}

static const struct registry_ops fake_ops = {fake_send, fake_close};

static void fake_init(struct fake *fk, const char *secret)
{
    memset(fk, 0, sizeof *fk);
    registry_init(&fk->reg, secret, &fake_ops, fk);
}

static struct fpeer *peer_new(struct fake *fk, const char *ip, uint16_t port)
{
    struct fpeer *f = calloc(1, sizeof *f);
    snprintf(f->p.ip, sizeof f->p.ip, "%s", ip);
    f->p.port = port;
    fk->peers[fk->n++] = f;
    return f;
}

/* The socket layer's part when a connection goes away. */
static void peer_gone(struct fake *fk, struct fpeer *f)
{
    registry_on_close(&fk->reg, &f->p);
    for (int i = 0; i < fk->n; i++)
        if (fk->peers[i] == f) {
            fk->peers[i] = fk->peers[--fk->n];
            break;
        }
    buf_free(&f->out);
    free(f);
}

static void fake_free(struct fake *fk)
{
    while (fk->n)
        peer_gone(fk, fk->peers[fk->n - 1]);
}

/* Feeds raw bytes from the peer, framed like the socket layer does. */
static void feed(struct fake *fk, struct fpeer *f, const char *bytes)
{
    size_t n = strlen(bytes), off = 0, ll, used;
    while (off < n && regmsg_next_line((const uint8_t *)bytes + off, n - off, REGMSG_DEFAULT_MAX_LINE, &ll, &used) ==
                          REGMSG_OK) {
        registry_on_line(&fk->reg, &f->p, bytes + off, ll);
        off += used;
    }
}

static void gw(struct fake *fk, struct fpeer *f, const char *address)
{
    char line[256];
    snprintf(line, sizeof line, "{\"event\":\"gateway_connect\", \"address\":\"%s\", \"secret_key\":\"" KEY "\"}\n",
             address);
    feed(fk, f, line);
}

static void wk(struct fake *fk, struct fpeer *f) { feed(fk, f, "{\"event\":\"worker_connect\",\"secret_key\":\"" KEY "\"}\n"); }

/* 1 if the bytes sent since the last take() are exactly want (then marks them seen). */
static int take(struct fpeer *f, const char *want)
{
    size_t n = buf_avail(&f->out) - f->seen;
    int ok = n == strlen(want) && memcmp(buf_head(&f->out) + f->seen, want, n) == 0;
    if (!ok)
        fprintf(stderr, "\n  sent: '%.*s'\n  want: '%s'\n", (int)n, (const char *)buf_head(&f->out) + f->seen, want);
    f->seen = buf_avail(&f->out);
    return ok;
}

static int nothing_new(const struct fpeer *f) { return buf_avail(&f->out) == f->seen; }

/* The broadcast line for a list of addresses, as PHP's json_encode writes it. */
static const char *bc(int n, ...)
{
    static char line[1024];
    va_list ap;
    va_start(ap, n);
    int k = snprintf(line, sizeof line, "{\"event\":\"broadcast_addresses\",\"addresses\":[");
    for (int i = 0; i < n; i++)
        k += snprintf(line + k, sizeof line - (size_t)k, "%s\"%s\"", i ? "," : "", va_arg(ap, const char *));
    va_end(ap);
    snprintf(line + k, sizeof line - (size_t)k, "]}\n");
    return line;
}

static int quiet(void)
{
    log_init("register", (enum log_level)(LOG_ERROR + 1)); /* the registry logs a lot; keep the test output readable */
    return 0;
}

/* ----------------------------------------------------------- the tests */

static void test_gateway_then_worker(void)
{
    struct fake fk;
    fake_init(&fk, KEY);
    struct fpeer *g = peer_new(&fk, "172.16.0.11", 40001);
    struct fpeer *w = peer_new(&fk, "172.16.0.20", 40002);
    gw(&fk, g, "172.16.0.11:2900");
    CU_ASSERT(nothing_new(g)); /* a gateway gets no answer */
    CU_ASSERT_EQUAL(g->closes, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g->p.address);
    CU_ASSERT_STRING_EQUAL(g->p.address, "172.16.0.11:2900");
    CU_ASSERT(g->p.authed);
    CU_ASSERT_EQUAL(fk.reg.n_gateway_conns, 1);
    CU_ASSERT_EQUAL(fk.reg.n_workers, 0);

    wk(&fk, w);
    CU_ASSERT(take(w, bc(1, "172.16.0.11:2900")));
    CU_ASSERT_EQUAL(w->sends, 1);
    CU_ASSERT_EQUAL(w->closes, 0);
    CU_ASSERT(w->p.is_worker && w->p.authed);
    CU_ASSERT_EQUAL(fk.reg.n_workers, 1);
    CU_ASSERT(nothing_new(g));

    /* Byte-identical to the fixture. */
    size_t n;
    char *path = tu_fixture_path("register-broadcast_addresses_one.txt");
    uint8_t *want = tu_read_file(path, &n);
    free(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(want);
    CU_ASSERT(buf_avail(&w->out) == n && memcmp(buf_head(&w->out), want, n) == 0);
    free(want);

    /* A repeated worker_connect sends the list again, to that worker only. */
    struct fpeer *w2 = peer_new(&fk, "172.16.0.21", 40003);
    wk(&fk, w2);
    CU_ASSERT(take(w2, bc(1, "172.16.0.11:2900")));
    wk(&fk, w);
    CU_ASSERT(take(w, bc(1, "172.16.0.11:2900")));
    CU_ASSERT(nothing_new(w2));
    CU_ASSERT_EQUAL(fk.reg.n_workers, 2);
    fake_free(&fk);
}

static void test_worker_with_no_gateway(void)
{
    struct fake fk;
    fake_init(&fk, KEY);
    struct fpeer *w = peer_new(&fk, "10.0.0.1", 1);
    wk(&fk, w);
    size_t n;
    char *path = tu_fixture_path("register-broadcast_addresses_empty.txt");
    uint8_t *want = tu_read_file(path, &n);
    free(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(want);
    CU_ASSERT(buf_avail(&w->out) == n && memcmp(buf_head(&w->out), want, n) == 0);
    free(want);
    fake_free(&fk);
}

static void test_broadcasts(void)
{
    struct fake fk;
    fake_init(&fk, KEY);
    struct fpeer *w1 = peer_new(&fk, "10.0.0.1", 1), *w2 = peer_new(&fk, "10.0.0.2", 2);
    wk(&fk, w1);
    wk(&fk, w2);
    CU_ASSERT(take(w1, bc(0)));
    CU_ASSERT(take(w2, bc(0)));

    struct fpeer *g1 = peer_new(&fk, "172.16.0.11", 3), *g2 = peer_new(&fk, "172.16.0.12", 4);
    gw(&fk, g1, "172.16.0.11:2900");
    CU_ASSERT(take(w1, bc(1, "172.16.0.11:2900")));
    CU_ASSERT(take(w2, bc(1, "172.16.0.11:2900")));
    gw(&fk, g2, "172.16.0.12:2900");
    CU_ASSERT(take(w1, bc(2, "172.16.0.11:2900", "172.16.0.12:2900")));
    CU_ASSERT(take(w2, bc(2, "172.16.0.11:2900", "172.16.0.12:2900")));
    /* The same address again: broadcast anyway (even though nothing changed). */
    gw(&fk, g1, "172.16.0.11:2900");
    CU_ASSERT(take(w1, bc(2, "172.16.0.11:2900", "172.16.0.12:2900")));
    CU_ASSERT(take(w2, bc(2, "172.16.0.11:2900", "172.16.0.12:2900")));
    CU_ASSERT_EQUAL(fk.reg.n_gateway_conns, 2);
    CU_ASSERT_EQUAL(fk.reg.broadcasts, 3);

    /* Byte-identical to the fixture with two gateways. */
    size_t n;
    char *path = tu_fixture_path("register-broadcast_addresses.txt");
    uint8_t *want = tu_read_file(path, &n);
    free(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(want);
    CU_ASSERT(buf_avail(&w2->out) >= n && memcmp(buf_head(&w2->out) + buf_avail(&w2->out) - n, want, n) == 0);
    free(want);

    /* Gateway close: re-broadcast of the rest. */
    peer_gone(&fk, g1);
    CU_ASSERT(take(w1, bc(1, "172.16.0.12:2900")));
    CU_ASSERT(take(w2, bc(1, "172.16.0.12:2900")));
    CU_ASSERT_EQUAL(fk.reg.n_gateway_conns, 1);
    peer_gone(&fk, g2);
    CU_ASSERT(take(w1, bc(0)));
    CU_ASSERT(take(w2, bc(0)));
    CU_ASSERT_EQUAL(fk.reg.n_gateway_conns, 0);

    /* A connection that never registered closes: nothing. */
    struct fpeer *x = peer_new(&fk, "10.9.9.9", 9);
    peer_gone(&fk, x);
    CU_ASSERT(nothing_new(w1) && nothing_new(w2));
    fake_free(&fk);
}

/* register-broadcast_addresses_after_close.txt: three gateways, two close. */
static void test_after_close_fixture(void)
{
    struct fake fk;
    fake_init(&fk, KEY);
    struct fpeer *g1 = peer_new(&fk, "172.16.0.11", 1), *g2 = peer_new(&fk, "172.16.0.12", 2),
                 *g3 = peer_new(&fk, "172.16.0.13", 3);
    gw(&fk, g1, "172.16.0.11:2900");
    gw(&fk, g2, "172.16.0.12:2900");
    gw(&fk, g3, "172.16.0.13:2900");
    struct fpeer *w = peer_new(&fk, "10.0.0.1", 4);
    wk(&fk, w);
    CU_ASSERT(take(w, bc(3, "172.16.0.11:2900", "172.16.0.12:2900", "172.16.0.13:2900")));
    peer_gone(&fk, g2);
    peer_gone(&fk, g1);
    size_t n;
    char *path = tu_fixture_path("register-broadcast_addresses_after_close.txt");
    uint8_t *want = tu_read_file(path, &n);
    free(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(want);
    CU_ASSERT(buf_avail(&w->out) - w->seen == n && memcmp(buf_head(&w->out) + w->seen, want, n) == 0);
    free(want);
    fake_free(&fk);
}

static void test_reregister_keeps_place(void)
{
    struct fake fk;
    fake_init(&fk, KEY);
    struct fpeer *a = peer_new(&fk, "10.0.0.1", 1), *b = peer_new(&fk, "10.0.0.2", 2), *c = peer_new(&fk, "10.0.0.3", 3);
    struct fpeer *w = peer_new(&fk, "10.0.0.9", 9);
    gw(&fk, a, "1.1.1.1:1");
    gw(&fk, b, "2.2.2.2:2");
    gw(&fk, c, "3.3.3.3:3");
    wk(&fk, w);
    CU_ASSERT(take(w, bc(3, "1.1.1.1:1", "2.2.2.2:2", "3.3.3.3:3")));
    /* a moves to a new address: it keeps its first place. */
    gw(&fk, a, "4.4.4.4:4");
    CU_ASSERT(take(w, bc(3, "4.4.4.4:4", "2.2.2.2:2", "3.3.3.3:3")));
    CU_ASSERT_STRING_EQUAL(a->p.address, "4.4.4.4:4");
    CU_ASSERT_EQUAL(fk.reg.n_gateway_conns, 3);
    /* b too (the middle one). */
    gw(&fk, b, "5.5.5.5:5");
    CU_ASSERT(take(w, bc(3, "4.4.4.4:4", "5.5.5.5:5", "3.3.3.3:3")));
    /* Closing the middle one keeps the order of the others. */
    peer_gone(&fk, b);
    CU_ASSERT(take(w, bc(2, "4.4.4.4:4", "3.3.3.3:3")));
    /* A new gateway goes last; closing the last, then the first. */
    struct fpeer *d = peer_new(&fk, "10.0.0.4", 4);
    gw(&fk, d, "6.6.6.6:6");
    CU_ASSERT(take(w, bc(3, "4.4.4.4:4", "3.3.3.3:3", "6.6.6.6:6")));
    peer_gone(&fk, d);
    CU_ASSERT(take(w, bc(2, "4.4.4.4:4", "3.3.3.3:3")));
    peer_gone(&fk, a);
    CU_ASSERT(take(w, bc(1, "3.3.3.3:3")));
    /* And the list is still linked right: a new one after c. */
    struct fpeer *e = peer_new(&fk, "10.0.0.5", 5);
    gw(&fk, e, "7.7.7.7:7");
    CU_ASSERT(take(w, bc(2, "3.3.3.3:3", "7.7.7.7:7")));
    struct buf d2 = BUF_INIT;
    CU_ASSERT_EQUAL(registry_describe(&fk.reg, &d2), 0);
    const char *want = "  gateway 3.3.3.3:3\n  gateway 7.7.7.7:7\n";
    CU_ASSERT(buf_avail(&d2) == strlen(want) && memcmp(buf_head(&d2), want, strlen(want)) == 0);
    buf_free(&d2);
    fake_free(&fk);
}

static void test_duplicates(void)
{
    struct fake fk;
    fake_init(&fk, KEY);
    struct fpeer *a = peer_new(&fk, "10.0.0.1", 1), *b = peer_new(&fk, "10.0.0.2", 2), *c = peer_new(&fk, "10.0.0.3", 3);
    struct fpeer *w = peer_new(&fk, "10.0.0.9", 9);
    wk(&fk, w);
    CU_ASSERT(take(w, bc(0)));
    /* The fixture's case: X, X, Z. PHP sends {"0":X,"2":Z}; we send a list. */
    gw(&fk, a, "172.16.0.11:2900");
    CU_ASSERT(take(w, bc(1, "172.16.0.11:2900")));
    gw(&fk, b, "172.16.0.11:2900");
    CU_ASSERT(take(w, bc(1, "172.16.0.11:2900")));
    gw(&fk, c, "172.16.0.13:2900");
    CU_ASSERT(take(w, bc(2, "172.16.0.11:2900", "172.16.0.13:2900")));
    CU_ASSERT_EQUAL(fk.reg.n_gateway_conns, 3);
    /* The values equal those of the dedup object fixture. */
    struct regmsg m;
    const char *last = bc(2, "172.16.0.11:2900", "172.16.0.13:2900");
    CU_ASSERT_EQUAL_FATAL(regmsg_parse(last, strlen(last) - 1, &m), 0);
    size_t n;
    char *path = tu_fixture_path("register-broadcast_addresses_dedup_object.txt");
    uint8_t *obj = tu_read_file(path, &n);
    free(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
    struct regmsg mo;
    CU_ASSERT_EQUAL_FATAL(regmsg_parse((const char *)obj, n - 1, &mo), 0);
    CU_ASSERT_EQUAL_FATAL(mo.n_addresses, m.n_addresses);
    for (size_t i = 0; i < m.n_addresses; i++)
        CU_ASSERT_STRING_EQUAL(m.addresses[i], mo.addresses[i]);
    regmsg_free(&m);
    regmsg_free(&mo);
    free(obj);

    /* The first holder of X goes: X is still there (held by b), in b's place. */
    peer_gone(&fk, a);
    CU_ASSERT(take(w, bc(2, "172.16.0.11:2900", "172.16.0.13:2900")));
    /* b moves to Z's address: now one distinct address. */
    gw(&fk, b, "172.16.0.13:2900");
    CU_ASSERT(take(w, bc(1, "172.16.0.13:2900")));
    CU_ASSERT_EQUAL(fk.reg.n_gateway_conns, 2);
    peer_gone(&fk, c);
    CU_ASSERT(take(w, bc(1, "172.16.0.13:2900")));
    peer_gone(&fk, b);
    CU_ASSERT(take(w, bc(0)));

    /* Order when the duplicate is registered first: Y, X, then a second X. */
    struct fpeer *p = peer_new(&fk, "10.0.0.4", 4), *q = peer_new(&fk, "10.0.0.5", 5),
                 *r = peer_new(&fk, "10.0.0.6", 6);
    gw(&fk, p, "2.2.2.2:2");
    gw(&fk, q, "1.1.1.1:1");
    gw(&fk, r, "2.2.2.2:2");
    w->seen = buf_avail(&w->out); /* skip the three broadcasts */
    /* p goes: PHP's list is then {q:X, r:Y} → [X, Y]. */
    peer_gone(&fk, p);
    CU_ASSERT(take(w, bc(2, "1.1.1.1:1", "2.2.2.2:2")));
    fake_free(&fk);
}

static void test_refused(void)
{
    static const struct {
        const char *line;
        const char *why;
    } cases[] = {
        {"{\"event\":\"gateway_connect\", \"address\":\"172.16.0.11:2900\", \"secret_key\":\"wrong\"}\n", "wrong key"},
        {"{\"event\":\"gateway_connect\", \"address\":\"172.16.0.11:2900\"}\n", "missing key"},
        {"{\"event\":\"gateway_connect\", \"address\":\"172.16.0.11:2900\", \"secret_key\":\"" KEY "x\"}\n",
         "longer key"},
        {"{\"event\":\"gateway_connect\", \"address\":\"172.16.0.11:2900\", \"secret_key\":\"s3cr3t\"}\n",
         "prefix key"},
        {"{\"event\":\"gateway_connect\", \"address\":\"172.16.0.11:2900\", \"secret_key\":\"" KEY "\\u0000\"}\n",
         "key with NUL"},
        {"{\"event\":\"worker_connect\",\"secret_key\":\"wrong\"}\n", "worker wrong key"},
        {"{\"event\":\"worker_connect\"}\n", "worker missing key"},
        {"{\"event\":\"gateway_connect\", \"address\":\"\", \"secret_key\":\"" KEY "\"}\n", "empty address"},
        {"{\"event\":\"gateway_connect\", \"secret_key\":\"" KEY "\"}\n", "missing address"},
        {"{\"event\":\"gateway_connect\", \"address\":2900, \"secret_key\":\"" KEY "\"}\n", "address not a string"},
        {"{\"event\":\"gateway_connect\", \"address\":\"172.016.0.1:2900\", \"secret_key\":\"" KEY "\"}\n",
         "leading zero"},
        {"{\"event\":\"gateway_connect\", \"address\":\"host:1\", \"secret_key\":\"" KEY "\"}\n", "host name"},
        {"{\"event\":\"gateway_connect\", \"address\":\"1.2.3.4\", \"secret_key\":\"" KEY "\"}\n", "no port"},
        {"{\"event\":\"gateway_connect\", \"address\":\"1.2.3.4:0\", \"secret_key\":\"" KEY "\"}\n", "port 0"},
        {"{\"event\":\"gateway_connect\", \"address\":\" 1.2.3.4:5\", \"secret_key\":\"" KEY "\"}\n", "space"},
        {"{\"event\":\"gateway_connect\", \"address\":\"1.2.3.4:5\\u0000x\", \"secret_key\":\"" KEY "\"}\n",
         "address with NUL"},
        {"{\"event\":\"unknown\"}\n", "unknown event"},
        {"{\"event\":1}\n", "event 1"},
        {"{\"event\":\"broadcast_addresses\",\"addresses\":[\"6.6.6.6:6\"]}\n", "broadcast to the register"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fake fk;
        fake_init(&fk, KEY);
        struct fpeer *w = peer_new(&fk, "10.0.0.9", 9);
        struct fpeer *g = peer_new(&fk, "10.0.0.1", 1);
        struct fpeer *x = peer_new(&fk, "10.0.0.2", 2);
        wk(&fk, w);
        gw(&fk, g, "1.1.1.1:1");
        w->seen = buf_avail(&w->out);
        feed(&fk, x, cases[i].line);
        CHECKF(x->closes == 1, "%s: closes %d", cases[i].why, x->closes);
        CHECKF(x->sends == 0, "%s: %d sends", cases[i].why, x->sends);
        CHECKF(x->p.closing, "%s: not marked closing", cases[i].why);
        CHECKF(!x->p.authed && !x->p.is_worker && !x->p.address, "%s: registered", cases[i].why);
        CHECKF(nothing_new(w) && w->closes == 0 && g->closes == 0, "%s: others touched", cases[i].why);
        CHECKF(fk.reg.n_gateway_conns == 1 && fk.reg.n_workers == 1, "%s: counts %zu %zu", cases[i].why,
               fk.reg.n_gateway_conns, fk.reg.n_workers);
        /* Lines after the close are ignored. */
        wk(&fk, x);
        gw(&fk, x, "9.9.9.9:9");
        feed(&fk, x, "GET / HTTP/1.1\r\n");
        CHECKF(x->sends == 0 && x->closes == 1, "%s: acted after close", cases[i].why);
        CHECKF(nothing_new(w), "%s: broadcast after close", cases[i].why);
        /* The socket layer's close of an unregistered peer: no broadcast. */
        peer_gone(&fk, x);
        CHECKF(nothing_new(w), "%s: broadcast on close", cases[i].why);
        fake_free(&fk);
    }
}

/* A registered gateway that then sends a bad line is closed; its address goes
 * when the socket layer reports the close, with one broadcast. */
static void test_refused_after_register(void)
{
    struct fake fk;
    fake_init(&fk, KEY);
    struct fpeer *w = peer_new(&fk, "10.0.0.9", 9);
    struct fpeer *g = peer_new(&fk, "10.0.0.1", 1);
    wk(&fk, w);
    gw(&fk, g, "1.1.1.1:1");
    w->seen = buf_avail(&w->out);
    feed(&fk, g, "{\"event\":\"gateway_connect\", \"address\":\"2.2.2.2:2\", \"secret_key\":\"bad\"}\n");
    CU_ASSERT_EQUAL(g->closes, 1);
    CU_ASSERT(nothing_new(w));
    CU_ASSERT_STRING_EQUAL(g->p.address, "1.1.1.1:1"); /* unchanged */
    /* While closing, a broadcast does not reach a closing worker. */
    feed(&fk, w, "{\"event\":\"nope\"}\n");
    CU_ASSERT_EQUAL(w->closes, 1);
    peer_gone(&fk, g);
    CU_ASSERT(nothing_new(w));
    CU_ASSERT_EQUAL(w->sends_after_close, 0);
    CU_ASSERT_EQUAL(fk.reg.n_gateway_conns, 0);
    fake_free(&fk);
}

static void test_bad_request(void)
{
    struct fake fk;
    fake_init(&fk, KEY);
    struct fpeer *w = peer_new(&fk, "10.0.0.9", 9);
    wk(&fk, w);
    w->seen = buf_avail(&w->out);
    struct fpeer *x = peer_new(&fk, "203.0.113.5", 51000);
    feed(&fk, x, "GET / HTTP/1.1\r\nHost: register\r\n\r\n");
    size_t n;
    char *path = tu_fixture_path("register-bad_request_reply.txt");
    uint8_t *want = tu_read_file(path, &n);
    free(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(want);
    /* Only the first line is answered; then closed, later lines ignored. */
    CU_ASSERT(buf_avail(&x->out) == n && memcmp(buf_head(&x->out), want, n) == 0);
    CU_ASSERT_EQUAL(x->sends, 1);
    CU_ASSERT_EQUAL(x->closes, 1);
    CU_ASSERT_EQUAL(x->sends_after_close, 0);
    CU_ASSERT(nothing_new(w));
    free(want);

    /* Each kind of "not an event object" gets the reply with its line. */
    static const char *bad[] = {"", "{}", "{\"event\":\"\"}", "{\"event\":\"0\"}", "{\"event\":0}",
                                "{\"event\":null}", "{\"event\":false}", "[1,2]", "\"ping\"", "{\"event\":\"ping\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fpeer *y = peer_new(&fk, "10.1.2.3", 7);
        char line[128], reply[512];
        snprintf(line, sizeof line, "%s\n", bad[i]);
        feed(&fk, y, line);
        snprintf(reply, sizeof reply,
                 "Bad request for Register service. Request info(IP:10.1.2.3, Request Buffer:%s). See "
                 "http://doc2.workerman.net/register-auth-timeout.html\n",
                 bad[i]);
        CHECKF(take(y, reply), "'%s': wrong reply", bad[i]);
        CHECKF(y->closes == 1, "'%s': closes %d", bad[i], y->closes);
        peer_gone(&fk, y);
    }
    /* A bad request from a registered gateway: its address goes at close. */
    struct fpeer *g = peer_new(&fk, "10.0.0.1", 1);
    gw(&fk, g, "1.1.1.1:1");
    CU_ASSERT(take(w, bc(1, "1.1.1.1:1")));
    feed(&fk, g, "hello\n");
    CU_ASSERT_EQUAL(g->closes, 1);
    CU_ASSERT_EQUAL(g->sends, 1);
    peer_gone(&fk, g);
    CU_ASSERT(take(w, bc(0)));
    CU_ASSERT(nothing_new(w));
    fake_free(&fk);
}

static void test_ping(void)
{
    struct fake fk;
    fake_init(&fk, KEY);
    struct fpeer *w = peer_new(&fk, "10.0.0.9", 9);
    struct fpeer *x = peer_new(&fk, "10.0.0.1", 1);
    /* Before any auth. */
    feed(&fk, x, "{\"event\":\"ping\"}\n{\"event\":\"ping\"}\r\n");
    feed(&fk, w, "{\"event\":\"ping\"}\n");
    CU_ASSERT_EQUAL(x->sends + w->sends, 0);
    CU_ASSERT_EQUAL(x->closes + w->closes, 0);
    CU_ASSERT(!x->p.authed && !w->p.authed);
    /* Ping with a wrong key or other fields: still only a ping. */
    feed(&fk, x, "{\"event\":\"ping\",\"secret_key\":\"wrong\",\"address\":\"host\"}\n");
    CU_ASSERT_EQUAL(x->sends + x->closes, 0);
    /* After auth. */
    wk(&fk, w);
    CU_ASSERT(take(w, bc(0)));
    gw(&fk, x, "1.1.1.1:1");
    CU_ASSERT(take(w, bc(1, "1.1.1.1:1")));
    for (int i = 0; i < 3; i++) {
        feed(&fk, x, "{\"event\":\"ping\"}\n");
        feed(&fk, w, "{\"event\":\"ping\"}\n");
    }
    CU_ASSERT(nothing_new(w) && nothing_new(x));
    CU_ASSERT_EQUAL(x->sends, 0);
    CU_ASSERT_EQUAL(x->closes + w->closes, 0);
    CU_ASSERT_EQUAL(fk.reg.broadcasts, 1);
    fake_free(&fk);
}

static void test_worker_departure(void)
{
    struct fake fk;
    fake_init(&fk, KEY);
    struct fpeer *g = peer_new(&fk, "10.0.0.1", 1);
    struct fpeer *w1 = peer_new(&fk, "10.0.0.8", 8), *w2 = peer_new(&fk, "10.0.0.9", 9),
                 *w3 = peer_new(&fk, "10.0.0.10", 10);
    gw(&fk, g, "1.1.1.1:1");
    wk(&fk, w1);
    wk(&fk, w2);
    wk(&fk, w3);
    CU_ASSERT_EQUAL(fk.reg.n_workers, 3);
    uint64_t before = fk.reg.broadcasts;
    w1->seen = buf_avail(&w1->out);
    w3->seen = buf_avail(&w3->out);
    /* The middle worker leaves: no broadcast; the others still get later ones. */
    peer_gone(&fk, w2);
    CU_ASSERT_EQUAL(fk.reg.n_workers, 2);
    CU_ASSERT_EQUAL(fk.reg.broadcasts, before);
    CU_ASSERT(nothing_new(w1) && nothing_new(w3));
    CU_ASSERT(nothing_new(g));
    struct fpeer *g2 = peer_new(&fk, "10.0.0.2", 2);
    gw(&fk, g2, "2.2.2.2:2");
    CU_ASSERT(take(w1, bc(2, "1.1.1.1:1", "2.2.2.2:2")));
    CU_ASSERT(take(w3, bc(2, "1.1.1.1:1", "2.2.2.2:2")));
    /* The head and the tail of the worker list leave too. */
    peer_gone(&fk, w3);
    peer_gone(&fk, w1);
    CU_ASSERT_EQUAL(fk.reg.n_workers, 0);
    CU_ASSERT_PTR_NULL(fk.reg.wk_head);
    /* A worker that only pinged or failed never counted. */
    struct fpeer *w4 = peer_new(&fk, "10.0.0.11", 11);
    feed(&fk, w4, "{\"event\":\"worker_connect\",\"secret_key\":\"nope\"}\n");
    CU_ASSERT_EQUAL(fk.reg.n_workers, 0);
    peer_gone(&fk, w4);
    CU_ASSERT_EQUAL(fk.reg.n_workers, 0);
    fake_free(&fk);
}

static void test_gateway_and_worker(void)
{
    struct fake fk;
    fake_init(&fk, KEY);
    struct fpeer *w = peer_new(&fk, "10.0.0.9", 9);
    struct fpeer *gw1 = peer_new(&fk, "10.0.0.1", 1); /* both roles on one connection */
    wk(&fk, w);
    CU_ASSERT(take(w, bc(0)));
    wk(&fk, gw1);
    CU_ASSERT(take(gw1, bc(0)));
    gw(&fk, gw1, "1.1.1.1:1");
    /* Being a worker too, it gets the broadcast its own registration causes. */
    CU_ASSERT(take(gw1, bc(1, "1.1.1.1:1")));
    CU_ASSERT(take(w, bc(1, "1.1.1.1:1")));
    CU_ASSERT_EQUAL(fk.reg.n_gateway_conns, 1);
    CU_ASSERT_EQUAL(fk.reg.n_workers, 2);
    CU_ASSERT(gw1->p.is_worker && gw1->p.address != NULL);

    /* The other order: gateway first, then worker. */
    struct fpeer *gw2 = peer_new(&fk, "10.0.0.2", 2);
    gw(&fk, gw2, "2.2.2.2:2");
    CU_ASSERT(take(w, bc(2, "1.1.1.1:1", "2.2.2.2:2")));
    CU_ASSERT(take(gw1, bc(2, "1.1.1.1:1", "2.2.2.2:2")));
    CU_ASSERT(nothing_new(gw2));
    wk(&fk, gw2);
    CU_ASSERT(take(gw2, bc(2, "1.1.1.1:1", "2.2.2.2:2")));
    CU_ASSERT_EQUAL(fk.reg.n_workers, 3);

    /* Closing one: removed from both sets; only the remaining workers hear of it. */
    peer_gone(&fk, gw1);
    CU_ASSERT(take(w, bc(1, "2.2.2.2:2")));
    CU_ASSERT(take(gw2, bc(1, "2.2.2.2:2")));
    CU_ASSERT_EQUAL(fk.reg.n_gateway_conns, 1);
    CU_ASSERT_EQUAL(fk.reg.n_workers, 2);
    peer_gone(&fk, gw2);
    CU_ASSERT(take(w, bc(0)));
    CU_ASSERT_EQUAL(fk.reg.n_gateway_conns, 0);
    CU_ASSERT_EQUAL(fk.reg.n_workers, 1);
    fake_free(&fk);
}

static void test_counts(void)
{
    struct fake fk;
    fake_init(&fk, KEY);
    struct fpeer *p[6];
    for (int i = 0; i < 6; i++)
        p[i] = peer_new(&fk, "10.0.0.1", (uint16_t)(100 + i));
    gw(&fk, p[0], "1.1.1.1:1");
    gw(&fk, p[1], "1.1.1.1:1"); /* duplicate address: still two connections */
    gw(&fk, p[2], "2.2.2.2:2");
    gw(&fk, p[2], "3.3.3.3:3"); /* re-register: not counted twice */
    wk(&fk, p[3]);
    wk(&fk, p[3]); /* repeated worker_connect: not counted twice */
    wk(&fk, p[4]);
    feed(&fk, p[5], "{\"event\":\"ping\"}\n");
    CU_ASSERT_EQUAL(fk.reg.n_gateway_conns, 3);
    CU_ASSERT_EQUAL(fk.reg.n_workers, 2);
    peer_gone(&fk, p[1]);
    CU_ASSERT_EQUAL(fk.reg.n_gateway_conns, 2);
    peer_gone(&fk, p[4]);
    CU_ASSERT_EQUAL(fk.reg.n_workers, 1);
    peer_gone(&fk, p[5]);
    CU_ASSERT_EQUAL(fk.reg.n_gateway_conns, 2);
    CU_ASSERT_EQUAL(fk.reg.n_workers, 1);
    fake_free(&fk);
    CU_ASSERT_EQUAL(fk.reg.n_gateway_conns, 0);
    CU_ASSERT_EQUAL(fk.reg.n_workers, 0);
    CU_ASSERT_PTR_NULL(fk.reg.gw_head);
    CU_ASSERT_PTR_NULL(fk.reg.gw_tail);
    CU_ASSERT_PTR_NULL(fk.reg.wk_head);
}

/* The empty key (no secretKey configured): "" and a missing key both match. */
static void test_empty_secret(void)
{
    struct fake fk;
    fake_init(&fk, NULL);
    struct fpeer *a = peer_new(&fk, "10.0.0.1", 1), *b = peer_new(&fk, "10.0.0.2", 2), *c = peer_new(&fk, "10.0.0.3", 3);
    feed(&fk, a, "{\"event\":\"worker_connect\",\"secret_key\":\"\"}\n");
    CU_ASSERT(take(a, bc(0)));
    feed(&fk, b, "{\"event\":\"gateway_connect\",\"address\":\"1.1.1.1:1\"}\n");
    CU_ASSERT(take(a, bc(1, "1.1.1.1:1")));
    feed(&fk, c, "{\"event\":\"worker_connect\",\"secret_key\":\"x\"}\n");
    CU_ASSERT_EQUAL(c->closes, 1);
    CU_ASSERT_EQUAL(c->sends, 0);
    fake_free(&fk);
}

/* Replays the live capture (live/index.json register_timeline): the lines the
 * real gateways and worker sent, and what the real register answered. The
 * 127.0.0.2:32999 gateway behind the capture's third broadcast is not in the
 * timeline; it is registered here from a connection of our own. */
static void test_live_timeline(void)
{
    char *path = tu_fixture_path("live/index.json");
    json_error_t jerr;
    json_t *live = json_load_file(path, 0, &jerr);
    free(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(live);
    json_t *tl = json_object_get(live, "register_timeline");
    CU_ASSERT_EQUAL_FATAL(json_array_size(tl), 12);
#define TL_TEXT(i) json_string_value(json_object_get(json_array_get(tl, i), "text"))
#define TL_CONN(i) json_integer_value(json_object_get(json_array_get(tl, i), "conn"))
#define TL_DIR(i) json_string_value(json_object_get(json_array_get(tl, i), "dir"))
    struct fake fk;
    fake_init(&fk, KEY);
    struct fpeer *conn[5] = {NULL};
    for (int i = 1; i <= 4; i++)
        conn[i] = peer_new(&fk, "127.0.0.2", (uint16_t)(50000 + i));

    for (size_t i = 0; i < 4; i++) {
        long c = TL_CONN(i);
        CU_ASSERT_FATAL(c >= 1 && c <= 4);
        if (strcmp(TL_DIR(i), "to_register") == 0)
            feed(&fk, conn[c], TL_TEXT(i));
        else
            CHECKF(take(conn[c], TL_TEXT(i)), "timeline %zu: conn %ld", i, c);
    }
    /* Entries 4 and 5: the third gateway comes and goes. */
    CU_ASSERT_STRING_EQUAL(TL_DIR(4), "from_register");
    CU_ASSERT_STRING_EQUAL(TL_DIR(5), "from_register");
    struct fpeer *third = peer_new(&fk, "127.0.0.2", 50099);
    gw(&fk, third, "127.0.0.2:32999");
    CU_ASSERT(take(conn[TL_CONN(4)], TL_TEXT(4)));
    peer_gone(&fk, third);
    CU_ASSERT(take(conn[TL_CONN(5)], TL_TEXT(5)));
    /* Pings (6..10), then a fourth connection re-announcing 127.0.0.2:32901 (11). */
    for (size_t i = 6; i < 12; i++) {
        long c = TL_CONN(i);
        CU_ASSERT_FATAL(c >= 1 && c <= 4);
        CU_ASSERT_STRING_EQUAL(TL_DIR(i), "to_register");
        feed(&fk, conn[c], TL_TEXT(i));
    }
    /* Nobody was closed, no gateway got anything, and the worker got the
     * (deduplicated) list once more for the duplicate registration. */
    for (int i = 1; i <= 4; i++)
        CHECKF(conn[i]->closes == 0, "conn %d closed", i);
    CU_ASSERT(buf_avail(&conn[1]->out) == 0 && buf_avail(&conn[2]->out) == 0 && buf_avail(&conn[4]->out) == 0);
    CU_ASSERT(take(conn[3], "{\"event\":\"broadcast_addresses\",\"addresses\":[\"127.0.0.2:32901\",\"127.0.0.2:32900\"]}\n"));
    CU_ASSERT_EQUAL(fk.reg.n_gateway_conns, 3);
    CU_ASSERT_EQUAL(fk.reg.n_workers, 1);
#undef TL_TEXT
#undef TL_CONN
#undef TL_DIR
    fake_free(&fk);
    json_decref(live);
}

/* Wrong keys from one address: three free, then that address is blocked
 * (1 s, doubling) and even the right key is refused until the block ends;
 * other addresses are not affected. */
static void test_key_guessing_backoff(void)
{
    struct fake fk;
    fake_init(&fk, KEY);
    fk.reg.now_ms = 1000;
    const char *wrong = "{\"event\":\"worker_connect\",\"secret_key\":\"guess\"}\n";
    for (int i = 0; i < 4; i++) {
        struct fpeer *x = peer_new(&fk, "10.6.6.6", (uint16_t)(100 + i));
        feed(&fk, x, wrong);
        CU_ASSERT(x->closes == 1 && !x->p.authed);
        peer_gone(&fk, x);
    }
    struct fpeer *y = peer_new(&fk, "10.6.6.6", 200);
    fk.reg.now_ms = 1999;
    wk(&fk, y);
    CU_ASSERT(y->closes == 1 && !y->p.authed && fk.reg.n_workers == 0);
    struct fpeer *other = peer_new(&fk, "10.0.0.7", 7);
    wk(&fk, other);
    CU_ASSERT(other->closes == 0 && other->p.authed);
    struct fpeer *z = peer_new(&fk, "10.6.6.6", 201);
    fk.reg.now_ms = 2000;
    wk(&fk, z);
    CU_ASSERT(z->closes == 0 && z->p.authed && fk.reg.n_workers == 2);
    fake_free(&fk);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("registry", quiet, NULL);
    CU_add_test(s, "gateway_connect then worker_connect", test_gateway_then_worker);
    CU_add_test(s, "worker with no gateway", test_worker_with_no_gateway);
    CU_add_test(s, "broadcast on every gateway_connect and close", test_broadcasts);
    CU_add_test(s, "after-close fixture", test_after_close_fixture);
    CU_add_test(s, "re-registration keeps its place", test_reregister_keeps_place);
    CU_add_test(s, "duplicate addresses appear once", test_duplicates);
    CU_add_test(s, "refused lines close silently", test_refused);
    CU_add_test(s, "refused after registering", test_refused_after_register);
    CU_add_test(s, "bad request reply", test_bad_request);
    CU_add_test(s, "ping", test_ping);
    CU_add_test(s, "worker departure", test_worker_departure);
    CU_add_test(s, "gateway and worker on one connection", test_gateway_and_worker);
    CU_add_test(s, "counts", test_counts);
    CU_add_test(s, "empty secret", test_empty_secret);
    CU_add_test(s, "key guessing is slowed down per address", test_key_guessing_backoff);
    CU_add_test(s, "live register timeline", test_live_timeline);
    return tu_run("test_registry");
}
