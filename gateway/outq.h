/* outq: the output queues and write path of the gateway's clients (see
 * outq.c). Internal to the WebSocket side (clients_int.h). */
#ifndef GW_GATEWAY_OUTQ_H
#define GW_GATEWAY_OUTQ_H

#include "clients_int.h"

struct gws_client;
struct gws_ops;

/* What the state engine delivers through (clients_gws_ops): send queues a
 * reference to the message and marks the client for the flush pass; close
 * kills at once or after the queue drained (KICK). */
extern const struct gws_ops outq_gws_ops;

/* Queues m for gc (a reference is taken), or closes the client when its
 * queue would pass sendToClientBufferSize. ctx is unused. */
void outq_send(void *ctx, struct gws_client *gc, struct gwmsg *m);
/* One write of the head of c's queue, batching what follows when it fits:
 * 0, or -1 when the connection failed. */
int outq_write(struct clients *cs, struct lws *wsi, struct client *c);
/* Drops everything queued for c. */
void outq_clear(struct clients *cs, struct client *c);
/* Closes a client at once (from outside its own lws callbacks). */
void outq_kill_now(struct lws *wsi);

/* The flush pass's watchers and the batch buffer; outq_stop frees the pools. */
void outq_start(struct clients *cs);
void outq_stop(struct clients *cs);

#endif
