#include "req.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_api.h"
#include "proto.h"

void req_send_text(char *s)
{
    if (s)
        gw_send_to_current_client(s, strlen(s), 0);
    free(s);
}

void req_reply(const char *rid, const char *cmd, const json_t *result, int replayed)
{
    req_send_text(proto_reply(rid, cmd, result, replayed));
}

void req_fail(const char *rid, const char *cmd, const char *code, const char *message)
{
    req_send_text(proto_error(rid, cmd, code, message));
}

void req_fail_store(const char *rid, const char *cmd, const struct store_err *e)
{
    req_fail(rid, cmd, e->code ? e->code : "store_error", e->message[0] ? e->message : "the store failed");
}

/* Pushes {type, body...} to the groups named (NULL-terminated list). */
void req_push(const char *type, const json_t *body, const char *g1, const char *g2, const char *g3)
{
    const char *groups[3];
    size_t n = 0;
    if (g1)
        groups[n++] = g1;
    if (g2)
        groups[n++] = g2;
    if (g3)
        groups[n++] = g3;
    char *s = proto_push(type, body);
    if (!s)
        return;
    int r = gw_send_to_group(groups, n, s, strlen(s), NULL, 0, 0);
    if (r < 0 && r != -ENOTCONN)
        gw_log(GW_LOG_WARN, "lottery: push %s failed: %s", type, strerror(-r));
    free(s);
}

void req_push_all(const char *type, const json_t *body)
{
    req_push(type, body, GROUP_PHONES, GROUP_SCREENS, GROUP_ADMINS);
}

/* ---- the session ---- */

int req_session_str(const char *key, char *out, size_t cap)
{
    const msgpack_object *v = gw_session_get(key);
    if (!v || v->type != MSGPACK_OBJECT_STR || v->via.str.size >= cap)
        return -1;
    memcpy(out, v->via.str.ptr, v->via.str.size);
    out[v->via.str.size] = 0;
    return 0;
}

int req_is_role(const char *want)
{
    char role[16];
    return req_session_str("role", role, sizeof role) == 0 && strcmp(role, want) == 0;
}

/* ---- the request's fields ---- */

const char *req_str(const struct req *q, const char *key)
{
    return json_string_value(json_object_get(q->msg, key));
}

/* An integer field within [min, max]; -1 and an error sent when not. */
int req_int(const struct req *q, const char *key, long long min, long long max, long long *out)
{
    const json_t *v = json_object_get(q->msg, key);
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        char m[128];
        snprintf(m, sizeof m, "%s: an integer from %lld to %lld is needed", key, min, max);
        req_fail(q->rid, q->type, "bad_request", m);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

int req_text(const struct req *q, const char *key, size_t min, size_t max, char *out, size_t cap)
{
    const char *s = req_str(q, key);
    if (!s || proto_trim(s, out, cap) < 0 || !proto_text_ok(out, min, max)) {
        char m[128];
        snprintf(m, sizeof m, "%s: %zu to %zu bytes of text are needed", key, min, max);
        req_fail(q->rid, q->type, "bad_request", m);
        return -1;
    }
    return 0;
}

