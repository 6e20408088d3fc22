/* gwctl: push to and inspect the clients of a running deployment from a
 * shell, through the C GatewayClient (gwclient.h) — what PHP users do with a
 * ten-line GatewayClient script.
 *
 * Every run first fetches the gateway list from the registers, also for
 * per-client commands that do not need it: that is the one step where a
 * wrong secretKey is reported (a gateway answers a bad key by closing
 * silently, which a push cannot tell from success).
 *
 * Exit status (the same with and without --json):
 *   0  done
 *   1  internal failure (out of memory)
 *   2  usage: unknown command, wrong arguments, malformed client_id or registerAddress
 *   3  no register reachable, or every register refused (wrong secretKey?)
 *   4  a gateway did not answer or refused the connection (output is partial)
 *   5  the client is not online (send-to-client, kick, session) */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clientid.h"
#include "gwclient.h"
#include "log.h"
#include "version.h"

enum { EX_OK = 0, EX_FAIL = 1, EX_USAGE = 2, EX_REGISTER = 3, EX_GATEWAY = 4, EX_OFFLINE = 5 };

static const char usage_text[] =
    "usage: gwctl [--registerAddress=IP:PORT[,IP:PORT...]] [--secretKey=KEY] [--json] [--raw] COMMAND [ARGS]\n"
    "       gwctl --version\n"
    "\n"
    "  send-to-all MSG            MSG to every client of every gateway\n"
    "  send-to-client ID MSG      MSG to one client (fails with 5 if it is not online)\n"
    "  send-to-uid UID MSG        MSG to every client bound to UID\n"
    "  send-to-group GROUP MSG    MSG to every member of GROUP\n"
    "  kick ID [MSG]              send MSG (if given), then close the client\n"
    "  online [ID]                list the clients online (client_ids and uids), or say whether ID is\n"
    "  count                      number of clients online on every gateway\n"
    "  list-groups                every group, with its member count\n"
    "  session ID                 the client's session (a PHP array, shown as JSON)\n"
    "\n"
    "  --registerAddress  default 127.0.0.1:1236; the first register that answers is used\n"
    "  --secretKey        the deployment's secretKey (default: none)\n"
    "  --json             one JSON object on stdout, for scripts\n"
    "  --raw              send MSG without WebSocket framing (GatewayWorker's $raw)\n"
    "\n"
    "exit status: 0 ok, 1 internal error, 2 usage or bad client_id, 3 no register reachable\n"
    "(or wrong secretKey), 4 a gateway did not answer (output partial), 5 client not online\n";

struct run {
    int json;
    unsigned flags;
    json_t *out;     /* the result object (printed as-is with --json) */
    json_t *missing; /* "ip:port" of every gateway that failed a query or push */
};

/* Says why on stderr and, for --json, in the result's "error" (the last
 * one wins: it is the one that decided the exit status). */
__attribute__((format(printf, 2, 3))) static void report(struct run *x, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "gwctl: %s\n", msg);
    json_object_set_new(x->out, "error", json_string(msg));
}

/* ---- PHP arrays as JSON ---- */

/* JSON strings must be UTF-8; PHP strings are bytes. Invalid bytes become
 * U+FFFD so one odd session value does not make the whole output fail. */
static json_t *bytes_json(const char *p, size_t n)
{
    json_t *s = json_stringn(p, n);
    if (s)
        return s;
    char *b = malloc(n * 3 + 1);
    size_t k = 0;
    for (size_t i = 0; b && i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x80) {
            b[k++] = (char)c;
        } else {
            memcpy(b + k, "\xef\xbf\xbd", 3);
            k += 3;
        }
    }
    s = b ? json_stringn(b, k) : NULL;
    free(b);
    return s;
}

static int is_list(const msgpack_object *m)
{
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type != MSGPACK_OBJECT_POSITIVE_INTEGER || k->via.u64 != i)
            return 0;
    }
    return m->via.map.size > 0;
}

