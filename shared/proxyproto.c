#include "proxyproto.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The 12-byte v2 signature (spec §2.2); it holds a NUL, so never strcmp it. */
static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* v2 commands and address families (high nibble of byte 14). */
enum { V2_CMD_LOCAL = 0, V2_CMD_PROXY = 1 };
enum { V2_AF_UNSPEC = 0, V2_AF_INET = 1, V2_AF_INET6 = 2, V2_AF_UNIX = 3 };
enum { V2_TR_UNSPEC = 0, V2_TR_STREAM = 1, V2_TR_DGRAM = 2 };

/* The fields of a v1 line, in order, separated by exactly one space. */
enum { F_PROXY, F_PROTO, F_SRC, F_DST, F_SPORT, F_DPORT };

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return PROXYPROTO_ERROR;
}

static int is_prefix(const char *tok, size_t n, const char *word)
{
    return n <= strlen(word) && memcmp(tok, word, n) == 0;
}

/* ---- version 1 fields ----
 * Each checker takes one token. With `partial` set the token was cut by the
 * end of the input, so it only has to be a possible beginning of a valid
 * field; the full check runs once the CRLF has arrived (the spec forbids
 * decoding addresses before that). Every partial check accepts all prefixes
 * of what the full check accepts, so a valid header cut anywhere is never
 * refused. */

/* A dotted quad, each part 0..255 without leading zeros (spec: they would read
 * as octal). Kept here rather than using netaddr so that the codec links with
 * libc alone (the fuzz harness builds it on its own). */
static int v1_ipv4(const char *s, size_t n, int partial, uint32_t *ip)
{
    uint32_t v = 0;
    unsigned part = 0, x = 0, digits = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (digits == 0 || part == 3)
                return 0;
            v = v << 8 | x;
            part++;
            x = 0;
            digits = 0;
        } else if (c >= '0' && c <= '9') {
            if (digits == 1 && x == 0)
                return 0;
            x = x * 10 + (unsigned)(c - '0');
            digits++;
            if (x > 255)
                return 0;
        } else {
            return 0;
        }
    }
    if (partial)
        return 1;
    if (part != 3 || digits == 0)
        return 0;
    *ip = v << 8 | x;
    return 1;
}

/* IPv6 text as inet_pton reads it; stored back in canonical inet_ntop form so
 * that "2001:DB8:0::1" and "2001:db8::1" compare equal downstream. A partial
 * token is only checked for its alphabet and length. */
static int v1_ipv6(const char *s, size_t n, int partial, char text[PROXYPROTO_IP_MAX])
{
    if (n >= PROXYPROTO_IP_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.'))
            return 0;
    }
    if (partial)
        return 1;
    char tmp[PROXYPROTO_IP_MAX];
    struct in6_addr a;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (inet_pton(AF_INET6, tmp, &a) != 1)
        return 0;
    return inet_ntop(AF_INET6, &a, text, PROXYPROTO_IP_MAX) != NULL;
}

/* 0..65535 in decimal, no leading zeros. */
static int v1_port(const char *s, size_t n, int partial, uint16_t *port)
{
    if (n == 0)
        return partial;
    if (n > 5 || (s[0] == '0' && n > 1))
        return 0;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return 0;
    *port = (uint16_t)v;
    return 1;
}

static int v1_field(int field, const char *tok, size_t n, int partial, struct proxyproto_result *out, char *err,
                    size_t errlen)
{
    static const char *const names[] = {"PROXY", "protocol", "source address", "destination address",
                                        "source port", "destination port"};
    int ok = 0;
    switch (field) {
    case F_PROXY:
        ok = partial ? is_prefix(tok, n, "PROXY") : (n == 5 && memcmp(tok, "PROXY", 5) == 0);
        break;
    case F_PROTO:
        if (partial) {
            ok = is_prefix(tok, n, "TCP4") || is_prefix(tok, n, "TCP6") || is_prefix(tok, n, "UNKNOWN");
        } else if (n == 4 && memcmp(tok, "TCP4", 4) == 0) {
            out->family = PROXYPROTO_AF_INET;
            ok = 1;
        } else if (n == 4 && memcmp(tok, "TCP6", 4) == 0) {
            out->family = PROXYPROTO_AF_INET6;
            ok = 1;
        } else if (n == 7 && memcmp(tok, "UNKNOWN", 7) == 0) {
            out->family = PROXYPROTO_AF_UNSPEC;
            ok = 1;
        }
        break;
    case F_SRC:
    case F_DST: {
        char *text = field == F_SRC ? out->src_ip : out->dst_ip;
        if (out->family == PROXYPROTO_AF_INET) {
            uint32_t ip = 0;
            ok = v1_ipv4(tok, n, partial, &ip);
            if (ok && !partial) {
                /* The text is canonical once v1_ipv4 accepted it. */
                memcpy(text, tok, n);
                text[n] = '\0';
                if (field == F_SRC)
                    out->src_ipv4 = ip;
            }
        } else {
            ok = v1_ipv6(tok, n, partial, text);
        }
        break;
    }
    case F_SPORT:
    case F_DPORT: {
        uint16_t port = 0;
        ok = v1_port(tok, n, partial, &port);
        if (ok && !partial)
            *(field == F_SPORT ? &out->src_port : &out->dst_port) = port;
        break;
    }
    }
    if (ok)
        return PROXYPROTO_OK;
    if (field == F_PROXY)
        return fail(err, errlen, "not a PROXY protocol header (v1 must start with \"PROXY \")");
    /* Quote the token for the log, but it comes from a stranger: shorten it
     * and mask bytes that could forge log lines or stop the string. */
    char q[41];
    size_t qn = n < sizeof q - 1 ? n : sizeof q - 1;
    for (size_t i = 0; i < qn; i++)
        q[i] = tok[i] >= 0x20 && tok[i] < 0x7f ? tok[i] : '?';
    q[qn] = '\0';
    return fail(err, errlen, "PROXY v1: bad %s '%s%s'", names[field], q, n > qn ? "..." : "");
}

