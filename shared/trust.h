/* trust: which peers may tell us who the client is.
 *
 * Behind a reverse proxy every connection comes from the proxy, and the real
 * client address arrives in X-Forwarded-For / X-Real-IP. Those headers are
 * written by whoever sent the request, so they are believed only when the
 * peer is one of our own proxies, listed in a setting such as
 *
 *     trustedProxies = 10.0.0.0/8, 172.16.0.0/12, 127.0.0.1, ::1
 *
 * Pure functions over strings; no sockets, no allocation, no global state.
 *
 * IPv4 and IPv6 share one address space here: an IPv4 network is kept as its
 * IPv4-mapped IPv6 form (::ffff:a.b.c.d/96+n), so a peer reported as
 * "::ffff:10.1.2.3" (a dual-stack socket, lws_get_peer_simple) matches
 * 10.0.0.0/8. A consequence: an IPv6 network covering ::ffff:0:0/96, such as
 * ::/0, covers every IPv4 address too. */
#ifndef GW_TRUST_H
#define GW_TRUST_H

#include <stddef.h>
#include <stdint.h>

/* Entries a list can hold: far more than any real proxy fleet needs, and
 * small enough to keep the list a fixed-size value (about 1.1 KB). */
#define TRUST_MAX_NETS 64
/* Room for any IP text trust_client_ip writes, NUL included (INET6_ADDRSTRLEN). */
#define TRUST_IP_MAX 46

struct trust_net {
    uint8_t addr[16]; /* network address; IPv4 as ::ffff:a.b.c.d; host bits are zero */
    uint8_t bits;     /* prefix length in the 128-bit space (IPv4 /n is 96 + n) */
};

struct trust_list {
    size_t n;
    struct trust_net net[TRUST_MAX_NETS];
};

/* Where trust_client_ip found the address it returned. */
enum trust_source {
    TRUST_FROM_PEER = 0, /* the socket's peer (not a trusted proxy, or nothing usable forwarded) */
    TRUST_FROM_XFF = 1,  /* X-Forwarded-For */
    TRUST_FROM_XRI = 2,  /* X-Real-IP */
};

/* Parses a comma-separated list of IPv4/IPv6 networks ("10.0.0.0/8",
 * "2001:db8::/32") and single addresses ("127.0.0.1", "::1"), with spaces or
 * tabs around the commas. An empty or all-blank string is an empty list (no
 * proxy trusted). IPv4 must be canonical dotted quads (no leading zeros);
 * a network with host bits set ("10.1.2.3/8") is refused rather than
 * silently widened, since it usually hides a typo.
 * Returns 0, or -1 with a reason naming the entry in err (errlen may be 0);
 * on error *out is left empty, so a half-read setting trusts nobody. */
int trust_parse(const char *s, struct trust_list *out, char *err, size_t errlen);

/* 1 if ip_text (an IPv4 or IPv6 literal, nothing around it) lies in one of
 * the networks; 0 otherwise, and for anything that is not an IP literal. */
int trust_contains(const struct trust_list *l, const char *ip_text);

/* The client's address for a request that reached us from peer_ip, in the
 * canonical text form (IPv4-mapped IPv6 written as the dotted quad, IPv6 as
 * inet_ntop writes it), NUL-terminated in out[0..cap).
 *
 *  - peer_ip not trusted: peer_ip. Headers are ignored, whatever they say.
 *  - peer_ip trusted and X-Forwarded-For has entries: walk it from the right,
 *    skipping trusted hops, and take the first untrusted address. Each entry
 *    was appended by the hop to its right, so it is only believed while that
 *    hop is trusted: the walk stops at an entry that is not an IP literal
 *    ("unknown", "1.2.3.4:80", ...) and then takes the last trusted hop it
 *    passed; if every entry is trusted, the leftmost one. Entries left of the
 *    first untrusted one are never used: the client wrote them.
 *  - peer_ip trusted, and X-Forwarded-For absent (NULL), empty, or garbage
 *    in its rightmost entry: X-Real-IP if it is an IP literal, else peer_ip.
 *
 * Several X-Forwarded-For header lines must be joined with "," in order.
 * Empty list elements (", ,") are skipped, as RFC 9110 §5.6.1 asks.
 * peer_ip is copied as it is when it is not an IP literal.
 * Returns the enum trust_source, or -1 when the result does not fit in cap
 * (out is then "" if cap > 0); cap >= TRUST_IP_MAX always fits an IP. */
int trust_client_ip(const struct trust_list *l, const char *peer_ip, const char *x_forwarded_for,
                    const char *x_real_ip, char *out, size_t cap);

#endif
