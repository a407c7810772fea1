/* Unit tests for sim/fleet: determinism, ordering, paging, traps, the account tree,
 * mileage against the points, truth files, and a 100k-device fleet's memory. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "sim/fleet.h"

#define EPOCH 1793491200LL /* 2026-11-01T00:00:00Z */
#define DAY 86400LL

typedef struct pvec {
  sim_point_t *v;
  size_t n, cap, limit; /* limit: stop after that many (0: none) */
} pvec_t;

static int cb_collect(void *arg, const sim_point_t *p) {
  pvec_t *pv = arg;
  if (pv->n == pv->cap) {
    pv->cap = pv->cap ? pv->cap * 2 : 256;
    pv->v = realloc(pv->v, pv->cap * sizeof(*pv->v));
    assert_non_null(pv->v);
  }
  pv->v[pv->n++] = *p;
  return pv->limit && pv->n >= pv->limit ? 1 : 0;
}

typedef struct avec {
  sim_alarm_t *v;
  size_t n, cap;
} avec_t;

static int cb_alarms(void *arg, const sim_alarm_t *a) {
  avec_t *av = arg;
  if (av->n == av->cap) {
    av->cap = av->cap ? av->cap * 2 : 64;
    av->v = realloc(av->v, av->cap * sizeof(*av->v));
    assert_non_null(av->v);
  }
  av->v[av->n++] = *a;
  return 0;
}

static pvec_t points(const sim_fleet_t *f, uint32_t dev, int64_t b, int64_t e) {
  pvec_t pv = {0};
  assert_int_equal(sim_fleet_points(f, dev, b, e, cb_collect, &pv), 0);
  return pv;
}

static avec_t alarms(const sim_fleet_t *f, uint32_t dev, int64_t b, int64_t e) {
  avec_t av = {0};
  assert_int_equal(sim_fleet_alarms(f, dev, b, e, cb_alarms, &av), 0);
  return av;
}

static sim_fleet_t *fleet(uint64_t seed, uint32_t n, bool traps, int64_t epoch) {
  sim_fleet_options_t o = {.seed = seed, .devices = n, .traps = traps, .epoch = epoch};
  sim_fleet_t *f = sim_fleet_new(&o);
  assert_non_null(f);
  return f;
}

static double hav_km(double lon1, double lat1, double lon2, double lat2) {
  double r = M_PI / 180;
  double dp = (lat2 - lat1) * r, dl = (lon2 - lon1) * r;
  double a = sin(dp / 2) * sin(dp / 2) + cos(lat1 * r) * cos(lat2 * r) * sin(dl / 2) * sin(dl / 2);
  return 2 * 6371.0 * asin(sqrt(a));
}

static int64_t trap_index(const sim_fleet_t *f, sim_device_kind_t kind) {
  for (size_t i = 0; i < sim_fleet_device_count(f); i++)
    if (sim_fleet_device(f, i)->kind == kind) return (int64_t)i;
  return -1;
}

static void test_determinism(void **state) {
  (void)state;
  sim_fleet_t *a = fleet(42, 60, true, EPOCH), *b = fleet(42, 60, true, EPOCH);
  sim_fleet_t *c = fleet(43, 60, true, EPOCH);
  assert_int_equal(sim_fleet_device_count(a), 63);
  assert_int_equal(sim_fleet_device_count(a), sim_fleet_device_count(b));
  size_t differ = 0;
  for (uint32_t i = 0; i < 63; i++) {
    const sim_device_t *da = sim_fleet_device(a, i), *db = sim_fleet_device(b, i);
    assert_string_equal(da->imei, db->imei);
    assert_string_equal(da->devicename, db->devicename);
    assert_string_equal(da->platenumber, db->platenumber);
    if (i < 60 && strcmp(da->imei, sim_fleet_device(c, i)->imei) != 0) differ++;
  }
  assert_true(differ > 55);
  assert_string_equal(sim_fleet_account(a, 0)->password, sim_fleet_account(b, 0)->password);
  size_t pdiff = 0;
  for (uint32_t i = 0; i < 60; i += 7) {
    pvec_t pa = points(a, i, EPOCH, EPOCH + 3 * DAY), pb = points(b, i, EPOCH, EPOCH + 3 * DAY);
    pvec_t pc = points(c, i, EPOCH, EPOCH + 3 * DAY);
    assert_int_equal(pa.n, pb.n);
    if (pa.n) assert_memory_equal(pa.v, pb.v, pa.n * sizeof(*pa.v));
    if (pa.n != pc.n || (pa.n && memcmp(pa.v, pc.v, pa.n * sizeof(*pa.v)) != 0)) pdiff++;
    avec_t aa = alarms(a, i, EPOCH, EPOCH + 3 * DAY), ab = alarms(b, i, EPOCH, EPOCH + 3 * DAY);
    assert_int_equal(aa.n, ab.n);
    for (size_t k = 0; k < aa.n; k++) {
      assert_int_equal(aa.v[k].type, ab.v[k].type);
      assert_int_equal(aa.v[k].gpstime, ab.v[k].gpstime);
      assert_int_equal(aa.v[k].systemtime, ab.v[k].systemtime);
      assert_true(aa.v[k].longitude == ab.v[k].longitude && aa.v[k].latitude == ab.v[k].latitude);
      assert_int_equal(aa.v[k].speed, ab.v[k].speed);
      assert_int_equal(aa.v[k].course, ab.v[k].course);
    }
    free(pa.v); free(pb.v); free(pc.v); free(aa.v); free(ab.v);
  }
  assert_true(pdiff >= 7);
  sim_fleet_free(a);
  sim_fleet_free(b);
  sim_fleet_free(c);
}

/* A later restart (another epoch) shows normal devices' same history where both hold it. */
static void test_history_independent_of_epoch(void **state) {
  (void)state;
  sim_fleet_t *a = fleet(42, 40, false, EPOCH), *b = fleet(42, 40, false, EPOCH + 2 * DAY + 3600);
  size_t compared = 0;
  for (uint32_t i = 0; i < 40; i++) {
    if (sim_fleet_device(a, i)->kind != SIM_DEVICE_NORMAL) continue;
    assert_string_equal(sim_fleet_device(a, i)->imei, sim_fleet_device(b, i)->imei);
    pvec_t pa = points(a, i, EPOCH + 3 * DAY, EPOCH + 5 * DAY);
    pvec_t pb = points(b, i, EPOCH + 3 * DAY, EPOCH + 5 * DAY);
    assert_int_equal(pa.n, pb.n);
    if (pa.n) assert_memory_equal(pa.v, pb.v, pa.n * sizeof(*pa.v));
    compared += pa.n;
    free(pa.v);
    free(pb.v);
  }
  assert_true(compared > 1000);
  sim_fleet_free(a);
  sim_fleet_free(b);
}

