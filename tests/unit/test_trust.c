/* trust: the trusted-proxy setting, membership, and the client address taken
 * from X-Forwarded-For / X-Real-IP, including the ways a client tries to
 * pass off an address of its choosing. */
#include "trust.h"
#include "tu.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SETTING "10.0.0.0/8, 172.16.0.0/12, 127.0.0.1, ::1, 100.64.0.0/10"

static struct trust_list lan; /* SETTING */

static int setup(void)
{
    char err[160];
    return trust_parse(SETTING, &lan, err, sizeof err);
}

static void parse_ok(const char *s, struct trust_list *l)
{
    char err[160] = "";
    int rc = trust_parse(s, l, err, sizeof err);
    CHECKF(rc == 0, "'%s' refused: %s", s, err);
}

static void test_parse_setting(void)
{
    struct trust_list l;
    parse_ok(SETTING, &l);
    CHECKF(l.n == 5, "%zu entries", l.n);
    /* IPv4 networks live in the mapped range. */
    CHECKF(l.net[0].bits == 96 + 8 && l.net[0].addr[10] == 0xff && l.net[0].addr[12] == 10, "10/8 stored as %u",
           l.net[0].bits);
    CHECKF(l.net[2].bits == 128, "single IPv4 is a /32: %u", l.net[2].bits);
    CHECKF(l.net[3].bits == 128 && l.net[3].addr[15] == 1, "::1 is a /128");

    parse_ok("", &l);
    CHECKF(l.n == 0, "empty setting: %zu", l.n);
    parse_ok("  \t ", &l);
    CHECKF(l.n == 0, "blank setting: %zu", l.n);
    parse_ok("10.0.0.0/8,172.16.0.0/12", &l);
    CHECKF(l.n == 2, "no spaces: %zu", l.n);
    parse_ok("\t2001:DB8::/32 ,\tfe80::/10\t", &l);
    CHECKF(l.n == 2 && l.net[0].bits == 32 && l.net[1].bits == 10, "IPv6 networks");
    parse_ok("0.0.0.0/0", &l);
    CHECKF(l.n == 1 && l.net[0].bits == 96, "0.0.0.0/0 is ::ffff:0:0/96");
    parse_ok("::/0", &l);
    CHECKF(l.n == 1 && l.net[0].bits == 0, "::/0");
    parse_ok("1.2.3.4/32, ::ffff:10.0.0.0/104", &l);
    CHECKF(l.n == 2 && l.net[1].bits == 104, "mapped IPv6 network");
    CHECKF(trust_contains(&l, "10.9.8.7") && !trust_contains(&l, "11.0.0.0"), "mapped network holds IPv4");

    /* The most a list holds. */
    char big[64 * 16 + 1] = "";
    for (int i = 0; i < TRUST_MAX_NETS; i++) {
        char one[24];
        snprintf(one, sizeof one, "%s10.0.%d.0/24", i ? "," : "", i);
        strcat(big, one);
    }
    parse_ok(big, &l);
    CHECKF(l.n == TRUST_MAX_NETS, "%zu entries of %d", l.n, TRUST_MAX_NETS);
}

