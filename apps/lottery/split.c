#include "split.h"

#include <stdio.h>
#include <string.h>

#include "gw_api.h"

static const msgpack_object *map_get(const msgpack_object *map, const char *key)
{
    size_t klen = strlen(key);
    if (map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen && memcmp(k->via.str.ptr, key, klen) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

int split_count(const char *our_id, const char *const *groups, size_t n, char *other, size_t cap)
{
    int found = 0, asked = 0;
    size_t idlen = strlen(our_id);
    if (cap)
        other[0] = 0;
    for (size_t g = 0; g < n; g++) {
        struct gw_result res = {0};
        if (gw_get_client_sessions_by_group(groups[g], &res) < 0) {
            gw_result_free(&res);
            continue;
        }
        asked++;
        const msgpack_object *all = &res.value;
        for (uint32_t i = 0; all->type == MSGPACK_OBJECT_MAP && i < all->via.map.size; i++) {
            const msgpack_object *v = map_get(&all->via.map.ptr[i].val, SPLIT_SESSION_KEY);
            if (!v || v->type != MSGPACK_OBJECT_STR)
                continue;
            if (v->via.str.size == idlen && memcmp(v->via.str.ptr, our_id, idlen) == 0)
                continue;
            if (found++ == 0 && cap)
                snprintf(other, cap, "%.*s", (int)v->via.str.size, v->via.str.ptr);
        }
        gw_result_free(&res);
    }
    return asked ? found : -1;
}
