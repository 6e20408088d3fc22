#include "utf8.h"

#include <string.h>

size_t utf8_next(const uint8_t *p, size_t n, unsigned *cp)
{
    uint8_t c = p[0];
    size_t len;
    unsigned v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        len = 2, v = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, v = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

int utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* ASCII runs eight bytes at a time: most messages are ASCII. */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i == n)
            break;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        unsigned cp;
        size_t k = utf8_next(s + i, n - i, &cp);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

/* 1 if p[0..n) (n < the sequence's length) can still become a well-formed
 * sequence: a lead byte and continuation bytes in the ranges RFC 3629 allows
 * right after it (no overlong form, surrogate or value above U+10FFFF). */
static int utf8_open_sequence(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    size_t need = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (!need || n >= need)
        return 0;
    if (n >= 2) {
        uint8_t lo = 0x80, hi = 0xbf;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
        else if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
        if (p[1] < lo || p[1] > hi)
            return 0;
    }
    return n < 3 || (p[2] & 0xc0) == 0x80;
}

size_t utf8_complete_prefix(const uint8_t *s, size_t n, int *bad)
{
    size_t i = 0;
    *bad = 0;
    while (i < n) {
        unsigned cp;
        size_t k = utf8_next(s + i, n - i, &cp);
        if (k) {
            i += k;
            continue;
        }
        *bad = !utf8_open_sequence(s + i, n - i);
        break;
    }
    return i;
}
