#include "reglink.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "bw.h"
#include "links.h"
#include "log.h"
#include "loop.h"
#include "regmsg.h"
#include "sock.h"

#define RECONNECT_MS 1000
#define PING_MS 25000
/* A broadcast holds ~25 bytes per gateway; this is far above any real list. */
#define MAX_LINE (1u << 20)

struct reg_conn {
    struct reglink *owner;
    const struct netaddr_hostport *addr;
    int fd;
    int connected;
    int ever_connected;
    unsigned armed;
    int64_t retry_at;  /* when fd < 0 */
    int64_t ping_at;   /* 0: no pings (loopback register) */
    struct buf in, out;
    char **list;       /* this register's latest list, owned */
    size_t nlist;
    int has_list;
    int fail_logged;   /* one "cannot connect" line per outage */
};

struct reglink {
    struct bw *bw;
    int n;
    struct reg_conn *conns;
    char **uni;        /* union, owned */
    size_t nuni;
};

static void conn_start(struct reg_conn *c);

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void recompute_union(struct reglink *r)
{
    char **u = NULL;
    size_t n = 0, cap = 0;
    for (int i = 0; i < r->n; i++) {
        struct reg_conn *c = &r->conns[i];
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
    free_list(r->uni, r->nuni);
    r->uni = u;
    r->nuni = n;
    links_set_addresses(r->bw->links, r->uni, r->nuni);
    return;
oom:
    log_error("out of memory while merging the register lists; keeping the previous set");
    free_list(u, n);
}

static void conn_drop(struct reg_conn *c, const char *why)
{
    struct loop *loop = c->owner->bw->loop;
    if (c->connected)
        log_warn("register %s:%u: connection lost (%s); reconnecting in 1 s", c->addr->host, c->addr->port, why);
    else if (!c->fail_logged)
        log_warn("register %s:%u: cannot connect (%s); retrying every second", c->addr->host, c->addr->port, why);
    if (c->fd >= 0) {
        loop_del(loop, c->fd);
        close(c->fd);
    }
    c->fail_logged = 1;
    c->fd = -1;
    c->connected = 0;
    c->armed = 0;
    c->ping_at = 0;
    buf_free(&c->in);
    buf_free(&c->out);
    c->retry_at = loop_now_ms() + RECONNECT_MS;
}

static void conn_arm(struct reg_conn *c)
{
    unsigned ev = LOOP_READ | (buf_avail(&c->out) || !c->connected ? LOOP_WRITE : 0);
    if (ev != c->armed && loop_mod(c->owner->bw->loop, c->fd, ev) == 0)
        c->armed = ev;
}

static void conn_flush(struct reg_conn *c)
{
    int err = c->connected ? sock_flush(c->fd, &c->out) : 0;
    if (err < 0) {
        conn_drop(c, strerror(-err));
        return;
    }
    conn_arm(c);
}

static void handle_line(struct reg_conn *c, const char *line, size_t len)
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
        c->has_list = 1;
        m.addresses = NULL;
        m.n_addresses = 0;
        log_info("register %s:%u: %zu gateway address(es)", c->addr->host, c->addr->port, c->nlist);
        recompute_union(c->owner);
    } else {
        /* PHP prints a warning and goes on; so do we. */
        log_warn("register %s:%u: ignoring a line that is not a broadcast_addresses list", c->addr->host,
                 c->addr->port);
    }
    regmsg_free(&m);
}

static void on_io(struct loop *loop, int fd, unsigned events, void *data)
{
    (void)loop;
    (void)fd;
    struct reg_conn *c = data;
    if (!c->connected && (events & LOOP_WRITE)) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            conn_drop(c, strerror(err));
            return;
        }
        c->connected = 1;
        c->ever_connected = 1;
        c->fail_logged = 0;
        log_info("register %s:%u: connected (worker_connect)", c->addr->host, c->addr->port);
        if (strncmp(c->addr->host, "127.0.0.1", 9) != 0)
            c->ping_at = loop_now_ms() + PING_MS;
    }
    if (events & LOOP_READ) {
        for (;;) {
            uint8_t *p = buf_reserve(&c->in, 4096);
            if (!p) {
                conn_drop(c, "out of memory");
                return;
            }
            ssize_t r = read(c->fd, p, 4096);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && errno == EAGAIN)
                break;
            if (r <= 0) {
                conn_drop(c, r == 0 ? "closed by the register" : strerror(errno));
                return;
            }
            buf_commit(&c->in, (size_t)r);
        }
        for (;;) {
            size_t ll, used;
            int r = regmsg_next_line(buf_head(&c->in), buf_avail(&c->in), MAX_LINE, &ll, &used);
            if (r == REGMSG_NEED_MORE)
                break;
            if (r == REGMSG_ERROR) {
                conn_drop(c, "line too long");
                return;
            }
            handle_line(c, (const char *)buf_head(&c->in), ll);
            buf_consume(&c->in, used);
        }
    }
    conn_flush(c);
}

static void conn_start(struct reg_conn *c)
{
    struct bw *bw = c->owner->bw;
    c->retry_at = 0;
    c->fd = sock_connect(c->addr->host, c->addr->port);
    if (c->fd < 0) {
        c->fd = -1;
        conn_drop(c, strerror(errno));
        return;
    }
    sock_keepalive(c->fd);
    if (regmsg_build_worker_connect(&c->out, bw->cfg->secretKey) < 0 ||
        loop_add(bw->loop, c->fd, LOOP_READ | LOOP_WRITE, on_io, c) < 0) {
        conn_drop(c, "cannot set up the connection");
        return;
    }
    c->armed = LOOP_READ | LOOP_WRITE;
}

struct reglink *reglink_new(struct bw *bw)
{
    struct reglink *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->bw = bw;
    r->n = bw->cfg->registerAddress.n;
    r->conns = calloc((size_t)(r->n ? r->n : 1), sizeof *r->conns);
    if (!r->conns) {
        free(r);
        return NULL;
    }
    for (int i = 0; i < r->n; i++) {
        struct reg_conn *c = &r->conns[i];
        c->owner = r;
        c->addr = &bw->cfg->registerAddress.a[i];
        c->fd = -1;
        conn_start(c);
    }
    return r;
}

void reglink_free(struct reglink *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n; i++) {
        struct reg_conn *c = &r->conns[i];
        if (c->fd >= 0) {
            loop_del(r->bw->loop, c->fd);
            close(c->fd);
        }
        buf_free(&c->in);
        buf_free(&c->out);
        free_list(c->list, c->nlist);
    }
    free_list(r->uni, r->nuni);
    free(r->conns);
    free(r);
}

void reglink_tick(struct reglink *r, int64_t now)
{
    for (int i = 0; i < r->n; i++) {
        struct reg_conn *c = &r->conns[i];
        if (c->fd < 0 && now >= c->retry_at) {
            conn_start(c);
        } else if (c->connected && c->ping_at && now >= c->ping_at) {
            c->ping_at = now + PING_MS;
            if (regmsg_build_ping(&c->out) == 0)
                conn_flush(c);
        }
    }
}

int reglink_connected(const struct reglink *r)
{
    int n = 0;
    for (int i = 0; i < r->n; i++)
        n += r->conns[i].connected;
    return n;
}

char *const *reglink_addresses(const struct reglink *r, size_t *n)
{
    *n = r->nuni;
    return r->uni;
}
