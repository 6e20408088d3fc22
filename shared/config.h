/* config: settings from an INI file (-c FILE, parsed by inih) and from
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

/* Settings every binary has; role config structs start with this member. */
struct cfg_common {
    char *name;
    char *pidFile;
    char *logFile;
    char *config_file; /* the -c file, or NULL (not a setting) */
    char *start_dir;   /* the working directory at load time (daemons chdir to /) */
    /* The business worker's [app] section and --app.KEY=value arguments:
     * the application's own settings, passed through unchecked (the
     * application validates them). Other roles skip [app]. */
    struct cfg_kv app[CFG_MAX_APP];
    int napp;
};

/* Applies defaults, then `file` (may be NULL), then each "--name=value" in
 * args. `opts` ends with a {NULL} entry; the common options are handled too.
 * Returns 0, or -1 with "FILE:LINE: key: reason" (or "command line: ...") in err. */
int cfg_load(const struct cfg_opt *opts, void *cfg, const char *role, const char *file,
             int nargs, char *const args[], char *err, size_t errlen);
/* Frees every owned string of cfg. */
void cfg_free(const struct cfg_opt *opts, void *cfg);
/* Lists the settings with defaults and help. */
void cfg_print_help(FILE *f, const struct cfg_opt *opts);

#endif
