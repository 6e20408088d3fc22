/* fdtab: an array indexed by fd number that grows to fit. The loop, the
 * gateway's frame guard, its per-address limit and its handshake gate each
 * keep per-socket state this way; one function grows them all. */
#ifndef GW_SHARED_FDTAB_H
#define GW_SHARED_FDTAB_H

#include <stddef.h>

/* The table tab (*n elements of elem bytes) made to hold index fd, like
 * realloc: doubled from 1024 until it does, the new elements zeroed, *n
 * updated; tab itself when it already does. NULL (fd < 0, out of memory)
 * leaves tab and *n as they were. */
void *fdtab_fit(void *tab, size_t *n, size_t elem, int fd);

#endif
