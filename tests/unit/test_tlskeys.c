/* tlskeys: the ticket-key files of ssl_ticket_key (nginx's 80-byte format):
 * what is accepted, what is refused and with which message, and that an
 * SSL_CTX issues tickets a second SSL_CTX with the same keys resumes (and
 * one with other keys does not), over an in-memory TLS 1.3 handshake.
 * The Makefile links unit tests with build/libgwshared.a only, so the module
 * is compiled in here. */
#include "../../gateway/tlskeys.c"

#include "tu.h"

#include <CUnit/CUnit.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static void write_file(const char *name, size_t n, uint8_t fill, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", dir, name);
    uint8_t b[200];
    memset(b, fill, sizeof b);
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_FATAL(fwrite(b, 1, n, f) == n);
    fclose(f);
}

static int setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/gw-test-tlskeys-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_parse_layout(void)
{
    uint8_t b[80];
    for (int i = 0; i < 80; i++)
        b[i] = (uint8_t)i;
    struct tlskey k;
    CU_ASSERT(tlskeys_parse(b, 80, &k) == 0);
    CU_ASSERT(k.name[0] == 0 && k.name[15] == 15);
    CU_ASSERT(k.hmac[0] == 16 && k.hmac[31] == 47);
    CU_ASSERT(k.aes[0] == 48 && k.aes[31] == 79);
    CU_ASSERT(tlskeys_parse(b, 79, &k) == -1);
    CU_ASSERT(tlskeys_parse(b, 48, &k) == -1); /* nginx's AES-128 variant: not taken */
    CU_ASSERT(tlskeys_parse(b, 81, &k) == -1);
}

static void test_load_lists_and_refusals(void)
{
    char a[128], b[128], shortk[128], longk[128], list[600], err[300];
    struct tlskey keys[TLSKEYS_MAX];
    write_file("a.key", 80, 0xa1, a, sizeof a);
    write_file("b.key", 80, 0xb2, b, sizeof b);
    write_file("short.key", 48, 0xc3, shortk, sizeof shortk);
    write_file("long.key", 81, 0xd4, longk, sizeof longk);

    snprintf(list, sizeof list, "%s, %s", a, b);
    CU_ASSERT(tlskeys_load(list, keys, err, sizeof err) == 2);
    CU_ASSERT(keys[0].name[0] == 0xa1 && keys[1].name[0] == 0xb2); /* order kept: the first encrypts */

    CU_ASSERT(tlskeys_load(shortk, keys, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, "exactly 80 random bytes") && strstr(err, "not 48"));
    CU_ASSERT(tlskeys_load(longk, keys, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, "not more than 80") != NULL);
    snprintf(list, sizeof list, "%s/missing.key", dir);
    CU_ASSERT(tlskeys_load(list, keys, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, "No such file") != NULL);
    snprintf(list, sizeof list, "%s,%s", a, a);
    CU_ASSERT(tlskeys_load(list, keys, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, "same key name") != NULL);
    CU_ASSERT(tlskeys_load(" , ", keys, err, sizeof err) == -1);
    list[0] = 0;
    for (int i = 0; i < TLSKEYS_MAX + 1; i++) {
        char name[32], one[128];
        snprintf(name, sizeof name, "k%d.key", i);
        write_file(name, 80, (uint8_t)(0x10 + i), one, sizeof one);
        strncat(list, one, sizeof list - strlen(list) - 2);
        strcat(list, ",");
    }
    CU_ASSERT(tlskeys_load(list, keys, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, "at most") != NULL);
}

/* ---- an in-memory TLS 1.3 handshake between an OpenSSL client and server ---- */

static SSL_CTX *server_ctx(const struct tlskey *keys, int n)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"t", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_sign(x, pk, EVP_sha256());
    CU_ASSERT_FATAL(SSL_CTX_use_certificate(ctx, x) == 1 && SSL_CTX_use_PrivateKey(ctx, pk) == 1);
    X509_free(x);
    EVP_PKEY_free(pk);
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    char err[160];
    CU_ASSERT_FATAL(tlskeys_attach(ctx, keys, n, err, sizeof err) == 0);
    return ctx;
}

