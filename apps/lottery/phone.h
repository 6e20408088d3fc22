/* phone: what a phone page may do — sign in, and send bullet comments. */
#ifndef LOTTERY_PHONE_H
#define LOTTERY_PHONE_H

#include <jansson.h>

#include "req.h"

/* tag names this process in bullet comment ids. 0, or -1 (out of memory). */
int phone_init(const char *tag);
void phone_done(void);
/* Marks the current client as the participant `me` (session and uid). */
void phone_bind(const char *client_id, const json_t *me);
void phone_signin(struct req *q);
void phone_danmaku(struct req *q);
/* The client is gone: forget its rate limit. */
void phone_closed(const char *client_id);

#endif
