/* topo: the topology test's programs (tests/topology/run.sh drives them;
 * issue 9). Two modes:
 *
 *   topo client --lb=IP:PORT --lb-b=IP:PORT --lb-c=IP:PORT --token=ADMIN_TOKEN [--npart=N]
 *
 *     The client host of the test, run inside the client namespace: lottery
 *     phones and admins (docs/lottery-protocol.md), every connection through
 *     the load balancer (--lb: round robin over the gateways; --lb-b /
 *     --lb-c: balancer ports that forward to one gateway only, for the
 *     admins "connected to B / to C"). It reads commands on stdin, one per
 *     line, and answers each with ONE line on stdout, "ok ..." or
 *     "fail ...", so the driver can stop, kill and restart servers between
 *     commands while the phones stay connected. Between and during commands
 *     every connection is served: pings answered, a closed connection
 *     reconnected through the balancer (hello with the phone's token), a
 *     command without an answer resent with the same rid on a new
 *     connection after CMD_TIMEOUT_MS (the pages' contract, §3.1). Logs go
 *     to stderr. Every wait has a deadline. The commands:
 *
 *       setup                     admin: import --npart people, three prizes
 *       probe N | probe-close     N bare WebSocket connections (no hello)
 *       phones N VIA              N new phones via lb|b|c: hello, signin, all acknowledged
 *       draw PRIZE COUNT VIA      an admin via lb|b|c: draw.start + draw.stop; every
 *                                 signed-in phone receives the draw.result
 *       settle SECONDS            every phone connected again, hello answered with `me`
 *       wl-start                  background load: new phones sign in, the lb admin draws
 *       wl-wait SIGNINS DRAWS     until that many more were acknowledged
 *       wl-kill PID...            kill -9 these (business) processes while commands are in flight
 *       wl-stop                   no new commands; the ones in flight finish
 *       dual PRIZE COUNT          admins on B and on C send draw.start at the same moment
 *       verify                    nothing acknowledged lost, no winner twice, no stray draw
 *       quit
 *
 *     PRIZE is p1 (一等奖, excludeWinners), p2 (二等奖) or p3 (三等奖).
 *
 *   topo probe-worker --secret=KEY --key=NAME:0 --gw=IP:PORT[,...] [--want=N] [--timeout-ms=T]
 *
 *     A stand-in business worker (GatewayProtocol, shared/gwp.c) that links
 *     to the given gateway internal ports and prints, for every client
 *     event routed to it, the client address in the frame header: what the
 *     gateway believes the client is (with the PROXY protocol: the client
 *     host, not the balancer). Exits 0 once every gateway host (IP) gave
 *     --want events, 1 at the deadline.
 *
 * One process, poll(): a few hundred connections, far below the 20,000
 * open files limit. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "gwp.h"

#define CMD_TIMEOUT_MS 4000   /* no answer by then: new connection, same rid */
#define MAX_CONNS 1024
#define MAX_PART 2000
#define MAX_DRAWS 400

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 1, 2))) static void logf_(const char *fmt, ...)
{
    static long long t0;
    if (!t0)
        t0 = now_ms();
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[%7.3f] ", (now_ms() - t0) / 1000.0);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int parse_addr(const char *s, struct sockaddr_in *a)
{
    char ip[64];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof ip)
        return -1;
    memcpy(ip, s, (size_t)(colon - s));
    ip[colon - s] = 0;
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)atoi(colon + 1));
    return inet_pton(AF_INET, ip, &a->sin_addr) == 1 ? 0 : -1;
}

static const char *jstr(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static long long jint(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

static int streq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* ================= the client ================= */

enum { VIA_LB, VIA_B, VIA_C, NVIA };
static const char *via_name[NVIA] = {"lb", "b", "c"};
static struct sockaddr_in via_addr[NVIA];
static char admin_token[256];
static int npart = 400;

enum { R_PHONE, R_ADMIN, R_PROBE, R_CHECK /* a phone's hello with its token, once */ };
enum { S_DOWN, S_CONNECTING, S_HANDSHAKE, S_OPEN };

struct conn {
    int fd, st, role, via;
    int hello_ok; /* the state answering our last hello has come */
    char label[32];
    uint8_t *in;
    size_t in_len, in_cap;
    uint8_t *frag;
    size_t frag_len;
    int frag_op;
    char key[32];
    long long reconnect_at, connect_started;
    int reconnects;
    /* phone */
    int emp; /* -1: none */
    int me_ok; /* the last state had `me` with our empNo */
    /* the command in flight */
    json_t *msg;
    char cmd[32], rid[64];
    long long sent_at;
    int resends;
    json_t *answer; /* its answer, once it came (owned) */
    json_t *last_state; /* admins: the last state (owned) */
    /* draws seen */
    long long *results;
    int nresults, capresults;
    long long *starts;
    int nstarts, capstarts;
};

static struct conn *conns[MAX_CONNS];
static int nconns;
static struct conn *adm[NVIA];

/* the participants */
static char emp_no[MAX_PART][16], emp_name[MAX_PART][32];
static int attempted[MAX_PART], acked[MAX_PART];
static char tokens[MAX_PART][96];
static int next_emp, n_acked, n_attempted;
static long long prize_id[4]; /* 1..3 */

struct draw_rec {
    long long id, prize;
    int count;
    long long pool;
    char winners[16][16];
};
static struct draw_rec draws[MAX_DRAWS];
static int ndraws;
static int n_unexpected, n_alerts, n_resends, n_bad_token;
static char first_unexpected[400];

static void unexpected(const char *what, const json_t *m)
{
    char *d = m ? json_dumps(m, JSON_COMPACT) : NULL;
    if (!n_unexpected++)
        snprintf(first_unexpected, sizeof first_unexpected, "%s: %.300s", what, d ? d : "(none)");
    logf_("UNEXPECTED %s: %.400s", what, d ? d : "(none)");
    free(d);
}

static void buf_grow(uint8_t **b, size_t *len, size_t *cap, const void *p, size_t n)
{
    if (*len + n > *cap) {
        size_t c = *cap ? *cap : 4096;
        while (c < *len + n)
            c *= 2;
        uint8_t *nb = realloc(*b, c);
        if (!nb) {
            fprintf(stderr, "topo: out of memory\n");
            exit(3);
        }
        *b = nb;
        *cap = c;
    }
    memcpy(*b + *len, p, n);
    *len += n;
}

static void push_ll(long long **a, int *n, int *cap, long long v)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *a = realloc(*a, (size_t)*cap * sizeof **a);
    }
    (*a)[(*n)++] = v;
}

static int has_ll(const long long *a, int n, long long v)
{
    for (int i = 0; i < n; i++)
        if (a[i] == v)
            return 1;
    return 0;
}

static struct conn *conn_new(int role, int via, int emp, const char *label)
{
    if (nconns >= MAX_CONNS) {
        fprintf(stderr, "topo: too many connections\n");
        exit(3);
    }
    struct conn *c = calloc(1, sizeof *c);
    c->fd = -1;
    c->role = role;
    c->via = via;
    c->emp = emp;
    snprintf(c->label, sizeof c->label, "%s", label);
    conns[nconns++] = c;
    return c;
}

static void conn_down(struct conn *c, const char *why, int reconnect)
{
    if (c->fd >= 0)
        close(c->fd);
    if (c->st != S_DOWN && c->role != R_PROBE)
        logf_("%s: connection down (%s)%s", c->label, why, reconnect ? "; reconnecting" : "");
    c->fd = -1;
    c->st = S_DOWN;
    c->hello_ok = 0;
    c->in_len = 0;
    c->frag_len = 0;
    c->reconnect_at = reconnect ? now_ms() + 50 + random() % 200 : 0;
}

