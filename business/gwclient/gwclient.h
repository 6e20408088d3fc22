/* gwclient: GatewayWorker's GatewayClient in C — the gw_* API of
 * business/gw_api.h for programs that are NOT business workers (a cron job,
 * an admin tool, another service) and want to push to clients or query the
 * gateways.
 *
 * Use:
 *
 *     #include "gwclient.h"          // also gives every gw_* of gw_api.h
 *
 *     char err[512];
 *     if (gwc_init("10.0.0.1:1236,10.0.0.2:1236", "s3cr3t", err, sizeof err) < 0)
 *         die(err);
 *     gw_send_to_group((const char *[]){"table-12"}, 1, "draw!", 5, NULL, 0, 0);
 *     int64_t n = gw_get_all_client_count();
 *     if (gw_last_query()->n_missing) ...       // some gateway did not answer
 *     gwc_free();
 *
 * Link with build/libgwclient.a and build/libgwshared.a (plus msgpack-c,
 * jansson, -lm). The library holds the very code of the business worker's
 * API (business/api.c, api_*.c, query.c); only the transport differs:
 *
 * - The gateway list comes from the registers, as PHP's GatewayClient gets
 *   it (spec §2.4): the register addresses are tried in order (3 s connect
 *   timeout), `worker_connect` is sent, one `broadcast_addresses` line is
 *   read (5 s), and the connection is closed. The list is cached for 1 s;
 *   a failed fetch is cached as well (the calls in that second reach no
 *   gateway) so a dead register costs one timeout per second, not one per
 *   gateway. gwc_refresh() fetches at once and says why it failed.
 * - Calls about one client go straight to the gateway encoded in its
 *   client_id (the register is not consulted, as in PHP). Calls about
 *   everyone go to every gateway the register lists.
 * - Pushes open one TCP connection per gateway and call, write
 *   GATEWAY_CLIENT_CONNECT (when a key is set) and the command in one write,
 *   and close (PHP's GatewayClient default, $persistentConnection = false):
 *   no state survives between calls, nothing can go stale.
 * - Queries use the business worker's request connections (query.c):
 *   3 s to connect, 5 s for every reply; a gateway that does not answer is
 *   left out and named by gw_last_query(). Their connections are kept for
 *   reuse (50 s idle at most) until gwc_free().
 *
 * Differences from inside a worker: there is no current client, so the
 * *_current_client functions return -EPERM and gw_session*() getters NULL /
 * -EPERM (use gw_get_session / gw_set_session / gw_update_session with a
 * client_id). A push returns 0 when at least one gateway took the command;
 * -ENOTCONN when none did (register unreachable, no gateway listed, or the
 * gateway refused the connection); gwc_last_pushes() tells which failed.
 *
 * Not thread-safe: like gw_api.h, the API keeps process-wide state; call
 * it from one thread. Every call blocks (up to 3 s connect + 5 s I/O). */
#ifndef GW_GWCLIENT_H
#define GW_GWCLIENT_H

#include <stddef.h>

#include "gw_api.h"

/* Configures the client: register_address is "ip:port" or a comma-separated
 * list (at most 16), secret_key the registers' and gateways' secretKey
 * ("" or NULL: none). Contacts nobody yet. Calling it again reconfigures.
 * 0, or -EINVAL / -ENOMEM with the reason in err. */
int gwc_init(const char *register_address, const char *secret_key, char *err, size_t errlen);

/* Closes every cached connection and forgets the configuration. */
void gwc_free(void);

/* Fetches the gateway list now (ignoring the 1 s cache). Returns the number
 * of gateways listed (0 is a valid answer: none registered), or a negative
 * errno with every register's failure in gwc_error(): -ECONNREFUSED when no
 * register could be reached, -EACCES when a register accepted the
 * connection but closed it without a list (PHP registers do that on a
 * wrong secretKey), -ETIMEDOUT, -EPROTO. */
int gwc_refresh(void);

/* Why the last register fetch failed ("" after a success). */
const char *gwc_error(void);

/* The gateways of the latest list (valid until the next fetch), "ip:port". */
size_t gwc_gateway_count(void);
const char *gwc_gateway_at(size_t i);

/* Pushes since the last gwc_reset_pushes(): asked = commands written or
 * attempted, answered = those a gateway accepted, missing = the addresses
 * that refused or timed out (first 16). Pushes carry no reply, so accepted
 * means "written to the gateway's socket", as in PHP. */
const struct gw_query_info *gwc_last_pushes(void);
void gwc_reset_pushes(void);

#endif
