/* reglink: the gateway's connections to its registers (§2.4): announce
 * lanIp:lanPort with gateway_connect on every (re)connect, ping every 25 s
 * unless the register is on 127.0.0.1, reconnect 1 s after a loss. */
#ifndef GW_REGLINK_H
#define GW_REGLINK_H

#include "gateway.h"

struct reglink *reglink_new(struct gateway *gw);
void reglink_free(struct reglink *r);
/* How many registers currently hold our registration. */
int reglink_connected(const struct reglink *r);

#endif
