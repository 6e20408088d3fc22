/* registry: the register's directory logic (§2.3), free of sockets.
 *
 * The socket layer feeds it complete lines and closes; it answers through the
 * ops table, so tests can drive it with a fake transport. A peer is embedded in
 * the socket layer's connection struct, which owns it. */
#ifndef GW_REGISTRY_H
#define GW_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "authguard.h"
#include "buf.h"

struct reg_peer {
    char ip[48];
    uint16_t port;
    char *address;             /* owned; non-NULL once gateway_connect succeeded */
    unsigned is_worker : 1;
    unsigned authed : 1;       /* a gateway_connect or worker_connect was accepted */
    unsigned closing : 1;      /* ops.close was called; later lines are ignored */
    struct reg_peer *gw_prev, *gw_next; /* gateways, in order of first registration */
    struct reg_peer *wk_prev, *wk_next; /* authenticated workers */
};

struct registry_ops {
    /* Queue bytes to the peer (copied). */
    void (*send)(void *ctx, struct reg_peer *p, const uint8_t *data, size_t len);
    /* Close after queued bytes are flushed (the registry has already logged why). */
    void (*close)(void *ctx, struct reg_peer *p);
};

struct registry {
    const char *secret; /* borrowed from the config */
    size_t secret_len;
    struct registry_ops ops;
    void *ctx;
    struct reg_peer *gw_head, *gw_tail;
    struct reg_peer *wk_head;
    size_t n_gateway_conns, n_workers;
    uint64_t broadcasts;
    int shutting_down;   /* no broadcasts: workers keep their last list */
    int64_t now_ms;      /* set by the socket layer before each line: the back-off's clock */
    struct authguard guard; /* wrong keys per source address: guessing is slowed down */
};

void registry_init(struct registry *r, const char *secret, const struct registry_ops *ops, void *ctx);
/* One line from p, without its trailing CR/LF. */
void registry_on_line(struct registry *r, struct reg_peer *p, const char *line, size_t len);
/* p's connection is gone (for any reason): forget it, re-broadcast if it was a gateway. */
void registry_on_close(struct registry *r, struct reg_peer *p);
/* The register is going away: closes that follow must not broadcast a
 * shrinking list, or workers would be left with an empty one while it is down
 * (PHP's getAllClientCount() then throws until the register is back). */
void registry_shutdown(struct registry *r);
/* The distinct gateway addresses in registration order, one per line, into out. */
int registry_describe(const struct registry *r, struct buf *out);

#endif
