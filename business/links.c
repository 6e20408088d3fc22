#include "links.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bw.h"
#include "events.h"
#include "log.h"
#include "loop.h"
#include "netaddr.h"
#include "sock.h"

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

struct links {
    struct bw *bw;
    struct link **v;
    size_t n, cap;
    struct link **dirty;
    size_t ndirty, dirty_cap;
};

static void on_link_io(struct loop *loop, int fd, unsigned events, void *data);

static void link_arm(struct link *l, unsigned events)
{
    if (l->fd < 0 || l->armed == events)
        return;
    if (loop_mod(l->owner->bw->loop, l->fd, events) == 0)
        l->armed = events;
}

/* Closes the connection (not the struct): queued output is discarded; the
 * input buffer is left to the dispatch loop that may be reading it. */
static void link_close(struct link *l, const char *why)
{
    if (l->fd < 0)
        return;
    int64_t now = loop_now_ms();
    if (l->state == LINK_UP && l->up_since && now - l->up_since >= STABLE_MS)
        l->backoff_ms = 0;
    l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 : BACKOFF_FIRST_MS;
    if (l->backoff_ms > BACKOFF_MAX_MS)
        l->backoff_ms = BACKOFF_MAX_MS;
    if (l->state == LINK_UP)
        log_warn("gateway %s: link lost (%s); reconnecting in %u ms", l->addr, why, l->backoff_ms);
    else if (l->backoff_ms == BACKOFF_FIRST_MS || !l->ever_up)
        log_info("gateway %s: cannot connect (%s); retrying in %u ms", l->addr, why, l->backoff_ms);
    loop_del(l->owner->bw->loop, l->fd);
    close(l->fd);
    l->fd = -1;
    l->armed = 0;
    l->gen++;
    l->state = LINK_IDLE;
    l->up_since = 0;
    l->retry_at = now + l->backoff_ms;
    buf_free(&l->out);
}

static int build_worker_connect(struct link *l)
{
    const struct bw *bw = l->owner->bw;
    json_t *o = json_pack("{s:s, s:s}", "worker_key", bw->worker_key, "secret_key", bw->cfg->secretKey);
    if (!o)
        return -ENOMEM;
    /* PHP's json_encode escapes '/': keep the same bytes for the same input. */
    char *s = json_dumps(o, JSON_COMPACT | JSON_ESCAPE_SLASH);
    json_decref(o);
    if (!s)
        return -ENOMEM;
    struct gwp_header h = {.cmd = GWP_CMD_WORKER_CONNECT, .flag = GWP_FLAG_BODY_IS_SCALAR};
    int r = gwp_encode(&l->out, &h, NULL, 0, s, strlen(s));
    free(s);
    return r;
}

static void link_connect(struct link *l)
{
    struct links *ls = l->owner;
    buf_free(&l->in);
    buf_free(&l->out);
    char ip[16];
    netaddr_format_ipv4(l->ip, ip);
    l->fd = sock_connect(ip, l->port);
    if (l->fd < 0) {
        int e = errno;
        l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 : BACKOFF_FIRST_MS;
        if (l->backoff_ms > BACKOFF_MAX_MS)
            l->backoff_ms = BACKOFF_MAX_MS;
        l->state = LINK_IDLE;
        l->retry_at = loop_now_ms() + l->backoff_ms;
        log_warn("gateway %s: connect: %s", l->addr, strerror(e));
        return;
    }
    sock_keepalive(l->fd);
    l->state = LINK_CONNECTING;
    /* Queued before the connect completes, as PHP does: the first frame. */
    if (build_worker_connect(l) < 0 || loop_add(ls->bw->loop, l->fd, LOOP_READ | LOOP_WRITE, on_link_io, l) < 0) {
        int fd = l->fd;
        l->fd = -1;
        close(fd);
        l->state = LINK_IDLE;
        l->retry_at = loop_now_ms() + BACKOFF_MAX_MS;
        log_error("gateway %s: cannot set up the link", l->addr);
        return;
    }
    l->armed = LOOP_READ | LOOP_WRITE;
}

static void mark_dirty(struct link *l)
{
    struct links *ls = l->owner;
    if (l->dirty)
        return;
    if (ls->ndirty == ls->dirty_cap) {
        size_t cap = ls->dirty_cap ? ls->dirty_cap * 2 : 8;
        struct link **d = realloc(ls->dirty, cap * sizeof *d);
        if (!d)
            return; /* written on its next WRITE event or flush of another kind */
        ls->dirty = d;
        ls->dirty_cap = cap;
    }
    ls->dirty[ls->ndirty++] = l;
    l->dirty = 1;
}

