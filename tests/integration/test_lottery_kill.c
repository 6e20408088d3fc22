/* The lottery under kill -9 (docs/lottery-protocol.md §3.1): a real
 * register, two gateways and the business worker (count 2) with apps/lottery
 * and a sqlite store. Phones sign in and an admin runs draws, all the time,
 * while a killer thread `kill -9`s a business worker process (a child of the
 * master, never the master) at pseudo-random moments (seeded: the seed and
 * every kill are logged) and waits, each time, until the master has started
 * it again and it is linked to both gateways (the log lines of the new
 * process and of both gateways, with a deadline).
 *
 * The clients follow the contract: a sign-in counts only when its reply
 * arrives; an admin command without an answer within a deadline is sent
 * again, with the same rid, on a new connection (hello first). Afterwards:
 * every acknowledged sign-in is there (hello with its token gives `me`),
 * nobody is a present winner of one prize twice, nobody who won an
 * excludeWinners prize won another, every acknowledged draw is in the store
 * exactly once with the winners its reply named (state and audit log), no
 * other draw exists, and `lotteryctl verify` passes.
 *
 * LOTTERY_KILL_SEED=<n> repeats a run's kill schedule; LOTTERY_KILLS=<n>
 * changes the number of kills (default 20). */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#include "lottery_harness.h"

/* test_lottery_faults.c builds this file again with LK_FAULTS 1: the killer
 * then cycles through every role and fault kind (see fault_one). */
#ifndef LK_FAULTS
#define LK_FAULTS 0
#endif
#ifndef LK_NAME
#define LK_NAME "test_lottery_kill"
#endif

#define NPART 600
#define NPHONES 4
#define SIGNIN_PACE_MS 40  /* one sign-in sent every 40 ms at most, over all phones */
#define CMD_TIMEOUT_MS 3000 /* no answer by then: reconnect and send again */
#define MAX_DRAWS 150
#define P3_DRAWS 10 /* the non-excluding prize is drawn first, then the two excluding ones */
#define MIN_DRAWS 10

static struct lh H;
static int started;
static unsigned seed;
static int kills_wanted = LK_FAULTS ? 12 : 20;

static char emp[NPART][16];
static char pname[NPART][32];

/* ---- the killer ---- */

static atomic_int killer_done, killer_failed, kills_done, kills_aimed, stop_killer;
/* business processes killed (the "died" lines of the business log) */
static atomic_int bw_kills_done;
/* bumped by the main thread each time the admin sends a command */
static atomic_int adm_sends;
static char killer_msg[256];

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

/* Waits (deadline) until a new process with index i replaced `old` and it
 * is linked to both gateways (both its own log lines and the gateways':
 * base[g] is how many links of index gateway g's current log held before
 * the kill). */
static int wait_relinked(pid_t old, int index, const int base[2], int timeout_ms)
{
    long long end = tu_now_ms() + timeout_ms;
    pid_t fresh = 0;
    while (!fresh && tu_now_ms() < end) {
        pid_t kids[8];
        int n = lh_children(H.bw.pid, kids, 8);
        for (int k = 0; k < n; k++)
            if (kids[k] != old && lh_process_index(&H, kids[k]) == index)
                fresh = kids[k];
        if (!fresh)
            usleep(5000);
    }
    if (!fresh)
        return 0;
    char needle[160];
    for (int g = 0; g < 2; g++) {
        snprintf(needle, sizeof needle, "business[%d] INFO gateway 127.0.0.1:%d: link up", (int)fresh,
                 H.gw[g].lan_port);
        int left = (int)(end - tu_now_ms());
        if (left < 0 || !lh_file_count_reaches(H.bw.log, needle, 1, left))
            return 0;
        lh_link_needle(index, needle, sizeof needle);
        left = (int)(end - tu_now_ms());
        if (left < 0 || !lh_file_count_reaches(H.gw[g].p.log, needle, base[g] + 1, left))
            return 0;
    }
    return 1;
}

#if LK_FAULTS
/* Every business process linked to gateway g at least want[i] times. */
static int lk_linked(int g, const int want[2], int timeout_ms)
{
    char needle[128];
    for (int i = 0; i < H.count && i < 2; i++) {
        lh_link_needle(i, needle, sizeof needle);
        if (!lh_file_count_reaches(H.gw[g].p.log, needle, want[i], timeout_ms))
            return 0;
    }
    return 1;
}

/* Fault k (k % 6 != 0; 0 is the business kill -9 of the plain test): 1 the
 * register kill -9 and restarted, 2 a gateway kill -9 and restarted, 3 a
 * business process, 4 a gateway, 5 the register SIGSTOPped for 4 s (past
 * the phones' 3 s command timeout: they move to the other gateway and send
 * again) and SIGCONTed. Waits until everything linked again. */
