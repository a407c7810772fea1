/* The archiver's handle (archiver.h): its life (new, start, close, run), its clocks (the
 * platform's present), what it reads at startup (coverage, cursors, devices, gaps), the
 * lease and scheduler hooks, the tick and the shutdown. The engine's parts are modules
 * over engine.h: scheduler, pages, heal, poller, discovery, calls, commit, progress,
 * reload. Invariant: every handle of the archiver is closed, and its close callback has
 * run, before the archiver is freed (archiver_close's callback comes last). */
#include "archive/engine.h"

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

/* ------------------------------------------------------------------ accounts' own copies */

/* What an account keeps of its configuration, copied: the config_t it came from is
 * freed by the next reload. NULL on out of memory. */
config_account_t *arch_acct_cfg_dup(const config_account_t *c) {
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

void arch_acct_cfg_free(config_account_t *k) {
  if (!k) return;
  explicit_bzero(k->password_md5, sizeof k->password_md5); /* a secret */
  free(k->account);
  free(k);
}

/* ------------------------------------------------------------------ helpers */

uint32_t arch_now_s(archiver_t *a) { return (uint32_t)(uv_now(a->loop) / 1000); }

/* The real present (also for bounds at ingest): the later of the local clock and the
 * Date headers' clock (a platform whose clock runs ahead is not refused for it). */
int64_t arch_present_bound(archiver_t *a) {
  int64_t local = (int64_t)time(NULL), off = a->net ? netc_clock_offset(a->net) : 0;
  return local + (off > 0 ? off : 0);
}

/* The platform's present as best known: local clock plus the offset netc learned. */
int64_t arch_server_now(archiver_t *a) {
  /* servertime of /api/track is the platform's own present; the Date header may come
   * from a front server with another clock, so servertime wins once seen. Never past
   * the real present (plus the bound): nothing is asked of days that have not come. */
  int64_t t = a->have_offset ? (int64_t)time(NULL) + a->server_offset
                             : (int64_t)time(NULL) + (a->net ? netc_clock_offset(a->net) : 0);
  int64_t cap = arch_present_bound(a) + ARCH_SERVERTIME_AHEAD_S;
  return t < cap ? t : cap;
}

/* A track record's servertime: learned as the platform's present unless it is ahead of
 * the real present by more than the bound (then ignored, logged once per episode). */
bool arch_learn_servertime(archiver_t *a, int64_t servertime) {
  int64_t bound = arch_present_bound(a);
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

int64_t arch_floor_day(int64_t t) { return t - ((t % 86400) + 86400) % 86400; }

bool arch_backfill(const archiver_t *a) { return a->opt.mode == ARCHIVER_BACKFILL; }

bool arch_stream_on(const archiver_t *a, int s) { return sched_stream_on(a->sched, s); }

sched_options_t arch_sched_options(const archiver_t *a, const config_t *cfg) {
  return (sched_options_t){
      .backfill = arch_backfill(a), .from = a->opt.from, .to = a->opt.to,
      .streams = a->opt.streams,
      .max_in_flight = cfg->api.max_in_flight > 0 ? (size_t)cfg->api.max_in_flight : 16,
      .alarm_interval_s = cfg->archive.alarm_interval_ms / 1000,
      .alarm_idle_s = cfg->archive.alarm_idle_interval_ms / 1000};
}

/* Where a device's cursors start when the database holds none. */
static int64_t stream_start(archiver_t *a) {
  if (arch_backfill(a)) return a->opt.from;
  return arch_server_now(a) - a->cfg->archive.lookback_ms / 1000;
}

/* Where stream s of device idx starts in this job. A backfill: its --from. `run`: the
 * lookback, or the start of the device's latest covered interval when that is earlier
 * (so that `run` resumes where it, or a backfill, ended); either way the cursor moves past
 * what is covered before asking (page_window). */
int64_t arch_stream_start_of(archiver_t *a, uint32_t idx, int s) {
  int64_t start = stream_start(a);
  if (s == STREAM_MILEAGE) return arch_floor_day(start);
  if (arch_backfill(a)) return start;
  size_t n = coverage_count(a->cov, idx, s);
  const coverage_iv_t *last = coverage_last(a->cov, idx, s);
  /* A single second at the end is a poll's point stored ahead of the pages: the
   * interval the pages were extending is the one before it. */
  if (last && last->from == last->to && n >= 2) last = coverage_at(a->cov, idx, s, n - 2);
  if (last && last->from < start) start = last->from;
  return start;
}

void arch_device_init(archiver_t *a, devtab_device_t *d) {
  uint32_t idx = (uint32_t)devtab_index(a->dev, d);
  bool known = arch_backfill(a) || a->have_offset;
  for (int s = 0; s < STREAM_COUNT; s++)
    d->cursor[s] = (paging_cursor_t){known ? arch_stream_start_of(a, idx, s) : ARCH_UNSET, false};
  d->last_gpstime = arch_backfill(a) ? -1 : 0; /* backfill: unknown until polled, then due */
  d->removed = 1; /* until discovery (or --imei) lists it */
}

/* cluster.enabled: account i is worked only while this instance holds its lease
 * (archive/lease.h); without leases every account is. */
bool arch_acct_held(const archiver_t *a, size_t i) {
  return !a->lease || lease_holds(a->lease, i, NULL);
}

/* The lease of account i: its name for `run`; "backfill:NAME" for a backfill, so that
 * backfills over one account exclude each other but not the `run` that works it. */
const char *arch_lease_key(const archiver_t *a, size_t i, char *buf, size_t size) {
  const char *name = a->accts[i].cfg->account;
  if (!arch_backfill(a)) return name;
  snprintf(buf, size, "backfill:%s", name);
  return buf;
}

/* ------------------------------------------------------------------ shutdown */

static void all_closed(archiver_t *a);
static void on_final(uv_handle_t *h);

/* Every handle of the archiver (its timers and signals, and the lease) counts in
 * a->closing until its close callback has run; the last one ends the archiver. */
static void close_done(archiver_t *a) {
  if (--a->closing == 0) all_closed(a);
}

static void on_handle_closed(uv_handle_t *h) { close_done(h->data); }

static void on_lease_closed(void *arg) { close_done(arg); }

static void close_handles(archiver_t *a) {
  a->closing++; /* held while the closes below are issued */
  if (a->lease) { /* after the writer: its last batches were fenced while held */
    a->closing++;
    lease_close(a->lease, on_lease_closed, a);
    a->lease = NULL;
  }
  poller_close_timers(a);
  if (a->timers_up) {
    a->timers_up = false;
    uv_handle_t *hs[] = {(uv_handle_t *)&a->tick, (uv_handle_t *)&a->flush_timer,
                         (uv_handle_t *)&a->summary_timer, (uv_handle_t *)&a->discovery_timer,
                         (uv_handle_t *)&a->shutdown_timer, (uv_handle_t *)&a->sigint,
                         (uv_handle_t *)&a->sigterm};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
      a->closing++;
      uv_close(hs[i], on_handle_closed);
    }
  }
  close_done(a);
}

static void on_db_closed(void *arg) {
  archiver_t *a = arg;
  if (a->db_closing > 0 && --a->db_closing > 0) return; /* the other writer still drains */
  a->db = a->db2 = NULL;
  close_handles(a);
}

static void on_net_closed(void *arg) {
  archiver_t *a = arg;
  a->net = NULL;
  commit_submit(a); /* what the last responses brought */
  if (!a->db) {
    close_handles(a);
    return;
  }
  a->db_closing = a->db2 ? 2 : 1; /* both drain side by side */
  pgw_close(a->db, ARCH_DRAIN_MS, on_db_closed, a);
  if (a->db2) pgw_close(a->db2, ARCH_DRAIN_MS, on_db_closed, a);
}

/* Closes the client once no call is out (or the wait is over): responses that arrive
 * while stopping are still written. */
void arch_check_shutdown(archiver_t *a) {
  if (!a->stopping || a->net_closing) return;
  bool waited = !uv_is_active((uv_handle_t *)&a->shutdown_timer);
  if (!waited && a->calls.total > 0) return;
  a->net_closing = true;
  if (a->net) a->net_stats = *netc_stats(a->net);
  uv_timer_stop(&a->tick);
  uv_timer_stop(&a->shutdown_timer);
  if (a->net) netc_close(a->net, on_net_closed, a);
  else on_net_closed(a);
}

static void on_shutdown_timer(uv_timer_t *t) { arch_check_shutdown(t->data); }

static void begin_shutdown(archiver_t *a) {
  if (a->stopping) return;
  a->stopping = true;
  if (a->hooks_started && a->opt.hooks && a->opt.hooks->stopping)
    a->opt.hooks->stopping(a->opt.hooks->arg);
  uv_timer_stop(&a->summary_timer);
  uv_timer_stop(&a->discovery_timer);
  for (size_t i = 0; i < a->n_accts; i++)
    if (a->accts[i].poll) uv_timer_stop(&a->accts[i].poll->timer);
  uv_timer_start(&a->shutdown_timer, on_shutdown_timer, ARCH_SHUTDOWN_WAIT_MS, 0);
  arch_check_shutdown(a);
}

static void on_signal(uv_signal_t *s, int signum) {
  archiver_t *a = s->data;
  if (a->stopping) return;
  log_info("%s: stopping (in-flight responses are still written)",
           signum == SIGINT ? "SIGINT" : "SIGTERM");
  a->interrupted = true;
  begin_shutdown(a);
}

static void on_tick(uv_timer_t *t) {
  archiver_t *a = t->data;
  if (a->stopping) return;
  if (a->commit.blocked && !a->commit.pressure) commit_submit(a);
  sched_pump(a->sched);
  uint64_t now = uv_now(a->loop);
  if (arch_backfill(a) && now - a->last_progress_ms >= (a->opt.progress_bar ? 500u : ARCH_PROGRESS_LINE_MS)) {
    a->last_progress_ms = now;
    progress_report(a, false);
  }
  if (arch_backfill(a) && a->failures_since_success > 0 &&
      now - a->last_success_ms >= (uint64_t)a->cfg->archive.give_up_after_ms) {
    log_error("giving up: no API call has succeeded for %llds (archive.give_up_after); "
              "last error: %s", (long long)((now - a->last_success_ms) / 1000), a->last_error);
    a->gave_up = true;
    a->exit_code = 1;
    begin_shutdown(a);
    return;
  }
  if (!arch_backfill(a)) return;
  /* Backfill leases: an account another backfill works is waited for (then taken with
   * its coverage and discovered), whatever the scheduler has seen so far. */
  for (size_t i = 0; a->lease && i < a->n_accts; i++)
    if (!a->accts[i].removed && !a->accts[i].stopped && !arch_acct_held(a, i)) return;
  if (!sched_started(a->sched)) return;
  if (a->calls.total || a->commit.batch || a->commit.pending) return;
  tally_t tl;
  progress_tally(a, &tl);
  if (tl.due || tl.later) return;
  a->exit_code = progress_verdict(a, &tl);
  begin_shutdown(a);
}

static void on_summary(uv_timer_t *t) { progress_report(t->data, false); }

/* ------------------------------------------------------------------ hooks' view */

const struct netc *archiver_net(const archiver_t *a) { return a->net; }
const struct pgw *archiver_db(const archiver_t *a) { return a->db; }
size_t archiver_account_count(const archiver_t *a) { return a->n_accts; }
const char *archiver_account_name(const archiver_t *a, size_t i) {
  return i < a->n_accts && !a->accts[i].removed ? a->accts[i].cfg->account : NULL;
}

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
    arch_device_init(a, d);
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
  int s = stream_find(stream);
  if (s != STREAM_PLAYBACK && s != STREAM_ALARMS) return 0; /* only they have coverage */
  bool added = false;
  devtab_device_t *d = devtab_get_or_add(a->dev, imei, &added);
  if (!d) return 0; /* a row we cannot hold: the device is fetched afresh */
  size_t idx = devtab_index(a->dev, d);
  if (coverage_add(a->cov, idx, s, from, to) != 0) return -ENOMEM;
  if (added) {
    arch_device_init(a, d);
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
    arch_device_init(a, d);
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
    arch_device_init(l->a, d);
    l->n++;
  }
  return 0;
}

