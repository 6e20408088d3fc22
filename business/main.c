/* business: runs the application (GatewayWorker's BusinessWorker).
 *
 * This is the foundation's thin entry point: the settings and the command line
 * are real and validated, running applications is issue 4. `start` says so
 * plainly instead of pretending to run. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "proc.h"

struct business_cfg {
    struct cfg_common common;
    long count;
    struct cfg_addrlist registerAddress;
    char *secretKey;
    char *eventHandler;
};

#define OFF(f) offsetof(struct business_cfg, f)
static const struct cfg_opt business_opts[] = {
    {"count", CFG_INT, OFF(count), "1", 1, 64, "number of business worker processes"},
    {"registerAddress", CFG_ADDRLIST, OFF(registerAddress), "127.0.0.1:1236", 0, 0,
     "register address, or a comma-separated list"},
    {"secretKey", CFG_STR, OFF(secretKey), "", 0, 0, "shared key for the register and the gateways"},
    {"eventHandler", CFG_PATH, OFF(eventHandler), NULL, 0, 0, "the application, a shared object (.so)"},
    {NULL, 0, 0, NULL, 0, 0, NULL},
};

static void *business_prepare(void *cfg, char *err, size_t errlen)
{
    (void)cfg;
    snprintf(err, errlen, "the business worker does not run applications yet (settings are valid; see issue 4)");
    return NULL;
}

static int business_run(void *state)
{
    (void)state;
    return 1;
}

static void business_destroy(void *state) { (void)state; }

int main(int argc, char **argv)
{
    static const struct proc_role role = {
        .name = "business",
        .summary = "GatewayWorker-compatible BusinessWorker: runs the application behind the gateways",
        .opts = business_opts,
        .cfg_size = sizeof(struct business_cfg),
        .prepare = business_prepare,
        .run = business_run,
        .destroy = business_destroy,
    };
    log_init("business", LOG_INFO);
    return proc_main(&role, argc, argv);
}
