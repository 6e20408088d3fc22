/* db_sqlite: the embedded backend (see db.h).
 *
 * Several business processes of one host open the same file: WAL lets
 * readers run beside the one writer, BEGIN IMMEDIATE takes the write lock
 * up front (no transaction has to be retried half-way), and a busy timeout
 * waits for it. A killed process never loses a committed transaction in WAL
 * mode (the log is in the OS page cache); synchronous=FULL, which the store
 * asks for around draws, also survives a power loss. */
#include "db_impl.h"

#include <stdio.h>
#include <stdlib.h>

#include <sqlite3.h>

#define DB_SQLITE_BUSY_MS 10000

struct db_sqlite {
    struct db base;
    sqlite3 *h;
};

struct db_sqlite_stmt {
    struct db_stmt base;
    struct db_sqlite *db;
    sqlite3_stmt *st;
};

static const struct db_ops sqlite_ops;

static sqlite3 *H(struct db *db) { return ((struct db_sqlite *)db)->h; }
static struct db_sqlite_stmt *S(struct db_stmt *st) { return (struct db_sqlite_stmt *)st; }

static void s_close(struct db *db)
{
    sqlite3_close_v2(H(db));
    free(db);
}

static const char *s_errmsg(struct db *db) { return sqlite3_errmsg(H(db)); }

static int s_exec(struct db *db, const char *sql)
{
    return sqlite3_exec(H(db), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int s_bind(sqlite3_stmt *st, const char *fmt, va_list ap)
{
    int rc = SQLITE_OK;
    for (int i = 0; fmt[i] && rc == SQLITE_OK; i++) {
        if (fmt[i] == 'd') {
            rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int));
        } else if (fmt[i] == 'l') {
            rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, long long));
        } else {
            const char *t = va_arg(ap, const char *);
            rc = t ? sqlite3_bind_text(st, i + 1, t, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i + 1);
        }
    }
    return rc == SQLITE_OK ? 0 : -1;
}

static struct db_stmt *s_prepare(struct db *db, const char *sql, const char *fmt, va_list ap)
{
    struct db_sqlite_stmt *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->base.ops = &sqlite_ops;
    s->db = (struct db_sqlite *)db;
    if (sqlite3_prepare_v2(H(db), sql, -1, &s->st, NULL) != SQLITE_OK || s_bind(s->st, fmt, ap) < 0) {
        sqlite3_finalize(s->st);
        free(s);
        return NULL;
    }
    return &s->base;
}

static int s_rebind(struct db_stmt *st, const char *fmt, va_list ap)
{
    sqlite3_reset(S(st)->st);
    sqlite3_clear_bindings(S(st)->st);
    return s_bind(S(st)->st, fmt, ap);
}

static int s_step(struct db_stmt *st)
{
    int rc = sqlite3_step(S(st)->st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static long long s_col_ll(struct db_stmt *st, int i) { return sqlite3_column_int64(S(st)->st, i); }

static const char *s_col_text(struct db_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(S(st)->st, i);
    return t ? (const char *)t : "";
}

static int s_col_null(struct db_stmt *st, int i) { return sqlite3_column_type(S(st)->st, i) == SQLITE_NULL; }

static void s_finalize(struct db_stmt *st)
{
    sqlite3_finalize(S(st)->st);
    free(st);
}

static int s_begin_write(struct db *db) { return s_exec(db, "BEGIN IMMEDIATE"); }
static int s_begin_read(struct db *db) { return s_exec(db, "BEGIN"); }

static int s_commit(struct db *db)
{
    if (s_exec(db, "COMMIT") < 0) {
        if (!sqlite3_get_autocommit(H(db)))
            sqlite3_exec(H(db), "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

static void s_rollback(struct db *db)
{
    if (!sqlite3_get_autocommit(H(db)))
        sqlite3_exec(H(db), "ROLLBACK", NULL, NULL, NULL);
}

static int s_set_durable(struct db *db, int on)
{
    return s_exec(db, on ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
}

static const struct db_ops sqlite_ops = {
    "sqlite",   s_close,    s_errmsg, s_exec,      s_prepare,      s_rebind,  s_step,   s_col_ll,
    s_col_text, s_col_null, s_finalize, s_begin_write, s_begin_read, s_commit, s_rollback, s_set_durable,
};

struct db *db_sqlite_open(const char *path, char *err, size_t errlen)
{
    struct db_sqlite *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->base.ops = &sqlite_ops;
    if (sqlite3_open_v2(path, &d->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path, d->h ? sqlite3_errmsg(d->h) : "out of memory");
        sqlite3_close_v2(d->h);
        free(d);
        return NULL;
    }
    sqlite3_busy_timeout(d->h, DB_SQLITE_BUSY_MS);
    /* journal_mode answers with a row: WAL (or "memory" for ":memory:"), or
     * what the file keeps (e.g. on a file system without shared memory) —
     * that must not pass silently. Switching a new file to WAL needs its
     * exclusive lock, and sqlite answers SQLITE_BUSY at once, without the
     * busy handler, when another process switches it at the same moment
     * (business processes started together on a fresh store: seen in the
     * kill test, 2 in 600 opens of 6 processes at once): so retry until the
     * busy timeout. */
    int ok = 0, rc = SQLITE_BUSY;
    for (int waited = 0; rc == SQLITE_BUSY && waited < DB_SQLITE_BUSY_MS; waited += 20) {
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2(d->h, "PRAGMA journal_mode=WAL", -1, &st, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(st);
        ok = rc == SQLITE_ROW && sqlite3_column_text(st, 0) &&
             (sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") == 0 ||
              sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "memory") == 0);
        sqlite3_finalize(st);
        if (rc == SQLITE_BUSY)
            sqlite3_sleep(20);
    }
    if (!ok || s_exec(&d->base, "PRAGMA synchronous=NORMAL") < 0) {
        snprintf(err, errlen, "cannot use %s in WAL mode: %s", path, sqlite3_errmsg(d->h));
        s_close(&d->base);
        return NULL;
    }
    return &d->base;
}
