/* lottery: the annual party's lucky draw, a business worker application.
 *
 * The pages (apps/lottery/www) speak docs/lottery-protocol.md; this file is
 * the glue between that protocol and the store: it decodes a message
 * (proto.c checks the syntax), checks who sent it (the role lives in the
 * client's gateway session, so any worker process knows it), calls one
 * store function (one transaction: store.c), answers, and pushes what
 * changed to the gateway groups. Nothing here keeps state that matters
 * across processes: the store has all of it. Process memory holds only the
 * danmaku rate limits (per connection, and a connection's events always
 * reach the same process) and the screen feed's position (feed.c).
 *
 * Files: lottery.c (this: start, dispatch, hello and state), req.c (the
 * message being handled: fields, answers, pushes), phone.c and admin.c
 * (the commands of each page), proto.c (syntax), store.c (durable state),
 * draw.c + audit.c (the verifiable draw and its log), feed.c (the screens'
 * sign-in wall), split.c (two stores = two lotteries: noticed, shouted),
 * ratelimit.c, demo.c.
 *
 * Settings ([app] section, gw_api.h §5):
 *   store       sqlite:PATH (default sqlite:lottery.db, relative to the
 *               directory the worker started in) or postgresql://... later
 *   adminToken  required, at least 8 bytes: the admin page's secret
 *   title       the event's title when the store has none yet
 *   openSignup  true/false: the initial value of the event's open sign-up
 *   demo        true: an empty store gets demo participants and prizes */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "admin.h"
#include "demo.h"
#include "feed.h"
#include "gw_api.h"
#include "phone.h"
#include "proto.h"
#include "req.h"
#include "split.h"
#include "store.h"

#define RECENT_NAMES 30

static struct store *store;
static char admin_digest[SHA256_DIGEST_LENGTH];
static struct feed *feed;

/* ---- state ---- */

/* The full state of §4 for the current client. me: a participant or NULL. */
static void send_state(const char *role, json_t *me)
{
    struct store_err e = {0};
    json_t *st = store_state(store, &e);
    if (!st) {
        req_fail(NULL, "hello", e.code ? e.code : "store_error", e.message);
        return;
    }
    json_object_set_new(st, "role", json_string(role));
    json_object_set_new(st, "storeId", json_string(store_id(store)));
    if (me)
        json_object_set(st, "me", me);
    if (strcmp(role, "phone") != 0) {
        json_t *recent = store_signins_since(store, 0, RECENT_NAMES, &e);
        json_t *names = recent ? json_object_get(recent, "names") : NULL;
        json_object_set_new(st, "recent", names ? json_incref(names) : json_array());
        json_decref(recent);
    }
    char *s = proto_push("state", st);
    json_decref(st);
    req_send_text(s);
}

static void on_hello(struct req *q)
{
    const char *role = req_str(q, "role");
    if (!role) {
        req_fail(q->rid, q->type, "bad_request", "role: phone, screen or admin");
        return;
    }
    /* Which lottery greeted this page (split.h). */
    gw_session_set_str(SPLIT_SESSION_KEY, store_id(store));
    if (strcmp(role, "admin") == 0) {
        const char *tok = req_str(q, "adminToken");
        unsigned char d[SHA256_DIGEST_LENGTH];
        /* Digests of both: the comparison takes the same time whatever the
         * length or content of the guess. */
        if (!tok || !SHA256((const unsigned char *)tok, strlen(tok), d) ||
            CRYPTO_memcmp(d, admin_digest, sizeof d) != 0) {
            req_fail(q->rid, q->type, "forbidden", "wrong admin token");
            return;
        }
        gw_session_set_str("role", "admin");
        gw_session_set_int("admin", 1);
        gw_join_group(q->client_id, GROUP_ADMINS);
        send_state("admin", NULL);
    } else if (strcmp(role, "screen") == 0) {
        gw_session_set_str("role", "screen");
        gw_join_group(q->client_id, GROUP_SCREENS);
        send_state("screen", NULL);
    } else if (strcmp(role, "phone") == 0) {
        gw_session_set_str("role", "phone");
        gw_join_group(q->client_id, GROUP_PHONES);
        const char *tok = req_str(q, "token");
        json_t *me = NULL;
        if (tok && tok[0]) {
            struct store_err e = {0};
            json_t *r = proto_token_ok(tok) ? store_me(q->store, tok, &e) : NULL;
            if (r) {
                me = json_incref(json_object_get(r, "me"));
                json_decref(r);
                phone_bind(q->client_id, me);
            } else {
                req_fail(q->rid, q->type, e.code && strcmp(e.code, "store_error") == 0 ? e.code : "bad_token",
                     "unknown sign-in token: sign in again");
            }
        }
        send_state("phone", me);
        json_decref(me);
    } else {
        req_fail(q->rid, q->type, "bad_request", "role: phone, screen or admin");
    }
}

/* ---- dispatch ---- */

