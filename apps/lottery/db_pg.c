/* db_pg: the shared backend, PostgreSQL through libpq (see db.h).
 *
 * For business workers on several hosts: they all use one server, and every
 * writer transaction takes the same transaction-scoped advisory lock first,
 * so commands run one at a time across hosts exactly as sqlite's write lock
 * makes them run across the processes of one host. Commits are synchronous
 * (PostgreSQL's default, never turned off here): an acknowledged command is
 * on the server's disk. A lost connection is re-established on the next
 * statement; the command that saw it failed and changed nothing (its
 * transaction died with the connection), so the page's retry with the same
 * request id is safe. */
#include "db_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

/* The advisory lock every writer takes ("lott"). */
#define DB_PG_LOCK_KEY 0x6c6f7474
#define DB_PG_MAX_PARAMS 32

struct db_pg {
    struct db base;
    PGconn *conn;
    char err[512];
};

struct db_pg_stmt {
    struct db_stmt base;
    struct db_pg *db;
    char *sql;                 /* with $n placeholders */
    int nparams;
    char *params[DB_PG_MAX_PARAMS];
    PGresult *res;             /* after the first step */
    int row, nrows;
};

static const struct db_ops pg_ops;

static struct db_pg *P(struct db *db) { return (struct db_pg *)db; }
static struct db_pg_stmt *S(struct db_stmt *st) { return (struct db_pg_stmt *)st; }

static void set_err(struct db_pg *d, const char *what, const char *msg)
{
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    snprintf(d->err, sizeof d->err, "%s: %.*s", what, (int)n, msg);
}

/* Outside a transaction, a dropped connection is re-established. */
static int alive(struct db_pg *d)
{
    if (PQstatus(d->conn) == CONNECTION_OK)
        return 0;
    PQreset(d->conn);
    if (PQstatus(d->conn) != CONNECTION_OK) {
        set_err(d, "connection lost", PQerrorMessage(d->conn));
        return -1;
    }
    return 0;
}

static int ok_status(PGresult *r)
{
    ExecStatusType s = PQresultStatus(r);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

static void p_close(struct db *db)
{
    PQfinish(P(db)->conn);
    free(db);
}

static const char *p_errmsg(struct db *db) { return P(db)->err; }

static int p_exec(struct db *db, const char *sql)
{
    struct db_pg *d = P(db);
    if (alive(d) < 0)
        return -1;
    PGresult *r = PQexec(d->conn, sql);
    int ok = ok_status(r);
    if (!ok)
        set_err(d, "query", PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

/* `?` -> $1, $2, ... outside quoted text. NULL if out of memory or over
 * DB_PG_MAX_PARAMS. */
static char *renumber(const char *sql, int *n)
{
    size_t len = strlen(sql);
    char *out = malloc(len * 3 + 1), *o = out;
    char quote = 0;
    *n = 0;
    if (!out)
        return NULL;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
            *o++ = *p;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
            *o++ = *p;
        } else if (*p == '?') {
            if (++*n > DB_PG_MAX_PARAMS) {
                free(out);
                return NULL;
            }
            o += sprintf(o, "$%d", *n);
        } else {
            *o++ = *p;
        }
    }
    *o = 0;
    return out;
}

static void clear_params(struct db_pg_stmt *s)
{
    for (int i = 0; i < DB_PG_MAX_PARAMS; i++) {
        free(s->params[i]);
        s->params[i] = NULL;
    }
}

static int bind(struct db_pg_stmt *s, const char *fmt, va_list ap)
{
    clear_params(s);
    /* Fewer arguments than placeholders leave the rest NULL (as sqlite
     * does): a statement prepared once is bound for real in a loop. */
    int n = (int)strlen(fmt);
    if (n > s->nparams) {
        snprintf(s->db->err, sizeof s->db->err, "bind: %d arguments for %d placeholders", n, s->nparams);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char num[32];
        const char *t;
        if (fmt[i] == 'd') {
            snprintf(num, sizeof num, "%d", va_arg(ap, int));
            t = num;
        } else if (fmt[i] == 'l') {
            snprintf(num, sizeof num, "%lld", va_arg(ap, long long));
            t = num;
        } else {
            t = va_arg(ap, const char *);
        }
        if (t && !(s->params[i] = strdup(t))) {
            snprintf(s->db->err, sizeof s->db->err, "bind: out of memory");
            return -1;
        }
    }
    return 0;
}

static void p_finalize(struct db_stmt *st)
{
    struct db_pg_stmt *s = S(st);
    PQclear(s->res);
    clear_params(s);
    free(s->sql);
    free(s);
}

static struct db_stmt *p_prepare(struct db *db, const char *sql, const char *fmt, va_list ap)
{
    struct db_pg_stmt *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(P(db)->err, sizeof P(db)->err, "out of memory");
        return NULL;
    }
    s->base.ops = &pg_ops;
    s->db = P(db);
    if (!(s->sql = renumber(sql, &s->nparams))) {
        snprintf(P(db)->err, sizeof P(db)->err, "prepare: out of memory or over %d parameters", DB_PG_MAX_PARAMS);
        free(s);
        return NULL;
    }
    if (bind(s, fmt, ap) < 0) {
        p_finalize(&s->base);
        return NULL;
    }
    return &s->base;
}

