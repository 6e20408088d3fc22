/* loop: the shared event loop over libev — one-shot timers in due order and
 * their cancels, periodic ticks, fds, signals, and the before-sleep phase
 * (hooks in order, then jobs in order, once more when loop_run returns). */
#include "loop.h"
#include "tu.h"

#include <CUnit/CUnit.h>
#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A loop must never hang a test: every test arms this. */
static void on_guard(struct loop *loop, void *data)
{
    (void)data;
    loop_stop(loop);
}

struct rec {
    char seq[64];
    int n;
    struct loop *loop;
    int stop_after;
};

static void rec_add(struct rec *r, char c)
{
    if (r->n < (int)sizeof r->seq - 1)
        r->seq[r->n++] = c;
    r->seq[r->n] = 0;
    if (r->stop_after && r->n == r->stop_after)
        loop_stop(r->loop);
}

static struct rec *g_rec;
static void on_a(struct loop *l, void *d) { (void)l; (void)d; rec_add(g_rec, 'a'); }
static void on_b(struct loop *l, void *d) { (void)l; (void)d; rec_add(g_rec, 'b'); }
static void on_c(struct loop *l, void *d) { (void)l; (void)d; rec_add(g_rec, 'c'); }

/* The timers below are "ms from now" at each add (loop_timer_add reads the
 * clock), so their order holds only if the adds themselves take less than
 * the smallest gap between their delays. A loaded machine (make
 * test-stress, valgrind) can preempt the test for longer: such a round
 * proves nothing and is run again, up to ROUNDS times. */
#define ROUNDS 20
#define ADD_SLACK_MS 5

static int timer_order_round(void)
{
    struct loop *l = loop_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    struct rec r = {.loop = l, .stop_after = 3};
    g_rec = &r;
    int64_t t0 = loop_now_ms();
    CU_ASSERT(loop_timer_add(l, 60, on_c, NULL) > 0);
    CU_ASSERT(loop_timer_add(l, 20, on_a, NULL) > 0);
    CU_ASSERT(loop_timer_add(l, 40, on_b, NULL) > 0);
    int64_t added = loop_now_ms();
    CU_ASSERT(loop_timer_add(l, 5000, on_guard, NULL) > 0);
    CU_ASSERT_EQUAL(r.n, 0); /* never inside the call that added it */
    loop_run(l);
    int valid = added - t0 < ADD_SLACK_MS;
    if (valid) {
        CU_ASSERT_STRING_EQUAL(r.seq, "abc");
        CU_ASSERT(loop_now_ms() - t0 >= 55);
    }
    CU_ASSERT_EQUAL(loop_timer_add(l, 1, NULL, NULL), -EINVAL);
    loop_free(l);
    return valid;
}

static void test_timer_order(void)
{
    int valid = 0;
    for (int i = 0; i < ROUNDS && !valid; i++)
        valid = timer_order_round();
    CU_ASSERT(valid);
}

struct canc {
    struct loop *loop;
    int64_t self, other;
    int self_cancel, fired;
};

static void on_self(struct loop *l, void *d)
{
    struct canc *c = d;
    c->fired++;
    c->self_cancel = loop_timer_cancel(l, c->self); /* already run: 0 */
}

