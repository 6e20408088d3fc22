/* lottery_signin: the lottery benchmark's client (issue 8; tests/bench/lottery.sh runs it).
 *
 * One epoll process (N phones + a screen + an admin; N ≤ 19,000 so it stays
 * under 20,000 open files), non-blocking RFC 6455 client (masked frames,
 * Sec-WebSocket-Accept checked, fragments joined, ping answered), phones
 * spread over the gateways given (--gw=PORT,PORT), loopback only:
 *
 *   1. admin: hello, participants.import of N people (B00001..), prize.save;
 *   2. screen: hello;
 *   3. N phones connect (at most --connect-inflight handshakes at a time), hello;
 *   4. phone i sends signin at t0 + i * window / N (paced over --window s);
 *      reported: time until every sign-in is acknowledged, until the screen's
 *      `signins` push says signedIn == N, and the sign-in round trip p50/p99;
 *   5. admin: draw.start (count --draw-count), then draw.stop; reported: for
 *      every phone the time from sending draw.stop until its draw.result
 *      arrived (p50/p99/p99.9/max) and how many never got it.
 *
 * Every phase has a deadline; nothing asserts a timing. One flat JSON object
 * (--json=FILE, and stdout) in the style of wsload's; exit status 1 when
 * connections, sign-ins or results were lost. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct {
    int ports[8], nports;
    long n;
    double window, phase_timeout;
    int draw_count, connect_inflight;
    char token[256], json[512], label[128];
} O = {.n = 5000, .window = 10, .phase_timeout = 120, .draw_count = 10, .connect_inflight = 256};

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("lottery_signin: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- connections ---- */

enum { ST_FREE, ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSED };
enum { R_PHONE, R_SCREEN, R_ADMIN };

struct conn {
    int fd, st, role, want_out;
    long idx; /* phone index */
    char *in, *out, *frag;
    size_t in_len, in_cap, out_len, out_cap, frag_len, frag_cap;
    int frag_op;
    /* phone */
    int hello_ok, signin_acked, got_started, got_result;
    int64_t signin_sent, signin_ack, result_at;
};

static struct conn *C;         /* N phones, then the screen, then the admin */
static long NC;
static int ep;
static long n_open, n_failed, n_server_closed, n_hello, n_acked, n_started, n_results, n_unexpected;
static size_t started_bytes, result_bytes; /* size of one draw.started / draw.result message */
static int64_t t_started_last;
static long screen_signed, screen_pushes;
static int64_t t_screen_all;
static json_t *admin_answer; /* the admin's last reply/error */
static char admin_wait_rid[64];
static long long draw_id_want;

static void buf_add(char **b, size_t *len, size_t *cap, const void *p, size_t n)
{
    if (*len + n > *cap) {
        size_t c = *cap ? *cap : 512;
        while (c < *len + n)
            c *= 2;
        *b = realloc(*b, c);
        if (!*b)
            die("out of memory");
        *cap = c;
    }
    memcpy(*b + *len, p, n);
    *len += n;
}

static void ep_set(struct conn *c, int out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.u64 = (uint64_t)(c - C)};
    c->want_out = out;
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_close(struct conn *c, int by_server)
{
    if (c->st == ST_FREE || c->st == ST_CLOSED)
        return;
    if (c->st == ST_OPEN) {
        n_open--;
        if (by_server)
            n_server_closed++;
    } else {
        n_failed++;
    }
    close(c->fd);
    c->fd = -1;
    c->st = ST_CLOSED;
    free(c->in);
    free(c->out);
    free(c->frag);
    c->in = c->out = c->frag = NULL;
    c->in_len = c->in_cap = c->out_len = c->out_cap = c->frag_len = c->frag_cap = 0;
}

static void flush_out(struct conn *c)
{
    size_t off = 0;
    while (off < c->out_len) {
        ssize_t w = write(c->fd, c->out + off, c->out_len - off);
        if (w < 0) {
            if (errno == EAGAIN)
                break;
            conn_close(c, 1);
            return;
        }
        off += (size_t)w;
    }
    memmove(c->out, c->out + off, c->out_len - off);
    c->out_len -= off;
    if (!!c->out_len != c->want_out)
        ep_set(c, c->out_len > 0);
}

