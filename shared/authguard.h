/* authguard: slows down secret-key guessing, per source address.
 *
 * The first AUTHGUARD_FREE wrong keys from an address cost nothing (a
 * mistyped config restarts a few times); every later one blocks that address
 * for twice as long as the one before, from 1 s up to AUTHGUARD_MAX_BLOCK_MS.
 * While blocked, attempts are refused without the key being looked at, so a
 * guesser gets one try per block however many connections it opens. A streak
 * is forgotten AUTHGUARD_FORGET_MS after its last failure, or at once on a
 * success. The table is fixed-size (AUTHGUARD_SLOTS addresses; the stalest is
 * evicted), so a flood of addresses cannot grow memory.
 *
 * Pure logic: the caller passes the time (loop_now_ms()). */
#ifndef GW_AUTHGUARD_H
#define GW_AUTHGUARD_H

#include <stdint.h>

#define AUTHGUARD_SLOTS 256
#define AUTHGUARD_FREE 3
#define AUTHGUARD_MAX_BLOCK_MS 60000
#define AUTHGUARD_FORGET_MS 600000

struct authguard_slot {
    char ip[48];
    uint32_t failures;       /* wrong keys in the current streak */
    uint32_t refused;        /* attempts refused while blocked, since the last failure */
    int64_t last_fail_ms;
    int64_t blocked_until_ms;
};

struct authguard {
    struct authguard_slot slot[AUTHGUARD_SLOTS];
};

/* Milliseconds ip stays blocked (0: it may try). A refused attempt is counted:
 * *first_refusal (may be NULL) is set to 1 for the first one of a block, so
 * the caller logs once per block, not once per connection. */
int64_t authguard_check(struct authguard *g, const char *ip, int64_t now_ms, int *first_refusal);
/* A wrong key from ip. Returns the failures in its streak; *block_ms (may be
 * NULL) is how long ip is now blocked (0 while the streak is still free). */
uint32_t authguard_fail(struct authguard *g, const char *ip, int64_t now_ms, int64_t *block_ms);
/* A right key from ip: its streak is forgotten. */
void authguard_ok(struct authguard *g, const char *ip);

#endif
