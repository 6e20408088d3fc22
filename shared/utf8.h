/* utf8: well-formed UTF-8 as PHP's json_encode and browsers' text frames
 * define it (RFC 3629): overlong forms, surrogates (U+D800..U+DFFF) and code
 * points above U+10FFFF are refused. */
#ifndef GW_UTF8_H
#define GW_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length (1..4) of the well-formed sequence at p[0..n), n > 0, with its code
 * point in *cp; 0 when the bytes there are not one. */
size_t utf8_next(const uint8_t *p, size_t n, unsigned *cp);

/* 1 if s[0..n) is entirely well-formed UTF-8 (n = 0 is), else 0. */
int utf8_valid(const uint8_t *s, size_t n);
/* For text that arrives in pieces (WebSocket fragments): the length of the
 * longest prefix of s[0..n) made of whole well-formed sequences. *bad is 1
 * when the bytes after it are invalid, 0 when they are only an unfinished
 * sequence (at most 3 bytes) that more input may complete. */
size_t utf8_complete_prefix(const uint8_t *s, size_t n, int *bad);

#endif
