/* The fleet's private parts, shared by its files and by nothing else: fleet.c (the
 * account tree and devices: construction, lookups, silences, geofences), fleet_plan.c
 * (a device's parameters, heartbeats, day plans and the points of its trips),
 * fleet_history.c (points, mileage, trips and state over a span of time), fleet_alarms.c
 * (the alarms), fleet_truth.c (truth files). Invariant: a device's history is a pure
 * function of (seed, imei, time); the caches behind a const fleet never change an answer.
 * Functions named fleet__* are internal to these files. */
#ifndef FLEETARC_SIM_FLEET_INT_H
#define FLEETARC_SIM_FLEET_INT_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/fleet.h"

#define DAY 86400
#define EARTH_KM 6371.0
#define DEG2RAD (M_PI / 180.0)
/* Trips happen in [05:00, 23:00) UTC of their day; parked outside. */
#define ACTIVE_FROM (5 * 3600)
#define ACTIVE_LEN (18 * 3600)
#define BURST_COUNT 1500
#define EXACT_COUNT 1000
#define LATE_TRAP_STEP 120
#define LATE_TRAP_COUNT 720
#define MAX_TRIPS 5

enum {
  TAG_KEY = 1, TAG_HOME, TAG_SPOT, TAG_DAYSPOT, TAG_DAY, TAG_DEST, TAG_TRIP, TAG_WAY,
  TAG_JITTER, TAG_HB, TAG_ALARM, TAG_DELAY, TAG_NAME, TAG_ACC, TAG_STATE, TAG_LATE,
};

/* ---------- hashing ---------- */

static inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

static inline uint64_t hash3(uint64_t key, uint64_t tag, int64_t a) {
  return mix64(key ^ mix64(tag * 0x100000001b3ULL ^ mix64((uint64_t)a)));
}

static inline double unit01(uint64_t h) { return (double)(h >> 11) * 0x1.0p-53; }

static inline double round6(double x) { return round(x * 1e6) / 1e6; }

static inline int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
  return q;
}

static inline int64_t floor_mod(int64_t a, int64_t b) { return a - floor_div(a, b) * b; }

static inline double haversine_km(double lon1, double lat1, double lon2, double lat2) {
  double p1 = lat1 * DEG2RAD, p2 = lat2 * DEG2RAD;
  double dp = p2 - p1, dl = (lon2 - lon1) * DEG2RAD;
  double a = sin(dp / 2) * sin(dp / 2) + cos(p1) * cos(p2) * sin(dl / 2) * sin(dl / 2);
  return 2 * EARTH_KM * asin(sqrt(a < 1 ? a : 1));
}

/* ---------- the fleet ---------- */

typedef struct geofence {
  int64_t id;
  uint32_t dev;
  double lon, lat;
  int radius_m, alarmtype;
  int64_t created;
  char *name;
} geofence_t;

/* Cumulative km of whole days [day(epoch), day) of one device: history is pure, so a
 * forward-only cache (same summation order) never changes an answer. */
typedef struct state_cache state_cache_t;

typedef struct odo_cache {
  int64_t day;
  double km;
} odo_cache_t;

struct sim_fleet {
  sim_fleet_options_t opt;
  char *arena;
  sim_account_t *accounts;
  size_t naccounts;
  uint32_t *child_list, *child_off;   /* child_off[i]..child_off[i+1] into child_list */
  uint32_t *devlist, *devlist_off;
  sim_device_t *devices;
  uint64_t *keys;
  size_t ndevices;
  uint32_t *table;                    /* open addressing, dev+1, 0 empty */
  size_t table_mask;
  odo_cache_t *odo;                   /* mutable caches behind a const fleet */
  state_cache_t *scache;              /* [device], see sim_fleet_state */
  geofence_t *fences;
  size_t nfences, capfences;
  struct { uint32_t dev; int64_t at; } *silences; /* sim_fleet_silence, few */
  size_t nsilences;
};


/* ---------- per-device derived parameters ---------- */

