/* Playback, alarm and mileage pages of the archiver: a page asked, its answer checked
 * at ingest, paged (paging.h) and added to the batch with the coverage (playback,
 * alarms) or cursor (mileage) it moves at COMMIT. Invariant: a stream's coverage moves
 * only with the rows it covers. */
#include "archive/engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/grow.h"
#include "util/log.h"
#include "util/timeparse.h"

/* The scheduler's start hook of a playback or alarm page: [cursor, end] of dev. */
int pages_start(archiver_t *a, uint32_t idx, int s, int64_t end, int64_t now_server) {
  devtab_device_t *d = devtab_at(a->dev, idx);
  work_t *w = calloc(1, sizeof *w);
  if (!w) return -ENOMEM;
  *w = (work_t){.a = a, .kind = s == STREAM_PLAYBACK ? W_PLAYBACK : W_ALARMS, .acct = d->account,
                .dev = idx, .cursor = d->cursor[s], .begin = d->cursor[s].begin, .end = end,
                .asked_at = now_server};
  api_request_t req = {0};
  int rc = s == STREAM_PLAYBACK ? api_request_playback(&req, d->imei, w->cursor.begin, w->end)
                                : api_request_alarm_list(&req, d->imei, w->cursor.begin, w->end);
  if (rc == 0) rc = arch_call(a, &a->accts[d->account], &req, w);
  if (rc) free(w);
  return rc;
}

_Static_assert(SCHED_MILEAGE_BATCH == API_MAX_IMEIS, "a mileage window is one /api/device/mileage call");

/* The scheduler's start hook of a mileage window: day for devs[0..n), of one account. */
int pages_start_mileage(archiver_t *a, const uint32_t *devs, size_t n, int64_t day) {
  const char *imeis[API_MAX_IMEIS];
  if (n == 0 || n > API_MAX_IMEIS) return -EINVAL;
  work_t *w = calloc(1, sizeof *w);
  uint32_t *copy = calloc(n, sizeof *copy);
  if (!w || !copy) goto fail;
  uint16_t account = devtab_at(a->dev, devs[0])->account;
  *w = (work_t){.a = a, .kind = W_MILEAGE, .acct = account, .day = day, .devs = copy,
                .n_devs = n};
  for (size_t k = 0; k < n; k++) {
    copy[k] = devs[k];
    imeis[k] = devtab_at(a->dev, devs[k])->imei;
  }
  api_request_t req = {0};
  if (api_request_mileage(&req, imeis, n, day, day + 86400) != 0 ||
      arch_call(a, &a->accts[account], &req, w) != 0)
    goto fail;
  return 0;
fail:
  free(copy);
  free(w);
  return -ENOMEM;
}

/* Bounds at ingest of a page's n records: those out of bounds are dropped (and told);
 * the rest keep their order. Returns how many are left. */
static size_t pages_bounds(archiver_t *a, int s, const char *imei, size_t n);

size_t pages_accept(archiver_t *a, int s, const char *imei, api_endpoint_t ep, size_t *raw) {
  size_t kept = s == STREAM_PLAYBACK ? a->points.n : a->alarms.n;
  /* The page's size as sent, before bad records were dropped: whether it was full (and so
   * whether the next page must be asked) is a property of the answer, not of what we keep. */
  *raw = kept + a->rejects.n;
  if (a->rejects.n) ingest_rejects(a->ingest, api_endpoint_key(ep), imei, &a->rejects);
  return pages_bounds(a, s, imei, kept);
}

static size_t pages_bounds(archiver_t *a, int s, const char *imei, size_t n) {
  int64_t now = arch_present_bound(a);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    char what[96];
    const char *bad = s == STREAM_PLAYBACK ? ingest_point(&a->points.items[i], now, what, sizeof what)
                                      : ingest_alarm(&a->alarms.items[i], now, what, sizeof what);
    if (bad) {
      ingest_reject(a->ingest, s == STREAM_PLAYBACK ? "playback" : "alarm/list", imei, bad, what,
                    "record skipped");
      continue;
    }
    if (s == STREAM_PLAYBACK) a->points.items[k++] = a->points.items[i];
    else a->alarms.items[k++] = a->alarms.items[i];
  }
  if (s == STREAM_PLAYBACK) a->points.n = k;
  else a->alarms.n = k;
  return k;
}

