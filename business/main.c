/* business: runs the application (GatewayWorker's BusinessWorker).
 *
 * `start` validates the settings and test-loads the application on the
 * terminal, then a master forks `count` worker processes and starts again
 * any that dies (each keeps its index, part of its worker_key). Each worker
 * process loads the application itself, so `reload` (SIGUSR1: every worker
 * exits after its current event and is forked again) picks up a rebuilt .so.
 * One worker process = one epoll loop: register links, gateway links, and
 * the application's callbacks, one event at a time. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "bw.h"
#include "links.h"
#include "loader.h"
#include "log.h"
#include "loop.h"
#include "proc.h"
#include "query.h"
#include "reglink.h"

#define TICK_MS 100
/* A worker that dies sooner than this after its start is forked again only
 * after this delay, so a crash at start-up does not become a fork storm. */
#define RESPAWN_MIN_MS 1000

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
    char path[1100];
    snprintf(path, sizeof path, "%s.status.%d", bw->cfg->common.pidFile, bw->index);
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fprintf(f, "  process %d  pid %d  worker_key %s  registers %d/%d  gateways %zu up of %zu\n", bw->index,
            (int)getpid(), bw->worker_key, reglink_connected(bw->reglink), bw->cfg->registerAddress.n,
            links_up(bw->links), links_count(bw->links));
    fclose(f);
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
    reglink_tick(bw->reglink, now);
    links_tick(bw->links, now);
    query_tick(bw->query, now);
}

