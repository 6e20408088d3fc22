/* preread: what the gateway reads from a new client connection before
 * libwebsockets gets it.
 *
 * Two things lws cannot give us: the PROXY protocol header a load balancer
 * puts in front (proxyProtocol), and the raw HTTP request head, needed to
 * build ON_WEBSOCKET_CONNECT exactly as Workerman does (lws keeps neither
 * the raw query string nor headers it does not know, nor their order). The
 * PROXY header is consumed; the request head is only peeked, so lws still
 * reads it from the socket. Entries exist only while a connection is in this
 * stage; an established client carries nothing from here. */
#ifndef GW_PREREAD_H
#define GW_PREREAD_H

#include <stddef.h>
#include <stdint.h>

#include "proxyproto.h"

struct ev_loop;
struct preread;

/* Handed over with the connection; owned by whoever receives it. */
struct preread_info {
    int have_addr;                 /* a PROXY header named the client */
    char ip[PROXYPROTO_IP_MAX];
    uint32_t ipv4;                 /* host order, 0 when not IPv4 */
    uint16_t port;
    char *head;                    /* raw request head (through CRLFCRLF), or NULL */
    size_t head_len;
};

/* The connection is ready for lws; info may be NULL (nothing learned). */
typedef void preread_done_cb(void *ctx, int fd, struct preread_info *info);

struct preread *preread_new(struct ev_loop *loop, int want_proxy, int want_head, preread_done_cb *done, void *ctx);
/* Takes ownership of fd. */
void preread_start(struct preread *pr, int fd, const char *peer_ip, uint16_t peer_port);
/* cb(ctx, fd) is called for each connection this stage closes itself
 * (timeout, bad PROXY header, peer gone), just before its close. */
void preread_on_drop(struct preread *pr, void (*cb)(void *ctx, int fd));
/* Closes every connection still in this stage. */
void preread_free(struct preread *pr);
void preread_info_free(struct preread_info *info);

#endif
