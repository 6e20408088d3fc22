/* gwctl (and through it the C GatewayClient, business/gwclient/) against
 * real processes on loopback: a register, two gateways, a business worker
 * with apps/echo, and real WebSocket clients on both gateways. Every
 * subcommand runs build/gwctl as a subprocess; the test checks what the
 * clients received (or that they were closed) and the --json output, and
 * the failure paths: wrong key, no register, bad client_id, a gateway that
 * refuses the connection and one that never answers. */
#include <CUnit/Basic.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sock.h"
#include "launch.h"
#include "tu.h"
#include "wsc.h"

#define KEY "gwctl-test-key"
#define NAME "EchoCtl"

static char dir[64];
static int reg_port;
static struct launch reg, bw;

static struct launch_gw gw1, gw2;

/* The clients: a and b on gateway 1, c on gateway 2. */
enum { A, B, C, NCLIENT };
static int fds[NCLIENT];
static char ids[NCLIENT][32];
static const char *const uids[NCLIENT] = {"u-a", "u-b", "u-c"};

/* register, two gateways, one business process running apps/echo. */
static int start_all(void)
{
    if (launch_tmpdir("gwctl", dir, sizeof dir) < 0)
        return -1;
    reg_port = tu_free_port();
    launch_register(&reg, dir, reg_port, KEY);
    if (launch_start(&reg, reg_port, NULL, 5000) < 0)
        return -1;
    launch_gw_spawn(&gw1, dir, "gateway-1", reg_port, KEY);
    launch_gw_spawn(&gw2, dir, "gateway-2", reg_port, KEY);
    launch_business(&bw, dir, "business", reg_port, "apps/echo.so", NAME, 1, KEY);
    launch_spawn(&bw);
    return launch_gw_linked(&gw1, NAME, 1, 8000) == 0 && launch_gw_linked(&gw2, NAME, 1, 8000) == 0 ? 0 : -1;
}

static int stop_all(void)
{
    for (int i = 0; i < NCLIENT; i++)
        if (fds[i] >= 0)
            tu_close(fds[i]);
    int sb = launch_stop(&bw, 8000);
    int s1 = launch_stop(&gw1.p, 5000), s2 = launch_stop(&gw2.p, 5000);
    int sr = launch_stop(&reg, 5000);
    if (sb || s1 || s2 || sr)
        fprintf(stderr, "not exited with 0: business %d, gateways %d %d, register %d (logs in %s)\n", sb, s1, s2, sr,
                dir);
    launch_free(&bw);
    launch_free(&gw1.p);
    launch_free(&gw2.p);
    launch_free(&reg);
    return sb == 0 && s1 == 0 && s2 == 0 && sr == 0 ? 0 : -1;
}

/* ---- running gwctl ---- */

struct res {
    int status;    /* exit status, or -1 if it did not exit normally */
    char *out;     /* stdout */
    char *err;     /* stderr */
    json_t *json;  /* stdout parsed, when --json was given */
};

static void res_free(struct res *r)
{
    free(r->out);
    free(r->err);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

/* Runs gwctl with the register address and `key` (NULL: the right key;
 * register: the register port, 0 for ours) and the NULL-terminated words. */
static struct res gwctl_at(int register_port, const char *key, int json, const char *const *words)
{
    static int seq;
    struct res r = {.status = -1};
    char *bin = tu_bin_path("gwctl");
    char regarg[64], keyarg[128], outp[128], errp[128];
    snprintf(regarg, sizeof regarg, "--registerAddress=127.0.0.1:%d", register_port ? register_port : reg_port);
    snprintf(keyarg, sizeof keyarg, "--secretKey=%s", key ? key : KEY);
    snprintf(outp, sizeof outp, "%s/gwctl-%d.out", dir, seq);
    snprintf(errp, sizeof errp, "%s/gwctl-%d.err", dir, seq++);
    char *argv[16];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = regarg;
    argv[n++] = keyarg;
    if (json)
        argv[n++] = "--json";
    for (int i = 0; words[i] && n < 15; i++)
        argv[n++] = (char *)words[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644), e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(o, STDOUT_FILENO);
        dup2(e, STDERR_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st))
        r.status = WEXITSTATUS(st);
    size_t len;
    r.out = (char *)tu_read_file(outp, &len);
    r.err = (char *)tu_read_file(errp, &len);
    if (!r.out)
        r.out = strdup("");
    if (!r.err)
        r.err = strdup("");
    if (json)
        r.json = json_loads(r.out, 0, NULL);
    if (r.status == 1 || r.status == -1) /* internal error or crash (ASan) */
        fprintf(stderr, "\n  gwctl %s -> %d: %s", words[0], r.status, r.err);
    free(bin);
    return r;
}