/* Blocking-ish write of a whole buffer (small messages; 2 s deadline). */
static int write_all(struct conn *c, const uint8_t *p, size_t n)
{
    long long end = now_ms() + 2000;
    while (n > 0) {
        ssize_t w = write(c->fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        struct pollfd pf = {.fd = c->fd, .events = POLLOUT};
        int left = (int)(end - now_ms());
        if (left <= 0 || poll(&pf, 1, left) < 0)
            return -1;
    }
    return 0;
}

static int ws_send(struct conn *c, int op, const void *data, size_t n)
{
    if (c->st != S_OPEN)
        return -1;
    uint8_t *f = malloc(n + 14);
    size_t h = 0;
    f[h++] = (uint8_t)(0x80 | op);
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
    uint32_t r = (uint32_t)random();
    uint8_t m[4] = {(uint8_t)r, (uint8_t)(r >> 8), (uint8_t)(r >> 16), (uint8_t)(r >> 24)};
    memcpy(f + h, m, 4);
    h += 4;
    for (size_t i = 0; i < n; i++)
        f[h + i] = ((const uint8_t *)data)[i] ^ m[i & 3];
    int rc = write_all(c, f, h + n);
    free(f);
    if (rc < 0)
        conn_down(c, "write failed", c->role != R_PROBE);
    return rc;
}

static int send_json(struct conn *c, json_t *j) /* stolen */
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    int rc = s ? ws_send(c, 0x1, s, strlen(s)) : -1;
    free(s);
    return rc;
}

static void conn_start(struct conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        logf_("%s: socket: %s", c->label, strerror(errno));
        c->reconnect_at = now_ms() + 500;
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->st = S_CONNECTING;
    c->connect_started = now_ms();
    c->reconnect_at = 0;
    c->hello_ok = 0;
    c->in_len = c->frag_len = 0;
    if (connect(c->fd, (struct sockaddr *)&via_addr[c->via], sizeof via_addr[c->via]) < 0 && errno != EINPROGRESS)
        conn_down(c, strerror(errno), 1);
}

static void send_hello(struct conn *c)
{
    json_t *m;
    if (c->role == R_ADMIN)
        m = json_pack("{s:s,s:s,s:s}", "type", "hello", "role", "admin", "adminToken", admin_token);
    else {
        m = json_pack("{s:s,s:s}", "type", "hello", "role", "phone");
        if (c->emp >= 0 && tokens[c->emp][0])
            json_object_set_new(m, "token", json_string(tokens[c->emp]));
    }
    send_json(c, m);
}

static void send_cmd(struct conn *c)
{
    c->sent_at = now_ms();
    if (c->st == S_OPEN && c->hello_ok)
        send_json(c, json_incref(c->msg));
}

/* Starts a command on c (msg stolen); sent now, or after the next hello. */
static void conn_cmd(struct conn *c, json_t *msg)
{
    json_decref(c->msg);
    json_decref(c->answer);
    c->answer = NULL;
    c->msg = msg;
    snprintf(c->cmd, sizeof c->cmd, "%s", jstr(msg, "type"));
    snprintf(c->rid, sizeof c->rid, "%s", jstr(msg, "rid") ? jstr(msg, "rid") : "");
    c->resends = 0;
    send_cmd(c);
}

/* Takes the answer of the command in flight, if it came. */
static json_t *conn_answer(struct conn *c)
{
    json_t *a = c->answer;
    c->answer = NULL;
    if (a) {
        json_decref(c->msg);
        c->msg = NULL;
    }
    return a;
}

static void on_message(struct conn *c, const char *text, size_t len)
{
    json_t *j = json_loadb(text, len, 0, NULL);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        if (c->role != R_PROBE)
            logf_("%s: a message that is not a JSON object: %.*s", c->label, (int)(len > 200 ? 200 : len), text);
        return;
    }
    const char *t = jstr(j, "type");
    if (streq(t, "ping")) {
        send_json(c, json_pack("{s:s}", "type", "pong"));
    } else if (streq(t, "state")) {
        c->hello_ok = 1;
        if (c->role == R_ADMIN) {
            json_decref(c->last_state);
            c->last_state = json_incref(j);
        }
        if (c->role == R_PHONE || c->role == R_CHECK) {
            json_t *me = json_object_get(j, "me");
            c->me_ok = c->emp >= 0 && streq(jstr(me, "empNo"), emp_no[c->emp]);
            if (c->emp >= 0 && tokens[c->emp][0] && !c->me_ok)
                unexpected("a hello with a token answered without `me`", j);
        }
        if (c->msg) /* a command waiting for this connection */
            send_cmd(c);
    } else if (streq(t, "reply") || streq(t, "error")) {
        if (streq(t, "error") && streq(jstr(j, "cmd"), "hello")) {
            if (streq(jstr(j, "code"), "bad_token"))
                n_bad_token++;
            unexpected("error to a hello", j);
        } else if (c->msg && streq(jstr(j, "rid"), c->rid) && streq(jstr(j, "cmd"), c->cmd)) {
            if (streq(jstr(j, "code"), "store_error")) {
                logf_("%s: store_error to %s %s; sending it again", c->label, c->cmd, c->rid);
                n_resends++;
                send_cmd(c);
            } else {
                json_decref(c->answer);
                c->answer = json_incref(j);
            }
        } else {
            /* the answer to an earlier send of a command already answered
             * (a resend crossed the first answer): harmless */
        }
    } else if (streq(t, "draw.result")) {
        long long id = jint(json_object_get(j, "draw"), "drawId");
        if (!has_ll(c->results, c->nresults, id))
            push_ll(&c->results, &c->nresults, &c->capresults, id);
    } else if (streq(t, "draw.started")) {
        long long id = jint(json_object_get(j, "draw"), "drawId");
        if (!has_ll(c->starts, c->nstarts, id))
            push_ll(&c->starts, &c->nstarts, &c->capstarts, id);
    } else if (streq(t, "alert")) {
        n_alerts++;
        unexpected("alert push", j);
    }
    json_decref(j);
}

