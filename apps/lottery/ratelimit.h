/* ratelimit: a token bucket per client_id (bullet comments), in process
 * memory: a client's events always reach the same worker process (the
 * gateway's router is sticky), and a restart forgetting the buckets only
 * gives everyone a fresh burst. Entries go on the client's close; at most
 * RATELIMIT_MAX clients are tracked (beyond that a new client is refused
 * rather than memory growing without bound). */
#ifndef LOTTERY_RATELIMIT_H
#define LOTTERY_RATELIMIT_H

#include <time.h>

#define RATELIMIT_MAX 200000

struct ratelimit;

/* burst tokens at most; one token back every per_seconds. */
struct ratelimit *ratelimit_new(int burst, int per_seconds);
void ratelimit_free(struct ratelimit *r);
/* 1 if key may act now (a token is taken), 0 if not. */
int ratelimit_take(struct ratelimit *r, const char *key, time_t now);
void ratelimit_forget(struct ratelimit *r, const char *key);

#endif
