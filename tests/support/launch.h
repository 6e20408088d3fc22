/* launch: our role binaries started for a test, one way for all three.
 *
 * A role runs as `build/<role> --pidFile=DIR/TAG.pid <settings> start` in the
 * foreground, its output in DIR/TAG.out (DIR/TAG.N.out for the Nth restart, so
 * a wait for a log line never matches the previous run's). It is ready when
 * the port given accepts a connection and the line given (if any) is in its
 * output: one readiness check, bounded by a deadline, for every role. */
#ifndef GW_LAUNCH_H
#define GW_LAUNCH_H

#include <sys/types.h>

#define LAUNCH_MAX_SETTINGS 20

struct launch {
    pid_t pid;                                 /* 0 when not running */
    char role[16], tag[48], dir[96];
    char log[192], pidfile[192];
    int runs;                                  /* starts so far */
    int nset;
    char *set[LAUNCH_MAX_SETTINGS];            /* "--name=value", owned */
};

/* A fresh directory /tmp/gw-test-NAME-XXXXXX into out (cap bytes); 0 or -1. */
int launch_tmpdir(const char *name, char *out, size_t cap);

void launch_init(struct launch *p, const char *dir, const char *role, const char *tag);
/* Adds one setting, printf-formatted ("--startPort=%d"). */
void launch_set(struct launch *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Starts the process (again), output to a new log; returns its pid. */
pid_t launch_spawn(struct launch *p);
/* 0 once port (if > 0) accepts and line (if not NULL) is in the current log. */
int launch_ready(const struct launch *p, int port, const char *line, int timeout_ms);
/* launch_spawn + launch_ready. */
int launch_start(struct launch *p, int port, const char *line, int timeout_ms);
/* SIGTERM (SIGKILL after timeout_ms); 0 when it exited with status 0. */
int launch_stop(struct launch *p, int timeout_ms);
/* 1, with its wait status in *status, once the process has ended by itself
 * (a refused start); 0 while it runs. Does not wait. */
int launch_exited(struct launch *p, int *status);
/* Reaps a process that was killed from outside (kill -9 tests). */
void launch_reap(struct launch *p);
void launch_free(struct launch *p);

/* The usual members of a loopback cluster (settings only; start them with
 * launch_start and the readiness the test needs). */
void launch_register(struct launch *p, const char *dir, int port, const char *key);
void launch_gateway(struct launch *p, const char *dir, const char *tag, int ws_port, int lan_port, int reg_port,
                    const char *key);
/* A gateway of a loopback cluster and its two ports. */
struct launch_gw {
    struct launch p;
    int ws_port, lan_port;
};
/* Picks the ports that are still 0 and sets a gateway's settings (tag,
 * register port, key); more can be added with launch_set before it starts. */
void launch_gw_init(struct launch_gw *g, const char *dir, const char *tag, int reg_port, const char *key);
/* launch_gw_init + launch_spawn; its pid. Readiness is the caller's. */
pid_t launch_gw_spawn(struct launch_gw *g, const char *dir, const char *tag, int reg_port, const char *key);
/* 0 once the gateway's internal port accepts a connection: a business worker
 * or GatewayClient link can be made, and the client port, bound before it,
 * is listening too. Not that any worker has linked. */
int launch_gw_ready(const struct launch_gw *g, int timeout_ms);
/* launch_gw_spawn + launch_gw_ready: a gateway of its own for one case. */
int launch_gw_start(struct launch_gw *g, const char *dir, const char *tag, int reg_port, const char *key,
                    int timeout_ms);
/* 0 once the business processes name:0 .. name:count-1 have linked to g:
 * its current log says "business worker 127.0.0.1:name:i connected" for
 * each, each line waited for up to timeout_ms. */
int launch_gw_linked(const struct launch_gw *g, const char *name, int count, int timeout_ms);
/* launch_stop + launch_free; 0 when it exited with status 0. */
int launch_gw_stop(struct launch_gw *g, int timeout_ms);
void launch_business(struct launch *p, const char *dir, const char *tag, int reg_port, const char *app_so,
                     const char *name, int count, const char *key);

#endif
