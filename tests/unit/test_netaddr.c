/* netaddr: canonical dotted quads, "ip:port", Workerman socket names and the
 * comma-separated address lists of the settings. */
#include "netaddr.h"
#include "tu.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

static int ipv4(const char *s, uint32_t *ip) { return netaddr_parse_ipv4(s, strlen(s), ip); }

static void test_ipv4_accepted(void)
{
    static const struct {
        const char *s;
        uint32_t ip;
    } ok[] = {
        {"0.0.0.0", 0},
        {"127.0.0.1", 0x7f000001u},
        {"172.16.0.11", 0xac10000bu},
        {"255.255.255.255", 0xffffffffu},
        {"10.0.0.255", 0x0a0000ffu},
        {"1.20.100.200", 0x011464c8u},
        {"203.0.113.5", 0xcb007105u},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint32_t ip = 0x12345678;
        CHECKF(ipv4(ok[i].s, &ip) == 1, "%s refused", ok[i].s);
        CHECKF(ip == ok[i].ip, "%s parsed as %08x, want %08x", ok[i].s, ip, ok[i].ip);
        /* ip may be NULL. */
        CHECKF(ipv4(ok[i].s, NULL) == 1, "%s refused with ip NULL", ok[i].s);
    }
    /* The length bounds the parse: a prefix of a longer buffer. */
    CU_ASSERT_EQUAL(netaddr_parse_ipv4("1.2.3.4:80", 7, NULL), 1);
    CU_ASSERT_EQUAL(netaddr_parse_ipv4("1.2.3.45", 7, NULL), 1);
}

static void test_ipv4_rejected(void)
{
    static const char *bad[] = {
        "",            "1",           "1.2.3",       "1.2.3.4.5",    "1.2.3.4.",   ".1.2.3.4",
        "1..2.3",      "1.2..3",      "1.2.3.",      "256.1.1.1",    "1.256.1.1",  "1.1.1.256",
        "999.1.1.1",   "1000.1.1.1",  "1.2.3.1000",  "01.2.3.4",     "1.02.3.4",   "1.2.3.04",
        "00.0.0.0",    "0.0.0.00",    "010.0.0.1",   "172.016.0.1",  " 1.2.3.4",   "1.2.3.4 ",
        "1. 2.3.4",    "1.2 .3.4",    "+1.2.3.4",    "-1.2.3.4",     "1.2.3.-4",   "a.b.c.d",
        "1.2.3.4a",    "0x7f.0.0.1",  "localhost",   "::1",          "1.2.3.4:80", "1,2,3,4",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t ip = 0x12345678;
        CHECKF(ipv4(bad[i], &ip) == 0, "'%s' accepted", bad[i]);
        CHECKF(ip == 0x12345678, "'%s' wrote *ip on failure", bad[i]);
    }
    /* A NUL inside the given length is not a terminator. */
    CU_ASSERT_EQUAL(netaddr_parse_ipv4("1.2.3.4\0", 8, NULL), 0);
    /* Shorter length cuts the last part off. */
    CU_ASSERT_EQUAL(netaddr_parse_ipv4("1.2.3.4", 6, NULL), 0);
}

