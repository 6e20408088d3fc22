/* stream (shared/stream, "the link"): a framed non-blocking connection on
 * the shared loop, over a socketpair and over TCP on 127.0.0.1 — frames cut
 * across partial reads, the per-wake read cap, output written once before
 * the loop sleeps, a free from inside its own callback deferred, and a
 * reconnect with backoff against a port that is closed, then open. */
#include "loop.h"
#include "sock.h"
#include "stream.h"
#include "tu.h"

#include <CUnit/CUnit.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The owner: a stream and what the callbacks saw. Frames are "<len byte><payload>". */
struct owner {
    struct stream s;
    char frames[32][64];
    int nframes;
    size_t max_seen;       /* largest input handed to on_data */
    size_t bytes_in;       /* total consumed */
    int free_in_frame;     /* stream_free from on_data at this frame number (1-based) */
    int reply;             /* on each frame, queue three replies */
    int closes, connects, connectings;
    char why[64];
    int *freed;
};

static int frames_freed;

/* A loop must never hang a test. */
static void on_guard(struct loop *loop, void *data)
{
    (void)data;
    loop_stop(loop);
}

static ssize_t on_data(struct stream *s, const uint8_t *p, size_t n)
{
    struct owner *o = (struct owner *)s;
    if (n > o->max_seen)
        o->max_seen = n;
    if (p[0] == 0xff)
        return -1; /* a protocol error */
    if (n < 1u + p[0])
        return 0;
    if (o->nframes < 32) {
        memcpy(o->frames[o->nframes], p + 1, p[0]);
        o->frames[o->nframes][p[0]] = 0;
    }
    o->nframes++;
    o->bytes_in += 1u + p[0];
    if (o->reply) {
        stream_write(s, "r1;", 3);
        stream_write(s, "r2;", 3);
        stream_write(s, "r3;", 3);
    }
    if (o->free_in_frame == o->nframes)
        stream_free(s); /* deferred: o stays valid until on_free */
    return 1 + p[0];
}

static void on_close(struct stream *s, const char *why)
{
    struct owner *o = (struct owner *)s;
    o->closes++;
    snprintf(o->why, sizeof o->why, "%s", why ? why : "(null)");
}

static void on_free(struct stream *s)
{
    struct owner *o = (struct owner *)s;
    (*o->freed)++;
    free(o);
}

static void on_connecting(struct stream *s)
{
    struct owner *o = (struct owner *)s;
    o->connectings++;
    buf_append(&s->out, "\x05hello", 6);
}

static void on_connect(struct stream *s) { ((struct owner *)s)->connects++; }

static const struct stream_ops pair_ops = {
    .on_data = on_data,
    .on_close = on_close,
    .on_free = on_free,
    .read_chunk = 4096,
};

static struct owner *new_owner(struct loop *l, const struct stream_ops *ops)
{
    struct owner *o = calloc(1, sizeof *o);
    stream_init(&o->s, l, ops);
    o->freed = &frames_freed;
    return o;
}

/* One loop iteration without blocking (hooks and jobs included). */
static void spin(struct loop *l, int n)
{
    for (int i = 0; i < n; i++)
        ev_run(loop_ev(l), EVRUN_NOWAIT);
}

static void pair(int sv[2])
{
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
}

static void test_framing(void)
{
    struct loop *l = loop_new();
    int sv[2];
    pair(sv);
    struct owner *o = new_owner(l, &pair_ops);
    CU_ASSERT_EQUAL_FATAL(stream_attach(&o->s, sv[0]), 0);
    CU_ASSERT_EQUAL(stream_state(&o->s), STREAM_UP);
    const char wire[] = "\x03one\x00\x05three\x0b" "four-five-6";
    size_t len = sizeof wire - 1;
    /* Every byte on its own, with a loop iteration in between. */
    for (size_t i = 0; i < len; i++) {
        CU_ASSERT_EQUAL(write(sv[1], wire + i, 1), 1);
        spin(l, 1);
    }
    CU_ASSERT_EQUAL(o->nframes, 4);
    CU_ASSERT_STRING_EQUAL(o->frames[0], "one");
    CU_ASSERT_STRING_EQUAL(o->frames[1], "");
    CU_ASSERT_STRING_EQUAL(o->frames[2], "three");
    CU_ASSERT_STRING_EQUAL(o->frames[3], "four-five-6");
    CU_ASSERT_EQUAL(o->bytes_in, len);
    CU_ASSERT_EQUAL(buf_avail(&o->s.in), 0);
    /* Several frames and a partial one in one read. */
    CU_ASSERT_EQUAL(write(sv[1], "\x01" "a\x01" "b\x02" "c", 6), 6);
    spin(l, 2);
    CU_ASSERT_EQUAL(o->nframes, 6);
    CU_ASSERT_EQUAL(buf_avail(&o->s.in), 2);
    CU_ASSERT_EQUAL(write(sv[1], "d", 1), 1);
    spin(l, 2);
    CU_ASSERT_EQUAL(o->nframes, 7);
    CU_ASSERT_STRING_EQUAL(o->frames[6], "cd");
    /* End of file: on_close with stream_eof, no reconnect (accepted). */
    close(sv[1]);
    spin(l, 2);
    CU_ASSERT_EQUAL(o->closes, 1);
    CU_ASSERT_STRING_EQUAL(o->why, stream_eof);
    CU_ASSERT_EQUAL(o->s.fd, -1);
    CU_ASSERT_FALSE(stream_retry_pending(&o->s));
    stream_destroy(&o->s);
    free(o);
    loop_free(l);
}