static void test_devices_and_imeis(void **state) {
  (void)state;
  sim_fleet_t *f = fleet(7, 2000, true, EPOCH);
  size_t leading_zero = 0, non_ascii = 0;
  for (size_t i = 0; i < sim_fleet_device_count(f); i++) {
    const sim_device_t *d = sim_fleet_device(f, i);
    assert_int_equal(strlen(d->imei), 15);
    for (int k = 0; k < 15; k++) assert_true(d->imei[k] >= '0' && d->imei[k] <= '9');
    if (d->imei[0] == '0') leading_zero++;
    for (const char *p = d->devicename; *p; p++)
      if ((unsigned char)*p >= 0x80) { non_ascii++; break; }
    assert_int_equal(sim_fleet_device_find(f, d->imei), (int64_t)i);
  }
  assert_true(leading_zero > 0);
  assert_true(non_ascii > 100);
  assert_int_equal(sim_fleet_device_find(f, "123"), -1);
  assert_int_equal(sim_fleet_device_find(f, "999000000000001"), 2000);
  assert_int_equal(sim_fleet_device(f, 2000)->kind, SIM_DEVICE_TRAP_EXACT_PAGE);
  assert_int_equal(sim_fleet_device(f, 2001)->kind, SIM_DEVICE_TRAP_SAME_TIME);
  assert_int_equal(sim_fleet_device(f, 2002)->kind, SIM_DEVICE_TRAP_LATE_ALARMS);
  int kinds[8] = {0};
  for (size_t i = 0; i < 2000; i++) kinds[sim_fleet_device(f, i)->kind]++;
  for (int k = SIM_DEVICE_NORMAL; k <= SIM_DEVICE_PARKED; k++) assert_true(kinds[k] > 0);
  sim_fleet_free(f);
}

/* Every account reachable from demo, holds <= 500 devices and <= 500 children. */
static void check_tree(const sim_fleet_t *f) {
  size_t na = sim_fleet_account_count(f);
  assert_true(na >= 2);
  assert_string_equal(sim_fleet_account(f, 0)->account, "demo");
  assert_int_equal(sim_fleet_account(f, 0)->parent, -1);
  assert_int_equal(sim_fleet_account_find(f, "demo"), 0);
  size_t devs = 0, reached = 1;
  for (size_t i = 0; i < na; i++) {
    const uint32_t *ids;
    size_t nc = sim_fleet_account_children(f, i, &ids);
    assert_true(nc <= 500);
    for (size_t k = 0; k < nc; k++) assert_int_equal(sim_fleet_account(f, ids[k])->parent, (int32_t)i);
    reached += nc;
    size_t nd = sim_fleet_account_devices(f, i, &ids);
    assert_true(nd <= 500);
    for (size_t k = 0; k < nd; k++) assert_int_equal(sim_fleet_device(f, ids[k])->account, i);
    devs += nd;
    assert_int_equal(sim_fleet_account_find(f, sim_fleet_account(f, i)->account), (int32_t)i);
  }
  assert_int_equal(reached, na);
  assert_int_equal(devs, sim_fleet_device_count(f));
}

static void test_account_tree(void **state) {
  (void)state;
  sim_fleet_t *f = fleet(1, 10, true, EPOCH);
  check_tree(f);
  sim_fleet_free(f);
  f = fleet(1, 3000, true, EPOCH);
  check_tree(f);
  /* depth: some customer has a customer parent */
  bool deep = false;
  for (size_t i = 1; i < sim_fleet_account_count(f); i++)
    if (sim_fleet_account(f, i)->parent > 0) deep = true;
  assert_true(deep);
  sim_fleet_free(f);
  f = fleet(1, 250000, false, EPOCH);
  check_tree(f);
  sim_fleet_free(f);
}

static void test_points_sorted_plausible(void **state) {
  (void)state;
  sim_fleet_t *f = fleet(5, 40, true, EPOCH);
  int64_t b = EPOCH + 3600, e = EPOCH + 4 * DAY + 1234;
  size_t moving = 0;
  for (uint32_t i = 0; i < sim_fleet_device_count(f); i++) {
    const sim_device_t *d = sim_fleet_device(f, i);
    pvec_t pv = points(f, i, b, e);
    if (d->kind == SIM_DEVICE_NEVER_ONLINE) assert_int_equal(pv.n, 0);
    else assert_true(pv.n > 0);
    for (size_t k = 0; k < pv.n; k++) {
      const sim_point_t *p = &pv.v[k];
      assert_true(p->gpstime >= b && p->gpstime <= e);
      assert_true(p->course >= 0 && p->course <= 359);
      assert_true(p->speed >= 0 && p->speed <= 120);
      assert_true(round(p->longitude * 1e6) / 1e6 == p->longitude);
      assert_true(round(p->latitude * 1e6) / 1e6 == p->latitude);
      if (p->speed > 0) moving++;
      if (k == 0) continue;
      const sim_point_t *q = &pv.v[k - 1];
      if (d->kind == SIM_DEVICE_TRAP_SAME_TIME && q->gpstime == p->gpstime) {
        assert_memory_equal(p, q, sizeof(*p));
        continue;
      }
      assert_true(p->gpstime > q->gpstime);
      double km = hav_km(q->longitude, q->latitude, p->longitude, p->latitude);
      if (km / ((double)(p->gpstime - q->gpstime) / 3600.0) > 130.0)
        print_message("dev %u kind %d: %lld %.6f,%.6f sp %d -> %lld %.6f,%.6f sp %d\n", i, d->kind,
                      (long long)q->gpstime, q->longitude, q->latitude, q->speed,
                      (long long)p->gpstime, p->longitude, p->latitude, p->speed);
      assert_true(km / ((double)(p->gpstime - q->gpstime) / 3600.0) <= 130.0);
      if (d->kind == SIM_DEVICE_PARKED) assert_true(km == 0);
    }
    free(pv.v);
  }
  assert_true(moving > 1000);
  sim_fleet_free(f);
}

/* Pages of at most 1000 by the playback rule (next begin = last gpstime; a page of a
 * single timestamp moves past it) give the same distinct set as one big query. */
static void test_paging_matches_one_query(void **state) {
  (void)state;
  sim_fleet_t *f = fleet(9, 12, true, EPOCH);
  int64_t b = EPOCH, e = EPOCH + 3 * DAY;
  for (uint32_t i = 0; i < sim_fleet_device_count(f); i++) {
    pvec_t all = points(f, i, b, e);
    pvec_t paged = {0};
    int64_t begin = b;
    int pages = 0;
    for (;;) {
      pvec_t page = {.limit = 1000};
      int rc = sim_fleet_points(f, i, begin, e, cb_collect, &page);
      assert_true(rc == 0 || rc == 1);
      for (size_t k = 0; k < page.n; k++)
        if (paged.n == 0 || page.v[k].gpstime > paged.v[paged.n - 1].gpstime) {
          paged.limit = 0;
          cb_collect(&paged, &page.v[k]);
        }
      pages++;
      bool full = page.n == 1000;
      int64_t first = page.n ? page.v[0].gpstime : 0, last = page.n ? page.v[page.n - 1].gpstime : 0;
      free(page.v);
      if (!full) break;
      begin = first == last ? last + 1 : last;
    }
    size_t distinct = 0;
    for (size_t k = 0; k < all.n; k++)
      if (k == 0 || all.v[k].gpstime != all.v[k - 1].gpstime) all.v[distinct++] = all.v[k];
    assert_int_equal(distinct, paged.n);
    assert_memory_equal(all.v, paged.v, distinct * sizeof(*all.v));
    assert_true(pages >= 1);
    free(all.v);
    free(paged.v);
  }
  sim_fleet_free(f);
}