/* ---- cluster.enabled: the lease hooks (archive/lease.h) ---- */

static size_t lease_count(void *arg) { return ((archiver_t *)arg)->n_accts; }

static const char *lease_name(void *arg, size_t i) {
  archiver_t *a = arg;
  static char key[320]; /* one thread; lease.c copies it at once */
  return a->accts[i].removed ? NULL : arch_lease_key(a, i, key, sizeof key);
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
  sched_mark_all(a->sched);
  sched_pump(a->sched);
}

/* ---- the scheduler's hooks (scheduler.h) ---- */

static int64_t hook_server_now(void *arg) { return arch_server_now(arg); }
static uint32_t hook_mono_s(void *arg) { return arch_now_s(arg); }

/* Data calls wait while the writer is full (or a batch waits to be submitted), while
 * stopping, and in a backfill until discovery and the first track polls are over. */
static bool hook_ready(void *arg) {
  archiver_t *a = arg;
  if (a->stopping || a->commit.pressure || a->commit.blocked || !a->net) return false;
  return !arch_backfill(a) || (a->disc.accounts_pending <= 0 && a->polls.pending == 0);
}

static bool hook_blocked(void *arg, uint16_t account) {
  archiver_t *a = arg;
  return a->accts[account].stopped || !arch_acct_held(a, account);
}

