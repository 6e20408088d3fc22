/* floor: what one broadcast delivery costs the kernel, without a gateway.
 *
 * The gateway's broadcast writes one small WebSocket frame to each of N
 * sockets. This probe does only that: it opens N TCP connections over
 * loopback to a reader process of its own (which drains them), then writes
 * the same frame to every socket M times, one write() per socket and
 * delivery (--mode=write) or the same sends submitted to io_uring in batches
 * (--mode=uring, when built with liburing). It prints the writer's CPU time
 * per delivery (user + system, getrusage), the number `make bench` puts
 * beside the gateway's broadcast CPU per delivery. Not a test: it asserts
 * nothing about time; it fails only when bytes go missing.
 *
 * floor --mode=write|uring [--conns=10000] [--msgs=200] [--size=32]
 *       [--reader-cpu=C] [--label=NAME] [--json=FILE] */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_LIBURING
#include <liburing.h>
#endif

#define READER_DEADLINE_S 300

static long opt_long(int argc, char **argv, const char *name, long def)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=')
            return strtol(argv[i] + n + 1, NULL, 10);
    return def;
}

static const char *opt_str(int argc, char **argv, const char *name, const char *def)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=')
            return argv[i] + n + 1;
    return def;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The reader: connects n sockets to port, then drains them until want bytes
 * arrived. Exit status 0 when they all did. */
static int reader(int port, int n, uint64_t want, int cpu)
{
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
    }
    int ep = epoll_create1(0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
            fprintf(stderr, "floor reader: connection %d: %s\n", i, strerror(errno));
            return 1;
        }
        fcntl(fd, F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    uint64_t got = 0;
    static char buf[65536];
    struct epoll_event evs[512];
    double end = now_s() + READER_DEADLINE_S;
    while (got < want && now_s() < end) {
        int k = epoll_wait(ep, evs, 512, 1000);
        for (int i = 0; i < k; i++) {
            ssize_t r;
            while ((r = read(evs[i].data.fd, buf, sizeof buf)) > 0)
                got += (uint64_t)r;
        }
    }
    if (got != want)
        fprintf(stderr, "floor reader: %llu of %llu bytes\n", (unsigned long long)got, (unsigned long long)want);
    return got == want ? 0 : 1;
}

/* Writes the whole frame to fd, waiting for room when the socket is full
 * (counted: a full socket means the floor measured more than one write). */
static int write_all(int fd, const uint8_t *p, size_t len, long *waits)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, p + off, len - off);
        if (w > 0) {
            off += (size_t)w;
        } else if (w < 0 && errno == EAGAIN) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            poll(&pf, 1, 1000);
            (*waits)++;
        } else if (w < 0 && errno != EINTR) {
            return -1;
        }
    }
    return 0;
}

static int run_write(const int *fds, int n, long msgs, const uint8_t *frame, size_t len, long *waits)
{
    for (long m = 0; m < msgs; m++)
        for (int i = 0; i < n; i++)
            if (write_all(fds[i], frame, len, waits) < 0)
                return -1;
    return 0;
}

#ifdef HAVE_LIBURING
/* The same sends through io_uring: one SQE per socket, submitted in batches
 * of the ring's size, completions reaped as they come. A short send is
 * finished with write_all (counted as a wait). */
static int run_uring(const int *fds, int n, long msgs, const uint8_t *frame, size_t len, long *waits)
{
    struct io_uring ring;
    int rc = io_uring_queue_init(1024, &ring, 0);
    if (rc < 0) {
        fprintf(stderr, "floor: io_uring unavailable: %s\n", strerror(-rc));
        return -2;
    }
    long total = msgs * (long)n, queued = 0, done = 0;
    while (done < total) {
        struct io_uring_sqe *sqe;
        while (queued < total && (sqe = io_uring_get_sqe(&ring))) {
            int fd = fds[queued % n];
            io_uring_prep_send(sqe, fd, frame, len, MSG_DONTWAIT);
            io_uring_sqe_set_data64(sqe, (uint64_t)fd);
            queued++;
        }
        io_uring_submit_and_wait(&ring, 1);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            int fd = (int)io_uring_cqe_get_data64(cqe);
            if (cqe->res < 0 && cqe->res != -EAGAIN) {
                io_uring_queue_exit(&ring);
                return -1;
            }
            size_t sent = cqe->res > 0 ? (size_t)cqe->res : 0;
            if (sent < len) {
                (*waits)++;
                if (write_all(fd, frame + sent, len - sent, waits) < 0) {
                    io_uring_queue_exit(&ring);
                    return -1;
                }
            }
            seen++;
            done++;
        }
        io_uring_cq_advance(&ring, seen);
    }
    io_uring_queue_exit(&ring);
    return 0;
}
#endif

