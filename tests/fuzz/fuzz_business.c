/* libFuzzer harness for the business worker's side of a gateway link:
 * frames decoded as links.c does (gwp_decode over the byte stream) and
 * handed to the real events_dispatch (business/events.c) and the API
 * (business/api*.c), with a test application whose callbacks read and
 * change the session and push replies.
 *
 * What a gateway can get wrong (or a peer on the internal port can forge)
 * reaches: client_id building, the lazy session decode (phpser of ext_data),
 * the handshake data of ON_WEBSOCKET_CONNECT (phpser of the body), the
 * session write-back (phpser_encode of a changed session) and the pushes.
 * Every frame the worker sends back is captured by a fake transport and
 * checked: it encodes, and a SET_SESSION body decodes as an array.
 *
 * Built with business/events.c, api.c, api_push.c, api_session.c,
 * api_query.c, query.c and the shared library; link_send and the transport
 * are this file's. The application runs no query itself; events.c's
 * stale-session guard does (see FAKE_PORT). */
#include "api.h"
#include "bw.h"
#include "events.h"
#include "gw_api.h"
#include "gwp.h"
#include "links.h"
#include "log.h"
#include "phpser.h"
#include "query.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static struct link fake_link;
static size_t frames_out;

static void check_out(const struct gwp_header *h, const void *ext, size_t ext_len, const void *body, size_t body_len)
{
    struct buf b = BUF_INIT;
    REQUIRE(gwp_encode(&b, h, ext, ext_len, body, body_len) == 0);
    buf_free(&b);
    if (h->cmd == GWP_CMD_SET_SESSION && ext_len > 0) {
        msgpack_zone z;
        REQUIRE(msgpack_zone_init(&z, 1024));
        msgpack_object v;
        REQUIRE(phpser_decode(ext, ext_len, &z, &v, NULL, NULL, 0) == 0);
        REQUIRE(v.type == MSGPACK_OBJECT_MAP);
        msgpack_zone_destroy(&z);
    }
    frames_out++;
}

/* events.c writes the session back through link_send (links.c in the
 * binary). */
int link_send(struct link *l, const struct gwp_header *h, const void *ext, size_t ext_len, const void *body,
              size_t body_len)
{
    REQUIRE(l == &fake_link);
    check_out(h, ext, ext_len, body, body_len);
    return 0;
}

/* The one gateway this worker links to. A frame naming another gateway
 * address (its local_ip/local_port) is about a gateway we do not know,
 * as in a worker; so the stale-session guard's GET_SESSION query only ever
 * connects to this address, where nothing listens (refused at once: the
 * guard then keeps the event's session). Nothing leaves loopback. */
#define FAKE_IP 0x7f000001u /* 127.0.0.1 */
#define FAKE_PORT 1

#include "fake_transport.h"

/* ---- the application: what a typical handler does with its inputs ---- */

static void touch(const msgpack_object *v, int depth)
{
    if (depth > 80 || !v)
        return;
    if (v->type == MSGPACK_OBJECT_MAP)
        for (uint32_t i = 0; i < v->via.map.size; i++) {
            touch(&v->via.map.ptr[i].key, depth + 1);
            touch(&v->via.map.ptr[i].val, depth + 1);
        }
    else if (v->type == MSGPACK_OBJECT_STR && v->via.str.size > 0)
        REQUIRE(v->via.str.ptr != NULL);
}

static int app_connect(const char *client_id)
{
    REQUIRE(strlen(client_id) == 20);
    touch(gw_session(), 0);
    return gw_session_set_int("connected", 1);
}

static int app_ws(const char *client_id, const msgpack_object *data)
{
    (void)client_id;
    REQUIRE(data && data->type == MSGPACK_OBJECT_MAP);
    touch(data, 0);
    return 0;
}

static int app_message(const char *client_id, const char *data, size_t len)
{
    REQUIRE(data[len] == '\0');
    touch(gw_session(), 0);
    const msgpack_object *uid = gw_session_get("uid");
    if (uid)
        touch(uid, 0);
    /* The first byte picks what the handler does. */
    switch (len ? (unsigned char)data[0] % 6 : 0) {
    case 0:
        gw_send_to_current_client(data, len, 0);
        break;
    case 1:
        gw_session_set_str("last", data);
        break;
    case 2:
        gw_session_unset("last");
        break;
    case 3: {
        msgpack_object m = {.type = MSGPACK_OBJECT_MAP};
        gw_session_replace(&m);
        break;
    }
    case 4:
        gw_bind_uid(client_id, len > 1 ? data + 1 : "u");
        gw_join_group(client_id, "g");
        break;
    case 5:
        gw_send_to_client(len > 1 ? data + 1 : client_id, data, len, 0);
        break;
    }
    return 0;
}

static int app_close(const char *client_id)
{
    (void)client_id;
    touch(gw_session(), 0);
    return 0;
}

static const struct gw_app app = {
    .api_version = GW_API_VERSION,
    .on_connect = app_connect,
    .on_websocket_connect = app_ws,
    .on_message = app_message,
    .on_close = app_close,
};

static struct business_cfg cfg = {.slowCallbackMs = 1000000, .sendToGatewayBufferSize = 10240000};
static struct bw bw;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!bw.cfg) {
        log_init("business", LOG_ERROR + 1);
        bw.cfg = &cfg;
        bw.app = &app;
        msgpack_zone_init(&bw.ctx.zone, 4096);
        fake_link.fd = -1;
        fake_link.state = LINK_UP;
        fake_link.ip = FAKE_IP;
        fake_link.port = FAKE_PORT;
        bw.query = query_new(&bw);
        strcpy(fake_link.addr, "127.0.0.1:2000");
        api_start(&bw, &transport);
    }
    /* An exact-size copy: ASan sees a read past the stream's end. */
    uint8_t *in = malloc(size ? size : 1);
    REQUIRE(in);
    memcpy(in, data, size);
    size_t pos = 0;
    while (pos < size) {
        struct gwp_frame f;
        size_t used;
        char err[160];
        int r = gwp_decode(in + pos, size - pos, GWP_DEFAULT_MAX_PACK_LEN, &f, &used, err, sizeof err);
        if (r != GWP_OK)
            break;
        events_dispatch(&bw, &fake_link, &f);
        REQUIRE(!bw.ctx.active);
        pos += used;
    }
    free(in);
    return 0;
}
