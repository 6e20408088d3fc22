/* phpval: PHP array semantics on the msgpack_object trees of phpser.h, in
 * one place for the gateway and the business worker.
 *
 * A MAP is a PHP array. Its keys follow PHP's rules (spec §10.4): an
 * integer, or a string that is not a canonical int64 ("5" and 5 are the same
 * key, "05" and "-0" are strings). STR and BIN keys are both strings; an
 * unsigned integer above INT64_MAX, or a key of any other type, is no PHP
 * key and equals nothing, not even itself.
 *
 * phpser_decode keeps duplicate keys in wire order; PHP keeps one entry per
 * key (the first position, the last value). Functions that say "normalized"
 * expect trees without duplicates (phpval_normalize makes them); the others
 * resolve duplicates PHP's way themselves.
 *
 * Zones: new entry arrays and copies come from the caller's msgpack_zone and
 * live as long as it; input trees are only read unless a function says it
 * works in place. No I/O. */
#ifndef GW_PHPVAL_H
#define GW_PHPVAL_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

/* 1 and the value in *v (may be NULL) if k is an integer key as PHP stores
 * it: an integer within int64, or a string spelling a canonical int64. */
int phpval_key_int(const msgpack_object *k, int64_t *v);
/* 1 if a and b are the same PHP array key. */
int phpval_key_eq(const msgpack_object *a, const msgpack_object *b);
/* 1 if k is the key spelled key[0..n) (a canonical int string matches the
 * integer key too). */
int phpval_key_is(const msgpack_object *k, const char *key, size_t n);
/* A hash consistent with phpval_key_eq (equal keys, equal hashes). */
uint64_t phpval_key_hash(const msgpack_object *k);

/* Index of the entry of map m whose key is key, the LAST one when m holds
 * duplicates (the value PHP keeps), or -1 (also when m is not a MAP). */
long phpval_map_find(const msgpack_object *m, const msgpack_object *key);

/* *dst = a copy of map m with key set to value (replaced in place, or
 * appended), or removed when value is NULL; m may be NIL (= empty). The new
 * entry array, key and value are copied into zone; the other entries are
 * shared with m. Duplicates of key in m are dropped (the last one's position
 * is kept). dst may be m. 0 or -ENOMEM. */
int phpval_map_set(msgpack_zone *zone, msgpack_object *dst, const msgpack_object *m, const msgpack_object *key,
                   const msgpack_object *value);

/* Deep copy of *src into *dst, every byte allocated from zone (src may point
 * anywhere, even into dst's old tree). 0 or -ENOMEM. */
int phpval_copy(msgpack_zone *zone, msgpack_object *dst, const msgpack_object *src);

/* Resolves duplicate keys in every array of the tree the way PHP's
 * unserialize() does: a later duplicate overwrites the value and keeps the
 * first position. IN PLACE (entry arrays are compacted). Linear: arrays of
 * more than a few entries are indexed by hash. Returns 0, -EINVAL for a tree
 * nested deeper than PHPSER_HARD_MAX_DEPTH, or -ENOMEM (the tree is then
 * partly normalized but valid). */
int phpval_normalize(msgpack_object *v);

/* dest = array_replace_recursive(dest, src), both normalized MAPs: for each
 * key of src in order, if dest has it and both values are arrays they are
 * merged recursively, else dest[key] = src[key] (existing keys keep their
 * position, new ones are appended). Linear in the sizes (hashed). New entry
 * arrays come from zone; the entry arrays dest pointed to are not modified,
 * and values are shared, not copied. Returns 0, -EINVAL when either is not a
 * MAP (or nesting passes PHPSER_HARD_MAX_DEPTH), -ENOMEM. */
int phpval_replace_recursive(msgpack_zone *zone, msgpack_object *dest, const msgpack_object *src);

#endif