typedef struct dev_ctx {
  const sim_fleet_t *f;
  uint32_t dev;
  uint64_t key;
  sim_device_kind_t kind;
  double home_lon, home_lat;
  int64_t epoch, stop;               /* points exist in [epoch, stop) */
  int64_t hb_step, hb_phase;
  bool sensors;
  /* one heartbeat override window (traps): [w0, w1) holds only first + k*step, k < count */
  int64_t win_w0, win_w1, win_first, win_step, win_count;
  int64_t burst_t;                   /* SAME_TIME trap: time of the burst, or -1 */
  int64_t park_d0, park_d1;          /* trap: days without trips, spent at home */
  int64_t late_day;                  /* LATE_ALARMS trap: its day, or INT64_MIN */
  bool uncached;                     /* recompute everything (the reference for tests) */
  bool late;                         /* uploads windows of its trips late (late_share) */
  int64_t seen_at;                   /* points: hide late windows not yet visible then */
} dev_ctx_t;


static inline int64_t day_of(int64_t t) { return floor_div(t, DAY); }

/* ---------- day plans ---------- */

typedef struct trip_plan {
  int64_t t0, dur;              /* start (UNIX s), duration (s): points at t0 and t0+dur */
  double lon[4], lat[4];        /* waypoints, rounded to 1e-6 */
  double cum[4];                /* km along the path at each waypoint; cum[3] = trip km */
  double amp;                   /* speed varies as mean * (1 - amp cos(2 pi waves x)) */
  int waves;
  int course[3];                /* per leg (detail) */
  int64_t corner[2];            /* seconds after t0 of the points at waypoints 1, 2 */
} trip_plan_t;

typedef struct day_plan {
  int64_t day, day0;
  int n;
  trip_plan_t trip[MAX_TRIPS];
  double park_lon[MAX_TRIPS + 1], park_lat[MAX_TRIPS + 1]; /* park i precedes trip i */
} day_plan_t;

/* A day plan as the state cache keeps it: only its n trips. */
typedef struct plan_store {
  int n;
  double park_lon[MAX_TRIPS + 1], park_lat[MAX_TRIPS + 1];
  trip_plan_t trip[];
} plan_store_t;

/* A point of a device's history, with its distance along its trip. */
typedef struct gen_point {
  sim_point_t p;
  double s;          /* km along the trip (0 for parked points) */
} gen_point_t;

/* ---------- fleet_plan.c ---------- */

/* The derived parameters of device dev. */
void fleet__ctx_init(const sim_fleet_t *f, uint32_t dev, dev_ctx_t *c);
/* The first heartbeat at or after t. */
int64_t fleet__hb_next(const dev_ctx_t *c, int64_t t);
/* Day d's trips and parks; with detail, what the points of its trips need too. */
void fleet__plan_day(const dev_ctx_t *c, int64_t d, bool detail, day_plan_t *p);
/* Whether trip i of day d (plan tp) is uploaded late: then [*s, *e) is its late window,
 * visible from *v on. */
bool fleet__late_window(const dev_ctx_t *c, const trip_plan_t *tp, int64_t d, int i,
                        int64_t *s, int64_t *e, int64_t *v);
/* The late window holding t, if any. */
bool fleet__late_window_at(const dev_ctx_t *c, int64_t t, int64_t *s, int64_t *e, int64_t *v);
/* The odometer (km) at the start of day d. */
double fleet__prefix_km(const dev_ctx_t *c, int64_t d);
/* The first point of trip tp at or after tau seconds into it, if any. */
bool fleet__trip_next(const dev_ctx_t *c, const trip_plan_t *tp, int64_t tau, gen_point_t *out);
sim_point_t fleet__parked_point(int64_t t, double lon, double lat);
/* Park i of plan p: [*a, *b). */
void fleet__park_span(const day_plan_t *p, int i, int64_t *a, int64_t *b);
/* The last point at or before t within day plan p, not before lo; *g: the odometer then. */
bool fleet__day_last_le(const dev_ctx_t *c, const day_plan_t *p, int64_t lo, int64_t t,
                        gen_point_t *out, double *g);
/* The last point at or before t, searching days day(t) - from, ... back. */
bool fleet__point_last_le_from(const dev_ctx_t *c, int64_t t, int from, gen_point_t *out,
                               double *g);
bool fleet__point_last_le(const dev_ctx_t *c, int64_t t, gen_point_t *out, double *g);
/* The first point at or after t, before hi. */
bool fleet__point_first_ge(const dev_ctx_t *c, int64_t t, int64_t hi, gen_point_t *out,
                           double *g);

/* ---------- fleet_history.c ---------- */

/* Empty state caches for n devices (f->scache), NULL on out of memory. */
state_cache_t *fleet__state_caches_new(size_t n);
/* Frees the state caches of every device (f->scache). */
void fleet__state_caches_free(sim_fleet_t *f);

#endif
