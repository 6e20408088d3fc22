/* loop: the one event loop of every role (the redis ae idea), over libev.
 *
 * fd watchers, periodic ticks, one-shot timers, signals, and a before-sleep
 * phase. It knows nothing of the protocols. The gateway hands the same libev
 * loop (loop_ev) to libwebsockets, so one loop serves a whole process.
 *
 * Handlers are looked up by fd, so a handler may loop_del() and close any fd,
 * its own included: later events of the same batch for that fd are dropped
 * (libev clears a stopped watcher's pending events).
 *
 * Before the loop sleeps (an ev_prepare at the highest priority, so ahead of
 * any other prepare watcher on the same libev loop) it runs, in this order:
 * the before-sleep hooks in the order they were added, then the queued jobs
 * in the order they were queued, including jobs queued while they run. A job
 * is what a connection uses to be written once per iteration and to be freed
 * outside its own callbacks (shared/stream). A job queued after that phase
 * (by another prepare watcher) keeps the loop from blocking, so it runs in
 * the next iteration without waiting for an event. */
#ifndef GW_LOOP_H
#define GW_LOOP_H

#include <stdint.h>

#define LOOP_READ 1u
#define LOOP_WRITE 2u

struct loop;
struct ev_loop;
typedef void loop_io_cb(struct loop *loop, int fd, unsigned events, void *data);
typedef void loop_tick_cb(struct loop *loop, void *data);
typedef void loop_signal_cb(struct loop *loop, int signo, void *data);

/* A deferred piece of work, embedded in its owner's struct (no allocation).
 * Initialise with LOOP_JOB_INIT(cb) or loop_job_init. */
struct loop_job;
typedef void loop_job_cb(struct loop *loop, struct loop_job *job);
struct loop_job {
    loop_job_cb *cb;
    struct loop_job *prev, *next; /* the loop's FIFO while queued */
    int queued;
};
#define LOOP_JOB_INIT(fn) {(fn), NULL, NULL, 0}

/* A new loop on its own libev loop (epoll backend). NULL when out of memory. */
struct loop *loop_new(void);
/* Stops every watcher, frees pending timers, destroys the libev loop. */
void loop_free(struct loop *loop);
/* The libev loop underneath (borrowed): for libwebsockets and libev-native
 * modules (gateway/clients.c). */
struct ev_loop *loop_ev(struct loop *loop);

/* Watch fd for events (LOOP_READ|LOOP_WRITE; 0 registers without watching).
 * data is borrowed. 0, -EEXIST (fd already watched), -EBADF or -ENOMEM. */
int loop_add(struct loop *loop, int fd, unsigned events, loop_io_cb *cb, void *data);
/* Change the events of a watched fd. 0 or -ENOENT. */
int loop_mod(struct loop *loop, int fd, unsigned events);
/* Forget fd (call it before close). Unknown fds are ignored. */
void loop_del(struct loop *loop, int fd);

/* Calls cb every period_ms (first call one period from now); a late loop
 * fires once, not a burst. 0 or -1. */
int loop_every(struct loop *loop, unsigned period_ms, loop_tick_cb *cb, void *data);
/* Calls cb once, ms from now (one-shot; re-add it for a periodic timer).
 * Returns an id > 0, or -EINVAL, -ENOMEM, -ENOSPC (4,096 pending). A
 * timer never runs inside the call that added it. */
int64_t loop_timer_add(struct loop *loop, unsigned ms, loop_tick_cb *cb, void *data);
/* 1 if the timer was pending and is now cancelled, 0 if unknown or already run. */
int loop_timer_cancel(struct loop *loop, int64_t id);
/* Delivers signo to cb instead of its default action (libev ev_signal; one
 * loop per process may watch a given signal). 0 or -errno. */
int loop_signal(struct loop *loop, int signo, loop_signal_cb *cb, void *data);
/* Adds a hook run before each sleep (see the top), and once more when
 * loop_run returns. Hooks run in the order added. 0 or -ENOSPC (8 hooks). */
int loop_set_before_sleep(struct loop *loop, loop_tick_cb *cb, void *data);

static inline void loop_job_init(struct loop_job *job, loop_job_cb *cb)
{
    job->cb = cb;
    job->prev = job->next = 0;
    job->queued = 0;
}
/* Runs job->cb once before the loop next sleeps; a no-op while queued. */
void loop_job_queue(struct loop *loop, struct loop_job *job);
/* Takes a queued job off the queue (before freeing its owner). */
void loop_job_cancel(struct loop *loop, struct loop_job *job);
/* Runs the queued jobs now (at shutdown, outside loop_run). */
void loop_run_jobs(struct loop *loop);

/* Runs until loop_stop() (a stop requested before the call returns at
 * once), then runs the before-sleep phase one last time. Returns 0. */
int loop_run(struct loop *loop);
void loop_stop(struct loop *loop);

/* Milliseconds on the monotonic clock (no loop needed). */
int64_t loop_now_ms(void);

#endif
