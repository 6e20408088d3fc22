/* libFuzzer harness for the lottery application's handlers with its real
 * sqlite store: messages from several pages (phones, screens, admins) go
 * through the business worker's real events_dispatch and API
 * (business/events.c, api*.c, as fuzz_business.c) into apps/lottery's
 * on_message, which decodes them, checks the sender's role in its gateway
 * session and runs the store's transactions (participants, prizes, draws,
 * undo, replace, export...). So one input explores the state machine, not
 * one message.
 *
 * Input: byte 0 picks the starting store (bit 0: openSignup; bit 1: the
 * demo store — 300 participants, 4 prizes, 60 of them signed in); the rest
 * is up to MAX_RECORDS lines, each one event of one of SLOTS pages:
 *   <c>JSON...   a message from page (c - 'A') % SLOTS ("A{...}", "B{...}")
 *   #<c>         that page says hello as admin with the right token
 *   *<c><k>      that page says hello as a phone with its last sign-in's
 *                token, or else the token of the k-th signed-in participant
 *   -<c>         that page closes; a new page (new connection) takes its slot
 *   ~            the application's timers fire once (the screens' feed,
 *                the split-store check)
 *
 * The fake gateway (link_send below) keeps each page's session as the real
 * one does (SET_SESSION bytes come back as the next event's ext_data) and
 * remembers sign-in tokens. Each input starts from a fresh copy of a
 * template store (in /dev/shm when there is one), with the application
 * started again on it; getrandom() is this file's deterministic stream,
 * reseeded per input, so tokens and draw seeds — and so every path — are
 * the same each time an input runs.
 *
 * Invariants (abort = a finding):
 *  - every frame the worker sends encodes; every message to a page is a JSON
 *    object with a string "type"; every message gets at least one answer to
 *    its sender (but "pong");
 *  - a page becomes admin (session role, group lottery:admins) only with a
 *    hello carrying the right adminToken; a bullet comment pushed to the
 *    screens names a participant who signed in;
 *  - the audit log grows only on messages of admin pages;
 *  - after every message that changed the log, and at the end: no person
 *    wins one prize twice (draws not undone, absent included), a prize's
 *    present winners plus its open seats never exceed its quantity, at most
 *    one draw is open, a finished draw has exactly `count` winners and an
 *    open or cancelled one none, an undone draw's winners (only) are undone,
 *    every winner is a signed-in participant; a draw that just opened froze
 *    exactly the eligible pool (signed in, not a winner of this prize, absent
 *    included, and for an excludeWinners prize no present win of any prize);
 *  - at the end, the audit log verifies as `lotteryctl verify` does it
 *    (hash chain, every draw recomputed from its pool and seed).
 *
 * Built with every apps/lottery file, business/events.c, api*.c, query.c
 * and the shared library; the worker's environment (settings, timers, log:
 * business/appenv.c) and the gateway link are this file's. */
#include "api.h"
#include "audit.h"
#include "bw.h"
#include "demo.h"
#include "events.h"
#include "gw_api.h"
#include "gwp.h"
#include "links.h"
#include "log.h"
#include "phpser.h"
#include "query.h"
#include "store.h"

#include <errno.h>
#include <jansson.h>
#include <sanitizer/common_interface_defs.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static void cleanup(void);

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_lottery_app: %s:%d: %s\n", __FILE__, __LINE__, #cond);           \
            cleanup();                                                                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define SLOTS 4
#define MAX_RECORDS 64
#define ADMIN_TOKEN "fuzz-admin-token-0001"
#define DEMO_SIGNED_IN 60
#define MAX_TIMERS 16

/* ASan's quarantine at 4 MB (default 256 MB): every sqlite3_prepare
 * allocates, and with the default each allocation lands on fresh pages
 * (page faults, zeroing): 3-5 times slower. A use after free within the
 * last 4 MB freed is still caught; ASAN_OPTIONS overrides this. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "quarantine_size_mb=4"; }

/* ---- deterministic randomness (tokens, draw seeds, the store's id) ---- */

static uint64_t rng_state;

static void rng_seed(uint64_t s) { rng_state = s ? s : 0x9e3779b97f4a7c15ull; }

/* Replaces libc's for this program: splitmix64. */
ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
    (void)flags;
    uint8_t *p = buf;
    for (size_t i = 0; i < len; i++) {
        if (i % 8 == 0)
            rng_state += 0x9e3779b97f4a7c15ull;
        uint64_t z = rng_state + i / 8;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        p[i] = (uint8_t)(z >> (8 * (i % 8)));
    }
    return (ssize_t)len;
}

