/* The register as a real process on loopback: test peers connect, announce,
 * misbehave and disconnect; each test checks exactly what every peer receives
 * and when it is closed. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch.h"
#include "tu.h"

#define KEY "s3cr3t-lottery"
#define AUTH_TIMEOUT_S 1
#define MAX_LINE 1024

static char tmpdir[64];
static const char *logpath;
static int port;
static struct launch reg;

static int suite_init(void)
{
    if (launch_tmpdir("register", tmpdir, sizeof tmpdir) < 0)
        return -1;
    port = tu_free_port();
    launch_register(&reg, tmpdir, port, KEY);
    launch_set(&reg, "--authTimeout=%d", AUTH_TIMEOUT_S);
    launch_set(&reg, "--maxLineLength=%d", MAX_LINE);
    logpath = reg.log;
    return launch_start(&reg, port, NULL, 5000);
}

static int suite_clean(void)
{
    /* A clean SIGTERM exit is part of the contract (no crash, no sanitizer report). */
    int rc = launch_stop(&reg, 5000);
    launch_free(&reg);
    return rc;
}

static int peer(void)
{
    int fd = tu_connect(port, 2000);
    CU_ASSERT_FATAL(fd >= 0);
    return fd;
}

static void say(int fd, const char *line) { CU_ASSERT_EQUAL(tu_write_all(fd, line, strlen(line)), 0); }

static void expect_line(int fd, const char *want)
{
    char got[65536];
    ssize_t n = tu_read_line(fd, got, sizeof got, 3000);
    CU_ASSERT(n > 0);
    if (n <= 0 || strcmp(got, want) != 0)
        fprintf(stderr, "\n  want: %s  got (%zd): %s\n", want, n, n > 0 ? got : "");
    CU_ASSERT_STRING_EQUAL(n > 0 ? got : "", want);
}

/* Nothing arrives within ms and the connection stays open. */
static void expect_silence(int fd, int ms)
{
    char got[4096];
    ssize_t n = tu_read_line(fd, got, sizeof got, ms);
    CU_ASSERT_EQUAL(n, -1);
}

static const char *gw_line(const char *addr, const char *key)
{
    return tu_fmt("{\"event\":\"gateway_connect\", \"address\":\"%s\", \"secret_key\":\"%s\"}\n", addr, key);
}

static const char *bcast(const char *list)
{
    return tu_fmt("{\"event\":\"broadcast_addresses\",\"addresses\":[%s]}\n", list);
}

static void test_worker_gets_list_and_updates(void)
{
    int w1 = peer();
    say(w1, "{\"event\":\"worker_connect\",\"secret_key\":\"" KEY "\"}\n");
    expect_line(w1, bcast(""));

    int g1 = peer();
    say(g1, gw_line("172.16.0.11:2900", KEY));
    expect_line(w1, bcast("\"172.16.0.11:2900\""));

    int g2 = peer();
    say(g2, gw_line("172.16.0.12:2900", KEY));
    expect_line(w1, bcast("\"172.16.0.11:2900\",\"172.16.0.12:2900\""));

    /* A second worker is answered at once with the current list. */
    int w2 = peer();
    say(w2, "{\"event\":\"worker_connect\",\"secret_key\":\"" KEY "\"}\r\n");
    expect_line(w2, bcast("\"172.16.0.11:2900\",\"172.16.0.12:2900\""));
    expect_silence(w1, 200);

    /* A repeated gateway_connect re-broadcasts even when nothing changed. */
    say(g2, gw_line("172.16.0.12:2900", KEY));
    expect_line(w1, bcast("\"172.16.0.11:2900\",\"172.16.0.12:2900\""));
    expect_line(w2, bcast("\"172.16.0.11:2900\",\"172.16.0.12:2900\""));

    /* A worker leaving causes no broadcast; a gateway leaving does. */
    tu_close(w2);
    expect_silence(w1, 200);
    tu_close(g1);
    expect_line(w1, bcast("\"172.16.0.12:2900\""));
    tu_close(g2);
    expect_line(w1, bcast(""));
    tu_close(w1);
}

