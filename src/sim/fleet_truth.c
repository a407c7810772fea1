/* The simulator's truth files: what the fleet holds over [begin, end), as CSV that a
 * test compares with the archive row for row (its keys are the archive's keys). */
#include "sim/fleet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/grow.h"

typedef struct truth_ctx {
  FILE *out;
  const char *imei;
  int64_t last_gpstime;      /* positions: distinct by (imei, gpstime) */
  int64_t end;               /* exclusive */
  int64_t begin;
  sim_alarm_t *alarms;       /* alarms of one device, collected then sorted */
  size_t nalarms, capalarms;
} truth_ctx_t;

static int cb_position(void *arg, const sim_point_t *p) {
  truth_ctx_t *t = arg;
  if (p->gpstime >= t->end || p->gpstime == t->last_gpstime) return 0;
  t->last_gpstime = p->gpstime;
  if (fprintf(t->out, "%s,%lld,%.6f,%.6f,%d,%d\n", t->imei, (long long)p->gpstime,
              p->longitude, p->latitude, p->speed, p->course) < 0)
    return -EIO;
  return 0;
}

static int cb_alarm(void *arg, const sim_alarm_t *a) {
  truth_ctx_t *t = arg;
  if (a->gpstime < t->begin || a->gpstime >= t->end) return 0;
  if (GROW(t->alarms, t->capalarms, t->nalarms + 1) != 0) return -ENOMEM;
  t->alarms[t->nalarms++] = *a;
  return 0;
}

static int cb_late(void *arg, int64_t s, int64_t e, int64_t v) {
  truth_ctx_t *t = arg;
  if (fprintf(t->out, "%s,%lld,%lld,%lld\n", t->imei, (long long)s, (long long)e, (long long)v) < 0)
    return -EIO;
  return 0;
}

static int cb_trip(void *arg, const sim_trip_t *tr) {
  truth_ctx_t *t = arg;
  if (fprintf(t->out, "%s,%lld,%lld,%.6f,%.6f,%.6f,%.6f,%.6f\n", t->imei,
              (long long)tr->start, (long long)tr->end, tr->start_lon, tr->start_lat,
              tr->end_lon, tr->end_lat, tr->km) < 0)
    return -EIO;
  return 0;
}

/* Alarms in file order: gpstime, type, systemtime, geofence_id. */
static int alarm_gps_cmp(const void *x, const void *y) {
  const sim_alarm_t *a = x, *b = y;
  if (a->gpstime != b->gpstime) return a->gpstime < b->gpstime ? -1 : 1;
  if (a->type != b->type) return a->type < b->type ? -1 : 1;
  if (a->systemtime != b->systemtime) return a->systemtime < b->systemtime ? -1 : 1;
  if (a->geofence_id != b->geofence_id) return a->geofence_id < b->geofence_id ? -1 : 1;
  return 0;
}

static int csv_quoted(FILE *out, const char *s) {
  if (fputc('"', out) == EOF) return -EIO;
  for (; *s; s++) {
    if (*s == '"' && fputc('"', out) == EOF) return -EIO;
    if (fputc(*s, out) == EOF) return -EIO;
  }
  return fputc('"', out) == EOF ? -EIO : 0;
}

static int imei_cmp(const void *x, const void *y, void *arg) {
  const sim_fleet_t *f = arg;
  const uint32_t *a = x, *b = y;
  return strcmp(sim_fleet_device(f, *a)->imei, sim_fleet_device(f, *b)->imei);
}

static FILE *open_csv(const char *dir, const char *name, const char *header, int *rc) {
  char path[4096];
  if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
    *rc = -ENAMETOOLONG;
    return NULL;
  }
  FILE *out = fopen(path, "w");
  if (!out) {
    *rc = -errno;
    return NULL;
  }
  if (fputs(header, out) == EOF) {
    fclose(out);
    *rc = -EIO;
    return NULL;
  }
  *rc = 0;
  return out;
}

static int close_csv(FILE *out, int rc) {
  if (!out) return rc;
  if (ferror(out) && rc == 0) rc = -EIO;
  if (fclose(out) != 0 && rc == 0) rc = -EIO;
  return rc;
}

