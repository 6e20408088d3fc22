#include "clients.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "gwp.h"
#include "lan.h"
#include "log.h"
#include "msg.h"
#include "netaddr.h"
#include "sock.h"
#include "preread.h"
#include "proxyproto.h"
#include "state.h"
#include "trust.h"
#include "wsconnect.h"

/* Per-connection state, allocated by lws as the protocol's per-session data.
 * Kept small: an idle client holds no buffers at all. */
struct client {
    struct gws_client *gc;     /* NULL until the handshake is done */
    lan_route route;
    uint32_t client_ip;        /* host order; 0 for IPv6 peers (§3.7) */
    uint16_t client_port;
    uint16_t qhead, qlen, qcap; /* queued messages: qcap 0 = at most one, in q.one */
    union {
        struct gwmsg *one;     /* qcap == 0: the only queued message (or NULL) */
        struct gwmsg **ring;   /* qcap > 0: ring of qcap slots */
    } q;
    uint32_t queued_bytes;
    int32_t silent_ticks;      /* heartbeat counter c of §6.1: -1 after any inbound data */
    unsigned close_after_flush : 1, closing : 1, dirty : 1;
    struct buf *rx;            /* reassembly of a fragmented message: allocated only while one arrives */
};

/* Bytes held for reassembly (0 when none). */
static size_t rx_len(const struct client *c) { return c->rx ? buf_avail(c->rx) : 0; }

static int rx_append(struct client *c, const void *p, size_t n)
{
    if (!c->rx && !(c->rx = calloc(1, sizeof *c->rx)))
        return -1;
    return buf_append(c->rx, p, n);
}

static void rx_free(struct client *c)
{
    if (c->rx) {
        buf_free(c->rx);
        free(c->rx);
        c->rx = NULL;
    }
}

struct clients {
    struct gateway *gw;
    struct lws_context *ctx;
    struct lws_vhost *vh;
    int text;                  /* listen = text://: newline-delimited raw TCP, not WebSocket */
    int lfd;
    ev_io accept_io;
    ev_timer heartbeat;
    struct gwmsg *ping_msg;    /* pingData, framed once and shared */
    size_t nclients;
    uint64_t heartbeat_kills;
    /* Write path (see flush_dirty): clients with queued output since the
     * loop last slept, by connection id (a client may be gone by then). */
    uint32_t *dirty;
    size_t dirty_head, ndirty, dirty_cap; /* FIFO: [dirty_head, ndirty) still to write */
    ev_prepare flush_prep;
    ev_idle flush_more;               /* active while the FIFO is not empty: the loop does not sleep */
    struct gwmsg ***ring_pool;        /* spare QUEUE_RING_MIN-slot rings, linked through slot 0 */
    size_t nring_pool;
    uint8_t *batch;                   /* LWS_PRE + BATCH_MAX: frames of one write, back to back */
    struct lws_protocols *protocols; /* "gateway" + one entry per configured subprotocol, all one callback */
    char *subprotocol_names;
    struct lws_http_mount mounts[2];
    struct trust_list trusted;        /* trustedProxies */
    struct preread *pre;              /* PROXY header / raw request head before lws (NULL: none needed) */
};

static struct clients *owner_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

static void client_hdr(const struct clients *cs, const struct client *c, struct gwp_header *h)
{
    memset(h, 0, sizeof *h);
    h->local_ip = cs->gw->lan_ip;
    h->local_port = cs->gw->lan_port;
    h->client_ip = c->client_ip;
    h->client_port = c->client_port;
    h->connection_id = gws_client_conn_id(c->gc);
    h->gateway_port = cs->gw->cfg->listen.port;
}

static int send_event(struct clients *cs, struct client *c, uint8_t cmd, uint8_t flag, const void *body, size_t len)
{
    struct gwp_header h;
    size_t slen;
    client_hdr(cs, c, &h);
    const uint8_t *sess = gws_client_session(c->gc, &slen);
    return lan_send_event(cs->gw->lan, &c->route, cmd, &h, flag, sess, slen, body, len);
}

/* ---- ON_WEBSOCKET_CONNECT body (§8, workerman-5 shape) ---- */

static void ser_str(struct buf *b, const char *s, size_t n)
{
    buf_printf(b, "s:%zu:\"", n);
    buf_append(b, s, n);
    buf_append(b, "\";", 2);
}

static void ser_cstr(struct buf *b, const char *s) { ser_str(b, s, strlen(s)); }

