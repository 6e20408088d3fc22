/* wsconf: a WebSocket conformance suite after the Autobahn TestSuite's case
 * list (sections 1-7 and 9: framing, ping/pong, reserved bits, opcodes,
 * fragmentation, UTF-8, close handling, limits) plus client masking, driven
 * by a raw-socket client that builds every frame byte by byte.
 *
 *   wsconf gateway [RESULTS]      start register + gateway + business (apps/echo)
 *   wsconf gateway-wss [RESULTS]  the same with the gateway on wss:// (a
 *                                 certificate made for the run); every case
 *                                 is spoken over TLS (OpenSSL)
 *   wsconf reference [RESULTS]    start tests/conformance/echo_server.py
 *                                 (Debian's python3-websockets)
 *
 * Each case sends its frames, waits for the replies it expects (pongs,
 * echoed messages; pongs after the last expected message are not awaited),
 * then closes with 1000 when the case expects the connection to stay open,
 * and records what came back on the wire as a verdict string:
 *
 *   M   a message whose payload is the expected one (M! another payload)
 *   P   a pong with the expected payload (P! another payload)
 *   Cn  a close frame with code n (C- without a code, C? with 1 byte)
 *   EOF the TCP connection ended without a close frame
 *   T   nothing more within the deadline (the server neither answered nor closed)
 *   Hn  the HTTP status n answering a handshake (section 0: the opening
 *       handshake; after a 101 the case goes on with its frames)
 *
 * A case passes when the verdict is one of the case's allowed verdicts ("|"
 * separates alternatives the RFC leaves open). After every case a bystander
 * client opened at the start must still get its echo and the server process
 * must still be alive. The payloads start with "echo:" (apps/echo answers
 * only those; the reference echoes everything). The gateway answers a
 * binary message as text when it is valid UTF-8 (GatewayWorker's model has
 * no binary flag on ON_MESSAGE), so only payloads are compared.
 *
 * Results go to stdout and, when RESULTS is given, as "id<TAB>verdict<TAB>ok"
 * lines to that file (tests/conformance/compare.sh joins two of them). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "launch.h"
#include "tu.h"
#include "wsc.h"

#define MAXPKG 131072 /* the gateway's maxPackageSize and the reference's max_size */
#define MAX_FRAMES 160
#define MAX_EXP 12
#define CASE_MS 8000

struct frame {
    uint8_t b0;         /* FIN | RSV | opcode, as sent */
    int unmasked;       /* send without mask bit and key */
    uint8_t *data;
    size_t len;
    uint64_t claim;     /* when non-zero: the length the header announces */
    int len16;          /* force the 16-bit length form (control frames > 125) */
    int chop;           /* write the frame one byte per write */
    int sync;           /* after sending, wait for one expected reply */
};

struct wcase {
    const char *id, *what, *want; /* want: allowed verdicts, "|"-separated */
    const char *head;             /* section 0: this request head instead of a good one */
    const char *pre_http;         /* ... after this plain HTTP request (keep-alive) */
    int head_chop;                /* ... written one byte per write */
    struct frame f[MAX_FRAMES];
    int nf;
    struct {
        uint8_t *data;
        size_t len;
    } msg[MAX_EXP], pong[MAX_EXP];
    int nmsg, npong;
    int sent_close;
};

static struct wcase cases[128];
static int ncases;
static struct wcase *cur;

/* ---- building cases ---- */

static uint8_t *dup_bytes(const void *p, size_t n)
{
    uint8_t *d = malloc(n + 1);
    memcpy(d, p, n);
    d[n] = 0;
    return d;
}

static void begin(const char *id, const char *what, const char *want)
{
    cur = &cases[ncases++];
    memset(cur, 0, sizeof *cur);
    cur->id = id;
    cur->what = what;
    cur->want = want;
}

static struct frame *frame(uint8_t b0, const void *data, size_t len)
{
    struct frame *f = &cur->f[cur->nf++];
    memset(f, 0, sizeof *f);
    f->b0 = b0;
    f->data = dup_bytes(data, len);
    f->len = len;
    if ((b0 & 0x0f) == WSC_CLOSE)
        cur->sent_close = 1;
    return f;
}

static void want_msg(const void *data, size_t len)
{
    cur->msg[cur->nmsg].data = dup_bytes(data, len);
    cur->msg[cur->nmsg++].len = len;
}

static void want_pong(const void *data, size_t len)
{
    cur->pong[cur->npong].data = dup_bytes(data, len);
    cur->pong[cur->npong++].len = len;
}

/* "echo:" followed by n bytes of c. */
static uint8_t *echo_fill(size_t n, char c, size_t *len)
{
    *len = 5 + n;
    uint8_t *p = malloc(*len + 1);
    memcpy(p, "echo:", 5);
    memset(p + 5, c, n);
    return p;
}

/* One whole text message expected back. */
static void text_echo(const char *s)
{
    frame(0x80 | WSC_TEXT, s, strlen(s));
    want_msg(s, strlen(s));
}

static void close_code(uint16_t code, const char *reason)
{
    uint8_t p[200];
    size_t rl = reason ? strlen(reason) : 0;
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    if (rl)
        memcpy(p + 2, reason, rl);
    frame(0x80 | WSC_CLOSE, p, 2 + rl);
}

#define FIN 0x80
#define RSV1 0x40
#define RSV2 0x20
#define RSV3 0x10

