#include "lan.h"

/* Room for a command's header and ext_data beyond maxPackageSize of body. */
#define LAN_FRAME_SLACK 65536u

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "authguard.h"
#include "buf.h"
#include "log.h"
#include "secret.h"
#include "loop.h"
#include "sock.h"
#include "stream.h"
#include "state.h"

#define LAN_READ_CHUNK 65536
#define LAN_PING_MS 25000
/* Route of a client whose events were held while no worker was connected:
 * it follows them to whichever worker takes the held queue. */
#define ROUTE_PENDING UINT32_MAX

struct lan_link {
    struct stream s;           /* first: stream callbacks get &link->s */
    struct lan *lan;
    uint32_t id;
    char ip[48];
    uint16_t port;
    char *worker_key;          /* "<ip>:<name>:<index>" once WORKER_CONNECT succeeded */
    uint64_t bound_clients;    /* router: clients currently stuck to this worker */
    unsigned authed : 1, closing : 1, dead : 1, ready : 1;
    struct lan_link *prev, *next;         /* all links */
};

/* Events that found no business worker wait here, in arrival order, until
 * one connects or they expire (§6.5 C: the project holds, PHP drops). */
struct pending_ev {
    int64_t at;      /* loop_now_ms() when queued */
    uint32_t len;    /* bytes of this frame in the pending buffer */
};

struct lan {
    struct gateway *gw;
    struct buf pending;          /* encoded frames, back to back */
    struct pending_ev *pev;      /* ring, one entry per frame */
    size_t pev_head, pev_len, pev_cap;
    uint32_t pending_owner;      /* link that took the last flush: PENDING routes resolve to it */
    uint64_t pending_expired, pending_overflow;
    int lfd;
    struct lan_link *links;
    struct lan_link **ready;     /* links readable this iteration, served in accept order */
    size_t nready, ready_cap;
    uint32_t next_id;
    size_t nlinks, nworkers;
    uint64_t dropped;
    int64_t last_drop_log;
    struct authguard guard;      /* wrong secret keys per source address: guessing is slowed down */
};

/* Closes now and leaves the lists; the struct is freed before the loop
 * sleeps (the stream's on_free): callers up the stack may still hold l. */
static void link_kill(struct lan_link *l, const char *why)
{
    struct lan *lan = l->lan;
    if (l->dead)
        return;
    if (why)
        log_info("internal link %s:%u%s%s closed: %s", l->ip, l->port, l->worker_key ? " worker " : "",
                 l->worker_key ? l->worker_key : "", why);
    l->dead = 1;
    if (l->prev)
        l->prev->next = l->next;
    else
        lan->links = l->next;
    if (l->next)
        l->next->prev = l->prev;
    lan->nlinks--;
    if (l->worker_key)
        lan->nworkers--;
    stream_free(&l->s);
}

static struct lan_link *find_worker_key(struct lan *lan, const char *key)
{
    for (struct lan_link *l = lan->links; l; l = l->next)
        if (l->worker_key && !l->closing && strcmp(l->worker_key, key) == 0)
            return l;
    return NULL;
}

static void pending_drop_head(struct lan *lan)
{
    struct pending_ev *e = &lan->pev[lan->pev_head];
    buf_consume(&lan->pending, e->len);
    lan->pev_head = (lan->pev_head + 1) % lan->pev_cap;
    lan->pev_len--;
}

static void pending_expire(struct lan *lan)
{
    int64_t limit = loop_now_ms() - (int64_t)lan->gw->cfg->pendingTimeout * 1000;
    uint64_t n = 0;
    while (lan->pev_len && lan->pev[lan->pev_head].at <= limit) {
        pending_drop_head(lan);
        n++;
    }
    if (n) {
        lan->pending_expired += n;
        log_warn("no business worker for %ld s: dropped %llu held client events (%llu in all)",
                 lan->gw->cfg->pendingTimeout, (unsigned long long)n, (unsigned long long)lan->pending_expired);
    }
}

static void on_pending_timer(struct loop *loop, void *data)
{
    (void)loop;
    pending_expire(data);
}

