/* clients: the lws callbacks of every client (handshake, messages, text://
 * lines, writes, close), GET /health, and the heartbeat; the public
 * clients_* API. Output is outq.c's, accepting listen.c's. */
#include "clients_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "gwp.h"
#include "utf8.h"
#include "iplimit.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "netaddr.h"
#include "outq.h"
#include "preread.h"
#include "proxyproto.h"
#include "state.h"
#include "wsconnect.h"
#include "wscheck.h"
#include "wsguard.h"

static void client_hdr(const struct clients *cs, const struct client *c, struct gwp_header *h)
{
    memset(h, 0, sizeof *h);
    h->local_ip = cs->gw->lan_ip;
    h->local_port = cs->gw->lan_port;
    h->client_ip = c->client_ip;
    h->client_port = c->client_port;
    h->connection_id = gws_client_conn_id(c->gc);
    h->gateway_port = cs->gw->cfg->listen.port;
}

static int send_event(struct clients *cs, struct client *c, uint8_t cmd, uint8_t flag, const void *body, size_t len)
{
    if (c->wscheck)
        return 0; /* the gateway answers these itself; no business code sees them */
    struct gwp_header h;
    size_t slen;
    client_hdr(cs, c, &h);
    const uint8_t *sess = gws_client_session(c->gc, &slen);
    return lan_send_event(cs->gw->lan, &c->route, cmd, &h, flag, sess, slen, body, len);
}

/* ---- lws callbacks ---- */

/* The TCP peer, as text and (for IPv4) as a number. */
static void peer_of(int fd, char *ip, size_t cap, uint32_t *ipv4, uint16_t *port)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    snprintf(ip, cap, "0.0.0.0");
    *ipv4 = 0;
    *port = 0;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, (socklen_t)cap);
        *ipv4 = ntohl(a->sin_addr.s_addr);
        *port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, (socklen_t)cap);
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
            memmove(ip, ip + 7, strlen(ip + 7) + 1);
            memcpy(ipv4, &a->sin6_addr.s6_addr[12], 4);
            *ipv4 = ntohl(*ipv4);
        }
        *port = ntohs(a->sin6_port);
    }
}

/* Who the client really is: the PROXY header's source when there was one;
 * else, when the peer is a trusted proxy, X-Forwarded-For / X-Real-IP; else
 * the TCP peer. ip receives the text form (REMOTE_ADDR), c->client_ip the
 * IPv4 form for the event header (0 when not IPv4, as PHP's ip2long). */
static void resolve_client_addr(struct clients *cs, struct lws *wsi, struct client *c, char *ip, size_t cap)
{
    struct preread_info *info = lws_get_opaque_user_data(wsi);
    c->via = WSCHECK_DIRECT;
    if (info && info->have_addr) {
        snprintf(ip, cap, "%s", info->ip);
        c->client_ip = info->ipv4;
        c->client_port = info->port;
        c->via = WSCHECK_PROXY;
        return;
    }
    peer_of(lws_get_socket_fd(wsi), ip, cap, &c->client_ip, &c->client_port);
    if (cs->trusted.n == 0 || !trust_contains(&cs->trusted, ip))
        return;
    char *xff = wsconnect_lws_header(wsi, WSI_TOKEN_X_FORWARDED_FOR);
    char *xri = lws_hdr_custom_length(wsi, "x-real-ip:", 10) > 0 ? malloc(64) : NULL;
    if (xri && lws_hdr_custom_copy(wsi, xri, 64, "x-real-ip:", 10) < 0) {
        free(xri);
        xri = NULL;
    }
    char real[TRUST_IP_MAX];
    if (trust_client_ip(&cs->trusted, ip, xff, xri, real, sizeof real) >= 0 && strcmp(real, ip) != 0) {
        uint32_t v4 = 0;
        snprintf(ip, cap, "%s", real);
        c->client_ip = netaddr_parse_ipv4(real, strlen(real), &v4) ? v4 : 0;
        c->client_port = 0; /* the proxy does not tell the client's port */
        c->via = WSCHECK_XFF;
    }
    free(xff);
    free(xri);
}

