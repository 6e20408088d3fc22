/* wscheck: the gateway's own connection check page and its answers
 * (/ws-check; see wscheck.c). Pure: no sockets. */
#ifndef GW_GATEWAY_WSCHECK_H
#define GW_GATEWAY_WSCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define WSCHECK_PATH "/ws-check"
/* A check message longer than this is answered without looking inside. */
#define WSCHECK_MAX_MSG 256

/* The page (HTML, UTF-8). */
extern const char wscheck_page[];
size_t wscheck_page_len(void);

/* Where the client address the gateway uses came from. */
enum wscheck_via { WSCHECK_DIRECT = 0, WSCHECK_PROXY = 1, WSCHECK_XFF = 2 };
const char *wscheck_via_name(enum wscheck_via v);

struct wscheck_info {
    const char *lan_ip;
    uint16_t lan_port;   /* this process's internal port */
    int process, pid;
    const char *client_ip; /* after PROXY / X-Forwarded-For */
    uint16_t client_port;  /* 0 when a proxy header did not say */
    enum wscheck_via via;
    const char *peer_ip;   /* the TCP peer (the balancer, when there is one) */
    uint16_t peer_port;
};

/* Appends the JSON answer to one check message to out:
 * {"type":"ws-check","gateway","process","pid","client","via","peer"[,"seq"]}
 * (seq echoed when the message is {"seq":N}). 0, or -1 out of memory. */
int wscheck_answer(const struct wscheck_info *i, const void *msg, size_t len, struct buf *out);

#endif
