#include "metrics.h"

#include <inttypes.h>
#include <stddef.h>

struct metric_def {
    const char *name, *type, *help;
    size_t off;
};

#define M(f) offsetof(struct metrics_gateway, f)
static const struct metric_def defs[] = {
    {"gateway_connections", "gauge", "Client connections open now.", M(connections)},
    {"gateway_messages_in_total", "counter", "Complete messages received from clients.", M(messages_in)},
    {"gateway_messages_out_total", "counter", "Messages written to clients.", M(messages_out)},
    {"gateway_bytes_in_total", "counter", "Payload bytes of the messages received from clients.", M(bytes_in)},
    {"gateway_bytes_out_total", "counter", "Payload bytes of the messages written to clients.", M(bytes_out)},
    {"gateway_messages_in_per_second", "gauge", "Messages received from clients in the last second.",
     M(in_per_second)},
    {"gateway_messages_out_per_second", "gauge", "Messages written to clients in the last second.",
     M(out_per_second)},
    {"gateway_business_workers", "gauge", "Business worker processes linked to this gateway process.", M(workers)},
    {"gateway_internal_links", "gauge", "Open internal links (workers and GatewayClient requests).", M(links)},
    {"gateway_held_events", "gauge", "Client events held while no business worker is linked.", M(held_events)},
    {"gateway_dropped_events_total", "counter", "Client events dropped: no worker in time, or a full worker buffer.",
     M(dropped_events)},
    {"gateway_slow_client_closes_total", "counter", "Clients closed for not reading (sendToClientBufferSize).",
     M(slow_closes)},
    {"gateway_heartbeat_closes_total", "counter", "Clients closed for not answering the heartbeat.",
     M(heartbeat_closes)},
    {"gateway_clients_waiting_to_write", "gauge", "Clients whose queued output waits for the next write pass.",
     M(waiting_to_write)},
    {"gateway_direct_partial_writes_total", "counter",
     "Direct writes (clientWritePath=direct) a client socket took only part of; libwebsockets sent the rest.",
     M(direct_partial_writes)},
    {"gateway_uring_sends_total", "counter", "Client sends submitted through io_uring (clientWritePath=uring).",
     M(uring_sends)},
    {"gateway_tls_accept_pauses_total", "counter",
     "Times accepting paused because maxTlsHandshakes wss handshakes were in progress.", M(tls_accept_pauses)},
};

int metrics_format(const struct metrics_gateway *m, struct buf *out)
{
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        uint64_t v = *(const uint64_t *)((const char *)m + defs[i].off);
        if (buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s{process=\"%d\"} %" PRIu64 "\n", defs[i].name,
                       defs[i].help, defs[i].name, defs[i].type, defs[i].name, m->process, v) < 0)
            return -1;
    }
    return 0;
}