static void build_cases(void)
{
    size_t n;
    uint8_t *p;
    static char idbuf[64][16];
    int idn = 0;

    /* 0 opening handshake (RFC 6455 4.2.1, 4.2.2) */
#define REQ "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    begin("0.1", "handshake without Sec-WebSocket-Key", "H400 EOF");
    cur->head = REQ "Sec-WebSocket-Version: 13\r\n\r\n";
    begin("0.2", "Sec-WebSocket-Key not 16 bytes of base64", "H400 EOF");
    cur->head = REQ "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n";
    /* 4.2.2: "an appropriate HTTP error code (such as 426 Upgrade Required)" */
    begin("0.3", "Sec-WebSocket-Version 8", "H426 EOF|H400 EOF");
    cur->head = REQ "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n";
    begin("0.4", "handshake without a key, one byte per write", "H400 EOF");
    cur->head = REQ "Sec-WebSocket-Version: 13\r\n\r\n";
    cur->head_chop = 1;
    begin("0.5", "good handshake one byte per write, then a message", "H101 M C1000");
    cur->head = REQ "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    cur->head_chop = 1;
    text_echo("echo:after a slow handshake");
    /* Frames are judged from the handshake on even when the connection
     * served plain HTTP first. The reference serves no plain HTTP (426). */
    begin("0.6", "HTTP request, upgrade on the same connection, unmasked frame", "H200 H101 C1002|H426 EOF");
    cur->pre_http = "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n";
    cur->head = REQ "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    frame(FIN | WSC_TEXT, "echo:unmasked", 13)->unmasked = 1;
#undef REQ

    /* 1 framing */
    begin("1.1.1", "text, empty application payload", "M C1000");
    text_echo("echo:");
    begin("1.1.2", "text, 125-byte payload (7-bit length)", "M C1000");
    p = echo_fill(120, 'a', &n);
    frame(FIN | WSC_TEXT, p, n);
    want_msg(p, n);
    free(p);
    begin("1.1.3", "text, 126-byte payload (16-bit length)", "M C1000");
    p = echo_fill(121, 'b', &n);
    frame(FIN | WSC_TEXT, p, n);
    want_msg(p, n);
    free(p);
    begin("1.1.4", "text, 65535-byte payload", "M C1000");
    p = echo_fill(65530, 'c', &n);
    frame(FIN | WSC_TEXT, p, n);
    want_msg(p, n);
    free(p);
    begin("1.1.5", "text, 65536-byte payload (64-bit length)", "M C1000");
    p = echo_fill(65531, 'd', &n);
    frame(FIN | WSC_TEXT, p, n);
    want_msg(p, n);
    free(p);
    begin("1.1.6", "text, 1000 bytes written one byte per write", "M C1000");
    p = echo_fill(995, 'e', &n);
    frame(FIN | WSC_TEXT, p, n)->chop = 1;
    want_msg(p, n);
    free(p);
    begin("1.2.1", "binary, 125 bytes (0x00..0xfe)", "M C1000");
    {
        uint8_t b[256];
        memcpy(b, "echo:", 5);
        for (int i = 5; i < 256; i++)
            b[i] = (uint8_t)(i * 7);
        frame(FIN | WSC_BINARY, b, 125);
        want_msg(b, 125);
        begin("1.2.2", "binary, 256 bytes (16-bit length)", "M C1000");
        frame(FIN | WSC_BINARY, b, 256);
        want_msg(b, 256);
    }
    begin("1.2.3", "binary, 65536 bytes", "M C1000");
    p = echo_fill(65531, '\xff', &n);
    frame(FIN | WSC_BINARY, p, n);
    want_msg(p, n);
    free(p);

    /* 2 ping/pong */
    begin("2.1", "ping, no payload", "P C1000");
    frame(FIN | WSC_PING, "", 0);
    want_pong("", 0);
    begin("2.2", "ping, 125-byte text payload", "P C1000");
    p = echo_fill(120, 'p', &n);
    frame(FIN | WSC_PING, p, n);
    want_pong(p, n);
    free(p);
    begin("2.3", "ping, binary payload", "P C1000");
    frame(FIN | WSC_PING, "\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 8);
    want_pong("\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 8);
    begin("2.4", "ping, 126-byte payload (control frame over 125)", "C1002");
    p = echo_fill(121, 'q', &n);
    frame(FIN | WSC_PING, p, n);
    free(p);
    /* RFC 6455 5.2 asks senders for the minimal length form; receivers may
     * accept the longer one or refuse it as a control frame length > 125. */
    begin("2.5", "ping, 5 bytes in the 16-bit length form", "C1002|P C1000");
    frame(FIN | WSC_PING, "hello", 5)->len16 = 1;
    want_pong("hello", 5);
    begin("2.6", "unsolicited pong, then a message", "M C1000");
    frame(FIN | WSC_PONG, "unsolicited", 11);
    text_echo("echo:after pong");
    begin("2.7", "unsolicited pong, then ping", "P C1000");
    frame(FIN | WSC_PONG, "x", 1);
    frame(FIN | WSC_PING, "ping!", 5);
    want_pong("ping!", 5);
    /* RFC 6455 5.5.3: a pong may answer only the latest of several pings;
     * lws answers one ping at a time and drops those that arrive while its
     * pong is pending. */
    begin("2.8", "ten pings in one write, then a message", "P P P P P P P P P P M C1000|P+ M C1000");
    for (int i = 0; i < 10; i++) {
        char b[16];
        int bl = snprintf(b, sizeof b, "ping-%d", i);
        frame(FIN | WSC_PING, b, (size_t)bl);
        want_pong(b, (size_t)bl);
    }
    text_echo("echo:after pings");
    begin("2.9", "ping written one byte per write", "P C1000");
    frame(FIN | WSC_PING, "chopped ping", 12)->chop = 1;
    want_pong("chopped ping", 12);
    begin("2.10", "close frame over 125 bytes (16-bit length)", "C1002");
    {
        uint8_t b[130] = {0x03, 0xe8};
        memset(b + 2, 'r', sizeof b - 2);
        frame(FIN | WSC_CLOSE, b, sizeof b);
    }

    /* 3 reserved bits */
    begin("3.1", "text with RSV1", "C1002");
    frame(FIN | RSV1 | WSC_TEXT, "echo:rsv1", 9);
    begin("3.2", "a message, then text with RSV2", "M C1002");
    text_echo("echo:before rsv2");
    cur->f[0].sync = 1;
    frame(FIN | RSV2 | WSC_TEXT, "echo:rsv2", 9);
    begin("3.3", "a message, then text with RSV3 in the same write", "M C1002|C1002");
    text_echo("echo:before rsv3");
    frame(FIN | RSV3 | WSC_TEXT, "echo:rsv3", 9);
    begin("3.4", "ping with RSV1|RSV2|RSV3", "C1002");
    frame(FIN | RSV1 | RSV2 | RSV3 | WSC_PING, "x", 1);
    begin("3.5", "binary with RSV1|RSV3", "C1002");
    frame(FIN | RSV1 | RSV3 | WSC_BINARY, "echo:\x01\x02", 7);
    begin("3.6", "close with RSV2", "C1002");
    frame(FIN | RSV2 | WSC_CLOSE, "\x03\xe8", 2);

    /* 4 opcodes */
    static const uint8_t bad_ops[] = {3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf};
    for (size_t i = 0; i < sizeof bad_ops; i++) {
        snprintf(idbuf[idn], sizeof idbuf[idn], "4.%s.%zu", bad_ops[i] < 8 ? "1" : "2", i < 5 ? i + 1 : i - 4);
        begin(idbuf[idn++], bad_ops[i] < 8 ? "reserved data opcode" : "reserved control opcode", "C1002");
        frame((uint8_t)(FIN | bad_ops[i]), i & 1 ? "echo:x" : "", i & 1 ? 6 : 0);
    }
    begin("4.3", "a message, then opcode 5, then a message", "M C1002");
    text_echo("echo:before op5");
    cur->f[0].sync = 1;
    frame(FIN | 5, "", 0);
    frame(FIN | WSC_TEXT, "echo:never", 10);

    /* 5 fragmentation */
    begin("5.1", "ping in 2 fragments", "C1002");
    frame(WSC_PING, "frag", 4);
    frame(FIN | 0, "ment", 4);
    begin("5.2", "pong in 2 fragments", "C1002");
    frame(WSC_PONG, "frag", 4);
    frame(FIN | 0, "ment", 4);
    begin("5.3", "text in 2 fragments", "M C1000");
    frame(WSC_TEXT, "echo:frag", 9);
    frame(FIN | 0, "ment", 4);
    want_msg("echo:fragment", 13);
    begin("5.4", "text in 2 fragments, one byte per write", "M C1000");
    frame(WSC_TEXT, "echo:frag", 9)->chop = 1;
    frame(FIN | 0, "ment", 4)->chop = 1;
    want_msg("echo:fragment", 13);
    begin("5.5", "binary in 3 fragments", "M C1000");
    frame(WSC_BINARY, "echo:\x01", 6);
    frame(0, "\x02", 1);
    frame(FIN | 0, "\x03", 1);
    want_msg("echo:\x01\x02\x03", 8);
    begin("5.6", "text fragment, ping, text fragment", "P M C1000");
    frame(WSC_TEXT, "echo:frag", 9);
    frame(FIN | WSC_PING, "between", 7);
    frame(FIN | 0, "ment", 4);
    want_pong("between", 7);
    want_msg("echo:fragment", 13);
    begin("5.7", "the same, one byte per write", "P M C1000");
    frame(WSC_TEXT, "echo:frag", 9)->chop = 1;
    frame(FIN | WSC_PING, "between", 7)->chop = 1;
    frame(FIN | 0, "ment", 4)->chop = 1;
    want_pong("between", 7);
    want_msg("echo:fragment", 13);
    begin("5.8", "fragment, ping, fragment, ping, fragment", "P P M C1000|P M C1000");
    frame(WSC_TEXT, "echo:a", 6);
    frame(FIN | WSC_PING, "1", 1);
    frame(0, "b", 1);
    frame(FIN | WSC_PING, "2", 1);
    frame(FIN | 0, "c", 1);
    want_pong("1", 1);
    want_pong("2", 1);
    want_msg("echo:abc", 8);
    begin("5.9", "continuation with nothing to continue (FIN)", "C1002");
    frame(FIN | 0, "echo:x", 6);
    begin("5.10", "continuation with nothing to continue (no FIN)", "C1002");
    frame(0, "echo:x", 6);
    begin("5.11", "a whole message, then a stray continuation", "M C1002");
    text_echo("echo:whole");
    cur->f[0].sync = 1;
    frame(FIN | 0, "stray", 5);
    begin("5.12", "text fragment, then a new text frame (no continuation)", "C1002");
    frame(WSC_TEXT, "echo:frag", 9);
    frame(FIN | WSC_TEXT, "echo:new", 8);
    begin("5.13", "text fragment, then a new binary fragment", "C1002");
    frame(WSC_TEXT, "echo:frag", 9);
    frame(WSC_BINARY, "echo:new", 8);
    begin("5.14", "text with empty fragments", "M C1000");
    frame(WSC_TEXT, "echo:", 5);
    frame(0, "", 0);
    frame(0, "x", 1);
    frame(FIN | 0, "", 0);
    want_msg("echo:x", 6);
    begin("5.15", "100 KB text in 1 KB fragments", "M C1000");
    p = echo_fill(100 * 1024 - 5, 'f', &n);
    for (size_t off = 0; off < n; off += 1024) {
        size_t k = n - off < 1024 ? n - off : 1024;
        frame((uint8_t)((off + k == n ? FIN : 0) | (off ? 0 : WSC_TEXT)), p + off, k);
    }
    want_msg(p, n);
    free(p);

    /* 6 UTF-8 */
    static const char hello[] = "echo:Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!";
    begin("6.1", "valid UTF-8 in one frame", "M C1000");
    text_echo(hello);
    begin("6.2", "valid UTF-8, one fragment per byte (split code points)", "M C1000");
    for (size_t i = 0; i < strlen(hello); i++)
        frame((uint8_t)((i + 1 == strlen(hello) ? FIN : 0) | (i ? 0 : WSC_TEXT)), hello + i, 1);
    want_msg(hello, strlen(hello));
    static const char edges[] = "echo:\x7f \xc2\x80 \xdf\xbf \xe0\xa0\x80 \xef\xbf\xbf \xf0\x90\x80\x80 \xf4\x8f\xbf\xbf";
    begin("6.3", "valid boundary code points U+007F..U+10FFFF", "M C1000");
    text_echo(edges);
    static const struct {
        const char *id, *what, *bytes;
    } bad_utf8[] = {
        {"6.4.1", "surrogate U+D800 (ED A0 80)", "echo:\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80" "edited"},
        {"6.4.2", "above U+10FFFF (F4 90 80 80)", "echo:\xf4\x90\x80\x80"},
        {"6.4.3", "lone continuation byte 0x80", "echo:a\x80z"},
        {"6.4.4", "overlong '/' (C0 AF)", "echo:\xc0\xaf"},
        {"6.4.5", "overlong U+0000 (E0 80 80)", "echo:\xe0\x80\x80"},
        {"6.4.6", "5-byte sequence (F8 88 80 80 80)", "echo:\xf8\x88\x80\x80\x80"},
        {"6.4.7", "byte 0xFE", "echo:\xfe"},
        {"6.4.8", "truncated sequence at the end (E2 82)", "echo:\xe2\x82"},
    };
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        begin(bad_utf8[i].id, bad_utf8[i].what, "C1007");
        frame(FIN | WSC_TEXT, bad_utf8[i].bytes, strlen(bad_utf8[i].bytes));
    }
    begin("6.5.1", "invalid UTF-8 split over fragments, one byte each", "C1007");
    {
        const char *b = bad_utf8[0].bytes;
        for (size_t i = 0; i < strlen(b); i++)
            frame((uint8_t)((i + 1 == strlen(b) ? FIN : 0) | (i ? 0 : WSC_TEXT)), b + i, 1);
    }
    begin("6.5.2", "fail fast: invalid first fragment of an unfinished message", "C1007");
    frame(WSC_TEXT, "echo:\xf4\x90\x80\x80", 9);
    begin("6.5.3", "message ends inside a code point (last fragment)", "C1007");
    frame(WSC_TEXT, "echo:ok", 7);
    frame(FIN | 0, "\xe2\x82", 2);
    begin("6.5.4", "code point split between fragments with a ping between", "P M C1000");
    frame(WSC_TEXT, "echo:\xe2", 6);
    frame(FIN | WSC_PING, "mid", 3);
    frame(FIN | 0, "\x82\xac", 2);
    want_pong("mid", 3);
    want_msg("echo:\xe2\x82\xac", 8);
    begin("6.6", "invalid UTF-8 in a binary message (not checked)", "M C1000");
    frame(FIN | WSC_BINARY, "echo:\xc0\xaf\xfe", 8);
    want_msg("echo:\xc0\xaf\xfe", 8);

    /* 7 close handling */
    begin("7.1.1", "close 1000", "C1000");
    close_code(1000, NULL);
    begin("7.1.2", "close, then a text frame (ignored)", "C1000");
    close_code(1000, NULL);
    frame(FIN | WSC_TEXT, "echo:late", 9);
    begin("7.1.3", "a message, then close", "M C1000");
    text_echo("echo:last words");
    cur->f[0].sync = 1;
    close_code(1000, NULL);
    begin("7.1.4", "close written one byte per write", "C1000");
    close_code(1000, "bye");
    cur->f[0].chop = 1;
    begin("7.3.1", "close without payload", "C-|C1000");
    frame(FIN | WSC_CLOSE, "", 0);
    begin("7.3.2", "close with a 1-byte payload", "C1002");
    frame(FIN | WSC_CLOSE, "\x03", 1);
    begin("7.3.3", "close 1000 with a reason", "C1000");
    close_code(1000, "Hello World!");
    begin("7.3.4", "close 1000 with a 123-byte reason (125 in all)", "C1000");
    {
        char r[124];
        memset(r, 'r', 123);
        r[123] = 0;
        close_code(1000, r);
    }
    begin("7.5.1", "close reason with invalid UTF-8", "C1007");
    close_code(1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80" "edited");
    static const uint16_t good_codes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999};
    for (size_t i = 0; i < sizeof good_codes / sizeof good_codes[0]; i++) {
        snprintf(idbuf[idn], sizeof idbuf[idn], "7.7.%zu", i + 1);
        char *what = malloc(48);
        snprintf(what, 48, "close with the valid code %u", good_codes[i]);
        begin(idbuf[idn++], what, NULL);
        char *w = malloc(32);
        snprintf(w, 32, "C%u|C1000", good_codes[i]);
        cur->want = w;
        close_code(good_codes[i], NULL);
    }
    static const uint16_t bad_codes[] = {0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999, 5000, 65535};
    static const char *const bad_what[] = {"0", "999", "1004", "1005", "1006",
                                           "1016", "1100", "2000", "2999", "5000", "65535"};
    for (size_t i = 0; i < sizeof bad_codes / sizeof bad_codes[0]; i++) {
        snprintf(idbuf[idn], sizeof idbuf[idn], "7.9.%zu", i + 1);
        char *what = malloc(80);
        snprintf(what, 80, "close with code %s (invalid on the wire)", bad_what[i]);
        begin(idbuf[idn++], what, "C1002");
        close_code(bad_codes[i], NULL);
    }
    /* 9 limits (maxPackageSize = MAXPKG) */
    begin("9.1.1", "text of exactly maxPackageSize in one frame", "M C1000");
    p = echo_fill(MAXPKG - 5, 'g', &n);
    frame(FIN | WSC_TEXT, p, n);
    want_msg(p, n);
    free(p);
    begin("9.1.2", "text one byte over maxPackageSize in one frame", "C1009");
    p = echo_fill(MAXPKG - 4, 'h', &n);
    frame(FIN | WSC_TEXT, p, n);
    free(p);
    begin("9.1.3", "message over maxPackageSize in 4 KB fragments", "C1009");
    p = echo_fill(MAXPKG, 'i', &n);
    for (size_t off = 0; off < n; off += 4096) {
        size_t k = n - off < 4096 ? n - off : 4096;
        frame((uint8_t)((off + k == n ? FIN : 0) | (off ? 0 : WSC_TEXT)), p + off, k);
    }
    free(p);
    begin("9.1.4", "frame header announcing 2^40 bytes, 10 sent", "C1009");
    frame(FIN | WSC_BINARY, "echo:12345", 10)->claim = 1ull << 40;
    begin("9.2.1", "binary of maxPackageSize in 64-byte fragments", "M C1000");
    p = echo_fill(MAXPKG - 5, 'j', &n);
    for (size_t off = 0; off < n; off += 64) {
        size_t k = n - off < 64 ? n - off : 64;
        frame((uint8_t)((off + k == n ? FIN : 0) | (off ? 0 : WSC_BINARY)), p + off, k);
        if (cur->nf == MAX_FRAMES - 1)
            break;
    }
    /* MAX_FRAMES caps the fragments: send the rest as one final frame. */
    {
        size_t sent = 0;
        for (int i = 0; i < cur->nf; i++)
            sent += cur->f[i].len;
        if (sent < n) {
            cur->f[cur->nf - 1].b0 &= 0x7f;
            frame(FIN | 0, p + sent, n - sent);
        }
    }
    want_msg(p, n);
    free(p);

    /* masking (RFC 6455 5.1: a server MUST close on an unmasked client frame) */
    begin("10.1", "unmasked text frame", "C1002");
    frame(FIN | WSC_TEXT, "echo:unmasked", 13)->unmasked = 1;
    begin("10.2", "unmasked ping", "C1002");
    frame(FIN | WSC_PING, "x", 1)->unmasked = 1;
    begin("10.3", "a message, then an unmasked one", "M C1002");
    text_echo("echo:masked");
    cur->f[0].sync = 1;
    frame(FIN | WSC_TEXT, "echo:unmasked", 13)->unmasked = 1;
    begin("10.4", "unmasked continuation of a masked fragment", "C1002");
    frame(WSC_TEXT, "echo:frag", 9);
    frame(FIN | 0, "ment", 4)->unmasked = 1;
    begin("10.5", "unmasked close", "C1002");
    frame(FIN | WSC_CLOSE, "\x03\xe8", 2)->unmasked = 1;
}

/* ---- the wire: plain TCP, or TLS (gateway-wss) ---- */

static SSL_CTX *tls;        /* set in wss mode: every connection speaks TLS */
static SSL *ssl_of[1024];   /* by fd */

static SSL *ssl_for(int fd) { return fd >= 0 && fd < 1024 ? ssl_of[fd] : NULL; }

/* After an SSL call returned r <= 0: waits until the socket is ready for
 * what OpenSSL wants. 0 to retry, -1 at the deadline, -2 when the
 * connection ended (close_notify, EOF, reset, TLS error). */
static int tls_wait(int fd, SSL *s, int r, long long deadline)
{
    int e = SSL_get_error(s, r);
    if (getenv("WSCONF_DEBUG") && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        fprintf(stderr, "tls: r=%d err=%d errno=%d ", r, e, errno);
        ERR_print_errors_fp(stderr);
        fprintf(stderr, "\n");
    }
    short ev = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (!ev)
        return -2;
    int left = (int)(deadline - tu_now_ms());
    if (left <= 0)
        return -1;
    struct pollfd pf = {.fd = fd, .events = ev};
    return poll(&pf, 1, left) > 0 ? 0 : -1;
}

static int io_write(int fd, const void *p, size_t n)
{
    SSL *s = ssl_for(fd);
    if (!s)
        return tu_write_all(fd, p, n);
    const uint8_t *b = p;
    long long deadline = tu_now_ms() + CASE_MS;
    while (n > 0) {
        ERR_clear_error();
        int w = SSL_write(s, b, n > INT_MAX ? INT_MAX : (int)n);
        if (w > 0) {
            b += w;
            n -= (size_t)w;
        } else if (tls_wait(fd, s, w, deadline) < 0) {
            return -1;
        }
    }
    return 0;
}

/* As tu_read_exact: 0, -1 at the deadline, -2 at the end of the connection. */
static int io_read_exact(int fd, void *p, size_t n, long long deadline)
{
    SSL *s = ssl_for(fd);
    if (!s)
        return tu_read_exact(fd, p, n, deadline);
    uint8_t *b = p;
    while (n > 0) {
        ERR_clear_error();
        int r = SSL_read(s, b, n > 65536 ? 65536 : (int)n);
        if (r > 0) {
            b += r;
            n -= (size_t)r;
            continue;
        }
        int w = tls_wait(fd, s, r, deadline);
        if (w < 0)
            return w;
    }
    return 0;
}

static void io_close(int fd)
{
    SSL *s = ssl_for(fd);
    if (s) {
        SSL_free(s);
        ssl_of[fd] = NULL;
    }
    tu_close(fd);
}

/* A TCP connection (TLS established in wss mode), TCP_NODELAY. */
static int io_connect(int port)
{
    int fd = tu_connect(port, 5000);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!tls)
        return fd;
    if (fd >= 1024) {
        tu_close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    SSL *s = SSL_new(tls);
    SSL_set_fd(s, fd);
    long long deadline = tu_now_ms() + 5000;
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(s);
        if (r == 1)
            break;
        if (tls_wait(fd, s, r, deadline) < 0) {
            SSL_free(s);
            tu_close(fd);
            return -1;
        }
    }
    ssl_of[fd] = s;
    return fd;
}

