/* listen: the lws context and the accepting of clients (see listen.c).
 * Internal to the WebSocket side (clients_int.h). */
#ifndef GW_GATEWAY_LISTEN_H
#define GW_GATEWAY_LISTEN_H

#include <stddef.h>

#include "clients_int.h"

/* Creates the lws context and vhost and starts accepting on listen_fd
 * (cs->lfd, owned). -1 with a message in err; what was created is released
 * by listen_free. */
int listen_setup(struct clients *cs, int listen_fd, char *err, size_t errlen);
/* The vhost's SSL_CTX, once, while lws creates it: ticket keys and memory
 * settings. 0, or 1 to fail the vhost. */
int listen_tune_ssl_ctx(struct clients *cs, SSL_CTX *ctx);
/* Stops accepting and closes the listening socket (graceful stop). */
void listen_stop(struct clients *cs);
/* wss: fd's handshake is over (upgraded, answered or closed), so another
 * connection may be accepted (maxTlsHandshakes, hsgate.h). */
void listen_handshake_over(struct clients *cs, int fd);
/* Destroys the context (every client's ON_CLOSE runs) and the tables. */
void listen_free(struct clients *cs);

#endif