/* The client is ready (WebSocket handshake done, or a text:// connection
 * adopted): register it and tell a worker. */
static int client_open(struct clients *cs, struct lws *wsi, struct client *c, char *remote, size_t cap)
{
    resolve_client_addr(cs, wsi, c, remote, cap);
    c->silent_ticks = -1;
    c->gc = gws_client_add(cs->gw->state, wsi);
    if (!c->gc)
        return -1;
    cs->nclients++;
    /* For WebSocket, ON_CONNECT waits for the handshake, so a load
     * balancer's TCP probe never reaches business code (§3.7 C). */
    send_event(cs, c, GWP_CMD_ON_CONNECT, GWP_FLAG_BODY_IS_SCALAR, "", 0);
    return 0;
}

static int on_established(struct clients *cs, struct lws *wsi, struct client *c)
{
    int fd = lws_get_socket_fd(wsi);
    char remote[PROXYPROTO_IP_MAX];
    size_t tls_head_len = 0;
    char *tls_head = wsguard_take_head(fd, &tls_head_len); /* wss: the decrypted head */
    wsguard_established(fd, wsi);
    listen_handshake_over(cs, fd);
    if (cs->gw->cfg->wsCheck) {
        char uri[sizeof WSCHECK_PATH + 1] = "";
        if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) > 0 && strcmp(uri, WSCHECK_PATH) == 0)
            c->wscheck = 1;
    }
    if (client_open(cs, wsi, c, remote, sizeof remote) < 0) {
        free(tls_head);
        return -1;
    }
    if (c->wscheck) {
        free(tls_head);
        preread_info_free(lws_get_opaque_user_data(wsi));
        lws_set_opaque_user_data(wsi, NULL);
        return 0;
    }
    struct sockaddr_storage ls;
    socklen_t ll = sizeof ls;
    uint16_t sport = cs->gw->cfg->listen.port;
    if (getsockname(fd, (struct sockaddr *)&ls, &ll) == 0)
        sport = ntohs(ls.ss_family == AF_INET ? ((struct sockaddr_in *)&ls)->sin_port
                                              : ((struct sockaddr_in6 *)&ls)->sin6_port);
    struct buf body = BUF_INIT;
    struct preread_info *info = lws_get_opaque_user_data(wsi);
    char err[160];
    /* From the raw request head (exactly what workerman builds): ws:// has
     * it from the pre-read, wss:// from the guard's decrypted stream. Only
     * a head neither could keep (over 16 KiB, an upgrade after HTTP
     * keep-alive over TLS) falls back to what lws parsed. */
    const char *head = info && info->head ? info->head : tls_head;
    size_t head_len = info && info->head ? info->head_len : tls_head_len;
    if (!head || wsconnect_body(head, head_len, remote, c->client_port, sport, &body, err, sizeof err) < 0)
        wsconnect_body_lws(wsi, remote, c->client_port, sport, &body);
    free(tls_head);
    lws_set_opaque_user_data(wsi, NULL);
    preread_info_free(info);
    send_event(cs, c, GWP_CMD_ON_WEBSOCKET_CONNECT, 0, buf_head(&body), buf_avail(&body));
    buf_free(&body);
    return 0;
}

