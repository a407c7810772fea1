/* What the archiver reports: tallies of the device streams (complete, due, later,
 * blocked, given up), the progress and summary lines, a backfill's verdict and what it
 * left missing, and archiver_status for the operations side. Reads only. */
#include "archive/engine.h"

#include <stdio.h>
#include <string.h>

#include "util/log.h"
#include "util/timeparse.h"

/* Failures so far: of calls, batches and accounts (a->n_errors), and of device streams
 * (the scheduler's: attempts that failed, streams stopped for good). */
static uint64_t errors(const archiver_t *a) {
  const sched_stats_t *st = sched_stats(a->sched);
  return a->n_errors + st->failures + st->stopped;
}

/* How far a device's archive of stream s is behind the data the platform has of it
 * (from /api/track): playback the last gpstime, alarms the last systemtime or heartbeat,
 * mileage the day of the last gpstime. false for a device without a position yet
 * (never reported, or not polled yet): a lag would only measure the lookback. The
 * summary line and fleetarc_stream_lag_seconds both come from here. */
static bool device_lag(const archiver_t *a, const devtab_device_t *d, int s, int64_t *lag) {
  *lag = 0;
  if (d->last_gpstime <= 0 || !arch_stream_on(a, s) || d->cursor[s].begin == ARCH_UNSET) return d->last_gpstime > 0;
  int64_t head = s == STREAM_PLAYBACK ? d->last_gpstime
               : s == STREAM_ALARMS   ? d->last_systemtime
                                 : arch_floor_day(d->last_gpstime);
  if (head > d->cursor[s].begin) *lag = head - d->cursor[s].begin;
  return true;
}

void progress_tally(archiver_t *a, tally_t *t) {
  memset(t, 0, sizeof *t);
  int64_t now_server = arch_server_now(a);
  size_t n = devtab_count(a->dev);
  for (size_t i = 0; i < n; i++) {
    devtab_device_t *d = devtab_at(a->dev, i);
    if (d->removed) continue;
    t->devices++;
    int64_t lag;
    if (!arch_backfill(a) && device_lag(a, d, STREAM_PLAYBACK, &lag) && lag > t->lag) t->lag = lag;
    for (int s = 0; s < STREAM_COUNT; s++) {
      if (!arch_stream_on(a, s)) continue;
      t->streams++;
      if ((d->done & (1u << s)) && d->failures[s] == 255) {
        t->given_up++;
        t->covered += 1.0; /* nothing more will be done for it */
        continue;
      }
      due_t due = sched_due(a->sched, (uint32_t)i, s, now_server, NULL);
      if (arch_backfill(a)) { /* the part of the range behind the cursor (complete: all) */
        int64_t b = d->cursor[s].begin, span = a->opt.to - a->opt.from;
        t->covered += due == DUE_NO || (d->done & (1u << s)) ? 1.0
                    : b == ARCH_UNSET || b <= a->opt.from ? 0.0
                    : b >= a->opt.to ? 1.0 : (double)(b - a->opt.from) / (double)span;
      }
      switch (due) {
        case DUE_NO: t->complete++; break;
        case DUE_YES: t->due++; break;
        case DUE_LATER: t->later++; break;
        case DUE_BLOCKED: t->blocked++; break;
      }
    }
  }
}

void progress_report(archiver_t *a, bool final) {
  tally_t t;
  progress_tally(a, &t);
  double secs = (double)(uv_now(a->loop) - a->start_ms) / 1000.0;
  /* backfill: how far, by time covered (the part of [from, to) behind each stream's
   * cursor) and by streams complete; the ETA extrapolates the time covered so far */
  char eta[64] = "";
  double pct = 0;
  if (arch_backfill(a) && t.streams) {
    double f = t.covered / (double)t.streams;
    pct = 100.0 * f;
    if (f >= 1.0) snprintf(eta, sizeof eta, ", ETA 0s");
    else if (final) eta[0] = '\0'; /* stopped short: run it again */
    else if (f > 0.0 && secs >= 1.0) snprintf(eta, sizeof eta, ", ETA %.0fs", secs * (1.0 - f) / f);
    else snprintf(eta, sizeof eta, ", ETA unknown");
  }
  if (arch_backfill(a) && a->opt.progress_bar && !final) {
    int width = 30, fill = (int)((double)width * pct / 100.0);
    if (fill > width) fill = width;
    fprintf(stderr, "\r[%.*s%*s] %3.0f%% of the range, %zu/%zu streams, %llu points, %llu alarms, "
            "%llu requests%s  ", fill, "##############################", width - fill, "", pct,
            t.complete, t.streams, (unsigned long long)a->n_points, (unsigned long long)a->n_alarms,
            (unsigned long long)a->n_requests, eta);
    fflush(stderr);
    return;
  }
  char covered[128] = "";
  if (arch_backfill(a)) snprintf(covered, sizeof covered, ", %.1f%% of the range covered%s", pct, eta);
  if (arch_backfill(a) && a->opt.progress_bar) fputc('\n', stderr);
  const netc_stats_t *ns = a->net ? netc_stats(a->net) : &a->net_stats;
  log_info("%s: devices %zu, streams complete %zu/%zu, points %llu, alarms %llu, mileage days "
           "%llu, requests %llu, retries %llu, errors %llu, logins %llu, lag %llds, %.1fs%s",
           final ? "summary" : (arch_backfill(a) ? "progress" : "summary"), t.devices, t.complete,
           t.streams, (unsigned long long)a->n_points, (unsigned long long)a->n_alarms,
           (unsigned long long)a->n_mileage, (unsigned long long)a->n_requests,
           (unsigned long long)(sched_stats(a->sched)->failures + (ns ? ns->retries : 0)),
           (unsigned long long)errors(a), (unsigned long long)(ns ? ns->logins : 0),
           (long long)t.lag, secs, covered);
}

