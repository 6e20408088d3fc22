/* gateway: holds the clients' WebSocket connections (GatewayWorker's Gateway).
 *
 * `start` binds every socket first (client port once per process with
 * SO_REUSEPORT, internal ports startPort+i), so a taken port fails on the
 * terminal. With count = 1 the process serves directly; with more, a master
 * forks one child per index and re-forks any that dies, each child keeping
 * its index and so its internal port. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clients.h"
#include "gateway.h"
#include "lan.h"
#include "log.h"
#include "loop.h"
#include "netaddr.h"
#include "proc.h"
#include "regclient.h"
#include "sock.h"
#include "supervise.h"
#include "trust.h"
#include "tlskeys.h"
#include "state.h"

#define OFF(f) offsetof(struct gateway_cfg, f)
static const struct cfg_opt gateway_opts[] = {
    {"listen", CFG_LISTEN, OFF(listen), "websocket://0.0.0.0:1240", 0, 0, "client-facing socket name"},
    {"lanIp", CFG_STR, OFF(lanIp), "127.0.0.1", 0, 0,
     "dotted-quad IPv4 business workers use to reach this gateway (goes into every client_id)"},
    {"startPort", CFG_INT, OFF(startPort), "2000", 1, 65535, "internal port of process i is startPort + i"},
    {"count", CFG_INT, OFF(count), "1", 1, 64, "number of gateway processes"},
    {"registerAddress", CFG_ADDRLIST, OFF(registerAddress), "127.0.0.1:1236", 0, 0,
     "register address, or a comma-separated list"},
    {"secretKey", CFG_STR, OFF(secretKey), "", 0, 0, "shared key for the register and the internal port"},
    {"allowEmptySecretOnLan", CFG_BOOL, OFF(allowEmptySecretOnLan), "off", 0, 0,
     "start even though secretKey is empty and lanIp is not loopback (anyone on the LAN can command every client)"},
    {"pingInterval", CFG_INT, OFF(pingInterval), "0", 0, 86400, "client heartbeat interval in seconds (0 = off)"},
    {"pingNotResponseLimit", CFG_INT, OFF(pingNotResponseLimit), "0", 0, 1000,
     "silent intervals before a client is dropped (0 = never)"},
    {"pingData", CFG_STR, OFF(pingData), "", 0, 0, "bytes sent to clients as a heartbeat (empty = none)"},
    {"maxPackageSize", CFG_INT, OFF(maxPackageSize), "10485760", 1024, 1073741824,
     "largest client message or internal frame accepted, in bytes"},
    {"sendToWorkerBufferSize", CFG_INT, OFF(sendToWorkerBufferSize), "10240000", 65536, 1073741824,
     "bytes queued to one business worker before events are dropped"},
    {"sendToClientBufferSize", CFG_INT, OFF(sendToClientBufferSize), "1024000", 1024, 1073741824,
     "bytes queued to one client before it is closed as a slow consumer"},
    {"ssl_cert", CFG_PATH, OFF(ssl_cert), "", 0, 0, "PEM certificate (chain): with ssl_key, clients connect with wss://"},
    {"ssl_key", CFG_PATH, OFF(ssl_key), "", 0, 0, "PEM private key for ssl_cert"},
    {"ssl_ticket_key", CFG_STR, OFF(ssl_ticket_key), "", 0, 0,
     "TLS session-ticket key files (80 random bytes each, absolute paths, comma-separated; the first encrypts, "
     "all decrypt): the same files on every gateway let clients resume their TLS session anywhere"},
    {"webRoot", CFG_PATH, OFF(webRoot), "", 0, 0, "folder served as static files on the client port (index.html)"},
    {"subprotocols", CFG_STR, OFF(subprotocols), "", 0, 0,
     "WebSocket subprotocols accepted besides none, comma-separated (lws refuses unknown ones)"},
    {"proxyProtocol", CFG_BOOL, OFF(proxyProtocol), "off", 0, 0,
     "every client connection starts with a PROXY protocol v1/v2 header (load balancer)"},
    {"trustedProxies", CFG_STR, OFF(trustedProxies), "", 0, 0,
     "proxies (IPs, CIDRs, comma-separated) whose X-Forwarded-For / X-Real-IP name the client"},
    {"wsCheck", CFG_BOOL, OFF(wsCheck), "on", 0, 0,
     "serve /ws-check: a page whose WebSocket shows which gateway answered and the client address it saw"},
    {"metricsAllow", CFG_STR, OFF(metricsAllow), "127.0.0.1, ::1", 0, 0,
     "who may read GET /metrics (Prometheus text): IPs, CIDRs, comma-separated; empty = nobody"},
    {"router", CFG_STR, OFF(router), "leastConnections", 0, 0,
     "how a client's first event picks a business worker: leastConnections, random or client (all sticky)"},
    {"pendingTimeout", CFG_INT, OFF(pendingTimeout), "30", 0, 3600,
     "seconds client events are held while no business worker is connected (0 = drop at once)"},
    {"pendingBufferSize", CFG_INT, OFF(pendingBufferSize), "4194304", 0, 1073741824,
     "bytes of client events held while no business worker is connected"},
    {"maxConnectionsPerIp", CFG_INT, OFF(maxConnectionsPerIp), "0", 0, 10000000,
     "client connections one address (the TCP peer) may hold at once per process, handshakes included (0 = no limit)"},
    {"maxTlsHandshakes", CFG_INT, OFF(maxTlsHandshakes), "512", 0, 1000000,
     "wss only: TLS handshakes one process works on at once; more connections wait in the kernel's accept "
     "queue until one ends (libwebsockets' cost per handshake grows with the number in flight; a handshake "
     "counts for 1 s at most; 0 = no limit)"},
    {"clientWritePath", CFG_STR, OFF(clientWritePath), "uring", 0, 0,
     "how queued frames reach plain ws:// clients: uring (a write pass's sends in one io_uring submission; "
     "direct where io_uring is unavailable or GW_NO_IO_URING is set), direct (one send() per client, past "
     "libwebsockets) or lws (lws_write); wss always goes through libwebsockets"},
    {NULL, 0, 0, NULL, 0, 0, NULL},
};

struct gw_master {
    struct gateway_cfg *cfg;
    int count;
    int *client_fds; /* per process: its SO_REUSEPORT client socket */
    int *lan_fds;    /* per process: its internal port */
};

