/* api_worker: the API's transport inside a business worker process — the
 * persistent gateway links of links.c and the current event of events.c —
 * and api_bind(), which binds it. Not part of libgwclient.a (the C
 * GatewayClient binds its own transport, gwclient.c). */
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <time.h>

#include "api.h"
#include "buf.h"
#include "events.h"
#include "links.h"
#include "loop.h"

/* Before a query: the pushes this process queued on its gateway links must
 * reach the gateways BEFORE the query does, or a query right after a push
 * (bind then uid lookup, SET_SESSION then GET_SESSION for the stale-session
 * guard) can see the state before it. Writing them first is not enough: the
 * query travels on another TCP connection, and the kernel may hand the
 * gateway the query's bytes first. The gateway serves connections that are
 * readable together in accept order (the worker link first), so wait until
 * the links' bytes are acknowledged by the peer (SIOCOUTQ 0: in the gateway's
 * receive queue), at most SETTLE_MS; on loopback this takes microseconds. */
#define SETTLE_MS 200
static void settle_links(struct links *ls)
{
    links_flush(ls);
    int64_t until = loop_now_ms() + SETTLE_MS;
    for (;;) {
        int busy = 0;
        for (size_t i = 0; i < links_count(ls) && !busy; i++) {
            struct link *l = links_at(ls, i);
            int q = 0;
            if (!l || l->fd < 0 || l->state != LINK_UP)
                continue;
            busy = buf_avail(&l->out) > 0 || (ioctl(l->fd, SIOCOUTQ, &q) == 0 && q > 0);
        }
        if (!busy || loop_now_ms() >= until)
            return;
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
        links_flush(ls);
    }
}


static const struct api_transport worker_transport = {
    .find = links_find,
    .count = links_count,
    .at = links_at,
    .usable = link_usable,
    .send = link_send,
    .settle = settle_links,
    .session_load = events_session_load,
};

void api_bind(struct bw *bw) { api_start(bw, bw ? &worker_transport : NULL); }
