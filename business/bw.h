/* bw: what the business worker's modules share inside one worker process.
 *
 * One struct per process (no globals but the API's pointer to it, api.c):
 * the settings, the event loop (shared/loop), the loaded application, the
 * register client (shared/regclient), the gateway links (links), the request
 * connections of the query API (query) and the context of the event being
 * handled (events). */
#ifndef GW_BUSINESS_BW_H
#define GW_BUSINESS_BW_H

#include <stdint.h>

#include <msgpack.h>

#include "buf.h"
#include "config.h"
#include "gw_api.h"

struct loop;
struct regclient;
struct links;
struct link;
struct query;
struct guard_table;

struct business_cfg {
    struct cfg_common common;
    long count;
    struct cfg_addrlist registerAddress;
    char *secretKey;
    char *eventHandler;
    long slowCallbackMs;
    long sendToGatewayBufferSize;
};

/* The event being handled; valid between events_dispatch's entry and exit. */
struct bw_ctx {
    int active;              /* inside a client callback */
    uint8_t cmd;
    char client_id[24];
    char remote_ip[16];
    char gateway_addr[32];
    uint16_t remote_port;
    uint16_t gateway_port;
    uint32_t conn_id;
    struct link *link;        /* the link the event came on (borrowed) */
    int body_serialized;
    const uint8_t *ext;       /* the event's session bytes (borrowed from the frame) */
    size_t ext_len;
    msgpack_zone zone;        /* decoded session and its copies; cleared after each event */
    int session_loaded;       /* session decoded from ext (done lazily) */
    msgpack_object session;   /* NIL = no session */
    int session_changed;      /* an API call changed it since the event began */
    int baseline_own;         /* the gateway now holds `baseline`, not `ext` */
    struct buf baseline;
    struct buf scratch;       /* the message with a NUL after it; encoder output */
};

struct bw {
    const struct business_cfg *cfg;
    int index;
    char worker_key[128];
    struct loop *loop;
    const struct gw_app *app;
    struct gw_worker_info info;
    struct regclient *reg;
    struct links *links;
    struct query *query;
    struct bw_ctx ctx;
    int stopping;
    /* Operators' numbers (`status`): client events handled, commands sent
     * to gateways, commands dropped on a full send buffer; the rates are
     * over the last whole second (main.c's tick). */
    uint64_t events_in, commands_out, commands_dropped;
    uint64_t rate_in, rate_out, last_in, last_out;
    int64_t rate_at;
    /* Set by events.c (NULL outside a worker, e.g. in libgwclient): api.c
     * tells it that this process wrote the session of a client other than
     * the current one — bytes[0..len) when known, or an UPDATE_SESSION merge
     * whose result only the gateway knows (known 0) — for the stale-session
     * guard (events.c, spec §5.2). */
    void (*session_written)(struct bw *bw, const char *client_id, const void *bytes, size_t len, int known);
    /* events.c's stale-session guard (NULL until first needed). */
    struct guard_table *guard;
};

#endif