#define GWCTL(json, ...) gwctl_at(0, NULL, json, (const char *const[]){__VA_ARGS__, NULL})

static int say(int fd, const char *text) { return wsc_send(fd, WSC_TEXT, text, strlen(text)); }
static int ask(int fd, const char *text, const char *want)
{
    return say(fd, text) == 0 && wsc_expect_text(fd, want, 3000);
}

/* Every client got exactly `msg` (those in `who`, a bitmask) or nothing. */
static int only(unsigned who, const char *msg)
{
    int ok = 1;
    for (int i = 0; i < NCLIENT; i++) {
        if (fds[i] < 0)
            continue;
        if (who & (1u << i))
            ok &= wsc_expect_text(fds[i], msg, 3000);
        else
            ok &= wsc_quiet(fds[i], 150);
    }
    return ok;
}

static int json_has_string(const json_t *a, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) if (json_is_string(v) && strcmp(json_string_value(v), s) == 0) return 1;
    return 0;
}

static long long jint(const json_t *o, const char *k) { return (long long)json_integer_value(json_object_get(o, k)); }

/* ---- tests ---- */

/* Connects a, b (gateway 1) and c (gateway 2), binds uids u-a, u-b, u-c,
 * joins groups (lobby: all three; vip: a and c), and learns their
 * client_ids from `online` + `session` (the echo app stores the uid in the
 * session). */
