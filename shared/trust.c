#include "trust.h"

#include "netaddr.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ::ffff:0:0/96, the IPv4-mapped prefix every IPv4 address is stored under. */
static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* s[0..n) as an IP literal into a 16-byte address (IPv4 mapped). Strict:
 * canonical dotted quads only (a leading zero reads as octal in some
 * stacks, so "010.0.0.1" could be another host there), no brackets, no
 * port, no zone. Returns 4 or 6 for how it was written, or 0. */
static int ip_parse(const char *s, size_t n, uint8_t a[16])
{
    uint32_t v4;
    if (netaddr_parse_ipv4(s, n, &v4)) {
        memcpy(a, v4mapped, sizeof v4mapped);
        a[12] = (uint8_t)(v4 >> 24);
        a[13] = (uint8_t)(v4 >> 16);
        a[14] = (uint8_t)(v4 >> 8);
        a[15] = (uint8_t)v4;
        return 4;
    }
    char tmp[TRUST_IP_MAX];
    if (n >= sizeof tmp || memchr(s, ':', n) == NULL)
        return 0;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    return inet_pton(AF_INET6, tmp, a) == 1 ? 6 : 0;
}

static int is_v4(const uint8_t a[16]) { return memcmp(a, v4mapped, sizeof v4mapped) == 0; }

static void ip_format(const uint8_t a[16], char out[TRUST_IP_MAX])
{
    if (is_v4(a))
        snprintf(out, TRUST_IP_MAX, "%u.%u.%u.%u", a[12], a[13], a[14], a[15]);
    else if (!inet_ntop(AF_INET6, a, out, TRUST_IP_MAX))
        out[0] = '\0'; /* cannot happen with a TRUST_IP_MAX buffer */
}

