/* ev: a small epoll event loop (the redis ae idea) for the roles whose
 * sockets are plain TCP: the register now, and the internal links later.
 *
 * Handlers are looked up by fd on every event, so a handler may ev_del() and
 * close any fd, its own included, and later events of the same batch for that
 * fd are dropped. Timers are few and periodic (one tick per concern, never one
 * per connection); signals arrive through a signalfd as ordinary callbacks. */
#ifndef GW_EV_H
#define GW_EV_H

#include <stdint.h>

#define EV_READ 1u
#define EV_WRITE 2u

struct ev_loop;
typedef void ev_io_cb(struct ev_loop *loop, int fd, unsigned events, void *data);
typedef void ev_tick_cb(struct ev_loop *loop, void *data);
typedef void ev_signal_cb(struct ev_loop *loop, int signo, void *data);

struct ev_loop *ev_loop_new(void);
void ev_loop_free(struct ev_loop *loop);

/* Watch fd for events (EV_READ|EV_WRITE). data is borrowed. 0 or -errno. */
int ev_add(struct ev_loop *loop, int fd, unsigned events, ev_io_cb *cb, void *data);
int ev_mod(struct ev_loop *loop, int fd, unsigned events);
void ev_del(struct ev_loop *loop, int fd);

/* Calls cb every period_ms (first call one period from now). 0 or -1. */
int ev_every(struct ev_loop *loop, unsigned period_ms, ev_tick_cb *cb, void *data);
/* Delivers signo to cb instead of its default action. 0 or -errno. */
int ev_signal(struct ev_loop *loop, int signo, ev_signal_cb *cb, void *data);
/* Called after each batch of events, before sleeping again (deferred frees). */
void ev_set_before_sleep(struct ev_loop *loop, ev_tick_cb *cb, void *data);

/* Runs until ev_stop(). Returns 0, or -errno if epoll failed. */
int ev_run(struct ev_loop *loop);
void ev_stop(struct ev_loop *loop);

/* Milliseconds on the monotonic clock. */
int64_t ev_now_ms(void);

#endif
