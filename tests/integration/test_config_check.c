/* `BIN -c FILE check` and `BIN --version`, run as real processes: the exact
 * lines each role prints for a configuration with many problems (every one,
 * as FILE:LINE: key: reason), the exit status, and that check starts nothing
 * (no pid file, no log file, the port stays free). */
#include <CUnit/Basic.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tu.h"

static char dir[64];

/* Writes text to DIR/name; returns the path (a fmt ring slot). */
static const char *write_file(const char *name, const char *text)
{
    const char *path = tu_fmt("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Runs "BIN ARGS" in DIR (relative paths in the file are relative to it)
 * and checks the exit status and the whole output. */
#define EXPECT_RUN(role, args, want_rc, want_out)                                                            \
    do {                                                                                                     \
        char out_[8192];                                                                                     \
        char *bin_ = tu_bin_path(role);                                                                      \
        int rc_ = tu_run_cmd(out_, sizeof out_, tu_fmt("cd %s && %s %s 2>&1", dir, bin_, args));                  \
        free(bin_);                                                                                          \
        CU_ASSERT_EQUAL(rc_, want_rc);                                                                       \
        if (strcmp(out_, want_out) != 0)                                                                     \
            fprintf(stderr, "\n%s %s:\n--- got (rc %d)\n%s--- want (rc %d)\n%s---\n", role, args, rc_, out_, \
                    want_rc, want_out);                                                                      \
        CU_ASSERT_STRING_EQUAL(out_, want_out);                                                              \
    } while (0)

/* EXPECT_RUN with %DIR% in want replaced by the temporary folder. */
static char *with_dir(const char *want)
{
    static char buf[8192];
    const char *p = strstr(want, "%DIR%");
    if (!p)
        return strcpy(buf, want);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(p - want), want, dir, p + 5);
    return buf;
}

static void test_gateway_every_problem(void)
{
    write_file("gw.ini", "; a gateway with a problem on most lines\n"   /* 1 */
                         "[gateway]\n"                                  /* 2 */
                         "listen = websocket://0.0.0.0:70000\n"         /* 3 */
                         "lanIp = 0.0.0.0\n"                            /* 4 */
                         "count = 100\n"                                /* 5 */
                         "router = fastest\n"                           /* 6 */
                         "pingIntervall = 25\n"                         /* 7 */
                         "just some words\n"                            /* 8 */
                         "webRoot = no-such-folder\n"                   /* 9 */
                         "ssl_cert = gw.ini\n"                          /* 10 */
                         "proxyProtocol = perhaps\n"                    /* 11 */
                         "trustedProxies = 10.1.2.3/8\n"                /* 12 */
                         "registerAddress = 10.0.0.1:1239,10.0.0.2\n"   /* 13 */
                         "[business]\n"                                 /* 14 */
                         "count = lots\n"                               /* 15 */
                         "[gatway]\n"                                   /* 16 */
                         "secretKey = x\n"                              /* 17 */
                         "startPort = 65535\n");                       /* 18 */
    EXPECT_RUN("gateway", "-c gw.ini check", 1,
               with_dir("gw.ini:3: listen: 'websocket://0.0.0.0:70000': port must be 1..65535\n"
               "gw.ini:5: count: 100 is out of range 1..64\n"
               "gw.ini:7: pingIntervall: unknown setting\n"
               "gw.ini:8: syntax error (expected name = value)\n"
               "gw.ini:11: proxyProtocol: 'perhaps' is not on/off\n"
               "gw.ini:13: registerAddress: '10.0.0.2' is not ip:port (a dotted-quad IPv4 and a port)\n"
               "gw.ini:17: secretKey: unknown section [gatway]\n"
               "gw.ini:18: startPort: unknown section [gatway]\n"
               "gw.ini:4: lanIp: '0.0.0.0' must be a dotted-quad IPv4 address workers can reach (not 0.0.0.0, "
               "no host name): client_ids and routing depend on it\n"
               "gw.ini:6: router: 'fastest' is not leastConnections, random or client\n"
               /* no key while lanIp is not loopback: at the section line (not set) */
               "gw.ini:2: secretKey: empty while lanIp 0.0.0.0 is not loopback: anyone reaching the "
               "internal ports could command every client; set secretKey (the same on every role), or "
               "allowEmptySecretOnLan = on to run open anyway\n"
               "gw.ini:2: ssl_key: ssl_cert and ssl_key go together: set both for wss, or neither\n"
               "gw.ini:9: webRoot: " /* made absolute: the daemon runs in / */
               "%DIR%/no-such-folder: No such file or directory\n"
               "gw.ini:12: trustedProxies: entry 1 '10.1.2.3/8': host bits set (did you mean 10.0.0.0/8?)\n"
               "gw.ini: 14 problems\n"));
}

static void test_business_and_register(void)
{
    /* A value missing from the file is reported at the role's section. */
    write_file("b.ini", "registerAddress = 127.0.0.1:1\n" /* 1: before any section: every role */
                        "\n"                              /* 2 */
                        "[business]\n"                    /* 3 */
                        "count = 0\n"                     /* 4 */
                        "slowCallbackMs = 1.5\n"          /* 5 */
                        "[app]\n"                         /* 6 */
                        "anything = goes\n");             /* 7: the application checks its own */
    EXPECT_RUN("business", "-c b.ini check", 1,
               "b.ini:4: count: 0 is out of range 1..64\n"
               "b.ini:5: slowCallbackMs: '1.5' is not an integer\n"
               "b.ini:3: eventHandler: not set (the application's .so, e.g. build/apps/echo.so)\n"
               "b.ini: 3 problems\n");
    /* The register knows no registerAddress; it skips [business] and [app]. */
    EXPECT_RUN("register", "-c b.ini check", 1,
               "b.ini:1: registerAddress: unknown setting\n"
               "b.ini: 1 problem\n");
    /* A .so that is not there; command-line values are named as such. */
    write_file("b2.ini", "[business]\neventHandler = apps/missing.so\n");
    EXPECT_RUN("business", "-c b2.ini --count=x --registerAddress=1.2.3.4 check", 1,
               with_dir("command line: --count: 'x' is not an integer\n"
                        "command line: --registerAddress: '1.2.3.4' is not ip:port (a dotted-quad IPv4 and a port)\n"
                        "b2.ini:2: eventHandler: %DIR%/apps/missing.so: No such file or directory\n"
                        "b2.ini: 3 problems\n"));
    EXPECT_RUN("register", "-c b2.ini --listen=websocket://127.0.0.1:1239 check", 1,
               "command line: --listen: the register speaks the Text protocol; use text://ip:port, not websocket://\n"
               "b2.ini: 1 problem\n");
}

static void test_unreadable_and_long_lines(void)
{
    EXPECT_RUN("register", "-c nothing-here.ini check", 1,
               "nothing-here.ini: cannot open: No such file or directory\n"
               "nothing-here.ini: 1 problem\n");
    CU_ASSERT_FATAL(mkdir(tu_fmt("%s/a-folder.ini", dir), 0755) == 0);
    EXPECT_RUN("gateway", "-c a-folder.ini check", 1,
               "a-folder.ini: cannot read: Is a directory\n"
               "a-folder.ini: 1 problem\n");
    /* A line inih cannot take whole is reported at its own number, and the
     * lines after it keep theirs. */
    char text[1024];
    snprintf(text, sizeof text, "[register]\nsecretKey = %0300d\nauthTimeout = 0\n", 7);
    write_file("long.ini", text);
    EXPECT_RUN("register", "-c long.ini check", 1,
               "long.ini:2: line longer than 199 bytes\n"
               "long.ini:3: authTimeout: 0 is out of range 1..3600\n"
               "long.ini: 2 problems\n");
}

static void test_ok_starts_nothing(void)
{
    int port = tu_free_port();
    write_file("ok.ini", tu_fmt("[register]\nlisten = text://127.0.0.1:%d\nsecretKey = k\n"
                             "pidFile = run.pid\nlogFile = run.log\n"
                             "[gateway]\nlisten = websocket://127.0.0.1:%d\nstartPort = %d\n"
                             "pidFile = gw.pid\nlogFile = gw.log\n",
                             port, port, port));
    EXPECT_RUN("register", "-c ok.ini check", 0, "ok.ini: ok\n");
    EXPECT_RUN("gateway", "-c ok.ini check -d", 0, "ok.ini: ok\n");
    /* Nothing was started: no pid or log file, and the port is free. */
    struct stat st;
    CU_ASSERT_EQUAL(stat(tu_fmt("%s/run.pid", dir), &st), -1);
    CU_ASSERT_EQUAL(stat(tu_fmt("%s/run.log", dir), &st), -1);
    CU_ASSERT_EQUAL(stat(tu_fmt("%s/gw.pid", dir), &st), -1);
    CU_ASSERT_EQUAL(tu_connect(port, 200), -1);
    /* No file: the defaults and the arguments are checked. */
    EXPECT_RUN("register", "--authTimeout=9 check", 0, "(no file: defaults and arguments): ok\n");
    EXPECT_RUN("register", "--authTimeout=0 check", 1,
               "command line: --authTimeout: 0 is out of range 1..3600\n"
               "(no file: defaults and arguments): 1 problem\n");
}

/* Every binary prints "NAME VERSION" or "NAME VERSION (git COMMIT)", all the
 * same version. */
static void test_version(void)
{
    static const char *bins[] = {"register", "gateway", "business", "gwctl", "lotteryctl"};
    regex_t re;
    CU_ASSERT_FATAL(regcomp(&re, "^([a-z]+) ([0-9]+\\.[0-9]+\\.[0-9]+[^ ]*( \\(git [0-9a-f]+(-dirty)?\\))?)\n$",
                            REG_EXTENDED) == 0);
    char first[128] = "";
    for (size_t i = 0; i < sizeof bins / sizeof bins[0]; i++) {
        char out[512];
        char *bin = tu_bin_path(bins[i]);
        CU_ASSERT_EQUAL(tu_run_cmd(out, sizeof out, tu_fmt("%s --version 2>&1", bin)), 0);
        free(bin);
        regmatch_t m[3];
        int ok = regexec(&re, out, 3, m, 0) == 0;
        if (!ok)
            fprintf(stderr, "\n%s --version: %s\n", bins[i], out);
        CU_ASSERT_FATAL(ok);
        CU_ASSERT_EQUAL((size_t)(m[1].rm_eo - m[1].rm_so), strlen(bins[i]));
        CU_ASSERT_EQUAL(strncmp(out, bins[i], strlen(bins[i])), 0);
        char v[128];
        snprintf(v, sizeof v, "%.*s", (int)(m[2].rm_eo - m[2].rm_so), out + m[2].rm_so);
        if (!first[0])
            snprintf(first, sizeof first, "%s", v);
        CU_ASSERT_STRING_EQUAL(v, first);
    }
    regfree(&re);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/gw-test-check-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("config_check", NULL, NULL);
    CU_add_test(s, "gateway: every problem, FILE:LINE: key: reason", test_gateway_every_problem);
    CU_add_test(s, "business and register: missing values, files, command line", test_business_and_register);
    CU_add_test(s, "unreadable file, long lines", test_unreadable_and_long_lines);
    CU_add_test(s, "a good file: ok, exit 0, nothing started", test_ok_starts_nothing);
    CU_add_test(s, "--version", test_version);
    int rc = tu_run("test_config_check");
    if (system(tu_fmt("rm -rf %s", dir)) != 0)
        rc = rc ? rc : 1;
    return rc;
}
