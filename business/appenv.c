/* appenv: what the worker gives an application beside client events — its
 * [app] settings, its log and timers (gw_api.h §5, §6).
 *
 * Timers ride on the worker's loop (loop_timer_add, one-shot); a persistent
 * timer is armed again after its callback returns, so a slow callback never
 * queues a burst. Entries are kept by id in a uthash table so gw_timer_del
 * works from anywhere, the timer's own callback included. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "api.h"
#include "bw.h"
#include "gw_api.h"
#include "log.h"
#include "loop.h"

const char *gw_app_setting(const char *key)
{
    struct bw *bw = api_bound();
    if (!bw || !key)
        return NULL;
    const struct cfg_common *c = &bw->cfg->common;
    for (int i = 0; i < c->napp; i++)
        if (strcmp(c->app[i].key, key) == 0)
            return c->app[i].value;
    return NULL;
}

int gw_app_path(const char *path, char *out, size_t cap)
{
    struct bw *bw = api_bound();
    if (!path || !out || cap == 0)
        return -EINVAL;
    const char *dir = bw && bw->cfg->common.start_dir ? bw->cfg->common.start_dir : ".";
    int n = path[0] == '/' ? snprintf(out, cap, "%s", path) : snprintf(out, cap, "%s/%s", dir, path);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

void gw_log(int level, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log_msg(level >= GW_LOG_ERROR ? LOG_ERROR : level == GW_LOG_WARN ? LOG_WARN : LOG_INFO, "%s", line);
}

struct appenv_timer {
    int64_t id;          /* the application's id (stable across re-arming) */
    int64_t loop_id;     /* the pending loop timer */
    unsigned interval_ms;
    int persistent;
    int running;         /* inside fn: a delete is deferred to its return */
    int deleted;
    gw_timer_fn *fn;
    void *arg;
    UT_hash_handle hh;
};

static struct appenv_timer *timers;
static int64_t last_timer_id;

static void timer_free(struct appenv_timer *t)
{
    HASH_DEL(timers, t);
    free(t);
}

static void on_timer(struct loop *loop, void *data)
{
    struct appenv_timer *t = data;
    struct bw *bw = api_bound();
    t->loop_id = 0;
    t->running = 1;
    int64_t t0 = loop_now_ms();
    t->fn(t->arg);
    int64_t took = loop_now_ms() - t0;
    t->running = 0;
    if (bw && took >= bw->cfg->slowCallbackMs)
        log_warn("slow timer %lld: %lld ms (slowCallbackMs %ld)", (long long)t->id, (long long)took,
                 bw->cfg->slowCallbackMs);
    if (t->deleted || !t->persistent) {
        timer_free(t);
        return;
    }
    int64_t r = loop_timer_add(loop, t->interval_ms, on_timer, t);
    if (r < 0) {
        log_error("timer %lld: cannot be armed again (%s); it stops", (long long)t->id, strerror((int)-r));
        timer_free(t);
        return;
    }
    t->loop_id = r;
}

int64_t gw_timer_add(unsigned interval_ms, int persistent, gw_timer_fn *fn, void *arg)
{
    struct bw *bw = api_bound();
    if (!bw || !bw->loop)
        return -EPERM;
    if (interval_ms == 0 || !fn)
        return -EINVAL;
    struct appenv_timer *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    int64_t r = loop_timer_add(bw->loop, interval_ms, on_timer, t);
    if (r < 0) {
        free(t);
        return r;
    }
    *t = (struct appenv_timer){.id = ++last_timer_id, .loop_id = r, .interval_ms = interval_ms,
                               .persistent = persistent != 0, .fn = fn, .arg = arg};
    HASH_ADD(hh, timers, id, sizeof t->id, t);
    return t->id;
}

int gw_timer_del(int64_t id)
{
    struct bw *bw = api_bound();
    struct appenv_timer *t;
    HASH_FIND(hh, timers, &id, sizeof id, t);
    if (!t || t->deleted)
        return -ENOENT;
    if (t->running) {
        t->deleted = 1;
        return 0;
    }
    if (bw && bw->loop && t->loop_id)
        loop_timer_cancel(bw->loop, t->loop_id);
    timer_free(t);
    return 0;
}

void appenv_timers_free(void)
{
    struct appenv_timer *t, *tmp;
    HASH_ITER(hh, timers, t, tmp) {
        timer_free(t);
    }
}
