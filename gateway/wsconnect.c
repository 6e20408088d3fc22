/* wsconnect: the ON_WEBSOCKET_CONNECT body (spec §8). See wsconnect.h.
 *
 * The request head is parsed here as workerman 5.2.2's Request does
 * (checked against PHP 8.2): Request::parseHeaders()/cookie(): header names
 * lower-cased for lookup, repeats joined with ",", values trimmed of " \t";
 * cookie names trimmed of PHP's trim() set, values kept raw. The query
 * string and "get" come from PHP's parse_url() and parse_str() (phpurl.c);
 * everything is written with phpser.h's writer.
 */
#include "wsconnect.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "phpser.h"
#include "phpurl.h"

size_t wsconnect_head_len(const char *buf, size_t len)
{
    const char *p = len >= 4 ? memmem(buf, len, "\r\n\r\n", 4) : NULL;
    return p ? (size_t)(p - buf) + 4 : 0;
}

static void wsc__err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void wsc__err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------- HTTP headers */

struct wsc__hdr {
    const char *name; /* as sent */
    size_t nlen;
    const char *val; /* trimmed of " \t" */
    size_t vlen;
    int dup_next; /* next line with the same (case-insensitive) name, -1 */
    int uniq;     /* first line of this name */
    int skey_src; /* for a first line: the last first-line whose HTTP_ key equals ours, -1 if
                     ours is taken by an earlier header */
};

