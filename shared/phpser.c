#include "phpser.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ keys */

int phpser_key_is_int(const char *s, size_t n, int64_t *v)
{
    size_t i = 0;
    int neg = 0;
    if (n > 0 && s[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i >= n || s[i] < '0' || s[i] > '9')
        return 0;
    /* "0" alone is canonical, "-0" and "0…" are not: PHP keeps them as strings. */
    if (s[i] == '0' && (neg || n - i > 1))
        return 0;
    /* Accumulate the magnitude unsigned: the most negative key has no
     * positive int64 counterpart. */
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t m = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        unsigned dg = (unsigned)(s[i] - '0');
        if (m > (limit - dg) / 10)
            return 0;
        m = m * 10 + dg;
    }
    if (v)
        *v = neg ? (m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m) : (int64_t)m;
    return 1;
}

/* ---------------------------------------------------------------- floats */

/* Largest digit count needed to round-trip any double. */
#define MAX_SIG 17

static double digits_value(const char *dg, int n, int e10)
{
    char s[48];
    snprintf(s, sizeof s, "%c.%.*se%d", dg[0], n - 1, dg + 1, e10);
    return strtod(s, NULL);
}

/* The decimal number one unit in the last of n digits above (dir > 0) or
 * below (dir < 0) dg×10^e10. Returns its digit count (0 when it is zero). */
static int digits_step(const char *dg, int n, int e10, int dir, char *out, int *oe10)
{
    memcpy(out, dg, (size_t)n);
    *oe10 = e10;
    int i = n - 1;
    if (dir > 0) {
        while (i >= 0 && out[i] == '9')
            out[i--] = '0';
        if (i < 0) {
            out[0] = '1';
            ++*oe10;
        } else {
            out[i]++;
        }
        return n;
    }
    while (i >= 0 && out[i] == '0')
        out[i--] = '9';
    if (i < 0)
        return 0;
    out[i]--;
    if (out[0] != '0')
        return n;
    /* 1000 - 1 = 999: one digit shorter and one decade lower. */
    memmove(out, out + 1, (size_t)n - 1);
    --*oe10;
    return n - 1;
}

/* Shortest digits (no trailing zeros) and decimal exponent of x > 0, finite,
 * such that strtod gives x back. Among candidates of the shortest length the
 * nearest wins, as with dtoa mode 0, which PHP uses for precision -1. */
static int shortest_digits(double x, char *dg, int *e10)
{
    for (int p = 1; p <= MAX_SIG; p++) {
        char s[48];
        snprintf(s, sizeof s, "%.*e", p - 1, x);
        /* s is "d[.ddd]e±x": gather the p digits and the exponent. */
        int n = 0;
        const char *q = s;
        for (; *q && *q != 'e'; q++)
            if (*q >= '0' && *q <= '9')
                dg[n++] = *q;
        *e10 = atoi(q + 1);
        double y = strtod(s, NULL);
        if (y != x) {
            /* The nearest p-digit number missed. Next to a power of two the
             * round-trip interval is lopsided (the gap below is half the gap
             * above), so the p-digit number on the other side of x may
             * still hit while being farther away. */
            char alt[MAX_SIG + 1];
            int ae;
            int an = digits_step(dg, n, *e10, y < x ? 1 : -1, alt, &ae);
            if (an == 0 || digits_value(alt, an, ae) != x)
                continue;
            memcpy(dg, alt, (size_t)an);
            n = an;
            *e10 = ae;
        }
        while (n > 1 && dg[n - 1] == '0')
            n--;
        return n;
    }
    /* Unreachable: 17 significant digits always round-trip a double. */
    dg[0] = '0';
    *e10 = 0;
    return 1;
}

