/* register: the directory of gateway addresses (GatewayWorker's Register).
 *
 * Socket layer only: accept, read lines, write, time out silent peers; the
 * protocol decisions live in registry.c. One process, one loop (shared/loop);
 * every peer is a stream (shared/stream) whose decode callback cuts lines. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "loop.h"
#include "log.h"
#include "netaddr.h"
#include "proc.h"
#include "regmsg.h"
#include "registry.h"
#include "sock.h"
#include "stream.h"

/* A worker that does not read its broadcasts is cut off past this much
 * queued output instead of growing our memory. */
#define REG_MAX_OUTPUT (4u << 20)

struct register_cfg {
    struct cfg_common common;
    struct netaddr_listen listen;
    char *secretKey;
    int allowEmptySecretOnLan;
    long authTimeout;
    long maxLineLength;
};

#define OFF(f) offsetof(struct register_cfg, f)
static const struct cfg_opt register_opts[] = {
    {"listen", CFG_LISTEN, OFF(listen), "text://127.0.0.1:1236", 0, 0,
     "where gateways and workers reach the register (the Text protocol)"},
    {"secretKey", CFG_STR, OFF(secretKey), "", 0, 0, "shared key gateways and workers must present"},
    {"allowEmptySecretOnLan", CFG_BOOL, OFF(allowEmptySecretOnLan), "off", 0, 0,
     "start even though secretKey is empty and listen is not loopback (anyone can register a gateway)"},
    {"authTimeout", CFG_INT, OFF(authTimeout), "10", 1, 3600,
     "seconds a new connection has to send gateway_connect or worker_connect"},
    {"maxLineLength", CFG_INT, OFF(maxLineLength), "65536", 256, 10485760,
     "longest accepted line in bytes; a longer one closes the connection"},
    {NULL, 0, 0, NULL, 0, 0, NULL},
};

struct reg_conn {
    struct reg_peer peer; /* first: registry callbacks get &conn->peer */
    struct stream s;
    int64_t auth_deadline;
    struct reg_conn *auth_prev, *auth_next; /* FIFO of peers still to authenticate */
    unsigned in_auth_list : 1, dead : 1;
    struct reg_server *server;
};

struct reg_server {
    struct register_cfg *cfg;
    struct loop *loop;
    struct registry reg;
    int lfd;
    size_t nconns;
    uint64_t total_accepted;
    time_t started;
    struct reg_conn *auth_head, *auth_tail;
    int graceful;
    int64_t graceful_deadline;
};

static struct reg_conn *conn_of(struct stream *s)
{
    return (struct reg_conn *)((char *)s - offsetof(struct reg_conn, s));
}

static void auth_unlink(struct reg_server *s, struct reg_conn *c)
{
    if (!c->in_auth_list)
        return;
    if (c->auth_prev)
        c->auth_prev->auth_next = c->auth_next;
    else
        s->auth_head = c->auth_next;
    if (c->auth_next)
        c->auth_next->auth_prev = c->auth_prev;
    else
        s->auth_tail = c->auth_prev;
    c->in_auth_list = 0;
}

/* Closes now; the struct itself is freed before the loop sleeps (the
 * stream's on_free), so callers up the stack may still look at it. */
static void conn_kill(struct reg_server *s, struct reg_conn *c)
{
    if (c->dead)
        return;
    c->dead = 1;
    auth_unlink(s, c);
    registry_on_close(&s->reg, &c->peer);
    stream_free(&c->s);
    s->nconns--;
}

static void op_send(void *ctx, struct reg_peer *p, const uint8_t *data, size_t len)
{
    struct reg_server *s = ctx;
    struct reg_conn *c = (struct reg_conn *)p;
    if (c->dead || stream_state(&c->s) != STREAM_UP)
        return;
    if (buf_avail(&c->s.out) + len > REG_MAX_OUTPUT) {
        log_warn("%s:%u does not read its messages (%zu bytes queued); closing", p->ip, p->port,
                 buf_avail(&c->s.out));
        conn_kill(s, c);
        return;
    }
    if (stream_write(&c->s, data, len) < 0) {
        log_error("out of memory queueing to %s:%u; closing", p->ip, p->port);
        conn_kill(s, c);
    }
}

static void op_close(void *ctx, struct reg_peer *p)
{
    (void)ctx;
    struct reg_conn *c = (struct reg_conn *)p;
    /* A closing peer is not read any more: its input would only be dropped. */
    stream_close_after_flush(&c->s);
}

