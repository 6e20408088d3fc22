/* hsgate: how many wss handshakes libwebsockets works on at once.
 *
 * lws 4.1 keeps every pending timeout of a connection in one sorted list it
 * walks from the head on each insert, and a new deadline is always the
 * latest; a wss connection also waits in a linearly walked list for one of
 * lws's 4 header tables while its TLS handshake runs. So each handshake
 * costs time in proportion to the handshakes in flight: in a storm of 5,000
 * reconnecting phones ~30 % of the gateway's CPU went to those walks
 * (docs/benchmarks.md). The gate counts the handshakes handed to lws and
 * says when to stop accepting: the rest wait in the kernel's accept queue,
 * in arrival order, at no cost to us.
 *
 * A handshake counts from begin until end (upgraded, answered, closed) or
 * for hold_ms at most, so clients that stall mid-handshake cannot hold the
 * gate shut (lws's own timeouts close them later). Pure bookkeeping over fd
 * numbers and a clock the caller passes in: no sockets, no loop. */
#ifndef GW_GATEWAY_HSGATE_H
#define GW_GATEWAY_HSGATE_H

#include <stdint.h>

struct hsgate;

/* max handshakes at once (> 0), each counted for hold_ms at most; NULL when
 * out of memory. */
struct hsgate *hsgate_new(unsigned max, unsigned hold_ms);
void hsgate_free(struct hsgate *g);
/* fd was handed to lws at now_ms. A previous connection on the same fd
 * number is over by definition. -1 when out of memory (not counted). */
int hsgate_begin(struct hsgate *g, int fd, uint64_t now_ms);
/* fd's handshake is over (no-op when it no longer counts). */
void hsgate_end(struct hsgate *g, int fd);
/* Handshakes that count at now_ms (those older than hold_ms stop counting). */
unsigned hsgate_active(struct hsgate *g, uint64_t now_ms);
/* 1 when no more may begin at now_ms. */
int hsgate_full(struct hsgate *g, uint64_t now_ms);
/* When the oldest counted handshake stops counting (ms), or 0 if none. */
uint64_t hsgate_next_expiry(const struct hsgate *g);

#endif