int phpser_format_double(double d, char out[32])
{
    if (isnan(d))
        return snprintf(out, 32, "NAN");
    if (isinf(d))
        return snprintf(out, 32, d < 0 ? "-INF" : "INF");
    char *o = out;
    if (signbit(d))
        *o++ = '-';
    if (d == 0) {
        *o++ = '0';
        *o = 0;
        return (int)(o - out);
    }
    char dg[MAX_SIG + 1];
    int e;
    int n = shortest_digits(fabs(d), dg, &e);
    if (e < -4 || e >= 17) {
        *o++ = dg[0];
        *o++ = '.';
        if (n > 1) {
            memcpy(o, dg + 1, (size_t)n - 1);
            o += n - 1;
        } else {
            *o++ = '0';
        }
        o += sprintf(o, "E%c%d", e < 0 ? '-' : '+', e < 0 ? -e : e);
        return (int)(o - out);
    }
    if (e < 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = -1; i > e; i--)
            *o++ = '0';
        memcpy(o, dg, (size_t)n);
        o += n;
    } else if (n <= e + 1) {
        memcpy(o, dg, (size_t)n);
        o += n;
        for (int i = n; i <= e; i++)
            *o++ = '0';
    } else {
        memcpy(o, dg, (size_t)e + 1);
        o += e + 1;
        *o++ = '.';
        memcpy(o, dg + e + 1, (size_t)(n - e - 1));
        o += n - e - 1;
    }
    *o = 0;
    return (int)(o - out);
}

/* --------------------------------------------------------------- decoder */

/* Smallest encoding of one array entry: "i:0;" + "N;". Used to refuse
 * counts the remaining input cannot possibly hold before allocating. */
#define MIN_ENTRY_BYTES 6
/* strtod() needs a NUL-terminated copy; PHP writes at most ~24 chars, the
 * bound only has to be generous for hand-written decimal expansions. */
#define MAX_FLOAT_TEXT 1024

