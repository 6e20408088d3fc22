/* gwmsg: one message for end-user clients, built once per command and shared
 * by reference by every recipient (STYLE §8: fan-out shares).
 *
 * A message is immutable once built except for the enc[] cache slots, which
 * belong to the transport. Reference counts are plain integers: the gateway
 * process is single-threaded (libwebsockets is built with LWS_MAX_SMP 1).
 *
 * The module also holds the few PHP-array helpers the gateway needs to treat
 * PHP serialize() values the way PHP itself does (duplicate keys, merging,
 * json_encode); they work on the msgpack_object trees of shared/phpser.h. */
#ifndef GW_GATEWAY_MSG_H
#define GW_GATEWAY_MSG_H

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
    uint32_t len;
    /* Per-encoding caches the transport may fill (e.g. [0] text frame,
     * [1] deflated frame) so N recipients share one encoding. Each enc[i]
     * must come from malloc(): gwmsg_unref() free()s it with the message.
     * The engine never reads them. */
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

/* Resolves duplicate keys in every array of the tree the way PHP's
 * unserialize() does: a later duplicate overwrites the value and keeps the
 * first position. phpser_decode keeps duplicates; call this before treating
 * a decoded tree as a PHP value. Works in place (entries are compacted).
 * Returns 0 or -ENOMEM (the tree is then partly normalized but valid). */
int gwmsg_php_normalize(msgpack_object *v);

/* dest = array_replace_recursive(dest, src), both MAPs already normalized:
 * for each key of src in order, if dest has it and both values are arrays
 * they are merged recursively, else dest[key] = src[key] (existing keys keep
 * their position, new ones are appended). New entry arrays come from `zone`;
 * the original entry arrays of dest are not modified. Returns 0, -EINVAL
 * when either is not a MAP, or -ENOMEM. */
int gwmsg_php_replace_recursive(msgpack_zone *zone, msgpack_object *dest, const msgpack_object *src);

#endif