/* A /ws-check message: answered here with who answered and what it saw. */
static int wscheck_reply(struct clients *cs, struct lws *wsi, struct client *c, const void *in, size_t len)
{
    const struct gateway *gw = cs->gw;
    char client[INET_ADDRSTRLEN] = "(IPv6)", peer[PROXYPROTO_IP_MAX];
    uint32_t pv4;
    uint16_t pport;
    if (c->client_ip) {
        struct in_addr a = {htonl(c->client_ip)};
        inet_ntop(AF_INET, &a, client, sizeof client);
    }
    peer_of(lws_get_socket_fd(wsi), peer, sizeof peer, &pv4, &pport);
    struct wscheck_info i = {gw->cfg->lanIp, gw->lan_port, gw->index, (int)getpid(), client, c->client_port,
                             (enum wscheck_via)c->via, peer, pport};
    struct buf out = BUF_INIT;
    int rc = wscheck_answer(&i, in, len, &out);
    struct gwmsg *m = rc == 0 ? gwmsg_new(buf_head(&out), buf_avail(&out), 0) : NULL;
    buf_free(&out);
    if (!m)
        return -1;
    outq_send(cs, c->gc, m);
    gwmsg_unref(m);
    return 0;
}

/* One complete message from a client: counted, then to a worker (or
 * answered here for /ws-check). */
static int client_message(struct clients *cs, struct lws *wsi, struct client *c, const void *in, size_t len)
{
    cs->msgs_in++;
    cs->bytes_in += len;
    if (c->wscheck)
        return wscheck_reply(cs, wsi, c, in, len);
    send_event(cs, c, GWP_CMD_ON_MESSAGE, GWP_FLAG_BODY_IS_SCALAR, in, len);
    return 0;
}

/* A piece of a text message is well-formed UTF-8 so far (RFC 6455 8.1),
 * checked as it arrives so a bad message fails before it ends; final: the
 * message ends with this piece. lws 4.1.6's own VALIDATE_UTF8 skips
 * payload its byte-wise parser delivers (only its bulk path checks). */
static int text_piece_ok(struct client *c, const uint8_t *in, size_t len, int final)
{
    int bad;
    size_t used = 0;
    if (c->u8len) { /* finish the sequence the last piece left open */
        uint8_t t[8];
        size_t k = len < 4 ? len : 4;
        memcpy(t, c->u8carry, c->u8len);
        memcpy(t + c->u8len, in, k);
        size_t ok = utf8_complete_prefix(t, c->u8len + k, &bad);
        if (bad)
            return 0;
        if (ok < c->u8len) { /* still open: every byte here belongs to it */
            memcpy(c->u8carry + c->u8len, in, len);
            c->u8len = (uint8_t)(c->u8len + len);
            return !final;
        }
        /* only the first sequence straddles: resume right after it */
        unsigned cp;
        used = utf8_next(t, c->u8len + k, &cp) - c->u8len;
        c->u8len = 0;
    }
    size_t ok = utf8_complete_prefix(in + used, len - used, &bad);
    size_t rest = len - used - ok;
    if (bad || (final && rest))
        return 0;
    memcpy(c->u8carry, in + used + ok, rest);
    c->u8len = (uint8_t)rest;
    return 1;
}

static int on_receive(struct clients *cs, struct lws *wsi, struct client *c, const void *in, size_t len)
{
    size_t max = (size_t)cs->gw->cfg->maxPackageSize;
    c->silent_ticks = -1; /* any inbound data counts as a heartbeat (§6.1) */
    if (!lws_frame_is_binary(wsi) &&
        !text_piece_ok(c, in, len, lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi))) {
        log_warn("client %u sent a text message that is not UTF-8; closing with 1007", gws_client_conn_id(c->gc));
        lws_close_reason(wsi, LWS_CLOSE_STATUS_INVALID_PAYLOAD, (unsigned char *)"not UTF-8", 9);
        wsguard_fail(lws_get_socket_fd(wsi), LWS_CLOSE_STATUS_INVALID_PAYLOAD, "not UTF-8");
        return -1;
    }
    if (lws_is_first_fragment(wsi) && lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi) &&
        rx_len(c) == 0) {
        if (len > max)
            goto too_big;
        return client_message(cs, wsi, c, in, len);
    }
    if (rx_len(c) + len > max)
        goto too_big;
    if (rx_append(c, in, len) < 0)
        return -1;
    if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
        int rc = client_message(cs, wsi, c, buf_head(c->rx), buf_avail(c->rx));
        rx_free(c);
        return rc;
    }
    return 0;
