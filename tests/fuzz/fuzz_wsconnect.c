/* libFuzzer harness for the gateway's WebSocket-connect builder
 * (gateway/wsconnect.c) and its PHP parse_url / parse_str twins
 * (gateway/phpurl.c): the handshake head is the first thing a client sends.
 *
 * Checks, on exact-size heap copies (ASan sees any read past the end):
 *  - wsconnect_head_len stays in range and ends at a CRLFCRLF;
 *  - wsconnect_body either fails with a reason and leaves the output as it
 *    was, or appends a body that is valid PHP serialize text of a
 *    3-entry array (what the business worker will unserialize);
 *  - phpurl_query returns a slice of its target, and phpurl_parse_str of
 *    any bytes writes serialize text that decodes to an array.
 * Built with wsconnect.c, phpurl.c and the shared library (no lws). */
#include "buf.h"
#include "phpser.h"
#include "phpurl.h"
#include "wsconnect.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* Decodes serialize text with the deepest nesting the decoder allows (a
 * query may nest 64 levels below "get"); returns the top value's type. */
static int decode_type(const struct buf *b, size_t from, uint32_t *size)
{
    msgpack_zone z;
    REQUIRE(msgpack_zone_init(&z, 4096));
    msgpack_object v;
    const struct phpser_limits lim = {.max_depth = PHPSER_HARD_MAX_DEPTH, .max_elems = 0};
    char err[160];
    int r = phpser_decode(buf_head(b) + from, buf_avail(b) - from, &z, &v, &lim, err, sizeof err);
    REQUIRE(r == 0);
    int t = v.type;
    if (t == MSGPACK_OBJECT_MAP)
        *size = v.via.map.size;
    msgpack_zone_destroy(&z);
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size ? size : 1);
    REQUIRE(in);
    memcpy(in, data, size);

    size_t hl = wsconnect_head_len(in, size);
    REQUIRE(hl <= size);
    if (hl)
        REQUIRE(hl >= 4 && memcmp(in + hl - 4, "\r\n\r\n", 4) == 0);

    struct buf out = BUF_INIT;
    REQUIRE(buf_append(&out, "prefix", 6) == 0);
    char err[160];
    err[0] = '\0';
    uint16_t port = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;
    int r = wsconnect_body(in, size, "203.0.113.9", port, 8282, &out, err, sizeof err);
    if (r < 0) {
        REQUIRE(err[0] != '\0' && buf_avail(&out) == 6);
    } else {
        REQUIRE(r == 0 && hl > 0 && buf_avail(&out) > 6 && memcmp(buf_head(&out), "prefix", 6) == 0);
        uint32_t n = 0;
        REQUIRE(decode_type(&out, 6, &n) == MSGPACK_OBJECT_MAP && n == 3);
    }

    /* The target check the request line does before phpurl_query. */
    char *target = malloc(size ? size : 1);
    REQUIRE(target);
    for (size_t i = 0; i < size; i++)
        target[i] = (data[i] <= 0x20 || data[i] == 0x7f) ? '/' : (char)data[i];
    const char *q = NULL;
    size_t qn = 0;
    if (phpurl_query(target, size, &q, &qn))
        REQUIRE(q >= target && qn <= size && q + qn <= target + size);

    /* parse_str of any bytes (the query of a target, or the raw input). */
    for (int pass = 0; pass < 2; pass++) {
        const char *s = pass == 0 ? in : q;
        size_t n = pass == 0 ? size : qn;
        if (pass == 1 && !q)
            break;
        struct buf b = BUF_INIT;
        struct phpser_w w;
        phpser_w_init(&w, &b);
        int pr = phpurl_parse_str(&w, s, n);
        REQUIRE(pr == 0 || pr == -ENOMEM);
        if (pr == 0) {
            uint32_t cnt = 0;
            REQUIRE(decode_type(&b, 0, &cnt) == MSGPACK_OBJECT_MAP && cnt <= PHPURL_MAX_INPUT_VARS);
        }
        buf_free(&b);
    }
    free(target);
    buf_free(&out);
    free(in);
    return 0;
}
