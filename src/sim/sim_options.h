/* Parsers for the simulator's command-line values: times, durations, and the
 * --faults and --limits specs. Pure functions, so bad input is a usage error at start,
 * never a surprise at run time. */
#ifndef FLEETARC_SIM_SIM_OPTIONS_H
#define FLEETARC_SIM_SIM_OPTIONS_H

#include <stdint.h>

#include "api/endpoints.h"

typedef enum {
  SIM_FAULT_HTTP500 = 0, /* HTTP 500 with an HTML body */
  SIM_FAULT_HTTP502,     /* HTTP 502 with an HTML body */
  SIM_FAULT_SLOW,        /* the answer comes after ~2 s */
  SIM_FAULT_TIMEOUT,     /* no answer at all; the connection stays open */
  SIM_FAULT_RESET,       /* TCP RST */
  SIM_FAULT_TRUNCATE,    /* full headers, part of the body, close */
  SIM_FAULT_SYSERR,      /* code 10000 */
  SIM_FAULT_RATELIMIT,   /* code 10009 */
  SIM_FAULT_REVOKE,      /* the account's token is revoked: 10011 from now on */
  SIM_FAULT_ECHO,        /* HTTP 400 with an HTML page quoting the request line, parameters
                          * and all, as some proxies and WAFs answer a request they reject */
  SIM_FAULT_COUNT,
  SIM_FAULT_NONE = SIM_FAULT_COUNT
} sim_fault_t;

/* "http500", ...; the keys of --faults and of /sim/stats. */
const char *sim_fault_name(sim_fault_t f);

/* T: UNIX seconds, 2026-11-01 (UTC midnight), 2026-11-01T06:30:00Z, or with an offset
 * 2026-11-01T08:30:00+02:00. Returns 0 or -EINVAL. */
int sim_parse_time(const char *s, int64_t *out) __attribute__((warn_unused_result));
/* "500ms", "12s", "2m", "1h"; a bare number is seconds. Returns 0 or -EINVAL. */
int sim_parse_duration_ms(const char *s, int64_t *out) __attribute__((warn_unused_result));
/* "http500=0.02,reset=0.01": probabilities per request, each in [0,1], sum <= 1.
 * Unnamed kinds are 0. Returns 0 or -EINVAL. */
int sim_parse_faults(const char *spec, double prob[SIM_FAULT_COUNT])
    __attribute__((warn_unused_result));
/* "track=10s,playback=12s,default=1s": least spacing per account and endpoint, keys
 * being the path after /api/. ms[ep] is -1 when no limit applies. Returns 0 or -EINVAL. */
int sim_parse_limits(const char *spec, int64_t ms[API_EP_COUNT])
    __attribute__((warn_unused_result));

/* --late-uploads "share=0.3,window=20m,delay=15m": the share of devices (0..1] with late
 * windows, each window's length (>= 60 s) and the delay of its upload after the window
 * (window + delay <= 5 h); window and delay are durations as above, in whole seconds.
 * Returns 0 or -EINVAL. */
int sim_parse_late(const char *spec, double *share, int64_t *window_s, int64_t *delay_s)
    __attribute__((warn_unused_result));

#endif
