/* outq_int: outq.c's queue and batch builder, exposed for its unit test
 * (tests/unit/test_gw_outq.c) only; the rest of the gateway uses outq.h. */
#ifndef GW_GATEWAY_OUTQ_INT_H
#define GW_GATEWAY_OUTQ_INT_H

#include <stddef.h>
#include <stdint.h>

#include "clients_int.h"

/* At most this many bytes per write: the protocol's tx_packet_size, which is
 * what lws sends in one go (more would be split and copied by lws). */
#define BATCH_MAX 4096

/* Appends m to c's queue (takes a reference). 0, or -1 when the queue cannot
 * grow (no size limit here: outq_send checks sendToClientBufferSize). */
int outq_queue_push(struct clients *cs, struct client *c, struct gwmsg *m);
/* Builds the frames of c's queue from its head into out (BATCH_MAX bytes),
 * as many as fit whole, popping and counting (msgs_out, bytes_out) what it
 * took. Returns the bytes written: 0 when the head alone does not fit. */
size_t outq_batch_fill(struct clients *cs, struct client *c, uint8_t *out);
/* The bytes of c's next write (a batch in cs->batch, or one message's shared
 * frame, whose reference *hold the caller drops once written), popping and
 * counting what it took; NULL when the queue is empty. */
const uint8_t *outq_next_write(struct clients *cs, struct client *c, size_t *len, struct gwmsg **hold);

#endif
