/* req: the message being handled — its fields, its answer, the pushes it
 * causes, and the sender's gateway session (where its role lives, so any
 * worker process knows who sent it). Valid inside on_message only. */
#ifndef LOTTERY_REQ_H
#define LOTTERY_REQ_H

#include <stddef.h>

#include <jansson.h>

#include "store.h"

#define GROUP_PHONES "lottery:phones"
#define GROUP_SCREENS "lottery:screens"
#define GROUP_ADMINS "lottery:admins"

struct req {
    const char *client_id;
    json_t *msg;        /* the decoded message, an object */
    const char *type;
    const char *rid;    /* a valid request id, or NULL */
    struct store *store;
};

/* Sends s (malloc'd, freed here; NULL: nothing) to the sender. */
void req_send_text(char *s);
void req_reply(const char *rid, const char *cmd, const json_t *result, int replayed);
void req_fail(const char *rid, const char *cmd, const char *code, const char *message);
/* The store's error code and message. */
void req_fail_store(const char *rid, const char *cmd, const struct store_err *e);
/* {type, body's members} to up to three groups (NULL: fewer). */
void req_push(const char *type, const json_t *body, const char *g1, const char *g2, const char *g3);
/* To phones, screens and admins. */
void req_push_all(const char *type, const json_t *body);

/* A string of the sender's session into out: 0, or -1 if absent or too long. */
int req_session_str(const char *key, char *out, size_t cap);
int req_is_role(const char *want);

/* Fields of the message. req_str: the string or NULL. req_int / req_text
 * answer bad_request themselves and return -1 when the field is wrong
 * (req_text trims and checks text with proto_text_ok). */
const char *req_str(const struct req *q, const char *key);
int req_int(const struct req *q, const char *key, long long min, long long max, long long *out);
int req_text(const struct req *q, const char *key, size_t min, size_t max, char *out, size_t cap);

#endif
