/* Full-jitter backoff; see backoff.h. */
#include "net/backoff.h"

#include <time.h>

uint64_t backoff_delay_ms(uint64_t base_ms, uint64_t max_ms, unsigned attempt, uint64_t rnd) {
  uint64_t cap = base_ms ? base_ms : 1;
  for (unsigned i = 0; i < attempt && cap < max_ms; i++) cap = cap > max_ms / 2 ? max_ms : cap * 2;
  if (cap > max_ms) cap = max_ms;
  return cap == UINT64_MAX ? rnd : rnd % (cap + 1);
}

uint64_t backoff_random(void) {
  static uint64_t state;
  if (!state) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    state = ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^ 0x9e3779b97f4a7c15u;
    if (!state) state = 1;
  }
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}
