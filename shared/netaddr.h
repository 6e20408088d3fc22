/* netaddr: the address forms found in settings and on the register wire.
 *
 * Pure parsing, no resolution: GatewayWorker routes per-client commands by the
 * *string* "a.b.c.d:port" (§4.3), so only canonical dotted quads are accepted
 * where such a string is produced or compared. */
#ifndef GW_NETADDR_H
#define GW_NETADDR_H

#include <stddef.h>
#include <stdint.h>

#define NETADDR_HOST_MAX 64

/* A Workerman socket name such as "websocket://0.0.0.0:1240". */
struct netaddr_listen {
    char scheme[16];                /* "text", "websocket", "tcp", "frame", ... */
    char host[NETADDR_HOST_MAX];    /* IPv4 dotted quad, or an IPv6 literal without [] */
    uint16_t port;
};

struct netaddr_hostport {
    char host[NETADDR_HOST_MAX];
    uint16_t port;
};

/* 1 if s is a canonical dotted quad (no leading zeros, each part 0..255);
 * stores the address in host order in *ip when ip is not NULL. */
int netaddr_parse_ipv4(const char *s, size_t n, uint32_t *ip);
/* 1 if host (a listen host or lanIp) is a loopback address: 127.0.0.0/8,
 * ::1 or ::ffff:127.x.y.z. 0.0.0.0 and :: are not: they listen on every
 * interface. */
int netaddr_is_loopback(const char *host);
/* Formats a host-order IPv4 like PHP's long2ip. out needs 16 bytes. */
void netaddr_format_ipv4(uint32_t ip, char out[16]);
/* "ip:port" with a canonical IPv4 and a port 1..65535. 0 or -1. */
int netaddr_parse_hostport(const char *s, size_t n, struct netaddr_hostport *out);
/* "scheme://host:port"; host may be an IPv4 or [IPv6]. 0 or -1 with a reason in err. */
int netaddr_parse_listen(const char *s, struct netaddr_listen *out, char *err, size_t errlen);
/* A comma-separated list of "ip:port" (spaces allowed around commas).
 * Returns the count stored (at most max), or -1 with a reason in err. */
int netaddr_parse_list(const char *s, struct netaddr_hostport *out, int max, char *err, size_t errlen);

#endif
