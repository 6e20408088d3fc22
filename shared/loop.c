#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define LOOP_MAX_TICKS 8
#define LOOP_MAX_SIGNALS 8
#define LOOP_BATCH 256
#define LOOP_MAX_TIMERS 4096

struct loop_handler {
    loop_io_cb *cb;
    void *data;
};

struct loop_tick {
    unsigned period_ms;
    int64_t next_ms;
    loop_tick_cb *cb;
    void *data;
};

/* A one-shot timer; the loop keeps them in a binary min-heap on `due_ms`. */
struct loop_timer {
    int64_t due_ms;
    int64_t id;
    loop_tick_cb *cb;
    void *data;
};

struct loop {
    int epfd;
    int stop;
    struct loop_handler *h; /* indexed by fd */
    int nh;
    struct loop_tick ticks[LOOP_MAX_TICKS];
    int nticks;
    int sigfd;
    sigset_t sigs;
    struct {
        int signo;
        loop_signal_cb *cb;
        void *data;
    } sig[LOOP_MAX_SIGNALS];
    int nsig;
    loop_tick_cb *before_sleep;
    void *before_sleep_data;
    struct loop_timer *timers; /* heap */
    int ntimers, timers_cap;
    int64_t next_timer_id;
};

int64_t loop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct loop *loop_new(void)
{
    struct loop *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->sigfd = -1;
    sigemptyset(&l->sigs);
    if (l->epfd < 0) {
        free(l);
        return NULL;
    }
    return l;
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    if (l->sigfd >= 0) {
        close(l->sigfd);
        sigprocmask(SIG_UNBLOCK, &l->sigs, NULL);
    }
    close(l->epfd);
    free(l->timers);
    free(l->h);
    free(l);
}

static uint32_t to_epoll(unsigned events)
{
    return ((events & LOOP_READ) ? EPOLLIN | EPOLLRDHUP : 0) | ((events & LOOP_WRITE) ? EPOLLOUT : 0);
}

int loop_add(struct loop *l, int fd, unsigned events, loop_io_cb *cb, void *data)
{
    if (fd >= l->nh) {
        int n = l->nh ? l->nh : 64;
        while (n <= fd)
            n *= 2;
        struct loop_handler *h = realloc(l->h, (size_t)n * sizeof *h);
        if (!h)
            return -ENOMEM;
        memset(h + l->nh, 0, (size_t)(n - l->nh) * sizeof *h);
        l->h = h;
        l->nh = n;
    }
    struct epoll_event ee = {.events = to_epoll(events), .data.fd = fd};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ee) < 0)
        return -errno;
    l->h[fd].cb = cb;
    l->h[fd].data = data;
    return 0;
}

int loop_mod(struct loop *l, int fd, unsigned events)
{
    struct epoll_event ee = {.events = to_epoll(events), .data.fd = fd};
    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ee) < 0 ? -errno : 0;
}

void loop_del(struct loop *l, int fd)
{
    if (fd < 0 || fd >= l->nh)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    l->h[fd].cb = NULL;
    l->h[fd].data = NULL;
}

int loop_every(struct loop *l, unsigned period_ms, loop_tick_cb *cb, void *data)
{
    if (l->nticks == LOOP_MAX_TICKS || period_ms == 0)
        return -1;
    l->ticks[l->nticks++] = (struct loop_tick){period_ms, loop_now_ms() + period_ms, cb, data};
    return 0;
}

static void on_signalfd(struct loop *l, int fd, unsigned events, void *data)
{
    (void)events;
    (void)data;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si)
        for (int i = 0; i < l->nsig; i++)
            if (l->sig[i].signo == (int)si.ssi_signo)
                l->sig[i].cb(l, (int)si.ssi_signo, l->sig[i].data);
}

int loop_signal(struct loop *l, int signo, loop_signal_cb *cb, void *data)
{
    if (l->nsig == LOOP_MAX_SIGNALS)
        return -ENOSPC;
    sigaddset(&l->sigs, signo);
    if (sigprocmask(SIG_BLOCK, &l->sigs, NULL) < 0)
        return -errno;
    int fd = signalfd(l->sigfd, &l->sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (l->sigfd < 0) {
        l->sigfd = fd;
        int r = loop_add(l, fd, LOOP_READ, on_signalfd, NULL);
        if (r < 0)
            return r;
    }
    l->sig[l->nsig].signo = signo;
    l->sig[l->nsig].cb = cb;
    l->sig[l->nsig].data = data;
    l->nsig++;
    return 0;
}

void loop_set_before_sleep(struct loop *l, loop_tick_cb *cb, void *data)
{
    l->before_sleep = cb;
    l->before_sleep_data = data;
}

void loop_stop(struct loop *l) { l->stop = 1; }

/* ---- one-shot timers: a binary min-heap ordered by (due_ms, id) ---- */

static int timer_before(const struct loop_timer *a, const struct loop_timer *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->id < b->id);
}