static void test_online_count_session(void)
{
    fds[A] = wsc_connect(gw1.ws_port, "/", NULL, 3000);
    fds[B] = wsc_connect(gw1.ws_port, "/", NULL, 3000);
    fds[C] = wsc_connect(gw2.ws_port, "/", NULL, 3000);
    CU_ASSERT_FATAL(fds[A] >= 0 && fds[B] >= 0 && fds[C] >= 0);
    for (int i = 0; i < NCLIENT; i++) {
        char m[64], w[64];
        snprintf(m, sizeof m, "uid:%s", uids[i]);
        snprintf(w, sizeof w, "bound:%s", uids[i]);
        CU_ASSERT(ask(fds[i], m, w));
    }
    CU_ASSERT(ask(fds[A], "join:lobby", "joined:lobby"));
    CU_ASSERT(ask(fds[B], "join:lobby", "joined:lobby"));
    CU_ASSERT(ask(fds[C], "join:lobby", "joined:lobby"));
    CU_ASSERT(ask(fds[A], "join:vip", "joined:vip"));
    CU_ASSERT(ask(fds[C], "join:vip", "joined:vip"));
    /* The session write-back follows the callback; one more round trip
     * through the same worker link makes sure it reached the gateway. */
    for (int i = 0; i < NCLIENT; i++)
        CU_ASSERT(ask(fds[i], "echo:sync", "echo:sync"));

    struct res r = GWCTL(1, "count");
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r.json);
    CU_ASSERT_EQUAL(jint(r.json, "count"), 3);
    CU_ASSERT_EQUAL(jint(r.json, "gateways"), 2);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(r.json, "missing")), 0);
    res_free(&r);
    r = GWCTL(0, "count");
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_STRING_EQUAL(r.out, "3\n");
    res_free(&r);

    r = GWCTL(1, "online");
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r.json);
    CU_ASSERT_EQUAL(jint(r.json, "count"), 3);
    json_t *cids = json_object_get(r.json, "client_ids"), *ul = json_object_get(r.json, "uids");
    CU_ASSERT_EQUAL_FATAL(json_array_size(cids), 3);
    for (int i = 0; i < NCLIENT; i++)
        CU_ASSERT(json_has_string(ul, uids[i]));

    /* Which client_id is whose: its session says (and proves `session`). */
    size_t k;
    json_t *v;
    int on_gw1 = 0, on_gw2 = 0;
    json_array_foreach(cids, k, v)
    {
        const char *id = json_string_value(v);
        CU_ASSERT_EQUAL_FATAL(strlen(id), 20);
        /* client_id = hex(ip | port | conn): the port names the gateway. */
        char port[5];
        snprintf(port, sizeof port, "%04x", gw1.lan_port);
        on_gw1 += strncmp(id + 8, port, 4) == 0;
        snprintf(port, sizeof port, "%04x", gw2.lan_port);
        on_gw2 += strncmp(id + 8, port, 4) == 0;
        struct res s = GWCTL(1, "session", id);
        CU_ASSERT_EQUAL(s.status, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s.json);
        CU_ASSERT(json_is_true(json_object_get(s.json, "online")));
        const char *uid = json_string_value(json_object_get(json_object_get(s.json, "session"), "uid"));
        CU_ASSERT_PTR_NOT_NULL_FATAL(uid);
        for (int i = 0; i < NCLIENT; i++)
            if (strcmp(uid, uids[i]) == 0)
                snprintf(ids[i], sizeof ids[i], "%s", id);
        res_free(&s);
    }
    CU_ASSERT(on_gw1 == 2 && on_gw2 == 1);
    res_free(&r);
    for (int i = 0; i < NCLIENT; i++)
        CU_ASSERT_FATAL(ids[i][0] != 0);

    /* The text form of session is the session as JSON. */
    r = GWCTL(0, "session", ids[C]);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT(strstr(r.out, "\"uid\": \"u-c\"") != NULL);
    res_free(&r);

    /* online ID: yes for a, no for a made-up connection on gateway 1. */
    r = GWCTL(1, "online", ids[A]);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT(r.json && json_is_true(json_object_get(r.json, "online")));
    res_free(&r);
    char ghost[32];
    snprintf(ghost, sizeof ghost, "%.12s%08x", ids[A], 0x7ffffff0u);
    r = GWCTL(1, "online", ghost);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT(r.json && json_is_false(json_object_get(r.json, "online")));
    res_free(&r);
    /* session of a client that is not connected: exit 5, online false, session null. */
    r = GWCTL(1, "session", ghost);
    CU_ASSERT_EQUAL(r.status, 5);
    CU_ASSERT(r.json && json_is_false(json_object_get(r.json, "online")));
    CU_ASSERT(r.json && json_is_null(json_object_get(r.json, "session")));
    CU_ASSERT(strstr(r.err, "not online") != NULL);
    res_free(&r);
    CU_ASSERT(only(0, NULL));
}

static void test_list_groups(void)
{
    CU_ASSERT_FATAL(ids[A][0] != 0);
    struct res r = GWCTL(1, "list-groups");
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r.json);
    json_t *g = json_object_get(r.json, "groups"), *c = json_object_get(r.json, "counts");
    CU_ASSERT_EQUAL(json_array_size(g), 2);
    CU_ASSERT(json_has_string(g, "lobby") && json_has_string(g, "vip"));
    CU_ASSERT_EQUAL(jint(c, "lobby"), 3);
    CU_ASSERT_EQUAL(jint(c, "vip"), 2);
    res_free(&r);
    r = GWCTL(0, "list-groups");
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT(strstr(r.out, "lobby\t3\n") && strstr(r.out, "vip\t2\n"));
    res_free(&r);
}

static void test_pushes(void)
{
    CU_ASSERT_FATAL(ids[A][0] != 0);
    /* Broadcast: every client on both gateways. */
    struct res r = GWCTL(1, "send-to-all", "hello everyone");
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT(r.json && jint(r.json, "sent") == 2);
    res_free(&r);
    CU_ASSERT(only(1u << A | 1u << B | 1u << C, "hello everyone"));

    /* One client, on the second gateway. */
    r = GWCTL(0, "send-to-client", ids[C], "just for c");
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_STRING_EQUAL(r.out, "sent to 1 gateway(s)\n");
    res_free(&r);
    CU_ASSERT(only(1u << C, "just for c"));

    /* By uid. */
    r = GWCTL(1, "send-to-uid", "u-b", "to uid b");
    CU_ASSERT_EQUAL(r.status, 0);
    res_free(&r);
    CU_ASSERT(only(1u << B, "to uid b"));

    /* By group, spanning both gateways. */
    r = GWCTL(1, "send-to-group", "vip", "vip news");
    CU_ASSERT_EQUAL(r.status, 0);
    res_free(&r);
    CU_ASSERT(only(1u << A | 1u << C, "vip news"));

    /* A message that looks like an option goes after --. */
    r = GWCTL(1, "send-to-group", "lobby", "--", "--dashes--");
    CU_ASSERT_EQUAL(r.status, 0);
    res_free(&r);
    CU_ASSERT(only(1u << A | 1u << B | 1u << C, "--dashes--"));

    /* Nobody is bound to this uid / in this group: delivered to no one. */
    r = GWCTL(1, "send-to-uid", "nobody", "lost");
    CU_ASSERT_EQUAL(r.status, 0);
    res_free(&r);
    CU_ASSERT(only(0, NULL));
}

