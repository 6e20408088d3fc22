#include "wsguard.h"

#include <dlfcn.h>
#include <errno.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fdtab.h"
#include "log.h"
#include "sock.h"
#include "wsconnect.h"
#include "wshead.h"
#include "wstrack.h"

/* wss: a request head longer than this is left to lws alone, as the
 * pre-read does for ws:// (preread.c). */
#define HEAD_MAX 16384
/* wss: decrypted bytes read and dropped in one call after a violation. */
#define DRAIN_MAX (256 * 1024)

struct guard {
    struct lws *wsi;          /* set once the handshake is done */
    size_t skip;              /* ws://: request-head bytes still to pass */
    char *head;               /* wss://: the request head while it arrives, then
                               * the upgrade's head until wsguard_take_head */
    char *client;             /* wss://: the client's address from a PROXY header, or NULL */
    size_t head_len;
    unsigned ws : 1, off : 1, close_sent : 1, reported : 1, closed_out : 1;
    unsigned tls : 1;         /* fed from SSL_read, not recv */
    unsigned in_head : 1;     /* wss://: the request head is not complete yet */
    struct wstrack t;
};

static struct guard **slots;
static size_t nslots;
static size_t ntls;           /* wss guards alive: SSL_read looks at nothing while 0 */
static size_t max_msg = 10485760;

static int (*real_ssl_read)(SSL *, void *, int);
static int (*real_ssl_write)(SSL *, const void *, int);

void wsguard_init(size_t max_message) { max_msg = max_message; }

static struct guard *slot(int fd) { return fd >= 0 && (size_t)fd < nslots ? slots[fd] : NULL; }

void wsguard_forget(int fd)
{
    struct guard *g = slot(fd);
    if (g) {
        wstrack_free(&g->t);
        free(g->head);
        free(g->client);
        ntls -= g->tls;
        free(g);
        slots[fd] = NULL;
    }
}

void wsguard_reset(int fd) { wsguard_forget(fd); }

static struct guard *take(int fd)
{
    struct guard **s = fdtab_fit(slots, &nslots, sizeof *s, fd);
    if (!s)
        return NULL;
    slots = s;
    if (!slots[fd] && (slots[fd] = calloc(1, sizeof *slots[fd])))
        wstrack_init(&slots[fd]->t, max_msg);
    return slots[fd];
}

void wsguard_watch(int fd, size_t head_len)
{
    wsguard_forget(fd);
    struct guard *g = take(fd);
    if (g)
        g->skip = head_len;
}

void wsguard_watch_tls(int fd, const char *client)
{
    wsguard_forget(fd);
    struct guard *g = take(fd);
    if (g) {
        g->client = client ? strdup(client) : NULL;
        g->tls = 1;
        g->in_head = 1;
        ntls++;
    }
}

/* Frames are tracked from the next byte read: the head's end was not
 * found, or tracking stopped while the connection was still HTTP. */
static void track_from_here(struct guard *g)
{
    wstrack_free(&g->t);
    wstrack_init(&g->t, max_msg);
    free(g->head);
    g->head = NULL;
    g->head_len = 0;
    g->skip = 0;
    g->in_head = 0;
    g->off = 0;
}

char *wsguard_take_head(int fd, size_t *len)
{
    struct guard *g = slot(fd);
    if (!g || !g->tls || g->in_head || !g->head)
        return NULL;
    char *h = g->head;
    *len = g->head_len;
    g->head = NULL;
    g->head_len = 0;
    return h;
}

void wsguard_established(int fd, struct lws *wsi)
{
    struct guard *g = slot(fd);
    if (!g && !(g = take(fd)))
        return;
    /* Tracking stopped on HTTP keep-alive before this upgrade, or the head
     * was too long to follow: the next byte starts a frame (RFC 6455 4.1:
     * no frame before the handshake answer). */
    if (g->off || g->in_head)
        track_from_here(g);
    g->wsi = wsi;
    g->ws = 1;
}

void wsguard_fail(int fd, int code, const char *why)
{
    struct guard *g = slot(fd);
    if (g && g->ws && !g->t.fail) {
        g->t.fail = code;
        g->t.why = why;
        g->reported = 1; /* the caller closes it: not a job for the writable callback */
    }
}

int wsguard_closing(int fd)
{
    struct guard *g = slot(fd);
    return g && (g->t.fail || g->closed_out);
}

int wsguard_failed(int fd, const char **why)
{
    struct guard *g = slot(fd);
    if (!g || !g->t.fail || g->reported)
        return 0;
    *why = g->t.why;
    g->reported = 1;
    return g->t.fail;
}

