/* admin: the admin page's commands (docs/lottery-protocol.md §3): each one
 * store call (one transaction, idempotent by rid), its answer, and the
 * pushes that tell every page what changed. */
#ifndef LOTTERY_ADMIN_H
#define LOTTERY_ADMIN_H

#include "req.h"

void admin_import(struct req *q);
void admin_prize_save(struct req *q);
void admin_prize_delete(struct req *q);
void admin_draw_start(struct req *q);
void admin_draw_stop(struct req *q);
void admin_draw_cancel(struct req *q);
void admin_draw_undo(struct req *q);
void admin_winner_replace(struct req *q);
void admin_event_set(struct req *q);
void admin_danmaku_delete(struct req *q);
void admin_export(struct req *q);
void admin_stats(struct req *q);

#endif
