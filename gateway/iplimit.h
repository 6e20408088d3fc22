/* iplimit: maxConnectionsPerIp, the number of client connections one TCP
 * peer address may hold at once (0 = no limit, the default). Counted from
 * accept to the socket's close, the handshake stage included, so a flood of
 * connections that never finish their request is refused too.
 *
 * A connection is owned by its fd until lws adopts it, then by its wsi
 * (lws closes the fd itself and tells us only the wsi, in WSI_DESTROY). */
#ifndef GW_GATEWAY_IPLIMIT_H
#define GW_GATEWAY_IPLIMIT_H

#include <stddef.h>

struct lws;
struct iplimit;

struct iplimit *iplimit_new(size_t max);
void iplimit_free(struct iplimit *il);
/* A new connection from ip on fd: 1 admitted (counted), 0 refused (the
 * caller closes it; refusals are logged at most once a second). */
int iplimit_admit(struct iplimit *il, int fd, const char *ip);
/* fd was closed before lws got it. */
void iplimit_release_fd(struct iplimit *il, int fd);
/* lws adopted fd as wsi. */
void iplimit_adopted(struct iplimit *il, int fd, struct lws *wsi);
/* lws destroyed wsi. */
void iplimit_release_wsi(struct iplimit *il, struct lws *wsi);
/* Refused connections so far. */
unsigned long long iplimit_refused(const struct iplimit *il);

#endif
