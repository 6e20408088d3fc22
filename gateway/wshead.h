/* wshead: is a raw HTTP request head a WebSocket opening handshake lws
 * should be given (RFC 6455 4.2.1)? Pure function over the head's bytes.
 *
 * lws 4.1.6 answers a handshake with no Sec-WebSocket-Key by closing the
 * socket without a word, and accepts any Sec-WebSocket-Version (old drafts
 * included) and a key that is not 16 bytes of base64. */
#ifndef GW_GATEWAY_WSHEAD_H
#define GW_GATEWAY_WSHEAD_H

#include <stddef.h>

/* For a head (through its CRLFCRLF) that asks for "Upgrade: websocket":
 * 0 when the key and version are right, else the HTTP status to answer
 * (400: key missing or not base64 of 16 bytes; 426: version other than 13)
 * with why in reason. A request that asks for no WebSocket upgrade is
 * lws's to answer (0). */
int wshead_check(const char *head, size_t len, char *reason, size_t cap);

/* 1 when the head asks for "Upgrade: websocket" (whatever else it holds). */
int wshead_upgrade(const char *head, size_t len);

/* The complete HTTP response for status (400 or 426) in out; its length. */
size_t wshead_response(int status, char *out, size_t cap);

#endif
