/* The archiver engine (archiver.h): discovery, track polls, playback/alarm/mileage pages,
 * batches and the coverage (playback, alarms; coverage.h) or cursor (mileage) they
 * commit, the alarm cadence (alarmcad.h), backoff, backpressure, progress and shutdown.
 * Each stream of each device has at most one request or uncommitted page at a time (the
 * busy bit), so its cursor in memory is always the committed one plus nothing. The
 * scheduler visits only the devices in the due sets (devtab sets): a device whose stream
 * is due is in its set (see "due sets" below), so a response costs O(due), not O(fleet). */
#include "archive/archiver.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "archive/alarmcad.h"
#include "archive/coverage.h"
#include "archive/devtab.h"
#include "archive/gapheal.h"
#include "archive/ingest.h"
#include "archive/nameset.h"
#include "archive/lease.h"
#include "archive/paging.h"
#include "config/config.h"
#include "db/gaps.h"
#include "db/pgw.h"
#include "db/state.h"
#include "net/client.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/timeparse.h"

/* Alarms are paged by system time but a backfill's range is one of gpstime: an alarm of
 * [from, to) may reach the platform up to this late, so a backfill asks alarms up to
 * to - 1 + this and keeps those whose gpstime is in range. (The simulator's bound is
 * 6 h; a platform that uploads later is caught by `run`, which pages on system time.) */
#define ARCH_ALARM_LATE_S (6 * 3600)
#define ARCH_SUMMARY_MS 60000        /* the periodic summary line of `run` */
#define ARCH_TICK_MS 250             /* scheduler tick: backoff expiry, completion check */
#define ARCH_PROGRESS_LINE_MS 10000  /* backfill progress lines when stderr is no terminal */
#define ARCH_MAX_FAILURES 12         /* a backfill gives up a device's stream after these */
#define ARCH_BACKOFF_MAX_S 300       /* cap of the per-device retry delay */
#define ARCH_SHUTDOWN_WAIT_MS 5000   /* in-flight responses still written, at most this */
#define ARCH_DRAIN_MS 3000           /* then the writer drains for at most this */
#define ARCH_MILEAGE_IN_FLIGHT 2     /* mileage windows of 100 devices in flight */
#define ARCH_POLLS_SKIPPED_TOLD 10   /* track polls skipped under pressure before it is logged */

enum { S_PLAYBACK = STREAM_PLAYBACK, S_ALARMS = STREAM_ALARMS, S_MILEAGE = STREAM_MILEAGE };
static const unsigned stream_bits[] = {STREAM_BIT(STREAM_PLAYBACK), STREAM_BIT(STREAM_ALARMS),
                                       STREAM_BIT(STREAM_MILEAGE)};

typedef struct archiver archiver_t;

/* An account's poll timer, allocated apart: the accounts' array grows on reload. */
typedef struct poll_timer {
  uv_timer_t timer;
  archiver_t *a;
  uint16_t acct;
} poll_timer_t;

/* A configured account: its login, its discovery and its track polls. Accounts keep
 * their index for the whole run (devices and calls refer to it); a reload that drops
 * one marks it removed. */
typedef struct acct {
  archiver_t *a;
  config_account_t *cfg;  /* owned copy: a reload frees the config it came from */
  netc_account_t *na;
  bool stopped;
  int stop_code;          /* the API code that stopped it (20001, 10016...), -1: other */
  bool removed;           /* dropped from the configuration by a reload */
  int disc_pending;       /* device/user list calls of the running discovery */
  bool disc_failed;       /* one of them failed: no removal sweep this time */
  nameset_t visited;      /* sub-accounts listed in this discovery (cycle guard) */
  bool cap_logged;        /* a discovery cap was hit (logged once per discovery) */
  uint32_t *poll_devs;    /* its active devices, in chunks of API_MAX_IMEIS */
  size_t n_poll, poll_pos;
  bool poll_busy;         /* a track call of this account is in flight */
  poll_timer_t *poll;     /* freed by its close callback */
} acct_t;

typedef enum { W_PLAYBACK, W_ALARMS, W_MILEAGE, W_TRACK, W_DEVLIST, W_USERLIST, W_HEAL } work_kind_t;

/* One API call: what was asked, so that its response can be applied. */
typedef struct work {
  archiver_t *a;
  work_kind_t kind;
  uint16_t acct;
  uint32_t dev;              /* playback, alarms */
  paging_cursor_t cursor;    /* a copy of the committed cursor, advanced by the page */
  int64_t begin;             /* playback, alarms: the request's begin (cursor.begin as asked) */
  int64_t end;               /* the request's inclusive end */
  int64_t asked_at;          /* server time of the request (alarms: the ingest margin) */
  int64_t gap_from, gap_to;  /* heal: the gap's identity (gapheal.h); begin/end as asked */
  int64_t day;               /* mileage */
  uint32_t *devs;            /* mileage, track */
  size_t n_devs;
  char owner[128];           /* device/user list: the account listed */
  uint16_t depth;            /* device/user list: levels below the configured account */
} work_t;

/* A cursor move waiting for its batch's COMMIT. */
typedef struct move {
  uint32_t dev;
  uint8_t stream;
  bool done;                 /* backfill: the stream of this device is complete */
  bool more;                 /* a full page: the next one is asked whatever /api/track says */
  bool has_cov;              /* playback, alarms: [cov_from, cov_to] is now covered */
  bool cov_only;             /* a track poll's point: its second is covered; no page */
  int64_t cov_from, cov_to;
  paging_cursor_t cursor;
} move_t;

typedef struct bctx {
  archiver_t *a;
  uint64_t submitted_ms;     /* for the batch hook's latency */
  move_t *moves;
  size_t n, cap;
} bctx_t;

struct archiver {
  archiver_options_t opt;
  const config_t *cfg;       /* opt.cfg, or the last reload's (owned_cfg) */
  config_t *owned_cfg;       /* the configuration of the last reload, NULL before one */
  uv_loop_t loop;
  netc_t *net;
  pgw_t *db;
  devtab_t *dev;
  acct_t *accts;
  size_t n_accts;
  char stream_key[STREAM_COUNT][64]; /* cursor names in fleetarc.cursors (mileage) */
  coverage_t *cov;           /* playback and alarms: what is committed (coverage.h) */
  alarmcad_t *acad;          /* run: when alarms are asked (alarmcad.h) */
  gapheal_t *heal;           /* gaps of the stored track asked again (gapheal.h) */
  lease_t *lease;            /* cluster.enabled (run): the accounts this instance holds */
  uint64_t n_heal_requests, n_heal_points;

  uv_timer_t tick, flush_timer, summary_timer, discovery_timer, shutdown_timer;
  uv_signal_t sigint, sigterm;
  bool timers_up;

  pgw_batch_t *batch;        /* being filled */
  bctx_t *bctx;
  bool submit_blocked;       /* pgw_submit said -EAGAIN: retry on pressure(false) */
  bool pressure;             /* the writer is full: no data requests */
  size_t batches_pending;    /* submitted, callback not yet run */

  size_t in_flight;          /* data calls (playback, alarms, mileage) */
  size_t mileage_in_flight;
  size_t other_in_flight;    /* track, device/user list */
  size_t max_in_flight;
  size_t scan_pos, mileage_pos;
  /* Due sets: the server time at which a stream found not due may become due by time
   * alone (a day ending, a window growing with the present): then every device is
   * visited once more. And the archiver second of the next backoff expiry, and the
   * second the backoff set was last looked at. */
  int64_t time_wake;
  uint32_t backoff_wake, backoff_seen;
  int disc_accounts_pending; /* accounts whose discovery has not ended */
  size_t polls_pending;      /* backfill: first track polls not yet answered */
  bool data_started;
  int64_t bf_present;        /* backfill: the platform's present when its pages began */
  bool first_discovery_done; /* run: the startup sweep of known, unlisted devices ran */
  /* Backfill: give up when no call has succeeded for archive.give_up_after while calls
   * kept failing (an API down for good must not cost half an hour of backoff). */
  uint64_t last_success_ms;
  uint64_t failures_since_success;
  char last_error[300];
  bool gave_up;
  bool disc_incomplete;      /* backfill: a device list failed: the range cannot be whole */

  bool stopping, net_closing, interrupted;
  int exit_code;
  uint64_t start_ms, last_progress_ms;
  bool have_offset;          /* server_offset learned from a track record's servertime */
  int64_t server_offset;
  bool servertime_ignored;   /* the last servertime was beyond the bound (logged once) */
  bool polls_paused;         /* run: track polls skipped while the writer is full */
  uint64_t polls_skipped;
  uint64_t n_servertime_ignored;
  netc_stats_t net_stats;    /* copied before the client closes, for the last summary */

  api_points_t points;
  api_alarms_t alarms;
  api_tracks_t tracks;
  api_devices_t devices;
  api_users_t users;
  api_mileages_t mileages;
  api_rejects_t rejects;     /* of the last lenient parse */
  ingest_t *ingest;          /* bounds at ingest, rejected records' log and count */
  int64_t *times;
  size_t times_cap;

  /* counters */
  uint64_t n_points, n_alarms, n_requests, n_errors, n_retries, n_mileage, n_guards;
  uint64_t n_hist_answers, n_hist_records; /* playback/alarm answers parsed, their records */
  size_t devices_done_logged;
};

/* ------------------------------------------------------------------ accounts' own copies */

/* What an account keeps of its configuration, copied: the config_t it came from is
 * freed by the next reload. NULL on out of memory. */
static config_account_t *acct_cfg_dup(const config_account_t *c) {
  config_account_t *k = malloc(sizeof *k);
  if (!k) return NULL;
  *k = *c;
  if (!(k->account = strdup(c->account))) {
    explicit_bzero(k->password_md5, sizeof k->password_md5);
    free(k);
    return NULL;
  }
  return k;
}

static void acct_cfg_free(config_account_t *k) {
  if (!k) return;
  explicit_bzero(k->password_md5, sizeof k->password_md5); /* a secret */
  free(k->account);
  free(k);
}

static int poll_timer_init(archiver_t *a, acct_t *ac) {
  ac->poll = calloc(1, sizeof *ac->poll);
  if (!ac->poll) return -ENOMEM;
  uv_timer_init(&a->loop, &ac->poll->timer);
  ac->poll->timer.data = ac->poll;
  ac->poll->a = a;
  ac->poll->acct = (uint16_t)(ac - a->accts);
  return 0;
}

/* ------------------------------------------------------------------ helpers */

static uint32_t now_s(archiver_t *a) { return (uint32_t)(uv_now(&a->loop) / 1000); }

/* How far a servertime may be ahead of the real present (the later of the local clock
 * and the HTTP Date header's) and still be believed: beyond it, it is ignored and
 * logged, and no cursor, mileage day or new device's cursor is set from it. */
#define ARCH_SERVERTIME_AHEAD_S 300

/* The real present (also for bounds at ingest): the later of the local clock and the
 * Date headers' clock (a platform whose clock runs ahead is not refused for it). */
static int64_t present_bound(archiver_t *a) {
  int64_t local = (int64_t)time(NULL), off = a->net ? netc_clock_offset(a->net) : 0;
  return local + (off > 0 ? off : 0);
}

/* The platform's present as best known: local clock plus the offset netc learned. */
static int64_t server_now(archiver_t *a) {
  /* servertime of /api/track is the platform's own present; the Date header may come
   * from a front server with another clock, so servertime wins once seen. Never past
   * the real present (plus the bound): nothing is asked of days that have not come. */
  int64_t t = a->have_offset ? (int64_t)time(NULL) + a->server_offset
                             : (int64_t)time(NULL) + (a->net ? netc_clock_offset(a->net) : 0);
  int64_t cap = present_bound(a) + ARCH_SERVERTIME_AHEAD_S;
  return t < cap ? t : cap;
}

/* A track record's servertime: learned as the platform's present unless it is ahead of
 * the real present by more than the bound (then ignored, logged once per episode). */
static bool learn_servertime(archiver_t *a, int64_t servertime) {
  int64_t bound = present_bound(a);
  if (servertime > bound + ARCH_SERVERTIME_AHEAD_S) {
    if (!a->servertime_ignored)
      log_warn("servertime %lld is %llds ahead of the local clock and the Date header: "
               "ignored (bound %ds); the platform's present stays %s",
               (long long)servertime, (long long)(servertime - bound), ARCH_SERVERTIME_AHEAD_S,
               a->have_offset ? "the last one believed" : "the Date header's");
    a->servertime_ignored = true;
    a->n_servertime_ignored++;
    return false;
  }
  if (a->servertime_ignored)
    log_info("servertime believed again (%llu track records ignored)",
             (unsigned long long)a->n_servertime_ignored);
  a->servertime_ignored = false;
  a->server_offset = servertime - (int64_t)time(NULL);
  a->have_offset = true;
  return true;
}

/* Run mode: a new device's cursors wait for the first track poll, which tells the
 * platform's present that lookback counts back from. */
#define ARCH_UNSET INT64_MIN

static int64_t floor_day(int64_t t) { return t - ((t % 86400) + 86400) % 86400; }

static bool backfill(const archiver_t *a) { return a->opt.mode == ARCHIVER_BACKFILL; }

static bool stream_on(const archiver_t *a, int s) { return (a->opt.streams & stream_bits[s]) != 0; }

/* Where a device's cursors start when the database holds none. */
static int64_t stream_start(archiver_t *a) {
  if (backfill(a)) return a->opt.from;
  return server_now(a) - a->cfg->archive.lookback_ms / 1000;
}

/* Where stream s of device idx starts in this job. A backfill: its --from. `run`: the
 * lookback, or the start of the device's latest covered interval when that is earlier
 * (so that `run` resumes where it, or a backfill, ended); either way the cursor moves past
 * what is covered before asking (page_window). */
