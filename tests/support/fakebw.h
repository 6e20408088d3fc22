/* fakebw: a test peer on a gateway's internal port, speaking GatewayProtocol
 * with the shared codecs: a business worker link (WORKER_CONNECT first) or a
 * GatewayClient request connection. */
#ifndef GW_FAKEBW_H
#define GW_FAKEBW_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "gwp.h"

struct fakebw {
    int fd;
    struct buf in;
    struct gwp_frame last; /* valid until the next fakebw_* call */
    uint8_t *last_copy;
};

/* Connects and sends WORKER_CONNECT {"worker_key":name,"secret_key":key}. 0 or -1. */
int fakebw_worker(struct fakebw *w, int port, const char *worker_key, const char *secret);
/* Connects and sends GATEWAY_CLIENT_CONNECT (only when secret is non-NULL). */
int fakebw_client(struct fakebw *w, int port, const char *secret);
void fakebw_close(struct fakebw *w);
/* Sends one command frame (all header fields 0 but those given). */
int fakebw_cmd(struct fakebw *w, uint8_t cmd, uint32_t conn_id, uint8_t flag, const char *ext, size_t ext_len,
               const void *body, size_t body_len);
/* Reads the next frame into w->last. 0, -1 on timeout/error, -2 on EOF. */
int fakebw_next(struct fakebw *w, int timeout_ms);
/* Reads frames until one with cmd arrives (others skipped). 0 or -1. */
int fakebw_wait(struct fakebw *w, uint8_t cmd, int timeout_ms);
/* Reads one reply (4-byte length + payload); returns a malloc'd NUL-terminated payload or NULL. */
char *fakebw_reply(struct fakebw *w, size_t *len, int timeout_ms);

#endif
