/* The archiver's scheduler: which stream of which device is due (the due sets of
 * devtab), handing out due work (pump) within max_in_flight and the writer's pressure,
 * and the backoff of a stream that failed. Invariant: a device whose stream is due is in
 * that stream's set, or the present reached time_wake, or its backoff expired. */
#include "archive/engine.h"

#include <errno.h>
#include <stdlib.h>

#include "util/log.h"


/* The inclusive end of a stream's window right now (run: the present). */
static int64_t window_end(archiver_t *a, int s) {
  int64_t now = arch_server_now(a);
  if (!arch_backfill(a)) return s == STREAM_ALARMS ? now - ALARMCAD_INGEST_MARGIN_S : now;
  if (s == STREAM_ALARMS) return sched_window_bound(a, s);
  return a->opt.to - 1;
}


/* ------------------------------------------------------------------ failures */

void sched_fail(archiver_t *a, uint32_t dev, int s, const char *why) {
  devtab_device_t *d = devtab_at(a->dev, dev);
  if (!d) return;
  d->busy &= (uint8_t)~(1u << s);
  if (d->failures[s] < 255) d->failures[s]++;
  unsigned f = d->failures[s];
  uint32_t delay = f >= 9 ? ARCH_BACKOFF_MAX_S : (1u << f);
  if (delay > ARCH_BACKOFF_MAX_S) delay = ARCH_BACKOFF_MAX_S;
  delay += (uint32_t)(rand() % (int)(delay / 2 + 1)); /* spread the retries */
  d->retry_at[s] = arch_now_s(a) + delay;
  /* Due again when the delay is over: the backoff set is looked at then. */
  devtab_set_add(a->dev, DEVTAB_SET_BACKOFF, dev);
  if (d->retry_at[s] < a->backoff_wake) a->backoff_wake = d->retry_at[s];
  a->n_errors++;
  a->n_retries++;
  if (arch_backfill(a) && f >= ARCH_MAX_FAILURES) {
    d->done |= (uint8_t)(1u << s);
    d->failures[s] = 255; /* marks "given up" for the summary */
    log_error("device %s: %s: giving up after %u attempts: %s", d->imei, stream_name(s), f, why);
  } else {
    log_warn("device %s: %s: %s (attempt %u, retry in %us)", d->imei, stream_name(s), why, f,
             delay);
  }
}

/* ------------------------------------------------------------------ due work */


/* The largest end a stream's window reaches as the present grows (window_end). */
int64_t sched_window_bound(const archiver_t *a, int s) {
  if (!arch_backfill(a)) return INT64_MAX;
  if (s != STREAM_ALARMS) return a->opt.to - 1;
  int64_t e = a->opt.to - 1 + ARCH_ALARM_LATE_S;
  return a->bf_present && a->bf_present < e ? a->bf_present : e;
}

static void wake_at(int64_t *wake, int64_t t) {
  if (wake && t < *wake) *wake = t;
}

/* Playback and alarms: the inclusive end of the next request of (idx, s), the cursor first
 * moved past what is covered (a gap's records only: what any job archived is not asked
 * again), and the end held to the gap's end and the window. `run` asks alarms up to the
 * present less the ingest margin, or up to the present after a datastatus change. */
int64_t sched_page_window(archiver_t *a, uint32_t idx, int s, int64_t now_server) {
  devtab_device_t *d = devtab_at(a->dev, idx);
  paging_cursor_t *c = &d->cursor[s];
  /* The first second not stored: a playback cursor with have_begin holds its second (one
   * record per second); an alarm cursor's second is asked again (alarmcad.h: full pages
   * leave the records at their last second to the next page). */
  int64_t probe = s == STREAM_PLAYBACK && c->have_begin ? c->begin + 1 : c->begin;
  int64_t from, to;
  coverage_gap(a->cov, idx, s, probe, &from, &to);
  if (from != probe) *c = (paging_cursor_t){from, false};
  int64_t end = window_end(a, s);
  if (s == STREAM_ALARMS && !arch_backfill(a)) {
    int64_t urgent = alarmcad_urgent_at(a->acad, idx);
    end = urgent && urgent <= now_server ? now_server : now_server - ALARMCAD_INGEST_MARGIN_S;
  }
  return to < end ? to : end;
}

/* Whether stream s of device d needs a request now. DUE_NO means complete (backfill) or
 * nothing new (run); DUE_LATER: busy or backing off; DUE_BLOCKED: its account stopped.
 * When DUE_NO only because the present is not far enough yet, *wake (if not NULL) is
 * lowered to the server time at which that changes: nothing else (no response, no
 * commit) would make the stream due then. Else only events change the verdict: a track
 * record, a commit, a failure's backoff ending, discovery, a reload (see due sets). */
