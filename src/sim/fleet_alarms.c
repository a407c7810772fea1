/* A device's alarms (fleet.h): those its trips and parks raise day by day (speeding,
 * geofences, power, the traps), each with its upload delay. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/fleet_int.h"
#include "util/grow.h"

/* ---------- alarms ---------- */

typedef struct alarm_vec {
  sim_alarm_t *v;
  size_t n, cap;
} alarm_vec_t;

static int alarm_push(alarm_vec_t *av, const sim_alarm_t *a) {
  if (GROW(av->v, av->cap, av->n + 1) != 0) return -ENOMEM;
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
  fleet__plan_day(c, d, true, &p);
  int rc = 0;
  const sim_fleet_t *f = c->f;
  for (int i = 0; i < p.n; i++) {
    const trip_plan_t *tp = &p.trip[i];
    gen_point_t q = {0};
    fleet__trip_next(c, tp, 0, &q);
    if ((rc = push_at(c, av, 9, &q.p, alarm_delay(c, q.p.gpstime, 9), 0))) return rc;
    fleet__trip_next(c, tp, tp->dur, &q);
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
      while (fleet__trip_next(c, tp, tau, &q)) {
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
      fleet__trip_next(c, tp, 0, &q);
      bool in = fence_inside(g, &q.p);
      int64_t tau = 1;
      while (fleet__trip_next(c, tp, tau, &q)) {
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
      if (!fleet__late_window(c, &p.trip[i], d, i, &ws, &we, &wv)) continue;
      for (size_t k = 0; k < av->n; k++)
        if (av->v[k].gpstime >= ws && av->v[k].gpstime < we && av->v[k].systemtime <= wv)
          av->v[k].systemtime = wv + 1;
    }
  /* Parked alarms happen before 05:00, when every vehicle is at its night spot. */
  uint64_t h = hash3(c->key, TAG_ALARM, d);
  if (h % 6 == 0) {
    sim_point_t pt = fleet__parked_point(fleet__hb_next(c, p.day0 + 3600 + (int64_t)((h >> 8) % 7200)),
                                  p.park_lon[0], p.park_lat[0]);
    if ((rc = push_at(c, av, 4, &pt, alarm_delay(c, pt.gpstime, 4), 0))) return rc;
  }
  if (c->sensors && (h >> 20) % 15 == 0) {
    sim_point_t pt = fleet__parked_point(fleet__hb_next(c, p.day0 + 1800 + (int64_t)((h >> 32) % 3600)),
                                  p.park_lon[0], p.park_lat[0]);
    if ((rc = push_at(c, av, 2, &pt, alarm_delay(c, pt.gpstime, 2), 0))) return rc;
  }
  if (d == c->late_day) {
    for (int64_t j = 0; j < LATE_TRAP_COUNT; j += 2) {
      sim_point_t pt = fleet__parked_point(c->win_first + j * LATE_TRAP_STEP, p.park_lon[0], p.park_lat[0]);
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
  if (!fleet__point_last_le(c, c->stop - 1, &last, &g)) return false;
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
  fleet__ctx_init(f, dev, &c);
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

