/* gw_api.h: the C application API of the business worker (GatewayWorker's
 * Events class + Lib\Gateway, in C).
 *
 * ---------------------------------------------------------------------------
 * 1. Writing an application
 * ---------------------------------------------------------------------------
 * An application is a shared object (.so) named by the business worker's
 * `eventHandler` setting. It includes only this header (and <msgpack.h>,
 * which this header includes), and exports ONE symbol:
 *
 *     const struct gw_app *gw_app(void);
 *
 * returning a pointer to a static table of callbacks (any of them may be
 * NULL except on_message) with .api_version = GW_API_VERSION:
 *
 *     static int on_message(const char *client_id, const char *data, size_t len)
 *     {
 *         return gw_send_to_current_client(data, len, 0);
 *     }
 *     static const struct gw_app app = {.api_version = GW_API_VERSION, .on_message = on_message};
 *     const struct gw_app *gw_app(void) { return &app; }
 *
 * Build it with `cc -fPIC -shared -I<dir of gw_api.h> app.c -o app.so`: the
 * gw_* functions are resolved at load time from the business binary, which
 * exports them (linked with -rdynamic). See apps/echo/echo.c.
 *
 * Every worker process (setting `count`) loads the application and calls
 * on_worker_start once, then one callback per client event, one at a time:
 * a process is single-threaded and never runs two callbacks at once. The
 * events of one client always reach the same process, in order (the gateway
 * router is sticky), but the clients of one gateway are spread over every
 * process of every business worker: keep shared state out of process memory
 * (sessions, uids and groups live on the gateways; use them).
 *
 * Callbacks return 0, or any other value to report a failure: it is logged
 * with the client_id and the event, and the worker goes on serving. A
 * callback slower than `slowCallbackMs` is logged the same way. A crash
 * (SIGSEGV...) ends the process; the master starts it again.
 *
 * ---------------------------------------------------------------------------
 * 2. Conventions
 * ---------------------------------------------------------------------------
 * - client_id: the 20-hex-digit GatewayWorker client id, a NUL-terminated
 *   string. Callbacks receive a pointer valid until the callback returns.
 * - uids and group names are NUL-terminated byte strings. PHP treats "" and
 *   "0" as empty: the gateway ignores bind/join with such a name.
 * - Messages are bytes (data, len). WebSocket clients get them as one text
 *   frame. flags: GW_RAW writes the bytes to the client socket verbatim,
 *   without WebSocket framing (PHP's $raw = true).
 * - Return values of pushes: 0 when the command was queued to the
 *   gateway(s) (delivery is not confirmed: the gateway may have lost the
 *   client meanwhile); -EINVAL for a malformed client_id or argument;
 *   -ENOTCONN when there is no link to the client's gateway (PHP returns
 *   false); -EPERM for a *_current_client call outside a client callback;
 *   -ENOBUFS when the link's send buffer is full (the command is dropped);
 *   -ENOMEM.
 * - Values (sessions, query results, the WebSocket handshake data) are
 *   msgpack-c objects mapped from PHP serialize() (shared/phpser.h):
 *   PHP array -> MSGPACK_OBJECT_MAP (keys are STR or integers; PHP turns
 *   integer-like string keys into integers), string -> STR, int ->
 *   POSITIVE_INTEGER / NEGATIVE_INTEGER, float -> FLOAT64, bool -> BOOLEAN,
 *   null -> NIL. Lists are MAPs with keys 0..n-1, except where a query says
 *   it returns an ARRAY.
 *
 * ---------------------------------------------------------------------------
 * 3. Queries block
 * ---------------------------------------------------------------------------
 * Query functions (gw_is_online, gw_get_*) ask the gateway(s) over separate
 * request connections and WAIT for the answers: up to 3 s to connect and 5 s
 * for all replies, during which this worker process handles no other event
 * (as in PHP, spec §14 #13). They go to every gateway the registers list
 * (or to the client's own gateway for per-client queries) and merge the
 * answers; a gateway that does not answer in time is left out of the result
 * and reported by gw_last_query(). Use queries sparingly on hot paths.
 *
 * Query results are returned in a struct gw_result that owns its memory:
 * release it with gw_result_free() (also after a failed call).
 *
 * ---------------------------------------------------------------------------
 * 4. The current client and its session
 * ---------------------------------------------------------------------------
 * Inside on_connect / on_websocket_connect / on_message / on_close, "the
 * current client" is the one the event is about. Its session (a PHP array
 * stored on its gateway, shared with PHP workers) is readable with
 * gw_session() / gw_session_get() and writable with gw_session_set*() /
 * gw_session_unset() / gw_session_replace(). When the callback returns and
 * the session changed, the worker sends it back to the gateway (SET_SESSION,
 * PHP serialize) — except after on_close, whose changes are dropped (the
 * client is gone). Values returned by the session getters are valid until
 * the next session change or the end of the callback, whichever is first.
 *
 * The API keeps one hidden piece of process state: the current event's
 * context (client, gateway link, session). It is why *_current_client and
 * gw_session* need no handle, and why the API must only be called from the
 * worker's own thread (the one running the callbacks).
 *
 * ---------------------------------------------------------------------------
 * 5. The application's settings (API version 2)
 * ---------------------------------------------------------------------------
 * The [app] section of the worker's INI file (and --app.KEY=value on its
 * command line, which wins) is the application's: the worker passes every
 * key through unchecked, and the application validates what it reads (and
 * fails on_worker_start with a log line naming the key when a value is
 * wrong). Example:
 *
 *     [business]
 *     eventHandler = build/apps/lottery.so
 *     [app]
 *     store = sqlite:run/lottery.db
 *     adminToken = change-me
 *
 * A daemon runs in "/": resolve relative paths with gw_app_path(), against
 * the directory the worker was started from (as pidFile and logFile are).
 *
 * ---------------------------------------------------------------------------
 * 6. Timers (API version 2)
 * ---------------------------------------------------------------------------
 * Workerman's Timer::add / Timer::del: gw_timer_add() calls fn(arg) after
 * interval_ms, and again every interval_ms when persistent (a late run is
 * not followed by a burst: the next one is interval_ms after it ran). Timer
 * callbacks run in the worker's loop between client events, never inside
 * one: pushes, gw_send_to_group() and queries work; *_current_client and
 * gw_session* fail with -EPERM (there is no current client). Timers belong
 * to the process: add them in on_worker_start (or later); they end with the
 * process. A callback slower than slowCallbackMs is logged.
 */