due_t sched_due(archiver_t *a, devtab_device_t *d, int s, int64_t now_server,
                        int64_t *wake) {
  if (!arch_stream_on(a, s) || d->removed) return DUE_NO;
  if (d->done & (1u << s)) return DUE_NO;
  if (a->accts[d->account].stopped || !arch_acct_held(a, d->account)) return DUE_BLOCKED;
  if (d->busy & (1u << s)) return DUE_LATER;
  const paging_cursor_t *c = &d->cursor[s];
  if (c->begin == ARCH_UNSET) return DUE_NO;
  uint32_t idx = (uint32_t)devtab_index(a->dev, d);
  bool work;
  if (s == STREAM_MILEAGE) {
    int64_t limit = arch_backfill(a) ? a->opt.to : INT64_MAX;
    /* Only completed days: a day's km is final once it has ended. */
    work = c->begin < limit && c->begin + 86400 <= now_server;
    if (c->begin < limit && !work) wake_at(wake, c->begin + 86400);
  } else {
    int64_t end = sched_page_window(a, idx, s, now_server);
    bool in_window = c->have_begin ? c->begin < end : c->begin <= end;
    bool news = true; /* what the last track poll says is past the cursor */
    bool more = (d->more & (1u << s)) != 0;
    /* A full page is followed by the next whatever /api/track says (spec 2.3, 2.8). */
    if (s == STREAM_PLAYBACK && d->last_gpstime >= 0 && !more)
      news = paging_playback_due(c, d->last_gpstime);
    /* Alarms are not tied to what the device sends (the platform makes some itself):
     * a backfill asks every gap of its window; `run` asks on its cadence and events
     * (alarmcad.h), every track record revisiting the device. */
    if (s == STREAM_ALARMS && !arch_backfill(a) && !more)
      news = alarmcad_due(a->acad, idx, c->begin, now_server,
                          a->cfg->archive.alarm_interval_ms / 1000,
                          a->cfg->archive.alarm_idle_interval_ms / 1000);
    work = in_window && news;
    /* Only the window short: its end grows with the present, up to its bound. (Without
     * news a track record has to come first: that is an event.) */
    if (!in_window && news && (arch_backfill(a) || s == STREAM_PLAYBACK)) {
      int64_t need = c->have_begin ? c->begin + 1 : c->begin;
      if (need <= sched_window_bound(a, s)) wake_at(wake, need);
    }
  }
  if (!work) return DUE_NO;
  if (d->retry_at[s] > arch_now_s(a)) return DUE_LATER;
  return DUE_YES;
}

/* ------------------------------------------------------------------ due sets */

/* Invariant: a device with a stream that stream_due calls DUE_YES is in that stream's
 * set (DEVTAB_SET_PAGES for playback and alarms, DEVTAB_SET_MILEAGE), or the present
 * has reached a->time_wake, or its backoff expired (a->backoff_wake) and pump has not
 * looked yet. Whatever changes a verdict marks the device: a track record that moved
 * its gpstime or systemtime or set its cursors, a busy bit cleared (commit, failure),
 * discovery listing it, --imei, startup and reload (every device). Only pump removes a
 * device, after finding none of its streams of that set DUE_YES, and it then records
 * the time at which one would be due by time alone (time_wake). So the sets hold what
 * may be due, each device once, and pump visits them in the same round-robin order as
 * a scan of the whole table would. */
void sched_mark_stream(archiver_t *a, uint32_t dev, int s) {
  devtab_set_add(a->dev, s == STREAM_MILEAGE ? DEVTAB_SET_MILEAGE : DEVTAB_SET_PAGES, dev);
}

void sched_mark_device(archiver_t *a, uint32_t dev) {
  devtab_set_add(a->dev, DEVTAB_SET_PAGES, dev);
  devtab_set_add(a->dev, DEVTAB_SET_MILEAGE, dev);
}

void sched_mark_all(archiver_t *a) {
  devtab_set_add_all(a->dev, DEVTAB_SET_PAGES);
  devtab_set_add_all(a->dev, DEVTAB_SET_MILEAGE);
}

/* The stream's request or page is over (busy bit cleared): it may be due again. */
void sched_stream_free(archiver_t *a, uint32_t dev, int s) {
  devtab_device_t *d = devtab_at(a->dev, dev);
  if (!d) return;
  d->busy &= (uint8_t)~(1u << s);
  sched_mark_stream(a, dev, s);
}

/* Devices whose backoff ended since the last look are marked; those still waiting stay
 * in the backoff set, and the earliest of their retry times is the next look. */
static void backoff_expire(archiver_t *a) {
  uint32_t now = arch_now_s(a);
  if (now < a->backoff_wake) return;
  uint32_t seen = a->backoff_seen;
  a->backoff_seen = now;
  a->backoff_wake = UINT32_MAX;
  size_t n = devtab_count(a->dev);
  for (int64_t i = devtab_set_next(a->dev, DEVTAB_SET_BACKOFF, 0, n); i >= 0;
       i = devtab_set_next(a->dev, DEVTAB_SET_BACKOFF, (size_t)i + 1, n)) {
    devtab_device_t *d = devtab_at(a->dev, (size_t)i);
    bool waiting = false;
    for (int s = 0; s < STREAM_COUNT; s++) {
      uint32_t r = d->retry_at[s];
      if (r > now) {
        waiting = true;
        if (r < a->backoff_wake) a->backoff_wake = r;
      } else if (r > seen) {
        sched_mark_stream(a, (uint32_t)i, s);
      }
    }
    if (!waiting) devtab_set_del(a->dev, DEVTAB_SET_BACKOFF, (size_t)i);
  }
}