/* Copies header tok into a malloc'd string, NULL when absent. */
static char *hdr_dup(struct lws *wsi, enum lws_token_indexes tok)
{
    int n = lws_hdr_total_length(wsi, tok);
    if (n <= 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s && lws_hdr_copy(wsi, s, n + 1, tok) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

static void build_ws_connect_body(struct lws *wsi, const struct client *c, const char *remote, uint16_t server_port,
                                  struct buf *out)
{
    struct buf get = BUF_INIT, server = BUF_INIT, cookie = BUF_INIT, query = BUF_INIT;
    int nget = 0, nserver = 0, ncookie = 0;
    char frag[1024];
    /* lws keeps the query only URL-decoded, as name=value fragments. */
    for (int i = 0; lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i) > 0; i++) {
        char *eq = strchr(frag, '=');
        if (query.len)
            buf_append(&query, "&", 1);
        buf_append_str(&query, frag);
        ser_str(&get, frag, eq ? (size_t)(eq - frag) : strlen(frag));
        ser_cstr(&get, eq ? eq + 1 : "");
        nget++;
    }
    char *uri = hdr_dup(wsi, WSI_TOKEN_GET_URI);
    char *host = hdr_dup(wsi, WSI_TOKEN_HOST);
    char *ctype = hdr_dup(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
    ser_cstr(&server, "QUERY_STRING");
    ser_str(&server, (const char *)buf_head(&query), buf_avail(&query));
    ser_cstr(&server, "REQUEST_METHOD");
    ser_cstr(&server, "GET");
    ser_cstr(&server, "REQUEST_URI");
    struct buf ruri = BUF_INIT;
    buf_append_str(&ruri, uri ? uri : "/");
    if (query.len) {
        buf_append(&ruri, "?", 1);
        buf_append(&ruri, buf_head(&query), buf_avail(&query));
    }
    ser_str(&server, (const char *)buf_head(&ruri), buf_avail(&ruri));
    ser_cstr(&server, "SERVER_PROTOCOL");
    ser_cstr(&server, "HTTP/1.1");
    ser_cstr(&server, "SERVER_NAME");
    if (host)
        ser_cstr(&server, host);
    else
        buf_append_str(&server, "N;");
    ser_cstr(&server, "CONTENT_TYPE");
    if (ctype)
        ser_cstr(&server, ctype);
    else
        buf_append_str(&server, "N;");
    ser_cstr(&server, "REMOTE_ADDR");
    ser_cstr(&server, remote);
    ser_cstr(&server, "REMOTE_PORT");
    buf_printf(&server, "i:%u;", c->client_port);
    ser_cstr(&server, "SERVER_PORT");
    buf_printf(&server, "i:%u;", server_port);
    nserver = 9;
    /* One HTTP_<NAME> per header lws parsed (lws keeps them by token, not in
     * request order). */
    for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
        const char *name = (const char *)lws_token_to_string((enum lws_token_indexes)t);
        size_t nl = name ? strlen(name) : 0;
        if (!nl || name[nl - 1] != ':' || t == WSI_TOKEN_HTTP_URI_ARGS)
            continue;
        char *v = hdr_dup(wsi, (enum lws_token_indexes)t);
        if (!v)
            continue;
        char key[96] = "HTTP_";
        size_t k = 5;
        for (size_t i = 0; i + 1 < nl && k + 1 < sizeof key; i++)
            key[k++] = name[i] == '-' ? '_' : (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
        key[k] = 0;
        ser_cstr(&server, key);
        ser_cstr(&server, v);
        nserver++;
        free(v);
    }
    char *ck = hdr_dup(wsi, WSI_TOKEN_HTTP_COOKIE);
    char *save = NULL;
    for (char *tok = ck ? strtok_r(ck, ";", &save) : NULL; tok; tok = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            continue;
        *eq = 0;
        while (*tok == ' ' || *tok == '\t')
            tok++;
        size_t nl = strlen(tok);
        while (nl && (tok[nl - 1] == ' ' || tok[nl - 1] == '\t'))
            nl--;
        ser_str(&cookie, tok, nl);
        ser_cstr(&cookie, eq + 1);
        ncookie++;
    }
    buf_printf(out, "a:3:{s:3:\"get\";a:%d:{", nget);
    buf_append(out, buf_head(&get), buf_avail(&get));
    buf_printf(out, "}s:6:\"server\";a:%d:{", nserver);
    buf_append(out, buf_head(&server), buf_avail(&server));
    buf_printf(out, "}s:6:\"cookie\";a:%d:{", ncookie);
    buf_append(out, buf_head(&cookie), buf_avail(&cookie));
    buf_append(out, "}}", 2);
    free(uri);
    free(host);
    free(ctype);
    free(ck);
    buf_free(&get);
    buf_free(&server);
    buf_free(&cookie);
    buf_free(&query);
    buf_free(&ruri);
}

/* ---- queue and delivery ---- */

/* Rings start at this many slots; spare ones are kept (up to RING_POOL_MAX)
 * so a queue that fills and drains under load allocates nothing. */
#define QUEUE_RING_MIN 8
#define RING_POOL_MAX 4096

static struct gwmsg **ring_get(struct clients *cs)
{
    if (cs->ring_pool) {
        struct gwmsg **r = (struct gwmsg **)cs->ring_pool;
        cs->ring_pool = (struct gwmsg ***)r[0];
        cs->nring_pool--;
        return r;
    }
    return malloc(QUEUE_RING_MIN * sizeof(struct gwmsg *));
}

static void ring_put(struct clients *cs, struct gwmsg **r, uint16_t cap)
{
    if (cap != QUEUE_RING_MIN || cs->nring_pool >= RING_POOL_MAX) {
        free(r);
        return;
    }
    r[0] = (struct gwmsg *)(void *)cs->ring_pool;
    cs->ring_pool = (struct gwmsg ***)r;
    cs->nring_pool++;
}

static struct gwmsg *queue_peek(const struct client *c, uint16_t i)
{
    return c->qcap ? c->q.ring[(c->qhead + i) % c->qcap] : c->q.one;
}

/* Takes the head of a non-empty queue; the caller owns its reference. */
static struct gwmsg *queue_pop(struct clients *cs, struct client *c)
{
    struct gwmsg *m;
    if (!c->qcap) {
        m = c->q.one;
        c->q.one = NULL;
    } else {
        m = c->q.ring[c->qhead];
        c->qhead = (uint16_t)((c->qhead + 1) % c->qcap);
        if (c->qlen == 1) {
            ring_put(cs, c->q.ring, c->qcap);
            c->q.one = NULL;
            c->qcap = c->qhead = 0;
        }
    }
    c->qlen--;
    c->queued_bytes -= m->len;
    return m;
}

static void queue_clear(struct clients *cs, struct client *c)
{
    while (c->qlen)
        gwmsg_unref(queue_pop(cs, c));
    c->queued_bytes = 0;
}

static int queue_push(struct clients *cs, struct client *c, struct gwmsg *m)
{
    if (!c->qcap && !c->qlen) {
        c->q.one = gwmsg_ref(m);
        c->qlen = 1;
        c->queued_bytes += m->len;
        return 0;
    }
    if (c->qlen == 1 && !c->qcap) {
        struct gwmsg **r = ring_get(cs);
        if (!r)
            return -1;
        r[0] = c->q.one;
        c->q.ring = r;
        c->qcap = QUEUE_RING_MIN;
        c->qhead = 0;
    } else if (c->qlen == c->qcap) {
        if (c->qcap >= 32768)
            return -1;
        uint16_t ncap = (uint16_t)(c->qcap * 2);
        struct gwmsg **r = malloc(ncap * sizeof *r);
        if (!r)
            return -1;
        for (uint16_t i = 0; i < c->qlen; i++)
            r[i] = c->q.ring[(c->qhead + i) % c->qcap];
        ring_put(cs, c->q.ring, c->qcap);
        c->q.ring = r;
        c->qcap = ncap;
        c->qhead = 0;
    }
    c->q.ring[(c->qhead + c->qlen) % c->qcap] = gwmsg_ref(m);
    c->qlen++;
    c->queued_bytes += m->len;
    return 0;
}

static int utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        size_t k;
        uint32_t cp;
        if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xe0) == 0xc0) {
            k = 1;
            cp = b & 0x1f;
        } else if ((b & 0xf0) == 0xe0) {
            k = 2;
            cp = b & 0x0f;
        } else if ((b & 0xf8) == 0xf0) {
            k = 3;
            cp = b & 0x07;
        } else {
            return 0;
        }
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* The payload as it goes on the wire, prepared once per message and kept in
 * the message's encoding cache with LWS_PRE bytes of headroom: every
 * recipient writes from the same bytes (lws puts the frame header in the
 * headroom, identical for all of them). enc[0] = payload, enc_len[0] its
 * length; enc_len[1] = the lws write mode. */
