#include "fakebw.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tu.h"

static int send_frame(struct fakebw *w, const struct gwp_header *h, const void *ext, size_t el, const void *body,
                      size_t bl)
{
    struct buf b = BUF_INIT;
    int rc = gwp_encode(&b, h, ext, el, body, bl) < 0 ? -1 : tu_write_all(w->fd, buf_head(&b), buf_avail(&b));
    buf_free(&b);
    return rc;
}

int fakebw_worker(struct fakebw *w, int port, const char *worker_key, const char *secret)
{
    memset(w, 0, sizeof *w);
    w->fd = tu_connect(port, 3000);
    if (w->fd < 0)
        return -1;
    char body[512];
    int n = snprintf(body, sizeof body, "{\"worker_key\":\"%s\",\"secret_key\":\"%s\"}", worker_key, secret);
    struct gwp_header h = {.cmd = GWP_CMD_WORKER_CONNECT, .flag = GWP_FLAG_BODY_IS_SCALAR};
    return send_frame(w, &h, NULL, 0, body, (size_t)n);
}

int fakebw_client(struct fakebw *w, int port, const char *secret)
{
    memset(w, 0, sizeof *w);
    w->fd = tu_connect(port, 3000);
    if (w->fd < 0)
        return -1;
    if (!secret)
        return 0;
    char body[512];
    int n = snprintf(body, sizeof body, "{\"secret_key\":\"%s\"}", secret);
    struct gwp_header h = {.cmd = GWP_CMD_GATEWAY_CLIENT_CONNECT, .flag = GWP_FLAG_BODY_IS_SCALAR};
    return send_frame(w, &h, NULL, 0, body, (size_t)n);
}

void fakebw_close(struct fakebw *w)
{
    if (w->fd >= 0)
        tu_close(w->fd);
    w->fd = -1;
    buf_free(&w->in);
    free(w->last_copy);
    w->last_copy = NULL;
}

int fakebw_cmd(struct fakebw *w, uint8_t cmd, uint32_t conn_id, uint8_t flag, const char *ext, size_t ext_len,
               const void *body, size_t body_len)
{
    struct gwp_header h = {.cmd = cmd, .connection_id = conn_id, .flag = flag};
    return send_frame(w, &h, ext, ext_len, body, body_len);
}

static int fill(struct fakebw *w, long long deadline)
{
    int left = (int)(deadline - tu_now_ms());
    if (left <= 0)
        return -1;
    struct pollfd pf = {.fd = w->fd, .events = POLLIN};
    if (poll(&pf, 1, left) <= 0)
        return -1;
    uint8_t *dst = buf_reserve(&w->in, 65536);
    ssize_t r = read(w->fd, dst, 65536);
    if (r == 0)
        return -2;
    if (r < 0)
        return errno == EINTR ? 0 : -1;
    buf_commit(&w->in, (size_t)r);
    return 0;
}

int fakebw_next(struct fakebw *w, int timeout_ms)
{
    long long deadline = tu_now_ms() + timeout_ms;
    for (;;) {
        size_t used;
        char err[128];
        int rc = buf_avail(&w->in) ? gwp_decode(buf_head(&w->in), buf_avail(&w->in), GWP_DEFAULT_MAX_PACK_LEN, &w->last,
                                                &used, err, sizeof err)
                                   : GWP_NEED_MORE;
        if (rc == GWP_OK) {
            /* Keep a private copy: the frame must outlive the buffer's next refill. */
            free(w->last_copy);
            w->last_copy = malloc(used + 1);
            memcpy(w->last_copy, buf_head(&w->in), used);
            w->last_copy[used] = 0;
            buf_consume(&w->in, used);
            gwp_decode(w->last_copy, used, GWP_DEFAULT_MAX_PACK_LEN, &w->last, &used, err, sizeof err);
            return 0;
        }
        if (rc == GWP_ERROR)
            return -1;
        int f = fill(w, deadline);
        if (f < 0)
            return f;
    }
}

int fakebw_wait(struct fakebw *w, uint8_t cmd, int timeout_ms)
{
    long long deadline = tu_now_ms() + timeout_ms;
    for (;;) {
        int left = (int)(deadline - tu_now_ms());
        if (left <= 0 || fakebw_next(w, left) < 0)
            return -1;
        if (w->last.hdr.cmd == cmd)
            return 0;
    }
}

char *fakebw_reply(struct fakebw *w, size_t *len, int timeout_ms)
{
    long long deadline = tu_now_ms() + timeout_ms;
    for (;;) {
        const uint8_t *payload;
        size_t plen, used;
        char err[128];
        int rc = buf_avail(&w->in) ? gwp_reply_decode(buf_head(&w->in), buf_avail(&w->in), GWP_DEFAULT_MAX_PACK_LEN,
                                                      &payload, &plen, &used, err, sizeof err)
                                   : GWP_NEED_MORE;
        if (rc == GWP_OK) {
            char *out = malloc(plen + 1);
            memcpy(out, payload, plen);
            out[plen] = 0;
            *len = plen;
            buf_consume(&w->in, used);
            return out;
        }
        if (rc == GWP_ERROR || fill(w, deadline) < 0)
            return NULL;
    }
}
