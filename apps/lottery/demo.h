/* demo: the demo event `make run` starts with ([app] demo = true): a few
 * hundred generated Chinese names with departments and four prizes, put
 * into an empty store once (fixed request ids make it idempotent, so the
 * worker processes starting together add it exactly once). */
#ifndef LOTTERY_DEMO_H
#define LOTTERY_DEMO_H

#include "store.h"

#define DEMO_PEOPLE 300

/* The generated participants: an array of {empNo,name,dept} (E0001...). */
json_t *demo_rows(int n);
/* Imports them and the prizes unless the store already has participants.
 * 0, or -1 with the store's message in err. */
int demo_seed(struct store *s, char *err, size_t errlen);

#endif
