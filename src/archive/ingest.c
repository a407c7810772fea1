/* Bounds at ingest (ingest.h). */
#include "archive/ingest.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

struct ingest {
  ingest_reject_cb cb;
  void *arg;
  uint64_t total;
  /* (endpoint, imei, field) already logged: open addressing on 64-bit hashes */
  uint64_t *seen;
  size_t cap, n;
  bool full_logged;
};

ingest_t *ingest_new(ingest_reject_cb cb, void *arg) {
  ingest_t *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->cb = cb;
  g->arg = arg;
  g->cap = 2 * INGEST_LOGGED_MAX;
  g->seen = calloc(g->cap, sizeof *g->seen);
  if (!g->seen) {
    free(g);
    return NULL;
  }
  return g;
}

void ingest_free(ingest_t *g) {
  if (!g) return;
  free(g->seen);
  free(g);
}

static uint64_t fnv(uint64_t h, const char *s) {
  for (; s && *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
  return (h ^ 0xff) * 0x100000001b3ULL;
}

/* True the first time the key is seen (and while there is room to remember it). */
static bool first_time(ingest_t *g, const char *endpoint, const char *imei, const char *field) {
  uint64_t h = fnv(fnv(fnv(0xcbf29ce484222325ULL, endpoint), imei), field);
  if (h == 0) h = 1;
  size_t i = (size_t)(h % g->cap);
  while (g->seen[i]) {
    if (g->seen[i] == h) return false;
    i = (i + 1) % g->cap;
  }
  if (g->n >= INGEST_LOGGED_MAX) {
    if (!g->full_logged)
      log_warn("rejected records: %d distinct ones logged; further ones are only counted "
               "(fleetarc_records_rejected_total)", INGEST_LOGGED_MAX);
    g->full_logged = true;
    return false;
  }
  g->seen[i] = h;
  g->n++;
  return true;
}

void ingest_reject(ingest_t *g, const char *endpoint, const char *imei, const char *field,
                   const char *what, const char *action) {
  g->total++;
  if (g->cb) g->cb(g->arg, endpoint, field);
  if (first_time(g, endpoint, imei ? imei : "", field))
    log_warn_f(LOG_FIELDS(.endpoint = endpoint, .imei = imei && *imei ? imei : NULL),
        "rejected %s record of device %s: %s: %s (%s; logged once, counted always)",
             endpoint, imei && *imei ? imei : "(unknown)", field, what, action);
}

void ingest_rejects(ingest_t *g, const char *endpoint, const char *imei, const api_rejects_t *r) {
  size_t kept = r->n < API_REJECTS_KEPT ? r->n : API_REJECTS_KEPT;
  for (size_t i = 0; i < kept; i++) {
    const api_reject_t *x = &r->first[i];
    ingest_reject(g, endpoint, x->imei[0] ? x->imei : imei, x->field, x->message,
                  "record skipped, the rest of the answer used");
  }
  for (size_t i = kept; i < r->n; i++) { /* counted without details */
    g->total++;
    if (g->cb) g->cb(g->arg, endpoint, "record");
  }
}

uint64_t ingest_rejected_total(const ingest_t *g) { return g ? g->total : 0; }

bool ingest_time_ok(int64_t t, int64_t now) {
  return t >= INGEST_TIME_MIN && t <= now + INGEST_FUTURE_S;
}

static const char *bad_time(const char *name, int64_t t, char *what, size_t size) {
  snprintf(what, size, "%" PRId64 " is outside 2000-01-01 .. the present + 1 day", t);
  return name;
}

static const char *bad_coord(double lon, double lat, char *what, size_t size) {
  if (!(lon >= -180 && lon <= 180)) {
    snprintf(what, size, "%.17g is outside -180..180", lon);
    return "longitude";
  }
  if (!(lat >= -90 && lat <= 90)) {
    snprintf(what, size, "%.17g is outside -90..90", lat);
    return "latitude";
  }
  return NULL;
}

const char *ingest_point(const api_point_t *p, int64_t now, char *what, size_t size) {
  if (!ingest_time_ok(p->gpstime, now)) return bad_time("gpstime", p->gpstime, what, size);
  return bad_coord(p->longitude, p->latitude, what, size);
}

const char *ingest_alarm(const api_alarm_t *a, int64_t now, char *what, size_t size) {
  if (!ingest_time_ok(a->gpstime, now)) return bad_time("gpstime", a->gpstime, what, size);
  /* systemtime pages the stream: bounded by the present like gpstime */
  if (!ingest_time_ok(a->systemtime, now)) return bad_time("systemtime", a->systemtime, what, size);
  return bad_coord(a->longitude, a->latitude, what, size);
}

/* A track time: 0 and -1 are "none" already; else within bounds or 0 (NULL). */
static int track_time(ingest_t *g, const char *imei, const char *name, int64_t *t, int64_t now) {
  if (*t <= 0 || ingest_time_ok(*t, now)) return 0;
  char what[96];
  bad_time(name, *t, what, sizeof what);
  ingest_reject(g, "track", imei, name, what, "stored as NULL");
  *t = 0;
  return 1;
}

/* A smallint column: -32768..32767, else -1 (NULL for the statuses). */
static int track_small(ingest_t *g, const char *imei, const char *name, int32_t *v) {
  if (*v >= -32768 && *v <= 32767) return 0;
  char what[64];
  snprintf(what, sizeof what, "%" PRId32 " is outside the column's smallint range", *v);
  ingest_reject(g, "track", imei, name, what, "stored as NULL");
  *v = API_UNKNOWN;
  return 1;
}

int ingest_track(ingest_t *g, api_track_t *t, int64_t now) {
  int n = 0;
  n += track_time(g, t->imei, "servertime", &t->servertime, now);
  n += track_time(g, t->imei, "gpstime", &t->gpstime, now);
  n += track_time(g, t->imei, "hearttime", &t->hearttime, now);
  n += track_time(g, t->imei, "systemtime", &t->systemtime, now);
  n += track_small(g, t->imei, "accstatus", &t->accstatus);
  n += track_small(g, t->imei, "doorstatus", &t->doorstatus);
  n += track_small(g, t->imei, "chargestatus", &t->chargestatus);
  n += track_small(g, t->imei, "oilpowerstatus", &t->oilpowerstatus);
  n += track_small(g, t->imei, "defencestatus", &t->defencestatus);
  n += track_small(g, t->imei, "datastatus", &t->datastatus);
  return n;
}
