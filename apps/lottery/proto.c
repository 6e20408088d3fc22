#include "proto.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

long proto_utf8_chars(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    long n = 0;
    while (p < end) {
        unsigned c = *p;
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            p++;
            n++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return -1;
        }
        if ((size_t)(end - p) <= k)
            return -1;
        for (size_t i = 1; i <= k; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return -1;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return -1;
        p += k + 1;
        n++;
    }
    return n;
}

int proto_text_ok(const char *s, size_t min, size_t max)
{
    if (!s)
        return 0;
    size_t len = strlen(s);
    if (len < min || len > max || proto_utf8_chars(s, len) < 0)
        return 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f)
            return 0;
        /* C1 controls are U+0080..U+009F: C2 80..C2 9F in UTF-8. */
        if (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
            return 0;
    }
    return 1;
}

static int charset_ok(const char *s, size_t max, const char *extra)
{
    if (!s)
        return 0;
    size_t len = strlen(s);
    if (len < 1 || len > max)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr(extra, c)))
            return 0;
    }
    return 1;
}

int proto_emp_no_ok(const char *s) { return charset_ok(s, PROTO_MAX_EMP, "_.-"); }
int proto_rid_ok(const char *s) { return charset_ok(s, PROTO_MAX_RID, "_.:-"); }

int proto_token_ok(const char *s)
{
    if (!s)
        return 0;
    size_t len = strlen(s);
    if (len < 1 || len > PROTO_MAX_TOKEN)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int proto_trim(const char *s, char *out, size_t cap)
{
    size_t len = strlen(s);
    while (len && (s[0] == ' ' || s[0] == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len >= cap)
        return -1;
    memcpy(out, s, len);
    out[len] = 0;
    return 0;
}

json_t *proto_check_rows(const json_t *rows, char *err, size_t errlen)
{
    if (!json_is_array(rows) || json_array_size(rows) == 0) {
        snprintf(err, errlen, "rows: a non-empty array is needed");
        return NULL;
    }
    if (json_array_size(rows) > PROTO_MAX_ROWS) {
        snprintf(err, errlen, "rows: %zu rows, at most %d", json_array_size(rows), PROTO_MAX_ROWS);
        return NULL;
    }
    json_t *out = json_array(), *seen = json_object();
    if (!out || !seen)
        goto oom;
    size_t i;
    const json_t *row;
    json_array_foreach(rows, i, row) {
        const char *emp = json_string_value(json_object_get(row, "empNo"));
        const char *name = json_string_value(json_object_get(row, "name"));
        const json_t *dj = json_object_get(row, "dept");
        const char *dept = dj ? json_string_value(dj) : "";
        char e[PROTO_MAX_EMP + 1], n[PROTO_MAX_NAME + 1], d[PROTO_MAX_DEPT + 1];
        if (!json_is_object(row)) {
            snprintf(err, errlen, "row %zu: not an object", i + 1);
            goto fail;
        }
        if (!emp || proto_trim(emp, e, sizeof e) < 0 || !proto_emp_no_ok(e)) {
            snprintf(err, errlen, "row %zu: empNo must be 1 to %d characters of A-Z a-z 0-9 _ . -", i + 1,
                     PROTO_MAX_EMP);
            goto fail;
        }
        if (!name || proto_trim(name, n, sizeof n) < 0 || !proto_text_ok(n, 1, PROTO_MAX_NAME)) {
            snprintf(err, errlen, "row %zu (%s): name must be 1 to %d bytes of text", i + 1, e, PROTO_MAX_NAME);
            goto fail;
        }
        if (!dept || proto_trim(dept, d, sizeof d) < 0 || !proto_text_ok(d, 0, PROTO_MAX_DEPT)) {
            snprintf(err, errlen, "row %zu (%s): dept must be at most %d bytes of text", i + 1, e, PROTO_MAX_DEPT);
            goto fail;
        }
        if (json_object_get(seen, e)) {
            snprintf(err, errlen, "row %zu: empNo %s appears twice", i + 1, e);
            goto fail;
        }
        if (json_object_set_new(seen, e, json_true()) < 0 ||
            json_array_append_new(out, json_pack("{s:s,s:s,s:s}", "empNo", e, "name", n, "dept", d)) < 0)
            goto oom;
    }
    json_decref(seen);
    return out;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    json_decref(out);
    json_decref(seen);
    return NULL;
}

static char *dump(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

char *proto_reply(const char *rid, const char *cmd, const json_t *result, int replayed)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (result && json_object_update(o, (json_t *)result) < 0)
        goto fail;
    if (json_object_set_new(o, "type", json_string("reply")) < 0 ||
        (rid && json_object_set_new(o, "rid", json_string(rid)) < 0) ||
        (cmd && json_object_set_new(o, "cmd", json_string(cmd)) < 0) ||
        (replayed && json_object_set_new(o, "replayed", json_true()) < 0))
        goto fail;
    return dump(o);
fail:
    json_decref(o);
    return NULL;
}

char *proto_error(const char *rid, const char *cmd, const char *code, const char *message)
{
    json_t *o = json_pack("{s:s,s:s,s:s}", "type", "error", "code", code, "message", message ? message : code);
    if (!o)
        return NULL;
    /* rid and cmd come from the client: json_string refuses invalid UTF-8, so
     * they are only echoed when they are valid strings. */
    if (rid)
        json_object_set_new(o, "rid", json_string(rid));
    if (cmd)
        json_object_set_new(o, "cmd", json_string(cmd));
    return dump(o);
}

char *proto_push(const char *type, const json_t *body)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    if ((body && json_object_update(o, (json_t *)body) < 0) || json_object_set_new(o, "type", json_string(type)) < 0) {
        json_decref(o);
        return NULL;
    }
    return dump(o);
}