static int fault_one(int k, long long t0)
{
    /* Each gateway is killed once and stopped once every two rounds. */
    int kind = k % 6, g = (k / 6 + (kind == 4)) & 1, other = g ^ 1;
    long long tk = tu_now_ms();
    long rss_other = tu_rss_kb(H.gw[other].p.pid);
    char what[96];
    int st;
    if (kind == 1) {
        int r0 = lh_file_count(H.gw[0].p.log, "with register"), r1 = lh_file_count(H.gw[1].p.log, "with register");
        snprintf(what, sizeof what, "register kill -9 + restart");
        kill(H.reg.pid, SIGKILL);
        waitpid(H.reg.pid, &st, 0);
        usleep(200000);
        launch_spawn(&H.reg); /* a new log: the workers' links are counted from 0 */
        if (!lh_file_count_reaches(H.gw[0].p.log, "with register", r0 + 1, 20000) ||
            !lh_file_count_reaches(H.gw[1].p.log, "with register", r1 + 1, 20000) ||
            !tu_file_lines_reach(H.reg.log, "INFO worker 127.0.0.1:", " connected", H.count, 20000)) {
            snprintf(killer_msg, sizeof killer_msg, "fault %d: gateways and workers not back at the register in 20 s", k);
            killer_failed = 1;
            return 0;
        }
    } else if (kind == 2) {
        const int want[2] = {1, 1}; /* in the restarted gateway's new log */
        snprintf(what, sizeof what, "gateway %d kill -9 + restart", g);
        kill(H.gw[g].p.pid, SIGKILL);
        waitpid(H.gw[g].p.pid, &st, 0);
        usleep(200000);
        launch_spawn(&H.gw[g].p);
        if (!lk_linked(g, want, 20000)) {
            snprintf(killer_msg, sizeof killer_msg, "fault %d: business not linked to restarted gateway %d", k, g);
            killer_failed = 1;
            return 0;
        }
    } else {
        pid_t victim;
        if (kind == 3) {
            pid_t kids[8];
            int n = lh_children(H.bw.pid, kids, 8);
            victim = n > 0 ? kids[k % n] : -1;
            snprintf(what, sizeof what, "business pid %d SIGSTOP 4 s", (int)victim);
        } else if (kind == 4) {
            victim = H.gw[g].p.pid;
            snprintf(what, sizeof what, "gateway %d SIGSTOP 4 s", g);
        } else {
            victim = H.reg.pid;
            snprintf(what, sizeof what, "register SIGSTOP 4 s");
        }
        if (victim <= 0 || kill(victim, SIGSTOP) < 0) {
            snprintf(killer_msg, sizeof killer_msg, "fault %d: cannot stop %d", k, (int)victim);
            killer_failed = 1;
            return 0;
        }
        usleep(4000 * 1000);
        kill(victim, SIGCONT);
    }
    long after = tu_rss_kb(H.gw[other].p.pid);
    if (kind == 1 || kind == 5)
        fprintf(stderr, "  fault %2d at %6lld ms: %s; done in %lld ms\n", k + 1, tk - t0, what,
                tu_now_ms() - tk);
    else
        fprintf(stderr, "  fault %2d at %6lld ms: %s; done in %lld ms; gateway %d RSS %ld -> %ld kB\n", k + 1,
                tk - t0, what, tu_now_ms() - tk, other, rss_other, after);
    return 1;
}
#endif

static void *killer(void *arg)
{
    (void)arg;
    unsigned s = seed ^ 0x5eed;
    long long t0 = tu_now_ms();
    for (int k = 0; k < kills_wanted && !stop_killer; k++) {
        /* the pseudo-random moment: half of the kills a random 100-1000 ms
         * after the last restart, half aimed 0-3 ms after the admin first
         * sends a command (one of the two processes is handling it: a kill
         * there loses the answer, and the admin must resend with the same
         * rid; resends are not aimed at, or the admin would never finish) */
        int aimed = rnd(&s) % 2;
        if (aimed) {
            int seen = adm_sends;
            long long end = tu_now_ms() + 5000;
            while (adm_sends == seen && tu_now_ms() < end && !stop_killer)
                usleep(200);
            usleep((useconds_t)(rnd(&s) % 3000));
            kills_aimed++;
        } else {
            usleep((useconds_t)(100 + rnd(&s) % 900) * 1000);
        }
#if LK_FAULTS
        if (k % 6 != 0) {
            if (!fault_one(k, t0))
                break;
            kills_done++;
            continue;
        }
#endif
        pid_t kids[8];
        int n = lh_children(H.bw.pid, kids, 8);
        if (n < 1) {
            snprintf(killer_msg, sizeof killer_msg, "kill %d: the master has no children", k);
            killer_failed = 1;
            break;
        }
        pid_t victim = kids[rnd(&s) % (unsigned)n];
        int index = lh_process_index(&H, victim);
        if (index < 0 || index >= 8) {
            snprintf(killer_msg, sizeof killer_msg, "kill %d: pid %d has no index in the log", k, (int)victim);
            killer_failed = 1;
            break;
        }
        int base[2];
        char link[128];
        lh_link_needle(index, link, sizeof link);
        for (int g = 0; g < 2; g++)
            base[g] = lh_file_count(H.gw[g].p.log, link);
        if (kill(victim, SIGKILL) < 0) {
            snprintf(killer_msg, sizeof killer_msg, "kill %d: kill(%d): %s", k, (int)victim, strerror(errno));
            killer_failed = 1;
            break;
        }
        long long tk = tu_now_ms();
        if (!wait_relinked(victim, index, base, 20000)) {
            snprintf(killer_msg, sizeof killer_msg, "kill %d: process %d (pid %d) not back and linked within 20 s", k,
                     index, (int)victim);
            killer_failed = 1;
            break;
        }
        fprintf(stderr, "  kill %2d at %6lld ms (%s): process %d pid %d; back and linked in %lld ms\n", k + 1,
                tk - t0, aimed ? "aimed" : "random", index, (int)victim, tu_now_ms() - tk);
        kills_done++;
        bw_kills_done++;
    }
    killer_done = 1;
    return NULL;
}

