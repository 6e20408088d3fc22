/* proc: the Workerman-style command line shared by the three binaries.
 *
 *   BIN [-c FILE] [--name=value ...] start [-d] | stop [-g] | restart [-d] | reload | status | check
 *   BIN --version
 *
 * `start` binds the role's sockets *before* daemonizing, so a taken port or a
 * bad setting is reported on the terminal with a non-zero exit. The running
 * process holds an flock on its pid file for its whole life: that lock, not a
 * pid that may have been reused, is what "already running" means.
 *
 * Signals the role's event loop must handle (see proc_install_signals):
 * SIGTERM/SIGINT stop, SIGQUIT graceful stop, SIGUSR1 reload, SIGUSR2 write
 * status to "<pidFile>.status". */
#ifndef GW_PROC_H
#define GW_PROC_H

#include <stddef.h>

#include "config.h"

struct proc_role {
    const char *name;    /* "register", "gateway", "business" */
    const char *summary; /* one line for --help */
    const struct cfg_opt *opts;
    size_t cfg_size;     /* the role's config struct, starting with struct cfg_common */
    /* Validates cfg and binds listening sockets. Returns the role's state, or
     * NULL with a message in err. Runs in the foreground process. */
    void *(*prepare)(void *cfg, char *err, size_t errlen);
    /* Reports each bad value with cfg_problem (the `check` command; prepare
     * calls it too, so start and check agree). NULL: nothing beyond the types. */
    void (*check)(const void *cfg, struct cfg_check *chk);
    /* Serves until stopped; returns the exit status. Runs in the daemon. */
    int (*run)(void *state);
    void (*destroy)(void *state);
};

int proc_main(const struct proc_role *role, int argc, char **argv);

/* Writes text atomically to "<pidFile>.status" (for the status command). */
int proc_write_status(const struct cfg_common *c, const char *text);
/* Writes text to path whole: a temporary file renamed into place, so a
 * reader never sees half of it. 0 or -1. */
int proc_write_file(const char *path, const char *text);

/* Formats a duration like "1d 02:03:04". */
void proc_format_uptime(long long seconds, char *out, size_t cap);

#endif