static int p_rebind(struct db_stmt *st, const char *fmt, va_list ap)
{
    struct db_pg_stmt *s = S(st);
    PQclear(s->res);
    s->res = NULL;
    return bind(s, fmt, ap);
}

/* The statement runs at its first step; later steps walk its rows. */
static int p_step(struct db_stmt *st)
{
    struct db_pg_stmt *s = S(st);
    if (!s->res) {
        if (alive(s->db) < 0)
            return -1;
        s->res = PQexecParams(s->db->conn, s->sql, s->nparams, NULL, (const char *const *)s->params, NULL, NULL, 0);
        if (!ok_status(s->res)) {
            set_err(s->db, "query", PQresultErrorMessage(s->res));
            PQclear(s->res);
            s->res = NULL;
            return -1;
        }
        s->row = -1;
        s->nrows = PQntuples(s->res);
    }
    if (s->row + 1 >= s->nrows) {
        s->row = s->nrows;
        return 0;
    }
    s->row++;
    return 1;
}

static long long p_col_ll(struct db_stmt *st, int i)
{
    struct db_pg_stmt *s = S(st);
    if (!s->res || s->row < 0 || s->row >= s->nrows || PQgetisnull(s->res, s->row, i))
        return 0;
    return strtoll(PQgetvalue(s->res, s->row, i), NULL, 10);
}

static const char *p_col_text(struct db_stmt *st, int i)
{
    struct db_pg_stmt *s = S(st);
    if (!s->res || s->row < 0 || s->row >= s->nrows)
        return "";
    return PQgetvalue(s->res, s->row, i); /* "" for NULL */
}

static int p_col_null(struct db_stmt *st, int i)
{
    struct db_pg_stmt *s = S(st);
    return !s->res || s->row < 0 || s->row >= s->nrows || PQgetisnull(s->res, s->row, i);
}

static int p_begin_write(struct db *db)
{
    char sql[96];
    snprintf(sql, sizeof sql, "BEGIN; SELECT pg_advisory_xact_lock(%d)", DB_PG_LOCK_KEY);
    if (p_exec(db, sql) < 0) {
        p_exec(db, "ROLLBACK");
        return -1;
    }
    return 0;
}

static int p_begin_read(struct db *db) { return p_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ"); }

static int p_commit(struct db *db)
{
    if (p_exec(db, "COMMIT") < 0) {
        p_exec(db, "ROLLBACK");
        return -1;
    }
    return 0;
}

static void p_rollback(struct db *db)
{
    if (PQtransactionStatus(P(db)->conn) != PQTRANS_IDLE) {
        PGresult *r = PQexec(P(db)->conn, "ROLLBACK");
        PQclear(r);
    }
}

static int p_set_durable(struct db *db, int on)
{
    (void)db;
    (void)on;
    return 0;
}

static const struct db_ops pg_ops = {
    "postgresql", p_close,    p_errmsg,   p_exec,        p_prepare,    p_rebind, p_step,     p_col_ll,
    p_col_text,   p_col_null, p_finalize, p_begin_write, p_begin_read, p_commit, p_rollback, p_set_durable,
};

struct db *db_pg_open(const char *url, char *err, size_t errlen)
{
    struct db_pg *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->base.ops = &pg_ops;
    d->conn = PQconnectdb(url);
    if (PQstatus(d->conn) != CONNECTION_OK) {
        /* libpq's message names the host and the reason; never the password. */
        const char *m = PQerrorMessage(d->conn);
        size_t n = strlen(m);
        while (n && m[n - 1] == '\n')
            n--;
        snprintf(err, errlen, "cannot connect to PostgreSQL: %.*s", (int)n, m);
        p_close(&d->base);
        return NULL;
    }
    /* Text in and out is UTF-8 whatever the server's default; commits wait
     * for the disk; "already exists, skipping" notices stay out of the log. */
    if (PQsetClientEncoding(d->conn, "UTF8") != 0 ||
        p_exec(&d->base, "SET synchronous_commit = on; SET client_min_messages = warning") < 0) {
        snprintf(err, errlen, "cannot set up the PostgreSQL session: %s", d->err);
        p_close(&d->base);
        return NULL;
    }
    return &d->base;
}