static void before_sleep(struct loop *loop, void *data)
{
    (void)loop;
    struct bw *bw = data;
    links_flush(bw->links);
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
    loop_set_before_sleep(bw.loop, before_sleep, &bw);
    api_bind(&bw);
    if (bw.app->on_worker_start && bw.app->on_worker_start(&bw.info) != 0) {
        log_error("process %d: the application's on_worker_start failed; exiting", index);
        goto out;
    }
    if (!(bw.reglink = reglink_new(&bw))) {
        log_error("process %d: out of memory at start-up", index);
        goto out;
    }
    log_info("process %d: worker_key %s, application %s, registers: %d", index, bw.worker_key, cfg->eventHandler,
             cfg->registerAddress.n);
    rc = loop_run(bw.loop) < 0 ? 1 : 0;
    if (bw.app->on_worker_stop)
        bw.app->on_worker_stop(&bw.info);
out:
    api_bind(NULL);
    reglink_free(bw.reglink);
    links_free(bw.links); /* flushes what the last callbacks queued */
    query_free(bw.query);
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
    pid_t *pids;
    int64_t *started_ms;
    int64_t *respawn_at; /* 0: none pending */
    time_t started;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *business_prepare(void *cfgp, char *err, size_t errlen)
{
    struct business_cfg *cfg = cfgp;
    if (!cfg->eventHandler || !cfg->eventHandler[0]) {
        snprintf(err, errlen, "eventHandler: not set (the application's .so, e.g. build/apps/echo.so)");
        return NULL;
    }
    if (cfg->registerAddress.n == 0) {
        snprintf(err, errlen, "registerAddress: at least one register is needed");
        return NULL;
    }
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
    m->pids = calloc((size_t)m->count, sizeof *m->pids);
    m->started_ms = calloc((size_t)m->count, sizeof *m->started_ms);
    m->respawn_at = calloc((size_t)m->count, sizeof *m->respawn_at);
    if (!m->pids || !m->started_ms || !m->respawn_at) {
        free(m->pids);
        free(m->started_ms);
        free(m->respawn_at);
        free(m);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    return m;
}

static void fork_child(struct bw_master *m, int i)
{
    fflush(NULL); /* nothing buffered may be written twice */
    pid_t pid = fork();
    if (pid < 0) {
        log_error("master: cannot fork process %d: %s; retrying", i, strerror(errno));
        m->respawn_at[i] = now_ms() + RESPAWN_MIN_MS;
        return;
    }
    if (pid == 0) {
        /* The blocked signals stay blocked: the worker's loop takes them
         * through its signalfd, so none is lost between fork and loop. */
        /* exit(), not _exit(): sanitizer leak checks run in the workers too
         * (the master's memory is still reachable from this stack). */
        exit(run_process(m->cfg, i));
    }
    m->pids[i] = pid;
    m->started_ms[i] = now_ms();
    m->respawn_at[i] = 0;
}

static void master_status(struct bw_master *m)
{
    char path[1100];
    struct buf b = BUF_INIT;
    char uptime[64];
    proc_format_uptime((long long)(time(NULL) - m->started), uptime, sizeof uptime);
    buf_printf(&b, "business master pid %d  processes %d  uptime %s  application %s\n", (int)getpid(), m->count,
               uptime, m->cfg->eventHandler);
    for (int i = 0; i < m->count; i++) {
        snprintf(path, sizeof path, "%s.status.%d", m->cfg->common.pidFile, i);
        unlink(path);
        if (m->pids[i] > 0)
            kill(m->pids[i], SIGUSR2);
    }
    for (int i = 0; i < m->count; i++) {
        snprintf(path, sizeof path, "%s.status.%d", m->cfg->common.pidFile, i);
        FILE *f = NULL;
        for (int w = 0; w < 50 && m->pids[i] > 0 && !(f = fopen(path, "r")); w++)
            usleep(20000);
        if (f) {
            char line[1024];
            while (fgets(line, sizeof line, f))
                buf_append_str(&b, line);
            fclose(f);
            unlink(path);
        } else {
            buf_printf(&b, "  process %d  pid %d  did not answer\n", i, (int)m->pids[i]);
        }
    }
    buf_append(&b, "", 1);
    proc_write_status(&m->cfg->common, (const char *)buf_head(&b));
    buf_free(&b);
}

static int business_run(void *state)
{
    struct bw_master *m = state;
    log_init("business", LOG_INFO);
    m->started = time(NULL);
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2};
    for (int i = 0; i < 6; i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    for (int i = 0; i < m->count; i++)
        fork_child(m, i);
    log_info("master: %d business worker process(es) started, application %s", m->count, m->cfg->eventHandler);
    int stopping = 0;
    for (;;) {
        int64_t now = now_ms(), next = now + 1000;
        for (int i = 0; i < m->count && !stopping; i++) {
            if (m->respawn_at[i] && m->respawn_at[i] <= now)
                fork_child(m, i);
            if (m->respawn_at[i] && m->respawn_at[i] < next)
                next = m->respawn_at[i];
        }
        int64_t wait = next - now_ms();
        struct timespec ts = {(time_t)(wait > 0 ? wait / 1000 : 0), (long)(wait > 0 ? wait % 1000 : 0) * 1000000L};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig < 0)
            continue;
        if (sig == SIGCHLD) {
            int st;
            pid_t pid;
            while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
                for (int i = 0; i < m->count; i++)
                    if (m->pids[i] == pid) {
                        m->pids[i] = 0;
                        if (stopping)
                            continue;
                        int clean = WIFEXITED(st) && WEXITSTATUS(st) == 0;
                        if (!clean)
                            log_warn("master: process %d (pid %d) died (%s %d); starting it again", i, (int)pid,
                                     WIFSIGNALED(st) ? "signal" : "exit status",
                                     WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
                        if (now_ms() - m->started_ms[i] < RESPAWN_MIN_MS)
                            m->respawn_at[i] = m->started_ms[i] + RESPAWN_MIN_MS;
                        else
                            fork_child(m, i);
                    }
            int alive = 0;
            for (int i = 0; i < m->count; i++)
                alive += m->pids[i] > 0;
            if (stopping && !alive)
                break;
        } else if (sig == SIGUSR2) {
            master_status(m);
        } else if (sig == SIGUSR1) {
            log_info("master: reload: restarting the worker processes");
            for (int i = 0; i < m->count; i++)
                if (m->pids[i] > 0)
                    kill(m->pids[i], SIGUSR1);
        } else {
            stopping = 1;
            log_info("master: stopping %d process(es)", m->count);
            int alive = 0;
            for (int i = 0; i < m->count; i++)
                if (m->pids[i] > 0) {
                    kill(m->pids[i], SIGTERM);
                    alive++;
                }
            if (!alive)
                break;
        }
    }
    log_info("master: stopped");
    return 0;
}

static void business_destroy(void *state)
{
    struct bw_master *m = state;
    free(m->pids);
    free(m->started_ms);
    free(m->respawn_at);
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
        .run = business_run,
        .destroy = business_destroy,
    };
    log_init("business", LOG_INFO);
    return proc_main(&role, argc, argv);
}
