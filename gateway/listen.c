/* listen: how clients arrive — the lws context and vhost (TLS, webRoot,
 * subprotocols), our own SO_REUSEPORT listening socket accepted through
 * libev, the PROXY-protocol / raw-head pre-read, and the hand-over of each
 * socket to lws. */
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hsgate.h"
#include "iplimit.h"
#include "log.h"
#include "preread.h"
#include "sock.h"
#include "wshead.h"
#include "wsguard.h"

/* lws hands us the vhost's SSL_CTX once, while creating the vhost (the
 * "load extra server verify certs" callback is the only hook it has for the
 * server context). */
int listen_tune_ssl_ctx(struct clients *cs, SSL_CTX *ctx)
{
    /* An idle TLS connection keeps no record buffers: OpenSSL frees them
     * whenever they are empty (about 34 KB per connection otherwise, allocated
     * again on the next record). */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(ctx, 0);
    /* One ticket per handshake, not OpenSSL's two: a phone resumes once per
     * reconnect, and each ticket costs an encryption and a write. */
    SSL_CTX_set_num_tickets(ctx, 1);
    /* No server-side session cache: resumption is by ticket only (stateless,
     * works across processes and servers). OpenSSL does not cache TLS 1.3
     * ticket sessions anyway; for TLS 1.2 clients a per-process cache would
     * keep each session after its connection (up to 20,480) and walk them
     * all every 255 handshakes, for resumptions that mostly land elsewhere. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (cs->nticket_keys > 0) {
        char err[160];
        if (tlskeys_attach(ctx, cs->ticket_keys, cs->nticket_keys, err, sizeof err) < 0) {
            log_error("ssl_ticket_key: %s", err);
            return 1;
        }
    }
    cs->tls_ctx_tuned = 1;
    return 0;
}

static lws_adoption_type adopt_type(const struct clients *cs)
{
    if (cs->text)
        return LWS_ADOPT_SOCKET; /* no HTTP flag: a raw socket */
    return LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP | (cs->gw->cfg->ssl_cert[0] ? LWS_ADOPT_ALLOW_SSL : 0);
}

/* ---- the wss handshake gate (hsgate.h): at most maxTlsHandshakes in lws;
 * while it is full the listening socket is not read, so the connections
 * wait in the kernel's accept queue in arrival order. ---- */

/* A handshake counts for this long at most (a client stalled mid-handshake
 * must not hold the gate shut; lws's own timeouts close it later). */
#define GATE_HOLD_MS 1000

static uint64_t now_ms(const struct clients *cs) { return (uint64_t)(ev_now(cs->gw->loop) * 1000.0); }

/* Stops accepting until a handshake ends or the oldest stops counting. */
static void gate_pause(struct clients *cs)
{
    uint64_t at = hsgate_next_expiry(cs->gate), now = now_ms(cs);
    if (!cs->gate_paused) {
        ev_io_stop(cs->gw->loop, &cs->accept_io);
        cs->gate_paused = 1;
        cs->tls_accept_pauses++;
    }
    ev_timer_stop(cs->gw->loop, &cs->gate_timer);
    ev_timer_set(&cs->gate_timer, at > now ? (double)(at - now) / 1000.0 : 0.001, 0.);
    ev_timer_start(cs->gw->loop, &cs->gate_timer);
}

static void gate_resume_if_room(struct clients *cs)
{
    if (!cs->gate_paused || cs->lfd < 0 || hsgate_full(cs->gate, now_ms(cs)))
        return;
    cs->gate_paused = 0;
    ev_timer_stop(cs->gw->loop, &cs->gate_timer);
    ev_io_start(cs->gw->loop, &cs->accept_io);
}

static void on_gate_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct clients *cs = w->data;
    if (cs->lfd >= 0 && hsgate_full(cs->gate, now_ms(cs)))
        gate_pause(cs); /* still full: wait for the next one to age */
    else
        gate_resume_if_room(cs);
}

void listen_handshake_over(struct clients *cs, int fd)
{
    if (!cs->gate)
        return;
    hsgate_end(cs->gate, fd);
    gate_resume_if_room(cs);
}

/* The pre-read stage is done: hand the socket to lws with what it learned
 * attached from the start (set later, it would miss a handshake that lws
 * completes while adopting). */