static void test_kick(void)
{
    CU_ASSERT_FATAL(ids[B][0] != 0);
    struct res r = GWCTL(1, "kick", ids[B], "bye b");
    CU_ASSERT_EQUAL(r.status, 0);
    res_free(&r);
    CU_ASSERT(wsc_expect_text(fds[B], "bye b", 3000));
    CU_ASSERT(tu_wait_eof(fds[B], 3000));
    tu_close(fds[B]);
    fds[B] = -1;
    CU_ASSERT(only(0, NULL));

    /* The count follows (the close reaches the gateway's tables at once). */
    int count = -1;
    for (int i = 0; i < 20 && count != 2; i++) {
        r = GWCTL(1, "count");
        count = r.json ? (int)jint(r.json, "count") : -1;
        res_free(&r);
        if (count != 2)
            usleep(100000);
    }
    CU_ASSERT_EQUAL(count, 2);

    /* Kicking it again: not online, exit 5, nothing sent. */
    r = GWCTL(1, "kick", ids[B]);
    CU_ASSERT_EQUAL(r.status, 5);
    CU_ASSERT(strstr(r.err, "not online") != NULL);
    res_free(&r);
    /* Kick without a message, on the second gateway. */
    r = GWCTL(1, "kick", ids[C]);
    CU_ASSERT_EQUAL(r.status, 0);
    res_free(&r);
    CU_ASSERT(tu_wait_eof(fds[C], 3000));
    tu_close(fds[C]);
    fds[C] = -1;
    fds[C] = wsc_connect(gw2.ws_port, "/", NULL, 3000);
    CU_ASSERT(fds[C] >= 0);
}

static void test_errors(void)
{
    /* Wrong key: the register closes without a list. */
    struct res r = gwctl_at(0, "not-the-key", 0, (const char *const[]){"count", NULL});
    CU_ASSERT_EQUAL(r.status, 3);
    CU_ASSERT(strstr(r.err, "wrong secretKey") != NULL);
    CU_ASSERT_STRING_EQUAL(r.out, "");
    res_free(&r);
    r = gwctl_at(0, "not-the-key", 1, (const char *const[]){"send-to-all", "x", NULL});
    CU_ASSERT_EQUAL(r.status, 3);
    CU_ASSERT(r.json && jint(r.json, "exit") == 3);
    res_free(&r);
    CU_ASSERT(only(0, NULL));

    /* No register listening. */
    int dead = tu_free_port();
    r = gwctl_at(dead, NULL, 0, (const char *const[]){"count", NULL});
    CU_ASSERT_EQUAL(r.status, 3);
    CU_ASSERT(strstr(r.err, "no register reachable") != NULL);
    res_free(&r);
    /* A second register in the list is used when the first is down. */
    char both[64];
    snprintf(both, sizeof both, "--registerAddress=127.0.0.1:%d,127.0.0.1:%d", dead, reg_port);
    r = GWCTL(1, both, "count");
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT(r.json && jint(r.json, "count") == 2);
    res_free(&r);

    /* Bad client_id, unknown command, missing argument. */
    r = GWCTL(0, "send-to-client", "zz", "x");
    CU_ASSERT_EQUAL(r.status, 2);
    CU_ASSERT(strstr(r.err, "bad client_id") != NULL);
    res_free(&r);
    r = GWCTL(0, "session", "0123456789abcdefxyz!");
    CU_ASSERT_EQUAL(r.status, 2);
    res_free(&r);
    r = GWCTL(0, "explode");
    CU_ASSERT_EQUAL(r.status, 2);
    CU_ASSERT(strstr(r.err, "unknown command") != NULL);
    res_free(&r);
    r = GWCTL(0, "send-to-uid", "u-a");
    CU_ASSERT_EQUAL(r.status, 2);
    res_free(&r);
    CU_ASSERT(only(0, NULL));
}

