/* gwclient: the business API (api.c, api_*.c, query.c) outside a business
 * worker.
 *
 * Every call of the API reaches the gateways through its transport table
 * (struct api_transport, api.h): inside the business binary api_worker.c
 * binds the persistent WORKER_CONNECT links of links.c, driven by an epoll
 * loop. Here gwc_init binds the GatewayClient transport (connection per
 * push, list from the register), so the API's routing, JSON building,
 * fan-out and reply merging serve both unchanged. This file is never linked
 * into build/business (it lives in a subfolder the role's wildcard does not
 * see), and links.c / events.c / api_worker.c never into libgwclient.a.
 *
 * Link objects: the addresses the register ever listed form an append-only
 * array (`set`), each flagged in_set when the latest list names it. Indexes
 * never move, so a list fetched in the middle of the API's `for (i <
 * count())` loop (a slow connect can outlast the 1 s cache) neither skips
 * nor repeats a gateway. Per-client calls to an address the register does
 * not list get a separate `adhoc` link: PHP sends those without consulting
 * the register, and they must not join broadcasts. usable() is
 * "state == LINK_UP": listed set links and adhoc links. */
#include "gwclient.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "buf.h"
#include "bw.h"
#include "clientid.h"
#include "config.h"
#include "gwp.h"
#include "links.h"
#include "loop.h"
#include "netaddr.h"
#include "query.h"
#include "regmsg.h"
#include "sock.h"

#define CONNECT_TIMEOUT_MS 3000 /* Gateway::$connectTimeout */
#define IO_TIMEOUT_MS 5000      /* the register's line; a push's write */
#define LIST_CACHE_MS 1000      /* GatewayClient re-reads the list after 1 s */
#define MAX_REGISTER_LINE 655350 /* PHP: fgets($client, 655350) */

struct links {
    struct link **set;
    size_t nset;
    struct link **adhoc;
    size_t nadhoc;
};

static struct {
    int ready;
    struct business_cfg cfg; /* only secretKey is read (by query.c) */
    struct bw bw;            /* what api.c and query.c are bound to */
    struct links links;
    struct netaddr_hostport regs[CFG_MAX_ADDRS];
    int nregs;
    int fetched;             /* a fetch was tried at fetched_at */
    int64_t fetched_at;
    char error[1024];
    struct gw_query_info pushes;
    char push_missing[16][32]; /* struct link.addr's size */
} G;

/* ---- blocking I/O with deadlines ---- */

/* Waits until fd is ready for `events` or the monotonic deadline passes.
 * 0, -ETIMEDOUT, or -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - loop_now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)left);
        if (r > 0)
            return 0;
        if (r == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

/* A connected (non-blocking) socket to host:port within CONNECT_TIMEOUT_MS,
 * or -errno. */
