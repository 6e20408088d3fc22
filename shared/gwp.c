#include "gwp.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- big-endian helpers: the only place byte order is handled ---- */

static uint16_t get_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---- command table ---- */

const char *gwp_cmd_name(unsigned cmd)
{
    switch (cmd) {
    case GWP_CMD_ON_CONNECT: return "CMD_ON_CONNECT";
    case GWP_CMD_ON_MESSAGE: return "CMD_ON_MESSAGE";
    case GWP_CMD_ON_CLOSE: return "CMD_ON_CLOSE";
    case GWP_CMD_SEND_TO_ONE: return "CMD_SEND_TO_ONE";
    case GWP_CMD_SEND_TO_ALL: return "CMD_SEND_TO_ALL";
    case GWP_CMD_KICK: return "CMD_KICK";
    case GWP_CMD_DESTROY: return "CMD_DESTROY";
    case GWP_CMD_UPDATE_SESSION: return "CMD_UPDATE_SESSION";
    case GWP_CMD_GET_ALL_CLIENT_SESSIONS: return "CMD_GET_ALL_CLIENT_SESSIONS";
    case GWP_CMD_IS_ONLINE: return "CMD_IS_ONLINE";
    case GWP_CMD_BIND_UID: return "CMD_BIND_UID";
    case GWP_CMD_UNBIND_UID: return "CMD_UNBIND_UID";
    case GWP_CMD_SEND_TO_UID: return "CMD_SEND_TO_UID";
    case GWP_CMD_GET_CLIENT_ID_BY_UID: return "CMD_GET_CLIENT_ID_BY_UID";
    case GWP_CMD_BATCH_GET_CLIENT_ID_BY_UID: return "CMD_BATCH_GET_CLIENT_ID_BY_UID";
    case GWP_CMD_JOIN_GROUP: return "CMD_JOIN_GROUP";
    case GWP_CMD_LEAVE_GROUP: return "CMD_LEAVE_GROUP";
    case GWP_CMD_SEND_TO_GROUP: return "CMD_SEND_TO_GROUP";
    case GWP_CMD_GET_CLIENT_SESSIONS_BY_GROUP: return "CMD_GET_CLIENT_SESSIONS_BY_GROUP";
    case GWP_CMD_GET_CLIENT_COUNT_BY_GROUP: return "CMD_GET_CLIENT_COUNT_BY_GROUP";
    case GWP_CMD_SELECT: return "CMD_SELECT";
    case GWP_CMD_GET_GROUP_ID_LIST: return "CMD_GET_GROUP_ID_LIST";
    case GWP_CMD_UNGROUP: return "CMD_UNGROUP";
    case GWP_CMD_BATCH_GET_CLIENT_COUNT_BY_GROUP: return "CMD_BATCH_GET_CLIENT_COUNT_BY_GROUP";
    case GWP_CMD_WORKER_CONNECT: return "CMD_WORKER_CONNECT";
    case GWP_CMD_PING: return "CMD_PING";
    case GWP_CMD_GATEWAY_CLIENT_CONNECT: return "CMD_GATEWAY_CLIENT_CONNECT";
    case GWP_CMD_GET_SESSION_BY_CLIENT_ID: return "CMD_GET_SESSION_BY_CLIENT_ID";
    case GWP_CMD_SET_SESSION: return "CMD_SET_SESSION";
    case GWP_CMD_ON_WEBSOCKET_CONNECT: return "CMD_ON_WEBSOCKET_CONNECT";
    default: return NULL;
    }
}

int gwp_cmd_has_reply(unsigned cmd)
{
    switch (cmd) {
    case GWP_CMD_GET_ALL_CLIENT_SESSIONS:
    case GWP_CMD_IS_ONLINE:
    case GWP_CMD_GET_CLIENT_ID_BY_UID:
    case GWP_CMD_BATCH_GET_CLIENT_ID_BY_UID:
    case GWP_CMD_GET_CLIENT_SESSIONS_BY_GROUP:
    case GWP_CMD_GET_CLIENT_COUNT_BY_GROUP:
    case GWP_CMD_SELECT:
    case GWP_CMD_GET_GROUP_ID_LIST:
    case GWP_CMD_BATCH_GET_CLIENT_COUNT_BY_GROUP:
    case GWP_CMD_GET_SESSION_BY_CLIENT_ID:
        return 1;
    default:
        return 0;
    }
}

/* ---- errors ---- */

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return GWP_ERROR;
}

/* ---- frames ---- */

void gwp_header_pack(uint8_t out[GWP_HEADER_LEN], const struct gwp_header *h)
{
    put_be32(out + 0, h->pack_len);
    out[4] = h->cmd;
    put_be32(out + 5, h->local_ip);
    put_be16(out + 9, h->local_port);
    put_be32(out + 11, h->client_ip);
    put_be16(out + 15, h->client_port);
    put_be32(out + 17, h->connection_id);
    out[21] = h->flag;
    put_be16(out + 22, h->gateway_port);
    put_be32(out + 24, h->ext_len);
}

