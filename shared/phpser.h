/* phpser: the subset of PHP serialize() that GatewayWorker puts on the wire
 * (protocol spec §10): null, bool, int, float, string and array.
 *
 * Values are msgpack-c objects so that the rest of the code base has one
 * value model. The mapping is
 *
 *   N;        <-> MSGPACK_OBJECT_NIL
 *   b:0; b:1; <-> MSGPACK_OBJECT_BOOLEAN
 *   i:n;      <-> MSGPACK_OBJECT_POSITIVE_INTEGER (n >= 0) / NEGATIVE_INTEGER (n < 0)
 *   d:x;      <-> MSGPACK_OBJECT_FLOAT64 (FLOAT32 is also encoded)
 *   s:n:"…";  <-> MSGPACK_OBJECT_STR (raw bytes; BIN is also encoded as s:)
 *   a:n:{…}   <-> MSGPACK_OBJECT_MAP, always, in wire order; an ARRAY is
 *                 encoded as a PHP list (keys 0..n-1).
 *
 * PHP has no separate list type, so the decoder never produces ARRAY: a
 * caller that wants a list checks the keys itself.
 *
 * Duplicate keys: PHP's unserialize() lets a later duplicate overwrite the
 * earlier value (keeping the first position). The decoder does not resolve
 * duplicates; it keeps every entry in wire order and leaves "later wins" to
 * the consumer. Re-encoding such a map therefore reproduces the input.
 *
 * Floats are parsed with strtod() and formatted with snprintf(), both of which
 * follow LC_NUMERIC: the process must stay in the "C" numeric locale (the
 * default unless something calls setlocale()). */
#ifndef GW_PHPSER_H
#define GW_PHPSER_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "buf.h"

#define PHPSER_DEFAULT_MAX_DEPTH 64u
#define PHPSER_DEFAULT_MAX_ELEMS 1000000u
/* Both coder directions recurse once per array level; this bounds the C
 * stack whatever the caller asks for. */
#define PHPSER_HARD_MAX_DEPTH 1024u

struct phpser_limits {
    unsigned max_depth; /* arrays nested deeper than this are rejected; 0 = 64, capped at 1024 */
    size_t max_elems;   /* total array entries in one input; 0 = 1,000,000 */
};

/* Decodes exactly `len` bytes of untrusted PHP serialize() text into *out.
 *
 * The tree (map entries and string bytes) is allocated from `zone`, which the
 * caller owns and eventually destroys; the tree never points into `in`, so
 * `in` may be freed right after the call. `lim` may be NULL for the defaults.
 *
 * Returns 0, or -1 with a NUL-terminated message naming the byte offset in
 * `err` (if errlen > 0). On failure *out is set to NIL and the zone may hold
 * partial allocations (freed with the zone). Memory taken from the zone is
 * bounded by the input: at most 48 bytes of map entries per 6 input bytes
 * (the shortest entry, "i:0;N;") plus the string bytes, because counts and
 * lengths are checked against the remaining input before allocating. */
int phpser_decode(const uint8_t *in, size_t len, msgpack_zone *zone, msgpack_object *out,
                  const struct phpser_limits *lim, char *err, size_t errlen);

/* The one PHP serialize() writer (phpser_encode is built on it; the gateway's
 * replies and handshake data use it directly). The error is sticky: once an
 * append fails every later call does nothing, so a builder tests w->err once
 * at the end. The writer only appends: on error the caller drops the partial
 * text (phpser_encode does it itself). */
struct phpser_w {
    struct buf *b; /* borrowed; appended to */
    int err;       /* 0, or the first error: -ENOMEM, -EINVAL (a value PHP cannot represent) */
};

static inline void phpser_w_init(struct phpser_w *w, struct buf *b)
{
    w->b = b;
    w->err = 0;
}
/* Bytes written verbatim (a literal, or already serialized text). */
void phpser_w_raw(struct phpser_w *w, const void *p, size_t n);
void phpser_w_null(struct phpser_w *w);                       /* N; */
void phpser_w_bool(struct phpser_w *w, int v);                /* b:0; b:1; */
void phpser_w_int(struct phpser_w *w, int64_t v);             /* i:v; */
void phpser_w_double(struct phpser_w *w, double d);           /* d:x; as phpser_format_double */
void phpser_w_str(struct phpser_w *w, const void *p, size_t n); /* s:n:"…"; */
/* A string key: i: when it is a canonical int64 (§10.4), as PHP stores it, else s:. */
void phpser_w_key(struct phpser_w *w, const void *p, size_t n);
void phpser_w_arr(struct phpser_w *w, size_t n);              /* a:n:{ */
void phpser_w_end(struct phpser_w *w);                        /* } */
/* A string written in pieces: s:n:" here, then exactly n bytes (phpser_w_raw
 * or phpser_w_reserve), then phpser_w_str_close for "; */
void phpser_w_str_open(struct phpser_w *w, size_t n);
void phpser_w_str_close(struct phpser_w *w);
/* Room for n bytes the caller fills, then phpser_w_commit(w, n); NULL after
 * an error (nothing to fill then). */
uint8_t *phpser_w_reserve(struct phpser_w *w, size_t n);
void phpser_w_commit(struct phpser_w *w, size_t n);
/* Any value tree, with the rules of phpser_encode below. */
void phpser_w_value(struct phpser_w *w, const msgpack_object *v);

/* Appends the PHP serialize() text of *v to out (borrowed; only appended to).
 * MAP keys must be integers within int64 or STR (a STR key that is a
 * canonical int64, §10.4, is written as i:, as PHP would store it).
 * Returns 0; -EINVAL for a value PHP cannot represent (EXT, a key of another
 * type, an unsigned integer above INT64_MAX, nesting deeper than
 * PHPSER_HARD_MAX_DEPTH); -ENOMEM. On error out->len is restored, so no
 * partial text is left behind. */
int phpser_encode(struct buf *out, const msgpack_object *v);

/* PHP's text for a float with serialize_precision=-1 (§10.2): the shortest
 * digits that round-trip, laid out plain for exponents -4..16 and as
 * d.dddE±x otherwise; "-0", "INF", "-INF", "NAN" for the specials.
 * Writes a NUL-terminated string into out and returns its length (< 32). */
int phpser_format_double(double d, char out[32]);

/* §10.4: returns 1 and stores the value in *v if s[0..n) is a canonical int64
 * as PHP array keys define it (optional '-', no leading zeros, no '+', no
 * spaces, not "-0", within int64), else 0 (*v untouched). v may be NULL. */
int phpser_key_is_int(const char *s, size_t n, int64_t *v);

#endif
