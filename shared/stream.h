/* stream: a framed non-blocking TCP connection on the shared loop, the one
 * way every role runs its internal links (redis networking.c: one write list,
 * one close queue for every kind of client). The register's peers, the
 * gateway's worker links, the business worker's gateway links and both
 * register clients are streams; only the decode callback differs.
 *
 * Input: read in chunks of ops->read_chunk bytes, at most
 * ops->reads_per_wake per readiness; after each chunk the decode loop hands
 * the unread bytes to ops->on_data until it asks for more.
 *
 * Output: append to s->out (an encoder writes there directly) and call
 * stream_queued(), or stream_write(). Everything queued in one loop
 * iteration is written in one go before the loop sleeps (a loop job), and
 * WRITE is watched only while the socket is full: one write per stream per
 * wake, no writable round trip.
 *
 * Lifetime: the struct is embedded in its owner's (no allocation here). A
 * stream is never freed inside its own callbacks: stream_free() closes it at
 * once and calls ops->on_free, where the owner frees its memory, before the
 * loop sleeps. stream_destroy() is the immediate form for teardown from the
 * top level.
 *
 * Outgoing streams (stream_connect) may reconnect by themselves after a loss,
 * with backoff (ops->backoff_*): the same address, the hello queued again by
 * ops->on_connecting. */
#ifndef GW_STREAM_H
#define GW_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "loop.h"

struct stream;

/* The `why` of on_close at end of file (compare the pointer). */
extern const char stream_eof[];

enum stream_state {
    STREAM_IDLE,       /* no connection: not yet, or closed (a reconnect may be pending) */
    STREAM_CONNECTING, /* connect() in progress: output waits for it */
    STREAM_UP,
    STREAM_CLOSING,    /* stream_close_after_flush: not read any more, closes once out is written */
};

/* What a kind of stream does; one static table per kind. Every callback but
 * on_data is optional. */
struct stream_ops {
    /* The unread input p[0..n): handle one frame and return its length, 0
     * when more bytes are needed, or -1 to stop: the stream then closes
     * itself with "protocol error" unless the callback closed or freed it
     * (the callback logs the details). Called again while input remains
     * and the stream is neither closing nor freed; frames read before the
     * connection failed are still handed over. */
    ssize_t (*on_data)(struct stream *s, const uint8_t *p, size_t n);
    /* When set, readiness is reported here instead of being read: the owner
     * calls stream_read() when it pleases (the gateway serves its links in
     * accept order, once per iteration). */
    void (*on_readable)(struct stream *s);
    /* connect() started (stream_connect or a reconnect): queue the first
     * bytes (the hello) here; they leave once the connection is up. */
    void (*on_connecting)(struct stream *s);
    /* The outgoing connection is established. */
    void (*on_connect)(struct stream *s);
    /* The stream closed by itself: end of file, an I/O error, a failed
     * connect, on_data's -1 (why says which), or the end of a
     * close-after-flush (why NULL). Queued output is gone; s stays valid and
     * a reconnect, if enabled, is already scheduled (stream_retry_ms). Not
     * called for stream_close, stream_free or stream_destroy. */
    void (*on_close)(struct stream *s, const char *why);
    /* After stream_free, before the loop sleeps: free what holds s. */
    void (*on_free)(struct stream *s);
    /* A reconnect is due: return 0 to stay idle instead. */
    int (*may_reconnect)(struct stream *s);
    size_t read_chunk;         /* bytes per read(); 0 means 65536 */
    unsigned reads_per_wake;   /* 0: read until the socket is empty */
    unsigned backoff_first_ms; /* first reconnect delay; 0: never reconnect */
    unsigned backoff_max_ms;   /* each failure doubles the delay up to this */
    unsigned stable_ms;        /* up at least this long: the next delay is the first again */
};

struct stream {
    /* The first three are read by name by the owners (business/links.h
     * exposes them under their old names); the rest is the module's. */
    int fd;                /* -1 without a connection */
    struct buf in, out;
    struct loop *loop;
    const struct stream_ops *ops;
    enum stream_state state;
    unsigned armed;        /* LOOP_* events watched now */
    unsigned gen;          /* bumped by every connect, attach and stream_close */
    unsigned reading;      /* inside stream_read: `in` must stay where it is */
    unsigned backoff_ms;   /* the delay of the last scheduled reconnect */
    int64_t up_since;
    int64_t retry_timer;   /* pending reconnect (loop timer id), 0 if none */
    struct loop_job job;   /* flush, or on_free once dead */
    uint16_t port;
    char host[46];         /* the connect address: "" for accepted streams */
    unsigned dead : 1;
};

/* Prepares s (idle, no fd). ops is borrowed and must outlive s. */
void stream_init(struct stream *s, struct loop *loop, const struct stream_ops *ops);
/* An accepted, non-blocking socket: up at once, watched for reading. Takes
 * fd (closed here on failure). 0 or -errno. */
int stream_attach(struct stream *s, int fd);
/* Starts a non-blocking connect to host:port (an IP literal). ops->on_connecting
 * runs on success. On failure returns -errno and, when reconnects are enabled,
 * schedules one (no on_close: the caller sees the error). */
int stream_connect(struct stream *s, const char *host, uint16_t port);

/* Bytes were appended to s->out: write them before the loop sleeps. */
void stream_queued(struct stream *s);
/* Appends p[0..n) to the output (copied) and queues it. 0, -ENOTCONN (no
 * connection, or freed) or -ENOMEM. */
int stream_write(struct stream *s, const void *p, size_t n);
/* Writes the queued output now, as far as the socket takes it. */
void stream_flush(struct stream *s);
/* Reads and decodes what is there (for owners with ops->on_readable). */
void stream_read(struct stream *s);

/* Closes the connection now; queued output and unread input are dropped,
 * no on_close, no reconnect. s can be connected again. */
void stream_close(struct stream *s);
/* Stops reading; closes once the queued output is written (on_close, why NULL). */
void stream_close_after_flush(struct stream *s);
/* Closes now and calls ops->on_free before the loop sleeps. Safe inside any
 * callback of s; s must not be used by the owner afterwards but in on_free. */
void stream_free(struct stream *s);
/* Closes and releases everything now, without callbacks (not even on_free):
 * for teardown outside the stream's callbacks. */
void stream_destroy(struct stream *s);

static inline enum stream_state stream_state(const struct stream *s) { return s->state; }
static inline int stream_retry_pending(const struct stream *s) { return s->retry_timer != 0; }
/* The delay of the reconnect scheduled by the last loss, in ms. */
static inline unsigned stream_retry_ms(const struct stream *s) { return s->backoff_ms; }

#endif