static ssize_t conn_on_data(struct stream *st, const uint8_t *p, size_t n)
{
    struct reg_conn *c = conn_of(st);
    struct reg_server *s = c->server;
    size_t max = (size_t)s->cfg->maxLineLength, line_len, used;
    if (c->peer.closing)
        return 0; /* the registry is done with it: stop here, keep the stream */
    int rc = regmsg_next_line(p, n, max, &line_len, &used);
    if (rc == REGMSG_NEED_MORE)
        return 0;
    if (rc == REGMSG_ERROR) {
        log_warn("%s:%u sent a line longer than %zu bytes; closing", c->peer.ip, c->peer.port, max);
        conn_kill(s, c);
        return -1;
    }
    s->reg.now_ms = loop_now_ms();
    registry_on_line(&s->reg, &c->peer, (const char *)p, line_len);
    if (!c->dead && c->peer.authed)
        auth_unlink(s, c);
    return (ssize_t)used;
}

static void conn_on_close(struct stream *st, const char *why)
{
    struct reg_conn *c = conn_of(st);
    if (why && why != stream_eof)
        log_info("connection from %s:%u failed: %s", c->peer.ip, c->peer.port, why);
    conn_kill(c->server, c);
}

static void conn_on_free(struct stream *st) { free(conn_of(st)); }

static const struct stream_ops reg_conn_ops = {
    .on_data = conn_on_data,
    .on_close = conn_on_close,
    .on_free = conn_on_free,
    .read_chunk = 4096,
};

static void on_accept(struct loop *loop, int fd, unsigned events, void *data)
{
    (void)events;
    struct reg_server *s = data;
    for (int i = 0; i < 256; i++) {
        char ip[48];
        uint16_t port;
        int cfd = sock_accept(fd, ip, sizeof ip, &port);
        if (cfd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                log_error("accept failed: %s", strerror(errno));
            return;
        }
        struct reg_conn *c = calloc(1, sizeof *c);
        if (c)
            stream_init(&c->s, loop, &reg_conn_ops);
        if (!c || stream_attach(&c->s, cfd) < 0) {
            log_error("cannot take connection from %s:%u: out of memory", ip, port);
            if (!c)
                close(cfd);
            free(c);
            continue;
        }
        c->server = s;
        snprintf(c->peer.ip, sizeof c->peer.ip, "%s", ip);
        c->peer.port = port;
        c->auth_deadline = loop_now_ms() + s->cfg->authTimeout * 1000;
        c->auth_prev = s->auth_tail;
        if (s->auth_tail)
            s->auth_tail->auth_next = c;
        else
            s->auth_head = c;
        s->auth_tail = c;
        c->in_auth_list = 1;
        s->nconns++;
        s->total_accepted++;
    }
}

/* Peers that have not authenticated in time, oldest first: one tick pops the
 * expired head of a FIFO instead of a timer per connection. */
static void on_auth_tick(struct loop *loop, void *data)
{
    (void)loop;
    struct reg_server *s = data;
    int64_t now = loop_now_ms();
    while (s->auth_head && s->auth_head->auth_deadline <= now) {
        struct reg_conn *c = s->auth_head;
        log_warn("register auth timeout (%s:%u): no gateway_connect or worker_connect within %ld s; closing",
                 c->peer.ip, c->peer.port, s->cfg->authTimeout);
        conn_kill(s, c);
    }
    if (s->graceful) {
        int pending = 0;
        /* Graceful stop: wait for queued output to drain, then leave. */
        for (struct reg_peer *w = s->reg.wk_head; w; w = w->wk_next)
            pending |= buf_avail(&((struct reg_conn *)w)->s.out) > 0;
        if (!pending || now >= s->graceful_deadline)
            loop_stop(s->loop);
    }
}

static void write_status(struct reg_server *s)
{
    struct buf b = BUF_INIT;
    char uptime[64], started[64];
    proc_format_uptime((long long)(time(NULL) - s->started), uptime, sizeof uptime);
    strftime(started, sizeof started, "%Y-%m-%d %H:%M:%S", localtime(&s->started));
    buf_printf(&b,
               "register  pid %d  listen %s://%s:%u\n"
               "started   %s (uptime %s)\n"
               "connections %zu (accepted %llu)  gateways %zu  workers %zu  awaiting auth %zu\n"
               "broadcasts %llu\n",
               (int)getpid(), s->cfg->listen.scheme, s->cfg->listen.host, s->cfg->listen.port, started, uptime,
               s->nconns, (unsigned long long)s->total_accepted, s->reg.n_gateway_conns, s->reg.n_workers,
               s->nconns - s->reg.n_gateway_conns - s->reg.n_workers, (unsigned long long)s->reg.broadcasts);
    registry_describe(&s->reg, &b);
    buf_append(&b, "", 1);
    if (proc_write_status(&s->cfg->common, (const char *)buf_head(&b)) < 0)
        log_warn("cannot write status file: %s", strerror(errno));
    buf_free(&b);
}

