/* wsconnect_lws: the ON_WEBSOCKET_CONNECT body from what libwebsockets
 * parsed, for handshakes whose raw head we could not read (wss). Less exact
 * than wsconnect_body (lws keeps the query URL-decoded and the headers by
 * token, not in request order), but the same shape (§8, workerman 5). */
#include <errno.h>
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#include "phpser.h"
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

static void w_cstr(struct phpser_w *w, const char *s) { phpser_w_str(w, s, strlen(s)); }

/* A string value, or N; when absent. */
static void w_cstr_or_null(struct phpser_w *w, const char *s)
{
    if (s)
        w_cstr(w, s);
    else
        phpser_w_null(w);
}

int wsconnect_body_lws(struct lws *wsi, const char *remote, uint16_t remote_port, uint16_t server_port,
                       struct buf *out)
{
    struct buf get = BUF_INIT, server = BUF_INIT, cookie = BUF_INIT, query = BUF_INIT, ruri = BUF_INIT;
    struct phpser_w wg, ws, wc, wq, wr, wo;
    phpser_w_init(&wg, &get);
    phpser_w_init(&ws, &server);
    phpser_w_init(&wc, &cookie);
    phpser_w_init(&wq, &query); /* plain bytes, not serialized: the query string */
    phpser_w_init(&wr, &ruri);
    size_t keep = out->len - out->off;
    int nget = 0, nserver = 0, ncookie = 0;
    char frag[1024];
    /* lws keeps the query only URL-decoded, as name=value fragments. */
    for (int i = 0; lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i) > 0; i++) {
        char *eq = strchr(frag, '=');
        if (query.len)
            phpser_w_raw(&wq, "&", 1);
        phpser_w_raw(&wq, frag, strlen(frag));
        phpser_w_str(&wg, frag, eq ? (size_t)(eq - frag) : strlen(frag));
        w_cstr(&wg, eq ? eq + 1 : "");
        nget++;
    }
    char *uri = wsconnect_lws_header(wsi, WSI_TOKEN_GET_URI);
    char *host = wsconnect_lws_header(wsi, WSI_TOKEN_HOST);
    char *ctype = wsconnect_lws_header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
    w_cstr(&ws, "QUERY_STRING");
    phpser_w_str(&ws, buf_head(&query), buf_avail(&query));
    w_cstr(&ws, "REQUEST_METHOD");
    w_cstr(&ws, "GET");
    w_cstr(&ws, "REQUEST_URI");
    phpser_w_raw(&wr, uri ? uri : "/", strlen(uri ? uri : "/"));
    if (query.len) {
        phpser_w_raw(&wr, "?", 1);
        phpser_w_raw(&wr, buf_head(&query), buf_avail(&query));
    }
    phpser_w_str(&ws, buf_head(&ruri), buf_avail(&ruri));
    w_cstr(&ws, "SERVER_PROTOCOL");
    w_cstr(&ws, "HTTP/1.1");
    w_cstr(&ws, "SERVER_NAME");
    w_cstr_or_null(&ws, host);
    w_cstr(&ws, "CONTENT_TYPE");
    w_cstr_or_null(&ws, ctype);
    w_cstr(&ws, "REMOTE_ADDR");
    w_cstr(&ws, remote);
    w_cstr(&ws, "REMOTE_PORT");
    phpser_w_int(&ws, remote_port);
    w_cstr(&ws, "SERVER_PORT");
    phpser_w_int(&ws, server_port);
    nserver = 9;
    /* One HTTP_<NAME> per header lws parsed (lws keeps them by token, not in
     * request order). */
    for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
        const char *name = (const char *)lws_token_to_string((enum lws_token_indexes)t);
        size_t nl = name ? strlen(name) : 0;
        if (!nl || name[nl - 1] != ':' || t == WSI_TOKEN_HTTP_URI_ARGS)
            continue;
        char *v = wsconnect_lws_header(wsi, t);
        if (!v)
            continue;
        char key[96] = "HTTP_";
        size_t k = 5;
        for (size_t i = 0; i + 1 < nl && k + 1 < sizeof key; i++)
            key[k++] = name[i] == '-' ? '_' : (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
        key[k] = 0;
        w_cstr(&ws, key);
        w_cstr(&ws, v);
        nserver++;
        free(v);
    }
    char *ck = wsconnect_lws_header(wsi, WSI_TOKEN_HTTP_COOKIE);
    char *save = NULL;
    for (char *tok = ck ? strtok_r(ck, ";", &save) : NULL; tok; tok = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            continue;
        *eq = 0;
        while (*tok == ' ' || *tok == '\t')
            tok++;
        size_t nl = strlen(tok);
        while (nl && (tok[nl - 1] == ' ' || tok[nl - 1] == '\t'))
            nl--;
        phpser_w_str(&wc, tok, nl);
        w_cstr(&wc, eq + 1);
        ncookie++;
    }
    phpser_w_init(&wo, out);
    phpser_w_raw(&wo, "a:3:{s:3:\"get\";", 15);
    phpser_w_arr(&wo, (size_t)nget);
    phpser_w_raw(&wo, buf_head(&get), buf_avail(&get));
    phpser_w_raw(&wo, "}s:6:\"server\";", 14);
    phpser_w_arr(&wo, (size_t)nserver);
    phpser_w_raw(&wo, buf_head(&server), buf_avail(&server));
    phpser_w_raw(&wo, "}s:6:\"cookie\";", 14);
    phpser_w_arr(&wo, (size_t)ncookie);
    phpser_w_raw(&wo, buf_head(&cookie), buf_avail(&cookie));
    phpser_w_raw(&wo, "}}", 2);
    int err = wg.err ? wg.err : ws.err ? ws.err : wc.err ? wc.err : wq.err ? wq.err : wr.err ? wr.err : wo.err;
    if (err && out->data)
        out->len = out->off + keep;
    free(uri);
    free(host);
    free(ctype);
    free(ck);
    buf_free(&get);
    buf_free(&server);
    buf_free(&cookie);
    buf_free(&query);
    buf_free(&ruri);
    return err ? -ENOMEM : 0;
}