void gwp_header_unpack(struct gwp_header *h, const uint8_t in[GWP_HEADER_LEN])
{
    h->pack_len = get_be32(in + 0);
    h->cmd = in[4];
    h->local_ip = get_be32(in + 5);
    h->local_port = get_be16(in + 9);
    h->client_ip = get_be32(in + 11);
    h->client_port = get_be16(in + 15);
    h->connection_id = get_be32(in + 17);
    h->flag = in[21];
    h->gateway_port = get_be16(in + 22);
    h->ext_len = get_be32(in + 24);
}

int gwp_decode(const uint8_t *buf, size_t len, uint32_t max_pack_len, struct gwp_frame *out,
               size_t *used, char *err, size_t errlen)
{
    if (len < 4)
        return GWP_NEED_MORE;
    /* Judge pack_len from its 4 bytes alone: a peer announcing a huge or
     * impossible frame is refused before we buffer anything on its word
     * (PHP waits forever on 0 and decodes garbage for 1..27). */
    uint32_t pack_len = get_be32(buf);
    if (pack_len < GWP_HEADER_LEN)
        return fail(err, errlen, "GatewayProtocol pack_len %" PRIu32 " is shorter than the %u-byte header",
                    pack_len, GWP_HEADER_LEN);
    if (pack_len > max_pack_len)
        return fail(err, errlen, "GatewayProtocol pack_len %" PRIu32 " exceeds the limit %" PRIu32,
                    pack_len, max_pack_len);
    if (len < GWP_HEADER_LEN)
        return GWP_NEED_MORE;
    /* Likewise ext_len, as soon as the header is in; PHP would silently
     * truncate ext_data and hand on an empty body. */
    uint32_t ext_len = get_be32(buf + 24);
    if (ext_len > pack_len - GWP_HEADER_LEN)
        return fail(err, errlen,
                    "GatewayProtocol ext_len %" PRIu32 " exceeds the %" PRIu32 " bytes after the header",
                    ext_len, pack_len - GWP_HEADER_LEN);
    if (len < pack_len)
        return GWP_NEED_MORE;

    gwp_header_unpack(&out->hdr, buf);
    out->ext = buf + GWP_HEADER_LEN;
    out->ext_len = ext_len;
    out->body = out->ext + ext_len;
    out->body_len = pack_len - GWP_HEADER_LEN - ext_len;
    *used = pack_len;
    return GWP_OK;
}

int gwp_encode(struct buf *out, const struct gwp_header *h, const void *ext, size_t ext_len,
               const void *body, size_t body_len)
{
    /* Two steps so that neither comparison can wrap, whatever size_t is. */
    if (ext_len > UINT32_MAX - GWP_HEADER_LEN || body_len > UINT32_MAX - GWP_HEADER_LEN - ext_len)
        return -EOVERFLOW;
    size_t total = GWP_HEADER_LEN + ext_len + body_len;

    /* One reservation for the whole frame keeps `out` unchanged on failure. */
    uint8_t *p = buf_reserve(out, total);
    if (!p)
        return -ENOMEM;
    struct gwp_header hh = *h;
    hh.pack_len = (uint32_t)total;
    hh.ext_len = (uint32_t)ext_len;
    gwp_header_pack(p, &hh);
    if (ext_len)
        memcpy(p + GWP_HEADER_LEN, ext, ext_len);
    if (body_len)
        memcpy(p + GWP_HEADER_LEN + ext_len, body, body_len);
    buf_commit(out, total);
    return 0;
}

/* ---- replies ---- */

int gwp_reply_encode(struct buf *out, const void *payload, size_t len)
{
    if (len > UINT32_MAX)
        return -EOVERFLOW;
    if (len > SIZE_MAX - GWP_REPLY_PREFIX_LEN) /* only reachable with a 32-bit size_t */
        return -ENOMEM;
    uint8_t *p = buf_reserve(out, GWP_REPLY_PREFIX_LEN + len);
    if (!p)
        return -ENOMEM;
    put_be32(p, (uint32_t)len);
    if (len)
        memcpy(p + GWP_REPLY_PREFIX_LEN, payload, len);
    buf_commit(out, GWP_REPLY_PREFIX_LEN + len);
    return 0;
}

int gwp_reply_decode(const uint8_t *buf, size_t len, uint32_t max_len, const uint8_t **payload,
                     size_t *payload_len, size_t *used, char *err, size_t errlen)
{
    if (len < GWP_REPLY_PREFIX_LEN)
        return GWP_NEED_MORE;
    uint32_t n = get_be32(buf);
    if (n > max_len)
        return fail(err, errlen, "reply length %" PRIu32 " exceeds the limit %" PRIu32, n, max_len);
    /* In 64 bits: 4 + n can exceed a 32-bit size_t. */
    if ((uint64_t)len < (uint64_t)GWP_REPLY_PREFIX_LEN + n)
        return GWP_NEED_MORE;
    *payload = buf + GWP_REPLY_PREFIX_LEN;
    *payload_len = n;
    *used = GWP_REPLY_PREFIX_LEN + (size_t)n;
    return GWP_OK;
}