int main(int argc, char **argv)
{
    const char *mode = opt_str(argc, argv, "--mode", "write");
    int n = (int)opt_long(argc, argv, "--conns", 10000);
    long msgs = opt_long(argc, argv, "--msgs", 200);
    long size = opt_long(argc, argv, "--size", 32);
    int rcpu = (int)opt_long(argc, argv, "--reader-cpu", -1);
    const char *label = opt_str(argc, argv, "--label", mode);
    const char *json = opt_str(argc, argv, "--json", NULL);
    if (n < 1 || n > 19000 || msgs < 1 || size < 0 || size > 65535) {
        fprintf(stderr, "floor: --conns 1..19000, --msgs >= 1, --size 0..65535\n");
        return 2;
    }
    int uring = strcmp(mode, "uring") == 0;
    if (!uring && strcmp(mode, "write") != 0) {
        fprintf(stderr, "floor: --mode=write or --mode=uring\n");
        return 2;
    }
#ifndef HAVE_LIBURING
    if (uring) {
        printf("floor uring: skipped (built without liburing)\n");
        return 0;
    }
#endif
    /* The frame a gateway writes for a text message of `size` bytes. */
    size_t len = (size_t)size + (size < 126 ? 2 : 4);
    uint8_t *frame = malloc(len);
    frame[0] = 0x81;
    if (size < 126) {
        frame[1] = (uint8_t)size;
    } else {
        frame[1] = 126;
        frame[2] = (uint8_t)(size >> 8);
        frame[3] = (uint8_t)size;
    }
    memset(frame + len - (size_t)size, 'x', (size_t)size);

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 4096) < 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &al) < 0) {
        perror("floor: listen");
        return 1;
    }
    uint64_t want = (uint64_t)n * (uint64_t)msgs * len;
    pid_t child = fork();
    if (child == 0) {
        close(lfd);
        _exit(reader(ntohs(a.sin_port), n, want, rcpu));
    }
    int *fds = calloc((size_t)n, sizeof *fds);
    int one = 1;
    for (int i = 0; i < n; i++) {
        fds[i] = accept(lfd, NULL, NULL);
        if (fds[i] < 0) {
            perror("floor: accept");
            kill(child, SIGKILL);
            return 1;
        }
        fcntl(fds[i], F_SETFL, O_NONBLOCK);
        setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* as the gateway's sockets */
    }
    long waits = 0;
    double c0 = cpu_s(), t0 = now_s();
    int rc;
#ifdef HAVE_LIBURING
    rc = uring ? run_uring(fds, n, msgs, frame, len, &waits) : run_write(fds, n, msgs, frame, len, &waits);
#else
    rc = run_write(fds, n, msgs, frame, len, &waits);
#endif
    double cpu = cpu_s() - c0, wall = now_s() - t0;
    int st = 0;
    if (rc == -2) { /* io_uring refused by this kernel or its settings */
        kill(child, SIGKILL);
        waitpid(child, &st, 0);
        printf("floor uring: skipped (io_uring unavailable here)\n");
        return 0;
    }
    waitpid(child, &st, 0);
    int ok = rc == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    double ops = (double)n * (double)msgs;
    printf("floor %s: %d sockets x %ld frames of %zu bytes: %.3f us CPU per delivery (%.2f s CPU, %.2f s wall, "
           "%ld waits for room)%s\n",
           mode, n, msgs, len, cpu * 1e6 / ops, cpu, wall, waits, ok ? "" : ": BYTES MISSING");
    if (json) {
        FILE *f = fopen(json, "w");
        if (f) {
            fprintf(f,
                    "{\"mode\":\"floor-%s\",\"label\":\"%s\",\"conns\":%d,\"connected\":%d,\"msgs\":%ld,"
                    "\"ops\":%.0f,\"ops_per_s\":%.1f,\"server_cpu_us_per_op\":%.4f,\"waits\":%ld,\"lost\":%d}\n",
                    mode, label, n, n, msgs, ops, wall > 0 ? ops / wall : 0, cpu * 1e6 / ops, waits, ok ? 0 : 1);
            fclose(f);
        }
    }
    return ok ? 0 : 1;
}
