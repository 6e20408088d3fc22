#include "regclient.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "loop.h"
#include "regmsg.h"
#include "stream.h"

#define RECONNECT_MS 1000
#define PING_MS 25000
/* A broadcast holds ~25 bytes per gateway; this is far above any real list. */
#define MAX_LINE (1u << 20)

struct regconn {
    struct stream s; /* first: the stream callbacks get &conn->s */
    struct regclient *rc;
    const struct netaddr_hostport *addr;
    int connected;
    int fail_logged;  /* one "cannot connect" line per outage */
    int64_t ping_timer;
    char **list;      /* this register's latest list, owned */
    size_t nlist;
};

struct regclient {
    struct loop *loop;
    struct regclient_cfg cfg;
    int n;
    struct regconn *conns;
    char **uni;       /* union, owned */
    size_t nuni;
};

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void recompute_union(struct regclient *rc)
{
    char **u = NULL;
    size_t n = 0, cap = 0;
    for (int i = 0; i < rc->n; i++) {
        struct regconn *c = &rc->conns[i];
        for (size_t j = 0; j < c->nlist; j++) {
            size_t k;
            for (k = 0; k < n && strcmp(u[k], c->list[j]) != 0; k++)
                ;
            if (k < n)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                char **nu = realloc(u, cap * sizeof *nu);
                if (!nu)
                    goto oom;
                u = nu;
            }
            if (!(u[n] = strdup(c->list[j])))
                goto oom;
            n++;
        }
    }
    free_list(rc->uni, rc->nuni);
    rc->uni = u;
    rc->nuni = n;
    if (rc->cfg.on_addresses)
        rc->cfg.on_addresses(rc->cfg.data, rc->uni, rc->nuni);
    return;
oom:
    log_error("out of memory while merging the register lists; keeping the previous set");
    free_list(u, n);
}

static void on_ping(struct loop *loop, void *data)
{
    struct regconn *c = data;
    c->ping_timer = 0;
    if (!c->connected)
        return;
    if (regmsg_build_ping(&c->s.out) == 0)
        stream_queued(&c->s);
    int64_t id = loop_timer_add(loop, PING_MS, on_ping, c);
    c->ping_timer = id > 0 ? id : 0;
}

static void stop_ping(struct regconn *c)
{
    if (c->ping_timer)
        loop_timer_cancel(c->rc->loop, c->ping_timer);
    c->ping_timer = 0;
}

static void handle_line(struct regconn *c, const char *line, size_t len)
{
    struct regmsg m;
    if (regmsg_parse(line, len, &m) < 0) {
        log_error("register %s:%u: out of memory parsing a line", c->addr->host, c->addr->port);
        return;
    }
    if (m.event == REGMSG_BROADCAST_ADDRESSES && m.addresses_ok) {
        /* Take ownership of the strings instead of copying them. */
        free_list(c->list, c->nlist);
        c->list = m.addresses;
        c->nlist = m.n_addresses;
        m.addresses = NULL;
        m.n_addresses = 0;
        log_info("register %s:%u: %zu gateway address(es)", c->addr->host, c->addr->port, c->nlist);
        recompute_union(c->rc);
    } else {
        /* PHP prints a warning and goes on; so do we. */
        log_warn("register %s:%u: ignoring a line that is not a broadcast_addresses list", c->addr->host,
                 c->addr->port);
    }
    regmsg_free(&m);
}

static ssize_t conn_on_data(struct stream *s, const uint8_t *p, size_t n)
{
    struct regconn *c = (struct regconn *)s;
    size_t ll, used;
    int r = regmsg_next_line(p, n, MAX_LINE, &ll, &used);
    if (r == REGMSG_NEED_MORE)
        return 0;
    if (r == REGMSG_ERROR) {
        log_warn("register %s:%u: a line longer than %u bytes", c->addr->host, c->addr->port, MAX_LINE);
        return -1;
    }
    /* The register never sends a gateway anything it needs. */
    if (!c->rc->cfg.gateway_address)
        handle_line(c, (const char *)p, ll);
    return (ssize_t)used;
}