static int handshake_check(struct conn *c)
{
    /* the response head is complete when \r\n\r\n arrived */
    uint8_t *end = NULL;
    for (size_t i = 3; i < c->in_len; i++)
        if (memcmp(c->in + i - 3, "\r\n\r\n", 4) == 0) {
            end = c->in + i + 1;
            break;
        }
    if (!end)
        return c->in_len > 16384 ? -1 : 0;
    size_t head = (size_t)(end - c->in);
    char *h = strndup((char *)c->in, head);
    int ok = strncmp(h, "HTTP/1.1 101", 12) == 0;
    if (ok) {
        char src[128];
        snprintf(src, sizeof src, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", c->key);
        uint8_t d[20];
        unsigned dl = 0;
        EVP_Digest(src, strlen(src), d, &dl, EVP_sha1(), NULL);
        char want[64];
        EVP_EncodeBlock((unsigned char *)want, d, 20);
        char *p = strcasestr(h, "\r\nSec-WebSocket-Accept:");
        if (!p)
            ok = 0;
        else {
            p += 23;
            while (*p == ' ')
                p++;
            ok = strncmp(p, want, strlen(want)) == 0;
        }
    }
    if (!ok)
        logf_("%s: bad handshake answer: %.120s", c->label, h);
    free(h);
    if (!ok)
        return -1;
    memmove(c->in, c->in + head, c->in_len - head);
    c->in_len -= head;
    c->st = S_OPEN;
    if (c->role != R_PROBE)
        send_hello(c);
    else
        c->hello_ok = 1;
    return 1;
}

static void parse_frames(struct conn *c)
{
    size_t off = 0;
    while (c->st == S_OPEN) {
        size_t avail = c->in_len - off;
        uint8_t *p = c->in + off;
        if (avail < 2)
            break;
        int fin = p[0] & 0x80, op = p[0] & 0x0f;
        uint64_t n = p[1] & 0x7f;
        size_t h = 2;
        if (n == 126) {
            if (avail < 4)
                break;
            n = (uint64_t)p[2] << 8 | p[3];
            h = 4;
        } else if (n == 127) {
            if (avail < 10)
                break;
            n = 0;
            for (int i = 0; i < 8; i++)
                n = n << 8 | p[2 + i];
            h = 10;
        }
        if (p[1] & 0x80) {
            conn_down(c, "the server masked a frame", c->role != R_PROBE);
            return;
        }
        if (avail < h + n)
            break;
        const uint8_t *pl = p + h;
        off += h + (size_t)n;
        if (op == 0x9) {
            ws_send(c, 0xA, pl, (size_t)n);
        } else if (op == 0x8) {
            conn_down(c, "close frame", c->role != R_PROBE);
            return;
        } else if (op == 0xA) {
            /* pong: nothing */
        } else if (op == 0x0 || op == 0x1 || op == 0x2) {
            if (op != 0)
                c->frag_op = op;
            if (!fin || c->frag_len) { /* a fragmented message: join the parts */
                size_t fl = c->frag_len;
                c->frag = realloc(c->frag, fl + (size_t)n + 1);
                memcpy(c->frag + fl, pl, (size_t)n);
                c->frag_len = fl + (size_t)n;
                if (!fin)
                    continue;
                c->frag[c->frag_len] = 0;
                c->frag_len = 0;
                on_message(c, (const char *)c->frag, fl + (size_t)n);
            } else {
                on_message(c, (const char *)pl, (size_t)n);
            }
            if (c->st != S_OPEN)
                return;
        }
    }
    if (off) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
}

static void on_readable(struct conn *c)
{
    uint8_t tmp[65536];
    for (;;) {
        ssize_t r = read(c->fd, tmp, sizeof tmp);
        if (r == 0) {
            conn_down(c, "closed by the peer", c->role != R_PROBE);
            return;
        }
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            conn_down(c, strerror(errno), c->role != R_PROBE);
            return;
        }
        buf_grow(&c->in, &c->in_len, &c->in_cap, tmp, (size_t)r);
        if ((size_t)r < sizeof tmp)
            break;
    }
    if (c->st == S_HANDSHAKE) {
        int h = handshake_check(c);
        if (h < 0) {
            conn_down(c, "handshake failed", c->role != R_PROBE);
            return;
        }
        if (h == 0)
            return;
    }
    parse_frames(c);
}

static void on_connected(struct conn *c)
{
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) {
        conn_down(c, strerror(err), c->role != R_PROBE);
        return;
    }
    uint8_t raw[16];
    for (int i = 0; i < 16; i++)
        raw[i] = (uint8_t)random();
    EVP_EncodeBlock((unsigned char *)c->key, raw, 16);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET / HTTP/1.1\r\nHost: lottery.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nOrigin: http://lottery.test\r\n\r\n",
                     c->key);
    c->st = S_HANDSHAKE;
    if (write_all(c, (uint8_t *)req, (size_t)n) < 0)
        conn_down(c, "cannot send the handshake", c->role != R_PROBE);
}

/* One round of I/O over every connection (and stdin when want_stdin):
 * returns 1 when stdin is readable. */
static int pump(int ms, int want_stdin)
{
    long long now = now_ms();
    /* reconnects due, and stuck connects/handshakes */
    int started = 0;
    for (int i = 0; i < nconns; i++) {
        struct conn *c = conns[i];
        if (c->st == S_DOWN && c->reconnect_at && c->reconnect_at <= now && started < 64) {
            c->reconnects++;
            conn_start(c);
            started++;
        } else if ((c->st == S_CONNECTING || c->st == S_HANDSHAKE) && now - c->connect_started > 5000) {
            conn_down(c, "connect/handshake timed out", c->role != R_PROBE);
        } else if (c->st == S_OPEN && !c->hello_ok && c->role != R_PROBE && now - c->connect_started > 8000) {
            conn_down(c, "no state within 8 s of the hello", 1);
        }
        /* a command without an answer: a new connection, the same rid */
        if (c->msg && !c->answer && c->sent_at && now - c->sent_at > CMD_TIMEOUT_MS) {
            logf_("%s: no answer to %s %s within %d ms; resending on a new connection", c->label, c->cmd, c->rid,
                  CMD_TIMEOUT_MS);
            n_resends++;
            c->resends++;
            c->sent_at = now; /* the timer restarts from the reconnect */
            conn_down(c, "command timed out", 1);
        }
    }
    static struct pollfd pf[MAX_CONNS + 1];
    static struct conn *who[MAX_CONNS + 1];
    int n = 0;
    if (want_stdin) {
        pf[n] = (struct pollfd){.fd = 0, .events = POLLIN};
        who[n++] = NULL;
    }
    for (int i = 0; i < nconns; i++) {
        struct conn *c = conns[i];
        if (c->fd < 0 || c->st == S_DOWN)
            continue;
        pf[n] = (struct pollfd){.fd = c->fd, .events = c->st == S_CONNECTING ? POLLOUT : POLLIN};
        who[n++] = c;
    }
    int rc = poll(pf, (nfds_t)n, ms);
    int in = 0;
    if (rc <= 0)
        return 0;
    for (int i = 0; i < n; i++) {
        if (!pf[i].revents)
            continue;
        struct conn *c = who[i];
        if (!c) {
            in = 1;
            continue;
        }
        if (c->st == S_CONNECTING)
            on_connected(c);
        else if (pf[i].revents & (POLLIN | POLLHUP | POLLERR))
            on_readable(c);
    }
    return in;
}

/* ---- the workload ---- */

