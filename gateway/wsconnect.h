/* wsconnect: the ON_WEBSOCKET_CONNECT body (spec §8, workerman-5 shape) built
 * from the raw WebSocket handshake request head.
 *
 * Pure codec: no sockets, no lws. The output is byte-identical to what
 * GatewayWorker's Gateway::onWebsocketConnect serializes on workerman 5.2.2
 * (Workerman\Protocols\Http\Request + PHP 8.2 parse_str/parse_url), for every
 * request this module accepts:
 *
 *   a:3:{ "get"    => parse_str(query of parse_url(REQUEST_URI)),
 *         "server" => QUERY_STRING, REQUEST_METHOD, REQUEST_URI, SERVER_PROTOCOL,
 *                     SERVER_NAME (Host with port | null), CONTENT_TYPE (| null),
 *                     REMOTE_ADDR, REMOTE_PORT (int), SERVER_PORT (int),
 *                     HTTP_<NAME> per header in order (repeats joined with ","),
 *         "cookie" => Cookie split on ";" then at the first "=", name trimmed,
 *                     value raw }
 *
 * It is stricter than workerman about what is an HTTP request (workerman
 * skips a header line without ':' and keeps names with spaces; we refuse
 * the request), see wsconnect_body. */
#ifndef GW_GATEWAY_WSCONNECT_H
#define GW_GATEWAY_WSCONNECT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "phpurl.h"

#define WSCONNECT_MAX_HEAD 16384u      /* bytes through the blank line */
#define WSCONNECT_MAX_HEADERS 100u     /* header lines */
#define WSCONNECT_MAX_INPUT_VARS PHPURL_MAX_INPUT_VARS /* PHP max_input_vars: later query vars are dropped */
#define WSCONNECT_MAX_NESTING PHPURL_MAX_NESTING       /* PHP max_input_nesting_level: deeper vars are dropped */

/* Builds the PHP-serialized ON_WEBSOCKET_CONNECT body (§8, workerman 5):
 * a:3:{get, server, cookie} from the raw HTTP request head (request line +
 * header lines, up to and including the blank line), the client address
 * (REMOTE_ADDR, REMOTE_PORT) and the server port (SERVER_PORT).
 *
 * head[0..len) is borrowed and never read past len; only the bytes through
 * the first CRLFCRLF are used. remote_addr is a NUL-terminated string (NULL
 * is taken as ""). The body is appended to out; on error out->len is
 * restored, so nothing partial is left.
 *
 * Refused (-1 with a reason in err, NUL-terminated when errlen > 0):
 * no CRLFCRLF within len; a head longer than WSCONNECT_MAX_HEAD; a request
 * line other than "GET" SP target SP "HTTP/1." DIGIT, or a target that is
 * empty or holds a control byte, space or DEL; more than
 * WSCONNECT_MAX_HEADERS header lines; a header line whose name is not an
 * RFC 9110 token directly followed by ':'; a header value holding CR, LF or
 * NUL; out of memory.
 *
 * PHP limits are applied the way PHP does, not as errors: query vars past the
 * 1000th are ignored, a var nested deeper than 64 levels removes that
 * top-level name (PHP's max_input_nesting_level rule). */
int wsconnect_body(const char *head, size_t len, const char *remote_addr, uint16_t remote_port,
                   uint16_t server_port, struct buf *out, char *err, size_t errlen);

/* Length of the request head in buf (through the first CRLFCRLF), 0 if not
 * complete yet. The caller refuses a client whose head is not complete within
 * WSCONNECT_MAX_HEAD bytes. */
size_t wsconnect_head_len(const char *buf, size_t len);

/* What wsconnect_body_lws reads from libwebsockets, as plain NUL-terminated
 * strings (NULL: absent): the seam between the lws getters (wsconnect_lws.c)
 * and the body builder, which reads only outside bytes and is a pure
 * function (tested and fuzzed without a connection).
 *   args: the query fragments as lws keeps them (URL-decoded "name=value",
 *         or "name"), in order;
 *   uri, host, content_type, cookie: those headers' values;
 *   hdr_names / hdr_values: one pair per header lws parsed, the name as
 *         lws_token_to_string gives it ("user-agent:"); a pair whose name is
 *         empty or does not end in ':' is skipped. */
struct wsconnect_parsed {
    const char *const *args;
    size_t nargs;
    const char *uri, *host, *content_type, *cookie;
    const char *const *hdr_names;
    const char *const *hdr_values;
    size_t nhdrs;
};
/* The ON_WEBSOCKET_CONNECT body from those values, appended to out (the body
 * wsconnect_body_lws sends). 0, or -ENOMEM with out->len restored. */
int wsconnect_body_parsed(const struct wsconnect_parsed *p, const char *remote_addr, uint16_t remote_port,
                          uint16_t server_port, struct buf *out);

/* The same body from what libwebsockets parsed (wsconnect_lws.c), for the
 * rare handshake whose raw head neither the pre-read (ws://) nor the guard
 * (wss://, wsguard_take_head) kept: over 16 KiB, or an upgrade after HTTP
 * keep-alive over TLS. The query as lws
 * keeps it (URL-decoded name=value fragments), one HTTP_<NAME> per header
 * lws knows, in lws' token order, and the cookies. Appended to out; on
 * error (-ENOMEM) out->len is restored. */
struct lws;
int wsconnect_body_lws(struct lws *wsi, const char *remote_addr, uint16_t remote_port, uint16_t server_port,
                       struct buf *out);
/* A copy of lws header tok (an enum lws_token_indexes) in a malloc'd
 * NUL-terminated string, NULL when absent. */
char *wsconnect_lws_header(struct lws *wsi, int tok);

#endif
