/* gws: the gateway's client table and command engine (spec §3.5, §3.6,
 * §3.8, §4.1, §5.3, §10.4) — connections, sessions, uid and group indexes,
 * and the execution of every command a business worker or GatewayClient
 * sends on an authorised internal link.
 *
 * Pure logic: no sockets, no event loop. Messages leave through the
 * transport table given to gws_new (STYLE §4), and replies are appended to a
 * caller buffer. Everything is single-threaded.
 *
 * Ordering follows PHP's arrays exactly, because replies are compared byte
 * for byte by PHP peers: clients in accept order, group/uid members in join/
 * bind order (a re-bind moves the client to the end of its uid), groups in
 * creation order (a group deleted when empty and joined again goes last).
 * uids and group names are kept as the byte strings of ext_data; replies that
 * list them as PHP array keys write canonical integers as i: (§10.4).
 *
 * Lookups (connection id, uid, group, membership) are O(1) hash lookups. An
 * idle client costs a 56-byte struct plus its id-table slot (8 bytes at a
 * load between 1/8 and 1/2); a uid binding adds 32 bytes, each group
 * membership 48 plus a slot. Sessions are allocated only when non-empty.
 *
 * The module (prefix gws_, "gateway state") is two files: state.c, the table,
 * and commands.c, the command engine (gws_exec); state_int.h holds the types
 * they share. ext_data is read through extdata.h, replies are written with
 * phpser.h's writer, sessions merged with phpval.h. */
#ifndef GW_GATEWAY_STATE_H
#define GW_GATEWAY_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "gwp.h"
#include "gwmsg.h"

struct gws;
struct gws_client;

/* The transport. Both callbacks are called only from inside gws_exec.
 *
 * send: deliver m to c. m is BORROWED: the engine drops its own reference
 *   after the command, so a transport that queues m takes gwmsg_ref(m).
 *   A single fan-out command passes the SAME m to every recipient.
 *   m->flags tell how to frame it (GWMSG_RAW, GWMSG_ARRAY).
 * close: KICK (flush = 1): send goodbye if not NULL (never raw; an empty
 *   message is still a message), then close once queued data is out.
 *   DESTROY (flush = 0, goodbye NULL): drop the connection now, discarding
 *   queued data. goodbye is borrowed like m.
 *
 * After close, the client stays in every table — online, counted, in its
 * groups — until the transport calls gws_client_remove when the connection
 * is really gone, exactly as PHP keeps a closing connection until onClose.
 * The engine itself sends nothing more to it and ignores a second close.
 *
 * A callback may call gws_client_remove (for c or any other client): the
 * engine then defers freeing until the command is finished. It must not call
 * gws_exec or gws_free. */
struct gws_ops {
    void (*send)(void *ctx, struct gws_client *c, struct gwmsg *m);
    void (*close)(void *ctx, struct gws_client *c, struct gwmsg *goodbye, int flush);
};

/* ops is borrowed and must outlive the state; ctx is passed back as is.
 * NULL on ENOMEM. */
struct gws *gws_new(const struct gws_ops *ops, void *ctx);
/* Frees every client and index; no callback is called. NULL is ignored. */
void gws_free(struct gws *s);

/* A new connection: assigns the next connection id (u32 counter starting at
 * 1, pre-incremented, skipping ids in use, 2^32-1 is followed by 1, §4.1).
 * handle is the transport's, returned by gws_client_handle. NULL on ENOMEM
 * or when all 2^32-1 ids are in use. */
struct gws_client *gws_client_add(struct gws *s, void *handle);
/* The connection is gone: drops its uid binding and group memberships
 * (deleting uids and groups left empty) and its session, and frees c — at
 * once, or when the running gws_exec returns if called from a callback.
 * Either way c leaves every lookup and count immediately. Read the session
 * for ON_CLOSE first. NULL and a second call are ignored. */
void gws_client_remove(struct gws *s, struct gws_client *c);

uint32_t gws_client_conn_id(const struct gws_client *c);
void *gws_client_handle(const struct gws_client *c);
void gws_client_set_handle(struct gws_client *c, void *handle);
/* 1 once a KICK or DESTROY closed the client (it is still online). */
int gws_client_closing(const struct gws_client *c);
/* The client with this id, or NULL. */
struct gws_client *gws_client_find(struct gws *s, uint32_t conn_id);
/* The stored session bytes, verbatim, for the ext_data of ON_* events.
 * BORROWED until the next gws_exec or gws_client_remove. NULL with *len = 0
 * when there is none. */
const uint8_t *gws_client_session(const struct gws_client *c, size_t *len);
/* Every connected client, in accept order: c = NULL gives the first.
 * Do not remove clients other than the current one while iterating. */
struct gws_client *gws_client_next(struct gws *s, struct gws_client *c);

size_t gws_client_count(const struct gws *s);
size_t gws_group_count(const struct gws *s);
size_t gws_uid_count(const struct gws *s);

/* gws_exec returns this for a command it does not execute. */
#define GWS_EUNKNOWN (-1)

/* Executes one command frame received on an authorised internal link: every
 * W→G command of §3.5 except WORKER_CONNECT and GATEWAY_CLIENT_CONNECT,
 * which belong to the link layer. f and its ext/body are only read.
 *
 * If the command has a reply (§3.8), exactly the reply bytes (u32 length +
 * PHP serialize) are appended to `reply`; other commands append nothing.
 * reply may be NULL to discard the answer.
 *
 * Returns 0; GWS_EUNKNOWN for an unused number, an event number (1, 3, 4,
 * 205, 201) or 200/202 — PHP logs "gateway inner pack err cmd=N" and ignores
 * the frame; -ENOMEM when memory ran out (the command may be half done and
 * its reply is missing: close the link, its reply stream is out of step).
 *
 * Malformed ext_data never crashes: a command without reply is logged once
 * and ignored; a query gets the empty result PHP gives (e.g. a:0:{}). */
int gws_exec(struct gws *s, const struct gwp_frame *f, struct buf *reply);

#endif