static const uint8_t *wire_payload(struct gwmsg *m, int text, size_t *len, enum lws_write_protocol *mode)
{
    if (!m->enc[0]) {
        struct buf json = BUF_INIT;
        const uint8_t *payload = m->data;
        size_t n = m->len;
        enum lws_write_protocol md = LWS_WRITE_TEXT;
        if (m->flags & GWMSG_ARRAY) {
            /* A PHP array body: WebSocket clients get it as JSON (§3.2 C). */
            if (gwmsg_json_body(m, &json) < 0) {
                buf_free(&json);
                return NULL;
            }
            payload = buf_head(&json);
            n = buf_avail(&json);
        }
        /* Text clients get each message as one line (Workerman's Text encoder). */
        int add_lf = text && !(m->flags & GWMSG_RAW);
        if ((m->flags & GWMSG_RAW) || text)
            md = LWS_WRITE_RAW;
        else if (!utf8_valid(payload, n))
            md = LWS_WRITE_BINARY; /* browsers close on invalid UTF-8 in text frames */
        uint8_t *e = malloc(LWS_PRE + n + 1);
        if (!e) {
            buf_free(&json);
            return NULL;
        }
        memcpy(e + LWS_PRE, payload, n);
        if (add_lf)
            e[LWS_PRE + n++] = '\n';
        buf_free(&json);
        m->enc[0] = e;
        m->enc_len[0] = (uint32_t)n;
        m->enc_len[1] = (uint32_t)md;
    }
    *len = m->enc_len[0];
    *mode = (enum lws_write_protocol)m->enc_len[1];
    return (const uint8_t *)m->enc[0] + LWS_PRE;
}

static int write_one(struct clients *cs, struct lws *wsi, struct gwmsg *m)
{
    size_t len;
    enum lws_write_protocol mode;
    const uint8_t *p = wire_payload(m, cs->text, &len, &mode);
    if (!p) {
        log_warn("dropping a message whose array body does not decode");
        return 0;
    }
    int n = lws_write(wsi, (unsigned char *)p, len, mode);
    return n < (int)len ? -1 : 0;
}

/* At most this many bytes per write: the protocol's tx_packet_size, which is
 * what lws sends in one go (more would be split and copied by lws). */
#define BATCH_MAX 4096

/* Bytes of the frame for a payload of n bytes in mode md: RFC 6455 server
 * frames are unmasked, so the header is 2, 4 or 10 bytes; RAW is verbatim. */
static size_t frame_size(size_t n, enum lws_write_protocol md)
{
    if (md == LWS_WRITE_RAW)
        return n;
    return n + (n < 126 ? 2 : n < 65536 ? 4 : 10);
}

/* One lws_write for the head of the queue and as many of the messages after
 * it as fit in BATCH_MAX: with several queued, their frames are built back
 * to back in cs->batch and written raw (we negotiate no extension, so a
 * frame is header + payload); a single one is written from the shared
 * encoding with no copy. Returns 0, or -1 when the connection failed. */
