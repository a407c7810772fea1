/* The polling plan of `fleetarc send-command` (spec 2.6: ask once a second, at most 30
 * times, then the command has timed out), apart so that its arithmetic is testable. */
#ifndef FLEETARC_CLI_SENDCMD_H
#define FLEETARC_CLI_SENDCMD_H

#include <stddef.h>
#include <stdint.h>

#define SENDCMD_POLL_INTERVAL_MS 1000
#define SENDCMD_POLL_TRIES 30

typedef struct sendcmd_plan {
  uint64_t interval_ms; /* wait before each query */
  unsigned tries;       /* queries before "timed out" */
} sendcmd_plan_t;

/* The plan from the optional --poll-interval DURATION and --tries N (NULL: the spec's
 * 1 s and 30). Returns 0, or -EINVAL for a bad value (interval 0 or over 1 minute, tries
 * 0 or over 1000) with a reason in err. */
int sendcmd_plan_parse(const char *interval, const char *tries, sendcmd_plan_t *out, char *err,
                       size_t errlen) __attribute__((warn_unused_result));

/* The least time the command waits for an answer before timing out: tries x interval
 * (30 s by default; each query's own round trip comes on top). */
uint64_t sendcmd_plan_wait_ms(const sendcmd_plan_t *plan);

#endif