/* ---- one gateway process ---- */

struct gw_proc {
    struct gateway gw;
    int graceful;
    time_t started;
};

static void write_child_status(struct gw_proc *p)
{
    char line[800];
    const struct gateway_cfg *cfg = p->gw.cfg;
    struct clients_stats st;
    clients_stats(p->gw.clients, &st);
    snprintf(line, sizeof line,
             "  process %d  pid %d  listen %s://%s:%u  internal %s  clients %zu  workers %zu  links %zu  registers %d  "
             "held events %zu  dropped events %llu\n"
             "    messages in %llu/s (%llu)  out %llu/s (%llu)  waiting to write %llu  closed: slow %llu, "
             "heartbeat %llu\n",
             p->gw.index, (int)getpid(), cfg->listen.scheme, cfg->listen.host, cfg->listen.port, p->gw.lan_address,
             clients_count(p->gw.clients), lan_worker_count(p->gw.lan), lan_link_count(p->gw.lan),
             regclient_connected(p->gw.reg), lan_pending_count(p->gw.lan),
             (unsigned long long)lan_dropped_events(p->gw.lan), (unsigned long long)st.in_per_second,
             (unsigned long long)st.messages_in, (unsigned long long)st.out_per_second,
             (unsigned long long)st.messages_out, (unsigned long long)st.waiting_to_write,
             (unsigned long long)st.slow_closes, (unsigned long long)st.heartbeat_closes);
    if (cfg->count == 1) {
        /* No master: this process answers the status command itself. */
        char uptime[64], all[1000];
        proc_format_uptime((long long)(time(NULL) - p->started), uptime, sizeof uptime);
        snprintf(all, sizeof all, "gateway pid %d  processes 1  uptime %s\n%s", (int)getpid(), uptime, line);
        proc_write_status(&cfg->common, all);
        return;
    }
    supervise_write_child_status(&cfg->common, p->gw.index, line);
}

