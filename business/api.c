/* api: the core of gw_api.h's implementation — the binding to a process
 * and its transport, the current event, and routing a command to the right
 * gateway link(s). The calls themselves are in api_push.c (pushes),
 * api_session.c (sessions) and api_query.c (queries). */
#include "api_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clientid.h"

/* The process's worker state and how it reaches the gateways: the API's
 * only globals (see api.h). */
static struct bw *api_bw;
static const struct api_transport *api_tr;

void api_start(struct bw *bw, const struct api_transport *t)
{
    api_bw = t ? bw : NULL;
    api_tr = bw ? t : NULL;
}

struct bw *api_bound(void) { return api_bw; }

struct bw_ctx *api__cur(void) { return api_bw && api_bw->ctx.active ? &api_bw->ctx : NULL; }

/* ---- the transport ---- */

size_t api__count(void) { return api_bw ? api_tr->count(api_bw->links) : 0; }
struct link *api__at(size_t i) { return api_tr->at(api_bw->links, i); }
struct link *api__find(uint32_t ip, uint16_t port) { return api_tr->find(api_bw->links, ip, port); }
int api__usable(const struct link *l) { return api_tr->usable(l); }
void api__settle(void) { api_tr->settle(api_bw->links); }

int api__session_load(void)
{
    if (!api_bw || !api_tr->session_load)
        return -1;
    return api_tr->session_load(api_bw);
}

/* ---- the current event ---- */

const char *gw_current_client_id(void) { return api__cur() ? api__cur()->client_id : NULL; }
const char *gw_current_remote_ip(void) { return api__cur() ? api__cur()->remote_ip : NULL; }
uint16_t gw_current_remote_port(void) { return api__cur() ? api__cur()->remote_port : 0; }
const char *gw_current_gateway_address(void) { return api__cur() ? api__cur()->gateway_addr : NULL; }
uint16_t gw_current_gateway_port(void) { return api__cur() ? api__cur()->gateway_port : 0; }
int gw_current_body_is_serialized(void) { return api__cur() ? api__cur()->body_serialized : 0; }

msgpack_object gw_str(const char *s) { return gw_strn(s, s ? strlen(s) : 0); }

msgpack_object gw_strn(const char *s, size_t n)
{
    msgpack_object o = {.type = MSGPACK_OBJECT_STR, .via.str = {.size = (uint32_t)n, .ptr = s ? s : ""}};
    return o;
}

msgpack_object gw_int(int64_t v)
{
    msgpack_object o;
    if (v >= 0) {
        o.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o.via.u64 = (uint64_t)v;
    } else {
        o.type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        o.via.i64 = v;
    }
    return o;
}

/* ---- routing ---- */

int api__resolve(const char *client_id, struct link **l, uint32_t *conn_id)
{
    uint32_t ip;
    uint16_t port;
    if (!api_bw || !client_id || clientid_decode(client_id, strlen(client_id), &ip, &port, conn_id) < 0)
        return -EINVAL;
    *l = api_tr->find(api_bw->links, ip, port);
    return api_tr->usable(*l) ? 0 : -ENOTCONN;
}

int api__is_current(const char *client_id)
{
    struct bw_ctx *c = api__cur();
    return c && client_id && strcasecmp(client_id, c->client_id) == 0;
}

int api__send_one(struct link *l, uint8_t cmd, uint32_t conn_id, uint8_t flag, const void *ext, size_t ext_len,
                  const void *body, size_t body_len)
{
    struct gwp_header h = {.cmd = cmd, .connection_id = conn_id, .flag = flag};
    return api_tr->send(l, &h, ext, ext_len, body, body_len);
}

int api__to_client(const char *client_id, uint8_t cmd, uint8_t flag, const void *ext, size_t ext_len,
                   const void *body, size_t body_len)
{
    struct link *l;
    uint32_t id;
    int r = api__resolve(client_id, &l, &id);
    return r < 0 ? r : api__send_one(l, cmd, id, flag, ext, ext_len, body, body_len);
}

int api__to_current(uint8_t cmd, uint8_t flag, const void *body, size_t body_len)
{
    struct bw_ctx *c = api__cur();
    if (!c)
        return -EPERM;
    return api__send_one(c->link, cmd, c->conn_id, flag, NULL, 0, body, body_len);
}

int api__broadcast(uint8_t cmd, uint8_t flag, const void *ext, size_t ext_len, const void *body, size_t body_len)
{
    if (!api_bw)
        return -EPERM;
    int sent = 0, err = -ENOTCONN;
    for (size_t i = 0; i < api__count(); i++) {
        struct link *l = api__at(i);
        if (!api__usable(l))
            continue;
        int r = api__send_one(l, cmd, 0, flag, ext, ext_len, body, body_len);
        if (r == 0)
            sent++;
        else
            err = r;
    }
    return sent ? 0 : err;
}

uint8_t api__push_flag(unsigned flags)
{
    return (uint8_t)(GWP_FLAG_BODY_IS_SCALAR | ((flags & GW_RAW) ? GWP_FLAG_NOT_CALL_ENCODE : 0));
}

size_t api__php_ext_len(const char *s)
{
    if (!s || !s[0] || strcmp(s, "0") == 0)
        return 0;
    return strlen(s);
}

/* ---- JSON for ext_data ---- */

int api__json_emit(json_t *o, char **out)
{
    if (!o)
        return -EINVAL;
    *out = json_dumps(o, JSON_COMPACT | JSON_ESCAPE_SLASH);
    json_decref(o);
    return *out ? 0 : -ENOMEM;
}

