/* metrics: one gateway process's numbers as Prometheus text (GET /metrics,
 * exposition format 0.0.4). Pure: the caller gathers the numbers. */
#ifndef GW_GATEWAY_METRICS_H
#define GW_GATEWAY_METRICS_H

#include <stdint.h>

#include "buf.h"

struct metrics_gateway {
    int process;
    uint64_t connections;
    uint64_t messages_in, messages_out, bytes_in, bytes_out;
    uint64_t in_per_second, out_per_second;
    uint64_t workers, links, held_events, dropped_events;
    uint64_t slow_closes, heartbeat_closes, waiting_to_write;
    uint64_t direct_partial_writes, uring_sends, tls_accept_pauses;
};

/* Appends every metric, each with its HELP and TYPE lines and the label
 * process="N" (with count > 1 a scrape reaches one process: the label says
 * which). 0, or -1 out of memory. */
int metrics_format(const struct metrics_gateway *m, struct buf *out);

#endif