static void conn_write(struct conn *c, const void *p, size_t n)
{
    if (c->st == ST_FREE || c->st == ST_CLOSED)
        return;
    buf_add(&c->out, &c->out_len, &c->out_cap, p, n);
    flush_out(c);
}

static void send_text(struct conn *c, const char *s)
{
    size_t n = strlen(s), h = 0;
    uint8_t *f = malloc(n + 14);
    if (!f)
        die("out of memory");
    f[h++] = 0x81;
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
        f[h + i] = (uint8_t)s[i] ^ m[i & 3];
    conn_write(c, f, h + n);
    free(f);
}

static void send_json(struct conn *c, json_t *j) /* stolen */
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s)
        die("out of memory");
    send_text(c, s);
    free(s);
}

static const char *key_b64 = "bG90dGVyeS1iZW5jaC1rZXk="; /* "lottery-bench-key" */
static char accept_want[64];

static void conn_start(struct conn *c, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s (open files limit?)", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    c->fd = fd;
    c->st = ST_CONNECTING;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u64 = (uint64_t)(c - C)};
    c->want_out = 1;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS)
        conn_close(c, 0);
}

static void on_open(struct conn *c)
{
    n_open++;
    if (c->role == R_PHONE)
        send_json(c, json_pack("{s:s,s:s}", "type", "hello", "role", "phone"));
    else if (c->role == R_SCREEN)
        send_json(c, json_pack("{s:s,s:s}", "type", "hello", "role", "screen"));
    else
        send_json(c, json_pack("{s:s,s:s,s:s}", "type", "hello", "role", "admin", "adminToken", O.token));
}

