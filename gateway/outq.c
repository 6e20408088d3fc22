/* outq: the output side of every client — the per-client queue of shared
 * messages (a single slot, growing into a pooled ring), the wire encoding
 * each message caches for all its recipients, frames batched into one
 * write, and the pass that writes every client with new output right before
 * the loop sleeps. Also the ops table the state engine delivers through. */
#include "outq.h"
#include "outq_int.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "state.h"
#include "utf8.h"
#include "sendring.h"
#include "wsguard.h"

/* Rings start at this many slots; spare ones are kept (up to RING_POOL_MAX)
 * so a queue that fills and drains under load allocates nothing. */
#define QUEUE_RING_MIN 8
#define RING_POOL_MAX 4096

static struct gwmsg **ring_get(struct clients *cs)
{
    if (cs->ring_pool) {
        struct gwmsg **r = (struct gwmsg **)cs->ring_pool;
        cs->ring_pool = (struct gwmsg ***)r[0];
        cs->nring_pool--;
        return r;
    }
    return malloc(QUEUE_RING_MIN * sizeof(struct gwmsg *));
}

static void ring_put(struct clients *cs, struct gwmsg **r, uint16_t cap)
{
    if (cap != QUEUE_RING_MIN || cs->nring_pool >= RING_POOL_MAX) {
        free(r);
        return;
    }
    r[0] = (struct gwmsg *)(void *)cs->ring_pool;
    cs->ring_pool = (struct gwmsg ***)r;
    cs->nring_pool++;
}

static struct gwmsg *queue_peek(const struct client *c, uint16_t i)
{
    return c->qcap ? c->q.ring[(c->qhead + i) % c->qcap] : c->q.one;
}

/* Takes the head of a non-empty queue; the caller owns its reference. */
static struct gwmsg *queue_pop(struct clients *cs, struct client *c)
{
    struct gwmsg *m;
    if (!c->qcap) {
        m = c->q.one;
        c->q.one = NULL;
    } else {
        m = c->q.ring[c->qhead];
        c->qhead = (uint16_t)((c->qhead + 1) % c->qcap);
        if (c->qlen == 1) {
            ring_put(cs, c->q.ring, c->qcap);
            c->q.one = NULL;
            c->qcap = c->qhead = 0;
        }
    }
    c->qlen--;
    c->queued_bytes -= m->len;
    return m;
}

void outq_clear(struct clients *cs, struct client *c)
{
    while (c->qlen)
        gwmsg_unref(queue_pop(cs, c));
    c->queued_bytes = 0;
}

int outq_queue_push(struct clients *cs, struct client *c, struct gwmsg *m)
{
    if (!c->qcap && !c->qlen) {
        c->q.one = gwmsg_ref(m);
        c->qlen = 1;
        c->queued_bytes += m->len;
        return 0;
    }
    if (c->qlen == 1 && !c->qcap) {
        struct gwmsg **r = ring_get(cs);
        if (!r)
            return -1;
        r[0] = c->q.one;
        c->q.ring = r;
        c->qcap = QUEUE_RING_MIN;
        c->qhead = 0;
    } else if (c->qlen == c->qcap) {
        if (c->qcap >= 32768)
            return -1;
        uint16_t ncap = (uint16_t)(c->qcap * 2);
        struct gwmsg **r = malloc(ncap * sizeof *r);
        if (!r)
            return -1;
        for (uint16_t i = 0; i < c->qlen; i++)
            r[i] = c->q.ring[(c->qhead + i) % c->qcap];
        ring_put(cs, c->q.ring, c->qcap);
        c->q.ring = r;
        c->qcap = ncap;
        c->qhead = 0;
    }
    c->q.ring[(c->qhead + c->qlen) % c->qcap] = gwmsg_ref(m);
    c->qlen++;
    c->queued_bytes += m->len;
    return 0;
}

/* BATCH_MAX: outq_int.h. */