static void test_alarms_sorted_late_consistent(void **state) {
  (void)state;
  sim_fleet_t *f = fleet(11, 60, false, EPOCH);
  size_t late = 0, total = 0, types[45] = {0};
  int64_t b = EPOCH + DAY, e = EPOCH + 6 * DAY;
  for (uint32_t i = 0; i < 60; i++) {
    avec_t av = alarms(f, i, b, e);
    for (size_t k = 0; k < av.n; k++) {
      const sim_alarm_t *a = &av.v[k];
      assert_true(a->systemtime >= b && a->systemtime <= e);
      assert_true(a->systemtime >= a->gpstime);
      assert_true(a->systemtime - a->gpstime <= SIM_ALARM_MAX_DELAY);
      assert_true(a->type >= 1 && a->type <= 44);
      types[a->type]++;
      if (a->systemtime - a->gpstime >= 3600) late++;
      if (k) {
        const sim_alarm_t *p = &av.v[k - 1];
        assert_true(p->systemtime < a->systemtime ||
                    (p->systemtime == a->systemtime && p->gpstime <= a->gpstime));
      }
      /* the alarm sits on a report with the same position, speed and course */
      pvec_t pv = points(f, i, a->gpstime, a->gpstime);
      assert_true(pv.n >= 1);
      assert_true(pv.v[0].longitude == a->longitude && pv.v[0].latitude == a->latitude);
      assert_int_equal(pv.v[0].speed, a->speed);
      assert_int_equal(pv.v[0].course, a->course);
      free(pv.v);
      if (a->type == 7) assert_true(a->speed > 100);
      if (a->type == 9 || a->type == 10 || a->type == 4) assert_int_equal(a->speed, 0);
    }
    total += av.n;
    free(av.v);
  }
  assert_true(total > 500);
  assert_true(late > 5);
  assert_true(types[9] > 100 && types[10] > 100);
  assert_true(types[7] > 0 && types[4] > 0 && types[2] > 0);
  sim_fleet_free(f);
}

static void check_traps(int64_t epoch) {
  sim_fleet_t *f = fleet(3, 5, true, epoch);
  int64_t exact = trap_index(f, SIM_DEVICE_TRAP_EXACT_PAGE);
  assert_true(exact >= 0);
  assert_string_equal(sim_fleet_device(f, (size_t)exact)->imei, "999000000000001");
  pvec_t pv = points(f, (uint32_t)exact, epoch, epoch + DAY - 1);
  assert_int_equal(pv.n, 1000);
  free(pv.v);
  pv = points(f, (uint32_t)exact, epoch - 5 * DAY, epoch + DAY - 1);
  assert_int_equal(pv.n, 1000);
  free(pv.v);
  pv = points(f, (uint32_t)exact, epoch + DAY, epoch + 4 * DAY);
  assert_true(pv.n > 100);
  size_t moving = 0;
  for (size_t k = 0; k < pv.n; k++) moving += pv.v[k].speed > 0;
  assert_true(moving > 0);
  free(pv.v);

  int64_t same = trap_index(f, SIM_DEVICE_TRAP_SAME_TIME);
  assert_string_equal(sim_fleet_device(f, (size_t)same)->imei, "999000000000002");
  pv = points(f, (uint32_t)same, epoch, epoch + 4 * DAY);
  size_t best = 0, run = 1, before = 0, after = 0;
  int64_t burst_t = 0;
  for (size_t k = 1; k < pv.n; k++) {
    if (pv.v[k].gpstime == pv.v[k - 1].gpstime) {
      assert_memory_equal(&pv.v[k], &pv.v[k - 1], sizeof(pv.v[k]));
      run++;
    } else run = 1;
    if (run > best) { best = run; burst_t = pv.v[k].gpstime; }
  }
  assert_int_equal(best, 1500);
  assert_true(burst_t >= epoch && burst_t < epoch + DAY);
  for (size_t k = 0; k < pv.n; k++) {
    if (pv.v[k].gpstime < burst_t) before++;
    if (pv.v[k].gpstime > burst_t) after++;
  }
  assert_true(before > 10 && after > 10);
  free(pv.v);

  int64_t lt = trap_index(f, SIM_DEVICE_TRAP_LATE_ALARMS);
  assert_string_equal(sim_fleet_device(f, (size_t)lt)->imei, "999000000000003");
  int64_t lday = (epoch + DAY - 1) / DAY * DAY;
  avec_t av = alarms(f, (uint32_t)lt, lday, lday + DAY + SIM_ALARM_MAX_DELAY);
  size_t in_day = 0, inversions = 0;
  int64_t max_gps = INT64_MIN;
  for (size_t k = 0; k < av.n; k++) {
    if (av.v[k].gpstime < lday || av.v[k].gpstime >= lday + DAY) continue;
    in_day++;
    if (av.v[k].gpstime < max_gps) inversions++;
    if (av.v[k].gpstime > max_gps) max_gps = av.v[k].gpstime;
  }
  assert_true(in_day > 250);
  assert_true(inversions > 50);
  free(av.v);
  sim_fleet_free(f);
}

static void test_traps(void **state) {
  (void)state;
  check_traps(EPOCH);
  check_traps(EPOCH + 13 * 3600 + 17); /* an epoch off midnight */
}

static double points_km(const pvec_t *pv) {
  double km = 0;
  for (size_t k = 1; k < pv->n; k++)
    km += hav_km(pv->v[k - 1].longitude, pv->v[k - 1].latitude, pv->v[k].longitude, pv->v[k].latitude);
  return km;
}

typedef struct trip_sum {
  double km;
  size_t n;
  int64_t last_end;
} trip_sum_t;

static int cb_trip(void *arg, const sim_trip_t *t) {
  trip_sum_t *s = arg;
  assert_true(t->end > t->start);
  assert_true(t->start >= s->last_end);
  s->last_end = t->end;
  s->km += t->km;
  s->n++;
  return 0;
}

static void test_mileage_matches_points(void **state) {
  (void)state;
  sim_fleet_t *f = fleet(21, 30, true, EPOCH + 7200);
  double total = 0;
  for (uint32_t i = 0; i < sim_fleet_device_count(f); i++) {
    for (int64_t day = 0; day < 4; day++) {
      int64_t b = EPOCH + day * DAY, e = b + DAY;
      pvec_t pv = points(f, i, b, e - 1);
      double pk = points_km(&pv), mk = sim_fleet_mileage_km(f, i, b, e);
      assert_true(fabs(pk - mk) <= 0.005 * mk + 1e-6);
      trip_sum_t ts = {0};
      assert_int_equal(sim_fleet_trips(f, i, b, e, cb_trip, &ts), 0);
      if (day > 0) assert_true(fabs(ts.km - mk) <= 1e-6 * (mk + 1));
      total += mk;
      free(pv.v);
    }
    /* an odd window, cutting trips */
    int64_t b = EPOCH + DAY + 11 * 3600 + 7, e = b + 2 * DAY + 5 * 3600;
    pvec_t pv = points(f, i, b, e - 1);
    double pk = points_km(&pv), mk = sim_fleet_mileage_km(f, i, b, e);
    assert_true(fabs(pk - mk) <= 0.005 * mk + 1e-6);
    free(pv.v);
  }
  assert_true(total > 1000);
  sim_fleet_free(f);
}

