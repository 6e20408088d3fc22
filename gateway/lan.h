/* lan: the gateway's internal port (§3): business worker links and
 * GatewayClient request connections.
 *
 * Links are streams (shared/stream) read in large chunks and decoded with
 * gwp; commands go to the state engine, whose replies are queued on the same
 * link. Readable links are served once per iteration in accept order (a
 * before-sleep hook), and every stream's output is written once before the
 * loop sleeps, so many events bound for one worker leave in one write. */
#ifndef GW_LAN_H
#define GW_LAN_H

#include <stddef.h>
#include <stdint.h>

#include "gateway.h"
#include "gwp.h"

struct lan_link;

/* Takes ownership of listen_fd (the bound internal port); watches it on
 * gw->ioloop. NULL on failure. */
struct lan *lan_new(struct gateway *gw, int listen_fd);
/* After the loop stopped (its before-sleep hook stays registered). */
void lan_free(struct lan *lan);

/* A client's sticky routing slot: the link its events go to, by id so that a
 * vanished link is noticed (0 = none yet). */
typedef uint32_t lan_route;

/* Sends event `cmd` about a client to a business worker chosen by the router
 * (sticky, by the `router` setting, §7). hdr holds the client's fields;
 * pack_len, cmd, flag and ext_len are filled here. With no worker connected
 * the event is held (pendingTimeout, pendingBufferSize) and delivered to the
 * first worker that connects. Returns 0, or -1 when it was dropped (held
 * queue full, or the worker's send buffer full); drops are logged. */
int lan_send_event(struct lan *lan, lan_route *route, uint8_t cmd, const struct gwp_header *hdr, uint8_t flag,
                   const void *ext, size_t ext_len, const void *body, size_t body_len);
/* The client is gone: release its place in the router's counts. */
void lan_route_release(struct lan *lan, lan_route *route);

size_t lan_worker_count(const struct lan *lan);
/* Client events held while no worker is connected. */
size_t lan_pending_count(const struct lan *lan);
size_t lan_link_count(const struct lan *lan);
uint64_t lan_dropped_events(const struct lan *lan);

#endif
