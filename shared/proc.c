#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "version.h"

#define STOP_TIMEOUT_MS 10000
#define GRACEFUL_TIMEOUT_MS 120000

static void usage(FILE *f, const struct proc_role *role, const char *prog)
{
    fprintf(f,
            "%s - %s\n\n"
            "Usage: %s [-c FILE] [--name=value ...] COMMAND\n\n"
            "Commands:\n"
            "  start [-d]     run (in the foreground, or as a daemon with -d)\n"
            "  stop [-g]      stop the running instance (-g: gracefully) and wait until it is gone\n"
            "  restart [-d]   stop, then start\n"
            "  reload         ask the running instance to reload\n"
            "  status         show what is running\n"
            "  check          validate the configuration and exit (starts nothing): every\n"
            "                 problem as FILE:LINE: key: reason, non-zero exit if any\n\n"
            "Options: --version, -h/--help\n\n",
            prog, role->summary, prog);
    cfg_print_help(f, role->opts);
}

/* Returns the pid holding the pid file's lock, 0 if none, -1 on error. */
static pid_t running_pid(const char *pidfile)
{
    int fd = open(pidfile, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    pid_t pid = 0;
    if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
        char b[32] = {0};
        ssize_t n = pread(fd, b, sizeof b - 1, 0);
        pid = n > 0 ? (pid_t)atoi(b) : -1;
        if (pid <= 0)
            pid = -1;
    }
    close(fd);
    return pid;
}

/* Creates and locks the pid file, writes our pid. The fd stays open (and
 * locked) for the process lifetime. Returns 0 or -1 with err. */
static int take_pidfile(const char *pidfile, char *err, size_t errlen)
{
    int fd = open(pidfile, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open pid file %s: %s", pidfile, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        snprintf(err, errlen, "already running (pid file %s is locked)", pidfile);
        close(fd);
        return -1;
    }
    char b[32];
    int n = snprintf(b, sizeof b, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, b, (size_t)n, 0) != n) {
        snprintf(err, errlen, "cannot write pid file %s: %s", pidfile, strerror(errno));
        close(fd);
        return -1;
    }
    return 0;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Double fork; the original process waits on a pipe until the daemon has its
 * pid file, then exits 0, or 1 if the daemon failed first. Returns only in
 * the daemon, with *ready_fd to be signalled through proc_daemon_ready. */
static int daemonize(const char *logfile, int *ready_fd)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0) {
        close(p[1]);
        int daemon_pid = 0;
        ssize_t n = read(p[0], &daemon_pid, sizeof daemon_pid);
        if (n == (ssize_t)sizeof daemon_pid && daemon_pid > 0) {
            printf("started, pid %d\n", daemon_pid);
            exit(0);
        }
        fprintf(stderr, "start failed; see %s\n", logfile);
        exit(1);
    }
    close(p[0]);
    setsid();
    pid = fork();
    if (pid < 0)
        _exit(1);
    if (pid > 0)
        _exit(0);
    umask(022);
    if (chdir("/") < 0)
        _exit(1);
    int in = open("/dev/null", O_RDONLY);
    int out = open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in < 0 || out < 0) {
        fprintf(stderr, "cannot open log file %s: %s\n", logfile, strerror(errno));
        _exit(1);
    }
    dup2(in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
    close(in);
    close(out);
    /* Every process of the role follows logFile when logrotate moves it. */
    log_set_file(logfile);
    *ready_fd = p[1];
    return 0;
}

