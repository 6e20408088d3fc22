/* extdata: the ext_data of worker commands as PHP's Gateway reads it
 * (spec §3.5, §10.4): json_decode($ext, true), then PHP's empty(), foreach
 * and array-key conversions on the result. The command engine (commands.c)
 * uses these to read lists of uids, groups, connection ids and exclusions.
 * Pure: jansson values in, no state. */
#ifndef GW_GATEWAY_EXTDATA_H
#define GW_GATEWAY_EXTDATA_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct ptab;

/* PHP empty() of a string: "" and "0". */
int extdata_empty(const void *p, size_t n);

/* json_decode(ext[0..len), true): any JSON value, NUL bytes allowed in
 * strings; NULL when len is 0 or the text is not JSON. The caller
 * json_decref()s it. */
json_t *extdata_json(const void *ext, size_t len);

/* PHP empty() of a json_decode($x, true) result. */
int extdata_json_empty(const json_t *v);

/* foreach ($x as $v) over a decoded JSON list or object. */
struct extdata_it {
    json_t *c;
    size_t i;
    void *it;
};

/* -1 when c is neither a list nor an object (PHP: a warning, no loop). */
int extdata_it_init(struct extdata_it *j, json_t *c);
/* The next value (borrowed from c), NULL at the end. */
json_t *extdata_it_next(struct extdata_it *j);

/* The PHP array key a JSON scalar becomes, in string form: the form uids
 * and groups are stored in. */
struct extdata_key {
    const char *ext; /* the JSON string's bytes (borrowed from the value), or NULL: then num */
    size_t n;
    char num[24];
};

static inline const char *extdata_key_ptr(const struct extdata_key *k) { return k->ext ? k->ext : k->num; }

/* 1 and *k for a string, number, bool or null; 0 for an array or object
 * (PHP: "Illegal offset type", a fatal error) and for floats beyond int64
 * (PHP's conversion is platform noise). */
int extdata_key_of(const json_t *v, struct extdata_key *k);

/* 1 and *id if p[0..n) is a canonical integer key naming a possible
 * connection id (1..2^32-1), else 0. */
int extdata_conn_id(const char *p, size_t n, uint32_t *id);
/* A JSON value used as a connection id (PHP: $clients[$v]). */
int extdata_json_conn_id(const json_t *v, uint32_t *id);

/* The distinct PHP keys among the values of a JSON list/object, in first-
 * occurrence order (what `$r[$v] = …` in a foreach keeps). *out is malloc'd
 * (or NULL when empty) and points into c's strings. Values that cannot be
 * keys are skipped. Returns 0, -1 when c is not a list/object, -ENOMEM. */
int extdata_distinct_keys(json_t *c, struct extdata_key **out, size_t *n);

/* Adds to the id set (ptab.h) the connections an `exclude` names: PHP tests
 * isset($exclude[$id]), i.e. the keys of the object senders write; a list is
 * taken as a list of ids (as the spec asks), not by its 0..n-1 keys.
 * Returns 0, -1 for a shape that is neither empty, an object nor a list, or
 * -ENOMEM. */
int extdata_exclude(json_t *ex, struct ptab *set);

#endif
