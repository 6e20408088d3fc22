/* log: lines go to fd 2; a daemon's fd 2 is its logFile, and log.c follows
 * the path when logrotate renames the file (log_set_file). Each test points
 * fd 2 at a file in a temporary directory, logs, rotates, logs again with a
 * 0 ms check interval, and reads where every line landed. fd 2 (and fd 1)
 * are restored after each test so CUnit's report reaches the terminal. */
#include "log.h"
#include "tu.h"

#include <CUnit/CUnit.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static int saved_err = -1, saved_out = -1;

static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* fd 2 := the file at path (created), as the daemon does; log.c follows path. */
static void point_stderr(const char *path, int with_stdout)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    CU_ASSERT_FATAL(fd >= 0);
    if (with_stdout) {
        fflush(stdout);
        dup2(fd, STDOUT_FILENO);
    }
    dup2(fd, STDERR_FILENO);
    close(fd);
    log_set_file(path);
}

static void restore(void)
{
    log_set_file(NULL);
    log_set_reopen_interval_ms(1000);
    fflush(stdout);
    dup2(saved_err, STDERR_FILENO);
    dup2(saved_out, STDOUT_FILENO);
}

/* 1 if the file at path contains needle. */
static int has(const char *path, const char *needle)
{
    size_t n;
    uint8_t *b = tu_read_file(path, &n);
    if (!b)
        return 0;
    int r = strstr((char *)b, needle) != NULL;
    free(b);
    return r;
}

static int lines(const char *path)
{
    size_t n;
    uint8_t *b = tu_read_file(path, &n);
    if (!b)
        return -1;
    int c = 0;
    for (size_t i = 0; i < n; i++)
        c += b[i] == '\n';
    free(b);
    return c;
}

