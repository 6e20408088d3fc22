#include "admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_api.h"
#include "proto.h"

/* After a successful admin command: answer, then push what changed. */
static void done(struct req *q, json_t *r, int replayed, const struct store_err *e)
{
    if (!r) {
        req_fail_store(q->rid, q->type, e);
        return;
    }
    req_reply(q->rid, q->type, r, replayed);
    json_decref(r);
}

static void push_prizes(struct store *s)
{
    struct store_err e = {0};
    json_t *p = store_prizes(s, &e);
    if (p)
        req_push_all("prizes", p);
    json_decref(p);
}

static void push_counts(struct store *s)
{
    struct store_err e = {0};
    json_t *c = store_signins_since(s, 0, 0, &e);
    if (!c)
        return;
    json_t *b = json_pack("{s:O,s:O}", "participants", json_object_get(c, "participants"), "signedIn",
                          json_object_get(c, "signedIn"));
    if (b)
        req_push("participants", b, GROUP_SCREENS, GROUP_ADMINS, NULL);
    json_decref(b);
    json_decref(c);
}

void admin_import(struct req *q)
{
    char err[256];
    const char *mode = req_str(q, "mode");
    if (!mode)
        mode = "merge";
    if (strcmp(mode, "merge") != 0 && strcmp(mode, "replace") != 0) {
        req_fail(q->rid, q->type, "bad_request", "mode: merge or replace");
        return;
    }
    json_t *rows = proto_check_rows(json_object_get(q->msg, "rows"), err, sizeof err);
    if (!rows) {
        req_fail(q->rid, q->type, "bad_request", err);
        return;
    }
    int replayed = 0;
    struct store_err e = {0};
    json_t *r = store_import(q->store, q->rid, rows, mode, &replayed, &e);
    json_decref(rows);
    int ok = r != NULL;
    done(q, r, replayed, &e);
    if (ok)
        push_counts(q->store);
}

void admin_prize_save(struct req *q)
{
    char name[PROTO_MAX_PRIZE_NAME + 1];
    long long id = 0, tier, qty;
    if (json_object_get(q->msg, "id") && req_int(q, "id", 1, (long long)1 << 53, &id) < 0)
        return;
    if (req_text(q, "name", 1, PROTO_MAX_PRIZE_NAME, name, sizeof name) < 0 ||
        req_int(q, "tier", 0, 99, &tier) < 0 || req_int(q, "quantity", 1, 10000, &qty) < 0)
        return;
    const json_t *ex = json_object_get(q->msg, "excludeWinners");
    if (ex && !json_is_boolean(ex)) {
        req_fail(q->rid, q->type, "bad_request", "excludeWinners: true or false");
        return;
    }
    int replayed = 0;
    struct store_err e = {0};
    json_t *r = store_prize_save(q->store, q->rid, id, name, (int)tier, (int)qty, json_is_true(ex), &replayed, &e);
    int ok = r != NULL;
    done(q, r, replayed, &e);
    if (ok)
        push_prizes(q->store);
}

void admin_prize_delete(struct req *q)
{
    long long id;
    if (req_int(q, "id", 1, (long long)1 << 53, &id) < 0)
        return;
    int replayed = 0;
    struct store_err e = {0};
    json_t *r = store_prize_delete(q->store, q->rid, id, &replayed, &e);
    int ok = r != NULL;
    done(q, r, replayed, &e);
    if (ok)
        push_prizes(q->store);
}

/* A command whose result holds a "draw" to push as `push_type`. */
static void answer_draw(struct req *q, json_t *r, int replayed, const struct store_err *e, const char *push_type)
{
    if (!r) {
        req_fail_store(q->rid, q->type, e);
        return;
    }
    req_reply(q->rid, q->type, r, replayed);
    const json_t *absent = json_object_get(r, "absent");
    if (absent)
        req_push_all("winner.absent", absent);
    req_push(push_type, r, GROUP_SCREENS, GROUP_ADMINS, NULL);
    /* Thousands of phones need neither the rolling names nor the pool
     * (2-3 KB each): they get the draw without its "sample". */
    json_t *lean = json_deep_copy(r);
    json_t *d = lean ? json_object_get(lean, "draw") : NULL;
    if (d)
        json_object_del(d, "sample");
    req_push(push_type, lean ? lean : r, GROUP_PHONES, NULL, NULL);
    json_decref(lean);
    json_decref(r);
    push_prizes(q->store);
}

void admin_draw_start(struct req *q)
{
    long long prize, count;
    if (req_int(q, "prizeId", 1, (long long)1 << 53, &prize) < 0 || req_int(q, "count", 1, 10000, &count) < 0)
        return;
    int replayed = 0;
    struct store_err e = {0};
    json_t *r = store_draw_start(q->store, q->rid, prize, (int)count, &replayed, &e);
    answer_draw(q, r, replayed, &e, "draw.started");
}

void admin_draw_stop(struct req *q)
{
    long long draw;
    if (req_int(q, "drawId", 1, (long long)1 << 53, &draw) < 0)
        return;
    int replayed = 0;
    struct store_err e = {0};
    json_t *r = store_draw_stop(q->store, q->rid, draw, &replayed, &e);
    answer_draw(q, r, replayed, &e, "draw.result");
}

void admin_draw_cancel(struct req *q)
{
    long long draw;
    char reason[PROTO_MAX_REASON + 1];
    if (req_int(q, "drawId", 1, (long long)1 << 53, &draw) < 0 ||
        req_text(q, "reason", 1, PROTO_MAX_REASON, reason, sizeof reason) < 0)
        return;
    int replayed = 0;
    struct store_err e = {0};
    json_t *r = store_draw_cancel(q->store, q->rid, draw, reason, &replayed, &e);
    if (r) {
        json_t *b = json_pack("{s:I,s:s}", "drawId", draw, "reason", reason);
        req_reply(q->rid, q->type, r, replayed);
        req_push_all("draw.cancelled", b);
        json_decref(b);
        json_decref(r);
        return;
    }
    req_fail_store(q->rid, q->type, &e);
}

