/* query: the request/response connections of the query API (spec §1.2 #5,
 * §3.8, §4.4, §6.4).
 *
 * A query sends the same command to several gateways at once and then waits
 * — blocking the worker process, as PHP does (§14 #13) — up to 3 s for the
 * connections and 5 s overall for the replies (u32 length + PHP serialize).
 * Connections are kept per gateway for 50 s of idleness and authenticated
 * once with GATEWAY_CLIENT_CONNECT when a secret key is set. Replies carry no
 * request id, so a connection that timed out or failed is closed, never
 * reused: a late reply must not answer the next query. */
#ifndef GW_BUSINESS_QUERY_H
#define GW_BUSINESS_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "gw_api.h"

struct bw;
struct query;

struct query_target {
    uint32_t ip;          /* host order */
    uint16_t port;
    int ok;               /* out: 1 when a reply arrived and unserialized */
    msgpack_object reply; /* out: the decoded reply (in the caller's zone) */
};

struct query *query_new(struct bw *bw);
void query_free(struct query *q);

/* Sends cmd (connection_id conn_id, ext_data ext) to every target and
 * collects the replies into zone. Returns the number of targets that
 * answered; fills the info gw_last_query() returns. */
int query_run(struct query *q, struct query_target *t, size_t n, uint8_t cmd, uint32_t conn_id, const void *ext,
              size_t ext_len, msgpack_zone *zone);

/* Appends the GATEWAY_CLIENT_CONNECT frame {"secret_key":KEY} (§3.4) to out
 * when secret_key is non-empty, nothing otherwise. Exposed because the C
 * GatewayClient (business/gwclient/) prefixes its pushes with the same frame.
 * 0, -ENOMEM. */
struct buf;
int query_auth_frame(struct buf *out, const char *secret_key);

/* The outcome of the last query_run. */
const struct gw_query_info *query_last(const struct query *q);

/* Closes cached connections idle for too long. */
void query_tick(struct query *q, int64_t now_ms);

#endif