/* ---- the clients ---- */

struct client {
    struct lc *c;
    int gw;
    char label[24];
    const char *role;
    /* the command in flight */
    json_t *msg; /* NULL: none */
    char cmd[32], rid[48];
    long long sent_at;
    int resends;
};

/* Connects (alternating gateways) and says hello until a state comes back:
 * a hello can be lost with a killed process too. */
static int client_connect(struct client *cl, long long deadline)
{
    while (tu_now_ms() < deadline) {
        if (cl->c)
            lc_close(cl->c);
        cl->gw ^= 1;
        cl->c = lc_open(H.gw[cl->gw].ws_port, cl->label);
        if (!cl->c) {
            usleep(50000);
            continue;
        }
        json_t *m = json_pack("{s:s,s:s}", "type", "hello", "role", cl->role);
        if (lh_streq(cl->role, "admin"))
            json_object_set_new(m, "adminToken", json_string(LH_ADMIN_TOKEN));
        lc_send(cl->c, m);
        long long left = deadline - tu_now_ms();
        json_t *st = lc_push(cl->c, "state", (int)(left < CMD_TIMEOUT_MS ? left : CMD_TIMEOUT_MS));
        if (st) {
            json_decref(st);
            return 0;
        }
    }
    return -1;
}

static int client_send(struct client *cl)
{
    cl->sent_at = tu_now_ms();
    return lc_send(cl->c, json_incref(cl->msg));
}

/* Starts a command (msg stolen). */
static void client_cmd(struct client *cl, json_t *msg)
{
    cl->msg = msg;
    snprintf(cl->cmd, sizeof cl->cmd, "%s", lh_str(msg, "type"));
    snprintf(cl->rid, sizeof cl->rid, "%s", lh_str(msg, "rid"));
    cl->resends = 0;
    client_send(cl);
    if (lh_streq(cl->role, "admin"))
        adm_sends++; /* a first send (not a resend): what aimed kills aim at */
}

static int resends_total, reconnects_total, adm_resends;
static int resent_signin[2048]; /* emp index: its sign-in was sent more than once */

/* The answer to the command in flight, if it has come (new reference);
 * resends it on a new connection after CMD_TIMEOUT_MS or a closed link. */
static json_t *client_poll(struct client *cl, long long deadline)
{
    if (!cl->msg)
        return NULL;
    json_t *a = lc_answer(cl->c, cl->cmd, cl->rid, 0);
    /* drop the pushes: nobody here reads them */
    for (size_t i = 0; i < json_array_size(cl->c->q);) {
        const char *t = lh_str(json_array_get(cl->c->q, i), "type");
        if (!lh_streq(t, "reply") && !lh_streq(t, "error"))
            json_array_remove(cl->c->q, i);
        else
            i++;
    }
    if (a) {
        if (lh_streq(lh_str(a, "code"), "store_error")) {
            /* nothing changed: send it again, same rid */
            json_decref(a);
            usleep(20000);
            client_send(cl);
            return NULL;
        }
        json_decref(cl->msg);
        cl->msg = NULL;
        return a;
    }
    if (cl->c->closed || tu_now_ms() - cl->sent_at > CMD_TIMEOUT_MS) {
        reconnects_total++;
        resends_total++;
        cl->resends++;
        if (lh_streq(cl->role, "admin"))
            adm_resends++;
        int k = -1;
        if (sscanf(cl->rid, "k-si-%d", &k) == 1 && k >= 0 && k < 2048)
            resent_signin[k] = 1;
        if (client_connect(cl, deadline) == 0)
            client_send(cl);
    }
    return NULL;
}