static void test_php_fixture_lines_accepted(void)
{
    /* The exact bytes a PHP gateway and worker send (concatenated JSON). */
    size_t n;
    char *p = tu_fixture_path("register-worker_connect.txt");
    uint8_t *wline = tu_read_file(p, &n);
    free(p);
    p = tu_fixture_path("register-gateway_connect.txt");
    uint8_t *gline = tu_read_file(p, &n);
    free(p);
    CU_ASSERT_FATAL(wline && gline);
    int w = peer();
    say(w, (char *)wline);
    expect_line(w, bcast(""));
    int g = peer();
    say(g, (char *)gline);
    p = tu_fixture_path("register-broadcast_addresses_one.txt");
    uint8_t *want = tu_read_file(p, &n);
    free(p);
    expect_line(w, (char *)want);
    tu_close(g);
    expect_line(w, bcast(""));
    tu_close(w);
    free(wline);
    free(gline);
    free(want);
}

static void test_split_and_batched_lines(void)
{
    int w = peer();
    const char *line = "{\"event\":\"worker_connect\",\"secret_key\":\"" KEY "\"}\n";
    for (size_t i = 0; line[i]; i++) {
        CU_ASSERT_EQUAL(tu_write_all(w, line + i, 1), 0);
        usleep(1000);
    }
    expect_line(w, bcast(""));
    /* Two gateway lines and a ping in one write. */
    int g = peer();
    char both[512];
    snprintf(both, sizeof both, "%s{\"event\":\"ping\"}\n%s", gw_line("10.0.0.1:2900", KEY),
             gw_line("10.0.0.2:2901", KEY));
    say(g, both);
    expect_line(w, bcast("\"10.0.0.1:2900\""));
    expect_line(w, bcast("\"10.0.0.2:2901\""));
    tu_close(g);
    expect_line(w, bcast(""));
    tu_close(w);
}

static void test_wrong_key_closed_silently(void)
{
    int w = peer();
    say(w, "{\"event\":\"worker_connect\",\"secret_key\":\"" KEY "\"}\n");
    expect_line(w, bcast(""));
    int g = peer();
    say(g, gw_line("172.16.0.11:2900", "wrong"));
    CU_ASSERT_EQUAL(tu_wait_eof(g, 3000), 1);
    tu_close(g);
    int g2 = peer();
    say(g2, "{\"event\":\"gateway_connect\",\"address\":\"172.16.0.11:2900\"}\n"); /* no key at all */
    CU_ASSERT_EQUAL(tu_wait_eof(g2, 3000), 1);
    tu_close(g2);
    int w2 = peer();
    say(w2, "{\"event\":\"worker_connect\",\"secret_key\":\"" KEY "x\"}\n");
    char got[256];
    CU_ASSERT_EQUAL(tu_read_line(w2, got, sizeof got, 3000), 0); /* EOF, no list */
    tu_close(w2);
    expect_silence(w, 200);
    CU_ASSERT(tu_file_contains(logpath, "wrong secret key", 2000));
    /* The secret itself never reaches the log. */
    size_t n;
    uint8_t *log = tu_read_file(logpath, &n);
    CU_ASSERT_PTR_NULL(strstr((char *)log, KEY));
    free(log);
    tu_close(w);
}

