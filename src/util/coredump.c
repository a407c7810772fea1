/* Core dumps off at start; see coredump.h. */
#include "util/coredump.h"

#include <errno.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>

int coredump_disable(bool allow) {
  if (allow) return 0;
  struct rlimit none = {0, 0};
  if (setrlimit(RLIMIT_CORE, &none) != 0) return -errno;
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return -errno;
  return 0;
}

bool coredump_describe(char *out, size_t n) {
  struct rlimit rl = {0, 0};
  int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  bool limit_ok = getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur == 0;
  bool off = dumpable == 0 && limit_ok;
  if (off) {
    snprintf(out, n, "off (not dumpable, RLIMIT_CORE 0)");
  } else {
    char lim[32];
    if (rl.rlim_cur == RLIM_INFINITY) snprintf(lim, sizeof lim, "unlimited");
    else snprintf(lim, sizeof lim, "%llu", (unsigned long long)rl.rlim_cur);
    snprintf(out, n, "ON (%s, RLIMIT_CORE %s): a core would hold the md5s and tokens",
             dumpable ? "dumpable" : "not dumpable", lim);
  }
  return off;
}
