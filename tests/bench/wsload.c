/* wsload: a WebSocket load generator for the gateway benchmark (issue 5).
 *
 * epoll, non-blocking, one process per worker (each worker holds at most
 * --per-proc connections: a process may have 20,000 open files here), client
 * sockets spread over the source addresses 127.0.0.<src-first ...> with
 * IP_BIND_ADDRESS_NO_PORT so each address has its own ephemeral port range.
 * RFC 6455 client side: masked frames, Sec-WebSocket-Accept checked,
 * fragmentation, ping -> pong, close answered.
 *
 * Modes (contract of apps/echo: `echo:X` -> `echo:X` back, `all:X` -> `all:X`
 * to everyone, `join:G` -> `joined:G`, `group:G:X` -> `group:G:X` to group G;
 * the whole text comes back, on_message skips the command):
 *   idle       connect N, hold --hold seconds
 *   echo       N clients, --inflight k each, `echo:e,<id>,<seq>,<t>`
 *   broadcast  N clients, client 0 also sends `all:b,<seq>,<t>`; --rate=R per
 *              second, or 0: the next one when every client got the last
 *   group      N = groups * group-size; member 0 of each group sends
 *              `group:G:g,<grp>,<seq>,<t>` with --inflight k
 *   storm      connect N, then --rounds times: everyone drops and reconnects
 *              (--backoff=S: each after S seconds +-50 % at random, doubling
 *              after a failure, as the lottery pages do; else --max-pending
 *              at a time)
 *   churn      N handshakes, each connection closed as soon as it is open
 *              (--max-pending at a time): the cost of one handshake
 *
 * --tls=1: wss (OpenSSL, non-blocking handshakes, no SNI, no certificate
 * check); --resume=1 offers each connection's last TLS session again (churn:
 * the worker's last one); --tls-only=1: a connection is open once TLS is up,
 * no WebSocket upgrade (to measure a bare `openssl s_server` with churn).
 *
 * Everything is bounded: each phase has a deadline, the process stops by itself.
 * The parent samples the server processes (--gw-pids: memory and CPU,
 * --other-pids: CPU only) from /proc and prints one flat JSON object. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum mode { M_IDLE, M_ECHO, M_BCAST, M_GROUP, M_STORM, M_CHURN };
static const char *mode_names[] = {"idle", "echo", "broadcast", "group", "storm", "churn"};
#define NMODES 6

#define MAX_PROCS 64
#define MAX_PIDS 32
#define MAX_ROUNDS 16
#define MAX_PHASES (3 + MAX_ROUNDS)
#define NB 1280 /* histogram buckets, see hist_idx */

struct opts {
    enum mode mode;
    char host[64];
    int port;
    long conns, procs, per_proc;
    int src_first, src_count;
    double hold, duration, warmup, connect_timeout, settle, drain;
    long inflight, msgs, size, groups, group_size, rounds, max_pending;
    double rate, backoff;
    int tls, resume, tls_only;
    int gw_pids[MAX_PIDS], ngw, other_pids[MAX_PIDS], nother;
    char label[128];
    char json[512];
    char ciphersuites[256]; /* TLS 1.3 suites offered, in order */
};
static struct opts O = {
    .mode = M_IDLE, .host = "127.0.0.1", .port = 1240, .conns = 1000, .procs = 0, .per_proc = 19000,
    .src_first = 2, .src_count = 8, .hold = 5, .duration = 10, .warmup = 2, .connect_timeout = 120,
    .settle = 1.0, .drain = 5, .inflight = 1, .msgs = 100, .size = 0, .groups = 100, .group_size = 100,
    .rounds = 3, .max_pending = 256, .rate = 0,
    /* AES-128/SHA-256 first, as Chrome, Safari and Firefox offer on hardware
     * with AES instructions (phones included), so the server negotiates
     * what it negotiates with browsers. OpenSSL's own client default puts
     * AES-256/SHA-384 first (interleaved A/B on the gateway, 4 rounds: no
     * difference in gateway CPU per handshake beyond the noise). */
    .ciphersuites = "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384",
};

/* ---- shared between the parent and the workers (MAP_SHARED, before fork) ---- */

struct wres {
    _Atomic int done;                /* phases finished */
    int64_t n, connected, failed, hs_fail, server_closed, unexpected, joined;
    int64_t t_first, t_last;         /* last handshake done, ns */
    int64_t conn0, t_last0;          /* connected, last handshake: at the end of the connect phase */
    double cpu[MAX_PHASES];          /* this worker's user+sys seconds per phase */
    int64_t sent, recv, recv_win, lost, ooo, dup;
    int64_t round_back[MAX_ROUNDS], round_failed[MAX_ROUNDS], round_resumed[MAX_ROUNDS];
    int64_t tls_done, resumed, resumed0, retries; /* TLS handshakes done, of them resumed; resumed at the end of phase 0 */
    uint64_t hist[NB];               /* message latency, µs */
    uint64_t chist[NB];              /* connect (TCP + handshake) latency, µs */
};

