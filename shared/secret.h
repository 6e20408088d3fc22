/* secret: comparing shared keys without leaking them through timing. */
#ifndef GW_SECRET_H
#define GW_SECRET_H

#include <stddef.h>

/* 1 if a[0..alen) equals b[0..blen), in time that depends on neither the
 * contents nor where they differ. Both sides are hashed first (SHA-256), so
 * not even the configured key's length shows. */
int secret_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
