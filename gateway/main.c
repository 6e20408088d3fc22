/* gateway: holds the clients' WebSocket connections (GatewayWorker's Gateway).
 *
 * This is the foundation's thin entry point: the settings and the command line
 * are real and validated, serving clients is issue 3. `start` says so plainly
 * instead of pretending to run. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "proc.h"

struct gateway_cfg {
    struct cfg_common common;
    struct netaddr_listen listen;
    char *lanIp;
    long startPort;
    long count;
    struct cfg_addrlist registerAddress;
    char *secretKey;
    long pingInterval;
    long pingNotResponseLimit;
    char *pingData;
};

#define OFF(f) offsetof(struct gateway_cfg, f)
static const struct cfg_opt gateway_opts[] = {
    {"listen", CFG_LISTEN, OFF(listen), "websocket://0.0.0.0:1240", 0, 0, "client-facing socket name"},
    {"lanIp", CFG_STR, OFF(lanIp), "127.0.0.1", 0, 0, "IPv4 address business workers use to reach this gateway"},
    {"startPort", CFG_INT, OFF(startPort), "2000", 1, 65535, "internal port of process i is startPort + i"},
    {"count", CFG_INT, OFF(count), "1", 1, 64, "number of gateway processes"},
    {"registerAddress", CFG_ADDRLIST, OFF(registerAddress), "127.0.0.1:1236", 0, 0,
     "register address, or a comma-separated list"},
    {"secretKey", CFG_STR, OFF(secretKey), "", 0, 0, "shared key for the register and the internal port"},
    {"pingInterval", CFG_INT, OFF(pingInterval), "0", 0, 86400, "client heartbeat interval in seconds (0 = off)"},
    {"pingNotResponseLimit", CFG_INT, OFF(pingNotResponseLimit), "0", 0, 1000,
     "silent intervals before a client is dropped (0 = never)"},
    {"pingData", CFG_STR, OFF(pingData), "", 0, 0, "bytes sent to clients as a heartbeat (empty = none)"},
    {NULL, 0, 0, NULL, 0, 0, NULL},
};

static void *gateway_prepare(void *cfg, char *err, size_t errlen)
{
    (void)cfg;
    snprintf(err, errlen, "the gateway does not serve clients yet (settings are valid; see issue 3)");
    return NULL;
}

static int gateway_run(void *state)
{
    (void)state;
    return 1;
}

static void gateway_destroy(void *state) { (void)state; }

int main(int argc, char **argv)
{
    static const struct proc_role role = {
        .name = "gateway",
        .summary = "GatewayWorker-compatible Gateway: holds client connections, relays events to business workers",
        .opts = gateway_opts,
        .cfg_size = sizeof(struct gateway_cfg),
        .prepare = gateway_prepare,
        .run = gateway_run,
        .destroy = gateway_destroy,
    };
    log_init("gateway", LOG_INFO);
    return proc_main(&role, argc, argv);
}