static void test_protocol_error(void)
{
    struct loop *l = loop_new();
    int sv[2];
    pair(sv);
    struct owner *o = new_owner(l, &pair_ops);
    stream_attach(&o->s, sv[0]);
    CU_ASSERT_EQUAL(write(sv[1], "\x01x\xff\x01y", 5), 5);
    spin(l, 2);
    CU_ASSERT_EQUAL(o->nframes, 1);
    CU_ASSERT_EQUAL(o->closes, 1);
    CU_ASSERT_STRING_EQUAL(o->why, "protocol error");
    char c;
    CU_ASSERT_EQUAL(read(sv[1], &c, 1), 0); /* our end is closed */
    close(sv[1]);
    stream_destroy(&o->s);
    free(o);
    loop_free(l);
}

static const struct stream_ops capped_ops = {
    .on_data = on_data,
    .on_close = on_close,
    .on_free = on_free,
    .read_chunk = 16,
    .reads_per_wake = 2,
};

static void test_read_cap(void)
{
    struct loop *l = loop_new();
    int sv[2];
    pair(sv);
    struct owner *o = new_owner(l, &capped_ops);
    stream_attach(&o->s, sv[0]);
    /* 20 frames of 5 bytes = 100 bytes, all in the socket at once. */
    char wire[100];
    for (int i = 0; i < 20; i++)
        memcpy(wire + 5 * i, "\x04" "abcd", 5);
    CU_ASSERT_EQUAL(write(sv[1], wire, sizeof wire), 100);
    spin(l, 1);
    /* One wake: two reads of 16 bytes, so 6 whole frames, never more than 32 bytes at hand. */
    CU_ASSERT_EQUAL(o->nframes, 6);
    CU_ASSERT(o->max_seen <= 32);
    spin(l, 10);
    CU_ASSERT_EQUAL(o->nframes, 20);
    CU_ASSERT_EQUAL(o->bytes_in, 100);
    close(sv[1]);
    stream_destroy(&o->s);
    free(o);
    loop_free(l);
}

static void test_flush_before_sleep(void)
{
    struct loop *l = loop_new();
    int sv[2];
    pair(sv);
    struct owner *o = new_owner(l, &pair_ops);
    o->reply = 1;
    stream_attach(&o->s, sv[0]);
    /* Two frames in one read: six replies, all written before the loop
     * sleeps, in one write (the peer reads them in one go). */
    CU_ASSERT_EQUAL(write(sv[1], "\x01" "a\x01" "b", 4), 4);
    ev_run(loop_ev(l), EVRUN_NOWAIT); /* read: the replies are queued, not written */
    char got[64] = {0};
    CU_ASSERT_EQUAL(recv(sv[1], got, sizeof got, MSG_DONTWAIT), -1);
    spin(l, 1); /* the next before-sleep phase writes them */
    ssize_t r = recv(sv[1], got, sizeof got - 1, MSG_DONTWAIT);
    CU_ASSERT_EQUAL(r, 18);
    CU_ASSERT_STRING_EQUAL(got, "r1;r2;r3;r1;r2;r3;");
    CU_ASSERT_EQUAL(o->s.armed, LOOP_READ); /* WRITE is not watched: nothing left */

    /* Queued outside any callback: nothing leaves until the loop runs. */
    stream_write(&o->s, "x", 1);
    CU_ASSERT_EQUAL(recv(sv[1], got, sizeof got, MSG_DONTWAIT), -1);
    spin(l, 1);
    CU_ASSERT_EQUAL(recv(sv[1], got, sizeof got, MSG_DONTWAIT), 1);

    /* A full socket: WRITE is watched until the peer drains it. */
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    size_t big = 1u << 20;
    char *blob = malloc(big);
    memset(blob, 'z', big);
    CU_ASSERT_EQUAL(stream_write(&o->s, blob, big), 0);
    spin(l, 1);
    CU_ASSERT(buf_avail(&o->s.out) > 0);
    CU_ASSERT(o->s.armed & LOOP_WRITE);
    size_t drained = 0;
    for (int i = 0; i < 100000 && drained < big; i++) {
        ssize_t n = recv(sv[1], blob, big, MSG_DONTWAIT);
        if (n > 0)
            drained += (size_t)n;
        spin(l, 1);
    }
    CU_ASSERT_EQUAL(drained, big);
    CU_ASSERT_EQUAL(buf_avail(&o->s.out), 0);
    CU_ASSERT_EQUAL(o->s.armed, LOOP_READ);
    free(blob);
    close(sv[1]);
    stream_destroy(&o->s);
    free(o);
    loop_free(l);
}

