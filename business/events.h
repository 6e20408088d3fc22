/* events: one client event from a gateway, run through the application
 * (spec §3.7, §5.2).
 *
 * Sets up the current-event context (client_id, gateway link, session —
 * decoded lazily from ext_data the first time the application asks), calls
 * the application's callback, logs it when it fails or is slower than
 * slowCallbackMs, and writes a changed session back with SET_SESSION (not
 * after ON_CLOSE). PING and unknown commands are ignored.
 *
 * Stale-session guard (§5.2; the rule and where it differs from PHP are
 * described in events.c): while a session write of this process is not yet
 * reflected in a client's events, an event whose ext_data differs from what
 * we wrote may have been queued before the write reached the gateway; its
 * session is then fetched with GET_SESSION_BY_CLIENT_ID instead. */
#ifndef GW_BUSINESS_EVENTS_H
#define GW_BUSINESS_EVENTS_H

#include "gwp.h"

struct bw;
struct link;

/* f is borrowed for the call (it points into l's input buffer). */
void events_dispatch(struct bw *bw, struct link *l, const struct gwp_frame *f);

/* Inside a client callback: decodes the session on first use. 0 or -1. */
int events_session_load(struct bw *bw);

/* Frees what events keeps per process (the stale-session guard's table). */
void events_free(struct bw *bw);

#endif
