/* libFuzzer harness for the client-frame tracker (gateway/wstrack.c), which
 * reads every byte a WebSocket client sends, over ws:// and wss://.
 *
 * Input: byte 0 picks the message limit, byte 1 how the stream is cut into
 * reads, the rest is the client's stream. It is fed whole, then again in
 * reads of 1..16 bytes (TCP segments and TLS records cut it anywhere), and
 * the two runs must agree:
 *  - the same verdict (none, or the same close code, always with a reason);
 *  - the same offending frame: where a cut run can tell (the frame starts
 *    in the read that failed), at the offset the whole run named; else at
 *    or before the start of that read;
 *  - a run never returns more than it was given.
 * Each read is an exact-size heap copy so ASan sees any read past its end. */
#include "wstrack.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static size_t feed_copy(struct wstrack *t, const uint8_t *p, size_t n)
{
    uint8_t *copy = malloc(n ? n : 1);
    REQUIRE(copy != NULL);
    memcpy(copy, p, n);
    size_t ok = wstrack_feed(t, copy, n);
    free(copy);
    REQUIRE(ok <= n);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint64_t max = 1 + (uint64_t)data[0] * 64;
    uint32_t seed = data[1] | 1u;
    const uint8_t *s = data + 2;
    size_t n = size - 2;

    struct wstrack whole;
    wstrack_init(&whole, max);
    size_t at_whole = feed_copy(&whole, s, n);
    if (whole.fail) {
        REQUIRE(whole.why != NULL);
        REQUIRE(whole.fail == 1002 || whole.fail == 1007 || whole.fail == 1009);
        REQUIRE(at_whole < n);
    } else {
        REQUIRE(at_whole == n);
    }

    struct wstrack cut;
    wstrack_init(&cut, max);
    size_t pos = 0;
    while (pos < n) {
        seed = seed * 1103515245u + 12345u;
        size_t k = 1 + (seed >> 16) % 16;
        if (k > n - pos)
            k = n - pos;
        size_t ok = feed_copy(&cut, s + pos, k);
        if (cut.fail) {
            REQUIRE(cut.fail == whole.fail);
            if (ok > 0)
                REQUIRE(pos + ok == at_whole);
            else
                REQUIRE(at_whole <= pos);
            break;
        }
        REQUIRE(ok == k);
        pos += k;
    }
    REQUIRE(cut.fail == whole.fail);
    wstrack_free(&whole);
    wstrack_free(&cut);
    return 0;
}
