/* audit: the lottery's tamper-evident log, pure functions over JSON.
 *
 * Each entry is a JSON object; its canonical text is jansson's
 * JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII dump. The chain:
 * hash_0 = SHA-256("lottery-audit-v1" "\n" text_0),
 * hash_i = SHA-256(hash_{i-1} (64 hex digits) "\n" text_i).
 * An exported line is {"seq":i,"hash":"...","entry":{...}}. seq numbers
 * start at 1 and have no gaps.
 *
 * Entry kinds (the "kind" member; every entry has "at", ISO-8601 UTC):
 *   import       {mode, added, updated, total}
 *   prize.save   {prize:{id,name,tier,quantity,excludeWinners}}
 *   prize.delete {id}
 *   event.set    {event:{...}}
 *   draw.start   {drawId, prizeId, count, pool:[empNo sorted], poolHash, seedHash, replaces}
 *   draw.stop    {drawId, seed, winners:[empNo in draw order]}
 *   draw.cancel  {drawId, reason}
 *   draw.undo    {drawId, reason}
 *   winner.absent {prizeId, empNo, drawId, reason}
 */
#ifndef LOTTERY_AUDIT_H
#define LOTTERY_AUDIT_H

#include <stddef.h>

#include <jansson.h>

#include "draw.h"

#define AUDIT_GENESIS "lottery-audit-v1"

/* Canonical text of an entry (malloc'd; NULL on failure). */
char *audit_canonical(const json_t *entry);
/* hash_out = SHA-256(prev "\n" text), prev = previous hash hex or AUDIT_GENESIS. */
void audit_chain_hash(const char *prev, const char *text, char hash_out[DRAW_HEX_LEN]);

/* Incremental verifier: feed entries in order. */
struct audit_verifier;
struct audit_verifier *audit_verifier_new(void);
void audit_verifier_free(struct audit_verifier *v);
/* Checks seq continuity, the chain hash, and for draw.stop entries that the
 * winners follow from the matching draw.start's pool and the revealed seed
 * (and both match their hashes). Also: a draw.start's pool is strictly
 * sorted and its draw id larger than every earlier one; draw.cancel names an
 * open draw; draw.undo names the last finished draw not yet undone. Other
 * kinds are covered by the chain only. 0, or -1 with a reason in err.
 * On success of a draw.stop, *draw_line (if not NULL) gets a one-line
 * summary (malloc'd) for `lotteryctl verify` to print. */
int audit_verify_next(struct audit_verifier *v, long long seq, const char *hash, const json_t *entry,
                      char **draw_line, char *err, size_t errlen);
/* Entries and draws verified so far. */
long long audit_verifier_entries(const struct audit_verifier *v);
long long audit_verifier_draws(const struct audit_verifier *v);

#endif