/* Queues an encoded frame while no worker is connected. 0 or -1 (full). */
static int pending_push(struct lan *lan, const struct gwp_header *h, const void *ext, size_t ext_len, const void *body,
                        size_t body_len)
{
    size_t need = GWP_HEADER_LEN + ext_len + body_len;
    if (buf_avail(&lan->pending) + need > (size_t)lan->gw->cfg->pendingBufferSize)
        return -1;
    if (lan->pev_len == lan->pev_cap) {
        size_t ncap = lan->pev_cap ? lan->pev_cap * 2 : 64;
        struct pending_ev *n = malloc(ncap * sizeof *n);
        if (!n)
            return -1;
        for (size_t i = 0; i < lan->pev_len; i++)
            n[i] = lan->pev[(lan->pev_head + i) % lan->pev_cap];
        free(lan->pev);
        lan->pev = n;
        lan->pev_cap = ncap;
        lan->pev_head = 0;
    }
    if (gwp_encode(&lan->pending, h, ext, ext_len, body, body_len) < 0)
        return -1;
    lan->pev[(lan->pev_head + lan->pev_len) % lan->pev_cap] = (struct pending_ev){loop_now_ms(), (uint32_t)need};
    lan->pev_len++;
    return 0;
}

/* A worker connected: everything held goes to it, in order, and the clients
 * whose events were held stick to it (their routes are ROUTE_PENDING). */
static void pending_flush_to(struct lan *lan, struct lan_link *l)
{
    pending_expire(lan);
    if (!lan->pev_len)
        return;
    size_t n = lan->pev_len, bytes = buf_avail(&lan->pending);
    if (stream_write(&l->s, buf_head(&lan->pending), bytes) < 0)
        return;
    /* Only a worker that took held events becomes their clients' owner: a
     * later worker with nothing to take must not steal them (their next
     * events would run on another process than the held ones). */
    lan->pending_owner = l->id;
    buf_free(&lan->pending);
    lan->pev_head = lan->pev_len = 0;
    log_info("delivered %zu held client events (%zu bytes) to worker %s", n, bytes, l->worker_key);
}

/* WORKER_CONNECT / GATEWAY_CLIENT_CONNECT (§3.4): JSON body with the key. */
static int link_auth(struct lan_link *l, const struct gwp_frame *f)
{
    struct lan *lan = l->lan;
    const char *want = lan->gw->cfg->secretKey;
    const char *what = f->hdr.cmd == GWP_CMD_WORKER_CONNECT ? "WORKER_CONNECT" : "GATEWAY_CLIENT_CONNECT";
    int first;
    int64_t wait = authguard_check(&lan->guard, l->ip, loop_now_ms(), &first);
    if (wait > 0) {
        /* Refused unseen: the key is not even compared, so a guesser gets one
         * try per block however many connections it opens. */
        if (first)
            log_warn("internal link %s:%u: %s refused: too many wrong secret keys from %s, next try allowed in "
                     "%lld ms (refusals until then are not logged); closing",
                     l->ip, l->port, what, l->ip, (long long)wait);
        return -1;
    }
    json_error_t jerr;
    json_t *j = json_loadb((const char *)f->body, f->body_len, 0, &jerr);
    json_t *key = j ? json_object_get(j, "secret_key") : NULL;
    int ok = key && json_is_string(key) &&
             secret_equal(json_string_value(key), json_string_length(key), want, strlen(want));
    if (!j || !json_is_object(j))
        ok = 0;
    if (!ok && want[0] == 0 && j && json_is_object(j) && !key)
        ok = 1; /* PHP: absent key compares equal to an empty configured key */
    if (!ok) {
        int64_t block;
        uint32_t n = authguard_fail(&lan->guard, l->ip, loop_now_ms(), &block);
        if (block)
            log_warn("internal link %s:%u: %s with a wrong secret key (%u in a row from %s: blocked for %lld ms); "
                     "closing", l->ip, l->port, what, n, l->ip, (long long)block);
        else
            log_warn("internal link %s:%u: %s with a wrong secret key (%u in a row from %s); closing", l->ip,
                     l->port, what, n, l->ip);
        json_decref(j);
        return -1;
    }
    authguard_ok(&lan->guard, l->ip);
    l->authed = 1;
    if (f->hdr.cmd == GWP_CMD_WORKER_CONNECT && !l->worker_key) {
        json_t *wk = json_object_get(j, "worker_key");
        const char *wks = json_is_string(wk) ? json_string_value(wk) : "";
        size_t n = strlen(l->ip) + strlen(wks) + 2;
        char *k = malloc(n);
        if (!k) {
            json_decref(j);
            return -1;
        }
        snprintf(k, n, "%s:%s", l->ip, wks);
        struct lan_link *old = find_worker_key(lan, k);
        if (old) {
            /* Same worker reconnected: the old link goes, the new one takes its place. */
            log_info("worker %s reconnected from %s:%u; closing its old link", k, l->ip, l->port);
            old->closing = 1;
            free(old->worker_key);
            old->worker_key = NULL;
            lan->nworkers--;
            stream_close_after_flush(&old->s);
        }
        l->worker_key = k;
        lan->nworkers++;
        log_info("business worker %s connected from %s:%u", k, l->ip, l->port);
        pending_flush_to(lan, l);
    }
    json_decref(j);
    return 0;
}

