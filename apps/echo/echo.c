/* echo: the client contract our tests, benchmarks and interop checks use
 * (the same as ../shared/interop-php/Events.php). Text frames:
 *
 *   echo:<payload>           the whole message back to the sender, unchanged
 *   all:<payload>            the whole message to every client
 *   join:<group>             join the group, answer "joined:<group>"
 *   group:<group>:<payload>  the whole message to the group's members
 *   uid:<uid>                bind the uid, answer "bound:<uid>"
 *   touid:<uid>:<payload>    the whole message to the uid's clients
 *   count                    answer "count:<clients online on every gateway>"
 *
 * Anything else is ignored; nothing is sent on connect. One addition that
 * clients cannot see: uid: also stores the uid in the client's session, so
 * the session write-back can be checked from outside (and a PHP worker
 * sharing the gateway reads $_SESSION['uid']). */
#include <stdio.h>
#include <string.h>

#include "gw_api.h"

static int starts(const char *s, size_t len, const char *prefix, size_t *plen)
{
    *plen = strlen(prefix);
    return len >= *plen && memcmp(s, prefix, *plen) == 0;
}

/* Copies data[0..len) up to the first ':' into out (NUL-terminated). */
static void name_until_colon(const char *data, size_t len, char *out, size_t cap)
{
    const char *colon = memchr(data, ':', len);
    size_t n = colon ? (size_t)(colon - data) : len;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, data, n);
    out[n] = 0;
}

static int reply(const char *prefix, const char *what)
{
    char b[512];
    int n = snprintf(b, sizeof b, "%s%s", prefix, what);
    if (n < 0)
        return -1;
    return gw_send_to_current_client(b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1, 0);
}

static int on_message(const char *client_id, const char *data, size_t len)
{
    size_t p;
    char name[256];
    int r;
    if (starts(data, len, "echo:", &p))
        return gw_send_to_current_client(data, len, 0);
    if (starts(data, len, "all:", &p))
        return gw_send_to_all(data, len, NULL, 0, NULL, 0, 0);
    if (starts(data, len, "join:", &p)) {
        /* The group is the whole rest, as in Events.php (substr). */
        snprintf(name, sizeof name, "%.*s", (int)(len - p), data + p);
        if ((r = gw_join_group(client_id, name)) < 0)
            return r;
        return reply("joined:", name);
    }
    if (starts(data, len, "group:", &p)) {
        name_until_colon(data + p, len - p, name, sizeof name);
        const char *groups[] = {name};
        return gw_send_to_group(groups, 1, data, len, NULL, 0, 0);
    }
    if (starts(data, len, "uid:", &p)) {
        snprintf(name, sizeof name, "%.*s", (int)(len - p), data + p);
        if ((r = gw_bind_uid(client_id, name)) < 0)
            return r;
        gw_session_set_str("uid", name);
        return reply("bound:", name);
    }
    if (starts(data, len, "touid:", &p)) {
        name_until_colon(data + p, len - p, name, sizeof name);
        const char *uids[] = {name};
        return gw_send_to_uid(uids, 1, data, len, 0);
    }
    if (len == 5 && memcmp(data, "count", 5) == 0) {
        int64_t n = gw_get_all_client_count();
        if (n < 0)
            return (int)n;
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)n);
        return reply("count:", num);
    }
    return 0;
}

static const struct gw_app echo_app = {
    .api_version = GW_API_VERSION,
    .on_message = on_message,
};

const struct gw_app *gw_app(void) { return &echo_app; }
