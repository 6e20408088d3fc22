#include "query.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "bw.h"
#include "clientid.h"
#include "gwp.h"
#include "log.h"
#include "loop.h"
#include "netaddr.h"
#include "phpser.h"
#include "sock.h"

#define CONNECT_TIMEOUT_MS 3000
#define REPLY_TIMEOUT_MS 5000
#define IDLE_MS 50000
/* A reply to GET_ALL_CLIENT_SESSIONS holds every session of a gateway. */
#define MAX_REPLY (256u << 20)
#define MAX_CACHED 256

struct qconn {
    uint32_t ip;
    uint16_t port;
    int fd;
    int64_t last_used;
};

struct query {
    struct bw *bw;
    struct qconn cache[MAX_CACHED];
    int ncache;
    struct gw_query_info last;
    char missing[16][CLIENTID_ADDR_MAX];
};

/* Per target during one query. */
enum qstate { Q_CONNECTING, Q_SENDING, Q_READING, Q_DONE, Q_FAILED };
struct qrun {
    enum qstate st;
    int fd;
    int fresh;       /* opened for this query: auth goes first */
    struct buf out, in;
};

struct query *query_new(struct bw *bw)
{
    struct query *q = calloc(1, sizeof *q);
    if (q)
        q->bw = bw;
    return q;
}

void query_free(struct query *q)
{
    if (!q)
        return;
    for (int i = 0; i < q->ncache; i++)
        close(q->cache[i].fd);
    free(q);
}

const struct gw_query_info *query_last(const struct query *q) { return &q->last; }

void query_tick(struct query *q, int64_t now)
{
    for (int i = 0; i < q->ncache;) {
        if (now - q->cache[i].last_used >= IDLE_MS) {
            close(q->cache[i].fd);
            q->cache[i] = q->cache[--q->ncache];
        } else {
            i++;
        }
    }
}

/* Takes a cached connection to ip:port out of the cache, or -1. */
static int cache_take(struct query *q, uint32_t ip, uint16_t port)
{
    for (int i = 0; i < q->ncache; i++)
        if (q->cache[i].ip == ip && q->cache[i].port == port) {
            int fd = q->cache[i].fd;
            q->cache[i] = q->cache[--q->ncache];
            /* A cached connection the gateway closed shows as readable (EOF). */
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, 0) != 0) {
                close(fd);
                return -1;
            }
            return fd;
        }
    return -1;
}

static void cache_put(struct query *q, uint32_t ip, uint16_t port, int fd)
{
    if (q->ncache == MAX_CACHED) {
        close(fd);
        return;
    }
    q->cache[q->ncache++] = (struct qconn){ip, port, fd, loop_now_ms()};
}

int query_auth_frame(struct buf *out, const char *secret_key)
{
    if (!secret_key || !secret_key[0])
        return 0;
    json_t *o = json_pack("{s:s}", "secret_key", secret_key);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ESCAPE_SLASH) : NULL;
    json_decref(o);
    if (!s)
        return -ENOMEM;
    struct gwp_header h = {.cmd = GWP_CMD_GATEWAY_CLIENT_CONNECT, .flag = GWP_FLAG_BODY_IS_SCALAR};
    int r = gwp_encode(out, &h, NULL, 0, s, strlen(s));
    free(s);
    return r;
}

static int build_request(struct query *q, struct buf *out, int fresh, uint8_t cmd, uint32_t conn_id,
                         const void *ext, size_t ext_len)
{
    if (fresh) {
        int r = query_auth_frame(out, q->bw->cfg->secretKey);
        if (r < 0)
            return r;
    }
    struct gwp_header h = {.cmd = cmd, .connection_id = conn_id, .flag = GWP_FLAG_BODY_IS_SCALAR};
    return gwp_encode(out, &h, ext, ext_len, NULL, 0);
}