/* Reads an HTTP response head byte by byte (frames may follow it at once);
 * its status, -1 on timeout, -2 when the connection ended first. */
static int read_status(int fd, char *head, size_t cap, long long deadline)
{
    size_t h = 0;
    while (h + 1 < cap) {
        int rc = io_read_exact(fd, head + h, 1, deadline);
        if (rc < 0)
            return rc;
        h++;
        if (h >= 4 && memcmp(head + h - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[h] = 0;
    int status;
    return sscanf(head, "HTTP/1.1 %d", &status) == 1 ? status : -1;
}

static int send_head(int fd, const char *head, int chop)
{
    size_t n = strlen(head);
    for (size_t i = 0; chop && i < n; i++)
        if (io_write(fd, head + i, 1) < 0)
            return -1;
    return chop ? 0 : io_write(fd, head, n);
}

static size_t encode(const struct frame *f, uint8_t *out, uint32_t seed)
{
    size_t h = 0;
    uint64_t len = f->claim ? f->claim : f->len;
    out[h++] = f->b0;
    uint8_t m = f->unmasked ? 0 : 0x80;
    if (len < 126 && !f->len16) {
        out[h++] = (uint8_t)(m | len);
    } else if (len < 65536) {
        out[h++] = m | 126;
        out[h++] = (uint8_t)(len >> 8);
        out[h++] = (uint8_t)len;
    } else {
        out[h++] = m | 127;
        for (int i = 7; i >= 0; i--)
            out[h++] = (uint8_t)(len >> (8 * i));
    }
    uint8_t key[4] = {(uint8_t)(seed >> 24), (uint8_t)(seed >> 16), (uint8_t)(seed >> 8), (uint8_t)seed | 1};
    if (!f->unmasked) {
        memcpy(out + h, key, 4);
        h += 4;
    }
    for (size_t i = 0; i < f->len; i++)
        out[h + i] = f->unmasked ? f->data[i] : f->data[i] ^ key[i % 4];
    return h + f->len;
}

static int send_frame(int fd, const struct frame *f, uint32_t seed)
{
    uint8_t *b = malloc(f->len + 14);
    size_t n = encode(f, b, seed);
    int rc = 0;
    if (f->chop) {
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = io_write(fd, b + i, 1);
    } else {
        rc = io_write(fd, b, n);
    }
    free(b);
    return rc;
}

static int send_close(int fd, int code)
{
    struct frame f = {.b0 = FIN | WSC_CLOSE};
    uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    f.data = p;
    f.len = code ? 2 : 0;
    return send_frame(fd, &f, 0x5eed5eed);
}

/* Reads one event from the server and appends its token to verdict.
 * Returns 1 for a data/pong token, 2 for a close, 0 for EOF/timeout. */
struct reader {
    int fd, nmsg, npong, closed, we_closed;
    struct wcase *c;
    char verdict[256];
};

static void add(struct reader *r, const char *tok)
{
    size_t l = strlen(r->verdict);
    snprintf(r->verdict + l, sizeof r->verdict - l, "%s%s", l ? " " : "", tok);
}

static int next_event(struct reader *r, long long deadline)
{
    uint8_t *msg = NULL;
    size_t mlen = 0;
    for (;;) {
        uint8_t h[2];
        int rc = io_read_exact(r->fd, h, 2, deadline);
        if (rc < 0) {
            free(msg);
            add(r, rc == -2 ? "EOF" : "T");
            return 0;
        }
        int fin = h[0] & 0x80, op = h[0] & 0x0f;
        uint64_t len = h[1] & 0x7f;
        if (h[1] & 0x80 || h[0] & 0x70)
            add(r, "BADFRAME"); /* a server never masks, and we negotiated no extension */
        if (len >= 126) {
            uint8_t e[8];
            int k = len == 126 ? 2 : 8;
            if (io_read_exact(r->fd, e, (size_t)k, deadline) < 0) {
                free(msg);
                add(r, "T");
                return 0;
            }
            len = 0;
            for (int i = 0; i < k; i++)
                len = len << 8 | e[i];
        }
        if (len > 4u * MAXPKG) {
            free(msg);
            add(r, "HUGE");
            return 0;
        }
        uint8_t *pl = malloc(len + 1);
        if (len && io_read_exact(r->fd, pl, len, deadline) < 0) {
            free(pl);
            free(msg);
            add(r, "T");
            return 0;
        }
        if (op == WSC_CLOSE) {
            char tok[16];
            if (len == 0)
                snprintf(tok, sizeof tok, "C-");
            else if (len == 1)
                snprintf(tok, sizeof tok, "C?");
            else
                snprintf(tok, sizeof tok, "C%u", (unsigned)(pl[0] << 8 | pl[1]));
            add(r, tok);
            free(pl);
            free(msg);
            /* Answer the close as a client does, so the server can end cleanly. */
            if (!r->we_closed)
                send_close(r->fd, 1000);
            r->we_closed = r->closed = 1;
            return 2;
        }
        if (op == WSC_PONG) {
            /* In order, but pongs for skipped pings may be missing (2.8). */
            int ok = 0;
            for (int k = r->npong; k < r->c->npong && !ok; k++)
                if (r->c->pong[k].len == len && memcmp(r->c->pong[k].data, pl, len) == 0) {
                    ok = 1;
                    r->npong = k;
                }
            r->npong++;
            add(r, ok ? "P" : "P!");
            free(pl);
            free(msg);
            return 1;
        }
        if (op == WSC_PING) { /* not expected from a server; answer it anyway */
            struct frame f = {.b0 = FIN | WSC_PONG, .data = pl, .len = len};
            send_frame(r->fd, &f, 77);
            free(pl);
            continue;
        }
        msg = realloc(msg, mlen + len + 1);
        memcpy(msg + mlen, pl, len);
        mlen += len;
        free(pl);
        if (!fin)
            continue;
        int ok = r->nmsg < r->c->nmsg && r->c->msg[r->nmsg].len == mlen && memcmp(r->c->msg[r->nmsg].data, msg, mlen) == 0;
        r->nmsg++;
        add(r, ok ? "M" : "M!");
        free(msg);
        return 1;
    }
}

/* A WebSocket client connection (wsc_connect's handshake, over TLS too). */
static int connect_ws(int port)
{
    if (!tls) {
        int fd = wsc_connect(port, "/", NULL, 5000);
        if (fd >= 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        return fd;
    }
    int fd = io_connect(port);
    if (fd < 0)
        return -1;
    char req[256], head[1024];
    snprintf(req, sizeof req,
             "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
             port);
    /* the accept value for this key is RFC 6455's own example (1.3) */
    if (send_head(fd, req, 0) < 0 || read_status(fd, head, sizeof head, tu_now_ms() + 5000) != 101 ||
        !strstr(head, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")) {
        io_close(fd);
        return -1;
    }
    return fd;
}

/* Sends text and expects it back as one message: 1 if so. */
static int echo_roundtrip(int fd, const char *text, int ms)
{
    struct wcase c = {.nmsg = 1};
    c.msg[0].data = (uint8_t *)text;
    c.msg[0].len = strlen(text);
    struct reader r = {.fd = fd, .c = &c};
    struct frame f = {.b0 = FIN | WSC_TEXT, .data = (uint8_t *)text, .len = strlen(text)};
    if (send_frame(fd, &f, 0x0b5e7e00) < 0)
        return 0;
    next_event(&r, tu_now_ms() + ms);
    if (strcmp(r.verdict, "M") != 0)
        printf("bystander: sent \"%s\", got %s\n", text, r.verdict);
    return strcmp(r.verdict, "M") == 0;
}

/* Section 0: a request head of the case's own (after a plain HTTP request
 * on the same connection, when the case has one). Returns 1 when the
 * handshake succeeded and the case goes on with its frames. */
static int run_head(struct reader *r, const struct wcase *c, long long deadline)
{
    const char *reqs[2] = {c->pre_http, c->head};
    for (int i = 0; i < 2; i++) {
        char head[2048], tok[16];
        if (!reqs[i])
            continue;
        if (send_head(r->fd, reqs[i], c->head_chop) < 0) {
            add(r, "EOF");
            return 0;
        }
        int st = read_status(r->fd, head, sizeof head, deadline);
        if (st < 0) {
            add(r, st == -2 ? "EOF" : "T");
            return 0;
        }
        snprintf(tok, sizeof tok, "H%d", st);
        add(r, tok);
        if (st == 101)
            return 1;
        if (i == 0 && st == 200) { /* HTTP keep-alive: its body, then the upgrade */
            const char *cl = strcasestr(head, "content-length:");
            uint8_t body[4096];
            size_t n = cl ? strtoul(cl + 15, NULL, 10) : 0;
            if (n > sizeof body || (n && io_read_exact(r->fd, body, n, deadline) < 0)) {
                add(r, "BADBODY");
                return 0;
            }
            continue;
        }
        /* An error answer: its body, then the end of the connection. */
        for (;;) {
            uint8_t b[1];
            int rc = io_read_exact(r->fd, b, 1, deadline);
            if (rc < 0) {
                add(r, rc == -2 ? "EOF" : "T");
                return 0;
            }
        }
    }
    return 0;
}

/* Runs one case; the verdict string goes to out. */
static void run_case(int port, struct wcase *c, char *out, size_t cap)
{
    struct reader r = {.c = c};
    r.fd = c->head ? io_connect(port) : connect_ws(port);
    if (r.fd < 0) {
        snprintf(out, cap, "NOCONNECT");
        return;
    }
    long long deadline = tu_now_ms() + CASE_MS;
    if (c->head && !run_head(&r, c, deadline))
        goto done;
    int expected = c->nmsg + c->npong;
    int got = 0;
    for (int i = 0; i < c->nf && !r.closed; i++) {
        if (send_frame(r.fd, &c->f[i], 0x9a3c0000u + (uint32_t)i * 7919u) < 0)
            break;
        if (c->f[i].sync && got < expected) {
            int e = next_event(&r, deadline);
            if (e == 0)
                goto done;
            got += e == 1;
        }
    }
    /* Wait for the replies the case expects before closing: an echo goes
     * through a business worker and would race our close. */
    while (!r.closed && got < expected && !(c->nmsg && r.nmsg >= c->nmsg)) {
        int e = next_event(&r, deadline);
        if (e == 0)
            goto done;
        got += e == 1;
    }
    if (!r.closed && !c->sent_close) {
        send_close(r.fd, 1000);
        r.we_closed = 1;
    }
    if (c->sent_close)
        r.we_closed = 1;
    while (!r.closed) {
        if (next_event(&r, deadline) == 0)
            goto done;
    }
    /* After the close frame: only the end of the connection may follow. */
    {
        uint8_t b[64];
        int rc = io_read_exact(r.fd, b, 1, deadline);
        if (rc == -1)
            add(&r, "NOEOF");
        else if (rc == 0)
            add(&r, "DATA-AFTER-CLOSE");
    }
done:
    io_close(r.fd);
    snprintf(out, cap, "%s", r.verdict);
    /* The trailing end of connection is implied by a close verdict. */
}

/* got with every run of "P" tokens written "P+". */
static void collapse_pongs(const char *got, char *out, size_t cap)
{
    char g[256];
    snprintf(g, sizeof g, "%s", got);
    out[0] = 0;
    int in_run = 0;
    char *save = NULL;
    for (char *t = strtok_r(g, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        int p = strcmp(t, "P") == 0;
        if (p && in_run)
            continue;
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%s", l ? " " : "", p ? "P+" : t);
        in_run = p;
    }
}

/* want: alternatives separated by "|"; "P+" stands for one or more pongs. */
static int verdict_ok(const char *want, const char *got)
{
    char w[256], collapsed[256];
    snprintf(w, sizeof w, "%s", want);
    collapse_pongs(got, collapsed, sizeof collapsed);
    char *save = NULL;
    for (char *t = strtok_r(w, "|", &save); t; t = strtok_r(NULL, "|", &save))
        if (strcmp(t, got) == 0 || (strstr(t, "P+") && strcmp(t, collapsed) == 0))
            return 1;
    return 0;
}

/* ---- the servers ---- */

static char dir[64];
static struct launch reg, gw, bw; /* ours */
static pid_t ref_pid;              /* the reference server */
static pid_t watched;              /* the process that must survive every case */

static int start_gateway(void)
{
    int reg_port = tu_free_port(), ws_port = tu_free_port(), lan_port = tu_free_port();
    launch_register(&reg, dir, reg_port, "conf");
    launch_spawn(&reg);
    launch_gateway(&gw, dir, "gateway", ws_port, lan_port, reg_port, "conf");
    launch_set(&gw, "--maxPackageSize=%d", MAXPKG);
    if (tls) {
        launch_set(&gw, "--ssl_cert=%s/cert.pem", dir);
        launch_set(&gw, "--ssl_key=%s/key.pem", dir);
    }
    watched = launch_spawn(&gw);
    launch_business(&bw, dir, "business", reg_port, "apps/echo.so", "WsConf", 1, "conf");
    launch_spawn(&bw);
    printf("gateway log: %s\n", gw.log);
    return ws_port;
}

/* Stops every server, last started first; 1 if the gateway (when it is the
 * one under test) exited 0 on SIGTERM. */
static int stop_all(int timeout_ms)
{
    if (ref_pid > 0) {
        tu_stop(ref_pid, timeout_ms);
        return 1;
    }
    launch_stop(&bw, timeout_ms);
    int clean = launch_stop(&gw, timeout_ms) == 0;
    launch_stop(&reg, timeout_ms);
    launch_free(&bw);
    launch_free(&gw);
    launch_free(&reg);
    return clean;
}

static int start_reference(void)
{
    char log[128], portarg[16], maxarg[16];
    snprintf(log, sizeof log, "%s/reference.out", dir);
    int port = tu_free_port();
    snprintf(portarg, sizeof portarg, "%d", port);
    snprintf(maxarg, sizeof maxarg, "%d", MAXPKG);
    const char *src = getenv("WSCONF_REFERENCE");
    char *argv[] = {"/usr/bin/python3", (char *)(src ? src : "tests/conformance/echo_server.py"), portarg, maxarg, NULL};
    watched = ref_pid = tu_spawn(argv, log);
    printf("reference log: %s\n", log);
    return port;
}

static int alive(pid_t p)
{
    int st;
    return p > 0 && waitpid(p, &st, WNOHANG) == 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "gateway") != 0 && strcmp(argv[1], "gateway-wss") != 0 &&
                     strcmp(argv[1], "reference") != 0)) {
        fprintf(stderr, "usage: %s gateway|gateway-wss|reference [RESULTS]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int ours = strncmp(argv[1], "gateway", 7) == 0;
    snprintf(dir, sizeof dir, "/tmp/gw-wsconf-XXXXXX");
    if (!mkdtemp(dir))
        return 2;
    if (strcmp(argv[1], "gateway-wss") == 0) {
        /* A throwaway certificate; the client does not verify it (the
         * suite is about what follows the TLS handshake). */
        char cmd[512];
        snprintf(cmd, sizeof cmd,
                 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost "
                 "-days 1 -keyout %s/key.pem -out %s/cert.pem >/dev/null 2>&1",
                 dir, dir);
        if (system(cmd) != 0 || !(tls = SSL_CTX_new(TLS_client_method()))) {
            fprintf(stderr, "wsconf: cannot make a certificate or a TLS context\n");
            return 2;
        }
    }
    build_cases();
    int port = ours ? start_gateway() : start_reference();
    /* The bystander: connected before the first case, asked for an echo
     * after each one. Its first echo also waits for the worker to link. */
    int by = connect_ws(port);
    if (by < 0 || !echo_roundtrip(by, "echo:ready", 20000)) {
        fprintf(stderr, "wsconf: the %s did not come up (logs in %s)\n", argv[1], dir);
        stop_all(5000);
        return 1;
    }
    FILE *res = argc > 2 ? fopen(argv[2], "w") : NULL;
    int passed = 0, failed = 0;
    printf("%-7s %-62s %-22s %-22s %s\n", "case", "what", "expected", "got", "");
    /* WSCONF_ONLY=PREFIX runs the cases whose id starts so, WSCONF_REPEAT times (default 1);
     * WSCONF_DEBUG=1 prints why a TLS call ended a connection. */
    const char *only = getenv("WSCONF_ONLY");
    int repeat = getenv("WSCONF_REPEAT") ? atoi(getenv("WSCONF_REPEAT")) : 1;
    for (int i = 0, r = 0; i < ncases; r = r + 1 < repeat ? r + 1 : 0, i += r == 0) {
        struct wcase *c = &cases[i];
        if (only && strncmp(only, c->id, strlen(only)) != 0)
            continue;
        char got[256];
        run_case(port, c, got, sizeof got);
        int ok = verdict_ok(c->want, got);
        /* Every case must leave the server serving the others. */
        char ask[64];
        snprintf(ask, sizeof ask, "echo:bystander after %s", c->id);
        int by_ok = echo_roundtrip(by, ask, 5000);
        int up = alive(watched);
        int pass = ok && by_ok && up;
        passed += pass;
        failed += !pass;
        printf("%-7s %-62s %-22s %-22s %s%s%s\n", c->id, c->what, c->want, got, pass ? "ok" : "FAIL",
               by_ok ? "" : " (bystander not served)", up ? "" : " (server died)");
        if (res)
            fprintf(res, "%s\t%s\t%s\t%s\t%s\n", c->id, c->what, c->want, got, pass ? "ok" : "FAIL");
        if (!up)
            break;
        if (!by_ok) { /* keep going with a new bystander, the failure is counted */
            io_close(by);
            by = connect_ws(port);
        }
    }
    if (res)
        fclose(res);
    io_close(by);
    SSL_CTX_free(tls);
    if (!stop_all(8000)) {
        printf("the gateway did not exit cleanly on SIGTERM\n");
        failed++;
    }
    printf("wsconf %s: %d passed, %d failed (logs in %s)\n", argv[1], passed, failed, dir);
    const char *counts = getenv("GW_TEST_COUNTS");
    FILE *f = counts ? fopen(counts, "a") : NULL;
    if (f) {
        fprintf(f, "wsconf-%s %d %d\n", argv[1], passed, failed);
        fclose(f);
    }
    return failed ? 1 : 0;
}
