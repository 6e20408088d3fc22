/* tlskeys: TLS session-ticket keys from files, so that a phone's TLS 1.3
 * session resumes on whichever gateway process (SO_REUSEPORT) or gateway
 * server (the load balancer) its reconnect lands on. Without it each process
 * encrypts tickets with its own random key and a reconnect that lands
 * elsewhere pays a full handshake (a certificate signature and a key
 * exchange) again; after a Wi-Fi drop that is every phone at once.
 *
 * Key files are nginx's 80-byte ssl_session_ticket_key format: 16 bytes of key
 * name, 32 of HMAC-SHA256 secret, 32 of AES-256 key. The first key in the
 * list encrypts; all of them decrypt, and a ticket under an older key is
 * accepted and replaced by a fresh one (rotation: prepend the new file, drop
 * the oldest one later). Keys are read when the process starts. */
#include "tlskeys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

struct tlskeys_set {
    int n;
    struct tlskey k[TLSKEYS_MAX];
};

static int ex_index = -1;

int tlskeys_parse(const uint8_t *buf, size_t n, struct tlskey *out)
{
    if (n != TLSKEYS_FILE_SIZE)
        return -1;
    memcpy(out->name, buf, 16);
    memcpy(out->hmac, buf + 16, 32);
    memcpy(out->aes, buf + 48, 32);
    return 0;
}

static int load_one(const char *path, struct tlskey *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    uint8_t buf[TLSKEYS_FILE_SIZE + 1];
    size_t n = fread(buf, 1, sizeof buf, f); /* one byte more: a longer file is refused too */
    fclose(f);
    int rc = tlskeys_parse(buf, n, out);
    if (rc < 0)
        snprintf(err, errlen, "%s: a ticket key file holds exactly %d random bytes (openssl rand %d > file), not %s%zu",
                 path, TLSKEYS_FILE_SIZE, TLSKEYS_FILE_SIZE, n > TLSKEYS_FILE_SIZE ? "more than " : "",
                 n > TLSKEYS_FILE_SIZE ? (size_t)TLSKEYS_FILE_SIZE : n);
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

int tlskeys_load(const char *files, struct tlskey *keys, char *err, size_t errlen)
{
    char *list = strdup(files), *save = NULL;
    if (!list) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int n = 0;
    for (char *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (n == TLSKEYS_MAX) {
            snprintf(err, errlen, "at most %d ticket key files", TLSKEYS_MAX);
            n = -1;
            break;
        }
        if (load_one(t, &keys[n], err, errlen) < 0) {
            n = -1;
            break;
        }
        for (int i = 0; i < n; i++)
            if (memcmp(keys[i].name, keys[n].name, 16) == 0) {
                snprintf(err, errlen, "%s: the same key name as an earlier file", t);
                n = -1;
                break;
            }
        if (n < 0)
            break;
        n++;
    }
    free(list);
    if (n == 0)
        snprintf(err, errlen, "no ticket key file named");
    return n > 0 ? n : -1;
}

static int set_mac(EVP_MAC_CTX *hctx, const struct tlskey *k)
{
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, sizeof k->hmac);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    return EVP_MAC_CTX_set_params(hctx, params);
}

/* OpenSSL's ticket callback: enc = 1 fills name, iv and both contexts for a
 * new ticket; enc = 0 finds the key a ticket names. Returns (OpenSSL's
 * contract) 1: use it, 2: use it and issue a fresh ticket under the current
 * key, 0: unknown key (a full handshake), -1: error. */
static int ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                     EVP_MAC_CTX *hctx, int enc)
{
    const struct tlskeys_set *set = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index);
    if (!set || set->n == 0)
        return -1;
    if (enc) {
        const struct tlskey *k = &set->k[0];
        if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) <= 0)
            return -1;
        memcpy(key_name, k->name, 16);
        if (!EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) || !set_mac(hctx, k))
            return -1;
        return 1;
    }
    for (int i = 0; i < set->n; i++) {
        const struct tlskey *k = &set->k[i];
        if (memcmp(key_name, k->name, 16) != 0)
            continue;
        if (!EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) || !set_mac(hctx, k))
            return -1;
        /* Always 2, also under the current key: browsers and OpenSSL use a
         * TLS 1.3 ticket once, and OpenSSL's server sends a new one after a
         * resumption only when asked to. With 1, every other reconnect of
         * the same phone would be a full handshake. */
        return 2;
    }
    return 0;
}

static void set_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    if (ptr) {
        OPENSSL_cleanse(ptr, sizeof(struct tlskeys_set));
        free(ptr);
    }
}

int tlskeys_attach(SSL_CTX *ctx, const struct tlskey *keys, int n, char *err, size_t errlen)
{
    if (n < 1 || n > TLSKEYS_MAX) {
        snprintf(err, errlen, "between 1 and %d ticket keys", TLSKEYS_MAX);
        return -1;
    }
    if (ex_index < 0)
        ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, set_free);
    struct tlskeys_set *set = calloc(1, sizeof *set);
    if (ex_index < 0 || !set) {
        free(set);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    set->n = n;
    memcpy(set->k, keys, (size_t)n * sizeof *keys);
    if (!SSL_CTX_set_ex_data(ctx, ex_index, set)) {
        set_free(NULL, set, NULL, 0, 0, NULL);
        snprintf(err, errlen, "cannot attach the ticket keys to the TLS context");
        return -1;
    }
    SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
    if (!SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb)) {
        snprintf(err, errlen, "cannot set the ticket key callback");
        return -1;
    }
    return 0;
}
