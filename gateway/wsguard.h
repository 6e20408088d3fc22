/* wsguard: the RFC 6455 rules libwebsockets 4.1.6 (Debian 12) does not
 * enforce on what clients send, enforced on the bytes lws reads.
 *
 * lws 4.1.6 accepts unmasked client frames (5.1: the server MUST fail the
 * connection), drops control frames over 125 bytes without a close frame,
 * passes a 1-byte close payload and close codes >= 5000 through, and learns
 * a frame's or message's size only as its bytes arrive. Reserved bits and
 * opcodes, fragmented control frames and continuation errors it does fail,
 * but with 1000 or 1002 depending on which of its read paths saw the frame
 * (conformance cases 4.3 and 5.11 failed 1 run in ~50): those are decided
 * here too, so the code is always 1002 (the rules: wstrack.h). None of
 * this is reachable through its callbacks, so the gateway defines the
 * calls lws reads and writes a client with, and runs a frame tracker
 * (wstrack) over each watched client's byte stream:
 *   ws://   recv() and send() (the executable's definitions interpose on
 *           the ones lws calls from libc);
 *   wss://  SSL_read() and SSL_write() (the same, on the ones lws calls
 *           from libssl): the tracker sees the decrypted stream. There the
 *           request head is inside TLS, so it is followed here too: a bad
 *           handshake (wshead.h) is answered 400 / 426 over TLS and closed,
 *           as listen.c does for ws:// from the pre-read; a good upgrade's
 *           head is kept for the connect event (wsguard_take_head).
 * Sockets and SSL objects that are not watched pass straight through.
 *
 * On a violation the bytes from the offending frame on are withheld from
 * lws, and the client's next writable callback closes it with the code
 * (wsguard_failed). After any failing close frame goes out (lws's own
 * checks included), the read side is shut so lws stops waiting for a close
 * acknowledgement the peer may never send. */
#ifndef GW_GATEWAY_WSGUARD_H
#define GW_GATEWAY_WSGUARD_H

#include <stddef.h>
#include <sys/types.h>

struct lws;

/* The largest message (and so frame) a client may send: maxPackageSize. */
void wsguard_init(size_t max_message);
/* A new connection got this fd number: whatever was known about it is gone. */
void wsguard_reset(int fd);
/* Track fd from now on: its first head_len bytes are the HTTP request head
 * (measured by the pre-read), frames follow. */
void wsguard_watch(int fd, size_t head_len);
/* Track fd from now on as a wss client: lws reads it with SSL_read, its
 * request head first. client: the address a PROXY header named (for the
 * log), or NULL. */
void wsguard_watch_tls(int fd, const char *client);
/* For wss: 0 when the gateway's SSL_read/SSL_write are the ones lws calls
 * (checked, not assumed: a link or loader change would silently turn the
 * checks off); else -1 with why in err. */
int wsguard_tls_ready(char *err, size_t cap);
/* wss: the decrypted request head of fd's WebSocket upgrade, exactly as the
 * client sent it (*len bytes, malloc'd: the caller frees it), so the
 * connect event is built from the same bytes as over ws://; NULL when it
 * was not followed (over 16 KiB, HTTP keep-alive before the upgrade, out
 * of memory) or was taken already. */
char *wsguard_take_head(int fd, size_t *len);
/* The WebSocket handshake on fd completed: violations are acted on from now
 * (before, the connection may be plain HTTP). A socket not watched from its
 * start, or no longer followed (HTTP keep-alive before this upgrade, a head
 * over 16 KiB), is tracked from here (RFC 6455 4.1: a client sends no frame
 * before the handshake response, so the next byte starts a frame). */
void wsguard_established(int fd, struct lws *wsi);
void wsguard_forget(int fd);
/* The gateway fails fd itself (lws_close_reason, then -1 from a callback):
 * lws is given no more of its bytes, or a close frame the peer sent after
 * the bad data could replace our close code with its own. */
void wsguard_fail(int fd, int code, const char *why);
/* 1 once fd is being failed or a close frame went out on it: no data frame
 * may follow (RFC 6455 5.5.1); outq.c writes frames past lws and asks. */
int wsguard_closing(int fd);
/* A data write of outq's flush pass: straight to the kernel (sendto, no
 * SIGPIPE, never blocking), not looked at; -1 with errno as send(). Data
 * frames only: a close frame must go through lws, so send() sees it. */
ssize_t wsguard_send_data(int fd, const void *buf, size_t len);
/* The close code fd must be closed with (1002, 1007, 1009) and why, or 0. */
int wsguard_failed(int fd, const char **why);

#endif
