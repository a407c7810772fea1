/* The archiver's private header: the engine's shared state (struct archiver) and the
 * functions its modules call of each other. Only src/archive/ includes it; the public
 * contract is archiver.h. Modules: archiver.c (handle, clocks, calls, shutdown),
 * scheduler.c (due sets, pump, backoff), pages.c (playback, alarm and mileage pages),
 * heal.c (gaps asked again), poller.c (/api/track), discovery.c (device/user lists),
 * commit.c (batches and what their COMMIT moves), progress.c (tallies, summaries),
 * reload.c (archiver_reconfigure). */
#ifndef FLEETARC_ARCHIVE_ENGINE_H
#define FLEETARC_ARCHIVE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "api/api.h"
#include "archive/alarmcad.h"
#include "archive/archiver.h"
#include "archive/coverage.h"
#include "archive/devtab.h"
#include "archive/gapheal.h"
#include "archive/ingest.h"
#include "archive/lease.h"
#include "archive/nameset.h"
#include "archive/paging.h"
#include "config/config.h"
#include "db/pgw.h"
#include "domain/stream.h"
#include "net/client.h"

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

/* How far a servertime may be ahead of the real present (the later of the local clock
 * and the HTTP Date header's) and still be believed: beyond it, it is ignored and
 * logged, and no cursor, mileage day or new device's cursor is set from it. */
#define ARCH_SERVERTIME_AHEAD_S 300

/* Run mode: a new device's cursors wait for the first track poll, which tells the
 * platform's present that lookback counts back from. */
#define ARCH_UNSET INT64_MIN

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


typedef enum { DUE_NO, DUE_YES, DUE_LATER, DUE_BLOCKED } due_t;

typedef struct tally {
  size_t devices, streams, complete, due, later, blocked, given_up;
  int64_t lag;
  double covered; /* backfill: the fraction of [from, to) x streams archived, 0 to 1 */
} tally_t;

/* ---- archiver.c: clocks, modes, accounts, calls ---- */
config_account_t *arch_acct_cfg_dup(const config_account_t *c);
void arch_acct_cfg_free(config_account_t *k);
uint32_t arch_now_s(archiver_t *a);
int64_t arch_present_bound(archiver_t *a);
int64_t arch_server_now(archiver_t *a);
bool arch_learn_servertime(archiver_t *a, int64_t servertime);
int64_t arch_floor_day(int64_t t);
bool arch_backfill(const archiver_t *a);
bool arch_stream_on(const archiver_t *a, int s);
int64_t arch_stream_start_of(archiver_t *a, uint32_t idx, int s);
void arch_device_init(archiver_t *a, devtab_device_t *d);
bool arch_acct_held(const archiver_t *a, size_t i);
int arch_call(archiver_t *a, acct_t *ac, api_request_t *req, work_t *w);
int arch_response_ok(archiver_t *a, work_t *w, const net_result_t *res);
bool arch_permanent_code(const net_result_t *res);
void arch_check_shutdown(archiver_t *a);

/* ---- scheduler.c ---- */
void sched_fail(archiver_t *a, uint32_t dev, int s, const char *why);
void sched_stop(archiver_t *a, uint32_t dev, int s, const net_result_t *res);
int64_t sched_window_bound(const archiver_t *a, int s);
int64_t sched_page_window(archiver_t *a, uint32_t idx, int s, int64_t now_server);
due_t sched_due(archiver_t *a, devtab_device_t *d, int s, int64_t now_server, int64_t *wake);
void sched_mark_stream(archiver_t *a, uint32_t dev, int s);
void sched_mark_device(archiver_t *a, uint32_t dev);
void sched_mark_all(archiver_t *a);
void sched_stream_free(archiver_t *a, uint32_t dev, int s);
void sched_pump(archiver_t *a);

/* ---- pages.c ---- */
void pages_start(archiver_t *a, uint32_t idx, int s);
void pages_start_mileage(archiver_t *a, uint32_t first, int64_t now_server);
void pages_apply(archiver_t *a, work_t *w, const net_result_t *res);
void pages_apply_mileage(archiver_t *a, work_t *w, const net_result_t *res);

/* ---- heal.c ---- */
gapheal_options_t heal_options(const config_t *cfg);
int heal_observe(archiver_t *a, const work_t *w, const api_point_t *p);
void heal_pump(archiver_t *a, int64_t now_server);
void heal_apply(archiver_t *a, work_t *w, const net_result_t *res);

/* ---- commit.c ---- */
int commit_fence(archiver_t *a, const devtab_device_t *d);
void commit_submit(archiver_t *a);
pgw_batch_t *commit_batch(archiver_t *a);
int commit_move(archiver_t *a, uint32_t dev, int s, const paging_cursor_t *cur, bool done,
                const move_t *page);
void commit_maybe_submit(archiver_t *a);
void commit_on_pressure(pgw_t *w, bool full, void *data);

/* ---- poller.c ---- */
int poller_timer_init(archiver_t *a, acct_t *ac);
void poller_apply(archiver_t *a, work_t *w, const net_result_t *res);
void poller_chunk(archiver_t *a, acct_t *ac, size_t chunk_start);
void poller_rebuild(archiver_t *a, acct_t *ac);
void poller_schedule(archiver_t *a, acct_t *ac);
void poller_close_timers(archiver_t *a);

/* ---- discovery.c ---- */
void discovery_apply_devlist(archiver_t *a, work_t *w, const net_result_t *res);
void discovery_apply_userlist(archiver_t *a, work_t *w, const net_result_t *res);
void discovery_start(archiver_t *a, acct_t *ac);
void discovery_step_done(archiver_t *a, acct_t *ac);
void discovery_on_timer(uv_timer_t *t);

/* ---- progress.c ---- */
void progress_tally(archiver_t *a, tally_t *t);
void progress_report(archiver_t *a, bool final);
int progress_verdict(archiver_t *a, const tally_t *tl);
void progress_missing(archiver_t *a);
void progress_nothing(archiver_t *a);

#endif