struct shm {
    _Atomic int64_t go[MAX_PHASES];  /* phase start times (CLOCK_MONOTONIC ns), 0 = not yet */
    _Atomic int64_t run_end, measure_from;
    _Atomic int abort;
    _Atomic int64_t bc_total, bc_done_ns, bc_sent;
    struct wres w[MAX_PROCS];
    _Atomic int64_t group_sent[]; /* per group, then bc_got[msgs] after it */
};
static struct shm *S;
static _Atomic uint32_t *bc_got;
static int bc_efd = -1;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double cpu_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("wsload: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* ---- histogram: exact below 64 µs, then 32 sub-buckets per octave (~3 %) ---- */

static int hist_idx(uint64_t v)
{
    if (v < 64)
        return (int)v;
    int e = 63 - __builtin_clzll(v);
    int i = 64 + (e - 6) * 32 + (int)((v >> (e - 5)) & 31);
    return i < NB ? i : NB - 1;
}

static double hist_val(int i)
{
    if (i < 64)
        return i;
    int e = (i - 64) / 32 + 6, sub = (i - 64) % 32;
    double lo = (double)(1ULL << e) + (double)sub * (double)(1ULL << (e - 5));
    return lo + (double)(1ULL << (e - 5)) / 2;
}

static double hist_pct(const uint64_t *h, double p)
{
    uint64_t tot = 0, acc = 0;
    for (int i = 0; i < NB; i++)
        tot += h[i];
    if (!tot)
        return -1;
    uint64_t want = (uint64_t)(p * (double)tot);
    if (want >= tot)
        want = tot - 1;
    for (int i = 0; i < NB; i++) {
        acc += h[i];
        if (acc > want)
            return hist_val(i);
    }
    return -1;
}

/* ---- growable byte buffers, allocated only while a connection holds bytes ---- */

struct dbuf {
    size_t len, cap;
    uint8_t d[];
};

static void dbuf_append(struct dbuf **pb, const void *p, size_t n)
{
    struct dbuf *b = *pb;
    size_t len = b ? b->len : 0;
    if (!b || len + n > b->cap) {
        size_t cap = b ? b->cap : 0;
        if (cap < 256)
            cap = 256;
        while (cap < len + n)
            cap *= 2;
        b = realloc(b, sizeof *b + cap);
        if (!b)
            die("out of memory");
        b->cap = cap;
        b->len = len;
        *pb = b;
    }
    memcpy(b->d + b->len, p, n);
    b->len += n;
}

static void dbuf_consume(struct dbuf **pb, size_t n)
{
    struct dbuf *b = *pb;
    if (n >= b->len) {
        free(b);
        *pb = NULL;
        return;
    }
    memmove(b->d, b->d + n, b->len - n);
    b->len -= n;
}

/* ---- connections ---- */

enum { ST_FREE, ST_CONNECTING, ST_TLS, ST_HANDSHAKE, ST_OPEN };

struct conn {
    int fd;
    uint8_t st, want_out, attempt;
    SSL *ssl;                  /* --tls: the connection's TLS state */
    SSL_SESSION *sess;         /* --tls: the last session the server gave us (a ticket) */
    int64_t t_next;            /* storm with --backoff: when to reconnect */
    uint8_t key[16];
    uint32_t gid, group;
    uint32_t inflight;
    uint64_t tx_seq, rx_seq, rx_count;
    int64_t t_start;
    struct dbuf *in, *out, *frag;
};

static struct {
    int idx, ep;
    long n, base;
    struct conn *c;
    long open, pending, next_connect; /* next index to (re)connect */
    struct wres *r;
    uint64_t rng;
    int64_t measure_from, stop_send;
    int round;
    int backoff_on;           /* a storm round with --backoff is under way */
    SSL_CTX *tls;
    SSL_SESSION *last_sess;   /* churn --resume: the worker's newest session */
    uint8_t rbuf[1 << 16];
} W;

static uint64_t rnd(void)
{
    W.rng ^= W.rng << 13;
    W.rng ^= W.rng >> 7;
    W.rng ^= W.rng << 17;
    return W.rng;
}

static double rnd01(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

static void ep_mod(struct conn *c, int out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.u32 = (uint32_t)(c - W.c)};
    c->want_out = (uint8_t)out;
    epoll_ctl(W.ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* read()/write() over TCP or TLS: > 0 bytes, 0 end of stream, -1 with
 * errno EAGAIN (try again on the next event) or another error. */
static ssize_t io_ret(struct conn *c, int r)
{
    if (r > 0)
        return r;
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        ERR_clear_error();
        errno = ECONNRESET;
        return -1;
    }
}

static ssize_t io_read(struct conn *c, void *p, size_t n)
{
    if (!c->ssl)
        return read(c->fd, p, n);
    return io_ret(c, SSL_read(c->ssl, p, (int)(n > INT32_MAX ? INT32_MAX : n)));
}

static ssize_t io_write(struct conn *c, const void *p, size_t n)
{
    if (!c->ssl)
        return write(c->fd, p, n);
    return io_ret(c, SSL_write(c->ssl, p, (int)(n > INT32_MAX ? INT32_MAX : n)));
}

static void conn_close(struct conn *c, int by_server)
{
    if (c->st == ST_FREE)
        return;
    if (c->st == ST_OPEN)
        W.open--;
    else
        W.pending--;
    if (by_server && c->st == ST_OPEN)
        W.r->server_closed++;
    if (c->ssl) {
        /* A dropped connection, not a TLS close: nothing more is sent, and
         * marking it shut keeps OpenSSL from invalidating its session. */
        SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    close(c->fd);
    c->fd = -1;
    c->st = ST_FREE;
    free(c->in);
    free(c->out);
    free(c->frag);
    c->in = c->out = c->frag = NULL;
}

static double rnd01(void);

/* The lottery pages' reconnect delay: 0.5 s doubling to 15 s, +-50 % at random. */
static int64_t backoff_delay(int attempt)
{
    double base = O.backoff * (double)(1 << (attempt < 5 ? attempt : 5));
    if (base > 15)
        base = 15;
    return (int64_t)(base * (0.5 + rnd01()) * 1e9);
}

static void conn_fail(struct conn *c)
{
    conn_close(c, 0);
    if (W.backoff_on) { /* tries again later, like a phone: a failure only if still out at the deadline */
        W.r->retries++;
        c->t_next = now_ns() + backoff_delay(++c->attempt);
        return;
    }
    W.r->failed++;
}

static void conn_write(struct conn *c, const void *p, size_t n)
{
    if (c->st == ST_FREE)
        return;
    if (!c->out) {
        ssize_t w = io_write(c, p, n);
        if (w == (ssize_t)n)
            return;
        if (w < 0) {
            if (errno != EAGAIN) {
                conn_close(c, 1);
                return;
            }
            w = 0;
        }
        p = (const uint8_t *)p + w;
        n -= (size_t)w;
    }
    dbuf_append(&c->out, p, n);
    if (!c->want_out)
        ep_mod(c, 1);
}

static void flush_out(struct conn *c)
{
    while (c->out) {
        ssize_t w = io_write(c, c->out->d, c->out->len);
        if (w < 0) {
            if (errno == EAGAIN)
                return;
            conn_close(c, 1);
            return;
        }
        dbuf_consume(&c->out, (size_t)w);
    }
    ep_mod(c, 0);
}

/* Sends one masked frame (RFC 6455 §5.3: every client frame is masked). */
static void send_frame(struct conn *c, int opcode, const void *payload, size_t n)
{
    uint8_t stackbuf[512];
    uint8_t *f = n + 14 <= sizeof stackbuf ? stackbuf : malloc(n + 14);
    if (!f)
        die("out of memory");
    size_t h = 0;
    f[h++] = (uint8_t)(0x80 | opcode);
    if (n < 126) {
        f[h++] = (uint8_t)(0x80 | n);
    } else if (n < 65536) {
        f[h++] = 0x80 | 126;
        f[h++] = (uint8_t)(n >> 8);
        f[h++] = (uint8_t)n;
    } else {
        f[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            f[h++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    uint32_t m32 = (uint32_t)rnd();
    uint8_t mask[4];
    memcpy(mask, &m32, 4);
    memcpy(f + h, mask, 4);
    h += 4;
    const uint8_t *p = payload;
    for (size_t i = 0; i < n; i++)
        f[h + i] = p[i] ^ mask[i & 3];
    conn_write(c, f, h + n);
    if (f != stackbuf)
        free(f);
}

static void send_text(struct conn *c, const char *fmt, ...)
{
    char msg[65600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, 512, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= 512)
        return;
    if (O.size > n && O.size < (long)sizeof msg) { /* pad after a comma: the parsers stop there */
        msg[n++] = ',';
        memset(msg + n, 'x', (size_t)O.size - (size_t)n);
        n = (int)O.size;
    }
    send_frame(c, 1, msg, (size_t)n);
    W.r->sent++;
}

static void accept_for(const uint8_t key[16], char out[29])
{
    char k64[25], cat[25 + 36];
    EVP_EncodeBlock((unsigned char *)k64, key, 16);
    snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", k64);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(cat, strlen(cat), md, &mdlen, EVP_sha1(), NULL);
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
}

static int conn_start(struct conn *c)
{
    c->t_start = now_ns();
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        W.r->failed++;
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl((127u << 24) | (uint32_t)(O.src_first + (int)(c->gid % (uint32_t)O.src_count)));
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)O.port)};
    inet_pton(AF_INET, O.host, &dst.sin_addr);
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0 ||
        (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS)) {
        close(fd);
        W.r->failed++;
        return -1;
    }
    c->fd = fd;
    c->st = ST_CONNECTING;
    c->rx_seq = c->rx_count = 0;
    W.pending++;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)(c - W.c)};
    c->want_out = 1;
    epoll_ctl(W.ep, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static void on_open(struct conn *c);
static void send_upgrade(struct conn *c);

/* One step of the TLS handshake; the upgrade request once it is done. */
static void tls_step(struct conn *c)
{
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        W.r->tls_done++;
        if (SSL_session_reused(c->ssl))
            W.r->resumed++;
        if (O.tls_only) {
            c->st = ST_OPEN;
            W.pending--;
            W.open++;
            ep_mod(c, 0);
            on_open(c);
            return;
        }
        send_upgrade(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        if (c->want_out != (e == SSL_ERROR_WANT_WRITE))
            ep_mod(c, e == SSL_ERROR_WANT_WRITE);
        return;
    }
    ERR_clear_error();
    W.r->hs_fail++;
    conn_fail(c);
}

/* OpenSSL hands over each session ticket the server sends (TLS 1.3: after
 * the handshake, with the first data); the connection keeps the newest. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct conn *c = SSL_get_app_data(ssl);
    if (!c)
        return 0;
    if (c->sess)
        SSL_SESSION_free(c->sess);
    c->sess = sess;
    if (O.mode == M_CHURN) { /* kept aside, never offered itself (see on_connected_tcp) */
        SSL_SESSION *copy = SSL_SESSION_dup(sess);
        if (copy) {
            if (W.last_sess)
                SSL_SESSION_free(W.last_sess);
            W.last_sess = copy;
        }
    }
    return 1; /* we keep the reference */
}

