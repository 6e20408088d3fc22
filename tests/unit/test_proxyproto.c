/* proxyproto: PROXY protocol v1/v2 headers as haproxy, nginx and cloud load
 * balancers send them; every cut of a valid header, malformed headers, and
 * random bytes. Every decode runs on a heap copy of exactly the bytes given,
 * so under ASan a read past len is caught. */
#include "proxyproto.h"
#include "tu.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIG "\r\n\r\n\0\r\nQUIT\n"
#define SIGLEN 12

/* Decodes a heap copy of exactly p[0..n) (NULL when n is 0). */
static int decode(const void *p, size_t n, struct proxyproto_result *r, size_t *used, char *err, size_t errlen)
{
    uint8_t *copy = n ? malloc(n) : NULL;
    if (n)
        memcpy(copy, p, n);
    int rc = proxyproto_decode(copy, n, r, used, err, errlen);
    free(copy);
    return rc;
}

/* ---- building v2 headers ---- */

struct v2 {
    uint8_t b[PROXYPROTO_MAX_LEN + 64];
    size_t n;
};

static void v2_start(struct v2 *h, uint8_t ver_cmd, uint8_t fam)
{
    memcpy(h->b, SIG, SIGLEN);
    h->b[12] = ver_cmd;
    h->b[13] = fam;
    h->b[14] = h->b[15] = 0;
    h->n = 16;
}

static void v2_put(struct v2 *h, const void *p, size_t n)
{
    memcpy(h->b + h->n, p, n);
    h->n += n;
}

static void v2_put16(struct v2 *h, unsigned v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    v2_put(h, x, 2);
}

static void v2_tlv(struct v2 *h, uint8_t type, const void *val, size_t n)
{
    v2_put(h, &type, 1);
    v2_put16(h, (unsigned)n);
    if (n)
        v2_put(h, val, n);
}

/* Sets the length field from what was appended. */
static void v2_finish(struct v2 *h)
{
    size_t body = h->n - 16;
    h->b[14] = (uint8_t)(body >> 8);
    h->b[15] = (uint8_t)body;
}

static void v2_tcp4(struct v2 *h)
{
    static const uint8_t addrs[12] = {203, 0, 113, 7, 10, 0, 0, 5, 0xdc, 0x05, 0x01, 0xbb}; /* 56325, 443 */
    v2_start(h, 0x21, 0x11);
    v2_put(h, addrs, sizeof addrs);
}

static void v2_tcp6(struct v2 *h)
{
    static const uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07};
    static const uint8_t dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
    v2_start(h, 0x21, 0x21);
    v2_put(h, src, 16);
    v2_put(h, dst, 16);
    v2_put16(h, 65535);
    v2_put16(h, 8080);
}

/* ---- the valid headers, each checked whole and cut everywhere ---- */

struct valid {
    const char *name;
    uint8_t b[PROXYPROTO_MAX_LEN + 64];
    size_t hdr_len; /* header bytes; payload follows up to len */
    size_t len;
    int version, local;
    enum proxyproto_family family;
    const char *src, *dst;
    uint32_t src_ipv4;
    uint16_t sport, dport;
};

#define PAYLOAD "GET / HTTP/1.1\r\nHost: lottery\r\n\r\n"

static struct valid valids[32];
static size_t nvalid;

static struct valid *add_v1(const char *name, const char *line, enum proxyproto_family fam, const char *src,
                            const char *dst, uint32_t ip4, uint16_t sport, uint16_t dport)
{
    struct valid *v = &valids[nvalid++];
    memset(v, 0, sizeof *v);
    v->name = name;
    v->hdr_len = strlen(line);
    memcpy(v->b, line, v->hdr_len);
    memcpy(v->b + v->hdr_len, PAYLOAD, strlen(PAYLOAD));
    v->len = v->hdr_len + strlen(PAYLOAD);
    v->version = 1;
    v->family = fam;
    v->src = src;
    v->dst = dst;
    v->src_ipv4 = ip4;
    v->sport = sport;
    v->dport = dport;
    return v;
}

static struct valid *add_v2(const char *name, const struct v2 *h, int local, enum proxyproto_family fam,
                            const char *src, const char *dst, uint32_t ip4, uint16_t sport, uint16_t dport)
{
    struct valid *v = &valids[nvalid++];
    memset(v, 0, sizeof *v);
    v->name = name;
    v->hdr_len = h->n;
    memcpy(v->b, h->b, h->n);
    /* The payload starts with another header: it must not be consumed. */
    memcpy(v->b + h->n, h->b, 16);
    v->len = h->n + 16;
    v->version = 2;
    v->local = local;
    v->family = fam;
    v->src = src;
    v->dst = dst;
    v->src_ipv4 = ip4;
    v->sport = sport;
    v->dport = dport;
    return v;
}

