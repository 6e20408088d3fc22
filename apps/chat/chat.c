/* chat: a small multi-room chat with nicknames (the classic GatewayWorker
 * demo), served with its page apps/chat/www (set the gateway's webRoot to
 * it). Messages are JSON text frames.
 *
 * Client -> server:
 *   {"type":"login", "name":"Ann", "room":"lobby"}
 *       joins the room (a gateway group; a second login moves to another
 *       room), stores name and room in the session (so any worker process,
 *       or a PHP worker, knows who the client is)
 *   {"type":"say", "to_client_id":"all" | "<client_id>", "content":"..."}
 *       to the whole room, or privately to one member of the room
 *   {"type":"pong"}   the answer to the gateway's {"type":"ping"}; ignored
 *
 * Server -> client:
 *   {"type":"welcome", "client_id", "name", "room", "time",
 *    "members":[{"client_id","name"}...]}          to the newcomer (itself included)
 *   {"type":"login", "client_id", "name", "room", "time"}   to the rest of the room
 *   {"type":"say", "from_client_id", "from_name", "to_client_id" ("all" or an id),
 *    "to_name" (private only), "content", "time"}
 *       public: to the whole room (the sender included);
 *       private: to the addressee and a copy to the sender
 *   {"type":"logout", "client_id", "name", "time"}   to the room when a member leaves
 *   {"type":"error", "message"}                     to the sender of a bad request
 *
 * Names, rooms and contents are plain text: the server never produces HTML,
 * and the page renders everything with textContent. Input is validated
 * (JSON object, string types, lengths, no control characters in names,
 * rooms limited to [A-Za-z0-9_.-]); bad input gets an error, never a crash.
 *
 * JSON is parsed and encoded with jansson, which the business binary links
 * (its symbols are resolved when the worker loads this .so, like gw_*). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "gw_api.h"

#define MAX_MESSAGE 8192   /* bytes of one client frame */
#define MAX_NAME 32        /* bytes of a nickname (UTF-8) */
#define MAX_ROOM 32        /* bytes of a room name */
#define MAX_CONTENT 2000   /* bytes of one chat message */
#define MAX_MEMBERS 1000   /* members listed in a welcome */

static void now_text(char *out, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm);
}

/* Encodes and releases obj; NULL on failure. The caller frees the text. */
static char *encode(json_t *obj)
{
    char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    return s;
}

static int send_current(json_t *obj)
{
    char *s = encode(obj);
    if (!s)
        return -1;
    int r = gw_send_to_current_client(s, strlen(s), 0);
    free(s);
    return r;
}

static int send_room(const char *room, json_t *obj, const char *exclude)
{
    char *s = encode(obj);
    if (!s)
        return -1;
    const char *groups[] = {room};
    const char *ex[] = {exclude};
    int r = gw_send_to_group(groups, 1, s, strlen(s), exclude ? ex : NULL, exclude ? 1 : 0, 0);
    free(s);
    return r;
}

static int send_error(const char *message)
{
    return send_current(json_pack("{s:s, s:s}", "type", "error", "message", message));
}

/* ---- msgpack helpers (sessions) ---- */

/* The STR value under key in a session MAP, copied into out; 0 or -1. */
static int map_str(const msgpack_object *map, const char *key, char *out, size_t cap)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return -1;
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == klen &&
            memcmp(kv->key.via.str.ptr, key, klen) == 0) {
            if (kv->val.type != MSGPACK_OBJECT_STR || kv->val.via.str.size >= cap)
                return -1;
            memcpy(out, kv->val.via.str.ptr, kv->val.via.str.size);
            out[kv->val.via.str.size] = 0;
            return 0;
        }
    }
    return -1;
}

/* The current client's name and room from its session; 0 when logged in. */
static int current_user(char *name, char *room)
{
    const msgpack_object *s = gw_session();
    if (map_str(s, "name", name, MAX_NAME + 1) < 0 || map_str(s, "room", room, MAX_ROOM + 1) < 0)
        return -1;
    return name[0] && room[0] ? 0 : -1;
}

/* ---- validation ---- */

/* A UTF-8 string (jansson guarantees valid UTF-8) of 1..max bytes after
 * trimming spaces, without control characters; trimmed into out. */
static int valid_name(const char *in, char *out, size_t max)
{
    while (*in == ' ')
        in++;
    size_t n = strlen(in);
    while (n > 0 && in[n - 1] == ' ')
        n--;
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
        /* U+0080..U+009F (C1 controls) are C2 80..C2 9F in UTF-8. */
        if (c == 0xc2 && i + 1 < n && (unsigned char)in[i + 1] < 0xa0)
            return 0;
    }
    memcpy(out, in, n);
    out[n] = 0;
    return 1;
}

static int valid_room(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_ROOM || strcmp(s, "0") == 0) /* PHP treats "0" as no group */
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
            return 0;
    return 1;
}

