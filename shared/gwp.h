/* gwp: GatewayProtocol codec (spec §3) — the 28-byte-header frames spoken on
 * the gateway's internal port, and the 4-byte-length replies to queries.
 *
 * Pure functions: no sockets, no logging, no global state. Decoders never
 * allocate and never read past `len`; what they hand back points into the
 * caller's input (borrowed). Errors carry a message written into a caller
 * buffer so the caller decides how (and whether) to log it.
 *
 * Stream use, one connection:
 *
 *     buf_append(&in, bytes, n);                  // after every read()
 *     while (buf_avail(&in) > 0) {
 *         r = gwp_decode(buf_head(&in), buf_avail(&in), max, &f, &used, err, sizeof err);
 *         if (r != GWP_OK) break;                 // NEED_MORE: wait; ERROR: close
 *         handle(&f);                             // f points into `in`
 *         buf_consume(&in, used);                 // invalidates f
 *     }
 *
 * (The buf_avail() guard keeps buf_head() off an empty buffer, whose data
 * pointer is NULL.) */
#ifndef GW_GWP_H
#define GW_GWP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Fixed part of every frame; pack_len counts it. */
#define GWP_HEADER_LEN 28u
/* Length prefix of a reply; the reply length does NOT count it. */
#define GWP_REPLY_PREFIX_LEN 4u
/* Workerman's default maxPackageSize (§3.3). */
#define GWP_DEFAULT_MAX_PACK_LEN 10485760u

/* Decoder results. */
#define GWP_OK 0
#define GWP_NEED_MORE 1
#define GWP_ERROR (-1)

/* Header `flag` bits (§3.2). Other bits are carried through untouched. */
#define GWP_FLAG_BODY_IS_SCALAR 0x01u /* body is raw bytes, not serialize() output */
#define GWP_FLAG_NOT_CALL_ENCODE 0x02u /* gateway writes body to the client verbatim */

/* Every command number in use (§3.5); every other u8 value is unused. */
enum gwp_cmd {
    GWP_CMD_ON_CONNECT = 1,
    GWP_CMD_ON_MESSAGE = 3,
    GWP_CMD_ON_CLOSE = 4,
    GWP_CMD_SEND_TO_ONE = 5,
    GWP_CMD_SEND_TO_ALL = 6,
    GWP_CMD_KICK = 7,
    GWP_CMD_DESTROY = 8,
    GWP_CMD_UPDATE_SESSION = 9,
    GWP_CMD_GET_ALL_CLIENT_SESSIONS = 10,
    GWP_CMD_IS_ONLINE = 11,
    GWP_CMD_BIND_UID = 12,
    GWP_CMD_UNBIND_UID = 13,
    GWP_CMD_SEND_TO_UID = 14,
    GWP_CMD_GET_CLIENT_ID_BY_UID = 15,
    GWP_CMD_BATCH_GET_CLIENT_ID_BY_UID = 16,
    GWP_CMD_JOIN_GROUP = 20,
    GWP_CMD_LEAVE_GROUP = 21,
    GWP_CMD_SEND_TO_GROUP = 22,
    GWP_CMD_GET_CLIENT_SESSIONS_BY_GROUP = 23,
    GWP_CMD_GET_CLIENT_COUNT_BY_GROUP = 24,
    GWP_CMD_SELECT = 25,
    GWP_CMD_GET_GROUP_ID_LIST = 26,
    GWP_CMD_UNGROUP = 27,
    GWP_CMD_BATCH_GET_CLIENT_COUNT_BY_GROUP = 28,
    GWP_CMD_WORKER_CONNECT = 200,
    GWP_CMD_PING = 201,
    GWP_CMD_GATEWAY_CLIENT_CONNECT = 202,
    GWP_CMD_GET_SESSION_BY_CLIENT_ID = 203,
    GWP_CMD_SET_SESSION = 204,
    GWP_CMD_ON_WEBSOCKET_CONNECT = 205,
};

/* The PHP constant name ("CMD_ON_CONNECT", …) as a static string, or NULL
 * for an unused number — the gateway then logs the number and ignores it. */