/* Bytes of the frame for a payload of n bytes in mode md: RFC 6455 server
 * frames are unmasked, so the header is 2, 4 or 10 bytes; RAW is verbatim. */
static size_t frame_size(size_t n, enum lws_write_protocol md)
{
    if (md == LWS_WRITE_RAW)
        return n;
    return n + (n < 126 ? 2 : n < 65536 ? 4 : 10);
}

/* Writes the header of a final frame of n payload bytes in mode md (not
 * RAW) at out; returns its length. */
static size_t frame_header(uint8_t *out, size_t n, enum lws_write_protocol md)
{
    size_t used = 0;
    out[used++] = (uint8_t)(0x80 | (md == LWS_WRITE_BINARY ? 0x2 : 0x1));
    if (n < 126) {
        out[used++] = (uint8_t)n;
    } else if (n < 65536) {
        out[used++] = 126;
        out[used++] = (uint8_t)(n >> 8);
        out[used++] = (uint8_t)n;
    } else {
        out[used++] = 127;
        for (int i = 7; i >= 0; i--)
            out[used++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    return used;
}

/* The payload as it goes on the wire, prepared once per message and kept in
 * the message's encoding cache with LWS_PRE bytes of headroom: every
 * recipient writes from the same bytes. The frame header, identical for all
 * of them, is written once into the end of the headroom, so the whole frame
 * is contiguous (wire_frame). enc[0] = payload, enc_len[0] its length,
 * enc_mode[0] the frame's kind (an lws write mode). */
static const uint8_t *wire_payload(struct gwmsg *m, int text, size_t *len, enum lws_write_protocol *mode)
{
    if (!m->enc[0]) {
        struct buf json = BUF_INIT;
        const uint8_t *payload = m->data;
        size_t n = m->len;
        enum lws_write_protocol md = LWS_WRITE_TEXT;
        if (m->flags & GWMSG_ARRAY) {
            /* A PHP array body: WebSocket clients get it as JSON (§3.2 C). */
            if (gwmsg_json_body(m, &json) < 0) {
                buf_free(&json);
                return NULL;
            }
            payload = buf_head(&json);
            n = buf_avail(&json);
        }
        /* Text clients get each message as one line (Workerman's Text encoder). */
        int add_lf = text && !(m->flags & GWMSG_RAW);
        if ((m->flags & GWMSG_RAW) || text)
            md = LWS_WRITE_RAW;
        else if (!utf8_valid(payload, n))
            md = LWS_WRITE_BINARY; /* browsers close on invalid UTF-8 in text frames */
        uint8_t *e = malloc(LWS_PRE + n + 1);
        if (!e) {
            buf_free(&json);
            return NULL;
        }
        memcpy(e + LWS_PRE, payload, n);
        if (add_lf)
            e[LWS_PRE + n++] = '\n';
        buf_free(&json);
        if (md != LWS_WRITE_RAW)
            frame_header(e + LWS_PRE - (frame_size(n, md) - n), n, md);
        m->enc[0] = e;
        m->enc_len[0] = (uint32_t)n;
        m->enc_mode[0] = (uint8_t)md;
    }
    *len = m->enc_len[0];
    *mode = (enum lws_write_protocol)m->enc_mode[0];
    return (const uint8_t *)m->enc[0] + LWS_PRE;
}

/* The whole frame of m (header + payload, contiguous, shared by every
 * recipient): *flen bytes. NULL when m's array body does not decode. */
static const uint8_t *wire_frame(struct gwmsg *m, int text, size_t *flen)
{
    size_t len;
    enum lws_write_protocol md;
    const uint8_t *p = wire_payload(m, text, &len, &md);
    if (!p)
        return NULL;
    size_t hl = frame_size(len, md) - len;
    *flen = len + hl;
    return p - hl;
}

/* The frames of c's queue from its head, back to back in out (BATCH_MAX
 * bytes), as many as fit; the messages taken are popped and counted. Split
 * from the writers so the frame building is tested without a connection
 * (tests/unit/test_gw_outq.c). Returns the bytes written. */
size_t outq_batch_fill(struct clients *cs, struct client *c, uint8_t *out)
{
    size_t len, used = 0;
    enum lws_write_protocol md;
    while (c->qlen) {
        const uint8_t *p = wire_payload(queue_peek(c, 0), cs->text, &len, &md);
        if (!p) {
            log_warn("dropping a message whose array body does not decode");
            gwmsg_unref(queue_pop(cs, c));
            continue;
        }
        if (used + frame_size(len, md) > BATCH_MAX)
            break;
        if (md != LWS_WRITE_RAW)
            used += frame_header(out + used, len, md);
        memcpy(out + used, p, len); /* p lives in the message: copy, then drop our reference */
        used += len;
        cs->msgs_out++;
        cs->bytes_out += len;
        gwmsg_unref(queue_pop(cs, c));
    }
    return used;
}

/* The bytes of c's next write: the head of the queue and as many of the
 * messages after it as fit in BATCH_MAX, their frames built back to back in
 * cs->batch (we negotiate no extension, so a frame is header + payload); a
 * single one is the message's shared frame, no copy, and *hold is the
 * reference to drop once the bytes are written (or handed to lws, which
 * copies what it cannot send). Returns NULL with *len 0 when nothing is left
 * to write (undecodable messages are dropped on the way). */
const uint8_t *outq_next_write(struct clients *cs, struct client *c, size_t *len, struct gwmsg **hold)
{
    *hold = NULL;
    while (c->qlen) {
        if (c->qlen > 1 && cs->batch) {
            size_t l1, l2;
            const uint8_t *p2 = wire_frame(queue_peek(c, 1), cs->text, &l2);
            const uint8_t *p1 = wire_frame(queue_peek(c, 0), cs->text, &l1);
            if (p1 && l1 + (p2 ? l2 : 0) <= BATCH_MAX) {
                *len = outq_batch_fill(cs, c, cs->batch + LWS_PRE);
                if (*len)
                    return cs->batch + LWS_PRE;
                continue;
            }
        }
        struct gwmsg *m = queue_pop(cs, c);
        const uint8_t *p = wire_frame(m, cs->text, len);
        if (!p) {
            log_warn("dropping a message whose array body does not decode");
            gwmsg_unref(m);
            continue;
        }
        cs->msgs_out++;
        cs->bytes_out += m->len;
        *hold = m;
        return p;
    }
    *len = 0;
    return NULL;
}

/* One lws_write (raw: the frames are complete) of c's next write. Returns 0,
 * or -1 when the connection failed. */
int outq_write(struct clients *cs, struct lws *wsi, struct client *c)
{
    size_t len;
    struct gwmsg *hold;
    const uint8_t *p = outq_next_write(cs, c, &len, &hold);
    if (!p)
        return 0;
    int n = lws_write(wsi, (unsigned char *)p, len, LWS_WRITE_RAW);
    gwmsg_unref(hold);
    return n < (int)len ? -1 : 0;
}

/* A send of the flush pass queued on the ring: one client's single frame
 * (the broadcast case), valid until the ring ran (no lws callback runs in
 * between, so wsi and c stay alive). */
struct outq_pend {
    struct lws *wsi;
    struct client *c;
    struct gwmsg *hold;
    const uint8_t *p;
    uint32_t len;
    int fd, done;
};

/* After a send of len bytes at p returned res (bytes, or -errno): what the
 * socket did not take goes to lws, a failed socket closes the client. */
static void sent(struct clients *cs, struct lws *wsi, struct client *c, const uint8_t *p, size_t len, ssize_t res)
{
    if (res == (ssize_t)len)
        return;
    if (res < 0 && res != -EAGAIN && res != -EWOULDBLOCK && res != -EINTR) {
        c->closing = 1;
        return;
    }
    size_t n = res > 0 ? (size_t)res : 0;
    cs->direct_partials++;
    if (lws_write(wsi, (unsigned char *)p + n, len - n, LWS_WRITE_RAW) < (int)(len - n))
        c->closing = 1;
}

static void pend_done(void *arg, uint32_t tag, int res)
{
    struct clients *cs = arg;
    struct outq_pend *e = &cs->pend[tag];
    e->done = 1;
    cs->ring_sends++;
    sent(cs, e->wsi, e->c, e->p, e->len, res);
}

/* Sends the pass's queued frames, through the ring when there are several
 * (a lone one, an echo's answer, is a plain send()), then asks for POLLOUT
 * where output is left. If the kernel refuses the ring, it is dropped for
 * good (logged) and the sends go out one send() each. */
static void ring_flush(struct clients *cs)
{
    if (!cs->npend)
        return;
    int rc = 0;
    if (cs->npend > 1) {
        for (size_t i = 0; i < cs->npend; i++) /* the ring has FLUSH_PER_PASS entries: they fit */
            if (sendring_add(cs->ring, cs->pend[i].fd, cs->pend[i].p, cs->pend[i].len, (uint32_t)i) < 0)
                break; /* not expected; what is left goes out with send() below */
        rc = sendring_run(cs->ring, pend_done, cs);
    }
    if (rc < 0) {
        log_warn("io_uring submission failed (%s): client writes go out one send() each from now on",
                 strerror(-rc));
        sendring_free(cs->ring);
        cs->ring = NULL;
    }
    for (size_t i = 0; i < cs->npend; i++) {
        struct outq_pend *e = &cs->pend[i];
        if (!e->done) {
            ssize_t n = wsguard_send_data(e->fd, e->p, e->len);
            sent(cs, e->wsi, e->c, e->p, e->len, n < 0 ? -errno : n);
        }
        gwmsg_unref(e->hold);
        if (e->c->qlen || e->c->closing || e->c->close_after_flush)
            lws_callback_on_writable(e->wsi);
    }
    cs->npend = 0;
}

/* Keeps c's one frame (a broadcast's) for ring_flush, which sends it with
 * the others of this pass in one submission. 0, or -1 when nothing was
 * left to write. */
static int ring_queue(struct clients *cs, struct lws *wsi, struct client *c, int fd)
{
    struct outq_pend *e = &cs->pend[cs->npend];
    size_t len;
    struct gwmsg *hold;
    const uint8_t *p = outq_next_write(cs, c, &len, &hold);
    if (!p)
        return -1;
    *e = (struct outq_pend){wsi, c, hold, p, (uint32_t)len, fd, 0};
    cs->npend++;
    return 0;
}

/* The flush pass's writer for a plain (not TLS) socket lws holds nothing
 * for: c's frames go straight to the socket, one send() per write, past
 * lws_write's layers and wsguard's send() (data frames are nothing it
 * tracks). What the socket does not take is handed to lws, which buffers it
 * and asks for POLLOUT itself: from then on lws holds a partial write, so
 * the rest of the queue waits for the writeable callback (outq_write), in
 * order. Returns -1 when the connection failed. */
static int write_direct(struct clients *cs, struct lws *wsi, struct client *c, int fd)
{
    while (c->qlen && !c->closing) {
        size_t len;
        struct gwmsg *hold;
        const uint8_t *p = outq_next_write(cs, c, &len, &hold);
        if (!p)
            break;
        ssize_t n = wsguard_send_data(fd, p, len);
        sent(cs, wsi, c, p, len, n < 0 ? -errno : n);
        gwmsg_unref(hold);
        if (n != (ssize_t)len)
            break; /* lws holds the rest (or the client failed) */
    }
    return c->closing ? -1 : 0;
}

/* Closes a client at once (ON_CLOSE follows before this returns). Only ever
 * called from outside that client's own lws callbacks (internal-port
 * commands, the heartbeat tick): an async kill waits for lws' next timer
 * pass, which on the foreign libev loop can be seconds away. */
void outq_kill_now(struct lws *wsi)
{
    lws_set_timeout(wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_SYNC);
}

/* Marks c as having output for flush_dirty. Falls back to lws' writeable
 * callback when the list cannot grow. */
static void mark_dirty(struct clients *cs, struct lws *wsi, struct client *c)
{
    if (c->dirty)
        return;
    if (cs->ndirty == cs->dirty_cap && cs->dirty_head > 0) {
        memmove(cs->dirty, cs->dirty + cs->dirty_head, (cs->ndirty - cs->dirty_head) * sizeof *cs->dirty);
        cs->ndirty -= cs->dirty_head;
        cs->dirty_head = 0;
    }
    if (cs->ndirty == cs->dirty_cap) {
        size_t cap = cs->dirty_cap ? cs->dirty_cap * 2 : 1024;
        uint32_t *d = realloc(cs->dirty, cap * sizeof *d);
        if (!d) {
            lws_callback_on_writable(wsi);
            return;
        }
        cs->dirty = d;
        cs->dirty_cap = cap;
    }
    cs->dirty[cs->ndirty++] = gws_client_conn_id(c->gc);
    c->dirty = 1;
}

void outq_send(void *ctx, struct gws_client *gc, struct gwmsg *m)
{
    (void)ctx;
    struct lws *wsi = gws_client_handle(gc);
    struct client *c = lws_wsi_user(wsi);
    struct clients *cs = owner_of(wsi);
    if (c->closing || c->close_after_flush)
        return;
    /* A client is slow when what it has not read yet stops a new message from
     * fitting; one message into an empty queue always goes (it is bounded by
     * maxPackageSize, and shared): otherwise a single large, or undecodable,
     * push from a worker would close a client that reads everything. */
    if ((c->queued_bytes > 0 && c->queued_bytes + m->len > (uint64_t)cs->gw->cfg->sendToClientBufferSize) ||
        outq_queue_push(cs, c, m) < 0) {
        log_warn("client %u (%s) does not read: %u bytes queued and a %u-byte message, over "
                 "sendToClientBufferSize; closing",
                 gws_client_conn_id(gc), "ws", c->queued_bytes, m->len);
        cs->slow_closes++;
        c->closing = 1;
        outq_kill_now(wsi);
        return;
    }
    mark_dirty(cs, wsi, c);
}

/* Before the loop sleeps (redis' model: replies are written right before
 * the loop sleeps, a write event is asked for only when the socket is
 * full): every client that got output in this iteration writes it now,
 * frames batched per write_batch, without a round trip through POLLOUT and
 * lws' writeable callback (two epoll_ctl calls and a wake-up per delivery).
 * Only where lws holds nothing of its own for the socket: when a previous
 * write was partly buffered by lws, or the client is closing, the queue
 * waits for the writeable callback as before, which keeps the order.
 *
 * At most FLUSH_PER_PASS clients per loop iteration, oldest first; the rest
 * wait for the next iteration, which comes at once (flush_more keeps the
 * loop from sleeping). A broadcast to everyone is thus written in slices
 * with input read in between: a client that sends fast gets its next bytes
 * read (lws reads at most rx_buffer_size per wake-up) after a slice rather
 * than after a write to every client, and what queues for one client
 * meanwhile leaves in one write. */
#define FLUSH_PER_PASS 1024

static void outq_flush_more(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)revents;
    struct clients *cs = w->data;
    if (cs->dirty_head == cs->ndirty)
        ev_idle_stop(loop, w);
}

static void outq_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    struct clients *cs = w->data;
    size_t end = cs->ndirty - cs->dirty_head > FLUSH_PER_PASS ? cs->dirty_head + FLUSH_PER_PASS : cs->ndirty;
    for (size_t i = cs->dirty_head; i < end; i++) {
        struct gws_client *gc = gws_client_find(cs->gw->state, cs->dirty[i]);
        if (!gc)
            continue; /* closed meanwhile */
        struct lws *wsi = gws_client_handle(gc);
        struct client *c = lws_wsi_user(wsi);
        if (!c || c->gc != gc)
            continue;
        c->dirty = 0;
        int fd = lws_get_socket_fd(wsi);
        if (wsguard_closing(fd))
            c->closing = 1; /* lws is closing it: nothing may follow its close frame */
        if (c->qlen && !c->closing && !c->close_after_flush && !lws_partial_buffered(wsi)) {
            if (cs->ring && c->qlen == 1 && cs->npend < FLUSH_PER_PASS && ring_queue(cs, wsi, c, fd) == 0)
                continue; /* POLLOUT, if needed, is asked for once the ring ran (ring_flush) */
            if (cs->direct) {
                if (write_direct(cs, wsi, c, fd) < 0)
                    c->closing = 1;
            } else {
                while (c->qlen && !lws_partial_buffered(wsi)) {
                    if (outq_write(cs, wsi, c) < 0) {
                        c->closing = 1;
                        break;
                    }
                }
            }
            /* A failed client is not closed from here: the writeable callback
             * returns -1 for a closing client and lws closes it in its own time. */
        }
        if (c->qlen || c->closing || c->close_after_flush)
            lws_callback_on_writable(wsi);
    }
    ring_flush(cs);
    if (end == cs->ndirty) {
        cs->dirty_head = cs->ndirty = 0;
        return;
    }
    cs->dirty_head = end;
    if (!ev_is_active(&cs->flush_more))
        ev_idle_start(loop, &cs->flush_more);
}

