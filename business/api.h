/* api: the implementation of gw_api.h, inside a worker process or, over
 * another transport, in the C GatewayClient (business/gwclient/).
 *
 * The public functions take no handle (GatewayWorker's API is static), so
 * this module keeps the one global pair of the process: the struct bw it
 * serves and the transport that carries its commands, bound once by
 * api_start() (api_bind() in a worker) before the application's
 * on_worker_start. The current-event context lives in that struct. */
#ifndef GW_BUSINESS_API_H
#define GW_BUSINESS_API_H

#include <stddef.h>
#include <stdint.h>

#include "gwp.h"

struct bw;
struct link;
struct links;

/* How the API reaches the gateways (STYLE §4: a transport table). api.c's
 * routing, JSON building, fan-out and reply merging are the same for every
 * transport; only this table differs:
 *   - in a worker (api_worker.c): the persistent WORKER_CONNECT links of
 *     links.c, flushed and settled before a query, and the current event's
 *     session decoded by events.c;
 *   - in libgwclient (gwclient.c): a connection per push, the gateway list
 *     from the registers, no current event (session_load NULL).
 * Every member but session_load is required. */
struct api_transport {
    /* The gateway at ip:port (host order) for a per-client call; NULL when unknown. */
    struct link *(*find)(struct links *ls, uint32_t ip, uint16_t port);
    /* Every gateway, for broadcasts and queries: i in 0..count()-1. */
    size_t (*count)(const struct links *ls);
    struct link *(*at)(struct links *ls, size_t i);
    /* 1 if a command can be sent on l now (l may be NULL). */
    int (*usable)(const struct link *l);
    /* One command frame on l (h's lengths are computed). 0 or a negative errno. */
    int (*send)(struct link *l, const struct gwp_header *h, const void *ext, size_t ext_len, const void *body,
                size_t body_len);
    /* Before a query: what was pushed must reach the gateways first. */
    void (*settle)(struct links *ls);
    /* Inside a client callback: decodes the current session on first use;
     * 0 or -1. NULL where there is never a current event. */
    int (*session_load)(struct bw *bw);
};

/* Binds the API to bw and t (both borrowed; they must outlive the binding).
 * NULL for either unbinds: every call then fails with -EPERM / NULL. */
void api_start(struct bw *bw, const struct api_transport *t);
/* In a worker process: api_start(bw, the links.c transport) (api_worker.c). */
void api_bind(struct bw *bw);
/* The bound process, or NULL. */
struct bw *api_bound(void);

#endif