/* ---- the run ---- */

static struct client phones[NPHONES], adm;
static int acked[NPART], attempted[NPART];
static char tokens[NPART][80];
static int n_acked, n_attempted;

struct draw_rec {
    long long id, prize;
    int count;
    char winners[3][16];
};
static struct draw_rec draws[MAX_DRAWS];
static int n_draws, n_not_enough, n_unexpected;
static long long prize_p1, prize_p3, prize_p2;
static char unexpected_msg[512];

static void unexpected(const char *what, const json_t *a)
{
    char *d = a ? json_dumps(a, JSON_COMPACT) : NULL;
    if (!n_unexpected++)
        snprintf(unexpected_msg, sizeof unexpected_msg, "%s: %.400s", what, d ? d : "(none)");
    fprintf(stderr, "\n  unexpected %s: %.400s\n", what, d ? d : "(none)");
    free(d);
}

static int suite_init(void)
{
    const char *e = getenv("LOTTERY_KILL_SEED");
    seed = e ? (unsigned)strtoul(e, NULL, 10) : (unsigned)(time(NULL) ^ getpid());
    e = getenv("LOTTERY_KILLS");
    if (e && atoi(e) > 0)
        kills_wanted = atoi(e);
    fprintf(stderr, "\n  kill test: seed %u (LOTTERY_KILL_SEED=%u repeats it), %d kills\n", seed, seed, kills_wanted);
    for (int i = 0; i < NPART; i++) {
        snprintf(emp[i], sizeof emp[i], "K%04d", i + 1);
        snprintf(pname[i], sizeof pname[i], "员工%04d号", i + 1);
    }
    if (lh_start(&H, "lottery-kill") < 0)
        return -1;
    started = 1;
    return 0;
}

static int suite_clean(void)
{
    for (int i = 0; i < NPHONES; i++)
        if (phones[i].c)
            lc_close(phones[i].c);
    if (adm.c)
        lc_close(adm.c);
    return started ? lh_finish(&H) : 0;
}

/* Runs one admin command to its reply before the kills start. */
static json_t *setup_cmd(json_t *msg)
{
    client_cmd(&adm, msg);
    long long end = tu_now_ms() + 30000;
    json_t *a = NULL;
    while (!a && tu_now_ms() < end) {
        lc_pump(adm.c, 50);
        a = client_poll(&adm, end);
    }
    return a;
}

static void test_setup(void)
{
    snprintf(adm.label, sizeof adm.label, "admin");
    adm.role = "admin";
    CU_ASSERT_FATAL(client_connect(&adm, tu_now_ms() + 20000) == 0);
    json_t *rows = json_array();
    for (int i = 0; i < NPART; i++)
        json_array_append_new(rows, json_pack("{s:s,s:s,s:s}", "empNo", emp[i], "name", pname[i], "dept", "测试部"));
    json_t *r = setup_cmd(json_pack("{s:s,s:s,s:s,s:o}", "type", "participants.import", "rid", "k-import", "mode",
                                    "merge", "rows", rows));
    CU_ASSERT_FATAL(lh_is_reply(r, "import") && lh_int(r, "total") == NPART);
    json_decref(r);
    struct {
        const char *name;
        int tier, qty, excl;
        long long *id;
    } pz[] = {{"一等奖", 1, 120, 1, &prize_p1}, {"二等奖", 2, 120, 1, &prize_p2}, {"三等奖", 3, 200, 0, &prize_p3}};
    for (int i = 0; i < 3; i++) {
        char rid[32];
        snprintf(rid, sizeof rid, "k-prize-%d", i);
        r = setup_cmd(json_pack("{s:s,s:s,s:s,s:i,s:i,s:b}", "type", "prize.save", "rid", rid, "name", pz[i].name,
                                "tier", pz[i].tier, "quantity", pz[i].qty, "excludeWinners", pz[i].excl));
        CU_ASSERT_FATAL(lh_is_reply(r, "prize.save"));
        *pz[i].id = lh_int(json_object_get(r, "prize"), "id");
        json_decref(r);
    }
    for (int i = 0; i < NPHONES; i++) {
        snprintf(phones[i].label, sizeof phones[i].label, "phone%d", i);
        phones[i].role = "phone";
        phones[i].gw = i % 2;
        CU_ASSERT_FATAL(client_connect(&phones[i], tu_now_ms() + 20000) == 0);
    }
}

/* The next draw: which prize and how many. */
static void draw_plan(int n, unsigned *s, long long *prize, int *count)
{
    *prize = n < P3_DRAWS ? prize_p3 : (n % 2 ? prize_p1 : prize_p2);
    *count = 1 + (int)(rnd(s) % 3);
}