static void test_state(void **state) {
  (void)state;
  sim_fleet_t *f = fleet(31, 40, false, EPOCH);
  int64_t now = EPOCH + 5 * DAY + 14 * 3600 + 77;
  size_t acc_on = 0, ok = 0;
  for (uint32_t i = 0; i < 40; i++) {
    const sim_device_t *d = sim_fleet_device(f, i);
    sim_state_t s;
    assert_int_equal(sim_fleet_state(f, i, now, &s), 0);
    switch (d->kind) {
    case SIM_DEVICE_NEVER_ONLINE:
      assert_int_equal(s.datastatus, 1);
      assert_int_equal(s.last.gpstime, 0);
      continue;
    case SIM_DEVICE_EXPIRED: assert_int_equal(s.datastatus, 3); break;
    case SIM_DEVICE_OFFLINE: assert_int_equal(s.datastatus, 4); break;
    default: assert_int_equal(s.datastatus, 2); ok++; break;
    }
    pvec_t pv = points(f, i, now - 10 * DAY, now);
    assert_true(pv.n > 0);
    assert_memory_equal(&s.last, &pv.v[pv.n - 1], sizeof(s.last));
    assert_int_equal(s.hearttime, s.last.gpstime);
    assert_true(s.systemtime >= s.last.gpstime && s.systemtime <= now);
    free(pv.v);
    if (s.accstatus == 1) {
      acc_on++;
      assert_true(s.last.speed > 0 || now - s.last.gpstime < 20);
    }
    assert_true(s.acctime >= 0);
    if (s.mileage_m >= 0) {
      int64_t midnight = now / DAY * DAY;
      double km = sim_fleet_mileage_km(f, i, midnight - 3 * DAY, now + 1);
      sim_state_t old;
      assert_int_equal(sim_fleet_state(f, i, midnight - 3 * DAY - 1, &old), 0);
      assert_true(llabs(s.mileage_m - old.mileage_m - llround(km * 1000)) <= 2);
      double today = sim_fleet_mileage_km(f, i, midnight, now + 1);
      assert_true(llabs(s.todaymileage_m - llround(today * 1000)) <= 2);
      assert_true(s.battery >= 0 && s.battery <= 100);
    } else {
      assert_int_equal(s.todaymileage_m, -1);
      assert_int_equal(s.battery, -1);
    }
  }
  assert_true(ok > 25);
  /* someone is driving at some hour of the afternoon */
  for (int h = 0; h < 8 && acc_on == 0; h++)
    for (uint32_t i = 0; i < 40; i++) {
      sim_state_t s;
      assert_int_equal(sim_fleet_state(f, i, now + h * 1800, &s), 0);
      if (s.accstatus == 1) {
        acc_on++;
        assert_true(s.acctime < 3 * 3600);
      }
    }
  assert_true(acc_on > 0);
  sim_fleet_free(f);
}

typedef struct first_trip {
  sim_trip_t t;
  bool have;
} first_trip_t;

static int cb_first_trip(void *arg, const sim_trip_t *t) {
  first_trip_t *ft = arg;
  ft->t = *t;
  ft->have = true;
  return 1;
}

typedef struct trip_check {
  const sim_fleet_t *f;
  uint32_t dev;
  size_t n;
} trip_check_t;

/* A trip's km is the mileage over it, and it starts and ends on reports at speed 0. */
static int cb_trip_check(void *arg, const sim_trip_t *t) {
  trip_check_t *tc = arg;
  assert_true(fabs(sim_fleet_mileage_km(tc->f, tc->dev, t->start, t->end + 1) - t->km) < 1e-9);
  pvec_t pv = points(tc->f, tc->dev, t->start, t->end);
  assert_true(pv.n >= 3);
  assert_true(pv.v[0].gpstime == t->start && pv.v[pv.n - 1].gpstime == t->end);
  assert_true(pv.v[0].longitude == t->start_lon && pv.v[0].latitude == t->start_lat);
  assert_true(pv.v[pv.n - 1].longitude == t->end_lon && pv.v[pv.n - 1].latitude == t->end_lat);
  assert_int_equal(pv.v[0].speed, 0);
  assert_int_equal(pv.v[pv.n - 1].speed, 0);
  assert_true(fabs(points_km(&pv) - t->km) <= 0.005 * t->km);
  free(pv.v);
  tc->n++;
  return 0;
}

static void test_trips_match_points(void **state) {
  (void)state;
  sim_fleet_t *f = fleet(29, 20, false, EPOCH);
  trip_check_t tc = {f, 0, 0};
  for (tc.dev = 0; tc.dev < 20; tc.dev++)
    assert_int_equal(sim_fleet_trips(f, tc.dev, EPOCH + DAY, EPOCH + 3 * DAY, cb_trip_check, &tc), 0);
  assert_true(tc.n > 30);
  sim_fleet_free(f);
}

static void test_geofence_alarms(void **state) {
  (void)state;
  sim_fleet_t *f = fleet(17, 10, false, EPOCH);
  first_trip_t ft = {0};
  uint32_t dev = 0;
  for (dev = 0; dev < 10 && !ft.have; dev++)
    (void)sim_fleet_trips(f, dev, EPOCH + DAY, EPOCH + 3 * DAY, cb_first_trip, &ft);
  dev--;
  assert_true(ft.have);
  /* a fence around the trip's start: the vehicle leaves it (out), and later comes back */
  int64_t id_both = sim_fleet_geofence_add(f, dev, "Depósito", ft.t.start_lon, ft.t.start_lat, 500, 2, EPOCH);
  int64_t id_in = sim_fleet_geofence_add(f, dev, "in only", ft.t.start_lon, ft.t.start_lat, 500, 1, EPOCH);
  int64_t id_late = sim_fleet_geofence_add(f, dev, "late", ft.t.start_lon, ft.t.start_lat, 500, 2, ft.t.end + 1);
  assert_true(id_both > 0 && id_in > 0 && id_late > 0 && id_both != id_in);
  assert_int_equal(sim_fleet_geofence_add(f, dev, "bad", 0, 0, 500, 3, EPOCH), -EINVAL);
  avec_t av = alarms(f, dev, ft.t.start, ft.t.end + SIM_ALARM_MAX_DELAY);
  size_t out_both = 0, in_only_out = 0, late = 0;
  for (size_t k = 0; k < av.n; k++) {
    const sim_alarm_t *a = &av.v[k];
    if (a->gpstime > ft.t.end) continue;
    if (a->geofence_id == id_both && a->type == 6) out_both++;
    if (a->geofence_id == id_in && a->type == 6) in_only_out++;
    if (a->geofence_id == id_late) late++;
    if (a->type == 5 || a->type == 6) assert_true(a->geofence_id > 0);
  }
  assert_int_equal(out_both, 1);
  assert_int_equal(in_only_out, 0);
  assert_int_equal(late, 0);
  free(av.v);
  sim_fleet_free(f);
}

