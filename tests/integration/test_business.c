/* The business worker as real processes on loopback: a real register, two
 * real gateways (separate processes, different ports), the business worker
 * with apps/echo (count 2), and real WebSocket clients checking every echo
 * command end to end, across gateways, through a gateway restart, and the
 * session write-back seen on the gateway. */
#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fakebw.h"
#include "gwp.h"
#include "launch.h"
#include "tu.h"
#include "wsc.h"

#define KEY "bw-test-key"
#define NAME "EchoBiz"

static char dir[64];
static int reg_port;
static struct launch reg, bw;

static struct launch_gw gw1, gw2;

static int start_all(void)
{
    if (launch_tmpdir("business", dir, sizeof dir) < 0)
        return -1;
    reg_port = tu_free_port();
    launch_register(&reg, dir, reg_port, KEY);
    if (launch_start(&reg, reg_port, NULL, 5000) < 0)
        return -1;
    launch_gw_spawn(&gw1, dir, "gateway-1", reg_port, KEY);
    launch_gw_spawn(&gw2, dir, "gateway-2", reg_port, KEY);
    launch_business(&bw, dir, "business", reg_port, "apps/echo.so", NAME, 2, KEY);
    launch_spawn(&bw);
    return launch_gw_linked(&gw1, NAME, 2, 8000) == 0 && launch_gw_linked(&gw2, NAME, 2, 8000) == 0 ? 0 : -1;
}

static int exited_zero(int st) { return WIFEXITED(st) && WEXITSTATUS(st) == 0; }

static int stop_all(void)
{
    int sb = launch_stop(&bw, 8000);
    int s1 = launch_stop(&gw1.p, 5000), s2 = launch_stop(&gw2.p, 5000);
    int sr = launch_stop(&reg, 5000);
    if (sb != 0)
        fprintf(stderr, "business did not exit with 0 (log %s)\n", bw.log);
    launch_free(&bw);
    launch_free(&gw1.p);
    launch_free(&gw2.p);
    launch_free(&reg);
    return sb == 0 && s1 == 0 && s2 == 0 && sr == 0 ? 0 : -1;
}

static int client(const struct launch_gw *g)
{
    int fd = wsc_connect(g->ws_port, "/", NULL, 3000);
    CU_ASSERT_FATAL(fd >= 0);
    return fd;
}

static int say(int fd, const char *text) { return wsc_send(fd, WSC_TEXT, text, strlen(text)); }

/* Sends text and expects `want` back on the same client. */
static int ask(int fd, const char *text, const char *want)
{
    return say(fd, text) == 0 && wsc_expect_text(fd, want, 3000);
}

static void test_echo(void)
{
    int c = client(&gw1);
    CU_ASSERT(ask(c, "echo:hello", "echo:hello"));
    const char *utf = "echo:\xe6\x81\xad\xe5\x96\x9c \xf0\x9f\xa7\xa7 lucky";
    CU_ASSERT(ask(c, utf, utf));
    /* Unknown commands are ignored; nothing comes back. */
    CU_ASSERT(say(c, "nonsense") == 0);
    CU_ASSERT(wsc_quiet(c, 200));
    /* A large message goes through whole. */
    size_t n = 200000;
    char *big = malloc(n + 1);
    memcpy(big, "echo:", 5);
    memset(big + 5, 'x', n - 5);
    big[n] = 0;
    CU_ASSERT(ask(c, big, big));
    free(big);
    /* Pipelined messages come back in order. */
    for (int i = 0; i < 50; i++) {
        char m[32];
        snprintf(m, sizeof m, "echo:%d", i);
        say(c, m);
    }
    for (int i = 0; i < 50; i++) {
        char m[32];
        snprintf(m, sizeof m, "echo:%d", i);
        CU_ASSERT(wsc_expect_text(c, m, 3000));
    }
    tu_close(c);
}

static void test_groups_uids_all_one_gateway(void)
{
    int c1 = client(&gw1), c2 = client(&gw1), c3 = client(&gw1);
    CU_ASSERT(ask(c1, "join:table-12", "joined:table-12"));
    CU_ASSERT(ask(c2, "join:table-12", "joined:table-12"));
    CU_ASSERT(say(c3, "group:table-12:draw now") == 0);
    CU_ASSERT(wsc_expect_text(c1, "group:table-12:draw now", 3000));
    CU_ASSERT(wsc_expect_text(c2, "group:table-12:draw now", 3000));
    CU_ASSERT(wsc_quiet(c3, 200));

    CU_ASSERT(ask(c3, "uid:u1003", "bound:u1003"));
    CU_ASSERT(say(c1, "touid:u1003:for you") == 0);
    CU_ASSERT(wsc_expect_text(c3, "touid:u1003:for you", 3000));
    CU_ASSERT(wsc_quiet(c1, 200) && wsc_quiet(c2, 200));

    CU_ASSERT(say(c2, "all:everyone") == 0);
    CU_ASSERT(wsc_expect_text(c1, "all:everyone", 3000));
    CU_ASSERT(wsc_expect_text(c2, "all:everyone", 3000));
    CU_ASSERT(wsc_expect_text(c3, "all:everyone", 3000));
    tu_close(c1);
    tu_close(c2);
    tu_close(c3);
}

