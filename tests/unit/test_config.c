/* config: real INI files in a temporary directory, a table with one option of
 * every type, defaults < file < command line, role sections, and the exact
 * "FILE:LINE: key: reason" error texts. Every load is followed by cfg_free, so
 * the run is leak-free under ASan. */
#include "config.h"
#include "tu.h"

#include <CUnit/CUnit.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tcfg {
    struct cfg_common common; /* must come first */
    char *secretKey;
    char *dataFile;
    char *noDefault;
    long count;
    long offset;
    int daemon;
    int verbose;
    struct netaddr_listen listen;
    struct cfg_addrlist registerAddress;
};

static const struct cfg_opt opts[] = {
    {"secretKey", CFG_STR, offsetof(struct tcfg, secretKey), "", 0, 0, "shared key"},
    {"dataFile", CFG_PATH, offsetof(struct tcfg, dataFile), "data/db", 0, 0, "a path"},
    {"noDefault", CFG_STR, offsetof(struct tcfg, noDefault), NULL, 0, 0, "no default"},
    {"count", CFG_INT, offsetof(struct tcfg, count), "4", 1, 64, "processes"},
    {"offset", CFG_INT, offsetof(struct tcfg, offset), "-5", -10, 10, "signed"},
    {"daemon", CFG_BOOL, offsetof(struct tcfg, daemon), "off", 0, 0, "daemonize"},
    {"verbose", CFG_BOOL, offsetof(struct tcfg, verbose), "yes", 0, 0, "log more"},
    {"listen", CFG_LISTEN, offsetof(struct tcfg, listen), "text://0.0.0.0:1238", 0, 0, "socket name"},
    {"registerAddress", CFG_ADDRLIST, offsetof(struct tcfg, registerAddress), "127.0.0.1:1238", 0, 0,
     "registers"},
    {NULL, 0, 0, NULL, 0, 0, NULL},
};

static char tmpdir[256]; /* the cwd during the suites (mkdtemp, resolved) */
static char oldcwd[PATH_MAX];
static int nfiles;

static int setup(void)
{
    if (!getcwd(oldcwd, sizeof oldcwd))
        return 1;
    char tmpl[] = "/tmp/test_config.XXXXXX";
    if (!mkdtemp(tmpl) || chdir(tmpl) < 0 || !getcwd(tmpdir, sizeof tmpdir))
        return 1;
    return 0;
}

static int teardown(void)
{
    /* Remove what we wrote: f1.ini .. fN.ini, then the directory. */
    for (int i = 1; i <= nfiles; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%d.ini", i);
        unlink(name);
    }
    if (chdir(oldcwd) < 0)
        return 1;
    return rmdir(tmpdir) < 0;
}

/* Writes text to a new file in tmpdir; returns its absolute path (static slot). */
static const char *write_ini(const char *text)
{
    static char paths[4][sizeof tmpdir + 32];
    static int slot;
    char *p = paths[slot++ % 4];
    nfiles++;
    snprintf(p, sizeof paths[0], "%s/f%d.ini", tmpdir, nfiles);
    FILE *f = fopen(p, "w");
    if (!f)
        return "/nonexistent/could-not-write.ini";
    fputs(text, f);
    fclose(f);
    return p;
}

static int load(struct tcfg *c, const char *role, const char *file, int nargs, char *const args[], char *err,
                size_t errlen)
{
    memset(c, 0, sizeof *c);
    err[0] = 0;
    return cfg_load(opts, c, role, file, nargs, args, err, errlen);
}

/* Loads, expects failure with exactly `want` as the error text. */
static void expect_error(const char *role, const char *file, int nargs, char *const args[], const char *want,
                         int line)
{
    struct tcfg c;
    char err[512];
    int rc = load(&c, role, file, nargs, args, err, sizeof err);
    if (rc == 0 || strcmp(err, want) != 0) {
        char m[1200];
        snprintf(m, sizeof m, "rc %d, error '%s', want '%s'", rc, err, want);
        CU_assertImplementation(CU_FALSE, line, m, __FILE__, "", CU_FALSE);
    } else {
        CU_PASS(want);
    }
    cfg_free(opts, &c);
}
#define EXPECT_ERROR(role, file, nargs, args, want) expect_error(role, file, nargs, args, want, __LINE__)

/* "<file>:<line>: <rest>" */
static const char *fmt_err(const char *file, int line, const char *rest)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s:%d: %s", file, line, rest);
    return buf;
}

