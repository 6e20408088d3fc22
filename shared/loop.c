#include "loop.h"

#include "fdtab.h"

#include <errno.h>
#include <ev.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uthash.h>

#define LOOP_MAX_HOOKS 8
#define LOOP_MAX_TIMERS 4096

/* One per fd number ever watched, allocated once and reused: libev keeps
 * pointers to active watchers, so they must never move (the index array of
 * pointers may). */
struct loop_fd {
    ev_io w;
    struct loop *loop;
    loop_io_cb *cb;
    void *data;
    unsigned events;
};

/* Ticks and signals: few, kept until loop_free. */
struct loop_tick {
    ev_timer w;
    struct loop *loop;
    loop_tick_cb *cb;
    void *data;
    struct loop_tick *next;
};

struct loop_sig {
    ev_signal w;
    struct loop *loop;
    loop_signal_cb *cb;
    void *data;
    struct loop_sig *next;
};

/* A one-shot timer, found by id for cancels. */
struct loop_timer {
    ev_timer w;
    int64_t id;
    struct loop *loop;
    loop_tick_cb *cb;
    void *data;
    UT_hash_handle hh;
};

struct loop {
    struct ev_loop *ev;
    int stop;
    struct loop_fd **fds; /* indexed by fd */
    size_t nfds;
    struct loop_tick *ticks;
    struct loop_sig *sigs;
    struct loop_timer *timers; /* uthash by id */
    int64_t next_timer_id;
    struct {
        loop_tick_cb *cb;
        void *data;
    } hooks[LOOP_MAX_HOOKS];
    int nhooks;
    struct loop_job *jhead, *jtail;
    int slept_guard;  /* our prepare ran and the loop has not polled since */
    ev_prepare prep;
    ev_check check;
    ev_idle idle;
};

int64_t loop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- jobs and the before-sleep phase ---- */

static void job_unlink(struct loop *l, struct loop_job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        l->jhead = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        l->jtail = j->prev;
    j->prev = j->next = NULL;
    j->queued = 0;
}

void loop_job_queue(struct loop *l, struct loop_job *j)
{
    if (j->queued)
        return;
    j->queued = 1;
    j->next = NULL;
    j->prev = l->jtail;
    if (l->jtail)
        l->jtail->next = j;
    else
        l->jhead = j;
    l->jtail = j;
    /* Queued by a prepare watcher that ran after ours: do not block in the
     * poll, or this job would wait for the next event. */
    if (l->slept_guard && !ev_is_active(&l->idle))
        ev_idle_start(l->ev, &l->idle);
}

void loop_job_cancel(struct loop *l, struct loop_job *j)
{
    if (j->queued)
        job_unlink(l, j);
}

void loop_run_jobs(struct loop *l)
{
    struct loop_job *j;
    while ((j = l->jhead)) {
        job_unlink(l, j);
        j->cb(l, j);
    }
}

static void before_sleep(struct loop *l)
{
    for (int i = 0; i < l->nhooks; i++)
        l->hooks[i].cb(l, l->hooks[i].data);
    loop_run_jobs(l);
}

static void on_prepare(struct ev_loop *ev, ev_prepare *w, int revents)
{
    (void)revents;
    struct loop *l = w->data;
    before_sleep(l);
    l->slept_guard = 1;
    if (l->stop)
        ev_break(ev, EVBREAK_ALL);
}

static void on_check(struct ev_loop *ev, ev_check *w, int revents)
{
    (void)ev;
    (void)revents;
    struct loop *l = w->data;
    l->slept_guard = 0;
}

static void on_idle(struct ev_loop *ev, ev_idle *w, int revents)
{
    (void)revents;
    ev_idle_stop(ev, w);
}

int loop_set_before_sleep(struct loop *l, loop_tick_cb *cb, void *data)
{
    if (l->nhooks == LOOP_MAX_HOOKS)
        return -ENOSPC;
    l->hooks[l->nhooks].cb = cb;
    l->hooks[l->nhooks].data = data;
    l->nhooks++;
    return 0;
}