/* The n frame bytes a read got on a watched connection (after the request
 * head): how many of them lws may have, from the start. Fewer than n when
 * a frame breaks a rule: the rest are withheld, and the writable callback
 * closes the client. Both read paths (recv, SSL_read) come through here. */
static size_t frames_in(struct guard *g, const uint8_t *p, size_t n)
{
    size_t ok = wstrack_feed(&g->t, p, n);
    if (!g->t.fail)
        return n;
    if (!g->ws) {
        /* Not (yet) a WebSocket: HTTP keep-alive, or frames pipelined before
         * the handshake answer. Stop watching rather than misjudge. */
        wstrack_free(&g->t);
        g->t.fail = 0;
        g->off = 1;
        return n;
    }
    lws_callback_on_writable(g->wsi);
    return ok;
}

/* What lws wrote to a watched connection went out (n of len bytes). */
static void frames_out(struct guard *g, int fd, const uint8_t *b, ssize_t n, size_t len)
{
    if (!g->ws || n <= 0)
        return;
    /* A close frame with a failure code went out whole: fail the connection
     * (RFC 6455 7.1.7) rather than wait up to 5 s for an acknowledgement.
     * ws://: the read side is shut, recv() then says EOF and lws closes at
     * once. wss://: a close while the client still sends makes the kernel
     * answer with a reset, which cost the client the close frame in flight
     * (case 9.1.2 over TLS, 8 runs in 10: a TLS client writes its 128 KiB
     * more slowly); so the write side is shut instead (the close frame,
     * then FIN) and SSL_read drops what the client still sends until it
     * ends its side (lws' close-ack timeout bounds one that never does). */
    if (b[0] == 0x88)
        g->closed_out = 1;
    if ((size_t)n == len && len >= 4 && b[0] == 0x88 && b[1] < 126) {
        unsigned code = (unsigned)(b[2] << 8 | b[3]);
        if (code != 1000 && code != 1001) {
            g->close_sent = 1;
            shutdown(fd, g->tls ? SHUT_WR : SHUT_RD);
        }
    }
}

/* ---- ws:// ---- */

/* The definitions lws's calls resolve to (see wsguard.h). Both go straight
 * to the kernel; only watched sockets are looked at. */
ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    ssize_t n = syscall(SYS_recvfrom, fd, buf, len, flags, NULL, NULL);
    struct guard *g = slot(fd);
    if (!g || g->off || g->tls || (flags & MSG_PEEK))
        return n;
    if (g->close_sent)
        return 0; /* our failing close is out: lws may end the connection now */
    if (g->t.fail) {
        errno = EAGAIN; /* the bytes after a violation are not lws's to parse */
        return -1;
    }
    if (n <= 0)
        return n;
    const uint8_t *p = buf;
    size_t have = (size_t)n, head = 0;
    if (g->skip) {
        head = have < g->skip ? have : g->skip;
        g->skip -= head;
        have -= head;
    }
    size_t ok = head + frames_in(g, p + head, have);
    if (ok == (size_t)n)
        return n;
    if (ok == 0) {
        errno = EAGAIN;
        return -1;
    }
    return (ssize_t)ok;
}

ssize_t wsguard_send_data(int fd, const void *buf, size_t len)
{
    return sendto(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT, NULL, 0);
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    ssize_t n = syscall(SYS_sendto, fd, buf, len, flags, NULL, 0);
    struct guard *g = slot(fd);
    if (g && !g->tls)
        frames_out(g, fd, buf, n, len);
    return n;
}

/* ---- wss:// ---- */

/* OpenSSL's own, behind ours. Also found lazily: a test program that links
 * this file may call SSL_read without a gateway. */
static int resolve(void)
{
    if (!real_ssl_read)
        real_ssl_read = (int (*)(SSL *, void *, int))dlsym(RTLD_NEXT, "SSL_read");
    if (!real_ssl_write)
        real_ssl_write = (int (*)(SSL *, const void *, int))dlsym(RTLD_NEXT, "SSL_write");
    return real_ssl_read && real_ssl_write ? 0 : -1;
}

int wsguard_tls_ready(char *err, size_t cap)
{
    if (resolve() < 0) {
        snprintf(err, cap, "OpenSSL's SSL_read/SSL_write not found behind the gateway's own");
        return -1;
    }
    /* lws (bound at load time, BIND_NOW) got what a global lookup finds:
     * ours only when this executable exports it ahead of libssl. */
    if (dlsym(RTLD_DEFAULT, "SSL_read") != (void *)SSL_read || dlsym(RTLD_DEFAULT, "SSL_write") != (void *)SSL_write) {
        snprintf(err, cap, "SSL_read/SSL_write of the gateway do not take precedence over libssl's: "
                           "the wss frame checks would be silently missing");
        return -1;
    }
    return 0;
}