static int64_t stream_start_of(archiver_t *a, uint32_t idx, int s) {
  int64_t start = stream_start(a);
  if (s == S_MILEAGE) return floor_day(start);
  if (backfill(a)) return start;
  size_t n = coverage_count(a->cov, idx, s);
  const coverage_iv_t *last = coverage_last(a->cov, idx, s);
  /* A single second at the end is a poll's point stored ahead of the pages: the
   * interval the pages were extending is the one before it. */
  if (last && last->from == last->to && n >= 2) last = coverage_at(a->cov, idx, s, n - 2);
  if (last && last->from < start) start = last->from;
  return start;
}

static void device_init(archiver_t *a, devtab_device_t *d) {
  uint32_t idx = (uint32_t)devtab_index(a->dev, d);
  bool known = backfill(a) || a->have_offset;
  for (int s = 0; s < STREAM_COUNT; s++)
    d->cursor[s] = (paging_cursor_t){known ? stream_start_of(a, idx, s) : ARCH_UNSET, false};
  d->last_gpstime = backfill(a) ? -1 : 0; /* backfill: unknown until polled, then due */
  d->removed = 1; /* until discovery (or --imei) lists it */
}

static int64_t window_bound(const archiver_t *a, int s);

/* The inclusive end of a stream's window right now (run: the present). */
static int64_t window_end(archiver_t *a, int s) {
  int64_t now = server_now(a);
  if (!backfill(a)) return s == S_ALARMS ? now - ALARMCAD_INGEST_MARGIN_S : now;
  if (s == S_ALARMS) return window_bound(a, s);
  return a->opt.to - 1;
}


static int ensure_times(archiver_t *a, size_t n) {
  if (n <= a->times_cap) return 0;
  int64_t *t = realloc(a->times, n * sizeof *t);
  if (!t) return -ENOMEM;
  a->times = t;
  a->times_cap = n;
  return 0;
}

/* ------------------------------------------------------------------ batches */

static void pump(archiver_t *a);
static int heal_observe(archiver_t *a, const work_t *w, const api_point_t *p);
static void heal_pump(archiver_t *a, int64_t now_server);
static void apply_heal(archiver_t *a, work_t *w, const net_result_t *res);
static gapheal_options_t heal_options(const config_t *cfg);
static void check_shutdown(archiver_t *a);
static void mark_stream(archiver_t *a, uint32_t dev, int s);
static void stream_free(archiver_t *a, uint32_t dev, int s);
static void fail_stream(archiver_t *a, uint32_t dev, int s, const char *why);
static void submit_batch(archiver_t *a);

/* cluster.enabled: account i is worked only while this instance holds its lease
 * (archive/lease.h); without leases every account is. */
static bool acct_held(const archiver_t *a, size_t i) {
  return !a->lease || lease_holds(a->lease, i, NULL);
}

/* The batch being filled commits only while the lease of the device's account is held
 * at the generation in force now (pgw_batch_add_fence). */
static int batch_fence(archiver_t *a, const devtab_device_t *d) {
  int64_t gen = 0;
  if (!a->lease || d->account >= a->n_accts) return 0;
  if (!lease_holds(a->lease, d->account, &gen)) gen = -1; /* lapsed: the batch must fail */
  return pgw_batch_add_fence(a->batch, lease_instance(a->lease), a->accts[d->account].cfg->account,
                             gen);
}

static void on_batch(pgw_t *w, const pgw_batch_t *batch, const pgw_result_t *res, void *data) {
  (void)w;
  bctx_t *c = data;
  archiver_t *a = c->a;
  a->batches_pending--;
  if (a->opt.hooks && a->opt.hooks->batch)
    a->opt.hooks->batch(a->opt.hooks->arg, res, pgw_batch_rows(batch), uv_now(&a->loop) - c->submitted_ms);
  if (res->status == 0) {
    a->n_points += res->positions_new;
    a->n_alarms += res->alarms_new;
    a->n_mileage += res->mileage_days;
  } else if (res->status != -ECANCELED) {
    log_error("batch %s: %s", pgw_batch_name(batch), res->error ? res->error : "failed");
    a->n_errors++;
  }
  for (size_t i = 0; i < c->n; i++) {
    move_t *m = &c->moves[i];
    devtab_device_t *d = devtab_at(a->dev, m->dev);
    if (!d) continue;
    if (m->cov_only) {
      if (res->status == 0 && coverage_add(a->cov, m->dev, m->stream, m->cov_from, m->cov_to) != 0)
        log_error("device %s: out of memory for its coverage", d->imei);
      continue;
    }
    stream_free(a, m->dev, m->stream);
    if (res->status == 0) {
      if (m->has_cov && coverage_add(a->cov, m->dev, m->stream, m->cov_from, m->cov_to) != 0)
        log_error("device %s: %s: out of memory for its coverage: asked again", d->imei,
                  stream_name(m->stream));
      d->cursor[m->stream] = m->cursor;
      d->failures[m->stream] = 0;
      if (m->more) d->more |= (uint8_t)(1u << m->stream);
      else d->more &= (uint8_t)~(1u << m->stream);
      if (m->done && backfill(a)) d->done |= (uint8_t)(1u << m->stream);
    } else if (res->status != -ECANCELED) {
      fail_stream(a, m->dev, m->stream, "its batch was not written");
    }
  }
  free(c->moves);
  free(c);
  if (a->submit_blocked) submit_batch(a);
  pump(a);
  check_shutdown(a);
}

static void submit_batch(archiver_t *a) {
  if (!a->batch) return;
  if (!a->db) {
    pgw_batch_free(a->batch);
    free(a->bctx->moves);
    free(a->bctx);
    a->batch = NULL;
    a->bctx = NULL;
    return;
  }
  uv_timer_stop(&a->flush_timer);
  /* The batch leaves a->batch before pgw_submit: a successful submit can report the
   * queue no longer full from inside (on_pressure), and a submit_blocked still set then
   * submitted this same batch a second time (queued twice, freed once: heap corruption). */
  pgw_batch_t *b = a->batch;
  bctx_t *c = a->bctx;
  a->batch = NULL;
  a->bctx = NULL;
  a->submit_blocked = false;
  c->submitted_ms = uv_now(&a->loop);
  int rc = pgw_submit(a->db, b, on_batch, c);
  if (rc == 0) {
    a->batches_pending++;
    return;
  }
  a->batch = b;
  a->bctx = c;
  if (rc == -EAGAIN) {
    a->submit_blocked = true;
    return;
  }
  /* -ESHUTDOWN or worse: nothing of it counts as written; the streams stay due. */
  for (size_t i = 0; i < a->bctx->n; i++)
    if (!a->bctx->moves[i].cov_only)
      stream_free(a, a->bctx->moves[i].dev, a->bctx->moves[i].stream);
  pgw_batch_free(a->batch);
  free(a->bctx->moves);
  free(a->bctx);
  a->batch = NULL;
  a->bctx = NULL;
}

static void on_flush(uv_timer_t *t) { submit_batch(t->data); }

/* The batch being filled, created on demand (NULL on out of memory). */
static pgw_batch_t *batch_get(archiver_t *a) {
  if (a->batch) return a->batch;
  a->batch = pgw_batch_new(backfill(a) ? "backfill" : "archive");
  a->bctx = calloc(1, sizeof *a->bctx);
  if (!a->batch || !a->bctx) {
    pgw_batch_free(a->batch);
    free(a->bctx);
    a->batch = NULL;
    a->bctx = NULL;
    return NULL;
  }
  a->bctx->a = a;
  uv_timer_start(&a->flush_timer, on_flush, (uint64_t)a->cfg->database.flush_interval_ms, 0);
  return a->batch;
}

static int batch_move(archiver_t *a, uint32_t dev, int s, const paging_cursor_t *cur, bool done,
                      const move_t *page) {
  bctx_t *c = a->bctx;
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 64;
    move_t *m = realloc(c->moves, cap * sizeof *m);
    if (!m) return -ENOMEM;
    c->moves = m;
    c->cap = cap;
  }
  devtab_device_t *d = devtab_at(a->dev, dev);
  move_t m = page ? *page : (move_t){0};
  m.dev = dev;
  m.stream = (uint8_t)s;
  m.done = done;
  m.cursor = *cur;
  int rc = batch_fence(a, d);
  if (rc) return rc;
  if (s == S_MILEAGE)
    rc = pgw_batch_move_cursor_key(a->batch, d->imei, a->stream_key[s], cur->begin);
  else if (m.cov_only && m.has_cov)
    rc = pgw_batch_add_coverage(a->batch, d->imei, STREAM_PLAYBACK, m.cov_from, m.cov_to);
  else if (m.has_cov) /* playback and alarms: their coverage, no cursor row */
    rc = pgw_batch_add_coverage(a->batch, d->imei,
                                s == S_PLAYBACK ? STREAM_PLAYBACK : STREAM_ALARMS,
                                m.cov_from, m.cov_to);
  if (rc) return rc;
  c->moves[c->n++] = m;
  return 0;
}

static void batch_maybe_submit(archiver_t *a) {
  if (a->batch && pgw_batch_rows(a->batch) >= (size_t)a->cfg->database.batch_rows) submit_batch(a);
}

static void on_pressure(pgw_t *w, bool full, void *data) {
  (void)w;
  archiver_t *a = data;
  a->pressure = full;
  if (!full) {
    if (a->submit_blocked) submit_batch(a);
    pump(a);
  }
}

/* ------------------------------------------------------------------ failures */

static void fail_stream(archiver_t *a, uint32_t dev, int s, const char *why) {
  devtab_device_t *d = devtab_at(a->dev, dev);
  if (!d) return;
  d->busy &= (uint8_t)~(1u << s);
  if (d->failures[s] < 255) d->failures[s]++;
  unsigned f = d->failures[s];
  uint32_t delay = f >= 9 ? ARCH_BACKOFF_MAX_S : (1u << f);
  if (delay > ARCH_BACKOFF_MAX_S) delay = ARCH_BACKOFF_MAX_S;
  delay += (uint32_t)(rand() % (int)(delay / 2 + 1)); /* spread the retries */
  d->retry_at[s] = now_s(a) + delay;
  /* Due again when the delay is over: the backoff set is looked at then. */
  devtab_set_add(a->dev, DEVTAB_SET_BACKOFF, dev);
  if (d->retry_at[s] < a->backoff_wake) a->backoff_wake = d->retry_at[s];
  a->n_errors++;
  a->n_retries++;
  if (backfill(a) && f >= ARCH_MAX_FAILURES) {
    d->done |= (uint8_t)(1u << s);
    d->failures[s] = 255; /* marks "given up" for the summary */
    log_error("device %s: %s: giving up after %u attempts: %s", d->imei, stream_name(s), f, why);
  } else {
    log_warn("device %s: %s: %s (attempt %u, retry in %us)", d->imei, stream_name(s), why, f,
             delay);
  }
}

static void account_stop(archiver_t *a, acct_t *ac, const net_result_t *res) {
  if (ac->stopped) return;
  ac->stopped = true;
  ac->stop_code = res->code ? res->code : -1;
  a->n_errors++;
  log_error("account %s stopped (code %d: %s): its devices are not archived until restart",
            ac->cfg->account, res->code, res->message && *res->message ? res->message : "login failed");
}

/* ------------------------------------------------------------------ due work */

typedef enum { DUE_NO, DUE_YES, DUE_LATER, DUE_BLOCKED } due_t;

