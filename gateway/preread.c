#include "preread.h"

#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "wsconnect.h"

#define PREREAD_TIMEOUT_SECONDS 5.0
/* Larger request heads are left to lws alone (the body then falls back to
 * what lws parsed). */
#define HEAD_MAX 16384

struct pr_conn {
    struct preread *pr;
    ev_io io;
    int fd;
    int proxy_done;
    double deadline;
    char peer[48];
    uint16_t peer_port;
    size_t plen;                          /* PROXY bytes consumed so far */
    struct preread_info *info;
    struct pr_conn *prev, *next;
    uint8_t pbuf[PROXYPROTO_MAX_LEN];
};

struct preread {
    struct ev_loop *loop;
    int want_proxy, want_head;
    preread_done_cb *done;
    void (*drop)(void *ctx, int fd);
    void *ctx;
    struct pr_conn *head;
    ev_timer timer;
};

void preread_info_free(struct preread_info *info)
{
    if (info) {
        free(info->head);
        free(info);
    }
}

static void conn_free(struct pr_conn *c, int close_fd)
{
    struct preread *pr = c->pr;
    ev_io_stop(pr->loop, &c->io);
    if (close_fd && pr->drop)
        pr->drop(pr->ctx, c->fd);
    if (close_fd)
        close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        pr->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    preread_info_free(c->info);
    free(c);
}

static void finish(struct pr_conn *c)
{
    struct preread *pr = c->pr;
    struct preread_info *info = c->info;
    int fd = c->fd;
    c->info = NULL;
    conn_free(c, 0);
    pr->done(pr->ctx, fd, info);
}

static struct preread_info *info_of(struct pr_conn *c)
{
    if (!c->info)
        c->info = calloc(1, sizeof *c->info);
    return c->info;
}

/* PROXY phase: the header's bytes are consumed, exactly them. Returns 1 when
 * done, 0 to wait, -1 when the connection was closed. */
static int step_proxy(struct pr_conn *c)
{
    ssize_t r = recv(c->fd, c->pbuf + c->plen, sizeof c->pbuf - c->plen, MSG_PEEK);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (r <= 0) {
        conn_free(c, 1);
        return -1;
    }
    struct proxyproto_result res;
    size_t used;
    char err[160];
    int rc = proxyproto_decode(c->pbuf, c->plen + (size_t)r, &res, &used, err, sizeof err);
    /* Consume what belongs to the header: all of it while it is incomplete. */
    size_t take = rc == PROXYPROTO_OK ? used - c->plen : rc == PROXYPROTO_NEED_MORE ? (size_t)r : 0;
    if (take && recv(c->fd, c->pbuf + c->plen, take, 0) != (ssize_t)take) {
        conn_free(c, 1);
        return -1;
    }
    c->plen += take;
    if (rc == PROXYPROTO_ERROR || (rc == PROXYPROTO_NEED_MORE && c->plen == sizeof c->pbuf)) {
        log_warn("client %s:%u: bad PROXY protocol header (%s); closing", c->peer, c->peer_port,
                 rc == PROXYPROTO_ERROR ? err : "too long");
        conn_free(c, 1);
        return -1;
    }
    if (rc == PROXYPROTO_NEED_MORE)
        return 0;
    if (!res.local && res.family != PROXYPROTO_AF_UNSPEC) {
        struct preread_info *info = info_of(c);
        if (info) {
            info->have_addr = 1;
            snprintf(info->ip, sizeof info->ip, "%s", res.src_ip);
            info->ipv4 = res.src_ipv4;
            info->port = res.src_port;
        }
    }
    c->proxy_done = 1;
    return 1;
}

/* Head phase: peek until the whole request head is there; nothing consumed. */
static int step_head(struct pr_conn *c)
{
    char *buf = malloc(HEAD_MAX);
    if (!buf)
        return 1;
    ssize_t r = recv(c->fd, buf, HEAD_MAX, MSG_PEEK);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
        free(buf);
        return 0;
    }
    if (r <= 0) {
        free(buf);
        conn_free(c, 1);
        return -1;
    }
    size_t hl = wsconnect_head_len(buf, (size_t)r);
    if (hl == 0 && (size_t)r < HEAD_MAX) {
        free(buf);
        /* Incomplete: wait for more. The peeked bytes stay readable, so
         * this watcher fires again only when more arrive (edge on growth
         * is not available with level triggering: back off by re-arming
         * on the next tick instead of spinning). */
        ev_io_stop(c->pr->loop, &c->io);
        return 0;
    }
    struct preread_info *info = hl ? info_of(c) : NULL;
    char *head = info ? realloc(buf, hl + 1) : NULL; /* keep only the head, not the 16 KiB peek buffer */
    if (head) {
        head[hl] = 0;
        info->head = head;
        info->head_len = hl;
    } else {
        free(buf);
    }
    return 1;
}

static void step(struct pr_conn *c)
{
    struct preread *pr = c->pr;
    if (pr->want_proxy && !c->proxy_done) {
        int r = step_proxy(c);
        if (r <= 0)
            return;
    }
    if (pr->want_head) {
        int r = step_head(c);
        if (r <= 0)
            return;
    }
    finish(c);
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    step(w->data);
}

/* Timeouts, and connections whose head was incomplete get another look. */
static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct preread *pr = w->data;
    double now = ev_now(loop);
    unsigned more = 0;
    for (struct pr_conn *c = pr->head, *next; c; c = next) {
        next = c->next;
        if (c->deadline <= now) {
            /* One line per tick, not per connection: a flood of silent
             * connections must not become a flood of log lines. */
            if (more++ == 0)
                log_info("client %s:%u sent no complete %s within %.0f s; closing", c->peer, c->peer_port,
                         pr->want_proxy && !c->proxy_done ? "PROXY header" : "request", PREREAD_TIMEOUT_SECONDS);
            conn_free(c, 1);
        } else if (!ev_is_active(&c->io)) {
            ev_io_start(loop, &c->io);
        }
    }
    if (more > 1)
        log_info("%u more clients sent no complete request or PROXY header within %.0f s; closed", more - 1,
                 PREREAD_TIMEOUT_SECONDS);
}

struct preread *preread_new(struct ev_loop *loop, int want_proxy, int want_head, preread_done_cb *done, void *ctx)
{
    struct preread *pr = calloc(1, sizeof *pr);
    if (!pr)
        return NULL;
    pr->loop = loop;
    pr->want_proxy = want_proxy;
    pr->want_head = want_head;
    pr->done = done;
    pr->ctx = ctx;
    ev_timer_init(&pr->timer, on_tick, 0.05, 0.05);
    pr->timer.data = pr;
    ev_timer_start(loop, &pr->timer);
    return pr;
}

void preread_start(struct preread *pr, int fd, const char *peer_ip, uint16_t peer_port)
{
    struct pr_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->pr = pr;
    c->fd = fd;
    c->deadline = ev_now(pr->loop) + PREREAD_TIMEOUT_SECONDS;
    snprintf(c->peer, sizeof c->peer, "%s", peer_ip);
    c->peer_port = peer_port;
    c->next = pr->head;
    if (pr->head)
        pr->head->prev = c;
    pr->head = c;
    ev_io_init(&c->io, on_readable, fd, EV_READ);
    c->io.data = c;
    ev_io_start(pr->loop, &c->io);
}

void preread_on_drop(struct preread *pr, void (*cb)(void *ctx, int fd)) { pr->drop = cb; }

void preread_free(struct preread *pr)
{
    if (!pr)
        return;
    while (pr->head)
        conn_free(pr->head, 1);
    ev_timer_stop(pr->loop, &pr->timer);
    free(pr);
}
