#include "clientid.h"

#include <stdio.h>

/* The id is three fixed-width big-endian numbers, so each is written and read
 * as `digits` hex digits, most significant first: no byte order involved. */

static void put_hex(char *out, uint32_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; i--) {
        out[i] = hex[v & 0xf];
        v >>= 4;
    }
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* 0 and *v, or -1 at the first non-hex character. */
static int get_hex(const char *s, int digits, uint32_t *v)
{
    uint32_t acc = 0;
    for (int i = 0; i < digits; i++) {
        int d = hex_digit((unsigned char)s[i]);
        if (d < 0)
            return -1;
        acc = acc << 4 | (uint32_t)d;
    }
    *v = acc;
    return 0;
}

void clientid_encode(uint32_t lan_ip, uint16_t lan_port, uint32_t conn_id, char out[CLIENTID_LEN + 1])
{
    put_hex(out, lan_ip, 8);
    put_hex(out + 8, lan_port, 4);
    put_hex(out + 12, conn_id, 8);
    out[CLIENTID_LEN] = '\0';
}

int clientid_decode(const char *s, size_t len, uint32_t *lan_ip, uint16_t *lan_port, uint32_t *conn_id)
{
    uint32_t ip, port, id;
    if (len != CLIENTID_LEN || !s)
        return -1;
    if (get_hex(s, 8, &ip) < 0 || get_hex(s + 8, 4, &port) < 0 || get_hex(s + 12, 8, &id) < 0)
        return -1;
    *lan_ip = ip;
    *lan_port = (uint16_t)port;
    *conn_id = id;
    return 0;
}

int clientid_gateway_address(uint32_t lan_ip, uint16_t lan_port, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%u.%u.%u.%u:%u", (unsigned)(lan_ip >> 24), (unsigned)(lan_ip >> 16 & 0xff),
                     (unsigned)(lan_ip >> 8 & 0xff), (unsigned)(lan_ip & 0xff), (unsigned)lan_port);
    if (n < 0 || (size_t)n >= cap) {
        if (cap > 0)
            out[0] = '\0';
        return -1;
    }
    return n;
}