static int setup_valids(void)
{
    nvalid = 0;
    add_v1("v1 TCP4", "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", PROXYPROTO_AF_INET, "192.168.0.1",
           "192.168.0.11", 0xc0a80001u, 56324, 443);
    add_v1("v1 TCP4 extremes", "PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n", PROXYPROTO_AF_INET,
           "255.255.255.255", "0.0.0.0", 0xffffffffu, 65535, 0);
    add_v1("v1 TCP6", "PROXY TCP6 2001:DB8:0:0:0:0:0:7 2001:db8::1 1025 80\r\n", PROXYPROTO_AF_INET6,
           "2001:db8::7", "2001:db8::1", 0, 1025, 80);
    add_v1("v1 TCP6 longest (104 bytes)",
           "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 "
           "65535\r\n",
           PROXYPROTO_AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
           0, 65535, 65535);
    add_v1("v1 TCP6 v4-mapped", "PROXY TCP6 ::ffff:203.0.113.7 ::1 4000 443\r\n", PROXYPROTO_AF_INET6,
           "::ffff:203.0.113.7", "::1", 0, 4000, 443);
    add_v1("v1 UNKNOWN short", "PROXY UNKNOWN\r\n", PROXYPROTO_AF_UNSPEC, "", "", 0, 0, 0);
    add_v1("v1 UNKNOWN worst case (107 bytes)",
           "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 "
           "65535\r\n",
           PROXYPROTO_AF_UNSPEC, "", "", 0, 0, 0);
    add_v1("v1 UNKNOWN with a tail that is ignored", "PROXY UNKNOWN whatever \x01 is here\r\n", PROXYPROTO_AF_UNSPEC,
           "", "", 0, 0, 0);

    struct v2 h;
    v2_tcp4(&h);
    v2_finish(&h);
    add_v2("v2 TCP4", &h, 0, PROXYPROTO_AF_INET, "203.0.113.7", "10.0.0.5", 0xcb007107u, 56325, 443);

    v2_tcp6(&h);
    v2_finish(&h);
    add_v2("v2 TCP6", &h, 0, PROXYPROTO_AF_INET6, "2001:db8::7", "2001:db8:1::1", 0, 65535, 8080);

    v2_tcp4(&h);
    v2_tlv(&h, 0x01, "h2", 2);                       /* ALPN */
    v2_tlv(&h, 0x02, "lottery.example.com", 19);     /* AUTHORITY */
    v2_tlv(&h, 0x04, NULL, 0);                       /* NOOP, empty */
    v2_tlv(&h, 0x05, "\x00\x01\x02\x03\x04\x05", 6); /* UNIQUE_ID */
    v2_tlv(&h, 0x20, "\x01\x00\x00\x00\x00\x21\x00\x07TLSv1.3", 15); /* SSL with a VERSION sub-TLV */
    v2_finish(&h);
    add_v2("v2 TCP4 with TLVs", &h, 0, PROXYPROTO_AF_INET, "203.0.113.7", "10.0.0.5", 0xcb007107u, 56325, 443);

    v2_tcp6(&h);
    v2_tlv(&h, 0xea, "aws-vpce-id", 11); /* custom range, as AWS sends */
    v2_finish(&h);
    add_v2("v2 TCP6 with a TLV", &h, 0, PROXYPROTO_AF_INET6, "2001:db8::7", "2001:db8:1::1", 0, 65535, 8080);

    v2_start(&h, 0x20, 0x00);
    v2_finish(&h);
    add_v2("v2 LOCAL", &h, 1, PROXYPROTO_AF_UNSPEC, "", "", 0, 0, 0);

    /* LOCAL with an address block (and a family byte that would be invalid
     * under PROXY): everything is skipped, the length is honoured. */
    v2_tcp4(&h);
    h.b[12] = 0x20;
    h.b[13] = 0xff;
    v2_tlv(&h, 0x04, "pad", 3);
    v2_finish(&h);
    add_v2("v2 LOCAL with ignored addresses", &h, 1, PROXYPROTO_AF_UNSPEC, "", "", 0, 0, 0);

    v2_start(&h, 0x21, 0x00);
    v2_put(&h, "opaque", 6);
    v2_finish(&h);
    add_v2("v2 PROXY UNSPEC", &h, 0, PROXYPROTO_AF_UNSPEC, "", "", 0, 0, 0);

    v2_tcp4(&h);
    h.b[13] = 0x12; /* UDP over IPv4: valid, not ours: real endpoints */
    v2_finish(&h);
    add_v2("v2 UDP4 falls back to UNSPEC", &h, 0, PROXYPROTO_AF_UNSPEC, "", "", 0, 0, 0);

    v2_start(&h, 0x21, 0x31);
    {
        uint8_t unix_addrs[216];
        memset(unix_addrs, 0, sizeof unix_addrs);
        memcpy(unix_addrs, "/run/haproxy.sock", 17);
        v2_put(&h, unix_addrs, sizeof unix_addrs);
    }
    v2_finish(&h);
    add_v2("v2 UNIX stream falls back to UNSPEC", &h, 0, PROXYPROTO_AF_UNSPEC, "", "", 0, 0, 0);

    /* The largest length we take, padded with one NOOP TLV. */
    v2_tcp4(&h);
    {
        static uint8_t pad[PROXYPROTO_V2_MAX_BODY];
        v2_tlv(&h, 0x04, pad, PROXYPROTO_V2_MAX_BODY - 12 - 3);
    }
    v2_finish(&h);
    add_v2("v2 TCP4 at the length limit", &h, 0, PROXYPROTO_AF_INET, "203.0.113.7", "10.0.0.5", 0xcb007107u, 56325,
           443);
    return 0;
}