static size_t count_lines(const char *path) {
  FILE *in = fopen(path, "r");
  assert_non_null(in);
  size_t n = 0;
  int ch;
  while ((ch = fgetc(in)) != EOF) n += ch == '\n';
  fclose(in);
  return n;
}

static void test_truth_files(void **state) {
  (void)state;
  sim_fleet_t *f = fleet(23, 15, true, EPOCH);
  char dir[] = "/tmp/fleet_truth_XXXXXX";
  assert_non_null(mkdtemp(dir));
  int64_t b = EPOCH + DAY / 2, e = EPOCH + 3 * DAY;
  assert_int_equal(sim_fleet_write_truth(f, dir, b, e), 0);
  size_t npos = 0, nalarm = 0, ntrips = 0;
  for (uint32_t i = 0; i < sim_fleet_device_count(f); i++) {
    pvec_t pv = points(f, i, b, e - 1);
    for (size_t k = 0; k < pv.n; k++) npos += k == 0 || pv.v[k].gpstime != pv.v[k - 1].gpstime;
    free(pv.v);
    avec_t av = alarms(f, i, b - SIM_ALARM_MAX_DELAY, e + SIM_ALARM_MAX_DELAY);
    for (size_t k = 0; k < av.n; k++) nalarm += av.v[k].gpstime >= b && av.v[k].gpstime < e;
    free(av.v);
    trip_sum_t ts = {0};
    assert_int_equal(sim_fleet_trips(f, i, b, e, cb_trip, &ts), 0);
    ntrips += ts.n;
  }
  char path[256];
  snprintf(path, sizeof(path), "%s/positions.csv", dir);
  assert_int_equal(count_lines(path), npos + 1);
  FILE *in = fopen(path, "r");
  char line[512];
  assert_non_null(fgets(line, sizeof(line), in));
  assert_string_equal(line, "imei,gpstime,longitude,latitude,speed,course\n");
  char prev_imei[16] = "";
  long long prev_t = 0;
  while (fgets(line, sizeof(line), in)) {
    char imei[16];
    long long t;
    double lon, lat;
    int sp, co;
    assert_int_equal(sscanf(line, "%15[0-9],%lld,%lf,%lf,%d,%d", imei, &t, &lon, &lat, &sp, &co), 6);
    int cmp = strcmp(prev_imei, imei);
    assert_true(cmp < 0 || (cmp == 0 && t > prev_t));
    assert_true(t >= b && t < e);
    memcpy(prev_imei, imei, 16);
    prev_t = t;
  }
  fclose(in);
  snprintf(path, sizeof(path), "%s/alarms.csv", dir);
  assert_int_equal(count_lines(path), nalarm + 1);
  snprintf(path, sizeof(path), "%s/devices.csv", dir);
  assert_int_equal(count_lines(path), sim_fleet_device_count(f) + 1);
  snprintf(path, sizeof(path), "%s/trips.csv", dir);
  assert_int_equal(count_lines(path), ntrips + 1);
  snprintf(path, sizeof(path), "%s/accounts.csv", dir); /* every account, with its password */
  assert_int_equal(count_lines(path), sim_fleet_account_count(f) + 1);
  assert_true(ntrips > 10 && nalarm > 10 && npos > 1000);
  const char *names[] = {"positions.csv", "alarms.csv", "devices.csv", "trips.csv", "accounts.csv"};
  for (int k = 0; k < 5; k++) {
    snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
    assert_int_equal(unlink(path), 0);
  }
  assert_int_equal(rmdir(dir), 0);
  sim_fleet_free(f);
}

static long rss_kb(void) {
  FILE *in = fopen("/proc/self/statm", "r");
  long size = 0, res = 0;
  assert_non_null(in);
  assert_int_equal(fscanf(in, "%ld %ld", &size, &res), 2);
  fclose(in);
  return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void test_100k_fleet_memory(void **state) {
  (void)state;
  long before = rss_kb();
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  sim_fleet_t *f = fleet(99, 100000, true, EPOCH);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  long after = rss_kb();
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  print_message("100k fleet: %ld kB, %.2f s to build\n", after - before, secs);
  assert_true(after - before < 200 * 1024);
  assert_true(secs < 30);
  assert_true(sim_fleet_account_count(f) >= 200);
  check_tree(f);
  for (size_t i = 0; i < sim_fleet_device_count(f); i += 997)
    assert_int_equal(sim_fleet_device_find(f, sim_fleet_device(f, i)->imei), (int64_t)i);
  /* states stay cheap: a batch of them on day 20 */
  for (uint32_t i = 0; i < 2000; i++) {
    sim_state_t s;
    assert_int_equal(sim_fleet_state(f, i * 37, EPOCH + 20 * DAY + 3600 * 15, &s), 0);
  }
  sim_fleet_free(f);
}

/* The cached sim_fleet_state equals the uncached recomputation field for field, over
 * every kind of device and the traps, in time order (the cache moves day by day, across
 * midnights second by second, past OFFLINE/EXPIRED stops) and in random order (the cache
 * is reloaded backwards and forwards), for an epoch at midnight and one in mid-day. */
static void assert_state_same(const sim_state_t *a, const sim_state_t *b) {
  assert_int_equal(a->last.gpstime, b->last.gpstime);
  assert_true(a->last.longitude == b->last.longitude);
  assert_true(a->last.latitude == b->last.latitude);
  assert_int_equal(a->last.speed, b->last.speed);
  assert_int_equal(a->last.course, b->last.course);
  assert_int_equal(a->hearttime, b->hearttime);
  assert_int_equal(a->systemtime, b->systemtime);
  assert_int_equal(a->acctime, b->acctime);
  assert_int_equal(a->accstatus, b->accstatus);
  assert_int_equal(a->doorstatus, b->doorstatus);
  assert_int_equal(a->chargestatus, b->chargestatus);
  assert_int_equal(a->oilpowerstatus, b->oilpowerstatus);
  assert_int_equal(a->defencestatus, b->defencestatus);
  assert_int_equal(a->datastatus, b->datastatus);
  assert_int_equal(a->battery, b->battery);
  assert_int_equal(a->mileage_m, b->mileage_m);
  assert_int_equal(a->todaymileage_m, b->todaymileage_m);
}

static void check_state(const sim_fleet_t *f, uint32_t dev, int64_t now, size_t *moving) {
  sim_state_t a, b;
  assert_int_equal(sim_fleet_state(f, dev, now, &a), 0);
  assert_int_equal(sim_fleet_state_uncached(f, dev, now, &b), 0);
  assert_state_same(&a, &b);
  if (a.accstatus == 1) (*moving)++;
}

static void test_state_cache_matches_uncached(void **state) {
  (void)state;
  const int64_t epochs[2] = {EPOCH, EPOCH + 15 * 3600 + 17};
  size_t moving = 0, sensors = 0;
  for (int e = 0; e < 2; e++) {
    sim_fleet_t *f = fleet(5 + (uint64_t)e, 80, true, epochs[e]);
    uint32_t n = (uint32_t)sim_fleet_device_count(f);
    /* forward: every device every ~5 h over 11 days, from before the epoch */
    for (int64_t now = epochs[e] - 100; now < epochs[e] + 11 * DAY; now += 5 * 3600 + 1237)
      for (uint32_t dev = 0; dev < n; dev++) check_state(f, dev, now, &moving);
    /* each midnight of the first days, second by second, for a few devices and the traps */
    for (int64_t d = epochs[e] / DAY + 1; d < epochs[e] / DAY + 5; d++)
      for (int64_t now = d * DAY - 3; now <= d * DAY + 3; now++)
        for (uint32_t dev = 0; dev < n; dev += (dev + 3 >= n || dev < 10) ? 1 : 7)
          check_state(f, dev, now, &moving);
    /* random devices at random times, back and forth */
    uint64_t x = 99 + (uint64_t)e;
    for (int k = 0; k < 3000; k++) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      uint32_t dev = (uint32_t)((x >> 33) % n);
      int64_t now = epochs[e] - 3600 + (int64_t)((x >> 7) % (uint64_t)(13 * DAY));
      check_state(f, dev, now, &moving);
      /* and a few seconds later, the same cached day (or the next one) */
      check_state(f, dev, now + (int64_t)((x >> 50) % 40), &moving);
    }
    for (uint32_t dev = 0; dev < n; dev++) {
      sim_state_t s;
      assert_int_equal(sim_fleet_state(f, dev, epochs[e] + 3 * DAY, &s), 0);
      sensors += s.mileage_m >= 0;
    }
    sim_fleet_free(f);
  }
  /* the comparisons covered moving vehicles and odometers */
  assert_true(moving > 100);
  assert_true(sensors > 100);
}