static int write_batch(struct clients *cs, struct lws *wsi, struct client *c)
{
    size_t len;
    enum lws_write_protocol md;
    if (c->qlen > 1 && cs->batch) {
        struct gwmsg *m2 = queue_peek(c, 1);
        const uint8_t *p2 = wire_payload(m2, cs->text, &len, &md);
        size_t second = p2 ? frame_size(len, md) : 0;
        const uint8_t *p1 = wire_payload(queue_peek(c, 0), cs->text, &len, &md);
        if (p1 && frame_size(len, md) + second <= BATCH_MAX) {
            uint8_t *out = cs->batch + LWS_PRE;
            size_t used = 0;
            while (c->qlen) {
                const uint8_t *p = wire_payload(queue_peek(c, 0), cs->text, &len, &md);
                if (!p) {
                    log_warn("dropping a message whose array body does not decode");
                    gwmsg_unref(queue_pop(cs, c));
                    continue;
                }
                if (used + frame_size(len, md) > BATCH_MAX)
                    break;
                if (md != LWS_WRITE_RAW) {
                    out[used++] = (uint8_t)(0x80 | (md == LWS_WRITE_BINARY ? 0x2 : 0x1));
                    if (len < 126) {
                        out[used++] = (uint8_t)len;
                    } else if (len < 65536) {
                        out[used++] = 126;
                        out[used++] = (uint8_t)(len >> 8);
                        out[used++] = (uint8_t)len;
                    } else {
                        out[used++] = 127;
                        for (int i = 7; i >= 0; i--)
                            out[used++] = (uint8_t)((uint64_t)len >> (8 * i));
                    }
                }
                memcpy(out + used, p, len); /* p lives in the message: copy, then drop our reference */
                used += len;
                gwmsg_unref(queue_pop(cs, c));
            }
            if (!used)
                return 0;
            int n = lws_write(wsi, out, used, LWS_WRITE_RAW);
            return n < (int)used ? -1 : 0;
        }
    }
    struct gwmsg *m = queue_pop(cs, c);
    int rc = write_one(cs, wsi, m);
    gwmsg_unref(m);
    return rc;
}

/* ---- the ops the state engine delivers through ---- */

/* Closes a client at once (ON_CLOSE follows before this returns). Only ever
 * called from outside that client's own lws callbacks (internal-port
 * commands, the heartbeat tick): an async kill waits for lws' next timer
 * pass, which on the foreign libev loop can be seconds away. */
static void kill_now(struct lws *wsi)
{
    lws_set_timeout(wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_SYNC);
}

/* Marks c as having output for flush_dirty. Falls back to lws' writeable
 * callback when the list cannot grow. */
static void mark_dirty(struct clients *cs, struct lws *wsi, struct client *c)
{
    if (c->dirty)
        return;
    if (cs->ndirty == cs->dirty_cap && cs->dirty_head > 0) {
        memmove(cs->dirty, cs->dirty + cs->dirty_head, (cs->ndirty - cs->dirty_head) * sizeof *cs->dirty);
        cs->ndirty -= cs->dirty_head;
        cs->dirty_head = 0;
    }
    if (cs->ndirty == cs->dirty_cap) {
        size_t cap = cs->dirty_cap ? cs->dirty_cap * 2 : 1024;
        uint32_t *d = realloc(cs->dirty, cap * sizeof *d);
        if (!d) {
            lws_callback_on_writable(wsi);
            return;
        }
        cs->dirty = d;
        cs->dirty_cap = cap;
    }
    cs->dirty[cs->ndirty++] = gws_client_conn_id(c->gc);
    c->dirty = 1;
}

static void op_send(void *ctx, struct gws_client *gc, struct gwmsg *m)
{
    (void)ctx;
    struct lws *wsi = gws_client_handle(gc);
    struct client *c = lws_wsi_user(wsi);
    struct clients *cs = owner_of(wsi);
    if (c->closing || c->close_after_flush)
        return;
    if (c->queued_bytes + m->len > (uint64_t)cs->gw->cfg->sendToClientBufferSize || queue_push(cs, c, m) < 0) {
        log_warn("client %u (%s) does not read: %u bytes queued, over sendToClientBufferSize; closing",
                 gws_client_conn_id(gc), "ws", c->queued_bytes);
        c->closing = 1;
        kill_now(wsi);
        return;
    }
    mark_dirty(cs, wsi, c);
}

/* Before the loop sleeps (redis' model: replies are written right before
 * the loop sleeps, a write event is asked for only when the socket is
 * full): every client that got output in this iteration writes it now,
 * frames batched per write_batch, without a round trip through POLLOUT and
 * lws' writeable callback (two epoll_ctl calls and a wake-up per delivery).
 * Only where lws holds nothing of its own for the socket: when a previous
 * write was partly buffered by lws, or the client is closing, the queue
 * waits for the writeable callback as before, which keeps the order.
 *
 * At most FLUSH_PER_PASS clients per loop iteration, oldest first; the rest
 * wait for the next iteration, which comes at once (flush_more keeps the
 * loop from sleeping). A broadcast to everyone is thus written in slices
 * with input read in between: a client that sends fast gets its next bytes
 * read (lws reads at most rx_buffer_size per wake-up) after a slice rather
 * than after a write to every client, and what queues for one client
 * meanwhile leaves in one write. */
#define FLUSH_PER_PASS 1024

static void flush_more_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)revents;
    struct clients *cs = w->data;
    if (cs->dirty_head == cs->ndirty)
        ev_idle_stop(loop, w);
}

