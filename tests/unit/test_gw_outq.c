/* gateway/outq.c's batch builder: how the messages queued for one client are
 * laid out as RFC 6455 frames, back to back, for a single write
 * (outq_batch_fill) and the next write (outq_next_write), exposed by
 * gateway/outq_int.h. No connection and no
 * libwebsockets context: the queue is a struct client filled with
 * outq_queue_push; outq_write only hands the result to lws_write. */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway.h"
#include "gateway/gwmsg.h"
#include "gateway/outq.h"
#include "gateway/outq_int.h"
#include "loop.h"
#include "tu.h"

struct ofx {
    struct gateway gw;
    struct loop *loop;
    struct clients cs;
    struct client c;
    uint8_t out[BATCH_MAX];
};

static void ofx_up(struct ofx *f, int text)
{
    memset(f, 0, sizeof *f);
    f->loop = loop_new();
    f->gw.ioloop = f->loop;
    f->gw.loop = loop_ev(f->loop);
    f->cs.gw = &f->gw;
    f->cs.text = text;
}

static void ofx_down(struct ofx *f)
{
    outq_clear(&f->cs, &f->c);
    outq_stop(&f->cs); /* frees the ring pool (its watchers were never started) */
    loop_free(f->loop);
}

static void push(struct ofx *f, const void *p, size_t n, unsigned flags)
{
    struct gwmsg *m = gwmsg_new(p, n, flags);
    CU_ASSERT_FATAL(m != NULL);
    CU_ASSERT_EQUAL(outq_queue_push(&f->cs, &f->c, m), 0);
    gwmsg_unref(m); /* the queue holds its own reference */
}

/* Text, binary (invalid UTF-8), a 2-byte-length frame and a raw message:
 * headers as RFC 6455 server frames (FIN, opcode, unmasked length), raw bytes
 * verbatim, in queue order. */
static void test_frames_back_to_back(void)
{
    struct ofx f;
    ofx_up(&f, 0);
    char mid[200];
    memset(mid, 'm', sizeof mid);
    push(&f, "hi", 2, 0);
    push(&f, "\xff\xfe", 2, 0);
    push(&f, mid, sizeof mid, 0);
    push(&f, "RAW", 3, GWMSG_RAW);
    CU_ASSERT_EQUAL(f.c.qlen, 4);
    size_t used = outq_batch_fill(&f.cs, &f.c, f.out);
    size_t want = 4 + 4 + (4 + 200) + 3;
    CHECKF(used == want, "batch of %zu bytes, want %zu", used, want);
    const uint8_t *p = f.out;
    CU_ASSERT(p[0] == 0x81 && p[1] == 2 && memcmp(p + 2, "hi", 2) == 0);
    p += 4;
    CU_ASSERT(p[0] == 0x82 && p[1] == 2 && p[2] == 0xff && p[3] == 0xfe);
    p += 4;
    CU_ASSERT(p[0] == 0x81 && p[1] == 126 && p[2] == 0 && p[3] == 200 && memcmp(p + 4, mid, 200) == 0);
    p += 204;
    CU_ASSERT(memcmp(p, "RAW", 3) == 0);
    CU_ASSERT_EQUAL(f.c.qlen, 0);
    CU_ASSERT_EQUAL(f.c.queued_bytes, 0);
    CU_ASSERT_EQUAL(f.cs.msgs_out, 4);
    CU_ASSERT_EQUAL(f.cs.bytes_out, 2 + 2 + 200 + 3);
    ofx_down(&f);
}

/* Only whole frames go in, up to BATCH_MAX bytes; the rest stays queued, in
 * order, for the next write. */
/* The next write (outq_next_write), what both writers send: one queued
 * message is its shared frame, header included (written once into the
 * encoding's headroom), for each header size; several small ones are one
 * batch. */
