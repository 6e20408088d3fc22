/* loader: opens the application shared object and finds its callbacks.
 *
 * The object must export `const struct gw_app *gw_app(void)` (gw_api.h);
 * the table must carry GW_API_VERSION and an on_message callback. The gw_*
 * functions it calls are resolved against the business binary, which is
 * linked with -rdynamic for that reason. */
#ifndef GW_BUSINESS_LOADER_H
#define GW_BUSINESS_LOADER_H

#include <stddef.h>

#include "gw_api.h"

struct loader {
    void *handle;
    const struct gw_app *app; /* owned by the object; valid until loader_close */
};

/* 0, or -1 with the reason (dlerror's text included) in err. */
int loader_open(struct loader *ld, const char *path, char *err, size_t errlen);
void loader_close(struct loader *ld);

#endif