/* Writes as much as the socket takes; arms WRITE for the rest. */
static void link_write(struct link *l)
{
    if (l->state != LINK_UP)
        return;
    int err = sock_flush(l->fd, &l->out);
    if (err < 0) {
        link_close(l, strerror(-err));
        return;
    }
    link_arm(l, LOOP_READ | (buf_avail(&l->out) ? LOOP_WRITE : 0));
}

static void link_read(struct link *l)
{
    unsigned gen = l->gen;
    struct bw *bw = l->owner->bw;
    for (int i = 0; i < READS_PER_WAKE; i++) {
        uint8_t *p = buf_reserve(&l->in, READ_CHUNK);
        if (!p) {
            link_close(l, "out of memory");
            return;
        }
        ssize_t r = read(l->fd, p, READ_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            break;
        if (r <= 0) {
            link_close(l, r == 0 ? "closed by the gateway" : strerror(errno));
            break;
        }
        buf_commit(&l->in, (size_t)r);
        if ((size_t)r < READ_CHUNK)
            break;
    }
    /* Frames read before a close are still handled: they happened. */
    while (buf_avail(&l->in) > 0) {
        struct gwp_frame f;
        size_t used;
        char err[160];
        int r = gwp_decode(buf_head(&l->in), buf_avail(&l->in), GWP_DEFAULT_MAX_PACK_LEN, &f, &used, err,
                           sizeof err);
        if (r == GWP_NEED_MORE)
            break;
        if (r == GWP_ERROR) {
            log_error("gateway %s: protocol error: %s", l->addr, err);
            link_close(l, "protocol error");
            buf_free(&l->in);
            return;
        }
        events_dispatch(bw, l, &f);
        buf_consume(&l->in, used);
        if (l->gen != gen && l->fd >= 0)
            return; /* reconnected meanwhile (cannot happen today): old bytes are gone */
    }
    if (l->fd < 0)
        buf_free(&l->in);
}

static void on_link_io(struct loop *loop, int fd, unsigned events, void *data)
{
    (void)loop;
    (void)fd;
    struct link *l = data;
    if (l->state == LINK_CONNECTING && (events & LOOP_WRITE)) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            link_close(l, strerror(err));
            return;
        }
        l->state = LINK_UP;
        l->ever_up = 1;
        l->up_since = loop_now_ms();
        log_info("gateway %s: link up (worker_key %s)", l->addr, l->owner->bw->worker_key);
    }
    if (events & LOOP_READ) {
        link_read(l);
        if (l->fd < 0)
            return;
    }
    if (l->state == LINK_UP)
        link_write(l);
}

struct links *links_new(struct bw *bw)
{
    struct links *ls = calloc(1, sizeof *ls);
    if (ls)
        ls->bw = bw;
    return ls;
}

static void link_free(struct link *l)
{
    if (l->fd >= 0) {
        loop_del(l->owner->bw->loop, l->fd);
        close(l->fd);
    }
    buf_free(&l->in);
    buf_free(&l->out);
    free(l);
}

void links_free(struct links *ls)
{
    if (!ls)
        return;
    links_flush(ls);
    for (size_t i = 0; i < ls->n; i++)
        link_free(ls->v[i]);
    free(ls->v);
    free(ls->dirty);
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
            l->owner = ls;
            snprintf(l->addr, sizeof l->addr, "%s", addrs[i]);
            l->ip = ip;
            l->port = hp.port;
            l->fd = -1;
            ls->v[ls->n++] = l;
            log_info("gateway %s: listed by the register; connecting", l->addr);
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
            if (l->dirty) {
                for (size_t j = 0; j < ls->ndirty; j++)
                    if (ls->dirty[j] == l)
                        ls->dirty[j] = ls->dirty[--ls->ndirty];
            }
            link_free(l);
            ls->v[i] = ls->v[--ls->n];
            continue;
        }
        if (l->state == LINK_IDLE && l->in_set && now >= l->retry_at)
            link_connect(l);
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
        return -ENOBUFS;
    }
    int r = gwp_encode(&l->out, h, ext, ext_len, body, body_len);
    if (r < 0)
        return r == -EOVERFLOW ? -EINVAL : r;
    mark_dirty(l);
    return 0;
}

void links_flush(struct links *ls)
{
    /* link_write may close a link, which never touches the dirty list. */
    for (size_t i = 0; i < ls->ndirty; i++) {
        struct link *l = ls->dirty[i];
        l->dirty = 0;
        if (l->fd >= 0)
            link_write(l);
    }
    ls->ndirty = 0;
}