static void test_loopback(void)
{
    const char *yes[] = {"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"};
    const char *no[] = {"0.0.0.0", "::", "10.0.0.11", "128.0.0.1", "::ffff:10.0.0.1", "localhost", "", "127.0.0.01"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        CU_ASSERT(netaddr_is_loopback(yes[i]));
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        CU_ASSERT(!netaddr_is_loopback(no[i]));
}

static void test_format(void)
{
    static const struct {
        uint32_t ip;
        const char *s;
    } v[] = {
        {0, "0.0.0.0"},
        {0x7f000001u, "127.0.0.1"},
        {0xac10000bu, "172.16.0.11"},
        {0xffffffffu, "255.255.255.255"},
        {0x0a00ff01u, "10.0.255.1"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char out[20];
        memset(out, '#', sizeof out);
        netaddr_format_ipv4(v[i].ip, out);
        CHECKF(strcmp(out, v[i].s) == 0, "%08x formatted as %s, want %s", v[i].ip, out, v[i].s);
        CHECKF(out[16] == '#', "%08x: wrote past 16 bytes", v[i].ip);
        /* Round trip. */
        uint32_t back = 0;
        CHECKF(ipv4(out, &back) == 1 && back == v[i].ip, "%s does not parse back", out);
    }
}

static void test_hostport(void)
{
    struct netaddr_hostport hp;
    memset(&hp, 0, sizeof hp);
    CU_ASSERT_EQUAL(netaddr_parse_hostport("172.16.0.11:2900", 16, &hp), 0);
    CU_ASSERT_STRING_EQUAL(hp.host, "172.16.0.11");
    CU_ASSERT_EQUAL(hp.port, 2900);
    CU_ASSERT_EQUAL(netaddr_parse_hostport("0.0.0.0:1", 9, &hp), 0);
    CU_ASSERT_STRING_EQUAL(hp.host, "0.0.0.0");
    CU_ASSERT_EQUAL(hp.port, 1);
    CU_ASSERT_EQUAL(netaddr_parse_hostport("255.255.255.255:65535", 21, &hp), 0);
    CU_ASSERT_STRING_EQUAL(hp.host, "255.255.255.255");
    CU_ASSERT_EQUAL(hp.port, 65535);
    /* Length-bounded: only the first 14 bytes. */
    CU_ASSERT_EQUAL(netaddr_parse_hostport("127.0.0.1:1239junk", 14, &hp), 0);
    CU_ASSERT_EQUAL(hp.port, 1239);

    static const char *bad[] = {
        "",
        ":",
        "1.2.3.4",
        "1.2.3.4:",
        ":80",
        "1.2.3.4:0",
        "1.2.3.4:65536",
        "1.2.3.4:99999",
        "1.2.3.4:123456",
        "1.2.3.4:080",
        "1.2.3.4:abc",
        "1.2.3.4:8a",
        "1.2.3.4:+80",
        "1.2.3.4:-1",
        "1.2.3.4: 80",
        "1.2.3.4:80 ",
        "host:1",
        "localhost:1239",
        "172.016.0.1:2900",
        "1.2.3:80",
        "1.2.3.4.5:80",
        "[::1]:80",
        "1.2.3.4:80:90",
        "tcp://1.2.3.4:80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(netaddr_parse_hostport(bad[i], strlen(bad[i]), &hp) == -1, "'%s' accepted", bad[i]);
    /* NUL inside the given length. */
    CU_ASSERT_EQUAL(netaddr_parse_hostport("1.2.3.4:80\0", 11, &hp), -1);
    CU_ASSERT_EQUAL(netaddr_parse_hostport("1.2.3.4\0:80", 11, &hp), -1);
}

static void test_listen_ok(void)
{
    struct netaddr_listen l;
    char err[128] = "";
    memset(&l, 0, sizeof l);
    CU_ASSERT_EQUAL(netaddr_parse_listen("text://0.0.0.0:1239", &l, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(l.scheme, "text");
    CU_ASSERT_STRING_EQUAL(l.host, "0.0.0.0");
    CU_ASSERT_EQUAL(l.port, 1239);

    memset(&l, 0, sizeof l);
    CU_ASSERT_EQUAL(netaddr_parse_listen("websocket://[::1]:1240", &l, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(l.scheme, "websocket");
    CU_ASSERT_STRING_EQUAL(l.host, "::1"); /* without the brackets */
    CU_ASSERT_EQUAL(l.port, 1240);

    memset(&l, 0, sizeof l);
    CU_ASSERT_EQUAL(netaddr_parse_listen("tcp://127.0.0.1:65535", &l, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(l.scheme, "tcp");
    CU_ASSERT_STRING_EQUAL(l.host, "127.0.0.1");
    CU_ASSERT_EQUAL(l.port, 65535);

    memset(&l, 0, sizeof l);
    CU_ASSERT_EQUAL(netaddr_parse_listen("frame://[::]:1", &l, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(l.scheme, "frame");
    CU_ASSERT_STRING_EQUAL(l.host, "::");
    CU_ASSERT_EQUAL(l.port, 1);

    memset(&l, 0, sizeof l);
    CU_ASSERT_EQUAL(netaddr_parse_listen("websocket://[2001:db8::1:2]:8282", &l, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(l.host, "2001:db8::1:2");
    CU_ASSERT_EQUAL(l.port, 8282);

    /* A 15-byte scheme is the longest that fits. */
    memset(&l, 0, sizeof l);
    CU_ASSERT_EQUAL(netaddr_parse_listen("abcdefghijklmno://1.2.3.4:5", &l, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(l.scheme, "abcdefghijklmno");
}

static void test_listen_bad(void)
{
    static const char *bad[] = {
        "0.0.0.0:1239",                     /* missing scheme */
        "://0.0.0.0:1239",                  /* empty scheme */
        "text:/0.0.0.0:1239",               /* one slash */
        "abcdefghijklmnop://1.2.3.4:5",     /* 16-byte scheme */
        "text://0.0.0.0",                   /* missing port */
        "text://0.0.0.0:",                  /* empty port */
        "text://0.0.0.0:0",                 /* port 0 */
        "text://0.0.0.0:65536",             /* port too big */
        "text://0.0.0.0:abc",               /* port not a number */
        "text://0.0.0.0:12a",               /* trailing junk */
        "text://0.0.0.0:1239/",             /* path */
        "text://:1239",                     /* empty host */
        "text://localhost:1239",            /* names are not resolved */
        "text://0.0.0.00:1239",             /* non-canonical quad */
        "text://256.0.0.0:1239",            /* 256 */
        "text://::1:1240",                  /* IPv6 without [] */
        "websocket://[::1]",                /* IPv6 without port */
        "websocket://[::1:1240",            /* unclosed [ */
        "websocket://[nothex]:1240",        /* not an IPv6 */
        "websocket://[]:1240",              /* empty [] */
        "websocket://[1.2.3.4]:1240",       /* IPv4 in [] is not IPv6 */
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct netaddr_listen l;
        char err[128] = "";
        CHECKF(netaddr_parse_listen(bad[i], &l, err, sizeof err) == -1, "'%s' accepted", bad[i]);
        CHECKF(err[0] != 0, "'%s': no reason given", bad[i]);
    }
    /* The reasons name the part that is wrong. */
    struct netaddr_listen l;
    char err[128];
    CU_ASSERT_EQUAL(netaddr_parse_listen("0.0.0.0:1239", &l, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "scheme"));
    CU_ASSERT_EQUAL(netaddr_parse_listen("text://0.0.0.0:0", &l, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "port"));
    CU_ASSERT_EQUAL(netaddr_parse_listen("text://0.0.0.0:65536", &l, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "port"));
    CU_ASSERT_EQUAL(netaddr_parse_listen("text://0.0.0.0:abc", &l, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "port"));
    /* A small err buffer is not overrun. */
    char small[8];
    memset(small, '#', sizeof small);
    CU_ASSERT_EQUAL(netaddr_parse_listen("nope", &l, small, 4), -1);
    CU_ASSERT_EQUAL(small[3], 0);
    CU_ASSERT_EQUAL(small[4], '#');
}

static void test_list(void)
{
    struct netaddr_hostport a[4];
    char err[200] = "";
    memset(a, 0, sizeof a);
    CU_ASSERT_EQUAL(netaddr_parse_list("127.0.0.1:1238", a, 4, err, sizeof err), 1);
    CU_ASSERT_STRING_EQUAL(a[0].host, "127.0.0.1");
    CU_ASSERT_EQUAL(a[0].port, 1238);

    memset(a, 0, sizeof a);
    CU_ASSERT_EQUAL(netaddr_parse_list("10.0.0.1:1238,10.0.0.2:1239", a, 4, err, sizeof err), 2);
    CU_ASSERT_STRING_EQUAL(a[0].host, "10.0.0.1");
    CU_ASSERT_EQUAL(a[0].port, 1238);
    CU_ASSERT_STRING_EQUAL(a[1].host, "10.0.0.2");
    CU_ASSERT_EQUAL(a[1].port, 1239);

    /* Spaces and tabs around the commas and at both ends. */
    memset(a, 0, sizeof a);
    CU_ASSERT_EQUAL(netaddr_parse_list("  10.0.0.1:1 ,\t10.0.0.2:2 , 10.0.0.3:3\t ", a, 4, err, sizeof err), 3);
    CU_ASSERT_STRING_EQUAL(a[0].host, "10.0.0.1");
    CU_ASSERT_EQUAL(a[0].port, 1);
    CU_ASSERT_STRING_EQUAL(a[1].host, "10.0.0.2");
    CU_ASSERT_EQUAL(a[1].port, 2);
    CU_ASSERT_STRING_EQUAL(a[2].host, "10.0.0.3");
    CU_ASSERT_EQUAL(a[2].port, 3);

    /* Exactly max addresses is fine; duplicates are kept as given. */
    CU_ASSERT_EQUAL(netaddr_parse_list("1.1.1.1:1,1.1.1.1:1,2.2.2.2:2,3.3.3.3:3", a, 4, err, sizeof err), 4);
    CU_ASSERT_STRING_EQUAL(a[3].host, "3.3.3.3");
}

static void test_list_bad(void)
{
    struct netaddr_hostport a[4];
    char err[200];

    /* Too many: max + 1. */
    err[0] = 0;
    CU_ASSERT_EQUAL(netaddr_parse_list("1.1.1.1:1,2.2.2.2:2,3.3.3.3:3,4.4.4.4:4,5.5.5.5:5", a, 4, err, sizeof err),
                    -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "more than 4"));
    err[0] = 0;
    CU_ASSERT_EQUAL(netaddr_parse_list("1.1.1.1:1,2.2.2.2:2", a, 1, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "more than 1"));

    static const char *bad[] = {
        "",
        " ",
        ",",
        "1.1.1.1:1,",
        ",1.1.1.1:1",
        "1.1.1.1:1,,2.2.2.2:2",
        "1.1.1.1:1, ,2.2.2.2:2",
        "1.1.1.1:1;2.2.2.2:2",
        "1.1.1.1:1 2.2.2.2:2",
        "1.1.1.1",
        "1.1.1.1:0",
        "1.1.1.1:65536",
        "host:1",
        "1.1.1.1:1,172.016.0.1:2900",
        "tcp://1.1.1.1:1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECKF(netaddr_parse_list(bad[i], a, 4, err, sizeof err) == -1, "'%s' accepted", bad[i]);
        CHECKF(err[0] != 0, "'%s': no reason", bad[i]);
    }
    /* The reason quotes the offending element (trimmed). */
    CU_ASSERT_EQUAL(netaddr_parse_list("1.1.1.1:1, host:1 ,2.2.2.2:2", a, 4, err, sizeof err), -1);
    CHECKF(strstr(err, "'host:1'") != NULL, "reason: %s", err);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("netaddr", NULL, NULL);
    CU_add_test(s, "canonical dotted quads accepted", test_ipv4_accepted);
    CU_add_test(s, "non-canonical dotted quads rejected", test_ipv4_rejected);
    CU_add_test(s, "format like long2ip", test_format);
    CU_add_test(s, "loopback or not", test_loopback);
    CU_add_test(s, "ip:port", test_hostport);
    CU_add_test(s, "listen socket names", test_listen_ok);
    CU_add_test(s, "bad listen socket names", test_listen_bad);
    CU_add_test(s, "address lists", test_list);
    CU_add_test(s, "bad address lists", test_list_bad);
    return tu_run("test_netaddr");
}