static struct {
    int active, stopping;
    long long last_new, idle_since;
    int adm_phase; /* 0 idle, 1 start in flight, 2 stop in flight */
    struct draw_rec cur;
    int draw_seq;
    int acked, draws, sent;
} wl;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    va_start(ap, fmt);
    fprintf(stderr, "=> ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static struct conn *new_phone(int via)
{
    if (next_emp >= npart)
        return NULL;
    int k = next_emp++;
    char l[32];
    snprintf(l, sizeof l, "phone-%s", emp_no[k]);
    struct conn *c = conn_new(R_PHONE, via, k, l);
    conn_start(c);
    return c;
}

static void phone_signin(struct conn *c)
{
    int k = c->emp;
    char rid[48];
    snprintf(rid, sizeof rid, "si-%s", emp_no[k]);
    if (!attempted[k]) {
        attempted[k] = 1;
        n_attempted++;
    }
    conn_cmd(c, json_pack("{s:s,s:s,s:s,s:s}", "type", "signin", "rid", rid, "empNo", emp_no[k], "name", emp_name[k]));
}

/* A phone's sign-in answer: 1 acknowledged, 0 not yet, -1 error. */
static int phone_poll_signin(struct conn *c)
{
    json_t *a = conn_answer(c);
    if (!a)
        return 0;
    int k = c->emp;
    int ok = streq(jstr(a, "type"), "reply") && streq(jstr(json_object_get(a, "me"), "empNo"), emp_no[k]) &&
             jstr(a, "token");
    if (ok) {
        if (!acked[k])
            n_acked++;
        acked[k] = 1;
        c->me_ok = 1; /* signed in on this connection */
        snprintf(tokens[k], sizeof tokens[k], "%s", jstr(a, "token"));
    } else {
        unexpected("sign-in answer", a);
    }
    json_decref(a);
    return ok ? 1 : -1;
}

static const char *prize_name[4] = {"", "p1", "p2", "p3"};

static int prize_of(const char *s)
{
    for (int i = 1; i <= 3; i++)
        if (streq(s, prize_name[i]))
            return i;
    return 0;
}

static struct conn *admin(int via)
{
    if (!adm[via]) {
        char l[32];
        snprintf(l, sizeof l, "admin-%s", via_name[via]);
        adm[via] = conn_new(R_ADMIN, via, -1, l);
        conn_start(adm[via]);
    }
    return adm[via];
}

/* Runs the command to its answer (resends included); NULL at the deadline. */
static json_t *run_cmd(struct conn *c, json_t *msg, int timeout_ms)
{
    conn_cmd(c, msg);
    long long end = now_ms() + timeout_ms;
    json_t *a = NULL;
    while (!(a = conn_answer(c)) && now_ms() < end)
        pump(10, 0);
    if (!a)
        logf_("%s: no answer to %s %s within %d ms", c->label, c->cmd, c->rid, timeout_ms);
    return a;
}

static void record_draw(const json_t *d, long long prize, int count)
{
    if (ndraws >= MAX_DRAWS)
        return;
    struct draw_rec *r = &draws[ndraws++];
    memset(r, 0, sizeof *r);
    r->id = jint(d, "drawId");
    r->prize = prize;
    r->count = count;
    r->pool = jint(d, "poolSize");
    json_t *w = json_object_get(d, "winners");
    for (size_t i = 0; i < json_array_size(w) && i < 16; i++)
        snprintf(r->winners[i], sizeof r->winners[i], "%s", jstr(json_array_get(w, i), "empNo") ?: "?");
}

static void wl_step(void)
{
    long long now = now_ms();
    /* phones: the new ones sign in, one every 40 ms, at most 8 in flight */
    int inflight = 0;
    for (int i = 0; i < nconns; i++) {
        struct conn *c = conns[i];
        if (c->role != R_PHONE || c->emp < 0)
            continue;
        if (c->msg) {
            if (phone_poll_signin(c) > 0)
                wl.acked++;
            else if (c->msg)
                inflight++;
        } else if (!attempted[c->emp] && c->st == S_OPEN && c->hello_ok) {
            phone_signin(c);
            wl.sent++;
            inflight++;
        } else if (!attempted[c->emp]) {
            inflight++; /* still connecting */
        }
    }
    if (!wl.stopping && inflight < 8 && now - wl.last_new >= 100 && next_emp < npart) {
        new_phone(VIA_LB);
        wl.last_new = now;
    }
    /* the admin: draw.start, draw.stop, again */
    struct conn *a = admin(VIA_LB);
    json_t *ans = conn_answer(a);
    if (ans) {
        int ok = streq(jstr(ans, "type"), "reply");
        json_t *d = json_object_get(ans, "draw");
        if (wl.adm_phase == 1) {
            if (ok && jint(d, "drawId") > 0) {
                wl.cur.id = jint(d, "drawId");
                char rid[48];
                snprintf(rid, sizeof rid, "wl-stop-%d", wl.draw_seq);
                conn_cmd(a, json_pack("{s:s,s:s,s:I}", "type", "draw.stop", "rid", rid, "drawId", (json_int_t)wl.cur.id));
                wl.adm_phase = 2;
            } else {
                unexpected("workload draw.start answer", ans);
                wl.adm_phase = 0;
                wl.idle_since = now;
            }
        } else if (wl.adm_phase == 2) {
            if (ok && jint(d, "drawId") == wl.cur.id && (int)json_array_size(json_object_get(d, "winners")) == wl.cur.count) {
                record_draw(d, wl.cur.prize, wl.cur.count);
                wl.draws++;
            } else {
                unexpected("workload draw.stop answer", ans);
            }
            wl.adm_phase = 0;
            wl.idle_since = now;
        }
        json_decref(ans);
    }
    if (!wl.stopping && wl.adm_phase == 0 && !a->msg && now - wl.idle_since > 300) {
        wl.draw_seq++;
        wl.cur.prize = prize_id[3];
        wl.cur.count = 1 + wl.draw_seq % 3;
        char rid[48];
        snprintf(rid, sizeof rid, "wl-start-%d", wl.draw_seq);
        conn_cmd(a, json_pack("{s:s,s:s,s:I,s:i}", "type", "draw.start", "rid", rid, "prizeId", (json_int_t)wl.cur.prize,
                              "count", wl.cur.count));
        wl.adm_phase = 1;
    }
}

static int wl_busy(void)
{
    if (wl.adm_phase != 0 || (adm[VIA_LB] && adm[VIA_LB]->msg))
        return 1;
    for (int i = 0; i < nconns; i++)
        if (conns[i]->role == R_PHONE && conns[i]->msg)
            return 1;
    return 0;
}

/* ---- commands ---- */

static void cmd_setup(void)
{
    struct conn *a = admin(VIA_LB);
    json_t *rows = json_array();
    for (int i = 0; i < npart; i++)
        json_array_append_new(rows, json_pack("{s:s,s:s,s:s}", "empNo", emp_no[i], "name", emp_name[i], "dept", "拓扑测试部"));
    json_t *r = run_cmd(a, json_pack("{s:s,s:s,s:s,s:o}", "type", "participants.import", "rid", "topo-import", "mode",
                                     "merge", "rows", rows),
                        20000);
    if (!r || !streq(jstr(r, "type"), "reply") || jint(r, "total") != npart) {
        char *d = r ? json_dumps(r, JSON_COMPACT) : NULL;
        out("fail import: %.300s", d ? d : "no answer");
        free(d);
        json_decref(r);
        return;
    }
    json_decref(r);
    struct {
        const char *name;
        int tier, qty, excl;
    } pz[4] = {{0}, {"一等奖", 1, 6, 1}, {"二等奖", 2, 60, 0}, {"三等奖", 3, 300, 0}};
    for (int i = 1; i <= 3; i++) {
        char rid[32];
        snprintf(rid, sizeof rid, "topo-prize-%d", i);
        r = run_cmd(a,
                    json_pack("{s:s,s:s,s:s,s:i,s:i,s:b}", "type", "prize.save", "rid", rid, "name", pz[i].name, "tier",
                              pz[i].tier, "quantity", pz[i].qty, "excludeWinners", pz[i].excl),
                    10000);
        prize_id[i] = r && streq(jstr(r, "type"), "reply") ? jint(json_object_get(r, "prize"), "id") : -1;
        json_decref(r);
        if (prize_id[i] <= 0) {
            out("fail prize.save %s", pz[i].name);
            return;
        }
    }
    out("ok participants=%d prizes=%lld,%lld,%lld", npart, prize_id[1], prize_id[2], prize_id[3]);
}

static void cmd_probe(int n)
{
    long long end = now_ms() + 15000;
    int first = nconns;
    for (int i = 0; i < n; i++) {
        struct conn *c = conn_new(R_PROBE, VIA_LB, -1, "probe");
        conn_start(c);
    }
    for (;;) {
        int open = 0;
        for (int i = first; i < nconns; i++)
            open += conns[i]->st == S_OPEN;
        if (open == n) {
            out("ok probes=%d", n);
            return;
        }
        if (now_ms() > end) {
            out("fail only %d of %d probe connections opened", open, n);
            return;
        }
        pump(10, 0);
    }
}

static void cmd_probe_close(void)
{
    int k = 0;
    for (int i = 0; i < nconns;) {
        if (conns[i]->role == R_PROBE) {
            conn_down(conns[i], "probe closed", 0);
            free(conns[i]->in);
            free(conns[i]);
            conns[i] = conns[--nconns];
            k++;
        } else {
            i++;
        }
    }
    out("ok closed=%d", k);
}

static int phones_all_up(int *up, int *total)
{
    *up = *total = 0;
    for (int i = 0; i < nconns; i++) {
        struct conn *c = conns[i];
        if (c->role != R_PHONE || c->emp < 0 || !acked[c->emp])
            continue;
        (*total)++;
        if (c->st == S_OPEN && c->hello_ok && c->me_ok && !c->msg)
            (*up)++;
    }
    return *up == *total;
}

static void cmd_phones(int n, int via)
{
    long long t0 = now_ms(), end = t0 + 30000 + n * 50;
    struct conn **ph = calloc((size_t)n, sizeof *ph);
    int made = 0;
    for (; made < n; made++)
        if (!(ph[made] = new_phone(via)))
            break;
    if (made < n) {
        out("fail only %d participants left", made);
        free(ph);
        return;
    }
    int done = 0, errors = 0;
    while (done + errors < n && now_ms() < end) {
        pump(10, 0);
        for (int i = 0; i < n; i++) {
            struct conn *c = ph[i];
            if (!c)
                continue;
            if (!c->msg && !attempted[c->emp] && c->st == S_OPEN && c->hello_ok)
                phone_signin(c);
            else if (c->msg) {
                int r = phone_poll_signin(c);
                if (r) {
                    if (r > 0)
                        done++;
                    else
                        errors++;
                    ph[i] = NULL;
                }
            }
        }
    }
    long long ms = now_ms() - t0;
    free(ph);
    if (done == n)
        out("ok acked=%d ms=%lld", done, ms);
    else
        out("fail acked=%d of %d (errors %d) in %lld ms", done, n, errors, ms);
}

/* admin via: draw.start + draw.stop; waits until every signed-in phone
 * has the result. */
static void cmd_draw(int p, int count, int via)
{
    static int seq;
    seq++;
    struct conn *a = admin(via);
    char rid[64];
    snprintf(rid, sizeof rid, "d%d-start-%s", seq, via_name[via]);
    long long t0 = now_ms();
    json_t *r = run_cmd(a, json_pack("{s:s,s:s,s:I,s:i}", "type", "draw.start", "rid", rid, "prizeId",
                                     (json_int_t)prize_id[p], "count", count),
                        20000);
    long long id = r && streq(jstr(r, "type"), "reply") ? jint(json_object_get(r, "draw"), "drawId") : -1;
    if (id <= 0) {
        char *d = r ? json_dumps(r, JSON_COMPACT) : NULL;
        out("fail draw.start: %.300s", d ? d : "no answer");
        free(d);
        json_decref(r);
        return;
    }
    json_decref(r);
    snprintf(rid, sizeof rid, "d%d-stop-%s", seq, via_name[via]);
    r = run_cmd(a, json_pack("{s:s,s:s,s:I}", "type", "draw.stop", "rid", rid, "drawId", (json_int_t)id), 20000);
    json_t *d = r ? json_object_get(r, "draw") : NULL;
    if (!r || !streq(jstr(r, "type"), "reply") || jint(d, "drawId") != id ||
        (int)json_array_size(json_object_get(d, "winners")) != count) {
        char *s = r ? json_dumps(r, JSON_COMPACT) : NULL;
        out("fail draw.stop: %.300s", s ? s : "no answer");
        free(s);
        json_decref(r);
        return;
    }
    record_draw(d, prize_id[p], count);
    json_decref(r);
    long long t_stop = now_ms(), end = t_stop + 15000;
    int got = 0, total = 0;
    for (;;) {
        got = total = 0;
        for (int i = 0; i < nconns; i++) {
            struct conn *c = conns[i];
            if (c->role != R_PHONE || c->emp < 0 || !acked[c->emp])
                continue;
            total++;
            got += has_ll(c->results, c->nresults, id);
        }
        if (got == total || now_ms() > end)
            break;
        pump(10, 0);
    }
    if (got == total)
        out("ok draw=%lld winners=%d phones=%d/%d ms=%lld result_ms=%lld", id, count, got, total, now_ms() - t0,
            now_ms() - t_stop);
    else
        out("fail draw=%lld: %d of %d phones received draw.result", id, got, total);
}

static void cmd_settle(int secs)
{
    long long end = now_ms() + secs * 1000LL;
    int up, total;
    while (!phones_all_up(&up, &total) && now_ms() < end)
        pump(10, 0);
    int rec = 0;
    for (int i = 0; i < nconns; i++)
        rec += conns[i]->reconnects;
    if (up == total)
        out("ok up=%d reconnects=%d resends=%d", up, rec, n_resends);
    else
        out("fail only %d of %d phones back with `me` within %d s", up, total, secs);
}

static void cmd_wl_wait(int signins, int ndr)
{
    long long end = now_ms() + 30000;
    int a0 = wl.acked, d0 = wl.draws;
    while ((wl.acked - a0 < signins || wl.draws - d0 < ndr) && now_ms() < end) {
        pump(10, 0);
        wl_step();
    }
    if (wl.acked - a0 >= signins && wl.draws - d0 >= ndr)
        out("ok signins=%d draws=%d", wl.acked - a0, wl.draws - d0);
    else
        out("fail within 30 s: %d sign-ins (want %d), %d draws (want %d)", wl.acked - a0, signins, wl.draws - d0, ndr);
}

/* wl-kill PID...: kill -9 the given business processes at a moment when
 * commands are surely in flight: 8 fresh phones (connected, hello
 * answered) send their sign-ins and, when it is idle, the workload's admin
 * its next draw.start, all back to back, and the kill follows at once.
 * Whatever the killed processes were handling is lost with them; the
 * clients resend it (same rid) after CMD_TIMEOUT_MS on a new connection.
 * Answers how many commands were in flight at the kill. */
static void cmd_wl_kill(pid_t *pids, int n)
{
    enum { BURST = 8 };
    struct conn *ph[BURST];
    int k = 0;
    long long end = now_ms() + 15000;
    /* the admin between two draws: its next draw.start goes in the burst */
    struct conn *a = admin(VIA_LB);
    while ((wl.adm_phase != 0 || a->msg) && now_ms() < end) {
        pump(5, 0);
        wl_step();
    }
    for (; k < BURST; k++)
        if (!(ph[k] = new_phone(VIA_LB)))
            break;
    if (k < BURST) {
        out("fail no participants left for the burst");
        return;
    }
    for (;;) {
        int ready = 0;
        for (int i = 0; i < BURST; i++)
            ready += ph[i]->st == S_OPEN && ph[i]->hello_ok && !ph[i]->msg;
        if (ready == BURST)
            break;
        if (now_ms() > end) {
            out("fail the burst's phones did not connect");
            return;
        }
        pump(5, 0); /* not wl_step: it would sign the new phones in, and start a draw */
    }
    for (int i = 0; i < BURST; i++)
        phone_signin(ph[i]);
    wl.sent += BURST;
    int adm_sent = 0;
    if (wl.adm_phase == 0 && !a->msg && a->st == S_OPEN && a->hello_ok) {
        wl.draw_seq++;
        wl.cur.prize = prize_id[3];
        wl.cur.count = 1 + wl.draw_seq % 3;
        char rid[48];
        snprintf(rid, sizeof rid, "wl-start-%d", wl.draw_seq);
        conn_cmd(a, json_pack("{s:s,s:s,s:I,s:i}", "type", "draw.start", "rid", rid, "prizeId", (json_int_t)wl.cur.prize,
                              "count", wl.cur.count));
        wl.adm_phase = 1;
        adm_sent = 1;
    }
    int inflight = 0;
    for (int i = 0; i < nconns; i++)
        inflight += (conns[i]->role == R_PHONE || conns[i]->role == R_ADMIN) && conns[i]->msg && !conns[i]->answer;
    int killed = 0;
    for (int i = 0; i < n; i++)
        killed += kill(pids[i], SIGKILL) == 0;
    logf_("wl-kill: %d commands in flight (%d sign-ins of the burst, admin draw.start %s); killed %d of %d processes",
          inflight, BURST, adm_sent ? "sent" : "not sent", killed, n);
    if (killed == n)
        out("ok killed=%d inflight=%d", killed, inflight);
    else
        out("fail killed only %d of %d processes", killed, n);
}

static void cmd_wl_stop(void)
{
    wl.stopping = 1;
    long long end = now_ms() + 30000;
    while (wl_busy() && now_ms() < end) {
        pump(10, 0);
        wl_step();
    }
    wl.active = 0;
    if (wl_busy())
        out("fail the workload did not finish within 30 s (admin phase %d)", wl.adm_phase);
    else
        out("ok signins_sent=%d acked=%d draws=%d resends=%d", wl.sent, wl.acked, wl.draws, n_resends);
}

static json_t *wait_answer(struct conn *c, long long end)
{
    json_t *a = NULL;
    while (!(a = conn_answer(c)) && now_ms() < end)
        pump(5, 0);
    return a;
}

/* Admins on B and C start a draw of the same prize at the same moment. */
static void cmd_dual(int p, int count)
{
    struct conn *ab = admin(VIA_B), *ac = admin(VIA_C);
    long long end = now_ms() + 20000;
    while (!(ab->st == S_OPEN && ab->hello_ok && ac->st == S_OPEN && ac->hello_ok) && now_ms() < end)
        pump(10, 0);
    if (now_ms() >= end) {
        out("fail the admins on B and C are not connected");
        return;
    }
    int sb0 = ab->nstarts, sc0 = ac->nstarts;
    /* the same moment: both frames written back to back */
    conn_cmd(ab, json_pack("{s:s,s:s,s:I,s:i}", "type", "draw.start", "rid", "dual-b-1", "prizeId",
                           (json_int_t)prize_id[p], "count", count));
    conn_cmd(ac, json_pack("{s:s,s:s,s:I,s:i}", "type", "draw.start", "rid", "dual-c-1", "prizeId",
                           (json_int_t)prize_id[p], "count", count));
    json_t *rb = wait_answer(ab, end), *rc = wait_answer(ac, end);
    int okb = rb && streq(jstr(rb, "type"), "reply"), okc = rc && streq(jstr(rc, "type"), "reply");
    int openb = rb && streq(jstr(rb, "code"), "draw_open"), openc = rc && streq(jstr(rc, "code"), "draw_open");
    if (!((okb && openc) || (okc && openb))) {
        char *x = rb ? json_dumps(rb, JSON_COMPACT) : NULL, *y = rc ? json_dumps(rc, JSON_COMPACT) : NULL;
        out("fail two draw.start at once: want one reply and one draw_open; B got %.200s, C got %.200s", x ? x : "nothing",
            y ? y : "nothing");
        free(x);
        free(y);
        json_decref(rb);
        json_decref(rc);
        return;
    }
    struct conn *win = okb ? ab : ac, *lose = okb ? ac : ab;
    json_t *wr = okb ? rb : rc;
    long long id1 = jint(json_object_get(wr, "draw"), "drawId");
    long long pool1 = jint(json_object_get(wr, "draw"), "poolSize");
    json_decref(rb);
    json_decref(rc);
    char rid[48];
    snprintf(rid, sizeof rid, "dual-%s-stop", win == ab ? "b" : "c");
    conn_cmd(win, json_pack("{s:s,s:s,s:I}", "type", "draw.stop", "rid", rid, "drawId", (json_int_t)id1));
    json_t *s1 = wait_answer(win, end);
    json_t *d1 = s1 ? json_object_get(s1, "draw") : NULL;
    if (!s1 || !streq(jstr(s1, "type"), "reply") || jint(d1, "drawId") != id1) {
        out("fail draw.stop of the first dual draw");
        json_decref(s1);
        return;
    }
    record_draw(d1, prize_id[p], count);
    json_decref(s1);
    /* the other admin now: its draw sees the first one's winners */
    snprintf(rid, sizeof rid, "dual-%s-2", lose == ab ? "b" : "c");
    conn_cmd(lose, json_pack("{s:s,s:s,s:I,s:i}", "type", "draw.start", "rid", rid, "prizeId", (json_int_t)prize_id[p],
                             "count", count));
    json_t *r2 = wait_answer(lose, end);
    long long id2 = r2 && streq(jstr(r2, "type"), "reply") ? jint(json_object_get(r2, "draw"), "drawId") : -1;
    long long pool2 = jint(json_object_get(r2, "draw"), "poolSize");
    json_decref(r2);
    if (id2 <= id1) {
        out("fail the second dual draw.start: id %lld (first %lld)", id2, id1);
        return;
    }
    snprintf(rid, sizeof rid, "dual-%s-stop", lose == ab ? "b" : "c");
    conn_cmd(lose, json_pack("{s:s,s:s,s:I}", "type", "draw.stop", "rid", rid, "drawId", (json_int_t)id2));
    json_t *s2 = wait_answer(lose, end);
    json_t *d2 = s2 ? json_object_get(s2, "draw") : NULL;
    if (!s2 || !streq(jstr(s2, "type"), "reply") || jint(d2, "drawId") != id2) {
        out("fail draw.stop of the second dual draw");
        json_decref(s2);
        return;
    }
    record_draw(d2, prize_id[p], count);
    json_decref(s2);
    struct draw_rec *w1 = &draws[ndraws - 2], *w2 = &draws[ndraws - 1];
    int overlap = 0;
    for (int i = 0; i < count; i++)
        for (int j = 0; j < count; j++)
            overlap += streq(w1->winners[i], w2->winners[j]);
    /* both admins saw both draws start, in the same order */
    while ((ab->nstarts - sb0 < 2 || ac->nstarts - sc0 < 2) && now_ms() < end)
        pump(10, 0);
    int order_ok = ab->nstarts - sb0 >= 2 && ac->nstarts - sc0 >= 2 && ab->starts[sb0] == id1 &&
                   ab->starts[sb0 + 1] == id2 && ac->starts[sc0] == id1 && ac->starts[sc0 + 1] == id2;
    if (overlap || pool2 != pool1 - count || !order_ok)
        out("fail dual draws %lld and %lld: %d common winners, pools %lld then %lld (want %lld), started pushes in "
            "order: %s",
            id1, id2, overlap, pool1, pool2, pool1 - count, order_ok ? "yes" : "no");
    else
        out("ok first=%lld(by %s) second=%lld pools=%lld,%lld disjoint winners, both admins saw %lld then %lld", id1,
            win == ab ? "B" : "C", id2, pool1, pool2, id1, id2);
}

static void cmd_verify(void)
{
    struct conn *a = conn_new(R_ADMIN, VIA_LB, -1, "admin-verify");
    conn_start(a);
    long long end = now_ms() + 20000;
    while (!(a->st == S_OPEN && a->hello_ok) && now_ms() < end)
        pump(10, 0);
    json_t *st = a->hello_ok ? json_incref(a->last_state) : NULL;
    if (!st) {
        out("fail no state for the checking admin");
        return;
    }
    char why[600] = "";
    int bad = 0;
#define BAD(...)                                                                                                       \
    do {                                                                                                               \
        if (!bad++)                                                                                                    \
            snprintf(why, sizeof why, __VA_ARGS__);                                                                    \
        logf_("verify: " __VA_ARGS__);                                                                                 \
    } while (0)
    long long signed_in = jint(st, "signedIn");
    if (signed_in < n_acked || signed_in > n_attempted)
        BAD("signedIn %lld, but %d sign-ins were acknowledged and %d attempted", signed_in, n_acked, n_attempted);
    if (!json_is_null(json_object_get(st, "openDraw")))
        BAD("a draw is still open");
    json_t *ws = json_object_get(st, "winners");
    size_t nw = json_array_size(ws);
    /* nobody twice a winner of one prize; nobody who won the excluding prize won another */
    for (size_t i = 0; i < nw; i++) {
        json_t *w = json_array_get(ws, i);
        for (size_t j = i + 1; j < nw; j++) {
            json_t *x = json_array_get(ws, j);
            if (!streq(jstr(w, "empNo"), jstr(x, "empNo")))
                continue;
            if (jint(w, "prizeId") == jint(x, "prizeId"))
                BAD("%s won prize %lld twice", jstr(w, "empNo"), jint(w, "prizeId"));
            /* the excluding prize's pool leaves out who had won anything
             * before its draw; winning another prize afterwards is fine */
            long long dw = jint(w, "drawId"), dx = jint(x, "drawId");
            if ((jint(x, "prizeId") == prize_id[1] && dw < dx) || (jint(w, "prizeId") == prize_id[1] && dx < dw))
                BAD("%s won prize %lld in draw %lld, then the excluding prize %lld in draw %lld", jstr(w, "empNo"),
                    jint(dw < dx ? w : x, "prizeId"), dw < dx ? dw : dx, prize_id[1], dw < dx ? dx : dw);
        }
        if (json_is_true(json_object_get(w, "absent")))
            BAD("an absent winner (nobody was marked absent)");
    }
    /* exactly the acknowledged draws, with the winners their replies named */
    int want = 0;
    for (int d = 0; d < ndraws; d++) {
        int found = 0;
        for (size_t i = 0; i < nw; i++) {
            json_t *w = json_array_get(ws, i);
            if (jint(w, "drawId") != draws[d].id)
                continue;
            found++;
            int in = 0;
            for (int k = 0; k < draws[d].count; k++)
                in |= streq(jstr(w, "empNo"), draws[d].winners[k]);
            if (!in || jint(w, "prizeId") != draws[d].prize)
                BAD("draw %lld: winner %s is not one its reply named", draws[d].id, jstr(w, "empNo"));
        }
        if (found != draws[d].count)
            BAD("draw %lld: %d winners in the store, its reply named %d", draws[d].id, found, draws[d].count);
        want += draws[d].count;
    }
    if ((size_t)want != nw)
        BAD("the store has %zu winners, the acknowledged draws %d (a draw nobody acknowledged?)", nw, want);
    json_decref(st);
    /* every acknowledged sign-in: hello with its token gives `me` (16
     * checking connections at a time, each a new connection per token) */
    enum { NCHK = 16 };
    struct conn *chk[NCHK];
    int checked = 0, missing = 0, next = 0;
    for (int i = 0; i < NCHK; i++) {
        char l[32];
        snprintf(l, sizeof l, "token-check-%d", i);
        chk[i] = conn_new(R_CHECK, VIA_LB, -1, l);
    }
    long long e3 = now_ms() + 60000;
    for (;;) {
        int busy = 0;
        for (int i = 0; i < NCHK; i++) {
            struct conn *c = chk[i];
            if (c->emp >= 0 && c->st == S_OPEN && c->hello_ok) {
                if (!c->me_ok) {
                    missing++;
                    BAD("acknowledged sign-in of %.15s: hello with its token gave no `me`", emp_no[c->emp]);
                }
                checked++;
                conn_down(c, "checked", 0);
                c->emp = -1;
            }
            if (c->emp < 0) {
                while (next < npart && !acked[next])
                    next++;
                if (next < npart) {
                    c->emp = next++;
                    c->me_ok = 0;
                    conn_start(c);
                }
            }
            busy += c->emp >= 0;
        }
        if (!busy || now_ms() > e3)
            break;
        pump(5, 0);
    }
    if (checked != n_acked)
        BAD("%d tokens checked, %d sign-ins acknowledged", checked, n_acked);
    for (int i = 0; i < NCHK; i++) {
        if (chk[i]->emp >= 0)
            BAD("no state for the hello with the token of %.15s within 60 s", emp_no[chk[i]->emp]);
        conn_down(chk[i], "done", 0);
        chk[i]->emp = -1;
    }
    conn_down(a, "done", 0);
    if (n_unexpected)
        BAD("%d unexpected answers or pushes; first: %s", n_unexpected, first_unexpected);
    if (bad)
        out("fail %s (%d problems)", why, bad);
    else
        out("ok signedIn=%lld acked=%d attempted=%d tokens_checked=%d(missing %d) draws=%d winners=%zu alerts=%d",
            signed_in, n_acked, n_attempted, checked, missing, ndraws, nw, n_alerts);
#undef BAD
}

static int via_of(const char *s)
{
    for (int i = 0; i < NVIA; i++)
        if (streq(s, via_name[i]))
            return i;
    return -1;
}

static int client_main(void)
{
    for (int i = 0; i < MAX_PART; i++) {
        snprintf(emp_no[i], sizeof emp_no[i], "T%04d", i + 1);
        snprintf(emp_name[i], sizeof emp_name[i], "员工%04d号", i + 1);
    }
    char line[512];
    size_t ll = 0;
    logf_("client ready: lb %s:%d", inet_ntoa(via_addr[VIA_LB].sin_addr), ntohs(via_addr[VIA_LB].sin_port));
    for (;;) {
        int in = pump(20, 1);
        if (wl.active)
            wl_step();
        if (!in)
            continue;
        ssize_t r = read(0, line + ll, sizeof line - 1 - ll);
        if (r <= 0)
            return 0; /* the driver is gone */
        ll += (size_t)r;
        line[ll] = 0;
        char *nl;
        while ((nl = strchr(line, '\n'))) {
            *nl = 0;
            char w[6][64] = {{0}};
            int n = sscanf(line, "%63s %63s %63s %63s", w[0], w[1], w[2], w[3]);
            logf_("<= %s", line);
            if (n <= 0)
                ;
            else if (streq(w[0], "setup"))
                cmd_setup();
            else if (streq(w[0], "probe") && n == 2)
                cmd_probe(atoi(w[1]));
            else if (streq(w[0], "probe-close"))
                cmd_probe_close();
            else if (streq(w[0], "phones") && n == 3 && via_of(w[2]) >= 0)
                cmd_phones(atoi(w[1]), via_of(w[2]));
            else if (streq(w[0], "draw") && n == 4 && prize_of(w[1]) && via_of(w[3]) >= 0)
                cmd_draw(prize_of(w[1]), atoi(w[2]), via_of(w[3]));
            else if (streq(w[0], "settle") && n == 2)
                cmd_settle(atoi(w[1]));
            else if (streq(w[0], "wl-start")) {
                memset(&wl, 0, sizeof wl);
                wl.active = 1;
                wl.idle_since = now_ms();
                out("ok workload started");
            } else if (streq(w[0], "wl-wait") && n == 3)
                cmd_wl_wait(atoi(w[1]), atoi(w[2]));
            else if (streq(w[0], "wl-kill") && n >= 2) {
                pid_t pids[16];
                int np = 0;
                for (char *t = strtok(line + 7, " "); t && np < 16; t = strtok(NULL, " "))
                    if (atoi(t) > 0)
                        pids[np++] = (pid_t)atoi(t);
                cmd_wl_kill(pids, np);
            } else if (streq(w[0], "wl-stop"))
                cmd_wl_stop();
            else if (streq(w[0], "dual") && n == 3 && prize_of(w[1]))
                cmd_dual(prize_of(w[1]), atoi(w[2]));
            else if (streq(w[0], "verify"))
                cmd_verify();
            else if (streq(w[0], "quit")) {
                out("ok bye");
                return 0;
            } else
                out("fail unknown command: %s", line);
            size_t used = (size_t)(nl + 1 - line);
            memmove(line, nl + 1, ll - used + 1);
            ll -= used;
        }
        if (ll >= sizeof line - 1)
            ll = 0;
    }
}

/* ================= the probe worker ================= */

static int probe_main(const char *secret, const char *key, const char *gws, int want, int timeout_ms)
{
    struct pgw {
        int fd;
        char addr[64];
        struct buf in;
        int events;
    } g[16];
    int ng = 0;
    char list[1024];
    snprintf(list, sizeof list, "%s", gws);
    for (char *s = strtok(list, ","); s && ng < 16; s = strtok(NULL, ",")) {
        struct sockaddr_in a;
        if (parse_addr(s, &a) < 0) {
            fprintf(stderr, "topo probe-worker: bad address %s\n", s);
            return 2;
        }
        memset(&g[ng], 0, sizeof g[ng]);
        snprintf(g[ng].addr, sizeof g[ng].addr, "%s", s);
        g[ng].fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct timeval tv = {.tv_sec = 3};
        setsockopt(g[ng].fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(g[ng].fd, (struct sockaddr *)&a, sizeof a) < 0) {
            printf("fail connect %s: %s\n", s, strerror(errno));
            return 1;
        }
        char body[512];
        int n = snprintf(body, sizeof body, "{\"worker_key\":\"%s\",\"secret_key\":\"%s\"}", key, secret);
        struct gwp_header h = {.cmd = GWP_CMD_WORKER_CONNECT, .flag = GWP_FLAG_BODY_IS_SCALAR};
        struct buf b = BUF_INIT;
        gwp_encode(&b, &h, NULL, 0, body, (size_t)n);
        if (write(g[ng].fd, buf_head(&b), buf_avail(&b)) != (ssize_t)buf_avail(&b)) {
            printf("fail write %s\n", s);
            return 1;
        }
        buf_free(&b);
        printf("linked %s\n", s);
        ng++;
    }
    fflush(stdout);
    long long end = now_ms() + timeout_ms;
    for (;;) {
        /* done when every gateway host (ip) gave want events */
        int hosts = 0, hosts_done = 0;
        for (int i = 0; i < ng; i++) {
            size_t il = strcspn(g[i].addr, ":");
            int first = 1, ev = 0;
            for (int j = 0; j < ng; j++) {
                if (strncmp(g[j].addr, g[i].addr, il) == 0 && g[j].addr[il] == ':') {
                    if (j < i)
                        first = 0;
                    ev += g[j].events;
                }
            }
            if (first) {
                hosts++;
                hosts_done += ev >= want;
            }
        }
        if (hosts_done == hosts) {
            printf("done\n");
            fflush(stdout);
            return 0;
        }
        int left = (int)(end - now_ms());
        if (left <= 0) {
            printf("timeout\n");
            fflush(stdout);
            return 1;
        }
        struct pollfd pf[16];
        for (int i = 0; i < ng; i++)
            pf[i] = (struct pollfd){.fd = g[i].fd, .events = POLLIN};
        if (poll(pf, (nfds_t)ng, left < 100 ? left : 100) <= 0)
            continue;
        for (int i = 0; i < ng; i++) {
            if (!pf[i].revents)
                continue;
            uint8_t *dst = buf_reserve(&g[i].in, 65536);
            ssize_t r = read(g[i].fd, dst, 65536);
            if (r <= 0) {
                printf("fail %s closed the link\n", g[i].addr);
                return 1;
            }
            buf_commit(&g[i].in, (size_t)r);
            for (;;) {
                struct gwp_frame f;
                size_t used;
                char err[128];
                if (!buf_avail(&g[i].in) ||
                    gwp_decode(buf_head(&g[i].in), buf_avail(&g[i].in), GWP_DEFAULT_MAX_PACK_LEN, &f, &used, err,
                               sizeof err) != GWP_OK)
                    break;
                if (f.hdr.cmd == GWP_CMD_ON_CONNECT) {
                    struct in_addr ci = {.s_addr = htonl(f.hdr.client_ip)}, li = {.s_addr = htonl(f.hdr.local_ip)};
                    char cis[32], lis[32];
                    snprintf(cis, sizeof cis, "%s", inet_ntoa(ci));
                    snprintf(lis, sizeof lis, "%s", inet_ntoa(li));
                    printf("event gateway=%s:%u client=%s:%u\n", lis, f.hdr.local_port, cis, f.hdr.client_port);
                    fflush(stdout);
                    g[i].events++;
                }
                buf_consume(&g[i].in, used);
            }
        }
    }
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    srandom((unsigned)(time(NULL) ^ getpid()));
    setvbuf(stderr, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: topo client ... | topo probe-worker ...  (see tests/topology/topo.c)\n");
        return 2;
    }
    const char *secret = "", *key = "TopoProbe:0", *gws = "";
    int want = 2, timeout_ms = 10000;
    int have[NVIA] = {0};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = strchr(a, '=');
        v = v ? v + 1 : "";
        if (!strncmp(a, "--lb=", 5))
            have[VIA_LB] = parse_addr(v, &via_addr[VIA_LB]) == 0;
        else if (!strncmp(a, "--lb-b=", 7))
            have[VIA_B] = parse_addr(v, &via_addr[VIA_B]) == 0;
        else if (!strncmp(a, "--lb-c=", 7))
            have[VIA_C] = parse_addr(v, &via_addr[VIA_C]) == 0;
        else if (!strncmp(a, "--token=", 8))
            snprintf(admin_token, sizeof admin_token, "%s", v);
        else if (!strncmp(a, "--npart=", 8))
            npart = atoi(v);
        else if (!strncmp(a, "--secret=", 9))
            secret = v;
        else if (!strncmp(a, "--key=", 6))
            key = v;
        else if (!strncmp(a, "--gw=", 5))
            gws = v;
        else if (!strncmp(a, "--want=", 7))
            want = atoi(v);
        else if (!strncmp(a, "--timeout-ms=", 13))
            timeout_ms = atoi(v);
        else {
            fprintf(stderr, "topo: unknown argument %s\n", a);
            return 2;
        }
    }
    if (!strcmp(argv[1], "client")) {
        if (!have[VIA_LB] || !have[VIA_B] || !have[VIA_C] || npart < 1 || npart > MAX_PART) {
            fprintf(stderr, "topo client: --lb, --lb-b, --lb-c (IP:PORT) are required; --npart 1..%d\n", MAX_PART);
            return 2;
        }
        return client_main();
    }
    if (!strcmp(argv[1], "probe-worker"))
        return probe_main(secret, key, gws, want, timeout_ms);
    fprintf(stderr, "topo: unknown mode %s\n", argv[1]);
    return 2;
}