static void test_bad_request_reply_then_close(void)
{
    int b = peer();
    say(b, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_line(b, "Bad request for Register service. Request info(IP:127.0.0.1, Request Buffer:GET / HTTP/1.1). "
                   "See http://doc2.workerman.net/register-auth-timeout.html\n");
    CU_ASSERT_EQUAL(tu_wait_eof(b, 3000), 1);
    tu_close(b);
    /* JSON without a usable event is a bad request too (PHP empty()). */
    const char *bad[] = {"{\"event\":\"\"}\n", "{\"event\":\"0\"}\n", "{\"event\":null}\n", "[1,2]\n",
                         "{\"secret_key\":\"" KEY "\"}\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int c = peer();
        say(c, bad[i]);
        char got[512];
        ssize_t n = tu_read_line(c, got, sizeof got, 3000);
        CU_ASSERT(n > 0 && strncmp(got, "Bad request for Register service.", 33) == 0);
        CU_ASSERT_EQUAL(tu_wait_eof(c, 3000), 1);
        tu_close(c);
    }
    CU_ASSERT(tu_file_contains(logpath, "bad request from 127.0.0.1", 2000));
}

static void test_unknown_event_closed_without_reply(void)
{
    int c = peer();
    say(c, "{\"event\":\"hello\"}\n");
    char got[256];
    CU_ASSERT_EQUAL(tu_read_line(c, got, sizeof got, 3000), 0);
    tu_close(c);
    c = peer();
    say(c, "{\"event\":\"broadcast_addresses\",\"addresses\":[\"1.2.3.4:5\"]}\n");
    CU_ASSERT_EQUAL(tu_read_line(c, got, sizeof got, 3000), 0);
    tu_close(c);
    CU_ASSERT(tu_file_contains(logpath, "unknown event from 127.0.0.1", 2000));
}

static void test_bad_address_refused(void)
{
    int w = peer();
    say(w, "{\"event\":\"worker_connect\",\"secret_key\":\"" KEY "\"}\n");
    expect_line(w, bcast(""));
    const char *addrs[] = {"", "172.016.0.1:2900", "gateway.local:2900", "1.2.3.4", "1.2.3.4:0"};
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
        int g = peer();
        say(g, gw_line(addrs[i], KEY));
        CU_ASSERT_EQUAL(tu_wait_eof(g, 3000), 1);
        tu_close(g);
    }
    expect_silence(w, 200);
    tu_close(w);
}

static void test_line_over_limit_closed(void)
{
    int w = peer();
    say(w, "{\"event\":\"worker_connect\",\"secret_key\":\"" KEY "\"}\n");
    expect_line(w, bcast(""));
    int c = peer();
    char big[MAX_LINE + 100];
    memset(big, 'x', sizeof big);
    CU_ASSERT_EQUAL(tu_write_all(c, big, sizeof big), 0);
    CU_ASSERT_EQUAL(tu_wait_eof(c, 3000), 1);
    tu_close(c);
    CU_ASSERT(tu_file_contains(logpath, tu_fmt("longer than %d bytes", MAX_LINE), 2000));
    /* Everyone else is still served. */
    int g = peer();
    say(g, gw_line("172.16.0.77:2900", KEY));
    expect_line(w, bcast("\"172.16.0.77:2900\""));
    tu_close(g);
    expect_line(w, bcast(""));
    tu_close(w);
}

static void test_auth_timeout(void)
{
    long long t0 = tu_now_ms();
    int silent = peer();
    int pinger = peer();
    int worker = peer();
    say(pinger, "{\"event\":\"ping\"}\n");
    say(worker, "{\"event\":\"worker_connect\",\"secret_key\":\"" KEY "\"}\n");
    expect_line(worker, bcast(""));
    /* Neither the silent peer nor one that only pings gets past the timeout;
     * an authenticated worker stays. */
    CU_ASSERT_EQUAL(tu_wait_eof(silent, AUTH_TIMEOUT_S * 1000 + 3000), 1);
    CU_ASSERT_EQUAL(tu_wait_eof(pinger, 3000), 1);
    CU_ASSERT(tu_now_ms() - t0 >= AUTH_TIMEOUT_S * 1000 - 50);
    say(worker, "{\"event\":\"ping\"}\n");
    expect_silence(worker, 300);
    CU_ASSERT(tu_file_contains(logpath, "register auth timeout (127.0.0.1:", 2000));
    tu_close(silent);
    tu_close(pinger);
    tu_close(worker);
}

