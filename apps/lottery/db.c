/* db: picks the backend from the URL and dispatches (see db.h). */
#include "db_impl.h"

#include <stdio.h>
#include <string.h>

struct db *db_open(const char *url, char *err, size_t errlen)
{
    if (!url || !url[0]) {
        snprintf(err, errlen, "no store URL");
        return NULL;
    }
    if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0)
        return db_pg_open(url, err, errlen);
    if (strncmp(url, "sqlite:", 7) == 0) {
        if (!url[7]) {
            snprintf(err, errlen, "store URL sqlite: has no path");
            return NULL;
        }
        return db_sqlite_open(url + 7, err, errlen);
    }
    /* A bare path is anything without a URL scheme. */
    const char *colon = strchr(url, ':'), *slash = strchr(url, '/');
    if (colon && (!slash || colon < slash)) {
        snprintf(err, errlen, "unsupported store URL %.40s (sqlite:PATH or postgresql://...)", url);
        return NULL;
    }
    return db_sqlite_open(url, err, errlen);
}

void db_close(struct db *db)
{
    if (db)
        db->ops->close(db);
}

const char *db_backend(const struct db *db) { return db->ops->name; }
const char *db_errmsg(struct db *db) { return db->ops->errmsg(db); }
int db_exec(struct db *db, const char *sql) { return db->ops->exec(db, sql); }

struct db_stmt *db_vprepare(struct db *db, const char *sql, const char *fmt, va_list ap)
{
    return db->ops->prepare(db, sql, fmt, ap);
}

int db_vrebind(struct db_stmt *st, const char *fmt, va_list ap) { return st->ops->rebind(st, fmt, ap); }
int db_step(struct db_stmt *st) { return st->ops->step(st); }
long long db_col_ll(struct db_stmt *st, int i) { return st->ops->col_ll(st, i); }
const char *db_col_text(struct db_stmt *st, int i) { return st->ops->col_text(st, i); }
int db_col_null(struct db_stmt *st, int i) { return st->ops->col_null(st, i); }

void db_finalize(struct db_stmt *st)
{
    if (st)
        st->ops->finalize(st);
}

int db_begin_write(struct db *db) { return db->ops->begin_write(db); }
int db_begin_read(struct db *db) { return db->ops->begin_read(db); }
int db_commit(struct db *db) { return db->ops->commit(db); }
void db_rollback(struct db *db) { db->ops->rollback(db); }
int db_set_durable(struct db *db, int on) { return db->ops->set_durable(db, on); }
