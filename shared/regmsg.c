#include "regmsg.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int regmsg_next_line(const uint8_t *buf, size_t len, size_t max_line, size_t *line_len, size_t *used)
{
    size_t scan = len < max_line ? len : max_line;
    const uint8_t *nl = memchr(buf, '\n', scan);
    if (!nl)
        return len >= max_line ? REGMSG_ERROR : REGMSG_NEED_MORE;
    size_t n = (size_t)(nl - buf);
    *used = n + 1;
    while (n > 0 && (buf[n - 1] == '\r' || buf[n - 1] == '\n'))
        n--;
    *line_len = n;
    return REGMSG_OK;
}

/* PHP's empty() on a decoded JSON value. */
static int php_empty(const json_t *v)
{
    if (!v || json_is_null(v) || json_is_false(v))
        return 1;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        return n == 0 || (n == 1 && s[0] == '0');
    }
    if (json_is_integer(v))
        return json_integer_value(v) == 0;
    if (json_is_real(v))
        return json_real_value(v) == 0.0;
    if (json_is_array(v))
        return json_array_size(v) == 0;
    if (json_is_object(v))
        return json_object_size(v) == 0;
    return 0;
}

static char *dup_json_string(const json_t *v, size_t *len)
{
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    size_t n = json_is_string(v) ? json_string_length(v) : 0;
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    if (len)
        *len = n;
    return d;
}

/* A string value usable as a C string: a JSON string without "\u0000"
 * (an address holding NUL would otherwise be silently cut short). */
static int is_c_string(const json_t *v)
{
    return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v);
}

static int take_addresses(const json_t *v, struct regmsg *m)
{
    size_t n = json_is_array(v) ? json_array_size(v) : json_is_object(v) ? json_object_size(v) : 0;
    if (!json_is_array(v) && !json_is_object(v))
        return 0;
    m->addresses = calloc(n ? n : 1, sizeof *m->addresses);
    if (!m->addresses)
        return -1;
    m->addresses_ok = 1;
    size_t i;
    const char *k;
    json_t *e;
    if (json_is_array(v)) {
        json_array_foreach(v, i, e)
        {
            if (!is_c_string(e)) {
                m->addresses_ok = 0;
                continue;
            }
            if (!(m->addresses[m->n_addresses++] = dup_json_string(e, NULL)))
                return -1;
        }
    } else {
        json_object_foreach((json_t *)v, k, e)
        {
            if (!is_c_string(e)) {
                m->addresses_ok = 0;
                continue;
            }
            if (!(m->addresses[m->n_addresses++] = dup_json_string(e, NULL)))
                return -1;
        }
    }
    return 0;
}

int regmsg_parse(const char *line, size_t len, struct regmsg *m)
{
    memset(m, 0, sizeof *m);
    m->event = REGMSG_BAD;
    json_error_t jerr;
    json_t *root = json_loadb(line, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    int rc = 0;
    if (!root || !json_is_object(root))
        goto done;
    json_t *ev = json_object_get(root, "event");
    if (php_empty(ev))
        goto done;
    const char *name = json_is_string(ev) ? json_string_value(ev) : "";
    size_t nlen = json_is_string(ev) ? json_string_length(ev) : 0;
    m->event = REGMSG_UNKNOWN;
#define IS(lit) (nlen == sizeof(lit) - 1 && memcmp(name, lit, nlen) == 0)
    if (IS("gateway_connect"))
        m->event = REGMSG_GATEWAY_CONNECT;
    else if (IS("worker_connect"))
        m->event = REGMSG_WORKER_CONNECT;
    else if (IS("ping"))
        m->event = REGMSG_PING;
    else if (IS("broadcast_addresses"))
        m->event = REGMSG_BROADCAST_ADDRESSES;
#undef IS
    if (m->event == REGMSG_GATEWAY_CONNECT || m->event == REGMSG_WORKER_CONNECT) {
        m->secret_key = dup_json_string(json_object_get(root, "secret_key"), &m->secret_len);
        json_t *addr = json_object_get(root, "address");
        m->address = dup_json_string(is_c_string(addr) ? addr : NULL, NULL);
        if (!m->secret_key || !m->address)
            rc = -1;
    } else if (m->event == REGMSG_BROADCAST_ADDRESSES) {
        rc = take_addresses(json_object_get(root, "addresses"), m);
    }
done:
    json_decref(root);
    if (rc < 0)
        regmsg_free(m);
    return rc;
}

void regmsg_free(struct regmsg *m)
{
    free(m->address);
    free(m->secret_key);
    for (size_t i = 0; i < m->n_addresses; i++)
        free(m->addresses[i]);
    free(m->addresses);
    memset(m, 0, sizeof *m);
}

/* Appends json (stolen) as one compact line. */
static int emit(struct buf *out, json_t *json)
{
    if (!json)
        return -1;
    char *s = json_dumps(json, JSON_COMPACT | JSON_ESCAPE_SLASH);
    json_decref(json);
    if (!s)
        return -1;
    int rc = buf_append_str(out, s) < 0 || buf_append(out, "\n", 1) < 0 ? -1 : 0;
    free(s);
    return rc;
}

int regmsg_build_gateway_connect(struct buf *out, const char *address, const char *secret_key)
{
    return emit(out, json_pack("{s:s, s:s, s:s}", "event", "gateway_connect", "address", address, "secret_key",
                               secret_key));
}

int regmsg_build_worker_connect(struct buf *out, const char *secret_key)
{
    return emit(out, json_pack("{s:s, s:s}", "event", "worker_connect", "secret_key", secret_key));
}

int regmsg_build_ping(struct buf *out) { return emit(out, json_pack("{s:s}", "event", "ping")); }

int regmsg_build_broadcast(struct buf *out, const char *const *addresses, size_t n)
{
    json_t *list = json_array();
    if (!list)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(list, json_string(addresses[i])) < 0) {
            json_decref(list);
            return -1;
        }
    return emit(out, json_pack("{s:s, s:o}", "event", "broadcast_addresses", "addresses", list));
}

int regmsg_build_bad_request(struct buf *out, const char *peer_ip, const char *line, size_t len)
{
    if (buf_printf(out, "Bad request for Register service. Request info(IP:%s, Request Buffer:", peer_ip) < 0 ||
        buf_append(out, line, len) < 0 ||
        buf_append_str(out, "). See http://doc2.workerman.net/register-auth-timeout.html\n") < 0)
        return -1;
    return 0;
}