int sim_fleet_write_truth(const sim_fleet_t *f, const char *dir, int64_t begin, int64_t end) {
  if (!f || !dir) return -EINVAL;
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) return -errno;
  size_t n = sim_fleet_device_count(f);
  uint32_t *order = malloc((n ? n : 1) * sizeof(*order));
  FILE *pos = NULL, *alm = NULL, *dev = NULL, *trp = NULL, *late = NULL, *acc = NULL;
  truth_ctx_t t = {0};
  int rc = -ENOMEM;
  if (!order) goto out;
  for (size_t i = 0; i < n; i++) order[i] = (uint32_t)i;
  qsort_r(order, n, sizeof(*order), imei_cmp, (void *)f);

  pos = open_csv(dir, "positions.csv", "imei,gpstime,longitude,latitude,speed,course\n", &rc);
  if (!pos) goto out;
  alm = open_csv(dir, "alarms.csv",
                 "imei,alarm_type,gpstime,systemtime,longitude,latitude,speed,course,geofence_id\n", &rc);
  if (!alm) goto out;
  dev = open_csv(dir, "devices.csv", "imei,account,devicename,devicetype,platenumber\n", &rc);
  if (!dev) goto out;
  trp = open_csv(dir, "trips.csv", "imei,start,end,start_lon,start_lat,end_lon,end_lat,km\n", &rc);
  if (!trp) goto out;
  if (sim_fleet_options(f)->late_share > 0) {
    late = open_csv(dir, "late.csv", "imei,from,to,visible_at\n", &rc);
    if (!late) goto out;
  }

  t.begin = begin;
  t.end = end;
  for (size_t k = 0; k < n && end > begin; k++) {
    uint32_t i = order[k];
    const sim_device_t *d = sim_fleet_device(f, i);
    t.imei = d->imei;
    t.last_gpstime = INT64_MIN;
    t.out = pos;
    if ((rc = sim_fleet_points(f, i, begin, end - 1, cb_position, &t))) goto out;

    t.nalarms = 0;
    if ((rc = sim_fleet_alarms(f, i, begin, end - 1 + SIM_ALARM_MAX_DELAY, cb_alarm, &t)))
      goto out;
    if (t.nalarms) qsort(t.alarms, t.nalarms, sizeof(*t.alarms), alarm_gps_cmp);
    for (size_t j = 0; j < t.nalarms; j++) {
      const sim_alarm_t *a = &t.alarms[j];
      if (j > 0 && a->gpstime == t.alarms[j - 1].gpstime && a->type == t.alarms[j - 1].type &&
          a->systemtime == t.alarms[j - 1].systemtime)
        continue;
      if (fprintf(alm, "%s,%d,%lld,%lld,%.6f,%.6f,%d,%d,%lld\n", d->imei, a->type,
                  (long long)a->gpstime, (long long)a->systemtime, a->longitude, a->latitude,
                  a->speed, a->course, (long long)a->geofence_id) < 0) {
        rc = -EIO;
        goto out;
      }
    }

    t.out = trp;
    if ((rc = sim_fleet_trips(f, i, begin, end, cb_trip, &t))) goto out;
    t.out = late;
    if (late && (rc = sim_fleet_late_windows(f, i, begin, end, cb_late, &t))) goto out;
  }

  for (size_t k = 0; k < n; k++) {
    const sim_device_t *d = sim_fleet_device(f, order[k]);
    const sim_account_t *a = sim_fleet_account(f, d->account);
    rc = 0;
    if (fprintf(dev, "%s,", d->imei) < 0) rc = -EIO;
    if (!rc) rc = csv_quoted(dev, a->account);
    if (!rc && fputc(',', dev) == EOF) rc = -EIO;
    if (!rc) rc = csv_quoted(dev, d->devicename);
    if (!rc && fputc(',', dev) == EOF) rc = -EIO;
    if (!rc) rc = csv_quoted(dev, d->devicetype);
    if (!rc && fputc(',', dev) == EOF) rc = -EIO;
    if (!rc) rc = csv_quoted(dev, d->platenumber);
    if (!rc && fputc('\n', dev) == EOF) rc = -EIO;
    if (rc) goto out;
  }
  /* accounts.csv: the simulator's own accounts and their passwords, for tests that
   * configure several accounts (a simulator's secrets, not a platform's) */
  acc = open_csv(dir, "accounts.csv", "account,parent,password\n", &rc);
  if (!acc) goto out;
  for (size_t i = 0; i < sim_fleet_account_count(f); i++) {
    const sim_account_t *a = sim_fleet_account(f, i);
    rc = csv_quoted(acc, a->account);
    if (!rc && fputc(',', acc) == EOF) rc = -EIO;
    if (!rc && a->parent >= 0) rc = csv_quoted(acc, sim_fleet_account(f, (size_t)a->parent)->account);
    if (!rc && fputc(',', acc) == EOF) rc = -EIO;
    if (!rc) rc = csv_quoted(acc, a->password);
    if (!rc && fputc('\n', acc) == EOF) rc = -EIO;
    if (rc) goto out;
  }
  rc = 0;
out:
  rc = close_csv(acc, rc);
  rc = close_csv(pos, rc);
  rc = close_csv(alm, rc);
  rc = close_csv(dev, rc);
  rc = close_csv(trp, rc);
  rc = close_csv(late, rc);
  free(t.alarms);
  free(order);
  return rc;
}