/* ---- alarms the platform makes by itself (issue 12) ---- */

static sim_fleet_t *fleet_platform(uint64_t seed, uint32_t n, int64_t offline, int64_t parking) {
  sim_fleet_options_t o = {.seed = seed, .devices = n, .traps = true, .epoch = EPOCH,
                           .offline_after = offline, .parking_after = parking};
  sim_fleet_t *f = sim_fleet_new(&o);
  assert_non_null(f);
  return f;
}

static size_t count_type(const avec_t *av, int type) {
  size_t n = 0;
  for (size_t k = 0; k < av->n; k++) n += av->v[k].type == type;
  return n;
}

/* The offline alarm of device dev, whose last report is last: one type 28 at
 * last + off, at its position; hearttime does not move; datastatus flips then. */
static void check_offline(const sim_fleet_t *f, uint32_t dev, const sim_point_t *last, int64_t off) {
  int64_t t = last->gpstime + off;
  avec_t av = alarms(f, dev, EPOCH, EPOCH + 6 * DAY);
  assert_int_equal(count_type(&av, 28), 1);
  for (size_t k = 0; k < av.n; k++) {
    const sim_alarm_t *a = &av.v[k];
    if (a->type != 28) continue;
    assert_int_equal(a->gpstime, t);
    assert_int_equal(a->systemtime, t);
    assert_true(a->longitude == last->longitude && a->latitude == last->latitude);
    assert_int_equal(a->speed, 0);
    assert_int_equal(a->geofence_id, 0);
  }
  free(av.v);
  /* asked exactly over its second: there; a second before or after: not */
  av = alarms(f, dev, t, t);
  assert_int_equal(count_type(&av, 28), 1);
  free(av.v);
  av = alarms(f, dev, t + 1, t + 3 * DAY);
  assert_int_equal(count_type(&av, 28), 0);
  free(av.v);
  av = alarms(f, dev, EPOCH, t - 1);
  assert_int_equal(count_type(&av, 28), 0);
  free(av.v);
  sim_state_t s;
  assert_int_equal(sim_fleet_state(f, dev, t - 1, &s), 0);
  assert_int_equal(s.datastatus, 2);
  assert_int_equal(s.hearttime, last->gpstime);
  int64_t sys_before = s.systemtime;
  assert_int_equal(sim_fleet_state(f, dev, t, &s), 0);
  assert_int_equal(s.datastatus, 4);
  assert_int_equal(s.hearttime, last->gpstime);
  assert_int_equal(s.systemtime, sys_before); /* the alarm does not move the track */
  assert_true(s.systemtime < t);
  sim_state_t u;
  assert_int_equal(sim_fleet_state_uncached(f, dev, t + 500, &u), 0);
  assert_int_equal(u.datastatus, 4);
}

static void test_offline_alarm(void **state) {
  (void)state;
  const int64_t off = 2 * 3600;
  sim_fleet_t *f = fleet_platform(31, 45, off, 0);
  /* device 3 is OFFLINE: its reports end at 03:00 of day(E)+1 or +2 */
  assert_int_equal(sim_fleet_device(f, 3)->kind, SIM_DEVICE_OFFLINE);
  pvec_t pv = points(f, 3, EPOCH, EPOCH + 6 * DAY);
  assert_true(pv.n > 10);
  check_offline(f, 3, &pv.v[pv.n - 1], off);
  free(pv.v);

  /* a normal device silenced at a chosen time: reports stop before it, the alarm follows */
  sim_fleet_t *g = fleet_platform(31, 45, off, 0);
  assert_int_equal(sim_fleet_device(g, 0)->kind, SIM_DEVICE_NORMAL);
  int64_t at = EPOCH + 2 * DAY + 12 * 3600 + 17;
  assert_int_equal(sim_fleet_silence(g, 0, at), 0);
  assert_int_equal(sim_fleet_silence(g, 9999, at), -EINVAL);
  pvec_t all = points(f, 0, EPOCH, EPOCH + 6 * DAY), cut = points(g, 0, EPOCH, EPOCH + 6 * DAY);
  size_t before = 0;
  while (before < all.n && all.v[before].gpstime < at) before++;
  assert_int_equal(cut.n, before); /* the same history up to the silence, nothing after */
  assert_true(before > 10 && before < all.n);
  assert_memory_equal(cut.v, all.v, before * sizeof(*cut.v));
  check_offline(g, 0, &cut.v[cut.n - 1], off);
  free(all.v);
  free(cut.v);

  /* devices that keep reporting (heartbeats every <= 30 min) never go offline; NEVER_ONLINE
   * and EXPIRED devices get none (expired turn datastatus 3 instead) */
  for (uint32_t i = 0; i < sim_fleet_device_count(f); i++) {
    if (i == 3 || i == 43) continue; /* 43 % 40 == 3: OFFLINE too */
    avec_t av = alarms(f, i, EPOCH, EPOCH + 6 * DAY);
    assert_int_equal(count_type(&av, 28), 0);
    free(av.v);
    sim_state_t s;
    assert_int_equal(sim_fleet_state(f, i, EPOCH + 5 * DAY, &s), 0);
    assert_true(s.datastatus != 4);
  }
  /* off by default: no offline alarm, and bad timeouts are refused */
  sim_fleet_t *h = fleet(31, 45, true, EPOCH);
  avec_t av = alarms(h, 3, EPOCH, EPOCH + 6 * DAY);
  assert_int_equal(count_type(&av, 28), 0);
  free(av.v);
  sim_fleet_options_t o = {.seed = 1, .devices = 1, .epoch = EPOCH, .offline_after = 600};
  assert_null(sim_fleet_new(&o));
  o.offline_after = 0;
  o.parking_after = SIM_PARKING_AFTER_MAX + 1;
  assert_null(sim_fleet_new(&o));
  sim_fleet_free(f);
  sim_fleet_free(g);
  sim_fleet_free(h);
}