/* "count" until it says want (clients that just closed may still be counted). */
static int count_becomes(int fd, int want)
{
    char w[32];
    snprintf(w, sizeof w, "count:%d", want);
    for (int i = 0; i < 30; i++) {
        if (say(fd, "count") < 0)
            return 0;
        uint8_t *m = NULL;
        int op = 0;
        ssize_t n = wsc_recv(fd, &m, &op, 6000);
        int ok = n >= 0 && strcmp((char *)m, w) == 0;
        if (n < 0) {
            free(m);
            return 0;
        }
        if (!ok && i == 29)
            fprintf(stderr, "\n  count: want %s, got %s\n", w, (char *)m);
        free(m);
        if (ok)
            return 1;
        usleep(100000);
    }
    return 0;
}

static void test_across_gateways(void)
{
    int a1 = client(&gw1), a2 = client(&gw1), b1 = client(&gw2), b2 = client(&gw2);
    /* count sums the replies of both gateways. */
    CU_ASSERT(count_becomes(a1, 4));

    CU_ASSERT(ask(b1, "uid:u2001", "bound:u2001"));
    CU_ASSERT(say(a1, "touid:u2001:across by uid") == 0);
    CU_ASSERT(wsc_expect_text(b1, "touid:u2001:across by uid", 3000));
    CU_ASSERT(wsc_quiet(b2, 200) && wsc_quiet(a2, 50));

    CU_ASSERT(ask(b2, "join:vip", "joined:vip"));
    CU_ASSERT(ask(a2, "join:vip", "joined:vip"));
    CU_ASSERT(say(a1, "group:vip:across by group") == 0);
    CU_ASSERT(wsc_expect_text(b2, "group:vip:across by group", 3000));
    CU_ASSERT(wsc_expect_text(a2, "group:vip:across by group", 3000));
    CU_ASSERT(wsc_quiet(b1, 200) && wsc_quiet(a1, 50));

    CU_ASSERT(say(a1, "all:across by broadcast") == 0);
    CU_ASSERT(wsc_expect_text(a1, "all:across by broadcast", 3000));
    CU_ASSERT(wsc_expect_text(a2, "all:across by broadcast", 3000));
    CU_ASSERT(wsc_expect_text(b1, "all:across by broadcast", 3000));
    CU_ASSERT(wsc_expect_text(b2, "all:across by broadcast", 3000));

    tu_close(b2);
    CU_ASSERT(count_becomes(a1, 3));
    tu_close(a1);
    tu_close(a2);
    tu_close(b1);
}

/* Sessions of every client of g, as the gateway stores them (PHP serialize). */
static char *gateway_sessions(const struct launch_gw *g)
{
    struct fakebw q;
    if (fakebw_client(&q, g->lan_port, KEY) < 0)
        return NULL;
    fakebw_cmd(&q, GWP_CMD_GET_ALL_CLIENT_SESSIONS, 0, GWP_FLAG_BODY_IS_SCALAR, NULL, 0, "", 0);
    size_t len;
    char *r = fakebw_reply(&q, &len, 3000);
    fakebw_close(&q);
    return r;
}

static void test_session_write_back(void)
{
    int c = client(&gw2);
    CU_ASSERT(ask(c, "uid:u3003", "bound:u3003"));
    /* SET_SESSION follows the reply on the same link: it has arrived once a
     * later message was answered. */
    CU_ASSERT(ask(c, "echo:sync", "echo:sync"));
    char *s = gateway_sessions(&gw2);
    CU_ASSERT_PTR_NOT_NULL(s);
    /* The session is a serialized string inside the serialized reply. */
    CU_ASSERT(s && strstr(s, "a:1:{s:3:\"uid\";s:5:\"u3003\";}") != NULL);
    if (s && !strstr(s, "u3003"))
        fprintf(stderr, "\n  sessions: %s\n", s);
    free(s);
    /* Rebinding replaces the stored uid (the later message read the session). */
    CU_ASSERT(ask(c, "uid:u3004", "bound:u3004"));
    CU_ASSERT(ask(c, "echo:sync", "echo:sync"));
    s = gateway_sessions(&gw2);
    CU_ASSERT(s && strstr(s, "a:1:{s:3:\"uid\";s:5:\"u3004\";}") != NULL);
    free(s);
    tu_close(c);
}

