/* send-command's polling plan: the spec's defaults and the test overrides, checked. */
#include "cli/sendcmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/timeparse.h"

int sendcmd_plan_parse(const char *interval, const char *tries, sendcmd_plan_t *out, char *err,
                       size_t errlen) {
  out->interval_ms = SENDCMD_POLL_INTERVAL_MS;
  out->tries = SENDCMD_POLL_TRIES;
  if (interval) {
    int64_t ms;
    char why[TIMEPARSE_ERR_MAX];
    if (timeparse_duration(interval, &ms, why, sizeof why) != 0) {
      snprintf(err, errlen, "--poll-interval: %s", why);
      return -EINVAL;
    }
    if (ms <= 0 || ms > 60000) {
      snprintf(err, errlen, "--poll-interval must be over 0 and at most 1m");
      return -EINVAL;
    }
    out->interval_ms = (uint64_t)ms;
  }
  if (tries) {
    char *end;
    unsigned long v = strtoul(tries, &end, 10);
    if (end == tries || *end || tries[0] == '-' || v == 0 || v > 1000) {
      snprintf(err, errlen, "--tries must be a number from 1 to 1000");
      return -EINVAL;
    }
    out->tries = (unsigned)v;
  }
  return 0;
}

uint64_t sendcmd_plan_wait_ms(const sendcmd_plan_t *plan) {
  return plan->interval_ms * plan->tries;
}
