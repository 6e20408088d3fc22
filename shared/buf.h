/* buf: a growable byte buffer with a read offset.
 *
 * Used for connection input (append at the end, consume from the front) and for
 * encoder output. The buffer owns `data`; pointers into it are valid only until
 * the next call that appends (it may move) or buf_free(). An empty buffer holds
 * no allocation at all, so idle connections cost nothing. */
#ifndef GW_BUF_H
#define GW_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data;  /* owned; NULL while nothing was ever appended */
    size_t off;     /* bytes already consumed from the front */
    size_t len;     /* end of valid bytes (data[off..len) are unread) */
    size_t cap;
};

#define BUF_INIT {NULL, 0, 0, 0}

/* Returns 0, or -ENOMEM (the buffer is then unchanged). */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reserve room for n more bytes; returns a pointer to write them or NULL. Call buf_commit after. */
uint8_t *buf_reserve(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t n);

static inline size_t buf_avail(const struct buf *b) { return b->len - b->off; }
/* Never NULL + offset: an empty buffer may have no allocation yet. */
static inline const uint8_t *buf_head(const struct buf *b) { return b->data ? b->data + b->off : (const uint8_t *)""; }

/* Drop n unread bytes from the front; releases the memory once empty. */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

#endif
