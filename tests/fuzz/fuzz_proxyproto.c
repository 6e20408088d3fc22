/* libFuzzer harness for the PROXY protocol decoder.
 *
 * The input is the start of a connection on a PROXY-enabled listener. It is
 * decoded whole, then every prefix of it is decoded too, which checks the
 * promises a connection handler relies on:
 *  - a header that decodes OK decodes the same from its own bytes alone
 *    (what follows it is never looked at), and every shorter cut of it is
 *    NEED_MORE, never ERROR;
 *  - NEED_MORE is prefix-closed: if the input may still become a header, so
 *    may each of its beginnings, and once a prefix is ERROR every longer
 *    input is ERROR as well;
 *  - results stay in range, ERROR always says why.
 * Decoding runs on an exact-size heap copy so ASan sees any read past len.
 * Builds with proxyproto.c alone (libc only). */
#include "proxyproto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* Past this many bytes the outcome can no longer change: a header is at most
 * PROXYPROTO_MAX_LEN long, so prefixes beyond it are not worth re-checking. */
#define PREFIX_LIMIT (PROXYPROTO_MAX_LEN + 8)

static int decode_copy(const uint8_t *data, size_t n, struct proxyproto_result *r, size_t *used, char *err,
                       size_t errlen)
{
    uint8_t *copy = n ? malloc(n) : NULL;
    if (n) {
        REQUIRE(copy != NULL);
        memcpy(copy, data, n);
    }
    int rc = proxyproto_decode(copy, n, r, used, err, errlen);
    free(copy);
    return rc;
}

static void check_result(int rc, const struct proxyproto_result *r, size_t used, size_t n, const char *err)
{
    static const struct proxyproto_result zero;
    if (rc == PROXYPROTO_OK) {
        REQUIRE(used > 0 && used <= n && used <= PROXYPROTO_MAX_LEN);
        REQUIRE(r->version == 1 || r->version == 2);
        REQUIRE(r->version == 2 || used <= PROXYPROTO_V1_MAX_LEN);
        REQUIRE(!r->local || (r->version == 2 && r->family == PROXYPROTO_AF_UNSPEC));
        REQUIRE(memchr(r->src_ip, 0, sizeof r->src_ip) && memchr(r->dst_ip, 0, sizeof r->dst_ip));
        if (r->family == PROXYPROTO_AF_UNSPEC)
            REQUIRE(r->src_ip[0] == 0 && r->dst_ip[0] == 0 && r->src_port == 0 && r->dst_port == 0);
        else
            REQUIRE(r->family == PROXYPROTO_AF_INET || r->family == PROXYPROTO_AF_INET6);
        if (r->family != PROXYPROTO_AF_INET)
            REQUIRE(r->src_ipv4 == 0);
        if (r->family != PROXYPROTO_AF_UNSPEC)
            REQUIRE(r->src_ip[0] != 0 && r->dst_ip[0] != 0);
    } else {
        REQUIRE(rc == PROXYPROTO_NEED_MORE || rc == PROXYPROTO_ERROR);
        REQUIRE(used == 0 && memcmp(r, &zero, sizeof zero) == 0);
        REQUIRE(rc == PROXYPROTO_NEED_MORE ? err[0] == '\0' : err[0] != '\0');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proxyproto_result whole, r;
    size_t used_whole = 0, used = 0;
    char err[128];

    err[0] = 'x';
    int rc_whole = decode_copy(data, size, &whole, &used_whole, err, sizeof err);
    check_result(rc_whole, &whole, used_whole, size, err);

    if (rc_whole == PROXYPROTO_OK) {
        /* The header alone: same result. */
        int rc = decode_copy(data, used_whole, &r, &used, err, sizeof err);
        REQUIRE(rc == PROXYPROTO_OK && used == used_whole && memcmp(&r, &whole, sizeof r) == 0);
    }

    /* Every prefix: NEED_MORE before the header is complete, then OK (once a
     * header is complete, more bytes change nothing); ERROR, once seen,
     * stays. */
    size_t limit = size < PREFIX_LIMIT ? size : PREFIX_LIMIT;
    int seen_error = 0;
    for (size_t n = 0; n < limit; n++) {
        err[0] = 'x';
        int rc = decode_copy(data, n, &r, &used, err, sizeof err);
        check_result(rc, &r, used, n, err);
        if (seen_error)
            REQUIRE(rc == PROXYPROTO_ERROR);
        if (rc == PROXYPROTO_ERROR)
            seen_error = 1;
        if (rc_whole == PROXYPROTO_OK)
            REQUIRE(n < used_whole ? rc == PROXYPROTO_NEED_MORE
                                   : rc == PROXYPROTO_OK && used == used_whole && memcmp(&r, &whole, sizeof r) == 0);
        if (rc_whole == PROXYPROTO_NEED_MORE)
            REQUIRE(rc == PROXYPROTO_NEED_MORE);
    }
    if (seen_error)
        REQUIRE(rc_whole == PROXYPROTO_ERROR);

    /* No error buffer at all. */
    REQUIRE(decode_copy(data, size, &r, &used, NULL, 0) == rc_whole);
    return 0;
}
