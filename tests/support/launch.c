/* launch: see launch.h. */
#include "launch.h"

#include "tu.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int launch_tmpdir(const char *name, char *out, size_t cap)
{
    if ((size_t)snprintf(out, cap, "/tmp/gw-test-%s-XXXXXX", name) >= cap)
        return -1;
    return mkdtemp(out) ? 0 : -1;
}

void launch_init(struct launch *p, const char *dir, const char *role, const char *tag)
{
    memset(p, 0, sizeof *p);
    snprintf(p->role, sizeof p->role, "%s", role);
    snprintf(p->tag, sizeof p->tag, "%s", tag);
    snprintf(p->dir, sizeof p->dir, "%s", dir);
    snprintf(p->pidfile, sizeof p->pidfile, "%s/%s.pid", dir, tag);
    launch_set(p, "--pidFile=%s", p->pidfile);
}

void launch_set(struct launch *p, const char *fmt, ...)
{
    if (p->nset >= LAUNCH_MAX_SETTINGS) {
        fprintf(stderr, "launch: more than %d settings for %s\n", LAUNCH_MAX_SETTINGS, p->tag);
        abort();
    }
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&p->set[p->nset], fmt, ap) < 0)
        abort();
    va_end(ap);
    p->nset++;
}

pid_t launch_spawn(struct launch *p)
{
    if (p->runs == 0)
        snprintf(p->log, sizeof p->log, "%s/%s.out", p->dir, p->tag);
    else
        snprintf(p->log, sizeof p->log, "%s/%s.%d.out", p->dir, p->tag, p->runs);
    p->runs++;
    char *argv[LAUNCH_MAX_SETTINGS + 3];
    int n = 0;
    argv[n++] = tu_bin_path(p->role);
    for (int i = 0; i < p->nset; i++)
        argv[n++] = p->set[i];
    argv[n++] = "start";
    argv[n] = NULL;
    p->pid = tu_spawn(argv, p->log);
    free(argv[0]);
    return p->pid;
}

int launch_ready(const struct launch *p, int port, const char *line, int timeout_ms)
{
    long long end = tu_now_ms() + timeout_ms;
    if (port > 0) {
        int fd = tu_connect(port, timeout_ms);
        if (fd < 0) {
            fprintf(stderr, "launch: %s: port %d not accepting after %d ms (log %s)\n", p->tag, port, timeout_ms,
                    p->log);
            return -1;
        }
        tu_close(fd);
    }
    if (line) {
        int left = (int)(end - tu_now_ms());
        if (!tu_file_contains(p->log, line, left > 0 ? left : 0)) {
            fprintf(stderr, "launch: %s: no \"%s\" in %s after %d ms\n", p->tag, line, p->log, timeout_ms);
            return -1;
        }
    }
    return 0;
}

int launch_start(struct launch *p, int port, const char *line, int timeout_ms)
{
    if (launch_spawn(p) < 0)
        return -1;
    return launch_ready(p, port, line, timeout_ms);
}

int launch_stop(struct launch *p, int timeout_ms)
{
    if (p->pid <= 0)
        return -1;
    int st = tu_stop(p->pid, timeout_ms);
    p->pid = 0;
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int launch_exited(struct launch *p, int *status)
{
    if (p->pid <= 0 || waitpid(p->pid, status, WNOHANG) != p->pid)
        return 0;
    p->pid = 0;
    return 1;
}

void launch_reap(struct launch *p)
{
    if (p->pid > 0)
        waitpid(p->pid, NULL, 0);
    p->pid = 0;
}

void launch_free(struct launch *p)
{
    for (int i = 0; i < p->nset; i++)
        free(p->set[i]);
    p->nset = 0;
}

void launch_register(struct launch *p, const char *dir, int port, const char *key)
{
    launch_init(p, dir, "register", "register");
    launch_set(p, "--listen=text://127.0.0.1:%d", port);
    launch_set(p, "--secretKey=%s", key);
}

void launch_gateway(struct launch *p, const char *dir, const char *tag, int ws_port, int lan_port, int reg_port,
                    const char *key)
{
    launch_init(p, dir, "gateway", tag);
    launch_set(p, "--listen=websocket://127.0.0.1:%d", ws_port);
    launch_set(p, "--startPort=%d", lan_port);
    launch_set(p, "--registerAddress=127.0.0.1:%d", reg_port);
    launch_set(p, "--secretKey=%s", key);
    launch_set(p, "--lanIp=127.0.0.1");
}

void launch_gw_init(struct launch_gw *g, const char *dir, const char *tag, int reg_port, const char *key)
{
    if (g->ws_port <= 0)
        g->ws_port = tu_free_port();
    if (g->lan_port <= 0)
        g->lan_port = tu_free_port();
    launch_gateway(&g->p, dir, tag, g->ws_port, g->lan_port, reg_port, key);
}

pid_t launch_gw_spawn(struct launch_gw *g, const char *dir, const char *tag, int reg_port, const char *key)
{
    launch_gw_init(g, dir, tag, reg_port, key);
    return launch_spawn(&g->p);
}

int launch_gw_ready(const struct launch_gw *g, int timeout_ms)
{
    return launch_ready(&g->p, g->lan_port, NULL, timeout_ms);
}

int launch_gw_start(struct launch_gw *g, const char *dir, const char *tag, int reg_port, const char *key,
                    int timeout_ms)
{
    if (launch_gw_spawn(g, dir, tag, reg_port, key) < 0)
        return -1;
    return launch_gw_ready(g, timeout_ms);
}

int launch_gw_linked(const struct launch_gw *g, const char *name, int count, int timeout_ms)
{
    char line[128];
    for (int i = 0; i < count; i++) {
        snprintf(line, sizeof line, "business worker 127.0.0.1:%s:%d connected", name, i);
        if (launch_ready(&g->p, 0, line, timeout_ms) < 0)
            return -1;
    }
    return 0;
}

int launch_gw_stop(struct launch_gw *g, int timeout_ms)
{
    int rc = launch_stop(&g->p, timeout_ms);
    launch_free(&g->p);
    return rc;
}

void launch_business(struct launch *p, const char *dir, const char *tag, int reg_port, const char *app_so,
                     const char *name, int count, const char *key)
{
    launch_init(p, dir, "business", tag);
    launch_set(p, "--registerAddress=127.0.0.1:%d", reg_port);
    char *app = tu_bin_path(app_so);
    launch_set(p, "--eventHandler=%s", app);
    free(app);
    launch_set(p, "--secretKey=%s", key);
    launch_set(p, "--name=%s", name);
    launch_set(p, "--count=%d", count);
}