static int net_match(const struct trust_net *t, const uint8_t a[16])
{
    unsigned full = t->bits / 8, rest = t->bits % 8;
    if (memcmp(t->addr, a, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (t->addr[full] & mask) == (a[full] & mask);
}

static int list_match(const struct trust_list *l, const uint8_t a[16])
{
    for (size_t i = 0; i < l->n; i++)
        if (net_match(&l->net[i], a))
            return 1;
    return 0;
}

/* "addr" or "addr/bits" in s[0..n) into *t. */
static int parse_net(const char *s, size_t n, struct trust_net *t, char *err, size_t errlen)
{
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    int kind = ip_parse(s, alen, t->addr);
    if (!kind)
        return fail(err, errlen, "'%.*s': not an IPv4 or IPv6 address", (int)alen, s);
    /* The prefix counts in the space the address was written in:
     * "::ffff:10.0.0.0/104" is the same network as "10.0.0.0/8". */
    unsigned base = kind == 4 ? 96 : 0, max = 128 - base;
    unsigned bits = max;
    if (slash) {
        const char *b = slash + 1;
        size_t blen = n - alen - 1;
        if (blen == 0 || blen > 3 || (b[0] == '0' && blen > 1))
            return fail(err, errlen, "'%.*s': bad prefix length", (int)n, s);
        bits = 0;
        for (size_t i = 0; i < blen; i++) {
            if (b[i] < '0' || b[i] > '9')
                return fail(err, errlen, "'%.*s': bad prefix length", (int)n, s);
            bits = bits * 10 + (unsigned)(b[i] - '0');
        }
        if (bits > max)
            return fail(err, errlen, "'%.*s': prefix length above /%u", (int)n, s, max);
    }
    t->bits = (uint8_t)(base + bits);
    for (unsigned i = t->bits; i < 128; i++)
        if (t->addr[i / 8] & (0x80 >> (i % 8))) {
            struct trust_net fixed = *t;
            for (unsigned j = t->bits; j < 128; j++)
                fixed.addr[j / 8] &= (uint8_t) ~(0x80 >> (j % 8));
            char txt[TRUST_IP_MAX];
            ip_format(fixed.addr, txt);
            return fail(err, errlen, "'%.*s': host bits set (did you mean %s%s/%u?)", (int)n, s,
                        kind == 6 && is_v4(fixed.addr) ? "::ffff:" : "", txt, bits);
        }
    return 0;
}

int trust_parse(const char *s, struct trust_list *out, char *err, size_t errlen)
{
    out->n = 0;
    if (err && errlen > 0)
        err[0] = '\0';
    const char *p = s ? s : "";
    while (is_blank(*p))
        p++;
    if (*p == '\0')
        return 0;
    for (size_t idx = 1;; idx++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len > 0 && is_blank(*p)) {
            p++;
            len--;
        }
        while (len > 0 && is_blank(p[len - 1]))
            len--;
        if (len == 0) {
            out->n = 0;
            return fail(err, errlen, "entry %zu is empty", idx);
        }
        if (out->n >= TRUST_MAX_NETS) {
            out->n = 0;
            return fail(err, errlen, "more than %d entries", TRUST_MAX_NETS);
        }
        char why[160];
        if (parse_net(p, len, &out->net[out->n], why, sizeof why) < 0) {
            out->n = 0;
            return fail(err, errlen, "entry %zu %s", idx, why);
        }
        out->n++;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

int trust_contains(const struct trust_list *l, const char *ip_text)
{
    uint8_t a[16];
    return ip_text && ip_parse(ip_text, strlen(ip_text), a) && list_match(l, a);
}

static int emit(const char *text, int source, char *out, size_t cap)
{
    size_t n = strlen(text);
    if (n >= cap) {
        if (cap > 0)
            out[0] = '\0';
        return -1;
    }
    memcpy(out, text, n + 1);
    return source;
}

static int emit_ip(const uint8_t a[16], int source, char *out, size_t cap)
{
    char txt[TRUST_IP_MAX];
    ip_format(a, txt);
    return emit(txt, source, out, cap);
}

/* Skips the blanks around s[0..*n): returns the new start, shortens *n. */
static const char *trim(const char *s, size_t *n)
{
    while (*n > 0 && is_blank(*s)) {
        s++;
        (*n)--;
    }
    while (*n > 0 && is_blank(s[*n - 1]))
        (*n)--;
    return s;
}

int trust_client_ip(const struct trust_list *l, const char *peer_ip, const char *x_forwarded_for,
                    const char *x_real_ip, char *out, size_t cap)
{
    uint8_t peer[16], a[16];
    if (!peer_ip)
        peer_ip = "";
    if (!ip_parse(peer_ip, strlen(peer_ip), peer))
        return emit(peer_ip, TRUST_FROM_PEER, out, cap);
    if (!list_match(l, peer))
        return emit_ip(peer, TRUST_FROM_PEER, out, cap);

    if (x_forwarded_for) {
        /* Walk from the right; [start, end) is what is left to read. */
        const char *start = x_forwarded_for, *end = start + strlen(start);
        uint8_t hop[16];
        int passed = 0; /* trusted entries walked over */
        while (end > start) {
            const char *b = end;
            while (b > start && b[-1] != ',')
                b--;
            size_t n = (size_t)(end - b);
            const char *e = trim(b, &n);
            end = b > start ? b - 1 : start;
            if (n == 0)
                continue;
            if (!ip_parse(e, n, a)) {
                if (!passed)
                    break; /* rightmost entry unusable: as if absent */
                return emit_ip(hop, TRUST_FROM_XFF, out, cap);
            }
            if (!list_match(l, a))
                return emit_ip(a, TRUST_FROM_XFF, out, cap);
            memcpy(hop, a, sizeof hop);
            passed = 1;
        }
        if (passed)
            return emit_ip(hop, TRUST_FROM_XFF, out, cap);
    }
    if (x_real_ip) {
        size_t n = strlen(x_real_ip);
        const char *e = trim(x_real_ip, &n);
        if (ip_parse(e, n, a))
            return emit_ip(a, TRUST_FROM_XRI, out, cap);
    }
    return emit_ip(peer, TRUST_FROM_PEER, out, cap);
}
