#include "events.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* uthash's default answer to a failed allocation is exit(); a worker must
 * survive it: a guard entry that cannot be added is simply not kept. */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) \
    do {                         \
        oom_ = 1;                \
    } while (0)
#include <uthash.h>

#include "bw.h"
#include "clientid.h"
#include "links.h"
#include "log.h"
#include "loop.h"
#include "netaddr.h"
#include "phpser.h"
#include "phpval.h"

static const char *callback_name(uint8_t cmd)
{
    switch (cmd) {
    case GWP_CMD_ON_CONNECT:
        return "on_connect";
    case GWP_CMD_ON_WEBSOCKET_CONNECT:
        return "on_websocket_connect";
    case GWP_CMD_ON_MESSAGE:
        return "on_message";
    case GWP_CMD_ON_CLOSE:
        return "on_close";
    }
    return "?";
}

/* ---------------------------------------------------------------------------
 * The stale-session guard (spec §5.2).
 *
 * An event's ext_data is the session the gateway held when it SENT the
 * event. When this process wrote a client's session (write-back, or
 * gw_set_session / gw_update_session) and the client's next events were
 * already queued on the link, those events carry the session from before the
 * write: using it would undo the write (a key set by one message is lost when
 * the next message writes its own change back).
 *
 * What we keep: one entry per client whose session THIS process wrote and
 * whose events have not yet shown that the gateway has it — the CRC-32
 * (PHP's crc32(), the zlib/IEEE polynomial) of the bytes the gateway holds
 * after our write (or after our last fetch).
 *
 * On an event other than ON_CLOSE for a client with an entry:
 *   - ext_data has that CRC (as bytes, or once decoded and re-encoded, so a
 *     serializer that writes the same array differently still matches): the
 *     gateway has caught up with our write; the entry is dropped and ext_data
 *     is used — every later event is generated after it and is at least as
 *     new;
 *   - otherwise the event may predate our write: the session is fetched
 *     synchronously with GET_SESSION_BY_CLIENT_ID from the client's gateway
 *     (the query API; links are flushed first, so our SET_SESSION precedes
 *     the query) and used instead of ext_data; the entry now holds the CRC of
 *     the FETCHED session, re-encoded.
 * ON_CLOSE drops the entry (its ext_data is used as is: nothing is written
 * back after it).
 *
 * Where this differs from PHP's BusinessWorker (which keeps crc32 of the last
 * session seen or written for EVERY client it ever saw, and after a fetch
 * remembers crc32 of the event's own ext_data):
 *   1. After a fetch PHP remembers the CRC of the stale ext_data. A further
 *      queued event carrying the same stale bytes then MATCHES and its stale
 *      session is used (if the fetched event's callback wrote nothing), and
 *      the first fresh event mismatches and costs a needless fetch. We
 *      remember the fetched session, so stale events keep being fetched and
 *      the first fresh one ends the guard. (Test: three pipelined messages
 *      set a, read, set b; with PHP's rule b's write-back loses a.)
 *   2. We fetch only while a write of ours is unconfirmed. A session that
 *      changed under us (updateSession re-serialized by the gateway, another
 *      worker, a GatewayClient) is taken from ext_data, as it is the newer
 *      value anyway; PHP pays a blocking fetch for each such change.
 *   3. The table holds only clients with an unconfirmed write (PHP: every
 *      client, forever if ON_CLOSE is lost with its gateway), and entries
 *      older than GUARD_TTL_MS are dropped, with GUARD_MAX entries at most
 *      (oldest dropped first): an event queued before our write arrives
 *      within milliseconds unless the process is hopelessly behind.
 * Known limit (PHP has it too): if we write bytes B1 and later write back
 * the very bytes B0 an older queued event carries, that event matches and
 * ends the guard early (ABA); its content is still what we wrote last.
 * ------------------------------------------------------------------------- */

#define GUARD_TTL_MS 120000
#define GUARD_MAX 65536

struct guard {
    char client_id[CLIENTID_LEN + 1];
    uint32_t crc;     /* of the bytes the gateway holds after our write / our fetch */
    int unknown;      /* we sent UPDATE_SESSION to a client other than the current one: bytes unknown */
    int64_t touched;
    UT_hash_handle hh;
};

/* The guard's table: one per worker process, hung on struct bw (bw->guard,
 * created on first use, freed by events_free). */
struct guard_table {
    struct guard *head; /* uthash, in insertion (= touch) order */
    size_t n;
};

static uint32_t crc_table[256];

