#include "reglink.h"

#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "regmsg.h"
#include "sock.h"

#define RECONNECT_SECONDS 1.0
#define PING_SECONDS 25.0

struct reg_conn {
    struct reglink *owner;
    const struct netaddr_hostport *addr;
    int fd;
    int connected;
    int ever_connected;
    ev_io io;
    ev_timer retry;
    ev_timer ping;
    struct buf out;
};

struct reglink {
    struct gateway *gw;
    int n;
    struct reg_conn *conns;
};

static void conn_start(struct reg_conn *c);

static void conn_drop(struct reg_conn *c, const char *why)
{
    struct ev_loop *loop = c->owner->gw->loop;
    if (c->connected)
        log_warn("register %s:%u: connection lost (%s); reconnecting in 1 s", c->addr->host, c->addr->port, why);
    ev_io_stop(loop, &c->io);
    ev_timer_stop(loop, &c->ping);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->connected = 0;
    buf_free(&c->out);
    ev_timer_set(&c->retry, RECONNECT_SECONDS, 0);
    ev_timer_start(loop, &c->retry);
}

static void conn_flush(struct reg_conn *c)
{
    struct ev_loop *loop = c->owner->gw->loop;
    int err = sock_flush(c->fd, &c->out);
    if (err < 0) {
        conn_drop(c, strerror(-err));
        return;
    }
    int events = EV_READ | (buf_avail(&c->out) ? EV_WRITE : 0);
    if (events != (c->io.events & (EV_READ | EV_WRITE))) {
        ev_io_stop(loop, &c->io);
        ev_io_set(&c->io, c->fd, events);
        ev_io_start(loop, &c->io);
    }
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    struct reg_conn *c = w->data;
    if (!c->connected && (revents & EV_WRITE)) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            if (c->ever_connected)
                log_warn("register %s:%u: %s", c->addr->host, c->addr->port, strerror(err));
            c->connected = 0;
            conn_drop(c, strerror(err));
            return;
        }
        c->connected = 1;
        c->ever_connected = 1;
        log_info("registered %s with register %s:%u", c->owner->gw->lan_address, c->addr->host, c->addr->port);
        if (strncmp(c->addr->host, "127.0.0.1", 9) != 0)
            ev_timer_start(c->owner->gw->loop, &c->ping);
    }
    if (revents & EV_READ) {
        /* The register never sends a gateway anything; read to notice EOF. */
        char tmp[4096];
        ssize_t r = read(c->fd, tmp, sizeof tmp);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            conn_drop(c, r == 0 ? "closed by the register" : strerror(errno));
            return;
        }
    }
    conn_flush(c);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    conn_start(w->data);
}

static void on_ping(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct reg_conn *c = w->data;
    if (c->connected && regmsg_build_ping(&c->out) == 0)
        conn_flush(c);
}

static void conn_start(struct reg_conn *c)
{
    struct gateway *gw = c->owner->gw;
    c->fd = sock_connect(c->addr->host, c->addr->port);
    if (c->fd < 0) {
        conn_drop(c, strerror(errno));
        return;
    }
    sock_keepalive(c->fd);
    /* Queued before the connect completes, like PHP: it is the first line. */
    if (regmsg_build_gateway_connect(&c->out, gw->lan_address, gw->cfg->secretKey) < 0) {
        conn_drop(c, "cannot build gateway_connect");
        return;
    }
    ev_io_init(&c->io, on_io, c->fd, EV_READ | EV_WRITE);
    c->io.data = c;
    ev_io_start(gw->loop, &c->io);
}

struct reglink *reglink_new(struct gateway *gw)
{
    struct reglink *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->gw = gw;
    r->n = gw->cfg->registerAddress.n;
    r->conns = calloc((size_t)(r->n ? r->n : 1), sizeof *r->conns);
    if (!r->conns) {
        free(r);
        return NULL;
    }
    for (int i = 0; i < r->n; i++) {
        struct reg_conn *c = &r->conns[i];
        c->owner = r;
        c->addr = &gw->cfg->registerAddress.a[i];
        c->fd = -1;
        ev_timer_init(&c->retry, on_retry, RECONNECT_SECONDS, 0);
        c->retry.data = c;
        ev_timer_init(&c->ping, on_ping, PING_SECONDS, PING_SECONDS);
        c->ping.data = c;
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
        ev_io_stop(r->gw->loop, &c->io);
        ev_timer_stop(r->gw->loop, &c->retry);
        ev_timer_stop(r->gw->loop, &c->ping);
        if (c->fd >= 0)
            close(c->fd);
        buf_free(&c->out);
    }
    free(r->conns);
    free(r);
}

int reglink_connected(const struct reglink *r)
{
    int n = 0;
    for (int i = 0; i < r->n; i++)
        n += r->conns[i].connected;
    return n;
}
