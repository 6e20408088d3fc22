/* regmsg: the register protocol's JSON lines (§2), framing and content.
 *
 * Pure functions over buffers. Parsing accepts any valid JSON (PHP's
 * concatenated lines included); building always goes through jansson, so keys
 * and addresses are escaped and `addresses` is always a list. */
#ifndef GW_REGMSG_H
#define GW_REGMSG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define REGMSG_DEFAULT_MAX_LINE 65536

enum { REGMSG_OK = 0, REGMSG_NEED_MORE = 1, REGMSG_ERROR = -1 };

/* Finds the first line in buf[0..len). On REGMSG_OK, the line is
 * buf[0..*line_len) with every trailing CR and LF stripped, and *used bytes
 * (through the LF) are to be consumed. REGMSG_ERROR when no LF appears within
 * max_line bytes. */
int regmsg_next_line(const uint8_t *buf, size_t len, size_t max_line, size_t *line_len, size_t *used);

enum regmsg_event {
    REGMSG_BAD,        /* not a JSON object with a non-empty "event" (PHP empty()) */
    REGMSG_UNKNOWN,    /* an event we do not know */
    REGMSG_GATEWAY_CONNECT,
    REGMSG_WORKER_CONNECT,
    REGMSG_PING,
    REGMSG_BROADCAST_ADDRESSES,
};

/* A parsed line. Strings are owned by the struct; free with regmsg_free. */
struct regmsg {
    enum regmsg_event event;
    char *address;         /* gateway_connect: "" when missing or not a string */
    char *secret_key;      /* connect events: "" when missing (PHP treats absent as "") */
    size_t secret_len;     /* keys may hold NUL after JSON unescaping */
    char **addresses;      /* broadcast_addresses: values of the list or object */
    size_t n_addresses;
    int addresses_ok;      /* broadcast: 1 if "addresses" was a list or an object of strings */
};

/* Parses one line (without its LF). Never fails: a line that is not an
 * event object yields REGMSG_BAD. Returns -1 only when out of memory. */
int regmsg_parse(const char *line, size_t len, struct regmsg *out);
void regmsg_free(struct regmsg *m);

/* Builders append one complete line (JSON + LF) to out; 0 or -1. */
int regmsg_build_gateway_connect(struct buf *out, const char *address, const char *secret_key);
int regmsg_build_worker_connect(struct buf *out, const char *secret_key);
int regmsg_build_ping(struct buf *out);
int regmsg_build_broadcast(struct buf *out, const char *const *addresses, size_t n);
/* The register's answer to a line that is not an event object (§2.3),
 * byte-identical to PHP's: the offending line is echoed verbatim. */
int regmsg_build_bad_request(struct buf *out, const char *peer_ip, const char *line, size_t len);

#endif