static void conn_on_connecting(struct stream *s)
{
    struct regconn *c = (struct regconn *)s;
    const struct regclient_cfg *cfg = &c->rc->cfg;
    /* Queued before the connect completes, like PHP: it is the first line. */
    int r = cfg->gateway_address ? regmsg_build_gateway_connect(&s->out, cfg->gateway_address, cfg->secret)
                                 : regmsg_build_worker_connect(&s->out, cfg->secret);
    if (r < 0)
        log_error("register %s:%u: cannot build the hello", c->addr->host, c->addr->port);
}

static void conn_on_connect(struct stream *s)
{
    struct regconn *c = (struct regconn *)s;
    c->connected = 1;
    c->fail_logged = 0;
    if (c->rc->cfg.gateway_address)
        log_info("registered %s with register %s:%u", c->rc->cfg.gateway_address, c->addr->host, c->addr->port);
    else
        log_info("register %s:%u: connected (worker_connect)", c->addr->host, c->addr->port);
    /* PHP pings only registers whose address is not 127.0.0.1. */
    if (strncmp(c->addr->host, "127.0.0.1", 9) != 0) {
        int64_t id = loop_timer_add(c->rc->loop, PING_MS, on_ping, c);
        c->ping_timer = id > 0 ? id : 0;
    }
}

static void log_down(struct regconn *c, const char *why)
{
    if (c->connected)
        log_warn("register %s:%u: connection lost (%s); reconnecting in 1 s", c->addr->host, c->addr->port, why);
    else if (!c->fail_logged)
        log_warn("register %s:%u: cannot connect (%s); retrying every second", c->addr->host, c->addr->port, why);
    c->fail_logged = 1;
    c->connected = 0;
}

static void conn_on_close(struct stream *s, const char *why)
{
    struct regconn *c = (struct regconn *)s;
    stop_ping(c);
    log_down(c, why ? why : "closed");
}

static const struct stream_ops regconn_ops = {
    .on_data = conn_on_data,
    .on_connecting = conn_on_connecting,
    .on_connect = conn_on_connect,
    .on_close = conn_on_close,
    .read_chunk = 4096,
    .backoff_first_ms = RECONNECT_MS,
    .backoff_max_ms = RECONNECT_MS,
};

struct regclient *regclient_new(struct loop *loop, const struct regclient_cfg *cfg)
{
    struct regclient *rc = calloc(1, sizeof *rc);
    if (!rc)
        return NULL;
    rc->loop = loop;
    rc->cfg = *cfg;
    rc->n = cfg->registers->n;
    rc->conns = calloc((size_t)(rc->n ? rc->n : 1), sizeof *rc->conns);
    if (!rc->conns) {
        free(rc);
        return NULL;
    }
    for (int i = 0; i < rc->n; i++) {
        struct regconn *c = &rc->conns[i];
        c->rc = rc;
        c->addr = &cfg->registers->a[i];
        stream_init(&c->s, loop, &regconn_ops);
    }
    for (int i = 0; i < rc->n; i++) {
        struct regconn *c = &rc->conns[i];
        int r = stream_connect(&c->s, c->addr->host, c->addr->port);
        if (r < 0)
            log_down(c, strerror(-r));
    }
    return rc;
}

void regclient_free(struct regclient *rc)
{
    if (!rc)
        return;
    for (int i = 0; i < rc->n; i++) {
        struct regconn *c = &rc->conns[i];
        stop_ping(c);
        stream_destroy(&c->s);
        free_list(c->list, c->nlist);
    }
    free_list(rc->uni, rc->nuni);
    free(rc->conns);
    free(rc);
}

int regclient_connected(const struct regclient *rc)
{
    int n = 0;
    for (int i = 0; i < rc->n; i++)
        n += rc->conns[i].connected;
    return n;
}

char *const *regclient_addresses(const struct regclient *rc, size_t *n)
{
    *n = rc->nuni;
    return rc->uni;
}