static int open_conn(const char *host, uint16_t port)
{
    int fd = sock_connect(host, port);
    if (fd < 0)
        return errno ? -errno : -ECONNREFUSED;
    int r = wait_fd(fd, POLLOUT, loop_now_ms() + CONNECT_TIMEOUT_MS);
    if (r == 0) {
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
            err = errno;
        r = err ? -err : 0;
    }
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

static int write_all(int fd, const uint8_t *p, size_t n, int64_t deadline)
{
    while (n > 0) {
        /* MSG_NOSIGNAL: a gateway that closed on us must not kill the caller with SIGPIPE. */
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            int r = wait_fd(fd, POLLOUT, deadline);
            if (r < 0)
                return r;
            continue;
        }
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- the gateway list ---- */

static struct link *link_new(uint32_t ip, uint16_t port)
{
    struct link *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->ip = ip;
    l->port = port;
    l->fd = -1;
    clientid_gateway_address(ip, port, l->addr, sizeof l->addr);
    return l;
}

static struct link *find_in(struct link **v, size_t n, uint32_t ip, uint16_t port)
{
    for (size_t i = 0; i < n; i++)
        if (v[i]->ip == ip && v[i]->port == port)
            return v[i];
    return NULL;
}

/* Makes addrs[0..n) the listed set: known links are re-flagged, new ones
 * appended (indexes never move, see the top of the file). Addresses that
 * are not a canonical "a.b.c.d:port" cannot match any client_id (§4.3) and
 * are skipped. 0 or -ENOMEM (the set is then partly updated). */
static int set_list(char *const *addrs, size_t n)
{
    struct links *ls = &G.links;
    for (size_t i = 0; i < ls->nset; i++) {
        ls->set[i]->in_set = 0;
        ls->set[i]->state = LINK_IDLE;
    }
    for (size_t i = 0; i < n; i++) {
        struct netaddr_hostport hp;
        uint32_t ip;
        if (netaddr_parse_hostport(addrs[i], strlen(addrs[i]), &hp) < 0 ||
            !netaddr_parse_ipv4(hp.host, strlen(hp.host), &ip))
            continue;
        struct link *l = find_in(ls->set, ls->nset, ip, hp.port);
        if (!l) {
            struct link **nv = realloc(ls->set, (ls->nset + 1) * sizeof *nv);
            if (!nv)
                return -ENOMEM;
            ls->set = nv;
            if (!(l = link_new(ip, hp.port)))
                return -ENOMEM;
            ls->set[ls->nset++] = l;
        }
        l->in_set = 1;
        l->state = LINK_UP;
    }
    return 0;
}

/* One register: worker_connect, one broadcast_addresses line (§2.4).
 * 0 with the list in *m, or a negative errno with the reason in why. */
static int fetch_from(const struct netaddr_hostport *reg, struct regmsg *m, char *why, size_t cap)
{
    int fd = open_conn(reg->host, reg->port);
    if (fd < 0) {
        snprintf(why, cap, "%s", fd == -ETIMEDOUT ? "connect timed out after 3 s" : strerror(-fd));
        return fd == -ETIMEDOUT ? fd : -ECONNREFUSED;
    }
    struct buf out = BUF_INIT, in = BUF_INIT;
    int r = regmsg_build_worker_connect(&out, G.cfg.secretKey) < 0 ? -ENOMEM : 0;
    int64_t deadline = loop_now_ms() + IO_TIMEOUT_MS;
    if (r == 0 && (r = write_all(fd, buf_head(&out), buf_avail(&out), deadline)) < 0)
        snprintf(why, cap, "cannot send worker_connect: %s", strerror(-r));
    size_t line_len = 0, used = 0;
    while (r == 0) {
        int lr = regmsg_next_line(buf_head(&in), buf_avail(&in), MAX_REGISTER_LINE, &line_len, &used);
        if (lr == REGMSG_OK)
            break;
        if (lr == REGMSG_ERROR) {
            snprintf(why, cap, "sent a line longer than %d bytes", MAX_REGISTER_LINE);
            r = -EPROTO;
            break;
        }
        if ((r = wait_fd(fd, POLLIN, deadline)) < 0) {
            snprintf(why, cap, "%s", r == -ETIMEDOUT ? "no gateway list within 5 s" : strerror(-r));
            break;
        }
        uint8_t *p = buf_reserve(&in, 65536);
        ssize_t rd = p ? read(fd, p, 65536) : -1;
        if (rd < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (rd <= 0) {
            /* A register closes without a word when the key is wrong (§2.3). */
            snprintf(why, cap, "closed the connection without sending the gateway list (wrong secretKey?)");
            r = -EACCES;
            break;
        }
        buf_commit(&in, (size_t)rd);
    }
    close(fd);
    if (r == 0 && regmsg_parse((const char *)buf_head(&in), line_len, m) < 0)
        r = -ENOMEM;
    if (r == 0 && (m->event != REGMSG_BROADCAST_ADDRESSES || !m->addresses_ok)) {
        snprintf(why, cap, "answered something other than broadcast_addresses: %.80s", (const char *)buf_head(&in));
        regmsg_free(m);
        r = -EPROTO;
    }
    buf_free(&out);
    buf_free(&in);
    return r;
}

int gwc_refresh(void)
{
    if (!G.ready)
        return -EINVAL;
    G.fetched = 1;
    G.fetched_at = loop_now_ms();
    G.error[0] = 0;
    /* The worst failure decides the code: a key problem says more than a
     * refused connection to some other register. */
    int worst = -ECONNREFUSED;
    for (int i = 0; i < G.nregs; i++) {
        struct regmsg m;
        char why[256] = "out of memory";
        memset(&m, 0, sizeof m);
        int r = fetch_from(&G.regs[i], &m, why, sizeof why);
        if (r == 0) {
            r = set_list(m.addresses, m.n_addresses);
            regmsg_free(&m);
            if (r == 0) {
                G.error[0] = 0;
                return (int)gwc_gateway_count();
            }
        }
        size_t used = strlen(G.error);
        snprintf(G.error + used, sizeof G.error - used, "%sregister %s:%u: %s", used ? "; " : "", G.regs[i].host,
                 G.regs[i].port, why);
        if (r == -EACCES || (r == -ETIMEDOUT && worst != -EACCES) || (r == -EPROTO && worst == -ECONNREFUSED))
            worst = r;
    }
    set_list(NULL, 0); /* as PHP: no list, no broadcast */
    return worst;
}

const char *gwc_error(void) { return G.error; }

size_t gwc_gateway_count(void)
{
    size_t n = 0;
    for (size_t i = 0; i < G.links.nset; i++)
        n += G.links.set[i]->in_set;
    return n;
}

const char *gwc_gateway_at(size_t i)
{
    for (size_t k = 0; k < G.links.nset; k++)
        if (G.links.set[k]->in_set && i-- == 0)
            return G.links.set[k]->addr;
    return NULL;
}

/* ---- pushes' report ---- */

const struct gw_query_info *gwc_last_pushes(void) { return &G.pushes; }

void gwc_reset_pushes(void) { memset(&G.pushes, 0, sizeof G.pushes); }

static void push_result(const struct link *l, int ok)
{
    G.pushes.asked++;
    if (ok) {
        G.pushes.answered++;
        return;
    }
    if (G.pushes.n_missing < 16) {
        snprintf(G.push_missing[G.pushes.n_missing], sizeof G.push_missing[0], "%s", l->addr);
        G.pushes.missing[G.pushes.n_missing] = G.push_missing[G.pushes.n_missing];
    }
    G.pushes.n_missing++;
}

/* ---- the API's transport, the GatewayClient way ---- */

static struct link *gwc_find(struct links *ls, uint32_t ip, uint16_t port)
{
    struct link *l = find_in(ls->set, ls->nset, ip, port);
    if (l && l->in_set)
        return l;
    if ((l = find_in(ls->adhoc, ls->nadhoc, ip, port)))
        return l;
    struct link **nv = realloc(ls->adhoc, (ls->nadhoc + 1) * sizeof *nv);
    if (!nv)
        return NULL;
    ls->adhoc = nv;
    if (!(l = link_new(ip, port)))
        return NULL;
    l->state = LINK_UP;
    ls->adhoc[ls->nadhoc++] = l;
    return l;
}

/* The one place a broadcast or query starts from: refresh a stale list. */
static size_t gwc_count(const struct links *ls)
{
    if (G.ready && (!G.fetched || loop_now_ms() - G.fetched_at >= LIST_CACHE_MS))
        gwc_refresh();
    return ls->nset;
}

static struct link *gwc_at(struct links *ls, size_t i) { return i < ls->nset ? ls->set[i] : NULL; }

static int gwc_usable(const struct link *l) { return l && l->state == LINK_UP; }

/* GatewayClient's sendToGateway: connect, auth + command in one write, close. */
static int gwc_send(struct link *l, const struct gwp_header *h, const void *ext, size_t ext_len, const void *body,
              size_t body_len)
{
    struct buf out = BUF_INIT;
    int r = query_auth_frame(&out, G.cfg.secretKey);
    if (r == 0)
        r = gwp_encode(&out, h, ext, ext_len, body, body_len);
    if (r < 0) {
        buf_free(&out);
        return r;
    }
    char host[16];
    netaddr_format_ipv4(l->ip, host);
    int fd = open_conn(host, l->port);
    if (fd >= 0) {
        r = write_all(fd, buf_head(&out), buf_avail(&out), loop_now_ms() + IO_TIMEOUT_MS);
        close(fd);
    }
    buf_free(&out);
    push_result(l, fd >= 0 && r == 0);
    return fd >= 0 && r == 0 ? 0 : -ENOTCONN;
}

/* Before a query (inside a worker: queued pushes go first). Nothing is ever
 * queued here; it is the moment to drop idle request connections, since
 * there is no loop tick. */
static void gwc_settle(struct links *ls)
{
    (void)ls;
    if (G.bw.query)
        query_tick(G.bw.query, loop_now_ms());
}

/* No current event outside a worker (ctx.active stays 0): no session_load. */
static const struct api_transport gwc_transport = {
    .find = gwc_find,
    .count = gwc_count,
    .at = gwc_at,
    .usable = gwc_usable,
    .send = gwc_send,
    .settle = gwc_settle,
    .session_load = NULL,
};

/* ---- set-up ---- */

static void free_links(void)
{
    for (size_t i = 0; i < G.links.nset; i++)
        free(G.links.set[i]);
    for (size_t i = 0; i < G.links.nadhoc; i++)
        free(G.links.adhoc[i]);
    free(G.links.set);
    free(G.links.adhoc);
    memset(&G.links, 0, sizeof G.links);
}

void gwc_free(void)
{
    if (!G.ready)
        return;
    api_start(NULL, NULL);
    query_free(G.bw.query);
    free_links();
    free(G.cfg.secretKey);
    memset(&G, 0, sizeof G);
}

int gwc_init(const char *register_address, const char *secret_key, char *err, size_t errlen)
{
    struct netaddr_hostport regs[CFG_MAX_ADDRS];
    char why[160];
    int n = netaddr_parse_list(register_address ? register_address : "", regs, CFG_MAX_ADDRS, why, sizeof why);
    if (n <= 0) {
        snprintf(err, errlen, "registerAddress: %s", n < 0 ? why : "empty");
        return -EINVAL;
    }
    gwc_free();
    G.cfg.secretKey = strdup(secret_key ? secret_key : "");
    G.bw.cfg = &G.cfg;
    G.bw.links = &G.links;
    G.bw.query = query_new(&G.bw);
    if (!G.cfg.secretKey || !G.bw.query) {
        free(G.cfg.secretKey);
        query_free(G.bw.query);
        memset(&G, 0, sizeof G);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    memcpy(G.regs, regs, sizeof regs);
    G.nregs = n;
    G.ready = 1;
    api_start(&G.bw, &gwc_transport);
    return 0;
}