static void flush_dirty(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    struct clients *cs = w->data;
    size_t end = cs->ndirty - cs->dirty_head > FLUSH_PER_PASS ? cs->dirty_head + FLUSH_PER_PASS : cs->ndirty;
    for (size_t i = cs->dirty_head; i < end; i++) {
        struct gws_client *gc = gws_client_find(cs->gw->state, cs->dirty[i]);
        if (!gc)
            continue; /* closed meanwhile */
        struct lws *wsi = gws_client_handle(gc);
        struct client *c = lws_wsi_user(wsi);
        if (!c || c->gc != gc)
            continue;
        c->dirty = 0;
        while (c->qlen && !c->closing && !c->close_after_flush && !lws_partial_buffered(wsi)) {
            if (write_batch(cs, wsi, c) < 0) {
                /* Not closed from here: the writeable callback returns -1
                 * for a closing client and lws closes it in its own time. */
                c->closing = 1;
                break;
            }
        }
        if (c->qlen || c->closing || c->close_after_flush)
            lws_callback_on_writable(wsi);
    }
    if (end == cs->ndirty) {
        cs->dirty_head = cs->ndirty = 0;
        return;
    }
    cs->dirty_head = end;
    if (!ev_is_active(&cs->flush_more))
        ev_idle_start(loop, &cs->flush_more);
}

static void op_close(void *ctx, struct gws_client *gc, struct gwmsg *goodbye, int flush)
{
    (void)ctx;
    struct lws *wsi = gws_client_handle(gc);
    struct client *c = lws_wsi_user(wsi);
    if (c->closing)
        return;
    if (!flush) {
        c->closing = 1;
        kill_now(wsi);
        return;
    }
    if (goodbye && !c->close_after_flush)
        queue_push(owner_of(wsi), c, goodbye);
    c->close_after_flush = 1;
    lws_callback_on_writable(wsi);
}

static const struct gws_ops client_ops = {op_send, op_close};

const struct gws_ops *clients_gws_ops(void) { return &client_ops; }

/* ---- lws callbacks ---- */

/* The TCP peer, as text and (for IPv4) as a number. */
static void peer_of(int fd, char *ip, size_t cap, uint32_t *ipv4, uint16_t *port)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    snprintf(ip, cap, "0.0.0.0");
    *ipv4 = 0;
    *port = 0;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, (socklen_t)cap);
        *ipv4 = ntohl(a->sin_addr.s_addr);
        *port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, (socklen_t)cap);
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
            memmove(ip, ip + 7, strlen(ip + 7) + 1);
            memcpy(ipv4, &a->sin6_addr.s6_addr[12], 4);
            *ipv4 = ntohl(*ipv4);
        }
        *port = ntohs(a->sin6_port);
    }
}

/* Who the client really is: the PROXY header's source when there was one;
 * else, when the peer is a trusted proxy, X-Forwarded-For / X-Real-IP; else
 * the TCP peer. ip receives the text form (REMOTE_ADDR), c->client_ip the
 * IPv4 form for the event header (0 when not IPv4, as PHP's ip2long). */
static void resolve_client_addr(struct clients *cs, struct lws *wsi, struct client *c, char *ip, size_t cap)
{
    struct preread_info *info = lws_get_opaque_user_data(wsi);
    if (info && info->have_addr) {
        snprintf(ip, cap, "%s", info->ip);
        c->client_ip = info->ipv4;
        c->client_port = info->port;
        return;
    }
    peer_of(lws_get_socket_fd(wsi), ip, cap, &c->client_ip, &c->client_port);
    if (cs->trusted.n == 0 || !trust_contains(&cs->trusted, ip))
        return;
    char *xff = hdr_dup(wsi, WSI_TOKEN_X_FORWARDED_FOR);
    char *xri = lws_hdr_custom_length(wsi, "x-real-ip:", 10) > 0 ? malloc(64) : NULL;
    if (xri && lws_hdr_custom_copy(wsi, xri, 64, "x-real-ip:", 10) < 0) {
        free(xri);
        xri = NULL;
    }
    char real[TRUST_IP_MAX];
    if (trust_client_ip(&cs->trusted, ip, xff, xri, real, sizeof real) >= 0 && strcmp(real, ip) != 0) {
        uint32_t v4 = 0;
        snprintf(ip, cap, "%s", real);
        c->client_ip = netaddr_parse_ipv4(real, strlen(real), &v4) ? v4 : 0;
        c->client_port = 0; /* the proxy does not tell the client's port */
    }
    free(xff);
    free(xri);
}

/* The client is ready (WebSocket handshake done, or a text:// connection
 * adopted): register it and tell a worker. */
static int client_open(struct clients *cs, struct lws *wsi, struct client *c, char *remote, size_t cap)
{
    resolve_client_addr(cs, wsi, c, remote, cap);
    c->silent_ticks = -1;
    c->gc = gws_client_add(cs->gw->state, wsi);
    if (!c->gc)
        return -1;
    cs->nclients++;
    /* For WebSocket, ON_CONNECT waits for the handshake, so a load
     * balancer's TCP probe never reaches business code (§3.7 C). */
    send_event(cs, c, GWP_CMD_ON_CONNECT, GWP_FLAG_BODY_IS_SCALAR, "", 0);
    return 0;
}

