#include "stream.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sock.h"

#define STREAM_DEFAULT_CHUNK 65536

const char stream_eof[] = "closed by the peer";

static void on_io(struct loop *loop, int fd, unsigned events, void *data);
static void on_job(struct loop *loop, struct loop_job *job);
static void on_retry(struct loop *loop, void *data);

void stream_init(struct stream *s, struct loop *loop, const struct stream_ops *ops)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->loop = loop;
    s->ops = ops;
    loop_job_init(&s->job, on_job);
}

/* The events s needs watched in its state. */
static void arm(struct stream *s)
{
    unsigned want;
    switch (s->state) {
    case STREAM_CONNECTING:
        want = LOOP_READ | LOOP_WRITE;
        break;
    case STREAM_UP:
        want = LOOP_READ | (buf_avail(&s->out) ? LOOP_WRITE : 0);
        break;
    case STREAM_CLOSING:
        want = LOOP_WRITE;
        break;
    default:
        return;
    }
    if (want != s->armed && loop_mod(s->loop, s->fd, want) == 0)
        s->armed = want;
}

/* Drops the connection, not the struct. Input survives while the decode
 * loop is reading it (stream_read frees it afterwards). */
static void teardown(struct stream *s)
{
    if (s->fd >= 0) {
        loop_del(s->loop, s->fd);
        close(s->fd);
        s->fd = -1;
    }
    s->armed = 0;
    s->state = STREAM_IDLE;
    s->up_since = 0;
    buf_free(&s->out);
    if (!s->reading)
        buf_free(&s->in);
    if (s->retry_timer) {
        loop_timer_cancel(s->loop, s->retry_timer);
        s->retry_timer = 0;
    }
}

static void schedule_retry(struct stream *s, int64_t up_since)
{
    const struct stream_ops *o = s->ops;
    if (!o->backoff_first_ms || !s->host[0] || s->dead)
        return;
    if (up_since && o->stable_ms && loop_now_ms() - up_since >= o->stable_ms)
        s->backoff_ms = 0;
    unsigned max = o->backoff_max_ms > o->backoff_first_ms ? o->backoff_max_ms : o->backoff_first_ms;
    s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : o->backoff_first_ms;
    if (s->backoff_ms > max)
        s->backoff_ms = max;
    int64_t id = loop_timer_add(s->loop, s->backoff_ms, on_retry, s);
    s->retry_timer = id > 0 ? id : 0;
}

/* The stream decided to close (EOF, error, end of a close-after-flush). */
static void self_close(struct stream *s, const char *why)
{
    int64_t up_since = s->up_since;
    teardown(s);
    schedule_retry(s, up_since);
    if (s->ops->on_close)
        s->ops->on_close(s, why);
}

static void do_flush(struct stream *s)
{
    if (s->state != STREAM_UP && s->state != STREAM_CLOSING)
        return;
    if (buf_avail(&s->out) > 0) {
        int err = sock_flush(s->fd, &s->out);
        if (err < 0) {
            self_close(s, strerror(-err));
            return;
        }
    }
    if (s->state == STREAM_CLOSING && buf_avail(&s->out) == 0) {
        self_close(s, NULL);
        return;
    }
    arm(s);
}

static void on_job(struct loop *loop, struct loop_job *job)
{
    (void)loop;
    struct stream *s = (struct stream *)((char *)job - offsetof(struct stream, job));
    if (s->dead) {
        if (s->ops->on_free)
            s->ops->on_free(s);
        return;
    }
    do_flush(s);
}

static int do_connect(struct stream *s)
{
    buf_free(&s->out);
    if (!s->reading)
        buf_free(&s->in);
    s->gen++;
    errno = 0;
    int fd = sock_connect(s->host, s->port);
    if (fd < 0)
        return errno ? -errno : -EINVAL;
    int r = loop_add(s->loop, fd, LOOP_READ | LOOP_WRITE, on_io, s);
    if (r < 0) {
        close(fd);
        return r;
    }
    sock_keepalive(fd);
    s->fd = fd;
    s->armed = LOOP_READ | LOOP_WRITE;
    s->state = STREAM_CONNECTING;
    if (s->ops->on_connecting)
        s->ops->on_connecting(s);
    return 0;
}

static void on_retry(struct loop *loop, void *data)
{
    (void)loop;
    struct stream *s = data;
    s->retry_timer = 0;
    if (s->dead || s->state != STREAM_IDLE)
        return;
    if (s->ops->may_reconnect && !s->ops->may_reconnect(s))
        return;
    int r = do_connect(s);
    if (r < 0) {
        schedule_retry(s, 0);
        if (s->ops->on_close)
            s->ops->on_close(s, strerror(-r));
    }
}