/* A lane with this many calls waiting to be sent takes no more (netc_lane_waiting): one
 * to go when the pacer allows and one in reserve keep a paced lane busy. */
#define ARCH_LANE_WAITING 2

static bool hook_lane_full(void *arg, uint16_t account, int st) {
  archiver_t *a = arg;
  api_endpoint_t ep = st == STREAM_ALARMS ? API_EP_ALARM_LIST
                      : st == STREAM_MILEAGE ? API_EP_DEVICE_MILEAGE : API_EP_PLAYBACK;
  return a->accts[account].na && netc_lane_waiting(a->accts[account].na, ep) >= ARCH_LANE_WAITING;
}

static int hook_start_page(void *arg, uint32_t dev, int s, int64_t end, int64_t now_server) {
  return pages_start(arg, dev, s, end, now_server);
}

static int hook_start_mileage(void *arg, const uint32_t *devs, size_t n, int64_t day) {
  return pages_start_mileage(arg, devs, n, day);
}

static void hook_spare(void *arg, int64_t now_server) { heal_pump(arg, now_server); }

/* ------------------------------------------------------------------ the handle */

static void archiver_free(archiver_t *a) {
  if (!a) return;
  for (size_t i = 0; a->accts && i < a->n_accts; i++) {
    nameset_clear(&a->accts[i].visited);
    free(a->accts[i].poll_devs);
    arch_acct_cfg_free(a->accts[i].cfg);
  }
  config_free(a->owned_cfg);
  free(a->accts);
  sched_free(a->sched);
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
}

