#include "authguard.h"

#include <stdio.h>
#include <string.h>

static struct authguard_slot *find(struct authguard *g, const char *ip, int64_t now_ms)
{
    for (int i = 0; i < AUTHGUARD_SLOTS; i++) {
        struct authguard_slot *s = &g->slot[i];
        if (s->failures && strcmp(s->ip, ip) == 0) {
            if (now_ms - s->last_fail_ms >= AUTHGUARD_FORGET_MS) {
                memset(s, 0, sizeof *s);
                return NULL;
            }
            return s;
        }
    }
    return NULL;
}

int64_t authguard_check(struct authguard *g, const char *ip, int64_t now_ms, int *first_refusal)
{
    struct authguard_slot *s = find(g, ip, now_ms);
    if (first_refusal)
        *first_refusal = 0;
    if (!s || s->blocked_until_ms <= now_ms)
        return 0;
    if (first_refusal)
        *first_refusal = s->refused == 0;
    s->refused++;
    return s->blocked_until_ms - now_ms;
}

uint32_t authguard_fail(struct authguard *g, const char *ip, int64_t now_ms, int64_t *block_ms)
{
    struct authguard_slot *s = find(g, ip, now_ms);
    if (!s) {
        /* A free slot, or else the one whose last failure is oldest. */
        s = &g->slot[0];
        for (int i = 0; i < AUTHGUARD_SLOTS; i++) {
            struct authguard_slot *c = &g->slot[i];
            if (!c->failures) {
                s = c;
                break;
            }
            if (c->last_fail_ms < s->last_fail_ms)
                s = c;
        }
        memset(s, 0, sizeof *s);
        snprintf(s->ip, sizeof s->ip, "%s", ip);
    }
    if (s->failures < UINT32_MAX)
        s->failures++;
    s->refused = 0;
    s->last_fail_ms = now_ms;
    int64_t block = 0;
    if (s->failures > AUTHGUARD_FREE) {
        uint32_t doublings = s->failures - AUTHGUARD_FREE - 1;
        block = doublings >= 16 ? AUTHGUARD_MAX_BLOCK_MS : (int64_t)1000 << doublings;
        if (block > AUTHGUARD_MAX_BLOCK_MS)
            block = AUTHGUARD_MAX_BLOCK_MS;
    }
    s->blocked_until_ms = now_ms + block;
    if (block_ms)
        *block_ms = block;
    return s->failures;
}

void authguard_ok(struct authguard *g, const char *ip)
{
    for (int i = 0; i < AUTHGUARD_SLOTS; i++)
        if (g->slot[i].failures && strcmp(g->slot[i].ip, ip) == 0)
            memset(&g->slot[i], 0, sizeof g->slot[i]);
}