/* Whether playback or alarms of d is DUE_YES (and, if not, when time alone changes it). */
static bool pages_due(archiver_t *a, devtab_device_t *d, int64_t now_server) {
  bool due = false;
  for (int s = STREAM_PLAYBACK; s <= STREAM_ALARMS; s++)
    if (sched_due(a, d, s, now_server, &a->time_wake) == DUE_YES) due = true;
  return due;
}

/* The next member of set from position *pos (mod n) of a round over the table, or -1
 * when none is left in this round: *scanned counts the positions passed, as a scan of
 * every device would, so that the round ends after n positions and *pos is where a
 * full scan would stand. */
static int64_t set_round_next(archiver_t *a, devtab_set_t set, size_t *pos, size_t *scanned,
                              size_t n) {
  if (*scanned >= n) return -1;
  size_t p = *pos % n;
  int64_t i = devtab_set_next(a->dev, set, p, n);
  if (i < 0) i = devtab_set_next(a->dev, set, 0, p);
  if (i < 0) {
    *pos += n - *scanned;
    *scanned = n;
    return -1;
  }
  size_t dist = (size_t)i >= p ? (size_t)i - p : n - p + (size_t)i;
  if (*scanned + dist >= n) {
    *pos += n - *scanned;
    *scanned = n;
    return -1;
  }
  *pos += dist + 1;
  *scanned += dist + 1;
  return i;
}


/* Hands out due data work, in rounds over the device table, while fewer than
 * max_in_flight calls are out and the writer is not full: never the whole fleet at once.
 * A round visits only the due sets' members (the others have nothing due), in the order
 * and from the position a scan of every device would, and drops those found with
 * nothing due. */
void sched_pump(archiver_t *a) {
  if (a->stopping || a->pressure || a->submit_blocked || !a->net) return;
  if (arch_backfill(a) && (a->disc_accounts_pending > 0 || a->polls_pending > 0)) return;
  /* A backfill's alarm windows end at the present it started with: chasing a present
   * that moves would ask every device again and again. */
  if (arch_backfill(a) && !a->data_started) a->bf_present = arch_server_now(a);
  a->data_started = true;
  size_t n = devtab_count(a->dev);
  if (n == 0) return;
  int64_t now_server = arch_server_now(a);
  if (now_server >= a->time_wake) { /* a stream may be due by time alone: look at all */
    a->time_wake = INT64_MAX;
    sched_mark_all(a);
  }
  backoff_expire(a);
  size_t scanned = 0;
  while (a->in_flight < a->max_in_flight) {
    int64_t at = set_round_next(a, DEVTAB_SET_PAGES, &a->scan_pos, &scanned, n);
    if (at < 0) break;
    uint32_t i = (uint32_t)at;
    devtab_device_t *d = devtab_at(a->dev, i);
    for (int s = STREAM_PLAYBACK; s <= STREAM_ALARMS && a->in_flight < a->max_in_flight; s++)
      if (sched_due(a, d, s, now_server, NULL) == DUE_YES) pages_start(a, i, s);
    /* Again after the starts: left in the set while a stream is still due (the round
     * ended at max_in_flight, or a start failed without a backoff). */
    if (!pages_due(a, devtab_at(a->dev, i), now_server))
      devtab_set_del(a->dev, DEVTAB_SET_PAGES, i);
  }
  heal_pump(a, now_server);
  if (!arch_stream_on(a, STREAM_MILEAGE)) return;
  scanned = 0;
  while (a->mileage_in_flight < ARCH_MILEAGE_IN_FLIGHT && a->in_flight < a->max_in_flight) {
    int64_t at = set_round_next(a, DEVTAB_SET_MILEAGE, &a->mileage_pos, &scanned, n);
    if (at < 0) break;
    uint32_t i = (uint32_t)at;
    if (sched_due(a, devtab_at(a->dev, i), STREAM_MILEAGE, now_server, NULL) == DUE_YES)
      pages_start_mileage(a, i, now_server);
    if (sched_due(a, devtab_at(a->dev, i), STREAM_MILEAGE, now_server, &a->time_wake) != DUE_YES)
      devtab_set_del(a->dev, DEVTAB_SET_MILEAGE, i);
  }
}

/* Stops stream s of device dev at once (until a restart): a permanent answer. */
void sched_stop(archiver_t *a, uint32_t dev, int s, const net_result_t *res) {
  devtab_device_t *d = devtab_at(a->dev, dev);
  if (!d) return;
  d->busy &= (uint8_t)~(1u << s);
  d->done |= (uint8_t)(1u << s);
  d->failures[s] = 255; /* "given up" for the summary and the exit status */
  a->n_errors++;
  const char *text = api_code_text(res->code);
  log_error("device %s: %s: %s: API error %d (%s): permanent, not retried", d->imei,
            stream_name(s), api_endpoint_path(res->endpoint), res->code,
            text ? text : "unknown code");
}