#ifndef GW_API_H
#define GW_API_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

/* 2 added the application's settings and timers (§5, §6); an application
 * built for version 1 still loads (nothing it uses changed). */
#define GW_API_VERSION 2
#define GW_API_VERSION_MIN 1

/* ---- the application's callbacks ---- */

/* Passed to on_worker_start / on_worker_stop; borrowed for the call. */
struct gw_worker_info {
    const char *name;  /* the worker's `name` setting */
    int index;         /* this process: 0..count-1 (kept across restarts) */
    int count;         /* the `count` setting */
};

struct gw_app {
    unsigned api_version; /* GW_API_VERSION: the loader refuses other versions */
    /* Once per process, before any client event and before the links to
     * the registers and gateways exist (pushes made here fail with
     * -ENOTCONN). Non-zero stops the process (the master starts it again
     * after a second: fix the cause). */
    int (*on_worker_start)(const struct gw_worker_info *w);
    /* Once per process, on SIGTERM/SIGINT or reload, after the last event. */
    void (*on_worker_stop)(const struct gw_worker_info *w);
    /* A client connected to a gateway (before any handshake). */
    int (*on_connect)(const char *client_id);
    /* A WebSocket client's handshake: data is the PHP array
     * {"get": {query...}, "server": {"REQUEST_URI":..., "HTTP_HOST":...,
     * "REMOTE_ADDR":...}, "cookie": {...}} (spec §8), borrowed for the call. */
    int (*on_websocket_connect)(const char *client_id, const msgpack_object *data);
    /* One complete client message: data[0..len) (followed by a NUL not
     * counted in len, so text can be used as a C string), borrowed for the
     * call. Required. If a gateway sent a PHP array instead of bytes (only
     * custom gateway protocols do), data is its serialize() text and
     * gw_current_body_is_serialized() returns 1. */
    int (*on_message)(const char *client_id, const char *data, size_t len);
    /* The client is gone. Its session can still be read; pushes to it are
     * pointless. */
    int (*on_close)(const char *client_id);
};