void pages_apply(archiver_t *a, work_t *w, const net_result_t *res) {
  int s = w->kind == W_PLAYBACK ? STREAM_PLAYBACK : STREAM_ALARMS;
  devtab_device_t *d = devtab_at(a->dev, w->dev);
  char why[400];
  int ok = arch_response_ok(a, w, res);
  if (ok < 0) {
    sched_stream_free(a->sched, w->dev, s);
    if (res->error == NET_ERR_CANCELLED || a->accts[w->acct].stopped) return;
    if (arch_permanent_code(res)) {
      arch_stop_stream(a, w->dev, s, res);
      return;
    }
    snprintf(why, sizeof why, "%s: %s", api_endpoint_path(res->endpoint), res->message);
    sched_fail(a->sched, w->dev, s, why);
    return;
  }
  size_t n = 0;
  int rc = res->decoded; /* decode_work parsed the page, leniently */
  if (rc) {
    snprintf(why, sizeof why, "%s: bad response: %s", api_endpoint_path(res->endpoint),
             res->decode_message);
    sched_fail(a->sched, w->dev, s, why);
    return;
  }
  size_t raw;
  n = pages_accept(a, s, d->imei, res->endpoint, &raw);
  if (GROW(a->times, a->times_cap, n + 1) != 0) {
    sched_fail(a->sched, w->dev, s, "out of memory");
    return;
  }
  for (size_t i = 0; i < n; i++)
    a->times[i] = s == STREAM_PLAYBACK ? a->points.items[i].gpstime : a->alarms.items[i].systemtime;
  paging_result_t pr;
  /* A full answer that lost records to validation is still full (paging.h). */
  rc = paging_apply(&w->cursor, w->end, a->times, n, raw,
                    s == STREAM_PLAYBACK ? PAGING_PLAYBACK_PAGE : PAGING_ALARM_PAGE,
                    s == STREAM_PLAYBACK, &pr);
  if (rc == -ENODATA) {
    snprintf(why, sizeof why, "%s: a full page whose every record was refused",
             api_endpoint_path(res->endpoint));
    sched_fail(a->sched, w->dev, s, why);
    return;
  }
  a->n_hist_answers++;
  a->n_hist_records += n;
  if (rc) {
    snprintf(why, sizeof why, "%s: page of %zu records from %lld breaks the paging rules",
             api_endpoint_path(res->endpoint), n, (long long)w->cursor.begin);
    sched_fail(a->sched, w->dev, s, why);
    return;
  }
  if (pr.guard_fired) {
    a->n_guards++;
    char t[32];
    log_warn_f(LOG_FIELDS(.imei = d->imei, .stream = stream_name(s)),
        "device %s: %s: a full page of one time %s; records beyond the page at that "
             "second are skipped", d->imei, stream_name(s),
             timeparse_format_time(pr.skipped_time, t, sizeof t));
  }
  bool done = pr.step == PAGING_DONE;
  /* What this page covers, [w->begin, cov_to], and which of its records it stores:
   * [first_new, upto). A full page covers up to its last second (playback: one record
   * per second) or up to the second before it (alarms: distinct alarms share a system
   * time, so those at the last second are left to the next page, which asks from that
   * second: stored once, no duplicates). An exhausted window covers up to its end; for
   * alarms up to the time of the request less the platform's ingest delay at most. */
  size_t upto = n;
  int64_t cov_to;
  if (done) {
    cov_to = w->end;
    if (s == STREAM_ALARMS && cov_to > w->asked_at - ALARMCAD_INGEST_MARGIN_S)
      cov_to = w->asked_at - ALARMCAD_INGEST_MARGIN_S;
  } else if (pr.guard_fired) {
    cov_to = pr.skipped_time;
  } else if (s == STREAM_PLAYBACK) {
    cov_to = a->times[n - 1];
  } else {
    int64_t last = a->times[n - 1];
    cov_to = last - 1;
    while (upto > pr.first_new && a->times[upto - 1] == last) upto--;
  }
  move_t page = {.more = !done, .has_cov = cov_to >= w->begin, .cov_from = w->begin,
                 .cov_to = cov_to};
  paging_cursor_t next = w->cursor;
  bool stream_done = false;
  if (done && arch_backfill(a)) {
    /* The window asked is stored: rest at its end (a backfill reaching the present waits
     * for it to move); the stream is complete once no gap is left up to its bound. */
    next = (paging_cursor_t){w->end, true};
    if (coverage_covers(a->cov, w->dev, s, w->end + 1)) next = (paging_cursor_t){w->end + 1, false};
    int64_t gf, gt;
    coverage_gap(a->cov, w->dev, s, w->end + 1, &gf, &gt);
    stream_done = gf > sched_window_bound(a->sched, s);
  } else if (done) {
    next = (paging_cursor_t){cov_to + 1, false};
  }
  if (!commit_batch(a)) {
    sched_fail(a->sched, w->dev, s, "out of memory");
    return;
  }
  rc = 0;
  for (size_t i = pr.first_new; i < upto && rc == 0; i++) {
    if (s == STREAM_PLAYBACK) {
      const api_point_t *p = &a->points.items[i];
      rc = pgw_batch_add_position(a->commit.batch, d->imei, p->gpstime, p->longitude, p->latitude,
                                  p->speed, p->course);
      if (rc == 0) rc = heal_observe(a, w, p);
    } else {
      /* Every alarm of the system-time window, whatever its gpstime: the coverage is one
       * of system time, shared with `run`. */
      const api_alarm_t *al = &a->alarms.items[i];
      rc = pgw_batch_add_alarm(a->commit.batch, d->imei, al->type, al->gpstime, al->systemtime,
                               al->longitude, al->latitude, al->speed, al->course, al->geofenceid);
    }
  }
  if (rc == 0) rc = commit_move(a, w->dev, s, &next, stream_done, &page);
  if (rc) {
    sched_fail(a->sched, w->dev, s, "cannot add to the batch");
    return;
  }
  /* busy stays set until the batch's commit moves the in-memory cursor */
  commit_maybe_submit(a);
}

