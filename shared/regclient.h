/* regclient: a role's connections to its registers (spec §2.4, §2.5), one
 * for the gateway and the business worker alike.
 *
 * One stream per register address: the hello (gateway_connect with the
 * gateway's lan address, or worker_connect) is the first line of every
 * connection; a ping every 25 s unless the address starts with 127.0.0.1
 * (as PHP); reconnect 1 s after a loss. A business worker keeps each
 * register's latest broadcast_addresses list; the gateway address set is
 * their union (§14 #7: an address leaves only when every register omits
 * it), reported on every change. A register that is down keeps its last
 * list until it answers again, so a register restart does not tear down
 * gateway links. */
#ifndef GW_REGCLIENT_H
#define GW_REGCLIENT_H

#include <stddef.h>

#include "config.h"

struct loop;
struct regclient;

struct regclient_cfg {
    const struct cfg_addrlist *registers; /* borrowed; must outlive the client */
    const char *secret;                   /* borrowed */
    /* The gateway's "lanIp:port" (gateway_connect); NULL for a business
     * worker (worker_connect, address lists). Borrowed. */
    const char *gateway_address;
    /* Business worker: the union changed; addrs[0..n) borrowed for the call. */
    void (*on_addresses)(void *data, char *const *addrs, size_t n);
    void *data;
};

/* Connects to every register now. cfg is copied. NULL when out of memory. */
struct regclient *regclient_new(struct loop *loop, const struct regclient_cfg *cfg);
void regclient_free(struct regclient *rc);
/* Registers currently connected. */
int regclient_connected(const struct regclient *rc);
/* The union of the lists: n addresses (borrowed, valid until the next loop
 * iteration). */
char *const *regclient_addresses(const struct regclient *rc, size_t *n);

#endif