/* The one symbol an application exports. */
const struct gw_app *gw_app(void);
typedef const struct gw_app *gw_app_fn(void);
#define GW_APP_SYMBOL "gw_app"

/* ---- flags for pushes ---- */
#define GW_RAW 0x01u /* write the bytes to the client socket verbatim (no WebSocket frame) */

/* ---- the current event (inside a client callback; NULL / 0 outside) ---- */

const char *gw_current_client_id(void);
const char *gw_current_remote_ip(void);      /* $_SERVER['REMOTE_ADDR'], "a.b.c.d" */
uint16_t gw_current_remote_port(void);       /* $_SERVER['REMOTE_PORT'] */
const char *gw_current_gateway_address(void);/* the gateway's internal "ip:port" */
uint16_t gw_current_gateway_port(void);      /* $_SERVER['GATEWAY_PORT']: the client-facing port */
int gw_current_body_is_serialized(void);

/* ---- pushes and control (no reply; see §2 for return values) ---- */

/* To every client of every gateway; or, when n_ids > 0, only to those
 * client_ids (n_ids == 0 with client_ids != NULL sends nothing, like PHP's
 * empty array); minus the n_exclude client_ids in exclude. */
int gw_send_to_all(const void *msg, size_t len, const char *const *client_ids, size_t n_ids,
                   const char *const *exclude, size_t n_exclude, unsigned flags);
int gw_send_to_client(const char *client_id, const void *msg, size_t len, unsigned flags);
int gw_send_to_current_client(const void *msg, size_t len, unsigned flags);
/* Sends msg (when not NULL; an empty message is still sent) and then closes
 * the client once its output has drained. */
int gw_close_client(const char *client_id, const void *msg, size_t len);
int gw_close_current_client(const void *msg, size_t len);
/* Drops the client at once, discarding its pending output. */
int gw_destroy_client(const char *client_id);
int gw_destroy_current_client(void);

int gw_bind_uid(const char *client_id, const char *uid);
int gw_unbind_uid(const char *client_id, const char *uid);
/* To every client bound to any of the n uids (a uid listed twice gets it twice). */
int gw_send_to_uid(const char *const *uids, size_t n, const void *msg, size_t len, unsigned flags);

int gw_join_group(const char *client_id, const char *group);
int gw_leave_group(const char *client_id, const char *group);
/* Deletes the group on every gateway; its members stay connected. */
int gw_ungroup(const char *group);
/* To every member of any of the n groups (a member of two listed groups gets
 * it twice, as in PHP), minus the excluded client_ids. */
int gw_send_to_group(const char *const *groups, size_t n, const void *msg, size_t len,
                     const char *const *exclude, size_t n_exclude, unsigned flags);

/* Replaces the client's whole session with `session` (a MAP; NULL or NIL
 * clears it). On the current client this also updates gw_session(). */
int gw_set_session(const char *client_id, const msgpack_object *session);
/* Merges `partial` (a MAP) into the stored session the way PHP's
 * array_replace_recursive does (nothing is ever deleted). On the current
 * client this also updates gw_session(). */
int gw_update_session(const char *client_id, const msgpack_object *partial);

/* ---- the current client's session (inside a client callback) ---- */

/* The session: a MAP, or NULL when the client has none (PHP null). */
const msgpack_object *gw_session(void);
/* The value under key (integer-like keys match integer keys), or NULL. */
const msgpack_object *gw_session_get(const char *key);
/* Set key to a deep copy of value (replacing, keeping its position, or
 * appending). Creates the session if there was none. 0, -EPERM, -ENOMEM. */
int gw_session_set(const char *key, const msgpack_object *value);
int gw_session_set_str(const char *key, const char *value);
int gw_session_set_int(const char *key, int64_t value);
/* Removes key; 0 (also when absent), -EPERM. */
int gw_session_unset(const char *key);
/* Replaces the whole session by a deep copy of map (NULL or NIL: no session). */
int gw_session_replace(const msgpack_object *map);

