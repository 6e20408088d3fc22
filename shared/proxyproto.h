/* proxyproto: decoder for the HAProxy PROXY protocol header, versions 1 (text)
 * and 2 (binary), as specified in haproxy's doc/proxy-protocol.txt.
 *
 * A load balancer in front of the gateway (haproxy "send-proxy", nginx
 * "proxy_protocol on", AWS NLB) prepends one such header to each TCP
 * connection so that we learn the real client address. The header must be
 * decoded before anything else is read from the connection, and only on
 * listeners where it is configured: guessing whether it is present would let
 * any client spoof its address (spec §2, "MUST not try to guess").
 *
 * Pure function: no sockets, no logging, no global state, no allocation.
 * Links with libc only. Stream use, one connection:
 *
 *     r = proxyproto_decode(buf_head(&in), buf_avail(&in), &pp, &used, err, sizeof err);
 *     NEED_MORE: wait for more bytes (and apply a timeout: a few seconds);
 *     ERROR:     close the connection, log err;
 *     OK:        buf_consume(&in, used); the bytes after it are the payload.
 *
 * Which address to use: pp.family is AF_INET or AF_INET6 when the proxy
 * relayed a TCP connection; otherwise (v1 UNKNOWN, v2 LOCAL health checks,
 * v2 UNSPEC/UDP/UNIX) it is UNSPEC and the real socket endpoints are to be
 * used, as the spec requires. */
#ifndef GW_PROXYPROTO_H
#define GW_PROXYPROTO_H

#include <stddef.h>
#include <stdint.h>

/* Decoder results (same values as the other codecs). */
#define PROXYPROTO_OK 0
#define PROXYPROTO_NEED_MORE 1
#define PROXYPROTO_ERROR (-1)

/* A v1 line, CRLF included, is never longer than this (spec §2.1). */
#define PROXYPROTO_V1_MAX_LEN 107u
/* Fixed part of a v2 header: signature, ver/cmd, family, length. */
#define PROXYPROTO_V2_HEADER_LEN 16u
/* Our bound on the v2 length field (addresses + TLVs). The wire allows
 * 65535; real senders use a few hundred bytes at most, and a bound keeps a
 * peer from making us buffer 64 KiB before we can reject it. */
#define PROXYPROTO_V2_MAX_BODY 2048u
/* Longest header proxyproto_decode can accept. */
#define PROXYPROTO_MAX_LEN (PROXYPROTO_V2_HEADER_LEN + PROXYPROTO_V2_MAX_BODY)
/* Room for any IP text we produce, NUL included (INET6_ADDRSTRLEN). */
#define PROXYPROTO_IP_MAX 46

enum proxyproto_family {
    PROXYPROTO_AF_UNSPEC = 0, /* use the real connection endpoints */
    PROXYPROTO_AF_INET = 4,   /* TCP over IPv4 */
    PROXYPROTO_AF_INET6 = 6,  /* TCP over IPv6 */
};

struct proxyproto_result {
    int version;                     /* 1 or 2 */
    int local;                       /* v2 LOCAL command: the proxy's own connection (health check) */
    enum proxyproto_family family;   /* the fields below are set only for INET/INET6 */
    char src_ip[PROXYPROTO_IP_MAX];  /* "203.0.113.7", "2001:db8::7" (canonical inet_ntop form); "" if UNSPEC */
    uint32_t src_ipv4;               /* host order when family is INET, else 0 (as PHP ip2long) */
    uint16_t src_port;
    char dst_ip[PROXYPROTO_IP_MAX];
    uint16_t dst_port;
};

/* Decodes the PROXY header at the start of buf[0..len). buf is only read,
 * never past len (it may be NULL when len is 0). The version is told by the
 * first byte: 'P' for v1, CR for v2; anything else is an ERROR.
 *
 * Returns PROXYPROTO_OK: *out is filled and the header is *used bytes long;
 *           the bytes after it belong to the payload and are not looked at.
 *         PROXYPROTO_NEED_MORE: the bytes so far are a valid beginning of a
 *           header (checked field by field as they arrive); *used is 0.
 *         PROXYPROTO_ERROR: not a PROXY header, or malformed (bad signature,
 *           version, command, family or length, no CRLF within 107 bytes, a
 *           non-canonical address, a port above 65535, a TLV running past the
 *           header, ...): close the connection. *used is 0; a message goes to
 *           err, which may be NULL or errlen 0 (truncated to fit otherwise).
 * *out is zeroed first and meaningful only on OK. */
int proxyproto_decode(const uint8_t *buf, size_t len, struct proxyproto_result *out, size_t *used, char *err,
                      size_t errlen);

#endif
