#include "loader.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int loader_open(struct loader *ld, const char *path, char *err, size_t errlen)
{
    memset(ld, 0, sizeof *ld);
    /* RTLD_NOW: an unresolved gw_* symbol fails here, not in the middle of an event. */
    ld->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!ld->handle) {
        snprintf(err, errlen, "eventHandler: cannot load %s: %s", path, dlerror());
        return -1;
    }
    gw_app_fn *fn;
    /* POSIX's sanctioned way to turn a dlsym result into a function pointer. */
    *(void **)&fn = dlsym(ld->handle, GW_APP_SYMBOL);
    if (!fn) {
        snprintf(err, errlen, "eventHandler: %s does not export %s() (see business/gw_api.h)", path, GW_APP_SYMBOL);
        goto fail;
    }
    ld->app = fn();
    if (!ld->app) {
        snprintf(err, errlen, "eventHandler: %s: %s() returned NULL", path, GW_APP_SYMBOL);
        goto fail;
    }
    if (ld->app->api_version < GW_API_VERSION_MIN || ld->app->api_version > GW_API_VERSION) {
        snprintf(err, errlen, "eventHandler: %s was built for API version %u, this worker takes %u to %u", path,
                 ld->app->api_version, GW_API_VERSION_MIN, GW_API_VERSION);
        goto fail;
    }
    if (!ld->app->on_message) {
        snprintf(err, errlen, "eventHandler: %s has no on_message callback", path);
        goto fail;
    }
    return 0;
fail:
    dlclose(ld->handle);
    memset(ld, 0, sizeof *ld);
    return -1;
}

void loader_close(struct loader *ld)
{
    if (ld->handle)
        dlclose(ld->handle);
    memset(ld, 0, sizeof *ld);
}
