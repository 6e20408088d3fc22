/* gwmsg: one message for end-user clients, built once per command and shared
 * by reference by every recipient (STYLE §8: fan-out shares).
 *
 * A message is immutable once built except for the enc[] cache slots, which
 * belong to the transport. Reference counts are plain integers: the gateway
 * process is single-threaded (libwebsockets is built with LWS_MAX_SMP 1).
 *
 * The module also holds json_encode of PHP values (what a WebSocket client
 * gets for an array body); the array semantics themselves (duplicate keys,
 * merging) are shared/phpval.h's. */
#ifndef GW_GATEWAY_GWMSG_H
#define GW_GATEWAY_GWMSG_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "buf.h"

/* flags */
#define GWMSG_RAW 0x01u   /* NOT_CALL_ENCODE: write data to the socket verbatim, no WebSocket framing */
#define GWMSG_ARRAY 0x02u /* data is the PHP serialize() of an array (or null): the frame's
                           * BODY_IS_SCALAR bit was clear. A WebSocket client gets the
                           * JSON of it (gwmsg_json_body). Both bits set: the JSON is
                           * written raw (PHP itself would fail on such a frame). */

#define GWMSG_ENC_SLOTS 2

struct gwmsg {
    uint32_t refs;
    uint8_t flags;
    /* Per-encoding caches the transport may fill (e.g. [0] text frame,
     * [1] deflated frame) so N recipients share one encoding: enc[i] holds
     * enc_len[i] bytes and enc_mode[i] says how the transport writes them
     * (e.g. its WebSocket opcode). Each enc[i] must come from malloc():
     * gwmsg_unref() free()s it with the message. The engine never reads
     * them. */
    uint8_t enc_mode[GWMSG_ENC_SLOTS];
    uint32_t len;
    void *enc[GWMSG_ENC_SLOTS];
    uint32_t enc_len[GWMSG_ENC_SLOTS];
    uint8_t data[]; /* len bytes */
};

/* Copies body[0..len) (body may be NULL when len is 0) into a new message
 * with refs = 1. NULL on ENOMEM or when len does not fit 32 bits. */
struct gwmsg *gwmsg_new(const void *body, size_t len, unsigned flags);
/* Takes one more reference; returns m. */
struct gwmsg *gwmsg_ref(struct gwmsg *m);
/* Drops one reference; the last one frees the message and its enc caches.
 * NULL is ignored. */
void gwmsg_unref(struct gwmsg *m);

/* Appends to `out` what a PHP (workerman 5.2.2) WebSocket connection would
 * put in the frame for this message:
 *   - not GWMSG_ARRAY: data, verbatim;
 *   - GWMSG_ARRAY: data is PHP-unserialized; an array or null becomes
 *     json_encode($value, JSON_UNESCAPED_UNICODE) — workerman's
 *     Websocket::encode uses exactly that flag: "/" is written "\/", U+2028/9
 *     as \u2028/\u2029, control characters as \u00XX with lowercase hex,
 *     other non-ASCII as raw UTF-8; lists (keys 0..n-1 in order) as [],
 *     everything else as {}; floats as PHP prints them (1.0e+25, 0.1);
 *     a string value is sent as its bytes (PHP's is_scalar path).
 * Returns 0, or -1 (out unchanged) when PHP would not deliver anything
 * sensible: data does not unserialize, the value is an int/float/bool
 * (PHP throws in strlen()), a string is not valid UTF-8 or a float is INF/NAN
 * (json_encode fails), or ENOMEM. */
int gwmsg_json_body(const struct gwmsg *m, struct buf *out);

/* Same with options: GWMSG_JSON_ESCAPE_UNICODE gives json_encode's default
 * flags instead (every non-ASCII character as \uXXXX, lowercase hex,
 * surrogate pairs above U+FFFF). */
#define GWMSG_JSON_ESCAPE_UNICODE 0x01u
int gwmsg_json_body_opts(const struct gwmsg *m, struct buf *out, unsigned opts);

/* json_encode of an already decoded value (same rules and results as above,
 * but a top-level string is JSON-encoded too, as json_encode would). */
int gwmsg_php_json(const msgpack_object *v, struct buf *out, unsigned opts);

#endif
