/* libFuzzer harness for the lottery's message decoding (apps/lottery/proto.c
 * and req.c): every message a phone, screen or admin page sends.
 *
 * The input is one message. It is decoded as lottery.c's on_message does
 * (json_loadb with JSON_REJECT_DUPLICATES, an object with a "type" and a
 * "rid"), then every field check the handlers use runs on it: the sign-in
 * fields (empNo trimmed and checked, name as text), a bullet comment's text
 * (UTF-8 length, trim, text check, then json_pack as phone.c does), the
 * admin's integers and texts, an import's rows, a token. Every reply or
 * push the checks produce (gw_send_* is stubbed here) must be valid JSON.
 * Invariants: a text that passes is valid UTF-8 within its bounds, each
 * normalised import row passes the row checks again.
 * Built with proto.c and req.c, jansson; the gw_* calls req.c makes are
 * this file's stubs. */
#include "gw_api.h"
#include "proto.h"
#include "req.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static void check_json(const void *msg, size_t len)
{
    json_error_t je;
    json_t *j = json_loadb(msg, len, 0, &je);
    REQUIRE(json_is_object(j));
    json_decref(j);
}

int gw_send_to_current_client(const void *msg, size_t len, unsigned flags)
{
    (void)flags;
    check_json(msg, len);
    return 0;
}

int gw_send_to_group(const char *const *groups, size_t n, const void *msg, size_t len, const char *const *excl,
                     size_t n_excl, unsigned flags)
{
    (void)groups, (void)n, (void)excl, (void)n_excl, (void)flags;
    check_json(msg, len);
    return 0;
}

void gw_log(int level, const char *fmt, ...)
{
    (void)level, (void)fmt;
}

/* A signed-in phone's session: role and name from the previous hello. */
const msgpack_object *gw_session_get(const char *key)
{
    static msgpack_object v;
    const char *s = strcmp(key, "role") == 0 ? "phone" : strcmp(key, "empNo") == 0 ? "E001" : "张三";
    v.type = MSGPACK_OBJECT_STR;
    v.via.str.ptr = s;
    v.via.str.size = (uint32_t)strlen(s);
    return &v;
}

static void check_text(const char *s, size_t min, size_t max)
{
    REQUIRE(strlen(s) >= min && strlen(s) <= max);
    REQUIRE(proto_utf8_chars(s, strlen(s)) >= 0);
    REQUIRE(proto_text_ok(s, min, max));
}

static void fields(const struct req *q)
{
    char emp[PROTO_MAX_EMP + 1], name[PROTO_MAX_NAME + 1], text[256], reason[PROTO_MAX_REASON + 1];
    long long n;

    /* phone hello / sign-in */
    const char *e0 = req_str(q, "empNo");
    if (e0 && proto_trim(e0, emp, sizeof emp) == 0 && proto_emp_no_ok(emp))
        REQUIRE(strlen(emp) >= 1 && strlen(emp) <= PROTO_MAX_EMP);
    if (req_text(q, "name", 1, PROTO_MAX_NAME, name, sizeof name) == 0)
        check_text(name, 1, PROTO_MAX_NAME);

    /* a bullet comment, as phone.c checks it */
    const char *t0 = req_str(q, "text");
    if (t0) {
        size_t len0 = strlen(t0);
        long chars = proto_utf8_chars(t0, len0);
        REQUIRE(chars >= -1 && chars <= (long)len0);
        if (chars <= PROTO_MAX_DANMAKU_CHARS && len0 < sizeof text && proto_trim(t0, text, sizeof text) == 0 &&
            proto_text_ok(text, 1, sizeof text - 1)) {
            json_t *d = json_pack("{s:s,s:s}", "id", "w0-1", "text", text);
            REQUIRE(d); /* proto_text_ok passed: jansson must take it */
            req_push("danmaku", d, GROUP_SCREENS, GROUP_ADMINS, NULL);
            json_decref(d);
        }
    }

    /* admin fields */
    if (req_int(q, "id", 1, (long long)1 << 53, &n) == 0)
        REQUIRE(n >= 1 && n <= (long long)1 << 53);
    if (req_int(q, "count", 1, 10000, &n) == 0)
        REQUIRE(n >= 1 && n <= 10000);
    if (req_text(q, "reason", 1, PROTO_MAX_REASON, reason, sizeof reason) == 0)
        check_text(reason, 1, PROTO_MAX_REASON);
    const char *tok = req_str(q, "token");
    if (tok && proto_token_ok(tok))
        REQUIRE(strlen(tok) >= 1 && strlen(tok) <= PROTO_MAX_TOKEN);

    /* an import */
    char err[256];
    err[0] = '\0';
    json_t *rows = proto_check_rows(json_object_get(q->msg, "rows"), err, sizeof err);
    if (!rows) {
        REQUIRE(err[0] != '\0');
    } else {
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row) {
            REQUIRE(proto_emp_no_ok(json_string_value(json_object_get(row, "empNo"))));
            check_text(json_string_value(json_object_get(row, "name")), 1, PROTO_MAX_NAME);
            check_text(json_string_value(json_object_get(row, "dept")), 0, PROTO_MAX_DEPT);
        }
        char err2[256];
        json_t *again = proto_check_rows(rows, err2, sizeof err2);
        REQUIRE(again && json_equal(again, rows));
        json_decref(again);
        json_decref(rows);
    }

    /* the envelopes, with the message as the result */
    req_reply(q->rid, q->type, q->msg, 1);
    req_push_all(q->type ? q->type : "x", q->msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > PROTO_MAX_ADMIN_MSG)
        return 0;
    char *in = malloc(size ? size : 1);
    REQUIRE(in);
    memcpy(in, data, size);
    json_error_t je;
    struct req q = {.client_id = "7f0000010fa000000001"};
    q.msg = json_loadb(in, size, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(q.msg)) {
        req_fail(NULL, NULL, "bad_request", "a JSON object is needed");
        json_decref(q.msg);
        free(in);
        return 0;
    }
    q.type = req_str(&q, "type");
    const char *rid = req_str(&q, "rid");
    if (rid && proto_rid_ok(rid))
        q.rid = rid;
    fields(&q);
    req_fail(q.rid, q.type, "bad_request", "x");
    json_decref(q.msg);
    free(in);
    return 0;
}
