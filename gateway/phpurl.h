/* phpurl: two functions of PHP 8.2 the handshake data needs, byte for byte
 * (checked against PHP 8.2 with workerman 5.2.2's Request):
 *   - parse_url() deciding what the query string of a request target is
 *     (it fails on some targets, e.g. "/a:80", and then there is none);
 *   - parse_str() of that query, written out as the PHP serialize() text of
 *     the array it builds.
 * Pure: no I/O, no state between calls. */
#ifndef GW_GATEWAY_PHPURL_H
#define GW_GATEWAY_PHPURL_H

#include <stddef.h>

#include "phpser.h"

#define PHPURL_MAX_INPUT_VARS 1000u /* PHP max_input_vars: later query vars are dropped */
#define PHPURL_MAX_NESTING 64u      /* PHP max_input_nesting_level: deeper vars are dropped */

/* The query component of parse_url(target[0..n)) (php_url_parse_ex2).
 * Returns 1 with [*q, *q + *qn) (pointing into target) when there is one,
 * 0 when parse_url finds no query or fails (workerman then uses "").
 * The target must hold no control bytes, space or DEL (the caller's request
 * line check), so PHP's control-character replacement never applies. */
int phpurl_query(const char *target, size_t n, const char **q, size_t *qn);

/* Writes serialize(parse_str(q[0..n))) to w: '&'-separated pieces, names
 * and values percent-decoded, brackets making nested arrays. PHP's limits
 * are applied as PHP does, not as errors: pieces past the
 * PHPURL_MAX_INPUT_VARS-th are ignored, a var nested deeper than
 * PHPURL_MAX_NESTING levels removes that top-level name. q is borrowed
 * (copied before decoding). 0, or -ENOMEM (also left in w->err). */
int phpurl_parse_str(struct phpser_w *w, const char *q, size_t n);

#endif
