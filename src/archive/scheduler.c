/* The archiver's scheduler (scheduler.h): due queues, pump, backoff. Pure: it reads and
 * writes the device table, reads the coverage and the alarm cadence, and starts calls
 * only through its hooks. */
#include "archive/scheduler.h"

#include <stdlib.h>
#include <string.h>

#include "domain/stream.h"
#include "util/grow.h"
#include "util/log.h"

struct sched {
  devtab_t *dev;
  coverage_t *cov;
  alarmcad_t *acad;
  sched_options_t opt;
  sched_hooks_t h;
  size_t in_flight;          /* data calls out: pages, mileage windows, heals */
  size_t mileage_in_flight;  /* of which mileage windows */
  size_t scan_pos, mileage_pos; /* where the rounds over the table stand */
  /* The server time at which a stream found not due may become due by time alone (a
   * day ending, a window growing with the present): then every device is queued once
   * more. And the monotonic second of the next backoff expiry, and the second the
   * backoff queue was last looked at. */
  int64_t time_wake;
  uint32_t backoff_wake, backoff_seen;
  bool started;              /* the first pump ran */
  int64_t bf_present;        /* backfill: the platform's present when its pages began */
  sched_stats_t stats;
  /* Playback's due queue: a min-heap of devices by their playback cursor when queued
   * (oldest coverage first; ties by index), each device at most once (queued[dev]). A
   * key that went stale (the cursor moved on while queued) is put right when popped. */
  struct pb_entry { int64_t key; uint32_t dev; } *pb_heap;
  size_t pb_n, pb_cap;
  uint8_t *pb_queued;
  size_t pb_queued_n;
};

sched_t *sched_new(devtab_t *dev, coverage_t *cov, alarmcad_t *acad, const sched_options_t *o,
                   const sched_hooks_t *h) {
  sched_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->dev = dev;
  s->cov = cov;
  s->acad = acad;
  s->opt = *o;
  if (s->opt.max_in_flight == 0) s->opt.max_in_flight = 1;
  s->h = *h;
  s->time_wake = INT64_MAX;
  s->backoff_wake = UINT32_MAX;
  return s;
}

void sched_free(sched_t *s) {
  if (!s) return;
  free(s->pb_heap);
  free(s->pb_queued);
  free(s);
}

void sched_set_options(sched_t *s, const sched_options_t *o) {
  s->opt.streams = o->streams;
  s->opt.alarm_interval_s = o->alarm_interval_s;
  s->opt.alarm_idle_s = o->alarm_idle_s;
  sched_mark_all(s);
}

bool sched_stream_on(const sched_t *s, int st) { return (s->opt.streams & STREAM_BIT(st)) != 0; }

size_t sched_free_slots(const sched_t *s) {
  return s->in_flight < s->opt.max_in_flight ? s->opt.max_in_flight - s->in_flight : 0;
}

void sched_call_begun(sched_t *s) { s->in_flight++; }

void sched_call_ended(sched_t *s, bool mileage) {
  if (s->in_flight) s->in_flight--;
  if (mileage && s->mileage_in_flight) s->mileage_in_flight--;
}

size_t sched_in_flight(const sched_t *s) { return s->in_flight; }

bool sched_started(const sched_t *s) { return s->started; }

const sched_stats_t *sched_stats(const sched_t *s) { return &s->stats; }

/* ------------------------------------------------------------------ failures */

