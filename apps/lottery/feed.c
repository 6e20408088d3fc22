#include "feed.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_api.h"

struct feed {
    struct store *store;
    char holder[160];
    feed_push_fn *push;
    void *arg;
    int holding;
    int pushed_once;
    long long last_seq;     /* the last sign-in pushed */
    long long next_lease_ms;
};

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct feed *feed_new(struct store *s, const char *holder, feed_push_fn *push, void *arg)
{
    struct feed *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->store = s;
    snprintf(f->holder, sizeof f->holder, "%s", holder);
    f->push = push;
    f->arg = arg;
    return f;
}

void feed_free(struct feed *f) { free(f); }

int feed_is_holder(const struct feed *f) { return f && f->holding; }

void feed_tick(struct feed *f)
{
    long long now = wall_ms();
    struct store_err e = {0};
    if (now >= f->next_lease_ms) {
        f->next_lease_ms = now + FEED_LEASE_EVERY_MS;
        int r = store_lease(f->store, "signin-feed", f->holder, now, FEED_LEASE_TTL_MS);
        if (r == 1 && !f->holding) {
            /* Newly in charge (at start, or after a holder died): the names
             * the last holder may not have pushed are among the newest, so
             * start FEED_NAMES back — a name shown twice is better than one
             * never shown — and push at once. */
            json_t *c = store_signins_since(f->store, 0, 0, &e);
            if (!c)
                return;
            long long seq = json_integer_value(json_object_get(c, "seq"));
            json_decref(c);
            f->last_seq = seq > FEED_NAMES ? seq - FEED_NAMES : 0;
            f->holding = 1;
            gw_log(GW_LOG_INFO, "lottery: this process now feeds the screens (%s)", f->holder);
        }
        if (r != 1 && f->holding)
            gw_log(GW_LOG_INFO, "lottery: this process no longer feeds the screens (%s)",
                   r == 0 ? "another holds the lease" : "the store failed");
        /* A store failure (-1) keeps no lease: better no feed than two. */
        f->holding = r == 1;
    }
    if (!f->holding)
        return;
    json_t *c = store_signins_since(f->store, f->last_seq, FEED_NAMES, &e);
    if (!c)
        return;
    long long seq = json_integer_value(json_object_get(c, "seq"));
    /* seq == 0 with a fresh holder: push the counts once anyway. */
    if (seq > f->last_seq || (seq == 0 && !f->pushed_once)) {
        f->pushed_once = 1;
        f->last_seq = seq;
        f->push(c, f->arg);
    }
    json_decref(c);
}
