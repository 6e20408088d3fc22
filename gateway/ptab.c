#include "ptab.h"

#include <errno.h>
#include <stdlib.h>

#include "hash.h"

#define PTAB_MIN 16u

static int ptab_resize(struct ptab *t, size_t cap)
{
    void **ns = calloc(cap, sizeof *ns);
    if (!ns)
        return -ENOMEM;
    size_t m = cap - 1;
    if (t->slot) {
        for (size_t i = 0; i <= t->mask; i++) {
            void *p = t->slot[i];
            if (!p)
                continue;
            size_t j = t->hash(p) & m;
            while (ns[j])
                j = (j + 1) & m;
            ns[j] = p;
        }
    }
    free(t->slot);
    t->slot = ns;
    t->mask = m;
    return 0;
}

int ptab_add(struct ptab *t, void *item)
{
    if (!t->slot || t->n + 1 > (t->mask + 1) / 2) {
        if (ptab_resize(t, t->slot ? (t->mask + 1) * 2 : PTAB_MIN) < 0)
            return -ENOMEM;
    }
    size_t i = t->hash(item) & t->mask;
    while (t->slot[i])
        i = (i + 1) & t->mask;
    t->slot[i] = item;
    t->n++;
    return 0;
}

void ptab_del(struct ptab *t, const void *item)
{
    if (!t->n)
        return;
    size_t m = t->mask;
    size_t i = t->hash(item) & m;
    while (t->slot[i] != item) {
        if (!t->slot[i])
            return;
        i = (i + 1) & m;
    }
    /* Shift later entries of the probe run back so no tombstones are needed. */
    for (size_t j = i;;) {
        j = (j + 1) & m;
        void *p = t->slot[j];
        if (!p)
            break;
        size_t k = t->hash(p) & m;
        /* p may fill the hole at i unless its home k lies cyclically in (i, j]. */
        if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
            t->slot[i] = p;
            i = j;
        }
    }
    t->slot[i] = NULL;
    t->n--;
    if (t->n == 0) {
        free(t->slot);
        t->slot = NULL;
        t->mask = 0;
    } else if (t->mask + 1 > PTAB_MIN && t->n < (t->mask + 1) / 8) {
        (void)ptab_resize(t, (t->mask + 1) / 2); /* a failed shrink only wastes memory */
    }
}

void ptab_free(struct ptab *t)
{
    free(t->slot);
    t->slot = NULL;
    t->mask = t->n = 0;
}

uint64_t ptab_hash_id(const void *item) { return hash_mix64((uint64_t)(uintptr_t)item); }

static int eq_ptr(const void *item, const void *key) { return item == key; }

int ptab_id_has(const struct ptab *t, uint32_t id)
{
    void *k = (void *)(uintptr_t)id;
    return ptab_find(t, ptab_hash_id(k), eq_ptr, k) != NULL;
}

int ptab_id_add(struct ptab *t, uint32_t id)
{
    if (ptab_id_has(t, id))
        return 0;
    return ptab_add(t, (void *)(uintptr_t)id);
}