too_big:
    log_warn("client %u sent a message over maxPackageSize (%zu bytes); closing", gws_client_conn_id(c->gc), max);
    lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
    wsguard_fail(lws_get_socket_fd(wsi), LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message over maxPackageSize");
    return -1;
}

/* text://: every LF ends a message; trailing CR/LF are stripped (Workerman's
 * Text protocol). A line longer than maxPackageSize closes the client. */
static int on_text_rx(struct clients *cs, struct client *c, const uint8_t *in, size_t len)
{
    size_t max = (size_t)cs->gw->cfg->maxPackageSize;
    c->silent_ticks = -1;
    while (len > 0) {
        const uint8_t *nl = memchr(in, '\n', len);
        size_t take = nl ? (size_t)(nl - in) + 1 : len;
        if (rx_len(c) + take > max + 1) {
            log_warn("client %u sent a line over maxPackageSize (%zu bytes); closing", gws_client_conn_id(c->gc), max);
            return -1;
        }
        if (!nl || rx_len(c)) {
            if (rx_append(c, in, take) < 0)
                return -1;
        }
        if (nl) {
            const uint8_t *line = rx_len(c) ? buf_head(c->rx) : in;
            size_t n = rx_len(c) ? rx_len(c) : take;
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                n--;
            cs->msgs_in++;
            cs->bytes_in += n;
            send_event(cs, c, GWP_CMD_ON_MESSAGE, GWP_FLAG_BODY_IS_SCALAR, line, n);
            rx_free(c);
        }
        in += take;
        len -= take;
    }
    return 0;
}

static int on_writeable(struct clients *cs, struct lws *wsi, struct client *c)
{
    const char *why;
    int code = wsguard_failed(lws_get_socket_fd(wsi), &why);
    if (code) {
        log_warn("client %u: %s; closing with %d", gws_client_conn_id(c->gc), why, code);
        lws_close_reason(wsi, (enum lws_close_status)code, (unsigned char *)why, strlen(why));
        return -1;
    }
    if (c->closing)
        return -1;
    if (c->qlen && outq_write(cs, wsi, c) < 0)
        return -1;
    if (c->qlen) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    if (c->close_after_flush) {
        /* KICK: the data went out; end with a close frame, not a bare FIN (§14 #20). */
        if (!cs->text)
            lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        return -1;
    }
    return 0;
}

static void on_closed(struct clients *cs, struct client *c)
{
    if (!c->gc)
        return;
    send_event(cs, c, GWP_CMD_ON_CLOSE, GWP_FLAG_BODY_IS_SCALAR, "", 0);
    lan_route_release(cs->gw->lan, &c->route);
    gws_client_remove(cs->gw->state, c->gc);
    c->gc = NULL;
    outq_clear(cs, c);
    rx_free(c);
    cs->nclients--;
}