static void on_signal(struct loop *loop, int signo, void *data)
{
    struct reg_server *s = data;
    switch (signo) {
    case SIGTERM:
    case SIGINT:
        log_info("stopping (signal %d)", signo);
        loop_stop(loop);
        break;
    case SIGQUIT:
        log_info("stopping gracefully: no new connections, flushing queued output");
        if (s->lfd >= 0) {
            loop_del(loop, s->lfd);
            close(s->lfd);
            s->lfd = -1;
        }
        s->graceful = 1;
        s->graceful_deadline = loop_now_ms() + 5000;
        break;
    case SIGUSR1:
        log_info("reload requested: the register keeps its state and connections (not reloadable)");
        break;
    case SIGUSR2:
        write_status(s);
        break;
    }
}

static void register_check(const void *cfgp, struct cfg_check *chk)
{
    const struct register_cfg *cfg = cfgp;
    if (strcmp(cfg->listen.scheme, "text") != 0)
        cfg_problem(chk, "listen", "the register speaks the Text protocol; use text://ip:port, not %s://",
                    cfg->listen.scheme);
    /* Without a key on a non-loopback address anyone on the LAN can register
     * a gateway of theirs and receive every worker's traffic: refused unless
     * explicitly allowed (see README, "secretKey"). */
    if (!cfg->secretKey[0] && !netaddr_is_loopback(cfg->listen.host) && !cfg->allowEmptySecretOnLan)
        cfg_problem(chk, "secretKey", "empty while listen %s is not loopback: anyone on the network could "
                    "register a gateway; set secretKey (the same on every role), or allowEmptySecretOnLan = on to "
                    "run open anyway", cfg->listen.host);
}

static void *register_prepare(void *cfgp, char *err, size_t errlen)
{
    struct register_cfg *cfg = cfgp;
    struct cfg_check chk = {.c = cfgp, .err = err, .errlen = errlen};
    register_check(cfg, &chk);
    if (chk.n)
        return NULL;
    struct reg_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cfg = cfg;
    s->lfd = sock_listen(cfg->listen.host, cfg->listen.port, 0, 4096, err, errlen);
    if (s->lfd < 0) {
        free(s);
        return NULL;
    }
    return s;
}

static int register_run(void *state)
{
    struct reg_server *s = state;
    log_init("register", LOG_INFO);
    s->started = time(NULL);
    s->loop = loop_new();
    static const struct registry_ops ops = {op_send, op_close};
    registry_init(&s->reg, s->cfg->secretKey, &ops, s);
    int sigs[] = {SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2};
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        loop_signal(s->loop, sigs[i], on_signal, s);
    if (!s->loop || loop_add(s->loop, s->lfd, LOOP_READ, on_accept, s) < 0 ||
        loop_every(s->loop, 250, on_auth_tick, s) < 0) {
        log_error("cannot set up the event loop");
        return 1;
    }
    if (!s->cfg->secretKey[0] && !netaddr_is_loopback(s->cfg->listen.host))
        log_warn("secretKey is empty and %s is not a loopback address: anyone who reaches this port can "
                 "register a gateway (allowEmptySecretOnLan is on)", s->cfg->listen.host);
    log_info("listening on text://%s:%u (auth timeout %ld s, max line %ld bytes)", s->cfg->listen.host,
             s->cfg->listen.port, s->cfg->authTimeout, s->cfg->maxLineLength);
    int rc = loop_run(s->loop);
    if (rc < 0)
        log_error("event loop failed: %s", strerror(-rc));
    log_info("stopped");
    return rc < 0 ? 1 : 0;
}

static void register_destroy(void *state)
{
    struct reg_server *s = state;
    if (s->loop) {
        /* Every peer still open is closed; the registry forgets it. */
        registry_shutdown(&s->reg);
        while (s->reg.gw_head || s->reg.wk_head || s->auth_head) {
            struct reg_peer *p = s->reg.gw_head ? s->reg.gw_head : s->reg.wk_head;
            conn_kill(s, p ? (struct reg_conn *)p : s->auth_head);
        }
        loop_run_jobs(s->loop); /* the killed peers' deferred frees */
        loop_free(s->loop);
    }
    if (s->lfd >= 0)
        close(s->lfd);
    free(s);
}

int main(int argc, char **argv)
{
    static const struct proc_role role = {
        .name = "register",
        .summary = "GatewayWorker-compatible Register: tells business workers where every gateway is",
        .opts = register_opts,
        .cfg_size = sizeof(struct register_cfg),
        .prepare = register_prepare,
        .check = register_check,
        .run = register_run,
        .destroy = register_destroy,
    };
    log_init("register", LOG_INFO);
    return proc_main(&role, argc, argv);
}