static void test_parse_errors(void)
{
    static const char *const bad[] = {
        "10.0.0.0/33",  "::/129",       "10.1.2.3/8",  /* host bits */
        "2001:db8::1/32",                              /* host bits */
        "10.0.0.0/",    "/8",           "10.0.0.0/08", "10.0.0.0/8/9", "10.0.0.0/-1", "10.0.0.0/ 8",
        "10.0.0",       "300.1.1.1",    "010.0.0.1",   "10.0.0.1.",    "hello",        "localhost",
        "10.0.0.0/8,",  ",10.0.0.0/8",  "a,,b",        "10.0.0.0/8,,127.0.0.1",
        "1.2.3.4 5.6.7.8",                             /* a missing comma */
        "[::1]",        "fe80::1%eth0", "::1::2",      "1.2.3.4:80",
        "0000:0000:0000:0000:0000:ffff:255.255.255.255:0", /* too long */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct trust_list l;
        l.n = 7;
        char err[160] = "";
        int rc = trust_parse(bad[i], &l, err, sizeof err);
        CHECKF(rc == -1 && l.n == 0 && err[0] != '\0', "'%s': rc %d n %zu err '%s'", bad[i], rc, l.n, err);
    }
    /* The message points at the entry and, for host bits, at the fix. */
    struct trust_list l;
    char err[160] = "";
    trust_parse("127.0.0.1, 10.1.2.3/8", &l, err, sizeof err);
    CHECKF(strstr(err, "entry 2") && strstr(err, "10.0.0.0/8"), "message: %s", err);
    trust_parse("2001:db8::1/32", &l, err, sizeof err);
    CHECKF(strstr(err, "2001:db8::/32") != NULL, "message: %s", err);
    /* One entry too many. */
    char big[65 * 16 + 1] = "";
    for (int i = 0; i <= TRUST_MAX_NETS; i++) {
        char one[24];
        snprintf(one, sizeof one, "%s10.0.%d.0/24", i ? "," : "", i);
        strcat(big, one);
    }
    CHECKF(trust_parse(big, &l, err, sizeof err) == -1 && l.n == 0, "%d entries accepted", TRUST_MAX_NETS + 1);
    /* err may be NULL. */
    CHECKF(trust_parse("nope", &l, NULL, 0) == -1, "err NULL");
}

