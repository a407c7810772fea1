/* The simulated Open API's history endpoints (sim_api_int.h): /api/track, /playback,
 * /alarm, /mileage, over the fleet's pure history, clamped to the window the platform
 * holds, paged as the spec says. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_api_int.h"
#include "util/buf.h"
#include "util/grow.h"
#include "util/log.h"

static int state_at(sim_api_t *api, uint32_t dev, int64_t now, sim_state_t *out) {
  if (!api->states) api->states = calloc(sim_fleet_device_count(api->fleet) + 1, sizeof *api->states);
  state_entry_t *e = api->states ? &api->states[dev] : NULL;
  if (e && e->at == now && now != 0) {
    *out = e->state;
    return 0;
  }
  int rc = sim_fleet_state(api->fleet, dev, now, out);
  if (rc == 0 && e) {
    e->at = now;
    e->state = *out;
  }
  return rc;
}

int simapi__ep_track(ctx_t *c) {
  uint32_t devs[MAX_IMEIS];
  size_t n;
  int rc = simapi__resolve_imeis(c, devs, &n);
  if (rc) return rc;
  sim_json_t *j = &c->j;
  sim_json_lit(j, "{\"code\":0,\"record\":[");
  for (size_t i = 0; i < n; i++) {
    sim_state_t s;
    int64_t at = c->present;
    for (size_t k = 0; k < c->api->opt.ntrack_behind; k++)
      if (c->api->opt.track_behind[k].dev == devs[i] && c->api->opt.track_behind[k].at < at)
        at = c->api->opt.track_behind[k].at;
    if (state_at(c->api, devs[i], at, &s) != 0) return API_CODE_SYSTEM_ERROR;
    const sim_device_t *d = sim_fleet_device(c->api->fleet, devs[i]);
    sim_inject_track_t bad = {c->present, s.last.gpstime, s.last.course, s.accstatus};
    if (c->api->opt.inject_on)
      sim_inject_track(&c->api->opt.inject, devs[i],
                       (double)(uv_hrtime() - c->api->start_ns) / 1e9, &bad);
    if (i) sim_json_lit(j, ",");
    sim_json_lit(j, "{\"imei\":\"");
    sim_json_raw(j, d->imei, strlen(d->imei));
    sim_json_lit(j, "\"");
    KEY_INT(j, "servertime", bad.servertime);
    KEY_INT(j, "gpstime", bad.gpstime);
    KEY_INT(j, "hearttime", s.hearttime);
    KEY_INT(j, "systemtime", s.systemtime);
    sim_json_lit(j, ",\"longitude\":");
    sim_json_fixed(j, s.last.longitude, 6);
    sim_json_lit(j, ",\"latitude\":");
    sim_json_fixed(j, s.last.latitude, 6);
    KEY_INT(j, "course", bad.course);
    KEY_INT(j, "speed", s.last.speed);
    KEY_INT(j, "acctime", s.acctime);
    KEY_INT(j, "accstatus", bad.accstatus);
    KEY_INT(j, "doorstatus", s.doorstatus);
    KEY_INT(j, "chargestatus", s.chargestatus);
    KEY_INT(j, "oilpowerstatus", s.oilpowerstatus);
    KEY_INT(j, "defencestatus", s.defencestatus);
    KEY_INT(j, "datastatus", s.datastatus);
    KEY_INT(j, "battery", s.battery);
    KEY_INT(j, "mileage", s.mileage_m);
    KEY_INT(j, "todaymileage", s.todaymileage_m);
    sim_json_lit(j, "}");
  }
  sim_json_lit(j, "]}");
  return 0;
}

/* [begin, end] cut to the history the platform holds, which ends at the present. */
static void clamp_window(const ctx_t *c, int64_t begin, int64_t end, int64_t *lo, int64_t *hi) {
  int64_t floor_t = c->present - c->api->opt.history_s;
  *lo = begin > floor_t ? begin : floor_t;
  *hi = end < c->present ? end : c->present;
}

/* imei, begintime, endtime, clamped to the window the platform holds. */
static int time_window(ctx_t *c, uint32_t *dev, int64_t *lo, int64_t *hi) {
  const char *imei = simapi__param(c, "imei"), *b = simapi__param(c, "begintime"), *e = simapi__param(c, "endtime");
  if (!imei || !b || !e) return API_CODE_MISSING_PARAMETER;
  int64_t begin, end;
  if (!simapi__parse_i64(b, &begin) || !simapi__parse_i64(e, &end)) return API_CODE_PARAMETER_ERROR;
  if (begin > end) return API_CODE_OUT_OF_RANGE;
  int rc = simapi__resolve_imei(c, imei, strlen(imei), dev);
  if (rc) return rc;
  clamp_window(c, begin, end, lo, hi);
  return *lo > *hi ? API_CODE_NO_DATA : 0;
}

/* "No data", in the form --nodata chooses: 20023 is returned as the error code it is;
 * the others replace whatever was written with a code 0 answer. */