static void test_gateway_restart(void)
{
    int a = client(&gw1);
    CU_ASSERT(launch_stop(&gw2.p, 5000) == 0);
    /* The worker goes on serving the other gateway. */
    CU_ASSERT(ask(a, "echo:still here", "echo:still here"));
    CU_ASSERT(count_becomes(a, 1));
    CU_ASSERT_FATAL(launch_spawn(&gw2.p) > 0); /* same ports, a new log */
    CU_ASSERT_FATAL(launch_gw_linked(&gw2, NAME, 2, 10000) == 0);
    int b = client(&gw2);
    CU_ASSERT(ask(b, "echo:after restart", "echo:after restart"));
    CU_ASSERT(ask(b, "uid:u4004", "bound:u4004"));
    CU_ASSERT(say(a, "touid:u4004:to the new gateway") == 0);
    CU_ASSERT(wsc_expect_text(b, "touid:u4004:to the new gateway", 3000));
    CU_ASSERT(say(b, "all:from the new gateway") == 0);
    CU_ASSERT(wsc_expect_text(a, "all:from the new gateway", 3000));
    CU_ASSERT(wsc_expect_text(b, "all:from the new gateway", 3000));
    CU_ASSERT(count_becomes(a, 2));
    tu_close(a);
    tu_close(b);
}

static void test_worker_restarts_after_crash(void)
{
    /* A worker process killed hard is forked again by the master and links up. */
    /* Children are not in the pid file; ask pgrep for one. */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "pgrep -P %d | head -1", (int)bw.pid);
    FILE *p = popen(cmd, "r");
    int child = 0;
    if (p) {
        if (fscanf(p, "%d", &child) != 1)
            child = 0;
        pclose(p);
    }
    CU_ASSERT_FATAL(child > 0);
    kill(child, SIGKILL);
    CU_ASSERT(tu_file_contains(bw.log, "died (signal 9); starting it again", 3000));
    /* Until the new process links up, the gateways hold its clients' events. */
    int a = client(&gw1), b = client(&gw2);
    for (int i = 0; i < 5; i++) {
        char m[32];
        snprintf(m, sizeof m, "echo:after-crash-%d", i);
        CU_ASSERT(ask(a, m, m));
        CU_ASSERT(ask(b, m, m));
    }
    tu_close(a);
    tu_close(b);
}

static void test_status_and_settings(void)
{
    char *bbin = tu_bin_path("business");
    char pidarg[160];
    snprintf(pidarg, sizeof pidarg, "--pidFile=%s/business.pid", dir);
    char out[128];
    snprintf(out, sizeof out, "%s/status.out", dir);
    char *argv[] = {bbin, pidarg, "status", NULL};
    pid_t pid;
    int st, both = 0;
    /* The previous test killed a worker: its replacement may still be
     * starting (restarts are throttled to one a second), so ask again until
     * both processes answer. */
    for (int tries = 0; tries < 20 && !both; tries++) {
        unlink(out);
        pid = tu_spawn(argv, out);
        waitpid(pid, &st, 0);
        CU_ASSERT(exited_zero(st));
        both = tu_file_contains(out, "worker_key " NAME ":0", 0) && tu_file_contains(out, "worker_key " NAME ":1", 0);
        if (!both)
            usleep(500000);
    }
    CU_ASSERT(both);
    /* The operators' numbers: the echo tests before this one sent events. */
    CU_ASSERT(tu_file_contains(out, "events in ", 0));
    CU_ASSERT(tu_file_contains(out, "queued to gateways ", 0));
    CU_ASSERT(tu_file_contains(out, "dropped commands 0", 0));
    /* A missing application is refused on the terminal. */
    char bad[128];
    snprintf(bad, sizeof bad, "%s/bad.out", dir);
    char pid2[160];
    snprintf(pid2, sizeof pid2, "--pidFile=%s/bad.pid", dir);
    char *argv2[] = {bbin, pid2, "--eventHandler=/nonexistent/app.so", "start", NULL};
    pid = tu_spawn(argv2, bad);
    waitpid(pid, &st, 0);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) != 0);
    CU_ASSERT(tu_file_contains(bad, "cannot load /nonexistent/app.so", 1000));
    free(bbin);
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("business_process", start_all, stop_all);
    CU_add_test(s, "echo: the message back, in order, any size", test_echo);
    CU_add_test(s, "join/group, uid/touid, all on one gateway", test_groups_uids_all_one_gateway);
    CU_add_test(s, "uid, group, broadcast and count across two gateways", test_across_gateways);
    CU_add_test(s, "session write-back reaches the gateway", test_session_write_back);
    CU_add_test(s, "a gateway killed and restarted", test_gateway_restart);
    CU_add_test(s, "a worker process killed is started again", test_worker_restarts_after_crash);
    CU_add_test(s, "status command and a bad eventHandler", test_status_and_settings);
    return tu_run("test_business");
}
