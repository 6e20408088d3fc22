/* db: the two SQL backends of the lottery's store behind one small API.
 *
 * store.c writes portable SQL with `?` placeholders; this layer runs it on
 * sqlite3 (the embedded default, one file shared by the processes of one
 * host) or on PostgreSQL through libpq (one server shared by business
 * workers on several hosts), which gets the placeholders renumbered to $n.
 * Values travel as text or 64-bit integers; that is all the store needs.
 *
 * Transactions: db_begin_write() serialises every writer of the store —
 * sqlite: BEGIN IMMEDIATE (the file's write lock, with a busy timeout);
 * PostgreSQL: BEGIN + pg_advisory_xact_lock on one key (every writer on
 * every host queues there), so both backends give the same guarantee: one
 * command at a time, each seeing the previous one's effects.
 * db_begin_read() gives one snapshot for several SELECTs. */
#ifndef LOTTERY_DB_H
#define LOTTERY_DB_H

#include <stdarg.h>
#include <stddef.h>

struct db;
struct db_stmt;

/* "sqlite:PATH" (or a bare PATH), "postgresql://..." / "postgres://...".
 * NULL with the reason in err. */
struct db *db_open(const char *url, char *err, size_t errlen);
void db_close(struct db *db);
/* "sqlite" or "postgresql". */
const char *db_backend(const struct db *db);
/* The last error's text (valid until the next call). */
const char *db_errmsg(struct db *db);

/* Runs SQL text of one or more statements without parameters (schema,
 * transaction control). 0 or -1. */
int db_exec(struct db *db, const char *sql);

/* A statement with its arguments bound: fmt has one letter per `?`:
 * 'd' int, 'l' long long, 't' const char * (NULL is SQL NULL; copied).
 * NULL on failure (db_errmsg says why). */
struct db_stmt *db_vprepare(struct db *db, const char *sql, const char *fmt, va_list ap);
/* Binds new arguments (same fmt rules) and rewinds, for loops. 0 or -1. */
int db_vrebind(struct db_stmt *st, const char *fmt, va_list ap);
/* The next row: 1, 0 when done, -1 on error. */
int db_step(struct db_stmt *st);
long long db_col_ll(struct db_stmt *st, int i);
/* Text of column i ("" for NULL); valid until the next step or finalize. */
const char *db_col_text(struct db_stmt *st, int i);
int db_col_null(struct db_stmt *st, int i);
void db_finalize(struct db_stmt *st);

int db_begin_write(struct db *db);
int db_begin_read(struct db *db);
int db_commit(struct db *db);
/* Rolls back the open transaction, if any. */
void db_rollback(struct db *db);
/* sqlite: synchronous=FULL (on) or NORMAL (off) for what follows;
 * PostgreSQL commits are always synchronous (a no-op). 0 or -1. */
int db_set_durable(struct db *db, int on);

#endif