static const char *jstr(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

static void on_message(struct conn *c, const char *text, size_t len)
{
    json_t *j = json_loadb(text, len, 0, NULL);
    if (!j) {
        n_unexpected++;
        return;
    }
    const char *type = jstr(j, "type");
    int64_t t = now_us();
    if (strcmp(type, "ping") == 0) {
        send_text(c, "{\"type\":\"pong\"}");
    } else if (c->role == R_PHONE) {
        if (strcmp(type, "state") == 0) {
            if (!c->hello_ok++)
                n_hello++;
        } else if (strcmp(type, "reply") == 0 && strcmp(jstr(j, "cmd"), "signin") == 0) {
            if (!c->signin_acked++) {
                c->signin_ack = t;
                n_acked++;
            }
        } else if (strcmp(type, "error") == 0) {
            n_unexpected++;
            if (n_unexpected <= 5)
                fprintf(stderr, "lottery_signin: phone %ld got %.*s\n", c->idx, (int)(len > 300 ? 300 : len), text);
        } else if (strcmp(type, "draw.started") == 0 && !c->got_started) { /* the bench's one draw */
            c->got_started = 1;
            n_started++;
            t_started_last = t;
            started_bytes = len;
        } else if (strcmp(type, "draw.result") == 0 && !c->got_result) {
            c->got_result = 1;
            c->result_at = t;
            n_results++;
            result_bytes = len;
        }
    } else if (c->role == R_SCREEN) {
        if (strcmp(type, "state") == 0) {
            if (!c->hello_ok++)
                n_hello++;
        } else if (strcmp(type, "signins") == 0) {
            screen_pushes++;
            screen_signed = (long)json_integer_value(json_object_get(j, "signedIn"));
            if (screen_signed >= O.n && !t_screen_all)
                t_screen_all = t;
        }
    } else { /* admin */
        if (strcmp(type, "state") == 0) {
            if (!c->hello_ok++)
                n_hello++;
        } else if ((strcmp(type, "reply") == 0 || strcmp(type, "error") == 0) &&
                   strcmp(jstr(j, "rid"), admin_wait_rid) == 0) {
            json_decref(admin_answer);
            admin_answer = json_incref(j);
        }
    }
    json_decref(j);
}

/* Parses the frames in c->in. */
static void parse_frames(struct conn *c)
{
    size_t off = 0;
    while (c->st == ST_OPEN) {
        size_t avail = c->in_len - off;
        uint8_t *p = (uint8_t *)c->in + off;
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
        if (p[1] & 0x80)
            die("the server masked a frame");
        if (avail < h + n)
            break;
        const char *pl = (const char *)p + h;
        if (op == 0x9) { /* ping -> pong */
            uint8_t f[2 + 4 + 125];
            size_t k = n < 125 ? n : 125;
            f[0] = 0x8a;
            f[1] = (uint8_t)(0x80 | k);
            memset(f + 2, 0, 4);
            memcpy(f + 6, pl, k);
            conn_write(c, f, 6 + k);
        } else if (op == 0x8) {
            conn_close(c, 1);
            return;
        } else if (op == 0xa) {
            /* pong: nothing */
        } else {
            if (op != 0)
                c->frag_op = op;
            if (fin && c->frag_len == 0) {
                on_message(c, pl, n);
            } else {
                buf_add(&c->frag, &c->frag_len, &c->frag_cap, pl, n);
                if (fin) {
                    on_message(c, c->frag, c->frag_len);
                    c->frag_len = 0;
                }
            }
        }
        off += h + n;
    }
    if (c->in) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
}

static void on_readable(struct conn *c)
{
    char tmp[65536];
    for (;;) {
        ssize_t r = read(c->fd, tmp, sizeof tmp);
        if (r < 0) {
            if (errno == EAGAIN)
                break;
            conn_close(c, 1);
            return;
        }
        if (r == 0) {
            conn_close(c, 1);
            return;
        }
        buf_add(&c->in, &c->in_len, &c->in_cap, tmp, (size_t)r);
        if (c->st == ST_HANDSHAKE) {
            char *e = c->in_len >= 4 ? memmem(c->in, c->in_len, "\r\n\r\n", 4) : NULL;
            if (!e)
                continue;
            size_t hl = (size_t)(e + 4 - c->in);
            int ok = c->in_len > 12 && memcmp(c->in, "HTTP/1.1 101", 12) == 0;
            char save = c->in[hl - 1];
            c->in[hl - 1] = 0;
            char *acc = strcasestr(c->in, "Sec-WebSocket-Accept:");
            ok = ok && acc && strstr(acc, accept_want);
            c->in[hl - 1] = save;
            if (!ok) {
                conn_close(c, 0);
                return;
            }
            memmove(c->in, c->in + hl, c->in_len - hl);
            c->in_len -= hl;
            c->st = ST_OPEN;
            on_open(c);
        }
        if (c->st == ST_OPEN)
            parse_frames(c);
        if (c->st != ST_OPEN && c->st != ST_HANDSHAKE)
            return;
    }
}

static void on_writable(struct conn *c)
{
    if (c->st == ST_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            conn_close(c, 0);
            return;
        }
        char req[512];
        struct sockaddr_in a;
        socklen_t al = sizeof a;
        getpeername(c->fd, (struct sockaddr *)&a, &al);
        int n = snprintf(req, sizeof req,
                         "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                         ntohs(a.sin_port), key_b64);
        c->st = ST_HANDSHAKE;
        ep_set(c, 0);
        conn_write(c, req, (size_t)n);
        return;
    }
    flush_out(c);
}

/* One round of the event loop (at most ms milliseconds). */
static void loop_once(int ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(ep, evs, 512, ms);
    for (int i = 0; i < n; i++) {
        struct conn *c = &C[evs[i].data.u64];
        if (c->st == ST_FREE || c->st == ST_CLOSED)
            continue;
        if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            on_writable(c);
        if (c->st != ST_CLOSED && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
            on_readable(c);
    }
}

static struct conn *screen, *admin;

/* Sends an admin command (rid set here) and runs the loop until its answer. */
static json_t *admin_cmd(json_t *msg, const char *rid, double timeout_s)
{
    snprintf(admin_wait_rid, sizeof admin_wait_rid, "%s", rid);
    json_object_set_new(msg, "rid", json_string(rid));
    json_decref(admin_answer);
    admin_answer = NULL;
    send_json(admin, msg);
    int64_t end = now_us() + (int64_t)(timeout_s * 1e6);
    while (!admin_answer && now_us() < end && admin->st == ST_OPEN)
        loop_once(10);
    if (!admin_answer)
        die("no answer to the admin's %s within %.0f s", rid, timeout_s);
    if (strcmp(jstr(admin_answer, "type"), "reply") != 0) {
        char *d = json_dumps(admin_answer, JSON_COMPACT);
        die("admin %s: %s", rid, d);
    }
    json_t *a = admin_answer;
    admin_answer = NULL;
    return a;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, long n, double p)
{
    if (n <= 0)
        return -1;
    long i = (long)(p * (double)n);
    if (i >= n)
        i = n - 1;
    return v[i];
}

static double r2(double x) { return (double)(long long)(x * 100 + (x >= 0 ? 0.5 : -0.5)) / 100; }

static void usage(void)
{
    fprintf(stderr, "usage: lottery_signin --gw=PORT[,PORT...] --admin-token=T [--n=5000] [--window=10]\n"
                    "       [--draw-count=10] [--connect-inflight=256] [--phase-timeout=120] [--json=FILE] [--label=L]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "--gw=", 5)) {
            for (char *s = (char *)a + 5; *s && O.nports < 8;) {
                O.ports[O.nports++] = (int)strtol(s, &s, 10);
                if (*s == ',')
                    s++;
            }
        } else if (!strncmp(a, "--n=", 4)) {
            O.n = atol(a + 4);
        } else if (!strncmp(a, "--window=", 9)) {
            O.window = atof(a + 9);
        } else if (!strncmp(a, "--draw-count=", 13)) {
            O.draw_count = atoi(a + 13);
        } else if (!strncmp(a, "--connect-inflight=", 19)) {
            O.connect_inflight = atoi(a + 19);
        } else if (!strncmp(a, "--phase-timeout=", 16)) {
            O.phase_timeout = atof(a + 16);
        } else if (!strncmp(a, "--admin-token=", 14)) {
            snprintf(O.token, sizeof O.token, "%s", a + 14);
        } else if (!strncmp(a, "--json=", 7)) {
            snprintf(O.json, sizeof O.json, "%s", a + 7);
        } else if (!strncmp(a, "--label=", 8)) {
            snprintf(O.label, sizeof O.label, "%s", a + 8);
        } else {
            usage();
        }
    }
    if (O.nports < 1 || O.n < 1 || O.n > 19000 || !O.token[0] || O.window <= 0)
        usage();
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if ((long)rl.rlim_cur < O.n + 64)
        die("open files limit %ld is below %ld connections", (long)rl.rlim_cur, O.n + 2);
    srandom((unsigned)getpid());
    {
        char cat[128];
        unsigned char d[20];
        unsigned dl = 0;
        snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key_b64);
        EVP_Digest(cat, strlen(cat), d, &dl, EVP_sha1(), NULL);
        EVP_EncodeBlock((unsigned char *)accept_want, d, 20);
    }
    NC = O.n + 2;
    C = calloc((size_t)NC, sizeof *C);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!C || ep < 0)
        die("out of memory");
    for (long i = 0; i < NC; i++) {
        C[i].fd = -1;
        C[i].idx = i;
        C[i].role = i < O.n ? R_PHONE : i == O.n ? R_SCREEN : R_ADMIN;
    }
    screen = &C[O.n];
    admin = &C[O.n + 1];
    int64_t deadline;

    /* 1. the admin: import and a prize */
    conn_start(admin, O.ports[0]);
    deadline = now_us() + 20 * 1000000LL;
    while (!admin->hello_ok && now_us() < deadline && admin->st != ST_CLOSED)
        loop_once(10);
    if (!admin->hello_ok)
        die("the admin's hello got no state (is the lottery running, the admin token right?)");
    json_t *rows = json_array();
    for (long i = 0; i < O.n; i++) {
        char e[24], nm[48];
        snprintf(e, sizeof e, "B%05ld", i + 1);
        snprintf(nm, sizeof nm, "员工%05ld", i + 1);
        json_array_append_new(rows, json_pack("{s:s,s:s,s:s}", "empNo", e, "name", nm, "dept", "压测部"));
    }
    int64_t t_imp = now_us();
    json_t *r = admin_cmd(json_pack("{s:s,s:s,s:o}", "type", "participants.import", "mode", "merge", "rows", rows),
                          "bench-import", O.phase_timeout);
    double import_ms = (double)(now_us() - t_imp) / 1000;
    json_decref(r);
    r = admin_cmd(json_pack("{s:s,s:s,s:i,s:i,s:b}", "type", "prize.save", "name", "压测奖", "tier", 1, "quantity",
                            O.draw_count, "excludeWinners", 1),
                  "bench-prize", O.phase_timeout);
    long long prize = json_integer_value(json_object_get(json_object_get(r, "prize"), "id"));
    json_decref(r);

    /* 2. the screen */
    conn_start(screen, O.ports[O.nports > 1 ? 1 : 0]);
    /* 3. the phones connect and say hello, at most connect_inflight handshakes at a time */
    int64_t t_conn = now_us();
    deadline = t_conn + (int64_t)(O.phase_timeout * 1e6);
    long next = 0;
    while (now_us() < deadline) {
        long pending = next - n_hello - n_failed; /* roughly: started, not yet hello'd or failed */
        while (next < O.n && pending < O.connect_inflight) {
            conn_start(&C[next], O.ports[next % O.nports]);
            next++;
            pending++;
        }
        if (n_hello >= O.n + 2 || (next == O.n && n_hello + n_failed >= O.n + 2))
            break;
        loop_once(5);
    }
    double connect_ms = (double)(now_us() - t_conn) / 1000;
    long connected = n_hello - 2;
    fprintf(stderr, "lottery_signin: %ld phones connected and hello'd in %.0f ms (%ld failed)\n", connected, connect_ms,
            n_failed);

    /* 4. sign-ins, paced over the window */
    int64_t t0 = now_us(), win = (int64_t)(O.window * 1e6);
    long sent = 0;
    deadline = t0 + win + (int64_t)(O.phase_timeout * 1e6);
    while (now_us() < deadline) {
        int64_t t = now_us();
        while (sent < O.n && t0 + win * sent / O.n <= t) {
            struct conn *c = &C[sent];
            if (c->st == ST_OPEN && c->hello_ok) {
                char e[24], nm[48], rid[32];
                snprintf(e, sizeof e, "B%05ld", sent + 1);
                snprintf(nm, sizeof nm, "员工%05ld", sent + 1);
                snprintf(rid, sizeof rid, "bsi-%ld", sent);
                c->signin_sent = now_us();
                send_json(c, json_pack("{s:s,s:s,s:s,s:s}", "type", "signin", "rid", rid, "empNo", e, "name", nm));
            }
            sent++;
        }
        if (sent == O.n && n_acked >= connected && t_screen_all)
            break;
        loop_once(sent < O.n ? 1 : 10);
    }
    int64_t t_last_ack = 0;
    double *sl = calloc((size_t)O.n, sizeof *sl);
    long nsl = 0;
    for (long i = 0; i < O.n; i++)
        if (C[i].signin_acked) {
            if (C[i].signin_ack > t_last_ack)
                t_last_ack = C[i].signin_ack;
            sl[nsl++] = (double)(C[i].signin_ack - C[i].signin_sent) / 1000;
        }
    qsort(sl, (size_t)nsl, sizeof *sl, cmp_d);
    double all_acked_ms = n_acked >= O.n ? (double)(t_last_ack - t0) / 1000 : -1;
    double screen_ms = t_screen_all ? (double)(t_screen_all - t0) / 1000 : -1;
    fprintf(stderr,
            "lottery_signin: %ld/%ld sign-ins acknowledged, all by %.0f ms; screen saw %ld by %.0f ms (%ld pushes)\n",
            n_acked, O.n, all_acked_ms, screen_signed, screen_ms, screen_pushes);

    /* 5. the draw: start, wait until every phone shows the rolling names
     * (draw.started), then stop: the result's fan-out is measured alone */
    int64_t t_start = now_us();
    r = admin_cmd(json_pack("{s:s,s:I,s:i}", "type", "draw.start", "prizeId", (json_int_t)prize, "count",
                            O.draw_count),
                  "bench-start", O.phase_timeout);
    draw_id_want = json_integer_value(json_object_get(json_object_get(r, "draw"), "drawId"));
    long pool = (long)json_integer_value(json_object_get(json_object_get(r, "draw"), "poolSize"));
    json_decref(r);
    deadline = now_us() + (int64_t)(O.phase_timeout * 1e6);
    while (n_started < connected && now_us() < deadline)
        loop_once(10);
    double started_all_ms = n_started >= connected ? (double)(t_started_last - t_start) / 1000 : -1;
    int64_t t_stop = now_us();
    r = admin_cmd(json_pack("{s:s,s:I}", "type", "draw.stop", "drawId", (json_int_t)draw_id_want), "bench-stop",
                  O.phase_timeout);
    double stop_reply_ms = (double)(now_us() - t_stop) / 1000;
    json_decref(r);
    deadline = now_us() + (int64_t)(O.phase_timeout * 1e6);
    while (n_results < connected && now_us() < deadline)
        loop_once(10);
    double *dl = calloc((size_t)O.n, sizeof *dl);
    long ndl = 0;
    for (long i = 0; i < O.n; i++)
        if (C[i].got_result)
            dl[ndl++] = (double)(C[i].result_at - t_stop) / 1000;
    qsort(dl, (size_t)ndl, sizeof *dl, cmp_d);

    long lost = (O.n - n_acked) + (O.n - n_results);
    json_t *out = json_object();
