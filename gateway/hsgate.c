/* hsgate: the count of wss handshakes inside libwebsockets (hsgate.h).
 *
 * began[fd] is when fd's handshake began (0: fd does not count). The ring
 * keeps (fd, began) in begin order, so ageing is a pop from its front; an
 * entry whose fd ended, or was reused since, no longer matches began[fd]
 * and is dropped without touching the count. */
#include "hsgate.h"

#include "fdtab.h"

#include <stdlib.h>

struct hsgate_ent {
    int fd;
    uint64_t began;
};

struct hsgate {
    unsigned max, hold_ms, active;
    uint64_t *began;            /* by fd number */
    size_t nbegan;
    struct hsgate_ent *ring;    /* begin order; head .. head+len (mod cap) */
    size_t cap, head, len;
};

struct hsgate *hsgate_new(unsigned max, unsigned hold_ms)
{
    struct hsgate *g = calloc(1, sizeof *g);
    if (g) {
        g->max = max ? max : 1;
        g->hold_ms = hold_ms;
    }
    return g;
}

void hsgate_free(struct hsgate *g)
{
    if (g) {
        free(g->began);
        free(g->ring);
        free(g);
    }
}

static int counts(const struct hsgate *g, int fd, uint64_t began)
{
    return fd >= 0 && (size_t)fd < g->nbegan && g->began[fd] == began && began != 0;
}

static void uncount(struct hsgate *g, int fd)
{
    g->began[fd] = 0;
    g->active--;
}

/* Drops ended or reused entries from the front, and uncounts those older
 * than hold_ms at now_ms. */
static void age(struct hsgate *g, uint64_t now_ms)
{
    while (g->len) {
        struct hsgate_ent *e = &g->ring[g->head];
        if (counts(g, e->fd, e->began)) {
            if (e->began + g->hold_ms > now_ms)
                return;
            uncount(g, e->fd);
        }
        g->head = (g->head + 1) % g->cap;
        g->len--;
    }
}

static int grow_ring(struct hsgate *g)
{
    size_t n = g->cap ? g->cap * 2 : 256;
    struct hsgate_ent *r = malloc(n * sizeof *r);
    if (!r)
        return -1;
    for (size_t i = 0; i < g->len; i++)
        r[i] = g->ring[(g->head + i) % g->cap];
    free(g->ring);
    g->ring = r;
    g->cap = n;
    g->head = 0;
    return 0;
}

int hsgate_begin(struct hsgate *g, int fd, uint64_t now_ms)
{
    uint64_t *b = fdtab_fit(g->began, &g->nbegan, sizeof *b, fd);
    if (!b)
        return -1;
    g->began = b;
    if (g->began[fd])
        uncount(g, fd); /* the fd number was reused: that connection is gone */
    age(g, now_ms);
    if (g->len == g->cap && grow_ring(g) < 0)
        return -1;
    if (now_ms == 0)
        now_ms = 1; /* 0 means "does not count" */
    g->ring[(g->head + g->len++) % g->cap] = (struct hsgate_ent){fd, now_ms};
    g->began[fd] = now_ms;
    g->active++;
    return 0;
}

void hsgate_end(struct hsgate *g, int fd)
{
    if (fd >= 0 && (size_t)fd < g->nbegan && g->began[fd])
        uncount(g, fd);
}

unsigned hsgate_active(struct hsgate *g, uint64_t now_ms)
{
    age(g, now_ms);
    return g->active;
}

int hsgate_full(struct hsgate *g, uint64_t now_ms) { return hsgate_active(g, now_ms) >= g->max; }

uint64_t hsgate_next_expiry(const struct hsgate *g)
{
    for (size_t i = 0; i < g->len; i++) {
        const struct hsgate_ent *e = &g->ring[(g->head + i) % g->cap];
        if (counts(g, e->fd, e->began))
            return e->began + g->hold_ms;
    }
    return 0;
}
