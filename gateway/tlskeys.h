/* tlskeys: TLS session-ticket keys read from files, shared by every gateway
 * process and every gateway (see tlskeys.c). */
#ifndef GW_GATEWAY_TLSKEYS_H
#define GW_GATEWAY_TLSKEYS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

/* One key file: 80 bytes, the layout of nginx's ssl_session_ticket_key
 * (`openssl rand 80 > ticket.key`). */
#define TLSKEYS_FILE_SIZE 80
#define TLSKEYS_MAX 8

struct tlskey {
    uint8_t name[16];     /* sent in clear in every ticket: picks the key */
    uint8_t hmac[32];     /* HMAC-SHA256 over the ticket */
    uint8_t aes[32];      /* AES-256-CBC of the session state */
};

/* Splits one file's bytes into a key. 0, or -1 when n is not 80. */
int tlskeys_parse(const uint8_t *buf, size_t n, struct tlskey *out);

/* Reads the comma-separated list of key files (at most TLSKEYS_MAX; the first
 * encrypts new tickets, every one decrypts) into keys. Returns how many, or
 * -1 with a message in err. */
int tlskeys_load(const char *files, struct tlskey *keys, char *err, size_t errlen);

/* Makes ctx issue and accept tickets with these keys instead of the random
 * per-process ones OpenSSL would pick (which no other process could
 * decrypt). The keys are copied and owned by ctx. 0 or -1 (err). */
int tlskeys_attach(SSL_CTX *ctx, const struct tlskey *keys, int n, char *err, size_t errlen);

#endif