static int on_established(struct clients *cs, struct lws *wsi, struct client *c)
{
    int fd = lws_get_socket_fd(wsi);
    char remote[PROXYPROTO_IP_MAX];
    if (client_open(cs, wsi, c, remote, sizeof remote) < 0)
        return -1;
    struct sockaddr_storage ls;
    socklen_t ll = sizeof ls;
    uint16_t sport = cs->gw->cfg->listen.port;
    if (getsockname(fd, (struct sockaddr *)&ls, &ll) == 0)
        sport = ntohs(ls.ss_family == AF_INET ? ((struct sockaddr_in *)&ls)->sin_port
                                              : ((struct sockaddr_in6 *)&ls)->sin6_port);
    struct buf body = BUF_INIT;
    struct preread_info *info = lws_get_opaque_user_data(wsi);
    char err[160];
    /* From the raw request head when we have it (exactly what workerman
     * builds); with wss the head is inside TLS, so from what lws parsed. */
    if (!info || !info->head ||
        wsconnect_body(info->head, info->head_len, remote, c->client_port, sport, &body, err, sizeof err) < 0)
        build_ws_connect_body(wsi, c, remote, sport, &body);
    lws_set_opaque_user_data(wsi, NULL);
    preread_info_free(info);
    send_event(cs, c, GWP_CMD_ON_WEBSOCKET_CONNECT, 0, buf_head(&body), buf_avail(&body));
    buf_free(&body);
    return 0;
}

static int on_receive(struct clients *cs, struct lws *wsi, struct client *c, const void *in, size_t len)
{
    size_t max = (size_t)cs->gw->cfg->maxPackageSize;
    c->silent_ticks = -1; /* any inbound data counts as a heartbeat (§6.1) */
    if (lws_is_first_fragment(wsi) && lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi) &&
        rx_len(c) == 0) {
        if (len > max)
            goto too_big;
        return send_event(cs, c, GWP_CMD_ON_MESSAGE, GWP_FLAG_BODY_IS_SCALAR, in, len), 0;
    }
    if (rx_len(c) + len > max)
        goto too_big;
    if (rx_append(c, in, len) < 0)
        return -1;
    if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
        send_event(cs, c, GWP_CMD_ON_MESSAGE, GWP_FLAG_BODY_IS_SCALAR, buf_head(c->rx), buf_avail(c->rx));
        rx_free(c);
    }
    return 0;
too_big:
    log_warn("client %u sent a message over maxPackageSize (%zu bytes); closing", gws_client_conn_id(c->gc), max);
    lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
    return -1;
}

/* text://: every LF ends a message; trailing CR/LF are stripped (Workerman's
 * Text protocol). A line longer than maxPackageSize closes the client. */
static int on_text_rx(struct clients *cs, struct client *c, const uint8_t *in, size_t len)
{
    size_t max = (size_t)cs->gw->cfg->maxPackageSize;
    c->silent_ticks = -1;
    while (len > 0) {
        const uint8_t *nl = memchr(in, '\n', len);
        size_t take = nl ? (size_t)(nl - in) + 1 : len;
        if (rx_len(c) + take > max + 1) {
            log_warn("client %u sent a line over maxPackageSize (%zu bytes); closing", gws_client_conn_id(c->gc), max);
            return -1;
        }
        if (!nl || rx_len(c)) {
            if (rx_append(c, in, take) < 0)
                return -1;
        }
        if (nl) {
            const uint8_t *line = rx_len(c) ? buf_head(c->rx) : in;
            size_t n = rx_len(c) ? rx_len(c) : take;
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                n--;
            send_event(cs, c, GWP_CMD_ON_MESSAGE, GWP_FLAG_BODY_IS_SCALAR, line, n);
            rx_free(c);
        }
        in += take;
        len -= take;
    }
    return 0;
}

static int on_writeable(struct clients *cs, struct lws *wsi, struct client *c)
{
    if (c->closing)
        return -1;
    if (c->qlen && write_batch(cs, wsi, c) < 0)
        return -1;
    if (c->qlen) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    if (c->close_after_flush) {
        /* KICK: the data went out; end with a close frame, not a bare FIN (§14 #20). */
        if (!cs->text)
            lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        return -1;
    }
    return 0;
}

static void on_closed(struct clients *cs, struct client *c)
{
    if (!c->gc)
        return;
    send_event(cs, c, GWP_CMD_ON_CLOSE, GWP_FLAG_BODY_IS_SCALAR, "", 0);
    lan_route_release(cs->gw->lan, &c->route);
    gws_client_remove(cs->gw->state, c->gc);
    c->gc = NULL;
    queue_clear(cs, c);
    rx_free(c);
    cs->nclients--;
}

