#include "tu.h"

#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int tu_run(const char *name)
{
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned run = CU_get_number_of_tests_run();
    /* A suite whose set-up failed (e.g. a server that would not start)
     * ran none of its tests: it counts as a failure, never as a pass. */
    unsigned failed = CU_get_number_of_tests_failed() + CU_get_number_of_suites_failed();
    unsigned afailed = CU_get_number_of_failures();
    CU_cleanup_registry();
    const char *counts = getenv("GW_TEST_COUNTS");
    if (counts) {
        FILE *f = fopen(counts, "a");
        if (f) {
            fprintf(f, "%s %u %u\n", name, run - failed, failed);
            fclose(f);
        }
    }
    return (failed || afailed) ? 1 : 0;
}

char *tu_fixture_path(const char *file)
{
    const char *dir = getenv("GW_FIXTURES");
    if (!dir)
        dir = "../shared/fixtures/gateway-protocol";
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, file);
    return p;
}

uint8_t *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    uint8_t *p = malloc(cap + 1);
    size_t r;
    while ((r = fread(p + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            p = realloc(p, cap + 1);
        }
    }
    fclose(f);
    p[n] = 0;
    *len = n;
    return p;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

uint8_t *tu_hex_decode(const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    while (n > 0 && (hex[n - 1] == '\n' || hex[n - 1] == '\r' || hex[n - 1] == ' '))
        n--;
    if (n % 2)
        return NULL;
    uint8_t *out = malloc(n / 2 + 1);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    out[n / 2] = 0;
    *len = n / 2;
    return out;
}

uint8_t *tu_read_hex_fixture(const char *file, size_t *len)
{
    char *path = tu_fixture_path(file);
    size_t n;
    uint8_t *text = tu_read_file(path, &n);
    free(path);
    if (!text)
        return NULL;
    uint8_t *out = tu_hex_decode((const char *)text, len);
    free(text);
    return out;
}

static json_t *tu_index;

static void tu_free_index(void) { json_decref(tu_index); }

json_t *tu_fixture_index(void)
{
    if (!tu_index) {
        char *path = tu_fixture_path("index.json");
        json_error_t err;
        tu_index = json_load_file(path, JSON_ALLOW_NUL, &err);
        if (!tu_index)
            fprintf(stderr, "cannot load %s: %s (line %d)\n", path, err.text, err.line);
        else
            atexit(tu_free_index);
        free(path);
    }
    return tu_index;
}

json_t *tu_fixture_case(const char *name)
{
    json_t *idx = tu_fixture_index();
    if (!idx)
        return NULL;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(idx, "cases"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "name")), name) == 0)
            return c;
    }
    return NULL;
}

/* ---- integration helpers ---- */

char *tu_bin_path(const char *name)
{
    const char *dir = getenv("GW_BIN");
    if (!dir)
        dir = "build";
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

long long tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether port can be bound on 127.0.0.1 now (as our servers bind:
 * SO_REUSEADDR, so a TIME_WAIT left by an earlier test does not count). */
static int port_bindable(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0)
        return 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

int tu_free_port(void)
{
    /* Below the kernel's ephemeral range: a port from bind(0) lies inside
     * it, and until the server under test binds it, any outgoing connection
     * (this test's own, or another job's) may take it as its source port
     * (seen under load: "cannot listen ...: Address already in use"). Random
     * in [10000, start of the range), never the same twice in a process. */
    static int given[256], ngiven;
    static unsigned seed;
    int lo = 32768;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%d", &lo) != 1)
            lo = 32768;
        fclose(f);
    }
    if (!seed)
        seed = (unsigned)getpid() * 2654435761u ^ (unsigned)tu_now_ms();
    for (int tries = 0; lo > 11000 && tries < 1000; tries++) {
        seed = seed * 1103515245u + 12345u;
        int p = 10000 + (int)((seed >> 8) % (unsigned)(lo - 10000));
        int dup = 0;
        for (int i = 0; i < ngiven && i < 256; i++)
            dup |= given[i] == p;
        if (dup || !port_bindable(p))
            continue;
        given[ngiven++ % 256] = p;
        return p;
    }
    /* No room below the range: bind port 0 and hope. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

pid_t tu_spawn(char *const argv[], const char *logpath)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int fd = open(logpath ? logpath : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    execv(argv[0], argv);
    _exit(127);
}

int tu_stop(pid_t pid, int timeout_ms)
{
    int st;
    kill(pid, SIGTERM);
    long long end = tu_now_ms() + timeout_ms;
    while (tu_now_ms() < end) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0)
            return -1;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    return waitpid(pid, &st, 0) == pid ? st : -1;
}

int tu_connect(int port, int timeout_ms)
{
    long long end = tu_now_ms() + timeout_ms;
    do {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
            return fd;
        close(fd);
        usleep(20000);
    } while (tu_now_ms() < end);
    return -1;
}

int tu_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Per-fd read-ahead for tu_read_line; fds in tests are small numbers. */
#define TU_MAXFD 32768
static struct {
    char *data;
    size_t len;
} tu_rbuf[TU_MAXFD];

void tu_close(int fd)
{
    if (fd >= 0 && fd < TU_MAXFD) {
        free(tu_rbuf[fd].data);
        tu_rbuf[fd].data = NULL;
        tu_rbuf[fd].len = 0;
    }
    if (fd >= 0)
        close(fd);
}

ssize_t tu_read_line(int fd, char *out, size_t cap, int timeout_ms)
{
    if (fd < 0 || fd >= TU_MAXFD)
        return -1;
    long long end = tu_now_ms() + timeout_ms;
    for (;;) {
        char *nl = tu_rbuf[fd].len ? memchr(tu_rbuf[fd].data, '\n', tu_rbuf[fd].len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - tu_rbuf[fd].data) + 1;
            size_t c = n < cap - 1 ? n : cap - 1;
            memcpy(out, tu_rbuf[fd].data, c);
            out[c] = 0;
            memmove(tu_rbuf[fd].data, tu_rbuf[fd].data + n, tu_rbuf[fd].len - n);
            tu_rbuf[fd].len -= n;
            return (ssize_t)c;
        }
        int left = (int)(end - tu_now_ms());
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left) <= 0)
            return -1;
        char tmp[65536];
        ssize_t r = read(fd, tmp, sizeof tmp);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r == 0 ? 0 : -1;
        tu_rbuf[fd].data = realloc(tu_rbuf[fd].data, tu_rbuf[fd].len + (size_t)r);
        memcpy(tu_rbuf[fd].data + tu_rbuf[fd].len, tmp, (size_t)r);
        tu_rbuf[fd].len += (size_t)r;
    }
}