int stream_connect(struct stream *s, const char *host, uint16_t port)
{
    if (s->dead)
        return -EINVAL;
    teardown(s);
    snprintf(s->host, sizeof s->host, "%s", host);
    s->port = port;
    int r = do_connect(s);
    if (r < 0)
        schedule_retry(s, 0);
    return r;
}

int stream_attach(struct stream *s, int fd)
{
    teardown(s);
    s->host[0] = 0;
    s->gen++;
    int r = loop_add(s->loop, fd, LOOP_READ, on_io, s);
    if (r < 0) {
        close(fd);
        return r;
    }
    s->fd = fd;
    s->armed = LOOP_READ;
    s->state = STREAM_UP;
    s->up_since = loop_now_ms();
    return 0;
}

void stream_queued(struct stream *s)
{
    if (!s->dead && (s->state == STREAM_UP || s->state == STREAM_CLOSING))
        loop_job_queue(s->loop, &s->job);
}

int stream_write(struct stream *s, const void *p, size_t n)
{
    if (s->dead || s->fd < 0)
        return -ENOTCONN;
    if (buf_append(&s->out, p, n) < 0)
        return -ENOMEM;
    stream_queued(s);
    return 0;
}

void stream_flush(struct stream *s)
{
    if (!s->dead)
        do_flush(s);
}

/* The decode loop: frames until on_data wants more, the stream closes
 * for good (freed, closing) or is connected anew. */
static void decode(struct stream *s, unsigned gen)
{
    while (buf_avail(&s->in) > 0 && !s->dead && s->state != STREAM_CLOSING && s->gen == gen) {
        ssize_t used = s->ops->on_data(s, buf_head(&s->in), buf_avail(&s->in));
        if (used == 0)
            return;
        if (used < 0) {
            if (!s->dead && s->gen == gen && s->fd >= 0)
                self_close(s, "protocol error");
            buf_reset(&s->in);
            return;
        }
        if (s->gen != gen)
            return;
        buf_consume(&s->in, (size_t)used);
    }
}

void stream_read(struct stream *s)
{
    if (s->dead || s->state != STREAM_UP)
        return;
    const struct stream_ops *o = s->ops;
    size_t chunk = o->read_chunk ? o->read_chunk : STREAM_DEFAULT_CHUNK;
    unsigned gen = s->gen;
    const char *fail = NULL;
    s->reading++;
    for (unsigned i = 0; !o->reads_per_wake || i < o->reads_per_wake; i++) {
        uint8_t *dst = buf_reserve(&s->in, chunk);
        if (!dst) {
            fail = "out of memory";
            break;
        }
        ssize_t r = read(s->fd, dst, chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (r <= 0) {
            fail = r == 0 ? stream_eof : strerror(errno);
            break;
        }
        buf_commit(&s->in, (size_t)r);
        decode(s, gen);
        if (s->dead || s->gen != gen || s->state != STREAM_UP)
            break;
        /* A short read emptied the socket: skip the read that says EAGAIN. */
        if ((size_t)r < chunk)
            break;
    }
    s->reading--;
    if (fail && !s->dead && s->gen == gen && s->state == STREAM_UP)
        self_close(s, fail);
    if (s->dead || s->gen != gen || s->state != STREAM_UP)
        buf_free(&s->in);
}

static void on_io(struct loop *loop, int fd, unsigned events, void *data)
{
    (void)loop;
    (void)fd;
    struct stream *s = data;
    if (s->state == STREAM_CONNECTING) {
        if (!(events & LOOP_WRITE))
            return;
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
            err = errno;
        if (err) {
            self_close(s, strerror(err));
            return;
        }
        s->state = STREAM_UP;
        s->up_since = loop_now_ms();
        unsigned gen = s->gen;
        if (s->ops->on_connect)
            s->ops->on_connect(s);
        if (s->dead || s->gen != gen)
            return;
        do_flush(s); /* the hello and whatever was queued while connecting */
    } else if (events & LOOP_WRITE) {
        do_flush(s);
    }
    if (s->dead || s->state != STREAM_UP || !(events & LOOP_READ))
        return;
    if (s->ops->on_readable)
        s->ops->on_readable(s);
    else
        stream_read(s);
}

void stream_close(struct stream *s)
{
    teardown(s);
    s->gen++;
}

void stream_close_after_flush(struct stream *s)
{
    if (s->dead || s->state != STREAM_UP)
        return;
    s->state = STREAM_CLOSING;
    loop_job_queue(s->loop, &s->job);
}

void stream_free(struct stream *s)
{
    if (s->dead)
        return;
    teardown(s);
    s->gen++;
    s->dead = 1;
    loop_job_queue(s->loop, &s->job);
}

void stream_destroy(struct stream *s)
{
    s->reading = 0;
    teardown(s);
    s->gen++;
    buf_free(&s->in);
    loop_job_cancel(s->loop, &s->job);
}