static int timer_cancel_round(void)
{
    struct loop *l = loop_new();
    struct rec r = {.loop = l, .stop_after = 2};
    g_rec = &r;
    int64_t t0 = loop_now_ms();
    int64_t a = loop_timer_add(l, 10, on_a, NULL);
    int64_t b = loop_timer_add(l, 20, on_b, NULL);
    int64_t c = loop_timer_add(l, 30, on_c, NULL);
    CU_ASSERT(a > 0 && b > a && c > b);
    CU_ASSERT_EQUAL(loop_timer_cancel(l, b), 1);
    CU_ASSERT_EQUAL(loop_timer_cancel(l, b), 0);
    CU_ASSERT_EQUAL(loop_timer_cancel(l, 424242), 0);
    struct canc cc = {.loop = l};
    cc.self = loop_timer_add(l, 15, on_self, &cc);
    int valid = loop_now_ms() - t0 < ADD_SLACK_MS;
    loop_timer_add(l, 5000, on_guard, NULL);
    loop_run(l);
    if (valid) {
        CU_ASSERT_STRING_EQUAL(r.seq, "ac");
        CU_ASSERT_EQUAL(cc.fired, 1);
        CU_ASSERT_EQUAL(cc.self_cancel, 0);
    }
    CU_ASSERT_EQUAL(loop_timer_cancel(l, a), 0); /* already run */
    loop_free(l);                                /* frees the pending guard */
    return valid;
}

static void test_timer_cancel(void)
{
    int valid = 0;
    for (int i = 0; i < ROUNDS && !valid; i++)
        valid = timer_cancel_round();
    CU_ASSERT(valid);
}

static int ticks;
static void on_tick(struct loop *l, void *d)
{
    (void)d;
    if (++ticks == 5)
        loop_stop(l);
}

/* Five ticks of a 10 ms period come, and not faster than the period (a
 * count within a fixed time would be a timing assertion: a loaded machine
 * runs fewer). */
static void test_every(void)
{
    struct loop *l = loop_new();
    ticks = 0;
    int64_t t0 = loop_now_ms();
    CU_ASSERT_EQUAL(loop_every(l, 10, on_tick, NULL), 0);
    CU_ASSERT_EQUAL(loop_every(l, 0, on_tick, NULL), -1);
    loop_timer_add(l, 10000, on_guard, NULL);
    loop_run(l);
    CU_ASSERT_EQUAL(ticks, 5);
    CU_ASSERT(loop_now_ms() - t0 >= 45);
    loop_free(l);
}

/* ---- before sleep: hooks, then jobs ---- */

struct phase {
    struct rec r;
    struct loop_job j1, j2, j3;
    int hook_runs;
};
static struct phase *g_ph;

static void job1(struct loop *l, struct loop_job *j)
{
    (void)j;
    rec_add(&g_ph->r, '1');
    /* Queued while the jobs run: still this pass, after the others. */
    loop_job_queue(l, &g_ph->j3);
}
static void job2(struct loop *l, struct loop_job *j) { (void)l; (void)j; rec_add(&g_ph->r, '2'); }
static void job3(struct loop *l, struct loop_job *j) { (void)l; (void)j; rec_add(&g_ph->r, '3'); }
static void hook_h(struct loop *l, void *d) { (void)l; (void)d; g_ph->hook_runs++; rec_add(&g_ph->r, 'h'); }
static void hook_k(struct loop *l, void *d) { (void)l; (void)d; rec_add(&g_ph->r, 'k'); }

static void on_queue_jobs(struct loop *l, void *d)
{
    struct phase *p = d;
    p->r.n = 0; /* only the pass after this callback counts */
    loop_job_queue(l, &p->j2);
    loop_job_queue(l, &p->j1);
    loop_job_queue(l, &p->j2); /* already queued: no-op */
    loop_stop(l);
}

static void test_before_sleep(void)
{
    struct loop *l = loop_new();
    struct phase p = {.r = {.loop = l}};
    g_ph = &p;
    loop_job_init(&p.j1, job1);
    loop_job_init(&p.j2, job2);
    loop_job_init(&p.j3, job3);
    CU_ASSERT_EQUAL(loop_set_before_sleep(l, hook_h, NULL), 0);
    CU_ASSERT_EQUAL(loop_set_before_sleep(l, hook_k, NULL), 0);
    loop_timer_add(l, 5, on_queue_jobs, &p);
    loop_timer_add(l, 5000, on_guard, NULL);
    loop_run(l);
    /* loop_stop inside the callback: the exit pass runs hooks then jobs. */
    CU_ASSERT_STRING_EQUAL(p.r.seq, "hk213");
    CU_ASSERT(p.hook_runs >= 2);
    CU_ASSERT_EQUAL(p.j1.queued, 0);

    /* A cancelled job does not run; loop_run_jobs runs the rest now. */
    p.r.n = 0;
    p.r.seq[0] = 0;
    loop_job_queue(l, &p.j1);
    loop_job_queue(l, &p.j2);
    loop_job_cancel(l, &p.j1);
    loop_run_jobs(l);
    CU_ASSERT_STRING_EQUAL(p.r.seq, "2");
    loop_free(l);
}