static json_t *key_string(const msgpack_object *k, char *tmp, size_t cap)
{
    if (k->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        snprintf(tmp, cap, "%llu", (unsigned long long)k->via.u64);
    else if (k->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        snprintf(tmp, cap, "%lld", (long long)k->via.i64);
    else if (k->type == MSGPACK_OBJECT_STR)
        return bytes_json(k->via.str.ptr, k->via.str.size);
    else
        snprintf(tmp, cap, "?");
    return json_string(tmp);
}

/* As PHP's json_encode: a list (keys 0..n-1 in order) becomes an array,
 * any other array an object — except the empty array, shown as {} because
 * here it is nearly always an empty session or result map. */
static json_t *to_json(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return o->via.u64 <= INT64_MAX ? json_integer((json_int_t)o->via.u64) : json_real((double)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer(o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR:
        return bytes_json(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN:
        return bytes_json(o->via.bin.ptr, o->via.bin.size);
    case MSGPACK_OBJECT_ARRAY: {
        json_t *a = json_array();
        for (uint32_t i = 0; a && i < o->via.array.size; i++)
            json_array_append_new(a, to_json(&o->via.array.ptr[i]));
        return a;
    }
    case MSGPACK_OBJECT_MAP: {
        if (is_list(o)) {
            json_t *a = json_array();
            for (uint32_t i = 0; a && i < o->via.map.size; i++)
                json_array_append_new(a, to_json(&o->via.map.ptr[i].val));
            return a;
        }
        json_t *m = json_object();
        for (uint32_t i = 0; m && i < o->via.map.size; i++) {
            char tmp[32];
            json_t *k = key_string(&o->via.map.ptr[i].key, tmp, sizeof tmp);
            if (k)
                json_object_set_new(m, json_string_value(k), to_json(&o->via.map.ptr[i].val));
            json_decref(k);
        }
        return m;
    }
    default:
        return json_null();
    }
}

/* The values of a result MAP (client_id -> client_id, uid -> uid, ...) as a JSON array. */
static json_t *map_values(const msgpack_object *m)
{
    json_t *a = json_array();
    for (uint32_t i = 0; a && m->type == MSGPACK_OBJECT_MAP && i < m->via.map.size; i++)
        json_array_append_new(a, to_json(&m->via.map.ptr[i].val));
    return a;
}

/* ---- bookkeeping of gateways that failed ---- */

static void note_missing(struct run *x, const struct gw_query_info *q)
{
    for (int i = 0; i < q->n_missing && i < 16; i++) {
        size_t k;
        json_t *v;
        int seen = 0;
        json_array_foreach(x->missing, k, v) seen |= strcmp(json_string_value(v), q->missing[i]) == 0;
        if (!seen)
            json_array_append_new(x->missing, json_string(q->missing[i]));
    }
}

/* After a query: remembers the gateways that did not answer. */
static void queried(struct run *x) { note_missing(x, gw_last_query()); }

/* A push's outcome as exit status: r is the API's return value. */
static int pushed(struct run *x, int r)
{
    const struct gw_query_info *p = gwc_last_pushes();
    note_missing(x, p);
    json_object_set_new(x->out, "sent", json_integer(p->answered));
    if (r == -ENOMEM)
        return EX_FAIL;
    if (r == -EINVAL) {
        report(x, "invalid argument (a group or uid must not be empty, and must be UTF-8)");
        return EX_USAGE;
    }
    if (p->asked == 0) {
        report(x, "the register lists no gateway; nothing was sent");
        return EX_GATEWAY;
    }
    return r < 0 || p->n_missing ? EX_GATEWAY : EX_OK;
}

/* ---- commands ---- */

/* 1 online, 0 not, -1 its gateway did not answer. */
static int online_check(struct run *x, const char *id)
{
    int on = gw_is_online(id);
    queried(x);
    if (gw_last_query()->n_missing)
        return -1;
    json_object_set_new(x->out, "online", json_boolean(on == 1));
    if (on != 1)
        report(x, "client %s is not online", id);
    return on == 1;
}

static int cmd_send_to_all(struct run *x, char **a)
{
    return pushed(x, gw_send_to_all(a[0], strlen(a[0]), NULL, 0, NULL, 0, x->flags));
}

static int cmd_send_to_client(struct run *x, char **a)
{
    int on = online_check(x, a[0]);
    if (on <= 0)
        return on < 0 ? EX_GATEWAY : EX_OFFLINE;
    return pushed(x, gw_send_to_client(a[0], a[1], strlen(a[1]), x->flags));
}

static int cmd_send_to_uid(struct run *x, char **a)
{
    const char *uids[] = {a[0]};
    return pushed(x, gw_send_to_uid(uids, 1, a[1], strlen(a[1]), x->flags));
}

static int cmd_send_to_group(struct run *x, char **a)
{
    const char *groups[] = {a[0]};
    return pushed(x, gw_send_to_group(groups, 1, a[1], strlen(a[1]), NULL, 0, x->flags));
}

static int cmd_kick(struct run *x, char **a)
{
    int on = online_check(x, a[0]);
    if (on <= 0)
        return on < 0 ? EX_GATEWAY : EX_OFFLINE;
    return pushed(x, gw_close_client(a[0], a[1], a[1] ? strlen(a[1]) : 0));
}

static int cmd_online(struct run *x, char **a)
{
    if (a[0]) {
        json_object_set_new(x->out, "client_id", json_string(a[0]));
        int on = online_check(x, a[0]);
        return on < 0 ? EX_GATEWAY : EX_OK;
    }
    struct gw_result ids = {0}, uids = {0};
    int r = gw_get_all_client_id_list(&ids);
    queried(x);
    if (r == 0) {
        r = gw_get_all_uid_list(&uids);
        queried(x);
    }
    if (r == 0) {
        json_object_set_new(x->out, "count", json_integer(ids.value.via.map.size));
        json_object_set_new(x->out, "client_ids", map_values(&ids.value));
        json_object_set_new(x->out, "uids", map_values(&uids.value));
    }
    gw_result_free(&ids);
    gw_result_free(&uids);
    return r < 0 ? EX_FAIL : EX_OK;
}

static int cmd_count(struct run *x, char **a)
{
    (void)a;
    int64_t n = gw_get_all_client_count();
    queried(x);
    if (n < 0)
        return EX_FAIL;
    json_object_set_new(x->out, "count", json_integer(n));
    return EX_OK;
}

static int cmd_list_groups(struct run *x, char **a)
{
    (void)a;
    struct gw_result g = {0};
    int r = gw_get_all_group_id_list(&g);
    queried(x);
    json_t *names = json_array(), *counts = json_object();
    for (uint32_t i = 0; r == 0 && i < g.value.via.map.size; i++) {
        const msgpack_object *v = &g.value.via.map.ptr[i].val;
        if (v->type != MSGPACK_OBJECT_STR)
            continue;
        char name[1024];
        snprintf(name, sizeof name, "%.*s", (int)v->via.str.size, v->via.str.ptr);
        int64_t n = gw_get_client_count_by_group(name);
        queried(x);
        json_t *s = bytes_json(v->via.str.ptr, v->via.str.size);
        if (s) {
            json_object_set_new(counts, json_string_value(s), json_integer(n < 0 ? 0 : n));
            json_array_append_new(names, s);
        }
    }
    json_object_set_new(x->out, "groups", names);
    json_object_set_new(x->out, "counts", counts);
    gw_result_free(&g);
    return r < 0 ? EX_FAIL : EX_OK;
}

static int cmd_session(struct run *x, char **a)
{
    struct gw_result s = {0};
    int r = gw_get_session(a[0], &s);
    queried(x);
    json_object_set_new(x->out, "client_id", json_string(a[0]));
    int code = r < 0 ? EX_FAIL : EX_OK;
    if (r == 0 && !gw_last_query()->n_missing) {
        /* NIL = not connected (§3.8: the gateway answers N;). */
        int on = s.value.type != MSGPACK_OBJECT_NIL;
        json_object_set_new(x->out, "online", json_boolean(on));
        json_object_set_new(x->out, "session", to_json(&s.value));
        if (!on) {
            report(x, "client %s is not online", a[0]);
            code = EX_OFFLINE;
        }
    }
    gw_result_free(&s);
    return code;
}

struct command {
    const char *name;
    int min_args, max_args;
    int client_arg; /* index of a client_id argument, or -1 */
    int (*run)(struct run *x, char **args);
};

static const struct command commands[] = {
    {"send-to-all", 1, 1, -1, cmd_send_to_all},   {"send-to-client", 2, 2, 0, cmd_send_to_client},
    {"send-to-uid", 2, 2, -1, cmd_send_to_uid},   {"send-to-group", 2, 2, -1, cmd_send_to_group},
    {"kick", 1, 2, 0, cmd_kick},                  {"online", 0, 1, 0, cmd_online},
    {"count", 0, 0, -1, cmd_count},               {"list-groups", 0, 0, -1, cmd_list_groups},
    {"session", 1, 1, 0, cmd_session},
};

/* ---- text output ---- */

static void print_text(const struct command *c, const json_t *o)
{
    const char *n = c->name;
    json_t *v;
    size_t i;
    if (strncmp(n, "send-to-", 8) == 0 || strcmp(n, "kick") == 0) {
        if (json_object_get(o, "sent"))
            printf("sent to %lld gateway(s)\n", (long long)json_integer_value(json_object_get(o, "sent")));
    } else if (strcmp(n, "count") == 0) {
        if (json_object_get(o, "count"))
            printf("%lld\n", (long long)json_integer_value(json_object_get(o, "count")));
    } else if (strcmp(n, "online") == 0) {
        if (json_object_get(o, "client_id")) {
            if (json_object_get(o, "online"))
                printf("%s\n", json_is_true(json_object_get(o, "online")) ? "online" : "offline");
            return;
        }
        printf("%lld client(s) online\n", (long long)json_integer_value(json_object_get(o, "count")));
        json_array_foreach(json_object_get(o, "client_ids"), i, v) printf("%s\n", json_string_value(v));
        if (json_array_size(json_object_get(o, "uids"))) {
            printf("uids:");
            json_array_foreach(json_object_get(o, "uids"), i, v) printf(" %s", json_string_value(v));
            printf("\n");
        }
    } else if (strcmp(n, "list-groups") == 0) {
        json_t *counts = json_object_get(o, "counts");
        json_array_foreach(json_object_get(o, "groups"), i, v)
            printf("%s\t%lld\n", json_string_value(v),
                   (long long)json_integer_value(json_object_get(counts, json_string_value(v))));
    } else if (strcmp(n, "session") == 0 && json_is_true(json_object_get(o, "online"))) {
        char *s = json_dumps(json_object_get(o, "session"), JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_SORT_KEYS);
        if (s)
            printf("%s\n", s);
        free(s);
    }
}

/* ---- main ---- */

static int usage(const char *why)
{
    if (why)
        fprintf(stderr, "gwctl: %s\n\n", why);
    fputs(usage_text, why ? stderr : stdout);
    return why ? EX_USAGE : EX_OK;
}

static int run_command(const struct command *c, char **args, struct run *x, const char *regs, const char *key)
{
    char err[512];
    if (gwc_init(regs, key, err, sizeof err) < 0) {
        report(x, "%s", err);
        return EX_USAGE;
    }
    int code;
    int n = gwc_refresh();
    if (n < 0) {
        report(x, "%s: %s", n == -EACCES ? "the register refused the connection" : "no register reachable",
               gwc_error());
        code = EX_REGISTER;
    } else {
        json_object_set_new(x->out, "gateways", json_integer(n));
        gwc_reset_pushes();
        code = c->run(x, args);
        if (json_array_size(x->missing)) {
            char *m = json_dumps(x->missing, JSON_COMPACT);
            report(x, "gateway(s) %s did not answer within 5 s or refused the connection%s", m ? m : "?",
                   strncmp(c->name, "send-to-", 8) ? "; the result is partial" : "");
            free(m);
            if (code == EX_OK)
                code = EX_GATEWAY;
        }
    }
    gwc_free();
    return code;
}

int main(int argc, char **argv)
{
    const char *regs = "127.0.0.1:1236", *key = "";
    struct run x = {0};
    char *words[8];
    int nw = 0, opts_done = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!opts_done && strcmp(a, "--") == 0)
            opts_done = 1;
        else if (!opts_done && strncmp(a, "--registerAddress=", 18) == 0)
            regs = a + 18;
        else if (!opts_done && strncmp(a, "--secretKey=", 12) == 0)
            key = a + 12;
        else if (!opts_done && strcmp(a, "--json") == 0)
            x.json = 1;
        else if (!opts_done && strcmp(a, "--raw") == 0)
            x.flags |= GW_RAW;
        else if (!opts_done && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0))
            return usage(NULL);
        else if (!opts_done && strcmp(a, "--version") == 0) {
            gw_print_version(stdout, "gwctl");
            return 0;
        }
        else if (!opts_done && a[0] == '-' && a[1] == '-')
            return usage("unknown option (put -- before a message that starts with --)");
        else if (nw < 8)
            words[nw++] = a;
        else
            return usage("too many arguments");
    }
    if (nw == 0)
        return usage("no command given");
    const struct command *c = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(words[0], commands[i].name) == 0)
            c = &commands[i];
    if (!c)
        return usage("unknown command");
    int nargs = nw - 1;
    if (nargs < c->min_args || nargs > c->max_args)
        return usage("wrong number of arguments");
    char *args[3] = {NULL, NULL, NULL};
    for (int i = 0; i < nargs; i++)
        args[i] = words[1 + i];
    if (c->client_arg >= 0 && args[c->client_arg]) {
        const char *id = args[c->client_arg];
        uint32_t ip, conn;
        uint16_t port;
        if (clientid_decode(id, strlen(id), &ip, &port, &conn) < 0) {
            fprintf(stderr, "gwctl: bad client_id '%s': expected 20 hex digits\n", id);
            return EX_USAGE;
        }
    }

    /* Library warnings would repeat what gwctl reports itself. */
    log_init("gwctl", LOG_ERROR);
    x.out = json_object();
    x.missing = json_array();
    if (!x.out || !x.missing)
        return EX_FAIL;
    json_object_set_new(x.out, "command", json_string(c->name));
    int code = run_command(c, args, &x, regs, key);
    json_object_set(x.out, "missing", x.missing);
    json_object_set_new(x.out, "exit", json_integer(code));
    if (x.json) {
        char *s = json_dumps(x.out, JSON_COMPACT);
        if (s)
            printf("%s\n", s);
        free(s);
    } else if (code == EX_OK || code == EX_GATEWAY || code == EX_OFFLINE) {
        print_text(c, x.out);
    }
    json_decref(x.out);
    json_decref(x.missing);
    return code;
}
