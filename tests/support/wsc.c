#include "wsc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tu.h"

static int handshake(int fd, int port, const char *path, const char *extra, int timeout_ms);

int wsc_connect(int port, const char *path, const char *extra, int timeout_ms)
{
    int fd = tu_connect(port, timeout_ms);
    if (fd < 0)
        return -1;
    return handshake(fd, port, path, extra, timeout_ms);
}

int wsc_connect_rcvbuf(int port, const char *path, int rcvbuf, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    /* Before connect(): the window is sized from it, never shrunk later. */
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0 ||
        connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return handshake(fd, port, path, NULL, timeout_ms);
}

static int handshake(int fd, int port, const char *path, const char *extra, int timeout_ms)
{
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    char req[4096];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                     path, port, key, extra ? extra : "");
    if (tu_write_all(fd, req, (size_t)n) < 0)
        goto fail;
    /* Read the response head byte by byte: frames may follow it at once. */
    char head[4096];
    size_t h = 0;
    long long deadline = tu_now_ms() + timeout_ms;
    while (h + 1 < sizeof head) {
        if (tu_read_exact(fd, head + h, 1, deadline) < 0)
            goto fail;
        h++;
        if (h >= 4 && memcmp(head + h - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[h] = 0;
    if (strncmp(head, "HTTP/1.1 101", 12) != 0)
        goto fail;
    /* Sec-WebSocket-Accept = base64(SHA1(key + GUID)) */
    char cat[128];
    snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    uint8_t dig[SHA_DIGEST_LENGTH];
    SHA1((const uint8_t *)cat, strlen(cat), dig);
    char want[64];
    EVP_EncodeBlock((uint8_t *)want, dig, sizeof dig);
    char *acc = strcasestr(head, "Sec-WebSocket-Accept:");
    if (!acc)
        goto fail;
    acc += 21;
    while (*acc == ' ')
        acc++;
    if (strncmp(acc, want, strlen(want)) != 0)
        goto fail;
    return fd;
fail:
    tu_close(fd);
    return -1;
}

static int send_frame(int fd, int fin, int opcode, const uint8_t *data, size_t len)
{
    uint8_t hdr[14];
    size_t h = 0;
    hdr[h++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (len < 126) {
        hdr[h++] = (uint8_t)(0x80 | len);
    } else if (len < 65536) {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (uint8_t)(len >> 8);
        hdr[h++] = (uint8_t)len;
    } else {
        hdr[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    uint8_t mask[4] = {0x12, 0x34, 0x56, (uint8_t)(len & 0xff)};
    memcpy(hdr + h, mask, 4);
    h += 4;
    uint8_t *buf = malloc(h + len + 1);
    memcpy(buf, hdr, h);
    for (size_t i = 0; i < len; i++)
        buf[h + i] = data[i] ^ mask[i % 4];
    int rc = tu_write_all(fd, buf, h + len);
    free(buf);
    return rc;
}

int wsc_send(int fd, int opcode, const void *data, size_t len) { return send_frame(fd, 1, opcode, data, len); }

int wsc_send_fragmented(int fd, int opcode, const void *data, size_t len, size_t frag)
{
    const uint8_t *p = data;
    size_t off = 0;
    int first = 1;
    do {
        size_t n = len - off < frag ? len - off : frag;
        int fin = off + n == len;
        if (send_frame(fd, fin, first ? opcode : 0, p + off, n) < 0)
            return -1;
        first = 0;
        off += n;
    } while (off < len);
    return 0;
}

ssize_t wsc_recv(int fd, uint8_t **out, int *opcode, int timeout_ms)
{
    long long deadline = tu_now_ms() + timeout_ms;
    uint8_t *msg = NULL;
    size_t mlen = 0;
    int mop = -1;
    for (;;) {
        uint8_t h[2];
        int r = tu_read_exact(fd, h, 2, deadline);
        if (r < 0) {
            free(msg);
            return r;
        }
        int fin = h[0] & 0x80, op = h[0] & 0x0f;
        uint64_t len = h[1] & 0x7f;
        if (len == 126) {
            uint8_t e[2];
            if (tu_read_exact(fd, e, 2, deadline) < 0)
                goto fail;
            len = (uint64_t)e[0] << 8 | e[1];
        } else if (len == 127) {
            uint8_t e[8];
            if (tu_read_exact(fd, e, 8, deadline) < 0)
                goto fail;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | e[i];
        }
        if (len > (64u << 20))
            goto fail;
        uint8_t *payload = malloc(len + 1);
        if (len && tu_read_exact(fd, payload, len, deadline) < 0) {
            free(payload);
            goto fail;
        }
        payload[len] = 0;
        if (op == WSC_PING) {
            send_frame(fd, 1, WSC_PONG, payload, len);
            free(payload);
            continue;
        }
        if (op == WSC_PONG) {
            free(payload);
            continue;
        }
        if (op == WSC_CLOSE) {
            free(msg);
            *out = payload;
            *opcode = WSC_CLOSE;
            return (ssize_t)len;
        }
        if (op != 0)
            mop = op;
        msg = realloc(msg, mlen + len + 1);
        memcpy(msg + mlen, payload, len);
        mlen += len;
        msg[mlen] = 0;
        free(payload);
        if (fin) {
            *out = msg;
            *opcode = mop;
            return (ssize_t)mlen;
        }
    }
fail:
    free(msg);
    return -1;
}

int wsc_expect_text(int fd, const char *want, int timeout_ms)
{
    uint8_t *m = NULL;
    int op = 0;
    ssize_t n = wsc_recv(fd, &m, &op, timeout_ms);
    int ok = n >= 0 && op == WSC_TEXT && (size_t)n == strlen(want) && memcmp(m, want, (size_t)n) == 0;
    if (!ok)
        fprintf(stderr, "\n  ws want text '%s', got n=%zd op=%d '%s'\n", want, n, op, n >= 0 ? (char *)m : "");
    free(m);
    return ok;
}

int wsc_quiet(int fd, int ms)
{
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    return poll(&pf, 1, ms) == 0;
}
