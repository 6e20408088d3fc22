/* state_int: the types of the gateway state (gws) shared by its two files,
 * state.c (the table: clients, sessions, uid and group indexes) and
 * commands.c (the command engine), and the table operations the commands
 * use. Nothing outside those two files includes it. gws__ is internal. */
#ifndef GW_GATEWAY_STATE_INT_H
#define GW_GATEWAY_STATE_INT_H

#include <stddef.h>
#include <stdint.h>

/* uthash's default answer to a failed allocation is exit(); a gateway must
 * survive it, so every HASH_ADD site declares `oom_` and checks it. */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) \
    do {                         \
        oom_ = 1;                \
    } while (0)
#include <uthash.h>
#include <utlist.h>

#include "ptab.h"
#include "state.h"

enum {
    CF_JOINED = 1u,    /* joined a group once: SELECT shows an array, maybe empty, not null */
    CF_KICKED = 2u,    /* KICK: flushing then closing; no more sends, no second KICK */
    CF_DESTROYED = 4u, /* DESTROY: dropped; nothing more at all */
    CF_DEAD = 8u,      /* removed while a command runs; freed when it returns */
};

struct gws_sess {
    uint32_t len;
    uint8_t data[];
};

struct gws_client {
    struct gws_client *prev, *next; /* every client in accept order (utlist: head->prev is the tail) */
    void *handle;                   /* the transport's; once CF_DEAD: the next zombie */
    struct gws_sess *sess;          /* NULL = no session (PHP's '') */
    struct gws_uidm *uid;           /* NULL = unbound */
    struct gws_member *groups;      /* memberships in join order, linked by c_prev/c_next */
    uint32_t id;
    uint8_t flags;
};

/* A uid and the clients bound to it, in bind order. */
struct gws_uid {
    UT_hash_handle hh;
    struct gws_uidm *members;
    uint32_t count;
    uint32_t len;
    char name[]; /* len bytes + NUL */
};

/* One binding; allocated only for bound clients so idle ones stay small. */
struct gws_uidm {
    struct gws_client *c;
    struct gws_uid *u;
    struct gws_uidm *prev, *next;
};

struct gws_group {
    UT_hash_handle hh;
    struct gws_member *members; /* join order, linked by g_prev/g_next */
    uint32_t count;
    uint32_t len;
    char name[];
};

/* One client in one group, on both the group's list and the client's. */
struct gws_member {
    struct gws_client *c;
    struct gws_group *g;
    struct gws_member *g_prev, *g_next;
    struct gws_member *c_prev, *c_next;
};

struct gws {
    const struct gws_ops *ops;
    void *ctx;
    struct gws_client *clients; /* includes zombies until they are reaped */
    size_t nclients;            /* live ones */
    struct ptab ids;            /* connection id -> client */
    struct ptab members;        /* (group, client) -> membership */
    struct gws_uid *uids;
    struct gws_group *groups;
    size_t nuids, ngroups;
    uint32_t last_id;
    unsigned in_exec;
    struct gws_client *zombies;
};

/* ---- the table's operations (state.c) ---- */

struct gws_uid *gws__uid_find(struct gws *s, const void *name, size_t len);
struct gws_group *gws__group_find(struct gws *s, const void *name, size_t len);
/* Binds c to the uid (moving it to the end of the uid's list, as PHP's
 * unset-then-add does even for the same uid). 0 or -ENOMEM. */
int gws__uid_bind(struct gws *s, struct gws_client *c, const void *name, size_t len);
void gws__uid_unbind(struct gws *s, struct gws_client *c);
struct gws_member *gws__member_find(struct gws *s, struct gws_group *g, struct gws_client *c);
/* Frees m, and its group once empty. */
void gws__member_drop(struct gws *s, struct gws_member *m);
/* Joins c to the group (no change when already a member). 0 or -ENOMEM. */
int gws__group_join(struct gws *s, struct gws_client *c, const void *name, size_t len);
/* Stores a copy of p[0..n) as c's session (n = 0: none). 0, -ENOMEM, -EOVERFLOW. */
int gws__set_session(struct gws_client *c, const void *p, size_t n);
/* PHP empty() of the stored session: none, "" or "0". */
int gws__session_empty(const struct gws_client *c);
/* Frees the clients removed while a command ran (see gws_client_remove). */
void gws__reap(struct gws *s);

#endif