void sched_fail(sched_t *s, uint32_t dev, int st, const char *why) {
  devtab_device_t *d = devtab_at(s->dev, dev);
  if (!d) return;
  d->busy &= (uint8_t)~(1u << st);
  if (d->failures[st] < 255) d->failures[st]++;
  unsigned f = d->failures[st];
  uint32_t delay = f >= 9 ? SCHED_BACKOFF_MAX_S : (1u << f);
  if (delay > SCHED_BACKOFF_MAX_S) delay = SCHED_BACKOFF_MAX_S;
  delay += (uint32_t)(rand() % (int)(delay / 2 + 1)); /* spread the retries */
  d->retry_at[st] = s->h.mono_s(s->h.arg) + delay;
  /* Due again when the delay is over: the backoff queue is looked at then. */
  devtab_set_add(s->dev, DEVTAB_SET_BACKOFF, dev);
  if (d->retry_at[st] < s->backoff_wake) s->backoff_wake = d->retry_at[st];
  s->stats.failures++;
  if (s->opt.backfill && f >= SCHED_MAX_FAILURES) {
    d->done |= (uint8_t)(1u << st);
    d->failures[st] = 255; /* marks "given up" for the summary */
    log_error_f(LOG_FIELDS(.imei = d->imei, .stream = stream_name(st)),
        "device %s: %s: giving up after %u attempts: %s", d->imei, stream_name(st), f, why);
  } else {
    log_warn_f(LOG_FIELDS(.imei = d->imei, .stream = stream_name(st)),
        "device %s: %s: %s (attempt %u, retry in %us)", d->imei, stream_name(st), why, f,
             delay);
  }
}

void sched_stop(sched_t *s, uint32_t dev, int st, const char *why) {
  devtab_device_t *d = devtab_at(s->dev, dev);
  if (!d) return;
  d->busy &= (uint8_t)~(1u << st);
  d->done |= (uint8_t)(1u << st);
  d->failures[st] = 255; /* "given up" for the summary and the exit status */
  s->stats.stopped++;
  log_error_f(LOG_FIELDS(.imei = d->imei, .stream = stream_name(st)),
      "device %s: %s: %s: permanent, not retried", d->imei, stream_name(st), why);
}

/* ------------------------------------------------------------------ due work */

/* The largest end a stream's window reaches as the present grows (window_end). */
int64_t sched_window_bound(const sched_t *s, int st) {
  if (!s->opt.backfill) return INT64_MAX;
  if (st != STREAM_ALARMS) return s->opt.to - 1;
  int64_t e = s->opt.to - 1 + SCHED_ALARM_LATE_S;
  return s->bf_present && s->bf_present < e ? s->bf_present : e;
}

/* The inclusive end of a stream's window right now (run: the present). */
static int64_t window_end(sched_t *s, int st, int64_t now_server) {
  if (!s->opt.backfill) return st == STREAM_ALARMS ? now_server - ALARMCAD_INGEST_MARGIN_S : now_server;
  if (st == STREAM_ALARMS) return sched_window_bound(s, st);
  return s->opt.to - 1;
}

static void wake_at(int64_t *wake, int64_t t) {
  if (wake && t < *wake) *wake = t;
}

/* Playback and alarms: the inclusive end of the next request of (idx, st), the cursor
 * first moved past what is covered (a gap's records only: what any job archived is not
 * asked again), and the end held to the gap's end and the window. `run` asks alarms up
 * to the present less the ingest margin, or up to the present after a datastatus
 * change. */
static int64_t page_window(sched_t *s, uint32_t idx, int st, int64_t now_server) {
  devtab_device_t *d = devtab_at(s->dev, idx);
  paging_cursor_t *c = &d->cursor[st];
  /* The first second not stored: a playback cursor with have_begin holds its second (one
   * record per second); an alarm cursor's second is asked again (alarmcad.h: full pages
   * leave the records at their last second to the next page). */
  int64_t probe = st == STREAM_PLAYBACK && c->have_begin ? c->begin + 1 : c->begin;
  int64_t from, to;
  coverage_gap(s->cov, idx, st, probe, &from, &to);
  if (from != probe) *c = (paging_cursor_t){from, false};
  int64_t end = window_end(s, st, now_server);
  if (st == STREAM_ALARMS && !s->opt.backfill) {
    int64_t urgent = alarmcad_urgent_at(s->acad, idx);
    end = urgent && urgent <= now_server ? now_server : now_server - ALARMCAD_INGEST_MARGIN_S;
  }
  return to < end ? to : end;
}

/* DUE_NO only because the present is not far enough yet lowers *wake: nothing else (no
 * response, no commit) would make the stream due then. Else only events change the
 * verdict: a track record, a commit, a failure's backoff ending, discovery, a reload. */