int query_run(struct query *q, struct query_target *t, size_t n, uint8_t cmd, uint32_t conn_id, const void *ext,
              size_t ext_len, msgpack_zone *zone)
{
    memset(&q->last, 0, sizeof q->last);
    q->last.asked = (int)n;
    if (n == 0)
        return 0;
    struct qrun *r = calloc(n, sizeof *r);
    struct pollfd *pf = calloc(n, sizeof *pf);
    if (!r || !pf) {
        free(r);
        free(pf);
        q->last.n_missing = (int)n;
        return 0;
    }
    int64_t start = loop_now_ms();
    for (size_t i = 0; i < n; i++) {
        t[i].ok = 0;
        t[i].reply.type = MSGPACK_OBJECT_NIL;
        r[i].fd = cache_take(q, t[i].ip, t[i].port);
        r[i].st = Q_SENDING;
        if (r[i].fd < 0) {
            char ip[16];
            netaddr_format_ipv4(t[i].ip, ip);
            r[i].fd = sock_connect(ip, t[i].port);
            r[i].fresh = 1;
            r[i].st = r[i].fd < 0 ? Q_FAILED : Q_CONNECTING;
        }
        if (r[i].st != Q_FAILED && build_request(q, &r[i].out, r[i].fresh, cmd, conn_id, ext, ext_len) < 0)
            r[i].st = Q_FAILED;
    }
    int answered = 0;
    for (;;) {
        int64_t now = loop_now_ms();
        int waiting = 0;
        for (size_t i = 0; i < n; i++) {
            pf[i].fd = -1;
            pf[i].revents = 0;
            if (r[i].st == Q_CONNECTING && now - start >= CONNECT_TIMEOUT_MS)
                r[i].st = Q_FAILED;
            if (r[i].st == Q_CONNECTING || r[i].st == Q_SENDING) {
                pf[i].fd = r[i].fd;
                pf[i].events = POLLOUT;
                waiting++;
            } else if (r[i].st == Q_READING) {
                pf[i].fd = r[i].fd;
                pf[i].events = POLLIN;
                waiting++;
            }
        }
        int left = (int)(start + REPLY_TIMEOUT_MS - now);
        if (!waiting || left <= 0)
            break;
        int pr = poll(pf, n, left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            break;
        for (size_t i = 0; i < n; i++) {
            if (!pf[i].revents || pf[i].fd < 0)
                continue;
            struct qrun *x = &r[i];
            if (x->st == Q_CONNECTING) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                x->st = err ? Q_FAILED : Q_SENDING;
                continue;
            }
            if (x->st == Q_SENDING) {
                ssize_t w = write(x->fd, buf_head(&x->out), buf_avail(&x->out));
                if (w < 0 && (errno == EAGAIN || errno == EINTR))
                    continue;
                if (w < 0) {
                    x->st = Q_FAILED;
                    continue;
                }
                buf_consume(&x->out, (size_t)w);
                if (buf_avail(&x->out) == 0)
                    x->st = Q_READING;
                continue;
            }
            uint8_t *p = buf_reserve(&x->in, 65536);
            ssize_t rd = p ? read(x->fd, p, 65536) : -1;
            if (rd < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (rd <= 0) {
                x->st = Q_FAILED;
                continue;
            }
            buf_commit(&x->in, (size_t)rd);
            const uint8_t *payload;
            size_t plen, used;
            char err[160];
            int dr = gwp_reply_decode(buf_head(&x->in), buf_avail(&x->in), MAX_REPLY, &payload, &plen, &used, err,
                                      sizeof err);
            if (dr == GWP_NEED_MORE)
                continue;
            if (dr == GWP_ERROR || used != buf_avail(&x->in)) {
                /* Extra bytes mean replies are out of step on this connection. */
                x->st = Q_FAILED;
                continue;
            }
            if (phpser_decode(payload, plen, zone, &t[i].reply, NULL, err, sizeof err) < 0) {
                char a[CLIENTID_ADDR_MAX];
                clientid_gateway_address(t[i].ip, t[i].port, a, sizeof a);
                log_warn("gateway %s: reply to command %u does not unserialize: %s", a, cmd, err);
                t[i].reply.type = MSGPACK_OBJECT_NIL;
                x->st = Q_DONE;
                continue;
            }
            t[i].ok = 1;
            answered++;
            x->st = Q_DONE;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (r[i].st == Q_DONE && r[i].fd >= 0)
            cache_put(q, t[i].ip, t[i].port, r[i].fd);
        else if (r[i].fd >= 0)
            close(r[i].fd);
        if (!t[i].ok && q->last.n_missing < 16) {
            clientid_gateway_address(t[i].ip, t[i].port, q->missing[q->last.n_missing], sizeof q->missing[0]);
            q->last.missing[q->last.n_missing] = q->missing[q->last.n_missing];
            q->last.n_missing++;
        }
        buf_free(&r[i].out);
        buf_free(&r[i].in);
    }
    q->last.answered = answered;
    q->last.n_missing = (int)n - answered;
    if (q->last.n_missing)
        log_warn("query (command %u): %d of %zu gateway(s) did not answer within %d ms", cmd, q->last.n_missing, n,
                 REPLY_TIMEOUT_MS);
    free(r);
    free(pf);
    return answered;
}
