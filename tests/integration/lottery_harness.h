/* lottery_harness: what test_lottery_e2e.c and test_lottery_kill.c share.
 *
 * - lh_start/lh_stop: a real register, two real gateways and the business
 *   worker (count 2) running build/apps/lottery.so, configured by an INI file
 *   with [business] and [app] (store = sqlite:<tmpdir>/lottery.db), all on
 *   127.0.0.1 with free ports;
 * - struct lc: a JSON client over the blocking test WebSocket client (wsc),
 *   with a queue, so pushes arriving before a reply are kept, not lost;
 * - the verifiable draw of docs/lottery-protocol.md §8, recomputed here
 *   independently of apps/lottery/draw.c (SHA-256 from libcrypto);
 * - running build/lotteryctl.
 *
 * Header-only (static functions): each test binary is built from its one .c
 * by the generic rule of the Makefile. */
#ifndef LOTTERY_HARNESS_H
#define LOTTERY_HARNESS_H

#include <CUnit/Basic.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "launch.h"
#include "tu.h"
#include "wsc.h"

/* Not every test uses every helper. */
#pragma GCC diagnostic ignored "-Wunused-function"

#define LH_KEY "lottery-test-key"
#define LH_NAME "LotteryBiz"
#define LH_ADMIN_TOKEN "admin-t0ken-\xe5\xb9\xb4\xe4\xbc\x9a" /* "admin-t0ken-年会" */
#define LH_TITLE "2027 \xe5\xb9\xb4\xe4\xbc\x9a"             /* "2027 年会" */

struct lh {
    char dir[64];
    int reg_port;
    struct launch reg, bw;
    char ini[200], db[200], store[220], pidfile[200];
    struct launch_gw gw[2];
    int count; /* business processes */
};

/* ---- small file helpers ---- */

/* Occurrences of needle in the file now (0 if it cannot be read). */
static int lh_file_count(const char *path, const char *needle)
{
    size_t n;
    uint8_t *p = tu_read_file(path, &n);
    if (!p)
        return 0;
    int c = 0;
    for (const char *s = (const char *)p; (s = strstr(s, needle)); s += strlen(needle))
        c++;
    free(p);
    return c;
}

/* Waits until the file holds at least want occurrences of needle. */
static int lh_file_count_reaches(const char *path, const char *needle, int want, int timeout_ms)
{
    long long end = tu_now_ms() + timeout_ms;
    for (;;) {
        if (lh_file_count(path, needle) >= want)
            return 1;
        if (tu_now_ms() >= end)
            return 0;
        usleep(10000);
    }
}

/* The gateway's log line of a business process (index i) linking to it. */
static void lh_link_needle(int index, char *out, size_t cap)
{
    snprintf(out, cap, "business worker 127.0.0.1:%s:%d connected", LH_NAME, index);
}

/* Every business process has linked to both gateways. */
static int lh_all_linked(const struct lh *h, int timeout_ms)
{
    return launch_gw_linked(&h->gw[0], LH_NAME, h->count, timeout_ms) == 0 &&
           launch_gw_linked(&h->gw[1], LH_NAME, h->count, timeout_ms) == 0;
}

static char *lh_abs(const char *p)
{
    char *r = realpath(p, NULL);
    return r ? r : strdup(p);
}

/* Writes the business INI ([business] + [app]). */
static int lh_write_ini(struct lh *h, const char *open_signup)
{
    char *rel = tu_bin_path("apps/lottery.so");
    char *app = lh_abs(rel);
    free(rel);
    FILE *f = fopen(h->ini, "w");
    if (!f) {
        free(app);
        return -1;
    }
    fprintf(f,
            "; written by the lottery integration test\n"
            "[business]\n"
            "registerAddress = 127.0.0.1:%d\n"
            "secretKey = %s\n"
            "name = %s\n"
            "count = %d\n"
            "eventHandler = %s\n"
            "pidFile = %s\n"
            "\n"
            "[app]\n"
            "store = %s\n"
            "adminToken = %s\n"
            "openSignup = %s\n"
            "title = %s\n",
            h->reg_port, LH_KEY, LH_NAME, h->count, app, h->pidfile, h->store, LH_ADMIN_TOKEN, open_signup,
            LH_TITLE);
    free(app);
    return fclose(f) == 0 ? 0 : -1;
}

