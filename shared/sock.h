/* sock: the few socket calls every role makes, with errors as text. */
#ifndef GW_SOCK_H
#define GW_SOCK_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* A non-blocking listening TCP socket on host:port (IPv4 or IPv6 literal).
 * reuseport sets SO_REUSEPORT (gateway processes sharing the client port).
 * Returns the fd, or -1 with "cannot listen on H:P: reason" in err. */
int sock_listen(const char *host, uint16_t port, int reuseport, int backlog, char *err, size_t errlen);
/* accept4 non-blocking + cloexec; fills the peer as text ("::ffff:" stripped). */
int sock_accept(int lfd, char *ip, size_t ipcap, uint16_t *port);
/* The peer of a connected socket, as sock_accept gives it ("?" if unknown). */
void sock_peer(int fd, char *ip, size_t ipcap, uint16_t *port);
/* Starts a non-blocking connect to ip:port; returns fd (connect may be in progress) or -1. */
int sock_connect(const char *ip, uint16_t port);
/* Writes as much of out as the socket takes now (a non-blocking fd),
 * consuming what was written. Returns 0 when out is empty or the socket is
 * full (EAGAIN), or -errno on a write error. */
int sock_flush(int fd, struct buf *out);
/* TCP keepalive with short probes, for long-lived internal links. */
void sock_keepalive(int fd);

#endif
