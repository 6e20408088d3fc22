/* api_push: the pushes of gw_api.h — to clients, uids, groups and
 * everyone, close/destroy, bind/unbind, join/leave/ungroup — as command
 * frames on the gateway links (§3.5, §4.4). */
#include "api_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clientid.h"

/* {"<id>":<id>,...} of the connection ids in ids[] that live on link l. */
static json_t *ids_on_link(const struct link *l, const char *const *ids, size_t n, const char *const *skip,
                           size_t nskip)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < n; i++) {
        uint32_t ip, id;
        uint16_t port;
        if (!ids[i] || clientid_decode(ids[i], strlen(ids[i]), &ip, &port, &id) < 0 || ip != l->ip ||
            port != l->port)
            continue;
        int skipped = 0;
        for (size_t j = 0; j < nskip && !skipped; j++)
            skipped = skip[j] && strcasecmp(skip[j], ids[i]) == 0;
        if (skipped)
            continue;
        char k[16];
        snprintf(k, sizeof k, "%u", id);
        json_object_set_new(o, k, json_integer(id));
    }
    return o;
}

static json_t *str_list(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_t *s = v[i] ? json_string(v[i]) : NULL;
        if (!s || json_array_append_new(a, s) < 0) {
            json_decref(a);
            return NULL; /* not UTF-8: PHP's json_encode fails too */
        }
    }
    return a;
}

/* ---- pushes ---- */

int gw_send_to_all(const void *msg, size_t len, const char *const *client_ids, size_t n_ids,
                   const char *const *exclude, size_t n_exclude, unsigned flags)
{
    if (!api_bound())
        return -EPERM;
    uint8_t flag = api__push_flag(flags);
    if (client_ids && n_ids == 0)
        return 0;
    if (!client_ids && n_exclude == 0)
        return api__broadcast(GWP_CMD_SEND_TO_ALL, flag, NULL, 0, msg, len);
    int sent = 0, err = client_ids ? 0 : -ENOTCONN;
    for (size_t i = 0; i < api__count(); i++) {
        struct link *l = api__at(i);
        if (!api__usable(l))
            continue;
        json_t *ids = client_ids ? ids_on_link(l, client_ids, n_ids, exclude, n_exclude)
                                 : ids_on_link(l, exclude, n_exclude, NULL, 0);
        if (!ids)
            return -ENOMEM;
        char *ext = NULL;
        int r = 0;
        if (json_object_size(ids) == 0) {
            json_decref(ids);
            if (client_ids)
                continue; /* none of the ids lives there */
            r = api__send_one(l, GWP_CMD_SEND_TO_ALL, 0, flag, NULL, 0, msg, len);
        } else {
            r = api__json_emit(json_pack("{s:o}", client_ids ? "connections" : "exclude", ids), &ext);
            if (r == 0)
                r = api__send_one(l, GWP_CMD_SEND_TO_ALL, 0, flag, ext, strlen(ext), msg, len);
            free(ext);
        }
        if (r == 0)
            sent++;
        else
            err = r;
    }
    return sent ? 0 : err;
}

int gw_send_to_client(const char *client_id, const void *msg, size_t len, unsigned flags)
{
    return api__to_client(client_id, GWP_CMD_SEND_TO_ONE, api__push_flag(flags), NULL, 0, msg, len);
}

int gw_send_to_current_client(const void *msg, size_t len, unsigned flags)
{
    return api__to_current(GWP_CMD_SEND_TO_ONE, api__push_flag(flags), msg, len);
}

/* KICK's body: the message (scalar), or serialize(null) = "N;" with flag 0. */
int gw_close_client(const char *client_id, const void *msg, size_t len)
{
    if (!msg)
        return api__to_client(client_id, GWP_CMD_KICK, 0, NULL, 0, "N;", 2);
    return api__to_client(client_id, GWP_CMD_KICK, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, msg, len);
}

