/* wsc: a small blocking RFC 6455 client for tests: real handshake (the
 * Sec-WebSocket-Accept is checked), masked frames out, unmasked frames in. */
#ifndef GW_WSC_H
#define GW_WSC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WSC_TEXT 0x1
#define WSC_BINARY 0x2
#define WSC_CLOSE 0x8
#define WSC_PING 0x9
#define WSC_PONG 0xa

/* Connects to 127.0.0.1:port and performs the handshake for `path` (may hold
 * a query) with extra header lines (each ending in \r\n, may be NULL).
 * Returns the fd, or -1. */
int wsc_connect(int port, const char *path, const char *extra_headers, int timeout_ms);
/* The same with the socket's receive buffer set to rcvbuf bytes before it
 * connects (a client that can hold little: the server's writes back up). */
int wsc_connect_rcvbuf(int port, const char *path, int rcvbuf, int timeout_ms);
/* Sends one masked frame with FIN set. 0 or -1. */
int wsc_send(int fd, int opcode, const void *data, size_t len);
/* Sends a message split into fragments of at most frag bytes. */
int wsc_send_fragmented(int fd, int opcode, const void *data, size_t len, size_t frag);
/* Reads one complete message (fragments joined; pings are answered and
 * skipped). Returns the payload length with a malloc'd *out (NUL-terminated)
 * and the opcode in *opcode; -1 on timeout/error, -2 on EOF without a close
 * frame. A close frame returns its payload with opcode WSC_CLOSE. */
ssize_t wsc_recv(int fd, uint8_t **out, int *opcode, int timeout_ms);
/* Convenience: expect one text message equal to want. 1 if so, 0 otherwise (prints what came). */
int wsc_expect_text(int fd, const char *want, int timeout_ms);
/* 1 if nothing arrives within ms. */
int wsc_quiet(int fd, int ms);

#endif