typedef struct trip_list {
  sim_trip_t v[64];
  size_t n;
} trip_list_t;

static int cb_trip_list(void *arg, const sim_trip_t *t) {
  trip_list_t *tl = arg;
  if (tl->n < 64) tl->v[tl->n++] = *t;
  return 0;
}

static void test_parking_alarm(void **state) {
  (void)state;
  const int64_t park = 1800;
  sim_fleet_t *f = fleet_platform(37, 12, 0, park), *plain = fleet(37, 12, false, EPOCH);
  size_t checked = 0, skipped = 0;
  for (uint32_t dev = 0; dev < 12; dev++) {
    trip_list_t tl = {0};
    assert_int_equal(sim_fleet_trips(f, dev, EPOCH + DAY, EPOCH + 4 * DAY, cb_trip_list, &tl), 0);
    avec_t av = alarms(f, dev, EPOCH + DAY, EPOCH + 5 * DAY);
    size_t want = 0;
    for (size_t i = 0; i < tl.n; i++) {
      int64_t t = tl.v[i].end + park;
      bool parked = i + 1 == tl.n ? true : tl.v[i + 1].start > t;
      if (!parked) {
        skipped++;
        continue;
      }
      want++;
      size_t found = 0;
      for (size_t k = 0; k < av.n; k++)
        if (av.v[k].type == 30 && av.v[k].gpstime == t) {
          found++;
          assert_int_equal(av.v[k].systemtime, t);
          assert_true(av.v[k].longitude == tl.v[i].end_lon && av.v[k].latitude == tl.v[i].end_lat);
        }
      assert_int_equal(found, 1);
      checked++;
    }
    /* the last trip's alarm may fall after EPOCH + 4 days: count those in the trips' span */
    size_t have = 0;
    for (size_t k = 0; k < av.n; k++)
      have += av.v[k].type == 30 && av.v[k].gpstime >= EPOCH + DAY + park &&
              av.v[k].gpstime < EPOCH + 4 * DAY + park &&
              av.v[k].gpstime - park >= tl.v[0].start;
    if (tl.n) assert_int_equal(have, want);
    /* the rest of the alarms are the plain fleet's, unchanged */
    avec_t pa = alarms(plain, dev, EPOCH + DAY, EPOCH + 5 * DAY);
    assert_int_equal(av.n - count_type(&av, 30), pa.n);
    assert_int_equal(count_type(&pa, 30), 0);
    free(av.v);
    free(pa.v);
  }
  assert_true(checked > 20);
  (void)skipped;
  sim_fleet_free(f);
  sim_fleet_free(plain);
}

/* The truth files hold the platform's alarms like any other, by their gpstime. */
static void test_truth_platform_alarms(void **state) {
  (void)state;
  sim_fleet_t *f = fleet_platform(31, 45, 7200, 900);
  char dir[] = "/tmp/fleet_truth_XXXXXX";
  assert_non_null(mkdtemp(dir));
  int64_t b = EPOCH, e = EPOCH + 4 * DAY;
  assert_int_equal(sim_fleet_write_truth(f, dir, b, e), 0);
  char path[256], line[512];
  snprintf(path, sizeof(path), "%s/alarms.csv", dir);
  FILE *in = fopen(path, "r");
  assert_non_null(in);
  size_t n28 = 0, n30 = 0, want28 = 0;
  for (uint32_t i = 0; i < sim_fleet_device_count(f); i++) {
    avec_t av = alarms(f, i, b, e + SIM_ALARM_MAX_DELAY);
    for (size_t k = 0; k < av.n; k++) want28 += av.v[k].type == 28 && av.v[k].gpstime < e;
    free(av.v);
  }
  const char *imei3 = sim_fleet_device(f, 3)->imei, *imei43 = sim_fleet_device(f, 43)->imei;
  while (fgets(line, sizeof(line), in)) {
    char imei[16];
    int type;
    long long g, st;
    if (sscanf(line, "%15[0-9],%d,%lld,%lld,", imei, &type, &g, &st) != 4) continue;
    if (type == 28) {
      n28++;
      assert_true(strcmp(imei, imei3) == 0 || strcmp(imei, imei43) == 0);
      assert_int_equal(g, st);
    }
    n30 += type == 30;
  }
  fclose(in);
  assert_int_equal(n28, want28);
  assert_true(n28 >= 1);
  assert_true(n30 > 20);
  const char *names[] = {"positions.csv", "alarms.csv", "devices.csv", "trips.csv", "accounts.csv"};
  for (int k = 0; k < 5; k++) {
    snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
    assert_int_equal(unlink(path), 0);
  }
  assert_int_equal(rmdir(dir), 0);
  sim_fleet_free(f);
}

/* ---- late uploads (issue 23) ---- */

typedef struct win {
  int64_t s, e, v;
} win_t;

typedef struct win_list {
  win_t w[256];
  size_t n;
} win_list_t;

static int cb_win(void *arg, int64_t s, int64_t e, int64_t v) {
  win_list_t *wl = arg;
  assert_true(wl->n < 256);
  wl->w[wl->n++] = (win_t){s, e, v};
  return 0;
}

static sim_fleet_t *fleet_late(uint64_t seed, uint32_t n, double share, int64_t w, int64_t delay) {
  sim_fleet_options_t o = {.seed = seed, .devices = n, .traps = false, .epoch = EPOCH,
                           .late_share = share, .late_window = w, .late_delay = delay};
  sim_fleet_t *f = sim_fleet_new(&o);
  assert_non_null(f);
  return f;
}

static size_t seen_in(const sim_fleet_t *f, uint32_t dev, int64_t b, int64_t e, int64_t seen) {
  pvec_t pv = {0};
  assert_int_equal(sim_fleet_points_seen(f, dev, b, e, seen, cb_collect, &pv), 0);
  size_t n = pv.n;
  free(pv.v);
  return n;
}