static void test_kill_workload(void)
{
    CU_ASSERT_FATAL(adm.c != NULL);
    unsigned s = seed;
    pthread_t th;
    long long t0 = tu_now_ms();
    CU_ASSERT_FATAL(pthread_create(&th, NULL, killer, NULL) == 0);
    /* the whole run is bounded: the kills, then at most 60 s to finish what is in flight */
    long long hard_end = t0 + 20000 + (long long)kills_wanted * (LK_FAULTS ? 9000 : 4000);
    int next_emp = 0, signins_sent = 0;
    int draw_n = 0;            /* draws planned (rid numbering) */
    int adm_phase = 0;         /* 0 idle, 1 start in flight, 2 stop in flight */
    long long adm_idle_since = t0;
    struct draw_rec cur = {0};
    int finishing = 0;
    long long finish_end = 0;
    for (;;) {
        long long now = tu_now_ms();
        /* after the kills: go on (without kills) until the minimum of
         * draws is done, then let what is in flight finish */
        if (!finishing && killer_done && (n_draws >= MIN_DRAWS || draw_n >= MAX_DRAWS)) {
            finishing = 1;
            finish_end = now + 60000;
            if (finish_end > hard_end)
                finish_end = hard_end;
        }
        int busy = adm.msg != NULL || adm_phase != 0;
        for (int i = 0; i < NPHONES; i++)
            busy |= phones[i].msg != NULL;
        if (finishing && !busy)
            break;
        if (now > hard_end || (finishing && now > finish_end)) {
            CU_FAIL("the workload did not finish in time");
            fprintf(stderr, "\n  workload: still busy at the deadline (admin phase %d)\n", adm_phase);
            stop_killer = 1;
            break;
        }
        /* wait for input on any connection */
        struct pollfd pf[NPHONES + 1];
        struct client *who[NPHONES + 1];
        int n = 0;
        for (int i = 0; i < NPHONES; i++)
            if (phones[i].c && !phones[i].c->closed) {
                pf[n] = (struct pollfd){.fd = phones[i].c->fd, .events = POLLIN};
                who[n++] = &phones[i];
            }
        if (adm.c && !adm.c->closed) {
            pf[n] = (struct pollfd){.fd = adm.c->fd, .events = POLLIN};
            who[n++] = &adm;
        }
        poll(pf, (nfds_t)n, 10);
        for (int i = 0; i < n; i++)
            if (pf[i].revents)
                lc_pump(who[i]->c, 0);
        long long deadline = hard_end;

        /* phones: one sign-in in flight each, paced */
        for (int i = 0; i < NPHONES; i++) {
            struct client *p = &phones[i];
            json_t *a = client_poll(p, deadline);
            if (a) {
                int k = -1;
                sscanf(p->rid, "k-si-%d", &k);
                if (lh_streq(lh_str(a, "type"), "reply") && k >= 0 && k < NPART &&
                    lh_streq(lh_str(json_object_get(a, "me"), "empNo"), emp[k]) && lh_str(a, "token")) {
                    if (!acked[k])
                        n_acked++;
                    acked[k] = 1;
                    snprintf(tokens[k], sizeof tokens[k], "%s", lh_str(a, "token"));
                } else {
                    unexpected("sign-in answer", a);
                }
                json_decref(a);
            }
            if (!p->msg && !finishing && next_emp < NPART && tu_now_ms() >= t0 + (long long)signins_sent * SIGNIN_PACE_MS) {
                int k = next_emp++;
                char rid[48];
                snprintf(rid, sizeof rid, "k-si-%d", k);
                attempted[k] = 1;
                n_attempted++;
                signins_sent++;
                client_cmd(p, json_pack("{s:s,s:s,s:s,s:s}", "type", "signin", "rid", rid, "empNo", emp[k], "name",
                                        pname[k]));
            }
        }

        /* the admin: start, stop, next */
        json_t *a = client_poll(&adm, deadline);
        if (a) {
            int ok = lh_streq(lh_str(a, "type"), "reply");
            if (adm_phase == 1) {
                if (ok) {
                    json_t *d = json_object_get(a, "draw");
                    cur.id = lh_int(d, "drawId");
                    if (cur.id <= 0 || lh_int(d, "prizeId") != cur.prize || lh_int(d, "count") != cur.count)
                        unexpected("draw.start reply", a);
                    char rid[48];
                    snprintf(rid, sizeof rid, "k-stop-%d", draw_n);
                    client_cmd(&adm, json_pack("{s:s,s:s,s:I}", "type", "draw.stop", "rid", rid, "drawId",
                                               (json_int_t)cur.id));
                    adm_phase = 2;
                } else {
                    if (lh_streq(lh_str(a, "code"), "not_enough"))
                        n_not_enough++;
                    else
                        unexpected("draw.start error", a);
                    adm_phase = 0;
                    adm_idle_since = tu_now_ms();
                }
            } else if (adm_phase == 2) {
                json_t *d = json_object_get(a, "draw");
                json_t *w = json_object_get(d, "winners");
                if (ok && lh_int(d, "drawId") == cur.id && json_array_size(w) == (size_t)cur.count) {
                    for (int i = 0; i < cur.count; i++)
                        snprintf(cur.winners[i], sizeof cur.winners[i], "%s",
                                 lh_str(json_array_get(w, (size_t)i), "empNo") ? lh_str(json_array_get(w, (size_t)i), "empNo") : "?");
                    if (n_draws < MAX_DRAWS)
                        draws[n_draws++] = cur;
                } else {
                    unexpected("draw.stop answer", a);
                }
                adm_phase = 0;
                adm_idle_since = tu_now_ms();
            }
            json_decref(a);
        }
        if (adm_phase == 0 && !adm.msg && !finishing && draw_n < MAX_DRAWS && n_acked >= 30 &&
            tu_now_ms() - adm_idle_since > 150) {
            draw_n++;
            memset(&cur, 0, sizeof cur);
            draw_plan(draw_n - 1, &s, &cur.prize, &cur.count);
            char rid[48];
            snprintf(rid, sizeof rid, "k-start-%d", draw_n);
            client_cmd(&adm, json_pack("{s:s,s:s,s:I,s:i}", "type", "draw.start", "rid", rid, "prizeId",
                                       (json_int_t)cur.prize, "count", cur.count));
            adm_phase = 1;
        }
    }
    stop_killer = 1;
    pthread_join(th, NULL);
    fprintf(stderr,
            "\n  workload: %.1f s, %d kills (%d aimed at an admin command), sign-ins %d sent / %d acknowledged, draws %d acknowledged "
            "(%d not_enough), %d resends after a timeout or a lost link (%d by the admin)\n",
            (tu_now_ms() - t0) / 1000.0, (int)kills_done, (int)kills_aimed, n_attempted, n_acked, n_draws, n_not_enough, resends_total, adm_resends);
    CU_ASSERT(!killer_failed);
    if (killer_failed)
        fprintf(stderr, "\n  killer: %s\n", killer_msg);
    CU_ASSERT(kills_done >= kills_wanted);
    CU_ASSERT(n_unexpected == 0);
    if (n_unexpected)
        fprintf(stderr, "\n  %d unexpected answers; first: %s\n", n_unexpected, unexpected_msg);
    CU_ASSERT(n_acked >= 100);
    CU_ASSERT(n_draws >= MIN_DRAWS);
    /* every death was one of ours */
    char died[64];
    snprintf(died, sizeof died, "died (signal %d)", SIGKILL);
    CU_ASSERT(lh_file_count(H.bw.log, "died (") == (int)bw_kills_done);
    CU_ASSERT(lh_file_count(H.bw.log, died) == (int)bw_kills_done);
    if (lh_file_count(H.bw.log, "died (") != (int)bw_kills_done)
        fprintf(stderr, "\n  business log: %d deaths, %d kills (log %s)\n", lh_file_count(H.bw.log, "died ("),
                (int)bw_kills_done, H.bw.log);
}