static int cmd_start(const struct proc_role *role, void *cfg, int daemon)
{
    struct cfg_common *c = cfg;
    char err[512];
    pid_t pid = running_pid(c->pidFile);
    if (pid > 0) {
        fprintf(stderr, "%s: already running (pid %d, pid file %s)\n", role->name, (int)pid, c->pidFile);
        return 1;
    }
    raise_nofile();
    void *state = role->prepare(cfg, err, sizeof err);
    if (!state) {
        fprintf(stderr, "%s: start failed: %s\n", role->name, err);
        return 1;
    }
    int ready_fd = -1;
    if (daemon && daemonize(c->logFile, &ready_fd) < 0) {
        fprintf(stderr, "%s: cannot daemonize: %s\n", role->name, strerror(errno));
        return 1;
    }
    if (take_pidfile(c->pidFile, err, sizeof err) < 0) {
        log_error("start failed: %s", err);
        role->destroy(state);
        return 1;
    }
    if (ready_fd >= 0) {
        int me = (int)getpid();
        ssize_t w = write(ready_fd, &me, sizeof me);
        (void)w;
        close(ready_fd);
    }
    int rc = role->run(state);
    role->destroy(state);
    unlink(c->pidFile);
    char status[1024];
    snprintf(status, sizeof status, "%s.status", c->pidFile);
    unlink(status);
    return rc;
}

/* `check`: every problem of the file and the arguments, then the role's own
 * checks of the values (the ones `start` makes, plus the files they name),
 * all as FILE:LINE: key: reason on stderr. Binds, forks and writes nothing. */
static int cmd_check(const struct proc_role *role, void *cfg, const char *file, int nsets, char **sets)
{
    int opened;
    int n = cfg_load_check(role->opts, cfg, role->name, file, nsets, sets, stderr, &opened);
    if (opened && role->check) {
        struct cfg_check chk = {.c = cfg, .out = stderr, .full = 1};
        role->check(cfg, &chk);
        n += chk.n;
    }
    const char *what = file ? file : "(no file: defaults and arguments)";
    if (n) {
        fprintf(stderr, "%s: %d problem%s\n", what, n, n == 1 ? "" : "s");
        return 1;
    }
    printf("%s: ok\n", what);
    return 0;
}

static int wait_gone(pid_t pid, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        if (kill(pid, 0) < 0 && errno == ESRCH)
            return 0;
        usleep(20000);
    }
    return kill(pid, 0) < 0 && errno == ESRCH ? 0 : -1;
}

static int cmd_stop(const struct proc_role *role, void *cfg, int graceful, int quiet_if_absent)
{
    struct cfg_common *c = cfg;
    pid_t pid = running_pid(c->pidFile);
    if (pid <= 0) {
        if (!quiet_if_absent)
            fprintf(stderr, "%s: not running (pid file %s)\n", role->name, c->pidFile);
        return quiet_if_absent ? 0 : 1;
    }
    printf("%s: stopping pid %d%s\n", role->name, (int)pid, graceful ? " gracefully" : "");
    if (kill(pid, graceful ? SIGQUIT : SIGTERM) < 0) {
        fprintf(stderr, "%s: cannot signal pid %d: %s\n", role->name, (int)pid, strerror(errno));
        return 1;
    }
    if (wait_gone(pid, graceful ? GRACEFUL_TIMEOUT_MS : STOP_TIMEOUT_MS) == 0) {
        printf("%s: stop success\n", role->name);
        return 0;
    }
    if (graceful) {
        fprintf(stderr, "%s: pid %d still running after %d s of graceful stop\n", role->name, (int)pid,
                GRACEFUL_TIMEOUT_MS / 1000);
        return 1;
    }
    fprintf(stderr, "%s: pid %d did not stop in %d s, sending SIGKILL\n", role->name, (int)pid,
            STOP_TIMEOUT_MS / 1000);
    kill(pid, SIGKILL);
    if (wait_gone(pid, 3000) == 0) {
        unlink(c->pidFile);
        printf("%s: stop success (killed)\n", role->name);
        return 0;
    }
    fprintf(stderr, "%s: stop fail\n", role->name);
    return 1;
}

static int cmd_signal(const struct proc_role *role, void *cfg, int signo, const char *what)
{
    struct cfg_common *c = cfg;
    pid_t pid = running_pid(c->pidFile);
    if (pid <= 0) {
        fprintf(stderr, "%s: not running (pid file %s)\n", role->name, c->pidFile);
        return 1;
    }
    if (kill(pid, signo) < 0) {
        fprintf(stderr, "%s: cannot signal pid %d: %s\n", role->name, (int)pid, strerror(errno));
        return 1;
    }
    printf("%s: %s sent to pid %d\n", role->name, what, (int)pid);
    return 0;
}