static void test_ten_thousand_idle_workers(void)
{
    enum { N = 10000 };
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    CU_ASSERT_FATAL(rl.rlim_cur >= N + 100);
    int *fds = calloc(N, sizeof *fds);
    const char *hello = "{\"event\":\"worker_connect\",\"secret_key\":\"" KEY "\"}\n";
    int ok = 0;
    for (int i = 0; i < N; i++) {
        fds[i] = tu_connect(port, 2000);
        if (fds[i] < 0 || tu_write_all(fds[i], hello, strlen(hello)) < 0)
            break;
        ok++;
    }
    CU_ASSERT_EQUAL(ok, N);
    int got_first = 0;
    for (int i = 0; i < ok; i++) {
        char line[256];
        got_first += tu_read_line(fds[i], line, sizeof line, 5000) > 0 && strcmp(line, bcast("")) == 0;
    }
    CU_ASSERT_EQUAL(got_first, N);
    /* Idle past the auth timeout: authenticated peers stay. Then one gateway
     * registers and every one of the N workers hears of it. */
    usleep((AUTH_TIMEOUT_S * 1000 + 500) * 1000);
    int g = peer();
    say(g, gw_line("172.16.0.11:2900", KEY));
    int got_bcast = 0;
    for (int i = 0; i < ok; i++) {
        char line[256];
        got_bcast += tu_read_line(fds[i], line, sizeof line, 5000) > 0 &&
                     strcmp(line, bcast("\"172.16.0.11:2900\"")) == 0;
    }
    CU_ASSERT_EQUAL(got_bcast, N);
    tu_close(g);
    for (int i = 0; i < ok; i++)
        tu_close(fds[i]);
    free(fds);
}

/* ---- the command line: start -d, status, stop, refusals ---- */

static void test_cli_daemon_status_stop(void)
{
    char dir[] = "/tmp/gw-test-cli-XXXXXX";
    CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
    char *bin = tu_bin_path("register");
    int p = tu_free_port();
    char base[1024], out[8192];
    snprintf(base, sizeof base, "%s --listen=text://127.0.0.1:%d --secretKey=k --pidFile=%s/r.pid --logFile=%s/r.log",
             bin, p, dir, dir);

    CU_ASSERT_EQUAL(tu_run_cmd(out, sizeof out, tu_fmt("%s start -d 2>&1", base)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "started, pid"));
    int fd = tu_connect(p, 3000);
    CU_ASSERT(fd >= 0);
    say(fd, "{\"event\":\"worker_connect\",\"secret_key\":\"k\"}\n");
    expect_line(fd, bcast(""));

    /* A second start of the same instance is refused. */
    CU_ASSERT_NOT_EQUAL(tu_run_cmd(out, sizeof out, tu_fmt("%s start -d 2>&1", base)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "already running"));

    /* Another instance on the taken port is refused before daemonizing. */
    CU_ASSERT_NOT_EQUAL(tu_run_cmd(out, sizeof out,
                                tu_fmt("%s --listen=text://127.0.0.1:%d --pidFile=%s/other.pid start -d 2>&1", bin, p, dir)),
                        0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "Address already in use"));

    CU_ASSERT_EQUAL(tu_run_cmd(out, sizeof out, tu_fmt("%s status 2>&1", base)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, tu_fmt("listen text://127.0.0.1:%d", p)));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "workers 1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "uptime"));

    CU_ASSERT_EQUAL(tu_run_cmd(out, sizeof out, tu_fmt("%s reload 2>&1", base)), 0);
    CU_ASSERT(tu_file_contains(tu_fmt("%s/r.log", dir), "reload requested", 3000));

    int g = tu_connect(p, 3000);
    say(g, "{\"event\":\"gateway_connect\",\"address\":\"10.1.1.1:2900\",\"secret_key\":\"k\"}\n");
    expect_line(fd, bcast("\"10.1.1.1:2900\""));
    CU_ASSERT_EQUAL(tu_run_cmd(out, sizeof out, tu_fmt("%s stop 2>&1", base)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "stop success"));
    /* stop returns only once the process is gone: its socket is closed, and
     * the worker keeps its last list (no shrinking broadcast on the way out). */
    char last[256];
    CU_ASSERT_EQUAL(tu_read_line(fd, last, sizeof last, 500), 0);
    tu_close(fd);
    tu_close(g);
    struct stat st;
    CU_ASSERT_NOT_EQUAL(stat(tu_fmt("%s/r.pid", dir), &st), 0);
    CU_ASSERT(tu_file_contains(tu_fmt("%s/r.log", dir), "register[", 100));

    CU_ASSERT_NOT_EQUAL(tu_run_cmd(out, sizeof out, tu_fmt("%s stop 2>&1", base)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "not running"));

    /* restart -d from nothing starts; stop -g stops gracefully. */
    CU_ASSERT_EQUAL(tu_run_cmd(out, sizeof out, tu_fmt("%s restart -d 2>&1", base)), 0);
    CU_ASSERT((fd = tu_connect(p, 3000)) >= 0);
    tu_close(fd);
    CU_ASSERT_EQUAL(tu_run_cmd(out, sizeof out, tu_fmt("%s stop -g 2>&1", base)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "stop success"));
    free(bin);
}

