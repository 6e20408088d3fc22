/* libFuzzer harness for the settings parser (shared/config.c over inih):
 * an operator's INI file and --name=value arguments.
 *
 * The input is the file, handed to cfg_load through a memfd
 * (/proc/self/fd/N, no disk I/O); the role is picked by the first byte
 * (business also reads [app]). The same input's lines are then given as
 * command-line arguments. The option table has one setting of every type,
 * with the names and limits the gateway uses. Checks: a failure says why,
 * values respect their bounds, and cfg_free releases everything (the
 * leak checker runs on every input). */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

struct fz_cfg {
    struct cfg_common common;
    struct netaddr_listen listen;
    char *lanIp;
    long startPort;
    struct cfg_addrlist registerAddress;
    char *secretKey;
    int proxyProtocol;
    char *webRoot;
};

#define OFF(f) offsetof(struct fz_cfg, f)
static const struct cfg_opt opts[] = {
    {"listen", CFG_LISTEN, OFF(listen), "websocket://0.0.0.0:1240", 0, 0, ""},
    {"lanIp", CFG_STR, OFF(lanIp), "127.0.0.1", 0, 0, ""},
    {"startPort", CFG_INT, OFF(startPort), "2000", 1, 65535, ""},
    {"registerAddress", CFG_ADDRLIST, OFF(registerAddress), "127.0.0.1:1236", 0, 0, ""},
    {"secretKey", CFG_STR, OFF(secretKey), "", 0, 0, ""},
    {"proxyProtocol", CFG_BOOL, OFF(proxyProtocol), "off", 0, 0, ""},
    {"webRoot", CFG_PATH, OFF(webRoot), "", 0, 0, ""},
    {NULL, 0, 0, NULL, 0, 0, NULL},
};

static const char *const roles[3] = {"register", "gateway", "business"};

static void check(struct fz_cfg *c, int rc, const char *err)
{
    if (rc < 0) {
        REQUIRE(err[0] != '\0');
        return;
    }
    REQUIRE(rc == 0);
    REQUIRE(c->startPort >= 1 && c->startPort <= 65535);
    REQUIRE(c->registerAddress.n >= 0 && c->registerAddress.n <= CFG_MAX_ADDRS);
    REQUIRE(c->proxyProtocol == 0 || c->proxyProtocol == 1);
    REQUIRE(c->common.napp >= 0 && c->common.napp <= CFG_MAX_APP);
    REQUIRE(c->common.pidFile && c->common.logFile);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *role = roles[size ? data[0] % 3 : 0];
    int fd = memfd_create("fuzz_config", 0);
    REQUIRE(fd >= 0);
    REQUIRE(size == 0 || write(fd, data, size) == (ssize_t)size);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

    struct fz_cfg c;
    char err[512];
    memset(&c, 0, sizeof c);
    err[0] = '\0';
    int rc = cfg_load(opts, &c, role, path, 0, NULL, err, sizeof err);
    check(&c, rc, err);
    cfg_free(opts, &c);
    close(fd);

    /* The lines as arguments (at most 64 of them). */
    char *copy = malloc(size + 1);
    REQUIRE(copy);
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *args[64];
    int nargs = 0;
    for (char *save = NULL, *tok = strtok_r(copy, "\n", &save); tok && nargs < 64; tok = strtok_r(NULL, "\n", &save))
        args[nargs++] = tok;
    memset(&c, 0, sizeof c);
    err[0] = '\0';
    rc = cfg_load(opts, &c, role, NULL, nargs, args, err, sizeof err);
    check(&c, rc, err);
    cfg_free(opts, &c);
    free(copy);
    return 0;
}
