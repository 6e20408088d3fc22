/* clients_int: what the files of the WebSocket side share (clients.c: lws
 * callbacks and heartbeat; outq.c: per-client output queues and the write
 * path; listen.c: accepting and the lws context). Nothing else includes it. */
#ifndef GW_GATEWAY_CLIENTS_INT_H
#define GW_GATEWAY_CLIENTS_INT_H

#include <ev.h>
#include <libwebsockets.h>
#include <stdint.h>
#include <stdlib.h>

#include "buf.h"
#include "clients.h"
#include "gwmsg.h"
#include "lan.h"
#include "tlskeys.h"
#include "trust.h"

struct gws_client;
struct outq_pend;
struct preread;
struct sendring;

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
    unsigned wscheck : 1;      /* a /ws-check connection: answered here, never relayed */
    unsigned via : 2;          /* enum wscheck_via: where client_ip came from */
    struct buf *rx;            /* reassembly of a fragmented message: allocated only while one arrives */
    uint8_t u8carry[3], u8len; /* a text message's unfinished UTF-8 sequence between pieces */
};

/* Bytes held for reassembly (0 when none). */
static inline size_t rx_len(const struct client *c) { return c->rx ? buf_avail(c->rx) : 0; }

static inline int rx_append(struct client *c, const void *p, size_t n)
{
    if (!c->rx && !(c->rx = calloc(1, sizeof *c->rx)))
        return -1;
    return buf_append(c->rx, p, n);
}

static inline void rx_free(struct client *c)
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
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out, slow_closes;
    uint64_t last_in, last_out, rate_in, rate_out; /* per-second rates, by stats_tick */
    ev_timer stats_tick;
    struct trust_list metrics_allow;  /* metricsAllow */
    /* Write path (see flush_dirty): clients with queued output since the
     * loop last slept, by connection id (a client may be gone by then). */
    uint32_t *dirty;
    size_t dirty_head, ndirty, dirty_cap; /* FIFO: [dirty_head, ndirty) still to write */
    ev_prepare flush_prep;
    ev_idle flush_more;               /* active while the FIFO is not empty: the loop does not sleep */
    struct gwmsg ***ring_pool;        /* spare QUEUE_RING_MIN-slot rings, linked through slot 0 */
    size_t nring_pool;
    uint8_t *batch;                   /* LWS_PRE + BATCH_MAX: frames of one write, back to back */
    int direct;                       /* the flush pass sends on plain sockets itself (clientWritePath) */
    struct sendring *ring;            /* clientWritePath=uring: the flush pass's sends in one submission */
    struct outq_pend *pend;           /* those sends, by tag (FLUSH_PER_PASS) */
    size_t npend;
    uint64_t ring_sends;              /* sends that went through the ring */
    uint64_t direct_partials;         /* direct sends the socket took only part of (handed to lws) */
    struct lws_protocols *protocols; /* "gateway" + one entry per configured subprotocol, all one callback */
    char *subprotocol_names;
    struct lws_http_mount mounts[4]; /* /health, /metrics, /ws-check, then webRoot */
    struct trust_list trusted;        /* trustedProxies */
    struct iplimit *iplimit;          /* maxConnectionsPerIp (NULL: no limit) */
    struct hsgate *gate;              /* wss: maxTlsHandshakes (NULL: plain, or no limit) */
    ev_timer gate_timer;              /* while accepting is paused: the oldest handshake stops counting */
    int gate_paused;                  /* accept_io stopped by the gate */
    uint64_t tls_accept_pauses;
    struct preread *pre;              /* PROXY header / raw request head before lws (NULL: none needed) */
    struct tlskey ticket_keys[TLSKEYS_MAX]; /* ssl_ticket_key, read before the vhost's SSL_CTX exists */
    int nticket_keys;
    int tls_ctx_tuned;                /* the SSL_CTX hook ran (listen_tune_ssl_ctx) */
};

static inline struct clients *owner_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* The one lws protocol callback of every client (clients.c). */
int clients_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);

#endif
