/* links: one persistent link per gateway address (spec §1.2 #4, §2.4, §14 #7).
 *
 * The address set comes from the registers (regclient). A link is opened for
 * every address in the set, with WORKER_CONNECT as its first frame; a link
 * that fails is reopened with backoff (1 s doubling to 5 s) while its
 * address stays in the set; an address that leaves the set is closed after
 * a grace period (a restarted register briefly sends a partial list, and
 * gateways re-register within about a second).
 *
 * Each link is a stream (shared/stream): inbound frames are decoded here and
 * handed to events_dispatch(); outbound frames are appended to the link's
 * queue and written in one go before the loop sleeps (or at once by
 * links_flush); reconnects and their backoff are the stream's. A link is
 * never freed while one of its frames is being handled. */
#ifndef GW_BUSINESS_LINKS_H
#define GW_BUSINESS_LINKS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "gwp.h"
#include "stream.h"

struct bw;
struct links;

enum link_state { LINK_IDLE, LINK_CONNECTING, LINK_UP };

struct link {
    /* The connection. Its first members keep their old names here (fd, in,
     * out: settle_links in api_worker.c and gwclient.c read them); they are the
     * stream's own, not copies. */
    union {
        struct stream io;
        struct {
            int fd;                /* -1 when idle */
            struct buf in, out;
        };
    };
    struct links *owner;
    char addr[32];            /* "a.b.c.d:port", as the register sent it */
    uint32_t ip;              /* host order */
    uint16_t port;
    enum link_state state;
    int in_set;               /* listed by some register now */
    int64_t absent_since;     /* when it left the set (ms), 0 while listed */
    int ever_up;
};

struct links *links_new(struct bw *bw);
void links_free(struct links *ls);

/* The address set changed: addrs[0..n) (borrowed) is the new union. */
void links_set_addresses(struct links *ls, char *const *addrs, size_t n);

/* The link for the gateway at ip:port (host order), connected or not; NULL
 * when the address is unknown. */
struct link *links_find(struct links *ls, uint32_t ip, uint16_t port);
/* Every link, for broadcasts and queries: i in 0..links_count()-1. */
size_t links_count(const struct links *ls);
struct link *links_at(struct links *ls, size_t i);
/* How many are up (WORKER_CONNECT written, connection established). */
size_t links_up(const struct links *ls);

/* Queues one frame on l (h's pack_len/ext_len are computed). 0; -ENOTCONN
 * when l has no connection; -ENOBUFS when its queue exceeds the
 * sendToGatewayBufferSize setting; -ENOMEM. */
int link_send(struct link *l, const struct gwp_header *h, const void *ext, size_t ext_len, const void *body,
              size_t body_len);
/* 1 if frames can be queued on l (connecting or up). */
int link_usable(const struct link *l);

/* Writes every queued frame now, as far as the sockets take them. */
void links_flush(struct links *ls);
/* Bytes waiting to be written to the gateways, over every link. */
size_t links_queued_bytes(const struct links *ls);
/* Periodic work: dropping links whose address left the set. */
void links_tick(struct links *ls, int64_t now_ms);

#endif