static uint32_t crc32_of(const void *p, size_t n)
{
    if (!crc_table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            crc_table[i] = c;
        }
    const uint8_t *b = p;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ b[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static void guard_del(struct guard_table *t, struct guard *g)
{
    HASH_DEL(t->head, g);
    free(g);
    t->n--;
}

/* bw's table, created when create is set and it does not exist yet; NULL
 * when absent (or out of memory: the guard is then off, and says so). */
static struct guard_table *guard_of(struct bw *bw, int create)
{
    if (!bw->guard && create && !(bw->guard = calloc(1, sizeof *bw->guard)))
        log_warn("out of memory: the stale-session guard is off for now");
    return bw->guard;
}

void events_free(struct bw *bw)
{
    struct guard_table *t = bw->guard;
    if (!t)
        return;
    struct guard *g, *tmp;
    HASH_ITER(hh, t->head, g, tmp)
    guard_del(t, g);
    free(t);
    bw->guard = NULL;
}

static struct guard *guard_find(struct guard_table *t, const char *client_id)
{
    struct guard *g = NULL;
    HASH_FIND(hh, t->head, client_id, CLIENTID_LEN, g);
    return g;
}

/* Drops expired entries; the table iterates in insertion order and every
 * touch re-inserts, so the oldest are at the head. */
static void guard_sweep(struct guard_table *t, int64_t now)
{
    struct guard *g, *tmp;
    HASH_ITER(hh, t->head, g, tmp)
    {
        if (now - g->touched < GUARD_TTL_MS && t->n < GUARD_MAX)
            break;
        guard_del(t, g);
    }
}

/* This process made the gateway hold bytes[0..len) (known) or an unknown
 * merge (!known) for client_id. */
static void guard_note(struct guard_table *t, const char *client_id, const void *bytes, size_t len, int known)
{
    char id[CLIENTID_LEN + 1];
    if (strlen(client_id) != CLIENTID_LEN)
        return;
    for (int i = 0; i < CLIENTID_LEN; i++)
        id[i] = (char)tolower((unsigned char)client_id[i]);
    id[CLIENTID_LEN] = 0;
    int64_t now = loop_now_ms();
    guard_sweep(t, now);
    struct guard *g = guard_find(t, id);
    if (g) {
        HASH_DEL(t->head, g); /* re-inserted at the tail: the newest */
    } else {
        g = calloc(1, sizeof *g);
        if (!g)
            return;
        memcpy(g->client_id, id, sizeof id);
        t->n++;
    }
    g->crc = known ? crc32_of(bytes, len) : 0;
    g->unknown = !known;
    g->touched = now;
    int oom_ = 0;
    HASH_ADD(hh, t->head, client_id, CLIENTID_LEN, g);
    if (oom_) {
        free(g);
        t->n--;
    }
}

/* bw->session_written: api.c wrote the session of a client other than the
 * current one (the current one's writes are seen at the end of the event). */
static void on_session_written(struct bw *bw, const char *client_id, const void *bytes, size_t len, int known)
{
    struct guard_table *t = client_id ? guard_of(bw, 1) : NULL;
    if (t)
        guard_note(t, client_id, bytes, len, known);
}

/* The CRC of the canonical form of a session: our encoding of its decoded
 * value, with an empty array written as "" (the gateway answers a:0:{} for
 * a client without a session, but its events then carry ""). 0 or -1. */
static int canonical_crc(const msgpack_object *v, struct buf *tmp, uint32_t *crc)
{
    buf_reset(tmp);
    if (v->type == MSGPACK_OBJECT_MAP && v->via.map.size > 0 && phpser_encode(tmp, v) < 0)
        return -1;
    *crc = crc32_of(buf_head(tmp), buf_avail(tmp));
    return 0;
}

/* 1 if the event's ext_data is the session the entry says the gateway has. */
static int guard_matches(struct bw_ctx *c, const struct guard *g)
{
    if (g->unknown)
        return 0;
    if (crc32_of(c->ext, c->ext_len) == g->crc)
        return 1;
    msgpack_object v = {.type = MSGPACK_OBJECT_NIL};
    uint32_t crc;
    if (c->ext_len && phpser_decode(c->ext, c->ext_len, &c->zone, &v, NULL, NULL, 0) < 0)
        return 0;
    int r = canonical_crc(&v, &c->baseline, &crc) == 0 && crc == g->crc;
    buf_reset(&c->baseline);
    return r;
}

/* Before the callback. Returns 1 when the session was fetched (then
 * *fetched_crc is the CRC of c->baseline, the bytes the gateway holds). */
static int guard_check(struct bw *bw, uint32_t *fetched_crc)
{
    struct bw_ctx *c = &bw->ctx;
    struct guard *g = guard_find(bw->guard, c->client_id);
    if (!g)
        return 0;
    if (guard_matches(c, g)) {
        guard_del(bw->guard, g);
        return 0;
    }
    struct gw_result res = {0};
    int r = gw_get_session(c->client_id, &res);
    const struct gw_query_info *qi = gw_last_query();
    if (r < 0 || qi->n_missing > 0 || res.value.type != MSGPACK_OBJECT_MAP) {
        /* NIL: the client is gone (ON_CLOSE follows); else no answer. */
        if (res.value.type != MSGPACK_OBJECT_NIL || r < 0 || qi->n_missing > 0)
            log_warn("client %s: the event's session may predate our last write, and the gateway did not answer "
                     "GET_SESSION; using the event's",
                     c->client_id);
        gw_result_free(&res);
        return 0;
    }
    msgpack_object copy = {.type = MSGPACK_OBJECT_NIL};
    if (res.value.via.map.size > 0 && phpval_copy(&c->zone, &copy, &res.value) < 0) {
        gw_result_free(&res);
        return 0;
    }
    gw_result_free(&res);
    if (canonical_crc(&copy, &c->baseline, &g->crc) < 0) {
        buf_reset(&c->baseline);
        return 0;
    }
    g->unknown = 0;
    c->session = copy;
    c->session_loaded = 1;
    c->baseline_own = 1; /* write_back compares with what the gateway holds */
    *fetched_crc = g->crc;
    log_debug("client %s: stale session in %s, fetched it from the gateway", c->client_id, gwp_cmd_name(c->cmd));
    return 1;
}

/* After the callback (not ON_CLOSE): wrote = write_back sent c->scratch. */
static void guard_after(struct bw *bw, int wrote, int fetched, uint32_t fetched_crc)
{
    struct bw_ctx *c = &bw->ctx;
    struct guard_table *t = guard_of(bw, wrote || c->baseline_own);
    if (!t)
        return;
    if (wrote) {
        guard_note(t, c->client_id, buf_head(&c->scratch), buf_avail(&c->scratch), 1);
        return;
    }
    /* gw_set_session / gw_update_session on the current client made the
     * gateway hold c->baseline (api.c adopt_current). */
    if (c->baseline_own) {
        uint32_t crc = crc32_of(buf_head(&c->baseline), buf_avail(&c->baseline));
        if (!fetched || crc != fetched_crc)
            guard_note(t, c->client_id, buf_head(&c->baseline), buf_avail(&c->baseline), 1);
    }
}

int events_session_load(struct bw *bw)
{
    struct bw_ctx *c = &bw->ctx;
    if (!c->active)
        return -1;
    if (c->session_loaded)
        return 0;
    c->session_loaded = 1;
    c->session.type = MSGPACK_OBJECT_NIL;
    if (c->ext_len == 0)
        return 0;
    char err[160];
    msgpack_object v;
    if (phpser_decode(c->ext, c->ext_len, &c->zone, &v, NULL, err, sizeof err) < 0) {
        log_warn("client %s: session does not unserialize (%s); treated as empty", c->client_id, err);
        return 0;
    }
    if (v.type != MSGPACK_OBJECT_MAP && v.type != MSGPACK_OBJECT_NIL) {
        log_warn("client %s: session is not an array; treated as empty", c->client_id);
        return 0;
    }
    c->session = v;
    return 0;
}

/* SET_SESSION when the callback changed the session (§5.2). Returns 1 when
 * it was sent (its bytes are in c->scratch), else 0. */
static int write_back(struct bw *bw)
{
    struct bw_ctx *c = &bw->ctx;
    if (!c->session_changed)
        return 0;
    struct buf *out = &c->scratch;
    buf_reset(out);
    if (c->session.type != MSGPACK_OBJECT_NIL && phpser_encode(out, &c->session) < 0) {
        log_error("client %s: the session cannot be serialized; not written back", c->client_id);
        return 0;
    }
    const uint8_t *was = c->baseline_own ? buf_head(&c->baseline) : c->ext;
    size_t was_len = c->baseline_own ? buf_avail(&c->baseline) : c->ext_len;
    if (buf_avail(out) == was_len && memcmp(buf_head(out), was, was_len) == 0)
        return 0;
    struct gwp_header h = {.cmd = GWP_CMD_SET_SESSION, .connection_id = c->conn_id, .flag = GWP_FLAG_BODY_IS_SCALAR};
    int r = link_send(c->link, &h, buf_head(out), buf_avail(out), NULL, 0);
    if (r < 0) {
        log_warn("client %s: session write-back failed (%s)", c->client_id, strerror(-r));
        return 0;
    }
    return 1;
}

void events_dispatch(struct bw *bw, struct link *l, const struct gwp_frame *f)
{
    uint8_t cmd = f->hdr.cmd;
    const struct gw_app *app = bw->app;
    if (cmd != GWP_CMD_ON_CONNECT && cmd != GWP_CMD_ON_MESSAGE && cmd != GWP_CMD_ON_CLOSE &&
        cmd != GWP_CMD_ON_WEBSOCKET_CONNECT) {
        if (cmd != GWP_CMD_PING)
            log_warn("gateway %s: unexpected command %u ignored", l->addr, cmd);
        return;
    }
    bw->session_written = on_session_written;
    struct bw_ctx *c = &bw->ctx;
    clientid_encode(f->hdr.local_ip, f->hdr.local_port, f->hdr.connection_id, c->client_id);
    if (cmd == GWP_CMD_ON_CLOSE && bw->guard) {
        struct guard *g = guard_find(bw->guard, c->client_id);
        if (g)
            guard_del(bw->guard, g);
    }
    if ((cmd == GWP_CMD_ON_CONNECT && !app->on_connect) || (cmd == GWP_CMD_ON_CLOSE && !app->on_close) ||
        (cmd == GWP_CMD_ON_WEBSOCKET_CONNECT && !app->on_websocket_connect))
        return;

    c->active = 1;
    c->cmd = cmd;
    c->link = l;
    c->conn_id = f->hdr.connection_id;
    netaddr_format_ipv4(f->hdr.client_ip, c->remote_ip);
    clientid_gateway_address(f->hdr.local_ip, f->hdr.local_port, c->gateway_addr, sizeof c->gateway_addr);
    c->remote_port = f->hdr.client_port;
    c->gateway_port = f->hdr.gateway_port;
    c->body_serialized = !(f->hdr.flag & GWP_FLAG_BODY_IS_SCALAR);
    c->ext = f->ext;
    c->ext_len = f->ext_len;
    c->session_loaded = 0;
    c->session.type = MSGPACK_OBJECT_NIL;
    c->session_changed = 0;
    c->baseline_own = 0;

    uint32_t fetched_crc = 0;
    int fetched = cmd != GWP_CMD_ON_CLOSE && bw->guard && bw->guard->head ? guard_check(bw, &fetched_crc) : 0;

    int64_t t0 = loop_now_ms();
    bw->events_in++;
    int rc = 0;
    switch (cmd) {
    case GWP_CMD_ON_CONNECT:
        rc = app->on_connect(c->client_id);
        break;
    case GWP_CMD_ON_WEBSOCKET_CONNECT: {
        msgpack_object data = {.type = MSGPACK_OBJECT_MAP};
        char err[160];
        if (c->body_serialized && f->body_len > 0 &&
            phpser_decode(f->body, f->body_len, &c->zone, &data, NULL, err, sizeof err) < 0) {
            log_warn("client %s: handshake data does not unserialize (%s)", c->client_id, err);
            data.type = MSGPACK_OBJECT_MAP;
            data.via.map.size = 0;
        }
        rc = app->on_websocket_connect(c->client_id, &data);
        break;
    }
    case GWP_CMD_ON_MESSAGE:
        /* A copy with a NUL after it: the frame's next byte belongs to the next frame. */
        buf_reset(&c->scratch);
        if (buf_append(&c->scratch, f->body, f->body_len) < 0 || buf_append(&c->scratch, "", 1) < 0) {
            log_error("client %s: out of memory for a %zu-byte message; dropped", c->client_id, f->body_len);
            rc = 0;
            break;
        }
        rc = app->on_message(c->client_id, (const char *)buf_head(&c->scratch), f->body_len);
        break;
    case GWP_CMD_ON_CLOSE:
        rc = app->on_close(c->client_id);
        break;
    }
    int64_t took = loop_now_ms() - t0;
    if (rc != 0)
        log_warn("callback %s failed (returned %d): client_id %s, command %s", callback_name(cmd), rc, c->client_id,
                 gwp_cmd_name(cmd));
    if (took >= bw->cfg->slowCallbackMs)
        log_warn("slow callback %s: %lld ms (slowCallbackMs %ld): client_id %s, command %s", callback_name(cmd),
                 (long long)took, bw->cfg->slowCallbackMs, c->client_id, gwp_cmd_name(cmd));
    if (cmd != GWP_CMD_ON_CLOSE)
        guard_after(bw, write_back(bw), fetched, fetched_crc);

    c->active = 0;
    c->link = NULL;
    c->ext = NULL;
    c->ext_len = 0;
    c->session.type = MSGPACK_OBJECT_NIL;
    msgpack_zone_clear(&c->zone);
    buf_reset(&c->scratch);
    buf_reset(&c->baseline);
    /* A big message must not keep its buffer for the life of the process. */
    if (c->scratch.cap > 65536)
        buf_free(&c->scratch);
    if (c->baseline.cap > 65536)
        buf_free(&c->baseline);
}