static int wsc__is_tchar(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int wsc__name_eq_ci(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && strncasecmp(a, b, an) == 0;
}

/* The HTTP_ key of a name: upper-case, '-' -> '_'. */
static int wsc__skey_eq(const char *a, size_t an, const char *b, size_t bn)
{
    if (an != bn)
        return 0;
    for (size_t i = 0; i < an; i++) {
        char x = a[i] == '-' ? '_' : (char)toupper((unsigned char)a[i]);
        char y = b[i] == '-' ? '_' : (char)toupper((unsigned char)b[i]);
        if (x != y)
            return 0;
    }
    return 1;
}

/* The server key of a header: "HTTP_" . strtoupper(str_replace('-', '_', name)). */
static void wsc__write_hkey(struct phpser_w *w, const char *name, size_t n)
{
    phpser_w_str_open(w, n + 5);
    phpser_w_raw(w, "HTTP_", 5);
    uint8_t *d = phpser_w_reserve(w, n);
    if (!d)
        return;
    for (size_t j = 0; j < n; j++)
        d[j] = name[j] == '-' ? '_' : (uint8_t)toupper((unsigned char)name[j]);
    phpser_w_commit(w, n);
    phpser_w_str_close(w);
}

/* Length of a header's value as Request::header() returns it (repeats joined with ','). */
static size_t wsc__hdr_joined_len(const struct wsc__hdr *h, int i)
{
    size_t n = 0;
    for (int j = i; j >= 0; j = h[j].dup_next)
        n += h[j].vlen + (j != i);
    return n;
}

static void wsc__write_hdr_joined(struct phpser_w *w, const struct wsc__hdr *h, int i)
{
    phpser_w_str_open(w, wsc__hdr_joined_len(h, i));
    for (int j = i; j >= 0; j = h[j].dup_next) {
        if (j != i)
            phpser_w_raw(w, ",", 1);
        phpser_w_raw(w, h[j].val, h[j].vlen);
    }
    phpser_w_str_close(w);
}

static int wsc__hdr_lookup(const struct wsc__hdr *h, int nh, const char *name)
{
    for (int i = 0; i < nh; i++)
        if (h[i].uniq == i && wsc__name_eq_ci(h[i].name, h[i].nlen, name, strlen(name)))
            return i;
    return -1;
}

/* ---------------------------------------------------------------- cookie */

struct wsc__cookie {
    const char *name; /* trimmed; its PHP key (int or string) is decided when written */
    size_t nlen;
    uint64_t hash;
    const char *val;
    size_t vlen;
};

static int wsc__php_trim_char(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\0' || c == '\x0b';
}

/* Request::cookie(): fills *out (malloc'd, caller frees) with the map in PHP
 * order. Names are found through a hash index: a 16 KiB header holds
 * thousands of them. Two names are the same PHP key exactly when their
 * bytes are (a canonical integer has one spelling, §10.4). */
static int wsc__parse_cookie(const char *s, size_t n, struct wsc__cookie **out, size_t *count)
{
    size_t pieces = 1, cnt = 0;
    for (size_t i = 0; i < n; i++)
        pieces += s[i] == ';';
    size_t slots = 16;
    while (slots < 2 * pieces)
        slots *= 2;
    struct wsc__cookie *c = malloc(pieces * sizeof *c);
    uint32_t *idx = calloc(slots, sizeof *idx); /* entry + 1, 0 = empty */
    if (!c || !idx) {
        free(c);
        free(idx);
        return -1;
    }
    size_t i = 0;
    while (i <= n) {
        size_t a = i;
        while (i < n && s[i] != ';')
            i++;
        const char *piece = s + a, *eq = memchr(piece, '=', i - a);
        size_t pn = i - a;
        i++; /* past ';' (or past the end) */
        if (!eq)
            continue;
        const char *nm = piece, *ne = eq;
        while (nm < ne && wsc__php_trim_char(*nm))
            nm++;
        while (ne > nm && wsc__php_trim_char(ne[-1]))
            ne--;
        struct wsc__cookie e = {nm, (size_t)(ne - nm), 0, eq + 1, pn - (size_t)(eq - piece) - 1};
        e.hash = hash_bytes(e.name, e.nlen);
        size_t sl = e.hash & (slots - 1);
        for (; idx[sl]; sl = (sl + 1) & (slots - 1)) {
            struct wsc__cookie *x = &c[idx[sl] - 1];
            if (x->hash == e.hash && x->nlen == e.nlen && memcmp(x->name, e.name, e.nlen) == 0)
                break;
        }
        if (idx[sl]) {
            c[idx[sl] - 1].val = e.val; /* later wins, first position kept */
            c[idx[sl] - 1].vlen = e.vlen;
            continue;
        }
        c[cnt++] = e;
        idx[sl] = (uint32_t)cnt;
    }
    free(idx);
    *out = c;
    *count = cnt;
    return 0;
}

/* ------------------------------------------------------------------ body */

int wsconnect_body(const char *head, size_t len, const char *remote_addr, uint16_t remote_port,
                   uint16_t server_port, struct buf *out, char *err, size_t errlen)
{
    struct wsc__hdr h[WSCONNECT_MAX_HEADERS];
    int nh = 0;
    char *cookie_str = NULL;
    struct wsc__cookie *cookies = NULL;
    size_t ncookies = 0;
    size_t out_unread0 = out->len - out->off; /* appends may slide the unread bytes to the front */
    int rc = -1;

    if (err && errlen)
        err[0] = '\0';
    if (!remote_addr)
        remote_addr = "";

    size_t hl = wsconnect_head_len(head, len);
    if (hl == 0) {
        wsc__err(err, errlen, len > WSCONNECT_MAX_HEAD ? "request head longer than %u bytes"
                                                        : "incomplete request head (no blank line)",
                 WSCONNECT_MAX_HEAD);
        return -1;
    }
    if (hl > WSCONNECT_MAX_HEAD) {
        wsc__err(err, errlen, "request head longer than %u bytes", WSCONNECT_MAX_HEAD);
        return -1;
    }
    const char *end = head + hl - 2; /* the head's lines, each ending in CRLF */

    /* request line */
    const char *line_end = memmem(head, (size_t)(end - head), "\r\n", 2);
    size_t ll = (size_t)(line_end - head);
    if (ll < 4 || memcmp(head, "GET ", 4) != 0) {
        wsc__err(err, errlen, "not a GET request");
        return -1;
    }
    const char *target = head + 4, *t_end = target;
    while (t_end < line_end && *t_end != ' ') {
        unsigned char c = (unsigned char)*t_end;
        if (c < 0x21 || c == 0x7f) {
            wsc__err(err, errlen, "control byte in the request target");
            return -1;
        }
        t_end++;
    }
    size_t tlen = (size_t)(t_end - target);
    if (tlen == 0 || line_end - t_end != 9 || memcmp(t_end, " HTTP/1.", 8) != 0 ||
        !isdigit((unsigned char)t_end[8])) {
        wsc__err(err, errlen, "malformed request line (want GET target HTTP/1.x)");
        return -1;
    }

    /* header lines */
    for (const char *p = line_end + 2; p < end;) {
        const char *le = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (nh == (int)WSCONNECT_MAX_HEADERS) {
            wsc__err(err, errlen, "more than %u header lines", WSCONNECT_MAX_HEADERS);
            return -1;
        }
        const char *c = p;
        while (c < le && wsc__is_tchar((unsigned char)*c))
            c++;
        if (c == p || c == le || *c != ':') {
            wsc__err(err, errlen, "malformed header line %d (want token ':' value)", nh + 1);
            return -1;
        }
        const char *v = c + 1, *ve = le;
        for (const char *x = v; x < ve; x++)
            if (*x == '\r' || *x == '\n' || *x == '\0') {
                wsc__err(err, errlen, "CR, LF or NUL in the value of header line %d", nh + 1);
                return -1;
            }
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        struct wsc__hdr *x = &h[nh];
        x->name = p;
        x->nlen = (size_t)(c - p);
        x->val = v;
        x->vlen = (size_t)(ve - v);
        x->dup_next = -1;
        x->uniq = nh;
        x->skey_src = nh;
        for (int j = 0; j < nh; j++) {
            if (h[j].uniq == j && wsc__name_eq_ci(h[j].name, h[j].nlen, x->name, x->nlen)) {
                int k = j;
                while (h[k].dup_next >= 0)
                    k = h[k].dup_next;
                h[k].dup_next = nh;
                x->uniq = j;
                break;
            }
        }
        if (x->uniq == nh) {
            /* "X-A" and "X_A" are two headers but one HTTP_X_A: PHP overwrites
             * the value and keeps the first position. */
            for (int j = 0; j < nh; j++) {
                if (h[j].uniq == j && h[j].skey_src >= 0 && wsc__skey_eq(h[j].name, h[j].nlen, x->name, x->nlen)) {
                    h[j].skey_src = nh;
                    x->skey_src = -1;
                    break;
                }
            }
        }
        nh++;
        p = le + 2;
    }

    /* the query string: what "get" is parsed from */
    const char *q = NULL;
    size_t qn = 0;
    if (!phpurl_query(target, tlen, &q, &qn)) {
        q = "";
        qn = 0;
    }

    /* cookie */
    int ck = wsc__hdr_lookup(h, nh, "cookie");
    if (ck >= 0) {
        size_t cl = wsc__hdr_joined_len(h, ck), w = 0;
        if (!(cookie_str = malloc(cl + 1)))
            goto oom;
        for (int j = ck; j >= 0; j = h[j].dup_next) {
            if (j != ck)
                cookie_str[w++] = ',';
            memcpy(cookie_str + w, h[j].val, h[j].vlen);
            w += h[j].vlen;
        }
        if (wsc__parse_cookie(cookie_str, cl, &cookies, &ncookies) != 0)
            goto oom;
    }

    struct phpser_w wr, *w = &wr;
    phpser_w_init(w, out);
    phpser_w_raw(w, "a:3:{s:3:\"get\";", 15);
    if (phpurl_parse_str(w, q, qn) < 0)
        goto oom;

    size_t nserver = 9;
    for (int i = 0; i < nh; i++)
        if (h[i].uniq == i && h[i].skey_src >= 0)
            nserver++;
    phpser_w_raw(w, "s:6:\"server\";", 13);
    phpser_w_arr(w, nserver);
    phpser_w_str(w, "QUERY_STRING", 12);
    phpser_w_str(w, q, qn);
    phpser_w_str(w, "REQUEST_METHOD", 14);
    phpser_w_str(w, "GET", 3);
    phpser_w_str(w, "REQUEST_URI", 11);
    phpser_w_str(w, target, tlen);
    /* "HTTP/" . everything after the first "HTTP/" of the request line */
    const char *hp = memmem(head, ll, "HTTP/", 5);
    phpser_w_str(w, "SERVER_PROTOCOL", 15);
    phpser_w_str(w, hp, (size_t)(line_end - hp));
    int host = wsc__hdr_lookup(h, nh, "host");
    phpser_w_str(w, "SERVER_NAME", 11);
    if (host >= 0)
        wsc__write_hdr_joined(w, h, host);
    else
        phpser_w_raw(w, "N;", 2);
    int ct = wsc__hdr_lookup(h, nh, "content-type");
    phpser_w_str(w, "CONTENT_TYPE", 12);
    if (ct >= 0)
        wsc__write_hdr_joined(w, h, ct);
    else
        phpser_w_raw(w, "N;", 2);
    phpser_w_str(w, "REMOTE_ADDR", 11);
    phpser_w_str(w, remote_addr, strlen(remote_addr));
    phpser_w_str(w, "REMOTE_PORT", 11);
    phpser_w_int(w, remote_port);
    phpser_w_str(w, "SERVER_PORT", 11);
    phpser_w_int(w, server_port);
    for (int i = 0; i < nh; i++) {
        if (h[i].uniq != i || h[i].skey_src < 0)
            continue;
        wsc__write_hkey(w, h[i].name, h[i].nlen);
        wsc__write_hdr_joined(w, h, h[i].skey_src);
    }
    phpser_w_raw(w, "}", 1);

    phpser_w_raw(w, "s:6:\"cookie\";", 13);
    phpser_w_arr(w, ncookies);
    for (size_t i = 0; i < ncookies; i++) {
        phpser_w_key(w, cookies[i].name, cookies[i].nlen);
        phpser_w_str(w, cookies[i].val, cookies[i].vlen);
    }
    phpser_w_raw(w, "}}", 2);
    if (w->err)
        goto oom;
    rc = 0;
    goto done;

oom:
    wsc__err(err, errlen, "out of memory");
done:
    if (rc != 0)
        out->len = out->off + out_unread0;
    free(cookie_str);
    free(cookies);
    return rc;
}

/* ------------------------------------------- the body from lws' values */

static void wsc__cstr(struct phpser_w *w, const char *s) { phpser_w_str(w, s, strlen(s)); }

static void wsc__cstr_or_null(struct phpser_w *w, const char *s)
{
    if (s)
        wsc__cstr(w, s);
    else
        phpser_w_null(w);
}

int wsconnect_body_parsed(const struct wsconnect_parsed *p, const char *remote, uint16_t remote_port,
                          uint16_t server_port, struct buf *out)
{
    struct buf get = BUF_INIT, server = BUF_INIT, cookie = BUF_INIT, query = BUF_INIT, ruri = BUF_INIT;
    struct phpser_w wg, ws, wc, wq, wr, wo;
    phpser_w_init(&wg, &get);
    phpser_w_init(&ws, &server);
    phpser_w_init(&wc, &cookie);
    phpser_w_init(&wq, &query); /* plain bytes, not serialized: the query string */
    phpser_w_init(&wr, &ruri);
    size_t keep = out->len - out->off;
    size_t nget = 0, nserver = 0, ncookie = 0;
    if (!remote)
        remote = "";
    /* lws keeps the query only URL-decoded, as name=value fragments. */
    for (size_t i = 0; i < p->nargs; i++) {
        const char *frag = p->args[i];
        const char *eq = strchr(frag, '=');
        if (query.len)
            phpser_w_raw(&wq, "&", 1);
        phpser_w_raw(&wq, frag, strlen(frag));
        phpser_w_str(&wg, frag, eq ? (size_t)(eq - frag) : strlen(frag));
        wsc__cstr(&wg, eq ? eq + 1 : "");
        nget++;
    }
    wsc__cstr(&ws, "QUERY_STRING");
    phpser_w_str(&ws, buf_head(&query), buf_avail(&query));
    wsc__cstr(&ws, "REQUEST_METHOD");
    wsc__cstr(&ws, "GET");
    wsc__cstr(&ws, "REQUEST_URI");
    phpser_w_raw(&wr, p->uri ? p->uri : "/", strlen(p->uri ? p->uri : "/"));
    if (query.len) {
        phpser_w_raw(&wr, "?", 1);
        phpser_w_raw(&wr, buf_head(&query), buf_avail(&query));
    }
    phpser_w_str(&ws, buf_head(&ruri), buf_avail(&ruri));
    wsc__cstr(&ws, "SERVER_PROTOCOL");
    wsc__cstr(&ws, "HTTP/1.1");
    wsc__cstr(&ws, "SERVER_NAME");
    wsc__cstr_or_null(&ws, p->host);
    wsc__cstr(&ws, "CONTENT_TYPE");
    wsc__cstr_or_null(&ws, p->content_type);
    wsc__cstr(&ws, "REMOTE_ADDR");
    wsc__cstr(&ws, remote);
    wsc__cstr(&ws, "REMOTE_PORT");
    phpser_w_int(&ws, remote_port);
    wsc__cstr(&ws, "SERVER_PORT");
    phpser_w_int(&ws, server_port);
    nserver = 9;
    /* One HTTP_<NAME> per header lws parsed (lws keeps them by token, not in
     * request order): the token name without its ':', upper-cased, '-' as '_'. */
    for (size_t t = 0; t < p->nhdrs; t++) {
        const char *name = p->hdr_names[t], *v = p->hdr_values[t];
        size_t nl = name ? strlen(name) : 0;
        if (!nl || name[nl - 1] != ':' || !v)
            continue;
        char key[96] = "HTTP_";
        size_t k = 5;
        for (size_t i = 0; i + 1 < nl && k + 1 < sizeof key; i++)
            key[k++] = name[i] == '-' ? '_' : (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
        key[k] = 0;
        wsc__cstr(&ws, key);
        wsc__cstr(&ws, v);
        nserver++;
    }
    /* Cookie: "; "-separated name=value pairs (empty pieces and pieces
     * without '=' skipped), the name trimmed of " \t", the value raw. */
    for (const char *s = p->cookie; s && *s;) {
        const char *e = strchr(s, ';');
        if (!e)
            e = s + strlen(s);
        const char *eq = memchr(s, '=', (size_t)(e - s));
        if (eq) {
            const char *n0 = s;
            while (n0 < eq && (*n0 == ' ' || *n0 == '\t'))
                n0++;
            size_t nl = (size_t)(eq - n0);
            while (nl && (n0[nl - 1] == ' ' || n0[nl - 1] == '\t'))
                nl--;
            phpser_w_str(&wc, n0, nl);
            phpser_w_str(&wc, eq + 1, (size_t)(e - eq - 1));
            ncookie++;
        }
        s = *e ? e + 1 : e;
    }
    phpser_w_init(&wo, out);
    phpser_w_raw(&wo, "a:3:{s:3:\"get\";", 15);
    phpser_w_arr(&wo, nget);
    phpser_w_raw(&wo, buf_head(&get), buf_avail(&get));
    phpser_w_raw(&wo, "}s:6:\"server\";", 14);
    phpser_w_arr(&wo, nserver);
    phpser_w_raw(&wo, buf_head(&server), buf_avail(&server));
    phpser_w_raw(&wo, "}s:6:\"cookie\";", 14);
    phpser_w_arr(&wo, ncookie);
    phpser_w_raw(&wo, buf_head(&cookie), buf_avail(&cookie));
    phpser_w_raw(&wo, "}}", 2);
    int err = wg.err ? wg.err : ws.err ? ws.err : wc.err ? wc.err : wq.err ? wq.err : wr.err ? wr.err : wo.err;
    if (err && out->data)
        out->len = out->off + keep;
    buf_free(&get);
    buf_free(&server);
    buf_free(&cookie);
    buf_free(&query);
    buf_free(&ruri);
    return err ? -ENOMEM : 0;
}
