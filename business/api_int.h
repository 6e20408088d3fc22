/* api_int: what the files of the API implementation share (api.c: binding,
 * current event, routing; api_push.c, api_session.c, api_query.c). Nothing
 * else includes it. api__ is internal. */
#ifndef GW_BUSINESS_API_INT_H
#define GW_BUSINESS_API_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api.h"
#include "bw.h"
#include "gw_api.h"
#include "gwp.h"
#include "links.h"

/* The current event's context, or NULL outside a client callback. */
struct bw_ctx *api__cur(void);
/* The bound transport, on the bound process's links (api__count is 0
 * when unbound; the others need a binding). */
size_t api__count(void);
struct link *api__at(size_t i);
struct link *api__find(uint32_t ip, uint16_t port);
int api__usable(const struct link *l);
void api__settle(void);
/* The current session decoded (transport's session_load); -1 without one. */
int api__session_load(void);

/* The link of client_id's gateway and its connection id.
 * 0, -EINVAL (malformed), -ENOTCONN (no usable link). */
int api__resolve(const char *client_id, struct link **l, uint32_t *conn_id);
/* 1 if client_id is the current event's client. */
int api__is_current(const char *client_id);
int api__send_one(struct link *l, uint8_t cmd, uint32_t conn_id, uint8_t flag, const void *ext, size_t ext_len,
                  const void *body, size_t body_len);
/* One command about client_id, to its gateway. */
int api__to_client(const char *client_id, uint8_t cmd, uint8_t flag, const void *ext, size_t ext_len,
                   const void *body, size_t body_len);
/* One command about the current client; -EPERM outside a callback. */
int api__to_current(uint8_t cmd, uint8_t flag, const void *body, size_t body_len);
/* The same frame to every usable gateway (§4.4). 0 when at least one took it. */
int api__broadcast(uint8_t cmd, uint8_t flag, const void *ext, size_t ext_len, const void *body, size_t body_len);
/* The frame flag of a push with GW_* flags. */
uint8_t api__push_flag(unsigned flags);
/* PHP leaves out ext_data that is PHP-empty ("" or "0", §9.1): its length, 0 then. */
size_t api__php_ext_len(const char *s);
/* *out = json_encode(o) as PHP writes it (compact, "\/"), malloc'd; takes
 * o (NULL: -EINVAL). 0, -EINVAL, -ENOMEM. */
int api__json_emit(json_t *o, char **out);

#endif
