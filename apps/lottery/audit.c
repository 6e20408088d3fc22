/* audit: the hash chain and its verifier (see audit.h).
 *
 * The verifier is deliberately independent of the store: it sees only the
 * entries, exactly as `lotteryctl export` writes them, and recomputes every
 * draw from the draw.start entry (the pool) and the draw.stop entry (the
 * seed). It keeps the draws that are open (at most AUDIT_MAX_OPEN) and the
 * ids of the finished, not undone draws (to check that an undo names the
 * last of them), both bounded. */
#include "audit.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

/* The store keeps one draw open at a time; a little slack for other writers. */
#define AUDIT_MAX_OPEN 16
/* Finished draws remembered for undo checks: far beyond any party. */
#define AUDIT_MAX_DONE 1000000
/* Winners named in a `verify` summary line before "(+N more)". */
#define AUDIT_LINE_WINNERS 20
/* A pool larger than this is refused (the store's bound is lower). */
#define AUDIT_MAX_POOL 1000000

char *audit_canonical(const json_t *entry)
{
    if (!entry)
        return NULL;
    return json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
}

void audit_chain_hash(const char *prev, const char *text, char hash_out[DRAW_HEX_LEN])
{
    static const char digits[] = "0123456789abcdef";
    hash_out[0] = '\0';
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c)
        return;
    uint8_t md[SHA256_DIGEST_LENGTH];
    unsigned mdlen = 0;
    if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(c, prev, strlen(prev)) == 1 &&
        EVP_DigestUpdate(c, "\n", 1) == 1 && EVP_DigestUpdate(c, text, strlen(text)) == 1 &&
        EVP_DigestFinal_ex(c, md, &mdlen) == 1 && mdlen == sizeof md) {
        for (size_t i = 0; i < sizeof md; i++) {
            hash_out[2 * i] = digits[md[i] >> 4];
            hash_out[2 * i + 1] = digits[md[i] & 15];
        }
        hash_out[2 * sizeof md] = '\0';
    }
    EVP_MD_CTX_free(c);
}

struct open_draw {
    long long id;
    long long count;
    json_t *pool; /* array of strings, sorted; own reference */
    char seed_hash[DRAW_HEX_LEN];
};

struct audit_verifier {
    long long entries;
    long long draws;
    char prev[DRAW_HEX_LEN]; /* "" before the first entry: AUDIT_GENESIS is used */
    long long last_draw_id;  /* draw ids only grow */
    struct open_draw open[AUDIT_MAX_OPEN];
    size_t nopen;
    long long *done; /* finished, not undone draw ids, in order */
    size_t ndone, done_cap;
};

struct audit_verifier *audit_verifier_new(void)
{
    return calloc(1, sizeof(struct audit_verifier));
}

void audit_verifier_free(struct audit_verifier *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->nopen; i++)
        json_decref(v->open[i].pool);
    free(v->done);
    free(v);
}

long long audit_verifier_entries(const struct audit_verifier *v)
{
    return v->entries;
}