/* Registers `address` with our register as a gateway would; returns the
 * register connection (the address stays listed while it is open). */
static int fake_gateway(const char *address)
{
    int fd = tu_connect(reg_port, 3000);
    char line[160];
    int n = snprintf(line, sizeof line, "{\"event\":\"gateway_connect\",\"address\":\"%s\",\"secret_key\":\"%s\"}\n",
                     address, KEY);
    if (fd < 0 || tu_write_all(fd, line, (size_t)n) < 0)
        return -1;
    return fd;
}

static int gateways_listed(int want)
{
    for (int i = 0; i < 50; i++) {
        struct res r = GWCTL(1, "list-groups");
        int n = r.json ? (int)jint(r.json, "gateways") : -1;
        res_free(&r);
        if (n == want)
            return 1;
        usleep(100000);
    }
    return 0;
}

static void test_gateway_missing(void)
{
    /* A "gateway" that accepts connections and never answers... */
    char err[200], silent[32], refused[32];
    int sp = tu_free_port();
    int lfd = sock_listen("127.0.0.1", (uint16_t)sp, 0, 64, err, sizeof err);
    CU_ASSERT_FATAL(lfd >= 0);
    snprintf(silent, sizeof silent, "127.0.0.1:%d", sp);
    /* ...and one whose port is closed. */
    snprintf(refused, sizeof refused, "127.0.0.1:%d", tu_free_port());
    int r1 = fake_gateway(silent), r2 = fake_gateway(refused);
    CU_ASSERT_FATAL(r1 >= 0 && r2 >= 0);
    CU_ASSERT_FATAL(gateways_listed(4));

    /* A query: the real gateways' answer, both fakes named, exit 4. */
    long long t0 = tu_now_ms();
    struct res r = GWCTL(1, "count");
    long long took = tu_now_ms() - t0;
    CU_ASSERT_EQUAL(r.status, 4);
    CU_ASSERT(r.json && jint(r.json, "count") == 2);
    json_t *m = r.json ? json_object_get(r.json, "missing") : NULL;
    CU_ASSERT(json_has_string(m, silent) && json_has_string(m, refused));
    CU_ASSERT(strstr(r.err, "did not answer") != NULL && strstr(r.err, "partial") != NULL);
    CU_ASSERT(took >= 4500 && took < 9000); /* the 5 s reply timeout */
    res_free(&r);

    /* A push: the two real gateways take it, the refusing one is named. */
    r = GWCTL(1, "send-to-all", "partial push");
    CU_ASSERT_EQUAL(r.status, 4);
    CU_ASSERT(r.json && jint(r.json, "sent") == 3); /* the silent one accepts the connection */
    m = r.json ? json_object_get(r.json, "missing") : NULL;
    CU_ASSERT(json_has_string(m, refused) && !json_has_string(m, silent));
    res_free(&r);
    CU_ASSERT(only(1u << A | 1u << C, "partial push"));

    tu_close(r1);
    tu_close(r2);
    close(lfd);
    CU_ASSERT(gateways_listed(2));
}

int main(void)
{
    for (int i = 0; i < NCLIENT; i++)
        fds[i] = -1;
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("gwctl", start_all, stop_all);
    CU_add_test(s, "count, online, session (JSON and text) across two gateways", test_online_count_session);
    CU_add_test(s, "list-groups with member counts", test_list_groups);
    CU_add_test(s, "send-to-all / client / uid / group reach exactly their clients", test_pushes);
    CU_add_test(s, "kick closes the client (with and without a message)", test_kick);
    CU_add_test(s, "wrong key, no register, bad client_id, usage errors", test_errors);
    CU_add_test(s, "a gateway that never answers or refuses: partial result, exit 4", test_gateway_missing);
    return tu_run("test_gwctl");
}