static void test_next_write(void)
{
    struct ofx f;
    ofx_up(&f, 0);
    static char big[70000];
    memset(big, 'b', sizeof big);
    char mid[200];
    memset(mid, 'm', sizeof mid);
    static const struct {
        const char *p;
        size_t n;
        unsigned flags;
        uint8_t h[10];
        size_t hl;
    } cases[] = {
        {"hi", 2, 0, {0x81, 2}, 2},
        {"\xff\xfe", 2, 0, {0x82, 2}, 2},
        {NULL, 200, 0, {0x81, 126, 0, 200}, 4},
        {NULL, 70000, 0, {0x81, 127, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70}, 10},
        {"RAW", 3, GWMSG_RAW, {0}, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *body = cases[i].p ? cases[i].p : cases[i].n == 200 ? mid : big;
        push(&f, body, cases[i].n, cases[i].flags);
        size_t len = 0;
        struct gwmsg *hold = NULL;
        const uint8_t *p = outq_next_write(&f.cs, &f.c, &len, &hold);
        CU_ASSERT_FATAL(p != NULL);
        CHECKF(len == cases[i].hl + cases[i].n, "case %zu: %zu bytes", i, len);
        CHECKF(memcmp(p, cases[i].h, cases[i].hl) == 0, "case %zu: header %02x %02x", i, p[0], p[1]);
        CU_ASSERT(memcmp(p + cases[i].hl, body, cases[i].n) == 0);
        CU_ASSERT(hold != NULL);
        gwmsg_unref(hold);
        CU_ASSERT_EQUAL(f.c.qlen, 0);
    }
    CU_ASSERT(outq_next_write(&f.cs, &f.c, &(size_t){0}, &(struct gwmsg *){NULL}) == NULL);
    /* Two queued: one batch, no message reference to hold. */
    f.cs.batch = malloc(LWS_PRE + BATCH_MAX);
    push(&f, "a", 1, 0);
    push(&f, "bc", 2, 0);
    size_t len = 0;
    struct gwmsg *hold = NULL;
    const uint8_t *p = outq_next_write(&f.cs, &f.c, &len, &hold);
    CU_ASSERT(p == f.cs.batch + LWS_PRE && len == 3 + 4 && hold == NULL);
    CU_ASSERT(p && memcmp(p, "\x81\x01" "a\x81\x02" "bc", 7) == 0);
    CU_ASSERT_EQUAL(f.c.qlen, 0);
    ofx_down(&f); /* frees cs.batch */
}

static void test_batch_limit(void)
{
    struct ofx f;
    ofx_up(&f, 0);
    static char body[2000];
    for (int i = 0; i < 3; i++) {
        memset(body, 'a' + i, sizeof body);
        push(&f, body, sizeof body, 0);
    }
    size_t used = outq_batch_fill(&f.cs, &f.c, f.out);
    CU_ASSERT_EQUAL(used, 2 * (4 + 2000)); /* a third 2004-byte frame would pass 4096 */
    CU_ASSERT(f.out[4] == 'a' && f.out[2004 + 4] == 'b');
    CU_ASSERT_EQUAL(f.c.qlen, 1);
    CU_ASSERT_EQUAL(f.c.queued_bytes, 2000);
    used = outq_batch_fill(&f.cs, &f.c, f.out);
    CU_ASSERT_EQUAL(used, 2004);
    CU_ASSERT(f.out[0] == 0x81 && f.out[1] == 126 && f.out[4] == 'c');
    CU_ASSERT_EQUAL(f.c.qlen, 0);
    /* A head larger than a batch: nothing taken (outq_write sends it alone). */
    static char big[5000];
    memset(big, 'b', sizeof big);
    push(&f, big, sizeof big, 0);
    CU_ASSERT_EQUAL(outq_batch_fill(&f.cs, &f.c, f.out), 0);
    CU_ASSERT_EQUAL(f.c.qlen, 1);
    ofx_down(&f);
}

/* The queue grows from one slot into a ring and keeps order through many
 * fills (the ring wraps). */
static void test_ring_order(void)
{
    struct ofx f;
    ofx_up(&f, 0);
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 50; round++) {
        for (int k = 0; k < 7; k++) {
            char m[12];
            int n = snprintf(m, sizeof m, "%05d", next_in++);
            push(&f, m, (size_t)n, 0);
        }
        size_t used = outq_batch_fill(&f.cs, &f.c, f.out);
        CU_ASSERT_EQUAL(used, 7 * 7);
        for (size_t off = 0; off < used; off += 7) {
            char want[12];
            snprintf(want, sizeof want, "%05d", next_out++);
            CHECKF(f.out[off] == 0x81 && f.out[off + 1] == 5 && memcmp(f.out + off + 2, want, 5) == 0,
                   "frame at %zu: '%.5s', want '%s'", off, (const char *)f.out + off + 2, want);
        }
    }
    CU_ASSERT_EQUAL(next_out, 350);
    ofx_down(&f);
}

/* text:// listeners: every message is one line, written raw. */
static void test_text_mode(void)
{
    struct ofx f;
    ofx_up(&f, 1);
    push(&f, "one", 3, 0);
    push(&f, "two", 3, 0);
    push(&f, "raw", 3, GWMSG_RAW);
    size_t used = outq_batch_fill(&f.cs, &f.c, f.out);
    CU_ASSERT_EQUAL(used, 11);
    CU_ASSERT(memcmp(f.out, "one\ntwo\nraw", 11) == 0);
    ofx_down(&f);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("gateway outq batch", NULL, NULL);
    CU_add_test(s, "frames back to back (text, binary, 16-bit length, raw)", test_frames_back_to_back);
    CU_add_test(s, "whole frames up to BATCH_MAX; the rest stays queued", test_batch_limit);
    CU_add_test(s, "the next write: a message's shared frame, or a batch", test_next_write);
    CU_add_test(s, "queue order through ring growth and wrap", test_ring_order);
    CU_add_test(s, "text:// mode: one line per message", test_text_mode);
    return tu_run("test_gw_outq");
}
