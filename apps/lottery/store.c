/* store: the lottery's durable state (see store.h), on sqlite3 or
 * PostgreSQL through db.h.
 *
 * Layout of this file: a thin access layer over db.h (statements, binding,
 * transactions, errors) first, then the backend-neutral logic written only
 * against that layer and plain SQL. The SQL is portable (no AUTOINCREMENT,
 * no INSERT OR ..., upserts as INSERT ... ON CONFLICT (...) DO ..., ids from
 * a counters table, `?` placeholders that db_pg.c renumbers, BIGINT where a
 * value may pass 2^31, sorting of text done in C because a PostgreSQL
 * collation need not be byte order).
 *
 * Concurrency: several business worker processes (on one host with sqlite,
 * on several with PostgreSQL) use the same store. Every writer transaction
 * starts with db_begin_write(), which serialises all writers (sqlite: BEGIN
 * IMMEDIATE, the file's write lock; PostgreSQL: one advisory lock), so two
 * draws are serialised and the second sees the first's winners, and no
 * transaction ever has to be retried half-way. A store handle belongs to
 * one process: open it after fork().
 *
 * Durability: sqlite's synchronous=NORMAL in WAL mode never loses a
 * committed transaction when the process is killed (the WAL is in the OS
 * page cache); only a power loss can drop the last ones. Draw transactions
 * (start, stop, cancel, undo, replace) run with synchronous=FULL so a
 * revealed result survives even that. PostgreSQL commits synchronously. */
#include "store.h"

#include "audit.h"
#include "draw.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "db.h"

#define STORE_MAX_IMPORT_ROWS 20000
/* Participants in total (imports add up, open sign-up adds one by one);
 * bounds a draw's pool and its audit entry. */
#define STORE_MAX_PARTICIPANTS 100000
#define STORE_MAX_COUNT 10000
#define STORE_SAMPLE 200
#define STORE_MAX_SIGNIN_NAMES 1000
#define STORE_MAX_CSV (64u << 20)
#define STORE_MAX_EMPNO 32
#define STORE_MAX_NAME 64
#define STORE_MAX_REASON 200
#define STORE_MAX_RID 64

struct store {
    struct db *db;
    char id[33]; /* the store's identity, made once when its schema is created */
};

/* ------------------------------------------------------------------ */
/* errors                                                              */

__attribute__((format(printf, 3, 4))) static void set_err(struct store_err *e, const char *code, const char *fmt, ...)
{
    if (!e)
        return;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

static void db_err(struct store *s, struct store_err *e, const char *what)
{
    set_err(e, "store_error", "%s: %s", what, db_errmsg(s->db));
}

/* ------------------------------------------------------------------ */
/* access layer (db.h)                                                */

static struct db_stmt *q_vprep(struct store *s, struct store_err *e, const char *sql, const char *fmt, va_list ap)
{
    struct db_stmt *st = db_vprepare(s->db, sql, fmt, ap);
    if (!st)
        db_err(s, e, "prepare");
    return st;
}

/* A statement with its arguments: fmt has one letter per `?`: 'd' int,
 * 'l' long long, 't' const char * (NULL binds SQL NULL; text is copied so
 * callers may pass temporaries). */
static struct db_stmt *q_prep(struct store *s, struct store_err *e, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct db_stmt *st = q_vprep(s, e, sql, fmt, ap);
    va_end(ap);
    return st;
}

/* Re-arms a prepared statement with new arguments (loops). */
static int q_rebind(struct store *s, struct store_err *e, struct db_stmt *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = db_vrebind(st, fmt, ap);
    va_end(ap);
    if (rc < 0) {
        db_err(s, e, "bind");
        return -1;
    }
    return 0;
}

/* 1: a row, 0: done, -1: error (e filled). */
static int q_step(struct store *s, struct store_err *e, struct db_stmt *st)
{
    int rc = db_step(st);
    if (rc < 0)
        db_err(s, e, "step");
    return rc;
}

/* Runs a statement without result rows. 0 or -1. */
static int q_exec(struct store *s, struct store_err *e, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct db_stmt *st = q_vprep(s, e, sql, fmt, ap);
    va_end(ap);
    if (!st)
        return -1;
    int r = q_step(s, e, st);
    db_finalize(st);
    return r < 0 ? -1 : 0;
}

/* The first column of the first row as an integer: 1 found, 0 no row, -1 error. */
static int q_ll(struct store *s, struct store_err *e, long long *out, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct db_stmt *st = q_vprep(s, e, sql, fmt, ap);
    va_end(ap);
    if (!st)
        return -1;
    int r = q_step(s, e, st);
    if (r == 1)
        *out = db_col_ll(st, 0);
    db_finalize(st);
    return r;
}

static const char *col_text(struct db_stmt *st, int i) { return db_col_text(st, i); }

static int plain(struct store *s, struct store_err *e, const char *sql)
{
    if (db_exec(s->db, sql) < 0) {
        db_err(s, e, sql);
        return -1;
    }
    return 0;
}

static int tx_write(struct store *s, struct store_err *e)
{
    if (db_begin_write(s->db) < 0) {
        db_err(s, e, "begin");
        return -1;
    }
    return 0;
}

/* A read transaction: every SELECT inside sees one snapshot. */
static int tx_read(struct store *s, struct store_err *e)
{
    if (db_begin_read(s->db) < 0) {
        db_err(s, e, "begin");
        return -1;
    }
    return 0;
}

static int tx_commit(struct store *s, struct store_err *e)
{
    if (db_commit(s->db) < 0) {
        db_err(s, e, "commit");
        return -1;
    }
    return 0;
}

static void tx_rollback(struct store *s) { db_rollback(s->db); }

static int set_durable(struct store *s, int on) { return db_set_durable(s->db, on); }

/* ------------------------------------------------------------------ */
/* schema                                                              */

/* Portable DDL: TEXT / INTEGER / BIGINT only (sqlite takes BIGINT as
 * INTEGER), ids given explicitly by counters. */
static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS participants ("
    " emp_no TEXT PRIMARY KEY, name TEXT NOT NULL, dept TEXT NOT NULL DEFAULT '',"
    " token TEXT UNIQUE, signed_in_seq INTEGER UNIQUE, signed_in_at TEXT);"
    "CREATE TABLE IF NOT EXISTS prizes ("
    " id INTEGER PRIMARY KEY, name TEXT NOT NULL, tier INTEGER NOT NULL, quantity INTEGER NOT NULL,"
    " exclude_winners INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS draws ("
    " id INTEGER PRIMARY KEY, prize_id INTEGER NOT NULL, count INTEGER NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('open', 'done', 'cancelled', 'undone')),"
    " pool TEXT NOT NULL, pool_size INTEGER NOT NULL, pool_hash TEXT NOT NULL,"
    " seed TEXT NOT NULL, seed_hash TEXT NOT NULL, replaces TEXT,"
    " cancel_reason TEXT, undo_reason TEXT,"
    " started_at TEXT NOT NULL, stopped_at TEXT, ended_at TEXT);"
    "CREATE INDEX IF NOT EXISTS draws_state ON draws (state);"
    "CREATE TABLE IF NOT EXISTS winners ("
    " draw_id INTEGER NOT NULL, prize_id INTEGER NOT NULL, emp_no TEXT NOT NULL, position INTEGER NOT NULL,"
    " absent INTEGER NOT NULL DEFAULT 0, absent_reason TEXT, undone INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (draw_id, position));"
    "CREATE INDEX IF NOT EXISTS winners_prize ON winners (prize_id, emp_no);"
    "CREATE INDEX IF NOT EXISTS winners_emp ON winners (emp_no);"
    "CREATE TABLE IF NOT EXISTS requests (rid TEXT PRIMARY KEY, cmd TEXT NOT NULL, result TEXT NOT NULL,"
    " at TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, until_ms BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL, hash TEXT NOT NULL);"
    "INSERT INTO counters (name, value) VALUES ('prize', 0), ('draw', 0), ('signin', 0)"
    " ON CONFLICT (name) DO NOTHING;"
    "INSERT INTO settings (key, value) VALUES ('schema_version', '1') ON CONFLICT (key) DO NOTHING;";

/* The store's identity: a random id the first opener stores, everyone
 * after reads. Inside the schema transaction. */
static int init_id(struct store *s, struct store_err *e)
{
    unsigned char rnd[16];
    char fresh[33];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        set_err(e, "store_error", "getrandom: %s", strerror(errno));
        return -1;
    }
    for (int i = 0; i < 16; i++)
        snprintf(fresh + 2 * i, 3, "%02x", rnd[i]);
    if (q_exec(s, e, "INSERT INTO settings (key, value) VALUES ('store_id', ?) ON CONFLICT (key) DO NOTHING", "t",
               fresh) < 0)
        return -1;
    struct db_stmt *st = q_prep(s, e, "SELECT value FROM settings WHERE key = 'store_id'", "");
    int r = st ? q_step(s, e, st) : -1;
    if (r == 1)
        snprintf(s->id, sizeof s->id, "%s", col_text(st, 0));
    db_finalize(st);
    return r == 1 ? 0 : -1;
}

struct store *store_open(const char *url, char *err, size_t errlen)
{
    struct store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!(s->db = db_open(url, err, errlen))) {
        free(s);
        return NULL;
    }
    /* The schema under the writers' lock: processes starting together on
     * several hosts create it once. */
    struct store_err e = {0};
    if (tx_write(s, &e) < 0 || plain(s, &e, SCHEMA) < 0 || init_id(s, &e) < 0 || tx_commit(s, &e) < 0) {
        snprintf(err, errlen, "cannot initialise the store: %s", e.message);
        tx_rollback(s);
        store_close(s);
        return NULL;
    }
    return s;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    db_close(s->db);
    free(s);
}

