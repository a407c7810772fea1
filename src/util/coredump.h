/* Core dumps off: a core of fleetarc holds the account passwords' md5 (login-equivalent)
 * and the live tokens, so the process is made non-dumpable and its RLIMIT_CORE 0 at
 * start, before any configuration (and so any secret) is read. */
#ifndef FLEETARC_UTIL_COREDUMP_H
#define FLEETARC_UTIL_COREDUMP_H

#include <stdbool.h>
#include <stddef.h>

/* prctl(PR_SET_DUMPABLE, 0) and RLIMIT_CORE 0 (soft and hard), or, with allow (the
 * --allow-core-dumps debugging flag), nothing at all. 0 or a negative errno. Not being
 * dumpable also keeps /proc/PID/environ, mem and maps from other users of our uid. */
int coredump_disable(bool allow) __attribute__((warn_unused_result));

/* "off (not dumpable, RLIMIT_CORE 0)" or what is on, for `fleetarc check`. True when
 * core dumps are off. */
bool coredump_describe(char *out, size_t n);

#endif