/* ------------------------------------------------------------------ tick */

#define ARCH_NAMES_MAX 10 /* accounts or streams named in a failure, then "and N more" */

/* Backfill's exit status once nothing is due: 1 when an account could not log in (or
 * stopped), a device list failed, or a device stream gave up or is blocked; the
 * accounts are named here (the streams by summary_missing). */
int progress_verdict(archiver_t *a, const tally_t *tl) {
  size_t stopped = 0;
  char names[600] = "";
  size_t len = 0;
  for (size_t i = 0; i < a->n_accts; i++) {
    acct_t *ac = &a->accts[i];
    if (!ac->stopped || ac->removed) continue;
    if (stopped++ < ARCH_NAMES_MAX && len < sizeof names) {
      const char *text = ac->stop_code > 0 ? api_code_text(ac->stop_code) : NULL;
      int n = snprintf(names + len, sizeof names - len, "%s%s (code %d: %s)", len ? ", " : "",
                       ac->cfg->account, ac->stop_code, text ? text : "login failed");
      if (n > 0) len += (size_t)n;
    }
  }
  if (stopped) {
    if (stopped > ARCH_NAMES_MAX)
      log_error("backfill failed: %zu accounts could not log in or stopped: %s and %zu more",
                stopped, names, stopped - ARCH_NAMES_MAX);
    else
      log_error("backfill failed: %zu account%s could not log in or stopped: %s", stopped,
                stopped == 1 ? "" : "s", names);
  }
  if (tl->given_up)
    log_error("backfill failed: %zu device stream%s failed for good (listed below)", tl->given_up,
              tl->given_up == 1 ? "" : "s");
  return stopped || tl->blocked || tl->given_up || a->disc.incomplete ? 1 : 0;
}

void archiver_status(archiver_t *a, archiver_status_t *out) {
  memset(out, 0, sizeof *out);
  tally_t t;
  progress_tally(a, &t);
  out->devices_active = t.devices;
  out->streams_complete = t.complete;
  out->streams_due = t.due;
  out->streams_later = t.later;
  out->streams_blocked = t.blocked;
  out->streams_given_up = t.given_up;
  size_t n = devtab_count(a->dev);
  for (size_t i = 0; i < n; i++) {
    devtab_device_t *d = devtab_at(a->dev, i);
    if (d->removed) {
      out->devices_removed++;
      continue;
    }
    bool failing = false, data = d->last_gpstime > 0;
    for (int s = 0; s < STREAM_COUNT; s++) {
      if (!arch_stream_on(a, s)) continue;
      if (d->failures[s]) failing = true;
      int64_t lag;
      if (device_lag(a, d, s, &lag) && lag > out->lag_s[s]) out->lag_s[s] = lag;
    }
    if (failing) out->devices_failing++;
    if (!data) out->devices_without_position++;
  }
  out->points = a->n_points;
  out->alarms = a->n_alarms;
  out->mileage_days = a->n_mileage;
  out->errors = errors(a);
  out->backpressure = a->commit.pressure;
}

void progress_missing(archiver_t *a) {
  size_t n = devtab_count(a->dev), shown = 0, missing = 0;
  for (size_t i = 0; i < n; i++) {
    devtab_device_t *d = devtab_at(a->dev, i);
    if (d->removed) continue;
    for (int s = 0; s < STREAM_COUNT; s++) {
      if (!arch_stream_on(a, s)) continue;
      bool gave_up = (d->done & (1u << s)) && d->failures[s] == 255;
      bool blocked = a->accts[d->account].stopped && !(d->done & (1u << s));
      bool incomplete = !(d->done & (1u << s)) && (a->interrupted || a->gave_up);
      if (!gave_up && !blocked && !incomplete) continue;
      missing++;
      if (shown++ < 20) {
        char t[32];
        log_error("missing: device %s %s from %s%s", d->imei, stream_name(s),
                  timeparse_format_time(d->cursor[s].begin, t, sizeof t),
                  blocked ? " (account stopped)" : gave_up ? " (kept failing)" : "");
      }
    }
  }
  if (missing > shown) log_error("missing: %zu more device streams", missing - shown);
  if (missing) log_error("backfill incomplete: %zu device streams; run it again to resume", missing);
}

/* A complete backfill whose every answer of playback and alarms was empty says so: the
 * range may predate the platform's history (it keeps only months) or lie in the future.
 * (A range already complete from an earlier run asks nothing and says nothing.) */
void progress_nothing(archiver_t *a) {
  if (a->n_points || a->n_alarms || a->n_hist_records || !(arch_stream_on(a, STREAM_PLAYBACK) || arch_stream_on(a, STREAM_ALARMS)))
    return;
  tally_t t;
  progress_tally(a, &t);
  char from[32], to[32];
  timeparse_format_time(a->opt.from, from, sizeof from);
  timeparse_format_time(a->opt.to, to, sizeof to);
  if (t.devices == 0)
    log_warn("backfill: no devices to archive: the accounts list none");
  else if (a->n_hist_answers)
    log_warn("backfill: [%s, %s) holds no points and no alarms for any of the %zu devices: it may "
             "predate the platform's history, lie ahead of it, or the devices were silent",
             from, to, t.devices);
}

