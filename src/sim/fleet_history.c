/* A device's history over a span of time (fleet.h): its points (as stored, or as seen
 * at a time, late uploads hidden), mileage, trips, and its state at a time, the last
 * behind a per-device cache that gives bit for bit the uncached answer. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/fleet_int.h"
#include "util/grow.h"

/* ---------- emitting points ---------- */

static int emit_park(const dev_ctx_t *c, int64_t a, int64_t b, double lon, double lat,
                     sim_point_cb cb, void *arg) {
  int64_t bt = (c->burst_t >= a && c->burst_t <= b) ? c->burst_t : INT64_MAX;
  int64_t t = fleet__hb_next(c, a);
  for (;;) {
    int64_t nt = t <= b ? t : INT64_MAX;
    if (bt == INT64_MAX && nt == INT64_MAX) break;
    sim_point_t pt;
    if (bt < nt) {
      pt = fleet__parked_point(bt, lon, lat);
      for (int k = 0; k < BURST_COUNT; k++) {
        int rc = cb(arg, &pt);
        if (rc) return rc;
      }
      bt = INT64_MAX;
      continue;
    }
    pt = fleet__parked_point(nt, lon, lat);
    int rc = cb(arg, &pt);
    if (rc) return rc;
    t = fleet__hb_next(c, nt + 1);
  }
  return 0;
}

