#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *log_role = "gw";
static enum log_level log_min = LOG_INFO;

/* Rotation (see log.h). A fixed buffer, not malloc: the state is inherited by
 * every forked child and lives as long as the process. */
static char log_path[4096];
static int64_t reopen_interval_ms = 1000;
static int64_t last_check_ms;
static int reopen_failing; /* a failure was reported; quiet until a success */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void log_init(const char *role, enum log_level min)
{
    log_role = role;
    log_min = min;
}

void log_set_file(const char *path)
{
    log_path[0] = 0;
    if (path && strlen(path) < sizeof log_path)
        memcpy(log_path, path, strlen(path) + 1);
    last_check_ms = mono_ms();
    reopen_failing = 0;
}

void log_set_reopen_interval_ms(int ms)
{
    reopen_interval_ms = ms < 0 ? 0 : ms;
}

static void write_line(const char *line, size_t n)
{
    /* One write per line so lines from several processes sharing a log file
     * never interleave mid-line (O_APPEND). */
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}

/* If log_path no longer names the file on fd 2, point fd 2 (and fd 1 if it
 * was the same file) at the file the path names now, creating it. */
static void maybe_reopen(void)
{
    int64_t now = mono_ms();
    if (now - last_check_ms < reopen_interval_ms)
        return;
    last_check_ms = now;
    struct stat cur, want;
    int have_cur = fstat(STDERR_FILENO, &cur) == 0;
    if (have_cur && stat(log_path, &want) == 0 && want.st_dev == cur.st_dev && want.st_ino == cur.st_ino)
        return;
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        if (!reopen_failing) {
            char msg[4200];
            int n = snprintf(msg, sizeof msg, "log: cannot reopen %s: %s; still writing to the old file\n", log_path,
                             strerror(errno));
            if (n > 0)
                write_line(msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
        }
        reopen_failing = 1;
        return;
    }
    struct stat out;
    int follow_stdout = have_cur && fstat(STDOUT_FILENO, &out) == 0 && out.st_dev == cur.st_dev &&
                        out.st_ino == cur.st_ino;
    /* dup2 replaces fd 2 atomically: a concurrent writer in this process (we
     * have none; one thread per process) would see the old or the new file. */
    if (fd != STDERR_FILENO)
        dup2(fd, STDERR_FILENO);
    if (follow_stdout && fd != STDOUT_FILENO)
        dup2(fd, STDOUT_FILENO);
    if (fd != STDERR_FILENO && fd != STDOUT_FILENO)
        close(fd);
    reopen_failing = 0;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (lvl < log_min)
        return;
    int saved_errno = errno;
    if (log_path[0])
        maybe_reopen();
    char line[2048];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    int n = (int)strftime(line, sizeof line, "%Y-%m-%d %H:%M:%S ", &tm);
    n += snprintf(line + n, sizeof line - (size_t)n, "%s[%d] %s ", log_role, (int)getpid(), names[lvl]);
    va_list ap;
    va_start(ap, fmt);
    errno = saved_errno; /* %m in fmt names the caller's errno */
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += m;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    write_line(line, (size_t)n);
    errno = saved_errno;
}