static void link_frame(struct lan_link *l, const struct gwp_frame *f)
{
    struct lan *lan = l->lan;
    uint8_t cmd = f->hdr.cmd;
    if (cmd == GWP_CMD_WORKER_CONNECT || cmd == GWP_CMD_GATEWAY_CLIENT_CONNECT) {
        if (link_auth(l, f) < 0)
            link_kill(l, NULL);
        return;
    }
    if (!l->authed) {
        log_warn("Unauthorized request from %s:%u (cmd %u before WORKER_CONNECT/GATEWAY_CLIENT_CONNECT); closing",
                 l->ip, l->port, cmd);
        link_kill(l, NULL);
        return;
    }
    size_t before = buf_avail(&l->s.out);
    if (gws_exec(lan->gw->state, f, &l->s.out) < 0)
        log_warn("gateway inner pack err cmd=%u from %s:%u (ignored)", cmd, l->ip, l->port);
    if (buf_avail(&l->s.out) != before)
        stream_queued(&l->s);
}

static ssize_t link_on_data(struct stream *s, const uint8_t *p, size_t n)
{
    struct lan_link *l = (struct lan_link *)s;
    if (l->closing)
        return 0;
    struct gwp_frame f;
    size_t used;
    char err[160];
    /* maxPackageSize bounds a client's message; the command carrying one
     * back (an echo) adds its header and ext_data, so the link allows more. */
    int rc = gwp_decode(p, n, (uint32_t)l->lan->gw->cfg->maxPackageSize + LAN_FRAME_SLACK, &f, &used, err, sizeof err);
    if (rc == GWP_NEED_MORE)
        return 0;
    if (rc == GWP_ERROR) {
        log_warn("internal link %s:%u: protocol error: %s; closing", l->ip, l->port, err);
        link_kill(l, NULL);
        return -1;
    }
    link_frame(l, &f);
    return (ssize_t)used;
}

static void link_on_close(struct stream *s, const char *why)
{
    struct lan_link *l = (struct lan_link *)s;
    link_kill(l, why == stream_eof ? "peer closed" : why);
}

static void link_on_free(struct stream *s)
{
    struct lan_link *l = (struct lan_link *)s;
    free(l->worker_key);
    free(l);
}

/* Reads are not served in the order libev reports them (newest watcher
 * first) but once per iteration in accept order: a GatewayClient opens one
 * connection per call, and bindUid() then sendToUid() on two connections
 * must take effect in that order, as they do with PHP's gateway. */
static void mark_ready(struct lan_link *l)
{
    struct lan *lan = l->lan;
    if (l->ready)
        return;
    if (lan->nready == lan->ready_cap) {
        size_t cap = lan->ready_cap ? lan->ready_cap * 2 : 64;
        struct lan_link **r = realloc(lan->ready, cap * sizeof *r);
        if (!r) {
            stream_read(&l->s); /* out of memory: serve it now rather than never */
            return;
        }
        lan->ready = r;
        lan->ready_cap = cap;
    }
    l->ready = 1;
    lan->ready[lan->nready++] = l;
}

