#include "fdtab.h"

#include <stdlib.h>
#include <string.h>

void *fdtab_fit(void *tab, size_t *n, size_t elem, int fd)
{
    if (fd < 0)
        return NULL;
    if ((size_t)fd < *n)
        return tab;
    size_t m = *n ? *n : 1024;
    while (m <= (size_t)fd)
        m *= 2;
    char *t = realloc(tab, m * elem);
    if (!t)
        return NULL;
    memset(t + *n * elem, 0, (m - *n) * elem);
    *n = m;
    return t;
}