static void on_connected_tcp(struct conn *c)
{
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) {
        conn_fail(c);
        return;
    }
    if (O.tls) {
        c->ssl = SSL_new(W.tls);
        if (!c->ssl || !SSL_set_fd(c->ssl, c->fd))
            die("SSL_new failed");
        SSL_set_app_data(c->ssl, c);
        SSL_set_connect_state(c->ssl);
        if (O.resume && O.mode == M_CHURN && W.last_sess) {
            /* OpenSSL offers a TLS 1.3 session once; connections in flight
             * together each get a copy of the newest one, so every churn
             * handshake after the first few is a resumption. */
            SSL_SESSION *copy = SSL_SESSION_dup(W.last_sess);
            if (copy) {
                SSL_set_session(c->ssl, copy);
                SSL_SESSION_free(copy);
            }
        } else if (O.resume && c->sess) {
            SSL_set_session(c->ssl, c->sess);
        }
        c->st = ST_TLS;
        tls_step(c);
        return;
    }
    send_upgrade(c);
}

static void send_upgrade(struct conn *c)
{
    for (int i = 0; i < 16; i += 8) {
        uint64_t r = rnd();
        memcpy(c->key + i, &r, 8);
    }
    char k64[25], req[512];
    EVP_EncodeBlock((unsigned char *)k64, c->key, 16);
    int n = snprintf(req, sizeof req,
                     "GET /?bench=%u HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     c->gid, O.host, O.port, k64);
    c->st = ST_HANDSHAKE;
    ep_mod(c, 0);
    conn_write(c, req, (size_t)n);
}

/* ---- what arrives ---- */

static int parse_u64s(const uint8_t *p, size_t n, uint64_t *v, int want)
{
    int k = 0;
    size_t i = 0;
    while (k < want && i < n) {
        uint64_t x = 0;
        size_t st = i;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            x = x * 10 + (uint64_t)(p[i++] - '0');
        if (i == st)
            return k;
        v[k++] = x;
        if (i < n && p[i] == ',')
            i++;
        else
            break;
    }
    return k;
}

/* Latency of what was sent from measure_from on; throughput of what arrived
 * between measure_from and the end of the run (the window the parent samples
 * the servers' CPU over). */
static void record_latency(int64_t t_sent, int64_t now)
{
    if (!W.measure_from)
        return;
    if (t_sent >= W.measure_from)
        W.r->hist[hist_idx((uint64_t)(now - t_sent) / 1000)]++;
    if (now >= W.measure_from && now < W.stop_send)
        W.r->recv_win++;
}

static void send_echo(struct conn *c)
{
    send_text(c, "echo:e,%u,%" PRIu64 ",%" PRId64, c->gid, c->tx_seq++, now_ns());
    c->inflight++;
}

static void send_group(struct conn *c)
{
    send_text(c, "group:g%u:g,%u,%" PRIu64 ",%" PRId64, c->group, c->group, c->tx_seq++, now_ns());
    c->inflight++;
}

static void on_message(struct conn *c, const uint8_t *p, size_t n)
{
    int64_t now = now_ns();
    uint64_t v[3];
    W.r->recv++;
    /* apps/echo sends the whole text back (`echo:X`, `all:X`, `group:G:X`):
     * skip the command to reach what we sent after it. */
    if (n > 5 && memcmp(p, "echo:", 5) == 0) {
        p += 5, n -= 5;
    } else if (n > 4 && memcmp(p, "all:", 4) == 0) {
        p += 4, n -= 4;
    } else if (n > 6 && memcmp(p, "group:", 6) == 0) {
        const uint8_t *colon = memchr(p + 6, ':', n - 6);
        if (colon) {
            n -= (size_t)(colon + 1 - p);
            p = colon + 1;
        }
    }
    if (n > 2 && p[0] == 'e' && p[1] == ',' && parse_u64s(p + 2, n - 2, v, 3) == 3) {
        if (v[0] != c->gid) {
            W.r->unexpected++;
            return;
        }
        if (v[1] != c->rx_seq)
            W.r->ooo++;
        c->rx_seq = v[1] + 1;
        c->rx_count++;
        record_latency((int64_t)v[2], now);
        if (c->inflight)
            c->inflight--;
        if (now < W.stop_send)
            send_echo(c);
    } else if (n > 2 && p[0] == 'b' && p[1] == ',' && parse_u64s(p + 2, n - 2, v, 2) == 2) {
        if (v[0] < c->rx_seq)
            W.r->dup++;
        else if (v[0] != c->rx_seq)
            W.r->ooo++;
        c->rx_seq = v[0] + 1;
        c->rx_count++;
        record_latency((int64_t)v[1], now);
        if ((long)v[0] < O.msgs) {
            uint32_t got = atomic_fetch_add(&bc_got[v[0]], 1) + 1;
            if (got == (uint32_t)O.conns) {
                uint64_t one = 1;
                if (write(bc_efd, &one, sizeof one) < 0)
                    W.r->unexpected++;
            }
            if (atomic_fetch_add(&S->bc_total, 1) + 1 == (int64_t)O.conns * O.msgs)
                atomic_store(&S->bc_done_ns, now);
        }
    } else if (n > 2 && p[0] == 'g' && p[1] == ',' && parse_u64s(p + 2, n - 2, v, 3) == 3) {
        if (v[0] != c->group) {
            W.r->unexpected++;
            return;
        }
        if (v[1] != c->rx_seq)
            W.r->ooo++;
        c->rx_seq = v[1] + 1;
        c->rx_count++;
        record_latency((int64_t)v[2], now);
        if (c->gid % (uint32_t)O.group_size == 0) { /* the group's sender got its own copy back */
            if (c->inflight)
                c->inflight--;
            if (now < W.stop_send)
                send_group(c);
        }
    } else if (n > 7 && memcmp(p, "joined:", 7) == 0) {
        W.r->joined++;
        W.r->recv--;
    } else {
        W.r->unexpected++;
        W.r->recv--;
    }
}

/* Parses server frames from p; returns bytes consumed, or -1 when c was closed. */
static long parse_frames(struct conn *c, const uint8_t *p, size_t n)
{
    size_t off = 0;
    while (n - off >= 2) {
        const uint8_t *f = p + off;
        int fin = f[0] & 0x80, op = f[0] & 0x0f;
        if (f[1] & 0x80 || (f[0] & 0x70)) { /* servers never mask; no extensions negotiated */
            W.r->unexpected++;
            conn_close(c, 1);
            return -1;
        }
        uint64_t len = f[1] & 0x7f;
        size_t h = 2;
        if (len == 126) {
            if (n - off < 4)
                break;
            len = (uint64_t)f[2] << 8 | f[3];
            h = 4;
        } else if (len == 127) {
            if (n - off < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | f[2 + i];
            h = 10;
        }
        if (len > (64u << 20)) {
            conn_close(c, 1);
            return -1;
        }
        if (n - off - h < len)
            break;
        const uint8_t *pl = f + h;
        off += h + (size_t)len;
        switch (op) {
        case 0x0: case 0x1: case 0x2:
            if (!fin || c->frag) {
                dbuf_append(&c->frag, pl, (size_t)len);
                if (fin) {
                    struct dbuf *m = c->frag;
                    c->frag = NULL;
                    on_message(c, m->d, m->len);
                    free(m);
                }
            } else {
                on_message(c, pl, (size_t)len);
            }
            break;
        case 0x8:
            send_frame(c, 0x8, pl, len >= 2 ? 2 : 0);
            conn_close(c, 1);
            return -1;
        case 0x9:
            send_frame(c, 0xA, pl, (size_t)len);
            break;
        default:
            break;
        }
        if (c->st == ST_FREE)
            return -1;
    }
    return (long)off;
}

/* Checks the 101 response; returns header length, 0 if incomplete, -1 if bad. */
static long parse_handshake(struct conn *c, const uint8_t *p, size_t n)
{
    const uint8_t *end = memmem(p, n, "\r\n\r\n", 4);
    if (!end)
        return n > 8192 ? -1 : 0;
    size_t hl = (size_t)(end - p) + 4;
    if (hl < 12 || memcmp(p, "HTTP/1.1 101", 12) != 0)
        return -1;
    char want[29];
    accept_for(c->key, want);
    const char *q = (const char *)p;
    int ok = 0;
    for (size_t i = 0; i + 21 < hl; i++) {
        if ((i == 0 || q[i - 1] == '\n') && strncasecmp(q + i, "sec-websocket-accept:", 21) == 0) {
            size_t j = i + 21;
            while (j < hl && (q[j] == ' ' || q[j] == '\t'))
                j++;
            ok = hl - j >= 28 && memcmp(q + j, want, 28) == 0 && (q[j + 28] == '\r' || q[j + 28] == ' ');
            break;
        }
    }
    return ok ? (long)hl : -1;
}

static void conn_input(struct conn *c, const uint8_t *p, size_t n)
{
    if (c->in) {
        dbuf_append(&c->in, p, n);
        p = c->in->d;
        n = c->in->len;
    }
    size_t off = 0;
    if (c->st == ST_HANDSHAKE) {
        long hl = parse_handshake(c, p, n);
        if (hl < 0) {
            W.r->hs_fail++;
            conn_fail(c);
            return;
        }
        if (hl == 0)
            goto keep;
        off = (size_t)hl;
        c->st = ST_OPEN;
        W.pending--;
        W.open++;
        on_open(c);
        if (c->st == ST_FREE)
            return;
    }
    long used = parse_frames(c, p + off, n - off);
    if (used < 0)
        return;
    off += (size_t)used;
keep:
    if (c->in) {
        dbuf_consume(&c->in, off);
    } else if (off < n) {
        dbuf_append(&c->in, p + off, n - off);
    }
}

static void on_event(uint32_t idx, uint32_t evs)
{
    if (idx == UINT32_MAX) { /* bc_efd: every client got a broadcast */
        uint64_t v;
        if (read(bc_efd, &v, sizeof v) < 0)
            return;
        return;
    }
    struct conn *c = &W.c[idx];
    if (c->st == ST_FREE)
        return;
    if (c->st == ST_CONNECTING) {
        if (evs & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            on_connected_tcp(c);
        return;
    }
    if (c->st == ST_TLS) {
        tls_step(c);
        return;
    }
    if ((evs & EPOLLOUT) && c->out)
        flush_out(c);
    if (c->st == ST_FREE)
        return;
    if (evs & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        /* TLS hands out one record per read and may hold more already
         * taken from the socket: read until it says there is nothing. */
        for (int k = 0; k < (c->ssl ? 64 : 4); k++) {
            ssize_t r = io_read(c, W.rbuf, sizeof W.rbuf);
            if (r > 0) {
                conn_input(c, W.rbuf, (size_t)r);
                if (c->st == ST_FREE || (!c->ssl && (size_t)r < sizeof W.rbuf))
                    return;
                continue;
            }
            if (r < 0 && errno == EAGAIN)
                return;
            if (c->st == ST_HANDSHAKE) {
                W.r->hs_fail++;
                conn_fail(c);
            } else {
                conn_close(c, 1);
            }
            return;
        }
    }
}

/* Runs the loop for at most ms milliseconds. */
static void pump(int ms)
{
    struct epoll_event evs[1024];
    int n = epoll_wait(W.ep, evs, 1024, ms < 0 ? 0 : ms);
    for (int i = 0; i < n; i++)
        on_event(evs[i].data.u32, evs[i].events);
}

/* ---- worker phases ---- */

static void on_open(struct conn *c)
{
    int64_t now = now_ns();
    W.r->connected++;
    W.r->t_last = now;
    W.r->chist[hist_idx((uint64_t)(now - c->t_start) / 1000)]++;
    if (O.mode == M_GROUP)
        send_text(c, "join:g%u", c->group), W.r->sent--;
    if (O.mode == M_CHURN) /* a handshake is all it was for */
        conn_close(c, 0);
}

static void wait_go(int phase)
{
    for (;;) {
        int64_t g = atomic_load(&S->go[phase]);
        int64_t now = now_ns();
        if (atomic_load(&S->abort))
            exit(1);
        if (g && now >= g)
            return;
        pump(g ? (int)((g - now) / 1000000) : 5);
    }
}

/* Opens every closed connection, keeping at most max_pending in flight. */
static void connect_all(int64_t deadline)
{
    W.next_connect = 0;
    while (now_ns() < deadline) {
        while (W.pending < O.max_pending && W.next_connect < W.n) {
            struct conn *c = &W.c[W.next_connect++];
            if (c->st != ST_FREE)
                continue;
            conn_start(c);
        }
        if (W.next_connect >= W.n && W.pending == 0)
            break;
        pump(10);
    }
    for (long i = 0; i < W.n; i++) /* whatever is still pending at the deadline failed */
        if (W.c[i].st == ST_CONNECTING || W.c[i].st == ST_TLS || W.c[i].st == ST_HANDSHAKE)
            conn_fail(&W.c[i]);
}

/* A storm round with --backoff: every connection comes back on its own
 * jittered timer from go on (no --max-pending: phones do not queue), and
 * tries again with a longer delay when it fails. */
static void reconnect_backoff(int64_t go, int64_t deadline)
{
    for (long i = 0; i < W.n; i++) {
        W.c[i].attempt = 0;
        W.c[i].t_next = go + backoff_delay(0);
    }
    W.backoff_on = 1;
    while (now_ns() < deadline) {
        int64_t now = now_ns(), next = INT64_MAX;
        long waiting = 0;
        for (long i = 0; i < W.n; i++) {
            struct conn *c = &W.c[i];
            if (c->st != ST_FREE)
                continue;
            if (c->t_next <= now) {
                if (conn_start(c) < 0) {
                    W.r->failed--; /* counted by conn_start: only a retry here */
                    W.r->retries++;
                    c->t_next = now + backoff_delay(++c->attempt);
                }
                else
                    continue;
            }
            next = c->t_next < next ? c->t_next : next;
            waiting++;
        }
        if (!waiting && W.pending == 0)
            break;
        int64_t ms = next == INT64_MAX ? 10 : (next - now) / 1000000;
        pump(ms > 10 ? 10 : (int)ms);
    }
    W.backoff_on = 0;
    for (long i = 0; i < W.n; i++)
        if (W.c[i].st == ST_CONNECTING || W.c[i].st == ST_TLS || W.c[i].st == ST_HANDSHAKE)
            conn_fail(&W.c[i]);
}

static void run_worker(void)
{
    W.r = &S->w[W.idx];
    W.r->n = W.n;
    W.ep = epoll_create1(EPOLL_CLOEXEC);
    W.rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)getpid() << 20) ^ (uint64_t)now_ns();
    W.c = calloc((size_t)W.n, sizeof *W.c);
    if (!W.c)
        die("out of memory");
    for (long i = 0; i < W.n; i++) {
        W.c[i].fd = -1;
        W.c[i].gid = (uint32_t)(W.base + i);
        W.c[i].group = (uint32_t)((W.base + i) / (O.group_size > 0 ? O.group_size : 1));
    }
    if (O.tls) {
        W.tls = SSL_CTX_new(TLS_client_method());
        if (!W.tls)
            die("SSL_CTX_new failed");
        SSL_CTX_set_verify(W.tls, SSL_VERIFY_NONE, NULL);
        if (!SSL_CTX_set_ciphersuites(W.tls, O.ciphersuites))
            die("--ciphersuites: no TLS 1.3 suite OpenSSL knows");
        /* partial, retried writes from our own out buffer; no idle buffers */
        SSL_CTX_set_mode(W.tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                    SSL_MODE_RELEASE_BUFFERS);
        SSL_CTX_set_session_cache_mode(W.tls, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(W.tls, on_new_session);
    }
    if (bc_efd >= 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
        epoll_ctl(W.ep, EPOLL_CTL_ADD, bc_efd, &ev);
    }

    /* phase 0: connect (and join, in group mode) */
    wait_go(0);
    double c0 = cpu_self();
    W.r->t_first = now_ns();
    int64_t deadline = W.r->t_first + (int64_t)(O.connect_timeout * 1e9);
    connect_all(deadline);
    if (O.mode == M_GROUP)
        while (W.r->joined < W.r->connected && now_ns() < deadline)
            pump(10);
    W.r->cpu[0] = cpu_self() - c0;
    W.r->conn0 = W.r->connected;
    W.r->t_last0 = W.r->t_last;
    W.r->resumed0 = W.r->resumed;
    atomic_store(&W.r->done, 1);

    /* phase 1: the scenario */
    wait_go(1);
    double c1 = cpu_self();
    int64_t end = atomic_load(&S->run_end);
    W.measure_from = atomic_load(&S->measure_from);
    W.stop_send = end;
    switch (O.mode) {
    case M_IDLE:
        while (now_ns() < end)
            pump(50);
        break;
    case M_ECHO:
        for (long i = 0; i < W.n; i++)
            for (long k = 0; k < O.inflight && W.c[i].st == ST_OPEN; k++)
                send_echo(&W.c[i]);
        while (now_ns() < end)
            pump(5);
        break;
    case M_GROUP:
        for (long i = 0; i < W.n; i++)
            if (W.c[i].gid % (uint32_t)O.group_size == 0)
                for (long k = 0; k < O.inflight && W.c[i].st == ST_OPEN; k++)
                    send_group(&W.c[i]);
        while (now_ns() < end)
            pump(5);
        for (long i = 0; i < W.n; i++)
            if (W.c[i].gid % (uint32_t)O.group_size == 0)
                atomic_store(&S->group_sent[W.c[i].group], (int64_t)W.c[i].tx_seq);
        break;
    case M_BCAST: {
        struct conn *snd = W.base == 0 && W.n ? &W.c[0] : NULL;
        int64_t t0 = now_ns();
        while (now_ns() < end && !atomic_load(&S->bc_done_ns)) {
            if (snd && snd->st == ST_OPEN && (long)snd->tx_seq < O.msgs) {
                int64_t now = now_ns();
                int ready = O.rate > 0 ? now >= t0 + (int64_t)((double)snd->tx_seq * 1e9 / O.rate)
                                       : snd->tx_seq == 0 || atomic_load(&bc_got[snd->tx_seq - 1]) >= (uint32_t)O.conns;
                if (ready) {
                    send_text(snd, "all:b,%" PRIu64 ",%" PRId64, snd->tx_seq++, now);
                    atomic_store(&S->bc_sent, (int64_t)snd->tx_seq);
                    continue;
                }
                int wait = O.rate > 0 ? (int)((t0 + (int64_t)((double)snd->tx_seq * 1e9 / O.rate) - now) / 1000000) : 5;
                pump(wait > 5 ? 5 : wait);
            } else {
                pump(5);
            }
        }
        break;
    }
    case M_STORM:
    case M_CHURN:
        break;
    }
    /* drain: wait for replies still on their way */
    if (O.mode == M_ECHO || O.mode == M_GROUP) {
        int64_t dl = now_ns() + (int64_t)(O.drain * 1e9);
        for (;;) {
            long in = 0;
            for (long i = 0; i < W.n; i++)
                in += W.c[i].st == ST_OPEN ? W.c[i].inflight : 0;
            if (!in || now_ns() >= dl)
                break;
            pump(5);
        }
    }
    if (O.mode == M_ECHO)
        for (long i = 0; i < W.n; i++)
            W.r->lost += (int64_t)W.c[i].tx_seq - (int64_t)W.c[i].rx_count;
    W.r->cpu[1] = cpu_self() - c1;
    atomic_store(&W.r->done, 2);

    /* storm: rounds 2..rounds+1 */
    if (O.mode == M_STORM) {
        for (int r = 0; r < O.rounds && r < MAX_ROUNDS; r++) {
            wait_go(2 + r);
            double cr = cpu_self();
            int64_t go = now_ns();
            for (long i = 0; i < W.n; i++)
                conn_close(&W.c[i], 0);
            int64_t f0 = W.r->failed, res0 = W.r->resumed;
            if (O.backoff > 0)
                reconnect_backoff(go, go + (int64_t)(O.connect_timeout * 1e9));
            else
                connect_all(go + (int64_t)(O.connect_timeout * 1e9));
            W.r->round_back[r] = W.r->t_last;
            W.r->round_failed[r] = W.r->failed - f0;
            W.r->round_resumed[r] = W.r->resumed - res0;
            W.r->cpu[2 + r] = cpu_self() - cr;
            atomic_store(&W.r->done, 3 + r);
        }
    }
    /* bc/group loss accounting needs the senders' totals (known to every
     * process once all reached this point): copies still on their way are
     * waited for (at most --drain seconds) before what is missing counts as
     * lost. A group's sender may get its own copy before members on the
     * other gateway get theirs. */
    if (O.mode == M_BCAST || O.mode == M_GROUP) {
        wait_go(MAX_PHASES - 1);
        int64_t dl = now_ns() + (int64_t)(O.drain * 1e9);
        for (;;) {
            long missing = 0;
            for (long i = 0; i < W.n; i++) {
                int64_t want = O.mode == M_BCAST ? atomic_load(&S->bc_sent) : atomic_load(&S->group_sent[W.c[i].group]);
                missing += W.c[i].st == ST_OPEN && (int64_t)W.c[i].rx_count < want;
            }
            if (!missing || now_ns() >= dl)
                break;
            pump(5);
        }
        for (long i = 0; i < W.n; i++) {
            int64_t want = O.mode == M_BCAST ? atomic_load(&S->bc_sent) : atomic_load(&S->group_sent[W.c[i].group]);
            W.r->lost += want - (int64_t)W.c[i].rx_count;
        }
    } else {
        wait_go(MAX_PHASES - 1);
    }
    for (long i = 0; i < W.n; i++)
        conn_close(&W.c[i], 0);
    atomic_store(&W.r->done, 100);
    exit(0);
}

/* ---- the parent: server-side samples ---- */

struct srv_sample {
    long rss_kb[MAX_PIDS]; /* gateway processes */
    double cpu;            /* every server process, seconds */
};

static long read_rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

static double read_cpu_s(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the name may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void sample(struct srv_sample *s)
{
    s->cpu = 0;
    for (int i = 0; i < O.ngw; i++) {
        s->rss_kb[i] = read_rss_kb(O.gw_pids[i]);
        s->cpu += read_cpu_s(O.gw_pids[i]);
    }
    for (int i = 0; i < O.nother; i++)
        s->cpu += read_cpu_s(O.other_pids[i]);
}

static long rss_sum(const struct srv_sample *s)
{
    long t = 0;
    for (int i = 0; i < O.ngw; i++)
        t += s->rss_kb[i] > 0 ? s->rss_kb[i] : 0;
    return t;
}

static void sleep_until(int64_t t)
{
    int64_t d = t - now_ns();
    if (d <= 0)
        return;
    struct timespec ts = {.tv_sec = d / 1000000000, .tv_nsec = d % 1000000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static int all_done(int phase, long procs)
{
    for (long i = 0; i < procs; i++)
        if (atomic_load(&S->w[i].done) < phase)
            return 0;
    return 1;
}

static int wait_done(int phase, long procs, double timeout_s)
{
    int64_t dl = now_ns() + (int64_t)(timeout_s * 1e9);
    while (!all_done(phase, procs)) {
        if (now_ns() > dl)
            return -1;
        sleep_until(now_ns() + 2000000);
    }
    return 0;
}

/* ---- JSON ---- */

static FILE *J;
static int jfirst = 1;
static void jkey(const char *k)
{
    fprintf(J, "%s\"%s\":", jfirst ? "{" : ",", k);
    jfirst = 0;
}
static void jnum(const char *k, double v)
{
    jkey(k);
    if (v != v)
        fputs("null", J);
    else
        fprintf(J, "%.6g", v);
}
static void jint(const char *k, int64_t v)
{
    jkey(k);
    fprintf(J, "%" PRId64, v);
}
static void jstr(const char *k, const char *v)
{
    jkey(k);
    fputc('"', J);
    for (; *v; v++)
        if (*v == '"' || *v == '\\')
            fprintf(J, "\\%c", *v);
        else
            fputc(*v, J);
    fputc('"', J);
}

static int parse_pids(const char *s, int *out)
{
    int n = 0;
    while (*s && n < MAX_PIDS) {
        if (*s < '0' || *s > '9') {
            s++;
            continue;
        }
        char *e;
        long v = strtol(s, &e, 10);
        if (v > 0)
            out[n++] = (int)v;
        s = e;
    }
    return n;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: wsload --mode=idle|echo|broadcast|group|storm|churn [--host=127.0.0.1] [--port=1240]\n"
            "  [--conns=N] [--procs=P (default: conns/per-proc rounded up, at least 2)] [--per-proc=19000]\n"
            "  [--src-first=2] [--src-count=8] [--max-pending=256] [--connect-timeout=120]\n"
            "  [--hold=S] [--duration=S] [--warmup=S] [--drain=S] [--settle=S] [--inflight=K] [--size=B]\n"
            "  [--msgs=M] [--rate=R (0 = next when all got the last)] [--groups=G] [--group-size=S]\n"
            "  [--rounds=R] [--backoff=S] [--tls=0|1] [--resume=0|1] [--ciphersuites=LIST] [--tls-only=0|1] [--gw-pids=a,b] [--other-pids=c,d] [--label=TEXT] [--json=FILE]\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        char *a = argv[i], *v = strchr(a, '=');
        if (strncmp(a, "--", 2) != 0 || !v)
            usage();
        *v++ = 0;
        a += 2;
#define NUM(name, field) else if (!strcmp(a, name)) O.field = strtol(v, NULL, 10)
#define DBL(name, field) else if (!strcmp(a, name)) O.field = strtod(v, NULL)
        if (!strcmp(a, "mode")) {
            int k = -1;
            for (int m = 0; m < NMODES; m++)
                if (!strcmp(v, mode_names[m]))
                    k = m;
            if (k < 0)
                usage();
            O.mode = (enum mode)k;
        } else if (!strcmp(a, "host")) snprintf(O.host, sizeof O.host, "%s", v);
        else if (!strcmp(a, "label")) snprintf(O.label, sizeof O.label, "%s", v);
        else if (!strcmp(a, "json")) snprintf(O.json, sizeof O.json, "%s", v);
        else if (!strcmp(a, "ciphersuites")) snprintf(O.ciphersuites, sizeof O.ciphersuites, "%s", v);
        else if (!strcmp(a, "gw-pids")) O.ngw = parse_pids(v, O.gw_pids);
        else if (!strcmp(a, "other-pids")) O.nother = parse_pids(v, O.other_pids);
        else if (!strcmp(a, "port")) O.port = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "src-first")) O.src_first = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "src-count")) O.src_count = (int)strtol(v, NULL, 10);
        NUM("conns", conns); NUM("procs", procs); NUM("per-proc", per_proc); NUM("inflight", inflight);
        NUM("msgs", msgs); NUM("size", size); NUM("groups", groups); NUM("group-size", group_size);
        NUM("rounds", rounds); NUM("max-pending", max_pending);
        else if (!strcmp(a, "tls")) O.tls = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "resume")) O.resume = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "tls-only")) O.tls_only = (int)strtol(v, NULL, 10);
        DBL("backoff", backoff);
        DBL("hold", hold); DBL("duration", duration); DBL("warmup", warmup); DBL("drain", drain);
        DBL("settle", settle); DBL("connect-timeout", connect_timeout); DBL("rate", rate);
        else usage();