const char *gwp_cmd_name(unsigned cmd);
/* 1 if the gateway answers this command with exactly one reply (§3.8). */
int gwp_cmd_has_reply(unsigned cmd);

/* The 28 header bytes, host order. IPs are IPv4 as PHP ip2long gives them
 * (172.16.0.11 == 0xac10000b). */
struct gwp_header {
    uint32_t pack_len;      /* whole frame, header included */
    uint8_t cmd;            /* enum gwp_cmd, or an unused number */
    uint32_t local_ip;      /* gateway lanIp */
    uint16_t local_port;    /* gateway lanPort (internal port) */
    uint32_t client_ip;     /* end user; 0 when not IPv4 */
    uint16_t client_port;
    uint32_t connection_id;
    uint8_t flag;           /* GWP_FLAG_* */
    uint16_t gateway_port;  /* gateway's client-facing listen port */
    uint32_t ext_len;
};

/* A decoded frame. ext and body are BORROWED from the buffer given to
 * gwp_decode: valid only while those bytes are (for a struct buf: until the
 * next buf_consume/buf_append on it). Empty parts are never NULL: they point
 * where they would start (body possibly just past the frame's last byte). */
struct gwp_frame {
    struct gwp_header hdr;
    const uint8_t *ext;
    size_t ext_len;         /* == hdr.ext_len */
    const uint8_t *body;
    size_t body_len;        /* hdr.pack_len - 28 - ext_len */
};

/* Decodes the first frame of buf[0..len). buf is only read (it may be NULL
 * when len is 0). max_pack_len is the largest pack_len accepted.
 *
 * Returns GWP_OK: *out holds a frame of *used bytes (pointers into buf).
 *         GWP_NEED_MORE: the frame is incomplete; nothing is written.
 *         GWP_ERROR: the stream is corrupt (pack_len < 28 or > max_pack_len,
 *           known from the first 4 bytes; ext_len > pack_len - 28, known from
 *           the first 28) — close the connection; a message goes to err.
 * err may be NULL or errlen 0; the message is truncated to fit otherwise. */
int gwp_decode(const uint8_t *buf, size_t len, uint32_t max_pack_len, struct gwp_frame *out,
               size_t *used, char *err, size_t errlen);

/* Writes the 28 header bytes exactly as given, pack_len and ext_len included
 * (gwp_encode is the one that computes them). */
void gwp_header_pack(uint8_t out[GWP_HEADER_LEN], const struct gwp_header *h);
/* Reads 28 header bytes; no validation. */
void gwp_header_unpack(struct gwp_header *h, const uint8_t in[GWP_HEADER_LEN]);

/* Appends one frame: h's fields, except that pack_len and ext_len are
 * computed from ext_len/body_len (h->pack_len and h->ext_len are ignored).
 * ext/body are only read; they may be NULL when their length is 0 and must
 * not point into `out` (appending may move its storage).
 * Returns 0, -EOVERFLOW when the frame would not fit the u32 pack_len, or
 * -ENOMEM. On error `out` is unchanged. No max_pack_len check: a frame above
 * the peer's limit (10 MiB by default) makes the peer drop the link. */
int gwp_encode(struct buf *out, const struct gwp_header *h, const void *ext, size_t ext_len,
               const void *body, size_t body_len);

/* Appends a reply: u32 big-endian len, then the payload (only read; may be
 * NULL when len is 0; must not point into `out`). Returns 0, -EOVERFLOW when
 * len exceeds u32, or -ENOMEM; `out` is unchanged on error. */
int gwp_reply_encode(struct buf *out, const void *payload, size_t len);

/* Decodes the first reply of buf[0..len), same conventions as gwp_decode:
 * GWP_OK sets *payload (BORROWED from buf), *payload_len and *used (4 +
 * payload_len); GWP_NEED_MORE writes nothing; GWP_ERROR when the announced
 * length exceeds max_len (known from the first 4 bytes). */
int gwp_reply_decode(const uint8_t *buf, size_t len, uint32_t max_len, const uint8_t **payload,
                     size_t *payload_len, size_t *used, char *err, size_t errlen);

#endif