static void test_close_after_flush(void)
{
    struct loop *l = loop_new();
    int sv[2];
    pair(sv);
    struct owner *o = new_owner(l, &pair_ops);
    stream_attach(&o->s, sv[0]);
    stream_write(&o->s, "bye", 3);
    stream_close_after_flush(&o->s);
    CU_ASSERT_EQUAL(stream_state(&o->s), STREAM_CLOSING);
    CU_ASSERT_EQUAL(stream_write(&o->s, "!", 1), 0); /* still queued: the owner decides */
    spin(l, 1);
    CU_ASSERT_EQUAL(o->closes, 1);
    CU_ASSERT_STRING_EQUAL(o->why, "(null)");
    char got[8] = {0};
    CU_ASSERT_EQUAL(read(sv[1], got, sizeof got), 4);
    CU_ASSERT_EQUAL(read(sv[1], got, sizeof got), 0);
    close(sv[1]);
    stream_destroy(&o->s);
    free(o);
    loop_free(l);
}

static void test_deferred_free(void)
{
    struct loop *l = loop_new();
    int sv[2];
    pair(sv);
    struct owner *o = new_owner(l, &pair_ops);
    o->free_in_frame = 2;
    frames_freed = 0;
    stream_attach(&o->s, sv[0]);
    /* Three frames in one read: freed in the second, the third is not handed over. */
    CU_ASSERT_EQUAL(write(sv[1], "\x01" "a\x01" "b\x01" "c", 6), 6);
    /* One iteration: before-sleep (nothing yet), poll, the io callback; the
     * next before-sleep phase has not run, so o is still there. */
    ev_run(loop_ev(l), EVRUN_NOWAIT);
    CU_ASSERT_EQUAL(frames_freed, 0);
    CU_ASSERT_EQUAL(o->nframes, 2);
    CU_ASSERT_EQUAL(o->s.fd, -1);
    spin(l, 2);
    CU_ASSERT_EQUAL(frames_freed, 1);
    char c;
    CU_ASSERT_EQUAL(read(sv[1], &c, 1), 0);
    close(sv[1]);

    /* From inside the callback, nothing is freed until the loop sleeps. */
    pair(sv);
    o = new_owner(l, &pair_ops);
    frames_freed = 0;
    stream_attach(&o->s, sv[0]);
    stream_free(&o->s);
    stream_free(&o->s); /* twice is once */
    CU_ASSERT_EQUAL(frames_freed, 0);
    CU_ASSERT_EQUAL(o->s.fd, -1);
    CU_ASSERT_EQUAL(stream_write(&o->s, "x", 1), -ENOTCONN);
    loop_run_jobs(l);
    CU_ASSERT_EQUAL(frames_freed, 1);
    close(sv[1]);
    loop_free(l);
}

/* A frame handler that frees its stream stops the decode loop. */
static void test_free_stops_decoding(void)
{
    struct loop *l = loop_new();
    int sv[2];
    pair(sv);
    struct owner *o = new_owner(l, &pair_ops);
    o->free_in_frame = 1;
    frames_freed = 0;
    stream_attach(&o->s, sv[0]);
    CU_ASSERT_EQUAL(write(sv[1], "\x01" "a\x01" "b", 4), 4);
    /* Read by hand so the count is seen before the deferred free. */
    stream_read(&o->s);
    CU_ASSERT_EQUAL(o->nframes, 1);
    CU_ASSERT_EQUAL(frames_freed, 0);
    loop_run_jobs(l);
    CU_ASSERT_EQUAL(frames_freed, 1);
    close(sv[1]);
    loop_free(l);
}

/* ---- reconnect with backoff on 127.0.0.1 ---- */

static const struct stream_ops client_ops = {
    .on_data = on_data,
    .on_connecting = on_connecting,
    .on_connect = on_connect,
    .on_close = on_close,
    .on_free = on_free,
    .backoff_first_ms = 20,
    .backoff_max_ms = 80,
    .stable_ms = 1,
};

struct retry_watch {
    struct owner *o;
    unsigned delays[16];
    int ndelays, last_closes;
    int lfd, port;
    int open_after;        /* listen once this many attempts failed */
    int stopped;
};