/* ---- the loop ---- */

struct loop *loop_new(void)
{
    struct loop *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->ev = ev_loop_new(EVBACKEND_EPOLL);
    if (!l->ev) {
        free(l);
        return NULL;
    }
    ev_prepare_init(&l->prep, on_prepare);
    l->prep.data = l;
    ev_set_priority(&l->prep, EV_MAXPRI);
    ev_prepare_start(l->ev, &l->prep);
    /* Right after the poll, before any io or timer callback of that
     * iteration (highest priority first): only jobs queued between our
     * prepare and the poll need the idle watcher. */
    ev_check_init(&l->check, on_check);
    l->check.data = l;
    ev_set_priority(&l->check, EV_MAXPRI);
    ev_check_start(l->ev, &l->check);
    ev_idle_init(&l->idle, on_idle);
    l->idle.data = l;
    return l;
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->nfds; i++)
        if (l->fds[i]) {
            ev_io_stop(l->ev, &l->fds[i]->w);
            free(l->fds[i]);
        }
    free(l->fds);
    while (l->ticks) {
        struct loop_tick *t = l->ticks;
        l->ticks = t->next;
        ev_timer_stop(l->ev, &t->w);
        free(t);
    }
    while (l->sigs) {
        struct loop_sig *s = l->sigs;
        l->sigs = s->next;
        ev_signal_stop(l->ev, &s->w);
        free(s);
    }
    struct loop_timer *t, *tmp;
    HASH_ITER(hh, l->timers, t, tmp) {
        ev_timer_stop(l->ev, &t->w);
        HASH_DEL(l->timers, t);
        free(t);
    }
    while (l->jhead)
        job_unlink(l, l->jhead);
    ev_prepare_stop(l->ev, &l->prep);
    ev_check_stop(l->ev, &l->check);
    ev_idle_stop(l->ev, &l->idle);
    ev_loop_destroy(l->ev);
    free(l);
}

struct ev_loop *loop_ev(struct loop *l) { return l->ev; }

int loop_run(struct loop *l)
{
    if (!l->stop)
        ev_run(l->ev, 0);
    l->stop = 0;
    l->slept_guard = 0;
    ev_idle_stop(l->ev, &l->idle);
    before_sleep(l);
    return 0;
}

void loop_stop(struct loop *l)
{
    l->stop = 1;
    ev_break(l->ev, EVBREAK_ALL);
}

/* ---- fds ---- */

static void on_io(struct ev_loop *ev, ev_io *w, int revents)
{
    (void)ev;
    struct loop_fd *f = w->data;
    unsigned e = ((revents & EV_READ) ? LOOP_READ : 0) | ((revents & EV_WRITE) ? LOOP_WRITE : 0);
    f->cb(f->loop, w->fd, e, f->data);
}

static int to_ev(unsigned events)
{
    return ((events & LOOP_READ) ? EV_READ : 0) | ((events & LOOP_WRITE) ? EV_WRITE : 0);
}

int loop_add(struct loop *l, int fd, unsigned events, loop_io_cb *cb, void *data)
{
    if (fd < 0)
        return -EBADF;
    struct loop_fd **v = fdtab_fit(l->fds, &l->nfds, sizeof *v, fd);
    if (!v)
        return -ENOMEM;
    l->fds = v;
    struct loop_fd *f = l->fds[fd];
    if (!f) {
        if (!(f = calloc(1, sizeof *f)))
            return -ENOMEM;
        f->loop = l;
        ev_init(&f->w, on_io);
        f->w.data = f;
        l->fds[fd] = f;
    } else if (f->cb) {
        return -EEXIST;
    }
    f->cb = cb;
    f->data = data;
    f->events = events;
    ev_io_set(&f->w, fd, to_ev(events));
    if (events)
        ev_io_start(l->ev, &f->w);
    return 0;
}