static int http_reply(struct lws *wsi, int status, const char *ctype, const char *body)
{
    uint8_t buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf;
    size_t n = strlen(body);
    if (lws_add_http_common_headers(wsi, (unsigned)status, ctype, (lws_filepos_t)n, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    if (n && lws_write(wsi, (uint8_t *)body, n, LWS_WRITE_HTTP_FINAL) < (int)n)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* GET /metrics: Prometheus text, to metricsAllow peers only (the TCP peer:
 * a forwarded address can be forged). */
static int on_metrics(struct clients *cs, struct lws *wsi)
{
    char peer[PROXYPROTO_IP_MAX];
    uint32_t v4;
    uint16_t port;
    peer_of(lws_get_socket_fd(wsi), peer, sizeof peer, &v4, &port);
    if (!trust_contains(&cs->metrics_allow, peer)) {
        log_warn("GET /metrics from %s refused (not in metricsAllow)", peer);
        return http_reply(wsi, HTTP_STATUS_FORBIDDEN, "text/plain", "forbidden: not in metricsAllow\n");
    }
    struct clients_stats st;
    clients_stats(cs, &st);
    const struct lan *lan = cs->gw->lan;
    struct metrics_gateway m = {cs->gw->index, st.connections, st.messages_in, st.messages_out, st.bytes_in,
                                st.bytes_out, st.in_per_second, st.out_per_second, lan_worker_count(lan),
                                lan_link_count(lan), lan_pending_count(lan), lan_dropped_events(lan),
                                st.slow_closes, st.heartbeat_closes, st.waiting_to_write, st.direct_partial_writes,
                                st.uring_sends, st.tls_accept_pauses};
    struct buf out = BUF_INIT;
    int rc = metrics_format(&m, &out) < 0 || buf_append(&out, "", 1) < 0
                 ? http_reply(wsi, HTTP_STATUS_INTERNAL_SERVER_ERROR, "text/plain", "out of memory\n")
                 : http_reply(wsi, HTTP_STATUS_OK, "text/plain; version=0.0.4", (const char *)buf_head(&out));
    buf_free(&out);
    return rc;
}

static int on_http(struct clients *cs, struct lws *wsi, const char *uri)
{
    if (strcmp(uri, "/health") == 0) {
        char body[256];
        snprintf(body, sizeof body, "{\"status\":\"ok\",\"role\":\"gateway\",\"process\":%d,\"clients\":%zu,\"workers\":%zu}",
                 cs->gw->index, cs->nclients, lan_worker_count(cs->gw->lan));
        return http_reply(wsi, HTTP_STATUS_OK, "application/json", body);
    }
    if (strcmp(uri, "/metrics") == 0)
        return on_metrics(cs, wsi);
    if (strcmp(uri, WSCHECK_PATH) == 0 && cs->gw->cfg->wsCheck)
        return http_reply(wsi, HTTP_STATUS_OK, "text/html; charset=utf-8", wscheck_page);
    return http_reply(wsi, HTTP_STATUS_NOT_FOUND, "text/plain", "not found\n");
}

int clients_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct client *c = user;
    struct clients *cs = owner_of(wsi);
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        return on_established(cs, wsi, c);
    case LWS_CALLBACK_RECEIVE:
        return c->gc ? on_receive(cs, wsi, c, in, len) : -1;
    case LWS_CALLBACK_WSI_DESTROY:
        if (cs)
            iplimit_release_wsi(cs->iplimit, wsi);
        preread_info_free(lws_get_opaque_user_data(wsi)); /* gone before its handshake */
        lws_set_opaque_user_data(wsi, NULL);
        return 0;
    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
        return listen_tune_ssl_ctx(cs, user);
    case LWS_CALLBACK_RECEIVE_PONG:
        c->silent_ticks = -1;
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return c->gc ? on_writeable(cs, wsi, c) : 0;
    case LWS_CALLBACK_CLOSED:
        wsguard_forget(lws_get_socket_fd(wsi));
        listen_handshake_over(cs, lws_get_socket_fd(wsi));
        on_closed(cs, c);
        return 0;
    case LWS_CALLBACK_RAW_CLOSE:
        on_closed(cs, c);
        return 0;
    case LWS_CALLBACK_RAW_ADOPT: {
        char remote[PROXYPROTO_IP_MAX];
        int rc = client_open(cs, wsi, c, remote, sizeof remote);
        preread_info_free(lws_get_opaque_user_data(wsi));
        lws_set_opaque_user_data(wsi, NULL);
        return rc;
    }
    case LWS_CALLBACK_RAW_RX:
        return c->gc ? on_text_rx(cs, c, in, len) : -1;
    case LWS_CALLBACK_RAW_WRITEABLE:
        return c->gc ? on_writeable(cs, wsi, c) : 0;
    case LWS_CALLBACK_HTTP: {
        listen_handshake_over(cs, lws_get_socket_fd(wsi)); /* https: the request came, TLS is done */
        char uri[64] = "";
        lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
        return on_http(cs, wsi, uri);
    }
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* One tick for every client (§6.1): every pingInterval/2 when
 * pingNotResponseLimit > 0, else every pingInterval. */
static void on_heartbeat(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct clients *cs = w->data;
    long limit = cs->gw->cfg->pingNotResponseLimit;
    struct gws_client *next;
    for (struct gws_client *gc = gws_client_next(cs->gw->state, NULL); gc; gc = next) {
        next = gws_client_next(cs->gw->state, gc); /* gc may be freed below */
        struct lws *wsi = gws_client_handle(gc);
        struct client *c = lws_wsi_user(wsi);
        if (c->closing)
            continue;
        if (limit > 0 && c->silent_ticks >= 2 * limit) {
            c->closing = 1;
            cs->heartbeat_kills++;
            outq_kill_now(wsi);
            continue;
        }
        c->silent_ticks++;
        if (cs->ping_msg && !(c->silent_ticks == 0 || (limit > 0 && (c->silent_ticks & 1))))
            outq_send(cs, gc, cs->ping_msg);
    }
}

/* Once a second: the message rates of the last second. */
static void on_stats_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct clients *cs = w->data;
    cs->rate_in = cs->msgs_in - cs->last_in;
    cs->rate_out = cs->msgs_out - cs->last_out;
    cs->last_in = cs->msgs_in;
    cs->last_out = cs->msgs_out;
}

void clients_stats(const struct clients *cs, struct clients_stats *o)
{
    *o = (struct clients_stats){cs->nclients,   cs->msgs_in,   cs->msgs_out,    cs->bytes_in,
                                cs->bytes_out,  cs->rate_in,   cs->rate_out,    cs->slow_closes,
                                cs->heartbeat_kills, cs->ndirty - cs->dirty_head, cs->direct_partials,
                                cs->ring_sends, cs->tls_accept_pauses};
}

struct clients *clients_new(struct gateway *gw, int listen_fd, char *err, size_t errlen)
{
    struct clients *cs = calloc(1, sizeof *cs);
    if (!cs) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cs->gw = gw;
    cs->lfd = listen_fd;
    cs->text = strcmp(gw->cfg->listen.scheme, "text") == 0;
    const struct gateway_cfg *cfg = gw->cfg;
    wsguard_init((size_t)cfg->maxPackageSize);
    if (listen_setup(cs, listen_fd, err, errlen) < 0) {
        listen_free(cs);
        free(cs);
        return NULL;
    }
    outq_start(cs);
    ev_timer_init(&cs->stats_tick, on_stats_tick, 1.0, 1.0);
    cs->stats_tick.data = cs;
    ev_timer_start(gw->loop, &cs->stats_tick);
    if (cfg->pingInterval > 0) {
        double period = cfg->pingNotResponseLimit > 0 ? cfg->pingInterval / 2.0 : (double)cfg->pingInterval;
        if (cfg->pingData[0])
            cs->ping_msg = gwmsg_new(cfg->pingData, strlen(cfg->pingData), 0);
        ev_timer_init(&cs->heartbeat, on_heartbeat, period, period);
        cs->heartbeat.data = cs;
        ev_timer_start(gw->loop, &cs->heartbeat);
    }
    return cs;
}

void clients_stop_accepting(struct clients *cs) { listen_stop(cs); }

void clients_free(struct clients *cs)
{
    if (!cs)
        return;
    listen_stop(cs);
    ev_timer_stop(cs->gw->loop, &cs->heartbeat);
    ev_timer_stop(cs->gw->loop, &cs->stats_tick);
    outq_stop(cs);
    listen_free(cs);
    gwmsg_unref(cs->ping_msg);
    free(cs);
}

const struct gws_ops *clients_gws_ops(void) { return &outq_gws_ops; }

size_t clients_count(const struct clients *cs) { return cs->nclients; }
