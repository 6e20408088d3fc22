#include "links.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bw.h"
#include "events.h"
#include "log.h"
#include "loop.h"
#include "netaddr.h"

#define BACKOFF_FIRST_MS 1000u
#define BACKOFF_MAX_MS 5000u
/* A link that stayed up this long starts its backoff from the beginning. */
#define STABLE_MS 2000
/* An address missing from every register's list is dropped after this. */
#define ABSENT_GRACE_MS 5000
/* Bytes read per read(): many frames per system call under load. */
#define READ_CHUNK 65536
/* Reads per wake-up and link, so one busy gateway cannot starve the others. */
#define READS_PER_WAKE 16

/* links.h names the stream's first members; they must be the same bytes. */
_Static_assert(offsetof(struct link, fd) == offsetof(struct link, io) + offsetof(struct stream, fd) &&
                   offsetof(struct link, in) == offsetof(struct link, io) + offsetof(struct stream, in) &&
                   offsetof(struct link, out) == offsetof(struct link, io) + offsetof(struct stream, out),
               "struct link's fd/in/out alias its stream's");

struct links {
    struct bw *bw;
    struct link **v;
    size_t n, cap;
};

static struct link *link_of(struct stream *s) { return (struct link *)((char *)s - offsetof(struct link, io)); }

static ssize_t link_on_data(struct stream *s, const uint8_t *p, size_t n)
{
    struct link *l = link_of(s);
    struct gwp_frame f;
    size_t used;
    char err[160];
    int r = gwp_decode(p, n, GWP_DEFAULT_MAX_PACK_LEN, &f, &used, err, sizeof err);
    if (r == GWP_NEED_MORE)
        return 0;
    if (r == GWP_ERROR) {
        log_error("gateway %s: protocol error: %s", l->addr, err);
        return -1;
    }
    events_dispatch(l->owner->bw, l, &f);
    return (ssize_t)used;
}

/* WORKER_CONNECT is the first frame of every connection, queued before the
 * connect completes (as PHP does), so pushes queued meanwhile follow it. */
static void link_on_connecting(struct stream *s)
{
    struct link *l = link_of(s);
    const struct bw *bw = l->owner->bw;
    l->state = LINK_CONNECTING;
    json_t *o = json_pack("{s:s, s:s}", "worker_key", bw->worker_key, "secret_key", bw->cfg->secretKey);
    /* PHP's json_encode escapes '/': keep the same bytes for the same input. */
    char *js = o ? json_dumps(o, JSON_COMPACT | JSON_ESCAPE_SLASH) : NULL;
    json_decref(o);
    struct gwp_header h = {.cmd = GWP_CMD_WORKER_CONNECT, .flag = GWP_FLAG_BODY_IS_SCALAR};
    if (!js || gwp_encode(&s->out, &h, NULL, 0, js, strlen(js)) < 0) {
        log_error("gateway %s: cannot build WORKER_CONNECT; closing", l->addr);
        stream_close(s);
        l->state = LINK_IDLE;
    }
    free(js);
}

static void link_on_connect(struct stream *s)
{
    struct link *l = link_of(s);
    l->state = LINK_UP;
    l->ever_up = 1;
    log_info("gateway %s: link up (worker_key %s)", l->addr, l->owner->bw->worker_key);
}

static void link_on_close(struct stream *s, const char *why)
{
    struct link *l = link_of(s);
    unsigned ms = stream_retry_ms(s);
    if (why == stream_eof)
        why = "closed by the gateway";
    if (l->state == LINK_UP)
        log_warn("gateway %s: link lost (%s); reconnecting in %u ms", l->addr, why, ms);
    else if (ms == BACKOFF_FIRST_MS || !l->ever_up)
        log_info("gateway %s: cannot connect (%s); retrying in %u ms", l->addr, why, ms);
    l->state = LINK_IDLE;
}

static void link_on_free(struct stream *s) { free(link_of(s)); }

/* Reconnect only while some register lists the address. */
static int link_may_reconnect(struct stream *s) { return link_of(s)->in_set; }

static const struct stream_ops link_ops = {
    .on_data = link_on_data,
    .on_connecting = link_on_connecting,
    .on_connect = link_on_connect,
    .on_close = link_on_close,
    .on_free = link_on_free,
    .may_reconnect = link_may_reconnect,
    .read_chunk = READ_CHUNK,
    .reads_per_wake = READS_PER_WAKE,
    .backoff_first_ms = BACKOFF_FIRST_MS,
    .backoff_max_ms = BACKOFF_MAX_MS,
    .stable_ms = STABLE_MS,
};

static void link_connect(struct link *l)
{
    char ip[16];
    netaddr_format_ipv4(l->ip, ip);
    int r = stream_connect(&l->io, ip, l->port);
    if (r < 0) {
        l->state = LINK_IDLE;
        log_warn("gateway %s: connect: %s", l->addr, strerror(-r));
    }
}

struct links *links_new(struct bw *bw)
{
    struct links *ls = calloc(1, sizeof *ls);
    if (ls)
        ls->bw = bw;
    return ls;
}

