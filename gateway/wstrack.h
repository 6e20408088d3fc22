/* wstrack: follows the frame headers of one client's WebSocket byte stream
 * (client to server, RFC 6455 5.2) and finds the first frame that breaks a
 * rule libwebsockets 4.1.6 does not enforce, or enforces with a close code
 * that depends on its read path (see wsguard.h). A pure codec: bytes in,
 * a verdict out; no sockets. wsguard.c runs one per watched client, fed
 * from recv() for ws:// and from SSL_read() for wss://.
 *
 * What fails (close code, why):
 *   1002  reserved bits (no extension is negotiated), reserved opcodes,
 *         a fragmented control frame, a continuation with no message open,
 *         a new data message inside a fragmented one, an unmasked frame,
 *         a control frame over 125 bytes or in an extended length form,
 *         a close payload of 1 byte, a close code not allowed on the wire
 *   1007  a close reason that is not UTF-8
 *   1009  a frame or message over max_message, decided at the header */
#ifndef GW_GATEWAY_WSTRACK_H
#define GW_GATEWAY_WSTRACK_H

#include <stddef.h>
#include <stdint.h>

struct wstrack {
    uint64_t max;             /* the largest message a client may send */
    uint64_t len, left;       /* this frame: announced length, bytes still to come */
    uint64_t msg_len;         /* data bytes of the message being received */
    uint8_t *ctl;             /* a close frame's payload, unmasked, while it arrives (<= 125 bytes) */
    const char *why;
    int fail;                 /* close code once failed, else 0 */
    uint8_t st, b0, ext_need, ext_have, mask_have, opcode;
    uint8_t mask[4];
    unsigned in_msg : 1;      /* a fragmented data message is open (its last frame not yet seen) */
};

/* A tracker at the start of a frame. */
void wstrack_init(struct wstrack *t, uint64_t max_message);
/* Feeds the next n bytes of the stream. Returns n when none of them breaks
 * a rule; else the offset in p where the offending frame starts (0 when it
 * started in an earlier call), with t->fail and t->why set. Once failed, a
 * tracker must not be fed again. */
size_t wstrack_feed(struct wstrack *t, const void *p, size_t n);
/* Frees what the tracker holds (a partial close payload). */
void wstrack_free(struct wstrack *t);

#endif
