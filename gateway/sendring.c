#include "sendring.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_LIBURING
#include <liburing.h>
#include <sys/socket.h>

struct sendring {
    struct io_uring ring;
    unsigned entries, queued;
};

struct sendring *sendring_new(unsigned entries, char *why, size_t whylen)
{
    const char *off = getenv("GW_NO_IO_URING");
    if (off && *off && strcmp(off, "0") != 0) {
        snprintf(why, whylen, "disabled by GW_NO_IO_URING");
        return NULL;
    }
    struct sendring *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    /* One submission per flush pass, no SQPOLL thread: the point is fewer
     * system calls on the loop's own core, not another core. */
    int rc = io_uring_queue_init(entries, &r->ring, 0);
    if (rc < 0) {
        snprintf(why, whylen, "io_uring_queue_init: %s", strerror(-rc));
        free(r);
        return NULL;
    }
    r->entries = entries;
    return r;
}

void sendring_free(struct sendring *r)
{
    if (!r)
        return;
    io_uring_queue_exit(&r->ring);
    free(r);
}

int sendring_add(struct sendring *r, int fd, const void *p, size_t len, uint32_t tag)
{
    if (r->queued >= r->entries)
        return -1;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (!sqe)
        return -1;
    /* MSG_DONTWAIT: a full socket completes at once with -EAGAIN (the caller
     * hands the bytes to lws) instead of waiting for room inside the ring. */
    io_uring_prep_send(sqe, fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, tag);
    r->queued++;
    return 0;
}

int sendring_run(struct sendring *r, void (*done)(void *arg, uint32_t tag, int res), void *arg)
{
    unsigned want = r->queued;
    if (!want)
        return 0;
    r->queued = 0;
    int rc;
    do
        rc = io_uring_submit_and_wait(&r->ring, want);
    while (rc == -EINTR);
    if (rc < 0)
        return rc; /* the kernel took none of them (io_uring_enter's rule) */
    /* The kernel may take fewer than asked (it stops at an entry it cannot
     * start, e.g. out of memory) and then does not wait: collect exactly
     * what it took. A send reported to no one would be sent again by the
     * caller's fallback, so a wait is retried on EINTR. */
    unsigned submitted = (unsigned)rc, got = 0;
    while (got < submitted) {
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&r->ring, head, cqe)
        {
            done(arg, (uint32_t)io_uring_cqe_get_data64(cqe), cqe->res);
            if (++seen + got == submitted)
                break;
        }
        io_uring_cq_advance(&r->ring, seen);
        got += seen;
        if (got < submitted) {
            do
                rc = io_uring_wait_cqe(&r->ring, &cqe);
            while (rc == -EINTR);
            if (rc < 0)
                return rc; /* not expected; the caller drops the ring */
        }
    }
    /* Entries the kernel did not take are still in the submission queue: a
     * later submit would send them from buffers that are gone. Only dropping
     * the ring discards them, so say so. */
    return submitted < want ? -EIO : 0;
}

#else /* built without liburing */

struct sendring {
    int unused;
};

struct sendring *sendring_new(unsigned entries, char *why, size_t whylen)
{
    (void)entries;
    snprintf(why, whylen, "built without liburing");
    return NULL;
}

void sendring_free(struct sendring *r) { (void)r; }

int sendring_add(struct sendring *r, int fd, const void *p, size_t len, uint32_t tag)
{
    (void)r, (void)fd, (void)p, (void)len, (void)tag;
    return -1;
}

int sendring_run(struct sendring *r, void (*done)(void *arg, uint32_t tag, int res), void *arg)
{
    (void)r, (void)done, (void)arg;
    return -ENOSYS;
}

#endif
