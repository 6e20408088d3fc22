/* lotteryctl: export and verify the lottery's audit log.
 *
 *   lotteryctl export --store=URL        the log as JSON lines {"seq","hash","entry"}
 *   lotteryctl verify FILE.jsonl         chain + every draw recomputed ("-": stdin)
 *   lotteryctl verify --store=URL        the same, straight from the store
 *
 * verify prints one line per verified draw and a summary, exit 0; on the
 * first failure it prints the reason and exits 1. It uses only audit.c and
 * draw.c on the exported text, so anyone can check a log without the store. */
#include "audit.h"
#include "store.h"
#include "version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One exported line: a draw.start holds the whole pool (≤ 100,000 ids of
 * ≤ 32 bytes, escaped), so lines may be long, but not unbounded. */
#define CTL_MAX_LINE (64u << 20)

static void usage(FILE *f)
{
    fputs("usage: lotteryctl export --store=URL\n"
          "       lotteryctl verify FILE.jsonl   (\"-\" reads stdin)\n"
          "       lotteryctl verify --store=URL\n"
          "       lotteryctl --help | --version\n"
          "\n"
          "URL: sqlite:PATH or a bare PATH.\n"
          "export writes the audit log, one JSON line per entry: {\"entry\",\"hash\",\"seq\"}.\n"
          "verify checks the hash chain and recomputes every draw from its pool and seed\n"
          "(docs/lottery-protocol.md section 8); it prints one line per draw and a summary,\n"
          "and exits 1 with the reason on the first broken entry.\n",
          f);
}

static int export_cb(long long seq, const char *hash, const json_t *entry, void *arg)
{
    (void)arg;
    json_t *line = json_pack("{s:I, s:s, s:O}", "seq", (json_int_t)seq, "hash", hash, "entry", (json_t *)entry);
    char *text = line ? json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII) : NULL;
    json_decref(line);
    if (!text) {
        fprintf(stderr, "lotteryctl: out of memory at seq %lld\n", seq);
        return 1;
    }
    int bad = fputs(text, stdout) == EOF || fputc('\n', stdout) == EOF;
    free(text);
    if (bad) {
        perror("lotteryctl: stdout");
        return 1;
    }
    return 0;
}

struct vctx {
    struct audit_verifier *v;
    char last_hash[DRAW_HEX_LEN];
};

static int verify_cb(long long seq, const char *hash, const json_t *entry, void *arg)
{
    struct vctx *c = arg;
    char err[512], *line = NULL;
    if (audit_verify_next(c->v, seq, hash, entry, &line, err, sizeof err) < 0) {
        printf("FAILED: %s\n", err);
        return 1;
    }
    if (line) {
        printf("%s\n", line);
        free(line);
    }
    snprintf(c->last_hash, sizeof c->last_hash, "%s", hash);
    return 0;
}

static struct store *open_store(const char *url)
{
    char err[256];
    struct store *s = store_open(url, err, sizeof err);
    if (!s)
        fprintf(stderr, "lotteryctl: %s\n", err);
    return s;
}

static int verify_file(const char *path, struct vctx *c)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "lotteryctl: %s: ", path);
        perror(NULL);
        return 1;
    }
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    long long lineno = 0;
    int rc = 0;
    while ((n = getline(&buf, &cap, f)) >= 0) {
        lineno++;
        if ((size_t)n > CTL_MAX_LINE) {
            printf("FAILED: line %lld is longer than %u bytes\n", lineno, CTL_MAX_LINE);
            rc = 1;
            break;
        }
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            buf[--n] = '\0';
        if (n == 0)
            continue;
        json_error_t je;
        json_t *o = json_loads(buf, JSON_REJECT_DUPLICATES, &je);
        const json_t *seq = json_object_get(o, "seq"), *entry = json_object_get(o, "entry");
        const char *hash = json_string_value(json_object_get(o, "hash"));
        if (!json_is_integer(seq) || !hash || !json_is_object(entry)) {
            printf("FAILED: line %lld is not {\"seq\",\"hash\",\"entry\"}%s%s\n", lineno, o ? "" : ": ",
                   o ? "" : je.text);
            json_decref(o);
            rc = 1;
            break;
        }
        rc = verify_cb(json_integer_value(seq), hash, entry, c);
        json_decref(o);
        if (rc)
            break;
    }
    if (!rc && ferror(f)) {
        fprintf(stderr, "lotteryctl: reading %s failed\n", path);
        rc = 1;
    }
    free(buf);
    if (f != stdin)
        fclose(f);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        gw_print_version(stdout, "lotteryctl");
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1], *url = NULL, *file = NULL;
    for (int i = 2; i < argc; i++) {
        if (strncmp(argv[i], "--store=", 8) == 0 && !url) {
            url = argv[i] + 8;
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if ((argv[i][0] != '-' || strcmp(argv[i], "-") == 0) && !file) {
            file = argv[i];
        } else {
            fprintf(stderr, "lotteryctl: unexpected argument %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    struct store_err e = {0};
    if (strcmp(cmd, "export") == 0) {
        if (!url || file) {
            usage(stderr);
            return 2;
        }
        struct store *s = open_store(url);
        if (!s)
            return 1;
        int r = store_audit_foreach(s, export_cb, NULL, &e);
        store_close(s);
        if (r < 0)
            fprintf(stderr, "lotteryctl: %s\n", e.message);
        if (fflush(stdout) != 0) {
            perror("lotteryctl: stdout");
            r = 1;
        }
        return r == 0 ? 0 : 1;
    }
    if (strcmp(cmd, "verify") == 0) {
        if ((url != NULL) == (file != NULL)) {
            usage(stderr);
            return 2;
        }
        struct vctx c = {.v = audit_verifier_new()};
        if (!c.v) {
            fprintf(stderr, "lotteryctl: out of memory\n");
            return 1;
        }
        int rc;
        if (file) {
            rc = verify_file(file, &c);
        } else {
            struct store *s = open_store(url);
            if (!s) {
                audit_verifier_free(c.v);
                return 1;
            }
            rc = store_audit_foreach(s, verify_cb, &c, &e);
            if (rc < 0)
                printf("FAILED: %s\n", e.message);
            store_close(s);
        }
        if (rc == 0)
            printf("OK: %lld entries, %lld draws verified; last hash %s\n", audit_verifier_entries(c.v),
                   audit_verifier_draws(c.v), c.last_hash[0] ? c.last_hash : "(empty log)");
        audit_verifier_free(c.v);
        if (fflush(stdout) != 0)
            rc = 1;
        return rc == 0 ? 0 : 1;
    }
    fprintf(stderr, "lotteryctl: unknown command %s\n", cmd);
    usage(stderr);
    return 2;
}