static int http_reply(struct lws *wsi, int status, const char *ctype, const char *body)
{
    uint8_t buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf;
    size_t n = strlen(body);
    if (lws_add_http_common_headers(wsi, (unsigned)status, ctype, (lws_filepos_t)n, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    if (n && lws_write(wsi, (uint8_t *)body, n, LWS_WRITE_HTTP_FINAL) < (int)n)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int on_http(struct clients *cs, struct lws *wsi, const char *uri)
{
    if (strcmp(uri, "/health") == 0) {
        char body[256];
        snprintf(body, sizeof body, "{\"status\":\"ok\",\"role\":\"gateway\",\"process\":%d,\"clients\":%zu,\"workers\":%zu}",
                 cs->gw->index, cs->nclients, lan_worker_count(cs->gw->lan));
        return http_reply(wsi, HTTP_STATUS_OK, "application/json", body);
    }
    return http_reply(wsi, HTTP_STATUS_NOT_FOUND, "text/plain", "not found\n");
}

static int client_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct client *c = user;
    struct clients *cs = owner_of(wsi);
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        return on_established(cs, wsi, c);
    case LWS_CALLBACK_RECEIVE:
        return c->gc ? on_receive(cs, wsi, c, in, len) : -1;
    case LWS_CALLBACK_WSI_DESTROY:
        preread_info_free(lws_get_opaque_user_data(wsi)); /* gone before its handshake */
        lws_set_opaque_user_data(wsi, NULL);
        return 0;
    case LWS_CALLBACK_RECEIVE_PONG:
        c->silent_ticks = -1;
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return c->gc ? on_writeable(cs, wsi, c) : 0;
    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_RAW_CLOSE:
        on_closed(cs, c);
        return 0;
    case LWS_CALLBACK_RAW_ADOPT: {
        char remote[PROXYPROTO_IP_MAX];
        int rc = client_open(cs, wsi, c, remote, sizeof remote);
        preread_info_free(lws_get_opaque_user_data(wsi));
        lws_set_opaque_user_data(wsi, NULL);
        return rc;
    }
    case LWS_CALLBACK_RAW_RX:
        return c->gc ? on_text_rx(cs, c, in, len) : -1;
    case LWS_CALLBACK_RAW_WRITEABLE:
        return c->gc ? on_writeable(cs, wsi, c) : 0;
    case LWS_CALLBACK_HTTP: {
        char uri[64] = "";
        lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
        return on_http(cs, wsi, uri);
    }
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* One tick for every client (§6.1): every pingInterval/2 when
 * pingNotResponseLimit > 0, else every pingInterval. */
static void on_heartbeat(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct clients *cs = w->data;
    long limit = cs->gw->cfg->pingNotResponseLimit;
    struct gws_client *next;
    for (struct gws_client *gc = gws_client_next(cs->gw->state, NULL); gc; gc = next) {
        next = gws_client_next(cs->gw->state, gc); /* gc may be freed below */
        struct lws *wsi = gws_client_handle(gc);
        struct client *c = lws_wsi_user(wsi);
        if (c->closing)
            continue;
        if (limit > 0 && c->silent_ticks >= 2 * limit) {
            c->closing = 1;
            cs->heartbeat_kills++;
            kill_now(wsi);
            continue;
        }
        c->silent_ticks++;
        if (cs->ping_msg && !(c->silent_ticks == 0 || (limit > 0 && (c->silent_ticks & 1))))
            op_send(cs, gc, cs->ping_msg);
    }
}

static lws_adoption_type adopt_type(const struct clients *cs)
{
    if (cs->text)
        return LWS_ADOPT_SOCKET; /* no HTTP flag: a raw socket */
    return LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP | (cs->gw->cfg->ssl_cert[0] ? LWS_ADOPT_ALLOW_SSL : 0);
}

/* The pre-read stage is done: hand the socket to lws with what it learned
 * attached from the start (set later, it would miss a handshake that lws
 * completes while adopting). */
static void on_preread_done(void *ctx, int fd, struct preread_info *info)
{
    struct clients *cs = ctx;
    lws_adopt_desc_t desc;
    memset(&desc, 0, sizeof desc);
    desc.vh = cs->vh;
    desc.type = adopt_type(cs);
    desc.vh_prot_name = cs->text ? "gateway" : NULL;
    desc.fd.sockfd = fd;
    desc.opaque = info;
    if (!lws_adopt_descriptor_vhost_via_info(&desc)) {
        log_warn("cannot adopt a client");
        preread_info_free(info);
    }
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct clients *cs = w->data;
    for (int i = 0; i < 256; i++) {
        char ip[48];
        uint16_t port;
        int fd = sock_accept(cs->lfd, ip, sizeof ip, &port);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                log_error("accept: %s (raise the open files limit)", strerror(errno));
            return;
        }
        if (cs->pre) {
            preread_start(cs->pre, fd, ip, port);
            continue;
        }
        lws_sock_file_fd_type sfd;
        sfd.sockfd = fd;
        if (!lws_adopt_descriptor_vhost(cs->vh, adopt_type(cs), sfd, cs->text ? "gateway" : NULL, NULL))
            log_warn("cannot adopt client %s:%u", ip, port);
    }
}

/* lws 4.1.6 refuses a handshake whose subprotocols it does not know, so each
 * configured name becomes one more protocol entry with the same callback; a
 * client asking for none binds to the first ("gateway"). */
static int build_protocols(struct clients *cs, const char *list, char *err, size_t errlen)
{
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    cs->protocols = calloc(n + 2, sizeof *cs->protocols);
    cs->subprotocol_names = strdup(list);
    if (!cs->protocols || !cs->subprotocol_names) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* lws allocates rx_buffer_size for every connection: keep it small (an
     * idle client then costs about 2 KB in all, measured by `make bench`);
     * larger messages arrive in pieces that on_receive reassembles. */
    struct lws_protocols proto = {"gateway", client_cb, sizeof(struct client), 128, 0, NULL, 4096};
    size_t k = 0;
    cs->protocols[k++] = proto;
    char *save = NULL;
    for (char *t = strtok_r(cs->subprotocol_names, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        proto.name = t;
        cs->protocols[k++] = proto;
    }
    return 0;
}

static void lws_log_bridge(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    log_msg(level == LLL_ERR ? LOG_ERROR : LOG_WARN, "lws: %.*s", (int)n, line);
}

struct clients *clients_new(struct gateway *gw, int listen_fd, char *err, size_t errlen)
{
    struct clients *cs = calloc(1, sizeof *cs);
    if (!cs) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cs->gw = gw;
    cs->lfd = listen_fd;
    cs->text = strcmp(gw->cfg->listen.scheme, "text") == 0;
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_bridge);
    const struct gateway_cfg *cfg = gw->cfg;
    int tls = cfg->ssl_cert[0] != 0;
    if (tls != (cfg->ssl_key[0] != 0)) {
        snprintf(err, errlen, "ssl_cert and ssl_key go together: set both for wss, or neither");
        goto fail;
    }
    if (build_protocols(cs, cfg->subprotocols, err, errlen) < 0)
        goto fail;
    char why[160];
    if (cfg->trustedProxies[0] && trust_parse(cfg->trustedProxies, &cs->trusted, why, sizeof why) < 0) {
        snprintf(err, errlen, "trustedProxies: %s", why);
        goto fail;
    }
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *loops[] = {gw->loop};
    info.options = LWS_SERVER_OPTION_LIBEV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                   (tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0);
    info.foreign_loops = loops;
    info.user = cs;
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    cs->ctx = lws_create_context(&info);
    if (!cs->ctx) {
        snprintf(err, errlen, "cannot create the libwebsockets context (is libwebsockets-evlib-ev installed?)");
        goto fail;
    }
    info.protocols = cs->protocols;
    info.vhost_name = "gateway";
    if (tls) {
        /* Without the option on the vhost too, lws silently serves plain text. */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cfg->ssl_cert;
        info.ssl_private_key_filepath = cfg->ssl_key;
        info.alpn = "http/1.1";
    }
    /* /health is answered by our callback; the rest of the site, when
     * webRoot is set, comes from the files. */
    cs->mounts[0].mountpoint = "/health";
    cs->mounts[0].mountpoint_len = 7;
    cs->mounts[0].origin = "gateway";
    cs->mounts[0].origin_protocol = LWSMPRO_CALLBACK;
    if (cfg->webRoot[0]) {
        cs->mounts[0].mount_next = &cs->mounts[1];
        cs->mounts[1].mountpoint = "/";
        cs->mounts[1].mountpoint_len = 1;
        cs->mounts[1].origin = cfg->webRoot;
        cs->mounts[1].def = "index.html";
        cs->mounts[1].origin_protocol = LWSMPRO_FILE;
    }
    info.mounts = &cs->mounts[0];
    /* No lws "validity" timer per connection: each one is inserted into a
     * sorted list by a linear walk, which made connects cost O(n) (64 % of
     * the gateway's CPU at 19k connections). Heartbeats are our own single
     * periodic tick (pingInterval). */
    static const lws_retry_bo_t no_validity;
    info.retry_and_idle_policy = &no_validity;
    cs->vh = lws_create_vhost(cs->ctx, &info);
    if (!cs->vh) {
        snprintf(err, errlen, tls ? "cannot create the wss vhost: check ssl_cert %s and ssl_key %s"
                                  : "cannot create the libwebsockets vhost",
                 cfg->ssl_cert, cfg->ssl_key);
        lws_context_destroy(cs->ctx);
        goto fail;
    }
    ev_io_init(&cs->accept_io, on_accept, listen_fd, EV_READ);
    cs->accept_io.data = cs;
    ev_io_start(gw->loop, &cs->accept_io);
    cs->batch = malloc(LWS_PRE + BATCH_MAX); /* without it, one message per write */
    ev_prepare_init(&cs->flush_prep, flush_dirty);
    cs->flush_prep.data = cs;
    ev_prepare_start(gw->loop, &cs->flush_prep);
    ev_idle_init(&cs->flush_more, flush_more_cb);
    cs->flush_more.data = cs;
    /* The raw head can be peeked only in clear text: not for wss, and
     * text:// clients send no head at all. */
    int want_head = !cs->text && !tls;
    if (cfg->proxyProtocol || want_head) {
        cs->pre = preread_new(gw->loop, cfg->proxyProtocol, want_head, on_preread_done, cs);
        if (!cs->pre) {
            snprintf(err, errlen, "out of memory");
            lws_context_destroy(cs->ctx);
            goto fail;
        }
    }
    if (cfg->pingInterval > 0) {
        double period = cfg->pingNotResponseLimit > 0 ? cfg->pingInterval / 2.0 : (double)cfg->pingInterval;
        if (cfg->pingData[0])
            cs->ping_msg = gwmsg_new(cfg->pingData, strlen(cfg->pingData), 0);
        ev_timer_init(&cs->heartbeat, on_heartbeat, period, period);
        cs->heartbeat.data = cs;
        ev_timer_start(gw->loop, &cs->heartbeat);
    }
    return cs;
fail:
    free(cs->protocols);
    free(cs->subprotocol_names);
    free(cs);
    return NULL;
}

void clients_stop_accepting(struct clients *cs)
{
    ev_io_stop(cs->gw->loop, &cs->accept_io);
    if (cs->lfd >= 0)
        close(cs->lfd);
    cs->lfd = -1;
}

void clients_free(struct clients *cs)
{
    if (!cs)
        return;
    clients_stop_accepting(cs);
    ev_timer_stop(cs->gw->loop, &cs->heartbeat);
    ev_prepare_stop(cs->gw->loop, &cs->flush_prep);
    ev_idle_stop(cs->gw->loop, &cs->flush_more);
    preread_free(cs->pre);
    lws_context_destroy(cs->ctx);
    gwmsg_unref(cs->ping_msg);
    while (cs->ring_pool) {
        struct gwmsg **r = (struct gwmsg **)cs->ring_pool;
        cs->ring_pool = (struct gwmsg ***)r[0];
        free(r);
    }
    free(cs->dirty);
    free(cs->batch);
    free(cs->protocols);
    free(cs->subprotocol_names);
    free(cs);
}

size_t clients_count(const struct clients *cs) { return cs->nclients; }