due_t sched_due(sched_t *s, uint32_t idx, int st, int64_t now_server, int64_t *wake) {
  devtab_device_t *d = devtab_at(s->dev, idx);
  if (!d || !sched_stream_on(s, st) || d->removed) return DUE_NO;
  if (d->done & (1u << st)) return DUE_NO;
  if (s->h.blocked && s->h.blocked(s->h.arg, d->account)) return DUE_BLOCKED;
  if (d->busy & (1u << st)) return DUE_LATER;
  const paging_cursor_t *c = &d->cursor[st];
  if (c->begin == SCHED_UNSET) return DUE_NO;
  bool work;
  if (st == STREAM_MILEAGE) {
    int64_t limit = s->opt.backfill ? s->opt.to : INT64_MAX;
    /* Only completed days: a day's km is final once it has ended. */
    work = c->begin < limit && c->begin + 86400 <= now_server;
    if (c->begin < limit && !work) wake_at(wake, c->begin + 86400);
  } else {
    int64_t end = page_window(s, idx, st, now_server);
    bool in_window = c->have_begin ? c->begin < end : c->begin <= end;
    bool news = true; /* what the last track poll says is past the cursor */
    bool more = (d->more & (1u << st)) != 0;
    /* A full page is followed by the next whatever /api/track says (spec 2.3, 2.8). */
    if (st == STREAM_PLAYBACK && d->last_gpstime >= 0 && !more)
      news = paging_playback_due(c, d->last_gpstime);
    /* Alarms are not tied to what the device sends (the platform makes some itself):
     * a backfill asks every gap of its window; `run` asks on its cadence and events
     * (alarmcad.h), every track record revisiting the device. */
    if (st == STREAM_ALARMS && !s->opt.backfill && !more)
      news = alarmcad_due(s->acad, idx, c->begin, now_server, s->opt.alarm_interval_s,
                          s->opt.alarm_idle_s);
    work = in_window && news;
    /* Only the window short: its end grows with the present, up to its bound. (Without
     * news a track record has to come first: that is an event.) */
    if (!in_window && news && (s->opt.backfill || st == STREAM_PLAYBACK)) {
      int64_t need = c->have_begin ? c->begin + 1 : c->begin;
      if (need <= sched_window_bound(s, st)) wake_at(wake, need);
    }
  }
  if (!work) return DUE_NO;
  if (d->retry_at[st] > s->h.mono_s(s->h.arg)) return DUE_LATER;
  return DUE_YES;
}

/* ------------------------------------------------------------------ due queues */

/* Whatever changes a verdict queues the device: a track record that moved its gpstime
 * or systemtime or set its cursors, a busy bit cleared (commit, failure), discovery
 * listing it, --imei, startup and reload (every device). Only pump dequeues a device,
 * after finding none of its streams of that queue DUE_YES, and it then records the time
 * at which one would be due by time alone (time_wake). So the queues hold what may be
 * due, each device once. Pump takes playback's from a heap by cursor (oldest coverage
 * first: when the budget cannot keep every device current, the lag is spread evenly)
 * and visits the alarm queue in the same round-robin order as a scan of the whole
 * table would. */
static bool pb_less(const struct pb_entry *a, const struct pb_entry *b) {
  return a->key < b->key || (a->key == b->key && a->dev < b->dev);
}

static void pb_sift_up(sched_t *s, size_t i) {
  struct pb_entry e = s->pb_heap[i];
  while (i > 0) {
    size_t up = (i - 1) / 2;
    if (!pb_less(&e, &s->pb_heap[up])) break;
    s->pb_heap[i] = s->pb_heap[up];
    i = up;
  }
  s->pb_heap[i] = e;
}

static struct pb_entry pb_pop(sched_t *s) {
  struct pb_entry top = s->pb_heap[0], e = s->pb_heap[--s->pb_n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= s->pb_n) break;
    if (c + 1 < s->pb_n && pb_less(&s->pb_heap[c + 1], &s->pb_heap[c])) c++;
    if (!pb_less(&s->pb_heap[c], &e)) break;
    s->pb_heap[i] = s->pb_heap[c];
    i = c;
  }
  if (s->pb_n) s->pb_heap[i] = e;
  return top;
}