typedef struct page {
  sim_json_t *j;
  size_t n, max;
  bool bad_first; /* --inject group=: the first group's course is 361 */
} page_t;

/* One record of a playback or alarm string: ';' before every record but the first,
 * ',' between its fields; 9 fields of at most 40 bytes fit. */
typedef struct record {
  char text[384];
  size_t len;
  unsigned fields;
} record_t;

static void record_start(record_t *r, const page_t *pg) {
  r->len = 0;
  r->fields = 0;
  if (pg->n) r->text[r->len++] = ';';
}

static void record_int(record_t *r, int64_t v) {
  if (r->fields++) r->text[r->len++] = ',';
  r->len += sim_fmt_int(r->text + r->len, v);
}

static void record_coord(record_t *r, double v) {
  if (r->fields++) r->text[r->len++] = ',';
  r->len += sim_fmt_fixed(r->text + r->len, v, 6);
}

/* Appends r to the page; 1 (stop) once the page is full. */
static int record_end(page_t *pg, const record_t *r) {
  sim_json_raw(pg->j, r->text, r->len);
  return ++pg->n >= pg->max ? 1 : 0;
}

static int cb_playback_point(void *arg, const sim_point_t *p) {
  page_t *pg = arg;
  record_t r;
  record_start(&r, pg);
  record_coord(&r, p->longitude);
  record_coord(&r, p->latitude);
  record_int(&r, p->gpstime);
  record_int(&r, p->speed);
  record_int(&r, pg->bad_first && pg->n == 0 ? 361 : p->course);
  return record_end(pg, &r);
}

static int cb_alarm(void *arg, const sim_alarm_t *a) {
  page_t *pg = arg;
  record_t r;
  record_start(&r, pg);
  record_int(&r, a->type);
  record_coord(&r, a->longitude);
  record_coord(&r, a->latitude);
  record_int(&r, a->gpstime);
  record_int(&r, a->systemtime);
  record_int(&r, a->speed);
  record_int(&r, a->course);
  record_int(&r, a->geofence_id);
  return record_end(pg, &r);
}

int simapi__ep_playback_or_alarms(ctx_t *c, bool alarms) {
  uint32_t dev;
  int64_t lo, hi;
  int rc = time_window(c, &dev, &lo, &hi);
  if (rc) return rc == API_CODE_NO_DATA ? simapi__no_data(c) : rc;
  page_t pg = {&c->j, 0, alarms ? ALARM_PAGE : PLAYBACK_PAGE,
               !alarms && c->api->opt.inject_on && sim_inject_group(&c->api->opt.inject, dev)};
  sim_json_lit(&c->j, "{\"code\":0,\"record\":\"");
  rc = alarms ? sim_fleet_alarms(c->api->fleet, dev, lo, hi, cb_alarm, &pg)
              : sim_fleet_points_seen(c->api->fleet, dev, lo, hi, c->present, cb_playback_point, &pg);
  if (rc != 0 && rc != 1) return API_CODE_SYSTEM_ERROR;
  if (pg.n == 0) return simapi__no_data(c);
  if (pg.bad_first) c->api->opt.inject.injected++; /* a bad group was written */
  sim_json_lit(&c->j, "\"}");
  if (alarms) c->api->st.records_alarm += pg.n;
  else c->api->st.records_playback += pg.n;
  return 0;
}

int simapi__ep_mileage(ctx_t *c) {
  uint32_t devs[MAX_IMEIS];
  size_t n;
  const char *b = simapi__param(c, "begintime"), *e = simapi__param(c, "endtime");
  if (!b || !e || !simapi__param(c, "imeis")) return API_CODE_MISSING_PARAMETER;
  int64_t begin, end;
  if (!simapi__parse_i64(b, &begin) || !simapi__parse_i64(e, &end)) return API_CODE_PARAMETER_ERROR;
  if (begin % 1800 != 0 || end % 1800 != 0) return API_CODE_PARAMETER_ERROR;
  if (end <= begin || end - begin > MILEAGE_MAX_SPAN) return API_CODE_OUT_OF_RANGE;
  int rc = simapi__resolve_imeis(c, devs, &n);
  if (rc) return rc;
  int64_t lo, hi;
  clamp_window(c, begin, end, &lo, &hi);
  sim_json_t *j = &c->j;
  sim_json_lit(j, "{\"code\":0,\"record\":[");
  for (size_t i = 0; i < n; i++) {
    double km = lo < hi ? sim_fleet_mileage_km(c->api->fleet, devs[i], lo, hi) : 0.0;
    const sim_device_t *d = sim_fleet_device(c->api->fleet, devs[i]);
    if (i) sim_json_lit(j, ",");
    sim_json_lit(j, "{\"imei\":\"");
    sim_json_raw(j, d->imei, strlen(d->imei));
    sim_json_lit(j, "\",\"mileage\":");
    sim_json_fixed(j, km, 3);
    sim_json_lit(j, "}");
  }
  sim_json_lit(j, "]}");
  return 0;
}