static void test_rename_then_reopen(void)
{
    char a[600], a1[600];
    path_of(a, sizeof a, "rot.log");
    path_of(a1, sizeof a1, "rot.log.1");
    log_set_reopen_interval_ms(0);
    point_stderr(a, 0);
    log_info("first line %d", 1);
    log_warn("second line");
    CU_ASSERT_EQUAL(rename(a, a1), 0); /* logrotate, without create */
    log_info("third line");
    log_error("fourth line");
    restore();
    CU_ASSERT(has(a1, "INFO first line 1"));
    CU_ASSERT(has(a1, "WARN second line"));
    CU_ASSERT(!has(a1, "third line"));
    CU_ASSERT(has(a, "INFO third line"));
    CU_ASSERT(has(a, "ERROR fourth line"));
    CU_ASSERT(!has(a, "first line"));
    CU_ASSERT_EQUAL(lines(a1), 2);
    CU_ASSERT_EQUAL(lines(a), 2);
    struct stat st;
    CU_ASSERT_EQUAL(stat(a, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0640); /* suite_init sets umask 0 */
}

/* logrotate with `create`: the new (empty) file already exists. */
static void test_rename_and_create(void)
{
    char a[600], a1[600];
    path_of(a, sizeof a, "cre.log");
    path_of(a1, sizeof a1, "cre.log.1");
    log_set_reopen_interval_ms(0);
    point_stderr(a, 0);
    log_info("before");
    CU_ASSERT_EQUAL(rename(a, a1), 0);
    int fd = open(a, O_WRONLY | O_CREAT | O_EXCL, 0640);
    CU_ASSERT(fd >= 0);
    close(fd);
    log_info("after");
    restore();
    CU_ASSERT(has(a1, "before"));
    CU_ASSERT(!has(a1, "after"));
    CU_ASSERT(has(a, "after"));
    CU_ASSERT_EQUAL(lines(a), 1);
}

/* Within the interval the path is not looked at: lines keep going to the
 * renamed file (nothing lost); the first line after it goes to the new one. */
static void test_interval(void)
{
    char a[600], a1[600];
    path_of(a, sizeof a, "int.log");
    path_of(a1, sizeof a1, "int.log.1");
    log_set_reopen_interval_ms(3600 * 1000);
    point_stderr(a, 0);
    log_info("one");
    CU_ASSERT_EQUAL(rename(a, a1), 0);
    log_info("two"); /* not checked yet */
    CU_ASSERT(access(a, F_OK) != 0);
    log_set_reopen_interval_ms(0);
    log_info("three");
    restore();
    CU_ASSERT(has(a1, "one"));
    CU_ASSERT(has(a1, "two"));
    CU_ASSERT(!has(a1, "three"));
    CU_ASSERT(has(a, "three"));
}

/* The file was deleted (not renamed): it is created again. */
static void test_deleted(void)
{
    char a[600];
    path_of(a, sizeof a, "del.log");
    log_set_reopen_interval_ms(0);
    point_stderr(a, 0);
    log_info("gone");
    CU_ASSERT_EQUAL(unlink(a), 0);
    log_info("back");
    restore();
    CU_ASSERT(has(a, "back"));
    CU_ASSERT(!has(a, "gone"));
}

/* The directory vanished: no crash, lines stay on the old file; once the
 * directory is back the path is created again. */
static void test_missing_directory(void)
{
    char sub[600], a[700], kept[600];
    path_of(sub, sizeof sub, "sub");
    CU_ASSERT_EQUAL(mkdir(sub, 0755), 0);
    snprintf(a, sizeof a, "%s/x.log", sub);
    path_of(kept, sizeof kept, "kept.log");
    log_set_reopen_interval_ms(0);
    point_stderr(a, 0);
    log_info("in sub");
    CU_ASSERT_EQUAL(rename(a, kept), 0);
    CU_ASSERT_EQUAL(rmdir(sub), 0);
    log_info("no directory %d", 1);
    log_info("no directory %d", 2);
    CU_ASSERT_EQUAL(mkdir(sub, 0755), 0);
    log_info("directory back");
    restore();
    CU_ASSERT(has(kept, "in sub"));
    CU_ASSERT(has(kept, "no directory 1"));
    CU_ASSERT(has(kept, "no directory 2"));
    /* One report of the failure, not one per line. */
    size_t n;
    uint8_t *b = tu_read_file(kept, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    char *first = strstr((char *)b, "cannot reopen");
    CU_ASSERT_PTR_NOT_NULL(first);
    if (first)
        CU_ASSERT_PTR_NULL(strstr(first + 1, "cannot reopen"));
    free(b);
    CU_ASSERT(has(a, "directory back"));
    CU_ASSERT(!has(kept, "directory back"));
}

/* A daemon's stdout is the log file too: it follows fd 2. */
static void test_stdout_follows(void)
{
    char a[600], a1[600];
    path_of(a, sizeof a, "out.log");
    path_of(a1, sizeof a1, "out.log.1");
    log_set_reopen_interval_ms(0);
    point_stderr(a, 1);
    CU_ASSERT_EQUAL(rename(a, a1), 0);
    log_info("switch");
    printf("printed after\n");
    fflush(stdout);
    restore();
    CU_ASSERT(has(a, "switch"));
    CU_ASSERT(has(a, "printed after"));
    CU_ASSERT(!has(a1, "printed after"));
}

/* Without log_set_file (the foreground) nothing is checked or reopened. */
static void test_off(void)
{
    char a[600], a1[600];
    path_of(a, sizeof a, "off.log");
    path_of(a1, sizeof a1, "off.log.1");
    log_set_reopen_interval_ms(0);
    point_stderr(a, 0);
    log_set_file(NULL);
    CU_ASSERT_EQUAL(rename(a, a1), 0);
    log_info("stays");
    restore();
    CU_ASSERT(has(a1, "stays"));
    CU_ASSERT(access(a, F_OK) != 0);
}

static int suite_init(void)
{
    umask(0);
    snprintf(dir, sizeof dir, "/tmp/gw-test-log-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    saved_err = dup(STDERR_FILENO);
    saved_out = dup(STDOUT_FILENO);
    log_init("test", LOG_DEBUG);
    return saved_err < 0 || saved_out < 0;
}

static int suite_clean(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("log", suite_init, suite_clean);
    CU_add_test(s, "rename, then the next line reopens the path", test_rename_then_reopen);
    CU_add_test(s, "rename and create (logrotate create)", test_rename_and_create);
    CU_add_test(s, "no check within the interval", test_interval);
    CU_add_test(s, "deleted file is created again", test_deleted);
    CU_add_test(s, "missing directory: no crash, old file kept", test_missing_directory);
    CU_add_test(s, "stdout follows stderr", test_stdout_follows);
    CU_add_test(s, "off in the foreground", test_off);
    return tu_run("test_log");
}
