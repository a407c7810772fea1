/* A device of the simulator's fleet, planned (fleet_int.h): its derived parameters, its
 * heartbeats, the trips and parks of each of its days, and the points of a trip. Pure
 * functions of (seed, imei, time), but for the odometer cache (same summation order). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/fleet_int.h"
#include "util/grow.h"


static int bearing_deg(double lon1, double lat1, double lon2, double lat2) {
  double p1 = lat1 * DEG2RAD, p2 = lat2 * DEG2RAD, dl = (lon2 - lon1) * DEG2RAD;
  double y = sin(dl) * cos(p2);
  double x = cos(p1) * sin(p2) - sin(p1) * cos(p2) * cos(dl);
  long b = lround(atan2(y, x) / DEG2RAD);
  b %= 360;
  if (b < 0) b += 360;
  return (int)b;
}


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

static void box_point(const dev_ctx_t *c, uint64_t h, double *lon, double *lat) {
  *lon = round6(c->home_lon + (2 * unit01(h) - 1) * 0.10);
  *lat = round6(c->home_lat + (2 * unit01(mix64(h)) - 1) * 0.07);
}

void fleet__ctx_init(const sim_fleet_t *f, uint32_t dev, dev_ctx_t *c) {
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
int64_t fleet__hb_next(const dev_ctx_t *c, int64_t t) {
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

void fleet__plan_day(const dev_ctx_t *c, int64_t d, bool detail, day_plan_t *p) {
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
bool fleet__late_window(const dev_ctx_t *c, const trip_plan_t *tp, int64_t d, int i,
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
bool fleet__late_window_at(const dev_ctx_t *c, int64_t t, int64_t *s, int64_t *e, int64_t *v) {
  if (!c->late) return false;
  day_plan_t p;
  fleet__plan_day(c, day_of(t), false, &p);
  for (int i = 0; i < p.n; i++)
    if (fleet__late_window(c, &p.trip[i], p.day, i, s, e, v) && t >= *s && t < *e) return true;
  return false;
}

static double day_km(const dev_ctx_t *c, int64_t d) {
  day_plan_t p;
  fleet__plan_day(c, d, false, &p);
  double km = 0;
  for (int i = 0; i < p.n; i++) km += p.trip[i].cum[3];
  return km;
}

/* Km of whole days [day(epoch), d). */
double fleet__prefix_km(const dev_ctx_t *c, int64_t d) {
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
bool fleet__trip_next(const dev_ctx_t *c, const trip_plan_t *tp, int64_t tau, gen_point_t *out) {
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
  if (!fleet__trip_next(c, tp, from < 0 ? 0 : from, out)) return;
  while (fleet__trip_next(c, tp, out->p.gpstime - tp->t0 + 1, &q) && q.p.gpstime - tp->t0 <= tau) *out = q;
}

sim_point_t fleet__parked_point(int64_t t, double lon, double lat) {
  return (sim_point_t){t, lon, lat, 0, 0};
}

/* Span [a, b] of park i of a plan (clipped to its day). */
void fleet__park_span(const day_plan_t *p, int i, int64_t *a, int64_t *b) {
  *a = i == 0 ? p->day0 : p->trip[i - 1].t0 + p->trip[i - 1].dur + 1;
  *b = i == p->n ? p->day0 + DAY - 1 : p->trip[i].t0 - 1;
}

static double within_km(const day_plan_t *p, int trips_before) {
  double km = 0;
  for (int i = 0; i < trips_before; i++) km += p->trip[i].cum[3];
  return km;
}

/* The last report in [lo, t] of plan p (one day), with its odometer; false if none. */
bool fleet__day_last_le(const dev_ctx_t *c, const day_plan_t *p, int64_t lo, int64_t t,
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
    fleet__park_span(p, i, &a, &b);
    if (t < a) continue;
    if (b > t) b = t;
    int64_t best = hb_prev(c, b);
    if (c->burst_t >= a && c->burst_t <= b && c->burst_t > best) best = c->burst_t;
    if (best >= a && best >= lo) {
      out->p = fleet__parked_point(best, p->park_lon[i], p->park_lat[i]);
      out->s = 0;
      *g = within_km(p, i);
      return true;
    }
    if (i > 0) { /* the end point of the trip before this park */
      const trip_plan_t *tp = &p->trip[i - 1];
      if (tp->t0 + tp->dur < lo) return false;
      fleet__trip_next(c, tp, tp->dur, out);
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
    fleet__park_span(p, i, &a, &b);
    if (t <= b) {
      if (a < t) a = t;
      int64_t best = fleet__hb_next(c, a);
      if (c->burst_t >= a && c->burst_t <= b && c->burst_t < best) best = c->burst_t;
      if (best <= b) {
        if (best > hi) return false;
        out->p = fleet__parked_point(best, p->park_lon[i], p->park_lat[i]);
        out->s = 0;
        *g = within_km(p, i);
        return true;
      }
    }
    if (i < p->n) {
      const trip_plan_t *tp = &p->trip[i];
      if (t <= tp->t0 + tp->dur) {
        fleet__trip_next(c, tp, t - tp->t0, out);
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
bool fleet__point_last_le_from(const dev_ctx_t *c, int64_t t, int from, gen_point_t *out,
                               double *g) {
  if (t >= c->stop) t = c->stop - 1;
  if (t < c->epoch) return false;
  for (int back = from; back < 3; back++) {
    int64_t d = day_of(t) - back;
    if ((d + 1) * DAY - 1 < c->epoch) return false;
    day_plan_t p;
    fleet__plan_day(c, d, true, &p);
    int64_t tt = back == 0 ? t : p.day0 + DAY - 1;
    if (fleet__day_last_le(c, &p, c->epoch, tt, out, g)) {
      *g += fleet__prefix_km(c, d);
      return true;
    }
  }
  return false;
}

bool fleet__point_last_le(const dev_ctx_t *c, int64_t t, gen_point_t *out, double *g) {
  return fleet__point_last_le_from(c, t, 0, out, g);
}

bool fleet__point_first_ge(const dev_ctx_t *c, int64_t t, int64_t hi, gen_point_t *out, double *g) {
  if (t < c->epoch) t = c->epoch;
  if (hi >= c->stop) hi = c->stop - 1;
  if (t > hi) return false;
  for (int fwd = 0; fwd < 3; fwd++) {
    int64_t d = day_of(t) + fwd;
    if (d * DAY > hi) return false;
    day_plan_t p;
    fleet__plan_day(c, d, true, &p);
    int64_t tt = fwd == 0 ? t : p.day0;
    if (day_first_ge(c, &p, tt, hi, out, g)) {
      *g += fleet__prefix_km(c, d);
      return true;
    }
  }
  return false;
}