/* ---- the worker's environment (business/appenv.c in the binary) ---- */

static char store_setting[512];
static const char *open_signup_setting = "false";

const char *gw_app_setting(const char *key)
{
    if (!key)
        return NULL;
    if (strcmp(key, "adminToken") == 0)
        return ADMIN_TOKEN;
    if (strcmp(key, "store") == 0)
        return store_setting;
    if (strcmp(key, "openSignup") == 0)
        return open_signup_setting;
    return NULL;
}

int gw_app_path(const char *path, char *out, size_t cap)
{
    if (!path || !out || cap == 0)
        return -EINVAL;
    int n = path[0] == '/' ? snprintf(out, cap, "%s", path) : snprintf(out, cap, "./%s", path);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

void gw_log(int level, const char *fmt, ...)
{
    (void)level;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
}

static struct {
    gw_timer_fn *fn;
    void *arg;
    int64_t id;
} timers[MAX_TIMERS];
static size_t ntimers;
static int64_t last_timer_id;

int64_t gw_timer_add(unsigned interval_ms, int persistent, gw_timer_fn *fn, void *arg)
{
    (void)persistent;
    if (interval_ms == 0 || !fn)
        return -EINVAL;
    if (ntimers == MAX_TIMERS)
        return -ENOMEM;
    timers[ntimers].fn = fn;
    timers[ntimers].arg = arg;
    timers[ntimers].id = ++last_timer_id;
    return timers[ntimers++].id;
}

int gw_timer_del(int64_t id)
{
    for (size_t i = 0; i < ntimers; i++)
        if (timers[i].id == id) {
            timers[i] = timers[--ntimers];
            return 0;
        }
    return -ENOENT;
}

/* ---- the pages and the fake gateway ---- */

#define FAKE_IP 0x7f000001u /* 127.0.0.1: nothing listens on FAKE_PORT, queries are refused at once */
#define FAKE_PORT 1

struct page {
    uint32_t conn_id;
    uint8_t *session; /* the bytes the gateway holds (malloc'd, or NULL: "") */
    size_t session_len;
    int admin;        /* its session says role admin */
    char token[64];   /* from its last sign-in reply */
};

static struct link fake_link;
static struct page pages[SLOTS];
static int trace; /* FUZZ_LOTTERY_APP_TRACE=1: print every frame to a page (for writing seeds) */
static uint32_t next_conn_id;
/* The event being handled. */
static int cur = -1;
static const char *cur_msg;
static size_t cur_len, cur_answers;
static int cur_admin_hello; /* the message is a hello with the right adminToken */

static int page_of(uint32_t conn_id)
{
    for (int i = 0; i < SLOTS; i++)
        if (pages[i].conn_id == conn_id)
            return i;
    return -1;
}

static json_t *check_json(const void *msg, size_t len)
{
    json_error_t je;
    json_t *j = json_loadb(msg, len, 0, &je);
    REQUIRE(json_is_object(j));
    REQUIRE(json_is_string(json_object_get(j, "type")));
    return j;
}

/* 1 if a PHP-serialized session says role admin. */
static int session_is_admin(const void *ext, size_t len)
{
    if (!len)
        return 0;
    msgpack_zone z;
    REQUIRE(msgpack_zone_init(&z, 1024));
    msgpack_object v;
    REQUIRE(phpser_decode(ext, len, &z, &v, NULL, NULL, 0) == 0);
    REQUIRE(v.type == MSGPACK_OBJECT_MAP);
    int admin = 0;
    for (uint32_t i = 0; i < v.via.map.size; i++) {
        const msgpack_object *k = &v.via.map.ptr[i].key, *val = &v.via.map.ptr[i].val;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 4 && memcmp(k->via.str.ptr, "role", 4) == 0)
            admin = val->type == MSGPACK_OBJECT_STR && val->via.str.size == 5 &&
                    memcmp(val->via.str.ptr, "admin", 5) == 0;
    }
    msgpack_zone_destroy(&z);
    return admin;
}

static sqlite3 *ro; /* our own read connection to the store's file */