static void outq_close(void *ctx, struct gws_client *gc, struct gwmsg *goodbye, int flush)
{
    (void)ctx;
    struct lws *wsi = gws_client_handle(gc);
    struct client *c = lws_wsi_user(wsi);
    if (c->closing)
        return;
    if (!flush) {
        c->closing = 1;
        outq_kill_now(wsi);
        return;
    }
    if (goodbye && !c->close_after_flush)
        outq_queue_push(owner_of(wsi), c, goodbye);
    c->close_after_flush = 1;
    lws_callback_on_writable(wsi);
}

const struct gws_ops outq_gws_ops = {outq_send, outq_close};

void outq_start(struct clients *cs)
{
    cs->batch = malloc(LWS_PRE + BATCH_MAX); /* without it, one message per write */
    const char *path = cs->gw->cfg->clientWritePath;
    cs->direct = !cs->gw->cfg->ssl_cert[0] && strcmp(path, "lws") != 0;
    if (cs->direct && strcmp(path, "uring") == 0) {
        char why[160];
        cs->pend = malloc(FLUSH_PER_PASS * sizeof *cs->pend);
        cs->ring = cs->pend ? sendring_new(FLUSH_PER_PASS, why, sizeof why) : NULL;
        if (cs->ring)
            log_info("client writes: io_uring, up to %d sends per submission", FLUSH_PER_PASS);
        else
            log_info("client writes: one send() each (io_uring unavailable: %s)", cs->pend ? why : "out of memory");
    }
    ev_prepare_init(&cs->flush_prep, outq_flush);
    cs->flush_prep.data = cs;
    ev_prepare_start(cs->gw->loop, &cs->flush_prep);
    ev_idle_init(&cs->flush_more, outq_flush_more);
    cs->flush_more.data = cs;
}

void outq_stop(struct clients *cs)
{
    ev_prepare_stop(cs->gw->loop, &cs->flush_prep);
    ev_idle_stop(cs->gw->loop, &cs->flush_more);
    while (cs->ring_pool) {
        struct gwmsg **r = (struct gwmsg **)cs->ring_pool;
        cs->ring_pool = (struct gwmsg ***)r[0];
        free(r);
    }
    sendring_free(cs->ring);
    free(cs->pend);
    cs->ring = NULL;
    cs->pend = NULL;
    free(cs->dirty);
    free(cs->batch);
    cs->dirty = NULL;
    cs->batch = NULL;
}