struct dec {
    const uint8_t *in;
    size_t len;
    size_t pos;
    msgpack_zone *zone;
    unsigned max_depth;
    size_t max_elems;
    size_t elems;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int fail(struct dec *d, const char *fmt, ...)
{
    if (d->errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->err, d->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Printable bytes are quoted, others shown in hex, so messages stay one line. */
static const char *show_byte(uint8_t c, char tmp[8])
{
    if (c >= 0x21 && c < 0x7f && c != '\'')
        snprintf(tmp, 8, "'%c'", c);
    else
        snprintf(tmp, 8, "0x%02x", c);
    return tmp;
}

static int at_end(const struct dec *d) { return d->pos >= d->len; }

static int expect(struct dec *d, uint8_t c)
{
    char t[8];
    if (at_end(d))
        return fail(d, "unexpected end of input at offset %zu: expected '%c'", d->pos, c);
    if (d->in[d->pos] != c)
        return fail(d, "unexpected byte %s at offset %zu: expected '%c'", show_byte(d->in[d->pos], t),
                    d->pos, c);
    d->pos++;
    return 0;
}

/* A run of decimal digits without leading zeros whose value is <= limit. */
static int parse_digits(struct dec *d, const char *what, uint64_t limit, uint64_t *v)
{
    char t[8];
    size_t start = d->pos;
    if (at_end(d))
        return fail(d, "unexpected end of input at offset %zu: expected %s digits", d->pos, what);
    uint8_t c = d->in[d->pos];
    if (c == '+')
        return fail(d, "'+' sign in %s at offset %zu", what, d->pos);
    if (c < '0' || c > '9')
        return fail(d, "unexpected byte %s at offset %zu: expected %s digits", show_byte(c, t), d->pos,
                    what);
    uint64_t m = 0;
    while (!at_end(d) && d->in[d->pos] >= '0' && d->in[d->pos] <= '9') {
        unsigned dg = (unsigned)(d->in[d->pos] - '0');
        if (m > (limit - dg) / 10)
            return fail(d, "%s out of range at offset %zu", what, start);
        m = m * 10 + dg;
        d->pos++;
    }
    if (d->pos - start > 1 && d->in[start] == '0')
        return fail(d, "leading zero in %s at offset %zu", what, start);
    *v = m;
    return 0;
}

/* "i:" already consumed. */
static int dec_int(struct dec *d, msgpack_object *o)
{
    size_t start = d->pos;
    int neg = 0;
    if (!at_end(d) && d->in[d->pos] == '-') {
        neg = 1;
        d->pos++;
    }
    uint64_t m;
    if (parse_digits(d, "integer", neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &m) < 0)
        return -1;
    if (neg && m == 0)
        return fail(d, "integer -0 at offset %zu is not canonical", start);
    if (expect(d, ';') < 0)
        return -1;
    if (neg) {
        o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        o->via.i64 = m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m;
    } else {
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.u64 = m;
    }
    return 0;
}

/* "d:" already consumed. Kept out of line: its 1 KiB scratch buffer must
 * not sit in every frame of the array recursion. */
__attribute__((noinline)) static int dec_float(struct dec *d, msgpack_object *o)
{
    size_t start = d->pos;
    size_t rem = d->len - start;
    /* Look no further than the longest accepted text, so a missing ';'
     * cannot make every float scan the rest of a large input. */
    const uint8_t *semi = memchr(d->in + start, ';', rem < MAX_FLOAT_TEXT + 1 ? rem : MAX_FLOAT_TEXT + 1);
    if (!semi) {
        if (rem > MAX_FLOAT_TEXT)
            return fail(d, "float text at offset %zu longer than %d bytes", start, MAX_FLOAT_TEXT);
        return fail(d, "float at offset %zu has no terminating ';'", start);
    }
    size_t n = (size_t)(semi - (d->in + start));
    if (n == 0)
        return fail(d, "empty float at offset %zu", start);
    /* strtod would skip leading blanks; the wire format has none anywhere. */
    uint8_t c0 = d->in[start];
    if (c0 == ' ' || (c0 >= '\t' && c0 <= '\r'))
        return fail(d, "whitespace in float at offset %zu", start);
    char tmp[MAX_FLOAT_TEXT + 1];
    memcpy(tmp, d->in + start, n);
    tmp[n] = 0;
    char *end;
    double v = strtod(tmp, &end);
    if (end != tmp + n)
        return fail(d, "bad float text at offset %zu", start + (size_t)(end - tmp));
    d->pos = start + n + 1;
    o->type = MSGPACK_OBJECT_FLOAT64;
    o->via.f64 = v;
    return 0;
}

/* "s:" already consumed. The bytes are copied into the zone so the tree
 * does not depend on the input buffer's lifetime. */
static int dec_str(struct dec *d, msgpack_object *o)
{
    size_t start = d->pos;
    uint64_t n;
    if (parse_digits(d, "string length", UINT64_MAX, &n) < 0)
        return -1;
    /* After the digits: ':' '"' n bytes '"' ';' */
    size_t rem = d->len - d->pos;
    if (rem < 4 || n > rem - 4)
        return fail(d, "string length %" PRIu64 " exceeds remaining input at offset %zu", n, start);
    if (n > UINT32_MAX)
        return fail(d, "string length %" PRIu64 " at offset %zu is too large", n, start);
    if (expect(d, ':') < 0 || expect(d, '"') < 0)
        return -1;
    char *p = NULL;
    if (n > 0) {
        p = msgpack_zone_malloc_no_align(d->zone, (size_t)n);
        if (!p)
            return fail(d, "out of memory for string at offset %zu", start);
        memcpy(p, d->in + d->pos, (size_t)n);
        d->pos += (size_t)n;
    }
    if (expect(d, '"') < 0 || expect(d, ';') < 0)
        return -1;
    o->type = MSGPACK_OBJECT_STR;
    o->via.str.size = (uint32_t)n;
    o->via.str.ptr = p;
    return 0;
}

static int dec_value(struct dec *d, msgpack_object *o, unsigned depth);

static int dec_key(struct dec *d, msgpack_object *k)
{
    char t[8];
    if (at_end(d))
        return fail(d, "unexpected end of input at offset %zu: expected an array key", d->pos);
    uint8_t c = d->in[d->pos];
    if (c != 'i' && c != 's')
        return fail(d, "unexpected byte %s at offset %zu: array keys must be int or string", show_byte(c, t),
                    d->pos);
    d->pos++;
    if (expect(d, ':') < 0)
        return -1;
    if (c == 'i')
        return dec_int(d, k);
    if (dec_str(d, k) < 0)
        return -1;
    /* PHP's unserialize stores "5" as the int key 5; mirror it so that a
     * decoded tree compares equal however the key was spelled. */
    int64_t iv;
    if (phpser_key_is_int(k->via.str.ptr, k->via.str.size, &iv)) {
        if (iv < 0) {
            k->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
            k->via.i64 = iv;
        } else {
            k->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
            k->via.u64 = (uint64_t)iv;
        }
    }
    return 0;
}

/* "a:" already consumed; depth counts this array. */
static int dec_array(struct dec *d, msgpack_object *o, unsigned depth)
{
    size_t start = d->pos;
    if (depth > d->max_depth)
        return fail(d, "nesting deeper than %u at offset %zu", d->max_depth, start - 2);
    uint64_t n;
    if (parse_digits(d, "array count", UINT64_MAX, &n) < 0)
        return -1;
    if (expect(d, ':') < 0 || expect(d, '{') < 0)
        return -1;
    size_t rem = d->len - d->pos; /* must hold n entries and the '}' */
    if (rem == 0 || n > (rem - 1) / MIN_ENTRY_BYTES)
        return fail(d, "array count %" PRIu64 " exceeds remaining input at offset %zu", n, start);
    if (n > d->max_elems - d->elems)
        return fail(d, "array at offset %zu: more than %zu array entries in total", start, d->max_elems);
    d->elems += (size_t)n;
    msgpack_object_kv *kv = NULL;
    if (n > 0) {
        kv = msgpack_zone_malloc(d->zone, (size_t)n * sizeof *kv);
        if (!kv)
            return fail(d, "out of memory for array at offset %zu", start);
    }
    for (size_t i = 0; i < (size_t)n; i++) {
        if (dec_key(d, &kv[i].key) < 0 || dec_value(d, &kv[i].val, depth) < 0)
            return -1;
    }
    if (!at_end(d) && d->in[d->pos] != '}') {
        char t[8];
        return fail(d, "unexpected byte %s at offset %zu: expected '}' after the %" PRIu64 " entries of the array at offset %zu",
                    show_byte(d->in[d->pos], t), d->pos, n, start - 2);
    }
    if (expect(d, '}') < 0)
        return -1;
    o->type = MSGPACK_OBJECT_MAP;
    o->via.map.size = (uint32_t)n; /* n <= max_elems, and below len/6 */
    o->via.map.ptr = kv;
    return 0;
}

static int dec_value(struct dec *d, msgpack_object *o, unsigned depth)
{
    char t[8];
    if (at_end(d))
        return fail(d, "unexpected end of input at offset %zu: expected a value", d->pos);
    size_t at = d->pos;
    uint8_t c = d->in[at];
    switch (c) {
    case 'N':
        d->pos++;
        if (expect(d, ';') < 0)
            return -1;
        o->type = MSGPACK_OBJECT_NIL;
        return 0;
    case 'b':
        d->pos++;
        if (expect(d, ':') < 0)
            return -1;
        if (at_end(d) || (d->in[d->pos] != '0' && d->in[d->pos] != '1')) {
            if (at_end(d))
                return fail(d, "unexpected end of input at offset %zu: expected 0 or 1", d->pos);
            return fail(d, "unexpected byte %s at offset %zu: bool must be 0 or 1", show_byte(d->in[d->pos], t),
                        d->pos);
        }
        o->type = MSGPACK_OBJECT_BOOLEAN;
        o->via.boolean = d->in[d->pos++] == '1';
        return expect(d, ';');
    case 'i':
    case 'd':
    case 's':
    case 'a':
        d->pos++;
        if (expect(d, ':') < 0)
            return -1;
        if (c == 'i')
            return dec_int(d, o);
        if (c == 'd')
            return dec_float(d, o);
        if (c == 's')
            return dec_str(d, o);
        return dec_array(d, o, depth + 1);
    case 'O':
    case 'o':
    case 'C':
        return fail(d, "unexpected byte %s at offset %zu: objects are not accepted", show_byte(c, t), at);
    case 'E':
        return fail(d, "unexpected byte %s at offset %zu: enums are not accepted", show_byte(c, t), at);
    case 'r':
    case 'R':
        return fail(d, "unexpected byte %s at offset %zu: references are not accepted", show_byte(c, t), at);
    default:
        return fail(d, "unexpected byte %s at offset %zu: not the start of a value", show_byte(c, t), at);
    }
}

int phpser_decode(const uint8_t *in, size_t len, msgpack_zone *zone, msgpack_object *out,
                  const struct phpser_limits *lim, char *err, size_t errlen)
{
    struct dec d = {
        .in = in,
        .len = len,
        .zone = zone,
        .max_depth = lim && lim->max_depth ? lim->max_depth : PHPSER_DEFAULT_MAX_DEPTH,
        .max_elems = lim && lim->max_elems ? lim->max_elems : PHPSER_DEFAULT_MAX_ELEMS,
        .err = err,
        .errlen = errlen,
    };
    if (d.max_depth > PHPSER_HARD_MAX_DEPTH)
        d.max_depth = PHPSER_HARD_MAX_DEPTH;
    /* msgpack sizes are 32-bit. */
    if (d.max_elems > UINT32_MAX)
        d.max_elems = UINT32_MAX;
    if (errlen > 0)
        err[0] = 0;
    out->type = MSGPACK_OBJECT_NIL;
    msgpack_object v;
    if (len == 0 || !in) {
        fail(&d, "empty input");
        return -1;
    }
    if (dec_value(&d, &v, 0) < 0)
        return -1;
    if (d.pos != len) {
        char t[8];
        fail(&d, "trailing bytes at offset %zu (first %s)", d.pos, show_byte(in[d.pos], t));
        return -1;
    }
    *out = v;
    return 0;
}

/* ---------------------------------------------------------------- writer */

void phpser_w_raw(struct phpser_w *w, const void *p, size_t n)
{
    if (!w->err && n && buf_append(w->b, p, n) < 0)
        w->err = -ENOMEM;
}

uint8_t *phpser_w_reserve(struct phpser_w *w, size_t n)
{
    uint8_t *p = w->err ? NULL : buf_reserve(w->b, n);
    if (!p && !w->err)
        w->err = -ENOMEM;
    return p;
}

void phpser_w_commit(struct phpser_w *w, size_t n)
{
    if (!w->err)
        buf_commit(w->b, n);
}

/* Decimal digits of m, right-aligned to end; returns where they start. */
static char *fmt_u64(char *end, uint64_t m)
{
    do
        *--end = (char)('0' + m % 10);
    while (m /= 10);
    return end;
}

/* <tag>:<digits><term> in one append: i:5; a:3:{ s:7:" */
static void w_num(struct phpser_w *w, char tag, int neg, uint64_t m, const char *term, size_t tn)
{
    char tmp[32];
    char *end = tmp + sizeof tmp - 2;
    char *p = fmt_u64(end, m);
    if (neg)
        *--p = '-';
    *--p = ':';
    *--p = tag;
    memcpy(end, term, tn);
    phpser_w_raw(w, p, (size_t)(end - p) + tn);
}

void phpser_w_null(struct phpser_w *w) { phpser_w_raw(w, "N;", 2); }
void phpser_w_bool(struct phpser_w *w, int v) { phpser_w_raw(w, v ? "b:1;" : "b:0;", 4); }

void phpser_w_int(struct phpser_w *w, int64_t v)
{
    /* The magnitude in unsigned arithmetic: INT64_MIN has no positive twin. */
    w_num(w, 'i', v < 0, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, ";", 1);
}

void phpser_w_double(struct phpser_w *w, double d)
{
    char f[40] = "d:";
    int n = phpser_format_double(d, f + 2);
    f[2 + n] = ';';
    phpser_w_raw(w, f, (size_t)n + 3);
}

void phpser_w_str_open(struct phpser_w *w, size_t n) { w_num(w, 's', 0, n, ":\"", 2); }
void phpser_w_str_close(struct phpser_w *w) { phpser_w_raw(w, "\";", 2); }

void phpser_w_str(struct phpser_w *w, const void *p, size_t n)
{
    phpser_w_str_open(w, n);
    phpser_w_raw(w, p, n);
    phpser_w_str_close(w);
}

void phpser_w_key(struct phpser_w *w, const void *p, size_t n)
{
    int64_t iv;
    if (phpser_key_is_int(p, n, &iv))
        phpser_w_int(w, iv);
    else
        phpser_w_str(w, p, n);
}

void phpser_w_arr(struct phpser_w *w, size_t n) { w_num(w, 'a', 0, n, ":{", 2); }
void phpser_w_end(struct phpser_w *w) { phpser_w_raw(w, "}", 1); }

/* --------------------------------------------------------------- encoder */

static void w_fail(struct phpser_w *w, int err)
{
    if (!w->err)
        w->err = err;
}

static void enc_key(struct phpser_w *w, const msgpack_object *k)
{
    switch (k->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (k->via.u64 > INT64_MAX)
            w_fail(w, -EINVAL);
        else
            phpser_w_int(w, (int64_t)k->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: phpser_w_int(w, k->via.i64); break;
    case MSGPACK_OBJECT_STR:
        /* PHP would have turned such a string into an int key when building
         * the array (§10.4); write what PHP would write. */
        phpser_w_key(w, k->via.str.ptr, k->via.str.size);
        break;
    default: w_fail(w, -EINVAL); break;
    }
}

static void enc_value(struct phpser_w *w, const msgpack_object *v, unsigned depth)
{
    if (w->err)
        return;
    switch (v->type) {
    case MSGPACK_OBJECT_NIL: phpser_w_null(w); break;
    case MSGPACK_OBJECT_BOOLEAN: phpser_w_bool(w, v->via.boolean); break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (v->via.u64 > INT64_MAX)
            w_fail(w, -EINVAL);
        else
            phpser_w_int(w, (int64_t)v->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: phpser_w_int(w, v->via.i64); break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: phpser_w_double(w, v->via.f64); break;
    case MSGPACK_OBJECT_STR: phpser_w_str(w, v->via.str.ptr, v->via.str.size); break;
    case MSGPACK_OBJECT_BIN: phpser_w_str(w, v->via.bin.ptr, v->via.bin.size); break;
    case MSGPACK_OBJECT_ARRAY:
        if (depth >= PHPSER_HARD_MAX_DEPTH) {
            w_fail(w, -EINVAL);
            break;
        }
        phpser_w_arr(w, v->via.array.size);
        for (uint32_t i = 0; i < v->via.array.size && !w->err; i++) {
            phpser_w_int(w, i);
            enc_value(w, &v->via.array.ptr[i], depth + 1);
        }
        phpser_w_end(w);
        break;
    case MSGPACK_OBJECT_MAP:
        if (depth >= PHPSER_HARD_MAX_DEPTH) {
            w_fail(w, -EINVAL);
            break;
        }
        phpser_w_arr(w, v->via.map.size);
        for (uint32_t i = 0; i < v->via.map.size && !w->err; i++) {
            enc_key(w, &v->via.map.ptr[i].key);
            enc_value(w, &v->via.map.ptr[i].val, depth + 1);
        }
        phpser_w_end(w);
        break;
    default: w_fail(w, -EINVAL); break;
    }
}

void phpser_w_value(struct phpser_w *w, const msgpack_object *v) { enc_value(w, v, 0); }

int phpser_encode(struct buf *out, const msgpack_object *v)
{
    /* Count unread bytes, not len: buf_reserve may slide data to the front. */
    size_t keep = out->len - out->off;
    struct phpser_w w;
    phpser_w_init(&w, out);
    enc_value(&w, v, 0);
    if (w.err && out->data)
        out->len = out->off + keep;
    return w.err;
}
