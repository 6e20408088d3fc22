/* sendring: many socket sends submitted with one system call (io_uring),
 * for outq.c's flush pass (clientWritePath=uring, issue 11).
 *
 * Built over liburing when the build finds it (HAVE_LIBURING). Without it,
 * or when the kernel refuses io_uring (too old, kernel.io_uring_disabled,
 * a seccomp filter), or when GW_NO_IO_URING is set in the environment,
 * sendring_new returns NULL with the reason and the caller writes with one
 * send() per client instead. */
#ifndef GW_GATEWAY_SENDRING_H
#define GW_GATEWAY_SENDRING_H

#include <stddef.h>
#include <stdint.h>

struct sendring;

/* A ring for up to entries sends per run, or NULL with why (whylen bytes). */
struct sendring *sendring_new(unsigned entries, char *why, size_t whylen);
void sendring_free(struct sendring *r);
/* Queues a send of len bytes at p on fd, never blocking (a full socket
 * completes with -EAGAIN or a short count), tagged with tag. p must stay
 * valid until sendring_run returns. 0, or -1 when entries are queued already. */
int sendring_add(struct sendring *r, int fd, const void *p, size_t len, uint32_t tag);
/* Submits what was queued, waits for every completion and calls
 * done(arg, tag, res) for each (res: bytes sent, or -errno). Returns 0, or
 * -errno: the kernel refused the submission (nothing sent, no done()), or
 * took only some of it (done() for those, -EIO). Either way the sends with
 * no done() were not made (the caller sends them another way) and the ring
 * is unusable: free it. */
int sendring_run(struct sendring *r, void (*done)(void *arg, uint32_t tag, int res), void *arg);

#endif