long long audit_verifier_draws(const struct audit_verifier *v)
{
    return v->draws;
}

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errlen, long long seq, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return -1;
    int n = snprintf(err, errlen, "seq %lld: ", seq);
    if (n >= 0 && (size_t)n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* An integer member, or -1 with *ok cleared. */
static long long get_int(const json_t *o, const char *key, int *ok)
{
    const json_t *x = json_object_get(o, key);
    if (!json_is_integer(x)) {
        *ok = 0;
        return -1;
    }
    return json_integer_value(x);
}

static int is_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static struct open_draw *find_open(struct audit_verifier *v, long long id)
{
    for (size_t i = 0; i < v->nopen; i++)
        if (v->open[i].id == id)
            return &v->open[i];
    return NULL;
}

static void drop_open(struct audit_verifier *v, struct open_draw *d)
{
    json_decref(d->pool);
    *d = v->open[--v->nopen];
}

static int check_start(struct audit_verifier *v, long long seq, const json_t *entry, char *err, size_t errlen)
{
    int ok = 1;
    long long id = get_int(entry, "drawId", &ok), count = get_int(entry, "count", &ok);
    get_int(entry, "prizeId", &ok);
    const json_t *pool = json_object_get(entry, "pool");
    const char *pool_hash = json_string_value(json_object_get(entry, "poolHash"));
    const char *seed_hash = json_string_value(json_object_get(entry, "seedHash"));
    if (!ok || !json_is_array(pool) || !pool_hash || !seed_hash)
        return fail(err, errlen, seq, "draw.start lacks drawId, prizeId, count, pool, poolHash or seedHash");
    if (id <= v->last_draw_id)
        return fail(err, errlen, seq, "draw %lld: draw ids must increase (last was %lld)", id, v->last_draw_id);
    size_t n = json_array_size(pool);
    if (n > AUDIT_MAX_POOL)
        return fail(err, errlen, seq, "draw %lld: pool of %zu exceeds %d", id, n, AUDIT_MAX_POOL);
    if (count < 1 || (size_t)count > n)
        return fail(err, errlen, seq, "draw %lld: count %lld is not within 1..pool size %zu", id, count, n);
    if (!is_hex64(seed_hash))
        return fail(err, errlen, seq, "draw %lld: seedHash is not 64 lowercase hex digits", id);
    if (v->nopen == AUDIT_MAX_OPEN)
        return fail(err, errlen, seq, "draw %lld: more than %d draws open at once", id, AUDIT_MAX_OPEN);
    const char **ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids)
        return fail(err, errlen, seq, "draw %lld: out of memory", id);
    for (size_t i = 0; i < n; i++) {
        ids[i] = json_string_value(json_array_get(pool, i));
        if (!ids[i]) {
            free(ids);
            return fail(err, errlen, seq, "draw %lld: pool member %zu is not a string", id, i);
        }
        /* Strictly increasing: sorted by byte value and no one twice. */
        if (i > 0 && strcmp(ids[i - 1], ids[i]) >= 0) {
            fail(err, errlen, seq, "draw %lld: pool is not strictly sorted by byte value at position %zu (\"%.32s\")",
                 id, i + 1, ids[i]);
            free(ids);
            return -1;
        }
    }
    char h[DRAW_HEX_LEN];
    draw_pool_hash(ids, n, h);
    free(ids);
    if (!h[0])
        return fail(err, errlen, seq, "draw %lld: hashing failed", id);
    if (strcmp(h, pool_hash) != 0)
        return fail(err, errlen, seq, "draw %lld: poolHash %s does not match the pool (computed %s)", id, pool_hash, h);
    struct open_draw *d = &v->open[v->nopen++];
    d->id = id;
    d->count = count;
    d->pool = json_deep_copy(pool);
    snprintf(d->seed_hash, sizeof d->seed_hash, "%s", seed_hash);
    v->last_draw_id = id;
    if (!d->pool) {
        v->nopen--;
        return fail(err, errlen, seq, "draw %lld: out of memory", id);
    }
    return 0;
}

static int push_done(struct audit_verifier *v, long long id)
{
    if (v->ndone == v->done_cap) {
        if (v->done_cap >= AUDIT_MAX_DONE)
            return -1;
        size_t cap = v->done_cap ? v->done_cap * 2 : 64;
        long long *p = realloc(v->done, cap * sizeof *p);
        if (!p)
            return -1;
        v->done = p;
        v->done_cap = cap;
    }
    v->done[v->ndone++] = id;
    return 0;
}

static int check_stop(struct audit_verifier *v, long long seq, const json_t *entry, char **draw_line, char *err,
                      size_t errlen)
{
    int ok = 1;
    long long id = get_int(entry, "drawId", &ok);
    const char *seed_hex = json_string_value(json_object_get(entry, "seed"));
    const json_t *winners = json_object_get(entry, "winners");
    if (!ok || !seed_hex || !json_is_array(winners))
        return fail(err, errlen, seq, "draw.stop lacks drawId, seed or winners");
    struct open_draw *d = find_open(v, id);
    if (!d)
        return fail(err, errlen, seq, "draw %lld: draw.stop without an open draw.start", id);
    uint8_t seed[DRAW_SEED_LEN];
    if (draw_seed_from_hex(seed_hex, seed) < 0)
        return fail(err, errlen, seq, "draw %lld: seed is not 64 hex digits", id);
    char h[DRAW_HEX_LEN];
    draw_seed_hash(seed, h);
    if (!h[0])
        return fail(err, errlen, seq, "draw %lld: hashing failed", id);
    if (strcmp(h, d->seed_hash) != 0)
        return fail(err, errlen, seq, "draw %lld: the seed does not match the committed seedHash %s (it hashes to %s)",
                    id, d->seed_hash, h);
    size_t n = json_array_size(d->pool), k = (size_t)d->count;
    if (json_array_size(winners) != k)
        return fail(err, errlen, seq, "draw %lld: %zu winners logged, the draw was for %zu", id,
                    json_array_size(winners), k);
    size_t *pos = malloc(k * sizeof *pos);
    if (!pos || draw_pick(seed, n, k, pos) < 0) {
        free(pos);
        return fail(err, errlen, seq, "draw %lld: cannot recompute the draw (out of memory)", id);
    }
    for (size_t i = 0; i < k; i++) {
        const char *want = json_string_value(json_array_get(d->pool, pos[i]));
        const char *got = json_string_value(json_array_get(winners, i));
        if (!got || strcmp(got, want) != 0) {
            free(pos);
            return fail(err, errlen, seq,
                        "draw %lld: winners do not follow from the seed and the pool (position %zu: logged %s, "
                        "computed %s)",
                        id, i + 1, got ? got : "(not a string)", want);
        }
    }
    free(pos);
    if (draw_line) {
        /* "draw 7: 3 of 287, pool and seed match their commitments, winners E1, E2, E3" */
        size_t cap = 160 + AUDIT_LINE_WINNERS * 36, len = 0;
        char *line = malloc(cap);
        if (!line)
            return fail(err, errlen, seq, "draw %lld: out of memory", id);
        len += (size_t)snprintf(line, cap, "draw %lld: %zu of %zu, pool and seed match their commitments, winners", id,
                                k, n);
        for (size_t i = 0; i < k && i < AUDIT_LINE_WINNERS; i++) {
            const char *w = json_string_value(json_array_get(winners, i));
            int m = snprintf(line + len, cap - len, "%s %.32s", i ? "," : "", w);
            if (m > 0 && (size_t)m < cap - len)
                len += (size_t)m;
        }
        if (k > AUDIT_LINE_WINNERS)
            snprintf(line + len, cap - len, " (+%zu more)", k - AUDIT_LINE_WINNERS);
        *draw_line = line;
    }
    if (push_done(v, id) < 0) {
        if (draw_line) {
            free(*draw_line);
            *draw_line = NULL;
        }
        return fail(err, errlen, seq, "draw %lld: too many draws", id);
    }
    drop_open(v, d);
    v->draws++;
    return 0;
}

