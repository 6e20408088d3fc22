/* split: notices a split lottery — worker processes using different stores.
 *
 * With business workers on two hosts, each must use the one shared store
 * (PostgreSQL); a host left on its own sqlite file would run a second
 * lottery (its own sign-ins, its own winners) without any error. Workers
 * cannot see each other, but the pages' gateway sessions can be seen by
 * all: every worker stamps the sessions of the pages it greets with its
 * store's id (`store`), and the screens' feed holder (one per store) looks
 * at the stamps now and then. A stamp from another store means another
 * lottery is answering some of the same pages: that is logged as an error
 * and pushed to the admin page and the big screen as an alert, loudly,
 * until it is fixed. (A worker cannot refuse to start on its own: alone, a
 * sqlite store is the right choice; only the pair is wrong.) */
#ifndef LOTTERY_SPLIT_H
#define LOTTERY_SPLIT_H

#include <stddef.h>

#define SPLIT_SESSION_KEY "store"

/* Counts the sessions of the given groups stamped with a store id other
 * than ours; the first such id goes to other (cap bytes). Blocks on gateway
 * queries. Returns the count (0: one lottery), or -1 if no query worked. */
int split_count(const char *our_id, const char *const *groups, size_t n, char *other, size_t cap);

#endif