void admin_draw_undo(struct req *q)
{
    char reason[PROTO_MAX_REASON + 1];
    if (req_text(q, "reason", 1, PROTO_MAX_REASON, reason, sizeof reason) < 0)
        return;
    int replayed = 0;
    struct store_err e = {0};
    json_t *r = store_draw_undo(q->store, q->rid, reason, &replayed, &e);
    if (!r) {
        req_fail_store(q->rid, q->type, &e);
        return;
    }
    req_reply(q->rid, q->type, r, replayed);
    req_push_all("draw.undone", r);
    json_decref(r);
    push_prizes(q->store);
}

void admin_winner_replace(struct req *q)
{
    long long prize;
    char emp[PROTO_MAX_EMP + 1], reason[PROTO_MAX_REASON + 1];
    const char *e0 = req_str(q, "empNo");
    if (req_int(q, "prizeId", 1, (long long)1 << 53, &prize) < 0)
        return;
    if (!e0 || proto_trim(e0, emp, sizeof emp) < 0 || !proto_emp_no_ok(emp)) {
        req_fail(q->rid, q->type, "bad_request", "empNo: 1 to 32 characters of A-Z a-z 0-9 _ . -");
        return;
    }
    if (req_text(q, "reason", 1, PROTO_MAX_REASON, reason, sizeof reason) < 0)
        return;
    int replayed = 0;
    struct store_err e = {0};
    json_t *r = store_winner_replace(q->store, q->rid, prize, emp, reason, &replayed, &e);
    answer_draw(q, r, replayed, &e, "draw.started");
}

void admin_event_set(struct req *q)
{
    json_t *patch = json_object();
    char title[PROTO_MAX_TITLE + 1];
    static const char *flags[] = {"openSignup", "danmakuMuted"};
    if (!patch)
        return;
    if (json_object_get(q->msg, "title")) {
        if (req_text(q, "title", 1, PROTO_MAX_TITLE, title, sizeof title) < 0)
            goto out;
        json_object_set_new(patch, "title", json_string(title));
    }
    for (int i = 0; i < 2; i++) {
        const json_t *v = json_object_get(q->msg, flags[i]);
        if (!v)
            continue;
        if (!json_is_boolean(v)) {
            char m[64];
            snprintf(m, sizeof m, "%s: true or false", flags[i]);
            req_fail(q->rid, q->type, "bad_request", m);
            goto out;
        }
        json_object_set(patch, flags[i], (json_t *)v);
    }
    if (json_object_size(patch) == 0) {
        req_fail(q->rid, q->type, "bad_request", "nothing to set: title, openSignup or danmakuMuted");
        goto out;
    }
    int replayed = 0;
    struct store_err e = {0};
    json_t *r = store_event_set(q->store, q->rid, patch, &replayed, &e);
    if (!r) {
        req_fail_store(q->rid, q->type, &e);
        goto out;
    }
    req_reply(q->rid, q->type, r, replayed);
    req_push_all("event", r);
    json_decref(r);
out:
    json_decref(patch);
}

void admin_danmaku_delete(struct req *q)
{
    const char *id = req_str(q, "id");
    if (!id || !proto_rid_ok(id)) {
        req_fail(q->rid, q->type, "bad_request", "id: a bullet comment's id");
        return;
    }
    json_t *b = json_pack("{s:s}", "id", id);
    req_push("danmaku.deleted", b, GROUP_SCREENS, GROUP_ADMINS, NULL);
    req_reply(q->rid, q->type, b, 0);
    json_decref(b);
}

void admin_export(struct req *q)
{
    struct store_err e = {0};
    char *csv = store_winners_csv(q->store, &e);
    if (!csv) {
        req_fail_store(q->rid, q->type, &e);
        return;
    }
    char fn[64];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(fn, sizeof fn, "winners-%Y%m%d-%H%M%S.csv", &tm);
    json_t *r = json_pack("{s:s,s:s}", "filename", fn, "csv", csv);
    free(csv);
    if (!r) {
        req_fail(q->rid, q->type, "store_error", "the export is not valid text");
        return;
    }
    req_reply(q->rid, q->type, r, 0);
    json_decref(r);
}

void admin_stats(struct req *q)
{
    struct store_err e = {0};
    json_t *c = store_signins_since(q->store, 0, 0, &e);
    int64_t online = gw_get_all_client_count();
    const struct gw_query_info *qi = gw_last_query();
    int asked = qi->asked, answered = qi->answered;
    int64_t phones = gw_get_client_count_by_group(GROUP_PHONES);
    int64_t screens = gw_get_client_count_by_group(GROUP_SCREENS);
    int64_t admins = gw_get_client_count_by_group(GROUP_ADMINS);
    json_t *r = json_pack("{s:I,s:I,s:I,s:I,s:O,s:O,s:{s:i,s:i}}", "online", (json_int_t)online, "phones",
                          (json_int_t)phones, "screens", (json_int_t)screens, "admins", (json_int_t)admins,
                          "signedIn", c ? json_object_get(c, "signedIn") : json_null(), "participants",
                          c ? json_object_get(c, "participants") : json_null(), "gateways", "asked", asked,
                          "answered", answered);
    json_decref(c);
    if (!r) {
        req_fail(q->rid, q->type, "store_error", "out of memory");
        return;
    }
    req_reply(q->rid, q->type, r, 0);
    json_decref(r);
}

