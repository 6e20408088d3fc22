/* ev: a small epoll event loop (the redis ae idea) for the roles whose
 * sockets are plain TCP: the register now, and the internal links later.
 *
 * Handlers are looked up by fd on every event, so a handler may loop_del() and
 * close any fd, its own included, and later events of the same batch for that
 * fd are dropped. Ticks are few and periodic (one tick per concern, never one
 * per connection); one-shot timers (the applications' gw_timer_add) sit in a
 * heap; signals arrive through a signalfd as ordinary callbacks. */
#ifndef GW_LOOP_H
#define GW_LOOP_H

#include <stdint.h>

#define LOOP_READ 1u
#define LOOP_WRITE 2u

struct loop;
typedef void loop_io_cb(struct loop *loop, int fd, unsigned events, void *data);
typedef void loop_tick_cb(struct loop *loop, void *data);
typedef void loop_signal_cb(struct loop *loop, int signo, void *data);

struct loop *loop_new(void);
void loop_free(struct loop *loop);

/* Watch fd for events (LOOP_READ|LOOP_WRITE). data is borrowed. 0 or -errno. */
int loop_add(struct loop *loop, int fd, unsigned events, loop_io_cb *cb, void *data);
int loop_mod(struct loop *loop, int fd, unsigned events);
void loop_del(struct loop *loop, int fd);

/* Calls cb every period_ms (first call one period from now). 0 or -1. */
int loop_every(struct loop *loop, unsigned period_ms, loop_tick_cb *cb, void *data);
/* Calls cb once, ms from now (one-shot; re-add it for a periodic timer).
 * Returns an id > 0, or -EINVAL, -ENOMEM, -ENOSPC (4,096 pending). A
 * timer never runs inside the call that added it. */
int64_t loop_timer_add(struct loop *loop, unsigned ms, loop_tick_cb *cb, void *data);
/* 1 if the timer was pending and is now cancelled, 0 if unknown or already run. */
int loop_timer_cancel(struct loop *loop, int64_t id);
/* Delivers signo to cb instead of its default action. 0 or -errno. */
int loop_signal(struct loop *loop, int signo, loop_signal_cb *cb, void *data);
/* Called after each batch of events, before sleeping again (deferred frees). */
void loop_set_before_sleep(struct loop *loop, loop_tick_cb *cb, void *data);

/* Runs until loop_stop(). Returns 0, or -errno if epoll failed. */
int loop_run(struct loop *loop);
void loop_stop(struct loop *loop);

/* Milliseconds on the monotonic clock. */
int64_t loop_now_ms(void);

#endif