int loop_mod(struct loop *l, int fd, unsigned events)
{
    struct loop_fd *f = fd >= 0 && (size_t)fd < l->nfds ? l->fds[fd] : NULL;
    if (!f || !f->cb)
        return -ENOENT;
    if (f->events == events)
        return 0;
    ev_io_stop(l->ev, &f->w);
    ev_io_set(&f->w, fd, to_ev(events));
    if (events)
        ev_io_start(l->ev, &f->w);
    f->events = events;
    return 0;
}

void loop_del(struct loop *l, int fd)
{
    struct loop_fd *f = fd >= 0 && (size_t)fd < l->nfds ? l->fds[fd] : NULL;
    if (!f || !f->cb)
        return;
    ev_io_stop(l->ev, &f->w);
    f->cb = NULL;
    f->data = NULL;
    f->events = 0;
}

/* ---- ticks, timers, signals ---- */

static void on_tick(struct ev_loop *ev, ev_timer *w, int revents)
{
    (void)ev;
    (void)revents;
    struct loop_tick *t = w->data;
    t->cb(t->loop, t->data);
}

int loop_every(struct loop *l, unsigned period_ms, loop_tick_cb *cb, void *data)
{
    if (period_ms == 0 || !cb)
        return -1;
    struct loop_tick *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    t->loop = l;
    t->cb = cb;
    t->data = data;
    ev_timer_init(&t->w, on_tick, period_ms / 1000.0, period_ms / 1000.0);
    t->w.data = t;
    ev_timer_start(l->ev, &t->w);
    t->next = l->ticks;
    l->ticks = t;
    return 0;
}

static void on_timer(struct ev_loop *ev, ev_timer *w, int revents)
{
    (void)ev;
    (void)revents;
    struct loop_timer *t = w->data;
    struct loop *l = t->loop;
    loop_tick_cb *cb = t->cb;
    void *data = t->data;
    /* Gone before the callback: a cancel from inside it answers 0. */
    HASH_DEL(l->timers, t);
    free(t);
    cb(l, data);
}

int64_t loop_timer_add(struct loop *l, unsigned ms, loop_tick_cb *cb, void *data)
{
    if (!cb)
        return -EINVAL;
    if (HASH_COUNT(l->timers) >= LOOP_MAX_TIMERS)
        return -ENOSPC;
    struct loop_timer *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->id = ++l->next_timer_id;
    t->loop = l;
    t->cb = cb;
    t->data = data;
    /* "ms from now", not from the start of this iteration: a callback may
     * have run long since libev last read the clock. */
    ev_now_update(l->ev);
    ev_timer_init(&t->w, on_timer, ms / 1000.0, 0.);
    t->w.data = t;
    ev_timer_start(l->ev, &t->w);
    HASH_ADD(hh, l->timers, id, sizeof t->id, t);
    return t->id;
}

int loop_timer_cancel(struct loop *l, int64_t id)
{
    struct loop_timer *t;
    HASH_FIND(hh, l->timers, &id, sizeof id, t);
    if (!t)
        return 0;
    ev_timer_stop(l->ev, &t->w);
    HASH_DEL(l->timers, t);
    free(t);
    return 1;
}

static void on_signal(struct ev_loop *ev, ev_signal *w, int revents)
{
    (void)ev;
    (void)revents;
    struct loop_sig *s = w->data;
    s->cb(s->loop, w->signum, s->data);
}

int loop_signal(struct loop *l, int signo, loop_signal_cb *cb, void *data)
{
    struct loop_sig *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->loop = l;
    s->cb = cb;
    s->data = data;
    ev_signal_init(&s->w, on_signal, signo);
    s->w.data = s;
    ev_signal_start(l->ev, &s->w);
    s->next = l->sigs;
    l->sigs = s;
    return 0;
}