/* Room for every device of the table (a device is in the heap at most once). false: out
 * of memory (the device is not queued now; its next event queues it). */
static bool pb_room(sched_t *s) {
  size_t n = devtab_count(s->dev), old = s->pb_queued_n;
  if (GROW(s->pb_queued, s->pb_queued_n, n) != 0) return false;
  if (s->pb_queued_n > old) memset(s->pb_queued + old, 0, s->pb_queued_n - old);
  return GROW(s->pb_heap, s->pb_cap, n) == 0;
}

static void pb_push(sched_t *s, uint32_t dev, int64_t key) {
  s->pb_heap[s->pb_n] = (struct pb_entry){key, dev};
  pb_sift_up(s, s->pb_n++);
}

static void pb_add(sched_t *s, uint32_t dev) {
  if (dev >= devtab_count(s->dev) || !pb_room(s) || s->pb_queued[dev]) return;
  s->pb_queued[dev] = 1;
  pb_push(s, dev, devtab_at(s->dev, dev)->cursor[STREAM_PLAYBACK].begin);
}

/* Playback or alarms queues the device for both (as one queue of pages did: the poller
 * marks playback for a record that revisits the alarm cadence too). */
void sched_mark_stream(sched_t *s, uint32_t dev, int st) {
  if (st == STREAM_MILEAGE) {
    devtab_set_add(s->dev, DEVTAB_SET_MILEAGE, dev);
    return;
  }
  pb_add(s, dev);
  devtab_set_add(s->dev, DEVTAB_SET_PAGES, dev);
}

void sched_mark_device(sched_t *s, uint32_t dev) {
  pb_add(s, dev);
  devtab_set_add(s->dev, DEVTAB_SET_PAGES, dev);
  devtab_set_add(s->dev, DEVTAB_SET_MILEAGE, dev);
}

void sched_mark_all(sched_t *s) {
  size_t n = devtab_count(s->dev);
  for (size_t i = 0; i < n; i++) pb_add(s, (uint32_t)i);
  devtab_set_add_all(s->dev, DEVTAB_SET_PAGES);
  devtab_set_add_all(s->dev, DEVTAB_SET_MILEAGE);
}

void sched_stream_free(sched_t *s, uint32_t dev, int st) {
  devtab_device_t *d = devtab_at(s->dev, dev);
  if (!d) return;
  d->busy &= (uint8_t)~(1u << st);
  sched_mark_stream(s, dev, st);
}

void sched_committed(sched_t *s, uint32_t dev, int st, const paging_cursor_t *cursor, bool more,
                     bool done) {
  devtab_device_t *d = devtab_at(s->dev, dev);
  if (!d) return;
  sched_stream_free(s, dev, st);
  d->cursor[st] = *cursor;
  d->failures[st] = 0;
  if (more) d->more |= (uint8_t)(1u << st);
  else d->more &= (uint8_t)~(1u << st);
  if (done && s->opt.backfill) d->done |= (uint8_t)(1u << st);
}

/* Devices whose backoff ended since the last look are queued; those still waiting stay
 * in the backoff queue, and the earliest of their retry times is the next look. */
static void backoff_expire(sched_t *s) {
  uint32_t now = s->h.mono_s(s->h.arg);
  if (now < s->backoff_wake) return;
  uint32_t seen = s->backoff_seen;
  s->backoff_seen = now;
  s->backoff_wake = UINT32_MAX;
  size_t n = devtab_count(s->dev);
  for (int64_t i = devtab_set_next(s->dev, DEVTAB_SET_BACKOFF, 0, n); i >= 0;
       i = devtab_set_next(s->dev, DEVTAB_SET_BACKOFF, (size_t)i + 1, n)) {
    devtab_device_t *d = devtab_at(s->dev, (size_t)i);
    bool waiting = false;
    for (int st = 0; st < STREAM_COUNT; st++) {
      uint32_t r = d->retry_at[st];
      if (r > now) {
        waiting = true;
        if (r < s->backoff_wake) s->backoff_wake = r;
      } else if (r > seen) {
        sched_mark_stream(s, (uint32_t)i, st);
      }
    }
    if (!waiting) devtab_set_del(s->dev, DEVTAB_SET_BACKOFF, (size_t)i);
  }
}