static void listen_on_drop(void *ctx, int fd)
{
    struct clients *cs = ctx;
    iplimit_release_fd(cs->iplimit, fd);
    listen_handshake_over(cs, fd);
}

/* A WebSocket handshake lws would take wrongly (wshead.h): answered here
 * with the HTTP error and closed. 1 if so. */
static int refuse_bad_handshake(struct clients *cs, int fd, const struct preread_info *info)
{
    char why[96], resp[320];
    int status = wshead_check(info->head, info->head_len, why, sizeof why);
    if (!status)
        return 0;
    char peer[INET6_ADDRSTRLEN];
    uint16_t port;
    sock_peer(fd, peer, sizeof peer, &port);
    log_warn("client %s: bad WebSocket handshake (%s); answered %d", info->have_addr ? info->ip : peer, why, status);
    size_t n = wshead_response(status, resp, sizeof resp);
    /* The head was only peeked: consume it, or the close would reset the
     * connection and could discard the answer. A few hundred bytes then go
     * into a fresh socket's empty send buffer. */
    char sink[1024];
    for (size_t left = info->head_len; left > 0;) {
        ssize_t r = read(fd, sink, left < sizeof sink ? left : sizeof sink);
        if (r <= 0)
            break;
        left -= (size_t)r;
    }
    if (write(fd, resp, n) < 0)
        log_info("bad handshake answer not sent: %s", strerror(errno));
    shutdown(fd, SHUT_WR);
    iplimit_release_fd(cs->iplimit, fd);
    close(fd);
    return 1;
}

static void listen_on_preread(void *ctx, int fd, struct preread_info *info)
{
    struct clients *cs = ctx;
    if (!cs->text && info && info->head && refuse_bad_handshake(cs, fd, info)) {
        preread_info_free(info);
        return;
    }
    lws_adopt_desc_t desc;
    memset(&desc, 0, sizeof desc);
    desc.vh = cs->vh;
    desc.type = adopt_type(cs);
    desc.vh_prot_name = cs->text ? "gateway" : NULL;
    desc.fd.sockfd = fd;
    desc.opaque = info;
    /* The pre-read measured the request head: frames start right after it.
     * Under wss it saw none (TLS): wsguard follows the decrypted head. */
    if (!cs->text && info && info->head)
        wsguard_watch(fd, info->head_len);
    else if (cs->gw->cfg->ssl_cert[0])
        wsguard_watch_tls(fd, info && info->have_addr ? info->ip : NULL);
    struct lws *wsi = lws_adopt_descriptor_vhost_via_info(&desc);
    if (!wsi) {
        log_warn("cannot adopt a client");
        preread_info_free(info);
        iplimit_release_fd(cs->iplimit, fd);
        listen_handshake_over(cs, fd);
        return;
    }
    iplimit_adopted(cs->iplimit, fd, wsi);
}

static void listen_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct clients *cs = w->data;
    for (int i = 0; i < 256; i++) {
        char ip[48];
        uint16_t port;
        if (cs->gate && hsgate_full(cs->gate, now_ms(cs))) {
            gate_pause(cs);
            return;
        }
        int fd = sock_accept(cs->lfd, ip, sizeof ip, &port);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                log_error("accept: %s (raise the open files limit)", strerror(errno));
            return;
        }
        wsguard_reset(fd); /* a new connection on a reused fd number */
        if (!iplimit_admit(cs->iplimit, fd, ip)) {
            close(fd);
            continue;
        }
        if (cs->gate && hsgate_begin(cs->gate, fd, now_ms(cs)) < 0)
            log_warn("out of memory: a wss handshake is not counted (maxTlsHandshakes)");
        if (cs->pre) {
            preread_start(cs->pre, fd, ip, port);
            continue;
        }
        if (cs->gw->cfg->ssl_cert[0])
            wsguard_watch_tls(fd, NULL);
        lws_sock_file_fd_type sfd;
        sfd.sockfd = fd;
        struct lws *wsi = lws_adopt_descriptor_vhost(cs->vh, adopt_type(cs), sfd, cs->text ? "gateway" : NULL, NULL);
        if (!wsi) {
            log_warn("cannot adopt client %s:%u", ip, port);
            iplimit_release_fd(cs->iplimit, fd);
            listen_handshake_over(cs, fd);
        } else {
            iplimit_adopted(cs->iplimit, fd, wsi);
        }
    }
}

