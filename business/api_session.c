/* api_session: the sessions of gw_api.h — the current client's (read
 * lazily from the event, written back after the callback by events.c) and
 * any client's through SET_SESSION / UPDATE_SESSION (§5). */
#include "api_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "phpser.h"
#include "phpval.h"

/* ---- sessions ---- */

static int session_bytes(const msgpack_object *s, struct buf *out)
{
    buf_reset(out);
    if (!s || s->type == MSGPACK_OBJECT_NIL)
        return 0;
    if (s->type != MSGPACK_OBJECT_MAP)
        return -EINVAL;
    return phpser_encode(out, s);
}

/* The current client's session became `s` on the gateway too: remember it
 * as the baseline so the write-back does not send it again (PHP sets
 * Context::$old_session likewise). */
static int adopt_current(struct bw_ctx *c, const msgpack_object *s)
{
    api__session_load();
    msgpack_object copy = {.type = MSGPACK_OBJECT_NIL};
    if (s && s->type == MSGPACK_OBJECT_MAP && phpval_copy(&c->zone, &copy, s) < 0)
        return -ENOMEM;
    c->session = copy;
    c->baseline_own = 1;
    return session_bytes(&c->session, &c->baseline);
}

int gw_set_session(const char *client_id, const msgpack_object *session)
{
    if (session && session->type != MSGPACK_OBJECT_MAP && session->type != MSGPACK_OBJECT_NIL)
        return -EINVAL;
    struct buf b = BUF_INIT;
    int r = session_bytes(session, &b);
    if (r == 0)
        r = api__to_client(client_id, GWP_CMD_SET_SESSION, GWP_FLAG_BODY_IS_SCALAR, buf_head(&b), buf_avail(&b),
                           NULL, 0);
    if (r == 0 && !api__is_current(client_id) && api_bound()->session_written)
        api_bound()->session_written(api_bound(), client_id, buf_head(&b), buf_avail(&b), 1);
    buf_free(&b);
    if (r == 0 && api__is_current(client_id))
        r = adopt_current(api__cur(), session);
    return r;
}

int gw_update_session(const char *client_id, const msgpack_object *partial)
{
    if (!partial || partial->type != MSGPACK_OBJECT_MAP)
        return -EINVAL;
    struct buf b = BUF_INIT;
    int r = phpser_encode(&b, partial);
    if (r == 0)
        r = api__to_client(client_id, GWP_CMD_UPDATE_SESSION, GWP_FLAG_BODY_IS_SCALAR, buf_head(&b), buf_avail(&b),
                           NULL, 0);
    buf_free(&b);
    if (r == 0 && !api__is_current(client_id) && api_bound()->session_written)
        api_bound()->session_written(api_bound(), client_id, NULL, 0, 0);
    if (r == 0 && api__is_current(client_id)) {
        struct bw_ctx *c = api__cur();
        api__session_load();
        /* What the gateway computes (§5.3): array_replace_recursive of the
         * two arrays as PHP holds them (duplicate keys resolved). Copies:
         * the session may be borrowed by the application, partial is its. */
        msgpack_object merged = {.type = MSGPACK_OBJECT_MAP}, upd;
        if ((c->session.type == MSGPACK_OBJECT_MAP && phpval_copy(&c->zone, &merged, &c->session) < 0) ||
            phpval_copy(&c->zone, &upd, partial) < 0 || phpval_normalize(&merged) < 0 ||
            phpval_normalize(&upd) < 0 || phpval_replace_recursive(&c->zone, &merged, &upd) < 0)
            return -ENOMEM;
        r = adopt_current(c, &merged);
    }
    return r;
}

const msgpack_object *gw_session(void)
{
    struct bw_ctx *c = api__cur();
    if (!c || api__session_load() < 0)
        return NULL;
    return c->session.type == MSGPACK_OBJECT_MAP ? &c->session : NULL;
}

const msgpack_object *gw_session_get(const char *key)
{
    const msgpack_object *s = gw_session();
    if (!s || !key)
        return NULL;
    msgpack_object k = gw_str(key);
    long i = phpval_map_find(s, &k);
    return i < 0 ? NULL : &s->via.map.ptr[i].val;
}

int gw_session_set(const char *key, const msgpack_object *value)
{
    struct bw_ctx *c = api__cur();
    if (!c)
        return -EPERM;
    if (!key || !value)
        return -EINVAL;
    api__session_load();
    msgpack_object k = gw_str(key);
    if (phpval_map_set(&c->zone, &c->session, &c->session, &k, value) < 0)
        return -ENOMEM;
    c->session_changed = 1;
    return 0;
}

int gw_session_set_str(const char *key, const char *value)
{
    msgpack_object v = gw_str(value);
    return gw_session_set(key, &v);
}

int gw_session_set_int(const char *key, int64_t value)
{
    msgpack_object v = gw_int(value);
    return gw_session_set(key, &v);
}

int gw_session_unset(const char *key)
{
    struct bw_ctx *c = api__cur();
    if (!c)
        return -EPERM;
    api__session_load();
    msgpack_object k = gw_str(key);
    if (c->session.type != MSGPACK_OBJECT_MAP || phpval_map_find(&c->session, &k) < 0)
        return 0;
    if (phpval_map_set(&c->zone, &c->session, &c->session, &k, NULL) < 0)
        return -ENOMEM;
    c->session_changed = 1;
    return 0;
}

int gw_session_replace(const msgpack_object *map)
{
    struct bw_ctx *c = api__cur();
    if (!c)
        return -EPERM;
    if (map && map->type != MSGPACK_OBJECT_MAP && map->type != MSGPACK_OBJECT_NIL)
        return -EINVAL;
    api__session_load();
    msgpack_object copy = {.type = MSGPACK_OBJECT_NIL};
    if (map && map->type == MSGPACK_OBJECT_MAP && phpval_copy(&c->zone, &copy, map) < 0)
        return -ENOMEM;
    c->session = copy;
    c->session_changed = 1;
    return 0;
}

