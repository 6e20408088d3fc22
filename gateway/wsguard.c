#include "wsguard.h"

#include <errno.h>
#include <libwebsockets.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "utf8.h"

enum { ST_HDR0, ST_HDR1, ST_EXT, ST_MASK, ST_PAYLOAD };

struct guard {
    struct lws *wsi;          /* set once the handshake is done */
    size_t skip;              /* request-head bytes still to pass */
    unsigned ws : 1, off : 1, close_sent : 1, reported : 1, closed_out : 1;
    unsigned in_msg : 1;      /* a fragmented data message is open (its last frame not yet seen) */
    uint8_t st, b0, ext_need, ext_have, mask_have, opcode;
    uint8_t mask[4];
    uint64_t len, left;       /* this frame: announced length, bytes still to come */
    uint64_t msg_len;         /* data bytes of the message being received */
    int fail;                 /* close code once failed */
    const char *why;
    uint8_t *ctl;             /* a close frame's payload, unmasked, while it arrives (<= 125 bytes) */
};

static struct guard **slots;
static size_t nslots;
static size_t max_msg = 10485760;

void wsguard_init(size_t max_message) { max_msg = max_message; }

static struct guard *slot(int fd) { return fd >= 0 && (size_t)fd < nslots ? slots[fd] : NULL; }

void wsguard_forget(int fd)
{
    struct guard *g = slot(fd);
    if (g) {
        free(g->ctl);
        free(g);
        slots[fd] = NULL;
    }
}

void wsguard_reset(int fd) { wsguard_forget(fd); }

static struct guard *take(int fd)
{
    if (fd < 0)
        return NULL;
    if ((size_t)fd >= nslots) {
        size_t n = nslots ? nslots : 1024;
        while (n <= (size_t)fd)
            n *= 2;
        struct guard **s = realloc(slots, n * sizeof *s);
        if (!s)
            return NULL;
        memset(s + nslots, 0, (n - nslots) * sizeof *s);
        slots = s;
        nslots = n;
    }
    if (!slots[fd])
        slots[fd] = calloc(1, sizeof *slots[fd]);
    return slots[fd];
}

void wsguard_watch(int fd, size_t head_len)
{
    wsguard_forget(fd);
    struct guard *g = take(fd);
    if (g)
        g->skip = head_len;
}

void wsguard_established(int fd, struct lws *wsi)
{
    struct guard *g = slot(fd);
    if (!g && !(g = take(fd)))
        return;
    g->wsi = wsi;
    g->ws = 1;
}

void wsguard_fail(int fd, int code, const char *why)
{
    struct guard *g = slot(fd);
    if (g && g->ws && !g->fail) {
        g->fail = code;
        g->why = why;
        g->reported = 1; /* the caller closes it: not a job for the writable callback */
    }
}

int wsguard_closing(int fd)
{
    struct guard *g = slot(fd);
    return g && (g->fail || g->closed_out);
}

int wsguard_failed(int fd, const char **why)
{
    struct guard *g = slot(fd);
    if (!g || !g->fail || g->reported)
        return 0;
    *why = g->why;
    g->reported = 1;
    return g->fail;
}

static int fail(struct guard *g, int code, const char *why)
{
    g->fail = code;
    g->why = why;
    return -1;
}

/* RFC 6455 7.4: the codes a peer may put on the wire. */
static int close_code_ok(unsigned c)
{
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1011) || (c >= 3000 && c <= 4999);
}