void pages_apply_mileage(archiver_t *a, work_t *w, const net_result_t *res) {
  char why[400];
  int ok = arch_response_ok(a, w, res);
  if (ok == 0 && res->decoded != 0) ok = -2; /* decode_work parsed a->mileages */
  if (ok == 0 && a->rejects.n) ingest_rejects(a->ingest, "device/mileage", NULL, &a->rejects);
  if (ok != 0) {
    for (size_t k = 0; k < w->n_devs; k++) {
      sched_stream_free(a->sched, w->devs[k], STREAM_MILEAGE);
      if (res->error == NET_ERR_CANCELLED || a->accts[w->acct].stopped) continue;
      if (ok == -1 && arch_permanent_code(res) && w->n_devs == 1) {
        arch_stop_stream(a, w->devs[k], STREAM_MILEAGE, res);
        continue;
      }
      snprintf(why, sizeof why, "%s: %s", api_endpoint_path(res->endpoint),
               ok == -2 ? res->decode_message : res->message);
      sched_fail(a->sched, w->devs[k], STREAM_MILEAGE, why);
    }
    return;
  }
  int rc = commit_batch(a) ? 0 : -ENOMEM;
  for (size_t i = 0; i < a->mileages.n && rc == 0; i++) {
    const api_mileage_t *m = &a->mileages.items[i];
    if (m->km < 0) continue; /* -1: the device has no odometer */
    for (size_t k = 0; k < w->n_devs; k++)
      if (strcmp(devtab_at(a->dev, w->devs[k])->imei, m->imei) == 0) {
        rc = pgw_batch_add_mileage(a->commit.batch, m->imei, w->day, m->km);
        break;
      }
  }
  paging_cursor_t next = {w->day + 86400, true};
  for (size_t k = 0; k < w->n_devs; k++) {
    if (rc == 0) rc = commit_move(a, w->devs[k], STREAM_MILEAGE, &next, false, NULL);
    if (rc) sched_fail(a->sched, w->devs[k], STREAM_MILEAGE, "cannot add to the batch");
  }
  commit_maybe_submit(a);
}