static void test_valid_headers(void)
{
    for (size_t i = 0; i < nvalid; i++) {
        const struct valid *v = &valids[i];
        struct proxyproto_result r;
        size_t used = 12345;
        char err[128] = "";
        int rc = decode(v->b, v->len, &r, &used, err, sizeof err);
        CHECKF(rc == PROXYPROTO_OK, "%s: rc %d (%s)", v->name, rc, err);
        CHECKF(used == v->hdr_len, "%s: used %zu, want %zu", v->name, used, v->hdr_len);
        CHECKF(r.version == v->version && r.local == v->local && r.family == v->family,
               "%s: version %d local %d family %d", v->name, r.version, r.local, (int)r.family);
        CHECKF(strcmp(r.src_ip, v->src) == 0 && strcmp(r.dst_ip, v->dst) == 0, "%s: src '%s' dst '%s'", v->name,
               r.src_ip, r.dst_ip);
        CHECKF(r.src_ipv4 == v->src_ipv4, "%s: src_ipv4 %08x", v->name, r.src_ipv4);
        CHECKF(r.src_port == v->sport && r.dst_port == v->dport, "%s: ports %u %u", v->name, r.src_port,
               r.dst_port);
        /* The header alone, with no payload, decodes the same. */
        struct proxyproto_result r2;
        size_t used2 = 0;
        rc = decode(v->b, v->hdr_len, &r2, &used2, err, sizeof err);
        CHECKF(rc == PROXYPROTO_OK && used2 == used && memcmp(&r, &r2, sizeof r) == 0, "%s: header alone differs",
               v->name);
    }
}

static void test_every_truncation_needs_more(void)
{
    for (size_t i = 0; i < nvalid; i++) {
        const struct valid *v = &valids[i];
        for (size_t cut = 0; cut < v->hdr_len; cut++) {
            struct proxyproto_result r;
            size_t used = 99;
            char err[128] = "";
            int rc = decode(v->b, cut, &r, &used, err, sizeof err);
            if (rc != PROXYPROTO_NEED_MORE || used != 0 || err[0] != '\0') {
                CHECKF(0, "%s cut at %zu: rc %d used %zu err '%s'", v->name, cut, rc, used, err);
                break;
            }
        }
        CU_PASS(v->name);
    }
}

/* The header arriving in pieces and accumulated, as a connection sees it:
 * NEED_MORE until the last header byte, then OK with the same result. */
static void test_split_feeding(void)
{
    for (size_t i = 0; i < nvalid; i++) {
        const struct valid *v = &valids[i];
        for (size_t step = 1; step <= 7; step += 3) {
            size_t have = 0;
            int rc = PROXYPROTO_NEED_MORE;
            struct proxyproto_result r;
            size_t used = 0;
            while (rc == PROXYPROTO_NEED_MORE && have < v->len) {
                have = have + step < v->len ? have + step : v->len;
                rc = decode(v->b, have, &r, &used, NULL, 0);
            }
            CHECKF(rc == PROXYPROTO_OK && used == v->hdr_len && have >= v->hdr_len && have < v->hdr_len + step,
                   "%s step %zu: rc %d used %zu at %zu", v->name, step, rc, used, have);
        }
    }
}

