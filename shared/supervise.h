/* supervise: the master of a role that runs `count` worker processes
 * (Workerman's model, used by the gateway and the business worker).
 *
 * The master forks one child per index, starts again any child that dies
 * (each keeps its index, so a gateway keeps its internal port), and relays
 * the command line's signals: SIGTERM/SIGINT stop, SIGQUIT graceful stop,
 * SIGUSR1 reload, SIGUSR2 status (each child writes "<pidFile>.status.<i>",
 * the master gathers them into "<pidFile>.status"). */
#ifndef GW_SUPERVISE_H
#define GW_SUPERVISE_H

#include "buf.h"
#include "config.h"

struct supervise_params {
    const char *role;                 /* for log lines */
    int count;
    const struct cfg_common *common;  /* pidFile: where status files go */
    /* In the forked child (signals unblocked): serve as process `index`;
     * the return value is the child's exit status. */
    int (*run)(void *ctx, int index);
    /* First lines of the status output (may be NULL). */
    void (*status_header)(void *ctx, struct buf *out);
    void *ctx;
};

/* Runs the master until every child is gone after a stop. Returns 0. */
int supervise_run(const struct supervise_params *p);

/* For a child: the path of its own status file. */
void supervise_child_status_path(const struct cfg_common *common, int index, char *out, size_t cap);
/* For a child answering SIGUSR2: writes its status lines whole (a temporary
 * file renamed into place, so the master never reads half a file). 0 or -1. */
int supervise_write_child_status(const struct cfg_common *common, int index, const char *text);

#endif