/* The largest end a stream's window reaches as the present grows (window_end). */
static int64_t window_bound(const archiver_t *a, int s) {
  if (!backfill(a)) return INT64_MAX;
  if (s != S_ALARMS) return a->opt.to - 1;
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
static int64_t page_window(archiver_t *a, uint32_t idx, int s, int64_t now_server) {
  devtab_device_t *d = devtab_at(a->dev, idx);
  paging_cursor_t *c = &d->cursor[s];
  /* The first second not stored: a playback cursor with have_begin holds its second (one
   * record per second); an alarm cursor's second is asked again (alarmcad.h: full pages
   * leave the records at their last second to the next page). */
  int64_t probe = s == S_PLAYBACK && c->have_begin ? c->begin + 1 : c->begin;
  int64_t from, to;
  coverage_gap(a->cov, idx, s, probe, &from, &to);
  if (from != probe) *c = (paging_cursor_t){from, false};
  int64_t end = window_end(a, s);
  if (s == S_ALARMS && !backfill(a)) {
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
static due_t stream_due(archiver_t *a, devtab_device_t *d, int s, int64_t now_server,
                        int64_t *wake) {
  if (!stream_on(a, s) || d->removed) return DUE_NO;
  if (d->done & (1u << s)) return DUE_NO;
  if (a->accts[d->account].stopped || !acct_held(a, d->account)) return DUE_BLOCKED;
  if (d->busy & (1u << s)) return DUE_LATER;
  const paging_cursor_t *c = &d->cursor[s];
  if (c->begin == ARCH_UNSET) return DUE_NO;
  uint32_t idx = (uint32_t)devtab_index(a->dev, d);
  bool work;
  if (s == S_MILEAGE) {
    int64_t limit = backfill(a) ? a->opt.to : INT64_MAX;
    /* Only completed days: a day's km is final once it has ended. */
    work = c->begin < limit && c->begin + 86400 <= now_server;
    if (c->begin < limit && !work) wake_at(wake, c->begin + 86400);
  } else {
    int64_t end = page_window(a, idx, s, now_server);
    bool in_window = c->have_begin ? c->begin < end : c->begin <= end;
    bool news = true; /* what the last track poll says is past the cursor */
    bool more = (d->more & (1u << s)) != 0;
    /* A full page is followed by the next whatever /api/track says (spec 2.3, 2.8). */
    if (s == S_PLAYBACK && d->last_gpstime >= 0 && !more)
      news = paging_playback_due(c, d->last_gpstime);
    /* Alarms are not tied to what the device sends (the platform makes some itself):
     * a backfill asks every gap of its window; `run` asks on its cadence and events
     * (alarmcad.h), every track record revisiting the device. */
    if (s == S_ALARMS && !backfill(a) && !more)
      news = alarmcad_due(a->acad, idx, c->begin, now_server,
                          a->cfg->archive.alarm_interval_ms / 1000,
                          a->cfg->archive.alarm_idle_interval_ms / 1000);
    work = in_window && news;
    /* Only the window short: its end grows with the present, up to its bound. (Without
     * news a track record has to come first: that is an event.) */
    if (!in_window && news && (backfill(a) || s == S_PLAYBACK)) {
      int64_t need = c->have_begin ? c->begin + 1 : c->begin;
      if (need <= window_bound(a, s)) wake_at(wake, need);
    }
  }
  if (!work) return DUE_NO;
  if (d->retry_at[s] > now_s(a)) return DUE_LATER;
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
static void mark_stream(archiver_t *a, uint32_t dev, int s) {
  devtab_set_add(a->dev, s == S_MILEAGE ? DEVTAB_SET_MILEAGE : DEVTAB_SET_PAGES, dev);
}

static void mark_device(archiver_t *a, uint32_t dev) {
  devtab_set_add(a->dev, DEVTAB_SET_PAGES, dev);
  devtab_set_add(a->dev, DEVTAB_SET_MILEAGE, dev);
}

static void mark_all(archiver_t *a) {
  devtab_set_add_all(a->dev, DEVTAB_SET_PAGES);
  devtab_set_add_all(a->dev, DEVTAB_SET_MILEAGE);
}

/* The stream's request or page is over (busy bit cleared): it may be due again. */
static void stream_free(archiver_t *a, uint32_t dev, int s) {
  devtab_device_t *d = devtab_at(a->dev, dev);
  if (!d) return;
  d->busy &= (uint8_t)~(1u << s);
  mark_stream(a, dev, s);
}

/* Devices whose backoff ended since the last look are marked; those still waiting stay
 * in the backoff set, and the earliest of their retry times is the next look. */
static void backoff_expire(archiver_t *a) {
  uint32_t now = now_s(a);
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
        mark_stream(a, (uint32_t)i, s);
      }
    }
    if (!waiting) devtab_set_del(a->dev, DEVTAB_SET_BACKOFF, (size_t)i);
  }
}

/* Whether playback or alarms of d is DUE_YES (and, if not, when time alone changes it). */
static bool pages_due(archiver_t *a, devtab_device_t *d, int64_t now_server) {
  bool due = false;
  for (int s = S_PLAYBACK; s <= S_ALARMS; s++)
    if (stream_due(a, d, s, now_server, &a->time_wake) == DUE_YES) due = true;
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

static void on_response(void *arg, const net_result_t *res);

/* The parser of the work's answer, run by netc on the body (it goes through cJSON once):
 * into the archiver's one result of each kind, which on_response reads right after. */
static int decode_work(void *arg, const char *body, size_t len, api_error_t *err) {
  work_t *w = arg;
  archiver_t *a = w->a;
  switch (w->kind) {
    /* Lenient (issue 13): a bad record is skipped and described in a->rejects, which the
     * apply_* function that reads this result right after logs and counts. */
    case W_PLAYBACK:
    case W_HEAL: return api_parse_playback_lenient(body, len, &a->points, &a->rejects, err);
    case W_ALARMS: return api_parse_alarm_list_lenient(body, len, &a->alarms, &a->rejects, err);
    case W_MILEAGE: return api_parse_mileage_lenient(body, len, &a->mileages, &a->rejects, err);
    case W_TRACK: return api_parse_track_lenient(body, len, &a->tracks, &a->rejects, err);
    case W_DEVLIST: return api_parse_device_list_lenient(body, len, &a->devices, &a->rejects, err);
    case W_USERLIST: return api_parse_user_list_lenient(body, len, &a->users, &a->rejects, err);
  }
  return api_check_response(API_EP_COUNT, body, len, err);
}

static int call(archiver_t *a, acct_t *ac, api_request_t *req, work_t *w) {
  int rc = netc_call_decode(a->net, ac->na, req, decode_work, on_response, w);
  if (rc == 0) a->n_requests++;
  api_request_free(req);
  return rc;
}

static void start_page(archiver_t *a, uint32_t idx, int s) {
  devtab_device_t *d = devtab_at(a->dev, idx);
  work_t *w = calloc(1, sizeof *w);
  if (!w) return;
  int64_t now_server = server_now(a);
  int64_t end = page_window(a, idx, s, now_server);
  *w = (work_t){.a = a, .kind = s == S_PLAYBACK ? W_PLAYBACK : W_ALARMS, .acct = d->account,
                .dev = idx, .cursor = d->cursor[s], .begin = d->cursor[s].begin, .end = end,
                .asked_at = now_server};
  api_request_t req = {0};
  int rc = s == S_PLAYBACK ? api_request_playback(&req, d->imei, w->cursor.begin, w->end)
                           : api_request_alarm_list(&req, d->imei, w->cursor.begin, w->end);
  if (rc == 0) rc = call(a, &a->accts[d->account], &req, w);
  if (rc) {
    free(w);
    fail_stream(a, idx, s, "cannot build the request");
    return;
  }
  d->busy |= (uint8_t)(1u << s);
  a->in_flight++;
  if (s == S_ALARMS && !backfill(a)) alarmcad_asked(a->acad, idx, now_server);
}

/* One mileage window: up to 100 devices of one account whose mileage cursor is `day`. */
static void start_mileage(archiver_t *a, uint32_t first, int64_t now_server) {
  devtab_device_t *d0 = devtab_at(a->dev, first);
  work_t *w = calloc(1, sizeof *w);
  uint32_t *devs = calloc(API_MAX_IMEIS, sizeof *devs);
  const char *imeis[API_MAX_IMEIS];
  if (!w || !devs) goto fail;
  *w = (work_t){.a = a, .kind = W_MILEAGE, .acct = d0->account, .day = d0->cursor[S_MILEAGE].begin,
                .devs = devs};
  size_t n = devtab_count(a->dev);
  /* A device whose mileage is due is in the mileage set (due sets). */
  for (int64_t at = devtab_set_next(a->dev, DEVTAB_SET_MILEAGE, first, n);
       at >= 0 && w->n_devs < API_MAX_IMEIS;
       at = devtab_set_next(a->dev, DEVTAB_SET_MILEAGE, (size_t)at + 1, n)) {
    uint32_t i = (uint32_t)at;
    devtab_device_t *d = devtab_at(a->dev, i);
    if (d->account != d0->account || d->cursor[S_MILEAGE].begin != w->day) continue;
    if (stream_due(a, d, S_MILEAGE, now_server, NULL) != DUE_YES) continue;
    devs[w->n_devs] = i;
    imeis[w->n_devs++] = d->imei;
  }
  api_request_t req = {0};
  if (api_request_mileage(&req, imeis, w->n_devs, w->day, w->day + 86400) != 0 ||
      call(a, &a->accts[d0->account], &req, w) != 0) {
    for (size_t k = 0; k < w->n_devs; k++) fail_stream(a, devs[k], S_MILEAGE, "cannot build the request");
    goto fail;
  }
  for (size_t k = 0; k < w->n_devs; k++) devtab_at(a->dev, devs[k])->busy |= 1u << S_MILEAGE;
  a->in_flight++;
  a->mileage_in_flight++;
  return;
fail:
  free(devs);
  free(w);
}

/* Hands out due data work, in rounds over the device table, while fewer than
 * max_in_flight calls are out and the writer is not full: never the whole fleet at once.
 * A round visits only the due sets' members (the others have nothing due), in the order
 * and from the position a scan of every device would, and drops those found with
 * nothing due. */
static void pump(archiver_t *a) {
  if (a->stopping || a->pressure || a->submit_blocked || !a->net) return;
  if (backfill(a) && (a->disc_accounts_pending > 0 || a->polls_pending > 0)) return;
  /* A backfill's alarm windows end at the present it started with: chasing a present
   * that moves would ask every device again and again. */
  if (backfill(a) && !a->data_started) a->bf_present = server_now(a);
  a->data_started = true;
  size_t n = devtab_count(a->dev);
  if (n == 0) return;
  int64_t now_server = server_now(a);
  if (now_server >= a->time_wake) { /* a stream may be due by time alone: look at all */
    a->time_wake = INT64_MAX;
    mark_all(a);
  }
  backoff_expire(a);
  size_t scanned = 0;
  while (a->in_flight < a->max_in_flight) {
    int64_t at = set_round_next(a, DEVTAB_SET_PAGES, &a->scan_pos, &scanned, n);
    if (at < 0) break;
    uint32_t i = (uint32_t)at;
    devtab_device_t *d = devtab_at(a->dev, i);
    for (int s = S_PLAYBACK; s <= S_ALARMS && a->in_flight < a->max_in_flight; s++)
      if (stream_due(a, d, s, now_server, NULL) == DUE_YES) start_page(a, i, s);
    /* Again after the starts: left in the set while a stream is still due (the round
     * ended at max_in_flight, or a start failed without a backoff). */
    if (!pages_due(a, devtab_at(a->dev, i), now_server))
      devtab_set_del(a->dev, DEVTAB_SET_PAGES, i);
  }
  heal_pump(a, now_server);
  if (!stream_on(a, S_MILEAGE)) return;
  scanned = 0;
  while (a->mileage_in_flight < ARCH_MILEAGE_IN_FLIGHT && a->in_flight < a->max_in_flight) {
    int64_t at = set_round_next(a, DEVTAB_SET_MILEAGE, &a->mileage_pos, &scanned, n);
    if (at < 0) break;
    uint32_t i = (uint32_t)at;
    if (stream_due(a, devtab_at(a->dev, i), S_MILEAGE, now_server, NULL) == DUE_YES)
      start_mileage(a, i, now_server);
    if (stream_due(a, devtab_at(a->dev, i), S_MILEAGE, now_server, &a->time_wake) != DUE_YES)
      devtab_set_del(a->dev, DEVTAB_SET_MILEAGE, i);
  }
}

/* ------------------------------------------------------------------ responses */

/* 0: the body holds a page (possibly empty: "no data" in any form is NET_OK, decided
 * by the codec, and its parser reads it as zero records); else the call failed and was
 * accounted for (stream failed or account stopped). */
static int response_ok(archiver_t *a, work_t *w, const net_result_t *res) {
  if (res->error == NET_OK) return 0;
  if (res->error == NET_ERR_ACCOUNT) account_stop(a, &a->accts[w->acct], res);
  return -1;
}

/* Bounds at ingest of a page's n records: those out of bounds are dropped (and told);
 * the rest keep their order. Returns how many are left. */
static size_t page_bounds(archiver_t *a, int s, const char *imei, size_t n) {
  int64_t now = present_bound(a);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    char what[96];
    const char *bad = s == S_PLAYBACK ? ingest_point(&a->points.items[i], now, what, sizeof what)
                                      : ingest_alarm(&a->alarms.items[i], now, what, sizeof what);
    if (bad) {
      ingest_reject(a->ingest, s == S_PLAYBACK ? "playback" : "alarm/list", imei, bad, what,
                    "record skipped");
      continue;
    }
    if (s == S_PLAYBACK) a->points.items[k++] = a->points.items[i];
    else a->alarms.items[k++] = a->alarms.items[i];
  }
  if (s == S_PLAYBACK) a->points.n = k;
  else a->alarms.n = k;
  return k;
}

/* API answers that no retry changes for this device: the IMEI is not the account's
 * (10013), does not exist (20005), expired (20046), is blocked (20089). (Those of an
 * account, 20001 and 10016, stop the account in netc: NET_ERR_ACCOUNT.) */
static bool permanent_code(const net_result_t *res) {
  if (res->error != NET_ERR_API) return false;
  switch (res->code) {
    case API_CODE_IMEI_NOT_AUTHORIZED:
    case API_CODE_TARGET_NOT_EXIST:
    case API_CODE_TARGET_EXPIRED:
    case API_CODE_DEVICE_BLOCKED: return true;
    default: return false;
  }
}

/* Stops stream s of device dev at once (until a restart): a permanent answer. */
static void stop_stream(archiver_t *a, uint32_t dev, int s, const net_result_t *res) {
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

static void apply_page(archiver_t *a, work_t *w, const net_result_t *res) {
  int s = w->kind == W_PLAYBACK ? S_PLAYBACK : S_ALARMS;
  devtab_device_t *d = devtab_at(a->dev, w->dev);
  char why[400];
  int ok = response_ok(a, w, res);
  if (ok < 0) {
    stream_free(a, w->dev, s);
    if (res->error == NET_ERR_CANCELLED || a->accts[w->acct].stopped) return;
    if (permanent_code(res)) {
      stop_stream(a, w->dev, s, res);
      return;
    }
    snprintf(why, sizeof why, "%s: %s", api_endpoint_path(res->endpoint), res->message);
    fail_stream(a, w->dev, s, why);
    return;
  }
  size_t n = 0;
  bool raw_full = false;
  int rc = res->decoded; /* decode_work parsed the page, leniently */
  if (rc) {
    snprintf(why, sizeof why, "%s: bad response: %s", api_endpoint_path(res->endpoint),
             res->decode_message);
    fail_stream(a, w->dev, s, why);
    return;
  }
  /* The page's size as sent, before bad records were dropped: whether it was full (and so
   * whether the next page must be asked) is a property of the answer, not of what we keep. */
  size_t raw = (s == S_PLAYBACK ? a->points.n : a->alarms.n) + a->rejects.n;
  if (a->rejects.n) ingest_rejects(a->ingest, api_endpoint_key(res->endpoint), d->imei, &a->rejects);
  n = page_bounds(a, s, d->imei, s == S_PLAYBACK ? a->points.n : a->alarms.n);
  raw_full = raw >= (s == S_PLAYBACK ? PAGING_PLAYBACK_PAGE : PAGING_ALARM_PAGE);
  if (raw_full && n == 0) {
    snprintf(why, sizeof why, "%s: a full page whose every record was refused",
             api_endpoint_path(res->endpoint));
    fail_stream(a, w->dev, s, why);
    return;
  }
  a->n_hist_answers++;
  a->n_hist_records += n;
  if (ensure_times(a, n + 1)) {
    fail_stream(a, w->dev, s, "out of memory");
    return;
  }
  for (size_t i = 0; i < n; i++)
    a->times[i] = s == S_PLAYBACK ? a->points.items[i].gpstime : a->alarms.items[i].systemtime;
  paging_result_t pr;
  /* A full answer that lost records to validation is still full: paged as one of the n
   * records kept, so the next page is asked from the last of them. */
  size_t page_size = s == S_PLAYBACK ? PAGING_PLAYBACK_PAGE : PAGING_ALARM_PAGE;
  if (raw_full && n < page_size) page_size = n;
  if (paging_apply(&w->cursor, w->end, a->times, n, page_size, s == S_PLAYBACK, &pr) != 0) {
    snprintf(why, sizeof why, "%s: page of %zu records from %lld breaks the paging rules",
             api_endpoint_path(res->endpoint), n, (long long)w->cursor.begin);
    fail_stream(a, w->dev, s, why);
    return;
  }
  if (pr.guard_fired) {
    a->n_guards++;
    char t[32];
    log_warn("device %s: %s: a full page of one time %s; records beyond the page at that "
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
    if (s == S_ALARMS && cov_to > w->asked_at - ALARMCAD_INGEST_MARGIN_S)
      cov_to = w->asked_at - ALARMCAD_INGEST_MARGIN_S;
  } else if (pr.guard_fired) {
    cov_to = pr.skipped_time;
  } else if (s == S_PLAYBACK) {
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
  if (done && backfill(a)) {
    /* The window asked is stored: rest at its end (a backfill reaching the present waits
     * for it to move); the stream is complete once no gap is left up to its bound. */
    next = (paging_cursor_t){w->end, true};
    if (coverage_covers(a->cov, w->dev, s, w->end + 1)) next = (paging_cursor_t){w->end + 1, false};
    int64_t gf, gt;
    coverage_gap(a->cov, w->dev, s, w->end + 1, &gf, &gt);
    stream_done = gf > window_bound(a, s);
  } else if (done) {
    next = (paging_cursor_t){cov_to + 1, false};
  }
  if (!batch_get(a)) {
    fail_stream(a, w->dev, s, "out of memory");
    return;
  }
  rc = 0;
  for (size_t i = pr.first_new; i < upto && rc == 0; i++) {
    if (s == S_PLAYBACK) {
      const api_point_t *p = &a->points.items[i];
      rc = pgw_batch_add_position(a->batch, d->imei, p->gpstime, p->longitude, p->latitude,
                                  p->speed, p->course);
      if (rc == 0) rc = heal_observe(a, w, p);
    } else {
      /* Every alarm of the system-time window, whatever its gpstime: the coverage is one
       * of system time, shared with `run`. */
      const api_alarm_t *al = &a->alarms.items[i];
      rc = pgw_batch_add_alarm(a->batch, d->imei, al->type, al->gpstime, al->systemtime,
                               al->longitude, al->latitude, al->speed, al->course, al->geofenceid);
    }
  }
  if (rc == 0) rc = batch_move(a, w->dev, s, &next, stream_done, &page);
  if (rc) {
    fail_stream(a, w->dev, s, "cannot add to the batch");
    return;
  }
  /* busy stays set until the batch's commit moves the in-memory cursor */
  batch_maybe_submit(a);
}

/* ------------------------------------------------------------------ gap healing */

/* Gap healing (issue 23, gapheal.h): silences of a moving device's stored track, asked
 * again with /api/playback after archive.gap_settle for fixes uploaded late. */
static gapheal_options_t heal_options(const config_t *cfg) {
  return (gapheal_options_t){cfg->archive.gap_settle_ms / 1000, cfg->archive.gap_min_ms / 1000,
                             (unsigned)(cfg->archive.gap_max_attempts > 0 ? cfg->archive.gap_max_attempts : 1)};
}

static bool heal_on(const archiver_t *a) {
  return a->heal && a->cfg->archive.gap_max_attempts > 0 && stream_on(a, S_PLAYBACK);
}

/* The gap's row, in the batch being filled (healed_at: the ask that healed it). */
static int heal_write(archiver_t *a, const gapheal_gap_t *g) {
  devtab_device_t *d = devtab_at(a->dev, g->dev);
  if (!d) return 0;
  pgw_gap_t pg = {.imei = d->imei, .from = g->from, .to = g->to, .detected_at = g->detected_at,
                  .next_at = g->next_at, .last_asked = g->last_asked,
                  .healed_at = g->healed ? g->last_asked : 0, .attempts = (int32_t)g->attempts,
                  .recovered = g->recovered};
  int rc = batch_fence(a, d);
  return rc ? rc : pgw_batch_add_gap(a->batch, &pg);
}

/* A position of a playback page, in order: a new gap before it is written with the page
 * (a restart then finds it open). */
static int heal_observe(archiver_t *a, const work_t *w, const api_point_t *p) {
  if (!heal_on(a)) return 0;
  gapheal_gap_t g;
  int rc = gapheal_observe(a->heal, w->dev, p->gpstime, p->speed, w->asked_at, &g);
  if (rc <= 0) return rc;
  char t1[32], t2[32];
  log_info("device %s: no position from %s to %s while moving: asked again from %llds on",
           devtab_at(a->dev, w->dev)->imei, timeparse_format_time(g.from, t1, sizeof t1),
           timeparse_format_time(g.to, t2, sizeof t2), (long long)g.next_at);
  return heal_write(a, &g);
}

static void start_heal(archiver_t *a, gapheal_gap_t *g, int64_t now_server) {
  devtab_device_t *d = devtab_at(a->dev, g->dev);
  if (!d || d->removed || a->accts[d->account].stopped || !acct_held(a, d->account)) {
    gapheal_failed(a->heal, g, now_server);
    return;
  }
  if (d->cursor[S_PLAYBACK].begin == ARCH_UNSET) { /* not tracked yet (startup): soon */
    g->next_at = now_server + 5;
    return;
  }
  work_t *w = calloc(1, sizeof *w);
  api_request_t req = {0};
  if (!w || api_request_playback(&req, d->imei, g->resume, g->to) != 0) {
    api_request_free(&req);
    free(w);
    gapheal_failed(a->heal, g, now_server);
    return;
  }
  *w = (work_t){.a = a, .kind = W_HEAL, .acct = d->account, .dev = g->dev, .begin = g->resume,
                .end = g->to, .asked_at = now_server, .gap_from = g->from, .gap_to = g->to};
  g->busy = true;
  if (call(a, &a->accts[d->account], &req, w) != 0) {
    free(w);
    gapheal_failed(a->heal, g, now_server);
    return;
  }
  a->in_flight++;
  a->n_heal_requests++;
}

/* run: the gaps due, while calls are free (after the pages: the present first). */
static void heal_pump(archiver_t *a, int64_t now_server) {
  /* Due times are the platform's: wait for its present (a track record's servertime). */
  if (backfill(a) || !heal_on(a) || !a->have_offset) return;
  gapheal_gap_t *g;
  while (a->in_flight < a->max_in_flight && (g = gapheal_due(a->heal, now_server, NULL)))
    start_heal(a, g, now_server);
}

static void apply_heal(archiver_t *a, work_t *w, const net_result_t *res) {
  gapheal_gap_t *g = gapheal_find(a->heal, w->dev, w->gap_from, w->gap_to);
  devtab_device_t *d = devtab_at(a->dev, w->dev);
  if (!g || !d) return;
  int64_t now = server_now(a);
  int ok = response_ok(a, w, res);
  size_t n = 0, raw = 0;
  const char *why = res->message;
  if (ok == 0) {
    /* decode_work parsed the page ("no data" in any form is an empty one) */
    if (res->decoded) {
      ok = -1;
      why = res->decode_message;
    } else {
      /* As apply_page: the records the lenient parser or the bounds refused are logged
       * and counted, and the page's fullness is that of the answer as sent. */
      raw = a->points.n + a->rejects.n;
      if (a->rejects.n) ingest_rejects(a->ingest, api_endpoint_key(res->endpoint), d->imei, &a->rejects);
      n = page_bounds(a, S_PLAYBACK, d->imei, a->points.n);
    }
  }
  if (ok < 0 || !batch_get(a)) {
    if (res->error != NET_ERR_CANCELLED)
      log_warn("device %s: gap from %lld: its ask failed (%s): again later", d->imei,
               (long long)w->gap_from, why && *why ? why : "bad answer");
    gapheal_failed(a->heal, g, now);
    return;
  }
  int rc = 0;
  int64_t last = w->begin;
  size_t stored = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const api_point_t *p = &a->points.items[i];
    if (p->gpstime < w->begin || p->gpstime > w->end) continue;
    rc = pgw_batch_add_position(a->batch, d->imei, p->gpstime, p->longitude, p->latitude,
                                p->speed, p->course);
    last = p->gpstime;
    stored++;
  }
  gapheal_gap_t out;
  if (raw >= PAGING_PLAYBACK_PAGE) gapheal_continue(a->heal, g, now, last, (int64_t)stored, &out);
  else gapheal_done(a->heal, g, now, (int64_t)stored, &out);
  if (rc == 0) rc = heal_write(a, &out);
  if (rc) log_error("device %s: gap from %lld: cannot add to the batch", d->imei, (long long)out.from);
  a->n_heal_points += stored;
  char t1[32], t2[32];
  log_info("device %s: gap %s to %s asked again: %zu positions%s", d->imei,
           timeparse_format_time(out.from, t1, sizeof t1), timeparse_format_time(out.to, t2, sizeof t2),
           stored, out.healed ? (out.recovered ? ", healed" : ", nothing came: given up") : "");
  batch_maybe_submit(a);
}

static void apply_mileage(archiver_t *a, work_t *w, const net_result_t *res) {
  char why[400];
  int ok = response_ok(a, w, res);
  if (ok == 0 && res->decoded != 0) ok = -2; /* decode_work parsed a->mileages */
  if (ok == 0 && a->rejects.n) ingest_rejects(a->ingest, "device/mileage", NULL, &a->rejects);
  if (ok != 0) {
    for (size_t k = 0; k < w->n_devs; k++) {
      stream_free(a, w->devs[k], S_MILEAGE);
      if (res->error == NET_ERR_CANCELLED || a->accts[w->acct].stopped) continue;
      if (ok == -1 && permanent_code(res) && w->n_devs == 1) {
        stop_stream(a, w->devs[k], S_MILEAGE, res);
        continue;
      }
      snprintf(why, sizeof why, "%s: %s", api_endpoint_path(res->endpoint),
               ok == -2 ? res->decode_message : res->message);
      fail_stream(a, w->devs[k], S_MILEAGE, why);
    }
    return;
  }
  int rc = batch_get(a) ? 0 : -ENOMEM;
  for (size_t i = 0; i < a->mileages.n && rc == 0; i++) {
    const api_mileage_t *m = &a->mileages.items[i];
    if (m->km < 0) continue; /* -1: the device has no odometer */
    for (size_t k = 0; k < w->n_devs; k++)
      if (strcmp(devtab_at(a->dev, w->devs[k])->imei, m->imei) == 0) {
        rc = pgw_batch_add_mileage(a->batch, m->imei, w->day, m->km);
        break;
      }
  }
  paging_cursor_t next = {w->day + 86400, true};
  for (size_t k = 0; k < w->n_devs; k++) {
    if (rc == 0) rc = batch_move(a, w->devs[k], S_MILEAGE, &next, false, NULL);
    if (rc) fail_stream(a, w->devs[k], S_MILEAGE, "cannot add to the batch");
  }
  batch_maybe_submit(a);
}

static void apply_track(archiver_t *a, work_t *w, const net_result_t *res) {
  acct_t *ac = &a->accts[w->acct];
  int ok = response_ok(a, w, res);
  if (ok == 0 && res->decoded != 0) ok = -2; /* decode_work parsed a->tracks */
  if (ok == 0 && a->rejects.n) ingest_rejects(a->ingest, "track", NULL, &a->rejects);
  if (ok != 0) {
    if (res->error != NET_ERR_CANCELLED && !ac->stopped) {
      a->n_errors++;
      log_warn("account %s: /api/track of %zu devices: %s", ac->cfg->account, w->n_devs,
               ok == -2 ? res->decode_message : res->message);
    }
    return; /* backfill: last_gpstime stays unknown (-1): those devices are asked anyway */
  }
  int rc = batch_get(a) ? 0 : -ENOMEM;
  int64_t now_real = present_bound(a);
  for (size_t i = 0; i < a->tracks.n && rc == 0; i++) {
    api_track_t *t = &a->tracks.items[i];
    int64_t idx = devtab_find(a->dev, t->imei);
    if (idx < 0) continue;
    int64_t sent_gpstime = t->gpstime, sent_servertime = t->servertime;
    ingest_track(a->ingest, t, now_real); /* out-of-bounds fields become unknown (NULL) */
    bool gps_refused = sent_gpstime > 0 && t->gpstime <= 0;
    devtab_device_t *d = devtab_at(a->dev, (size_t)idx);
    int64_t was_gpstime = d->last_gpstime, was_systemtime = d->last_systemtime;
    /* The present of the data. Login signing keeps the offset netc learns from the
     * Date headers: the simulator's data clock (--now, --speed) is not its signing
     * clock, and on a real host both are the same server clock anyway. */
    if (sent_servertime > 0 && !learn_servertime(a, sent_servertime))
      t->servertime = 0; /* not believed: stored NULL */
    if (d->cursor[S_PLAYBACK].begin == ARCH_UNSET || d->cursor[S_ALARMS].begin == ARCH_UNSET ||
        d->cursor[S_MILEAGE].begin == ARCH_UNSET) {
      for (int s = 0; s < STREAM_COUNT; s++)
        if (d->cursor[s].begin == ARCH_UNSET)
          d->cursor[s] = (paging_cursor_t){stream_start_of(a, (uint32_t)idx, s), false};
      mark_device(a, (uint32_t)idx);
    }
    int64_t gps = t->gpstime > 0 ? t->gpstime : 0;
    int64_t heard = t->systemtime > t->hearttime ? t->systemtime : t->hearttime;
    if (!backfill(a) && stream_on(a, S_ALARMS)) {
      /* Alarms' cadence and events (alarmcad.h): every record revisits the device. */
      alarmcad_record_t ar = {.gpstime = gps, .heard = heard, .datastatus = t->datastatus,
                              .accstatus = t->accstatus, .defencestatus = t->defencestatus};
      if (alarmcad_track(a->acad, (size_t)idx, &ar, server_now(a)) != 0)
        log_error("device %s: out of memory for its alarm cadence", d->imei);
      devtab_set_add(a->dev, DEVTAB_SET_PAGES, (size_t)idx);
    }
    /* The poll's point is a real report: store it at once in run mode when it is new
     * and not covered (the playback page that brings it later finds it stored). */
    if (!backfill(a) && gps > 0 && gps > d->last_gpstime &&
        gps > d->cursor[S_PLAYBACK].begin && t->speed >= 0 && t->course >= 0 &&
        !coverage_covers(a->cov, (size_t)idx, S_PLAYBACK, gps)) {
      rc = pgw_batch_add_position(a->batch, d->imei, gps, t->longitude, t->latitude, t->speed,
                                  t->course);
      /* Its second is covered (one position per second): the page that follows asks up
       * to the second before it, and stores it only once. */
      move_t pt = {.cov_only = true, .has_cov = true, .cov_from = gps, .cov_to = gps};
      if (rc == 0) rc = batch_move(a, (uint32_t)idx, S_PLAYBACK, &d->cursor[S_PLAYBACK], false, &pt);
    }
    /* A refused gpstime tells nothing: backfill keeps asking (unknown stays -1). In `run`
     * the device is still heard: playback is due up to the time it was heard (at most
     * the present), so a device whose every record carries a bad gpstime is archived
     * from its coverage on, at the cadence of its reports, instead of never. */
    if (!gps_refused && (gps > d->last_gpstime || d->last_gpstime < 0)) d->last_gpstime = gps;
    else if (gps_refused && !backfill(a) && heard > d->last_gpstime)
      d->last_gpstime = heard < now_real ? heard : now_real;
    if (heard > d->last_systemtime) d->last_systemtime = heard;
    /* What playback and alarms are due on: a record that moved neither changes nothing. */
    if (d->last_gpstime != was_gpstime || d->last_systemtime != was_systemtime)
      devtab_set_add(a->dev, DEVTAB_SET_PAGES, (size_t)idx);
    pgw_device_state_t st = {
        .imei = d->imei, .servertime = t->servertime > 0 ? t->servertime : 0, .gpstime = gps,
        .hearttime = t->hearttime > 0 ? t->hearttime : 0,
        .systemtime = t->systemtime > 0 ? t->systemtime : 0, .longitude = t->longitude,
        .latitude = t->latitude, .course = t->course, .speed = t->speed, .acctime = t->acctime,
        .accstatus = t->accstatus, .doorstatus = t->doorstatus, .chargestatus = t->chargestatus,
        .oilpowerstatus = t->oilpowerstatus, .defencestatus = t->defencestatus,
        .datastatus = t->datastatus, .battery = t->battery, .mileage = t->mileage,
        .todaymileage = t->todaymileage};
    if (rc == 0) rc = pgw_batch_add_device_state(a->batch, &st);
  }
  if (rc) log_error("account %s: cannot add track records to the batch", ac->cfg->account);
  batch_maybe_submit(a);
}

static void discovery_step_done(archiver_t *a, acct_t *ac);
static int list_call(archiver_t *a, acct_t *ac, work_kind_t kind, const char *owner,
                     uint16_t depth);

static void apply_devlist(archiver_t *a, work_t *w, const net_result_t *res) {
  acct_t *ac = &a->accts[w->acct];
  if (ac->removed) return; /* a reload dropped the account while the list was out */
  int ok = response_ok(a, w, res);
  if (ok == 0 && res->decoded != 0) ok = -2; /* decode_work parsed a->devices */
  if (ok == 0 && a->rejects.n) ingest_rejects(a->ingest, "device/list", NULL, &a->rejects);
  if (ok != 0) {
    ac->disc_failed = true;
    if (res->error != NET_ERR_CANCELLED && !ac->stopped) {
      a->n_errors++;
      log_warn("account %s: /api/device/list of %s: %s", ac->cfg->account, w->owner,
               ok == -2 ? res->decode_message : res->message);
    }
    return;
  }
  int rc = batch_get(a) ? 0 : -ENOMEM;
  for (size_t i = 0; i < a->devices.n && rc == 0; i++) {
    const api_device_t *x = &a->devices.items[i];
    bool added = false;
    devtab_device_t *d = devtab_get_or_add(a->dev, x->imei, &added);
    if (!d) {
      log_warn("account %s: device list of %s: skipping IMEI '%s'", ac->cfg->account, w->owner,
               x->imei);
      continue;
    }
    if (added) device_init(a, d);
    /* Listed again (or anew), or by another account (stopped or not): may be due. */
    if (d->removed || d->account != w->acct) mark_device(a, (uint32_t)devtab_index(a->dev, d));
    if (d->removed) {
      /* The first discovery re-lists the devices known from the database: not news. */
      if (!backfill(a) && (added || a->first_discovery_done))
        log_info("device %s added (account %s)", d->imei, w->owner);
      d->removed = 0;
    }
    d->seen = 1;
    d->account = w->acct;
    pgw_device_t pd = {
        .imei = x->imei, .account = w->owner, .devicename = x->devicename,
        .devicetype = x->devicetype, .platenumber = x->platenumber, .simcard = x->simcard,
        .iccid = x->iccid, .onlinetime = x->onlinetime > 0 ? x->onlinetime : 0,
        .platformduetime = x->platformduetime > 0 ? x->platformduetime : 0,
        .activatedtime = x->activatedtime > 0 ? x->activatedtime : 0,
        .userduetime = x->userduetime > 0 ? x->userduetime : 0};
    rc = pgw_batch_add_device(a->batch, &pd);
  }
  if (rc) log_error("account %s: cannot add devices to the batch", ac->cfg->account);
}

static void apply_userlist(archiver_t *a, work_t *w, const net_result_t *res) {
  acct_t *ac = &a->accts[w->acct];
  if (ac->removed) return;
  int ok = response_ok(a, w, res);
  if (ok == 0 && res->decoded != 0) ok = -2; /* decode_work parsed a->users */
  if (ok == 0 && a->rejects.n) ingest_rejects(a->ingest, "user/list", NULL, &a->rejects);
  if (ok != 0) {
    ac->disc_failed = true;
    if (res->error != NET_ERR_CANCELLED && !ac->stopped) {
      a->n_errors++;
      log_warn("account %s: /api/user/list of %s: %s", ac->cfg->account, w->owner,
               ok == -2 ? res->decode_message : res->message);
    }
    return;
  }
  /* Copy the names first: the next parse (from a nested call) would reuse the storage. */
  size_t n = a->users.n;
  char **names = calloc(n + 1, sizeof *names);
  size_t max_subs = (size_t)a->cfg->archive.max_subaccounts;
  uint16_t depth = (uint16_t)(w->depth + 1);
  for (size_t i = 0; names && i < n; i++) names[i] = strdup(a->users.items[i].account);
  for (size_t i = 0; names && i < n; i++) {
    if (!names[i] || nameset_has(&ac->visited, names[i]) || strcmp(names[i], ac->cfg->account) == 0)
      continue;
    /* Caps: a user/list that never ends (or a tree deeper than any real one) must not
     * grow memory and requests without bound. What is left out makes the discovery
     * incomplete: no device is removed on it. */
    if (ac->visited.n >= max_subs || depth > a->cfg->archive.max_subaccount_depth) {
      ac->disc_failed = true;
      if (!ac->cap_logged)
        log_warn("account %s: discovery stopped at %s (archive.%s %d): sub-accounts beyond it "
                 "are not listed; this discovery is incomplete", ac->cfg->account,
                 ac->visited.n >= max_subs ? "the sub-account cap" : "the depth cap",
                 ac->visited.n >= max_subs ? "max_subaccounts" : "max_subaccount_depth",
                 ac->visited.n >= max_subs ? a->cfg->archive.max_subaccounts
                                           : a->cfg->archive.max_subaccount_depth);
      ac->cap_logged = true;
      break;
    }
    if (nameset_add(&ac->visited, names[i]) < 0) {
      ac->disc_failed = true;
      continue;
    }
    if (list_call(a, ac, W_DEVLIST, names[i], depth) != 0 ||
        list_call(a, ac, W_USERLIST, names[i], depth) != 0)
      ac->disc_failed = true;
  }
  for (size_t i = 0; names && i < n; i++) free(names[i]);
  free(names);
}

/* What an answer says about the API as a whole: for the backfill's give-up clock. */
static void note_result(archiver_t *a, const net_result_t *res) {
  if (res->error == NET_OK) {
    a->last_success_ms = uv_now(&a->loop);
    a->failures_since_success = 0;
  } else if (res->error != NET_ERR_CANCELLED) {
    a->failures_since_success++;
    if (res->error == NET_ERR_API || res->code)
      snprintf(a->last_error, sizeof a->last_error, "%s: API error %d: %s",
               api_endpoint_path(res->endpoint), res->code,
               res->message && *res->message ? res->message : "");
    else
      snprintf(a->last_error, sizeof a->last_error, "%s: %s", api_endpoint_path(res->endpoint),
               res->message && *res->message ? res->message : "failed");
  }
}

static void on_response(void *arg, const net_result_t *res) {
  work_t *w = arg;
  archiver_t *a = w->a;
  if (a->opt.hooks && a->opt.hooks->response) a->opt.hooks->response(a->opt.hooks->arg, res);
  note_result(a, res);
  switch (w->kind) {
    case W_PLAYBACK:
    case W_ALARMS:
      a->in_flight--;
      apply_page(a, w, res);
      break;
    case W_MILEAGE:
      a->in_flight--;
      a->mileage_in_flight--;
      apply_mileage(a, w, res);
      break;
    case W_HEAL:
      a->in_flight--;
      apply_heal(a, w, res);
      break;
    case W_TRACK:
      a->other_in_flight--;
      a->accts[w->acct].poll_busy = false;
      apply_track(a, w, res);
      if (backfill(a) && a->polls_pending > 0) a->polls_pending--;
      break;
    case W_DEVLIST:
    case W_USERLIST:
      a->other_in_flight--;
      if (w->kind == W_DEVLIST) apply_devlist(a, w, res);
      else apply_userlist(a, w, res);
      discovery_step_done(a, &a->accts[w->acct]);
      break;
  }
  free(w->devs);
  free(w);
  pump(a);
  /* Backfill: with nothing in flight no response can add to the batch, and every due
   * stream left waits for this batch's COMMIT (its busy bit): waiting for flush_interval
   * would only stall (a backfill's last pages and its day-by-day mileage did). */
  if (backfill(a) && a->batch && a->in_flight == 0 && a->other_in_flight == 0) submit_batch(a);
  check_shutdown(a);
}

/* ------------------------------------------------------------------ track polls */

static void poll_chunk(archiver_t *a, acct_t *ac, size_t chunk_start) {
  size_t n = ac->n_poll - chunk_start;
  if (n > API_MAX_IMEIS) n = API_MAX_IMEIS;
  work_t *w = calloc(1, sizeof *w);
  uint32_t *devs = calloc(n ? n : 1, sizeof *devs);
  const char *imeis[API_MAX_IMEIS];
  if (!w || !devs) goto fail;
  *w = (work_t){.a = a, .kind = W_TRACK, .acct = (uint16_t)(ac - a->accts), .devs = devs, .n_devs = n};
  for (size_t k = 0; k < n; k++) {
    devs[k] = ac->poll_devs[chunk_start + k];
    imeis[k] = devtab_at(a->dev, devs[k])->imei;
  }
  api_request_t req = {0};
  if (n == 0 || api_request_track(&req, imeis, n) != 0 || call(a, ac, &req, w) != 0) goto fail;
  a->other_in_flight++;
  ac->poll_busy = true;
  return;
fail:
  if (backfill(a) && a->polls_pending > 0) a->polls_pending--;
  free(devs);
  free(w);
}

/* The account's active devices, for its polls (after each discovery). */
static void polls_rebuild(archiver_t *a, acct_t *ac) {
  size_t n = devtab_count(a->dev), k = 0;
  uint32_t *v = realloc(ac->poll_devs, (n ? n : 1) * sizeof *v);
  if (!v) return;
  ac->poll_devs = v;
  for (size_t i = 0; i < n; i++) {
    devtab_device_t *d = devtab_at(a->dev, i);
    if (!d->removed && &a->accts[d->account] == ac) v[k++] = (uint32_t)i;
  }
  ac->n_poll = k;
  if (ac->poll_pos >= k) ac->poll_pos = 0;
}

/* Run: one chunk of 100 per tick, the ticks spread evenly over track_interval. */
static void on_poll_timer(uv_timer_t *t) {
  poll_timer_t *pt = t->data;
  archiver_t *a = pt->a;
  acct_t *ac = &a->accts[pt->acct];
  if (a->stopping || ac->stopped || ac->removed || ac->poll_busy || ac->n_poll == 0) return;
  if (!acct_held(a, pt->acct)) return;
  /* Bounded memory while the database cannot take rows (an outage fills the writer's
   * queue): a poll now would only grow the batch that cannot be submitted. Skipped,
   * not queued: the next poll after the writer drains brings each device's latest
   * state, which is all a poll stores. */
  if (a->pressure || a->submit_blocked) {
    /* told once the pause lasts (a busy writer pauses a poll or two now and then) */
    if (++a->polls_skipped == ARCH_POLLS_SKIPPED_TOLD)
      log_warn("track polls paused: the database writer is full (%zu rows held); each "
               "device's latest state is polled again once it drains",
               a->db ? pgw_queue_rows(a->db) : (size_t)0);
    a->polls_paused = true;
    return;
  }
  if (a->polls_paused && a->polls_skipped >= ARCH_POLLS_SKIPPED_TOLD)
    log_info("track polls resumed (%llu skipped while the writer was full)",
             (unsigned long long)a->polls_skipped);
  a->polls_paused = false;
  a->polls_skipped = 0;
  if (ac->poll_pos >= ac->n_poll) ac->poll_pos = 0;
  size_t start = ac->poll_pos;
  ac->poll_pos += API_MAX_IMEIS;
  poll_chunk(a, ac, start);
}

static void polls_schedule(archiver_t *a, acct_t *ac) {
  if (!ac->poll) return; /* closed: shutdown */
  size_t chunks = (ac->n_poll + API_MAX_IMEIS - 1) / API_MAX_IMEIS;
  if (chunks == 0) chunks = 1;
  uint64_t every = (uint64_t)a->cfg->archive.track_interval_ms / chunks;
  /* No floor beyond libuv's 1 ms: a floor of 100 ms stretched the cycle of a big fleet
   * past track_interval (100k devices: 1000 chunks, 100 s instead of 60 s). Spacing the
   * platform requires is the pacer's job (rate_limits.track), and one poll per account
   * is in flight at a time. */
  if (every < 1) every = 1;
  uint64_t first = uv_timer_get_repeat(&ac->poll->timer) ? uv_timer_get_due_in(&ac->poll->timer) : 0;
  if (first > every) first = every; /* a reload shortened track_interval */
  uv_timer_start(&ac->poll->timer, on_poll_timer, first, every);
}

/* ------------------------------------------------------------------ discovery */

static int list_call(archiver_t *a, acct_t *ac, work_kind_t kind, const char *owner,
                     uint16_t depth) {
  work_t *w = calloc(1, sizeof *w);
  if (!w) return -ENOMEM;
  *w = (work_t){.a = a, .kind = kind, .acct = (uint16_t)(ac - a->accts), .depth = depth};
  snprintf(w->owner, sizeof w->owner, "%s", owner);
  bool own = strcmp(owner, ac->cfg->account) == 0;
  api_request_t req = {0};
  int rc = kind == W_DEVLIST ? api_request_device_list(&req, own ? NULL : owner)
                             : api_request_user_list(&req, own ? NULL : owner);
  if (rc == 0) rc = call(a, ac, &req, w);
  if (rc) {
    free(w);
    return rc;
  }
  a->other_in_flight++;
  ac->disc_pending++;
  return 0;
}

static void discovery_start(archiver_t *a, acct_t *ac) {
  if (ac->stopped || ac->removed || ac->disc_pending > 0) return;
  if (!acct_held(a, (size_t)(ac - a->accts))) return; /* its holder discovers it */
  ac->disc_failed = false;
  ac->cap_logged = false;
  nameset_clear(&ac->visited);
  a->disc_accounts_pending++;
  ac->disc_pending++; /* held until both first calls are out */
  if (list_call(a, ac, W_DEVLIST, ac->cfg->account, 0) != 0) ac->disc_failed = true;
  if (ac->cfg->subaccounts && list_call(a, ac, W_USERLIST, ac->cfg->account, 0) != 0)
    ac->disc_failed = true;
  discovery_step_done(a, ac);
}

/* Run, once, when every account's first discovery has ended: the devices known from the
 * database (their cursors) that no account listed stay inactive, quietly, and are
 * recorded as removed (a no-op for those removed before). One info line says how many.
 * Which account held such a device is unknown, so one incomplete listing (or a stopped
 * account) leaves the database as it is. */
static void sweep_known(archiver_t *a) {
  if (a->first_discovery_done) return;
  a->first_discovery_done = true;
  bool complete = true;
  for (size_t i = 0; i < a->n_accts; i++)
    if (a->accts[i].disc_failed || a->accts[i].stopped || !acct_held(a, i)) complete = false;
  size_t n = devtab_count(a->dev), inactive = 0;
  for (size_t i = 0; i < n; i++) {
    devtab_device_t *d = devtab_at(a->dev, i);
    if (!d->removed) continue;
    inactive++;
    if (complete && (!batch_get(a) || pgw_batch_mark_removed(a->batch, d->imei) != 0))
      log_error("device %s: cannot record its removal (out of memory)", d->imei);
  }
  if (inactive)
    log_info("%zu known device%s not listed by any account: inactive%s", inactive,
             inactive == 1 ? "" : "s",
             complete ? "" : " (a listing was incomplete: their removal is not recorded)");
}

static void discovery_step_done(archiver_t *a, acct_t *ac) {
  if (--ac->disc_pending > 0) return;
  a->disc_accounts_pending--;
  size_t n = devtab_count(a->dev), listed = 0;
  uint16_t idx = (uint16_t)(ac - a->accts);
  for (size_t i = 0; i < n; i++) {
    devtab_device_t *d = devtab_at(a->dev, i);
    if (d->account != idx) continue;
    /* Sweep only after a complete listing: a failed page must not remove devices. */
    if (!d->seen && !d->removed && !ac->disc_failed && !backfill(a)) {
      d->removed = 1;
      log_info("device %s removed (no longer listed by account %s): not archived any more",
               d->imei, ac->cfg->account);
      if (!batch_get(a) || pgw_batch_mark_removed(a->batch, d->imei) != 0)
        log_error("device %s: cannot record its removal (out of memory)", d->imei);
    }
    if (d->seen) listed++;
    d->seen = 0;
  }
  log_info("account %s: discovery found %zu devices%s", ac->cfg->account, listed,
           ac->disc_failed ? " (incomplete: some lists failed)" : "");
  if (!backfill(a) && a->disc_accounts_pending == 0) sweep_known(a);
  polls_rebuild(a, ac);
  if (backfill(a)) {
    if (ac->disc_failed && !ac->stopped) {
      a->disc_incomplete = true;
      log_error("account %s: a device list failed: this backfill cannot cover every device",
                ac->cfg->account);
    }
    if (ac->stopped) return;
    /* One track poll per 100 devices: a device whose last report is before the range
     * (or that never reported) costs no playback request. */
    for (size_t k = 0; k < ac->n_poll; k += API_MAX_IMEIS) a->polls_pending++;
    for (size_t k = 0; k < ac->n_poll; k += API_MAX_IMEIS) poll_chunk(a, ac, k);
  } else {
    polls_schedule(a, ac);
  }
  if (a->batch) submit_batch(a); /* the devices rows early */
}

static void on_discovery_timer(uv_timer_t *t) {
  archiver_t *a = t->data;
  if (a->stopping) return;
  for (size_t i = 0; i < a->n_accts; i++) discovery_start(a, &a->accts[i]);
}

/* ------------------------------------------------------------------ progress */

/* How far a device's archive of stream s is behind the data the platform has of it
 * (from /api/track): playback the last gpstime, alarms the last systemtime or heartbeat,
 * mileage the day of the last gpstime. false for a device without a position yet
 * (never reported, or not polled yet): a lag would only measure the lookback. The
 * summary line and fleetarc_stream_lag_seconds both come from here. */
static bool device_lag(const archiver_t *a, const devtab_device_t *d, int s, int64_t *lag) {
  *lag = 0;
  if (d->last_gpstime <= 0 || !stream_on(a, s) || d->cursor[s].begin == ARCH_UNSET) return d->last_gpstime > 0;
  int64_t head = s == S_PLAYBACK ? d->last_gpstime
               : s == S_ALARMS   ? d->last_systemtime
                                 : floor_day(d->last_gpstime);
  if (head > d->cursor[s].begin) *lag = head - d->cursor[s].begin;
  return true;
}

typedef struct tally {
  size_t devices, streams, complete, due, later, blocked, given_up;
  int64_t lag;
  double covered; /* backfill: the fraction of [from, to) x streams archived, 0 to 1 */
} tally_t;

static void tally(archiver_t *a, tally_t *t) {
  memset(t, 0, sizeof *t);
  int64_t now_server = server_now(a);
  size_t n = devtab_count(a->dev);
  for (size_t i = 0; i < n; i++) {
    devtab_device_t *d = devtab_at(a->dev, i);
    if (d->removed) continue;
    t->devices++;
    int64_t lag;
    if (!backfill(a) && device_lag(a, d, S_PLAYBACK, &lag) && lag > t->lag) t->lag = lag;
    for (int s = 0; s < STREAM_COUNT; s++) {
      if (!stream_on(a, s)) continue;
      t->streams++;
      if ((d->done & (1u << s)) && d->failures[s] == 255) {
        t->given_up++;
        t->covered += 1.0; /* nothing more will be done for it */
        continue;
      }
      due_t due = stream_due(a, d, s, now_server, NULL);
      if (backfill(a)) { /* the part of the range behind the cursor (complete: all) */
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

static void progress(archiver_t *a, bool final) {
  tally_t t;
  tally(a, &t);
  double secs = (double)(uv_now(&a->loop) - a->start_ms) / 1000.0;
  /* backfill: how far, by time covered (the part of [from, to) behind each stream's
   * cursor) and by streams complete; the ETA extrapolates the time covered so far */
  char eta[64] = "";
  double pct = 0;
  if (backfill(a) && t.streams) {
    double f = t.covered / (double)t.streams;
    pct = 100.0 * f;
    if (f >= 1.0) snprintf(eta, sizeof eta, ", ETA 0s");
    else if (final) eta[0] = '\0'; /* stopped short: run it again */
    else if (f > 0.0 && secs >= 1.0) snprintf(eta, sizeof eta, ", ETA %.0fs", secs * (1.0 - f) / f);
    else snprintf(eta, sizeof eta, ", ETA unknown");
  }
  if (backfill(a) && a->opt.progress_bar && !final) {
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
  if (backfill(a)) snprintf(covered, sizeof covered, ", %.1f%% of the range covered%s", pct, eta);
  if (backfill(a) && a->opt.progress_bar) fputc('\n', stderr);
  const netc_stats_t *ns = a->net ? netc_stats(a->net) : &a->net_stats;
  log_info("%s: devices %zu, streams complete %zu/%zu, points %llu, alarms %llu, mileage days "
           "%llu, requests %llu, retries %llu, errors %llu, logins %llu, lag %llds, %.1fs%s",
           final ? "summary" : (backfill(a) ? "progress" : "summary"), t.devices, t.complete,
           t.streams, (unsigned long long)a->n_points, (unsigned long long)a->n_alarms,
           (unsigned long long)a->n_mileage, (unsigned long long)a->n_requests,
           (unsigned long long)(a->n_retries + (ns ? ns->retries : 0)),
           (unsigned long long)a->n_errors, (unsigned long long)(ns ? ns->logins : 0),
           (long long)t.lag, secs, covered);
}

/* ------------------------------------------------------------------ shutdown */

static void on_handle_closed(uv_handle_t *h) { (void)h; }

static void on_poll_closed(uv_handle_t *h) { free(h->data); }

/* Idempotent: also for a startup that failed half-way. */
static void close_poll_timers(archiver_t *a) {
  for (size_t i = 0; i < a->n_accts; i++) {
    if (!a->accts[i].poll) continue;
    uv_close((uv_handle_t *)&a->accts[i].poll->timer, on_poll_closed);
    a->accts[i].poll = NULL;
  }
}

static void close_handles(archiver_t *a) {
  if (a->lease) { /* after the writer: its last batches were fenced while held */
    lease_close(a->lease, NULL, NULL);
    a->lease = NULL;
  }
  close_poll_timers(a);
  if (!a->timers_up) return;
  a->timers_up = false;
  uv_close((uv_handle_t *)&a->tick, on_handle_closed);
  uv_close((uv_handle_t *)&a->flush_timer, on_handle_closed);
  uv_close((uv_handle_t *)&a->summary_timer, on_handle_closed);
  uv_close((uv_handle_t *)&a->discovery_timer, on_handle_closed);
  uv_close((uv_handle_t *)&a->shutdown_timer, on_handle_closed);
  uv_close((uv_handle_t *)&a->sigint, on_handle_closed);
  uv_close((uv_handle_t *)&a->sigterm, on_handle_closed);
  close_poll_timers(a);
}

static void on_db_closed(void *arg) {
  archiver_t *a = arg;
  a->db = NULL;
  close_handles(a);
}

static void on_net_closed(void *arg) {
  archiver_t *a = arg;
  a->net = NULL;
  submit_batch(a); /* what the last responses brought */
  if (a->db) pgw_close(a->db, ARCH_DRAIN_MS, on_db_closed, a);
  else close_handles(a);
}

/* Closes the client once no call is out (or the wait is over): responses that arrive
 * while stopping are still written. */
static void check_shutdown(archiver_t *a) {
  if (!a->stopping || a->net_closing) return;
  bool waited = !uv_is_active((uv_handle_t *)&a->shutdown_timer);
  if (!waited && (a->in_flight > 0 || a->other_in_flight > 0)) return;
  a->net_closing = true;
  if (a->net) a->net_stats = *netc_stats(a->net);
  uv_timer_stop(&a->tick);
  uv_timer_stop(&a->shutdown_timer);
  if (a->net) netc_close(a->net, on_net_closed, a);
  else on_net_closed(a);
}

static void on_shutdown_timer(uv_timer_t *t) { check_shutdown(t->data); }

static void begin_shutdown(archiver_t *a) {
  if (a->stopping) return;
  a->stopping = true;
  if (a->opt.hooks && a->opt.hooks->stopping) a->opt.hooks->stopping(a->opt.hooks->arg);
  uv_timer_stop(&a->summary_timer);
  uv_timer_stop(&a->discovery_timer);
  for (size_t i = 0; i < a->n_accts; i++)
    if (a->accts[i].poll) uv_timer_stop(&a->accts[i].poll->timer);
  uv_timer_start(&a->shutdown_timer, on_shutdown_timer, ARCH_SHUTDOWN_WAIT_MS, 0);
  check_shutdown(a);
}

static void on_signal(uv_signal_t *s, int signum) {
  archiver_t *a = s->data;
  if (a->stopping) return;
  log_info("%s: stopping (in-flight responses are still written)",
           signum == SIGINT ? "SIGINT" : "SIGTERM");
  a->interrupted = true;
  begin_shutdown(a);
}

/* ------------------------------------------------------------------ tick */

#define ARCH_NAMES_MAX 10 /* accounts or streams named in a failure, then "and N more" */

/* Backfill's exit status once nothing is due: 1 when an account could not log in (or
 * stopped), a device list failed, or a device stream gave up or is blocked; the
 * accounts are named here (the streams by summary_missing). */
static int backfill_verdict(archiver_t *a, const tally_t *tl) {
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
  return stopped || tl->blocked || tl->given_up || a->disc_incomplete ? 1 : 0;
}

static void on_tick(uv_timer_t *t) {
  archiver_t *a = t->data;
  if (a->stopping) return;
  if (a->submit_blocked && !a->pressure) submit_batch(a);
  pump(a);
  uint64_t now = uv_now(&a->loop);
  if (backfill(a) && now - a->last_progress_ms >= (a->opt.progress_bar ? 500u : ARCH_PROGRESS_LINE_MS)) {
    a->last_progress_ms = now;
    progress(a, false);
  }
  if (backfill(a) && a->failures_since_success > 0 &&
      now - a->last_success_ms >= (uint64_t)a->cfg->archive.give_up_after_ms) {
    log_error("giving up: no API call has succeeded for %llds (archive.give_up_after); "
              "last error: %s", (long long)((now - a->last_success_ms) / 1000), a->last_error);
    a->gave_up = true;
    a->exit_code = 1;
    begin_shutdown(a);
    return;
  }
  if (!backfill(a) || !a->data_started) return;
  if (a->in_flight || a->other_in_flight || a->batch || a->batches_pending) return;
  tally_t tl;
  tally(a, &tl);
  if (tl.due || tl.later) return;
  a->exit_code = backfill_verdict(a, &tl);
  begin_shutdown(a);
}

static void on_summary(uv_timer_t *t) { progress(t->data, false); }

/* ------------------------------------------------------------------ hooks' view */

const struct netc *archiver_net(const archiver_t *a) { return a->net; }
const struct pgw *archiver_db(const archiver_t *a) { return a->db; }
size_t archiver_account_count(const archiver_t *a) { return a->n_accts; }
const char *archiver_account_name(const archiver_t *a, size_t i) {
  return i < a->n_accts && !a->accts[i].removed ? a->accts[i].cfg->account : NULL;
}

void archiver_status(archiver_t *a, archiver_status_t *out) {
  memset(out, 0, sizeof *out);
  tally_t t;
  tally(a, &t);
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
      if (!stream_on(a, s)) continue;
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
  out->errors = a->n_errors;
  out->backpressure = a->pressure;
}

/* ------------------------------------------------------------------ reload */

static bool str_differs(const char *x, const char *y) {
  if (!x || !y) return x != y;
  return strcmp(x, y) != 0;
}

/* Appends ", what" (or "what" first) to b; NULL b is a no-op. */
static int note(buf_t *b, const char *what) {
  return b ? buf_printf(b, "%s%s", b->len ? ", " : "", what) : 0;
}

static acct_t *acct_by_name(archiver_t *a, const char *name) {
  for (size_t i = 0; i < a->n_accts; i++)
    if (strcmp(a->accts[i].cfg->account, name) == 0) return &a->accts[i];
  return NULL;
}

/* A fresh login for the account (a changed password, or one stopped by the platform):
 * a new netc account of the same name. The old one stays registered, unused: netc has
 * no removal; its calls in flight still end in their callbacks. */
static int acct_relogin(archiver_t *a, acct_t *ac) {
  netc_account_t *na = netc_account_add(a->net, ac->cfg->account, ac->cfg->password_md5);
  if (!na) return -ENOMEM;
  ac->na = na;
  ac->stopped = false;
  return 0;
}

/* The account leaves the configuration: its devices stop being scheduled and polled.
 * Calls in flight end normally: their rows and cursors commit together in a batch, or
 * neither does, as for any call. */
static void acct_remove(archiver_t *a, acct_t *ac) {
  size_t n = devtab_count(a->dev), k = 0;
  uint16_t idx = (uint16_t)(ac - a->accts);
  ac->removed = true;
  if (ac->poll) uv_timer_stop(&ac->poll->timer);
  for (size_t i = 0; i < n; i++) {
    devtab_device_t *d = devtab_at(a->dev, i);
    if (d->account != idx || d->removed) continue;
    d->removed = 1;
    k++;
  }
  ac->n_poll = ac->poll_pos = 0;
  log_info("reload: account %s removed: its %zu devices are no longer archived (calls in "
           "flight still commit)", ac->cfg->account, k);
}

/* A new account, discovered at once; or one removed by an earlier reload, back again. */
static int acct_add(archiver_t *a, const config_account_t *c) {
  acct_t *ac = acct_by_name(a, c->account);
  if (ac) { /* back after a removal: same index, its devices return with discovery */
    bool md5_changed = strcmp(ac->cfg->password_md5, c->password_md5) != 0;
    memcpy(ac->cfg->password_md5, c->password_md5, sizeof ac->cfg->password_md5);
    ac->cfg->subaccounts = c->subaccounts;
    if ((md5_changed || ac->stopped) && acct_relogin(a, ac) != 0) return -ENOMEM;
    ac->removed = false;
  } else {
    if (a->n_accts >= UINT16_MAX) return -E2BIG;
    acct_t *v = realloc(a->accts, (a->n_accts + 1) * sizeof *v);
    if (!v) return -ENOMEM;
    a->accts = v; /* no pointer into the array outlives a callback: poll timers are apart */
    ac = &a->accts[a->n_accts];
    memset(ac, 0, sizeof *ac);
    ac->a = a;
    if (!(ac->cfg = acct_cfg_dup(c))) return -ENOMEM;
    if (!(ac->na = netc_account_add(a->net, c->account, c->password_md5)) ||
        poll_timer_init(a, ac) != 0) {
      acct_cfg_free(ac->cfg); /* a netc account already added stays unused */
      free(ac->poll);
      return -ENOMEM;
    }
    a->n_accts++;
  }
  log_info("reload: account %s added: discovering its devices", c->account);
  discovery_start(a, ac);
  return 0;
}

/* Accounts added, removed, or with a new password or subaccounts flag. */
static int reload_accounts(archiver_t *a, const config_t *n, buf_t *applied) {
  int brc = 0;
  bool changed = false;
  for (size_t i = 0; i < a->n_accts; i++) {
    acct_t *ac = &a->accts[i];
    if (ac->removed || config_account_find(n, ac->cfg->account)) continue;
    acct_remove(a, ac);
    changed = true;
  }
  for (size_t j = 0; j < n->n_accounts; j++) {
    const config_account_t *c = &n->accounts[j];
    acct_t *ac = acct_by_name(a, c->account);
    if (!ac || ac->removed) {
      int rc = acct_add(a, c);
      if (rc) log_error("reload: account %s: cannot add it (%s): restart to archive it",
                        c->account, strerror(-rc));
      changed = true;
      continue;
    }
    bool md5_changed = strcmp(ac->cfg->password_md5, c->password_md5) != 0;
    bool subs_changed = ac->cfg->subaccounts != c->subaccounts;
    if (!md5_changed && !subs_changed && !ac->stopped) continue;
    memcpy(ac->cfg->password_md5, c->password_md5, sizeof ac->cfg->password_md5);
    ac->cfg->subaccounts = c->subaccounts;
    if (md5_changed || ac->stopped) { /* a reload also retries an account the platform stopped */
      if (acct_relogin(a, ac) != 0) {
        log_error("reload: account %s: cannot log in anew (out of memory): restart", c->account);
        continue;
      }
      log_info("reload: account %s: %s: logging in anew", c->account,
               md5_changed ? "password changed" : "was stopped");
    } else {
      log_info("reload: account %s: subaccounts %s: discovering again", c->account,
               c->subaccounts ? "on" : "off");
    }
    changed = true;
    discovery_start(a, ac);
  }
  if (changed) brc |= note(applied, "accounts");
  return brc;
}

int archiver_reconfigure(archiver_t *a, config_t *n, buf_t *applied, buf_t *restart) {
  if (backfill(a)) {
    config_free(n);
    return -ENOTSUP;
  }
  if (a->stopping || !a->net || !a->timers_up) {
    config_free(n);
    return -ESHUTDOWN;
  }
  const config_t *o = a->cfg;
  int brc = 0;

  /* What the running clients hold and cannot change. */
  if (str_differs(o->api.base_url, n->api.base_url)) brc |= note(restart, "api.base_url");
  if (str_differs(o->api.ca_file, n->api.ca_file)) brc |= note(restart, "api.ca_file");
  if (str_differs(o->api.token_dir, n->api.token_dir)) brc |= note(restart, "api.token_dir");
  if (o->api.timeout_ms != n->api.timeout_ms) brc |= note(restart, "api.timeout");
  if (o->api.max_in_flight != n->api.max_in_flight) brc |= note(restart, "api.max_in_flight");
  if (o->api.max_body_bytes != n->api.max_body_bytes) brc |= note(restart, "api.max_body_bytes");
  if (o->api.retry_max_attempts != n->api.retry_max_attempts ||
      o->api.retry_base_delay_ms != n->api.retry_base_delay_ms ||
      o->api.retry_max_delay_ms != n->api.retry_max_delay_ms)
    brc |= note(restart, "api.retry");
  if (str_differs(o->database.conninfo, n->database.conninfo))
    brc |= note(restart, "database.conninfo");
  if (o->database.queue_rows != n->database.queue_rows) brc |= note(restart, "database.queue_rows");

  /* The pacing floors: the pacer takes them as they are. */
  bool limits = o->api.global_rate != n->api.global_rate;
  for (int ep = 0; ep < API_EP_COUNT && !limits; ep++)
    limits = config_rate_limit_ms(o, (api_endpoint_t)ep) != config_rate_limit_ms(n, (api_endpoint_t)ep);
  if (limits) {
    netc_options_t no;
    netc_options_from_config(&no, n);
    netc_set_pacing(a->net, &no);
    brc |= note(applied, "api.rate_limits, api.global_rate");
  }

  /* From here on the engine reads the new values (lookback, batch size and delay). */
  a->cfg = n;
  if (o->archive.lookback_ms != n->archive.lookback_ms) brc |= note(applied, "archive.lookback");
  if (o->archive.gap_settle_ms != n->archive.gap_settle_ms || o->archive.gap_min_ms != n->archive.gap_min_ms ||
      o->archive.gap_max_attempts != n->archive.gap_max_attempts) {
    gapheal_options_t ho = heal_options(n);
    gapheal_set_options(a->heal, &ho);
    brc |= note(applied, "archive.gap_settle, archive.gap_min, archive.gap_max_attempts");
  }
  /* The alarm cadence reads a->cfg at each look: applied from the next track record on. */
  if (o->archive.alarm_interval_ms != n->archive.alarm_interval_ms)
    brc |= note(applied, "archive.alarm_interval");
  if (o->archive.alarm_idle_interval_ms != n->archive.alarm_idle_interval_ms)
    brc |= note(applied, "archive.alarm_idle_interval");
  if (o->database.batch_rows != n->database.batch_rows) brc |= note(applied, "database.batch_rows");
  if (o->database.flush_interval_ms != n->database.flush_interval_ms)
    brc |= note(applied, "database.flush_interval");
  if (o->archive.discovery_interval_ms != n->archive.discovery_interval_ms) {
    uint64_t every = (uint64_t)n->archive.discovery_interval_ms;
    uint64_t due = uv_timer_get_due_in(&a->discovery_timer);
    uv_timer_start(&a->discovery_timer, on_discovery_timer, due < every ? due : every, every);
    brc |= note(applied, "archive.discovery_interval");
  }
  if (o->archive.track_interval_ms != n->archive.track_interval_ms) {
    for (size_t i = 0; i < a->n_accts; i++) {
      acct_t *ac = &a->accts[i];
      if (!ac->removed && ac->poll && uv_is_active((uv_handle_t *)&ac->poll->timer))
        polls_schedule(a, ac); /* the spreading over the new interval */
    }
    brc |= note(applied, "archive.track_interval");
  }
  if (a->opt.streams != n->archive.streams) {
    for (int s = 0; s < STREAM_COUNT; s++) {
      bool was = stream_on(a, s), now = (n->archive.streams & stream_bits[s]) != 0;
      if (was != now)
        log_info("reload: stream %s %s", stream_name(s),
                 now ? "on: from each device's committed cursor (or lookback)"
                     : "off: no new requests; those in flight still commit");
    }
    a->opt.streams = n->archive.streams;
    brc |= note(applied, "archive.streams");
  }
  brc |= reload_accounts(a, n, applied);

  config_free(a->owned_cfg); /* nothing points into it: accounts keep copies */
  a->owned_cfg = n;
  mark_all(a); /* streams, accounts and lookback may make any device due */
  pump(a);
  return brc ? -ENOMEM : 0;
}

const struct config *archiver_config(const archiver_t *a) { return a->cfg; }

/* ------------------------------------------------------------------ startup */

typedef struct load_ctx {
  archiver_t *a;
  size_t n;
} load_ctx_t;

static int cb_cursor(void *arg, const char *imei, const char *stream, int64_t cursor) {
  load_ctx_t *l = arg;
  archiver_t *a = l->a;
  bool added = false;
  devtab_device_t *d = devtab_get_or_add(a->dev, imei, &added);
  if (!d) return 0; /* a row we cannot hold: the device is fetched afresh */
  if (added) {
    device_init(a, d);
    l->n++;
  }
  for (int s = 0; s < STREAM_COUNT; s++)
    if (strcmp(stream, a->stream_key[s]) == 0) d->cursor[s] = (paging_cursor_t){cursor, true};
  return 0;
}

/* A covered interval of playback or alarms: the device is known, and what it covers is
 * not asked again by this job. */
static int cb_coverage(void *arg, const char *imei, const char *stream, int64_t from,
                       int64_t to) {
  load_ctx_t *l = arg;
  archiver_t *a = l->a;
  int s = strcmp(stream, "playback") == 0 ? S_PLAYBACK : strcmp(stream, "alarms") == 0 ? S_ALARMS : -1;
  if (s < 0) return 0;
  bool added = false;
  devtab_device_t *d = devtab_get_or_add(a->dev, imei, &added);
  if (!d) return 0; /* a row we cannot hold: the device is fetched afresh */
  size_t idx = devtab_index(a->dev, d);
  if (coverage_add(a->cov, idx, s, from, to) != 0) return -ENOMEM;
  if (added) {
    device_init(a, d);
    l->n++;
  }
  return 0;
}

/* An open gap (072_gaps.sql): asked again when due, as if this run had found it. */
static int cb_gap(void *arg, const char *imei, int64_t from, int64_t to, int64_t detected_at,
                  int64_t next_at, int64_t last_asked, int attempts, int64_t recovered) {
  load_ctx_t *l = arg;
  archiver_t *a = l->a;
  bool added = false;
  devtab_device_t *d = devtab_get_or_add(a->dev, imei, &added);
  if (!d) return 0;
  if (added) {
    device_init(a, d);
    l->n++;
  }
  gapheal_gap_t g = {.dev = (uint32_t)devtab_index(a->dev, d), .from = from, .to = to,
                     .resume = from, .detected_at = detected_at, .next_at = next_at,
                     .last_asked = last_asked, .attempts = attempts > 0 ? (unsigned)attempts : 0,
                     .recovered = recovered};
  return gapheal_add(a->heal, &g);
}

/* A device's last stored position: a silence spanning this restart is a gap too. Only
 * devices already known (from their coverage) are seeded. */
static int cb_last_position(void *arg, const char *imei, int64_t gpstime, int speed) {
  load_ctx_t *l = arg;
  int64_t idx = devtab_find(l->a->dev, imei);
  return idx < 0 ? 0 : gapheal_seed(l->a->heal, (uint32_t)idx, gpstime, speed);
}

/* Run: a device known only from fleetarc.devices (no cursor yet) is known all the same,
 * inactive until discovery lists it. */
static int cb_device(void *arg, const char *imei, int removed) {
  (void)removed; /* inactive either way until listed; the sweep reconciles the column */
  load_ctx_t *l = arg;
  bool added = false;
  devtab_device_t *d = devtab_get_or_add(l->a->dev, imei, &added);
  if (d && added) {
    device_init(l->a, d);
    l->n++;
  }
  return 0;
}

/* ---- cluster.enabled: the lease hooks (archive/lease.h) ---- */

static size_t lease_count(void *arg) { return ((archiver_t *)arg)->n_accts; }

static const char *lease_name(void *arg, size_t i) {
  archiver_t *a = arg;
  return a->accts[i].removed ? NULL : a->accts[i].cfg->account;
}

/* What the previous holders committed, read after a take. */
static int lease_coverage(void *arg, const char *imei, const char *stream, int64_t from,
                          int64_t to) {
  load_ctx_t l = {.a = arg};
  return cb_coverage(&l, imei, stream, from, to);
}

/* Taken: discover the account and look at every device; lost: nothing more is asked for
 * it (stream_due, polls and discovery ask acct_held) and its batches fail their fence. */
static void lease_changed(void *arg, size_t i, bool held) {
  archiver_t *a = arg;
  if (!held || a->stopping) return;
  discovery_start(a, &a->accts[i]);
  mark_all(a);
  pump(a);
}

/* The token a previous holder stored (130_tokens.sql): this host works the account without
 * a login of its own. */
static void lease_token(void *arg, size_t i, const char *token, const char *credential,
                        int64_t expires_at) {
  archiver_t *a = arg;
  if (i < a->n_accts && a->accts[i].na && !a->accts[i].removed &&
      netc_account_adopt(a->net, a->accts[i].na, token, credential, expires_at) < 0)
    log_error("cluster: out of memory adopting a stored token");
}

/* A login of ours: its token goes to the database for the next holder. */
static void net_token(void *arg, const netc_account_t *na, const char *token, const char *credential,
                      int64_t expires_at) {
  archiver_t *a = arg;
  for (size_t i = 0; a->lease && i < a->n_accts; i++)
    if (a->accts[i].na == na && lease_publish_token(a->lease, i, token, credential, expires_at) != 0)
      log_error("cluster: out of memory keeping a token for the database");
}

static void summary_missing(archiver_t *a) {
  size_t n = devtab_count(a->dev), shown = 0, missing = 0;
  for (size_t i = 0; i < n; i++) {
    devtab_device_t *d = devtab_at(a->dev, i);
    if (d->removed) continue;
    for (int s = 0; s < STREAM_COUNT; s++) {
      if (!stream_on(a, s)) continue;
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
static void summary_nothing(archiver_t *a) {
  if (a->n_points || a->n_alarms || a->n_hist_records || !(stream_on(a, S_PLAYBACK) || stream_on(a, S_ALARMS)))
    return;
  tally_t t;
  tally(a, &t);
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

int archiver_run(const archiver_options_t *opt) {
  const config_t *cfg = opt->cfg;
  if (!cfg || (opt->mode == ARCHIVER_BACKFILL && opt->from >= opt->to)) return 2;
  archiver_t *a = calloc(1, sizeof *a);
  int code = 1;
  if (!a) return 1;
  a->opt = *opt;
  a->cfg = cfg;
  a->max_in_flight = cfg->api.max_in_flight > 0 ? (size_t)cfg->api.max_in_flight : 16;
  if (a->opt.streams == 0) a->opt.streams = STREAM_ALL_BITS;
  srand((unsigned)time(NULL) ^ (unsigned)getpid());
  for (int s = 0; s < STREAM_COUNT; s++) {
    if (backfill(a))
      snprintf(a->stream_key[s], sizeof a->stream_key[s], "%s@%lld-%lld", stream_name(s),
               (long long)opt->from, (long long)opt->to);
    else
      snprintf(a->stream_key[s], sizeof a->stream_key[s], "%s", stream_name(s));
  }
  if (uv_loop_init(&a->loop) != 0) {
    free(a);
    return 1;
  }
  a->dev = devtab_new();
  a->cov = coverage_new();
  a->acad = alarmcad_new();
  {
    gapheal_options_t ho = heal_options(cfg);
    a->heal = gapheal_new(&ho);
  }
  if (!a->dev || !a->cov || !a->acad || !a->heal) goto out_loop;
  a->ingest = ingest_new(opt->hooks ? opt->hooks->reject : NULL, opt->hooks ? opt->hooks->arg : NULL);
  if (!a->ingest) goto out_loop;

  /* Accounts: all configured, or the one --account names. */
  a->accts = calloc(cfg->n_accounts, sizeof *a->accts);
  if (!a->accts) goto out_loop;
  for (size_t i = 0; i < cfg->n_accounts; i++) {
    if (opt->account && strcmp(opt->account, cfg->accounts[i].account) != 0) continue;
    acct_t *ac = &a->accts[a->n_accts++];
    ac->a = a;
    if (!(ac->cfg = acct_cfg_dup(&cfg->accounts[i]))) goto out_loop;
  }
  if (a->n_accts == 0) {
    log_error("no configured account named '%s'", opt->account ? opt->account : "");
    code = 2;
    goto out_loop;
  }

  /* The committed cursors: the in-memory ones start as exactly these. */
  {
    const char *keys[1] = {a->stream_key[S_MILEAGE]};
    char err[512];
    load_ctx_t l = {a, 0};
    int rc = db_load_coverage(cfg->database.conninfo, cb_coverage, &l, err, sizeof err);
    if (rc == 0)
      rc = db_load_cursors(cfg->database.conninfo, keys, 1, cb_cursor, &l, err, sizeof err);
    if (rc == 0 && !backfill(a))
      rc = db_load_devices(cfg->database.conninfo, cb_device, &l, err, sizeof err);
    if (rc == 0 && !backfill(a)) {
      rc = db_load_gaps(cfg->database.conninfo, cb_gap, &l, err, sizeof err);
      if (rc == 0 && heal_on(a))
        rc = db_load_last_positions(cfg->database.conninfo, cb_last_position, &l, err, sizeof err);
      if (rc == 0 && gapheal_open(a->heal))
        log_info("%zu gaps of the stored track wait to be asked again", gapheal_open(a->heal));
    }
    if (rc) {
      log_error("database: %s", rc == -EIO ? err : strerror(-rc));
      goto out_loop;
    }
    log_info("resuming %zu devices from their committed coverage%s", l.n,
             backfill(a) ? " (only its gaps in this range are asked)" : "");
  }
  if (opt->imeis) {
    for (size_t i = 0; i < opt->n_imeis; i++) {
      bool added = false;
      devtab_device_t *d = devtab_get_or_add(a->dev, opt->imeis[i], &added);
      if (!d) {
        log_error("bad IMEI '%s'", opt->imeis[i]);
        code = 2;
        goto out_loop;
      }
      if (added) device_init(a, d);
      d->removed = 0;
      d->account = 0;
    }
  }

  netc_options_t no;
  netc_options_from_config(&no, cfg);
  a->net = netc_new(&a->loop, &no);
  pgw_options_t po = {.conninfo = cfg->database.conninfo,
                      .max_queued_rows = (size_t)cfg->database.queue_rows,
                      .on_pressure = on_pressure, .data = a};
  a->db = pgw_new(&a->loop, &po);
  if (!a->net || !a->db) goto out_clients;
  for (size_t i = 0; i < a->n_accts; i++) {
    acct_t *ac = &a->accts[i];
    ac->na = netc_account_add(a->net, ac->cfg->account, ac->cfg->password_md5);
    if (!ac->na || poll_timer_init(a, ac) != 0) goto out_clients;
  }
  uv_timer_init(&a->loop, &a->tick);
  uv_timer_init(&a->loop, &a->flush_timer);
  uv_timer_init(&a->loop, &a->summary_timer);
  uv_timer_init(&a->loop, &a->discovery_timer);
  uv_timer_init(&a->loop, &a->shutdown_timer);
  uv_signal_init(&a->loop, &a->sigint);
  uv_signal_init(&a->loop, &a->sigterm);
  a->timers_up = true;
  a->tick.data = a->flush_timer.data = a->summary_timer.data = a->discovery_timer.data = a;
  a->shutdown_timer.data = a->sigint.data = a->sigterm.data = a;
  uv_signal_start(&a->sigint, on_signal, SIGINT);
  uv_signal_start(&a->sigterm, on_signal, SIGTERM);
  a->start_ms = a->last_progress_ms = a->last_success_ms = uv_now(&a->loop);
  /* Every device known so far (database, --imei) may be due: the first pump looks. */
  a->time_wake = INT64_MAX;
  a->backoff_wake = UINT32_MAX;
  mark_all(a);
  uv_timer_start(&a->tick, on_tick, ARCH_TICK_MS, ARCH_TICK_MS);

  if (backfill(a)) {
    if (opt->imeis) {
      polls_rebuild(a, &a->accts[0]);
      acct_t *ac = &a->accts[0];
      for (size_t k = 0; k < ac->n_poll; k += API_MAX_IMEIS) a->polls_pending++;
      for (size_t k = 0; k < ac->n_poll; k += API_MAX_IMEIS) poll_chunk(a, ac, k);
    } else {
      for (size_t i = 0; i < a->n_accts; i++) discovery_start(a, &a->accts[i]);
    }
  } else {
    uv_timer_start(&a->summary_timer, on_summary, ARCH_SUMMARY_MS, ARCH_SUMMARY_MS);
    uint64_t every = (uint64_t)cfg->archive.discovery_interval_ms;
    uv_timer_start(&a->discovery_timer, on_discovery_timer, 0, every ? every : 3600000);
  }
  if (!backfill(a) && cfg->cluster.enabled) {
    char inst[300];
    if (cfg->cluster.instance) {
      snprintf(inst, sizeof inst, "%s", cfg->cluster.instance);
    } else {
      char host[256] = "localhost";
      (void)gethostname(host, sizeof host - 1);
      snprintf(inst, sizeof inst, "%s:%ld", host, (long)getpid());
    }
    lease_hooks_t lh = {.arg = a, .count = lease_count, .name = lease_name,
                        .changed = lease_changed, .coverage = lease_coverage,
                        .token = lease_token};
    a->lease = lease_new(&a->loop, cfg->database.conninfo, inst, cfg->cluster.lease_ttl_ms, &lh);
    if (!a->lease) {
      log_error("out of memory");
      a->exit_code = 1;
      begin_shutdown(a);
    } else {
      netc_on_token(a->net, net_token, a); /* shared through the database */
      log_info("cluster: instance %s, lease_ttl %llds: accounts are worked while leased",
               inst, (long long)(cfg->cluster.lease_ttl_ms / 1000));
    }
  }
  if (a->opt.hooks && a->opt.hooks->started) a->opt.hooks->started(a->opt.hooks->arg, a, &a->loop);
  uv_run(&a->loop, UV_RUN_DEFAULT);
  code = a->exit_code;
  if (a->interrupted) code = backfill(a) ? 1 : 0;
  progress(a, true);
  if (backfill(a)) summary_missing(a);
  if (backfill(a) && code == 0) summary_nothing(a);
  goto out_loop;

out_clients:
  log_error("cannot start: out of memory");
  if (a->net) netc_close(a->net, NULL, NULL);
  if (a->db) pgw_close(a->db, 0, NULL, NULL);
  close_handles(a);
  uv_run(&a->loop, UV_RUN_DEFAULT);
  code = 1;
out_loop:
  if (uv_loop_close(&a->loop) != 0) {
    uv_run(&a->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&a->loop) != 0) log_error("archiver: loop handles left open");
  }
  for (size_t i = 0; a->accts && i < a->n_accts; i++) {
    nameset_clear(&a->accts[i].visited);
    free(a->accts[i].poll_devs);
    acct_cfg_free(a->accts[i].cfg);
  }
  config_free(a->owned_cfg);
  free(a->accts);
  devtab_free(a->dev);
  coverage_free(a->cov);
  alarmcad_free(a->acad);
  gapheal_free(a->heal);
  api_points_free(&a->points);
  api_alarms_free(&a->alarms);
  api_tracks_free(&a->tracks);
  api_devices_free(&a->devices);
  api_users_free(&a->users);
  api_mileages_free(&a->mileages);
  ingest_free(a->ingest);
  free(a->times);
  free(a);
  return code;
}