/* ---- malformed ---- */

static void expect_error(const char *name, const void *p, size_t n)
{
    struct proxyproto_result r;
    size_t used = 77;
    char err[128] = "";
    int rc = decode(p, n, &r, &used, err, sizeof err);
    CHECKF(rc == PROXYPROTO_ERROR, "%s: rc %d, want ERROR", name, rc);
    CHECKF(used == 0 && err[0] != '\0', "%s: used %zu err '%s'", name, used, err);
    CHECKF(r.version == 0 && r.family == PROXYPROTO_AF_UNSPEC && r.src_ip[0] == '\0', "%s: result not cleared",
           name);
    /* NULL err is allowed. */
    CHECKF(decode(p, n, &r, &used, NULL, 0) == PROXYPROTO_ERROR, "%s: rc differs with err NULL", name);
}

static void test_not_proxy(void)
{
    expect_error("HTTP request", "GET / HTTP/1.1\r\n\r\n", 18);
    expect_error("TLS hello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
    expect_error("lowercase proxy", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 32);
    expect_error("PROXX", "PROXX TCP4", 10);
    /* Refused from the first wrong byte, without waiting for more. */
    expect_error("P then junk", "PX", 2);
    expect_error("single NUL", "\0", 1);
    uint8_t sig[SIGLEN];
    memcpy(sig, SIG, SIGLEN);
    sig[SIGLEN - 1] = 'X';
    expect_error("bad v2 signature", sig, SIGLEN);
    sig[SIGLEN - 1] = '\n';
    sig[4] = 'x';
    expect_error("bad v2 signature, NUL byte", sig, 5);
    expect_error("CRLF CRLF then text", "\r\n\r\nHELLO", 9);
}

/* Every beginning of a signature, empty input included, waits. */
static void test_signature_prefixes(void)
{
    struct proxyproto_result r;
    size_t used;
    for (size_t n = 0; n <= SIGLEN; n++)
        CHECKF(decode(SIG, n, &r, &used, NULL, 0) == PROXYPROTO_NEED_MORE, "signature cut at %zu", n);
    for (size_t n = 0; n <= 6; n++)
        CHECKF(decode("PROXY ", n, &r, &used, NULL, 0) == PROXYPROTO_NEED_MORE, "\"PROXY \" cut at %zu", n);
}

static void test_v1_malformed(void)
{
    static const char *const bad[] = {
        "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",         /* two spaces */
        "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n",         /* tab */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",         /* trailing space */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",        /* extra field */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",            /* missing field */
        "PROXY TCP4 1.2.3.4\r\n",
        "PROXY TCP4\r\n",
        "PROXY\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",      /* port > 65535 */
        "PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 123456 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",         /* leading zero */
        "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1a 2\r\n",
        "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.02.3.4 5.6.7.8 1 2\r\n",         /* octal-looking */
        "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 ::1 ::1 1 2\r\n",                  /* family mismatch */
        "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP6 2001:db8::1::2 ::1 1 2\r\n",
        "PROXY TCP6 2001:db8:0:0:0:0:0:0:1 ::1 1 2\r\n",
        "PROXY TCP6 12345::1 ::1 1 2\r\n",
        "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
        "PROXY TCP6 [::1] ::1 1 2\r\n",
        "PROXY UNKNOWNX\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",             /* bare LF */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",            /* CR not followed by LF */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
        "PROXY UNKNOWN a\nb\r\n",
        /* 108 bytes with the CRLF: one over the limit */
        ("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 "
         "65535 \r\n"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error(bad[i], bad[i], strlen(bad[i]));

    /* 107 bytes and still no CRLF: refused without waiting for more. */
    char longline[200];
    memcpy(longline, "PROXY UNKNOWN ", 14);
    memset(longline + 14, 'x', sizeof longline - 14);
    expect_error("107 bytes without CRLF", longline, 107);
    expect_error("150 bytes without CRLF", longline, 150);
    /* A CR at byte 107 would make a 108-byte line. */
    longline[106] = '\r';
    longline[107] = '\n';
    expect_error("CR at byte 107", longline, 108);
    struct proxyproto_result r;
    size_t used;
    CHECKF(decode(longline, 106, &r, &used, NULL, 0) == PROXYPROTO_NEED_MORE, "106 bytes of UNKNOWN: wait");
    longline[105] = '\r';
    longline[106] = '\n';
    CHECKF(decode(longline, 107, &r, &used, NULL, 0) == PROXYPROTO_OK && used == 107, "107-byte UNKNOWN line");
}

/* Malformed fields are refused as soon as they are seen, not at the CRLF. */
static void test_v1_early_errors(void)
{
    static const char *const bad[] = {
        "PROXY TCP9",
        "PROXY UDP4 ",
        "PROXY TCP4 1.2.3.4 300",
        "PROXY TCP4 01",
        "PROXY TCP4 1.2.3.4 5.6.7.8 65536",
        "PROXY TCP4 1.2.3.4 5.6.7.8 01",       /* a leading zero */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ",     /* a seventh field begins */
        "PROXY TCP6 ::g",
        "PROXY TCP4 1.2.3.4\r",                /* the line ends here, too short */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct proxyproto_result r;
        size_t used;
        int rc = decode(bad[i], strlen(bad[i]), &r, &used, NULL, 0);
        CHECKF(rc == PROXYPROTO_ERROR, "'%s': rc %d, want ERROR", bad[i], rc);
    }
    /* While "0" alone may still become "0 2\r\n". */
    struct proxyproto_result r;
    size_t used;
    CHECKF(decode("PROXY TCP4 1.2.3.4 5.6.7.8 0", 28, &r, &used, NULL, 0) == PROXYPROTO_NEED_MORE, "port 0 waits");
}

static void test_v2_malformed(void)
{
    struct v2 h;

    v2_tcp4(&h);
    v2_finish(&h);
    h.b[12] = 0x11;
    expect_error("v2 version 1", h.b, h.n);
    h.b[12] = 0x31;
    expect_error("v2 version 3", h.b, h.n);
    h.b[12] = 0x01;
    expect_error("v2 version 0", h.b, h.n);
    h.b[12] = 0x22;
    expect_error("v2 command 2", h.b, h.n);
    h.b[12] = 0x2f;
    expect_error("v2 command 15", h.b, h.n);
    /* Refused at byte 13, before the rest has arrived. */
    expect_error("v2 bad version, 13 bytes", h.b, 13);

    v2_tcp4(&h);
    v2_finish(&h);
    h.b[13] = 0x41;
    expect_error("v2 family 4", h.b, h.n);
    h.b[13] = 0x13;
    expect_error("v2 transport 3", h.b, h.n);
    h.b[13] = 0xf1;
    expect_error("v2 family 15", h.b, 14);

    /* Length above our bound, known from the first 16 bytes. */
    v2_tcp4(&h);
    h.b[14] = (uint8_t)((PROXYPROTO_V2_MAX_BODY + 1) >> 8);
    h.b[15] = (uint8_t)(PROXYPROTO_V2_MAX_BODY + 1);
    expect_error("v2 length 2049", h.b, 16);
    h.b[14] = h.b[15] = 0xff;
    expect_error("v2 length 65535", h.b, 16);

    /* Lengths too short for the family. */
    v2_start(&h, 0x21, 0x11);
    v2_put(&h, "12345678901", 11);
    v2_finish(&h);
    expect_error("v2 TCP4 with 11 address bytes", h.b, h.n);
    expect_error("v2 TCP4 with 11 address bytes, header only", h.b, 16);
    v2_start(&h, 0x21, 0x11);
    v2_finish(&h);
    expect_error("v2 TCP4 with length 0", h.b, h.n);
    v2_tcp4(&h);
    h.b[13] = 0x21;
    v2_finish(&h);
    expect_error("v2 TCP6 with 12 address bytes", h.b, h.n);
    v2_tcp6(&h);
    h.n -= 1;
    v2_finish(&h);
    expect_error("v2 TCP6 with 35 address bytes", h.b, h.n);
    v2_start(&h, 0x21, 0x31);
    v2_put(&h, "short", 5);
    v2_finish(&h);
    expect_error("v2 UNIX with 5 address bytes", h.b, h.n);
    v2_tcp4(&h);
    h.b[13] = 0x12;
    h.n -= 2;
    v2_finish(&h);
    expect_error("v2 UDP4 with 10 address bytes", h.b, h.n);

    /* TLVs that do not fit the announced length. */
    v2_tcp4(&h);
    v2_tlv(&h, 0x01, "h2", 2);
    h.n -= 1; /* value cut */
    v2_finish(&h);
    expect_error("v2 TLV value past the end", h.b, h.n);
    v2_tcp4(&h);
    v2_put(&h, "\x04\x00", 2); /* a TLV header cut */
    v2_finish(&h);
    expect_error("v2 truncated TLV header", h.b, h.n);
    v2_tcp4(&h);
    v2_put(&h, "\x04", 1);
    v2_finish(&h);
    expect_error("v2 one stray byte after the addresses", h.b, h.n);
    v2_tcp4(&h);
    v2_tlv(&h, 0x04, "abc", 3);
    h.b[h.n - 5] = 0xff; /* length high byte: 0xff03 */
    v2_finish(&h);
    expect_error("v2 TLV with a huge length", h.b, h.n);
}

/* ---- random input ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    /* xorshift64*: deterministic, so a failure reproduces. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static void check_random(const uint8_t *b, size_t n, unsigned long *counts)
{
    struct proxyproto_result r;
    size_t used = 4242;
    char err[128] = "";
    int rc = decode(b, n, &r, &used, err, sizeof err);
    if (rc == PROXYPROTO_OK) {
        counts[0]++;
        CHECKF(used > 0 && used <= n && used <= PROXYPROTO_MAX_LEN, "OK with used %zu of %zu", used, n);
        CHECKF(r.version == 1 || r.version == 2, "version %d", r.version);
    } else if (rc == PROXYPROTO_NEED_MORE) {
        counts[1]++;
        if (used != 0 || err[0] != '\0')
            CHECKF(0, "NEED_MORE with used %zu err '%s'", used, err);
    } else {
        counts[2]++;
        if (rc != PROXYPROTO_ERROR || used != 0 || err[0] == '\0')
            CHECKF(0, "rc %d used %zu err '%s'", rc, used, err);
    }
}

static void test_random_bytes(void)
{
    unsigned long counts[3] = {0, 0, 0};
    uint8_t b[600];
    for (int iter = 0; iter < 30000; iter++) {
        size_t n = rnd() % sizeof b;
        for (size_t i = 0; i < n; i++)
            b[i] = (uint8_t)rnd();
        /* Most random bytes die at the first one; start many inputs like a
         * header so the later fields get exercised too. */
        switch (iter % 4) {
        case 1:
            if (n >= 6)
                memcpy(b, "PROXY ", 6);
            break;
        case 2:
            if (n >= 16) {
                memcpy(b, SIG, SIGLEN);
                b[12] = (uint8_t)(0x20 | (rnd() % 2));
                b[13] = (uint8_t)(rnd() % 4 << 4 | rnd() % 3);
                b[14] = 0;
                b[15] = (uint8_t)(rnd() % 256);
            }
            break;
        case 3: {
            /* A valid header with a few bytes changed. */
            const struct valid *v = &valids[rnd() % nvalid];
            n = v->len < sizeof b ? v->len : sizeof b;
            memcpy(b, v->b, n);
            for (int k = (int)(rnd() % 3) + 1; k > 0; k--)
                b[rnd() % n] = rnd() % 4 == 0 ? (uint8_t)rnd() : (uint8_t) "0123456789.: \r\nabcdefTCP"[rnd() % 25];
            break;
        }
        }
        check_random(b, n, counts);
    }
    CHECKF(counts[0] > 0 && counts[1] > 0 && counts[2] > 0, "outcomes OK %lu NEED_MORE %lu ERROR %lu", counts[0],
           counts[1], counts[2]);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("proxyproto", setup_valids, NULL);
    CU_add_test(s, "valid v1 and v2 headers, payload untouched", test_valid_headers);
    CU_add_test(s, "every truncation of a valid header is NEED_MORE", test_every_truncation_needs_more);
    CU_add_test(s, "header fed in pieces", test_split_feeding);
    CU_add_test(s, "not a PROXY header", test_not_proxy);
    CU_add_test(s, "signature prefixes wait", test_signature_prefixes);
    CU_add_test(s, "v1 malformed", test_v1_malformed);
    CU_add_test(s, "v1 errors seen before the CRLF", test_v1_early_errors);
    CU_add_test(s, "v2 malformed", test_v2_malformed);
    CU_add_test(s, "random and mutated bytes", test_random_bytes);
    return tu_run("test_proxyproto");
}