/* lws 4.1.6 refuses a handshake whose subprotocols it does not know, so each
 * configured name becomes one more protocol entry with the same callback; a
 * client asking for none binds to the first ("gateway"). */
static int build_protocols(struct clients *cs, const char *list, char *err, size_t errlen)
{
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    cs->protocols = calloc(n + 2, sizeof *cs->protocols);
    cs->subprotocol_names = strdup(list);
    if (!cs->protocols || !cs->subprotocol_names) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* lws allocates rx_buffer_size for every connection: keep it small (an
     * idle client then costs about 2 KB in all, measured by `make bench`);
     * larger messages arrive in pieces that on_receive reassembles. */
    struct lws_protocols proto = {"gateway", clients_lws_cb, sizeof(struct client), 128, 0, NULL, 4096};
    size_t k = 0;
    cs->protocols[k++] = proto;
    char *save = NULL;
    for (char *t = strtok_r(cs->subprotocol_names, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        proto.name = t;
        cs->protocols[k++] = proto;
    }
    return 0;
}

static void lws_log_bridge(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    log_msg(level == LLL_ERR ? LOG_ERROR : LOG_WARN, "lws: %.*s", (int)n, line);
}

int listen_setup(struct clients *cs, int listen_fd, char *err, size_t errlen)
{
    struct gateway *gw = cs->gw;
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_bridge);
    const struct gateway_cfg *cfg = gw->cfg;
    int tls = cfg->ssl_cert[0] != 0;
    if (tls != (cfg->ssl_key[0] != 0)) {
        snprintf(err, errlen, "ssl_cert and ssl_key go together: set both for wss, or neither");
        return -1;
    }
    if (build_protocols(cs, cfg->subprotocols, err, errlen) < 0)
        return -1;
    char why[160];
    if (tls && wsguard_tls_ready(why, sizeof why) < 0) {
        snprintf(err, errlen, "wss: %s", why);
        return -1;
    }
    if (cfg->trustedProxies[0] && trust_parse(cfg->trustedProxies, &cs->trusted, why, sizeof why) < 0) {
        snprintf(err, errlen, "trustedProxies: %s", why);
        return -1;
    }
    if (trust_parse(cfg->metricsAllow, &cs->metrics_allow, why, sizeof why) < 0) {
        snprintf(err, errlen, "metricsAllow: %s", why);
        return -1;
    }
    if (tls && cfg->ssl_ticket_key[0]) {
        cs->nticket_keys = tlskeys_load(cfg->ssl_ticket_key, cs->ticket_keys, why, sizeof why);
        if (cs->nticket_keys < 0) {
            snprintf(err, errlen, "ssl_ticket_key: %s", why);
            return -1;
        }
    }
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *loops[] = {gw->loop};
    /* Not LWS_SERVER_OPTION_VALIDATE_UTF8: lws 4.1.6 checks only the payload
     * of its bulk read path (a text frame parsed byte by byte passes
     * unchecked) and drops a bad close reason without a close frame. Text
     * is checked in clients.c (on_receive), close reasons in wsguard.c. */
    info.options = LWS_SERVER_OPTION_LIBEV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                   (tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0);
    info.foreign_loops = loops;
    info.user = cs;
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    cs->ctx = lws_create_context(&info);
    if (!cs->ctx) {
        snprintf(err, errlen, "cannot create the libwebsockets context (is libwebsockets-evlib-ev installed?)");
        return -1;
    }
    info.protocols = cs->protocols;
    info.vhost_name = "gateway";
    if (tls) {
        /* Without the option on the vhost too, lws silently serves plain text. */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cfg->ssl_cert;
        info.ssl_private_key_filepath = cfg->ssl_key;
        info.alpn = "http/1.1";
    }
    /* /health, /metrics and /ws-check are answered by our callback; the
     * rest of the site, when webRoot is set, comes from the files. */
    static const char *const ours[] = {"/health", "/metrics", "/ws-check"};
    for (int i = 0; i < 3; i++) {
        cs->mounts[i].mountpoint = ours[i];
        cs->mounts[i].mountpoint_len = (unsigned char)strlen(ours[i]);
        cs->mounts[i].origin = "gateway";
        cs->mounts[i].origin_protocol = LWSMPRO_CALLBACK;
        if (i < 2)
            cs->mounts[i].mount_next = &cs->mounts[i + 1];
    }
    if (cfg->webRoot[0]) {
        cs->mounts[2].mount_next = &cs->mounts[3];
        cs->mounts[3].mountpoint = "/";
        cs->mounts[3].mountpoint_len = 1;
        cs->mounts[3].origin = cfg->webRoot;
        cs->mounts[3].def = "index.html";
        cs->mounts[3].origin_protocol = LWSMPRO_FILE;
    }
    info.mounts = &cs->mounts[0];
    /* No lws "validity" timer per connection: each one is inserted into a
     * sorted list by a linear walk, which made connects cost O(n) (64 % of
     * the gateway's CPU at 19k connections). Heartbeats are our own single
     * periodic tick (pingInterval). */
    static const lws_retry_bo_t no_validity;
    info.retry_and_idle_policy = &no_validity;
    cs->vh = lws_create_vhost(cs->ctx, &info);
    if (!cs->vh) {
        snprintf(err, errlen, tls ? "cannot create the wss vhost: check ssl_cert %s and ssl_key %s"
                                  : "cannot create the libwebsockets vhost",
                 cfg->ssl_cert, cfg->ssl_key);
        lws_context_destroy(cs->ctx);
        return -1;
    }
    OPENSSL_cleanse(cs->ticket_keys, sizeof cs->ticket_keys); /* the SSL_CTX holds its copy now */
    if (tls && !cs->tls_ctx_tuned) {
        snprintf(err, errlen, "the wss vhost was created without its SSL_CTX hook: ticket keys and memory "
                              "settings would be silently missing");
        lws_context_destroy(cs->ctx);
        return -1;
    }
    if (cfg->maxConnectionsPerIp > 0 && !(cs->iplimit = iplimit_new((size_t)cfg->maxConnectionsPerIp))) {
        snprintf(err, errlen, "out of memory");
        lws_context_destroy(cs->ctx);
        return -1;
    }
    if (tls && cfg->maxTlsHandshakes > 0) {
        if (!(cs->gate = hsgate_new((unsigned)cfg->maxTlsHandshakes, GATE_HOLD_MS))) {
            snprintf(err, errlen, "out of memory");
            lws_context_destroy(cs->ctx);
            return -1;
        }
        ev_timer_init(&cs->gate_timer, on_gate_timer, 0., 0.);
        cs->gate_timer.data = cs;
    }
    ev_io_init(&cs->accept_io, listen_on_accept, listen_fd, EV_READ);
    cs->accept_io.data = cs;
    ev_io_start(gw->loop, &cs->accept_io);
    /* The raw head can be peeked only in clear text: not for wss, and
     * text:// clients send no head at all. */
    int want_head = !cs->text && !tls;
    if (cfg->proxyProtocol || want_head) {
        cs->pre = preread_new(gw->loop, cfg->proxyProtocol, want_head, listen_on_preread, cs);
        if (!cs->pre) {
            snprintf(err, errlen, "out of memory");
            lws_context_destroy(cs->ctx);
            return -1;
        }
        preread_on_drop(cs->pre, listen_on_drop);
    }
    return 0;
}

void listen_stop(struct clients *cs)
{
    ev_io_stop(cs->gw->loop, &cs->accept_io);
    if (cs->gate)
        ev_timer_stop(cs->gw->loop, &cs->gate_timer);
    if (cs->lfd >= 0)
        close(cs->lfd);
    cs->lfd = -1;
}

void listen_free(struct clients *cs)
{
    preread_free(cs->pre);
    cs->pre = NULL;
    if (cs->ctx)
        lws_context_destroy(cs->ctx);
    cs->ctx = NULL;
    iplimit_free(cs->iplimit); /* after the context: destroying it releases its wsis */
    cs->iplimit = NULL;
    if (cs->gate)
        ev_timer_stop(cs->gw->loop, &cs->gate_timer);
    hsgate_free(cs->gate);
    cs->gate = NULL;
    free(cs->protocols);
    free(cs->subprotocol_names);
    cs->protocols = NULL;
    cs->subprotocol_names = NULL;
}