static void on_watch(struct loop *l, void *d)
{
    struct retry_watch *w = d;
    struct owner *o = w->o;
    if (o->closes != w->last_closes) {
        w->last_closes = o->closes;
        if (w->ndelays < 16)
            w->delays[w->ndelays++] = stream_retry_ms(&o->s);
        if (w->ndelays == w->open_after && w->lfd < 0) {
            char err[128];
            w->lfd = sock_listen("127.0.0.1", (uint16_t)w->port, 0, 16, err, sizeof err);
        }
    }
    if (o->connects && !w->stopped) {
        w->stopped = 1;
        loop_stop(l);
    }
}

static void test_reconnect(void)
{
    struct loop *l = loop_new();
    frames_freed = 0;
    struct owner *o = new_owner(l, &client_ops);
    struct retry_watch w = {.o = o, .lfd = -1, .port = tu_free_port(), .open_after = 4};
    CU_ASSERT_FATAL(w.port > 0);
    int r = stream_connect(&o->s, "127.0.0.1", (uint16_t)w.port);
    /* Refused at once or after the SYN: either way a retry follows. */
    if (r < 0) { /* no on_close for an error the caller sees: count it here */
        CU_ASSERT(stream_retry_pending(&o->s));
        w.delays[w.ndelays++] = stream_retry_ms(&o->s);
    } else {
        CU_ASSERT_EQUAL(o->connectings, 1);
        CU_ASSERT_EQUAL(buf_avail(&o->s.out), 6); /* the hello waits for the connection */
    }
    loop_every(l, 1, on_watch, &w);
    loop_timer_add(l, 5000, on_guard, NULL);
    int64_t t0 = loop_now_ms();
    loop_run(l);
    CU_ASSERT_EQUAL_FATAL(o->connects, 1);
    CU_ASSERT(w.ndelays >= 4);
    /* 20, 40, 80, 80 ms: doubling up to the maximum. */
    CU_ASSERT_EQUAL(w.delays[0], 20);
    CU_ASSERT_EQUAL(w.delays[1], 40);
    CU_ASSERT_EQUAL(w.delays[2], 80);
    CU_ASSERT_EQUAL(w.delays[3], 80);
    CU_ASSERT(loop_now_ms() - t0 >= 200);
    CU_ASSERT(o->connectings >= 4);
    CU_ASSERT_EQUAL(stream_state(&o->s), STREAM_UP);

    /* The hello (queued by on_connecting) is the first thing on the wire. */
    char ip[48];
    uint16_t port;
    int afd = -1;
    for (int i = 0; i < 200 && afd < 0; i++) {
        afd = sock_accept(w.lfd, ip, sizeof ip, &port);
        if (afd < 0)
            usleep(5000);
    }
    CU_ASSERT_FATAL(afd >= 0);
    char got[16] = {0};
    ssize_t n = 0;
    for (int i = 0; i < 200 && n <= 0; i++) {
        spin(l, 1);
        n = read(afd, got, sizeof got);
        if (n <= 0)
            usleep(5000);
    }
    CU_ASSERT_EQUAL(n, 6);
    CU_ASSERT_NSTRING_EQUAL(got, "\x05hello", 6);

    /* Lost after being up (longer than stable_ms): the delay starts over. */
    usleep(5000);
    close(afd);
    int closes = o->closes;
    for (int i = 0; i < 400 && o->closes == closes; i++) {
        spin(l, 1);
        usleep(1000);
    }
    CU_ASSERT_EQUAL(o->closes, closes + 1);
    CU_ASSERT_STRING_EQUAL(o->why, stream_eof);
    CU_ASSERT_EQUAL(stream_retry_ms(&o->s), 20);
    CU_ASSERT(stream_retry_pending(&o->s));
    /* It comes back by itself. */
    int connects = o->connects;
    for (int i = 0; i < 400 && o->connects == connects; i++) {
        spin(l, 1);
        usleep(1000);
    }
    CU_ASSERT_EQUAL(o->connects, connects + 1);
    stream_free(&o->s);
    loop_run_jobs(l);
    CU_ASSERT_EQUAL(frames_freed, 1);
    close(w.lfd);
    loop_free(l);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("stream", NULL, NULL);
    CU_add_test(s, "frames across partial reads", test_framing);
    CU_add_test(s, "on_data -1 closes with protocol error", test_protocol_error);
    CU_add_test(s, "the per-wake read cap", test_read_cap);
    CU_add_test(s, "output written once before the loop sleeps", test_flush_before_sleep);
    CU_add_test(s, "close after flush", test_close_after_flush);
    CU_add_test(s, "free from inside a callback is deferred", test_deferred_free);
    CU_add_test(s, "a free stops the decode loop", test_free_stops_decoding);
    CU_add_test(s, "reconnect with backoff on 127.0.0.1", test_reconnect);
    return tu_run("test_link");
}
