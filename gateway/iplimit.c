#include "iplimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>

#include "fdtab.h"
#include "log.h"

struct ipent {
    char ip[48];
    size_t n;
    UT_hash_handle hh;
};

struct wsient {
    struct lws *wsi;
    struct ipent *ip;
    UT_hash_handle hh;
};

struct iplimit {
    size_t max;
    struct ipent *ips;        /* by address */
    struct wsient *wsis;      /* adopted connections */
    struct ipent **byfd;      /* connections lws does not have yet */
    size_t nfd;
    unsigned long long refused, refused_logged;
    time_t last_log;
};

struct iplimit *iplimit_new(size_t max)
{
    struct iplimit *il = calloc(1, sizeof *il);
    if (il)
        il->max = max;
    return il;
}

static void unref(struct iplimit *il, struct ipent *e)
{
    if (e && --e->n == 0) {
        HASH_DEL(il->ips, e);
        free(e);
    }
}

void iplimit_free(struct iplimit *il)
{
    if (!il)
        return;
    struct ipent *e, *et;
    struct wsient *w, *wt;
    HASH_ITER(hh, il->wsis, w, wt) {
        HASH_DEL(il->wsis, w);
        free(w);
    }
    HASH_ITER(hh, il->ips, e, et) {
        HASH_DEL(il->ips, e);
        free(e);
    }
    free(il->byfd);
    free(il);
}

int iplimit_admit(struct iplimit *il, int fd, const char *ip)
{
    if (!il || fd < 0)
        return 1;
    struct ipent *e;
    HASH_FIND_STR(il->ips, ip, e);
    if (e && e->n >= il->max) {
        il->refused++;
        time_t now = time(NULL);
        if (now != il->last_log) { /* a flood must not flood the log too */
            log_warn("client %s refused: %zu connections from this address (maxConnectionsPerIp); %llu refused in all",
                     ip, e->n, il->refused);
            il->last_log = now;
        }
        return 0;
    }
    struct ipent **b = fdtab_fit(il->byfd, &il->nfd, sizeof *b, fd);
    if (!b)
        return 1; /* out of memory: admit uncounted rather than refuse everyone */
    il->byfd = b;
    if (!e) {
        if (!(e = calloc(1, sizeof *e)))
            return 1;
        snprintf(e->ip, sizeof e->ip, "%s", ip);
        HASH_ADD_STR(il->ips, ip, e);
    }
    e->n++;
    unref(il, il->byfd[fd]); /* never left behind, but a stale entry must not leak */
    il->byfd[fd] = e;
    return 1;
}

void iplimit_release_fd(struct iplimit *il, int fd)
{
    if (!il || fd < 0 || (size_t)fd >= il->nfd)
        return;
    unref(il, il->byfd[fd]);
    il->byfd[fd] = NULL;
}

void iplimit_adopted(struct iplimit *il, int fd, struct lws *wsi)
{
    if (!il || fd < 0 || (size_t)fd >= il->nfd || !il->byfd[fd])
        return;
    struct wsient *w = calloc(1, sizeof *w);
    if (!w) {
        iplimit_release_fd(il, fd);
        return;
    }
    w->wsi = wsi;
    w->ip = il->byfd[fd];
    il->byfd[fd] = NULL;
    HASH_ADD_PTR(il->wsis, wsi, w);
}

void iplimit_release_wsi(struct iplimit *il, struct lws *wsi)
{
    if (!il)
        return;
    struct wsient *w;
    HASH_FIND_PTR(il->wsis, &wsi, w);
    if (!w)
        return;
    HASH_DEL(il->wsis, w);
    unref(il, w->ip);
    free(w);
}

unsigned long long iplimit_refused(const struct iplimit *il) { return il ? il->refused : 0; }
