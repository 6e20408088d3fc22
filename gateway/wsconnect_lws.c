/* wsconnect_lws: the ON_WEBSOCKET_CONNECT body from what libwebsockets
 * parsed, for handshakes whose raw head was not kept (wsconnect.h says
 * when; wss heads are kept by the guard, wsguard_take_head). Less exact
 * than wsconnect_body (lws keeps the query URL-decoded and the headers by
 * token, not in request order), but the same shape (§8, workerman 5).
 *
 * Only the lws getters live here: they copy what lws parsed into a struct
 * wsconnect_parsed, and wsconnect_body_parsed (wsconnect.c, pure, fuzzed by
 * tests/fuzz/fuzz_wsconnect_lws.c) builds the body from it. */
#include <errno.h>
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#include "wsconnect.h"

char *wsconnect_lws_header(struct lws *wsi, int tok)
{
    int n = lws_hdr_total_length(wsi, (enum lws_token_indexes)tok);
    if (n <= 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s && lws_hdr_copy(wsi, s, n + 1, (enum lws_token_indexes)tok) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

int wsconnect_body_lws(struct lws *wsi, const char *remote, uint16_t remote_port, uint16_t server_port,
                       struct buf *out)
{
    char **args = NULL;
    size_t nargs = 0, cap = 0;
    int oom = 0;
    char frag[1024];
    /* Up to the first fragment that is empty or does not fit frag. */
    for (int i = 0; lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i) > 0; i++) {
        if (nargs == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            char **a = realloc(args, ncap * sizeof *a);
            if (!a) {
                oom = 1;
                break;
            }
            args = a;
            cap = ncap;
        }
        if (!(args[nargs] = strdup(frag))) {
            oom = 1;
            break;
        }
        nargs++;
    }
    const char *names[WSI_TOKEN_COUNT];
    char *values[WSI_TOKEN_COUNT];
    size_t nh = 0;
    for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
        const char *name = (const char *)lws_token_to_string((enum lws_token_indexes)t);
        size_t nl = name ? strlen(name) : 0;
        if (!nl || name[nl - 1] != ':' || t == WSI_TOKEN_HTTP_URI_ARGS)
            continue;
        char *v = wsconnect_lws_header(wsi, t);
        if (!v)
            continue;
        names[nh] = name;
        values[nh++] = v;
    }
    char *uri = wsconnect_lws_header(wsi, WSI_TOKEN_GET_URI);
    char *host = wsconnect_lws_header(wsi, WSI_TOKEN_HOST);
    char *ctype = wsconnect_lws_header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
    char *ck = wsconnect_lws_header(wsi, WSI_TOKEN_HTTP_COOKIE);
    const struct wsconnect_parsed p = {
        .args = (const char *const *)args,
        .nargs = nargs,
        .uri = uri,
        .host = host,
        .content_type = ctype,
        .cookie = ck,
        .hdr_names = names,
        .hdr_values = (const char *const *)values,
        .nhdrs = nh,
    };
    int r = oom ? -ENOMEM : wsconnect_body_parsed(&p, remote, remote_port, server_port, out);
    for (size_t i = 0; i < nargs; i++)
        free(args[i]);
    free(args);
    for (size_t i = 0; i < nh; i++)
        free(values[i]);
    free(uri);
    free(host);
    free(ctype);
    free(ck);
    return r;
}
