/* Alarm cadence of `run` (alarmcad.h): per device, what the last track record said and
 * which changes wait for an alarm request. */
#include "archive/alarmcad.h"
#include "util/grow.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct acdev {
  int64_t gpstime, heard;
  int64_t urgent_at;   /* server time a datastatus change was seen; 0: none pending */
  int8_t datastatus, accstatus, defencestatus;
  uint8_t known : 1;   /* a record was seen */
  uint8_t event : 1;   /* a change waits for a request (rule a) */
} acdev_t;

struct alarmcad {
  acdev_t *devs;
  size_t n;      /* devices held: devs[0..n) (all of the capacity, zeroed) */
};

alarmcad_t *alarmcad_new(void) { return calloc(1, sizeof(alarmcad_t)); }

void alarmcad_free(alarmcad_t *c) {
  if (!c) return;
  free(c->devs);
  free(c);
}

static int8_t small(int v) { return v < -1 || v > 100 ? (int8_t)100 : (int8_t)v; }

int alarmcad_track(alarmcad_t *c, size_t dev, const alarmcad_record_t *r, int64_t now) {
  if (dev >= c->n) {
    size_t n = c->n;
    if (GROW(c->devs, n, dev + 1) != 0) return -ENOMEM;
    memset(c->devs + c->n, 0, (n - c->n) * sizeof *c->devs);
    c->n = n;
  }
  acdev_t *d = &c->devs[dev];
  int8_t ds = small(r->datastatus), acc = small(r->accstatus), def = small(r->defencestatus);
  if (!d->known) {
    d->known = 1;
    d->event = 1;
  } else {
    if (ds != d->datastatus) {
      d->event = 1;
      if (!d->urgent_at) d->urgent_at = now;
    }
    if (acc != d->accstatus || def != d->defencestatus || r->gpstime > d->gpstime ||
        r->heard > d->heard)
      d->event = 1;
  }
  d->datastatus = ds;
  d->accstatus = acc;
  d->defencestatus = def;
  if (r->gpstime > d->gpstime) d->gpstime = r->gpstime;
  if (r->heard > d->heard) d->heard = r->heard;
  return 0;
}

bool alarmcad_due(const alarmcad_t *c, size_t dev, int64_t next_begin, int64_t now,
                  int64_t interval_s, int64_t idle_s) {
  int64_t last = next_begin - 1 + ALARMCAD_INGEST_MARGIN_S; /* about when it was asked */
  if (now - last >= idle_s) return true;                   /* (c) */
  if (dev >= c->n) return false;
  const acdev_t *d = &c->devs[dev];
  if (d->urgent_at && now >= d->urgent_at) return true; /* (b) */
  return d->event && now - last >= interval_s;                                    /* (a) */
}

int64_t alarmcad_urgent_at(const alarmcad_t *c, size_t dev) {
  return dev < c->n ? c->devs[dev].urgent_at : 0;
}

void alarmcad_asked(alarmcad_t *c, size_t dev, int64_t now) {
  if (dev >= c->n) return;
  acdev_t *d = &c->devs[dev];
  d->event = 0;
  if (d->urgent_at && d->urgent_at <= now) d->urgent_at = 0;
}