#define SETI(k, v) json_object_set_new(out, k, json_integer((json_int_t)(v)))
#define SETF(k, v) json_object_set_new(out, k, json_real(r2(v)))
    json_object_set_new(out, "label", json_string(O.label));
    json_object_set_new(out, "mode", json_string("lottery"));
    SETI("conns", O.n);
    SETI("gateways", O.nports);
    SETI("connected", connected);
    SETI("failed", n_failed);
    SETI("server_closed", n_server_closed);
    SETF("connect_ms", connect_ms);
    SETF("import_ms", import_ms);
    SETF("signin_window_s", O.window);
    SETI("signin_acked", n_acked);
    SETF("signin_all_acked_ms", all_acked_ms);
    SETF("signin_screen_ms", screen_ms);
    SETF("signin_rtt_p50_ms", pct(sl, nsl, 0.5));
    SETF("signin_rtt_p99_ms", pct(sl, nsl, 0.99));
    SETI("screen_pushes", screen_pushes);
    SETI("pool_size", pool);
    SETI("draw_started_received", n_started);
    SETF("draw_started_all_ms", started_all_ms);
    SETI("draw_started_bytes", started_bytes);
    SETI("draw_result_bytes", result_bytes);
    SETF("draw_stop_reply_ms", stop_reply_ms);
    SETI("draw_received", n_results);
    SETF("draw_p50_ms", pct(dl, ndl, 0.5));
    SETF("draw_p99_ms", pct(dl, ndl, 0.99));
    SETF("draw_max_ms", ndl ? dl[ndl - 1] : -1);
    /* the names the summary of run.sh tabulates */
    SETF("p50_ms", pct(dl, ndl, 0.5));
    SETF("p99_ms", pct(dl, ndl, 0.99));
    SETF("p999_ms", pct(dl, ndl, 0.999));
    SETI("lost", lost);
    SETI("unexpected", n_unexpected);
    char *s = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    printf("%s\n", s);
    if (O.json[0]) {
        FILE *f = fopen(O.json, "w");
        if (f) {
            fprintf(f, "%s\n", s);
            fclose(f);
        }
    }
    free(s);
    json_decref(out);
    return lost || n_failed || n_server_closed || n_unexpected ? 1 : 0;
}