const char *store_backend(const struct store *s) { return db_backend(s->db); }

const char *store_id(const struct store *s) { return s->id; }

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

static void now_iso(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The next id of counter `name` (prize, draw, signin); inside a write tx. */
static int next_id(struct store *s, struct store_err *e, const char *name, long long *out)
{
    if (q_exec(s, e, "UPDATE counters SET value = value + 1 WHERE name = ?", "t", name) < 0)
        return -1;
    int r = q_ll(s, e, out, "SELECT value FROM counters WHERE name = ?", "t", name);
    if (r == 0)
        set_err(e, "store_error", "counter %s is missing", name);
    return r == 1 ? 0 : -1;
}

static int valid_rid(const char *rid)
{
    size_t n = rid ? strlen(rid) : 0;
    if (n < 1 || n > STORE_MAX_RID)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = rid[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == ':' || c == '-'))
            return 0;
    }
    return 1;
}

static int len_ok(const char *t, size_t lo, size_t hi)
{
    size_t n = t ? strlen(t) : 0;
    return t && n >= lo && n <= hi;
}

/* Trims ASCII blanks and the ideographic space U+3000 from both ends;
 * returns the start and sets *len. Names typed on phones often carry them. */
static const char *trim(const char *t, size_t *len)
{
    size_t n = strlen(t);
    for (;;) {
        if (n && (t[0] == ' ' || t[0] == '\t')) {
            t++;
            n--;
        } else if (n >= 3 && memcmp(t, "\xe3\x80\x80", 3) == 0) {
            t += 3;
            n -= 3;
        } else {
            break;
        }
    }
    for (;;) {
        if (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
            n--;
        else if (n >= 3 && memcmp(t + n - 3, "\xe3\x80\x80", 3) == 0)
            n -= 3;
        else
            break;
    }
    *len = n;
    return t;
}

/* Appends an audit entry (kind and "at" are set here; entry is stolen).
 * Inside the caller's write transaction, so the entry commits with the
 * effect it describes. */
static int audit_add(struct store *s, struct store_err *e, const char *kind, json_t *entry)
{
    char at[32];
    now_iso(at);
    if (!entry || json_object_set_new(entry, "kind", json_string(kind)) < 0 ||
        json_object_set_new(entry, "at", json_string(at)) < 0) {
        json_decref(entry);
        set_err(e, "store_error", "out of memory");
        return -1;
    }
    char *text = audit_canonical(entry);
    json_decref(entry);
    if (!text) {
        set_err(e, "store_error", "cannot serialise the %s audit entry", kind);
        return -1;
    }
    long long seq = 0;
    char prev[DRAW_HEX_LEN] = AUDIT_GENESIS, hash[DRAW_HEX_LEN];
    struct db_stmt *st = q_prep(s, e, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", "");
    int r = st ? q_step(s, e, st) : -1;
    if (r == 1) {
        seq = db_col_ll(st, 0);
        snprintf(prev, sizeof prev, "%s", col_text(st, 1));
    }
    db_finalize(st);
    if (r < 0) {
        free(text);
        return -1;
    }
    audit_chain_hash(prev, text, hash);
    if (!hash[0]) {
        free(text);
        set_err(e, "store_error", "hashing failed");
        return -1;
    }
    r = q_exec(s, e, "INSERT INTO audit (seq, entry, hash) VALUES (?, ?, ?)", "ltt", seq + 1, text, hash);
    free(text);
    return r;
}

/* ------------------------------------------------------------------ */
/* reads shared by several commands                                    */

static json_t *load_event(struct store *s, struct store_err *e)
{
    json_t *ev = json_pack("{s:s, s:b, s:b}", "title", "", "openSignup", 0, "danmakuMuted", 0);
    struct db_stmt *st = q_prep(
        s, e, "SELECT key, value FROM settings WHERE key IN ('title', 'openSignup', 'danmakuMuted')", "");
    if (!ev || !st) {
        if (!ev)
            set_err(e, "store_error", "out of memory");
        db_finalize(st);
        json_decref(ev);
        return NULL;
    }
    int r;
    while ((r = q_step(s, e, st)) == 1) {
        const char *k = col_text(st, 0), *v = col_text(st, 1);
        if (strcmp(k, "title") == 0)
            json_object_set_new(ev, k, json_string(v));
        else
            json_object_set_new(ev, k, json_boolean(strcmp(v, "1") == 0));
    }
    db_finalize(st);
    if (r < 0) {
        json_decref(ev);
        return NULL;
    }
    return ev;
}

#define PRIZE_SELECT                                                                                                   \
    "SELECT p.id, p.name, p.tier, p.quantity, p.exclude_winners,"                                                   \
    " (SELECT COUNT(*) FROM winners w WHERE w.prize_id = p.id AND w.undone = 0 AND w.absent = 0)"                     \
    " FROM prizes p"

static json_t *prize_row(struct db_stmt *st)
{
    long long qty = db_col_ll(st, 3), won = db_col_ll(st, 5);
    return json_pack("{s:I, s:s, s:I, s:I, s:b, s:I, s:I}", "id", (json_int_t)db_col_ll(st, 0), "name",
                     col_text(st, 1), "tier", (json_int_t)db_col_ll(st, 2), "quantity", (json_int_t)qty,
                     "excludeWinners", (int)db_col_ll(st, 4) != 0, "won", (json_int_t)won, "remaining",
                     (json_int_t)(qty - won));
}

static json_t *load_prizes(struct store *s, struct store_err *e)
{
    json_t *arr = json_array();
    struct db_stmt *st = q_prep(s, e, PRIZE_SELECT " ORDER BY p.tier, p.id", "");
    if (!arr || !st) {
        db_finalize(st);
        json_decref(arr);
        return NULL;
    }
    int r;
    while ((r = q_step(s, e, st)) == 1) {
        if (json_array_append_new(arr, prize_row(st)) < 0) {
            set_err(e, "store_error", "out of memory");
            r = -1;
            break;
        }
    }
    db_finalize(st);
    if (r < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

/* 1 and *out, 0 (not_found set), -1. */
static int load_prize(struct store *s, struct store_err *e, long long id, json_t **out)
{
    struct db_stmt *st = q_prep(s, e, PRIZE_SELECT " WHERE p.id = ?", "l", id);
    int r = st ? q_step(s, e, st) : -1;
    if (r == 1) {
        *out = prize_row(st);
        if (!*out) {
            set_err(e, "store_error", "out of memory");
            r = -1;
        }
    } else if (r == 0) {
        set_err(e, "not_found", "no prize %lld", id);
    }
    db_finalize(st);
    return r;
}

/* {empNo,name,dept,token,won:[prize ids]} of a participant, or NULL. */
static json_t *load_me(struct store *s, struct store_err *e, const char *emp_no)
{
    struct db_stmt *st = q_prep(s, e, "SELECT name, dept, token FROM participants WHERE emp_no = ?", "t", emp_no);
    int r = st ? q_step(s, e, st) : -1;
    json_t *me = NULL;
    if (r == 1) {
        me = json_pack("{s:s, s:s, s:s, s:o?, s:[]}", "empNo", emp_no, "name", col_text(st, 0), "dept",
                       col_text(st, 1), "token",
                       db_col_null(st, 2) ? NULL : json_string(col_text(st, 2)), "won");
        if (!me)
            set_err(e, "store_error", "out of memory");
    } else if (r == 0) {
        set_err(e, "not_found", "no participant %s", emp_no);
    }
    db_finalize(st);
    if (!me)
        return NULL;
    st = q_prep(s, e,
                "SELECT prize_id FROM winners WHERE emp_no = ? AND undone = 0 AND absent = 0"
                " ORDER BY draw_id, position",
                "t", emp_no);
    json_t *won = json_object_get(me, "won");
    while (st && (r = q_step(s, e, st)) == 1)
        json_array_append_new(won, json_integer(db_col_ll(st, 0)));
    db_finalize(st);
    if (!st || r < 0) {
        json_decref(me);
        return NULL;
    }
    return me;
}

/* The open draw of §4 (with sample), from the draws row. */
static json_t *load_open_draw(struct store *s, struct store_err *e, long long id)
{
    struct db_stmt *st = q_prep(s, e,
                              "SELECT prize_id, count, pool, pool_size, pool_hash, seed_hash, replaces, started_at"
                              " FROM draws WHERE id = ?",
                              "l", id);
    int r = st ? q_step(s, e, st) : -1;
    if (r <= 0) {
        if (r == 0)
            set_err(e, "not_found", "no draw %lld", id);
        db_finalize(st);
        return NULL;
    }
    json_t *pool = json_loads(col_text(st, 2), 0, NULL);
    json_t *d = json_pack("{s:I, s:I, s:I, s:I, s:s, s:s, s:[], s:o, s:s}", "drawId", (json_int_t)id, "prizeId",
                          (json_int_t)db_col_ll(st, 0), "count", (json_int_t)db_col_ll(st, 1),
                          "poolSize", (json_int_t)db_col_ll(st, 3), "poolHash", col_text(st, 4),
                          "seedHash", col_text(st, 5), "sample", "replaces",
                          db_col_null(st, 6) ? json_null() : json_string(col_text(st, 6)),
                          "at", col_text(st, 7));
    db_finalize(st);
    if (!pool || !d) {
        set_err(e, "store_error", "draw %lld: bad pool or out of memory", id);
        json_decref(pool);
        json_decref(d);
        return NULL;
    }
    /* Up to STORE_SAMPLE names spread evenly over the (sorted) pool, so the
     * rolling animation shows the whole hall, not the first department. */
    size_t n = json_array_size(pool), m = n < STORE_SAMPLE ? n : STORE_SAMPLE;
    json_t *sample = json_object_get(d, "sample");
    st = q_prep(s, e, "SELECT name FROM participants WHERE emp_no = ?", "t", NULL);
    r = st ? 0 : -1;
    for (size_t i = 0; i < m && r >= 0; i++) {
        const char *emp = json_string_value(json_array_get(pool, i * n / m));
        if ((r = q_rebind(s, e, st, "t", emp)) < 0 || (r = q_step(s, e, st)) < 0)
            break;
        json_array_append_new(sample, json_string(r == 1 ? col_text(st, 0) : emp));
    }
    db_finalize(st);
    json_decref(pool);
    if (r < 0) {
        json_decref(d);
        return NULL;
    }
    return d;
}

/* The finished draw of §4 (winners, seed). */
static json_t *load_done_draw(struct store *s, struct store_err *e, long long id)
{
    struct db_stmt *st = q_prep(s, e,
                              "SELECT d.prize_id, COALESCE(p.name, ''), d.count, d.pool_size, d.pool_hash,"
                              " d.seed_hash, d.seed, COALESCE(d.stopped_at, d.started_at)"
                              " FROM draws d LEFT JOIN prizes p ON p.id = d.prize_id WHERE d.id = ?",
                              "l", id);
    int r = st ? q_step(s, e, st) : -1;
    if (r <= 0) {
        if (r == 0)
            set_err(e, "not_found", "no draw %lld", id);
        db_finalize(st);
        return NULL;
    }
    json_t *d = json_pack("{s:I, s:I, s:s, s:I, s:I, s:s, s:s, s:s, s:[], s:s}", "drawId", (json_int_t)id, "prizeId",
                          (json_int_t)db_col_ll(st, 0), "prizeName", col_text(st, 1), "count",
                          (json_int_t)db_col_ll(st, 2), "poolSize",
                          (json_int_t)db_col_ll(st, 3), "poolHash", col_text(st, 4), "seedHash",
                          col_text(st, 5), "seed", col_text(st, 6), "winners", "at", col_text(st, 7));
    db_finalize(st);
    if (!d) {
        set_err(e, "store_error", "out of memory");
        return NULL;
    }
    st = q_prep(s, e,
                "SELECT w.emp_no, COALESCE(p.name, ''), COALESCE(p.dept, '') FROM winners w"
                " LEFT JOIN participants p ON p.emp_no = w.emp_no WHERE w.draw_id = ? ORDER BY w.position",
                "l", id);
    json_t *ws = json_object_get(d, "winners");
    while (st && (r = q_step(s, e, st)) == 1)
        json_array_append_new(ws, json_pack("{s:s, s:s, s:s}", "empNo", col_text(st, 0), "name", col_text(st, 1),
                                            "dept", col_text(st, 2)));
    db_finalize(st);
    if (!st || r < 0) {
        json_decref(d);
        return NULL;
    }
    return d;
}

/* Id of the open draw: 1 and *id, 0 none, -1. */
static int open_draw_id(struct store *s, struct store_err *e, long long *id)
{
    return q_ll(s, e, id, "SELECT id FROM draws WHERE state = 'open' ORDER BY id LIMIT 1", "");
}

/* ------------------------------------------------------------------ */
/* idempotent admin commands                                           */

typedef json_t *cmd_fn(struct store *s, void *arg, struct store_err *e);

/* One admin command = one write transaction: look the rid up, run fn,
 * store its result with the rid, commit. A failure rolls everything back
 * and stores nothing, so the same rid may be retried. */
static json_t *run_admin(struct store *s, const char *rid, const char *cmd, int durable, cmd_fn *fn, void *arg,
                         int *replayed, struct store_err *e)
{
    int dummy;
    if (!replayed)
        replayed = &dummy;
    *replayed = 0;
    if (!valid_rid(rid)) {
        set_err(e, "bad_request", "rid must be 1-%d characters of [A-Za-z0-9_.:-]", STORE_MAX_RID);
        return NULL;
    }
    if (durable && set_durable(s, 1) < 0) {
        db_err(s, e, "PRAGMA synchronous");
        return NULL;
    }
    json_t *res = NULL;
    char *text = NULL;
    if (tx_write(s, e) < 0)
        goto out;
    struct db_stmt *st = q_prep(s, e, "SELECT cmd, result FROM requests WHERE rid = ?", "t", rid);
    int r = st ? q_step(s, e, st) : -1;
    if (r == 1) {
        if (strcmp(col_text(st, 0), cmd) != 0) {
            set_err(e, "rid_reused", "rid %s was used for %s", rid, col_text(st, 0));
        } else {
            res = json_loads(col_text(st, 1), 0, NULL);
            if (!res)
                set_err(e, "store_error", "the stored result of rid %s does not parse", rid);
            *replayed = res != NULL;
        }
    }
    db_finalize(st);
    if (r != 0) {
        tx_rollback(s); /* a replay changes nothing */
        goto out;
    }
    res = fn(s, arg, e);
    if (!res)
        goto fail;
    text = json_dumps(res, JSON_COMPACT);
    char at[32];
    now_iso(at);
    if (!text) {
        set_err(e, "store_error", "out of memory");
        goto fail;
    }
    if (q_exec(s, e, "INSERT INTO requests (rid, cmd, result, at) VALUES (?, ?, ?, ?)", "tttt", rid, cmd, text, at) <
            0 ||
        tx_commit(s, e) < 0)
        goto fail;
    goto out;
fail:
    tx_rollback(s);
    json_decref(res);
    res = NULL;
out:
    free(text);
    if (durable)
        set_durable(s, 0); /* best effort: only a durability level, never correctness */
    return res;
}

/* ---- participants.import ---- */

struct import_arg {
    const json_t *rows;
    const char *mode;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static json_t *do_import(struct store *s, void *arg, struct store_err *e)
{
    const struct import_arg *a = arg;
    int replace = 0;
    if (a->mode && strcmp(a->mode, "replace") == 0)
        replace = 1;
    else if (a->mode && strcmp(a->mode, "merge") != 0) {
        set_err(e, "bad_request", "mode must be \"merge\" or \"replace\"");
        return NULL;
    }
    size_t n = json_array_size(a->rows);
    if (!json_is_array(a->rows) || n > STORE_MAX_IMPORT_ROWS) {
        set_err(e, "bad_request", "rows must be an array of at most %d rows", STORE_MAX_IMPORT_ROWS);
        return NULL;
    }
    const char **ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) {
        set_err(e, "store_error", "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *row = json_array_get(a->rows, i), *dept = json_object_get(row, "dept");
        ids[i] = json_string_value(json_object_get(row, "empNo"));
        const char *name = json_string_value(json_object_get(row, "name"));
        if (!len_ok(ids[i], 1, STORE_MAX_EMPNO) || !len_ok(name, 1, STORE_MAX_NAME) ||
            !(dept == NULL || json_is_null(dept) || len_ok(json_string_value(dept), 0, STORE_MAX_NAME))) {
            set_err(e, "bad_request", "row %zu: empNo (1-32 bytes), name (1-64) or dept (0-64) is wrong", i + 1);
            free(ids);
            return NULL;
        }
    }
    qsort(ids, n, sizeof *ids, cmp_str);
    for (size_t i = 1; i < n; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0) {
            set_err(e, "bad_request", "empNo %s appears twice in the rows", ids[i]);
            free(ids);
            return NULL;
        }
    free(ids);

    long long x = 0;
    int r = open_draw_id(s, e, &x);
    if (r != 0) {
        if (r == 1)
            set_err(e, "draw_open", "draw %lld is open: stop or cancel it before importing", x);
        return NULL;
    }
    if (replace) {
        long long signed_in = 0, draws = 0;
        if (q_ll(s, e, &signed_in, "SELECT COUNT(*) FROM participants WHERE signed_in_seq IS NOT NULL", "") < 0 ||
            q_ll(s, e, &draws, "SELECT COUNT(*) FROM draws", "") < 0)
            return NULL;
        if (signed_in || draws) {
            set_err(e, "conflict", "replace is only possible before anyone signs in and before the first draw"
                                   " (%lld signed in, %lld draws); use merge",
                    signed_in, draws);
            return NULL;
        }
        if (q_exec(s, e, "DELETE FROM participants", "") < 0)
            return NULL;
    }
    long long added = 0, updated = 0, total = 0;
    struct db_stmt *sel = q_prep(s, e, "SELECT name, dept FROM participants WHERE emp_no = ?", "t", NULL);
    struct db_stmt *ins = q_prep(s, e, "INSERT INTO participants (emp_no, name, dept) VALUES (?, ?, ?)", "ttt", NULL,
                               NULL, NULL);
    struct db_stmt *upd = q_prep(s, e, "UPDATE participants SET name = ?, dept = ? WHERE emp_no = ?", "ttt", NULL,
                               NULL, NULL);
    r = sel && ins && upd ? 0 : -1;
    for (size_t i = 0; i < n && r >= 0; i++) {
        const json_t *row = json_array_get(a->rows, i);
        const char *emp = json_string_value(json_object_get(row, "empNo"));
        const char *name = json_string_value(json_object_get(row, "name"));
        const char *dept = json_string_value(json_object_get(row, "dept"));
        if (!dept)
            dept = "";
        if ((r = q_rebind(s, e, sel, "t", emp)) < 0 || (r = q_step(s, e, sel)) < 0)
            break;
        if (r == 0) {
            if ((r = q_rebind(s, e, ins, "ttt", emp, name, dept)) < 0 || (r = q_step(s, e, ins)) < 0)
                break;
            added++;
        } else if (strcmp(col_text(sel, 0), name) != 0 || strcmp(col_text(sel, 1), dept) != 0) {
            /* Only rows whose name or dept changes count as updated. */
            if ((r = q_rebind(s, e, upd, "ttt", name, dept, emp)) < 0 || (r = q_step(s, e, upd)) < 0)
                break;
            updated++;
        }
    }
    db_finalize(sel);
    db_finalize(ins);
    db_finalize(upd);
    if (r < 0 || q_ll(s, e, &total, "SELECT COUNT(*) FROM participants", "") < 0)
        return NULL;
    if (total > STORE_MAX_PARTICIPANTS) {
        set_err(e, "bad_request", "%lld participants would exceed the limit of %d", total, STORE_MAX_PARTICIPANTS);
        return NULL;
    }
    const char *mode = replace ? "replace" : "merge";
    if (audit_add(s, e, "import",
                  json_pack("{s:s, s:I, s:I, s:I}", "mode", mode, "added", (json_int_t)added, "updated",
                            (json_int_t)updated, "total", (json_int_t)total)) < 0)
        return NULL;
    json_t *res = json_pack("{s:I, s:I, s:I}", "added", (json_int_t)added, "updated", (json_int_t)updated, "total",
                            (json_int_t)total);
    if (!res)
        set_err(e, "store_error", "out of memory");
    return res;
}

json_t *store_import(struct store *s, const char *rid, const json_t *rows, const char *mode, int *replayed,
                     struct store_err *e)
{
    struct import_arg a = {rows, mode};
    return run_admin(s, rid, "participants.import", 0, do_import, &a, replayed, e);
}

/* ---- prize.save / prize.delete ---- */

struct prize_arg {
    long long id;
    const char *name;
    int tier, quantity, exclude;
};

static json_t *do_prize_save(struct store *s, void *arg, struct store_err *e)
{
    const struct prize_arg *a = arg;
    if (a->id < 0 || !len_ok(a->name, 1, STORE_MAX_NAME) || a->tier < 0 || a->tier > 99 || a->quantity < 1 ||
        a->quantity > STORE_MAX_COUNT) {
        set_err(e, "bad_request", "prize: name 1-64 bytes, tier 0-99, quantity 1-%d", STORE_MAX_COUNT);
        return NULL;
    }
    long long id = a->id;
    if (id == 0) {
        if (next_id(s, e, "prize", &id) < 0 ||
            q_exec(s, e, "INSERT INTO prizes (id, name, tier, quantity, exclude_winners) VALUES (?, ?, ?, ?, ?)",
                   "ltddd", id, a->name, a->tier, a->quantity, a->exclude ? 1 : 0) < 0)
            return NULL;
    } else {
        json_t *old = NULL;
        if (load_prize(s, e, id, &old) <= 0)
            return NULL;
        long long won = json_integer_value(json_object_get(old, "won")), open = 0;
        json_decref(old);
        if (q_ll(s, e, &open, "SELECT COALESCE(SUM(count), 0) FROM draws WHERE prize_id = ? AND state = 'open'", "l",
                 id) < 0)
            return NULL;
        if (a->quantity < won + open) {
            set_err(e, "conflict", "prize %lld has %lld winners and %lld seats in an open draw: quantity %d is too low",
                    id, won, open, a->quantity);
            return NULL;
        }
        if (q_exec(s, e, "UPDATE prizes SET name = ?, tier = ?, quantity = ?, exclude_winners = ? WHERE id = ?",
                   "tdddl", a->name, a->tier, a->quantity, a->exclude ? 1 : 0, id) < 0)
            return NULL;
    }
    if (audit_add(s, e, "prize.save",
                  json_pack("{s:{s:I, s:s, s:i, s:i, s:b}}", "prize", "id", (json_int_t)id, "name", a->name, "tier",
                            a->tier, "quantity", a->quantity, "excludeWinners", a->exclude ? 1 : 0)) < 0)
        return NULL;
    json_t *p = NULL;
    if (load_prize(s, e, id, &p) <= 0)
        return NULL;
    return json_pack("{s:o}", "prize", p);
}

json_t *store_prize_save(struct store *s, const char *rid, long long id, const char *name, int tier, int quantity,
                         int exclude_winners, int *replayed, struct store_err *e)
{
    struct prize_arg a = {id, name, tier, quantity, exclude_winners};
    return run_admin(s, rid, "prize.save", 0, do_prize_save, &a, replayed, e);
}

static json_t *do_prize_delete(struct store *s, void *arg, struct store_err *e)
{
    long long id = *(const long long *)arg, n = 0;
    json_t *old = NULL;
    if (load_prize(s, e, id, &old) <= 0)
        return NULL;
    json_decref(old);
    /* Absent winners and open draws count too: their record must keep its prize. */
    if (q_ll(s, e, &n,
             "SELECT (SELECT COUNT(*) FROM winners WHERE prize_id = ? AND undone = 0)"
             " + (SELECT COUNT(*) FROM draws WHERE prize_id = ? AND state = 'open')",
             "ll", id, id) < 0)
        return NULL;
    if (n > 0) {
        set_err(e, "conflict", "prize %lld has winners or an open draw", id);
        return NULL;
    }
    if (q_exec(s, e, "DELETE FROM prizes WHERE id = ?", "l", id) < 0 ||
        audit_add(s, e, "prize.delete", json_pack("{s:I}", "id", (json_int_t)id)) < 0)
        return NULL;
    return json_pack("{s:I}", "id", (json_int_t)id);
}

json_t *store_prize_delete(struct store *s, const char *rid, long long id, int *replayed, struct store_err *e)
{
    return run_admin(s, rid, "prize.delete", 0, do_prize_delete, &id, replayed, e);
}

/* ---- draws ---- */

/* The eligible pool of §8, sorted by byte value. *ids: malloc'd array of
 * malloc'd strings. 0 or -1. */
static int load_pool(struct store *s, struct store_err *e, long long prize_id, int exclude, char ***ids, size_t *n)
{
    struct db_stmt *st = q_prep(s, e,
                              "SELECT p.emp_no FROM participants p WHERE p.signed_in_seq IS NOT NULL"
                              " AND NOT EXISTS (SELECT 1 FROM winners w WHERE w.emp_no = p.emp_no"
                              "  AND w.prize_id = ? AND w.undone = 0)"
                              " AND (? = 0 OR NOT EXISTS (SELECT 1 FROM winners w2 WHERE w2.emp_no = p.emp_no"
                              "  AND w2.undone = 0 AND w2.absent = 0))",
                              "ld", prize_id, exclude ? 1 : 0);
    *ids = NULL;
    *n = 0;
    if (!st)
        return -1;
    size_t cap = 0;
    int r;
    while ((r = q_step(s, e, st)) == 1) {
        if (*n == cap) {
            if (cap >= STORE_MAX_PARTICIPANTS) {
                set_err(e, "store_error", "the pool exceeds %d people", STORE_MAX_PARTICIPANTS);
                r = -1;
                break;
            }
            cap = cap ? cap * 2 : 256;
            char **p = realloc(*ids, cap * sizeof *p);
            if (!p) {
                set_err(e, "store_error", "out of memory");
                r = -1;
                break;
            }
            *ids = p;
        }
        if (!((*ids)[*n] = strdup(col_text(st, 0)))) {
            set_err(e, "store_error", "out of memory");
            r = -1;
            break;
        }
        (*n)++;
    }
    db_finalize(st);
    if (r < 0)
        return -1;
    /* Sorted in C, not by ORDER BY: a PostgreSQL collation may not be byte order. */
    draw_sort_pool((const char **)*ids, *n);
    return 0;
}

static void free_pool(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

/* Freezes the pool and opens a draw (draw.start and winner.replace). The
 * caller holds the write transaction. Returns the open draw of §4. */
static json_t *open_draw(struct store *s, struct store_err *e, long long prize_id, int count, const char *replaces)
{
    json_t *prize = NULL;
    long long other = 0;
    int r = open_draw_id(s, e, &other);
    if (r != 0) {
        if (r == 1)
            set_err(e, "draw_open", "draw %lld is open", other);
        return NULL;
    }
    if (count < 1 || count > STORE_MAX_COUNT) {
        set_err(e, "bad_request", "count must be 1-%d", STORE_MAX_COUNT);
        return NULL;
    }
    if (load_prize(s, e, prize_id, &prize) <= 0)
        return NULL;
    long long remaining = json_integer_value(json_object_get(prize, "remaining"));
    int exclude = json_is_true(json_object_get(prize, "excludeWinners"));
    json_decref(prize);
    if (count > remaining) {
        set_err(e, "not_enough", "prize %lld has %lld seats left, %d asked", prize_id, remaining, count);
        return NULL;
    }
    char **ids = NULL;
    size_t n = 0;
    if (load_pool(s, e, prize_id, exclude, &ids, &n) < 0) {
        free_pool(ids, n);
        return NULL;
    }
    json_t *res = NULL, *pool = json_array();
    char *pool_text = NULL;
    uint8_t seed[DRAW_SEED_LEN];
    char pool_hash[DRAW_HEX_LEN], seed_hash[DRAW_HEX_LEN], seed_hex[DRAW_HEX_LEN], at[32];
    long long id = 0;
    if ((size_t)count > n) {
        set_err(e, "not_enough", "%zu people are eligible for prize %lld, %d asked", n, prize_id, count);
        goto out;
    }
    for (size_t i = 0; pool && i < n; i++)
        if (json_array_append_new(pool, json_string(ids[i])) < 0) {
            json_decref(pool);
            pool = NULL;
        }
    pool_text = pool ? json_dumps(pool, JSON_COMPACT) : NULL;
    if (!pool_text) {
        set_err(e, "store_error", "out of memory");
        goto out;
    }
    if (draw_new_seed(seed) < 0) {
        set_err(e, "store_error", "getrandom: %s", strerror(errno));
        goto out;
    }
    draw_pool_hash((const char *const *)ids, n, pool_hash);
    draw_seed_hash(seed, seed_hash);
    draw_seed_to_hex(seed, seed_hex);
    if (!pool_hash[0] || !seed_hash[0]) {
        set_err(e, "store_error", "hashing failed");
        goto out;
    }
    now_iso(at);
    if (next_id(s, e, "draw", &id) < 0 ||
        q_exec(s, e,
               "INSERT INTO draws (id, prize_id, count, state, pool, pool_size, pool_hash, seed, seed_hash, replaces,"
               " started_at) VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?)",
               "lldtlttttt", id, prize_id, count, pool_text, (long long)n, pool_hash, seed_hex, seed_hash, replaces,
               at) < 0)
        goto out;
    if (audit_add(s, e, "draw.start",
                  json_pack("{s:I, s:I, s:i, s:O, s:s, s:s, s:o}", "drawId", (json_int_t)id, "prizeId",
                            (json_int_t)prize_id, "count", count, "pool", pool, "poolHash", pool_hash, "seedHash",
                            seed_hash, "replaces", replaces ? json_string(replaces) : json_null())) < 0)
        goto out;
    res = load_open_draw(s, e, id);
out:
    explicit_bzero(seed, sizeof seed);
    free(pool_text);
    json_decref(pool);
    free_pool(ids, n);
    return res;
}

struct draw_arg {
    long long id; /* prize id (start, replace) or draw id (stop, cancel) */
    int count;
    const char *text; /* reason */
    const char *emp_no;
};

static json_t *do_draw_start(struct store *s, void *arg, struct store_err *e)
{
    const struct draw_arg *a = arg;
    json_t *d = open_draw(s, e, a->id, a->count, NULL);
    return d ? json_pack("{s:o}", "draw", d) : NULL;
}

json_t *store_draw_start(struct store *s, const char *rid, long long prize_id, int count, int *replayed,
                         struct store_err *e)
{
    struct draw_arg a = {prize_id, count, NULL, NULL};
    return run_admin(s, rid, "draw.start", 1, do_draw_start, &a, replayed, e);
}

/* 1 if draw id is open, 0 (no_open_draw / not_found set), -1. */
static int draw_is_open(struct store *s, struct store_err *e, long long id)
{
    struct db_stmt *st = q_prep(s, e, "SELECT state FROM draws WHERE id = ?", "l", id);
    int r = st ? q_step(s, e, st) : -1;
    if (r == 1 && strcmp(col_text(st, 0), "open") != 0) {
        set_err(e, "no_open_draw", "draw %lld is %s, not open", id, col_text(st, 0));
        r = 0;
    } else if (r == 0) {
        set_err(e, "not_found", "no draw %lld", id);
    }
    db_finalize(st);
    return r;
}

static json_t *do_draw_stop(struct store *s, void *arg, struct store_err *e)
{
    const struct draw_arg *a = arg;
    if (draw_is_open(s, e, a->id) <= 0)
        return NULL;
    struct db_stmt *st = q_prep(s, e, "SELECT prize_id, count, pool, seed FROM draws WHERE id = ?", "l", a->id);
    if (!st || q_step(s, e, st) != 1) {
        db_finalize(st);
        return NULL;
    }
    long long prize_id = db_col_ll(st, 0), count = db_col_ll(st, 1);
    json_t *pool = json_loads(col_text(st, 2), 0, NULL);
    uint8_t seed[DRAW_SEED_LEN];
    char seed_hex[DRAW_HEX_LEN];
    snprintf(seed_hex, sizeof seed_hex, "%s", col_text(st, 3));
    db_finalize(st);
    size_t n = json_array_size(pool);
    size_t *pos = NULL;
    json_t *winners = json_array(), *res = NULL;
    if (!pool || !winners || count < 1 || (size_t)count > n || draw_seed_from_hex(seed_hex, seed) < 0) {
        set_err(e, "store_error", "draw %lld: the stored pool or seed is damaged", a->id);
        goto out;
    }
    pos = malloc((size_t)count * sizeof *pos);
    if (!pos || draw_pick(seed, n, (size_t)count, pos) < 0) {
        set_err(e, "store_error", "draw %lld: cannot compute the winners (out of memory)", a->id);
        goto out;
    }
    st = q_prep(s, e,
                "INSERT INTO winners (draw_id, prize_id, emp_no, position, absent, undone) VALUES (?, ?, ?, ?, 0, 0)",
                "");
    int r = st ? 0 : -1;
    for (long long i = 0; i < count && r >= 0; i++) {
        const char *emp = json_string_value(json_array_get(pool, pos[i]));
        if (!emp || json_array_append_new(winners, json_string(emp)) < 0) {
            set_err(e, "store_error", "draw %lld: bad pool member", a->id);
            r = -1;
            break;
        }
        if ((r = q_rebind(s, e, st, "lltl", a->id, prize_id, emp, i + 1)) < 0 || (r = q_step(s, e, st)) < 0)
            break;
    }
    db_finalize(st);
    char at[32];
    now_iso(at);
    if (r < 0 ||
        q_exec(s, e, "UPDATE draws SET state = 'done', stopped_at = ? WHERE id = ?", "tl", at, a->id) < 0 ||
        audit_add(s, e, "draw.stop",
                  json_pack("{s:I, s:s, s:O}", "drawId", (json_int_t)a->id, "seed", seed_hex, "winners", winners)) < 0)
        goto out;
    json_t *d = load_done_draw(s, e, a->id);
    if (d)
        res = json_pack("{s:o}", "draw", d);
out:
    free(pos);
    json_decref(pool);
    json_decref(winners);
    return res;
}

json_t *store_draw_stop(struct store *s, const char *rid, long long draw_id, int *replayed, struct store_err *e)
{
    struct draw_arg a = {draw_id, 0, NULL, NULL};
    return run_admin(s, rid, "draw.stop", 1, do_draw_stop, &a, replayed, e);
}

static json_t *do_draw_cancel(struct store *s, void *arg, struct store_err *e)
{
    const struct draw_arg *a = arg;
    char at[32];
    now_iso(at);
    if (!len_ok(a->text, 1, STORE_MAX_REASON)) {
        set_err(e, "bad_request", "reason must be 1-%d bytes", STORE_MAX_REASON);
        return NULL;
    }
    if (draw_is_open(s, e, a->id) <= 0 ||
        q_exec(s, e, "UPDATE draws SET state = 'cancelled', cancel_reason = ?, ended_at = ? WHERE id = ?", "ttl",
               a->text, at, a->id) < 0 ||
        audit_add(s, e, "draw.cancel", json_pack("{s:I, s:s}", "drawId", (json_int_t)a->id, "reason", a->text)) < 0)
        return NULL;
    return json_pack("{s:I, s:s}", "drawId", (json_int_t)a->id, "reason", a->text);
}

json_t *store_draw_cancel(struct store *s, const char *rid, long long draw_id, const char *reason, int *replayed,
                          struct store_err *e)
{
    struct draw_arg a = {draw_id, 0, reason, NULL};
    return run_admin(s, rid, "draw.cancel", 1, do_draw_cancel, &a, replayed, e);
}

static json_t *do_draw_undo(struct store *s, void *arg, struct store_err *e)
{
    const struct draw_arg *a = arg;
    long long id = 0;
    char at[32];
    now_iso(at);
    if (!len_ok(a->text, 1, STORE_MAX_REASON)) {
        set_err(e, "bad_request", "reason must be 1-%d bytes", STORE_MAX_REASON);
        return NULL;
    }
    int r = open_draw_id(s, e, &id);
    if (r != 0) {
        if (r == 1)
            set_err(e, "conflict", "draw %lld is open: stop or cancel it first", id);
        return NULL;
    }
    r = q_ll(s, e, &id, "SELECT id FROM draws WHERE state = 'done' ORDER BY id DESC LIMIT 1", "");
    if (r <= 0) {
        if (r == 0)
            set_err(e, "conflict", "there is no finished draw to undo");
        return NULL;
    }
    if (q_exec(s, e, "UPDATE draws SET state = 'undone', undo_reason = ?, ended_at = ? WHERE id = ?", "ttl", a->text,
               at, id) < 0 ||
        q_exec(s, e, "UPDATE winners SET undone = 1 WHERE draw_id = ?", "l", id) < 0 ||
        audit_add(s, e, "draw.undo", json_pack("{s:I, s:s}", "drawId", (json_int_t)id, "reason", a->text)) < 0)
        return NULL;
    return json_pack("{s:I, s:s}", "drawId", (json_int_t)id, "reason", a->text);
}

json_t *store_draw_undo(struct store *s, const char *rid, const char *reason, int *replayed, struct store_err *e)
{
    struct draw_arg a = {0, 0, reason, NULL};
    return run_admin(s, rid, "draw.undo", 1, do_draw_undo, &a, replayed, e);
}

static json_t *do_winner_replace(struct store *s, void *arg, struct store_err *e)
{
    const struct draw_arg *a = arg;
    if (!len_ok(a->text, 1, STORE_MAX_REASON) || !len_ok(a->emp_no, 1, STORE_MAX_EMPNO)) {
        set_err(e, "bad_request", "empNo 1-%d bytes and reason 1-%d bytes", STORE_MAX_EMPNO, STORE_MAX_REASON);
        return NULL;
    }
    long long other = 0;
    int r = open_draw_id(s, e, &other);
    if (r != 0) {
        if (r == 1)
            set_err(e, "draw_open", "draw %lld is open", other);
        return NULL;
    }
    json_t *prize = NULL;
    if (load_prize(s, e, a->id, &prize) <= 0)
        return NULL;
    json_decref(prize);
    struct db_stmt *st = q_prep(s, e,
                              "SELECT w.draw_id, w.position, COALESCE(p.name, '') FROM winners w"
                              " LEFT JOIN participants p ON p.emp_no = w.emp_no"
                              " WHERE w.prize_id = ? AND w.emp_no = ? AND w.undone = 0 AND w.absent = 0",
                              "lt", a->id, a->emp_no);
    r = st ? q_step(s, e, st) : -1;
    long long draw_id = 0, position = 0;
    char name[STORE_MAX_NAME * 4 + 1] = "";
    if (r == 1) {
        draw_id = db_col_ll(st, 0);
        position = db_col_ll(st, 1);
        snprintf(name, sizeof name, "%s", col_text(st, 2));
    } else if (r == 0) {
        set_err(e, "not_found", "%s is not a present winner of prize %lld", a->emp_no, a->id);
    }
    db_finalize(st);
    if (r <= 0)
        return NULL;
    if (q_exec(s, e, "UPDATE winners SET absent = 1, absent_reason = ? WHERE draw_id = ? AND position = ?", "tll",
               a->text, draw_id, position) < 0 ||
        audit_add(s, e, "winner.absent",
                  json_pack("{s:I, s:s, s:I, s:s}", "prizeId", (json_int_t)a->id, "empNo", a->emp_no, "drawId",
                            (json_int_t)draw_id, "reason", a->text)) < 0)
        return NULL;
    /* Same transaction: if nobody is left to draw, the absence is not recorded either. */
    json_t *d = open_draw(s, e, a->id, 1, a->emp_no);
    if (!d)
        return NULL;
    return json_pack("{s:o, s:{s:I, s:s, s:s, s:s}}", "draw", d, "absent", "prizeId", (json_int_t)a->id, "empNo",
                     a->emp_no, "name", name, "reason", a->text);
}

json_t *store_winner_replace(struct store *s, const char *rid, long long prize_id, const char *emp_no,
                             const char *reason, int *replayed, struct store_err *e)
{
    struct draw_arg a = {prize_id, 1, reason, emp_no};
    return run_admin(s, rid, "winner.replace", 1, do_winner_replace, &a, replayed, e);
}

/* ---- event.set ---- */

static json_t *do_event_set(struct store *s, void *arg, struct store_err *e)
{
    const json_t *patch = arg;
    const json_t *title = json_object_get(patch, "title"), *open = json_object_get(patch, "openSignup"),
                 *muted = json_object_get(patch, "danmakuMuted");
    if (!json_is_object(patch) || (title && !len_ok(json_string_value(title), 0, STORE_MAX_NAME)) ||
        (open && !json_is_boolean(open)) || (muted && !json_is_boolean(muted))) {
        set_err(e, "bad_request", "title (0-64 bytes), openSignup and danmakuMuted (booleans)");
        return NULL;
    }
    static const char upsert[] =
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value";
    if ((title && q_exec(s, e, upsert, "tt", "title", json_string_value(title)) < 0) ||
        (open && q_exec(s, e, upsert, "tt", "openSignup", json_is_true(open) ? "1" : "0") < 0) ||
        (muted && q_exec(s, e, upsert, "tt", "danmakuMuted", json_is_true(muted) ? "1" : "0") < 0))
        return NULL;
    json_t *ev = load_event(s, e);
    if (!ev || audit_add(s, e, "event.set", json_pack("{s:O}", "event", ev)) < 0) {
        json_decref(ev);
        return NULL;
    }
    return json_pack("{s:o}", "event", ev);
}

json_t *store_event_set(struct store *s, const char *rid, const json_t *patch, int *replayed, struct store_err *e)
{
    return run_admin(s, rid, "event.set", 0, do_event_set, (void *)patch, replayed, e);
}

/* ------------------------------------------------------------------ */
/* phones                                                              */

json_t *store_signin(struct store *s, const char *emp_no, const char *name, int allow_open, struct store_err *e)
{
    size_t tlen = 0;
    const char *tname = name ? trim(name, &tlen) : NULL;
    if (!len_ok(emp_no, 1, STORE_MAX_EMPNO) || !tname || tlen < 1 || tlen > STORE_MAX_NAME) {
        set_err(e, "bad_request", "empNo (1-32 bytes) and name (1-64 bytes) are required");
        return NULL;
    }
    char want[STORE_MAX_NAME + 1];
    memcpy(want, tname, tlen);
    want[tlen] = '\0';
    if (tx_write(s, e) < 0)
        return NULL;
    int already = 0;
    json_t *me = NULL;
    struct db_stmt *st = q_prep(s, e, "SELECT name, token FROM participants WHERE emp_no = ?", "t", emp_no);
    int r = st ? q_step(s, e, st) : -1;
    if (r == 1) {
        size_t slen = 0;
        const char *stored = trim(col_text(st, 0), &slen);
        if (slen != tlen || memcmp(stored, want, tlen) != 0) {
            set_err(e, "name_mismatch", "the name does not match employee %s", emp_no);
            r = -1;
        }
        already = !db_col_null(st, 1);
    } else if (r == 0) {
        long long total = 0;
        if (!allow_open) {
            set_err(e, "not_found", "no employee %s", emp_no);
            r = -1;
        } else if (q_ll(s, e, &total, "SELECT COUNT(*) FROM participants", "") < 0) {
            r = -1;
        } else if (total >= STORE_MAX_PARTICIPANTS) {
            set_err(e, "conflict", "the participant limit of %d is reached", STORE_MAX_PARTICIPANTS);
            r = -1;
        }
    }
    db_finalize(st);
    if (r == 0 && q_exec(s, e, "INSERT INTO participants (emp_no, name, dept) VALUES (?, ?, '')", "tt", emp_no,
                         want) < 0)
        r = -1;
    if (r >= 0 && !already) {
        uint8_t raw[16];
        char token[33], at[32];
        long long seq = 0;
        static const char hexd[] = "0123456789abcdef";
        size_t got = 0;
        while (got < sizeof raw) {
            ssize_t g = getrandom(raw + got, sizeof raw - got, 0);
            if (g < 0 && errno != EINTR)
                break;
            got += g > 0 ? (size_t)g : 0;
        }
        for (size_t i = 0; i < sizeof raw; i++) {
            token[2 * i] = hexd[raw[i] >> 4];
            token[2 * i + 1] = hexd[raw[i] & 15];
        }
        token[32] = '\0';
        now_iso(at);
        if (got < sizeof raw) {
            set_err(e, "store_error", "getrandom: %s", strerror(errno));
            r = -1;
        } else if (next_id(s, e, "signin", &seq) < 0 ||
                   q_exec(s, e,
                          "UPDATE participants SET token = ?, signed_in_seq = ?, signed_in_at = ? WHERE emp_no = ?",
                          "tltt", token, seq, at, emp_no) < 0) {
            r = -1;
        }
    }
    if (r >= 0)
        me = load_me(s, e, emp_no);
    if (!me || tx_commit(s, e) < 0) {
        tx_rollback(s);
        json_decref(me);
        return NULL;
    }
    json_t *res = json_pack("{s:O, s:o, s:b}", "token", json_object_get(me, "token"), "me", me, "already", already);
    if (!res)
        set_err(e, "store_error", "out of memory");
    return res;
}

static int valid_token(const char *t)
{
    if (!t || strlen(t) != 32)
        return 0;
    for (int i = 0; i < 32; i++)
        if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
            return 0;
    return 1;
}

json_t *store_me(struct store *s, const char *token, struct store_err *e)
{
    if (!valid_token(token)) {
        set_err(e, "bad_token", "unknown token");
        return NULL;
    }
    if (tx_read(s, e) < 0)
        return NULL;
    struct db_stmt *st = q_prep(s, e, "SELECT emp_no FROM participants WHERE token = ?", "t", token);
    int r = st ? q_step(s, e, st) : -1;
    char emp[STORE_MAX_EMPNO * 4 + 1] = "";
    if (r == 1)
        snprintf(emp, sizeof emp, "%s", col_text(st, 0));
    else if (r == 0)
        set_err(e, "bad_token", "unknown token");
    db_finalize(st);
    json_t *me = r == 1 ? load_me(s, e, emp) : NULL;
    tx_rollback(s); /* read-only: ending it either way releases the snapshot */
    return me ? json_pack("{s:o}", "me", me) : NULL;
}

/* ------------------------------------------------------------------ */
/* reads                                                               */

static json_t *load_winners(struct store *s, struct store_err *e)
{
    json_t *arr = json_array();
    struct db_stmt *st = q_prep(s, e,
                              "SELECT w.prize_id, w.draw_id, w.emp_no, COALESCE(p.name, ''), COALESCE(p.dept, ''),"
                              " w.absent, COALESCE(d.stopped_at, '') FROM winners w"
                              " JOIN draws d ON d.id = w.draw_id"
                              " LEFT JOIN participants p ON p.emp_no = w.emp_no"
                              " WHERE w.undone = 0 ORDER BY w.draw_id, w.position",
                              "");
    int r = st && arr ? 0 : -1;
    while (r >= 0 && (r = q_step(s, e, st)) == 1)
        json_array_append_new(arr, json_pack("{s:I, s:I, s:s, s:s, s:s, s:b, s:s}", "prizeId",
                                             (json_int_t)db_col_ll(st, 0), "drawId",
                                             (json_int_t)db_col_ll(st, 1), "empNo", col_text(st, 2),
                                             "name", col_text(st, 3), "dept", col_text(st, 4), "absent",
                                             (int)db_col_ll(st, 5) != 0, "at", col_text(st, 6)));
    db_finalize(st);
    if (r < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

json_t *store_state(struct store *s, struct store_err *e)
{
    if (tx_read(s, e) < 0)
        return NULL;
    long long parts = 0, signed_in = 0, open_id = 0;
    json_t *ev = load_event(s, e), *prizes = ev ? load_prizes(s, e) : NULL;
    json_t *winners = prizes ? load_winners(s, e) : NULL, *open = NULL;
    int r = winners ? open_draw_id(s, e, &open_id) : -1;
    if (r == 1 && !(open = load_open_draw(s, e, open_id)))
        r = -1;
    if (r >= 0 && (q_ll(s, e, &parts, "SELECT COUNT(*) FROM participants", "") < 0 ||
                   q_ll(s, e, &signed_in, "SELECT COUNT(*) FROM participants WHERE signed_in_seq IS NOT NULL", "") <
                       0))
        r = -1;
    tx_rollback(s);
    json_t *res = NULL;
    if (r >= 0)
        res = json_pack("{s:O, s:I, s:I, s:O, s:O, s:O}", "event", ev, "participants", (json_int_t)parts, "signedIn",
                        (json_int_t)signed_in, "prizes", prizes, "winners", winners, "openDraw",
                        open ? open : json_null());
    json_decref(ev);
    json_decref(prizes);
    json_decref(winners);
    json_decref(open);
    if (r >= 0 && !res)
        set_err(e, "store_error", "out of memory");
    return res;
}

json_t *store_event(struct store *s, struct store_err *e)
{
    return load_event(s, e); /* one statement: its own snapshot */
}

json_t *store_prizes(struct store *s, struct store_err *e)
{
    json_t *p = load_prizes(s, e);
    return p ? json_pack("{s:o}", "prizes", p) : NULL;
}

json_t *store_signins_since(struct store *s, long long after, int limit, struct store_err *e)
{
    if (after < 0)
        after = 0;
    if (limit < 0)
        limit = 0;
    if (limit > STORE_MAX_SIGNIN_NAMES)
        limit = STORE_MAX_SIGNIN_NAMES;
    if (tx_read(s, e) < 0)
        return NULL;
    long long seq = 0, parts = 0, signed_in = 0;
    json_t *names = json_array();
    int r = names ? 0 : -1;
    if (r < 0 || q_ll(s, e, &seq, "SELECT COALESCE(MAX(signed_in_seq), 0) FROM participants", "") < 0 ||
        q_ll(s, e, &parts, "SELECT COUNT(*) FROM participants", "") < 0 ||
        q_ll(s, e, &signed_in, "SELECT COUNT(*) FROM participants WHERE signed_in_seq IS NOT NULL", "") < 0)
        r = -1;
    struct db_stmt *st = r < 0 ? NULL
                             : q_prep(s, e,
                                      "SELECT name FROM participants WHERE signed_in_seq > ?"
                                      " ORDER BY signed_in_seq DESC LIMIT ?",
                                      "ld", after, limit);
    if (!st)
        r = -1;
    /* Newest first from SQL; inserted at the front to hand them out oldest first. */
    while (r >= 0 && (r = q_step(s, e, st)) == 1)
        json_array_insert_new(names, 0, json_string(col_text(st, 0)));
    db_finalize(st);
    tx_rollback(s);
    if (r < 0) {
        json_decref(names);
        return NULL;
    }
    return json_pack("{s:I, s:I, s:I, s:o}", "seq", (json_int_t)seq, "signedIn", (json_int_t)signed_in,
                     "participants", (json_int_t)parts, "names", names);
}

/* A bounded growing buffer for the CSV. */
struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
};

static void sb_add(struct sbuf *b, const char *t, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = cap <= STORE_MAX_CSV ? realloc(b->p, cap) : NULL;
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, t, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* One CSV field (RFC 4180), with a formula guard: a field starting with
 * = + - @ (or a tab / CR) would be run by Excel as a formula, so it gets a
 * leading apostrophe (OWASP's CSV injection advice). */
static void sb_field(struct sbuf *b, const char *t, int last)
{
    char guarded = strchr("=+-@\t\r", t[0]) && t[0];
    int quote = guarded || strpbrk(t, ",\"\r\n") != NULL;
    if (quote)
        sb_add(b, "\"", 1);
    if (guarded)
        sb_add(b, "'", 1);
    for (const char *q = t; *q; q++) {
        if (*q == '"')
            sb_add(b, "\"\"", 2);
        else
            sb_add(b, q, 1);
    }
    if (quote)
        sb_add(b, "\"", 1);
    sb_add(b, last ? "\r\n" : ",", last ? 2 : 1);
}

char *store_winners_csv(struct store *s, struct store_err *e)
{
    struct sbuf b = {0};
    sb_add(&b, "\xef\xbb\xbf", 3);
    static const char *const head[] = {"prize", "tier", "empNo", "name", "dept", "drawId", "time", "status"};
    for (int i = 0; i < 8; i++)
        sb_field(&b, head[i], i == 7);
    struct db_stmt *st = q_prep(s, e,
                              "SELECT COALESCE(pr.name, ''), COALESCE(pr.tier, 0), w.emp_no, COALESCE(p.name, ''),"
                              " COALESCE(p.dept, ''), w.draw_id, COALESCE(d.stopped_at, ''), w.absent"
                              " FROM winners w JOIN draws d ON d.id = w.draw_id"
                              " LEFT JOIN prizes pr ON pr.id = w.prize_id"
                              " LEFT JOIN participants p ON p.emp_no = w.emp_no"
                              " WHERE w.undone = 0 ORDER BY w.draw_id, w.position",
                              "");
    int r = st ? 0 : -1;
    while (r >= 0 && (r = q_step(s, e, st)) == 1) {
        char tier[24], draw[24];
        snprintf(tier, sizeof tier, "%lld", (long long)db_col_ll(st, 1));
        snprintf(draw, sizeof draw, "%lld", (long long)db_col_ll(st, 5));
        sb_field(&b, col_text(st, 0), 0);
        sb_field(&b, tier, 0);
        sb_field(&b, col_text(st, 2), 0);
        sb_field(&b, col_text(st, 3), 0);
        sb_field(&b, col_text(st, 4), 0);
        sb_field(&b, draw, 0);
        sb_field(&b, col_text(st, 6), 0);
        sb_field(&b, (int)db_col_ll(st, 7) ? "absent" : "won", 1);
    }
    db_finalize(st);
    if (r >= 0 && b.failed) {
        set_err(e, "store_error", "the CSV exceeds %u bytes or memory ran out", STORE_MAX_CSV);
        r = -1;
    }
    if (r < 0) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ------------------------------------------------------------------ */
/* coordination and audit                                              */

int store_lease(struct store *s, const char *name, const char *holder, long long now_ms, long long ttl_ms)
{
    struct store_err e;
    if (!len_ok(name, 1, 64) || !len_ok(holder, 1, 128) || ttl_ms <= 0 || tx_write(s, &e) < 0)
        return -1;
    /* Take it when free, expired or already ours; otherwise leave it. */
    int r = q_exec(s, &e,
                   "INSERT INTO leases (name, holder, until_ms) VALUES (?, ?, ?)"
                   " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms"
                   " WHERE leases.holder = excluded.holder OR leases.until_ms <= ?",
                   "ttll", name, holder, now_ms + ttl_ms, now_ms);
    struct db_stmt *st = r < 0 ? NULL : q_prep(s, &e, "SELECT holder FROM leases WHERE name = ?", "t", name);
    r = st ? q_step(s, &e, st) : -1;
    int mine = r == 1 && strcmp(col_text(st, 0), holder) == 0;
    db_finalize(st);
    if (r != 1 || tx_commit(s, &e) < 0) {
        tx_rollback(s);
        return -1;
    }
    return mine;
}

int store_audit_foreach(struct store *s, store_audit_cb *cb, void *arg, struct store_err *e)
{
    if (tx_read(s, e) < 0)
        return -1;
    struct db_stmt *st = q_prep(s, e, "SELECT seq, hash, entry FROM audit ORDER BY seq", "");
    int r = st ? 0 : -1, ret = 0;
    while (r >= 0 && (r = q_step(s, e, st)) == 1) {
        long long seq = db_col_ll(st, 0);
        json_error_t je;
        json_t *entry = json_loads(col_text(st, 2), JSON_REJECT_DUPLICATES, &je);
        if (!entry) {
            set_err(e, "store_error", "audit seq %lld does not parse: %s", seq, je.text);
            r = -1;
            break;
        }
        ret = cb(seq, col_text(st, 1), entry, arg);
        json_decref(entry);
        if (ret != 0)
            break;
    }
    db_finalize(st);
    tx_rollback(s);
    return r < 0 ? -1 : ret;
}