static int frame_header_done(struct guard *g)
{
    int control = g->opcode & 8;
    if (control && g->len > 125)
        return fail(g, LWS_CLOSE_STATUS_PROTOCOL_ERR, "control frame over 125 bytes");
    if (!control) {
        if (g->opcode != 0)
            g->msg_len = 0; /* a new message (lws refuses one inside another) */
        if (g->len > max_msg || g->msg_len + g->len > max_msg)
            return fail(g, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message over maxPackageSize");
        g->msg_len += g->len;
    }
    return 0;
}

static int frame_done(struct guard *g)
{
    if (g->opcode == 0x8) {
        int rc = 0;
        if (!g->ctl && g->len) /* out of memory: lws' own close checks apply */
            goto done;
        if (g->len == 1)
            rc = fail(g, LWS_CLOSE_STATUS_PROTOCOL_ERR, "close payload of 1 byte");
        else if (g->len >= 2 && !close_code_ok((unsigned)(g->ctl[0] << 8 | g->ctl[1])))
            rc = fail(g, LWS_CLOSE_STATUS_PROTOCOL_ERR, "invalid close code");
        else if (g->len > 2 && !utf8_valid(g->ctl + 2, (size_t)g->len - 2))
            rc = fail(g, LWS_CLOSE_STATUS_INVALID_PAYLOAD, "close reason not UTF-8");
    done:
        free(g->ctl);
        g->ctl = NULL;
        if (rc < 0)
            return rc;
    }
    if (!(g->opcode & 8)) {
        g->in_msg = !(g->b0 & 0x80);
        if (!g->in_msg)
            g->msg_len = 0; /* the message is complete */
    }
    g->st = ST_HDR0;
    return 0;
}

/* Feeds n bytes; returns n, or the offset in p where the offending frame
 * starts (0 when it started in an earlier read). */
static size_t feed(struct guard *g, const uint8_t *p, size_t n)
{
    size_t i = 0, frame_start = 0;
    while (i < n) {
        uint8_t c = p[i];
        switch (g->st) {
        case ST_HDR0:
            frame_start = i;
            g->b0 = c;
            g->opcode = c & 0x0f;
            g->st = ST_HDR1;
            i++;
            /* lws fails these too, but its close code depends on which of its
             * read paths saw the frame (1000 or 1002, by timing): decide here. */
            if (c & 0x70) {
                fail(g, LWS_CLOSE_STATUS_PROTOCOL_ERR, "reserved bits set (no extension was negotiated)");
                return frame_start;
            }
            if ((g->opcode >= 3 && g->opcode <= 7) || g->opcode >= 0xb) {
                fail(g, LWS_CLOSE_STATUS_PROTOCOL_ERR, "reserved opcode");
                return frame_start;
            }
            if ((g->opcode & 8) && !(c & 0x80)) {
                fail(g, LWS_CLOSE_STATUS_PROTOCOL_ERR, "fragmented control frame");
                return frame_start;
            }
            if (g->opcode == 0 && !g->in_msg) {
                fail(g, LWS_CLOSE_STATUS_PROTOCOL_ERR, "continuation frame without a message");
                return frame_start;
            }
            if ((g->opcode == 1 || g->opcode == 2) && g->in_msg) {
                fail(g, LWS_CLOSE_STATUS_PROTOCOL_ERR, "a new message inside a fragmented one");
                return frame_start;
            }
            break;
        case ST_HDR1:
            i++;
            if (!(c & 0x80)) {
                fail(g, LWS_CLOSE_STATUS_PROTOCOL_ERR, "unmasked frame");
                return frame_start;
            }
            g->len = c & 0x7f;
            g->ext_have = 0;
            g->mask_have = 0;
            if (g->len >= 126 && (g->opcode & 8)) {
                /* lws drops these without a close frame: answer them here */
                fail(g, LWS_CLOSE_STATUS_PROTOCOL_ERR, "control frame with an extended length");
                return frame_start;
            }
            if (g->len >= 126) {
                g->ext_need = g->len == 126 ? 2 : 8;
                g->len = 0;
                g->st = ST_EXT;
            } else {
                g->st = ST_MASK;
                if (frame_header_done(g) < 0)
                    return frame_start;
            }
            break;
        case ST_EXT:
            i++;
            g->len = g->len << 8 | c;
            if (++g->ext_have == g->ext_need) {
                g->st = ST_MASK;
                if (frame_header_done(g) < 0)
                    return frame_start;
            }
            break;
        case ST_MASK:
            i++;
            g->mask[g->mask_have++] = c;
            if (g->mask_have == 4) {
                g->left = g->len;
                if (g->opcode == 0x8 && g->len && !g->ctl) /* kept only while a close frame arrives */
                    g->ctl = malloc((size_t)g->len);
                g->st = ST_PAYLOAD;
                if (g->len == 0 && frame_done(g) < 0)
                    return frame_start;
            }
            break;
        case ST_PAYLOAD: {
            size_t take = n - i < g->left ? n - i : (size_t)g->left;
            if (g->opcode == 0x8 && g->ctl) /* keep the close payload (<= 125 bytes, checked above) */
                for (size_t k = 0; k < take; k++) {
                    size_t at = (size_t)(g->len - g->left) + k;
                    g->ctl[at] = p[i + k] ^ g->mask[at & 3];
                }
            i += take;
            g->left -= take;
            if (g->left == 0 && frame_done(g) < 0)
                return frame_start;
            break;
        }
        }
    }
    return n;
}

/* The definitions lws's calls resolve to (see wsguard.h). Both go straight
 * to the kernel; only watched sockets are looked at. */
ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    ssize_t n = syscall(SYS_recvfrom, fd, buf, len, flags, NULL, NULL);
    struct guard *g = slot(fd);
    if (!g || g->off || (flags & MSG_PEEK))
        return n;
    if (g->close_sent)
        return 0; /* our failing close is out: lws may end the connection now */
    if (g->fail) {
        errno = EAGAIN; /* the bytes after a violation are not lws's to parse */
        return -1;
    }
    if (n <= 0)
        return n;
    const uint8_t *p = buf;
    size_t have = (size_t)n;
    if (g->skip) {
        size_t k = have < g->skip ? have : g->skip;
        g->skip -= k;
        p += k;
        have -= k;
    }
    size_t ok = feed(g, p, have);
    if (!g->fail)
        return n;
    if (!g->ws) {
        /* Not (yet) a WebSocket: HTTP keep-alive, or frames pipelined before
         * the handshake answer. Stop watching rather than misjudge. */
        g->fail = 0;
        g->off = 1;
        return n;
    }
    lws_callback_on_writable(g->wsi);
    ok += (size_t)(p - (const uint8_t *)buf);
    if (ok == 0) {
        errno = EAGAIN;
        return -1;
    }
    return (ssize_t)ok;
}

ssize_t wsguard_send_data(int fd, const void *buf, size_t len)
{
    return sendto(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT, NULL, 0);
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    ssize_t n = syscall(SYS_sendto, fd, buf, len, flags, NULL, 0);
    struct guard *g = slot(fd);
    const uint8_t *b = buf;
    /* A close frame with a failure code went out whole: fail the connection
     * (RFC 6455 7.1.7) rather than wait up to 5 s for an acknowledgement. */
    if (g && g->ws && n > 0 && b[0] == 0x88)
        g->closed_out = 1;
    if (g && g->ws && n == (ssize_t)len && len >= 4 && b[0] == 0x88 && b[1] < 126) {
        unsigned code = (unsigned)(b[2] << 8 | b[3]);
        if (code != 1000 && code != 1001) {
            g->close_sent = 1;
            shutdown(fd, SHUT_RD);
        }
    }
    return n;
}