/* Value helpers: objects that BORROW s (copied when stored or sent). */
msgpack_object gw_str(const char *s);
msgpack_object gw_strn(const char *s, size_t n);
msgpack_object gw_int(int64_t v);

/* ---- queries (block, see §3) ---- */

struct gw_result {
    msgpack_object value; /* see each query; NIL on failure */
    msgpack_zone *zone;   /* owns value's memory; NULL until filled */
};
void gw_result_free(struct gw_result *r);

/* What the last query saw; valid until the next query. */
struct gw_query_info {
    int asked;                 /* gateways asked */
    int answered;              /* gateways that replied in time */
    int n_missing;             /* asked - answered */
    const char *missing[16];   /* the first (up to 16) that did not answer, "ip:port" */
};
const struct gw_query_info *gw_last_query(void);

/* 1 online, 0 not (or no link to its gateway), -EINVAL malformed client_id. */
int gw_is_online(const char *client_id);
/* Count over every gateway (>= 0), or a negative errno. */
int64_t gw_get_all_client_count(void);
int64_t gw_get_client_count_by_group(const char *group);
int64_t gw_get_all_uid_count(void);
int64_t gw_get_uid_count_by_group(const char *group);
/* 1 if any client is bound to uid, else 0 (or a negative errno). */
int gw_is_uid_online(const char *uid);

/* The functions below return 0 (possibly with gateways missing, see
 * gw_last_query) or a negative errno, and fill *out (always free it). */

/* session of one client: a MAP, an empty MAP when it has none, NIL when it
 * is not connected (or there is no link to its gateway). */
int gw_get_session(const char *client_id, struct gw_result *out);
/* MAP client_id -> session MAP, every client (group NULL) or one group's.
 * The current client's entry is its local (possibly changed) session. */
int gw_get_all_client_sessions(struct gw_result *out);
int gw_get_client_sessions_by_group(const char *group, struct gw_result *out);
/* MAP client_id -> client_id. */
int gw_get_all_client_id_list(struct gw_result *out);
int gw_get_client_id_list_by_group(const char *group, struct gw_result *out);
/* MAP uid -> uid (unbound clients skipped). */
int gw_get_all_uid_list(struct gw_result *out);
int gw_get_uid_list_by_group(const char *group, struct gw_result *out);
/* MAP group -> group, union over gateways. */
int gw_get_all_group_id_list(struct gw_result *out);
/* ARRAY of client_id STRs bound to uid. */
int gw_get_client_id_by_uid(const char *uid, struct gw_result *out);
/* STR uid, or NIL when unbound / offline. */
int gw_get_uid_by_client_id(const char *client_id, struct gw_result *out);

/* ---- the application's settings (§5) ---- */

/* The value of key in [app] (or --app.key=value), or NULL when not set. The
 * string lives as long as the process. */
const char *gw_app_setting(const char *key);
/* path made absolute against the directory the worker was started from
 * (an absolute path is copied as is). 0, or -ENAMETOOLONG / -EINVAL. */
int gw_app_path(const char *path, char *out, size_t cap);

/* ---- logging ---- */

/* One line in the worker's log ("... business[pid] WARN message"), the same
 * sink as the worker's own lines (stderr, the logFile under -d). */
#define GW_LOG_INFO 1
#define GW_LOG_WARN 2
#define GW_LOG_ERROR 3
void gw_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- timers (§6) ---- */

typedef void gw_timer_fn(void *arg);
/* Returns a timer id > 0; -EINVAL (interval_ms 0 or fn NULL), -ENOMEM,
 * -ENOSPC (4,096 timers pending), -EPERM (no worker loop yet).
 * Settings and timers exist in the business worker only, not in libgwclient. */
int64_t gw_timer_add(unsigned interval_ms, int persistent, gw_timer_fn *fn, void *arg);
/* 0 when the timer was removed, -ENOENT when unknown or a one-shot timer
 * that already ran. A callback may delete its own timer. */
int gw_timer_del(int64_t id);

#endif
