/* store: the lottery's durable state behind one narrow interface.
 *
 * Every function is one transaction: it either commits all its effects
 * (and its audit entries) or none. Results are jansson values in the shapes
 * of docs/lottery-protocol.md (the caller owns the returned reference).
 * Admin commands take a request id: the first successful result is stored
 * with it in the same transaction and returned again, unchanged, for the
 * same rid (replayed = 1), without doing anything; a rid stored for another
 * command fails with "rid_reused".
 *
 * Backends: "sqlite:PATH" (or a bare PATH) — the embedded default; several
 * processes on one host share the file (WAL, busy timeout, BEGIN IMMEDIATE
 * for writers, synchronous=FULL for draws). A PostgreSQL backend
 * ("postgresql://...") plugs in behind the same functions (issue 9), so the
 * SQL stays portable.
 *
 * Errors: functions returning json_t * return NULL and fill *e; e->code is a
 * protocol error code (§6: "bad_request", "not_found", "name_mismatch",
 * "draw_open", "no_open_draw", "not_enough", "conflict", "rid_reused",
 * "store_error", ...) and e->message an English sentence. Input validation
 * of field syntax (lengths, characters) is the caller's (proto.c) job; the
 * store checks state (existence, conflicts, quantities) and re-checks what
 * would corrupt it. */
#ifndef LOTTERY_STORE_H
#define LOTTERY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct store;

struct store_err {
    const char *code;   /* static string, §6 code */
    char message[256];
};

/* Opens (creating the schema if needed). NULL with a reason in err. */
struct store *store_open(const char *url, char *err, size_t errlen);
void store_close(struct store *s);
/* "sqlite" or "postgresql". */
const char *store_backend(const struct store *s);
/* The store's identity: 32 hex digits made when its schema was created.
 * Two worker processes with different ids run two lotteries (lottery.c
 * looks for that: the "split store" check). */
const char *store_id(const struct store *s);

/* ---- phones ---- */

/* Signs empNo in (name must match; with allow_open an unknown empNo is
 * created). Idempotent: a second sign-in returns the same token.
 * Result: {"token", "me":{empNo,name,dept,token,won:[...]}, "already":bool}. */
json_t *store_signin(struct store *s, const char *emp_no, const char *name, int allow_open,
                     struct store_err *e);
/* The participant of a token: {"me":{...}} or NULL with "bad_token". */
json_t *store_me(struct store *s, const char *token, struct store_err *e);

/* ---- admin commands (rid: idempotent, see above) ---- */

/* rows: array of {empNo,name,dept} (validated by the caller); mode "merge"
 * (NULL too) | "replace". "updated" counts known rows whose name or dept
 * changed; an empNo twice in rows is "bad_request"; refused with
 * "draw_open" while a draw is open, and replace with "conflict" once anyone
 * signed in or any draw exists. At most 20,000 rows, 100,000 participants. */
json_t *store_import(struct store *s, const char *rid, const json_t *rows, const char *mode, int *replayed,
                     struct store_err *e);
/* id 0: new. Result {"prize":{...}}. */
json_t *store_prize_save(struct store *s, const char *rid, long long id, const char *name, int tier,
                         int quantity, int exclude_winners, int *replayed, struct store_err *e);
/* "conflict" while the prize has winners (present or absent, of draws not
 * undone) or an open draw; save refuses a quantity below winners + open seats.
 * Ids come from a counter and are never reused. Result {"id"}. */
json_t *store_prize_delete(struct store *s, const char *rid, long long id, int *replayed, struct store_err *e);
/* Freezes the pool, draws a seed, stores the open draw. Result {"draw":{open draw}}. */
json_t *store_draw_start(struct store *s, const char *rid, long long prize_id, int count, int *replayed,
                         struct store_err *e);
/* Reveals: computes the winners (draw_pick), stores them. Result {"draw":{finished draw}}. */
json_t *store_draw_stop(struct store *s, const char *rid, long long draw_id, int *replayed, struct store_err *e);
/* Result {"drawId","reason"}; "no_open_draw" unless that draw is open. */
json_t *store_draw_cancel(struct store *s, const char *rid, long long draw_id, const char *reason, int *replayed,
                          struct store_err *e);
/* Undoes the last finished, not undone draw. Result {"drawId","reason"}. */
json_t *store_draw_undo(struct store *s, const char *rid, const char *reason, int *replayed, struct store_err *e);
/* Marks emp_no (a present winner of prize_id) absent and opens a one-seat
 * draw for that prize. Result {"draw":{open draw}, "absent":{prizeId,empNo,name,reason}}.
 * One transaction: if nobody is eligible ("not_enough") the absence is not
 * recorded either. */
json_t *store_winner_replace(struct store *s, const char *rid, long long prize_id, const char *emp_no,
                             const char *reason, int *replayed, struct store_err *e);
/* patch: an object with any of title, openSignup, danmakuMuted (other
 * members are ignored, so the message itself may be passed; a wrong type is
 * "bad_request"). Result {"event":{...}}. */
json_t *store_event_set(struct store *s, const char *rid, const json_t *patch, int *replayed, struct store_err *e);

/* ---- reads ---- */

/* The state of §4 without role/me/recent: {"event","participants","signedIn",
 * "prizes","winners","openDraw"}. */
json_t *store_state(struct store *s, struct store_err *e);
/* {"title","openSignup","danmakuMuted"}: cheap, for per-message checks. */
json_t *store_event(struct store *s, struct store_err *e);
/* {"prizes":[...]}. */
json_t *store_prizes(struct store *s, struct store_err *e);
/* Sign-ins after sequence number `after` (0: from the start): {"seq": the
 * latest seq, "signedIn", "participants", "names":[up to limit newest
 * names, oldest first]}. */
json_t *store_signins_since(struct store *s, long long after, int limit, struct store_err *e);
/* Winners as CSV (UTF-8 BOM, header line, CRLF). Malloc'd, NULL on failure. */
char *store_winners_csv(struct store *s, struct store_err *e);

/* ---- coordination ---- */

/* Takes or renews the lease `name` for holder until now_ms + ttl_ms (wall
 * clock, ms since the epoch). 1 if holder holds it now, 0 if someone else
 * does, -1 on a store failure. */
int store_lease(struct store *s, const char *name, const char *holder, long long now_ms, long long ttl_ms);

/* ---- audit ---- */

/* Calls cb for every audit entry in order (entry borrowed for the call).
 * Stops early when cb returns non-zero and returns that value; 0 at the
 * end; -1 with e filled on a store failure. */
typedef int store_audit_cb(long long seq, const char *hash, const json_t *entry, void *arg);
int store_audit_foreach(struct store *s, store_audit_cb *cb, void *arg, struct store_err *e);

#endif