static int decode_v1(const uint8_t *buf, size_t len, struct proxyproto_result *out, size_t *used, char *err,
                     size_t errlen)
{
    /* Find the end of the line first: the 107-byte bound and the CRLF rule
     * apply before any field is looked at. */
    size_t n = len < PROXYPROTO_V1_MAX_LEN ? len : PROXYPROTO_V1_MAX_LEN;
    size_t eol = n;
    int complete = 0, need_lf = 0;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\n')
            return fail(err, errlen, "PROXY v1: LF without CR at byte %zu", i);
        if (buf[i] == '\r') {
            if (i + 2 > PROXYPROTO_V1_MAX_LEN)
                return fail(err, errlen, "PROXY v1: line longer than %u bytes", PROXYPROTO_V1_MAX_LEN);
            if (i + 1 < len && buf[i + 1] != '\n')
                return fail(err, errlen, "PROXY v1: CR not followed by LF at byte %zu", i);
            /* A CR as the last byte so far: the line is over, its LF is on
             * the way, so the fields can already be checked in full. */
            eol = i;
            complete = 1;
            need_lf = i + 1 >= len;
            break;
        }
    }
    if (!complete && len >= PROXYPROTO_V1_MAX_LEN)
        return fail(err, errlen, "PROXY v1: no CRLF within the first %u bytes", PROXYPROTO_V1_MAX_LEN);

    out->version = 1;
    const char *line = (const char *)buf;
    size_t pos = 0;
    for (int field = F_PROXY;; field++) {
        size_t start = pos;
        while (pos < eol && line[pos] != ' ')
            pos++;
        int at_eol = pos == eol;
        int partial = at_eol && !complete;
        int r = v1_field(field, line + start, pos - start, partial, out, err, errlen);
        if (r != PROXYPROTO_OK)
            return r;
        if (partial)
            return PROXYPROTO_NEED_MORE;
        /* UNKNOWN: "the receiver must ignore anything presented before the
         * CRLF" — the rest of the line need not even be addresses. */
        if (field == F_PROTO && out->family == PROXYPROTO_AF_UNSPEC)
            break;
        if (at_eol) {
            if (field != F_DPORT)
                return fail(err, errlen, "PROXY v1: line ends after %d of 6 fields", field + 1);
            break;
        }
        if (field == F_DPORT)
            return fail(err, errlen, "PROXY v1: extra text after the destination port");
        pos++; /* the single space */
    }
    if (!complete)
        return PROXYPROTO_NEED_MORE; /* UNKNOWN still waiting for its CRLF */
    if (need_lf)
        return PROXYPROTO_NEED_MORE;
    *used = eol + 2;
    return PROXYPROTO_OK;
}

/* ---- version 2 ---- */