int gw_close_current_client(const void *msg, size_t len)
{
    if (!msg)
        return api__to_current(GWP_CMD_KICK, 0, "N;", 2);
    return api__to_current(GWP_CMD_KICK, GWP_FLAG_BODY_IS_SCALAR, msg, len);
}

int gw_destroy_client(const char *client_id)
{
    return api__to_client(client_id, GWP_CMD_DESTROY, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, NULL, 0);
}

int gw_destroy_current_client(void) { return api__to_current(GWP_CMD_DESTROY, GWP_FLAG_BODY_IS_SCALAR, NULL, 0); }

int gw_bind_uid(const char *client_id, const char *uid)
{
    return api__to_client(client_id, GWP_CMD_BIND_UID, GWP_FLAG_BODY_IS_SCALAR, uid, api__php_ext_len(uid), NULL, 0);
}

int gw_unbind_uid(const char *client_id, const char *uid)
{
    return api__to_client(client_id, GWP_CMD_UNBIND_UID, GWP_FLAG_BODY_IS_SCALAR, uid, api__php_ext_len(uid), NULL, 0);
}

int gw_send_to_uid(const char *const *uids, size_t n, const void *msg, size_t len, unsigned flags)
{
    char *ext = NULL;
    int r = api__json_emit(str_list(uids, n), &ext);
    if (r < 0)
        return r;
    r = api__broadcast(GWP_CMD_SEND_TO_UID, api__push_flag(flags), ext, strlen(ext), msg, len);
    free(ext);
    return r;
}

int gw_join_group(const char *client_id, const char *group)
{
    return api__to_client(client_id, GWP_CMD_JOIN_GROUP, GWP_FLAG_BODY_IS_SCALAR, group, api__php_ext_len(group),
                          NULL, 0);
}

int gw_leave_group(const char *client_id, const char *group)
{
    return api__to_client(client_id, GWP_CMD_LEAVE_GROUP, GWP_FLAG_BODY_IS_SCALAR, group, api__php_ext_len(group),
                          NULL, 0);
}

int gw_ungroup(const char *group)
{
    if (!api__php_ext_len(group))
        return -EINVAL; /* PHP refuses an empty group client-side */
    return api__broadcast(GWP_CMD_UNGROUP, GWP_FLAG_BODY_IS_SCALAR, group, strlen(group), NULL, 0);
}

int gw_send_to_group(const char *const *groups, size_t n, const void *msg, size_t len,
                     const char *const *exclude, size_t n_exclude, unsigned flags)
{
    if (!api_bound())
        return -EPERM;
    if (n == 0)
        return -EINVAL;
    uint8_t flag = api__push_flag(flags);
    int sent = 0, err = -ENOTCONN;
    char *plain = NULL;
    for (size_t i = 0; i < api__count(); i++) {
        struct link *l = api__at(i);
        if (!api__usable(l))
            continue;
        json_t *gl = str_list(groups, n);
        json_t *ex = n_exclude ? ids_on_link(l, exclude, n_exclude, NULL, 0) : NULL;
        if (!gl) {
            json_decref(ex);
            free(plain);
            return -EINVAL;
        }
        int r;
        if (ex && json_object_size(ex) > 0) {
            char *ext = NULL;
            r = api__json_emit(json_pack("{s:o, s:o}", "group", gl, "exclude", ex), &ext);
            if (r == 0)
                r = api__send_one(l, GWP_CMD_SEND_TO_GROUP, 0, flag, ext, strlen(ext), msg, len);
            free(ext);
        } else {
            json_decref(ex);
            /* Gateways with nothing excluded share one ext (§4.4). */
            r = plain ? (json_decref(gl), 0) : api__json_emit(json_pack("{s:o, s:n}", "group", gl, "exclude"), &plain);
            if (r == 0)
                r = api__send_one(l, GWP_CMD_SEND_TO_GROUP, 0, flag, plain, strlen(plain), msg, len);
        }
        if (r == 0)
            sent++;
        else
            err = r;
    }
    free(plain);
    return sent ? 0 : err;
}

