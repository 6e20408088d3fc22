/* ptab: an open-addressing set of pointers (linear probing, backward-shift
 * delete), 8 bytes a slot at most half full: what the gateway's tables use
 * instead of a 56-byte UT_hash_handle in every client and membership.
 *
 * The set stores items, not copies; an item's hash comes from the table's
 * hash function (it must not change while the item is in the table), and a
 * lookup compares candidates with the caller's eq against a key of the
 * caller's choosing. An empty table holds no allocation. */
#ifndef GW_GATEWAY_PTAB_H
#define GW_GATEWAY_PTAB_H

#include <stddef.h>
#include <stdint.h>

struct ptab {
    void **slot;
    size_t mask; /* capacity - 1 */
    size_t n;
    uint64_t (*hash)(const void *item);
};

/* The item whose hash is h and for which eq(item, key) holds, or NULL.
 * Inline: it sits on every lookup of a connection id. */
static inline void *ptab_find(const struct ptab *t, uint64_t h, int (*eq)(const void *item, const void *key),
                              const void *key)
{
    if (!t->n)
        return NULL;
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        void *p = t->slot[i];
        if (!p)
            return NULL;
        if (eq(p, key))
            return p;
    }
}

/* Adds item, which must not be in the table yet. 0 or -ENOMEM. */
int ptab_add(struct ptab *t, void *item);
/* Removes item (compared by address); absent items are ignored. */
void ptab_del(struct ptab *t, const void *item);
void ptab_free(struct ptab *t);

/* Sets of connection ids (never 0), stored as the pointer value: a ptab
 * initialised with PTAB_IDSET_INIT. */
uint64_t ptab_hash_id(const void *item);
#define PTAB_IDSET_INIT {.hash = ptab_hash_id}
int ptab_id_has(const struct ptab *t, uint32_t id);
/* Adds id unless present. 0 or -ENOMEM. */
int ptab_id_add(struct ptab *t, uint32_t id);

#endif