static int cmd_status(const struct proc_role *role, void *cfg)
{
    struct cfg_common *c = cfg;
    char path[1024];
    snprintf(path, sizeof path, "%s.status", c->pidFile);
    pid_t pid = running_pid(c->pidFile);
    if (pid <= 0) {
        fprintf(stderr, "%s: not running (pid file %s)\n", role->name, c->pidFile);
        return 1;
    }
    unlink(path);
    if (kill(pid, SIGUSR2) < 0) {
        fprintf(stderr, "%s: cannot signal pid %d: %s\n", role->name, (int)pid, strerror(errno));
        return 1;
    }
    /* The master waits up to 3 s for its children (supervise.c): wait longer. */
    for (int waited = 0; waited < 6000; waited += 20) {
        FILE *f = fopen(path, "r");
        if (f) {
            char b[4096];
            size_t n;
            while ((n = fread(b, 1, sizeof b, f)) > 0)
                fwrite(b, 1, n, stdout);
            fclose(f);
            return 0;
        }
        usleep(20000);
    }
    fprintf(stderr, "%s: pid %d did not answer the status request\n", role->name, (int)pid);
    return 1;
}

int proc_write_status(const struct cfg_common *c, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s.status", c->pidFile);
    return proc_write_file(path, text);
}

int proc_write_file(const char *path, const char *text)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fputs(text, f);
    if (fclose(f) != 0 || rename(tmp, path) < 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

void proc_format_uptime(long long s, char *out, size_t cap)
{
    snprintf(out, cap, "%lldd %02lld:%02lld:%02lld", s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
}

int proc_main(const struct proc_role *role, int argc, char **argv)
{
    const char *file = NULL, *cmd = NULL;
    int daemon = 0, graceful = 0, nsets = 0;
    char **sets = calloc((size_t)argc + 1, sizeof *sets);
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout, role, argv[0]);
            free(sets);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            gw_print_version(stdout, role->name);
            free(sets);
            return 0;
        } else if (strcmp(a, "-c") == 0) {
            if (++i == argc) {
                fprintf(stderr, "%s: -c needs a FILE\n", role->name);
                goto out;
            }
            file = argv[i];
        } else if (strcmp(a, "-d") == 0) {
            daemon = 1;
        } else if (strcmp(a, "-g") == 0) {
            graceful = 1;
        } else if (strncmp(a, "--", 2) == 0) {
            sets[nsets++] = argv[i];
        } else if (!cmd) {
            cmd = a;
        } else {
            fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", role->name, a);
            goto out;
        }
    }
    if (!cmd) {
        usage(stderr, role, argv[0]);
        goto out;
    }
    void *cfg = calloc(1, role->cfg_size);
    char err[512];
    if (strcmp(cmd, "check") == 0) {
        rc = cmd_check(role, cfg, file, nsets, sets);
    } else if (cfg_load(role->opts, cfg, role->name, file, nsets, sets, err, sizeof err) < 0) {
        fprintf(stderr, "%s: bad configuration: %s\n", role->name, err);
        rc = 1;
    } else if (strcmp(cmd, "start") == 0) {
        rc = cmd_start(role, cfg, daemon);
    } else if (strcmp(cmd, "stop") == 0) {
        rc = cmd_stop(role, cfg, graceful, 0);
    } else if (strcmp(cmd, "restart") == 0) {
        rc = cmd_stop(role, cfg, graceful, 1);
        if (rc == 0)
            rc = cmd_start(role, cfg, daemon);
    } else if (strcmp(cmd, "reload") == 0) {
        rc = cmd_signal(role, cfg, SIGUSR1, "reload");
    } else if (strcmp(cmd, "status") == 0) {
        rc = cmd_status(role, cfg);
    } else {
        fprintf(stderr, "%s: unknown command '%s' (start, stop, restart, reload, status)\n", role->name, cmd);
        rc = 2;
    }
    cfg_free(role->opts, cfg);
    free(cfg);
out:
    free(sets);
    return rc;
}
