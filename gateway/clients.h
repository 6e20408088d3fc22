/* clients: the WebSocket side of the gateway, on libwebsockets.
 *
 * Each gateway process opens its own SO_REUSEPORT listening socket, accepts
 * on it through libev and hands every fd to lws (lws 4.1.6's listen-share does
 * not set SO_REUSEPORT). Handshaken clients are registered with the state
 * engine; their events go to business workers through lan; the engine's
 * deliveries come back through the ops table implemented here. Plain HTTP on
 * the same port answers GET /health, GET /metrics (metricsAllow) and the
 * connection check /ws-check (wscheck.c). */
#ifndef GW_CLIENTS_H
#define GW_CLIENTS_H

#include <stddef.h>
#include <stdint.h>

#include "gateway.h"

struct gws_ops;

/* Takes ownership of listen_fd. NULL with a message in err on failure. */
struct clients *clients_new(struct gateway *gw, int listen_fd, char *err, size_t errlen);
/* Stops accepting (graceful stop); existing clients stay. */
void clients_stop_accepting(struct clients *c);
void clients_free(struct clients *c);
/* The ops the state engine delivers through; ctx is the struct clients. */
const struct gws_ops *clients_gws_ops(void);
size_t clients_count(const struct clients *c);

/* What one gateway process has done (GET /metrics, `status`). Totals count
 * complete messages; rates are over the last whole second. */
struct clients_stats {
    uint64_t connections;
    uint64_t messages_in, messages_out, bytes_in, bytes_out;
    uint64_t in_per_second, out_per_second;
    uint64_t slow_closes, heartbeat_closes;
    uint64_t waiting_to_write; /* clients whose output waits for the next write pass */
    uint64_t direct_partial_writes; /* direct sends the socket took only part of */
    uint64_t uring_sends;           /* sends that went through io_uring */
    uint64_t tls_accept_pauses;     /* accepting paused at maxTlsHandshakes (hsgate) */
};
void clients_stats(const struct clients *c, struct clients_stats *out);

#endif
