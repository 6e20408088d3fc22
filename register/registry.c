#include "registry.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "netaddr.h"
#include "regmsg.h"
#include "secret.h"

void registry_init(struct registry *r, const char *secret, const struct registry_ops *ops, void *ctx)
{
    memset(r, 0, sizeof *r);
    r->secret = secret ? secret : "";
    r->secret_len = strlen(r->secret);
    r->ops = *ops;
    r->ctx = ctx;
}

static void drop(struct registry *r, struct reg_peer *p)
{
    p->closing = 1;
    r->ops.close(r->ctx, p);
}

/* The distinct addresses of the connected gateways, first registration first.
 * Returns a malloc'd array of borrowed strings (caller frees the array). */
static const char **gateway_list(const struct registry *r, size_t *n)
{
    const char **list = malloc((r->n_gateway_conns ? r->n_gateway_conns : 1) * sizeof *list);
    *n = 0;
    if (!list)
        return NULL;
    for (struct reg_peer *g = r->gw_head; g; g = g->gw_next) {
        size_t i = 0;
        while (i < *n && strcmp(list[i], g->address) != 0)
            i++;
        if (i == *n)
            list[(*n)++] = g->address;
    }
    return list;
}

static int build_broadcast(const struct registry *r, struct buf *line)
{
    size_t n;
    const char **list = gateway_list(r, &n);
    if (!list)
        return -1;
    int rc = regmsg_build_broadcast(line, list, n);
    free(list);
    return rc;
}

static void broadcast(struct registry *r)
{
    struct buf line = BUF_INIT;
    if (build_broadcast(r, &line) < 0) {
        log_error("out of memory building broadcast_addresses");
        buf_free(&line);
        return;
    }
    for (struct reg_peer *w = r->wk_head; w; w = w->wk_next)
        if (!w->closing)
            r->ops.send(r->ctx, w, buf_head(&line), buf_avail(&line));
    r->broadcasts++;
    buf_free(&line);
}

/* The key check, behind the per-address back-off (shared/authguard): the
 * register's key is the internal port's key, so guessing it here must be as
 * slow as there. Logs why when it says no. */
static int key_ok(struct registry *r, struct reg_peer *p, const struct regmsg *m, const char *what)
{
    int first;
    int64_t wait = authguard_check(&r->guard, p->ip, r->now_ms, &first);
    if (wait > 0) {
        if (first)
            log_warn("%s from %s:%u refused: too many wrong secret keys from %s, next try allowed in %lld ms "
                     "(refusals until then are not logged); closing",
                     what, p->ip, p->port, p->ip, (long long)wait);
        return 0;
    }
    if (secret_equal(m->secret_key, m->secret_len, r->secret, r->secret_len)) {
        authguard_ok(&r->guard, p->ip);
        return 1;
    }
    int64_t block;
    uint32_t n = authguard_fail(&r->guard, p->ip, r->now_ms, &block);
    if (block)
        log_warn("%s from %s:%u with a wrong secret key (%u in a row from %s: blocked for %lld ms); closing", what,
                 p->ip, p->port, n, p->ip, (long long)block);
    else
        log_warn("%s from %s:%u with a wrong secret key (%u in a row from %s); closing", what, p->ip, p->port, n,
                 p->ip);
    return 0;
}

static void on_gateway_connect(struct registry *r, struct reg_peer *p, const struct regmsg *m)
{
    if (!m->address[0]) {
        log_warn("gateway_connect from %s:%u without address; closing", p->ip, p->port);
        drop(r, p);
        return;
    }
    if (!key_ok(r, p, m, "gateway_connect")) {
        drop(r, p);
        return;
    }
    /* Canonical dotted quads only: workers route per-client commands by this
     * exact string (§4.3), so anything else would silently break routing. */
    if (netaddr_parse_hostport(m->address, strlen(m->address), &(struct netaddr_hostport){0}) < 0) {
        log_warn("gateway_connect from %s:%u with address '%.64s' (want a.b.c.d:port); closing", p->ip,
                 p->port, m->address);
        drop(r, p);
        return;
    }
    char *addr = strdup(m->address);
    if (!addr) {
        drop(r, p);
        return;
    }
    if (p->address) {
        log_info("gateway %s:%u re-registered %s as %s", p->ip, p->port, p->address, addr);
        free(p->address);
    } else {
        log_info("gateway %s:%u registered %s", p->ip, p->port, addr);
        p->gw_prev = r->gw_tail;
        p->gw_next = NULL;
        if (r->gw_tail)
            r->gw_tail->gw_next = p;
        else
            r->gw_head = p;
        r->gw_tail = p;
        r->n_gateway_conns++;
    }
    p->address = addr;
    p->authed = 1;
    broadcast(r);
}

