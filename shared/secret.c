#include "secret.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

int secret_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    unsigned char ha[SHA256_DIGEST_LENGTH], hb[SHA256_DIGEST_LENGTH];
    SHA256(a, alen, ha);
    SHA256(b, blen, hb);
    /* Equal digests with unequal lengths would need a SHA-256 collision. */
    return CRYPTO_memcmp(ha, hb, sizeof ha) == 0 && alen == blen;
}
