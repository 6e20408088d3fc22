#include "config.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const struct cfg_opt common_opts[] = {
    {"name", CFG_STR, offsetof(struct cfg_common, name), "none", 0, 0,
     "process name (part of a business worker's worker_key)"},
    {"pidFile", CFG_PATH, offsetof(struct cfg_common, pidFile), NULL, 0, 0,
     "pid file (default ./<role>.pid)"},
    {"logFile", CFG_PATH, offsetof(struct cfg_common, logFile), NULL, 0, 0,
     "log file for daemon mode (default ./<role>.log)"},
    {NULL, 0, 0, NULL, 0, 0, NULL},
};

static const struct cfg_opt *find_opt(const struct cfg_opt *opts, const char *name)
{
    for (const struct cfg_opt *o = common_opts; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    for (const struct cfg_opt *o = opts; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

static int set_string(char **slot, const char *value, int make_abs)
{
    char *v;
    if (make_abs && value[0] && value[0] != '/') {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            return -1;
        size_t n = strlen(cwd) + strlen(value) + 2;
        v = malloc(n);
        if (v)
            snprintf(v, n, "%s/%s", cwd, value);
    } else {
        v = strdup(value);
    }
    if (!v)
        return -1;
    free(*slot);
    *slot = v;
    return 0;
}

/* Stores value into cfg; returns 0 or -1 with the reason in err. */
static int set_value(const struct cfg_opt *o, void *cfg, const char *value, char *err, size_t errlen)
{
    char *slot = (char *)cfg + o->off;
    switch (o->type) {
    case CFG_STR:
    case CFG_PATH:
        if (set_string((char **)slot, value, o->type == CFG_PATH) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        return 0;
    case CFG_INT: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end) {
            snprintf(err, errlen, "'%s' is not an integer", value);
            return -1;
        }
        if (v < o->min || v > o->max) {
            snprintf(err, errlen, "%ld is out of range %ld..%ld", v, o->min, o->max);
            return -1;
        }
        *(long *)slot = v;
        return 0;
    }
    case CFG_BOOL: {
        static const char *yes[] = {"on", "true", "yes", "1"}, *no[] = {"off", "false", "no", "0"};
        for (int i = 0; i < 4; i++) {
            if (strcasecmp(value, yes[i]) == 0) {
                *(int *)slot = 1;
                return 0;
            }
            if (strcasecmp(value, no[i]) == 0) {
                *(int *)slot = 0;
                return 0;
            }
        }
        snprintf(err, errlen, "'%s' is not on/off", value);
        return -1;
    }
    case CFG_LISTEN: {
        char why[128];
        if (netaddr_parse_listen(value, (struct netaddr_listen *)slot, why, sizeof why) < 0) {
            snprintf(err, errlen, "'%s': %s", value, why);
            return -1;
        }
        return 0;
    }
    case CFG_ADDRLIST: {
        struct cfg_addrlist *l = (struct cfg_addrlist *)slot;
        char why[160];
        int n = netaddr_parse_list(value, l->a, CFG_MAX_ADDRS, why, sizeof why);
        if (n < 0) {
            snprintf(err, errlen, "%s", why);
            return -1;
        }
        l->n = n;
        return 0;
    }
    }
    snprintf(err, errlen, "internal: bad option type");
    return -1;
}

static int apply(const struct cfg_opt *opts, void *cfg, const char *name, const char *value, char *err,
                 size_t errlen)
{
    const struct cfg_opt *o = find_opt(opts, name);
    char why[256];
    if (!o) {
        snprintf(err, errlen, "%s: unknown setting", name);
        return -1;
    }
    if (set_value(o, cfg, value, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: %s", name, why);
        return -1;
    }
    return 0;
}

/* Sets (or replaces) an application setting. 0, or -1 with the reason
 * (without the key) in err. */
static int set_app(struct cfg_common *common, const char *key, const char *value, char *err, size_t errlen)
{
    if (!key[0] || strlen(key) > 64) {
        snprintf(err, errlen, "an application setting's name is 1 to 64 bytes");
        return -1;
    }
    int i = 0;
    while (i < common->napp && strcmp(common->app[i].key, key) != 0)
        i++;
    if (i == CFG_MAX_APP) {
        snprintf(err, errlen, "more than %d application settings", CFG_MAX_APP);
        return -1;
    }
    char *v = strdup(value), *k = i == common->napp ? strdup(key) : NULL;
    if (!v || (i == common->napp && !k)) {
        free(v);
        free(k);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (i == common->napp) {
        common->app[i].key = k;
        common->napp++;
    } else {
        free(common->app[i].value);
    }
    common->app[i].value = v;
    return 0;
}

/* Where problems go while loading: the first kept in err (cfg_load), or
 * every one printed to out (cfg_load_check). */
struct report {
    FILE *out;
    char *err;
    size_t errlen;
    int n;
};

static void report(struct report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(struct report *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (r->out) {
        vfprintf(r->out, fmt, ap);
        fputc('\n', r->out);
    } else if (r->n == 0) {
        vsnprintf(r->err, r->errlen, fmt, ap);
    }
    va_end(ap);
    r->n++;
}

/* Remembers where a setting was given, for cfg_problem. */
static void note_line(struct cfg_common *c, const char *key, int line)
{
    int i = 0;
    while (i < c->nset && strcmp(c->set_at[i].key, key) != 0)
        i++;
    if (i == CFG_MAX_SET)
        return;
    if (i == c->nset) {
        c->set_at[i].key = key;
        c->nset++;
    }
    c->set_at[i].line = line;
}

/* inih reads lines into a fixed buffer (INI_MAX_LINE, 200 in the packaged
 * library) and silently splits a longer line in two: the tail is parsed as a
 * line of its own and every later line number is off. This reader hands inih
 * whole lines only: a longer one is reported at its own line and handed over
 * as an empty line, so the lines after it keep their numbers.
 *
 * The packaged inih returns only the first line it could not parse, so the
 * reader also tells a line inih rejected from one it took: a line for which
 * the handler was not called must be blank, a comment or a [section]. */
struct ini_ctx {
    const struct cfg_opt *opts;
    void *cfg;
    const char *role;
    const char *file;
    struct report *rep;
    FILE *f;
    int lineno;       /* lines read so far */
    int handled;      /* the last line the handler was called for */
    char prev[256];   /* the line before, to classify once inih is done with it */
};

static void check_unhandled(struct ini_ctx *c)
{
    if (c->lineno == 0 || c->handled == c->lineno)
        return;
    const char *s = c->prev;
    if (c->lineno == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3; /* inih skips a UTF-8 byte order mark */
    s += strspn(s, " \t\r\n\f\v");
    if (!*s || *s == ';' || *s == '#')
        return;
    if (*s == '[') {
        const char *e = strchr(s, ']');
        if (e) {
            struct cfg_common *common = c->cfg;
            size_t n = strlen(c->role);
            if (!common->section_line && (size_t)(e - s - 1) == n && strncmp(s + 1, c->role, n) == 0)
                common->section_line = c->lineno;
            return;
        }
    }
    report(c->rep, "%s:%d: syntax error (expected name = value)", c->file, c->lineno);
}

static char *read_line(char *str, int num, void *stream)
{
    struct ini_ctx *c = stream;
    check_unhandled(c);
    if (!fgets(str, num, c->f))
        return NULL;
    c->lineno++;
    size_t n = strlen(str);
    if (n == (size_t)num - 1 && str[n - 1] != '\n') {
        /* The buffer is full: fine only if the line ends right here. */
        int ch = getc(c->f);
        if (ch == '\r') {
            int d = getc(c->f);
            ch = d == '\n' || d == EOF ? '\n' : 'x';
        }
        if (ch != '\n' && ch != EOF) {
            report(c->rep, "%s:%d: line longer than %d bytes", c->file, c->lineno, num - 1);
            while (ch != '\n' && ch != EOF)
                ch = getc(c->f);
            c->handled = c->lineno; /* reported */
            snprintf(str, (size_t)num, "\n");
        }
    }
    snprintf(c->prev, sizeof c->prev, "%s", str);
    return str;
}

static int cfg_ini_handler(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *c = user;
    static const char *roles[] = {"register", "gateway", "business"};
    char why[320];
    c->handled = c->lineno;
    if (strcmp(section, "app") == 0) {
        if (strcmp(c->role, "business") != 0)
            return 1;
        if (set_app(c->cfg, name, value, why, sizeof why) < 0) {
            report(c->rep, "%s:%d: %s: %s", c->file, c->lineno, name, why);
            return 0;
        }
        return 1;
    }
    if (section[0] && strcmp(section, c->role) != 0) {
        for (int i = 0; i < 3; i++)
            if (strcmp(section, roles[i]) == 0)
                return 1;
        report(c->rep, "%s:%d: %s: unknown section [%s]", c->file, c->lineno, name, section);
        return 0;
    }
    if (apply(c->opts, c->cfg, name, value, why, sizeof why) < 0) {
        report(c->rep, "%s:%d: %s", c->file, c->lineno, why);
        return 0;
    }
    note_line(c->cfg, find_opt(c->opts, name)->name, c->lineno);
    return 1;
}

static int apply_defaults(const struct cfg_opt *opts, void *cfg, char *err, size_t errlen)
{
    const struct cfg_opt *tables[] = {common_opts, opts};
    for (int t = 0; t < 2; t++)
        for (const struct cfg_opt *o = tables[t]; o->name; o++)
            if (o->def && apply(opts, cfg, o->name, o->def, err, errlen) < 0)
                return -1;
    return 0;
}

/* Defaults, the file, the arguments: every problem goes to rep. Returns -1
 * when the file cannot be read, else 0. */
static int load(const struct cfg_opt *opts, void *cfg, const char *role, const char *file, int nargs,
                char *const args[], struct report *rep)
{
    struct cfg_common *common = cfg;
    char why[320];
    if (apply_defaults(opts, cfg, why, sizeof why) < 0) {
        report(rep, "%s", why);
        return 0;
    }
    if (file) {
        struct ini_ctx c = {.opts = opts, .cfg = cfg, .role = role, .file = file, .rep = rep};
        c.f = fopen(file, "r");
        if (!c.f) {
            report(rep, "%s: cannot open: %s", file, strerror(errno));
            return -1;
        }
        int before = rep->n;
        int r = ini_parse_stream(read_line, &c, cfg_ini_handler, &c);
        int read_error = ferror(c.f);
        fclose(c.f);
        if (read_error)
            report(rep, "%s: cannot read: %s", file, strerror(errno));
        else if (r != 0 && rep->n == before) /* inih saw what the reader did not */
            report(rep, "%s:%d: syntax error (expected name = value)", file, r);
        if (set_string(&common->config_file, file, 1) < 0)
            report(rep, "out of memory");
        common->config_name = file;
    }
    for (int i = 0; i < nargs; i++) {
        const char *a = args[i];
        const char *eq = strchr(a, '=');
        char name[64];
        if (strncmp(a, "--", 2) != 0 || !eq || (size_t)(eq - a - 2) >= sizeof name || eq == a + 2) {
            report(rep, "command line: '%s': expected --name=value", a);
            continue;
        }
        memcpy(name, a + 2, (size_t)(eq - a - 2));
        name[eq - a - 2] = 0;
        if (strncmp(name, "app.", 4) == 0 && strcmp(role, "business") == 0) {
            if (set_app(common, name + 4, eq + 1, why, sizeof why) < 0)
                report(rep, "command line: --%s: %s", name, why);
            continue;
        }
        if (apply(opts, cfg, name, eq + 1, why, sizeof why) < 0) {
            report(rep, "command line: --%s", why);
            continue;
        }
        note_line(common, find_opt(opts, name)->name, CFG_LINE_ARG);
    }
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd) || set_string(&common->start_dir, cwd, 0) < 0) {
        report(rep, "cannot read the working directory: %s", strerror(errno));
        return 0;
    }
    /* Defaults that depend on the role. */
    char def[64];
    snprintf(def, sizeof def, "%s.pid", role);
    if (!common->pidFile && set_string(&common->pidFile, def, 1) < 0)
        report(rep, "out of memory");
    snprintf(def, sizeof def, "%s.log", role);
    if (!common->logFile && set_string(&common->logFile, def, 1) < 0)
        report(rep, "out of memory");
    return 0;
}

int cfg_load(const struct cfg_opt *opts, void *cfg, const char *role, const char *file, int nargs,
             char *const args[], char *err, size_t errlen)
{
    struct report rep = {.err = err, .errlen = errlen};
    load(opts, cfg, role, file, nargs, args, &rep);
    return rep.n ? -1 : 0;
}

int cfg_load_check(const struct cfg_opt *opts, void *cfg, const char *role, const char *file, int nargs,
                   char *const args[], FILE *out, int *opened)
{
    struct report rep = {.out = out};
    *opened = load(opts, cfg, role, file, nargs, args, &rep) == 0;
    return rep.n;
}

void cfg_problem(struct cfg_check *chk, const char *key, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    chk->n++;
    if (!chk->out) {
        if (chk->n == 1)
            snprintf(chk->err, chk->errlen, "%s: %s", key, why);
        return;
    }
    const struct cfg_common *c = chk->c;
    int line = 0;
    for (int i = 0; i < c->nset; i++)
        if (strcmp(c->set_at[i].key, key) == 0)
            line = c->set_at[i].line;
    const char *file = c->config_name;
    if (line == CFG_LINE_ARG)
        fprintf(chk->out, "command line: --%s: %s\n", key, why);
    else if (file && (line || c->section_line))
        fprintf(chk->out, "%s:%d: %s: %s\n", file, line ? line : c->section_line, key, why);
    else if (file)
        fprintf(chk->out, "%s: %s: %s\n", file, key, why);
    else
        fprintf(chk->out, "%s: %s\n", key, why);
}

void cfg_free(const struct cfg_opt *opts, void *cfg)
{
    const struct cfg_opt *tables[] = {common_opts, opts};
    for (int t = 0; t < 2; t++)
        for (const struct cfg_opt *o = tables[t]; o->name; o++)
            if (o->type == CFG_STR || o->type == CFG_PATH) {
                char **slot = (char **)((char *)cfg + o->off);
                free(*slot);
                *slot = NULL;
            }
    struct cfg_common *common = cfg;
    free(common->config_file);
    common->config_file = NULL;
    free(common->start_dir);
    common->start_dir = NULL;
    for (int i = 0; i < common->napp; i++) {
        free(common->app[i].key);
        free(common->app[i].value);
    }
    common->napp = 0;
}

void cfg_print_help(FILE *f, const struct cfg_opt *opts)
{
    const struct cfg_opt *tables[] = {opts, common_opts};
    fprintf(f, "Settings (in the -c FILE as name = value, or as --name=value):\n");
    for (int t = 0; t < 2; t++)
        for (const struct cfg_opt *o = tables[t]; o->name; o++)
            fprintf(f, "  %-24s %s%s%s%s\n", o->name, o->help, o->def ? " [default: " : "",
                    o->def ? (o->def[0] ? o->def : "\"\"") : "", o->def ? "]" : "");
}
