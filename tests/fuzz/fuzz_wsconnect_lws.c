/* libFuzzer harness for the gateway's ON_WEBSOCKET_CONNECT body built from
 * what libwebsockets parsed (wss handshakes, or a raw head wsconnect_body
 * refuses): wsconnect_body_parsed (gateway/wsconnect.c), the pure half of
 * wsconnect_body_lws. The client controls every value lws hands over: the
 * URI, the query fragments (URL-decoded, so any byte but NUL), Host,
 * Content-Type, Cookie and every other header lws knows.
 *
 * Input: byte 0 says which of URI, Host, Content-Type, Cookie are present
 * (bits 0-3); bytes 1-2 are the client's port; the rest is split on NUL
 * bytes (lws' values are C strings) into fields: first the present ones of
 * those four, in that order, then any number of extra fields: "a..." is a
 * query fragment, anything else a header, its name up to and including the
 * first ':' (lws' token names end in ':'; a name without one is skipped by
 * the builder), its value the rest. Every field is its own exact-size heap
 * copy, so ASan sees a read past any of them.
 *
 * Checks: the body is appended after what out held (or out is left as it
 * was on -ENOMEM) and is valid PHP serialize text of a:3:{get, server,
 * cookie} with one "get" entry per fragment, 9 + one "server" entry per
 * header whose name ends in ':', one "cookie" entry per ';'-separated piece
 * holding '=', and REQUEST_URI = (URI or "/") [+ "?" + the fragments joined
 * by "&"]. Built with wsconnect.c, phpurl.c and the shared library (no lws). */
#include "buf.h"
#include "phpser.h"
#include "wsconnect.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

#define MAX_FIELDS 512

static const msgpack_object *map_get(const msgpack_object *m, const char *key)
{
    REQUIRE(m->type == MSGPACK_OBJECT_MAP);
    size_t kl = strlen(key);
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl && memcmp(k->via.str.ptr, key, kl) == 0)
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}

static size_t cookie_pairs(const char *s)
{
    size_t n = 0;
    while (s && *s) {
        const char *e = strchr(s, ';');
        if (!e)
            e = s + strlen(s);
        if (memchr(s, '=', (size_t)(e - s)))
            n++;
        s = *e ? e + 1 : e;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    unsigned mask = data[0];
    uint16_t port = (uint16_t)(data[1] << 8 | data[2]);
    const char *fixed[4] = {NULL, NULL, NULL, NULL};
    char *fields[2 * MAX_FIELDS]; /* a header takes two */
    size_t nf = 0;
    const char *args[MAX_FIELDS], *names[MAX_FIELDS], *values[MAX_FIELDS];
    size_t nargs = 0, nhdrs = 0, want_server = 9;
    int slot = 0;
    for (size_t pos = 3; pos <= size && nf < MAX_FIELDS;) {
        const uint8_t *z = memchr(data + pos, 0, size - pos);
        size_t n = z ? (size_t)(z - (data + pos)) : size - pos;
        char *f = malloc(n + 1);
        REQUIRE(f);
        memcpy(f, data + pos, n);
        f[n] = '\0';
        fields[nf++] = f;
        pos += n + 1;
        while (slot < 4 && !(mask & (1u << slot)))
            slot++;
        if (slot < 4) {
            fixed[slot++] = f;
        } else if (f[0] == 'a') {
            args[nargs++] = f + 1;
        } else {
            /* the name is a prefix copy, the value the rest of the field */
            char *colon = strchr(f, ':');
            size_t nl = colon ? (size_t)(colon - f) + 1 : n;
            char *name = malloc(nl + 1);
            REQUIRE(name);
            memcpy(name, f, nl);
            name[nl] = '\0';
            fields[nf++] = name;
            names[nhdrs] = name;
            values[nhdrs++] = f + nl;
            if (nl && name[nl - 1] == ':')
                want_server++;
        }
    }
    const struct wsconnect_parsed p = {
        .args = args,
        .nargs = nargs,
        .uri = fixed[0],
        .host = fixed[1],
        .content_type = fixed[2],
        .cookie = fixed[3],
        .hdr_names = names,
        .hdr_values = values,
        .nhdrs = nhdrs,
    };

    struct buf out = BUF_INIT;
    REQUIRE(buf_append(&out, "prefix", 6) == 0);
    int r = wsconnect_body_parsed(&p, "203.0.113.9", port, 8282, &out);
    REQUIRE(r == 0 || r == -ENOMEM);
    if (r < 0) {
        REQUIRE(buf_avail(&out) == 6);
    } else {
        REQUIRE(buf_avail(&out) > 6 && memcmp(buf_head(&out), "prefix", 6) == 0);
        msgpack_zone z;
        REQUIRE(msgpack_zone_init(&z, 4096));
        msgpack_object v;
        char err[160];
        REQUIRE(phpser_decode(buf_head(&out) + 6, buf_avail(&out) - 6, &z, &v, NULL, err, sizeof err) == 0);
        REQUIRE(v.type == MSGPACK_OBJECT_MAP && v.via.map.size == 3);
        const msgpack_object *get = map_get(&v, "get"), *server = map_get(&v, "server"),
                             *cookie = map_get(&v, "cookie");
        REQUIRE(get && server && cookie);
        REQUIRE(get->type == MSGPACK_OBJECT_MAP && get->via.map.size == nargs);
        REQUIRE(server->type == MSGPACK_OBJECT_MAP && server->via.map.size == want_server);
        REQUIRE(cookie->type == MSGPACK_OBJECT_MAP && cookie->via.map.size == cookie_pairs(p.cookie));
        /* REQUEST_URI: the URI, then the fragments as the query */
        struct buf want = BUF_INIT;
        const char *uri = p.uri ? p.uri : "/";
        REQUIRE(buf_append(&want, uri, strlen(uri)) == 0);
        int first = 1;
        for (size_t i = 0; i < nargs; i++) {
            if (!args[i][0] && first)
                continue; /* nothing written yet: no separator */
            REQUIRE(buf_append(&want, first ? "?" : "&", 1) == 0);
            REQUIRE(buf_append(&want, args[i], strlen(args[i])) == 0);
            first = 0;
        }
        const msgpack_object *ru = map_get(server, "REQUEST_URI");
        REQUIRE(ru && ru->type == MSGPACK_OBJECT_STR && ru->via.str.size == buf_avail(&want) &&
                (buf_avail(&want) == 0 || memcmp(ru->via.str.ptr, buf_head(&want), buf_avail(&want)) == 0));
        buf_free(&want);
        msgpack_zone_destroy(&z);
    }
    buf_free(&out);
    for (size_t i = 0; i < nf; i++)
        free(fields[i]);
    return 0;
}
