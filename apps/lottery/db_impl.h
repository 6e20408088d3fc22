/* db_impl: what each backend of db.h provides (db.c dispatches). */
#ifndef LOTTERY_DB_IMPL_H
#define LOTTERY_DB_IMPL_H

#include <stdarg.h>
#include <stddef.h>

#include "db.h"

struct db_ops {
    const char *name;
    void (*close)(struct db *db);
    const char *(*errmsg)(struct db *db);
    int (*exec)(struct db *db, const char *sql);
    struct db_stmt *(*prepare)(struct db *db, const char *sql, const char *fmt, va_list ap);
    int (*rebind)(struct db_stmt *st, const char *fmt, va_list ap);
    int (*step)(struct db_stmt *st);
    long long (*col_ll)(struct db_stmt *st, int i);
    const char *(*col_text)(struct db_stmt *st, int i);
    int (*col_null)(struct db_stmt *st, int i);
    void (*finalize)(struct db_stmt *st);
    int (*begin_write)(struct db *db);
    int (*begin_read)(struct db *db);
    int (*commit)(struct db *db);
    void (*rollback)(struct db *db);
    int (*set_durable)(struct db *db, int on);
};

/* Every backend's connection and statement start with these. */
struct db {
    const struct db_ops *ops;
};
struct db_stmt {
    const struct db_ops *ops;
};

struct db *db_sqlite_open(const char *path, char *err, size_t errlen);
struct db *db_pg_open(const char *url, char *err, size_t errlen);

#endif