void links_free(struct links *ls)
{
    if (!ls)
        return;
    /* What the last callbacks queued, and the deferred frees. */
    loop_run_jobs(ls->bw->loop);
    for (size_t i = 0; i < ls->n; i++) {
        stream_destroy(&ls->v[i]->io);
        free(ls->v[i]);
    }
    free(ls->v);
    free(ls);
}

static struct link *find_addr(struct links *ls, const char *addr)
{
    for (size_t i = 0; i < ls->n; i++)
        if (strcmp(ls->v[i]->addr, addr) == 0)
            return ls->v[i];
    return NULL;
}

void links_set_addresses(struct links *ls, char *const *addrs, size_t n)
{
    int64_t now = loop_now_ms();
    for (size_t i = 0; i < ls->n; i++)
        ls->v[i]->in_set = 0;
    for (size_t i = 0; i < n; i++) {
        struct link *l = find_addr(ls, addrs[i]);
        if (!l) {
            struct netaddr_hostport hp;
            uint32_t ip;
            if (strlen(addrs[i]) >= sizeof l->addr || netaddr_parse_hostport(addrs[i], strlen(addrs[i]), &hp) < 0 ||
                !netaddr_parse_ipv4(hp.host, strlen(hp.host), &ip)) {
                log_warn("register listed '%s', which is not a dotted-quad ip:port; ignored", addrs[i]);
                continue;
            }
            if (ls->n == ls->cap) {
                size_t cap = ls->cap ? ls->cap * 2 : 8;
                struct link **v = realloc(ls->v, cap * sizeof *v);
                if (!v)
                    continue;
                ls->v = v;
                ls->cap = cap;
            }
            l = calloc(1, sizeof *l);
            if (!l)
                continue;
            stream_init(&l->io, ls->bw->loop, &link_ops);
            l->owner = ls;
            snprintf(l->addr, sizeof l->addr, "%s", addrs[i]);
            l->ip = ip;
            l->port = hp.port;
            l->in_set = 1;
            ls->v[ls->n++] = l;
            log_info("gateway %s: listed by the register; connecting", l->addr);
            link_connect(l);
        } else if (!l->in_set && stream_state(&l->io) == STREAM_IDLE && !stream_retry_pending(&l->io)) {
            /* Listed again after its reconnect was skipped while absent. */
            link_connect(l);
        }
        l->in_set = 1;
        l->absent_since = 0;
    }
    for (size_t i = 0; i < ls->n; i++)
        if (!ls->v[i]->in_set && !ls->v[i]->absent_since)
            ls->v[i]->absent_since = now;
}

void links_tick(struct links *ls, int64_t now)
{
    for (size_t i = 0; i < ls->n;) {
        struct link *l = ls->v[i];
        if (!l->in_set && l->absent_since && now - l->absent_since >= ABSENT_GRACE_MS) {
            log_info("gateway %s: no longer listed by any register; link closed", l->addr);
            stream_free(&l->io); /* freed before the loop sleeps */
            ls->v[i] = ls->v[--ls->n];
            continue;
        }
        i++;
    }
}

struct link *links_find(struct links *ls, uint32_t ip, uint16_t port)
{
    for (size_t i = 0; i < ls->n; i++)
        if (ls->v[i]->ip == ip && ls->v[i]->port == port)
            return ls->v[i];
    return NULL;
}

size_t links_count(const struct links *ls) { return ls->n; }
struct link *links_at(struct links *ls, size_t i) { return i < ls->n ? ls->v[i] : NULL; }

size_t links_up(const struct links *ls)
{
    size_t k = 0;
    for (size_t i = 0; i < ls->n; i++)
        k += ls->v[i]->state == LINK_UP;
    return k;
}

int link_usable(const struct link *l) { return l && l->fd >= 0; }

int link_send(struct link *l, const struct gwp_header *h, const void *ext, size_t ext_len, const void *body,
              size_t body_len)
{
    if (!link_usable(l))
        return -ENOTCONN;
    size_t limit = (size_t)l->owner->bw->cfg->sendToGatewayBufferSize;
    if (buf_avail(&l->out) + GWP_HEADER_LEN + ext_len + body_len > limit) {
        log_warn("gateway %s: send buffer full (%zu bytes queued); command %u dropped", l->addr, buf_avail(&l->out),
                 h->cmd);
        l->owner->bw->commands_dropped++;
        return -ENOBUFS;
    }
    int r = gwp_encode(&l->out, h, ext, ext_len, body, body_len);
    if (r < 0)
        return r == -EOVERFLOW ? -EINVAL : r;
    stream_queued(&l->io);
    l->owner->bw->commands_out++;
    return 0;
}

size_t links_queued_bytes(const struct links *ls)
{
    size_t n = 0;
    for (size_t i = 0; i < ls->n; i++)
        n += buf_avail(&ls->v[i]->out);
    return n;
}

void links_flush(struct links *ls)
{
    /* stream_flush may close a link (its struct stays). */
    for (size_t i = 0; i < ls->n; i++)
        stream_flush(&ls->v[i]->io);
}