enum { R_ANY = 0, R_PHONE = 1, R_ADMIN = 2, R_SCREEN = 4 };

static const struct {
    const char *type;
    unsigned roles;   /* who may send it (R_ANY: anyone) */
    int needs_rid;    /* an idempotent admin command */
    void (*fn)(struct req *q);
} commands[] = {
    {"hello", R_ANY, 0, on_hello},
    {"signin", R_PHONE, 0, phone_signin},
    {"danmaku", R_PHONE, 0, phone_danmaku},
    {"participants.import", R_ADMIN, 1, admin_import},
    {"prize.save", R_ADMIN, 1, admin_prize_save},
    {"prize.delete", R_ADMIN, 1, admin_prize_delete},
    {"draw.start", R_ADMIN, 1, admin_draw_start},
    {"draw.stop", R_ADMIN, 1, admin_draw_stop},
    {"draw.cancel", R_ADMIN, 1, admin_draw_cancel},
    {"draw.undo", R_ADMIN, 1, admin_draw_undo},
    {"winner.replace", R_ADMIN, 1, admin_winner_replace},
    {"event.set", R_ADMIN, 1, admin_event_set},
    {"danmaku.delete", R_ADMIN, 0, admin_danmaku_delete},
    {"winners.export", R_ADMIN, 0, admin_export},
    {"stats", R_ADMIN, 0, admin_stats},
};

static unsigned current_role(void)
{
    if (req_is_role("admin"))
        return R_ADMIN;
    if (req_is_role("phone"))
        return R_PHONE;
    if (req_is_role("screen"))
        return R_SCREEN;
    return 0;
}

static int on_message(const char *client_id, const char *data, size_t len)
{
    unsigned role = current_role();
    size_t max = role == R_ADMIN ? PROTO_MAX_ADMIN_MSG : PROTO_MAX_MSG;
    if (len > max) {
        char m[96];
        snprintf(m, sizeof m, "a message is at most %zu bytes", max);
        req_fail(NULL, NULL, "too_large", m);
        return 0;
    }
    json_error_t je;
    struct req q = {.client_id = client_id, .store = store};
    q.msg = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(q.msg)) {
        req_fail(NULL, NULL, "bad_request", "a JSON object is needed");
        json_decref(q.msg);
        return 0;
    }
    q.type = req_str(&q, "type");
    const char *rid = req_str(&q, "rid");
    if (rid && proto_rid_ok(rid))
        q.rid = rid;
    if (!q.type) {
        req_fail(q.rid, NULL, "bad_request", "type: a string is needed");
        goto out;
    }
    if (strcmp(q.type, "pong") == 0)
        goto out;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].type, q.type) != 0)
            continue;
        if (commands[i].roles != R_ANY && !(commands[i].roles & role)) {
            req_fail(q.rid, q.type, "forbidden", role ? "not allowed for this page" : "send hello first");
            goto out;
        }
        if (commands[i].needs_rid && !q.rid) {
            req_fail(NULL, q.type, "bad_request", "rid: 1 to 64 characters of A-Z a-z 0-9 _ . : -");
            goto out;
        }
        commands[i].fn(&q);
        goto out;
    }
    req_fail(q.rid, q.type, "unknown_type", "unknown message type");
out:
    json_decref(q.msg);
    return 0;
}

static int on_close(const char *client_id)
{
    phone_closed(client_id);
    return 0;
}

/* ---- start and stop ---- */

static int setting_bool(const char *key, int def, int *out)
{
    const char *v = gw_app_setting(key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!strcasecmp(v, "true") || !strcasecmp(v, "on") || !strcasecmp(v, "yes") || !strcmp(v, "1"))
        *out = 1;
    else if (!strcasecmp(v, "false") || !strcasecmp(v, "off") || !strcasecmp(v, "no") || !strcmp(v, "0"))
        *out = 0;
    else
        return -1;
    return 0;
}

