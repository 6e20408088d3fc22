#include "wshead.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The value of header name (case-insensitive) in head[0..len), trimmed;
 * NULL when absent. *vlen receives its length. */
static const char *header(const char *head, size_t len, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *end = head + len;
    const char *line = memchr(head, '\n', len); /* skip the request line */
    while (line && line + 1 < end) {
        line++;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            break;
        if ((size_t)(eol - line) > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        line = eol;
    }
    return NULL;
}

/* base64 of 16 bytes: 22 alphabet characters and "==". */
static int key_ok(const char *k, size_t n)
{
    if (n != 24 || k[22] != '=' || k[23] != '=')
        return 0;
    for (size_t i = 0; i < 22; i++) {
        char c = k[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/'))
            return 0;
    }
    /* the last character before the padding carries 2 bits: its low 4 bits are 0 */
    return strchr("AQgw", k[21]) != NULL;
}

int wshead_upgrade(const char *head, size_t len)
{
    size_t n;
    const char *up = header(head, len, "upgrade", &n);
    return up && n == 9 && strncasecmp(up, "websocket", 9) == 0;
}

int wshead_check(const char *head, size_t len, char *reason, size_t cap)
{
    size_t n;
    if (!wshead_upgrade(head, len))
        return 0;
    const char *key = header(head, len, "sec-websocket-key", &n);
    if (!key) {
        snprintf(reason, cap, "no Sec-WebSocket-Key");
        return 400;
    }
    if (!key_ok(key, n)) {
        snprintf(reason, cap, "Sec-WebSocket-Key is not 16 bytes of base64");
        return 400;
    }
    const char *ver = header(head, len, "sec-websocket-version", &n);
    if (!ver || n != 2 || memcmp(ver, "13", 2) != 0) {
        snprintf(reason, cap, "Sec-WebSocket-Version %.*s (13 is spoken)", ver ? (int)(n < 16 ? n : 16) : 4,
                 ver ? ver : "none");
        return 426;
    }
    return 0;
}

size_t wshead_response(int status, char *out, size_t cap)
{
    int n = status == 426
                ? snprintf(out, cap, "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n"
                                     "Content-Type: text/plain\r\nContent-Length: 40\r\nConnection: close\r\n\r\n"
                                     "this server speaks WebSocket version 13\n")
                : snprintf(out, cap, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 34\r\n"
                                     "Connection: close\r\n\r\nbad WebSocket opening handshake.\n\n");
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}