static void on_graceful_check(struct loop *loop, void *data)
{
    struct gw_proc *p = data;
    if (clients_count(p->gw.clients) == 0)
        loop_stop(loop);
}

static void on_child_signal(struct loop *loop, int signo, void *data)
{
    struct gw_proc *p = data;
    switch (signo) {
    case SIGTERM:
    case SIGINT:
        log_info("stopping (signal %d)", signo);
        loop_stop(loop);
        break;
    case SIGQUIT:
        if (!p->graceful) {
            p->graceful = 1;
            log_info("stopping gracefully: no new clients; exiting once the %zu connected ones are gone",
                     clients_count(p->gw.clients));
            clients_stop_accepting(p->gw.clients);
            loop_every(loop, 200, on_graceful_check, p);
        }
        break;
    case SIGUSR1:
        log_info("reload requested: the gateway is not reloadable; clients stay connected");
        break;
    case SIGUSR2:
        write_child_status(p);
        break;
    }
}

static int run_process(const struct gateway_cfg *cfg, int index, int client_fd, int lan_fd)
{
    struct gw_proc p;
    memset(&p, 0, sizeof p);
    struct gateway *gw = &p.gw;
    char err[256];
    gw->cfg = cfg;
    gw->index = index;
    p.started = time(NULL);
    netaddr_parse_ipv4(cfg->lanIp, strlen(cfg->lanIp), &gw->lan_ip);
    gw->lan_port = (uint16_t)(cfg->startPort + index);
    char ipbuf[16];
    netaddr_format_ipv4(gw->lan_ip, ipbuf);
    snprintf(gw->lan_address, sizeof gw->lan_address, "%s:%u", ipbuf, gw->lan_port);
    signal(SIGPIPE, SIG_IGN);
    gw->ioloop = loop_new();
    if (!gw->ioloop) {
        log_error("cannot create the event loop");
        return 1;
    }
    gw->loop = loop_ev(gw->ioloop);
    gw->clients = clients_new(gw, client_fd, err, sizeof err);
    if (!gw->clients) {
        log_error("%s", err);
        return 1;
    }
    gw->state = gws_new(clients_gws_ops(), gw->clients);
    gw->lan = lan_new(gw, lan_fd);
    struct regclient_cfg rcfg = {&cfg->registerAddress, cfg->secretKey, gw->lan_address, NULL, NULL};
    gw->reg = regclient_new(gw->ioloop, &rcfg);
    if (!gw->state || !gw->lan || !gw->reg) {
        log_error("out of memory at start-up");
        return 1;
    }
    int sigs[] = {SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2};
    for (int i = 0; i < 5; i++)
        if (loop_signal(gw->ioloop, sigs[i], on_child_signal, &p) < 0) {
            log_error("cannot watch signal %d", sigs[i]);
            return 1;
        }
    log_info("process %d serving %s://%s:%u, internal port %s, registers: %d", index, cfg->listen.scheme,
             cfg->listen.host, cfg->listen.port, gw->lan_address, cfg->registerAddress.n);
    loop_run(gw->ioloop);
    /* Clients first: their ON_CLOSE events still need the links. */
    clients_free(gw->clients);
    regclient_free(gw->reg);
    lan_free(gw->lan);
    gws_free(gw->state);
    loop_free(gw->ioloop);
    log_info("process %d stopped", index);
    return 0;
}

/* ---- the master ---- */