int tu_wait_eof(int fd, int timeout_ms)
{
    long long end = tu_now_ms() + timeout_ms;
    for (;;) {
        int left = (int)(end - tu_now_ms());
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left) <= 0)
            return 0;
        char tmp[4096];
        ssize_t r = read(fd, tmp, sizeof tmp);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return 1;
        if (r < 0 && errno != EINTR)
            return 0;
    }
}

int tu_file_contains(const char *path, const char *needle, int timeout_ms)
{
    long long end = tu_now_ms() + timeout_ms;
    do {
        size_t n;
        uint8_t *p = tu_read_file(path, &n);
        if (p) {
            int found = strstr((char *)p, needle) != NULL;
            free(p);
            if (found)
                return 1;
        }
        usleep(20000);
    } while (tu_now_ms() < end);
    return 0;
}

long tu_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

int tu_file_lines_with(const char *path, const char *a, const char *b)
{
    size_t n;
    uint8_t *p = tu_read_file(path, &n);
    int c = 0;
    for (char *line = (char *)p, *nl; line && *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl)
            nl = line + strlen(line) - 1;
        char save = nl[0];
        nl[0] = 0;
        c += strstr(line, a) && strstr(line, b);
        nl[0] = save;
    }
    free(p);
    return c;
}

int tu_file_lines_reach(const char *path, const char *a, const char *b, int want, int timeout_ms)
{
    long long end = tu_now_ms() + timeout_ms;
    while (tu_file_lines_with(path, a, b) < want) {
        if (tu_now_ms() > end)
            return 0;
        usleep(10000);
    }
    return 1;
}

char *tu_fmt(const char *f, ...)
{
    static char ring[8][4096];
    static unsigned i;
    char *out = ring[i++ % 8];
    va_list ap;
    va_start(ap, f);
    vsnprintf(out, sizeof ring[0], f, ap);
    va_end(ap);
    return out;
}

int tu_run_cmd(char *out, size_t cap, const char *cmd)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int tu_read_exact(int fd, void *p, size_t n, long long deadline)
{
    uint8_t *b = p;
    while (n > 0) {
        int left = (int)(deadline - tu_now_ms());
        if (left <= 0)
            return -1;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, left) <= 0)
            return -1;
        ssize_t k = read(fd, b, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k == 0 || (k < 0 && errno == ECONNRESET))
            return -2;
        if (k < 0)
            return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

int tu_http_get(int port, const char *path, char *out, size_t cap)
{
    int fd = tu_connect(port, 2000);
    if (fd < 0)
        return -1;
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    tu_write_all(fd, req, (size_t)n);
    size_t got = 0;
    long long end = tu_now_ms() + 3000;
    while (got + 1 < cap && tu_now_ms() < end) {
        ssize_t r = read(fd, out + got, cap - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        out[got] = 0;
        char *hdr_end = strstr(out, "\r\n\r\n");
        char *cl = strcasestr(out, "content-length:");
        if (hdr_end && cl && (size_t)(hdr_end + 4 - out) + (size_t)atoi(cl + 15) <= got)
            break;
    }
    out[got] = 0;
    tu_close(fd);
    return (int)got;
}
