/* value: the few operations on msgpack_object trees (PHP arrays) that the
 * business API needs: deep copies into a zone, PHP key equality, and PHP's
 * array_replace_recursive. No I/O. */
#ifndef GW_BUSINESS_VALUE_H
#define GW_BUSINESS_VALUE_H

#include <stddef.h>

#include <msgpack.h>

/* Deep copy of *src into *dst, every byte allocated from zone (src may
 * point anywhere, even into dst's old tree). 0 or -ENOMEM. */
int val_copy(msgpack_zone *zone, msgpack_object *dst, const msgpack_object *src);

/* 1 if two array keys are the same PHP key: "5" and 5 are (§10.4). */
int val_key_eq(const msgpack_object *a, const msgpack_object *b);
/* 1 if the key k names the C string key[0..n). */
int val_key_is(const msgpack_object *k, const char *key, size_t n);

/* Index of the LAST entry of map m whose key equals key (PHP: a later
 * duplicate wins), or -1. */
long val_map_find(const msgpack_object *m, const msgpack_object *key);

/* *dst = array_replace_recursive(base, upd) (both MAPs; a non-MAP base is
 * taken as empty), built in zone; base and upd stay untouched. 0 or -ENOMEM. */
int val_merge(msgpack_zone *zone, msgpack_object *dst, const msgpack_object *base, const msgpack_object *upd);

/* A copy of map m with key set to value (replaced in place, or appended),
 * or removed when value is NULL; built in zone. m may be NIL (= empty). */
int val_map_set(msgpack_zone *zone, msgpack_object *dst, const msgpack_object *m, const msgpack_object *key,
                const msgpack_object *value);

#endif
