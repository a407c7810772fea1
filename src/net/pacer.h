/* Pacing: the least spacing between two requests of one account to one endpoint (the
 * config's api.rate_limits), an optional global rate, and 10009 feedback that widens a
 * lane's spacing and lets success narrow it back. Pure logic: the caller passes the
 * monotonic time in ms, so tests drive it with a fake clock. */
#ifndef FLEETARC_NET_PACER_H
#define FLEETARC_NET_PACER_H

#include <stdint.h>

#include "api/endpoints.h"

typedef struct pacer pacer_t;

typedef struct pacer_options {
  /* The configured floor of each endpoint's spacing, ms (0: none). */
  uint64_t spacing_ms[API_EP_COUNT];
  /* Requests per second over all accounts and endpoints; 0: no global limit. */
  double global_rate;
  /* 10009: spacing = max(spacing * widen_factor, widen_min_ms), capped at max_spacing_ms.
   * Defaults (0): factor 2, min 1000 ms, cap 120000 ms. */
  double widen_factor;
  uint64_t widen_min_ms;
  uint64_t max_spacing_ms;
  /* Each success narrows by this fraction, never below the floor. Default (0): 0.1. */
  double narrow_fraction;
} pacer_options_t;

/* NULL on allocation failure. opt is copied. */
pacer_t *pacer_new(const pacer_options_t *opt);
void pacer_free(pacer_t *p);

/* A new account's lanes (all at their floor). Returns its index (>= 0) or -ENOMEM. */
int pacer_account_add(pacer_t *p) __attribute__((warn_unused_result));

/* The earliest time (>= now) at which account's next request to ep may be sent. */
uint64_t pacer_next(const pacer_t *p, int account, api_endpoint_t ep, uint64_t now);
/* Records a request sent at now (the lane's and the global clock move). */
void pacer_sent(pacer_t *p, int account, api_endpoint_t ep, uint64_t now);
/* A 10009 for a request sent at sent_at: widens the lane unless it was already widened
 * after sent_at (many requests in flight answered 10009 for one burst: widen once).
 * Except a refusal of a request that kept a configured floor (> 0) after the lane's
 * previous one, at the floor: the host saw them closer than sent (network or scheduling
 * jitter, above all at short floors), so the lane gains a margin of floor /
 * PACER_MARGIN_STEP_DIV (at most floor / 4 in all) instead, which PACER_MARGIN_CALM
 * successes in a row take back step by step. Either way the next request waits a full
 * spacing from now. */
#define PACER_MARGIN_STEP_DIV 16
#define PACER_MARGIN_CALM 64
void pacer_throttled(pacer_t *p, int account, api_endpoint_t ep, uint64_t sent_at, uint64_t now);
/* A success: narrows the lane back towards its floor. */
void pacer_succeeded(pacer_t *p, int account, api_endpoint_t ep);
/* A reload's new floors and global rate (opt's spacing_ms and global_rate only; the
 * 10009 policy stays). A lane at its old floor moves to the new one; a lane widened above
 * it keeps its spacing, never below the new floor, and narrows to it on success. O(lanes). */
void pacer_set_limits(pacer_t *p, const pacer_options_t *opt);
/* The lane's current spacing, its jitter margin included, ms. */
uint64_t pacer_spacing(const pacer_t *p, int account, api_endpoint_t ep);

#endif
