#include "supervise.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"

/* A child that dies sooner than this after its start is restarted only this
 * long after that start, so a crash loop costs one fork per second. */
#define RESPAWN_MIN_MS 1000

struct supervise_child {
    pid_t pid;
    int64_t started_ms;
    int64_t respawn_at; /* 0: none pending */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void supervise_child_status_path(const struct cfg_common *common, int index, char *out, size_t cap)
{
    snprintf(out, cap, "%s.status.%d", common->pidFile, index);
}

static void fork_child(const struct supervise_params *p, struct supervise_child *c, int i)
{
    fflush(NULL); /* nothing buffered may be written twice */
    pid_t pid = fork();
    if (pid < 0) {
        log_error("master: cannot fork %s process %d: %s; retrying", p->role, i, strerror(errno));
        c->respawn_at = mono_ms() + RESPAWN_MIN_MS;
        return;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* exit(), not _exit(): sanitizer leak checks run in the children too. */
        exit(p->run(p->ctx, i));
    }
    c->pid = pid;
    c->started_ms = mono_ms();
    c->respawn_at = 0;
}

int supervise_write_child_status(const struct cfg_common *common, int index, const char *text)
{
    char path[1100];
    supervise_child_status_path(common, index, path, sizeof path);
    return proc_write_file(path, text);
}

/* How long the master waits for all children to answer a status request:
 * a loaded machine may take a while to schedule them. */
#define SUP_STATUS_WAIT_MS 3000

static void gather_status(const struct supervise_params *p, struct supervise_child *kids, time_t started)
{
    char path[1100], uptime[64];
    struct buf b = BUF_INIT;
    proc_format_uptime((long long)(time(NULL) - started), uptime, sizeof uptime);
    buf_printf(&b, "%s master pid %d  processes %d  uptime %s\n", p->role, (int)getpid(), p->count, uptime);
    if (p->status_header)
        p->status_header(p->ctx, &b);
    for (int i = 0; i < p->count; i++) {
        supervise_child_status_path(p->common, i, path, sizeof path);
        unlink(path);
        if (kids[i].pid > 0)
            kill(kids[i].pid, SIGUSR2);
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < p->count; i++) {
        supervise_child_status_path(p->common, i, path, sizeof path);
        FILE *f = NULL;
        /* One deadline for all: each child had the signal since the start. */
        while (kids[i].pid > 0 && !(f = fopen(path, "r"))) {
            struct timespec t;
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= SUP_STATUS_WAIT_MS)
                break;
            usleep(10000);
        }
        if (f) {
            char line[1024];
            while (fgets(line, sizeof line, f))
                buf_append_str(&b, line);
            fclose(f);
            unlink(path);
        } else {
            buf_printf(&b, "  process %d  pid %d  did not answer\n", i, (int)kids[i].pid);
        }
    }
    buf_append(&b, "", 1);
    proc_write_status(p->common, (const char *)buf_head(&b));
    buf_free(&b);
}

static void reap(const struct supervise_params *p, struct supervise_child *kids, int stopping)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
        for (int i = 0; i < p->count; i++) {
            if (kids[i].pid != pid)
                continue;
            kids[i].pid = 0;
            if (stopping)
                continue;
            if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
                log_warn("master: %s process %d (pid %d) died (%s %d); starting it again", p->role, i, (int)pid,
                         WIFSIGNALED(st) ? "signal" : "exit status", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
            if (mono_ms() - kids[i].started_ms < RESPAWN_MIN_MS)
                kids[i].respawn_at = kids[i].started_ms + RESPAWN_MIN_MS;
            else
                fork_child(p, &kids[i], i);
        }
}

int supervise_run(const struct supervise_params *p)
{
    struct supervise_child *kids = calloc((size_t)p->count, sizeof *kids);
    if (!kids) {
        log_error("master: out of memory");
        return 1;
    }
    time_t started = time(NULL);
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    for (int i = 0; i < p->count; i++)
        fork_child(p, &kids[i], i);
    log_info("master: %d %s process(es) started", p->count, p->role);
    int stopping = 0;
    for (;;) {
        int64_t now = mono_ms(), next = now + 1000;
        for (int i = 0; i < p->count && !stopping; i++) {
            if (kids[i].respawn_at && kids[i].respawn_at <= now)
                fork_child(p, &kids[i], i);
            if (kids[i].respawn_at && kids[i].respawn_at < next)
                next = kids[i].respawn_at;
        }
        int64_t wait = next - mono_ms();
        struct timespec ts = {(time_t)(wait > 0 ? wait / 1000 : 0), (long)(wait > 0 ? wait % 1000 : 0) * 1000000L};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig < 0)
            continue;
        int alive = 0;
        switch (sig) {
        case SIGCHLD:
            reap(p, kids, stopping);
            break;
        case SIGUSR2:
            gather_status(p, kids, started);
            break;
        case SIGUSR1:
            log_info("master: reload requested; passing it to the %s processes", p->role);
            for (int i = 0; i < p->count; i++)
                if (kids[i].pid > 0)
                    kill(kids[i].pid, SIGUSR1);
            break;
        default: {
            int fwd = sig == SIGQUIT ? SIGQUIT : SIGTERM;
            stopping = 1;
            log_info("master: stopping %d %s process(es)%s", p->count, p->role, fwd == SIGQUIT ? " gracefully" : "");
            for (int i = 0; i < p->count; i++)
                if (kids[i].pid > 0)
                    kill(kids[i].pid, fwd);
            break;
        }
        }
        for (int i = 0; i < p->count; i++)
            alive += kids[i].pid > 0;
        if (stopping && !alive)
            break;
    }
    free(kids);
    log_info("master: stopped");
    return 0;
}
