/* proto: the lottery's message syntax, pure functions (no I/O).
 *
 * Field checks with the limits of docs/lottery-protocol.md §7, and the
 * builders of the reply and error envelopes (§1). The glue (lottery.c)
 * decides who may send what; the store decides what the state allows. */
#ifndef LOTTERY_PROTO_H
#define LOTTERY_PROTO_H

#include <stddef.h>

#include <jansson.h>

#define PROTO_MAX_MSG 4096              /* a phone's or screen's message */
#define PROTO_MAX_ADMIN_MSG (4u << 20)  /* an admin's (an import) */
#define PROTO_MAX_ROWS 20000
#define PROTO_MAX_EMP 32
#define PROTO_MAX_NAME 64
#define PROTO_MAX_DEPT 64
#define PROTO_MAX_TITLE 64
#define PROTO_MAX_PRIZE_NAME 64
#define PROTO_MAX_REASON 200
#define PROTO_MAX_RID 64
#define PROTO_MAX_DANMAKU_CHARS 40
#define PROTO_MAX_TOKEN 64

/* Number of code points of valid UTF-8 s[0..len), or -1 if it is not valid
 * UTF-8 (overlongs, surrogates and values above U+10FFFF are invalid). */
long proto_utf8_chars(const char *s, size_t len);
/* 1 if s is valid UTF-8 without control characters (C0, DEL, C1) and its
 * byte length is within [min, max]. */
int proto_text_ok(const char *s, size_t min, size_t max);
/* 1 for 1..32 bytes of [A-Za-z0-9_.-]. */
int proto_emp_no_ok(const char *s);
/* 1 for 1..64 bytes of [A-Za-z0-9_.:-]. */
int proto_rid_ok(const char *s);
/* 1 for 1..64 bytes of [0-9a-f] (a sign-in token). */
int proto_token_ok(const char *s);

/* Copies s into out (cap bytes) without leading and trailing ASCII spaces
 * and tabs; 0, or -1 if it does not fit. */
int proto_trim(const char *s, char *out, size_t cap);

/* Checks an import's rows: an array of 1..PROTO_MAX_ROWS objects with a
 * valid empNo, name (trimmed) and optional dept, no empNo twice. Returns a
 * new array of the normalised rows ({empNo,name,dept}), or NULL with the
 * first problem ("row 12: empNo ...") in err. */
json_t *proto_check_rows(const json_t *rows, char *err, size_t errlen);

/* The envelopes (malloc'd text, NULL on failure). result's members are
 * copied into the reply; rid and cmd may be NULL. */
char *proto_reply(const char *rid, const char *cmd, const json_t *result, int replayed);
char *proto_error(const char *rid, const char *cmd, const char *code, const char *message);
/* {"type": type, ...body's members} */
char *proto_push(const char *type, const json_t *body);

#endif