/* "sqlite:PATH" with PATH made absolute (a daemon runs in /); other URLs as given. */
static int store_url(char *out, size_t cap)
{
    const char *v = gw_app_setting("store");
    if (!v || !v[0])
        v = "sqlite:lottery.db";
    if (strncmp(v, "postgresql://", 13) == 0 || strncmp(v, "postgres://", 11) == 0) {
        int n = snprintf(out, cap, "%s", v);
        return n < 0 || (size_t)n >= cap ? -1 : 0;
    }
    const char *path = strncmp(v, "sqlite:", 7) == 0 ? v + 7 : v;
    char abs[4096];
    if (gw_app_path(path, abs, sizeof abs) < 0)
        return -1;
    int n = snprintf(out, cap, "sqlite:%s", abs);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static void feed_push(const json_t *body, void *arg)
{
    (void)arg;
    req_push("signins", body, GROUP_SCREENS, GROUP_ADMINS, NULL);
}

static void on_feed_timer(void *arg)
{
    (void)arg;
    feed_tick(feed);
}

/* Every SPLIT_EVERY_MS the feed holder (one per store) looks for pages
 * greeted by another store; the phones, thousands, every 6th time. */
#define SPLIT_EVERY_MS 5000
static void on_split_timer(void *arg)
{
    (void)arg;
    static unsigned round;
    if (!feed_is_holder(feed))
        return;
    const char *groups[] = {GROUP_ADMINS, GROUP_SCREENS, GROUP_PHONES};
    char other[40];
    int n = split_count(store_id(store), groups, round++ % 6 == 0 ? 3 : 2, other, sizeof other);
    if (n <= 0)
        return;
    gw_log(GW_LOG_ERROR,
           "lottery: SPLIT: %d page(s) were greeted by a worker using another store (%s; ours is %s, %s): "
           "business workers on different hosts must share one store (store = postgresql://...)",
           n, other, store_id(store), store_backend(store));
    json_t *b = json_pack("{s:s,s:s,s:[s,s],s:i}", "code", "store_split", "message",
                          "Business workers use different stores: two lotteries are running. "
                          "Give every business worker the same store (postgresql://...) and restart them.",
                          "storeIds", store_id(store), other, "pages", n);
    if (b)
        req_push("alert", b, GROUP_ADMINS, GROUP_SCREENS, NULL);
    json_decref(b);
}

static int on_worker_start(const struct gw_worker_info *w)
{
    const char *tok = gw_app_setting("adminToken");
    char url[4200], err[512];
    int open_signup;
    if (!tok || strlen(tok) < 8) {
        gw_log(GW_LOG_ERROR, "lottery: [app] adminToken: set a secret of at least 8 bytes (the admin page asks for it)");
        return -1;
    }
    SHA256((const unsigned char *)tok, strlen(tok), (unsigned char *)admin_digest);
    if (setting_bool("openSignup", 0, &open_signup) < 0) {
        gw_log(GW_LOG_ERROR, "lottery: [app] openSignup: true or false");
        return -1;
    }
    const char *title = gw_app_setting("title");
    if (title && !proto_text_ok(title, 1, PROTO_MAX_TITLE)) {
        gw_log(GW_LOG_ERROR, "lottery: [app] title: 1 to %d bytes of text", PROTO_MAX_TITLE);
        return -1;
    }
    if (store_url(url, sizeof url) < 0) {
        gw_log(GW_LOG_ERROR, "lottery: [app] store: the path is too long");
        return -1;
    }
    store = store_open(url, err, sizeof err);
    if (!store) {
        gw_log(GW_LOG_ERROR, "lottery: [app] store = %s: %s", url, err);
        return -1;
    }
    /* The INI's title and openSignup seed the event the first time only:
     * once an admin changed them, the store's values win. */
    struct store_err e = {0};
    json_t *ev = store_event(store, &e);
    const char *have = ev ? json_string_value(json_object_get(ev, "title")) : NULL;
    if (ev && (!have || !have[0])) {
        json_t *patch = json_pack("{s:s,s:b}", "title", title ? title : "年会抽奖", "openSignup", open_signup);
        int replayed;
        json_decref(store_event_set(store, "init:event", patch, &replayed, &e));
        json_decref(patch);
    }
    json_decref(ev);
    int demo;
    if (setting_bool("demo", 0, &demo) < 0) {
        gw_log(GW_LOG_ERROR, "lottery: [app] demo: true or false");
        return -1;
    }
    if (demo && demo_seed(store, err, sizeof err) < 0) {
        gw_log(GW_LOG_ERROR, "lottery: demo data: %s", err);
        return -1;
    }
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    char tag[64], holder[160];
    snprintf(tag, sizeof tag, "w%d.%d", w->index, (int)getpid());
    snprintf(holder, sizeof holder, "%s:%d:%s:%d", host, (int)getpid(), w->name, w->index);
    feed = feed_new(store, holder, feed_push, NULL);
    if (phone_init(tag) < 0 || !feed || gw_timer_add(FEED_INTERVAL_MS, 1, on_feed_timer, NULL) < 0 ||
        gw_timer_add(SPLIT_EVERY_MS, 1, on_split_timer, NULL) < 0) {
        gw_log(GW_LOG_ERROR, "lottery: out of memory at start-up");
        return -1;
    }
    gw_log(GW_LOG_INFO, "lottery: process %d: store %s (%s)", w->index, url, store_backend(store));
    return 0;
}

static void on_worker_stop(const struct gw_worker_info *w)
{
    (void)w;
    feed_free(feed);
    feed = NULL;
    phone_done();
    store_close(store);
    store = NULL;
}

static const struct gw_app app = {
    .api_version = GW_API_VERSION,
    .on_worker_start = on_worker_start,
    .on_worker_stop = on_worker_stop,
    .on_message = on_message,
    .on_close = on_close,
};

const struct gw_app *gw_app(void) { return &app; }