static void timer_swap(struct loop *l, int i, int j)
{
    struct loop_timer t = l->timers[i];
    l->timers[i] = l->timers[j];
    l->timers[j] = t;
}

static void timer_up(struct loop *l, int i)
{
    while (i > 0 && timer_before(&l->timers[i], &l->timers[(i - 1) / 2])) {
        timer_swap(l, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void timer_down(struct loop *l, int i)
{
    for (;;) {
        int m = i, a = 2 * i + 1, b = a + 1;
        if (a < l->ntimers && timer_before(&l->timers[a], &l->timers[m]))
            m = a;
        if (b < l->ntimers && timer_before(&l->timers[b], &l->timers[m]))
            m = b;
        if (m == i)
            return;
        timer_swap(l, i, m);
        i = m;
    }
}

static void timer_remove_at(struct loop *l, int i)
{
    l->ntimers--;
    if (i == l->ntimers)
        return;
    l->timers[i] = l->timers[l->ntimers];
    timer_up(l, i);
    timer_down(l, i);
}

int64_t loop_timer_add(struct loop *l, unsigned ms, loop_tick_cb *cb, void *data)
{
    if (!cb)
        return -EINVAL;
    if (l->ntimers == l->timers_cap) {
        if (l->timers_cap == LOOP_MAX_TIMERS)
            return -ENOSPC;
        int cap = l->timers_cap ? l->timers_cap * 2 : 16;
        struct loop_timer *t = realloc(l->timers, (size_t)cap * sizeof *t);
        if (!t)
            return -ENOMEM;
        l->timers = t;
        l->timers_cap = cap;
    }
    int64_t id = ++l->next_timer_id;
    l->timers[l->ntimers] = (struct loop_timer){loop_now_ms() + ms, id, cb, data};
    timer_up(l, l->ntimers++);
    return id;
}

int loop_timer_cancel(struct loop *l, int64_t id)
{
    /* Linear: timers are few (an application's handful), cancels rare. */
    for (int i = 0; i < l->ntimers; i++)
        if (l->timers[i].id == id) {
            timer_remove_at(l, i);
            return 1;
        }
    return 0;
}

static void run_timers(struct loop *l)
{
    int64_t now = loop_now_ms();
    /* Only timers that existed when the pass began: a callback that adds a
     * 0 ms timer (a periodic one re-arming late) cannot keep this pass going. */
    int64_t last = l->next_timer_id;
    while (l->ntimers > 0 && l->timers[0].due_ms <= now && l->timers[0].id <= last) {
        struct loop_timer t = l->timers[0];
        timer_remove_at(l, 0);
        t.cb(l, t.data);
    }
}

static int next_timeout(struct loop *l)
{
    if (l->nticks == 0 && l->ntimers == 0)
        return -1;
    int64_t now = loop_now_ms(), best = l->ntimers ? l->timers[0].due_ms : INT64_MAX;
    for (int i = 0; i < l->nticks; i++)
        if (l->ticks[i].next_ms < best)
            best = l->ticks[i].next_ms;
    return best <= now ? 0 : (int)(best - now);
}

static void run_ticks(struct loop *l)
{
    int64_t now = loop_now_ms();
    for (int i = 0; i < l->nticks; i++) {
        struct loop_tick *t = &l->ticks[i];
        if (t->next_ms <= now) {
            /* Skip missed periods instead of firing a burst after a stall. */
            while (t->next_ms <= now)
                t->next_ms += t->period_ms;
            t->cb(l, t->data);
        }
    }
}

int loop_run(struct loop *l)
{
    struct epoll_event evs[LOOP_BATCH];
    while (!l->stop) {
        if (l->before_sleep)
            l->before_sleep(l, l->before_sleep_data);
        if (l->stop)
            break;
        int n = epoll_wait(l->epfd, evs, LOOP_BATCH, next_timeout(l));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd >= l->nh || !l->h[fd].cb)
                continue;
            unsigned e = 0;
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                e |= LOOP_READ;
            if (evs[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
                e |= LOOP_WRITE;
            l->h[fd].cb(l, fd, e, l->h[fd].data);
        }
        run_ticks(l);
        run_timers(l);
    }
    if (l->before_sleep)
        l->before_sleep(l, l->before_sleep_data);
    return 0;
}
