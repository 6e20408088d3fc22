/* gateway: what the gateway's modules share inside one gateway process.
 *
 * One struct per process (no globals): the settings, the libev loop that lws
 * also runs on, the client state engine, and the three I/O modules that meet
 * here: clients (WebSocket side, lws), lan (the internal port) and reglink
 * (the registers). */
#ifndef GW_GATEWAY_H
#define GW_GATEWAY_H

#include <stdint.h>

#include "config.h"

struct ev_loop;
struct gws;
struct lan;
struct clients;
struct reglink;

struct gateway_cfg {
    struct cfg_common common;
    struct netaddr_listen listen;
    char *lanIp;
    long startPort;
    long count;
    struct cfg_addrlist registerAddress;
    char *secretKey;
    long pingInterval;
    long pingNotResponseLimit;
    char *pingData;
    long maxPackageSize;
    long sendToWorkerBufferSize;
    long sendToClientBufferSize;
    char *router;
    char *ssl_cert;
    char *ssl_key;
    char *webRoot;
    char *subprotocols;
    int proxyProtocol;
    char *trustedProxies;
    long pendingTimeout;
    long pendingBufferSize;
};

struct gateway {
    const struct gateway_cfg *cfg;
    int index;              /* process index 0..count-1 */
    uint32_t lan_ip;        /* host order */
    uint16_t lan_port;      /* startPort + index */
    char lan_address[32];   /* "a.b.c.d:port", as registered */
    struct ev_loop *loop;
    struct gws *state;
    struct lan *lan;
    struct clients *clients;
    struct reglink *reglink;
};

#endif