static uint16_t get_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void format_ipv4(uint32_t ip, char out[PROXYPROTO_IP_MAX])
{
    snprintf(out, PROXYPROTO_IP_MAX, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

static int decode_v2(const uint8_t *buf, size_t len, struct proxyproto_result *out, size_t *used, char *err,
                     size_t errlen)
{
    /* Each byte is checked as soon as it is there, so that a stranger's
     * traffic is refused early instead of waiting for 16 bytes. */
    if (memcmp(buf, v2_sig, len < sizeof v2_sig ? len : sizeof v2_sig) != 0)
        return fail(err, errlen, "not a PROXY protocol header (bad v2 signature)");
    if (len < 13)
        return PROXYPROTO_NEED_MORE;
    unsigned ver = buf[12] >> 4, cmd = buf[12] & 0x0f;
    if (ver != 2)
        return fail(err, errlen, "PROXY v2: version %u, expected 2", ver);
    if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
        return fail(err, errlen, "PROXY v2: unknown command %u", cmd);
    if (len < 14)
        return PROXYPROTO_NEED_MORE;
    unsigned fam = buf[13] >> 4, tr = buf[13] & 0x0f;
    /* For LOCAL the spec says to discard the block "including the family
     * which is ignored", so the family byte is only judged for PROXY. */
    if (cmd == V2_CMD_PROXY && (fam > V2_AF_UNIX || tr > V2_TR_DGRAM))
        return fail(err, errlen, "PROXY v2: invalid family/transport byte 0x%02x", buf[13]);
    if (len < PROXYPROTO_V2_HEADER_LEN)
        return PROXYPROTO_NEED_MORE;
    size_t body = get_be16(buf + 14);
    if (body > PROXYPROTO_V2_MAX_BODY)
        return fail(err, errlen, "PROXY v2: length %zu above our limit of %u", body, PROXYPROTO_V2_MAX_BODY);
    /* Address block size for the combinations the spec defines; with an
     * UNSPEC family or transport the address information is ignored. */
    size_t addr_len = 0;
    if (cmd == V2_CMD_PROXY && fam != V2_AF_UNSPEC && tr != V2_TR_UNSPEC)
        addr_len = fam == V2_AF_INET ? 12 : fam == V2_AF_INET6 ? 36 : 216;
    if (body < addr_len)
        return fail(err, errlen, "PROXY v2: length %zu too short for family 0x%02x (needs %zu)", body, buf[13],
                    addr_len);
    if (len < PROXYPROTO_V2_HEADER_LEN + body)
        return PROXYPROTO_NEED_MORE;

    const uint8_t *p = buf + PROXYPROTO_V2_HEADER_LEN;
    out->version = 2;
    out->local = cmd == V2_CMD_LOCAL;
    if (addr_len > 0) {
        /* What follows the addresses must be whole TLVs; we use none of them
         * but a TLV running past the header means the length is a lie. */
        size_t off = addr_len;
        while (off < body) {
            if (body - off < 3)
                return fail(err, errlen, "PROXY v2: truncated TLV at offset %zu", off);
            size_t tlen = get_be16(p + off + 1);
            if (tlen > body - off - 3)
                return fail(err, errlen, "PROXY v2: TLV type 0x%02x of %zu bytes runs past the header", p[off],
                            tlen);
            off += 3 + tlen;
        }
        /* DGRAM and UNIX are valid but not ours to serve: fall back to the
         * real endpoints (UNSPEC), as the spec asks of receivers that do not
         * implement a combination. */
        if (tr == V2_TR_STREAM && fam == V2_AF_INET) {
            out->family = PROXYPROTO_AF_INET;
            out->src_ipv4 = get_be32(p);
            format_ipv4(out->src_ipv4, out->src_ip);
            format_ipv4(get_be32(p + 4), out->dst_ip);
            out->src_port = get_be16(p + 8);
            out->dst_port = get_be16(p + 10);
        } else if (tr == V2_TR_STREAM && fam == V2_AF_INET6) {
            out->family = PROXYPROTO_AF_INET6;
            if (!inet_ntop(AF_INET6, p, out->src_ip, PROXYPROTO_IP_MAX) ||
                !inet_ntop(AF_INET6, p + 16, out->dst_ip, PROXYPROTO_IP_MAX))
                return fail(err, errlen, "PROXY v2: cannot format IPv6 address");
            out->src_port = get_be16(p + 32);
            out->dst_port = get_be16(p + 34);
        }
    }
    *used = PROXYPROTO_V2_HEADER_LEN + body;
    return PROXYPROTO_OK;
}

int proxyproto_decode(const uint8_t *buf, size_t len, struct proxyproto_result *out, size_t *used, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof *out);
    *used = 0;
    if (err && errlen > 0)
        err[0] = '\0';
    if (len == 0)
        return PROXYPROTO_NEED_MORE;
    int r;
    if (buf[0] == 'P')
        r = decode_v1(buf, len, out, used, err, errlen);
    else if (buf[0] == '\r')
        r = decode_v2(buf, len, out, used, err, errlen);
    else
        r = fail(err, errlen, "not a PROXY protocol header (first byte 0x%02x)", buf[0]);
    if (r != PROXYPROTO_OK) {
        /* Half-filled fields must not be mistaken for a result. */
        memset(out, 0, sizeof *out);
        *used = 0;
    }
    return r;
}
