/* business: runs the application (GatewayWorker's BusinessWorker).
 *
 * `start` validates the settings and test-loads the application on the
 * terminal, then a master forks `count` worker processes and starts again
 * any that dies (each keeps its index, part of its worker_key). Each worker
 * process loads the application itself, so `reload` (SIGUSR1: every worker
 * exits after its current event and is forked again) picks up a rebuilt .so.
 * One worker process = one loop (shared/loop): register links, gateway
 * links, and the application's callbacks, one event at a time. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "appenv.h"
#include "bw.h"
#include "events.h"
#include "links.h"
#include "loader.h"
#include "log.h"
#include "loop.h"
#include "proc.h"
#include "supervise.h"
#include "query.h"
#include "regclient.h"

#define TICK_MS 100
/* A worker that dies sooner than this after its start is forked again only
 * after this delay, so a crash at start-up does not become a fork storm. */

#define OFF(f) offsetof(struct business_cfg, f)
static const struct cfg_opt business_opts[] = {
    {"count", CFG_INT, OFF(count), "1", 1, 64, "number of business worker processes"},
    {"registerAddress", CFG_ADDRLIST, OFF(registerAddress), "127.0.0.1:1236", 0, 0,
     "register address, or a comma-separated list"},
    {"secretKey", CFG_STR, OFF(secretKey), "", 0, 0, "shared key for the register and the gateways"},
    {"eventHandler", CFG_PATH, OFF(eventHandler), NULL, 0, 0,
     "the application, a shared object (.so) exporting gw_app() (see business/gw_api.h)"},
    {"slowCallbackMs", CFG_INT, OFF(slowCallbackMs), "500", 1, 3600000,
     "a callback running longer than this is logged with its client_id and command"},
    {"sendToGatewayBufferSize", CFG_INT, OFF(sendToGatewayBufferSize), "10240000", 65536, 1073741824,
     "bytes queued to one gateway before further commands to it are dropped"},
    {NULL, 0, 0, NULL, 0, 0, NULL},
};

/* ---- one worker process ---- */

static void write_child_status(struct bw *bw)
{
    char line[600];
    snprintf(line, sizeof line,
             "  process %d  pid %d  worker_key %s  registers %d/%d  gateways %zu up of %zu\n"
             "    events in %llu/s (%llu)  commands out %llu/s (%llu)  queued to gateways %zu bytes  "
             "dropped commands %llu\n",
             bw->index, (int)getpid(), bw->worker_key, regclient_connected(bw->reg), bw->cfg->registerAddress.n,
             links_up(bw->links), links_count(bw->links), (unsigned long long)bw->rate_in,
             (unsigned long long)bw->events_in, (unsigned long long)bw->rate_out, (unsigned long long)bw->commands_out,
             links_queued_bytes(bw->links), (unsigned long long)bw->commands_dropped);
    supervise_write_child_status(&bw->cfg->common, bw->index, line);
}

static void on_signal(struct loop *loop, int signo, void *data)
{
    struct bw *bw = data;
    switch (signo) {
    case SIGUSR2:
        write_child_status(bw);
        return;
    case SIGUSR1:
        log_info("process %d: reload: exiting so the master starts it again with the application reloaded",
                 bw->index);
        break;
    default:
        log_info("process %d: stopping (signal %d)", bw->index, signo);
        break;
    }
    bw->stopping = 1;
    loop_stop(loop);
}

static void on_tick(struct loop *loop, void *data)
{
    (void)loop;
    struct bw *bw = data;
    int64_t now = loop_now_ms();
    links_tick(bw->links, now);
    query_tick(bw->query, now);
    if (now - bw->rate_at >= 1000) { /* the last second's rates, for status */
        bw->rate_in = bw->events_in - bw->last_in;
        bw->rate_out = bw->commands_out - bw->last_out;
        bw->last_in = bw->events_in;
        bw->last_out = bw->commands_out;
        bw->rate_at = now;
    }
}

static void on_addresses(void *data, char *const *addrs, size_t n)
{
    struct bw *bw = data;
    links_set_addresses(bw->links, addrs, n);
}

