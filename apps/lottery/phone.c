#include "phone.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_api.h"
#include "proto.h"
#include "ratelimit.h"

static struct ratelimit *danmaku_limit;
static char worker_tag[64];
static unsigned long danmaku_seq;

int phone_init(const char *tag)
{
    snprintf(worker_tag, sizeof worker_tag, "%s", tag);
    danmaku_limit = ratelimit_new(3, 2); /* a burst of 3, then one per 2 s */
    return danmaku_limit ? 0 : -1;
}

void phone_done(void)
{
    ratelimit_free(danmaku_limit);
    danmaku_limit = NULL;
}

void phone_closed(const char *client_id) { ratelimit_forget(danmaku_limit, client_id); }

void phone_bind(const char *client_id, const json_t *me)
{
    const char *emp = json_string_value(json_object_get(me, "empNo"));
    const char *name = json_string_value(json_object_get(me, "name"));
    char uid[8 + PROTO_MAX_EMP];
    if (!emp || !name)
        return;
    snprintf(uid, sizeof uid, "emp:%s", emp);
    gw_session_set_str("empNo", emp);
    gw_session_set_str("name", name);
    gw_bind_uid(client_id, uid);
}

void phone_signin(struct req *q)
{
    char emp[PROTO_MAX_EMP + 1], name[PROTO_MAX_NAME + 1];
    const char *e0 = req_str(q, "empNo");
    if (!e0 || proto_trim(e0, emp, sizeof emp) < 0 || !proto_emp_no_ok(emp)) {
        req_fail(q->rid, q->type, "bad_request", "empNo: 1 to 32 characters of A-Z a-z 0-9 _ . -");
        return;
    }
    if (req_text(q, "name", 1, PROTO_MAX_NAME, name, sizeof name) < 0)
        return;
    struct store_err e = {0};
    json_t *ev = store_event(q->store, &e);
    if (!ev) {
        req_fail_store(q->rid, q->type, &e);
        return;
    }
    int open_signup = json_is_true(json_object_get(ev, "openSignup"));
    json_decref(ev);
    json_t *r = store_signin(q->store, emp, name, open_signup, &e);
    if (!r) {
        req_fail_store(q->rid, q->type, &e);
        return;
    }
    phone_bind(q->client_id, json_object_get(r, "me"));
    req_reply(q->rid, q->type, r, 0);
    json_decref(r);
}

void phone_danmaku(struct req *q)
{
    char emp[PROTO_MAX_EMP + 1], name[PROTO_MAX_NAME + 1], text[PROTO_MAX_DANMAKU_CHARS * 4 + 1];
    if (req_session_str("empNo", emp, sizeof emp) < 0 || req_session_str("name", name, sizeof name) < 0) {
        req_fail(q->rid, q->type, "not_signed_in", "sign in first");
        return;
    }
    const char *t0 = req_str(q, "text");
    if (!t0) {
        req_fail(q->rid, q->type, "bad_request", "text: a string is needed");
        return;
    }
    size_t len0 = strlen(t0);
    long chars = proto_utf8_chars(t0, len0);
    if (chars > PROTO_MAX_DANMAKU_CHARS || len0 >= sizeof text) {
        req_fail(q->rid, q->type, "too_long", "at most 40 characters");
        return;
    }
    if (proto_trim(t0, text, sizeof text) < 0 || !proto_text_ok(text, 1, sizeof text - 1)) {
        req_fail(q->rid, q->type, "bad_request", "text: 1 to 40 characters of text");
        return;
    }
    struct store_err e = {0};
    json_t *ev = store_event(q->store, &e);
    if (!ev) {
        req_fail_store(q->rid, q->type, &e);
        return;
    }
    int muted = json_is_true(json_object_get(ev, "danmakuMuted"));
    json_decref(ev);
    if (muted) {
        req_fail(q->rid, q->type, "muted", "bullet comments are switched off");
        return;
    }
    if (!ratelimit_take(danmaku_limit, q->client_id, time(NULL))) {
        req_fail(q->rid, q->type, "rate_limited", "too many bullet comments: wait a moment");
        return;
    }
    char id[96];
    snprintf(id, sizeof id, "%s-%lu", worker_tag, ++danmaku_seq);
    json_t *d = json_pack("{s:s,s:s,s:s,s:s}", "id", id, "empNo", emp, "name", name, "text", text);
    if (!d) {
        req_fail(q->rid, q->type, "bad_request", "text is not valid UTF-8");
        return;
    }
    req_push("danmaku", d, GROUP_SCREENS, GROUP_ADMINS, NULL);
    json_decref(d);
    json_t *r = json_pack("{s:s}", "id", id);
    req_reply(q->rid, q->type, r, 0);
    json_decref(r);
}

