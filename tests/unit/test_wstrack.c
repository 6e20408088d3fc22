/* wstrack: the client-frame tracker wsguard runs over ws:// (recv) and
 * wss:// (SSL_read) streams. Every verdict must be the same however the
 * stream is cut into reads (TLS records and TCP segments cut it anywhere),
 * and must name where the offending frame starts. */
#include "../../gateway/wstrack.h"
#include "tu.h"
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#define MAX 1000

static uint8_t stream[8192];
static size_t slen;

/* Appends one frame: b0 as given, masked unless unmasked, the length in
 * its minimal form unless len16; claim (when non-zero) is the announced
 * length. Returns the offset the frame starts at. */
static size_t put(uint8_t b0, const void *data, size_t len, int unmasked, int len16, uint64_t claim)
{
    size_t at = slen;
    uint64_t l = claim ? claim : len;
    uint8_t m = unmasked ? 0 : 0x80, key[4] = {0x11, 0x22, 0x33, 0x44};
    stream[slen++] = b0;
    if (l < 126 && !len16) {
        stream[slen++] = (uint8_t)(m | l);
    } else if (l < 65536) {
        stream[slen++] = m | 126;
        stream[slen++] = (uint8_t)(l >> 8);
        stream[slen++] = (uint8_t)l;
    } else {
        stream[slen++] = m | 127;
        for (int i = 7; i >= 0; i--)
            stream[slen++] = (uint8_t)(l >> (8 * i));
    }
    if (!unmasked) {
        memcpy(stream + slen, key, 4);
        slen += 4;
    }
    for (size_t i = 0; i < len; i++)
        stream[slen + i] = ((const uint8_t *)data)[i] ^ (unmasked ? 0 : key[i & 3]);
    slen += len;
    return at;
}

static size_t frame(uint8_t b0, const void *data, size_t len) { return put(b0, data, len, 0, 0, 0); }

static size_t close_frame(unsigned code, const char *reason)
{
    uint8_t p[128] = {(uint8_t)(code >> 8), (uint8_t)code};
    size_t rl = strlen(reason);
    memcpy(p + 2, reason, rl);
    return frame(0x88, p, 2 + rl);
}

/* Feeds stream[0..slen) in pieces: at split (two reads), or one byte per
 * read when split is 0. Returns the stream offset of the offending frame
 * (slen when none) and the close code in *code. */
static size_t run(size_t split, int *code, const char **why)
{
    struct wstrack t;
    wstrack_init(&t, MAX);
    size_t at = 0, bad = slen;
    while (at < slen) {
        size_t n = split ? (at < split ? split - at : slen - at) : 1;
        size_t ok = wstrack_feed(&t, stream + at, n);
        if (t.fail) {
            CU_ASSERT(ok <= n);
            /* "0 when it started in an earlier read": find the frame start */
            bad = ok ? at + ok : (size_t)-1;
            break;
        }
        CU_ASSERT_EQUAL(ok, n);
        at += n;
    }
    *code = t.fail;
    if (why)
        *why = t.why;
    wstrack_free(&t);
    return bad;
}

/* The stream's verdict, the same for one read, one byte per read and
 * every two-read cut; 0 when it is fine. */
static int verdict(size_t want_at, const char *want_why)
{
    int code, c2;
    const char *why = NULL;
    size_t at = run(slen, &code, &why);
    if (code) {
        CU_ASSERT_EQUAL(at, want_at);
        if (want_why && why && !strstr(why, want_why)) {
            printf("\n    why \"%s\", wanted \"%s\" ", why, want_why);
            CU_FAIL("reason");
        }
    } else {
        CU_ASSERT_EQUAL(at, slen);
    }
    size_t a2 = run(0, &c2, NULL);
    CU_ASSERT_EQUAL(c2, code);
    /* one byte per read: the offending frame began in an earlier read
     * unless the violation is in its first byte */
    CU_ASSERT(!code || a2 == want_at || a2 == (size_t)-1);
    for (size_t cut = 1; cut < slen; cut++) {
        size_t a3 = run(cut, &c2, NULL);
        CU_ASSERT_EQUAL(c2, code);
        if (code && a3 != (size_t)-1)
            CU_ASSERT_EQUAL(a3, want_at);
    }
    return code;
}

static void fresh(void) { slen = 0; }