static int valid_client_id(const char *s)
{
    size_t n = strlen(s);
    if (n != 20)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* ---- the commands ---- */

static int leave_room(const char *client_id, const char *name, const char *room)
{
    char t[32];
    now_text(t, sizeof t);
    gw_leave_group(client_id, room);
    return send_room(room, json_pack("{s:s, s:s, s:s, s:s}", "type", "logout", "client_id", client_id,
                                     "name", name, "time", t), NULL);
}

/* Adds the members of room (from their sessions) to the JSON array. */
static void list_members(const char *client_id, const char *name, const char *room, json_t *members)
{
    struct gw_result res = {0};
    json_array_append_new(members, json_pack("{s:s, s:s}", "client_id", client_id, "name", name));
    if (gw_get_client_sessions_by_group(room, &res) == 0 && res.value.type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < res.value.via.map.size && json_array_size(members) < MAX_MEMBERS; i++) {
            const msgpack_object_kv *kv = &res.value.via.map.ptr[i];
            char id[32], other[MAX_NAME + 1], their_room[MAX_ROOM + 1];
            if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size != 20)
                continue;
            memcpy(id, kv->key.via.str.ptr, 20);
            id[20] = 0;
            /* Skip ourselves, and members whose login is still in flight
             * (their own login message will announce them). */
            if (strcmp(id, client_id) == 0 || map_str(&kv->val, "name", other, sizeof other) < 0 ||
                map_str(&kv->val, "room", their_room, sizeof their_room) < 0 || strcmp(their_room, room) != 0)
                continue;
            json_array_append_new(members, json_pack("{s:s, s:s}", "client_id", id, "name", other));
        }
    }
    gw_result_free(&res);
}

static int do_login(const char *client_id, json_t *msg)
{
    const char *name_in = json_string_value(json_object_get(msg, "name"));
    const char *room = json_string_value(json_object_get(msg, "room"));
    char name[MAX_NAME + 1], old_name[MAX_NAME + 1], old_room[MAX_ROOM + 1];
    if (!name_in || !valid_name(name_in, name, MAX_NAME))
        return send_error("name: 1 to 32 bytes of text, no control characters");
    if (!room || !valid_room(room))
        return send_error("room: 1 to 32 letters, digits, '_', '-' or '.'");
    if (current_user(old_name, old_room) == 0 && strcmp(old_room, room) != 0)
        leave_room(client_id, old_name, old_room);

    int r;
    if ((r = gw_session_set_str("name", name)) < 0 || (r = gw_session_set_str("room", room)) < 0)
        return r;
    /* Join first, then announce, then list: a member logging in at the same
     * time on another worker is either in our list or announces itself to
     * us after we joined. */
    if ((r = gw_join_group(client_id, room)) < 0)
        return r;
    char t[32];
    now_text(t, sizeof t);
    send_room(room, json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "login", "client_id", client_id,
                              "name", name, "room", room, "time", t), client_id);
    json_t *members = json_array();
    if (!members)
        return -1;
    list_members(client_id, name, room, members);
    return send_current(json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "type", "welcome", "client_id", client_id,
                                  "name", name, "room", room, "time", t, "members", members));
}

static int do_say(const char *client_id, json_t *msg)
{
    char name[MAX_NAME + 1], room[MAX_ROOM + 1];
    if (current_user(name, room) < 0)
        return send_error("log in first");
    const char *to = json_string_value(json_object_get(msg, "to_client_id"));
    json_t *content_j = json_object_get(msg, "content");
    const char *content = json_string_value(content_j);
    if (!to)
        to = "all";
    if (!content)
        return send_error("content: a string");
    size_t clen = json_string_length(content_j);
    if (clen == 0 || clen > MAX_CONTENT || strlen(content) != clen)
        return send_error("content: 1 to 2000 bytes of text");
    char t[32];
    now_text(t, sizeof t);
    if (strcmp(to, "all") == 0)
        return send_room(room, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "say", "from_client_id", client_id,
                                         "from_name", name, "to_client_id", "all", "content", content, "time", t),
                         NULL);
    if (!valid_client_id(to))
        return send_error("to_client_id: \"all\" or a client_id");
    /* Private: only to a member of the same room. */
    struct gw_result res = {0};
    char to_name[MAX_NAME + 1], to_room[MAX_ROOM + 1];
    int found = gw_get_session(to, &res) == 0 && map_str(&res.value, "name", to_name, sizeof to_name) == 0 &&
                map_str(&res.value, "room", to_room, sizeof to_room) == 0 && strcmp(to_room, room) == 0;
    gw_result_free(&res);
    if (!found)
        return send_error("that member is not in this room any more");
    json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type", "say", "from_client_id", client_id,
                          "from_name", name, "to_client_id", to, "to_name", to_name, "content", content, "time", t);
    if (!m)
        return -1;
    char *s = encode(m);
    if (!s)
        return -1;
    int r = gw_send_to_client(to, s, strlen(s), 0);
    if (strcmp(to, client_id) != 0)
        gw_send_to_current_client(s, strlen(s), 0);
    free(s);
    return r;
}

static int on_message(const char *client_id, const char *data, size_t len)
{
    if (len > MAX_MESSAGE)
        return send_error("message too long");
    json_error_t jerr;
    json_t *msg = json_loadb(data, len, 0, &jerr);
    if (!msg || !json_is_object(msg)) {
        json_decref(msg);
        return send_error("not a JSON object");
    }
    const char *type = json_string_value(json_object_get(msg, "type"));
    int r = 0;
    if (!type)
        r = send_error("type: a string");
    else if (strcmp(type, "pong") == 0)
        r = 0;
    else if (strcmp(type, "login") == 0)
        r = do_login(client_id, msg);
    else if (strcmp(type, "say") == 0)
        r = do_say(client_id, msg);
    else
        r = send_error("unknown type");
    json_decref(msg);
    return r;
}

static int on_close(const char *client_id)
{
    char name[MAX_NAME + 1], room[MAX_ROOM + 1];
    if (current_user(name, room) < 0)
        return 0;
    char t[32];
    now_text(t, sizeof t);
    /* The gateway already removed the client from its groups. */
    return send_room(room, json_pack("{s:s, s:s, s:s, s:s}", "type", "logout", "client_id", client_id,
                                     "name", name, "time", t), NULL);
}

static const struct gw_app chat_app = {
    .api_version = GW_API_VERSION,
    .on_message = on_message,
    .on_close = on_close,
};

const struct gw_app *gw_app(void) { return &chat_app; }
