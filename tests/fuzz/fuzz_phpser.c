/* libFuzzer harness for shared/phpser.
 *
 * Properties checked on every input:
 *  - phpser_decode never crashes, and a failure always carries a message;
 *  - whatever decodes re-encodes, the re-encoding decodes, and encoding that
 *    second tree gives the same bytes (encode∘decode is idempotent);
 *  - phpser_format_double on 8 input bytes taken as a double gives text that
 *    strtod reads back to the same bits;
 *  - phpser_key_is_int agrees with its own canonical printing. */
#include "phpser.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_float(const uint8_t *data, size_t size)
{
    if (size < 8)
        return;
    double d;
    memcpy(&d, data, sizeof d);
    char text[32];
    int n = phpser_format_double(d, text);
    if (n <= 0 || n >= 32 || (size_t)n != strlen(text))
        abort();
    if (isnan(d)) {
        if (strcmp(text, "NAN") != 0)
            abort();
        return;
    }
    double back = strtod(text, NULL);
    if (memcmp(&back, &d, sizeof d) != 0)
        abort();
}

static void check_key(const uint8_t *data, size_t size)
{
    int64_t v;
    if (!phpser_key_is_int((const char *)data, size, &v))
        return;
    /* A canonical key is exactly the decimal printing of its value. */
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%" PRId64, v);
    if ((size_t)n != size || memcmp(tmp, data, size) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_float(data, size);
    check_key(data, size);

    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 1024))
        return 0;
    msgpack_object obj;
    char err[256];
    if (phpser_decode(data, size, &zone, &obj, NULL, err, sizeof err) != 0) {
        if (err[0] == 0)
            abort();
        msgpack_zone_destroy(&zone);
        return 0;
    }
    struct buf a = BUF_INIT, b = BUF_INIT;
    if (phpser_encode(&a, &obj) != 0)
        abort();
    msgpack_object obj2;
    if (phpser_decode(buf_head(&a), buf_avail(&a), &zone, &obj2, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "re-decode failed: %s\n", err);
        abort();
    }
    if (phpser_encode(&b, &obj2) != 0)
        abort();
    if (buf_avail(&a) != buf_avail(&b) || memcmp(buf_head(&a), buf_head(&b), buf_avail(&a)) != 0)
        abort();
    buf_free(&a);
    buf_free(&b);
    msgpack_zone_destroy(&zone);
    return 0;
}