static void on_worker_connect(struct registry *r, struct reg_peer *p, const struct regmsg *m)
{
    if (!key_ok(r, p, m, "worker_connect")) {
        drop(r, p);
        return;
    }
    if (!p->is_worker) {
        p->is_worker = 1;
        p->wk_prev = NULL;
        p->wk_next = r->wk_head;
        if (r->wk_head)
            r->wk_head->wk_prev = p;
        r->wk_head = p;
        r->n_workers++;
        log_info("worker %s:%u connected", p->ip, p->port);
    }
    p->authed = 1;
    struct buf line = BUF_INIT;
    if (build_broadcast(r, &line) == 0)
        r->ops.send(r->ctx, p, buf_head(&line), buf_avail(&line));
    buf_free(&line);
}

void registry_on_line(struct registry *r, struct reg_peer *p, const char *line, size_t len)
{
    if (p->closing)
        return;
    struct regmsg m;
    if (regmsg_parse(line, len, &m) < 0) {
        log_error("out of memory parsing a line from %s:%u; closing", p->ip, p->port);
        drop(r, p);
        return;
    }
    switch (m.event) {
    case REGMSG_BAD: {
        log_warn("bad request from %s:%u: '%.*s%s'; closing", p->ip, p->port, len > 80 ? 80 : (int)len, line,
                 len > 80 ? "..." : "");
        struct buf reply = BUF_INIT;
        if (regmsg_build_bad_request(&reply, p->ip, line, len) == 0)
            r->ops.send(r->ctx, p, buf_head(&reply), buf_avail(&reply));
        buf_free(&reply);
        drop(r, p);
        break;
    }
    case REGMSG_GATEWAY_CONNECT:
        on_gateway_connect(r, p, &m);
        break;
    case REGMSG_WORKER_CONNECT:
        on_worker_connect(r, p, &m);
        break;
    case REGMSG_PING:
        break;
    case REGMSG_BROADCAST_ADDRESSES:
    case REGMSG_UNKNOWN:
        log_warn("unknown event from %s:%u: '%.*s%s'; closing", p->ip, p->port, len > 80 ? 80 : (int)len, line,
                 len > 80 ? "..." : "");
        drop(r, p);
        break;
    }
    regmsg_free(&m);
}

void registry_on_close(struct registry *r, struct reg_peer *p)
{
    if (p->is_worker) {
        if (p->wk_prev)
            p->wk_prev->wk_next = p->wk_next;
        else
            r->wk_head = p->wk_next;
        if (p->wk_next)
            p->wk_next->wk_prev = p->wk_prev;
        p->is_worker = 0;
        r->n_workers--;
        log_info("worker %s:%u disconnected", p->ip, p->port);
    }
    if (p->address) {
        if (p->gw_prev)
            p->gw_prev->gw_next = p->gw_next;
        else
            r->gw_head = p->gw_next;
        if (p->gw_next)
            p->gw_next->gw_prev = p->gw_prev;
        else
            r->gw_tail = p->gw_prev;
        r->n_gateway_conns--;
        log_info("gateway %s:%u (%s) disconnected", p->ip, p->port, p->address);
        free(p->address);
        p->address = NULL;
        if (!r->shutting_down)
            broadcast(r);
    }
}

void registry_shutdown(struct registry *r) { r->shutting_down = 1; }

int registry_describe(const struct registry *r, struct buf *out)
{
    size_t n;
    const char **list = gateway_list(r, &n);
    if (!list)
        return -1;
    for (size_t i = 0; i < n; i++)
        buf_printf(out, "  gateway %s\n", list[i]);
    free(list);
    return 0;
}