/* The next member of queue q from position *pos (mod n) of a round over the table, or
 * -1 when none is left in this round: *scanned counts the positions passed, as a scan of
 * every device would, so that the round ends after n positions and *pos is where a full
 * scan would stand. */
static int64_t round_next(sched_t *s, devtab_set_t q, size_t *pos, size_t *scanned, size_t n) {
  if (*scanned >= n) return -1;
  size_t p = *pos % n;
  int64_t i = devtab_set_next(s->dev, q, p, n);
  if (i < 0) i = devtab_set_next(s->dev, q, 0, p);
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

static bool lane_full(sched_t *s, uint32_t idx, int st) {
  return s->h.lane_full && s->h.lane_full(s->h.arg, devtab_at(s->dev, idx)->account, st);
}

static void start_page(sched_t *s, uint32_t idx, int st, int64_t now_server) {
  int64_t end = page_window(s, idx, st, now_server);
  if (s->h.start_page(s->h.arg, idx, st, end, now_server) != 0) {
    sched_fail(s, idx, st, "cannot build the request");
    return;
  }
  devtab_at(s->dev, idx)->busy |= (uint8_t)(1u << st);
  s->in_flight++;
  if (st == STREAM_ALARMS && !s->opt.backfill) alarmcad_asked(s->acad, idx, now_server);
}

/* Playback, oldest coverage first: the queued device whose cursor is earliest, while
 * calls are free. One not due leaves the queue (an event queues it again: a commit, a
 * failure's backoff ending, a track record, time_wake); one due on a full lane stays,
 * set aside for this pump (a few: past SCHED_PB_SET_ASIDE, the lanes are taken to be
 * full for this pump). */
#define SCHED_PB_SET_ASIDE 32
static void pump_playback(sched_t *s, int64_t now_server) {
  struct pb_entry aside[SCHED_PB_SET_ASIDE];
  size_t n_aside = 0;
  while (s->in_flight < s->opt.max_in_flight && s->pb_n > 0) {
    struct pb_entry e = pb_pop(s);
    uint32_t i = e.dev;
    if (sched_due(s, i, STREAM_PLAYBACK, now_server, &s->time_wake) != DUE_YES) {
      s->pb_queued[i] = 0;
      continue;
    }
    /* sched_due moved the cursor past what is covered: its place may be later now. */
    int64_t key = devtab_at(s->dev, i)->cursor[STREAM_PLAYBACK].begin;
    if (key != e.key) {
      pb_push(s, i, key);
      continue;
    }
    if (lane_full(s, i, STREAM_PLAYBACK)) {
      aside[n_aside++] = e;
      if (n_aside == SCHED_PB_SET_ASIDE) break;
      continue;
    }
    s->pb_queued[i] = 0;
    start_page(s, i, STREAM_PLAYBACK, now_server);
  }
  for (size_t k = 0; k < n_aside; k++) pb_push(s, aside[k].dev, aside[k].key);
}

/* One mileage window: up to 100 devices of first's account whose mileage cursor is the
 * same day and due (a device whose mileage is due is in the mileage queue). */
static void start_mileage(sched_t *s, uint32_t first, int64_t now_server) {
  uint32_t devs[SCHED_MILEAGE_BATCH];
  size_t k = 0, n = devtab_count(s->dev);
  devtab_device_t *d0 = devtab_at(s->dev, first);
  uint16_t account = d0->account;
  int64_t day = d0->cursor[STREAM_MILEAGE].begin;
  for (int64_t at = devtab_set_next(s->dev, DEVTAB_SET_MILEAGE, first, n);
       at >= 0 && k < SCHED_MILEAGE_BATCH;
       at = devtab_set_next(s->dev, DEVTAB_SET_MILEAGE, (size_t)at + 1, n)) {
    devtab_device_t *d = devtab_at(s->dev, (size_t)at);
    if (d->account != account || d->cursor[STREAM_MILEAGE].begin != day) continue;
    if (sched_due(s, (uint32_t)at, STREAM_MILEAGE, now_server, NULL) != DUE_YES) continue;
    devs[k++] = (uint32_t)at;
  }
  if (s->h.start_mileage(s->h.arg, devs, k, day) != 0) {
    for (size_t j = 0; j < k; j++) sched_fail(s, devs[j], STREAM_MILEAGE, "cannot build the request");
    return;
  }
  for (size_t j = 0; j < k; j++) devtab_at(s->dev, devs[j])->busy |= 1u << STREAM_MILEAGE;
  s->in_flight++;
  s->mileage_in_flight++;
}

/* A round visits only the queues' members (the others have nothing due), in the order
 * and from the position a scan of every device would, and dequeues those found with
 * nothing due. */
void sched_pump(sched_t *s) {
  if (s->h.ready && !s->h.ready(s->h.arg)) return;
  /* A backfill's alarm windows end at the present it started with: chasing a present
   * that moves would ask every device again and again. */
  if (s->opt.backfill && !s->started) s->bf_present = s->h.server_now(s->h.arg);
  s->started = true;
  size_t n = devtab_count(s->dev);
  if (n == 0) return;
  int64_t now_server = s->h.server_now(s->h.arg);
  if (now_server >= s->time_wake) { /* a stream may be due by time alone: look at all */
    s->time_wake = INT64_MAX;
    sched_mark_all(s);
  }
  backoff_expire(s);
  pump_playback(s, now_server);
  /* Alarms: rounds over their queue. */
  size_t scanned = 0, idle = 0, resume = SIZE_MAX;
  while (s->in_flight < s->opt.max_in_flight) {
    int64_t at = round_next(s, DEVTAB_SET_PAGES, &s->scan_pos, &scanned, n);
    if (at < 0) break;
    uint32_t i = (uint32_t)at;
    due_t due = sched_due(s, i, STREAM_ALARMS, now_server, &s->time_wake);
    if (due != DUE_YES) {
      devtab_set_del(s->dev, DEVTAB_SET_PAGES, i);
      continue;
    }
    /* Its lane has calls waiting already: this one would wait behind them holding a
     * slot another lane could send on now. Left queued. */
    if (lane_full(s, i, STREAM_ALARMS)) {
      if (resume == SIZE_MAX) resume = i;
      if (++idle >= SCHED_LANE_SKIP_MAX) break;
      continue;
    }
    idle = 0;
    start_page(s, i, STREAM_ALARMS, now_server);
    if (sched_due(s, i, STREAM_ALARMS, now_server, &s->time_wake) != DUE_YES)
      devtab_set_del(s->dev, DEVTAB_SET_PAGES, i);
  }
  /* The next round starts at the first device held for its lane: it keeps its turn. */
  if (resume != SIZE_MAX) s->scan_pos = resume;
  if (s->h.spare) s->h.spare(s->h.arg, now_server);
  if (!sched_stream_on(s, STREAM_MILEAGE)) return;
  scanned = 0;
  while (s->mileage_in_flight < SCHED_MILEAGE_IN_FLIGHT && s->in_flight < s->opt.max_in_flight) {
    int64_t at = round_next(s, DEVTAB_SET_MILEAGE, &s->mileage_pos, &scanned, n);
    if (at < 0) break;
    uint32_t i = (uint32_t)at;
    if (sched_due(s, i, STREAM_MILEAGE, now_server, NULL) == DUE_YES) start_mileage(s, i, now_server);
    if (sched_due(s, i, STREAM_MILEAGE, now_server, &s->time_wake) != DUE_YES)
      devtab_set_del(s->dev, DEVTAB_SET_MILEAGE, i);
  }
}
