#include "events.h"

#include <stdio.h>
#include <string.h>

#include "bw.h"
#include "clientid.h"
#include "links.h"
#include "log.h"
#include "loop.h"
#include "netaddr.h"
#include "phpser.h"

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

/* SET_SESSION when the callback changed the session (§5.2). */
static void write_back(struct bw *bw)
{
    struct bw_ctx *c = &bw->ctx;
    if (!c->session_changed)
        return;
    struct buf *out = &c->scratch;
    buf_reset(out);
    if (c->session.type != MSGPACK_OBJECT_NIL && phpser_encode(out, &c->session) < 0) {
        log_error("client %s: the session cannot be serialized; not written back", c->client_id);
        return;
    }
    const uint8_t *was = c->baseline_own ? buf_head(&c->baseline) : c->ext;
    size_t was_len = c->baseline_own ? buf_avail(&c->baseline) : c->ext_len;
    if (buf_avail(out) == was_len && memcmp(buf_head(out), was, was_len) == 0)
        return;
    struct gwp_header h = {.cmd = GWP_CMD_SET_SESSION, .connection_id = c->conn_id, .flag = GWP_FLAG_BODY_IS_SCALAR};
    int r = link_send(c->link, &h, buf_head(out), buf_avail(out), NULL, 0);
    if (r < 0)
        log_warn("client %s: session write-back failed (%s)", c->client_id, strerror(-r));
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
    if ((cmd == GWP_CMD_ON_CONNECT && !app->on_connect) || (cmd == GWP_CMD_ON_CLOSE && !app->on_close) ||
        (cmd == GWP_CMD_ON_WEBSOCKET_CONNECT && !app->on_websocket_connect))
        return;

    struct bw_ctx *c = &bw->ctx;
    c->active = 1;
    c->cmd = cmd;
    c->link = l;
    c->conn_id = f->hdr.connection_id;
    clientid_encode(f->hdr.local_ip, f->hdr.local_port, f->hdr.connection_id, c->client_id);
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

    int64_t t0 = loop_now_ms();
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
        write_back(bw);

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