static int lh_start(struct lh *h, const char *tag)
{
    memset(h, 0, sizeof *h);
    h->count = 2;
    snprintf(h->dir, sizeof h->dir, "/tmp/gw-test-%s-XXXXXX", tag);
    if (!mkdtemp(h->dir))
        return -1;
    snprintf(h->ini, sizeof h->ini, "%s/business.ini", h->dir);
    snprintf(h->db, sizeof h->db, "%s/lottery.db", h->dir);
    snprintf(h->store, sizeof h->store, "sqlite:%s", h->db);
    snprintf(h->pidfile, sizeof h->pidfile, "%s/business.pid", h->dir);
    h->reg_port = tu_free_port();
    char *so = tu_bin_path("apps/lottery.so");
    int have = access(so, R_OK) == 0;
    if (!have)
        fprintf(stderr, "\n  %s does not exist: the lottery app is not built\n", so);
    free(so);
    if (!have)
        return -1;

    launch_register(&h->reg, h->dir, h->reg_port, LH_KEY);
    if (launch_start(&h->reg, h->reg_port, NULL, 5000) < 0)
        return -1;
    for (int g = 0; g < 2; g++) {
        char gtag[16];
        snprintf(gtag, sizeof gtag, "gateway-%d", g + 1);
        launch_gw_spawn(&h->gw[g], h->dir, gtag, h->reg_port, LH_KEY);
    }
    if (lh_write_ini(h, "false") < 0)
        return -1;
    launch_init(&h->bw, h->dir, "business", "business");
    launch_set(&h->bw, "-c");
    launch_set(&h->bw, "%s", h->ini);
    launch_spawn(&h->bw);
    if (!lh_all_linked(h, 15000)) {
        fprintf(stderr, "\n  the lottery business worker did not link to both gateways (log %s)\n", h->bw.log);
        return -1;
    }
    return 0;
}

static int lh_exited_zero(int st) { return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0; }

static int lh_stop(struct lh *h)
{
    int sb = h->bw.pid > 0 ? launch_stop(&h->bw, 8000) : 0;
    int s1 = h->gw[0].p.pid > 0 ? launch_stop(&h->gw[0].p, 5000) : 0;
    int s2 = h->gw[1].p.pid > 0 ? launch_stop(&h->gw[1].p, 5000) : 0;
    int sr = h->reg.pid > 0 ? launch_stop(&h->reg, 5000) : 0;
    if (sb)
        fprintf(stderr, "\n  business did not exit with 0 (log %s)\n", h->bw.log);
    launch_free(&h->bw);
    launch_free(&h->gw[0].p);
    launch_free(&h->gw[1].p);
    launch_free(&h->reg);
    return sb == 0 && s1 == 0 && s2 == 0 && sr == 0 ? 0 : -1;
}

static int lh_rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

/* Stops everything; the temporary folder (logs, store) is removed when every
 * assertion passed and kept, with a note, otherwise. */
static int lh_finish(struct lh *h)
{
    int rc = lh_stop(h);
    if (rc == 0 && CU_get_number_of_failures() == 0)
        nftw(h->dir, lh_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    else
        fprintf(stderr, "\n  logs and the store kept in %s\n", h->dir);
    return rc;
}

/* The business worker processes (children of the master), 0 when absent. */
static int lh_children(pid_t master, pid_t *out, int cap)
{
    char path[128];
    snprintf(path, sizeof path, "/proc/%d/task", (int)master);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char cp[300];
        snprintf(cp, sizeof cp, "/proc/%d/task/%s/children", (int)master, e->d_name);
        FILE *f = fopen(cp, "r");
        if (!f)
            continue;
        int pid;
        while (n < cap && fscanf(f, "%d", &pid) == 1)
            out[n++] = pid;
        fclose(f);
    }
    closedir(d);
    return n;
}

/* Index of a business process, from its start line in the business log
 * ("business[PID] INFO process I: worker_key ..."); -1 if not (yet) there. */
static int lh_process_index(const struct lh *h, pid_t pid)
{
    char needle[96];
    for (int i = 0; i < h->count; i++) {
        snprintf(needle, sizeof needle, "business[%d] INFO process %d: worker_key", (int)pid, i);
        if (lh_file_count(h->bw.log, needle) > 0)
            return i;
    }
    return -1;
}