static char *in_tmp(const char *name)
{
    static char buf[sizeof tmpdir + 64];
    snprintf(buf, sizeof buf, "%s/%.60s", tmpdir, name);
    return buf;
}

/* ------------------------------------------------------------- values */

static void test_defaults(void)
{
    struct tcfg c;
    char err[512];
    CU_ASSERT_EQUAL_FATAL(load(&c, "register", NULL, 0, NULL, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(err, "");
    CU_ASSERT_STRING_EQUAL(c.common.name, "none");
    CU_ASSERT_STRING_EQUAL(c.common.pidFile, in_tmp("register.pid"));
    CU_ASSERT_STRING_EQUAL(c.common.logFile, in_tmp("register.log"));
    CU_ASSERT_PTR_NULL(c.common.config_file);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c.secretKey);
    CU_ASSERT_STRING_EQUAL(c.secretKey, "");
    CU_ASSERT_STRING_EQUAL(c.dataFile, in_tmp("data/db")); /* a PATH default is made absolute too */
    CU_ASSERT_PTR_NULL(c.noDefault);
    CU_ASSERT_EQUAL(c.count, 4);
    CU_ASSERT_EQUAL(c.offset, -5);
    CU_ASSERT_EQUAL(c.daemon, 0);
    CU_ASSERT_EQUAL(c.verbose, 1);
    CU_ASSERT_STRING_EQUAL(c.listen.scheme, "text");
    CU_ASSERT_STRING_EQUAL(c.listen.host, "0.0.0.0");
    CU_ASSERT_EQUAL(c.listen.port, 1238);
    CU_ASSERT_EQUAL(c.registerAddress.n, 1);
    CU_ASSERT_STRING_EQUAL(c.registerAddress.a[0].host, "127.0.0.1");
    CU_ASSERT_EQUAL(c.registerAddress.a[0].port, 1238);
    cfg_free(opts, &c);
    CU_ASSERT_PTR_NULL(c.common.name);
    CU_ASSERT_PTR_NULL(c.common.pidFile);
    CU_ASSERT_PTR_NULL(c.secretKey);

    /* The pid and log file names follow the role. */
    CU_ASSERT_EQUAL_FATAL(load(&c, "gateway", NULL, 0, NULL, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(c.common.pidFile, in_tmp("gateway.pid"));
    CU_ASSERT_STRING_EQUAL(c.common.logFile, in_tmp("gateway.log"));
    cfg_free(opts, &c);
}

static void test_file_values(void)
{
    const char *f = write_ini("; a comment\n"
                              "# another comment\n"
                              "\n"
                              "name = MyRegister\n"
                              "secretKey = s3cr3t-lottery\n"
                              "dataFile = /var/lib/x.db\n"
                              "noDefault=set\n"
                              "count   =   16  \n"
                              "offset = -10\n"
                              "daemon = On\n"
                              "verbose = false\n"
                              "listen = websocket://[::1]:1240\n"
                              "registerAddress = 10.0.0.1:1238 , 10.0.0.2:1239,10.0.0.3:1240\n"
                              "pidFile = /run/reg.pid\n"
                              "logFile = logs/reg.log\r\n");
    struct tcfg c;
    char err[512];
    int rc = load(&c, "register", f, 0, NULL, err, sizeof err);
    CHECKF(rc == 0, "load failed: %s", err);
    if (rc == 0) {
        CU_ASSERT_STRING_EQUAL(c.common.name, "MyRegister");
        CU_ASSERT_STRING_EQUAL(c.secretKey, "s3cr3t-lottery");
        CU_ASSERT_STRING_EQUAL(c.dataFile, "/var/lib/x.db");
        CU_ASSERT_STRING_EQUAL(c.noDefault, "set");
        CU_ASSERT_EQUAL(c.count, 16);
        CU_ASSERT_EQUAL(c.offset, -10);
        CU_ASSERT_EQUAL(c.daemon, 1);
        CU_ASSERT_EQUAL(c.verbose, 0);
        CU_ASSERT_STRING_EQUAL(c.listen.scheme, "websocket");
        CU_ASSERT_STRING_EQUAL(c.listen.host, "::1");
        CU_ASSERT_EQUAL(c.listen.port, 1240);
        CU_ASSERT_EQUAL_FATAL(c.registerAddress.n, 3);
        CU_ASSERT_STRING_EQUAL(c.registerAddress.a[0].host, "10.0.0.1");
        CU_ASSERT_EQUAL(c.registerAddress.a[0].port, 1238);
        CU_ASSERT_STRING_EQUAL(c.registerAddress.a[2].host, "10.0.0.3");
        CU_ASSERT_EQUAL(c.registerAddress.a[2].port, 1240);
        CU_ASSERT_STRING_EQUAL(c.common.pidFile, "/run/reg.pid");
        CU_ASSERT_STRING_EQUAL(c.common.logFile, in_tmp("logs/reg.log"));
        CU_ASSERT_STRING_EQUAL(c.common.config_file, f);
    }
    cfg_free(opts, &c);
    CU_ASSERT_PTR_NULL(c.common.config_file);
}

static void test_bool_forms(void)
{
    static const struct {
        const char *v;
        int want;
    } forms[] = {{"on", 1},  {"true", 1}, {"yes", 1},   {"1", 1},  {"ON", 1},    {"True", 1}, {"YES", 1},
                 {"off", 0}, {"false", 0}, {"no", 0},   {"0", 0},  {"OFF", 0},   {"False", 0}, {"No", 0}};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char arg[64];
        snprintf(arg, sizeof arg, "--daemon=%s", forms[i].v);
        char *args[] = {arg};
        struct tcfg c;
        char err[512];
        int rc = load(&c, "register", NULL, 1, args, err, sizeof err);
        CHECKF(rc == 0 && c.daemon == forms[i].want, "%s: rc %d daemon %d (%s)", forms[i].v, rc, c.daemon, err);
        cfg_free(opts, &c);
    }
}

static void test_int_bounds(void)
{
    /* The bounds themselves are accepted. */
    static const char *ok[][2] = {{"--count=1", "1"}, {"--count=64", "64"}, {"--offset=-10", "-10"},
                                  {"--offset=10", "10"}, {"--offset=0", "0"}, {"--count=+7", "7"}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char *args[] = {(char *)ok[i][0]};
        struct tcfg c;
        char err[512];
        int rc = load(&c, "register", NULL, 1, args, err, sizeof err);
        long want = strtol(ok[i][1], NULL, 10);
        long got = strncmp(ok[i][0], "--count", 7) == 0 ? c.count : c.offset;
        CHECKF(rc == 0 && got == want, "%s: rc %d value %ld (%s)", ok[i][0], rc, got, err);
        cfg_free(opts, &c);
    }
}

/* Keys before any section and in [register] apply; [gateway] and [business]
 * are skipped whatever they hold. */
static void test_sections(void)
{
    const char *f = write_ini("count = 2\n"
                              "[gateway]\n"
                              "count = 50\n"
                              "lanIp = 10.1.2.3\n"
                              "daemon = not-a-bool\n"
                              "[register]\n"
                              "daemon = yes\n"
                              "secretKey = in-register\n"
                              "[business]\n"
                              "eventHandler = Events\n"
                              "count = 99\n");
    struct tcfg c;
    char err[512];
    int rc = load(&c, "register", f, 0, NULL, err, sizeof err);
    CHECKF(rc == 0, "load failed: %s", err);
    CU_ASSERT_EQUAL(c.count, 2);
    CU_ASSERT_EQUAL(c.daemon, 1);
    CU_ASSERT_STRING_EQUAL(c.secretKey, "in-register");
    cfg_free(opts, &c);

    /* The same file for the business role: [register] skipped, [business]
     * applies and its unknown key is an error at its line. */
    EXPECT_ERROR("business", f, 0, NULL, fmt_err(f, 10, "eventHandler: unknown setting"));
    /* For the gateway role, its bad bool is reported. */
    EXPECT_ERROR("gateway", f, 0, NULL, fmt_err(f, 4, "lanIp: unknown setting"));

    /* A later value wins over an earlier one. */
    f = write_ini("[register]\ncount = 3\ncount = 5\n");
    rc = load(&c, "register", f, 0, NULL, err, sizeof err);
    CHECKF(rc == 0 && c.count == 5, "rc %d count %ld (%s)", rc, c.count, err);
    cfg_free(opts, &c);
}

/* The [app] section: the business application's own keys, passed through
 * in file order; --app.KEY=value replaces or adds; other roles skip it. */
static void test_app_section(void)
{
    const char *f = write_ini("count = 2\n"
                              "[app]\n"
                              "store = sqlite:run/lottery.db\n"
                              "title = 2027 年会\n"
                              "anything = goes\n"
                              "[business]\n"
                              "count = 3\n");
    struct tcfg c;
    char err[512];
    char *args[] = {"--app.title=新年", "--app.extra=1", "--count=4"};
    int rc = load(&c, "business", f, 3, args, err, sizeof err);
    CHECKF(rc == 0, "load failed: %s", err);
    CU_ASSERT_EQUAL(c.count, 4);
    CU_ASSERT_EQUAL_FATAL(c.common.napp, 4);
    CU_ASSERT_STRING_EQUAL(c.common.app[0].key, "store");
    CU_ASSERT_STRING_EQUAL(c.common.app[0].value, "sqlite:run/lottery.db");
    CU_ASSERT_STRING_EQUAL(c.common.app[1].key, "title");
    CU_ASSERT_STRING_EQUAL(c.common.app[1].value, "新年");
    CU_ASSERT_STRING_EQUAL(c.common.app[2].value, "goes");
    CU_ASSERT_STRING_EQUAL(c.common.app[3].key, "extra");
    CU_ASSERT_PTR_NOT_NULL(c.common.start_dir);
    CU_ASSERT_EQUAL(c.common.start_dir[0], '/');
    cfg_free(opts, &c);
    CU_ASSERT_EQUAL(c.common.napp, 0);

    /* The register and the gateway skip [app]; --app.* is theirs to refuse. */
    rc = load(&c, "register", f, 0, NULL, err, sizeof err);
    CHECKF(rc == 0 && c.common.napp == 0 && c.count == 2, "rc %d napp %d (%s)", rc, c.common.napp, err);
    cfg_free(opts, &c);
    char *gargs[] = {"--app.title=x"};
    EXPECT_ERROR("gateway", NULL, 1, gargs, "command line: --app.title: unknown setting");

    /* Limits: an empty name, too many keys. */
    char *empty[] = {"--app.=x"};
    EXPECT_ERROR("business", NULL, 1, empty, "command line: --app.: an application setting's name is 1 to 64 bytes");
    char big[CFG_MAX_APP * 16 + 16] = "[app]\n";
    for (int i = 0; i <= CFG_MAX_APP; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "k%d = v\n", i);
    f = write_ini(big);
    char want[128];
    snprintf(want, sizeof want, "k%d: more than %d application settings", CFG_MAX_APP, CFG_MAX_APP);
    EXPECT_ERROR("business", f, 0, NULL, fmt_err(f, CFG_MAX_APP + 2, want));
}

static void test_cmdline_overrides(void)
{
    const char *f = write_ini("count = 8\nsecretKey = from-file\ndaemon = on\nregisterAddress = 1.1.1.1:1\n");
    char *args[] = {"--count=16", "--secretKey=from-args", "--registerAddress=2.2.2.2:2, 3.3.3.3:3",
                    "--dataFile=rel/x", "--name=", "--count=17"};
    struct tcfg c;
    char err[512];
    int rc = load(&c, "register", f, 6, args, err, sizeof err);
    CHECKF(rc == 0, "load failed: %s", err);
    CU_ASSERT_EQUAL(c.count, 17); /* the last argument wins */
    CU_ASSERT_STRING_EQUAL(c.secretKey, "from-args");
    CU_ASSERT_EQUAL(c.daemon, 1); /* file value kept when no argument */
    CU_ASSERT_EQUAL_FATAL(c.registerAddress.n, 2);
    CU_ASSERT_STRING_EQUAL(c.registerAddress.a[0].host, "2.2.2.2");
    CU_ASSERT_STRING_EQUAL(c.registerAddress.a[1].host, "3.3.3.3");
    CU_ASSERT_EQUAL(c.registerAddress.a[1].port, 3);
    CU_ASSERT_STRING_EQUAL(c.dataFile, in_tmp("rel/x"));
    CU_ASSERT_STRING_EQUAL(c.common.name, "");
    /* A value may hold '=': only the first one separates. */
    cfg_free(opts, &c);
    char *args2[] = {"--secretKey=a=b=c"};
    rc = load(&c, "register", NULL, 1, args2, err, sizeof err);
    CHECKF(rc == 0, "load failed: %s", err);
    CU_ASSERT_STRING_EQUAL(c.secretKey, "a=b=c");
    cfg_free(opts, &c);
}

static void test_paths(void)
{
    /* A relative -c file name is stored absolute; relative paths in it are
     * made absolute against the cwd at load time. */
    const char *abs = write_ini("pidFile = run/r.pid\nlogFile = ./r.log\ndataFile = /abs/d\n");
    const char *rel = strrchr(abs, '/') + 1;
    struct tcfg c;
    char err[512];
    int rc = load(&c, "register", rel, 0, NULL, err, sizeof err);
    CHECKF(rc == 0, "load failed: %s", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c.common.config_file);
    CU_ASSERT_STRING_EQUAL(c.common.config_file, abs);
    CU_ASSERT_STRING_EQUAL(c.common.pidFile, in_tmp("run/r.pid"));
    CU_ASSERT_STRING_EQUAL(c.common.logFile, in_tmp("./r.log"));
    CU_ASSERT_STRING_EQUAL(c.dataFile, "/abs/d");
    cfg_free(opts, &c);

    /* A CFG_STR is not touched. */
    char *args[] = {"--secretKey=rel/not/a/path"};
    rc = load(&c, "register", NULL, 1, args, err, sizeof err);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_STRING_EQUAL(c.secretKey, "rel/not/a/path");
    cfg_free(opts, &c);
}

/* ------------------------------------------------------------- errors */

static void test_file_errors(void)
{
    const char *f;
    f = write_ini("count = 2\n[register]\nnosuch = 1\n");
    EXPECT_ERROR("register", f, 0, NULL, fmt_err(f, 3, "nosuch: unknown setting"));

    /* Names are case-sensitive (GatewayWorker property names). */
    f = write_ini("pidfile = x\n");
    EXPECT_ERROR("register", f, 0, NULL, fmt_err(f, 1, "pidfile: unknown setting"));

    f = write_ini("count = 2\n\n[registers]\nsecretKey = k\n");
    EXPECT_ERROR("register", f, 0, NULL, fmt_err(f, 4, "secretKey: unknown section [registers]"));
    f = write_ini("[Register]\ncount = 1\n");
    EXPECT_ERROR("register", f, 0, NULL, fmt_err(f, 2, "count: unknown section [Register]"));

    f = write_ini("; comment\ncount = abc\n");
    EXPECT_ERROR("register", f, 0, NULL, fmt_err(f, 2, "count: 'abc' is not an integer"));
    f = write_ini("count = 12x\n");
    EXPECT_ERROR("register", f, 0, NULL, fmt_err(f, 1, "count: '12x' is not an integer"));
    f = write_ini("count =\n");
    EXPECT_ERROR("register", f, 0, NULL, fmt_err(f, 1, "count: '' is not an integer"));
    f = write_ini("count = 99999999999999999999999\n");
    EXPECT_ERROR("register", f, 0, NULL, fmt_err(f, 1, "count: '99999999999999999999999' is not an integer"));

    f = write_ini("\n\ncount = 65\n");
    EXPECT_ERROR("register", f, 0, NULL, fmt_err(f, 3, "count: 65 is out of range 1..64"));
    f = write_ini("count = 0\n");
    EXPECT_ERROR("register", f, 0, NULL, fmt_err(f, 1, "count: 0 is out of range 1..64"));
    f = write_ini("offset = -11\n");
    EXPECT_ERROR("register", f, 0, NULL, fmt_err(f, 1, "offset: -11 is out of range -10..10"));

    f = write_ini("[register]\ndaemon = maybe\n");
    EXPECT_ERROR("register", f, 0, NULL, fmt_err(f, 2, "daemon: 'maybe' is not on/off"));
    f = write_ini("daemon = 2\n");
    EXPECT_ERROR("register", f, 0, NULL, fmt_err(f, 1, "daemon: '2' is not on/off"));

    f = write_ini("listen = 0.0.0.0:1238\n");
    EXPECT_ERROR("register", f, 0, NULL,
                 fmt_err(f, 1, "listen: '0.0.0.0:1238': expected scheme://ip:port, e.g. text://0.0.0.0:1239"));
    f = write_ini("listen = text://0.0.0.0:0\n");
    EXPECT_ERROR("register", f, 0, NULL, fmt_err(f, 1, "listen: 'text://0.0.0.0:0': port must be 1..65535"));

    f = write_ini("registerAddress = 127.0.0.1:1238, host:1\n");
    EXPECT_ERROR("register", f, 0, NULL,
                 fmt_err(f, 1, "registerAddress: 'host:1' is not ip:port (a dotted-quad IPv4 and a port)"));
    f = write_ini("registerAddress = "
                  "1.1.1.1:1,1.1.1.1:2,1.1.1.1:3,1.1.1.1:4,1.1.1.1:5,1.1.1.1:6,1.1.1.1:7,1.1.1.1:8,"
                  "1.1.1.1:9,1.1.1.1:10,1.1.1.1:11,1.1.1.1:12,1.1.1.1:13,1.1.1.1:14,1.1.1.1:15,1.1.1.1:16,"
                  "1.1.1.1:17\n");
    EXPECT_ERROR("register", f, 0, NULL, fmt_err(f, 1, "registerAddress: more than 16 addresses"));

    /* Only the first error is reported. */
    f = write_ini("count = 1\nbad1 = x\nbad2 = y\n");
    EXPECT_ERROR("register", f, 0, NULL, fmt_err(f, 2, "bad1: unknown setting"));

    /* A line that is not name = value. */
    f = write_ini("count = 1\njust words\n");
    EXPECT_ERROR("register", f, 0, NULL, fmt_err(f, 2, "syntax error (expected name = value)"));

    /* A missing file. */
    const char *missing = in_tmp("does-not-exist.ini");
    char want[sizeof tmpdir + 200];
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", missing);
    EXPECT_ERROR("register", missing, 0, NULL, want);
}

/* inih takes lines of at most 199 bytes (plus the line end); a longer line
 * is refused with its own line number instead of being split in two (which
 * would parse the tail as a line of its own and shift later line numbers). */
static void test_long_lines(void)
{
    /* 16 addresses (the maximum), written compactly, fit. */
    char text[2048];
    int n = snprintf(text, sizeof text, "count = 3\nregisterAddress = ");
    for (int i = 1; i <= 16; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "%s1.1.1.%d:%d", i > 1 ? "," : "", i, i);
    snprintf(text + n, sizeof text - (size_t)n, "\ndaemon = yes\n");
    const char *f = write_ini(text);
    struct tcfg c;
    char err[512];
    int rc = load(&c, "register", f, 0, NULL, err, sizeof err);
    CHECKF(rc == 0, "16 addresses on one line: %s", err);
    CU_ASSERT_EQUAL(c.registerAddress.n, 16);
    CU_ASSERT_EQUAL(c.registerAddress.a[15].port, 16);
    CU_ASSERT_EQUAL(c.daemon, 1);
    cfg_free(opts, &c);

    /* Exactly 199 bytes before the LF, CRLF, or the end of the file: accepted whole. */
    static const char *ends[] = {"\n", "\r\n", ""};
    for (int e = 0; e < 3; e++) {
        char key[200];
        memset(key, 'k', sizeof key);
        key[199 - 12] = 0; /* "secretKey = " is 12 bytes */
        snprintf(text, sizeof text, "count = 2\nsecretKey = %s%s", key, ends[e]);
        f = write_ini(text);
        rc = load(&c, "register", f, 0, NULL, err, sizeof err);
        CHECKF(rc == 0 && c.secretKey && strcmp(c.secretKey, key) == 0, "199-byte line, end %d: rc %d (%s)", e, rc,
               err);
        cfg_free(opts, &c);
        /* One byte more: refused, at its line. */
        snprintf(text, sizeof text, "count = 2\nsecretKey = %sk%s", key, ends[e]);
        f = write_ini(text);
        EXPECT_ERROR("register", f, 0, NULL, fmt_err(f, 2, "line longer than 199 bytes"));
    }

    /* The line an address list long enough to be split would have broken:
     * a clear error at its own line, not a bogus key on a later one. */
    n = snprintf(text, sizeof text, "count = 3\n\nregisterAddress = ");
    for (int i = 1; i <= 16; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "%s255.255.255.%d:%d", i > 1 ? ", " : "", 200 + i,
                      65500 + i);
    snprintf(text + n, sizeof text - (size_t)n, "\ndaemon = yes\n");
    f = write_ini(text);
    EXPECT_ERROR("register", f, 0, NULL, fmt_err(f, 3, "line longer than 199 bytes"));

    /* An earlier error is the one reported. */
    char key[1100];
    memset(key, 'k', 1000);
    key[1000] = 0;
    snprintf(text, sizeof text, "nosuch = 1\nsecretKey = %s\n", key);
    f = write_ini(text);
    EXPECT_ERROR("register", f, 0, NULL, fmt_err(f, 1, "nosuch: unknown setting"));
    /* A long comment line is refused too (it cannot be told apart). */
    snprintf(text, sizeof text, "; %s\ncount = 1\n", key);
    f = write_ini(text);
    EXPECT_ERROR("register", f, 0, NULL, fmt_err(f, 1, "line longer than 199 bytes"));
    /* No line ending at the end of the file. */
    f = write_ini("count = 1\ndaemon = on");
    rc = load(&c, "register", f, 0, NULL, err, sizeof err);
    CHECKF(rc == 0 && c.daemon == 1, "no final LF: %s", err);
    cfg_free(opts, &c);
}

static void test_cmdline_errors(void)
{
    char *a1[] = {"--bad"};
    EXPECT_ERROR("register", NULL, 1, a1, "command line: '--bad': expected --name=value");
    char *a2[] = {"count=3"};
    EXPECT_ERROR("register", NULL, 1, a2, "command line: 'count=3': expected --name=value");
    char *a3[] = {"--=3"};
    EXPECT_ERROR("register", NULL, 1, a3, "command line: '--=3': expected --name=value");
    char *a4[] = {"-count=3"};
    EXPECT_ERROR("register", NULL, 1, a4, "command line: '-count=3': expected --name=value");
    char *a5[] = {"--nosuch=1"};
    EXPECT_ERROR("register", NULL, 1, a5, "command line: --nosuch: unknown setting");
    char *a6[] = {"--count=x"};
    EXPECT_ERROR("register", NULL, 1, a6, "command line: --count: 'x' is not an integer");
    char *a7[] = {"--count=100"};
    EXPECT_ERROR("register", NULL, 1, a7, "command line: --count: 100 is out of range 1..64");
    char *a8[] = {"--daemon=sometimes"};
    EXPECT_ERROR("register", NULL, 1, a8, "command line: --daemon: 'sometimes' is not on/off");
    char *a9[] = {"--listen=text://0.0.0.0:65536"};
    EXPECT_ERROR("register", NULL, 1, a9, "command line: --listen: 'text://0.0.0.0:65536': port must be 1..65535");
    char *a10[] = {"--registerAddress=1.2.3.4:5,"};
    EXPECT_ERROR("register", NULL, 1, a10,
                 "command line: --registerAddress: '' is not ip:port (a dotted-quad IPv4 and a port)");
    /* A name too long for the parser's buffer is refused, not truncated. */
    char longarg[200];
    snprintf(longarg, sizeof longarg, "--%0100d=1", 0);
    char *a11[] = {longarg};
    char want[300];
    snprintf(want, sizeof want, "command line: '%s': expected --name=value", longarg);
    EXPECT_ERROR("register", NULL, 1, a11, want);
    /* The first bad argument stops the load even after good ones. */
    char *a12[] = {"--count=5", "--bad", "--nosuch=1"};
    EXPECT_ERROR("register", NULL, 3, a12, "command line: '--bad': expected --name=value");
    /* A file error comes before any argument is looked at. */
    const char *f = write_ini("nosuch = 1\n");
    char *a13[] = {"--bad"};
    EXPECT_ERROR("register", f, 1, a13, fmt_err(f, 1, "nosuch: unknown setting"));
}

static void test_help(void)
{
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    cfg_print_help(f, opts);
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "registerAddress"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "[default: 127.0.0.1:1238]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "[default: \"\"]")); /* secretKey */
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "pidFile"));
    free(text);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("config", setup, teardown);
    CU_add_test(s, "defaults", test_defaults);
    CU_add_test(s, "file values", test_file_values);
    CU_add_test(s, "bool forms", test_bool_forms);
    CU_add_test(s, "int bounds", test_int_bounds);
    CU_add_test(s, "role sections", test_sections);
    CU_add_test(s, "the [app] section and --app.KEY", test_app_section);
    CU_add_test(s, "command line overrides the file", test_cmdline_overrides);
    CU_add_test(s, "paths made absolute", test_paths);
    CU_add_test(s, "file errors: FILE:LINE: key: reason", test_file_errors);
    CU_add_test(s, "long lines", test_long_lines);
    CU_add_test(s, "command line errors", test_cmdline_errors);
    CU_add_test(s, "help", test_help);
    return tu_run("test_config");
}