#undef NUM
#undef DBL
    }
    if (O.mode == M_GROUP)
        O.conns = O.groups * O.group_size;
    if (O.conns <= 0 || O.conns > 2000000 || O.src_count < 1 || O.src_first < 1 || O.src_first + O.src_count > 255 ||
        O.per_proc < 1 || O.max_pending < 1 || O.msgs < 1 || O.msgs > 10000000 || O.rounds > MAX_ROUNDS ||
        O.inflight < 1 || O.group_size < 1 || O.size > 65000)
        usage();
    if (O.procs <= 0) {
        O.procs = (O.conns + O.per_proc - 1) / O.per_proc;
        if (O.procs < 2 && O.conns >= 2)
            O.procs = 2;
    }
    if (O.procs > MAX_PROCS || O.procs > O.conns)
        die("--procs must be between 1 and %d and at most --conns", MAX_PROCS);
    if (O.mode == M_STORM && O.rounds < 1)
        O.rounds = 1;
    if (O.tls_only)
        O.tls = 1;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    long per = (O.conns + O.procs - 1) / O.procs;
    if ((rlim_t)per + 32 > rl.rlim_cur)
        die("%ld connections per process exceed the open files limit %llu: use more --procs", per,
            (unsigned long long)rl.rlim_cur);

    long ngroups = O.mode == M_GROUP ? O.groups : 1;
    size_t shm_len = sizeof(struct shm) + (size_t)ngroups * sizeof(int64_t) + (size_t)O.msgs * sizeof(uint32_t);
    S = mmap(NULL, shm_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (S == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    bc_got = (_Atomic uint32_t *)((char *)S + sizeof(struct shm) + (size_t)ngroups * sizeof(int64_t));
    if (O.mode == M_BCAST)
        bc_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

    pid_t pids[MAX_PROCS];
    long base = 0;
    for (long i = 0; i < O.procs; i++) {
        long n = O.conns / O.procs + (i < O.conns % O.procs);
        pid_t p = fork();
        if (p < 0)
            die("fork: %s", strerror(errno));
        if (p == 0) {
            W.idx = (int)i;
            W.n = n;
            W.base = base;
            run_worker();
        }
        pids[i] = p;
        base += n;
    }

    struct srv_sample s_before, s_conn, s_held, s_r0, s_r1, s_end, s_after;
    sample(&s_before);
    int64_t go0 = now_ns() + 20000000;
    atomic_store(&S->go[0], go0);
    int timed_out = wait_done(1, O.procs, O.connect_timeout + 30) < 0;
    sample(&s_conn);
    sleep_until(now_ns() + (int64_t)(O.settle * 1e9));
    sample(&s_held);

    /* phase 1 */
    double run_s = O.mode == M_IDLE ? O.hold : O.mode == M_ECHO || O.mode == M_GROUP ? O.duration
                 : O.mode == M_BCAST ? O.duration : 0;
    int64_t go1 = now_ns() + 20000000;
    int64_t mfrom = go1 + (int64_t)((O.mode == M_ECHO || O.mode == M_GROUP ? O.warmup : 0) * 1e9);
    atomic_store(&S->run_end, go1 + (int64_t)(run_s * 1e9));
    atomic_store(&S->measure_from, mfrom);
    atomic_store(&S->go[1], go1);
    sleep_until(mfrom);
    sample(&s_r0);
    int64_t t_r0 = now_ns(), t_r1;
    if (O.mode == M_BCAST) {
        while (!atomic_load(&S->bc_done_ns) && now_ns() < go1 + (int64_t)(run_s * 1e9))
            sleep_until(now_ns() + 1000000);
        t_r1 = atomic_load(&S->bc_done_ns) ? atomic_load(&S->bc_done_ns) : now_ns();
        t_r0 = go1;
        sample(&s_r1);
    } else {
        sleep_until(go1 + (int64_t)(run_s * 1e9));
        t_r1 = now_ns();
        sample(&s_r1);
    }
    if (O.mode == M_IDLE)
        s_end = s_r1;
    wait_done(2, O.procs, O.drain + 30);

    /* storm rounds */
    double round_ms[MAX_ROUNDS] = {0}, round_cpu[MAX_ROUNDS] = {0};
    int64_t round_failed[MAX_ROUNDS] = {0};
    if (O.mode == M_STORM) {
        for (int r = 0; r < O.rounds; r++) {
            sleep_until(now_ns() + (int64_t)(O.settle * 1e9));
            struct srv_sample a, b;
            int64_t g = now_ns() + 20000000;
            sample(&a);
            atomic_store(&S->go[2 + r], g);
            wait_done(3 + r, O.procs, O.connect_timeout + 30);
            sample(&b);
            int64_t back = 0;
            for (long i = 0; i < O.procs; i++) {
                back = S->w[i].round_back[r] > back ? S->w[i].round_back[r] : back;
                round_failed[r] += S->w[i].round_failed[r];
            }
            round_ms[r] = (double)(back - g) / 1e6;
            round_cpu[r] = b.cpu - a.cpu;
        }
    }
    atomic_store(&S->go[MAX_PHASES - 1], now_ns());
    wait_done(100, O.procs, 30);
    for (long i = 0; i < O.procs; i++) {
        int st;
        if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fprintf(stderr, "wsload: worker %ld did not exit cleanly\n", i);
    }
    sleep_until(now_ns() + (int64_t)(O.settle * 1e9));
    sample(&s_after);
    if (O.mode != M_IDLE)
        s_end = s_r1;

    /* ---- sums ---- */
    struct wres T;
    memset(&T, 0, sizeof T);
    int64_t t_first = INT64_MAX, t_last = 0;
    double ccpu0 = 0, ccpu1 = 0;
    for (long i = 0; i < O.procs; i++) {
        struct wres *w = &S->w[i];
        T.conn0 += w->conn0;
        T.connected += w->connected; T.failed += w->failed; T.hs_fail += w->hs_fail;
        T.server_closed += w->server_closed; T.unexpected += w->unexpected; T.joined += w->joined;
        T.sent += w->sent; T.recv += w->recv; T.recv_win += w->recv_win; T.lost += w->lost;
        T.ooo += w->ooo; T.dup += w->dup;
        T.resumed0 += w->resumed0;
        ccpu0 += w->cpu[0];
        ccpu1 += w->cpu[1];
        if (w->t_first && w->t_first < t_first) t_first = w->t_first;
        if (w->t_last0 > t_last) t_last = w->t_last0;
        for (int b = 0; b < NB; b++) {
            T.hist[b] += w->hist[b];
            T.chist[b] += w->chist[b];
        }
    }
    double conn_s = t_last > t_first ? (double)(t_last - t_first) / 1e9 : 0;
    int64_t nconn = T.conn0;
    long rss_b = rss_sum(&s_before), rss_h = rss_sum(&s_held), rss_e = rss_sum(&s_end), rss_a = rss_sum(&s_after);

    J = stdout;
    FILE *jf = NULL;
    if (O.json[0]) {
        jf = fopen(O.json, "w");
        if (!jf)
            die("%s: %s", O.json, strerror(errno));
        J = jf;
    }
    jstr("mode", mode_names[O.mode]);
    jstr("label", O.label);
    jint("conns", O.conns);
    jint("client_procs", O.procs);
    jint("gateway_pids", O.ngw);
    jint("connected", T.conn0);
    jint("failed", T.failed);
    jint("handshake_failed", T.hs_fail);
    jint("tls", O.tls);
    if (O.tls) {
        jint("tls_resume", O.resume);
        jint("tls_resumed_connect", T.resumed0);
    }
    jint("timed_out", timed_out);
    jnum("connect_s", conn_s);
    jnum("connect_rate", conn_s > 0 ? (double)T.conn0 / conn_s : 0);
    jnum("connect_p50_ms", hist_pct(T.chist, 0.50) / 1000);
    jnum("connect_p99_ms", hist_pct(T.chist, 0.99) / 1000);
    jnum("client_cpu_connect_s", ccpu0);
    jnum("client_cpu_us_per_conn", nconn ? ccpu0 * 1e6 / (double)nconn : 0);
    jnum("server_cpu_connect_s", s_conn.cpu - s_before.cpu);
    jnum("server_cpu_us_per_conn", nconn ? (s_conn.cpu - s_before.cpu) * 1e6 / (double)nconn : 0);
    jint("gw_rss_before_kb", rss_b);
    jint("gw_rss_held_kb", rss_h);
    jint("gw_rss_end_kb", rss_e);
    jint("gw_rss_after_close_kb", rss_a);
    jnum("gw_bytes_per_conn", nconn ? (double)(rss_h - rss_b) * 1024.0 / (double)nconn : 0);
    jkey("gw_rss_held_per_pid_kb");
    fputc('[', J);
    for (int i = 0; i < O.ngw; i++)
        fprintf(J, "%s%ld", i ? "," : "", s_held.rss_kb[i]);
    fputc(']', J);
    jint("server_closed", T.server_closed);
    jint("unexpected", T.unexpected);
    if (O.mode == M_IDLE) {
        jnum("hold_s", O.hold);
        jnum("server_cpu_hold_s", s_r1.cpu - s_r0.cpu);
    }
    if (O.mode == M_ECHO || O.mode == M_GROUP || O.mode == M_BCAST) {
        double win = (double)(t_r1 - t_r0) / 1e9;
        double scpu = s_r1.cpu - s_r0.cpu;
        int64_t ops = O.mode == M_BCAST ? atomic_load(&S->bc_total) : T.recv_win;
        jint("inflight", O.inflight);
        jint("size", O.size);
        jint("sent", T.sent);
        jint("received", T.recv);
        jnum("window_s", win);
        jint("ops_in_window", ops);
        jnum("ops_per_s", win > 0 ? (double)ops / win : 0);
        jnum("server_cpu_run_s", scpu);
        jnum("server_cpu_us_per_op", ops ? scpu * 1e6 / (double)ops : 0);
        jnum("client_cpu_run_s", ccpu1);
        jnum("p50_ms", hist_pct(T.hist, 0.50) / 1000);
        jnum("p99_ms", hist_pct(T.hist, 0.99) / 1000);
        jnum("p999_ms", hist_pct(T.hist, 0.999) / 1000);
        jnum("max_ms", hist_pct(T.hist, 1.0) / 1000);
        jint("lost", T.lost);
        jint("out_of_order", T.ooo);
        jint("duplicates", T.dup);
        if (O.mode == M_BCAST) {
            jint("bc_msgs_sent", atomic_load(&S->bc_sent));
            jnum("rate", O.rate);
            jint("all_delivered", atomic_load(&S->bc_done_ns) != 0);
        }
        if (O.mode == M_GROUP) {
            jint("groups", O.groups);
            jint("group_size", O.group_size);
            jint("joined", T.joined);
        }
    }
    if (O.mode == M_STORM) {
        jkey("storm_back_ms");
        fputc('[', J);
        for (int r = 0; r < O.rounds; r++)
            fprintf(J, "%s%.1f", r ? "," : "", round_ms[r]);
        fputc(']', J);
        double m = 0;
        int64_t f = 0;
        for (int r = 0; r < O.rounds; r++) {
            m = round_ms[r] > m ? round_ms[r] : m;
            f += round_failed[r];
        }
        jnum("storm_back_max_ms", m);
        jint("storm_failed", f);
        double c = 0;
        for (int r = 0; r < O.rounds; r++)
            c += round_cpu[r];
        jnum("server_cpu_us_per_reconnect", c * 1e6 / (double)(O.rounds * O.conns));
        jnum("backoff_s", O.backoff);
        if (O.tls) {
            int64_t res = 0;
            for (long i = 0; i < O.procs; i++)
                for (int r = 0; r < O.rounds; r++)
                    res += S->w[i].round_resumed[r];
            jint("storm_resumed", res);
        }
        int64_t retries = 0;
        for (long i = 0; i < O.procs; i++)
            retries += S->w[i].retries;
        jint("storm_retries", retries);
    }
    fputs("}\n", J);
    if (jf)
        fclose(jf);

    int bad = T.conn0 < O.conns;
    fprintf(stderr, "wsload %s%s%s: %" PRId64 "/%ld connected in %.2f s (%.0f conn/s), %" PRId64
                    " failed, gateway RSS %+ld kB (%.0f B/conn), server closed %" PRId64 "\n",
            mode_names[O.mode], O.label[0] ? " " : "", O.label, T.conn0, O.conns, conn_s,
            conn_s > 0 ? (double)T.conn0 / conn_s : 0, T.failed, rss_h - rss_b,
            nconn ? (double)(rss_h - rss_b) * 1024.0 / (double)nconn : 0, T.server_closed);
    return bad ? 1 : 0;
}