/* Every bad value, for `check` and (the first one) for start. */
static void gateway_check(const void *cfgp, struct cfg_check *chk)
{
    const struct gateway_cfg *cfg = cfgp;
    uint32_t ip;
    if (strcmp(cfg->listen.scheme, "websocket") != 0 && strcmp(cfg->listen.scheme, "text") != 0)
        cfg_problem(chk, "listen", "websocket:// or text://, not %s://", cfg->listen.scheme);
    if (strcmp(cfg->listen.scheme, "text") == 0 && cfg->ssl_cert[0])
        cfg_problem(chk, "ssl_cert", "TLS is offered for websocket:// only");
    if (!netaddr_parse_ipv4(cfg->lanIp, strlen(cfg->lanIp), &ip) || ip == 0)
        cfg_problem(chk, "lanIp", "'%s' must be a dotted-quad IPv4 address workers can reach (not 0.0.0.0, no "
                    "host name): client_ids and routing depend on it", cfg->lanIp);
    if (strcmp(cfg->clientWritePath, "direct") && strcmp(cfg->clientWritePath, "uring") &&
        strcmp(cfg->clientWritePath, "lws"))
        cfg_problem(chk, "clientWritePath", "'%s' is not direct, uring or lws", cfg->clientWritePath);
    if (strcmp(cfg->router, "leastConnections") && strcmp(cfg->router, "random") && strcmp(cfg->router, "client"))
        cfg_problem(chk, "router", "'%s' is not leastConnections, random or client", cfg->router);
    if (cfg->startPort + cfg->count - 1 > 65535)
        cfg_problem(chk, "startPort", "startPort + count - 1 exceeds 65535");
    if (cfg->ssl_ticket_key[0]) { /* checked before start too, so a bad key file fails on the terminal */
        if (!cfg->ssl_cert[0])
            cfg_problem(chk, "ssl_ticket_key", "only with ssl_cert and ssl_key (wss)");
        int relative = 0;
        for (const char *p = cfg->ssl_ticket_key; *p; p++)
            if ((p == cfg->ssl_ticket_key || p[-1] == ',' || p[-1] == ' ') && *p != ',' && *p != ' ' && *p != '/')
                relative = 1;
        struct tlskey keys[TLSKEYS_MAX];
        char why[200];
        if (relative)
            cfg_problem(chk, "ssl_ticket_key", "absolute paths only (the daemon runs in /): %s", cfg->ssl_ticket_key);
        else if (tlskeys_load(cfg->ssl_ticket_key, keys, why, sizeof why) < 0)
            cfg_problem(chk, "ssl_ticket_key", "%s", why);
        OPENSSL_cleanse(keys, sizeof keys);
    }
    if (!cfg->secretKey[0] && !netaddr_is_loopback(cfg->lanIp) && !cfg->allowEmptySecretOnLan)
        cfg_problem(chk, "secretKey", "empty while lanIp %s is not loopback: anyone reaching the internal ports "
                    "could command every client; set secretKey (the same on every role), or "
                    "allowEmptySecretOnLan = on to run open anyway", cfg->lanIp);
    if (!chk->full)
        return;
    /* What each gateway process finds out only when it sets up its listener
     * (listen.c), and the files the settings name. */
    if ((cfg->ssl_cert[0] != 0) != (cfg->ssl_key[0] != 0))
        cfg_problem(chk, cfg->ssl_cert[0] ? "ssl_key" : "ssl_cert",
                    "ssl_cert and ssl_key go together: set both for wss, or neither");
    if (cfg->ssl_cert[0] && access(cfg->ssl_cert, R_OK) < 0)
        cfg_problem(chk, "ssl_cert", "%s: %s", cfg->ssl_cert, strerror(errno));
    if (cfg->ssl_key[0] && access(cfg->ssl_key, R_OK) < 0)
        cfg_problem(chk, "ssl_key", "%s: %s", cfg->ssl_key, strerror(errno));
    struct stat st;
    if (cfg->webRoot[0] && stat(cfg->webRoot, &st) < 0)
        cfg_problem(chk, "webRoot", "%s: %s", cfg->webRoot, strerror(errno));
    else if (cfg->webRoot[0] && !S_ISDIR(st.st_mode))
        cfg_problem(chk, "webRoot", "%s: not a folder", cfg->webRoot);
    struct trust_list tl;
    char why[256];
    if (cfg->trustedProxies[0] && trust_parse(cfg->trustedProxies, &tl, why, sizeof why) < 0)
        cfg_problem(chk, "trustedProxies", "%s", why);
    if (trust_parse(cfg->metricsAllow, &tl, why, sizeof why) < 0)
        cfg_problem(chk, "metricsAllow", "%s", why);
}