static void test_contains(void)
{
    static const struct {
        const char *ip;
        int in;
    } cases[] = {
        {"10.0.0.0", 1},          {"10.1.2.3", 1},         {"10.255.255.255", 1},     {"11.0.0.0", 0},
        {"9.255.255.255", 0},     {"172.16.0.1", 1},       {"172.31.255.255", 1},     {"172.32.0.0", 0},
        {"172.15.255.255", 0},    {"127.0.0.1", 1},        {"127.0.0.2", 0},          {"::1", 1},
        {"::2", 0},               {"0:0:0:0:0:0:0:1", 1},  {"100.64.0.1", 1},         {"100.127.255.255", 1},
        {"100.128.0.0", 0},       {"100.63.255.255", 0},   {"192.168.1.1", 0},        {"8.8.8.8", 0},
        /* IPv4-mapped IPv6 is IPv4. */
        {"::ffff:10.0.0.1", 1},   {"::FFFF:127.0.0.1", 1}, {"::ffff:a00:1", 1},       {"::ffff:8.8.8.8", 0},
        /* Not IP literals: never trusted. */
        {"", 0},                  {"10.0.0.1 ", 0},        {" 10.0.0.1", 0},          {"010.0.0.1", 0},
        {"10.0.0.1:80", 0},       {"[::1]", 0},            {"localhost", 0},          {"10.0.0", 0},
        {"10.0.0.1/8", 0},        {"::1%lo", 0},           {"::ffff:010.0.0.1", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECKF(trust_contains(&lan, cases[i].ip) == cases[i].in, "'%s': want %d", cases[i].ip, cases[i].in);
    CHECKF(trust_contains(&lan, NULL) == 0, "NULL");
}

static void test_contains_prefixes(void)
{
    struct trust_list l;
    parse_ok("192.168.4.0/22, fe80::/10, 2001:db8::/32", &l);
    CHECKF(trust_contains(&l, "192.168.4.0") && trust_contains(&l, "192.168.7.255"), "/22 inside");
    CHECKF(!trust_contains(&l, "192.168.8.0") && !trust_contains(&l, "192.168.3.255"), "/22 outside");
    CHECKF(trust_contains(&l, "fe80::1") && trust_contains(&l, "febf:ffff::1"), "/10 inside");
    CHECKF(!trust_contains(&l, "fec0::1") && !trust_contains(&l, "fe7f::1"), "/10 outside");
    CHECKF(trust_contains(&l, "2001:DB8:FFFF::1") && !trust_contains(&l, "2001:db9::"), "/32");
    parse_ok("203.0.113.6/31", &l);
    CHECKF(trust_contains(&l, "203.0.113.7") && !trust_contains(&l, "203.0.113.8"), "/31 holds two");

    parse_ok("0.0.0.0/0", &l);
    CHECKF(trust_contains(&l, "1.2.3.4") && trust_contains(&l, "::ffff:1.2.3.4"), "0/0 takes all IPv4");
    CHECKF(!trust_contains(&l, "2001:db8::1") && !trust_contains(&l, "::1"), "0/0 takes no IPv6");
    parse_ok("::/0", &l);
    CHECKF(trust_contains(&l, "2001:db8::1") && trust_contains(&l, "1.2.3.4"), "::/0 takes everything");

    parse_ok("", &l);
    CHECKF(!trust_contains(&l, "127.0.0.1") && !trust_contains(&l, "::1"), "empty list trusts nobody");
}

/* ---- client_ip ---- */

static void expect_client(const struct trust_list *l, const char *peer, const char *xff, const char *xri,
                          const char *want, int want_src)
{
    char out[TRUST_IP_MAX];
    memset(out, 'Z', sizeof out);
    int src = trust_client_ip(l, peer, xff, xri, out, sizeof out);
    CHECKF(src == want_src && strcmp(out, want) == 0, "peer %s xff '%s' xri '%s': got %s (%d), want %s (%d)", peer,
           xff ? xff : "(null)", xri ? xri : "(null)", out, src, want, want_src);
}

static void test_client_direct(void)
{
    /* An untrusted peer: its headers are the client's own words. */
    expect_client(&lan, "203.0.113.7", "1.1.1.1", "2.2.2.2", "203.0.113.7", TRUST_FROM_PEER);
    expect_client(&lan, "203.0.113.7", "10.0.0.1", NULL, "203.0.113.7", TRUST_FROM_PEER);
    expect_client(&lan, "203.0.113.7", NULL, NULL, "203.0.113.7", TRUST_FROM_PEER);
    expect_client(&lan, "2001:db8::7", "127.0.0.1", "127.0.0.1", "2001:db8::7", TRUST_FROM_PEER);
    /* Canonical text out. */
    expect_client(&lan, "::ffff:203.0.113.7", NULL, NULL, "203.0.113.7", TRUST_FROM_PEER);
    expect_client(&lan, "2001:DB8:0::7", NULL, NULL, "2001:db8::7", TRUST_FROM_PEER);
    /* Not an IP at all: passed through, never trusted. */
    expect_client(&lan, "unix-socket", "1.1.1.1", NULL, "unix-socket", TRUST_FROM_PEER);
    expect_client(&lan, "", "1.1.1.1", NULL, "", TRUST_FROM_PEER);
    /* An empty list trusts nobody, loopback included. */
    struct trust_list none;
    parse_ok("", &none);
    expect_client(&none, "127.0.0.1", "1.1.1.1", "2.2.2.2", "127.0.0.1", TRUST_FROM_PEER);
}

static void test_client_forwarded(void)
{
    expect_client(&lan, "10.0.0.2", "203.0.113.7", NULL, "203.0.113.7", TRUST_FROM_XFF);
    expect_client(&lan, "127.0.0.1", "203.0.113.7", "198.51.100.1", "203.0.113.7", TRUST_FROM_XFF);
    /* A dual-stack socket reports the proxy as mapped IPv6. */
    expect_client(&lan, "::ffff:10.0.0.2", "203.0.113.7", NULL, "203.0.113.7", TRUST_FROM_XFF);
    /* Two of our proxies in a row. */
    expect_client(&lan, "10.0.0.3", "203.0.113.7, 10.0.0.2", NULL, "203.0.113.7", TRUST_FROM_XFF);
    expect_client(&lan, "10.0.0.3", "203.0.113.7, 172.20.0.1, 100.64.1.1, ::1", NULL, "203.0.113.7",
                  TRUST_FROM_XFF);
    /* IPv6 clients, canonicalised. */
    expect_client(&lan, "::1", "2001:DB8::0:7", NULL, "2001:db8::7", TRUST_FROM_XFF);
    expect_client(&lan, "::1", "::ffff:203.0.113.7", NULL, "203.0.113.7", TRUST_FROM_XFF);
    /* Blanks and empty elements. */
    expect_client(&lan, "10.0.0.2", " \t203.0.113.7 ,, 10.0.0.9 , ", NULL, "203.0.113.7", TRUST_FROM_XFF);
    expect_client(&lan, "10.0.0.2", "203.0.113.7,10.0.0.9", NULL, "203.0.113.7", TRUST_FROM_XFF);
    /* Every hop ours (an internal client): the leftmost. */
    expect_client(&lan, "10.0.0.2", "10.0.0.5, 10.0.0.6", NULL, "10.0.0.5", TRUST_FROM_XFF);
    expect_client(&lan, "10.0.0.2", "10.0.0.5", "198.51.100.1", "10.0.0.5", TRUST_FROM_XFF);
}

static void test_client_spoofing(void)
{
    /* The client sends its own X-Forwarded-For; our proxy appends the real
     * address on the right. Anything left of it is the client's wish. */
    expect_client(&lan, "10.0.0.2", "6.6.6.6, 203.0.113.7", NULL, "203.0.113.7", TRUST_FROM_XFF);
    /* ... dressed up as one of our proxies, to be skipped like one. */
    expect_client(&lan, "10.0.0.2", "6.6.6.6, 10.0.0.9, 203.0.113.7", NULL, "203.0.113.7", TRUST_FROM_XFF);
    expect_client(&lan, "10.0.0.2", "10.0.0.9, 203.0.113.7", NULL, "203.0.113.7", TRUST_FROM_XFF);
    expect_client(&lan, "10.0.0.3", "1.1.1.1, 203.0.113.7, 10.0.0.2", NULL, "203.0.113.7", TRUST_FROM_XFF);
    expect_client(&lan, "10.0.0.2", "127.0.0.1, 203.0.113.7", NULL, "203.0.113.7", TRUST_FROM_XFF);
    /* Commas and blanks inside its header change nothing. */
    expect_client(&lan, "10.0.0.2", "6.6.6.6,,, ,10.0.0.1 , 203.0.113.7", NULL, "203.0.113.7", TRUST_FROM_XFF);
    /* Garbage the client put in front is never reached. */
    expect_client(&lan, "10.0.0.2", "<script>, 203.0.113.7", NULL, "203.0.113.7", TRUST_FROM_XFF);
    /* Garbage in the slot a trusted hop filled: stop there and keep that
     * hop, never step over it to the client's entries. */
    expect_client(&lan, "10.0.0.2", "6.6.6.6, unknown, 10.0.0.9", NULL, "10.0.0.9", TRUST_FROM_XFF);
    expect_client(&lan, "10.0.0.2", "6.6.6.6, 203.0.113.7:4711, 10.0.0.9", "5.5.5.5", "10.0.0.9", TRUST_FROM_XFF);
    /* Garbage rightmost: X-Forwarded-For is unusable, as if absent. */
    expect_client(&lan, "10.0.0.2", "6.6.6.6, unknown", "198.51.100.1", "198.51.100.1", TRUST_FROM_XRI);
    expect_client(&lan, "10.0.0.2", "6.6.6.6, unknown", NULL, "10.0.0.2", TRUST_FROM_PEER);
    expect_client(&lan, "10.0.0.2", "6.6.6.6, 010.0.0.1", NULL, "10.0.0.2", TRUST_FROM_PEER);
    expect_client(&lan, "10.0.0.2", "6.6.6.6, [2001:db8::7]", NULL, "10.0.0.2", TRUST_FROM_PEER);
    /* Entries of absurd length are just garbage. */
    char huge[400];
    memset(huge, '1', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    expect_client(&lan, "10.0.0.2", huge, NULL, "10.0.0.2", TRUST_FROM_PEER);
    memcpy(huge, "1.1.1.1,", 8);
    memset(huge + 8, ':', 300);
    expect_client(&lan, "10.0.0.2", huge, NULL, "10.0.0.2", TRUST_FROM_PEER);
}

static void test_client_real_ip(void)
{
    expect_client(&lan, "10.0.0.2", NULL, "198.51.100.1", "198.51.100.1", TRUST_FROM_XRI);
    expect_client(&lan, "10.0.0.2", "", " 198.51.100.1\t", "198.51.100.1", TRUST_FROM_XRI);
    expect_client(&lan, "10.0.0.2", " , ,", "2001:DB8::1", "2001:db8::1", TRUST_FROM_XRI);
    /* X-Real-IP that is not one address: the peer. */
    expect_client(&lan, "10.0.0.2", NULL, "198.51.100.1, 6.6.6.6", "10.0.0.2", TRUST_FROM_PEER);
    expect_client(&lan, "10.0.0.2", NULL, "", "10.0.0.2", TRUST_FROM_PEER);
    expect_client(&lan, "10.0.0.2", NULL, "unknown", "10.0.0.2", TRUST_FROM_PEER);
    expect_client(&lan, "::ffff:10.0.0.2", NULL, NULL, "10.0.0.2", TRUST_FROM_PEER);
}

static void test_client_long_chain(void)
{
    /* 2000 trusted hops after the client's address: linear walk, no limit
     * on the header's length beyond what the caller read. */
    size_t cap = 2000 * 12 + 64;
    char *xff = malloc(cap);
    strcpy(xff, "6.6.6.6, 203.0.113.7");
    size_t n = strlen(xff);
    for (int i = 0; i < 2000; i++)
        n += (size_t)snprintf(xff + n, cap - n, ", 10.0.%d.%d", i / 250, i % 250);
    expect_client(&lan, "10.0.0.2", xff, NULL, "203.0.113.7", TRUST_FROM_XFF);
    free(xff);
}

static void test_client_small_buffer(void)
{
    char out[8];
    memset(out, 'Z', sizeof out);
    CHECKF(trust_client_ip(&lan, "10.0.0.2", "203.0.113.7", NULL, out, sizeof out) == -1 && out[0] == '\0',
           "too small: '%s'", out);
    char fits[12];
    CHECKF(trust_client_ip(&lan, "10.0.0.2", "203.0.113.7", NULL, fits, sizeof fits) == TRUST_FROM_XFF &&
               strcmp(fits, "203.0.113.7") == 0,
           "exact fit: '%s'", fits);
    CHECKF(trust_client_ip(&lan, "10.0.0.2", "203.0.113.7", NULL, fits, 0) == -1, "cap 0");
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("trust", setup, NULL);
    CU_add_test(s, "parse the setting", test_parse_setting);
    CU_add_test(s, "parse errors", test_parse_errors);
    CU_add_test(s, "contains", test_contains);
    CU_add_test(s, "prefix boundaries", test_contains_prefixes);
    CU_add_test(s, "client_ip: direct peers", test_client_direct);
    CU_add_test(s, "client_ip: through our proxies", test_client_forwarded);
    CU_add_test(s, "client_ip: spoofing attempts", test_client_spoofing);
    CU_add_test(s, "client_ip: X-Real-IP fallback", test_client_real_ip);
    CU_add_test(s, "client_ip: long chain", test_client_long_chain);
    CU_add_test(s, "client_ip: output buffer", test_client_small_buffer);
    return tu_run("test_trust");
}
