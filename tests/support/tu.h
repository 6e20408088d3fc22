/* tu: test utilities shared by the unit and integration tests.
 *
 * Fixtures: the golden vectors live outside the repo, in
 * $GW_FIXTURES (default ../shared/fixtures/gateway-protocol). */
#ifndef GW_TU_H
#define GW_TU_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* CHECKF(cond, fmt, ...): a CUnit assertion whose failure message is printf-
 * formatted (the expected and the actual value), so a failed run says what it
 * saw. Needs <CUnit/CUnit.h>. */
#define CHECKF(cond, ...)                                                          \
    do {                                                                           \
        if (cond) {                                                                \
            CU_PASS(#cond);                                                        \
        } else {                                                                   \
            char m_[1200];                                                         \
            snprintf(m_, sizeof m_, __VA_ARGS__);                                  \
            CU_assertImplementation(CU_FALSE, __LINE__, m_, __FILE__, "", CU_FALSE); \
        }                                                                          \
    } while (0)

/* Runs the registered CUnit suites in basic mode, appends "<name> <passed>
 * <failed>" to $GW_TEST_COUNTS when set, returns the process exit status. */
int tu_run(const char *name);

/* Returns a malloc'd absolute path of a fixture file (caller frees). */
char *tu_fixture_path(const char *file);
/* Reads a whole file; caller frees. NULL on error. A NUL is appended (not counted). */
uint8_t *tu_read_file(const char *path, size_t *len);
/* Reads a fixture holding lowercase hex and returns the decoded bytes; caller frees. */
uint8_t *tu_read_hex_fixture(const char *file, size_t *len);
/* Decodes hex text into a malloc'd buffer; NULL on odd length or bad digit. */
uint8_t *tu_hex_decode(const char *hex, size_t *len);
/* index.json, parsed once (borrowed; lives until exit). */
json_t *tu_fixture_index(void);
/* The case named `name` in index.json (borrowed), or NULL. */
json_t *tu_fixture_case(const char *name);

/* ---- integration helpers (real processes, real sockets on loopback) ---- */

/* Path of a built binary: $GW_BIN/<name> (GW_BIN defaults to ./build). Caller frees. */
char *tu_bin_path(const char *name);
/* A TCP port on 127.0.0.1 that was free a moment ago, below the ephemeral range
 * (so no outgoing connection takes it before the server binds it). */
int tu_free_port(void);
/* fork+exec argv (argv[0] is a path), stdout/stderr appended to logpath. Returns pid or -1. */
pid_t tu_spawn(char *const argv[], const char *logpath);
/* SIGTERM then wait (SIGKILL after timeout_ms). Returns the wait status or -1. */
int tu_stop(pid_t pid, int timeout_ms);
/* Connect to 127.0.0.1:port, retrying until timeout_ms. Returns fd or -1. */
int tu_connect(int port, int timeout_ms);
/* Write all bytes; 0 or -1. */
int tu_write_all(int fd, const void *p, size_t n);
/* Read one LF-terminated line into out (including the LF, NUL-terminated).
 * Returns its length, 0 on EOF, -1 on timeout or error. Per-fd buffering is
 * kept internally so several lines in one read are not lost. */
ssize_t tu_read_line(int fd, char *out, size_t cap, int timeout_ms);
/* Waits until the peer closes: 1 if EOF seen within timeout_ms (data before
 * it is discarded), 0 otherwise. */
int tu_wait_eof(int fd, int timeout_ms);
/* Close fd and forget its buffered input. */
void tu_close(int fd);
/* 1 if the file's content contains needle within timeout_ms. */
int tu_file_contains(const char *path, const char *needle, int timeout_ms);
/* VmRSS of a process in kB (from /proc), -1 if unreadable. */
long tu_rss_kb(pid_t pid);
/* Lines of the file holding both a and b (e.g. a register's "INFO worker"
 * and " connected", which "disconnected" does not match); 0 if unreadable. */
int tu_file_lines_with(const char *path, const char *a, const char *b);
/* Waits until tu_file_lines_with() reaches want: 1, or 0 at the deadline. */
int tu_file_lines_reach(const char *path, const char *a, const char *b, int want, int timeout_ms);
/* Milliseconds on a monotonic clock. */
long long tu_now_ms(void);

/* A printf-formatted string in a small ring (8 slots of 4096 bytes): valid
 * until eight more calls. */
char *tu_fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
/* Runs cmd with /bin/sh (fold stderr in with "2>&1" in cmd), its output into
 * out (NUL-terminated, cut at cap - 1); the exit status, -1 if killed. */
int tu_run_cmd(char *out, size_t cap, const char *cmd);
/* Reads exactly n bytes before deadline (tu_now_ms's clock): 0, -1 on a
 * timeout or an error, -2 when the peer closed or reset the connection. */
int tu_read_exact(int fd, void *p, size_t n, long long deadline);
/* GET path from 127.0.0.1:port (Connection: close) into out, NUL-terminated:
 * the whole response once Content-Length is met or the server closes, at
 * most 3 s. Bytes read, or -1 when the connect failed. */
int tu_http_get(int port, const char *path, char *out, size_t cap);

#endif