/* The wss guard of ssl's socket, or NULL (not a watched client). */
static struct guard *tls_guard(SSL *ssl)
{
    if (!ntls)
        return NULL;
    struct guard *g = slot(SSL_get_fd(ssl));
    return g && g->tls ? g : NULL;
}

/* A bad WebSocket handshake over wss: answered here, as listen.c answers
 * one over ws:// (the head is inside TLS, out of the pre-read's sight). */
static void refuse_head(struct guard *g, SSL *ssl, int status, const char *why)
{
    char peer[64], resp[320];
    uint16_t port;
    sock_peer(SSL_get_fd(ssl), peer, sizeof peer, &port);
    log_warn("client %s: bad WebSocket handshake (%s); answered %d", g->client ? g->client : peer, why, status);
    size_t n = wshead_response(status, resp, sizeof resp);
    if (real_ssl_write(ssl, resp, (int)n) != (int)n)
        log_info("bad handshake answer not sent");
    SSL_shutdown(ssl); /* close_notify: the answer is complete */
    g->off = 1;
}

/* wss: n decrypted bytes at the start of the stream, while the request head
 * arrives. Returns how many belong to the head (frames may follow them), or
 * -1 when the head was a bad handshake, answered. */
static ssize_t head_in(struct guard *g, SSL *ssl, const uint8_t *p, size_t n)
{
    size_t old = g->head_len, k = n < HEAD_MAX - old ? n : HEAD_MAX - old;
    char *h = realloc(g->head, old + k + 1);
    if (!h) {
        track_from_here(g);
        g->off = 1; /* out of memory: lws' own checks apply */
        return (ssize_t)n;
    }
    memcpy(h + old, p, k);
    g->head = h;
    g->head_len = old + k;
    size_t from = old > 3 ? old - 3 : 0; /* CRLFCRLF may straddle two reads */
    size_t hl = wsconnect_head_len(h + from, g->head_len - from);
    if (!hl) {
        if (g->head_len == HEAD_MAX) {
            track_from_here(g); /* tracked from the handshake on (wsguard_established) */
            g->off = 1;
        }
        return (ssize_t)n;
    }
    hl += from;
    char why[96];
    int status = wshead_check(h, hl, why, sizeof why);
    int upgrade = wshead_upgrade(h, hl);
    g->in_head = 0;
    if (status || !upgrade) {
        free(g->head);
        g->head = NULL;
        g->head_len = 0;
    } else
        g->head_len = hl; /* kept for the connect event (wsguard_take_head) */
    if (status) {
        refuse_head(g, ssl, status, why);
        return -1;
    }
    if (!upgrade)
        g->off = 1; /* plain HTTP over TLS: lws's */
    return (ssize_t)(hl - old);
}

/* After a violation nothing more is lws's to parse: what OpenSSL holds and
 * the socket has is read and dropped, so lws sees "want read" (or the end
 * of the connection) until the close frame goes out. */
static int drain(SSL *ssl)
{
    uint8_t sink[4096];
    size_t total = 0;
    int r;
    while ((r = real_ssl_read(ssl, sink, sizeof sink)) > 0)
        if ((total += (size_t)r) >= DRAIN_MAX)
            return -1; /* a flood: lws ends the connection */
    return r;
}

int SSL_read(SSL *ssl, void *buf, int num)
{
    if (!real_ssl_read && resolve() < 0)
        abort(); /* no libssl behind us: nothing can be read */
    struct guard *g = tls_guard(ssl);
    if (!g || g->off)
        return real_ssl_read(ssl, buf, num);
    if (g->t.fail || g->close_sent)
        return drain(ssl); /* 0 once the client ended its side: lws closes */
    int n = real_ssl_read(ssl, buf, num);
    if (n <= 0)
        return n;
    const uint8_t *p = buf;
    size_t head = 0;
    if (g->in_head) {
        ssize_t h = head_in(g, ssl, p, (size_t)n);
        if (h < 0)
            return 0; /* answered and shut: lws closes it */
        if (g->in_head || g->off)
            return n;
        head = (size_t)h;
    }
    size_t ok = head + frames_in(g, p + head, (size_t)n - head);
    if (ok == (size_t)n)
        return n;
    return ok ? (int)ok : drain(ssl);
}

int SSL_write(SSL *ssl, const void *buf, int num)
{
    if (!real_ssl_write && resolve() < 0)
        abort();
    int n = real_ssl_write(ssl, buf, num);
    struct guard *g = tls_guard(ssl);
    if (g && num > 0)
        frames_out(g, SSL_get_fd(ssl), buf, n, (size_t)num);
    return n;
}
