/* fake_transport.h: the business worker's transport in the fuzz harnesses
 * that drive the real events/API (fuzz_business.c, fuzz_lottery_app.c): one
 * fake gateway link, fake_link at FAKE_IP:FAKE_PORT, whose frames go to the
 * harness's link_send. Included once, after the harness has defined
 * FAKE_IP, FAKE_PORT, `static struct link fake_link` and link_send. */
#ifndef FUZZ_FAKE_TRANSPORT_H
#define FUZZ_FAKE_TRANSPORT_H

static struct link *t_find(struct links *ls, uint32_t ip, uint16_t port)
{
    (void)ls;
    return ip == FAKE_IP && port == FAKE_PORT ? &fake_link : NULL;
}
static size_t t_count(const struct links *ls)
{
    (void)ls;
    return 1;
}
static struct link *t_at(struct links *ls, size_t i)
{
    (void)ls, (void)i;
    return &fake_link;
}
static int t_usable(const struct link *l) { return l == &fake_link; }
static void t_settle(struct links *ls) { (void)ls; }

static const struct api_transport transport = {
    .find = t_find,
    .count = t_count,
    .at = t_at,
    .usable = t_usable,
    .send = link_send,
    .settle = t_settle,
    .session_load = events_session_load,
};

#endif
