/* libFuzzer harness for the GatewayProtocol and client_id codecs.
 *
 * The input is treated as bytes arriving on an internal link: frames are
 * decoded back to back, each one re-encoded and compared with the input; the
 * same bytes are then fed through a struct buf in chunks derived from the
 * input, which must yield the same frames. The input is also parsed as a
 * run of replies and as a client_id. Any disagreement aborts. */
#include "buf.h"
#include "clientid.h"
#include "gwp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAMES 4096

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* Decodes all frames of data[0..len) in one pass; returns how many, with
 * their lengths in lens[], and the final status in *last. */
static size_t decode_all(const uint8_t *data, size_t len, uint32_t max, size_t *lens, int *last)
{
    struct buf re = BUF_INIT;
    size_t pos = 0, n = 0;
    for (;;) {
        struct gwp_frame f;
        size_t used = 0;
        char err[96];
        err[0] = '\0';
        int r = gwp_decode(len > pos ? data + pos : NULL, len - pos, max, &f, &used, err, sizeof err);
        if (r != GWP_OK) {
            REQUIRE(r == GWP_NEED_MORE || (r == GWP_ERROR && err[0] != '\0'));
            *last = r;
            break;
        }
        REQUIRE(used >= GWP_HEADER_LEN && used <= len - pos && used <= max);
        REQUIRE(f.hdr.pack_len == used && f.ext_len == f.hdr.ext_len);
        REQUIRE(f.ext == data + pos + GWP_HEADER_LEN && f.body == f.ext + f.ext_len);
        REQUIRE(GWP_HEADER_LEN + f.ext_len + f.body_len == used);
        buf_reset(&re);
        REQUIRE(gwp_encode(&re, &f.hdr, f.ext, f.ext_len, f.body, f.body_len) == 0);
        REQUIRE(buf_avail(&re) == used && memcmp(buf_head(&re), data + pos, used) == 0);
        (void)gwp_cmd_name(f.hdr.cmd);
        if (n < MAX_FRAMES)
            lens[n] = used;
        n++;
        pos += used;
    }
    buf_free(&re);
    return n;
}

/* The same bytes through a buf, read sizes taken cyclically from `sizes`:
 * the frames and the final status must match the one-pass decode. */
static void decode_chunked(const uint8_t *data, size_t len, uint32_t max, const uint8_t *sizes, size_t nsizes,
                           const size_t *lens, size_t nref, int last_ref)
{
    struct buf in = BUF_INIT;
    size_t fed = 0, n = 0, k = 0;
    int last = GWP_NEED_MORE;
    while (fed < len && last != GWP_ERROR) {
        size_t c = nsizes ? (size_t)sizes[k++ % nsizes] + 1 : len;
        if (c > len - fed)
            c = len - fed;
        REQUIRE(buf_append(&in, data + fed, c) == 0);
        fed += c;
        while (buf_avail(&in) > 0) {
            struct gwp_frame f;
            size_t used;
            last = gwp_decode(buf_head(&in), buf_avail(&in), max, &f, &used, NULL, 0);
            if (last != GWP_OK)
                break;
            REQUIRE(n < nref && (n >= MAX_FRAMES || used == lens[n]));
            n++;
            buf_consume(&in, used);
        }
    }
    REQUIRE(n == nref);
    /* Input fully fed and nothing left over means the one-pass decode hit
     * NEED_MORE on an empty tail. */
    REQUIRE(last == last_ref || (buf_avail(&in) == 0 && last_ref == GWP_NEED_MORE));
    buf_free(&in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static size_t lens[MAX_FRAMES];

    /* A small limit (from the first byte) reaches the max_pack_len path
     * with short inputs; the default limit is the normal configuration. */
    uint32_t small_max = size > 0 ? (uint32_t)data[0] * 4 : 0;
    const uint32_t limits[2] = {GWP_DEFAULT_MAX_PACK_LEN, small_max};
    for (int li = 0; li < 2; li++) {
        int last = GWP_NEED_MORE;
        size_t n = decode_all(data, size, limits[li], lens, &last);
        /* Read sizes from the last bytes of the input (1..256 each). */
        size_t nsizes = size < 8 ? size : 8;
        decode_chunked(data, size, limits[li], nsizes ? data + size - nsizes : NULL, nsizes, lens, n, last);
    }

    /* Replies back to back. */
    size_t pos = 0;
    for (;;) {
        const uint8_t *payload;
        size_t plen, used;
        int r = gwp_reply_decode(size > pos ? data + pos : NULL, size - pos, GWP_DEFAULT_MAX_PACK_LEN, &payload, &plen,
                                 &used, NULL, 0);
        if (r != GWP_OK)
            break;
        REQUIRE(used == plen + GWP_REPLY_PREFIX_LEN && used <= size - pos && payload == data + pos + 4);
        struct buf re = BUF_INIT;
        REQUIRE(gwp_reply_encode(&re, payload, plen) == 0);
        REQUIRE(buf_avail(&re) == used && memcmp(buf_head(&re), data + pos, used) == 0);
        buf_free(&re);
        pos += used;
    }

    /* client_id: the whole input, and its first 20 bytes. */
    for (int pass = 0; pass < 2; pass++) {
        size_t len = pass == 0 ? size : (size < CLIENTID_LEN ? size : CLIENTID_LEN);
        uint32_t ip, id;
        uint16_t port;
        if (clientid_decode((const char *)data, len, &ip, &port, &id) == 0) {
            REQUIRE(len == CLIENTID_LEN);
            char again[CLIENTID_LEN + 1];
            clientid_encode(ip, port, id, again);
            for (size_t i = 0; i < CLIENTID_LEN; i++) {
                char c = (char)data[i];
                if (c >= 'A' && c <= 'F')
                    c = (char)(c - 'A' + 'a');
                REQUIRE(again[i] == c);
            }
            char addr[CLIENTID_ADDR_MAX];
            REQUIRE(clientid_gateway_address(ip, port, addr, sizeof addr) > 0);
        }
    }
    return 0;
}