int audit_verify_next(struct audit_verifier *v, long long seq, const char *hash, const json_t *entry,
                      char **draw_line, char *err, size_t errlen)
{
    if (draw_line)
        *draw_line = NULL;
    if (seq != v->entries + 1)
        return fail(err, errlen, seq, "expected seq %lld (entries must be numbered 1, 2, 3, ... without gaps)",
                    v->entries + 1);
    if (!json_is_object(entry))
        return fail(err, errlen, seq, "the entry is not a JSON object");
    if (!hash || !is_hex64(hash))
        return fail(err, errlen, seq, "the hash is not 64 lowercase hex digits");
    char *text = audit_canonical(entry);
    if (!text)
        return fail(err, errlen, seq, "cannot serialise the entry");
    char h[DRAW_HEX_LEN];
    audit_chain_hash(v->prev[0] ? v->prev : AUDIT_GENESIS, text, h);
    free(text);
    if (!h[0])
        return fail(err, errlen, seq, "hashing failed");
    if (strcmp(h, hash) != 0)
        return fail(err, errlen, seq,
                    "the hash chain is broken: the entry or an earlier one was altered (logged %.16s..., computed "
                    "%.16s...)",
                    hash, h);
    const char *kind = json_string_value(json_object_get(entry, "kind"));
    if (!kind)
        return fail(err, errlen, seq, "the entry has no \"kind\"");
    if (!json_is_string(json_object_get(entry, "at")))
        return fail(err, errlen, seq, "the %s entry has no \"at\"", kind);

    int r = 0;
    int ok = 1;
    if (strcmp(kind, "draw.start") == 0) {
        r = check_start(v, seq, entry, err, errlen);
    } else if (strcmp(kind, "draw.stop") == 0) {
        r = check_stop(v, seq, entry, draw_line, err, errlen);
    } else if (strcmp(kind, "draw.cancel") == 0) {
        long long id = get_int(entry, "drawId", &ok);
        struct open_draw *d = ok ? find_open(v, id) : NULL;
        if (!d)
            r = fail(err, errlen, seq, "draw.cancel of draw %lld, which is not open", id);
        else
            drop_open(v, d);
    } else if (strcmp(kind, "draw.undo") == 0) {
        long long id = get_int(entry, "drawId", &ok);
        /* Undo takes back the last finished draw that still counts. */
        if (!ok || v->ndone == 0 || v->done[v->ndone - 1] != id)
            r = fail(err, errlen, seq, "draw.undo of draw %lld, which is not the last finished draw (%lld)", id,
                     v->ndone ? v->done[v->ndone - 1] : 0);
        else
            v->ndone--;
    }
    /* Other kinds (import, prize.*, event.set, winner.absent, and any added
     * later) are covered by the chain only. */
    if (r < 0)
        return -1;
    snprintf(v->prev, sizeof v->prev, "%s", hash);
    v->entries++;
    return 0;
}
