/* gateway: what the gateway's modules share inside one gateway process.
 *
 * One struct per process (no globals): the settings, the event loop
 * (shared/loop; lws and clients.c run on its libev loop), the client state
 * engine, and the three I/O modules that meet here: clients (WebSocket side,
 * lws), lan (the internal port) and the register client (shared/regclient). */
#ifndef GW_GATEWAY_H
#define GW_GATEWAY_H

#include <stdint.h>

#include "config.h"

struct ev_loop;
struct loop;
struct gws;
struct lan;
struct clients;
struct regclient;

struct gateway_cfg {
    struct cfg_common common;
    struct netaddr_listen listen;
    char *lanIp;
    long startPort;
    long count;
    struct cfg_addrlist registerAddress;
    char *secretKey;
    int allowEmptySecretOnLan;
    long pingInterval;
    long pingNotResponseLimit;
    char *pingData;
    long maxPackageSize;
    long sendToWorkerBufferSize;
    long sendToClientBufferSize;
    char *router;
    char *ssl_cert;
    char *ssl_key;
    char *ssl_ticket_key;
    char *webRoot;
    char *subprotocols;
    int proxyProtocol;
    char *trustedProxies;
    int wsCheck;
    char *metricsAllow;
    long pendingTimeout;
    long pendingBufferSize;
    long maxConnectionsPerIp;
    long maxTlsHandshakes;  /* issue 11: wss handshakes inside lws at once (hsgate.h) */
    char *clientWritePath; /* issue 11: how the flush pass writes plain ws clients */
};

struct gateway {
    const struct gateway_cfg *cfg;
    int index;              /* process index 0..count-1 */
    uint32_t lan_ip;        /* host order */
    uint16_t lan_port;      /* startPort + index */
    char lan_address[32];   /* "a.b.c.d:port", as registered */
    struct loop *ioloop;    /* the process' loop: lan, registers, signals, timers */
    struct ev_loop *loop;   /* loop_ev(ioloop): the libev loop under it, for lws and clients.c */
    struct gws *state;
    struct lan *lan;
    struct clients *clients;
    struct regclient *reg;
};

#endif
