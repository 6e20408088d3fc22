/* reglink: the business worker's connections to its registers (spec §2.4, §2.5).
 *
 * One connection per register address: worker_connect on connect, ping every
 * 25 s unless the address starts with 127.0.0.1, reconnect 1 s after a loss.
 * Each register's latest broadcast_addresses list is kept; the gateway
 * address set is their union (§14 #7: an address leaves only when every
 * register omits it), handed to links_set_addresses() on every change. A
 * register that is down keeps its last list until it answers again, so a
 * register restart does not tear down gateway links. */
#ifndef GW_BUSINESS_REGLINK_H
#define GW_BUSINESS_REGLINK_H

#include <stddef.h>
#include <stdint.h>

struct bw;
struct reglink;

struct reglink *reglink_new(struct bw *bw);
void reglink_free(struct reglink *r);
/* Reconnects and pings that are due. */
void reglink_tick(struct reglink *r, int64_t now_ms);
/* Registers currently connected. */
int reglink_connected(const struct reglink *r);
/* The union of the lists: n addresses (borrowed, valid until the next loop
 * iteration). */
char *const *reglink_addresses(const struct reglink *r, size_t *n);

#endif