static int run_process(const struct business_cfg *cfg, int index)
{
    struct bw bw;
    struct loader ld;
    char err[512];
    int rc = 1;
    memset(&bw, 0, sizeof bw);
    memset(&ld, 0, sizeof ld);
    bw.cfg = cfg;
    bw.index = index;
    snprintf(bw.worker_key, sizeof bw.worker_key, "%s:%d", cfg->common.name, index);
    bw.info = (struct gw_worker_info){cfg->common.name, index, (int)cfg->count};
    msgpack_zone_init(&bw.ctx.zone, 4096);
    signal(SIGPIPE, SIG_IGN);
    if (loader_open(&ld, cfg->eventHandler, err, sizeof err) < 0) {
        log_error("process %d: %s", index, err);
        goto out;
    }
    bw.app = ld.app;
    bw.loop = loop_new();
    if (!bw.loop || !(bw.links = links_new(&bw)) || !(bw.query = query_new(&bw))) {
        log_error("process %d: out of memory at start-up", index);
        goto out;
    }
    int sigs[] = {SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2};
    for (int i = 0; i < 5; i++)
        if (loop_signal(bw.loop, sigs[i], on_signal, &bw) < 0) {
            log_error("process %d: cannot watch signal %d", index, sigs[i]);
            goto out;
        }
    if (loop_every(bw.loop, TICK_MS, on_tick, &bw) < 0)
        goto out;
    api_bind(&bw);
    if (bw.app->on_worker_start && bw.app->on_worker_start(&bw.info) != 0) {
        log_error("process %d: the application's on_worker_start failed; exiting", index);
        goto out;
    }
    struct regclient_cfg rcfg = {&cfg->registerAddress, cfg->secretKey, NULL, on_addresses, &bw};
    if (!(bw.reg = regclient_new(bw.loop, &rcfg))) {
        log_error("process %d: out of memory at start-up", index);
        goto out;
    }
    log_info("process %d: worker_key %s, application %s, registers: %d", index, bw.worker_key, cfg->eventHandler,
             cfg->registerAddress.n);
    rc = loop_run(bw.loop) < 0 ? 1 : 0; /* queued pushes are written on the way out */
    if (bw.app->on_worker_stop)
        bw.app->on_worker_stop(&bw.info);
out:
    appenv_timers_free();
    api_bind(NULL);
    regclient_free(bw.reg);
    links_free(bw.links); /* flushes what the last callbacks queued */
    query_free(bw.query);
    events_free(&bw);
    loop_free(bw.loop);
    buf_free(&bw.ctx.scratch);
    buf_free(&bw.ctx.baseline);
    msgpack_zone_destroy(&bw.ctx.zone);
    loader_close(&ld);
    log_info("process %d stopped", index);
    return rc;
}

/* ---- the master ---- */

struct bw_master {
    struct business_cfg *cfg;
    int count;
};


static void business_check(const void *cfgp, struct cfg_check *chk)
{
    const struct business_cfg *cfg = cfgp;
    if (!cfg->eventHandler || !cfg->eventHandler[0])
        cfg_problem(chk, "eventHandler", "not set (the application's .so, e.g. build/apps/echo.so)");
    else if (chk->full && access(cfg->eventHandler, R_OK) < 0)
        cfg_problem(chk, "eventHandler", "%s: %s", cfg->eventHandler, strerror(errno));
    if (cfg->registerAddress.n == 0)
        cfg_problem(chk, "registerAddress", "at least one register is needed");
}

static void *business_prepare(void *cfgp, char *err, size_t errlen)
{
    struct business_cfg *cfg = cfgp;
    struct cfg_check chk = {.c = cfgp, .err = err, .errlen = errlen};
    business_check(cfg, &chk);
    if (chk.n)
        return NULL;
    struct loader ld;
    if (loader_open(&ld, cfg->eventHandler, err, errlen) < 0)
        return NULL;
    loader_close(&ld);
    struct bw_master *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->cfg = cfg;
    m->count = (int)cfg->count;
    return m;
}

static int run_child(void *ctx, int i)
{
    struct bw_master *m = ctx;
    return run_process(m->cfg, i);
}

static void status_header(void *ctx, struct buf *out)
{
    struct bw_master *m = ctx;
    buf_printf(out, "  application %s\n", m->cfg->eventHandler);
}

static int business_run(void *state)
{
    struct bw_master *m = state;
    log_init("business", LOG_INFO);
    struct supervise_params sp = {"business", m->count, &m->cfg->common, run_child, status_header, m};
    return supervise_run(&sp);
}

static void business_destroy(void *state)
{
    struct bw_master *m = state;
    free(m);
}

int main(int argc, char **argv)
{
    static const struct proc_role role = {
        .name = "business",
        .summary = "GatewayWorker-compatible BusinessWorker: runs the application behind the gateways",
        .opts = business_opts,
        .cfg_size = sizeof(struct business_cfg),
        .prepare = business_prepare,
        .check = business_check,
        .run = business_run,
        .destroy = business_destroy,
    };
    log_init("business", LOG_INFO);
    return proc_main(&role, argc, argv);
}