static void *gateway_prepare(void *cfgp, char *err, size_t errlen)
{
    struct gateway_cfg *cfg = cfgp;
    struct cfg_check chk = {.c = cfgp, .err = err, .errlen = errlen};
    gateway_check(cfg, &chk);
    if (chk.n)
        return NULL;
    /* PHP's default (no key, internal port on the LAN) lets anyone who reaches
     * the internal port send to, kick or read every client: refused unless
     * the operator says so in writing (gateway_check), and then said loudly. */
    if (!cfg->secretKey[0] && !netaddr_is_loopback(cfg->lanIp)) {
        log_warn("secretKey is empty and lanIp %s is not loopback: anyone reaching the internal ports can "
                 "command every client (allowEmptySecretOnLan is on)", cfg->lanIp);
    }
    struct gw_master *m = calloc(1, sizeof *m);
    m->cfg = cfg;
    m->count = (int)cfg->count;
    m->client_fds = calloc((size_t)m->count, sizeof(int));
    m->lan_fds = calloc((size_t)m->count, sizeof(int));
    for (int i = 0; i < m->count; i++)
        m->client_fds[i] = m->lan_fds[i] = -1;
    /* The client backlog is as deep as the kernel allows (net.core.somaxconn
     * caps it: 4096 by default, 65535 with deploy/sysctl): under wss the
     * accept queue is where a reconnect storm waits while maxTlsHandshakes
     * are in progress (hsgate.h), and a full queue delays a connect by a
     * SYN-ACK retransmission (1 s). */
    for (int i = 0; i < m->count; i++) {
        m->client_fds[i] = sock_listen(cfg->listen.host, cfg->listen.port, 1, 65535, err, errlen);
        if (m->client_fds[i] < 0)
            goto fail;
        /* The internal port is bound on lanIp itself (§14 #3: not 0.0.0.0). */
        m->lan_fds[i] = sock_listen(cfg->lanIp, (uint16_t)(cfg->startPort + i), 0, 1024, err, errlen);
        if (m->lan_fds[i] < 0)
            goto fail;
    }
    return m;
fail:
    for (int i = 0; i < m->count; i++) {
        if (m->client_fds[i] >= 0)
            close(m->client_fds[i]);
        if (m->lan_fds[i] >= 0)
            close(m->lan_fds[i]);
    }
    free(m->client_fds);
    free(m->lan_fds);
    free(m);
    return NULL;
}

/* In a forked child: keep only this process' sockets, then serve. */
static int run_child(void *ctx, int i)
{
    struct gw_master *m = ctx;
    for (int j = 0; j < m->count; j++)
        if (j != i) {
            close(m->client_fds[j]);
            close(m->lan_fds[j]);
        }
    return run_process(m->cfg, i, m->client_fds[i], m->lan_fds[i]);
}

static int gateway_run(void *state)
{
    struct gw_master *m = state;
    log_init("gateway", LOG_INFO);
    if (m->count == 1)
        return run_process(m->cfg, 0, m->client_fds[0], m->lan_fds[0]);
    struct supervise_params sp = {"gateway", m->count, &m->cfg->common, run_child, NULL, m};
    return supervise_run(&sp);
}

static void gateway_destroy(void *state)
{
    struct gw_master *m = state;
    for (int i = 0; i < m->count; i++) {
        /* count == 1 hands its fds to the modules, which close them. */
        if (m->count > 1) {
            close(m->client_fds[i]);
            close(m->lan_fds[i]);
        }
    }
    free(m->client_fds);
    free(m->lan_fds);
    free(m);
}

int main(int argc, char **argv)
{
    static const struct proc_role role = {
        .name = "gateway",
        .summary = "GatewayWorker-compatible Gateway: holds client connections, relays events to business workers",
        .opts = gateway_opts,
        .cfg_size = sizeof(struct gateway_cfg),
        .prepare = gateway_prepare,
        .check = gateway_check,
        .run = gateway_run,
        .destroy = gateway_destroy,
    };
    log_init("gateway", LOG_INFO);
    return proc_main(&role, argc, argv);
}
