/* libFuzzer harness for the trusted-proxy list and the X-Forwarded-For /
 * X-Real-IP walk (shared/trust.c): the headers come from any client, the
 * list from the configuration.
 *
 * The input is four fields separated by LF: the trustedProxies setting, the
 * peer address, X-Forwarded-For, X-Real-IP (a missing field is NULL). Each
 * field is an exact-size NUL-terminated heap copy. The walk runs against the
 * parsed list and against a fixed list (so it is exercised even when the
 * fuzzed list does not parse), with a roomy and a tight output buffer:
 *  - a failed parse says why and leaves the list empty;
 *  - an untrusted peer is answered with the peer (the same address, in
 *    canonical form), whatever the headers say;
 *  - an address from a header is an IP literal that trust_contains accepts
 *    as one, and is found in that header;
 *  - a result that does not fit is -1 with "" in out. */
#include "trust.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static char *field(const uint8_t **p, const uint8_t *end)
{
    if (*p > end)
        return NULL;
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    const uint8_t *stop = nl ? nl : end;
    size_t n = (size_t)(stop - *p);
    char *s = malloc(n + 1);
    REQUIRE(s);
    memcpy(s, *p, n);
    s[n] = '\0';
    *p = nl ? nl + 1 : end + 1;
    return s;
}

/* A list that trusts every address: contains() is then a pure "is an IP
 * literal" test. */
static struct trust_list everything;

static void walk(const struct trust_list *l, const char *peer, const char *xff, const char *xri, size_t cap)
{
    char out[TRUST_IP_MAX + 64];
    REQUIRE(cap <= sizeof out);
    memset(out, 'Z', sizeof out);
    int r = trust_client_ip(l, peer, xff, xri, out, cap);
    if (r < 0) {
        REQUIRE(r == -1 && (cap == 0 || out[0] == '\0'));
        return;
    }
    REQUIRE(r == TRUST_FROM_PEER || r == TRUST_FROM_XFF || r == TRUST_FROM_XRI);
    REQUIRE(memchr(out, '\0', cap) != NULL);
    if (!trust_contains(l, peer)) {
        /* the peer itself: as given when it is not an IP literal, else in
         * canonical form (the same address) */
        REQUIRE(r == TRUST_FROM_PEER);
        if (!trust_contains(&everything, peer)) {
            REQUIRE(strcmp(out, peer) == 0);
        } else {
            struct trust_list self;
            REQUIRE(trust_parse(out, &self, NULL, 0) == 0 && self.n == 1 && trust_contains(&self, peer));
        }
    }
    if (r == TRUST_FROM_XFF)
        REQUIRE(xff && trust_contains(&everything, out));
    if (r == TRUST_FROM_XRI)
        REQUIRE(xri && trust_contains(&everything, out));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (everything.n == 0)
        REQUIRE(trust_parse("0.0.0.0/0, ::/0", &everything, NULL, 0) == 0);

    const uint8_t *p = data, *end = data + size;
    char *list_s = field(&p, end);
    char *peer = field(&p, end);
    char *xff = field(&p, end);
    char *xri = field(&p, end);
    REQUIRE(list_s);

    struct trust_list l;
    char err[128];
    err[0] = '\0';
    if (trust_parse(list_s, &l, err, sizeof err) < 0)
        REQUIRE(l.n == 0 && err[0] != '\0');
    else
        REQUIRE(l.n <= TRUST_MAX_NETS);

    static struct trust_list fixed;
    if (fixed.n == 0)
        REQUIRE(trust_parse("10.0.0.0/8, 127.0.0.1, ::1, 2001:db8::/32, 192.168.1.0/24", &fixed, NULL, 0) == 0);

    if (peer) {
        size_t tight = size > 0 ? data[size - 1] % 20 : 0;
        const struct trust_list *lists[2] = {&l, &fixed};
        for (int i = 0; i < 2; i++) {
            walk(lists[i], peer, xff, xri, TRUST_IP_MAX);
            walk(lists[i], peer, xff, xri, tight);
            (void)trust_contains(lists[i], list_s);
        }
    }
    free(list_s);
    free(peer);
    free(xff);
    free(xri);
    return 0;
}