static void test_late_uploads(void **state) {
  (void)state;
  const int64_t W = 600, D = 900;
  sim_fleet_t *f = fleet_late(41, 8, 1.0, W, D), *plain = fleet(41, 8, false, EPOCH);
  size_t windows = 0, alarms_moved = 0;
  for (uint32_t dev = 0; dev < 8; dev++) {
    /* the truth (every report) is the plain fleet's */
    pvec_t a = points(f, dev, EPOCH, EPOCH + 3 * DAY), b = points(plain, dev, EPOCH, EPOCH + 3 * DAY);
    assert_int_equal(a.n, b.n);
    if (a.n) assert_memory_equal(a.v, b.v, a.n * sizeof(*a.v));
    free(a.v);
    free(b.v);
    win_list_t wl = {0};
    assert_int_equal(sim_fleet_late_windows(f, dev, EPOCH + DAY, EPOCH + 3 * DAY, cb_win, &wl), 0);
    for (size_t k = 0; k < wl.n; k++) {
      const win_t *w = &wl.w[k];
      assert_true(w->e - w->s <= W && w->e - w->s >= 60);
      assert_int_equal(w->v, w->e + D);
      if (k) assert_true(w->s > wl.w[k - 1].e);
      windows++;
      /* reports inside: many (a trip reports every 7..13 s); hidden until v */
      size_t inside = seen_in(f, dev, w->s, w->e - 1, INT64_MAX);
      assert_true(inside >= (size_t)((w->e - w->s) / 13));
      assert_int_equal(seen_in(f, dev, w->s, w->e - 1, w->v - 1), 0);
      assert_int_equal(seen_in(f, dev, w->s, w->e - 1, w->v), inside);
      /* on both sides the vehicle reports, visible at once */
      assert_true(seen_in(f, dev, w->s - 20, w->s - 1, w->s) > 0);
      pvec_t live = {0};
      live.limit = 1;
      assert_int_equal(sim_fleet_points_seen(f, dev, w->e, w->e + 60, w->e + 60, cb_collect, &live), 1);
      int64_t fix = live.v[0].gpstime;
      free(live.v);
      assert_true(fix >= w->e && fix <= w->e + 13);
      /* /api/track: frozen before the window while out of coverage, then the live fix */
      sim_state_t st, un;
      for (int64_t now = w->s; now < w->e; now += 97) {
        assert_int_equal(sim_fleet_state(f, dev, now, &st), 0);
        assert_true(st.hearttime < w->s && st.hearttime >= w->s - 13);
        assert_true(st.systemtime < w->s + 15);
        assert_int_equal(st.datastatus, 2);
        assert_int_equal(sim_fleet_state_uncached(f, dev, now, &un), 0);
        assert_int_equal(un.hearttime, st.hearttime);
        assert_int_equal(un.systemtime, st.systemtime);
      }
      assert_int_equal(sim_fleet_state(f, dev, fix, &st), 0);
      assert_int_equal(st.hearttime, fix);
      assert_int_equal(sim_fleet_state(f, dev, w->v + 1, &st), 0);
      assert_true(st.hearttime > fix);
      /* alarms with gpstime inside arrive with the upload */
      avec_t av = alarms(f, dev, w->s - SIM_ALARM_MAX_DELAY, w->v + SIM_ALARM_MAX_DELAY);
      for (size_t j = 0; j < av.n; j++)
        if (av.v[j].gpstime >= w->s && av.v[j].gpstime < w->e) {
          assert_true(av.v[j].systemtime > w->v);
          alarms_moved++;
        }
      free(av.v);
    }
  }
  /* a geofence around the middle of a window: its in/out alarms arrive with the upload */
  win_list_t wl0 = {0};
  uint32_t fdev = 0;
  for (; fdev < 8 && wl0.n == 0; fdev++)
    assert_int_equal(sim_fleet_late_windows(f, fdev, EPOCH + DAY, EPOCH + 3 * DAY, cb_win, &wl0), 0);
  fdev--;
  assert_true(wl0.n > 0);
  const win_t *w0 = &wl0.w[0];
  pvec_t mid = points(f, fdev, (w0->s + w0->e) / 2, w0->e);
  assert_true(mid.n > 0);
  assert_true(sim_fleet_geofence_add(f, fdev, "blind", mid.v[0].longitude, mid.v[0].latitude, 150, 2,
                                     EPOCH) > 0);
  free(mid.v);
  avec_t fa = alarms(f, fdev, w0->s, w0->v + SIM_ALARM_MAX_DELAY);
  size_t fenced = 0;
  for (size_t j = 0; j < fa.n; j++)
    if (fa.v[j].geofence_id > 0 && fa.v[j].gpstime >= w0->s && fa.v[j].gpstime < w0->e) {
      assert_true(fa.v[j].systemtime > w0->v);
      fenced++;
    }
  free(fa.v);
  assert_true(fenced >= 1);
  print_message("%zu late windows, %zu alarms inside them, %zu fence alarms\n", windows,
                alarms_moved, fenced);
  assert_true(windows >= 10);
  /* a share picks that part of the devices; 0 turns it off */
  sim_fleet_t *part = fleet_late(41, 400, 0.3, W, D);
  size_t late = 0;
  for (uint32_t dev = 0; dev < 400; dev++) {
    win_list_t wl = {0};
    assert_int_equal(sim_fleet_late_windows(part, dev, EPOCH, EPOCH + 2 * DAY, cb_win, &wl), 0);
    late += wl.n > 0;
  }
  assert_true(late > 80 && late < 160);
  win_list_t none = {0};
  assert_int_equal(sim_fleet_late_windows(plain, 0, EPOCH, EPOCH + 3 * DAY, cb_win, &none), 0);
  assert_int_equal(none.n, 0);
  sim_fleet_options_t o = {.seed = 1, .devices = 1, .epoch = EPOCH, .late_share = 0.5,
                           .late_window = 30};
  assert_null(sim_fleet_new(&o));
  o.late_window = 3 * 3600;
  o.late_delay = 3 * 3600;
  assert_null(sim_fleet_new(&o));
  sim_fleet_free(part);
  sim_fleet_free(f);
  sim_fleet_free(plain);
}

/* late.csv lists the windows; positions.csv holds their reports like the others. */
static void test_truth_late(void **state) {
  (void)state;
  sim_fleet_t *f = fleet_late(41, 8, 1.0, 600, 900);
  char dir[] = "/tmp/fleet_truth_XXXXXX";
  assert_non_null(mkdtemp(dir));
  int64_t b = EPOCH, e = EPOCH + 2 * DAY;
  assert_int_equal(sim_fleet_write_truth(f, dir, b, e), 0);
  size_t want = 0;
  for (uint32_t i = 0; i < 8; i++) {
    win_list_t wl = {0};
    assert_int_equal(sim_fleet_late_windows(f, i, b, e, cb_win, &wl), 0);
    want += wl.n;
  }
  char path[256];
  snprintf(path, sizeof(path), "%s/late.csv", dir);
  assert_int_equal(count_lines(path), want + 1);
  assert_true(want > 5);
  const char *names[] = {"positions.csv", "alarms.csv", "devices.csv", "trips.csv", "late.csv",
                         "accounts.csv"};
  for (int k = 0; k < 6; k++) {
    snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
    assert_int_equal(unlink(path), 0);
  }
  assert_int_equal(rmdir(dir), 0);
  sim_fleet_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_determinism),
    cmocka_unit_test(test_history_independent_of_epoch),
    cmocka_unit_test(test_devices_and_imeis),
    cmocka_unit_test(test_account_tree),
    cmocka_unit_test(test_points_sorted_plausible),
    cmocka_unit_test(test_paging_matches_one_query),
    cmocka_unit_test(test_alarms_sorted_late_consistent),
    cmocka_unit_test(test_traps),
    cmocka_unit_test(test_mileage_matches_points),
    cmocka_unit_test(test_state),
    cmocka_unit_test(test_state_cache_matches_uncached),
    cmocka_unit_test(test_trips_match_points),
    cmocka_unit_test(test_geofence_alarms),
    cmocka_unit_test(test_truth_files),
    cmocka_unit_test(test_100k_fleet_memory),
    cmocka_unit_test(test_offline_alarm),
    cmocka_unit_test(test_parking_alarm),
    cmocka_unit_test(test_truth_platform_alarms),
    cmocka_unit_test(test_late_uploads),
    cmocka_unit_test(test_truth_late),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
