/* api: the implementation of gw_api.h inside a worker process.
 *
 * The public functions take no handle (GatewayWorker's API is static), so
 * this module keeps the one global of the business worker: a pointer to the
 * process's struct bw, set once by api_bind() before the application's
 * on_worker_start. The current-event context lives in that struct. */
#ifndef GW_BUSINESS_API_H
#define GW_BUSINESS_API_H

struct bw;

void api_bind(struct bw *bw);
/* The bound process, or NULL. */
struct bw *api_bound(void);

#endif