/* What the database has committed: the in-memory coverage and cursors start as exactly
 * this. 0, or -EIO (logged). */
static int load_committed(archiver_t *a) {
  const config_t *cfg = a->cfg;
  const char *keys[1] = {a->stream_key[STREAM_MILEAGE]};
  char err[512];
  load_ctx_t l = {a, 0};
  int rc = db_load_coverage(cfg->database.conninfo, cb_coverage, &l, err, sizeof err);
  if (rc == 0) rc = db_load_cursors(cfg->database.conninfo, keys, 1, cb_cursor, &l, err, sizeof err);
  if (rc == 0 && !arch_backfill(a))
    rc = db_load_devices(cfg->database.conninfo, cb_device, &l, err, sizeof err);
  if (rc == 0 && !arch_backfill(a)) {
    rc = db_load_gaps(cfg->database.conninfo, cb_gap, &l, err, sizeof err);
    if (rc == 0 && heal_on(a))
      rc = db_load_last_positions(cfg->database.conninfo, cb_last_position, &l, err, sizeof err);
    if (rc == 0 && gapheal_open(a->heal))
      log_info("%zu gaps of the stored track wait to be asked again", gapheal_open(a->heal));
  }
  if (rc) {
    log_error("database: %s", rc == -EIO ? err : strerror(-rc));
    return -EIO;
  }
  log_info("resuming %zu devices from their committed coverage%s", l.n,
           arch_backfill(a) ? " (only its gaps in this range are asked)" : "");
  return 0;
}

/* The API client, the writer, the accounts' logins and the handles (not started). */
static int open_clients(archiver_t *a) {
  const config_t *cfg = a->cfg;
  netc_options_t no;
  netc_options_from_config(&no, cfg);
  a->net = netc_new(a->loop, &no);
  /* Backfill writes over two connections (commit.c), which share queue_rows. */
  size_t queue = arch_backfill(a) ? commit_cap_rows(a) : (size_t)cfg->database.queue_rows;
  pgw_options_t po = {.conninfo = cfg->database.conninfo, .max_queued_rows = queue,
                      .on_pressure = commit_on_pressure, .data = a};
  a->db = pgw_new(a->loop, &po);
  if (a->db && arch_backfill(a)) a->db2 = pgw_new(a->loop, &po);
  if (!a->net || !a->db || (arch_backfill(a) && !a->db2)) return -ENOMEM;
  for (size_t i = 0; i < a->n_accts; i++) {
    acct_t *ac = &a->accts[i];
    ac->na = netc_account_add(a->net, ac->cfg->account, ac->cfg->password_md5);
    if (!ac->na || poller_timer_init(a, ac) != 0) return -ENOMEM;
  }
  uv_timer_init(a->loop, &a->tick);
  uv_timer_init(a->loop, &a->flush_timer);
  uv_timer_init(a->loop, &a->summary_timer);
  uv_timer_init(a->loop, &a->discovery_timer);
  uv_timer_init(a->loop, &a->shutdown_timer);
  uv_timer_init(a->loop, &a->close_timer);
  uv_signal_init(a->loop, &a->sigint);
  uv_signal_init(a->loop, &a->sigterm);
  a->timers_up = true;
  a->tick.data = a->flush_timer.data = a->summary_timer.data = a->discovery_timer.data = a;
  a->shutdown_timer.data = a->close_timer.data = a->sigint.data = a->sigterm.data = a;
  return 0;
}

