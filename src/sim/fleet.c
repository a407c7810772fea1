/* The simulator's synthetic fleet: the account tree, the devices, and every device's
 * history as a pure function of (seed, imei, time), computed day by day on demand. */
#include "sim/fleet.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

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

static double haversine_km(double lon1, double lat1, double lon2, double lat2) {
  double p1 = lat1 * DEG2RAD, p2 = lat2 * DEG2RAD;
  double dp = p2 - p1, dl = (lon2 - lon1) * DEG2RAD;
  double a = sin(dp / 2) * sin(dp / 2) + cos(p1) * cos(p2) * sin(dl / 2) * sin(dl / 2);
  return 2 * EARTH_KM * asin(sqrt(a < 1 ? a : 1));
}

static int bearing_deg(double lon1, double lat1, double lon2, double lat2) {
  double p1 = lat1 * DEG2RAD, p2 = lat2 * DEG2RAD, dl = (lon2 - lon1) * DEG2RAD;
  double y = sin(dl) * cos(p2);
  double x = cos(p1) * sin(p2) - sin(p1) * cos(p2) * cos(dl);
  long b = lround(atan2(y, x) / DEG2RAD);
  b %= 360;
  if (b < 0) b += 360;
  return (int)b;
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

/* Inland cities, so that a ~25 km box around a home stays on land. */
static const double CITIES[][2] = {
  {-3.7038, 40.4168},   {2.3522, 48.8566},    {13.4050, 52.5200},  {21.0122, 52.2297},
  {37.6173, 55.7558},   {-99.1332, 19.4326},  {-74.0721, 4.7110},  {-46.6333, -23.5505},
  {28.0473, -26.2041},  {36.8219, -1.2921},   {77.2090, 28.6139},  {116.4074, 39.9042},
  {104.0665, 30.5723},  {51.3890, 35.6892},   {32.8597, 39.9334},  {30.5234, 50.4501},
  {-104.9903, 39.7392}, {-96.7970, 32.7767},  {-84.3880, 33.7490}, {-94.5786, 39.0997},
  {-114.0719, 51.0447}, {-47.8825, -15.7942}, {-70.6693, -33.4489}, {46.6753, 24.7136},
};
#define NCITIES (sizeof(CITIES) / sizeof(CITIES[0]))

static const char *const DEVICE_TYPES[] = {"VT05S", "GT06N", "GT02A", "TK103B",
                                           "GT300", "ET200", "JM01", "X3"};
static const char *const DEVICE_NAMES[] = {"Camión %u", "Грузовик %u", "車両 %u",
                                           "Truck %u", "Van %u", "Fourgon %u",
                                           "Lieferwagen %u", "Bus %u"};
static const char *const CUSTOMER_NAMES[] = {"Transportes Peña %u", "Логистика %u",
                                             "物流公司 %u", "Acme Haulage %u",
                                             "Müller Spedition %u"};

static const char *const TRAP_IMEIS[3] = {"999000000000001", "999000000000002",
                                          "999000000000003"};

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

static int64_t day_of(int64_t t) { return floor_div(t, DAY); }

static void box_point(const dev_ctx_t *c, uint64_t h, double *lon, double *lat) {
  *lon = round6(c->home_lon + (2 * unit01(h) - 1) * 0.10);
  *lat = round6(c->home_lat + (2 * unit01(mix64(h)) - 1) * 0.07);
}

static void ctx_init(const sim_fleet_t *f, uint32_t dev, dev_ctx_t *c) {
  memset(c, 0, sizeof(*c));
  c->f = f;
  c->dev = dev;
  c->key = f->keys[dev];
  c->kind = f->devices[dev].kind;
  uint64_t h = hash3(c->key, TAG_HOME, 0);
  const double *city = CITIES[h % NCITIES];
  c->home_lon = round6(city[0] + (2 * unit01(mix64(h)) - 1) * 0.05);
  c->home_lat = round6(city[1] + (2 * unit01(mix64(h + 1)) - 1) * 0.04);
  static const int64_t steps[] = {300, 600, 900, 1200, 1800};
  uint64_t hb = hash3(c->key, TAG_HB, 0);
  c->hb_step = steps[hb % 5];
  c->hb_phase = (int64_t)((hb >> 8) % (uint64_t)c->hb_step);
  c->sensors = (hash3(c->key, TAG_STATE, 0) % 10) != 0;
  c->epoch = f->opt.epoch;
  c->stop = INT64_MAX;
  c->burst_t = -1;
  c->park_d0 = INT64_MAX;
  c->park_d1 = INT64_MIN;
  c->late_day = INT64_MIN;
  c->seen_at = INT64_MAX;
  c->late = f->opt.late_share > 0 && f->opt.late_window > 0 &&
            unit01(hash3(c->key, TAG_LATE, -1)) < f->opt.late_share;
  int64_t d0 = day_of(c->epoch);
  switch (c->kind) {
  case SIM_DEVICE_NEVER_ONLINE:
    c->stop = c->epoch;
    break;
  case SIM_DEVICE_OFFLINE:
    c->stop = (d0 + 1 + (int64_t)(h % 2)) * DAY + 3 * 3600;
    break;
  case SIM_DEVICE_EXPIRED:
    c->stop = f->devices[dev].platformduetime;
    break;
  case SIM_DEVICE_TRAP_EXACT_PAGE:
    c->win_w0 = c->epoch;
    c->win_w1 = c->epoch + DAY;
    c->win_first = c->epoch + 60;
    c->win_step = 80;
    c->win_count = EXACT_COUNT;
    c->park_d0 = d0;
    c->park_d1 = day_of(c->epoch + DAY);
    break;
  case SIM_DEVICE_TRAP_SAME_TIME: {
    int64_t t = c->epoch + DAY / 2;
    t -= floor_mod(t - c->hb_phase, c->hb_step); /* a heartbeat time, then off it */
    c->burst_t = t + 7;
    c->park_d0 = c->park_d1 = day_of(c->burst_t);
    break;
  }
  case SIM_DEVICE_TRAP_LATE_ALARMS:
    c->late_day = day_of(c->epoch + DAY - 1); /* the first UTC day wholly in history */
    c->win_w0 = c->late_day * DAY;
    c->win_w1 = c->win_w0 + DAY;
    c->win_first = c->win_w0;
    c->win_step = LATE_TRAP_STEP;
    c->win_count = LATE_TRAP_COUNT;
    c->park_d0 = c->park_d1 = c->late_day;
    break;
  default:
    break;
  }
  for (size_t i = 0; i < f->nsilences; i++)
    if (f->silences[i].dev == dev && f->silences[i].at < c->stop) c->stop = f->silences[i].at;
}

/* ---------- heartbeats ---------- */

static int64_t hb_normal_next(const dev_ctx_t *c, int64_t t) {
  return t + floor_mod(c->hb_phase - t, c->hb_step);
}

static int64_t hb_normal_prev(const dev_ctx_t *c, int64_t t) {
  return t - floor_mod(t - c->hb_phase, c->hb_step);
}

/* First heartbeat time >= t (ignoring trips: callers ask only within parked spans). */
static int64_t hb_next(const dev_ctx_t *c, int64_t t) {
  if (c->win_count == 0) return hb_normal_next(c, t);
  if (t < c->win_w0) {
    int64_t n = hb_normal_next(c, t);
    if (n < c->win_w0) return n;
    t = c->win_w0;
  }
  if (t < c->win_w1) {
    int64_t k = t <= c->win_first ? 0 : (t - c->win_first + c->win_step - 1) / c->win_step;
    if (k < c->win_count) return c->win_first + k * c->win_step;
    t = c->win_w1;
  }
  return hb_normal_next(c, t);
}

/* Last heartbeat time <= t. */
static int64_t hb_prev(const dev_ctx_t *c, int64_t t) {
  if (c->win_count == 0) return hb_normal_prev(c, t);
  if (t >= c->win_w1) {
    int64_t p = hb_normal_prev(c, t);
    if (p >= c->win_w1) return p;
    t = c->win_w1 - 1;
  }
  if (t >= c->win_w0) {
    if (t >= c->win_first) {
      int64_t k = (t - c->win_first) / c->win_step;
      if (k > c->win_count - 1) k = c->win_count - 1;
      return c->win_first + k * c->win_step;
    }
    t = c->win_w0 - 1;
  }
  return hb_normal_prev(c, t);
}

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

static bool forced_park(const dev_ctx_t *c, int64_t d) { return d >= c->park_d0 && d <= c->park_d1; }

/* Where the vehicle spends the night after day d: a function of (device, d) only, so
 * day d's start is known without replaying earlier days. */
static void night_spot(const dev_ctx_t *c, int64_t d, double *lon, double *lat) {
  if (c->kind == SIM_DEVICE_PARKED || (d >= c->park_d0 - 1 && d <= c->park_d1)) {
    *lon = c->home_lon;
    *lat = c->home_lat;
    return;
  }
  uint64_t r = hash3(c->key, TAG_DAYSPOT, d) % 10;
  if (r < 6) {
    *lon = c->home_lon;
    *lat = c->home_lat;
    return;
  }
  box_point(c, hash3(c->key, TAG_SPOT, (int64_t)(r - 6)), lon, lat);
}

static double s_at(const trip_plan_t *tp, double tau) {
  double x = tau / (double)tp->dur;
  double w = 2 * M_PI * tp->waves;
  return tp->cum[3] * (x - tp->amp / w * sin(w * x));
}

static double v_at(const trip_plan_t *tp, double tau) {
  double x = tau / (double)tp->dur;
  return tp->cum[3] / (double)tp->dur * 3600.0 * (1 - tp->amp * cos(2 * M_PI * tp->waves * x));
}

/* Time after t0 at which the path reaches s (s is strictly increasing in tau). */
static double tau_of_s(const trip_plan_t *tp, double s) {
  double lo = 0, hi = (double)tp->dur;
  double tau = hi * s / tp->cum[3];
  for (int i = 0; i < 60; i++) {
    double e = s_at(tp, tau) - s;
    if (fabs(e) < 1e-9) break;
    if (e > 0) hi = tau; else lo = tau;
    double v = v_at(tp, tau) / 3600.0;
    double nt = tau - e / v;
    tau = (nt > lo && nt < hi) ? nt : (lo + hi) / 2;
  }
  return tau;
}

static void build_trip(const dev_ctx_t *c, int64_t d, int i, double alon, double alat,
                       double blon, double blat, trip_plan_t *tp) {
  uint64_t h = hash3(c->key, TAG_WAY, d * 8 + i);
  tp->lon[0] = alon; tp->lat[0] = alat;
  tp->lon[3] = blon; tp->lat[3] = blat;
  for (int j = 1; j <= 2; j++) {
    uint64_t hj = mix64(h + (uint64_t)j);
    tp->lon[j] = round6(alon + (blon - alon) * j / 3.0 + (2 * unit01(hj) - 1) * 0.015);
    tp->lat[j] = round6(alat + (blat - alat) * j / 3.0 + (2 * unit01(mix64(hj)) - 1) * 0.010);
  }
  /* Legs of at least 300 m keep two corners more than a second apart at any speed. */
  for (int tries = 0; tries < 16; tries++) {
    bool ok = true;
    tp->cum[0] = 0;
    for (int j = 0; j < 3; j++) {
      double len = haversine_km(tp->lon[j], tp->lat[j], tp->lon[j + 1], tp->lat[j + 1]);
      if (len < 0.3) ok = false;
      tp->cum[j + 1] = tp->cum[j] + len;
    }
    if (ok) break;
    tp->lat[1] = round6(tp->lat[1] + 0.004);
    tp->lon[2] = round6(tp->lon[2] - 0.005);
  }
  uint64_t ht = hash3(c->key, TAG_TRIP, d * 8 + i);
  double vmean = 35 + 40 * unit01(ht);
  double amp = 0.15 + 0.35 * unit01(mix64(ht));
  if (amp > 1 - 20 / vmean) amp = 1 - 20 / vmean;
  if (amp > 115 / vmean - 1) amp = 115 / vmean - 1;
  tp->amp = amp;
  tp->dur = (int64_t)ceil(tp->cum[3] / vmean * 3600.0);
  if (tp->dur < 60) tp->dur = 60;
  tp->waves = 1 + (int)(tp->dur / 1200);
  if (tp->waves > 5) tp->waves = 5;
}

static void trip_detail(trip_plan_t *tp) {
  for (int j = 0; j < 3; j++)
    tp->course[j] = bearing_deg(tp->lon[j], tp->lat[j], tp->lon[j + 1], tp->lat[j + 1]);
  for (int j = 0; j < 2; j++) {
    int64_t tc = llround(tau_of_s(tp, tp->cum[j + 1]));
    if (tc < 1) tc = 1;
    if (tc > tp->dur - 1) tc = tp->dur - 1;
    if (j == 1 && tc <= tp->corner[0]) tc = tp->corner[0] + 1;
    tp->corner[j] = tc;
  }
}

static void plan_day(const dev_ctx_t *c, int64_t d, bool detail, day_plan_t *p) {
  p->day = d;
  p->day0 = d * DAY;
  p->n = 0;
  night_spot(c, d - 1, &p->park_lon[0], &p->park_lat[0]);
  if (c->kind == SIM_DEVICE_NEVER_ONLINE) return;
  double elon, elat;
  night_spot(c, d, &elon, &elat);
  uint64_t h = hash3(c->key, TAG_DAY, d);
  static const int table[20] = {0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5};
  int n = table[h % 20];
  if (c->kind == SIM_DEVICE_PARKED || forced_park(c, d)) n = 0;
  else if (n == 0 && (elon != p->park_lon[0] || elat != p->park_lat[0])) n = 1;
  p->n = n;
  if (n == 0) return;
  int64_t slot = ACTIVE_LEN / n;
  for (int i = 0; i < n; i++) {
    double blon = elon, blat = elat;
    if (i < n - 1) box_point(c, hash3(c->key, TAG_DEST, d * 8 + i), &blon, &blat);
    trip_plan_t *tp = &p->trip[i];
    build_trip(c, d, i, p->park_lon[i], p->park_lat[i], blon, blat, tp);
    int64_t room = slot - tp->dur - 600;
    if (room < 1) room = 1;
    tp->t0 = p->day0 + ACTIVE_FROM + i * slot + (int64_t)(mix64(h + (uint64_t)i) % (uint64_t)room);
    if (detail) trip_detail(tp);
    p->park_lon[i + 1] = blon;
    p->park_lat[i + 1] = blat;
  }
}

/* The late-upload window of trip i of day d (late devices, trips of 3 min or more): reports
 * with gpstime in [*s, *e) reach the platform at *v = *e + late_delay, after the live fix
 * that follows the reconnection at *e. */
static bool late_window(const dev_ctx_t *c, const trip_plan_t *tp, int64_t d, int i,
                        int64_t *s, int64_t *e, int64_t *v) {
  int64_t w = c->f->opt.late_window;
  if (!c->late || tp->dur < 180) return false;
  if (w > tp->dur - 120) w = tp->dur - 120; /* inside the trip, a minute from each end */
  uint64_t h = hash3(c->key, TAG_LATE, d * 8 + i);
  *s = tp->t0 + 60 + (int64_t)(h % (uint64_t)(tp->dur - w - 120 + 1));
  *e = *s + w;
  *v = *e + c->f->opt.late_delay;
  return true;
}

/* The late window holding time t, if any. */
static bool late_window_at(const dev_ctx_t *c, int64_t t, int64_t *s, int64_t *e, int64_t *v) {
  if (!c->late) return false;
  day_plan_t p;
  plan_day(c, day_of(t), false, &p);
  for (int i = 0; i < p.n; i++)
    if (late_window(c, &p.trip[i], p.day, i, s, e, v) && t >= *s && t < *e) return true;
  return false;
}

static double day_km(const dev_ctx_t *c, int64_t d) {
  day_plan_t p;
  plan_day(c, d, false, &p);
  double km = 0;
  for (int i = 0; i < p.n; i++) km += p.trip[i].cum[3];
  return km;
}

/* Km of whole days [day(epoch), d). */
static double prefix_km(const dev_ctx_t *c, int64_t d) {
  int64_t d0 = day_of(c->epoch);
  if (d <= d0) return 0;
  if (c->uncached) {
    double sum = 0;
    for (int64_t x = d0; x < d; x++) sum += day_km(c, x);
    return sum;
  }
  odo_cache_t *e = &c->f->odo[c->dev];
  int64_t x = d0;
  double sum = 0;
  if (e->day >= d0 && e->day <= d) {
    x = e->day;
    sum = e->km;
  }
  for (; x < d; x++) sum += day_km(c, x);
  e->day = d;
  e->km = sum;
  return sum;
}

/* ---------- points of a trip ---------- */

typedef struct gen_point {
  sim_point_t p;
  double s;          /* km along the trip (0 for parked points) */
} gen_point_t;

static void pos_at_s(const trip_plan_t *tp, double s, double *lon, double *lat, int *course) {
  int j = 0;
  while (j < 2 && s > tp->cum[j + 1]) j++;
  double len = tp->cum[j + 1] - tp->cum[j];
  double fr = len > 0 ? (s - tp->cum[j]) / len : 0;
  if (fr < 0) fr = 0;
  if (fr > 1) fr = 1;
  *lon = round6(tp->lon[j] + fr * (tp->lon[j + 1] - tp->lon[j]));
  *lat = round6(tp->lat[j] + fr * (tp->lat[j + 1] - tp->lat[j]));
  *course = tp->course[j];
}

static int64_t reg_tau(const dev_ctx_t *c, const trip_plan_t *tp, int64_t k) {
  return 10 * k + (int64_t)(hash3(c->key ^ (uint64_t)tp->t0, TAG_JITTER, k) % 4);
}

/* The first point of the trip at or after tau (seconds after t0); false past the end.
 * Points: the start (speed 0), every ~10 s, one at each corner, the end (speed 0). */
static bool trip_next(const dev_ctx_t *c, const trip_plan_t *tp, int64_t tau, gen_point_t *out) {
  if (tau > tp->dur) return false;
  if (tau <= 0) {
    out->p = (sim_point_t){tp->t0, tp->lon[0], tp->lat[0], 0, tp->course[0]};
    out->s = 0;
    return true;
  }
  int64_t best = tp->dur;
  int kind = 3; /* 0 regular, 1/2 corner, 3 end */
  int64_t k = tau / 10 - 1;
  if (k < 1) k = 1;
  for (;; k++) {
    int64_t r = reg_tau(c, tp, k);
    if (r > tp->dur - 4) break;
    /* keep 5 s away from a corner's (rounded) time, so apparent speeds stay true */
    if (r < tau || llabs(r - tp->corner[0]) < 5 || llabs(r - tp->corner[1]) < 5) continue;
    if (r < best) { best = r; kind = 0; }
    break;
  }
  for (int j = 0; j < 2; j++)
    if (tp->corner[j] >= tau && tp->corner[j] < best) { best = tp->corner[j]; kind = 1 + j; }
  out->p.gpstime = tp->t0 + best;
  if (kind == 3) {
    out->p.longitude = tp->lon[3];
    out->p.latitude = tp->lat[3];
    out->p.speed = 0;
    out->p.course = tp->course[2];
    out->s = tp->cum[3];
  } else if (kind == 0) {
    out->s = s_at(tp, (double)best);
    pos_at_s(tp, out->s, &out->p.longitude, &out->p.latitude, &out->p.course);
    out->p.speed = (int)lround(v_at(tp, (double)best));
  } else {
    out->p.longitude = tp->lon[kind];
    out->p.latitude = tp->lat[kind];
    out->p.course = tp->course[kind];
    out->p.speed = (int)lround(v_at(tp, (double)best));
    out->s = tp->cum[kind];
  }
  return true;
}

/* The last point of the trip at or before tau (0 <= tau). */
static void trip_last_le(const dev_ctx_t *c, const trip_plan_t *tp, int64_t tau, gen_point_t *out) {
  int64_t from = tau - 14;
  gen_point_t q;
  if (!trip_next(c, tp, from < 0 ? 0 : from, out)) return;
  while (trip_next(c, tp, out->p.gpstime - tp->t0 + 1, &q) && q.p.gpstime - tp->t0 <= tau) *out = q;
}

static sim_point_t parked_point(int64_t t, double lon, double lat) {
  return (sim_point_t){t, lon, lat, 0, 0};
}

/* Span [a, b] of park i of a plan (clipped to its day). */
static void park_span(const day_plan_t *p, int i, int64_t *a, int64_t *b) {
  *a = i == 0 ? p->day0 : p->trip[i - 1].t0 + p->trip[i - 1].dur + 1;
  *b = i == p->n ? p->day0 + DAY - 1 : p->trip[i].t0 - 1;
}

static double within_km(const day_plan_t *p, int trips_before) {
  double km = 0;
  for (int i = 0; i < trips_before; i++) km += p->trip[i].cum[3];
  return km;
}

/* The last report in [lo, t] of plan p (one day), with its odometer; false if none. */
static bool day_last_le(const dev_ctx_t *c, const day_plan_t *p, int64_t lo, int64_t t,
                        gen_point_t *out, double *g) {
  for (int i = p->n; i >= 0; i--) {
    if (i < p->n) {
      const trip_plan_t *tp = &p->trip[i];
      if (t >= tp->t0 && t <= tp->t0 + tp->dur) {
        trip_last_le(c, tp, t - tp->t0, out);
        if (out->p.gpstime < lo) return false;
        *g = within_km(p, i) + out->s;
        return true;
      }
    }
    int64_t a, b;
    park_span(p, i, &a, &b);
    if (t < a) continue;
    if (b > t) b = t;
    int64_t best = hb_prev(c, b);
    if (c->burst_t >= a && c->burst_t <= b && c->burst_t > best) best = c->burst_t;
    if (best >= a && best >= lo) {
      out->p = parked_point(best, p->park_lon[i], p->park_lat[i]);
      out->s = 0;
      *g = within_km(p, i);
      return true;
    }
    if (i > 0) { /* the end point of the trip before this park */
      const trip_plan_t *tp = &p->trip[i - 1];
      if (tp->t0 + tp->dur < lo) return false;
      trip_next(c, tp, tp->dur, out);
      *g = within_km(p, i);
      return true;
    }
    return false;
  }
  return false;
}

/* The first report in [t, hi] of plan p; false if none. */
static bool day_first_ge(const dev_ctx_t *c, const day_plan_t *p, int64_t t, int64_t hi,
                         gen_point_t *out, double *g) {
  for (int i = 0; i <= p->n; i++) {
    int64_t a, b;
    park_span(p, i, &a, &b);
    if (t <= b) {
      if (a < t) a = t;
      int64_t best = hb_next(c, a);
      if (c->burst_t >= a && c->burst_t <= b && c->burst_t < best) best = c->burst_t;
      if (best <= b) {
        if (best > hi) return false;
        out->p = parked_point(best, p->park_lon[i], p->park_lat[i]);
        out->s = 0;
        *g = within_km(p, i);
        return true;
      }
    }
    if (i < p->n) {
      const trip_plan_t *tp = &p->trip[i];
      if (t <= tp->t0 + tp->dur) {
        trip_next(c, tp, t - tp->t0, out);
        if (out->p.gpstime > hi) return false;
        *g = within_km(p, i) + out->s;
        return true;
      }
    }
  }
  return false;
}

/* Last report at or before t over the device's life; g = odometer km since the epoch day.
 * Searches day(t) - from, ..., day(t) - 2 (whole days when from > 0): the state cache
 * keeps the days before day(t) apart. */
static bool point_last_le_from(const dev_ctx_t *c, int64_t t, int from, gen_point_t *out,
                               double *g) {
  if (t >= c->stop) t = c->stop - 1;
  if (t < c->epoch) return false;
  for (int back = from; back < 3; back++) {
    int64_t d = day_of(t) - back;
    if ((d + 1) * DAY - 1 < c->epoch) return false;
    day_plan_t p;
    plan_day(c, d, true, &p);
    int64_t tt = back == 0 ? t : p.day0 + DAY - 1;
    if (day_last_le(c, &p, c->epoch, tt, out, g)) {
      *g += prefix_km(c, d);
      return true;
    }
  }
  return false;
}

static bool point_last_le(const dev_ctx_t *c, int64_t t, gen_point_t *out, double *g) {
  return point_last_le_from(c, t, 0, out, g);
}

static bool point_first_ge(const dev_ctx_t *c, int64_t t, int64_t hi, gen_point_t *out, double *g) {
  if (t < c->epoch) t = c->epoch;
  if (hi >= c->stop) hi = c->stop - 1;
  if (t > hi) return false;
  for (int fwd = 0; fwd < 3; fwd++) {
    int64_t d = day_of(t) + fwd;
    if (d * DAY > hi) return false;
    day_plan_t p;
    plan_day(c, d, true, &p);
    int64_t tt = fwd == 0 ? t : p.day0;
    if (day_first_ge(c, &p, tt, hi, out, g)) {
      *g += prefix_km(c, d);
      return true;
    }
  }
  return false;
}

/* ---------- emitting points ---------- */

static int emit_park(const dev_ctx_t *c, int64_t a, int64_t b, double lon, double lat,
                     sim_point_cb cb, void *arg) {
  int64_t bt = (c->burst_t >= a && c->burst_t <= b) ? c->burst_t : INT64_MAX;
  int64_t t = hb_next(c, a);
  for (;;) {
    int64_t nt = t <= b ? t : INT64_MAX;
    if (bt == INT64_MAX && nt == INT64_MAX) break;
    sim_point_t pt;
    if (bt < nt) {
      pt = parked_point(bt, lon, lat);
      for (int k = 0; k < BURST_COUNT; k++) {
        int rc = cb(arg, &pt);
        if (rc) return rc;
      }
      bt = INT64_MAX;
      continue;
    }
    pt = parked_point(nt, lon, lat);
    int rc = cb(arg, &pt);
    if (rc) return rc;
    t = hb_next(c, nt + 1);
  }
  return 0;
}

static int emit_day(const dev_ctx_t *c, const day_plan_t *p, int64_t lo, int64_t hi,
                    sim_point_cb cb, void *arg) {
  for (int i = 0; i <= p->n; i++) {
    int64_t a, b;
    park_span(p, i, &a, &b);
    if (a < lo) a = lo;
    if (b > hi) b = hi;
    if (a <= b) {
      int rc = emit_park(c, a, b, p->park_lon[i], p->park_lat[i], cb, arg);
      if (rc) return rc;
    }
    if (i == p->n) break;
    const trip_plan_t *tp = &p->trip[i];
    if (tp->t0 > hi) break;
    if (tp->t0 + tp->dur < lo) continue;
    int64_t tau = lo > tp->t0 ? lo - tp->t0 : 0;
    int64_t ws = 0, we = 0, wv = 0;
    bool hide = c->seen_at != INT64_MAX && late_window(c, tp, p->day, i, &ws, &we, &wv) &&
                wv > c->seen_at;
    gen_point_t q;
    while (trip_next(c, tp, tau, &q) && q.p.gpstime <= hi) {
      if (!hide || q.p.gpstime < ws || q.p.gpstime >= we) {
        int rc = cb(arg, &q.p);
        if (rc) return rc;
      }
      tau = q.p.gpstime - tp->t0 + 1;
    }
  }
  return 0;
}

int sim_fleet_points(const sim_fleet_t *f, uint32_t dev, int64_t begin, int64_t end,
                     sim_point_cb cb, void *arg) {
  return sim_fleet_points_seen(f, dev, begin, end, INT64_MAX, cb, arg);
}

int sim_fleet_points_seen(const sim_fleet_t *f, uint32_t dev, int64_t begin, int64_t end,
                          int64_t seen_at, sim_point_cb cb, void *arg) {
  if (!f || dev >= f->ndevices || !cb) return -EINVAL;
  dev_ctx_t c;
  ctx_init(f, dev, &c);
  c.seen_at = seen_at;
  if (begin < c.epoch) begin = c.epoch;
  if (c.stop != INT64_MAX && end > c.stop - 1) end = c.stop - 1;
  if (begin > end) return 0;
  for (int64_t d = day_of(begin); d <= day_of(end); d++) {
    day_plan_t p;
    plan_day(&c, d, true, &p);
    int rc = emit_day(&c, &p, begin, end, cb, arg);
    if (rc) return rc;
  }
  return 0;
}

/* ---------- mileage, trips ---------- */

double sim_fleet_mileage_km(const sim_fleet_t *f, uint32_t dev, int64_t begin, int64_t end) {
  if (!f || dev >= f->ndevices || end <= begin) return 0;
  dev_ctx_t c;
  ctx_init(f, dev, &c);
  gen_point_t first, last;
  double g0, g1;
  if (!point_first_ge(&c, begin, end - 1, &first, &g0)) return 0;
  if (!point_last_le(&c, end - 1, &last, &g1)) return 0;
  if (last.p.gpstime < first.p.gpstime) return 0;
  double km = g1 - g0;
  return km > 0 ? km : 0;
}

int sim_fleet_late_windows(const sim_fleet_t *f, uint32_t dev, int64_t begin, int64_t end,
                           sim_late_cb cb, void *arg) {
  if (!f || dev >= f->ndevices || !cb) return -EINVAL;
  dev_ctx_t c;
  ctx_init(f, dev, &c);
  if (!c.late) return 0;
  if (begin < c.epoch) begin = c.epoch;
  if (end > c.stop) end = c.stop;
  for (int64_t d = day_of(begin); begin < end && d <= day_of(end - 1); d++) {
    day_plan_t p;
    plan_day(&c, d, false, &p);
    for (int i = 0; i < p.n; i++) {
      int64_t ws, we, wv;
      if (!late_window(&c, &p.trip[i], d, i, &ws, &we, &wv) || ws < begin || ws >= end) continue;
      int rc = cb(arg, ws, we, wv);
      if (rc) return rc;
    }
  }
  return 0;
}

int sim_fleet_trips(const sim_fleet_t *f, uint32_t dev, int64_t begin, int64_t end,
                    sim_trip_cb cb, void *arg) {
  if (!f || dev >= f->ndevices || !cb) return -EINVAL;
  dev_ctx_t c;
  ctx_init(f, dev, &c);
  if (begin < c.epoch) begin = c.epoch;
  if (end > c.stop) end = c.stop;
  if (begin >= end) return 0;
  for (int64_t d = day_of(begin); d <= day_of(end - 1); d++) {
    day_plan_t p;
    plan_day(&c, d, false, &p);
    for (int i = 0; i < p.n; i++) {
      const trip_plan_t *tp = &p.trip[i];
      if (tp->t0 < begin || tp->t0 >= end || tp->t0 + tp->dur >= c.stop) continue;
      sim_trip_t t = {tp->t0, tp->t0 + tp->dur, tp->lon[0], tp->lat[0],
                      tp->lon[3], tp->lat[3], tp->cum[3]};
      int rc = cb(arg, &t);
      if (rc) return rc;
    }
  }
  return 0;
}

/* ---------- alarms ---------- */

typedef struct alarm_vec {
  sim_alarm_t *v;
  size_t n, cap;
} alarm_vec_t;

static int alarm_push(alarm_vec_t *av, const sim_alarm_t *a) {
  if (av->n == av->cap) {
    size_t cap = av->cap ? av->cap * 2 : 64;
    sim_alarm_t *nv = realloc(av->v, cap * sizeof(*nv));
    if (!nv) return -ENOMEM;
    av->v = nv;
    av->cap = cap;
  }
  av->v[av->n++] = *a;
  return 0;
}

/* systemtime = gpstime + a few seconds; about one alarm in 25 arrives hours late. */
static int64_t alarm_delay(const dev_ctx_t *c, int64_t gpstime, int type) {
  uint64_t h = hash3(c->key, TAG_DELAY, gpstime * 64 + type);
  if (h % 25 == 0) return 3600 + (int64_t)((h >> 8) % (5 * 3600));
  return 1 + (int64_t)((h >> 8) % 20);
}

static int push_at(const dev_ctx_t *c, alarm_vec_t *av, int type, const sim_point_t *p,
                   int64_t delay, int64_t fence) {
  if (p->gpstime < c->epoch || p->gpstime >= c->stop) return 0;
  sim_alarm_t a = {type, p->longitude, p->latitude, p->gpstime, p->gpstime + delay,
                   p->speed, p->course, fence};
  return alarm_push(av, &a);
}

static bool fence_inside(const geofence_t *g, const sim_point_t *p) {
  return haversine_km(g->lon, g->lat, p->longitude, p->latitude) * 1000.0 <= g->radius_m;
}

/* Every alarm of day d by gpstime (unsorted). */
static int day_alarms(const dev_ctx_t *c, int64_t d, alarm_vec_t *av) {
  if (c->kind == SIM_DEVICE_NEVER_ONLINE) return 0;
  day_plan_t p;
  plan_day(c, d, true, &p);
  int rc = 0;
  const sim_fleet_t *f = c->f;
  for (int i = 0; i < p.n; i++) {
    const trip_plan_t *tp = &p.trip[i];
    gen_point_t q = {0};
    trip_next(c, tp, 0, &q);
    if ((rc = push_at(c, av, 9, &q.p, alarm_delay(c, q.p.gpstime, 9), 0))) return rc;
    trip_next(c, tp, tp->dur, &q);
    if ((rc = push_at(c, av, 10, &q.p, alarm_delay(c, q.p.gpstime, 10), 0))) return rc;
    int64_t park = f->opt.parking_after, tend = q.p.gpstime;
    if (park > 0 && tend >= c->epoch && tend < c->stop &&
        (i + 1 == p.n || p.trip[i + 1].t0 > tend + park)) {
      /* the next day's first trip starts >= 6 h 10 min later (SIM_PARKING_AFTER_MAX) */
      sim_alarm_t a = {30, q.p.longitude, q.p.latitude, tend + park, tend + park, 0, 0, 0};
      if ((rc = alarm_push(av, &a))) return rc;
    }
    if (tp->cum[3] / (double)tp->dur * 3600.0 * (1 + tp->amp) > 100.5) {
      int64_t tau = 0;
      while (trip_next(c, tp, tau, &q)) {
        if (q.p.speed > 100) {
          if ((rc = push_at(c, av, 7, &q.p, alarm_delay(c, q.p.gpstime, 7), 0))) return rc;
          break;
        }
        tau = q.p.gpstime - tp->t0 + 1;
      }
    }
    for (size_t k = 0; k < f->nfences; k++) {
      const geofence_t *g = &f->fences[k];
      if (g->dev != c->dev) continue;
      trip_next(c, tp, 0, &q);
      bool in = fence_inside(g, &q.p);
      int64_t tau = 1;
      while (trip_next(c, tp, tau, &q)) {
        bool now_in = fence_inside(g, &q.p);
        if (now_in != in && q.p.gpstime >= g->created) {
          int type = now_in ? 5 : 6;
          bool want = g->alarmtype == 2 || (g->alarmtype == 1 && now_in) ||
                      (g->alarmtype == 0 && !now_in);
          if (want && (rc = push_at(c, av, type, &q.p, 2 + (int64_t)(k % 50), g->id))) return rc;
        }
        in = now_in;
        tau = q.p.gpstime - tp->t0 + 1;
      }
    }
  }
  /* Alarms of a late window reach the platform with its reports. */
  if (c->late)
    for (int i = 0; i < p.n; i++) {
      int64_t ws, we, wv;
      if (!late_window(c, &p.trip[i], d, i, &ws, &we, &wv)) continue;
      for (size_t k = 0; k < av->n; k++)
        if (av->v[k].gpstime >= ws && av->v[k].gpstime < we && av->v[k].systemtime <= wv)
          av->v[k].systemtime = wv + 1;
    }
  /* Parked alarms happen before 05:00, when every vehicle is at its night spot. */
  uint64_t h = hash3(c->key, TAG_ALARM, d);
  if (h % 6 == 0) {
    sim_point_t pt = parked_point(hb_next(c, p.day0 + 3600 + (int64_t)((h >> 8) % 7200)),
                                  p.park_lon[0], p.park_lat[0]);
    if ((rc = push_at(c, av, 4, &pt, alarm_delay(c, pt.gpstime, 4), 0))) return rc;
  }
  if (c->sensors && (h >> 20) % 15 == 0) {
    sim_point_t pt = parked_point(hb_next(c, p.day0 + 1800 + (int64_t)((h >> 32) % 3600)),
                                  p.park_lon[0], p.park_lat[0]);
    if ((rc = push_at(c, av, 2, &pt, alarm_delay(c, pt.gpstime, 2), 0))) return rc;
  }
  if (d == c->late_day) {
    for (int64_t j = 0; j < LATE_TRAP_COUNT; j += 2) {
      sim_point_t pt = parked_point(c->win_first + j * LATE_TRAP_STEP, p.park_lon[0], p.park_lat[0]);
      int type = (j % 4 == 0) ? 4 : 2;
      int64_t delay = (j % 4 == 0) ? 3600 + (j * 97) % 14400 : 5 + j % 11;
      /* the day's ordinary parked alarms may sit on the same heartbeat: skip those */
      bool dup = false;
      for (size_t k = 0; k < av->n; k++)
        if (av->v[k].gpstime == pt.gpstime && av->v[k].type == type) dup = true;
      if (!dup && (rc = push_at(c, av, type, &pt, delay, 0))) return rc;
    }
  }
  return 0;
}

static int alarm_cmp(const void *x, const void *y) {
  const sim_alarm_t *a = x, *b = y;
  if (a->systemtime != b->systemtime) return a->systemtime < b->systemtime ? -1 : 1;
  if (a->gpstime != b->gpstime) return a->gpstime < b->gpstime ? -1 : 1;
  if (a->type != b->type) return a->type < b->type ? -1 : 1;
  if (a->geofence_id != b->geofence_id) return a->geofence_id < b->geofence_id ? -1 : 1;
  return 0;
}

/* The offlineAlarm of a device whose reports end, if the platform makes one. */
static bool offline_alarm(const dev_ctx_t *c, sim_alarm_t *out) {
  const sim_fleet_t *f = c->f;
  if (f->opt.offline_after <= 0 || c->stop == INT64_MAX) return false;
  gen_point_t last;
  double g = 0;
  if (!point_last_le(c, c->stop - 1, &last, &g)) return false;
  int64_t t = last.p.gpstime + f->opt.offline_after;
  if (c->kind == SIM_DEVICE_EXPIRED && t >= f->devices[c->dev].platformduetime) return false;
  *out = (sim_alarm_t){28, last.p.longitude, last.p.latitude, t, t, 0, 0, 0};
  return true;
}

int sim_fleet_alarms(const sim_fleet_t *f, uint32_t dev, int64_t begin, int64_t end,
                     sim_alarm_cb cb, void *arg) {
  if (!f || dev >= f->ndevices || !cb) return -EINVAL;
  if (begin > end) return 0;
  dev_ctx_t c;
  ctx_init(f, dev, &c);
  int64_t from = begin - SIM_ALARM_MAX_DELAY;
  if (from < c.epoch) from = c.epoch;
  int64_t to = end;
  if (c.stop != INT64_MAX && to > c.stop - 1) to = c.stop - 1;
  alarm_vec_t av = {0};
  int rc = 0;
  sim_alarm_t off;
  if (offline_alarm(&c, &off) && off.systemtime >= begin && off.systemtime <= end &&
      (rc = alarm_push(&av, &off)))
    goto out;
  for (int64_t d = day_of(from); from <= to && d <= day_of(to); d++) {
    size_t n0 = av.n;
    if ((rc = day_alarms(&c, d, &av))) goto out;
    size_t w = n0;
    for (size_t k = n0; k < av.n; k++)
      if (av.v[k].systemtime >= begin && av.v[k].systemtime <= end) av.v[w++] = av.v[k];
    av.n = w;
  }
  if (av.n) qsort(av.v, av.n, sizeof(*av.v), alarm_cmp);
  for (size_t k = 0; k < av.n; k++)
    if ((rc = cb(arg, &av.v[k]))) goto out;
out:
  free(av.v);
  return rc;
}

/* ---------- state ---------- */

/* Over the trips of plan p, latest first: the end of the last trip ending at or before t
 * (>= 0), -1 with *in_trip when t is inside one, else -2 (go on with the day before).
 * *skipped counts the trips passed over because they start after t. */
static int64_t day_trip_end(const day_plan_t *p, int64_t t, bool *in_trip, int64_t *trip_start,
                            int *skipped) {
  for (int i = p->n - 1; i >= 0; i--) {
    const trip_plan_t *tp = &p->trip[i];
    if (t >= tp->t0 && t < tp->t0 + tp->dur) {
      *in_trip = true;
      *trip_start = tp->t0;
      return -1;
    }
    if (tp->t0 + tp->dur <= t) return tp->t0 + tp->dur;
    (*skipped)++;
  }
  return -2;
}

/* End time of the last trip ending at or before t (searching a week back), or -1;
 * days day(t) - from, ..., day(t) - 7. */
static int64_t last_trip_end_from(const dev_ctx_t *c, int64_t t, int from, bool *in_trip,
                                  int64_t *trip_start, int *skipped) {
  *in_trip = false;
  for (int back = from; back < 8; back++) {
    int64_t d = day_of(t) - back;
    if ((d + 1) * DAY <= c->epoch) break;
    day_plan_t p;
    plan_day(c, d, false, &p);
    int64_t e = day_trip_end(&p, t, in_trip, trip_start, skipped);
    if (e != -2) return e;
  }
  return -1;
}

static int64_t last_trip_end(const dev_ctx_t *c, int64_t t, bool *in_trip, int64_t *trip_start) {
  int skipped = 0;
  return last_trip_end_from(c, t, 0, in_trip, trip_start, &skipped);
}

/* The cache behind sim_fleet_state, one per device (zeroed: empty). Track polls ask every
 * device every few seconds, and recomputing a device's day plans each time costs tens of
 * microseconds (trigonometry, Newton steps, a week of trips for the odometer). What does
 * not change within one UTC day D of the state's time t is kept: D's plan (with detail),
 * the odometer at D's start, and the answers that come from the days before D. Each is
 * computed by the same functions as the uncached path, so answers are bit for bit equal;
 * where an answer from earlier days could still depend on t (a trip running over
 * midnight), the flag is off and that part is recomputed. */
struct state_cache {
  bool valid;                  /* day, plan and the prev_* fields hold for day */
  bool prev_found;             /* a report in days D-1, D-2 (point_last_le's fallback) */
  bool prev_end_ok;            /* prev_end holds for every t of day D */
  bool gm_valid;
  int64_t day;                 /* D */
  int64_t gm_day;              /* the day of now that gm is for */
  int64_t prev_end;            /* last trip end in days D-1..D-7, -1 none */
  double prefix_km;            /* odometer at D's start: prefix_km(D) */
  double prev_g, gm;
  gen_point_t prev;
  plan_store_t *plan;          /* D's plan with detail, owned */
};

/* Loads D's entry; false if memory ran out (the caller recomputes instead). */
static bool cache_load(const dev_ctx_t *c, state_cache_t *e, int64_t t) {
  int64_t d = day_of(t);
  if (e->valid && e->day == d) return true;
  e->valid = false;
  day_plan_t p;
  plan_day(c, d, true, &p);
  plan_store_t *ps = realloc(e->plan, sizeof(*ps) + (size_t)p.n * sizeof(ps->trip[0]));
  if (!ps) return false;
  e->plan = ps;
  ps->n = p.n;
  memcpy(ps->park_lon, p.park_lon, sizeof(ps->park_lon));
  memcpy(ps->park_lat, p.park_lat, sizeof(ps->park_lat));
  memcpy(ps->trip, p.trip, (size_t)p.n * sizeof(ps->trip[0]));
  /* the days before first, so that the odometer's forward cache moves forward */
  e->prev_g = 0;
  e->prev_found = point_last_le_from(c, t, 1, &e->prev, &e->prev_g);
  bool in_trip = false;
  int64_t start = 0;
  int skipped = 0;
  e->prev_end = last_trip_end_from(c, d * DAY, 1, &in_trip, &start, &skipped);
  /* For t later in day D the same trip is found first only if none was running or yet
   * to start at D's first second. */
  e->prev_end_ok = !in_trip && skipped == 0;
  e->prefix_km = prefix_km(c, d);
  e->day = d;
  e->valid = true;
  return true;
}

static void cache_plan(const state_cache_t *e, day_plan_t *p) {
  p->day = e->day;
  p->day0 = e->day * DAY;
  p->n = e->plan->n;
  memcpy(p->park_lon, e->plan->park_lon, sizeof(p->park_lon));
  memcpy(p->park_lat, e->plan->park_lat, sizeof(p->park_lat));
  memcpy(p->trip, e->plan->trip, (size_t)p->n * sizeof(p->trip[0]));
}

/* The device's time-dependent answers at now: the last report (A), the last trip end (B),
 * the odometer at now's midnight (C), from the cache e or, when e is NULL, recomputed. */
typedef struct state_parts {
  bool found;
  gen_point_t last;
  double g;
  bool in_trip;
  int64_t start, tend;
} state_parts_t;

static void parts_uncached(const dev_ctx_t *c, int64_t now, state_parts_t *sp) {
  sp->g = 0;
  sp->found = point_last_le(c, now, &sp->last, &sp->g);
  if (!sp->found) return;
  int64_t t = now < c->stop ? now : c->stop - 1;
  sp->start = 0;
  sp->tend = last_trip_end(c, t, &sp->in_trip, &sp->start);
}

static void parts_cached(const dev_ctx_t *c, state_cache_t *e, int64_t now, state_parts_t *sp) {
  int64_t t = now < c->stop ? now : c->stop - 1; /* point_last_le's clamp too */
  sp->g = 0;
  sp->found = false;
  if (t < c->epoch) return;
  if (!cache_load(c, e, t)) {
    parts_uncached(c, now, sp);
    return;
  }
  day_plan_t p;
  cache_plan(e, &p);
  if (day_last_le(c, &p, c->epoch, t, &sp->last, &sp->g)) {
    sp->g += e->prefix_km;
    sp->found = true;
  } else if (e->prev_found) {
    sp->last = e->prev;
    sp->g = e->prev_g;
    sp->found = true;
  }
  if (!sp->found) return;
  int skipped = 0;
  sp->in_trip = false;
  sp->start = 0;
  sp->tend = day_trip_end(&p, t, &sp->in_trip, &sp->start, &skipped);
  if (sp->tend != -2) return;
  if (e->prev_end_ok) sp->tend = e->prev_end;
  else sp->tend = last_trip_end_from(c, t, 1, &sp->in_trip, &sp->start, &skipped);
}

/* Odometer km at the last report before now's midnight (else at the first report ever,
 * else g itself). */
static double midnight_km(const dev_ctx_t *c, int64_t now, double g) {
  gen_point_t mid;
  double gm;
  int64_t midnight = day_of(now) * DAY;
  if (!point_last_le(c, midnight - 1, &mid, &gm) &&
      !point_first_ge(c, c->epoch, INT64_MAX - 1, &mid, &gm))
    gm = g;
  return gm;
}

static double midnight_km_cached(const dev_ctx_t *c, state_cache_t *e, int64_t now, double g) {
  int64_t d = day_of(now);
  /* point_last_le(midnight - 1) searches days D-1, D-2 first, as prev did: the same
   * answer when the midnight is inside the device's life */
  if (e->valid && e->day == d && e->prev_found && d * DAY - 1 < c->stop) return e->prev_g;
  if (e->gm_valid && e->gm_day == d) return e->gm;
  gen_point_t mid;
  double gm;
  int64_t midnight = d * DAY;
  if (point_last_le(c, midnight - 1, &mid, &gm) ||
      point_first_ge(c, c->epoch, INT64_MAX - 1, &mid, &gm)) {
    e->gm_valid = true;
    e->gm_day = d;
    e->gm = gm;
    return gm;
  }
  return g; /* no report ever: depends on g, not kept */
}

static int state_fill(const dev_ctx_t *c, int64_t now, state_cache_t *e, sim_state_t *out) {
  memset(out, 0, sizeof(*out));
  out->accstatus = out->doorstatus = out->chargestatus = -1;
  out->oilpowerstatus = out->defencestatus = -1;
  out->battery = -1;
  out->mileage_m = out->todaymileage_m = -1;
  const sim_device_t *d = &c->f->devices[c->dev];
  state_parts_t sp;
  if (e) parts_cached(c, e, now, &sp);
  else parts_uncached(c, now, &sp);
  if (!sp.found) {
    out->datastatus = (c->kind == SIM_DEVICE_EXPIRED && now >= d->platformduetime) ? 3 : 1;
    return 0;
  }
  int64_t ws, we, wv;
  if (c->late && now < INT64_MAX && late_window_at(c, sp.last.p.gpstime, &ws, &we, &wv) && now < wv)
    return state_fill(c, ws - 1, e, out); /* out of coverage: the platform saw up to ws */
  double g = sp.g;
  out->last = sp.last.p;
  out->hearttime = sp.last.p.gpstime;
  int64_t delay = 1 + (int64_t)(hash3(c->key, TAG_DELAY, sp.last.p.gpstime) % 15);
  out->systemtime = sp.last.p.gpstime + delay <= now ? sp.last.p.gpstime + delay : now;
  if (out->systemtime < sp.last.p.gpstime) out->systemtime = sp.last.p.gpstime;
  bool in_trip = sp.in_trip;
  out->accstatus = in_trip ? 1 : 0;
  out->acctime = in_trip ? now - sp.start : now - (sp.tend >= 0 ? sp.tend : c->epoch);
  int64_t off = c->f->opt.offline_after;
  if (c->kind == SIM_DEVICE_EXPIRED && now >= d->platformduetime) out->datastatus = 3;
  else if (off > 0 ? now - out->hearttime >= off : now - out->hearttime > DAY) out->datastatus = 4;
  else out->datastatus = 2;
  uint64_t hs = hash3(c->key, TAG_STATE, day_of(now) * 24 + floor_mod(now, DAY) / 3600);
  out->oilpowerstatus = 1;
  out->defencestatus = in_trip ? 0 : 1;
  if (c->sensors) {
    out->doorstatus = 0;
    out->chargestatus = in_trip ? 1 : 0;
    out->battery = 40 + (int)(hs % 61);
    double gm = e ? midnight_km_cached(c, e, now, g) : midnight_km(c, now, g);
    uint64_t base = 1000000 + hash3(c->key, TAG_STATE, -1) % 300000000;
    out->mileage_m = (int64_t)base + llround(g * 1000.0);
    out->todaymileage_m = llround(g * 1000.0) - llround(gm * 1000.0);
    if (out->todaymileage_m < 0) out->todaymileage_m = 0;
  }
  return 0;
}

int sim_fleet_state(const sim_fleet_t *f, uint32_t dev, int64_t now, sim_state_t *out) {
  if (!f || dev >= f->ndevices || !out) return -EINVAL;
  dev_ctx_t c;
  ctx_init(f, dev, &c);
  return state_fill(&c, now, &f->scache[dev], out);
}

int sim_fleet_state_uncached(const sim_fleet_t *f, uint32_t dev, int64_t now, sim_state_t *out) {
  if (!f || dev >= f->ndevices || !out) return -EINVAL;
  dev_ctx_t c;
  ctx_init(f, dev, &c);
  c.uncached = true;
  return state_fill(&c, now, NULL, out);
}

/* ---------- silences ---------- */

int sim_fleet_silence(sim_fleet_t *f, uint32_t dev, int64_t at) {
  if (!f || dev >= f->ndevices) return -EINVAL;
  void *nv = realloc(f->silences, (f->nsilences + 1) * sizeof(*f->silences));
  if (!nv) return -ENOMEM;
  f->silences = nv;
  f->silences[f->nsilences].dev = dev;
  f->silences[f->nsilences].at = at;
  f->nsilences++;
  return 0;
}

/* ---------- geofences ---------- */

int64_t sim_fleet_geofence_add(sim_fleet_t *f, uint32_t dev, const char *name, double lon,
                               double lat, int radius_m, int alarmtype, int64_t created) {
  if (!f || dev >= f->ndevices || !name || radius_m <= 0 || alarmtype < 0 || alarmtype > 2)
    return -EINVAL;
  if (f->nfences == f->capfences) {
    size_t cap = f->capfences ? f->capfences * 2 : 8;
    geofence_t *nv = realloc(f->fences, cap * sizeof(*nv));
    if (!nv) return -ENOMEM;
    f->fences = nv;
    f->capfences = cap;
  }
  char *copy = strdup(name);
  if (!copy) return -ENOMEM;
  geofence_t *g = &f->fences[f->nfences];
  g->id = (int64_t)f->nfences + 1;
  g->dev = dev;
  g->lon = lon;
  g->lat = lat;
  g->radius_m = radius_m;
  g->alarmtype = alarmtype;
  g->created = created;
  g->name = copy;
  f->nfences++;
  return g->id;
}

/* ---------- construction ---------- */

static uint64_t imei_hash(const char *imei) {
  uint64_t h = 1469598103934665603ULL;
  for (const char *p = imei; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ULL;
  return mix64(h);
}

static void luhn_imei(uint64_t body, char out[16]) {
  char digits[15];
  for (int i = 13; i >= 0; i--) {
    digits[i] = (char)('0' + body % 10);
    body /= 10;
  }
  int sum = 0;
  for (int i = 0; i < 14; i++) {
    int v = digits[i] - '0';
    if (i % 2 == 1) {
      v *= 2;
      if (v > 9) v -= 9;
    }
    sum += v;
  }
  digits[14] = (char)('0' + (10 - sum % 10) % 10);
  memcpy(out, digits, 15);
  out[15] = '\0';
}

/* Arena strings are appended while the arena may still move: keep offsets in the
 * pointer fields until the end, then rebase them. */
static int arena_add(buf_t *a, const char **field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int arena_add(buf_t *a, const char **field, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof(tmp)) return -EINVAL;
  *field = (const char *)(uintptr_t)(a->len + 1); /* +1: 0 stays "unset" */
  return buf_append(a, tmp, (size_t)n + 1);
}

static const char *rebase(const char *arena, const char *off) {
  return off ? arena + ((uintptr_t)off - 1) : NULL;
}

static sim_device_kind_t kind_for(uint32_t i) {
  switch (i % 40) {
  case 3: return SIM_DEVICE_OFFLINE;
  case 7: case 29: return SIM_DEVICE_PARKED;
  case 13: return SIM_DEVICE_EXPIRED;
  case 19: return SIM_DEVICE_NEVER_ONLINE;
  default: return SIM_DEVICE_NORMAL;
  }
}

static int table_insert(sim_fleet_t *f, uint32_t dev) {
  size_t i = imei_hash(f->devices[dev].imei) & f->table_mask;
  while (f->table[i]) {
    if (strcmp(f->devices[f->table[i] - 1].imei, f->devices[dev].imei) == 0) return -EEXIST;
    i = (i + 1) & f->table_mask;
  }
  f->table[i] = dev + 1;
  return 0;
}

static void password_for(uint64_t seed, size_t i, char out[16]) {
  static const char letters[] = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
  uint64_t h = hash3(seed, TAG_NAME, (int64_t)i * 7 + 3);
  out[0] = letters[24 + h % 23];
  h /= 23;
  out[1] = letters[h % 23];
  h /= 23;
  out[2] = letters[h % 23];
  h /= 23;
  snprintf(out + 3, 13, "@%05u", (unsigned)(h % 100000));
}

sim_fleet_t *sim_fleet_new(const sim_fleet_options_t *opt) {
  if (!opt || opt->devices > 10000000 || opt->account_size > 400) return NULL;
  if (opt->offline_after != 0 &&
      (opt->offline_after < SIM_OFFLINE_AFTER_MIN || opt->offline_after > SIM_OFFLINE_AFTER_MAX))
    return NULL;
  if (opt->parking_after < 0 || opt->parking_after > SIM_PARKING_AFTER_MAX) return NULL;
  if (!(opt->late_share >= 0 && opt->late_share <= 1) || opt->late_window < 0 ||
      opt->late_delay < 0 || (opt->late_share > 0 && opt->late_window < 60) ||
      opt->late_window + opt->late_delay > SIM_LATE_MAX)
    return NULL;
  sim_fleet_t *f = calloc(1, sizeof(*f));
  buf_t arena = BUF_INIT;
  uint32_t *acc_of_cust = NULL;
  if (!f) return NULL;
  f->opt = *opt;
  uint32_t n = opt->devices;
  size_t ntraps = opt->traps ? 3 : 0;
  f->ndevices = n + ntraps;
  uint64_t seed = opt->seed;

  /* The tree: demo holds up to 10 devices; customers hold up to 400 (account_size) each, hang off demo
   * (the second one below the first, to have depth), or off distributors of up to 400
   * customers when there are more than 400 customers; one virtual viewer account. */
  uint32_t root_devs = n < 10 ? n : 10;
  uint32_t rest = n - root_devs;
  uint32_t per = opt->account_size ? opt->account_size : 400;
  uint32_t ncust = (rest + per - 1) / per;
  if (rest >= 2 && ncust < 2) ncust = 2;
  uint32_t ndist = ncust > 400 ? (ncust + 399) / 400 : 0;
  f->naccounts = 1 + 1 + ndist + ncust;
  f->accounts = calloc(f->naccounts, sizeof(*f->accounts));
  f->devices = calloc(f->ndevices ? f->ndevices : 1, sizeof(*f->devices));
  f->keys = calloc(f->ndevices ? f->ndevices : 1, sizeof(*f->keys));
  f->odo = calloc(f->ndevices ? f->ndevices : 1, sizeof(*f->odo));
  f->scache = calloc(f->ndevices ? f->ndevices : 1, sizeof(*f->scache));
  size_t cap = 16;
  while (cap < 2 * f->ndevices) cap *= 2;
  f->table = calloc(cap, sizeof(*f->table));
  f->table_mask = cap - 1;
  if (!f->accounts || !f->devices || !f->keys || !f->odo || !f->scache || !f->table) goto fail;

  char pw[16];
  /* accounts: 0 demo, 1 viewer, 2.. distributors, then customers */
  for (size_t i = 0; i < f->naccounts; i++) {
    sim_account_t *a = &f->accounts[i];
    uint64_t h = hash3(seed, TAG_NAME, (int64_t)i);
    password_for(seed, i, pw);
    int rc = 0;
    if (i == 0) {
      rc = rc ? rc : arena_add(&arena, &a->account, "demo");
      rc = rc ? rc : arena_add(&arena, &a->username, "Demo Distribución");
      a->roletype = 1;
      a->parent = -1;
    } else if (i == 1) {
      rc = rc ? rc : arena_add(&arena, &a->account, "demo-viewer");
      rc = rc ? rc : arena_add(&arena, &a->username, "Viewer");
      a->roletype = 3;
      a->parent = 0;
    } else if (i < 2 + ndist) {
      rc = rc ? rc : arena_add(&arena, &a->account, "dist%03zu", i - 1);
      rc = rc ? rc : arena_add(&arena, &a->username, "Distributor %zu", i - 1);
      a->roletype = 1;
      a->parent = 0;
    } else {
      size_t j = i - 2 - ndist;
      rc = rc ? rc : arena_add(&arena, &a->account, "cust%04zu", j + 1);
      rc = rc ? rc : arena_add(&arena, &a->username, CUSTOMER_NAMES[h % 5], (unsigned)(j + 1));
      a->roletype = 2;
      if (ndist) a->parent = (int32_t)(2 + j / 400);
      else a->parent = (j == 1) ? (int32_t)(2 + ndist) : 0;
    }
    rc = rc ? rc : arena_add(&arena, &a->email, "account%zu@example.com", i);
    rc = rc ? rc : arena_add(&arena, &a->mobile, "+1555%07u", (unsigned)(h % 10000000));
    rc = rc ? rc : arena_add(&arena, &a->telephone, "+1444%07u", (unsigned)((h >> 24) % 10000000));
    rc = rc ? rc : arena_add(&arena, &a->password, "%s", pw);
    if (rc) goto fail;
    a->createtime = opt->epoch - 86400 * (int64_t)(400 + h % 400);
  }

  /* devices */
  uint64_t offset = mix64(seed) % 99000000000000ULL;
  for (size_t i = 0; i < f->ndevices; i++) {
    sim_device_t *d = &f->devices[i];
    uint64_t h = hash3(seed, TAG_NAME, 1000000000LL + (int64_t)i);
    int rc = 0;
    if (i < n) {
      /* distinct bodies (a permutation step); one in 16 below 10^13: a leading zero */
      uint64_t body = ((uint64_t)i * 1000003ULL + offset) % 99000000000000ULL;
      if (i % 16 == 5) body %= 10000000000000ULL;
      luhn_imei(body, d->imei);
      while (sim_fleet_device_find(f, d->imei) >= 0) {
        body = (body + 7919) % 99000000000000ULL;
        luhn_imei(body, d->imei);
      }
      d->kind = kind_for((uint32_t)i);
      if (i < root_devs) d->account = 0;
      else {
        uint32_t j = (uint32_t)(((uint64_t)(i - root_devs) * ncust) / rest);
        d->account = 2 + ndist + j;
      }
    } else {
      memcpy(d->imei, TRAP_IMEIS[i - n], 16);
      d->kind = (sim_device_kind_t)(SIM_DEVICE_TRAP_EXACT_PAGE + (int)(i - n));
      d->account = 0;
    }
    rc = rc ? rc : arena_add(&arena, &d->devicename, DEVICE_NAMES[h % 8], (unsigned)(i + 1));
    rc = rc ? rc : arena_add(&arena, &d->devicetype, "%s", DEVICE_TYPES[(h >> 8) % 8]);
    rc = rc ? rc : arena_add(&arena, &d->platenumber, "%c%c-%03u-%c%c",
                             'A' + (int)((h >> 12) % 26), 'A' + (int)((h >> 17) % 26),
                             (unsigned)((h >> 22) % 1000), 'A' + (int)((h >> 32) % 26),
                             'A' + (int)((h >> 37) % 26));
    rc = rc ? rc : arena_add(&arena, &d->simcard, "1%010llu",
                             (unsigned long long)(mix64(h) % 10000000000ULL));
    rc = rc ? rc : arena_add(&arena, &d->iccid, "8986%016llu",
                             (unsigned long long)(mix64(h + 1) % 10000000000000000ULL));
    if (rc) goto fail;
    d->activatedtime = opt->epoch - 86400 * (int64_t)(30 + (h >> 40) % 300);
    d->onlinetime = d->kind == SIM_DEVICE_NEVER_ONLINE ? 0 : d->activatedtime + 3600;
    if (d->kind == SIM_DEVICE_EXPIRED)
      d->platformduetime = (floor_div(opt->epoch, DAY) + 2 + (int64_t)(h % 2)) * DAY + 3 * 3600;
    else
      d->platformduetime = d->activatedtime + 2 * 365 * 86400LL;
    d->userduetime = d->platformduetime;
    uint64_t imei_num = strtoull(d->imei, NULL, 10);
    f->keys[i] = mix64(seed ^ mix64(imei_num ^ 0x5157u));
    if (table_insert(f, (uint32_t)i)) goto fail;
  }

  /* children and device lists, as counting sorts */
  f->child_off = calloc(f->naccounts + 1, sizeof(*f->child_off));
  f->child_list = calloc(f->naccounts ? f->naccounts : 1, sizeof(*f->child_list));
  f->devlist_off = calloc(f->naccounts + 1, sizeof(*f->devlist_off));
  f->devlist = calloc(f->ndevices ? f->ndevices : 1, sizeof(*f->devlist));
  acc_of_cust = calloc(f->naccounts + 1, sizeof(*acc_of_cust));
  if (!f->child_off || !f->child_list || !f->devlist_off || !f->devlist || !acc_of_cust) goto fail;
  for (size_t i = 1; i < f->naccounts; i++) f->child_off[f->accounts[i].parent + 1]++;
  for (size_t i = 0; i < f->naccounts; i++) f->child_off[i + 1] += f->child_off[i];
  memset(acc_of_cust, 0, (f->naccounts + 1) * sizeof(*acc_of_cust));
  for (size_t i = 1; i < f->naccounts; i++) {
    uint32_t p = (uint32_t)f->accounts[i].parent;
    f->child_list[f->child_off[p] + acc_of_cust[p]++] = (uint32_t)i;
  }
  for (size_t i = 0; i < f->ndevices; i++) f->devlist_off[f->devices[i].account + 1]++;
  for (size_t i = 0; i < f->naccounts; i++) f->devlist_off[i + 1] += f->devlist_off[i];
  memset(acc_of_cust, 0, (f->naccounts + 1) * sizeof(*acc_of_cust));
  for (size_t i = 0; i < f->ndevices; i++) {
    uint32_t a = f->devices[i].account;
    f->devlist[f->devlist_off[a] + acc_of_cust[a]++] = (uint32_t)i;
  }
  for (size_t i = 0; i < f->ndevices; i++) f->odo[i].day = INT64_MIN;

  f->arena = buf_steal(&arena);
  if (!f->arena) goto fail;
  for (size_t i = 0; i < f->naccounts; i++) {
    sim_account_t *a = &f->accounts[i];
    a->account = rebase(f->arena, a->account);
    a->username = rebase(f->arena, a->username);
    a->email = rebase(f->arena, a->email);
    a->mobile = rebase(f->arena, a->mobile);
    a->telephone = rebase(f->arena, a->telephone);
    a->password = rebase(f->arena, a->password);
  }
  for (size_t i = 0; i < f->ndevices; i++) {
    sim_device_t *d = &f->devices[i];
    d->devicename = rebase(f->arena, d->devicename);
    d->devicetype = rebase(f->arena, d->devicetype);
    d->platenumber = rebase(f->arena, d->platenumber);
    d->simcard = rebase(f->arena, d->simcard);
    d->iccid = rebase(f->arena, d->iccid);
  }
  free(acc_of_cust);
  return f;
fail:
  free(acc_of_cust);
  buf_free(&arena);
  /* the string fields still hold offsets: free the arrays only */
  sim_fleet_free(f);
  return NULL;
}

const sim_fleet_options_t *sim_fleet_options(const sim_fleet_t *f) { return &f->opt; }

void sim_fleet_free(sim_fleet_t *f) {
  if (!f) return;
  for (size_t i = 0; i < f->nfences; i++) free(f->fences[i].name);
  free(f->fences);
  free(f->silences);
  if (f->scache)
    for (size_t i = 0; i < f->ndevices; i++) free(f->scache[i].plan);
  free(f->scache);
  free(f->odo);
  free(f->table);
  free(f->keys);
  free(f->devices);
  free(f->devlist);
  free(f->devlist_off);
  free(f->child_list);
  free(f->child_off);
  free(f->accounts);
  free(f->arena);
  free(f);
}

/* ---------- lookups ---------- */

size_t sim_fleet_account_count(const sim_fleet_t *f) { return f ? f->naccounts : 0; }

const sim_account_t *sim_fleet_account(const sim_fleet_t *f, size_t i) {
  return f && i < f->naccounts ? &f->accounts[i] : NULL;
}

int32_t sim_fleet_account_find(const sim_fleet_t *f, const char *name) {
  if (!f || !name) return -1;
  for (size_t i = 0; i < f->naccounts; i++)
    if (strcmp(f->accounts[i].account, name) == 0) return (int32_t)i;
  return -1;
}

size_t sim_fleet_account_children(const sim_fleet_t *f, size_t i, const uint32_t **out) {
  if (!f || i >= f->naccounts) {
    if (out) *out = NULL;
    return 0;
  }
  if (out) *out = f->child_list + f->child_off[i];
  return f->child_off[i + 1] - f->child_off[i];
}

size_t sim_fleet_account_devices(const sim_fleet_t *f, size_t i, const uint32_t **out) {
  if (!f || i >= f->naccounts) {
    if (out) *out = NULL;
    return 0;
  }
  if (out) *out = f->devlist + f->devlist_off[i];
  return f->devlist_off[i + 1] - f->devlist_off[i];
}

size_t sim_fleet_device_count(const sim_fleet_t *f) { return f ? f->ndevices : 0; }

const sim_device_t *sim_fleet_device(const sim_fleet_t *f, size_t i) {
  return f && i < f->ndevices ? &f->devices[i] : NULL;
}

int64_t sim_fleet_device_find(const sim_fleet_t *f, const char *imei) {
  if (!f || !imei) return -1;
  size_t i = imei_hash(imei) & f->table_mask;
  while (f->table[i]) {
    uint32_t dev = f->table[i] - 1;
    if (strcmp(f->devices[dev].imei, imei) == 0) return dev;
    i = (i + 1) & f->table_mask;
  }
  return -1;
}
