/* Retry delays: exponential backoff with full jitter (a uniform pick in [0, cap], cap =
 * min(max, base * 2^attempt)), so clients that failed together do not retry together. */
#ifndef FLEETARC_NET_BACKOFF_H
#define FLEETARC_NET_BACKOFF_H

#include <stdint.h>

/* attempt counts from 0 (the first retry). rnd is any uniformly random 64-bit value; the
 * caller supplies it so tests are deterministic. Never above max_ms, never overflows. */
uint64_t backoff_delay_ms(uint64_t base_ms, uint64_t max_ms, unsigned attempt, uint64_t rnd);

/* A process-local xorshift generator for rnd; not for secrets. */
uint64_t backoff_random(void);

#endif