static void test_good_streams(void)
{
    fresh();
    frame(0x81, "echo:hello", 10);
    frame(0x89, "ping", 4);
    frame(0x8a, "", 0);
    frame(0x01, "frag", 4);           /* text, no FIN */
    frame(0x89, "between", 7);        /* a control frame inside a message */
    frame(0x00, "", 0);               /* empty continuation */
    frame(0x80, "ment", 4);           /* last fragment */
    frame(0x82, "\x00\xff", 2);
    close_frame(1000, "bye \xe2\x82\xac");
    CU_ASSERT_EQUAL(verdict(0, NULL), 0);

    fresh(); /* every code the wire may carry */
    static const unsigned ok[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        close_frame(ok[i], "");
    frame(0x88, "", 0); /* no code at all */
    CU_ASSERT_EQUAL(verdict(0, NULL), 0);

    fresh(); /* exactly the limit, in one frame and in fragments; 16- and 64-bit lengths */
    static uint8_t big[MAX];
    memset(big, 'x', sizeof big);
    frame(0x81, big, MAX);
    frame(0x02, big, MAX / 2);
    frame(0x80, big, MAX / 2);
    put(0x81, big, 200, 0, 0, 0);
    CU_ASSERT_EQUAL(verdict(0, NULL), 0);
}

/* One good frame, then the bad one: the verdict names the bad one's start. */
static void bad_after_good(void (*add_bad)(void), int want_code, const char *why)
{
    fresh();
    frame(0x81, "echo:fine", 9);
    size_t at = slen;
    add_bad();
    CU_ASSERT_EQUAL(verdict(at, why), want_code);
}

static void b_rsv1(void) { frame(0xc1, "x", 1); }
static void b_rsv3(void) { frame(0x91, "x", 1); }
static void b_op3(void) { frame(0x83, "", 0); }
static void b_op7(void) { frame(0x87, "x", 1); }
static void b_opb(void) { frame(0x8b, "", 0); }
static void b_opf(void) { frame(0x8f, "", 0); }
static void b_frag_ping(void) { frame(0x09, "x", 1); }
static void b_stray_cont(void) { frame(0x80, "x", 1); }
static void b_unmasked(void) { put(0x81, "x", 1, 1, 0, 0); }
static void b_unmasked_close(void) { put(0x88, "\x03\xe8", 2, 1, 0, 0); }
static void b_ping126(void)
{
    uint8_t p[126] = {0};
    frame(0x89, p, sizeof p);
}
static void b_ping16(void) { put(0x89, "hello", 5, 0, 1, 0); }
static void b_close1(void) { frame(0x88, "\x03", 1); }
static void b_close999(void) { close_frame(999, ""); }
static void b_close1005(void) { close_frame(1005, ""); }
static void b_close5000(void) { close_frame(5000, "x"); }
static void b_close_utf8(void) { close_frame(1000, "bad \xed\xa0\x80"); }
static void b_over(void)
{
    static uint8_t big[MAX + 1];
    frame(0x81, big, sizeof big);
}
static void b_huge_claim(void) { put(0x82, "0123456789", 10, 0, 0, 1ull << 40); }
static void b_top_bit(void) { put(0x82, "", 0, 0, 0, 1ull << 63); }

static void test_violations(void)
{
    bad_after_good(b_rsv1, 1002, "reserved bits");
    bad_after_good(b_rsv3, 1002, "reserved bits");
    bad_after_good(b_op3, 1002, "reserved opcode");
    bad_after_good(b_op7, 1002, "reserved opcode");
    bad_after_good(b_opb, 1002, "reserved opcode");
    bad_after_good(b_opf, 1002, "reserved opcode");
    bad_after_good(b_frag_ping, 1002, "fragmented control");
    bad_after_good(b_stray_cont, 1002, "continuation");
    bad_after_good(b_unmasked, 1002, "unmasked");
    bad_after_good(b_unmasked_close, 1002, "unmasked");
    bad_after_good(b_ping126, 1002, "control frame");
    bad_after_good(b_ping16, 1002, "extended length");
    bad_after_good(b_close1, 1002, "1 byte");
    bad_after_good(b_close999, 1002, "close code");
    bad_after_good(b_close1005, 1002, "close code");
    bad_after_good(b_close5000, 1002, "close code");
    bad_after_good(b_close_utf8, 1007, "UTF-8");
    bad_after_good(b_over, 1009, "maxPackageSize");
    bad_after_good(b_huge_claim, 1009, "maxPackageSize");
    bad_after_good(b_top_bit, 1009, "maxPackageSize");

    /* a new message inside a fragmented one: the second frame is the bad one */
    fresh();
    frame(0x01, "a", 1);
    size_t at = frame(0x81, "b", 1);
    CU_ASSERT_EQUAL(verdict(at, "inside a fragmented"), 1002);

    /* fragments adding up to one byte over the limit: failed at the last header */
    fresh();
    static uint8_t half[MAX / 2];
    frame(0x01, half, sizeof half);
    frame(0x89, "ping", 4); /* control frames do not count */
    frame(0x80, half, sizeof half);
    CU_ASSERT_EQUAL(verdict(0, NULL), 0); /* exactly MAX */
    fresh();
    frame(0x01, half, sizeof half);
    frame(0x00, half, sizeof half);
    at = frame(0x80, "z", 1);
    CU_ASSERT_EQUAL(verdict(at, "maxPackageSize"), 1009);

    /* the limit is per message: a complete one resets it */
    fresh();
    frame(0x81, half, sizeof half);
    frame(0x81, half, sizeof half);
    frame(0x81, half, sizeof half);
    CU_ASSERT_EQUAL(verdict(0, NULL), 0);
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("wstrack", NULL, NULL);
    CU_add_test(s, "valid streams pass, however they are cut into reads", test_good_streams);
    CU_add_test(s, "each violation: its close code and where its frame starts, at every cut", test_violations);
    return tu_run("test_wstrack");
}
