#include "version.h"

#include "gw_version.h" /* generated: GW_VERSION, GW_GIT */

const char *gw_version(void)
{
    return GW_GIT[0] ? GW_VERSION " (git " GW_GIT ")" : GW_VERSION;
}

void gw_print_version(FILE *f, const char *prog)
{
    fprintf(f, "%s %s\n", prog, gw_version());
}
