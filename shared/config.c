#include "config.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
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

struct ini_ctx {
    const struct cfg_opt *opts;
    void *cfg;
    const char *role;
    char msg[320];
    int failed;
};

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

static int cfg_ini_handler(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *c = user;
    static const char *roles[] = {"register", "gateway", "business"};
    if (c->failed)
        return 1; /* only the first error is reported; inih keeps its line */
    if (strcmp(section, "app") == 0) {
        if (strcmp(c->role, "business") != 0)
            return 1;
        char why[160];
        if (set_app(c->cfg, name, value, why, sizeof why) < 0) {
            snprintf(c->msg, sizeof c->msg, "%s: %s", name, why);
            c->failed = 1;
            return 0;
        }
        return 1;
    }
    if (section[0] && strcmp(section, c->role) != 0) {
        for (int i = 0; i < 3; i++)
            if (strcmp(section, roles[i]) == 0)
                return 1;
        snprintf(c->msg, sizeof c->msg, "%s: unknown section [%s]", name, section);
        c->failed = 1;
        return 0;
    }
    if (apply(c->opts, c->cfg, name, value, c->msg, sizeof c->msg) < 0) {
        c->failed = 1;
        return 0;
    }
    return 1;
}

/* inih reads lines into a fixed buffer (INI_MAX_LINE, 200 in the packaged
 * library) and silently splits a longer line in two: the tail is parsed as a
 * line of its own and every later line number is off. This reader hands inih
 * whole lines only and stops at the first line that does not fit. */
struct line_reader {
    FILE *f;
    int lineno;   /* lines read so far */
    int too_long; /* number of the first line that did not fit, or 0 */
    int max;      /* the longest line inih takes, without its line end */
};

static char *read_line(char *str, int num, void *stream)
{
    struct line_reader *r = stream;
    if (r->too_long || !fgets(str, num, r->f))
        return NULL;
    r->lineno++;
    size_t n = strlen(str);
    if (n == (size_t)num - 1 && str[n - 1] != '\n') {
        /* The buffer is full: fine only if the line ends right here. */
        int c = getc(r->f);
        if (c == '\r') {
            int d = getc(r->f);
            c = d == '\n' || d == EOF ? '\n' : 'x';
        }
        if (c != '\n' && c != EOF) {
            r->too_long = r->lineno;
            r->max = num - 1;
            return NULL;
        }
    }
    return str;
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

int cfg_load(const struct cfg_opt *opts, void *cfg, const char *role, const char *file, int nargs,
             char *const args[], char *err, size_t errlen)
{
    struct cfg_common *common = cfg;
    if (apply_defaults(opts, cfg, err, errlen) < 0)
        return -1;
    if (file) {
        struct ini_ctx c = {.opts = opts, .cfg = cfg, .role = role};
        struct line_reader rd = {.f = fopen(file, "r")};
        if (!rd.f) {
            snprintf(err, errlen, "%s: cannot open: %s", file, strerror(errno));
            return -1;
        }
        int r = ini_parse_stream(read_line, &rd, cfg_ini_handler, &c);
        fclose(rd.f);
        if (r != 0) {
            snprintf(err, errlen, "%s:%d: %s", file, r, c.failed ? c.msg : "syntax error (expected name = value)");
            return -1;
        }
        if (rd.too_long) {
            snprintf(err, errlen, "%s:%d: line longer than %d bytes", file, rd.too_long, rd.max);
            return -1;
        }
        if (set_string(&common->config_file, file, 1) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    for (int i = 0; i < nargs; i++) {
        const char *a = args[i];
        const char *eq = strchr(a, '=');
        char name[64], why[320];
        if (strncmp(a, "--", 2) != 0 || !eq || (size_t)(eq - a - 2) >= sizeof name || eq == a + 2) {
            snprintf(err, errlen, "command line: '%s': expected --name=value", a);
            return -1;
        }
        memcpy(name, a + 2, (size_t)(eq - a - 2));
        name[eq - a - 2] = 0;
        if (strncmp(name, "app.", 4) == 0 && strcmp(role, "business") == 0) {
            if (set_app(common, name + 4, eq + 1, why, sizeof why) < 0) {
                snprintf(err, errlen, "command line: --%s: %s", name, why);
                return -1;
            }
            continue;
        }
        if (apply(opts, cfg, name, eq + 1, why, sizeof why) < 0) {
            snprintf(err, errlen, "command line: --%s", why);
            return -1;
        }
    }
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd) || set_string(&common->start_dir, cwd, 0) < 0) {
        snprintf(err, errlen, "cannot read the working directory: %s", strerror(errno));
        return -1;
    }
    /* Defaults that depend on the role. */
    char def[64];
    snprintf(def, sizeof def, "%s.pid", role);
    if (!common->pidFile && set_string(&common->pidFile, def, 1) < 0)
        return -1;
    snprintf(def, sizeof def, "%s.log", role);
    if (!common->logFile && set_string(&common->logFile, def, 1) < 0)
        return -1;
    return 0;
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