static int is_excl(long long prize) { return prize == prize_p1 || prize == prize_p2; }

static void test_kill_invariants(void)
{
    CU_ASSERT_FATAL(n_draws > 0);
    struct client a = {.role = "admin", .gw = 0};
    snprintf(a.label, sizeof a.label, "admin-check");
    CU_ASSERT_FATAL(client_connect(&a, tu_now_ms() + 20000) == 0);
    lc_drop(a.c, "state");
    lc_send(a.c, json_pack("{s:s,s:s,s:s}", "type", "hello", "role", "admin", "adminToken", LH_ADMIN_TOKEN));
    json_t *st = lc_push(a.c, "state", 10000);
    lc_close(a.c);
    CU_ASSERT_FATAL(st != NULL);

    /* sign-ins: every acknowledged one is there */
    long long signed_in = lh_int(st, "signedIn");
    CU_ASSERT(signed_in >= n_acked && signed_in <= n_attempted);
    if (!(signed_in >= n_acked && signed_in <= n_attempted))
        fprintf(stderr, "\n  signedIn %lld; acknowledged %d, attempted %d\n", signed_in, n_acked, n_attempted);
    /* the store itself (read-only): every acknowledged sign-in, with the token its reply gave */
    int missing = 0, checked = 0;
    {
        sqlite3 *db = NULL;
        CU_ASSERT_FATAL(sqlite3_open_v2(H.db, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
        sqlite3_busy_timeout(db, 10000);
        sqlite3_stmt *q = NULL;
        int rc = sqlite3_prepare_v2(db, "SELECT token FROM participants WHERE emp_no = ? AND signed_in_seq IS NOT NULL",
                                    -1, &q, NULL);
        if (rc != SQLITE_OK)
            fprintf(stderr, "\n  sqlite: %s (has the store's schema changed?)\n", sqlite3_errmsg(db));
        CU_ASSERT_FATAL(rc == SQLITE_OK);
        for (int k = 0; k < NPART; k++) {
            if (!acked[k])
                continue;
            sqlite3_bind_text(q, 1, emp[k], -1, SQLITE_STATIC);
            int ok = sqlite3_step(q) == SQLITE_ROW && lh_streq((const char *)sqlite3_column_text(q, 0), tokens[k]);
            sqlite3_reset(q);
            if (!ok && missing++ < 5)
                fprintf(stderr, "\n  acknowledged sign-in of %s is not in the store with its token\n", emp[k]);
        }
        sqlite3_finalize(q);
        long long n_db = -1;
        if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM participants WHERE signed_in_seq IS NOT NULL", -1, &q, NULL) ==
                SQLITE_OK &&
            sqlite3_step(q) == SQLITE_ROW)
            n_db = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
        CU_ASSERT(n_db == signed_in);
        /* nobody twice a present winner of one prize, in the winners table itself */
        long long dups = -1;
        if (sqlite3_prepare_v2(db,
                               "SELECT COUNT(*) FROM (SELECT prize_id, emp_no FROM winners WHERE undone = 0 AND "
                               "absent = 0 GROUP BY prize_id, emp_no HAVING COUNT(*) > 1)",
                               -1, &q, NULL) == SQLITE_OK &&
            sqlite3_step(q) == SQLITE_ROW)
            dups = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
        CU_ASSERT(dups == 0);
        sqlite3_close(db);
    }
    /* and through the protocol: hello with the token gives `me`, for every
     * sign-in that was resent and a sample of the others (a hello carries
     * the whole state: all of them would take long) */
    long long t_check = tu_now_ms(), worst = 0;
    struct lc *c = NULL;
    for (int k = 0; k < NPART; k++) {
        if (!acked[k] || !(resent_signin[k] || k % 25 == 0))
            continue;
        if (!c)
            c = lc_open(H.gw[k % 2].ws_port, "token-check");
        CU_ASSERT_FATAL(c != NULL);
        long long th = tu_now_ms();
        json_t *s2 = lc_hello(c, "phone", "token", tokens[k], NULL, 10000);
        if (tu_now_ms() - th > worst)
            worst = tu_now_ms() - th;
        json_t *me = json_object_get(s2, "me");
        if (!lh_streq(lh_str(me, "empNo"), emp[k])) {
            if (missing++ < 5)
                fprintf(stderr, "\n  acknowledged sign-in of %s: hello with its token gave no me\n", emp[k]);
        }
        checked++;
        json_decref(s2);
        lc_drop(c, "error");
        if (checked % 10 == 0) { /* a fresh connection now and then */
            lc_close(c);
            c = NULL;
        }
    }
    if (c)
        lc_close(c);
    CU_ASSERT(missing == 0);
    fprintf(stderr, "\n  %d hellos with a token in %lld ms (slowest %lld ms)", checked, tu_now_ms() - t_check, worst);

    /* winners */
    json_t *ws = json_object_get(st, "winners");
    CU_ASSERT(json_is_null(json_object_get(st, "openDraw")));
    size_t nw = json_array_size(ws);
    int dup = 0, excl_bad = 0, absent = 0;
    for (size_t i = 0; i < nw; i++) {
        json_t *w = json_array_get(ws, i);
        absent += json_is_true(json_object_get(w, "absent"));
        for (size_t j = 0; j < nw; j++) {
            json_t *x = json_array_get(ws, j);
            if (i == j || !lh_streq(lh_str(w, "empNo"), lh_str(x, "empNo")))
                continue;
            if (lh_int(w, "prizeId") == lh_int(x, "prizeId") && i < j) {
                dup++;
                fprintf(stderr, "\n  %s is a winner of prize %lld twice\n", lh_str(w, "empNo"), lh_int(w, "prizeId"));
            }
            if (is_excl(lh_int(w, "prizeId"))) {
                excl_bad++;
                fprintf(stderr, "\n  %s won excluding prize %lld and prize %lld\n", lh_str(w, "empNo"),
                        lh_int(w, "prizeId"), lh_int(x, "prizeId"));
            }
        }
    }
    CU_ASSERT(dup == 0);
    CU_ASSERT(excl_bad == 0);
    CU_ASSERT(absent == 0);
    /* exactly the acknowledged draws, with their winners */
    int wn = 0;
    for (int d = 0; d < n_draws; d++) {
        int found = 0;
        for (size_t i = 0; i < nw; i++) {
            json_t *w = json_array_get(ws, i);
            if (lh_int(w, "drawId") != draws[d].id)
                continue;
            found++;
            int in = 0;
            for (int k = 0; k < draws[d].count; k++)
                in |= lh_streq(lh_str(w, "empNo"), draws[d].winners[k]);
            CU_ASSERT(in);
            CU_ASSERT(lh_int(w, "prizeId") == draws[d].prize);
        }
        CU_ASSERT(found == draws[d].count);
        if (found != draws[d].count)
            fprintf(stderr, "\n  draw %lld: %d winners in the state, its reply named %d\n", draws[d].id, found,
                    draws[d].count);
        wn += draws[d].count;
    }
    CU_ASSERT((size_t)wn == nw);
    if ((size_t)wn != nw)
        fprintf(stderr, "\n  the state has %zu winners, the acknowledged draws %d\n", nw, wn);
    /* the prizes' counts agree */
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(st, "prizes"), i, p)
    {
        long long id = lh_int(p, "id"), won = 0;
        for (int d = 0; d < n_draws; d++)
            if (draws[d].prize == id)
                won += draws[d].count;
        CU_ASSERT(lh_int(p, "won") == won && lh_int(p, "remaining") == lh_int(p, "quantity") - won);
    }
    json_decref(st);

    /* the audit log: one draw.start and one draw.stop per acknowledged draw, no other */
    char store_arg[260], audit[260], out[260], err[260];
    snprintf(store_arg, sizeof store_arg, "--store=%s", H.store);
    snprintf(audit, sizeof audit, "%s/audit.jsonl", H.dir);
    snprintf(out, sizeof out, "%s/verify.out", H.dir);
    snprintf(err, sizeof err, "%s/lotteryctl.err", H.dir);
    char *bin = tu_bin_path("lotteryctl");
    char *ex[] = {bin, "export", store_arg, NULL};
    int rc = lh_run(ex, audit, err, 60000);
    CU_ASSERT_FATAL(lh_exited_zero(rc));
    int *starts = calloc(MAX_DRAWS, sizeof *starts), *stops = calloc(MAX_DRAWS, sizeof *stops);
    int stray = 0;
    {
        size_t n;
        char *text = (char *)tu_read_file(audit, &n);
        CU_ASSERT_FATAL(text != NULL);
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            json_t *j = json_loads(line, 0, NULL);
            json_t *e = json_object_get(j, "entry");
            const char *kind = lh_str(e, "kind");
            int is_start = lh_streq(kind, "draw.start"), is_stop = lh_streq(kind, "draw.stop");
            if (is_start || is_stop) {
                int d = 0;
                while (d < n_draws && draws[d].id != lh_int(e, "drawId"))
                    d++;
                if (d == n_draws) {
                    stray++;
                    fprintf(stderr, "\n  audit: %s of draw %lld, never acknowledged\n", kind, lh_int(e, "drawId"));
                } else if (is_start) {
                    starts[d]++;
                } else {
                    stops[d]++;
                    json_t *w = json_object_get(e, "winners");
                    CU_ASSERT(json_array_size(w) == (size_t)draws[d].count);
                    for (int k = 0; k < draws[d].count; k++)
                        CU_ASSERT(lh_streq(json_string_value(json_array_get(w, (size_t)k)), draws[d].winners[k]));
                }
            }
            CU_ASSERT(!lh_streq(kind, "draw.undo") && !lh_streq(kind, "draw.cancel"));
            json_decref(j);
        }
        free(text);
    }
    CU_ASSERT(stray == 0);
    for (int d = 0; d < n_draws; d++) {
        CU_ASSERT(starts[d] == 1 && stops[d] == 1);
        if (starts[d] != 1 || stops[d] != 1)
            fprintf(stderr, "\n  audit: draw %lld has %d draw.start and %d draw.stop entries\n", draws[d].id, starts[d],
                    stops[d]);
    }
    free(starts);
    free(stops);

    /* and the verifier agrees */
    char *vf[] = {bin, "verify", store_arg, NULL};
    rc = lh_run(vf, out, err, 60000);
    CU_ASSERT(lh_exited_zero(rc));
    if (!lh_exited_zero(rc))
        fprintf(stderr, "\n  lotteryctl verify %s failed (see %s)\n", store_arg, err);
    CU_ASSERT(lh_file_count(out, "\n") >= n_draws);
    free(bin);
    fprintf(stderr, "\n  checked: %d acknowledged sign-ins in the store, %d by hello with the token; %zu winners of %d draws, audit and verify\n", n_acked, checked, nw,
            n_draws);
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite(LK_NAME, suite_init, suite_clean);
    CU_add_test(s, "setup: participants and prizes", test_setup);
    CU_add_test(s, "sign-ins and draws while business processes are killed", test_kill_workload);
    CU_add_test(s, "afterwards: nothing acknowledged lost, nothing twice, verify passes", test_kill_invariants);
    return tu_run(LK_NAME);
}