/* 1 if emp_no is a participant who signed in. */
static int signed_in(const char *emp_no)
{
    sqlite3_stmt *st = NULL;
    if (!emp_no)
        return 0;
    REQUIRE(sqlite3_prepare_v2(ro, "SELECT COUNT(*) FROM participants WHERE emp_no = ? AND signed_in_seq IS NOT NULL",
                               -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_text(st, 1, emp_no, -1, SQLITE_STATIC);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n == 1;
}

int link_send(struct link *l, const struct gwp_header *h, const void *ext, size_t ext_len, const void *body,
              size_t body_len)
{
    REQUIRE(l == &fake_link);
    struct buf b = BUF_INIT;
    REQUIRE(gwp_encode(&b, h, ext, ext_len, body, body_len) == 0);
    buf_free(&b);
    int p = page_of(h->connection_id);
    if (trace && body_len)
        fprintf(stderr, "  -> %s %c: %.*s\n", gwp_cmd_name(h->cmd), p >= 0 ? 'A' + p : '*', (int)body_len,
                (const char *)body);
    switch (h->cmd) {
    case GWP_CMD_SET_SESSION: {
        /* The lottery only writes its current page's session. */
        REQUIRE(p >= 0 && p == cur);
        int admin = session_is_admin(ext, ext_len);
        if (admin && !pages[p].admin)
            REQUIRE(cur_admin_hello);
        free(pages[p].session);
        pages[p].session = NULL;
        pages[p].session_len = 0;
        if (ext_len) {
            REQUIRE((pages[p].session = malloc(ext_len)));
            memcpy(pages[p].session, ext, ext_len);
            pages[p].session_len = ext_len;
        }
        pages[p].admin = admin;
        break;
    }
    case GWP_CMD_UPDATE_SESSION:
        REQUIRE(!"the lottery does not merge sessions: teach this fake gateway UPDATE_SESSION");
        break;
    case GWP_CMD_SEND_TO_ONE: {
        json_t *j = check_json(body, body_len);
        if (p >= 0 && p == cur) {
            cur_answers++;
            const char *type = json_string_value(json_object_get(j, "type"));
            const char *cmd = json_string_value(json_object_get(j, "cmd"));
            const char *tok = json_string_value(json_object_get(j, "token"));
            if (strcmp(type, "reply") == 0 && cmd && strcmp(cmd, "signin") == 0 && tok)
                snprintf(pages[p].token, sizeof pages[p].token, "%s", tok);
        }
        json_decref(j);
        break;
    }
    case GWP_CMD_SEND_TO_GROUP: {
        json_t *j = check_json(body, body_len);
        /* A bullet comment is signed by a signed-in participant (the
         * phone's session, set only by a sign-in or a valid token). */
        if (strcmp(json_string_value(json_object_get(j, "type")), "danmaku") == 0)
            REQUIRE(signed_in(json_string_value(json_object_get(j, "empNo"))));
        json_decref(j);
        break;
    }
    case GWP_CMD_SEND_TO_ALL:
    case GWP_CMD_SEND_TO_UID:
        json_decref(check_json(body, body_len));
        break;
    case GWP_CMD_JOIN_GROUP:
        if (ext_len == strlen("lottery:admins") && memcmp(ext, "lottery:admins", ext_len) == 0)
            REQUIRE(p >= 0 && p == cur && cur_admin_hello);
        break;
    default:
        break;
    }
    return 0;
}

#include "fake_transport.h"

static struct business_cfg cfg = {.slowCallbackMs = 1000000, .sendToGatewayBufferSize = 10240000};
static struct bw bw;
static const struct gw_app *app;
static const struct gw_worker_info info = {.name = "fuzz", .index = 0, .count = 1};

/* One event of page p, as a gateway frame through the real dispatcher. */
static void dispatch(int p, uint8_t cmd, const char *msg, size_t len)
{
    static const uint8_t empty[1];
    /* Frame parts in buffers of their own, exactly sized: the fake gateway
     * replaces the page's session while the event still reads this copy. */
    uint8_t *ext = pages[p].session_len ? malloc(pages[p].session_len) : NULL;
    uint8_t *body = len ? malloc(len) : NULL;
    REQUIRE((ext || !pages[p].session_len) && (body || !len));
    if (ext)
        memcpy(ext, pages[p].session, pages[p].session_len);
    if (body)
        memcpy(body, msg, len);
    struct gwp_frame f = {
        .hdr = {.cmd = cmd,
                .local_ip = FAKE_IP,
                .local_port = FAKE_PORT,
                .client_ip = 0xc6336400u + (uint32_t)p, /* 198.51.100.x */
                .client_port = (uint16_t)(40000 + p),
                .connection_id = pages[p].conn_id,
                .flag = GWP_FLAG_BODY_IS_SCALAR,
                .gateway_port = 8282,
                .ext_len = (uint32_t)pages[p].session_len},
        .ext = ext ? ext : empty,
        .ext_len = pages[p].session_len,
        .body = body ? body : empty,
        .body_len = len,
    };
    f.hdr.pack_len = (uint32_t)(GWP_HEADER_LEN + f.ext_len + len);
    cur = p;
    cur_msg = msg;
    cur_len = len;
    cur_answers = 0;
    events_dispatch(&bw, &fake_link, &f);
    REQUIRE(!bw.ctx.active);
    cur = -1;
    free(ext);
    free(body);
}

static void page_new(int p)
{
    free(pages[p].session);
    memset(&pages[p], 0, sizeof pages[p]);
    pages[p].conn_id = ++next_conn_id;
}

/* ---- the store: templates, the work copy, invariants ---- */

static char dir[256], work[400], tmpl_path[2][400];
static uint8_t *tmpl[2];
static size_t tmpl_len[2];

static void unlink_db(const char *path)
{
    char x[420];
    unlink(path);
    snprintf(x, sizeof x, "%s-wal", path);
    unlink(x);
    snprintf(x, sizeof x, "%s-shm", path);
    unlink(x);
}

static void read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    REQUIRE(f);
    REQUIRE(fseek(f, 0, SEEK_END) == 0);
    long n = ftell(f);
    REQUIRE(n > 0 && fseek(f, 0, SEEK_SET) == 0);
    REQUIRE((*out = malloc((size_t)n)));
    REQUIRE(fread(*out, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
}

static void write_file(const char *path, const uint8_t *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    REQUIRE(f && fwrite(p, 1, len, f) == len && fclose(f) == 0);
}

/* The two starting stores, made once: the schema only, and the demo event
 * with DEMO_SIGNED_IN of its people signed in (so draws can start at once). */
static void make_templates(void)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%s", base);
    snprintf(work, sizeof work, "%s/fuzz_lottery_app.%d.db", dir, (int)getpid());
    for (int v = 0; v < 2; v++) {
        snprintf(tmpl_path[v], sizeof tmpl_path[v], "%s/fuzz_lottery_app.%d.t%d.db", dir, (int)getpid(), v);
        unlink_db(tmpl_path[v]);
        char url[450], err[256];
        snprintf(url, sizeof url, "sqlite:%s", tmpl_path[v]);
        rng_seed(1);
        struct store *s = store_open(url, err, sizeof err);
        REQUIRE(s);
        if (v == 1) {
            REQUIRE(demo_seed(s, err, sizeof err) == 0);
            json_t *rows = demo_rows(DEMO_PEOPLE);
            REQUIRE(rows);
            for (size_t i = 0; i < DEMO_SIGNED_IN; i++) {
                json_t *row = json_array_get(rows, i);
                struct store_err e = {0};
                json_t *r = store_signin(s, json_string_value(json_object_get(row, "empNo")),
                                         json_string_value(json_object_get(row, "name")), 0, &e);
                REQUIRE(r);
                json_decref(r);
            }
            json_decref(rows);
        }
        store_close(s); /* the last connection: the WAL is checkpointed into the file */
        char wal[420];
        struct stat st;
        snprintf(wal, sizeof wal, "%s-wal", tmpl_path[v]);
        REQUIRE(stat(wal, &st) < 0 || st.st_size == 0);
        read_file(tmpl_path[v], &tmpl[v], &tmpl_len[v]);
        unlink_db(tmpl_path[v]);
    }
}

static void cleanup(void) { unlink_db(work); }

static long long ro_ll(const char *sql)
{
    sqlite3_stmt *st = NULL;
    REQUIRE(sqlite3_prepare_v2(ro, sql, -1, &st, NULL) == SQLITE_OK);
    int rc = sqlite3_step(st);
    REQUIRE(rc == SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static long long audit_seq(void) { return ro_ll("SELECT COALESCE(MAX(seq), 0) FROM audit"); }

static void check_winners(void)
{
    /* nobody wins one prize twice (absent included; undone draws do not count) */
    REQUIRE(ro_ll("SELECT COUNT(*) FROM (SELECT 1 FROM winners WHERE undone = 0"
                  " GROUP BY prize_id, emp_no HAVING COUNT(*) > 1)") == 0);
    /* present winners + open seats <= quantity */
    REQUIRE(ro_ll("SELECT COUNT(*) FROM prizes p WHERE"
                  " (SELECT COUNT(*) FROM winners w WHERE w.prize_id = p.id AND w.undone = 0 AND w.absent = 0)"
                  " + (SELECT COALESCE(SUM(d.count), 0) FROM draws d WHERE d.prize_id = p.id AND d.state = 'open')"
                  " > p.quantity") == 0);
    REQUIRE(ro_ll("SELECT COUNT(*) FROM draws WHERE state = 'open'") <= 1);
    /* a finished draw has its count of winners; an open or cancelled one none */
    REQUIRE(ro_ll("SELECT COUNT(*) FROM draws d WHERE (SELECT COUNT(*) FROM winners w WHERE w.draw_id = d.id)"
                  " != CASE WHEN d.state IN ('done', 'undone') THEN d.count ELSE 0 END") == 0);
    /* undone exactly for the winners of undone draws */
    REQUIRE(ro_ll("SELECT COUNT(*) FROM winners w JOIN draws d ON d.id = w.draw_id"
                  " WHERE (d.state = 'undone') != (w.undone = 1)") == 0);
    /* every winner signed in */
    REQUIRE(ro_ll("SELECT COUNT(*) FROM winners w LEFT JOIN participants p ON p.emp_no = w.emp_no"
                  " WHERE p.signed_in_seq IS NULL") == 0);
}

/* A draw just opened (draw.start, winner.replace): its frozen pool is
 * exactly the signed-in people who have not won this prize (absent included)
 * and, for an excludeWinners prize, hold no present win of any prize. */
static long long last_open_draw;

static void check_new_pool(void)
{
    long long open = ro_ll("SELECT COALESCE(MAX(id), 0) FROM draws WHERE state = 'open'");
    if (!open || open == last_open_draw)
        return;
    last_open_draw = open;
    /* an eligible person is missing, or an ineligible one is in */
    static const char eligible[] =
        "p.signed_in_seq IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM winners w WHERE w.emp_no = p.emp_no AND w.prize_id = d.prize_id"
        "  AND w.undone = 0)"
        " AND NOT (pr.exclude_winners = 1 AND EXISTS (SELECT 1 FROM winners w WHERE w.emp_no = p.emp_no"
        "  AND w.undone = 0 AND w.absent = 0))";
    char sql[1600];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM draws d JOIN prizes pr ON pr.id = d.prize_id, participants p"
             " WHERE d.state = 'open' AND (%s) != (p.emp_no IN (SELECT value FROM json_each(d.pool)))",
             eligible);
    REQUIRE(ro_ll(sql) == 0);
    REQUIRE(ro_ll("SELECT COUNT(*) FROM draws d, json_each(d.pool) j WHERE d.state = 'open'"
                  " AND j.value NOT IN (SELECT emp_no FROM participants)") == 0);
    REQUIRE(ro_ll("SELECT COUNT(*) FROM draws WHERE state = 'open' AND pool_size != json_array_length(pool)") == 0);
}

static int verify_cb(long long seq, const char *hash, const json_t *entry, void *arg)
{
    char err[512], *line = NULL;
    int r = audit_verify_next(arg, seq, hash, entry, &line, err, sizeof err);
    if (r < 0)
        fprintf(stderr, "fuzz_lottery_app: audit seq %lld: %s\n", seq, err);
    free(line);
    return r < 0 ? 1 : 0;
}

/* lotteryctl verify --store=URL */
static void verify_audit(void)
{
    char url[450], err[256];
    snprintf(url, sizeof url, "sqlite:%s", work);
    struct store *s = store_open(url, err, sizeof err);
    REQUIRE(s);
    struct audit_verifier *v = audit_verifier_new();
    REQUIRE(v);
    struct store_err e = {0};
    REQUIRE(store_audit_foreach(s, verify_cb, v, &e) == 0);
    REQUIRE(audit_verifier_entries(v) == audit_seq());
    audit_verifier_free(v);
    store_close(s);
}

static const char *signed_in_token(unsigned k)
{
    static char tok[64];
    sqlite3_stmt *st = NULL;
    REQUIRE(sqlite3_prepare_v2(ro,
                               "SELECT token FROM participants WHERE token IS NOT NULL"
                               " ORDER BY signed_in_seq LIMIT 1 OFFSET ?",
                               -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_int(st, 1, (int)(k % 64));
    tok[0] = '\0';
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(tok, sizeof tok, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return tok;
}

/* ---- one input ---- */

static void start(unsigned flags)
{
    static int started;
    if (started && app->on_worker_stop)
        app->on_worker_stop(&info);
    started = 1;
    ntimers = 0;
    events_free(&bw);
    if (ro) {
        sqlite3_close(ro);
        ro = NULL;
    }
    unlink_db(work);
    write_file(work, tmpl[(flags >> 1) & 1], tmpl_len[(flags >> 1) & 1]);
    snprintf(store_setting, sizeof store_setting, "sqlite:%s", work);
    open_signup_setting = flags & 1 ? "true" : "false";
    rng_seed(2);
    REQUIRE(app->on_worker_start(&info) == 0);
    REQUIRE(sqlite3_open_v2(work, &ro, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    next_conn_id = 0;
    last_open_draw = 0;
    for (int i = 0; i < SLOTS; i++)
        page_new(i);
}

static void message(int p, const char *msg, size_t len)
{
    int was_admin = pages[p].admin;
    json_error_t je;
    json_t *j = json_loadb(msg, len, JSON_REJECT_DUPLICATES, &je);
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *role = json_string_value(json_object_get(j, "role"));
    const char *tok = json_string_value(json_object_get(j, "adminToken"));
    cur_admin_hello = type && role && tok && strcmp(type, "hello") == 0 && strcmp(role, "admin") == 0 &&
                      strcmp(tok, ADMIN_TOKEN) == 0;
    int pong = type && strcmp(type, "pong") == 0;
    json_decref(j);
    long long before = audit_seq();
    dispatch(p, GWP_CMD_ON_MESSAGE, msg, len);
    REQUIRE(cur_answers > 0 || pong);
    cur_admin_hello = 0;
    long long after = audit_seq();
    if (after != before) {
        REQUIRE(was_admin);
        check_winners();
        check_new_pool();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!app) {
        log_init("business", LOG_ERROR + 1);
        trace = getenv("FUZZ_LOTTERY_APP_TRACE") != NULL;
        /* Three connections open per input: without sqlite's per-connection
         * bulk allocations (lookaside, the page cache's first pages) each
         * open is cheap under ASan, and ASan sees every allocation. */
        REQUIRE(sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0) == SQLITE_OK);
        REQUIRE(sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0) == SQLITE_OK);
        bw.cfg = &cfg;
        REQUIRE((app = gw_app()));
        bw.app = app;
        REQUIRE(msgpack_zone_init(&bw.ctx.zone, 4096));
        fake_link.fd = -1;
        fake_link.state = LINK_UP;
        fake_link.ip = FAKE_IP;
        fake_link.port = FAKE_PORT;
        strcpy(fake_link.addr, "127.0.0.1:1");
        REQUIRE((bw.query = query_new(&bw)));
        api_start(&bw, &transport);
        make_templates();
        atexit(cleanup);
        __sanitizer_set_death_callback(cleanup); /* nor does a sanitizer's finding (REQUIRE cleans up too) */
    }
    if (size == 0)
        return 0;
    start(data[0]);
    size_t pos = 1;
    for (int n = 0; n < MAX_RECORDS && pos < size; n++) {
        const char *line = (const char *)data + pos;
        const char *nl = memchr(line, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - line) : size - pos;
        pos += len + 1;
        if (len == 0)
            continue;
        if (trace)
            fprintf(stderr, "%.*s\n", (int)len, line);
        int p = len > 1 ? (line[1] - 'A') & (SLOTS - 1) : 0;
        switch (line[0]) {
        case '#': {
            static const char hello[] = "{\"type\":\"hello\",\"role\":\"admin\",\"adminToken\":\"" ADMIN_TOKEN "\"}";
            message(p, hello, sizeof hello - 1);
            break;
        }
        case '*': {
            char hello[200];
            const char *tok = pages[p].token[0] ? pages[p].token : signed_in_token(len > 2 ? (uint8_t)line[2] : 0);
            int n2 = snprintf(hello, sizeof hello, "{\"type\":\"hello\",\"role\":\"phone\",\"token\":\"%s\"}", tok);
            message(p, hello, (size_t)n2);
            break;
        }
        case '-':
            dispatch(p, GWP_CMD_ON_CLOSE, "", 0);
            page_new(p);
            break;
        case '~': {
            size_t nt = ntimers;
            for (size_t i = 0; i < nt && i < ntimers; i++)
                timers[i].fn(timers[i].arg);
            break;
        }
        default:
            message((line[0] - 'A') & (SLOTS - 1), line + 1, len - 1);
        }
    }
    check_winners();
    verify_audit();
    return 0;
}