/* A job queued by a prepare watcher that runs after the loop's own must not
 * wait for the next event (here: a 3 s guard). */
static struct loop_job late_job;
static int late_ran, late_queued;
static int64_t late_at, late_ran_at;
static void on_late_job(struct loop *l, struct loop_job *j)
{
    (void)j;
    late_ran++;
    late_ran_at = loop_now_ms();
    loop_stop(l);
}
static struct loop *late_loop;
static void late_prepare(struct ev_loop *ev, ev_prepare *w, int revents)
{
    (void)revents;
    if (!late_queued) {
        late_queued = 1;
        late_at = loop_now_ms();
        loop_job_queue(late_loop, &late_job);
    }
    ev_prepare_stop(ev, w);
}

static void test_job_after_prepare(void)
{
    struct loop *l = loop_new();
    late_loop = l;
    loop_job_init(&late_job, on_late_job);
    ev_prepare p;
    ev_prepare_init(&p, late_prepare);
    ev_prepare_start(loop_ev(l), &p); /* priority 0: after the loop's own */
    loop_timer_add(l, 3000, on_guard, NULL);
    loop_run(l);
    CU_ASSERT_EQUAL(late_ran, 1);
    CU_ASSERT(late_ran_at - late_at < 1000);
    ev_prepare_stop(loop_ev(l), &p);
    loop_free(l);
}

/* A job queued by an io callback runs in the next before-sleep phase, and
 * the loop then blocks: no extra iteration per wake. */
struct wake {
    int sv[2];
    int writes, reads, jobs;
    struct loop_job job;
};
static struct wake *g_wake;
static void wake_job(struct loop *l, struct loop_job *j)
{
    (void)j;
    if (++g_wake->jobs == 10)
        loop_stop(l); /* the tenth write read and its job run */
}
static void wake_read(struct loop *l, int fd, unsigned events, void *d)
{
    (void)events;
    struct wake *w = d;
    char c;
    if (read(fd, &c, 1) == 1)
        w->reads++;
    loop_job_queue(l, &w->job);
}
static void wake_write(struct loop *l, void *d)
{
    (void)l;
    struct wake *w = d;
    if (w->writes < 10 && write(w->sv[1], "w", 1) == 1)
        w->writes++;
}

static void test_no_extra_wake(void)
{
    struct loop *l = loop_new();
    struct wake w = {0};
    g_wake = &w;
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, w.sv) == 0);
    loop_job_init(&w.job, wake_job);
    loop_add(l, w.sv[0], LOOP_READ, wake_read, &w);
    loop_every(l, 10, wake_write, &w);
    loop_timer_add(l, 10000, on_guard, NULL);
    unsigned before = ev_iteration(loop_ev(l));
    loop_run(l);
    unsigned iterations = ev_iteration(loop_ev(l)) - before;
    CU_ASSERT_EQUAL(w.writes, 10);
    CU_ASSERT_EQUAL(w.reads, w.writes);
    CU_ASSERT_EQUAL(w.jobs, w.reads);
    /* One iteration for the tick's write, one for the read: not a third
     * (an extra wake per job would make it 3 per write). Counted over ten
     * writes, not a fixed time, with room for the odd early timer wake a
     * loaded machine gives (make test-stress, valgrind). */
    CU_ASSERT(iterations < (unsigned)(3 * w.writes));
    if (iterations >= (unsigned)(3 * w.writes))
        fprintf(stderr, "\n  %u iterations for %d writes\n", iterations, w.writes);
    loop_del(l, w.sv[0]);
    close(w.sv[0]);
    close(w.sv[1]);
    loop_free(l);
}

