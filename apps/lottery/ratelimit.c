#include "ratelimit.h"

#include <stdlib.h>
#include <string.h>

#include <uthash.h>

struct bucket {
    char key[24];     /* a client_id is 20 hex digits */
    int tokens;
    time_t refilled;  /* when the last token came back */
    UT_hash_handle hh;
};

struct ratelimit {
    int burst, per;
    unsigned count;
    struct bucket *map;
};

struct ratelimit *ratelimit_new(int burst, int per_seconds)
{
    struct ratelimit *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->burst = burst;
    r->per = per_seconds > 0 ? per_seconds : 1;
    return r;
}

void ratelimit_free(struct ratelimit *r)
{
    if (!r)
        return;
    struct bucket *b, *tmp;
    HASH_ITER(hh, r->map, b, tmp) {
        HASH_DEL(r->map, b);
        free(b);
    }
    free(r);
}

int ratelimit_take(struct ratelimit *r, const char *key, time_t now)
{
    struct bucket *b;
    size_t len = strlen(key);
    if (len >= sizeof b->key)
        return 0;
    HASH_FIND(hh, r->map, key, len, b);
    if (!b) {
        if (r->count >= RATELIMIT_MAX || !(b = calloc(1, sizeof *b)))
            return 0;
        memcpy(b->key, key, len);
        b->tokens = r->burst;
        b->refilled = now;
        HASH_ADD(hh, r->map, key, len, b);
        r->count++;
    }
    if (now > b->refilled) {
        long back = (long)((now - b->refilled) / r->per);
        if (back > 0) {
            b->tokens = back >= r->burst - b->tokens ? r->burst : b->tokens + (int)back;
            b->refilled += back * r->per;
        }
    }
    if (b->tokens == r->burst)
        b->refilled = now; /* a full bucket does not save up time */
    if (b->tokens <= 0)
        return 0;
    b->tokens--;
    return 1;
}

void ratelimit_forget(struct ratelimit *r, const char *key)
{
    struct bucket *b;
    if (!r)
        return;
    HASH_FIND(hh, r->map, key, strlen(key), b);
    if (b) {
        HASH_DEL(r->map, b);
        free(b);
        r->count--;
    }
}
