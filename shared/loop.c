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

static int next_timeout(struct loop *l)
{
    if (l->nticks == 0)
        return -1;
    int64_t now = loop_now_ms(), best = INT64_MAX;
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
    }
    if (l->before_sleep)
        l->before_sleep(l, l->before_sleep_data);
    return 0;
}
