#include "netaddr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int netaddr_parse_ipv4(const char *s, size_t n, uint32_t *ip)
{
    uint32_t v = 0;
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= n || s[i] != '.')
                return 0;
            i++;
        }
        size_t start = i;
        unsigned x = 0;
        while (i < n && isdigit((unsigned char)s[i]) && i - start < 3)
            x = x * 10 + (unsigned)(s[i++] - '0');
        size_t digits = i - start;
        if (digits == 0 || x > 255 || (digits > 1 && s[start] == '0'))
            return 0;
        v = v << 8 | x;
    }
    if (i != n)
        return 0;
    if (ip)
        *ip = v;
    return 1;
}

int netaddr_is_loopback(const char *host)
{
    uint32_t ip;
    if (strncmp(host, "::ffff:", 7) == 0)
        host += 7;
    if (netaddr_parse_ipv4(host, strlen(host), &ip))
        return ip >> 24 == 127;
    return strcmp(host, "::1") == 0;
}

void netaddr_format_ipv4(uint32_t ip, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

static int parse_port(const char *s, size_t n, uint16_t *port)
{
    if (n == 0 || n > 5 || s[0] == '0')
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

int netaddr_parse_hostport(const char *s, size_t n, struct netaddr_hostport *out)
{
    const char *colon = memrchr(s, ':', n);
    if (!colon)
        return -1;
    size_t hl = (size_t)(colon - s);
    if (!netaddr_parse_ipv4(s, hl, NULL) || parse_port(colon + 1, n - hl - 1, &out->port) < 0)
        return -1;
    memcpy(out->host, s, hl);
    out->host[hl] = 0;
    return 0;
}

int netaddr_parse_listen(const char *s, struct netaddr_listen *out, char *err, size_t errlen)
{
    const char *sep = strstr(s, "://");
    if (!sep || sep == s || (size_t)(sep - s) >= sizeof out->scheme) {
        snprintf(err, errlen, "expected scheme://ip:port, e.g. text://0.0.0.0:1239");
        return -1;
    }
    memcpy(out->scheme, s, (size_t)(sep - s));
    out->scheme[sep - s] = 0;
    const char *host = sep + 3;
    const char *colon = strrchr(host, ':');
    if (!colon) {
        snprintf(err, errlen, "missing :port");
        return -1;
    }
    const char *h = host;
    size_t hl = (size_t)(colon - host);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
        char tmp[NETADDR_HOST_MAX];
        struct in6_addr a6;
        if (hl >= sizeof tmp || (memcpy(tmp, h, hl), tmp[hl] = 0, inet_pton(AF_INET6, tmp, &a6) != 1)) {
            snprintf(err, errlen, "bad IPv6 address");
            return -1;
        }
    } else if (!netaddr_parse_ipv4(h, hl, NULL)) {
        snprintf(err, errlen, "host must be an IPv4 address like 0.0.0.0 or an [IPv6] literal");
        return -1;
    }
    if (parse_port(colon + 1, strlen(colon + 1), &out->port) < 0) {
        snprintf(err, errlen, "port must be 1..65535");
        return -1;
    }
    memcpy(out->host, h, hl);
    out->host[hl] = 0;
    return 0;
}

int netaddr_parse_list(const char *s, struct netaddr_hostport *out, int max, char *err, size_t errlen)
{
    int n = 0;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (n >= max) {
            snprintf(err, errlen, "more than %d addresses", max);
            return -1;
        }
        if (netaddr_parse_hostport(p, len, &out[n]) < 0) {
            snprintf(err, errlen, "'%.*s' is not ip:port (a dotted-quad IPv4 and a port)", (int)len, p);
            return -1;
        }
        n++;
        if (!end)
            return n;
        p = end + 1;
    }
}