static int emit_day(const dev_ctx_t *c, const day_plan_t *p, int64_t lo, int64_t hi,
                    sim_point_cb cb, void *arg) {
  for (int i = 0; i <= p->n; i++) {
    int64_t a, b;
    fleet__park_span(p, i, &a, &b);
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
    bool hide = c->seen_at != INT64_MAX && fleet__late_window(c, tp, p->day, i, &ws, &we, &wv) &&
                wv > c->seen_at;
    gen_point_t q;
    while (fleet__trip_next(c, tp, tau, &q) && q.p.gpstime <= hi) {
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
  fleet__ctx_init(f, dev, &c);
  c.seen_at = seen_at;
  if (begin < c.epoch) begin = c.epoch;
  if (c.stop != INT64_MAX && end > c.stop - 1) end = c.stop - 1;
  if (begin > end) return 0;
  for (int64_t d = day_of(begin); d <= day_of(end); d++) {
    day_plan_t p;
    fleet__plan_day(&c, d, true, &p);
    int rc = emit_day(&c, &p, begin, end, cb, arg);
    if (rc) return rc;
  }
  return 0;
}

/* ---------- mileage, trips ---------- */

double sim_fleet_mileage_km(const sim_fleet_t *f, uint32_t dev, int64_t begin, int64_t end) {
  if (!f || dev >= f->ndevices || end <= begin) return 0;
  dev_ctx_t c;
  fleet__ctx_init(f, dev, &c);
  gen_point_t first, last;
  double g0, g1;
  if (!fleet__point_first_ge(&c, begin, end - 1, &first, &g0)) return 0;
  if (!fleet__point_last_le(&c, end - 1, &last, &g1)) return 0;
  if (last.p.gpstime < first.p.gpstime) return 0;
  double km = g1 - g0;
  return km > 0 ? km : 0;
}

int sim_fleet_late_windows(const sim_fleet_t *f, uint32_t dev, int64_t begin, int64_t end,
                           sim_late_cb cb, void *arg) {
  if (!f || dev >= f->ndevices || !cb) return -EINVAL;
  dev_ctx_t c;
  fleet__ctx_init(f, dev, &c);
  if (!c.late) return 0;
  if (begin < c.epoch) begin = c.epoch;
  if (end > c.stop) end = c.stop;
  for (int64_t d = day_of(begin); begin < end && d <= day_of(end - 1); d++) {
    day_plan_t p;
    fleet__plan_day(&c, d, false, &p);
    for (int i = 0; i < p.n; i++) {
      int64_t ws, we, wv;
      if (!fleet__late_window(&c, &p.trip[i], d, i, &ws, &we, &wv) || ws < begin || ws >= end) continue;
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
  fleet__ctx_init(f, dev, &c);
  if (begin < c.epoch) begin = c.epoch;
  if (end > c.stop) end = c.stop;
  if (begin >= end) return 0;
  for (int64_t d = day_of(begin); d <= day_of(end - 1); d++) {
    day_plan_t p;
    fleet__plan_day(&c, d, false, &p);
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
    fleet__plan_day(c, d, false, &p);
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
  double prefix_km;            /* odometer at D's start: fleet__prefix_km(D) */
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
  fleet__plan_day(c, d, true, &p);
  plan_store_t *ps = realloc(e->plan, sizeof(*ps) + (size_t)p.n * sizeof(ps->trip[0]));
  if (!ps) return false;
  e->plan = ps;
  ps->n = p.n;
  memcpy(ps->park_lon, p.park_lon, sizeof(ps->park_lon));
  memcpy(ps->park_lat, p.park_lat, sizeof(ps->park_lat));
  memcpy(ps->trip, p.trip, (size_t)p.n * sizeof(ps->trip[0]));
  /* the days before first, so that the odometer's forward cache moves forward */
  e->prev_g = 0;
  e->prev_found = fleet__point_last_le_from(c, t, 1, &e->prev, &e->prev_g);
  bool in_trip = false;
  int64_t start = 0;
  int skipped = 0;
  e->prev_end = last_trip_end_from(c, d * DAY, 1, &in_trip, &start, &skipped);
  /* For t later in day D the same trip is found first only if none was running or yet
   * to start at D's first second. */
  e->prev_end_ok = !in_trip && skipped == 0;
  e->prefix_km = fleet__prefix_km(c, d);
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
  sp->found = fleet__point_last_le(c, now, &sp->last, &sp->g);
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
  if (fleet__day_last_le(c, &p, c->epoch, t, &sp->last, &sp->g)) {
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
  if (!fleet__point_last_le(c, midnight - 1, &mid, &gm) &&
      !fleet__point_first_ge(c, c->epoch, INT64_MAX - 1, &mid, &gm))
    gm = g;
  return gm;
}

static double midnight_km_cached(const dev_ctx_t *c, state_cache_t *e, int64_t now, double g) {
  int64_t d = day_of(now);
  /* fleet__point_last_le(midnight - 1) searches days D-1, D-2 first, as prev did: the same
   * answer when the midnight is inside the device's life */
  if (e->valid && e->day == d && e->prev_found && d * DAY - 1 < c->stop) return e->prev_g;
  if (e->gm_valid && e->gm_day == d) return e->gm;
  gen_point_t mid;
  double gm;
  int64_t midnight = d * DAY;
  if (fleet__point_last_le(c, midnight - 1, &mid, &gm) ||
      fleet__point_first_ge(c, c->epoch, INT64_MAX - 1, &mid, &gm)) {
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
  if (c->late && now < INT64_MAX && fleet__late_window_at(c, sp.last.p.gpstime, &ws, &we, &wv) && now < wv)
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
  fleet__ctx_init(f, dev, &c);
  return state_fill(&c, now, &f->scache[dev], out);
}

int sim_fleet_state_uncached(const sim_fleet_t *f, uint32_t dev, int64_t now, sim_state_t *out) {
  if (!f || dev >= f->ndevices || !out) return -EINVAL;
  dev_ctx_t c;
  fleet__ctx_init(f, dev, &c);
  c.uncached = true;
  return state_fill(&c, now, NULL, out);
}


state_cache_t *fleet__state_caches_new(size_t n) {
  return calloc(n ? n : 1, sizeof(state_cache_t));
}

void fleet__state_caches_free(sim_fleet_t *f) {
  if (f->scache)
    for (size_t i = 0; i < f->ndevices; i++) free(f->scache[i].plan);
  free(f->scache);
}
