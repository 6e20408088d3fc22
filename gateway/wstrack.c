#include "wstrack.h"

#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* RFC 6455 7.4.1 close codes. */
enum { PROTOCOL_ERROR = 1002, INVALID_PAYLOAD = 1007, MESSAGE_TOO_BIG = 1009 };

enum { ST_HDR0, ST_HDR1, ST_EXT, ST_MASK, ST_PAYLOAD };

void wstrack_init(struct wstrack *t, uint64_t max_message)
{
    memset(t, 0, sizeof *t);
    t->max = max_message;
}

void wstrack_free(struct wstrack *t)
{
    free(t->ctl);
    t->ctl = NULL;
}

static int fail(struct wstrack *g, int code, const char *why)
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

static int frame_header_done(struct wstrack *g)
{
    int control = g->opcode & 8;
    if (control && g->len > 125)
        return fail(g, PROTOCOL_ERROR, "control frame over 125 bytes");
    if (!control) {
        if (g->opcode != 0)
            g->msg_len = 0; /* a new message (lws refuses one inside another) */
        if (g->len > g->max || g->msg_len + g->len > g->max)
            return fail(g, MESSAGE_TOO_BIG, "message over maxPackageSize");
        g->msg_len += g->len;
    }
    return 0;
}

static int frame_done(struct wstrack *g)
{
    if (g->opcode == 0x8) {
        int rc = 0;
        if (!g->ctl && g->len) /* out of memory: lws' own close checks apply */
            goto done;
        if (g->len == 1)
            rc = fail(g, PROTOCOL_ERROR, "close payload of 1 byte");
        else if (g->len >= 2 && !close_code_ok((unsigned)(g->ctl[0] << 8 | g->ctl[1])))
            rc = fail(g, PROTOCOL_ERROR, "invalid close code");
        else if (g->len > 2 && !utf8_valid(g->ctl + 2, (size_t)g->len - 2))
            rc = fail(g, INVALID_PAYLOAD, "close reason not UTF-8");
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

size_t wstrack_feed(struct wstrack *g, const void *data, size_t n)
{
    const uint8_t *p = data;
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
                fail(g, PROTOCOL_ERROR, "reserved bits set (no extension was negotiated)");
                return frame_start;
            }
            if ((g->opcode >= 3 && g->opcode <= 7) || g->opcode >= 0xb) {
                fail(g, PROTOCOL_ERROR, "reserved opcode");
                return frame_start;
            }
            if ((g->opcode & 8) && !(c & 0x80)) {
                fail(g, PROTOCOL_ERROR, "fragmented control frame");
                return frame_start;
            }
            if (g->opcode == 0 && !g->in_msg) {
                fail(g, PROTOCOL_ERROR, "continuation frame without a message");
                return frame_start;
            }
            if ((g->opcode == 1 || g->opcode == 2) && g->in_msg) {
                fail(g, PROTOCOL_ERROR, "a new message inside a fragmented one");
                return frame_start;
            }
            break;
        case ST_HDR1:
            i++;
            if (!(c & 0x80)) {
                fail(g, PROTOCOL_ERROR, "unmasked frame");
                return frame_start;
            }
            g->len = c & 0x7f;
            g->ext_have = 0;
            g->mask_have = 0;
            if (g->len >= 126 && (g->opcode & 8)) {
                /* lws drops these without a close frame: answer them here */
                fail(g, PROTOCOL_ERROR, "control frame with an extended length");
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