static int by_accept_order(const void *a, const void *b)
{
    const struct lan_link *x = *(struct lan_link *const *)a, *y = *(struct lan_link *const *)b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The first before-sleep hook: frames read here queue their replies before
 * the streams are flushed. */
static void serve_ready(struct loop *loop, void *data)
{
    (void)loop;
    struct lan *lan = data;
    if (lan->nready > 1)
        qsort(lan->ready, lan->nready, sizeof *lan->ready, by_accept_order);
    for (size_t i = 0; i < lan->nready; i++) {
        struct lan_link *l = lan->ready[i];
        l->ready = 0;
        if (!l->dead)
            stream_read(&l->s);
    }
    lan->nready = 0;
}

static void link_on_readable(struct stream *s) { mark_ready((struct lan_link *)s); }

static const struct stream_ops lan_link_ops = {
    .on_data = link_on_data,
    .on_readable = link_on_readable,
    .on_close = link_on_close,
    .on_free = link_on_free,
    .read_chunk = LAN_READ_CHUNK,
    .reads_per_wake = 16,
};

static void on_accept(struct loop *loop, int lfd, unsigned events, void *data)
{
    (void)lfd;
    (void)events;
    struct lan *lan = data;
    for (int i = 0; i < 64; i++) {
        char ip[48];
        uint16_t port;
        int fd = sock_accept(lan->lfd, ip, sizeof ip, &port);
        if (fd < 0)
            return;
        struct lan_link *l = calloc(1, sizeof *l);
        if (!l) {
            close(fd);
            continue;
        }
        sock_keepalive(fd);
        stream_init(&l->s, loop, &lan_link_ops);
        if (stream_attach(&l->s, fd) < 0) {
            free(l);
            continue;
        }
        l->lan = lan;
        l->id = ++lan->next_id ? lan->next_id : ++lan->next_id;
        snprintf(l->ip, sizeof l->ip, "%s", ip);
        l->port = port;
        /* Without a key every link is authorised from the start (§3.4). */
        l->authed = lan->gw->cfg->secretKey[0] == 0;
        l->next = lan->links;
        if (lan->links)
            lan->links->prev = l;
        lan->links = l;
        lan->nlinks++;
        mark_ready(l); /* its first frames may already be waiting */
    }
}

static void on_ping(struct loop *loop, void *data)
{
    (void)loop;
    struct lan *lan = data;
    uint8_t ping[GWP_HEADER_LEN];
    struct gwp_header h = {.pack_len = GWP_HEADER_LEN, .cmd = GWP_CMD_PING, .flag = GWP_FLAG_BODY_IS_SCALAR};
    gwp_header_pack(ping, &h);
    for (struct lan_link *l = lan->links; l; l = l->next)
        if (l->worker_key && !l->closing)
            stream_write(&l->s, ping, sizeof ping);
}

struct lan *lan_new(struct gateway *gw, int listen_fd)
{
    struct lan *lan = calloc(1, sizeof *lan);
    if (!lan)
        return NULL;
    lan->gw = gw;
    lan->lfd = listen_fd;
    struct loop *loop = gw->ioloop;
    /* PHP pings worker links only when lanIp is not the literal 127.0.0.1 (§3.9). */
    if (loop_add(loop, listen_fd, LOOP_READ, on_accept, lan) < 0 || loop_set_before_sleep(loop, serve_ready, lan) < 0 ||
        loop_every(loop, 1000, on_pending_timer, lan) < 0 ||
        (strcmp(gw->cfg->lanIp, "127.0.0.1") != 0 && loop_every(loop, LAN_PING_MS, on_ping, lan) < 0)) {
        loop_del(loop, listen_fd);
        free(lan);
        return NULL;
    }
    return lan;
}

void lan_free(struct lan *lan)
{
    if (!lan)
        return;
    while (lan->links)
        link_kill(lan->links, NULL);
    lan->nready = 0;
    loop_run_jobs(lan->gw->ioloop); /* the links' deferred frees */
    loop_del(lan->gw->ioloop, lan->lfd);
    free(lan->ready);
    buf_free(&lan->pending);
    free(lan->pev);
    close(lan->lfd);
    free(lan);
}

static struct lan_link *link_by_id(struct lan *lan, uint32_t id)
{
    for (struct lan_link *l = lan->links; l; l = l->next)
        if (l->id == id && l->worker_key && !l->closing)
            return l;
    return NULL;
}

/* Sticky routing (§7): a client's first event picks a worker by the
 * configured rule, later ones follow it while it lives. */
static struct lan_link *route_pick(struct lan *lan, lan_route *route, uint32_t conn_id)
{
    if (*route == ROUTE_PENDING) {
        struct lan_link *l = link_by_id(lan, lan->pending_owner);
        if (l) {
            l->bound_clients++;
            *route = l->id;
            return l;
        }
        *route = 0;
    } else if (*route) {
        struct lan_link *l = link_by_id(lan, *route);
        if (l)
            return l;
        *route = 0; /* its worker left: pick again */
    }
    if (lan->nworkers == 0)
        return NULL;
    struct lan_link *best = NULL;
    const char *mode = lan->gw->cfg->router;
    if (strcmp(mode, "leastConnections") == 0) {
        /* Ties go to the worker that connected first: links are kept newest
         * first, so the last minimum found wins. */
        for (struct lan_link *l = lan->links; l; l = l->next)
            if (l->worker_key && !l->closing && (!best || l->bound_clients <= best->bound_clients))
                best = l;
    } else {
        size_t want = strcmp(mode, "client") == 0 ? conn_id % lan->nworkers : (size_t)random() % lan->nworkers;
        for (struct lan_link *l = lan->links; l && !best; l = l->next)
            if (l->worker_key && !l->closing && want-- == 0)
                best = l;
    }
    if (best) {
        best->bound_clients++;
        *route = best->id;
    }
    return best;
}

void lan_route_release(struct lan *lan, lan_route *route)
{
    if (!*route || *route == ROUTE_PENDING) {
        *route = 0;
        return;
    }
    for (struct lan_link *l = lan->links; l; l = l->next)
        if (l->id == *route) {
            if (l->bound_clients)
                l->bound_clients--;
            break;
        }
    *route = 0;
}

int lan_send_event(struct lan *lan, lan_route *route, uint8_t cmd, const struct gwp_header *hdr, uint8_t flag,
                   const void *ext, size_t ext_len, const void *body, size_t body_len)
{
    struct gwp_header h = *hdr;
    h.cmd = cmd;
    h.flag = flag;
    struct lan_link *l = route_pick(lan, route, hdr->connection_id);
    const char *why = NULL;
    if (!l) {
        if (lan->gw->cfg->pendingTimeout > 0 && pending_push(lan, &h, ext, ext_len, body, body_len) == 0) {
            *route = ROUTE_PENDING;
            return 0;
        }
        lan->pending_overflow++;
        why = lan->gw->cfg->pendingTimeout > 0 ? "no business worker is connected and the held-event queue is full"
                                               : "no business worker is connected";
    } else if (buf_avail(&l->s.out) + GWP_HEADER_LEN + ext_len + body_len >
               (size_t)lan->gw->cfg->sendToWorkerBufferSize) {
        why = "the worker's send buffer is full";
    }
    if (why) {
        lan->dropped++;
        int64_t now = loop_now_ms() / 1000;
        if (now != lan->last_drop_log) {
            lan->last_drop_log = now;
            log_warn("SendBufferToWorker fail: %s (%llu events dropped so far)", why, (unsigned long long)lan->dropped);
        }
        return -1;
    }
    if (gwp_encode(&l->s.out, &h, ext, ext_len, body, body_len) < 0)
        return -1;
    stream_queued(&l->s);
    return 0;
}

size_t lan_pending_count(const struct lan *lan) { return lan->pev_len; }

size_t lan_worker_count(const struct lan *lan) { return lan->nworkers; }
size_t lan_link_count(const struct lan *lan) { return lan->nlinks; }
uint64_t lan_dropped_events(const struct lan *lan) { return lan->dropped; }
