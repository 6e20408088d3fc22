/* version: what every binary prints for --version.
 *
 * The version number has one home, the first line of debian/changelog (the
 * file Debian's tools read it from); the Makefile puts it, and the git commit
 * when built from a checkout, in $(BUILD)/gen/gw_version.h. */
#ifndef GW_VERSION_H
#define GW_VERSION_H

#include <stdio.h>

/* "1.0.0 (git a68f467)", or "1.0.0" when not built from a checkout. */
const char *gw_version(void);
/* Prints "PROG VERSION\n" to f. */
void gw_print_version(FILE *f, const char *prog);

#endif