/* Handshake (and the server's first ticket) through memory BIOs; returns
 * SSL_session_reused, -1 on failure; *out: the client's session. */
static int handshake(SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION *offer, SSL_SESSION **out)
{
    SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
    BIO *s2c = BIO_new(BIO_s_mem()), *c2s = BIO_new(BIO_s_mem());
    BIO_up_ref(s2c);
    BIO_up_ref(c2s);
    SSL_set_bio(s, c2s, s2c); /* server reads c2s, writes s2c */
    SSL_set_bio(c, s2c, c2s);
    SSL_set_accept_state(s);
    SSL_set_connect_state(c);
    if (offer)
        SSL_set_session(c, offer);
    int done_c = 0, done_s = 0, rc = -1;
    for (int i = 0; i < 20 && !(done_c && done_s); i++) {
        if (!done_c)
            done_c = SSL_do_handshake(c) == 1;
        if (!done_s)
            done_s = SSL_do_handshake(s) == 1;
    }
    if (done_c && done_s) {
        char byte = 'x', got;
        SSL_write(s, &byte, 1); /* the ticket goes before it */
        if (SSL_read(c, &got, 1) == 1)
            rc = SSL_session_reused(c);
        if (out)
            *out = SSL_get1_session(c);
    }
    SSL_shutdown(c);
    SSL_free(c);
    SSL_free(s);
    return rc;
}

static void test_tickets_resume_across_contexts(void)
{
    uint8_t b[80];
    struct tlskey k1, k2, both[2];
    memset(b, 0x11, sizeof b);
    tlskeys_parse(b, 80, &k1);
    memset(b, 0x22, sizeof b);
    tlskeys_parse(b, 80, &k2);
    both[0] = k2;
    both[1] = k1;
    SSL_CTX *a = server_ctx(&k1, 1), *same = server_ctx(&k1, 1), *other = server_ctx(&k2, 1),
            *rotated = server_ctx(both, 2);
    SSL_CTX *cli = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(cli, SSL_VERIFY_NONE, NULL);
    SSL_SESSION *s1 = NULL, *s2 = NULL, *s3 = NULL;
    CU_ASSERT_FATAL(handshake(a, cli, NULL, &s1) == 0);
    CU_ASSERT_FATAL(s1 && SSL_SESSION_is_resumable(s1));
    CU_ASSERT(handshake(same, cli, s1, &s2) == 1);     /* another process or server, the same key */
    CU_ASSERT_FATAL(s2 != NULL);
    CU_ASSERT(handshake(a, cli, s2, NULL) == 1);       /* a resumption gets a fresh ticket, usable again */
    CU_ASSERT(handshake(rotated, cli, s1, &s3) == 1);  /* the old key still decrypts... */
    CU_ASSERT_FATAL(s3 != NULL);
    CU_ASSERT(handshake(other, cli, s3, NULL) == 1);   /* ...and the fresh ticket is under the new one */
    CU_ASSERT(handshake(other, cli, s1, NULL) == 0);   /* unknown key: a full handshake */
    SSL_SESSION_free(s1);
    SSL_SESSION_free(s2);
    SSL_SESSION_free(s3);
    SSL_CTX_free(cli);
    SSL_CTX_free(a);
    SSL_CTX_free(same);
    SSL_CTX_free(other);
    SSL_CTX_free(rotated);
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("tlskeys", setup, teardown);
    CU_add_test(s, "80-byte layout: name, HMAC secret, AES key", test_parse_layout);
    CU_add_test(s, "key lists load in order; bad files refused with a message", test_load_lists_and_refusals);
    CU_add_test(s, "tickets resume across contexts sharing a key, rotation, not with another key",
                test_tickets_resume_across_contexts);
    return tu_run("test_tlskeys");
}
