/* Benchmark of the simulator's fleet: points generated per second (playback pages),
 * track states per second, alarm queries per second, on a 100k-device fleet. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sim/fleet.h"

#define EPOCH 1793491200LL /* 2026-11-01T00:00:00Z */
#define DAY 86400LL

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct page {
  size_t n, limit;
  int64_t last;
} page_t;

static int cb_count(void *arg, const sim_point_t *p) {
  page_t *pg = arg;
  pg->last = p->gpstime;
  return ++pg->n >= pg->limit ? 1 : 0;
}

static int cb_alarm(void *arg, const sim_alarm_t *a) {
  (void)a;
  (*(size_t *)arg)++;
  return 0;
}

int main(int argc, char **argv) {
  uint32_t devices = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 100000;
  sim_fleet_options_t opt = {.seed = 1, .devices = devices, .traps = true, .epoch = EPOCH};
  double t0 = now_s();
  sim_fleet_t *f = sim_fleet_new(&opt);
  if (!f) {
    fprintf(stderr, "sim_fleet_new failed\n");
    return 1;
  }
  printf("build: %u devices in %.3f s\n", devices, now_s() - t0);
  size_t n = sim_fleet_device_count(f);
  int64_t now = EPOCH + 30 * DAY + 15 * 3600;

  /* playback: pages of 1000 from a random day of the window */
  size_t points = 0, pages = 0;
  t0 = now_s();
  for (uint32_t i = 0; i < 2000; i++) {
    uint32_t dev = (uint32_t)(((uint64_t)i * 7919) % n);
    page_t pg = {0, 1000, 0};
    int64_t begin = EPOCH + (int64_t)(i % 29) * DAY;
    int rc = sim_fleet_points(f, dev, begin, begin + 7 * DAY, cb_count, &pg);
    if (rc < 0) return 1;
    points += pg.n;
    pages++;
  }
  double dt = now_s() - t0;
  printf("points: %.0f points/s, %.0f pages/s (%zu pages, %zu points)\n", (double)points / dt,
         (double)pages / dt, pages, points);

  /* track: states of every device, as 100-IMEI requests would ask them: the first pass
   * fills the per-device day cache (cold), later passes a few seconds on (a poll cycle
   * with a moving clock) use it (warm); uncached is the reference recomputation */
  for (int pass = 0; pass < 4; pass++) {
    t0 = now_s();
    size_t states = 0;
    for (uint32_t dev = 0; dev < n && states < 50000; dev += 1 + (uint32_t)(n / 50000)) {
      sim_state_t s;
      int rc = pass == 3 ? sim_fleet_state_uncached(f, dev, now + 30, &s)
                         : sim_fleet_state(f, dev, now + pass * 10, &s);
      if (rc != 0) return 1;
      states++;
    }
    dt = now_s() - t0;
    static const char *const names[] = {"cold", "warm", "warm, +10 s", "uncached"};
    printf("states (%s): %.0f states/s, %.2f us/state (%zu)\n", names[pass],
           (double)states / dt, dt * 1e6 / (double)states, states);
  }

  /* alarms: one day of alarms per query */
  t0 = now_s();
  size_t alarms = 0, queries = 0;
  for (uint32_t i = 0; i < 5000; i++) {
    uint32_t dev = (uint32_t)(((uint64_t)i * 104729) % n);
    int64_t begin = EPOCH + (int64_t)(i % 29) * DAY;
    if (sim_fleet_alarms(f, dev, begin, begin + DAY, cb_alarm, &alarms) < 0) return 1;
    queries++;
  }
  dt = now_s() - t0;
  printf("alarms: %.0f day-queries/s (%zu alarms)\n", (double)queries / dt, alarms);
  sim_fleet_free(f);
  return 0;
}