int archiver_new(uv_loop_t *loop, const archiver_options_t *opt, archiver_t **out) {
  *out = NULL;
  const config_t *cfg = opt->cfg;
  if (!loop || !cfg || (opt->mode == ARCHIVER_BACKFILL && opt->from >= opt->to)) return -EINVAL;
  archiver_t *a = calloc(1, sizeof *a);
  if (!a) return -ENOMEM;
  int rc = -ENOMEM;
  a->loop = loop;
  a->opt = *opt;
  a->cfg = cfg;
  if (a->opt.streams == 0) a->opt.streams = STREAM_ALL_BITS;
  srand((unsigned)time(NULL) ^ (unsigned)getpid());
  for (int s = 0; s < STREAM_COUNT; s++) {
    if (arch_backfill(a))
      snprintf(a->stream_key[s], sizeof a->stream_key[s], "%s@%lld-%lld", stream_name(s),
               (long long)opt->from, (long long)opt->to);
    else
      snprintf(a->stream_key[s], sizeof a->stream_key[s], "%s", stream_name(s));
  }
  a->dev = devtab_new();
  a->cov = coverage_new();
  a->acad = alarmcad_new();
  gapheal_options_t ho = heal_options(cfg);
  a->heal = gapheal_new(&ho);
  if (!a->dev || !a->cov || !a->acad || !a->heal) goto fail;
  sched_options_t so = arch_sched_options(a, cfg);
  sched_hooks_t sh = {.arg = a, .server_now = hook_server_now, .mono_s = hook_mono_s,
                      .ready = hook_ready, .blocked = hook_blocked, .lane_full = hook_lane_full,
                      .start_page = hook_start_page, .start_mileage = hook_start_mileage,
                      .spare = hook_spare};
  if (!(a->sched = sched_new(a->dev, a->cov, a->acad, &so, &sh))) goto fail;
  a->ingest = ingest_new(opt->hooks ? opt->hooks->reject : NULL, opt->hooks ? opt->hooks->arg : NULL);
  if (!a->ingest) goto fail;

  /* Accounts: all configured, or the one --account names. */
  a->accts = calloc(cfg->n_accounts, sizeof *a->accts);
  if (!a->accts) goto fail;
  for (size_t i = 0; i < cfg->n_accounts; i++) {
    if (opt->account && strcmp(opt->account, cfg->accounts[i].account) != 0) continue;
    acct_t *ac = &a->accts[a->n_accts++];
    ac->a = a;
    if (!(ac->cfg = arch_acct_cfg_dup(&cfg->accounts[i]))) goto fail;
  }
  if (a->n_accts == 0) {
    log_error("no configured account named '%s'", opt->account ? opt->account : "");
    rc = -EINVAL;
    goto fail;
  }
  if ((rc = load_committed(a)) != 0) goto fail;
  for (size_t i = 0; opt->imeis && i < opt->n_imeis; i++) {
    bool added = false;
    devtab_device_t *d = devtab_get_or_add(a->dev, opt->imeis[i], &added);
    if (!d) {
      log_error("bad IMEI '%s'", opt->imeis[i]);
      rc = -EINVAL;
      goto fail;
    }
    if (added) arch_device_init(a, d);
    d->removed = 0;
    d->account = 0;
  }
  if ((rc = open_clients(a)) != 0) {
    log_error("cannot start: out of memory");
    /* Their closes end on the caller's loop; nothing of them points into a. */
    if (a->net) netc_close(a->net, NULL, NULL);
    if (a->db) pgw_close(a->db, 0, NULL, NULL);
    if (a->db2) pgw_close(a->db2, 0, NULL, NULL);
    poller_close_timers(a);
    goto fail;
  }
  *out = a;
  return 0;
fail:
  archiver_free(a);
  return rc;
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

/* cluster.enabled (run): the leases of the accounts (archive/lease.h). */
static void start_lease(archiver_t *a) {
  const config_t *cfg = a->cfg;
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
                      .token = lease_token, .no_share = arch_backfill(a)};
  a->lease = lease_new(a->loop, cfg->database.conninfo, inst, cfg->cluster.lease_ttl_ms, &lh);
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

int archiver_start(archiver_t *a) {
  if (a->started || a->stopping) return -EALREADY;
  a->started = true;
  const config_t *cfg = a->cfg;
  uv_signal_start(&a->sigint, on_signal, SIGINT);
  uv_signal_start(&a->sigterm, on_signal, SIGTERM);
  a->start_ms = a->last_progress_ms = a->last_success_ms = uv_now(a->loop);
  /* Every device known so far (database, --imei) may be due: the first pump looks. */
  sched_mark_all(a->sched);
  uv_timer_start(&a->tick, on_tick, ARCH_TICK_MS, ARCH_TICK_MS);
  if (arch_backfill(a)) {
    if (a->opt.imeis) {
      acct_t *ac = &a->accts[0];
      poller_rebuild(a, ac);
      for (size_t k = 0; k < ac->n_poll; k += API_MAX_IMEIS) a->polls.pending++;
      for (size_t k = 0; k < ac->n_poll; k += API_MAX_IMEIS) poller_chunk(a, ac, k);
    } else if (cfg->cluster.enabled) {
      /* Two backfills over one range on several hosts: each account by the one that
       * holds its backfill lease; the other takes it when the first is done, with its
       * coverage, and asks only what is still missing. Discovery starts at the take. */
      start_lease(a);
    } else {
      for (size_t i = 0; i < a->n_accts; i++) discovery_start(a, &a->accts[i]);
    }
  } else {
    uv_timer_start(&a->summary_timer, on_summary, ARCH_SUMMARY_MS, ARCH_SUMMARY_MS);
    uint64_t every = (uint64_t)cfg->archive.discovery_interval_ms;
    uv_timer_start(&a->discovery_timer, discovery_on_timer, 0, every ? every : 3600000);
  }
  a->hooks_started = true;
  if (a->opt.hooks && a->opt.hooks->started) a->opt.hooks->started(a->opt.hooks->arg, a, a->loop);
  if (!arch_backfill(a) && cfg->cluster.enabled && !a->stopping) start_lease(a);
  else if (arch_backfill(a) && a->lease)
    log_info("cluster: backfill leases: an account another backfill works is waited for, then "
             "only what it left missing is asked");
  return 0;
}

/* The last handle closed: the run is over. Its exit status, summary and (backfill) what
 * is missing; then archiver_close's callback, if asked for, from the loop. */
static void all_closed(archiver_t *a) {
  int code = a->exit_code;
  if (a->interrupted) code = arch_backfill(a) ? 1 : 0;
  a->exit_code = code;
  a->stopped = true;
  progress_report(a, true);
  if (arch_backfill(a)) progress_missing(a);
  if (arch_backfill(a) && code == 0) progress_nothing(a);
  if (a->close_requested) uv_close((uv_handle_t *)&a->close_timer, on_final);
}

static void on_final(uv_handle_t *h) {
  archiver_t *a = h->data;
  if (a->close_cb) a->close_cb(a->close_arg, a->exit_code);
  archiver_free(a);
}

void archiver_close(archiver_t *a, archiver_close_cb cb, void *arg) {
  if (a->close_requested) return;
  a->close_requested = true;
  a->close_cb = cb;
  a->close_arg = arg;
  if (a->stopped) {
    uv_close((uv_handle_t *)&a->close_timer, on_final);
    return;
  }
  if (!a->stopping) {
    if (a->started) log_info("stopping (in-flight responses are still written)");
    a->interrupted = a->started;
    begin_shutdown(a);
  }
}

static void on_run_closed(void *arg, int exit_status) { *(int *)arg = exit_status; }

int archiver_run(const archiver_options_t *opt) {
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) return 1;
  archiver_t *a = NULL;
  int code = 1;
  int rc = archiver_new(&loop, opt, &a);
  if (rc == -EINVAL) code = 2;
  if (rc == 0 && archiver_start(a) == 0) uv_run(&loop, UV_RUN_DEFAULT); /* until it stops */
  if (a) archiver_close(a, on_run_closed, &code);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0) {
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) log_error("archiver: loop handles left open");
  }
  return code;
}