static void test_cli_bad_config(void)
{
    char dir[] = "/tmp/gw-test-cfg-XXXXXX";
    CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
    char *bin = tu_bin_path("register");
    char ini[300], out[4096];
    snprintf(ini, sizeof ini, "%s/register.ini", dir);
    FILE *f = fopen(ini, "w");
    fprintf(f, "; comment\nlisten = text://127.0.0.1:1\n[register]\nsecretKey = x\nauthTimout = 5\n");
    fclose(f);
    CU_ASSERT_NOT_EQUAL(tu_run_cmd(out, sizeof out, tu_fmt("%s -c %s start 2>&1", bin, ini)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, tu_fmt("%s:5: authTimout: unknown setting", ini)));

    f = fopen(ini, "w");
    fprintf(f, "listen = websocket://127.0.0.1:1239\n");
    fclose(f);
    CU_ASSERT_NOT_EQUAL(tu_run_cmd(out, sizeof out, tu_fmt("%s -c %s start 2>&1", bin, ini)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "Text protocol"));

    CU_ASSERT_NOT_EQUAL(tu_run_cmd(out, sizeof out, tu_fmt("%s -c %s --authTimeout=0 start 2>&1", bin, ini)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "command line: --authTimeout: 0 is out of range"));

    CU_ASSERT_EQUAL(tu_run_cmd(out, sizeof out, tu_fmt("%s --help 2>&1", bin)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "secretKey"));
    free(bin);
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("register_process", suite_init, suite_clean);
    CU_add_test(s, "worker gets the list and every change", test_worker_gets_list_and_updates);
    CU_add_test(s, "PHP's exact lines are accepted", test_php_fixture_lines_accepted);
    CU_add_test(s, "lines split into bytes and batched", test_split_and_batched_lines);
    CU_add_test(s, "wrong key: closed, no reply, key not logged", test_wrong_key_closed_silently);
    CU_add_test(s, "bad request: PHP's reply line, then closed", test_bad_request_reply_then_close);
    CU_add_test(s, "unknown event: closed without reply", test_unknown_event_closed_without_reply);
    CU_add_test(s, "non-canonical gateway address refused", test_bad_address_refused);
    CU_add_test(s, "line over the limit: closed, others served", test_line_over_limit_closed);
    CU_add_test(s, "auth timeout closes silent and ping-only peers", test_auth_timeout);
    CU_add_test(s, "10,000 idle workers all get a broadcast", test_ten_thousand_idle_workers);
    CU_pSuite c = CU_add_suite("register_cli", NULL, NULL);
    CU_add_test(c, "start -d, already running, port taken, status, reload, stop", test_cli_daemon_status_stop);
    CU_add_test(c, "bad configuration names file, line and key", test_cli_bad_config);
    return tu_run("test_register");
}
