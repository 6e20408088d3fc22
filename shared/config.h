/* config (prefix cfg_): settings from an INI file (-c FILE, parsed by inih) and from
 * --name=value arguments, which win over the file.
 *
 * Each role describes its settings with a table of cfg_opt; values land in the
 * role's own config struct at the given offsets. Names are GatewayWorker's
 * property names where one exists. An unknown key or a bad value is an error
 * that names the file, the line and the key. Keys may stand before any section
 * or in a section named after the role ([register], [gateway], [business]);
 * sections of the other roles are skipped, so one file can serve all three.
 * [app] holds the business application's own settings (struct cfg_kv). */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "netaddr.h"

#define CFG_MAX_ADDRS 16

enum cfg_type {
    CFG_STR,      /* char * (owned, strdup'd) */
    CFG_PATH,     /* char *, made absolute at load time (daemons chdir to /) */
    CFG_INT,      /* long, within [min, max] */
    CFG_BOOL,     /* int: on/off, true/false, yes/no, 1/0 */
    CFG_LISTEN,   /* struct netaddr_listen */
    CFG_ADDRLIST, /* struct cfg_addrlist: "ip:port[,ip:port...]" */
};

struct cfg_addrlist {
    int n;
    struct netaddr_hostport a[CFG_MAX_ADDRS];
};

struct cfg_opt {
    const char *name;
    enum cfg_type type;
    size_t off;        /* offset in the role's config struct */
    const char *def;   /* default, in the same text form as the file; NULL = none */
    long min, max;     /* CFG_INT bounds */
    const char *help;
};

/* One free-form setting of the application ([app] section). */
struct cfg_kv {
    char *key;
    char *value;
};
#define CFG_MAX_APP 64
#define CFG_MAX_SET 96
#define CFG_LINE_ARG (-1) /* set on the command line */

/* Settings every binary has; role config structs start with this member. */
struct cfg_common {
    char *name;
    char *pidFile;
    char *logFile;
    char *config_file; /* the -c file, or NULL (not a setting) */
    const char *config_name; /* the -c file as given, for messages (not owned) */
    char *start_dir;   /* the working directory at load time (daemons chdir to /) */
    /* The business worker's [app] section and --app.KEY=value arguments:
     * the application's own settings, passed through unchecked (the
     * application validates them). Other roles skip [app]. */
    struct cfg_kv app[CFG_MAX_APP];
    int napp;
    /* Where each setting was last given (its line in config_file, or
     * CFG_LINE_ARG), so a later check can name the line: see cfg_problem. */
    struct {
        const char *key; /* the cfg_opt's name */
        int line;
    } set_at[CFG_MAX_SET];
    int nset;
    int section_line; /* the line of the role's [section] header, 0 if none */
};

/* The problems found in a configuration. Two modes: `out` NULL keeps the
 * first problem in err as "key: reason" (what `start` prints); `out` set
 * prints every problem there as "FILE:LINE: key: reason" (the `check`
 * command), LINE being where the key was set (the role's section header,
 * or none, for a value missing from the file). */
struct cfg_check {
    const struct cfg_common *c;
    FILE *out;
    char *err;
    size_t errlen;
    int full; /* the check command: also look at the files settings name */
    int n;    /* problems so far */
};
void cfg_problem(struct cfg_check *chk, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Applies defaults, then `file` (may be NULL), then each "--name=value" in
 * args. `opts` ends with a {NULL} entry; the common options are handled too.
 * Returns 0, or -1 with "FILE:LINE: key: reason" (or "command line: ...") in err. */
int cfg_load(const struct cfg_opt *opts, void *cfg, const char *role, const char *file,
             int nargs, char *const args[], char *err, size_t errlen);
/* The check command's load: like cfg_load, but goes on after a problem and
 * prints every one to out as "FILE:LINE: key: reason" (or "FILE: cannot
 * open: ..."; "command line: --key: reason"). Returns the number of problems;
 * *opened is 0 when the file could not be read (nothing else to look at). */
int cfg_load_check(const struct cfg_opt *opts, void *cfg, const char *role, const char *file, int nargs,
                   char *const args[], FILE *out, int *opened);
/* Frees every owned string of cfg. */
void cfg_free(const struct cfg_opt *opts, void *cfg);
/* Lists the settings with defaults and help. */
void cfg_print_help(FILE *f, const struct cfg_opt *opts);

#endif
