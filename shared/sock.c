#include "sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fill_addr(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        *len = sizeof *a4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        *len = sizeof *a6;
        return 0;
    }
    return -1;
}

int sock_listen(const char *host, uint16_t port, int reuseport, int backlog, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (fill_addr(host, port, &ss, &sl) < 0) {
        snprintf(err, errlen, "cannot listen on %s:%u: not an IP address", host, port);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot listen on %s:%u: socket: %s", host, port, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, backlog) < 0) {
        snprintf(err, errlen, "cannot listen on %s:%u: %s", host, port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Small messages must not wait: Nagle held a write while an earlier one
 * was unacknowledged, and the peer's delayed ACK made that 40 ms (a phone's
 * first state after its handshake took ~40 ms; ~1 ms with this). Every
 * socket we accept or connect writes whole frames, so nothing is gained by
 * coalescing. */
static void no_delay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* ss as text ("::ffff:" stripped from mapped IPv4) and its port. */
static void addr_text(const struct sockaddr_storage *ss, char *ip, size_t ipcap, uint16_t *port)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, (socklen_t)ipcap);
        *port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, (socklen_t)ipcap);
        if (strncmp(ip, "::ffff:", 7) == 0 && strchr(ip, '.'))
            memmove(ip, ip + 7, strlen(ip + 7) + 1);
        *port = ntohs(a->sin6_port);
    } else {
        snprintf(ip, ipcap, "?");
        *port = 0;
    }
}

int sock_accept(int lfd, char *ip, size_t ipcap, uint16_t *port)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return -1;
    no_delay(fd);
    addr_text(&ss, ip, ipcap, port);
    return fd;
}

void sock_peer(int fd, char *ip, size_t ipcap, uint16_t *port)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
        ss.ss_family = AF_UNSPEC;
    addr_text(&ss, ip, ipcap, port);
}

int sock_connect(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (fill_addr(ip, port, &ss, &sl) < 0)
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    no_delay(fd);
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

void sock_keepalive(int fd)
{
    int one = 1, idle = 30, intvl = 10, cnt = 3;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

int sock_flush(int fd, struct buf *out)
{
    while (buf_avail(out) > 0) {
        ssize_t w = write(fd, buf_head(out), buf_avail(out));
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno == EAGAIN ? 0 : -errno;
        buf_consume(out, (size_t)w);
    }
    return 0;
}
