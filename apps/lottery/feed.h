/* feed: the big screen's sign-in wall, coalesced.
 *
 * Sign-ins land in the store from every worker process on every host; the
 * screens must get at most ~10 updates a second whatever the sign-in rate.
 * So exactly one process feeds them: the holder of the store's lease
 * "signin-feed" (renewed every second, expiring after 3 s, so a killed
 * holder is replaced within 3 s). Every FEED_INTERVAL_MS the holder asks the
 * store for sign-ins after the last one it pushed and, when there are any,
 * pushes one `signins` message with the absolute counts and the newest
 * names. The counts are absolute, so a lost push or a change of holder
 * never leaves a screen with a wrong number; a new holder starts
 * FEED_NAMES sign-ins back, so names its predecessor had not pushed yet
 * still reach the wall. */
#ifndef LOTTERY_FEED_H
#define LOTTERY_FEED_H

#include <jansson.h>

#include "store.h"

#define FEED_INTERVAL_MS 100
#define FEED_LEASE_EVERY_MS 1000
#define FEED_LEASE_TTL_MS 3000
#define FEED_NAMES 30

typedef void feed_push_fn(const json_t *body, void *arg);

/* holder: this process's name in the lease (host:pid:worker). The store is
 * borrowed. */
struct feed *feed_new(struct store *s, const char *holder, feed_push_fn *push, void *arg);
void feed_free(struct feed *f);
/* Call every FEED_INTERVAL_MS. */
void feed_tick(struct feed *f);
/* 1 while this process holds the lease. */
int feed_is_holder(const struct feed *f);

#endif