/* ---- fds and signals ---- */

struct iot {
    int got, events;
    char buf[16];
};

static void on_readable(struct loop *l, int fd, unsigned events, void *d)
{
    struct iot *t = d;
    t->events = (int)events;
    ssize_t r = read(fd, t->buf + t->got, sizeof t->buf - 1 - (size_t)t->got);
    if (r > 0)
        t->got += (int)r;
    loop_del(l, fd); /* its own fd, from its own callback */
    loop_stop(l);
}

static void test_fd(void)
{
    struct loop *l = loop_new();
    int sv[2];
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    struct iot t = {0};
    CU_ASSERT_EQUAL(loop_add(l, sv[0], LOOP_READ, on_readable, &t), 0);
    CU_ASSERT_EQUAL(loop_add(l, sv[0], LOOP_READ, on_readable, &t), -EEXIST);
    CU_ASSERT_EQUAL(loop_mod(l, 999, LOOP_READ), -ENOENT);
    CU_ASSERT_EQUAL(write(sv[1], "ping", 4), 4);
    loop_timer_add(l, 3000, on_guard, NULL);
    loop_run(l);
    CU_ASSERT_EQUAL(t.got, 4);
    CU_ASSERT_EQUAL(t.events, (int)LOOP_READ);
    CU_ASSERT_NSTRING_EQUAL(t.buf, "ping", 4);
    /* Deleted: the same fd can be watched again. */
    CU_ASSERT_EQUAL(loop_add(l, sv[0], LOOP_WRITE, on_readable, &t), 0);
    loop_del(l, sv[0]);
    close(sv[0]);
    close(sv[1]);
    loop_free(l);
}

static int sig_got;
static void on_sig(struct loop *l, int signo, void *d)
{
    (void)d;
    sig_got = signo;
    loop_stop(l);
}
static void send_sig(struct loop *l, void *d)
{
    (void)l;
    (void)d;
    raise(SIGUSR1);
}

static void test_signal(void)
{
    struct loop *l = loop_new();
    CU_ASSERT_EQUAL(loop_signal(l, SIGUSR1, on_sig, NULL), 0);
    loop_timer_add(l, 10, send_sig, NULL);
    loop_timer_add(l, 3000, on_guard, NULL);
    loop_run(l);
    CU_ASSERT_EQUAL(sig_got, SIGUSR1);
    loop_free(l);
}

static void test_stop_before_run(void)
{
    struct loop *l = loop_new();
    int64_t t0 = loop_now_ms();
    loop_timer_add(l, 3000, on_guard, NULL);
    loop_stop(l);
    CU_ASSERT_EQUAL(loop_run(l), 0);
    CU_ASSERT(loop_now_ms() - t0 < 1000);
    loop_free(l);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("loop", NULL, NULL);
    CU_add_test(s, "one-shot timers fire in due order", test_timer_order);
    CU_add_test(s, "timer cancel, also from its own callback", test_timer_cancel);
    CU_add_test(s, "periodic ticks", test_every);
    CU_add_test(s, "before sleep: hooks in order, then jobs in order", test_before_sleep);
    CU_add_test(s, "a job queued after the loop's prepare does not wait", test_job_after_prepare);
    CU_add_test(s, "a job queued by an io callback costs no extra wake", test_no_extra_wake);
    CU_add_test(s, "fd watch, delete from its own callback", test_fd);
    CU_add_test(s, "signals arrive as callbacks", test_signal);
    CU_add_test(s, "a stop before run returns at once", test_stop_before_run);
    return tu_run("test_loop");
}