/* ---- running a binary and capturing its output ---- */

/* Runs argv (argv[0] a path) with stdout to out_path (may be NULL) and stderr
 * appended to err_path; returns the wait status or -1. Bounded. */
static int lh_run(char *const argv[], const char *out_path, const char *err_path, int timeout_ms)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int o = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path ? err_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (o >= 0)
            dup2(o, STDOUT_FILENO);
        if (e >= 0)
            dup2(e, STDERR_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    long long end = tu_now_ms() + timeout_ms;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0)
            return -1;
        if (tu_now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fprintf(stderr, "\n  %s did not finish within %d ms\n", argv[0], timeout_ms);
            return -1;
        }
        usleep(5000);
    }
}

/* ---- hashing and the draw of §8 ---- */

static void lh_hex(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = 0;
}

static int lh_unhex(const char *hex, uint8_t *out, size_t n)
{
    if (!hex || strlen(hex) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int lh_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* SHA-256 hex of ids (sorted here by byte value), each followed by "\n". */
static void lh_pool_hash(const char **ids, size_t n, char out[65])
{
    qsort(ids, n, sizeof *ids, lh_cmp_str);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    for (size_t i = 0; i < n; i++) {
        EVP_DigestUpdate(c, ids[i], strlen(ids[i]));
        EVP_DigestUpdate(c, "\n", 1);
    }
    uint8_t d[32];
    unsigned dl = 0;
    EVP_DigestFinal_ex(c, d, &dl);
    EVP_MD_CTX_free(c);
    lh_hex(d, 32, out);
}

struct lh_rng {
    uint8_t seed[32], buf[32];
    uint64_t block;
    size_t used;
};

static uint64_t lh_rng_next(struct lh_rng *r)
{
    uint64_t x = 0;
    for (int k = 0; k < 8; k++) {
        if (r->used == 32) {
            uint8_t in[40];
            memcpy(in, r->seed, 32);
            for (int i = 0; i < 8; i++)
                in[32 + i] = (uint8_t)(r->block >> (56 - 8 * i));
            SHA256(in, sizeof in, r->buf);
            r->block++;
            r->used = 0;
        }
        x = x << 8 | r->buf[r->used++];
    }
    return x;
}

static uint64_t lh_uniform(struct lh_rng *r, uint64_t m)
{
    uint64_t min = (0 - m) % m; /* (2^64 - m) mod m */
    for (;;) {
        uint64_t x = lh_rng_next(r);
        if (x >= min)
            return x % m;
    }
}

/* The winners of §8: pool (sorted here) and the 64-hex seed; out[k] point
 * into pool. 0, or -1 on a bad seed or k > n. */
static int lh_draw_winners(const char **pool, size_t n, const char *seed_hex, size_t k, const char **out)
{
    struct lh_rng r = {.used = 32};
    if (k > n || lh_unhex(seed_hex, r.seed, 32) < 0)
        return -1;
    qsort(pool, n, sizeof *pool, lh_cmp_str);
    size_t *pos = malloc((n ? n : 1) * sizeof *pos);
    for (size_t i = 0; i < n; i++)
        pos[i] = i;
    for (size_t i = 0; i < k; i++) {
        size_t j = i + (size_t)lh_uniform(&r, n - i);
        size_t t = pos[i];
        pos[i] = pos[j];
        pos[j] = t;
    }
    for (size_t i = 0; i < k; i++)
        out[i] = pool[pos[i]];
    free(pos);
    return 0;
}

/* SHA-256 hex of the 32 bytes a 64-hex seed stands for ("" on a bad seed). */
static void lh_seed_hash(const char *seed_hex, char out[65])
{
    uint8_t s[32], d[32];
    out[0] = 0;
    if (lh_unhex(seed_hex, s, 32) < 0)
        return;
    SHA256(s, 32, d);
    lh_hex(d, 32, out);
}

/* ---- JSON over WebSocket, with a queue ---- */

struct lc {
    int fd, port;
    json_t *q;   /* messages received and not yet taken */
    int closed;  /* EOF or close frame seen */
    char label[32];
};

static const char *lh_str(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static long long lh_int(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

static int lh_streq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

static struct lc *lc_open(int port, const char *label)
{
    int fd = wsc_connect(port, "/", NULL, 5000);
    if (fd < 0)
        return NULL;
    struct lc *c = calloc(1, sizeof *c);
    c->fd = fd;
    c->port = port;
    c->q = json_array();
    snprintf(c->label, sizeof c->label, "%s", label ? label : "client");
    return c;
}

static void lc_close(struct lc *c)
{
    if (!c)
        return;
    tu_close(c->fd);
    json_decref(c->q);
    free(c);
}

static int lc_send_raw(struct lc *c, const char *text, size_t len)
{
    return wsc_send(c->fd, WSC_TEXT, text, len);
}

/* Sends msg (the reference is stolen). */
static int lc_send(struct lc *c, json_t *msg)
{
    char *t = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!t)
        return -1;
    int rc = lc_send_raw(c, t, strlen(t));
    free(t);
    return rc;
}

/* Reads one message into the queue. 1 read, 0 timeout, -1 closed/error. */
static int lc_pump(struct lc *c, int timeout_ms)
{
    if (c->closed)
        return -1;
    struct pollfd pf = {.fd = c->fd, .events = POLLIN};
    if (poll(&pf, 1, timeout_ms < 0 ? 0 : timeout_ms) <= 0)
        return 0;
    uint8_t *m = NULL;
    int op = 0;
    ssize_t n = wsc_recv(c->fd, &m, &op, 10000);
    if (n == -2 || (n >= 0 && op == WSC_CLOSE)) {
        free(m);
        c->closed = 1;
        return -1;
    }
    if (n < 0) {
        c->closed = 1;
        return -1;
    }
    json_error_t e;
    json_t *j = json_loadb((const char *)m, (size_t)n, 0, &e);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        j = json_pack("{s:s,s:s}", "type", "__not_json__", "text", (const char *)m);
    }
    free(m);
    if (lh_streq(lh_str(j, "type"), "ping")) {
        json_decref(j);
        lc_send(c, json_pack("{s:s}", "type", "pong"));
        return 1;
    }
    json_array_append_new(c->q, j);
    return 1;
}

typedef int lc_match_fn(const json_t *m, const void *arg);

/* Takes (removes and returns, new reference) the first queued or arriving
 * message that matches, within timeout_ms; NULL otherwise. */
static json_t *lc_take(struct lc *c, lc_match_fn *fn, const void *arg, int timeout_ms)
{
    long long end = tu_now_ms() + timeout_ms;
    size_t seen = 0;
    for (;;) {
        for (; seen < json_array_size(c->q); seen++) {
            json_t *m = json_array_get(c->q, seen);
            if (fn(m, arg)) {
                json_incref(m);
                json_array_remove(c->q, seen);
                return m;
            }
        }
        int left = (int)(end - tu_now_ms());
        if (left <= 0 || lc_pump(c, left) < 0)
            return NULL;
    }
}

static int lc_match_type(const json_t *m, const void *arg) { return lh_streq(lh_str(m, "type"), arg); }

/* Waits for a push of type t; NULL on timeout. */
static json_t *lc_push(struct lc *c, const char *t, int timeout_ms) { return lc_take(c, lc_match_type, t, timeout_ms); }

/* Drops every queued message of type t; returns how many. */
static int lc_drop(struct lc *c, const char *t)
{
    int n = 0;
    for (size_t i = 0; i < json_array_size(c->q);) {
        if (lh_streq(lh_str(json_array_get(c->q, i), "type"), t)) {
            json_array_remove(c->q, i);
            n++;
        } else {
            i++;
        }
    }
    return n;
}

/* Reads whatever arrives within ms into the queue. */
static void lc_settle(struct lc *c, int ms)
{
    long long end = tu_now_ms() + ms;
    while (tu_now_ms() < end && lc_pump(c, (int)(end - tu_now_ms())) >= 0)
        ;
}

struct lc_answer_key {
    const char *cmd, *rid;
};

/* The reply or error of command cmd (and rid, when given). */
static int lc_match_answer(const json_t *m, const void *arg)
{
    const struct lc_answer_key *k = arg;
    const char *t = lh_str(m, "type");
    if (!lh_streq(t, "reply") && !lh_streq(t, "error"))
        return 0;
    if (k->cmd && !lh_streq(lh_str(m, "cmd"), k->cmd))
        return 0;
    if (k->rid && !lh_streq(lh_str(m, "rid"), k->rid))
        return 0;
    return 1;
}

static json_t *lc_answer(struct lc *c, const char *cmd, const char *rid, int timeout_ms)
{
    struct lc_answer_key k = {cmd, rid};
    return lc_take(c, lc_match_answer, &k, timeout_ms);
}

/* Any error (whatever its cmd): for malformed input that has no cmd. */
static json_t *lc_error(struct lc *c, int timeout_ms) { return lc_take(c, lc_match_type, "error", timeout_ms); }

/* Sends msg (stolen; its "type" and "rid" name the answer) and waits for the
 * reply or error. NULL on timeout (printed). */
static json_t *lc_cmd(struct lc *c, json_t *msg, int timeout_ms)
{
    char cmd[64] = "", rid[80] = "";
    if (lh_str(msg, "type"))
        snprintf(cmd, sizeof cmd, "%s", lh_str(msg, "type"));
    if (lh_str(msg, "rid"))
        snprintf(rid, sizeof rid, "%s", lh_str(msg, "rid"));
    char *dump = json_dumps(msg, JSON_COMPACT);
    if (lc_send(c, msg) < 0) {
        fprintf(stderr, "\n  [%s] cannot send %.200s\n", c->label, dump ? dump : "?");
        free(dump);
        return NULL;
    }
    json_t *a = lc_answer(c, cmd, rid[0] ? rid : NULL, timeout_ms);
    if (!a)
        fprintf(stderr, "\n  [%s] no reply/error within %d ms to %.300s\n", c->label, timeout_ms, dump ? dump : "?");
    free(dump);
    return a;
}

/* 1 if m is a reply (printing it otherwise). */
static int lh_is_reply(const json_t *m, const char *what)
{
    if (m && lh_streq(lh_str(m, "type"), "reply"))
        return 1;
    char *d = m ? json_dumps(m, JSON_COMPACT) : NULL;
    fprintf(stderr, "\n  %s: want a reply, got %.400s\n", what, d ? d : "(nothing)");
    free(d);
    return 0;
}

/* 1 if m is an error with code (printing it otherwise). */
static int lh_is_error(const json_t *m, const char *code, const char *what)
{
    if (m && lh_streq(lh_str(m, "type"), "error") && lh_streq(lh_str(m, "code"), code))
        return 1;
    char *d = m ? json_dumps(m, JSON_COMPACT) : NULL;
    fprintf(stderr, "\n  %s: want error %s, got %.400s\n", what, code, d ? d : "(nothing)");
    free(d);
    return 0;
}

/* hello; returns the state (new reference) or NULL. An error answered to
 * the hello (bad_token, forbidden) goes to *err when err is not NULL. For
 * a hello that must fail without a state, use lc_send + lc_answer. */
static json_t *lc_hello(struct lc *c, const char *role, const char *token_key, const char *token, json_t **err,
                        int timeout_ms)
{
    json_t *m = json_pack("{s:s,s:s}", "type", "hello", "role", role);
    if (token_key && token)
        json_object_set_new(m, token_key, json_string(token));
    if (lc_send(c, m) < 0)
        return NULL;
    json_t *st = lc_push(c, "state", timeout_ms);
    if (err) {
        *err = lc_answer(c, "hello", NULL, 0);
    }
    if (!st)
        fprintf(stderr, "\n  [%s] no state for hello role=%s within %d ms\n", c->label, role, timeout_ms);
    return st;
}

/* Admin client, hello'd; NULL on failure. */
static struct lc *lc_admin(int port, const char *label)
{
    struct lc *c = lc_open(port, label);
    if (!c)
        return NULL;
    json_t *err = NULL;
    json_t *st = lc_hello(c, "admin", "adminToken", LH_ADMIN_TOKEN, &err, 10000);
    int ok = st && !err && lh_streq(lh_str(st, "role"), "admin");
    json_decref(st);
    json_decref(err);
    if (!ok) {
        lc_close(c);
        return NULL;
    }
    return c;
}

#endif
